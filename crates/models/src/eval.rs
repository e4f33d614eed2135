//! Evaluation of binary classifiers, as a bank's model-validation team reads it.
//!
//! Discrimination (AUC, Gini, KS, ROC curve), probability quality (log-loss, Brier,
//! calibration curve), business views (lift and gains by decile, a confusion matrix at a
//! threshold priced with a cost matrix), stability (PSI on the score, CSI per feature)
//! and fairness across protected groups (demographic parity, equal opportunity and the
//! disparate-impact ratio with the four-fifths rule). [`EvaluationReport`] gathers them
//! in one serde value that is stored next to a model.
//!
//! Conventions: `y` holds 1.0 for the positive class and 0.0 otherwise; `p` holds
//! predicted probabilities of the positive class (scores for the rank metrics).
//!
//! ```
//! use zhiying_models::eval::{auc, ks};
//! let y = [0.0, 0.0, 1.0, 1.0];
//! let p = [0.1, 0.4, 0.35, 0.8];
//! assert_eq!(auc(&y, &p).unwrap(), 0.75);
//! assert_eq!(ks(&y, &p).unwrap().statistic, 0.5);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::frame::{Column, ColumnData, Frame};

/// Errors from computing metrics.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error("labels and scores differ in length: {labels} labels, {scores} scores")]
    LengthMismatch { labels: usize, scores: usize },
    #[error("no rows to evaluate")]
    Empty,
    #[error("label at row {row} is {value}; binary labels must be 0 or 1")]
    NotBinary { row: usize, value: f64 },
    #[error("score at row {row} is {value}; scores must be finite numbers")]
    BadScore { row: usize, value: f64 },
    #[error("probability at row {row} is {value}; probabilities must lie in [0, 1]")]
    BadProbability { row: usize, value: f64 },
    #[error(
        "the labels hold {positives} positives and {negatives} negatives; this metric needs both classes"
    )]
    SingleClass { positives: usize, negatives: usize },
    #[error("drift: column {0:?} is in the training frame but not in the scoring frame")]
    MissingColumn(String),
    #[error("drift: column {0:?} is numeric in one frame and categorical in the other")]
    TypeMismatch(String),
    #[error("need at least {min} bins, got {got}")]
    TooFewBins { min: usize, got: usize },
}

fn check(y: &[f64], p: &[f64]) -> Result<(usize, usize), EvalError> {
    if y.len() != p.len() {
        return Err(EvalError::LengthMismatch {
            labels: y.len(),
            scores: p.len(),
        });
    }
    if y.is_empty() {
        return Err(EvalError::Empty);
    }
    let mut pos = 0;
    for (row, (&l, &s)) in y.iter().zip(p).enumerate() {
        if l == 1.0 {
            pos += 1;
        } else if l != 0.0 {
            return Err(EvalError::NotBinary { row, value: l });
        }
        if !s.is_finite() {
            return Err(EvalError::BadScore { row, value: s });
        }
    }
    Ok((pos, y.len() - pos))
}

fn check_both_classes(y: &[f64], p: &[f64]) -> Result<(usize, usize), EvalError> {
    let (pos, neg) = check(y, p)?;
    if pos == 0 || neg == 0 {
        return Err(EvalError::SingleClass {
            positives: pos,
            negatives: neg,
        });
    }
    Ok((pos, neg))
}

fn check_probabilities(p: &[f64]) -> Result<(), EvalError> {
    match p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(row) => Err(EvalError::BadProbability { row, value: p[row] }),
        None => Ok(()),
    }
}

/// Row indices sorted by descending score (ties keep row order).
fn order_desc(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx
}

/// Walks the rows from the highest score down, one group of tied scores at a time, and
/// yields (score, positives so far, negatives so far) after each group.
fn tied_groups(y: &[f64], p: &[f64]) -> Vec<(f64, usize, usize)> {
    let idx = order_desc(p);
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < idx.len() {
        let s = p[idx[i]];
        while i < idx.len() && p[idx[i]] == s {
            if y[idx[i]] == 1.0 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push((s, tp, fp));
    }
    out
}

/// Area under the ROC curve: the probability that a random positive scores above a
/// random negative, ties counting one half (the Mann-Whitney statistic). O(n log n).
pub fn auc(y: &[f64], p: &[f64]) -> Result<f64, EvalError> {
    let (pos, neg) = check_both_classes(y, p)?;
    let mut area = 0.0;
    let (mut prev_tp, mut prev_fp) = (0usize, 0usize);
    for (_, tp, fp) in tied_groups(y, p) {
        let dp = (tp - prev_tp) as f64;
        let dn = (fp - prev_fp) as f64;
        // Positives in this group beat the negatives not yet seen, tie with the group's.
        area += dp * (neg - fp) as f64 + 0.5 * dp * dn;
        prev_tp = tp;
        prev_fp = fp;
    }
    Ok(area / (pos as f64 * neg as f64))
}

/// Gini coefficient (accuracy ratio): 2·AUC − 1.
pub fn gini(y: &[f64], p: &[f64]) -> Result<f64, EvalError> {
    Ok(2.0 * auc(y, p)? - 1.0)
}

/// Kolmogorov-Smirnov statistic and where it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ks {
    /// max |TPR − FPR| over thresholds, in [0, 1].
    pub statistic: f64,
    /// The score threshold (predict positive when score ≥ it) at the maximum.
    pub threshold: f64,
}

