//! The state one heap shares between its handles, mutators and collector.
//!
//! `Runtime` is what `Heap` (an `Arc<Runtime>`) and every `Mutator` point
//! to. It ties the mechanisms together: the memory (`heap::MHeap`), the
//! stop-the-world handshake (`gc::stw`), the pacer, the marker's work queues
//! and worker pool, the collector's coordinator thread, and the registry of
//! attached mutators and their roots. The mechanisms live in their own
//! modules; this file holds the shared record and the allocation slow paths
//! that cross them (refill with lazy sweeping and mark assists).

use crate::api::config::Settings;
use crate::api::error::AllocError;
use crate::barrier::wbbuf::{BarrierStats, WbBuf, WBBUF_LEN};
use crate::barrier::BarrierMode;
use crate::gc::collector::Coordinator;
use crate::gc::handshake::{Handshakes, MutatorSync};
use crate::gc::mark::{MarkCounters, Marker};
use crate::gc::pacer::Pacer;
use crate::gc::roots::{LocalTable, RootNode, StackWords};
use crate::gc::stats::StatsRecord;
use crate::gc::stw::Stw;
use crate::gc::sweep::{self, Swept};
use crate::gc::termination::TermWord;
use crate::gc::weak::{CleanupRecord, WeakClearing, WeakLists};
use crate::gc::work::{GcWork, WorkQueues};
use crate::heap::cache::{MCache, SpanKey};
use crate::heap::object::TypeInfo;
use crate::heap::sizeclass::{SpanClass, CLASS_PAGES, CLASS_SIZE, PAGE_SIZE};
use crate::heap::span::Span;
use crate::heap::MHeap;
use crate::scheduler::WorkerPool;
use parking_lot::Mutex;
use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

static NEXT_HEAP_ID: AtomicU64 = AtomicU64::new(1);

/// `MutatorState::black_gen` of a mutator that allocates white: no span
/// has this generation.
pub(crate) const NOT_BLACK: u64 = u64::MAX;

/// Most spans one allocation sweeps lazily before taking a fresh span.
const LAZY_SWEEP_BUDGET: usize = 16;

/// Heaps alive in the process. While there is only one, every `Gc` belongs
/// to it, so allocation can skip checking that a new object's pointers
/// point into its own heap (see `Mutator::check_pointers`).
pub(crate) static LIVE_HEAPS: LiveHeaps = LiveHeaps(std::sync::atomic::AtomicUsize::new(0));

/// `LIVE_HEAPS`'s counter, alone on its cache line: it is read on every
/// allocation and pointer store, so a neighbour written by another thread
/// must not keep evicting it.
#[repr(align(128))]
pub(crate) struct LiveHeaps(pub(crate) std::sync::atomic::AtomicUsize);

