//! `Mutator`: a thread's working handle on a heap.

use crate::api::array::{Array, ArrayInfo, ARRAY_DATA_OFFSET};
use crate::api::error::AllocError;
use crate::api::gc::Gc;
use crate::api::heap::Heap;
use crate::api::root::{Local, Root};
use crate::api::trace::{Trace, Tracer, TracerKind, Validate};
use crate::gc::stw::{mark_running, unmark_running};
use crate::heap::cache::SpanKey;
use crate::heap::object::{object_size, SizedInfo, TypeInfo};
use crate::heap::sizeclass::{class_for, SpanClass};
use crate::runtime::{MutatorState, Owner, Runtime};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use std::sync::Arc;

/// A thread's handle for working on a heap: allocating, reading and writing
/// pointers, and reaching safepoints.
///
/// A `Mutator` is *running* from creation until it is dropped, except while
/// it is parked. Collections wait for every running mutator to reach a
/// safepoint, so long-running code calls [`safepoint`](Mutator::safepoint)
/// regularly (an interpreter every few thousand instructions) and wraps
/// blocking calls in [`parked`](Mutator::parked). A mutator not used for a
/// while should be [`park`](Mutator::park)ed: a parked mutator never delays
/// a collection.
///
/// `Mutator` is `!Send` and `!Sync`: it belongs to one thread. Several
/// threads each attach their own to share one heap.
///
/// ```
/// use shade::{Config, Heap, Slot, Trace};
///
/// #[derive(Trace)]
/// struct Cons { head: i64, tail: Slot<Cons> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let mut list = mu.local(mu.alloc(Cons { head: 0, tail: Slot::null() }));
/// for i in 1..10_000 {
///     let tail = list.get(&mu);
///     let cell = mu.alloc(Cons { head: i, tail: Slot::new(tail) });
///     list = mu.local(cell);
///     mu.safepoint(); // collections may run here; `list` keeps the list alive
/// }
/// let head = list.get(&mu);
/// assert_eq!(head.head, 9_999);
/// ```
pub struct Mutator {
    rt: Arc<Owner>,
    /// `&*rt.rt`, cached to save a load on the barrier and allocation paths.
    fast: *const Runtime,
    pub(crate) st: Arc<MutatorState>,
    base: usize,
    len: usize,
    _not_send: PhantomData<*mut ()>,
}

impl Mutator {
    pub(crate) fn attach(rt: Arc<Owner>) -> Mutator {
        mark_running(rt.id);
        let st = rt.attach();
        Self::assemble(rt, st)
    }

    fn assemble(rt: Arc<Owner>, st: Arc<MutatorState>) -> Mutator {
        let (base, len) = rt.mheap.bounds();
        let fast = Arc::as_ptr(&rt.rt);
        Mutator { rt, fast, st, base, len, _not_send: PhantomData }
    }

    /// This mutator's number within its heap: 1 for the first attached,
    /// then in attach order. gctrace and [`HeapStats::late_mutator`]
    /// name a mutator that was late to a handshake by it.
    ///
    /// [`HeapStats::late_mutator`]: crate::HeapStats::late_mutator
    ///
    /// ```
    /// use shade::{Config, Heap};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let a = heap.mutator();
    /// assert_eq!(a.id(), 1);
    /// let h = heap.clone();
    /// assert_eq!(std::thread::spawn(move || h.mutator().id()).join().unwrap(), 2);
    /// ```
    pub fn id(&self) -> u64 {
        self.st.id
    }

    /// A handle to the heap.
    pub fn heap(&self) -> Heap {
        Heap { rt: self.rt.clone() }
    }

    pub(crate) fn heap_id(&self) -> u64 {
        self.rt.id
    }

    #[inline]
    pub(crate) fn runtime(&self) -> &Runtime {
        // SAFETY: `self.rt` keeps the runtime alive as long as `self`.
        unsafe { &*self.fast }
    }

    #[inline]
    pub(crate) fn state(&self) -> &MutatorState {
        &self.st
    }

    /// Whether `addr` lies in this mutator's heap arena.
    #[inline]
    pub(crate) fn in_heap(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.len
    }

    // ----- allocation -------------------------------------------------

