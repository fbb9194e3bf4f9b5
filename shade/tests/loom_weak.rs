//! Loom model of the weak clearing window (gc/weak.rs, DESIGN.md §10):
//! a weak read by a running mutator against the coordinator's clearing,
//! closing the window, queueing and sweeping.
//!
//! Like tests/loom_handshake.rs, this is a REDUCED MODEL written against
//! loom's atomics, mirroring the real functions by name; if they change,
//! it must be updated by hand. Its point is the memory ordering: loom lets
//! relaxed loads return any value the C++20 model allows, so a missing
//! fence shows up as a stale read that leads to a wrong answer.
//!
//! What is modelled, for one weak cell and its target object:
//!
//! * the window flag (`WeakClearing::open`), open at the start (the
//!   termination opened it; the restart published it);
//! * the cell's target word;
//! * the target's span record: whether the page table maps it, its
//!   `sweep_gen` (the heap's generation is 1 after the termination; a span
//!   that existed then has 0) and the target's mark bit;
//! * the slot's contents: which object occupies it (the target, or a new
//!   object after the slot was freed and reused).
//!
//! The coordinator (`weak::clear`, `WeakClearing::close`, `sweep::queue`,
//! `sweep::sweep_span`, `MHeap::free_span` and `alloc_span`): clears the
//! cell if its target is dead by the window's predicate, closes the
//! window (release store), queues the span (`publish_after_close`, then
//! the generation), sweeps it (the fence, then: a dead target's span is
//! freed, its page unmapped, the record reused for a fresh span holding a
//! new object; a live target's mark bit is cleared, as `reset_after_sweep`
//! does). The mutator (`weak::read_target`) reads once, concurrently.
//!
//! Checked: a dead target is never handed out, a live one always is, and
//! a handed-out target still occupies its slot (it was not freed).
//!
//! Without the reader's acquire fence, loom finds a live target read as
//! dead (a mark bit cleared by the sweep, read with the flag still open);
//! with a relaxed flag re-check, a dead target handed out (the reload of
//! the cell missing the clear). Here the coordinator both queues and
//! sweeps, so the sweep's own fence is covered by the queue's; it matters
//! in the real code, where a lazy sweeper on another thread may sweep.
//!
//! Run: `cargo test -p shade-gc --test loom_weak --release`. Each scenario
//! is explored exhaustively (no preemption bound is needed: two threads,
//! no spin loop).

use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::*;

/// The target object and the object that reuses its slot once freed.
const TARGET: usize = 1;
const NEW: usize = 2;
/// The heap's sweep generation after the termination.
const GEN: u64 = 1;

struct Model {
    open: AtomicBool,
    cell: AtomicUsize,
    /// 1 while the page table maps the target's span, 0 once freed.
    mapped: AtomicUsize,
    sweep_gen: AtomicU64,
    mark: AtomicBool,
    slot: AtomicUsize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Target {
    /// Marked at the termination.
    Live,
    /// Unmarked at the termination: must be cleared.
    Dead,
    /// Allocated since the termination (a fresh span), its cell made in the
    /// window: not in the coordinator's lists.
    Fresh,
}

impl Model {
    fn new(t: Target) -> Model {
        Model {
            open: AtomicBool::new(true),
            cell: AtomicUsize::new(TARGET),
            mapped: AtomicUsize::new(1),
            sweep_gen: AtomicU64::new(if t == Target::Fresh { GEN } else { GEN - 1 }),
            mark: AtomicBool::new(t == Target::Live),
            slot: AtomicUsize::new(TARGET),
        }
    }

    /// `weak::alive_in_window`.
    fn alive_in_window(&self) -> bool {
        self.mapped.load(Acquire) != 0 && (self.sweep_gen.load(Relaxed) == GEN || self.mark.load(Relaxed))
    }

    /// `weak::read_target` and `read_target_in_window`.
    fn read_target(&self) -> usize {
        let open = self.open.load(Acquire);
        let p = self.cell.load(Acquire);
        if p == 0 || !open {
            return p;
        }
        let alive = self.alive_in_window();
        fence(Acquire);
        // Acquire too: if it reads the close, the clears must be visible
        // to the reload below (the fence only orders what came before it).
        if self.open.load(Acquire) {
            if alive {
                p
            } else {
                0
            }
        } else {
            self.cell.load(Acquire)
        }
    }

    /// The coordinator, from the clearing window to the end of the sweep.
    fn coordinator(&self, t: Target) {
        // weak::clear (the fresh target's cell is not in its lists).
        if t != Target::Fresh && !self.alive_in_window() {
            self.cell.store(0, Relaxed);
        }
        // WeakClearing::close.
        self.open.store(false, Release);
        if t == Target::Fresh {
            return; // its span is not queued this cycle
        }
        // sweep::queue: publish_after_close, then the generation.
        fence(Release);
        self.sweep_gen.store(GEN, Relaxed);
        // sweep::sweep_span: publish_after_close, then free or reset.
        fence(Release);
        if self.mark.load(Relaxed) {
            // reset_after_sweep: the marks are cleared.
            self.mark.store(false, Relaxed);
        } else {
            // free_span: the page is unmapped ...
            self.mapped.store(0, Release);
            // ... and alloc_span reuses it (its fence, then init, the
            // generation, the mapping) for a new object in the slot.
            fence(Release);
            self.sweep_gen.store(GEN, Relaxed);
            self.slot.store(NEW, Relaxed);
            self.mapped.store(1, Release);
        }
    }
}

fn scenario(t: Target) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = None;
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, Relaxed);
        let m = Arc::new(Model::new(t));
        let m2 = m.clone();
        let reader = thread::spawn(move || {
            let p = m2.read_target();
            // What the mutator would do with the pointer: use the object.
            let occupant = if p != 0 { m2.slot.load(Relaxed) } else { 0 };
            (p, occupant)
        });
        m.coordinator(t);
        let (p, occupant) = reader.join().unwrap();
        match t {
            Target::Dead => assert_eq!(p, 0, "a dead target was handed out (its slot then held {occupant})"),
            Target::Live | Target::Fresh => {
                assert_eq!(p, TARGET, "a live target read as dead");
                assert_eq!(occupant, TARGET, "the handed-out target's slot was reused");
            }
        }
    });
    eprintln!("{t:?}: {} executions", runs.load(Relaxed));
}

#[test]
fn a_dead_target_is_never_handed_out() {
    scenario(Target::Dead);
}

#[test]
fn a_live_target_is_handed_out_even_while_its_span_is_swept() {
    scenario(Target::Live);
}

#[test]
fn a_target_allocated_after_termination_is_alive() {
    scenario(Target::Fresh);
}
