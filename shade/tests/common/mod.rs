//! Helpers shared by the integration tests.
//!
//! Each test binary includes this module with `mod common;` and uses only
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use shade::{Config, Heap, Trace, Tracer};
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A configuration that ignores the environment (so `SHADE_GOGC` or
/// `SHADE_DEBUG` set by whoever runs the tests cannot change the counts the
/// tests assert), poisons freed memory (a use after free then shows up as a
/// panic or a checksum mismatch), and uses two mark workers.
///
/// The address-space reservation is 4 GiB instead of the default 64 GiB:
/// in debug builds the page table for a 64 GiB arena is initialised entry
/// by entry (64 MB written, ~0.3 s per heap), which would dominate the run
/// time of tests that create many heaps. Under Miri it is 64 MiB: Miri
/// backs the arena with an ordinary allocation, and creating a heap costs it
/// about 10 s per GiB of arena.
pub fn config() -> Config {
    let reserve = if cfg!(miri) { 64 << 20 } else { 4 << 30 };
    Config { read_env: false, clobber_free: true, mark_workers: 2, reserve, ..Config::default() }
}

/// A heap with `config()`, and a small `min_heap` so that allocation
/// triggers collections at safepoints often.
pub fn small_heap(min_heap: usize) -> Heap {
    Heap::new(Config { min_heap, ..config() }).expect("heap")
}

/// A heap with `config()` and the default pacing (4 MiB minimum heap).
pub fn heap() -> Heap {
    Heap::new(config()).expect("heap")
}

/// Operation counts for the stress tests: `SHADE_STRESS_ITERS` if set,
/// otherwise the given (small, CI-sized) default.
pub fn iters(default: usize) -> usize {
    std::env::var("SHADE_STRESS_ITERS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Counts, per id, how many times a `DropToken` with that id was dropped.
pub struct DropLog {
    counts: Vec<AtomicU32>,
    total: AtomicUsize,
}

impl DropLog {
    pub fn new(n: usize) -> Arc<DropLog> {
        Arc::new(DropLog { counts: (0..n).map(|_| AtomicU32::new(0)).collect(), total: AtomicUsize::new(0) })
    }

    /// Times the token `id` was dropped.
    pub fn count(&self, id: usize) -> u32 {
        self.counts[id].load(SeqCst)
    }

    /// Tokens dropped so far (all ids).
    pub fn total(&self) -> usize {
        self.total.load(SeqCst)
    }

    /// Panics unless every id in `range` was dropped exactly `times` times.
    pub fn assert_range(&self, range: std::ops::Range<usize>, times: u32, what: &str) {
        for id in range {
            assert_eq!(self.count(id), times, "{what}: token {id} dropped {} times, expected {times}", self.count(id));
        }
    }

    /// Panics if any token was dropped more than once.
    pub fn assert_no_double_drop(&self) {
        for (id, c) in self.counts.iter().enumerate() {
            let c = c.load(SeqCst);
            assert!(c <= 1, "token {id} dropped {c} times");
        }
    }
}

/// A pointer-free value whose destructor records itself in a `DropLog`.
pub struct DropToken {
    pub id: usize,
    log: Arc<DropLog>,
}

impl DropToken {
    pub fn new(log: &Arc<DropLog>, id: usize) -> DropToken {
        assert!(id < log.counts.len(), "token id {id} out of range");
        DropToken { id, log: log.clone() }
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.log.counts[self.id].fetch_add(1, SeqCst);
        self.log.total.fetch_add(1, SeqCst);
    }
}

// SAFETY: a DropToken holds no GC pointers (an id and an Arc to malloc'd
// counters), and its destructor touches no GC object.
unsafe impl Trace for DropToken {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// A pointer-free value whose destructor panics with the given message
/// (after recording itself in the log, so tests can count the attempts).
pub struct PanicOnDrop {
    pub msg: &'static str,
    pub token: DropToken,
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.msg);
    }
}

// SAFETY: no GC pointers; the destructor touches no GC object.
unsafe impl Trace for PanicOnDrop {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// The message of a panic payload (`&str` or `String`).
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Runs `f` and returns its panic message, or panics if it did not panic.
pub fn expect_panic<R>(what: &str, f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("{what}: expected a panic, got none"),
        Err(p) => panic_message(&*p),
    }
}

/// Runs `f` on a new thread and waits at most `secs` seconds for it: a
/// deadlock in the collector's handshake fails the test instead of hanging
/// the test run. A panic in `f` is propagated.
pub fn with_timeout<R: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("timeout-{what}"))
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => resume_unwind(p),
        Err(_) => panic!("{what}: did not finish within {secs} s (deadlock?)"),
    }
}

/// A small, seedable PRNG (splitmix64): deterministic across platforms.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }
}

/// A value derived from `x` that a poisoned or mixed-up object will not
/// reproduce by accident.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A heap in the stress modes (`checkmark`, `smallbuf`, and `config()`'s
/// `clobberfree`) with a thread that runs collections back to back until
/// `stop`.
pub struct ForcedCollections {
    pub heap: Heap,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForcedCollections {
    pub fn start() -> ForcedCollections {
        let heap = Heap::new(Config { checkmark: true, smallbuf: true, ..config() }).expect("heap");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (h, stop) = (heap.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    h.collect();
                }
            })
        };
        ForcedCollections { heap, stop, thread: Some(thread) }
    }

    /// Stops the collection thread and waits for it, with `mu` (if any)
    /// parked meanwhile: the thread's last collection must not wait for it.
    pub fn stop(mut self, mu: Option<&mut shade::Mutator>) {
        self.stop.store(true, SeqCst);
        let t = self.thread.take().expect("running");
        match mu {
            Some(mu) => mu.parked(|| t.join().expect("collection thread")),
            None => t.join().expect("collection thread"),
        }
    }
}
