//! A trained binary model on disk, with the exact preprocessing of its training data and
//! its evaluation report: what `zhiying model train` writes and `zhiying model score` reads.
//!
//! `DIR/model.json` holds a [`ModelArtifact`]: the LightGBM model string, the input
//! schema (column order, types and categorical level lists), the training settings, the
//! training file's SHA-256, the cross-validation summary and a reference distribution of
//! out-of-fold scores for drift checks. `DIR/report.json` holds the
//! [`EvaluationReport`] on the out-of-fold predictions, so its figures are honest
//! estimates, not training-set fits.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cv::{CvReport, ModelError, cross_validate};
use crate::eval::{self, CostMatrix, Drift, EvaluationReport};
use crate::folds::stratified_k_fold;
use crate::frame::{BinaryTarget, Column, ColumnData, CsvOptions, Frame};
use crate::gbdt::{FeatureKind, Gbdt, GbdtConfig, GbdtModel, Objective, SavedGbdt};

pub const ARTIFACT_FORMAT: &str = "zhiying-model/1";
pub const MODEL_FILE: &str = "model.json";
pub const REPORT_FILE: &str = "report.json";

/// Errors around model files.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a Zhiying model file: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: model format {found:?}, this build reads {ARTIFACT_FORMAT:?}")]
    Format { path: PathBuf, found: String },
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A trained binary classifier with everything needed to score new data the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub format: String,
    pub algorithm: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub training_file: String,
    /// SHA-256 of the training file's bytes, as stored (compressed or not).
    pub training_sha256: String,
    pub rows: usize,
    pub positives: usize,
    pub target: String,
    pub positive: String,
    pub excluded: Vec<String>,
    pub config: GbdtConfig,
    pub cv: CvReport,
    /// The 1,001 quantiles (0, 0.001, …, 1) of the out-of-fold scores: the expected
    /// distribution for score PSI at scoring time.
    pub reference_scores: Vec<f64>,
    pub model: SavedGbdt,
}

/// What `train_binary` should add to the report.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub folds: usize,
    pub seed: u64,
    /// Threshold for the confusion matrix and fairness; `None` picks the cost-optimal one.
    pub threshold: Option<f64>,
    pub cost: CostMatrix,
    /// Protected attributes (name, column) for the fairness section. They need not be
    /// model features.
    pub protected: Vec<Column>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            folds: 5,
            seed: 42,
            threshold: None,
            cost: CostMatrix::default(),
            protected: Vec::new(),
        }
    }
}

/// Groups of a protected attribute: age bands for a numeric column whose name mentions
/// age, quintile ranges for other numeric columns, the levels for categorical ones.
pub fn protected_groups(column: &Column) -> Vec<Option<String>> {
    match &column.data {
        ColumnData::Categorical { .. } => (0..column.len()).map(|i| column.text(i)).collect(),
        ColumnData::Numeric(v) => {
            if column.name.to_ascii_lowercase().contains("age") {
                return eval::age_bands(v);
            }
            let mut sorted: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            sorted.sort_by(f64::total_cmp);
            if sorted.is_empty() {
                return vec![None; v.len()];
            }
            let cut = |q: usize| sorted[(q * sorted.len() / 5).min(sorted.len() - 1)];
            let edges: Vec<f64> = (1..5).map(cut).collect();
            v.iter()
                .map(|&x| {
                    if x.is_nan() {
                        return None;
                    }
                    let b = edges.partition_point(|&e| e <= x);
                    let lo = if b == 0 { sorted[0] } else { edges[b - 1] };
                    let hi = if b == 4 {
                        sorted[sorted.len() - 1]
                    } else {
                        edges[b]
                    };
                    Some(format!("Q{} [{lo}, {hi}]", b + 1))
                })
                .collect()
        }
    }
}

fn quantiles(values: &[f64], points: usize) -> Vec<f64> {
    let mut s: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if s.is_empty() {
        return Vec::new();
    }
    s.sort_by(f64::total_cmp);
    (0..points)
        .map(|i| s[((i as f64 / (points - 1) as f64) * (s.len() - 1) as f64).round() as usize])
        .collect()
}

