//! Workload `shared` (W6): 1, 2 and 4 threads mutating and allocating into
//! one shared object graph, to show how throughput scales.
//!
//! A shared table of `table` entries, entry `i` always holding a node with
//! key `i`. Each thread (thread `t` of `T`) owns the entries `i ≡ t (mod T)`
//! and performs its share of the `ops` operations; one operation, with `i`
//! a random entry of its own and `j` a random entry of any thread's (its own
//! splitmix64 stream):
//!
//! 1. read the node in entry `j` (another thread's, usually);
//! 2. clear the `next` link of the node in entry `i` that is about to be
//!    replaced (so chains of replaced nodes cannot grow);
//! 3. allocate a new node `{ key: i, version, next: <node read in 1> }` and
//!    store it into entry `i`; the replaced node becomes garbage once no
//!    other node links to it.
//!
//! The live graph is at most twice the table; everything else is
//! short-lived. The result does not depend on how the threads interleave
//! (only thread `t` writes its entries, and entry `j` always holds key `j`),
//! so the checksum is the same for every peer.
//!
//! The three thread counts run one after the other in the same child
//! process (after an untimed 1-thread warm-up), each on a fresh heap
//! (Shade) or table; the metrics give the
//! throughput of each (Mops/s, from the start barrier to the last thread's
//! end) and the 2-thread/1-thread and 4-thread/1-thread ratios. ns/op is the
//! three phases' time over their operations. To show where a phase's time
//! goes, the metrics also give, for the 1- and 2-thread phases, the CPU
//! time of the mutator threads over the phase's wall time (how many cores
//! the mutators had on average) and, for the 2-thread phase, the share of
//! the process's CPU time spent outside the mutator threads (for Shade: its
//! mark workers and sweeper), and, measured first in the same process,
//! how much faster two threads spinning on pure arithmetic run than one
//! (`machine 2T/1T`: the ceiling this machine puts on any scaling).
//!
//! Peers: Shade (every thread attaches its own `Mutator` to the one `Heap`;
//! the table is an `Array<Slot<Node>>` shared as a `Root`; a safepoint every
//! [`SAFEPOINT_EVERY`] operations) and `arc-mutex` (the table a
//! `Vec<Mutex<Option<Arc<Node>>>>`, `next` a `Mutex<Option<Arc<Node>>>`).

use super::stores::SplitMix64;
use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use crate::measure::process_cpu_time;
use shade::{Array, Config, Heap, HeapStats, Root, Slot, Trace};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The benchmark id.
pub const ID: &str = "shared";
/// Thread counts, run in this order.
pub const THREADS: [usize; 3] = [1, 2, 4];
/// Operations between two Shade safepoints.
pub const SAFEPOINT_EVERY: u64 = 256;
/// Target of the 2-thread/1-thread throughput ratio.
pub const TARGET_2T: f64 = 1.6;

/// The sizes of a run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Table entries.
    pub table: usize,
    /// Operations per thread count (split among the threads).
    pub ops: u64,
}

impl Sizes {
    /// 100,000 entries and 16,000,000 operations per thread count, times
    /// the scale (so that each phase of the default run, at scale 0.25, lasts
    /// a few hundred milliseconds: shorter phases measured scheduling noise
    /// more than scaling).
    pub fn of(p: &Params) -> Sizes {
        Sizes { table: p.scaled(100_000).max(64) as usize, ops: p.scaled(16_000_000) }
    }
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: ID,
        workload: WorkloadId::Shared,
        title: "shared: threads mutating one shared graph (1, 2, 4 threads)",
        about: |p| {
            let s = Sizes::of(p);
            format!(
                "A shared table of {} entries; {} operations per thread count, split among 1, 2 and 4 threads \
                 (run one after the other, after an untimed 1-thread warm-up, each on a fresh heap or table). \
                 An operation: read a random entry j (any thread's), clear the \
                 `next` link of the node in a random own entry i, allocate a new node linking to the node \
                 read and store it into entry i. Metrics: throughput per thread count (Mops/s) and the \
                 2-thread/1-thread and 4-thread/1-thread ratios (target for 2/1: ≥ {TARGET_2T}×); this \
                 machine has {} CPUs available (Shade's background mark worker shares them with the mutator \
                 threads; 4 threads oversubscribe 2 CPUs). Shade: one \
                 `Heap`, a `Mutator` per thread, the table an `Array<Slot<Node>>` shared as a `Root`, a \
                 safepoint every {SAFEPOINT_EVERY} operations. arc-mutex: `Vec<Mutex<Option<Arc<Node>>>>` \
                 table, `Mutex<Option<Arc<Node>>>` links.",
                s.table,
                s.ops,
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )
        },
        unit: Unit::NsPerOp("op"),
        peers: vec![
            Peer { name: "shade", about: "Shade heap, a Mutator per thread", kind: PeerKind::InProcess(shade_shared) },
            Peer {
                name: "arc-mutex",
                about: "Arc nodes, Mutex table entries and links",
                kind: PeerKind::InProcess(arc_shared),
            },
        ],
    }]
}

