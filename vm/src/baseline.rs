//! The benchmark's baselines: the same compiler and instruction set,
//! interpreted over storage without Shade (the `vm` workload of
//! shade-bench compares them with `Vm`).
//!
//! * `leak`: values are a 16-byte tagged enum, objects are Rust structs
//!   leaked with `Box::leak` (never freed), fields are `Cell`s: no
//!   collector, no barrier, no reference counts — the bound of what the
//!   dispatch loop costs with no memory management at all. It is only fit
//!   for programs that allocate little.
//! * `rc`: the same values with `Rc` objects and `RefCell` fields, freed by
//!   reference counting (cycles leak): the usual Rust stand-in for a GC.
//!
//! One interpreter serves both, generic over the pointer (`Ptr`); natives
//! are the subset the benchmark programs use (print, cons, car, cdr,
//! set-car!, set-cdr!, pair?, null?), bound by the same names.

use crate::compiler::{Capture, Op, Program};
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::rc::Rc;

/// A value.
#[derive(Clone, Debug)]
pub enum BV<P> {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Obj(P),
}

/// An object.
pub enum BObj<P: Ptr> {
    Closure { proto: u32, upvals: Box<[P::Field]> },
    Box(P::Field),
    Pair(P::Field, P::Field),
    Native(u32),
    Str(Box<str>),
}

/// How objects are referenced and fields stored.
pub trait Ptr: Clone + Sized {
    /// A mutable field holding a value.
    type Field;
    fn new(o: BObj<Self>) -> Self;
    fn obj(&self) -> &BObj<Self>;
    fn field(v: BV<Self>) -> Self::Field;
    fn get(f: &Self::Field) -> BV<Self>;
    fn set(f: &Self::Field, v: BV<Self>);
    fn same(a: &Self, b: &Self) -> bool;
}

/// Leaked objects: `Copy` pointers, `Cell` fields.
#[derive(Clone, Copy)]
pub struct Leak(&'static BObj<Leak>);

impl Ptr for Leak {
    type Field = Cell<BV<Leak>>;
    fn new(o: BObj<Self>) -> Self {
        Leak(Box::leak(Box::new(o)))
    }
    #[inline(always)]
    fn obj(&self) -> &BObj<Self> {
        self.0
    }
    fn field(v: BV<Self>) -> Self::Field {
        Cell::new(v)
    }
    #[inline(always)]
    fn get(f: &Self::Field) -> BV<Self> {
        f.get()
    }
    #[inline(always)]
    fn set(f: &Self::Field, v: BV<Self>) {
        f.set(v)
    }
    fn same(a: &Self, b: &Self) -> bool {
        std::ptr::eq(a.0, b.0)
    }
}

impl Copy for BV<Leak> {}

/// Reference-counted objects with `RefCell` fields.
#[derive(Clone)]
pub struct Counted(Rc<BObj<Counted>>);

impl Ptr for Counted {
    type Field = RefCell<BV<Counted>>;
    fn new(o: BObj<Self>) -> Self {
        Counted(Rc::new(o))
    }
    #[inline(always)]
    fn obj(&self) -> &BObj<Self> {
        &self.0
    }
    fn field(v: BV<Self>) -> Self::Field {
        RefCell::new(v)
    }
    #[inline(always)]
    fn get(f: &Self::Field) -> BV<Self> {
        f.borrow().clone()
    }
    #[inline(always)]
    fn set(f: &Self::Field, v: BV<Self>) {
        *f.borrow_mut() = v;
    }
    fn same(a: &Self, b: &Self) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }
}

fn truthy<P>(v: &BV<P>) -> bool {
    !matches!(v, BV::Nil | BV::Bool(false))
}

const INT_MIN: i64 = -(1 << 47);
const INT_MAX: i64 = (1 << 47) - 1;

fn int_or_num<P>(i: Option<i64>, x: f64) -> BV<P> {
    match i {
        Some(i) if (INT_MIN..=INT_MAX).contains(&i) => BV::Int(i),
        _ => BV::Num(x),
    }
}

fn as_f64<P>(v: &BV<P>) -> Option<f64> {
    match *v {
        BV::Int(i) => Some(i as f64),
        BV::Num(x) => Some(x),
        _ => None,
    }
}

