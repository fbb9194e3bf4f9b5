//! The value word: one 64-bit word that holds either an immediate (a
//! number, a small integer, a boolean, nil) or a pointer to a heap object of
//! any type. The public face is `toolkit/value.rs` (`Value`, `ValueSlot`,
//! `RootStack`); the encoding lives here, below the barrier and the marker,
//! because both must tell a pointer from an immediate without knowing
//! anything else about the word.
//!
//! ```text
//!   top 16 bits   rest                     meaning
//!   0x0000        < 0x1_0000               immediates: nil (0), false, true
//!   0x0000        >= 0x1_0000              pointer: the payload address itself
//!   0x0001        ...                      (unused)
//!   0x0002..=0xFFF2                        f64 bits + 2^49 (NaN canonicalised)
//!   0xFFF3..=0xFFFE                        (unused)
//!   0xFFFF        48-bit two's complement  small integer
//! ```
//!
//! This is "pointer-favouring" NaN-boxing (JavaScriptCore's layout): a
//! pointer is stored as itself, so reading an object out of a value is a
//! compare and no arithmetic, and the marker's and the barrier's "is this a
//! pointer" test is two compares. A double costs one add to box and one
//! subtract to unbox. Every NaN is boxed as the canonical quiet NaN, so no
//! double can land in the integer or pointer ranges: 2^49 moves the largest
//! non-NaN pattern (-inf, 0xFFF0…) to 0xFFF2…, and the smallest (+0.0) to
//! 0x0002….
//!
//! Invariant (V): a word in the pointer range was made from a `Gc` (the
//! public constructors cannot make one otherwise), so it is a payload
//! address in a heap arena. Arenas lie above 0x1_0000 and below 2^48
//! (checked when the arena is reserved: `fits_arena`), so every payload
//! address has a pointer encoding.

/// Nil: the all-zero word, so zeroed memory and `Default` read as nil.
pub(crate) const NIL: u64 = 0;
/// `false`.
pub(crate) const FALSE: u64 = 0x06;
/// `true`.
pub(crate) const TRUE: u64 = 0x07;
/// Words below this (with a zero top half-word) are immediates.
pub(crate) const IMMEDIATE_LIMIT: u64 = 0x1_0000;
/// Pointers and immediates have a zero top 16 bits.
const POINTER_SPACE: u64 = 1 << 48;
/// Added to a double's bits when boxing it.
pub(crate) const DOUBLE_OFFSET: u64 = 1 << 49;
/// Top 16 bits of a small integer.
pub(crate) const INT_TAG: u64 = 0xFFFF << 48;
/// Smallest and largest small integers (48-bit two's complement).
pub(crate) const INT_MIN: i64 = -(1 << 47);
pub(crate) const INT_MAX: i64 = (1 << 47) - 1;
/// The boxed quiet NaN every NaN becomes.
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// Whether `w` is a pointer.
#[inline(always)]
pub(crate) const fn is_pointer(w: u64) -> bool {
    w.wrapping_sub(IMMEDIATE_LIMIT) < POINTER_SPACE - IMMEDIATE_LIMIT
}

/// The payload address `w` points at, or 0 if `w` is not a pointer: what
/// the barrier records and the marker marks (0 is skipped by both).
#[inline(always)]
pub(crate) const fn pointer_of(w: u64) -> usize {
    if is_pointer(w) {
        w as usize
    } else {
        0
    }
}

/// Boxes a double.
#[inline(always)]
pub(crate) fn from_f64(x: f64) -> u64 {
    let b = if x.is_nan() { CANONICAL_NAN } else { x.to_bits() };
    b.wrapping_add(DOUBLE_OFFSET)
}

/// Whether `w` is a boxed double.
#[inline(always)]
pub(crate) const fn is_f64(w: u64) -> bool {
    w.wrapping_sub(DOUBLE_OFFSET) < INT_TAG - DOUBLE_OFFSET
}

/// Unboxes a double (`is_f64(w)` must hold).
#[inline(always)]
pub(crate) fn to_f64(w: u64) -> f64 {
    f64::from_bits(w.wrapping_sub(DOUBLE_OFFSET))
}

/// Boxes a small integer (`INT_MIN..=INT_MAX`).
#[inline(always)]
pub(crate) const fn from_int(i: i64) -> u64 {
    INT_TAG | (i as u64 & (POINTER_SPACE - 1))
}

/// Whether `w` is a small integer.
#[inline(always)]
pub(crate) const fn is_int(w: u64) -> bool {
    w >= INT_TAG
}

/// Unboxes a small integer (`is_int(w)` must hold): sign-extends 48 bits.
#[inline(always)]
pub(crate) const fn to_int(w: u64) -> i64 {
    ((w << 16) as i64) >> 16
}

/// Whether an arena at `base..base + len` has a pointer encoding for every
/// address (invariant (V)).
pub(crate) const fn fits_arena(base: usize, len: usize) -> bool {
    base as u64 >= IMMEDIATE_LIMIT && (base as u64).saturating_add(len as u64) <= POINTER_SPACE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_double_round_trips_and_stays_out_of_the_other_ranges() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::MIN,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            -5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let nans = [f64::NAN, -f64::NAN, f64::from_bits(0xFFFF_FFFF_FFFF_FFFF), f64::from_bits(0x7FF0_0000_0000_0001)];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let random = (0..100_000).map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            f64::from_bits(seed)
        });
        for x in specials.into_iter().chain(nans).chain(random) {
            let w = from_f64(x);
            assert!(is_f64(w), "{x:e} ({:#x}) boxed as {w:#x} is not a double", x.to_bits());
            assert!(!is_pointer(w) && !is_int(w) && w != NIL && w != TRUE && w != FALSE);
            let back = to_f64(w);
            if x.is_nan() {
                assert!(back.is_nan());
            } else {
                assert_eq!(back.to_bits(), x.to_bits());
            }
        }
    }

    #[test]
    fn integers_round_trip_at_the_edges() {
        for i in [0, 1, -1, 42, -42, INT_MIN, INT_MAX, INT_MIN + 1, INT_MAX - 1, i32::MIN as i64, i32::MAX as i64] {
            let w = from_int(i);
            assert!(is_int(w) && !is_f64(w) && !is_pointer(w));
            assert_eq!(to_int(w), i);
        }
    }

    #[test]
    fn immediates_and_pointers_are_told_apart() {
        for w in [NIL, TRUE, FALSE, IMMEDIATE_LIMIT - 1] {
            assert!(!is_pointer(w) && !is_f64(w) && !is_int(w));
            assert_eq!(pointer_of(w), 0);
        }
        for p in [IMMEDIATE_LIMIT, 0x7f12_3456_7890, POINTER_SPACE - 8] {
            assert!(is_pointer(p) && !is_f64(p) && !is_int(p));
            assert_eq!(pointer_of(p), p as usize);
        }
        assert!(!is_pointer(POINTER_SPACE));
        assert!(fits_arena(0x7000_0000_0000, 1 << 30));
        assert!(!fits_arena(0x1000, 1 << 20));
        assert!(!fits_arena(0xFFFF_F000_0000, 1 << 30));
    }
}
