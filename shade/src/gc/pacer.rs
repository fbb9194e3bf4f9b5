//! The pacer: when to start the next cycle, and how much marking a mutator
//! must do for what it allocates while a cycle runs.
//!
//! Goal (Go's GOGC rule): after a cycle finds `live` bytes, the heap may
//! grow to `goal = live * (1 + gc_percent/100)` (never below `min_heap`)
//! before the next cycle must be *finished*. Because marking now runs
//! concurrently with allocation, the cycle *starts* earlier, at the
//! trigger: `live + 70%` of the allowed growth (the whole of it in
//! stop-the-world mode).
//!
//! Allocation is charged in span-sized chunks by the mutators' caches, so the
//! shared counter is touched once per span, not once per object.
//!
//! Assists (Go's assist ratio, revised at every assist): the mark work of a
//! cycle is estimated as the live bytes of the last one; the work left is
//! that minus what every marker has reported marking so far this cycle
//! (`WorkQueues::marked`, updated by the workers as they go), and the runway
//! left is the goal minus the heap now. A mutator that allocates `b` bytes
//! while marking must mark `b * work_left / runway_left` bytes itself before
//! it may continue. So while the background workers keep pace, assists stay
//! small; when the mutator outruns them, the ratio climbs as the runway
//! shrinks. Past the goal every assist does the most one may
//! (`MAX_ASSIST`). This keeps the heap near its goal without stopping
//! anybody, and bounds the stall of any one allocation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Most bytes one assist marks (a few hundred microseconds of work).
pub(crate) const MAX_ASSIST: usize = 512 << 10;

pub(crate) struct Pacer {
    gc_percent: usize,
    min_heap: usize,
    /// The heap limit, if any: the goal never exceeds 90% of it.
    limit: Option<usize>,
    /// Percent of the allowed growth after which a cycle starts.
    trigger_percent: usize,
    /// Bytes charged since the last cycle, plus the live bytes it found.
    pub(crate) heap_alloc: AtomicUsize,
    pub(crate) goal: AtomicUsize,
    pub(crate) trigger: AtomicUsize,
    pub(crate) live: AtomicUsize,
    pub(crate) requested: AtomicBool,
    /// Heap size when the current cycle's marking started.
    pub(crate) heap_at_mark_start: AtomicUsize,
    /// Bytes allocated by assisting mutators, over the heap's life.
    pub(crate) assisted_bytes_total: AtomicUsize,
    /// Bytes and objects handed out over the heap's life (charged minus
    /// uncharged), for statistics.
    pub(crate) total_bytes: AtomicUsize,
    pub(crate) total_objects: AtomicUsize,
}

impl Pacer {
    pub(crate) fn new(gc_percent: usize, min_heap: usize, limit: Option<usize>) -> Pacer {
        let min_heap = limit.map_or(min_heap, |l| min_heap.min(l / 10 * 9));
        Pacer {
            gc_percent,
            min_heap,
            limit,
            trigger_percent: 70,
            heap_alloc: AtomicUsize::new(0),
            goal: AtomicUsize::new(min_heap),
            trigger: AtomicUsize::new(min_heap * 7 / 10),
            live: AtomicUsize::new(0),
            requested: AtomicBool::new(false),
            heap_at_mark_start: AtomicUsize::new(0),
            assisted_bytes_total: AtomicUsize::new(0),
            total_bytes: AtomicUsize::new(0),
            total_objects: AtomicUsize::new(0),
        }
    }

    /// Starts cycles only at the goal (stop-the-world collection).
    pub(crate) fn set_trigger_at_goal(&mut self) {
        self.trigger_percent = 100;
        self.trigger.store(self.min_heap, Relaxed);
    }

    /// Charges `bytes` of new allocation; returns true if that crossed the
    /// trigger (the caller then requests a collection).
    pub(crate) fn charge(&self, bytes: usize, objects: usize) -> bool {
        self.total_bytes.fetch_add(bytes, Relaxed);
        self.total_objects.fetch_add(objects, Relaxed);
        let after = self.heap_alloc.fetch_add(bytes, Relaxed) + bytes;
        after >= self.trigger.load(Relaxed) && !self.requested.swap(true, Relaxed)
    }

