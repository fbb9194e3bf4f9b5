//! The write barrier buffer and its flush (Go's wbBuf / wbBufFlush).
//!
//! Each mutator owns a `WbBuf`: a fixed array of pointer entries with a
//! `next` position and an `end` limit. While marking is active, the
//! barrier's fast path (barrier/mod.rs) writes the overwritten pointer (and,
//! in `OldAndNew` mode, the stored one) at `next` and advances it; that is
//! all: no lock, no atomic read-modify-write, no span lookup. When the
//! buffer cannot take another store, the slow path flushes it:
//!
//! 1. drop nil entries, and entries that do not point into the heap;
//! 2. find the object's span through the page table (O(1), lock-free);
//! 3. test-and-set the object's mark bit — already marked objects are done;
//! 4. objects in noscan spans have nothing to scan: marking them is enough;
//! 5. the remaining, newly grey objects are compacted in place at the front
//!    of the buffer (in span mode, a small object is greyed in its span's
//!    bitmap instead, and only a span this flush claimed takes an entry:
//!    gc/mark.rs) and pushed to the mutator's own mark work buffers in one
//!    `put_batch`; if that filled a work buffer, it was published on the
//!    global list and an idle mark worker is woken;
//! 6. the buffer is reset.
//!
//! A buffer is flushed when full, at mark termination (by the collector, for
//! every mutator, running or parked: they are all stopped then), and when a
//! mutator detaches. Entries are payload addresses; the flush turns them
//! into object bases for the marker.
//!
//! Buffer sizes are a setting: the default holds 512 entries; `smallbuf`
//! holds two, so nearly every barrier flushes (stressing the flush path);
//! `wbcheck` and the `eager` barrier use a size of zero, which sends every
//! barrier to the slow path.

use crate::runtime::{MutatorState, Runtime};
use std::sync::atomic::Ordering::Relaxed;

/// Capacity of a write barrier buffer, in entries.
pub(crate) const WBBUF_LEN: usize = 512;

pub(crate) struct WbBuf {
    /// Next free entry.
    pub(crate) next: usize,
    /// The fast path stores only while `next + 2 <= end`. Invariant:
    /// `end <= WBBUF_LEN - 2`, so the slow path can always append one more
    /// store's entries before flushing.
    pub(crate) end: usize,
    /// Entries one store takes: 1 (old value only) or 2 (old and new).
    pub(crate) per_store: usize,
    pub(crate) buf: [usize; WBBUF_LEN],
}

impl WbBuf {
    pub(crate) fn new(end: usize, per_store: usize) -> WbBuf {
        assert!(end <= WBBUF_LEN - 2 && (per_store == 1 || per_store == 2));
        WbBuf { next: 0, end, per_store, buf: [0; WBBUF_LEN] }
    }
}

/// What flushes found, per mutator; summed into the heap statistics.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierStats {
    /// Barrier calls that recorded entries (stores while marking).
    pub stores: u64,
    /// Flushes (buffer full, termination, detach; every store when eager).
    pub flushes: u64,
    /// Entries processed by flushes.
    pub entries: u64,
    /// Entries that were null.
    pub nil: u64,
    /// Entries that did not point into the heap.
    pub non_heap: u64,
    /// Entries whose object was already marked.
    pub already_marked: u64,
    /// Entries whose object was newly marked but holds no pointers.
    pub noscan: u64,
    /// Entries whose object was newly marked and queued for scanning.
    pub greyed: u64,
}

impl std::ops::AddAssign for BarrierStats {
    fn add_assign(&mut self, o: BarrierStats) {
        self.stores += o.stores;
        self.flushes += o.flushes;
        self.entries += o.entries;
        self.nil += o.nil;
        self.non_heap += o.non_heap;
        self.already_marked += o.already_marked;
        self.noscan += o.noscan;
        self.greyed += o.greyed;
    }
}

