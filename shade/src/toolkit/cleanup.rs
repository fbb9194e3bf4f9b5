//! Cleanups: a function that runs once after an object became unreachable,
//! in the spirit of Go's `runtime.AddCleanup`.
//!
//! The rules (gc/weak.rs has the mechanism):
//! * it runs after a cycle found the object unreachable, at most once, on
//!   the collector's coordinator thread, after that cycle's sweep (the
//!   object is already freed);
//! * it cannot reach the object, so it cannot resurrect it: the function is
//!   `'static + Send`, which no `Gc` is. If it holds a [`Root`](crate::Root)
//!   of the object, the object stays alive and the cleanup never runs;
//! * a panic inside it is caught and resumed, like a destructor's, at the
//!   next safepoint or `collect`; it runs under the destructor rules (it may
//!   attach a mutator, allocate and store, but not wait for a collection);
//! * it never runs if the heap is dropped while the object is still alive,
//!   or if [`Cleanup::stop`] was called first.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::gc::weak::CleanupRecord;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;

/// A registered cleanup (see [`Mutator::add_cleanup`]). Dropping the handle
/// does not cancel it; [`stop`](Cleanup::stop) does.
#[derive(Clone, Debug)]
pub struct Cleanup {
    stopped: Arc<AtomicBool>,
}

impl Cleanup {
    /// Cancels the cleanup if it has not started running (Go's
    /// `Cleanup.Stop`).
    pub fn stop(&self) {
        self.stopped.store(true, Relaxed);
    }
}

impl Mutator {
    /// Registers `f` to run once after `target` becomes unreachable (see
    /// the module rules above: no resurrection, runs on the collector
    /// thread after the sweep, panics surface at the next safepoint).
    ///
    /// ```
    /// use shade::{Config, Heap};
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut mu = heap.mutator();
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let file = mu.alloc(42u64); // stands for an object owning a resource
    /// let c = closed.clone();
    /// mu.add_cleanup(file, move || { c.fetch_add(1, SeqCst); });
    /// mu.collect();               // `file` is unreachable: its cleanup runs
    /// mu.collect();
    /// assert_eq!(closed.load(SeqCst), 1);
    /// ```
    pub fn add_cleanup<T>(&self, target: Gc<'_, T>, f: impl FnOnce() + Send + 'static) -> Cleanup {
        assert!(self.in_heap(target.addr()), "shade: add_cleanup: object is not in this mutator's heap");
        let stopped = Arc::new(AtomicBool::new(false));
        self.st.weak.lock().cleanups.push(CleanupRecord {
            target: target.addr(),
            run: Box::new(f),
            stopped: stopped.clone(),
        });
        Cleanup { stopped }
    }
}
