//! `Heap`: the shared handle to one garbage-collected heap.

use crate::api::config::{Config, HeapError};
use crate::api::mutator::Mutator;
use crate::api::stats::HeapStats;
use crate::runtime::{Owner, Runtime};
use std::sync::Arc;

/// A garbage-collected heap, shared by any number of threads.
///
/// `Heap` is a cheap handle (`Clone`, `Send`, `Sync`); the heap lives until
/// the last handle and the last [`Mutator`] are gone, then runs the
/// destructors of every object still in it.
///
/// ```
/// use shade::{Config, Heap, Root};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let root = {
///     let mu = heap.mutator();
///     Root::new(&mu, mu.alloc(String::from("shared")))
/// };
/// let h2 = heap.clone();
/// std::thread::spawn(move || {
///     let mu = h2.mutator();
///     assert_eq!(root.get(&mu).as_str(), "shared");
/// })
/// .join()
/// .unwrap();
/// heap.collect();
/// assert_eq!(heap.stats().cycles, 1);
/// ```
#[derive(Clone)]
pub struct Heap {
    pub(crate) rt: Arc<Owner>,
}

impl Heap {
    /// Creates a heap. Fails on an invalid configuration (including a bad
    /// `SHADE_DEBUG` or `SHADE_GOGC`) or if the address space cannot be
    /// reserved.
    pub fn new(config: Config) -> Result<Heap, HeapError> {
        let settings = config.resolve()?;
        let rt = Runtime::new(settings).map_err(HeapError::Os)?;
        Ok(Heap { rt: Arc::new(Owner { rt }) })
    }

    /// Attaches the calling thread as a mutator of this heap.
    ///
    /// # Panics
    /// If this thread already has a running mutator of this heap (two would
    /// deadlock each other at a collection).
    pub fn mutator(&self) -> Mutator {
        Mutator::attach(self.rt.clone())
    }

    /// Runs a full collection now (Go's `runtime.GC()`), waiting for every
    /// running mutator to reach a safepoint. From a thread with a running
    /// mutator, use [`Mutator::collect`] instead.
    ///
    /// # Panics
    /// If this thread has a running mutator of this heap, if called from a
    /// destructor that a sweep runs (a destructor cannot wait for a
    /// collection), or if a destructor run by a sweep since the last
    /// `collect` panicked (the heap stays consistent).
    pub fn collect(&self) {
        if let Some(p) = self.rt.collect() {
            std::panic::resume_unwind(p);
        }
    }

    /// A snapshot of the heap's statistics.
    pub fn stats(&self) -> HeapStats {
        HeapStats::read(&self.rt)
    }

    /// Whether two handles refer to the same heap.
    pub fn ptr_eq(a: &Heap, b: &Heap) -> bool {
        Arc::ptr_eq(&a.rt, &b.rt)
    }
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap").field("id", &self.rt.id).finish_non_exhaustive()
    }
}
