//! Runs the selected benchmarks: every (benchmark, peer) run in a child
//! process, peers interleaved within each repetition (rep 1: A, B, C; rep 2:
//! A, B, C; …) so slow drifts in machine speed hit every peer alike.

use crate::measure::{self, Sample};
use crate::workloads::external::{self, Unavailable};
use crate::workloads::{Bench, Params, Peer, PeerKind};
use std::path::Path;
use std::time::Instant;

/// What to run.
pub struct Plan {
    /// Selected benchmarks, in run order.
    pub benches: Vec<Bench>,
    /// Peer filter (empty: all peers).
    pub peers: Vec<String>,
    /// Workload sizes.
    pub params: Params,
    /// Repetitions.
    pub reps: u32,
    /// `--busy`: a spinning thread ran beside every peer (busy.rs).
    pub busy: bool,
}

impl Plan {
    /// The peers of `b` that pass the filter.
    pub fn peers_of<'a>(&self, b: &'a Bench) -> Vec<&'a Peer> {
        b.peers.iter().filter(|p| self.peers.is_empty() || self.peers.iter().any(|f| f == p.name)).collect()
    }
}

/// The runs of one peer.
pub struct PeerResult {
    /// The peer.
    pub peer: Peer,
    /// One sample per successful repetition.
    pub samples: Vec<Sample>,
    /// Failed repetitions (or the failed build of an external peer).
    pub errors: Vec<String>,
    /// Why the peer did not run, if it was skipped (an external peer whose
    /// toolchain is not installed).
    pub skipped: Option<String>,
}

/// The runs of one benchmark.
pub struct BenchResult<'a> {
    /// The benchmark.
    pub bench: &'a Bench,
    /// Its peers' runs, in the benchmark's peer order.
    pub peers: Vec<PeerResult>,
}

impl BenchResult<'_> {
    /// The results of peer `name`, if it ran.
    pub fn peer(&self, name: &str) -> Option<&PeerResult> {
        self.peers.iter().find(|p| p.peer.name == name)
    }

    /// Whether every successful run of every peer produced the same checksum
    /// and result lines.
    pub fn checksums_agree(&self) -> bool {
        let mut all = self.peers.iter().flat_map(|p| &p.samples);
        match all.next() {
            None => true,
            Some(first) => {
                all.all(|s| s.outcome.checksum == first.outcome.checksum && s.outcome.lines == first.outcome.lines)
            }
        }
    }
}

/// Everything that ran.
pub struct Results<'a> {
    /// Per benchmark.
    pub benches: Vec<BenchResult<'a>>,
    /// Total wall time of the suite.
    pub elapsed: std::time::Duration,
}

impl Results<'_> {
    /// Failures and checksum mismatches, as messages.
    pub fn problems(&self) -> Vec<String> {
        let mut v = Vec::new();
        for b in &self.benches {
            for p in &b.peers {
                for e in &p.errors {
                    v.push(format!("{}:{}: {e}", b.bench.id, p.peer.name));
                }
            }
            if !b.checksums_agree() {
                v.push(format!("{}: peers' checksums differ", b.bench.id));
            }
        }
        v
    }
}

/// A one-line summary of a sample for the progress output.
fn progress_summary(b: &Bench, s: &Sample) -> String {
    use crate::workloads::Unit;
    let main = match b.unit {
        Unit::NsPerOp(op) => format!("{:.2} ns/{op}", s.timed().as_secs_f64() * 1e9 / s.outcome.ops.max(1) as f64),
        Unit::Seconds => format!("{:.3} s", s.timed().as_secs_f64()),
    };
    let rss = s.peak_rss_kb.map_or(String::new(), |k| format!(", peak RSS {:.1} MiB", k as f64 / 1024.0));
    let gc = s.outcome.gc.map_or(String::new(), |g| {
        format!(", {} GC cycles, max pause {:.2} ms", g.cycles, g.pause_max.as_secs_f64() * 1e3)
    });
    format!("{main} (CPU {:.3} s){rss}{gc}", s.cpu.as_secs_f64())
}

/// Runs the plan, printing progress to stderr.
pub fn run<'a>(exe: &Path, plan: &'a Plan) -> Results<'a> {
    let start = Instant::now();
    // External peers: find and build their toolchains first, once each; a
    // missing toolchain skips its peers, a failed build fails them.
    let runnable = |p: &Peer| match p.kind {
        PeerKind::External(x) => external::prepare(x.runtime.toolchain()).is_ok(),
        PeerKind::InProcess(_) => true,
    };
    let steps: usize = plan
        .benches
        .iter()
        .map(|b| plan.peers_of(b).into_iter().filter(|p| runnable(p)).count() * plan.reps as usize)
        .sum();
    eprintln!(
        "shade-bench: {steps} runs (depth {}, alloc-count {}, gcbench-scale {}, scale {}, {} rep{}), each in a child process",
        plan.params.depth,
        plan.params.alloc_count,
        plan.params.gcbench_scale,
        plan.params.scale,
        plan.reps,
        if plan.reps == 1 { "" } else { "s" }
    );
    let width = steps.to_string().len();
    let mut step = 0;
    let mut benches = Vec::new();
    for b in &plan.benches {
        let peers = plan.peers_of(b);
        let mut results: Vec<PeerResult> = peers
            .iter()
            .map(|&&peer| {
                let mut r = PeerResult { peer, samples: Vec::new(), errors: Vec::new(), skipped: None };
                if let PeerKind::External(x) = peer.kind {
                    match external::prepare(x.runtime.toolchain()) {
                        Err(Unavailable::Missing(m)) => r.skipped = Some(m.clone()),
                        Err(Unavailable::BuildFailed(m)) => r.errors.push(m.clone()),
                        Ok(_) => {}
                    }
                }
                r
            })
            .collect();
        for rep in 1..=plan.reps {
            for r in results.iter_mut().filter(|r| runnable(&r.peer)) {
                step += 1;
                eprint!("[{step:>width$}/{steps}] {:<13} {:<6} rep {rep}/{} ... ", b.id, r.peer.name, plan.reps);
                let sample = match r.peer.kind {
                    PeerKind::External(x) => external::run(&x, &plan.params),
                    PeerKind::InProcess(_) => measure::run_child(exe, b.id, r.peer.name, &plan.params),
                };
                match sample {
                    Ok(s) => {
                        eprintln!("{}", progress_summary(b, &s));
                        r.samples.push(s);
                    }
                    Err(e) => {
                        eprintln!("FAILED: {e}");
                        r.errors.push(e);
                    }
                }
            }
        }
        benches.push(BenchResult { bench: b, peers: results });
    }
    eprintln!("shade-bench: done in {:.1} s", start.elapsed().as_secs_f64());
    Results { benches, elapsed: start.elapsed() }
}
