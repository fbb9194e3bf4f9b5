//! Weak references and cleanups: what mark termination does for them
//! (Go's weak handles and `AddCleanup`, reduced to what a non-moving
//! collector needs).
//!
//! A weak reference is a small heap object, a *weak cell*, whose first word
//! holds the payload address of its target, or 0 once cleared. The cell's
//! type is pointer-free as far as the marker knows (`NO_TRACE`), so marking
//! never follows it: the target survives only if something else reaches it.
//! Handles (`Weak`, `WeakRoot`, toolkit/weak.rs) hold the cell strongly.
//! Every cell is registered, when it is made, in its mutator's `WeakLists`
//! (no global lock); a detaching mutator hands its lists to the runtime.
//!
//! At mark termination, with the world stopped and marking finished (after
//! the last drain and after `checkmark`), `process` walks every list:
//!
//! * a cell that is not marked is dead itself: it leaves the list (the
//!   sweep frees it);
//! * a live cell whose target is not marked is cleared: the target is
//!   unreachable and this cycle's sweep frees it;
//! * a live weak table (toolkit/weak_set.rs) clears, through the function
//!   it registered, its entries whose target is not marked;
//! * a cleanup whose target is not marked moves to the ready queue, and runs
//!   on the coordinator after the sweep (`run_ready`).
//!
//! Why a weak read (`upgrade`) is safe under the snapshot-at-the-beginning
//! barrier: the read turns a weak reference into a strong pointer the
//! marker may never have seen (the target need not have been reachable at
//! the snapshot). So while marking is on, an upgrade *shades* its target:
//! it appends it to the mutator's barrier buffer, which is flushed before
//! termination decides anything, so the target is marked this cycle and
//! survives it, exactly like an object whose last pointer the barrier
//! recorded. Outside marking, a non-null target was marked at the last
//! termination (or the cell was made since, from a live `Gc`), so it is
//! alive until the next one, which only happens while the reading mutator
//! is stopped: the borrow argument of DESIGN.md §4 applies. Clearing
//! happens with the world stopped, so no upgrade runs concurrently with it.
//!
//! Cleanups: a function registered for a target runs once, after a cycle
//! found the target unreachable; it cannot reach the target (it is a
//! `'static + Send` closure, and `Gc` is neither; a `Root` of the target
//! inside it would keep the target alive, so it would never run, as in Go).
//! It runs on the coordinator thread, guarded like a destructor
//! (gc/sweep.rs): a panic is caught and resumed at the next safepoint or
//! `collect`. Cleanups still waiting when the heap is dropped never run.
//!
//! Cost: termination does work proportional to the number of weak cells
//! and cleanups registered, with the world stopped (DESIGN.md §5 has the
//! figure; moving it after the restart is the next step).

use crate::gc::mark::{MarkCounters, Marker};
use crate::gc::work::GcWork;
use crate::runtime::Runtime;
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;

/// A registered cleanup.
pub(crate) struct CleanupRecord {
    /// Payload address of the object it waits for.
    pub(crate) target: usize,
    pub(crate) run: Box<dyn FnOnce() + Send>,
    /// Set by `Cleanup::stop`: dropped without running.
    pub(crate) stopped: Arc<AtomicBool>,
}

/// A weak table (toolkit/weak_set.rs): a heap object whose entries are
/// weak. At termination, `clear` is called with the table's payload address
/// (the table is marked) and a mark test; it clears the entries whose
/// target is unmarked and returns how many it cleared. The collector knows
/// nothing of the table's layout.
pub(crate) struct WeakTable {
    pub(crate) table: usize,
    /// # Safety
    /// Called with the world stopped, `table` allocated, of the type that
    /// registered this function.
    pub(crate) clear: unsafe fn(table: usize, is_marked: &dyn Fn(usize) -> bool) -> usize,
    /// For ephemeron tables (toolkit/weak_map.rs): one round of ephemeron
    /// marking (see `EphemeronFn`).
    pub(crate) ephemeron: Option<(EphemeronFn, ClearPendingFn)>,
}

/// One round of an ephemeron table: marks, through `mark`, the value of
/// every entry whose key is marked and returns how many it marked. Keeps
/// `pending`, the indices of the entries whose key is not (yet) marked:
/// on the first round (`pending` is `None`) it scans every entry and fills
/// it; later rounds scan only the pending entries, so a table of live keys
/// costs one pass, not one per round. After the last round, the pending
/// entries are exactly those to clear (`clear_pending`).
///
/// # Safety
/// As `WeakTable::clear`, and the table is marked.
pub(crate) type EphemeronFn = unsafe fn(
    table: usize,
    is_marked: &dyn Fn(usize) -> bool,
    mark: &mut dyn FnMut(usize),
    pending: &mut Option<Vec<u32>>,
) -> usize;

