//! The `Trace` trait: how the collector finds the GC pointers inside a value.
//!
//! A type's `Trace` impl visits every [`Slot`](crate::Slot) (and every value
//! that may contain one) reachable from `&self` *without* going through
//! another GC object. The marker calls it on other threads while mutators run
//! (the next step of the collector marks concurrently), so it may only read
//! what cannot change under it: pointer slots, which are atomic, and data that
//! is immutable once the object is allocated. That is why `Trace` is *not*
//! implemented for `RefCell<T>`, `Mutex<T>` or a `Cell` holding pointers: a
//! container of GC pointers that can be mutated in place would let a pointer
//! hide from the marker. For growable collections of pointers, allocate an
//! [`Array`](crate::Array) of slots and replace it when it must grow.
//!
//! Use `#[derive(Trace)]`. Hand-written impls are `unsafe`: see the contract
//! on the trait.

use crate::api::slot::UNPLACED;
use crate::gc::mark::Marker;
use crate::heap::object::DynTable;
use std::any::TypeId;
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

/// Types that can live in a Shade heap, or inside an object that does.
///
/// # Safety
/// An implementation must uphold all of:
/// 1. `trace` calls `trace` on every field that may hold a GC pointer
///    (a [`Slot`](crate::Slot) or a type containing one), and on nothing that
///    lives in another GC object.
/// 2. `trace` reads only atomic slots and data that never changes after the
///    value is allocated; it must not panic, block, or allocate in the heap.
/// 3. `NO_TRACE` is `true` only if the type can never hold a GC pointer.
/// 4. The type's destructor (if any) does not read its slots: the objects
///    they point to may already be freed when it runs. The derive enforces
///    this by forbidding `Drop` impls on derived types.
///
/// # Example
/// ```
/// use shade::{Trace, Slot};
///
/// #[derive(Trace)]
/// struct Node {
///     value: i64,
///     next: Slot<Node>,
/// }
/// # fn main() {}
/// ```
pub unsafe trait Trace {
    /// `true` if values of this type never contain GC pointers: such objects
    /// go to "noscan" spans and the marker never looks inside them.
    const NO_TRACE: bool = false;

    /// The trait objects an erased pointer to this type can be viewed as
    /// ([`GcAny::to_dyn`](crate::GcAny::to_dyn)); none by default. The
    /// derive sets it from `#[shade(dyn(Trait, ...))]`.
    const DYN: DynTable = DynTable::NONE;

    /// Visits the GC pointers held directly by `self`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Receives the GC pointers a [`Trace`] impl visits. Only the collector
/// creates tracers; user code passes the one it is given to the `trace` of
/// its fields.
pub struct Tracer<'a> {
    pub(crate) kind: TracerKind<'a>,
}

