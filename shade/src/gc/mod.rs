//! The collector (MMTk would call it the plan): what happens in a cycle and
//! in which order. Each mechanism has its own file:
//!
//! * `stw`: stopping mutators at safepoints.
//! * `handshake`: moving mutators through a cycle's phases one at a time,
//!   at their own safepoints (ragged handshakes).
//! * `termination`: ending marking with handshakes instead of a stop.
//! * `collector`: the cycle itself and the coordinator thread that runs it.
//! * `roots`: the root set (registrations of `Root`s, `Local`s, root stacks).
//! * `checkmark`: the `checkmark` debug mode's verification.
//! * `mark`, `work`: marking and the marker's work queues.
//! * `sweep`: freeing, dropping, poisoning.
//! * `weak`: clearing weak references and queueing cleanups at termination.
//! * `pacer`: when the next cycle is due.
//! * `gctrace`, `stats`: what a cycle reports.

pub(crate) mod checkmark;
pub(crate) mod collector;
pub(crate) mod gctrace;
pub(crate) mod handshake;
pub(crate) mod mark;
pub(crate) mod pacer;
pub(crate) mod roots;
pub(crate) mod stats;
pub(crate) mod stw;
pub(crate) mod sweep;
pub(crate) mod termination;
pub(crate) mod weak;
pub(crate) mod work;
