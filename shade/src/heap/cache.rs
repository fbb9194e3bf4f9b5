//! Per-mutator allocation caches (Go's mcache).
//!
//! Each mutator owns one `MCache`: for every span class, the span it is
//! currently allocating from. The fast path is `Span::next_free` on that
//! span: a trailing-zero count on a cached word of free bits, with no lock
//! and no atomic read-modify-write, touching only memory this mutator owns.
//! When the span is full the runtime finds another (`Runtime::refill`:
//! central list, lazy sweeping, or a fresh span) and `install`s it here,
//! charging the span's free slots to the pacer up front, so the shared
//! counter is updated once per span instead of once per object.

use super::sizeclass::{SpanClass, NUM_SPAN_CLASSES};
use super::span::Span;
use super::MHeap;

/// Stand-in for "no span": full, never written, so the fast path needs no
/// null check.
static EMPTY_SPAN: Span = Span::new();

pub(crate) struct MCache {
    spans: [*const Span; NUM_SPAN_CLASSES],
}

impl MCache {
    pub(crate) fn new() -> MCache {
        MCache { spans: [&EMPTY_SPAN as *const Span; NUM_SPAN_CLASSES] }
    }

    /// Allocation fast path: a free slot of the cached span, or `None`.
    #[inline]
    pub(crate) fn alloc_fast(&self, sc: SpanClass) -> Option<(usize, &Span)> {
        // SAFETY: cached pointers are EMPTY_SPAN or in-use spans this cache
        // holds; a span stays valid while it is held.
        let s = unsafe { &*self.spans[sc.index()] };
        let i = s.next_free()?;
        Some((s.base_of(i), s))
    }

    /// Makes `span` (held by the caller, with free slots) the current span
    /// of its class. The previous one is full; it stays in the heap's in-use
    /// set, where mark termination will find it.
    pub(crate) fn install(&mut self, sc: SpanClass, span: *const Span) {
        self.spans[sc.index()] = span;
    }

    /// Drops every cached span (at mark termination, or when the mutator
    /// detaches) and returns the bytes charged for slots that were never
    /// used, and their number. Spans with free slots go back to the central
    /// lists if `to_central` (otherwise mark termination queues them for
    /// sweeping with all the others).
    pub(crate) fn release_all(&mut self, heap: &MHeap, to_central: bool) -> (usize, usize) {
        let mut unused = 0;
        let mut objects = 0;
        for (i, slot) in self.spans.iter_mut().enumerate() {
            if std::ptr::eq(*slot, &EMPTY_SPAN) {
                continue;
            }
            // SAFETY: a held, in-use span (see `alloc_fast`).
            let s = unsafe { &**slot };
            unused += s.free_count() * s.elem_size.get();
            objects += s.free_count();
            if to_central && s.free_count() > 0 {
                heap.central[i].put_partial(*slot);
            }
            *slot = &EMPTY_SPAN;
        }
        (unused, objects)
    }
}
