//! Workload `weak`: weak references and interning (issue 10).
//!
//! * `intern`: `scaled(10M)` lookups of strings in an intern table, a
//!   third of them new strings that die soon (each is kept only while it is
//!   among the last 1024 new ones), the rest from a pool of 10,000 strings
//!   kept alive throughout. Shade: a `WeakSet<Array<u8>>`, whose dead
//!   entries vanish at each collection by themselves. `rc`: a
//!   `HashMap<Box<str>, Weak<str>>` of `Rc<str>`s, pruned by hand (dead
//!   entries removed every 64K lookups), which is what a Rust program without
//!   weak tables has to do. Peak RSS shows whether the table stays bounded.
//! * `weak-upgrade`: ns per upgrade of 1,024 weak references to live
//!   objects, in rounds with a safepoint after each: `shade` (no
//!   collection running: the upgrade is a load and the marking test),
//!   `shade-marking` (another thread forces collections back to back, so
//!   most upgrades also shade their target), `rc` (`std::rc::Weak::upgrade`).
//! * `weak-termination`: the termination pause with `scaled(4M)` weak
//!   references (1M at the default scale: `Weak` fields, half of whose
//!   targets die each cycle) and `scaled(400K)` ephemeron entries (a
//!   `WeakMap`, live keys), 10 collections: `shade` (both), `shade-weak`,
//!   `shade-ephemeron`, `shade-none` (the same live heap without either),
//!   so the pause each costs is the difference. The pause only takes the
//!   weak lists and converges the ephemerons; the cells are cleared after
//!   the restart, in the clearing window, whose length is reported beside.

use super::{Bench, Forcer, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Array, Config, Gc, Heap, Mutator, Slot, Trace, Weak, WeakMap, WeakRoot, WeakSet};
use std::collections::HashMap;
use std::hint::black_box;
use std::rc::{Rc, Weak as RcWeak};

/// Strings kept alive for the whole run.
const POOL: usize = 10_000;
/// New strings stay alive while among the last this many.
const RECENT: usize = 1024;
/// Lookups between two safepoints (Shade) or prunes (rc, every 64 rounds).
const ROUND: u64 = 1024;
/// Weak references upgraded per round.
const WEAK_REFS: usize = 1024;

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "intern",
            workload: WorkloadId::Weak,
            title: "intern: a string intern table, a third of the lookups new and soon dead",
            about: |p| {
                format!(
                    "{} lookups in an intern table: two thirds from a pool of {POOL} strings kept alive, \
                     one third new strings that stay alive only while among the last {RECENT} new ones. \
                     Shade: `WeakSet<Array<u8>>::intern` (dead entries vanish at collections). rc: \
                     `HashMap<Box<str>, rc::Weak<str>>` of `Rc<str>`, pruned by hand every 64K lookups.",
                    lookups(p)
                )
            },
            unit: Unit::NsPerOp("lookup"),
            peers: vec![
                Peer { name: "shade", about: "Shade WeakSet<Array<u8>>", kind: PeerKind::InProcess(shade_intern) },
                Peer {
                    name: "rc",
                    about: "HashMap<Box<str>, rc::Weak<str>>, pruned by hand",
                    kind: PeerKind::InProcess(rc_intern),
                },
            ],
        },
        Bench {
            id: "weak-upgrade",
            workload: WorkloadId::Weak,
            title: "weak-upgrade: upgrading weak references to live objects",
            about: |p| {
                format!(
                    "{} upgrades of {WEAK_REFS} weak references to live objects, a safepoint every \
                     {WEAK_REFS}. shade: no collection running; shade-marking: another thread calls \
                     `heap.collect()` back to back (an upgrade during marking shades its target); \
                     rc: `std::rc::Weak::upgrade`.",
                    upgrades(p)
                )
            },
            unit: Unit::NsPerOp("upgrade"),
            peers: vec![
                Peer {
                    name: "shade",
                    about: "WeakRoot::upgrade, no collection",
                    kind: PeerKind::InProcess(shade_upgrade),
                },
                Peer {
                    name: "shade-marking",
                    about: "WeakRoot::upgrade, collections back to back",
                    kind: PeerKind::InProcess(shade_upgrade_marking),
                },
                Peer { name: "rc", about: "std::rc::Weak::upgrade", kind: PeerKind::InProcess(rc_upgrade) },
            ],
        },
        termination_bench(),
    ]
}

