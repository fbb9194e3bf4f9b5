//! The public API: a thin, safe layer over the collector's internals.
//! The type system carries the rules: `Gc` borrows the mutator, slots need
//! the mutator to be written, roots are the only way across a safepoint or
//! a thread.

pub(crate) mod array;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod gc;
pub(crate) mod heap;
pub(crate) mod mutator;
pub(crate) mod root;
pub(crate) mod slot;
pub(crate) mod stats;
pub(crate) mod trace;
