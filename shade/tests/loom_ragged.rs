//! Loom model of ragged mark start (gc/handshake.rs; DESIGN.md §6,
//! "Ragged mark start"): two mutators and a collector, one mutator late.
//!
//! Like `loom_handshake.rs`, this is a REDUCED MODEL written against loom's
//! primitives, function by function mirroring the real code (each model
//! function names the one it mirrors); if the real code changes, this model
//! must be updated by hand.
//!
//! What is modelled:
//!
//! * Per-mutator state (`MutatorState`): the safepoint `flag`, the barrier's
//!   `marking` flag, the per-store count (`per_store`: 2 while `Armed`, 1
//!   once `Scanned`), the allocation colour is left out (nothing is
//!   allocated), the root list, and `hs` (`MutatorSync`: running, phase)
//!   behind its mutex.
//! * The heap's side (`Handshakes`): the target phase, the `moved` counter
//!   and its condition variable; `handshake_round` (collector),
//!   `handshake_own` (a mutator at a safepoint), `resume_handshakes` /
//!   `suspend_handshakes` (unpark / park), `advance` with `arm` and
//!   `copy_roots` (the mutator copies its roots; the collector greys the
//!   copies after the round), detaching (roots become orphans, greyed after the
//!   rounds), and `Root::get`'s shading.
//! * The barrier is eager (each recorded pointer is shaded at once onto a
//!   shared grey list): the buffer and its flush are modelled in
//!   `loom_handshake.rs`; what is new here is *when* each mutator's barrier
//!   records what.
//! * Objects: mark bits (`AtomicBool`, test + `fetch_or`) and pointer slots
//!   (`AtomicUsize`, relaxed load of the old value and release store in the
//!   barrier, acquire loads in the marker).
//!
//! What is checked, after both mutators finished (the instant a termination
//! stop would begin, with every buffer flushed): the grey list is drained,
//! and every object reachable from a root or from a reachable object's slot
//! is marked. Loom checks there is no deadlock (in particular: the on-time
//! mutator never waits for the late one) and no data race on the
//! `UnsafeCell`s handed between owner and collector.
//!
//! Scenarios: a late mutator moves its only reference to an object into a
//! slot of an object another mutator already scanned, and drops its root
//! (the case a deletion barrier alone misses: the insertion half of `Armed`
//! catches it); a pointer moves from the late mutator to the on-time one
//! through a `Root` handle (`Root::get`'s shading catches it); the on-time
//! mutator takes a pointer out of a slot and overwrites the slot (the
//! deletion barrier); one mutator parks and unparks during the rounds; one
//! detaches during the rounds with unscanned roots.
//!
//! Run: `cargo test -p shade-gc --test loom_ragged --release -- --nocapture`
//! (preemption bound 2; 1 in debug builds, see `BOUND`).
//! `SHADE_LOOM_BREAK=armed-new|root-get` removes one rule (recording stored
//! values while `Armed`; shading in `Root::get`), and the matching scenario
//! then fails, which shows the model can.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::sync::atomic::Ordering::*;

const NIL: usize = 0;
/// Objects `1..NOBJ`.
const NOBJ: usize = 4;
/// `FIELD[o]`: object `o`'s one pointer slot, if any (slot index).
const FIELD: [Option<usize>; NOBJ] = [None, Some(0), Some(1), None];
const NSLOT: usize = 2;

fn broken(rule: &str) -> bool {
    std::env::var("SHADE_LOOM_BREAK").is_ok_and(|v| v == rule)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Idle,
    Armed,
    Scanned,
}

/// Mirrors `handshake::MutatorSync`.
struct MutatorSync {
    running: bool,
    phase: Phase,
}

/// Mirrors the parts of `runtime::MutatorState` the handshakes touch.
struct MutatorState {
    flag: AtomicBool,
    /// Model only: a running program polls its flag forever; loom cannot
    /// explore an unbounded poll loop, so a mutator waiting for something
    /// to do sleeps here until its flag is raised (see `until`).
    raised: (Mutex<()>, Condvar),
    marking: AtomicBool,
    /// The buffer's `per_store`: 2 records the stored value too.
    per_store: UnsafeCell<usize>,
    roots: Mutex<Vec<usize>>,
    hs: Mutex<MutatorSync>,
}

