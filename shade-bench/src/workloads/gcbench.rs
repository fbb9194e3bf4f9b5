//! Workload `gcbench` (W2): Hans Boehm's GCBench (the Ellis/Kovac/Boehm
//! benchmark), single-threaded.
//!
//! With the sizes: build and drop a "stretch" tree of depth 18; build
//! a long-lived tree of depth 16 (top down) and a long-lived array of 500,000
//! doubles (the first half set to `1/i`); then for d = 4, 6, …, 16 build
//! NumIters(d) = 2 × TreeSize(18) / TreeSize(d) short-lived trees of depth d
//! top down (allocate a node, then store freshly allocated children into it:
//! two pointer stores into an existing object per node, i.e. write-barrier
//! traffic) and as many bottom up (children first, the parent allocated with
//! its pointers in place: no stores into old objects). Finally the
//! long-lived tree and the array are checked.
//!
//! GCBench itself checks nothing but the array; to compare peers, the last
//! tree of each kind and depth, the stretch tree and the long-lived tree are
//! counted, and the counts are printed and summed into the checksum.
//!
//! Peers: Shade (`Slot` children, a safepoint after every tree, the
//! long-lived tree and array held by `Local`s), `Rc` nodes with `RefCell`
//! children (`Rc<RefCell<..>>` style, needed for the top-down stores) and
//! `Arc` nodes with `Mutex` children.

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Gc, Heap, Mutator, Slot, Trace};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Depth of the smallest short-lived trees.
pub const MIN_DEPTH: u32 = 4;

/// The sizes of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Depth of the stretch tree (18).
    pub stretch: u32,
    /// Depth of the long-lived tree (16).
    pub long_lived: u32,
    /// Depth of the largest short-lived trees (16).
    pub max: u32,
    /// Length of the long-lived array (500,000).
    pub array: usize,
}

impl Sizes {
    /// GCBench's sizes, the depths shifted by log2 of the gcbench scale and
    /// the array scaled.
    pub fn of(p: &Params) -> Sizes {
        let p = &Params { scale: p.gcbench_scale, ..*p };
        let shift = p.depth_shift();
        let d = |x: i32| (x + shift).clamp(MIN_DEPTH as i32 + 2, 24) as u32;
        Sizes { stretch: d(18), long_lived: d(16), max: d(16), array: p.scaled(500_000).max(4000) as usize }
    }

    /// (depth, NumIters) of the short-lived phase.
    pub fn schedule(self) -> impl Iterator<Item = (u32, u64)> {
        (MIN_DEPTH..=self.max).step_by(2).map(move |d| (d, 2 * tree_size(self.stretch) / tree_size(d)))
    }

    /// Nodes allocated by a whole run.
    pub fn total_nodes(self) -> u64 {
        tree_size(self.stretch)
            + tree_size(self.long_lived)
            + self.schedule().map(|(d, k)| 2 * k * tree_size(d)).sum::<u64>()
    }
}

/// Nodes in a tree of depth `d` (GCBench's TreeSize).
pub fn tree_size(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// Element `i` of the long-lived array: GCBench sets `array[i] = 1.0 / i`
/// for the first half (so `array[0]` is infinite) and leaves the rest 0.
pub(crate) fn array_value(i: usize, len: usize) -> f64 {
    if i < len / 2 {
        1.0 / i as f64
    } else {
        0.0
    }
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "gcbench",
        workload: WorkloadId::Gcbench,
        title: "gcbench: Boehm's GCBench",
        about: |p| {
            let s = Sizes::of(p);
            format!(
                "Boehm's GCBench, single-threaded: stretch tree of depth {}, long-lived tree of depth {} \
                 and array of {} doubles, then for d = {MIN_DEPTH}, {}, …, {} NumIters(d) = 2 × TreeSize({}) / \
                 TreeSize(d) trees of depth d built top down (allocate a node, then store its new children \
                 into it: write-barrier traffic) and as many bottom up; {} nodes allocated in all. The \
                 metrics split the short-lived phase into its top-down and bottom-up time. Shade: `Slot` \
                 children, a safepoint after each tree. rc: `Rc` nodes with `RefCell<Option<Rc<Node>>>` \
                 children. arc: `Arc` nodes with `Mutex<Option<Arc<Node>>>` children.",
                s.stretch,
                s.long_lived,
                s.array,
                MIN_DEPTH + 2,
                s.max,
                s.stretch,
                s.total_nodes()
            )
        },
        unit: Unit::Seconds,
        peers: vec![
            Peer { name: "shade", about: "Shade heap (Config::default())", kind: PeerKind::InProcess(shade_gcbench) },
            Peer { name: "rc", about: "Rc nodes, RefCell children", kind: PeerKind::InProcess(rc_gcbench) },
            Peer { name: "arc", about: "Arc nodes, Mutex children", kind: PeerKind::InProcess(arc_gcbench) },
        ],
    }]
}

