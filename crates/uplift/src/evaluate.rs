//! Cross-fitted evaluation of an uplift learner on a randomised-test CSV: what
//! `zhiying uplift evaluate` prints.
//!
//! Rows whose treatment column holds the treatment or the control value are kept (other
//! arms are left out). Folds are stratified on treatment × outcome (outcome > 0 for a
//! continuous one) and deterministic by seed. Each fold's model is fitted on the other
//! folds and scores the fold; the fold's metrics use only its own rows. The Qini curve
//! for the chart pools the out-of-fold scores of every fold. A "random" Qini per fold
//! (the same scores, shuffled with a seed) shows how far from chance the model is.
//!
//! Metric definitions are scikit-uplift's (see [`crate::metrics`]): `qini` is
//! `qini_auc_score(negative_effect=True)`, `auuc` is `uplift_auc_score`, `uplift@k` is
//! `uplift_at_k(strategy="by_group")`. Standard deviations are over folds (n − 1).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use zhiying_models::folds::{fold_assignment, stratified_k_fold};
use zhiying_models::frame::{ColumnData, CsvOptions, Frame, FrameError, read_csv};

use crate::error::UpliftError;
use crate::learners::{Learner, OutcomeKind, UpliftConfig, UpliftModel, default_gbdt};
use crate::metrics::{AtKStrategy, qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score};

/// What to evaluate: the parsed arguments of `zhiying uplift evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateOptions {
    pub csv: PathBuf,
    /// Column naming each row's arm.
    pub treatment_col: String,
    /// Value of `treatment_col` for treated rows.
    pub treatment: String,
    /// Value of `treatment_col` for control rows.
    pub control: String,
    /// Outcome column: 0/1 or two text levels (binary), or an amount (continuous).
    pub outcome: String,
    /// Columns that must not be features (other outcomes, ids, post-treatment data).
    pub exclude: Vec<String>,
    pub folds: usize,
    pub learner: Learner,
    pub seed: u64,
}

impl EvaluateOptions {
    /// Options with 5 folds, the T-learner and seed 42.
    pub fn new(
        csv: impl Into<PathBuf>,
        treatment_col: impl Into<String>,
        treatment: impl Into<String>,
        control: impl Into<String>,
        outcome: impl Into<String>,
    ) -> EvaluateOptions {
        EvaluateOptions {
            csv: csv.into(),
            treatment_col: treatment_col.into(),
            treatment: treatment.into(),
            control: control.into(),
            outcome: outcome.into(),
            exclude: Vec::new(),
            folds: 5,
            learner: Learner::T,
            seed: 42,
        }
    }
}

/// A randomised test read from a CSV: features, arm and outcome per kept row.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub x: Frame,
    pub treated: Vec<bool>,
    pub y: Vec<f64>,
    pub outcome_kind: OutcomeKind,
    /// For a text outcome, the level counted as 1.
    pub positive: Option<String>,
    /// 0-based data-row number in the file (header not counted) of each kept row.
    pub source_rows: Vec<usize>,
}

fn matches_value(frame: &Frame, column: &str, i: usize, value: &str) -> bool {
    let Some(c) = frame.column(column) else {
        return false;
    };
    match &c.data {
        ColumnData::Numeric(v) => value.trim().parse::<f64>().is_ok_and(|x| v[i] == x),
        ColumnData::Categorical { .. } => c.text(i).as_deref() == Some(value.trim()),
    }
}