/// The same semantics as `Vm`'s arithmetic.
fn binary<P: Ptr>(op: Op, a: BV<P>, b: BV<P>) -> Result<BV<P>, String> {
    if let (BV::Int(x), BV::Int(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        return Ok(match op {
            Op::Add => int_or_num(x.checked_add(y), x as f64 + y as f64),
            Op::Sub => int_or_num(x.checked_sub(y), x as f64 - y as f64),
            Op::Mul => int_or_num(x.checked_mul(y), x as f64 * y as f64),
            Op::Div if y != 0 && x % y == 0 => BV::Int(x / y),
            Op::Div => BV::Num(x as f64 / y as f64),
            Op::Rem if y == 0 => return Err("%: division by zero".into()),
            Op::Rem => BV::Int(x % y),
            Op::Lt => BV::Bool(x < y),
            Op::Le => BV::Bool(x <= y),
            Op::Gt => BV::Bool(x > y),
            Op::Ge => BV::Bool(x >= y),
            Op::Eq => BV::Bool(x == y),
            _ => unreachable!(),
        });
    }
    if let (Some(x), Some(y)) = (as_f64(&a), as_f64(&b)) {
        return Ok(match op {
            Op::Add => BV::Num(x + y),
            Op::Sub => BV::Num(x - y),
            Op::Mul => BV::Num(x * y),
            Op::Div => BV::Num(x / y),
            Op::Rem => BV::Num(x % y),
            Op::Lt => BV::Bool(x < y),
            Op::Le => BV::Bool(x <= y),
            Op::Gt => BV::Bool(x > y),
            Op::Ge => BV::Bool(x >= y),
            Op::Eq => BV::Bool(x == y),
            _ => unreachable!(),
        });
    }
    match (op, &a, &b) {
        (Op::Eq, BV::Obj(x), BV::Obj(y)) => Ok(BV::Bool(P::same(x, y))),
        (Op::Eq, BV::Nil, BV::Nil) => Ok(BV::Bool(true)),
        (Op::Eq, BV::Bool(x), BV::Bool(y)) => Ok(BV::Bool(x == y)),
        (Op::Eq, _, _) => Ok(BV::Bool(false)),
        _ => Err(format!("cannot apply {op:?}")),
    }
}

fn write_value<P: Ptr>(v: &BV<P>, out: &mut String) {
    match v {
        BV::Nil => out.push_str("nil"),
        BV::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        BV::Int(i) => {
            let _ = write!(out, "{i}");
        }
        BV::Num(x) => {
            let _ = write!(out, "{x}");
        }
        BV::Obj(p) => match p.obj() {
            BObj::Str(s) => out.push_str(s),
            BObj::Pair(..) => out.push_str("<pair>"),
            _ => out.push_str("<object>"),
        },
    }
}

const NATIVES: &[&str] = &["print", "cons", "car", "cdr", "set-car!", "set-cdr!", "pair?", "null?"];

fn native<P: Ptr>(id: u32, args: &[BV<P>], out: &mut String) -> Result<BV<P>, String> {
    let pair = |v: &BV<P>| match v {
        BV::Obj(p) => match p.obj() {
            BObj::Pair(a, d) => Ok((P::get(a), P::get(d), p.clone())),
            _ => Err("expected a pair".to_string()),
        },
        _ => Err("expected a pair".to_string()),
    };
    match (NATIVES[id as usize], args) {
        ("print", args) => {
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(a, out);
            }
            out.push('\n');
            Ok(BV::Nil)
        }
        ("cons", [a, d]) => Ok(BV::Obj(P::new(BObj::Pair(P::field(a.clone()), P::field(d.clone()))))),
        ("car", [p]) => Ok(pair(p)?.0),
        ("cdr", [p]) => Ok(pair(p)?.1),
        ("set-car!" | "set-cdr!", [p, v]) => {
            let (_, _, obj) = pair(p)?;
            if let BObj::Pair(a, d) = obj.obj() {
                P::set(if NATIVES[id as usize] == "set-car!" { a } else { d }, v.clone());
            }
            Ok(BV::Nil)
        }
        ("pair?", [v]) => Ok(BV::Bool(matches!(v, BV::Obj(p) if matches!(p.obj(), BObj::Pair(..))))),
        ("null?", [v]) => Ok(BV::Bool(matches!(v, BV::Nil))),
        (name, _) => Err(format!("{name}: bad arguments")),
    }
}

