//! Spans: runs of pages holding objects of one type and one size class (or
//! one large object), with their side bitmaps.
//!
//! A span's metadata lives outside the arena, in a `Span` record that is
//! never freed while the heap lives (records are recycled), so a lock-free
//! reader that found a span through the page table always reads a valid
//! record. Two bitmaps hang off each span, one bit per object slot:
//!
//! * `mark`: set by the marker (and by the allocator during a cycle:
//!   allocate-black). One byte per slot (`MarkBytes`), not one bit: several
//!   mark workers and mutators mark objects of one span at once, and with
//!   bits each mark would need an atomic read-modify-write on a shared word
//!   (a locked instruction: a third of the marker's time on a 512 MB tree).
//!   A byte is marked with a plain store; two markers that race on the same
//!   object both see it unmarked and both grey it, which only scans it
//!   twice (marking is idempotent); no store can erase another object's
//!   mark, as none writes a byte it does not mark.
//! * `alloc`: which slots held live objects when the span was last swept.
//!   Together with `free_index` it says which slots are allocated now: slot
//!   `i` is allocated iff `i < free_index` or its alloc bit is set. Sweeping
//!   turns the mark bits into the next cycle's alloc bits and clears the marks.
//!
//! Span-batched marking (`SHADE_DEBUG=mark=span`, gc/mark.rs) adds a third
//! bitmap and a flag: `grey` (marked, not yet scanned: the span's share of
//! the grey set) and `queued` (the span is in some marker's work buffer, or
//! being scanned by the marker that took it out). Both are empty whenever
//! no cycle is marking.
//!
//! Ownership of the allocation state (`free_index`, the free-bit cache,
//! `alloc_count`) follows the span: exactly one of an mcache, the central
//! list, or the sweeper holds a span at a time, and hands it on through a
//! lock (central/page heap) or a stop of the world. Those fields are therefore
//! plain `Cell`s, touched only by the current holder.

