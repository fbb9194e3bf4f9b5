//! Ragged handshakes: mark start and termination without stopping the
//! world.
//!
//! A stop of the world (gc/stw.rs) holds every mutator until the slowest
//! one reaches a safepoint. Mark start does not need that: each mutator's
//! part of it (turning its barrier on, greying its own roots) can be done
//! by that mutator alone, at its own next safepoint, while the others run.
//! The collector moves every mutator through the *phases* of a cycle:
//!
//! ```text
//!   Idle ──arm──> Armed ──scan──> Scanned ──(flush rounds, close, flip)──> Idle
//!   barrier off   barrier records     barrier records the
//!   allocate      old and new values; overwritten value;
//!   white         allocate white      allocate black; roots copied
//!                                     for the collector to grey
//! ```
//!
//! A *round* sets the heap's target phase and waits until every attached
//! mutator has reached it: a parked mutator is moved by the collector at
//! once (it holds no `Gc` and touches nothing); a running one has its own
//! safepoint flag raised and moves itself at its next safepoint, or when it
//! unparks (a mutator attaching joins in the target phase; one detaching
//! leaves without moving: its roots become orphans, which the collector
//! greys after the rounds). No
//! mutator ever waits for another: a late mutator delays the round, and so
//! the cycle, and nobody else. Mark start is two rounds, `Armed` then
//! `Scanned`; the markers and assists scan nothing before the first round
//! has completed, and nothing is allocated black before it either, so no
//! black object exists while some mutator's barrier is still off. The
//! argument that this is sound is DESIGN.md §6 ("Ragged mark start").
//!
//! Handing a mutator's state over: `MutatorState::hs` (a mutex per
//! mutator) says whether its owner is running and which phase it is in. The
//! owner changes phase, parks, unparks and detaches under it; the collector
//! moves a parked mutator under it. So the owner's and the collector's uses
//! of the mutator's cells (barrier buffer, mark buffers, per-store count)
//! are ordered by that mutex, as the stop-the-world mutex orders them for a
//! stopped mutator.
//!
//! The safepoint flag is per mutator, so that a mutator done with a round
//! is not sent to the slow path again and again while another is late. The
//! collector raises it with a release store after setting the target
//! phase; the owner lowers it with a swap (`AcqRel`) at the top of its slow
//! path and only then reads the phase. Either the swap reads the raise (and
//! synchronises with it, so the owner sees the new phase), or it comes
//! earlier in the flag's modification order, and the flag is still up for
//! the owner's next safepoint. A raise is never lost (`tests/loom_ragged.rs`).

use crate::barrier::{WB_EXACT, WB_OFF, WB_RECORD};
use crate::gc::mark::Marker;
use crate::runtime::{MutatorState, Runtime, NOT_BLACK};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a mutator is in the cycle (see the module comment).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// No cycle is marking: barrier off, allocation white.
    Idle,
    /// The barrier records both the overwritten and the stored value; the
    /// roots are not greyed yet, allocation is white.
    Armed,
    /// The roots are copied for greying; the barrier records the overwritten value (and
    /// the stored one in `wbrecord=hybrid`); allocation is black.
    Scanned,
}

/// Where a round moves every mutator: a phase, and a flush count (a
/// mutator whose `flushed` is behind it flushes its barrier buffer and
/// publishes its mark buffers at its handshake: termination's flush
/// rounds, gc/termination.rs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Target {
    pub(crate) phase: Phase,
    pub(crate) flush: u64,
}

/// One mutator's handshake state, behind `MutatorState::hs`.
pub(crate) struct MutatorSync {
    /// The owner is running (not parked, not detached). While it is not,
    /// the collector may move it itself.
    pub(crate) running: bool,
    pub(crate) phase: Phase,
    /// The last flush round this mutator did (or joined when attaching).
    pub(crate) flushed: u64,
}

impl MutatorSync {
    pub(crate) fn new() -> MutatorSync {
        MutatorSync { running: false, phase: Phase::Idle, flushed: 0 }
    }

    fn at(&self, t: Target) -> bool {
        self.phase == t.phase && self.flushed == t.flush
    }
}