struct Runtime {
    slots: [AtomicUsize; NSLOT],
    marks: [AtomicBool; NOBJ],
    grey: Mutex<Vec<usize>>,
    mutators: Mutex<Vec<Arc<MutatorState>>>,
    orphans: Mutex<Vec<usize>>,
    /// `Handshakes::roots`: roots the mutators copied at their scans.
    copied: Mutex<Vec<usize>>,
    /// Mirrors `Handshakes`.
    target: Mutex<Phase>,
    moved: Mutex<u64>,
    cv: Condvar,
    /// `Runtime::marking`: tracing allowed.
    tracing: AtomicBool,
}

impl Runtime {
    fn new(slots: [usize; NSLOT]) -> Arc<Runtime> {
        Arc::new(Runtime {
            slots: slots.map(AtomicUsize::new),
            marks: std::array::from_fn(|_| AtomicBool::new(false)),
            grey: Mutex::new(Vec::new()),
            mutators: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            copied: Mutex::new(Vec::new()),
            target: Mutex::new(Phase::Idle),
            moved: Mutex::new(0),
            cv: Condvar::new(),
            tracing: AtomicBool::new(false),
        })
    }

    /// `Marker::mark` / the flush: test-and-set, then queue.
    fn shade_obj(&self, o: usize) {
        if o == NIL || self.marks[o].load(Relaxed) || self.marks[o].fetch_or(true, Relaxed) {
            return;
        }
        self.grey.lock().unwrap().push(o);
    }

    /// Mirrors `Runtime::attach`: push, then join at the target.
    fn attach(rt: &Arc<Runtime>, roots: &[usize]) -> Mutator {
        let st = Arc::new(MutatorState {
            flag: AtomicBool::new(false),
            raised: (Mutex::new(()), Condvar::new()),
            marking: AtomicBool::new(false),
            per_store: UnsafeCell::new(1),
            roots: Mutex::new(roots.to_vec()),
            hs: Mutex::new(MutatorSync { running: false, phase: Phase::Idle }),
        });
        rt.mutators.lock().unwrap().push(st.clone());
        rt.resume_handshakes(&st);
        Mutator { rt: rt.clone(), st }
    }

    /// Mirrors `Runtime::handshake_round`.
    fn handshake_round(&self, target: Phase) {
        *self.target.lock().unwrap() = target;
        loop {
            let seen = *self.moved.lock().unwrap();
            let list: Vec<_> = self.mutators.lock().unwrap().clone();
            let mut late = 0;
            for m in &list {
                let mut s = m.hs.lock().unwrap();
                if s.phase == target {
                    continue;
                }
                if s.running {
                    late += 1;
                    m.flag.store(true, Release);
                    let _g = m.raised.0.lock().unwrap();
                    m.raised.1.notify_all();
                } else {
                    self.advance(m, &mut s, target);
                }
            }
            if late == 0 {
                return;
            }
            let mut g = self.moved.lock().unwrap();
            // The real code sleeps with a timeout as a safety net; here a
            // missed wake-up would be a deadlock, which loom reports.
            while *g == seen {
                g = self.cv.wait(g).unwrap();
            }
        }
    }

    /// Mirrors `Runtime::handshake_own`.
    fn handshake_own(&self, st: &MutatorState) {
        let mut s = st.hs.lock().unwrap();
        let target = *self.target.lock().unwrap();
        if s.phase != target {
            self.advance(st, &mut s, target);
            drop(s);
            *self.moved.lock().unwrap() += 1;
            self.cv.notify_all();
        }
    }

    /// Mirrors `Runtime::resume_handshakes`.
    fn resume_handshakes(&self, st: &MutatorState) {
        st.hs.lock().unwrap().running = true;
        self.handshake_own(st);
    }

    /// Mirrors `Runtime::suspend_handshakes`.
    fn suspend_handshakes(&self, st: &MutatorState) {
        st.hs.lock().unwrap().running = false;
        *self.moved.lock().unwrap() += 1;
        self.cv.notify_all();
    }