/// Flushes `st`'s buffer.
///
/// # Safety
/// The caller is `st`'s running owner, or the collector while the owner is
/// stopped (gc/stw.rs): either way it has exclusive use of the buffer, work
/// buffers and counters of `st`.
pub(crate) unsafe fn flush(rt: &Runtime, st: &MutatorState) {
    // SAFETY: exclusive use, per the contract.
    let wb = unsafe { &mut *st.wb.get() };
    let n = std::mem::replace(&mut wb.next, 0);
    if n > 0 {
        // SAFETY: as above.
        unsafe { flush_recorded(rt, st, &mut wb.buf[..n]) };
    }
}

/// `flush_entries` for what a barrier recorded: values it found in a slot
/// of a reachable object, or a root's target. After marking closed they
/// are all marked or new (DESIGN.md §6); one that is not means the
/// termination argument is broken, which debug builds and `checkmark`
/// report.
///
/// # Safety
/// As for `flush`.
pub(crate) unsafe fn flush_recorded(rt: &Runtime, st: &MutatorState, entries: &mut [usize]) {
    // SAFETY: per the contract.
    let dead = unsafe { flush_entries(rt, st, entries) };
    if dead > 0 && (cfg!(debug_assertions) || rt.settings.checkmark) {
        panic!("shade: a barrier flush after mark termination found {dead} unmarked object(s) of the cycle");
    }
}