/// Per-mutator state the collector may need to reach (Go's P).
///
/// The `UnsafeCell` fields are used by the owning thread while it is
/// running, and by the collector only while the owner is stopped (parked or
/// waiting at a safepoint); the stop-the-world mutex orders the two.
pub(crate) struct MutatorState {
    /// Which mutator this is, within its heap (attach order, from 1):
    /// `Mutator::id`, and how gctrace and the stats name a late mutator.
    pub(crate) id: u64,
    /// This mutator's safepoint flag: a safepoint has something to do (a
    /// stop, a handshake, a deferred panic). Raised by anyone, lowered only
    /// by the owner at a safepoint (gc/handshake.rs says why that loses no
    /// raise).
    pub(crate) flag: AtomicBool,
    /// The barrier's first test (`barrier::WB_OFF`, `WB_RECORD`,
    /// `WB_EXACT`): off, or on because this mutator's barrier records
    /// (`marking`) or `wbcheck` validates every store; `WB_EXACT` while
    /// `Armed` (the overwritten value is taken with a swap).
    pub(crate) wb_mode: AtomicU8,
    /// This mutator's barrier records: it is `Armed` or `Scanned`.
    pub(crate) marking: AtomicBool,
    /// This mutator allocates black in spans of this sweep generation: the
    /// cycle's `marking_gen` while it is `Scanned`, `NOT_BLACK` otherwise.
    /// A span made after the cycle's marking closed carries a newer
    /// generation and is allocated white even by a mutator that has not
    /// left the cycle yet (gc/termination.rs).
    pub(crate) black_gen: AtomicU64,
    /// Whether the owner is running and which phase of the cycle this
    /// mutator is in (gc/handshake.rs). `wb_mode`, `marking`, `black`
    /// and the buffer's `per_store` change only under this lock (or with
    /// the world stopped), and are read by the owner.
    pub(crate) hs: Mutex<MutatorSync>,
    /// The allocation cache.
    pub(crate) cache: UnsafeCell<MCache>,
    /// The write barrier buffer.
    pub(crate) wb: UnsafeCell<WbBuf>,
    /// Mark work this mutator produced (barrier flushes) or took (assists).
    pub(crate) gcw: UnsafeCell<GcWork>,
    /// What this mutator's flushes found.
    pub(crate) wb_stats: UnsafeCell<BarrierStats>,
    /// Objects this mutator's flushes and assists marked.
    pub(crate) marked: UnsafeCell<MarkCounters>,
    /// Roots created by this mutator (shared with `Root` handles).
    pub(crate) roots: Mutex<Vec<Arc<RootNode>>>,
    /// Scoped roots (`Local`).
    pub(crate) locals: Mutex<LocalTable>,
    /// Root stacks (`RootStack`), shared with their handles.
    pub(crate) stacks: Mutex<Vec<Arc<StackWords>>>,
    /// Weak cells and cleanups this mutator registered (gc/weak.rs).
    pub(crate) weak: Mutex<WeakLists>,
}

// SAFETY: see the type's comment: the cells are used by one thread at a
// time, handed over through the stop-the-world mutex; the rest is locked.
unsafe impl Sync for MutatorState {}
// SAFETY: as above.
unsafe impl Send for MutatorState {}

impl MutatorState {
    fn new(s: &Settings, id: u64) -> MutatorState {
        // A zero-sized buffer sends every barrier to the slow path.
        let end = if s.wbcheck || s.barrier == BarrierMode::Eager {
            0
        } else if s.smallbuf {
            2
        } else {
            WBBUF_LEN - 2
        };
        MutatorState {
            id,
            flag: AtomicBool::new(false),
            wb_mode: AtomicU8::new(if s.wbcheck { crate::barrier::WB_RECORD } else { crate::barrier::WB_OFF }),
            marking: AtomicBool::new(false),
            black_gen: AtomicU64::new(NOT_BLACK),
            hs: Mutex::new(MutatorSync::new()),
            cache: UnsafeCell::new(MCache::new()),
            wb: UnsafeCell::new(WbBuf::new(end, s.record.entries_per_store())),
            gcw: UnsafeCell::new(GcWork::new()),
            wb_stats: UnsafeCell::new(BarrierStats::default()),
            marked: UnsafeCell::new(MarkCounters::default()),
            roots: Mutex::new(Vec::new()),
            locals: Mutex::new(LocalTable::default()),
            stacks: Mutex::new(Vec::new()),
            weak: Mutex::new(WeakLists::default()),
        }
    }
}

/// What heap handles (`Heap`, `Mutator`, `ParkedMutator`) hold. While any
/// exists, the collector's threads may run; when the last goes, its `Drop`
/// stops them (they hold their own references to the runtime), after which
/// the runtime itself is dropped with no other thread touching it.
pub(crate) struct Owner {
    pub(crate) rt: Arc<Runtime>,
}

impl std::ops::Deref for Owner {
    type Target = Runtime;
    #[inline]
    fn deref(&self) -> &Runtime {
        &self.rt
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.rt.coordinator.shutdown();
    }
}

