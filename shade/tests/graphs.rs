//! Object graphs built and mutated across many collections: trees, cyclic
//! lists, DAGs with shared nodes, arrays of pointers and of plain data,
//! large objects, derived enums and generic structs, and destructors.
//!
//! After each collection every reachable object is checked against values
//! computed independently of the heap, and the heap's statistics are checked
//! to show that exactly the unreachable objects were freed.

mod common;

use common::{mix, DropLog, DropToken, Rng};
use shade::{Array, Gc, Heap, HeapStats, Mutator, Slot, Trace};
use std::collections::HashSet;

/// After an explicit collection with every mutator's cache released, the
/// object accounting must balance exactly.
fn assert_accounting(s: &HeapStats) {
    assert_eq!(
        s.allocated_objects_total - s.freed_objects_total,
        s.live_objects as u64,
        "allocated - freed != live: {s:?}"
    );
}

/// Collects and returns the stats, checking the accounting.
fn collect(mu: &mut Mutator) -> HeapStats {
    let before = mu.heap().stats().cycles;
    mu.collect();
    let s = mu.heap().stats();
    // A cycle the pacer started before the call may finish first; collect
    // then waits for one more (like Go's runtime.GC).
    assert!(s.cycles > before, "an explicit collection runs a cycle");
    assert_accounting(&s);
    s
}

// ----- binary trees ---------------------------------------------------------

#[derive(Trace)]
struct Tree {
    val: u64,
    left: Slot<Tree>,
    right: Slot<Tree>,
}

/// A complete tree whose nodes are numbered like a heap: children of `v` are
/// `2v` and `2v + 1`.
fn tree(mu: &Mutator, depth: u32, val: u64) -> Gc<'_, Tree> {
    if depth == 0 {
        return mu.alloc(Tree { val, left: Slot::null(), right: Slot::null() });
    }
    let l = tree(mu, depth - 1, 2 * val);
    let r = tree(mu, depth - 1, 2 * val + 1);
    mu.alloc(Tree { val, left: Slot::new(l), right: Slot::new(r) })
}

/// Checks the numbering of every node; returns the node count.
fn check_tree(mu: &Mutator, t: Gc<'_, Tree>, val: u64) -> usize {
    assert_eq!(t.val, val, "tree node has the wrong value");
    let mut n = 1;
    if let Some(l) = t.left.get(mu) {
        n += check_tree(mu, l, 2 * val);
    }
    if let Some(r) = t.right.get(mu) {
        n += check_tree(mu, r, 2 * val + 1);
    }
    n
}

#[test]
fn binary_trees_survive_explicit_and_paced_collections() {
    let heap = common::small_heap(256 << 10);
    let mut mu = heap.mutator();
    let long = mu.local(tree(&mu, 12, 1));
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 8191);
    assert_eq!(s.freed_objects_total, 0);

    let mut explicit = 1;
    for i in 0..60 {
        // Garbage: a tree of 1023 nodes, checked while it is young.
        let g = tree(&mu, 9, 1);
        assert_eq!(check_tree(&mu, g, 1), 1023);
        mu.safepoint();
        if i % 15 == 14 {
            collect(&mut mu);
            explicit += 1;
        }
        assert_eq!(check_tree(&mu, long.get(&mu), 1), 8191);
    }
    // The collections are paced but run on the coordinator: on a loaded
    // machine (the tests run in parallel on two cores) the loop above can
    // finish before one started. Keep making garbage, with safepoints,
    // until one has; a pacer that never triggers still fails below.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut trees = 60;
    while heap.stats().cycles < explicit + 1 && std::time::Instant::now() < deadline {
        let g = tree(&mu, 9, 1);
        assert_eq!(check_tree(&mu, g, 1), 1023);
        trees += 1;
        mu.safepoint();
    }
    let s = collect(&mut mu);
    explicit += 1;
    assert!(
        s.cycles > explicit,
        "allocation should have triggered collections at safepoints: {} cycles, {explicit} explicit",
        s.cycles
    );
    assert_eq!(s.live_objects, 8191, "all garbage trees freed");
    assert_eq!(s.freed_objects_total, trees * 1023);

    // Replace the left subtree (4095 nodes) with a 15-node one.
    {
        let root = long.get(&mu);
        let small = tree(&mu, 3, 2);
        let old = root.left.replace(&mu, small).expect("left subtree");
        assert_eq!(old.val, 2);
    }
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 8191 - 4095 + 15);
    assert_eq!(check_tree(&mu, long.get(&mu), 1), 8191 - 4095 + 15);

    let freed_before = s.freed_objects_total;
    drop(long);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 0);
    assert_eq!(s.freed_objects_total - freed_before, 8191 - 4095 + 15);
}

// ----- singly linked cyclic list --------------------------------------------

#[derive(Trace)]
struct Link {
    id: u64,
    payload: u64,
    next: Slot<Link>,
}

fn link(mu: &Mutator, id: u64) -> Gc<'_, Link> {
    mu.alloc(Link { id, payload: mix(id), next: Slot::null() })
}

/// Walks the ring from `head` and returns the ids in order; checks payloads
/// and that the ring closes on `head`.
fn ring_ids(mu: &Mutator, head: Gc<'_, Link>, max: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut cur = head;
    loop {
        assert_eq!(cur.payload, mix(cur.id), "corrupt link {}", cur.id);
        ids.push(cur.id);
        assert!(ids.len() <= max, "ring does not close");
        let next = cur.next.get(mu).expect("ring is never null");
        if Gc::ptr_eq(next, head) {
            return ids;
        }
        cur = next;
    }
}

#[test]
fn singly_linked_cyclic_list() {
    const N: u64 = 2000;
    let heap = common::small_heap(128 << 10);
    let mut mu = heap.mutator();
    let head_l = mu.local(link(&mu, 0));
    let mut tail_l = mu.local(head_l.get(&mu));
    // Build with safepoints (and garbage to make them collect) in between.
    for id in 1..N {
        let n = link(&mu, id);
        tail_l.get(&mu).next.set(&mu, n);
        tail_l = mu.local(n);
        if id % 100 == 0 {
            for _ in 0..200 {
                mu.alloc_str("garbage garbage garbage garbage");
            }
            mu.safepoint();
            assert_eq!(tail_l.get(&mu).id, id);
        }
    }
    // Paced collections start asynchronously (the coordinator must get to
    // stop the world), so a fast build can finish before one ran: keep
    // making garbage, with safepoints, until one has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while heap.stats().cycles == 0 && std::time::Instant::now() < deadline {
        for _ in 0..200 {
            mu.alloc_str("garbage garbage garbage garbage");
        }
        mu.safepoint();
    }
    // `safepoint!` carries plain pointers across a safepoint.
    let (head, tail) = (head_l.get(&mu), tail_l.get(&mu));
    drop((head_l, tail_l));
    for _ in 0..2000 {
        mu.alloc_str("garbage garbage garbage garbage");
    }
    shade::safepoint!(mu; head, tail);
    assert_eq!((head.id, tail.id), (0, N - 1));
    tail.next.set(&mu, head);
    let head = mu.local(head);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N as usize);
    assert!(s.cycles > 1, "garbage should have triggered paced collections");
    let ids = ring_ids(&mu, head.get(&mu), N as usize);
    assert_eq!(ids, (0..N).collect::<Vec<_>>());

    // Unlink every odd node.
    {
        let h = head.get(&mu);
        let mut cur = h;
        loop {
            let odd = cur.next.get(&mu).unwrap();
            let after = odd.next.get(&mu).unwrap();
            cur.next.set(&mu, after);
            if Gc::ptr_eq(after, h) {
                break;
            }
            cur = after;
        }
    }
    let freed = s.freed_objects_total;
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N as usize / 2);
    assert_eq!(s.freed_objects_total - freed, N / 2);
    let ids = ring_ids(&mu, head.get(&mu), N as usize);
    assert_eq!(ids, (0..N).step_by(2).collect::<Vec<_>>());

    // A cycle that is no longer rooted is garbage as a whole.
    drop(head);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 0, "unrooted cycle must be freed");
}

