//! Workload `vm`: Umbra, the bytecode VM in `vm/` (issue 9), on Shade and
//! on the baselines in `vm/src/baseline.rs` — the same compiler and
//! instruction set, interpreted over other storage.
//!
//! * `vm-fib`: recursive `fib` — calls, arithmetic, no allocation.
//! * `vm-method`: a loop calling a closure fetched from an object (the
//!   car of a pair) that increments a captured, boxed counter — a method
//!   call's shape: load, dispatch, upvalue access, a store.
//!
//! Both compare `shade` (polling `safepoint_requested()` at every call and
//! backward jump), `shade-nopoll` (never polling: what the polls cost) and
//! `leak` (16-byte tagged values, objects leaked, `Cell` fields: no memory
//! management at all, the bound).
//!
//! * `vm-alloc`: binary trees built from pairs in the language, a
//!   long-lived tree kept while short-lived ones are built, checked and
//!   dropped: `shade` vs `rc` (the same VM on `Rc` objects with `RefCell`
//!   fields).

use super::{Bench, GcSummary, Outcome, Params, Peer, PeerKind, Unit, WorkloadId};
use shade::Config;
use shade_vm::baseline::{self, Counted, Leak};

pub fn benches() -> Vec<Bench> {
    let dispatch_peers = |f: fn(&Params) -> Outcome, nf: fn(&Params) -> Outcome, l: fn(&Params) -> Outcome| {
        vec![
            Peer {
                name: "shade",
                about: "Umbra on Shade, polling at calls and back-edges",
                kind: PeerKind::InProcess(f),
            },
            Peer { name: "shade-nopoll", about: "Umbra on Shade, never polling", kind: PeerKind::InProcess(nf) },
            Peer {
                name: "leak",
                about: "the same VM, leaked objects, no memory management",
                kind: PeerKind::InProcess(l),
            },
        ]
    };
    vec![
        Bench {
            id: "vm-fib",
            workload: WorkloadId::Vm,
            title: "vm-fib: recursive fib in the Umbra VM",
            about: |p| format!("`(fib {})` in Umbra: calls and integer arithmetic, no allocation.", fib_n(p)),
            unit: Unit::Seconds,
            peers: dispatch_peers(
                |p| shade_run(&fib_src(p), true),
                |p| shade_run(&fib_src(p), false),
                |p| leak_run(&fib_src(p)),
            ),
        },
        Bench {
            id: "vm-method",
            workload: WorkloadId::Vm,
            title: "vm-method: calling a closure held by an object, in the Umbra VM",
            about: |p| {
                format!(
                    "{} calls of a closure fetched from an object (`((car obj))`) that increments a \
                     captured, boxed counter.",
                    method_n(p)
                )
            },
            unit: Unit::Seconds,
            peers: dispatch_peers(
                |p| shade_run(&method_src(p), true),
                |p| shade_run(&method_src(p), false),
                |p| leak_run(&method_src(p)),
            ),
        },
        Bench {
            id: "vm-alloc",
            workload: WorkloadId::Vm,
            title: "vm-alloc: binary trees of pairs in the Umbra VM",
            about: |p| {
                let (long, short, n) = alloc_shape(p);
                format!(
                    "A long-lived tree of depth {long} built from pairs, then {n} trees of depth {short} built, \
                     checked and dropped, in Umbra. shade: the VM on Shade (default configuration). rc: the \
                     same VM on `Rc` objects with `RefCell` fields."
                )
            },
            unit: Unit::Seconds,
            peers: vec![
                Peer {
                    name: "shade",
                    about: "Umbra on Shade",
                    kind: PeerKind::InProcess(|p| shade_run(&alloc_src(p), true)),
                },
                Peer {
                    name: "rc",
                    about: "the same VM, Rc objects, RefCell fields",
                    kind: PeerKind::InProcess(|p| rc_run(&alloc_src(p))),
                },
            ],
        },
    ]
}

fn fib_n(p: &Params) -> u32 {
    // fib(n) costs φ^n: log_φ(2) ≈ 1.44 steps of n per doubling.
    (32.0 + (p.scale.log2() * 1.44).round()).clamp(15.0, 40.0) as u32
}

fn fib_src(p: &Params) -> String {
    format!("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (print (fib {}))", fib_n(p))
}

fn method_n(p: &Params) -> u64 {
    p.scaled(8_000_000)
}

fn method_src(p: &Params) -> String {
    format!(
        "(define (make-counter) (let ((n 0)) (cons (lambda () (set! n (+ n 1)) n) (lambda () n))))
         (define obj (make-counter))
         (define i 0)
         (while (< i {}) ((car obj)) (set! i (+ i 1)))
         (print ((cdr obj)))",
        method_n(p)
    )
}

/// (long-lived depth, short depth, number of short trees).
fn alloc_shape(p: &Params) -> (u32, u32, u64) {
    let long = (18 + p.depth_shift()).clamp(8, 22) as u32;
    (long, 12, p.scaled(400))
}

fn alloc_src(p: &Params) -> String {
    let (long, short, n) = alloc_shape(p);
    format!(
        "(define (make d) (if (= d 0) (cons nil nil) (cons (make (- d 1)) (make (- d 1)))))
         (define (check t) (if (null? (car t)) 1 (+ 1 (+ (check (car t)) (check (cdr t))))))
         (define long (make {long}))
         (define total 0)
         (define i 0)
         (while (< i {n}) (set! total (+ total (check (make {short})))) (set! i (+ i 1)))
         (print total (check long))"
    )
}

fn outcome(out: String) -> Outcome {
    let lines: Vec<String> = out.lines().map(str::to_string).collect();
    Outcome { ops: 1, checksum: lines.len() as u64, lines, ..Outcome::default() }
}

fn shade_run(src: &str, poll: bool) -> Outcome {
    let program = shade_vm::compile(src).unwrap_or_else(|e| panic!("{e}"));
    let mut vm = shade_vm::Vm::new(Config::default()).unwrap_or_else(|e| panic!("cannot create the Shade heap: {e}"));
    vm.poll = poll;
    vm.load(program);
    vm.run_main().unwrap_or_else(|e| panic!("{e}"));
    let mut o = outcome(std::mem::take(&mut vm.out));
    o.gc = Some(GcSummary::from_shade(&vm.heap().stats()));
    o
}

fn leak_run(src: &str) -> Outcome {
    let program = shade_vm::compile(src).unwrap_or_else(|e| panic!("{e}"));
    outcome(baseline::run::<Leak>(&program).unwrap_or_else(|e| panic!("{e}")))
}

fn rc_run(src: &str) -> Outcome {
    let program = shade_vm::compile(src).unwrap_or_else(|e| panic!("{e}"));
    outcome(baseline::run::<Counted>(&program).unwrap_or_else(|e| panic!("{e}")))
}