/// KS: the largest gap between the cumulative score distributions of positives and
/// negatives.
pub fn ks(y: &[f64], p: &[f64]) -> Result<Ks, EvalError> {
    let (pos, neg) = check_both_classes(y, p)?;
    let mut best = Ks {
        statistic: 0.0,
        threshold: f64::NAN,
    };
    for (s, tp, fp) in tied_groups(y, p) {
        let d = (tp as f64 / pos as f64 - fp as f64 / neg as f64).abs();
        if d > best.statistic || best.threshold.is_nan() {
            best = Ks {
                statistic: d,
                threshold: s,
            };
        }
    }
    Ok(best)
}

/// Mean negative log-likelihood of the labels, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(y: &[f64], p: &[f64]) -> Result<f64, EvalError> {
    check(y, p)?;
    check_probabilities(p)?;
    const EPS: f64 = 1e-15;
    let sum: f64 = y
        .iter()
        .zip(p)
        .map(|(&l, &q)| {
            let q = q.clamp(EPS, 1.0 - EPS);
            -(l * q.ln() + (1.0 - l) * (1.0 - q).ln())
        })
        .sum();
    Ok(sum / y.len() as f64)
}

/// Mean squared error of the probabilities.
pub fn brier(y: &[f64], p: &[f64]) -> Result<f64, EvalError> {
    check(y, p)?;
    check_probabilities(p)?;
    Ok(y.iter().zip(p).map(|(l, q)| (l - q).powi(2)).sum::<f64>() / y.len() as f64)
}

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Predict positive when the score is ≥ this; `None` for the (0, 0) start, above all scores.
    pub threshold: Option<f64>,
    pub fpr: f64,
    pub tpr: f64,
}

/// The ROC curve, one point per distinct score, from (0, 0) to (1, 1).
pub fn roc_curve(y: &[f64], p: &[f64]) -> Result<Vec<RocPoint>, EvalError> {
    let (pos, neg) = check_both_classes(y, p)?;
    let mut out = vec![RocPoint {
        threshold: None,
        fpr: 0.0,
        tpr: 0.0,
    }];
    for (s, tp, fp) in tied_groups(y, p) {
        out.push(RocPoint {
            threshold: Some(s),
            fpr: fp as f64 / neg as f64,
            tpr: tp as f64 / pos as f64,
        });
    }
    Ok(out)
}

/// Thins a ROC curve for plotting and storage: keeps the ends and every point at least
/// `step` away (in FPR or TPR) from the last point kept.
pub fn thin_roc(points: &[RocPoint], step: f64) -> Vec<RocPoint> {
    let mut out: Vec<RocPoint> = Vec::new();
    for (i, pt) in points.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(last) => {
                i + 1 == points.len()
                    || (pt.fpr - last.fpr).abs() >= step
                    || (pt.tpr - last.tpr).abs() >= step
            }
        };
        if keep {
            out.push(*pt);
        }
    }
    out
}

/// One row of a lift and gains table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainsRow {
    /// 1 = the highest-scored tenth.
    pub decile: usize,
    pub rows: usize,
    pub positives: usize,
    pub response_rate: f64,
    /// Response rate over the overall rate.
    pub lift: f64,
    pub cumulative_rows: usize,
    pub cumulative_positives: usize,
    /// Share of all positives captured down to this decile.
    pub cumulative_gain: f64,
    pub cumulative_lift: f64,
    pub min_score: f64,
    pub max_score: f64,
}

/// Lift and gains by quantile of score (`groups` = 10 for deciles), highest scores first.
/// Rows are ranked by score and cut into equally many rows per group.
pub fn gains_table(y: &[f64], p: &[f64], groups: usize) -> Result<Vec<GainsRow>, EvalError> {
    let (pos, _) = check_both_classes(y, p)?;
    if groups < 1 {
        return Err(EvalError::TooFewBins {
            min: 1,
            got: groups,
        });
    }
    let n = y.len();
    let base = pos as f64 / n as f64;
    let idx = order_desc(p);
    let mut out = Vec::with_capacity(groups);
    let (mut cum_n, mut cum_pos) = (0usize, 0usize);
    for g in 0..groups {
        let (lo, hi) = (g * n / groups, (g + 1) * n / groups);
        if lo == hi {
            continue;
        }
        let rows = &idx[lo..hi];
        let positives = rows.iter().filter(|&&i| y[i] == 1.0).count();
        cum_n += rows.len();
        cum_pos += positives;
        let rate = positives as f64 / rows.len() as f64;
        out.push(GainsRow {
            decile: g + 1,
            rows: rows.len(),
            positives,
            response_rate: rate,
            lift: rate / base,
            cumulative_rows: cum_n,
            cumulative_positives: cum_pos,
            cumulative_gain: cum_pos as f64 / pos as f64,
            cumulative_lift: (cum_pos as f64 / cum_n as f64) / base,
            min_score: p[rows[rows.len() - 1]],
            max_score: p[rows[0]],
        });
    }
    Ok(out)
}

