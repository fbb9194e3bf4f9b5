//! Dynamically typed values: `Value<'m>`, held by mutator code, and
//! `ValueSlot`, the mutable heap field that stores one.
//!
//! A value is one 64-bit word: a double, a 48-bit integer, a boolean, nil,
//! or a pointer to a heap object of any type (the encoding, and why the
//! marker and the barrier can tell a pointer from a double, is
//! heap/value.rs). It is what an interpreter for a dynamically typed
//! language keeps in its variables, fields and stack: 8 bytes, no
//! allocation for numbers, one atomic load to read.
//!
//! `Value<'m>` carries the mutator borrow like `Gc<'m, T>`: a value holding
//! an object cannot outlive a safepoint. `ValueSlot` follows `Slot`'s rules
//! (DESIGN.md §4): it lives in the heap, a store goes through the barrier
//! (which records the overwritten word only if it was a pointer), and
//! `ValueSlot::new` records a type-free witness for an object it holds.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::UNPLACED;
use crate::api::trace::{AnyObject, Trace, Tracer};
use crate::heap::value as word;
use crate::toolkit::erased::GcAny;
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::*};

/// A dynamically typed value: nil, a boolean, a number (`f64`), a small
/// integer (48 bits), or an object of any type. `Copy`, 8 bytes, valid
/// while the mutator borrow `'m` lasts (a value holding an object is a
/// pointer, like [`Gc`]).
///
/// Equality (`==`, `Hash`) is identity: the same immediate or the same
/// object. Numbers compare by their bits (so `NaN == NaN` and `0.0 !=
/// -0.0`; every NaN is stored as one canonical NaN), and the integer `1` is
/// not the number `1.0`: a language's own equality is the interpreter's to
/// define on top.
///
/// ```
/// use shade::{Config, Heap, Value};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let vals = [Value::NIL, Value::bool(true), Value::number(2.5), Value::int(-7), Value::object(mu.alloc_str("hi"))];
/// assert!(vals[0].is_nil());
/// assert_eq!(vals[1].as_bool(), Some(true));
/// assert_eq!(vals[2].as_number(), Some(2.5));
/// assert_eq!(vals[3].as_int(), Some(-7));
/// assert_eq!(vals[4].downcast::<shade::Array<u8>>(&mu).unwrap().as_str(), "hi");
/// assert_eq!(std::mem::size_of::<Value>(), 8);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value<'m> {
    bits: u64,
    _m: PhantomData<&'m Mutator>,
}

/// What a [`Value`] holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ValueKind {
    /// Nil.
    Nil,
    /// A boolean.
    Bool,
    /// A small integer.
    Int,
    /// A number (`f64`).
    Number,
    /// An object.
    Object,
}

impl<'m> Value<'m> {
    /// Nil (also `Value::default()`, and what a zeroed `ValueSlot` holds).
    pub const NIL: Value<'m> = Value::from_bits(word::NIL);
    /// `true`.
    pub const TRUE: Value<'m> = Value::from_bits(word::TRUE);
    /// `false`.
    pub const FALSE: Value<'m> = Value::from_bits(word::FALSE);
    /// The smallest small integer, -2^47.
    pub const INT_MIN: i64 = word::INT_MIN;
    /// The largest small integer, 2^47 - 1.
    pub const INT_MAX: i64 = word::INT_MAX;

