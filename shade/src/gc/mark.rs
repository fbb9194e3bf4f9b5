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
//! Prefetching: marking a large graph is bound by memory latency, not by
//! instructions: scanning an object starts with a load of its first word,
//! which for an object allocated long ago is a cache miss (a profile of the
//! `shared` benchmark put three quarters of the scan time on that load).
//! So a marker does not scan an object the moment it takes it from its
//! work buffer: it issues a prefetch for it and puts it in a small FIFO
//! (`PREFETCH_DISTANCE` objects), and scans the object that entered the FIFO
//! that many steps earlier, whose memory has had time to arrive. Objects in
//! the FIFO are grey and private to the marker, exactly like objects in its
//! work buffers; every drain ends with the FIFO empty (an assist that runs
//! out of budget puts what is left back into its buffers).
//!
//! Oblets: a large array is not scanned in one go. Its first scan queues
//! work items for each further `OBLET_BYTES` piece of it (interior
//! addresses, Go's oblets) and scans only the first piece, so one mark
//! assist, which stops after its budget, never scans more than a piece
//! (scanning a ring of 200,000 pointers whole stalled an allocation for over
//! a millisecond), and several workers can scan one array in parallel.
//!
//! Parallel termination: every worker drains its own buffers and steals full
//! buffers from the global list. A worker with nothing to do counts itself
//! idle in `nwait`; it leaves the idle state when a full buffer appears. A
//! worker only publishes buffers while it is busy, and only becomes idle
//! after seeing the global list empty, so once all workers are idle at the
//! same time, no grey object exists anywhere and marking is complete.

use super::work::{GcWork, WorkQueues};
use crate::api::trace::{Tracer, TracerKind};
use crate::heap::sizeclass::PAGE_SIZE;
use crate::heap::MHeap;
use crate::util::prefetch;
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
    /// Grey objects taken from the work buffers and prefetched, oldest at
    /// `pf_head` (see the module comment).
    pf: [usize; PREFETCH_DISTANCE],
    pf_head: usize,
    pf_len: usize,
    /// `counters.bytes_marked` already added to `WorkQueues::marked`.
    reported: usize,
}

impl Drop for Marker {
    fn drop(&mut self) {
        debug_assert_eq!(self.pf_len, 0, "a marker dropped grey objects held in its prefetch FIFO");
    }
}

/// How many objects a worker scans between two checks that the global
/// list has work for others (`share_if_starved`).
const BALANCE_EVERY: u32 = 64;

/// Large objects are scanned in pieces of this many bytes (see the module
/// comment).
pub(crate) const OBLET_BYTES: usize = 128 << 10;

/// How many objects ahead of the one being scanned a marker prefetches.
const PREFETCH_DISTANCE: usize = 8;

