//! Workload `binary-trees`: the benchmarks-game binary-trees program,
//! single-threaded.
//!
//! With N = max(depth, 6): build and check a "stretch" tree of depth N+1 and
//! drop it; build a long-lived tree of depth N; then for d = 4, 6, …, N build
//! and check 2^(N-d+4) trees of depth d, each dropped after its check;
//! finally check the long-lived tree. `check` counts nodes. Every peer prints
//! the same lines, which are compared across peers.
//!
//! Peers: Shade (as in `shade/examples/binary_trees.rs`: `Slot` children, a
//! safepoint after every tree, the long-lived tree held by a `Local`; and
//! `shade-object`, the same with object-at-a-time marking), `Rc`
//! nodes (reference counting, the usual "GC" stand-in in Rust) and `Box`
//! nodes (single ownership, the malloc/free reference point).

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Gc, Heap, MarkMode, Mutator, Slot, Trace};
use std::rc::Rc;

/// Minimum tree depth of the iterated trees.
const MIN_DEPTH: u32 = 4;

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "binary-trees",
        workload: WorkloadId::BinaryTrees,
        title: "binary-trees",
        about: |p| {
            let n = max_depth(p.depth);
            format!(
                "Benchmarks-game binary-trees, depth {n}, single-threaded: stretch tree of \
                 depth {}, long-lived tree of depth {n}, then 2^({n}-d+4) trees of depth d for \
                 d = 4, 6, …, {n}; {} nodes allocated in all. Shade: `Slot` children, a \
                 safepoint after each tree. Rc: `Option<Rc<Node>>` children. Box: \
                 `Option<Box<Node>>` children.",
                n + 1,
                total_nodes(n)
            )
        },
        unit: Unit::Seconds,
        peers: vec![
            Peer {
                name: "shade",
                about: "Shade heap (Config::default())",
                kind: PeerKind::InProcess(|p| shade_trees(p, None)),
            },
            Peer {
                name: "shade-object",
                about: "Shade, object-at-a-time marking (mark=object)",
                kind: PeerKind::InProcess(|p| shade_trees(p, Some(MarkMode::Object))),
            },
            Peer { name: "rc", about: "std::rc::Rc nodes", kind: PeerKind::InProcess(rc_trees) },
            Peer {
                name: "box",
                about: "Box nodes (malloc/free reference point)",
                kind: PeerKind::InProcess(box_trees),
            },
        ],
    }]
}

/// N as the benchmarks game defines it.
pub(crate) fn max_depth(depth: u32) -> u32 {
    depth.max(MIN_DEPTH + 2)
}

/// Nodes in a tree of depth `d`.
fn nodes(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// The iterated phase: (depth, number of trees).
pub(crate) fn schedule(n: u32) -> impl Iterator<Item = (u32, u64)> {
    (MIN_DEPTH..=n).step_by(2).map(move |d| (d, 1u64 << (n - d + MIN_DEPTH)))
}

/// Nodes allocated by a whole run at depth `n`.
fn total_nodes(n: u32) -> u64 {
    nodes(n + 1) + nodes(n) + schedule(n).map(|(d, k)| k * nodes(d)).sum::<u64>()
}

/// Collects the output lines and the checksum (sum of all checks).
#[derive(Default)]
pub(crate) struct Report {
    lines: Vec<String>,
    checksum: u64,
}

impl Report {
    pub(crate) fn stretch(&mut self, n: u32, check: u64) {
        self.add(format!("stretch tree of depth {}\t check: {check}", n + 1), check);
    }
    pub(crate) fn iterated(&mut self, k: u64, d: u32, check: u64) {
        self.add(format!("{k}\t trees of depth {d}\t check: {check}"), check);
    }
    pub(crate) fn long_lived(&mut self, n: u32, check: u64) {
        self.add(format!("long lived tree of depth {n}\t check: {check}"), check);
    }
    fn add(&mut self, line: String, check: u64) {
        self.lines.push(line);
        self.checksum = self.checksum.wrapping_add(check);
    }
    pub(crate) fn finish(self, n: u32, gc: Option<GcSummary>) -> Outcome {
        Outcome { ops: total_nodes(n), checksum: self.checksum, lines: self.lines, gc, ..Outcome::default() }
    }
}

// ----- Shade ----------------------------------------------------------------

/// A tree node (also heap-scaling's).
#[derive(Trace)]
pub(crate) struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
}

pub(crate) fn shade_bottom_up(mu: &Mutator, depth: u32) -> Gc<'_, Node> {
    if depth == 0 {
        return mu.alloc(Node { left: Slot::null(), right: Slot::null() });
    }
    let left = shade_bottom_up(mu, depth - 1);
    let right = shade_bottom_up(mu, depth - 1);
    mu.alloc(Node { left: Slot::new(left), right: Slot::new(right) })
}

