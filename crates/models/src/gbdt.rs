//! Gradient-boosted decision trees, trained and scored by LightGBM 4.7 (its C++ library,
//! compiled from source by `lightgbm3-sys`).
//!
//! This module talks to LightGBM's C API directly rather than through the `lightgbm3`
//! wrapper: the wrapper builds datasets with no parameters, so categorical features and
//! `max_bin` could not be set, and it sizes SHAP output for one class only. Everything
//! unsafe stays in this file, behind [`GbdtModel`].
//!
//! A model carries its [`Schema`] (feature names, types and categorical level lists), so
//! data loaded later, with other level codes, is encoded exactly as in training.
//!
//! ```no_run
//! use zhiying_models::frame::{read_csv, CsvOptions};
//! use zhiying_models::gbdt::{GbdtConfig, GbdtModel};
//! let frame = read_csv("datasets/bank-full.csv.gz".as_ref(), &CsvOptions::default())?;
//! let (mut x, target) = frame.split_binary_target("y", None)?;
//! x.drop_columns(&["duration"])?;
//! let model = GbdtModel::train(&x, &target.y, &GbdtConfig::default())?;
//! let p = model.predict(&x)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::fmt::Write as _;

use lightgbm3_sys as sys;
use serde::{Deserialize, Serialize};

use crate::cv::{BinaryClassifier, FittedBinaryClassifier, ModelError};
use crate::eval::FeatureImportance;
use crate::frame::{ColumnData, Frame};

const DTYPE_FLOAT32: i32 = 0;
const DTYPE_FLOAT64: i32 = 1;
const PREDICT_NORMAL: i32 = 0;
const PREDICT_RAW: i32 = 1;
const PREDICT_CONTRIB: i32 = 3;
const IMPORTANCE_SPLIT: i32 = 0;
const IMPORTANCE_GAIN: i32 = 1;

/// What the trees learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Objective {
    /// Labels 0/1; predictions are P(y = 1).
    Binary,
    /// Labels 0..num_classes−1; predictions are one probability per class.
    Multiclass { num_classes: usize },
    /// Squared-error regression.
    Regression,
}

impl Objective {
    fn lightgbm(&self) -> String {
        match self {
            Objective::Binary => "objective=binary metric=binary_logloss".into(),
            Objective::Multiclass { num_classes } => {
                format!("objective=multiclass num_class={num_classes} metric=multi_logloss")
            }
            Objective::Regression => "objective=regression metric=l2".into(),
        }
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        match self {
            Objective::Multiclass { num_classes } => *num_classes,
            _ => 1,
        }
    }
}

/// How to weigh classes against each other.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum ClassWeight {
    /// Every row weighs 1.
    #[default]
    None,
    /// Each class weighs as much in total as every other (LightGBM's `is_unbalance` for
    /// binary; per-row weights n / (k · n_class) for multiclass).
    Balanced,
    /// Positive rows weigh this much (binary only; LightGBM's `scale_pos_weight`).
    PositiveWeight(f64),
}

/// Whether a feature may only raise or only lower the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monotone {
    Increasing,
    Decreasing,
}

/// Training settings, with LightGBM's usual defaults except 300 trees at rate 0.05.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbdtConfig {
    pub objective: Objective,
    /// Boosting rounds (the most trees; early stopping may keep fewer).
    pub num_trees: usize,
    pub learning_rate: f64,
    pub num_leaves: usize,
    /// Histogram bins per numeric feature.
    pub max_bin: usize,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian_in_leaf: f64,
    /// Share of features tried per tree (1 = all).
    pub feature_fraction: f64,
    /// Share of rows per tree (1 = all); active when `bagging_freq` > 0.
    pub bagging_fraction: f64,
    pub bagging_freq: usize,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    /// −1 = no depth limit.
    pub max_depth: i32,
    /// Stop when the validation loss has not improved for this many rounds (needs a
    /// validation set; see [`GbdtModel::train_with_validation`]).
    pub early_stopping_rounds: Option<usize>,
    pub class_weight: ClassWeight,
    /// Monotone constraints by feature name.
    pub monotone: Vec<(String, Monotone)>,
    pub seed: u64,
    /// Threads for training and scoring; 0 = all cores. Results are identical for the
    /// same seed and thread count (LightGBM `deterministic=true`).
    pub num_threads: usize,
    /// Extra LightGBM parameters (`key=value`), appended last so they win.
    pub extra: Vec<(String, String)>,
}

impl Default for GbdtConfig {
    fn default() -> Self {
        GbdtConfig {
            objective: Objective::Binary,
            num_trees: 300,
            learning_rate: 0.05,
            num_leaves: 31,
            max_bin: 255,
            min_data_in_leaf: 20,
            min_sum_hessian_in_leaf: 1e-3,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            max_depth: -1,
            early_stopping_rounds: None,
            class_weight: ClassWeight::None,
            monotone: Vec::new(),
            seed: 42,
            num_threads: 0,
            extra: Vec::new(),
        }
    }
}