fn shown_values(frame: &Frame, column: &str) -> String {
    let Some(c) = frame.column(column) else {
        return String::new();
    };
    let mut seen: Vec<String> = Vec::new();
    for i in 0..c.len() {
        if let Some(t) = c.text(i)
            && !seen.contains(&t)
        {
            seen.push(t);
            if seen.len() >= 20 {
                break;
            }
        }
    }
    seen.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the CSV and keeps the treatment and control rows, with the outcome split off
/// and the treatment, outcome and excluded columns removed from the features.
pub fn load_experiment(opts: &EvaluateOptions) -> Result<Experiment, UpliftError> {
    if opts.treatment.trim() == opts.control.trim() {
        return Err(UpliftError::SameArms {
            value: opts.treatment.clone(),
        });
    }
    for (column, role) in [
        (&opts.treatment_col, "treatment"),
        (&opts.outcome, "outcome"),
    ] {
        if opts.exclude.iter().any(|e| e == column) {
            return Err(UpliftError::ExcludedRole {
                column: column.clone(),
                role,
            });
        }
    }
    let frame = read_csv(&opts.csv, &CsvOptions::default())?;
    let Some(tcol) = frame.column(&opts.treatment_col) else {
        return Err(FrameError::NoSuchColumn {
            name: opts.treatment_col.clone(),
            available: frame.names().join(", "),
        }
        .into());
    };
    let mut rows = Vec::new();
    let mut treated = Vec::new();
    for i in 0..frame.n_rows() {
        if tcol.text(i).is_none() {
            return Err(UpliftError::MissingValue {
                column: opts.treatment_col.clone(),
                role: "treatment",
                line: frame.line_of(i).unwrap_or(0),
            });
        }
        if matches_value(&frame, &opts.treatment_col, i, &opts.treatment) {
            rows.push(i);
            treated.push(true);
        } else if matches_value(&frame, &opts.treatment_col, i, &opts.control) {
            rows.push(i);
            treated.push(false);
        }
    }
    for (present, role, value) in [
        (treated.iter().any(|&t| t), "treatment", &opts.treatment),
        (treated.iter().any(|&t| !t), "control", &opts.control),
    ] {
        if !present {
            return Err(UpliftError::ArmValueNotFound {
                column: opts.treatment_col.clone(),
                role,
                value: value.clone(),
                values: shown_values(&frame, &opts.treatment_col),
            });
        }
    }
    let mut x = frame.select_rows(&rows)?;
    x.take_column(&opts.treatment_col)?;
    let (mut x, y, positive) = match x.column(&opts.outcome).map(|c| c.is_categorical()) {
        Some(true) => {
            let (x, target) = x.split_binary_target(&opts.outcome, None)?;
            (x, target.y, Some(target.positive))
        }
        _ => {
            let col = x.take_column(&opts.outcome)?;
            let ColumnData::Numeric(v) = col.data else {
                unreachable!("checked numeric above")
            };
            if let Some(i) = v.iter().position(|v| v.is_nan()) {
                return Err(UpliftError::MissingValue {
                    column: opts.outcome.clone(),
                    role: "outcome",
                    line: x.line_of(i).unwrap_or(0),
                });
            }
            (x, v, None)
        }
    };
    x.drop_columns(&opts.exclude)?;
    if x.n_cols() == 0 {
        return Err(UpliftError::NoFeatures);
    }
    Ok(Experiment {
        x,
        treated,
        outcome_kind: OutcomeKind::detect(&y),
        y,
        positive,
        source_rows: rows,
    })
}

/// Mean and standard deviation (n − 1) over folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Summary { mean, std }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4} ± {:.4}", self.mean, self.std)
    }
}

/// Metrics of one fold's held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldMetrics {
    pub fold: usize,
    pub test_rows: usize,
    pub qini: f64,
    pub auuc: f64,
    pub uplift_at_10: f64,
    pub uplift_at_20: f64,
    pub uplift_at_30: f64,
    /// Qini of the same scores shuffled: what chance gives on this fold.
    pub random_qini: f64,
}

/// One point of the pooled out-of-fold Qini curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QiniPoint {
    /// Share of customers targeted, 0 to 1.
    pub fraction: f64,
    pub targeted: usize,
    /// Incremental outcomes among them (conversions or spend, on the treated scale).
    pub incremental: f64,
    /// The same for random targeting (the diagonal).
    pub random: f64,
}

/// The result of [`evaluate_csv`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftReport {
    pub csv: String,
    pub treatment_col: String,
    pub treatment: String,
    pub control: String,
    pub outcome: String,
    pub outcome_kind: OutcomeKind,
    pub positive: Option<String>,
    pub learner: String,
    pub folds: usize,
    pub seed: u64,
    pub features: Vec<String>,
    pub rows: usize,
    pub treated_rows: usize,
    pub control_rows: usize,
    /// Mean outcome treated minus control over all kept rows (the average effect).
    pub observed_uplift: f64,
    pub per_fold: Vec<FoldMetrics>,
    pub qini: Summary,
    pub auuc: Summary,
    pub uplift_at_10: Summary,
    pub uplift_at_20: Summary,
    pub uplift_at_30: Summary,
    pub random_qini: Summary,
    /// Qini coefficient of the pooled out-of-fold scores.
    pub pooled_qini: f64,
    pub qini_curve: Vec<QiniPoint>,
    pub definitions: String,
    /// Per kept row: its data-row number in the file, fold, arm, outcome and out-of-fold
    /// uplift; written by [`UpliftReport::write_rows`], left out of the JSON.
    #[serde(skip)]
    pub row_results: Vec<RowResult>,
}

/// One kept row's fold and out-of-fold score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    pub source_row: usize,
    pub fold: usize,
    pub treated: bool,
    pub outcome: f64,
    pub uplift: f64,
}

