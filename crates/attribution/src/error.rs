//! The crate's error type. Messages name the file, line, column or option at fault and say
//! how to fix it, because these errors reach a marketing analyst through the CLI.

use std::path::PathBuf;

/// Everything that can go wrong while reading inputs, building paths or attributing.
#[derive(Debug, thiserror::Error)]
pub enum AttributionError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A CSV file is malformed or lacks a required column.
    #[error("{path}: {message}")]
    Csv { path: PathBuf, message: String },
    /// A field of a CSV file cannot be parsed.
    #[error("{path}:{line}: column `{column}`: {message}")]
    Field {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    /// A caller-supplied option is out of range.
    #[error("invalid option `{option}`: {message}")]
    Option {
        option: &'static str,
        message: String,
    },
    /// An in-memory record is unusable (negative counts, non-finite value, ...).
    #[error("record {index}: {message}")]
    Record { index: usize, message: String },
    /// The input holds nothing to attribute.
    #[error("nothing to attribute: {0}")]
    Empty(String),
}

pub type Result<T> = std::result::Result<T, AttributionError>;
