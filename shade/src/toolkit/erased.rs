//! `GcAny<'m>`: a pointer to a heap object whose type is known only at run
//! time, and its views as `T` (`downcast`) or as a trait object (`to_dyn`).
//!
//! Objects have no header, but every span holds objects of one type and its
//! record names the type's descriptor (heap/object.rs), so an erased
//! pointer is one word, like `Gc<T>`: the type comes from the page table
//! lookup the marker already does. The descriptor carries the type's
//! `TypeId` (compared, never the descriptor's address: one type may have
//! several descriptors) and its table of trait-object casts (`DynTable`,
//! filled by `#[shade(dyn(Trait))]`).
//!
//! Soundness: a `GcAny<'m>` is made only from a `Gc<'m, T>` (or read back
//! from a value that was), so it names a live object for `'m` exactly as the
//! `Gc` did; `downcast::<U>` hands out a `Gc<'m, U>` only when the span's
//! type is `U`. Erasing requires `T: Sync`, because an erased pointer can be
//! stored in a shared value slot and downcast on another thread.
//!
//! Cost: `is`/`downcast` are the page-table load, the span record's type
//! load and a 128-bit compare; `to_dyn` adds a scan of the (usually
//! one-entry) trait table and an indirect call that builds the fat pointer.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::heap::object::TypeInfo;
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pointer to a heap object of any type, valid while the mutator borrow
/// `'m` lasts (like [`Gc`]). Make one with `GcAny::from(gc)` or
/// `gc.into()`; read its type with [`is`](GcAny::is) and
/// [`downcast`](GcAny::downcast); call a trait's methods on it with
/// [`to_dyn`](GcAny::to_dyn) when the type registered the trait
/// (`#[shade(dyn(Trait))]`).
///
/// The type lookup needs the mutator (its heap's page table).
///
/// ```
/// use shade::{Config, GcAny, Heap};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let objs: Vec<GcAny> = vec![mu.alloc(7u64).into(), mu.alloc_str("seven").into()];
/// assert!(objs[0].is::<u64>(&mu));
/// assert_eq!(*objs[0].downcast::<u64>(&mu).unwrap(), 7);
/// assert!(objs[1].downcast::<u64>(&mu).is_none());
/// assert_eq!(objs[1].downcast::<shade::Array<u8>>(&mu).unwrap().as_str(), "seven");
/// ```
pub struct GcAny<'m> {
    ptr: NonNull<u8>,
    _m: PhantomData<&'m Mutator>,
}

impl<'m> GcAny<'m> {
    /// # Safety
    /// As `Gc::from_raw`: `p` is the payload of a live object that stays
    /// allocated for `'m`, of a type that is `Sync`.
    #[inline]
    pub(crate) unsafe fn from_raw(p: usize) -> GcAny<'m> {
        // SAFETY: callers pass non-null payload addresses.
        GcAny { ptr: unsafe { NonNull::new_unchecked(p as *mut u8) }, _m: PhantomData }
    }

    /// Erases `g`'s type.
    #[inline]
    pub fn new<T: Sync + 'static>(g: Gc<'m, T>) -> GcAny<'m> {
        // SAFETY: `g` is such a pointer.
        unsafe { GcAny::from_raw(g.addr()) }
    }

    /// The payload address.
    #[inline]
    pub(crate) fn addr(self) -> usize {
        self.ptr.as_ptr() as usize
    }

    #[inline]
    fn info(self, mu: &Mutator) -> &'static TypeInfo {
        match mu.runtime().mheap.span_of(self.addr()) {
            Some(s) => s.ty(),
            None => other_heap(self.addr()),
        }
    }

    /// Whether the object is a `T`.
    ///
    /// # Panics
    /// If the object is not in `mu`'s heap.
    #[inline]
    pub fn is<T: 'static>(self, mu: &Mutator) -> bool {
        self.info(mu).type_id == TypeId::of::<T>()
    }

    /// The object as a `T`, if it is one.
    ///
    /// # Panics
    /// If the object is not in `mu`'s heap.
    #[inline]
    pub fn downcast<T: 'static>(self, mu: &Mutator) -> Option<Gc<'m, T>> {
        if self.is::<T>(mu) {
            // SAFETY: the object is live for 'm (it was a Gc for 'm) and its
            // span holds `T`s.
            Some(unsafe { Gc::from_raw(self.addr()) })
        } else {
            None
        }
    }

    /// The object as the trait object `Tr` (`dyn Trait`), if its type
    /// registered `Tr` (`#[shade(dyn(Trait))]` or `Trace::DYN`).
    ///
    /// # Panics
    /// If the object is not in `mu`'s heap.
    #[inline]
    pub fn to_dyn<Tr: ?Sized + 'static>(self, mu: &Mutator) -> Option<&'m Tr> {
        let cast = self.info(mu).dyn_table.find::<Tr>()?;
        // SAFETY: the table is the object's own type's (its span's
        // descriptor), whose casts take a payload of that type; the object is
        // live for 'm and only ever accessed through shared references.
        Some(unsafe { &*(cast.0)(self.ptr.as_ptr()) })
    }

    /// The object with its type looked up once, for code that tests it
    /// against several types (an interpreter's call: closure? native?):
    /// each test on the result is a compare, with no further lookup.
    ///
    /// # Panics
    /// If the object is not in `mu`'s heap.
    #[inline]
    pub fn typed(self, mu: &Mutator) -> Typed<'m> {
        Typed { obj: self, info: self.info(mu) }
    }

    /// The object's type name (`std::any::type_name`).
    ///
    /// # Panics
    /// If the object is not in `mu`'s heap.
    pub fn type_name(self, mu: &Mutator) -> &'static str {
        (self.info(mu).name)()
    }

    /// Whether two pointers refer to the same object.
    #[inline]
    pub fn ptr_eq(a: GcAny<'_>, b: GcAny<'_>) -> bool {
        a.ptr == b.ptr
    }

    /// The object's address, for hashing or debugging.
    #[inline]
    pub fn as_ptr(self) -> *const u8 {
        self.ptr.as_ptr()
    }
}