#[derive(Clone, Copy)]
struct Frame {
    proto: u32,
    base: usize,
    ip: usize,
}

/// Runs `program` (compiled with `Vm::native_names()`); returns what it
/// printed.
pub fn run<P: Ptr>(program: &Program) -> Result<String, String> {
    let mut out = String::new();
    let mut globals: Vec<Option<BV<P>>> = vec![None; program.globals.len()];
    for (g, name) in program.globals.iter().enumerate() {
        if let Some(id) = NATIVES.iter().position(|n| n == name) {
            globals[g] = Some(BV::Obj(P::new(BObj::Native(id as u32))));
        }
    }
    let strings: Vec<BV<P>> = program.strings.iter().map(|s| BV::Obj(P::new(BObj::Str(s.as_str().into())))).collect();
    let mut stack: Vec<BV<P>> = Vec::with_capacity(1024);
    let main = program.main;
    stack.push(BV::Obj(P::new(BObj::Closure { proto: main, upvals: Box::new([]) })));
    stack.resize(1 + program.protos[main as usize].nslots as usize, BV::Nil);
    let mut frames = vec![Frame { proto: main, base: 1, ip: 0 }];
    let mut fr = frames[0];
    let mut code: &[Op] = &program.protos[main as usize].code;
    let mut closure: P = match &stack[0] {
        BV::Obj(p) => p.clone(),
        _ => unreachable!(),
    };
    macro_rules! pop {
        () => {
            stack.pop().expect("operand")
        };
    }
    macro_rules! upvals {
        () => {
            match closure.obj() {
                BObj::Closure { upvals, .. } => upvals,
                _ => unreachable!("a frame's closure"),
            }
        };
    }
    macro_rules! boxed {
        ($v:expr) => {
            match $v {
                BV::Obj(p) => match p.obj() {
                    BObj::Box(f) => P::get(f),
                    _ => unreachable!("a box"),
                },
                _ => unreachable!("a box"),
            }
        };
    }
    macro_rules! set_boxed {
        ($b:expr, $v:expr) => {
            match $b {
                BV::Obj(p) => match p.obj() {
                    BObj::Box(f) => P::set(f, $v),
                    _ => unreachable!("a box"),
                },
                _ => unreachable!("a box"),
            }
        };
    }
    loop {
        let op = code[fr.ip];
        fr.ip += 1;
        match op {
            Op::Nil => stack.push(BV::Nil),
            Op::True => stack.push(BV::Bool(true)),
            Op::False => stack.push(BV::Bool(false)),
            Op::Int(i) => stack.push(BV::Int(i as i64)),
            Op::Num(n) => stack.push(BV::Num(program.numbers[n as usize])),
            Op::Str(s) => stack.push(strings[s as usize].clone()),
            Op::Pop => {
                pop!();
            }
            Op::GetLocal(s) => stack.push(stack[fr.base + s as usize].clone()),
            Op::SetLocal(s) => {
                let v = pop!();
                stack[fr.base + s as usize] = v;
            }
            Op::GetBoxed(s) => {
                let v = boxed!(&stack[fr.base + s as usize]);
                stack.push(v);
            }
            Op::SetBoxed(s) => {
                let v = pop!();
                set_boxed!(&stack[fr.base + s as usize], v);
            }
            Op::MakeBox => {
                let v = pop!();
                stack.push(BV::Obj(P::new(BObj::Box(P::field(v)))));
            }
            Op::BoxLocal(s) => {
                let i = fr.base + s as usize;
                let v = std::mem::replace(&mut stack[i], BV::Nil);
                stack[i] = BV::Obj(P::new(BObj::Box(P::field(v))));
            }
            Op::GetUpval(u) => {
                let v = P::get(&upvals!()[u as usize]);
                stack.push(v);
            }
            Op::GetUpvalBoxed(u) => {
                let v = boxed!(&P::get(&upvals!()[u as usize]));
                stack.push(v);
            }
            Op::SetUpvalBoxed(u) => {
                let v = pop!();
                set_boxed!(&P::get(&upvals!()[u as usize]), v);
            }
            Op::GetGlobal(g) => match &globals[g as usize] {
                Some(v) => stack.push(v.clone()),
                None => return Err(format!("undefined variable: {}", program.globals[g as usize])),
            },
            Op::SetGlobal(g) | Op::DefGlobal(g) => {
                let v = pop!();
                if matches!(op, Op::SetGlobal(_)) && globals[g as usize].is_none() {
                    return Err(format!("set! of undefined variable: {}", program.globals[g as usize]));
                }
                globals[g as usize] = Some(v);
            }
            Op::Jump(t) | Op::Loop(t) => fr.ip = t as usize,
            Op::JumpIfFalse(t) => {
                if !truthy(&pop!()) {
                    fr.ip = t as usize;
                }
            }
            Op::AndJump(t) => {
                if !truthy(stack.last().expect("operand")) {
                    fr.ip = t as usize;
                } else {
                    pop!();
                }
            }
            Op::OrJump(t) => {
                if truthy(stack.last().expect("operand")) {
                    fr.ip = t as usize;
                } else {
                    pop!();
                }
            }
            Op::Call(argc) => {
                let argc = argc as usize;
                let fpos = stack.len() - argc - 1;
                let BV::Obj(f) = stack[fpos].clone() else { return Err("cannot call a non-function".into()) };
                match f.obj() {
                    BObj::Closure { proto, .. } => {
                        let p = &program.protos[*proto as usize];
                        if p.arity as usize != argc {
                            return Err(format!("{}: expected {} arguments, got {argc}", p.name, p.arity));
                        }
                        if frames.len() >= 100_000 {
                            return Err("stack overflow".into());
                        }
                        frames.last_mut().expect("a frame").ip = fr.ip;
                        let base = fpos + 1;
                        stack.resize(base + p.nslots as usize, BV::Nil);
                        fr = Frame { proto: *proto, base, ip: 0 };
                        frames.push(fr);
                        code = &p.code;
                        closure = f.clone();
                    }
                    BObj::Native(id) => {
                        let v = native(*id, &stack[fpos + 1..], &mut out)?;
                        stack.truncate(fpos);
                        stack.push(v);
                    }
                    _ => return Err("cannot call a non-function".into()),
                }
            }
            Op::Return => {
                let v = pop!();
                stack.truncate(fr.base - 1);
                stack.push(v);
                frames.pop();
                let Some(&caller) = frames.last() else { return Ok(out) };
                fr = caller;
                code = &program.protos[fr.proto as usize].code;
                closure = match &stack[fr.base - 1] {
                    BV::Obj(p) => p.clone(),
                    _ => unreachable!("a frame's closure"),
                };
            }
            Op::Closure(pi) => {
                let p = &program.protos[pi as usize];
                let upvals: Box<[P::Field]> = p
                    .captures
                    .iter()
                    .map(|c| {
                        P::field(match *c {
                            Capture::Local(s) => stack[fr.base + s as usize].clone(),
                            Capture::Upval(u) => P::get(&upvals!()[u as usize]),
                        })
                    })
                    .collect();
                stack.push(BV::Obj(P::new(BObj::Closure { proto: pi, upvals })));
            }
            Op::Not => {
                let v = pop!();
                stack.push(BV::Bool(!truthy(&v)));
            }
            op => {
                let b = pop!();
                let a = pop!();
                stack.push(binary(op, a, b)?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAMS: &[(&str, &str)] = &[
        ("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (print (fib 15))", "610\n"),
        ("(define (counter) (let ((n 0)) (lambda () (set! n (+ n 1)) n))) (define c (counter)) (c) (print (c))", "2\n"),
        (
            "(define (make d) (if (= d 0) (cons nil nil) (cons (make (- d 1)) (make (- d 1)))))
             (define (check t) (if (null? (car t)) 1 (+ 1 (+ (check (car t)) (check (cdr t))))))
             (print (check (make 6)) (+ 1 2.5) (/ 7 2))",
            "127 3.5 3.5\n",
        ),
    ];

    #[test]
    fn baselines_agree_with_the_vm() {
        for (src, expected) in PROGRAMS {
            let program = crate::compile(src).unwrap();
            assert_eq!(crate::run(src).unwrap(), *expected);
            assert_eq!(run::<Leak>(&program).unwrap(), *expected, "leak: {src}");
            assert_eq!(run::<Counted>(&program).unwrap(), *expected, "rc: {src}");
        }
    }
}
