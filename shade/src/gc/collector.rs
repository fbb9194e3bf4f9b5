//! One collection cycle, start to finish (Go's gcStart … gcMarkTermination).
//!
//! The foundation collector marks and sweeps with the world stopped:
//!
//! ```text
//!  stop the world ─► release caches ─► gather roots ─► parallel mark ─►
//!  sweep ─► pace next cycle ─► scavenge ─► restart the world
//! ```
//!
//! * Stopping (gc/stw.rs) waits for every running mutator to reach a
//!   safepoint; parked mutators are already out of the way.
//! * Releasing caches gives the collector every span (a span allocating in
//!   some mutator's cache would otherwise change under the sweeper), and
//!   returns the charge for the slots those spans did not hand out.
//! * Roots are the `Root` handles (pruned of dropped ones) and the `Local`s
//!   of every mutator, including detached mutators' orphaned roots. Because
//!   every `Gc` a mutator holds dies at a safepoint, nothing else is a root:
//!   there are no stacks to scan.
//! * Marking runs on the worker pool plus the collecting thread, sharing
//!   work through the global work-buffer lists (gc/work.rs, gc/mark.rs).
//! * Sweeping (gc/sweep.rs) frees and drops the white objects.

use super::mark::{MarkCounters, Marker};
use super::stw::Stopped;
use super::sweep::sweep_all;
use crate::runtime::Runtime;
use crate::util::os::{process_cpu_time, thread_cpu_time};
use parking_lot::Mutex;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a collection runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Trigger {
    /// The pacer's goal was reached; skip if another thread just collected.
    Pacer,
    /// `collect()` was called: always run a full cycle.
    Explicit,
}

/// What one cycle measured, for stats and gctrace.
pub(crate) struct CycleReport {
    pub(crate) cycle: u64,
    pub(crate) at: Duration,
    pub(crate) stop_wall: Duration,
    pub(crate) mark_wall: Duration,
    pub(crate) mark_cpu: Duration,
    pub(crate) sweep_wall: Duration,
    pub(crate) pause: Duration,
    pub(crate) heap_before: usize,
    pub(crate) heap_after: usize,
    pub(crate) live_bytes: usize,
    pub(crate) live_objects: usize,
    pub(crate) goal: usize,
    pub(crate) workers: usize,
    pub(crate) released: usize,
    pub(crate) gc_cpu_percent: f64,
}

/// Total CPU spent collecting, for gctrace's percentage.
static GC_CPU_NANOS: AtomicUsize = AtomicUsize::new(0);

impl Runtime {
    /// Runs a collection. `is_mutator` says the calling thread is a running
    /// mutator of this heap (it stops along with the others). Returns the
    /// panic of a destructor run by the sweep, for the caller to resume once
    /// it is safe to unwind.
    pub(crate) fn collect(&self, is_mutator: bool, trigger: Trigger) -> Option<Box<dyn Any + Send>> {
        let t_stop = Instant::now();
        loop {
            match self.stw.stop(is_mutator) {
                Stopped::ByUs => break,
                Stopped::WaitedForOther if trigger == Trigger::Pacer => return None,
                Stopped::WaitedForOther => continue,
            }
        }
        let stop_wall = t_stop.elapsed();
        self.pacer.requested.store(false, Relaxed);
        let cycle = self.cycle.fetch_add(1, Relaxed) + 1;
        let heap_before = self.pacer.heap_alloc.load(Relaxed);

        // Every mutator is stopped or parked: take back their spans.
        for m in self.mutators.lock().iter() {
            // SAFETY: the owner is not running (stw invariant), so the
            // collector has exclusive use of its cache until `start`.
            let (bytes, objects) = unsafe { (*m.cache.get()).release_all(&self.mheap, false) };
            self.pacer.uncharge(bytes, objects);
        }

        let roots = self.gather_roots();
        let t_mark = Instant::now();
        let (counters, mark_cpu, workers) = self.mark_roots_parallel(&roots);
        let mark_wall = t_mark.elapsed();
        debug_assert!(!self.queues.has_full());

        let t_sweep = Instant::now();
        let swept = sweep_all(self, cycle);
        let sweep_wall = t_sweep.elapsed();
        debug_assert_eq!(swept.live_objects, counters.objects_marked, "sweep and mark disagree");

        let goal = self.pacer.end_cycle(swept.live_bytes);
        let released = self.mheap.scavenge(cycle, self.settings.scavenge_after_cycles);
        let pause = t_stop.elapsed();

        let gc_cpu = GC_CPU_NANOS.fetch_add((mark_cpu + sweep_wall).as_nanos() as usize, Relaxed)
            + (mark_cpu + sweep_wall).as_nanos() as usize;
        let proc_cpu = process_cpu_time().as_nanos().max(1) as f64;
        let report = CycleReport {
            cycle,
            at: self.elapsed(),
            stop_wall,
            mark_wall,
            mark_cpu,
            sweep_wall,
            pause,
            heap_before,
            heap_after: self.pacer.heap_alloc.load(Relaxed),
            live_bytes: swept.live_bytes,
            live_objects: swept.live_objects,
            goal,
            workers,
            released,
            gc_cpu_percent: (gc_cpu as f64 / proc_cpu * 100.0).min(100.0),
        };
        {
            let mut st = self.stats.lock();
            st.cycles = cycle;
            st.live_objects = swept.live_objects;
            st.live_bytes = swept.live_bytes;
            st.freed_objects_total += swept.freed_objects as u64;
            st.freed_bytes_total += swept.freed_bytes as u64;
            st.mark_time_total += mark_wall;
            st.sweep_time_total += sweep_wall;
            st.released_bytes_total += released;
            st.record_pause(pause);
        }
        if self.settings.gctrace {
            eprintln!("{}", super::gctrace::format(&report));
        }
        self.stw.start(is_mutator, self.pacer.requested.load(Relaxed));
        swept.drop_panic
    }