    /// Mirrors `Runtime::advance` (only the transitions of mark start).
    fn advance(&self, st: &MutatorState, s: &mut MutatorSync, target: Phase) {
        match (s.phase, target) {
            (Phase::Idle, Phase::Armed) => self.arm(st),
            (Phase::Idle, Phase::Scanned) => {
                self.arm(st);
                self.copy_roots(st);
            }
            (Phase::Armed, Phase::Scanned) => self.copy_roots(st),
            (from, to) => unreachable!("{from:?} -> {to:?}"),
        }
        if target == Phase::Scanned {
            // SAFETY: the caller of `advance` has exclusive use of the
            // mutator's cells (its running owner, or the collector with it
            // parked, holding `hs`); loom checks it.
            st.per_store.with_mut(|p| unsafe { *p = 1 });
        }
        s.phase = target;
    }

    fn arm(&self, st: &MutatorState) {
        let n = if broken("armed-new") { 1 } else { 2 };
        // SAFETY: as in `advance`, whose caller this is.
        st.per_store.with_mut(|p| unsafe { *p = n });
        st.marking.store(true, Relaxed);
    }

    /// Mirrors `Runtime::copy_roots`: copies the roots for the collector.
    fn copy_roots(&self, st: &MutatorState) {
        let roots = st.roots.lock().unwrap().clone();
        self.copied.lock().unwrap().extend(roots);
    }

    /// Mirrors `Runtime::detach` (without the buffer flush: the barrier is
    /// eager here): roots become orphans, no catch-up.
    fn detach(&self, st: &Arc<MutatorState>) {
        let mut hs = st.hs.lock().unwrap();
        let roots = std::mem::take(&mut *st.roots.lock().unwrap());
        self.orphans.lock().unwrap().extend(roots);
        self.mutators.lock().unwrap().retain(|m| !Arc::ptr_eq(m, st));
        hs.running = false;
        drop(hs);
        *self.moved.lock().unwrap() += 1;
        self.cv.notify_all();
    }

    /// The marker: scans grey objects (acquire loads of their slots).
    fn drain(&self) {
        loop {
            let Some(o) = self.grey.lock().unwrap().pop() else { return };
            if let Some(f) = FIELD[o] {
                self.shade_obj(self.slots[f].load(Acquire));
            }
        }
    }

    /// Mirrors the concurrent part of `run_cycle`'s mark start.
    fn mark_start(&self) {
        self.handshake_round(Phase::Armed);
        self.tracing.store(true, SeqCst);
        // Tracing may begin: in the real collector, assists and flushes'
        // woken workers may scan from here on.
        self.drain();
        self.handshake_round(Phase::Scanned);
        // `grey_scanned_roots`, then the orphans.
        let copied = std::mem::take(&mut *self.copied.lock().unwrap());
        for o in copied {
            self.shade_obj(o);
        }
        let orphans = self.orphans.lock().unwrap().clone();
        for o in orphans {
            self.shade_obj(o);
        }
        self.drain();
    }

    /// At the end: every object reachable from a root (of an attached
    /// mutator, or orphaned) is marked.
    fn check(&self) {
        self.drain();
        let mut stack: Vec<usize> = self.orphans.lock().unwrap().clone();
        for m in self.mutators.lock().unwrap().iter() {
            stack.extend(m.roots.lock().unwrap().iter().copied());
        }
        let mut seen = [false; NOBJ];
        while let Some(o) = stack.pop() {
            if o == NIL || seen[o] {
                continue;
            }
            seen[o] = true;
            assert!(self.marks[o].load(Relaxed), "reachable object {o} is not marked");
            if let Some(f) = FIELD[o] {
                stack.push(self.slots[f].load(Relaxed));
            }
        }
    }
}

struct Mutator {
    rt: Arc<Runtime>,
    st: Arc<MutatorState>,
}

impl Mutator {
    /// Mirrors `Mutator::safepoint` + `safepoint_slow`.
    fn safepoint(&self) {
        if self.st.flag.load(Relaxed) {
            self.st.flag.swap(false, AcqRel);
            self.rt.handshake_own(&self.st);
        }
    }

