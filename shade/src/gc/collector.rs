//! One collection cycle, start to finish, and the thread that runs it
//! (Go's gcStart, gcBgMarkWorker, gcMarkDone, gcMarkTermination, bgsweep).
//!
//! ```text
//!  mutators  ──run──┐ stop ┌──run (barrier on, allocate black, assist)──┐ stop ┌──run──────────────
//!  collector        │ STW1 │  concurrent mark: background workers        │ STW2 │ concurrent sweep
//!                   │roots │  drain grey objects; barrier flushes feed   │flush,│ (coordinator +
//!                   │ grey │  them; idle -> try termination              │drain │  lazy sweeping)
//! ```
//!
//! * **STW1, mark start**: stop the world, turn the barrier on (`marking`),
//!   grey the roots (`Root`s and `Local`s: every `Gc` a mutator holds died at
//!   the safepoint, so there are no stacks to scan), restart the world.
//!   This fixes the *snapshot*: the object graph at this instant.
//! * **Concurrent mark**: the coordinator thread and the background workers
//!   (about a quarter of the CPUs, at least one) drain the grey objects
//!   while mutators run. Mutators record overwritten pointers in their
//!   barrier buffers and allocate black; when their allocation outpaces the
//!   marker, they assist. Flushes that fill a work buffer wake idle workers.
//! * **Mark termination**: when the workers find no more work, every
//!   mutator flushes its buffers at its own safepoint, and if that found
//!   nothing the collector closes marking and every mutator leaves the
//!   cycle at its own safepoint (gc/termination.rs; the diagram's second
//!   stop is gone with `termination=ragged`, the default, as mark start's
//!   first one is with ragged mark start). `termination=stop` instead stops
//!   the world and flushes every mutator; if that uncovered work, and this
//!   has not happened too often, restarts the world and goes back to
//!   concurrent marking; otherwise drains what is left with every worker,
//!   turns the barrier off, empties every allocation cache, sets the next
//!   goal, and restarts the world.
//! * **Concurrent sweep**: the coordinator sweeps the queued spans while
//!   mutators allocate (and sweep lazily when they need a span).
//!
//! `gcstoptheworld` mode runs the whole mark inside one stop instead.
//! `checkmark` mode re-marks from the roots at termination and panics if
//! concurrent marking missed a reachable object.
//!
//! The coordinator is one thread per heap, started on the first request. It
//! holds its own reference to the runtime; when the last heap handle goes,
//! `Owner::drop` stops and joins it, so the runtime is dropped by whichever
//! thread releases the last reference, with no collector thread running.
//! The coordinator runs user code only in one place: the destructors of the
//! objects it sweeps. Such a destructor may drop the last heap handle (then
//! the coordinator is told to stop and is not joined: it is the thread
//! dropping, and it exits after the cycle), may attach a mutator, allocate
//! and store (it must drop that mutator before returning: the coordinator
//! cannot stop a mutator running on its own thread, gc/sweep.rs), and may
//! not wait for a collection (`Runtime::collect` panics: the collection
//! would wait for the very thread that runs the destructor).

use super::handshake::{Phase, Waits};
use super::mark::{MarkCounters, Marker};
use super::stats::CyclePauses;
use super::sweep::{sweep_background, SweepTotals};
use super::termination::Termination;
use super::work::GcWork;
use crate::runtime::Runtime;
use crate::util::os::{process_cpu_time, thread_cpu_time};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many times mark termination may send the collector back to
/// concurrent marking before it drains the rest with the world stopped.
const MAX_TERMINATION_RETRIES: usize = 4;

/// How long idle mark workers wait for a barrier flush to publish work
/// before attempting mark termination.
const IDLE_WAIT: Duration = Duration::from_micros(200);