use super::object::TypeInfo;
use super::sizeclass::{div_magic, SpanClass, BITMAP_WORDS, MAX_OBJECTS_PER_SPAN, PAGE_SIZE};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};

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

    #[inline]
    pub(crate) fn word(&self, w: usize) -> u64 {
        self.0[w].load(Relaxed)
    }

    /// Sets bit `i` with a release read-modify-write (grey bits: what the
    /// setter wrote before, the object's contents included, is visible to
    /// the marker that takes the bit: see `Span::grey_and_claim`).
    #[inline]
    pub(crate) fn set_release(&self, i: usize) {
        self.0[i / 64].fetch_or(1u64 << (i % 64), AcqRel);
    }

    /// Takes word `w`'s bits, leaving it zero (acquire; a plain load first,
    /// so an empty word costs no read-modify-write).
    #[inline]
    pub(crate) fn take_word(&self, w: usize) -> u64 {
        if self.0[w].load(Acquire) == 0 {
            return 0;
        }
        self.0[w].swap(0, AcqRel)
    }

    /// Whether any of the first `words` words has a bit set.
    #[inline]
    pub(crate) fn any(&self, words: usize) -> bool {
        self.0[..words].iter().any(|w| w.load(Acquire) != 0)
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
    #[cfg(test)]
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

/// The low bit of a mark work-buffer entry that names a span record rather
/// than an object (span-batched marking, gc/mark.rs): objects and span
/// records are at least 8-aligned.
pub(crate) const SPAN_TAG: usize = 1;

/// The mark bytes of a span: one per object slot (see the module comment),
/// 0 or 1. Cache-line aligned, so that eight of them can also be read as
/// one word.
#[repr(C, align(64))]
pub(crate) struct MarkBytes([AtomicU8; MAX_OBJECTS_PER_SPAN]);

impl MarkBytes {
    pub(crate) const fn new() -> MarkBytes {
        MarkBytes([const { AtomicU8::new(0) }; MAX_OBJECTS_PER_SPAN])
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i].load(Relaxed) != 0
    }

    /// Marks slot `i`; returns whether it was marked already. Not exclusive:
    /// two racing calls may both return false (see the module comment), so
    /// callers may grey an object twice, never lose a mark.
    #[inline]
    pub(crate) fn test_and_set(&self, i: usize) -> bool {
        let b = &self.0[i];
        if b.load(Relaxed) != 0 {
            return true;
        }
        b.store(1, Relaxed);
        false
    }

    /// Bytes `8 * k .. 8 * k + 8` as one little-endian word.
    ///
    /// # Safety
    /// No byte-sized store to these bytes may race with the load: the
    /// caller is sweeping the span (every mark of the cycle happened
    /// before, and the next cycle's marking waits for the sweep: gc/sweep.rs,
    /// `sweeps_active`), or otherwise excludes markers.
    #[inline]
    unsafe fn word8(&self, k: usize) -> u64 {
        // Miri's weak-memory emulation cannot follow a word-sized access
        // over byte-written atomics (it stops with an internal error), so
        // under Miri the bytes are read one by one: the same value.
        #[cfg(miri)]
        return self.0[k * 8..k * 8 + 8].iter().rev().fold(0, |w, b| w << 8 | b.load(Relaxed) as u64);
        #[cfg(not(miri))]
        {
            // SAFETY: `k * 8` is in bounds and 8-aligned within the
            // 64-aligned array, so the eight bytes are an aligned
            // `AtomicU64`'s worth of atomically accessed memory; the caller
            // rules out racing byte stores, which is what makes a
            // mixed-size access sound.
            let w = unsafe { &*(self.0[k * 8..].as_ptr() as *const AtomicU64) };
            u64::from_le(w.load(Relaxed))
        }
    }

    /// Slots `64 * w .. 64 * w + 64` as a bitmap word.
    ///
    /// # Safety
    /// As for `word8`.
    pub(crate) unsafe fn word(&self, w: usize) -> u64 {
        // Each byte is 0 or 1: the multiply gathers the eight low bits of a
        // word's bytes into its top byte.
        (0..8).fold(0, |bits, k| {
            // SAFETY: the caller's contract.
            let x = unsafe { self.word8(w * 8 + k) };
            bits | ((x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k))
        })
    }

    /// Number of marked slots among the first `n`.
    ///
    /// # Safety
    /// As for `word8`.
    pub(crate) unsafe fn count(&self, n: usize) -> usize {
        let full = n / 8;
        // SAFETY: the caller's contract.
        let words: usize = (0..full).map(|k| unsafe { self.word8(k) }.count_ones() as usize).sum();
        words + self.0[full * 8..n].iter().filter(|b| b.load(Relaxed) != 0).count()
    }

    /// Unmarks the first `n` slots (rounded up to a multiple of eight).
    ///
    /// # Safety
    /// As for `word8`, for byte loads as well as stores: no marker may
    /// touch the span (it is being swept, or is not yet published).
    pub(crate) unsafe fn clear(&self, n: usize) {
        for k in 0..n.div_ceil(8) {
            // Byte by byte under Miri, as in `word8`.
            #[cfg(miri)]
            self.0[k * 8..k * 8 + 8].iter().for_each(|b| b.store(0, Relaxed));
            // SAFETY: as in `word8`; the caller rules out racing byte
            // accesses.
            #[cfg(not(miri))]
            unsafe { &*(self.0[k * 8..].as_ptr() as *const AtomicU64) }.store(0, Relaxed);
        }
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
    pub(crate) mark: MarkBytes,
    pub(crate) alloc: Bitmap,
    /// Span-batched marking: objects marked but not yet scanned.
    pub(crate) grey: Bitmap,
    /// Span-batched marking: the span is in a work buffer or being scanned
    /// (whoever set it from false to true owns the span's grey bits until
    /// it clears it again; see `grey_and_claim` and gc/mark.rs).
    pub(crate) queued: AtomicBool,
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
            mark: MarkBytes::new(),
            alloc: Bitmap::new(),
            grey: Bitmap::new(),
            queued: AtomicBool::new(false),
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
        // SAFETY: the span is not published yet: nobody else can reach it.
        unsafe { self.mark.clear(MAX_OBJECTS_PER_SPAN) };
        self.alloc.clear();
        debug_assert!(!self.grey.any(BITMAP_WORDS) && !self.queued.load(Relaxed), "a freed span was grey");
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

    /// Words of the bitmaps that cover the span's objects.
    #[inline]
    pub(crate) fn bitmap_words(&self) -> usize {
        self.nelems.get().div_ceil(64)
    }

    /// Span-batched marking: records newly marked object `idx` as grey and
    /// says whether the caller must queue the span (it was not queued; the
    /// caller now owns it). Every write of `queued` is a swap (acquire and
    /// release), so its modification order is one chain of read-modify-
    /// writes: if this call's swap comes before the owner's giving-up swap
    /// (`release_span`), the owner's swap synchronizes with it and the
    /// owner's last look at the grey bits sees this bit; if after, this
    /// swap reads `false` (or the flag of a later owner, to whom the same
    /// holds) and the caller queues the span. No grey bit is ever left in a
    /// span nobody will scan, and none of it needs a sequentially
    /// consistent order (which loom cannot model: tests/loom_span_mark.rs).
    #[inline]
    pub(crate) fn grey_and_claim(&self, idx: usize) -> bool {
        self.grey.set_release(idx);
        !self.queued.swap(true, AcqRel)
    }

    /// The owner of a span whose last pass found nothing grey gives it up:
    /// true if it is done with it, false if a bit was set meanwhile and the
    /// owner holds the span again (it must scan once more).
    #[inline]
    pub(crate) fn release_span(&self) -> bool {
        self.queued.swap(false, AcqRel);
        !self.grey.any(self.bitmap_words()) || self.queued.swap(true, AcqRel)
    }

    /// The work-buffer entry that greys the newly marked object `idx` of
    /// this scannable span, if one is needed: the object's base in object
    /// mode and for large objects; in span mode the span's tagged address
    /// if this call claimed the span, else none (the span is queued
    /// already). Shared by the marker and the write barrier's flush.
    #[inline(always)]
    pub(crate) fn grey_entry(&self, idx: usize, span_mode: bool) -> Option<usize> {
        if span_mode && !self.is_large() {
            self.grey_and_claim(idx).then_some(self as *const Span as usize | SPAN_TAG)
        } else {
            Some(self.base_of(idx))
        }
    }

    /// Free slots left for allocation.
    pub(crate) fn free_count(&self) -> usize {
        self.nelems.get() - self.alloc_count.get()
    }

    /// After sweeping: the marks become the allocation bits, the marks are
    /// cleared, and allocation restarts from slot 0. Only the span's sweeper
    /// calls this (no marker runs: see `MarkBytes::word8`).
    pub(crate) fn reset_after_sweep(&self, live: usize) {
        debug_assert!(!self.grey.any(BITMAP_WORDS) && !self.queued.load(Relaxed), "swept a grey span");
        let words = self.bitmap_words();
        for w in 0..BITMAP_WORDS {
            // SAFETY: the span is being swept (this function's contract).
            self.alloc.set_word(w, if w < words { unsafe { self.mark.word(w) } } else { 0 });
        }
        // SAFETY: the span is being swept (this function's contract).
        unsafe { self.mark.clear(self.nelems.get()) };
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
    fn bitmaps_and_mark_bytes() {
        let b = Bitmap::new();
        b.set_release(3);
        b.set_release(200);
        assert!(b.get(200) && b.get(3) && !b.get(4));
        assert_eq!(b.count(512), 2);
        assert_eq!(b.count(100), 1);
        assert_eq!(b.take_word(0), 1 << 3);
        assert_eq!((b.take_word(0), b.count(512)), (0, 1));
        let m = MarkBytes::new();
        assert!(!m.test_and_set(3));
        assert!(m.test_and_set(3));
        assert!(!m.test_and_set(200));
        assert!(m.get(200) && m.get(3) && !m.get(4));
        // SAFETY: no other thread touches `m`.
        unsafe {
            assert_eq!((m.count(512), m.count(100), m.count(5)), (2, 1, 1));
            assert_eq!((m.word(0), m.word(3)), (1 << 3, 1 << (200 - 192)));
            m.clear(512);
            assert_eq!(m.count(512), 0);
            m.test_and_set(5);
            m.clear(3);
            assert_eq!(m.count(512), 0, "whole words are cleared");
        }
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
        // SAFETY: no other thread touches the span.
        let live = unsafe { s.mark.count(n) };
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