/// One bin of a calibration (reliability) curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub rows: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
    pub min_predicted: f64,
    pub max_predicted: f64,
}

/// Calibration curve with equally populated bins of predicted probability, plus summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub bins: Vec<CalibrationBin>,
    /// Row-weighted mean |observed − predicted| over the bins.
    pub expected_calibration_error: f64,
    pub brier: f64,
}

/// Calibration curve over `bins` quantile bins of the predicted probability (quantile
/// rather than equal-width bins because bank targets are rare: most scores sit near 0).
pub fn calibration(y: &[f64], p: &[f64], bins: usize) -> Result<Calibration, EvalError> {
    check(y, p)?;
    check_probabilities(p)?;
    if bins < 1 {
        return Err(EvalError::TooFewBins { min: 1, got: bins });
    }
    let n = y.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = Vec::new();
    let mut ece = 0.0;
    for b in 0..bins {
        let (lo, hi) = (b * n / bins, (b + 1) * n / bins);
        if lo == hi {
            continue;
        }
        let rows = &idx[lo..hi];
        let m = rows.len() as f64;
        let mean_predicted = rows.iter().map(|&i| p[i]).sum::<f64>() / m;
        let observed_rate = rows.iter().map(|&i| y[i]).sum::<f64>() / m;
        ece += m / n as f64 * (observed_rate - mean_predicted).abs();
        out.push(CalibrationBin {
            rows: rows.len(),
            mean_predicted,
            observed_rate,
            min_predicted: p[rows[0]],
            max_predicted: p[rows[rows.len() - 1]],
        });
    }
    Ok(Calibration {
        bins: out,
        expected_calibration_error: ece,
        brier: brier(y, p)?,
    })
}

/// What each outcome costs (negative values are gains). The default prices errors only:
/// a false positive and a false negative cost 1 each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostMatrix {
    pub true_positive: f64,
    pub false_positive: f64,
    pub false_negative: f64,
    pub true_negative: f64,
}

impl Default for CostMatrix {
    fn default() -> Self {
        CostMatrix {
            true_positive: 0.0,
            false_positive: 1.0,
            false_negative: 1.0,
            true_negative: 0.0,
        }
    }
}

/// Confusion matrix at a threshold, its rates and its cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Predict positive when score ≥ threshold.
    pub threshold: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing is predicted positive.
    pub precision: f64,
    /// TP / (TP + FN), the true-positive rate.
    pub recall: f64,
    /// TN / (TN + FP).
    pub specificity: f64,
    pub f1: f64,
    pub cost_matrix: CostMatrix,
    pub total_cost: f64,
    pub cost_per_row: f64,
}

/// The confusion matrix of `score ≥ threshold` against the labels, priced by `cost`.
pub fn confusion(
    y: &[f64],
    p: &[f64],
    threshold: f64,
    cost: CostMatrix,
) -> Result<Confusion, EvalError> {
    check(y, p)?;
    let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
    for (&l, &s) in y.iter().zip(p) {
        match (s >= threshold, l == 1.0) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let total_cost = tp as f64 * cost.true_positive
        + fp as f64 * cost.false_positive
        + fn_ as f64 * cost.false_negative
        + tn as f64 * cost.true_negative;
    Ok(Confusion {
        threshold,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
        accuracy: ratio(tp + tn, y.len()),
        precision,
        recall,
        specificity: ratio(tn, tn + fp),
        f1: if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        },
        cost_matrix: cost,
        total_cost,
        cost_per_row: total_cost / y.len() as f64,
    })
}

/// The threshold with the lowest total cost, searched over every distinct score (and
/// "predict nothing positive"). Ties go to the higher threshold.
pub fn cost_optimal_threshold(
    y: &[f64],
    p: &[f64],
    cost: CostMatrix,
) -> Result<Confusion, EvalError> {
    let (pos, neg) = check(y, p)?;
    // Predicting nothing positive: every positive is a false negative.
    let mut best_cost = pos as f64 * cost.false_negative + neg as f64 * cost.true_negative;
    let mut best_threshold = f64::INFINITY;
    for (s, tp, fp) in tied_groups(y, p) {
        let c = tp as f64 * cost.true_positive
            + fp as f64 * cost.false_positive
            + (pos - tp) as f64 * cost.false_negative
            + (neg - fp) as f64 * cost.true_negative;
        if c < best_cost {
            best_cost = c;
            best_threshold = s;
        }
    }
    confusion(y, p, best_threshold, cost)
}

