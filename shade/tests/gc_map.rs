//! `GcMap` (issue 10): every operation against a `std::collections::HashMap`
//! model, for integer, identity and string keys, while another thread forces
//! collections back to back under `smallbuf` + `checkmark` + `clobberfree`
//! (so marking runs during growth, removal and clearing); several mutators
//! on one shared map; removed entries are freed, kept ones are not.
//!
//! "No object is freed while a map holds it" is checked three ways: every
//! value carries a checksum of its id (a freed, poisoned or reused object
//! fails it), checkmark aborts on a reachable object the marker missed, and
//! debug builds' `Slot::get` reports a use after free.

mod common;

use common::{expect_panic, mix, DropLog, DropToken, Rng};
use shade::{Gc, GcMap, GcVec, Mutator, Slot, Str, Trace};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Trace)]
struct Item {
    /// The key it was stored under (a reader that gets an item stored under
    /// another key saw a torn entry).
    key: u64,
    id: u64,
    check: u64,
}

fn item<'m>(mu: &'m Mutator, key: u64, id: u64) -> Gc<'m, Item> {
    mu.alloc(Item { key, id, check: mix(id) })
}

/// Checks an item's checksum and returns its id.
fn id_of(x: Gc<'_, Item>) -> u64 {
    assert_eq!(x.check, mix(x.id), "item {} corrupted (freed while the map held it?)", x.id);
    x.id
}

/// Runs `op` until at least `min_ops` calls and `cycles` collections of
/// `heap` ran meanwhile (with a deadline), returning the operation count.
fn run_until_cycles(heap: &shade::Heap, min_ops: usize, cycles: u64, mut op: impl FnMut(usize)) -> usize {
    let start = heap.stats().cycles;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut n = 0;
    while n < min_ops || (heap.stats().cycles < start + cycles && Instant::now() < deadline) {
        op(n);
        n += 1;
    }
    assert!(heap.stats().cycles >= start + cycles, "{cycles} collections ran meanwhile ({n} operations)");
    n
}

/// The key range of phase `op`: small, medium and large maps in turn, so
/// the table grows, fills with tombstones and is rebuilt.
fn key_range(op: usize) -> u64 {
    [64, 1024, 6000, 300][(op / 3000) % 4]
}

#[derive(Trace)]
struct IntHolder {
    name: Slot<Str>,
    map: GcMap<u64, Slot<Item>>,
}

fn check_int_map(mu: &Mutator, m: &GcMap<u64, Slot<Item>>, model: &HashMap<u64, u64>) {
    assert_eq!(m.len(), model.len());
    for (&k, &id) in model {
        let x = m.get(mu, k).unwrap_or_else(|| panic!("key {k} missing"));
        assert_eq!((x.key, id_of(x)), (k, id), "key {k}");
    }
    let mut seen = HashMap::new();
    for (k, v) in m.iter(mu) {
        assert!(seen.insert(k, id_of(v)).is_none(), "key {k} yielded twice");
    }
    assert_eq!(&seen, model, "iteration");
    assert_eq!(m.keys(mu).count(), model.len());
    assert_eq!(m.values(mu).map(id_of).collect::<HashSet<_>>(), model.values().copied().collect());
}

