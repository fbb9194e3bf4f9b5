//! Workload `map`: a hash map in the heap (issue 10, `GcMap`).
//!
//! Both benchmarks run the same steady churn: a window of [`LIVE`] keys
//! slides over a sequence of keys; each step inserts the next key (with a
//! pointer value), removes the key that leaves the window, looks up one
//! live key (a hit) and one absent key (a miss): four operations. The values
//! are drawn from a pool of `2 × LIVE` objects allocated before the timed
//! part, so the figure is the map's cost, not the allocator's (a value is
//! reinserted only after it left the window).
//!
//! * `map-u64`: u64 keys (scrambled), `Node` values. Shade:
//!   `GcMap<u64, Slot<Node>>`, a safepoint every 1024 steps. `rc`:
//!   `Rc<RefCell<HashMap<u64, Rc<Node>>>>` (std's SipHash), one borrow per
//!   operation, as a program sharing a mutable map does. `rc-foldhash`:
//!   the same with foldhash (hashbrown's default hasher), to tell the map
//!   from the hash function. `gc-arena`: a `HashMap` in a
//!   `Gc<RefLock<…>>` (crates/gc_arena.rs).
//! * `map-str`: string keys (prebuilt `String`s, 8 to 13 bytes), looked up
//!   by `&str`; inserting allocates the key (Shade: a `Str` made by
//!   `insert_by`; std: a `Box<str>`). Shade: `GcMap<Str, Slot<Node>>`.

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Gc, GcMap, Heap, Slot, Str, Trace};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Keys in the map at any time (after the first `LIVE` steps).
pub const LIVE: usize = 1 << 16;
/// Steps between two safepoints (Shade) or collection points (gc-arena).
pub const BATCH: u64 = 1024;

/// The benchmark ids.
pub const U64: &str = "map-u64";
pub const STR: &str = "map-str";

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: U64,
            workload: WorkloadId::Map,
            title: "map-u64: a hash map with u64 keys and pointer values, insert/lookup/remove churn",
            about: |p| about("u64", p),
            unit: Unit::NsPerOp("op"),
            peers: vec![
                Peer { name: "shade", about: "GcMap<u64, Slot<Node>>", kind: PeerKind::InProcess(shade_u64) },
                Peer {
                    name: "rc",
                    about: "Rc<RefCell<HashMap<u64, Rc<Node>>>>, std's SipHash",
                    kind: PeerKind::InProcess(|p| rc_u64(p, std::collections::hash_map::RandomState::new())),
                },
                Peer {
                    name: "rc-foldhash",
                    about: "Rc<RefCell<HashMap<u64, Rc<Node>>>>, foldhash",
                    kind: PeerKind::InProcess(|p| rc_u64(p, foldhash::fast::RandomState::default())),
                },
            ],
        },
        Bench {
            id: STR,
            workload: WorkloadId::Map,
            title: "map-str: a hash map with string keys looked up by &str, insert/lookup/remove churn",
            about: |p| about("string", p),
            unit: Unit::NsPerOp("op"),
            peers: vec![
                Peer { name: "shade", about: "GcMap<Str, Slot<Node>>", kind: PeerKind::InProcess(shade_str) },
                Peer {
                    name: "rc",
                    about: "Rc<RefCell<HashMap<Box<str>, Rc<Node>>>>, std's SipHash",
                    kind: PeerKind::InProcess(|p| rc_str(p, std::collections::hash_map::RandomState::new())),
                },
                Peer {
                    name: "rc-foldhash",
                    about: "Rc<RefCell<HashMap<Box<str>, Rc<Node>>>>, foldhash",
                    kind: PeerKind::InProcess(|p| rc_str(p, foldhash::fast::RandomState::default())),
                },
            ],
        },
    ]
}

fn about(keys: &str, p: &Params) -> String {
    format!(
        "{} operations on a map of {LIVE} {keys} keys in steady churn: per step, insert a new key, remove the \
         oldest, look up a live key and an absent one. Values are pointers to objects allocated before the \
         timed part (collection points are timed). Shade: `GcMap`, a safepoint every {BATCH} steps; rc: \
         `Rc<RefCell<std HashMap>>` (SipHash), one borrow per operation; rc-foldhash: the same with \
         foldhash; gc-arena: a std `HashMap` in a `Gc<RefLock<…>>`, `collect_debt` every {BATCH} steps.",
        steps(p) * 4
    )
}

