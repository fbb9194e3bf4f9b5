//! Marking: turning grey objects black until no grey object is left.
//!
//! Tri-colour terms, as used throughout Shade (see DESIGN.md):
//! * white: mark bit clear;
//! * grey: mark bit set, object queued in some `GcWork` (or, for noscan
//!   objects, never queued: they have nothing to scan, so they are black as
//!   soon as they are marked);
//! * black: mark bit set and object scanned.
//!
//! `Marker::mark` is the one place that greys an object: find its span
//! through the page table, compute its slot index, test-and-set the mark
//! bit, and queue the object unless its span is noscan. The write barrier's
//! flush uses the same steps in batch form.
//!
//! Parallel termination: every worker drains its own buffers and steals full
//! buffers from the global list. A worker with nothing to do counts itself
//! idle in `nwait`; it leaves the idle state when a full buffer appears. A
//! worker only publishes buffers while it is busy, and only becomes idle
//! after seeing the global list empty, so once all workers are idle at the
//! same time, no grey object exists anywhere and marking is complete.

use super::work::{GcWork, WorkQueues};
use crate::api::trace::{Tracer, TracerKind};
use crate::heap::object::{type_of, HEADER_SIZE};
use crate::heap::MHeap;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Counters one worker accumulates while marking.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct MarkCounters {
    pub(crate) objects_marked: usize,
    pub(crate) bytes_marked: usize,
    pub(crate) objects_scanned: usize,
}

impl std::ops::AddAssign for MarkCounters {
    fn add_assign(&mut self, o: MarkCounters) {
        self.objects_marked += o.objects_marked;
        self.bytes_marked += o.bytes_marked;
        self.objects_scanned += o.objects_scanned;
    }
}

/// One mark worker: its work buffers and counters.
pub(crate) struct Marker {
    heap: *const MHeap,
    queues: *const WorkQueues,
    pub(crate) work: GcWork,
    pub(crate) counters: MarkCounters,
}

impl Marker {
    /// # Safety
    /// `heap` and `queues` outlive the marker (markers live for one phase of
    /// one cycle, during which the runtime is borrowed by the collector).
    pub(crate) unsafe fn new(heap: &MHeap, queues: &WorkQueues) -> Marker {
        Marker { heap, queues, work: GcWork::new(), counters: MarkCounters::default() }
    }

    // The accessors return references not tied to `&self`, so the work
    // buffers (a field) can be borrowed mutably alongside them.
    #[inline]
    fn heap<'x>(&self) -> &'x MHeap {
        // SAFETY: see `new`: the heap outlives every use of the marker.
        unsafe { &*self.heap }
    }

    #[inline]
    fn queues<'x>(&self) -> &'x WorkQueues {
        // SAFETY: see `new`: the queues outlive every use of the marker.
        unsafe { &*self.queues }
    }

    /// Greys the object whose payload is at `p` (non-null).
    #[inline]
    pub(crate) fn mark(&mut self, p: usize) {
        let heap = self.heap();
        let Some(span) = heap.span_of(p) else {
            panic!("shade: marker found pointer {p:#x} outside every in-use span (heap corrupted)");
        };
        let idx = span.index_of(p);
        if span.mark.test_and_set(idx) {
            return;
        }
        self.counters.objects_marked += 1;
        self.counters.bytes_marked += span.elem_size.get();
        if !span.noscan() {
            let base = span.base_of(idx);
            let q = self.queues();
            self.work.put(q, base);
        }
    }

    /// Scans one grey object: visits its pointers, greying their targets.
    #[inline]
    fn scan(&mut self, base: usize) {
        // SAFETY: only marked, allocated, initialised objects are queued.
        let info = unsafe { type_of(base) };
        self.counters.objects_scanned += 1;
        let mut t = Tracer { kind: TracerKind::Mark(self) };
        // SAFETY: `base + HEADER_SIZE` is the payload of an object of the
        // type `info` describes.
        unsafe { (info.trace)((base + HEADER_SIZE) as *const u8, &mut t) };
    }

    /// Drains work until every worker is idle. `nwait` counts idle workers
    /// out of `nworkers`.
    pub(crate) fn drain_until_done(&mut self, nwait: &AtomicUsize, nworkers: usize) {
        let mut since_balance = 0u32;
        loop {
            let q = self.queues();
            while let Some(obj) = self.work.try_get(q) {
                self.scan(obj);
                since_balance += 1;
                if since_balance >= 64 {
                    since_balance = 0;
                    if nwait.load(Relaxed) > 0 && !self.queues().has_full() {
                        self.work.balance(q);
                    }
                }
            }
            nwait.fetch_add(1, SeqCst);
            let mut spins = 0u32;
            loop {
                if self.queues().has_full() {
                    nwait.fetch_sub(1, SeqCst);
                    break;
                }
                if nwait.load(SeqCst) == nworkers {
                    return;
                }
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Drains until this worker's own buffers and the global list are empty
    /// (single worker: no termination protocol needed).
    pub(crate) fn drain(&mut self) {
        let q = self.queues();
        while let Some(obj) = self.work.try_get(q) {
            self.scan(obj);
        }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        // Never strand grey objects in a private buffer.
        let q = self.queues;
        // SAFETY: see `new`.
        self.work.dispose(unsafe { &*q });
    }
}
