//! Stopping the world at safepoints: the handshake between the collector
//! and the mutators.
//!
//! Every attached mutator is either *running* (it may touch the heap: load
//! and store slots, allocate, hold `Gc` pointers) or *stopped* (parked, or
//! waiting at a safepoint: it holds no `Gc`, and its allocation cache, local
//! roots and — with the concurrent collector — write barrier buffer may be
//! used by the collector). `running` counts the running ones.
//!
//! To stop the world, a collector sets `stopping` under the lock, raises
//! every mutator's lock-free safepoint flag (`MutatorState::flag`, polled by
//! its safepoints; the caller passes the raising as a closure), and waits
//! until `running` is zero.
//! A running mutator notices the flag at its next safepoint, decrements
//! `running`, and sleeps until `stopping` clears. A parked mutator is already
//! not counted, so it never delays the collector; unparking waits while a
//! stop is in progress. Every transition goes through the mutex, whose
//! acquire/release ordering is what makes a mutator's last writes before
//! stopping visible to the collector, and the collector's writes (swept
//! spans, reset caches) visible to the mutator when it resumes.
//!
//! The flag is also raised for a ragged handshake (gc/handshake.rs) and to
//! deliver a destructor's deferred panic, so a safepoint is one relaxed load
//! and a branch on the fast path.
//!
//! Waiting: a stop is short (tens of microseconds of collector work), while
//! waking a thread asleep on a condition variable costs about as much again
//! on a busy or virtualised machine, twice per stop (collector, then each
//! mutator). So both sides first spin briefly (`spin_until`: pause
//! instructions, then yielding, for at most `SPIN_LIMIT`) on lock-free
//! mirrors of the state (`stopping_hint`, `running_hint`), and only then
//! sleep. The mirrors are written under the lock with the state they
//! mirror; a spinner that sees the awaited value still re-checks it under
//! the lock, which is what orders its accesses, so the hints are only ever
//! hints.
//!
//! Pause accounting: a stop pauses a mutator from the moment it blocks
//! (at a safepoint, or trying to unpark or attach) until the restart. A
//! mutator still running while the collector waits for it is not paused, so
//! the stop's pause runs from the first block (`first_block`), or, if no
//! mutator was running, from the moment the world was stopped, to the
//! restart; `start` returns it.

use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

thread_local! {
    /// Heaps for which this thread has a running mutator. A thread with two
    /// running mutators of one heap could never stop both at one safepoint,
    /// and a thread with one cannot wait for a collection of that heap
    /// without parking it: both would stop the world forever.
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread has a running mutator of heap `heap`.
pub(crate) fn thread_has_running(heap: u64) -> bool {
    RUNNING.with(|r| r.borrow().contains(&heap))
}

/// Records that this thread now runs a mutator of `heap`.
///
/// # Panics
/// If it already runs one.
pub(crate) fn mark_running(heap: u64) {
    RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        if r.contains(&heap) {
            panic!("shade: this thread already has a running Mutator of this heap");
        }
        r.push(heap);
    })
}

/// Records that this thread's mutator of `heap` parked or detached.
pub(crate) fn unmark_running(heap: u64) {
    // `try_with`: during thread teardown the thread-local may be gone.
    let _ = RUNNING.try_with(|r| r.borrow_mut().retain(|&h| h != heap));
}

/// Longest a mutator or the collector spins before sleeping (see the module
/// comment).
const SPIN_LIMIT: Duration = Duration::from_micros(200);

/// Spins until `done()`, for at most `SPIN_LIMIT`: a few pause
/// instructions first, then yielding the CPU (on a machine with as many
/// busy threads as cores, the thread we wait for may need ours).
fn spin_until(done: impl Fn() -> bool) {
    let start = Instant::now();
    let mut round = 0u32;
    while !done() {
        if round < 32 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
            if start.elapsed() > SPIN_LIMIT {
                return;
            }
        }
        round += 1;
    }
}

struct State {
    stopping: bool,
    running: usize,
    /// When the first mutator blocked on the stop in progress.
    first_block: Option<Instant>,
    /// When the stop in progress had stopped every running mutator.
    stopped_at: Option<Instant>,
}

impl State {
    /// A mutator blocks on the stop in progress.
    fn note_block(&mut self) {
        self.first_block.get_or_insert_with(Instant::now);
    }
}