std::thread_local! {
    /// The id of the heap whose coordinator this thread is (0: none).
    static COORDINATOR_OF: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread is the coordinator of heap `heap`.
pub(crate) fn on_coordinator_of(heap: u64) -> bool {
    COORDINATOR_OF.with(|c| c.get() == heap)
}

#[derive(Default)]
struct CoordState {
    completed: u64,
    running: bool,
    /// Explicit requests: run until `completed >= want`.
    want: u64,
    pacer_request: bool,
    shutdown: bool,
}

/// The collector's coordinator thread and its handshakes.
pub(crate) struct Coordinator {
    state: Mutex<CoordState>,
    wake: Condvar,
    done: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Idle mark workers wait here for a flush to publish work.
    idle: Mutex<()>,
    idle_cv: Condvar,
    idle_waiting: AtomicBool,
    /// Lifetime totals of sweeping.
    pub(crate) swept: SweepTotals,
    gc_cpu_nanos: AtomicUsize,
}

impl Coordinator {
    pub(crate) fn new() -> Coordinator {
        Coordinator {
            state: Mutex::new(CoordState::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            thread: Mutex::new(None),
            idle: Mutex::new(()),
            idle_cv: Condvar::new(),
            idle_waiting: AtomicBool::new(false),
            swept: SweepTotals::default(),
            gc_cpu_nanos: AtomicUsize::new(0),
        }
    }

    fn ensure_started(&self, rt: &Runtime) {
        let mut t = self.thread.lock();
        if t.is_none() && !self.state.lock().shutdown {
            // The thread holds its own reference; `Owner::drop` stops it.
            let Some(rt) = rt.me.upgrade() else { return };
            *t = Some(
                std::thread::Builder::new()
                    .name("shade-gc".into())
                    .spawn(move || rt.coordinator.main(&rt))
                    .expect("shade: cannot spawn the collector thread"),
            );
        }
    }

    /// The pacer asks for a cycle (from an allocation slow path).
    pub(crate) fn request(&self, rt: &Runtime) {
        self.ensure_started(rt);
        let mut s = self.state.lock();
        s.pacer_request = true;
        self.wake.notify_one();
    }

    /// Requests a full cycle (mark and sweep) that starts after this call,
    /// and waits for it. The caller must not be a running mutator.
    pub(crate) fn collect_and_wait(&self, rt: &Runtime) {
        self.ensure_started(rt);
        let mut s = self.state.lock();
        let target = s.completed + 1 + s.running as u64;
        s.want = s.want.max(target);
        self.wake.notify_one();
        while s.completed < target {
            self.done.wait(&mut s);
        }
    }

    fn main(&self, rt: &Runtime) {
        COORDINATOR_OF.with(|c| c.set(rt.id));
        loop {
            {
                let mut s = self.state.lock();
                while !(s.shutdown || s.pacer_request || s.want > s.completed) {
                    self.wake.wait(&mut s);
                }
                if s.shutdown {
                    return;
                }
                s.pacer_request = false;
                s.running = true;
            }
            // A panic here means the heap is corrupt (checkmark found a
            // missed object, the marker found a wild pointer): like Go's
            // `throw`, it is fatal. Unwinding would leave mutators stopped
            // forever and let a later sweep free live objects.
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run_cycle())) {
                let msg = p
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                eprintln!("shade: fatal error in the collector: {msg}");
                std::process::abort();
            }
            let mut s = self.state.lock();
            s.running = false;
            s.completed += 1;
            self.done.notify_all();
        }
    }

    /// Stops the coordinator thread (the last heap handle is gone) and waits
    /// for it to exit, unless the caller is that thread (a destructor it ran
    /// dropped the last handle): then it exits when the cycle in progress
    /// ends, and drops the runtime itself.
    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// A barrier flush published a full work buffer.
    pub(crate) fn wake_marker(&self) {
        if self.idle_waiting.load(Relaxed) {
            let _g = self.idle.lock();
            self.idle_cv.notify_all();
        }
    }

    /// Idle workers: wait briefly for published work. True if there is some.
    pub(super) fn wait_for_work(&self, rt: &Runtime) -> bool {
        if rt.queues.has_full() {
            return true;
        }
        let mut g = self.idle.lock();
        self.idle_waiting.store(true, SeqCst);
        if !rt.queues.has_full() {
            self.idle_cv.wait_for(&mut g, IDLE_WAIT);
        }
        self.idle_waiting.store(false, Relaxed);
        // An assist in progress may hold work it took from the global list
        // and will publish what it leaves: marking is not done until it
        // finishes. Without this, an assist grabbing a buffer just as the
        // workers ran dry published its remainder after the grace period,
        // every termination attempt could find such work, and after the
        // last retry the rest was drained with the world stopped
        // (binary-trees: 4 retries and 7-17 ms pauses in a fifth of the
        // cycles).
        rt.queues.has_full() || rt.assists_active.load(SeqCst) > 0
    }
}

