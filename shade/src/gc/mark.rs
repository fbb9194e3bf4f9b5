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

/// One marking context — a mark worker, a mutator assisting, or the
/// collector greying roots: the work buffers it uses and its counters.
///
/// A `Marker` borrows its `GcWork` through a raw pointer (it is handed to
/// `Tracer`s, which cannot carry a second lifetime); it does not dispose the
/// buffers, so a mutator's assist can leave work in the mutator's own
/// buffers, and a worker disposes its buffers explicitly when it stops.
pub(crate) struct Marker {
    heap: *const MHeap,
    queues: *const WorkQueues,
    work: *mut GcWork,
    pub(crate) counters: MarkCounters,
}

impl Marker {
    /// # Safety
    /// `heap`, `queues` and `work` outlive the marker, and `work` is not
    /// used by anything else while the marker exists (markers live for one
    /// phase of one cycle, during which the runtime is borrowed).
    pub(crate) unsafe fn new(heap: &MHeap, queues: &WorkQueues, work: &mut GcWork) -> Marker {
        Marker { heap, queues, work, counters: MarkCounters::default() }
    }

    #[inline]
    fn work<'x>(&mut self) -> &'x mut GcWork {
        // SAFETY: see `new`: exclusive, and outlives every use.
        unsafe { &mut *self.work }
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
    #[inline(always)]
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
            self.work().put(q, base);
        }
    }

    /// Scans one grey object: visits its pointers, greying their targets.
    #[inline]
    fn scan(&mut self, base: usize) {
        // Only objects of in-use spans are queued, and their spans stay in
        // use until sweeping, which starts after marking ends.
        let span = self.heap().span_of(base).expect("grey object outside every in-use span");
        let info = span.ty();
        self.counters.objects_scanned += 1;
        let mut t = Tracer { kind: TracerKind::Mark(self) };
        // SAFETY: only marked, allocated, initialised objects are queued,
        // and an object's type is its span's.
        unsafe { (info.trace)(base as *const u8, &mut t) };
    }

    /// Drains work until every worker is idle. `nwait` counts idle workers
    /// out of `nworkers`.
    pub(crate) fn drain_until_done(&mut self, nwait: &AtomicUsize, nworkers: usize) {
        let mut since_balance = 0u32;
        loop {
            let q = self.queues();
            while let Some(obj) = self.work().try_get(q) {
                self.scan(obj);
                since_balance += 1;
                if since_balance >= 64 {
                    since_balance = 0;
                    if nwait.load(Relaxed) > 0 && !self.queues().has_full() {
                        self.work().balance(q);
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
        while let Some(obj) = self.work().try_get(q) {
            self.scan(obj);
        }
    }

    /// Marks until `budget` bytes have been marked or no work is left
    /// (a mutator's assist). Returns the bytes marked.
    pub(crate) fn drain_budget(&mut self, budget: usize) -> usize {
        let q = self.queues();
        let start = self.counters.bytes_marked;
        while self.counters.bytes_marked - start < budget {
            match self.work().try_get(q) {
                Some(obj) => self.scan(obj),
                None => break,
            }
        }
        self.counters.bytes_marked - start
    }

    /// Publishes every grey object this marker's buffers hold.
    pub(crate) fn dispose(&mut self) {
        let q = self.queues();
        self.work().dispose(q);
    }
}