pub(crate) struct Runtime {
    pub(crate) id: u64,
    /// This runtime, for threads that need their own reference.
    pub(crate) me: std::sync::Weak<Runtime>,
    pub(crate) settings: Settings,
    pub(crate) mheap: MHeap,
    pub(crate) stw: Stw,
    pub(crate) pacer: Pacer,
    pub(crate) queues: WorkQueues,
    pub(crate) workers: WorkerPool,
    pub(crate) coordinator: Coordinator,
    /// Tracing is allowed: every mutator's barrier is on (mark start's
    /// first round is complete) and termination has not happened yet.
    /// Assists run only then. Each mutator's own barrier and allocation
    /// colour are in its `MutatorState` (gc/handshake.rs).
    pub(crate) marking: AtomicBool,
    /// The ragged handshakes of mark start and termination (gc/handshake.rs).
    pub(crate) hs: Handshakes,
    /// The termination word (gc/termination.rs).
    pub(crate) term: TermWord,
    /// The sweep generation of the spans the cycle in progress marks (the
    /// heap's at mark start): `Scanned` mutators allocate black in them.
    pub(crate) marking_gen: AtomicU64,
    /// Mutators attached so far (`MutatorState::id`).
    pub(crate) next_mutator_id: AtomicU64,
    /// Spans being swept right now, by the coordinator or a mutator's lazy
    /// sweep. A cycle starts only when none is: a destructor must never
    /// run while some mutator's barrier is on (gc/sweep.rs).
    pub(crate) sweeps_active: AtomicUsize,
    /// Assists in progress (they may hold work taken from the global list;
    /// see `Coordinator::wait_for_work`).
    pub(crate) assists_active: AtomicUsize,
    pub(crate) mutators: Mutex<Vec<Arc<MutatorState>>>,
    /// Roots whose creating mutator has detached.
    pub(crate) orphan_roots: Mutex<Vec<Arc<RootNode>>>,
    /// Weak cells and cleanups of detached mutators.
    pub(crate) weak_orphans: Mutex<WeakLists>,
    /// The weak clearing window (gc/weak.rs).
    pub(crate) weak_clearing: WeakClearing,
    /// Cleanups whose target died, to run after the sweep.
    pub(crate) cleanups_ready: Mutex<Vec<CleanupRecord>>,
    /// Parked mutators dropped during a stop, detached by the collector.
    pub(crate) pending_detach: Mutex<Vec<Arc<MutatorState>>>,
    pub(crate) stats: Mutex<StatsRecord>,
    /// Barrier statistics of detached mutators and past cycles.
    pub(crate) barrier_stats: Mutex<BarrierStats>,
    /// Counters of flushes and assists of detached mutators this cycle.
    pub(crate) detached_marked: Mutex<MarkCounters>,
    /// First panic of a destructor run by a background or lazy sweep; it is
    /// resumed by the next `collect()`.
    pub(crate) deferred_panic: Mutex<Option<Box<dyn Any + Send>>>,
    pub(crate) cycle: AtomicU64,
    pub(crate) start: Instant,
}

impl Runtime {
    pub(crate) fn new(settings: Settings) -> std::io::Result<Arc<Runtime>> {
        let limit = settings.heap_limit.unwrap_or(usize::MAX);
        let mut pacer = Pacer::new(settings.gc_percent, settings.min_heap, settings.heap_limit);
        if settings.gcstoptheworld {
            pacer.set_trigger_at_goal();
        }
        let mheap = MHeap::new(settings.reserve, limit)?;
        LIVE_HEAPS.0.fetch_add(1, Relaxed);
        Ok(Arc::new_cyclic(|me| Runtime {
            id: NEXT_HEAP_ID.fetch_add(1, Relaxed),
            me: me.clone(),
            mheap,
            stw: Stw::new(),
            pacer,
            queues: WorkQueues::new(settings.mark),
            workers: WorkerPool::new(settings.mark_workers.saturating_sub(1)),
            coordinator: Coordinator::new(),
            marking: AtomicBool::new(false),
            hs: Handshakes::new(),
            term: TermWord::new(),
            marking_gen: AtomicU64::new(0),
            next_mutator_id: AtomicU64::new(0),
            sweeps_active: AtomicUsize::new(0),
            assists_active: AtomicUsize::new(0),
            mutators: Mutex::new(Vec::new()),
            orphan_roots: Mutex::new(Vec::new()),
            weak_orphans: Mutex::new(WeakLists::default()),
            weak_clearing: WeakClearing::new(),
            cleanups_ready: Mutex::new(Vec::new()),
            pending_detach: Mutex::new(Vec::new()),
            stats: Mutex::new(StatsRecord::default()),
            barrier_stats: Mutex::new(BarrierStats::default()),
            detached_marked: Mutex::new(MarkCounters::default()),
            deferred_panic: Mutex::new(None),
            cycle: AtomicU64::new(0),
            start: Instant::now(),
            settings,
        }))
    }

