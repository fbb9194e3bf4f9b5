//! Workload `heap-scaling` (W11): a large live heap while short-lived trees
//! churn, single-threaded.
//!
//! Build a long-lived binary tree of depth D (2^(D+1) - 1 nodes: 32 MiB of
//! Shade heap at D = 20, 512 MiB at D = 24), then build, check and drop
//! 65,536 trees of depth 10 (2,047 nodes each), then check the long-lived
//! tree. The churn makes the collector mark the whole live tree again and
//! again, so the run measures what a collector costs per live byte:
//! Shade's CPU time (all threads: the mark workers and sweepers on the
//! other core count) against reference counting's, which never looks at
//! the long-lived tree.
//!
//! Benchmarks `heap-scaling-20` and `heap-scaling-24` (D = 20 and 24 at the
//! default scale and above; `--quick` shrinks D and the churn). Peers:
//! `shade` (default marking), `shade-object` (object-at-a-time marking,
//! `MarkMode::Object`: the comparison for span-batched marking), `rc`.
//! Shade reports its mark rate: bytes the mark workers and mark assists
//! marked per second of the workers' CPU time and the assists' time, from
//! the collector's own per-cycle counters (`CycleInfo::mark_worker_bytes`,
//! `mark_cpu`, `mark_assist_bytes`, `mark_assist_time`), and that mark time
//! per cycle.

use super::binary_trees::{rc_bottom_up, rc_check, shade_bottom_up, shade_check};
use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::{Config, Heap, HeapStats, MarkMode};

/// Depth of the churned trees.
const SHORT_DEPTH: u32 = 10;
/// Churned trees at the default scale.
const SHORT_TREES: u64 = 65_536;

/// The sizes of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Depth of the long-lived tree.
    pub live_depth: u32,
    /// Depth of the churned trees.
    pub short_depth: u32,
    /// Number of churned trees.
    pub short_trees: u64,
}

impl Sizes {
    /// The sizes for a live depth of `d` at the default scale: below it
    /// (`--quick`) the live tree and the churn shrink with the scale.
    pub fn of(p: &Params, d: u32) -> Sizes {
        let shift = (p.scale / 0.25).log2().round().min(0.0) as i32;
        let factor = 2f64.powi(shift);
        Sizes {
            live_depth: (d as i32 + shift).max(4) as u32,
            short_depth: SHORT_DEPTH,
            short_trees: ((SHORT_TREES as f64 * factor) as u64).max(16),
        }
    }

    fn total_nodes(&self) -> u64 {
        nodes(self.live_depth) + self.short_trees * nodes(self.short_depth)
    }
}

