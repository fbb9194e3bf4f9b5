//! Workload `write-barrier` (W5): what Shade's write barrier costs per
//! store, in the shape of Go's `BenchmarkWriteBarrier` (runtime/gc_test.go):
//! build a binary tree of depth 22, then reverse it in place several times,
//! two pointer stores per node, while another thread forces collections back
//! to back so the barrier is on for most of the stores.
//!
//! Each barrier configuration is a peer (its own child process, peers
//! interleaved within each repetition):
//!
//! * `shade-buffered`: the default barrier (buffered, records the
//!   overwritten pointer), the subject;
//! * `shade-buffered-hybrid`: buffered, records old and new (Go's hybrid
//!   barrier);
//! * `shade-eager`, `shade-eager-hybrid`: every recorded pointer shaded at
//!   once (the baseline that shows what the buffer buys);
//! * `shade-off`: Shade with no collection running, so the barrier is its
//!   flag test only;
//! * `plain-atomic`: the same tree as a `Vec` of nodes with `AtomicUsize`
//!   child indices (16 bytes, as Shade's headerless nodes), reversed with
//!   the same acquire loads and release stores: what a store costs with no
//!   collector.
//!
//! To let collections start and finish while the tree is being reversed (a
//! Shade mutator holds no `Gc` across a safepoint), the tree is reversed in
//! chunks: the top [`frontier_depth`] levels, then each subtree below them,
//! with a safepoint after each subtree (about 16,000 stores). Only the
//! reversals are timed, not the safepoints (where stop-the-world pauses are
//! waited out), so ns/store is the store and barrier cost alone.
//!
//! Metrics per Shade mode: the share of stores that ran with the barrier on,
//! flushes per million barriers that ran with it on, and what the flushes found: the
//! shares of flushed entries that were nil, already marked, newly marked but
//! pointer-free (noscan) and newly grey. The report derives the barrier
//! overhead of each mode (its ns/store minus `shade-off`'s), how many times
//! cheaper the buffered overhead is than the eager one (target ≥ 4×) and the
//! ratio of `shade-off` to `plain-atomic` (target ≤ 1.1×).

use super::{Bench, Forcer, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId, PRIMARY, PRIMARY_MIN};
use shade::{Array, BarrierMode, BarrierRecord, Config, Gc, Heap, Mutator, Slot, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The benchmark id.
pub const ID: &str = "write-barrier";

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Tree depth (22: 2^23 − 1 nodes).
    pub depth: u32,
    /// Timed reversals of the whole tree.
    pub passes: u32,
}

impl Sizes {
    /// Depth 22 shifted by log2 of the scale; 4 passes.
    pub fn of(p: &Params) -> Sizes {
        Sizes { depth: (22 + p.depth_shift()).clamp(4, 26) as u32, passes: 4 }
    }

    /// Nodes in the tree.
    pub fn nodes(self) -> u64 {
        (1u64 << (self.depth + 1)) - 1
    }
}

/// Levels reversed before the per-subtree chunks: subtrees of depth 12
/// (8,191 nodes) below it.
pub fn frontier_depth(depth: u32) -> u32 {
    depth.saturating_sub(12)
}

/// A barrier configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No collector: `AtomicUsize` stores.
    PlainAtomic,
    /// Shade, no cycle running.
    Off,
    /// Shade, cycles forced, buffered barrier.
    Buffered(BarrierRecord),
    /// Shade, cycles forced, eager barrier.
    Eager(BarrierRecord),
}

