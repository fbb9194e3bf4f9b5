//! Peer `rust-gc`: the `gc` crate (Manishearth/rust-gc).
//!
//! As its documentation shows: types derive `Trace` and `Finalize`, shared
//! pointers are `gc::Gc<T>`, mutable fields are `GcCell<T>`. A `Gc` held
//! outside the heap (on the stack, in a `Vec`) is a root (the crate counts
//! roots on each object; a `GcCell` roots its contents while it is borrowed
//! mutably); one moved into another object is unrooted. Collection is
//! stop-the-world mark-sweep over a thread-local list of all objects, run by
//! `Gc::new` once the bytes allocated exceed a threshold that grows with the
//! live heap (`used_space_ratio` 0.7). There is nothing to call between
//! steps: the program just drops what it no longer needs.
//!
//! Marking recurses along pointers, so a long chain of objects needs a deep
//! stack: the `stores` graph (a ring of a million nodes) is run on a thread
//! with a [`BIG_STACK`](super::BIG_STACK) stack.

// gc_derive 0.5 (the latest) wraps its impls in `const _DERIVE_…: () = { impl … }`,
// which rustc's `non_local_definitions` lint flags; the impls are fine.
#![allow(non_local_definitions)]

use gc::{Finalize, Gc, GcCell, Trace};

rc_like_workloads! {
    name: "rust-gc",
    about: "gc crate 0.5 (rust-gc): Gc<T> / GcCell<T>, thread-local stop-the-world mark-sweep",
    gc: Gc,
    cell: GcCell,
    derive: [Trace, Finalize],
    settle: gc::force_collect(),
}
