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

use clap::ValueEnum;
use shade::HeapStats;
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
}

impl WorkloadId {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadId::Alloc => "alloc",
            WorkloadId::BinaryTrees => "binary-trees",
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
    /// Takes the reported figures from a Shade heap's statistics.
    pub fn from_shade(s: &HeapStats) -> GcSummary {
        GcSummary {
            cycles: s.cycles,
            pause_total: s.pause_total,
            pause_max: s.pause_max,
            mark_total: s.mark_time_total,
            sweep_total: s.sweep_time_total,
            allocated_bytes: s.allocated_bytes_total,
            mark_workers: s.mark_workers as u64,
        }
    }
}

/// How a peer is run.
#[derive(Clone, Copy)]
pub enum PeerKind {
    /// A function in this binary, run in a child process of it.
    InProcess(fn(&Params) -> Outcome),
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
}

/// Every benchmark, in run order.
pub fn all() -> Vec<Bench> {
    let mut v = alloc::benches();
    v.extend(binary_trees::benches());
    v
}

/// Finds a benchmark and peer from `<bench>:<peer>`.
pub fn lookup(spec: &str) -> Result<(Bench, Peer), String> {
    let (b, p) = spec
        .split_once(':')
        .ok_or_else(|| format!("{spec:?}: expected <benchmark>:<peer>"))?;
    let bench = all()
        .into_iter()
        .find(|x| x.id == b)
        .ok_or_else(|| format!("unknown benchmark {b:?}"))?;
    let peer = *bench
        .peer(p)
        .ok_or_else(|| format!("benchmark {b} has no peer {p:?}"))?;
    Ok((bench, peer))
}
