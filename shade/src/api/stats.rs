//! Heap statistics.

use crate::barrier::wbbuf::BarrierStats;
use crate::runtime::Runtime;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

/// What one collection cycle did (see [`HeapStats::cycle_log`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CycleInfo {
    /// Cycle number (1-based).
    pub cycle: u64,
    /// When the cycle ended, since the heap was created.
    pub at: Duration,
    /// Heap size (bytes charged) when the cycle started.
    pub heap_before: usize,
    /// Bytes found live (marked, plus allocated black during marking).
    pub heap_live: usize,
    /// The goal set for the next cycle.
    pub goal: usize,
    /// The mark-start pause (the whole mark in stop-the-world mode).
    pub pause_start: Duration,
    /// The mark-termination pause.
    pub pause_termination: Duration,
    /// Pauses of termination attempts that resumed concurrent marking.
    pub pause_retries: Duration,
    /// Wall time from mark start to mark termination.
    pub mark_wall: Duration,
    /// CPU time of the mark workers.
    pub mark_cpu: Duration,
    /// Bytes the mark workers marked (assists, barrier flushes and root
    /// greying excluded): with `mark_cpu`, the workers' mark rate.
    pub mark_worker_bytes: usize,
    /// Bytes mutators marked in mark assists, and the time the assists
    /// took: with the two fields above, the marker's rate
    /// `(mark_worker_bytes + mark_assist_bytes) / (mark_cpu + mark_assist_time)`.
    pub mark_assist_bytes: usize,
    /// See `mark_assist_bytes` (wall time of the assists' marking).
    pub mark_assist_time: Duration,
    /// Wall time of the background sweep.
    pub sweep_wall: Duration,
}

/// A snapshot of a heap's statistics (see [`Heap::stats`](crate::Heap::stats)).
///
/// "Live" figures are those the last completed cycle found; "total" figures
/// cover the heap's whole life.
#[derive(Clone, Debug, Default)]
pub struct HeapStats {
    /// Completed collection cycles.
    pub cycles: u64,
    /// Objects marked live by the last cycle.
    pub live_objects: usize,
    /// Bytes (slot sizes) marked live by the last cycle.
    pub live_bytes: usize,
    /// Objects allocated over the heap's life.
    pub allocated_objects_total: u64,
    /// Bytes allocated over the heap's life.
    pub allocated_bytes_total: u64,
    /// Objects freed over the heap's life.
    pub freed_objects_total: u64,
    /// Bytes freed over the heap's life.
    pub freed_bytes_total: u64,
    /// Heap size at which the next cycle starts.
    pub heap_goal: usize,
    /// Bytes of pages currently holding spans.
    pub heap_in_use: usize,
    /// Bytes of pages obtained from the OS and not given back.
    pub heap_retained: usize,
    /// Bytes given back to the OS over the heap's life.
    pub released_bytes_total: usize,
    /// Sum of all stop-the-world pauses.
    pub pause_total: Duration,
    /// Longest pause.
    pub pause_max: Duration,
    /// Number of pauses (mark start, termination attempts, termination).
    /// Mark start holds each mutator only for its own handshake work, so its
    /// entry is the longest such work of the cycle
    /// (`handshake_work_max`).
    pub pause_count: u64,
    /// Longest time a collection waited for running mutators to reach a
    /// safepoint. A mutator still running is not paused, so this counts in
    /// the pause figures only from the moment the first mutator stopped: a
    /// mutator that runs long without a safepoint delays the collection, and
    /// any other mutator that reached its safepoint waits, paused.
    pub stop_wait_max: Duration,
    /// Longest time a cycle's mark start waited for late mutators: its two
    /// ragged handshake rounds, from the first request until the last
    /// mutator had done its part. No mutator waits meanwhile (each does its
    /// part at its own safepoint and goes on); the cycle's start is delayed.
    pub handshake_wait_max: Duration,
    /// Longest time one mutator spent on its own part of a handshake
    /// (turning its barrier on, greying its roots): the time mark start held
    /// that mutator. Also each cycle's mark-start entry in the pauses.
    pub handshake_work_max: Duration,
    /// The mutator mark start waited for last in the cycle whose rounds
    /// waited longest (`handshake_wait_max`): its [`Mutator::id`] and that
    /// wait. `None` if no round ever waited for a running mutator.
    ///
    /// [`Mutator::id`]: crate::Mutator::id
    pub late_mutator: Option<(u64, Duration)>,
    /// Most recent pauses (up to 4096), oldest first.
    pub recent_pauses: Vec<Duration>,
    /// Time spent marking.
    pub mark_time_total: Duration,
    /// Time spent sweeping.
    pub sweep_time_total: Duration,
    /// Wall time of whole cycles (mark start to end of sweep).
    pub cycle_time_total: Duration,
    /// Threads that mark while the world is stopped.
    pub mark_workers: usize,
    /// Threads that mark while mutators run.
    pub background_mark_workers: usize,
    /// What the write barrier recorded and what its flushes found (as of
    /// the last mark termination, plus detached mutators).
    pub barrier: BarrierStats,
    /// Bytes whose allocation during marking was paid for by an assist.
    pub assisted_bytes_total: usize,
    /// Weak cells alive at the last mark termination (`Weak`, `WeakRoot`).
    pub weak_cells: usize,
    /// Weak references (and `WeakSet` entries) cleared because their
    /// target died, over the heap's life.
    pub weak_cleared_total: u64,
    /// Cleanups whose target died and that were queued to run.
    pub cleanups_run_total: u64,
    /// Longest time one mark termination spent on weak references and
    /// cleanups inside the termination pause (converging ephemeron tables
    /// and taking the weak lists; it does not grow with the number of weak
    /// references).
    pub weak_time_max: Duration,
    /// Longest clearing window: the time after a termination's restart
    /// spent clearing dead weak references, weak-table entries and queueing
    /// cleanups, with mutators running (no span is swept before it ends).
    pub weak_clear_time_max: Duration,
    /// The most recent cycles (up to 4096), oldest first.
    pub cycle_log: Vec<CycleInfo>,
}

