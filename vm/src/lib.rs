//! Umbra: a small bytecode VM for a dynamically typed Lisp, written on
//! Shade the way we advise language runtimes to be written (see `vm.rs`'s
//! header for the pattern: `Value`s everywhere, objects as plain derived
//! types with trait-object views, a `RootStack` for the value stack, a
//! dispatch loop that polls `safepoint_requested()`, interned strings in a
//! `WeakSet`).
//!
//! The language: integers (48-bit, overflowing to numbers), numbers,
//! strings, `true`/`false`/`nil`, pairs, closures.
//!
//! ```text
//! (define (f x) ...)  (define x e)  (lambda (x y) ...)  (let ((x e) ...) ...)
//! (if c a b)  (while c ...)  (begin ...)  (set! x e)  (and ...)  (or ...)  (not x)
//! (+ - * / % < <= > >= =)  print str cons car cdr set-car! set-cdr! pair? null?
//! type len eq? sqrt
//! ```
//!
//! ```
//! let out = shade_vm::run("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (print (fib 20))").unwrap();
//! assert_eq!(out, "6765\n");
//! ```

pub mod baseline;
pub mod compiler;
pub mod reader;
pub mod vm;

pub use vm::Vm;

/// Any error a program can end with.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Syntax(reader::SyntaxError),
    Compile(compiler::CompileError),
    Runtime(vm::RuntimeError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Syntax(e) => write!(f, "syntax error: {e}"),
            Error::Compile(e) => write!(f, "compile error: {e}"),
            Error::Runtime(e) => write!(f, "runtime error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Compiles `src` for `Vm`'s natives.
pub fn compile(src: &str) -> Result<compiler::Program, Error> {
    let forms = reader::read_all(src).map_err(Error::Syntax)?;
    compiler::compile(&forms, &Vm::native_names()).map_err(Error::Compile)
}

/// Runs `src` on `vm`; returns the output of `print`s (and clears it).
pub fn run_on(vm: &mut Vm, src: &str) -> Result<String, Error> {
    let program = compile(src)?;
    vm.load(program);
    let r = vm.run_main();
    let out = std::mem::take(&mut vm.out);
    r.map_err(Error::Runtime)?;
    Ok(out)
}

/// Runs `src` on a fresh VM with the default configuration; returns what it
/// printed.
pub fn run(src: &str) -> Result<String, Error> {
    let mut vm = Vm::new(shade::Config::default()).expect("heap");
    run_on(&mut vm, src)
}
