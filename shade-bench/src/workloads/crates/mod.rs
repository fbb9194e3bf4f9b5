//! In-process peers built on other Rust garbage-collector crates, one file
//! per crate, each used the way its documentation shows:
//!
//! * [`rust_gc`]: the `gc` crate (rust-gc): `Gc<T>` / `GcCell<T>` with
//!   `#[derive(Trace, Finalize)]`; roots are counted on the `Gc` handles, a
//!   collection runs inside `Gc::new` when the allocated bytes exceed a
//!   threshold.
//! * [`gc_arena`]: the `gc-arena` crate: an `Arena<Rootable![…]>` whose
//!   objects are reachable only from its root between `mutate` calls;
//!   `Gc<'gc, T>` pointers, `Lock` for mutable fields (with a write
//!   barrier), incremental collection by `collect_debt` outside `mutate`.
//! * [`dumpster`]: the `dumpster` crate: `unsync::Gc<T>` (reference counting
//!   plus a cycle collector), `RefCell` for mutable fields.
//!
//! They run `binary-trees`, `gcbench`, `stores-quiet`, `stores-active` and
//! `latency`, all single-threaded, like the crates' collectors (rust-gc and
//! gc-arena are single-threaded; dumpster's `sync` flavour is not used).
//! Not `stores-forced`, whose point is a second thread forcing collections
//! of the same heap: none of these collectors can be driven from another
//! thread. Not `alloc`, `write-barrier` or `shared` either (Shade's own
//! barrier modes; a heap shared by threads).
//!
//! The peers attach themselves to the benchmarks they implement by
//! benchmark id ([`attach`]), so a benchmark that is not in this build gets
//! no crate peers. They reuse their benchmark's sizes, output, checksum and
//! metric helpers, so their checksums and figures compare with Shade's.

pub mod dumpster;
pub mod gc_arena;
pub mod rust_gc;

use super::{Bench, Outcome, Params, Peer, PeerKind};

/// What a crate module offers for one benchmark: peer name, one line on it,
/// and the workload function.
pub type CratePeer = (&'static str, &'static str, fn(&Params) -> Outcome);

/// Stack of the thread that runs a workload whose collector recurses along
/// pointer chains (rust-gc's marking, dumpster's cycle scan) over the
/// million-node ring of `stores`; only the pages it touches are resident.
pub const BIG_STACK: usize = 4 << 30;

/// Adds the crate peers to the benchmarks in `benches` that they implement.
pub fn attach(benches: &mut [Bench]) {
    for b in benches.iter_mut() {
        for (name, about, run) in
            [rust_gc::peer(b.id), gc_arena::peer(b.id), dumpster::peer(b.id)].into_iter().flatten()
        {
            if b.peer(name).is_none() {
                b.peers.push(Peer { name, about, kind: PeerKind::InProcess(run) });
            }
        }
    }
}

