//! Workload `stores` (W3): the cost of one pointer store into an old object.
//!
//! A graph of `nodes` live nodes `{ left, right, id }` (node `i`'s `right`
//! points at node `i + 1`, `left` starts null); then `stores` random stores
//! `node[i].left = node[j]`, the indices drawn from splitmix64 seeded with
//! 42, in batches of [`BATCH`]. Only the store loops are timed (the indices
//! of a batch are drawn before it, and Shade's safepoint after each batch is
//! outside the timed part), so the figure is ns per store. Three
//! benchmarks:
//!
//! * `stores-quiet`: nothing else happens, so Shade's barrier is off: a
//!   store is its flag test plus the atomic store;
//! * `stores-active`: before each batch [`SHORT_LIVED`] short-lived nodes
//!   are allocated (not timed), so Shade's pacer starts cycles and part of
//!   the stores run with the barrier on;
//! * `stores-forced` (Shade only): another thread calls `heap.collect()`
//!   back to back, so the barrier is on for nearly every store.
//!
//! Peers: Shade (`Slot` fields, the nodes in an `Array<Slot<Node>>`), `Rc`
//! nodes with `RefCell` fields (a store is a reference-count increment and
//! decrement) and `Arc` nodes with `Mutex` fields (lock, two atomic count
//! updates, unlock).

use super::{Bench, Forcer, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Heap, Slot, Trace};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Stores per batch.
pub const BATCH: usize = 1000;
/// Short-lived nodes allocated before each batch in `stores-active`.
pub const SHORT_LIVED: usize = 1000;
/// Seed of the index stream.
pub const SEED: u64 = 42;

/// The splitmix64 generator (Steele, Lea, Flood), the same stream for every
/// peer.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (multiply-shift reduction; `n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Live nodes.
    pub nodes: usize,
    /// Random stores.
    pub stores: u64,
}

impl Sizes {
    /// The sizes (1,000,000 nodes, 20,000,000 stores) times the scale.
    pub fn of(p: &Params) -> Sizes {
        Sizes { nodes: p.scaled(1_000_000).max(2) as usize, stores: p.scaled(20_000_000) }
    }
}

/// The three shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Nothing else running.
    Quiet,
    /// Short-lived allocation between batches: the collector cycles.
    Active,
    /// Collections forced back to back by another thread.
    Forced,
}

fn about(v: Variant, p: &Params) -> String {
    let s = Sizes::of(p);
    let what = match v {
        Variant::Quiet => "Nothing else runs (Shade: no cycle, the barrier is off).".to_string(),
        Variant::Active => format!(
            "Before each batch {SHORT_LIVED} short-lived nodes are allocated and dropped (not timed), \
             so Shade's collector cycles and part of the stores run with the barrier on."
        ),
        Variant::Forced => "Another thread calls `heap.collect()` back to back, so Shade's barrier is on \
                            for most stores (no rc or arc peer: they have no collection to force)."
            .to_string(),
    };
    let baselines = if v == Variant::Forced {
        ""
    } else {
        " rc: `Vec<Rc<Node>>` with `RefCell<Option<Rc<Node>>>` fields. arc: `Vec<Arc<Node>>` with \
         `Mutex<Option<Arc<Node>>>` fields."
    };
    format!(
        "{} live nodes `{{ left, right, id }}`; {} random stores `node[i].left = node[j]` (i, j from \
         splitmix64 seeded with {SEED}) in batches of {BATCH}; only the store loops are timed (ns/store). \
         {what} Shade: `Slot` fields, nodes held by a rooted `Array<Slot<Node>>`, a safepoint after each \
         batch (untimed).{baselines} The metrics give the share of Shade's stores that ran with the barrier \
         on and the collection cycles completed during the store phase.",
        s.nodes, s.stores
    )
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    let shade_peer =
        |run| Peer { name: "shade", about: "Shade heap (Config::default())", kind: PeerKind::InProcess(run) };
    let rc_peer = |run| Peer { name: "rc", about: "Rc nodes, RefCell fields", kind: PeerKind::InProcess(run) };
    let arc_peer = |run| Peer { name: "arc", about: "Arc nodes, Mutex fields", kind: PeerKind::InProcess(run) };
    vec![
        Bench {
            id: "stores-quiet",
            workload: WorkloadId::Stores,
            title: "stores-quiet: random pointer stores, no collection running",
            about: |p| about(Variant::Quiet, p),
            unit: Unit::NsPerOp("store"),
            peers: vec![shade_peer(shade_quiet), rc_peer(rc_quiet), arc_peer(arc_quiet)],
        },
        Bench {
            id: "stores-active",
            workload: WorkloadId::Stores,
            title: "stores-active: random pointer stores while the collector cycles",
            about: |p| about(Variant::Active, p),
            unit: Unit::NsPerOp("store"),
            peers: vec![shade_peer(shade_active), rc_peer(rc_active), arc_peer(arc_active)],
        },
        Bench {
            id: "stores-forced",
            workload: WorkloadId::Stores,
            title: "stores-forced: random pointer stores, collections forced back to back",
            about: |p| about(Variant::Forced, p),
            unit: Unit::NsPerOp("store"),
            peers: vec![shade_peer(shade_forced)],
        },
    ]
}

