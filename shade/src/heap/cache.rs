//! Per-mutator allocation caches (Go's mcache).
//!
//! Each mutator owns one `MCache`: for every (type, span class) it allocates,
//! the span it is currently allocating from. Spans are typed (an object has
//! no header, its span names its type: heap/object.rs), so the cache is
//! keyed by the type's descriptor address and the class, not by the class
//! alone as in Go.
//!
//! The table is small and set-associative: `SETS` sets of two entries, the
//! set chosen by a multiplicative hash of the key. The fast path hashes the
//! key, compares it with the two entries of its set and, on a hit, calls
//! `Span::next_free` on that span: a trailing-zero count on a cached word of
//! free bits, with no lock and no atomic read-modify-write, touching only
//! memory this mutator owns. A program allocating a handful of types in a
//! loop (the common case for a VM: a few node, frame and string types) hits
//! every time; one juggling more hot types than the table holds pays a
//! trip to the central list per evicted span, not per object.
//!
//! When the span is full, or the key is missing, the runtime finds another
//! span (`Runtime::refill`: central list, lazy sweeping, or a fresh span) and
//! `install`s it here, charging its free slots to the pacer up front, so the
//! shared counter is updated once per span instead of once per object. An
//! entry evicted to make room goes back to its central list with its unused
//! slots uncharged.

use super::object::TypeInfo;
use super::sizeclass::SpanClass;
use super::span::Span;
use super::MHeap;

/// Sets in the table (a power of two); two entries each.
const SETS: usize = 32;

/// A (type, span class) pair packed in one word: the descriptor's address
/// (below 2^56 on every supported platform) with the class in the top byte.
/// Never zero, which marks an empty entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct SpanKey(usize);

impl SpanKey {
    #[inline]
    pub(crate) fn new(ty: &'static TypeInfo, class: SpanClass) -> SpanKey {
        SpanKey(ty as *const TypeInfo as usize | (class.0 as usize) << 56)
    }

    #[inline]
    fn set(self) -> usize {
        // Fibonacci hashing: the top bits of the product mix every bit of
        // the address, so descriptors laid out next to each other spread out.
        ((self.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (u64::BITS - SETS.trailing_zeros())) as usize
    }
}

#[derive(Clone, Copy)]
struct Entry {
    key: SpanKey,
    span: *const Span,
}

const EMPTY: Entry = Entry { key: SpanKey(0), span: std::ptr::null() };

pub(crate) struct MCache {
    /// Set `s` is `entries[2s]` (most recently installed) and `entries[2s+1]`.
    entries: [Entry; 2 * SETS],
}

impl MCache {
    pub(crate) fn new() -> MCache {
        MCache { entries: [EMPTY; 2 * SETS] }
    }

    /// Allocation fast path: a free slot of the cached span for `key`, or
    /// `None` (no span cached for it, or the span is full).
    #[inline]
    pub(crate) fn alloc_fast(&self, key: SpanKey) -> Option<(usize, &Span)> {
        let i = 2 * key.set();
        let e = if self.entries[i].key == key {
            self.entries[i]
        } else if self.entries[i + 1].key == key {
            self.entries[i + 1]
        } else {
            return None;
        };
        // SAFETY: a non-empty entry holds an in-use span this cache holds; a
        // span stays valid while it is held.
        let s = unsafe { &*e.span };
        let idx = s.next_free()?;
        Some((s.base_of(idx), s))
    }

    /// Makes `span` (held by the caller, with free slots) the current span
    /// for `key`. A full span it replaces stays in the heap's in-use set,
    /// where mark termination will find it; a replaced span that still has
    /// free slots (a destructor run by the refill's lazy sweep allocated on
    /// this mutator and installed it) goes back to its central list, as
    /// does another key's span evicted to make room. Returns the bytes and
    /// slots charged for those spans but never used.
    pub(crate) fn install(&mut self, key: SpanKey, span: *const Span, heap: &MHeap) -> (usize, usize) {
        let i = 2 * key.set();
        if self.entries[i].key == key {
            let replaced = std::mem::replace(&mut self.entries[i].span, span);
            return Self::release(Entry { key, span: replaced }, heap, true);
        }
        if self.entries[i + 1].key == key {
            let replaced = self.entries[i + 1];
            self.entries[i + 1] = self.entries[i];
            self.entries[i] = Entry { key, span };
            return Self::release(replaced, heap, true);
        }
        let evicted = self.entries[i + 1];
        self.entries[i + 1] = self.entries[i];
        self.entries[i] = Entry { key, span };
        Self::release(evicted, heap, true)
    }

    /// Gives one entry's span back: to its central list if it has free slots
    /// and `to_central`. Returns its unused (charged) bytes and slots.
    fn release(e: Entry, heap: &MHeap, to_central: bool) -> (usize, usize) {
        if e.key == EMPTY.key {
            return (0, 0);
        }
        // SAFETY: a held, in-use span (see `alloc_fast`).
        let s = unsafe { &*e.span };
        let free = s.free_count();
        if to_central && free > 0 {
            heap.central[s.class.get().index()].put_partial(e.span, &heap.sweep_gen);
        }
        (free * s.elem_size.get(), free)
    }

    /// Whether `span` is a current span of this cache (tests).
    #[cfg(test)]
    pub(crate) fn holds(&self, span: *const Span) -> bool {
        self.entries.iter().any(|e| e.key != EMPTY.key && std::ptr::eq(e.span, span))
    }

    /// Drops every cached span (at mark termination, or when the mutator
    /// detaches) and returns the bytes charged for slots that were never
    /// used, and their number. Spans with free slots go back to the central
    /// lists if `to_central` (otherwise mark termination queues them for
    /// sweeping with all the others).
    pub(crate) fn release_all(&mut self, heap: &MHeap, to_central: bool) -> (usize, usize) {
        let mut unused = 0;
        let mut objects = 0;
        for e in self.entries.iter_mut() {
            let (b, o) = Self::release(std::mem::replace(e, EMPTY), heap, to_central);
            unused += b;
            objects += o;
        }
        (unused, objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::object::SizedInfo;

    #[test]
    fn keys_separate_types_and_classes() {
        let a = SpanKey::new(&SizedInfo::<u64>::INFO, SpanClass::new(3, true));
        let b = SpanKey::new(&SizedInfo::<u32>::INFO, SpanClass::new(3, true));
        let c = SpanKey::new(&SizedInfo::<u64>::INFO, SpanClass::new(4, true));
        assert!(a != b && a != c && b != c);
        assert_ne!(a, EMPTY.key);
        assert!(a.set() < SETS);
    }
}