impl Marker {
    /// # Safety
    /// `heap`, `queues` and `work` outlive the marker, and `work` is not
    /// used by anything else while the marker exists (markers live for one
    /// phase of one cycle, during which the runtime is borrowed).
    pub(crate) unsafe fn new(heap: &MHeap, queues: &WorkQueues, work: &mut GcWork) -> Marker {
        Marker {
            heap,
            queues,
            work,
            counters: MarkCounters::default(),
            pf: [0; PREFETCH_DISTANCE],
            pf_head: 0,
            pf_len: 0,
            reported: 0,
        }
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

    /// The next grey object to scan: tops up the prefetch FIFO from the work
    /// buffers, then takes its oldest entry. `None` once both are empty.
    #[inline(always)]
    fn next_grey(&mut self) -> Option<usize> {
        let q = self.queues();
        while self.pf_len < PREFETCH_DISTANCE {
            match self.work().try_get(q) {
                Some(obj) => {
                    prefetch(obj);
                    self.pf[(self.pf_head + self.pf_len) % PREFETCH_DISTANCE] = obj;
                    self.pf_len += 1;
                }
                None => break,
            }
        }
        if self.pf_len == 0 {
            return None;
        }
        let obj = self.pf[self.pf_head];
        self.pf_head = (self.pf_head + 1) % PREFETCH_DISTANCE;
        self.pf_len -= 1;
        Some(obj)
    }

    /// Puts the objects of the prefetch FIFO back into the work buffers.
    fn unprefetch(&mut self) {
        let q = self.queues();
        while self.pf_len > 0 {
            let obj = self.pf[self.pf_head];
            self.pf_head = (self.pf_head + 1) % PREFETCH_DISTANCE;
            self.pf_len -= 1;
            self.work().put(q, obj);
        }
    }

    /// Scans one grey object (or oblet): visits its pointers, greying their
    /// targets.
    #[inline]
    fn scan(&mut self, obj: usize) {
        // Only objects of in-use spans are queued, and their spans stay in
        // use until sweeping, which starts after marking ends.
        let span = self.heap().span_of(obj).expect("grey object outside every in-use span");
        let info = span.ty();
        self.counters.objects_scanned += 1;
        if span.is_large() {
            let size = span.npages.get() * PAGE_SIZE;
            if let (true, Some(range)) = (size > OBLET_BYTES, info.trace_range) {
                let base = span.start.get();
                let from = obj - base;
                if from == 0 {
                    let q = self.queues();
                    for oblet in (base + OBLET_BYTES..base + size).step_by(OBLET_BYTES) {
                        self.work().put(q, oblet);
                    }
                }
                let mut t = Tracer { kind: TracerKind::Mark(self) };
                // SAFETY: a queued oblet lies in a marked, allocated,
                // initialised large object of the span's type, at `base`.
                unsafe { range(base as *const u8, from, from + OBLET_BYTES, &mut t) };
                return;
            }
        }
        let mut t = Tracer { kind: TracerKind::Mark(self) };
        // SAFETY: only marked, allocated, initialised objects are queued
        // (small objects and whole large ones by their base), and an
        // object's type is its span's.
        unsafe { (info.trace)(obj as *const u8, &mut t) };
    }

    /// Drains work until every worker is idle. `nwait` counts idle workers
    /// out of `nworkers`.
    pub(crate) fn drain_until_done(&mut self, nwait: &AtomicUsize, nworkers: usize) {
        let mut since_balance = 0u32;
        loop {
            while let Some(obj) = self.next_grey() {
                self.scan(obj);
                since_balance += 1;
                if since_balance >= BALANCE_EVERY {
                    since_balance = 0;
                    self.share_if_starved();
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
        let mut since_balance = 0u32;
        while let Some(obj) = self.next_grey() {
            self.scan(obj);
            since_balance += 1;
            if since_balance >= BALANCE_EVERY {
                since_balance = 0;
                self.share_if_starved();
            }
        }
    }

    /// Keeps the global list from running dry (Go's gcDrain does the same):
    /// when it is empty, publishes part of this worker's work. Other
    /// workers, and mutators' assists, take work only from there; without
    /// this a single background worker would hold every grey object
    /// privately, assists would find nothing to do, and a fast-allocating
    /// mutator would outrun the marker (at binary-trees depth 21 the heap
    /// overshot its goal by 20% during each cycle).
    /// Also reports the bytes marked since the last report to the pacer.
    #[inline]
    fn share_if_starved(&mut self) {
        let q = self.queues();
        if !q.has_full() {
            self.work().balance(q);
        }
        self.report();
    }

    /// Adds the bytes marked since the last report to `WorkQueues::marked`.
    pub(crate) fn report(&mut self) {
        let new = self.counters.bytes_marked - self.reported;
        if new > 0 {
            self.queues().marked.fetch_add(new, Relaxed);
            self.reported = self.counters.bytes_marked;
        }
    }

    /// Marks until `budget` bytes have been marked or no work is left
    /// (a mutator's assist). Returns the bytes marked.
    pub(crate) fn drain_budget(&mut self, budget: usize) -> usize {
        let start = self.counters.bytes_marked;
        while self.counters.bytes_marked - start < budget {
            match self.next_grey() {
                Some(obj) => self.scan(obj),
                None => break,
            }
        }
        self.unprefetch();
        self.report();
        self.counters.bytes_marked - start
    }

    /// Publishes every grey object this marker's buffers hold.
    pub(crate) fn dispose(&mut self) {
        self.unprefetch();
        let q = self.queues();
        self.work().dispose(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;
    use crate::{Config, Heap, Mutator, Slot, Trace};

    #[derive(Trace)]
    struct Pair {
        next: Slot<Pair>,
    }

    /// Runs `f` with a mutator of a fresh heap and a marker of the test's
    /// own, then publishes whatever the marker's buffers still hold.
    fn with_marker(f: impl FnOnce(&Mutator, &Runtime, &mut Marker)) {
        let heap = Heap::new(Config { read_env: false, ..Config::default() }).unwrap();
        let mu = heap.mutator();
        let rt = mu.runtime();
        let mut work = GcWork::new();
        // SAFETY: no collector runs (the tests allocate far less than the
        // minimum heap, and nothing asks for a cycle); the marker and its
        // buffers are the test's alone, and `work` outlives the marker.
        let mut m = unsafe { Marker::new(&rt.mheap, &rt.queues, &mut work) };
        f(&mu, rt, &mut m);
        drop(m);
        work.dispose(&rt.queues);
    }

    /// An assist that runs out of budget with objects in its prefetch FIFO
    /// hands them back: every grey object is scanned exactly once in the end.
    #[test]
    fn budgeted_drain_returns_prefetched_objects() {
        with_marker(|mu, rt, m| {
            let heads: Vec<usize> = (0..64)
                .map(|_| {
                    let tail = mu.alloc(Pair { next: Slot::null() });
                    mu.alloc(Pair { next: Slot::new(tail) }).addr()
                })
                .collect();
            for &h in &heads {
                m.mark(h);
            }
            let size = rt.mheap.span_of(heads[0]).unwrap().elem_size.get();
            let marked = m.drain_budget(3 * size);
            assert!(marked >= 3 * size && m.counters.objects_scanned < 128, "stopped early: {:?}", m.counters);
            assert_eq!(m.pf_len, 0, "the FIFO was emptied back into the buffers");
            m.drain();
            assert_eq!(m.counters.objects_scanned, 128, "heads and tails, each once");
            assert_eq!(m.counters.objects_marked, 128);
        });
    }

    /// A large pointer array is scanned in oblets: a budgeted drain (an
    /// assist) scans one piece, not the whole array, and the pieces together
    /// cover every element exactly once.
    #[test]
    fn large_arrays_are_scanned_in_oblets() {
        with_marker(|mu, _, m| {
            const N: usize = 4 * OBLET_BYTES / 8 + 100; // five oblets of 8-byte slots
            let arr = mu.alloc_array(N, |_| Slot::new(mu.alloc(Pair { next: Slot::null() })));
            m.mark(arr.addr());
            m.drain_budget(1);
            let per_oblet = OBLET_BYTES / 8;
            assert!(
                m.counters.objects_marked <= 1 + per_oblet,
                "one assist scanned more than one oblet: {:?}",
                m.counters
            );
            m.drain();
            assert_eq!(m.counters.objects_marked, 1 + N, "the array and every element, once");
            assert_eq!(m.counters.objects_scanned, 5 + N, "five oblets and each element once");
        });
    }

    /// A worker whose global list ran dry shares part of its private work,
    /// so assists and other workers find some, and it reports what it
    /// marked to the pacer's counter.
    #[test]
    fn a_worker_shares_work_when_the_global_list_is_empty() {
        with_marker(|mu, rt, m| {
            let objs: Vec<usize> = (0..32).map(|_| mu.alloc(Pair { next: Slot::null() }).addr()).collect();
            for &o in &objs {
                m.mark(o);
            }
            assert!(!rt.queues.has_full(), "marked objects stay in the worker's own buffers");
            let before = rt.queues.marked.load(Relaxed);
            m.share_if_starved();
            assert!(rt.queues.has_full(), "an empty global list gets part of the work");
            assert_eq!(rt.queues.marked.load(Relaxed) - before, m.counters.bytes_marked, "marked bytes reported");
            m.drain();
            assert_eq!(m.counters.objects_scanned, 32, "shared objects are still scanned once");
        });
    }
}
