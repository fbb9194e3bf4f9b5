//! `GcVec` (issue 10, first collection): every operation against a shadow
//! `Vec` model while collections run back to back under `smallbuf` +
//! `checkmark` + `clobberfree`; elements are never freed while the vector
//! holds them, and are freed once removed.

mod common;

use common::{expect_panic, mix, DropLog, DropToken, Rng};
use shade::{GcVec, Slot, Trace};

#[derive(Trace)]
struct Item {
    id: u64,
    check: u64,
}

#[derive(Trace)]
struct Holder {
    name: Slot<shade::Array<u8>>,
    items: GcVec<Item>,
}

fn check_against(mu: &shade::Mutator, v: &GcVec<Item>, model: &[u64]) {
    assert_eq!(v.len(), model.len());
    for (i, &id) in model.iter().enumerate() {
        let x = v.get(mu, i).expect("element below the length");
        assert_eq!((x.id, x.check), (id, mix(id)), "element {i}");
    }
    assert!(v.get(mu, model.len()).is_none());
    assert_eq!(v.iter(mu).map(|x| x.id).collect::<Vec<_>>(), model);
}

#[test]
fn gcvec_matches_a_shadow_vec_through_concurrent_collections() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let holder = mu.local(mu.alloc(Holder { name: Slot::new(mu.alloc_str("list")), items: GcVec::new() }));
    let mut model: Vec<u64> = Vec::new();
    let mut rng = Rng::new(5);
    let mut next = 0u64;
    let start = heap.stats().cycles;
    // At least this many operations, and until 20 cycles ran meanwhile.
    let min_ops = common::iters(20_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut op = 0;
    while op < min_ops || (heap.stats().cycles < start + 20 && std::time::Instant::now() < deadline) {
        op += 1;
        let h = holder.get(&mu);
        let v = &h.items;
        let new_item = |next: &mut u64| {
            *next += 1;
            *next
        };
        match rng.below(10) {
            0..=3 => {
                let id = new_item(&mut next);
                v.push(&mu, mu.alloc(Item { id, check: mix(id) }));
                model.push(id);
            }
            4 => {
                assert_eq!(v.pop(&mu).map(|x| x.id), model.pop());
            }
            5 if !model.is_empty() => {
                let i = rng.below(model.len() + 1);
                let id = new_item(&mut next);
                v.insert(&mu, i, mu.alloc(Item { id, check: mix(id) }));
                model.insert(i, id);
            }
            6 if !model.is_empty() => {
                let i = rng.below(model.len());
                assert_eq!(v.remove(&mu, i).id, model.remove(i));
            }
            7 if !model.is_empty() => {
                let i = rng.below(model.len());
                let id = new_item(&mut next);
                v.set(&mu, i, mu.alloc(Item { id, check: mix(id) }));
                model[i] = id;
            }
            8 if rng.chance(1, 20) => {
                let n = rng.below(model.len() + 1);
                v.truncate(&mu, n);
                model.truncate(n);
            }
            _ => {}
        }
        if op % 256 == 0 {
            check_against(&mu, v, &model);
        }
        mu.safepoint();
    }
    forced.stop(Some(&mut mu));
    let h = holder.get(&mu);
    check_against(&mu, &h.items, &model);
    assert_eq!(h.name.get(&mu).unwrap().as_str(), "list");
    assert!(heap.stats().cycles > start + 5, "collections ran meanwhile ({op} operations)");
}

#[test]
fn removed_elements_are_freed_and_kept_ones_are_not() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let log = DropLog::new(64);
    let v = mu.local(mu.alloc(GcVec::<DropToken>::new()));
    for i in 0..64 {
        v.get(&mu).push(&mu, mu.alloc(DropToken::new(&log, i)));
    }
    assert!(v.get(&mu).capacity(&mu) >= 64);
    mu.collect();
    assert_eq!(log.total(), 0, "a vector keeps its elements alive");
    // Pop 10, remove 10 from the front, truncate to 20: 24 left behind.
    for _ in 0..10 {
        v.get(&mu).pop(&mu);
    }
    for _ in 0..10 {
        v.get(&mu).remove(&mu, 0);
    }
    v.get(&mu).truncate(&mu, 20);
    mu.collect();
    mu.collect();
    log.assert_range(0..10, 1, "removed from the front");
    log.assert_range(10..30, 0, "kept");
    log.assert_range(30..64, 1, "truncated or popped");
    v.get(&mu).clear(&mu);
    mu.collect();
    mu.collect();
    log.assert_range(0..64, 1, "all freed once cleared");
}

#[test]
fn a_gcvec_outside_the_heap_cannot_grow() {
    let heap = common::heap();
    let mu = heap.mutator();
    let v: GcVec<Item> = GcVec::new();
    assert!(v.is_empty() && v.get(&mu, 0).is_none());
    let msg = expect_panic("push onto a GcVec on the stack", || v.push(&mu, mu.alloc(Item { id: 1, check: mix(1) })));
    assert!(msg.contains("Slot::set on a slot"), "{msg}");
}
