//! `Array<T>`: variable-sized heap objects.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use crate::barrier;
use crate::heap::object::TypeInfo;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicPtr, Ordering::*};

/// A fixed-length array stored inline in one heap object: the length, then
/// the elements, with no separate malloc'd buffer.
///
/// `Array<Slot<T>>` is a vector of GC pointers (a VM's array or table
/// storage); `Array<u8>` or `Array<Cell<f64>>` hold plain data (strings,
/// numeric vectors). Allocate with [`Mutator::alloc_array`] and friends; an
/// `Array` cannot be built by value. To "grow" one, allocate a larger array
/// and copy.
///
/// [`Mutator::alloc_array`]: crate::Mutator::alloc_array
///
/// ```
/// use shade::{Array, Config, Heap, Slot};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let squares = mu.alloc_array(10, |i| (i * i) as u64);
/// assert_eq!(squares[3], 9);
/// let boxes = mu.alloc_array(4, |_| Slot::<u64>::null());
/// boxes[2].set(&mu, mu.alloc(7u64));
/// assert_eq!(*boxes[2].get(&mu).unwrap(), 7);
/// let s = mu.alloc_str("hello");
/// assert_eq!(s.as_str(), "hello");
///
/// // Bulk operations on arrays of slots run one barrier pass for the range.
/// boxes.copy_within(&mu, 2..3, 0);
/// assert_eq!(*boxes[0].get(&mu).unwrap(), 7);
/// boxes.fill(&mu, None);
/// assert!(boxes.iter().all(|s| s.is_null()));
/// ```
#[repr(C)]
pub struct Array<T> {
    len: usize,
    _t: PhantomData<T>,
    // `len` elements of T follow.
}

/// Offset of the first element from the array's payload address.
pub(crate) const ARRAY_DATA_OFFSET: usize = std::mem::size_of::<usize>();

impl<T> Array<T> {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // The elements lie past `Self` (the length word), outside what a
        // pointer derived from `&self` may access (and a `&Self` allows no
        // writes, while slots are written through `&[Slot<T>]`): take the
        // arena's provenance, exposed when it was reserved, from the address.
        let data = std::ptr::with_exposed_provenance::<T>(self as *const Self as usize + ARRAY_DATA_OFFSET);
        // SAFETY: an Array only exists as a heap object whose payload is the
        // length word followed by `len` initialised elements (see
        // `Mutator::alloc_array`); `len` only counts initialised elements.
        unsafe { std::slice::from_raw_parts(data, self.len) }
    }
}

impl<T> Array<Slot<T>> {
    fn raw_slots(&self) -> &[AtomicPtr<u8>] {
        // SAFETY: `Slot<T>` is a `repr(transparent)` wrapper of `AtomicPtr<u8>`.
        unsafe { std::slice::from_raw_parts(self.as_slice().as_ptr() as *const AtomicPtr<u8>, self.len) }
    }

    fn check_in(&self, mu: &Mutator) {
        if !mu.in_heap(self as *const Self as usize) {
            panic!("shade: Array belongs to another heap than the mutator's");
        }
    }

    /// Copies the slots in `src` to the range starting at `dest` (like
    /// `slice::copy_within`; the ranges may overlap), with one bulk barrier
    /// pass instead of a barrier per element.
    ///
    /// # Panics
    /// If a range is out of bounds, or the array is not in `mu`'s heap.
    pub fn copy_within(&self, mu: &Mutator, src: Range<usize>, dest: usize) {
        self.check_in(mu);
        let slots = self.raw_slots();
        let n = src.len();
        assert!(src.start <= src.end && src.end <= slots.len(), "shade: copy_within source out of bounds");
        assert!(dest <= slots.len() - n, "shade: copy_within destination out of bounds");
        // An `Armed` mutator stores slot by slot through the barrier's swap.
        let exact = barrier::bulk_must_swap(mu);
        if !exact {
            barrier::record_range(mu, &slots[dest..dest + n], Some(&slots[src.clone()]), 0);
        }
        // Copy in the direction that never reads an already-overwritten slot.
        let copy = |i: usize| {
            let (d, v) = (&slots[dest + i], slots[src.start + i].load(Acquire));
            if exact {
                barrier::write(mu, d as *const _ as usize, d, v as usize);
            } else {
                d.store(v, Release);
            }
        };
        if dest <= src.start {
            (0..n).for_each(copy);
        } else {
            (0..n).rev().for_each(copy);
        }
    }

