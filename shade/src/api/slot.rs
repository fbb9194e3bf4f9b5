//! `Slot<T>`: a mutable GC pointer field.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::trace::{Trace, Tracer};
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering::*};

/// A nullable, mutable pointer to a `T` stored inside a heap object.
///
/// Every GC pointer kept in the heap is a `Slot`. Reading it is one atomic
/// load; writing it goes through the write barrier and therefore needs the
/// [`Mutator`]: no store can skip the barrier. Slots are atomic because the
/// collector's marker reads them on other threads while mutators run.
///
/// A slot is only meaningful inside the heap. `Slot::new` exists so objects
/// can be built with their pointers in place (`mu.alloc(Node { next:
/// Slot::new(x) })`). Such a slot must be allocated on the same thread
/// before that thread's mutator next reaches a safepoint (allocation checks
/// it: a slot kept across a safepoint could point at a freed object, or at
/// an object of another type that reuses its memory). A slot outside the
/// heap (on the stack, in a `Vec`, in a `static`) can only be moved into an
/// allocation: reading it ([`get`](Slot::get)) or writing it
/// ([`set`](Slot::set)) panics. DESIGN.md §4 explains why these rules make
/// every pointer a slot hands out point at a live object of its type.
///
/// ```
/// use shade::{Config, Heap, Slot, Trace};
///
/// #[derive(Trace)]
/// struct Pair { left: Slot<u64>, right: Slot<u64> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let one = mu.alloc(1u64);
/// let pair = mu.alloc(Pair { left: Slot::new(one), right: Slot::null() });
/// pair.right.set(&mu, mu.alloc(2u64));
/// assert_eq!(*pair.right.get(&mu).unwrap(), 2);
/// pair.left.set(&mu, None);
/// assert!(pair.left.get(&mu).is_none());
/// ```
#[repr(transparent)]
pub struct Slot<T> {
    ptr: AtomicPtr<u8>,
    _t: PhantomData<*const T>,
}

// SAFETY: reading a slot on another thread yields `&T` there, so `T` must be
// `Sync`; the slot itself is an atomic.
unsafe impl<T: Sync> Sync for Slot<T> {}
// SAFETY: moving a slot to another thread (inside an object, or to drop it
// on the sweeper) hands out nothing but the same `&T` access as above.
unsafe impl<T: Sync> Send for Slot<T> {}

impl<T> Slot<T> {
    /// A null slot.
    #[inline]
    pub const fn null() -> Slot<T> {
        Slot { ptr: AtomicPtr::new(std::ptr::null_mut()), _t: PhantomData }
    }

