//! The compiler: s-expressions to bytecode (`Proto`s of `Op`s).
//!
//! Variables resolve at compile time: to a frame slot (parameters and
//! `let`/inner `define` bindings), to an upvalue of the running closure (a
//! variable of an enclosing function, captured when the closure is made),
//! or to a global (top-level `define`, and the natives). Closures are *flat*:
//! a closure copies the values it captures. A captured variable that is also
//! assigned somewhere would then go stale, so such a variable lives in a
//! box (a heap object with one `ValueSlot`) that the frame and every closure
//! share. Which variables need a box is only known once the whole function
//! has been seen, so a function is compiled again with the boxes decided
//! when its first attempt finds such a variable (compilation is cheap and
//! this happens once per function at most per nesting level).
//!
//! Code is kept in Rust memory, outside the GC heap: it lives as long as the
//! program, and this keeps the dispatch loop's code reads free of any
//! collector involvement. String constants are heap strings the VM roots.

use crate::reader::Sexp;
use std::collections::{HashMap, HashSet};

/// One instruction. Operands are inline (the enum is 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Nil,
    True,
    False,
    Int(i32),
    /// A number constant (index into `Program::numbers`).
    Num(u32),
    /// A string constant (index into `Program::strings`).
    Str(u32),
    Pop,
    GetLocal(u16),
    SetLocal(u16),
    /// The local holds a box: read / write its contents.
    GetBoxed(u16),
    SetBoxed(u16),
    /// Pops a value, pushes a new box holding it.
    MakeBox,
    /// Replaces the local's value with a box holding it (boxed parameters).
    BoxLocal(u16),
    GetUpval(u16),
    GetUpvalBoxed(u16),
    SetUpvalBoxed(u16),
    GetGlobal(u32),
    SetGlobal(u32),
    DefGlobal(u32),
    Jump(u32),
    /// Pops; jumps if falsy.
    JumpIfFalse(u32),
    /// `and`: if the top is falsy jump (keeping it), else pop it.
    AndJump(u32),
    /// `or`: if the top is truthy jump (keeping it), else pop it.
    OrJump(u32),
    /// A backward jump: also a safepoint poll.
    Loop(u32),
    Call(u8),
    Return,
    /// Makes a closure of the prototype, capturing its upvalues.
    Closure(u32),
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Lt,
    Le,
    Gt,
    Ge,
    /// Numeric equality for numbers, identity otherwise.
    Eq,
    Not,
}

/// Where a closure's upvalue comes from when the closure is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Capture {
    /// A slot of the frame making the closure.
    Local(u16),
    /// An upvalue of the closure making the closure.
    Upval(u16),
}

/// A compiled function.
#[derive(Debug, Clone)]
pub struct Proto {
    pub name: String,
    pub arity: u16,
    /// Frame slots (parameters first).
    pub nslots: u16,
    pub code: Vec<Op>,
    pub captures: Vec<Capture>,
}

/// A compiled program: its functions (the last is the top level), its
/// constants, and the globals it names.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub protos: Vec<Proto>,
    pub numbers: Vec<f64>,
    pub strings: Vec<String>,
    pub globals: Vec<String>,
    pub main: u32,
}

/// A compile error.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError(pub String);

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type R<T> = Result<T, CompileError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(CompileError(msg.into()))
}

struct Binding {
    name: String,
    slot: u16,
    id: usize,
    boxed: bool,
}

struct Upval {
    capture: Capture,
}

#[derive(Default)]
struct FnState {
    locals: Vec<Binding>,
    scope_marks: Vec<usize>,
    next_slot: u16,
    max_slot: u16,
    upvals: Vec<Upval>,
    code: Vec<Op>,
    decls: usize,
    /// Bindings to box (decided by a previous attempt).
    boxed: HashSet<usize>,
    captured: HashSet<usize>,
    assigned: HashSet<usize>,
}