// ----- doubly linked cyclic list --------------------------------------------

#[derive(Trace)]
struct DNode {
    id: u64,
    check: u64,
    prev: Slot<DNode>,
    next: Slot<DNode>,
}

/// The node `steps` places after the sentinel.
fn nth<'m>(mu: &'m Mutator, sentinel: Gc<'m, DNode>, steps: usize) -> Gc<'m, DNode> {
    let mut cur = sentinel;
    for _ in 0..steps {
        cur = cur.next.get(mu).unwrap();
    }
    cur
}

/// Checks the list against the model in both directions.
fn check_dlist(mu: &Mutator, sentinel: Gc<'_, DNode>, model: &[u64]) {
    let mut cur = sentinel;
    let mut fwd = Vec::new();
    loop {
        let next = cur.next.get(mu).expect("next");
        assert!(Gc::ptr_eq(next.prev.get(mu).expect("prev"), cur), "next.prev != self");
        if Gc::ptr_eq(next, sentinel) {
            break;
        }
        assert_eq!(next.check, mix(next.id), "corrupt node {}", next.id);
        fwd.push(next.id);
        assert!(fwd.len() <= model.len(), "forward walk too long");
        cur = next;
    }
    assert_eq!(fwd, model, "forward order");
    let mut bwd = Vec::new();
    let mut cur = sentinel.prev.get(mu).unwrap();
    while !Gc::ptr_eq(cur, sentinel) {
        bwd.push(cur.id);
        assert!(bwd.len() <= model.len(), "backward walk too long");
        cur = cur.prev.get(mu).unwrap();
    }
    bwd.reverse();
    assert_eq!(bwd, model, "backward order");
}

#[test]
fn doubly_linked_cyclic_list_with_random_edits() {
    let heap = common::small_heap(128 << 10);
    let mut mu = heap.mutator();
    let mut rng = Rng::new(0xD0B1E);
    let sentinel = {
        let s = mu.alloc(DNode { id: u64::MAX, check: mix(u64::MAX), prev: Slot::null(), next: Slot::null() });
        s.prev.set(&mu, s);
        s.next.set(&mu, s);
        mu.local(s)
    };
    let mut model: Vec<u64> = Vec::new();
    let mut next_id = 0u64;
    let ops = 1500;
    for op in 0..ops {
        {
            let s = sentinel.get(&mu);
            if model.is_empty() || rng.chance(3, 5) {
                // Insert a new node after position p (0 = after the sentinel).
                let p = rng.below(model.len() + 1);
                let before = nth(&mu, s, p);
                let after = before.next.get(&mu).unwrap();
                let n = mu.alloc(DNode {
                    id: next_id,
                    check: mix(next_id),
                    prev: Slot::new(before),
                    next: Slot::new(after),
                });
                before.next.set(&mu, n);
                after.prev.set(&mu, n);
                model.insert(p, next_id);
                next_id += 1;
            } else {
                // Delete the node at position p; it keeps pointing into the
                // list, which must not keep it alive.
                let p = rng.below(model.len());
                let victim = nth(&mu, s, p + 1);
                assert_eq!(victim.id, model[p]);
                let (before, after) = (victim.prev.get(&mu).unwrap(), victim.next.get(&mu).unwrap());
                before.next.set(&mu, after);
                after.prev.set(&mu, before);
                model.remove(p);
            }
            // Some garbage so safepoints collect now and then.
            mu.alloc_array(32, |i| i as u64);
        }
        mu.safepoint();
        if op % 100 == 99 {
            let s = collect(&mut mu);
            assert_eq!(s.live_objects, model.len() + 1, "after op {op}");
            check_dlist(&mu, sentinel.get(&mu), &model);
        }
    }
    check_dlist(&mu, sentinel.get(&mu), &model);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, model.len() + 1);
    drop(sentinel);
    assert_eq!(collect(&mut mu).live_objects, 0);
}

// ----- DAG with shared nodes ------------------------------------------------

#[derive(Trace)]
struct Dia {
    id: u64,
    a: Slot<Dia>,
    b: Slot<Dia>,
}

fn dia<'m>(mu: &'m Mutator, id: u64, a: Option<Gc<'m, Dia>>, b: Option<Gc<'m, Dia>>) -> Gc<'m, Dia> {
    mu.alloc(Dia { id, a: Slot::from_option(a), b: Slot::from_option(b) })
}

/// Distinct objects reachable from `root`.
fn count_distinct(mu: &Mutator, root: Gc<'_, Dia>) -> usize {
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if !seen.insert(n.as_ptr() as usize) {
            continue;
        }
        stack.extend(n.a.get(mu));
        stack.extend(n.b.get(mu));
    }
    seen.len()
}

/// Walks the chain of diamonds `from..to`: top(3d) -> left(3d+1),
/// right(3d+2) -> next top, checking ids and that both sides share the same
/// bottom.
fn check_diamonds(mu: &Mutator, top: Gc<'_, Dia>, from: u64, to: u64) {
    let mut top = top;
    for d in from..to {
        assert_eq!(top.id, 3 * d, "top of diamond {d}");
        let (l, r) = (top.a.get(mu).unwrap(), top.b.get(mu).unwrap());
        assert_eq!((l.id, r.id), (3 * d + 1, 3 * d + 2), "sides of diamond {d}");
        let (lb, rb) = (l.a.get(mu).unwrap(), r.a.get(mu).unwrap());
        assert!(Gc::ptr_eq(lb, rb), "diamond {d}: sides do not share the bottom");
        top = lb;
    }
    assert_eq!(top.id, 3 * to, "last bottom");
    assert!(top.a.is_null() && top.b.is_null());
}

