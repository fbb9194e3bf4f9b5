//! `SHADE_DEBUG=wbcheck=1`: validate every pointer store (Go's cgocheck=2
//! spirit). With it on, every barrier takes the slow path, which checks that
//! the slot lies inside a live object of this heap and
//! that the stored value is null or the payload address of a live object of
//! this heap. A violation panics naming both addresses. The safe API cannot
//! produce one; this mode is for VM authors building unsafe code on Shade.
//!
//! "Live" here means: in an in-use span, in an allocated slot. The check reads span state that another mutator may be
//! updating (`free_index` is atomic for this reason). Slots only go from
//! free to allocated while mutators run (freeing is done by sweeping, and
//! only to objects no mutator can reach), so a racing read can only see a
//! slot as free if the store names an object whose allocation has not yet
//! returned: something only broken unsafe code can do, and a fair report.

use crate::runtime::Runtime;

/// Why an address is not a live object of the heap, or `None` if it is.
/// Returns the object's base on success.
fn locate(rt: &Runtime, p: usize) -> Result<usize, &'static str> {
    let Some(span) = rt.mheap.span_of(p) else {
        return Err("not inside an in-use span of this heap");
    };
    let idx = span.index_of(p);
    if idx >= span.nelems.get() {
        return Err("in a span's unused tail");
    }
    if !span.is_allocated(idx) {
        return Err("inside a free (unallocated) slot");
    }
    Ok(span.base_of(idx))
}

/// Validates a store of `new` into the slot at `slot`.
pub(crate) fn validate_store(rt: &Runtime, slot: usize, new: usize) {
    if let Err(why) = locate(rt, slot) {
        violation(slot, new, &format!("slot is {why}"));
    }
    if new != 0 {
        match locate(rt, new) {
            Ok(base) if new == base => {}
            Ok(_) => violation(slot, new, "value is an interior pointer, not an object's address"),
            Err(why) => violation(slot, new, &format!("value is {why}")),
        }
    }
}

#[cold]
#[inline(never)]
fn violation(slot: usize, new: usize, why: &str) -> ! {
    panic!("shade wbcheck: bad pointer store of {new:#x} into slot {slot:#x}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Heap, Slot, Trace};

    #[derive(Trace)]
    struct Obj {
        next: Slot<Obj>,
    }

    fn heap() -> Heap {
        Heap::new(Config { read_env: false, wbcheck: true, clobber_free: true, ..Config::default() }).unwrap()
    }

    fn panic_message(f: impl FnOnce()) -> String {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a wbcheck panic");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn valid_stores_pass_and_every_store_is_checked() {
        let heap = heap();
        let mu = heap.mutator();
        let a = mu.alloc(Obj { next: Slot::null() });
        let b = mu.alloc(Obj { next: Slot::null() });
        a.next.set(&mu, b);
        a.next.set(&mu, None);
        validate_store(mu.runtime(), &a.next as *const _ as usize, b.addr());
    }

    #[test]
    fn violations_name_both_addresses() {
        let heap = heap();
        let mu = heap.mutator();
        let rt = mu.runtime();
        let a = mu.alloc(Obj { next: Slot::null() });
        let b = mu.alloc(Obj { next: Slot::null() });
        let slot = &a.next as *const _ as usize;
        let on_stack = 0u64;
        let stack = &on_stack as *const u64 as usize;
        let m = panic_message(|| validate_store(rt, stack, b.addr()));
        assert!(m.contains(&format!("{:#x}", stack)) && m.contains(&format!("{:#x}", b.addr())), "{m}");
        assert!(m.contains("not inside an in-use span"), "{m}");
        let arr = mu.alloc_array(4, |i| i as u64);
        let m = panic_message(|| validate_store(rt, slot, arr.addr() + 16));
        assert!(m.contains("interior pointer"), "{m}");
        let m = panic_message(|| validate_store(rt, slot, b.addr() + 16));
        assert!(m.contains("free (unallocated) slot"), "{m}");
        let m = panic_message(|| validate_store(rt, slot, stack));
        assert!(m.contains("value is not inside an in-use span"), "{m}");
    }

    #[test]
    fn a_freed_object_is_reported() {
        let heap = heap();
        let mut mu = heap.mutator();
        let keep = mu.local(mu.alloc(Obj { next: Slot::null() }));
        let dead = mu.alloc(Obj { next: Slot::null() }).addr();
        mu.collect(); // `dead` was unreachable: freed and poisoned
        let slot = &keep.get(&mu).next as *const _ as usize;
        let m = panic_message(|| validate_store(mu.runtime(), slot, dead));
        assert!(m.contains("free (unallocated) slot"), "{m}");
    }
}
