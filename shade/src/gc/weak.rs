//! Weak references and cleanups: what the collector does for them (Go's
//! weak handles and `AddCleanup`, reduced to what a non-moving collector
//! needs).
//!
//! A weak reference is a small heap object, a *weak cell*, whose first word
//! holds the payload address of its target, or 0 once cleared. The cell's
//! type is pointer-free as far as the marker knows (`NO_TRACE`), so marking
//! never follows it: the target survives only if something else reaches it.
//! Handles (`Weak`, `WeakRoot`, toolkit/weak.rs) hold the cell strongly.
//! Every cell is registered, when it is made, in its mutator's `WeakLists`
//! (no global lock); a detaching mutator hands its lists to the runtime.
//!
//! Weak processing runs in two parts.
//!
//! **At mark termination**, `converge_ephemerons` marks the values of
//! marked keys (it marks, so it runs before marking closes: with ragged
//! termination, with mutators running, each table under its lock; with
//! `termination=stop`, in the stop), then, marking complete, `take_lists`
//! takes every registered list (moving vectors, not walking them) and opens
//! the *clearing window*: `WeakClearing::open`.
//!
//! **Once every mutator has left the cycle** (ragged) or after the restart
//! (stop), the coordinator runs `clear` before it queues a single span for
//! sweeping, with mutators running:
//!
//! * a cell that is not marked is dead itself: it leaves the list (the
//!   sweep frees it);
//! * a live cell whose target is dead is cleared;
//! * a live weak table (toolkit/weak_set.rs, weak_map.rs) clears, through
//!   the function it registered and under its own lock, its dead entries;
//! * a cleanup whose target is dead moves to the ready queue, and runs on
//!   the coordinator after the sweep (`run_ready`).
//!
//! The survivors go back to the runtime's list, and the window closes
//! (`close`, a release store). Only then are spans queued for sweeping.
//!
//! **Dead, during the window**, means `!alive_in_window(p)`: `p`'s span
//! existed at termination (its `sweep_gen` is older than the heap's) and
//! `p` is unmarked. Nothing frees memory or clears a mark bit while the
//! window is open (the sweep has not been queued, and a mutator at the heap
//! limit waits for the window before sweeping, `wait_closed`); objects
//! allocated since termination are in fresh spans, which carry the new
//! generation. So the predicate is exact and stable for as long as the
//! window is open. Cells registered during the window are in new lists,
//! not cleared this cycle: their targets were live when they were made.
//!
//! **Why a weak read is safe.** Three cases.
//!
//! 1. *Marking runs* (the reader's barrier is on): `upgrade` turns a weak
//!    reference into a strong pointer the marker may never have seen (the
//!    target need not have been reachable at the snapshot). So it *shades*
//!    the target (`barrier::shade_weak`): an unmarked target is marked at
//!    once by a one-entry flush, which bumps the termination word first
//!    (gc/termination.rs), so the target is marked this cycle. If marking
//!    has already closed (the reader has not left the cycle yet), the flush
//!    marks nothing and the target is dead unless its span was made since
//!    the close — the clearing's own predicate, final for the cycle's
//!    spans — and `upgrade` returns `None`.
//! 2. *The window is closed* (and marking off): every cell of the last
//!    termination's lists with a dead target was cleared before the close,
//!    and the reader's acquire load of the flag, before its load of the
//!    cell, sees those clears. So a non-null target is alive until the next
//!    termination, which only happens while the reading mutator is stopped
//!    (the borrow argument of DESIGN.md §4).
//! 3. *The window is open*: the cell may still name a dead target, so the
//!    reader decides with the same predicate as the collector
//!    (`read_target`): it reads the span record, its generation and the
//!    mark bit, then an acquire fence, then the flag again. If the flag is
//!    still open, nothing it read was written after the close: every write
//!    to span metadata after the close (queueing, sweeping, reusing a span)
//!    is preceded on its thread by a release fence that itself follows the
//!    close, and reading such a write would synchronise that fence with
//!    the reader's, making the close visible. So the predicate held its
//!    window value and its answer is exact. If the flag closed meanwhile,
//!    the reader reloads the cell, now final (case 2). `tests/loom_weak.rs`
//!    checks this protocol in a model.
//!
//! Weak tables take the other path to the same end: a table's operations
//! hold its lock, and a table cleared since the last termination never
//! needs the predicate; one that is not yet cleared holds the window open
//! (the coordinator needs the lock to clear it before closing), so under
//! the lock the predicate is stable without fences.
//!
//! Cleanups: a function registered for a target runs once, after a cycle
//! found the target unreachable; it cannot reach the target (it is a
//! `'static + Send` closure, and `Gc` is neither; a `Root` of the target
//! inside it would keep the target alive, so it would never run, as in Go).
//! It runs on the coordinator thread, guarded like a destructor
//! (gc/sweep.rs): a panic is caught and resumed at the next safepoint or
//! `collect`. Cleanups still waiting when the heap is dropped never run.
//!
//! Cost: the pause pays O(ephemeron entries) for the convergence and
//! O(mutators) for the rest; the window, running beside the mutators,
//! pays O(weak cells + table entries + cleanups) (DESIGN.md §10 has the
//! figures).

