//! Heap configuration, and the `SHADE_DEBUG` / `SHADE_GOGC` environment
//! variables (Shade's GODEBUG and GOGC).
//!
//! `SHADE_DEBUG` is a comma-separated list of `key=value`:
//!
//! | key | values | effect |
//! |---|---|---|
//! | `gctrace` | 0/1 | one line per cycle on stderr |
//! | `barrier` | `buffered`/`eager` | buffer barrier entries (default) or shade on every store |
//! | `wbrecord` | `old`/`hybrid` | record overwritten values only (default), or also stored ones |
//! | `wbcheck` | 0/1 | every barrier takes the slow path and validates the store |
//! | `smallbuf` | 0/1 | two-entry barrier buffers, to stress flushing |
//! | `gcstoptheworld` | 0/1 | mark with the world stopped |
//! | `checkmark` | 0/1 | verify concurrent marking against a stop-the-world re-mark |
//! | `clobberfree` | 0/1 | poison freed objects (default on in debug builds) |
//! | `mark` | `span`/`object` | span-batched marking (default) or one object at a time |
//! | `termination` | `ragged`/`stop` | end marking with handshakes (default) or a stop of the world |

use crate::barrier::{BarrierMode, BarrierRecord};
use crate::gc::termination::Termination;
use crate::gc::work::MarkMode;
use std::fmt;

/// How a heap is set up. Start from `Config::default()` and change fields.
///
/// ```
/// use shade::{Config, Heap};
/// let heap = Heap::new(Config { gc_percent: 50, heap_limit: Some(256 << 20), ..Config::default() }).unwrap();
/// # drop(heap);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Next collection when the heap has grown by this many percent over
    /// the live heap found by the last one (Go's GOGC). Default 100.
    /// `SHADE_GOGC` overrides it (`off` disables pacing).
    pub gc_percent: usize,
    /// Never start a cycle below this heap size. Default 4 MiB.
    pub min_heap: usize,
    /// Hard limit on heap memory (pages in use). Allocations beyond it fail
    /// with [`AllocError::HeapLimit`](crate::AllocError). Default: none.
    pub heap_limit: Option<usize>,
    /// Address space reserved for the heap; memory is only committed when
    /// used. Default 64 GiB (raised to `heap_limit` if that is larger);
    /// 64 MiB under Miri, where the arena is an ordinary allocation.
    pub reserve: usize,
    /// Threads that mark while the world is stopped (mark termination, and
    /// the whole mark in stop-the-world mode). 0 (default): one per CPU.
    pub mark_workers: usize,
    /// Background threads that mark while mutators run. 0 (default): a
    /// quarter of the CPUs, at least one.
    pub background_mark_workers: usize,
    /// How the write barrier records pointers (`SHADE_DEBUG=barrier=...`).
    pub barrier: BarrierMode,
    /// Which pointers the barrier records (`SHADE_DEBUG=wbrecord=...`).
    pub barrier_record: BarrierRecord,
    /// Validate every pointer store (`SHADE_DEBUG=wbcheck=1`).
    pub wbcheck: bool,
    /// Two-entry barrier buffers (`SHADE_DEBUG=smallbuf=1`).
    pub smallbuf: bool,
    /// Mark with the world stopped (`SHADE_DEBUG=gcstoptheworld=1`).
    pub stop_the_world: bool,
    /// Check concurrent marking against a full re-mark at termination
    /// (`SHADE_DEBUG=checkmark=1`); panics if a reachable object was missed.
    pub checkmark: bool,
    /// Print one line per cycle to stderr (`SHADE_DEBUG=gctrace=1`).
    pub gctrace: bool,
    /// Overwrite freed objects with a poison pattern so a use after free is
    /// caught (`SHADE_DEBUG=clobberfree=1`). Default: on in debug builds.
    pub clobber_free: bool,
    /// Free pages unused for this many cycles may be returned to the OS;
    /// they are, while the heap holds more pages than it used in the last
    /// cycle and more than 110% of its goal. Default 2.
    pub scavenge_after_cycles: u64,
    /// How the marker queues and scans grey objects
    /// (`SHADE_DEBUG=mark=span|object`). Default: [`MarkMode::Span`].
    pub mark: MarkMode,
    /// How marking ends (`SHADE_DEBUG=termination=ragged|stop`). Default:
    /// [`Termination::Ragged`]: no mutator waits for another.
    pub termination: Termination,
    /// Apply `SHADE_DEBUG` and `SHADE_GOGC` from the environment. Default true.
    pub read_env: bool,
}