/// The `weak-termination` benchmark (appended to `benches()`).
fn termination_bench() -> Bench {
    Bench {
        id: "weak-termination",
        workload: WorkloadId::Weak,
        title: "weak-termination: mark termination with many weak references and ephemerons",
        about: |p| {
            format!(
                "{} objects each with a `Weak` field (half of the targets replaced by fresh ones before \
                 each of {CYCLES} collections, so they die and are cleared) and {} entries of a `WeakMap` \
                 with live keys. shade: both; shade-weak: weak references only; shade-ephemeron: \
                 ephemerons only; shade-none: the same objects without either. Per collection. The \
                 pause takes the weak lists and converges the ephemerons; the cells are cleared after \
                 the restart, while the mutators run (the clearing window, reported separately).",
                weak_count(p),
                ephemeron_count(p)
            )
        },
        unit: Unit::NsPerOp("cycle"),
        peers: vec![
            Peer {
                name: "shade",
                about: "weak refs and ephemerons",
                kind: PeerKind::InProcess(|p| termination(p, true, true)),
            },
            Peer {
                name: "shade-weak",
                about: "weak refs only",
                kind: PeerKind::InProcess(|p| termination(p, true, false)),
            },
            Peer {
                name: "shade-ephemeron",
                about: "ephemerons only",
                kind: PeerKind::InProcess(|p| termination(p, false, true)),
            },
            Peer { name: "shade-none", about: "neither", kind: PeerKind::InProcess(|p| termination(p, false, false)) },
        ],
    }
}

const CYCLES: u64 = 10;

fn weak_count(p: &Params) -> usize {
    p.scaled(4_000_000) as usize
}

fn ephemeron_count(p: &Params) -> usize {
    p.scaled(400_000) as usize
}

#[derive(Trace)]
struct Holder {
    target: Slot<u64>,
    weak: Weak<u64>,
}

fn termination(p: &Params, weak: bool, ephemerons: bool) -> Outcome {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let n = weak_count(p);
    // Holders keep every other target strongly; the weak field (or, in the
    // peers without weak references, nothing) points at a target.
    let holders = mu.local(mu.alloc_array(n, |i| {
        let t = mu.alloc(i as u64);
        let w = if weak { Weak::new(&mu, t) } else { Weak::null() };
        Slot::new(mu.alloc(Holder { target: Slot::from_option((i % 2 == 0).then_some(t)), weak: w }))
    }));
    let map = mu.local(WeakMap::<u64, u64>::alloc(&mu));
    let keys = mu.local(mu.alloc_array(ephemeron_count(p), |i| Slot::new(mu.alloc(i as u64))));
    if ephemerons {
        for k in keys.get(&mu).iter() {
            let k = k.get(&mu).expect("key");
            map.get(&mu).insert(&mu, k, mu.alloc(*k + 1));
        }
    }
    mu.collect();
    let before = heap.stats();
    for c in 0..CYCLES {
        // Re-point the odd holders' weak fields at fresh targets that die.
        if weak {
            let hs = holders.get(&mu);
            for (i, h) in hs.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
                h.get(&mu).expect("holder").weak.set(&mu, mu.alloc(i as u64 + c));
            }
        }
        mu.collect();
        if weak {
            // The strongly held half survives; the fresh targets were cleared.
            let hs = holders.get(&mu);
            let alive = hs.iter().filter(|h| h.get(&mu).expect("holder").weak.upgrade(&mu).is_some()).count();
            assert_eq!(alive, n.div_ceil(2), "weak references cleared wrongly");
        }
    }
    let stats = heap.stats();
    let gc = GcSummary::from_shade(&stats);
    let metrics = vec![
        ("GC max pause (µs)".into(), stats.pause_max.as_secs_f64() * 1e6),
        ("weak processing in the pause max (µs)".into(), stats.weak_time_max.as_secs_f64() * 1e6),
        ("weak clearing window max (µs)".into(), stats.weak_clear_time_max.as_secs_f64() * 1e6),
        (
            "weak refs cleared per cycle".into(),
            (stats.weak_cleared_total - before.weak_cleared_total) as f64 / CYCLES as f64,
        ),
        ("live ephemeron entries".into(), map.get(&mu).len() as f64),
    ];
    drop(keys);
    Outcome { ops: CYCLES, checksum: 0, gc: Some(gc), metrics, ..Outcome::default() }
}