/// What one cycle measured, for stats and gctrace.
pub(crate) struct CycleReport {
    pub(crate) cycle: u64,
    pub(crate) at: Duration,
    pub(crate) pauses: CyclePauses,
    pub(crate) mark_wall: Duration,
    pub(crate) mark_cpu: Duration,
    pub(crate) sweep_wall: Duration,
    pub(crate) heap_before: usize,
    pub(crate) heap_marked: usize,
    pub(crate) goal: usize,
    pub(crate) live_objects: usize,
    pub(crate) workers: usize,
    pub(crate) termination_retries: usize,
    pub(crate) released: usize,
    pub(crate) gc_cpu_percent: f64,
    pub(crate) stop_the_world: bool,
    pub(crate) weak: super::weak::WeakReport,
    /// Weak processing inside the termination pause.
    pub(crate) weak_time: Duration,
    /// The clearing window, after the restart.
    pub(crate) weak_clear_time: Duration,
    /// The cycle's handshake rounds (mark start's, termination's),
    /// first request to last mutator done, summed.
    pub(crate) handshake_wait: Duration,
    /// Mutators a round had to wait for (the most in one round).
    pub(crate) late_mutators: usize,
    /// The mutator the longest round waited for last (`Mutator::id`).
    pub(crate) late_last: Option<u64>,
}

impl Runtime {
    /// Runs a full collection and waits for it, from a thread that is not a
    /// running mutator. Returns a destructor's panic to resume, if any.
    ///
    /// # Panics
    /// From a destructor run by a sweep, of any heap: the sweeping thread is
    /// the coordinator, which would wait for itself, or a mutator inside an
    /// allocation, which the collection would wait for; and two heaps'
    /// destructors each waiting for the other's collection would never wake.
    pub(crate) fn collect(&self) -> Option<Box<dyn std::any::Any + Send>> {
        if super::sweep::in_destructor() {
            panic!(
                "shade: collect() called from a destructor run by the collector's sweep; \
                 a destructor cannot wait for a collection (the sweeping thread would wait for itself)"
            );
        }
        if super::stw::thread_has_running(self.id) {
            panic!("shade: Heap::collect called on a thread with a running Mutator of this heap; use Mutator::collect");
        }
        self.coordinator.collect_and_wait(self);
        self.deferred_panic.lock().take()
    }

