//! Weak references and cleanups (issue 10, first step): cleared once the
//! target is unreachable and never before, sound while marking runs
//! concurrently (an upgrade shades its target; `checkmark` verifies every
//! termination), cleanups exactly once.

mod common;

use common::{expect_panic, mix, DropLog, DropToken, Rng};
use shade::{Slot, Trace, Weak, WeakRoot};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

#[derive(Trace)]
struct Node {
    id: u64,
    check: u64,
    parent: Weak<Node>,
    next: Slot<Node>,
}

fn node(mu: &shade::Mutator, id: u64) -> shade::Gc<'_, Node> {
    mu.alloc(Node { id, check: mix(id), parent: Weak::null(), next: Slot::null() })
}

#[test]
fn a_weak_field_is_cleared_only_once_its_target_is_unreachable() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let parent = mu.local(node(&mu, 1));
    let child =
        mu.local(mu.alloc(Node { id: 2, check: mix(2), parent: Weak::new(&mu, parent.get(&mu)), next: Slot::null() }));
    for _ in 0..3 {
        mu.collect();
        let p = child.get(&mu).parent.upgrade(&mu).expect("target reachable: not cleared");
        assert_eq!((p.id, p.check), (1, mix(1)));
    }
    // Re-point the field at another object, then let the first one die.
    let other = mu.local(node(&mu, 3));
    child.get(&mu).parent.set(&mu, other.get(&mu));
    drop(parent);
    mu.collect();
    assert_eq!(child.get(&mu).parent.upgrade(&mu).unwrap().id, 3);
    drop(other);
    mu.collect();
    assert!(child.get(&mu).parent.upgrade(&mu).is_none(), "cleared after the target died");
    // The cell of the first target was replaced by `set` (and died with
    // it); the second was cleared.
    assert!(heap.stats().weak_cleared_total >= 1, "{}", heap.stats().weak_cleared_total);
    child.get(&mu).parent.set(&mu, None);
    assert!(child.get(&mu).parent.upgrade(&mu).is_none());
}

#[test]
fn a_weak_root_works_across_threads_and_survives_its_mutator() {
    let heap = common::heap();
    let (strong, weak) = {
        let mu = heap.mutator();
        let n = node(&mu, 7);
        (mu.root(n), WeakRoot::new(&mu, n))
    }; // the mutator detaches: its weak cells move to the heap's lists
    let h = heap.clone();
    let w = weak.clone();
    std::thread::spawn(move || {
        let mut mu = h.mutator();
        mu.collect();
        assert_eq!(w.upgrade(&mu).unwrap().check, mix(7));
    })
    .join()
    .unwrap();
    drop(strong);
    heap.collect();
    let mu = heap.mutator();
    assert!(weak.upgrade(&mu).is_none());
}

#[test]
fn a_weak_reference_outside_the_heap_cannot_be_read() {
    let heap = common::heap();
    let mu = heap.mutator();
    let w = Weak::new(&mu, node(&mu, 1));
    let msg = expect_panic("upgrade of a Weak on the stack", || {
        w.upgrade(&mu);
    });
    assert!(msg.contains("not inside an object"), "{msg}");
}

