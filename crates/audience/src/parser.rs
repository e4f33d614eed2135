//! The parser: tokens → [`Ast`], by recursive descent with Pratt binding powers for the
//! binary operators (`or` binds looser than `and`; `not` is a prefix operator).
//!
//! The AST is untyped: whether `aum_tier` exists and may be compared with `"high"` is
//! checked later against the tag catalogue (see `bind`), so the grammar stays small and
//! every error still carries the span of the part at fault.

use crate::error::{ExprError, ExprErrorKind, Span};
use crate::lexer::{Tok, Token, lex};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A literal on the right of a predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    /// A bare word in value position (`city_tier = tier1`), read as a code.
    Word(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub lit: Lit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub name: String,
    pub span: Span,
}

/// One node of a parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not(Box<Ast>, Span),
    Const(bool, Span),
    /// A bare tag name: a flag that is true.
    Bare(Name),
    Cmp {
        tag: Name,
        op: CmpOp,
        op_span: Span,
        value: Value,
    },
    Between {
        tag: Name,
        lo: Value,
        hi: Value,
        negated: bool,
    },
    In {
        tag: Name,
        values: Vec<Value>,
        negated: bool,
    },
    IsNull {
        tag: Name,
        negated: bool,
    },
    /// `holds("P0001")` / `holds product "P0001"`.
    HoldsProduct {
        product: Value,
        span: Span,
    },
    /// `holds category "fund"`.
    HoldsCategory {
        category: Value,
        span: Span,
    },
    /// `did("login", 30d)` or `did("login", 30d, 3)` (at least 3 times); no window = ever.
    Did {
        event: Value,
        days: Option<(u32, Span)>,
        min_count: Option<(u32, Span)>,
        span: Span,
    },
}

impl Ast {
    pub fn span(&self) -> Span {
        match self {
            Ast::And(a, b) | Ast::Or(a, b) => a.span().to(b.span()),
            Ast::Not(a, s) => s.to(a.span()),
            Ast::Const(_, s) => *s,
            Ast::Bare(n) => n.span,
            Ast::Cmp { tag, value, .. } => tag.span.to(value.span),
            Ast::Between { tag, hi, .. } => tag.span.to(hi.span),
            Ast::In { tag, values, .. } => values.last().map_or(tag.span, |v| tag.span.to(v.span)),
            Ast::IsNull { tag, .. } => tag.span,
            Ast::HoldsProduct { span, .. }
            | Ast::HoldsCategory { span, .. }
            | Ast::Did { span, .. } => *span,
        }
    }
}

/// Parses an expression. The error, if any, has the position and what was expected.
pub fn parse(src: &str) -> Result<Ast, ExprError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        src,
        toks: tokens,
        pos: 0,
    };
    if matches!(p.peek().tok, Tok::Eof) {
        return Err(p.err_here(
            "the expression is empty".into(),
            "a condition such as `aum_tier = \"high\"` or `age between 30 and 40`",
        ));
    }
    let ast = p.expr(0)?;
    let t = p.peek().clone();
    if !matches!(t.tok, Tok::Eof) {
        let hint = if matches!(t.tok, Tok::RParen) {
            "no `)` here: there is no `(` left open".to_string()
        } else {
            "`and`, `or` or the end of the expression".to_string()
        };
        return Err(ExprError::new(
            ExprErrorKind::Syntax,
            src,
            t.span,
            format!("expected {hint}, found {}", t.tok.describe()),
        )
        .expected(hint));
    }
    Ok(ast)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