    /// One cycle; runs on the coordinator thread.
    fn run_cycle(&self) {
        let cycle = self.cycle.fetch_add(1, Relaxed) + 1;
        let t_cycle = Instant::now();
        let stw_mode = self.settings.gcstoptheworld;
        let mut pauses = CyclePauses::default();
        let mut mark_cpu = Duration::ZERO;
        let mut totals = MarkCounters::default();
        // What the mark workers alone marked (the rate's numerator).
        let mut worker_bytes = 0;

        // What the heap occupied before this cycle freed anything: the
        // scavenger keeps that much resident (below).
        let pages_in_use = self.mheap.page_stats().0 * crate::heap::sizeclass::PAGE_SIZE;

        // ---- mark start ------------------------------------------------
        // A destructor must never run while some mutator's barrier is on:
        // it may store into its dead object, and recording the value that
        // store overwrites would mark freed memory (DESIGN.md §4). The
        // queues are empty, so no sweep can start; wait for those running.
        while self.sweeps_active.load(SeqCst) > 0 {
            std::thread::yield_now();
        }
        debug_assert!(self.mheap.central.iter().all(|c| c.unswept_len() == 0), "sweep unfinished");
        let heap_before = self.pacer.heap_alloc.load(Relaxed);
        self.hs.take_work_max();
        let mut waits = Waits::default();
        {
            let mut w = GcWork::new();
            // SAFETY: the runtime and `w` outlive the marker.
            let mut m = unsafe { Marker::new(&self.mheap, &self.queues, &mut w) };
            if stw_mode {
                let t = Instant::now();
                self.stw.stop(false, || self.raise_flags());
                pauses.stop_wait_max = t.elapsed();
                self.process_pending_detaches();
                self.pacer.start_cycle();
                self.queues.marked.store(0, Relaxed);
                for r in self.gather_roots() {
                    m.mark(r);
                }
            } else {
                // Two ragged rounds (gc/handshake.rs): every barrier on,
                // then every mutator greys its own roots. No mutator waits
                // for another.
                self.pacer.start_cycle();
                self.queues.marked.store(0, Relaxed);
                // The spans this cycle marks and sweeps (read by mutators
                // under their `hs` locks, after the round's target).
                self.marking_gen.store(self.mheap.sweep_gen.load(SeqCst), Relaxed);
                self.term.open();
                let armed = self.handshake_round(self.hs.next_target(Phase::Armed, false));
                // Every barrier records now: tracing may begin.
                self.marking.store(true, SeqCst);
                let scanned = self.handshake_round(self.hs.next_target(Phase::Scanned, false));
                waits.add(&armed);
                waits.add(&scanned);
                // The roots the mutators copied at their handshakes, and
                // detached mutators' roots, including those of mutators that
                // detached during the rounds without copying theirs.
                self.grey_scanned_roots(&mut m);
                let mut roots = Vec::new();
                self.orphan_roots_into(&mut roots);
                for r in roots {
                    m.mark(r);
                }
                pauses.start = self.hs.take_work_max();
            }
            m.dispose();
            totals += m.counters;
        }
        let t_mark = Instant::now();
        let mut retries = 0;
        let mut weak = super::weak::WeakReport::default();
        let ragged = !stw_mode && self.settings.termination == Termination::Ragged;
        pauses.has_termination = !stw_mode;
        if ragged {
            // ---- concurrent mark, then ragged termination (gc/termination.rs)
            let t = self.terminate_ragged(&mut weak, &mut waits);
            worker_bytes += t.marked.bytes_marked;
            totals += t.marked;
            mark_cpu += t.mark_cpu;
            retries = t.rounds.saturating_sub(1);
        } else if !stw_mode {
            // ---- concurrent mark, then termination attempts -------------
            loop {
                loop {
                    let (c, cpu) = self.mark_phase(self.settings.bg_mark_workers);
                    worker_bytes += c.bytes_marked;
                    totals += c;
                    mark_cpu += cpu;
                    if !self.coordinator.wait_for_work(self) {
                        break;
                    }
                }
                let t2 = Instant::now();
                self.stw.stop(false, || self.raise_flags());
                pauses.stop_wait_max = pauses.stop_wait_max.max(t2.elapsed());
                self.process_pending_detaches();
                self.flush_mutators();
                if self.queues.has_full() && retries < MAX_TERMINATION_RETRIES {
                    retries += 1;
                    pauses.retries.push(self.stw.start(false));
                    continue;
                }
                break;
            }
        }

        // ---- mark termination: with the world stopped, or (ragged) with
        // marking closed and every mutator still in the cycle ------------
        if ragged && self.settings.checkmark {
            // A debug mode: the stop is its cost.
            self.stw.stop(false, || self.raise_flags());
            self.process_pending_detaches();
        }
        // Usually the flush found nothing and the workers need not wake.
        if !ragged && (stw_mode || self.queues.has_full()) {
            let (c, cpu) = self.mark_phase(self.settings.mark_workers);
            worker_bytes += c.bytes_marked;
            totals += c;
            mark_cpu += cpu;
        }
        let mark_wall = t_mark.elapsed();
        debug_assert!(!self.queues.has_full());
        if self.settings.checkmark {
            super::checkmark::verify(self, &self.gather_roots());
        }
        if ragged && self.settings.checkmark {
            self.stw.start(false);
        }
        // Marking is complete: the ephemerons converge (ragged: they did
        // before the close) and the weak lists are taken; they are cleared
        // once every mutator has left the cycle, before anything is freed
        // (gc/weak.rs).
        let t_weak = Instant::now();
        if !ragged {
            super::weak::converge_ephemerons(self, &mut weak);
        }
        totals += weak.ephemeron_marked;
        self.marking.store(false, SeqCst);
        // What the heap held when marking closed: allocation since mark
        // start up to here was black (below). Read before the flip round:
        // a late mutator must not make the next goal grow with what the
        // others allocate while the round waits for it.
        let alloc_at_close = self.pacer.heap_alloc.load(Relaxed);
        // Every span allocated so far holds this cycle's marks. A span made
        // from now on carries the new generation: it is not swept this
        // cycle, and it is allocated white (`MutatorState::black_gen`). The
        // partial lists hold the cycle's spans: forgotten, they are queued
        // for sweeping from the in-use set (`queue_sweep`) once every
        // mutator has left the cycle, so this does no per-span work.
        self.mheap.sweep_gen.fetch_add(1, SeqCst);
        for c in self.mheap.central.iter() {
            c.clear_partial();
        }
        let weak_lists = super::weak::take_lists(self);
        let weak_time = t_weak.elapsed();
        if ragged {
            // Every mutator leaves the cycle at its own safepoint.
            waits.add(&self.handshake_round(self.hs.next_target(Phase::Idle, false)));
            pauses.termination = self.hs.take_work_max();
        } else {
            let target = self.hs.next_target(Phase::Idle, false);
            self.hs.set_target(target);
            // A copy: `hs` locks are never taken while holding the list's
            // lock (a detaching mutator takes them in the other order).
            let list = self.mutators.lock().clone();
            for m in list.iter() {
                // SAFETY: the owner is stopped (stw invariant): the collector
                // has exclusive use of its cache, counters and barrier until
                // `start`.
                unsafe {
                    let mut hs = m.hs.lock();
                    debug_assert!(stw_mode || hs.phase == Phase::Scanned, "a mutator missed mark start");
                    if hs.phase == Phase::Idle {
                        self.retire(m);
                    }
                    self.advance(m, &mut hs, target);
                }
            }
        }
        totals += std::mem::take(&mut *self.detached_marked.lock());
        // Objects allocated while marking were allocated black: everything
        // charged from mark start until marking closed is live too (with
        // ragged termination the caches' unused slots were still charged
        // then: a slight overestimate). With a stop, nothing was allocated
        // between the close and now, and the caches were given back.
        let at_end = if ragged { alloc_at_close } else { self.pacer.heap_alloc.load(Relaxed) };
        let black = at_end.saturating_sub(self.pacer.heap_at_mark_start.load(Relaxed));
        let heap_marked = totals.bytes_marked + black;
        let goal = self.pacer.end_cycle(heap_marked);
        // Every mutator has left the cycle: its spans may be swept.
        self.mheap.sweepable_gen.store(self.mheap.sweep_gen.load(SeqCst), SeqCst);
        if !ragged {
            let pause2 = self.stw.start(false);
            if stw_mode {
                pauses.start = pause2;
            } else {
                pauses.termination = pause2;
            }
        }

        // ---- weak clearing window, then concurrent sweep ---------------
        let t_clear = Instant::now();
        super::weak::clear(self, weak_lists, &mut weak);
        let weak_clear_time = t_clear.elapsed();
        let t_sweep = Instant::now();
        let cpu_sweep0 = thread_cpu_time();
        super::sweep::queue(self);
        sweep_background(self);
        let sweep_wall = t_sweep.elapsed();
        if let Some(p) = super::weak::run_ready(self) {
            self.defer_panic(p);
        }
        let sweep_cpu = thread_cpu_time().saturating_sub(cpu_sweep0);
        // Return memory to the OS only beyond what the heap will want again
        // before the next cycle: the larger of its peak this cycle and 110%
        // of the new goal (Go's scavenger goal). Releasing more would only
        // trade RSS now for page faults in a moment.
        let keep = pages_in_use.max(goal + goal / 10);
        let released = self.mheap.scavenge(cycle, self.settings.scavenge_after_cycles, keep);

        let gc_cpu = (mark_cpu + sweep_cpu).as_nanos() as usize;
        let gc_cpu = self.coordinator.gc_cpu_nanos.fetch_add(gc_cpu, Relaxed) + gc_cpu;
        let report = CycleReport {
            cycle,
            at: self.elapsed(),
            pauses,
            mark_wall,
            mark_cpu,
            sweep_wall,
            heap_before,
            heap_marked,
            goal,
            live_objects: totals.objects_marked,
            workers: if stw_mode { self.settings.mark_workers } else { self.settings.bg_mark_workers },
            termination_retries: retries,
            weak,
            weak_time,
            weak_clear_time,
            handshake_wait: waits.total,
            late_mutators: waits.late,
            late_last: waits.last,
            released,
            gc_cpu_percent: (gc_cpu as f64 / process_cpu_time().as_nanos().max(1) as f64 * 100.0).min(100.0),
            stop_the_world: stw_mode,
        };
        {
            let mut st = self.stats.lock();
            st.cycles = cycle;
            st.live_objects = totals.objects_marked;
            st.live_bytes = heap_marked;
            st.mark_time_total += mark_wall;
            st.sweep_time_total += sweep_wall;
            st.released_bytes_total += released;
            st.weak_cells = weak.cells;
            st.weak_cleared_total += weak.cleared as u64;
            st.cleanups_run_total += weak.cleanups_ready as u64;
            st.weak_time_max = st.weak_time_max.max(weak_time);
            st.weak_clear_time_max = st.weak_clear_time_max.max(weak_clear_time);
            st.cycle_time_total += t_cycle.elapsed();
            for p in report.pauses.all() {
                st.record_pause(p);
            }
            st.stop_wait_max = st.stop_wait_max.max(report.pauses.stop_wait_max);
            if waits.total > st.handshake_wait_max {
                st.handshake_wait_max = waits.total;
                st.late_mutator = waits.last.map(|id| (id, waits.total));
            }
            if !stw_mode {
                st.handshake_work_max = st.handshake_work_max.max(report.pauses.start);
            }
            st.record_cycle(crate::api::stats::CycleInfo {
                cycle,
                at: report.at,
                heap_before,
                heap_live: heap_marked,
                goal,
                pause_start: report.pauses.start,
                pause_termination: report.pauses.termination,
                pause_retries: report.pauses.retries.iter().sum(),
                mark_wall,
                mark_cpu,
                mark_worker_bytes: worker_bytes,
                mark_assist_bytes: totals.assist_bytes,
                mark_assist_time: totals.assist_time,
                sweep_wall,
            });
        }
        if self.settings.gctrace {
            eprintln!("{}", super::gctrace::format(&report));
        }
    }