#[test]
fn dag_of_diamonds_with_shared_nodes() {
    const K: u64 = 300;
    let heap = common::heap();
    let mut mu = heap.mutator();
    let root = {
        let mut bottom = dia(&mu, 3 * K, None, None);
        for d in (0..K).rev() {
            let l = dia(&mu, 3 * d + 1, Some(bottom), None);
            let r = dia(&mu, 3 * d + 2, Some(bottom), None);
            bottom = dia(&mu, 3 * d, Some(l), Some(r));
        }
        mu.root(bottom)
    };
    // Extra handles on a shared interior node (the bottom of diamond 10).
    let shared_local = {
        let t = root.get(&mu);
        let mut top = t;
        for _ in 0..11 {
            top = top.a.get(&mu).unwrap().a.get(&mu).unwrap();
        }
        assert_eq!(top.id, 33);
        mu.local(top)
    };
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 3 * K as usize + 1);
    check_diamonds(&mu, root.get(&mu), 0, K);
    assert_eq!(count_distinct(&mu, root.get(&mu)), 3 * K as usize + 1);

    // Replace the right side of every diamond with a fresh node sharing the
    // same bottom: the old right sides become garbage.
    {
        let mut top = root.get(&mu);
        for d in 0..K {
            let bottom = top.a.get(&mu).unwrap().a.get(&mu).unwrap();
            let fresh = dia(&mu, 3 * d + 2, Some(bottom), None);
            top.b.set(&mu, fresh);
            top = bottom;
        }
    }
    let freed = s.freed_objects_total;
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 3 * K as usize + 1);
    assert_eq!(s.freed_objects_total - freed, K);
    check_diamonds(&mu, root.get(&mu), 0, K);

    // Cut the chain below diamond J: only tops 0..=J and the sides of
    // diamonds 0..J stay reachable from the root, plus what the Local on
    // node 33 (diamond 11's top) keeps alive.
    const J: u64 = 5;
    {
        let mut top = root.get(&mu);
        for _ in 0..J {
            top = top.a.get(&mu).unwrap().a.get(&mu).unwrap();
        }
        assert_eq!(top.id, 3 * J);
        top.a.set(&mu, None);
        top.b.set(&mu, None);
    }
    let s = collect(&mut mu);
    let from_root = 3 * J as usize + 1;
    let from_local = 3 * (K - 11) as usize + 1;
    assert_eq!(s.live_objects, from_root + from_local);
    check_diamonds(&mu, shared_local.get(&mu), 11, K);
    check_diamonds(&mu, root.get(&mu), 0, J);
    drop(shared_local);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, from_root);
    assert_eq!(count_distinct(&mu, root.get(&mu)), from_root);
    drop(root);
    assert_eq!(collect(&mut mu).live_objects, 0);
}

// ----- arrays of pointers ---------------------------------------------------

#[derive(Trace)]
struct Leaf {
    id: u64,
    check: u64,
}

fn leaf(mu: &Mutator, id: u64) -> Gc<'_, Leaf> {
    mu.alloc(Leaf { id, check: mix(id) })
}

/// Checks each slot of `arr` against the model (`Some(leaf id)` or null);
/// returns the number of distinct leaves.
fn check_slots(mu: &Mutator, arr: Gc<'_, Array<Slot<Leaf>>>, model: &[Option<u64>]) -> usize {
    assert_eq!(arr.len(), model.len());
    let mut distinct = HashSet::new();
    for (i, (slot, want)) in arr.iter().zip(model).enumerate() {
        match (slot.get(mu), want) {
            (None, None) => {}
            (Some(l), Some(id)) => {
                assert_eq!(l.id, *id, "slot {i}");
                assert_eq!(l.check, mix(l.id), "slot {i}: corrupt leaf");
                distinct.insert(l.as_ptr() as usize);
            }
            (got, want) => panic!("slot {i}: got {:?}, want {want:?}", got.map(|l| l.id)),
        }
    }
    distinct.len()
}

#[test]
fn arrays_of_pointers_with_sharing_and_nulls() {
    const N: usize = 1000;
    let heap = common::heap();
    let mut mu = heap.mutator();
    // Slot i holds leaf i / 2 (pairs of slots share a leaf), or null when
    // i % 7 == 0. Leaves are first allocated into a temporary array, which
    // becomes garbage.
    let mut model: Vec<Option<u64>> = (0..N).map(|i| (i % 7 != 0).then_some((i / 2) as u64)).collect();
    let arr = {
        let tmp = mu.alloc_array(N / 2, |i| Slot::new(leaf(&mu, i as u64)));
        let arr = mu.alloc_array(N, |i| Slot::from_option(model[i].map(|id| tmp[id as usize].get(&mu).unwrap())));
        mu.local(arr)
    };
    let expected = |model: &[Option<u64>]| model.iter().flatten().collect::<HashSet<_>>().len();
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 1 + expected(&model), "array + referenced leaves");
    assert_eq!(check_slots(&mu, arr.get(&mu), &model), expected(&model));

    let mut rng = Rng::new(42);
    let mut next_id = 10_000u64;
    for round in 0..20 {
        {
            let a = arr.get(&mu);
            for _ in 0..100 {
                let i = rng.below(N);
                match rng.below(3) {
                    0 => {
                        a[i].set(&mu, None);
                        model[i] = None;
                    }
                    1 => {
                        a[i].set(&mu, leaf(&mu, next_id));
                        model[i] = Some(next_id);
                        next_id += 1;
                    }
                    _ => {
                        // Share another slot's target.
                        let j = rng.below(N);
                        let t = a[j].get(&mu);
                        a[i].set(&mu, t);
                        model[i] = model[j];
                    }
                }
            }
        }
        // `collect` also checks allocated - freed == live.
        let s = collect(&mut mu);
        assert_eq!(s.live_objects, 1 + expected(&model), "round {round}");
        assert_eq!(check_slots(&mu, arr.get(&mu), &model), expected(&model));
    }
}

#[test]
fn array_of_strings_survives_replacement() {
    const N: usize = 200;
    let heap = common::small_heap(64 << 10);
    let mut mu = heap.mutator();
    let text = |i: usize, gen: usize| format!("string {i} gen {gen} {}é", "x".repeat((i * 7 + gen) % 61));
    let mut gens = vec![0usize; N];
    let table = {
        let t = mu.alloc_array(N, |i| Slot::new(mu.alloc_str(&text(i, 0))));
        mu.local(t)
    };
    let mut rng = Rng::new(7);
    for round in 1..=30 {
        {
            let t = table.get(&mu);
            for _ in 0..20 {
                let i = rng.below(N);
                gens[i] = round;
                t[i].set(&mu, mu.alloc_str(&text(i, round)));
            }
            // Garbage strings of similar sizes, to reuse freed slots.
            for i in 0..100 {
                mu.alloc_str(&text(i, 999));
            }
        }
        mu.safepoint();
        let t = table.get(&mu);
        for (i, slot) in t.iter().enumerate() {
            assert_eq!(slot.get(&mu).unwrap().as_str(), text(i, gens[i]), "round {round}");
        }
    }
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N + 1);
    let t = table.get(&mu);
    for (i, slot) in t.iter().enumerate() {
        assert_eq!(slot.get(&mu).unwrap().as_str(), text(i, gens[i]));
    }
}

