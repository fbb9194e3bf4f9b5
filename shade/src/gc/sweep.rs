//! Sweeping: freeing what marking left white, concurrently with mutators.
//!
//! After mark termination, every span holding that cycle's marks is queued
//! on its class and type's `unswept` list (`queue`, heap/central.rs). From then on,
//! spans are swept by whoever pops them: the collector's coordinator thread
//! in the background (`sweep_background`)
//! or a mutator that needs a span of that class and type and finds no swept one
//! (lazy sweeping, `Runtime::refill`). Popping under the list's lock makes
//! the popper the span's only holder; no mutator allocates from an unswept
//! span (every cache was emptied at mark termination), so sweeping a span
//! races with nothing. The next cycle starts only after the coordinator has
//! emptied every list, so mark bits are never reset under a sweeper.
//!
//! Sweeping a span:
//!
//! 1. If the span's type has drop glue (`Span::has_drop`), or freed
//!    memory is to be poisoned (`clobberfree`, on by default in debug
//!    builds), visit each allocated-but-unmarked slot: run its destructor,
//!    poison it. Otherwise touch no object memory: freeing is bitmap work.
//! 2. If nothing survived, give the pages back to the page heap.
//! 3. Otherwise the mark bits become the allocation bits and, if the span
//!    has free slots, it goes on its class and type's `partial` list.
//!
//! Destructors run on the sweeping thread. The allocation API only accepts
//! `Send` types, so any thread is one the type allows. A panicking
//! destructor does not interrupt sweeping: it is caught, and the first such
//! panic is resumed by the next `collect()` call or mutator safepoint.

use crate::heap::object::POISON_BYTE;
use crate::heap::sizeclass::PAGE_SIZE;
use crate::heap::span::Span;
use crate::runtime::Runtime;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::*};

/// What became of a swept span.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Swept {
    /// Nothing survived: the pages went back to the page heap.
    Freed,
    /// Survivors and no free slot.
    Full,
    /// Survivors and free slots: the sweeper still holds it and decides
    /// where it goes (a cache, or the partial list).
    Partial,
}

/// Lifetime totals of what sweeping freed.
#[derive(Default)]
pub(crate) struct SweepTotals {
    pub(crate) objects: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) spans: AtomicU64,
}

/// Frees one dead object: destructor, then poison. Returns a caught panic.
fn free_object(s: &Span, i: usize, run_drop: bool, clobber: bool) -> Option<Box<dyn std::any::Any + Send>> {
    let base = s.base_of(i);
    let mut panic = None;
    if run_drop {
        if let Some(d) = s.ty().drop {
            // SAFETY: slot `i` is allocated, so it holds an initialised
            // object of the span's type; the object is unreachable (unmarked after a complete
            // mark), initialised, and dropped exactly once: its slot is free
            // from here on.
            panic = catch_unwind(AssertUnwindSafe(|| unsafe { d(base as *mut u8) })).err();
        }
    }
    if clobber {
        let len = if s.is_large() { s.npages.get() * PAGE_SIZE } else { s.elem_size.get() };
        // SAFETY: the slot is dead and about to be reused; nobody reads it.
        unsafe { std::ptr::write_bytes(base as *mut u8, POISON_BYTE, len) };
    }
    panic
}

/// Sweeps one span the caller holds.
pub(crate) fn sweep_span(rt: &Runtime, s: &Span) -> Swept {
    let clobber = rt.settings.clobber_free;
    let n = s.nelems.get();
    let live = s.mark.count(n);
    let allocated = s.alloc_count.get();
    let has_drop = s.has_drop();
    if (has_drop || clobber) && allocated > live {
        for i in 0..n {
            if s.is_allocated(i) && !s.mark.get(i) {
                if let Some(p) = free_object(s, i, has_drop, clobber) {
                    rt.defer_panic(p);
                }
            }
        }
    }
    let freed = (allocated - live) as u64;
    rt.coordinator.swept.objects.fetch_add(freed, Relaxed);
    rt.coordinator.swept.bytes.fetch_add(freed * s.elem_size.get() as u64, Relaxed);
    if live == 0 {
        rt.mheap.free_span(s, rt.cycle.load(Relaxed));
        rt.coordinator.swept.spans.fetch_add(1, Relaxed);
        return Swept::Freed;
    }
    s.reset_after_sweep(live);
    if s.free_count() > 0 && !s.is_large() {
        Swept::Partial
    } else {
        Swept::Full
    }
}

/// Sweeps every queued span (the coordinator, after mark termination).
/// Returns the number of spans swept.
pub(crate) fn sweep_background(rt: &Runtime) -> usize {
    let mut n = 0;
    for c in rt.mheap.central.iter() {
        while let Some(sp) = c.take_any_unswept() {
            // SAFETY: popping the span made us its only holder.
            let s = unsafe { &*sp };
            if sweep_span(rt, s) == Swept::Partial {
                c.put_partial(sp);
            }
            n += 1;
        }
    }
    n
}

/// After mark termination, with mutators running: queues every span
/// holding marks of the cycle that ended (its `sweep_gen` is older than
/// the heap's) for sweeping. Spans allocated since termination carry the
/// new generation and are skipped: their objects have no marks and must
/// not be swept.
pub(crate) fn queue(rt: &Runtime) {
    let gen = rt.mheap.sweep_gen.load(Relaxed);
    let mut by_class: Vec<Vec<_>> = vec![Vec::new(); rt.mheap.central.len()];
    // Copy the set rather than hold its lock while queueing: mutators
    // allocating fresh spans meanwhile need the lock.
    let spans: Vec<_> = rt.mheap.in_use.lock().clone();
    for sp in spans {
        // SAFETY: span records live as long as the heap. A span of an older
        // generation is held by nobody (caches were emptied at termination,
        // partial lists cleared) until claimed here; the compare-exchange
        // claims it once even if a mutator queues concurrently
        // (`sweep_all_lazily`). A span freed and reused since the copy
        // carries the current generation and is skipped.
        let s = unsafe { &*sp };
        let old = s.sweep_gen.load(Relaxed);
        if old < gen && s.sweep_gen.compare_exchange(old, gen, Relaxed, Relaxed).is_ok() {
            by_class[s.class.get().index()].push(sp);
        }
    }
    for (c, spans) in rt.mheap.central.iter().zip(by_class) {
        c.queue_unswept(&spans);
    }
}

/// A mutator ran into the heap limit: queue (if the coordinator has not yet)
/// and sweep everything, so the memory of dead objects is reusable before
/// giving up.
pub(crate) fn sweep_all_lazily(rt: &Runtime) -> usize {
    queue(rt);
    sweep_background(rt)
}

/// Runs the destructor of every allocated object. Used when the heap itself
/// is dropped: no handle or mutator is left, so nothing is reachable.
pub(crate) fn drop_all(rt: &Runtime) {
    let spans: Vec<_> = rt.mheap.in_use.lock().clone();
    for sp in spans {
        // SAFETY: in-use span records are valid and nothing else runs.
        let s = unsafe { &*sp };
        if !s.has_drop() {
            continue;
        }
        for i in 0..s.nelems.get() {
            if s.is_allocated(i) {
                // A destructor panicking while the heap is dropped cannot be
                // resumed from a destructor without aborting; it is dropped.
                drop(free_object(s, i, true, false));
            }
        }
    }
}
