//! `--busy`: a busy machine for the whole run.
//!
//! A concurrent collector's wall time looks best on a machine with an idle
//! core: its marking and sweeping run there for free. `--busy` takes that
//! core away: one thread of the benchmark's parent process spins on integer
//! arithmetic from before the first peer starts until after the last one
//! ends, pinned to one CPU (the last one the process may use), so every peer
//! — in-process or a child process, Shade's collector threads included —
//! shares the machine with a CPU-bound neighbour. The report says so, and
//! the targets that need a busy machine are judged only in this mode.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The spinning thread; stops and is joined on drop.
pub struct Busy {
    stop: Arc<AtomicBool>,
    spins: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// The CPU the thread is pinned to, if pinning worked.
    pub pinned: Option<usize>,
}

impl Busy {
    /// Starts the spinning thread.
    pub fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicU64::new(0));
        let cpu = last_allowed_cpu();
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let thread = {
            let (stop, spins) = (stop.clone(), spins.clone());
            std::thread::Builder::new()
                .name("busy".into())
                .spawn(move || {
                    let pinned = cpu.filter(|&c| pin_to(c));
                    let _ = pinned_tx.send(pinned);
                    let mut x = 0x9E37_79B9_7F4A_7C15u64;
                    while !stop.load(Relaxed) {
                        for _ in 0..100_000 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        }
                        spins.fetch_add(1, Relaxed);
                    }
                    std::hint::black_box(x);
                })
                .expect("shade-bench: cannot spawn the --busy thread")
        };
        let pinned = pinned_rx.recv().ok().flatten();
        Busy { stop, spins, thread: Some(thread), pinned }
    }

    /// Rounds of 100,000 multiply-adds the thread has done: evidence that it
    /// ran (the report prints it).
    pub fn rounds(&self) -> u64 {
        self.spins.load(Relaxed)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The highest-numbered CPU this process may run on.
fn last_allowed_cpu() -> Option<usize> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    (0..rustix::thread::CpuSet::MAX_CPU).rev().find(|&c| set.is_set(c))
}

/// Pins the calling thread to `cpu`; false if the system refused.
fn pin_to(cpu: usize) -> bool {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_thread_spins_until_dropped() {
        let b = Busy::start();
        let t = std::time::Instant::now();
        while b.rounds() < 3 {
            assert!(t.elapsed().as_secs() < 60, "the busy thread made no progress");
            std::thread::yield_now();
        }
        let spins = b.spins.clone();
        drop(b);
        let after = spins.load(Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(spins.load(Relaxed), after, "the busy thread still runs after drop");
    }
}
