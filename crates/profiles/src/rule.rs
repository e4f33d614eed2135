//! The rule language: small expressions over other tags, for tags a marketer writes
//! without SQL.
//!
//! ```text
//! case
//!   when rfm_r >= 3 and rfm_f >= 3 then "active"
//!   when days_since_last_txn is null then "never"
//!   else "other"
//! end
//! ```
//!
//! * Operands: tag keys (`txn_count_90d`), numbers (`10`, `0.5`), strings (`"high"` or
//!   `'high'`), `true`, `false`, `null`.
//! * Operators, loosest first: `or`; `and`; `not`; comparisons `= != <> < <= > >=`,
//!   `in (…)`, `not in (…)`, `between a and b`, `is null`, `is not null`; `+ -`; `* /`;
//!   unary `-`. Functions: `coalesce(a, b, …)`, `abs(x)`.
//! * `case when … then … [else …] end` picks the first branch whose condition is true; no
//!   branch and no `else` gives null.
//! * Nulls follow SQL: a comparison with null is null, `null and false` is false, and a
//!   `when` whose condition is null does not match. Division by zero gives null.
//!
//! A rule is type-checked against the kinds of the tags it reads, compiled to a SQL
//! expression for the engine ([`Expr::to_sql`]), and evaluated again in Rust for one customer
//! when a value is explained ([`Expr::eval`]); both follow the rules above, and a test runs
//! them side by side.

use std::collections::BTreeMap;
use std::fmt;

/// A parse or type error, with the 1-based line and column where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub column: usize,
    /// Byte offset into the rule text.
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn text(self) -> &'static str {
        match self {
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
    fn sql(self) -> &'static str {
        match self {
            BinOp::And => "AND",
            BinOp::Or => "OR",
            BinOp::Ne => "<>",
            other => other.text(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Coalesce,
    Abs,
}

/// A parsed rule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Tag(String),
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Call(Func, Vec<Expr>),
}

/// A value during evaluation, with SQL's null.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) => write!(f, "{}", fmt_num(*n)),
            Value::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

/// The type of a tag or expression, for checking rules before they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Num,
    Str,
    Bool,
    /// `null`: fits anywhere.
    Any,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Num => "number",
            Type::Str => "text",
            Type::Bool => "true/false",
            Type::Any => "null",
        })
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Num(n) => write!(f, "number {}", fmt_num(*n)),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::Op(o) => write!(f, "'{o}'"),
            Tok::LParen => write!(f, "'('"),
            Tok::RParen => write!(f, "')'"),
            Tok::Comma => write!(f, "','"),
            Tok::Eof => write!(f, "the end of the rule"),
        }
    }
}