/// SHA-256 of a file, hex-encoded.
pub fn file_sha256(path: &Path) -> Result<String, ArtifactError> {
    let io = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Cross-validates boosted trees for an honest report, then trains the final model on
/// every row. Returns the artifact, the report and the live model.
pub fn train_binary(
    training_file: &Path,
    x: &Frame,
    target: &BinaryTarget,
    excluded: &[String],
    config: &GbdtConfig,
    options: &TrainOptions,
    on_fold: impl FnMut(&crate::cv::FoldResult),
) -> Result<(ModelArtifact, EvaluationReport, GbdtModel), ArtifactError> {
    let config = GbdtConfig {
        objective: Objective::Binary,
        ..config.clone()
    };
    let y = &target.y;
    let folds = stratified_k_fold(y, options.folds, options.seed)
        .map_err(|e| ModelError::Config(e.to_string()))?;
    let gbdt = Gbdt {
        config: config.clone(),
    };
    let mut cv = cross_validate(&gbdt, x, y, &folds, on_fold)?;
    let oof = std::mem::take(&mut cv.out_of_fold);
    let oof = &oof;
    let model = GbdtModel::train(x, y, &config)?;

    let threshold_confusion = match options.threshold {
        Some(t) => eval::confusion(y, oof, t, options.cost),
        None => eval::cost_optimal_threshold(y, oof, options.cost),
    }
    .map_err(ModelError::from)?;
    let threshold = threshold_confusion.threshold;
    let mut report = EvaluationReport::binary(y, oof)
        .map_err(ModelError::from)?
        .with_feature_importance(model.feature_importance()?);
    report.confusion = Some(threshold_confusion);
    for column in &options.protected {
        let groups = protected_groups(column);
        let f =
            eval::fairness(&column.name, y, oof, threshold, &groups).map_err(ModelError::from)?;
        report = report.with_fairness(f);
    }
    let artifact = ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        algorithm: "gbdt".into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        training_file: training_file.display().to_string(),
        training_sha256: file_sha256(training_file)?,
        rows: x.n_rows(),
        positives: target.positives(),
        target: target.name.clone(),
        positive: target.positive.clone(),
        excluded: excluded.to_vec(),
        config,
        cv,
        reference_scores: quantiles(oof, 1001),
        model: model.to_saved()?,
    };
    Ok((artifact, report, model))
}

impl ModelArtifact {
    /// Writes `DIR/model.json` and `DIR/report.json`, creating DIR.
    pub fn save(&self, dir: &Path, report: &EvaluationReport) -> Result<(), ArtifactError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for (name, text) in [
            (MODEL_FILE, serde_json::to_string(self)),
            (REPORT_FILE, serde_json::to_string_pretty(report)),
        ] {
            let path = dir.join(name);
            let text = text.map_err(|source| ArtifactError::Json {
                path: path.clone(),
                source,
            })?;
            // Write then rename, so a crash never leaves half a model.
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, text).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Reads `DIR/model.json` (or the file itself when `path` is a file).
    pub fn load(path: &Path) -> Result<ModelArtifact, ArtifactError> {
        let file = if path.is_dir() {
            path.join(MODEL_FILE)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ArtifactError::Io {
            path: file.clone(),
            source,
        })?;
        let a: ModelArtifact =
            serde_json::from_str(&text).map_err(|source| ArtifactError::Json {
                path: file.clone(),
                source,
            })?;
        if a.format != ARTIFACT_FORMAT {
            return Err(ArtifactError::Format {
                path: file,
                found: a.format,
            });
        }
        Ok(a)
    }

    /// The live model.
    pub fn model(&self) -> Result<GbdtModel, ArtifactError> {
        Ok(GbdtModel::from_saved(&self.model)?)
    }

    /// CSV options that read a scoring file the way the training file was read: the
    /// model's categorical features stay categorical even if a scoring file happens to
    /// hold only numbers in them.
    pub fn csv_options(&self) -> CsvOptions {
        CsvOptions {
            categorical: self
                .model
                .schema
                .features
                .iter()
                .filter(|f| matches!(f.kind, FeatureKind::Categorical { .. }))
                .map(|f| f.name.clone())
                .collect(),
            ..CsvOptions::default()
        }
    }

    /// Score PSI of new scores against the training reference.
    pub fn score_drift(&self, scores: &[f64]) -> Result<Drift, ArtifactError> {
        Ok(eval::psi("score", &self.reference_scores, scores, 10).map_err(ModelError::from)?)
    }
}