pub(crate) fn shade_check(mu: &Mutator, node: Gc<'_, Node>) -> u64 {
    match (node.left.get(mu), node.right.get(mu)) {
        (Some(l), Some(r)) => 1 + shade_check(mu, l) + shade_check(mu, r),
        _ => 1,
    }
}

fn shade_trees(p: &Params, mark: Option<MarkMode>) -> Outcome {
    let n = max_depth(p.depth);
    let mut out = Report::default();
    let mut config = Config::default();
    if let Some(m) = mark {
        config.mark = m;
    }
    let heap = Heap::new(config).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    {
        let stretch = shade_bottom_up(&mu, n + 1);
        out.stretch(n, shade_check(&mu, stretch));
    }
    mu.safepoint();
    let long_lived = mu.local(shade_bottom_up(&mu, n));
    for (d, k) in schedule(n) {
        let mut sum = 0;
        for _ in 0..k {
            sum += shade_check(&mu, shade_bottom_up(&mu, d));
            mu.safepoint();
        }
        out.iterated(k, d, sum);
    }
    out.long_lived(n, shade_check(&mu, long_lived.get(&mu)));
    drop(long_lived);
    let st = heap.stats();
    let gc = GcSummary::from_shade(&st);
    drop(mu);
    drop(heap);
    Outcome { metrics: super::heap_scaling::mark_metrics(&st), ..out.finish(n, Some(gc)) }
}

// ----- Rc -------------------------------------------------------------------

/// A tree node (also heap-scaling's).
pub(crate) struct RcNode {
    left: Option<Rc<RcNode>>,
    right: Option<Rc<RcNode>>,
}

pub(crate) fn rc_bottom_up(depth: u32) -> Rc<RcNode> {
    if depth == 0 {
        return Rc::new(RcNode { left: None, right: None });
    }
    Rc::new(RcNode { left: Some(rc_bottom_up(depth - 1)), right: Some(rc_bottom_up(depth - 1)) })
}

pub(crate) fn rc_check(node: &RcNode) -> u64 {
    match (&node.left, &node.right) {
        (Some(l), Some(r)) => 1 + rc_check(l) + rc_check(r),
        _ => 1,
    }
}

fn rc_trees(p: &Params) -> Outcome {
    let n = max_depth(p.depth);
    let mut out = Report::default();
    {
        let stretch = rc_bottom_up(n + 1);
        out.stretch(n, rc_check(&stretch));
    }
    let long_lived = rc_bottom_up(n);
    for (d, k) in schedule(n) {
        let mut sum = 0;
        for _ in 0..k {
            sum += rc_check(&rc_bottom_up(d));
        }
        out.iterated(k, d, sum);
    }
    out.long_lived(n, rc_check(&long_lived));
    drop(long_lived);
    out.finish(n, None)
}

// ----- Box ------------------------------------------------------------------

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
}

fn box_bottom_up(depth: u32) -> Box<BoxNode> {
    if depth == 0 {
        return Box::new(BoxNode { left: None, right: None });
    }
    Box::new(BoxNode { left: Some(box_bottom_up(depth - 1)), right: Some(box_bottom_up(depth - 1)) })
}

fn box_check(node: &BoxNode) -> u64 {
    match (&node.left, &node.right) {
        (Some(l), Some(r)) => 1 + box_check(l) + box_check(r),
        _ => 1,
    }
}

fn box_trees(p: &Params) -> Outcome {
    let n = max_depth(p.depth);
    let mut out = Report::default();
    {
        let stretch = box_bottom_up(n + 1);
        out.stretch(n, box_check(&stretch));
    }
    let long_lived = box_bottom_up(n);
    for (d, k) in schedule(n) {
        let mut sum = 0;
        for _ in 0..k {
            sum += box_check(&box_bottom_up(d));
        }
        out.iterated(k, d, sum);
    }
    out.long_lived(n, box_check(&long_lived));
    drop(long_lived);
    out.finish(n, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_agree_and_match_the_reference_output() {
        let p = Params { depth: 6, alloc_count: 0, ..Params::default() };
        let (s, r, b) = (shade_trees(&p, None), rc_trees(&p), box_trees(&p));
        assert_eq!(shade_trees(&p, Some(MarkMode::Object)).lines, s.lines);
        assert_eq!(
            s.lines,
            [
                "stretch tree of depth 7\t check: 255",
                "64\t trees of depth 4\t check: 1984",
                "16\t trees of depth 6\t check: 2032",
                "long lived tree of depth 6\t check: 127",
            ]
        );
        assert_eq!(s.lines, r.lines);
        assert_eq!(s.lines, b.lines);
        assert_eq!((s.checksum, s.ops), (r.checksum, r.ops));
        assert_eq!(s.ops, 255 + 127 + 64 * 31 + 16 * 127);
    }
}