enum Var {
    Local { slot: u16, boxed: bool, id: usize },
    Upval { idx: u16, boxed: bool, origin: (usize, usize) },
    Global(u32),
}

/// Names that compile to an instruction when not shadowed.
fn builtin_op(name: &str) -> Option<Op> {
    Some(match name {
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "%" => Op::Rem,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "=" => Op::Eq,
        _ => return None,
    })
}

/// Compiles a program; `natives` are pre-defined globals (in order, so the
/// VM can bind them by index).
pub fn compile(forms: &[Sexp], natives: &[&str]) -> R<Program> {
    let mut c =
        Compiler { fns: Vec::new(), program: Program::default(), globals: HashMap::new(), strings: HashMap::new() };
    for n in natives {
        c.global(n);
    }
    let st = c.function(&[], forms)?;
    c.program.protos.push(Proto {
        name: "<main>".into(),
        arity: 0,
        nslots: st.max_slot,
        code: st.code,
        captures: Vec::new(),
    });
    c.program.main = (c.program.protos.len() - 1) as u32;
    Ok(c.program)
}

struct Compiler {
    fns: Vec<FnState>,
    program: Program,
    globals: HashMap<String, u32>,
    strings: HashMap<String, u32>,
}

impl Compiler {
    fn st(&mut self) -> &mut FnState {
        self.fns.last_mut().expect("a function")
    }

    fn emit(&mut self, op: Op) -> usize {
        let code = &mut self.st().code;
        code.push(op);
        code.len() - 1
    }

    fn here(&mut self) -> u32 {
        self.st().code.len() as u32
    }

    fn patch(&mut self, at: usize, target: u32) {
        let code = &mut self.st().code;
        code[at] = match code[at] {
            Op::Jump(_) => Op::Jump(target),
            Op::JumpIfFalse(_) => Op::JumpIfFalse(target),
            Op::AndJump(_) => Op::AndJump(target),
            Op::OrJump(_) => Op::OrJump(target),
            other => unreachable!("patching {other:?}"),
        };
    }

