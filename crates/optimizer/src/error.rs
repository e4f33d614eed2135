//! Errors that name the offending field and say how to fix it.

use thiserror::Error;

/// A problem that cannot be built as given.
#[derive(Debug, Error, PartialEq)]
pub enum ProblemError {
    #[error("max offers per customer is {cap}; use a cap between 1 and 255")]
    InvalidCap { cap: u32 },
    #[error("too many {what}: at most {max} are supported; split the run")]
    TooMany { what: &'static str, max: u64 },
    #[error("{what} name {name:?} is used twice; names must be unique")]
    DuplicateName { what: &'static str, name: String },
    #[error(
        "campaign {campaign:?} has budget {budget}; a budget must be a finite number ≥ 0 (omit it for no budget)"
    )]
    InvalidBudget { campaign: String, budget: f64 },
    #[error("offer {offer:?} has min {min} above max {max}; lower min or raise max")]
    OfferMinAboveMax { offer: String, min: u64, max: u64 },
    #[error(
        "customer {customer:?} candidate #{candidate}: {what} id {id} was never added; add the {what} before the customers"
    )]
    UnknownId {
        customer: String,
        candidate: usize,
        what: &'static str,
        id: u16,
    },
    #[error(
        "customer {customer:?} candidate #{candidate}: {field} is {got}; it must be finite (and cost ≥ 0)"
    )]
    InvalidNumber {
        customer: String,
        candidate: usize,
        field: &'static str,
        got: f64,
    },
    #[error(
        "customer {customer:?} is added twice; give all of a customer's candidates in one call"
    )]
    DuplicateCustomer { customer: String },
    #[error("line {line}: {message}")]
    Input { line: u64, message: String },
    #[error("reading candidates: {0}")]
    Csv(String),
}

/// The optimiser could not run on this problem.
#[derive(Debug, Error, PartialEq)]
pub enum OptimizeError {
    #[error(
        "offer {offer:?} needs at least {min} customers but only {eligible} customers are eligible for it; lower its min"
    )]
    MinUnreachable {
        offer: String,
        min: u64,
        eligible: u64,
    },
    #[error("option {field} is {got}; {fix}")]
    InvalidOption {
        field: &'static str,
        got: f64,
        fix: &'static str,
    },
}