impl GbdtConfig {
    fn threads(&self) -> usize {
        if self.num_threads > 0 {
            self.num_threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The LightGBM parameter string for a frame with this schema.
    fn params(&self, schema: &Schema) -> Result<String, ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.num_trees == 0 {
            return bad("num_trees must be at least 1".into());
        }
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            return bad(format!(
                "learning_rate must be > 0, got {}",
                self.learning_rate
            ));
        }
        if self.num_leaves < 2 {
            return bad(format!(
                "num_leaves must be at least 2, got {}",
                self.num_leaves
            ));
        }
        if self.max_bin < 2 {
            return bad(format!("max_bin must be at least 2, got {}", self.max_bin));
        }
        if let Objective::Multiclass { num_classes } = self.objective
            && num_classes < 2
        {
            return bad(format!(
                "multiclass needs at least 2 classes, got {num_classes}"
            ));
        }
        let mut s = format!(
            "{} boosting=gbdt learning_rate={} num_leaves={} max_bin={} min_data_in_leaf={} \
             min_sum_hessian_in_leaf={} feature_fraction={} bagging_fraction={} bagging_freq={} \
             lambda_l1={} lambda_l2={} max_depth={} seed={} num_threads={} deterministic=true \
             force_col_wise=true verbosity=-1 feature_pre_filter=false",
            self.objective.lightgbm(),
            self.learning_rate,
            self.num_leaves,
            self.max_bin,
            self.min_data_in_leaf,
            self.min_sum_hessian_in_leaf,
            self.feature_fraction,
            self.bagging_fraction,
            self.bagging_freq,
            self.lambda_l1,
            self.lambda_l2,
            self.max_depth,
            self.seed,
            self.threads(),
        );
        match (self.class_weight, self.objective) {
            (ClassWeight::Balanced, Objective::Binary) => s.push_str(" is_unbalance=true"),
            (ClassWeight::PositiveWeight(w), Objective::Binary) => {
                if w.is_nan() || w <= 0.0 {
                    return bad(format!("positive class weight must be > 0, got {w}"));
                }
                let _ = write!(s, " scale_pos_weight={w}");
            }
            (ClassWeight::PositiveWeight(_), _) => {
                return bad("a positive class weight needs the binary objective".into());
            }
            _ => {}
        }
        let cats: Vec<String> = schema
            .features
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.kind, FeatureKind::Categorical { .. }))
            .map(|(i, _)| i.to_string())
            .collect();
        if !cats.is_empty() {
            let _ = write!(s, " categorical_feature={}", cats.join(","));
        }
        if !self.monotone.is_empty() {
            let mut m = vec!["0"; schema.features.len()];
            for (name, dir) in &self.monotone {
                let i = schema.position(name).ok_or_else(|| {
                    ModelError::Config(format!(
                        "monotone constraint on {name:?}, which is not a feature; features: {}",
                        schema.names().join(", ")
                    ))
                })?;
                if matches!(schema.features[i].kind, FeatureKind::Categorical { .. }) {
                    return bad(format!(
                        "monotone constraint on categorical feature {name:?}; categories have no order"
                    ));
                }
                m[i] = match dir {
                    Monotone::Increasing => "1",
                    Monotone::Decreasing => "-1",
                };
            }
            let _ = write!(s, " monotone_constraints={}", m.join(","));
        }
        for (k, v) in &self.extra {
            let _ = write!(s, " {k}={v}");
        }
        Ok(s)
    }
}

/// The type of one model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FeatureKind {
    Numeric,
    /// Code `i` in the model means `levels[i]`.
    Categorical {
        levels: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

/// The model's inputs, in column order, with the level lists of categorical features:
/// the exact preprocessing to repeat at scoring time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub features: Vec<FeatureSpec>,
}

