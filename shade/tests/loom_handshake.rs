//! Loom model of the handshake between mutators and the concurrent collector
//! (DESIGN.md §3, §5, §6).
//!
//! This file does not drive the real collector: loom can only explore code
//! written against its own `Mutex`, `Condvar`, atomics, `UnsafeCell` and
//! threads, and the real heap is far too large to explore exhaustively.
//! Instead it re-implements a REDUCED MODEL of the protocol with the same
//! structure as the real code, function by function (each model function
//! names the real one it mirrors), and lets loom check every interleaving
//! (up to a preemption bound) of one collector thread and one mutator
//! thread. If the real code changes, this model must be updated by hand.
//!
//! What is modelled:
//!
//! * `Stw` (gc/stw.rs): `{stopping, running}` behind a mutex and condvar,
//!   plus the lock-free safepoint `flag` (with one mutator, its own flag:
//!   `MutatorState::flag`, raised by `stop`, lowered with a swap by the
//!   mutator's safepoint before it looks for a stop); `attach`, `leave`,
//!   `enter`, `try_enter`, `block_if_stopping`, `stop`, `start` are copied
//!   almost verbatim. Mark start's ragged rounds are modelled in
//!   `loom_ragged.rs`; here STW1 stands for them.
//! * `MutatorState` (runtime.rs): a write barrier buffer (`WbBuf`,
//!   barrier/wbbuf.rs) with the `smallbuf` geometry (the fast path takes one
//!   entry, the second store flushes), private mark work (`GcWork`,
//!   gc/work.rs, reduced to one small buffer) and barrier counters. They
//!   live in loom `UnsafeCell`s, so loom itself checks the central claim of
//!   §3: the owner uses them while running, the collector only while the
//!   owner is stopped, and the `Stw` mutex orders the two (an unordered
//!   access is reported as a causality violation).
//! * The heap: three objects with set-once mark bits (`AtomicBool`, marked
//!   with the relaxed test + `fetch_or` of `span.mark.test_and_set`) and
//!   pointer slots (`AtomicUsize`, 0 = nil): the root object has two slots,
//!   holding objects 1 and 2, and object 1 has one, holding object 3, so
//!   grey objects must really be scanned. The mutator overwrites slots
//!   through the barrier (relaxed load of the old value, release store, as
//!   `barrier::write`) while the collector traces them (acquire loads)
//!   concurrently.
//! * The global list of full work buffers (`WorkQueues`, a `Mutex<Vec<_>>`).
//! * The mutator side: barriered stores, safepoints, `park`/`unpark`,
//!   detaching (`Drop for Mutator` -> `Runtime::detach`), and dropping a
//!   parked handle (`Drop for ParkedMutator`: `try_enter` and detach, or
//!   leave the detach to the collector through `pending_detach`).
//! * The collector (`Runtime::run_cycle`): optional STW1, concurrent mark,
//!   then termination attempts: stop the world, `process_pending_detaches`,
//!   `flush_mutators`, retry if that produced work, otherwise drain with the
//!   world stopped, check, clear `marking`, restart the world.
//!
//! What is left out: allocation (and allocate-black), assists, sweeping,
//! the pacer, background workers other than the coordinator, the
//! `wait_for_work` grace period, waking idle workers, `OldAndNew` mode,
//! `barrier_on` as distinct from `marking` (they only differ with
//! `wbcheck`), `Root`/`Local` handles (the root object stands for them) and
//! a collector that is itself a mutator (`stop(true)`; the function is
//! modelled, but only called with `false`).
//!
//! What is checked, by the collector at mark termination with the world
//! stopped (the instant sweeping would start) in `check_termination`:
//!
//! 1. SATB: every object reachable from the root object at the snapshot is
//!    marked;
//! 2. no grey object hides anywhere and none is processed twice: every
//!    marked object was scanned exactly once, and the global list is empty;
//! 3. no barrier entry is lost or flushed twice: the buffers and work of
//!    every attached mutator are empty, and the entries the barriers
//!    recorded equal the entries the flushes processed (attached mutators'
//!    counters plus those that detached mutators handed over);
//!
//! and, implicitly, by loom: no data race on the `UnsafeCell`s, no
//! deadlock (e.g. a collector waiting for a mutator that never reaches a
//! safepoint), no leaked `Arc`.
//!
//! Scenarios (one loom test each): the mutator keeps running and must be
//! caught at a safepoint; the mutator is parked during termination, so the
//! collector flushes its buffer on its behalf; unparking races with a stop;
//! the mutator detaches concurrently with termination; a parked handle is
//! dropped concurrently with termination; a mutator attaches during a stop;
//! and the whole cycle including STW1.
//!
//! Run: `cargo test -p shade-gc --test loom_handshake --release` (also works
//! in debug; `-- --nocapture` shows how many executions each test explored).
//! Every test uses a preemption bound (3 or 4, see `check`), chosen so that
//! the whole file runs in seconds in release and well under a minute in
//! debug. `LOOM_MAX_PREEMPTIONS=n` overrides the bound of every test (at
//! most 255); with 200, which no execution of the scenarios without a spin
//! loop reaches, those are explored exhaustively (about 8 000 to 35 000
//! executions each, 4 to 15 s each in release).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::sync::atomic::Ordering::*;

