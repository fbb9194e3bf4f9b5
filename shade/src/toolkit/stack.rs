//! `RootStack`: a growable stack of values owned by one mutator, scanned as
//! a root — the value stack of an interpreter.
//!
//! Its words live outside the heap (`gc/roots.rs`, `StackWords`), so it
//! is never traced as an object: only its live part (`len` words) is read,
//! at mark start with the other roots. Stores into it take no write
//! barrier: a root is not part of the snapshot the barrier protects, and
//! everything a mutator can store was either reachable at mark start or
//! allocated black since (DESIGN.md §11 has the argument). A push is a
//! vector push; a pop needs no clearing, since what is above the length is
//! not scanned.
//!
//! Every operation takes the running mutator and checks it is the stack's
//! owner: that check is what lets the collector read the words while the
//! owner is stopped without a lock (the owner cannot be inside an
//! operation then), and it ties every value read out to a mutator that
//! keeps the stack scanned.

use crate::api::mutator::Mutator;
use crate::gc::roots::StackWords;
use crate::runtime::MutatorState;
use crate::toolkit::value::Value;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A growable stack of [`Value`]s that roots everything it holds, owned by
/// one mutator (`!Send`). Pushes, pops and stores cost what a `Vec`'s do
/// plus an ownership check: no write barrier, no `Local` per value.
///
/// ```
/// use shade::{Config, Heap, RootStack, Value};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let mut stack = RootStack::new(&mu);
/// stack.push(&mu, Value::number(1.0));
/// stack.push(&mu, Value::object(mu.alloc_str("kept by the stack")));
/// mu.collect();
/// assert_eq!(stack.len(), 2);
/// let s = stack.get(&mu, 1).downcast::<shade::Array<u8>>(&mu).unwrap();
/// assert_eq!(s.as_str(), "kept by the stack");
/// stack.set(&mu, 0, Value::int(2));
/// assert_eq!(stack.pop(&mu).map(|v| v.is_object()), Some(true));
/// assert_eq!(stack.pop(&mu).and_then(|v| v.as_int()), Some(2));
/// assert!(stack.is_empty());
/// ```
pub struct RootStack {
    words: Arc<StackWords>,
    /// The owning mutator's state; an `Arc`, so its address is never reused
    /// by another mutator while this stack compares against it.
    owner: Arc<MutatorState>,
    _not_send: PhantomData<*mut ()>,
}

impl RootStack {
    /// An empty stack owned by `mu`.
    pub fn new(mu: &Mutator) -> RootStack {
        RootStack::with_capacity(mu, 0)
    }

    /// An empty stack owned by `mu`, with room for `n` values before it
    /// reallocates.
    pub fn with_capacity(mu: &Mutator, n: usize) -> RootStack {
        let words = Arc::new(StackWords { words: UnsafeCell::new(Vec::with_capacity(n)) });
        mu.st.stacks.lock().push(words.clone());
        RootStack { words, owner: mu.st.clone(), _not_send: PhantomData }
    }

    #[inline(always)]
    fn check(&self, mu: &Mutator) {
        if !Arc::ptr_eq(&self.owner, &mu.st) {
            wrong_mutator();
        }
    }

    /// The words, for reading.
    #[inline(always)]
    fn words(&self) -> &Vec<u64> {
        // SAFETY: only the owner's operations write the words, through
        // `&mut self` (`words_mut`), so none is running now; the collector
        // only reads them.
        unsafe { &*self.words.words.get() }
    }

    /// The words, for writing; `mu` is the running owner (checked).
    #[inline(always)]
    fn words_mut(&mut self, mu: &Mutator) -> &mut Vec<u64> {
        self.check(mu);
        // SAFETY: the owner is running (`mu` is it, and a `&Mutator` exists
        // only while its mutator runs), so the collector is not reading the
        // words (it reads them only while the owner is stopped: gc/roots.rs),
        // and `&mut self` excludes every other use of this handle.
        unsafe { &mut *self.words.words.get() }
    }

    /// Checks that an object stored here belongs to the stack's heap (only
    /// needed while several heaps are alive, as for slot stores).
    #[inline(always)]
    fn check_value(mu: &Mutator, v: Value<'_>) {
        let p = v.pointer();
        if p != 0 && crate::runtime::LIVE_HEAPS.0.load(Relaxed) != 1 && !mu.in_heap(p) {
            foreign_value(p);
        }
    }

    /// Number of values on the stack.
    #[inline]
    pub fn len(&self) -> usize {
        self.words().len()
    }