    /// Private: only the constructors below make words, so a word in the
    /// pointer range always came from a `Gc` (heap/value.rs, invariant (V)).
    #[inline(always)]
    const fn from_bits(bits: u64) -> Value<'m> {
        Value { bits, _m: PhantomData }
    }

    /// A value from a word that was a `Value`'s.
    ///
    /// # Safety
    /// `w` is the word of a value whose object (if any) stays allocated
    /// for `'m`.
    #[inline(always)]
    pub(crate) unsafe fn from_word(w: u64) -> Value<'m> {
        Value::from_bits(w)
    }

    /// The raw word (for hashing or debugging; there is no way back).
    #[inline(always)]
    pub const fn to_bits(self) -> u64 {
        self.bits
    }

    /// A boolean.
    #[inline(always)]
    pub const fn bool(b: bool) -> Value<'m> {
        if b {
            Value::TRUE
        } else {
            Value::FALSE
        }
    }

    /// A number. Every NaN becomes the canonical quiet NaN.
    #[inline(always)]
    pub fn number(x: f64) -> Value<'m> {
        Value::from_bits(word::from_f64(x))
    }

    /// A small integer (every `i32` fits; see [`try_int`](Value::try_int)).
    #[inline(always)]
    pub const fn int(i: i32) -> Value<'m> {
        Value::from_bits(word::from_int(i as i64))
    }

    /// A small integer, if `i` is within `INT_MIN..=INT_MAX` (48 bits).
    #[inline(always)]
    pub const fn try_int(i: i64) -> Option<Value<'m>> {
        if i >= word::INT_MIN && i <= word::INT_MAX {
            Some(Value::from_bits(word::from_int(i)))
        } else {
            None
        }
    }

    /// An object (a `Gc<T>` or a `GcAny`).
    #[inline(always)]
    pub fn object(o: impl Into<GcAny<'m>>) -> Value<'m> {
        Value::from_bits(o.into().addr() as u64)
    }

    /// What the value holds.
    #[inline]
    pub fn kind(self) -> ValueKind {
        let w = self.bits;
        if word::is_pointer(w) {
            ValueKind::Object
        } else if word::is_f64(w) {
            ValueKind::Number
        } else if word::is_int(w) {
            ValueKind::Int
        } else if w == word::NIL {
            ValueKind::Nil
        } else {
            ValueKind::Bool
        }
    }

    /// Whether the value is nil.
    #[inline(always)]
    pub const fn is_nil(self) -> bool {
        self.bits == word::NIL
    }

    /// The boolean, if the value is one.
    #[inline(always)]
    pub const fn as_bool(self) -> Option<bool> {
        match self.bits {
            word::TRUE => Some(true),
            word::FALSE => Some(false),
            _ => None,
        }
    }

    /// Whether the value is a number (`f64`).
    #[inline(always)]
    pub const fn is_number(self) -> bool {
        word::is_f64(self.bits)
    }

    /// The number, if the value is one (not for integers: see
    /// [`as_f64`](Value::as_f64)).
    #[inline(always)]
    pub fn as_number(self) -> Option<f64> {
        if word::is_f64(self.bits) {
            Some(word::to_f64(self.bits))
        } else {
            None
        }
    }

    /// Whether the value is a small integer.
    #[inline(always)]
    pub const fn is_int(self) -> bool {
        word::is_int(self.bits)
    }

    /// The small integer, if the value is one.
    #[inline(always)]
    pub const fn as_int(self) -> Option<i64> {
        if word::is_int(self.bits) {
            Some(word::to_int(self.bits))
        } else {
            None
        }
    }

    /// The value as an `f64` if it is a number or an integer.
    #[inline]
    pub fn as_f64(self) -> Option<f64> {
        match self.as_int() {
            Some(i) => Some(i as f64),
            None => self.as_number(),
        }
    }

    /// Whether the value is an object.
    #[inline(always)]
    pub const fn is_object(self) -> bool {
        word::is_pointer(self.bits)
    }

    /// The object, if the value is one.
    #[inline(always)]
    pub fn as_object(self) -> Option<GcAny<'m>> {
        if word::is_pointer(self.bits) {
            // SAFETY: a pointer word came from a `Gc<'m, T: Sync>` (the
            // constructors' invariant), so it names an object live for 'm.
            Some(unsafe { GcAny::from_raw(self.bits as usize) })
        } else {
            None
        }
    }

    /// Whether the value is an object of type `T`.
    ///
    /// # Panics
    /// If the value is an object of another heap than `mu`'s.
    #[inline]
    pub fn is<T: 'static>(self, mu: &Mutator) -> bool {
        self.as_object().is_some_and(|o| o.is::<T>(mu))
    }

    /// The object as a `T`, if the value is an object of type `T`.
    ///
    /// # Panics
    /// If the value is an object of another heap than `mu`'s.
    #[inline]
    pub fn downcast<T: 'static>(self, mu: &Mutator) -> Option<Gc<'m, T>> {
        self.as_object()?.downcast(mu)
    }

    /// The object as the trait object `Tr`, if the value is an object whose
    /// type registered `Tr` (see [`GcAny::to_dyn`]).
    ///
    /// # Panics
    /// If the value is an object of another heap than `mu`'s.
    #[inline]
    pub fn to_dyn<Tr: ?Sized + 'static>(self, mu: &Mutator) -> Option<&'m Tr> {
        self.as_object()?.to_dyn(mu)
    }

    /// The payload address if the value is an object, else 0.
    #[inline(always)]
    pub(crate) fn pointer(self) -> usize {
        word::pointer_of(self.bits)
    }
}

impl Default for Value<'_> {
    fn default() -> Self {
        Value::NIL
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::bool(b)
    }
}
impl From<f64> for Value<'_> {
    fn from(x: f64) -> Self {
        Value::number(x)
    }
}
impl From<i32> for Value<'_> {
    fn from(i: i32) -> Self {
        Value::int(i)
    }
}
impl<'m> From<GcAny<'m>> for Value<'m> {
    fn from(o: GcAny<'m>) -> Self {
        Value::object(o)
    }
}
impl<'m, T: Sync + 'static> From<Gc<'m, T>> for Value<'m> {
    fn from(g: Gc<'m, T>) -> Self {
        Value::object(g)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            ValueKind::Nil => f.write_str("nil"),
            ValueKind::Bool => write!(f, "{}", self.bits == word::TRUE),
            ValueKind::Int => write!(f, "{}", word::to_int(self.bits)),
            ValueKind::Number => write!(f, "{:?}", word::to_f64(self.bits)),
            ValueKind::Object => write!(f, "object@{:#x}", self.bits),
        }
    }
}

