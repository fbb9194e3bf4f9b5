//! The write barrier: every pointer store into the heap goes through here.
//!
//! `Slot::set` and the bulk array operations call into this module with the
//! mutator, so no store can bypass the barrier, and the mutator's context
//! (its buffer) comes with the call: no thread-local lookup.
//!
//! What is recorded (DESIGN.md §6), per mutator and by its phase
//! (gc/handshake.rs): while the mutator is `Armed` (its barrier on, its
//! roots not yet greyed), the value being overwritten, taken with a swap,
//! and the value being stored; once it is `Scanned`, the value being
//! overwritten (the deletion, or Yuasa, barrier), and the stored one too in
//! `BarrierRecord::OldAndNew` (Go's hybrid barrier, offered for comparison).
//!
//! Fast path (`write`): one relaxed load of the mutator's own `wb_mode` and
//! a branch. When it is `WB_RECORD`, load the old value, append the entries
//! to the mutator's buffer if it has room, then store. No lock, no atomic
//! read-modify-write, no call. Everything else — the `Armed` swap, flushing
//! a full buffer, the eager (unbuffered) mode, `wbcheck` validation — is
//! cold.

pub(crate) mod check;
pub(crate) mod wbbuf;

use crate::api::mutator::Mutator;
use crate::heap::value;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

/// How the barrier records pointers while marking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BarrierMode {
    /// Append to a per-mutator buffer; shade in batches when it fills (default).
    Buffered,
    /// Shade every recorded pointer immediately (the baseline that shows what
    /// the buffer buys).
    Eager,
}

/// Which pointers the barrier records while marking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BarrierRecord {
    /// The overwritten value only (snapshot-at-the-beginning; default).
    Old,
    /// The overwritten and the stored value (Go's hybrid barrier).
    OldAndNew,
}

impl BarrierRecord {
    /// Buffer entries one recorded store takes.
    pub(crate) const fn entries_per_store(self) -> usize {
        match self {
            BarrierRecord::Old => 1,
            BarrierRecord::OldAndNew => 2,
        }
    }
}

/// `MutatorState::wb_mode`: the barrier is off.
pub(crate) const WB_OFF: u8 = 0;
/// The barrier is on: load the old value, record, store.
pub(crate) const WB_RECORD: u8 = 1;
/// The barrier is on and the mutator is `Armed` (gc/handshake.rs): take the
/// old value with a swap, so that it is exactly the value overwritten.
pub(crate) const WB_EXACT: u8 = 2;

/// Stores `new` into `slot` (at address `slot_addr`) through the barrier.
#[inline(always)]
pub(crate) fn write(mu: &Mutator, slot_addr: usize, slot: &AtomicPtr<u8>, new: usize) {
    let mode = mu.state().wb_mode.load(Relaxed);
    if mode != WB_OFF {
        if mode == WB_EXACT {
            return write_exact(mu, slot_addr, slot, new);
        }
        // Relaxed is enough: a load may miss a racing store only if that
        // store's value is recorded, or kept, by other means (DESIGN.md §6,
        // "Memory ordering").
        let old = slot.load(Relaxed) as usize;
        record(mu, slot_addr, old, new);
    }
    slot.store(new as *mut u8, Release);
}

/// `write` for an `Armed` mutator: the swap reads the value the store
/// replaces in the slot's modification order, never an older one.
#[cold]
#[inline(never)]
fn write_exact(mu: &Mutator, slot_addr: usize, slot: &AtomicPtr<u8>, new: usize) {
    let old = slot.swap(new as *mut u8, Release) as usize;
    record(mu, slot_addr, old, new);
}

/// Stores the value word `new` into a value slot (`ValueSlot`) through the
/// barrier. Only pointers are recorded: an immediate is not an object, and
/// a double's bits may look like an address (heap/value.rs), so each side
/// is filtered to its pointer or 0, which the flush skips as it skips null.
#[inline(always)]
pub(crate) fn write_value(mu: &Mutator, slot_addr: usize, slot: &AtomicU64, new: u64) {
    let mode = mu.state().wb_mode.load(Relaxed);
    if mode != WB_OFF {
        if mode == WB_EXACT {
            return write_value_exact(mu, slot_addr, slot, new);
        }
        // Relaxed: as in `write`.
        let old = slot.load(Relaxed);
        record(mu, slot_addr, value::pointer_of(old), value::pointer_of(new));
    }
    slot.store(new, Release);
}

/// `write_value` for an `Armed` mutator (see `write_exact`).
#[cold]
#[inline(never)]
fn write_value_exact(mu: &Mutator, slot_addr: usize, slot: &AtomicU64, new: u64) {
    let old = slot.swap(new, Release);
    record(mu, slot_addr, value::pointer_of(old), value::pointer_of(new));
}

/// Whether bulk stores must go slot by slot through `write`: the mutator is
/// `Armed`, and a bulk pass's loads could miss racing stores (`WB_EXACT`).
#[inline]
pub(crate) fn bulk_must_swap(mu: &Mutator) -> bool {
    mu.state().wb_mode.load(Relaxed) == WB_EXACT
}