fn shade_gcbench(p: &Params) -> Outcome {
    run_shade(Sizes::of(p))
}
fn rc_gcbench(p: &Params) -> Outcome {
    run_rc(Sizes::of(p))
}
fn arc_gcbench(p: &Params) -> Outcome {
    run_arc(Sizes::of(p))
}

/// Output lines, checksum and phase times, the same for every peer.
pub(crate) struct Report {
    sizes: Sizes,
    lines: Vec<String>,
    checksum: u64,
    pub(crate) top_down: Duration,
    pub(crate) bottom_up: Duration,
}

impl Report {
    pub(crate) fn new(sizes: Sizes) -> Report {
        Report { sizes, lines: Vec::new(), checksum: 0, top_down: Duration::ZERO, bottom_up: Duration::ZERO }
    }
    pub(crate) fn stretch(&mut self, check: u64) {
        self.lines.push(format!("stretch tree of depth {}: check {check}", self.sizes.stretch));
        self.checksum = self.checksum.wrapping_add(check);
    }
    pub(crate) fn iterated(&mut self, k: u64, d: u32, top_down: u64, bottom_up: u64) {
        self.lines.push(format!("{k} trees of depth {d}: top-down check {top_down}, bottom-up check {bottom_up}"));
        self.checksum = self.checksum.wrapping_add(top_down).wrapping_add(bottom_up);
    }
    pub(crate) fn finish(mut self, long_lived: u64, a1000: f64, gc: Option<GcSummary>) -> Outcome {
        self.lines.push(format!(
            "long-lived tree of depth {}: check {long_lived}; array of {}: array[1000] = {a1000:e}",
            self.sizes.long_lived, self.sizes.array
        ));
        let checksum = self.checksum.wrapping_add(long_lived).wrapping_add(a1000.to_bits());
        let metrics = vec![
            ("top-down (s)".to_string(), self.top_down.as_secs_f64()),
            ("bottom-up (s)".to_string(), self.bottom_up.as_secs_f64()),
        ];
        Outcome { ops: self.sizes.total_nodes(), checksum, lines: self.lines, gc, timed: None, metrics }
    }
}

// ----- Shade ----------------------------------------------------------------

#[derive(Trace)]
struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
    i: i32,
    j: i32,
}

impl Node {
    fn leaf() -> Node {
        Node { left: Slot::null(), right: Slot::null(), i: 0, j: 0 }
    }
}

/// GCBench's Populate: gives `node` two new children, then populates them.
fn populate(mu: &Mutator, depth: u32, node: Gc<'_, Node>) {
    if depth == 0 {
        return;
    }
    let l = mu.alloc(Node::leaf());
    node.left.set(mu, l);
    let r = mu.alloc(Node::leaf());
    node.right.set(mu, r);
    populate(mu, depth - 1, l);
    populate(mu, depth - 1, r);
}

/// GCBench's MakeTree: children first.
fn make_tree(mu: &Mutator, depth: u32) -> Gc<'_, Node> {
    if depth == 0 {
        return mu.alloc(Node::leaf());
    }
    let (l, r) = (make_tree(mu, depth - 1), make_tree(mu, depth - 1));
    mu.alloc(Node { left: Slot::new(l), right: Slot::new(r), i: 0, j: 0 })
}