/// The peers: (name, mode, one line on it), the subject first.
const MODES: [(&str, Mode, &str); 6] = [
    ("shade-buffered", Mode::Buffered(BarrierRecord::Old), "Shade, buffered barrier recording old values (default)"),
    ("shade-buffered-hybrid", Mode::Buffered(BarrierRecord::OldAndNew), "Shade, buffered barrier, old and new values"),
    ("shade-eager", Mode::Eager(BarrierRecord::Old), "Shade, eager barrier (shade at once), old values"),
    ("shade-eager-hybrid", Mode::Eager(BarrierRecord::OldAndNew), "Shade, eager barrier, old and new values"),
    ("shade-off", Mode::Off, "Shade, no collection running (barrier flag test only)"),
    ("plain-atomic", Mode::PlainAtomic, "no collector: AtomicUsize release stores"),
];

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    fn peer(i: usize, run: fn(&Params) -> Outcome) -> Peer {
        Peer { name: MODES[i].0, about: MODES[i].2, kind: PeerKind::InProcess(run) }
    }
    vec![Bench {
        id: ID,
        workload: WorkloadId::WriteBarrier,
        title: "write-barrier: cost of a pointer store per barrier mode",
        about: |p| {
            let s = Sizes::of(p);
            format!(
                "Go's BenchmarkWriteBarrier shape: a binary tree of depth {} ({} nodes) reversed in place {} \
                 times, two pointer stores per node ({} stores), in chunks (the top {} levels, then each \
                 subtree below them, a safepoint after each); only the reversals are timed. In the \
                 `shade-buffered`, `shade-buffered-hybrid`, `shade-eager` and `shade-eager-hybrid` modes \
                 another thread calls `heap.collect()` back to back; `shade-off` runs no collection; \
                 `plain-atomic` is a `Vec` of 16-byte nodes like Shade's (two `AtomicUsize` child \
                 indices; acquire loads, release stores, no collector). Metrics: share of stores with the barrier on, flushes per \
                 million recorded barriers, and the shares of flushed entries that were nil, already \
                 marked, noscan or newly grey.",
                s.depth,
                s.nodes(),
                s.passes,
                2 * s.nodes() * u64::from(s.passes),
                frontier_depth(s.depth)
            )
        },
        unit: Unit::NsPerOp("store"),
        peers: vec![
            peer(0, |p| run(MODES[0].1, Sizes::of(p))),
            peer(1, |p| run(MODES[1].1, Sizes::of(p))),
            peer(2, |p| run(MODES[2].1, Sizes::of(p))),
            peer(3, |p| run(MODES[3].1, Sizes::of(p))),
            peer(4, |p| run(MODES[4].1, Sizes::of(p))),
            peer(5, |p| run(MODES[5].1, Sizes::of(p))),
        ],
    }]
}

/// Runs one mode with explicit sizes.
pub fn run(mode: Mode, s: Sizes) -> Outcome {
    match mode {
        Mode::PlainAtomic => run_plain(s),
        Mode::Off => run_shade(BarrierMode::Buffered, BarrierRecord::Old, false, s),
        Mode::Buffered(r) => run_shade(BarrierMode::Buffered, r, true, s),
        Mode::Eager(r) => run_shade(BarrierMode::Eager, r, true, s),
    }
}

/// Every mode's checksum: the tree's node count and the stores made (the
/// tree's shape is symmetric, so reversing it changes nothing else).
fn checksum(nodes: u64, stores: u64) -> u64 {
    nodes.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stores
}

// ----- Shade ----------------------------------------------------------------

#[derive(Trace)]
struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
}

fn build(mu: &Mutator, depth: u32) -> Gc<'_, Node> {
    if depth == 0 {
        return mu.alloc(Node { left: Slot::null(), right: Slot::null() });
    }
    let (l, r) = (build(mu, depth - 1), build(mu, depth - 1));
    mu.alloc(Node { left: Slot::new(l), right: Slot::new(r) })
}

/// The level limit one level down (`u32::MAX` stays unlimited).
#[inline]
fn deeper(levels: u32) -> u32 {
    if levels == u32::MAX {
        u32::MAX
    } else {
        levels - 1
    }
}

/// Swaps the children of `n` and of its descendants down to `levels` levels
/// below it (`u32::MAX`: the whole subtree); returns the stores made.
fn reverse(mu: &Mutator, n: Gc<'_, Node>, levels: u32) -> u64 {
    if levels == 0 {
        return 0;
    }
    let (l, r) = (n.left.get(mu), n.right.get(mu));
    n.left.set(mu, r);
    n.right.set(mu, l);
    let mut stores = 2;
    if let Some(l) = l {
        stores += reverse(mu, l, deeper(levels));
    }
    if let Some(r) = r {
        stores += reverse(mu, r, deeper(levels));
    }
    stores
}

fn count(mu: &Mutator, n: Gc<'_, Node>) -> u64 {
    1 + n.left.get(mu).map_or(0, |l| count(mu, l)) + n.right.get(mu).map_or(0, |r| count(mu, r))
}

