//! Errors name the file, the line and the field, and say how to fix the input.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {action} failed: {source} (check the path exists and is readable/writable)")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path}: line {line}: malformed CSV: {source} (is this the unmodified {expected} file?)"
    )]
    Csv {
        path: PathBuf,
        line: u64,
        expected: &'static str,
        #[source]
        source: csv::Error,
    },

    #[error(
        "{path}: header is {found:?}, expected {expected:?}; pass the unmodified {dataset} file"
    )]
    Header {
        path: PathBuf,
        found: Vec<String>,
        expected: Vec<String>,
        dataset: &'static str,
    },

    #[error(
        "{path}: line {line}: expected {expected} fields, found {found}; the row is truncated or has extra separators"
    )]
    FieldCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },

    #[error("{path}: line {line}: field `{field}` = {value:?}: {reason}")]
    Field {
        path: PathBuf,
        line: u64,
        field: &'static str,
        value: String,
        reason: String,
    },

    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },

    /// A converter wrote a column the catalogue does not declare: a bug in this crate.
    #[error(
        "internal: table `{table}` has no column `{column}` in zhiying_core::schema; fix the converter"
    )]
    UnknownColumn {
        table: &'static str,
        column: &'static str,
    },
}

impl DatasetError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        DatasetError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