// ----- arrays of plain data -------------------------------------------------

fn byte_pattern(len: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ len.wrapping_mul(7) ^ (i >> 8)) as u8
}

#[test]
fn plain_data_arrays_of_many_sizes() {
    // Around the small-object limit (32 KiB including the 8-byte length
    // word: 32_760 bytes of data is the largest small array) and well past it.
    let lens: Vec<usize> = vec![
        0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 4095, 4096, 8191, 8192, 32_744, 32_752, 32_753, 32_760, 32_761, 32_768,
        40_000, 100_000,
    ];
    let heap = common::small_heap(256 << 10);
    let mut mu = heap.mutator();
    let holder = {
        let h = mu.alloc_array(lens.len(), |k| {
            let len = lens[k];
            Slot::new(mu.alloc_array(len, |i| byte_pattern(len, i)))
        });
        mu.local(h)
    };
    let words = mu.local(mu.alloc_array(5000, |i| mix(i as u64)));
    let s = mu.local(mu.alloc_str("grüße, 世界: a string with ünïcödé"));
    let empty = mu.local(mu.alloc_str(""));
    let copied = mu.local(mu.alloc_array_copy(&[3u16, 1, 4, 1, 5, 9, 2, 6]));

    let verify = |mu: &Mutator| {
        let h = holder.get(mu);
        for (k, slot) in h.iter().enumerate() {
            let a = slot.get(mu).unwrap();
            let len = lens[k];
            assert_eq!(a.len(), len);
            assert_eq!(a.is_empty(), len == 0);
            for (i, &b) in a.iter().enumerate() {
                assert_eq!(b, byte_pattern(len, i), "array of {len} bytes, byte {i}");
            }
        }
        let w = words.get(mu);
        assert_eq!(w.len(), 5000);
        assert!(w.iter().enumerate().all(|(i, &x)| x == mix(i as u64)));
        assert_eq!(s.get(mu).as_str(), "grüße, 世界: a string with ünïcödé");
        assert_eq!(empty.get(mu).as_str(), "");
        assert_eq!(copied.get(mu).as_slice(), &[3, 1, 4, 1, 5, 9, 2, 6]);
    };
    verify(&mu);
    for round in 0..10 {
        // Garbage arrays of the same sizes reuse the freed slots; poisoned
        // or reused memory would show up in `verify`.
        for &len in &lens {
            mu.alloc_array(len, |i| !byte_pattern(len, i));
        }
        mu.safepoint();
        if round % 3 == 0 {
            collect(&mut mu);
        }
        verify(&mu);
    }
    let st = collect(&mut mu);
    assert_eq!(st.live_objects, 1 + lens.len() + 4);
    verify(&mu);
}

// ----- large objects --------------------------------------------------------

#[test]
fn large_pointer_array_keeps_small_objects_alive() {
    const N: usize = 10_000; // 80 KB of slots: a large, scanned object
    let heap = common::heap();
    let mut mu = heap.mutator();
    let big = mu.root(mu.alloc_array(N, |i| Slot::new(leaf(&mu, i as u64))));
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N + 1);
    for _ in 0..3 {
        // Garbage in between, then another cycle.
        for i in 0..N {
            leaf(&mu, i as u64 + 1_000_000);
        }
        collect(&mut mu);
        let b = big.get(&mu);
        for (i, slot) in b.iter().enumerate() {
            let l = slot.get(&mu).unwrap();
            assert_eq!((l.id, l.check), (i as u64, mix(i as u64)));
        }
    }
    // Drop every other leaf through the large array.
    {
        let b = big.get(&mu);
        for slot in b.iter().step_by(2) {
            slot.set(&mu, None);
        }
    }
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N / 2 + 1);
    let in_use = s.heap_in_use;
    drop(big);
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 0);
    assert!(s.heap_in_use < in_use, "freeing everything must release spans");
}

#[test]
fn large_plain_objects_are_freed_and_memory_reused() {
    let heap = common::small_heap(1 << 20);
    let mut mu = heap.mutator();
    let keep = mu.local(mu.alloc_array(1 << 17, |i| mix(i as u64))); // 1 MiB
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 1);
    assert!(s.heap_in_use >= 1 << 20);
    let base_in_use = s.heap_in_use;
    // 200 x 256 KiB of large garbage: paced collections must free it, so
    // the heap stays far below the 50 MiB allocated.
    //
    // The collections run on the coordinator, which a loaded machine (the
    // tests run in parallel on two cores) may not schedule for a while, and
    // nothing here bounds the heap (objects allocated while a starved cycle
    // marks survive it and raise the next goal). So past 16 MiB in use the
    // loop yields between its allocations, until paced collections have
    // brought the heap back under it: if they never free large garbage,
    // the deadline fails the test.
    for i in 0..200u64 {
        let g = mu.alloc_array(32 << 10, |j| j as u64 ^ i);
        assert_eq!(g[100], 100 ^ i);
        mu.safepoint();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while heap.stats().heap_in_use >= 16 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "large garbage not collected: {} bytes in use after 30 s of safepoints",
                heap.stats().heap_in_use
            );
            std::thread::yield_now();
            let g = mu.alloc_array(32 << 10, |j| j as u64 ^ i);
            assert_eq!(g[100], 100 ^ i);
            mu.safepoint();
        }
    }
    // Cycle 1 was the explicit collection above.
    assert!(heap.stats().cycles > 1, "no paced collection ran while 50 MiB of large garbage was made");
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, 1);
    assert_eq!(s.heap_in_use, base_in_use, "all large garbage spans returned");
    let k = keep.get(&mu);
    assert!(k.iter().enumerate().all(|(i, &x)| x == mix(i as u64)));
}

// ----- derived enums and generic types --------------------------------------

#[derive(Trace)]
enum Expr {
    Num(i64),
    Add(Slot<Expr>, Slot<Expr>),
    Mul {
        l: Slot<Expr>,
        r: Slot<Expr>,
    },
    Neg(Slot<Expr>),
    /// Evaluates to `e` plus the length of the name.
    Named {
        name: Slot<Array<u8>>,
        e: Slot<Expr>,
    },
    Nil,
}

fn eval(mu: &Mutator, e: Gc<'_, Expr>) -> i64 {
    let sub = |s: &Slot<Expr>| eval(mu, s.get(mu).expect("non-null operand"));
    match &*e {
        Expr::Num(n) => *n,
        Expr::Add(a, b) => sub(a).wrapping_add(sub(b)),
        Expr::Mul { l, r } => sub(l).wrapping_mul(sub(r)),
        Expr::Neg(a) => sub(a).wrapping_neg(),
        Expr::Named { name, e } => sub(e).wrapping_add(name.get(mu).unwrap().len() as i64),
        Expr::Nil => 0,
    }
}

