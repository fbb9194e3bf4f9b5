//! Ephemeron tables (`WeakMap`): a value lives exactly as long as its key
//! is reachable from outside the map; chains converge at termination;
//! cycles through values keep nothing alive; sound under concurrent
//! marking (`checkmark` verifies every termination of the stress test).

mod common;

use common::{mix, Rng};
use shade::{Gc, Mutator, Slot, Trace, WeakMap, WeakRoot};

#[derive(Trace)]
struct Key {
    id: u64,
}

#[derive(Trace)]
struct Val {
    id: u64,
    check: u64,
    /// Another key (a chain), or its own key (a cycle through the value).
    link: Slot<Key>,
}

fn key(mu: &Mutator, id: u64) -> Gc<'_, Key> {
    mu.alloc(Key { id })
}

fn val<'m>(mu: &'m Mutator, id: u64, link: Option<Gc<'m, Key>>) -> Gc<'m, Val> {
    mu.alloc(Val { id, check: mix(id), link: Slot::from_option(link) })
}

fn collect_until(mu: &mut Mutator, mut done: impl FnMut(&Mutator) -> bool, rounds: usize) -> bool {
    for _ in 0..rounds {
        mu.collect();
        if done(mu) {
            return true;
        }
    }
    false
}

#[test]
fn a_value_lives_as_long_as_its_key_and_no_longer() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let map = mu.root(WeakMap::<Key, Val>::alloc(&mu));
    let k = mu.local(key(&mu, 1));
    let v = val(&mu, 1, None);
    let wv = WeakRoot::new(&mu, v);
    let wk = WeakRoot::new(&mu, k.get(&mu));
    assert!(map.get(&mu).insert(&mu, k.get(&mu), v).is_none());
    for _ in 0..3 {
        mu.collect();
        let got = map.get(&mu).get(&mu, k.get(&mu)).expect("key alive: entry kept");
        assert_eq!((got.id, got.check), (1, mix(1)));
    }
    assert_eq!(map.get(&mu).len(), 1);
    drop(k);
    assert!(collect_until(&mut mu, |mu| wk.upgrade(mu).is_none() && wv.upgrade(mu).is_none(), 2), "key and value died");
    assert_eq!(map.get(&mu).len(), 0);
}

#[test]
fn a_value_that_points_at_its_own_key_does_not_keep_it_alive() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let map = mu.root(WeakMap::<Key, Val>::alloc(&mu));
    let mut weak = Vec::new();
    for i in 0..50 {
        let k = key(&mu, i);
        let v = val(&mu, i, Some(k)); // value → key
        weak.push((WeakRoot::new(&mu, k), WeakRoot::new(&mu, v)));
        map.get(&mu).insert(&mu, k, v);
    }
    assert!(
        collect_until(&mut mu, |mu| weak.iter().all(|(k, v)| k.upgrade(mu).is_none() && v.upgrade(mu).is_none()), 2),
        "cycles through values kept keys alive"
    );
    assert_eq!(map.get(&mu).len(), 0);
}

#[test]
fn chains_of_ephemerons_converge() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let map = mu.root(WeakMap::<Key, Val>::alloc(&mu));
    const N: u64 = 40;
    // K0 → V0 (links K1) → ... ; inserted in reverse so one round cannot
    // reach the end by scanning order alone.
    let keys: Vec<_> = (0..=N).map(|i| mu.local(key(&mu, i))).collect();
    for i in (0..N).rev() {
        let v = val(&mu, i, Some(keys[i as usize + 1].get(&mu)));
        map.get(&mu).insert(&mu, keys[i as usize].get(&mu), v);
    }
    let wv: Vec<_> =
        (0..N).map(|i| WeakRoot::new(&mu, map.get(&mu).get(&mu, keys[i as usize].get(&mu)).unwrap())).collect();
    let first = mu.local(keys[0].get(&mu));
    drop(keys); // only K0 is held; every other key is reachable only through the chain
    for _ in 0..2 {
        mu.collect();
        for (i, w) in wv.iter().enumerate() {
            let v = w.upgrade(&mu).unwrap_or_else(|| panic!("value {i} of a live chain died"));
            assert_eq!(v.check, mix(v.id));
        }
    }
    assert_eq!(map.get(&mu).len(), N as usize);
    let k0 = first.get(&mu);
    let v0 = map.get(&mu).get(&mu, k0).unwrap();
    assert_eq!(v0.link.get(&mu).unwrap().id, 1);
    drop(first);
    assert!(collect_until(&mut mu, |mu| wv.iter().all(|w| w.upgrade(mu).is_none()), 2), "a dead chain stayed");
    assert_eq!(map.get(&mu).len(), 0);
}

#[derive(Trace)]
struct Inner {
    map: Slot<WeakMap<Key, Val>>,
}