fn count(mu: &Mutator, n: Gc<'_, Node>) -> u64 {
    1 + n.left.get(mu).map_or(0, |l| count(mu, l)) + n.right.get(mu).map_or(0, |r| count(mu, r))
}

/// Runs the Shade peer with explicit sizes.
pub fn run_shade(s: Sizes) -> Outcome {
    let mut out = Report::new(s);
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let check = count(&mu, make_tree(&mu, s.stretch));
    out.stretch(check);
    mu.safepoint();
    let long_lived = mu.local(mu.alloc(Node::leaf()));
    populate(&mu, s.long_lived, long_lived.get(&mu));
    mu.safepoint();
    let array = mu.local(mu.alloc_array(s.array, |i| array_value(i, s.array)));
    mu.safepoint();
    for (d, k) in s.schedule() {
        let t = Instant::now();
        let mut top_down = 0;
        for it in 0..k {
            let tree = mu.alloc(Node::leaf());
            populate(&mu, d, tree);
            if it + 1 == k {
                top_down = count(&mu, tree);
            }
            mu.safepoint();
        }
        out.top_down += t.elapsed();
        let t = Instant::now();
        let mut bottom_up = 0;
        for it in 0..k {
            let tree = make_tree(&mu, d);
            if it + 1 == k {
                bottom_up = count(&mu, tree);
            }
            mu.safepoint();
        }
        out.bottom_up += t.elapsed();
        out.iterated(k, d, top_down, bottom_up);
    }
    let ll = count(&mu, long_lived.get(&mu));
    let a1000 = array.get(&mu)[1000];
    drop((long_lived, array));
    let gc = GcSummary::from_shade(&heap.stats());
    drop(mu);
    drop(heap);
    out.finish(ll, a1000, Some(gc))
}

// ----- Rc -------------------------------------------------------------------

struct RcNode {
    left: RefCell<Option<Rc<RcNode>>>,
    right: RefCell<Option<Rc<RcNode>>>,
    #[allow(dead_code)] // GCBench's payload, never read
    i: i32,
    #[allow(dead_code)]
    j: i32,
}

impl RcNode {
    fn leaf() -> Rc<RcNode> {
        Rc::new(RcNode { left: RefCell::new(None), right: RefCell::new(None), i: 0, j: 0 })
    }
}

fn rc_populate(depth: u32, node: &RcNode) {
    if depth == 0 {
        return;
    }
    *node.left.borrow_mut() = Some(RcNode::leaf());
    *node.right.borrow_mut() = Some(RcNode::leaf());
    if let Some(l) = node.left.borrow().as_deref() {
        rc_populate(depth - 1, l);
    }
    if let Some(r) = node.right.borrow().as_deref() {
        rc_populate(depth - 1, r);
    }
}

fn rc_make_tree(depth: u32) -> Rc<RcNode> {
    if depth == 0 {
        return RcNode::leaf();
    }
    let (l, r) = (rc_make_tree(depth - 1), rc_make_tree(depth - 1));
    Rc::new(RcNode { left: RefCell::new(Some(l)), right: RefCell::new(Some(r)), i: 0, j: 0 })
}

fn rc_count(n: &RcNode) -> u64 {
    1 + n.left.borrow().as_deref().map_or(0, rc_count) + n.right.borrow().as_deref().map_or(0, rc_count)
}

/// Runs the Rc peer with explicit sizes.
pub fn run_rc(s: Sizes) -> Outcome {
    let mut out = Report::new(s);
    out.stretch(rc_count(&rc_make_tree(s.stretch)));
    let long_lived = RcNode::leaf();
    rc_populate(s.long_lived, &long_lived);
    let array: Vec<f64> = (0..s.array).map(|i| array_value(i, s.array)).collect();
    for (d, k) in s.schedule() {
        let t = Instant::now();
        let mut top_down = 0;
        for it in 0..k {
            let tree = RcNode::leaf();
            rc_populate(d, &tree);
            if it + 1 == k {
                top_down = rc_count(&tree);
            }
        }
        out.top_down += t.elapsed();
        let t = Instant::now();
        let mut bottom_up = 0;
        for it in 0..k {
            let tree = rc_make_tree(d);
            if it + 1 == k {
                bottom_up = rc_count(&tree);
            }
        }
        out.bottom_up += t.elapsed();
        out.iterated(k, d, top_down, bottom_up);
    }
    out.finish(rc_count(&long_lived), array[1000], None)
}

