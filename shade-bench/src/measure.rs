//! Measuring one run: wall time, CPU time, peak RSS; running a peer in a
//! child process and reading its result back.
//!
//! Every (benchmark, peer) run happens in a fresh child process, the
//! benchmark binary itself re-executed with the hidden flag
//! `--run-one <benchmark>:<peer>`. The child times the workload itself
//! (process start-up is not measured), then prints its figures to stdout in a
//! line protocol that an out-of-process peer (a Go or Java program) can also
//! speak:
//!
//! ```text
//! @line <a result line, e.g. binary-trees' "long lived tree of depth 21 ... check: 4194303">
//! @metric <name>=<value>   (optional named figure, e.g. "p99.9 push (µs)=123.4"; the value is a float)
//! @cycle cycle=… at_ns=… heap_before=… heap_live=… goal=… pause_start_ns=… pause_term_ns=… mark_ns=…
//! @result wall_ns=… cpu_ns=… peak_rss_kb=… start_rss_kb=… ops=… checksum=… [timed_ns=…] [gc_cycles=… gc_pause_total_ns=… …]
//! ```
//!
//! * wall: `Instant` around the workload function;
//! * timed: the part of the run the workload timed itself (e.g. only its
//!   store loops), when it did; the report's ns/op then uses it;
//! * CPU: `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` around it, i.e. all of the
//!   process's threads (Shade's mark workers included);
//! * peak RSS: the child's own `VmHWM` from `/proc/self/status` after the
//!   run, the high-water mark of the whole child process (so it includes the
//!   few MiB the process starts with, reported as `start_rss_kb`). It is per
//!   peer because each peer has its own process.
//!
//! `@cycle` lines (optional, one per collection cycle, oldest first) give a
//! collector's per-cycle log for the HTML report's charts: cycle number,
//! time since the heap was created, heap bytes at cycle start, bytes found
//! live, the goal set for the next cycle, the mark-start and
//! mark-termination pauses and the mark time (wall). Shade peers print the
//! `HeapStats::cycle_log` of the heap whose statistics they report; another
//! collector may print any subset of the fields (missing ones are 0).

use crate::workloads::{GcSummary, Outcome, Params, PeerKind};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The figures of one run of one peer.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Wall-clock time of the workload.
    pub wall: Duration,
    /// CPU time (user + system, all threads) of the workload.
    pub cpu: Duration,
    /// Peak resident set size of the process, KiB.
    pub peak_rss_kb: Option<u64>,
    /// Resident set size before the workload started, KiB.
    pub start_rss_kb: Option<u64>,
    /// What the workload returned.
    pub outcome: Outcome,
    /// The collector's per-cycle log (`@cycle` lines), oldest first.
    pub cycles: Vec<CycleSample>,
}

/// One collection cycle, as an `@cycle` line gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CycleSample {
    /// Cycle number (1-based).
    pub cycle: u64,
    /// When the cycle ended, since the heap was created.
    pub at: Duration,
    /// Heap bytes when the cycle started.
    pub heap_before: u64,
    /// Bytes found live.
    pub heap_live: u64,
    /// The goal set for the next cycle, bytes.
    pub goal: u64,
    /// The mark-start pause.
    pub pause_start: Duration,
    /// The mark-termination pause.
    pub pause_term: Duration,
    /// Mark time, wall (mark start to termination).
    pub mark: Duration,
}

impl From<&shade::CycleInfo> for CycleSample {
    fn from(c: &shade::CycleInfo) -> CycleSample {
        CycleSample {
            cycle: c.cycle,
            at: c.at,
            heap_before: c.heap_before as u64,
            heap_live: c.heap_live as u64,
            goal: c.goal as u64,
            pause_start: c.pause_start,
            pause_term: c.pause_termination,
            mark: c.mark_wall,
        }
    }
}

impl Sample {
    /// The time the primary figure is based on: the workload's own timing
    /// of its measured part if it gave one, else the wall time.
    pub fn timed(&self) -> Duration {
        self.outcome.timed.unwrap_or(self.wall)
    }
}

