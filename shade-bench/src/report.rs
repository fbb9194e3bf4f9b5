//! The markdown report: machine information, a summary of Shade's ratios
//! to each baseline, and one table per benchmark.

use crate::measure::{max, median, min, Sample};
use crate::runner::{BenchResult, PeerResult, Plan, Results};
use crate::workloads::{derived, Unit, PRIMARY, PRIMARY_MIN};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the report says about the machine.
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs listed in /proc/cpuinfo.
    pub logical_cpus: Option<usize>,
    /// Distinct (package, core) pairs in /proc/cpuinfo.
    pub physical_cores: Option<usize>,
    /// CPUs this process may use.
    pub available: usize,
    /// Total memory, KiB.
    pub mem_kb: Option<u64>,
    /// Kernel name and release.
    pub os: String,
    /// When the report was made (UTC).
    pub date: String,
    /// /proc/loadavg when the suite started (other processes compete with
    /// the benchmark on a shared machine).
    pub load_at_start: Option<String>,
}

impl Machine {
    /// Reads /proc and the clock.
    pub fn collect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |l: &str, k: &str| -> Option<String> {
            let (key, v) = l.split_once(':')?;
            (key.trim() == k).then(|| v.trim().to_string())
        };
        let cpu = ["model name", "Model", "Hardware", "cpu model"]
            .iter()
            .find_map(|k| cpuinfo.lines().find_map(|l| field(l, k)))
            .unwrap_or_else(|| "unknown CPU".into());
        let logical = cpuinfo.lines().filter(|l| field(l, "processor").is_some()).count();
        let mut cores = std::collections::BTreeSet::new();
        let mut phys = String::new();
        for l in cpuinfo.lines() {
            if let Some(v) = field(l, "physical id") {
                phys = v;
            } else if let Some(v) = field(l, "core id") {
                cores.insert((phys.clone(), v));
            }
        }
        let mem_kb = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        let release =
            std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
        Machine {
            cpu,
            logical_cpus: (logical > 0).then_some(logical),
            physical_cores: (!cores.is_empty()).then_some(cores.len()),
            available: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_kb,
            os: format!("{} {release}", std::env::consts::OS).trim().to_string(),
            date: utc_now(),
            load_at_start: None,
        }
    }

    /// The 1-, 5- and 15-minute load averages, if available.
    pub fn loadavg() -> Option<String> {
        let l = std::fs::read_to_string("/proc/loadavg").ok()?;
        Some(l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
    }

    pub fn describe(&self) -> String {
        let mut s = self.cpu.clone();
        if let Some(n) = self.logical_cpus {
            let _ = write!(s, ", {n} logical CPUs");
        }
        if let Some(n) = self.physical_cores {
            let _ = write!(s, " ({n} physical cores)");
        }
        let _ = write!(s, ", {} available to the process", self.available);
        if let Some(kb) = self.mem_kb {
            let _ = write!(s, ", {:.1} GiB RAM", kb as f64 / (1 << 20) as f64);
        }
        let _ = write!(s, ", {}", self.os);
        s
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", t / 3600, t / 60 % 60, t % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Aggregated figures of one peer.
struct Agg {
    /// Primary figure per sample (ns/op or seconds).
    primary: Vec<f64>,
    cpu_s: Vec<f64>,
    rss_mib: Vec<f64>,
    gc_cycles: Vec<f64>,
    gc_pause_total_ms: Vec<f64>,
    gc_pause_max_ms: Vec<f64>,
    gc_wait_max_ms: Vec<f64>,
    has_gc: bool,
}

/// A sample's primary figure: ns per op, or seconds.
pub fn primary(unit: Unit, s: &Sample) -> f64 {
    match unit {
        Unit::NsPerOp(_) => s.timed().as_secs_f64() * 1e9 / s.outcome.ops.max(1) as f64,
        Unit::Seconds => s.timed().as_secs_f64(),
    }
}

impl Agg {
    fn of(unit: Unit, p: &PeerResult) -> Agg {
        let gcs: Vec<_> = p.samples.iter().filter_map(|s| s.outcome.gc).collect();
        Agg {
            primary: p.samples.iter().map(|s| primary(unit, s)).collect(),
            cpu_s: p.samples.iter().map(|s| s.cpu.as_secs_f64()).collect(),
            rss_mib: p.samples.iter().filter_map(|s| s.peak_rss_kb).map(|k| k as f64 / 1024.0).collect(),
            gc_cycles: gcs.iter().map(|g| g.cycles as f64).collect(),
            gc_pause_total_ms: gcs.iter().map(|g| g.pause_total.as_secs_f64() * 1e3).collect(),
            gc_pause_max_ms: gcs.iter().map(|g| g.pause_max.as_secs_f64() * 1e3).collect(),
            gc_wait_max_ms: gcs.iter().filter_map(|g| g.stop_wait_max).map(|d| d.as_secs_f64() * 1e3).collect(),
            has_gc: !gcs.is_empty(),
        }
    }
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.decimals$}"))
}

fn fmt_primary(unit: Unit, v: Option<f64>) -> String {
    match (unit, v) {
        (_, None) => "n/a".into(),
        (Unit::NsPerOp(_), Some(x)) => format!("{x:.2} ns"),
        (Unit::Seconds, Some(x)) => format!("{x:.3} s"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".into(),
    }
}

fn unit_label(unit: Unit) -> String {
    match unit {
        Unit::NsPerOp(op) => format!("ns/{op}"),
        Unit::Seconds => "wall time".into(),
    }
}

/// The summary rows: Shade against every other peer of every benchmark.
fn summary(out: &mut String, results: &Results<'_>) {
    out.push_str(
        "| benchmark | metric | Shade (median) | baseline | baseline (median) | \
         Shade/baseline (median) | Shade/baseline (min) | CPU time ratio | peak RSS ratio |\n",
    );
    out.push_str("|---|---|--:|---|--:|--:|--:|--:|--:|\n");
    for br in &results.benches {
        let unit = br.bench.unit;
        let subject_name = br.bench.subject();
        let Some(subject) = br.peer(subject_name) else {
            continue;
        };
        let s = Agg::of(unit, subject);
        let label = if subject_name == crate::workloads::SUBJECT {
            br.bench.id.to_string()
        } else {
            format!("{} ({subject_name})", br.bench.id)
        };
        for base in br.peers.iter().filter(|p| p.peer.name != subject_name && p.skipped.is_none()) {
            let b = Agg::of(unit, base);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | **{}** | {} | {} | {} |",
                label,
                unit_label(unit),
                fmt_primary(unit, median(&s.primary)),
                base.peer.name,
                fmt_primary(unit, median(&b.primary)),
                ratio(median(&s.primary), median(&b.primary)),
                ratio(min(&s.primary), min(&b.primary)),
                ratio(median(&s.cpu_s), median(&b.cpu_s)),
                ratio(max(&s.rss_mib), max(&b.rss_mib)),
            );
        }
    }
}

/// One of the issue's targets, judged on this run.
struct Target {
    workload: &'static str,
    what: String,
    /// The figure the target is judged on, as text, and whether it was met;
    /// `None` if a peer it needs did not run.
    judged: Option<(String, bool)>,
}

/// The benchmark issue's targets (W1-W6), the runtime issue's (W9: the
/// Umbra VM) and the runtime toolkit issue's (W10: weak references,
/// ephemerons, GcMap), judged from this run's medians:
/// every target is listed, with "not measured" when a peer it compares
/// with was not run (deselected, or its toolchain missing).
fn targets(results: &Results<'_>, busy: bool) -> Vec<Target> {
    let bench = |id: &str| results.benches.iter().find(|b| b.bench.id == id);
    let agg = |id: &str, peer: &str| -> Option<Agg> {
        let br = bench(id)?;
        let p = br.peer(peer).filter(|p| !p.samples.is_empty())?;
        Some(Agg::of(br.bench.unit, p))
    };
    let metric = |id: &str, peer: &str, name: &str| metric_median(bench(id)?.peer(peer)?, name);
    // Shade's median primary figure over a peer's, and the same for peak RSS.
    let time_ratio =
        |id: &str, peer: &str| Some(median(&agg(id, "shade")?.primary)? / median(&agg(id, peer)?.primary)?);
    let rss_ratio = |id: &str, peer: &str| Some(max(&agg(id, "shade")?.rss_mib)? / max(&agg(id, peer)?.rss_mib)?);
    let cpu_ratio = |id: &str, peer: &str| Some(median(&agg(id, "shade")?.cpu_s)? / median(&agg(id, peer)?.cpu_s)?);
    let at_most = |v: Option<f64>, limit: f64, fmt: &dyn Fn(f64) -> String| v.map(|x| (fmt(x), x <= limit));
    let times = |x: f64| format!("{x:.2}×");
    let mut v = Vec::new();
    for (w, id) in [("W1", "binary-trees"), ("W2", "gcbench")] {
        v.push(Target {
            workload: w,
            what: format!("{id}: wall ≤ 0.6× Go"),
            judged: at_most(time_ratio(id, "go"), 0.6, &times),
        });
        v.push(Target {
            workload: w,
            what: format!("{id}: wall ≤ 0.7× Rc"),
            judged: at_most(time_ratio(id, "rc"), 0.7, &times),
        });
        v.push(Target {
            workload: w,
            what: format!("{id}: peak RSS ≤ 1.5× Go"),
            judged: at_most(rss_ratio(id, "go"), 1.5, &times),
        });
    }
    v.push(Target {
        workload: "W3",
        what: "stores-forced: ns/store ≤ 0.5× Go".into(),
        judged: at_most(time_ratio("stores-forced", "go"), 0.5, &times),
    });
    v.push(Target {
        workload: "W3",
        what: "stores-quiet: ns/store ≤ Go's".into(),
        judged: at_most(time_ratio("stores-quiet", "go"), 1.0, &times),
    });
    let us = |x: f64| format!("{x:.0} µs");
    let push = metric("latency", "shade", "max push (µs)");
    v.push(Target { workload: "W4", what: "latency: max push ≤ 1 ms".into(), judged: at_most(push, 1000.0, &us) });
    let go_push = metric("latency", "go", "max push (µs)");
    v.push(Target {
        workload: "W4",
        what: "latency: max push ≤ ½ Go's".into(),
        judged: push.zip(go_push).map(|(s, g)| (format!("{s:.0} vs {g:.0} µs ({:.2}×)", s / g), s <= g / 2.0)),
    });
    v.push(Target {
        workload: "W4",
        what: "latency: max stop-the-world pause ≤ 100 µs".into(),
        judged: at_most(metric("latency", "shade", "GC max pause (µs)"), 100.0, &us),
    });
    let wb = |peer: &str| median(&agg("write-barrier", peer)?.primary);
    let overhead = |peer: &str| Some(wb(peer)? - wb("shade-off")?);
    v.push(Target {
        workload: "W5",
        what: "write-barrier: buffered ≥ 4× cheaper than eager (overhead over barrier-off)".into(),
        judged: overhead("shade-buffered").zip(overhead("shade-eager")).map(|(b, e)| {
            if b > 0.0 {
                (format!("{:.1}× ({b:.2} vs {e:.2} ns)", e / b), e / b >= 4.0)
            } else {
                (format!("buffered {b:+.2} ns, eager {e:+.2} ns"), true)
            }
        }),
    });
    let scaling = metric("shared", "shade", "2T/1T");
    v.push(Target {
        workload: "W6",
        what: "shared: 2 mutators ≥ 1.6× the throughput of one".into(),
        judged: scaling.map(|r| {
            let machine = metric("shared", "shade", "machine 2T/1T")
                .map_or(String::new(), |m| format!(" (machine: {m:.2}× for pure arithmetic)"));
            (format!("{r:.2}×{machine}"), r >= 1.6)
        }),
    });
    for id in ["vm-fib", "vm-method"] {
        v.push(Target {
            workload: "W9",
            what: format!("{id}: Umbra on Shade ≤ 1.15× the same VM with no memory management"),
            judged: at_most(time_ratio(id, "leak"), 1.15, &times),
        });
        v.push(Target {
            workload: "W9",
            what: format!("{id}: polling at every call and back-edge ≤ 1.03× never polling"),
            judged: at_most(time_ratio(id, "shade-nopoll"), 1.03, &times),
        });
    }
    v.push(Target {
        workload: "W9",
        what: "vm-alloc: Umbra on Shade ≤ 0.6× the same VM on Rc (peak RSS ratio shown)".into(),
        judged: time_ratio("vm-alloc", "rc").map(|r| {
            let rss = rss_ratio("vm-alloc", "rc").map_or(String::new(), |m| format!(", peak RSS {m:.2}×"));
            (format!("{r:.2}×{rss}"), r <= 0.6)
        }),
    });
    v.push(Target {
        workload: "W10",
        what: "intern: WeakSet time ≤ the hand-pruned Rc HashMap's".into(),
        judged: at_most(time_ratio("intern", "rc"), 1.0, &times),
    });
    v.push(Target {
        workload: "W10",
        what: "intern: GC max pause ≤ 100 µs with a weak table".into(),
        judged: at_most(metric("intern", "shade", "GC max pause (µs)"), 100.0, &us),
    });
    v.push(Target {
        workload: "W10",
        what: "weak-termination: GC max pause ≤ 100 µs with 1M weak references (ephemerons' pause shown)".into(),
        judged: metric("weak-termination", "shade-weak", "GC max pause (µs)").map(|w| {
            let e = metric("weak-termination", "shade-ephemeron", "GC max pause (µs)")
                .map_or(String::new(), |e| format!("; 100K ephemerons alone: {e:.0} µs"));
            let c = metric("weak-termination", "shade-weak", "weak clearing window max (µs)")
                .map_or(String::new(), |c| format!("; clearing window, mutators running: {c:.0} µs"));
            (format!("{w:.0} µs{e}{c}"), w <= 100.0)
        }),
    });
    v.push(Target {
        workload: "W10",
        what: "weak-upgrade: marking off ≤ 1.5× rc::Weak::upgrade".into(),
        judged: at_most(time_ratio("weak-upgrade", "rc"), 1.5, &times),
    });
    // W12 (issue 12): no mutator waits for another.
    let late = |name: &str| metric("late-mutator", "shade", name);
    v.push(Target {
        workload: "W12",
        what: "late-mutator: longest time A is held by the collector ≤ 1 ms (B late)".into(),
        judged: at_most(late("A held max (µs)"), 1000.0, &us),
    });
    v.push(Target {
        workload: "W12",
        what: "late-mutator: A's total held time ≤ 1% of its loop".into(),
        judged: at_most(late("A held share of loop (%)"), 1.0, &|x| format!("{x:.2}%")),
    });
    v.push(Target {
        workload: "W12",
        what: "late-mutator: A's loop with B ≤ 1.3× its loop alone".into(),
        judged: at_most(time_ratio("late-mutator", "shade-alone"), 1.3, &times),
    });
    v.push(Target {
        workload: "W12",
        what: "late-mutator: A's p99.9 push with B ≤ 1.5× alone".into(),
        judged: late("p99.9 push (µs)")
            .zip(metric("late-mutator", "shade-alone", "p99.9 push (µs)"))
            .map(|(w, a)| (format!("{w:.0} vs {a:.0} µs ({:.2}×)", w / a), w <= 1.5 * a)),
    });
    v.push(Target {
        workload: "W12",
        what: "late-mutator: A's max push with B ≤ Go's in the same shape".into(),
        judged: late("max push (µs)")
            .zip(metric("late-mutator", "go", "max push (µs)"))
            .map(|(s, g)| (format!("{s:.0} vs {g:.0} µs"), s <= g)),
    });
    v.push(Target {
        workload: "W12",
        what: "late-mutator: handshake work of a mutator with 10K roots ≤ 50 µs".into(),
        judged: at_most(metric("late-mutator", "shade-alone", "handshake work max (µs)"), 50.0, &us),
    });
    for (what, name, limit) in [
        ("2 mutators ≥ 1.8× the throughput of one", "2T/1T", 1.8),
        ("4 mutators on 2 cores ≥ 1.7× of one", "4T/1T", 1.7),
    ] {
        v.push(Target {
            workload: "W12",
            what: format!("shared: {what}"),
            judged: metric("shared", "shade", name).map(|r| (format!("{r:.2}×"), r >= limit)),
        });
    }
    // W11 (issue 11): CPU time, not only wall time, against Rc; span-batched
    // marking against object-at-a-time. The wall targets depend on the
    // machine's state: the quiet one is judged without --busy, the busy
    // one only with it.
    for id in ["binary-trees", "heap-scaling-20", "heap-scaling-24"] {
        v.push(Target {
            workload: "W11",
            what: format!("{id}: CPU time (all threads) ≤ 1.0× Rc's"),
            judged: at_most(cpu_ratio(id, "rc"), 1.0, &times),
        });
        v.push(Target {
            workload: "W11",
            what: format!("{id}: wall ≤ 0.7× Rc, quiet machine"),
            judged: if busy { None } else { at_most(time_ratio(id, "rc"), 0.7, &times) },
        });
        v.push(Target {
            workload: "W11",
            what: format!("{id}: wall ≤ 1.0× Rc, busy machine (--busy)"),
            judged: if busy { at_most(time_ratio(id, "rc"), 1.0, &times) } else { None },
        });
        let per_cycle = |peer: &str| metric(id, peer, "mark CPU per cycle (ms)");
        v.push(Target {
            workload: "W11",
            what: format!("{id}: mark CPU per cycle ≥ 25% below object-at-a-time marking"),
            judged: per_cycle("shade")
                .zip(per_cycle("shade-object"))
                .map(|(s, o)| (format!("{s:.1} vs {o:.1} ms ({:+.0}%)", (s / o - 1.0) * 100.0), s <= 0.75 * o)),
        });
    }
    v.push(Target {
        workload: "W11",
        what: "heap-scaling-24: mark rate ≥ 2 GB/s per mark-CPU second (512 MB live; object-at-a-time shown)".into(),
        judged: metric("heap-scaling-24", "shade", "mark rate (MB/s per mark CPU)").map(|r| {
            let o = metric("heap-scaling-24", "shade-object", "mark rate (MB/s per mark CPU)")
                .map_or(String::new(), |o| format!(" (object: {:.2} GB/s)", o / 1e3));
            (format!("{:.2} GB/s{o}", r / 1e3), r >= 2000.0)
        }),
    });
    v.push(Target {
        workload: "W11",
        what: "latency: p99.9 push ≤ 1.5× Rc's".into(),
        judged: metric("latency", "shade", "p99.9 push (µs)")
            .zip(metric("latency", "rc", "p99.9 push (µs)"))
            .map(|(s, r)| (format!("{s:.1} vs {r:.1} µs ({:.2}×)", s / r), s <= 1.5 * r)),
    });
    for id in [crate::workloads::map::U64, crate::workloads::map::STR] {
        v.push(Target {
            workload: "W10",
            what: format!("{id}: GcMap ≤ 1.3× std's time (Rc<RefCell<HashMap>>)"),
            judged: at_most(time_ratio(id, "rc"), 1.3, &times),
        });
    }
    v
}

/// The targets table.
fn targets_table(out: &mut String, results: &Results<'_>, busy: bool) {
    out.push_str(
        "## Targets

",
    );
    out.push_str(
        "The benchmark issue's targets, judged on this run's medians (one run of a noisy machine: \
         see the spread between runs before trusting a narrow verdict).\n\n",
    );
    out.push_str("| workload | target | figure | verdict |\n|---|---|--:|---|\n");
    for t in targets(results, busy) {
        let (figure, verdict) = match t.judged {
            Some((f, true)) => (f, "**met**"),
            Some((f, false)) => (f, "**missed**"),
            None => ("–".into(), "not measured"),
        };
        let _ = writeln!(out, "| {} | {} | {} | {} |", t.workload, t.what, figure, verdict);
    }
    out.push('\n');
}

/// The median over a peer's runs of its metric `name`.
fn metric_median(p: &PeerResult, name: &str) -> Option<f64> {
    let v: Vec<f64> =
        p.samples.iter().filter_map(|s| s.outcome.metrics.iter().find(|m| m.0 == name).map(|m| m.1)).collect();
    median(&v)
}

/// A metric value with about three significant digits.
fn fmt_metric(v: f64) -> String {
    match v.abs() {
        a if a >= 1000.0 || a == 0.0 => format!("{v:.0}"),
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// The benchmark's named metrics (`Outcome::metrics`), one column each, the
/// median over each peer's runs; nothing if no peer reported any.
fn metrics_table(out: &mut String, br: &BenchResult<'_>) {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in br.peers.iter().flat_map(|p| &p.samples).flat_map(|s| &s.outcome.metrics) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = writeln!(out, "| peer (metrics: median over the runs) | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "--:|".repeat(names.len()));
    for p in &br.peers {
        let cells: Vec<String> =
            names.iter().map(|n| metric_median(p, n).map_or_else(|| "–".to_string(), fmt_metric)).collect();
        let _ = writeln!(out, "| {} | {} |", p.peer.name, cells.join(" | "));
    }
    out.push('\n');
}

/// One benchmark's section.
fn bench_section(out: &mut String, br: &BenchResult<'_>, plan: &Plan) {
    let b = br.bench;
    let unit = b.unit;
    let _ = writeln!(out, "## {}\n\n{}\n", b.title, (b.about)(&plan.params));
    let first = match unit {
        Unit::NsPerOp(op) => format!("ns/{op} median | ns/{op} min"),
        Unit::Seconds => "wall median | wall min".into(),
    };
    let _ = writeln!(
        out,
        "| peer | {first} | CPU median | CPU/wall | peak RSS (max) | GC cycles | \
         GC pause total | GC pause max | safepoint wait max | checksum | runs |"
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for p in &br.peers {
        if let Some(why) = &p.skipped {
            let _ = writeln!(out, "| {} | skipped: {} |{}", p.peer.name, why.replace('|', "\\|"), " – |".repeat(10));
            continue;
        }
        let a = Agg::of(unit, p);
        let wall_s: Vec<f64> = p.samples.iter().map(|s| s.wall.as_secs_f64()).collect();
        let util = match (median(&a.cpu_s), median(&wall_s)) {
            (Some(c), Some(w)) if w > 0.0 => format!("{:.2}", c / w),
            _ => "n/a".into(),
        };
        let (cycles, ptotal, pmax) = if a.has_gc {
            (
                fmt_opt(median(&a.gc_cycles), 0),
                format!("{} ms", fmt_opt(median(&a.gc_pause_total_ms), 1)),
                format!("{} ms", fmt_opt(max(&a.gc_pause_max_ms), 2)),
            )
        } else {
            ("–".into(), "–".into(), "–".into())
        };
        let wait = if a.gc_wait_max_ms.is_empty() {
            "–".into()
        } else {
            format!("{} ms", fmt_opt(max(&a.gc_wait_max_ms), 2))
        };
        let checksum = p.samples.first().map_or("n/a".into(), |s| s.outcome.checksum.to_string());
        let runs = if p.errors.is_empty() {
            p.samples.len().to_string()
        } else {
            format!("{} ({} failed)", p.samples.len(), p.errors.len())
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} s | {} | {} MiB | {} | {} | {} | {} | {} | {} |",
            p.peer.name,
            fmt_primary(unit, median(&a.primary)),
            fmt_primary(unit, min(&a.primary)),
            fmt_opt(median(&a.cpu_s), 3),
            util,
            fmt_opt(max(&a.rss_mib), 1),
            cycles,
            ptotal,
            pmax,
            wait,
            checksum,
            runs,
        );
    }
    out.push('\n');
    metrics_table(out, br);
    let subject_name = b.subject();
    if let Some(subject) = br.peer(subject_name) {
        let s = Agg::of(unit, subject);
        for base in br.peers.iter().filter(|p| p.peer.name != subject_name && p.skipped.is_none()) {
            let bb = Agg::of(unit, base);
            let _ = writeln!(
                out,
                "- {}/{}: **{}** (median), {} (min); CPU time {}; peak RSS {}",
                if subject_name == crate::workloads::SUBJECT { "Shade" } else { subject_name },
                base.peer.name,
                ratio(median(&s.primary), median(&bb.primary)),
                ratio(min(&s.primary), min(&bb.primary)),
                ratio(median(&s.cpu_s), median(&bb.cpu_s)),
                ratio(max(&s.rss_mib), max(&bb.rss_mib)),
            );
        }
    }
    let _ = writeln!(
        out,
        "- checksums: {}",
        if br.checksums_agree() { "all peers and runs agree" } else { "**MISMATCH between peers or runs**" }
    );
    let get = |peer: &str, key: &str| -> Option<f64> {
        let p = br.peer(peer)?;
        match key {
            PRIMARY => median(&Agg::of(unit, p).primary),
            PRIMARY_MIN => min(&Agg::of(unit, p).primary),
            _ => metric_median(p, key),
        }
    };
    for line in derived(b.id, &get) {
        let _ = writeln!(out, "- {line}");
    }
    if let Some(g) = br.peer(subject_name).and_then(|p| p.samples.first()).and_then(|s| s.outcome.gc) {
        let _ = writeln!(
            out,
            "- Shade (first run): {} mark workers, {:.1} MiB allocated, mark {:.1} ms, sweep {:.1} ms",
            g.mark_workers,
            g.allocated_bytes as f64 / (1 << 20) as f64,
            g.mark_total.as_secs_f64() * 1e3,
            g.sweep_total.as_secs_f64() * 1e3,
        );
    }
    if let Some(s) = br.peers.iter().flat_map(|p| &p.samples).find(|s| !s.outcome.lines.is_empty()) {
        out.push_str("\nOutput (identical for every peer):\n\n```text\n");
        for l in &s.outcome.lines {
            let _ = writeln!(out, "{l}");
        }
        out.push_str("```\n");
    }
    out.push('\n');
}

/// Renders the whole report.
/// `busy`: with `--busy`, the CPU the spinning thread was pinned to (if
/// pinning worked) and the rounds it spun.
pub fn render(
    results: &Results<'_>,
    plan: &Plan,
    machine: &Machine,
    command: &str,
    busy: Option<(Option<usize>, u64)>,
) -> String {
    let mut out = String::new();
    out.push_str("# Shade benchmark results\n\n");
    let _ = writeln!(out, "- date: {}", machine.date);
    let _ = writeln!(out, "- machine: {}", machine.describe());
    let _ = writeln!(
        out,
        "- load average (1/5/15 min): {} at start, {} at end",
        machine.load_at_start.as_deref().unwrap_or("n/a"),
        Machine::loadavg().as_deref().unwrap_or("n/a")
    );
    let _ = writeln!(
        out,
        "- build: shade-bench {} ({})",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "DEBUG build: numbers are meaningless, use --release" } else { "release" }
    );
    let _ = writeln!(out, "- command: `{command}`");
    let _ = writeln!(
        out,
        "- sizes: binary-trees depth {}, alloc count {}, gcbench scale {}, scale {} (stores, latency, \
         write-barrier, shared), {} repetition{} per peer; suite took {:.1} s",
        plan.params.depth,
        plan.params.alloc_count,
        plan.params.gcbench_scale,
        plan.params.scale,
        plan.reps,
        if plan.reps == 1 { "" } else { "s" },
        results.elapsed.as_secs_f64()
    );
    let env: Vec<String> = ["SHADE_GOGC", "SHADE_DEBUG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    let _ = writeln!(
        out,
        "- Shade: `Config::default()`{}",
        if env.is_empty() { String::new() } else { format!(" with {}", env.join(" ")) }
    );
    match busy {
        Some((cpu, rounds)) => {
            let _ = writeln!(
                out,
                "- busy machine (--busy): a CPU-bound thread spun beside every peer for the whole run, {} \
                 ({rounds} rounds of 100,000 multiply-adds); the busy-machine targets are judged, the \
                 quiet-machine ones are not",
                cpu.map_or("unpinned (pinning was refused)".to_string(), |c| format!("pinned to CPU {c}"))
            );
        }
        None => out.push_str("- quiet machine (no --busy): the busy-machine targets read \"not measured\"\n"),
    }
    for t in crate::workloads::external::toolchains() {
        let _ = writeln!(out, "- external peer toolchain: {t}");
    }
    out.push_str(
        "- method: each run is a fresh child process; peers alternate within each repetition; \
         wall and CPU time (all threads) are measured in the child around the workload; \
         where a workload times only its measured part (e.g. the store loops), ns/op uses that time; \
         peak RSS is the child's VmHWM (includes the process's start-up RSS). GC pauses are the \
         times mutators were stopped (Shade: from the first mutator blocked on a stop to the \
         restart, from its own statistics; Go: gctrace's stop-the-world clocks; Java: -Xlog:gc \
         pauses); Shade's \"safepoint wait max\" is the longest a collection waited for a running \
         mutator to reach a safepoint, which delays the collection but pauses no mutator that is \
         still running. Ratios compare \
         Shade with each baseline from this same invocation; below 1× Shade is faster/smaller.\n\n",
    );

    out.push_str("## Summary\n\n");
    summary(&mut out, results);
    out.push('\n');
    targets_table(&mut out, results, plan.busy);
    for br in &results.benches {
        bench_section(&mut out, br, plan);
    }
    let mut skipped: Vec<String> = Vec::new();
    for p in results.benches.iter().flat_map(|b| &b.peers) {
        if let Some(why) = &p.skipped {
            let line = format!("- {}: {why}", p.peer.name);
            if !skipped.contains(&line) {
                skipped.push(line);
            }
        }
    }
    if !skipped.is_empty() {
        out.push_str("## Skipped peers\n\n");
        for l in skipped {
            let _ = writeln!(out, "{l}");
        }
        out.push('\n');
    }
    let problems = results.problems();
    if !problems.is_empty() {
        out.push_str("## Problems\n\n");
        for p in problems {
            let _ = writeln!(out, "- {p}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert!(utc_now().ends_with(" UTC"));
    }

    #[test]
    fn machine_info_is_readable() {
        let m = Machine::collect();
        assert!(m.available >= 1);
        assert!(!m.describe().is_empty());
    }
}
