//! Uplift modelling for Zhiying: whom a campaign actually changes, not who would respond.
//!
//! - [`learners`]: T-learner, X-learner (known or fitted propensity) and class
//!   transformation on LightGBM boosted trees, for one or several treatment arms against
//!   control, with binary (visit, conversion) or continuous (spend) outcomes.
//! - [`metrics`]: Qini and uplift curves, the Qini coefficient, AUUC and uplift@k, with
//!   scikit-uplift's exact definitions (checked against it to 1e-6).
//! - [`targeting`]: whom to contact under a contact or money budget, the expected
//!   incremental conversions or spend, and the curve behind it; best arm per customer.
//! - [`evaluate`]: cross-fitted evaluation of a learner on a CSV of a randomised test
//!   (`zhiying uplift evaluate`), with per-fold and mean ± std metrics, a Qini curve
//!   for the chart, and the fold of every row for a Python cross-check.
//!
//! ```no_run
//! use zhiying_uplift::{EvaluateOptions, evaluate_csv};
//! let mut opts = EvaluateOptions::new(
//!     "datasets/hillstrom.csv.gz", "segment", "Womens E-Mail", "No E-Mail", "visit",
//! );
//! opts.exclude = vec!["conversion".into(), "spend".into()];
//! let report = evaluate_csv(&opts)?;
//! println!("{report}"); // or serde_json::to_string(&report)
//! assert!(report.qini.mean > report.random_qini.mean);
//! # Ok::<(), zhiying_uplift::UpliftError>(())
//! ```
//!
//! Fitting and targeting directly:
//!
//! ```no_run
//! # use zhiying_models::Frame;
//! # fn demo(x: &Frame, arm: &[usize], y: &[f64]) -> Result<(), zhiying_uplift::UpliftError> {
//! use zhiying_uplift::learners::{Learner, OutcomeKind, Propensity, UpliftConfig, UpliftModel};
//! use zhiying_uplift::targeting::{Budget, TargetingOptions, plan_targeting};
//! let cfg = UpliftConfig {
//!     learner: Learner::X { propensity: Propensity::TrainingShare },
//!     ..UpliftConfig::default()
//! };
//! // arm: 0 = control, 1 = e-mail, 2 = phone call
//! let model = UpliftModel::fit(x, arm, y, 2, OutcomeKind::Binary, &cfg)?;
//! let uplift = model.predict(x)?;
//! let plan = plan_targeting(
//!     &uplift.arm(1),
//!     &TargetingOptions {
//!         budget: Budget::Money { budget: 5_000.0, cost_per_contact: 0.5 },
//!         value_per_unit: 40.0, // margin per conversion
//!     },
//! )?;
//! println!("{plan}");
//! # Ok(()) }
//! ```

pub mod error;
pub mod evaluate;
pub mod learners;
pub mod metrics;
pub mod targeting;

pub use error::UpliftError;
pub use evaluate::{EvaluateOptions, UpliftReport, evaluate_csv};
pub use learners::{Learner, OutcomeKind, Propensity, UpliftConfig, UpliftModel, UpliftPrediction};
