//! Ragged termination (gc/termination.rs): a mutator that runs for a long
//! time without a safepoint delays the end of a cycle, never another
//! mutator; and the heap stays correct while mutators leave a cycle at
//! different times.

mod common;

use shade::{Config, Gc, Heap, Mutator, Slot, Termination, Trace};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Trace)]
struct Node {
    val: u64,
    left: Slot<Node>,
    right: Slot<Node>,
}

fn tree(mu: &Mutator, depth: u32, val: u64) -> Gc<'_, Node> {
    if depth == 0 {
        return mu.alloc(Node { val, left: Slot::null(), right: Slot::null() });
    }
    let l = tree(mu, depth - 1, 2 * val);
    let r = tree(mu, depth - 1, 2 * val + 1);
    mu.alloc(Node { val, left: Slot::new(l), right: Slot::new(r) })
}

fn check(n: Gc<'_, Node>, mu: &Mutator, depth: u32, val: u64) {
    assert_eq!(n.val, val, "a live node was overwritten");
    if depth > 0 {
        check(n.left.get(mu).unwrap(), mu, depth - 1, 2 * val);
        check(n.right.get(mu).unwrap(), mu, depth - 1, 2 * val + 1);
    }
}

/// Mutator A polls often; mutator B runs 150 ms at a time without a
/// safepoint while collections run. Returns the longest time A spent in
/// one safepoint call, and the heap's stats.
fn late_mutator_run(termination: Termination) -> (Duration, shade::HeapStats) {
    let heap = Heap::new(Config { termination, ..common::config() }).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let a = {
        let (heap, done) = (heap.clone(), done.clone());
        std::thread::spawn(move || {
            let mut mu = heap.mutator();
            let kept = mu.local(tree(&mu, 8, 1));
            let mut longest = Duration::ZERO;
            while !done.load(SeqCst) {
                std::hint::black_box(tree(&mu, 4, 1));
                let t = Instant::now();
                mu.safepoint();
                longest = longest.max(t.elapsed());
            }
            check(kept.get(&mu), &mu, 8, 1);
            longest
        })
    };
    let b = {
        let (heap, done) = (heap.clone(), done.clone());
        std::thread::spawn(move || {
            let mut mu = heap.mutator();
            let kept = mu.local(tree(&mu, 8, 1));
            while !done.load(SeqCst) {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(150) {
                    std::hint::black_box(tree(&mu, 4, 1));
                }
                mu.safepoint();
            }
            check(kept.get(&mu), &mu, 8, 1);
        })
    };
    for _ in 0..4 {
        heap.collect();
    }
    done.store(true, SeqCst);
    b.join().unwrap();
    (a.join().unwrap(), heap.stats())
}

/// With ragged termination, A is never held while the collector waits for
/// B: its longest safepoint is its own handshake work (plus scheduling),
/// far below B's 150 ms between safepoints. (With `Termination::Stop`, A
/// waits at termination's stop until B arrives: about 150 ms at worst, so
/// this test fails there.)
#[test]
fn a_late_mutator_holds_no_other_mutator_at_termination() {
    let (longest, s) = late_mutator_run(Termination::Ragged);
    eprintln!("A's longest safepoint {longest:?}; the cycle waited up to {:?} for B", s.handshake_wait_max);
    assert!(s.cycles >= 4);
    assert!(
        longest < Duration::from_millis(50),
        "mutator A was held {longest:?} in one safepoint while B ran without one: {s:?}"
    );
    assert!(
        s.handshake_wait_max >= Duration::from_millis(20),
        "the cycle waited for B, which the stats must show: {s:?}"
    );
}

/// Objects survive and die correctly when mutators leave a cycle at
/// different times, with allocation, stores and weak reads in between.
#[test]
fn the_heap_stays_consistent_when_mutators_leave_a_cycle_apart() {
    let heap = Heap::new(common::config()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|k_id: u64| {
            let (heap, done) = (heap.clone(), done.clone());
            std::thread::spawn(move || {
                let mut mu = heap.mutator();
                let kept = mu.local(tree(&mu, 6, 1));
                let weak = shade::WeakRoot::new(&mu, kept.get(&mu));
                let mut i = 0u64;
                while !done.load(SeqCst) {
                    // Replace a subtree: the old one dies, the new one is
                    // reachable only through the store.
                    let k = kept.get(&mu);
                    let fresh = tree(&mu, 4, 2);
                    let old = k.left.get(&mu).unwrap();
                    for _ in 0..2 {
                        fresh.left.get(&mu).unwrap().left.set(&mu, old.left.get(&mu).unwrap().left.get(&mu).unwrap());
                    }
                    k.left.set(&mu, tree(&mu, 5, 2));
                    assert!(weak.upgrade(&mu).is_some(), "the kept tree is strongly held");
                    i += 1;
                    // Mutator 1 polls rarely, so it leaves cycles late.
                    if k_id.is_multiple_of(2) || i.is_multiple_of(64) {
                        mu.safepoint();
                    }
                }
                check(kept.get(&mu), &mu, 6, 1);
            })
        })
        .collect();
    for _ in 0..20 {
        heap.collect();
    }
    done.store(true, SeqCst);
    for w in workers {
        w.join().unwrap();
    }
}
