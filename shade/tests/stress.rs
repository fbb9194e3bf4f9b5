//! Randomized stress tests against a shadow model in plain Rust.
//!
//! The heap holds a graph of `N` nodes, each with an id, a tag derived from
//! the id and an array of edges; a pool of K root handles (`Local`s and
//! `Root`s) points into it. The model holds the same graph as maps of ids.
//! Random operations (allocate, link, unlink, root, unroot, grow an edge
//! array, make garbage, safepoint, collect) are applied to both. After every
//! safepoint and collection the heap graph reachable from the handles must
//! match the model exactly, and right after an explicit collection the
//! heap's live object count must equal the model's reachable objects.
//!
//! Sizes: `SHADE_STRESS_ITERS` sets the operations per seeded run (and per
//! thread in the threaded test); `PROPTEST_CASES` the proptest cases.

mod common;

use common::{mix, with_timeout, Rng};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use shade::{Array, Gc, Local, Mutator, Root, Slot, Trace};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Root handle slots per world.
const K: usize = 8;
/// Longest edge array.
const MAX_EDGES: usize = 6;
/// Above this many reachable nodes, allocations replace roots instead of
/// adding to the graph (keeps the model small and the test fast).
const MAX_NODES: usize = 250;

#[derive(Trace)]
struct N {
    id: u64,
    tag: u64,
    edges: Slot<Array<Slot<N>>>,
}

/// A published, immutable message in the shared structure of the threaded
/// test.
#[derive(Trace)]
struct Msg {
    from: u64,
    seq: u64,
    payload: Slot<Array<u64>>,
}

enum Handle {
    Local(Local<N>),
    Root(Root<N>),
}

impl Handle {
    fn get<'m>(&self, mu: &'m Mutator) -> Gc<'m, N> {
        match self {
            Handle::Local(l) => l.get(mu),
            Handle::Root(r) => r.get(mu),
        }
    }
}

/// One operation; indices are reduced modulo the current sizes.
#[derive(Clone, Debug)]
enum Op {
    /// A new node with `nedges` edges initialised to existing nodes (or
    /// null), stored in root slot `root`.
    Alloc {
        root: u8,
        nedges: u8,
        init: [u16; 4],
    },
    /// A new node stored in edge `edge` of node `parent`.
    AllocChild {
        parent: u16,
        edge: u8,
    },
    Link {
        a: u16,
        edge: u8,
        b: u16,
    },
    Unlink {
        a: u16,
        edge: u8,
    },
    Root {
        slot: u8,
        a: u16,
    },
    Unroot {
        slot: u8,
    },
    /// Replace a node's edge array by a longer copy.
    Grow {
        a: u16,
    },
    /// Unreachable nodes.
    Garbage {
        n: u8,
    },
    Safepoint,
    Collect,
}

fn random_op(rng: &mut Rng) -> Op {
    let r = |rng: &mut Rng| rng.next_u64() as u16;
    match rng.below(100) {
        0..=7 => {
            Op::Alloc { root: rng.below(K) as u8, nedges: rng.below(5) as u8, init: [r(rng), r(rng), r(rng), r(rng)] }
        }
        8..=32 => Op::AllocChild { parent: r(rng), edge: rng.below(8) as u8 },
        33..=57 => Op::Link { a: r(rng), edge: rng.below(8) as u8, b: r(rng) },
        58..=64 => Op::Unlink { a: r(rng), edge: rng.below(8) as u8 },
        65..=70 => Op::Root { slot: rng.below(K) as u8, a: r(rng) },
        71..=73 => Op::Unroot { slot: rng.below(K) as u8 },
        74..=81 => Op::Grow { a: r(rng) },
        82..=88 => Op::Garbage { n: rng.below(40) as u8 },
        89..=95 => Op::Safepoint,
        _ => Op::Collect,
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..K as u8, 0u8..5, any::<[u16; 4]>()).prop_map(|(root, nedges, init)| Op::Alloc { root, nedges, init }),
        6 => (any::<u16>(), any::<u8>()).prop_map(|(parent, edge)| Op::AllocChild { parent, edge }),
        6 => (any::<u16>(), any::<u8>(), any::<u16>()).prop_map(|(a, edge, b)| Op::Link { a, edge, b }),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(a, edge)| Op::Unlink { a, edge }),
        1 => (0..K as u8, any::<u16>()).prop_map(|(slot, a)| Op::Root { slot, a }),
        1 => (0..K as u8).prop_map(|slot| Op::Unroot { slot }),
        2 => any::<u16>().prop_map(|a| Op::Grow { a }),
        2 => (0u8..40).prop_map(|n| Op::Garbage { n }),
        2 => Just(Op::Safepoint),
        1 => Just(Op::Collect),
    ]
}