    fn global(&mut self, name: &str) -> u32 {
        if let Some(&g) = self.globals.get(name) {
            return g;
        }
        let g = self.program.globals.len() as u32;
        self.program.globals.push(name.to_string());
        self.globals.insert(name.to_string(), g);
        g
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.program.strings.len() as u32;
        self.program.strings.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    // ----- scopes and variables ---------------------------------------

    fn begin_scope(&mut self) {
        let st = self.st();
        st.scope_marks.push(st.locals.len());
    }

    fn end_scope(&mut self) {
        let st = self.st();
        let mark = st.scope_marks.pop().expect("scope");
        st.locals.truncate(mark);
        st.next_slot = st.locals.last().map_or(0, |b| b.slot + 1);
    }

    /// Declares a local in the current scope; returns its slot and whether it
    /// is boxed.
    fn declare(&mut self, name: &str) -> R<(u16, bool)> {
        let st = self.st();
        if st.next_slot == u16::MAX {
            return err("too many local variables");
        }
        let (slot, id) = (st.next_slot, st.decls);
        st.decls += 1;
        st.next_slot += 1;
        st.max_slot = st.max_slot.max(st.next_slot);
        let boxed = st.boxed.contains(&id);
        st.locals.push(Binding { name: name.to_string(), slot, id, boxed });
        Ok((slot, boxed))
    }

    fn resolve(&mut self, name: &str) -> Var {
        let level = self.fns.len() - 1;
        match self.resolve_at(name, level) {
            Some(v) => v,
            None => Var::Global(self.global(name)),
        }
    }

    fn resolve_at(&mut self, name: &str, level: usize) -> Option<Var> {
        if let Some(b) = self.fns[level].locals.iter().rev().find(|b| b.name == name) {
            return Some(Var::Local { slot: b.slot, boxed: b.boxed, id: b.id });
        }
        if level == 0 {
            return None;
        }
        let (capture, boxed, origin) = match self.resolve_at(name, level - 1)? {
            Var::Local { slot, boxed, id } => {
                self.fns[level - 1].captured.insert(id);
                (Capture::Local(slot), boxed, (level - 1, id))
            }
            Var::Upval { idx, boxed, origin } => (Capture::Upval(idx), boxed, origin),
            Var::Global(g) => return Some(Var::Global(g)),
        };
        let st = &mut self.fns[level];
        let idx = match st.upvals.iter().position(|u| u.capture == capture) {
            Some(i) => i,
            None => {
                st.upvals.push(Upval { capture });
                st.upvals.len() - 1
            }
        };
        Some(Var::Upval { idx: idx as u16, boxed, origin })
    }

    /// Whether `name` is a local or upvalue here (shadowing a builtin).
    fn is_lexical(&self, name: &str) -> bool {
        self.fns.iter().any(|f| f.locals.iter().any(|b| b.name == name))
    }

    // ----- expressions -------------------------------------------------

    fn expr(&mut self, e: &Sexp) -> R<()> {
        match e {
            Sexp::Int(i) => {
                if let Ok(i) = i32::try_from(*i) {
                    self.emit(Op::Int(i));
                } else {
                    let n = self.program.numbers.len() as u32;
                    // Integers beyond i32 become numbers in the constant
                    // pool with an exact value (48-bit integers fit an f64).
                    self.program.numbers.push(*i as f64);
                    self.emit(Op::Num(n));
                }
            }
            Sexp::Num(x) => {
                let n = self.program.numbers.len() as u32;
                self.program.numbers.push(*x);
                self.emit(Op::Num(n));
            }
            Sexp::Str(s) => {
                let i = self.string(s);
                self.emit(Op::Str(i));
            }
            Sexp::Sym(s) => match s.as_str() {
                "nil" => {
                    self.emit(Op::Nil);
                }
                "true" => {
                    self.emit(Op::True);
                }
                "false" => {
                    self.emit(Op::False);
                }
                name => self.get_var(name),
            },
            Sexp::List(items) => self.list(items)?,
        }
        Ok(())
    }

    fn get_var(&mut self, name: &str) {
        let op = match self.resolve(name) {
            Var::Local { slot, boxed: false, .. } => Op::GetLocal(slot),
            Var::Local { slot, boxed: true, .. } => Op::GetBoxed(slot),
            Var::Upval { idx, boxed: false, .. } => Op::GetUpval(idx),
            Var::Upval { idx, boxed: true, .. } => Op::GetUpvalBoxed(idx),
            Var::Global(g) => Op::GetGlobal(g),
        };
        self.emit(op);
    }

    /// Pops the value on the stack into variable `name`.
    fn set_var(&mut self, name: &str) -> R<()> {
        let op = match self.resolve(name) {
            Var::Local { slot, boxed, id } => {
                self.st().assigned.insert(id);
                if boxed {
                    Op::SetBoxed(slot)
                } else {
                    Op::SetLocal(slot)
                }
            }
            Var::Upval { idx, boxed, origin } => {
                self.fns[origin.0].assigned.insert(origin.1);
                if boxed {
                    Op::SetUpvalBoxed(idx)
                } else {
                    // The first attempt: the variable is now known to need
                    // a box, and the function will be compiled again.
                    Op::Nil
                }
            }
            Var::Global(g) => Op::SetGlobal(g),
        };
        if op == Op::Nil {
            self.emit(Op::Pop);
        } else {
            self.emit(op);
        }
        Ok(())
    }

    fn body(&mut self, forms: &[Sexp]) -> R<()> {
        if forms.is_empty() {
            self.emit(Op::Nil);
        }
        for (i, f) in forms.iter().enumerate() {
            self.expr(f)?;
            if i + 1 < forms.len() {
                self.emit(Op::Pop);
            }
        }
        Ok(())
    }

    fn list(&mut self, items: &[Sexp]) -> R<()> {
        let Some(head) = items.first() else {
            self.emit(Op::Nil);
            return Ok(());
        };
        let args = &items[1..];
        if let Sexp::Sym(s) = head {
            if !self.is_lexical(s) {
                match s.as_str() {
                    "if" => return self.if_form(args),
                    "define" => return self.define(args),
                    "set!" => {
                        let [Sexp::Sym(name), value] = args else { return err("(set! name value)") };
                        self.expr(value)?;
                        self.set_var(name)?;
                        self.emit(Op::Nil);
                        return Ok(());
                    }
                    "lambda" => {
                        let [params, body @ ..] = args else { return err("(lambda (params) body...)") };
                        return self.lambda("lambda", params, body);
                    }
                    "let" => return self.let_form(args),
                    "begin" => return self.body(args),
                    "while" => return self.while_form(args),
                    "and" | "or" => return self.and_or(s == "and", args),
                    "not" => {
                        let [x] = args else { return err("(not x)") };
                        self.expr(x)?;
                        self.emit(Op::Not);
                        return Ok(());
                    }
                    name => {
                        if let Some(op) = builtin_op(name) {
                            return self.arith(name, op, args);
                        }
                    }
                }
            }
        }
        self.expr(head)?;
        if args.len() > u8::MAX as usize {
            return err("too many arguments");
        }
        for a in args {
            self.expr(a)?;
        }
        self.emit(Op::Call(args.len() as u8));
        Ok(())
    }

    fn arith(&mut self, name: &str, op: Op, args: &[Sexp]) -> R<()> {
        match (name, args) {
            ("-", [x]) => {
                self.emit(Op::Int(0));
                self.expr(x)?;
                self.emit(Op::Sub);
            }
            (_, [a, b]) => {
                self.expr(a)?;
                self.expr(b)?;
                self.emit(op);
            }
            ("+" | "*", [a, rest @ ..]) if !rest.is_empty() => {
                self.expr(a)?;
                for r in rest {
                    self.expr(r)?;
                    self.emit(op);
                }
            }
            _ => return err(format!("({name} ...) takes two arguments")),
        }
        Ok(())
    }

    fn if_form(&mut self, args: &[Sexp]) -> R<()> {
        let (c, t, e) = match args {
            [c, t] => (c, t, None),
            [c, t, e] => (c, t, Some(e)),
            _ => return err("(if cond then [else])"),
        };
        self.expr(c)?;
        let jf = self.emit(Op::JumpIfFalse(0));
        self.expr(t)?;
        let j = self.emit(Op::Jump(0));
        let here = self.here();
        self.patch(jf, here);
        match e {
            Some(e) => self.expr(e)?,
            None => {
                self.emit(Op::Nil);
            }
        }
        let here = self.here();
        self.patch(j, here);
        Ok(())
    }

    fn while_form(&mut self, args: &[Sexp]) -> R<()> {
        let [cond, body @ ..] = args else { return err("(while cond body...)") };
        let top = self.here();
        self.expr(cond)?;
        let jf = self.emit(Op::JumpIfFalse(0));
        self.body(body)?;
        self.emit(Op::Pop);
        self.emit(Op::Loop(top));
        let here = self.here();
        self.patch(jf, here);
        self.emit(Op::Nil);
        Ok(())
    }

    fn and_or(&mut self, and: bool, args: &[Sexp]) -> R<()> {
        if args.is_empty() {
            self.emit(if and { Op::True } else { Op::False });
            return Ok(());
        }
        let mut jumps = Vec::new();
        for (i, a) in args.iter().enumerate() {
            self.expr(a)?;
            if i + 1 < args.len() {
                jumps.push(self.emit(if and { Op::AndJump(0) } else { Op::OrJump(0) }));
            }
        }
        let here = self.here();
        for j in jumps {
            self.patch(j, here);
        }
        Ok(())
    }

    fn define(&mut self, args: &[Sexp]) -> R<()> {
        let (name, value): (&str, Option<&Sexp>) = match args {
            [Sexp::Sym(name), value] => (name, Some(value)),
            [Sexp::List(sig), _body @ ..] if !sig.is_empty() => match &sig[0] {
                Sexp::Sym(name) => (name, None),
                _ => return err("(define (name params...) body...)"),
            },
            _ => return err("(define name value) or (define (name params...) body...)"),
        };
        let compile_value = |c: &mut Compiler| -> R<()> {
            match value {
                Some(v) => c.expr(v),
                None => {
                    let Sexp::List(sig) = &args[0] else { unreachable!() };
                    c.lambda(name, &Sexp::List(sig[1..].to_vec()), &args[1..])
                }
            }
        };
        if self.fns.len() == 1 && self.st().scope_marks.is_empty() {
            let g = self.global(name);
            compile_value(self)?;
            self.emit(Op::DefGlobal(g));
        } else {
            // A local: declared first, so a function can call itself; the
            // initialisation counts as an assignment, so a captured one
            // (a recursive local function) is boxed and sees its value.
            let (slot, boxed) = self.declare(name)?;
            if boxed {
                self.emit(Op::Nil);
                self.emit(Op::MakeBox);
                self.emit(Op::SetLocal(slot));
            }
            compile_value(self)?;
            self.set_var(name)?;
        }
        self.emit(Op::Nil);
        Ok(())
    }

    fn let_form(&mut self, args: &[Sexp]) -> R<()> {
        let [Sexp::List(bindings), body @ ..] = args else { return err("(let ((name value)...) body...)") };
        let mut names = Vec::new();
        for b in bindings {
            let Sexp::List(pair) = b else { return err("let binding: (name value)") };
            let [Sexp::Sym(name), value] = pair.as_slice() else { return err("let binding: (name value)") };
            self.expr(value)?;
            names.push(name.as_str());
        }
        self.begin_scope();
        let mut slots = Vec::new();
        for name in &names {
            slots.push(self.declare(name)?);
        }
        for &(slot, boxed) in slots.iter().rev() {
            if boxed {
                self.emit(Op::MakeBox);
            }
            self.emit(Op::SetLocal(slot));
        }
        self.body(body)?;
        self.end_scope();
        Ok(())
    }

    /// Compiles a function body (the top level too), again if the first
    /// attempt finds captured variables that are assigned (they get boxes).
    fn function(&mut self, names: &[&str], body: &[Sexp]) -> R<FnState> {
        let protos_before = self.program.protos.len();
        let mut boxed = HashSet::new();
        loop {
            self.fns.push(FnState { boxed: boxed.clone(), ..FnState::default() });
            for p in names {
                let (slot, is_boxed) = self.declare(p)?;
                if is_boxed {
                    self.emit(Op::BoxLocal(slot));
                }
            }
            self.body(body)?;
            self.emit(Op::Return);
            let st = self.fns.pop().expect("function");
            let need: HashSet<usize> = st.captured.intersection(&st.assigned).copied().collect();
            if need.is_subset(&boxed) {
                return Ok(st);
            }
            // Again, with the boxes now known; inner functions compiled by
            // this attempt are dropped with it.
            boxed.extend(need);
            self.program.protos.truncate(protos_before);
        }
    }

    fn lambda(&mut self, name: &str, params: &Sexp, body: &[Sexp]) -> R<()> {
        let Sexp::List(params) = params else { return err("lambda parameters must be a list") };
        let mut names = Vec::new();
        for p in params {
            let Sexp::Sym(p) = p else { return err("lambda parameters must be symbols") };
            names.push(p.as_str());
        }
        if names.len() > u8::MAX as usize {
            return err("too many parameters");
        }
        let st = self.function(&names, body)?;
        let p = self.program.protos.len() as u32;
        self.program.protos.push(Proto {
            name: name.to_string(),
            arity: names.len() as u16,
            nslots: st.max_slot,
            code: st.code,
            captures: st.upvals.iter().map(|u| u.capture).collect(),
        });
        self.emit(Op::Closure(p));
        Ok(())
    }
}