/// Binding power of a binary operator token (higher binds tighter).
fn infix_power(t: &Tok) -> Option<(u8, bool)> {
    match t {
        Tok::OrSym => Some((1, false)),
        Tok::AndSym => Some((2, true)),
        Tok::Ident(w) if w.eq_ignore_ascii_case("or") => Some((1, false)),
        Tok::Ident(w) if w.eq_ignore_ascii_case("and") => Some((2, true)),
        _ => None,
    }
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn peek_at(&self, k: usize) -> &Token {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn err_here(&self, message: String, expected: &str) -> ExprError {
        ExprError::new(ExprErrorKind::Syntax, self.src, self.peek().span, message)
            .expected(expected)
    }
    /// "expected X after Y, found Z" at the current token.
    fn expected(&self, what: &str, after: &str) -> ExprError {
        let found = self.peek().tok.describe();
        let msg = if after.is_empty() {
            format!("expected {what}, found {found}")
        } else {
            format!("expected {what} after {after}, found {found}")
        };
        self.err_here(msg, what)
    }

    fn expect(&mut self, tok: Tok, what: &str, after: &str) -> Result<Token, ExprError> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.expected(what, after))
        }
    }

    /// Pratt loop: a prefix expression, then binary operators binding tighter than `min`.
    fn expr(&mut self, min: u8) -> Result<Ast, ExprError> {
        let mut lhs = self.prefix()?;
        while let Some((bp, is_and)) = infix_power(&self.peek().tok) {
            if bp <= min {
                break;
            }
            let op = self.bump();
            if matches!(self.peek().tok, Tok::Eof | Tok::RParen) {
                let name = if is_and { "and" } else { "or" };
                let _ = op;
                return Err(self.expected("a condition", &format!("`{name}`")));
            }
            let rhs = self.expr(bp)?;
            lhs = if is_and {
                Ast::And(Box::new(lhs), Box::new(rhs))
            } else {
                Ast::Or(Box::new(lhs), Box::new(rhs))
            };
        }
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Ast, ExprError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::NotSym => {
                self.bump();
                self.not_operand(t.span, "`!`")
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("not") => {
                self.bump();
                self.not_operand(t.span, "`not`")
            }
            Tok::LParen => {
                self.bump();
                if matches!(self.peek().tok, Tok::RParen) {
                    return Err(self.expected("a condition", "`(`"));
                }
                let inner = self.expr(0)?;
                if !matches!(self.peek().tok, Tok::RParen) {
                    let mut e = self.expected("`)` to close the `(`", "");
                    if matches!(self.peek().tok, Tok::Eof) {
                        e.message = format!(
                            "expected `)` to close the `(` at column {}, found end of input",
                            self.src[..t.span.start].chars().count() + 1
                        );
                    }
                    return Err(e);
                }
                self.bump();
                Ok(inner)
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
                self.bump();
                Ok(Ast::Const(w.eq_ignore_ascii_case("true"), t.span))
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("holds") || w == "持有" => {
                self.bump();
                self.holds(t.span)
            }
            Tok::Ident(w)
                if (w.eq_ignore_ascii_case("did") || w == "发生")
                    && matches!(self.peek_at(1).tok, Tok::LParen) =>
            {
                self.bump();
                self.did(t.span)
            }
            Tok::Ident(w)
                if ["and", "or", "between", "in", "is", "null"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(self.expected("a condition", ""))
            }
            Tok::Ident(_) => {
                self.bump();
                self.predicate(Name {
                    name: match t.tok {
                        Tok::Ident(s) => s,
                        _ => unreachable!("matched Ident above"),
                    },
                    span: t.span,
                })
            }
            Tok::Str(s) => Err(ExprError::new(
                ExprErrorKind::Syntax,
                self.src,
                t.span,
                format!("expected a tag name, found the string \"{s}\""),
            )
            .expected("a tag name (unquoted), e.g. `aum_tier = \"high\"`")),
            Tok::AndSym | Tok::OrSym => Err(self.expected("a condition", "")),
            _ => Err(self.expected("a condition", "")),
        }
    }

    fn not_operand(&mut self, span: Span, what: &str) -> Result<Ast, ExprError> {
        if matches!(self.peek().tok, Tok::Eof | Tok::RParen) {
            return Err(self.expected("a condition", what));
        }
        // `not` binds tighter than `and`/`or`: `not a and b` is `(not a) and b`.
        let inner = self.expr(2)?;
        Ok(Ast::Not(Box::new(inner), span))
    }

    fn value(&mut self, after: &str) -> Result<Value, ExprError> {
        let t = self.peek().clone();
        let lit = match &t.tok {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Num(n) => Lit::Num(*n),
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Tok::Ident(w)
                if !["and", "or", "not", "in", "between", "is", "null"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Lit::Word(w.clone())
            }
            Tok::Days(d) => {
                return Err(ExprError::new(
                    ExprErrorKind::Syntax,
                    self.src,
                    t.span,
                    format!("expected a value after {after}, found the day count `{d}d`"),
                )
                .expected("a number or a quoted string; day counts only go in did(…)"));
            }
            _ => return Err(self.expected("a value", after)),
        };
        self.bump();
        Ok(Value { lit, span: t.span })
    }

    fn predicate(&mut self, tag: Name) -> Result<Ast, ExprError> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let value = self.value(&format!("`{}`", op.symbol()))?;
            return Ok(Ast::Cmp {
                tag,
                op,
                op_span: t.span,
                value,
            });
        }
        let mut negated = false;
        if is_kw(&t.tok, "not") || matches!(t.tok, Tok::NotSym) {
            let next = &self.peek_at(1).tok;
            if is_kw(next, "in") || is_kw(next, "between") {
                self.bump();
                negated = true;
            } else {
                self.bump();
                return Err(self.expected("`in` or `between`", "`not`"));
            }
        }
        let t = self.peek().clone();
        if is_kw(&t.tok, "between") {
            self.bump();
            let lo = self.value("`between`")?;
            if !is_kw(&self.peek().tok, "and") && !matches!(self.peek().tok, Tok::AndSym) {
                return Err(self.expected("`and`", "the lower bound of `between`"));
            }
            self.bump();
            let hi = self.value("`between … and`")?;
            return Ok(Ast::Between {
                tag,
                lo,
                hi,
                negated,
            });
        }
        if is_kw(&t.tok, "in") {
            self.bump();
            self.expect(Tok::LParen, "`(`", "`in`")?;
            let mut values = vec![self.value("`in (`")?];
            while matches!(self.peek().tok, Tok::Comma) {
                self.bump();
                values.push(self.value("`,`")?);
            }
            if !matches!(self.peek().tok, Tok::RParen) {
                return Err(self.expected("`,` or `)`", "a value in the `in` list"));
            }
            self.bump();
            return Ok(Ast::In {
                tag,
                values,
                negated,
            });
        }
        if is_kw(&t.tok, "is") {
            self.bump();
            let mut negated = false;
            if is_kw(&self.peek().tok, "not") {
                self.bump();
                negated = true;
            }
            if !is_kw(&self.peek().tok, "null") {
                return Err(self.expected("`null`", if negated { "`is not`" } else { "`is`" }));
            }
            self.bump();
            return Ok(Ast::IsNull { tag, negated });
        }
        // A bare name is a flag test; anything but an operator, `)` or the end is a mistake.
        match &t.tok {
            Tok::Eof | Tok::RParen | Tok::AndSym | Tok::OrSym => Ok(Ast::Bare(tag)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") => {
                Ok(Ast::Bare(tag))
            }
            _ => Err(self.expected(
                "an operator (`=`, `!=`, `<`, `<=`, `>`, `>=`, `between`, `in`, `is null`)",
                &format!("`{}`", tag.name),
            )),
        }
    }

    fn string_arg(&mut self, what: &str, after: &str) -> Result<Value, ExprError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Str(s) => {
                self.bump();
                Ok(Value {
                    lit: Lit::Str(s.clone()),
                    span: t.span,
                })
            }
            Tok::Ident(w)
                if !["and", "or", "not"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                self.bump();
                Ok(Value {
                    lit: Lit::Word(w.clone()),
                    span: t.span,
                })
            }
            _ => Err(self.expected(what, after)),
        }
    }

    fn holds(&mut self, start: Span) -> Result<Ast, ExprError> {
        let paren = matches!(self.peek().tok, Tok::LParen);
        if paren {
            self.bump();
        }
        let t = self.peek().clone();
        let ast = if is_kw(&t.tok, "category") || (t.tok == Tok::Ident("类别".into())) {
            self.bump();
            let category = self.string_arg("a product category in quotes", "`holds category`")?;
            Ast::HoldsCategory {
                span: start.to(category.span),
                category,
            }
        } else {
            if is_kw(&t.tok, "product") || (t.tok == Tok::Ident("产品".into())) {
                self.bump();
            } else if !paren {
                return Err(self.expected(
                    "`(\"PRODUCT_ID\")`, `product \"ID\"` or `category \"NAME\"`",
                    "`holds`",
                ));
            }
            let product = self.string_arg("a product id in quotes", "`holds`")?;
            Ast::HoldsProduct {
                span: start.to(product.span),
                product,
            }
        };
        if paren {
            let close = self.expect(Tok::RParen, "`)`", "the argument of `holds(`")?;
            return Ok(match ast {
                Ast::HoldsCategory { category, span } => Ast::HoldsCategory {
                    category,
                    span: span.to(close.span),
                },
                Ast::HoldsProduct { product, span } => Ast::HoldsProduct {
                    product,
                    span: span.to(close.span),
                },
                other => other,
            });
        }
        Ok(ast)
    }

    fn did(&mut self, start: Span) -> Result<Ast, ExprError> {
        self.expect(Tok::LParen, "`(`", "`did`")?;
        let event = self.string_arg("an event type in quotes, e.g. \"login\"", "`did(`")?;
        let mut days = None;
        let mut min_count = None;
        if matches!(self.peek().tok, Tok::Comma) {
            self.bump();
            let t = self.peek().clone();
            match t.tok {
                Tok::Days(d) => {
                    if d == 0 {
                        return Err(ExprError::new(
                            ExprErrorKind::Syntax,
                            self.src,
                            t.span,
                            "a window of 0 days is empty".to_string(),
                        )
                        .expected("at least `1d`"));
                    }
                    self.bump();
                    days = Some((d, t.span));
                }
                Tok::Num(n) => {
                    return Err(ExprError::new(
                        ExprErrorKind::Syntax,
                        self.src,
                        t.span,
                        format!("expected a day count such as `{n}d`, found the number {n}"),
                    )
                    .expected(format!("`{n}d`")));
                }
                _ => return Err(self.expected("a day count such as `30d`", "`did(\"…\",`")),
            }
            if matches!(self.peek().tok, Tok::Comma) {
                self.bump();
                if is_kw(&self.peek().tok, "min") || is_kw(&self.peek().tok, "at_least") {
                    self.bump();
                }
                let t = self.peek().clone();
                match t.tok {
                    Tok::Num(n) if n >= 1.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => {
                        self.bump();
                        min_count = Some((n as u32, t.span));
                    }
                    Tok::Num(n) => {
                        return Err(ExprError::new(
                            ExprErrorKind::Syntax,
                            self.src,
                            t.span,
                            format!("the minimum count must be a whole number ≥ 1, found {n}"),
                        )
                        .expected("a minimum count such as `3`"));
                    }
                    _ => {
                        return Err(self.expected("a minimum count such as `3`", "the day count"));
                    }
                }
            }
        }
        if !matches!(self.peek().tok, Tok::RParen) {
            let what = if days.is_none() {
                "`,` and a day count, or `)`"
            } else if min_count.is_none() {
                "`,` and a minimum count, or `)`"
            } else {
                "`)`"
            };
            return Err(self.expected(what, "the arguments of `did(`"));
        }
        let close = self.bump();
        Ok(Ast::Did {
            event,
            days,
            min_count,
            span: start.to(close.span),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> ExprError {
        parse(s).expect_err(s)
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let a = parse("a or b and c").unwrap();
        assert!(matches!(a, Ast::Or(_, ref r) if matches!(**r, Ast::And(_, _))));
        let a = parse("not a and b").unwrap();
        assert!(matches!(a, Ast::And(ref l, _) if matches!(**l, Ast::Not(_, _))));
        let a = parse("not (a or b)").unwrap();
        assert!(matches!(a, Ast::Not(ref i, _) if matches!(**i, Ast::Or(_, _))));
        // Left-associative chains.
        let a = parse("a and b and c").unwrap();
        assert!(matches!(a, Ast::And(ref l, _) if matches!(**l, Ast::And(_, _))));
    }

    #[test]
    fn every_predicate_form_parses() {
        for s in [
            "age between 30 and 40",
            "age not between 30 and 40",
            "aum_tier in (\"high\", 'private', mass)",
            "aum_tier not in (\"high\")",
            "city_tier is null",
            "city_tier is not null",
            "holds_fund",
            "holds_fund = true",
            "holds(\"P0001\")",
            "holds product \"P0001\"",
            "holds category \"fund\"",
            "holds(category \"fund\")",
            "did(\"login\")",
            "did(\"login\", 30d)",
            "did(\"login\", 30d, 3)",
            "did(\"login\", 30d, min 3)",
            "true or false",
            "资产等级 = \"高净值\" 且 年龄 >= 30",
        ] {
            parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn missing_value_after_operator() {
        let e = err("aum_tier =");
        assert_eq!(e.message, "expected a value after `=`, found end of input");
        assert_eq!((e.line, e.column), (1, 11));
        assert_eq!(e.caret, "          ^");
        assert_eq!(e.expected.as_deref(), Some("a value"));
    }

    #[test]
    fn errors_on_later_lines_have_line_and_column() {
        let e = err("age > 30\n  and (city_tier = \"tier1\"\n  or)");
        assert_eq!((e.line, e.column), (3, 5));
        assert_eq!(e.message, "expected a condition after `or`, found `)`");
        assert_eq!(e.snippet, "  or)");
        assert_eq!(e.caret, "    ^");
    }

    #[test]
    fn unclosed_and_stray_parentheses() {
        let e = err("(age > 3");
        assert_eq!(
            e.message,
            "expected `)` to close the `(` at column 1, found end of input"
        );
        let e = err("age > 3)");
        assert_eq!(e.column, 8);
        assert!(e.message.contains("no `(` left open"), "{}", e.message);
        let e = err("()");
        assert_eq!(e.message, "expected a condition after `(`, found `)`");
    }

    #[test]
    fn between_needs_and() {
        let e = err("age between 3 or 5");
        assert_eq!(
            e.message,
            "expected `and` after the lower bound of `between`, found `or`"
        );
        assert_eq!(e.column, 15);
    }

    #[test]
    fn in_list_errors() {
        let e = err("aum_tier in \"high\"");
        assert_eq!(
            e.message,
            "expected `(` after `in`, found the string \"high\""
        );
        let e = err("aum_tier in (\"a\" \"b\")");
        assert_eq!(
            e.message,
            "expected `,` or `)` after a value in the `in` list, found the string \"b\""
        );
    }

    #[test]
    fn did_errors() {
        let e = err("did(\"login\", 30)");
        assert_eq!(
            e.message,
            "expected a day count such as `30d`, found the number 30"
        );
        let e = err("did(\"login\", 0d)");
        assert_eq!(e.message, "a window of 0 days is empty");
        let e = err("did(\"login\", 7d, 0)");
        assert!(e.message.contains("whole number ≥ 1"), "{}", e.message);
    }

    #[test]
    fn missing_operator_and_misplaced_tokens() {
        let e = err("age 30");
        assert!(
            e.message.starts_with("expected an operator"),
            "{}",
            e.message
        );
        assert_eq!(e.column, 5);
        let e = err("and age > 3");
        assert_eq!(e.message, "expected a condition, found `and`");
        let e = err("");
        assert_eq!(e.message, "the expression is empty");
        let e = err("age is 3");
        assert_eq!(e.message, "expected `null` after `is`, found the number 3");
        let e = err("\"aum_tier\" = 'x'");
        assert!(e.message.contains("tag name"), "{}", e.message);
    }

    #[test]
    fn caret_accounts_for_wide_characters() {
        let e = err("资产等级 =");
        // 4 wide chars (8 columns) + space + '=' = 10 columns before the caret at the end.
        assert_eq!(e.column, 7);
        assert_eq!(e.caret, format!("{}^", " ".repeat(10)));
    }
}