/// The top `levels` levels of the tree over the subtrees in `sub`, taken
/// left to right from `sub[*next]` on.
fn build_top<'m>(mu: &'m Mutator, sub: &Array<Slot<Node>>, levels: u32, next: &mut usize) -> Gc<'m, Node> {
    if levels == 0 {
        *next += 1;
        return sub[*next - 1].get(mu).expect("subtree built");
    }
    let l = build_top(mu, sub, levels - 1, next);
    let r = build_top(mu, sub, levels - 1, next);
    mu.alloc(Node { left: Slot::new(l), right: Slot::new(r) })
}

fn run_shade(barrier: BarrierMode, record: BarrierRecord, forced: bool, s: Sizes) -> Outcome {
    // `read_env: false`: SHADE_DEBUG must not change the mode measured.
    let heap = Heap::new(Config { barrier, barrier_record: record, read_env: false, ..Config::default() })
        .unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    // Build the subtrees below the frontier one by one, with a safepoint
    // after each (so collections can run while building), then the levels
    // above them.
    let top = frontier_depth(s.depth);
    let subtrees = mu.local(mu.alloc_array(1usize << top, |_| Slot::<Node>::null()));
    for i in 0..1usize << top {
        {
            let t = build(&mu, s.depth - top);
            subtrees.get(&mu)[i].set(&mu, t);
        }
        mu.safepoint();
    }
    let root = mu.local(build_top(&mu, &subtrees.get(&mu), top, &mut 0));
    mu.collect(); // settle: the tree is marked live, sweep done
    reverse(&mu, root.get(&mu), u32::MAX); // warm up

    let before = heap.stats();
    let forcer = Forcer::start(&heap, forced);
    let n_sub = subtrees.get(&mu).len();
    let mut timed = Duration::ZERO;
    let mut stores = 0;
    for _ in 0..s.passes {
        let t0 = Instant::now();
        stores += reverse(&mu, root.get(&mu), top);
        timed += t0.elapsed();
        for i in 0..n_sub {
            {
                let sub = subtrees.get(&mu);
                let t0 = Instant::now();
                if let Some(n) = sub[i].get(&mu) {
                    stores += reverse(&mu, n, u32::MAX);
                }
                timed += t0.elapsed();
            }
            mu.safepoint();
        }
    }
    forcer.stop(&mut mu);
    let cycles = heap.stats().cycles - before.cycles;
    mu.collect(); // the final termination publishes the barrier counters
    let after = heap.stats();
    let nodes = count(&mu, root.get(&mu));
    drop((root, subtrees));

    // `BarrierStats::stores` counts only the barrier's slow path (a full
    // buffer, or every store in eager mode), so the stores made with the
    // barrier on are counted by their entries: 1 per store recording the
    // old value, 2 recording old and new.
    let (b, b0) = (after.barrier, before.barrier);
    let entries = b.entries - b0.entries;
    let per_store = if record == BarrierRecord::OldAndNew { 2 } else { 1 };
    let active = entries / per_store;
    let pct = |x: u64| 100.0 * x as f64 / entries.max(1) as f64;
    let mut metrics = vec![("barrier on (% of stores)".to_string(), 100.0 * active as f64 / stores.max(1) as f64)];
    if active > 0 {
        metrics.extend([
            ("flushes per M barriers".to_string(), (b.flushes - b0.flushes) as f64 * 1e6 / active as f64),
            ("nil %".to_string(), pct(b.nil - b0.nil)),
            ("already marked %".to_string(), pct(b.already_marked - b0.already_marked)),
            ("noscan %".to_string(), pct(b.noscan - b0.noscan)),
            ("newly grey %".to_string(), pct(b.greyed - b0.greyed)),
        ]);
    }
    metrics.push(("cycles while storing".to_string(), cycles as f64));
    let gc = GcSummary::from_shade(&after);
    drop(mu);
    drop(heap);
    Outcome {
        ops: stores,
        checksum: checksum(nodes, stores),
        lines: Vec::new(),
        gc: Some(gc),
        timed: Some(timed),
        metrics,
    }
}

// ----- plain atomic ---------------------------------------------------------