    /// Whether the stack is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `v`.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner, or `v` is an object of another heap.
    #[inline]
    pub fn push(&mut self, mu: &Mutator, v: Value<'_>) {
        Self::check_value(mu, v);
        self.words_mut(mu).push(v.to_bits());
    }

    /// Pops the top value.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner.
    #[inline]
    pub fn pop<'m>(&mut self, mu: &'m Mutator) -> Option<Value<'m>> {
        let w = self.words_mut(mu).pop()?;
        // SAFETY: the word was a value of this stack, rooted until now; the
        // object stays allocated until `mu`'s next safepoint, which ends 'm.
        Some(unsafe { Value::from_word(w) })
    }

    /// The value at index `i` (0 is the bottom).
    ///
    /// # Panics
    /// If `i` is out of bounds or `mu` is not the stack's owner.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator, i: usize) -> Value<'m> {
        self.check(mu);
        let Some(&w) = self.words().get(i) else { out_of_bounds(i, self.len()) };
        // SAFETY: the word is rooted by this stack, which `mu`'s mutator
        // keeps scanned; the object stays allocated for 'm even if the
        // slot is overwritten meanwhile (no collection completes before
        // `mu`'s next safepoint).
        unsafe { Value::from_word(w) }
    }

    /// The top value, if any.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner.
    #[inline]
    pub fn last<'m>(&self, mu: &'m Mutator) -> Option<Value<'m>> {
        self.check(mu);
        // SAFETY: as in `get`.
        self.words().last().map(|&w| unsafe { Value::from_word(w) })
    }

    /// Stores `v` at index `i`.
    ///
    /// # Panics
    /// If `i` is out of bounds, `mu` is not the stack's owner, or `v` is an
    /// object of another heap.
    #[inline]
    pub fn set(&mut self, mu: &Mutator, i: usize, v: Value<'_>) {
        Self::check_value(mu, v);
        let words = self.words_mut(mu);
        let len = words.len();
        match words.get_mut(i) {
            Some(w) => *w = v.to_bits(),
            None => out_of_bounds(i, len),
        }
    }

    /// Shortens the stack to `len` values (no effect if it is shorter).
    ///
    /// # Panics
    /// If `mu` is not the stack's owner.
    #[inline]
    pub fn truncate(&mut self, mu: &Mutator, len: usize) {
        self.words_mut(mu).truncate(len);
    }

    /// Resizes the stack to `len` values, filling new places with `v`.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner, or `v` is an object of another heap.
    pub fn resize(&mut self, mu: &Mutator, len: usize, v: Value<'_>) {
        Self::check_value(mu, v);
        self.words_mut(mu).resize(len, v.to_bits());
    }

    /// Removes every value.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner.
    pub fn clear(&mut self, mu: &Mutator) {
        self.words_mut(mu).clear();
    }

    /// Pushes copies of the values in `range` (a call's arguments, say).
    ///
    /// # Panics
    /// If the range is out of bounds or `mu` is not the stack's owner.
    pub fn extend_from_within(&mut self, mu: &Mutator, range: Range<usize>) {
        self.words_mut(mu).extend_from_within(range);
    }

    /// The values from the bottom up.
    ///
    /// # Panics
    /// If `mu` is not the stack's owner.
    pub fn iter<'m>(&'m self, mu: &'m Mutator) -> impl Iterator<Item = Value<'m>> + 'm {
        self.check(mu);
        // SAFETY: as in `get`.
        self.words().iter().map(|&w| unsafe { Value::from_word(w) })
    }
}

impl Drop for RootStack {
    fn drop(&mut self) {
        // Unregister, so the values stop being roots. The collector reads
        // the words under this lock, and they are not written here.
        self.owner.stacks.lock().retain(|s| !Arc::ptr_eq(s, &self.words));
    }
}

impl std::fmt::Debug for RootStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootStack(len {})", self.len())
    }
}

#[cold]
#[inline(never)]
fn wrong_mutator() -> ! {
    panic!("shade: RootStack used with a mutator other than the one that created it")
}

#[cold]
#[inline(never)]
fn out_of_bounds(i: usize, len: usize) -> ! {
    panic!("shade: RootStack index {i} out of bounds (length {len})")
}

#[cold]
#[inline(never)]
fn foreign_value(p: usize) -> ! {
    panic!("shade: RootStack: object {p:#x} belongs to another heap than the stack's mutator")
}