fn shade_quiet(p: &Params) -> Outcome {
    run_shade(Variant::Quiet, Sizes::of(p))
}
fn shade_active(p: &Params) -> Outcome {
    run_shade(Variant::Active, Sizes::of(p))
}
fn shade_forced(p: &Params) -> Outcome {
    run_shade(Variant::Forced, Sizes::of(p))
}
fn rc_quiet(p: &Params) -> Outcome {
    run_rc(Variant::Quiet, Sizes::of(p))
}
fn rc_active(p: &Params) -> Outcome {
    run_rc(Variant::Active, Sizes::of(p))
}
fn arc_quiet(p: &Params) -> Outcome {
    run_arc(Variant::Quiet, Sizes::of(p))
}
fn arc_active(p: &Params) -> Outcome {
    run_arc(Variant::Active, Sizes::of(p))
}

/// The index stream, one batch at a time (drawn before the batch's timed
/// loop).
pub(crate) struct Batches {
    rng: SplitMix64,
    idx: Vec<(u32, u32)>,
    nodes: u64,
    left: u64,
}

impl Batches {
    pub(crate) fn new(s: Sizes) -> Batches {
        Batches { rng: SplitMix64::new(SEED), idx: Vec::with_capacity(BATCH), nodes: s.nodes as u64, left: s.stores }
    }

    /// The `(i, j)` pairs of the next batch, or `None` when all are done.
    pub(crate) fn next_batch(&mut self) -> Option<&[(u32, u32)]> {
        if self.left == 0 {
            return None;
        }
        let k = (BATCH as u64).min(self.left);
        self.left -= k;
        let (rng, n) = (&mut self.rng, self.nodes);
        self.idx.clear();
        self.idx.extend((0..k).map(|_| (rng.below(n) as u32, rng.below(n) as u32)));
        Some(&self.idx)
    }
}

/// The store phase of the peers that need no safepoints: for each batch, in
/// `Active` first `short_lived(q)` for `q` in `0..SHORT_LIVED` (allocating
/// short-lived nodes), then the batch's stores `store(i, j)` (node `i`'s
/// `left` := node `j`), timed. Returns the time spent storing.
pub(crate) fn store_phase(
    v: Variant,
    s: Sizes,
    mut short_lived: impl FnMut(u64),
    mut store: impl FnMut(usize, usize),
) -> Duration {
    let mut batches = Batches::new(s);
    let mut timed = Duration::ZERO;
    while let Some(idx) = batches.next_batch() {
        if v == Variant::Active {
            for q in 0..SHORT_LIVED {
                short_lived(q as u64);
            }
        }
        let t0 = Instant::now();
        for &(i, j) in idx {
            store(i as usize, j as usize);
        }
        timed += t0.elapsed();
    }
    timed
}

/// Folds the `left` targets of all nodes (`None` as 0, node `j` as `j + 1`).
pub(crate) fn fold_left(acc: u64, left: Option<u64>) -> u64 {
    (acc ^ left.map_or(0, |id| id + 1)).wrapping_mul(0x0000_0100_0000_01B3)
}

pub(crate) fn outcome(
    s: Sizes,
    checksum: u64,
    timed: Duration,
    gc: Option<GcSummary>,
    metrics: Vec<(String, f64)>,
) -> Outcome {
    Outcome { ops: s.stores, checksum, lines: Vec::new(), gc, timed: Some(timed), metrics }
}

// ----- Shade ----------------------------------------------------------------

/// Barrier entries one store records in the Shade heap's configuration:
/// `Config::default()` records the old value only, unless `SHADE_DEBUG`
/// says `wbrecord=hybrid`.
fn entries_per_store() -> u64 {
    let mut c = Config::default();
    if let Ok(spec) = std::env::var("SHADE_DEBUG") {
        let _ = c.apply_debug(&spec);
    }
    if c.barrier_record == shade::BarrierRecord::OldAndNew {
        2
    } else {
        1
    }
}

#[derive(Trace)]
struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
    id: u64,
}

