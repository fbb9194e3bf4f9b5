//! Spans: runs of pages holding objects of one type and one size class (or
//! one large object), with their side bitmaps.
//!
//! A span's metadata lives outside the arena, in a `Span` record that is
//! never freed while the heap lives (records are recycled), so a lock-free
//! reader that found a span through the page table always reads a valid
//! record. Two bitmaps hang off each span, one bit per object slot:
//!
//! * `mark`: set by the marker (and by the allocator during a cycle:
//!   allocate-black). Atomic: several mark workers and mutators set bits in
//!   the same word concurrently.
//! * `alloc`: which slots held live objects when the span was last swept.
//!   Together with `free_index` it says which slots are allocated now: slot
//!   `i` is allocated iff `i < free_index` or its alloc bit is set. Sweeping
//!   turns the mark bits into the next cycle's alloc bits and clears the marks.
//!
//! Ownership of the allocation state (`free_index`, the free-bit cache,
//! `alloc_count`) follows the span: exactly one of an mcache, the central
//! list, or the sweeper holds a span at a time, and hands it on through a
//! lock (central/page heap) or a stop of the world. Those fields are therefore
//! plain `Cell`s, touched only by the current holder.

use super::object::TypeInfo;
use super::sizeclass::{div_magic, SpanClass, BITMAP_WORDS, PAGE_SIZE};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// A fixed-size atomic bitmap, one bit per object slot of a span.
pub(crate) struct Bitmap([AtomicU64; BITMAP_WORDS]);

impl Bitmap {
    pub(crate) const fn new() -> Bitmap {
        Bitmap([const { AtomicU64::new(0) }; BITMAP_WORDS])
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Relaxed) & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns whether it was already set. Reads first so that
    /// an already-set bit (the common case late in marking) costs no atomic
    /// read-modify-write and no cache-line ownership transfer.
    #[inline]
    pub(crate) fn test_and_set(&self, i: usize) -> bool {
        let w = &self.0[i / 64];
        let bit = 1u64 << (i % 64);
        if w.load(Relaxed) & bit != 0 {
            return true;
        }
        w.fetch_or(bit, Relaxed) & bit != 0
    }

    #[inline]
    pub(crate) fn word(&self, w: usize) -> u64 {
        self.0[w].load(Relaxed)
    }

    pub(crate) fn set_word(&self, w: usize, v: u64) {
        self.0[w].store(v, Relaxed)
    }

    pub(crate) fn clear(&self) {
        for w in &self.0 {
            w.store(0, Relaxed);
        }
    }

    /// Number of set bits among the first `n`.
    pub(crate) fn count(&self, n: usize) -> usize {
        let mut total = 0;
        for w in 0..n.div_ceil(64) {
            let mut bits = self.word(w);
            let rem = n - w * 64;
            if rem < 64 {
                bits &= (1u64 << rem) - 1;
            }
            total += bits.count_ones() as usize;
        }
        total
    }
}

/// Metadata of one span. See the module comment for who may touch what.
pub(crate) struct Span {
    /// First byte of the span (page aligned).
    pub(crate) start: Cell<usize>,
    pub(crate) npages: Cell<usize>,
    /// Object slot size; the whole span for large objects.
    pub(crate) elem_size: Cell<usize>,
    /// The type of every object in the span (heap/object.rs).
    ty: Cell<*const TypeInfo>,
    pub(crate) nelems: Cell<usize>,
    pub(crate) magic: Cell<u64>,
    pub(crate) class: Cell<SpanClass>,
    pub(crate) in_use: AtomicBool,
    /// Position in the heap's in-use vector; only touched under its lock.
    pub(crate) in_use_idx: Cell<usize>,
    /// The heap's sweep generation this span's mark bits belong to: a span
    /// allocated, or queued for sweeping, in generation `g` has
    /// `sweep_gen == g`; one with a smaller value still holds marks of an
    /// earlier cycle and must be queued (see gc/collector.rs, `queue_sweep`).
    pub(crate) sweep_gen: AtomicU64,
    pub(crate) mark: Bitmap,
    pub(crate) alloc: Bitmap,
    // Allocation state, owned by the span's current holder. `free_index` is
    // an atomic only so that `wbcheck` may read it racily from another
    // thread; its holder uses relaxed accesses, which compile to plain ones.
    pub(crate) free_index: AtomicUsize,
    /// Free bits (inverted alloc bits) of the bitmap word at `cache_base`,
    /// with the bits already handed out cleared.
    cache: Cell<u64>,
    cache_base: Cell<usize>,
    /// Allocated slots as of the last sweep plus slots handed out since.
    pub(crate) alloc_count: Cell<usize>,
}