/// Objects reachable only through weak handles are upgraded and stored
/// back into strong slots while collections run back to back: without the
/// upgrade's shading, an object upgraded during marking and stored into an
/// already-scanned object would stay unmarked and be freed while reachable
/// (`checkmark` aborts the run if that happens; `clobberfree` poisons freed
/// memory, which the checksums would catch).
#[test]
fn upgrading_during_marking_keeps_the_target_alive() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    const N: usize = 512;
    let strong = mu.local(mu.alloc_array(N, |_| Slot::<Node>::null()));
    let mut weak: Vec<WeakRoot<Node>> = Vec::new();
    for i in 0..N {
        let n = node(&mu, i as u64);
        strong.get(&mu)[i].set(&mu, n);
        weak.push(WeakRoot::new(&mu, n));
    }
    let mut rng = Rng::new(11);
    let mut upgraded = 0usize;
    let cycles = heap.stats().cycles;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut round = 0;
    while round < common::iters(300)
        || (heap.stats().cycles < cycles + common::iters(30) as u64 && std::time::Instant::now() < deadline)
    {
        round += 1;
        let s = strong.get(&mu);
        // Drop some strong references: those objects are weakly reachable.
        for _ in 0..8 {
            s[rng.below(N)].set(&mu, None);
        }
        // Upgrade others and make them strongly reachable again.
        for _ in 0..8 {
            let i = rng.below(N);
            if let Some(n) = weak[i].upgrade(&mu) {
                assert_eq!((n.id, n.check), (i as u64, mix(i as u64)), "a live object read through a weak ref");
                s[i].set(&mu, n);
                upgraded += 1;
            }
        }
        // Every strong slot still holds a valid object.
        if round % 64 == 0 {
            for (i, slot) in s.iter().enumerate() {
                if let Some(n) = slot.get(&mu) {
                    assert_eq!((n.id, n.check), (i as u64, mix(i as u64)));
                    assert!(weak[i].upgrade(&mu).is_some(), "weak ref {i} cleared while strongly reachable");
                }
            }
        }
        mu.safepoint();
    }
    forced.stop(Some(&mut mu));
    assert!(heap.stats().cycles > cycles + 10, "collections ran during the rounds ({round} rounds)");
    assert!(upgraded > 100, "{upgraded}");
    // Once nothing strong is left, every weak reference is cleared within
    // two cycles.
    strong.get(&mu).fill(&mu, None);
    mu.collect();
    mu.collect();
    assert!(weak.iter().all(|w| w.upgrade(&mu).is_none()), "all cleared within two cycles");
}

#[test]
fn cleanups_run_exactly_once_after_their_object_died() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let log = DropLog::new(16);
    let ran = Arc::new(AtomicUsize::new(0));
    let mut kept = Vec::new();
    for i in 0..16 {
        let obj = mu.alloc(DropToken::new(&log, i));
        let r = ran.clone();
        let c = mu.add_cleanup(obj, move || {
            r.fetch_add(1 << (2 * i), SeqCst);
        });
        if i % 2 == 0 {
            kept.push(mu.local(obj)); // even objects stay alive
        } else if i == 15 {
            c.stop(); // cancelled
        }
    }
    mu.collect();
    mu.collect();
    mu.collect();
    let bits = ran.load(SeqCst);
    for i in 0..16usize {
        let count = (bits >> (2 * i)) & 3;
        let expect = if i % 2 == 0 || i == 15 { 0 } else { 1 };
        assert_eq!(count, expect, "cleanup {i} ran {count} times");
        if i % 2 == 1 {
            assert_eq!(log.count(i), 1, "object {i} was freed");
        }
    }
    assert_eq!(heap.stats().cleanups_run_total, 7, "odd objects but the cancelled one");
    drop(kept);
    mu.collect();
    assert_eq!(ran.load(SeqCst).count_ones(), 7 + 8, "the kept objects' cleanups ran once they died");
}

#[test]
fn a_panicking_cleanup_surfaces_at_the_next_collect_and_the_heap_goes_on() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let obj = mu.alloc(1u64);
    mu.add_cleanup(obj, || panic!("cleanup failed on purpose"));
    let msg = expect_panic("collect after a panicking cleanup", || mu.collect());
    assert!(msg.contains("cleanup failed on purpose"), "{msg}");
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let obj = mu.alloc(2u64);
    mu.add_cleanup(obj, move || {
        r.fetch_add(1, SeqCst);
    });
    mu.collect();
    mu.collect();
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn a_cleanup_may_use_the_heap_but_not_wait_for_a_collection() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let seen = Arc::new(AtomicUsize::new(0));
    let (h, s) = (heap.clone(), seen.clone());
    let obj = mu.alloc(3u64);
    mu.add_cleanup(obj, move || {
        let mu = h.mutator();
        s.store(*mu.alloc(41u64) as usize + 1, SeqCst);
        drop(mu);
        h.collect(); // not allowed: panics, surfaced at the next collect
    });
    let msg = expect_panic("collect after the cleanup", || mu.collect());
    assert!(msg.contains("collect() called from a destructor"), "{msg}");
    assert_eq!(seen.load(SeqCst), 42);
}
