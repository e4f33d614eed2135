//! Audiences (人群圈选): a small boolean language over customer tags, evaluated on roaring
//! bitmaps, so a count over a million customers takes milliseconds.
//!
//! The pieces, in the order a request meets them:
//!
//! * [`parse`] (lexer + Pratt parser) turns text into an AST, with errors that carry the
//!   line, column, a caret under the mistake and what was expected;
//! * [`AudienceIndex::compile`] binds the AST to the tag catalogue: names (or unambiguous
//!   Chinese names) to tags, operators to tag kinds, values to category codes — unknown
//!   names get a did-you-mean and unknown codes the list of valid ones;
//! * [`AudienceIndex::evaluate`] computes the members as a [`RoaringBitmap`] of dense ids
//!   (rows of `tags.parquet`); `not` is the complement within all customers;
//! * [`ops`] samples, compares (overlap matrix and Venn regions), snapshots and exports.
//!
//! The grammar, with examples, is in `docs/audiences.md`. In short:
//!
//! ```text
//! aum_tier in ("high", "private") and age between 30 and 55
//!   and not holds category "fund" and did("login", 30d, 3)
//!   and (city_tier = "tier1" or churn_risk >= 0.6)
//! ```
//!
//! ```
//! use zhiying_audience::{IndexBuilder, TagValues, meta::{TagMeta, TagKind}};
//! let ids = vec!["C1".to_string(), "C2".to_string(), "C3".to_string()];
//! let mut b = IndexBuilder::new(ids);
//! let age = TagMeta { key: "age".into(), name_zh: "年龄".into(), name_en: "Age".into(),
//!     description: String::new(), category: "basic".into(), kind: TagKind::Numeric,
//!     values: vec![], version: 1.into(), owner: String::new() };
//! b.tag(age, TagValues::Numeric(vec![25.0, 41.0, f64::NAN]));
//! b.holding(1, "P0007").product("P0007", "fund");
//! let index = b.build().unwrap();
//! let members = index.members("年龄 >= 30 and holds category \"fund\"").unwrap();
//! assert_eq!(members.iter().collect::<Vec<_>>(), vec![1]);
//! let err = index.members("agee > 3").unwrap_err();
//! assert_eq!(err.suggestion.as_deref(), Some("age"));
//! ```

// An `ExprError` carries the source line, caret and suggestions, so it is large; it is
// returned at most once per request, never in a loop, and boxing it would only complicate
// every caller's pattern matching.
#![allow(clippy::result_large_err)]

mod error;
pub mod fixture;
mod index;
mod lexer;
pub mod live;
mod load;
pub mod meta;
pub mod ops;
mod parser;
mod query;
pub mod segments;

pub use error::{AudienceError, ExprError, ExprErrorKind, Span};
pub use index::{AudienceIndex, IndexBuilder, IndexStats, NULL_CODE, TagValues};
pub use live::{LiveFacts, NoLiveFacts};
pub use load::{LoadReport, load_index, read_meta, tags_meta_path, tags_parquet};
pub use parser::{Ast, CmpOp, parse};
pub use query::Query;
pub use roaring::RoaringBitmap;