/// A node of the plain tree: child indices + 1 into the node vector (0:
/// none). 16 bytes, as a Shade node (objects have no header), so both trees
/// are laid out alike and the comparison is of the store paths, not of the
/// memory footprint.
struct PlainNode {
    left: AtomicUsize,
    right: AtomicUsize,
}

/// Appends a tree of depth `depth` to `nodes` (children before parents, the
/// order Shade allocates them in); returns its root's index + 1.
fn build_plain(nodes: &mut Vec<PlainNode>, depth: u32) -> usize {
    let (l, r) = if depth == 0 { (0, 0) } else { (build_plain(nodes, depth - 1), build_plain(nodes, depth - 1)) };
    nodes.push(PlainNode { left: AtomicUsize::new(l), right: AtomicUsize::new(r) });
    nodes.len()
}

fn reverse_plain(nodes: &[PlainNode], n: usize, levels: u32) -> u64 {
    if levels == 0 {
        return 0;
    }
    let node = &nodes[n - 1];
    let (l, r) = (node.left.load(Ordering::Acquire), node.right.load(Ordering::Acquire));
    node.left.store(r, Ordering::Release);
    node.right.store(l, Ordering::Release);
    let mut stores = 2;
    if l != 0 {
        stores += reverse_plain(nodes, l, deeper(levels));
    }
    if r != 0 {
        stores += reverse_plain(nodes, r, deeper(levels));
    }
    stores
}

fn count_plain(nodes: &[PlainNode], n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let node = &nodes[n - 1];
    1 + count_plain(nodes, node.left.load(Ordering::Relaxed)) + count_plain(nodes, node.right.load(Ordering::Relaxed))
}

/// As `build_top`: the top `levels` levels over the subtree roots `sub`.
fn build_top_plain(nodes: &mut Vec<PlainNode>, sub: &[usize], levels: u32, next: &mut usize) -> usize {
    if levels == 0 {
        *next += 1;
        return sub[*next - 1];
    }
    let l = build_top_plain(nodes, sub, levels - 1, next);
    let r = build_top_plain(nodes, sub, levels - 1, next);
    nodes.push(PlainNode { left: AtomicUsize::new(l), right: AtomicUsize::new(r) });
    nodes.len()
}

fn run_plain(s: Sizes) -> Outcome {
    // The same construction order as Shade's: the subtrees, then the top.
    let top = frontier_depth(s.depth);
    let mut nodes = Vec::with_capacity(s.nodes() as usize);
    let subtrees: Vec<usize> = (0..1usize << top).map(|_| build_plain(&mut nodes, s.depth - top)).collect();
    let root = build_top_plain(&mut nodes, &subtrees, top, &mut 0);
    let nodes = nodes;
    reverse_plain(&nodes, root, u32::MAX); // warm up
    let mut timed = Duration::ZERO;
    let mut stores = 0;
    for _ in 0..s.passes {
        let t0 = Instant::now();
        stores += reverse_plain(std::hint::black_box(&nodes), root, top);
        timed += t0.elapsed();
        for &n in &subtrees {
            let t0 = Instant::now();
            stores += reverse_plain(std::hint::black_box(&nodes), n, u32::MAX);
            timed += t0.elapsed();
        }
    }
    let total = count_plain(&nodes, root);
    Outcome {
        ops: stores,
        checksum: checksum(total, stores),
        lines: Vec::new(),
        gc: None,
        timed: Some(timed),
        metrics: Vec::new(),
    }
}

// ----- derived figures ------------------------------------------------------