/// A random expression; returns it, its value and its object count.
fn random_expr<'m>(mu: &'m Mutator, rng: &mut Rng, depth: u32) -> (Gc<'m, Expr>, i64, usize) {
    if depth == 0 || rng.chance(1, 5) {
        return if rng.chance(1, 6) {
            (mu.alloc(Expr::Nil), 0, 1)
        } else {
            let n = rng.below(21) as i64 - 10;
            (mu.alloc(Expr::Num(n)), n, 1)
        };
    }
    match rng.below(4) {
        0 => {
            let (a, va, ca) = random_expr(mu, rng, depth - 1);
            let (b, vb, cb) = random_expr(mu, rng, depth - 1);
            (mu.alloc(Expr::Add(Slot::new(a), Slot::new(b))), va.wrapping_add(vb), ca + cb + 1)
        }
        1 => {
            let (a, va, ca) = random_expr(mu, rng, depth - 1);
            let (b, vb, cb) = random_expr(mu, rng, depth - 1);
            let e = mu.alloc(Expr::Mul { l: Slot::new(a), r: Slot::new(b) });
            (e, va.wrapping_mul(vb), ca + cb + 1)
        }
        2 => {
            let (a, va, ca) = random_expr(mu, rng, depth - 1);
            (mu.alloc(Expr::Neg(Slot::new(a))), va.wrapping_neg(), ca + 1)
        }
        _ => {
            let (a, va, ca) = random_expr(mu, rng, depth - 1);
            let name = mu.alloc_str(&"n".repeat(rng.below(10)));
            let len = name.len() as i64;
            let e = mu.alloc(Expr::Named { name: Slot::new(name), e: Slot::new(a) });
            (e, va.wrapping_add(len), ca + 2)
        }
    }
}

#[test]
fn derived_enum_expression_trees() {
    let heap = common::small_heap(128 << 10);
    let mut mu = heap.mutator();
    let mut rng = Rng::new(0xE4);
    let mut kept = Vec::new();
    let mut total_objects = 0;
    for round in 0..40 {
        let (e, v, count) = random_expr(&mu, &mut rng, 8);
        assert_eq!(eval(&mu, e), v);
        if round % 4 == 0 {
            kept.push((mu.local(e), v));
            total_objects += count;
        }
        // Garbage expressions.
        for _ in 0..5 {
            random_expr(&mu, &mut rng, 6);
        }
        mu.safepoint();
        for (l, v) in &kept {
            assert_eq!(eval(&mu, l.get(&mu)), *v, "round {round}");
        }
    }
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, total_objects);
    for (l, v) in &kept {
        assert_eq!(eval(&mu, l.get(&mu)), *v);
    }
}

#[derive(Trace)]
struct Pair<A, B> {
    first: A,
    second: B,
}

#[derive(Trace)]
struct Wrap<T>(T);

#[derive(Trace)]
enum Either<L, R> {
    Left(L),
    Right(R),
}

/// Pointers held through every kind of field the derive and the std impls
/// support.
#[derive(Trace)]
struct Everything<T> {
    opt: Option<Slot<T>>,
    none: Option<Slot<T>>,
    arr: [Slot<T>; 3],
    tup: (u32, Slot<T>, String),
    ok: Result<Slot<T>, u64>,
    err: Result<u64, Slot<T>>,
    either: Either<Slot<T>, Wrap<Slot<T>>>,
    pair: Pair<Wrap<Slot<T>>, Option<Wrap<Slot<T>>>>,
    plain: Vec<u64>,
    text: String,
}

#[derive(Trace)]
struct PlainOnly {
    a: u64,
    b: String,
    v: Vec<u32>,
    o: Option<Box<str>>,
    t: (u8, [u16; 4]),
}

#[derive(Trace)]
struct Unit;

#[test]
fn derive_no_trace_is_computed_from_fields() {
    // NO_TRACE decides whether the marker scans an object: a wrong `true`
    // would free everything such objects point to; a wrong `false` only
    // costs time, but shows the derive is not computing it.
    let got = [
        ("PlainOnly", <PlainOnly as Trace>::NO_TRACE),
        ("Unit", <Unit as Trace>::NO_TRACE),
        ("Pair<u64, String>", <Pair<u64, String> as Trace>::NO_TRACE),
        ("Array<u8>", <Array<u8> as Trace>::NO_TRACE),
        ("Pair<u64, Slot<Leaf>>", <Pair<u64, Slot<Leaf>> as Trace>::NO_TRACE),
        ("Wrap<Slot<Leaf>>", <Wrap<Slot<Leaf>> as Trace>::NO_TRACE),
        ("Either<u8, Slot<Leaf>>", <Either<u8, Slot<Leaf>> as Trace>::NO_TRACE),
        ("Everything<Leaf>", <Everything<Leaf> as Trace>::NO_TRACE),
        ("Expr", <Expr as Trace>::NO_TRACE),
        ("Array<Slot<Leaf>>", <Array<Slot<Leaf>> as Trace>::NO_TRACE),
    ];
    let want = [true, true, true, true, false, false, false, false, false, false];
    for ((name, got), want) in got.iter().zip(want) {
        assert_eq!(*got, want, "{name}::NO_TRACE");
    }
}

#[test]
fn generic_structs_trace_every_field_kind() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let plain = mu.local(mu.alloc(PlainOnly {
        a: 1,
        b: "b".into(),
        v: vec![1, 2, 3],
        o: Some("boxed".into()),
        t: (9, [1, 2, 3, 4]),
    }));
    let unit = mu.local(mu.alloc(Unit));
    let obj = {
        let l = |id| Slot::new(leaf(&mu, id));
        let e = Everything {
            opt: Some(l(1)),
            none: None,
            arr: [l(2), l(3), l(4)],
            tup: (7, l(5), "tuple".into()),
            ok: Ok(l(6)),
            err: Err(l(7)),
            either: Either::Right(Wrap(l(8))),
            pair: Pair { first: Wrap(l(9)), second: Some(Wrap(l(10))) },
            plain: vec![5; 10],
            text: "text".into(),
        };
        mu.local(mu.alloc(e))
    };
    let left = mu.local(mu.alloc(Either::<Slot<Leaf>, u64>::Left(Slot::new(leaf(&mu, 11)))));
    for _ in 0..3 {
        for i in 0..1000 {
            leaf(&mu, 100 + i);
        }
        let s = collect(&mut mu);
        // plain + unit + Everything + 10 leaves + Either + 1 leaf
        assert_eq!(s.live_objects, 15);
        let e = obj.get(&mu);
        let id = |s: &Slot<Leaf>| {
            let l = s.get(&mu).expect("leaf");
            assert_eq!(l.check, mix(l.id));
            l.id
        };
        assert_eq!(id(e.opt.as_ref().unwrap()), 1);
        assert!(e.none.is_none());
        assert_eq!(e.arr.iter().map(id).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!((e.tup.0, id(&e.tup.1), e.tup.2.as_str()), (7, 5, "tuple"));
        assert_eq!(id(e.ok.as_ref().unwrap()), 6);
        assert_eq!(id(e.err.as_ref().unwrap_err()), 7);
        match &e.either {
            Either::Right(Wrap(s)) => assert_eq!(id(s), 8),
            Either::Left(_) => panic!("wrong variant"),
        }
        assert_eq!(id(&e.pair.first.0), 9);
        assert_eq!(id(&e.pair.second.as_ref().unwrap().0), 10);
        assert_eq!((e.plain.len(), e.text.as_str()), (10, "text"));
        match &*left.get(&mu) {
            Either::Left(s) => assert_eq!(id(s), 11),
            Either::Right(_) => panic!("wrong variant"),
        }
        let p = plain.get(&mu);
        assert_eq!(
            (p.a, p.b.as_str(), &p.v[..], p.o.as_deref(), p.t),
            (1, "b", &[1, 2, 3][..], Some("boxed"), (9, [1, 2, 3, 4]))
        );
        let _ = unit.get(&mu);
    }
}