use crate::gc::mark::{MarkCounters, Marker};
use crate::gc::work::GcWork;
use crate::runtime::Runtime;
use parking_lot::{Condvar, Mutex};
use std::any::Any;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;

/// A registered cleanup.
pub(crate) struct CleanupRecord {
    /// Payload address of the object it waits for.
    pub(crate) target: usize,
    pub(crate) run: Box<dyn FnOnce() + Send>,
    /// Set by `Cleanup::stop`: dropped without running.
    pub(crate) stopped: Arc<AtomicBool>,
}

/// Clears the dead entries of a weak table: takes the table's lock,
/// replaces every entry whose object is not `alive` with a tombstone,
/// records that the table is clean as of sweep generation `gen` (so its
/// own operations stop testing liveness), and returns how many it cleared.
///
/// # Safety
/// Called by the coordinator during the clearing window, with `table`
/// marked at the termination that opened it and of the type that
/// registered this function.
pub(crate) type ClearFn = unsafe fn(table: usize, alive: &dyn Fn(usize) -> bool, gen: u64) -> usize;

/// A weak table (toolkit/weak_set.rs, weak_map.rs): a heap object whose
/// entries are weak. The collector knows nothing of its layout: it calls
/// the functions the table registered.
pub(crate) struct WeakTable {
    pub(crate) table: usize,
    pub(crate) clear: ClearFn,
    /// For ephemeron tables (toolkit/weak_map.rs): one round of ephemeron
    /// marking, at termination (see `EphemeronFn`).
    pub(crate) ephemeron: Option<EphemeronFn>,
}

/// One round of an ephemeron table: marks, through `mark`, the value of
/// every entry whose key is marked and returns how many it marked. Keeps
/// `pending`, the table's buffer address and the indices of the entries
/// whose key is not (yet) marked: on the first round (`pending` is `None`),
/// or if the buffer was replaced since, it scans every entry and fills it;
/// later rounds scan only the pending entries, so a table of live keys
/// costs one pass, not one per round. Holds the table's lock.
///
/// # Safety
/// Marking in progress, mark workers idle; `table` is marked, of the type
/// that registered this function.
pub(crate) type EphemeronFn = unsafe fn(
    table: usize,
    is_marked: &dyn Fn(usize) -> bool,
    mark: &mut dyn FnMut(usize),
    pending: &mut Option<(usize, Vec<u32>)>,
) -> usize;

/// The weak cells, weak tables and cleanups one mutator (or, after
/// detaching, the runtime) registered.
#[derive(Default)]
pub(crate) struct WeakLists {
    /// Payload addresses of weak cells.
    pub(crate) cells: Vec<usize>,
    pub(crate) tables: Vec<WeakTable>,
    pub(crate) cleanups: Vec<CleanupRecord>,
}

