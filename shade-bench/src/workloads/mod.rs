//! The benchmark registry: workloads, the benchmarks they consist of, and the
//! peers (implementations) each benchmark is run on.
//!
//! Vocabulary:
//!
//! * a **workload** is what the user selects with `--workloads` (`alloc`,
//!   `binary-trees`);
//! * a **benchmark** is one measured program shape inside a workload
//!   (`alloc` has `alloc-small` and `alloc-ptr`);
//! * a **peer** is one implementation of a benchmark (`shade`, `box`, `rc`;
//!   later `go`, `jvm`, `boehm`, other Rust GC crates).
//!
//! Every (benchmark, peer) pair runs in a fresh child process
//! (`shade-bench --run-one <benchmark>:<peer>`, see `measure::run_child`), so
//! peak RSS is per peer and no peer inherits another's heap or allocator
//! state. To add a peer, give a benchmark another [`Peer`]; to add a
//! benchmark, add a [`Bench`] to [`all`] (and a [`WorkloadId`] if it is a new
//! workload). Out-of-process peers (Go, the JVM) will get a second
//! [`PeerKind`] that runs an external command speaking the same result
//! protocol.

pub mod alloc;
pub mod binary_trees;
pub mod crates;
pub mod external;
pub mod gcbench;
pub mod heap_scaling;
pub mod late;
pub mod latency;
pub mod map;
pub mod shared;
pub mod stores;
pub mod vm;
pub mod weak;
pub mod write_barrier;

use clap::ValueEnum;
use shade::{Heap, HeapStats, Mutator};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The peer every other one is compared against.
pub const SUBJECT: &str = "shade";

/// Workloads selectable on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkloadId {
    /// Allocation throughput of small objects (a ring of 1024 kept alive),
    /// pointer-free and pointer-holding: Shade vs Box.
    Alloc,
    /// The benchmarks-game binary-trees program: Shade vs Rc (and Box).
    BinaryTrees,
    /// Boehm's GCBench: long-lived data plus short-lived trees built top
    /// down and bottom up: Shade vs Rc, Arc.
    Gcbench,
    /// A large long-lived tree (depth 20, 24) while short trees churn:
    /// Shade's CPU per live byte vs Rc, and its mark rate (W11).
    HeapScaling,
    /// Random pointer stores into a large live graph, with no cycle, with
    /// cycles, with forced cycles: Shade vs Rc, Arc (ns per store).
    Stores,
    /// Message ring: worst-case and percentile push times (GC latency):
    /// Shade vs Box, Rc.
    Latency,
    /// Cost of a pointer store per write-barrier mode, with collections
    /// forced back to back (Go's BenchmarkWriteBarrier shape).
    WriteBarrier,
    /// One mutator's push latency while another mutator of the same heap
    /// builds large trees between safepoints (late to every handshake).
    LateMutator,
    /// 1, 2 and 4 threads mutating one shared graph: throughput scaling,
    /// Shade vs Arc<Mutex>.
    Shared,
    /// Weak references: a string intern table (WeakSet vs a hand-pruned
    /// HashMap of Rc) and the cost of a weak upgrade, marking off and on.
    Weak,
    /// Umbra, the bytecode VM of `vm/`: dispatch (fib, method calls) vs the
    /// same VM with no memory management, allocation vs the same VM on Rc.
    Vm,
    /// A hash map in the heap: insert/lookup/remove churn with u64 and
    /// string keys, Shade's GcMap vs std HashMap behind Rc<RefCell> and
    /// gc-arena's RefLock<HashMap>.
    Map,
}

impl WorkloadId {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadId::Alloc => "alloc",
            WorkloadId::BinaryTrees => "binary-trees",
            WorkloadId::Gcbench => "gcbench",
            WorkloadId::HeapScaling => "heap-scaling",
            WorkloadId::Stores => "stores",
            WorkloadId::Latency => "latency",
            WorkloadId::WriteBarrier => "write-barrier",
            WorkloadId::LateMutator => "late-mutator",
            WorkloadId::Shared => "shared",
            WorkloadId::Weak => "weak",
            WorkloadId::Vm => "vm",
            WorkloadId::Map => "map",
        }
    }
}

