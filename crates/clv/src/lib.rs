//! Customer lifetime value: the "buy till you die" models a bank's data scientist would
//! otherwise run in lifetimes or PyMC-Marketing, fitted by maximum likelihood in pure Rust.
//!
//! * [`BgNbdParams`] — BG/NBD (Fader, Hardie & Lee 2005);
//! * [`ParetoNbdParams`] — Pareto/NBD (Schmittlein, Morrison & Colombo 1987);
//! * [`GammaGammaParams`] — Gamma-Gamma spend (Fader, Hardie & Lee 2005).
//!
//! Each `fit` works on log-parameters with several deterministic starts (Nelder-Mead, then
//! BFGS with analytic gradients for BG/NBD and Gamma-Gamma), keeps the best, and reports the
//! log-likelihood and asymptotic standard errors. Identical `(x, t_x, T)` rows are merged
//! before fitting and large inputs are evaluated on all cores, so the CDNOW fits take
//! milliseconds and a million customers a few seconds (see `docs/benchmarks.md`).
//! [`SummaryBuilder`] turns transactions into the summary, [`customer_lifetime_value`] and
//! [`predict`] give P(alive), expected purchases, expected spend and discounted CLV.
//!
//! ```
//! use zhiying_clv::{BgNbdParams, FitOptions, RfmRow};
//!
//! // Three customers: (repeat purchases, weeks to last purchase, weeks observed).
//! let rows = [RfmRow::new(2.0, 30.4, 38.9), RfmRow::new(0.0, 0.0, 38.9), RfmRow::new(5.0, 20.0, 35.0)];
//! let fit = BgNbdParams::fit(&rows, &FitOptions::default()).unwrap();
//! let p = fit.params;
//! let next_quarter = p.conditional_expected_purchases(13.0, &rows[0]);
//! assert!(next_quarter > 0.0 && p.probability_alive(&rows[0]) <= 1.0);
//! ```

mod bgnbd;
mod data;
mod error;
mod fit;
mod gamma_gamma;
pub mod optim;
mod pareto;
pub mod simulate;
pub mod special;
mod summary;
mod value;

pub use bgnbd::BgNbdParams;
pub use data::{CustomerSummary, RfmRow, read_summary_csv, validate_rows};
pub use error::ClvError;
pub use fit::{FitOptions, FitReport};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParams};
pub use pareto::ParetoNbdParams;
pub use summary::{
    Summary, SummaryBuilder, SummaryOptions, TimeUnit, TransactionColumns, parse_day,
    read_transactions_csv,
};
pub use value::{ClvOptions, Prediction, PurchaseModel, customer_lifetime_value, predict};
