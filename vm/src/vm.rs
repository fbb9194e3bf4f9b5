//! The interpreter: heap objects, the value stack, the dispatch loop.
//!
//! How it uses Shade, and why (the pattern we advise for a VM):
//!
//! * Every language value is a `shade::Value` (8 bytes: numbers and small
//!   integers need no allocation); object fields are `ValueSlot`s.
//! * Objects are plain Rust types with `#[derive(Trace)]`; no common enum
//!   and no header. A value's type is asked of the heap (`downcast`), and
//!   the objects' shared behaviour is a trait called through erased
//!   pointers (`#[shade(dyn(Object))]`, `to_dyn::<dyn Object>`).
//! * The value stack is a `RootStack`: pushes and pops are vector
//!   operations, never barriered, and it is the VM's root together with the
//!   globals (a second `RootStack`) and the string constants (a third).
//! * The dispatch loop holds `Gc`-derived state (the current closure's
//!   upvalues, code borrowed for the mutator borrow) and tests
//!   `safepoint_requested()` — one load — at every call and backward
//!   jump. Only when a collection asks does it save its instruction
//!   pointer, leave the inner loop (ending every borrow), call `safepoint`,
//!   and re-derive its state from the frames.
//! * Strings are `Str` objects interned in a `WeakSet`, so equal
//!   strings are one object (identity is equality) and strings made at run
//!   time vanish from the table when they die.

use crate::compiler::{Capture, Op, Program};
use shade::{Config, Gc, Heap, Mutator, Root, RootStack, Str, Tail, Trace, Value, ValueKind, ValueSlot, WeakSet};
use std::fmt::Write as _;

/// The behaviour every heap object of the language shares, called through
/// erased pointers (`Value::to_dyn::<dyn Object>`).
pub trait Object {
    /// The language-level type name.
    fn kind(&self) -> &'static str;
    /// Appends the printed form.
    fn write(&self, mu: &Mutator, out: &mut String, depth: usize);
}

/// A closure's header: its prototype.
#[derive(Trace)]
#[shade(dyn(Object))]
pub struct FnHead {
    pub proto: u32,
}

/// A function value: the prototype and the values it captured, inline in
/// one object.
pub type Closure = Tail<FnHead, ValueSlot>;

/// A box: a variable that closures capture and someone assigns.
#[derive(Trace)]
#[shade(dyn(Object))]
pub struct Cell {
    pub v: ValueSlot,
}

/// A pair (`cons`).
#[derive(Trace)]
#[shade(dyn(Object))]
pub struct Pair {
    pub car: ValueSlot,
    pub cdr: ValueSlot,
}

/// A native function: an index into `NATIVES`.
#[derive(Trace)]
#[shade(dyn(Object))]
pub struct Native {
    pub id: u32,
}

impl Object for FnHead {
    fn kind(&self) -> &'static str {
        "function"
    }
    fn write(&self, _: &Mutator, out: &mut String, _: usize) {
        out.push_str("<function>");
    }
}
impl Object for Cell {
    fn kind(&self) -> &'static str {
        "box"
    }
    fn write(&self, mu: &Mutator, out: &mut String, depth: usize) {
        out.push_str("<box ");
        write_value(mu, self.v.get(mu), out, depth + 1);
        out.push('>');
    }
}
impl Object for Pair {
    fn kind(&self) -> &'static str {
        "pair"
    }
    fn write(&self, mu: &Mutator, out: &mut String, depth: usize) {
        if depth > 64 {
            out.push_str("(...)");
            return;
        }
        out.push('(');
        write_value(mu, self.car.get(mu), out, depth + 1);
        let mut rest = self.cdr.get(mu);
        let mut n = 0;
        loop {
            if rest.is_nil() {
                break;
            }
            if let Some(p) = rest.downcast::<Pair>(mu) {
                n += 1;
                if n > 1000 {
                    out.push_str(" ...");
                    break;
                }
                out.push(' ');
                write_value(mu, p.car.get(mu), out, depth + 1);
                rest = p.cdr.get(mu);
            } else {
                out.push_str(" . ");
                write_value(mu, rest, out, depth + 1);
                break;
            }
        }
        out.push(')');
    }
}
impl Object for Native {
    fn kind(&self) -> &'static str {
        "function"
    }
    fn write(&self, _: &Mutator, out: &mut String, _: usize) {
        let _ = write!(out, "<native {}>", NATIVES[self.id as usize].0);
    }
}