// ===========================================================================
// The heap
// ===========================================================================

/// The null pointer; objects are numbered from 1.
const NIL: usize = 0;
/// Object ids are `1..NOBJ`.
const NOBJ: usize = 4;
/// Pointer slots in the heap: slots `0..ROOT_SLOTS` are the fields of the
/// root object; the others are fields of ordinary objects (see `FIELD`).
const NSLOT: usize = 3;
const ROOT_SLOTS: usize = 2;
/// `FIELD[o]`: the slot that is object `o`'s one pointer field, if any.
const FIELD: [Option<usize>; NOBJ] = [None, Some(2), None, None];
/// What the slots hold when the model starts: root -> {1, 2}, 1 -> 3.
const INITIAL_SLOTS: [usize; NSLOT] = [1, 2, 3];

// ===========================================================================
// gc/stw.rs: the stop-the-world handshake (copied, with loom primitives)
// ===========================================================================

/// Mirrors `stw::State`.
struct StwState {
    stopping: bool,
    running: usize,
}

/// Mirrors `stw::Stw` (without the pause accounting, which only reads the
/// clock).
struct Stw {
    state: Mutex<StwState>,
    cv: Condvar,
    stopping_hint: AtomicBool,
    running_hint: AtomicUsize,
    flag: AtomicBool,
}

/// Mirrors `stw::spin_until`, bounded by one round instead of a time: loom
/// explores both outcomes of the check (the awaited value seen, or the
/// spinner giving up and sleeping), which is all the protocol depends on;
/// more rounds only multiply the interleavings.
fn spin_until(done: impl Fn() -> bool) {
    if !done() {
        thread::yield_now();
    }
}

/// Mirrors `stw::Stopped`.
#[derive(PartialEq, Eq, Debug)]
enum Stopped {
    ByUs,
    WaitedForOther,
}

impl Stw {
    fn new() -> Stw {
        Stw {
            state: Mutex::new(StwState { stopping: false, running: 0 }),
            cv: Condvar::new(),
            stopping_hint: AtomicBool::new(false),
            running_hint: AtomicUsize::new(0),
            flag: AtomicBool::new(false),
        }
    }

