//! Roots: handles that keep objects alive across safepoints.
//!
//! Two kinds, both precise and both registered with the mutator that made
//! them, so creating one takes no global lock:
//!
//! * [`Local<T>`]: a scoped root, owned by one mutator and thread. Its slot
//!   lives in the mutator's local table (a slab with a free list).
//! * [`Root<T>`]: a `'static`, clonable handle that may cross threads (when
//!   `T: Send + Sync`). It is an `Arc`'d record; the mutator's root list
//!   holds one reference, and the collector drops the registration once only
//!   that reference is left. Cloning and dropping a `Root` are a reference
//!   count change, from any thread.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::gc::roots::RootNode;
use crate::runtime::MutatorState;
use std::marker::PhantomData;
use std::sync::Arc;

/// A `'static` handle that keeps an object alive, usable from any mutator
/// of the same heap on any thread (`Send + Sync` when `T` is).
///
/// ```
/// use shade::{Config, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let r = mu.root(mu.alloc(vec![1u32, 2, 3]));
/// mu.collect();
/// assert_eq!(r.get(&mu).len(), 3);
/// ```
pub struct Root<T> {
    node: Arc<RootNode>,
    _t: PhantomData<*const T>,
}

// SAFETY: another thread can only use the object through its own mutator
// (shared access: needs `T: Sync`) and may drop the last reference to it
// (the object is then dropped by the sweeper: needs `T: Send`).
unsafe impl<T: Send + Sync> Send for Root<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Root<T> {}

impl<T> Root<T> {
    /// Roots `v`.
    ///
    /// # Panics
    /// If `v` is not an object of `mu`'s heap.
    pub fn new(mu: &Mutator, v: Gc<'_, T>) -> Root<T> {
        assert!(mu.in_heap(v.addr()), "shade: Root::new: object is not in this mutator's heap");
        let node = Arc::new(RootNode { ptr: v.addr(), heap: mu.heap_id() });
        mu.st.roots.lock().push(node.clone());
        Root { node, _t: PhantomData }
    }

    /// The rooted object.
    ///
    /// # Panics
    /// If `mu` belongs to a different heap.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator) -> Gc<'m, T> {
        assert!(self.node.heap == mu.heap_id(), "shade: Root used with a mutator of another heap");
        // A `Root` moves between threads: the mutator that registered it may
        // not have greyed its roots yet while `mu` has, and could drop the
        // handle after `mu` stored the object somewhere already scanned.
        // Shading it while `mu`'s barrier is on closes that gap (DESIGN.md
        // §6, "Ragged mark start").
        crate::barrier::shade(mu, self.node.ptr);
        // SAFETY: the object is rooted while `self` lives, so it is alive
        // now; a collection can only complete while `mu` is stopped, which
        // ends the borrow `'m` (DESIGN.md, "Why a Gc is safe"), so it stays
        // alive for `'m` even if this Root is dropped meanwhile.
        unsafe { Gc::from_raw(self.node.ptr) }
    }
}

impl<T> Clone for Root<T> {
    fn clone(&self) -> Self {
        Root { node: self.node.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root({:#x})", self.node.ptr)
    }
}

/// A scoped root owned by one mutator: keeps an object alive across that
/// mutator's safepoints until dropped. `!Send`.
///
/// ```
/// use shade::{Config, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let x = mu.alloc(42u64);
/// let kept = mu.local(x);
/// mu.collect();              // `x` can no longer be used here...
/// let x = kept.get(&mu);     // ...but the Local hands it back
/// assert_eq!(*x, 42);
/// ```
pub struct Local<T> {
    owner: Arc<MutatorState>,
    idx: usize,
    ptr: usize,
    _t: PhantomData<*const T>,
}

impl<T> Local<T> {
    pub(crate) fn new(mu: &Mutator, v: Gc<'_, T>) -> Local<T> {
        assert!(mu.in_heap(v.addr()), "shade: Local: object is not in this mutator's heap");
        let idx = mu.st.locals.lock().add(v.addr());
        Local { owner: mu.st.clone(), idx, ptr: v.addr(), _t: PhantomData }
    }

    /// The rooted object.
    ///
    /// # Panics
    /// If `mu` is not the mutator that created this `Local`.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator) -> Gc<'m, T> {
        assert!(Arc::ptr_eq(&self.owner, &mu.st), "shade: Local used with a different mutator");
        // SAFETY: the object is registered in the mutator's local table
        // while `self` lives, so every collection marks it.
        unsafe { Gc::from_raw(self.ptr) }
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        self.owner.locals.lock().remove(self.idx);
    }
}

/// Carries `Gc` pointers across a safepoint, re-binding each name to a
/// fresh pointer with the new mutator borrow:
///
/// ```
/// use shade::{Config, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let a = mu.alloc(1u64);
/// let b = mu.alloc(2u64);
/// shade::safepoint!(mu; a, b);
/// assert_eq!(*a + *b, 3);
/// ```
#[macro_export]
macro_rules! safepoint {
    ($mu:ident; $($x:ident),* $(,)?) => {
        $( let $x = $mu.local($x); )*
        $mu.safepoint();
        $( let $x = { let __kept = $x; __kept.get(&$mu) }; )*
    };
}