    /// Mirrors `barrier::write` with the eager mode's shading: `Armed`
    /// (`per_store` 2, `WB_EXACT`) swaps and records both values; `Scanned`
    /// loads the old value, records it, and stores.
    fn store(&self, slot: usize, new: usize) {
        if self.st.marking.load(Relaxed) {
            // SAFETY: a running owner has exclusive use of its cells.
            if self.st.per_store.with(|p| unsafe { *p }) == 2 {
                let old = self.rt.slots[slot].swap(new, Release);
                self.rt.shade_obj(old);
                self.rt.shade_obj(new);
                return;
            }
            let old = self.rt.slots[slot].load(Relaxed);
            self.rt.shade_obj(old);
        }
        self.rt.slots[slot].store(new, Release);
    }

    fn load(&self, slot: usize) -> usize {
        self.rt.slots[slot].load(Acquire)
    }

    fn add_root(&self, o: usize) {
        self.st.roots.lock().unwrap().push(o);
    }

    fn drop_root(&self, o: usize) {
        self.st.roots.lock().unwrap().retain(|&r| r != o);
    }

    /// Mirrors `Root::get`: shades while this mutator's barrier is on.
    fn root_get(&self, o: usize) -> usize {
        if !broken("root-get") && self.st.marking.load(Relaxed) {
            self.rt.shade_obj(o);
        }
        o
    }

    /// Mirrors `Mutator::park` / `parked`'s leave and resume.
    fn park(&self) {
        self.rt.suspend_handshakes(&self.st);
    }

    fn unpark(&self) {
        self.rt.resume_handshakes(&self.st);
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        self.rt.detach(&self.st);
    }
}

/// Preemption bound: 2 in release (70 s for the file, 28 000 to 184 000
/// executions per test), 1 in debug, where `cargo test --workspace` runs it
/// (about 1 s in release; bound 1 already fails both `SHADE_LOOM_BREAK`
/// variants). `LOOM_MAX_PREEMPTIONS=n` overrides it.
const BOUND: usize = if cfg!(debug_assertions) { 1 } else { 2 };

fn check(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    let t = std::time::Instant::now();
    b.check(move || {
        r.fetch_add(1, Relaxed);
        f()
    });
    println!(
        "{name}: {} executions in {:.2?} (preemption bound {:?})",
        runs.load(Relaxed),
        t.elapsed(),
        b.preemption_bound
    );
}

/// Reaches safepoints until the mutator is in phase `p` (`Armed` comes
/// before `Scanned`). A program polls; the model sleeps until the flag is
/// raised instead, which loom can explore (`MutatorState::raised`).
fn until(m: &Mutator, p: Phase) {
    loop {
        m.safepoint();
        let now = m.st.hs.lock().unwrap().phase;
        if now == p || now == Phase::Scanned {
            return;
        }
        let mut g = m.st.raised.0.lock().unwrap();
        while !m.st.flag.load(Relaxed) {
            g = m.st.raised.1.wait(g).unwrap();
        }
    }
}

