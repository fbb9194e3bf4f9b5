//! Objects that are not `Sync` (`Cell` fields) form graphs through
//! `alloc_local`, and survive concurrent marking (the marker only reads
//! their slots); `PlainCell` fields keep objects shareable.

mod common;

use common::mix;
use shade::{Gc, Mutator, PlainCell, Slot, Trace};
use std::cell::Cell;

#[derive(Trace)]
struct Node {
    id: u64,
    check: Cell<u64>,
    next: Slot<Node>,
    other: Slot<Node>,
}

fn node<'m>(mu: &'m Mutator, id: u64, next: Option<Gc<'m, Node>>) -> Gc<'m, Node> {
    mu.alloc_local(Node { id, check: Cell::new(mix(id)), next: Slot::from_option(next), other: Slot::null() })
}

#[test]
fn cell_objects_form_graphs_that_survive_concurrent_marking() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let start = heap.stats().cycles;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut head = mu.local(node(&mu, 0, None));
    let mut id = 1u64;
    let mut rounds = 0u64;
    while rounds < 2_000 || (heap.stats().cycles < start + 10 && std::time::Instant::now() < deadline) {
        rounds += 1;
        {
            let h = head.get(&mu);
            // Grow the list, cross-link, and mutate Cells in place.
            let mut n = h;
            for _ in 0..20 {
                n = node(&mu, id, Some(n));
                id += 1;
            }
            n.other.set(&mu, h);
            let c = h.check.replace(0); // Cell writes on a reachable object
            h.check.set(c);
            // Keep the list bounded: cut it after 2000 nodes.
            let mut k = n;
            for _ in 0..2000 {
                match k.next.get(&mu) {
                    Some(x) => k = x,
                    None => break,
                }
            }
            k.next.set(&mu, None);
            head = mu.local(n);
        }
        mu.safepoint();
    }
    // Walk and verify everything reachable.
    let mut n = Some(head.get(&mu));
    let mut count = 0;
    while let Some(x) = n {
        assert_eq!(x.check.get(), mix(x.id), "node {} corrupted", x.id);
        if let Some(o) = x.other.get(&mu) {
            assert_eq!(o.check.get(), mix(o.id));
        }
        count += 1;
        n = x.next.get(&mu);
    }
    assert!(count > 1000, "{count}");
    assert!(heap.stats().cycles >= start + 10, "collections ran");
    forced.stop(Some(&mut mu));
}

#[derive(Trace)]
struct Shared {
    hits: PlainCell<u64>,
    flag: PlainCell<bool>,
    next: Slot<Shared>,
}

#[test]
fn plain_cells_keep_objects_shareable_across_threads() {
    let heap = common::heap();
    let mu = heap.mutator();
    let s = mu.alloc(Shared { hits: PlainCell::new(0), flag: PlainCell::new(false), next: Slot::null() });
    let root = mu.root(s);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (heap, root) = (heap.clone(), root.clone());
            std::thread::spawn(move || {
                let mu = heap.mutator();
                let s = root.get(&mu);
                for _ in 0..1000 {
                    // Not an atomic increment: PlainCell is a field, not a
                    // counter; only the final flag is checked exactly.
                    s.hits.set(s.hits.get() + 1);
                }
                s.flag.set(true);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = root.get(&mu);
    assert!(s.flag.get());
    assert!(s.hits.get() >= 1000 && s.hits.get() <= 2000);
    assert_eq!(PlainCell::new('é').get(), 'é');
    assert_eq!(PlainCell::new(-3i8).get(), -3);
    assert_eq!(PlainCell::new(1.25f32).replace(2.0), 1.25);
}
