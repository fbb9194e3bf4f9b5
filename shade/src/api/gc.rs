//! `Gc<'m, T>`: the pointer mutator code holds.

use crate::api::mutator::Mutator;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pointer to a heap object, valid while the mutator borrow `'m` lasts.
///
/// `Gc` is `Copy` and dereferences to `&T`. Its lifetime is a shared borrow
/// of the [`Mutator`]; every point where a collection may start or finish
/// (a safepoint, parking, `collect`) takes the mutator by `&mut`, so the
/// borrow checker rejects any `Gc` that would be used across one. To keep an
/// object across a safepoint, hold it in a [`Local`](crate::Local) or a
/// [`Root`](crate::Root), or store it in a reachable object.
///
/// `Gc` is neither `Send` nor `Sync`: it never leaves its mutator's thread.
/// Objects travel between threads through [`Root`](crate::Root)s, which
/// require `T: Send + Sync`.
///
/// ```compile_fail
/// # use shade::{Heap, Config};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let x = mu.alloc(5u64);
/// mu.safepoint(); // error: `mu` is borrowed by `x`
/// println!("{}", *x);
/// ```
pub struct Gc<'m, T> {
    ptr: NonNull<T>,
    _m: PhantomData<&'m Mutator>,
}

impl<'m, T> Gc<'m, T> {
    /// # Safety
    /// `p` is the payload of a live object of type `T` that stays allocated
    /// for `'m` (reachable from a root, or the mutator cannot reach a
    /// safepoint during `'m`).
    #[inline]
    pub(crate) unsafe fn from_raw(p: usize) -> Gc<'m, T> {
        Gc {
            // SAFETY: callers pass non-null payload addresses.
            ptr: unsafe { NonNull::new_unchecked(p as *mut T) },
            _m: PhantomData,
        }
    }

    /// The payload address.
    #[inline]
    pub(crate) fn addr(self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// A reference that lives as long as the mutator borrow (an associated
    /// function, like `Box::leak`, so it does not shadow `T`'s methods).
    #[inline]
    pub fn into_ref(this: Gc<'m, T>) -> &'m T {
        // SAFETY: the object stays allocated for 'm (see `from_raw`), and
        // heap objects are only ever accessed through shared references.
        unsafe { &*this.ptr.as_ptr() }
    }

    /// Whether two pointers refer to the same object.
    #[inline]
    pub fn ptr_eq(a: Gc<'_, T>, b: Gc<'_, T>) -> bool {
        a.ptr == b.ptr
    }

    /// The object's address, for hashing or debugging.
    #[inline]
    pub fn as_ptr(self) -> *const T {
        self.ptr.as_ptr()
    }
}

impl<T> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Gc<'_, T> {}

impl<T> std::ops::Deref for Gc<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: as in `as_ref`.
        unsafe { &*self.ptr.as_ptr() }
    }
}

impl<T: fmt::Debug> fmt::Debug for Gc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Gc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
