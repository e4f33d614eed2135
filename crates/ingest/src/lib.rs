//! Ingestion: validate, clean and deduplicate CSV, JSON Lines and Parquet files into the
//! canonical Parquet facts of a data directory, quarantining every rejected row with a
//! reason, and derive identity links and a data-quality report from what is stored.
//!
//! ```no_run
//! use zhiying_core::{DataDir, schema};
//! use zhiying_ingest::{IngestOptions, ingest_files};
//! let dir = DataDir::new("/tmp/bank");
//! let s = ingest_files(&dir, &schema::CUSTOMERS, &["customers.csv".into()], &IngestOptions::default())?;
//! println!("{} accepted, {} rejected -> {:?}", s.accepted, s.rejected, s.quarantine_path);
//! # Ok::<(), zhiying_ingest::IngestError>(())
//! ```
//!
//! Design decisions worth knowing:
//! * **Header.** Every required column must be present; optional columns may be missing
//!   (stored as null). Unknown columns are a fatal error (a misspelt optional column would
//!   otherwise be silently lost), except columns whose name is empty, starts with `_`, or
//!   is pandas' `Unnamed: N` index. Header names are trimmed and lower-cased.
//! * **Rows.** A row is either accepted, rejected (quarantined with its reason) or a
//!   duplicate; `accepted + rejected + duplicates_skipped == rows_read` always. Blank lines
//!   are not rows. A repeat within the input is quarantined as "duplicate of line N" but
//!   counted in `duplicates_skipped`; a key already stored is only counted.
//! * **Batches.** One run over one or more files is one batch whose id hashes the table,
//!   the files' bytes and the options, so re-running is idempotent. Files are written to
//!   temp names and renamed: quarantine, then Parquet, then the run record, which marks the
//!   batch committed. A crash leaves at most temp files, which the rerun overwrites.
//! * **Line numbers.** CSV: the physical line where the row starts (header = line 1).
//!   JSON Lines: the physical line. Parquet: the 1-based row number.

mod clean;
mod error;
/// Entry points for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod ingest;
mod keys;
mod quality;
mod source;
mod validate;

pub use clean::resident_id_check_char;
pub use error::IngestError;
pub use identity::{IdentitySummary, resolve_identities};
pub use ingest::{fact_writer_builder, ingest_files, run_record_path};
pub use keys::batch_files;
pub use quality::{quality_report, table_row_counts};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zhiying_core::money::AmountUnit;

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Csv,
    Parquet,
    Jsonl,
}

impl InputFormat {
    /// Guesses the format from the extension: `.csv`, `.csv.gz`, `.txt` (and `.txt.gz`) are
    /// CSV, `.parquet`/`.pq` Parquet, `.jsonl`/`.ndjson` (optionally `.gz`) JSON Lines.
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "csv" | "txt" => Some(InputFormat::Csv),
            "parquet" | "pq" => Some(InputFormat::Parquet),
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Csv => "csv",
            InputFormat::Parquet => "parquet",
            InputFormat::Jsonl => "jsonl",
        }
    }
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(InputFormat::Csv),
            "parquet" => Ok(InputFormat::Parquet),
            "jsonl" | "ndjson" => Ok(InputFormat::Jsonl),
            other => Err(format!(
                "'{other}' is not an input format: use csv, parquet or jsonl"
            )),
        }
    }
}

/// How to read the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOptions {
    /// `None`: guess each file's format from its extension.
    pub format: Option<InputFormat>,
    /// How plain numbers in money columns are read (分 by default; decimals mean yuan).
    pub amount_unit: AmountUnit,
    /// Offset east of UTC of timestamps written without one (default +08:00).
    pub naive_offset_secs: i32,
    /// CSV field delimiter (default `,`).
    pub delimiter: u8,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: None,
            amount_unit: AmountUnit::Fen,
            naive_offset_secs: zhiying_core::time::CST_OFFSET_SECS,
            delimiter: b',',
        }
    }
}

/// What one ingest run did. Also stored as the batch's run record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub table: String,
    pub batch_id: String,
    pub files: Vec<String>,
    pub rows_read: u64,
    pub accepted: u64,
    /// Rows that failed validation (all are in the quarantine file).
    pub rejected: u64,
    /// Rows whose key was already stored or appeared earlier in the input.
    pub duplicates_skipped: u64,
    pub quarantine_path: Option<PathBuf>,
    pub fact_path: Option<PathBuf>,
    /// Rejections per reason kind (`bad_amount`, `bad_code`, `orphan_reference`, …).
    pub rejections_by_reason: BTreeMap<String, u64>,
    /// Rejections per column blamed (rows rejected for the row as a whole are not counted).
    #[serde(default)]
    pub rejections_by_column: BTreeMap<String, u64>,
    /// True when this batch had already been ingested: nothing was written.
    #[serde(default)]
    pub already_ingested: bool,
    pub seconds: f64,
}