#[test]
fn integer_keys_match_a_std_model_through_forced_collections() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let holder = mu.local(mu.alloc(IntHolder { name: Slot::new(mu.alloc_string("ints")), map: GcMap::new() }));
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut rng = Rng::new(10);
    let mut next_id = 0u64;
    let ops = run_until_cycles(&heap.clone(), common::iters(30_000), 20, |op| {
        let h = holder.get(&mu);
        let m = &h.map;
        let k = rng.below(key_range(op) as usize) as u64;
        let mut new_id = || {
            next_id += 1;
            next_id
        };
        match rng.below(100) {
            0..=34 => {
                let id = new_id();
                let old = m.insert(&mu, k, item(&mu, k, id)).map(id_of);
                assert_eq!(old, model.insert(k, id), "insert {k}");
            }
            35..=54 => assert_eq!(m.get(&mu, k).map(id_of), model.get(&k).copied(), "get {k}"),
            55..=76 => assert_eq!(m.remove(&mu, k).map(id_of), model.remove(&k), "remove {k}"),
            77..=81 => assert_eq!(m.contains_key(&mu, k), model.contains_key(&k)),
            82..=87 => {
                let id = new_id();
                let got = id_of(m.get_or_insert_with(&mu, k, |mu| item(mu, k, id)));
                assert_eq!(got, *model.entry(k).or_insert(id), "get_or_insert_with {k}");
            }
            88 if rng.chance(1, 30) => {
                m.clear(&mu);
                model.clear();
            }
            89 if rng.chance(1, 10) => m.shrink_to_fit(&mu),
            90 if rng.chance(1, 10) => {
                m.reserve(&mu, 500);
                assert!(m.capacity(&mu) >= m.len() + 500);
            }
            91 if rng.chance(1, 10) => {
                let d = rng.below(3) as u64 + 2;
                m.retain(&mu, |k, v| {
                    assert_eq!(v.key, k);
                    k % d != 0
                });
                model.retain(|k, _| k % d != 0);
            }
            _ => {}
        }
        if op.is_multiple_of(1024) {
            check_int_map(&mu, m, &model);
        }
        mu.safepoint();
    });
    forced.stop(Some(&mut mu));
    let h = holder.get(&mu);
    check_int_map(&mu, &h.map, &model);
    assert_eq!(h.name.get(&mu).unwrap().as_str(), "ints");
    assert!(ops > 0);
}

#[derive(Trace)]
struct Key {
    id: u64,
    check: u64,
}

#[derive(Trace)]
struct IdentityHolder {
    /// Keys the test can name again (the others are reachable only through
    /// the map).
    pool: GcVec<Key>,
    map: GcMap<Slot<Key>, u64>,
}

#[test]
fn identity_keys_match_a_std_model_and_keep_their_keys_alive() {
    const POOL: usize = 500;
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let holder = mu.local(mu.alloc(IdentityHolder { pool: GcVec::new(), map: GcMap::new() }));
    for id in 0..POOL as u64 {
        holder.get(&mu).pool.push(&mu, mu.alloc(Key { id, check: mix(id) }));
    }
    // Key id -> value; ids >= POOL are keys held by the map alone.
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut rng = Rng::new(11);
    let mut next_orphan = POOL as u64;
    let check = |mu: &Mutator, h: &IdentityHolder, model: &HashMap<u64, u64>| {
        assert_eq!(h.map.len(), model.len());
        let mut seen = HashMap::new();
        for (k, v) in h.map.iter(mu) {
            assert_eq!(k.check, mix(k.id), "key {} corrupted (freed while the map held it?)", k.id);
            assert!(seen.insert(k.id, v).is_none(), "key {} twice", k.id);
        }
        assert_eq!(&seen, model);
    };
    run_until_cycles(&heap.clone(), common::iters(30_000), 20, |op| {
        let h = holder.get(&mu);
        let i = rng.below(POOL);
        let k = h.pool.get(&mu, i).unwrap();
        let v = rng.next_u64();
        match rng.below(10) {
            0..=2 => assert_eq!(h.map.insert(&mu, k, v), model.insert(i as u64, v)),
            3..=4 => assert_eq!(h.map.get(&mu, k), model.get(&(i as u64)).copied()),
            5..=6 => assert_eq!(h.map.remove(&mu, k), model.remove(&(i as u64))),
            7 => {
                // A key equal in content but another object: another key.
                let twin = mu.alloc(Key { id: i as u64, check: mix(i as u64) });
                assert_eq!(h.map.get(&mu, twin), None);
            }
            8 => {
                let id = next_orphan;
                next_orphan += 1;
                assert_eq!(h.map.insert(&mu, mu.alloc(Key { id, check: mix(id) }), v), None);
                model.insert(id, v);
            }
            _ => {
                // Drop some orphans (found by iterating: only the map names them).
                if rng.chance(1, 4) {
                    h.map.retain(&mu, |k, _| k.id < POOL as u64 || k.id % 2 == 0);
                    model.retain(|&id, _| id < POOL as u64 || id % 2 == 0);
                }
            }
        }
        if op.is_multiple_of(1024) {
            check(&mu, &h, &model);
        }
        mu.safepoint();
    });
    forced.stop(Some(&mut mu));
    check(&mu, &holder.get(&mu), &model);
}