    /// A slot pointing at `v`, to be moved into an object being allocated
    /// on this thread before its mutator's next safepoint.
    ///
    /// Records a witness (`v`'s address and type) that the allocation
    /// consumes; see [`Mutator::alloc`](crate::Mutator::alloc) for what it
    /// checks.
    #[inline]
    pub fn new(v: Gc<'_, T>) -> Slot<T>
    where
        T: 'static,
    {
        pending::add(v.addr(), TypeId::of::<T>());
        Slot { ptr: AtomicPtr::new((v.addr() | UNPLACED) as *mut u8), _t: PhantomData }
    }

    /// A slot holding `v` or null.
    #[inline]
    pub fn from_option(v: Option<Gc<'_, T>>) -> Slot<T>
    where
        T: 'static,
    {
        v.map_or_else(Slot::null, Slot::new)
    }

    #[inline]
    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Loads the pointer. The acquire pairs with the release in `set`, so
    /// an object published by another thread is seen fully initialised.
    /// No arena range check while one heap is alive: a slot outside the
    /// heap holds null or a pointer marked `UNPLACED`, which is tested on
    /// the loaded value.
    ///
    /// # Panics
    /// If the slot is non-null and does not lie inside an object of `mu`'s
    /// heap (a slot kept on the stack or in malloc'd memory).
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        let p = self.ptr.load(Acquire) as usize;
        if p == 0 {
            return None;
        }
        check_read(mu, self.addr(), p);
        #[cfg(debug_assertions)]
        mu.debug_check_live(p);
        // SAFETY: the slot is inside an object of this heap, and every
        // pointer stored in a heap slot targets an object that stays alive
        // at least until the next safepoint (the collector's invariant,
        // DESIGN.md §4): the returned Gc cannot outlive the borrow of `mu`.
        Some(unsafe { Gc::from_raw(p) })
    }

    /// The stored address, for the collector's own use (weak tables at
    /// termination): no `Gc` is made from it here.
    #[inline]
    pub(crate) fn raw(&self) -> usize {
        self.ptr.load(Acquire) as usize
    }

    /// Copies `src`'s pointer into this slot, with no barrier call when this
    /// slot is null: the bulk copy that rebuilds a table into a fresh
    /// object (toolkit/map.rs), one pass instead of a barrier per entry.
    ///
    /// Why skipping the barrier is sound here: the deletion barrier exists
    /// to record a slot's snapshot value when it is first overwritten
    /// (DESIGN.md §6). A slot seen null after mark start either held null at
    /// the snapshot, or its snapshot value was already overwritten by a
    /// store ordered before this load, which recorded it; so overwriting a
    /// null loses nothing. (The hybrid mode's insertion half is not needed
    /// for correctness and is not applied.) The stored value comes from a
    /// slot inside the heap (checked), so (H) holds for it; a non-null
    /// destination, a destination outside the heap, or `wbcheck` take the
    /// ordinary barrier path.
    #[inline]
    pub(crate) fn copy_into_null(&self, mu: &Mutator, src: &Slot<T>) {
        let p = src.ptr.load(Acquire);
        if p.is_null() {
            return;
        }
        if !mu.in_heap(src.addr()) {
            outside_heap(src.addr(), p as usize);
        }
        if !self.ptr.load(Relaxed).is_null() || !mu.in_heap(self.addr()) || mu.runtime().settings.wbcheck {
            return mu.checked_store(self.addr(), &self.ptr, p as usize);
        }
        self.ptr.store(p, Release);
    }

    /// Whether the slot is null.
    #[inline]
    pub fn is_null(&self) -> bool {
        self.ptr.load(Relaxed).is_null()
    }

    /// Stores `v` (a `Gc` or `None`) through the write barrier.
    ///
    /// # Panics
    /// If the slot does not lie inside an object of `mu`'s heap (a slot on
    /// the stack, in malloc'd memory, or in another heap: the barrier would
    /// record the value it overwrites, which nothing keeps alive), or `v`
    /// belongs to another heap (a pointer must never cross heaps).
    #[inline]
    pub fn set<'a>(&self, mu: &Mutator, v: impl Into<Option<Gc<'a, T>>>) {
        let new = v.into().map_or(0, |g| g.addr());
        mu.checked_store(self.addr(), &self.ptr, new);
    }

    /// Stores `v` and returns the previous value.
    #[inline]
    pub fn replace<'m, 'a>(&self, mu: &'m Mutator, v: impl Into<Option<Gc<'a, T>>>) -> Option<Gc<'m, T>> {
        let old = self.get(mu);
        self.set(mu, v);
        old
    }

    /// Whether the slot points at `v`.
    #[inline]
    pub fn points_to(&self, v: Gc<'_, T>) -> bool {
        self.ptr.load(Relaxed) as usize & !UNPLACED == v.addr()
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::null()
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({:#x})", self.ptr.load(Relaxed) as usize & !UNPLACED)
    }
}

// SAFETY: a slot is exactly one GC pointer, visited here with its target
// type (allocation checks it against the `Slot::new` witness); the load is
// atomic (acquire, so the target's contents are visible to the marker).
unsafe impl<T: 'static> Trace for Slot<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        t.slot_edge::<T>(&self.ptr)
    }
}

/// The low bit of a pointer held by a slot *outside* the heap: `Slot::new`
/// (and `ValueSlot::new`, `Member::new`) set it, and allocation clears it
/// when it moves the slot into an object (`Tracer::slot_edge`, after
/// checking the witness). Payload addresses are 8-aligned, so the bit is
/// free. It is what lets a read tell a heap slot from a stray one by the
/// value it loads, with no arena range check: a slot outside the heap can
/// hold only null or a marked pointer (it is made by `null` or `new`, and
/// `set` refuses it), and a slot inside the heap only null or an unmarked
/// one (allocation clears the mark; `set` stores `Gc` addresses).
pub(crate) const UNPLACED: usize = 1;

