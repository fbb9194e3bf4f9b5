//! Workload `late-mutator` (W12): does one mutator's latency depend on
//! what another mutator of the same heap is doing?
//!
//! Mutator A runs the latency ring (W4's shape: allocate a 1 KiB message,
//! fill it, store it over the oldest, reach a safepoint, per push) while
//! holding 10,000 `Local` roots of its own (so its share of mark start has
//! real work). Mutator B, on another thread of the same heap, repeatedly
//! builds a binary tree of 2^20 nodes between two safepoints and drops it:
//! native code that holds `Gc`s on the Rust stack and cannot poll. With
//! the sizes: a 200,000-message ring, 2,000,000 pushes, B's trees
//! of depth 20 (both scaled by `--scale`, B's depth shifted by log2 of it).
//!
//! Peers: `shade` (A with B running), `shade-stop` (the same with
//! `termination=stop`: mark termination stops the world, the design before
//! ragged termination, for a before/after in one run) and `shade-alone` (A
//! with no B: the same ring, roots and pushes). Measured on A: every push's time, and the
//! time A spends *held by the collector*: inside its safepoint call
//! (stopped for a stop of the world, or doing its own part of a handshake).
//! The report gives A's loop time (the primary figure: the ratio of the two
//! peers is "A's loop with B over alone"), its max and p99.9 push, its
//! longest and total held time, and the heap's handshake figures.

use super::latency::{put_message, ring_checksum, MSG};
use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Array, Config, Gc, Heap, Local, Mutator, Slot, Termination, Trace};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `Local` roots A holds besides its ring.
pub const EXTRA_ROOTS: usize = 10_000;

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Messages in A's ring.
    pub ring: usize,
    /// Pushes A times.
    pub pushes: u64,
    /// Depth of B's trees (2^depth leaves).
    pub depth: u32,
}

impl Sizes {
    /// The sizes (200,000, 2,000,000, depth 20) scaled.
    pub fn of(p: &Params) -> Sizes {
        Sizes {
            ring: p.scaled(200_000) as usize,
            pushes: p.scaled(2_000_000),
            depth: (20 + p.depth_shift()).clamp(4, 24) as u32,
        }
    }
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "late-mutator",
        workload: WorkloadId::LateMutator,
        title: "late-mutator: one mutator's latency while another is late to its safepoints",
        about: |p| {
            let s = Sizes::of(p);
            format!(
                "Mutator A: a ring of {} messages of {MSG} bytes, then {} timed pushes with a safepoint \
                 after each (W4's shape), holding {EXTRA_ROOTS} `Local` roots besides. Mutator B (peer \
                 `shade` only), on another thread of the same heap: builds a binary tree of depth {} (2^{} \
                 leaves) with no safepoint inside, drops it, reaches a safepoint, again, until A is done. \
                 Primary figure: A's push loop, per push (so shade / shade-alone is A's loop with B over \
                 alone). Metrics: A's max and p99.9 push; the longest and total time A spent inside its \
                 safepoint calls (held by the collector: stopped, or doing its own handshake work), and \
                 that total as a share of its loop; the heap's longest wait of mark start's handshakes \
                 for a late mutator, and the longest handshake work of one mutator.",
                s.ring, s.pushes, s.depth, s.depth
            )
        },
        unit: Unit::NsPerOp("push"),
        peers: vec![
            Peer {
                name: "shade",
                about: "A with the late mutator B",
                kind: PeerKind::InProcess(|p| run(Sizes::of(p), true)),
            },
            Peer {
                name: "shade-stop",
                about: "A with B, termination=stop (mark termination stops the world)",
                kind: PeerKind::InProcess(|p| run_with(Sizes::of(p), true, Termination::Stop)),
            },
            Peer {
                name: "shade-alone",
                about: "A alone (no B)",
                kind: PeerKind::InProcess(|p| run(Sizes::of(p), false)),
            },
        ],
    }]
}

#[derive(Trace)]
struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
}

/// Builds a tree of depth `d` bottom up, with no safepoint.
fn build<'m>(mu: &'m Mutator, d: u32) -> Gc<'m, Node> {
    if d == 0 {
        return mu.alloc(Node { left: Slot::null(), right: Slot::null() });
    }
    let l = build(mu, d - 1);
    let r = build(mu, d - 1);
    mu.alloc(Node { left: Slot::new(l), right: Slot::new(r) })
}