    /// Registers a new running mutator. It joins the cycle's handshakes in
    /// their target phase (it has no roots and holds no `Gc`); it reads the
    /// target after it is in the list, so a round that copies the list
    /// before the push still has it arrive at its target.
    pub(crate) fn attach(&self) -> Arc<MutatorState> {
        let id = self.next_mutator_id.fetch_add(1, Relaxed) + 1;
        let st = Arc::new(MutatorState::new(&self.settings, id));
        self.stw.attach();
        self.mutators.lock().push(st.clone());
        self.resume_handshakes(&st);
        st
    }

    /// Unregisters a running mutator: its barrier buffer is flushed and its
    /// mark work published (if marking), its cache goes back to the heap,
    /// its roots become orphans kept alive by their handles.
    pub(crate) fn detach(&self, st: &Arc<MutatorState>) {
        // A detaching mutator need not finish a round in progress: its
        // buffers are flushed here, and its roots become orphans, which the
        // collector greys after the round (gc/handshake.rs).
        let mut hs = st.hs.lock();
        // SAFETY: the owner is running (not stopped) and holds its `hs`
        // lock, so no collector is touching its state; after this call
        // nothing will.
        unsafe { self.release_mutator(st) };
        hs.running = false;
        drop(hs);
        self.hs.note_moved();
        self.stw.leave();
    }

    /// Raises every attached mutator's safepoint flag.
    pub(crate) fn raise_flags(&self) {
        for m in self.mutators.lock().iter() {
            m.flag.store(true, Release);
        }
    }

    /// With the world stopped: detaches the parked mutators whose handles
    /// were dropped while a stop was in progress.
    pub(crate) fn process_pending_detaches(&self) {
        for st in std::mem::take(&mut *self.pending_detach.lock()) {
            // SAFETY: the mutator is parked and the world is stopped: the
            // collector has exclusive use of its state.
            unsafe { self.release_mutator(&st) };
        }
    }

    /// Flushes a mutator's barrier buffer and publishes its mark buffers,
    /// so no grey object it holds stays private: what it publishes is on
    /// the global lists (`WorkQueues::has_full`), where a flush round of
    /// ragged termination finds it (gc/termination.rs).
    ///
    /// # Safety
    /// As for `release_mutator`.
    pub(crate) unsafe fn publish_mutator_work(&self, st: &MutatorState) {
        // SAFETY: per the contract.
        unsafe {
            crate::barrier::wbbuf::flush(self, st);
            (*st.gcw.get()).dispose(&self.queues);
        }
    }

    /// Hands a mutator's state back to the heap and unregisters it.
    ///
    /// # Safety
    /// The caller has exclusive use of `st`'s cells: it is `st`'s running
    /// owner, or the collector with `st` stopped.
    unsafe fn release_mutator(&self, st: &Arc<MutatorState>) {
        // SAFETY: per the contract.
        unsafe {
            self.publish_mutator_work(st);
            let (bytes, objects) = (*st.cache.get()).release_all(&self.mheap, true);
            self.pacer.uncharge(bytes, objects);
            *self.barrier_stats.lock() += std::mem::take(&mut *st.wb_stats.get());
            *self.detached_marked.lock() += std::mem::take(&mut *st.marked.get());
        }
        let roots = std::mem::take(&mut *st.roots.lock());
        self.orphan_roots.lock().extend(roots);
        self.weak_orphans.lock().append(&mut st.weak.lock());
        self.mutators.lock().retain(|m| !Arc::ptr_eq(m, st));
    }