#[derive(Trace)]
struct Env {
    vars: GcMap<Str, Slot<Item>>,
}

fn name_of(rng: &mut Rng, range: usize) -> String {
    // Lengths 1 to ~40 (the hash's short, medium and long paths).
    let n = rng.below(range);
    format!("{}{n}", "v".repeat(n % 37))
}

#[test]
fn string_keys_match_a_std_model_looked_up_by_str_and_by_equal_strings() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let env = mu.local(mu.alloc(Env { vars: GcMap::new() }));
    let mut model: HashMap<String, u64> = HashMap::new();
    let mut rng = Rng::new(12);
    let mut next_id = 0u64;
    let check = |mu: &Mutator, m: &GcMap<Str, Slot<Item>>, model: &HashMap<String, u64>| {
        assert_eq!(m.len(), model.len());
        for (k, &id) in model {
            assert_eq!(m.get_by(mu, k.as_str()).map(id_of), Some(id), "{k}");
        }
        let seen: HashMap<String, u64> = m.iter(mu).map(|(k, v)| (k.as_str().to_string(), id_of(v))).collect();
        assert_eq!(&seen, model);
    };
    run_until_cycles(&heap.clone(), common::iters(30_000), 20, |op| {
        let m = &env.get(&mu).vars;
        let range = [50, 2000][(op / 4000) % 2];
        let name = name_of(&mut rng, range);
        next_id += 1;
        let id = next_id;
        match rng.below(10) {
            0..=1 => {
                let old = m.insert(&mu, mu.alloc_string(&name), item(&mu, 0, id)).map(id_of);
                assert_eq!(old, model.insert(name, id));
            }
            2..=3 => {
                let old = m.insert_by(&mu, name.as_str(), |mu| mu.alloc_string(&name), item(&mu, 0, id)).map(id_of);
                assert_eq!(old, model.insert(name, id));
            }
            4..=5 => assert_eq!(m.get_by(&mu, name.as_str()).map(id_of), model.get(&name).copied()),
            // By an equal string allocated apart: compared by content.
            6 => assert_eq!(m.get(&mu, mu.alloc_string(&name)).map(id_of), model.get(&name).copied()),
            7 => assert_eq!(m.remove_by(&mu, name.as_bytes()).map(id_of), model.remove(&name)),
            8 => assert_eq!(m.remove(&mu, mu.alloc_string(&name)).map(id_of), model.remove(&name)),
            _ => assert_eq!(m.contains_key_by(&mu, name.as_str()), model.contains_key(&name)),
        }
        if op.is_multiple_of(1024) {
            check(&mu, m, &model);
        }
        mu.safepoint();
    });
    forced.stop(Some(&mut mu));
    check(&mu, &env.get(&mu).vars, &model);
}

#[derive(Trace)]
struct Shared {
    map: GcMap<u64, Slot<Item>>,
    set: GcMap<u64, ()>,
}