pub(crate) struct Stw {
    state: Mutex<State>,
    cv: Condvar,
    /// `State::stopping` and `State::running`, stored under the lock, read
    /// without it by spinners.
    stopping_hint: AtomicBool,
    running_hint: AtomicUsize,
}

/// How `stop` obtained a stopped world.
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Stopped {
    /// The caller stopped the world and must restart it with `start`.
    ByUs,
    /// Another thread was collecting; the caller waited for it to finish
    /// and the world is running again.
    WaitedForOther,
}

impl Stw {
    pub(crate) fn new() -> Stw {
        Stw {
            state: Mutex::new(State { stopping: false, running: 0, first_block: None, stopped_at: None }),
            cv: Condvar::new(),
            stopping_hint: AtomicBool::new(false),
            running_hint: AtomicUsize::new(0),
        }
    }

    /// A new mutator starts running (waits out a stop in progress).
    pub(crate) fn attach(&self) {
        let mut s = self.state.lock();
        if s.stopping {
            s.note_block();
        }
        while s.stopping {
            self.cv.wait(&mut s);
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
    }

    /// A running mutator stops for good or parks.
    pub(crate) fn leave(&self) {
        let mut s = self.state.lock();
        s.running -= 1;
        self.running_hint.store(s.running, Release);
        self.cv.notify_all();
    }

    /// A parked mutator resumes running.
    pub(crate) fn enter(&self) {
        self.attach()
    }

    /// Resumes running only if no stop is in progress (never blocks).
    pub(crate) fn try_enter(&self) -> bool {
        let mut s = self.state.lock();
        if s.stopping {
            return false;
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
        true
    }

    /// Called by a running mutator at a safepoint when its flag was up: if a
    /// stop is in progress, stops until it ends and returns true.
    pub(crate) fn block_if_stopping(&self) -> bool {
        let mut s = self.state.lock();
        if !s.stopping {
            return false;
        }
        s.note_block();
        s.running -= 1;
        self.running_hint.store(s.running, Release);
        self.cv.notify_all();
        drop(s);
        spin_until(|| !self.stopping_hint.load(Acquire));
        let mut s = self.state.lock();
        while s.stopping {
            self.cv.wait(&mut s);
        }
        s.running += 1;
        self.running_hint.store(s.running, Release);
        true
    }

    /// Stops the world. `is_mutator` says the caller is itself a running
    /// mutator (it stops too, and resumes in `start`). `raise_flags` raises
    /// every mutator's safepoint flag; it is called after `stopping` is set,
    /// so a mutator that lowers its flag after the raise sees the stop.
    pub(crate) fn stop(&self, is_mutator: bool, raise_flags: impl FnOnce()) -> Stopped {
        let mut s = self.state.lock();
        if s.stopping {
            if is_mutator {
                s.note_block();
                s.running -= 1;
                self.running_hint.store(s.running, Release);
                self.cv.notify_all();
            }
            while s.stopping {
                self.cv.wait(&mut s);
            }
            if is_mutator {
                s.running += 1;
                self.running_hint.store(s.running, Release);
            }
            return Stopped::WaitedForOther;
        }
        s.stopping = true;
        self.stopping_hint.store(true, Release);
        s.first_block = None;
        raise_flags();
        if is_mutator {
            s.note_block();
            s.running -= 1;
            self.running_hint.store(s.running, Release);
        }
        if s.running > 0 {
            drop(s);
            spin_until(|| self.running_hint.load(Acquire) == 0);
            s = self.state.lock();
        }
        while s.running > 0 {
            self.cv.wait(&mut s);
        }
        s.stopped_at = Some(Instant::now());
        Stopped::ByUs
    }

    /// Restarts the world stopped by `stop`. Returns the stop's pause (see
    /// the module comment). Each mutator lowered its own flag on its way into
    /// the stop.
    pub(crate) fn start(&self, is_mutator: bool) -> Duration {
        let mut s = self.state.lock();
        let now = Instant::now();
        let began = s.first_block.take().into_iter().chain(s.stopped_at.take()).min().unwrap_or(now);
        s.stopping = false;
        self.stopping_hint.store(false, Release);
        if is_mutator {
            s.running += 1;
            self.running_hint.store(s.running, Release);
        }
        self.cv.notify_all();
        now.saturating_duration_since(began)
    }
}