/// The check of every read of a non-null slot (`Slot`, `Member`; and
/// `ValueSlot` for objects): the slot must lie in `mu`'s heap. While one
/// heap is alive, a clear `UNPLACED` bit proves it (see there); with
/// several, the slot could be in another heap's object, and then the
/// result would be bound to the wrong mutator's borrow, so the range is
/// checked too.
#[inline(always)]
pub(crate) fn check_read(mu: &Mutator, slot: usize, p: usize) {
    if p & UNPLACED != 0 || (crate::runtime::LIVE_HEAPS.0.load(Relaxed) != 1 && !mu.in_heap(slot)) {
        outside_heap(slot, p & !UNPLACED);
    }
}

/// A non-null, mutable pointer field: set when its object is built, never
/// null afterwards, so reading it needs no `Option` (a closure's prototype,
/// a node's parent in a tree that always has one).
///
/// The rules are [`Slot`]'s: [`Member::new`] records a witness that the
/// allocation consumes, a `Member` outside the heap cannot be read or
/// written, and a store goes through the write barrier.
///
/// ```
/// use shade::{Config, Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Leaf { parent: Member<u64> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let leaf = mu.alloc(Leaf { parent: Member::new(mu.alloc(1u64)) });
/// assert_eq!(*leaf.parent.get(&mu), 1);
/// leaf.parent.set(&mu, mu.alloc(2u64));
/// assert_eq!(*leaf.parent.get(&mu), 2);
/// ```
#[repr(transparent)]
pub struct Member<T> {
    slot: Slot<T>,
}

impl<T: 'static> Member<T> {
    /// A member pointing at `v`, to be moved into an object allocated on
    /// this thread before its mutator's next safepoint (as `Slot::new`).
    #[inline]
    pub fn new(v: Gc<'_, T>) -> Member<T> {
        Member { slot: Slot::new(v) }
    }

    /// Loads the pointer.
    ///
    /// # Panics
    /// If the member does not lie inside an object of `mu`'s heap.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator) -> Gc<'m, T> {
        let p = self.slot.ptr.load(Acquire) as usize;
        check_read(mu, self.slot.addr(), p);
        #[cfg(debug_assertions)]
        mu.debug_check_live(p);
        // SAFETY: as in `Slot::get`; a member is never null (made only
        // from a `Gc`, and `set` takes a `Gc`).
        unsafe { Gc::from_raw(p) }
    }

    /// Stores `v` through the write barrier.
    ///
    /// # Panics
    /// As [`Slot::set`].
    #[inline]
    pub fn set(&self, mu: &Mutator, v: Gc<'_, T>) {
        self.slot.set(mu, v)
    }

    /// Whether the member points at `v`.
    #[inline]
    pub fn points_to(&self, v: Gc<'_, T>) -> bool {
        self.slot.points_to(v)
    }
}

impl<T> fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Member({:#x})", self.slot.ptr.load(Relaxed) as usize & !UNPLACED)
    }
}

// SAFETY: exactly `Slot<T>`'s trace (a member is a slot that is never null).
unsafe impl<T: 'static> Trace for Member<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.slot.trace(t)
    }
}

/// Witnesses for `Slot::new`.
///
/// A `Slot` value has no lifetime, so one built with `Slot::new(x)` could be
/// kept on the stack across a safepoint, `x` freed by a collection, and the
/// slot then moved into a new object. To rule that out, `Slot::new` records
/// the address *and the target type* in a per-thread list, allocation
/// consumes one matching record per non-null pointer in the new object (and
/// panics if there is none), and every point where a collection can
/// complete for this thread's mutator clears the list. A record proves that
/// a `Gc<T>` with that address existed since the last such point, so the
/// object there is still alive *and is a `T`*: an address alone would not do,
/// since the memory of a freed object is reused by objects of other types
/// (DESIGN.md §4, "Witnesses").
pub(crate) mod pending {
    use std::any::TypeId;
    use std::cell::{Cell, RefCell};

    /// Records that fit inline; more spill to a vector (objects with more
    /// than this many slots built at once, or slots built and never used).
    const INLINE: usize = 32;

    /// One witness: a payload address and the type of the `Gc` it came from.
    type Record = (usize, TypeId);

    /// The inline records. No destructor and a const initialiser, so the
    /// thread-local access is a plain thread-pointer-relative load: this is
    /// on the allocation path of every object with pointers.
    struct Inline {
        len: Cell<usize>,
        spilled: Cell<bool>,
        buf: [Cell<Record>; INLINE],
    }

    /// A placeholder for unused entries (never compared: `len` bounds the
    /// search).
    const UNUSED: Record = (0, TypeId::of::<()>());