/// The `k` features that push a row's score up the most (positive SHAP values,
/// largest first): reason codes for a high score.
pub fn top_reasons(contributions: &[f64], names: &[String], k: usize) -> Vec<(String, f64)> {
    let mut v: Vec<(usize, f64)> = contributions
        .iter()
        .take(names.len())
        .copied()
        .enumerate()
        .filter(|(_, c)| *c > 0.0)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.into_iter()
        .take(k)
        .map(|(i, c)| (names[i].clone(), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::read_csv;
    use std::fmt::Write as _;

    fn write_training_csv(dir: &Path, n: usize, seed_shift: usize) -> PathBuf {
        // y = 1 when score > 0 with noise from a fixed hash; region "north" raises it.
        let mut text = String::from("id;age;income;region;gender;y\n");
        for i in 0..n {
            let j = i + seed_shift;
            let age = 20 + (j * 7) % 50;
            let income = ((j * 37) % 100) as f64;
            let region = ["north", "south", "east"][j % 3];
            let gender = ["F", "M"][(j / 3) % 2];
            let noise = ((j * 2654435761) % 1000) as f64 / 1000.0;
            let s = income / 100.0 + if region == "north" { 0.3 } else { 0.0 } + noise - 1.0;
            let y = if s > 0.0 { "yes" } else { "no" };
            let _ = writeln!(text, "{i};{age};{income};{region};{gender};{y}");
        }
        let p = dir.join(format!("train-{seed_shift}.csv"));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn train_save_load_score_reproduces_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_training_csv(dir.path(), 1200, 0);
        let frame = read_csv(&path, &CsvOptions::default()).unwrap();
        let gender = frame.column("gender").unwrap().clone();
        let age = frame.column("age").unwrap().clone();
        let (mut x, target) = frame.split_binary_target("y", None).unwrap();
        let excluded = vec!["id".to_string(), "gender".to_string()];
        x.drop_columns(&excluded).unwrap();
        let config = GbdtConfig {
            num_trees: 40,
            num_leaves: 8,
            num_threads: 1,
            ..GbdtConfig::default()
        };
        let options = TrainOptions {
            folds: 3,
            protected: vec![gender, age],
            ..TrainOptions::default()
        };
        let (artifact, report, model) =
            train_binary(&path, &x, &target, &excluded, &config, &options, |_| {}).unwrap();
        assert_eq!(artifact.cv.folds.len(), 3);
        assert!(report.auc > 0.8, "{}", report.auc);
        assert_eq!(report.fairness.len(), 2);
        assert_eq!(report.fairness[1].attribute, "age");
        assert!(report.fairness[1].groups.iter().any(|g| g.group == "25-34"));
        assert!(report.confusion.is_some());
        assert_eq!(report.feature_importance.len(), 3);
        assert_eq!(artifact.reference_scores.len(), 1001);
        assert_eq!(artifact.training_sha256.len(), 64);

        let out = dir.path().join("model");
        artifact.save(&out, &report).unwrap();
        let loaded = ModelArtifact::load(&out).unwrap();
        assert_eq!(loaded.model.lightgbm_model, artifact.model.lightgbm_model);
        let live = loaded.model().unwrap();

        // A scoring file read on its own: its region levels appear in another order.
        let score_path = write_training_csv(dir.path(), 300, 1);
        let new = read_csv(&score_path, &loaded.csv_options()).unwrap();
        let from_disk = live.predict(&new).unwrap();
        let in_memory = model.predict(&new).unwrap();
        assert_eq!(from_disk, in_memory);
        let drift = loaded.score_drift(&from_disk).unwrap();
        assert!(drift.index < 0.25, "{}", drift.index);

        let c = live.contributions(&new.select_rows(&[0]).unwrap()).unwrap();
        let names: Vec<String> = c.feature_names.clone();
        let reasons = top_reasons(c.row(0, 0), &names, 2);
        assert!(reasons.len() <= 2 && reasons.iter().all(|r| r.1 > 0.0));
    }

    #[test]
    fn load_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.json");
        std::fs::write(&p, "{}").unwrap();
        let err = ModelArtifact::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("model.json"), "{err}");
        assert!(ModelArtifact::load(&dir.path().join("none")).is_err());
    }

    #[test]
    fn protected_groups_by_column_type() {
        let age = Column::numeric("Age", vec![22.0, 40.0, f64::NAN]);
        assert_eq!(
            protected_groups(&age),
            vec![Some("<25".into()), Some("35-44".into()), None]
        );
        let inc = Column::numeric("income", (0..10).map(f64::from).collect());
        let g = protected_groups(&inc);
        assert_eq!(
            g.iter().flatten().filter(|s| s.starts_with("Q1")).count(),
            2
        );
        assert_eq!(
            g.iter().flatten().filter(|s| s.starts_with("Q5")).count(),
            2
        );
        assert_eq!(
            top_reasons(
                &[0.5, -1.0, 2.0, 9.0],
                &["a".into(), "b".into(), "c".into()],
                5
            ),
            vec![("c".to_string(), 2.0), ("a".to_string(), 0.5)]
        );
    }
}
