//! Peer `rust-gc`: the `gc` crate (Manishearth/rust-gc).
//!
//! As its documentation shows: types derive `Trace` and `Finalize`, shared
//! pointers are `gc::Gc<T>`, mutable fields are `GcCell<T>`. A `Gc` held
//! outside the heap (on the stack, in a `Vec`) is a root (the crate counts
//! roots on each object; a `GcCell` roots its contents while it is borrowed
//! mutably); one moved into another object is unrooted. Collection is
//! stop-the-world mark-sweep over a thread-local list of all objects, run by
//! `Gc::new` once the bytes allocated exceed a threshold that grows with the
//! live heap (`used_space_ratio` 0.7). There is nothing to call between
//! steps: the program just drops what it no longer needs.
//!
//! Marking recurses along pointers, so a long chain of objects needs a deep
//! stack: the `stores` graph (a ring of a million nodes) is run on a thread
//! with a [`BIG_STACK`](super::BIG_STACK) stack.

// gc_derive 0.5 (the latest) wraps its impls in `const _DERIVE_…: () = { impl … }`,
// which rustc's `non_local_definitions` lint flags; the impls are fine.
#![allow(non_local_definitions)]

use super::{on_big_stack, CratePeer};
use crate::workloads::{binary_trees as bt, gcbench as gb, latency as lat, stores as st};
use crate::workloads::{Outcome, Params};
use gc::{Finalize, Gc, GcCell, Trace};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The peer for benchmark `bench`, if this crate implements it.
pub fn peer(bench: &str) -> Option<CratePeer> {
    let run: fn(&Params) -> Outcome = match bench {
        "binary-trees" => binary_trees,
        "gcbench" => |p| gcbench(gb::Sizes::of(p)),
        "stores-quiet" => |p| on_big_stack(st::Sizes::of(p), |s| stores(st::Variant::Quiet, s)),
        "stores-active" => |p| on_big_stack(st::Sizes::of(p), |s| stores(st::Variant::Active, s)),
        "latency" => |p| latency(lat::Sizes::of(p)),
        _ => return None,
    };
    Some(("rust-gc", "gc crate 0.5 (rust-gc): Gc<T> / GcCell<T>, thread-local stop-the-world mark-sweep", run))
}

// ----- binary-trees ---------------------------------------------------------

/// A binary-trees node; built bottom-up, so the children are immutable.
#[derive(Trace, Finalize)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn bottom_up(depth: u32) -> Gc<Node> {
    if depth == 0 {
        return Gc::new(Node { left: None, right: None });
    }
    Gc::new(Node { left: Some(bottom_up(depth - 1)), right: Some(bottom_up(depth - 1)) })
}

fn check(node: &Node) -> u64 {
    match (&node.left, &node.right) {
        (Some(l), Some(r)) => 1 + check(l) + check(r),
        _ => 1,
    }
}

/// binary-trees at `p.depth`.
pub fn binary_trees(p: &Params) -> Outcome {
    let n = bt::max_depth(p.depth);
    let mut out = bt::Report::default();
    {
        let stretch = bottom_up(n + 1);
        out.stretch(n, check(&stretch));
    }
    let long_lived = bottom_up(n);
    for (d, k) in bt::schedule(n) {
        let mut sum = 0;
        for _ in 0..k {
            sum += check(&bottom_up(d));
        }
        out.iterated(k, d, sum);
    }
    out.long_lived(n, check(&long_lived));
    drop(long_lived);
    out.finish(n, None)
}

// ----- gcbench --------------------------------------------------------------

/// A GCBench node: children stored after allocation (top-down), so in
/// `GcCell`s.
#[derive(Trace, Finalize)]
struct GNode {
    left: GcCell<Option<Gc<GNode>>>,
    right: GcCell<Option<Gc<GNode>>>,
    i: i32,
    j: i32,
}

impl GNode {
    fn leaf() -> Gc<GNode> {
        Gc::new(GNode { left: GcCell::new(None), right: GcCell::new(None), i: 0, j: 0 })
    }
}

/// GCBench's Populate: gives `node` two new children, then populates them.
fn populate(depth: u32, node: &GNode) {
    if depth == 0 {
        return;
    }
    let l = GNode::leaf();
    *node.left.borrow_mut() = Some(l.clone());
    let r = GNode::leaf();
    *node.right.borrow_mut() = Some(r.clone());
    populate(depth - 1, &l);
    populate(depth - 1, &r);
}