// SAFETY: the `Cell` fields are only touched by the span's unique current
// holder (mcache, central list under its lock, or the sweeper during a stop
// of the world), and handing a span from one holder to the next always goes
// through a lock or the stop-the-world handshake, which orders the accesses.
// The `start`/`elem_size`/... geometry fields are written only while the span
// is not in use and not reachable through the page table.
unsafe impl Sync for Span {}
// SAFETY: as above; a Span holds no thread-bound data.
unsafe impl Send for Span {}

impl Span {
    pub(crate) const fn new() -> Span {
        Span {
            start: Cell::new(0),
            npages: Cell::new(0),
            elem_size: Cell::new(0),
            ty: Cell::new(std::ptr::null()),
            nelems: Cell::new(0),
            magic: Cell::new(0),
            class: Cell::new(SpanClass(0)),
            in_use: AtomicBool::new(false),
            in_use_idx: Cell::new(0),
            sweep_gen: AtomicU64::new(0),
            mark: Bitmap::new(),
            alloc: Bitmap::new(),
            free_index: AtomicUsize::new(0),
            cache: Cell::new(0),
            cache_base: Cell::new(0),
            alloc_count: Cell::new(0),
        }
    }

    /// Sets the span up for a fresh run of pages. Called by the page heap's
    /// owner before the span is published in the page table.
    pub(crate) fn init(&self, start: usize, npages: usize, class: SpanClass, elem_size: usize, ty: &'static TypeInfo) {
        self.start.set(start);
        self.ty.set(ty);
        self.npages.set(npages);
        self.class.set(class);
        self.elem_size.set(elem_size);
        let nelems = if class.class() == 0 { 1 } else { npages * PAGE_SIZE / elem_size };
        self.nelems.set(nelems);
        self.magic.set(if class.class() == 0 { 0 } else { div_magic(elem_size) });
        self.mark.clear();
        self.alloc.clear();
        self.free_index.store(0, Relaxed);
        self.alloc_count.set(0);
        self.cache_base.set(0);
        self.cache.set(self.free_bits(0));
    }

    /// Whether the span's objects have drop glue: the sweeper then visits
    /// dead objects one by one; otherwise it frees by bitmap alone without
    /// touching object memory.
    #[inline]
    pub(crate) fn has_drop(&self) -> bool {
        self.ty().drop.is_some()
    }

