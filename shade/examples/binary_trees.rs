//! The benchmarks-game binary-trees program on a Shade heap: a first look
//! at allocation, tracing and collection.
//!
//! ```text
//! cargo run --release -p shade-gc --example binary_trees -- 21
//! SHADE_DEBUG=gctrace=1 cargo run --release -p shade-gc --example binary_trees
//! ```
//!
//! Builds a "stretch" tree of depth N+1, keeps a long-lived tree of depth N,
//! then for d = 4, 6, ..., N builds and walks 2^(N-d+4) trees of depth d,
//! printing checksums (node counts). The heap is collected as it grows; the
//! last lines show what the collector did.

use shade::{Config, Gc, Heap, Mutator, Slot, Trace};
use std::time::Instant;

#[derive(Trace)]
struct Node {
    left: Slot<Node>,
    right: Slot<Node>,
}

/// Builds a tree of the given depth bottom-up.
fn bottom_up(mu: &Mutator, depth: u32) -> Gc<'_, Node> {
    if depth == 0 {
        return mu.alloc(Node { left: Slot::null(), right: Slot::null() });
    }
    let left = bottom_up(mu, depth - 1);
    let right = bottom_up(mu, depth - 1);
    mu.alloc(Node { left: Slot::new(left), right: Slot::new(right) })
}

/// Counts the nodes of a tree.
fn check(mu: &Mutator, node: Gc<'_, Node>) -> u64 {
    match (node.left.get(mu), node.right.get(mu)) {
        (Some(l), Some(r)) => 1 + check(mu, l) + check(mu, r),
        _ => 1,
    }
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(21);
    let max_depth = n.max(6);
    let start = Instant::now();
    let heap = Heap::new(Config::default()).expect("heap");
    let mut mu = heap.mutator();

    {
        let stretch = bottom_up(&mu, max_depth + 1);
        println!("stretch tree of depth {}\t check: {}", max_depth + 1, check(&mu, stretch));
    }
    mu.safepoint();

    let long_lived = mu.local(bottom_up(&mu, max_depth));
    let mut depth = 4;
    while depth <= max_depth {
        let iterations = 1u64 << (max_depth - depth + 4);
        let mut sum = 0;
        for _ in 0..iterations {
            sum += check(&mu, bottom_up(&mu, depth));
            mu.safepoint();
        }
        println!("{iterations}\t trees of depth {depth}\t check: {sum}");
        depth += 2;
    }
    println!("long lived tree of depth {max_depth}\t check: {}", check(&mu, long_lived.get(&mu)));
    drop(long_lived);

    let s = heap.stats();
    println!(
        "\n{:.2}s, {} collections, max pause {:.2} ms, total pause {:.1} ms, {} MB allocated, {} MB peak heap in use",
        start.elapsed().as_secs_f64(),
        s.cycles,
        s.pause_max.as_secs_f64() * 1e3,
        s.pause_total.as_secs_f64() * 1e3,
        s.allocated_bytes_total >> 20,
        s.heap_retained >> 20,
    );
}