    /// Small-object allocation slow path: find a span with free slots for
    /// objects of type `ty` and class `sc` (central list, lazy sweep, or a
    /// fresh span), install it in the mutator's cache, and take a slot.
    /// While marking, the mutator first pays for the allocation with mark
    /// work (an assist).
    ///
    /// Lazy sweeping runs destructors, which may allocate on this same
    /// mutator (and so refill its cache, even for this key): the cache is
    /// borrowed only after the span is found, never across user code.
    #[cold]
    #[inline(never)]
    pub(crate) fn refill(
        &self,
        st: &MutatorState,
        ty: &'static TypeInfo,
        sc: SpanClass,
    ) -> Result<(usize, &Span), AllocError> {
        let key = SpanKey::new(ty, sc);
        let central = &self.mheap.central[sc.index()];
        let mut budget = LAZY_SWEEP_BUDGET;
        let span = loop {
            if let Some(s) = central.take_partial(key) {
                break s;
            }
            // Lazy sweeping, bounded: when most queued spans are full of
            // live objects, searching them all for a free slot could stall
            // this allocation for milliseconds. Past the budget, take a
            // fresh span and leave the rest to the background sweeper.
            if budget > 0 {
                if let Some(s) = central.take_unswept(key) {
                    budget -= 1;
                    // SAFETY: popping the span made us its only holder.
                    match sweep::sweep_span(self, unsafe { &*s }) {
                        Swept::Partial => break s,
                        Swept::Full | Swept::Freed => continue,
                    }
                }
            }
            let c = sc.class() as usize;
            match self.mheap.alloc_span(sc, CLASS_PAGES[c] as usize, CLASS_SIZE[c] as usize, ty) {
                Ok(s) => break s as *const Span,
                Err(AllocError::HeapLimit { .. }) if sweep::sweep_all_lazily(self) > 0 => continue,
                Err(e) => return Err(self.alloc_failed(e)),
            }
        };
        // SAFETY: we hold the span.
        let s = unsafe { &*span };
        let (bytes, objects) = (s.free_count() * s.elem_size.get(), s.free_count());
        // SAFETY: the running owner has exclusive use of its cache; no user
        // code runs while this borrow lives (`install` and `charge` call none).
        let (unused, unused_objects) = unsafe { (*st.cache.get()).install(key, span, &self.mheap) };
        if unused_objects > 0 {
            self.pacer.uncharge(unused, unused_objects);
        }
        self.charge(bytes, objects);
        // Acquire: an assist scans, which must come after every barrier was
        // turned on (gc/handshake.rs).
        if self.marking.load(Acquire) {
            self.assist(st, bytes);
        }
        // The slot comes from the span itself, not through the cache: an
        // assist runs no user code, but taking it here keeps the refill
        // independent of what the cache holds by now.
        let idx = s.next_free().expect("refilled span has a free slot");
        Ok((s.base_of(idx), s))
    }

    /// Allocates a large object of type `ty` (a span of its own).
    #[cold]
    pub(crate) fn alloc_large(
        &self,
        st: &MutatorState,
        size: usize,
        noscan: bool,
        ty: &'static TypeInfo,
    ) -> Result<(usize, &Span), AllocError> {
        let npages = size.checked_add(PAGE_SIZE - 1).ok_or(AllocError::TooLarge { requested: size })? / PAGE_SIZE;
        let span = loop {
            match self.mheap.alloc_span(SpanClass::large(noscan), npages, npages * PAGE_SIZE, ty) {
                Ok(s) => break s,
                Err(AllocError::HeapLimit { .. }) if sweep::sweep_all_lazily(self) > 0 => continue,
                Err(e) => return Err(self.alloc_failed(e)),
            }
        };
        // A large span has one slot; the allocating thread holds the span
        // until the object is published.
        let idx = span.next_free().expect("fresh large span");
        self.charge(npages * PAGE_SIZE, 1);
        // Acquire: an assist scans, which must come after every barrier was
        // turned on (gc/handshake.rs).
        if self.marking.load(Acquire) {
            self.assist(st, npages * PAGE_SIZE);
        }
        Ok((span.base_of(idx), span))
    }