fn shade_shared(p: &Params) -> Outcome {
    run_shade(Sizes::of(p))
}
fn arc_shared(p: &Params) -> Outcome {
    run_arc(Sizes::of(p))
}

/// Entries owned by thread `t` of `threads`.
fn owned(table: usize, t: usize, threads: usize) -> u64 {
    ((table + threads - 1 - t) / threads) as u64
}

/// Thread `t`'s random stream in a phase of `threads` threads.
fn rng(t: usize, threads: usize) -> SplitMix64 {
    SplitMix64::new(42 ^ ((threads as u64) << 32) ^ t as u64)
}

/// Operations of thread `t`.
fn ops_of(s: Sizes, t: usize, threads: usize) -> u64 {
    s.ops / threads as u64 + u64::from((t as u64) < s.ops % threads as u64)
}

/// CPU time consumed so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one phase measured.
struct PhaseRun {
    time: Duration,
    checksum: u64,
    /// CPU time of the mutator threads, summed.
    mutator_cpu: Duration,
    /// CPU time of the whole process over the phase.
    process_cpu: Duration,
}

/// Runs `threads` workers between a start barrier and their joins, timing
/// the phase: `work(t, start)` waits at `start`, works, and returns its
/// checksum part and its thread's CPU time.
fn timed_phase<F>(threads: usize, work: F) -> (Duration, u64, Duration, Duration)
where
    F: Fn(usize, &Barrier) -> (u64, Duration) + Sync,
{
    let start = Barrier::new(threads + 1);
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (work, start) = (&work, &start);
                sc.spawn(move || work(t, start))
            })
            .collect();
        start.wait();
        let (t0, cpu0) = (Instant::now(), process_cpu_time());
        let (sum, cpu) = hs
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .fold((0u64, Duration::ZERO), |(s, c), (x, d)| (s.wrapping_add(x), c + d));
        (t0.elapsed(), sum, cpu, process_cpu_time().saturating_sub(cpu0))
    })
}

/// How well this machine runs two threads at once: the speed-up of two
/// threads over one on pure arithmetic (no memory, no locks), measured in
/// the run's own process. On a dedicated 2-core machine it is about 2; on a
/// shared virtual machine it can be well below, and no workload can scale
/// better than it.
fn spin_scaling() -> f64 {
    fn spin(n: u64) -> u64 {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        x
    }
    const N: u64 = 100_000_000;
    let t = Instant::now();
    std::hint::black_box(spin(std::hint::black_box(N)));
    let one = t.elapsed();
    let t = Instant::now();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| spin(std::hint::black_box(N)))).collect();
        for h in hs {
            std::hint::black_box(h.join().expect("spin thread"));
        }
    });
    2.0 * one.as_secs_f64() / t.elapsed().as_secs_f64().max(1e-9)
}

/// The untimed warm-up phase run first (one thread, a quarter of the
/// operations), so that the 1-thread phase does not alone pay for a cold
/// process (fresh allocator arenas, page faults, cold caches).
fn warm_up(s: Sizes) -> Sizes {
    Sizes { ops: s.ops / 4, ..s }
}

/// Folds one final table entry (key, version, key of `next`) into `acc`.
fn fold(acc: u64, key: u64, version: u64, next: Option<u64>) -> u64 {
    let e =
        key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ version.rotate_left(20) ^ next.map_or(0, |k| k + 1).rotate_left(40);
    (acc ^ e).wrapping_mul(0x0000_0100_0000_01B3)
}

/// The figures of the three phases.
struct Phases {
    checksum: u64,
    times: Vec<(usize, Duration)>,
    cpu: Vec<(String, f64)>,
    ops: u64,
}

