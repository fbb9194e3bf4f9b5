//! Peer `gc-arena`: the `gc-arena` crate (kyren/gc-arena).
//!
//! As its documentation and `examples/linked_list.rs` show: the heap is an
//! `Arena<Rootable![R<'_>]>`; the program works on it inside
//! `arena.mutate(|mc, root| …)` (or `mutate_root` to change the root), where
//! `Gc<'gc, T>` pointers are plain `Copy` pointers branded with the
//! callback's lifetime, so none can survive the callback except through the
//! root. Mutable fields are `Lock<T>` / `RefLock<T>` (written through
//! `Gc::unlock(mc)` / `borrow_mut(mc)`, which run the write barrier). Types
//! derive `Collect` with `#[collect(no_drop)]`. Collection is incremental
//! mark-sweep (Lua 5.4 style) paced by allocation debt, and runs only where
//! the program calls it, outside `mutate`: here at the same points where the
//! Shade peer reaches a safepoint, the way the crate's documentation advises
//! and its author's Lua VM piccolo does it: `arena.collect_debt()`
//! once the allocation debt exceeds [`COLLECTOR_GRANULARITY`] (calling it for
//! every small debt made binary-trees 2–3× slower).
//!
//! The arena is single-threaded; the benchmarks it runs are too.

use super::CratePeer;
use crate::workloads::binary_trees::{max_depth, schedule, Report};
use crate::workloads::{gcbench as gb, latency as lat, map as mp, stores as st};
use crate::workloads::{Outcome, Params};
use gc_arena::barrier::unlock;
use gc_arena::lock::RefLock;
use gc_arena::{Arena, Collect, Gc, Lock, Mutation, Rootable};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Debt (in allocated `Gc`s, less credit for collector work) above which
/// [`collect`] pays it off; piccolo's value.
const COLLECTOR_GRANULARITY: f64 = 1024.0;

/// The collection point: pays the allocation debt off if it is large enough.
fn collect<R: for<'a> Rootable<'a>>(arena: &mut Arena<R>)
where
    for<'a> <R as Rootable<'a>>::Root: Collect<'a>,
{
    if arena.metrics().allocation_debt() > COLLECTOR_GRANULARITY {
        arena.collect_debt();
    }
}

/// The peer for benchmark `bench`, if this crate implements it.
pub fn peer(bench: &str) -> Option<CratePeer> {
    let run: fn(&Params) -> Outcome = match bench {
        "binary-trees" => binary_trees,
        "gcbench" => |p| gcbench(gb::Sizes::of(p)),
        "stores-quiet" => |p| stores(st::Variant::Quiet, st::Sizes::of(p)),
        "stores-active" => |p| stores(st::Variant::Active, st::Sizes::of(p)),
        "latency" => |p| latency(lat::Sizes::of(p)),
        mp::U64 => map_u64,
        mp::STR => map_str,
        _ => return None,
    };
    Some(("gc-arena", "gc-arena 0.7: Arena + Gc<'gc, T> / Lock, incremental mark-sweep, collect_debt()", run))
}

// ----- binary-trees ---------------------------------------------------------

/// A binary-trees node; built bottom-up, so the children are immutable (no lock).
#[derive(Collect)]
#[collect(no_drop)]
struct Node<'gc> {
    left: Option<Gc<'gc, Node<'gc>>>,
    right: Option<Gc<'gc, Node<'gc>>>,
}

fn bottom_up<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
    if depth == 0 {
        return Gc::new(mc, Node { left: None, right: None });
    }
    let left = bottom_up(mc, depth - 1);
    let right = bottom_up(mc, depth - 1);
    Gc::new(mc, Node { left: Some(left), right: Some(right) })
}

fn check(node: &Node<'_>) -> u64 {
    match (node.left, node.right) {
        (Some(l), Some(r)) => 1 + check(&l) + check(&r),
        _ => 1,
    }
}

/// The root: the long-lived tree, once built.
type TreesRoot = Rootable![Option<Gc<'_, Node<'_>>>];

