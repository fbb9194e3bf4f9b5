//! In-process peers built on other Rust garbage-collector crates, one file
//! per crate, each used the way its documentation shows:
//!
//! * [`rust_gc`]: the `gc` crate (rust-gc): `Gc<T>` / `GcCell<T>` with
//!   `#[derive(Trace, Finalize)]`; roots are counted on the `Gc` handles, a
//!   collection runs inside `Gc::new` when the allocated bytes exceed a
//!   threshold.
//! * [`gc_arena`]: the `gc-arena` crate: an `Arena<Rootable![…]>` whose
//!   objects are reachable only from its root between `mutate` calls;
//!   `Gc<'gc, T>` pointers, `Lock` for mutable fields (with a write
//!   barrier), incremental collection by `collect_debt` outside `mutate`.
//! * [`dumpster`]: the `dumpster` crate: `unsync::Gc<T>` (reference counting
//!   plus a cycle collector), `RefCell` for mutable fields.
//!
//! They run `binary-trees`, `gcbench`, `stores-quiet`, `stores-active` and
//! `latency`, all single-threaded, like the crates' collectors (rust-gc and
//! gc-arena are single-threaded; dumpster's `sync` flavour is not used).
//! Not `stores-forced`, whose point is a second thread forcing collections
//! of the same heap: none of these collectors can be driven from another
//! thread. Not `alloc`, `write-barrier` or `shared` either (Shade's own
//! barrier modes; a heap shared by threads).
//!
//! The peers attach themselves to the benchmarks they implement by
//! benchmark id ([`attach`]), so a benchmark that is not in this build gets
//! no crate peers. They reuse their benchmark's sizes, output, checksum and
//! metric helpers, so their checksums and figures compare with Shade's.