/// The default `Config::reserve`. Under Miri the arena is an ordinary zeroed
/// allocation (Miri cannot interpret `mmap(MAP_NORESERVE)`, see
/// `util::os::Region`), and Miri's cost of creating a heap grows with the
/// arena (and its page table): about 10 s per GiB.
const DEFAULT_RESERVE: usize = if cfg!(miri) { 64 << 20 } else { 64 << 30 };

impl Default for Config {
    fn default() -> Config {
        Config {
            gc_percent: 100,
            min_heap: 4 << 20,
            heap_limit: None,
            reserve: DEFAULT_RESERVE,
            mark_workers: 0,
            background_mark_workers: 0,
            barrier: BarrierMode::Buffered,
            barrier_record: BarrierRecord::Old,
            wbcheck: false,
            smallbuf: false,
            stop_the_world: false,
            checkmark: false,
            gctrace: false,
            clobber_free: cfg!(debug_assertions),
            scavenge_after_cycles: 2,
            mark: MarkMode::default(),
            termination: Termination::default(),
            read_env: true,
        }
    }
}

/// Why a heap could not be created.
#[derive(Debug)]
pub enum HeapError {
    /// A configuration value or environment variable is invalid.
    Config(String),
    /// The OS refused the address-space reservation.
    Os(std::io::Error),
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapError::Config(m) => write!(f, "shade: invalid configuration: {m}"),
            HeapError::Os(e) => write!(f, "shade: cannot reserve heap memory: {e}"),
        }
    }
}

impl std::error::Error for HeapError {}

/// The resolved configuration a runtime runs with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) gc_percent: usize,
    pub(crate) min_heap: usize,
    pub(crate) heap_limit: Option<usize>,
    pub(crate) reserve: usize,
    pub(crate) mark_workers: usize,
    pub(crate) bg_mark_workers: usize,
    pub(crate) barrier: BarrierMode,
    pub(crate) record: BarrierRecord,
    pub(crate) wbcheck: bool,
    pub(crate) smallbuf: bool,
    pub(crate) gcstoptheworld: bool,
    pub(crate) checkmark: bool,
    pub(crate) gctrace: bool,
    pub(crate) clobber_free: bool,
    pub(crate) scavenge_after_cycles: u64,
    pub(crate) mark: MarkMode,
    pub(crate) termination: Termination,
}

/// Keys `SHADE_DEBUG` understands.
const DEBUG_KEYS: &[&str] = &[
    "gctrace",
    "barrier",
    "wbrecord",
    "wbcheck",
    "smallbuf",
    "gcstoptheworld",
    "checkmark",
    "clobberfree",
    "mark",
    "termination",
];

fn parse_bool(key: &str, v: &str) -> Result<bool, HeapError> {
    match v {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(HeapError::Config(format!("SHADE_DEBUG: {key}={v}: expected 0 or 1"))),
    }
}

