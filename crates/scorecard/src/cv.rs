//! Stratified k-fold cross-validation of a scorecard or the plain logistic model, with AUC,
//! KS, log-loss and (optionally) the cost of decisions at the threshold that minimised cost
//! on the training folds.

use crate::cost::CostMatrix;
use crate::data::{Column, NamedFeature};
use crate::error::{Result, ScorecardError};
use crate::eval::{auc, ks, log_loss, stratified_folds};
use crate::logistic::{IrlsOptions, LogisticModel};
use crate::scorecard::{Scorecard, ScorecardOptions};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which model to cross-validate.
#[derive(Debug, Clone)]
pub enum Algorithm {
    /// WOE binning + logistic regression on WOE.
    Scorecard(ScorecardOptions),
    /// Logistic regression on standardised numerics and one-hot categoricals.
    Logistic(IrlsOptions),
}

/// One fold's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    /// Fold number (0-based).
    pub fold: usize,
    /// Rows in the held-out fold.
    pub rows: usize,
    /// Held-out AUC.
    pub auc: f64,
    /// Held-out KS.
    pub ks: f64,
    /// Held-out log-loss.
    pub log_loss: f64,
    /// Seconds to fit on the training folds.
    pub train_seconds: f64,
    /// Threshold on P(bad) chosen on the training folds (with a cost matrix).
    pub threshold: Option<f64>,
    /// Cost of the held-out decisions at that threshold.
    pub cost: Option<f64>,
}

/// Cross-validation summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvReport {
    /// Per fold.
    pub folds: Vec<FoldResult>,
    /// Out-of-fold P(bad) of every row (each row scored by the model that did not see it).
    pub oof: Vec<f64>,
}

fn mean_sd(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = v.collect();
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

impl CvReport {
    /// Mean and standard deviation of the fold AUCs.
    pub fn auc(&self) -> (f64, f64) {
        mean_sd(self.folds.iter().map(|f| f.auc))
    }
    /// Mean and standard deviation of the fold KS.
    pub fn ks(&self) -> (f64, f64) {
        mean_sd(self.folds.iter().map(|f| f.ks))
    }
    /// Mean and standard deviation of the fold log-losses.
    pub fn log_loss(&self) -> (f64, f64) {
        mean_sd(self.folds.iter().map(|f| f.log_loss))
    }
    /// Total held-out cost over all folds, when a cost matrix was given.
    pub fn total_cost(&self) -> Option<f64> {
        self.folds.iter().map(|f| f.cost).sum()
    }
    /// Total training seconds.
    pub fn train_seconds(&self) -> f64 {
        self.folds.iter().map(|f| f.train_seconds).sum()
    }
}

enum Fitted {
    Card(Scorecard),
    Logit(LogisticModel),
}

impl Fitted {
    fn fit(alg: &Algorithm, f: &[NamedFeature<'_>], y: &[bool]) -> Result<Fitted> {
        Ok(match alg {
            Algorithm::Scorecard(o) => Fitted::Card(Scorecard::fit(f, y, o)?),
            Algorithm::Logistic(o) => Fitted::Logit(LogisticModel::fit(f, y, o)?),
        })
    }
    fn predict(&self, f: &[NamedFeature<'_>]) -> Result<Vec<f64>> {
        match self {
            Fitted::Card(c) => c.predict_proba(f),
            Fitted::Logit(m) => m.predict_proba(f),
        }
    }
}

/// Cross-validate `alg` on `columns` against `y` (`true` = bad / positive) with `k`
/// stratified folds shuffled by `seed`; `progress` is called after each fold.
pub fn cross_validate(
    columns: &[Column],
    y: &[bool],
    alg: &Algorithm,
    k: usize,
    seed: u64,
    cost: Option<CostMatrix>,
    mut progress: impl FnMut(usize),
) -> Result<CvReport> {
    let pos = y.iter().filter(|&&b| b).count();
    if k < 2 || pos < k || y.len() - pos < k {
        return Err(ScorecardError::Folds {
            k,
            message: format!(
                "need k >= 2 and at least k rows of each class (have {pos} positive, {} negative)",
                y.len() - pos
            ),
        });
    }
    let fold_of = stratified_folds(y, k, seed);
    let mut oof = vec![f64::NAN; y.len()];
    let mut folds = Vec::with_capacity(k);
    for fold in 0..k {
        let train: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] != fold).collect();
        let test: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] == fold).collect();
        let tr_cols: Vec<Column> = columns.iter().map(|c| c.take(&train)).collect();
        let te_cols: Vec<Column> = columns.iter().map(|c| c.take(&test)).collect();
        let tr: Vec<NamedFeature<'_>> = tr_cols.iter().map(Column::named).collect();
        let te: Vec<NamedFeature<'_>> = te_cols.iter().map(Column::named).collect();
        let ytr: Vec<bool> = train.iter().map(|&i| y[i]).collect();
        let yte: Vec<bool> = test.iter().map(|&i| y[i]).collect();
        let started = Instant::now();
        let model = Fitted::fit(alg, &tr, &ytr)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let p = model.predict(&te)?;
        let (threshold, fold_cost) = match cost {
            Some(cm) => {
                let ptr = model.predict(&tr)?;
                let (t, _) = cm.best_threshold(&ptr, &ytr);
                (Some(t), Some(cm.total_cost(&p, &yte, t)))
            }
            None => (None, None),
        };
        for (&i, &q) in test.iter().zip(&p) {
            oof[i] = q;
        }
        folds.push(FoldResult {
            fold,
            rows: test.len(),
            auc: auc(&p, &yte),
            ks: ks(&p, &yte),
            log_loss: log_loss(&p, &yte),
            train_seconds,
            threshold,
            cost: fold_cost,
        });
        progress(fold);
    }
    Ok(CvReport { folds, oof })
}