/// Nodes in a tree of depth `d`.
fn nodes(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// The benchmark for live depth `d`.
fn bench(id: &'static str, d: u32) -> Bench {
    fn peers<const D: u32>() -> Vec<Peer> {
        vec![
            Peer {
                name: "shade",
                about: "Shade heap (Config::default())",
                kind: PeerKind::InProcess(|p| shade_run(Sizes::of(p, D), None)),
            },
            Peer {
                name: "shade-object",
                about: "Shade, object-at-a-time marking (mark=object)",
                kind: PeerKind::InProcess(|p| shade_run(Sizes::of(p, D), Some(MarkMode::Object))),
            },
            Peer { name: "rc", about: "std::rc::Rc nodes", kind: PeerKind::InProcess(|p| rc_run(Sizes::of(p, D))) },
        ]
    }
    Bench {
        id,
        workload: WorkloadId::HeapScaling,
        title: id,
        about: match d {
            20 => |p| about(Sizes::of(p, 20)),
            _ => |p| about(Sizes::of(p, 24)),
        },
        unit: Unit::Seconds,
        peers: if d == 20 { peers::<20>() } else { peers::<24>() },
    }
}

fn about(s: Sizes) -> String {
    format!(
        "A long-lived binary tree of depth {} ({} nodes) stays live while {} trees of depth {} are built, \
         checked and dropped ({} nodes allocated in all); then the long-lived tree is checked. Shade: \
         `Slot` children, a safepoint after each short tree, the long-lived tree held by a `Local`; \
         `shade-object` is the same with object-at-a-time marking. Rc: `Option<Rc<Node>>` children. \
         Shade's metrics: the mark rate (MB marked per second of mark workers' CPU and mark assists' \
         time) and that mark time per cycle, from the collector's counters.",
        s.live_depth,
        nodes(s.live_depth),
        s.short_trees,
        s.short_depth,
        s.total_nodes()
    )
}

/// The benchmarks of this workload.
pub fn benches() -> Vec<Bench> {
    vec![bench("heap-scaling-20", 20), bench("heap-scaling-24", 24)]
}

/// Mark figures from a heap's cycle log, over the cycles that marked: the
/// mark rate (MB marked by the workers and assists per second of the
/// workers' CPU and the assists' time) and mark CPU per cycle (the same
/// time, in ms).
pub(crate) fn mark_metrics(st: &HeapStats) -> Vec<(String, f64)> {
    let cycles: Vec<_> = st.cycle_log.iter().filter(|c| c.mark_worker_bytes + c.mark_assist_bytes > 0).collect();
    let cpu: f64 = cycles.iter().map(|c| (c.mark_cpu + c.mark_assist_time).as_secs_f64()).sum();
    let bytes: f64 = cycles.iter().map(|c| (c.mark_worker_bytes + c.mark_assist_bytes) as f64).sum();
    let mut m = vec![("GC cycles".to_string(), st.cycles as f64)];
    if cpu > 0.0 {
        m.push(("mark rate (MB/s per mark CPU)".to_string(), bytes / cpu / 1e6));
        m.push(("mark CPU per cycle (ms)".to_string(), cpu * 1e3 / cycles.len() as f64));
    }
    m
}

// ----- Shade (binary-trees' nodes, builder and check) ---------------------

/// Shade, with `mark` instead of the default marking if given.
pub fn shade_run(s: Sizes, mark: Option<MarkMode>) -> Outcome {
    let mut config = Config::default();
    if let Some(m) = mark {
        config.mark = m;
    }
    let heap = Heap::new(config).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    let mut mu = heap.mutator();
    let live = mu.local(shade_bottom_up(&mu, s.live_depth));
    let mut sum = shade_check(&mu, live.get(&mu));
    for _ in 0..s.short_trees {
        sum += shade_check(&mu, shade_bottom_up(&mu, s.short_depth));
        mu.safepoint();
    }
    sum += shade_check(&mu, live.get(&mu));
    drop(live);
    let st = heap.stats();
    let gc = GcSummary::from_shade(&st);
    drop(mu);
    drop(heap);
    Outcome { ops: s.total_nodes(), checksum: sum, gc: Some(gc), metrics: mark_metrics(&st), ..Outcome::default() }
}

// ----- Rc (binary-trees' nodes, builder and check) ------------------------

fn rc_run(s: Sizes) -> Outcome {
    let live = rc_bottom_up(s.live_depth);
    let mut sum = rc_check(&live);
    for _ in 0..s.short_trees {
        sum += rc_check(&rc_bottom_up(s.short_depth));
    }
    sum += rc_check(&live);
    drop(live);
    Outcome { ops: s.total_nodes(), checksum: sum, ..Outcome::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_agree_on_a_small_run() {
        let s = Sizes { live_depth: 12, short_depth: 6, short_trees: 300 };
        let (a, b, r) = (shade_run(s, None), shade_run(s, Some(MarkMode::Object)), rc_run(s));
        // Every node of the live tree is checked twice, each short tree once.
        assert_eq!(a.checksum, 2 * nodes(12) + 300 * nodes(6));
        assert_eq!((a.checksum, a.ops), (r.checksum, r.ops));
        assert_eq!((b.checksum, b.ops), (r.checksum, r.ops));
    }

    #[test]
    fn sizes_follow_the_scale_below_the_default_only() {
        let at = |scale| Sizes::of(&Params { scale, ..Params::default() }, 24);
        assert_eq!(at(0.25), Sizes { live_depth: 24, short_depth: 10, short_trees: 65_536 });
        assert_eq!(at(1.0), at(0.25));
        let quick = at(1.0 / 16.0);
        assert_eq!((quick.live_depth, quick.short_trees), (22, 16_384));
    }
}