/// CPU time consumed so far by all threads of this process.
pub fn process_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`), if available.
pub fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Runs `f`, measuring it.
pub fn measure(f: impl FnOnce() -> Outcome) -> Sample {
    let start_rss_kb = proc_status_kb("VmRSS");
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let outcome = f();
    let wall = t0.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu0);
    Sample { wall, cpu, peak_rss_kb: proc_status_kb("VmHWM"), start_rss_kb, outcome, cycles: Vec::new() }
}

/// The child side of `--run-one`: runs the peer and prints its result.
pub fn child_main(kind: PeerKind, params: &Params) {
    let sample = match kind {
        PeerKind::InProcess(f) => {
            let s = measure(|| f(params));
            // The cycle log of the Shade heap the workload reported, if any.
            Sample { cycles: crate::workloads::take_cycle_log().iter().map(CycleSample::from).collect(), ..s }
        }
        // `--run-one <bench>:go` by hand: run the external program (the
        // parent runs it directly, see `runner.rs`).
        PeerKind::External(x) => crate::workloads::external::run(&x, params).unwrap_or_else(|e| {
            eprintln!("shade-bench: {e}");
            std::process::exit(1)
        }),
    };
    print!("{}", encode(&sample));
}

/// The parent side: runs `<bench>:<peer>` in a child process of `exe`.
pub fn run_child(exe: &Path, bench: &str, peer: &str, params: &Params) -> Result<Sample, String> {
    let output = Command::new(exe)
        .arg("--run-one")
        .arg(format!("{bench}:{peer}"))
        .arg("--depth")
        .arg(params.depth.to_string())
        .arg("--alloc-count")
        .arg(params.alloc_count.to_string())
        .arg("--scale")
        .arg(params.scale.to_string())
        .arg("--gcbench-scale")
        .arg(params.gcbench_scale.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!("child {bench}:{peer} failed: {}", output.status));
    }
    decode(&String::from_utf8_lossy(&output.stdout))
}

fn ns(d: Duration) -> u128 {
    d.as_nanos()
}

/// Encodes a sample in the line protocol.
pub fn encode(s: &Sample) -> String {
    let mut out = String::new();
    for l in &s.outcome.lines {
        let _ = writeln!(out, "@line {l}");
    }
    for (name, v) in &s.outcome.metrics {
        let _ = writeln!(out, "@metric {}={v}", name.replace('\n', " "));
    }
    for c in &s.cycles {
        let _ = writeln!(
            out,
            "@cycle cycle={} at_ns={} heap_before={} heap_live={} goal={} pause_start_ns={} pause_term_ns={} mark_ns={}",
            c.cycle,
            ns(c.at),
            c.heap_before,
            c.heap_live,
            c.goal,
            ns(c.pause_start),
            ns(c.pause_term),
            ns(c.mark)
        );
    }
    let _ = write!(
        out,
        "@result wall_ns={} cpu_ns={} ops={} checksum={}",
        ns(s.wall),
        ns(s.cpu),
        s.outcome.ops,
        s.outcome.checksum
    );
    if let Some(v) = s.peak_rss_kb {
        let _ = write!(out, " peak_rss_kb={v}");
    }
    if let Some(v) = s.start_rss_kb {
        let _ = write!(out, " start_rss_kb={v}");
    }
    if let Some(t) = s.outcome.timed {
        let _ = write!(out, " timed_ns={}", ns(t));
    }
    if let Some(g) = &s.outcome.gc {
        let _ = write!(
            out,
            " gc_cycles={} gc_pause_total_ns={} gc_pause_max_ns={} gc_mark_ns={} gc_sweep_ns={} \
             gc_allocated_bytes={} gc_mark_workers={}",
            g.cycles,
            ns(g.pause_total),
            ns(g.pause_max),
            ns(g.mark_total),
            ns(g.sweep_total),
            g.allocated_bytes,
            g.mark_workers
        );
        if let Some(w) = g.stop_wait_max {
            let _ = write!(out, " gc_stop_wait_max_ns={}", ns(w));
        }
    }
    out.push('\n');
    out
}

/// Decodes the line protocol (other stdout lines are ignored).
pub fn decode(text: &str) -> Result<Sample, String> {
    let mut lines = Vec::new();
    let mut metrics = Vec::new();
    let mut cycles = Vec::new();
    let mut result = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("@line ") {
            lines.push(rest.to_string());
        } else if let Some(rest) = l.strip_prefix("@metric ") {
            let (name, v) = rest.rsplit_once('=').ok_or_else(|| format!("bad @metric line {l:?}"))?;
            let v: f64 = v.trim().parse().map_err(|_| format!("bad @metric value in {l:?}"))?;
            metrics.push((name.trim().to_string(), v));
        } else if let Some(rest) = l.strip_prefix("@cycle ") {
            cycles.push(decode_cycle(rest)?);
        } else if let Some(rest) = l.strip_prefix("@result") {
            result = Some(rest.to_string());
        }
    }
    let result = result.ok_or_else(|| "child printed no @result line".to_string())?;
    let mut s = Sample::default();
    let mut gc = GcSummary::default();
    let mut has_gc = false;
    for kv in result.split_whitespace() {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("bad @result field {kv:?}"))?;
        let n: u64 = v.parse().map_err(|_| format!("bad @result value {kv:?}"))?;
        let d = Duration::from_nanos(n);
        match k {
            "wall_ns" => s.wall = d,
            "cpu_ns" => s.cpu = d,
            "peak_rss_kb" => s.peak_rss_kb = Some(n),
            "start_rss_kb" => s.start_rss_kb = Some(n),
            "ops" => s.outcome.ops = n,
            "checksum" => s.outcome.checksum = n,
            "timed_ns" => s.outcome.timed = Some(d),
            _ => {
                has_gc = true;
                match k {
                    "gc_cycles" => gc.cycles = n,
                    "gc_pause_total_ns" => gc.pause_total = d,
                    "gc_pause_max_ns" => gc.pause_max = d,
                    "gc_stop_wait_max_ns" => gc.stop_wait_max = Some(d),
                    "gc_mark_ns" => gc.mark_total = d,
                    "gc_sweep_ns" => gc.sweep_total = d,
                    "gc_allocated_bytes" => gc.allocated_bytes = n,
                    "gc_mark_workers" => gc.mark_workers = n,
                    _ => {} // unknown fields from newer peers are ignored
                }
            }
        }
    }
    s.outcome.lines = lines;
    s.outcome.metrics = metrics;
    s.cycles = cycles;
    s.outcome.gc = has_gc.then_some(gc);
    Ok(s)
}

/// Decodes the fields of an `@cycle` line (unknown fields are ignored).
fn decode_cycle(fields: &str) -> Result<CycleSample, String> {
    let mut c = CycleSample::default();
    for kv in fields.split_whitespace() {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("bad @cycle field {kv:?}"))?;
        let n: u64 = v.parse().map_err(|_| format!("bad @cycle value {kv:?}"))?;
        let d = Duration::from_nanos(n);
        match k {
            "cycle" => c.cycle = n,
            "at_ns" => c.at = d,
            "heap_before" => c.heap_before = n,
            "heap_live" => c.heap_live = n,
            "goal" => c.goal = n,
            "pause_start_ns" => c.pause_start = d,
            "pause_term_ns" => c.pause_term = d,
            "mark_ns" => c.mark = d,
            _ => {}
        }
    }
    Ok(c)
}

/// Median of `v` (mean of the middle two for an even count); `None` if empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len().is_multiple_of(2) { (s[m - 1] + s[m]) / 2.0 } else { s[m] })
}

/// Minimum of `v`; `None` if empty.
pub fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().min_by(f64::total_cmp)
}

/// Maximum of `v`; `None` if empty.
pub fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().max_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_round_trips() {
        let s = Sample {
            wall: Duration::from_nanos(1_234_567_890),
            cpu: Duration::from_nanos(2_000_000_001),
            peak_rss_kb: Some(4321),
            start_rss_kb: Some(1000),
            outcome: Outcome {
                ops: 42,
                checksum: u64::MAX,
                lines: vec!["stretch tree of depth 7\t check: 255".into()],
                gc: Some(GcSummary {
                    cycles: 3,
                    pause_total: Duration::from_micros(1500),
                    pause_max: Duration::from_micros(700),
                    stop_wait_max: Some(Duration::from_micros(250)),
                    mark_total: Duration::from_micros(900),
                    sweep_total: Duration::from_micros(400),
                    allocated_bytes: 1 << 30,
                    mark_workers: 2,
                }),
                timed: Some(Duration::from_nanos(987_654_321)),
                metrics: vec![("p99.9 push (µs)".into(), 123.25), ("a=b ratio".into(), -0.5)],
            },
            cycles: vec![
                CycleSample {
                    cycle: 1,
                    at: Duration::from_millis(12),
                    heap_before: 4 << 20,
                    heap_live: 1 << 20,
                    goal: 2 << 20,
                    pause_start: Duration::from_micros(35),
                    pause_term: Duration::from_micros(80),
                    mark: Duration::from_micros(2500),
                },
                CycleSample { cycle: 2, at: Duration::from_millis(30), ..CycleSample::default() },
            ],
        };
        let d = decode(&encode(&s)).unwrap();
        assert_eq!((d.wall, d.cpu), (s.wall, s.cpu));
        assert_eq!((d.peak_rss_kb, d.start_rss_kb), (s.peak_rss_kb, s.start_rss_kb));
        assert_eq!((d.outcome.ops, d.outcome.checksum), (42, u64::MAX));
        assert_eq!(d.outcome.lines, s.outcome.lines);
        assert_eq!(d.outcome.gc, s.outcome.gc);
        assert_eq!((d.outcome.timed, d.timed()), (s.outcome.timed, Duration::from_nanos(987_654_321)));
        assert_eq!(d.outcome.metrics, s.outcome.metrics);
        assert_eq!(d.cycles, s.cycles);
        // Another collector may give only some fields.
        let partial = decode("@cycle at_ns=5 pause_start_ns=7 future_field=1\n@result wall_ns=1").unwrap();
        assert_eq!(
            partial.cycles,
            [CycleSample {
                at: Duration::from_nanos(5),
                pause_start: Duration::from_nanos(7),
                ..CycleSample::default()
            }]
        );

        let no_gc = Sample::default();
        assert!(decode(&encode(&no_gc)).unwrap().outcome.gc.is_none());
        assert!(decode("garbage").is_err());
    }

    #[test]
    fn stats() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(min(&[3.0, 1.0, 2.0]), Some(1.0));
        assert_eq!(max(&[3.0, 1.0, 2.0]), Some(3.0));
    }

    #[test]
    fn reads_own_status() {
        if Path::new("/proc/self/status").exists() {
            assert!(proc_status_kb("VmHWM").unwrap() > 0);
        }
        let t = process_cpu_time();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(process_cpu_time() > t, "{x}");
    }
}
