//! Marking: turning grey objects black until no grey object is left.
//!
//! Tri-colour terms, as used throughout Shade (see DESIGN.md):
//! * white: mark byte clear;
//! * grey: mark byte set, object queued in some `GcWork` — or, in span
//!   mode, its grey bit set in a queued span (below); noscan objects are
//!   never queued: they have nothing to scan, so they are black as soon as
//!   they are marked;
//! * black: mark byte set and object scanned.
//!
//! `Marker::mark` is the one place that greys an object: find its span
//! through the page table, compute its slot index, test-and-set the mark
//! byte (heap/span.rs, `MarkBytes`: a plain store, so two racing markers
//! may both grey an object, which only scans it twice), and queue the
//! object unless its span is noscan. The write barrier's
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
//! Span-batched marking (`MarkMode::Span`, the default; Go 1.26's "Green
//! Tea" is the model). Object-at-a-time marking visits grey objects in the
//! order they come out of the work buffers, which for a large heap is a
//! random walk: each scan starts with a cache miss, and each grey object
//! costs a buffer entry and a second page-table lookup. In span mode a
//! newly marked small object is recorded in its span's `grey` bitmap, and
//! the span is queued only if it is not queued already (`queued`, claimed
//! with a swap: `Span::grey_and_claim`). The marker that takes a span out
//! of the buffers owns it: it scans every grey object of the span in
//! address order (the objects of one span are one run of memory, so this
//! streams through pages instead of hopping between them), one type
//! lookup per span; objects it marks in the span it is scanning go into a
//! private bitmap (`cur_grey`) with no atomic and no queueing. When a pass
//! finds nothing grey, the owner clears `queued` and looks at the grey bits
//! once more: a marker that set a bit after the owner's last pass swapped
//! `queued` either before the owner's clearing swap (then the owner's last
//! look sees the bit, and the owner claims the span again or finds it
//! claimed) or after it (then it read `false` and queued the span itself);
//! `Span::grey_and_claim` has the argument, tests/loom_span_mark.rs the
//! model. So every grey bit belongs
//! to a queued or owned span, an entry in some buffer stands for it, and
//! the termination argument below holds unchanged with "grey object" read
//! as "grey object or queued span". Large objects and their oblets are
//! queued one by one in both modes. Buffer entries tell spans from objects
//! by their low bit (`SPAN_TAG`; objects and span records are at least
//! 8-aligned). Objects allocated during marking are marked but never grey:
//! allocate-black needs no scan in either mode.
//!
//! Parallel termination: every worker drains its own buffers and steals full
//! buffers from the global list. A worker with nothing to do counts itself
//! idle in `nwait`; it leaves the idle state when a full buffer appears. A
//! worker only publishes buffers while it is busy, and only becomes idle
//! after seeing the global list empty, so once all workers are idle at the
//! same time, no grey object exists anywhere and marking is complete.

use super::work::{GcWork, WorkQueues};
use crate::api::trace::{Tracer, TracerKind};
use crate::heap::sizeclass::{BITMAP_WORDS, PAGE_SIZE};
use crate::heap::span::{Span, SPAN_TAG};
use crate::heap::MHeap;
use crate::util::prefetch;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Counters one worker accumulates while marking.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct MarkCounters {
    pub(crate) objects_marked: usize,
    pub(crate) bytes_marked: usize,
    pub(crate) objects_scanned: usize,
    /// Of `bytes_marked`, what mark assists marked, and the (wall) time
    /// they took (the mark rate's share of the mutators).
    pub(crate) assist_bytes: usize,
    pub(crate) assist_time: std::time::Duration,
}