/// Objects: 1 has slot 0, 2 has slot 1, 3 has no slot. `on_time` runs on
/// one mutator, `late` on the other; each first reaches the phase its
/// script names, then runs the script, then polls until mark start is done.
/// The collector runs mark start; once both finish, the check runs.
fn scenario(
    slots: [usize; NSLOT],
    roots: [&'static [usize]; 2],
    on_time: (Phase, fn(&Mutator, &Handoff)),
    late: (Phase, fn(&Mutator, &Handoff)),
) {
    let rt = Runtime::new(slots);
    let a = Runtime::attach(&rt, roots[0]);
    let b = Runtime::attach(&rt, roots[1]);
    let handoff = Arc::new(Handoff(Mutex::new(0), Condvar::new()));
    let h = handoff.clone();
    let t1 = thread::spawn(move || {
        until(&a, on_time.0);
        (on_time.1)(&a, &h);
        until(&a, Phase::Scanned);
        a
    });
    let h = handoff;
    let t2 = thread::spawn(move || {
        until(&b, late.0);
        (late.1)(&b, &h);
        until(&b, Phase::Scanned);
        b
    });
    rt.mark_start();
    let a = t1.join().unwrap();
    let b = t2.join().unwrap();
    rt.check();
    drop((a, b));
}

/// A step counter the two scripts use to order their actions (a channel,
/// in a real program).
struct Handoff(Mutex<u32>, Condvar);

impl Handoff {
    fn set(&self, v: u32) {
        *self.0.lock().unwrap() = v;
        self.1.notify_all();
    }
    /// Waits, without a safepoint (the late mutator is late), for `v`.
    fn wait(&self, v: u32) {
        let mut g = self.0.lock().unwrap();
        while *g != v {
            g = self.1.wait(g).unwrap();
        }
    }
}

/// The late mutator, armed but not scanned, moves its only reference to
/// object 3 into object 1's slot (object 1 is the on-time mutator's root,
/// already scanned: the on-time mutator assists and may have blackened it)
/// and drops its root, before its next safepoint. Only the insertion half
/// of `Armed` keeps object 3 (`SHADE_LOOM_BREAK=armed-new` fails this).
#[test]
fn late_mutator_moves_its_object_into_a_scanned_one() {
    check("late_mutator_moves_its_object_into_a_scanned_one", BOUND, || {
        scenario(
            [NIL, NIL],
            [&[1], &[3]],
            (Phase::Scanned, |a, h| {
                // Object 1 is blackened before the late mutator's store:
                // shaded (as a recorded overwrite would), then scanned by
                // an assist.
                a.rt.shade_obj(1);
                a.rt.drain();
                h.set(1);
            }),
            (Phase::Armed, |b, h| {
                h.wait(1);
                b.store(0, 3);
                b.drop_root(3);
            }),
        )
    });
}

/// A pointer moves from the late mutator to the on-time one through a
/// `Root` handle registered by the late one (in its own, unscanned list):
/// the on-time mutator, scanned, gets it and stores it into its own root
/// object, which it blackens; then the late one drops the handle. Only
/// `Root::get`'s shading keeps object 3 (`SHADE_LOOM_BREAK=root-get` fails
/// this).
#[test]
fn pointer_moves_through_a_root_handle() {
    check("pointer_moves_through_a_root_handle", BOUND, || {
        scenario(
            [NIL, NIL],
            [&[1], &[3]],
            (Phase::Scanned, |a, h| {
                a.rt.shade_obj(1);
                a.rt.drain();
                h.wait(1);
                let x = a.root_get(3);
                a.store(0, x);
                a.rt.drain();
                h.set(2);
            }),
            (Phase::Armed, |b, h| {
                h.set(1);
                h.wait(2);
                b.drop_root(3);
            }),
        )
    });
}

/// A pointer moves from the late mutator to the on-time one through a heap
/// slot: the late one stores object 3 into object 2 (reachable from the
/// on-time mutator's root) and drops its root; the on-time one loads it,
/// roots it and clears the slot.
#[test]
fn pointer_moves_through_a_heap_slot() {
    check("pointer_moves_through_a_heap_slot", BOUND, || {
        scenario(
            [2, NIL],
            [&[1], &[3]],
            (Phase::Scanned, |a, h| {
                h.wait(1);
                let x = a.load(1);
                a.add_root(x);
                a.store(1, NIL);
            }),
            (Phase::Armed, |b, h| {
                b.store(1, 3);
                b.drop_root(3);
                h.set(1);
            }),
        )
    });
}

/// The on-time mutator parks and unparks while the rounds run (the
/// collector moves it while it is parked, or it catches up when it
/// unparks); the late one moves its object into the other's root object.
#[test]
fn park_and_unpark_during_the_rounds() {
    check("park_and_unpark_during_the_rounds", BOUND, || {
        scenario(
            [NIL, NIL],
            [&[1], &[3]],
            (Phase::Idle, |a, _| {
                a.park();
                a.unpark();
            }),
            (Phase::Armed, |b, _| {
                b.store(0, 3);
                b.drop_root(3);
            }),
        )
    });
}

/// A mutator detaches during the rounds with roots it never greyed: they
/// become orphans, which the collector greys after the rounds.
#[test]
fn detach_during_the_rounds_orphans_unscanned_roots() {
    check("detach_during_the_rounds_orphans_unscanned_roots", BOUND, || {
        let rt = Runtime::new([NIL, NIL]);
        let a = Runtime::attach(&rt, &[1]);
        let b = Runtime::attach(&rt, &[3]);
        let t = thread::spawn(move || {
            until(&b, Phase::Armed);
            drop(b);
        });
        let t1 = thread::spawn(move || {
            until(&a, Phase::Scanned);
            a
        });
        rt.mark_start();
        t.join().unwrap();
        let a = t1.join().unwrap();
        rt.check();
        drop(a);
    });
}