const DEFINITIONS: &str = "scikit-uplift 0.5.1: qini = qini_auc_score(negative_effect=True), \
auuc = uplift_auc_score, uplift@k = uplift_at_k(strategy='by_group'); mean ± std (n-1) over folds";

impl UpliftReport {
    /// Writes `row,fold,treated,outcome,uplift` per kept row (row = 0-based data row in
    /// the CSV, header not counted), so a Python script can use the very same folds.
    pub fn write_rows(&self, path: &Path) -> Result<(), UpliftError> {
        let io = |source| UpliftError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "row,fold,treated,outcome,uplift").map_err(io)?;
        for r in &self.row_results {
            writeln!(
                w,
                "{},{},{},{},{}",
                r.source_row, r.fold, r.treated as u8, r.outcome, r.uplift
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }
}

impl fmt::Display for UpliftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.outcome_kind {
            OutcomeKind::Binary => "binary",
            OutcomeKind::Continuous => "continuous",
        };
        writeln!(
            f,
            "Uplift evaluation of {}: outcome {} ({kind}), {:?} vs {:?} in {}",
            self.csv, self.outcome, self.treatment, self.control, self.treatment_col
        )?;
        writeln!(
            f,
            "learner {}, {} folds stratified on treatment × outcome, seed {}; {} features",
            self.learner,
            self.folds,
            self.seed,
            self.features.len()
        )?;
        writeln!(
            f,
            "rows {} (treated {}, control {}); observed uplift (mean treated − control) {:.4}",
            self.rows, self.treated_rows, self.control_rows, self.observed_uplift
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:>4} {:>7} {:>8} {:>8} {:>11} {:>11} {:>11} {:>12}",
            "fold", "rows", "qini", "auuc", "uplift@10%", "uplift@20%", "uplift@30%", "random qini"
        )?;
        for m in &self.per_fold {
            writeln!(
                f,
                "{:>4} {:>7} {:>8.4} {:>8.4} {:>11.4} {:>11.4} {:>11.4} {:>12.4}",
                m.fold + 1,
                m.test_rows,
                m.qini,
                m.auuc,
                m.uplift_at_10,
                m.uplift_at_20,
                m.uplift_at_30,
                m.random_qini
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Qini coefficient  {}", self.qini)?;
        writeln!(f, "AUUC              {}", self.auuc)?;
        writeln!(f, "uplift@10%        {}", self.uplift_at_10)?;
        writeln!(f, "uplift@20%        {}", self.uplift_at_20)?;
        writeln!(f, "uplift@30%        {}", self.uplift_at_30)?;
        writeln!(f, "random Qini       {}", self.random_qini)?;
        writeln!(f, "pooled Qini       {:.4}", self.pooled_qini)?;
        writeln!(f)?;
        writeln!(
            f,
            "Qini curve (pooled out-of-fold): targeted → incremental (random)"
        )?;
        for p in self.qini_curve.iter().step_by(10) {
            writeln!(
                f,
                "  {:>4.0}% {:>8} → {:>10.2} ({:.2})",
                p.fraction * 100.0,
                p.targeted,
                p.incremental,
                p.random
            )?;
        }
        writeln!(f)?;
        write!(f, "Definitions: {}", self.definitions)
    }
}

fn mean_of(y: &[f64], treated: &[bool], arm: bool) -> f64 {
    let (s, n) = y
        .iter()
        .zip(treated)
        .filter(|&(_, &t)| t == arm)
        .fold((0.0, 0usize), |(s, n), (v, _)| (s + v, n + 1));
    s / n as f64
}

/// The fold of each kept row, stratified on treatment × outcome and deterministic by
/// seed (the same folds [`evaluate_csv`] uses).
pub fn experiment_folds(
    exp: &Experiment,
    folds: usize,
    seed: u64,
) -> Result<Vec<zhiying_models::Fold>, UpliftError> {
    let labels: Vec<f64> = exp
        .treated
        .iter()
        .zip(&exp.y)
        .map(|(&t, &v)| 2.0 * f64::from(u8::from(t)) + if v > 0.0 { 1.0 } else { 0.0 })
        .collect();
    Ok(stratified_k_fold(&labels, folds, seed)?)
}

/// Cross-fitted evaluation of `opts.learner` on `opts.csv` (see the module docs).
pub fn evaluate_csv(opts: &EvaluateOptions) -> Result<UpliftReport, UpliftError> {
    let exp = load_experiment(opts)?;
    let cfg = UpliftConfig {
        learner: opts.learner,
        gbdt: zhiying_models::GbdtConfig {
            seed: opts.seed,
            ..default_gbdt()
        },
        seed: opts.seed,
    };
    evaluate_experiment(opts, &exp, &cfg)
}