// ----- Arc ------------------------------------------------------------------

struct ArcNode {
    left: Mutex<Option<Arc<ArcNode>>>,
    right: Mutex<Option<Arc<ArcNode>>>,
    #[allow(dead_code)] // GCBench's payload, never read
    i: i32,
    #[allow(dead_code)]
    j: i32,
}

impl ArcNode {
    fn leaf() -> Arc<ArcNode> {
        Arc::new(ArcNode { left: Mutex::new(None), right: Mutex::new(None), i: 0, j: 0 })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn arc_populate(depth: u32, node: &ArcNode) {
    if depth == 0 {
        return;
    }
    let mut l = lock(&node.left);
    *l = Some(ArcNode::leaf());
    let mut r = lock(&node.right);
    *r = Some(ArcNode::leaf());
    if let Some(l) = l.as_deref() {
        arc_populate(depth - 1, l);
    }
    if let Some(r) = r.as_deref() {
        arc_populate(depth - 1, r);
    }
}

fn arc_make_tree(depth: u32) -> Arc<ArcNode> {
    if depth == 0 {
        return ArcNode::leaf();
    }
    let (l, r) = (arc_make_tree(depth - 1), arc_make_tree(depth - 1));
    Arc::new(ArcNode { left: Mutex::new(Some(l)), right: Mutex::new(Some(r)), i: 0, j: 0 })
}

fn arc_count(n: &ArcNode) -> u64 {
    1 + lock(&n.left).as_deref().map_or(0, arc_count) + lock(&n.right).as_deref().map_or(0, arc_count)
}

/// Runs the Arc peer with explicit sizes.
pub fn run_arc(s: Sizes) -> Outcome {
    let mut out = Report::new(s);
    out.stretch(arc_count(&arc_make_tree(s.stretch)));
    let long_lived = ArcNode::leaf();
    arc_populate(s.long_lived, &long_lived);
    let array: Vec<f64> = (0..s.array).map(|i| array_value(i, s.array)).collect();
    for (d, k) in s.schedule() {
        let t = Instant::now();
        let mut top_down = 0;
        for it in 0..k {
            let tree = ArcNode::leaf();
            arc_populate(d, &tree);
            if it + 1 == k {
                top_down = arc_count(&tree);
            }
        }
        out.top_down += t.elapsed();
        let t = Instant::now();
        let mut bottom_up = 0;
        for it in 0..k {
            let tree = arc_make_tree(d);
            if it + 1 == k {
                bottom_up = arc_count(&tree);
            }
        }
        out.bottom_up += t.elapsed();
        out.iterated(k, d, top_down, bottom_up);
    }
    out.finish(arc_count(&long_lived), array[1000], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_schedule() {
        let s = Sizes::of(&Params { gcbench_scale: 1.0, ..Params::default() });
        assert_eq!(s, Sizes { stretch: 18, long_lived: 16, max: 16, array: 500_000 });
        let iters: Vec<_> = s.schedule().collect();
        // GCBench's NumIters: 2 * 524287 / TreeSize(d).
        assert_eq!(iters, [(4, 33_824), (6, 8_256), (8, 2_052), (10, 512), (12, 128), (14, 32), (16, 8)]);
    }

    #[test]
    fn peers_agree() {
        let s = Sizes { stretch: 9, long_lived: 8, max: 8, array: 4000 };
        let (a, b, c) = (run_shade(s), run_rc(s), run_arc(s));
        assert_eq!(a.lines, b.lines);
        assert_eq!(a.lines, c.lines);
        assert_eq!((a.checksum, a.ops), (b.checksum, b.ops));
        assert_eq!((a.checksum, a.ops), (c.checksum, c.ops));
        assert_eq!(a.lines[0], "stretch tree of depth 9: check 1023");
        assert!(a.lines.last().unwrap().contains("check 511"), "{:?}", a.lines);
    }
}
