//! Bank models on the canonical data, trained and scored in-house:
//!
//! - **churn** ([`churn`]): will an active customer go quiet in the next 90 days? Features
//!   at a snapshot 90 days before the end of the data, label from the performance window
//!   after it, so nothing the label depends on leaks into the features (design in
//!   `docs/bank-models.md`).
//! - **product propensity** ([`propensity`]): for every product category, a look-alike
//!   model of who holds it, scored for customers who don't yet.
//! - **transaction anomaly** ([`anomaly`]): an isolation forest over each debit's distance
//!   from the customer's own habits (amount, channel, hour, velocity).
//!
//! Features are one SQL statement on the [`AnalyticsEngine`](zhiying_engine::AnalyticsEngine)
//! ([`features`]); trees are LightGBM through `zhiying-models`; every model gets an
//! [`EvaluationReport`](zhiying_models::EvaluationReport) on a held-out test split and is
//! saved under `DATA_DIR/models/bank/`. All scores land in `derived/scores.parquet`
//! ([`scores`]), which the tag build reads, so audiences can use `churn_score > 0.3`.
//!
//! ```no_run
//! # async fn run(engine: &dyn zhiying_engine::AnalyticsEngine, dd: &zhiying_core::DataDir) -> Result<(), zhiying_bankmodels::BankModelError> {
//! let summary = zhiying_bankmodels::train_and_score(engine, dd, &Default::default()).await?;
//! for m in &summary.models {
//!     println!("{} AUC {:?}", m.name, m.test_auc);
//! }
//! # Ok(()) }
//! ```

pub mod anomaly;
pub mod churn;
pub mod clv;
pub mod features;
pub mod isoforest;
pub mod propensity;
pub mod registry;
pub mod scores;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;
use zhiying_models::{EvaluationReport, Frame, GbdtConfig, GbdtModel};

pub use scores::{ModelScores, ScoreRow, scores_path, scores_schema, write_scores};