/// The model: node id -> edge targets, and the root slots.
#[derive(Default)]
struct Model {
    nodes: HashMap<u64, Vec<Option<u64>>>,
    roots: [Option<u64>; K],
}

impl Model {
    /// Reachable ids in a deterministic order (BFS from the roots in slot
    /// order, edges in order).
    fn reachable(&self) -> Vec<u64> {
        let mut seen = HashSet::new();
        let mut order = Vec::new();
        let mut q: VecDeque<u64> = self.roots.iter().flatten().copied().collect();
        while let Some(id) = q.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            order.push(id);
            q.extend(self.nodes[&id].iter().flatten().copied());
        }
        order
    }

    /// Forgets unreachable nodes.
    fn prune(&mut self) {
        let live: HashSet<u64> = self.reachable().into_iter().collect();
        self.nodes.retain(|id, _| live.contains(id));
    }
}

/// One mutator's graph: the heap handles and the model.
struct World {
    /// Ids are `base + n`, so worlds on different threads never share ids.
    base: u64,
    next: u64,
    handles: Vec<Option<Handle>>,
    model: Model,
    ops: usize,
}

fn node<'m>(mu: &'m Mutator, id: u64, targets: &[Option<Gc<'m, N>>]) -> Gc<'m, N> {
    let edges = mu.alloc_array(targets.len(), |i| Slot::from_option(targets[i]));
    mu.alloc(N { id, tag: mix(id), edges: Slot::new(edges) })
}

impl World {
    fn new(base: u64) -> World {
        World { base, next: 0, handles: (0..K).map(|_| None).collect(), model: Model::default(), ops: 0 }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next += 1;
        self.base + self.next
    }

    fn set_handle(&mut self, mu: &Mutator, slot: usize, g: Option<Gc<'_, N>>) {
        self.handles[slot] =
            g.map(|g| if slot.is_multiple_of(2) { Handle::Local(mu.local(g)) } else { Handle::Root(mu.root(g)) });
        self.model.roots[slot] = g.map(|g| g.id);
    }

    /// id -> object for every node reachable in the heap, checking each
    /// against the model on the way.
    fn heap_index<'m>(&self, mu: &'m Mutator) -> HashMap<u64, Gc<'m, N>> {
        let mut index: HashMap<u64, Gc<'m, N>> = HashMap::new();
        let mut q = VecDeque::new();
        for (k, h) in self.handles.iter().enumerate() {
            let got = h.as_ref().map(|h| h.get(mu));
            assert_eq!(got.map(|g| g.id), self.model.roots[k], "root slot {k}");
            q.extend(got);
        }
        while let Some(n) = q.pop_front() {
            if let Some(prev) = index.get(&n.id) {
                assert!(Gc::ptr_eq(*prev, n), "two heap objects claim id {}", n.id);
                continue;
            }
            assert_eq!(n.tag, mix(n.id), "node {} corrupt", n.id);
            let want =
                self.model.nodes.get(&n.id).unwrap_or_else(|| panic!("heap reaches node {} the model does not", n.id));
            let edges = n.edges.get(mu).expect("edge array");
            assert_eq!(edges.len(), want.len(), "node {} edge count", n.id);
            for (i, (s, w)) in edges.iter().zip(want).enumerate() {
                let t = s.get(mu);
                assert_eq!(t.map(|t| t.id), *w, "node {} edge {i}", n.id);
                q.extend(t);
            }
            index.insert(n.id, n);
        }
        index
    }

    /// Full comparison with the model; returns the number of reachable
    /// nodes.
    fn verify(&self, mu: &Mutator) -> usize {
        let index = self.heap_index(mu);
        let want = self.model.reachable();
        assert_eq!(index.len(), want.len(), "reachable node count");
        for id in &want {
            assert!(index.contains_key(id), "model node {id} unreachable in the heap");
        }
        want.len()
    }

    /// Applies one operation to heap and model. `exact` checks the live
    /// object count after explicit collections (only valid when this world
    /// is alone in its heap).
    fn apply(&mut self, mu: &mut Mutator, op: &Op, exact: bool) {
        self.ops += 1;
        match *op {
            Op::Safepoint => {
                mu.safepoint();
                self.verify(mu);
                return;
            }
            Op::Collect => {
                mu.collect();
                let n = self.verify(mu);
                if exact {
                    let s = mu.heap().stats();
                    assert_eq!(s.live_objects, 2 * n, "live objects after collect (op {})", self.ops);
                    assert_eq!(s.allocated_objects_total - s.freed_objects_total, s.live_objects as u64);
                }
                return;
            }
            _ => {}
        }
        let reach = self.model.reachable();
        let index = self.heap_index(mu);
        let pick = |x: u16| -> Option<u64> { (!reach.is_empty()).then(|| reach[x as usize % reach.len()]) };
        match *op {
            Op::Alloc { root, nedges, init } => {
                let slot = self.free_slot(root);
                if reach.len() >= MAX_NODES {
                    self.set_handle(mu, slot, None);
                } else {
                    let targets: Vec<Option<u64>> = (0..nedges as usize)
                        .map(|i| {
                            let x = init[i] as usize % (reach.len() + 1);
                            reach.get(x).copied()
                        })
                        .collect();
                    let id = self.fresh_id();
                    let gcs: Vec<_> = targets.iter().map(|t| t.map(|t| index[&t])).collect();
                    let n = node(mu, id, &gcs);
                    self.model.nodes.insert(id, targets);
                    self.set_handle(mu, slot, Some(n));
                }
            }
            Op::AllocChild { parent, edge } => {
                if let Some(p) = pick(parent) {
                    let len = self.model.nodes[&p].len();
                    if len > 0 && reach.len() < MAX_NODES {
                        let i = self.free_edge(p, edge);
                        let id = self.fresh_id();
                        // The child points back at its parent: cycles.
                        let child = node(mu, id, &[Some(index[&p]), None]);
                        index[&p].edges.get(mu).unwrap()[i].set(mu, child);
                        self.model.nodes.insert(id, vec![Some(p), None]);
                        self.model.nodes.get_mut(&p).unwrap()[i] = Some(id);
                    }
                }
            }
            Op::Link { a, edge, b } => {
                if let (Some(a), Some(b)) = (pick(a), pick(b)) {
                    let len = self.model.nodes[&a].len();
                    if len > 0 {
                        let i = self.free_edge(a, edge);
                        index[&a].edges.get(mu).unwrap()[i].set(mu, index[&b]);
                        self.model.nodes.get_mut(&a).unwrap()[i] = Some(b);
                    }
                }
            }
            Op::Unlink { a, edge } => {
                if let Some(a) = pick(a) {
                    let len = self.model.nodes[&a].len();
                    if len > 0 {
                        let i = edge as usize % len;
                        index[&a].edges.get(mu).unwrap()[i].set(mu, None);
                        self.model.nodes.get_mut(&a).unwrap()[i] = None;
                    }
                }
            }
            Op::Root { slot, a } => {
                if let Some(a) = pick(a) {
                    self.set_handle(mu, self.free_slot(slot), Some(index[&a]));
                }
            }
            Op::Unroot { slot } => self.set_handle(mu, slot as usize % K, None),
            Op::Grow { a } => {
                if let Some(a) = pick(a) {
                    let n = index[&a];
                    let old = n.edges.get(mu).unwrap();
                    if old.len() < MAX_EDGES {
                        let grown =
                            mu.alloc_array(old.len() + 1, |i| Slot::from_option(old.get(i).and_then(|s| s.get(mu))));
                        n.edges.set(mu, grown);
                        self.model.nodes.get_mut(&a).unwrap().push(None);
                    }
                }
            }
            Op::Garbage { n } => {
                // Garbage that points into the live graph.
                let target = reach.first().map(|id| index[id]);
                for _ in 0..n {
                    node(mu, u64::MAX, &[target, None, None]);
                }
            }
            Op::Safepoint | Op::Collect => unreachable!(),
        }
        self.model.prune();
    }

    /// The first empty root slot at or after `slot` (cyclically), or `slot`
    /// itself if all are taken.
    fn free_slot(&self, slot: u8) -> usize {
        let start = slot as usize % K;
        (0..K).map(|k| (start + k) % K).find(|&i| self.model.roots[i].is_none()).unwrap_or(start)
    }

    /// The first null edge of node `id` at or after `edge` (cyclically), or
    /// `edge` itself if all are set. Filling null edges first lets the graph
    /// grow instead of constantly cutting itself apart.
    fn free_edge(&self, id: u64, edge: u8) -> usize {
        let edges = &self.model.nodes[&id];
        let start = edge as usize % edges.len();
        (0..edges.len()).map(|k| (start + k) % edges.len()).find(|&i| edges[i].is_none()).unwrap_or(start)
    }

    /// Moves every handle into a `Root` (so the graph can leave the thread).
    fn into_roots(self, mu: &Mutator) -> (Model, Vec<Option<Root<N>>>) {
        let roots = self.handles.iter().map(|h| h.as_ref().map(|h| mu.root(h.get(mu)))).collect();
        (self.model, roots)
    }
}