/// Runs A (and B if `late`) with explicit sizes.
pub fn run(s: Sizes, late: bool) -> Outcome {
    run_with(s, late, Termination::default())
}

/// `run` with the given way of ending marking.
pub fn run_with(s: Sizes, late: bool, termination: Termination) -> Outcome {
    let heap = Heap::new(Config { termination, ..Config::default() })
        .unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let done = Arc::new(AtomicBool::new(false));
    let trees = Arc::new(AtomicU64::new(0));
    let b = late.then(|| {
        let (heap, done, trees) = (heap.clone(), done.clone(), trees.clone());
        std::thread::spawn(move || {
            let mut mu = heap.mutator();
            loop {
                {
                    let t = build(&mu, s.depth);
                    std::hint::black_box(t.left.is_null());
                }
                trees.fetch_add(1, Ordering::Relaxed);
                mu.safepoint();
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
        })
    });

    let mut mu = heap.mutator();
    let extra: Vec<Local<u64>> = (0..EXTRA_ROOTS as u64).map(|i| mu.local(mu.alloc(i))).collect();
    let ring = mu.local(mu.alloc_array(s.ring, |_| Slot::<Array<u8>>::null()));
    for n in 0..s.ring as u64 {
        put_message(&mu, &ring, n);
        mu.safepoint();
    }
    let mut times = Vec::with_capacity(s.pushes as usize);
    let (mut held_max, mut held_total) = (Duration::ZERO, Duration::ZERO);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        put_message(&mu, &ring, n);
        // Only a safepoint with something to do can hold A; timing the
        // others would add the clock's own cost, 500K times.
        if mu.safepoint_requested() {
            let t1 = Instant::now();
            mu.safepoint();
            let held = t1.elapsed();
            held_max = held_max.max(held);
            held_total += held;
        }
        times.push(u32::try_from(t0.elapsed().as_nanos()).unwrap_or(u32::MAX));
    }
    let timed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    // B is parked while we wait for it, so a collection needs nothing of us.
    if let Some(b) = b {
        mu.parked(|| b.join()).expect("the late mutator panicked");
    }
    let checksum = extra.iter().fold(ring_checksum(&mu, &ring), |acc, l| acc.wrapping_add(*l.get(&mu)));
    drop((ring, extra));
    let stats = heap.stats();
    let gc = GcSummary::from_shade(&stats);
    drop(mu);
    drop(heap);

    times.sort_unstable();
    let rank = |q: f64| {
        let i = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len().max(1)) - 1;
        times.get(i).map_or(0.0, |&t| f64::from(t) / 1e3)
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let metrics = vec![
        ("p99.9 push (µs)".to_string(), rank(0.999)),
        ("max push (µs)".to_string(), rank(1.0)),
        ("A held max (µs)".to_string(), us(held_max)),
        ("A held total (ms)".to_string(), held_total.as_secs_f64() * 1e3),
        ("A held share of loop (%)".to_string(), held_total.as_secs_f64() / timed.as_secs_f64().max(1e-9) * 100.0),
        ("B trees built".to_string(), trees.load(Ordering::Relaxed) as f64),
        ("handshake wait max (µs)".to_string(), us(stats.handshake_wait_max)),
        ("handshake work max (µs)".to_string(), us(stats.handshake_work_max)),
        ("stop wait max (µs)".to_string(), us(stats.stop_wait_max)),
        ("GC max pause (µs)".to_string(), us(stats.pause_max)),
        ("cycles".to_string(), stats.cycles as f64),
    ];
    Outcome { ops: s.pushes, checksum, lines: Vec::new(), gc: Some(gc), timed: Some(timed), metrics }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_agree_and_report() {
        let s = Sizes { ring: 300, pushes: 3000, depth: 8 };
        let (a, b) = (run(s, true), run(s, false));
        assert_eq!(a.checksum, b.checksum);
        let get = |o: &Outcome, k: &str| o.metrics.iter().find(|m| m.0 == k).map(|m| m.1).unwrap();
        assert!(get(&a, "B trees built") >= 1.0);
        assert_eq!(get(&b, "B trees built"), 0.0);
        assert!(get(&a, "max push (µs)") >= get(&a, "p99.9 push (µs)"));
        assert!(get(&a, "A held total (ms)") * 1e3 >= get(&a, "A held max (µs)"));
    }
}