/// Several mutators on one map, collections forced back to back. Each
/// thread owns the keys `k % THREADS == t` and keeps a model of them, which
/// must match exactly at the end (updates lost to a race between two
/// writers, or entries lost by a growth racing an insert, would show);
/// every thread also reads the others' keys, and every item read must
/// belong to the key it was read under (no torn entry). All threads insert
/// the same keys into a shared set: its length is the number of distinct
/// keys.
#[test]
fn several_mutators_share_a_map_during_forced_collections() {
    const THREADS: u64 = 3;
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let shared = mu.root(mu.alloc(Shared { map: GcMap::new(), set: GcMap::new() }));
    let min_ops = common::iters(20_000);
    let start = heap.stats().cycles;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (heap, shared) = (heap.clone(), shared.clone());
            std::thread::spawn(move || {
                let mut mu = heap.mutator();
                let mut rng = Rng::new(100 + t);
                let mut model: HashMap<u64, u64> = HashMap::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut op = 0usize;
                while op < min_ops || (heap.stats().cycles < start + 15 && Instant::now() < deadline) {
                    op += 1;
                    let s = shared.get(&mu);
                    let range = key_range(op) / THREADS + 1;
                    let k = rng.below(range as usize) as u64 * THREADS + t;
                    let id = (t << 48) | op as u64;
                    match rng.below(10) {
                        0..=3 => {
                            let old = s.map.insert(&mu, k, item(&mu, k, id)).map(id_of);
                            assert_eq!(old, model.insert(k, id), "thread {t}: insert {k}");
                        }
                        4..=5 => assert_eq!(s.map.remove(&mu, k).map(id_of), model.remove(&k)),
                        6 => assert_eq!(s.map.get(&mu, k).map(id_of), model.get(&k).copied()),
                        7..=8 => {
                            // Another thread's key: whatever it holds, it is that key's.
                            let other = rng.below(6000) as u64;
                            if let Some(x) = s.map.get(&mu, other) {
                                assert_eq!(x.key, other, "torn entry");
                                id_of(x);
                            }
                        }
                        _ => {
                            s.set.insert(&mu, rng.below(4096) as u64, ());
                        }
                    }
                    if op.is_multiple_of(2048) {
                        for (k, v) in s.map.iter(&mu) {
                            assert_eq!(v.key, k, "torn entry in iteration");
                            id_of(v);
                        }
                    }
                    mu.safepoint();
                }
                // Final check against this thread's model.
                let s = shared.get(&mu);
                for (&k, &id) in &model {
                    assert_eq!(s.map.get(&mu, k).map(id_of), Some(id), "thread {t}: key {k}");
                }
                let mine = s.map.keys(&mu).filter(|k| k % THREADS == t).count();
                assert_eq!(mine, model.len(), "thread {t}: keys of mine in the map");
                model.len()
            })
        })
        .collect();
    let total: usize = mu.parked(|| workers.into_iter().map(|w| w.join().expect("worker")).sum());
    forced.stop(Some(&mut mu));
    let s = shared.get(&mu);
    assert_eq!(s.map.len(), total);
    let set_keys: HashSet<u64> = s.set.keys(&mu).collect();
    assert_eq!(s.set.len(), set_keys.len());
    assert!(s.set.len() <= 4096);
    assert!(heap.stats().cycles >= start + 15, "collections ran meanwhile");
}

#[test]
fn removed_entries_are_freed_and_kept_ones_are_not() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let log = DropLog::new(210);
    let m = mu.local(mu.alloc(GcMap::<u64, Slot<DropToken>>::new()));
    let keys = mu.local(mu.alloc(GcMap::<Slot<DropToken>, u64>::new()));
    // Tokens 0..100 are values, 100..200 identity keys (held by the map alone),
    // 200..210 replacement values.
    for i in 0..100 {
        m.get(&mu).insert(&mu, i as u64, mu.alloc(DropToken::new(&log, i)));
        keys.get(&mu).insert(&mu, mu.alloc(DropToken::new(&log, 100 + i)), i as u64);
    }
    assert!(m.get(&mu).capacity(&mu) >= 100);
    mu.collect();
    assert_eq!(log.total(), 0, "a map keeps its keys and values alive (growth kept every entry)");
    // Remove values 0..20, replace 20..30, identity keys with even values.
    for i in 0..20u64 {
        assert_eq!(m.get(&mu).remove(&mu, i).map(|t| t.id), Some(i as usize));
    }
    for i in 20..30u64 {
        m.get(&mu).insert(&mu, i, mu.alloc(DropToken::new(&log, i as usize + 180)));
    }
    keys.get(&mu).retain(&mu, |_, v| v % 2 == 1);
    mu.collect();
    mu.collect();
    log.assert_range(0..30, 1, "removed or replaced values");
    log.assert_range(200..210, 0, "replacements");
    log.assert_range(30..100, 0, "kept values");
    for i in 100..200 {
        assert_eq!(log.count(i), (i % 2 == 0) as u32, "identity key {i}");
    }
    // Shrinking keeps the rest; clearing frees them.
    keys.get(&mu).shrink_to_fit(&mu);
    mu.collect();
    log.assert_range(30..100, 0, "kept values");
    m.get(&mu).clear(&mu);
    keys.get(&mu).clear(&mu);
    assert!(m.get(&mu).is_empty() && m.get(&mu).get(&mu, 50).is_none());
    mu.collect();
    mu.collect();
    log.assert_range(0..210, 1, "all freed once cleared");
    log.assert_no_double_drop();
}

