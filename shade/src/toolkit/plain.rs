//! `PlainCell<T>`: a mutable field for plain `Copy` data (numbers,
//! booleans, characters) that keeps its object `Sync`.
//!
//! A `Cell` makes its object `!Sync`, so such an object can only be
//! allocated with `alloc_local` and never be shared or erased. A
//! `PlainCell` is a relaxed atomic of the value's bits instead: on x86-64
//! and AArch64 a relaxed load or store is an ordinary move, so it costs
//! what a `Cell` does, and the object stays `Send + Sync`. Only types
//! without padding or invalid bit patterns within 8 bytes qualify (the
//! sealed `Plain` trait): every bit pattern the field can hold came from
//! a value of `T`.

use crate::api::trace::{Trace, Tracer};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

mod sealed {
    pub trait Sealed {}
}

/// Types a [`PlainCell`] can hold: plain data of at most 8 bytes with no
/// padding, converted to and from 64 bits. Sealed.
pub trait Plain: Copy + sealed::Sealed + 'static {
    #[doc(hidden)]
    fn to_bits(self) -> u64;
    #[doc(hidden)]
    fn from_bits(b: u64) -> Self;
}

macro_rules! plain_int {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {
            #[inline(always)]
            fn to_bits(self) -> u64 { self as u64 }
            #[inline(always)]
            fn from_bits(b: u64) -> Self { b as $t }
        }
    )*};
}
plain_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl sealed::Sealed for bool {}
impl Plain for bool {
    #[inline(always)]
    fn to_bits(self) -> u64 {
        self as u64
    }
    #[inline(always)]
    fn from_bits(b: u64) -> Self {
        b != 0
    }
}
impl sealed::Sealed for f64 {}
impl Plain for f64 {
    #[inline(always)]
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    #[inline(always)]
    fn from_bits(b: u64) -> Self {
        f64::from_bits(b)
    }
}
impl sealed::Sealed for f32 {}
impl Plain for f32 {
    #[inline(always)]
    fn to_bits(self) -> u64 {
        f32::to_bits(self) as u64
    }
    #[inline(always)]
    fn from_bits(b: u64) -> Self {
        f32::from_bits(b as u32)
    }
}
impl sealed::Sealed for char {}
impl Plain for char {
    #[inline(always)]
    fn to_bits(self) -> u64 {
        self as u64
    }
    #[inline(always)]
    fn from_bits(b: u64) -> Self {
        // Only bits made by `to_bits` of a `char` are ever stored.
        char::from_u32(b as u32).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// A mutable field of plain data (see [`Plain`]) that, unlike a `Cell`,
/// keeps its object `Sync`: a relaxed atomic. Needs no mutator: it holds
/// no pointer.
///
/// ```
/// use shade::{Config, Heap, PlainCell, Slot, Trace};
///
/// #[derive(Trace)]
/// struct Counter { hits: PlainCell<u64>, ratio: PlainCell<f64>, next: Slot<Counter> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let c = mu.alloc(Counter { hits: PlainCell::new(0), ratio: PlainCell::new(0.5), next: Slot::null() });
/// c.hits.set(c.hits.get() + 1);
/// assert_eq!(c.hits.get(), 1);
/// assert_eq!(c.ratio.replace(1.5), 0.5);
/// let shared = mu.root(c); // Send + Sync: a PlainCell keeps the object Sync
/// # let _ = shared;
/// ```
pub struct PlainCell<T: Plain> {
    bits: AtomicU64,
    _t: PhantomData<T>,
}

impl<T: Plain> PlainCell<T> {
    /// A cell holding `v`.
    #[inline]
    pub fn new(v: T) -> PlainCell<T> {
        PlainCell { bits: AtomicU64::new(v.to_bits()), _t: PhantomData }
    }

    /// The value (a relaxed load).
    #[inline(always)]
    pub fn get(&self) -> T {
        T::from_bits(self.bits.load(Relaxed))
    }

    /// Stores `v` (a relaxed store).
    #[inline(always)]
    pub fn set(&self, v: T) {
        self.bits.store(v.to_bits(), Relaxed)
    }

    /// Stores `v` and returns the previous value.
    #[inline]
    pub fn replace(&self, v: T) -> T {
        T::from_bits(self.bits.swap(v.to_bits(), Relaxed))
    }
}

impl<T: Plain + Default> Default for PlainCell<T> {
    fn default() -> Self {
        PlainCell::new(T::default())
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for PlainCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainCell({:?})", self.get())
    }
}

// SAFETY: plain data, never a GC pointer.
unsafe impl<T: Plain> Trace for PlainCell<T> {
    const NO_TRACE: bool = true;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}
