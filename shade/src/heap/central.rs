//! Central span lists (Go's mcentral), one per span class.
//!
//! * `partial`: swept spans that still have free slots. Mutator caches take
//!   a span from here when their current one fills up, so a lock is taken
//!   once per span, not once per object.
//! * `unswept`: spans whose mark bits come from the cycle that just ended
//!   and that nobody has swept yet. Mark termination moves every in-use
//!   span here; the background sweeper and allocating mutators (lazy
//!   sweeping) pop spans off and sweep them.
//!
//! Popping a span under the lock makes the popper its only holder, which is
//! what makes sweeping it (and then allocating from it) race-free: no
//! sweep-generation counters are needed because a span is on at most one
//! list or in at most one cache at a time.

use super::span::Span;
use parking_lot::Mutex;

#[derive(Default)]
struct Lists {
    partial: Vec<*const Span>,
    unswept: Vec<*const Span>,
}

pub(crate) struct Central {
    lists: Mutex<Lists>,
}

// SAFETY: the pointers are span records owned by the MHeap; the lists are
// only used under their mutex.
unsafe impl Sync for Central {}
// SAFETY: as above.
unsafe impl Send for Central {}

impl Central {
    pub(crate) fn new() -> Central {
        Central { lists: Mutex::new(Lists::default()) }
    }

    /// Takes a swept span with free slots; the caller becomes its holder.
    pub(crate) fn take_partial(&self) -> Option<*const Span> {
        self.lists.lock().partial.pop()
    }

    /// Takes an unswept span; the caller must sweep it.
    pub(crate) fn take_unswept(&self) -> Option<*const Span> {
        self.lists.lock().unswept.pop()
    }

    /// Gives a swept span with free slots to the list.
    pub(crate) fn put_partial(&self, s: *const Span) {
        self.lists.lock().partial.push(s);
    }

    /// Mark termination: forgets the partial list. Its spans hold marks of
    /// the cycle that just ended, so they must be swept before reuse; they
    /// are all in the heap's in-use set and get queued from there.
    pub(crate) fn clear_partial(&self) {
        self.lists.lock().partial.clear();
    }

    /// Queues spans for sweeping.
    pub(crate) fn queue_unswept(&self, spans: &[*const Span]) {
        self.lists.lock().unswept.extend_from_slice(spans);
    }

    /// Number of unswept spans (diagnostics and tests).
    pub(crate) fn unswept_len(&self) -> usize {
        self.lists.lock().unswept.len()
    }
}