fn lookups(p: &Params) -> u64 {
    p.scaled(10_000_000)
}

fn upgrades(p: &Params) -> u64 {
    p.scaled(20_000_000)
}

/// The key of lookup `i` (the same sequence for every peer): `Err(n)` for
/// the `n`th new string, `Ok(j)` for pool string `j`.
fn key_of(i: u64) -> Result<usize, u64> {
    if i.is_multiple_of(3) {
        Err(i / 3)
    } else {
        Ok((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize % POOL)
    }
}

fn pool_key(j: usize) -> String {
    format!("pool-{j:05}")
}

fn shade_intern(p: &Params) -> Outcome {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let set = mu.root(WeakSet::<Array<u8>>::alloc(&mu));
    let pool = mu.local(mu.alloc_array(POOL, |_| Slot::<Array<u8>>::null()));
    let recent = mu.local(mu.alloc_array(RECENT, |_| Slot::<Array<u8>>::null()));
    for j in 0..POOL {
        let k = pool_key(j);
        let s = set.get(&mu).intern(&mu, k.as_bytes(), |mu| mu.alloc_str(&k));
        pool.get(&mu)[j].set(&mu, s);
    }
    let n = lookups(p);
    let mut checksum = 0u64;
    let mut i = 0u64;
    let mut buf = String::new();
    while i < n {
        let end = (i + ROUND).min(n);
        {
            let set = set.get(&mu);
            let recent = recent.get(&mu);
            while i < end {
                buf.clear();
                let s: Gc<'_, Array<u8>> = match key_of(i) {
                    Ok(j) => {
                        use std::fmt::Write;
                        let _ = write!(buf, "pool-{j:05}");
                        set.intern(&mu, buf.as_bytes(), |mu| mu.alloc_str(&buf))
                    }
                    Err(k) => {
                        use std::fmt::Write;
                        let _ = write!(buf, "new-{k:09}");
                        let s = set.intern(&mu, buf.as_bytes(), |mu| mu.alloc_str(&buf));
                        recent[k as usize % RECENT].set(&mu, s);
                        s
                    }
                };
                checksum = checksum.wrapping_add(black_box(s).len() as u64);
                i += 1;
            }
        }
        mu.safepoint();
    }
    let stats = heap.stats();
    let gc = GcSummary::from_shade(&stats);
    let metrics = vec![
        ("table entries at end".into(), set.get(&mu).len() as f64),
        ("GC max pause (µs)".into(), stats.pause_max.as_secs_f64() * 1e6),
        ("weak processing in the pause max (µs)".into(), stats.weak_time_max.as_secs_f64() * 1e6),
        ("weak clearing window max (µs)".into(), stats.weak_clear_time_max.as_secs_f64() * 1e6),
    ];
    Outcome { ops: n, checksum, gc: Some(gc), metrics, ..Outcome::default() }
}

