//! The scorecard and the plain logistic model as `zhiying-models` classifiers, so
//! `zhiying model cv --algorithm scorecard|logistic` and every evaluation report work on
//! them; plus cross-validated decision cost under a cost matrix.

use crate::data::{Column, ColumnData, MISSING_CODE, NamedFeature};
use crate::logistic::{IrlsOptions, LogisticModel};
use crate::scorecard::{Scorecard, ScorecardOptions};
use serde::{Deserialize, Serialize};
use zhiying_models::eval::{self, CostMatrix, FeatureImportance};
use zhiying_models::frame::{self, Frame};
use zhiying_models::{BinaryClassifier, FittedBinaryClassifier, Fold, ModelError};

/// The columns of a `zhiying-models` frame as this crate's columns (missing categorical
/// values become [`MISSING_CODE`]).
pub fn frame_columns(frame: &Frame) -> Vec<Column> {
    frame
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            data: match &c.data {
                frame::ColumnData::Numeric(v) => ColumnData::Numeric(v.clone()),
                frame::ColumnData::Categorical { codes, levels } => ColumnData::Categorical {
                    codes: codes.iter().map(|c| c.unwrap_or(MISSING_CODE)).collect(),
                    levels: levels.clone(),
                },
            },
        })
        .collect()
}

/// 0/1 labels (1 = bad / positive) as booleans.
pub fn labels(y: &[f64]) -> Vec<bool> {
    y.iter().map(|&v| v == 1.0).collect()
}

fn algorithm_error(algorithm: &str, e: crate::ScorecardError) -> ModelError {
    ModelError::Algorithm {
        algorithm: algorithm.to_string(),
        source: Box::new(e),
    }
}

/// WOE binning + logistic regression on WOE, as a [`BinaryClassifier`].
#[derive(Debug, Clone, Default)]
pub struct ScorecardClassifier {
    /// Binning, selection, regression and scaling settings.
    pub options: ScorecardOptions,
}

impl BinaryClassifier for ScorecardClassifier {
    fn name(&self) -> &str {
        "scorecard"
    }

    fn fit(&self, x: &Frame, y: &[f64]) -> Result<Box<dyn FittedBinaryClassifier>, ModelError> {
        let cols = frame_columns(x);
        let f: Vec<NamedFeature<'_>> = cols.iter().map(Column::named).collect();
        let card = Scorecard::fit(&f, &labels(y), &self.options)
            .map_err(|e| algorithm_error("scorecard", e))?;
        Ok(Box::new(card))
    }
}

impl FittedBinaryClassifier for Scorecard {
    fn predict_proba(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
        let cols = frame_columns(x);
        let f: Vec<NamedFeature<'_>> = cols.iter().map(Column::named).collect();
        Scorecard::predict_proba(self, &f).map_err(|e| algorithm_error("scorecard", e))
    }

    /// Importance = each selected variable's IV (`gain`), and its share of the total.
    fn feature_importance(&self) -> Vec<FeatureImportance> {
        let total: f64 = self.variables.iter().map(|v| v.binning.iv).sum();
        self.variables
            .iter()
            .map(|v| FeatureImportance {
                feature: v.binning.name.clone(),
                gain: v.binning.iv,
                splits: v.binning.bins.len() as f64,
                gain_share: if total > 0.0 {
                    v.binning.iv / total
                } else {
                    0.0
                },
            })
            .collect()
    }
}

/// Logistic regression on standardised numerics and one-hot categoricals.
#[derive(Debug, Clone)]
pub struct LogisticClassifier {
    /// Newton settings (ridge λ = 1 by default, scikit-learn's C = 1).
    pub options: IrlsOptions,
}

impl Default for LogisticClassifier {
    fn default() -> Self {
        Self {
            options: IrlsOptions {
                l2: LogisticModel::DEFAULT_L2,
                ..IrlsOptions::default()
            },
        }
    }
}

impl BinaryClassifier for LogisticClassifier {
    fn name(&self) -> &str {
        "logistic"
    }

    fn fit(&self, x: &Frame, y: &[f64]) -> Result<Box<dyn FittedBinaryClassifier>, ModelError> {
        let cols = frame_columns(x);
        let f: Vec<NamedFeature<'_>> = cols.iter().map(Column::named).collect();
        let m = LogisticModel::fit(&f, &labels(y), &self.options)
            .map_err(|e| algorithm_error("logistic", e))?;
        Ok(Box::new(m))
    }
}

impl FittedBinaryClassifier for LogisticModel {
    fn predict_proba(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
        let cols = frame_columns(x);
        let f: Vec<NamedFeature<'_>> = cols.iter().map(Column::named).collect();
        LogisticModel::predict_proba(self, &f).map_err(|e| algorithm_error("logistic", e))
    }

    /// Importance = |standardised coefficient| summed over a variable's design columns.
    fn feature_importance(&self) -> Vec<FeatureImportance> {
        let mut out: Vec<FeatureImportance> = Vec::new();
        let mut k = 0;
        for e in &self.encoders {
            let (name, width) = e.name_and_width();
            let g: f64 = self.fit.coefficients[k..k + width]
                .iter()
                .map(|c| c.estimate.abs())
                .sum();
            k += width;
            out.push(FeatureImportance {
                feature: name.to_string(),
                gain: g,
                splits: width as f64,
                gain_share: 0.0,
            });
        }
        let total: f64 = out.iter().map(|f| f.gain).sum();
        for f in &mut out {
            f.gain_share = if total > 0.0 { f.gain / total } else { 0.0 };
        }
        out
    }
}

/// UCI Statlog German credit's cost matrix with bad as the positive class: accepting a bad
/// applicant (false negative) costs 5, rejecting a good one (false positive) costs 1.
pub const GERMAN_CREDIT_COSTS: CostMatrix = CostMatrix {
    true_positive: 0.0,
    false_positive: 1.0,
    false_negative: 5.0,
    true_negative: 0.0,
};

/// One fold of [`cross_validated_cost`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldCost {
    /// Threshold on P(positive) with the least cost on the training rows.
    pub threshold: f64,
    /// Cost of the held-out rows at that threshold.
    pub cost: f64,
    /// Held-out rows.
    pub rows: usize,
}

/// Decision cost out of sample: in each fold, choose the threshold that minimises `cost` on
/// the training rows' own predictions, then price the held-out rows' decisions with it.
/// (UCI's German credit: [`GERMAN_CREDIT_COSTS`].)
pub fn cross_validated_cost(
    classifier: &dyn BinaryClassifier,
    x: &Frame,
    y: &[f64],
    folds: &[Fold],
    cost: CostMatrix,
) -> Result<Vec<FoldCost>, ModelError> {
    folds
        .iter()
        .map(|fold| {
            let xtr = x.select_rows(&fold.train)?;
            let ytr: Vec<f64> = fold.train.iter().map(|&i| y[i]).collect();
            let xte = x.select_rows(&fold.test)?;
            let yte: Vec<f64> = fold.test.iter().map(|&i| y[i]).collect();
            let model = classifier.fit(&xtr, &ytr)?;
            let best = eval::cost_optimal_threshold(&ytr, &model.predict_proba(&xtr)?, cost)?;
            let held = eval::confusion(&yte, &model.predict_proba(&xte)?, best.threshold, cost)?;
            Ok(FoldCost {
                threshold: best.threshold,
                cost: held.total_cost,
                rows: fold.test.len(),
            })
        })
        .collect()
}