    /// Takes a slot for an object of type `ty` and `size` bytes. Inlined
    /// into `alloc::<T>`, where the size is a constant, so the size class
    /// and the noscan bit fold away and the fast path is the cache lookup,
    /// the span's free-bit scan and the allocate-black test.
    #[inline(always)]
    pub(crate) fn alloc_raw(&self, size: usize, noscan: bool, ty: &'static TypeInfo) -> Result<usize, AllocError> {
        let (base, span) = match class_for(size) {
            Some(c) => {
                let sc = SpanClass::new(c, noscan);
                let key = SpanKey::new(ty, sc);
                // SAFETY: this mutator is running, so it has exclusive use of
                // its cache (gc/stw.rs); the borrow ends with `alloc_fast`,
                // before the refill, which may run destructors (lazy
                // sweeping) that allocate on this mutator again.
                let fast = unsafe { (*self.st.cache.get()).alloc_fast(key) };
                match fast {
                    Some(x) => x,
                    None => self.runtime().refill(&self.st, ty, sc)?,
                }
            }
            None => self.runtime().alloc_large(&self.st, size, noscan, ty)?,
        };
        // One load when not marking, as with a plain flag; the span's
        // generation is read only while this mutator allocates black.
        let black_gen = self.st.black_gen.load(Relaxed);
        if black_gen != crate::runtime::NOT_BLACK && span.sweep_gen.load(Relaxed) == black_gen {
            // Allocate black: an object born after this mutator's roots were
            // greyed survives this cycle and is never scanned by it
            // (DESIGN.md §6). Only in the cycle's own spans: one made after
            // marking closed is not swept this cycle, and a mark in it would
            // outlive the cycle (gc/termination.rs).
            span.mark.test_and_set(span.index_of(base));
        }
        Ok(base)
    }

    /// Panics unless every pointer in `value` targets a live object of the
    /// slot's type in this heap: each must have a witness made by
    /// `Slot::new` on this thread, for that address and type, since the last
    /// point where a collection could complete (api/slot.rs, `pending`).
    ///
    /// The range check is skipped while this is the only heap alive: every
    /// witness came from a `Gc` of a heap alive now (the `Gc` borrows a
    /// mutator that keeps its heap alive, and dropping that mutator clears
    /// the witnesses), and this thread saw every such heap's creation (it
    /// got a mutator of it), so a count of one means all those heaps are
    /// this one.
    #[inline]
    pub(crate) fn check_pointers<T: Trace>(&self, value: &T) {
        if T::NO_TRACE {
            return;
        }
        let check_range = crate::runtime::LIVE_HEAPS.0.load(Relaxed) != 1;
        let mut t =
            Tracer { kind: TracerKind::Validate(Validate { base: self.base, len: self.len, check_range, bad: None }) };
        value.trace(&mut t);
        if let TracerKind::Validate(Validate { bad: Some((p, why)), .. }) = t.kind {
            bad_pointer(p, why);
        }
    }

    /// Allocates `value` in the heap.
    ///
    /// # Panics
    /// If the heap limit is reached (see [`try_alloc`](Mutator::try_alloc)),
    /// or `value` holds a pointer into another heap.
    #[inline]
    pub fn alloc<T: Trace + Send + 'static>(&self, value: T) -> Gc<'_, T> {
        match self.try_alloc(value) {
            Ok(g) => g,
            Err(e) => alloc_failed(e),
        }
    }

    /// Allocates `value`, or returns an error (dropping `value`) if the heap
    /// limit or the address space is exhausted. After an error, a
    /// collection (a safepoint or [`collect`](Mutator::collect)) may free
    /// enough memory to retry.
    #[inline]
    pub fn try_alloc<T: Trace + Send + 'static>(&self, value: T) -> Result<Gc<'_, T>, AllocError> {
        self.alloc_value(value)
    }

    /// The allocation of one sized value, for `try_alloc` and
    /// `try_alloc_local` (which add the `Send` or no-destructor rule).
    #[inline(always)]
    fn alloc_value<T: Trace + 'static>(&self, value: T) -> Result<Gc<'_, T>, AllocError> {
        const { assert!(std::mem::align_of::<T>() <= 8, "shade: heap types may not need more than 8-byte alignment") };
        self.check_pointers(&value);
        let size = object_size(std::mem::size_of::<T>());
        let base = self.alloc_raw(size, T::NO_TRACE, &SizedInfo::<T>::INFO)?;
        // SAFETY: the slot has room for a `T` (size class >= object_size),
        // is 8-aligned, and is ours until published.
        unsafe { (base as *mut T).write(value) };
        // SAFETY: a fresh object, unreachable by the collector until this
        // mutator stores it, and no collection can finish while `&self` is
        // borrowed.
        Ok(unsafe { Gc::from_raw(base) })
    }