    /// Collects the root set: live `Root`s (dropping dead registrations)
    /// and `Local`s of every attached mutator, and orphaned roots.
    fn gather_roots(&self) -> Vec<usize> {
        let mut roots = Vec::new();
        let keep = |list: &mut Vec<Arc<crate::api::root::RootNode>>, out: &mut Vec<usize>| {
            // A registration whose handles are all dropped has count 1 (the
            // registry's own reference); counts only fall to 1 when the last
            // handle goes, never rise from it, so this test is stable.
            list.retain(|r| Arc::strong_count(r) > 1);
            out.extend(list.iter().map(|r| r.ptr));
        };
        for m in self.mutators.lock().iter() {
            keep(&mut m.roots.lock(), &mut roots);
            roots.extend(m.locals.lock().live());
        }
        keep(&mut self.orphan_roots.lock(), &mut roots);
        roots
    }

    /// Marks everything reachable from `roots` using the collecting thread
    /// and the worker pool. Returns the counters, the CPU time spent, and
    /// the number of workers.
    fn mark_roots_parallel(&self, roots: &[usize]) -> (MarkCounters, Duration, usize) {
        let cpu0 = thread_cpu_time();
        let mut total = MarkCounters::default();
        {
            // SAFETY: the runtime outlives this marker (we are inside a method
            // of it and the marker is dropped before returning).
            let mut m = unsafe { Marker::new(&self.mheap, &self.queues) };
            for &r in roots {
                m.mark(r);
            }
            total += m.counters;
        } // dropping the marker publishes the grey roots
        let nworkers = self.workers.size() + 1;
        let shared = Mutex::new((MarkCounters::default(), Duration::ZERO));
        let nwait = AtomicUsize::new(0);
        let job = |_worker: usize| {
            let c0 = thread_cpu_time();
            // SAFETY: as above; `run` returns only after every worker is done.
            let mut m = unsafe { Marker::new(&self.mheap, &self.queues) };
            if nworkers == 1 {
                m.drain();
            } else {
                m.drain_until_done(&nwait, nworkers);
            }
            let mut s = shared.lock();
            s.0 += m.counters;
            s.1 += thread_cpu_time().saturating_sub(c0);
        };
        if nworkers == 1 {
            job(0);
        } else {
            self.workers.run(&job);
        }
        let (c, worker_cpu) = shared.into_inner();
        total += c;
        let root_cpu = thread_cpu_time().saturating_sub(cpu0);
        // The collecting thread's own drain is counted in worker_cpu too.
        (total, root_cpu.max(worker_cpu), nworkers)
    }
}