/// Records one store's old and new pointers (each 0 or a payload address)
/// in the mutator's buffer, or takes the slow path.
#[inline(always)]
fn record(mu: &Mutator, slot_addr: usize, old: usize, new: usize) {
    // SAFETY: a running mutator has exclusive use of its buffer.
    let wb = unsafe { &mut *mu.state().wb.get() };
    let n = wb.next;
    if n + 2 <= wb.end {
        // SAFETY: n + 1 < end <= WBBUF_LEN - 2 (WbBuf invariant).
        unsafe {
            *wb.buf.get_unchecked_mut(n) = old;
            *wb.buf.get_unchecked_mut(n + 1) = new;
        }
        wb.next = n + wb.per_store;
    } else {
        slow(mu, slot_addr, old, new);
    }
}

/// The barrier's slow path: validation, eager shading, or a full buffer.
#[cold]
#[inline(never)]
fn slow(mu: &Mutator, slot_addr: usize, old: usize, new: usize) {
    let rt = mu.runtime();
    if rt.settings.wbcheck {
        check::validate_store(rt, slot_addr, new);
    }
    let st = mu.state();
    if !st.marking.load(Relaxed) {
        return;
    }
    // SAFETY: a running mutator has exclusive use of its counters.
    unsafe { (*st.wb_stats.get()).stores += 1 };
    match rt.settings.barrier {
        BarrierMode::Eager => {
            let mut e = [old, new];
            // SAFETY: a running mutator has exclusive use of its buffer.
            let n = unsafe { (*st.wb.get()).per_store };
            // SAFETY: a running mutator has exclusive use of its buffers.
            unsafe { wbbuf::flush_recorded(rt, st, &mut e[..n]) };
        }
        BarrierMode::Buffered => {
            // SAFETY: a running mutator has exclusive use of its buffer.
            let wb = unsafe { &mut *st.wb.get() };
            let n = wb.next;
            // Room: n <= end - 1 <= WBBUF_LEN - 3 (WbBuf invariant).
            wb.buf[n] = old;
            wb.buf[n + 1] = new;
            wb.next = n + wb.per_store;
            // SAFETY: as above; `wb` is not used after this call.
            unsafe { wbbuf::flush(rt, st) };
        }
    }
}

/// Shades `p` (a non-null payload address) if marking is on: records it in
/// the mutator's buffer as if a store had overwritten it, so the flush marks
/// it this cycle. For pointers the mutator obtains without loading a slot
/// the marker can see (a weak reference's target: gc/weak.rs).
#[inline]
pub(crate) fn shade(mu: &Mutator, p: usize) {
    let rt = mu.runtime();
    let st = mu.state();
    if !st.marking.load(Relaxed) {
        return;
    }
    // SAFETY: a running mutator has exclusive use of its buffers.
    let wb = unsafe { &mut *st.wb.get() };
    let n = wb.next;
    if rt.settings.barrier == BarrierMode::Buffered && n + 2 <= wb.end {
        wb.buf[n] = p;
        wb.buf[n + 1] = 0;
        wb.next = n + wb.per_store;
    } else {
        let mut e = [p];
        // SAFETY: as above.
        unsafe { wbbuf::flush_recorded(rt, st, &mut e) };
    }
}

/// Shades `p` (a non-null payload address of a weak reference's target)
/// for a weak read, and says whether the reader may have it: false if
/// the cycle's marking has closed without marking it (it is dead, and its
/// reference is about to be cleared). While marking is open an unmarked
/// target is marked at once, not buffered, since the answer must be known
/// now (gc/termination.rs).
#[inline]
pub(crate) fn shade_weak(mu: &Mutator, p: usize) -> bool {
    let rt = mu.runtime();
    let st = mu.state();
    if !st.marking.load(Relaxed) {
        return true;
    }
    match rt.mheap.span_of(p) {
        Some(s) if !s.mark.get(s.index_of(p)) => {
            let mut e = [p];
            // SAFETY: a running mutator has exclusive use of its buffers.
            unsafe { wbbuf::flush_entries(rt, st, &mut e) == 0 }
        }
        _ => true,
    }
}

/// Bulk barrier: records, in one pass, the values of `dest` that are about
/// to be overwritten (and, in `OldAndNew` mode, the values about to be
/// stored, read from `src`), before the caller copies or clears the range;
/// with no `src`, every slot receives `fill`.
pub(crate) fn record_range(mu: &Mutator, dest: &[AtomicPtr<u8>], src: Option<&[AtomicPtr<u8>]>, fill: usize) {
    let rt = mu.runtime();
    let st = mu.state();
    if st.wb_mode.load(Relaxed) == WB_OFF {
        return;
    }
    let value_at = |i: usize| src.map_or(fill, |s| s[i].load(Relaxed) as usize);
    if rt.settings.wbcheck {
        for (i, d) in dest.iter().enumerate() {
            check::validate_store(rt, d as *const _ as usize, value_at(i));
        }
    }
    if !st.marking.load(Relaxed) {
        return;
    }
    // SAFETY: a running mutator has exclusive use of its buffer and stats.
    let wb = unsafe { &mut *st.wb.get() };
    unsafe { (*st.wb_stats.get()).stores += dest.len() as u64 };
    let cap = if rt.settings.barrier == BarrierMode::Eager { 1 } else { wb.end.max(2) };
    for (i, d) in dest.iter().enumerate() {
        if wb.next + 2 > cap {
            // SAFETY: as above.
            unsafe { wbbuf::flush(rt, st) };
        }
        let n = wb.next;
        wb.buf[n] = d.load(Relaxed) as usize;
        wb.buf[n + 1] = value_at(i);
        wb.next = n + wb.per_store;
    }
    if rt.settings.barrier == BarrierMode::Eager {
        // SAFETY: as above.
        unsafe { wbbuf::flush(rt, st) };
    }
}
