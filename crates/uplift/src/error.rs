//! The one error type of this crate: every message names the input at fault and the fix.

use std::path::PathBuf;

use zhiying_models::{FrameError, ModelError, folds::FoldError};

/// Errors from fitting uplift models, scoring them, planning targeting or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum UpliftError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("folds: {0}")]
    Fold(#[from] FoldError),
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: expected {expected} values (one per row), found {found}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{what}: value at row {row} is not finite ({value}); drop or fill such rows first")]
    NotFinite {
        what: &'static str,
        row: usize,
        value: f64,
    },
    #[error("there are no rows to score; pass at least one row")]
    Empty,
    #[error(
        "the {arm} group has no rows; uplift needs both treated and control rows (check the treatment and control values)"
    )]
    EmptyArm { arm: String },
    #[error(
        "arm index {arm} at row {row} is out of range: arms are 0 (control) to {max} (the treatments)"
    )]
    ArmOutOfRange { row: usize, arm: usize, max: usize },
    #[error(
        "{what} needs a binary (0/1) outcome, found {value} at row {row}; use the T- or X-learner for continuous outcomes"
    )]
    NotBinary {
        what: &'static str,
        row: usize,
        value: f64,
    },
    #[error("k = {k} is not a share strictly between 0 and 1 (e.g. 0.1 for the top 10%)")]
    InvalidK { k: f64 },
    #[error(
        "uplift@{k}: the top {k} holds no {group} rows, so its response rate is undefined; use the by_group strategy or a larger k"
    )]
    EmptyGroupAtK { k: f64, group: &'static str },
    #[error(
        "the normalising area is zero (the perfect and random curves coincide, e.g. no responder at all), so the normalised score is undefined"
    )]
    DegenerateCurve,
    #[error("column {column:?}: no row has the {role} value {value:?}; its values are {values}")]
    ArmValueNotFound {
        column: String,
        role: &'static str,
        value: String,
        values: String,
    },
    #[error("the treatment and control values are both {value:?}; pass two different values")]
    SameArms { value: String },
    #[error("column {column:?}, line {line}: the {role} is missing; drop or fill such rows first")]
    MissingValue {
        column: String,
        role: &'static str,
        line: u64,
    },
    #[error("column {column:?} is both the {role} and in --exclude; remove it from --exclude")]
    ExcludedRole { column: String, role: &'static str },
    #[error("no feature columns are left after removing treatment, outcome and --exclude columns")]
    NoFeatures,
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("unknown learner {0:?}; expected one of: t, x, x-fitted, ct")]
    UnknownLearner(String),
}