impl Phases {
    fn new() -> Phases {
        Phases { checksum: 0, times: Vec::new(), cpu: Vec::new(), ops: 0 }
    }
    fn add(&mut self, threads: usize, ops: u64, run: PhaseRun) {
        self.times.push((threads, run.time));
        self.ops += ops;
        self.checksum = self.checksum.rotate_left(17) ^ run.checksum;
        let wall = run.time.as_secs_f64().max(1e-9);
        if threads <= 2 {
            self.cpu.push((format!("{threads}T mutator cores"), run.mutator_cpu.as_secs_f64() / wall));
        }
        if threads == 2 {
            let other = run.process_cpu.saturating_sub(run.mutator_cpu).as_secs_f64();
            self.cpu.push(("2T other CPU %".into(), 100.0 * other / run.process_cpu.as_secs_f64().max(1e-9)));
        }
    }
    fn finish(self, gc: Option<GcSummary>) -> Outcome {
        let per_phase = self.ops / self.times.len().max(1) as u64;
        let mops = |d: Duration| per_phase as f64 / d.as_secs_f64().max(1e-9) / 1e6;
        let mut metrics: Vec<(String, f64)> = self
            .times
            .iter()
            .map(|&(t, d)| (format!("{t} thread{} (Mops/s)", if t == 1 { "" } else { "s" }), mops(d)))
            .collect();
        if let Some(&(_, one)) = self.times.iter().find(|x| x.0 == 1) {
            for &(t, d) in self.times.iter().filter(|x| x.0 > 1) {
                metrics.push((format!("{t}T/1T"), mops(d) / mops(one)));
            }
        }
        metrics.extend(self.cpu);
        let timed = self.times.iter().map(|x| x.1).sum();
        Outcome { ops: self.ops, checksum: self.checksum, lines: Vec::new(), gc, timed: Some(timed), metrics }
    }
}

// ----- Shade ----------------------------------------------------------------

#[derive(Trace)]
struct Node {
    key: u64,
    version: u64,
    next: Slot<Node>,
}

fn shade_worker(
    heap: &Heap,
    table: &Root<Array<Slot<Node>>>,
    s: Sizes,
    t: usize,
    threads: usize,
    start: &Barrier,
) -> (u64, Duration) {
    let mut mu = heap.mutator();
    mu.parked(|| start.wait());
    let cpu0 = thread_cpu_time();
    let mut rng = rng(t, threads);
    let (own, n, ops) = (owned(s.table, t, threads), s.table as u64, ops_of(s, t, threads));
    let mut sum = 0u64;
    let mut k = 0;
    while k < ops {
        let end = (k + SAFEPOINT_EVERY).min(ops);
        {
            let tb = table.get(&mu);
            while k < end {
                k += 1;
                let i = (rng.below(own) * threads as u64 + t as u64) as usize;
                let j = rng.below(n) as usize;
                let target = tb[j].get(&mu);
                sum = sum.wrapping_add(target.map_or(u64::MAX, |x| x.key));
                if let Some(old) = tb[i].get(&mu) {
                    old.next.set(&mu, None);
                }
                let node = mu.alloc(Node { key: i as u64, version: k, next: Slot::from_option(target) });
                tb[i].set(&mu, node);
            }
        }
        mu.safepoint();
    }
    (sum, thread_cpu_time().saturating_sub(cpu0))
}

/// One phase on a fresh heap: its figures and the heap's statistics.
fn shade_phase(s: Sizes, threads: usize) -> (PhaseRun, HeapStats) {
    let heap = Heap::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let table = {
        let mu = heap.mutator();
        let a =
            mu.alloc_array(s.table, |i| Slot::new(mu.alloc(Node { key: i as u64, version: 0, next: Slot::null() })));
        mu.root(a)
    }; // the mutator detaches; the Root keeps the table alive
    let (time, sum, mutator_cpu, process_cpu) =
        timed_phase(threads, |t, start| shade_worker(&heap, &table, s, t, threads, start));
    let mu = heap.mutator();
    let checksum = table.get(&mu).iter().fold(sum, |acc, slot| match slot.get(&mu) {
        Some(x) => fold(acc, x.key, x.version, x.next.get(&mu).map(|n| n.key)),
        None => fold(acc, u64::MAX, 0, None),
    });
    drop(table);
    drop(mu);
    (PhaseRun { time, checksum, mutator_cpu, process_cpu }, heap.stats())
}

/// Runs the Shade peer with explicit sizes.
pub fn run_shade(s: Sizes) -> Outcome {
    let spin = spin_scaling();
    shade_phase(warm_up(s), 1);
    let mut out = Phases::new();
    out.cpu.push(("machine 2T/1T".into(), spin));
    let mut gc = GcSummary::default();
    for threads in THREADS {
        let (run, st) = shade_phase(s, threads);
        gc.cycles += st.cycles;
        gc.pause_total += st.pause_total;
        gc.pause_max = gc.pause_max.max(st.pause_max);
        gc.stop_wait_max = gc.stop_wait_max.max(Some(st.stop_wait_max));
        gc.mark_total += st.mark_time_total;
        gc.sweep_total += st.sweep_time_total;
        gc.allocated_bytes += st.allocated_bytes_total;
        gc.mark_workers = st.mark_workers as u64;
        out.add(threads, s.ops, run);
    }
    out.finish(Some(gc))
}

// ----- Arc + Mutex ----------------------------------------------------------

