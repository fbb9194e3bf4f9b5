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
use std::any::{Any, TypeId};

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
    /// The type's identity, for erased pointers (`GcAny::downcast`). Two
    /// descriptors of one type may have different addresses (a constant's
    /// address is not unique across codegen units), so identity is this
    /// field, never the descriptor's address.
    pub(crate) type_id: TypeId,
    /// The trait objects an erased pointer to this type can be viewed as
    /// (`GcAny::to_dyn`).
    pub(crate) dyn_table: DynTable,
}

/// Views of a heap object as a trait object, `&dyn Trait` (the type's side
/// of [`GcAny::to_dyn`](crate::GcAny::to_dyn)).
///
/// An object has no header, so an erased pointer cannot carry a vtable; the
/// span's type descriptor carries, for each trait the type registered, a
/// function that turns the payload into `&dyn Trait`. Register traits with
/// `#[derive(Trace)]`'s `#[shade(dyn(Trait, ...))]` attribute, or in a
/// hand-written `Trace` impl with `const DYN: DynTable = DynTable::of::<Self,
/// dyn Trait>();`.
#[derive(Clone, Copy)]
pub struct DynTable {
    pub(crate) entries: &'static [DynEntry],
}

/// One trait of a [`DynTable`]: the `TypeId` of `CastFn<dyn Trait>` and the
/// cast itself, erased.
#[doc(hidden)]
pub struct DynEntry {
    pub(crate) id: TypeId,
    pub(crate) cast: &'static (dyn Any + Send + Sync),
}

/// The cast stored in a [`DynEntry`]: payload address to trait object.
pub(crate) struct CastFn<Tr: ?Sized + 'static>(pub(crate) unsafe fn(*const u8) -> *const Tr);

/// # Safety
/// `p` is the payload of a live `T`.
unsafe fn cast_to<T: AsDyn<Tr>, Tr: ?Sized + 'static>(p: *const u8) -> *const Tr {
    // SAFETY: guaranteed by the caller.
    unsafe { (*(p as *const T)).as_dyn() as *const Tr }
}

/// `fn() -> *const Tr` rather than `Tr`: the marker must be `Sized` and
/// say nothing about auto traits.
type Marker<T, Tr> = (fn() -> T, fn() -> *const Tr);
struct DynOf<T, Tr: ?Sized>(std::marker::PhantomData<Marker<T, Tr>>);

impl<T: AsDyn<Tr> + 'static, Tr: ?Sized + 'static> DynOf<T, Tr> {
    const CAST: CastFn<Tr> = CastFn(cast_to::<T, Tr>);
    const ENTRY: DynEntry = DynEntry { id: TypeId::of::<CastFn<Tr>>(), cast: &Self::CAST };
    const ONE: &'static [DynEntry] = &[Self::ENTRY];
}

impl DynTable {
    /// No trait views.
    pub const NONE: DynTable = DynTable { entries: &[] };

    /// A table with one trait, `Tr`.
    pub const fn of<T: AsDyn<Tr> + 'static, Tr: ?Sized + 'static>() -> DynTable {
        DynTable { entries: DynOf::<T, Tr>::ONE }
    }

    /// The entry for `Tr` (made by `of::<_, Tr>`), for the derive's tables
    /// of several traits.
    #[doc(hidden)]
    pub const fn entry<T: AsDyn<Tr> + 'static, Tr: ?Sized + 'static>() -> DynEntry {
        DynOf::<T, Tr>::ENTRY
    }

    /// A table of several traits (the derive builds it).
    #[doc(hidden)]
    pub const fn from_entries(entries: &'static [DynEntry]) -> DynTable {
        DynTable { entries }
    }

    /// The cast to `Tr`, if the table has it.
    #[inline]
    pub(crate) fn find<Tr: ?Sized + 'static>(&self) -> Option<&'static CastFn<Tr>> {
        let want = TypeId::of::<CastFn<Tr>>();
        // Usually one entry (a runtime's object trait): compare TypeIds
        // inline rather than through `dyn Any`'s vtable.
        for e in self.entries {
            if e.id == want {
                let c: &'static (dyn Any + Send + Sync) = e.cast;
                // SAFETY: `id` is the TypeId of the value behind `cast`
                // (both set together in `DynOf::ENTRY`), and it equals
                // `CastFn<Tr>`'s.
                return Some(unsafe { &*(c as *const (dyn Any + Send + Sync) as *const CastFn<Tr>) });
            }
        }
        None
    }
}

impl std::fmt::Debug for DynTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynTable({} traits)", self.entries.len())
    }
}

/// A heap type's view as the trait object `Tr` (`dyn Trait`), so an erased
/// pointer to it can call `Tr`'s methods ([`GcAny::to_dyn`](crate::GcAny::to_dyn)).
/// `#[shade(dyn(Trait))]` on a `#[derive(Trace)]` type implements it.
///
/// ```
/// use shade::{AsDyn, Config, GcAny, Heap, Trace};
///
/// trait Shape { fn area(&self) -> f64; }
///
/// #[derive(Trace)]
/// #[shade(dyn(Shape))]
/// struct Square(f64);
/// impl Shape for Square { fn area(&self) -> f64 { self.0 * self.0 } }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let any: GcAny = mu.alloc(Square(3.0)).into();
/// assert_eq!(any.to_dyn::<dyn Shape>(&mu).unwrap().area(), 9.0);
/// ```
pub trait AsDyn<Tr: ?Sized> {
    /// `self` as `&Tr` (the body is `self`).
    fn as_dyn(&self) -> &Tr;
}

/// Builds the descriptor of a sized type `T`.
pub(crate) struct SizedInfo<T>(std::marker::PhantomData<T>);

impl<T: Trace + 'static> SizedInfo<T> {
    pub(crate) const INFO: TypeInfo = TypeInfo {
        trace: trace_sized::<T>,
        trace_range: None,
        drop: if std::mem::needs_drop::<T>() { Some(drop_sized::<T>) } else { None },
        name: std::any::type_name::<T>,
        type_id: TypeId::of::<T>(),
        dyn_table: T::DYN,
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