/// One bin of a population-stability comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftBin {
    /// The bin, e.g. `(0.12, 0.35]`, a category level, or `missing`.
    pub label: String,
    pub expected_share: f64,
    pub actual_share: f64,
    /// (actual − expected) · ln(actual / expected), after flooring shares at 1e-4.
    pub contribution: f64,
}

/// Population stability of one variable (the score, or a feature for CSI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub variable: String,
    pub index: f64,
    /// `stable` below 0.1, `moderate` up to 0.25, `significant` above: the usual bank rule.
    pub level: DriftLevel,
    pub bins: Vec<DriftBin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftLevel {
    Stable,
    Moderate,
    Significant,
}

impl DriftLevel {
    pub fn of(index: f64) -> DriftLevel {
        if index < 0.1 {
            DriftLevel::Stable
        } else if index <= 0.25 {
            DriftLevel::Moderate
        } else {
            DriftLevel::Significant
        }
    }
}

/// Shares are floored so an empty bin gives a large but finite contribution.
const SHARE_FLOOR: f64 = 1e-4;

fn drift_from_counts(variable: &str, rows: Vec<(String, usize, usize)>) -> Drift {
    let te: usize = rows.iter().map(|r| r.1).sum();
    let ta: usize = rows.iter().map(|r| r.2).sum();
    let share = |c: usize, t: usize| {
        if t == 0 { 0.0 } else { c as f64 / t as f64 }
    };
    let bins: Vec<DriftBin> = rows
        .into_iter()
        .map(|(label, e, a)| {
            let (es, as_) = (share(e, te), share(a, ta));
            let (ef, af) = (es.max(SHARE_FLOOR), as_.max(SHARE_FLOOR));
            DriftBin {
                label,
                expected_share: es,
                actual_share: as_,
                contribution: (af - ef) * (af / ef).ln(),
            }
        })
        .collect();
    let index = bins.iter().map(|b| b.contribution).sum();
    Drift {
        variable: variable.to_string(),
        index,
        level: DriftLevel::of(index),
        bins,
    }
}

/// Population stability index of a numeric variable: bins are cut at the `bins`-quantiles
/// of `expected` (the training or development sample), and missing values form a bin of
/// their own when either side has any.
pub fn psi(
    variable: &str,
    expected: &[f64],
    actual: &[f64],
    bins: usize,
) -> Result<Drift, EvalError> {
    if bins < 2 {
        return Err(EvalError::TooFewBins { min: 2, got: bins });
    }
    let mut sorted: Vec<f64> = expected.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return Err(EvalError::Empty);
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..bins)
        .filter_map(|i| (i * n / bins).checked_sub(1).map(|k| sorted[k]))
        .collect();
    edges.dedup();
    if edges.last() == sorted.last() {
        edges.pop();
    }
    let bin_of = |v: f64| edges.partition_point(|&e| e < v);
    let nb = edges.len() + 1;
    let mut counts = vec![(0usize, 0usize); nb + 1];
    for &v in expected {
        counts[if v.is_nan() { nb } else { bin_of(v) }].0 += 1;
    }
    for &v in actual {
        counts[if v.is_nan() { nb } else { bin_of(v) }].1 += 1;
    }
    let fmt = |x: f64| {
        format!("{:.6}", x)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    };
    let mut rows = Vec::with_capacity(nb + 1);
    for b in 0..nb {
        let lo = if b == 0 {
            "-inf".into()
        } else {
            fmt(edges[b - 1])
        };
        let hi = if b == nb - 1 {
            "inf".into()
        } else {
            fmt(edges[b])
        };
        rows.push((format!("({lo}, {hi}]"), counts[b].0, counts[b].1));
    }
    if counts[nb].0 + counts[nb].1 > 0 {
        rows.push(("missing".into(), counts[nb].0, counts[nb].1));
    }
    Ok(drift_from_counts(variable, rows))
}

/// Stability of a categorical variable, comparing level shares by level text (so two
/// frames loaded separately, with different codes, compare correctly). New levels in the
/// actual data get a bin of their own.
pub fn psi_categorical<S: AsRef<str>>(
    variable: &str,
    expected: &[Option<S>],
    actual: &[Option<S>],
) -> Drift {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let key = |v: &Option<S>| {
        v.as_ref()
            .map_or("missing".to_string(), |s| s.as_ref().to_string())
    };
    for v in expected {
        counts.entry(key(v)).or_default().0 += 1;
    }
    for v in actual {
        counts.entry(key(v)).or_default().1 += 1;
    }
    drift_from_counts(
        variable,
        counts.into_iter().map(|(k, (e, a))| (k, e, a)).collect(),
    )
}

fn column_texts(c: &Column) -> Vec<Option<&str>> {
    match &c.data {
        ColumnData::Categorical { codes, levels } => codes
            .iter()
            .map(|code| code.map(|k| levels[k as usize].as_str()))
            .collect(),
        ColumnData::Numeric(_) => Vec::new(),
    }
}