/// An erased pointer with its type descriptor at hand
/// ([`GcAny::typed`]): `is`, `downcast` and `to_dyn` without the heap
/// lookup.
///
/// ```
/// use shade::{Config, GcAny, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let t = GcAny::from(mu.alloc(7u64)).typed(&mu);
/// assert!(!t.is::<u32>());
/// assert_eq!(*t.downcast::<u64>().unwrap(), 7);
/// ```
#[derive(Clone, Copy)]
pub struct Typed<'m> {
    obj: GcAny<'m>,
    info: &'static TypeInfo,
}

impl<'m> Typed<'m> {
    /// Whether the object is a `T`.
    #[inline]
    pub fn is<T: 'static>(self) -> bool {
        self.info.type_id == TypeId::of::<T>()
    }

    /// The object as a `T`, if it is one.
    #[inline]
    pub fn downcast<T: 'static>(self) -> Option<Gc<'m, T>> {
        if self.is::<T>() {
            // SAFETY: as in `GcAny::downcast`: `info` is the object's span's.
            Some(unsafe { Gc::from_raw(self.obj.addr()) })
        } else {
            None
        }
    }

    /// The object as the trait object `Tr`, if its type registered `Tr`.
    #[inline]
    pub fn to_dyn<Tr: ?Sized + 'static>(self) -> Option<&'m Tr> {
        let cast = self.info.dyn_table.find::<Tr>()?;
        // SAFETY: as in `GcAny::to_dyn`.
        Some(unsafe { &*(cast.0)(self.obj.as_ptr()) })
    }

    /// The erased pointer.
    #[inline]
    pub fn object(self) -> GcAny<'m> {
        self.obj
    }

    /// The object's type name.
    pub fn type_name(self) -> &'static str {
        (self.info.name)()
    }
}

impl fmt::Debug for Typed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Typed({:p}: {})", self.obj.ptr, (self.info.name)())
    }
}

impl<'m, T: Sync + 'static> From<Gc<'m, T>> for GcAny<'m> {
    #[inline]
    fn from(g: Gc<'m, T>) -> GcAny<'m> {
        GcAny::new(g)
    }
}

impl Clone for GcAny<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for GcAny<'_> {}

impl PartialEq for GcAny<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}
impl Eq for GcAny<'_> {}

impl std::hash::Hash for GcAny<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ptr.hash(state)
    }
}

impl fmt::Debug for GcAny<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GcAny({:p})", self.ptr)
    }
}

#[cold]
#[inline(never)]
fn other_heap(p: usize) -> ! {
    panic!("shade: GcAny at {p:#x} used with a mutator of another heap (the type lookup needs the object's own heap)")
}