    /// The descriptor of the span's objects.
    #[inline]
    pub(crate) fn ty(&self) -> &'static TypeInfo {
        // SAFETY: `init` stores a `&'static TypeInfo` before the span is
        // published or handed to anyone; only `Span::new` leaves it null,
        // and such records are never reachable as in-use spans.
        unsafe { &*self.ty.get() }
    }

    /// The key the span's type and class are cached and listed under.
    #[inline]
    pub(crate) fn key(&self) -> super::cache::SpanKey {
        super::cache::SpanKey::new(self.ty(), self.class.get())
    }

    pub(crate) fn noscan(&self) -> bool {
        self.class.get().noscan()
    }

    pub(crate) fn is_large(&self) -> bool {
        self.class.get().class() == 0
    }

    /// Index of the object slot containing address `p` (which must lie in
    /// the span's object area).
    #[inline]
    pub(crate) fn index_of(&self, p: usize) -> usize {
        let off = (p - self.start.get()) as u64;
        ((off * self.magic.get()) >> 32) as usize
    }

    #[inline]
    pub(crate) fn base_of(&self, idx: usize) -> usize {
        self.start.get() + idx * self.elem_size.get()
    }

    /// Whether slot `i` currently holds an allocated object.
    pub(crate) fn is_allocated(&self, i: usize) -> bool {
        i < self.free_index.load(Relaxed) || self.alloc.get(i)
    }

    /// Free bits of bitmap word `w`, with bits past `nelems` cleared.
    fn free_bits(&self, w: usize) -> u64 {
        let mut free = !self.alloc.word(w);
        let rem = self.nelems.get().saturating_sub(w * 64);
        if rem < 64 {
            free &= (1u64 << rem) - 1;
        }
        free
    }

    /// Hands out the next free slot, or `None` if the span is full. Only the
    /// span's holder calls this.
    #[inline]
    pub(crate) fn next_free(&self) -> Option<usize> {
        let mut cache = self.cache.get();
        while cache == 0 {
            let base = self.cache_base.get() + 64;
            if base >= self.nelems.get() {
                return None;
            }
            self.cache_base.set(base);
            cache = self.free_bits(base / 64);
        }
        let idx = self.cache_base.get() + cache.trailing_zeros() as usize;
        self.cache.set(cache & (cache - 1));
        self.free_index.store(idx + 1, Relaxed);
        self.alloc_count.set(self.alloc_count.get() + 1);
        Some(idx)
    }

    /// Free slots left for allocation.
    pub(crate) fn free_count(&self) -> usize {
        self.nelems.get() - self.alloc_count.get()
    }

    /// After sweeping: the marks become the allocation bits, the marks are
    /// cleared, and allocation restarts from slot 0.
    pub(crate) fn reset_after_sweep(&self, live: usize) {
        for w in 0..BITMAP_WORDS {
            self.alloc.set_word(w, self.mark.word(w));
        }
        self.mark.clear();
        self.free_index.store(0, Relaxed);
        self.alloc_count.set(live);
        self.cache_base.set(0);
        self.cache.set(self.free_bits(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_span(size: usize) -> Span {
        let s = Span::new();
        let class = super::super::sizeclass::class_for(size).unwrap();
        s.init(1 << 20, 1, SpanClass::new(class, false), size, &crate::heap::object::SizedInfo::<u64>::INFO);
        s
    }

    #[test]
    fn bitmap_test_and_set_and_count() {
        let b = Bitmap::new();
        assert!(!b.test_and_set(3));
        assert!(b.test_and_set(3));
        assert!(!b.test_and_set(200));
        assert!(b.get(200) && b.get(3) && !b.get(4));
        assert_eq!(b.count(512), 2);
        assert_eq!(b.count(100), 1);
        b.clear();
        assert_eq!(b.count(512), 0);
    }

    #[test]
    fn allocation_hands_out_each_slot_once() {
        let s = small_span(48);
        let n = s.nelems.get();
        assert_eq!(n, PAGE_SIZE / 48);
        let mut seen = vec![false; n];
        while let Some(i) = s.next_free() {
            assert!(!seen[i]);
            seen[i] = true;
            assert!(s.is_allocated(i));
        }
        assert!(seen.iter().all(|&x| x));
        assert_eq!(s.free_count(), 0);
    }

    #[test]
    fn sweep_reset_keeps_marked_and_frees_the_rest() {
        let s = small_span(16);
        let n = s.nelems.get();
        while s.next_free().is_some() {}
        // Keep every third object.
        for i in (0..n).step_by(3) {
            s.mark.test_and_set(i);
        }
        let live = s.mark.count(n);
        s.reset_after_sweep(live);
        assert_eq!(s.free_count(), n - live);
        let mut got = Vec::new();
        while let Some(i) = s.next_free() {
            assert_ne!(i % 3, 0, "handed out a live slot {i}");
            got.push(i);
        }
        assert_eq!(got.len(), n - live);
        for i in 0..n {
            assert!(s.is_allocated(i));
        }
    }

    #[test]
    fn index_of_interior_pointers() {
        let s = small_span(48);
        for i in 0..s.nelems.get() {
            let base = s.base_of(i);
            assert_eq!(s.index_of(base), i);
            assert_eq!(s.index_of(base + 47), i);
        }
    }
}