    thread_local! {
        static INLINE_RECORDS: Inline = const {
            Inline { len: Cell::new(0), spilled: Cell::new(false), buf: [const { Cell::new(UNUSED) }; INLINE] }
        };
        static SPILL: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
    }

    #[inline(always)]
    pub(crate) fn add(p: usize, ty: TypeId) {
        // Kept small (the spill is out of line) so that the thread-local
        // access inlines into `Slot::new` as a thread-pointer-relative load
        // rather than an indirect call through the key's accessor.
        INLINE_RECORDS.with(|r| {
            let n = r.len.get();
            if n < INLINE {
                r.buf[n].set((p, ty));
                r.len.set(n + 1);
            } else {
                add_spilled(r, (p, ty));
            }
        })
    }

    #[cold]
    #[inline(never)]
    fn add_spilled(r: &Inline, rec: Record) {
        r.spilled.set(true);
        SPILL.with(|v| v.borrow_mut().push(rec));
    }

    /// Consumes a record of `p` with type `ty` if it is one of the last two
    /// (the inline fast path of allocation's check); false otherwise, and
    /// then `take` searches the rest.
    #[inline(always)]
    pub(crate) fn take_recent(p: usize, ty: TypeId) -> bool {
        INLINE_RECORDS.with(|r| {
            let n = r.len.get();
            if n == 0 || n > INLINE {
                return false;
            }
            let last = r.buf[n - 1].get();
            if last == (p, ty) {
                r.len.set(n - 1);
                return true;
            }
            if n >= 2 && r.buf[n - 2].get() == (p, ty) {
                r.buf[n - 2].set(last);
                r.len.set(n - 1);
                return true;
            }
            false
        })
    }

    /// Consumes a record of `p` with type `ty`; false if there is none.
    #[inline(always)]
    pub(crate) fn take(p: usize, ty: TypeId) -> bool {
        INLINE_RECORDS.with(|r| {
            // Records are usually consumed right after they were made, in
            // order: search from the end.
            let n = r.len.get();
            for i in (0..n).rev() {
                if r.buf[i].get() == (p, ty) {
                    r.buf[i].set(r.buf[n - 1].get());
                    r.len.set(n - 1);
                    return true;
                }
            }
            r.spilled.get() && take_spilled((p, ty))
        })
    }

    #[cold]
    fn take_spilled(rec: Record) -> bool {
        SPILL.with(|v| {
            let mut v = v.borrow_mut();
            match v.iter().rposition(|&q| q == rec) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            }
        })
    }

    /// Forgets every record (a collection may complete from here on).
    pub(crate) fn clear() {
        let _ = INLINE_RECORDS.try_with(|r| {
            r.len.set(0);
            if r.spilled.replace(false) {
                let _ = SPILL.try_with(|v| v.borrow_mut().clear());
            }
        });
    }

    #[cfg(test)]
    mod tests {
        use std::any::TypeId;

        const T: fn() -> TypeId = TypeId::of::<u64>;

        #[test]
        fn records_are_consumed_once_inline_and_spilled() {
            super::clear();
            for p in 1..=100usize {
                super::add(p * 8, T());
            }
            // Out of order, across the inline part and the spill.
            for p in (1..=100usize).rev().step_by(3).chain((1..=100).step_by(7)) {
                let _ = super::take(p * 8, T());
            }
            let mut left = 0;
            for p in 1..=100usize {
                if super::take(p * 8, T()) {
                    left += 1;
                }
            }
            for p in 1..=100usize {
                assert!(!super::take(p * 8, T()), "record {p} taken twice");
            }
            assert!(left > 0 && left < 100);
            super::add(8, T());
            super::clear();
            assert!(!super::take(8, T()), "clear forgets records");
        }

        #[test]
        fn a_record_proves_its_type_only() {
            super::clear();
            for p in 1..=40usize {
                super::add(p * 8, T());
            }
            // Same addresses, other type: inline and spilled records both refuse.
            assert!(!super::take(8, TypeId::of::<u32>()));
            assert!(!super::take(40 * 8, TypeId::of::<u32>()));
            assert!(super::take(8, T()) && super::take(40 * 8, T()));
            super::clear();
        }
    }
}

#[cold]
#[inline(never)]
fn outside_heap(slot: usize, target: usize) -> ! {
    panic!(
        "shade: Slot at {slot:#x} (pointing to {target:#x}) is not inside an object of this mutator's heap; \
         slots holding pointers must live in the heap (Slot::new is for building objects)"
    )
}