fn payload(from: u64, seq: u64, i: usize) -> u64 {
    mix((from << 48) ^ (seq << 8) ^ i as u64)
}

fn check_msg(mu: &Mutator, m: Gc<'_, Msg>) {
    let p = m.payload.get(mu).expect("payload");
    assert_eq!(p.len(), 8);
    for (i, &x) in p.iter().enumerate() {
        assert_eq!(x, payload(m.from, m.seq, i), "message ({}, {}) corrupt", m.from, m.seq);
    }
}

fn run_ops(ops: impl IntoIterator<Item = Op>) {
    let heap = common::small_heap(64 << 10);
    let mut mu = heap.mutator();
    let mut world = World::new(0);
    for op in ops {
        world.apply(&mut mu, &op, true);
    }
    // Final check, then everything goes.
    world.apply(&mut mu, &Op::Collect, true);
    let n = world.model.reachable().len();
    assert_eq!(heap.stats().live_objects, 2 * n);
    drop(world);
    mu.collect();
    assert_eq!(heap.stats().live_objects, 0, "dropping every handle frees the graph");
}

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5EED_F00D_5A4D),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn model_matches_heap_proptest(ops in proptest::collection::vec(op_strategy(), 1..250)) {
        run_ops(ops);
    }
}

#[test]
fn model_matches_heap_seeded() {
    let iters = common::iters(3000);
    for seed in [1u64, 2, 3] {
        let mut rng = Rng::new(seed);
        let ops: Vec<Op> = (0..iters).map(|_| random_op(&mut rng)).collect();
        run_ops(ops);
    }
}

