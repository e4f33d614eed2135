//! The model registry on disk and in the operational store.
//!
//! Every training run registers a new version of each model it trained
//! ([`register`]): its artefact files are copied into the data dir under a
//! content-addressed, never-overwritten path
//! `DATA_DIR/models/registry/NAME/SHA12/` (the first 12 hex digits of the main file's
//! SHA-256), and a row in the store's `models` table records the version number, the
//! training-data hash, the parameters and metrics (`metrics.params`) and the author.
//!
//! Lifecycle (the store's maker-checker states): a new version is a **challenger**
//! (`draft`); the first version of a name becomes **champion** at once (recorded as three
//! audited transitions by [`SYSTEM_ACTOR`]). Any later version reaches champion only by
//! [`request_promotion`] (→ `submitted`) and [`approve`] by a different user (→ `approved`
//! → `champion`, the old champion `retired`); the store refuses self-approval.
//!
//! Scoring reads the champion ([`score_champions`]) with the preprocessing saved in its
//! artefact, computes drift against the training sample saved with it — PSI of the
//! score, CSI of every feature — and stores the drift report next to the version
//! ([`drift_path`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;
use zhiying_models::Frame;
use zhiying_models::eval::{self, Drift};
use zhiying_store::{ModelEntry, ModelStatus, NewModel, OperationalStore, StoreError};

use crate::features::{FeatureTable, customer_features};
use crate::scores::{ModelScores, write_scores};
use crate::{BankModelError, BankModelsOptions, BankModelsSummary, SavedBankModel};

