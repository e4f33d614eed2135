//! Fatal ingest errors. Bad *rows* are never errors: they go to quarantine. These are the
//! problems that stop a whole run (unreadable file, wrong header, full disk), and each
//! message names the file and says how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no input files given: pass at least one CSV, Parquet or JSON Lines file")]
    NoFiles,

    #[error("table '{table}' is not a fact table: ingest loads only {expected}")]
    NotFactTable { table: String, expected: String },

    #[error(
        "{}: cannot tell the format from the file name: name it .csv, .csv.gz, .txt, .parquet, .jsonl or .ndjson, or pass the format explicitly (csv, parquet or jsonl)",
        file.display()
    )]
    UnknownFormat { file: PathBuf },

    #[error("{}: the file is empty: a CSV file needs a header line naming the columns ({expected})", file.display())]
    EmptyFile { file: PathBuf, expected: String },

    #[error(
        "{}: missing required column(s) {}: the header must name every required column of table '{table}'; expected columns: {}",
        file.display(), missing.join(", "), expected.join(", ")
    )]
    MissingColumns {
        file: PathBuf,
        table: String,
        missing: Vec<String>,
        expected: Vec<String>,
    },

    #[error(
        "{}: unknown column(s) {}: rename them to one of {} or remove them (columns whose name is empty or starts with '_' are ignored)",
        file.display(), unknown.join(", "), expected.join(", ")
    )]
    UnknownColumns {
        file: PathBuf,
        unknown: Vec<String>,
        expected: Vec<String>,
    },

    #[error("{}: column '{column}' appears more than once in the header: keep one", file.display())]
    DuplicateColumn { file: PathBuf, column: String },

    #[error("{}: cannot read CSV: {source}", file.display())]
    Csv { file: PathBuf, source: csv::Error },

    #[error("{}: Parquet error: {source}", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },

    #[error("{}: Arrow error: {source}", path.display())]
    Arrow {
        path: PathBuf,
        source: arrow::error::ArrowError,
    },

    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(
        "{}: the stored batch holds {stored} rows but this input yields {accepted}: the batch was written from different data; move the file away and ingest again",
        path.display()
    )]
    BatchMismatch {
        path: PathBuf,
        stored: u64,
        accepted: u64,
    },

    #[error("the writer thread stopped unexpectedly: {0}")]
    Pipeline(String),
}

impl IngestError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        IngestError::Parquet {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn arrow(path: impl Into<PathBuf>, source: arrow::error::ArrowError) -> Self {
        IngestError::Arrow {
            path: path.into(),
            source,
        }
    }
}
