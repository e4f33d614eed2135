//! Errors of the scorecard crate. Each names the variable or file involved and says what to do.

/// What can go wrong while binning, fitting or scoring.
#[derive(Debug, thiserror::Error)]
pub enum ScorecardError {
    /// The target has only one class, so WOE and a logistic fit are undefined.
    #[error(
        "the target has {good} good and {bad} bad rows; a scorecard needs both classes: check --target and --positive"
    )]
    OneClass { good: usize, bad: usize },
    /// A feature column is not as long as the target.
    #[error(
        "variable `{name}` has {got} rows but the target has {expected}: columns must be aligned"
    )]
    Length {
        name: String,
        got: usize,
        expected: usize,
    },
    /// An option is outside its valid range.
    #[error("invalid option {option} = {value}: {hint}")]
    Option {
        option: &'static str,
        value: String,
        hint: &'static str,
    },
    /// Scoring data lacks a variable the scorecard uses.
    #[error("variable `{0}` used by the scorecard is missing from the scoring data")]
    MissingVariable(String),
    /// A variable was numeric at fit time and categorical at scoring time (or the reverse).
    #[error("variable `{name}` was {fitted} when the scorecard was fitted but is {given} now")]
    KindMismatch {
        name: String,
        fitted: &'static str,
        given: &'static str,
    },
    /// No variable passed the IV and correlation filters.
    #[error(
        "no variable has IV >= {min_iv} (best: {best}); lower --min-iv or check that the target is right"
    )]
    NoVariables { min_iv: f64, best: String },
    /// The Newton iterations produced a non-finite value.
    #[error("logistic regression diverged ({0}); try a larger L2 penalty")]
    Diverged(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ScorecardError>;