/// Appends `v`'s printed form.
pub fn write_value(mu: &Mutator, v: Value<'_>, out: &mut String, depth: usize) {
    match v.kind() {
        ValueKind::Nil => out.push_str("nil"),
        ValueKind::Bool => out.push_str(if v.as_bool() == Some(true) { "true" } else { "false" }),
        ValueKind::Int => {
            let _ = write!(out, "{}", v.as_int().expect("int"));
        }
        ValueKind::Number => {
            let _ = write!(out, "{}", v.as_number().expect("number"));
        }
        ValueKind::Object => {
            if let Some(s) = v.downcast::<Str>(mu) {
                out.push_str(s.as_str());
            } else if let Some(o) = v.to_dyn::<dyn Object>(mu) {
                // Closures too: a `Tail`'s traits are its header's.
                o.write(mu, out, depth);
            } else {
                out.push_str("<object>");
            }
        }
    }
}

fn type_name(mu: &Mutator, v: Value<'_>) -> &'static str {
    match v.kind() {
        ValueKind::Nil => "nil",
        ValueKind::Bool => "boolean",
        ValueKind::Int | ValueKind::Number => "number",
        ValueKind::Object => {
            if v.is::<Str>(mu) {
                "string"
            } else {
                v.to_dyn::<dyn Object>(mu).map_or("object", |o| o.kind())
            }
        }
    }
}

/// What a native function sees.
pub struct NativeCx<'a, 'm> {
    pub mu: &'m Mutator,
    pub args: &'a [Value<'m>],
    pub out: &'a mut String,
    pub strings: Gc<'m, WeakSet<Str>>,
}

type NativeFn = for<'a, 'm> fn(&mut NativeCx<'a, 'm>) -> Result<Value<'m>, String>;

impl<'m> NativeCx<'_, 'm> {
    fn arity(&self, name: &str, n: usize) -> Result<(), String> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(format!("{name}: expected {n} arguments, got {}", self.args.len()))
        }
    }

    fn pair(&self, name: &str, v: Value<'m>) -> Result<Gc<'m, Pair>, String> {
        v.downcast::<Pair>(self.mu).ok_or_else(|| format!("{name}: expected a pair, got {}", type_name(self.mu, v)))
    }

    fn intern(&self, s: &str) -> Value<'m> {
        Value::object(self.strings.intern(self.mu, s, |mu| mu.alloc_string(s)))
    }

    fn alloc<T: Trace + Send + Sync + 'static>(&self, v: T) -> Result<Gc<'m, T>, String> {
        self.mu.try_alloc(v).map_err(|e| e.to_string())
    }
}

