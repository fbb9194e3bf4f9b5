//! Workload `alloc`: allocation throughput of small objects.
//!
//! Every peer allocates `alloc_count` objects into a ring of the last
//! [`RING`] objects, so the live set stays small and constant and each
//! allocation also frees (or makes unreachable) one object:
//!
//! * Shade: the ring is an `Array<Slot<T>>` rooted by a `Local`; the mutator
//!   reaches a safepoint every [`SAFEPOINT_EVERY`] allocations so
//!   collections can run.
//! * Box: the ring is a `Vec<Option<Box<T>>>`; storing into it frees the
//!   displaced object.
//!
//! Two benchmarks:
//!
//! * `alloc-small`: `Small { a: u64, b: u64 }` (16 bytes, no pointers: Shade
//!   puts it in noscan spans);
//! * `alloc-ptr`: `Link { a: u64, next }` (16 bytes, one pointer) where each
//!   new object points at the one it displaces from the ring, whose own
//!   pointer is cleared first. The live set is 2 × [`RING`] objects, each
//!   step is one pointer store into an old object plus one into the ring,
//!   and Shade's marker has to scan the objects.

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Gc, Heap, Mutator, Slot, Trace};
use std::hint::black_box;

/// Objects kept alive by the ring.
pub const RING: usize = 1024;
/// Allocations between two Shade safepoints.
pub const SAFEPOINT_EVERY: u64 = 1024;

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "alloc-small",
            workload: WorkloadId::Alloc,
            title: "alloc-small: 16-byte pointer-free objects",
            about: |p| {
                format!(
                    "{} allocations of `Small {{ a: u64, b: u64 }}` into a ring of the last {RING} \
                     (each allocation frees or orphans the object it displaces). Shade: \
                     `mu.alloc` into an `Array<Slot<Small>>` rooted by a `Local`, \
                     `mu.safepoint()` every {SAFEPOINT_EVERY} allocations. Box: \
                     `Box::new` into a `Vec<Option<Box<Small>>>`.",
                    p.alloc_count
                )
            },
            unit: Unit::NsPerOp("alloc"),
            peers: vec![
                Peer { name: "shade", about: "Shade heap (Config::default())", kind: PeerKind::InProcess(shade_small) },
                Peer { name: "box", about: "Box::new (the system allocator)", kind: PeerKind::InProcess(box_small) },
            ],
        },
        Bench {
            id: "alloc-ptr",
            workload: WorkloadId::Alloc,
            title: "alloc-ptr: 16-byte objects holding a pointer",
            about: |p| {
                format!(
                    "{} allocations of `Link {{ a: u64, next }}` into a ring of the last {RING}; \
                     each new object points at the one it displaces, whose own `next` is \
                     cleared first (live set: {} objects, two pointer stores per allocation). \
                     Shade: `next: Slot<Link>` (stores go through the write barrier, objects \
                     are scanned by the marker). Box: `next: Option<Box<Link>>`.",
                    p.alloc_count,
                    2 * RING
                )
            },
            unit: Unit::NsPerOp("alloc"),
            peers: vec![
                Peer { name: "shade", about: "Shade heap (Config::default())", kind: PeerKind::InProcess(shade_ptr) },
                Peer { name: "box", about: "Box::new (the system allocator)", kind: PeerKind::InProcess(box_ptr) },
            ],
        },
    ]
}