#[derive(Debug, thiserror::Error)]
pub enum BankModelError {
    #[error(transparent)]
    Engine(#[from] zhiying_engine::EngineError),
    #[error(transparent)]
    Model(#[from] zhiying_models::ModelError),
    #[error(transparent)]
    Frame(#[from] zhiying_models::FrameError),
    #[error(transparent)]
    Eval(#[from] zhiying_models::eval::EvalError),
    #[error("Arrow: {0}")]
    Arrow(#[from] zhiying_engine::arrow::error::ArrowError),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{model}: {problem}")]
    Data { model: String, problem: String },
}

impl BankModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        BankModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn data(model: &str, problem: impl Into<String>) -> Self {
        BankModelError::Data {
            model: model.to_string(),
            problem: problem.into(),
        }
    }
}

/// Which models to train, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankModelsOptions {
    /// Last day of data to use; default: the day of the latest transaction.
    pub as_of: Option<NaiveDate>,
    pub churn: bool,
    pub propensity: bool,
    pub anomaly: bool,
    /// Customer lifetime value (BG/NBD + Gamma-Gamma) and P(alive).
    pub clv: bool,
    /// Reason codes (TreeSHAP) for every scored customer of the churn model.
    pub reasons: bool,
    pub seed: u64,
    /// LightGBM threads; 0 = all cores.
    pub num_threads: usize,
}

impl Default for BankModelsOptions {
    fn default() -> Self {
        BankModelsOptions {
            as_of: None,
            churn: true,
            propensity: true,
            anomaly: true,
            clv: true,
            reasons: true,
            seed: 42,
            num_threads: 0,
        }
    }
}

/// What one model learned and how well, for the CLI, the console and the registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub kind: String,
    pub version: String,
    /// How the label is defined, in words.
    pub label: String,
    /// Features are computed as of this day (training).
    pub train_snapshot: NaiveDate,
    /// Scores are computed as of this day.
    pub score_snapshot: NaiveDate,
    pub train_rows: usize,
    pub test_rows: usize,
    pub positives: usize,
    pub test_auc: Option<f64>,
    pub test_ks: Option<f64>,
    pub top_features: Vec<(String, f64)>,
    pub scored: usize,
    pub artifact: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<EvaluationReport>,
    /// The CLV model's parameters and holdout validation (CLV models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<clv::ClvReport>,
    /// SHA-256 of the training feature frame and labels ([`frame_hash`]), so a registered
    /// version can be traced to exactly what it learned from.
    #[serde(default)]
    pub training_data_hash: String,
    /// The training parameters (trees, learning rate, leaves, seed…).
    #[serde(default)]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankModelsSummary {
    pub data_end: NaiveDate,
    pub models: Vec<ModelSummary>,
    pub scores_path: PathBuf,
    pub score_rows: usize,
    /// Models not trained because the data cannot support them (e.g. too few churners in
    /// a tiny bank), with the reason.
    pub skipped: Vec<(String, String)>,
    pub seconds: f64,
}

/// The last day with transactions.
pub async fn data_end(engine: &dyn AnalyticsEngine) -> Result<NaiveDate, BankModelError> {
    let rows = engine
        .query_json("SELECT CAST(CAST(MAX(ts) AS DATE) AS VARCHAR) AS d FROM transactions")
        .await?;
    rows.first()
        .and_then(|r| r.get("d"))
        .and_then(|v| v.as_str())
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| {
            BankModelError::data(
                "bank models",
                "there are no transactions: ingest data first (zhiying ingest or zhiying demo)",
            )
        })
}

/// Trains the selected models, evaluates them on held-out customers, saves them and writes
/// every score to `derived/scores.parquet`.
pub async fn train_and_score(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    opts: &BankModelsOptions,
) -> Result<BankModelsSummary, BankModelError> {
    Ok(train_and_score_keeping_clv(engine, dd, opts).await?.0)
}

/// [`train_and_score`], also handing back the CLV score sets it fitted, so that scoring
/// the champions right after (registry) does not fit BG/NBD and Gamma-Gamma again.
pub(crate) async fn train_and_score_keeping_clv(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    opts: &BankModelsOptions,
) -> Result<(BankModelsSummary, Vec<ModelScores>), BankModelError> {
    let started = std::time::Instant::now();
    let end = match opts.as_of {
        Some(d) => d,
        None => data_end(engine).await?,
    };
    let mut models = Vec::new();
    let mut sets = Vec::new();
    let mut skipped = Vec::new();
    // Too little data for one model is a note, not a failure of the others.
    let mut keep = |r: Result<(ModelSummary, ModelScores), BankModelError>,
                    models: &mut Vec<ModelSummary>,
                    sets: &mut Vec<ModelScores>|
     -> Result<(), BankModelError> {
        match r {
            Ok((summary, set)) => {
                models.push(summary);
                sets.push(set);
                Ok(())
            }
            Err(BankModelError::Data { model, problem }) => {
                tracing::warn!(%model, %problem, "model skipped");
                skipped.push((model, problem));
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    let current = features::customer_features(engine, end).await?;
    if opts.churn {
        let r = churn::train_and_score(engine, dd, &current, opts).await;
        keep(r, &mut models, &mut sets)?;
    }
    if opts.propensity {
        for (summary, set) in propensity::train_and_score(dd, &current, opts)? {
            models.push(summary);
            sets.push(set);
        }
    }
    if opts.anomaly {
        let r = anomaly::train_and_score(engine, dd, end, opts).await;
        keep(r, &mut models, &mut sets)?;
    }
    let mut fitted_clv = Vec::new();
    if opts.clv {
        match clv::train_and_score(engine, dd, end, opts).await {
            Ok((summary, clv_sets, _)) => {
                models.push(summary);
                fitted_clv = clv_sets.clone();
                sets.extend(clv_sets);
            }
            Err(BankModelError::Data { model, problem }) => {
                tracing::warn!(%model, %problem, "model skipped");
                skipped.push((model, problem));
            }
            Err(e) => return Err(e),
        }
    }
    let score_rows = sets.iter().map(|s| s.rows.len()).sum();
    let scores_path = write_scores(dd, &sets)?;
    let summary = BankModelsSummary {
        data_end: end,
        models,
        scores_path,
        score_rows,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((summary, fitted_clv))
}

/// Which part of the data a customer falls in: a stable hash, so retraining on new data
/// keeps each customer on the same side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    Train,
    Valid,
    Test,
}

pub(crate) fn split_of(customer_id: &str, seed: u64) -> Split {
    match (twox_hash::XxHash3_128::oneshot_with_seed(seed, customer_id.as_bytes()) % 10) as u8 {
        0..=5 => Split::Train,
        6 | 7 => Split::Valid,
        _ => Split::Test,
    }
}

/// A trained binary GBDT with its test-set report.
pub(crate) struct Trained {
    pub model: GbdtModel,
    pub report: EvaluationReport,
    pub train_rows: usize,
    pub test_rows: usize,
    pub positives: usize,
    pub data_hash: String,
    /// A sample of the training rows and their scores, the baseline for drift at score time.
    pub reference: Reference,
}

/// Rows kept from the training sample as the drift baseline.
pub const REFERENCE_ROWS: usize = 5_000;

/// The training-time baseline saved with a model: a sample of its training feature rows
/// (after the model's own preprocessing, e.g. a propensity model's dropped holding flag)
/// and the model's scores on them. Scoring compares against it: PSI of the score, CSI of
/// every feature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reference {
    /// Stored with missing numbers as `null` (JSON has no NaN).
    #[serde(with = "nan_frame")]
    pub features: Frame,
    pub scores: Vec<f64>,
}

/// A frame in JSON with `NaN` written as `null` and read back as `NaN`.
mod nan_frame {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use zhiying_models::{Column, ColumnData, Frame};

    #[derive(Serialize, Deserialize)]
    enum Data {
        Numeric(Vec<Option<f64>>),
        Categorical {
            codes: Vec<Option<u32>>,
            levels: Vec<String>,
        },
    }

    #[derive(Serialize, Deserialize)]
    struct Col {
        name: String,
        data: Data,
    }

    pub fn serialize<S: Serializer>(frame: &Frame, s: S) -> Result<S::Ok, S::Error> {
        let cols: Vec<Col> = frame
            .columns()
            .iter()
            .map(|c| Col {
                name: c.name.clone(),
                data: match &c.data {
                    ColumnData::Numeric(v) => {
                        Data::Numeric(v.iter().map(|x| x.is_finite().then_some(*x)).collect())
                    }
                    ColumnData::Categorical { codes, levels } => Data::Categorical {
                        codes: codes.clone(),
                        levels: levels.clone(),
                    },
                },
            })
            .collect();
        cols.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Frame, D::Error> {
        let cols = Vec::<Col>::deserialize(d)?;
        let columns = cols
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data: match c.data {
                    Data::Numeric(v) => {
                        ColumnData::Numeric(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
                    }
                    Data::Categorical { codes, levels } => {
                        ColumnData::Categorical { codes, levels }
                    }
                },
            })
            .collect();
        Frame::new(columns).map_err(serde::de::Error::custom)
    }
}

/// Every `k`-th of `rows` so that at most [`REFERENCE_ROWS`] remain.
pub(crate) fn sample_rows(rows: &[usize]) -> Vec<usize> {
    let step = rows.len().div_ceil(REFERENCE_ROWS).max(1);
    rows.iter().step_by(step).copied().collect()
}

/// SHA-256 over a feature frame (names, types, values, level lists) and its labels.
pub fn frame_hash(x: &Frame, y: &[f64]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for c in x.columns() {
        h.update(c.name.as_bytes());
        h.update([0u8]);
        match &c.data {
            zhiying_models::ColumnData::Numeric(v) => {
                h.update(b"n");
                for x in v {
                    h.update(x.to_bits().to_le_bytes());
                }
            }
            zhiying_models::ColumnData::Categorical { codes, levels } => {
                h.update(b"c");
                for l in levels {
                    h.update(l.as_bytes());
                    h.update([0u8]);
                }
                for c in codes {
                    h.update(c.map_or(u32::MAX, |k| k).to_le_bytes());
                }
            }
        }
    }
    h.update(b"y");
    for v in y {
        h.update(v.to_bits().to_le_bytes());
    }
    hex::encode(h.finalize())
}

pub(crate) fn gbdt_params(cfg: &GbdtConfig) -> serde_json::Value {
    serde_json::to_value(cfg).unwrap_or_default()
}

/// Train on the train split with early stopping on the validation split; report on test.
pub(crate) fn fit_binary(
    name: &str,
    x: &Frame,
    y: &[f64],
    ids: &[String],
    opts: &BankModelsOptions,
    cfg: GbdtConfig,
) -> Result<Trained, BankModelError> {
    let mut parts: [Vec<usize>; 3] = Default::default();
    for (i, id) in ids.iter().enumerate() {
        let k = match split_of(id, opts.seed) {
            Split::Train => 0,
            Split::Valid => 1,
            Split::Test => 2,
        };
        parts[k].push(i);
    }
    let pick = |rows: &[usize]| -> (Vec<f64>, usize) {
        let v: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
        let p = v.iter().filter(|&&t| t > 0.5).count();
        (v, p)
    };
    let (ytr, ptr) = pick(&parts[0]);
    let (yva, _) = pick(&parts[1]);
    let (yte, pte) = pick(&parts[2]);
    if ptr < 20 || ptr + 20 > ytr.len() || pte == 0 || pte == yte.len() {
        return Err(BankModelError::data(
            name,
            format!(
                "too few examples of both classes ({ptr} positives of {} training rows, {pte} of {} test rows); generate or ingest more customers",
                ytr.len(),
                yte.len()
            ),
        ));
    }
    let xtr = x.select_rows(&parts[0])?;
    let xva = x.select_rows(&parts[1])?;
    let xte = x.select_rows(&parts[2])?;
    let model = GbdtModel::train_with_validation(&xtr, &ytr, &xva, &yva, &cfg)?;
    let p = model.predict(&xte)?;
    let threshold = selection_threshold(&p, pte as f64 / yte.len() as f64);
    let mut report = EvaluationReport::binary(&yte, &p)?
        .with_feature_importance(model.feature_importance()?)
        .with_confusion(
            &yte,
            &p,
            threshold,
            zhiying_models::eval::CostMatrix::default(),
        )?;
    // Fairness across the protected attributes regulators ask about, on the test split.
    for attribute in ["age", "gender"] {
        let Some(col) = xte.column(attribute) else {
            continue;
        };
        let groups: Vec<Option<String>> = match &col.data {
            zhiying_models::ColumnData::Numeric(v) => zhiying_models::eval::age_bands(v),
            _ => (0..col.len()).map(|i| col.text(i)).collect(),
        };
        let name = if attribute == "age" {
            "age_band"
        } else {
            attribute
        };
        match zhiying_models::eval::fairness(name, &yte, &p, threshold, &groups) {
            Ok(f) => report = report.with_fairness(f),
            Err(e) => tracing::warn!(model = name, error = %e, "fairness report skipped"),
        }
    }
    let sample = x.select_rows(&sample_rows(&parts[0]))?;
    let reference = Reference {
        scores: model.predict(&sample)?,
        features: sample,
    };
    Ok(Trained {
        model,
        report,
        train_rows: ytr.len(),
        test_rows: yte.len(),
        positives: ptr + pte,
        data_hash: frame_hash(x, y),
        reference,
    })
}

/// The score above which as many customers are selected as there are positives (the
/// operating point of a campaign that contacts the expected number of responders).
fn selection_threshold(p: &[f64], share: f64) -> f64 {
    let mut v: Vec<f64> = p.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.5;
    }
    v.sort_by(|a, b| b.total_cmp(a));
    let k = ((share * v.len() as f64).round() as usize).clamp(1, v.len());
    v[k - 1]
}

pub(crate) fn gbdt_config(opts: &BankModelsOptions) -> GbdtConfig {
    GbdtConfig {
        num_trees: 400,
        learning_rate: 0.05,
        num_leaves: 31,
        min_data_in_leaf: 40,
        feature_fraction: 0.9,
        early_stopping_rounds: Some(30),
        seed: opts.seed,
        num_threads: opts.num_threads,
        ..GbdtConfig::default()
    }
}

/// A saved bank model: enough to audit it (label design, snapshots, report) and to score.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedBankModel {
    pub summary: ModelSummary,
    pub gbdt: Option<zhiying_models::gbdt::SavedGbdt>,
    pub isolation_forest: Option<isoforest::IsolationForest>,
    /// The drift baseline (absent in files written before the registry).
    #[serde(default)]
    pub reference: Option<Reference>,
}

impl SavedBankModel {
    /// Reads `DATA_DIR/models/bank/NAME.json`.
    pub fn load(dd: &DataDir, name: &str) -> Result<SavedBankModel, BankModelError> {
        Self::load_file(&model_path(dd, name))
    }

