//! Experiments for Zhiying: deterministic hash assignment with layers and holdouts, and the
//! statistics a bank would otherwise get from GrowthBook + statsmodels: SRM check,
//! frequentist (Welch's t, two-proportion z, delta-method ratios and relative lifts),
//! Bayesian (beta-binomial by quadrature, normal approximation), always-valid sequential
//! confidence sequences, CUPED, Holm / Benjamini–Hochberg corrections and power.
//!
//! Every formula is checked against scipy/statsmodels to 1e-6 (`tests/reference.rs`,
//! constants produced by `scripts/reference/experiment_refs.py`).
//!
//! ```
//! use zhiying_experiment::{Assigner, ExperimentConfig, GlobalHoldout, Variant};
//! let mut a = Assigner::new(Some(GlobalHoldout { salt: "global-2025".into(), share: 0.05 })).unwrap();
//! a.add_experiment(ExperimentConfig::new("card-offer", "card-offer-v1", &[("control", 1), ("offer", 1)])).unwrap();
//! let first = a.assign("card-offer", "C000123").unwrap();
//! assert_eq!(first, a.assign("card-offer", "C000123").unwrap()); // deterministic
//! assert_eq!(a.replay(&[first]).matched, 1);
//!
//! // Statistics on summary numbers: 266/21,307 vs 122/21,306 conversions.
//! let t = zhiying_experiment::stats::two_proportions(266.0, 21307.0, 122.0, 21306.0, 0.05).unwrap();
//! assert!(t.p_value < 1e-9 && t.ci.lower > 0.0);
//! ```
//!
//! For a file, [`analyze_csv`] streams any CSV (gzip too) and returns an [`AnalysisReport`]
//! (serde + a human `Display` table); [`verdict`] turns one line of it into a sentence.

mod analyze;
pub mod assign;
mod error;
pub mod power;
pub mod stats;

pub use analyze::{
    AnalysisReport, AnalyzeOptions, ArmMetric, ArmSize, CupedResult, MetricKind, MetricReport,
    RatioSpec, Verdict, VsControl, analyze_csv, analyze_reader, verdict,
};
pub use assign::{
    Arm, Assigner, Assignment, BucketRange, ExperimentConfig, GlobalHoldout, Layer, ReplayReport,
    Variant,
};
pub use error::ExperimentError;
pub use stats::Correction;