/// Characteristic stability index of every column of `train` against the same-named
/// column of `current`: PSI on quantile bins for numbers, on levels for categories.
pub fn csi(train: &Frame, current: &Frame, bins: usize) -> Result<Vec<Drift>, EvalError> {
    let mut out = Vec::with_capacity(train.n_cols());
    for c in train.columns() {
        let other = current
            .column(&c.name)
            .ok_or_else(|| EvalError::MissingColumn(c.name.clone()))?;
        let d = match (&c.data, &other.data) {
            (ColumnData::Numeric(e), ColumnData::Numeric(a)) => psi(&c.name, e, a, bins)?,
            (ColumnData::Categorical { .. }, ColumnData::Categorical { .. }) => {
                psi_categorical(&c.name, &column_texts(c), &column_texts(other))
            }
            _ => return Err(EvalError::TypeMismatch(c.name.clone())),
        };
        out.push(d);
    }
    Ok(out)
}

/// Outcome rates of one protected group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRates {
    pub group: String,
    pub rows: usize,
    pub positives: usize,
    /// Share predicted positive (selected, e.g. offered the product).
    pub selection_rate: f64,
    /// Share of actual positives predicted positive; `None` when the group has no positives.
    pub true_positive_rate: Option<f64>,
    /// Share of actual negatives predicted positive; `None` when the group has no negatives.
    pub false_positive_rate: Option<f64>,
}

/// Fairness of thresholded decisions across the groups of one protected attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    pub attribute: String,
    pub threshold: f64,
    pub groups: Vec<GroupRates>,
    /// Highest minus lowest selection rate.
    pub demographic_parity_difference: f64,
    /// Highest minus lowest true-positive rate (groups with positives only).
    pub equal_opportunity_difference: f64,
    /// Lowest over highest selection rate.
    pub disparate_impact_ratio: f64,
    /// The group with the lowest selection rate, whose ratio is reported.
    pub least_selected_group: String,
    /// True when the ratio is below 0.8: the US EEOC "four-fifths rule", the usual
    /// screen for adverse impact.
    pub four_fifths_rule_violated: bool,
}

/// Fairness of `score ≥ threshold` across `groups` (one label per row; `None` rows are
/// grouped as `missing`).
pub fn fairness<S: AsRef<str>>(
    attribute: &str,
    y: &[f64],
    p: &[f64],
    threshold: f64,
    groups: &[Option<S>],
) -> Result<FairnessReport, EvalError> {
    check(y, p)?;
    if groups.len() != y.len() {
        return Err(EvalError::LengthMismatch {
            labels: y.len(),
            scores: groups.len(),
        });
    }
    // (rows, positives, selected, selected positives, selected negatives)
    let mut acc: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    for i in 0..y.len() {
        let g = groups[i]
            .as_ref()
            .map_or("missing".to_string(), |s| s.as_ref().to_string());
        let e = acc.entry(g).or_default();
        let sel = p[i] >= threshold;
        let pos = y[i] == 1.0;
        e[0] += 1;
        e[1] += pos as usize;
        e[2] += sel as usize;
        e[3] += (sel && pos) as usize;
        e[4] += (sel && !pos) as usize;
    }
    let rates: Vec<GroupRates> = acc
        .into_iter()
        .map(|(group, [n, pos, sel, sel_pos, sel_neg])| GroupRates {
            group,
            rows: n,
            positives: pos,
            selection_rate: sel as f64 / n as f64,
            true_positive_rate: (pos > 0).then(|| sel_pos as f64 / pos as f64),
            false_positive_rate: (n > pos).then(|| sel_neg as f64 / (n - pos) as f64),
        })
        .collect();
    let sel: Vec<f64> = rates.iter().map(|r| r.selection_rate).collect();
    let max_sel = sel.iter().copied().fold(f64::MIN, f64::max);
    let (min_i, min_sel) = sel
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::MAX), |b, (i, v)| if v < b.1 { (i, v) } else { b });
    let tprs: Vec<f64> = rates.iter().filter_map(|r| r.true_positive_rate).collect();
    let eo = if tprs.is_empty() {
        0.0
    } else {
        tprs.iter().copied().fold(f64::MIN, f64::max)
            - tprs.iter().copied().fold(f64::MAX, f64::min)
    };
    let ratio = if max_sel > 0.0 {
        min_sel / max_sel
    } else {
        1.0
    };
    Ok(FairnessReport {
        attribute: attribute.to_string(),
        threshold,
        least_selected_group: rates[min_i].group.clone(),
        groups: rates,
        demographic_parity_difference: max_sel - min_sel,
        equal_opportunity_difference: eo,
        disparate_impact_ratio: ratio,
        four_fifths_rule_violated: ratio < 0.8,
    })
}

/// Age bands for fairness reports: `<25`, `25-34`, `35-44`, `45-54`, `55-64`, `65+`.
pub fn age_bands(ages: &[f64]) -> Vec<Option<String>> {
    ages.iter()
        .map(|&a| {
            if a.is_nan() {
                return None;
            }
            Some(
                match a {
                    a if a < 25.0 => "<25",
                    a if a < 35.0 => "25-34",
                    a if a < 45.0 => "35-44",
                    a if a < 55.0 => "45-54",
                    a if a < 65.0 => "55-64",
                    _ => "65+",
                }
                .to_string(),
            )
        })
        .collect()
}