impl WeakLists {
    /// Moves `other`'s entries here (by swapping vectors when this side
    /// is empty: the lists can hold millions of cells).
    pub(crate) fn append(&mut self, other: &mut WeakLists) {
        fn join<T>(a: &mut Vec<T>, b: &mut Vec<T>) {
            if a.is_empty() {
                std::mem::swap(a, b);
            } else {
                a.append(b);
            }
        }
        join(&mut self.cells, &mut other.cells);
        join(&mut self.tables, &mut other.tables);
        join(&mut self.cleanups, &mut other.cleanups);
    }
}

/// What one cycle's weak processing found, for stats.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct WeakReport {
    /// Live weak cells (weak tables are not counted; their cleared entries
    /// are, in `cleared`).
    pub(crate) cells: usize,
    pub(crate) cleared: usize,
    pub(crate) cleanups_ready: usize,
    /// Rounds of ephemeron marking (0: no ephemeron table), and what they
    /// marked.
    pub(crate) ephemeron_rounds: usize,
    pub(crate) ephemeron_marked: MarkCounters,
}

/// The clearing window: open from a mark termination until its weak
/// references are cleared (module comment).
pub(crate) struct WeakClearing {
    open: AtomicBool,
    lock: Mutex<()>,
    closed: Condvar,
}

impl WeakClearing {
    pub(crate) fn new() -> WeakClearing {
        WeakClearing { open: AtomicBool::new(false), lock: Mutex::new(()), closed: Condvar::new() }
    }

    /// Whether the window is open (acquire: after a `false`, the clears of
    /// the last window are visible).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Acquire)
    }

    /// Blocks until the window is closed. For a mutator that must sweep
    /// (at the heap limit): memory may be freed only after the clears. The
    /// window closes without waiting on any mutator, so this is bounded by
    /// the clearing work.
    pub(crate) fn wait_closed(&self) {
        if !self.is_open() {
            return;
        }
        let mut g = self.lock.lock();
        while self.open.load(Acquire) {
            self.closed.wait(&mut g);
        }
    }

    fn close(&self) {
        let _g = self.lock.lock();
        self.open.store(false, Release);
        self.closed.notify_all();
    }
}

/// The lists taken at termination, cleared in the window.
pub(crate) struct Snapshot {
    lists: Vec<WeakLists>,
}

/// The target word of a weak cell.
///
/// # Safety
/// `cell` is the payload address of an allocated weak cell.
pub(crate) unsafe fn target_word<'a>(cell: usize) -> &'a AtomicUsize {
    // SAFETY: a weak cell's first word is an `AtomicUsize` (toolkit/weak.rs,
    // `WeakCell` is `repr(C)`), and the caller guarantees it is allocated.
    unsafe { &*(cell as *const AtomicUsize) }
}

fn is_marked(rt: &Runtime, p: usize) -> bool {
    match rt.mheap.span_of(p) {
        Some(s) => s.mark.get(s.index_of(p)),
        None => false,
    }
}

/// Liveness during the clearing window of generation `gen` (module
/// comment): allocated since termination (a fresh span) or marked.
/// Exact while the window is open; racy reads are the caller's to
/// validate (`read_target`).
pub(crate) fn alive_in_window(rt: &Runtime, p: usize, gen: u64) -> bool {
    match rt.mheap.span_of(p) {
        Some(s) => s.sweep_gen.load(Relaxed) == gen || s.mark.get(s.index_of(p)),
        None => false,
    }
}

/// Whether a weak table last cleared at generation `cleared` must still
/// test its entries' liveness: it is not clean for the current generation.
/// The caller holds the table's lock (so the window stays open meanwhile).
#[inline]
pub(crate) fn table_needs_test(rt: &Runtime, cleared: u64) -> bool {
    cleared != rt.mheap.sweep_gen.load(Relaxed)
}