/// Tombstones the given entries of an ephemeron table; returns how many.
///
/// # Safety
/// As `WeakTable::clear`.
pub(crate) type ClearPendingFn = unsafe fn(table: usize, pending: &[u32]) -> usize;

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
    pub(crate) fn append(&mut self, other: &mut WeakLists) {
        self.cells.append(&mut other.cells);
        self.tables.append(&mut other.tables);
        self.cleanups.append(&mut other.cleanups);
    }
}

/// What one termination found, for stats.
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

/// Ephemerons: marks the values of marked keys in every marked ephemeron
/// table, drains what they reach, and repeats until a round marks nothing.
/// A table counts only once it is marked (it may itself become reachable
/// through an ephemeron value in a later round), and nothing is cleared
/// before the fixpoint, so chains K1 → V1 ∋ K2 → V2 … are followed to the
/// end while a value that only reaches its own key keeps nothing alive
/// (its key must be marked by something else first). Rounds: at most the
/// length of the longest chain, plus one.
fn converge_ephemerons(rt: &Runtime, report: &mut WeakReport) {
    let lists = rt.mutators.lock();
    let orphans = rt.weak_orphans.lock();
    let mut tables: Vec<(usize, EphemeronFn, ClearPendingFn, Option<Vec<u32>>)> = lists
        .iter()
        .flat_map(|m| {
            m.weak
                .lock()
                .tables
                .iter()
                .filter_map(|t| t.ephemeron.map(|(f, c)| (t.table, f, c, None)))
                .collect::<Vec<_>>()
        })
        .chain(orphans.tables.iter().filter_map(|t| t.ephemeron.map(|(f, c)| (t.table, f, c, None))))
        .collect();
    drop((lists, orphans));
    if tables.is_empty() {
        return;
    }
    loop {
        report.ephemeron_rounds += 1;
        let mut w = GcWork::new();
        // SAFETY: the runtime and `w` outlive the marker; the world is
        // stopped and the mark workers are idle, so this is the only marker.
        let mut m = unsafe { Marker::new(&rt.mheap, &rt.queues, &mut w) };
        let mut found = 0;
        for (table, f, _, pending) in tables.iter_mut() {
            if is_marked(rt, *table) {
                // SAFETY: the table is marked (allocated), registered with
                // its own type's function; the world is stopped.
                found += unsafe { f(*table, &|p| is_marked(rt, p), &mut |p| m.mark(p), pending) };
            }
        }
        m.drain();
        m.dispose();
        report.ephemeron_marked += m.counters;
        if found == 0 {
            break;
        }
    }
    // The fixpoint: the pending entries of live tables have dead keys.
    for (table, _, clear, pending) in &tables {
        if let Some(p) = pending {
            if is_marked(rt, *table) && !p.is_empty() {
                // SAFETY: as above.
                report.cleared += unsafe { clear(*table, p) };
            }
        }
    }
}

/// Mark termination, world stopped, marking complete: converges the
/// ephemeron tables, then prunes dead cells, clears cells whose target is
/// unmarked, queues cleanups of unmarked targets.
pub(crate) fn process(rt: &Runtime) -> WeakReport {
    let mut report = WeakReport::default();
    converge_ephemerons(rt, &mut report);
    let mut ready = Vec::new();
    let mut one = |l: &mut WeakLists| {
        l.cells.retain(|&c| {
            if !is_marked(rt, c) {
                return false;
            }
            report.cells += 1;
            // SAFETY: the cell is marked, so it is allocated.
            let w = unsafe { target_word(c) };
            let t = w.load(Relaxed);
            if t != 0 && !is_marked(rt, t) {
                w.store(0, Relaxed);
                report.cleared += 1;
            }
            true
        });
        l.tables.retain(|t| {
            if !is_marked(rt, t.table) {
                return false;
            }
            // SAFETY: the table is marked, so allocated, and registered with
            // its own type's function; the world is stopped.
            report.cleared += unsafe { (t.clear)(t.table, &|p| is_marked(rt, p)) };
            true
        });
        let mut i = 0;
        while i < l.cleanups.len() {
            let c = &l.cleanups[i];
            if c.stopped.load(Relaxed) {
                drop(l.cleanups.swap_remove(i));
            } else if !is_marked(rt, c.target) {
                ready.push(l.cleanups.swap_remove(i));
            } else {
                i += 1;
            }
        }
    };
    for m in rt.mutators.lock().iter() {
        one(&mut m.weak.lock());
    }
    one(&mut rt.weak_orphans.lock());
    report.cleanups_ready = ready.len();
    rt.cleanups_ready.lock().extend(ready);
    report
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
