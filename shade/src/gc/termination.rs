//! Ragged mark termination: deciding that marking is over without stopping
//! any mutator (the design and its proof: DESIGN.md §6, "Ragged
//! termination").
//!
//! A stop of the world at termination holds every mutator until the
//! slowest one reaches a safepoint. Termination needs less: it needs to
//! know that no grey object is left anywhere and that none can appear, and
//! then to tell each mutator, at its own next safepoint, that the cycle's
//! marking is over. So it runs as handshake rounds (gc/handshake.rs):
//!
//! 1. **Quiescence.** The mark workers ran dry and no assist is in
//!    progress; the collector reads the *termination word* (below) and
//!    runs a pass over the ephemeron tables (gc/weak.rs). If the pass
//!    marked anything, marking resumes.
//! 2. **Flush round.** Every mutator, at its own safepoint (the collector
//!    for a parked one), flushes its barrier buffer and publishes its mark
//!    buffers onto the global lists. If the lists hold work after the
//!    round, marking resumes and the round repeats later.
//! 3. **Close.** A compare-and-swap on the termination word from the value
//!    read in step 1 to the same value with `CLOSED` set. It succeeds only
//!    if no object was greyed outside the workers since step 1: every
//!    other way to grey an object bumps the word first (a barrier flush
//!    that is about to mark something new, an assist about to scan, a weak
//!    upgrade shading its target), and once the word is closed those paths
//!    find `CLOSED` in the value their bump returns and mark nothing.
//!    The proof that nothing needs marking after a successful close is in
//!    DESIGN.md §6.
//! 4. **Flip round.** Every mutator, at its own safepoint, turns its
//!    barrier off, drops what its buffer holds, hands its allocation cache
//!    back and allocates white from then on. Until it does, it keeps
//!    allocating black in the spans of the cycle and white in spans made
//!    after the close (the colour follows the span's generation), so the
//!    sweep, which starts only after the round, neither frees its new
//!    objects nor finds stale marks next cycle.
//!
//! A late mutator delays steps 2 and 4, and so the end of the cycle; it
//! never holds another mutator. Meanwhile an allocation that needs the
//! memory this cycle would free fails with `AllocError::HeapLimit` rather
//! than waiting (the sweep cannot start before the flip round is done).

use super::handshake::{Phase, Waits};
use super::mark::MarkCounters;
use super::weak::WeakReport;
use crate::runtime::Runtime;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Duration;

/// How a concurrent cycle's marking ends (`SHADE_DEBUG=termination=
/// ragged|stop`, `Config::termination`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Termination {
    /// Handshake rounds at each mutator's own safepoint; no mutator waits
    /// for another (this module). The default.
    #[default]
    Ragged,
    /// Stop the world, flush every mutator, and end the cycle inside the
    /// stop (the design before ragged termination; kept for comparison).
    Stop,
}

/// Set in the termination word once a cycle's marking has closed.
const CLOSED: u64 = 1;
/// What a bump adds (the bit below is `CLOSED`).
const BUMP: u64 = 2;

/// The termination word: a counter of "about to grey" events outside the
/// mark workers, and the `CLOSED` bit. One atomic, so that a bump and the
/// close are ordered in its modification order: either the bump comes
/// first and the close fails, or the close comes first and the bump sees
/// it.
pub(crate) struct TermWord(AtomicU64);

impl TermWord {
    pub(crate) fn new() -> TermWord {
        TermWord(AtomicU64::new(0))
    }

    /// Mark start: marking is open again. Only the collector writes the
    /// word without a bump, and only while no mutator's barrier records
    /// (every mutator is `Idle`), so no bump can race with this store.
    pub(crate) fn open(&self) {
        self.0.fetch_and(!CLOSED, SeqCst);
    }

    /// Announces that the caller is about to grey an object (or scan grey
    /// work). Returns false if marking has closed: the caller must mark
    /// nothing.
    #[inline]
    pub(crate) fn bump(&self) -> bool {
        self.0.fetch_add(BUMP, AcqRel) & CLOSED == 0
    }

    /// Step 1: the value a later `close` compares against.
    pub(crate) fn read(&self) -> u64 {
        self.0.load(SeqCst)
    }

    /// Step 3: closes marking if nobody bumped since `seen` was read.
    pub(crate) fn close(&self, seen: u64) -> bool {
        debug_assert!(seen & CLOSED == 0);
        self.0.compare_exchange(seen, seen | CLOSED, SeqCst, SeqCst).is_ok()
    }
}

/// What steps 1–3 measured (the rounds' waits go to the caller's `Waits`).
pub(crate) struct Closed {
    /// What the mark workers marked.
    pub(crate) marked: MarkCounters,
    pub(crate) mark_cpu: Duration,
    /// Flush rounds run (the last one closed marking).
    pub(crate) rounds: usize,
}

impl Runtime {
    /// Steps 1–3 (module comment): marks until marking can close, and
    /// closes it. Every mutator is `Scanned` then, and none was stopped.
    pub(crate) fn terminate_ragged(&self, weak: &mut WeakReport, waits: &mut Waits) -> Closed {
        let mut c = Closed { marked: MarkCounters::default(), mark_cpu: Duration::ZERO, rounds: 0 };
        loop {
            // Concurrent marking until the workers run dry.
            loop {
                let (m, cpu) = self.mark_phase(self.settings.bg_mark_workers);
                c.marked += m;
                c.mark_cpu += cpu;
                if !self.coordinator.wait_for_work(self) {
                    break;
                }
            }
            // Step 1. An assist that started before this read bumped the
            // word before it, so it must be over (SeqCst, against its
            // increment of `assists_active`, which precedes its bump).
            let seen = self.term.read();
            if self.assists_active.load(SeqCst) > 0 || self.queues.has_full() {
                continue;
            }
            if super::weak::converge_ephemerons(self, weak) > 0 {
                continue;
            }
            // Step 2.
            waits.add(&self.handshake_round(self.hs.next_target(Phase::Scanned, true)));
            c.rounds += 1;
            // Step 3. What the round's handshakes published is on the global
            // lists, and nothing takes work from them without a bump.
            if !self.queues.has_full() && self.term.close(seen) {
                return c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_after_the_read_fails_the_close_and_a_bump_after_the_close_sees_it() {
        let w = TermWord::new();
        let seen = w.read();
        assert!(w.bump(), "marking is open");
        assert!(!w.close(seen), "a bump since the read must fail the close");
        let seen = w.read();
        assert!(w.close(seen));
        assert!(!w.bump(), "after the close nothing may be greyed");
        assert!(!w.bump(), "and it stays closed");
        w.open();
        assert!(w.bump());
    }
}