/// The natives, bound to globals of these names, in this order.
pub const NATIVES: &[(&str, NativeFn)] = &[
    ("print", |cx| {
        for (i, &a) in cx.args.iter().enumerate() {
            if i > 0 {
                cx.out.push(' ');
            }
            write_value(cx.mu, a, cx.out, 0);
        }
        cx.out.push('\n');
        Ok(Value::NIL)
    }),
    ("str", |cx| {
        let mut s = String::new();
        for &a in cx.args {
            write_value(cx.mu, a, &mut s, 0);
        }
        Ok(cx.intern(&s))
    }),
    ("cons", |cx| {
        cx.arity("cons", 2)?;
        let p = cx.alloc(Pair { car: ValueSlot::new(cx.args[0]), cdr: ValueSlot::new(cx.args[1]) })?;
        Ok(Value::object(p))
    }),
    ("car", |cx| {
        cx.arity("car", 1)?;
        Ok(cx.pair("car", cx.args[0])?.car.get(cx.mu))
    }),
    ("cdr", |cx| {
        cx.arity("cdr", 1)?;
        Ok(cx.pair("cdr", cx.args[0])?.cdr.get(cx.mu))
    }),
    ("set-car!", |cx| {
        cx.arity("set-car!", 2)?;
        cx.pair("set-car!", cx.args[0])?.car.set(cx.mu, cx.args[1]);
        Ok(Value::NIL)
    }),
    ("set-cdr!", |cx| {
        cx.arity("set-cdr!", 2)?;
        cx.pair("set-cdr!", cx.args[0])?.cdr.set(cx.mu, cx.args[1]);
        Ok(Value::NIL)
    }),
    ("pair?", |cx| {
        cx.arity("pair?", 1)?;
        Ok(Value::bool(cx.args[0].is::<Pair>(cx.mu)))
    }),
    ("null?", |cx| {
        cx.arity("null?", 1)?;
        Ok(Value::bool(cx.args[0].is_nil()))
    }),
    ("type", |cx| {
        cx.arity("type", 1)?;
        Ok(cx.intern(type_name(cx.mu, cx.args[0])))
    }),
    ("len", |cx| {
        cx.arity("len", 1)?;
        match cx.args[0].downcast::<Str>(cx.mu) {
            Some(s) => Ok(Value::try_int(s.as_str().chars().count() as i64).unwrap_or(Value::NIL)),
            None => Err(format!("len: expected a string, got {}", type_name(cx.mu, cx.args[0]))),
        }
    }),
    ("eq?", |cx| {
        cx.arity("eq?", 2)?;
        Ok(Value::bool(cx.args[0] == cx.args[1]))
    }),
    ("sqrt", |cx| {
        cx.arity("sqrt", 1)?;
        let x = cx.args[0].as_f64().ok_or("sqrt: expected a number")?;
        Ok(Value::number(x.sqrt()))
    }),
];

