//! The collector's running statistics (the public view is `HeapStats`).

use std::time::Duration;

/// How many recent pauses are kept for percentiles.
pub(crate) const PAUSE_HISTORY: usize = 4096;

/// The stops of one cycle.
#[derive(Default)]
pub(crate) struct CyclePauses {
    /// Mark start: the longest any mutator spent on its own handshake work
    /// (the whole mark in stop-the-world mode).
    pub(crate) start: Duration,
    /// Termination attempts that found work and resumed concurrent marking.
    pub(crate) retries: Vec<Duration>,
    /// The final mark termination: its stop, or (ragged) the longest any
    /// mutator spent on its own handshake work in termination's rounds.
    pub(crate) termination: Duration,
    /// Whether the cycle had a termination apart from mark start (all but
    /// `gcstoptheworld` cycles).
    pub(crate) has_termination: bool,
    /// Longest wait, within this cycle's stops, for running mutators to
    /// reach a safepoint. Only the part after the first mutator blocked is
    /// in the pauses above (gc/stw.rs).
    pub(crate) stop_wait_max: Duration,
}

impl CyclePauses {
    pub(crate) fn all(&self) -> impl Iterator<Item = Duration> + '_ {
        std::iter::once(self.start)
            .chain(self.retries.iter().copied())
            .chain(self.has_termination.then_some(self.termination))
    }
}

#[derive(Default, Clone)]
pub(crate) struct StatsRecord {
    pub(crate) cycles: u64,
    pub(crate) live_objects: usize,
    pub(crate) live_bytes: usize,
    pub(crate) pause_total: Duration,
    pub(crate) pause_max: Duration,
    pub(crate) stop_wait_max: Duration,
    pub(crate) handshake_wait_max: Duration,
    pub(crate) handshake_work_max: Duration,
    pub(crate) late_mutator: Option<(u64, Duration)>,
    pub(crate) pause_count: u64,
    pub(crate) pauses: std::collections::VecDeque<Duration>,
    pub(crate) mark_time_total: Duration,
    pub(crate) sweep_time_total: Duration,
    pub(crate) cycle_time_total: Duration,
    pub(crate) released_bytes_total: usize,
    pub(crate) weak_cells: usize,
    pub(crate) weak_cleared_total: u64,
    pub(crate) cleanups_run_total: u64,
    pub(crate) weak_time_max: Duration,
    pub(crate) weak_clear_time_max: Duration,
    pub(crate) cycle_log: std::collections::VecDeque<crate::api::stats::CycleInfo>,
}

impl StatsRecord {
    pub(crate) fn record_pause(&mut self, d: Duration) {
        self.pause_total += d;
        self.pause_max = self.pause_max.max(d);
        self.pause_count += 1;
        if self.pauses.len() == PAUSE_HISTORY {
            self.pauses.pop_front();
        }
        self.pauses.push_back(d);
    }

    pub(crate) fn record_cycle(&mut self, c: crate::api::stats::CycleInfo) {
        if self.cycle_log.len() == PAUSE_HISTORY {
            self.cycle_log.pop_front();
        }
        self.cycle_log.push_back(c);
    }
}