/// Runs `f(s)` on a new thread with a [`BIG_STACK`] stack (the crates'
/// heaps are thread-local, so the whole workload runs there).
pub fn on_big_stack<S: Send + 'static>(s: S, f: fn(S) -> Outcome) -> Outcome {
    std::thread::Builder::new()
        .name("crate-peer".into())
        .stack_size(BIG_STACK)
        .spawn(move || f(s))
        .unwrap_or_else(|e| panic!("cannot start the workload thread: {e}"))
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{gcbench as gb, latency as lat, stores as st};

    /// A crate's workload functions with explicit sizes.
    struct Crate {
        name: &'static str,
        binary_trees: fn(&Params) -> Outcome,
        gcbench: fn(gb::Sizes) -> Outcome,
        stores: fn(st::Variant, st::Sizes) -> Outcome,
        latency: fn(lat::Sizes) -> Outcome,
    }

    const CRATES: [Crate; 3] = [
        Crate {
            name: "rust-gc",
            binary_trees: rust_gc::binary_trees,
            gcbench: rust_gc::gcbench,
            stores: rust_gc::stores,
            latency: rust_gc::latency,
        },
        Crate {
            name: "gc-arena",
            binary_trees: gc_arena::binary_trees,
            gcbench: gc_arena::gcbench,
            stores: gc_arena::stores,
            latency: gc_arena::latency,
        },
        Crate {
            name: "dumpster",
            binary_trees: dumpster::binary_trees,
            gcbench: dumpster::gcbench,
            stores: dumpster::stores,
            latency: dumpster::latency,
        },
    ];

    #[test]
    fn peers_are_attached_by_benchmark_id() {
        let all = crate::workloads::all();
        for id in ["binary-trees", "gcbench", "stores-quiet", "stores-active", "latency"] {
            let Some(b) = all.iter().find(|b| b.id == id) else { continue };
            for c in &CRATES {
                assert!(b.peer(c.name).is_some(), "{id}: {} missing", c.name);
            }
        }
        for b in all.iter().filter(|b| ["stores-forced", "write-barrier", "shared"].contains(&b.id)) {
            assert!(CRATES.iter().all(|c| b.peer(c.name).is_none()), "{}", b.id);
        }
        // Attaching twice adds nothing.
        let mut again = crate::workloads::all();
        let before: Vec<usize> = again.iter().map(|b| b.peers.len()).collect();
        attach(&mut again);
        assert_eq!(before, again.iter().map(|b| b.peers.len()).collect::<Vec<_>>());
    }

    #[test]
    fn binary_trees_agrees_with_shade() {
        let p = Params { depth: 7, ..Params::default() };
        let all = crate::workloads::all();
        let bench = all.iter().find(|b| b.id == "binary-trees").unwrap();
        let PeerKind::InProcess(shade) = bench.peer("shade").unwrap().kind else { panic!("shade is in-process") };
        let want = shade(&p);
        for c in &CRATES {
            let o = (c.binary_trees)(&p);
            assert_eq!((&o.lines, o.checksum, o.ops), (&want.lines, want.checksum, want.ops), "{}", c.name);
        }
    }

    #[test]
    fn gcbench_agrees_with_shade() {
        let s = gb::Sizes { stretch: 9, long_lived: 8, max: 8, array: 4000 };
        let want = gb::run_shade(s);
        for c in &CRATES {
            let o = (c.gcbench)(s);
            assert_eq!((&o.lines, o.checksum, o.ops), (&want.lines, want.checksum, want.ops), "{}", c.name);
        }
    }

    #[test]
    fn stores_agree_with_shade() {
        for s in [st::Sizes { nodes: 2, stores: 3 }, st::Sizes { nodes: 3000, stores: 25_000 }] {
            for v in [st::Variant::Quiet, st::Variant::Active] {
                let want = st::run_shade(v, s);
                for c in &CRATES {
                    let o = (c.stores)(v, s);
                    assert_eq!((o.checksum, o.ops), (want.checksum, want.ops), "{} {v:?} {s:?}", c.name);
                    assert!(o.timed.is_some());
                }
            }
        }
    }

    #[test]
    fn latency_agrees_with_shade() {
        let s = lat::Sizes { ring: 300, pushes: 5000 };
        let want = lat::run_shade(s);
        for c in &CRATES {
            let o = (c.latency)(s);
            assert_eq!((o.checksum, o.ops), (want.checksum, want.ops), "{}", c.name);
            let names = |o: &Outcome| o.metrics.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
            assert!(names(&o).iter().all(|n| names(&want).contains(n)), "{}", c.name);
        }
    }

    #[test]
    fn big_stack_runs_deep_recursion() {
        fn depth(n: u64) -> u64 {
            if n == 0 {
                0
            } else {
                1 + std::hint::black_box(depth(n - 1))
            }
        }
        let o = on_big_stack(1_000_000u64, |n| Outcome { ops: depth(n), ..Outcome::default() });
        assert_eq!(o.ops, 1_000_000);
    }
}