    /// Allocates `value`, which need not be `Send`, provided it has no
    /// destructor (checked at compile time): an object with `Cell` fields,
    /// say, pointed to by slots of other such objects.
    ///
    /// `alloc` requires `Send` because a sweep may run an object's
    /// destructor on any thread. An object without drop glue runs no code
    /// when it is freed, so no other thread ever acts on it: the marker only
    /// calls its `Trace::trace`, which reads atomic slots and nothing a
    /// `Cell` holds (`Trace`'s contract). The types keep it on this thread:
    /// a `Slot<T>` to a `!Sync` `T` is neither `Send` nor `Sync`, `Root<T>`
    /// crosses threads only for `T: Send + Sync`, and erasing a pointer
    /// (`GcAny`, `Value`) needs `T: Sync`.
    ///
    /// ```
    /// use shade::{Config, Heap, Slot, Trace};
    /// use std::cell::Cell;
    ///
    /// #[derive(Trace)]
    /// struct Node { visits: Cell<u32>, next: Slot<Node> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mu = heap.mutator();
    /// let a = mu.alloc_local(Node { visits: Cell::new(0), next: Slot::null() });
    /// let b = mu.alloc_local(Node { visits: Cell::new(0), next: Slot::new(a) });
    /// b.next.get(&mu).unwrap().visits.set(1);
    /// assert_eq!(a.visits.get(), 1);
    /// ```
    ///
    /// A type with a destructor must be `Send` and go through `alloc`
    /// (a compile-time error here; `tests/compile_fail/alloc_local_with_drop.rs`).
    #[inline]
    pub fn alloc_local<T: Trace + 'static>(&self, value: T) -> Gc<'_, T> {
        match self.try_alloc_local(value) {
            Ok(g) => g,
            Err(e) => alloc_failed(e),
        }
    }

    /// Fallible [`alloc_local`](Mutator::alloc_local).
    #[inline]
    pub fn try_alloc_local<T: Trace + 'static>(&self, value: T) -> Result<Gc<'_, T>, AllocError> {
        const {
            assert!(
                !std::mem::needs_drop::<T>(),
                "shade: alloc_local: a type with a destructor must be Send (use alloc): a sweep may drop it on another thread"
            )
        };
        self.alloc_value(value)
    }

    /// Allocates an array of `len` elements, element `i` being `init(i)`.
    ///
    /// # Panics
    /// As [`alloc`](Mutator::alloc); a panic in `init` leaves a partly built,
    /// unreachable array that the next cycle frees (dropping the elements
    /// built so far).
    pub fn alloc_array<T: Trace + Send + 'static>(&self, len: usize, init: impl FnMut(usize) -> T) -> Gc<'_, Array<T>> {
        match self.try_alloc_array(len, init) {
            Ok(g) => g,
            Err(e) => alloc_failed(e),
        }
    }