    /// Reads a saved bank model from any path (e.g. a registered version's artefact).
    pub fn load_file(path: &Path) -> Result<SavedBankModel, BankModelError> {
        let body = std::fs::read(path).map_err(|e| BankModelError::io(path, e))?;
        serde_json::from_slice(&body).map_err(|e| {
            BankModelError::data(
                &path.display().to_string(),
                format!("not a saved bank model: {e}"),
            )
        })
    }

    /// Probabilities for a feature frame (boosted-tree models only).
    pub fn predict(&self, frame: &Frame) -> Result<Vec<f64>, BankModelError> {
        let saved = self
            .gbdt
            .as_ref()
            .ok_or_else(|| BankModelError::data(&self.summary.name, "not a boosted-tree model"))?;
        Ok(GbdtModel::from_saved(saved)?.predict(frame)?)
    }
}

pub fn model_path(dd: &DataDir, name: &str) -> PathBuf {
    dd.root()
        .join("models")
        .join("bank")
        .join(format!("{name}.json"))
}

pub(crate) fn save_model(
    dd: &DataDir,
    summary: &mut ModelSummary,
    gbdt: Option<&GbdtModel>,
    forest: Option<&isoforest::IsolationForest>,
    reference: Option<Reference>,
) -> Result<(), BankModelError> {
    let path = model_path(dd, &summary.name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BankModelError::io(dir, e))?;
    }
    summary.artifact = path.clone();
    let saved = SavedBankModel {
        summary: summary.clone(),
        gbdt: gbdt.map(|m| m.to_saved()).transpose()?,
        isolation_forest: forest.cloned(),
        reference,
    };
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec(&saved)
        .map_err(|e| BankModelError::data(&summary.name, e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| BankModelError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| BankModelError::io(&path, e))?;
    Ok(())
}

/// Reads a saved bank model's summary (for the console and `zhiying model bank --list`).
pub fn load_summary(dd: &DataDir, name: &str) -> Result<Option<ModelSummary>, BankModelError> {
    if !model_path(dd, name).exists() {
        return Ok(None);
    }
    Ok(Some(SavedBankModel::load(dd, name)?.summary))
}

/// A version label: the scoring snapshot plus a short hash of the training report.
pub(crate) fn version_of(end: NaiveDate, report: &impl Serialize) -> String {
    let body = serde_json::to_vec(report).unwrap_or_default();
    format!(
        "{}-{:08x}",
        end.format("%Y%m%d"),
        twox_hash::XxHash3_128::oneshot(&body) as u32
    )
}

pub(crate) fn top_features(report: &EvaluationReport, n: usize) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = report
        .feature_importance
        .iter()
        .map(|f| (f.feature.clone(), f.gain_share))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(n);
    v
}