    /// Takes back bytes charged for slots that were never used.
    pub(crate) fn uncharge(&self, bytes: usize, objects: usize) {
        self.total_bytes.fetch_sub(bytes, Relaxed);
        self.total_objects.fetch_sub(objects, Relaxed);
        let _ = self.heap_alloc.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(bytes)));
    }

    /// Mark start.
    pub(crate) fn start_cycle(&self) {
        self.heap_at_mark_start.store(self.heap_alloc.load(Relaxed), Relaxed);
    }

    /// Bytes of marking a mutator owes for allocating `bytes` now, capped
    /// at `MAX_ASSIST` per assist so one allocation never stalls for long
    /// (the next refill assists again).
    /// `marked` is what all markers reported marking so far this cycle.
    pub(crate) fn assist_budget(&self, bytes: usize, marked: usize) -> usize {
        let (heap, goal) = (self.heap_alloc.load(Relaxed), self.goal.load(Relaxed));
        if heap >= goal {
            return MAX_ASSIST;
        }
        let expected = self.live.load(Relaxed).max(1 << 20);
        // When marking has found more than the estimate, some work is
        // surely left still: keep an eighth of the estimate as pressure.
        let work_left = expected.saturating_sub(marked).max(expected / 8) as f64;
        let runway = (goal - heap).max(256 << 10) as f64;
        ((bytes as f64 * work_left / runway) as usize).min(MAX_ASSIST)
    }

    pub(crate) fn assist_done(&self, bytes: usize) {
        self.assisted_bytes_total.fetch_add(bytes, Relaxed);
    }

    /// Mark termination: sets the next goal and trigger from the live heap.
    pub(crate) fn end_cycle(&self, live: usize) -> usize {
        let growth = (live as u128 * self.gc_percent as u128 / 100).min(usize::MAX as u128) as usize;
        let mut goal = live.saturating_add(growth).max(self.min_heap);
        if let Some(l) = self.limit {
            goal = goal.min((l / 10 * 9).max(live));
        }
        let trigger = live + (goal - live) / 100 * self.trigger_percent;
        self.live.store(live, Relaxed);
        self.heap_alloc.store(live, Relaxed);
        self.goal.store(goal, Relaxed);
        self.trigger.store(trigger, Relaxed);
        self.requested.store(false, Relaxed);
        goal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_and_trigger_follow_gogc() {
        let p = Pacer::new(100, 4 << 20, None);
        assert_eq!(p.end_cycle(1 << 20), 4 << 20, "min heap applies");
        assert_eq!(p.end_cycle(10 << 20), 20 << 20);
        assert_eq!(p.trigger.load(Relaxed), (10 << 20) + (10 << 20) / 100 * 70);
        assert!(!p.charge(5 << 20, 1), "15 MiB is under the 17 MiB trigger");
        assert!(p.charge(3 << 20, 1), "crossing the trigger asks for a cycle");
        assert!(!p.charge(1 << 20, 1), "but only once");
        let q = Pacer::new(50, 0, None);
        assert_eq!(q.end_cycle(100 << 20), 150 << 20);
        let limited = Pacer::new(100, 4 << 20, Some(100 << 20));
        assert_eq!(limited.end_cycle(80 << 20), 90 << 20, "the goal stays under the heap limit");
    }

    #[test]
    fn assists_scale_with_runway() {
        let p = Pacer::new(100, 4 << 20, None);
        p.end_cycle(40 << 20); // goal 80 MiB
        p.heap_alloc.store(60 << 20, Relaxed);
        p.start_cycle(); // 40 MiB of work over a 20 MiB runway
        assert_eq!(p.assist_budget(64 << 10, 0), 128 << 10);
        assert_eq!(p.assist_budget(64 << 20, 0), MAX_ASSIST, "one assist is bounded");
        // The workers have done half the work: half the assist.
        assert_eq!(p.assist_budget(64 << 10, 20 << 20), 64 << 10);
        // Past the estimate, an eighth of it is still assumed left.
        assert_eq!(p.assist_budget(64 << 10, 50 << 20), 16 << 10);
        // Less runway: more assist.
        p.heap_alloc.store(70 << 20, Relaxed);
        assert_eq!(p.assist_budget(64 << 10, 20 << 20), 128 << 10);
        p.heap_alloc.store(81 << 20, Relaxed);
        assert_eq!(p.assist_budget(1, 0), MAX_ASSIST, "past the goal every assist does the most it may");
    }
}
