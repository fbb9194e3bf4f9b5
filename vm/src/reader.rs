//! The reader: source text to s-expressions.

use std::fmt;

/// An s-expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Sexp {
    /// An integer literal (fits in 48 bits, else it is read as a number).
    Int(i64),
    /// A number literal.
    Num(f64),
    /// A string literal.
    Str(String),
    /// A symbol (`true`, `false` and `nil` included).
    Sym(String),
    /// A parenthesised list.
    List(Vec<Sexp>),
}

/// A syntax error, with the line it was found on.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// Reads every top-level form of `src`.
pub fn read_all(src: &str) -> Result<Vec<Sexp>, SyntaxError> {
    let mut r = Reader { chars: src.chars().collect(), pos: 0, line: 1 };
    let mut out = Vec::new();
    loop {
        r.skip_space();
        if r.pos >= r.chars.len() {
            return Ok(out);
        }
        out.push(r.read()?);
    }
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Reader {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError { line: self.line, msg: msg.into() })
    }

    fn skip_space(&mut self) {
        while let Some(&c) = self.chars.get(self.pos) {
            if c == ';' {
                while self.chars.get(self.pos).is_some_and(|&c| c != '\n') {
                    self.pos += 1;
                }
            } else if c.is_whitespace() {
                if c == '\n' {
                    self.line += 1;
                }
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn read(&mut self) -> Result<Sexp, SyntaxError> {
        self.skip_space();
        let Some(&c) = self.chars.get(self.pos) else { return self.err("unexpected end of input") };
        match c {
            '(' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    match self.chars.get(self.pos) {
                        None => return self.err("unclosed '('"),
                        Some(')') => {
                            self.pos += 1;
                            return Ok(Sexp::List(items));
                        }
                        Some(_) => items.push(self.read()?),
                    }
                }
            }
            ')' => self.err("unexpected ')'"),
            '"' => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = self.chars.get(self.pos) else { return self.err("unclosed string") };
                    self.pos += 1;
                    match c {
                        '"' => return Ok(Sexp::Str(s)),
                        '\\' => {
                            let Some(&e) = self.chars.get(self.pos) else { return self.err("unclosed string") };
                            self.pos += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        '\n' => {
                            self.line += 1;
                            s.push(c)
                        }
                        c => s.push(c),
                    }
                }
            }
            _ => {
                let start = self.pos;
                while self.chars.get(self.pos).is_some_and(|&c| !c.is_whitespace() && c != '(' && c != ')' && c != ';')
                {
                    self.pos += 1;
                }
                let tok: String = self.chars[start..self.pos].iter().collect();
                if let Ok(i) = tok.parse::<i64>() {
                    if (-(1i64 << 47)..(1i64 << 47)).contains(&i) {
                        return Ok(Sexp::Int(i));
                    }
                    return Ok(Sexp::Num(i as f64));
                }
                if tok.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
                    if let Ok(x) = tok.parse::<f64>() {
                        return Ok(Sexp::Num(x));
                    }
                }
                Ok(Sexp::Sym(tok))
            }
        }
    }
}