    /// Fallible [`alloc_array`](Mutator::alloc_array).
    pub fn try_alloc_array<T: Trace + Send + 'static>(
        &self,
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<Gc<'_, Array<T>>, AllocError> {
        const { assert!(std::mem::align_of::<T>() <= 8, "shade: heap types may not need more than 8-byte alignment") };
        let payload = elements_payload::<T>(ARRAY_DATA_OFFSET, len)?;
        let p = self.alloc_raw(object_size(payload), T::NO_TRACE, &ArrayInfo::<T>::INFO)?;
        // SAFETY: the object is ours until published; its payload has room
        // for the length word at `p` and `len` elements after it.
        unsafe { self.init_elements(p as *mut usize, (p + ARRAY_DATA_OFFSET) as *mut T, len, init) };
        // SAFETY: as in `try_alloc`.
        Ok(unsafe { Gc::from_raw(p) })
    }

    /// Writes the `len` elements of a new array or tail object, element `i`
    /// being `init(i)` (its pointers checked as `alloc` checks a value's),
    /// and keeps `*len_word` counting only written elements: with drop glue
    /// it is raised after each element, so dropping the object after a panic
    /// in `init` drops exactly the elements built; without, it is set once
    /// at the end (a panic leaves it 0: nothing needs dropping, and the
    /// object is black or unreachable, so no marker reads it).
    ///
    /// # Safety
    /// `len_word` and `data .. data + len` lie in a new object that is not
    /// published yet.
    pub(crate) unsafe fn init_elements<T: Trace>(
        &self,
        len_word: *mut usize,
        data: *mut T,
        len: usize,
        mut init: impl FnMut(usize) -> T,
    ) {
        // SAFETY: per the contract, all these writes are inside the object.
        unsafe {
            len_word.write(0);
            for i in 0..len {
                let v = init(i);
                self.check_pointers(&v);
                data.add(i).write(v);
                if std::mem::needs_drop::<T>() {
                    len_word.write(i + 1);
                }
            }
            len_word.write(len);
        }
    }

    /// Allocates an array holding a copy of `items`.
    pub fn alloc_array_copy<T: Trace + Copy + Send + 'static>(&self, items: &[T]) -> Gc<'_, Array<T>> {
        self.alloc_array(items.len(), |i| items[i])
    }

    /// Allocates an array of `len` copies of `value`.
    pub fn alloc_array_fill<T: Trace + Copy + Send + 'static>(&self, len: usize, value: T) -> Gc<'_, Array<T>> {
        self.alloc_array(len, |_| value)
    }

    /// Allocates a string (an `Array<u8>` holding UTF-8; see
    /// [`Array::as_str`]).
    pub fn alloc_str(&self, s: &str) -> Gc<'_, Array<u8>> {
        self.alloc_array_copy(s.as_bytes())
    }

    // ----- roots ------------------------------------------------------

    /// A scoped root for `v`, owned by this mutator: keeps the object alive
    /// across safepoints until the `Local` is dropped. Cheap: no allocation
    /// on the common path, no global lock. See also [`safepoint!`](crate::safepoint).
    pub fn local<T>(&self, v: Gc<'_, T>) -> Local<T> {
        Local::new(self, v)
    }

    /// A `'static` root for `v` (see [`Root`]).
    pub fn root<T>(&self, v: Gc<'_, T>) -> Root<T> {
        Root::new(self, v)
    }

    // ----- safepoints -------------------------------------------------

    /// A point where a collection may start or finish. Cheap when nothing
    /// is pending: one load and a branch.
    ///
    /// # Panics
    /// Resumes the panic of a destructor that a sweep ran (on any thread)
    /// since the last safepoint or `collect`; the heap stays consistent.
    #[inline]
    pub fn safepoint(&mut self) {
        if self.st.flag.load(Relaxed) {
            self.safepoint_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn safepoint_slow(&mut self) {
        // Lower the flag before looking at what it was raised for, so a
        // raise after this swap stays up for the next safepoint
        // (gc/handshake.rs).
        self.st.flag.swap(false, AcqRel);
        // Leaving a cycle, like a stop, is a point after which a sweep may
        // free what this thread's `Slot::new` witnesses name.
        let left = self.rt.handshake_own(&self.st);
        if self.rt.stw.block_if_stopping() || left {
            crate::api::slot::pending::clear();
        }
        let deferred = self.rt.deferred_panic.lock().take();
        if let Some(p) = deferred {
            std::panic::resume_unwind(p);
        }
    }

    /// Whether a safepoint would do anything now: a collection wants this
    /// mutator to stop, or a destructor's panic waits to be resumed. One
    /// relaxed load. An interpreter can test it at every call and back-edge
    /// and leave its dispatch loop (ending its `Gc` borrows) only when it
    /// is true.
    ///
    /// ```
    /// use shade::{Config, Heap};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut mu = heap.mutator();
    /// for _ in 0..1000 {
    ///     let _x = mu.alloc(1u64);
    ///     if mu.safepoint_requested() {
    ///         mu.safepoint();
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn safepoint_requested(&self) -> bool {
        self.st.flag.load(Relaxed)
    }

    /// A handle for polling [`safepoint_requested`](Mutator::safepoint_requested)
    /// from a hot loop: it holds the flag's address, so each poll is the
    /// one load of the flag (`safepoint_requested` also loads the
    /// mutator's runtime pointer, which a compiler cannot always keep in a
    /// register across the loop's stores).
    ///
    /// ```
    /// use shade::{Config, Heap};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut mu = heap.mutator();
    /// 'run: loop {
    ///     let poll = mu.poll();
    ///     for i in 0..1000 {
    ///         if poll.requested() {
    ///             continue 'run; // leave the borrow, then reach the safepoint
    ///         }
    ///         if i == 999 { break 'run; }
    ///     }
    /// }
    /// mu.safepoint();
    /// ```
    #[inline]
    pub fn poll(&self) -> Poll<'_> {
        Poll { flag: &self.st.flag }
    }

    /// Runs a full collection (mark and sweep) now and waits for it (Go's
    /// `runtime.GC()`). The mutator is parked meanwhile.
    ///
    /// # Panics
    /// If a destructor run by a sweep since the last `collect` panicked (the
    /// heap stays consistent), or if called from a destructor that a sweep
    /// runs (a destructor cannot wait for a collection).
    pub fn collect(&mut self) {
        let rt = self.rt.clone();
        if let Some(p) = self.parked(|| rt.collect()) {
            std::panic::resume_unwind(p);
        }
    }

    /// Runs `f` with this mutator parked: collections proceed without
    /// waiting for it. Use it around blocking calls (I/O, sleeping, waiting
    /// on a lock or a channel). `f` cannot touch the heap: it cannot borrow
    /// the mutator.
    pub fn parked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Resume<'a>(&'a Mutator);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.rt.stw.enter();
                self.0.rt.resume_handshakes(&self.0.st);
                mark_running(self.0.rt.id);
            }
        }
        unmark_running(self.rt.id);
        crate::api::slot::pending::clear();
        self.rt.suspend_handshakes(&self.st);
        self.rt.stw.leave();
        let _resume = Resume(self);
        f()
    }

    /// Parks this mutator until [`ParkedMutator::unpark`]. The parked
    /// handle can be sent to another thread and resumed there.
    pub fn park(self) -> ParkedMutator {
        unmark_running(self.rt.id);
        crate::api::slot::pending::clear();
        self.rt.suspend_handshakes(&self.st);
        self.rt.stw.leave();
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again; we move its fields out.
        let (rt, st) = unsafe { (std::ptr::read(&me.rt), std::ptr::read(&me.st)) };
        ParkedMutator { rt, st }
    }

    // ----- barrier entry point ------------------------------------------

    /// Checks and performs a pointer store into a heap slot.
    ///
    /// The slot must lie in this mutator's heap, always: the barrier records
    /// the value a store overwrites, and only a slot inside a live heap
    /// object is guaranteed to hold a pointer to a live object (or null). A
    /// slot outside the heap (a `Slot::new` kept on the stack) may hold the
    /// address of an object freed since, and recording it would resurrect
    /// freed memory (DESIGN.md §4). The value is checked only while several
    /// heaps are alive: with one, every `Gc` belongs to it (same argument as
    /// `check_pointers`).
    #[inline(always)]
    pub(crate) fn checked_store(&self, slot: usize, atomic: &AtomicPtr<u8>, new: usize) {
        if !self.in_heap(slot) || (new != 0 && crate::runtime::LIVE_HEAPS.0.load(Relaxed) != 1 && !self.in_heap(new)) {
            bad_store(slot, new);
        }
        crate::barrier::write(self, slot, atomic, new);
    }

    /// `checked_store` for a value slot (`ValueSlot`): the same rules, with
    /// the cross-heap check applying only when `new` is an object.
    #[inline(always)]
    pub(crate) fn checked_value_store(&self, slot: usize, atomic: &AtomicU64, new: u64) {
        let p = crate::heap::value::pointer_of(new);
        if !self.in_heap(slot) || (p != 0 && crate::runtime::LIVE_HEAPS.0.load(Relaxed) != 1 && !self.in_heap(p)) {
            bad_store(slot, p);
        }
        crate::barrier::write_value(self, slot, atomic, new);
    }

    /// Debug builds: panics if `p` points at a freed object: its slot is
    /// free and its memory poisoned. (Poison alone could be a live value's
    /// bytes; a free slot alone could be a span caught mid-sweep; a freed
    /// object shows both.)
    #[cfg(debug_assertions)]
    pub(crate) fn debug_check_live(&self, p: usize) {
        if self.rt.settings.clobber_free {
            // SAFETY: `p` is an object address inside the arena (checked by
            // the caller), so its first word is mapped memory.
            let w = unsafe { *(p as *const usize) };
            if w == crate::heap::object::POISON_WORD {
                let freed = match self.rt.mheap.span_of(p) {
                    Some(s) => !s.is_allocated(s.index_of(p)),
                    None => true,
                };
                if freed {
                    panic!("shade: use after free: object at {p:#x} was freed (its memory is poisoned)");
                }
            }
        }
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        unmark_running(self.rt.id);
        crate::api::slot::pending::clear();
        self.rt.detach(&self.st);
    }
}

