//! The collector's running statistics (the public view is `HeapStats`).

use std::time::Duration;

/// How many recent pauses are kept for percentiles.
pub(crate) const PAUSE_HISTORY: usize = 4096;

#[derive(Default, Clone)]
pub(crate) struct StatsRecord {
    pub(crate) cycles: u64,
    pub(crate) live_objects: usize,
    pub(crate) live_bytes: usize,
    pub(crate) freed_objects_total: u64,
    pub(crate) freed_bytes_total: u64,
    pub(crate) pause_total: Duration,
    pub(crate) pause_max: Duration,
    pub(crate) pauses: std::collections::VecDeque<Duration>,
    pub(crate) mark_time_total: Duration,
    pub(crate) sweep_time_total: Duration,
    pub(crate) released_bytes_total: usize,
}

impl StatsRecord {
    pub(crate) fn record_pause(&mut self, d: Duration) {
        self.pause_total += d;
        self.pause_max = self.pause_max.max(d);
        if self.pauses.len() == PAUSE_HISTORY {
            self.pauses.pop_front();
        }
        self.pauses.push_back(d);
    }
}
