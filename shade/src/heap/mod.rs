//! The memory side of the collector (Go's mheap): the arena, the page→span
//! table, spans and their size classes, the central per-class span lists and
//! the per-mutator allocation caches.
//!
//! Layering, from the bottom:
//!
//! * `os::Region`: one contiguous reservation, the arena.
//! * `pages::PageAlloc`: runs of 8 KiB pages within the arena (locked).
//! * `span::Span`: a run of pages carved into equal slots for objects of one
//!   type (objects have no header: `object.rs`), with side mark/alloc bitmaps. `MHeap::span_of` maps any address to its span in
//!   O(1) without a lock: `(addr - base) >> PAGE_SHIFT` indexes the page
//!   table, whose entries are published with release stores before any
//!   object of the span can exist.
//! * `central::Central`: per span class and type, the swept spans that still
//!   have free slots, and the spans still to sweep (Go's mcentral). Shared,
//!   locked per class.
//! * `cache::MCache`: per mutator, one current span per (type, span class)
//!   in use, in a small set-associative table. The small
//!   allocation fast path only touches the mutator's own cache and span: no
//!   lock, no atomic read-modify-write, no shared cache line.

pub(crate) mod cache;
pub(crate) mod central;
pub(crate) mod object;
pub(crate) mod pages;
pub mod sizeclass;
pub(crate) mod span;
pub(crate) mod value;

use crate::api::error::AllocError;
use crate::util::os::Region;
use central::Central;
use pages::PageAlloc;
use parking_lot::Mutex;
use sizeclass::{SpanClass, NUM_SPAN_CLASSES, PAGE_SHIFT, PAGE_SIZE};
use span::Span;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

/// Span records: allocated once, recycled, freed only with the heap, so the
/// page table can hand out `&Span` without a lock.
struct SpanRecords {
    free: Vec<*const Span>,
    all: Vec<*mut Span>,
}

// SAFETY: the raw pointers are owned records (Box::into_raw) only used under
// the enclosing mutex or through the page table's published `&Span`s.
unsafe impl Send for SpanRecords {}

/// The heap's memory: arena, page table, spans, central lists.
pub(crate) struct MHeap {
    region: Region,
    base: usize,
    len: usize,
    /// Bytes of pages that may be in use at once (the heap limit).
    limit: usize,
    page_table: Box<[AtomicPtr<Span>]>,
    pages: Mutex<PageAlloc>,
    records: Mutex<SpanRecords>,
    pub(crate) central: Box<[Central]>,
    /// Every span in use: mark termination queues them all for sweeping,
    /// and dropping the heap runs the destructors of their objects.
    /// A vector with O(1) removal (each span knows its index,
    /// `Span::in_use_idx`): no rehashing pause while mutators allocate.
    pub(crate) in_use: Mutex<Vec<*const Span>>,
    /// Bytes returned to the OS over the heap's life.
    pub(crate) released_total: AtomicUsize,
    /// Incremented at every mark termination (see `Span::sweep_gen`).
    pub(crate) sweep_gen: AtomicU64,
    /// Spans older than this may be queued for sweeping: `sweep_gen` once
    /// every mutator has left the cycle that ended (gc/termination.rs:
    /// until then some may still allocate black in the cycle's spans).
    pub(crate) sweepable_gen: AtomicU64,
}

// SAFETY: all mutable state is behind mutexes or atomics; the raw span
// pointers refer to records that live as long as the MHeap.
unsafe impl Sync for MHeap {}
// SAFETY: as above.
unsafe impl Send for MHeap {}

impl MHeap {
    /// Reserves an arena of `reserve` bytes, of which at most `limit` may be
    /// in use at once.
    pub(crate) fn new(reserve: usize, limit: usize) -> std::io::Result<MHeap> {
        let reserve = reserve.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let region = Region::reserve(reserve, PAGE_SIZE)?;
        if !value::fits_arena(region.base(), region.len()) {
            // Value words encode a pointer as the address itself, in the low
            // 48 bits above the immediates (heap/value.rs, invariant (V)).
            return Err(std::io::Error::other(format!(
                "the arena at {:#x}..{:#x} is outside the 48-bit range value words can point into",
                region.base(),
                region.base() + region.len()
            )));
        }
        let npages = reserve >> PAGE_SHIFT;
        // A zeroed allocation: the OS maps these pages lazily, so a large,
        // mostly unused table costs address space, not memory.
        // SAFETY: an all-zero `AtomicPtr` is a valid null pointer.
        let page_table: Box<[AtomicPtr<Span>]> = unsafe { Box::new_zeroed_slice(npages).assume_init() };
        Ok(MHeap {
            base: region.base(),
            len: region.len(),
            region,
            limit,
            page_table,
            pages: Mutex::new(PageAlloc::new(npages)),
            records: Mutex::new(SpanRecords { free: Vec::new(), all: Vec::new() }),
            central: (0..NUM_SPAN_CLASSES).map(|_| Central::new()).collect(),
            in_use: Mutex::new(Vec::new()),
            released_total: AtomicUsize::new(0),
            sweep_gen: AtomicU64::new(0),
            sweepable_gen: AtomicU64::new(0),
        })
    }

