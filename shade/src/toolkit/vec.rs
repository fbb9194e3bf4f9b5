//! `GcVec<T>`: a growable vector of pointers that lives in the heap.
//!
//! A `GcVec` is a length and a slot holding its buffer, an
//! `Array<Slot<T>>`; both live inside a heap object (a `GcVec` allocated on
//! its own, or a field of another object), so the marker reaches the
//! elements through the buffer like any other array. Element writes go
//! through the write barrier; growing allocates a buffer twice as large and
//! moves the elements with one bulk copy (`Array::copy_from`: one barrier
//! pass, not one call per element), then swaps the buffer slot, whose
//! barrier records the old buffer, so a concurrent marker still scans the
//! elements it held. Slots past the length are kept null, so a popped or
//! removed element is not kept alive by the vector.
//!
//! Every access checks its index against the buffer it loaded, so a vector
//! shared between threads (`T: Sync`) and mutated by several at once can
//! lose updates, as any unsynchronised data structure would, but never
//! reads or writes out of bounds.

use crate::api::array::Array;
use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// A growable vector of `Gc<T>` stored in the heap (see the module
/// comment). Use it as a field, or allocate it on its own:
///
/// ```
/// use shade::{Config, GcVec, Heap};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let v = mu.local(mu.alloc(GcVec::<u64>::new()));
/// for i in 0..100u64 {
///     v.get(&mu).push(&mu, mu.alloc(i));
/// }
/// mu.collect();
/// let v = v.get(&mu);
/// assert_eq!(v.len(), 100);
/// assert_eq!(*v.get(&mu, 42).unwrap(), 42);
/// assert_eq!(*v.pop(&mu).unwrap(), 99);
/// v.remove(&mu, 0);
/// assert_eq!(v.iter(&mu).map(|x| *x).sum::<u64>(), (1..99).sum());
/// ```
pub struct GcVec<T: 'static> {
    len: AtomicUsize,
    buf: Slot<Array<Slot<T>>>,
}

// SAFETY: the only GC pointer is the buffer slot; the length is plain data.
unsafe impl<T: 'static> Trace for GcVec<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.buf.trace(t)
    }
}

impl<T: 'static> Default for GcVec<T> {
    fn default() -> Self {
        GcVec::new()
    }
}

impl<T: 'static> GcVec<T> {
    /// An empty vector (no buffer until the first push).
    pub const fn new() -> GcVec<T> {
        GcVec { len: AtomicUsize::new(0), buf: Slot::null() }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Whether the vector is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements the current buffer holds without growing.
    pub fn capacity(&self, mu: &Mutator) -> usize {
        self.buf.get(mu).map_or(0, |b| b.len())
    }

    /// Element `i`, or `None` past the end.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator, i: usize) -> Option<Gc<'m, T>> {
        if i >= self.len() {
            return None;
        }
        Gc::into_ref(self.buf.get(mu)?).get(i)?.get(mu)
    }

    /// The elements, in order (a snapshot of the length; an element removed
    /// meanwhile ends the iteration early).
    pub fn iter<'m>(&self, mu: &'m Mutator) -> impl Iterator<Item = Gc<'m, T>> + 'm {
        let n = self.len();
        let buf = self.buf.get(mu);
        (0..n).map_while(move |i| Gc::into_ref(buf?).get(i)?.get(mu))
    }

    /// Replaces element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn set(&self, mu: &Mutator, i: usize, v: Gc<'_, T>) {
        let n = self.len();
        assert!(i < n, "shade: GcVec::set: index {i} out of bounds (len {n})");
        self.buffer(mu, n)[i].set(mu, v);
    }

    /// Removes and returns the last element.
    pub fn pop<'m>(&self, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let last = self.buffer(mu, n)[n - 1].replace(mu, None);
        self.len.store(n - 1, Release);
        last
    }

    /// Removes and returns element `i`, shifting the elements after it.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn remove<'m>(&self, mu: &'m Mutator, i: usize) -> Gc<'m, T> {
        let n = self.len();
        assert!(i < n, "shade: GcVec::remove: index {i} out of bounds (len {n})");
        let buf = self.buffer(mu, n);
        let out = buf[i].get(mu).expect("shade: GcVec element below the length is null");
        buf.copy_within(mu, i + 1..n, i);
        buf[n - 1].set(mu, None);
        self.len.store(n - 1, Release);
        out
    }

    /// Shortens the vector to `len` elements (no effect if it is shorter).
    pub fn truncate(&self, mu: &Mutator, len: usize) {
        let n = self.len();
        if len >= n {
            return;
        }
        let buf = self.buffer(mu, n);
        self.len.store(len, Release);
        for s in &buf[len..n] {
            s.set(mu, None);
        }
    }

    /// Removes every element (the buffer is kept).
    pub fn clear(&self, mu: &Mutator) {
        self.truncate(mu, 0)
    }

    /// The buffer, which holds at least `n` slots.
    fn buffer<'m>(&self, mu: &'m Mutator, n: usize) -> &'m Array<Slot<T>> {
        let buf = Gc::into_ref(self.buf.get(mu).expect("shade: GcVec has elements but no buffer"));
        assert!(buf.len() >= n, "shade: GcVec buffer shorter than its length (mutated concurrently?)");
        buf
    }
}

/// Growing allocates a buffer, which needs `Slot<T>: Send`, that is `T: Sync`
/// (as for every object holding a `Slot<T>`).
impl<T: Sync + 'static> GcVec<T> {
    /// Appends `v`.
    pub fn push(&self, mu: &Mutator, v: Gc<'_, T>) {
        let n = self.len();
        self.reserve(mu, n + 1)[n].set(mu, v);
        self.len.store(n + 1, Release);
    }

    /// Inserts `v` at `i`, shifting the elements after it (one bulk copy).
    ///
    /// # Panics
    /// If `i > len()`.
    pub fn insert(&self, mu: &Mutator, i: usize, v: Gc<'_, T>) {
        let n = self.len();
        assert!(i <= n, "shade: GcVec::insert: index {i} out of bounds (len {n})");
        let buf = self.reserve(mu, n + 1);
        buf.copy_within(mu, i..n, i + 1);
        buf[i].set(mu, v);
        self.len.store(n + 1, Release);
    }

    /// The buffer, grown (doubling, at least 4) to hold `n` slots.
    fn reserve<'m>(&self, mu: &'m Mutator, n: usize) -> &'m Array<Slot<T>> {
        let old = self.buf.get(mu);
        let cap = old.map_or(0, |b| b.len());
        if cap >= n {
            return Gc::into_ref(old.expect("capacity > 0"));
        }
        let new_cap = n.max(cap.saturating_mul(2)).max(4);
        let new = mu.alloc_array(new_cap, |_| Slot::<T>::null());
        if let Some(old) = old {
            let len = self.len().min(old.len());
            new.copy_from(mu, 0, Gc::into_ref(old), 0..len);
        }
        self.buf.set(mu, new);
        Gc::into_ref(new)
    }
}

impl<T: 'static> fmt::Debug for GcVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcVec").field("len", &self.len()).finish_non_exhaustive()
    }
}