/// The current sweep generation (what a new table records as its clean
/// generation: it holds nothing the last termination judged).
pub(crate) fn generation(rt: &Runtime) -> u64 {
    rt.mheap.sweep_gen.load(Relaxed)
}

/// Reads a weak cell's target word for a running mutator: the target, or
/// 0 if it is cleared or dead (module comment, "Why a weak read is safe").
#[inline]
pub(crate) fn read_target(rt: &Runtime, word: &AtomicUsize) -> usize {
    let open = rt.weak_clearing.is_open();
    let p = word.load(Acquire);
    if p == 0 || !open {
        return p;
    }
    read_target_in_window(rt, word, p)
}

#[cold]
#[inline(never)]
fn read_target_in_window(rt: &Runtime, word: &AtomicUsize, p: usize) -> usize {
    let alive = alive_in_window(rt, p, rt.mheap.sweep_gen.load(Relaxed));
    // Pairs with the release fences that precede every write to span
    // metadata after the close (`publish_after_close`): if `alive` read
    // one of them, the close is visible below.
    fence(Acquire);
    // Acquire too: if this reads the close, the clears must be visible to
    // the reload below (the fence only orders the loads before it).
    if rt.weak_clearing.open.load(Acquire) {
        if alive {
            p
        } else {
            0
        }
    } else {
        // Closed meanwhile: the cell is final.
        word.load(Acquire)
    }
}

/// Called by every thread before it writes span metadata that a reader in
/// the window may test (queueing a span, sweeping it, reusing a record),
/// after it learned that the window closed (or, for a fresh span, at any
/// time): a release fence, free on x86, that `read_target_in_window`'s
/// acquire fence pairs with.
#[inline]
pub(crate) fn publish_after_close() {
    fence(Release);
}

/// Ephemerons: marks the values of marked keys in every marked ephemeron
/// table, drains what they reach, and repeats until a round marks nothing.
/// A table counts only once it is marked (it may itself become reachable
/// through an ephemeron value in a later round), and nothing is cleared
/// before the fixpoint, so chains K1 → V1 ∋ K2 → V2 … are followed to the
/// end while a value that only reaches its own key keeps nothing alive
/// (its key must be marked by something else first). Rounds: at most the
/// length of the longest chain, plus one. The entries whose keys stay
/// unmarked are cleared in the window, like any weak table's.
///
/// Runs with the mark workers idle, with the world stopped or (ragged
/// termination) with mutators running: each table's round holds the
/// table's lock, and an entry a mutator inserts meanwhile pairs objects
/// it holds, which marking reaches anyway. Returns the objects it marked:
/// with mutators running, any means marking must resume before it can
/// close (gc/termination.rs).
pub(crate) fn converge_ephemerons(rt: &Runtime, report: &mut WeakReport) -> usize {
    // (table, its round function, its pending entries: see `EphemeronFn`)
    type Pending = Option<(usize, Vec<u32>)>;
    let mut tables: Vec<(usize, EphemeronFn, Pending)> = Vec::new();
    let mut add = |l: &WeakLists| {
        tables.extend(l.tables.iter().filter_map(|t| t.ephemeron.map(|f| (t.table, f, None))));
    };
    // A mutator detaching meanwhile appends its lists to the orphans before
    // it leaves the mutator list, so reading the orphans last misses none.
    for m in rt.mutators.lock().clone().iter() {
        add(&m.weak.lock());
    }
    add(&rt.weak_orphans.lock());
    if tables.is_empty() {
        return 0;
    }
    let mut total = 0;
    loop {
        report.ephemeron_rounds += 1;
        let mut w = GcWork::new();
        // SAFETY: the runtime and `w` outlive the marker; the mark workers
        // are idle, so the other markers are at most assists, which share
        // the global lists safely.
        let mut m = unsafe { Marker::new(&rt.mheap, &rt.queues, &mut w) };
        let mut found = 0;
        for (table, f, pending) in tables.iter_mut() {
            if is_marked(rt, *table) {
                // SAFETY: the table is marked (allocated until the next
                // sweep, which cannot start during marking), registered
                // with its own type's function.
                found += unsafe { f(*table, &|p| is_marked(rt, p), &mut |p| m.mark(p), pending) };
            }
        }
        m.drain();
        m.dispose();
        report.ephemeron_marked += m.counters;
        total += m.counters.objects_marked;
        if found == 0 {
            break;
        }
    }
    total
}

