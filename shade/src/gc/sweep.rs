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
//!
//! A destructor is user code running inside the collector, so what it may
//! do is bounded (`Destructor`, below): it may attach a mutator, allocate
//! and store, but it may not wait for a collection (`Runtime::collect`
//! panics), and on the coordinator thread it must not leave a mutator of
//! the heap running (the coordinator could never stop it: it aborts with a
//! message rather than hang). Marking is never on while a destructor runs:
//! sweeping ends before the next cycle's mark start, which needs every
//! mutator, a lazy sweeper included, at a safepoint; so a store made by a
//! destructor records nothing in a barrier buffer. Lazy sweeping runs
//! destructors inside an allocation; `Runtime::refill` holds no borrow of
//! the allocation cache across it, so a destructor may allocate on the same
//! mutator.

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

std::thread_local! {
    /// Destructors run by a sweep that are in progress on this thread.
    static IN_DESTRUCTOR: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread is inside a destructor run by a sweep.
pub(crate) fn in_destructor() -> bool {
    IN_DESTRUCTOR.with(|d| d.get() > 0)
}

/// Marks the extent of one destructor call on this thread (also when it
/// unwinds), and checks on the way out what it left behind.
struct Destructor {
    heap: u64,
}

impl Destructor {
    fn enter(heap: u64) -> Destructor {
        IN_DESTRUCTOR.with(|d| d.set(d.get() + 1));
        Destructor { heap }
    }
}

impl Drop for Destructor {
    fn drop(&mut self) {
        IN_DESTRUCTOR.with(|d| d.set(d.get() - 1));
        if super::collector::on_coordinator_of(self.heap) && super::stw::thread_has_running(self.heap) {
            // The coordinator would wait at the next stop for a mutator that
            // only its own thread can bring to a safepoint: a hang. Unwinding
            // cannot undo it (the mutator is owned by user code), so, like a
            // corrupt heap, it is fatal.
            eprintln!(
                "shade: fatal error: a destructor run by the collector left a Mutator of the heap being swept \
                 running on the collector's thread (attached and not dropped, or a ParkedMutator unparked); \
                 the collector could never stop it"
            );
            std::process::abort();
        }
    }
}

/// Runs user code the collector calls (a cleanup, gc/weak.rs) under the
/// same rules as a destructor; returns its panic, caught.
pub(crate) fn run_user_code(rt: &Runtime, f: impl FnOnce()) -> Option<Box<dyn std::any::Any + Send>> {
    let _guard = Destructor::enter(rt.id);
    catch_unwind(AssertUnwindSafe(f)).err()
}

/// Frees one dead object: destructor, then poison. Returns a caught panic.
fn free_object(
    rt: &Runtime,
    s: &Span,
    i: usize,
    run_drop: bool,
    clobber: bool,
) -> Option<Box<dyn std::any::Any + Send>> {
    let base = s.base_of(i);
    let mut panic = None;
    if run_drop {
        if let Some(d) = s.ty().drop {
            let _guard = Destructor::enter(rt.id);
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
    // Counted while it runs: the next cycle starts only when no sweep is
    // running, so destructors never run while a barrier is on
    // (gc/collector.rs, mark start). Released on unwinding too.
    struct Active<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Active<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }
    rt.sweeps_active.fetch_add(1, SeqCst);
    let _active = Active(&rt.sweeps_active);
    // Sweeping clears mark bits and frees spans, which a weak read in the
    // window tests; a queued span is only swept after the window closed.
    super::weak::publish_after_close();
    let clobber = rt.settings.clobber_free;
    let n = s.nelems.get();
    // SAFETY: this is the span's sweep: every mark of the cycle happened
    // before it, and the next cycle's marking waits for it
    // (`sweeps_active`, above).
    let live = unsafe { s.mark.count(n) };
    let allocated = s.alloc_count.get();
    let has_drop = s.has_drop();
    if (has_drop || clobber) && allocated > live {
        for i in 0..n {
            if s.is_allocated(i) && !s.mark.get(i) {
                if let Some(p) = free_object(rt, s, i, has_drop, clobber) {
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
                c.put_partial(sp, &rt.mheap.sweep_gen);
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
    debug_assert!(!rt.weak_clearing.is_open(), "spans queued for sweeping inside the weak clearing window");
    // Queueing changes `sweep_gen`, which a weak read in the window tests.
    super::weak::publish_after_close();
    // Not the heap's generation: until every mutator has left the cycle
    // that ended, its spans may still be in their caches (gc/termination.rs).
    let gen = rt.mheap.sweepable_gen.load(SeqCst);
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
/// giving up. Inside the weak clearing window, it first waits for the
/// window to close (milliseconds at most: the coordinator clears without
/// waiting on any mutator).
pub(crate) fn sweep_all_lazily(rt: &Runtime) -> usize {
    // A mutator has not left the cycle that ended yet: nothing can be
    // swept until it does, and waiting would make this mutator wait for
    // that one (gc/termination.rs). The allocation fails instead.
    if rt.mheap.sweepable_gen.load(SeqCst) != rt.mheap.sweep_gen.load(SeqCst) {
        return 0;
    }
    // Nothing may be freed before the last termination's weak references
    // are cleared (gc/weak.rs).
    rt.weak_clearing.wait_closed();
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
                drop(free_object(rt, s, i, true, false));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::api::trace::{Trace, Tracer};
    use crate::{Config, Heap, Mutator};
    use std::cell::{Cell, RefCell};
    use std::sync::atomic::Ordering::Relaxed;

    thread_local! {
        static MU: RefCell<Option<Mutator>> = const { RefCell::new(None) };
        static DROPS: Cell<usize> = const { Cell::new(0) };
        static NESTED: Cell<usize> = const { Cell::new(0) };
    }

    /// Allocates another `Reentrant` on this thread's mutator when dropped:
    /// run by a lazy sweep, that is an allocation inside an allocation.
    struct Reentrant(#[allow(dead_code)] u64);

    impl Drop for Reentrant {
        fn drop(&mut self) {
            // `try_with`: the heap may be dropped during thread teardown.
            let _ = DROPS.try_with(|d| d.set(d.get() + 1));
            let _ = MU.try_with(|m| {
                if let Ok(m) = m.try_borrow() {
                    if let Some(mu) = m.as_ref() {
                        let g = alloc_reentrant(mu, 1);
                        assert_eq!(g.0, 1);
                        let _ = NESTED.try_with(|n| n.set(n.get() + 1));
                    }
                }
            });
        }
    }

    /// Every allocation of a `Reentrant` goes through here, so that all of
    /// them use one descriptor address (one cache key): a constant's address
    /// is not unique across inlining sites, and the test needs the nested
    /// allocation to want the same spans as the outer one.
    #[inline(never)]
    fn alloc_reentrant(mu: &Mutator, v: u64) -> crate::Gc<'_, Reentrant> {
        mu.alloc(Reentrant(v))
    }

    // SAFETY: no GC pointers; the destructor reads no slot.
    unsafe impl Trace for Reentrant {
        const NO_TRACE: bool = true;
        fn trace(&self, _: &mut Tracer<'_>) {}
    }

    /// A destructor run by lazy sweeping inside `alloc` allocates on the
    /// same mutator. It used to do so while the outer allocation held
    /// `&mut MCache` (aliasing), and the outer refill then overwrote the
    /// span the nested allocation had installed for the same type, which
    /// was left with free slots on no list (leaked until the next cycle,
    /// its slots charged to the pacer and never used).
    #[test]
    fn a_destructor_run_by_lazy_sweeping_may_allocate_on_the_same_mutator() {
        // No pacing (no collector thread): the test plays mark termination.
        let heap = Heap::new(Config { read_env: false, gc_percent: usize::MAX, reserve: 1 << 30, ..Config::default() })
            .unwrap();
        MU.with(|m| *m.borrow_mut() = Some(heap.mutator()));
        let spans = 3;
        let rt = heap.rt.rt.clone();
        let mut firsts = Vec::new();
        let per_span = MU.with(|m| {
            let m = m.borrow();
            let mu = m.as_ref().unwrap();
            let first = alloc_reentrant(mu, 0);
            let per_span = rt.mheap.span_of(first.addr()).unwrap().nelems.get();
            firsts.push(first.addr());
            for i in 1..spans * per_span {
                let g = alloc_reentrant(mu, 0);
                if i % per_span == 0 {
                    firsts.push(g.addr());
                }
            }
            per_span
        });
        assert_eq!(firsts.len(), spans);
        // Mark termination by hand: nothing is marked but the first object
        // of each span (so sweeping leaves each span partly free rather than
        // freeing it), caches are emptied, partial lists forgotten, and
        // every span queued for sweeping.
        MU.with(|m| {
            let m = m.borrow();
            let mu = m.as_ref().unwrap();
            for &p in &firsts {
                let s = rt.mheap.span_of(p).unwrap();
                s.mark.test_and_set(s.index_of(p));
            }
            // SAFETY: this thread is the mutator's owner and no collector
            // thread runs.
            let (bytes, objects) = unsafe { (*mu.st.cache.get()).release_all(&rt.mheap, false) };
            rt.pacer.uncharge(bytes, objects);
        });
        rt.mheap.sweep_gen.fetch_add(1, Relaxed);
        rt.mheap.sweepable_gen.fetch_add(1, Relaxed);
        for c in rt.mheap.central.iter() {
            c.clear_partial();
        }
        super::queue(&rt);
        let class = rt.mheap.span_of(firsts[0]).unwrap().class.get();
        assert_eq!(rt.mheap.central[class.index()].unswept_len(), spans);

        // The outer allocation sweeps a span lazily; its destructors
        // allocate, which sweeps the next span lazily, and so on.
        MU.with(|m| {
            let m = m.borrow();
            let mu = m.as_ref().unwrap();
            let _ = alloc_reentrant(mu, 2);
        });
        assert!(NESTED.with(Cell::get) > 0, "destructors allocated during the lazy sweep");
        assert_eq!(DROPS.with(Cell::get), spans * (per_span - 1), "every dead object dropped once");
        // No span with free slots is lost: each is the cache's current span
        // or on the partial list.
        let key = rt.mheap.span_of(firsts[0]).unwrap().key();
        MU.with(|m| {
            let m = m.borrow();
            let mu = m.as_ref().unwrap();
            for &sp in rt.mheap.in_use.lock().iter() {
                // SAFETY: in-use span records are valid; nothing else runs.
                let s = unsafe { &*sp };
                if s.key() != key || s.free_count() == 0 {
                    continue;
                }
                // SAFETY: as above: the owner reads its own cache.
                let cached = unsafe { (*mu.st.cache.get()).holds(sp) };
                assert!(
                    cached || rt.mheap.central[class.index()].has_partial(key, sp),
                    "a span with {} free slots is neither cached nor on the partial list",
                    s.free_count()
                );
            }
        });
        MU.with(|m| m.borrow_mut().take());
    }
}
