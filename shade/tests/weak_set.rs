//! `WeakSet` (issue 10, interning): one object per content, entries vanish
//! once their object is unreachable and never before, sound while marking
//! runs concurrently (lookups shade what they return; `checkmark` verifies
//! every termination), several mutators at once.

mod common;

use common::Rng;
use shade::{Array, Gc, Slot, WeakSet};

fn key(i: usize) -> String {
    format!("sym-{i}-{}", common::mix(i as u64) % 1000)
}

#[test]
fn interning_returns_one_object_per_content_and_forgets_dead_ones() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    // Smaller under Miri, which interprets every allocation.
    let (n, rounds) = if cfg!(miri) { (40, 2) } else { (1000, 20) };
    let set = mu.root(WeakSet::<Array<u8>>::alloc(&mu));
    let kept = mu.local(mu.alloc_array(n / 2, |_| Slot::<Array<u8>>::null()));
    for i in 0..n {
        let k = key(i);
        let s = set.get(&mu).intern(&mu, k.as_bytes(), |mu| mu.alloc_str(&k));
        assert_eq!(s.as_str(), k);
        if i % 2 == 0 {
            kept.get(&mu)[i / 2].set(&mu, s);
        }
        let again = set.get(&mu).intern(&mu, k.as_bytes(), |_| unreachable!("already interned"));
        assert!(Gc::ptr_eq(s, again));
    }
    assert_eq!(set.get(&mu).len(), n);
    mu.collect();
    assert_eq!(set.get(&mu).len(), n / 2, "the odd (unreferenced) strings vanished");
    for i in 0..n {
        let found = set.get(&mu).get(&mu, key(i).as_bytes());
        if i % 2 == 0 {
            let f = found.expect("a kept string stays interned");
            assert!(Gc::ptr_eq(f, kept.get(&mu)[i / 2].get(&mu).unwrap()));
        } else {
            assert!(found.is_none(), "a dead string is gone");
        }
    }
    assert!(set.get(&mu).remove(&mu, key(0).as_bytes()));
    assert!(!set.get(&mu).remove(&mu, key(0).as_bytes()));
    assert_eq!(set.get(&mu).len(), n / 2 - 1);
    kept.get(&mu).fill(&mu, None);
    mu.collect();
    assert_eq!(set.get(&mu).len(), 0);
    // Tombstones are reused: the table does not grow without bound.
    for round in 0..rounds {
        for i in 0..n {
            let k = key(round * n + i);
            set.get(&mu).intern(&mu, k.as_bytes(), |mu| mu.alloc_str(&k));
        }
        mu.collect();
    }
    assert_eq!(set.get(&mu).len(), 0);
}

/// Two mutators intern overlapping keys while collections run back to back
/// under `checkmark` and `smallbuf`; each keeps some of what it got in
/// strong slots and checks them. A lookup that returned an entry without
/// shading it could hand out an object the marker never saw (checkmark
/// would abort); a clearing bug would free a kept string (the checks or
/// `clobberfree`'s poison would show it).
#[test]
fn interning_from_two_mutators_during_marking() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let set = {
        let mu = heap.mutator();
        mu.root(WeakSet::<Array<u8>>::alloc(&mu))
    };
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (h, set) = (heap.clone(), set.clone());
            std::thread::spawn(move || {
                let mut mu = h.mutator();
                let mut rng = Rng::new(w + 1);
                let kept = mu.local(mu.alloc_array(64, |_| Slot::<Array<u8>>::null()));
                let mut kept_keys = vec![String::new(); 64];
                for op in 0..common::iters(5000) {
                    let k = key(rng.below(300));
                    let s = set.get(&mu).intern(&mu, k.as_bytes(), |mu| mu.alloc_str(&k));
                    assert_eq!(s.as_str(), k);
                    let slot = rng.below(64);
                    kept.get(&mu)[slot].set(&mu, s);
                    kept_keys[slot] = k;
                    if op % 128 == 0 {
                        for (i, s) in kept.get(&mu).iter().enumerate() {
                            if let Some(s) = s.get(&mu) {
                                assert_eq!(s.as_str(), kept_keys[i]);
                                let found = set.get(&mu).get(&mu, kept_keys[i].as_bytes());
                                assert!(found.is_some(), "a strongly held string left the set");
                            }
                        }
                    }
                    mu.safepoint();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    forced.stop(None);
    heap.collect();
    heap.collect();
    let mu = heap.mutator();
    assert_eq!(set.get(&mu).len(), 0, "nothing is held: every entry vanished");
}