/// [`evaluate_csv`] on an already loaded experiment, with explicit model settings.
pub fn evaluate_experiment(
    opts: &EvaluateOptions,
    exp: &Experiment,
    cfg: &UpliftConfig,
) -> Result<UpliftReport, UpliftError> {
    let folds = experiment_folds(exp, opts.folds, opts.seed)?;
    let n = exp.y.len();
    let arm: Vec<usize> = exp.treated.iter().map(|&t| usize::from(t)).collect();
    let mut oof = vec![f64::NAN; n];
    let mut per_fold = Vec::with_capacity(folds.len());
    for (f, fold) in folds.iter().enumerate() {
        let x_train = exp.x.select_rows(&fold.train)?;
        let pick = |v: &[usize]| v.iter().map(|&i| arm[i]).collect::<Vec<_>>();
        let y_train: Vec<f64> = fold.train.iter().map(|&i| exp.y[i]).collect();
        let model = UpliftModel::fit(
            &x_train,
            &pick(&fold.train),
            &y_train,
            1,
            exp.outcome_kind,
            cfg,
        )?;
        let scores = model.predict(&exp.x.select_rows(&fold.test)?)?.arm(1);
        let y: Vec<f64> = fold.test.iter().map(|&i| exp.y[i]).collect();
        let t: Vec<bool> = fold.test.iter().map(|&i| exp.treated[i]).collect();
        for (&i, &s) in fold.test.iter().zip(&scores) {
            oof[i] = s;
        }
        let mut shuffled = scores.clone();
        shuffled.shuffle(&mut Pcg64::seed_from_u64(
            opts.seed ^ (0x9e37_79b9 + f as u64),
        ));
        per_fold.push(FoldMetrics {
            fold: f,
            test_rows: fold.test.len(),
            qini: qini_auc_score(&y, &scores, &t, true)?,
            auuc: uplift_auc_score(&y, &scores, &t)?,
            uplift_at_10: uplift_at_k(&y, &scores, &t, AtKStrategy::ByGroup, 0.1)?,
            uplift_at_20: uplift_at_k(&y, &scores, &t, AtKStrategy::ByGroup, 0.2)?,
            uplift_at_30: uplift_at_k(&y, &scores, &t, AtKStrategy::ByGroup, 0.3)?,
            random_qini: qini_auc_score(&y, &shuffled, &t, true)?,
        });
    }
    let col = |g: fn(&FoldMetrics) -> f64| Summary::of(&per_fold.iter().map(g).collect::<Vec<_>>());
    let curve = qini_curve(&exp.y, &oof, &exp.treated)?;
    let total = curve.y.last().copied().unwrap_or(0.0);
    let qini_points = (0..=100)
        .map(|p| {
            let targeted = n * p / 100;
            QiniPoint {
                fraction: p as f64 / 100.0,
                targeted,
                incremental: curve.value_at(targeted as f64),
                random: total * targeted as f64 / n as f64,
            }
        })
        .collect();
    let assignment = fold_assignment(&folds, n);
    let treated_rows = exp.treated.iter().filter(|&&t| t).count();
    Ok(UpliftReport {
        csv: opts.csv.display().to_string(),
        treatment_col: opts.treatment_col.clone(),
        treatment: opts.treatment.clone(),
        control: opts.control.clone(),
        outcome: opts.outcome.clone(),
        outcome_kind: exp.outcome_kind,
        positive: exp.positive.clone(),
        learner: cfg.learner.name(),
        folds: opts.folds,
        seed: opts.seed,
        features: exp.x.names().iter().map(|s| s.to_string()).collect(),
        rows: n,
        treated_rows,
        control_rows: n - treated_rows,
        observed_uplift: mean_of(&exp.y, &exp.treated, true) - mean_of(&exp.y, &exp.treated, false),
        qini: col(|m| m.qini),
        auuc: col(|m| m.auuc),
        uplift_at_10: col(|m| m.uplift_at_10),
        uplift_at_20: col(|m| m.uplift_at_20),
        uplift_at_30: col(|m| m.uplift_at_30),
        random_qini: col(|m| m.random_qini),
        pooled_qini: qini_auc_score(&exp.y, &oof, &exp.treated, true)?,
        qini_curve: qini_points,
        per_fold,
        definitions: DEFINITIONS.into(),
        row_results: (0..n)
            .map(|i| RowResult {
                source_row: exp.source_rows[i],
                fold: assignment[i],
                treated: exp.treated[i],
                outcome: exp.y[i],
                uplift: oof[i],
            })
            .collect(),
    })
}
