//! The pacer: when to start the next collection (Go's GOGC rule).
//!
//! After a cycle finds `live` bytes marked, the next cycle is due when the
//! heap has grown by `gc_percent`% over it: `goal = live * (1 + gc_percent /
//! 100)`, never below `min_heap`. Allocation is charged in span-sized chunks
//! by the mutators' caches (see `heap/cache.rs`), so the counter is touched
//! once per span, not once per object. When a charge crosses the goal, the
//! pacer raises the safepoint flag and the next mutator to reach a safepoint
//! runs the collection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

pub(crate) struct Pacer {
    gc_percent: usize,
    min_heap: usize,
    /// Bytes charged since the last cycle, plus the live bytes it found.
    pub(crate) heap_alloc: AtomicUsize,
    pub(crate) goal: AtomicUsize,
    pub(crate) live: AtomicUsize,
    pub(crate) requested: AtomicBool,
    /// Bytes and objects handed out over the heap's life (charged minus
    /// uncharged), for statistics.
    pub(crate) total_bytes: AtomicUsize,
    pub(crate) total_objects: AtomicUsize,
}

impl Pacer {
    pub(crate) fn new(gc_percent: usize, min_heap: usize) -> Pacer {
        Pacer {
            gc_percent,
            min_heap,
            heap_alloc: AtomicUsize::new(0),
            goal: AtomicUsize::new(min_heap),
            live: AtomicUsize::new(0),
            requested: AtomicBool::new(false),
            total_bytes: AtomicUsize::new(0),
            total_objects: AtomicUsize::new(0),
        }
    }

    /// Charges `bytes` of new allocation; returns true if that crossed the
    /// goal (the caller then requests a collection).
    pub(crate) fn charge(&self, bytes: usize, objects: usize) -> bool {
        self.total_bytes.fetch_add(bytes, Relaxed);
        self.total_objects.fetch_add(objects, Relaxed);
        let after = self.heap_alloc.fetch_add(bytes, Relaxed) + bytes;
        after >= self.goal.load(Relaxed) && !self.requested.load(Relaxed)
    }

    /// Takes back bytes charged for slots that were never used.
    pub(crate) fn uncharge(&self, bytes: usize, objects: usize) {
        self.total_bytes.fetch_sub(bytes, Relaxed);
        self.total_objects.fetch_sub(objects, Relaxed);
        let _ = self.heap_alloc.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(bytes)));
    }

    /// Sets the next goal from the live heap a cycle found.
    pub(crate) fn end_cycle(&self, live: usize) -> usize {
        let growth = (live as u128 * self.gc_percent as u128 / 100).min(usize::MAX as u128) as usize;
        let goal = live.saturating_add(growth).max(self.min_heap);
        self.live.store(live, Relaxed);
        self.heap_alloc.store(live, Relaxed);
        self.goal.store(goal, Relaxed);
        goal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_follows_gogc() {
        let p = Pacer::new(100, 4 << 20);
        assert_eq!(p.end_cycle(1 << 20), 4 << 20, "min heap applies");
        assert_eq!(p.end_cycle(10 << 20), 20 << 20);
        assert!(!p.charge(5 << 20, 1), "10 + 5 MiB is under the 20 MiB goal");
        assert!(p.charge(6 << 20, 1), "crossing the goal asks for a cycle");
        let q = Pacer::new(50, 0);
        assert_eq!(q.end_cycle(100 << 20), 150 << 20);
    }
}