/// Runs the Shade peer with explicit sizes.
pub fn run_shade(v: Variant, s: Sizes) -> Outcome {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let n = s.nodes;
    let table = mu.local(mu.alloc_array(n, |_| Slot::<Node>::null()));
    for start in (0..n).step_by(4096) {
        {
            let t = table.get(&mu);
            for (i, slot) in t.iter().enumerate().take((start + 4096).min(n)).skip(start) {
                slot.set(&mu, mu.alloc(Node { left: Slot::null(), right: Slot::null(), id: i as u64 }));
            }
        }
        mu.safepoint();
    }
    {
        let t = table.get(&mu);
        for i in 0..n {
            if let Some(a) = t[i].get(&mu) {
                a.right.set(&mu, t[(i + 1) % n].get(&mu));
            }
        }
    }
    mu.collect(); // settle: no cycle or sweep left over from building

    let before = heap.stats();
    let forcer = Forcer::start(&heap, v == Variant::Forced);
    let mut batches = Batches::new(s);
    let mut timed = Duration::ZERO;
    while let Some(idx) = batches.next_batch() {
        if v == Variant::Active {
            for q in 0..SHORT_LIVED {
                black_box(mu.alloc(Node { left: Slot::null(), right: Slot::null(), id: q as u64 }));
            }
        }
        {
            let t = table.get(&mu);
            let t0 = Instant::now();
            for &(i, j) in idx {
                if let Some(a) = t[i as usize].get(&mu) {
                    a.left.set(&mu, t[j as usize].get(&mu));
                }
            }
            timed += t0.elapsed();
        }
        mu.safepoint();
    }
    forcer.stop(&mut mu);
    let cycles = heap.stats().cycles - before.cycles;
    mu.collect(); // publishes the barrier counters of the store phase
    let after = heap.stats();

    let checksum = {
        let t = table.get(&mu);
        t.iter().fold(0, |acc, slot| fold_left(acc, slot.get(&mu).and_then(|a| a.left.get(&mu)).map(|l| l.id)))
    };
    drop(table);
    // Stores made with the barrier on, counted by the entries they recorded
    // (`BarrierStats::stores` counts only the barrier's slow path).
    let active = (after.barrier.entries - before.barrier.entries) / entries_per_store();
    let metrics = vec![
        ("barrier on (% of stores)".to_string(), 100.0 * active as f64 / s.stores.max(1) as f64),
        ("cycles during stores".to_string(), cycles as f64),
    ];
    let gc = GcSummary::from_shade(&after);
    drop(mu);
    drop(heap);
    outcome(s, checksum, timed, Some(gc), metrics)
}

// ----- Rc -------------------------------------------------------------------

struct RcNode {
    left: RefCell<Option<Rc<RcNode>>>,
    right: RefCell<Option<Rc<RcNode>>>,
    id: u64,
}

/// Runs the Rc peer with explicit sizes.
pub fn run_rc(v: Variant, s: Sizes) -> Outcome {
    let n = s.nodes;
    let nodes: Vec<Rc<RcNode>> =
        (0..n).map(|i| Rc::new(RcNode { left: RefCell::new(None), right: RefCell::new(None), id: i as u64 })).collect();
    for i in 0..n {
        *nodes[i].right.borrow_mut() = Some(Rc::clone(&nodes[(i + 1) % n]));
    }
    let timed = store_phase(
        v,
        s,
        |q| {
            black_box(Rc::new(RcNode { left: RefCell::new(None), right: RefCell::new(None), id: q }));
        },
        |i, j| *nodes[i].left.borrow_mut() = Some(Rc::clone(&nodes[j])),
    );
    let checksum = nodes.iter().fold(0, |acc, a| fold_left(acc, a.left.borrow().as_ref().map(|l| l.id)));
    // Break the cycles so the nodes are freed.
    for a in &nodes {
        a.left.take();
        a.right.take();
    }
    outcome(s, checksum, timed, None, Vec::new())
}

// ----- Arc ------------------------------------------------------------------

struct ArcNode {
    left: Mutex<Option<Arc<ArcNode>>>,
    right: Mutex<Option<Arc<ArcNode>>>,
    id: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the Arc peer with explicit sizes.
pub fn run_arc(v: Variant, s: Sizes) -> Outcome {
    let n = s.nodes;
    let nodes: Vec<Arc<ArcNode>> =
        (0..n).map(|i| Arc::new(ArcNode { left: Mutex::new(None), right: Mutex::new(None), id: i as u64 })).collect();
    for i in 0..n {
        *lock(&nodes[i].right) = Some(Arc::clone(&nodes[(i + 1) % n]));
    }
    let timed = store_phase(
        v,
        s,
        |q| {
            black_box(Arc::new(ArcNode { left: Mutex::new(None), right: Mutex::new(None), id: q }));
        },
        |i, j| *lock(&nodes[i].left) = Some(Arc::clone(&nodes[j])),
    );
    let checksum = nodes.iter().fold(0, |acc, a| fold_left(acc, lock(&a.left).as_ref().map(|l| l.id)));
    for a in &nodes {
        lock(&a.left).take();
        lock(&a.right).take();
    }
    outcome(s, checksum, timed, None, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_reference_stream() {
        // First outputs of splitmix64 seeded with 0 (reference values).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64::new(SEED);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn peers_agree() {
        for s in [Sizes { nodes: 2, stores: 3 }, Sizes { nodes: 1000, stores: 25_000 }] {
            let want = run_rc(Variant::Quiet, s).checksum;
            assert_eq!(run_arc(Variant::Quiet, s).checksum, want, "{s:?}");
            assert_eq!(run_rc(Variant::Active, s).checksum, want, "{s:?}");
            for v in [Variant::Quiet, Variant::Active, Variant::Forced] {
                let o = run_shade(v, s);
                assert_eq!(o.checksum, want, "{v:?} {s:?}");
                assert_eq!(o.ops, s.stores);
                assert!(o.timed.is_some());
            }
        }
    }
}
