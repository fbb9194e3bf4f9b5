//! Peer `dumpster`: the `dumpster` crate (claytonwramsey/dumpster).
//!
//! As its documentation shows for single-threaded programs:
//! `dumpster::unsync::Gc<T>` (a drop-in for `Rc<T>`), types deriving
//! `dumpster::Trace`, `RefCell` for mutable fields. Objects are reference
//! counted and freed when their count reaches zero; a `Gc` whose count drops
//! but stays above zero is remembered as a possible cycle, and the cycle
//! collector scans those once more `Gc`s have been dropped since the last
//! scan than exist (the default collect condition). The program calls
//! nothing: it drops what it no longer needs (in `stores`, the `Gc` a store
//! displaces is dropped there, and may start a cycle scan).
//!
//! The cycle collector walks the graph recursively, so a long chain of
//! objects needs a deep stack: the `stores` graph (a ring of a million
//! nodes) is run on a thread with a [`BIG_STACK`](super::BIG_STACK) stack.

use dumpster::unsync::Gc;
use dumpster::Trace;
use std::cell::RefCell;

rc_like_workloads! {
    name: "dumpster",
    about: "dumpster 2.1: unsync::Gc<T> + RefCell, reference counting with a cycle collector",
    gc: Gc,
    cell: RefCell,
    derive: [Trace],
    settle: dumpster::unsync::collect(),
    free_ring: dumpster::unsync::collect(),
}
