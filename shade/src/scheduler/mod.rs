//! The collector's worker threads.
//!
//! A heap owns a small pool of long-lived threads (one fewer than the
//! configured mark workers: the collecting thread works too). `run` hands
//! every pool thread the same job and runs it on the caller as well, then
//! waits until all have finished — a scoped fork/join, so the job may borrow
//! from the caller's stack. Threads are spawned on first use, so a heap that
//! never collects costs no threads.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;

type Job = dyn Fn(usize) + Sync;

struct JobPtr(*const Job);
// SAFETY: the pointed-to job is `Sync` and outlives its use (see `run`).
unsafe impl Send for JobPtr {}

struct State {
    job: Option<JobPtr>,
    generation: u64,
    next_id: usize,
    pending: usize,
    /// Pool threads that take part in the current job.
    limit: usize,
    shutdown: bool,
    panicked: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

pub(crate) struct WorkerPool {
    size: usize,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Serialises `run` calls.
    run_lock: Mutex<()>,
}

impl WorkerPool {
    pub(crate) fn new(size: usize) -> WorkerPool {
        WorkerPool {
            size,
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    job: None,
                    generation: 0,
                    next_id: 1,
                    pending: 0,
                    limit: 0,
                    shutdown: false,
                    panicked: false,
                }),
                work: Condvar::new(),
                done: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
            run_lock: Mutex::new(()),
        }
    }

    /// Number of pool threads (not counting the caller of `run`).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn ensure_started(&self) {
        let mut threads = self.threads.lock();
        while threads.len() < self.size {
            let shared = self.shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("shade-worker-{}", threads.len() + 1))
                .spawn(move || worker_loop(&shared))
                .expect("shade: cannot spawn a collector worker thread");
            threads.push(h);
        }
    }

    /// Runs `job(id)` on `n - 1` pool threads (ids 1..n) and on the caller
    /// (id 0); returns when all have finished. `n` is at most `size() + 1`.
    pub(crate) fn run(&self, n: usize, job: &(dyn Fn(usize) + Sync + '_)) {
        let helpers = n.saturating_sub(1).min(self.size);
        if helpers == 0 {
            job(0);
            return;
        }
        let _serial = self.run_lock.lock();
        self.ensure_started();
        {
            let mut s = self.shared.state.lock();
            // SAFETY (lifetime erasure): the pointer is cleared below before
            // `run` returns, and `run` waits for every worker to finish the
            // job, so no worker uses it after `job`'s borrow ends.
            let erased: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + '_), &'static Job>(job) };
            s.job = Some(JobPtr(erased));
            s.generation += 1;
            s.next_id = 1;
            s.pending = helpers;
            s.limit = helpers;
            self.shared.work.notify_all();
        }
        job(0);
        let mut s = self.shared.state.lock();
        while s.pending > 0 {
            self.shared.done.wait(&mut s);
        }
        s.job = None;
        if std::mem::take(&mut s.panicked) {
            drop(s);
            panic!("shade: a collector worker thread panicked (heap corrupted?)");
        }
    }

    /// Stops and joins the pool threads.
    pub(crate) fn shutdown(&self) {
        {
            let mut s = self.shared.state.lock();
            s.shutdown = true;
            self.shared.work.notify_all();
        }
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}

fn worker_loop(shared: &Shared) {
    let mut seen = 0u64;
    let mut s = shared.state.lock();
    loop {
        if s.shutdown {
            return;
        }
        if s.generation != seen && s.job.is_some() && s.next_id <= s.limit {
            seen = s.generation;
            let id = s.next_id;
            s.next_id += 1;
            let job = s.job.as_ref().map(|j| j.0).expect("job");
            drop(s);
            // SAFETY: `run` keeps the job alive until `pending` reaches zero,
            // which happens only after this call returns.
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)(id) })).is_ok();
            s = shared.state.lock();
            if !ok {
                s.panicked = true;
            }
            s.pending -= 1;
            if s.pending == 0 {
                shared.done.notify_all();
            }
        } else {
            shared.work.wait(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::*};

    #[test]
    fn run_reaches_every_thread_each_time() {
        let pool = WorkerPool::new(3);
        for _ in 0..50 {
            let hits = AtomicUsize::new(0);
            let ids = Mutex::new(Vec::new());
            pool.run(4, &|id| {
                hits.fetch_add(1, SeqCst);
                ids.lock().push(id);
            });
            assert_eq!(hits.load(SeqCst), 4);
            let mut ids = ids.into_inner();
            ids.sort();
            assert_eq!(ids, vec![0, 1, 2, 3]);
            let hits = AtomicUsize::new(0);
            pool.run(2, &|_| {
                hits.fetch_add(1, SeqCst);
            });
            assert_eq!(hits.load(SeqCst), 2, "only n participants");
        }
        pool.shutdown();
    }
}
