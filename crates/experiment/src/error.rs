//! One error type for the crate, so the CLI and the HTTP layer can show the message as is.

use std::path::PathBuf;

/// Everything that can go wrong when assigning, analysing or planning an experiment.
/// Each message names the offending field and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A configuration or option value is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The option or field that is wrong (e.g. `arms[1].weight`).
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Two experiments in one layer claim overlapping bucket ranges.
    #[error(
        "layer '{layer}': experiment '{new}' buckets {new_start}..{new_end} overlap experiment '{existing}' buckets {existing_start}..{existing_end}; give each experiment a disjoint range or put it in another layer"
    )]
    OverlappingBuckets {
        /// Layer id.
        layer: String,
        /// Experiment being added.
        new: String,
        /// Start of its range (inclusive).
        new_start: u32,
        /// End of its range (exclusive).
        new_end: u32,
        /// Experiment that already owns part of the range.
        existing: String,
        /// Its start (inclusive).
        existing_start: u32,
        /// Its end (exclusive).
        existing_end: u32,
    },
    /// An experiment id was not registered with the assigner.
    #[error("unknown experiment '{0}': register it with Assigner::add_experiment first")]
    UnknownExperiment(String),
    /// The CSV could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The CSV is malformed (unbalanced quotes, ragged rows) at a given line.
    #[error("{path}:{line}: malformed CSV: {reason}")]
    Csv {
        /// File being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the parser said.
        reason: String,
    },
    /// A column named in the options is not in the header.
    #[error("{path}: no column '{column}' in the header (columns: {available}); check --{option}")]
    MissingColumn {
        /// File being read.
        path: PathBuf,
        /// Requested column.
        column: String,
        /// Which option named it.
        option: String,
        /// Header columns, comma separated (truncated when long).
        available: String,
    },
    /// A metric or covariate cell is empty or not a number.
    #[error(
        "{path}:{line}: column '{column}' has {value:?}, which is not a number; fix the cell or pass skip_invalid (--skip-invalid) to drop such rows"
    )]
    BadCell {
        /// File being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The cell text (truncated to 40 bytes).
        value: String,
    },
    /// The data cannot support the requested analysis (e.g. no control rows).
    #[error("{0}")]
    Data(String),
}

impl ExperimentError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ExperimentError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