/// Sizes of the workloads.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Binary-trees maximum depth N.
    pub depth: u32,
    /// Objects allocated per alloc run.
    pub alloc_count: u64,
    /// Size factor of the stores, latency, write-barrier and shared
    /// workloads relative to the sizes of the issue that defined them
    /// (1.0): counts are multiplied by it, tree depths shifted by
    /// round(log2(scale)).
    pub scale: f64,
    /// The same for gcbench, which is short enough to run at the issue's
    /// sizes by default.
    pub gcbench_scale: f64,
}

impl Default for Params {
    /// The default run's sizes.
    fn default() -> Params {
        Params { depth: 19, alloc_count: 20_000_000, scale: 1.0, gcbench_scale: 1.0 }
    }
}

impl Params {
    /// `n` times the scale, at least 1.
    pub fn scaled(&self, n: u64) -> u64 {
        ((n as f64 * self.scale).round() as u64).max(1)
    }

    /// round(log2(scale)): what tree depths are shifted by.
    pub fn depth_shift(&self) -> i32 {
        if self.scale > 0.0 {
            self.scale.log2().round() as i32
        } else {
            0
        }
    }
}

/// How a benchmark's primary figure is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation (wall time / ops); the name of one op.
    NsPerOp(&'static str),
    /// Wall-clock seconds for the whole run.
    Seconds,
}

/// What a workload function returns (timing is measured around it).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Operations performed (allocations).
    pub ops: u64,
    /// A value that must be equal for all peers of a benchmark.
    pub checksum: u64,
    /// Human-readable result lines (binary-trees' check lines); must also be
    /// equal across peers.
    pub lines: Vec<String>,
    /// Collector statistics, for peers that have a collector.
    pub gc: Option<GcSummary>,
    /// Time of the measured part when the workload times only part of its
    /// run (e.g. the store loops, not building the graph); the report's
    /// primary figure then uses it instead of the wall time.
    pub timed: Option<Duration>,
    /// Further named figures (latency percentiles, barrier statistics,
    /// scaling ratios), shown in the benchmark's section of the report.
    /// Names may not contain newlines; peers may report different sets.
    pub metrics: Vec<(String, f64)>,
}

/// The collector figures reported per run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GcSummary {
    /// Completed collection cycles.
    pub cycles: u64,
    /// Sum of stop-the-world pauses.
    pub pause_total: Duration,
    /// Longest pause.
    pub pause_max: Duration,
    /// Longest wait of a collection for running mutators to reach a
    /// safepoint (Shade's `HeapStats::stop_wait_max`; not a pause).
    pub stop_wait_max: Option<Duration>,
    /// Time spent marking.
    pub mark_total: Duration,
    /// Time spent sweeping.
    pub sweep_total: Duration,
    /// Bytes allocated over the heap's life.
    pub allocated_bytes: u64,
    /// Threads that mark in a cycle.
    pub mark_workers: u64,
}

impl GcSummary {
    /// Takes the reported figures from a Shade heap's statistics. It also
    /// keeps the heap's per-cycle log for this process's `@cycle` lines (see
    /// [`take_cycle_log`]): the log of the last heap reported wins.
    pub fn from_shade(s: &HeapStats) -> GcSummary {
        *CYCLE_LOG.lock().unwrap_or_else(|e| e.into_inner()) = s.cycle_log.clone();
        GcSummary {
            cycles: s.cycles,
            pause_total: s.pause_total,
            pause_max: s.pause_max,
            stop_wait_max: Some(s.stop_wait_max),
            mark_total: s.mark_time_total,
            sweep_total: s.sweep_time_total,
            allocated_bytes: s.allocated_bytes_total,
            mark_workers: s.mark_workers as u64,
        }
    }
}

/// The cycle log of the heap last passed to [`GcSummary::from_shade`].
static CYCLE_LOG: std::sync::Mutex<Vec<shade::CycleInfo>> = std::sync::Mutex::new(Vec::new());

/// Another thread calling `heap.collect()` back to back until
/// [`Forcer::stop`] (the benchmarks with forced collections), or no thread.
pub(crate) struct Forcer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Forcer {
    /// Starts the thread on `heap` if `on`.
    pub(crate) fn start(heap: &Heap, on: bool) -> Forcer {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = on.then(|| {
            let (heap, stop) = (heap.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    heap.collect();
                }
            })
        });
        Forcer { stop, thread }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self, mu: &mut Mutator) {
        self.stop.store(true, Ordering::Relaxed);
        // The forcer's last collection needs this mutator at a safepoint.
        if let Some(f) = self.thread {
            mu.parked(|| f.join()).expect("collector thread panicked");
        }
    }
}