// ----- destructors ----------------------------------------------------------

#[derive(Trace)]
struct Owned {
    id: u64,
    token: DropToken,
    name: String,
    next: Slot<Owned>,
}

/// A list of `n` `Owned` objects with token ids `first..first + n`.
fn owned_list<'m>(mu: &'m Mutator, log: &std::sync::Arc<DropLog>, first: usize, n: usize) -> Gc<'m, Owned> {
    let mut head: Option<Gc<'m, Owned>> = None;
    for id in (first..first + n).rev() {
        head = Some(mu.alloc(Owned {
            id: id as u64,
            token: DropToken::new(log, id),
            name: format!("owned {id}"),
            next: Slot::from_option(head),
        }));
    }
    head.unwrap()
}

fn check_owned_list(mu: &Mutator, head: Gc<'_, Owned>, first: usize, n: usize) {
    let mut cur = Some(head);
    for id in first..first + n {
        let o = cur.expect("list too short");
        assert_eq!((o.id, o.token.id), (id as u64, id));
        assert_eq!(o.name, format!("owned {id}"));
        cur = o.next.get(mu);
    }
    assert!(cur.is_none(), "list too long");
}

#[test]
fn destructors_run_exactly_once_for_freed_objects() {
    const LISTS: usize = 10;
    const LEN: usize = 100;
    let log = DropLog::new(LISTS * LEN + 3600);
    let heap = common::heap();
    let mut mu = heap.mutator();
    let mut lists: Vec<Option<shade::Local<Owned>>> =
        (0..LISTS).map(|k| Some(mu.local(owned_list(&mu, &log, k * LEN, LEN)))).collect();
    collect(&mut mu);
    assert_eq!(log.total(), 0, "nothing is garbage yet");

    // Unroot the even lists.
    for k in (0..LISTS).step_by(2) {
        lists[k] = None;
    }
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, LISTS / 2 * LEN);
    for k in 0..LISTS {
        let want = if k % 2 == 0 { 1 } else { 0 };
        log.assert_range(k * LEN..(k + 1) * LEN, want, "after first sweep");
    }
    // More cycles must not drop anything twice.
    for _ in 0..3 {
        collect(&mut mu);
    }
    log.assert_no_double_drop();
    assert_eq!(log.total(), LISTS / 2 * LEN);
    for (k, l) in lists.iter().enumerate() {
        if let Some(l) = l {
            check_owned_list(&mu, l.get(&mu), k * LEN, LEN);
        }
    }

    // Arrays drop each element once; a rooted array drops none.
    let base = LISTS * LEN;
    let kept = mu.local(mu.alloc_array(300, |i| DropToken::new(&log, base + i)));
    mu.alloc_array(300, |i| DropToken::new(&log, base + 300 + i));
    // A large array of tokens (16 bytes each: 48 KB).
    mu.alloc_array(3000, |i| DropToken::new(&log, base + 600 + i));
    collect(&mut mu);
    collect(&mut mu);
    log.assert_range(base..base + 300, 0, "rooted array");
    log.assert_range(base + 300..base + 600, 1, "garbage array");
    log.assert_range(base + 600..base + 3600, 1, "large garbage array");
    assert_eq!(kept.get(&mu).len(), 300);

    // Cutting a list in the middle drops exactly the tail.
    {
        let l = lists[1].as_ref().unwrap().get(&mu);
        let mut cur = l;
        for _ in 0..49 {
            cur = cur.next.get(&mu).unwrap();
        }
        assert_eq!(cur.id, LEN as u64 + 49);
        cur.next.set(&mu, None);
    }
    collect(&mut mu);
    log.assert_range(LEN..LEN + 50, 0, "head of cut list");
    log.assert_range(LEN + 50..2 * LEN, 1, "tail of cut list");
    log.assert_no_double_drop();
}

#[test]
fn rejected_and_accepted_values_are_dropped_once() {
    // A value handed to the heap is dropped exactly once, whether it is
    // rejected by `try_alloc` (at once) or becomes an object (when swept).
    let log = DropLog::new(10);
    let heap = Heap::new(shade::Config { heap_limit: Some(64 << 10), ..common::config() }).unwrap();
    let mut mu = heap.mutator();
    let r = mu.try_alloc((DropToken::new(&log, 0), [0u64; 16 << 10]));
    assert!(matches!(r, Err(shade::AllocError::HeapLimit { .. })), "{r:?}", r = r.as_ref().err());
    assert_eq!(log.count(0), 1, "rejected value dropped at once");
    let ok = mu.try_alloc((DropToken::new(&log, 1), 5u64)).expect("small object fits");
    assert_eq!(ok.1, 5);
    assert_eq!(log.count(1), 0);
    collect(&mut mu);
    assert_eq!(log.count(1), 1);
    collect(&mut mu);
    log.assert_no_double_drop();
    assert_eq!(log.total(), 2);
}

#[test]
fn dropping_the_heap_runs_remaining_destructors() {
    let log = DropLog::new(10_000);
    // The default configuration (64 GiB reserve), environment ignored.
    let heap = Heap::new(shade::Config { read_env: false, ..shade::Config::default() }).unwrap();
    let mu = heap.mutator();
    // Rooted objects, locals, garbage, arrays and a large array, none of
    // them collected before the heap goes away.
    let root = mu.root(owned_list(&mu, &log, 0, 1000));
    let local = mu.local(owned_list(&mu, &log, 1000, 1000));
    owned_list(&mu, &log, 2000, 1000);
    mu.alloc_array(500, |i| DropToken::new(&log, 3000 + i));
    mu.alloc_array(4000, |i| DropToken::new(&log, 3500 + i)); // 64 KB: large
    let total = 7500;
    drop(local);
    drop(mu);
    assert_eq!(log.total(), 0, "no collection ran, nothing dropped yet");
    // A second handle keeps the heap (and its objects) alive.
    let h2 = heap.clone();
    drop(heap);
    assert_eq!(log.total(), 0, "another handle still holds the heap");
    drop(h2);
    log.assert_range(0..total, 1, "heap dropped");
    assert_eq!(log.total(), total);
    // A Root outliving its heap is inert; dropping it is harmless.
    drop(root);
    assert_eq!(log.total(), total);
}