pub(crate) enum TracerKind<'a> {
    /// Marking: shade every target grey.
    Mark(&'a mut Marker),
    /// Checking a value being allocated: every pointer must have a
    /// `Slot::new` witness on this thread (api/slot.rs, `pending`) and, if
    /// `check_range`, target the mutator's arena.
    Validate(Validate),
    /// Collecting the pointers (verification and tests).
    Collect(&'a mut Vec<usize>),
}

/// The state of a `TracerKind::Validate` pass (`Mutator::check_pointers`).
pub(crate) struct Validate {
    pub(crate) base: usize,
    pub(crate) len: usize,
    pub(crate) check_range: bool,
    /// The first bad pointer and why.
    pub(crate) bad: Option<(usize, &'static str)>,
}

impl Validate {
    /// Checks one non-null pointer to a `T`. The common case — the witness
    /// is one of the last two records, as when an object's slots were built
    /// just before it — is inline; the rest is out of line, so that this
    /// stays small inside every type's `trace` (which must inline into the
    /// allocation path and the marker alike).
    #[inline(always)]
    fn witness(&mut self, p: usize, ty: TypeId) {
        if self.check_range || self.bad.is_some() || !crate::api::slot::pending::take_recent(p, ty) {
            self.witness_slow(p, ty);
        }
    }

    /// A pointer in a value being allocated must carry `UNPLACED`: it was
    /// made by `Slot::new` (anything else would be a slot that was in the
    /// heap, which cannot be moved out of it).
    #[inline(always)]
    fn placed(&mut self, p: usize) {
        if p & UNPLACED == 0 && self.bad.is_none() {
            self.bad = Some((p, "was not made by Slot::new / ValueSlot::new"));
        }
    }

    #[inline(never)]
    fn witness_slow(&mut self, p: usize, ty: TypeId) {
        if self.bad.is_some() {
        } else if self.check_range && p.wrapping_sub(self.base) >= self.len {
            self.bad = Some((p, "is not into this mutator's heap"));
        } else if !crate::api::slot::pending::take(p, ty) {
            self.bad = Some((
                p,
                "has no witness: its Slot was made before a safepoint, on another thread, or for an object of another type at the same address",
            ));
        }
    }
}

impl Tracer<'_> {
    /// Visits the pointer in a slot to a `T`. Validating (a value being
    /// allocated), the pointer must carry the `UNPLACED` mark of
    /// `Slot::new` and a witness; the mark is then cleared, as the slot is
    /// about to be moved into the heap (api/slot.rs, `UNPLACED`).
    #[inline(always)]
    pub(crate) fn slot_edge<T: 'static>(&mut self, slot: &AtomicPtr<u8>) {
        let p = slot.load(Acquire) as usize;
        self.edge(p, TypeId::of::<T>(), || slot.store((p & !UNPLACED) as *mut u8, Relaxed));
    }

    /// The same for a value slot's word (`ValueSlot`; pointers only, the
    /// witness naming no type: `AnyObject`).
    #[inline(always)]
    pub(crate) fn value_edge(&mut self, slot: &AtomicU64) {
        let w = slot.load(Acquire);
        let p = crate::heap::value::pointer_of(w);
        self.edge(p, TypeId::of::<AnyObject>(), || slot.store(w & !(UNPLACED as u64), Relaxed));
    }

    /// One pointer `p` (0: none) loaded from a slot; `place` clears the
    /// slot's `UNPLACED` mark when validating.
    #[inline(always)]
    fn edge(&mut self, p: usize, ty: TypeId, place: impl FnOnce()) {
        if p == 0 {
            return;
        }
        match &mut self.kind {
            TracerKind::Mark(m) => m.mark(p),
            TracerKind::Validate(v) => {
                v.placed(p);
                v.witness(p & !UNPLACED, ty);
                place();
            }
            TracerKind::Collect(v) => v.push(p),
        }
    }
}

/// The witness type of erased pointers (`Value`s holding objects): a
/// record `(p, AnyObject)` proves that a `Gc` of *some* type pointed at `p`
/// since the last safepoint, which is all an erased pointer needs — its
/// type is read from the span whenever it is used (DESIGN.md §4).
pub(crate) enum AnyObject {}

