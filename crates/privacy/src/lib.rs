//! Differential privacy for aggregate reports that leave the bank.
//!
//! * [`sample`]: exact discrete Laplace and discrete Gaussian samplers (Canonne, Kamath and
//!   Steinke 2020) in integer arithmetic — no floating-point inverse CDF on the noise path.
//! * [`mechanism`]: calibration of the noise from (ε, δ) and a sensitivity.
//! * [`release`]: noisy counts, sums and means per group, with contribution bounding
//!   (one group per person, values clamped) and thresholding when the group keys are not
//!   public.
//! * [`budget`]: the per-report privacy-budget ledger (basic composition), persisted in
//!   the data directory; a spend that would exceed the budget is refused.
//!
//! The `opendp` crate was considered: its default build compiles OpenSSL from source and
//! its polars/FFI layers dwarf what a fixed aggregate report needs, so this crate
//! implements the few mechanisms needed and tests them statistically (see `docs/privacy.md`).
//!
//! ```
//! use rand::SeedableRng;
//! use zhiying_privacy::{Aggregate, Cost, Mechanism, Row, Spec, release};
//! let rows = (0..100).map(|i| Row { unit: format!("c{i}"), key: vec!["上海".into()], value: None });
//! let spec = Spec { aggregate: Aggregate::Count, mechanism: Mechanism::Laplace,
//!     cost: Cost::pure(1.0).unwrap(), bounds: None, keys: Some(vec![vec!["上海".into()]]) };
//! let mut rng = rand::rngs::StdRng::from_os_rng();
//! let r = release(&spec, rows, &mut rng).unwrap();
//! assert_eq!(r.groups.len(), 1);
//! ```

pub mod budget;
pub mod mechanism;
pub mod release;
pub mod sample;

use std::path::Path;

pub use budget::{BudgetLedger, Charged, ReportBudget, Spend};
pub use mechanism::{Cost, Mechanism, Noise};
pub use release::{Aggregate, Group, Release, Row, Spec, release};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("invalid input data: {0}")]
    InvalidData(String),
    #[error(
        "privacy budget of report {report:?} exhausted: this release needs epsilon {requested_epsilon} / delta {requested_delta:e}, but only epsilon {remaining_epsilon} / delta {remaining_delta:e} remain. Nothing was released. Use a smaller --epsilon, or a new report with its own budget (and its own sign-off)"
    )]
    BudgetExhausted {
        report: String,
        requested_epsilon: f64,
        requested_delta: f64,
        remaining_epsilon: f64,
        remaining_delta: f64,
    },
    #[error(
        "the budget of report {report:?} is fixed at epsilon {epsilon} / delta {delta:e} since its first release and cannot be changed; pass the same --budget-epsilon/--budget-delta or name a new report"
    )]
    BudgetFixed {
        report: String,
        epsilon: f64,
        delta: f64,
    },
    #[error("privacy budget ledger: {0}")]
    Ledger(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl PrivacyError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        PrivacyError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
