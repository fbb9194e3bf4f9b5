//! Central span lists (Go's mcentral): for one span class, the swept spans
//! that still have free slots. Mutator caches take a span from here when
//! their current one fills up, so a lock is taken once per span, not once
//! per object. The sweeper refills these lists after every cycle.

use super::span::Span;
use parking_lot::Mutex;

pub(crate) struct Central {
    partial: Mutex<Vec<*const Span>>,
}

// SAFETY: the pointers are span records owned by the MHeap; the list is only
// used under its mutex.
unsafe impl Sync for Central {}
// SAFETY: as above.
unsafe impl Send for Central {}

impl Central {
    pub(crate) fn new() -> Central {
        Central { partial: Mutex::new(Vec::new()) }
    }

    /// Takes a span with free slots; the caller becomes its holder.
    pub(crate) fn take(&self) -> Option<*const Span> {
        self.partial.lock().pop()
    }

    /// Gives a span with free slots to the list.
    pub(crate) fn put(&self, s: *const Span) {
        self.partial.lock().push(s);
    }

    /// Forgets every span (the sweeper rebuilds the lists).
    pub(crate) fn clear(&self) {
        self.partial.lock().clear();
    }
}