    /// Mirrors `Stw::attach`: a new mutator starts running (waits out a stop
    /// in progress).
    fn attach(&self) {
        let mut s = self.state.lock().unwrap();
        while s.stopping {
            s = self.cv.wait(s).unwrap();
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
    }

    /// Mirrors `Stw::leave`: a running mutator stops for good or parks.
    fn leave(&self) {
        let mut s = self.state.lock().unwrap();
        s.running -= 1;
        self.running_hint.store(s.running, Release);
        self.cv.notify_all();
    }

    /// Mirrors `Stw::enter`: a parked mutator resumes running.
    fn enter(&self) {
        self.attach()
    }

    /// Mirrors `Stw::try_enter`: resumes running only if no stop is in
    /// progress (never blocks).
    fn try_enter(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        if s.stopping {
            return false;
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
        true
    }

    /// Mirrors `Stw::block_if_stopping`: at a safepoint with `flag` up, stop
    /// until the stop in progress (if any) ends.
    fn block_if_stopping(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        if !s.stopping {
            return false;
        }
        s.running -= 1;
        self.running_hint.store(s.running, Release);
        self.cv.notify_all();
        drop(s);
        spin_until(|| !self.stopping_hint.load(Acquire));
        let mut s = self.state.lock().unwrap();
        while s.stopping {
            s = self.cv.wait(s).unwrap();
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
        true
    }

    /// Mirrors `Stw::stop`: stops the world.
    fn stop(&self, is_mutator: bool) -> Stopped {
        let mut s = self.state.lock().unwrap();
        if s.stopping {
            if is_mutator {
                s.running -= 1;
                self.running_hint.store(s.running, Release);
                self.cv.notify_all();
            }
            while s.stopping {
                s = self.cv.wait(s).unwrap();
            }
            if is_mutator {
                s.running += 1;
                self.running_hint.store(s.running, Release);
            }
            return Stopped::WaitedForOther;
        }
        s.stopping = true;
        self.stopping_hint.store(true, Release);
        // `raise_flags`: with one mutator, its flag.
        self.flag.store(true, Release);
        if is_mutator {
            s.running -= 1;
            self.running_hint.store(s.running, Release);
        }
        if s.running > 0 {
            drop(s);
            spin_until(|| self.running_hint.load(Acquire) == 0);
            s = self.state.lock().unwrap();
        }
        while s.running > 0 {
            s = self.cv.wait(s).unwrap();
        }
        Stopped::ByUs
    }

    /// Mirrors `Stw::start`: restarts the world stopped by `stop`.
    fn start(&self, is_mutator: bool) {
        let mut s = self.state.lock().unwrap();
        s.stopping = false;
        self.stopping_hint.store(false, Release);
        if is_mutator {
            s.running += 1;
            self.running_hint.store(s.running, Release);
        }
        self.cv.notify_all();
    }
}

// ===========================================================================
// gc/work.rs: mark work buffers (reduced)
// ===========================================================================

/// Capacity of a work buffer (`WORKBUF_LEN`), tiny so that both "published
/// because full" and "still private at termination" happen.
const WORKBUF_LEN: usize = 2;

/// Mirrors `WorkQueues`, reduced to the list of full buffers (the real one
/// also keeps an atomic count for a lock-free `has_full`, and recycles
/// empty buffers).
struct WorkQueues {
    full: Mutex<Vec<Vec<usize>>>,
}

impl WorkQueues {
    /// Mirrors `WorkQueues::has_full`.
    fn has_full(&self) -> bool {
        !self.full.lock().unwrap().is_empty()
    }

    /// Mirrors `WorkQueues::put_full`.
    fn put_full(&self, b: Vec<usize>) {
        assert!(!b.is_empty());
        self.full.lock().unwrap().push(b);
    }

    /// Mirrors `WorkQueues::take_full`.
    fn take_full(&self) -> Option<Vec<usize>> {
        self.full.lock().unwrap().pop()
    }
}

/// Mirrors `GcWork`, reduced to one private buffer (the real one has two,
/// `wbuf1` and `wbuf2`, to avoid thrashing at a buffer boundary).
#[derive(Default)]
struct GcWork {
    wbuf: Vec<usize>,
}

impl GcWork {
    /// Mirrors `GcWork::put_batch`: appends grey objects, publishing the
    /// buffer on the global list whenever it fills. Returns whether it
    /// published (the real caller then wakes a mark worker).
    fn put_batch(&mut self, q: &WorkQueues, objs: &[usize]) -> bool {
        let mut published = false;
        for &o in objs {
            self.wbuf.push(o);
            if self.wbuf.len() == WORKBUF_LEN {
                q.put_full(std::mem::take(&mut self.wbuf));
                published = true;
            }
        }
        published
    }

    /// Mirrors `GcWork::try_get`: a private object, or a full buffer taken
    /// from the global list.
    fn try_get(&mut self, q: &WorkQueues) -> Option<usize> {
        if self.wbuf.is_empty() {
            self.wbuf = q.take_full()?;
        }
        self.wbuf.pop()
    }

    /// Mirrors `GcWork::dispose`: publishes what is left.
    fn dispose(&mut self, q: &WorkQueues) {
        if !self.wbuf.is_empty() {
            q.put_full(std::mem::take(&mut self.wbuf));
        }
    }
}

// ===========================================================================
// runtime.rs / barrier/wbbuf.rs: per-mutator state
// ===========================================================================

/// Capacity of a write barrier buffer (`WBBUF_LEN`).
const WBBUF_LEN: usize = 4;
/// The fast path's limit (`WbBuf::end`): 2, as with `smallbuf`, so the
/// first store is buffered and the second goes to the slow path, which
/// appends its entry and flushes both.
const WB_END: usize = 2;

/// Mirrors `WbBuf` (with `per_store == 1`: old values only).
struct WbBuf {
    next: usize,
    end: usize,
    buf: [usize; WBBUF_LEN],
}

/// Mirrors `BarrierStats`, reduced to what the checks need.
#[derive(Default, Clone, Copy, Debug)]
struct BarrierStats {
    /// Entries the barrier recorded (model-only: the real `stores` counts
    /// slow-path stores).
    recorded: usize,
    /// Entries processed by flushes (as the real `entries`).
    entries: usize,
}

impl std::ops::AddAssign for BarrierStats {
    fn add_assign(&mut self, o: BarrierStats) {
        self.recorded += o.recorded;
        self.entries += o.entries;
    }
}

/// Mirrors `MutatorState`: the cells are used by the running owner, or by
/// the collector while the owner is stopped.
struct MutatorState {
    wb: UnsafeCell<WbBuf>,
    gcw: UnsafeCell<GcWork>,
    wb_stats: UnsafeCell<BarrierStats>,
}

// SAFETY: as for the real `MutatorState`: the cells are used by one thread
// at a time, handed over through the `Stw` mutex. Loom checks this claim.
unsafe impl Sync for MutatorState {}
// SAFETY: as above.
unsafe impl Send for MutatorState {}

impl MutatorState {
    fn new() -> MutatorState {
        MutatorState {
            wb: UnsafeCell::new(WbBuf { next: 0, end: WB_END, buf: [NIL; WBBUF_LEN] }),
            gcw: UnsafeCell::new(GcWork::default()),
            wb_stats: UnsafeCell::new(BarrierStats::default()),
        }
    }
}

// ===========================================================================
// runtime.rs: the shared record
// ===========================================================================

/// Mirrors `Runtime`, reduced.
struct Runtime {
    stw: Stw,
    queues: WorkQueues,
    /// `marking` (and `barrier_on`, which equals it without `wbcheck`).
    marking: AtomicBool,
    /// Every pointer slot: the root object's and other objects' fields.
    slots: [AtomicUsize; NSLOT],
    /// Mark bits, indexed by object id (index 0, nil, unused).
    mark: [AtomicBool; NOBJ],
    /// Mirrors `Runtime::mutators`.
    mutators: Mutex<Vec<Arc<MutatorState>>>,
    /// Mirrors `Runtime::pending_detach`: parked mutators dropped during a
    /// stop, detached by the collector.
    pending_detach: Mutex<Vec<Arc<MutatorState>>>,
    /// Mirrors `Runtime::barrier_stats`: counters handed over by detached
    /// mutators.
    barrier_stats: Mutex<BarrierStats>,
    /// Model-only: the collector finished the cycle (lets a mutator in the
    /// model keep running, or stay parked, until then).
    done: AtomicBool,
}

impl Runtime {
    /// `marking` says whether the model starts during concurrent mark (STW1
    /// happened before the threads were spawned) or before STW1.
    fn new(marking: bool) -> Arc<Runtime> {
        Arc::new(Runtime {
            stw: Stw::new(),
            queues: WorkQueues { full: Mutex::new(Vec::new()) },
            marking: AtomicBool::new(marking),
            slots: std::array::from_fn(|i| AtomicUsize::new(INITIAL_SLOTS[i])),
            mark: std::array::from_fn(|_| AtomicBool::new(false)),
            mutators: Mutex::new(Vec::new()),
            pending_detach: Mutex::new(Vec::new()),
            barrier_stats: Mutex::new(BarrierStats::default()),
            done: AtomicBool::new(false),
        })
    }

    /// Mirrors `MarkBits::test_and_set` (a relaxed test, then `fetch_or`).
    /// Returns whether `o` was already marked.
    fn test_and_set(&self, o: usize) -> bool {
        if self.mark[o].load(Relaxed) {
            return true;
        }
        self.mark[o].fetch_or(true, Relaxed)
    }

    /// Mirrors `Runtime::attach`: registers a new running mutator.
    /// (An associated function only because loom's `Arc` cannot be a
    /// method receiver.)
    fn attach(rt: &Arc<Runtime>) -> Mutator {
        let st = Arc::new(MutatorState::new());
        rt.stw.attach();
        rt.mutators.lock().unwrap().push(st.clone());
        Mutator { rt: rt.clone(), st }
    }

    /// Mirrors `Runtime::detach` (called by `Mutator::drop`, and by
    /// `ParkedMutator::drop` after `try_enter`, with the mutator running):
    /// release its state, and only then stop counting as running.
    fn detach(&self, st: &Arc<MutatorState>) {
        // SAFETY: the owner is running, so no collector touches its state.
        unsafe { self.release_mutator(st) };
        self.stw.leave();
    }

    /// Mirrors `Runtime::process_pending_detaches`: with the world stopped,
    /// detach the parked mutators whose handles were dropped during a stop.
    fn process_pending_detaches(&self) {
        for st in std::mem::take(&mut *self.pending_detach.lock().unwrap()) {
            // SAFETY: the mutator is parked and the world is stopped.
            unsafe { self.release_mutator(&st) };
        }
    }

    /// Mirrors `Runtime::release_mutator`: flush the barrier buffer, publish
    /// the mark work, hand over the counters, unregister.
    ///
    /// # Safety
    /// The caller has exclusive use of `st`'s cells: it is `st`'s running
    /// owner, or the collector with `st` stopped. (Loom checks it.)
    unsafe fn release_mutator(&self, st: &Arc<MutatorState>) {
        // SAFETY: per the contract.
        unsafe {
            flush(self, st);
            st.gcw.with_mut(|g| (*g).dispose(&self.queues));
            st.wb_stats.with_mut(|s| *self.barrier_stats.lock().unwrap() += std::mem::take(&mut *s));
        }
        self.mutators.lock().unwrap().retain(|m| !Arc::ptr_eq(m, st));
    }
}

// ===========================================================================
// barrier/wbbuf.rs: the flush
// ===========================================================================

/// Mirrors `wbbuf::flush`.
///
/// # Safety
/// The caller is `st`'s running owner, or the collector while the owner is
/// stopped. (Loom checks it: the cells report unordered accesses.)
unsafe fn flush(rt: &Runtime, st: &MutatorState) {
    st.wb.with_mut(|wb| {
        // SAFETY: exclusive use, per the contract.
        let wb = unsafe { &mut *wb };
        let n = std::mem::replace(&mut wb.next, 0);
        if n > 0 {
            // SAFETY: as above.
            unsafe { flush_entries(rt, st, &mut wb.buf[..n]) };
        }
    })
}

/// Mirrors `wbbuf::flush_entries`: drop nil entries, test-and-set the mark
/// bit, compact the newly grey objects in place and `put_batch` them into
/// the mutator's own work (which publishes full buffers). The model has no
/// non-heap pointers and no noscan objects.
///
/// # Safety
/// As for `flush`.
unsafe fn flush_entries(rt: &Runtime, st: &MutatorState, entries: &mut [usize]) {
    st.wb_stats.with_mut(|stats| {
        st.gcw.with_mut(|gcw| {
            // SAFETY: exclusive use, per the contract.
            let (stats, gcw) = unsafe { (&mut *stats, &mut *gcw) };
            stats.entries += entries.len();
            let mut grey = 0;
            for i in 0..entries.len() {
                let p = entries[i];
                if p == NIL || rt.test_and_set(p) {
                    continue;
                }
                entries[grey] = p;
                grey += 1;
            }
            if grey > 0 {
                // The real code wakes an idle mark worker when this
                // published a buffer; the model's collector needs no wake-up.
                gcw.put_batch(&rt.queues, &entries[..grey]);
            }
        })
    })
}

// ===========================================================================
// api/mutator.rs and barrier/mod.rs: the mutator side
// ===========================================================================

/// Mirrors `api::mutator::Mutator`: a running mutator.
struct Mutator {
    rt: Arc<Runtime>,
    st: Arc<MutatorState>,
}

/// Mirrors `ParkedMutator`.
struct ParkedMutator {
    rt: Arc<Runtime>,
    st: Arc<MutatorState>,
}

impl Mutator {
    /// Mirrors `Slot::get`: an acquire load.
    fn load(&self, slot: usize) -> usize {
        self.rt.slots[slot].load(Acquire)
    }

    /// Mirrors `Slot::set` -> `barrier::write` (fast path) and
    /// `barrier::slow` (full buffer): while marking, record the overwritten
    /// value, flushing when the buffer cannot take another store; then
    /// store with release.
    fn store(&self, slot: usize, new: usize) {
        let rt = &*self.rt;
        if rt.marking.load(Relaxed) {
            // Relaxed, as in the real barrier: the first overwriter after
            // STW1 must still load the snapshot value (loom checks it).
            let old = rt.slots[slot].load(Relaxed);
            // SAFETY (all blocks below): a running mutator has exclusive
            // use of its buffer and counters.
            unsafe { self.st.wb_stats.with_mut(|s| (*s).recorded += 1) };
            let fast = self.st.wb.with_mut(|wb| {
                // SAFETY: as above.
                let wb = unsafe { &mut *wb };
                let n = wb.next;
                if n + 2 <= wb.end {
                    wb.buf[n] = old;
                    wb.next = n + 1;
                    true
                } else {
                    false
                }
            });
            if !fast {
                // barrier::slow, Buffered mode: append, then flush.
                self.st.wb.with_mut(|wb| {
                    // SAFETY: a running mutator owns its buffer (loom checks
                    // the exclusivity of `with_mut`).
                    let wb = unsafe { &mut *wb };
                    let n = wb.next;
                    wb.buf[n] = old;
                    wb.next = n + 1;
                });
                // SAFETY: as above; the running owner flushes its own buffer.
                unsafe { flush(rt, &self.st) };
            }
        }
        rt.slots[slot].store(new, Release);
    }

    /// Mirrors `Mutator::safepoint` / `safepoint_slow` (less the deferred
    /// panics and the `Slot::new` witness).
    fn safepoint(&self) {
        if self.rt.stw.flag.load(Relaxed) {
            // Lowered before looking at the stop (gc/handshake.rs).
            self.rt.stw.flag.swap(false, AcqRel);
            self.rt.stw.block_if_stopping();
        }
    }

    /// Mirrors `Mutator::park`.
    fn park(self) -> ParkedMutator {
        self.rt.stw.leave();
        ParkedMutator { rt: self.rt, st: self.st }
    }

    /// Mirrors `Drop for Mutator` -> `Runtime::detach`.
    fn detach(self) {
        self.rt.detach(&self.st);
    }
}

impl ParkedMutator {
    /// Mirrors `ParkedMutator::unpark`.
    fn unpark(self) -> Mutator {
        self.rt.stw.enter();
        Mutator { rt: self.rt, st: self.st }
    }

    /// Mirrors `Drop for ParkedMutator` (an explicit call in the model):
    /// detach now if no stop is in progress, otherwise leave the detach to
    /// the collector, which owns stopped mutators' state.
    fn drop_handle(self) {
        if self.rt.stw.try_enter() {
            self.rt.detach(&self.st);
        } else {
            self.rt.pending_detach.lock().unwrap().push(self.st.clone());
        }
    }
}

// ===========================================================================
// gc/collector.rs: the collector side
// ===========================================================================

/// Mirrors `MAX_TERMINATION_RETRIES` (4 in the real code; 1 keeps the model
/// small while still exercising the retry path).
const MAX_TERMINATION_RETRIES: usize = 1;

/// Mirrors `gc::mark::Marker` as used by the coordinator: its own work
/// buffers, shading and scanning. Counts scans per object for the checks.
struct Marker<'a> {
    rt: &'a Runtime,
    w: GcWork,
    scanned: [usize; NOBJ],
}

impl<'a> Marker<'a> {
    fn new(rt: &'a Runtime) -> Marker<'a> {
        Marker { rt, w: GcWork::default(), scanned: [0; NOBJ] }
    }

    /// Mirrors `Marker::mark`: grey `p` if it was white.
    fn shade(&mut self, p: usize) {
        if p != NIL && !self.rt.test_and_set(p) {
            self.w.put_batch(&self.rt.queues, &[p]);
        }
    }

    /// Mirrors the marker's trace of one grey object: blacken it, shade
    /// what its field holds (an acquire load, racing with the mutator's
    /// barriered stores, as in the real trace).
    fn scan(&mut self, o: usize) {
        self.scanned[o] += 1;
        if let Some(f) = FIELD[o] {
            let v = self.rt.slots[f].load(Acquire);
            self.shade(v);
        }
    }

    /// Traces the root object, greyed at STW1 (it stands for the real
    /// roots, which `gather_roots` collects at STW1): as `scan`.
    fn scan_root(&mut self) {
        for s in &self.rt.slots[..ROOT_SLOTS] {
            let v = s.load(Acquire);
            self.shade(v);
        }
    }

    /// Mirrors `Marker::drain` (and `mark_phase` with one worker): until no
    /// work is left, privately or on the global list.
    fn drain(&mut self) {
        while let Some(o) = self.w.try_get(&self.rt.queues) {
            self.scan(o);
        }
    }
}

/// Mirrors `Runtime::flush_mutators`: with the world stopped, flush every
/// attached mutator's barrier buffer and publish its mark work — running
/// (stopped at a safepoint) and parked alike.
fn flush_mutators(rt: &Runtime) {
    for m in rt.mutators.lock().unwrap().iter() {
        // SAFETY: the owner is stopped (stw invariant), so the collector has
        // exclusive use of its buffers. Loom checks it.
        unsafe {
            flush(rt, m);
            m.gcw.with_mut(|g| (*g).dispose(&rt.queues));
        }
    }
}

/// Mirrors `Runtime::run_cycle` up to the end of mark termination.
/// `stw1`: run mark start too (otherwise the model starts with `marking`
/// already set and the slots' initial values as the snapshot).
fn run_cycle(rt: &Runtime, stw1: bool) {
    let mut m = Marker::new(rt);

    // ---- STW1: mark start -------------------------------------------------
    let snapshot: [usize; NSLOT] = if stw1 {
        assert_eq!(rt.stw.stop(false), Stopped::ByUs);
        rt.process_pending_detaches();
        rt.marking.store(true, Relaxed);
        // Model-only: remember what the root object holds at the snapshot.
        let snap = std::array::from_fn(|i| rt.slots[i].load(Relaxed));
        rt.stw.start(false);
        snap
    } else {
        INITIAL_SLOTS
    };

    // ---- concurrent mark --------------------------------------------------
    m.scan_root();
    m.drain();

    // ---- termination attempts -------------------------------------------
    let mut retries = 0;
    loop {
        assert_eq!(rt.stw.stop(false), Stopped::ByUs);
        rt.process_pending_detaches();
        flush_mutators(rt);
        if rt.queues.has_full() && retries < MAX_TERMINATION_RETRIES {
            retries += 1;
            rt.stw.start(false);
            m.drain();
            continue;
        }
        break;
    }

    // ---- STW2: mark termination (the world is stopped) ------------------
    // (The coordinator's own work is empty here: only the flush can have
    // produced work, on the global list.)
    if rt.queues.has_full() {
        m.drain();
    }
    check_termination(rt, &m, &snapshot);
    rt.marking.store(false, Relaxed);
    rt.stw.start(false);
    rt.done.store(true, Release);
}

/// The properties, checked with the world stopped at the end of marking
/// (where the real collector would queue the sweep).
fn check_termination(rt: &Runtime, m: &Marker, snapshot: &[usize; NSLOT]) {
    // 1. SATB: everything reachable from the root object at the snapshot
    //    (following what the slots held then; the model's graph has no
    //    cycles).
    for &first in &snapshot[..ROOT_SLOTS] {
        let mut o = first;
        while o != NIL {
            assert!(rt.mark[o].load(Relaxed), "SATB violated: object {o}, reachable at the snapshot, is unmarked");
            o = FIELD[o].map_or(NIL, |f| snapshot[f]);
        }
    }
    // 2. Every grey object was scanned, and exactly once.
    for o in 1..NOBJ {
        let marked = rt.mark[o].load(Relaxed);
        assert_eq!(
            m.scanned[o],
            usize::from(marked),
            "object {o}: marked={marked}, scanned {} times (grey object lost, or processed twice)",
            m.scanned[o]
        );
    }
    assert!(!rt.queues.has_full(), "work left on the global list");
    // 3. Every recorded barrier entry was flushed exactly once.
    let mut total = *rt.barrier_stats.lock().unwrap();
    for st in rt.mutators.lock().unwrap().iter() {
        // SAFETY: the owner is stopped; loom checks it.
        unsafe {
            st.wb.with(|wb| assert_eq!((*wb).next, 0, "an attached mutator's barrier buffer was not flushed"));
            st.gcw.with(|g| assert!((*g).wbuf.is_empty(), "an attached mutator's mark work was not published"));
            st.wb_stats.with(|s| total += *s);
        }
    }
    assert_eq!(total.recorded, total.entries, "barrier entries lost or flushed twice: {total:?}");
}

// ===========================================================================
// The scenarios
// ===========================================================================

/// Runs `f` under loom with the preemption bound `bound` (overridden by
/// `LOOM_MAX_PREEMPTIONS`) and reports how many executions were explored.
///
/// Why always a bound, rather than loom's unbounded mode
/// (`preemption_bound: None`)? With loom 0.7.3 the unbounded mode missed
/// interleavings here: with the collector's buffer flush removed from
/// `flush_mutators`, `termination_flushes_parked_mutator` passed all 1202
/// executions explored with `None`, yet failed with every bound tried from
/// 2 to 200 (the failing interleaving only needs the mutator's store to run
/// before the collector traces the root). Loom has open issues about
/// interleavings its unbounded exploration skips (tokio-rs/loom#166,
/// tokio-rs/loom#392).
fn check(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let t = std::time::Instant::now();
    b.check(move || {
        counter.fetch_add(1, Relaxed);
        f()
    });
    eprintln!(
        "{name}: {} executions explored in {:.2?} (preemption bound {:?})",
        runs.load(Relaxed),
        t.elapsed(),
        b.preemption_bound
    );
}

/// The common shape: set up a runtime and an attached mutator, run the
/// collector and `mutator` on two threads, and check afterwards that every
/// entry recorded during the cycle was flushed.
fn scenario(stw1: bool, attach_early: bool, mutator: fn(Arc<Runtime>, Option<Mutator>)) {
    let rt = Runtime::new(!stw1);
    let mu = attach_early.then(|| Runtime::attach(&rt));
    let rt2 = rt.clone();
    let collector = thread::spawn(move || run_cycle(&rt2, stw1));
    let rt3 = rt.clone();
    let mutator = thread::spawn(move || mutator(rt3, mu));
    collector.join().unwrap();
    mutator.join().unwrap();
    // A parked mutator dropped during the last stop waits for the next
    // cycle's STW1 to be detached (`process_pending_detaches`).
    assert_eq!(rt.stw.stop(false), Stopped::ByUs);
    rt.process_pending_detaches();
    rt.stw.start(false);
    // Every mutator has detached: all of its counters were handed over.
    assert!(rt.mutators.lock().unwrap().is_empty());
    let total = *rt.barrier_stats.lock().unwrap();
    assert_eq!(total.recorded, total.entries, "{total:?}");
    assert!(!rt.queues.has_full(), "work left on the global list after the cycle");
}

/// (1) The mutator keeps running through termination: the collector must
/// wait until it reaches a safepoint, then flush its buffer and publish its
/// private work (objects the full-buffer flush greyed), whatever the
/// interleaving with the concurrent trace. Among the interleavings: the
/// first termination attempt flushes {1} and retries; the mutator then
/// clears object 1's field before the collector scans 1, so only the
/// second attempt's flush finds 3, with no retry left: the final drain
/// (with the world stopped) must scan it.
#[test]
fn termination_catches_running_mutator_at_safepoint() {
    check("running", 3, || {
        scenario(false, true, |rt, mu| {
            let mu = mu.unwrap();
            let one = mu.load(0);
            mu.store(0, mu.load(1)); // root.0: 1 -> 2, buffered (records 1)
            mu.safepoint();
            mu.store(1, NIL); // root.1: 2 -> nil, buffer full: flush {1, 2}
            mu.safepoint();
            // 1.f: 3 -> nil, buffered (records 3).
            mu.store(FIELD[one].unwrap(), NIL);
            // Keep running, polling safepoints, until the cycle is over.
            while !rt.done.load(Acquire) {
                mu.safepoint();
                thread::yield_now();
            }
            mu.detach();
        })
    });
}

/// (2) The mutator parks with an unflushed entry and stays parked through
/// termination: the collector flushes its buffer on its behalf (it does not
/// wait for it, it is not counted as running).
#[test]
fn termination_flushes_parked_mutator() {
    check("parked", 4, || {
        scenario(false, true, |rt, mu| {
            let mu = mu.unwrap();
            mu.store(0, NIL); // root.0: 1 -> nil, buffered (records 1)
            mu.safepoint();
            let parked = mu.park();
            // Blocked outside the heap (I/O, a lock...) until the cycle ends.
            while !rt.done.load(Acquire) {
                thread::yield_now();
            }
            let mu = parked.unpark();
            mu.safepoint();
            mu.detach();
        })
    });
}

/// (2b) As (2), but the mutator unparks as soon as it can: `enter` races
/// with the termination stop (it must wait it out) and the collector may
/// flush the buffer of the parked mutator, or catch it at a safepoint.
#[test]
fn unpark_races_with_termination() {
    check("unpark", 3, || {
        scenario(false, true, |_rt, mu| {
            let mu = mu.unwrap();
            mu.store(0, NIL); // root.0: 1 -> nil, buffered (records 1)
            let parked = mu.park();
            let mu = parked.unpark();
            mu.store(1, NIL); // root.1: 2 -> nil, buffer full: flush {1, 2}
            mu.safepoint();
            mu.detach();
        })
    });
}

/// (3) The mutator detaches concurrently with termination: it flushes its
/// own buffer and publishes its work before it stops counting as running,
/// so the collector either finds it at a safepoint (and flushes for it) or
/// finds its published work (and retries / drains it).
#[test]
fn detach_races_with_termination() {
    check("detach", 4, || {
        scenario(false, true, |_rt, mu| {
            let mu = mu.unwrap();
            mu.store(0, NIL); // root.0: 1 -> nil, buffered (records 1)
            mu.safepoint();
            mu.detach(); // flushes {1}, publishes 1 (whose field holds 3)
        })
    });
}

/// (3b) A parked mutator's handle is dropped concurrently with termination:
/// `ParkedMutator::drop` detaches at once if no stop is in progress
/// (`try_enter`), or leaves the detach to the collector, which releases it
/// at its next stop (`process_pending_detaches`) — or flushes it as a parked
/// mutator at this one if the push comes after the collector looked.
#[test]
fn parked_drop_races_with_termination() {
    check("parked_drop", 4, || {
        scenario(false, true, |_rt, mu| {
            let mu = mu.unwrap();
            mu.store(0, NIL); // root.0: 1 -> nil, buffered (records 1)
            mu.park().drop_handle();
        })
    });
}

/// (4) A mutator attaches while the collector may be stopping the world
/// (`Stw::attach` waits out the stop), then stores and detaches.
#[test]
fn attach_races_with_termination() {
    check("attach", 4, || {
        scenario(false, false, |rt, _| {
            let mu = Runtime::attach(&rt);
            mu.store(0, NIL); // root.0: 1 -> nil, buffered (records 1)
            mu.safepoint();
            mu.detach();
        })
    });
}

/// (5) The whole cycle from STW1: the mutator stores before, during and
/// after marking; whatever the root object held at the snapshot must be
/// marked at termination. This also checks the memory-ordering argument of
/// §6: the relaxed loads of `marking` and of the old value are ordered by
/// the `Stw` mutex.
#[test]
fn full_cycle_from_mark_start() {
    check("full_cycle", 4, || {
        scenario(true, true, |_rt, mu| {
            let mu = mu.unwrap();
            mu.store(0, NIL); // before or after STW1
            mu.safepoint();
            mu.store(1, NIL);
            mu.safepoint();
            mu.detach();
        })
    });
}