/// The heap's side of the handshakes.
pub(crate) struct Handshakes {
    /// Where every mutator is being moved.
    target: Mutex<Target>,
    /// Bumped by every mutator that moved itself, parked or detached; the
    /// collector sleeps on `cv` (under `sleep`) until it changes. An atomic
    /// read without the lock: a collector polling a locked counter kept a
    /// mutator that needed the lock waiting for milliseconds.
    moved: AtomicU64,
    sleep: Mutex<()>,
    cv: Condvar,
    /// Longest work one mutator did at one handshake this cycle (ns).
    work_max: AtomicU64,
    /// Roots the mutators copied at their round-2 handshakes, for the
    /// collector to grey.
    roots: Mutex<Vec<Vec<usize>>>,
    /// Emptied root copies, for the next cycle's handshakes to reuse.
    spare: Mutex<Vec<Vec<usize>>>,
}

/// What one round measured.
pub(crate) struct Round {
    /// From the round's start until the last mutator moved: how long late
    /// mutators delayed the cycle.
    pub(crate) wait: Duration,
    /// How many mutators were still running the round's first time round.
    pub(crate) late: usize,
    /// The mutator the round waited for last, if it waited for any.
    pub(crate) last: Option<u64>,
}

/// What a cycle's rounds waited for late mutators, over all its rounds
/// (mark start's, and termination's flush and flip rounds): stats and
/// gctrace.
#[derive(Default, Clone, Copy)]
pub(crate) struct Waits {
    /// How long the rounds waited, in all.
    pub(crate) total: Duration,
    /// Most mutators one round found still running at its start.
    pub(crate) late: usize,
    /// The mutator the longest round waited for last.
    pub(crate) last: Option<u64>,
    longest: Duration,
}

impl Waits {
    pub(crate) fn add(&mut self, r: &Round) {
        self.total += r.wait;
        self.late = self.late.max(r.late);
        if r.last.is_some() && r.wait >= self.longest {
            self.longest = r.wait;
            self.last = r.last;
        }
    }
}

