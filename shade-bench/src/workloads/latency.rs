//! Workload `latency` (W4): the message-buffer benchmark used to compare GC
//! latency across languages (a ring of messages, each push replacing the
//! oldest; the worst push time shows the pauses a program sees).
//!
//! With the sizes: a ring of 200,000 messages of 1 KiB is filled
//! (not timed), then 2,000,000 new messages are pushed, message `n` being
//! 1024 bytes of value `n as u8` stored at `ring[n % 200,000]`, freeing (or
//! orphaning) the message it replaces. Every push is timed on its own
//! (`Instant::now()` around it); the metrics are the mean, 99th and 99.9th
//! percentile and maximum push time, and for Shade the collector's longest
//! stop-the-world pause (`HeapStats::pause_max`). A Shade push includes the
//! safepoint after it, where a stopped world is waited out, and any assist
//! the allocation pays.
//!
//! Peers: Shade (messages are `Array<u8>` in an `Array<Slot<Array<u8>>>`
//! ring), `Box<[u8; 1024]>` in a `Vec` (malloc/free) and `Rc<[u8; 1024]>`
//! in a `Vec`.

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Array, Config, Gc, Heap, Slot};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes per message.
pub const MSG: usize = 1024;

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Messages in the ring.
    pub ring: usize,
    /// Messages pushed (and timed) after the ring is full.
    pub pushes: u64,
}

impl Sizes {
    /// The sizes (200,000 and 2,000,000) times the scale.
    pub fn of(p: &Params) -> Sizes {
        Sizes { ring: p.scaled(200_000) as usize, pushes: p.scaled(2_000_000) }
    }
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "latency",
        workload: WorkloadId::Latency,
        title: "latency: message ring, time of every push",
        about: |p| {
            let s = Sizes::of(p);
            format!(
                "A ring of {} messages of {MSG} bytes (filled first, untimed); then {} pushes, each \
                 allocating a new message and replacing the oldest. Every push is timed on its own; the \
                 metrics give the mean, 99th and 99.9th percentile and maximum push time (median over the \
                 runs) and, for Shade, the collector's own longest stop-the-world pause. ns/push is the \
                 whole push phase over the pushes (timer calls included). Shade: `Array<u8>` messages (made by \
                 `alloc_array_fill`) in a rooted `Array<Slot<Array<u8>>>`, a safepoint after every push \
                 (inside the timed push). box: `Vec<Box<[u8; {MSG}]>>`. rc: `Vec<Rc<[u8; {MSG}]>>`.",
                s.ring, s.pushes
            )
        },
        unit: Unit::NsPerOp("push"),
        peers: vec![
            Peer { name: "shade", about: "Shade heap (Config::default())", kind: PeerKind::InProcess(shade_latency) },
            Peer { name: "box", about: "Box<[u8; 1024]> (malloc/free)", kind: PeerKind::InProcess(box_latency) },
            Peer { name: "rc", about: "Rc<[u8; 1024]>", kind: PeerKind::InProcess(rc_latency) },
        ],
    }]
}

fn shade_latency(p: &Params) -> Outcome {
    run_shade(Sizes::of(p))
}
fn box_latency(p: &Params) -> Outcome {
    run_box(Sizes::of(p))
}
fn rc_latency(p: &Params) -> Outcome {
    run_rc(Sizes::of(p))
}

/// Push times, in nanoseconds.
pub(crate) struct Times(Vec<u32>);

impl Times {
    pub(crate) fn new(s: Sizes) -> Times {
        Times(Vec::with_capacity(s.pushes as usize))
    }
    #[inline]
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(u32::try_from(d.as_nanos()).unwrap_or(u32::MAX));
    }
    /// The metrics, in µs.
    fn metrics(mut self, gc_pause_max: Option<Duration>) -> Vec<(String, f64)> {
        let v = &mut self.0;
        v.sort_unstable();
        let n = v.len();
        let rank = |q: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(v[i]) / 1e3
        };
        let mean = if n == 0 { 0.0 } else { v.iter().map(|&x| u64::from(x)).sum::<u64>() as f64 / n as f64 / 1e3 };
        let mut m = vec![
            ("mean push (µs)".to_string(), mean),
            ("p99 push (µs)".to_string(), rank(0.99)),
            ("p99.9 push (µs)".to_string(), rank(0.999)),
            ("max push (µs)".to_string(), rank(1.0)),
            ("pushes > 1 ms".to_string(), v.iter().filter(|&&x| x > 1_000_000).count() as f64),
        ];
        if let Some(p) = gc_pause_max {
            m.push(("GC max pause (µs)".to_string(), p.as_secs_f64() * 1e6));
        }
        m
    }
}

/// Folds one ring entry (position `i`, first and last byte) into the
/// checksum.
pub(crate) fn fold(acc: u64, i: usize, msg: &[u8]) -> u64 {
    let (first, last) = (msg.first().copied().unwrap_or(0), msg.last().copied().unwrap_or(0));
    let entry = (i as u64) << 16 | u64::from(first) << 8 | u64::from(last);
    acc.wrapping_add(entry.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ msg.len() as u64)
}