/// After marking is complete (and, with ragged termination, closed) and
/// the ephemerons have converged: takes every registered list and opens
/// the clearing window. The caller has bumped the sweep generation before
/// (a reader in the window tests spans against it).
pub(crate) fn take_lists(rt: &Runtime) -> Snapshot {
    let mut lists: Vec<WeakLists> = rt.mutators.lock().iter().map(|m| std::mem::take(&mut *m.weak.lock())).collect();
    lists.push(std::mem::take(&mut *rt.weak_orphans.lock()));
    // Release: a mutator that sees the window open sees the new generation.
    rt.weak_clearing.open.store(true, Release);
    Snapshot { lists }
}

/// The clearing window, mutators running, before any span is queued for
/// sweeping: prunes dead cells, clears cells whose target is dead, clears
/// weak tables, queues cleanups of dead targets; then closes the window.
pub(crate) fn clear(rt: &Runtime, snap: Snapshot, report: &mut WeakReport) {
    let gen = rt.mheap.sweep_gen.load(Relaxed);
    let alive = |p: usize| alive_in_window(rt, p, gen);
    let mut kept = WeakLists::default();
    let mut ready = Vec::new();
    for mut l in snap.lists {
        l.cells.retain(|&c| {
            // A cell registered before termination is dead iff unmarked.
            if !is_marked(rt, c) {
                return false;
            }
            report.cells += 1;
            // SAFETY: the cell is marked, so it is allocated (nothing is
            // freed during the window).
            let w = unsafe { target_word(c) };
            let t = w.load(Relaxed);
            if t != 0 && !alive(t) {
                // Published by the close (release).
                w.store(0, Relaxed);
                report.cleared += 1;
            }
            true
        });
        l.tables.retain(|t| {
            if !is_marked(rt, t.table) {
                return false;
            }
            // SAFETY: the table is marked, so allocated for the whole
            // window, and registered with its own type's function.
            report.cleared += unsafe { (t.clear)(t.table, &alive, gen) };
            true
        });
        let mut i = 0;
        while i < l.cleanups.len() {
            let c = &l.cleanups[i];
            if c.stopped.load(Relaxed) {
                drop(l.cleanups.swap_remove(i));
            } else if !alive(c.target) {
                ready.push(l.cleanups.swap_remove(i));
            } else {
                i += 1;
            }
        }
        kept.append(&mut l);
    }
    {
        // Lists of mutators that detached during the window are there.
        let mut orphans = rt.weak_orphans.lock();
        kept.append(&mut orphans);
        *orphans = kept;
    }
    report.cleanups_ready = ready.len();
    rt.cleanups_ready.lock().extend(ready);
    rt.weak_clearing.close();
}

/// Runs the cleanups whose targets died (the coordinator, after the sweep).
/// Returns the first panic, to be resumed at a safepoint.
pub(crate) fn run_ready(rt: &Runtime) -> Option<Box<dyn Any + Send>> {
    let ready = std::mem::take(&mut *rt.cleanups_ready.lock());
    let mut first = None;
    for c in ready {
        if c.stopped.load(Relaxed) {
            continue;
        }
        let run = c.run;
        if let Some(p) = super::sweep::run_user_code(rt, run) {
            first.get_or_insert(p);
        }
    }
    first
}