/// The report's derived lines: barrier overhead per mode, buffered vs
/// eager, barrier-off vs plain atomic, each target judged on the medians
/// and on the minima over the runs (steadier on a busy machine).
/// `get(peer, key)` gives a peer's ns/store ([`PRIMARY`]: median,
/// [`PRIMARY_MIN`]: minimum).
pub fn derived(get: &dyn Fn(&str, &str) -> Option<f64>) -> Vec<String> {
    let mut out = Vec::new();
    let ns = |peer: &str, key: &str| get(peer, key);
    let overhead = |peer: &str, key: &str| Some(ns(peer, key)? - ns("shade-off", key)?);
    if ns("shade-off", PRIMARY).is_none() {
        return out;
    }
    let parts: Vec<String> = MODES[..4]
        .iter()
        .filter_map(|(name, _, _)| {
            let (o, m) = (overhead(name, PRIMARY)?, overhead(name, PRIMARY_MIN)?);
            Some(format!("{name} {o:+.2} [{m:+.2}] ns"))
        })
        .collect();
    if !parts.is_empty() {
        out.push(format!("barrier overhead per store (mode − shade-off), median [min]: {}", parts.join(", ")));
    }
    let verdict = |ok: bool| if ok { "**met**" } else { "**missed**" };
    for (buffered, eager, what) in
        [("shade-buffered", "shade-eager", "old"), ("shade-buffered-hybrid", "shade-eager-hybrid", "old+new")]
    {
        // (text, target met) for the medians and the minima.
        let judge = |key: &str| -> Option<(String, bool)> {
            let (b, e) = (overhead(buffered, key)?, overhead(eager, key)?);
            Some(if b > 0.0 {
                (format!("{:.1}× ({b:.2} vs {e:.2} ns)", e / b), e / b >= 4.0)
            } else {
                (format!("buffered overhead {b:+.2} ns within noise of zero (eager {e:+.2} ns)"), true)
            })
        };
        let (Some((med, med_ok)), Some((min, min_ok))) = (judge(PRIMARY), judge(PRIMARY_MIN)) else { continue };
        out.push(format!(
            "{what}: buffered overhead is **{med}** cheaper than eager on the medians, {min} on the minima: \
             target ≥ 4× {} (median), {} (min)",
            verdict(med_ok),
            verdict(min_ok)
        ));
    }
    let ratio = |key: &str| Some((ns("shade-off", key)?, ns("plain-atomic", key).filter(|&p| p > 0.0)?));
    if let (Some((off, plain)), Some((off_min, plain_min))) = (ratio(PRIMARY), ratio(PRIMARY_MIN)) {
        let (x, y) = (off / plain, off_min / plain_min);
        out.push(format!(
            "barrier-off / plain atomic store: **{x:.2}×** ({off:.2} vs {plain:.2} ns) on the medians, {y:.2}× \
             ({off_min:.2} vs {plain_min:.2} ns) on the minima: target ≤ 1.1× {} (median), {} (min)",
            verdict(x <= 1.1),
            verdict(y <= 1.1)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_agree() {
        let s = Sizes { depth: 14, passes: 2 };
        let want = run(Mode::PlainAtomic, s);
        assert_eq!(want.ops, 2 * s.nodes() * 2);
        for (name, mode, _) in MODES {
            let o = run(mode, s);
            assert_eq!((o.checksum, o.ops), (want.checksum, want.ops), "{name}");
            if mode != Mode::PlainAtomic {
                assert!(o.gc.is_some() && o.metrics.iter().any(|m| m.0.starts_with("barrier on")), "{name}");
            }
        }
    }

    #[test]
    fn derived_lines() {
        let ns = |peer: &str| match peer {
            "shade-buffered" => Some(6.0),
            "shade-eager" => Some(25.0),
            "shade-buffered-hybrid" => Some(7.0),
            "shade-eager-hybrid" => Some(9.0),
            "shade-off" => Some(5.0),
            "plain-atomic" => Some(4.8),
            _ => None,
        };
        let lines = derived(&|peer, key| match key {
            PRIMARY => ns(peer),
            PRIMARY_MIN => ns(peer).map(|x| x - 0.5),
            _ => None,
        });
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].contains("shade-eager +20.00 [+20.00] ns"), "{}", lines[0]);
        assert!(lines[1].contains("**20.0× (1.00 vs 20.00 ns)** cheaper"), "{}", lines[1]);
        assert!(lines[1].contains("**met** (median), **met** (min)"), "{}", lines[1]);
        assert!(
            lines[2].contains("**2.0× (2.00 vs 4.00 ns)**") && lines[2].contains("**missed** (median)"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("**1.04×**") && lines[3].contains("1.05×") && lines[3].contains("**met** (min)"),
            "{}",
            lines[3]
        );
        // Without shade-off there is nothing to derive.
        assert!(derived(&|peer, _| if peer == "shade-off" { None } else { Some(1.0) }).is_empty());
    }
}
