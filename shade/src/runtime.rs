//! The state one heap shares between its handles, mutators and collector.
//!
//! `Runtime` is what `Heap` (an `Arc<Runtime>`) and every `Mutator` point
//! to. It ties the mechanisms together: the memory (`heap::MHeap`), the
//! stop-the-world handshake (`gc::stw`), the pacer, the marker's work queues
//! and worker pool, the registry of attached mutators and their roots.
//! The mechanisms themselves live in their own modules; this file only
//! holds the shared record and the allocation slow paths that cross them.

use crate::api::config::Settings;
use crate::api::error::AllocError;
use crate::api::root::{LocalTable, RootNode};
use crate::gc::pacer::Pacer;
use crate::gc::stats::StatsRecord;
use crate::gc::stw::Stw;
use crate::gc::work::WorkQueues;
use crate::heap::cache::MCache;
use crate::heap::sizeclass::{SpanClass, PAGE_SIZE};
use crate::heap::span::Span;
use crate::heap::MHeap;
use crate::scheduler::WorkerPool;
use parking_lot::Mutex;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

static NEXT_HEAP_ID: AtomicU64 = AtomicU64::new(1);

/// Per-mutator state the collector may need to reach (Go's P).
pub(crate) struct MutatorState {
    /// The allocation cache. Touched by the owning thread while it is
    /// running, and by the collector only while the owner is stopped.
    pub(crate) cache: UnsafeCell<MCache>,
    /// Roots created by this mutator (shared with `Root` handles).
    pub(crate) roots: Mutex<Vec<Arc<RootNode>>>,
    /// Scoped roots (`Local`).
    pub(crate) locals: Mutex<LocalTable>,
}

// SAFETY: `cache` is only accessed by the owning thread while it runs and by
// the collector while the owner is stopped; the stop-the-world mutex orders
// the two (gc/stw.rs). Everything else is behind mutexes.
unsafe impl Sync for MutatorState {}
// SAFETY: as above.
unsafe impl Send for MutatorState {}

impl MutatorState {
    fn new() -> MutatorState {
        MutatorState {
            cache: UnsafeCell::new(MCache::new()),
            roots: Mutex::new(Vec::new()),
            locals: Mutex::new(LocalTable::default()),
        }
    }
}

pub(crate) struct Runtime {
    pub(crate) id: u64,
    pub(crate) settings: Settings,
    pub(crate) mheap: MHeap,
    pub(crate) stw: Stw,
    pub(crate) pacer: Pacer,
    pub(crate) queues: WorkQueues,
    pub(crate) workers: WorkerPool,
    pub(crate) mutators: Mutex<Vec<Arc<MutatorState>>>,
    /// Roots whose creating mutator has detached.
    pub(crate) orphan_roots: Mutex<Vec<Arc<RootNode>>>,
    pub(crate) stats: Mutex<StatsRecord>,
    pub(crate) cycle: AtomicU64,
    pub(crate) start: Instant,
}

impl Runtime {
    pub(crate) fn new(settings: Settings) -> std::io::Result<Runtime> {
        let reserve = settings.reserve;
        let limit = settings.heap_limit.unwrap_or(usize::MAX);
        Ok(Runtime {
            id: NEXT_HEAP_ID.fetch_add(1, Relaxed),
            mheap: MHeap::new(reserve, limit)?,
            stw: Stw::new(),
            pacer: Pacer::new(settings.gc_percent, settings.min_heap),
            queues: WorkQueues::new(),
            workers: WorkerPool::new(settings.mark_workers.saturating_sub(1)),
            mutators: Mutex::new(Vec::new()),
            orphan_roots: Mutex::new(Vec::new()),
            stats: Mutex::new(StatsRecord::default()),
            cycle: AtomicU64::new(0),
            start: Instant::now(),
            settings,
        })
    }

    /// Registers a new running mutator.
    pub(crate) fn attach(&self) -> Arc<MutatorState> {
        let st = Arc::new(MutatorState::new());
        self.stw.attach();
        self.mutators.lock().push(st.clone());
        st
    }

    /// Unregisters a running mutator: its cache goes back to the heap, its
    /// roots become orphans kept alive by their handles.
    pub(crate) fn detach(&self, st: &Arc<MutatorState>) {
        // SAFETY: the owner is running (not stopped), so no collector is
        // touching its cache; after this call nothing will.
        let (bytes, objects) = unsafe { (*st.cache.get()).release_all(&self.mheap, true) };
        self.pacer.uncharge(bytes, objects);
        let roots = std::mem::take(&mut *st.roots.lock());
        self.orphan_roots.lock().extend(roots);
        self.mutators.lock().retain(|m| !Arc::ptr_eq(m, st));
        self.stw.leave();
    }

    /// Asks for a collection at the next safepoint.
    pub(crate) fn request_gc(&self) {
        self.pacer.requested.store(true, Relaxed);
        self.stw.flag.store(true, Relaxed);
    }

    /// Allocation slow path for small objects: refill the cache's span of
    /// class `sc` and take a slot from it.
    #[cold]
    #[inline(never)]
    pub(crate) fn alloc_refill<'a>(&self, cache: &'a mut MCache, sc: SpanClass) -> Result<(usize, &'a Span), AllocError> {
        let (bytes, objects) = cache.refill(&self.mheap, sc)?;
        self.charge(bytes, objects);
        let (base, span) = cache.alloc_fast(sc).expect("refilled span has a free slot");
        Ok((base, span))
    }

    fn charge(&self, bytes: usize, objects: usize) {
        if self.pacer.charge(bytes, objects) {
            self.request_gc();
        }
    }

    /// Allocates a large object (a span of its own).
    #[cold]
    pub(crate) fn alloc_large(&self, size: usize, noscan: bool) -> Result<(usize, &Span), AllocError> {
        let npages = size.checked_add(PAGE_SIZE - 1).ok_or(AllocError::TooLarge { requested: size })? / PAGE_SIZE;
        let span = self.mheap.alloc_span(SpanClass::large(noscan), npages, npages * PAGE_SIZE)?;
        // A large span has one slot; the allocating thread is its holder
        // until it is published.
        let idx = span.next_free().expect("fresh large span");
        self.charge(npages * PAGE_SIZE, 1);
        Ok((span.base_of(idx), span))
    }

    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Every handle and mutator is gone: all objects are unreachable. Run
        // their destructors before the arena is unmapped.
        self.workers.shutdown();
        crate::gc::sweep::drop_all(self);
    }
}