pub(crate) fn outcome(s: Sizes, checksum: u64, timed: Duration, gc: Option<GcSummary>, times: Times) -> Outcome {
    let metrics = times.metrics(gc.map(|g| g.pause_max));
    Outcome { ops: s.pushes, checksum, lines: Vec::new(), gc, timed: Some(timed), metrics }
}

// ----- Shade ----------------------------------------------------------------

/// The Shade ring: messages in a rooted array of slots.
pub(crate) type Ring = shade::Local<Array<Slot<Array<u8>>>>;

/// Allocates message `n` (`MSG` bytes of `n as u8`) and stores it at
/// `ring[n % len]`, over the message there.
#[inline]
pub(crate) fn put_message(mu: &shade::Mutator, ring: &Ring, n: u64) {
    let r = ring.get(mu);
    let m = mu.alloc_array_fill(MSG, n as u8);
    r[(n % r.len() as u64) as usize].set(mu, m);
}

/// The checksum of a Shade ring (as `fold` over its entries).
pub(crate) fn ring_checksum(mu: &shade::Mutator, ring: &Ring) -> u64 {
    let r = ring.get(mu);
    r.iter().enumerate().fold(0, |acc, (i, slot)| match slot.get(mu) {
        Some(m) => fold(acc, i, Gc::into_ref(m).as_slice()),
        None => fold(acc, i, &[]),
    })
}

/// Runs the Shade peer with explicit sizes.
pub fn run_shade(s: Sizes) -> Outcome {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let ring = mu.local(mu.alloc_array(s.ring, |_| Slot::<Array<u8>>::null()));
    for n in 0..s.ring as u64 {
        put_message(&mu, &ring, n);
        mu.safepoint();
    }
    let mut times = Times::new(s);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        put_message(&mu, &ring, n);
        mu.safepoint();
        times.push(t0.elapsed());
    }
    let timed = start.elapsed();
    let checksum = ring_checksum(&mu, &ring);
    drop(ring);
    let gc = GcSummary::from_shade(&heap.stats());
    drop(mu);
    drop(heap);
    outcome(s, checksum, timed, Some(gc), times)
}

// ----- Box and Rc -----------------------------------------------------------

/// Runs the Box peer with explicit sizes.
pub fn run_box(s: Sizes) -> Outcome {
    let mut ring: Vec<Box<[u8; MSG]>> = (0..s.ring).map(|n| Box::new([n as u8; MSG])).collect();
    let mut times = Times::new(s);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        // A new allocation and the free of the old one are the point here.
        #[allow(clippy::replace_box)]
        {
            ring[(n % s.ring as u64) as usize] = Box::new([n as u8; MSG]);
        }
        times.push(t0.elapsed());
    }
    let timed = start.elapsed();
    let checksum = ring.iter().enumerate().fold(0, |acc, (i, m)| fold(acc, i, &m[..]));
    outcome(s, checksum, timed, None, times)
}

/// Runs the Rc peer with explicit sizes.
pub fn run_rc(s: Sizes) -> Outcome {
    let mut ring: Vec<Rc<[u8; MSG]>> = (0..s.ring).map(|n| Rc::new([n as u8; MSG])).collect();
    let mut times = Times::new(s);
    let start = Instant::now();
    for k in 0..s.pushes {
        let n = s.ring as u64 + k;
        let t0 = Instant::now();
        ring[(n % s.ring as u64) as usize] = Rc::new([n as u8; MSG]);
        times.push(t0.elapsed());
    }
    let timed = start.elapsed();
    let checksum = ring.iter().enumerate().fold(0, |acc, (i, m)| fold(acc, i, &m[..]));
    outcome(s, checksum, timed, None, times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_agree() {
        let s = Sizes { ring: 300, pushes: 5000 };
        let (a, b, c) = (run_shade(s), run_box(s), run_rc(s));
        assert_eq!(a.checksum, b.checksum);
        assert_eq!(a.checksum, c.checksum);
        assert_eq!((a.ops, a.metrics.len(), b.metrics.len()), (5000, 6, 5));
        let get = |o: &Outcome, k: &str| o.metrics.iter().find(|m| m.0 == k).map(|m| m.1).unwrap();
        assert!(get(&a, "max push (µs)") >= get(&a, "p99.9 push (µs)"));
        assert!(get(&a, "p99.9 push (µs)") >= get(&a, "p99 push (µs)"));
    }

    #[test]
    fn percentiles() {
        let t = Times((1..=1000).map(|x| x * 1000).collect());
        let m = t.metrics(None);
        let get = |k: &str| m.iter().find(|x| x.0 == k).unwrap().1;
        assert_eq!(get("p99 push (µs)"), 990.0);
        assert_eq!(get("p99.9 push (µs)"), 999.0);
        assert_eq!(get("max push (µs)"), 1000.0);
        assert_eq!(get("mean push (µs)"), 500.5);
    }
}