/// binary-trees at `p.depth`.
pub fn binary_trees(p: &Params) -> Outcome {
    let n = max_depth(p.depth);
    let mut out = Report::default();
    let mut arena = Arena::<TreesRoot>::new(|_| None);
    let c = arena.mutate(|mc, _| check(&bottom_up(mc, n + 1)));
    out.stretch(n, c);
    collect(&mut arena);
    arena.mutate_root(|mc, root| *root = Some(bottom_up(mc, n)));
    for (d, k) in schedule(n) {
        let mut sum = 0;
        for _ in 0..k {
            sum += arena.mutate(|mc, _| check(&bottom_up(mc, d)));
            collect(&mut arena);
        }
        out.iterated(k, d, sum);
    }
    let c = arena.mutate(|_, root| root.map_or(0, |t| check(&t)));
    out.long_lived(n, c);
    drop(arena);
    out.finish(n, None)
}

// ----- gcbench --------------------------------------------------------------

/// A GCBench node: children stored after allocation (top-down), so in
/// `Lock`s, written through `unlock!(Gc::write(mc, node), GNode, left)`.
#[derive(Collect)]
#[collect(no_drop)]
struct GNode<'gc> {
    left: Lock<Option<Gc<'gc, GNode<'gc>>>>,
    right: Lock<Option<Gc<'gc, GNode<'gc>>>>,
    i: i32,
    j: i32,
}

impl<'gc> GNode<'gc> {
    fn leaf(mc: &Mutation<'gc>) -> Gc<'gc, GNode<'gc>> {
        Gc::new(mc, GNode { left: Lock::new(None), right: Lock::new(None), i: 0, j: 0 })
    }
}

/// GCBench's Populate: gives `node` two new children, then populates them.
fn populate<'gc>(mc: &Mutation<'gc>, depth: u32, node: Gc<'gc, GNode<'gc>>) {
    if depth == 0 {
        return;
    }
    let l = GNode::leaf(mc);
    unlock!(Gc::write(mc, node), GNode, left).set(Some(l));
    let r = GNode::leaf(mc);
    unlock!(Gc::write(mc, node), GNode, right).set(Some(r));
    populate(mc, depth - 1, l);
    populate(mc, depth - 1, r);
}

/// GCBench's MakeTree: children first.
fn make_tree<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, GNode<'gc>> {
    if depth == 0 {
        return GNode::leaf(mc);
    }
    let (l, r) = (make_tree(mc, depth - 1), make_tree(mc, depth - 1));
    Gc::new(mc, GNode { left: Lock::new(Some(l)), right: Lock::new(Some(r)), i: 0, j: 0 })
}

fn count(n: Gc<'_, GNode<'_>>) -> u64 {
    1 + n.left.get().map_or(0, count) + n.right.get().map_or(0, count)
}

/// The root of the gcbench arena: the long-lived tree and array.
#[derive(Collect, Default)]
#[collect(no_drop)]
struct GRoot<'gc> {
    long_lived: Option<Gc<'gc, GNode<'gc>>>,
    array: Option<Gc<'gc, Vec<f64>>>,
}