impl Schema {
    /// The schema of a frame's columns.
    pub fn of(frame: &Frame) -> Schema {
        Schema {
            features: frame
                .columns()
                .iter()
                .map(|c| FeatureSpec {
                    name: c.name.clone(),
                    kind: match &c.data {
                        ColumnData::Numeric(_) => FeatureKind::Numeric,
                        ColumnData::Categorical { levels, .. } => FeatureKind::Categorical {
                            levels: levels.clone(),
                        },
                    },
                })
                .collect(),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Encodes `frame` as the row-major matrix the model was trained on: columns found
    /// by name (extra columns are ignored), categorical levels mapped by their text to
    /// training codes. A level never seen in training becomes missing, which LightGBM
    /// sends down the same branch as other unseen categories.
    pub fn encode(&self, frame: &Frame) -> Result<Vec<f64>, ModelError> {
        let p = self.features.len();
        let n = frame.n_rows();
        let mut out = vec![f64::NAN; n * p];
        for (j, spec) in self.features.iter().enumerate() {
            let col = frame.column(&spec.name).ok_or_else(|| {
                ModelError::Config(format!(
                    "the data has no column {:?}, which the model needs; it has: {}",
                    spec.name,
                    frame.names().join(", ")
                ))
            })?;
            match (&spec.kind, &col.data) {
                (FeatureKind::Numeric, ColumnData::Numeric(v)) => {
                    for (i, x) in v.iter().enumerate() {
                        out[i * p + j] = *x;
                    }
                }
                (FeatureKind::Numeric, ColumnData::Categorical { levels, .. }) => {
                    return Err(ModelError::Config(format!(
                        "column {:?} was numeric in training but holds text here (e.g. {:?}); clean the column or retrain",
                        spec.name,
                        levels.first().map(String::as_str).unwrap_or("")
                    )));
                }
                (FeatureKind::Categorical { levels }, data) => {
                    let index: HashMap<&str, usize> = levels
                        .iter()
                        .enumerate()
                        .map(|(k, l)| (l.as_str(), k))
                        .collect();
                    match data {
                        ColumnData::Categorical {
                            codes,
                            levels: here,
                        } => {
                            // Translate this frame's codes to the model's once per level.
                            let map: Vec<f64> = if here == levels {
                                (0..here.len()).map(|k| k as f64).collect()
                            } else {
                                here.iter()
                                    .map(|l| index.get(l.as_str()).map_or(f64::NAN, |&k| k as f64))
                                    .collect()
                            };
                            for (i, c) in codes.iter().enumerate() {
                                out[i * p + j] = c.map_or(f64::NAN, |c| map[c as usize]);
                            }
                        }
                        ColumnData::Numeric(v) => {
                            // Numbers in a column that was text in training: match their text.
                            for (i, x) in v.iter().enumerate() {
                                if !x.is_nan() {
                                    out[i * p + j] = index
                                        .get(x.to_string().as_str())
                                        .map_or(f64::NAN, |&k| k as f64);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn last_error() -> String {
    // SAFETY: LGBM_GetLastError returns a pointer to a thread-local, NUL-terminated buffer.
    unsafe {
        let p = sys::LGBM_GetLastError();
        if p.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn call(code: i32) -> Result<(), ModelError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ModelError::LightGbm(last_error()))
    }
}

fn cstring(s: &str) -> Result<CString, ModelError> {
    CString::new(s).map_err(|_| ModelError::Config(format!("text contains a NUL byte: {s:?}")))
}

/// Owns a LightGBM dataset handle.
struct Dataset(sys::DatasetHandle);

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_DatasetCreateFromMat and is freed once.
        unsafe {
            sys::LGBM_DatasetFree(self.0);
        }
    }
}

impl Dataset {
    fn new(
        matrix: &[f64],
        n_rows: usize,
        n_cols: usize,
        labels: &[f64],
        weights: Option<&[f32]>,
        params: &CString,
        reference: Option<&Dataset>,
    ) -> Result<Dataset, ModelError> {
        if n_rows == 0 || n_cols == 0 {
            return Err(ModelError::Config(format!(
                "cannot train on {n_rows} rows × {n_cols} features"
            )));
        }
        let nrow = i32::try_from(n_rows)
            .map_err(|_| ModelError::Config(format!("{n_rows} rows exceed LightGBM's limit")))?;
        let mut handle: sys::DatasetHandle = std::ptr::null_mut();
        // SAFETY: `matrix` holds n_rows × n_cols f64 values in row-major order and
        // outlives the call (LightGBM copies it into its bins).
        call(unsafe {
            sys::LGBM_DatasetCreateFromMat(
                matrix.as_ptr() as *const c_void,
                DTYPE_FLOAT64,
                nrow,
                n_cols as i32,
                1,
                params.as_ptr(),
                reference.map_or(std::ptr::null_mut(), |r| r.0),
                &mut handle,
            )
        })?;
        let ds = Dataset(handle);
        let label: Vec<f32> = labels.iter().map(|&v| v as f32).collect();
        ds.set_field("label", &label)?;
        if let Some(w) = weights {
            ds.set_field("weight", w)?;
        }
        Ok(ds)
    }

    fn set_field(&self, name: &str, values: &[f32]) -> Result<(), ModelError> {
        let field = cstring(name)?;
        // SAFETY: values is a live f32 slice of the dataset's row count.
        call(unsafe {
            sys::LGBM_DatasetSetField(
                self.0,
                field.as_ptr(),
                values.as_ptr() as *const c_void,
                values.len() as i32,
                DTYPE_FLOAT32,
            )
        })
    }

    fn set_feature_names(&self, names: &[&str]) -> Result<(), ModelError> {
        // LightGBM refuses JSON-special characters in names; the schema keeps the real ones.
        let clean: Vec<CString> = names
            .iter()
            .map(|n| {
                let s: String = n
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                cstring(&s)
            })
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = clean.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: ptrs point into `clean`, which outlives the call.
        call(unsafe {
            sys::LGBM_DatasetSetFeatureNames(
                self.0,
                ptrs.as_ptr() as *mut *const c_char,
                ptrs.len() as i32,
            )
        })
    }
}

/// Per-row feature contributions (SHAP values, computed by LightGBM's TreeSHAP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributions {
    pub n_rows: usize,
    pub n_outputs: usize,
    pub feature_names: Vec<String>,
    /// Row-major: for each row, for each output (class), one value per feature then the
    /// bias (expected raw score). They sum to the raw score (log-odds for binary).
    pub values: Vec<f64>,
}

impl Contributions {
    /// Contributions of row `row` to output `output`: one per feature, then the bias.
    pub fn row(&self, row: usize, output: usize) -> &[f64] {
        let w = self.feature_names.len() + 1;
        let start = (row * self.n_outputs + output) * w;
        &self.values[start..start + w]
    }
}

/// A trained boosted-tree model with the schema of its inputs.
pub struct GbdtModel {
    handle: sys::BoosterHandle,
    schema: Schema,
    objective: Objective,
    num_threads: usize,
    /// Rounds kept (after early stopping).
    num_trees: usize,
}

// SAFETY: a LightGBM booster may move between threads, and its C API guards prediction
// and every other access with the booster's own reader-writer lock, so shared references
// from several threads are safe too.
unsafe impl Send for GbdtModel {}
unsafe impl Sync for GbdtModel {}

impl Drop for GbdtModel {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterCreate or LoadModelFromString, freed once.
        unsafe {
            sys::LGBM_BoosterFree(self.handle);
        }
    }
}

impl std::fmt::Debug for GbdtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtModel")
            .field("objective", &self.objective)
            .field("num_trees", &self.num_trees)
            .field("features", &self.schema.names())
            .finish()
    }
}

fn check_labels(objective: Objective, y: &[f64]) -> Result<(), ModelError> {
    for (i, &v) in y.iter().enumerate() {
        let ok = match objective {
            Objective::Binary => v == 0.0 || v == 1.0,
            Objective::Multiclass { num_classes } => {
                v >= 0.0 && v.fract() == 0.0 && (v as usize) < num_classes
            }
            Objective::Regression => v.is_finite(),
        };
        if !ok {
            return Err(ModelError::Config(format!(
                "label {v} at row {i} does not fit the {objective:?} objective"
            )));
        }
    }
    Ok(())
}

fn sample_weights(cfg: &GbdtConfig, y: &[f64]) -> Option<Vec<f32>> {
    match (cfg.class_weight, cfg.objective) {
        (ClassWeight::Balanced, Objective::Multiclass { num_classes }) => {
            let mut counts = vec![0usize; num_classes];
            for &v in y {
                counts[v as usize] += 1;
            }
            let n = y.len() as f64;
            Some(
                y.iter()
                    .map(|&v| (n / (num_classes as f64 * counts[v as usize] as f64)) as f32)
                    .collect(),
            )
        }
        _ => None,
    }
}

/// Saved form of a model: LightGBM's own text format plus the schema and objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedGbdt {
    pub format: String,
    pub objective: Objective,
    pub schema: Schema,
    pub num_trees: usize,
    /// The LightGBM model string (`LGBM_BoosterSaveModelToString`).
    pub lightgbm_model: String,
}

const SAVED_FORMAT: &str = "zhiying-gbdt/1";

impl GbdtModel {
    /// Trains on every row of `x` with labels `y`.
    pub fn train(x: &Frame, y: &[f64], cfg: &GbdtConfig) -> Result<GbdtModel, ModelError> {
        Self::train_inner(x, y, None, cfg)
    }

    /// Trains with a validation set, stopping early when `cfg.early_stopping_rounds` is set
    /// and the validation loss stops improving; the best round is kept.
    pub fn train_with_validation(
        x: &Frame,
        y: &[f64],
        valid_x: &Frame,
        valid_y: &[f64],
        cfg: &GbdtConfig,
    ) -> Result<GbdtModel, ModelError> {
        Self::train_inner(x, y, Some((valid_x, valid_y)), cfg)
    }

    fn train_inner(
        x: &Frame,
        y: &[f64],
        valid: Option<(&Frame, &[f64])>,
        cfg: &GbdtConfig,
    ) -> Result<GbdtModel, ModelError> {
        if y.len() != x.n_rows() {
            return Err(ModelError::Config(format!(
                "{} labels for {} rows",
                y.len(),
                x.n_rows()
            )));
        }
        check_labels(cfg.objective, y)?;
        let schema = Schema::of(x);
        let params = cstring(&cfg.params(&schema)?)?;
        let p = schema.features.len();
        let matrix = schema.encode(x)?;
        let weights = sample_weights(cfg, y);
        let train = Dataset::new(&matrix, x.n_rows(), p, y, weights.as_deref(), &params, None)?;
        drop(matrix);
        train.set_feature_names(&schema.names())?;
        let valid_ds = match valid {
            Some((vx, vy)) => {
                if vy.len() != vx.n_rows() {
                    return Err(ModelError::Config(format!(
                        "{} validation labels for {} rows",
                        vy.len(),
                        vx.n_rows()
                    )));
                }
                check_labels(cfg.objective, vy)?;
                let m = schema.encode(vx)?;
                let w = sample_weights(cfg, vy);
                Some(Dataset::new(
                    &m,
                    vx.n_rows(),
                    p,
                    vy,
                    w.as_deref(),
                    &params,
                    Some(&train),
                )?)
            }
            None => None,
        };
        let mut handle: sys::BoosterHandle = std::ptr::null_mut();
        // SAFETY: the dataset handle is live; params is NUL-terminated.
        call(unsafe { sys::LGBM_BoosterCreate(train.0, params.as_ptr(), &mut handle) })?;
        let mut model = GbdtModel {
            handle,
            schema,
            objective: cfg.objective,
            num_threads: cfg.threads(),
            num_trees: 0,
        };
        if let Some(v) = &valid_ds {
            // SAFETY: both handles are live; the booster keeps the dataset until freed,
            // and `valid_ds` outlives the training loop below.
            call(unsafe { sys::LGBM_BoosterAddValidData(model.handle, v.0) })?;
        }
        let early = valid_ds.as_ref().and(cfg.early_stopping_rounds);
        let mut best = (f64::INFINITY, 0usize);
        let mut eval_buf = vec![0.0f64; 8];
        for round in 1..=cfg.num_trees {
            let mut finished = 0i32;
            // SAFETY: live booster handle.
            call(unsafe { sys::LGBM_BoosterUpdateOneIter(model.handle, &mut finished) })?;
            if finished != 0 {
                break;
            }
            if let Some(patience) = early {
                let mut len = 0i32;
                // SAFETY: eval_buf has room for every metric (one is configured).
                call(unsafe {
                    sys::LGBM_BoosterGetEval(model.handle, 1, &mut len, eval_buf.as_mut_ptr())
                })?;
                let loss = eval_buf[0];
                if loss < best.0 {
                    best = (loss, round);
                } else if round - best.1 >= patience {
                    break;
                }
            }
        }
        if early.is_some() {
            while model.current_iteration()? > best.1.max(1) {
                // SAFETY: live booster handle with more rounds than we keep.
                call(unsafe { sys::LGBM_BoosterRollbackOneIter(model.handle) })?;
            }
        }
        model.num_trees = model.current_iteration()?;
        // Datasets may be freed now: LightGBM keeps what prediction needs in the booster.
        drop(valid_ds);
        drop(train);
        Ok(model)
    }

    fn current_iteration(&self) -> Result<usize, ModelError> {
        let mut it = 0i32;
        // SAFETY: live booster handle.
        call(unsafe { sys::LGBM_BoosterGetCurrentIteration(self.handle, &mut it) })?;
        Ok(it as usize)
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Boosting rounds in the model (fewer than configured after early stopping).
    pub fn num_trees(&self) -> usize {
        self.num_trees
    }

    /// Threads used for scoring.
    pub fn set_num_threads(&mut self, n: usize) {
        self.num_threads = n.max(1);
    }

    fn predict_matrix(
        &self,
        matrix: &[f64],
        n_rows: usize,
        predict_type: i32,
    ) -> Result<Vec<f64>, ModelError> {
        if n_rows == 0 {
            return Ok(Vec::new());
        }
        let p = self.schema.features.len();
        let nrow = i32::try_from(n_rows)
            .map_err(|_| ModelError::Config(format!("{n_rows} rows exceed LightGBM's limit")))?;
        let mut len = 0i64;
        // SAFETY: live booster handle.
        call(unsafe {
            sys::LGBM_BoosterCalcNumPredict(self.handle, nrow, predict_type, 0, -1, &mut len)
        })?;
        let mut out = vec![0.0f64; len as usize];
        let params = cstring(&format!("num_threads={}", self.num_threads))?;
        let mut written = 0i64;
        // SAFETY: matrix is n_rows × p row-major f64; out has the length LightGBM asked for.
        call(unsafe {
            sys::LGBM_BoosterPredictForMat(
                self.handle,
                matrix.as_ptr() as *const c_void,
                DTYPE_FLOAT64,
                nrow,
                p as i32,
                1,
                predict_type,
                0,
                -1,
                params.as_ptr(),
                &mut written,
                out.as_mut_ptr(),
            )
        })?;
        out.truncate(written as usize);
        Ok(out)
    }

    /// Predictions for every row of `x`: P(y = 1) for binary, the value for regression,
    /// and `num_classes` probabilities per row (row-major) for multiclass.
    pub fn predict(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
        let m = self.schema.encode(x)?;
        self.predict_matrix(&m, x.n_rows(), PREDICT_NORMAL)
    }

    /// Raw scores (log-odds for binary) for every row.
    pub fn predict_raw(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
        let m = self.schema.encode(x)?;
        self.predict_matrix(&m, x.n_rows(), PREDICT_RAW)
    }

    /// Predictions for an already encoded row-major matrix (see [`Schema::encode`]): the
    /// fast path for batch scoring.
    pub fn predict_encoded(&self, matrix: &[f64]) -> Result<Vec<f64>, ModelError> {
        let p = self.schema.features.len();
        if p == 0 || !matrix.len().is_multiple_of(p) {
            return Err(ModelError::Config(format!(
                "matrix of {} values is not a whole number of rows of {p} features",
                matrix.len()
            )));
        }
        self.predict_matrix(matrix, matrix.len() / p, PREDICT_NORMAL)
    }

    /// Per-row SHAP contributions (TreeSHAP), for reason codes.
    pub fn contributions(&self, x: &Frame) -> Result<Contributions, ModelError> {
        let m = self.schema.encode(x)?;
        let values = self.predict_matrix(&m, x.n_rows(), PREDICT_CONTRIB)?;
        Ok(Contributions {
            n_rows: x.n_rows(),
            n_outputs: self.objective.outputs(),
            feature_names: self.schema.names().iter().map(|s| s.to_string()).collect(),
            values,
        })
    }

    /// Gain and split importance of every feature, by descending gain.
    pub fn feature_importance(&self) -> Result<Vec<FeatureImportance>, ModelError> {
        let p = self.schema.features.len();
        let mut gain = vec![0.0f64; p];
        let mut split = vec![0.0f64; p];
        // SAFETY: live handle; buffers hold one value per feature.
        call(unsafe {
            sys::LGBM_BoosterFeatureImportance(self.handle, 0, IMPORTANCE_GAIN, gain.as_mut_ptr())
        })?;
        call(unsafe {
            sys::LGBM_BoosterFeatureImportance(self.handle, 0, IMPORTANCE_SPLIT, split.as_mut_ptr())
        })?;
        let total: f64 = gain.iter().sum();
        let mut out: Vec<FeatureImportance> = self
            .schema
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| FeatureImportance {
                feature: f.name.clone(),
                gain: gain[i],
                splits: split[i],
                gain_share: if total > 0.0 { gain[i] / total } else { 0.0 },
            })
            .collect();
        out.sort_by(|a, b| b.gain.total_cmp(&a.gain));
        Ok(out)
    }

    /// LightGBM's text model (`LGBM_BoosterSaveModelToString`).
    pub fn model_string(&self) -> Result<String, ModelError> {
        let mut len = 0i64;
        // First call sizes the buffer.
        // SAFETY: a zero-length buffer is allowed; LightGBM reports the needed length.
        call(unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                0,
                &mut len,
                std::ptr::null_mut(),
            )
        })?;
        let mut buf = vec![0u8; len as usize];
        // SAFETY: buf holds `len` bytes.
        call(unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                len,
                &mut len,
                buf.as_mut_ptr() as *mut c_char,
            )
        })?;
        let text = CStr::from_bytes_until_nul(&buf)
            .map_err(|_| ModelError::LightGbm("model string is not NUL-terminated".into()))?;
        Ok(text.to_string_lossy().into_owned())
    }

    /// The model with its schema, ready for `serde_json`.
    pub fn to_saved(&self) -> Result<SavedGbdt, ModelError> {
        Ok(SavedGbdt {
            format: SAVED_FORMAT.into(),
            objective: self.objective,
            schema: self.schema.clone(),
            num_trees: self.num_trees,
            lightgbm_model: self.model_string()?,
        })
    }

    /// Restores a model saved with [`GbdtModel::to_saved`].
    pub fn from_saved(saved: &SavedGbdt) -> Result<GbdtModel, ModelError> {
        if saved.format != SAVED_FORMAT {
            return Err(ModelError::Config(format!(
                "model format {:?} is not {SAVED_FORMAT:?}",
                saved.format
            )));
        }
        let text = cstring(&saved.lightgbm_model)?;
        let mut iterations = 0i32;
        let mut handle: sys::BoosterHandle = std::ptr::null_mut();
        // SAFETY: text is NUL-terminated.
        call(unsafe {
            sys::LGBM_BoosterLoadModelFromString(text.as_ptr(), &mut iterations, &mut handle)
        })?;
        let model = GbdtModel {
            handle,
            schema: saved.schema.clone(),
            objective: saved.objective,
            num_threads: GbdtConfig::default().threads(),
            num_trees: iterations as usize,
        };
        let mut nf = 0i32;
        // SAFETY: live handle.
        call(unsafe { sys::LGBM_BoosterGetNumFeature(model.handle, &mut nf) })?;
        if nf as usize != model.schema.features.len() {
            return Err(ModelError::Config(format!(
                "the LightGBM model has {nf} features but the schema lists {}",
                model.schema.features.len()
            )));
        }
        Ok(model)
    }
}