#[test]
fn iteration_during_modification_yields_the_untouched_entries_once() {
    let heap = common::heap();
    let mu = heap.mutator();
    let m = mu.alloc(GcMap::<u64, u64>::new());
    for k in 0..1000u64 {
        m.insert(&mu, k, k * 10);
    }
    // Remove the odd keys and insert 5000 new ones while iterating (the
    // table is rebuilt several times meanwhile): every even key is seen once.
    let mut seen = HashMap::new();
    let mut next = 1000u64;
    for (k, v) in m.iter(&mu) {
        assert_eq!(v, k * 10);
        *seen.entry(k).or_insert(0) += 1;
        if k < 1000 && k % 2 == 1 {
            m.remove(&mu, k);
        }
        for _ in 0..5 {
            m.insert(&mu, next, next * 10);
            next += 1;
        }
    }
    for k in (0..1000u64).step_by(2) {
        assert_eq!(seen.get(&k), Some(&1), "key {k}");
    }
    assert!(seen.values().all(|&n| n == 1));
    assert_eq!(m.len(), 500 + (next - 1000) as usize);
}

#[test]
fn value_kinds_and_set_semantics() {
    let heap = common::heap();
    let mu = heap.mutator();
    let f = mu.alloc(GcMap::<i32, f64>::new());
    f.insert(&mu, -3, 1.5);
    assert_eq!(f.insert(&mu, -3, 2.5), Some(1.5));
    assert_eq!(f.get(&mu, -3), Some(2.5));
    let b = mu.alloc(GcMap::<usize, bool>::new());
    b.insert(&mu, usize::MAX, true);
    assert_eq!(b.get(&mu, usize::MAX), Some(true));
    let s = mu.alloc(GcMap::<i64, ()>::new());
    for k in [-1i64, 0, 1, i64::MIN, i64::MAX, 0, -1] {
        s.insert(&mu, k, ());
    }
    assert_eq!(s.len(), 5);
    assert!(s.contains_key(&mu, i64::MIN) && !s.contains_key(&mu, 2));
    let names = mu.alloc(GcMap::<Str, Str>::new());
    names.insert(&mu, mu.alloc_string(""), mu.alloc_string("empty"));
    assert_eq!(names.get_by(&mu, "").unwrap().as_str(), "empty");
    // with_capacity: no growth until the capacity is used.
    let holder = mu.alloc(Env { vars: GcMap::with_capacity(&mu, 100) });
    let cap = holder.vars.capacity(&mu);
    assert!(cap >= 100);
    for i in 0..100 {
        holder.vars.insert(&mu, mu.alloc_string(&i.to_string()), item(&mu, i, i));
    }
    assert_eq!(holder.vars.capacity(&mu), cap);
}

#[test]
fn a_map_outside_the_heap_cannot_be_modified() {
    let heap = common::heap();
    let mu = heap.mutator();
    let m: GcMap<u64, u64> = GcMap::new();
    assert!(m.is_empty() && m.get(&mu, 1).is_none() && m.remove(&mu, 1).is_none());
    let msg = expect_panic("insert into a GcMap on the stack", || m.insert(&mu, 1, 2));
    assert!(msg.contains("GcMap is not inside a heap object"), "{msg}");
    // The lock was released by the panic: the map is still usable for reads.
    assert!(m.get(&mu, 1).is_none());
}

#[test]
fn a_key_maker_that_returns_another_key_panics_and_leaves_the_map_usable() {
    let heap = common::heap();
    let mu = heap.mutator();
    let m = mu.alloc(GcMap::<Str, u64>::new());
    m.insert(&mu, mu.alloc_string("a"), 1);
    let msg = expect_panic("insert_by with a wrong key", || m.insert_by(&mu, "b", |mu| mu.alloc_string("c"), 2));
    assert!(msg.contains("does not match"), "{msg}");
    assert_eq!(m.insert_by(&mu, "a", |_| unreachable!("the key exists"), 3), Some(1));
    assert_eq!((m.len(), m.get_by(&mu, "a")), (1, Some(3)));
}