/// GCBench with explicit sizes: each tree is built (and the last of each
/// kind counted) in one `mutate` call, [`collect`] after each.
pub fn gcbench(s: gb::Sizes) -> Outcome {
    let mut out = gb::Report::new(s);
    let mut arena = Arena::<Rootable![GRoot<'_>]>::new(|_| GRoot::default());
    out.stretch(arena.mutate(|mc, _| count(make_tree(mc, s.stretch))));
    collect(&mut arena);
    arena.mutate_root(|mc, root| {
        let t = GNode::leaf(mc);
        root.long_lived = Some(t);
        populate(mc, s.long_lived, t);
    });
    collect(&mut arena);
    arena.mutate_root(|mc, root| {
        root.array = Some(Gc::new(mc, (0..s.array).map(|i| gb::array_value(i, s.array)).collect()));
    });
    collect(&mut arena);
    for (d, k) in s.schedule() {
        let t = Instant::now();
        let mut top_down = 0;
        for it in 0..k {
            let c = arena.mutate(|mc, _| {
                let tree = GNode::leaf(mc);
                populate(mc, d, tree);
                if it + 1 == k {
                    count(tree)
                } else {
                    0
                }
            });
            top_down += c;
            collect(&mut arena);
        }
        out.top_down += t.elapsed();
        let t = Instant::now();
        let mut bottom_up = 0;
        for it in 0..k {
            bottom_up += arena.mutate(|mc, _| {
                let tree = make_tree(mc, d);
                if it + 1 == k {
                    count(tree)
                } else {
                    0
                }
            });
            collect(&mut arena);
        }
        out.bottom_up += t.elapsed();
        out.iterated(k, d, top_down, bottom_up);
    }
    let (ll, a1000) = arena.mutate(|_, root| (root.long_lived.map_or(0, count), root.array.map_or(0.0, |a| a[1000])));
    drop(arena);
    out.finish(ll, a1000, None)
}

// ----- stores ---------------------------------------------------------------

/// A stores node.
#[derive(Collect)]
#[collect(no_drop)]
struct SNode<'gc> {
    left: Lock<Option<Gc<'gc, SNode<'gc>>>>,
    right: Lock<Option<Gc<'gc, SNode<'gc>>>>,
    id: u64,
}

impl<'gc> SNode<'gc> {
    fn new(mc: &Mutation<'gc>, id: u64) -> Gc<'gc, SNode<'gc>> {
        Gc::new(mc, SNode { left: Lock::new(None), right: Lock::new(None), id })
    }
}

/// The stores benchmark (quiet or active) with explicit sizes. The arena's
/// root is the `Vec` of nodes; a batch of stores is one `mutate` call (timed
/// inside it), the short-lived nodes of `stores-active` another, then
/// [`collect`]. A store is `unlock!(Gc::write(mc, a), SNode, left).set(..)`.
pub fn stores(v: st::Variant, s: st::Sizes) -> Outcome {
    let n = s.nodes;
    let mut arena =
        Arena::<Rootable![Vec<Gc<'_, SNode<'_>>>]>::new(|mc| (0..n).map(|i| SNode::new(mc, i as u64)).collect());
    arena.mutate(|mc, nodes| {
        for i in 0..n {
            unlock!(Gc::write(mc, nodes[i]), SNode, right).set(Some(nodes[(i + 1) % n]));
        }
    });
    arena.finish_cycle(); // settle, as the Shade peer does
    let mut batches = st::Batches::new(s);
    let mut timed = Duration::ZERO;
    while let Some(idx) = batches.next_batch() {
        if v == st::Variant::Active {
            arena.mutate(|mc, _| {
                for q in 0..st::SHORT_LIVED {
                    black_box(SNode::new(mc, q as u64));
                }
            });
        }
        timed += arena.mutate(|mc, nodes| {
            let t0 = Instant::now();
            for &(i, j) in idx {
                unlock!(Gc::write(mc, nodes[i as usize]), SNode, left).set(Some(nodes[j as usize]));
            }
            t0.elapsed()
        });
        collect(&mut arena);
    }
    let checksum =
        arena.mutate(|_, nodes| nodes.iter().fold(0, |acc, a| st::fold_left(acc, a.left.get().map(|l| l.id))));
    drop(arena);
    st::outcome(s, checksum, timed, None, Vec::new())
}

// ----- latency --------------------------------------------------------------

/// The latency benchmark with explicit sizes. The ring is the arena's root
/// (`Vec<Gc<[u8; MSG]>>`); a push is one `mutate_root` call storing a new
/// message, then [`collect`], both inside the timed push (as Shade's push
/// includes its safepoint). Changing the root while a cycle marks makes the
/// collector trace the root again (the crate's root write barrier).
pub fn latency(s: lat::Sizes) -> Outcome {
    let mut arena = Arena::<Rootable![Vec<Gc<'_, [u8; lat::MSG]>>]>::new(|mc| {
        (0..s.ring).map(|n| Gc::new(mc, [n as u8; lat::MSG])).collect()
    });
    let mut times = lat::Times::new(s);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        arena.mutate_root(|mc, ring| ring[(n % s.ring as u64) as usize] = Gc::new(mc, [n as u8; lat::MSG]));
        collect(&mut arena);
        times.push(t0.elapsed());
    }
    let timed = start.elapsed();
    let checksum = arena.mutate(|_, ring| ring.iter().enumerate().fold(0, |acc, (i, m)| lat::fold(acc, i, &m[..])));
    drop(arena);
    lat::outcome(s, checksum, timed, None, times)
}