    /// Marks with `n` workers (the coordinator and `n - 1` pool threads)
    /// until they all run out of work. Returns their counters and CPU time.
    pub(super) fn mark_phase(&self, n: usize) -> (MarkCounters, Duration) {
        let shared = Mutex::new((MarkCounters::default(), Duration::ZERO));
        let nwait = AtomicUsize::new(0);
        let n = n.clamp(1, self.workers.size() + 1);
        let job = |_worker: usize| {
            let c0 = thread_cpu_time();
            let mut w = GcWork::new();
            // SAFETY: the runtime and `w` outlive the marker; `run` returns
            // only after every worker is done.
            let mut m = unsafe { Marker::new(&self.mheap, &self.queues, &mut w) };
            if n == 1 {
                m.drain();
            } else {
                m.drain_until_done(&nwait, n);
            }
            m.dispose();
            let mut s = shared.lock();
            s.0 += m.counters;
            s.1 += thread_cpu_time().saturating_sub(c0);
        };
        self.workers.run(n, &job);
        shared.into_inner()
    }

    /// With the world stopped: flushes every mutator's barrier buffer and
    /// publishes its mark buffers, so no grey object hides anywhere.
    fn flush_mutators(&self) {
        for m in self.mutators.lock().iter() {
            // SAFETY: the owner is stopped (stw invariant), so the collector
            // has exclusive use of its buffers.
            unsafe { self.publish_mutator_work(m) };
        }
    }
}