    /// Copies `src[range]` into this array starting at `dest`, with one bulk
    /// barrier pass (a VM's `Array.copy`, or growing a vector into a larger
    /// array).
    ///
    /// # Panics
    /// If a range is out of bounds, or an array is not in `mu`'s heap.
    pub fn copy_from(&self, mu: &Mutator, dest: usize, src: &Array<Slot<T>>, range: Range<usize>) {
        self.check_in(mu);
        src.check_in(mu);
        let (d, s) = (self.raw_slots(), src.raw_slots());
        assert!(range.start <= range.end && range.end <= s.len(), "shade: copy_from source out of bounds");
        assert!(dest <= d.len() && range.len() <= d.len() - dest, "shade: copy_from destination out of bounds");
        if std::ptr::eq(self, src) {
            return self.copy_within(mu, range, dest);
        }
        let n = range.len();
        if barrier::bulk_must_swap(mu) {
            for i in 0..n {
                let slot = &d[dest + i];
                barrier::write(mu, slot as *const _ as usize, slot, s[range.start + i].load(Acquire) as usize);
            }
            return;
        }
        barrier::record_range(mu, &d[dest..dest + n], Some(&s[range.clone()]), 0);
        for i in 0..n {
            d[dest + i].store(s[range.start + i].load(Acquire), Release);
        }
    }

    /// Stores `v` (a `Gc` or `None`) into every slot, with one bulk barrier
    /// pass; `fill(mu, None)` clears the array.
    ///
    /// # Panics
    /// If the array or `v` is not in `mu`'s heap.
    pub fn fill<'a>(&self, mu: &Mutator, v: impl Into<Option<Gc<'a, T>>>) {
        self.check_in(mu);
        let new = v.into().map_or(0, |g| g.addr());
        if new != 0 && !mu.in_heap(new) {
            panic!("shade: fill: value belongs to another heap than the mutator's");
        }
        let slots = self.raw_slots();
        if barrier::bulk_must_swap(mu) {
            for s in slots {
                barrier::write(mu, s as *const _ as usize, s, new);
            }
            return;
        }
        barrier::record_range(mu, slots, None, new);
        for s in slots {
            s.store(new as *mut u8, Release);
        }
    }
}

impl Array<u8> {
    /// The bytes as a string, if they are UTF-8 (they are when the array
    /// was made by [`Mutator::alloc_str`](crate::Mutator::alloc_str)).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_slice()).expect("shade: Array<u8> is not UTF-8")
    }
}

/// An array borrows as its elements, so tables keyed by arrays (a
/// [`WeakSet<Array<u8>>`](crate::WeakSet) of interned strings) can be
/// looked up with a plain slice.
impl<T> std::borrow::Borrow<[T]> for Array<T> {
    fn borrow(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> std::ops::Deref for Array<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

// SAFETY: every initialised element is traced; elements are inline in the
// object and only mutable through their own atomics/barriers.
unsafe impl<T: Trace> Trace for Array<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if !T::NO_TRACE {
            for e in self.as_slice() {
                e.trace(t);
            }
        }
    }
}

/// Descriptor of `Array<T>` objects: drop runs the elements' drop glue.
pub(crate) struct ArrayInfo<T>(PhantomData<T>);

impl<T: Trace + 'static> ArrayInfo<T> {
    pub(crate) const INFO: TypeInfo = TypeInfo {
        trace: trace_array::<T>,
        trace_range: if T::NO_TRACE { None } else { Some(trace_array_range::<T>) },
        drop: if std::mem::needs_drop::<T>() { Some(drop_array::<T>) } else { None },
        name: std::any::type_name::<Array<T>>,
        type_id: std::any::TypeId::of::<Array<T>>(),
        dyn_table: crate::heap::object::DynTable::NONE,
    };
}

/// # Safety
/// `p` is the payload of a live `Array<T>`.
unsafe fn trace_array<T: Trace>(p: *const u8, t: &mut Tracer<'_>) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*(p as *const Array<T>)).trace(t) }
}

/// Traces the elements that start at payload offsets `from..to`.
///
/// # Safety
/// `p` is the payload of a live `Array<T>`.
unsafe fn trace_array_range<T: Trace>(p: *const u8, from: usize, to: usize, t: &mut Tracer<'_>) {
    // SAFETY: guaranteed by the caller.
    let a = unsafe { &*(p as *const Array<T>) };
    let elems = a.as_slice();
    let (first, end) = match std::mem::size_of::<T>() {
        // Zero-sized elements all "start" at the data offset.
        0 => (0, if (from..to).contains(&ARRAY_DATA_OFFSET) { elems.len() } else { 0 }),
        size => {
            // Element i starts at ARRAY_DATA_OFFSET + i * size.
            let index = |off: usize| off.saturating_sub(ARRAY_DATA_OFFSET).div_ceil(size).min(elems.len());
            (index(from), index(to))
        }
    };
    for e in &elems[first.min(end)..end] {
        e.trace(t);
    }
}

/// # Safety
/// `p` is the payload of an unreachable `Array<T>`, dropped once.
unsafe fn drop_array<T>(p: *mut u8) {
    // SAFETY: guaranteed by the caller; `len` counts initialised elements.
    unsafe {
        let len = *(p as *const usize);
        let data = p.add(ARRAY_DATA_OFFSET) as *mut T;
        std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(data, len));
    }
}