impl std::fmt::Debug for Mutator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutator").field("heap", &self.rt.id).finish_non_exhaustive()
    }
}

/// The safepoint poll of a mutator ([`Mutator::poll`]), valid while the
/// mutator is borrowed.
#[derive(Clone, Copy)]
pub struct Poll<'m> {
    flag: &'m std::sync::atomic::AtomicBool,
}

impl Poll<'_> {
    /// Whether a safepoint would do anything now (one relaxed load).
    #[inline(always)]
    pub fn requested(self) -> bool {
        self.flag.load(Relaxed)
    }
}

impl std::fmt::Debug for Poll<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Poll({})", self.requested())
    }
}

/// A parked mutator: attached to the heap, holding its roots and locals,
/// but never delaying a collection. `Send`, so a thread pool can hand it
/// between threads.
pub struct ParkedMutator {
    rt: Arc<Owner>,
    st: Arc<MutatorState>,
}

impl ParkedMutator {
    /// Resumes running on the calling thread (waits if a collection is
    /// stopping the world).
    ///
    /// # Panics
    /// If this thread already has a running mutator of the same heap.
    pub fn unpark(self) -> Mutator {
        mark_running(self.rt.id);
        self.rt.stw.enter();
        self.rt.resume_handshakes(&self.st);
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again; we move its fields out.
        let (rt, st) = unsafe { (std::ptr::read(&me.rt), std::ptr::read(&me.st)) };
        Mutator::assemble(rt, st)
    }
}

