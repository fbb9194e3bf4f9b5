//! The runtime toolkit: what language runtimes build on, above the core
//! collector (heap, barrier, cycle) and beside the basic API (`Gc`, `Slot`,
//! roots).
//!
//! * `weak`: weak references (`Weak` fields, `WeakRoot` handles).
//! * `cleanup`: functions that run after an object died (`Mutator::add_cleanup`).
//! * `vec`: `GcVec`, a growable vector of pointers in the heap.
//! * `weak_set`: `WeakSet`, a weak hash set looked up by content (interning).
//! * `map`: `GcMap`, a hash map in the heap (keys by value or by identity).
//!
//! Their collector side (clearing at mark termination, running cleanups)
//! is `gc/weak.rs`.

pub(crate) mod cleanup;
pub(crate) mod map;
pub(crate) mod vec;
pub(crate) mod weak;
pub(crate) mod weak_set;