#[test]
fn dropping_the_heap_after_collections_drops_survivors_once() {
    let log = DropLog::new(3000);
    let heap = common::heap();
    let mut mu = heap.mutator();
    let a = mu.local(owned_list(&mu, &log, 0, 1000));
    let b = mu.local(owned_list(&mu, &log, 1000, 1000));
    owned_list(&mu, &log, 2000, 1000);
    collect(&mut mu);
    log.assert_range(2000..3000, 1, "garbage list");
    drop(b);
    collect(&mut mu);
    log.assert_range(1000..2000, 1, "unrooted list");
    log.assert_range(0..1000, 0, "rooted list");
    drop(a);
    drop(mu);
    drop(heap);
    log.assert_range(0..3000, 1, "after heap drop");
}

#[test]
fn a_parked_mutator_keeps_the_heap_alive() {
    let log = DropLog::new(100);
    let heap = common::heap();
    let mu = heap.mutator();
    mu.alloc_array(100, |i| DropToken::new(&log, i));
    let parked = mu.park();
    drop(heap);
    assert_eq!(log.total(), 0, "the parked mutator still holds the heap");
    drop(parked);
    log.assert_range(0..100, 1, "heap dropped with its last mutator");
}

// ----- memory returned to the OS --------------------------------------------

/// Allocates `n` rooted 1 MiB arrays, then drops them; returns the stats
/// with them still allocated.
fn churn_mebibytes(mu: &mut Mutator, n: usize) -> HeapStats {
    let keep: Vec<_> = (0..n).map(|i| mu.local(mu.alloc_array(1 << 17, |j| (i + j) as u64))).collect();
    let s = mu.heap().stats();
    assert!(s.heap_retained >= n << 20, "{s:?}");
    drop(keep);
    s
}

#[test]
fn freed_pages_below_live_data_are_released_to_the_os() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let _bottom = mu.local(mu.alloc_array(1 << 17, |j| j as u64));
    let keep: Vec<_> = (0..16).map(|i| mu.local(mu.alloc_array(1 << 17, |j| (i + j) as u64))).collect();
    // Something live above the freed pages.
    let _top = mu.local(mu.alloc_array(1 << 17, |j| j as u64));
    let peak = heap.stats();
    drop(keep);
    for _ in 0..4 {
        collect(&mut mu);
    }
    let s = heap.stats();
    assert_eq!(s.live_objects, 2);
    assert!(s.released_bytes_total >= 16 << 20, "freed pages not released: {s:?}");
    assert!(
        peak.heap_retained - s.heap_retained <= s.released_bytes_total,
        "retained memory shrank by more than was released: peak {peak:?}, now {s:?}"
    );
}

#[test]
fn freed_pages_at_the_top_of_the_heap_are_released_to_the_os() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let _bottom = mu.local(mu.alloc_array(1 << 17, |j| j as u64));
    let peak = churn_mebibytes(&mut mu, 16);
    for _ in 0..4 {
        collect(&mut mu);
    }
    let s = heap.stats();
    assert_eq!(s.live_objects, 1);
    // Every byte that stopped counting as retained must have been given
    // back to the OS (madvise); here 16 MiB leave `heap_retained` while
    // `released_bytes_total` stays 0, and the process RSS stays 16 MiB up.
    assert!(
        peak.heap_retained - s.heap_retained <= s.released_bytes_total,
        "retained memory shrank by more than was released: peak retained {} MiB, now retained {} MiB, released {} MiB",
        peak.heap_retained >> 20,
        s.heap_retained >> 20,
        s.released_bytes_total >> 20
    );
}

// ----- marking: worker counts and deep structures -----------------------------

#[test]
fn marking_is_exact_with_one_two_and_four_workers() {
    for workers in [1, 2, 4] {
        let heap = Heap::new(shade::Config { mark_workers: workers, ..common::config() }).unwrap();
        let mut mu = heap.mutator();
        assert_eq!(heap.stats().mark_workers, workers);
        // A wide structure (many grey objects at once, so buffers are
        // published and stolen) and trees below it.
        let wide = mu.local(mu.alloc_array(4000, |i| Slot::new(tree(&mu, (i % 4) as u32, 1))));
        let nodes: usize = (0..4000).map(|i| (1usize << (i % 4 + 1)) - 1).sum();
        for round in 0..3 {
            // Garbage of the same shape.
            mu.alloc_array(2000, |i| Slot::new(tree(&mu, (i % 4) as u32, 1)));
            let s = collect(&mut mu);
            assert_eq!(s.live_objects, 1 + nodes, "{workers} workers, round {round}");
            let w = wide.get(&mu);
            let counted: usize = w
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = check_tree(&mu, s.get(&mu).unwrap(), 1);
                    assert_eq!(n, (1 << (i % 4 + 1)) - 1);
                    n
                })
                .sum();
            assert_eq!(counted, nodes);
        }
    }
}

#[test]
fn very_long_lists_are_marked_and_freed() {
    // Marking is iterative: a 200 000-node list must not overflow a stack,
    // in the collector or in the sweeper's destructors.
    const N: u64 = 200_000;
    let heap = common::heap();
    let mut mu = heap.mutator();
    let head = {
        let mut head = link(&mu, N);
        for id in (0..N).rev() {
            let n = link(&mu, id);
            n.next.set(&mu, head);
            head = n;
        }
        mu.local(head)
    };
    let s = collect(&mut mu);
    assert_eq!(s.live_objects, N as usize + 1);
    let mut cur = Some(head.get(&mu));
    let mut n = 0;
    while let Some(c) = cur {
        assert_eq!((c.id, c.payload), (n, mix(n)));
        n += 1;
        cur = c.next.get(&mu);
    }
    assert_eq!(n, N + 1);
    drop(head);
    assert_eq!(collect(&mut mu).live_objects, 0);
}