impl Drop for ParkedMutator {
    fn drop(&mut self) {
        // Detaching hands the mutator's buffers and cache back, which needs
        // exclusive use of them: run briefly if no collection is stopping
        // the world; otherwise the dropping thread may itself hold a running
        // mutator that the collection waits for, so leave the detach to the
        // collector, which owns stopped mutators' state.
        if self.rt.stw.try_enter() {
            self.rt.detach(&self.st);
        } else {
            self.rt.pending_detach.lock().push(self.st.clone());
        }
    }
}

/// The payload size of an object whose `len` elements of `T` start at
/// byte `data` (arrays, tails), or the error an impossible size is.
pub(crate) fn elements_payload<T>(data: usize, len: usize) -> Result<usize, AllocError> {
    let payload = len
        .checked_mul(std::mem::size_of::<T>())
        .and_then(|b| b.checked_add(data))
        .ok_or(AllocError::ArrayTooLarge { len, elem_size: std::mem::size_of::<T>() })?;
    if payload > isize::MAX as usize / 2 {
        return Err(AllocError::TooLarge { requested: payload });
    }
    Ok(payload)
}

#[cold]
#[inline(never)]
fn alloc_failed(e: AllocError) -> ! {
    panic!("{e}")
}

#[cold]
#[inline(never)]
fn bad_pointer(p: usize, why: &str) -> ! {
    panic!("shade: value being allocated holds pointer {p:#x}, which {why}")
}

#[cold]
#[inline(never)]
fn bad_store(slot: usize, new: usize) -> ! {
    panic!(
        "shade: invalid pointer store: Slot::set or ValueSlot::set on a slot at {slot:#x} storing {new:#x}: the slot must lie inside an object \
         of this mutator's heap (a Slot outside the heap, on the stack or in a Vec, can only be moved into an allocation) \
         and the value must be null or an object of the same heap"
    )
}
