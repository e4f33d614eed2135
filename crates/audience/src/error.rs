//! Errors. [`ExprError`] points into the expression; [`AudienceError`] covers everything else
//! (files, store-independent I/O, bad arguments).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A byte range in the expression source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// What kind of mistake an expression has; stable, machine-readable (`code()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprErrorKind {
    /// A character that starts no token, or an unterminated string.
    Lexical,
    /// The token sequence does not fit the grammar.
    Syntax,
    /// A tag name that is not in the catalogue.
    UnknownTag,
    /// A category code, product, product category or event type that does not exist.
    UnknownValue,
    /// An operator or value that does not fit the tag's kind.
    Type,
}

impl ExprErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ExprErrorKind::Lexical => "expr_lexical",
            ExprErrorKind::Syntax => "expr_syntax",
            ExprErrorKind::UnknownTag => "expr_unknown_tag",
            ExprErrorKind::UnknownValue => "expr_unknown_value",
            ExprErrorKind::Type => "expr_type",
        }
    }
}

/// An invalid expression: where (byte span, 1-based line and column), what went wrong, and
/// what would have been accepted. `Display` renders the message with the source line and a
/// caret under the offending part, like a compiler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExprError {
    pub kind: ExprErrorKind,
    pub message: String,
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub column: usize,
    /// What the parser or checker expected there, e.g. "a value after `=`".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// A close match for an unknown name ("did you mean …").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The accepted values when the set is small (category codes, event types).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub valid: Vec<String>,
    /// The source line holding the error.
    pub snippet: String,
    /// `snippet` underlined: spaces then carets, aligned for wide (CJK) characters.
    pub caret: String,
}

impl ExprError {
    pub(crate) fn new(kind: ExprErrorKind, src: &str, span: Span, message: String) -> Self {
        let start = span.start.min(src.len());
        let end = span.end.clamp(start, src.len());
        let line_start = src[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = src[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(src.len());
        let line = src[..start].matches('\n').count() + 1;
        let column = src[line_start..start].chars().count() + 1;
        let snippet = src[line_start..line_end].to_string();
        let pad: usize = src[line_start..start].chars().map(display_width).sum();
        let under: usize = src[start..end.min(line_end)]
            .chars()
            .map(display_width)
            .sum::<usize>()
            .max(1);
        let caret = format!("{}{}", " ".repeat(pad), "^".repeat(under));
        ExprError {
            kind,
            message,
            span: Span::new(start, end),
            line,
            column,
            expected: None,
            suggestion: None,
            valid: Vec::new(),
            snippet,
            caret,
        }
    }
    pub(crate) fn expected(mut self, what: impl Into<String>) -> Self {
        self.expected = Some(what.into());
        self
    }
    pub(crate) fn suggest(mut self, s: Option<String>) -> Self {
        self.suggestion = s;
        self
    }
    pub(crate) fn valid(mut self, v: Vec<String>) -> Self {
        self.valid = v;
        self
    }
    /// The stable error code (`expr_syntax`, `expr_unknown_tag`, …).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    /// A one-line hint: the suggestion or the valid values, if any.
    pub fn hint(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.suggestion {
            parts.push(format!("did you mean `{s}`?"));
        }
        if !self.valid.is_empty() {
            let shown: Vec<&str> = self.valid.iter().take(20).map(String::as_str).collect();
            let more = if self.valid.len() > 20 {
                format!(" … ({} in all)", self.valid.len())
            } else {
                String::new()
            };
            parts.push(format!("valid: {}{more}", shown.join(", ")));
        }
        if parts.is_empty() {
            "See docs/audiences.md for the expression grammar.".to_string()
        } else {
            parts.join(" ")
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "error at {}:{}: {}",
            self.line, self.column, self.message
        )?;
        writeln!(f, "  {}", self.snippet)?;
        write!(f, "  {}", self.caret)?;
        if let Some(s) = &self.suggestion {
            write!(f, "\n  did you mean `{s}`?")?;
        }
        if !self.valid.is_empty() {
            write!(f, "\n  {}", self.hint())?;
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}

/// Terminal columns a character takes: 2 for East Asian wide characters, else 1.
fn display_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF |
        0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF |
        0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

/// Levenshtein distance over characters, for did-you-mean suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let w = word.to_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            let lc = c.to_lowercase();
            // A prefix or containment ("aum" for "aum_tier") is a good hint too.
            let d = if lc.starts_with(&w) && w.chars().count() >= 3 {
                1
            } else {
                edit_distance(&w, &lc)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c.to_string())
}

/// Failures outside the expression itself.
#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error(
        "no tags at {path}: build them first with `zhiying tags build --data-dir DIR` (or write a test fixture with `zhiying audience fixture`)"
    )]
    NoTags { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid tag metadata: {source}")]
    Meta {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot read Parquet {path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{path}: column `{column}` {problem}")]
    Column {
        path: PathBuf,
        column: String,
        problem: String,
    },
    #[error(
        "{path} has {rows} customers; audiences address customers with 32-bit ids, so at most {max}"
    )]
    TooManyCustomers {
        path: PathBuf,
        rows: usize,
        max: u64,
    },
    #[error("{0}")]
    Expr(#[from] Box<ExprError>),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl From<ExprError> for AudienceError {
    fn from(e: ExprError) -> Self {
        AudienceError::Expr(Box::new(e))
    }
}