impl Config {
    /// Applies a `SHADE_DEBUG` string (`key=value,key=value`).
    pub fn apply_debug(&mut self, spec: &str) -> Result<(), HeapError> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').unwrap_or((item, "1"));
            match k {
                "gctrace" => self.gctrace = parse_bool(k, v)?,
                "clobberfree" => self.clobber_free = parse_bool(k, v)?,
                "wbcheck" => self.wbcheck = parse_bool(k, v)?,
                "smallbuf" => self.smallbuf = parse_bool(k, v)?,
                "gcstoptheworld" => self.stop_the_world = parse_bool(k, v)?,
                "checkmark" => self.checkmark = parse_bool(k, v)?,
                "barrier" => {
                    self.barrier = match v {
                        "buffered" => BarrierMode::Buffered,
                        "eager" => BarrierMode::Eager,
                        _ => {
                            return Err(HeapError::Config(format!(
                                "SHADE_DEBUG: barrier={v}: expected buffered or eager"
                            )))
                        }
                    }
                }
                "mark" => {
                    self.mark = match v {
                        "span" => MarkMode::Span,
                        "object" => MarkMode::Object,
                        _ => return Err(HeapError::Config(format!("SHADE_DEBUG: mark={v}: expected span or object"))),
                    }
                }
                "termination" => {
                    self.termination = match v {
                        "ragged" => Termination::Ragged,
                        "stop" => Termination::Stop,
                        _ => {
                            return Err(HeapError::Config(format!(
                                "SHADE_DEBUG: termination={v}: expected ragged or stop"
                            )))
                        }
                    }
                }
                "wbrecord" => {
                    self.barrier_record = match v {
                        "old" => BarrierRecord::Old,
                        "hybrid" => BarrierRecord::OldAndNew,
                        _ => {
                            return Err(HeapError::Config(format!("SHADE_DEBUG: wbrecord={v}: expected old or hybrid")))
                        }
                    }
                }
                _ => {
                    return Err(HeapError::Config(format!(
                        "SHADE_DEBUG: unknown key {k:?} (known: {})",
                        DEBUG_KEYS.join(", ")
                    )))
                }
            }
        }
        Ok(())
    }

    pub(crate) fn resolve(mut self) -> Result<Settings, HeapError> {
        if self.read_env {
            if let Ok(spec) = std::env::var("SHADE_DEBUG") {
                self.apply_debug(&spec)?;
            }
            if let Ok(v) = std::env::var("SHADE_GOGC") {
                self.gc_percent = match v.trim() {
                    "off" => usize::MAX,
                    n => n
                        .parse()
                        .map_err(|_| HeapError::Config(format!("SHADE_GOGC={v}: expected a percentage or \"off\"")))?,
                };
            }
        }
        if self.gc_percent == 0 {
            return Err(HeapError::Config("gc_percent must be at least 1".into()));
        }
        let mut reserve = self.reserve;
        if let Some(limit) = self.heap_limit {
            if limit < crate::heap::sizeclass::PAGE_SIZE {
                return Err(HeapError::Config(format!("heap_limit of {limit} bytes is below one page")));
            }
            reserve = reserve.max(limit);
        }
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = if self.mark_workers == 0 { cpus } else { self.mark_workers }.clamp(1, 64);
        let bg = if self.background_mark_workers == 0 { (cpus / 4).max(1) } else { self.background_mark_workers };
        Ok(Settings {
            gc_percent: self.gc_percent,
            min_heap: self.min_heap,
            heap_limit: self.heap_limit,
            reserve,
            mark_workers: workers,
            bg_mark_workers: bg.clamp(1, workers),
            barrier: self.barrier,
            record: self.barrier_record,
            wbcheck: self.wbcheck,
            smallbuf: self.smallbuf,
            gcstoptheworld: self.stop_the_world,
            checkmark: self.checkmark,
            gctrace: self.gctrace,
            clobber_free: self.clobber_free,
            scavenge_after_cycles: self.scavenge_after_cycles,
            mark: self.mark,
            termination: self.termination,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_string_parsing() {
        let mut c = Config { read_env: false, ..Config::default() };
        c.apply_debug("gctrace=1, clobberfree=0").unwrap();
        assert!(c.gctrace && !c.clobber_free);
        c.apply_debug("barrier=eager,wbrecord=hybrid,wbcheck=1,smallbuf=1,gcstoptheworld=1,checkmark=1").unwrap();
        assert_eq!(c.barrier, BarrierMode::Eager);
        assert_eq!(c.barrier_record, BarrierRecord::OldAndNew);
        assert!(c.wbcheck && c.smallbuf && c.stop_the_world && c.checkmark);
        assert_eq!(c.mark, MarkMode::Span);
        c.apply_debug("mark=object").unwrap();
        assert_eq!(c.mark, MarkMode::Object);
        assert_eq!(c.termination, Termination::Ragged);
        c.apply_debug("termination=stop").unwrap();
        assert_eq!(c.termination, Termination::Stop);
        assert!(c.apply_debug("termination=never").is_err());
        assert!(c.apply_debug("mark=page").unwrap_err().to_string().contains("expected span or object"));
        assert!(c.apply_debug("barrier=sometimes").is_err());
        let e = c.apply_debug("nosuchkey=1").unwrap_err().to_string();
        assert!(e.contains("unknown key") && e.contains("gctrace"), "{e}");
        assert!(c.apply_debug("gctrace=maybe").is_err());
    }

    #[test]
    fn resolve_validates() {
        let bad = Config { gc_percent: 0, read_env: false, ..Config::default() };
        assert!(bad.resolve().is_err());
        let s = Config { mark_workers: 3, heap_limit: Some(1 << 40), read_env: false, ..Config::default() }
            .resolve()
            .unwrap();
        assert_eq!(s.mark_workers, 3);
        assert!(s.reserve >= 1 << 40);
    }
}
