//! The crate's error type. Messages name the row, column or parameter at fault and say how to fix it.

use std::path::PathBuf;

/// Everything that can go wrong while reading, summarising, fitting or predicting.
#[derive(Debug, thiserror::Error)]
pub enum ClvError {
    /// A customer row violates the model's data contract (e.g. `t_x > T`).
    #[error("row {row}: {message}")]
    InvalidRow { row: usize, message: String },
    /// The input holds no usable customers.
    #[error("no usable customers: {0}")]
    Empty(String),
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
    /// The optimiser found no finite likelihood from any start.
    #[error("{model}: the optimiser found no finite log-likelihood from {starts} starts; {hint}")]
    NoConvergence {
        model: &'static str,
        starts: usize,
        hint: String,
    },
    /// A prediction is undefined for these parameters (e.g. Gamma-Gamma with q <= 1).
    #[error("{0}")]
    Undefined(String),
    /// A caller-supplied option is out of range.
    #[error("invalid option `{option}`: {message}")]
    Option {
        option: &'static str,
        message: String,
    },
}
