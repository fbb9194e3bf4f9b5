//! Umbra programs with their expected output, run on Shade — several with
//! a tiny heap so that collections run in the middle of calls, loops and
//! allocation (the dispatch loop's safepoint polling is what lets them).

use shade::Config;
use shade_vm::{run, run_on, Error, Vm};

fn small_vm() -> Vm {
    let config =
        Config { read_env: false, min_heap: 256 << 10, clobber_free: true, checkmark: true, ..Config::default() };
    Vm::new(config).expect("heap")
}

fn check(src: &str, expected: &str) {
    assert_eq!(run(src).unwrap_or_else(|e| panic!("{e}")), expected, "default heap");
    let mut vm = small_vm();
    assert_eq!(run_on(&mut vm, src).unwrap_or_else(|e| panic!("{e}")), expected, "small heap");
}

#[test]
fn arithmetic_and_printing() {
    check(
        "(print (+ 1 2) (* 3 4) (- 10) (/ 7 2) (/ 8 2) (% 7 3) (+ 1 2.5) (< 1 2) (= 2 2.0))",
        "3 12 -10 3.5 4 1 3.5 true true\n",
    );
    check("(print (* 140737488355327 2))", "281474976710654\n"); // overflows 48 bits: a number
    check(
        "(print nil true false \"str\" (not nil) (and 1 2) (or false 3) (and))",
        "nil true false str true 2 3 true\n",
    );
}

#[test]
fn recursion_and_loops() {
    check("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (print (fib 22))", "17711\n");
    check("(define i 0) (define s 0) (while (< i 1000) (set! s (+ s i)) (set! i (+ i 1))) (print s)", "499500\n");
    check("(define (loop n acc) (if (= n 0) acc (loop (- n 1) (+ acc 1)))) (print (loop 10000 0))", "10000\n");
}

#[test]
fn closures_capture_and_share_assigned_variables() {
    check(
        "(define (counter) (let ((n 0)) (lambda () (set! n (+ n 1)) n)))
         (define a (counter)) (define b (counter))
         (a) (a) (b)
         (print (a) (b))",
        "3 2\n",
    );
    // Two closures share one box; a parameter captured and assigned.
    check(
        "(define (pair-of x) (cons (lambda () x) (lambda (v) (set! x v))))
         (define p (pair-of 1))
         ((cdr p) 42)
         (print ((car p)))",
        "42\n",
    );
    // Capture through two levels, by value when never assigned.
    check("(define (adder a) (lambda (b) (lambda (c) (+ a (+ b c))))) (print (((adder 1) 20) 300))", "321\n");
    // A local recursive function.
    check(
        "(define (f n) (define (go k acc) (if (= k 0) acc (go (- k 1) (* acc k)))) (go n 1)) (print (f 10))",
        "3628800\n",
    );
    // A top-level let captured and assigned.
    check("(let ((n 5)) (define inc (lambda () (set! n (+ n 1)) n)) (inc) (print (inc)))", "7\n");
}

#[test]
fn strings_are_interned_so_equal_strings_are_one_object() {
    check(
        "(define a (str \"ab\" \"cd\")) (define b (str \"a\" \"bcd\"))
         (print a (eq? a b) (eq? a \"abcd\") (len a) (type a) (type 1) (type cons) (type (cons 1 2)))",
        "abcd true true 4 string number function pair\n",
    );
}

#[test]
fn lists_survive_collections_while_built_and_walked() {
    // Builds and drops many lists, keeping one; on the small heap this runs
    // many collections in the middle of the loops. (With 300 rounds the
    // program took about 10 ms in release builds, and whether a third
    // cycle had completed by then was a matter of timing: 3 runs in 20
    // failed, before and after ragged termination.)
    let src = "
        (define (range n) (let ((l nil)) (while (> n 0) (set! n (- n 1)) (set! l (cons n l))) l))
        (define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))
        (define keep (range 1000))
        (define i 0)
        (define total 0)
        (while (< i 3000)
          (set! total (+ total (sum (range 200))))
          (set! i (+ i 1)))
        (print total (sum keep) (car (cdr (cdr keep))))";
    let mut vm = small_vm();
    let out = run_on(&mut vm, src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, format!("{} {} 2\n", 3000 * 19900, 499500));
    assert!(vm.heap().stats().cycles >= 3, "collections ran: {}", vm.heap().stats().cycles);
}

#[test]
fn binary_trees_in_the_language() {
    let src = "
        (define (make d) (if (= d 0) (cons nil nil) (cons (make (- d 1)) (make (- d 1)))))
        (define (check t) (if (null? (car t)) 1 (+ 1 (+ (check (car t)) (check (cdr t))))))
        (define long (make 10))
        (define n 0)
        (define i 0)
        (while (< i 40) (set! n (+ n (check (make 8)))) (set! i (+ i 1)))
        (print n (check long))";
    check(src, &format!("{} {}\n", 40 * 511, 2047));
}

#[test]
fn errors_are_reported_not_crashes() {
    let e = |src: &str| match run(src) {
        Err(e) => e.to_string(),
        Ok(out) => panic!("expected an error, got output {out:?}"),
    };
    assert!(e("(car 1)").contains("car: expected a pair, got number"));
    assert!(e("(undefined-thing)").contains("undefined variable: undefined-thing"));
    assert!(e("(1 2)").contains("cannot call a number"));
    assert!(e("(define (f x) x) (f)").contains("f: expected 1 arguments, got 0"));
    assert!(e("(+ 1 \"a\")").contains("cannot apply Add to number and string"));
    assert!(e("(define (f) (f)) (f)").contains("stack overflow"));
    assert!(e("(print (% 1 0))").contains("division by zero"));
    assert!(matches!(run("(print 1"), Err(Error::Syntax(_))));
    assert!(matches!(run("(if)"), Err(Error::Compile(_))));
    let trace = match run("(define (inner) (car 5)) (define (outer) (inner)) (outer)") {
        Err(Error::Runtime(r)) => r.trace,
        other => panic!("{other:?}"),
    };
    assert_eq!(trace, vec!["inner", "outer", "<main>"]);
}

#[test]
fn a_vm_runs_program_after_program() {
    let mut vm = small_vm();
    for i in 0..20 {
        let out = run_on(&mut vm, &format!("(define (f n) (if (= n 0) 0 (+ 1 (f (- n 1))))) (print (f {}))", i * 10))
            .unwrap();
        assert_eq!(out, format!("{}\n", i * 10));
        vm.safepoint();
    }
}
