//! The object model: what an allocated object looks like in memory, and
//! where its type is kept.
//!
//! ```text
//!   span (8 KiB pages)                        Span record (outside the arena)
//!   ┌──────────┬──────────┬──────────┬─┐      ┌────────────────────────────┐
//!   │ T        │ T        │ T        │…│ ───► │ ty: &'static TypeInfo (T)   │
//!   └──────────┴──────────┴──────────┴─┘      │ size class, mark/alloc bits │
//!   ▲ a `Gc<T>` points at the first byte      └────────────────────────────┘
//! ```
//!
//! Objects have no header. Every span holds objects of a single type (a
//! "big bag of pages" layout): the span record names the type's descriptor,
//! and the page table maps any object address to its span in O(1), so the
//! marker and the sweeper find an object's type with the lookup they already
//! do for its mark bit. A `T` of 16 bytes takes 16 bytes of heap, as in Go,
//! instead of 24 with a type word in front; and no GC state ever lives in
//! object memory: mark and allocation bits are side bitmaps of the span
//! (see `span.rs`), so a concurrent marker never writes to, or races a
//! mutator on, an object's words.
//!
//! The price is that each mutator allocates from one span per (type, size
//! class) it uses rather than one per size class: a type allocated rarely
//! still holds a span of its own (see `cache.rs`, `central.rs`). Arrays are
//! typed by their element type (`Array<T>` has one descriptor for every
//! length) and keep their length in the payload.

use crate::api::trace::{Trace, Tracer};

/// Byte written over freed objects when poisoning is on (`clobberfree`, and
/// always in debug builds). A word made of it reads as `POISON_WORD`.
pub(crate) const POISON_BYTE: u8 = 0xd5;
#[cfg(debug_assertions)]
pub(crate) const POISON_WORD: usize = usize::from_ne_bytes([POISON_BYTE; 8]);

/// A type's descriptor, one `'static` per heap type, named by every span
/// that holds objects of that type.
pub(crate) struct TypeInfo {
    /// Visits the GC pointers of the payload at the given address.
    pub(crate) trace: unsafe fn(*const u8, &mut Tracer<'_>),
    /// Visits the GC pointers stored at byte offsets `from..to` of the
    /// payload (each pointer field counted where it starts), for types
    /// whose large objects are scanned in pieces (arrays: see the oblets
    /// in gc/mark.rs). `None`: objects are always scanned whole.
    pub(crate) trace_range: Option<unsafe fn(*const u8, usize, usize, &mut Tracer<'_>)>,
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
        trace_range: None,
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

/// The slot size needed for a payload of `payload` bytes.
#[inline]
pub(crate) const fn object_size(payload: usize) -> usize {
    let s = (payload + 7) & !7;
    if s < crate::heap::sizeclass::MIN_OBJECT_SIZE {
        crate::heap::sizeclass::MIN_OBJECT_SIZE
    } else {
        s
    }
}