struct ArcNode {
    key: u64,
    version: u64,
    next: Mutex<Option<Arc<ArcNode>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type ArcTable = Vec<Mutex<Option<Arc<ArcNode>>>>;

fn arc_worker(table: &ArcTable, s: Sizes, t: usize, threads: usize, start: &Barrier) -> (u64, Duration) {
    start.wait();
    let cpu0 = thread_cpu_time();
    let mut rng = rng(t, threads);
    let (own, n, ops) = (owned(s.table, t, threads), s.table as u64, ops_of(s, t, threads));
    let mut sum = 0u64;
    for k in 1..=ops {
        let i = (rng.below(own) * threads as u64 + t as u64) as usize;
        let j = rng.below(n) as usize;
        let target = lock(&table[j]).clone();
        sum = sum.wrapping_add(target.as_ref().map_or(u64::MAX, |x| x.key));
        let node = Arc::new(ArcNode { key: i as u64, version: k, next: Mutex::new(target) });
        let old = lock(&table[i]).replace(node);
        if let Some(old) = old {
            lock(&old.next).take();
        }
    }
    (sum, thread_cpu_time().saturating_sub(cpu0))
}

/// One phase on a fresh table.
fn arc_phase(s: Sizes, threads: usize) -> PhaseRun {
    let table: ArcTable = (0..s.table)
        .map(|i| Mutex::new(Some(Arc::new(ArcNode { key: i as u64, version: 0, next: Mutex::new(None) }))))
        .collect();
    let (time, sum, mutator_cpu, process_cpu) =
        timed_phase(threads, |t, start| arc_worker(&table, s, t, threads, start));
    let checksum = table.iter().fold(sum, |acc, e| match lock(e).as_ref() {
        Some(x) => fold(acc, x.key, x.version, lock(&x.next).as_ref().map(|n| n.key)),
        None => fold(acc, u64::MAX, 0, None),
    });
    PhaseRun { time, checksum, mutator_cpu, process_cpu }
}

/// Runs the Arc + Mutex peer with explicit sizes.
pub fn run_arc(s: Sizes) -> Outcome {
    let spin = spin_scaling();
    arc_phase(warm_up(s), 1);
    let mut out = Phases::new();
    out.cpu.push(("machine 2T/1T".into(), spin));
    for threads in THREADS {
        out.add(threads, s.ops, arc_phase(s, threads));
    }
    out.finish(None)
}

// ----- derived figures ------------------------------------------------------

/// The report's derived lines: each peer's 2-thread/1-thread throughput
/// ratio against the target. `get(peer, key)` gives a peer's median metric.
pub fn derived(get: &dyn Fn(&str, &str) -> Option<f64>) -> Vec<String> {
    ["shade", "arc-mutex"]
        .iter()
        .filter_map(|&peer| {
            let r = get(peer, "2T/1T")?;
            let cores =
                match (get(peer, "1T mutator cores"), get(peer, "2T mutator cores"), get(peer, "2T other CPU %")) {
                    (Some(c1), Some(c2), Some(o)) => format!(
                        " (mutator threads ran on {c1:.2} cores on average with 1 thread, {c2:.2} with 2; \
                         {o:.0}% of the 2-thread phase's CPU time went to other threads{})",
                        get(peer, "machine 2T/1T").map_or(String::new(), |m| format!(
                            "; on this machine two threads spinning on pure arithmetic reach {m:.2}× one"
                        ))
                    ),
                    _ => String::new(),
                };
            Some(format!(
                "{peer}: 2 threads give **{r:.2}×** the 1-thread throughput: target ≥ {TARGET_2T}× **{}**{cores}",
                if r >= TARGET_2T { "met" } else { "missed" }
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_covers_the_table() {
        for (table, threads) in [(64, 1), (64, 2), (65, 4), (7, 4)] {
            let total: u64 = (0..threads).map(|t| owned(table, t, threads)).sum();
            assert_eq!(total, table as u64);
            for t in 0..threads {
                let last = (owned(table, t, threads) - 1) * threads as u64 + t as u64;
                assert!(last < table as u64);
            }
        }
        let s = Sizes { table: 64, ops: 10 };
        assert_eq!((0..4).map(|t| ops_of(s, t, 4)).sum::<u64>(), 10);
    }

    #[test]
    fn peers_agree() {
        let s = Sizes { table: 500, ops: 20_000 };
        let (a, b) = (run_shade(s), run_arc(s));
        assert_eq!(a.checksum, b.checksum);
        assert_eq!(a.ops, 3 * s.ops);
        assert!(a.metrics.iter().any(|m| m.0 == "2T/1T"));
        let again = run_shade(s);
        assert_eq!(again.checksum, a.checksum);
    }
}