/// A mutator that runs without a safepoint delays mark start but is not
/// paused meanwhile: the wait shows in `handshake_wait_max`, not in the
/// pause figures, which count only the time the mutator spent on its own
/// handshake work or blocked.
#[test]
fn the_wait_for_a_safepoint_is_not_a_pause() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let _kept = mu.local(tree(&mu, 10, 1));
    let collector = {
        let heap = heap.clone();
        std::thread::spawn(move || heap.collect())
    };
    // Run, with no safepoint, well past the moment the collection asks for
    // one, then reach a safepoint.
    let busy = std::time::Instant::now();
    while busy.elapsed() < std::time::Duration::from_millis(60) {
        std::hint::black_box(tree(&mu, 4, 1));
    }
    while !collector.is_finished() {
        mu.safepoint();
    }
    collector.join().unwrap();
    let s = heap.stats();
    assert!(s.cycles >= 1);
    assert!(
        s.handshake_wait_max >= std::time::Duration::from_millis(20),
        "mark start waited for the busy mutator: {s:?}"
    );
    assert!(
        s.pause_max < s.handshake_wait_max,
        "the mutator was held only for its own handshake work, not while mark start waited for it: {s:?}"
    );
    assert_eq!(s.late_mutator, Some((mu.id(), s.handshake_wait_max)), "the stats name the late mutator");
}

#[test]
fn pause_statistics_are_consistent() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let _kept = mu.local(tree(&mu, 10, 1));
    for _ in 0..20 {
        tree(&mu, 8, 1);
        collect(&mut mu);
    }
    let s = heap.stats();
    assert!(s.cycles >= 20);
    // Every cycle has a mark-start and a termination pause (handshake
    // work, or stops with termination=stop).
    assert!(s.pause_count >= 2 * s.cycles, "{} pauses for {} cycles", s.pause_count, s.cycles);
    assert_eq!(s.recent_pauses.len() as u64, s.pause_count);
    let max = *s.recent_pauses.iter().max().unwrap();
    let min = *s.recent_pauses.iter().min().unwrap();
    assert_eq!(s.pause_max, max);
    assert!(s.pause_total >= s.recent_pauses.iter().sum());
    assert_eq!(s.pause_percentile(0.0), min);
    assert_eq!(s.pause_percentile(100.0), max);
    assert!(s.pause_percentile(50.0) >= min && s.pause_percentile(50.0) <= max);
    assert!(s.mark_time_total > std::time::Duration::ZERO);
    let node = std::mem::size_of::<Tree>(); // objects have no header
    assert!(s.live_bytes >= 2047 * node, "{s:?}");
    assert_eq!(s.freed_objects_total, 20 * 511);
    assert!(s.freed_bytes_total >= 20 * 511 * node as u64);
    assert!(s.heap_goal >= s.live_bytes);
}

#[test]
fn many_locals_and_roots_are_tracked_exactly() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let mut locals: Vec<Option<shade::Local<Leaf>>> = (0..5000).map(|i| Some(mu.local(leaf(&mu, i)))).collect();
    let mut roots: Vec<Option<shade::Root<Leaf>>> = (0..2000).map(|i| Some(mu.root(leaf(&mu, 10_000 + i)))).collect();
    assert_eq!(collect(&mut mu).live_objects, 7000);
    // Drop every other handle (the local table's free list is reused below).
    for i in (0..5000).step_by(2) {
        locals[i] = None;
    }
    for i in (0..2000).step_by(2) {
        roots[i] = None;
    }
    assert_eq!(collect(&mut mu).live_objects, 3500);
    // Root clones keep the object alive until the last one goes.
    let clones: Vec<_> = roots.iter().flatten().cloned().collect();
    roots.clear();
    assert_eq!(collect(&mut mu).live_objects, 3500);
    for i in (0..5000).step_by(2) {
        locals[i] = Some(mu.local(leaf(&mu, 20_000 + i as u64)));
    }
    assert_eq!(collect(&mut mu).live_objects, 6000);
    for (i, l) in locals.iter().enumerate() {
        let l = l.as_ref().unwrap().get(&mu);
        let want = if i % 2 == 0 { 20_000 + i as u64 } else { i as u64 };
        assert_eq!((l.id, l.check), (want, mix(want)));
    }
    for (k, r) in clones.iter().enumerate() {
        assert_eq!(r.get(&mu).id, 10_000 + 2 * k as u64 + 1);
    }
    drop(clones);
    drop(locals);
    assert_eq!(collect(&mut mu).live_objects, 0);
}

// ----- many types -------------------------------------------------------------

/// One heap type per `N`: spans are typed, so each gets spans of its own.
#[derive(Trace)]
struct Typed<const N: usize> {
    id: u64,
    pad: [u64; N],
    next: Slot<Typed<N>>,
    other: Slot<Typed<1>>,
}

fn typed_chain<'m, const N: usize>(mu: &'m Mutator, len: u64, other: Gc<'m, Typed<1>>) -> Gc<'m, Typed<N>> {
    let mut head: Option<Gc<'m, Typed<N>>> = None;
    for i in 0..len {
        let next = match head {
            Some(h) => Slot::new(h),
            None => Slot::null(),
        };
        let pad = std::array::from_fn(|k| mix(i * 31 + k as u64 + N as u64));
        head = Some(mu.alloc(Typed { id: i, pad, next, other: Slot::new(other) }));
    }
    head.expect("len > 0")
}

fn check_typed_chain<const N: usize>(mu: &Mutator, head: Gc<'_, Typed<N>>, len: u64) {
    let mut cur = Some(head);
    let mut i = len;
    while let Some(c) = cur {
        i -= 1;
        assert_eq!(c.id, i, "Typed<{N}> chain");
        for (k, &p) in c.pad.iter().enumerate() {
            assert_eq!(p, mix(i * 31 + k as u64 + N as u64), "Typed<{N}> payload");
        }
        assert_eq!(c.other.get(mu).expect("other").id, 0);
        cur = c.next.get(mu);
    }
    assert_eq!(i, 0);
}

/// Checks one kept chain.
type ChainCheck = Box<dyn Fn(&Mutator)>;

/// More live types than a mutator's allocation cache has entries (64), each
/// allocated in turn, several times over, with collections in between:
/// cache entries are evicted and their spans handed back and taken again.
#[test]
fn many_types_interleaved_survive_collections() {
    macro_rules! for_types {
        ($m:ident, $($n:literal)*) => { $( $m!($n); )* };
    }
    const LEN: u64 = 50;
    let heap = common::heap();
    let mut mu = heap.mutator();
    let shared = mu.root(mu.alloc(Typed::<1> { id: 0, pad: [0], next: Slot::null(), other: Slot::null() }));
    let mut roots: Vec<ChainCheck> = Vec::new();
    for round in 0..3 {
        macro_rules! build {
            ($n:literal) => {{
                let other = shared.get(&mu);
                let keep = mu.root(typed_chain::<$n>(&mu, LEN, other));
                // Garbage of the same type between the kept chains.
                typed_chain::<$n>(&mu, LEN, other);
                roots.push(Box::new(move |mu: &Mutator| check_typed_chain(mu, keep.get(mu), LEN)));
            }};
        }
        for_types!(build, 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64
            65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80);
        let s = collect(&mut mu);
        assert_eq!(s.live_objects as u64, 1 + (round + 1) * 79 * LEN, "{s:?}");
        for check in &roots {
            check(&mu);
        }
    }
}
