//! Central span lists (Go's mcentral), one per span class, each split by
//! the type of its spans (spans are typed: heap/object.rs).
//!
//! * `partial`: swept spans that still have free slots. Mutator caches take
//!   a span of the type they allocate from here when their current one
//!   fills up, so a lock is taken once per span, not once per object.
//! * `unswept`: spans whose mark bits come from the cycle that just ended
//!   and that nobody has swept yet. After mark termination every in-use
//!   span is queued here; the background sweeper pops spans of any type,
//!   allocating mutators pop spans of the type they need (lazy sweeping).
//!
//! Popping a span under the lock makes the popper its only holder, which is
//! what makes sweeping it (and then allocating from it) race-free: a span is
//! on at most one list or in at most one cache at a time.

use super::cache::SpanKey;
use super::span::Span;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::*};

#[derive(Default)]
struct TypeLists {
    partial: Vec<*const Span>,
    unswept: Vec<*const Span>,
}

#[derive(Default)]
struct Lists {
    by_type: HashMap<SpanKey, TypeLists>,
    /// Unswept spans over all types, so the background sweeper knows when
    /// to stop looking.
    unswept: usize,
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

    /// Takes a swept span of `key` with free slots; the caller becomes its
    /// holder.
    pub(crate) fn take_partial(&self, key: SpanKey) -> Option<*const Span> {
        self.lists.lock().by_type.get_mut(&key)?.partial.pop()
    }

    /// Takes an unswept span of `key`; the caller must sweep it.
    pub(crate) fn take_unswept(&self, key: SpanKey) -> Option<*const Span> {
        let mut l = self.lists.lock();
        let s = l.by_type.get_mut(&key)?.unswept.pop()?;
        l.unswept -= 1;
        Some(s)
    }

    /// Takes an unswept span of any type (the background sweeper).
    pub(crate) fn take_any_unswept(&self) -> Option<*const Span> {
        let mut l = self.lists.lock();
        if l.unswept == 0 {
            return None;
        }
        let s = l.by_type.values_mut().find_map(|t| t.unswept.pop())?;
        l.unswept -= 1;
        Some(s)
    }

    /// Gives a span with free slots (swept, or given back by a cache) to
    /// its type's list if it is of the heap's current sweep generation
    /// `gen`. A span of an ended cycle (a mutator gives it back between
    /// that cycle's termination and its own leaving of the cycle) holds
    /// marks that must be swept first: it stays out of every list, and the
    /// sweep queues it from the in-use set. Tested under the lock, which
    /// `clear_partial` also takes after the generation changed: a span
    /// pushed before that is cleared, one pushed after sees the new
    /// generation.
    pub(crate) fn put_partial(&self, s: *const Span, gen: &AtomicU64) {
        // SAFETY: the caller holds the span: a valid, in-use record.
        let (key, span_gen) = unsafe { ((*s).key(), (*s).sweep_gen.load(Relaxed)) };
        let mut l = self.lists.lock();
        if span_gen == gen.load(SeqCst) {
            l.by_type.entry(key).or_default().partial.push(s);
        }
    }

    /// Mark termination: forgets the partial lists. Their spans hold marks
    /// of the cycle that just ended, so they must be swept before reuse;
    /// they are all in the heap's in-use set and get queued from there.
    /// The lists keep their capacity: this runs with the world stopped, and
    /// freeing a list of thousands of spans (`munmap` inside `free`) cost
    /// up to 80 µs of pause.
    pub(crate) fn clear_partial(&self) {
        let mut l = self.lists.lock();
        for t in l.by_type.values_mut() {
            t.partial.clear();
        }
    }

    /// Queues spans for sweeping.
    ///
    /// Mutators take this lock to refill their caches, so it is held only
    /// for copies of at most `QUEUE_CHUNK` pointers at a time: the spans are
    /// grouped by type before locking (after a cycle, one class can have
    /// tens of thousands of spans to queue: doing that under the lock
    /// stalled allocating mutators for a millisecond).
    pub(crate) fn queue_unswept(&self, spans: &[*const Span]) {
        const QUEUE_CHUNK: usize = 1024;
        let mut groups: HashMap<SpanKey, Vec<*const Span>> = HashMap::new();
        for &s in spans {
            // SAFETY: queued spans are valid in-use records held by the caller.
            let key = unsafe { (*s).key() };
            groups.entry(key).or_default().push(s);
        }
        for (key, group) in groups {
            for chunk in group.chunks(QUEUE_CHUNK) {
                let mut l = self.lists.lock();
                l.by_type.entry(key).or_default().unswept.extend_from_slice(chunk);
                l.unswept += chunk.len();
            }
        }
    }

    /// Number of unswept spans (diagnostics and tests).
    pub(crate) fn unswept_len(&self) -> usize {
        self.lists.lock().unswept
    }

    /// Whether `s` is on `key`'s partial list (tests).
    #[cfg(test)]
    pub(crate) fn has_partial(&self, key: SpanKey, s: *const Span) -> bool {
        self.lists.lock().by_type.get(&key).is_some_and(|t| t.partial.contains(&s))
    }
}
