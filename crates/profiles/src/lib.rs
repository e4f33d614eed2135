//! Customer profiles (客户画像): declarative, versioned, explainable tags.
//!
//! A tag is data ([`def::TagDef`]): a key, zh/en names, a description, a category, a kind
//! (categorical, numeric or flag), value labels, a version, an owner, a status, and a body —
//! an aggregate over a source table, a SQL query, or a [rule](rule) over other tags. The
//! built-in catalogue (60+ tags: basic attributes, AUM tiers, transaction behaviour and
//! trend, channel preference and best contact hour, RFM scores and the 8 RFM classes,
//! lifecycle stage, holdings, risk appetite, salary and large-inflow detection) is embedded
//! from `src/builtin/*.toml`; users add, version and retire their own in
//! `DATA_DIR/tags/*.toml` without recompiling ([`catalog::add`], [`catalog::retire`]),
//! and every change is kept in `DATA_DIR/tags/history.jsonl`.
//!
//! [`build::build`] compiles all active tags into one SQL statement (one scan per source,
//! see [`build::compile`]), runs it on the [`AnalyticsEngine`](zhiying_engine::AnalyticsEngine)
//! and writes `derived/tags.parquet` (one row per customer: `customer_id`, then one column
//! per tag), `derived/tags.meta.json` and `derived/tags.stats.json`.
//! [`explain::explain`] says, for each value, which rule branch or query produced it and
//! from which inputs.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use zhiying_core::DataDir;
//! use zhiying_profiles::{build, explain};
//! let dd = DataDir::new("data");
//! let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
//! let summary = build::build(&dd, &engine, &build::BuildOptions::default(), &|_| {}).await?;
//! println!("{} customers × {} tags in {:.1}s", summary.customers, summary.tags, summary.seconds);
//! if let Some(e) = explain::explain(&dd, "C00000001", Some("rfm_class"))? {
//!     println!("{}", e.tags[0].matched.as_deref().unwrap_or(""));
//! }
//! # Ok(()) }
//! ```

pub mod build;
pub mod catalog;
pub mod def;
pub mod explain;
pub mod rule;
pub mod sources;

pub use build::{BuildOptions, BuildSummary, TagsMeta, build};
pub use catalog::Catalog;
pub use def::{Kind, Status, TagDef};