fn error_at(src: &str, offset: usize, message: impl Into<String>) -> RuleError {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    RuleError {
        line,
        column,
        offset,
        message: message.into(),
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, RuleError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            // Comment to the end of the line.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_ascii_lowercase()), start));
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < bytes.len()
                && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'_')
            {
                i += 1;
            }
            let text: String = src[start..i].chars().filter(|c| *c != '_').collect();
            let n: f64 = text.parse().map_err(|_| {
                error_at(src, start, format!("'{}' is not a number", &src[start..i]))
            })?;
            out.push((Tok::Num(n), start));
        } else if c == b'"' || c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match src[i..].chars().next() {
                    None => {
                        return Err(error_at(
                            src,
                            start,
                            "this string is not closed: add the closing quote",
                        ));
                    }
                    Some(ch) if ch as u32 == c as u32 => {
                        // A doubled quote inside a string is one quote.
                        if bytes.get(i + 1) == Some(&c) {
                            s.push(ch);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push((Tok::Str(s), start));
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            let op: Option<&'static str> = match two {
                "<=" => Some("<="),
                ">=" => Some(">="),
                "!=" => Some("!="),
                "<>" => Some("!="),
                "==" => Some("="),
                _ => None,
            };
            if let Some(op) = op {
                out.push((Tok::Op(op), start));
                i += 2;
                continue;
            }
            let tok = match c {
                b'(' => Tok::LParen,
                b')' => Tok::RParen,
                b',' => Tok::Comma,
                b'=' => Tok::Op("="),
                b'<' => Tok::Op("<"),
                b'>' => Tok::Op(">"),
                b'+' => Tok::Op("+"),
                b'-' => Tok::Op("-"),
                b'*' => Tok::Op("*"),
                b'/' => Tok::Op("/"),
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(error_at(
                        src,
                        start,
                        format!(
                            "unexpected character '{ch}': rules use tag keys, numbers, \"strings\", operators and case/when"
                        ),
                    ));
                }
            };
            out.push((tok, start));
            i += 1;
        }
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Parser

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "between", "is", "null", "true", "false", "case", "when", "then",
    "else", "end",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn offset(&self) -> usize {
        self.toks[self.pos].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expected(&self, what: &str) -> RuleError {
        error_at(
            self.src,
            self.offset(),
            format!("expected {what}, found {}", self.peek()),
        )
    }
    fn expect_tok(&mut self, tok: &Tok, what: &str) -> Result<(), RuleError> {
        if self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), RuleError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{kw}'")))
        }
    }

    fn expr(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.and()?;
        while self.eat_kw("or") {
            let right = self.and()?;
            left = Expr::Binary(BinOp::Or, Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.not()?;
        while self.eat_kw("and") {
            let right = self.not()?;
            left = Expr::Binary(BinOp::And, Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Expr, RuleError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Op("=") => Some(BinOp::Eq),
            Tok::Op("!=") => Some(BinOp::Ne),
            Tok::Op("<") => Some(BinOp::Lt),
            Tok::Op("<=") => Some(BinOp::Le),
            Tok::Op(">") => Some(BinOp::Gt),
            Tok::Op(">=") => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.additive()?;
            return Ok(Expr::Binary(op, Box::new(left), Box::new(right)));
        }
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            self.expect_kw("null")?;
            return Ok(Expr::IsNull {
                expr: Box::new(left),
                negated,
            });
        }
        if self.eat_kw("between") {
            let lo = self.additive()?;
            self.expect_kw("and")?;
            let hi = self.additive()?;
            return Ok(Expr::Between(Box::new(left), Box::new(lo), Box::new(hi)));
        }
        let negated = if self.is_kw("not")
            && matches!(&self.toks[self.pos + 1].0, Tok::Ident(s) if s == "in")
        {
            self.bump();
            true
        } else {
            false
        };
        if self.eat_kw("in") {
            self.expect_tok(&Tok::LParen, "'(' after 'in'")?;
            let mut list = vec![self.additive()?];
            loop {
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                        list.push(self.additive()?);
                    }
                    Tok::RParen => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.expected("',' or ')' in the 'in' list")),
                }
            }
            return Ok(Expr::In {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        Ok(left)
    }
    fn additive(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.multiplicative()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }
    fn multiplicative(&mut self) -> Result<Expr, RuleError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }
    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.peek() == &Tok::Op("-") {
            self.bump();
            return Ok(match self.unary()? {
                Expr::Num(n) => Expr::Num(-n),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, RuleError> {
        let at = self.offset();
        match self.bump() {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect_tok(&Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "null" => Ok(Expr::Null),
                "case" => self.case(),
                "coalesce" | "abs" if self.peek() == &Tok::LParen => {
                    self.bump();
                    let mut args = vec![self.expr()?];
                    while self.peek() == &Tok::Comma {
                        self.bump();
                        args.push(self.expr()?);
                    }
                    self.expect_tok(&Tok::RParen, "',' or ')' after a function argument")?;
                    let f = if id == "abs" {
                        Func::Abs
                    } else {
                        Func::Coalesce
                    };
                    if f == Func::Abs && args.len() != 1 {
                        return Err(error_at(self.src, at, "abs takes exactly one argument"));
                    }
                    Ok(Expr::Call(f, args))
                }
                kw if KEYWORDS.contains(&kw) => Err(error_at(
                    self.src,
                    at,
                    format!("expected a tag key, number, string or 'case', found keyword '{kw}'"),
                )),
                _ => Ok(Expr::Tag(id)),
            },
            Tok::Eof => {
                self.pos = self.toks.len() - 1;
                Err(self.expected("a tag key, number, string or 'case'"))
            }
            _ => {
                self.pos -= 1;
                Err(self.expected("a tag key, number, string or 'case'"))
            }
        }
    }
    fn case(&mut self) -> Result<Expr, RuleError> {
        let mut branches = Vec::new();
        while self.eat_kw("when") {
            let cond = self.expr()?;
            self.expect_kw("then")?;
            let value = self.expr()?;
            branches.push((cond, value));
        }
        if branches.is_empty() {
            return Err(self.expected("'when' after 'case'"));
        }
        let otherwise = if self.eat_kw("else") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        if !self.eat_kw("end") {
            return Err(self.expected("'when', 'else' or 'end'"));
        }
        Ok(Expr::Case {
            branches,
            otherwise,
        })
    }
}

/// Parses a rule.
pub fn parse(src: &str) -> Result<Expr, RuleError> {
    let toks = lex(src)?;
    let mut p = Parser { src, toks, pos: 0 };
    let e = p.expr()?;
    if p.peek() != &Tok::Eof {
        return Err(p.expected("an operator or the end of the rule"));
    }
    Ok(e)
}

// ---------------------------------------------------------------------------------------
// Analysis, SQL and evaluation

impl Expr {
    /// Tag keys the rule reads, sorted and without repeats.
    pub fn tags(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Tag(t) = e {
                out.push(t.clone());
            }
        });
        out.sort();
        out.dedup();
        out
    }

    fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Not(e) | Expr::Neg(e) => e.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::In { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|e| e.walk(f));
            }
            Expr::Between(a, b, c) => {
                a.walk(f);
                b.walk(f);
                c.walk(f);
            }
            Expr::IsNull { expr, .. } => expr.walk(f),
            Expr::Case {
                branches,
                otherwise,
            } => {
                for (c, v) in branches {
                    c.walk(f);
                    v.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
            Expr::Call(_, args) => args.iter().for_each(|e| e.walk(f)),
            _ => {}
        }
    }

    /// String literals the rule can produce as its value (for checking categorical codes).
    pub fn result_strings(&self) -> Vec<String> {
        match self {
            Expr::Str(s) => vec![s.clone()],
            Expr::Case {
                branches,
                otherwise,
            } => branches
                .iter()
                .map(|(_, v)| v)
                .chain(otherwise.as_deref())
                .flat_map(Expr::result_strings)
                .collect(),
            Expr::Call(Func::Coalesce, args) => {
                args.iter().flat_map(Expr::result_strings).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Checks types given each tag's type; returns the rule's type.
    pub fn check(&self, types: &dyn Fn(&str) -> Option<Type>) -> Result<Type, String> {
        fn unify(a: Type, b: Type, what: &str) -> Result<Type, String> {
            match (a, b) {
                (Type::Any, t) | (t, Type::Any) => Ok(t),
                (a, b) if a == b => Ok(a),
                (a, b) => Err(format!("{what} mixes {a} and {b}")),
            }
        }
        fn want(t: Type, w: Type, what: &str) -> Result<(), String> {
            unify(t, w, what).map(|_| ())
        }
        Ok(match self {
            Expr::Tag(t) => types(t).ok_or_else(|| format!("unknown tag '{t}'"))?,
            Expr::Num(_) => Type::Num,
            Expr::Str(_) => Type::Str,
            Expr::Bool(_) => Type::Bool,
            Expr::Null => Type::Any,
            Expr::Not(e) => {
                want(e.check(types)?, Type::Bool, "'not'")?;
                Type::Bool
            }
            Expr::Neg(e) => {
                want(e.check(types)?, Type::Num, "'-'")?;
                Type::Num
            }
            Expr::Binary(op, a, b) => {
                let (ta, tb) = (a.check(types)?, b.check(types)?);
                let what = format!("'{}' between {a} and {b}", op.text());
                match op {
                    BinOp::And | BinOp::Or => {
                        want(ta, Type::Bool, &what)?;
                        want(tb, Type::Bool, &what)?;
                        Type::Bool
                    }
                    BinOp::Eq | BinOp::Ne => {
                        unify(ta, tb, &what)?;
                        Type::Bool
                    }
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        let t = unify(ta, tb, &what)?;
                        if t == Type::Bool {
                            return Err(format!("{what} orders true/false values"));
                        }
                        Type::Bool
                    }
                    _ => {
                        want(ta, Type::Num, &what)?;
                        want(tb, Type::Num, &what)?;
                        Type::Num
                    }
                }
            }
            Expr::In { expr, list, .. } => {
                let mut t = expr.check(types)?;
                for e in list {
                    t = unify(t, e.check(types)?, "'in'")?;
                }
                Type::Bool
            }
            Expr::Between(a, b, c) => {
                let t = unify(a.check(types)?, b.check(types)?, "'between'")?;
                unify(t, c.check(types)?, "'between'")?;
                Type::Bool
            }
            Expr::IsNull { expr, .. } => {
                expr.check(types)?;
                Type::Bool
            }
            Expr::Case {
                branches,
                otherwise,
            } => {
                let mut t = Type::Any;
                for (c, v) in branches {
                    want(c.check(types)?, Type::Bool, "a 'when' condition")?;
                    t = unify(t, v.check(types)?, "the branches of 'case'")?;
                }
                if let Some(o) = otherwise {
                    t = unify(t, o.check(types)?, "the branches of 'case'")?;
                }
                t
            }
            Expr::Call(Func::Abs, args) => {
                want(args[0].check(types)?, Type::Num, "abs")?;
                Type::Num
            }
            Expr::Call(Func::Coalesce, args) => {
                let mut t = Type::Any;
                for a in args {
                    t = unify(t, a.check(types)?, "coalesce")?;
                }
                t
            }
        })
    }

    /// The rule as a SQL expression; `column` maps a tag key to its SQL column reference.
    pub fn to_sql(&self, column: &dyn Fn(&str) -> String) -> String {
        match self {
            Expr::Tag(t) => column(t),
            Expr::Num(n) => {
                let s = fmt_num(*n);
                // Keep integer literals integers, but make every number a double in division.
                if s.contains('.') || s.contains('e') {
                    format!("CAST({s} AS DOUBLE)")
                } else {
                    s
                }
            }
            Expr::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Expr::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
            Expr::Null => "NULL".into(),
            Expr::Not(e) => format!("(NOT {})", e.to_sql(column)),
            Expr::Neg(e) => format!("(- {})", e.to_sql(column)),
            Expr::Binary(BinOp::Div, a, b) => format!(
                "(CAST({} AS DOUBLE) / NULLIF(CAST({} AS DOUBLE), 0))",
                a.to_sql(column),
                b.to_sql(column)
            ),
            Expr::Binary(op, a, b) => {
                format!("({} {} {})", a.to_sql(column), op.sql(), b.to_sql(column))
            }
            Expr::In {
                expr,
                list,
                negated,
            } => format!(
                "({} {}IN ({}))",
                expr.to_sql(column),
                if *negated { "NOT " } else { "" },
                list.iter()
                    .map(|e| e.to_sql(column))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Expr::Between(a, b, c) => format!(
                "({} BETWEEN {} AND {})",
                a.to_sql(column),
                b.to_sql(column),
                c.to_sql(column)
            ),
            Expr::IsNull { expr, negated } => format!(
                "({} IS {}NULL)",
                expr.to_sql(column),
                if *negated { "NOT " } else { "" }
            ),
            Expr::Case {
                branches,
                otherwise,
            } => {
                let mut s = String::from("CASE");
                for (c, v) in branches {
                    s.push_str(&format!(
                        " WHEN {} THEN {}",
                        c.to_sql(column),
                        v.to_sql(column)
                    ));
                }
                if let Some(o) = otherwise {
                    s.push_str(&format!(" ELSE {}", o.to_sql(column)));
                }
                s.push_str(" END");
                s
            }
            Expr::Call(f, args) => format!(
                "{}({})",
                match f {
                    Func::Coalesce => "coalesce",
                    Func::Abs => "abs",
                },
                args.iter()
                    .map(|e| e.to_sql(column))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Evaluates the rule for one customer, with SQL's null semantics.
    pub fn eval(&self, values: &BTreeMap<String, Value>) -> Value {
        match self {
            Expr::Tag(t) => values.get(t).cloned().unwrap_or(Value::Null),
            Expr::Num(n) => Value::Num(*n),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Null => Value::Null,
            Expr::Not(e) => match e.eval(values) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Expr::Neg(e) => match e.eval(values) {
                Value::Num(n) => Value::Num(-n),
                _ => Value::Null,
            },
            Expr::Binary(BinOp::And, a, b) => match (a.eval(values), b.eval(values)) {
                (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
                (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                _ => Value::Null,
            },
            Expr::Binary(BinOp::Or, a, b) => match (a.eval(values), b.eval(values)) {
                (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
                (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                _ => Value::Null,
            },
            Expr::Binary(op, a, b) => binary(*op, &a.eval(values), &b.eval(values)),
            Expr::In {
                expr,
                list,
                negated,
            } => {
                let x = expr.eval(values);
                if x == Value::Null {
                    return Value::Null;
                }
                let mut saw_null = false;
                for e in list {
                    match binary(BinOp::Eq, &x, &e.eval(values)) {
                        Value::Bool(true) => return Value::Bool(!negated),
                        Value::Null => saw_null = true,
                        _ => {}
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            Expr::Between(a, lo, hi) => {
                let x = a.eval(values);
                let ge = binary(BinOp::Ge, &x, &lo.eval(values));
                let le = binary(BinOp::Le, &x, &hi.eval(values));
                match (ge, le) {
                    (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
                    (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                    _ => Value::Null,
                }
            }
            Expr::IsNull { expr, negated } => {
                Value::Bool((expr.eval(values) == Value::Null) != *negated)
            }
            Expr::Case { .. } => self.matched_branch(values).1,
            Expr::Call(Func::Abs, args) => match args[0].eval(values) {
                Value::Num(n) => Value::Num(n.abs()),
                _ => Value::Null,
            },
            Expr::Call(Func::Coalesce, args) => args
                .iter()
                .map(|a| a.eval(values))
                .find(|v| *v != Value::Null)
                .unwrap_or(Value::Null),
        }
    }

    /// For a `case`: the 0-based branch that matched (`None` for `else` or no match) and the
    /// value. For any other expression: `(None, value)`.
    pub fn matched_branch(&self, values: &BTreeMap<String, Value>) -> (Option<usize>, Value) {
        let Expr::Case {
            branches,
            otherwise,
        } = self
        else {
            return (None, self.eval(values));
        };
        for (i, (c, v)) in branches.iter().enumerate() {
            if c.eval(values) == Value::Bool(true) {
                return (Some(i), v.eval(values));
            }
        }
        (
            None,
            otherwise.as_ref().map_or(Value::Null, |o| o.eval(values)),
        )
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return Value::Null,
        (Value::Num(x), Value::Num(y)) => match op {
            BinOp::Add => return Value::Num(x + y),
            BinOp::Sub => return Value::Num(x - y),
            BinOp::Mul => return Value::Num(x * y),
            BinOp::Div => {
                return if *y == 0.0 {
                    Value::Null
                } else {
                    Value::Num(x / y)
                };
            }
            _ => x.partial_cmp(y),
        },
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    let Some(ord) = ord else {
        return Value::Null;
    };
    Value::Bool(match op {
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Ne => ord != Ordering::Equal,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Ge => ord != Ordering::Less,
        _ => return Value::Null,
    })
}

/// Prints the rule back in rule syntax (fully parenthesised where it matters).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Tag(t) => write!(f, "{t}"),
            Expr::Num(n) => write!(f, "{}", fmt_num(*n)),
            Expr::Str(s) => write!(f, "\"{s}\""),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Null => write!(f, "null"),
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
                let side = |e: &Expr, f: &mut fmt::Formatter<'_>| match e {
                    Expr::Binary(inner @ (BinOp::And | BinOp::Or), ..) if inner != op => {
                        write!(f, "({e})")
                    }
                    _ => write!(f, "{e}"),
                };
                side(a, f)?;
                write!(f, " {} ", op.text())?;
                side(b, f)
            }
            Expr::Binary(op, a, b) => {
                let side = |e: &Expr, f: &mut fmt::Formatter<'_>| match e {
                    Expr::Binary(..) => write!(f, "({e})"),
                    _ => write!(f, "{e}"),
                };
                side(a, f)?;
                write!(f, " {} ", op.text())?;
                side(b, f)
            }
            Expr::In {
                expr,
                list,
                negated,
            } => {
                write!(f, "{expr} {}in (", if *negated { "not " } else { "" })?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, ")")
            }
            Expr::Between(a, b, c) => write!(f, "{a} between {b} and {c}"),
            Expr::IsNull { expr, negated } => {
                write!(f, "{expr} is {}null", if *negated { "not " } else { "" })
            }
            Expr::Case {
                branches,
                otherwise,
            } => {
                write!(f, "case")?;
                for (c, v) in branches {
                    write!(f, " when {c} then {v}")?;
                }
                if let Some(o) = otherwise {
                    write!(f, " else {o}")?;
                }
                write!(f, " end")
            }
            Expr::Call(func, args) => {
                write!(
                    f,
                    "{}(",
                    match func {
                        Func::Coalesce => "coalesce",
                        Func::Abs => "abs",
                    }
                )?;
                for (i, e) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, ")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn parses_case_with_precedence() {
        let e = parse("case when a >= 3 and b < 2 or not c then \"x\" when a between 1 and 2 then 'y' else \"z\" end").unwrap();
        assert_eq!(e.tags(), vec!["a", "b", "c"]);
        let v = vals(&[
            ("a", Value::Num(3.0)),
            ("b", Value::Num(1.0)),
            ("c", Value::Bool(true)),
        ]);
        assert_eq!(e.matched_branch(&v), (Some(0), Value::Str("x".into())));
        let v = vals(&[
            ("a", Value::Num(2.0)),
            ("b", Value::Num(5.0)),
            ("c", Value::Bool(true)),
        ]);
        assert_eq!(e.matched_branch(&v), (Some(1), Value::Str("y".into())));
        let v = vals(&[
            ("a", Value::Num(9.0)),
            ("b", Value::Num(5.0)),
            ("c", Value::Bool(true)),
        ]);
        assert_eq!(e.matched_branch(&v), (None, Value::Str("z".into())));
        assert_eq!(
            e.to_string(),
            "case when (a >= 3 and b < 2) or not c then \"x\" when a between 1 and 2 then \"y\" else \"z\" end"
        );
        // Printing and parsing again gives the same tree.
        assert_eq!(parse(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn arithmetic_binds_tighter_than_comparison() {
        let e = parse("a + b * 2 > 10 - -1").unwrap();
        let v = vals(&[("a", Value::Num(1.0)), ("b", Value::Num(5.0))]);
        assert_eq!(e.eval(&v), Value::Bool(false)); // 11 > 11
        let v = vals(&[("a", Value::Num(2.0)), ("b", Value::Num(5.0))]);
        assert_eq!(e.eval(&v), Value::Bool(true));
    }

    #[test]
    fn nulls_follow_sql() {
        let v = vals(&[
            ("x", Value::Null),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
        ]);
        let ev = |s: &str| parse(s).unwrap().eval(&v);
        assert_eq!(ev("x > 1"), Value::Null);
        assert_eq!(ev("x > 1 and f"), Value::Bool(false));
        assert_eq!(ev("x > 1 or t"), Value::Bool(true));
        assert_eq!(ev("x > 1 or f"), Value::Null);
        assert_eq!(ev("not (x > 1)"), Value::Null);
        assert_eq!(ev("x is null"), Value::Bool(true));
        assert_eq!(ev("1 in (2, null)"), Value::Null);
        assert_eq!(ev("1 not in (2, 3)"), Value::Bool(true));
        assert_eq!(ev("coalesce(x, 7)"), Value::Num(7.0));
        assert_eq!(ev("5 / 0"), Value::Null);
        assert_eq!(ev("case when x > 1 then 1 end"), Value::Null);
        assert_eq!(ev("case when x > 1 then 1 else 2 end"), Value::Num(2.0));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("case when a >= then 1 end").unwrap_err();
        assert_eq!((e.line, e.column), (1, 16), "{e}");
        assert!(e.message.contains("expected a tag key"), "{e}");
        let e = parse("case when a > 1\n  then 1\n  els 2 end").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3), "{e}");
        assert!(e.message.contains("'when', 'else' or 'end'"), "{e}");
        let e = parse("a > \"open").unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
        let e = parse("a ; b").unwrap_err();
        assert_eq!(e.column, 3);
        let e = parse("a in 1, 2").unwrap_err();
        assert!(e.message.contains("'(' after 'in'"), "{e}");
        assert!(
            parse("a b")
                .unwrap_err()
                .message
                .contains("end of the rule")
        );
    }

    #[test]
    fn type_errors_name_the_operands() {
        let types = |t: &str| match t {
            "n" => Some(Type::Num),
            "s" => Some(Type::Str),
            "b" => Some(Type::Bool),
            _ => None,
        };
        assert_eq!(parse("n > 1 and b").unwrap().check(&types), Ok(Type::Bool));
        assert_eq!(
            parse("case when b then \"x\" else null end")
                .unwrap()
                .check(&types),
            Ok(Type::Str)
        );
        let err = parse("n = \"x\"").unwrap().check(&types).unwrap_err();
        assert!(err.contains("mixes number and text"), "{err}");
        let err = parse("case when n then 1 end")
            .unwrap()
            .check(&types)
            .unwrap_err();
        assert!(err.contains("'when' condition"), "{err}");
        let err = parse("zz > 1").unwrap().check(&types).unwrap_err();
        assert!(err.contains("unknown tag 'zz'"), "{err}");
    }

    #[test]
    fn sql_is_quoted_and_divides_safely() {
        let e = parse("case when s = 'it''s' then a / b else 0.5 end").unwrap();
        let sql = e.to_sql(&|t| format!("\"{t}\""));
        assert_eq!(
            sql,
            "CASE WHEN (\"s\" = 'it''s') THEN (CAST(\"a\" AS DOUBLE) / NULLIF(CAST(\"b\" AS DOUBLE), 0)) ELSE CAST(0.5 AS DOUBLE) END"
        );
    }
}