    /// An allocation failed: ask for a cycle, so that a `collect()` or a
    /// later retry can find the memory of dead objects.
    fn alloc_failed(&self, e: AllocError) -> AllocError {
        if matches!(e, AllocError::HeapLimit { .. }) {
            self.coordinator.request(self);
        }
        e
    }

    fn charge(&self, bytes: usize, objects: usize) {
        if self.pacer.charge(bytes, objects) {
            self.coordinator.request(self);
        }
    }

    /// A mark assist: a mutator that allocated `bytes` during marking does
    /// mark work in proportion (gc/pacer.rs), from its own buffers and the
    /// global lists, so allocation cannot outrun the marker.
    fn assist(&self, st: &MutatorState, bytes: usize) {
        let budget = self.pacer.assist_budget(bytes, self.queues.marked.load(Relaxed));
        if budget == 0 {
            return;
        }
        // Counted before taking work and released after publishing what is
        // left (SeqCst: the coordinator reads it after the global list);
        // released on unwinding too, or marking could never terminate.
        struct Active<'a>(&'a AtomicUsize);
        impl Drop for Active<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        self.assists_active.fetch_add(1, SeqCst);
        let active = Active(&self.assists_active);
        // SAFETY: the running owner has exclusive use of its work buffers.
        let idle = unsafe { (*st.gcw.get()).is_empty() } && !self.queues.has_full();
        // An assist about to scan announces it (gc/termination.rs); after
        // the close there is nothing to scan.
        if idle || !self.term.bump() {
            drop(active);
            self.pacer.assist_done(bytes);
            return;
        }
        // SAFETY: the running owner has exclusive use of its work buffers
        // and counters; the marker lives only within this call.
        unsafe {
            let gcw = &mut *st.gcw.get();
            let mut m = Marker::new(&self.mheap, &self.queues, gcw);
            let t = std::time::Instant::now();
            m.drain_budget(budget);
            m.counters.assist_time = t.elapsed();
            m.counters.assist_bytes = m.counters.bytes_marked;
            *st.marked.get() += m.counters;
            drop(m);
            // What the assist left grey goes to the global lists, where the
            // mark workers find it. Kept private, it would surface only at
            // the next termination attempt's flush, which would then find
            // work again and again, and after its last retry drain it all
            // with the world stopped (a 70 ms pause at binary-trees depth 21).
            if !gcw.is_empty() {
                gcw.dispose(&self.queues);
                self.wake_mark_workers();
            }
        }
        drop(active);
        self.pacer.assist_done(bytes);
    }

    /// Keeps the first destructor panic of a sweep, and raises the safepoint
    /// flag so that the next mutator to reach a safepoint resumes it.
    pub(crate) fn defer_panic(&self, p: Box<dyn Any + Send>) {
        self.deferred_panic.lock().get_or_insert(p);
        self.raise_flags();
    }

    /// Wakes an idle mark worker (a flush published a full work buffer).
    pub(crate) fn wake_mark_workers(&self) {
        self.coordinator.wake_marker();
    }

    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Every handle and mutator is gone and the coordinator has exited
        // (`Owner::drop`): all objects are unreachable. Stop the worker
        // threads, then run the destructors of every object before the
        // arena is unmapped.
        self.workers.shutdown();
        sweep::drop_all(self);
        LIVE_HEAPS.0.fetch_sub(1, Relaxed);
    }
}