#[test]
fn model_matches_heap_multithreaded() {
    let iters = common::iters(1500);
    // Generous: a debug build does about 1000 operations per thread and
    // second on a loaded 2-core machine.
    let timeout = 60 + iters as u64 / 20;
    with_timeout(timeout, "stress-mt", move || {
        const THREADS: u64 = 3;
        const PER: usize = 4; // shared slots per thread
        let heap = common::small_heap(128 << 10);
        let shared: Root<Array<Slot<Msg>>> = {
            let mu = heap.mutator();
            mu.root(mu.alloc_array(THREADS as usize * PER, |_| Slot::null()))
        };
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let heap = heap.clone();
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut mu = heap.mutator();
                    let mut world = World::new((t + 1) << 40);
                    let mut rng = Rng::new(1000 + t);
                    let mut published: BTreeMap<usize, u64> = BTreeMap::new();
                    for seq in 0..iters as u64 {
                        let op = random_op(&mut rng);
                        world.apply(&mut mu, &op, false);
                        {
                            let sh = shared.get(&mu);
                            if rng.chance(1, 4) {
                                let k = t as usize * PER + rng.below(PER);
                                let p = mu.alloc_array(8, |i| payload(t, seq, i));
                                let m = mu.alloc(Msg { from: t, seq, payload: Slot::new(p) });
                                sh[k].set(&mu, m);
                                published.insert(k, seq);
                            }
                            for _ in 0..2 {
                                if let Some(m) = sh[rng.below(sh.len())].get(&mu) {
                                    check_msg(&mu, m);
                                }
                            }
                        }
                    }
                    world.apply(&mut mu, &Op::Collect, false);
                    let (model, roots) = world.into_roots(&mu);
                    (model, roots, published)
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|h| h.join().unwrap()).collect();

        let mut mu = heap.mutator();
        mu.collect();
        let mut expected = 1; // the shared array
        let sh = shared.get(&mu);
        for (t, (model, roots, published)) in results.into_iter().enumerate() {
            // Re-check each thread's graph through its Roots.
            let world = World {
                base: 0,
                next: 0,
                handles: roots.into_iter().map(|r| r.map(Handle::Root)).collect(),
                model,
                ops: 0,
            };
            expected += 2 * world.verify(&mu);
            for (&k, &seq) in &published {
                let m = sh[k].get(&mu).expect("published message");
                assert_eq!((m.from, m.seq), (t as u64, seq));
                check_msg(&mu, m);
                expected += 2;
            }
        }
        let s = heap.stats();
        assert_eq!(s.live_objects, expected, "live objects after all threads finished");
        assert!(s.cycles > 3, "collections happened: {}", s.cycles);
    });
}