/// The value stored in the `i`th object (the same for every peer).
#[inline]
fn value(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn new_heap() -> Heap {
    Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"))
}

/// The Shade peers: `p.alloc_count` steps `step(mu, slot, i)`, the `i`th on
/// the ring's slot `i % RING`, with a safepoint every [`SAFEPOINT_EVERY`]; the
/// checksum folds `sum(mu, acc, object)` over the objects left in the ring.
fn shade_ring<T: Trace + Send + Sync + 'static>(
    p: &Params,
    mut step: impl FnMut(&Mutator, &Slot<T>, u64),
    sum: impl Fn(&Mutator, u64, Gc<'_, T>) -> u64,
) -> Outcome {
    let heap = new_heap();
    let mut mu = heap.mutator();
    let ring = mu.local(mu.alloc_array(RING, |_| Slot::<T>::null()));
    let mut i = 0u64;
    let mut idx = 0usize;
    while i < p.alloc_count {
        let end = (i + SAFEPOINT_EVERY).min(p.alloc_count);
        {
            let ring = ring.get(&mu);
            while i < end {
                step(&mu, &ring[idx], i);
                idx = (idx + 1) % RING;
                i += 1;
            }
        }
        mu.safepoint();
    }
    let checksum = {
        let ring = ring.get(&mu);
        ring.iter().filter_map(|s| s.get(&mu)).fold(0u64, |acc, o| sum(&mu, acc, o))
    };
    drop(ring);
    let gc = GcSummary::from_shade(&heap.stats());
    drop(mu);
    drop(heap);
    Outcome { ops: p.alloc_count, checksum, lines: Vec::new(), gc: Some(gc), ..Outcome::default() }
}

// ----- alloc-small ----------------------------------------------------------

#[derive(Trace)]
struct Small {
    a: u64,
    b: u64,
}

/// Same layout for the Box peer (no `Trace` needed).
struct BoxSmall {
    a: u64,
    b: u64,
}

fn shade_small(p: &Params) -> Outcome {
    shade_ring::<Small>(
        p,
        |mu, slot, i| {
            let v = value(i);
            let obj = mu.alloc(Small { a: v, b: !v });
            slot.set(mu, black_box(obj));
        },
        |_, acc, o| acc.wrapping_add(o.a ^ o.b),
    )
}

fn box_small(p: &Params) -> Outcome {
    let mut ring: Vec<Option<Box<BoxSmall>>> = (0..RING).map(|_| None).collect();
    let mut i = 0u64;
    let mut idx = 0usize;
    // Same loop structure as the Shade peer (the chunking is free here).
    while i < p.alloc_count {
        let end = (i + SAFEPOINT_EVERY).min(p.alloc_count);
        while i < end {
            let v = value(i);
            let obj = Box::new(BoxSmall { a: v, b: !v });
            ring[idx] = Some(black_box(obj));
            idx = (idx + 1) % RING;
            i += 1;
        }
    }
    let checksum = ring.iter().flatten().fold(0u64, |acc, o| acc.wrapping_add(o.a ^ o.b));
    drop(ring);
    Outcome { ops: p.alloc_count, checksum, lines: Vec::new(), gc: None, ..Outcome::default() }
}

// ----- alloc-ptr ------------------------------------------------------------

#[derive(Trace)]
struct Link {
    a: u64,
    next: Slot<Link>,
}

struct BoxLink {
    a: u64,
    next: Option<Box<BoxLink>>,
}

fn shade_ptr(p: &Params) -> Outcome {
    shade_ring::<Link>(
        p,
        |mu, slot, i| {
            let old = slot.get(mu);
            if let Some(o) = old {
                o.next.set(mu, None);
            }
            let obj = mu.alloc(Link { a: value(i), next: Slot::from_option(old) });
            slot.set(mu, black_box(obj));
        },
        |mu, acc, o| {
            let next = o.next.get(mu).map_or(0, |n| n.a);
            acc.wrapping_add(o.a).wrapping_add(next.rotate_left(1))
        },
    )
}

fn box_ptr(p: &Params) -> Outcome {
    let mut ring: Vec<Option<Box<BoxLink>>> = (0..RING).map(|_| None).collect();
    let mut i = 0u64;
    let mut idx = 0usize;
    while i < p.alloc_count {
        let end = (i + SAFEPOINT_EVERY).min(p.alloc_count);
        while i < end {
            let slot = &mut ring[idx];
            let mut old = slot.take();
            if let Some(o) = old.as_mut() {
                o.next = None; // frees the object `o` displaced
            }
            let obj = Box::new(BoxLink { a: value(i), next: old });
            *slot = Some(black_box(obj));
            idx = (idx + 1) % RING;
            i += 1;
        }
    }
    let checksum = ring.iter().flatten().fold(0u64, |acc, o| {
        let next = o.next.as_ref().map_or(0, |n| n.a);
        acc.wrapping_add(o.a).wrapping_add(next.rotate_left(1))
    });
    drop(ring);
    Outcome { ops: p.alloc_count, checksum, lines: Vec::new(), gc: None, ..Outcome::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_agree() {
        for n in [0, 1, 1000, 5000] {
            let p = Params { depth: 4, alloc_count: n, ..Params::default() };
            assert_eq!(shade_small(&p).checksum, box_small(&p).checksum, "small, n={n}");
            assert_eq!(shade_ptr(&p).checksum, box_ptr(&p).checksum, "ptr, n={n}");
        }
    }
}
