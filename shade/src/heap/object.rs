//! The object model: what an allocated object looks like in memory.
//!
//! ```text
//!   base ──► ┌──────────────────────┐
//!            │ header: &TypeInfo     │  8 bytes, written once at allocation
//!   payload ►├──────────────────────┤
//!            │ T (or, for Array<T>:  │  what a `Gc<T>` points at
//!            │   len, then elements) │
//!            └──────────────────────┘  rounded up to the span's size class
//! ```
//!
//! The header carries no GC state. Mark bits and allocation bits live in the
//! span's side bitmaps (see `span.rs`), so the marker writes only to bitmap
//! words and never dirties object memory, and a concurrent marker never
//! races with mutators on a header word. The header is the object's type
//! descriptor: how to trace it and how to drop it.
//!
//! Pointers stored in slots and handed out as `Gc` always point at the
//! payload (`base + HEADER_SIZE`), so dereferencing a `Gc` needs no offset.

use crate::api::trace::{Trace, Tracer};

/// Size of the object header.
pub(crate) const HEADER_SIZE: usize = 8;

/// Byte written over freed objects when poisoning is on (`clobberfree`, and
/// always in debug builds). A header made of it reads as `POISON_WORD`.
pub(crate) const POISON_BYTE: u8 = 0xd5;
pub(crate) const POISON_WORD: usize = usize::from_ne_bytes([POISON_BYTE; 8]);

/// A type's descriptor, one `'static` per heap type, pointed to by the
/// header of every object of that type.
pub(crate) struct TypeInfo {
    /// Visits the GC pointers of the payload at the given address.
    pub(crate) trace: unsafe fn(*const u8, &mut Tracer<'_>),
    /// Runs the payload's drop glue, if it has any.
    pub(crate) drop: Option<unsafe fn(*mut u8)>,
    /// Type name, for error messages and debugging.
    pub(crate) name: fn() -> &'static str,
}

/// Builds the descriptor of a sized type `T`.
pub(crate) struct SizedInfo<T>(std::marker::PhantomData<T>);

impl<T: Trace> SizedInfo<T> {
    pub(crate) const INFO: TypeInfo = TypeInfo {
        trace: trace_sized::<T>,
        drop: if std::mem::needs_drop::<T>() { Some(drop_sized::<T>) } else { None },
        name: std::any::type_name::<T>,
    };
}

/// # Safety
/// `p` is the payload of a live, initialised object of type `T`.
unsafe fn trace_sized<T: Trace>(p: *const u8, t: &mut Tracer<'_>) {
    // SAFETY: guaranteed by the caller; tracing only reads pointer slots,
    // which are atomics, and immutable data.
    unsafe { (*(p as *const T)).trace(t) }
}

/// # Safety
/// `p` is the payload of an unreachable object of type `T`, dropped once.
unsafe fn drop_sized<T>(p: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::drop_in_place(p as *mut T) }
}

/// Reads the descriptor of the object at `base`.
///
/// # Safety
/// `base` is the base of an allocated, initialised object.
#[inline]
pub(crate) unsafe fn type_of(base: usize) -> &'static TypeInfo {
    // SAFETY: every allocated object's first word was set to a `&'static
    // TypeInfo` before the object became reachable (see `Mutator::alloc`).
    unsafe { &*(*(base as *const *const TypeInfo)) }
}

/// The object size (header included) needed for a payload of `payload` bytes.
#[inline]
pub(crate) const fn object_size(payload: usize) -> usize {
    let s = (HEADER_SIZE + payload + 7) & !7;
    if s < crate::heap::sizeclass::MIN_OBJECT_SIZE {
        crate::heap::sizeclass::MIN_OBJECT_SIZE
    } else {
        s
    }
}
