//! The runtime toolkit: what language runtimes build on, above the core
//! collector (heap, barrier, cycle) and beside the basic API (`Gc`, `Slot`,
//! roots).
//!
//! * `weak`: weak references (`Weak` fields, `WeakRoot` handles).
//! * `cleanup`: functions that run after an object died (`Mutator::add_cleanup`).
//! * `vec`: `GcVec`, a growable vector of pointers in the heap.
//! * `weak_set`: `WeakSet`, a weak hash set looked up by content (interning).
//! * `weak_map`: `WeakMap`, an ephemeron table (a value lives as long as its
//!   key).
//! * `value`: `Value`, a dynamically typed word (number, integer, boolean,
//!   nil or object), and `ValueSlot`, the heap field holding one.
//! * `erased`: `GcAny`, a pointer to an object of any type (downcast, trait
//!   objects).
//! * `tail`: `Tail<H, T>`, a header and an inline variable-length tail in
//!   one object, and `Str`, a string validated once.
//! * `plain`: `PlainCell<T>`, a mutable plain-data field that keeps its
//!   object `Sync`.
//! * `stack`: `RootStack`, a mutator's unbarriered value stack, scanned as a
//!   root.
//! * `map`: `GcMap`, a hash map in the heap (keys by value or by identity).
//!
//! Their collector side (clearing at mark termination, running cleanups)
//! is `gc/weak.rs`.

pub(crate) mod cleanup;
pub(crate) mod erased;
pub(crate) mod map;
pub(crate) mod plain;
pub(crate) mod stack;
pub(crate) mod tail;
pub(crate) mod value;
pub(crate) mod vec;
pub(crate) mod weak;
pub(crate) mod weak_map;
pub(crate) mod weak_set;