    /// The arena's address range.
    #[inline]
    pub(crate) fn bounds(&self) -> (usize, usize) {
        (self.base, self.len)
    }

    /// The span holding address `p`, if `p` is inside an in-use span.
    #[inline]
    pub(crate) fn span_of(&self, p: usize) -> Option<&Span> {
        let off = p.wrapping_sub(self.base);
        if off >= self.len {
            return None;
        }
        let s = self.page_table[off >> PAGE_SHIFT].load(Acquire);
        // SAFETY: non-null entries point to span records, which live as long
        // as the heap; the acquire load pairs with the release store in
        // `alloc_span`, so the record's geometry is visible.
        unsafe { s.as_ref() }
    }

    /// Allocates a span of `npages` pages for objects of type `ty` and
    /// `elem_size` bytes.
    pub(crate) fn alloc_span(
        &self,
        class: SpanClass,
        npages: usize,
        elem_size: usize,
        ty: &'static object::TypeInfo,
    ) -> Result<&Span, AllocError> {
        let first = {
            let mut pages = self.pages.lock();
            if (pages.in_use() + npages) * PAGE_SIZE > self.limit {
                return Err(AllocError::HeapLimit { requested: npages * PAGE_SIZE, limit: self.limit });
            }
            pages.alloc(npages).ok_or(AllocError::OutOfMemory { requested: npages * PAGE_SIZE })?
        };
        let rec = {
            let mut r = self.records.lock();
            match r.free.pop() {
                Some(s) => s,
                None => {
                    let s = Box::into_raw(Box::new(Span::new()));
                    r.all.push(s);
                    s as *const Span
                }
            }
        };
        // SAFETY: the record is ours alone: it came off the free list or was
        // just made, and is not yet in the page table.
        let span = unsafe { &*rec };
        // The record may have been a swept span a weak read in the clearing
        // window still tests: see gc/weak.rs, `publish_after_close` (a
        // release fence, free on x86).
        std::sync::atomic::fence(Release);
        let start = self.base + (first << PAGE_SHIFT);
        span.init(start, npages, class, elem_size, ty);
        span.in_use.store(true, Relaxed);
        // A fresh span has no marks from an earlier cycle: never queue it
        // for the sweep in progress. (Read under no lock: the generation
        // only changes with the world stopped, and we are running.)
        span.sweep_gen.store(self.sweep_gen.load(Relaxed), Relaxed);
        for e in &self.page_table[first..first + npages] {
            e.store(rec as *mut Span, Release);
        }
        {
            let mut v = self.in_use.lock();
            span.in_use_idx.set(v.len());
            v.push(rec);
        }
        Ok(span)
    }

    /// Returns a span's pages to the page heap. The caller holds the span
    /// and guarantees no object in it is reachable.
    pub(crate) fn free_span(&self, span: &Span, cycle: u64) {
        {
            let mut v = self.in_use.lock();
            let i = span.in_use_idx.get();
            debug_assert!(std::ptr::eq(v[i], span));
            v.swap_remove(i);
            if let Some(&moved) = v.get(i) {
                // SAFETY: in-use span records are valid; `in_use_idx` is
                // only touched under this lock.
                unsafe { (*moved).in_use_idx.set(i) };
            }
        }
        let first = (span.start.get() - self.base) >> PAGE_SHIFT;
        let n = span.npages.get();
        for e in &self.page_table[first..first + n] {
            e.store(std::ptr::null_mut(), Release);
        }
        span.in_use.store(false, Relaxed);
        self.pages.lock().free(first, n, cycle);
        self.records.lock().free.push(span as *const Span);
    }

    /// Gives free page runs that stayed unused for `min_age` cycles back to
    /// the OS, until at most `keep` bytes stay resident. Returns the bytes
    /// released.
    pub(crate) fn scavenge(&self, cycle: u64, min_age: u64, keep: usize) -> usize {
        // The runs come off the free lists under the lock and go back after
        // the `madvise`, so no mutator can be handed one (and see its new
        // objects zeroed) in between, and allocating mutators do not wait
        // for the system calls (releasing megabytes takes hundreds of µs).
        let runs = self.pages.lock().scavenge(cycle, min_age, 8, keep.div_ceil(PAGE_SIZE));
        let done: Vec<bool> = runs
            .iter()
            .map(|&(start, n)| self.region.release(self.base + (start << PAGE_SHIFT), n << PAGE_SHIFT))
            .collect();
        let mut bytes = 0;
        let mut pages = self.pages.lock();
        for (&(start, n), released) in runs.iter().zip(done) {
            pages.put_released(start, n, cycle, released);
            if released {
                bytes += n << PAGE_SHIFT;
            }
        }
        drop(pages);
        self.released_total.fetch_add(bytes, Relaxed);
        bytes
    }

    /// (pages in use, pages retained from the OS, free pages still resident).
    pub(crate) fn page_stats(&self) -> (usize, usize, usize) {
        let p = self.pages.lock();
        (p.in_use(), p.retained(), p.free_resident())
    }
}

impl Drop for MHeap {
    fn drop(&mut self) {
        let recs = self.records.get_mut();
        for &s in &recs.all {
            // SAFETY: records were made by Box::into_raw and nothing can use
            // them once the heap is being dropped.
            drop(unsafe { Box::from_raw(s) });
        }
    }
}
