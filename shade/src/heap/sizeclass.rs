//! Size classes: the fixed object sizes small allocations are rounded up to.
//!
//! Every small object lives in a span that holds objects of exactly one size,
//! so finding an object's index, base and mark bit from an interior address
//! is arithmetic on the span, with no per-object metadata. The classes are
//! spaced so that rounding wastes at most a fifth of an object, and about a
//! sixteenth on average (8-byte steps up to 64 bytes, then eight classes per
//! power of two), and each class gets the
//! smallest span (in 8 KiB pages) whose unusable tail is at most 1/8 of it.
//!
//! Everything here is computed by `const fn` at compile time: the allocation
//! fast path indexes two small tables and never branches on a search.

/// log2 of the heap's page size.
pub const PAGE_SHIFT: usize = 13;
/// The heap's page size: the granule of spans and of the page→span table.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Objects above this size get a span of their own.
pub const MAX_SMALL_SIZE: usize = 32 * 1024;
/// The smallest object slot: two words (a smaller value is rounded up).
pub const MIN_OBJECT_SIZE: usize = 16;
/// Most objects a small span may hold; sizes the inline mark/alloc bitmaps.
pub const MAX_OBJECTS_PER_SPAN: usize = 512;
/// Words in a span's bitmaps.
pub const BITMAP_WORDS: usize = MAX_OBJECTS_PER_SPAN / 64;

const fn build_sizes() -> ([u32; 96], usize) {
    let mut out = [0u32; 96];
    let mut n = 0;
    let mut size = MIN_OBJECT_SIZE;
    while size <= MAX_SMALL_SIZE {
        out[n] = size as u32;
        n += 1;
        // Step widths: 8 up to 64, then one eighth of the next power of two.
        let step = if size < 64 {
            8
        } else {
            let mut p = 64;
            while p <= size {
                p *= 2;
            }
            p / 8
        };
        size += step;
    }
    (out, n)
}

const SIZES_AND_COUNT: ([u32; 96], usize) = build_sizes();

/// Number of small size classes. Class 0 is unused ("no class": large).
pub const NUM_CLASSES: usize = SIZES_AND_COUNT.1 + 1;
/// Span classes: each size class twice, scan and noscan.
pub const NUM_SPAN_CLASSES: usize = NUM_CLASSES * 2;

const fn build_class_sizes() -> [u32; NUM_CLASSES] {
    let mut out = [0u32; NUM_CLASSES];
    let mut i = 1;
    while i < NUM_CLASSES {
        out[i] = SIZES_AND_COUNT.0[i - 1];
        i += 1;
    }
    out
}

/// Object size of each class (index 0 is the large-object pseudo class).
pub const CLASS_SIZE: [u32; NUM_CLASSES] = build_class_sizes();

const fn build_class_pages() -> [u8; NUM_CLASSES] {
    let mut out = [0u8; NUM_CLASSES];
    let mut c = 1;
    while c < NUM_CLASSES {
        let size = CLASS_SIZE[c] as usize;
        let mut pages = 1;
        loop {
            let bytes = pages * PAGE_SIZE;
            let waste = bytes % size;
            let count = bytes / size;
            if count > MAX_OBJECTS_PER_SPAN {
                // Too many objects for the bitmaps: never happens with 8 KiB
                // pages and a 16-byte minimum (512 objects exactly).
                panic!("span would hold too many objects");
            }
            if waste * 8 <= bytes || pages == 16 {
                break;
            }
            pages += 1;
        }
        out[c] = pages as u8;
        c += 1;
    }
    out
}

/// Pages per span of each class.
pub const CLASS_PAGES: [u8; NUM_CLASSES] = build_class_pages();

// Lookup tables from request size to class: 8-byte granules up to 1024 bytes,
// 128-byte granules above.
const SMALL_LIMIT: usize = 1024;
const SMALL_TABLE_LEN: usize = SMALL_LIMIT / 8 + 1;
const LARGE_TABLE_LEN: usize = (MAX_SMALL_SIZE - SMALL_LIMIT) / 128 + 1;

const fn first_class_at_least(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_CLASSES {
        if CLASS_SIZE[c] as usize >= size {
            return c as u8;
        }
        c += 1;
    }
    panic!("no class for size");
}