/// Shades the objects `entries` point to (see the module comment); the
/// slice is used as scratch space for the compaction. Returns how many
/// entries named an unmarked object of the cycle after marking closed
/// (they were not marked: for a weak upgrade, the target is dead).
///
/// # Safety
/// As for `flush`.
pub(crate) unsafe fn flush_entries(rt: &Runtime, st: &MutatorState, entries: &mut [usize]) -> usize {
    // SAFETY: exclusive use, per the contract.
    let (stats, gcw, marked) = unsafe { (&mut *st.wb_stats.get(), &mut *st.gcw.get(), &mut *st.marked.get()) };
    let heap = &rt.mheap;
    let span_mode = rt.queues.span_mode();
    let mut grey = 0;
    let mut dead = 0;
    // Whether marking is still open, learned from this flush's one bump of
    // the termination word, made before its first new mark.
    let mut open = None;
    let bytes_before = marked.bytes_marked;
    stats.flushes += 1;
    stats.entries += entries.len() as u64;
    for i in 0..entries.len() {
        let p = entries[i];
        if p == 0 {
            stats.nil += 1;
            continue;
        }
        let Some(span) = heap.span_of(p) else {
            stats.non_heap += 1;
            continue;
        };
        let idx = span.index_of(p);
        // Every entry is a slot's old or new value, so by the heap invariant
        // (DESIGN.md §4: stores only into slots inside heap objects) it names
        // an allocated object. Marking a free slot would resurrect freed
        // memory as an object. (x86's ordering makes the allocator's
        // `free_index` store visible before the pointer that was published
        // after it; on weaker machines this debug check could be stale.)
        debug_assert!(span.is_allocated(idx), "shade: barrier entry {p:#x} is not an allocated object");
        if span.mark.get(idx) {
            stats.already_marked += 1;
            continue;
        }
        if !*open.get_or_insert_with(|| rt.term.bump()) {
            // Marking has closed: nothing is greyed any more. An object of
            // a span made since is alive without a mark.
            if span.sweep_gen.load(Relaxed) == rt.marking_gen.load(Relaxed) {
                dead += 1;
            }
            continue;
        }
        if span.mark.test_and_set(idx) {
            stats.already_marked += 1;
            continue;
        }
        marked.objects_marked += 1;
        marked.bytes_marked += span.elem_size.get();
        if span.noscan() {
            stats.noscan += 1;
            continue;
        }
        // Compact in place: `grey <= i`, so this never overwrites an entry
        // not yet examined. In span mode a span already queued needs no
        // entry (gc/mark.rs).
        stats.greyed += 1;
        if let Some(entry) = span.grey_entry(idx, span_mode) {
            entries[grey] = entry;
            grey += 1;
        }
    }
    if marked.bytes_marked > bytes_before {
        rt.queues.marked.fetch_add(marked.bytes_marked - bytes_before, std::sync::atomic::Ordering::Relaxed);
    }
    if grey > 0 && gcw.put_batch(&rt.queues, &entries[..grey]) {
        rt.wake_mark_workers();
    }
    dead
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BarrierRecord, Config, Heap, MarkMode, Mutator, Slot, Trace};
    use std::sync::atomic::Ordering::Relaxed;

    #[derive(Trace)]
    struct Obj {
        next: Slot<Obj>,
    }

    fn heap(record: BarrierRecord) -> Heap {
        Heap::new(Config { read_env: false, barrier_record: record, ..Config::default() }).unwrap()
    }

    #[test]
    fn flush_filters_nil_nonheap_marked_noscan_and_greys_the_rest() {
        for mode in [MarkMode::Object, MarkMode::Span] {
            let heap = Heap::new(Config { read_env: false, mark: mode, ..Config::default() }).unwrap();
            let mu = heap.mutator();
            let rt = mu.runtime();
            let fresh = mu.alloc(Obj { next: Slot::null() });
            let premarked = mu.alloc(Obj { next: Slot::null() });
            let plain = mu.alloc(5u64);
            let sp = rt.mheap.span_of(premarked.addr()).unwrap();
            sp.mark.test_and_set(sp.index_of(premarked.addr()));
            let on_stack = 0u64;
            let mut entries =
                [0, &on_stack as *const u64 as usize, premarked.addr(), plain.addr(), fresh.addr(), fresh.addr()];
            // SAFETY: the test thread is the running owner of `mu`.
            assert_eq!(unsafe { flush_entries(rt, mu.state(), &mut entries) }, 0);
            // SAFETY: as above.
            let stats = unsafe { *mu.state().wb_stats.get() };
            assert_eq!(
                stats,
                BarrierStats {
                    stores: 0,
                    flushes: 1,
                    entries: 6,
                    nil: 1,
                    non_heap: 1,
                    already_marked: 2,
                    noscan: 1,
                    greyed: 1
                }
            );
            let span = rt.mheap.span_of(fresh.addr()).unwrap();
            let idx = span.index_of(fresh.addr());
            match mode {
                // The newly grey object was compacted to the front, as its base.
                MarkMode::Object => assert_eq!(entries[0], fresh.addr()),
                // Its span was greyed and claimed: the entry names the span.
                MarkMode::Span => {
                    assert_eq!(entries[0], span as *const _ as usize | crate::heap::span::SPAN_TAG);
                    assert!(span.grey.get(idx) && span.queued.load(Relaxed));
                }
            }
            let noscan_span = rt.mheap.span_of(plain.addr()).unwrap();
            assert!(noscan_span.mark.get(noscan_span.index_of(plain.addr())), "noscan objects are marked");
            // SAFETY: as above.
            let gcw = unsafe { &mut *mu.state().gcw.get() };
            assert_eq!(gcw.try_get(&rt.queues), Some(entries[0]), "the grey entry went to the mutator's work");
            assert_eq!(gcw.try_get(&rt.queues), None, "and nothing else");
            // Leave no grey span behind for the sweeper's checks.
            span.grey.take_word(idx / 64);
            span.queued.store(false, Relaxed);
        }
    }

    /// Turns this mutator's barrier on by hand (no collector thread runs in
    /// these tests).
    fn with_marking(mu: &Mutator, f: impl FnOnce()) {
        let st = mu.state();
        st.marking.store(true, Relaxed);
        st.wb_mode.store(crate::barrier::WB_RECORD, Relaxed);
        f();
        st.marking.store(false, Relaxed);
        st.wb_mode.store(crate::barrier::WB_OFF, Relaxed);
    }

    /// After marking closed (gc/termination.rs) a flush marks nothing: a
    /// weak read's unmarked target of the cycle is reported dead, one in a
    /// span made since is alive, a marked one is alive; before the close
    /// the same read marks its target.
    #[test]
    fn after_the_close_a_weak_read_marks_nothing_and_reports_unmarked_targets_dead() {
        let heap = heap(BarrierRecord::Old);
        let mu = heap.mutator();
        let rt = mu.runtime();
        let old = mu.alloc(Obj { next: Slot::null() });
        let kept = mu.alloc(Obj { next: Slot::null() });
        let marked = |g: crate::Gc<'_, Obj>| {
            let s = rt.mheap.span_of(g.addr()).unwrap();
            s.mark.get(s.index_of(g.addr()))
        };
        with_marking(&mu, || {
            rt.marking_gen.store(rt.mheap.sweep_gen.load(Relaxed), Relaxed);
            assert!(crate::barrier::shade_weak(&mu, kept.addr()), "marking open: the target is shaded");
            assert!(marked(kept));
            let seen = rt.term.read();
            assert!(rt.term.close(seen));
            assert!(!crate::barrier::shade_weak(&mu, old.addr()), "closed: an unmarked target of the cycle is dead");
            assert!(!marked(old), "and a flush after the close marks nothing");
            assert!(crate::barrier::shade_weak(&mu, kept.addr()), "a marked target stays alive");
            // A span made after the close carries a newer generation.
            rt.mheap.sweep_gen.fetch_add(1, Relaxed);
            let young = mu.alloc(5u32);
            assert_ne!(rt.mheap.span_of(young.addr()).unwrap().sweep_gen.load(Relaxed), rt.marking_gen.load(Relaxed));
            let p = young.addr();
            assert!(crate::barrier::shade_weak(&mu, p), "an object allocated since the close is alive unmarked");
        });
        // Undo the hand-made close so the heap's own cycles run normally.
        rt.term.open();
        // SAFETY: the test's own mutator, running: exclusive use.
        unsafe { (*mu.state().gcw.get()).dispose(&rt.queues) };
    }

    #[test]
    fn fast_path_records_old_value_only_or_both() {
        for (record, per_store) in [(BarrierRecord::Old, 1), (BarrierRecord::OldAndNew, 2)] {
            let heap = heap(record);
            let mu = heap.mutator();
            let a = mu.alloc(Obj { next: Slot::null() });
            let b = mu.alloc(Obj { next: Slot::null() });
            let holder = mu.alloc(Obj { next: Slot::new(a) });
            holder.next.set(&mu, b); // marking off: nothing recorded
                                     // SAFETY: the test thread owns the buffer; reads between stores.
            assert_eq!(unsafe { (*mu.state().wb.get()).next }, 0);
            with_marking(&mu, || {
                holder.next.set(&mu, a);
                let wb = unsafe { &*mu.state().wb.get() };
                assert_eq!(wb.next, per_store);
                assert_eq!(wb.buf[0], b.addr(), "the overwritten value is recorded");
                if per_store == 2 {
                    assert_eq!(wb.buf[1], a.addr(), "hybrid mode records the new value too");
                }
            });
            assert!(holder.next.points_to(a));
        }
    }

    #[test]
    fn bulk_fill_records_every_overwritten_slot() {
        let heap = heap(BarrierRecord::Old);
        let mu = heap.mutator();
        let target = mu.alloc(Obj { next: Slot::null() });
        let arr = mu.alloc_array(300, |i| if i % 3 == 0 { Slot::new(target) } else { Slot::null() });
        with_marking(&mu, || {
            arr.fill(&mu, None);
            // SAFETY: the test thread is the running owner of `mu`.
            let stats = unsafe { *mu.state().wb_stats.get() };
            let wb = unsafe { &*mu.state().wb.get() };
            assert_eq!(stats.stores, 300);
            // 300 entries: some may have been flushed already; together they
            // cover every overwritten slot.
            assert_eq!(stats.entries as usize + wb.next, 300);
        });
        assert!(arr.iter().all(|s| s.is_null()));
    }

    #[test]
    fn sizes_respect_the_invariant() {
        let b = WbBuf::new(WBBUF_LEN - 2, 2);
        assert_eq!(b.buf.len(), WBBUF_LEN);
        assert!(std::panic::catch_unwind(|| WbBuf::new(WBBUF_LEN, 1)).is_err());
    }
}