// ----- map ------------------------------------------------------------------

/// A map value (the `map` workload's `Node`).
#[derive(Collect)]
#[collect(require_static)]
struct MapNode {
    id: u64,
}

/// The `map` workload's root: the pool of values and the map, a std
/// `HashMap` (SipHash) in a `Gc<RefLock<…>>`, which gc-arena traces as a
/// whole (its `Collect` impl for `HashMap`) and whose `borrow_mut(mc)` runs
/// the write barrier.
#[derive(Collect)]
#[collect(no_drop)]
struct MapRoot<'gc, K: 'static> {
    pool: Vec<Gc<'gc, MapNode>>,
    map: Gc<'gc, RefLock<HashMap<K, Gc<'gc, MapNode>>>>,
}

/// (Called through a closure: the `K: Collect<'gc>` bound makes `'gc`
/// early-bound, so the function itself is not `for<'gc>`, as
/// `Arena::new` needs.)
fn map_root<'gc, K: Collect<'gc> + 'static>(mc: &Mutation<'gc>) -> MapRoot<'gc, K> {
    MapRoot {
        pool: (0..2 * mp::LIVE as u64).map(|id| Gc::new(mc, MapNode { id })).collect(),
        map: Gc::new(mc, RefLock::new(HashMap::new())),
    }
}

/// `map-u64`: the churn inside `mutate`, one batch per call, [`collect`]
/// between batches (timed, as Shade's safepoints are).
fn map_u64(p: &Params) -> Outcome {
    let mut arena = Arena::<Rootable![MapRoot<'_, u64>]>::new(
        #[allow(clippy::redundant_closure)]
        |mc| map_root(mc),
    );
    let live = mp::LIVE as u64;
    let (ops, checksum, timed) = mp::churn(
        mp::steps(p),
        &mut arena,
        |arena, range| {
            arena.mutate(|mc, root| {
                let mut sum = 0u64;
                for i in range {
                    root.map.borrow_mut(mc).insert(mp::key(i), root.pool[mp::value(i)]);
                    let removed =
                        (i >= live).then(|| root.map.borrow_mut(mc).remove(&mp::key(i - live)).expect("live").id);
                    let found = root.map.borrow().get(&mp::key(mp::hit(i))).expect("a live key").id;
                    sum = sum.wrapping_add(mp::step_sum(removed, found, !root.map.borrow().contains_key(&mp::miss(i))));
                }
                sum
            })
        },
        collect,
    );
    Outcome { ops, checksum, gc: None, timed: Some(timed), ..Outcome::default() }
}

/// `map-str`: as `map-u64` with `Box<str>` keys looked up by `&str`.
fn map_str(p: &Params) -> Outcome {
    let names = mp::Names::new();
    let mut arena = Arena::<Rootable![MapRoot<'_, Box<str>>]>::new(
        #[allow(clippy::redundant_closure)]
        |mc| map_root(mc),
    );
    let live = mp::LIVE as u64;
    let (ops, checksum, timed) = mp::churn(
        mp::steps(p),
        &mut arena,
        |arena, range| {
            arena.mutate(|mc, root| {
                let mut sum = 0u64;
                for i in range {
                    root.map.borrow_mut(mc).insert(names.name(i).into(), root.pool[mp::value(i)]);
                    let removed =
                        (i >= live).then(|| root.map.borrow_mut(mc).remove(names.name(i - live)).expect("live").id);
                    let found = root.map.borrow().get(names.name(mp::hit(i))).expect("a live key").id;
                    sum =
                        sum.wrapping_add(mp::step_sum(removed, found, !root.map.borrow().contains_key(names.miss(i))));
                }
                sum
            })
        },
        collect,
    );
    Outcome { ops, checksum, gc: None, timed: Some(timed), ..Outcome::default() }
}
