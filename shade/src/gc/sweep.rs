//! Sweeping: freeing what marking left white.
//!
//! After marking, a span's mark bits say exactly which of its objects
//! survive. Sweeping a span:
//!
//! 1. If the span may hold objects with drop glue (`has_drop`), or freed
//!    memory is to be poisoned (`clobberfree`, always on in debug builds),
//!    visit each allocated-but-unmarked slot: run its destructor, poison it.
//!    Otherwise touch no object memory at all: freeing is bitmap work.
//! 2. If nothing survived, give the span's pages back to the page heap.
//! 3. Otherwise the mark bits become the allocation bits (`reset_after_sweep`)
//!    and, if the span has free slots, it goes on its class's central list.
//!
//! Destructors run on the sweeping thread; the allocation API only accepts
//! `Send` types, so that is always a thread the type allows. A panicking
//! destructor does not interrupt the sweep: the panic is caught, sweeping
//! finishes, and the first panic is resumed on the collecting thread after
//! the world restarts, so the heap is consistent when it unwinds.

use crate::heap::object::{type_of, HEADER_SIZE, POISON_BYTE};
use crate::heap::span::Span;
use crate::runtime::Runtime;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::*;

#[derive(Default)]
pub(crate) struct SweepResult {
    pub(crate) live_objects: usize,
    pub(crate) live_bytes: usize,
    pub(crate) freed_objects: usize,
    pub(crate) freed_bytes: usize,
    pub(crate) spans_freed: usize,
    pub(crate) drop_panic: Option<Box<dyn Any + Send>>,
}

/// Frees one dead object: destructor, then poison.
fn free_object(s: &Span, i: usize, run_drop: bool, clobber: bool, panic: &mut Option<Box<dyn Any + Send>>) {
    let base = s.base_of(i);
    if run_drop {
        // SAFETY: slot `i` is allocated, so its header was written.
        let info = unsafe { type_of(base) };
        if let Some(d) = info.drop {
            // SAFETY: the object is unreachable (unmarked after a complete
            // mark), initialised, and dropped exactly once: its slot is free
            // from here on.
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { d((base + HEADER_SIZE) as *mut u8) }));
            if let Err(p) = r {
                panic.get_or_insert(p);
            }
        }
    }
    if clobber {
        let len = if s.is_large() { s.npages.get() * crate::heap::sizeclass::PAGE_SIZE } else { s.elem_size.get() };
        // SAFETY: the slot is dead and about to be reused; nobody reads it.
        unsafe { std::ptr::write_bytes(base as *mut u8, POISON_BYTE, len) };
    }
}

/// Sweeps every in-use span. Runs with the world stopped.
pub(crate) fn sweep_all(rt: &Runtime, cycle: u64) -> SweepResult {
    let clobber = rt.settings.clobber_free;
    let mut res = SweepResult::default();
    let spans = std::mem::take(&mut *rt.mheap.in_use.lock());
    for c in rt.mheap.central.iter() {
        c.clear();
    }
    let mut keep = Vec::with_capacity(spans.len());
    for sp in spans {
        // SAFETY: in-use span records are valid; the world is stopped and
        // every cache has been released, so the sweeper holds every span.
        let s = unsafe { &*sp };
        let n = s.nelems.get();
        let live = s.mark.count(n);
        let allocated = s.alloc_count.get();
        let has_drop = s.has_drop.load(Relaxed);
        if (has_drop || clobber) && allocated > live {
            for i in 0..n {
                if s.is_allocated(i) && !s.mark.get(i) {
                    free_object(s, i, has_drop, clobber, &mut res.drop_panic);
                }
            }
        }
        let size = s.elem_size.get();
        res.freed_objects += allocated - live;
        res.freed_bytes += (allocated - live) * size;
        res.live_objects += live;
        res.live_bytes += live * size;
        if live == 0 {
            rt.mheap.free_span(s, cycle);
            res.spans_freed += 1;
        } else {
            s.reset_after_sweep(live);
            if s.free_count() > 0 && !s.is_large() {
                rt.mheap.central[s.class.get().index()].put(sp);
            }
            keep.push(sp);
        }
    }
    rt.mheap.in_use.lock().extend(keep);
    res
}

/// Runs the destructor of every allocated object. Used when the heap itself
/// is dropped: no handle or mutator is left, so nothing is reachable.
pub(crate) fn drop_all(rt: &Runtime) {
    let spans = std::mem::take(&mut *rt.mheap.in_use.lock());
    let mut panic = None;
    for sp in spans {
        // SAFETY: in-use span records are valid and nothing else runs.
        let s = unsafe { &*sp };
        if !s.has_drop.load(Relaxed) {
            continue;
        }
        for i in 0..s.nelems.get() {
            if s.is_allocated(i) {
                free_object(s, i, true, false, &mut panic);
            }
        }
    }
    // A destructor panicked while the heap was being dropped; the heap is
    // going away regardless, so the panic is dropped rather than resumed in
    // a destructor (which would abort).
    drop(panic);
}