impl Handshakes {
    pub(crate) fn new() -> Handshakes {
        Handshakes {
            target: Mutex::new(Target { phase: Phase::Idle, flush: 0 }),
            moved: AtomicU64::new(0),
            sleep: Mutex::new(()),
            cv: Condvar::new(),
            work_max: AtomicU64::new(0),
            roots: Mutex::new(Vec::new()),
            spare: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn target(&self) -> Target {
        *self.target.lock()
    }

    /// A target of phase `phase` with the current flush count (a round
    /// that changes the phase only), or the next one (a flush round).
    pub(crate) fn next_target(&self, phase: Phase, flush: bool) -> Target {
        let t = self.target();
        Target { phase, flush: t.flush + flush as u64 }
    }

    /// Sets the target without a round: only at a stop-the-world
    /// termination, when the collector moves every mutator itself.
    pub(crate) fn set_target(&self, t: Target) {
        *self.target.lock() = t;
    }

    /// A mutator moved itself, parked or detached: wakes a waiting round.
    pub(crate) fn note_moved(&self) {
        self.moved.fetch_add(1, SeqCst);
        // Taking the lock orders this bump against a collector that checked
        // the counter under it and is about to sleep: it is asleep by now,
        // or it will see the bump.
        drop(self.sleep.lock());
        self.cv.notify_all();
    }

    /// The longest work a mutator did at a handshake since the last call.
    pub(crate) fn take_work_max(&self) -> Duration {
        Duration::from_nanos(self.work_max.swap(0, Relaxed))
    }
}

impl Runtime {
    /// The collector: moves every attached mutator to `target` and returns
    /// when all are there. Never stops a mutator: parked ones are moved
    /// here, running ones move themselves at their next safepoint.
    pub(crate) fn handshake_round(&self, target: Target) -> Round {
        self.hs.set_target(target);
        let t0 = Instant::now();
        let mut first = None;
        let mut last = None;
        loop {
            let seen = self.hs.moved.load(SeqCst);
            // A mutator attaching after this copy reads the new target
            // (`Runtime::attach`, `resume_handshakes`), so the copy misses
            // nobody.
            let list: Vec<Arc<MutatorState>> = self.mutators.lock().clone();
            let mut late = 0;
            let mut still = None;
            for m in &list {
                let mut s = m.hs.lock();
                if s.at(target) {
                    continue;
                }
                if s.running {
                    late += 1;
                    still.get_or_insert(m.id);
                    m.flag.store(true, Release);
                } else {
                    // SAFETY: the owner is not running and cannot resume
                    // while we hold its `hs` lock, so we have exclusive use
                    // of its cells.
                    unsafe { self.advance(m, &mut s, target) };
                }
            }
            first.get_or_insert(late);
            if late == 0 {
                return Round { wait: t0.elapsed(), late: first.unwrap_or(0), last };
            }
            last = still;
            // Sleep at once (no yielding spin as in gc/stw.rs): the mutators
            // we wait for keep running, and one sharing this core got the
            // CPU for a whole time slice at each `yield_now`, so a round
            // noticed a mutator that had moved within microseconds only
            // 4 ms later. Its move's notification wakes us.
            let mut g = self.hs.sleep.lock();
            if self.hs.moved.load(SeqCst) == seen {
                // The timeout only bounds a missed wake-up's cost.
                self.hs.cv.wait_for(&mut g, Duration::from_millis(10));
            }
        }
    }

    /// A running mutator with its flag seen (a safepoint), or at a point
    /// that is one (attach, unpark): moves itself to the target. Returns
    /// whether it left a cycle's marking (moved to `Idle` from `Scanned`):
    /// the sweep may free objects from then on.
    pub(crate) fn handshake_own(&self, st: &MutatorState) -> bool {
        let mut s = st.hs.lock();
        let target = self.hs.target();
        if s.at(target) {
            return false;
        }
        let left = s.phase == Phase::Scanned && target.phase == Phase::Idle;
        let t = Instant::now();
        // SAFETY: the caller is the running owner and holds no `Gc`.
        unsafe { self.advance(st, &mut s, target) };
        self.hs.work_max.fetch_max(t.elapsed().as_nanos() as u64, Relaxed);
        drop(s);
        self.hs.note_moved();
        left
    }

    /// A mutator's owner starts running (attach, unpark): from now on the
    /// collector leaves its state to it. Moves to the target phase: the
    /// owner holds no `Gc` yet.
    pub(crate) fn resume_handshakes(&self, st: &MutatorState) {
        st.hs.lock().running = true;
        self.handshake_own(st);
    }

    /// A mutator's owner stops running (park, detach): the collector moves
    /// it from now on. Wakes a round that may be waiting for it.
    pub(crate) fn suspend_handshakes(&self, st: &MutatorState) {
        st.hs.lock().running = false;
        self.hs.note_moved();
    }

    /// Moves `st` from where it is to `target`: a flush round's flush
    /// first, then the phase change.
    ///
    /// # Safety
    /// The caller has exclusive use of `st`'s cells: it is the running owner
    /// at a point where it holds no `Gc`, or the collector with the owner
    /// not running (parked, or the world stopped), holding `st.hs`.
    pub(crate) unsafe fn advance(&self, st: &MutatorState, s: &mut MutatorSync, target: Target) {
        if s.flushed != target.flush {
            // A mutator that is not `Scanned` has nothing to flush: it
            // attached during the round's phase change, or a cycle's first
            // round has not reached it (its buffer is empty either way).
            // SAFETY: per the contract.
            if s.phase == Phase::Scanned {
                // SAFETY: per the contract.
                unsafe { self.publish_mutator_work(st) };
            }
            s.flushed = target.flush;
        }
        match (s.phase, target.phase) {
            // SAFETY: per the contract.
            (Phase::Scanned, Phase::Idle) => unsafe { self.retire(st) },
            (Phase::Idle, Phase::Armed) | (_, Phase::Idle) => {}
            // SAFETY: per the contract.
            (Phase::Idle | Phase::Armed, Phase::Scanned) => unsafe { self.copy_roots(st) },
            (from, to) if from == to => {}
            (from, to) => unreachable!("shade: handshake from {from:?} to {to:?}"),
        }
        // SAFETY: per the contract.
        unsafe { self.set_barrier(st, target.phase) };
        s.phase = target.phase;
    }

    /// A mutator leaves the cycle: what its barrier buffer still holds is
    /// dropped (after termination, every object it names is marked or
    /// was allocated since: DESIGN.md §6), its cache goes back (its spans
    /// are the cycle's, to be swept, or new ones), and its counters go to
    /// the cycle's totals.
    ///
    /// # Safety
    /// As for `advance`.
    pub(crate) unsafe fn retire(&self, st: &MutatorState) {
        // SAFETY: per the contract.
        unsafe {
            crate::barrier::wbbuf::flush(self, st);
            debug_assert!((*st.gcw.get()).is_empty(), "shade: grey work left in a mutator after termination");
            let (bytes, objects) = (*st.cache.get()).release_all(&self.mheap, false);
            self.pacer.uncharge(bytes, objects);
            *self.detached_marked.lock() += std::mem::take(&mut *st.marked.get());
            *self.barrier_stats.lock() += std::mem::take(&mut *st.wb_stats.get());
        }
    }

    /// Sets the mutator's barrier mode, per-store count and allocation
    /// colour for `phase`: every one of them follows from the phase alone.
    /// While `Armed` the barrier records stored values too, and takes
    /// overwritten ones with a swap, so it records exactly the value it
    /// overwrote even when a mutator whose barrier is still off stores into
    /// the same slot at the same time (DESIGN.md §6).
    ///
    /// # Safety
    /// As for `advance`.
    unsafe fn set_barrier(&self, st: &MutatorState, phase: Phase) {
        let off = if self.settings.wbcheck { WB_RECORD } else { WB_OFF };
        let (marking, mode, black) = match phase {
            Phase::Idle => (false, off, NOT_BLACK),
            Phase::Armed => (true, WB_EXACT, NOT_BLACK),
            Phase::Scanned => (true, WB_RECORD, self.marking_gen.load(Relaxed)),
        };
        let per_store = if phase == Phase::Armed { 2 } else { self.settings.record.entries_per_store() };
        // SAFETY: per the contract, nothing else uses the buffer.
        unsafe { (*st.wb.get()).per_store = per_store };
        st.marking.store(marking, Relaxed);
        st.wb_mode.store(mode, Relaxed);
        st.black_gen.store(black, Relaxed);
    }

    /// Takes a copy of the mutator's roots for the collector to grey: the
    /// mutator's part is only the copy (one pass over its root tables), so
    /// its handshake stays short however many roots it has; marking them
    /// is the collector's (`grey_scanned_roots`). The addresses stay valid
    /// until the collector greys them: nothing is freed before termination,
    /// which comes after.
    ///
    /// # Safety
    /// As for `advance`.
    unsafe fn copy_roots(&self, st: &MutatorState) {
        // Sized once: growing the copy (and faulting its pages in) took
        // longer than the copy itself. A vector the collector greyed before
        // is reused when there is one: its pages are already mapped (a
        // fresh 80 KB vector for 10K roots cost more in page faults than
        // the copy).
        let want = st.roots.lock().len() + st.locals.lock().capacity() + 16;
        let mut roots = self.hs.spare.lock().pop().unwrap_or_default();
        roots.reserve(want);
        self.roots_of(st, &mut roots);
        if roots.is_empty() {
            self.hs.spare.lock().push(roots);
        } else {
            self.hs.roots.lock().push(roots);
        }
    }

    /// The collector: greys the roots the mutators copied at their
    /// handshakes, with `m` (which counts them).
    pub(crate) fn grey_scanned_roots(&self, m: &mut Marker) {
        let copies = std::mem::take(&mut *self.hs.roots.lock());
        let mut spare = Vec::with_capacity(copies.len());
        for mut v in copies {
            for &r in &v {
                m.mark(r);
            }
            v.clear();
            spare.push(v);
        }
        // Kept for the next cycle's copies (one per mutator that had roots).
        let mut s = self.hs.spare.lock();
        s.extend(spare);
        s.truncate(64);
    }
}