#[derive(Trace)]
struct Chain {
    next: Slot<Chain>,
    /// Set in the last node: the map's holder.
    end: Slot<Churn>,
}

#[derive(Trace)]
struct Churn {
    map: GcMap<u64, Slot<Item>>,
}

/// Rebuilds while marking runs, of a table the marker has not scanned yet.
/// The map's holder is reachable only from the end of a long chain, so the
/// marker reaches it late in each cycle; after each safepoint the mutator
/// walks the chain itself (loads do not shade) and then runs a batch of
/// operations, usually before the marker gets there. Every 50 operations
/// the table is rebuilt (`reserve` and `shrink_to_fit` in turn), and entries
/// inserted before the cycle's snapshot are then reachable at the snapshot
/// only through the table being replaced: if the swap did not record the
/// old table (or the copy lost an entry), checkmark, the checksums or a
/// use-after-free report catch it.
#[test]
fn rebuilds_during_marking_keep_every_entry() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    let mut mu = heap.mutator();
    let chain = if cfg!(debug_assertions) { 20_000 } else { 200_000 };
    let head = {
        let mut head = mu.alloc(Chain { next: Slot::null(), end: Slot::new(mu.alloc(Churn { map: GcMap::new() })) });
        for _ in 0..chain {
            head = mu.alloc(Chain { next: Slot::new(head), end: Slot::null() });
        }
        mu.local(head)
    };
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut rng = Rng::new(13);
    let mut op = 0usize;
    fn walk<'m>(mu: &'m Mutator, head: &shade::Local<Chain>) -> Gc<'m, Churn> {
        let mut n = head.get(mu);
        while let Some(next) = n.next.get(mu) {
            n = next;
        }
        n.end.get(mu).expect("the holder")
    }
    run_until_cycles(&heap.clone(), common::iters(200), 30, |_| {
        let m = &Gc::into_ref(walk(&mu, &head)).map;
        for _ in 0..500 {
            op += 1;
            let k = rng.below(1500) as u64;
            if rng.chance(1, 2) {
                let id = op as u64;
                assert_eq!(m.insert(&mu, k, item(&mu, k, id)).map(id_of), model.insert(k, id));
            } else {
                assert_eq!(m.remove(&mu, k).map(id_of), model.remove(&k));
            }
            match op % 100 {
                0 => m.reserve(&mu, 2000),
                50 => m.shrink_to_fit(&mu),
                _ => {}
            }
            if op.is_multiple_of(64) {
                for _ in 0..8 {
                    let k = rng.below(1500) as u64;
                    assert_eq!(m.get(&mu, k).map(id_of), model.get(&k).copied());
                }
            }
        }
        if op.is_multiple_of(8000) {
            check_int_map(&mu, m, &model);
        }
        mu.safepoint();
    });
    forced.stop(Some(&mut mu));
    check_int_map(&mu, &walk(&mu, &head).map, &model);
}

/// A key kind of the test's own: `u64` keys whose borrowed lookup
/// ([`shade::MapQuery`]) is slow, so that a reader spends a while between
/// loading an entry's key and loading its value. Writers use the ordinary
/// (fast) `MapKey::eq`.
enum SlowKey {}

/// A lookup of a `SlowKey`.
struct Slow(u64);

impl shade::MapCell for SlowKey {
    type Cell = std::sync::atomic::AtomicU64;
    type Item<'m> = u64;
    fn empty() -> Self::Cell {
        std::sync::atomic::AtomicU64::new(0)
    }
    fn load(cell: &Self::Cell, _: &Mutator) -> Option<u64> {
        Some(cell.load(std::sync::atomic::Ordering::Relaxed))
    }
    fn store(cell: &Self::Cell, _: &Mutator, item: u64) {
        cell.store(item, std::sync::atomic::Ordering::Relaxed)
    }
    fn clear(_: &Self::Cell, _: &Mutator) {}
}

/// Every key hashes alike: they share one probe chain, so the next key
/// inserted takes the entry a removed one left.
impl shade::MapKey for SlowKey {
    fn hash<H: std::hash::Hasher>(_: u64, state: &mut H) {
        state.write_u64(0)
    }
    fn eq(a: u64, b: u64) -> bool {
        a == b
    }
}

