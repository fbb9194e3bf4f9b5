//! `shade-bench`: benchmarks Shade against other memory managers.
//!
//! `cargo run --release` at the workspace root runs the default suite; see
//! `--help`. Layout:
//!
//! * `main.rs`: command line, and the hidden `--run-one` child entry point;
//! * `runner.rs`: runs the selected benchmarks, each peer in a child process,
//!   peers interleaved within each repetition, with progress on stderr;
//! * `measure.rs`: wall / CPU time, peak RSS, the child result protocol;
//! * `report.rs`: machine information and the markdown results;
//! * `html.rs`: the HTML report (charts as inline SVG);
//! * `workloads/`: the workloads and their peers.

#![forbid(unsafe_code)]

mod busy;
mod html;
mod measure;
mod report;
mod runner;
mod workloads;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use workloads::{Params, WorkloadId};

const LONG_ABOUT: &str = "\
Benchmarks the Shade garbage collector against other memory managers.

Each workload is run by several peers (implementations): Shade, and baselines
such as Box (malloc/free) and Rc. Every run of every peer happens in a fresh
child process (this binary re-executed with a hidden --run-one flag), so peak
RSS is measured per peer and no peer inherits another's heap. Within each
repetition the peers run one after the other (A, B, A, B, ...) so machine
noise hits all of them alike; the report gives the median and the minimum over
the repetitions, and Shade's ratio to each baseline from the same invocation.

Measured per run, inside the child around the workload: wall time, CPU time
(all threads: user + system, including Shade's mark workers), peak RSS (the
child's VmHWM, which includes the 2-3 MiB a process starts with) and, for
Shade, its collector statistics (cycles, total and maximum stop-the-world
pause, mark and sweep time).

Progress goes to stderr; the markdown report goes to stdout and to --out, and
an HTML report (one self-contained page with charts: peers side by side,
Shade's pauses, heap size and goal, mark time per cycle, write-barrier cost
per mode) to --html, next to it by default.
Always build in release mode: cargo run --release -- [OPTIONS]

Shade's heap uses Config::default(); the SHADE_GOGC and SHADE_DEBUG
environment variables are passed to the children and apply as usual
(e.g. SHADE_GOGC=200).

Out-of-process peers go, java-g1, java-zgc and boehm are the workloads in Go,
Java (G1, ZGC) and C on the Boehm collector (bench/peers/); they are built
once per invocation into target/bench-peers/ and run as the child process.
A peer whose toolchain is not installed is reported as skipped; install the
toolchains with `sudo bench/setup.sh` (Debian), or leave them out with
--peers.";

const AFTER_HELP: &str = "\
Examples:
  cargo run --release                                  # default suite, a few minutes on 2 cores
  cargo run --release -- --quick                       # smoke run, 10-20 seconds
  cargo run --release -- --full                        # binary-trees depth 21, issue sizes, 3 reps
  cargo run --release -- --workloads write-barrier     # write-barrier cost per barrier mode
  cargo run --release -- --workloads stores,latency --scale 0.25
  cargo run --release -- --workloads binary-trees --depth 18 --reps 5
  cargo run --release -- --workloads alloc --peers shade,box --alloc-count 10M
  cargo run --release -- --list";

/// `--scale` of the default run and of `--quick`.
const DEFAULT_SCALE: f64 = 0.25;
const QUICK_SCALE: f64 = 1.0 / 16.0;
/// `--alloc-count` of the default run.
const DEFAULT_ALLOC_COUNT: u64 = 50_000_000;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(name = "shade-bench", version, about = "Benchmarks the Shade garbage collector against other memory managers.", long_about = LONG_ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// Workloads to run, comma-separated. [default: all]
    #[arg(long, value_enum, value_delimiter = ',')]
    workloads: Vec<WorkloadId>,

    /// Only run these peers, comma-separated (e.g. shade,rc); default: all.
    /// See --list for the peers of each benchmark.
    #[arg(long, value_delimiter = ',', value_name = "PEERS")]
    peers: Vec<String>,

    /// binary-trees: maximum tree depth N (the benchmarks-game argument;
    /// values below 6 mean 6). [default: 19, 14 with --quick, 21 with --full]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=28))]
    depth: Option<u32>,

    /// alloc: objects allocated per run, per peer. Accepts underscores and
    /// k/M/G suffixes (50_000_000, 50M). [default: 50M, 2M with --quick]
    #[arg(long, value_name = "N", value_parser = parse_count)]
    alloc_count: Option<u64>,

    /// Repetitions of every (benchmark, peer) run; the report gives the
    /// median and the minimum. [default: 1; 3 with --full]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    reps: Option<u32>,

    /// stores, latency, write-barrier, shared (and gcbench unless
    /// --gcbench-scale is given): sizes relative to the (1 = 1M
    /// nodes and 20M stores, a ring of 200k messages and 2M pushes,
    /// write-barrier tree depth 22, ...): counts are multiplied by it, tree
    /// depths shifted by log2 of it. [default: 0.25, 0.0625 with --quick, 1
    /// with --full]
    #[arg(long, value_name = "F", value_parser = parse_scale)]
    scale: Option<f64>,

    /// gcbench: sizes relative to GCBench's own (1 = long-lived tree of
    /// depth 16, stretch tree of depth 18, 500,000 doubles); it runs in about
    /// a second per peer at 1. [default: 1; --scale if given; 0.0625 with
    /// --quick]
    #[arg(long, value_name = "F", value_parser = parse_scale)]
    gcbench_scale: Option<f64>,

    /// Smoke run with small sizes (10-20 seconds in all); explicit --depth,
    /// --alloc-count, --scale and --reps still apply.
    #[arg(long, conflicts_with = "full")]
    quick: bool,

    /// Full-size run: binary-trees depth 21 and the other workloads at the
    /// issue's sizes (--scale 1); explicit size flags still apply.
    #[arg(long)]
    full: bool,

    /// Where to write the markdown report (its directory is created).
    #[arg(long, value_name = "PATH", default_value = "bench-results/latest.md")]
    out: PathBuf,

    /// Where to write the HTML report, a self-contained page with charts
    /// (its directory is created). [default: --out with extension .html]
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,

    /// Busy-machine mode: a CPU-bound thread spins beside the workload for
    /// the whole run, pinned to one CPU, so the collector cannot use an idle
    /// core for free. The report says so and judges the busy-machine
    /// targets (they read "not measured" without it).
    #[arg(long)]
    busy: bool,

    /// List the benchmarks and their peers, then exit.
    #[arg(long)]
    list: bool,

    /// Internal: run one peer of one benchmark in this process and print its
    /// result line (used by the parent process).
    #[arg(long, hide = true, value_name = "BENCH:PEER")]
    run_one: Option<String>,
}

/// Parses a scale factor (a positive number, at most 16).
fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 16.0 => Ok(x),
        _ => Err(format!("{s:?} is not a scale (a number in (0, 16], e.g. 0.25)")),
    }
}