/// GCBench's MakeTree: children first.
fn make_tree(depth: u32) -> Gc<GNode> {
    if depth == 0 {
        return GNode::leaf();
    }
    let (l, r) = (make_tree(depth - 1), make_tree(depth - 1));
    Gc::new(GNode { left: GcCell::new(Some(l)), right: GcCell::new(Some(r)), i: 0, j: 0 })
}

fn count(n: &GNode) -> u64 {
    1 + n.left.borrow().as_ref().map_or(0, |l| count(l)) + n.right.borrow().as_ref().map_or(0, |r| count(r))
}

/// GCBench with explicit sizes; the long-lived array is a `Gc<Vec<f64>>`.
pub fn gcbench(s: gb::Sizes) -> Outcome {
    let mut out = gb::Report::new(s);
    out.stretch(count(&make_tree(s.stretch)));
    let long_lived = GNode::leaf();
    populate(s.long_lived, &long_lived);
    let array = Gc::new((0..s.array).map(|i| gb::array_value(i, s.array)).collect::<Vec<f64>>());
    for (d, k) in s.schedule() {
        let t = Instant::now();
        let mut top_down = 0;
        for it in 0..k {
            let tree = GNode::leaf();
            populate(d, &tree);
            if it + 1 == k {
                top_down = count(&tree);
            }
        }
        out.top_down += t.elapsed();
        let t = Instant::now();
        let mut bottom_up = 0;
        for it in 0..k {
            let tree = make_tree(d);
            if it + 1 == k {
                bottom_up = count(&tree);
            }
        }
        out.bottom_up += t.elapsed();
        out.iterated(k, d, top_down, bottom_up);
    }
    out.finish(count(&long_lived), array[1000], None)
}

// ----- stores ---------------------------------------------------------------

/// A stores node.
#[derive(Trace, Finalize)]
struct SNode {
    left: GcCell<Option<Gc<SNode>>>,
    right: GcCell<Option<Gc<SNode>>>,
    id: u64,
}

impl SNode {
    fn new(id: u64) -> Gc<SNode> {
        Gc::new(SNode { left: GcCell::new(None), right: GcCell::new(None), id })
    }
}

/// The stores benchmark (quiet or active) with explicit sizes. The nodes are
/// held by a `Vec<Gc<SNode>>` (each element a root); a store is
/// `*node.left.borrow_mut() = Some(target.clone())`.
pub fn stores(v: st::Variant, s: st::Sizes) -> Outcome {
    let n = s.nodes;
    let nodes: Vec<Gc<SNode>> = (0..n).map(|i| SNode::new(i as u64)).collect();
    for i in 0..n {
        *nodes[i].right.borrow_mut() = Some(nodes[(i + 1) % n].clone());
    }
    gc::force_collect(); // settle, as the Shade peer does
    let mut batches = st::Batches::new(s);
    let mut timed = Duration::ZERO;
    while let Some(idx) = batches.next_batch() {
        if v == st::Variant::Active {
            for q in 0..st::SHORT_LIVED {
                black_box(SNode::new(q as u64));
            }
        }
        let t0 = Instant::now();
        for &(i, j) in idx {
            *nodes[i as usize].left.borrow_mut() = Some(nodes[j as usize].clone());
        }
        timed += t0.elapsed();
    }
    let checksum = nodes.iter().fold(0, |acc, a| st::fold_left(acc, a.left.borrow().as_ref().map(|l| l.id)));
    st::outcome(s, checksum, timed, None, Vec::new())
}

// ----- latency --------------------------------------------------------------

/// The latency benchmark with explicit sizes: messages are
/// `Gc<[u8; MSG]>` in a `Vec` (each element a root).
pub fn latency(s: lat::Sizes) -> Outcome {
    let mut ring: Vec<Gc<[u8; lat::MSG]>> = (0..s.ring).map(|n| Gc::new([n as u8; lat::MSG])).collect();
    let mut times = lat::Times::new(s);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        ring[(n % s.ring as u64) as usize] = Gc::new([n as u8; lat::MSG]);
        times.push(t0.elapsed());
    }
    let timed = start.elapsed();
    let checksum = ring.iter().enumerate().fold(0, |acc, (i, m)| lat::fold(acc, i, &m[..]));
    lat::outcome(s, checksum, timed, None, times)
}