/// Boosted trees as a [`BinaryClassifier`] (the `gbdt` algorithm of `zhiying model cv`).
#[derive(Debug, Clone, Default)]
pub struct Gbdt {
    pub config: GbdtConfig,
}

impl BinaryClassifier for Gbdt {
    fn name(&self) -> &str {
        "gbdt"
    }

    fn fit(&self, x: &Frame, y: &[f64]) -> Result<Box<dyn FittedBinaryClassifier>, ModelError> {
        let cfg = GbdtConfig {
            objective: Objective::Binary,
            ..self.config.clone()
        };
        Ok(Box::new(GbdtModel::train(x, y, &cfg)?))
    }
}

impl FittedBinaryClassifier for GbdtModel {
    fn predict_proba(&self, x: &Frame) -> Result<Vec<f64>, ModelError> {
        if self.objective != Objective::Binary {
            return Err(ModelError::Config(format!(
                "predict_proba needs a binary model, this one is {:?}",
                self.objective
            )));
        }
        self.predict(x)
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        GbdtModel::feature_importance(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// y depends on x1 (up), x2 (down) and the category (level "c" raises the odds);
    /// x3 is noise. Some x1 values are missing.
    fn synthetic(n: usize, seed: u64) -> (Frame, Vec<f64>) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let (mut x1, mut x2, mut x3, mut cat, mut y) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let a: f64 = rng.random_range(-2.0..2.0);
            let b: f64 = rng.random_range(-2.0..2.0);
            let c = ["a", "b", "c"][rng.random_range(0..3)];
            let logit = 1.5 * a - 1.0 * b + if c == "c" { 1.5 } else { 0.0 } - 0.5;
            let prob = 1.0 / (1.0 + (-logit).exp());
            y.push(if rng.random::<f64>() < prob { 1.0 } else { 0.0 });
            x1.push(if rng.random::<f64>() < 0.05 {
                f64::NAN
            } else {
                a
            });
            x2.push(b);
            x3.push(rng.random_range(0.0..1.0));
            cat.push(Some(c));
        }
        let f = Frame::new(vec![
            Column::numeric("x1", x1),
            Column::numeric("x2", x2),
            Column::numeric("noise", x3),
            Column::categorical("segment", &cat),
        ])
        .unwrap();
        (f, y)
    }