/// Steps of a run (four operations each).
pub fn steps(p: &Params) -> u64 {
    p.scaled(4_000_000)
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `i`th key of the sequence (odd).
pub fn key(i: u64) -> u64 {
    mix(i) | 1
}

/// An absent key (even).
pub fn miss(i: u64) -> u64 {
    mix(i ^ 0x5555) & !1
}

/// The step whose key step `i` looks up: one in the live window.
pub fn hit(i: u64) -> u64 {
    let window = (i + 1).min(LIVE as u64);
    i - mix(i ^ 0xabcd) % window
}

/// Pool index of step `i`'s value.
pub fn value(i: u64) -> usize {
    (i % (2 * LIVE as u64)) as usize
}

/// The value objects' payload (its pool index).
#[derive(Trace)]
pub struct Node {
    pub id: u64,
}

/// String keys: `names[i % (2 LIVE)]` is step `i`'s key (reinserted only
/// after it left the window), `misses[i % LIVE]` an absent one.
pub struct Names {
    pub names: Vec<String>,
    pub misses: Vec<String>,
}

impl Names {
    pub fn new() -> Names {
        // Identifier-like, 8 to 13 bytes, unique (the step number is in it).
        let names = (0..2 * LIVE as u64).map(|i| format!("v{i}_{:x}", key(i) & 0xffff)).collect();
        let misses = (0..LIVE as u64).map(|i| format!("m{i}_{:x}", miss(i) & 0xffff)).collect();
        Names { names, misses }
    }

    pub fn name(&self, i: u64) -> &str {
        &self.names[value(i)]
    }

    pub fn miss(&self, i: u64) -> &str {
        &self.misses[(i % LIVE as u64) as usize]
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new()
    }
}

/// Runs the churn: `batch(s, steps)` performs steps and returns what they
/// add to the checksum; `between(s)` runs after every [`BATCH`] steps (a
/// safepoint or a collection point). Returns operations, checksum and the
/// time of the whole loop.
pub fn churn<S>(
    n: u64,
    s: &mut S,
    mut batch: impl FnMut(&mut S, std::ops::Range<u64>) -> u64,
    mut between: impl FnMut(&mut S),
) -> (u64, u64, Duration) {
    let (mut i, mut checksum) = (0u64, 0u64);
    let t0 = Instant::now();
    while i < n {
        let end = (i + BATCH).min(n);
        checksum = checksum.wrapping_add(batch(s, i..end));
        i = end;
        between(s);
    }
    (n * 4, checksum, t0.elapsed())
}

/// What a step adds to the checksum: the removed value's and the found
/// value's ids, and the miss (which must find nothing).
#[inline]
pub fn step_sum(removed: Option<u64>, found: u64, missed: bool) -> u64 {
    assert!(missed, "an absent key was found");
    removed.unwrap_or(0).wrapping_mul(3).wrapping_add(found)
}

#[derive(Trace)]
struct ShadeMap<K: shade::MapKey> {
    pool: Slot<shade::Array<Slot<Node>>>,
    map: GcMap<K, Slot<Node>>,
}

fn shade_heap() -> Heap {
    Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"))
}

fn shade_u64(p: &Params) -> Outcome {
    let heap = shade_heap();
    let mut mu = heap.mutator();
    let pool = mu.alloc_array(2 * LIVE, |i| Slot::new(mu.alloc(Node { id: i as u64 })));
    let root = mu.root(mu.alloc(ShadeMap::<u64> { pool: Slot::new(pool), map: GcMap::new() }));
    let (ops, checksum, timed) = churn(
        steps(p),
        &mut mu,
        |mu, range| {
            let r = root.get(mu);
            let (pool, map) = (Gc::into_ref(r.pool.get(mu).expect("pool")), &Gc::into_ref(r).map);
            let mut sum = 0u64;
            for i in range {
                map.insert(mu, key(i), pool[value(i)].get(mu).expect("node"));
                let removed = (i >= LIVE as u64).then(|| map.remove(mu, key(i - LIVE as u64)).expect("live").id);
                let found = map.get(mu, key(hit(i))).expect("a live key").id;
                sum = sum.wrapping_add(step_sum(removed, found, map.get(mu, miss(i)).is_none()));
            }
            sum
        },
        |mu| mu.safepoint(),
    );
    let gc = GcSummary::from_shade(&heap.stats());
    Outcome { ops, checksum, gc: Some(gc), timed: Some(timed), ..Outcome::default() }
}

fn shade_str(p: &Params) -> Outcome {
    let names = Names::new();
    let heap = shade_heap();
    let mut mu = heap.mutator();
    let pool = mu.alloc_array(2 * LIVE, |i| Slot::new(mu.alloc(Node { id: i as u64 })));
    let root = mu.root(mu.alloc(ShadeMap::<Str> { pool: Slot::new(pool), map: GcMap::new() }));
    let (ops, checksum, timed) = churn(
        steps(p),
        &mut mu,
        |mu, range| {
            let r = root.get(mu);
            let (pool, map) = (Gc::into_ref(r.pool.get(mu).expect("pool")), &Gc::into_ref(r).map);
            let mut sum = 0u64;
            for i in range {
                let name = names.name(i);
                map.insert_by(mu, name, |mu| mu.alloc_string(name), pool[value(i)].get(mu).expect("node"));
                let removed =
                    (i >= LIVE as u64).then(|| map.remove_by(mu, names.name(i - LIVE as u64)).expect("live").id);
                let found = map.get_by(mu, names.name(hit(i))).expect("a live key").id;
                sum = sum.wrapping_add(step_sum(removed, found, map.get_by(mu, names.miss(i)).is_none()));
            }
            sum
        },
        |mu| mu.safepoint(),
    );
    let gc = GcSummary::from_shade(&heap.stats());
    Outcome { ops, checksum, gc: Some(gc), timed: Some(timed), ..Outcome::default() }
}

/// `Rc` peers: the pool of values and the shared map.
struct RcState<K, S> {
    pool: Vec<Rc<Node>>,
    map: Rc<RefCell<HashMap<K, Rc<Node>, S>>>,
}

fn rc_u64<S: BuildHasher>(p: &Params, hasher: S) -> Outcome {
    let mut st = RcState {
        pool: (0..2 * LIVE as u64).map(|id| Rc::new(Node { id })).collect(),
        map: Rc::new(RefCell::new(HashMap::with_hasher(hasher))),
    };
    let (ops, checksum, timed) = churn(
        steps(p),
        &mut st,
        |st, range| {
            let map = black_box(&st.map);
            let mut sum = 0u64;
            for i in range {
                map.borrow_mut().insert(key(i), st.pool[value(i)].clone());
                let removed =
                    (i >= LIVE as u64).then(|| map.borrow_mut().remove(&key(i - LIVE as u64)).expect("live").id);
                let found = map.borrow().get(&key(hit(i))).expect("a live key").id;
                sum = sum.wrapping_add(step_sum(removed, found, !map.borrow().contains_key(&miss(i))));
            }
            sum
        },
        |_| {},
    );
    Outcome { ops, checksum, gc: None, timed: Some(timed), ..Outcome::default() }
}

fn rc_str<S: BuildHasher>(p: &Params, hasher: S) -> Outcome {
    let names = Names::new();
    let mut st = RcState {
        pool: (0..2 * LIVE as u64).map(|id| Rc::new(Node { id })).collect(),
        map: Rc::new(RefCell::new(HashMap::<Box<str>, _, S>::with_hasher(hasher))),
    };
    let (ops, checksum, timed) = churn(
        steps(p),
        &mut st,
        |st, range| {
            let map = black_box(&st.map);
            let mut sum = 0u64;
            for i in range {
                map.borrow_mut().insert(names.name(i).into(), st.pool[value(i)].clone());
                let removed =
                    (i >= LIVE as u64).then(|| map.borrow_mut().remove(names.name(i - LIVE as u64)).expect("live").id);
                let found = map.borrow().get(names.name(hit(i))).expect("a live key").id;
                sum = sum.wrapping_add(step_sum(removed, found, !map.borrow().contains_key(names.miss(i))));
            }
            sum
        },
        |_| {},
    );
    Outcome { ops, checksum, gc: None, timed: Some(timed), ..Outcome::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peer_computes_the_same_checksum() {
        let p = Params { scale: 0.05, ..Params::default() };
        // With the crate peers (gc-arena) attached.
        for b in crate::workloads::all().into_iter().filter(|b| b.workload == WorkloadId::Map) {
            assert!(b.peer("gc-arena").is_some(), "{}: gc-arena attached", b.id);
            let sums: Vec<(u64, u64)> = b
                .peers
                .iter()
                .map(|peer| {
                    let PeerKind::InProcess(run) = peer.kind else { panic!("in-process") };
                    let o = run(&p);
                    (o.ops, o.checksum)
                })
                .collect();
            assert!(sums.windows(2).all(|w| w[0] == w[1]), "{}: {sums:?}", b.id);
            assert_eq!(sums[0].0, steps(&p) * 4);
        }
    }

    #[test]
    fn hits_are_in_the_window() {
        for i in [0u64, 1, 5, LIVE as u64 - 1, LIVE as u64, 10 * LIVE as u64 + 3] {
            let h = hit(i);
            assert!(h <= i && i - h < LIVE as u64, "{i} -> {h}");
        }
    }
}
