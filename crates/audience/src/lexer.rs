//! The lexer: expression text → tokens with byte spans.
//!
//! Identifiers are ASCII letters, digits and `_`, or CJK characters (so Chinese tag names
//! such as `资产等级` are one token). Keywords are case-insensitive identifiers; the parser
//! decides which identifiers are keywords by position, so a tag may be called `category`.

use crate::error::{ExprError, ExprErrorKind, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// `30d`: a number of days.
    Days(u32),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    Comma,
    /// `&&` (also `且`): same as `and`.
    AndSym,
    /// `||` (also `或`): same as `or`.
    OrSym,
    /// `!` (also `非`): same as `not`.
    NotSym,
    Eof,
}

impl Tok {
    /// How the token is named in "found …" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("the string \"{s}\""),
            Tok::Num(n) => format!("the number {n}"),
            Tok::Days(d) => format!("`{d}d`"),
            Tok::Eq => "`=`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::AndSym => "`&&`".into(),
            Tok::OrSym => "`||`".into(),
            Tok::NotSym => "`!`".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (is_cjk(c) && !matches!(c, '且' | '或' | '非'))
}

fn ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || is_cjk(c)
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let single = |t: Tok, len: usize| Token {
            tok: t,
            span: Span::new(i, i + len),
        };
        match c {
            '(' | '（' => {
                it.next();
                out.push(single(Tok::LParen, c.len_utf8()));
            }
            ')' | '）' => {
                it.next();
                out.push(single(Tok::RParen, c.len_utf8()));
            }
            ',' | '，' => {
                it.next();
                out.push(single(Tok::Comma, c.len_utf8()));
            }
            '且' => {
                it.next();
                out.push(single(Tok::AndSym, c.len_utf8()));
            }
            '或' => {
                it.next();
                out.push(single(Tok::OrSym, c.len_utf8()));
            }
            '非' => {
                it.next();
                out.push(single(Tok::NotSym, c.len_utf8()));
            }
            '=' => {
                it.next();
                if matches!(it.peek(), Some((_, '='))) {
                    it.next();
                    out.push(single(Tok::Eq, 2));
                } else {
                    out.push(single(Tok::Eq, 1));
                }
            }
            '!' => {
                it.next();
                if matches!(it.peek(), Some((_, '='))) {
                    it.next();
                    out.push(single(Tok::Ne, 2));
                } else {
                    out.push(single(Tok::NotSym, 1));
                }
            }
            '<' => {
                it.next();
                match it.peek() {
                    Some((_, '=')) => {
                        it.next();
                        out.push(single(Tok::Le, 2));
                    }
                    Some((_, '>')) => {
                        it.next();
                        out.push(single(Tok::Ne, 2));
                    }
                    _ => out.push(single(Tok::Lt, 1)),
                }
            }
            '>' => {
                it.next();
                if matches!(it.peek(), Some((_, '='))) {
                    it.next();
                    out.push(single(Tok::Ge, 2));
                } else {
                    out.push(single(Tok::Gt, 1));
                }
            }
            '&' | '|' => {
                it.next();
                if matches!(it.peek(), Some((_, d)) if *d == c) {
                    it.next();
                    out.push(single(if c == '&' { Tok::AndSym } else { Tok::OrSym }, 2));
                } else {
                    let doubled = if c == '&' { "&&" } else { "||" };
                    return Err(ExprError::new(
                        ExprErrorKind::Lexical,
                        src,
                        Span::new(i, i + 1),
                        format!("unexpected `{c}`"),
                    )
                    .expected(format!(
                        "`{doubled}` or `{}`",
                        if c == '&' { "and" } else { "or" }
                    )));
                }
            }
            '"' | '\'' | '“' | '‘' => {
                let close = match c {
                    '“' => '”',
                    '‘' => '’',
                    other => other,
                };
                it.next();
                let mut s = String::new();
                let mut end = None;
                while let Some((j, d)) = it.next() {
                    if d == close {
                        end = Some(j + d.len_utf8());
                        break;
                    }
                    if d == '\\'
                        && let Some((_, e)) = it.next()
                    {
                        s.push(e);
                        continue;
                    }
                    s.push(d);
                }
                match end {
                    Some(e) => out.push(Token {
                        tok: Tok::Str(s),
                        span: Span::new(i, e),
                    }),
                    None => {
                        return Err(ExprError::new(
                            ExprErrorKind::Lexical,
                            src,
                            Span::new(i, src.len()),
                            "unterminated string".to_string(),
                        )
                        .expected(format!("a closing `{close}`")));
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' || c == '.')
                    && src[i + 1..]
                        .chars()
                        .next()
                        .is_some_and(|d| d.is_ascii_digit() || d == '.') =>
            {
                let mut end = i;
                let mut seen_e = false;
                while let Some(&(j, d)) = it.peek() {
                    let sign_after_e =
                        (d == '-' || d == '+') && seen_e && src[..j].ends_with(['e', 'E']);
                    if d.is_ascii_digit()
                        || d == '.'
                        || d == '_'
                        || (j == i && d == '-')
                        || sign_after_e
                    {
                        it.next();
                        end = j + 1;
                    } else if (d == 'e' || d == 'E')
                        && !seen_e
                        && src[j + 1..]
                            .chars()
                            .next()
                            .is_some_and(|x| x.is_ascii_digit() || x == '-' || x == '+')
                    {
                        seen_e = true;
                        it.next();
                        end = j + 1;
                    } else {
                        break;
                    }
                }
                let text: String = src[i..end].chars().filter(|&c| c != '_').collect();
                // A `d` (or 天) straight after an integer makes a day count: `30d`.
                if let Some(&(j, d)) = it.peek()
                    && (d == 'd' || d == 'D' || d == '天')
                    && !src[j + d.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(ident_continue)
                {
                    it.next();
                    let span = Span::new(i, j + d.len_utf8());
                    match text.parse::<u32>() {
                        Ok(days) => {
                            out.push(Token {
                                tok: Tok::Days(days),
                                span,
                            });
                            continue;
                        }
                        Err(_) => {
                            return Err(ExprError::new(
                                ExprErrorKind::Lexical,
                                src,
                                span,
                                format!(
                                    "`{}` is not a whole number of days",
                                    &src[span.start..span.end]
                                ),
                            )
                            .expected("a whole number of days such as `30d`"));
                        }
                    }
                }
                if let Some(&(j, d)) = it.peek()
                    && ident_start(d)
                {
                    let mut k = j;
                    for (x, y) in src[j..].char_indices() {
                        if ident_continue(y) {
                            k = j + x + y.len_utf8();
                        } else {
                            break;
                        }
                    }
                    return Err(ExprError::new(
                        ExprErrorKind::Lexical,
                        src,
                        Span::new(i, k),
                        format!("`{}` is neither a number nor a name", &src[i..k]),
                    )
                    .expected("a number (`30`, `1.5`), a day count (`30d`) or a quoted string"));
                }
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => out.push(Token {
                        tok: Tok::Num(n),
                        span: Span::new(i, end),
                    }),
                    _ => {
                        return Err(ExprError::new(
                            ExprErrorKind::Lexical,
                            src,
                            Span::new(i, end),
                            format!("`{}` is not a number", &src[i..end]),
                        )
                        .expected("a number such as `42` or `-1.5`"));
                    }
                }
            }
            c if ident_start(c) => {
                let mut end = i;
                while let Some(&(j, d)) = it.peek() {
                    if ident_continue(d) {
                        it.next();
                        end = j + d.len_utf8();
                    } else {
                        break;
                    }
                }
                out.push(Token {
                    tok: Tok::Ident(src[i..end].to_string()),
                    span: Span::new(i, end),
                });
            }
            other => {
                return Err(ExprError::new(
                    ExprErrorKind::Lexical,
                    src,
                    Span::new(i, i + other.len_utf8()),
                    format!("unexpected character `{other}`"),
                )
                .expected("a tag name, a value, an operator or a parenthesis"));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(src.len(), src.len()),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators_numbers_days_and_strings() {
        assert_eq!(
            toks("age >= 30 and did(\"login\", 30d) || x != 'a b'"),
            vec![
                Tok::Ident("age".into()),
                Tok::Ge,
                Tok::Num(30.0),
                Tok::Ident("and".into()),
                Tok::Ident("did".into()),
                Tok::LParen,
                Tok::Str("login".into()),
                Tok::Comma,
                Tok::Days(30),
                Tok::RParen,
                Tok::OrSym,
                Tok::Ident("x".into()),
                Tok::Ne,
                Tok::Str("a b".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("-1.5e3 <> 1_000"),
            vec![Tok::Num(-1500.0), Tok::Ne, Tok::Num(1000.0), Tok::Eof]
        );
    }

    #[test]
    fn chinese_names_and_operators() {
        assert_eq!(
            toks("资产等级 = “高净值” 且 非 持有基金"),
            vec![
                Tok::Ident("资产等级".into()),
                Tok::Eq,
                Tok::Str("高净值".into()),
                Tok::AndSym,
                Tok::NotSym,
                Tok::Ident("持有基金".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn spans_are_byte_ranges() {
        let t = lex("ab  >= 'x'").unwrap();
        assert_eq!(t[1].span, Span::new(4, 6));
        assert_eq!(t[2].span, Span::new(7, 10));
        assert_eq!(t[3].span, Span::new(10, 10));
    }

    #[test]
    fn lexical_errors_point_at_the_character() {
        let e = lex("age > 3 # 4").unwrap_err();
        assert_eq!((e.line, e.column), (1, 9));
        assert_eq!(e.message, "unexpected character `#`");
        let e = lex("name = \"abc").unwrap_err();
        assert_eq!(e.message, "unterminated string");
        assert_eq!(e.column, 8);
        let e = lex("x = 12abc").unwrap_err();
        assert!(
            e.message.contains("neither a number nor a name"),
            "{}",
            e.message
        );
        let e = lex("a & b").unwrap_err();
        assert_eq!(e.column, 3);
    }
}
