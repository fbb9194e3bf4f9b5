//! # Shade
//!
//! A concurrent, parallel, non-moving mark-sweep garbage collector for Rust
//! with a safe, shared, multithreaded heap and a Go-style buffered write
//! barrier.
//!
//! * [`Heap`]: the shared heap (`Clone + Send + Sync`).
//! * [`Mutator`]: one per thread working on the heap; allocation
//!   ([`Mutator::alloc`], [`Mutator::alloc_array`]) and safepoints.
//! * [`Gc<'m, T>`](Gc): a `Copy` pointer bound to a borrow of the mutator,
//!   so it cannot outlive a safepoint.
//! * [`Slot<T>`]: a mutable pointer field; writes go through the write
//!   barrier and need the mutator.
//! * [`Array<T>`]: variable-sized objects (vectors of slots, strings).
//! * [`Root<T>`] and [`Local<T>`]: keep objects alive across safepoints
//!   (`Root` also across threads).
//! * `#[derive(Trace)]`: tells the collector where a type's pointers are.
//! * [`Weak<T>`] fields and [`WeakRoot<T>`] handles: references that do not
//!   keep their target alive; [`Mutator::add_cleanup`]: a function run once
//!   after an object died; [`GcVec<T>`]: a growable vector of pointers in
//!   the heap; [`WeakSet<T>`]: a weak hash set looked up by content, for
//!   interning.
//! * [`Value`] and [`ValueSlot`]: dynamically typed 8-byte values (number,
//!   integer, boolean, nil, or an object of any type) for interpreters;
//!   [`GcAny`]: a pointer to an object of any type, with `downcast` and
//!   trait-object views; [`RootStack`]: a mutator's value stack, scanned as
//!   a root, with no barrier on its stores.
//!   interning; [`GcMap<K, V>`]: a hash map in the heap, keyed by value
//!   (integers, strings) or by object identity.
//!
//! ```
//! use shade::{Config, Heap, Slot, Trace};
//!
//! #[derive(Trace)]
//! struct Node {
//!     left: Slot<Node>,
//!     right: Slot<Node>,
//! }
//!
//! fn tree<'m>(mu: &'m shade::Mutator, depth: u32) -> shade::Gc<'m, Node> {
//!     if depth == 0 {
//!         return mu.alloc(Node { left: Slot::null(), right: Slot::null() });
//!     }
//!     let (l, r) = (tree(mu, depth - 1), tree(mu, depth - 1));
//!     mu.alloc(Node { left: Slot::new(l), right: Slot::new(r) })
//! }
//!
//! fn count(mu: &shade::Mutator, n: shade::Gc<'_, Node>) -> usize {
//!     1 + n.left.get(mu).map_or(0, |l| count(mu, l)) + n.right.get(mu).map_or(0, |r| count(mu, r))
//! }
//!
//! let heap = Heap::new(Config::default()).unwrap();
//! let mut mu = heap.mutator();
//! let t = mu.root(tree(&mu, 10));
//! mu.collect();
//! assert_eq!(count(&mu, t.get(&mu)), 2047);
//! ```
//!
//! The design, its invariants and the memory-ordering rules between
//! mutators and collector threads are in `DESIGN.md` at the repository root.

#![warn(missing_docs)]

// Lets `#[derive(Trace)]` (which names `::shade`) work inside this crate's tests.
extern crate self as shade;

mod api;
mod barrier;
mod gc;
mod heap;
mod runtime;
mod scheduler;
mod toolkit;
mod util;

pub use api::array::Array;
pub use api::config::{Config, HeapError};
pub use api::error::AllocError;
pub use api::gc::Gc;
pub use api::heap::Heap;
pub use api::mutator::{Mutator, ParkedMutator, Poll};
pub use api::root::{Local, Root};
pub use api::slot::{Member, Slot};
pub use api::stats::{CycleInfo, HeapStats};
pub use api::trace::{Trace, Tracer};
pub use barrier::wbbuf::BarrierStats;
pub use barrier::{BarrierMode, BarrierRecord};
pub use gc::termination::Termination;
pub use gc::work::MarkMode;
pub use heap::object::{AsDyn, DynTable};
/// `#[derive(Trace)]`: see [`Trace`].
pub use shade_derive::Trace;
pub use toolkit::cleanup::Cleanup;
pub use toolkit::erased::{GcAny, Typed};
pub use toolkit::map::{GcMap, GcMapIter, MapCell, MapKey, MapQuery};
pub use toolkit::plain::{Plain, PlainCell};
pub use toolkit::stack::RootStack;
pub use toolkit::tail::{Str, StrHead, Tail};
pub use toolkit::value::{Value, ValueKind, ValueSlot};
pub use toolkit::vec::GcVec;
pub use toolkit::weak::{Weak, WeakRoot};
pub use toolkit::weak_map::WeakMap;
pub use toolkit::weak_set::WeakSet;

/// The README's Rust examples are compiled and run as doctests, so the
/// quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