/// A runtime error.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeError {
    pub msg: String,
    /// Function names, innermost first.
    pub trace: Vec<String>,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.msg)?;
        for t in &self.trace {
            write!(f, "\n  in {t}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    proto: u32,
    /// Stack index of the first argument; the closure is just below.
    base: usize,
    ip: usize,
}

/// Frames beyond this are a stack overflow (an error, not a crash).
const MAX_FRAMES: usize = 100_000;

/// The virtual machine: one heap, one mutator, one program at a time.
pub struct Vm {
    // Field order is drop order: the roots before the mutator.
    stack: RootStack,
    globals: RootStack,
    defined: Vec<bool>,
    consts: RootStack,
    strings: Root<WeakSet<Str>>,
    program: Program,
    frames: Vec<Frame>,
    /// What `print` wrote.
    pub out: String,
    /// Poll for safepoints at calls and backward jumps (default). Off, no
    /// collection can complete while the program runs: for measuring the
    /// cost of polling only.
    pub poll: bool,
    mu: Mutator,
    heap: Heap,
}

/// Truthiness: everything but nil and false.
#[inline(always)]
fn truthy(v: Value<'_>) -> bool {
    !(v.is_nil() || v == Value::FALSE)
}

#[inline(always)]
fn int_or_number<'m>(i: Option<i64>, x: f64) -> Value<'m> {
    i.and_then(Value::try_int).unwrap_or_else(|| Value::number(x))
}

/// Arithmetic and comparisons: integers stay integers while they fit in 48
/// bits; anything else numeric is an `f64`.
#[inline(always)]
fn binary<'m>(mu: &Mutator, op: Op, a: Value<'m>, b: Value<'m>) -> Result<Value<'m>, String> {
    if let (Some(x), Some(y)) = (a.as_int(), b.as_int()) {
        return Ok(match op {
            Op::Add => int_or_number(x.checked_add(y), x as f64 + y as f64),
            Op::Sub => int_or_number(x.checked_sub(y), x as f64 - y as f64),
            Op::Mul => int_or_number(x.checked_mul(y), x as f64 * y as f64),
            Op::Div if y != 0 && x % y == 0 => int_or_number(Some(x / y), 0.0),
            Op::Div => Value::number(x as f64 / y as f64),
            Op::Rem if y == 0 => return Err("%: division by zero".into()),
            Op::Rem => Value::try_int(x % y).unwrap_or(Value::NIL),
            Op::Lt => Value::bool(x < y),
            Op::Le => Value::bool(x <= y),
            Op::Gt => Value::bool(x > y),
            Op::Ge => Value::bool(x >= y),
            Op::Eq => Value::bool(x == y),
            _ => unreachable!(),
        });
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return Ok(match op {
            Op::Add => Value::number(x + y),
            Op::Sub => Value::number(x - y),
            Op::Mul => Value::number(x * y),
            Op::Div => Value::number(x / y),
            Op::Rem => Value::number(x % y),
            Op::Lt => Value::bool(x < y),
            Op::Le => Value::bool(x <= y),
            Op::Gt => Value::bool(x > y),
            Op::Ge => Value::bool(x >= y),
            Op::Eq => Value::bool(x == y),
            _ => unreachable!(),
        });
    }
    if op == Op::Eq {
        return Ok(Value::bool(a == b));
    }
    Err(format!("cannot apply {op:?} to {} and {}", type_name(mu, a), type_name(mu, b)))
}

impl Vm {
    /// A VM on a new heap.
    pub fn new(config: Config) -> Result<Vm, shade::HeapError> {
        Ok(Vm::on(Heap::new(config)?))
    }

    /// A VM on `heap` (attaches a mutator on this thread).
    pub fn on(heap: Heap) -> Vm {
        let mu = heap.mutator();
        let strings = mu.root(WeakSet::<Str>::alloc(&mu));
        Vm {
            stack: RootStack::with_capacity(&mu, 1024),
            globals: RootStack::new(&mu),
            defined: Vec::new(),
            consts: RootStack::new(&mu),
            strings,
            program: Program::default(),
            frames: Vec::new(),
            out: String::new(),
            poll: true,
            mu,
            heap,
        }
    }

    /// The heap.
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// The native names, for the compiler.
    pub fn native_names() -> Vec<&'static str> {
        NATIVES.iter().map(|n| n.0).collect()
    }

    /// Loads a compiled program: binds its globals, natives and constants.
    pub fn load(&mut self, program: Program) {
        let mu = &self.mu;
        self.stack.clear(mu);
        self.frames.clear();
        self.globals.clear(mu);
        self.globals.resize(mu, program.globals.len(), Value::NIL);
        self.defined = vec![false; program.globals.len()];
        for (i, _) in NATIVES.iter().enumerate() {
            let n = mu.alloc(Native { id: i as u32 });
            self.globals.set(mu, i, Value::object(n));
            self.defined[i] = true;
        }
        let strings = self.strings.get(mu);
        self.consts.clear(mu);
        for s in &program.strings {
            let v = strings.intern(mu, s.as_str(), |mu| mu.alloc_string(s));
            self.consts.push(mu, Value::object(v));
        }
        self.program = program;
    }

    /// Runs the loaded program's top level; its value is printed to a
    /// string (the program's output is in `out`).
    pub fn run_main(&mut self) -> Result<String, RuntimeError> {
        let r = self.execute();
        let mu = &self.mu;
        let result = match r {
            Ok(()) => {
                let mut s = String::new();
                write_value(mu, self.stack.last(mu).unwrap_or(Value::NIL), &mut s, 0);
                Ok(s)
            }
            Err(msg) => {
                let trace =
                    self.frames.iter().rev().map(|f| self.program.protos[f.proto as usize].name.clone()).collect();
                Err(RuntimeError { msg, trace })
            }
        };
        self.stack.clear(mu);
        self.frames.clear();
        result
    }

    /// A safepoint between runs (the dispatch loop polls by itself).
    pub fn safepoint(&mut self) {
        self.mu.safepoint();
    }

    /// The dispatch loop.
    fn execute(&mut self) -> Result<(), String> {
        let Vm { mu, stack, globals, defined, consts, strings, program, frames, out, poll, .. } = self;
        let poll = *poll;
        {
            let m: &Mutator = mu;
            let main = program.main;
            let c = m.try_alloc_tail(FnHead { proto: main }, 0, |_| ValueSlot::nil()).map_err(|e| e.to_string())?;
            stack.push(m, Value::object(c));
            let base = stack.len();
            stack.resize(m, base + program.protos[main as usize].nslots as usize, Value::NIL);
            frames.push(Frame { proto: main, base, ip: 0 });
        }
        'outer: loop {
            // Reached first, and then only when a collection asked for
            // this mutator: every borrow of it has ended here.
            mu.safepoint();
            let m: &Mutator = mu;
            let poll_flag = m.poll();
            let strings = strings.get(m);
            let mut fr = *frames.last().expect("a frame");
            let mut code: &[Op] = &program.protos[fr.proto as usize].code;
            let closure_of = |stack: &RootStack, base: usize| -> Gc<'_, Closure> {
                stack.get(m, base - 1).downcast::<Closure>(m).expect("a frame's closure")
            };
            let mut closure = closure_of(stack, fr.base);
            macro_rules! save_ip {
                () => {
                    frames.last_mut().expect("a frame").ip = fr.ip
                };
            }
            macro_rules! pop {
                () => {
                    stack.pop(m).expect("operand")
                };
            }
            macro_rules! alloc {
                ($v:expr) => {
                    match m.try_alloc($v) {
                        Ok(g) => g,
                        Err(e) => {
                            save_ip!();
                            return Err(e.to_string());
                        }
                    }
                };
            }
            loop {
                let op = code[fr.ip];
                fr.ip += 1;
                match op {
                    Op::Nil => stack.push(m, Value::NIL),
                    Op::True => stack.push(m, Value::TRUE),
                    Op::False => stack.push(m, Value::FALSE),
                    Op::Int(i) => stack.push(m, Value::int(i)),
                    Op::Num(n) => stack.push(m, Value::number(program.numbers[n as usize])),
                    Op::Str(s) => stack.push(m, consts.get(m, s as usize)),
                    Op::Pop => {
                        pop!();
                    }
                    Op::GetLocal(s) => stack.push(m, stack.get(m, fr.base + s as usize)),
                    Op::SetLocal(s) => {
                        let v = pop!();
                        stack.set(m, fr.base + s as usize, v);
                    }
                    Op::GetBoxed(s) => {
                        let b = stack.get(m, fr.base + s as usize).downcast::<Cell>(m).expect("a box");
                        stack.push(m, b.v.get(m));
                    }
                    Op::SetBoxed(s) => {
                        let v = pop!();
                        stack.get(m, fr.base + s as usize).downcast::<Cell>(m).expect("a box").v.set(m, v);
                    }
                    Op::MakeBox => {
                        let v = pop!();
                        let b = alloc!(Cell { v: ValueSlot::new(v) });
                        stack.push(m, Value::object(b));
                    }
                    Op::BoxLocal(s) => {
                        let i = fr.base + s as usize;
                        let b = alloc!(Cell { v: ValueSlot::new(stack.get(m, i)) });
                        stack.set(m, i, Value::object(b));
                    }
                    Op::GetUpval(u) => {
                        let v = closure.tail()[u as usize].get(m);
                        stack.push(m, v);
                    }
                    Op::GetUpvalBoxed(u) => {
                        let b = closure.tail()[u as usize].get(m).downcast::<Cell>(m).expect("a box");
                        stack.push(m, b.v.get(m));
                    }
                    Op::SetUpvalBoxed(u) => {
                        let v = pop!();
                        let b = closure.tail()[u as usize].get(m).downcast::<Cell>(m).expect("a box");
                        b.v.set(m, v);
                    }
                    Op::GetGlobal(g) => {
                        if !defined[g as usize] {
                            save_ip!();
                            return Err(format!("undefined variable: {}", program.globals[g as usize]));
                        }
                        stack.push(m, globals.get(m, g as usize));
                    }
                    Op::SetGlobal(g) => {
                        if !defined[g as usize] {
                            save_ip!();
                            return Err(format!("set! of undefined variable: {}", program.globals[g as usize]));
                        }
                        let v = pop!();
                        globals.set(m, g as usize, v);
                    }
                    Op::DefGlobal(g) => {
                        let v = pop!();
                        globals.set(m, g as usize, v);
                        defined[g as usize] = true;
                    }
                    Op::Jump(t) => fr.ip = t as usize,
                    Op::JumpIfFalse(t) => {
                        if !truthy(pop!()) {
                            fr.ip = t as usize;
                        }
                    }
                    Op::AndJump(t) => {
                        if !truthy(stack.last(m).expect("operand")) {
                            fr.ip = t as usize;
                        } else {
                            pop!();
                        }
                    }
                    Op::OrJump(t) => {
                        if truthy(stack.last(m).expect("operand")) {
                            fr.ip = t as usize;
                        } else {
                            pop!();
                        }
                    }
                    Op::Loop(t) => {
                        fr.ip = t as usize;
                        if poll && poll_flag.requested() {
                            save_ip!();
                            continue 'outer;
                        }
                    }
                    Op::Call(argc) => {
                        let argc = argc as usize;
                        let fpos = stack.len() - argc - 1;
                        let f = stack.get(m, fpos);
                        // One type lookup for both tests.
                        let Some(t) = f.as_object().map(|o| o.typed(m)) else {
                            save_ip!();
                            return Err(format!("cannot call a {}", type_name(m, f)));
                        };
                        if let Some(c) = t.downcast::<Closure>() {
                            let p = &program.protos[c.proto as usize];
                            if p.arity as usize != argc {
                                save_ip!();
                                return Err(format!("{}: expected {} arguments, got {argc}", p.name, p.arity));
                            }
                            if frames.len() >= MAX_FRAMES {
                                save_ip!();
                                return Err("stack overflow".into());
                            }
                            save_ip!();
                            let base = fpos + 1;
                            stack.resize(m, base + p.nslots as usize, Value::NIL);
                            fr = Frame { proto: c.proto, base, ip: 0 };
                            frames.push(fr);
                            code = &p.code;
                            closure = c;
                            if poll && poll_flag.requested() {
                                continue 'outer;
                            }
                        } else if let Some(n) = t.downcast::<Native>() {
                            let mut buf = [Value::NIL; 16];
                            if argc > buf.len() {
                                save_ip!();
                                return Err("natives take at most 16 arguments".into());
                            }
                            for (i, b) in buf[..argc].iter_mut().enumerate() {
                                *b = stack.get(m, fpos + 1 + i);
                            }
                            let mut cx = NativeCx { mu: m, args: &buf[..argc], out, strings };
                            match (NATIVES[n.id as usize].1)(&mut cx) {
                                Ok(v) => {
                                    stack.truncate(m, fpos);
                                    stack.push(m, v);
                                }
                                Err(e) => {
                                    save_ip!();
                                    return Err(e);
                                }
                            }
                        } else {
                            save_ip!();
                            return Err(format!("cannot call a {}", type_name(m, f)));
                        }
                    }
                    Op::Return => {
                        let v = pop!();
                        stack.truncate(m, fr.base - 1);
                        stack.push(m, v);
                        frames.pop();
                        let Some(&caller) = frames.last() else { return Ok(()) };
                        fr = caller;
                        code = &program.protos[fr.proto as usize].code;
                        closure = closure_of(stack, fr.base);
                    }
                    Op::Closure(pi) => {
                        let p = &program.protos[pi as usize];
                        let c = match m.try_alloc_tail(FnHead { proto: pi }, p.captures.len(), |i| {
                            ValueSlot::new(match p.captures[i] {
                                Capture::Local(s) => stack.get(m, fr.base + s as usize),
                                Capture::Upval(u) => closure.tail()[u as usize].get(m),
                            })
                        }) {
                            Ok(c) => c,
                            Err(e) => {
                                save_ip!();
                                return Err(e.to_string());
                            }
                        };
                        stack.push(m, Value::object(c));
                    }
                    Op::Not => {
                        let v = pop!();
                        stack.push(m, Value::bool(!truthy(v)));
                    }
                    op => {
                        let b = pop!();
                        let a = pop!();
                        match binary(m, op, a, b) {
                            Ok(v) => stack.push(m, v),
                            Err(e) => {
                                save_ip!();
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
    }
}