/// The actor recorded when the system (not a person) moves a version: the automatic
/// promotion of a model's first version.
pub const SYSTEM_ACTOR: &str = "zhiying";
/// `algorithm` prefix of bank models in the registry (`bank-churn`, `bank-propensity`,
/// `bank-anomaly`); CSV models from `zhiying model train` are `gbdt`.
pub const BANK_PREFIX: &str = "bank-";
/// Score PSI above which the console warns.
pub const PSI_WARN: f64 = 0.1;
/// Score PSI above which the console flags the model.
pub const PSI_ALERT: f64 = 0.25;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Model(#[from] BankModelError),
    #[error(transparent)]
    Artifact(#[from] zhiying_models::artifact::ArtifactError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub algorithm: String,
    pub target: String,
    pub features: Vec<String>,
    pub metrics: serde_json::Value,
    pub params: serde_json::Value,
    pub training_data_hash: String,
    /// Files to copy into the version's directory, as (name in the directory, source).
    /// The first is the artefact the version points at.
    pub files: Vec<(String, PathBuf)>,
    pub author: String,
}

/// The author to record: `--author`, else `$USER`, else `unknown`.
pub fn author(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// `DATA_DIR/models/registry/NAME`.
pub fn model_dir(dd: &DataDir, name: &str) -> PathBuf {
    dd.root().join("models").join("registry").join(name)
}

/// The absolute path of a registered version's artefact.
pub fn artifact_path(dd: &DataDir, entry: &ModelEntry) -> PathBuf {
    let p = Path::new(&entry.model.artifact_path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dd.root().join(p)
    }
}

/// The directory holding a registered version's files.
pub fn version_dir(dd: &DataDir, entry: &ModelEntry) -> PathBuf {
    let p = artifact_path(dd, entry);
    p.parent().map(Path::to_path_buf).unwrap_or(p)
}

/// The drift baseline file a CSV model's version keeps beside its `model.json`.
pub const REFERENCE_FILE: &str = "reference.json";

/// Reads a drift baseline ([`crate::Reference`]) written next to a model file.
pub fn load_reference(model_file: &Path) -> Option<crate::Reference> {
    let dir = if model_file.is_dir() {
        model_file
    } else {
        model_file.parent()?
    };
    let body = std::fs::read(dir.join(REFERENCE_FILE)).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Where the latest drift report of a version is stored.
pub fn drift_path(dd: &DataDir, entry: &ModelEntry) -> PathBuf {
    version_dir(dd, entry).join(format!("drift-v{}.json", entry.version))
}

/// Copies the files into the registry and registers the next version of `reg.name` as a
/// challenger; the first version of a name becomes champion automatically.
pub async fn register(
    store: &dyn OperationalStore,
    dd: &DataDir,
    reg: &Registration,
) -> Result<ModelEntry, RegistryError> {
    let (_, main) = reg.files.first().ok_or_else(|| {
        RegistryError::Invalid(format!("model {}: no artefact file to register", reg.name))
    })?;
    let sha256 = zhiying_models::artifact::file_sha256(main)?;
    let rel = Path::new("models")
        .join("registry")
        .join(&reg.name)
        .join(&sha256[..12]);
    let dir = dd.root().join(&rel);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    for (file, src) in &reg.files {
        let dst = dir.join(file);
        if !dst.exists() {
            let tmp = dir.join(format!(".{file}.tmp"));
            std::fs::copy(src, &tmp).map_err(io(src))?;
            std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        }
    }
    let mut metrics = match &reg.metrics {
        serde_json::Value::Object(m) => m.clone(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("value".into(), other.clone());
            m
        }
    };
    metrics.insert("params".into(), reg.params.clone());
    let had_versions = !store.models(Some(reg.name.as_str())).await?.is_empty();
    let entry = store
        .register_model(&NewModel {
            name: reg.name.clone(),
            algorithm: reg.algorithm.clone(),
            target: reg.target.clone(),
            features: reg.features.clone(),
            metrics: serde_json::Value::Object(metrics),
            artifact_path: rel.join(&reg.files[0].0).display().to_string(),
            sha256,
            training_data_hash: reg.training_data_hash.clone(),
            created_by: reg.author.clone(),
        })
        .await?;
    if had_versions || store.champion_model(&reg.name).await?.is_some() {
        return Ok(entry);
    }
    // The first version of a name: champion at once, every step audited.
    let note = "first version of this model: champion automatically";
    store
        .transition_model(
            &reg.name,
            entry.version,
            ModelStatus::Submitted,
            &reg.author,
            note,
        )
        .await?;
    let actor = if reg.author == SYSTEM_ACTOR {
        "zhiying-registry"
    } else {
        SYSTEM_ACTOR
    };
    store
        .transition_model(&reg.name, entry.version, ModelStatus::Approved, actor, note)
        .await?;
    let swap = store
        .promote_model(&reg.name, entry.version, actor, note)
        .await?;
    Ok(swap.champion)
}

/// Asks for a challenger to become champion (→ `submitted`).
pub async fn request_promotion(
    store: &dyn OperationalStore,
    name: &str,
    version: u64,
    actor: &str,
    note: &str,
) -> Result<ModelEntry, RegistryError> {
    let note = if note.is_empty() {
        "promotion requested"
    } else {
        note
    };
    Ok(store
        .transition_model(name, version, ModelStatus::Submitted, actor, note)
        .await?)
}

/// Approves a requested promotion and makes the version champion (the old one is
/// retired). The store refuses when `actor` created or submitted the version
/// ([`StoreError::SelfApproval`]).
pub async fn approve(
    store: &dyn OperationalStore,
    name: &str,
    version: u64,
    actor: &str,
    note: &str,
) -> Result<ModelEntry, RegistryError> {
    let note = if note.is_empty() {
        "promotion approved"
    } else {
        note
    };
    store
        .transition_model(name, version, ModelStatus::Approved, actor, note)
        .await?;
    Ok(store
        .promote_model(name, version, actor, note)
        .await?
        .champion)
}

/// Drift of one scoring run against a version's training sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftReport {
    pub model: String,
    pub version: u64,
    /// RFC 3339, UTC.
    pub scored_at: String,
    pub rows: usize,
    /// PSI of the score: training sample vs this scoring run.
    pub score: Drift,
    /// CSI of every feature, largest first.
    pub features: Vec<Drift>,
    /// `ok`, `warn` (score PSI > 0.1) or `alert` (> 0.25).
    pub flag: String,
}

/// The console flag for a score PSI.
pub fn flag_of(psi: f64) -> &'static str {
    if psi > PSI_ALERT {
        "alert"
    } else if psi > PSI_WARN {
        "warn"
    } else {
        "ok"
    }
}

/// Computes PSI of `scores` against `reference_scores` and CSI of every column of
/// `reference` against the same-named column of `current`.
pub fn drift_report(
    model: &str,
    version: u64,
    reference_scores: &[f64],
    scores: &[f64],
    reference: &Frame,
    current: &Frame,
) -> Result<DriftReport, RegistryError> {
    let bad = |e: eval::EvalError| RegistryError::Invalid(format!("drift of {model}: {e}"));
    let score = eval::psi("score", reference_scores, scores, 10).map_err(bad)?;
    let mut features = eval::csi(reference, current, 10).map_err(bad)?;
    features.sort_by(|a, b| b.index.total_cmp(&a.index));
    Ok(DriftReport {
        model: model.to_string(),
        version,
        scored_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        rows: scores.len(),
        flag: flag_of(score.index).into(),
        score,
        features,
    })
}

/// Stores a drift report with its version (replacing the previous one).
pub fn save_drift(
    dd: &DataDir,
    entry: &ModelEntry,
    report: &DriftReport,
) -> Result<PathBuf, RegistryError> {
    let path = drift_path(dd, entry);
    let dir = version_dir(dd, entry);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let body = serde_json::to_vec_pretty(report)
        .map_err(|e| RegistryError::Invalid(format!("drift report: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, body).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// The stored drift report of a version, if it was ever scored.
pub fn load_drift(dd: &DataDir, entry: &ModelEntry) -> Option<DriftReport> {
    let body = std::fs::read(drift_path(dd, entry)).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The registration of a freshly trained bank model (`DATA_DIR/models/bank/NAME.json`).
pub fn bank_registration(
    summary: &crate::ModelSummary,
    features: Vec<String>,
    author: &str,
) -> Registration {
    let metrics = serde_json::json!({
        "test_auc": summary.test_auc,
        "test_ks": summary.test_ks,
        "train_rows": summary.train_rows,
        "test_rows": summary.test_rows,
        "positives": summary.positives,
        "train_snapshot": summary.train_snapshot,
        "label_version": summary.version,
        "top_features": summary.top_features,
    });
    Registration {
        name: summary.name.clone(),
        algorithm: format!("{BANK_PREFIX}{}", summary.kind),
        target: summary.label.clone(),
        features,
        metrics,
        params: summary.params.clone(),
        training_data_hash: summary.training_data_hash.clone(),
        files: vec![("model.json".into(), summary.artifact.clone())],
        author: author.to_string(),
    }
}

/// A trained, registered and scored run of the bank models.
#[derive(Debug, Clone, Serialize)]
pub struct RegisteredRun {
    #[serde(flatten)]
    pub summary: BankModelsSummary,
    /// The versions this run registered.
    pub registered: Vec<ModelEntry>,
    /// The champions whose scores were written, with their drift.
    pub scored: Vec<ScoredChampion>,
}

/// One champion's scoring run.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredChampion {
    pub name: String,
    pub version: u64,
    pub rows: usize,
    pub drift: Option<DriftReport>,
}

/// Trains the selected bank models, registers each as a new version (challenger, or
/// champion when it is the first), then writes the **champions'** scores.
pub async fn train_register_and_score(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    store: &dyn OperationalStore,
    opts: &BankModelsOptions,
    author: &str,
) -> Result<RegisteredRun, RegistryError> {
    let (mut summary, fitted_clv) = crate::train_and_score_keeping_clv(engine, dd, opts).await?;
    let mut registered = Vec::new();
    for m in &summary.models {
        let saved = SavedBankModel::load_file(&m.artifact)?;
        let features = saved
            .gbdt
            .as_ref()
            .map(|g| g.schema.features.iter().map(|f| f.name.clone()).collect())
            .unwrap_or_else(|| {
                crate::anomaly::FEATURES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
        let entry = register(store, dd, &bank_registration(m, features, author)).await?;
        registered.push(entry);
    }
    let fitted_clv = (!fitted_clv.is_empty()).then_some(fitted_clv);
    let scored =
        score_champions_with(engine, dd, store, opts.as_of, opts.reasons, fitted_clv).await?;
    summary.score_rows = scored.iter().map(|s| s.rows).sum();
    Ok(RegisteredRun {
        summary,
        registered,
        scored,
    })
}

/// Scores every champion bank model on the current data with its saved artefact and
/// preprocessing, records its drift, and rewrites `derived/scores.parquet` with the
/// champions' scores (`model_version` = `vN`, the registry version).
pub async fn score_champions(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    store: &dyn OperationalStore,
    as_of: Option<chrono::NaiveDate>,
    reasons: bool,
) -> Result<Vec<ScoredChampion>, RegistryError> {
    score_champions_with(engine, dd, store, as_of, reasons, None).await
}

/// [`score_champions`] with the CLV sets already fitted on the same data in this run, if any.
async fn score_champions_with(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    store: &dyn OperationalStore,
    as_of: Option<chrono::NaiveDate>,
    reasons: bool,
    mut fitted_clv: Option<Vec<ModelScores>>,
) -> Result<Vec<ScoredChampion>, RegistryError> {
    let champions: Vec<ModelEntry> = store
        .models(None)
        .await?
        .into_iter()
        .filter(|m| m.status == ModelStatus::Champion && m.model.algorithm.starts_with(BANK_PREFIX))
        .collect();
    if champions.is_empty() {
        return Ok(Vec::new());
    }
    let end = match as_of {
        Some(d) => d,
        None => crate::data_end(engine).await?,
    };
    let mut current: Option<FeatureTable> = None;
    let mut tx: Option<crate::anomaly::TransactionFeatures> = None;
    let mut sets = Vec::new();
    let mut out = Vec::new();
    for entry in &champions {
        let saved = SavedBankModel::load_file(&artifact_path(dd, entry))?;
        if saved.summary.kind == "clv" {
            // BG/NBD and Gamma-Gamma are refitted on all the data at scoring time: the
            // model's "preprocessing" is the purchase-day summary, rebuilt the same way.
            let clv_sets = match fitted_clv.take() {
                Some(sets) => sets,
                None => {
                    crate::clv::train_and_score(
                        engine,
                        dd,
                        end,
                        &crate::BankModelsOptions::default(),
                    )
                    .await?
                    .1
                }
            };
            out.push(ScoredChampion {
                name: entry.model.name.clone(),
                version: entry.version,
                rows: clv_sets.first().map_or(0, |s| s.rows.len()),
                drift: None,
            });
            sets.extend(clv_sets.into_iter().map(|mut s| {
                s.version = format!("v{}", entry.version);
                s
            }));
            continue;
        }
        let (rows, frame, scores) = match saved.summary.kind.as_str() {
            "anomaly" => {
                let forest = saved.isolation_forest.as_ref().ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "{}: no isolation forest saved",
                        entry.model.name
                    ))
                })?;
                if tx.is_none() {
                    tx = Some(crate::anomaly::transaction_features(engine, end).await?);
                }
                let t = tx.as_ref().expect("just loaded");
                let (rows, scores) = crate::anomaly::score(forest, t);
                (rows, t.frame()?, scores)
            }
            kind @ ("churn" | "propensity") => {
                let saved_gbdt = saved.gbdt.as_ref().ok_or_else(|| {
                    RegistryError::Invalid(format!("{}: no boosted trees saved", entry.model.name))
                })?;
                let model = zhiying_models::GbdtModel::from_saved(saved_gbdt)
                    .map_err(BankModelError::from)?;
                if current.is_none() {
                    current = Some(customer_features(engine, end).await?);
                }
                let cur = current.as_ref().expect("just loaded");
                let (rows, frame) = if kind == "churn" {
                    crate::churn::score(&model, cur, reasons)?
                } else {
                    let category = entry
                        .model
                        .name
                        .strip_prefix("propensity_")
                        .unwrap_or(&entry.model.name);
                    crate::propensity::score(&model, cur, category)?
                };
                let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
                (rows, frame, scores)
            }
            other => {
                tracing::warn!(model = %entry.model.name, kind = other, "unknown bank model kind: not scored");
                continue;
            }
        };
        let drift = match &saved.reference {
            Some(r) if !scores.is_empty() => {
                match drift_report(
                    &entry.model.name,
                    entry.version,
                    &r.scores,
                    &scores,
                    &r.features,
                    &frame,
                ) {
                    Ok(d) => {
                        save_drift(dd, entry, &d)?;
                        Some(d)
                    }
                    Err(e) => {
                        tracing::warn!(model = %entry.model.name, error = %e, "drift not computed");
                        None
                    }
                }
            }
            _ => None,
        };
        out.push(ScoredChampion {
            name: entry.model.name.clone(),
            version: entry.version,
            rows: rows.len(),
            drift,
        });
        sets.push(ModelScores {
            model: entry.model.name.clone(),
            version: format!("v{}", entry.version),
            as_of: end.to_string(),
            rows,
        });
    }
    write_scores(dd, &sets)?;
    Ok(out)
}
