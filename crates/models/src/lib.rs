//! Tabular modelling for Zhiying: what a bank data scientist would otherwise do in Python
//! with pandas, LightGBM and scikit-learn, on the same files, in-house.
//!
//! - [`frame`]: a typed table read from CSV (any of `,` `;` tab `|`, gzip or not), with
//!   numeric and categorical columns detected and missing values kept as missing.
//! - [`gbdt`]: gradient-boosted trees trained by LightGBM 4.7 (binary, multiclass,
//!   regression; categorical features, early stopping, class weights, monotone
//!   constraints, gain/split importance, TreeSHAP contributions, save and load).
//! - [`folds`]: stratified K-fold splits, deterministic by seed.
//! - [`eval`]: AUC, KS, Gini, log-loss, ROC, lift and gains, calibration, cost-priced
//!   confusion matrices, PSI/CSI drift and fairness, gathered in [`eval::EvaluationReport`].
//! - [`artifact`]: a trained model on disk with its exact preprocessing and its
//!   evaluation report (`zhiying model train` / `zhiying model score`).
//! - [`cv`]: the [`cv::BinaryClassifier`] trait every algorithm implements, and
//!   cross-validation over it (what `zhiying model cv` runs).
//!
//! ```no_run
//! use zhiying_models::{cv, folds, frame, gbdt};
//! let data = frame::read_csv("datasets/bank-full.csv.gz".as_ref(), &frame::CsvOptions::default())?;
//! let (mut x, target) = data.split_binary_target("y", None)?;
//! x.drop_columns(&["duration"])?; // known only after the call: it would leak the outcome
//! let folds = folds::stratified_k_fold(&target.y, 5, 42)?;
//! let report = cv::cross_validate(&gbdt::Gbdt::default(), &x, &target.y, &folds, |_| {})?;
//! println!("AUC {:.4} ± {:.4}", report.auc.mean, report.auc.std);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod artifact;
pub mod cv;
pub mod eval;
pub mod folds;
pub mod frame;
pub mod gbdt;

pub use cv::{BinaryClassifier, CvReport, FittedBinaryClassifier, ModelError, cross_validate};
pub use eval::EvaluationReport;
pub use folds::{Fold, stratified_k_fold};
pub use frame::{BinaryTarget, Column, ColumnData, CsvOptions, Frame, FrameError, read_csv};
pub use gbdt::{Gbdt, GbdtConfig, GbdtModel};