    fn small_cfg() -> GbdtConfig {
        GbdtConfig {
            num_trees: 60,
            learning_rate: 0.1,
            num_leaves: 8,
            num_threads: 1,
            ..GbdtConfig::default()
        }
    }

    #[test]
    fn binary_learns_the_signal_and_ranks_importance() {
        let (x, y) = synthetic(3000, 1);
        let (xt, yt) = synthetic(2000, 2);
        let m = GbdtModel::train(&x, &y, &small_cfg()).unwrap();
        let p = m.predict(&xt).unwrap();
        assert_eq!(p.len(), 2000);
        let auc = crate::eval::auc(&yt, &p).unwrap();
        // The Bayes-optimal AUC of this generator is about 0.87; trees should come close.
        assert!(auc > 0.82, "auc {auc}");
        let imp = m.feature_importance().unwrap();
        assert_eq!(imp.last().unwrap().feature, "noise");
        assert!((imp.iter().map(|f| f.gain_share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(imp.iter().all(|f| f.splits >= 0.0));
    }

    #[test]
    fn contributions_sum_to_raw_score() {
        let (x, y) = synthetic(1500, 3);
        let m = GbdtModel::train(&x, &y, &small_cfg()).unwrap();
        let head = x.select_rows(&(0..50).collect::<Vec<_>>()).unwrap();
        let c = m.contributions(&head).unwrap();
        let raw = m.predict_raw(&head).unwrap();
        assert_eq!(raw.len(), 50);
        for (i, r) in raw.iter().enumerate() {
            let s: f64 = c.row(i, 0).iter().sum();
            assert!((s - r).abs() < 1e-9, "row {i}: {s} vs {r}");
        }
    }

    #[test]
    fn deterministic_for_a_seed_and_round_trips_through_json() {
        let (x, y) = synthetic(1500, 4);
        let cfg = GbdtConfig {
            feature_fraction: 0.8,
            bagging_fraction: 0.8,
            bagging_freq: 1,
            ..small_cfg()
        };
        let a = GbdtModel::train(&x, &y, &cfg).unwrap();
        let b = GbdtModel::train(&x, &y, &cfg).unwrap();
        let pa = a.predict(&x).unwrap();
        assert_eq!(pa, b.predict(&x).unwrap());
        let other = GbdtModel::train(&x, &y, &GbdtConfig { seed: 7, ..cfg }).unwrap();
        assert_ne!(pa, other.predict(&x).unwrap());
        let json = serde_json::to_string(&a.to_saved().unwrap()).unwrap();
        let back = GbdtModel::from_saved(&serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back.predict(&x).unwrap(), pa);
        assert_eq!(back.num_trees(), 60);
    }

    #[test]
    fn scoring_maps_levels_by_text() {
        let (x, y) = synthetic(1500, 5);
        let m = GbdtModel::train(&x, &y, &small_cfg()).unwrap();
        // The same rows with the segment levels first seen in another order, plus a
        // level the model never saw.
        let seg = x.column("segment").unwrap();
        let mut texts: Vec<Option<String>> = (0..x.n_rows()).map(|i| seg.text(i)).collect();
        texts.insert(0, Some("zzz".into()));
        texts.insert(0, Some("c".into()));
        let shuffled_levels = Column::categorical("segment", &texts);
        let ColumnData::Categorical { codes, levels } = shuffled_levels.data else {
            unreachable!()
        };
        assert_ne!(levels[0], "a");
        let other = Frame::new(vec![
            x.column("x1").unwrap().clone(),
            x.column("x2").unwrap().clone(),
            x.column("noise").unwrap().clone(),
            Column {
                name: "segment".into(),
                data: ColumnData::Categorical {
                    codes: codes[2..].to_vec(),
                    levels: levels.clone(),
                },
            },
        ])
        .unwrap();
        assert_eq!(m.predict(&other).unwrap(), m.predict(&x).unwrap());
        let enc = m
            .schema()
            .encode(
                &Frame::new(vec![
                    Column::numeric("x1", vec![0.0]),
                    Column::numeric("x2", vec![0.0]),
                    Column::numeric("noise", vec![0.0]),
                    Column::categorical("segment", &[Some("zzz")]),
                ])
                .unwrap(),
            )
            .unwrap();
        assert!(enc[3].is_nan());
        let missing = Frame::new(vec![Column::numeric("x1", vec![0.0])]).unwrap();
        assert!(m.predict(&missing).unwrap_err().to_string().contains("x2"));
    }

    #[test]
    fn early_stopping_keeps_the_best_round() {
        let (x, y) = synthetic(2000, 6);
        let (vx, vy) = synthetic(1000, 7);
        let cfg = GbdtConfig {
            num_trees: 2000,
            learning_rate: 0.3,
            early_stopping_rounds: Some(10),
            ..small_cfg()
        };
        let m = GbdtModel::train_with_validation(&x, &y, &vx, &vy, &cfg).unwrap();
        assert!(
            m.num_trees() < 2000 && m.num_trees() >= 1,
            "{}",
            m.num_trees()
        );
        // The kept model is the best on the validation loss among its neighbours.
        let p = m.predict(&vx).unwrap();
        let loss = crate::eval::log_loss(&vy, &p).unwrap();
        let longer = GbdtModel::train(
            &x,
            &y,
            &GbdtConfig {
                num_trees: m.num_trees() + 10,
                early_stopping_rounds: None,
                ..cfg.clone()
            },
        )
        .unwrap();
        let loss_longer = crate::eval::log_loss(&vy, &longer.predict(&vx).unwrap()).unwrap();
        assert!(loss <= loss_longer + 1e-9, "{loss} vs {loss_longer}");
    }

    #[test]
    fn monotone_constraint_is_respected() {
        let (x, y) = synthetic(2000, 8);
        let cfg = GbdtConfig {
            monotone: vec![("x2".into(), Monotone::Increasing)],
            ..small_cfg()
        };
        let m = GbdtModel::train(&x, &y, &cfg).unwrap();
        // Sweep x2 with the other inputs fixed: predictions must not fall.
        let n = 41;
        let sweep: Vec<f64> = (0..n)
            .map(|i| -2.0 + 4.0 * i as f64 / (n - 1) as f64)
            .collect();
        let f = Frame::new(vec![
            Column::numeric("x1", vec![0.3; n]),
            Column::numeric("x2", sweep),
            Column::numeric("noise", vec![0.5; n]),
            Column::categorical("segment", &vec![Some("b"); n]),
        ])
        .unwrap();
        let p = m.predict(&f).unwrap();
        assert!(p.windows(2).all(|w| w[1] >= w[0] - 1e-12), "{p:?}");
        let bad = GbdtConfig {
            monotone: vec![("segment".into(), Monotone::Increasing)],
            ..small_cfg()
        };
        assert!(GbdtModel::train(&x, &y, &bad).is_err());
    }

    #[test]
    fn class_weights_raise_positive_probabilities() {
        let (x, y) = synthetic(2000, 9);
        let plain = GbdtModel::train(&x, &y, &small_cfg()).unwrap();
        let weighted = GbdtModel::train(
            &x,
            &y,
            &GbdtConfig {
                class_weight: ClassWeight::PositiveWeight(4.0),
                ..small_cfg()
            },
        )
        .unwrap();
        let mean = |m: &GbdtModel| m.predict(&x).unwrap().iter().sum::<f64>() / x.n_rows() as f64;
        assert!(mean(&weighted) > mean(&plain) + 0.1);
    }

    #[test]
    fn multiclass_and_regression() {
        let (x, y) = synthetic(2000, 10);
        // Three classes from x1's sign and the segment.
        let seg = x.column("segment").unwrap();
        let y3: Vec<f64> = (0..x.n_rows())
            .map(|i| match seg.text(i).as_deref() {
                Some("a") => 0.0,
                Some("b") => 1.0,
                _ => 2.0,
            })
            .collect();
        let cfg = GbdtConfig {
            objective: Objective::Multiclass { num_classes: 3 },
            class_weight: ClassWeight::Balanced,
            ..small_cfg()
        };
        let m = GbdtModel::train(&x, &y3, &cfg).unwrap();
        let p = m.predict(&x).unwrap();
        assert_eq!(p.len(), 3 * x.n_rows());
        let mut correct = 0;
        for i in 0..x.n_rows() {
            let row = &p[3 * i..3 * i + 3];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let best = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += (best as f64 == y3[i]) as usize;
        }
        assert_eq!(correct, x.n_rows(), "the segment decides the class exactly");
        let c = m.contributions(&x.select_rows(&[0, 1]).unwrap()).unwrap();
        assert_eq!(c.values.len(), 2 * 3 * 5);

        // Regression on 2·x2 + y.
        let target: Vec<f64> = (0..x.n_rows())
            .map(|i| 2.0 * x.column("x2").unwrap().value_f64(i) + y[i])
            .collect();
        let r = GbdtModel::train(
            &x,
            &target,
            &GbdtConfig {
                objective: Objective::Regression,
                ..small_cfg()
            },
        )
        .unwrap();
        let pred = r.predict(&x).unwrap();
        let mse = pred
            .iter()
            .zip(&target)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / pred.len() as f64;
        let var = {
            let m = target.iter().sum::<f64>() / target.len() as f64;
            target.iter().map(|t| (t - m).powi(2)).sum::<f64>() / target.len() as f64
        };
        assert!(mse < 0.3 * var, "mse {mse} var {var}");
        assert!(GbdtModel::train(&x, &[0.5; 2000], &small_cfg()).is_err());
    }
}
