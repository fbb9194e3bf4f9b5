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

use super::{on_big_stack, CratePeer};
use crate::workloads::{gcbench as gb, latency as lat, stores as st};
use crate::workloads::{Outcome, Params};
use gc::{Finalize, Gc, GcCell, Trace};

/// The peer for benchmark `bench`, if this crate implements it.
pub fn peer(bench: &str) -> Option<CratePeer> {
    let run: fn(&Params) -> Outcome = match bench {
        "binary-trees" => binary_trees,
        "gcbench" => |p| gcbench(gb::Sizes::of(p)),
        "stores-quiet" => |p| on_big_stack(st::Sizes::of(p), |s| stores(st::Variant::Quiet, s)),
        "stores-active" => |p| on_big_stack(st::Sizes::of(p), |s| stores(st::Variant::Active, s)),
        "latency" => |p| latency(lat::Sizes::of(p)),
        _ => return None,
    };
    Some(("rust-gc", "gc crate 0.5 (rust-gc): Gc<T> / GcCell<T>, thread-local stop-the-world mark-sweep", run))
}

rc_like_workloads! {
    gc: Gc,
    cell: GcCell,
    derive: [Trace, Finalize],
    settle: gc::force_collect(),
}