/// Parses a count such as `50000000`, `50_000_000`, `50M`, `2k`.
fn parse_count(s: &str) -> Result<u64, String> {
    let t: String = s.chars().filter(|&c| c != '_').collect();
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        Some('g' | 'G') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (&t[..], 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a count (examples: 1000000, 1_000_000, 1M)"))
}

impl Cli {
    fn params(&self) -> Params {
        let (depth, alloc_count, scale) = match (self.quick, self.full) {
            (true, _) => (14, 2_000_000, QUICK_SCALE),
            (false, true) => (21, 50_000_000, 1.0),
            (false, false) => (19, DEFAULT_ALLOC_COUNT, DEFAULT_SCALE),
        };
        let gcbench_scale = if self.quick { QUICK_SCALE } else { 1.0 };
        Params {
            depth: self.depth.unwrap_or(depth),
            alloc_count: self.alloc_count.unwrap_or(alloc_count),
            scale: self.scale.unwrap_or(scale),
            gcbench_scale: self.gcbench_scale.or(self.scale).unwrap_or(gcbench_scale),
        }
    }

    /// The selected workloads (all if none was named).
    fn workloads(&self) -> Vec<WorkloadId> {
        if self.workloads.is_empty() {
            WorkloadId::value_variants().to_vec()
        } else {
            self.workloads.clone()
        }
    }

    fn reps(&self) -> u32 {
        self.reps.unwrap_or(if self.full { 3 } else { 1 })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let params = cli.params();

    if let Some(spec) = &cli.run_one {
        return match workloads::lookup(spec) {
            Ok((_, peer)) => {
                measure::child_main(peer.kind, &params);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shade-bench: --run-one: {e}");
                ExitCode::from(2)
            }
        };
    }

    if cli.list {
        for b in workloads::all() {
            println!("{} (workload {}): {}", b.id, b.workload.name(), b.title);
            for p in &b.peers {
                println!("    {:<6} {}", p.name, p.about);
            }
        }
        return ExitCode::SUCCESS;
    }

    let selected = cli.workloads();
    let benches: Vec<_> = workloads::all().into_iter().filter(|b| selected.contains(&b.workload)).collect();
    for p in &cli.peers {
        if !benches.iter().any(|b| b.peer(p).is_some()) {
            eprintln!("shade-bench: no selected benchmark has a peer called {p:?} (see --list)");
            return ExitCode::from(2);
        }
    }

    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("shade-bench: cannot find my own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = runner::Plan { benches, peers: cli.peers.clone(), params, reps: cli.reps(), busy: cli.busy };
    let load_at_start = report::Machine::loadavg();
    if let Some(l1) =
        load_at_start.as_deref().and_then(|l| l.split_whitespace().next()).and_then(|l| l.parse::<f64>().ok())
    {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if l1 >= 0.5 * cpus as f64 {
            eprintln!(
                "shade-bench: note: 1-minute load average is {l1:.2} on {cpus} CPUs; \
                 other processes compete with the benchmark and the numbers will be noisy"
            );
        }
    }
    let busy = cli.busy.then(busy::Busy::start);
    if let Some(b) = &busy {
        match b.pinned {
            Some(c) => eprintln!("shade-bench: --busy: a spinning thread is pinned to CPU {c}"),
            None => eprintln!("shade-bench: --busy: a spinning thread runs (pinning it was refused)"),
        }
    }
    let results = runner::run(&exe, &plan);
    let busy_rounds = busy.map(|b| {
        let r = b.rounds();
        (b.pinned, r)
    });
    let command =
        std::iter::once("shade-bench".to_string()).chain(std::env::args().skip(1)).collect::<Vec<_>>().join(" ");
    let machine = report::Machine { load_at_start, ..report::Machine::collect() };
    let md = report::render(&results, &plan, &machine, &command, busy_rounds);
    println!("{md}");

    let html_path = cli.html.clone().unwrap_or_else(|| cli.out.with_extension("html"));
    let page = html::render(&results, &plan, &machine, &command);
    for (path, text) in [(&cli.out, &md), (&html_path, &page)] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("shade-bench: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("shade-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("report written to {}", path.display());
    }

    let problems = results.problems();
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("shade-bench: {p}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("50_000_000"), Ok(50_000_000));
        assert_eq!(parse_count("50M"), Ok(50_000_000));
        assert_eq!(parse_count("2k"), Ok(2_000));
        assert_eq!(parse_count("7"), Ok(7));
        assert!(parse_count("").is_err());
        assert!(parse_count("M").is_err());
        assert!(parse_count("1.5M").is_err());
        assert!(parse_count("99999999999G").is_err());
    }

    #[test]
    fn defaults_and_quick() {
        let d = Cli::parse_from(["shade-bench"]);
        assert_eq!(d.workloads(), WorkloadId::value_variants());
        assert_eq!((d.params().depth, d.params().alloc_count, d.params().scale, d.reps()), (19, 50_000_000, 0.25, 1));
        let q = Cli::parse_from(["shade-bench", "--quick", "--reps", "2"]);
        assert_eq!((q.params().depth, q.params().alloc_count, q.params().scale, q.reps()), (14, 2_000_000, 0.0625, 2));
        let f = Cli::parse_from(["shade-bench", "--full", "--scale", "0.5"]);
        assert_eq!((f.params().depth, f.params().alloc_count, f.params().scale, f.reps()), (21, 50_000_000, 0.5, 3));
        let w = Cli::parse_from(["shade-bench", "--workloads", "binary-trees,write-barrier"]);
        assert_eq!(w.workloads(), [WorkloadId::BinaryTrees, WorkloadId::WriteBarrier]);
        assert!(Cli::try_parse_from(["shade-bench", "--quick", "--full"]).is_err());
        assert!(Cli::try_parse_from(["shade-bench", "--scale", "0"]).is_err());
        assert!(Cli::try_parse_from(["shade-bench", "--scale", "abc"]).is_err());
    }

    #[test]
    fn every_workload_has_benchmarks() {
        let all = workloads::all();
        for w in WorkloadId::value_variants() {
            assert!(all.iter().any(|b| b.workload == *w), "{w:?} has no benchmark");
            assert_eq!(w.to_possible_value().unwrap().get_name(), w.name());
        }
        let mut ids: Vec<_> = all.iter().map(|b| b.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "benchmark ids are unique");
    }
}