/// Importance of one feature in a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub feature: String,
    /// Total loss reduction from the feature's splits.
    pub gain: f64,
    /// Number of splits on the feature.
    pub splits: f64,
    /// `gain` as a share of all features' gain.
    pub gain_share: f64,
}

/// Everything a validator reads about a binary model on one data set, as one serde value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub rows: usize,
    pub positives: usize,
    pub base_rate: f64,
    pub auc: f64,
    pub gini: f64,
    pub ks: Ks,
    pub log_loss: f64,
    pub brier: f64,
    /// ROC curve thinned to steps of 0.005 for plotting.
    pub roc: Vec<RocPoint>,
    /// Lift and gains by decile.
    pub gains: Vec<GainsRow>,
    pub calibration: Calibration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Confusion>,
    /// Score PSI between the training (expected) and evaluated (actual) scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_drift: Option<Drift>,
    /// CSI per feature between training and evaluated data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_drift: Vec<Drift>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<FairnessReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_importance: Vec<FeatureImportance>,
}

impl EvaluationReport {
    /// The core report: discrimination, probability quality, ROC, deciles, calibration.
    /// Add the optional parts with the `with_*` methods.
    pub fn binary(y: &[f64], p: &[f64]) -> Result<EvaluationReport, EvalError> {
        let (pos, _) = check_both_classes(y, p)?;
        check_probabilities(p)?;
        let auc = auc(y, p)?;
        Ok(EvaluationReport {
            rows: y.len(),
            positives: pos,
            base_rate: pos as f64 / y.len() as f64,
            auc,
            gini: 2.0 * auc - 1.0,
            ks: ks(y, p)?,
            log_loss: log_loss(y, p)?,
            brier: brier(y, p)?,
            roc: thin_roc(&roc_curve(y, p)?, 0.005),
            gains: gains_table(y, p, 10)?,
            calibration: calibration(y, p, 10)?,
            confusion: None,
            score_drift: None,
            feature_drift: Vec::new(),
            fairness: Vec::new(),
            feature_importance: Vec::new(),
        })
    }

    pub fn with_confusion(
        mut self,
        y: &[f64],
        p: &[f64],
        threshold: f64,
        cost: CostMatrix,
    ) -> Result<Self, EvalError> {
        self.confusion = Some(confusion(y, p, threshold, cost)?);
        Ok(self)
    }

    /// Adds score PSI (training scores as expected) and CSI per feature.
    pub fn with_drift(
        mut self,
        train_scores: &[f64],
        scores: &[f64],
        train: &Frame,
        current: &Frame,
    ) -> Result<Self, EvalError> {
        self.score_drift = Some(psi("score", train_scores, scores, 10)?);
        self.feature_drift = csi(train, current, 10)?;
        Ok(self)
    }

    pub fn with_fairness(mut self, report: FairnessReport) -> Self {
        self.fairness.push(report);
        self
    }