fn rc_intern(p: &Params) -> Outcome {
    let mut table: HashMap<Box<str>, RcWeak<str>> = HashMap::new();
    let intern = |table: &mut HashMap<Box<str>, RcWeak<str>>, k: &str| -> Rc<str> {
        if let Some(s) = table.get(k).and_then(RcWeak::upgrade) {
            return s;
        }
        let s: Rc<str> = Rc::from(k);
        table.insert(k.into(), Rc::downgrade(&s));
        s
    };
    let pool: Vec<Rc<str>> = (0..POOL).map(|j| intern(&mut table, &pool_key(j))).collect();
    let mut recent: Vec<Option<Rc<str>>> = vec![None; RECENT];
    let n = lookups(p);
    let mut checksum = 0u64;
    let mut buf = String::new();
    for i in 0..n {
        use std::fmt::Write;
        buf.clear();
        let s = match key_of(i) {
            Ok(j) => {
                let _ = write!(buf, "pool-{j:05}");
                intern(&mut table, &buf)
            }
            Err(k) => {
                let _ = write!(buf, "new-{k:09}");
                let s = intern(&mut table, &buf);
                recent[k as usize % RECENT] = Some(s.clone());
                s
            }
        };
        checksum = checksum.wrapping_add(black_box(&s).len() as u64);
        if i.is_multiple_of(64 * ROUND) {
            table.retain(|_, w| w.strong_count() > 0);
        }
    }
    drop(pool);
    table.retain(|_, w| w.strong_count() > 0);
    Outcome {
        ops: n,
        checksum,
        gc: None,
        metrics: vec![("table entries at end".into(), table.len() as f64)],
        ..Outcome::default()
    }
}

fn shade_upgrade_with(p: &Params, force: bool) -> Outcome {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let objs = mu.local(mu.alloc_array(WEAK_REFS, |i| Slot::new(mu.alloc(i as u64))));
    let weak: Vec<WeakRoot<u64>> =
        (0..WEAK_REFS).map(|i| WeakRoot::new(&mu, objs.get(&mu)[i].get(&mu).unwrap())).collect();
    let forcer = Forcer::start(&heap, force);
    let (ops, checksum, timed) = timed_rounds(
        upgrades(p),
        &mut mu,
        |mu| weak.iter().fold(0u64, |acc, w| acc.wrapping_add(*w.upgrade(mu).expect("alive"))),
        Mutator::safepoint,
    );
    forcer.stop(&mut mu);
    let gc = GcSummary::from_shade(&heap.stats());
    Outcome { ops, checksum, gc: Some(gc), timed: Some(timed), ..Outcome::default() }
}

/// Runs `round` (one upgrade of every weak reference, returning a checksum)
/// until `n` upgrades are done, timing only the rounds, with `between`
/// after each (Shade's safepoint). Returns upgrades, checksum and time.
fn timed_rounds<S>(
    n: u64,
    s: &mut S,
    round: impl Fn(&S) -> u64,
    between: impl Fn(&mut S),
) -> (u64, u64, std::time::Duration) {
    let (mut i, mut checksum, mut timed) = (0u64, 0u64, std::time::Duration::ZERO);
    while i < n {
        let t0 = std::time::Instant::now();
        checksum = checksum.wrapping_add(round(s));
        timed += t0.elapsed();
        i += WEAK_REFS as u64;
        between(s);
    }
    (i, checksum, timed)
}

fn shade_upgrade(p: &Params) -> Outcome {
    shade_upgrade_with(p, false)
}

fn shade_upgrade_marking(p: &Params) -> Outcome {
    shade_upgrade_with(p, true)
}

fn rc_upgrade(p: &Params) -> Outcome {
    let objs: Vec<Rc<u64>> = (0..WEAK_REFS).map(|i| Rc::new(i as u64)).collect();
    let weak: Vec<RcWeak<u64>> = objs.iter().map(Rc::downgrade).collect();
    let (ops, checksum, timed) = timed_rounds(
        upgrades(p),
        &mut (),
        |_| weak.iter().fold(0u64, |acc, w| acc.wrapping_add(*black_box(w).upgrade().expect("alive"))),
        |_| {},
    );
    Outcome { ops, checksum, gc: None, timed: Some(timed), ..Outcome::default() }
}