impl HeapStats {
    pub(crate) fn read(rt: &Runtime) -> HeapStats {
        let st = rt.stats.lock().clone();
        let (in_use, retained, _) = rt.mheap.page_stats();
        let page = crate::heap::sizeclass::PAGE_SIZE;
        HeapStats {
            cycles: st.cycles,
            live_objects: st.live_objects,
            live_bytes: st.live_bytes,
            allocated_objects_total: rt.pacer.total_objects.load(Relaxed) as u64,
            allocated_bytes_total: rt.pacer.total_bytes.load(Relaxed) as u64,
            freed_objects_total: rt.coordinator.swept.objects.load(Relaxed),
            freed_bytes_total: rt.coordinator.swept.bytes.load(Relaxed),
            heap_goal: rt.pacer.goal.load(Relaxed),
            heap_in_use: in_use * page,
            heap_retained: retained * page,
            released_bytes_total: st.released_bytes_total,
            pause_total: st.pause_total,
            pause_max: st.pause_max,
            pause_count: st.pause_count,
            stop_wait_max: st.stop_wait_max,
            handshake_wait_max: st.handshake_wait_max,
            handshake_work_max: st.handshake_work_max,
            late_mutator: st.late_mutator,
            recent_pauses: st.pauses.iter().copied().collect(),
            mark_time_total: st.mark_time_total,
            sweep_time_total: st.sweep_time_total,
            cycle_time_total: st.cycle_time_total,
            mark_workers: rt.settings.mark_workers,
            background_mark_workers: rt.settings.bg_mark_workers,
            barrier: *rt.barrier_stats.lock(),
            assisted_bytes_total: rt.pacer.assisted_bytes_total.load(Relaxed),
            weak_cells: st.weak_cells,
            weak_cleared_total: st.weak_cleared_total,
            cleanups_run_total: st.cleanups_run_total,
            weak_time_max: st.weak_time_max,
            weak_clear_time_max: st.weak_clear_time_max,
            cycle_log: st.cycle_log.iter().copied().collect(),
        }
    }

    /// The given percentile (0–100) of the recent pauses.
    pub fn pause_percentile(&self, p: f64) -> Duration {
        if self.recent_pauses.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.recent_pauses.clone();
        v.sort();
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[i.min(v.len() - 1)]
    }
}