    pub fn with_feature_importance(mut self, importance: Vec<FeatureImportance>) -> Self {
        self.feature_importance = importance;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// O(n²) pair count: the definition of AUC.
    fn naive_auc(y: &[f64], p: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..y.len() {
            for j in 0..y.len() {
                if y[i] == 1.0 && y[j] == 0.0 {
                    den += 1.0;
                    if p[i] > p[j] {
                        num += 1.0;
                    } else if p[i] == p[j] {
                        num += 0.5;
                    }
                }
            }
        }
        num / den
    }

    // Fixture: 4 positives, 6 negatives.
    const Y: [f64; 10] = [1., 1., 0., 1., 0., 0., 1., 0., 0., 0.];
    const P: [f64; 10] = [0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1];

    #[test]
    fn auc_gini_ks_by_hand() {
        // Pairs won: 0.9 → 6, 0.8 → 6, 0.6 → 5, 0.4 → 3; 20 of 24.
        assert!(close(auc(&Y, &P).unwrap(), 20.0 / 24.0));
        assert!(close(gini(&Y, &P).unwrap(), 2.0 * 20.0 / 24.0 - 1.0));
        // Cumulative TPR − FPR after each row: .25 .5 .333 .583 .417 .25 .5 .333 .167 0
        let k = ks(&Y, &P).unwrap();
        assert!(close(k.statistic, 0.75 - 1.0 / 6.0));
        assert_eq!(k.threshold, 0.6);
        // Ties count one half.
        assert_eq!(auc(&[1.0, 0.0], &[0.5, 0.5]).unwrap(), 0.5);
    }

    #[test]
    fn log_loss_and_brier_by_hand() {
        let y = [1.0, 0.0];
        let p = [0.8, 0.4];
        let expected = -(0.8f64.ln() + 0.6f64.ln()) / 2.0;
        assert!(close(log_loss(&y, &p).unwrap(), expected));
        assert!(close(brier(&y, &p).unwrap(), (0.04 + 0.16) / 2.0));
        assert!(log_loss(&[1.0], &[0.0]).unwrap().is_finite());
        assert!(matches!(
            log_loss(&[1.0], &[1.5]),
            Err(EvalError::BadProbability { row: 0, .. })
        ));
    }

    #[test]
    fn input_errors() {
        assert!(matches!(
            auc(&[1.0], &[0.5, 0.1]),
            Err(EvalError::LengthMismatch { .. })
        ));
        assert!(matches!(
            auc(&[1.0, 1.0], &[0.5, 0.1]),
            Err(EvalError::SingleClass { .. })
        ));
        assert!(matches!(
            auc(&[2.0, 0.0], &[0.5, 0.1]),
            Err(EvalError::NotBinary { row: 0, .. })
        ));
        assert!(matches!(
            auc(&[1.0, 0.0], &[f64::NAN, 0.1]),
            Err(EvalError::BadScore { .. })
        ));
        assert!(matches!(auc(&[], &[]), Err(EvalError::Empty)));
    }

    #[test]
    fn roc_curve_by_hand() {
        let r = roc_curve(&Y, &P).unwrap();
        assert_eq!(r.len(), 11);
        assert_eq!(
            r[0],
            RocPoint {
                threshold: None,
                fpr: 0.0,
                tpr: 0.0
            }
        );
        assert_eq!(r[3].threshold, Some(0.7));
        assert!(close(r[3].tpr, 0.5) && close(r[3].fpr, 1.0 / 6.0));
        assert_eq!((r[10].fpr, r[10].tpr), (1.0, 1.0));
        let thin = thin_roc(&r, 0.3);
        assert_eq!(thin.first(), r.first());
        assert_eq!(thin.last(), r.last());
        assert!(thin.len() < r.len());
    }

    #[test]
    fn gains_by_hand() {
        // Five groups of two rows: positives 2, 1, 0, 1, 0.
        let g = gains_table(&Y, &P, 5).unwrap();
        let pos: Vec<usize> = g.iter().map(|r| r.positives).collect();
        assert_eq!(pos, vec![2, 1, 0, 1, 0]);
        assert!(close(g[0].lift, 1.0 / 0.4));
        assert!(close(g[1].cumulative_gain, 0.75));
        assert!(close(g[1].cumulative_lift, 0.75 / 0.4));
        assert!(close(g[4].cumulative_gain, 1.0));
        assert_eq!((g[0].max_score, g[0].min_score), (0.9, 0.8));
    }

    #[test]
    fn calibration_by_hand() {
        let c = calibration(&Y, &P, 2).unwrap();
        // Low half: 0.1 0.2 0.3 0.4 0.5 with one positive; high half: 0.55..0.9 with three.
        assert!(close(c.bins[0].mean_predicted, 0.3));
        assert!(close(c.bins[0].observed_rate, 0.2));
        assert!(close(c.bins[1].mean_predicted, 0.71));
        assert!(close(c.bins[1].observed_rate, 0.6));
        assert!(close(c.expected_calibration_error, 0.5 * 0.1 + 0.5 * 0.11));
    }

    #[test]
    fn confusion_and_cost_by_hand() {
        let cost = CostMatrix {
            false_negative: 5.0,
            ..CostMatrix::default()
        };
        let c = confusion(&Y, &P, 0.6, cost).unwrap();
        assert_eq!(
            (
                c.true_positives,
                c.false_positives,
                c.false_negatives,
                c.true_negatives
            ),
            (3, 1, 1, 5)
        );
        assert!(close(c.precision, 0.75) && close(c.recall, 0.75));
        assert!(close(c.specificity, 5.0 / 6.0));
        assert!(close(c.total_cost, 1.0 + 5.0));
        // Threshold 0.4 catches every positive for 3 false positives: cost 3, the minimum.
        let best = cost_optimal_threshold(&Y, &P, cost).unwrap();
        assert_eq!(best.threshold, 0.4);
        assert!(close(best.total_cost, 3.0));
    }

    #[test]
    fn psi_by_hand() {
        let expected: Vec<f64> = (1..=10).map(f64::from).collect();
        // Two bins cut at the median 5: expected 50/50, actual 20/80.
        let actual = [1.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 9.0, 8.0];
        let d = psi("x", &expected, &actual, 2).unwrap();
        let want = (0.2 - 0.5) * (0.2f64 / 0.5).ln() + (0.8 - 0.5) * (0.8f64 / 0.5).ln();
        assert!(close(d.index, want), "{} vs {want}", d.index);
        assert_eq!(d.level, DriftLevel::Significant);
        assert_eq!(d.bins[0].label, "(-inf, 5]");
        let same = psi("x", &expected, &expected, 10).unwrap();
        assert!(close(same.index, 0.0));
        assert_eq!(same.bins.len(), 10);
        // Missing values get their own bin.
        let with_nan = psi("x", &expected, &[1.0, f64::NAN], 2).unwrap();
        assert_eq!(with_nan.bins.last().unwrap().label, "missing");
    }

    #[test]
    fn categorical_psi_and_csi_match_levels_by_text() {
        let d = psi_categorical("job", &[Some("a"), Some("b")], &[Some("b"), Some("b")]);
        // a: 0.5 → 0 (floored 1e-4), b: 0.5 → 1.
        let want = (1e-4 - 0.5) * (1e-4f64 / 0.5).ln() + (1.0 - 0.5) * 2f64.ln();
        assert!(close(d.index, want));
        let train = Frame::new(vec![Column::categorical("job", &[Some("a"), Some("b")])]).unwrap();
        // Same distribution, levels appearing in the other order (different codes).
        let now = Frame::new(vec![Column::categorical("job", &[Some("b"), Some("a")])]).unwrap();
        let c = csi(&train, &now, 10).unwrap();
        assert!(close(c[0].index, 0.0));
        let other = Frame::new(vec![Column::numeric("age", vec![1.0])]).unwrap();
        assert_eq!(
            csi(&train, &other, 10),
            Err(EvalError::MissingColumn("job".into()))
        );
    }

    #[test]
    fn fairness_by_hand() {
        let y = [1., 0., 1., 0., 1., 0., 1., 0.];
        let p = [0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.3, 0.1];
        let g = [
            Some("F"),
            Some("F"),
            Some("F"),
            Some("F"),
            Some("M"),
            Some("M"),
            Some("M"),
            Some("M"),
        ];
        let r = fairness("gender", &y, &p, 0.5, &g).unwrap();
        // F selects 3 of 4, M selects 1 of 4. TPR: F 2/2, M 1/2.
        assert!(close(r.demographic_parity_difference, 0.5));
        assert!(close(r.equal_opportunity_difference, 0.5));
        assert!(close(r.disparate_impact_ratio, 1.0 / 3.0));
        assert!(r.four_fifths_rule_violated);
        assert_eq!(r.least_selected_group, "M");
        let even = fairness("gender", &y, &[0.9; 8], 0.5, &g).unwrap();
        assert!(!even.four_fifths_rule_violated);
        assert_eq!(
            age_bands(&[20.0, 40.0, 70.0, f64::NAN]),
            vec![
                Some("<25".to_string()),
                Some("35-44".to_string()),
                Some("65+".to_string()),
                None
            ]
        );
    }

    #[test]
    fn report_round_trips_through_json() {
        let r = EvaluationReport::binary(&Y, &P)
            .unwrap()
            .with_confusion(&Y, &P, 0.5, CostMatrix::default())
            .unwrap();
        assert!(close(r.auc, 20.0 / 24.0));
        assert_eq!(r.gains.len(), 10);
        let json = serde_json::to_string(&r).unwrap();
        let back: EvaluationReport = serde_json::from_str(&json).unwrap();
        // serde_json's float parsing may be off by an ulp, so compare with a tolerance.
        assert!(close(back.auc, r.auc) && close(back.log_loss, r.log_loss));
        assert_eq!(back.roc.len(), r.roc.len());
        assert_eq!(back.roc[0].threshold, None);
        assert_eq!(back.gains.len(), r.gains.len());
        assert!(
            back.gains
                .iter()
                .zip(&r.gains)
                .all(|(a, b)| a.positives == b.positives && close(a.lift, b.lift))
        );
        assert_eq!(back.confusion.as_ref().map(|c| c.true_positives), Some(3));
        assert!(back.feature_drift.is_empty() && back.fairness.is_empty());
    }

    proptest! {
        #[test]
        fn auc_matches_pair_count(
            rows in proptest::collection::vec((any::<bool>(), 0u8..20), 2..120)
        ) {
            let y: Vec<f64> = rows.iter().map(|r| r.0 as u8 as f64).collect();
            // Few distinct scores, so ties are common.
            let p: Vec<f64> = rows.iter().map(|r| r.1 as f64 / 20.0).collect();
            let pos = y.iter().filter(|&&v| v == 1.0).count();
            prop_assume!(pos > 0 && pos < y.len());
            let fast = auc(&y, &p).unwrap();
            prop_assert!((fast - naive_auc(&y, &p)).abs() < 1e-12);
            // Reversing the scores mirrors the AUC; KS lies in [0, 1].
            let rev: Vec<f64> = p.iter().map(|v| 1.0 - v).collect();
            prop_assert!((auc(&y, &rev).unwrap() - (1.0 - fast)).abs() < 1e-12);
            let k = ks(&y, &p).unwrap().statistic;
            prop_assert!((0.0..=1.0).contains(&k));
        }

        #[test]
        fn psi_is_non_negative_and_zero_on_itself(
            a in proptest::collection::vec(-100.0f64..100.0, 10..200),
            b in proptest::collection::vec(-100.0f64..100.0, 10..200),
        ) {
            prop_assert!(psi("x", &a, &a, 10).unwrap().index.abs() < 1e-12);
            prop_assert!(psi("x", &a, &b, 10).unwrap().index >= 0.0);
        }
    }
}