#[test]
fn a_map_reachable_only_through_an_ephemeron_value_is_processed_too() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let outer = mu.root(WeakMap::<Key, Inner>::alloc(&mu));
    let k = mu.local(key(&mu, 1));
    let k2 = mu.local(key(&mu, 2));
    let inner_map = WeakMap::<Key, Val>::alloc(&mu);
    let v2 = val(&mu, 2, None);
    let w2 = WeakRoot::new(&mu, v2);
    inner_map.insert(&mu, k2.get(&mu), v2);
    let inner = mu.alloc(Inner { map: Slot::new(inner_map) });
    outer.get(&mu).insert(&mu, k.get(&mu), inner);
    for _ in 0..3 {
        mu.collect();
        assert!(w2.upgrade(&mu).is_some(), "inner map's live entry");
    }
    drop(k); // the inner map dies with its key
    assert!(collect_until(&mut mu, |mu| w2.upgrade(mu).is_none(), 3));
}

#[test]
fn removal_and_replacement() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let map = mu.root(WeakMap::<Key, Val>::alloc(&mu));
    let k = mu.local(key(&mu, 1));
    let a = val(&mu, 10, None);
    let wa = WeakRoot::new(&mu, a);
    map.get(&mu).insert(&mu, k.get(&mu), a);
    let old = map.get(&mu).insert(&mu, k.get(&mu), val(&mu, 11, None)).unwrap();
    assert_eq!(old.id, 10);
    assert!(collect_until(&mut mu, |mu| wa.upgrade(mu).is_none(), 2), "a replaced value is not kept");
    assert_eq!(map.get(&mu).get(&mu, k.get(&mu)).unwrap().id, 11);
    assert_eq!(map.get(&mu).remove(&mu, k.get(&mu)).unwrap().id, 11);
    assert!(!map.get(&mu).contains_key(&mu, k.get(&mu)));
    assert_eq!(map.get(&mu).len(), 0);
    // Growth keeps every entry.
    let keys: Vec<_> = (0..1000).map(|i| mu.local(key(&mu, i))).collect();
    for (i, k) in keys.iter().enumerate() {
        map.get(&mu).insert(&mu, k.get(&mu), val(&mu, i as u64, None));
    }
    mu.collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(map.get(&mu).get(&mu, k.get(&mu)).unwrap().id, i as u64);
    }
}

/// Two mutators insert, look up, replace and drop keys of a shared map
/// while another thread collects back to back (`checkmark`, `smallbuf`,
/// `clobberfree`): a value is never freed while its key lives, and values
/// read out (then stored in a strong slot) survive.
#[test]
fn ephemerons_under_concurrent_marking() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let map = {
        let mu = heap.mutator();
        mu.root(WeakMap::<Key, Val>::alloc(&mu))
    };
    let ops = common::iters(20_000);
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (heap, map) = (heap.clone(), map.clone());
            std::thread::spawn(move || {
                let mut mu = heap.mutator();
                let mut rng = Rng::new(77 + t);
                const K: usize = 64;
                let keys = mu.local(mu.alloc_array(K, |_| Slot::<Key>::null()));
                let kept = mu.local(mu.alloc_array(K, |_| Slot::<Val>::null()));
                let start = heap.stats().cycles;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                let mut i = 0;
                let mut id = t << 40;
                while i < ops || (heap.stats().cycles < start + 10 && std::time::Instant::now() < deadline) {
                    i += 1;
                    let (m, ks, kp) = (map.get(&mu), keys.get(&mu), kept.get(&mu));
                    let j = rng.below(K);
                    match rng.below(5) {
                        0 => {
                            id += 1;
                            let k = key(&mu, id);
                            ks[j].set(&mu, k);
                            m.insert(&mu, k, val(&mu, id, Some(k)));
                        }
                        1 => ks[j].set(&mu, None), // the key dies (unless kept elsewhere)
                        2 | 3 => {
                            if let Some(k) = ks[j].get(&mu) {
                                let v = m.get(&mu, k).expect("a live key's entry");
                                assert_eq!((v.id, v.check), (k.id, mix(k.id)), "value corrupted or mismatched");
                                kp[rng.below(K)].set(&mu, v); // a strong reference to a value read out
                            }
                        }
                        _ => {
                            if let Some(v) = kp[j].get(&mu) {
                                assert_eq!(v.check, mix(v.id));
                                // The value keeps its key alive (link), so its
                                // entry must still be there.
                                let k = v.link.get(&mu).unwrap();
                                let mv = m.get(&mu, k).expect("a key kept alive through its value has its entry");
                                assert_eq!(mv.check, mix(mv.id));
                            }
                        }
                    }
                    if i % 32 == 0 {
                        mu.safepoint();
                    }
                }
                assert!(heap.stats().cycles >= start + 10, "collections ran");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("mutator");
    }
    let mut mu = heap.mutator();
    forced.stop(Some(&mut mu));
}
