//! The write barrier: every pointer store into the heap goes through here.
//!
//! `Slot::set` (and every other pointer-storing API) calls `write` with the
//! mutator, so no store can bypass it. With the stop-the-world collector,
//! marking never overlaps mutator execution: the collector sees the heap
//! only while every mutator is stopped, so the barrier has nothing to
//! record and is a release store (the release publishes the initialised
//! target object to other threads that load the slot with acquire).
//!
//! The concurrent collector puts the buffered barrier here: when marking
//! is active, the fast path appends the overwritten pointer to the
//! mutator's buffer before the store (see DESIGN.md).

use crate::api::mutator::Mutator;
use std::sync::atomic::{AtomicPtr, Ordering::*};

/// Stores `new` into `slot`.
#[inline]
pub(crate) fn write(_mu: &Mutator, slot: &AtomicPtr<u8>, new: usize) {
    slot.store(new as *mut u8, Release);
}