macro_rules! no_trace {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: these types hold no GC pointers.
        unsafe impl Trace for $t {
            const NO_TRACE: bool = true;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

no_trace!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    Box<str>,
    std::time::Duration,
    std::time::Instant,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
);

macro_rules! fn_trace {
    ($($a:ident),*) => {
        // SAFETY: a function pointer is code, never a GC pointer.
        unsafe impl<R: 'static, $($a: 'static),*> Trace for fn($($a),*) -> R {
            const NO_TRACE: bool = true;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    };
}
fn_trace!();
fn_trace!(A);
fn_trace!(A, B);
fn_trace!(A, B, C);
fn_trace!(A, B, C, D);
fn_trace!(A, B, C, D, E);
fn_trace!(A, B, C, D, E, F);

// SAFETY: PhantomData holds nothing.
unsafe impl<T: ?Sized> Trace for PhantomData<T> {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// Containers whose contents live outside the GC heap (in malloc'd memory)
/// or can be mutated in place may only hold pointer-free data: a GC pointer
/// stored there would be invisible to a concurrent marker or escape the
/// heap's range checks. The restriction is checked at compile time.
macro_rules! plain_container {
    ($($name:ident<$($p:ident),*> => $what:literal),* $(,)?) => {$(
        // SAFETY: the const assertion rejects instantiations whose contents
        // may hold GC pointers, so there is nothing to trace.
        unsafe impl<$($p: Trace),*> Trace for $name<$($p),*> {
            const NO_TRACE: bool = {
                $(assert!($p::NO_TRACE, concat!($what, " may only hold pointer-free data inside a GC object; use shade::Array of shade::Slot"));)*
                true
            };
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {
                let _: bool = <Self as Trace>::NO_TRACE;
            }
        }
    )*};
}

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
plain_container!(
    Vec<T> => "Vec<T>",
    VecDeque<T> => "VecDeque<T>",
    BTreeMap<K, V> => "BTreeMap<K, V>",
    BTreeSet<T> => "BTreeSet<T>",
    HashMap<K, V> => "HashMap<K, V>",
    HashSet<T> => "HashSet<T>",
    Cell<T> => "Cell<T>",
);

// SAFETY: as for `plain_container`: only pointer-free contents are accepted.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NO_TRACE: bool = {
        assert!(T::NO_TRACE, "Box<T> may only hold pointer-free data inside a GC object");
        true
    };
    fn trace(&self, _: &mut Tracer<'_>) {
        let _: bool = <Self as Trace>::NO_TRACE;
    }
}

// SAFETY: as for `plain_container`.
unsafe impl<T: Trace + ?Sized> Trace for std::sync::Arc<T> {
    const NO_TRACE: bool = {
        assert!(T::NO_TRACE, "Arc<T> may only hold pointer-free data inside a GC object");
        true
    };
    fn trace(&self, _: &mut Tracer<'_>) {
        let _: bool = <Self as Trace>::NO_TRACE;
    }
}

// SAFETY: as for `plain_container`.
unsafe impl<T: Trace> Trace for [T] {
    const NO_TRACE: bool = {
        assert!(T::NO_TRACE, "[T] may only hold pointer-free data inside a GC object");
        true
    };
    fn trace(&self, _: &mut Tracer<'_>) {
        let _: bool = <Self as Trace>::NO_TRACE;
    }
}

// SAFETY: an Option is immutable inside an object (objects are only
// reachable through shared references); we trace the value if present.
unsafe impl<T: Trace> Trace for Option<T> {
    const NO_TRACE: bool = T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(t)
        }
    }
}

// SAFETY: inline, immutable storage; every element is traced.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NO_TRACE: bool = T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        if !T::NO_TRACE {
            for v in self {
                v.trace(t)
            }
        }
    }
}

// SAFETY: inline, immutable storage; both alternatives are traced.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NO_TRACE: bool = T::NO_TRACE && E::NO_TRACE;
    fn trace(&self, t: &mut Tracer<'_>) {
        match self {
            Ok(v) => v.trace(t),
            Err(e) => e.trace(t),
        }
    }
}

macro_rules! tuple_trace {
    ($($n:tt $t:ident),+) => {
        // SAFETY: inline, immutable storage; every field is traced.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const NO_TRACE: bool = $($t::NO_TRACE)&&+;
            #[inline]
            fn trace(&self, t: &mut Tracer<'_>) {
                $(self.$n.trace(t);)+
            }
        }
    };
}
tuple_trace!(0 A);
tuple_trace!(0 A, 1 B);
tuple_trace!(0 A, 1 B, 2 C);
tuple_trace!(0 A, 1 B, 2 C, 3 D);
tuple_trace!(0 A, 1 B, 2 C, 3 D, 4 E);
tuple_trace!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
