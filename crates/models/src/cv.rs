//! The binary-classifier interface and cross-validation over it.
//!
//! Any algorithm that implements [`BinaryClassifier`] (boosted trees here; scorecards and
//! logistic regression in their own crates) gets stratified K-fold cross-validation, the
//! `zhiying model cv` command and the same fold-by-fold metrics, with no other glue.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::eval::{self, EvalError, FeatureImportance};
use crate::folds::Fold;
use crate::frame::{Frame, FrameError};

/// Error type shared by classifiers, so one CLI path can report any of them.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("LightGBM: {0}")]
    LightGbm(String),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("{algorithm}: {source}")]
    Algorithm {
        algorithm: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An algorithm that learns P(y = 1 | x) from a [`Frame`] of features and 0/1 labels.
pub trait BinaryClassifier {
    /// Short name, as used on the command line (`gbdt`, `scorecard`, `logistic`).
    fn name(&self) -> &str;
    /// Trains on `x` with labels `y` (1.0 positive, 0.0 negative).
    fn fit(&self, x: &Frame, y: &[f64]) -> Result<Box<dyn FittedBinaryClassifier>, ModelError>;
}

/// A trained binary model.
pub trait FittedBinaryClassifier {
    /// Probability of the positive class for every row of `x`, which has the training
    /// frame's columns (its categorical codes must come from the same level lists, as
    /// with rows selected from one frame).
    fn predict_proba(&self, x: &Frame) -> Result<Vec<f64>, ModelError>;
    /// Feature importance when the algorithm has one.
    fn feature_importance(&self) -> Vec<FeatureImportance> {
        Vec::new()
    }
}

/// Metrics of one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    pub auc: f64,
    pub ks: f64,
    pub log_loss: f64,
    pub train_seconds: f64,
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        if values.is_empty() {
            return MeanStd {
                mean: f64::NAN,
                std: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        MeanStd { mean, std }
    }
}

/// Cross-validation summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    pub algorithm: String,
    pub folds: Vec<FoldResult>,
    pub auc: MeanStd,
    pub ks: MeanStd,
    pub log_loss: MeanStd,
    /// Sum of the folds' training times (fit only, not loading or scoring).
    pub train_seconds: f64,
    /// AUC of all out-of-fold predictions pooled.
    pub pooled_auc: f64,
    /// Out-of-fold probability for every row (not serialised: it is as long as the data).
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

/// Fits `classifier` on each fold's training rows and scores its test rows.
/// `on_fold` is called after each fold (for progress bars).
pub fn cross_validate(
    classifier: &dyn BinaryClassifier,
    x: &Frame,
    y: &[f64],
    folds: &[Fold],
    mut on_fold: impl FnMut(&FoldResult),
) -> Result<CvReport, ModelError> {
    if y.len() != x.n_rows() {
        return Err(ModelError::Config(format!(
            "{} labels for {} rows",
            y.len(),
            x.n_rows()
        )));
    }
    let mut results = Vec::with_capacity(folds.len());
    let mut oof = vec![f64::NAN; y.len()];
    for (f, fold) in folds.iter().enumerate() {
        let xtr = x.select_rows(&fold.train)?;
        let ytr: Vec<f64> = fold.train.iter().map(|&i| y[i]).collect();
        let xte = x.select_rows(&fold.test)?;
        let yte: Vec<f64> = fold.test.iter().map(|&i| y[i]).collect();
        let start = Instant::now();
        let model = classifier.fit(&xtr, &ytr)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let p = model.predict_proba(&xte)?;
        for (&i, &v) in fold.test.iter().zip(&p) {
            oof[i] = v;
        }
        let r = FoldResult {
            fold: f + 1,
            train_rows: fold.train.len(),
            test_rows: fold.test.len(),
            auc: eval::auc(&yte, &p)?,
            ks: eval::ks(&yte, &p)?.statistic,
            log_loss: eval::log_loss(&yte, &p)?,
            train_seconds,
        };
        on_fold(&r);
        results.push(r);
    }
    let pick = |g: fn(&FoldResult) -> f64| MeanStd::of(&results.iter().map(g).collect::<Vec<_>>());
    let covered: Vec<usize> = (0..y.len()).filter(|&i| !oof[i].is_nan()).collect();
    let yc: Vec<f64> = covered.iter().map(|&i| y[i]).collect();
    let pc: Vec<f64> = covered.iter().map(|&i| oof[i]).collect();
    Ok(CvReport {
        algorithm: classifier.name().to_string(),
        auc: pick(|r| r.auc),
        ks: pick(|r| r.ks),
        log_loss: pick(|r| r.log_loss),
        train_seconds: results.iter().map(|r| r.train_seconds).sum(),
        pooled_auc: eval::auc(&yc, &pc)?,
        folds: results,
        out_of_fold: oof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folds::stratified_k_fold;
    use crate::frame::Column;

    /// Predicts the training base rate, or the first feature as the probability: enough
    /// to check the plumbing of cross-validation.
    struct FeatureAsScore;
    struct Fitted;
    impl BinaryClassifier for FeatureAsScore {
        fn name(&self) -> &str {
            "feature"
        }
        fn fit(
            &self,
            _x: &Frame,
            _y: &[f64],
        ) -> Result<Box<dyn FittedBinaryClassifier>, ModelError> {
            Ok(Box::new(Fitted))
        }
    }
    impl FittedBinaryClassifier for Fitted {
        fn predict_proba(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
            Ok((0..x.n_rows())
                .map(|i| x.columns()[0].value_f64(i))
                .collect())
        }
    }

    #[test]
    fn cross_validation_plumbing() {
        let y: Vec<f64> = (0..40).map(|i| (i % 4 == 0) as u8 as f64).collect();
        // A perfect score: positives 0.9, negatives 0.1.
        let s: Vec<f64> = y
            .iter()
            .map(|&v| if v == 1.0 { 0.9 } else { 0.1 })
            .collect();
        let x = Frame::new(vec![Column::numeric("s", s)]).unwrap();
        let folds = stratified_k_fold(&y, 5, 1).unwrap();
        let mut seen = 0;
        let r = cross_validate(&FeatureAsScore, &x, &y, &folds, |_| seen += 1).unwrap();
        assert_eq!(seen, 5);
        assert_eq!(r.auc.mean, 1.0);
        assert_eq!(r.auc.std, 0.0);
        assert_eq!(r.ks.mean, 1.0);
        assert!((r.log_loss.mean - -(0.9f64.ln())).abs() < 1e-12);
        assert!(r.out_of_fold.iter().all(|v| !v.is_nan()));
        assert_eq!(r.pooled_auc, 1.0);
    }

    #[test]
    fn mean_std_by_hand() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