/// Defines `peer` (named `name`, described by `about`) and its workloads
/// `binary_trees`, `gcbench`, `stores` and `latency` in the calling module,
/// for a crate whose collector is used like `Rc`: a `Gc<T>` pointer type
/// (`gc`), a `RefCell`-like type for mutable fields (`cell`), node types
/// deriving the crate's traits (`derive`, names in scope at the call site).
/// `settle` runs once the `stores` ring is built; `free_ring`, if given,
/// runs after the ring is dropped at the end of `stores`.
macro_rules! rc_like_workloads {
    (
        name: $name:literal,
        about: $about:literal,
        gc: $gc:ident,
        cell: $cell:ident,
        derive: [$($derive:ident),* $(,)?],
        settle: $settle:expr,
        $(free_ring: $free_ring:expr,)?
    ) => {
        pub use rc_like::peer;
        #[cfg(test)]
        pub use rc_like::{binary_trees, gcbench, latency, stores};

        mod rc_like {
            use super::{$gc as Gc, $cell as Cell, $($derive),*};
            use $crate::workloads::{binary_trees as bt, gcbench as gb, latency as lat, stores as st};
            use $crate::workloads::crates::{on_big_stack, CratePeer};
            use $crate::workloads::{Outcome, Params};
            use std::hint::black_box;
            use std::time::Instant;

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
                Some(($name, $about, run))
            }

            // ----- binary-trees --------------------------------------------------------

            /// A binary-trees node; built bottom-up, so the children are immutable.
            #[derive($($derive),*)]
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

            // ----- gcbench -------------------------------------------------------------

            /// A GCBench node: children stored after allocation (top-down), so in
            /// cells (`Cell`).
            #[derive($($derive),*)]
            struct GNode {
                left: Cell<Option<Gc<GNode>>>,
                right: Cell<Option<Gc<GNode>>>,
                i: i32,
                j: i32,
            }

            impl GNode {
                fn leaf() -> Gc<GNode> {
                    Gc::new(GNode { left: Cell::new(None), right: Cell::new(None), i: 0, j: 0 })
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
                Gc::new(GNode { left: Cell::new(Some(l)), right: Cell::new(Some(r)), i: 0, j: 0 })
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

            // ----- stores --------------------------------------------------------------

            /// A stores node.
            #[derive($($derive),*)]
            struct SNode {
                left: Cell<Option<Gc<SNode>>>,
                right: Cell<Option<Gc<SNode>>>,
                id: u64,
            }

            impl SNode {
                fn new(id: u64) -> Gc<SNode> {
                    Gc::new(SNode { left: Cell::new(None), right: Cell::new(None), id })
                }
            }

            /// The stores benchmark (quiet or active) with explicit sizes. The nodes are
            /// held by a `Vec<Gc<SNode>>`; a store is
            /// `*node.left.borrow_mut() = Some(target.clone())`.
            pub fn stores(v: st::Variant, s: st::Sizes) -> Outcome {
                let n = s.nodes;
                let nodes: Vec<Gc<SNode>> = (0..n).map(|i| SNode::new(i as u64)).collect();
                for i in 0..n {
                    *nodes[i].right.borrow_mut() = Some(nodes[(i + 1) % n].clone());
                }
                $settle; // settle, as the Shade peer does
                let timed = st::store_phase(
                    v,
                    s,
                    |q| {
                        black_box(SNode::new(q));
                    },
                    |i, j| *nodes[i].left.borrow_mut() = Some(nodes[j].clone()),
                );
                let checksum =
                    nodes.iter().fold(0, |acc, a| st::fold_left(acc, a.left.borrow().as_ref().map(|l| l.id)));
                $(
                    drop(nodes);
                    $free_ring; // the ring is garbage now: free it here, on the big stack
                )?
                st::outcome(s, checksum, timed, None, Vec::new())
            }

            // ----- latency -------------------------------------------------------------

            /// The latency benchmark with explicit sizes: messages are
            /// `Gc<[u8; MSG]>` in a `Vec`.
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
        }
    };
}

pub mod dumpster;
pub mod gc_arena;
pub mod rust_gc;

use super::{Bench, Outcome, Params, Peer, PeerKind};

/// What a crate module offers for one benchmark: peer name, one line on it,
/// and the workload function.
pub type CratePeer = (&'static str, &'static str, fn(&Params) -> Outcome);

/// Stack of the thread that runs a workload whose collector recurses along
/// pointer chains (rust-gc's marking, dumpster's cycle scan) over the
/// million-node ring of `stores`; only the pages it touches are resident.
pub const BIG_STACK: usize = 4 << 30;

/// Adds the crate peers to the benchmarks in `benches` that they implement.
pub fn attach(benches: &mut [Bench]) {
    for b in benches.iter_mut() {
        for (name, about, run) in
            [rust_gc::peer(b.id), gc_arena::peer(b.id), dumpster::peer(b.id)].into_iter().flatten()
        {
            if b.peer(name).is_none() {
                b.peers.push(Peer { name, about, kind: PeerKind::InProcess(run) });
            }
        }
    }
}

/// Runs `f(s)` on a new thread with a [`BIG_STACK`] stack (the crates'
/// heaps are thread-local, so the whole workload runs there).
pub fn on_big_stack<S: Send + 'static>(s: S, f: fn(S) -> Outcome) -> Outcome {
    std::thread::Builder::new()
        .name("crate-peer".into())
        .stack_size(BIG_STACK)
        .spawn(move || f(s))
        .unwrap_or_else(|e| panic!("cannot start the workload thread: {e}"))
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{gcbench as gb, latency as lat, stores as st};

    /// A crate's workload functions with explicit sizes.
    struct Crate {
        name: &'static str,
        binary_trees: fn(&Params) -> Outcome,
        gcbench: fn(gb::Sizes) -> Outcome,
        stores: fn(st::Variant, st::Sizes) -> Outcome,
        latency: fn(lat::Sizes) -> Outcome,
    }

    const CRATES: [Crate; 3] = [
        Crate {
            name: "rust-gc",
            binary_trees: rust_gc::binary_trees,
            gcbench: rust_gc::gcbench,
            stores: rust_gc::stores,
            latency: rust_gc::latency,
        },
        Crate {
            name: "gc-arena",
            binary_trees: gc_arena::binary_trees,
            gcbench: gc_arena::gcbench,
            stores: gc_arena::stores,
            latency: gc_arena::latency,
        },
        Crate {
            name: "dumpster",
            binary_trees: dumpster::binary_trees,
            gcbench: dumpster::gcbench,
            stores: dumpster::stores,
            latency: dumpster::latency,
        },
    ];

    #[test]
    fn peers_are_attached_by_benchmark_id() {
        let all = crate::workloads::all();
        for id in ["binary-trees", "gcbench", "stores-quiet", "stores-active", "latency"] {
            let Some(b) = all.iter().find(|b| b.id == id) else { continue };
            for c in &CRATES {
                assert!(b.peer(c.name).is_some(), "{id}: {} missing", c.name);
            }
        }
        for b in all.iter().filter(|b| ["stores-forced", "write-barrier", "shared"].contains(&b.id)) {
            assert!(CRATES.iter().all(|c| b.peer(c.name).is_none()), "{}", b.id);
        }
        // Attaching twice adds nothing.
        let mut again = crate::workloads::all();
        let before: Vec<usize> = again.iter().map(|b| b.peers.len()).collect();
        attach(&mut again);
        assert_eq!(before, again.iter().map(|b| b.peers.len()).collect::<Vec<_>>());
    }

    #[test]
    fn binary_trees_agrees_with_shade() {
        let p = Params { depth: 7, ..Params::default() };
        let all = crate::workloads::all();
        let bench = all.iter().find(|b| b.id == "binary-trees").unwrap();
        let PeerKind::InProcess(shade) = bench.peer("shade").unwrap().kind else { panic!("shade is in-process") };
        let want = shade(&p);
        for c in &CRATES {
            let o = (c.binary_trees)(&p);
            assert_eq!((&o.lines, o.checksum, o.ops), (&want.lines, want.checksum, want.ops), "{}", c.name);
        }
    }

    #[test]
    fn gcbench_agrees_with_shade() {
        let s = gb::Sizes { stretch: 9, long_lived: 8, max: 8, array: 4000 };
        let want = gb::run_shade(s);
        for c in &CRATES {
            let o = (c.gcbench)(s);
            assert_eq!((&o.lines, o.checksum, o.ops), (&want.lines, want.checksum, want.ops), "{}", c.name);
        }
    }

    #[test]
    fn stores_agree_with_shade() {
        for s in [st::Sizes { nodes: 2, stores: 3 }, st::Sizes { nodes: 3000, stores: 25_000 }] {
            for v in [st::Variant::Quiet, st::Variant::Active] {
                let want = st::run_shade(v, s);
                for c in &CRATES {
                    let o = (c.stores)(v, s);
                    assert_eq!((o.checksum, o.ops), (want.checksum, want.ops), "{} {v:?} {s:?}", c.name);
                    assert!(o.timed.is_some());
                }
            }
        }
    }

    #[test]
    fn latency_agrees_with_shade() {
        let s = lat::Sizes { ring: 300, pushes: 5000 };
        let want = lat::run_shade(s);
        for c in &CRATES {
            let o = (c.latency)(s);
            assert_eq!((o.checksum, o.ops), (want.checksum, want.ops), "{}", c.name);
            let names = |o: &Outcome| o.metrics.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
            assert!(names(&o).iter().all(|n| names(&want).contains(n)), "{}", c.name);
        }
    }

    #[test]
    fn big_stack_runs_deep_recursion() {
        fn depth(n: u64) -> u64 {
            if n == 0 {
                0
            } else {
                1 + std::hint::black_box(depth(n - 1))
            }
        }
        let o = on_big_stack(1_000_000u64, |n| Outcome { ops: depth(n), ..Outcome::default() });
        assert_eq!(o.ops, 1_000_000);
    }
}