/// Takes the cycle log kept by [`GcSummary::from_shade`] (empty if no Shade
/// heap was reported); the child process prints it as `@cycle` lines.
pub fn take_cycle_log() -> Vec<shade::CycleInfo> {
    std::mem::take(&mut *CYCLE_LOG.lock().unwrap_or_else(|e| e.into_inner()))
}

/// How a peer is run.
#[derive(Clone, Copy)]
pub enum PeerKind {
    /// A function in this binary, run in a child process of it.
    InProcess(fn(&Params) -> Outcome),
    /// A program in another language (`bench/peers/`), built once per
    /// invocation and run directly as the child process (see [`external`]).
    External(external::External),
}

/// One implementation of a benchmark.
#[derive(Clone, Copy)]
pub struct Peer {
    /// Short name (`shade`, `box`, `rc`), used in `--peers` and `--run-one`.
    pub name: &'static str,
    /// One line on what it is.
    pub about: &'static str,
    /// How to run it.
    pub kind: PeerKind,
}

/// One measured program shape, with its peers.
pub struct Bench {
    /// Identifier, used in `--run-one <id>:<peer>`.
    pub id: &'static str,
    /// The workload it belongs to.
    pub workload: WorkloadId,
    /// Heading in the report.
    pub title: &'static str,
    /// Paragraph in the report on what it does.
    pub about: fn(&Params) -> String,
    /// How its primary figure is expressed.
    pub unit: Unit,
    /// Peers, the subject ([`SUBJECT`]) first, then the baselines it is
    /// compared against, the primary baseline first.
    pub peers: Vec<Peer>,
}

impl Bench {
    /// The peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The peer the others are compared against: [`SUBJECT`] if the
    /// benchmark has it, else its first peer (`shade-buffered` in
    /// write-barrier, whose peers are Shade's barrier modes).
    pub fn subject(&self) -> &'static str {
        match self.peers.first() {
            Some(first) if self.peer(SUBJECT).is_none() => first.name,
            _ => SUBJECT,
        }
    }
}

/// The key of a peer's primary figure (ns/op or seconds) for [`derived`]:
/// its median over the runs.
pub const PRIMARY: &str = "@primary";
/// As [`PRIMARY`], the minimum over the runs (steadier on a busy machine).
pub const PRIMARY_MIN: &str = "@primary-min";

/// Figures a benchmark derives from its peers' results for the report
/// (ratios between peers, with targets), one line each. `get(peer, key)`
/// gives the median over the runs of a peer's metric `key`, or its primary
/// figure's median for [`PRIMARY`] and minimum for [`PRIMARY_MIN`].
pub fn derived(bench: &str, get: &dyn Fn(&str, &str) -> Option<f64>) -> Vec<String> {
    match bench {
        write_barrier::ID => write_barrier::derived(get),
        shared::ID => shared::derived(get),
        _ => Vec::new(),
    }
}

/// Every benchmark, in run order.
pub fn all() -> Vec<Bench> {
    let mut v = alloc::benches();
    v.extend(binary_trees::benches());
    v.extend(gcbench::benches());
    v.extend(heap_scaling::benches());
    v.extend(stores::benches());
    v.extend(latency::benches());
    v.extend(late::benches());
    v.extend(write_barrier::benches());
    v.extend(shared::benches());
    v.extend(weak::benches());
    v.extend(vm::benches());
    v.extend(map::benches());
    crates::attach(&mut v);
    external::attach(&mut v);
    v
}

/// Finds a benchmark and peer from `<bench>:<peer>`.
pub fn lookup(spec: &str) -> Result<(Bench, Peer), String> {
    let (b, p) = spec.split_once(':').ok_or_else(|| format!("{spec:?}: expected <benchmark>:<peer>"))?;
    let bench = all().into_iter().find(|x| x.id == b).ok_or_else(|| format!("unknown benchmark {b:?}"))?;
    let peer = *bench.peer(p).ok_or_else(|| format!("benchmark {b} has no peer {p:?}"))?;
    Ok((bench, peer))
}
