//! Zhiying's thin core: the canonical retail-bank data model shared by every crate.
//!
//! * [`schema`] is the catalogue of canonical tables. Ingestion validates against it,
//!   the synthetic bank writes it, the engine registers it and Arrow schemas derive from it,
//!   so a column is declared exactly once.
//! * [`money`] holds amounts as integer 分 ([`Fen`]); [`time`] parses to UTC.
//! * [`domain`] has the enums and records the other crates exchange.
//!
//! This crate has no I/O and no heavy dependencies: everything else depends on it.

pub mod access;
pub mod domain;
pub mod layout;
pub mod money;
pub mod quality;
pub mod schema;
pub mod time;

pub use layout::DataDir;
pub use money::Fen;
pub use schema::{ColumnDef, ColumnType, Sensitivity, TableDef, TableKind};