/// A mutable heap field holding a [`Value`]: one atomic 64-bit word.
///
/// Reading is one atomic load (plus, for an object, the check that the
/// slot lies in the heap, as for [`Slot`](crate::Slot)); writing goes
/// through the write barrier, which records the overwritten word only if it
/// was an object. The marker traces the slot only when it holds an object.
/// The rules are [`Slot`](crate::Slot)'s: a `ValueSlot` is meaningful only
/// inside a heap object, and [`ValueSlot::new`] is for building one.
///
/// ```
/// use shade::{Config, Heap, Trace, Value, ValueSlot};
///
/// #[derive(Trace)]
/// struct Pair { car: ValueSlot, cdr: ValueSlot }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let p = mu.alloc(Pair { car: ValueSlot::new(Value::number(1.5)), cdr: ValueSlot::nil() });
/// p.cdr.set(&mu, Value::object(mu.alloc_str("tail")));
/// let p = mu.local(p);
/// mu.collect();
/// let p = p.get(&mu);
/// assert_eq!(p.car.get(&mu).as_number(), Some(1.5));
/// assert_eq!(p.cdr.get(&mu).downcast::<shade::Array<u8>>(&mu).unwrap().as_str(), "tail");
/// p.car.set(&mu, Value::int(3));
/// assert_eq!(p.car.get(&mu).as_int(), Some(3));
/// ```
#[repr(transparent)]
pub struct ValueSlot {
    bits: AtomicU64,
}

impl ValueSlot {
    /// A slot holding nil.
    #[inline]
    pub const fn nil() -> ValueSlot {
        ValueSlot { bits: AtomicU64::new(word::NIL) }
    }

    /// A slot holding `v`, to be moved into an object allocated on this
    /// thread before its mutator's next safepoint (like
    /// [`Slot::new`](crate::Slot::new): an object in `v` leaves a witness
    /// that the allocation consumes).
    #[inline]
    pub fn new(v: Value<'_>) -> ValueSlot {
        let p = v.pointer();
        if p != 0 {
            crate::api::slot::pending::add(p, TypeId::of::<AnyObject>());
            // Marked as outside the heap until allocation places it
            // (api/slot.rs, `UNPLACED`); still a pointer word.
            return ValueSlot { bits: AtomicU64::new(v.bits | UNPLACED as u64) };
        }
        ValueSlot { bits: AtomicU64::new(v.bits) }
    }

    #[inline(always)]
    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Loads the value (acquire, pairing with `set`'s release).
    ///
    /// # Panics
    /// If the slot holds an object and does not lie inside an object of
    /// `mu`'s heap.
    #[inline(always)]
    pub fn get<'m>(&self, mu: &'m Mutator) -> Value<'m> {
        let w = self.bits.load(Acquire);
        if word::is_pointer(w) {
            crate::api::slot::check_read(mu, self.addr(), w as usize);
            #[cfg(debug_assertions)]
            mu.debug_check_live(w as usize);
        }
        // A pointer word in a heap slot targets an object alive until this
        // mutator's next safepoint (DESIGN.md §4), which ends 'm.
        Value::from_bits(w)
    }

    /// Stores `v` through the write barrier.
    ///
    /// # Panics
    /// If the slot does not lie inside an object of `mu`'s heap, or `v` is
    /// an object of another heap.
    #[inline(always)]
    pub fn set(&self, mu: &Mutator, v: Value<'_>) {
        mu.checked_value_store(self.addr(), &self.bits, v.bits);
    }

    /// Stores `v` and returns the previous value.
    #[inline]
    pub fn replace<'m>(&self, mu: &'m Mutator, v: Value<'_>) -> Value<'m> {
        let old = self.get(mu);
        self.set(mu, v);
        old
    }
}

impl Default for ValueSlot {
    fn default() -> Self {
        ValueSlot::nil()
    }
}

impl fmt::Debug for ValueSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Value<'_> = Value::from_bits(self.bits.load(Relaxed) & !(UNPLACED as u64));
        write!(f, "ValueSlot({v:?})")
    }
}

// SAFETY: a value slot is one word, traced as an erased pointer when it
// holds one (allocation checks its `AnyObject` witness) and skipped
// otherwise; the load is atomic (acquire, as for `Slot`).
unsafe impl Trace for ValueSlot {
    #[inline(always)]
    fn trace(&self, t: &mut Tracer<'_>) {
        t.value_edge(&self.bits)
    }
}