impl std::ops::AddAssign for MarkCounters {
    fn add_assign(&mut self, o: MarkCounters) {
        self.objects_marked += o.objects_marked;
        self.bytes_marked += o.bytes_marked;
        self.objects_scanned += o.objects_scanned;
        self.assist_bytes += o.assist_bytes;
        self.assist_time += o.assist_time;
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
    /// `MarkMode::Span`.
    span_mode: bool,
    /// The span being scanned by `scan_span` (null outside it), and the
    /// objects this marker greyed in it meanwhile.
    cur: *const Span,
    cur_grey: [u64; BITMAP_WORDS],
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
            span_mode: queues.span_mode(),
            cur: std::ptr::null(),
            cur_grey: [0; BITMAP_WORDS],
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
        if span.noscan() {
            return;
        }
        if std::ptr::eq(span, self.cur) {
            // The span this marker is scanning: its loop will see the bit.
            self.cur_grey[idx / 64] |= 1 << (idx % 64);
        } else if let Some(entry) = span.grey_entry(idx, self.span_mode) {
            let q = self.queues();
            self.work().put(q, entry);
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

    /// Scans one work-buffer entry: a span (span mode) or an object or
    /// oblet: visits their pointers, greying the targets.
    #[inline]
    fn scan(&mut self, entry: usize) {
        if entry & SPAN_TAG != 0 {
            // SAFETY: tagged entries are made from span records
            // (`grey_entry`), which live as long as the heap; a queued span
            // stays in use until sweeping, after marking.
            let span = unsafe { &*((entry & !SPAN_TAG) as *const Span) };
            self.scan_span(span);
        } else {
            self.scan_object(entry);
        }
    }

    /// Scans every grey object of `span`, which this marker owns (it took
    /// the span's entry from a buffer), in address order, until a pass
    /// finds none; then gives the span up (see the module comment).
    fn scan_span(&mut self, span: &Span) {
        let trace = span.ty().trace;
        let (start, size, words) = (span.start.get(), span.elem_size.get(), span.bitmap_words());
        self.cur = span;
        loop {
            let mut found = false;
            for w in 0..words {
                loop {
                    let mut bits = std::mem::take(&mut self.cur_grey[w]) | span.grey.take_word(w);
                    if bits == 0 {
                        break;
                    }
                    found = true;
                    while bits != 0 {
                        let obj = start + (w * 64 + bits.trailing_zeros() as usize) * size;
                        bits &= bits - 1;
                        self.counters.objects_scanned += 1;
                        let mut t = Tracer { kind: TracerKind::Mark(self) };
                        // SAFETY: a grey bit is only set for a marked,
                        // allocated, initialised object of the span (its
                        // type is the span's), and the span stays in use
                        // until sweeping.
                        unsafe { trace(obj as *const u8, &mut t) };
                    }
                }
            }
            if !found && span.release_span() {
                break;
            }
        }
        self.cur = std::ptr::null();
    }

    /// Scans one grey object (or oblet): visits its pointers, greying their
    /// targets.
    #[inline]
    fn scan_object(&mut self, obj: usize) {
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
    use crate::{Config, Heap, MarkMode, Mutator, Slot, Trace};

    #[derive(Trace)]
    struct Pair {
        next: Slot<Pair>,
    }

    /// Runs `f` with a mutator of a fresh heap marking in `mode` and a
    /// marker of the test's own, then publishes whatever the marker's
    /// buffers still hold.
    fn with_marker_in(mode: MarkMode, f: impl FnOnce(&Mutator, &Runtime, &mut Marker)) {
        let heap = Heap::new(Config { read_env: false, mark: mode, ..Config::default() }).unwrap();
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

    fn with_marker(f: impl FnOnce(&Mutator, &Runtime, &mut Marker)) {
        with_marker_in(MarkMode::Object, f)
    }

    /// Whether every span holding `objs` is left with no grey bit and not
    /// queued (marking over: nothing for the sweeper to trip on).
    fn spans_clean(rt: &Runtime, objs: &[usize]) -> bool {
        objs.iter().all(|&o| {
            let s = rt.mheap.span_of(o).unwrap();
            !s.grey.any(BITMAP_WORDS) && !s.queued.load(SeqCst)
        })
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

    /// Span mode: objects of one span take one work entry, however many are
    /// marked; taking it out scans each grey object once, including those
    /// the scan itself greys in the same span (the tails), and leaves the
    /// span neither grey nor queued.
    #[test]
    fn span_mode_queues_a_span_once_and_scans_each_object_once() {
        with_marker_in(MarkMode::Span, |mu, rt, m| {
            let heads: Vec<usize> = (0..64)
                .map(|_| {
                    let tail = mu.alloc(Pair { next: Slot::null() });
                    mu.alloc(Pair { next: Slot::new(tail) }).addr()
                })
                .collect();
            let span = rt.mheap.span_of(heads[0]).unwrap();
            assert!(heads.iter().all(|&h| std::ptr::eq(rt.mheap.span_of(h).unwrap(), span)), "one span");
            for &h in &heads {
                m.mark(h);
            }
            assert!(span.queued.load(SeqCst) && span.grey.count(BITMAP_WORDS * 64) == 64);
            let entry = m.work().try_get(&rt.queues);
            assert_eq!(entry, Some(span as *const Span as usize | SPAN_TAG), "the span's one entry");
            assert_eq!(m.work().try_get(&rt.queues), None, "and nothing else");
            m.scan(entry.unwrap());
            assert_eq!(m.counters.objects_scanned, 128, "heads and tails, each once");
            assert_eq!(m.counters.objects_marked, 128);
            assert!(spans_clean(rt, &heads));
        });
    }

    /// Span mode, several markers at once: two threads mark one random graph
    /// of 20,000 nodes (spread over many spans, with cross-span and
    /// same-span edges) from disjoint halves of its roots. Exactly the
    /// reachable objects end marked, each scanned (at least) once, and no
    /// span is left grey or queued. (The race this cannot reliably hit, a
    /// bit set while its span's owner gives the span up, is loom's:
    /// tests/loom_span_mark.rs.)
    #[test]
    fn span_mode_parallel_markers_scan_every_object_once() {
        #[derive(Trace)]
        struct Node {
            a: Slot<Node>,
            b: Slot<Node>,
        }
        let heap = Heap::new(Config { read_env: false, mark: MarkMode::Span, ..Config::default() }).unwrap();
        let mu = heap.mutator();
        let rt = mu.runtime();
        const N: usize = 20_000;
        let nodes: Vec<_> = (0..N).map(|_| mu.alloc(Node { a: Slot::null(), b: Slot::null() })).collect();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize % N
        };
        for n in &nodes {
            n.a.set(&mu, nodes[rnd()]);
            n.b.set(&mu, nodes[rnd()]);
        }
        let addrs: Vec<usize> = nodes.iter().map(|n| n.addr()).collect();
        // What is reachable from the roots, found without the marker.
        let roots: Vec<usize> = (0..64).map(|_| addrs[rnd()]).collect();
        let index: std::collections::HashMap<usize, usize> = addrs.iter().enumerate().map(|(i, &a)| (a, i)).collect();
        let mut seen = vec![false; N];
        let mut stack: Vec<usize> = roots.iter().map(|r| index[r]).collect();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.push(index[&nodes[i].a.get(&mu).unwrap().addr()]);
                stack.push(index[&nodes[i].b.get(&mu).unwrap().addr()]);
            }
        }
        let reachable = seen.iter().filter(|&&s| s).count();
        let nwait = AtomicUsize::new(0);
        let counters: Vec<MarkCounters> = std::thread::scope(|sc| {
            let hs: Vec<_> = roots
                .chunks(32)
                .map(|half| {
                    let nwait = &nwait;
                    sc.spawn(move || {
                        let mut work = GcWork::new();
                        // SAFETY: no collector runs; each thread's marker
                        // and buffers are its own and outlive the marker.
                        let mut m = unsafe { Marker::new(&rt.mheap, &rt.queues, &mut work) };
                        for &r in half {
                            m.mark(r);
                        }
                        m.drain_until_done(nwait, 2);
                        m.dispose();
                        m.counters
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let scanned: usize = counters.iter().map(|c| c.objects_scanned).sum();
        let marked: usize = counters.iter().map(|c| c.objects_marked).sum();
        // Two markers that race on one object may both mark and grey it
        // (mark bytes are set with plain stores: heap/span.rs); that only
        // counts and scans it twice, and is rare.
        assert!(marked >= reachable && scanned >= reachable, "{marked} marked, {scanned} scanned of {reachable}");
        assert!(
            marked.max(scanned) <= reachable + reachable / 100,
            "{marked} marked, {scanned} scanned of {reachable}"
        );
        for (i, &a) in addrs.iter().enumerate() {
            let s = rt.mheap.span_of(a).unwrap();
            assert_eq!(s.mark.get(s.index_of(a)), seen[i], "node {i}: marked iff reachable");
        }
        assert!(spans_clean(rt, &addrs), "a span was left grey or queued");
        assert!(!rt.queues.has_full());
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