const fn build_small_table() -> [u8; SMALL_TABLE_LEN] {
    let mut out = [0u8; SMALL_TABLE_LEN];
    let mut i = 0;
    while i < SMALL_TABLE_LEN {
        out[i] = first_class_at_least(i * 8);
        i += 1;
    }
    out
}

const fn build_large_table() -> [u8; LARGE_TABLE_LEN] {
    let mut out = [0u8; LARGE_TABLE_LEN];
    let mut i = 0;
    while i < LARGE_TABLE_LEN {
        out[i] = first_class_at_least(SMALL_LIMIT + i * 128);
        i += 1;
    }
    out
}

const SMALL_TABLE: [u8; SMALL_TABLE_LEN] = build_small_table();
const LARGE_TABLE: [u8; LARGE_TABLE_LEN] = build_large_table();

/// The size class for an object of `size` bytes, or `None`
/// if it is large and needs a span of its own.
#[inline]
pub fn class_for(size: usize) -> Option<u8> {
    if size <= SMALL_LIMIT {
        Some(SMALL_TABLE[size.div_ceil(8)])
    } else if size <= MAX_SMALL_SIZE {
        Some(LARGE_TABLE[(size - SMALL_LIMIT).div_ceil(128)])
    } else {
        None
    }
}

/// A size class together with the noscan bit, packed as `class << 1 | noscan`
/// (Go's spanClass). Objects with no GC pointers go to noscan spans, which the
/// marker marks but never scans.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpanClass(pub u8);

impl SpanClass {
    /// The large-object span class of the given scan kind.
    pub const fn large(noscan: bool) -> SpanClass {
        SpanClass(noscan as u8)
    }
    #[inline]
    pub const fn new(class: u8, noscan: bool) -> SpanClass {
        SpanClass((class << 1) | noscan as u8)
    }
    #[inline]
    pub const fn class(self) -> u8 {
        self.0 >> 1
    }
    #[inline]
    pub const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Magic multiplier so that `offset / size == (offset * m) >> 32` for every
/// offset inside a span of that class (Go's divMagic idea): the marker and
/// the barrier flush find object indices without a hardware divide.
pub const fn div_magic(size: usize) -> u64 {
    (u32::MAX as u64) / (size as u64) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_increasing_and_aligned() {
        for c in 2..NUM_CLASSES {
            assert!(CLASS_SIZE[c] > CLASS_SIZE[c - 1]);
            assert_eq!(CLASS_SIZE[c] % 8, 0, "class {c} not 8-byte aligned");
        }
        assert_eq!(CLASS_SIZE[1] as usize, MIN_OBJECT_SIZE);
        assert_eq!(CLASS_SIZE[NUM_CLASSES - 1] as usize, MAX_SMALL_SIZE);
    }

    #[test]
    fn class_for_rounds_up_with_bounded_waste() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = class_for(size).unwrap() as usize;
            let got = CLASS_SIZE[c] as usize;
            assert!(got >= size, "size {size} -> class {c} ({got})");
            if c > 1 {
                assert!((CLASS_SIZE[c - 1] as usize) < size, "size {size} not in the smallest class");
            }
            if size > 64 {
                assert!((got - size) * 5 <= got, "size {size}: waste too large ({got})");
            }
        }
        assert_eq!(class_for(MAX_SMALL_SIZE + 1), None);
    }

    #[test]
    fn spans_fit_bitmaps_and_waste_little() {
        for c in 1..NUM_CLASSES {
            let bytes = CLASS_PAGES[c] as usize * PAGE_SIZE;
            let n = bytes / CLASS_SIZE[c] as usize;
            assert!((1..=MAX_OBJECTS_PER_SPAN).contains(&n));
            assert!((bytes % CLASS_SIZE[c] as usize) * 8 <= bytes, "class {c}");
        }
    }

    #[test]
    fn div_magic_matches_division() {
        for c in 1..NUM_CLASSES {
            let size = CLASS_SIZE[c] as usize;
            let m = div_magic(size);
            let span = CLASS_PAGES[c] as usize * PAGE_SIZE;
            for off in (0..span).step_by(8) {
                assert_eq!(((off as u64 * m) >> 32) as usize, off / size, "size {size} off {off}");
            }
        }
    }

    #[test]
    fn span_class_packing() {
        let sc = SpanClass::new(7, true);
        assert_eq!(sc.class(), 7);
        assert!(sc.noscan());
        assert!(!SpanClass::new(7, false).noscan());
    }
}