impl shade::MapQuery<Slow> for SlowKey {
    fn hash_query<H: std::hash::Hasher>(_: &Slow, state: &mut H) {
        state.write_u64(0)
    }
    fn matches(item: u64, q: &Slow) -> bool {
        if item == q.0 {
            // Widen the window between the key's load and the value's.
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(20) {
                std::hint::spin_loop();
            }
        }
        item == q.0
    }
}

/// Readers see no torn entry: one mutator removes and reinserts four keys
/// that all hash alike (so entries are reused by other keys all the time)
/// while another reads them, through a lookup that takes a while
/// between loading an entry's key and loading its value (`SlowKey`):
/// without the version check, a removal and a reinsertion of another key
/// into the same entry meanwhile would hand out the other key's value.
/// Every item read must be the one stored under the key it was read by,
/// and iteration must pair keys and values the same way.
#[test]
fn readers_never_see_an_entry_torn_by_a_concurrent_writer() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let shared = mu.root(mu.alloc(GcMap::<SlowKey, Slot<Item>>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (heap, shared, stop) = (heap.clone(), shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut mu = heap.mutator();
            let mut rng = Rng::new(7);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let m = shared.get(&mu);
                for _ in 0..256 {
                    m.remove(&mu, rng.below(4) as u64);
                    let k = rng.below(4) as u64;
                    m.insert(&mu, k, item(&mu, k, k));
                }
                mu.safepoint();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(1500);
    let (mut reads, mut iterated) = (0u64, 0u64);
    while Instant::now() < deadline {
        let m = shared.get(&mu);
        for _ in 0..16 {
            for k in 0..4u64 {
                if let Some(x) = m.get_by(&mu, &Slow(k)) {
                    assert_eq!(x.key, k, "get_by({k}) returned an item of another key");
                    reads += 1;
                }
            }
            for (k, v) in m.iter(&mu) {
                assert_eq!(v.key, k, "iteration paired key {k} with another key's item");
                iterated += 1;
            }
        }
        mu.safepoint();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    mu.parked(|| writer.join().expect("writer"));
    assert!(reads > 0 && iterated > 0);
}

/// Dynamic values as keys and values (an interpreter's table): keys by
/// identity, so integers, numbers and interned strings all work; object
/// values survive collections through the map.
#[test]
fn value_keys_and_values() {
    use shade::{Value, ValueSlot, WeakSet};
    let heap = common::heap();
    let mut mu = heap.mutator();
    let strings = mu.root(WeakSet::<Str>::alloc(&mu));
    let table = mu.root(mu.alloc(GcMap::<ValueSlot, ValueSlot>::new()));
    fn intern<'m>(mu: &'m shade::Mutator, strings: &shade::Root<WeakSet<Str>>, s: &str) -> Value<'m> {
        Value::object(strings.get(mu).intern(mu, s, |mu| mu.alloc_string(s)))
    }
    {
        let t = table.get(&mu);
        t.insert(&mu, Value::int(1), Value::number(1.5));
        t.insert(&mu, Value::number(2.5), Value::int(7));
        let k = intern(&mu, &strings, "name");
        t.insert(&mu, k, intern(&mu, &strings, "umbra"));
        t.insert(&mu, Value::TRUE, Value::NIL);
    }
    for _ in 0..3 {
        mu.collect();
    }
    let t = table.get(&mu);
    assert_eq!(t.len(), 4);
    assert_eq!(t.get(&mu, Value::int(1)).and_then(|v| v.as_number()), Some(1.5));
    assert_eq!(t.get(&mu, Value::number(2.5)).and_then(|v| v.as_int()), Some(7));
    let name = t.get(&mu, intern(&mu, &strings, "name")).expect("an interned string is the same key");
    assert_eq!(name.downcast::<Str>(&mu).unwrap().as_str(), "umbra");
    assert!(t.get(&mu, Value::int(2)).is_none());
    assert!(t.get(&mu, Value::TRUE).is_some_and(|v| v.is_nil()));
    assert!(t.remove(&mu, Value::TRUE).is_some());
    assert_eq!(t.len(), 3);
}
