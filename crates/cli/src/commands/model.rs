//! `zhiying model …`: tabular models on any CSV file (cross-validate, train, score).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use zhiying_models::artifact::{self, ModelArtifact, TrainOptions};
use zhiying_models::cv::{BinaryClassifier, CvReport};
use zhiying_models::eval::{CostMatrix, Drift};
use zhiying_models::frame::{BinaryTarget, Column, CsvOptions, Frame, read_csv};
use zhiying_models::gbdt::{Gbdt, GbdtConfig};
use zhiying_models::{cross_validate, stratified_k_fold};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ModelCommand {
    /// Cross-validate a classifier on a CSV file: AUC, KS and log-loss over stratified folds.
    #[command(
        after_help = "Reads any delimiter (, ; tab |) and gzip. Column types are detected: a column is numeric \
when every non-missing value is a number, categorical otherwise. Missing values are empty cells, NA, N/A, NaN and null.\n\n\
Examples:\n  zhiying model cv --csv datasets/bank-full.csv.gz --target y --exclude duration\n  \
zhiying model cv --csv german-credit.csv --target creditability --positive bad --folds 10 --json\n  \
zhiying model cv --csv data.csv.gz --target churned --trees 500 --learning-rate 0.03 --seed 7"
    )]
    Cv(CvArgs),
    /// Train boosted trees and save the model, its preprocessing and its evaluation report.
    #[command(
        after_help = "Cross-validates first, so report.json (AUC, KS, lift and gains, calibration, confusion \
matrix and cost, fairness, feature importance) is measured on out-of-fold scores; then trains the final model on \
every row. DIR/model.json keeps the column order and category levels, so `model score` encodes new files exactly as \
in training.\n\n\
Examples:\n  zhiying model train --csv datasets/bank-full.csv.gz --target y --exclude duration --protected age,marital --out models/bank\n  \
zhiying model train --csv applicants.csv --target default --positive 1 --cost-fn 5 --cost-fp 1 --out models/credit --json"
    )]
    Train(TrainArgs),
    /// Score a CSV file with a saved model; writes one probability per row, with reason codes.
    #[command(
        after_help = "Examples:\n  zhiying model score --model models/bank --csv new-calls.csv --id id --out scores.csv\n  \
zhiying model score --model models/bank --csv new-calls.csv.gz --reasons 3 --out scores.csv --json"
    )]
    Score(ScoreArgs),
    /// Train the bank's own models on the canonical data (churn, product propensity,
    /// transaction anomaly), evaluate them on held-out customers and write every score.
    #[command(
        after_help = "Features come from one SQL statement per snapshot on the analytics engine. Churn is trained at a \
snapshot 90 days before the end of the data and labelled from the 90 days after it (see docs/bank-models.md), so no \
label information leaks into the features. Scores go to DIR/derived/scores.parquet; run `zhiying tags build` afterwards \
so churn_score, propensity_* and fraud_score become tags that audiences can use.\n\n\
Examples:\n  zhiying model bank --data-dir ./zhiying-data\n  \
zhiying model bank --only churn --json\n  zhiying model bank --as-of 2026-09-30 --no-reasons"
    )]
    Bank(BankArgs),
    /// List the registered versions of the models (status, author, metrics, drift).
    #[command(
        after_help = "Every `zhiying model bank` and `zhiying model train` run registers a new version: a challenger, \
or the champion when it is the first version of its name. Scoring uses the champion.\n\n\
Examples:\n  zhiying model versions\n  zhiying model versions churn --json"
    )]
    Versions(VersionsArgs),
    /// Request that a challenger become champion (another user must approve).
    #[command(
        after_help = "Example:\n  zhiying model promote churn 2 --as alice --note 'AUC +0.02, stable CSI'"
    )]
    Promote(TransitionArgs),
    /// Approve a requested promotion: the version becomes champion, the old one is retired.
    /// The user who trained or requested it cannot approve it.
    #[command(after_help = "Example:\n  zhiying model approve churn 2 --as bob")]
    Approve(TransitionArgs),
}

#[derive(clap::Args, Debug)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub data_dir: super::DataDirArg,
    /// Only this model name.
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct TransitionArgs {
    #[command(flatten)]
    pub data_dir: super::DataDirArg,
    /// Model name, e.g. churn or propensity_wealth.
    pub name: String,
    /// Registered version number.
    pub version: u64,
    /// The user acting (recorded in the registry's audit trail).
    #[arg(long = "as", value_name = "USER")]
    pub actor: String,
    /// Why (recorded with the transition).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct BankArgs {
    #[command(flatten)]
    pub data_dir: super::DataDirArg,
    /// Train only these models (churn, propensity, anomaly, clv); default all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Last day of data to use (YYYY-MM-DD); default the day of the latest transaction.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Skip the per-customer reason codes (TreeSHAP) of the churn model.
    #[arg(long)]
    pub no_reasons: bool,
    /// Random seed for the train/validation/test split and the forest.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Author recorded in the model registry (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The algorithms `model cv` can run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Gradient-boosted trees (LightGBM).
    Gbdt,
    /// WOE/IV binning plus logistic regression, scaled to points.
    Scorecard,
    /// Logistic regression.
    Logistic,
}

/// Which file and which columns.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// CSV file, optionally gzip-compressed; the delimiter is detected.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// The binary target column.
    #[arg(long, value_name = "COL")]
    pub target: String,
    /// The target value that counts as positive (default: yes, 1 or true).
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// Columns to leave out (identifiers, or leaks such as bank-full's `duration`).
    #[arg(long, value_name = "COL", num_args = 1.., value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Columns to treat as categorical even though they hold numbers (codes).
    #[arg(long, value_name = "COL", num_args = 1.., value_delimiter = ',')]
    pub categorical: Vec<String>,
}

/// Boosted-tree settings (defaults: LightGBM's, with 300 trees at rate 0.05).
#[derive(clap::Args, Debug)]
pub struct GbdtArgs {
    /// Boosting rounds.
    #[arg(long, default_value_t = 300)]
    pub trees: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f64,
    /// Leaves per tree.
    #[arg(long, default_value_t = 31)]
    pub leaves: usize,
    /// Histogram bins per numeric feature.
    #[arg(long, default_value_t = 255)]
    pub max_bin: usize,
    /// Training threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl GbdtArgs {
    fn config(&self, seed: u64) -> GbdtConfig {
        GbdtConfig {
            num_trees: self.trees,
            learning_rate: self.learning_rate,
            num_leaves: self.leaves,
            max_bin: self.max_bin,
            seed,
            num_threads: self.threads,
            ..GbdtConfig::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CvArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "gbdt")]
    pub algorithm: Algorithm,
    /// Number of stratified folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed for the folds and the algorithm.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub gbdt: GbdtArgs,
    /// Also write each row's fold number (`row,fold`, 0-based) to FILE, so another tool
    /// can be run on the very same folds.
    #[arg(long, value_name = "FILE")]
    pub write_folds: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub data_dir: super::DataDirArg,
    /// Registry name of the model (default: the --out directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Author recorded in the model registry (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
    /// Output directory for model.json and report.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Folds for the out-of-fold evaluation report.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub gbdt: GbdtArgs,
    /// Protected attributes for the fairness report (e.g. age, gender); they may be
    /// excluded from the features. Numeric age columns are grouped into age bands.
    #[arg(long, value_name = "COL", num_args = 1.., value_delimiter = ',')]
    pub protected: Vec<String>,
    /// Decision threshold for the confusion matrix and fairness (default: the cheapest
    /// under the cost matrix).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Cost of a false positive (e.g. a wasted call, a good applicant declined).
    #[arg(long, default_value_t = 1.0)]
    pub cost_fp: f64,
    /// Cost of a false negative (e.g. a missed buyer, a bad loan granted).
    #[arg(long, default_value_t = 1.0)]
    pub cost_fn: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// Model directory written by `zhiying model train` (or its model.json).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "name",
        conflicts_with = "name"
    )]
    pub model: Option<PathBuf>,
    /// Registered model name: scores with its champion version, and stores the drift
    /// (score PSI, feature CSI) with that version.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub data_dir: super::DataDirArg,
    /// CSV file to score (gzip and any delimiter); it needs the model's feature columns.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Output CSV: the id (or row number), the score, and the reason codes.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Column to copy into the output as the row's identifier.
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// Reason codes per row: the features that raise the score most (TreeSHAP).
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
    /// Scoring threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        ModelCommand::Cv(a) => cv(a),
        ModelCommand::Train(a) => train(cfg, a),
        ModelCommand::Score(a) => score(cfg, a),
        ModelCommand::Bank(a) => bank(cfg, a),
        ModelCommand::Versions(a) => versions(cfg, a),
        ModelCommand::Promote(a) => transition(cfg, a, false),
        ModelCommand::Approve(a) => transition(cfg, a, true),
    }
}

fn bank(cfg: &Config, a: BankArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let run = train_bank_models(cfg, &dd, &a, a.json)?;
    if a.json {
        return output::print_json(&run);
    }
    print_bank_summary(&run.summary);
    print_registered(&run);
    Ok(())
}

/// What the registry did with a bank run: new versions and which champions were scored.
pub fn print_registered(run: &zhiying_bankmodels::registry::RegisteredRun) {
    for e in &run.registered {
        let role = if e.status == zhiying_store::ModelStatus::Champion {
            "champion (first version)"
        } else {
            "challenger"
        };
        println!(
            "registered {} v{} as {role} by {}",
            e.model.name, e.version, e.model.created_by
        );
    }
    for s in &run.scored {
        let drift = s.drift.as_ref().map_or(String::new(), |d| {
            format!("; score PSI {:.4} ({})", d.score.index, d.flag)
        });
        println!(
            "scored {} with champion v{}: {} rows{drift}",
            s.name, s.version, s.rows
        );
    }
}

fn versions(cfg: &Config, a: VersionsArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let rt = super::runtime()?;
    let list = rt.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        anyhow::Ok(store.models(a.name.as_deref()).await?)
    })?;
    if a.json {
        return output::print_json(&list);
    }
    if list.is_empty() {
        println!("no registered models; train with `zhiying model bank` or `zhiying model train`");
        return Ok(());
    }
    println!(
        "{:<28} {:>4} {:<10} {:<12} {:>8}  {:<10} artefact",
        "model", "ver", "status", "author", "AUC", "drift"
    );
    for m in &list {
        let auc = ["test_auc", "auc"]
            .iter()
            .find_map(|k| m.model.metrics.get(*k).and_then(|v| v.as_f64()))
            .map_or("—".into(), |v| format!("{v:.4}"));
        let drift = zhiying_bankmodels::registry::load_drift(&dd, m)
            .map_or("—".into(), |d| format!("{:.3} {}", d.score.index, d.flag));
        println!(
            "{:<28} {:>4} {:<10} {:<12} {:>8}  {:<10} {}",
            m.model.name,
            m.version,
            m.status.as_str(),
            m.model.created_by,
            auc,
            drift,
            m.model.artifact_path
        );
    }
    Ok(())
}

fn transition(cfg: &Config, a: TransitionArgs, approve: bool) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let rt = super::runtime()?;
    let entry = rt.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let r = if approve {
            zhiying_bankmodels::registry::approve(&*store, &a.name, a.version, &a.actor, &a.note)
                .await?
        } else {
            zhiying_bankmodels::registry::request_promotion(
                &*store, &a.name, a.version, &a.actor, &a.note,
            )
            .await?
        };
        if approve
            && r.model
                .algorithm
                .starts_with(zhiying_bankmodels::registry::BANK_PREFIX)
        {
            // The new champion's scores replace the old one's for tags and decisions.
            let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
            zhiying_bankmodels::registry::score_champions(&engine, &dd, &*store, None, true)
                .await?;
        }
        anyhow::Ok(r)
    })?;
    if a.json {
        return output::print_json(&entry);
    }
    if approve {
        println!(
            "{} v{} is now champion (approved by {})",
            entry.model.name, entry.version, a.actor
        );
    } else {
        println!(
            "{} v{}: promotion requested by {}; another user approves with `zhiying model approve {} {} --as USER`",
            entry.model.name, entry.version, a.actor, entry.model.name, entry.version
        );
    }
    Ok(())
}

/// Options from the flags; shared with `zhiying demo`.
pub fn bank_options(a: &BankArgs) -> anyhow::Result<zhiying_bankmodels::BankModelsOptions> {
    let all = a.only.is_empty();
    for m in &a.only {
        anyhow::ensure!(
            matches!(m.as_str(), "churn" | "propensity" | "anomaly" | "clv"),
            "--only {m}: unknown model; choose from churn, propensity, anomaly, clv"
        );
    }
    let wants = |m: &str| all || a.only.iter().any(|x| x == m);
    Ok(zhiying_bankmodels::BankModelsOptions {
        as_of: a
            .as_of
            .as_deref()
            .map(|s| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .with_context(|| format!("--as-of {s}: expected a date like 2026-09-30"))
            })
            .transpose()?,
        churn: wants("churn"),
        propensity: wants("propensity"),
        anomaly: wants("anomaly"),
        clv: wants("clv"),
        reasons: !a.no_reasons,
        seed: a.seed,
        num_threads: 0,
    })
}

/// Trains the bank models, registers every one as a new version, and writes the
/// champions' scores; shared with `zhiying demo`.
pub fn train_bank_models(
    cfg: &Config,
    dd: &zhiying_core::DataDir,
    a: &BankArgs,
    quiet: bool,
) -> anyhow::Result<zhiying_bankmodels::registry::RegisteredRun> {
    let opts = bank_options(a)?;
    let author = zhiying_bankmodels::registry::author(a.author.as_deref());
    let pb = output::spinner("training churn, propensity, anomaly and CLV models", quiet);
    let rt = super::runtime()?;
    let run = rt.block_on(async {
        let engine = zhiying_engine::DataFusionEngine::open(dd).await?;
        let store = zhiying_store::open(cfg.database_url.as_deref(), dd).await?;
        anyhow::Ok(
            zhiying_bankmodels::registry::train_register_and_score(
                &engine, dd, &*store, &opts, &author,
            )
            .await?,
        )
    })?;
    pb.finish_and_clear();
    Ok(run)
}

pub fn print_bank_summary(s: &zhiying_bankmodels::BankModelsSummary) {
    println!(
        "{:<28} {:>9} {:>9} {:>8} {:>7} {:>9}  top features",
        "model", "train", "positive", "AUC", "KS", "scored"
    );
    for m in &s.models {
        let f = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.3}"));
        let top: Vec<&str> = m
            .top_features
            .iter()
            .take(3)
            .map(|(n, _)| n.as_str())
            .collect();
        println!(
            "{:<28} {:>9} {:>9} {:>8} {:>7} {:>9}  {}",
            m.name,
            m.train_rows,
            m.positives,
            f(m.test_auc),
            f(m.test_ks),
            m.scored,
            top.join(", ")
        );
    }
    for c in s.models.iter().filter_map(|m| m.clv.as_ref()) {
        println!(
            "CLV: BG/NBD r={:.3} α={:.2} a={:.3} b={:.3}; last {} days predicted {:.0} vs actual {:.0} purchase days (corr {:.2}); mean 12-month CLV {:.0} yuan",
            c.bgnbd.r,
            c.bgnbd.alpha,
            c.bgnbd.a,
            c.bgnbd.b,
            c.holdout_days,
            c.holdout_predicted,
            c.holdout_actual,
            c.holdout_correlation,
            c.mean_clv_yuan
        );
    }
    for (m, why) in &s.skipped {
        println!("{m:<28} skipped: {why}");
    }
    println!(
        "Data up to {}; {} scores → {} in {:.1}s. Run `zhiying tags build` to turn them into tags.",
        s.data_end,
        s.score_rows,
        s.scores_path.display(),
        s.seconds
    );
}

/// The classifier for an algorithm. Another crate's algorithm plugs in here with one arm
/// (anything implementing `zhiying_models::BinaryClassifier`).
fn classifier(a: &CvArgs) -> anyhow::Result<Box<dyn BinaryClassifier>> {
    match a.algorithm {
        Algorithm::Gbdt => Ok(Box::new(Gbdt {
            config: a.gbdt.config(a.seed),
        })),
        Algorithm::Scorecard => Ok(Box::new(zhiying_scorecard::ScorecardClassifier::default())),
        Algorithm::Logistic => Ok(Box::new(zhiying_scorecard::LogisticClassifier::default())),
    }
}

/// Reads the file and splits off the target and the excluded columns. Also returns the
/// columns named in `keep` (protected attributes, which may be excluded from the features).
fn load(
    d: &DataArgs,
    keep: &[String],
    quiet: bool,
) -> anyhow::Result<(Frame, BinaryTarget, Vec<Column>, f64)> {
    let started = Instant::now();
    let spinner = output::spinner(&format!("reading {}", d.csv.display()), quiet);
    let options = CsvOptions {
        categorical: d.categorical.clone(),
        ..CsvOptions::default()
    };
    let frame = read_csv(&d.csv, &options)?;
    let kept = keep
        .iter()
        .map(|name| {
            frame.column(name).cloned().with_context(|| {
                format!(
                    "--protected {name:?} is not a column; the columns are: {}",
                    frame.names().join(", ")
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (mut x, target) = frame.split_binary_target(&d.target, d.positive.as_deref())?;
    x.drop_columns(&d.exclude)
        .context("--exclude names a column that is not in the file")?;
    spinner.finish_and_clear();
    anyhow::ensure!(x.n_cols() > 0, "no feature columns left after --exclude");
    if !quiet {
        let cats = x.columns().iter().filter(|c| c.is_categorical()).count();
        println!(
            "{}: {} rows, {} features ({} numeric, {} categorical); target {} = {:?}: {} positives ({:.2}%)",
            d.csv.display(),
            x.n_rows(),
            x.n_cols(),
            x.n_cols() - cats,
            cats,
            target.name,
            target.positive,
            target.positives(),
            100.0 * target.positives() as f64 / x.n_rows() as f64
        );
    }
    Ok((x, target, kept, started.elapsed().as_secs_f64()))
}

fn feature_names(x: &Frame, categorical: bool) -> Vec<&str> {
    x.columns()
        .iter()
        .filter(|c| c.is_categorical() == categorical)
        .map(|c| c.name.as_str())
        .collect()
}

#[derive(Serialize)]
struct CvOutput<'a> {
    file: &'a Path,
    rows: usize,
    features: usize,
    numeric_features: Vec<&'a str>,
    categorical_features: Vec<&'a str>,
    excluded: &'a [String],
    target: &'a str,
    positive: &'a str,
    positives: usize,
    algorithm: Algorithm,
    folds: usize,
    seed: u64,
    load_seconds: f64,
    #[serde(flatten)]
    report: &'a CvReport,
}

fn cv(a: CvArgs) -> anyhow::Result<()> {
    let classifier = classifier(&a)?;
    let quiet = a.json;
    let (x, target, _, load_seconds) = load(&a.data, &[], quiet)?;
    let folds = stratified_k_fold(&target.y, a.folds, a.seed)?;
    if let Some(path) = &a.write_folds {
        let assignment = zhiying_models::folds::fold_assignment(&folds, target.y.len());
        let mut text = String::from("row,fold\n");
        for (i, f) in assignment.iter().enumerate() {
            text.push_str(&format!("{i},{f}\n"));
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let bar = output::bar(folds.len() as u64, classifier.name(), quiet);
    let report = cross_validate(classifier.as_ref(), &x, &target.y, &folds, |r| {
        if !quiet {
            bar.suspend(|| {
                println!(
                    "fold {}: AUC {:.4}  KS {:.4}  log-loss {:.4}  ({} train / {} test rows, {:.2} s)",
                    r.fold, r.auc, r.ks, r.log_loss, r.train_rows, r.test_rows, r.train_seconds
                )
            });
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();

    if a.json {
        return output::print_json(&CvOutput {
            file: &a.data.csv,
            rows: x.n_rows(),
            features: x.n_cols(),
            numeric_features: feature_names(&x, false),
            categorical_features: feature_names(&x, true),
            excluded: &a.data.exclude,
            target: &target.name,
            positive: &target.positive,
            positives: target.positives(),
            algorithm: a.algorithm,
            folds: a.folds,
            seed: a.seed,
            load_seconds,
            report: &report,
        });
    }
    println!(
        "{} {}-fold CV (seed {}):\n  AUC      {:.4} ± {:.4}\n  KS       {:.4} ± {:.4}\n  log-loss {:.4} ± {:.4}\n  pooled out-of-fold AUC {:.4}\n  training {:.2} s in total (reading {:.2} s)",
        report.algorithm,
        a.folds,
        a.seed,
        report.auc.mean,
        report.auc.std,
        report.ks.mean,
        report.ks.std,
        report.log_loss.mean,
        report.log_loss.std,
        report.pooled_auc,
        report.train_seconds,
        load_seconds
    );
    Ok(())
}

#[derive(Serialize)]
struct TrainOutput<'a> {
    out: &'a Path,
    rows: usize,
    features: usize,
    training_sha256: &'a str,
    auc: f64,
    ks: f64,
    gini: f64,
    log_loss: f64,
    cv_auc_mean: f64,
    cv_auc_std: f64,
    threshold: Option<f64>,
    expected_cost: Option<f64>,
    top_features: Vec<&'a str>,
    fairness_flags: Vec<String>,
    seconds: f64,
}

fn train(cfg: &Config, a: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let quiet = a.json;
    let (x, target, protected, _) = load(&a.data, &a.protected, quiet)?;
    let options = TrainOptions {
        folds: a.folds,
        seed: a.seed,
        threshold: a.threshold,
        cost: CostMatrix {
            false_positive: a.cost_fp,
            false_negative: a.cost_fn,
            ..CostMatrix::default()
        },
        protected,
    };
    let bar = output::bar(a.folds as u64 + 1, "gbdt", quiet);
    let (artifact, report, _model) = artifact::train_binary(
        &a.data.csv,
        &x,
        &target,
        &a.data.exclude,
        &a.gbdt.config(a.seed),
        &options,
        |r| {
            if !quiet {
                bar.suspend(|| println!("fold {}: AUC {:.4}", r.fold, r.auc));
            }
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();
    artifact.save(&a.out, &report)?;
    let entry = register_trained(cfg, &a, &x, &artifact, &report)?;

    let fairness_flags: Vec<String> = report
        .fairness
        .iter()
        .filter(|f| f.four_fifths_rule_violated)
        .map(|f| {
            format!(
                "{}: disparate-impact ratio {:.2} (group {:?}) is below 0.8",
                f.attribute, f.disparate_impact_ratio, f.least_selected_group
            )
        })
        .collect();
    let summary = TrainOutput {
        out: &a.out,
        rows: artifact.rows,
        features: artifact.model.schema.features.len(),
        training_sha256: &artifact.training_sha256,
        auc: report.auc,
        ks: report.ks.statistic,
        gini: report.gini,
        log_loss: report.log_loss,
        cv_auc_mean: artifact.cv.auc.mean,
        cv_auc_std: artifact.cv.auc.std,
        threshold: report.confusion.as_ref().map(|c| c.threshold),
        expected_cost: report.confusion.as_ref().map(|c| c.total_cost),
        top_features: report
            .feature_importance
            .iter()
            .take(5)
            .map(|f| f.feature.as_str())
            .collect(),
        fairness_flags,
        seconds: started.elapsed().as_secs_f64(),
    };
    if a.json {
        return output::print_json(&summary);
    }
    println!(
        "saved {} ({} rows, {} features) in {:.1} s\n  out-of-fold AUC {:.4} (folds {:.4} ± {:.4}), KS {:.4}, Gini {:.4}, log-loss {:.4}",
        a.out.display(),
        summary.rows,
        summary.features,
        summary.seconds,
        summary.auc,
        summary.cv_auc_mean,
        summary.cv_auc_std,
        summary.ks,
        summary.gini,
        summary.log_loss
    );
    if let Some(c) = &report.confusion {
        println!(
            "  threshold {:.4}: TP {} FP {} FN {} TN {}, cost {:.1}",
            c.threshold,
            c.true_positives,
            c.false_positives,
            c.false_negatives,
            c.true_negatives,
            c.total_cost
        );
    }
    println!("  top features: {}", summary.top_features.join(", "));
    for f in &summary.fairness_flags {
        println!("  fairness: {f}");
    }
    println!(
        "  registered {} v{} ({}) by {}",
        entry.model.name,
        entry.version,
        if entry.status == zhiying_store::ModelStatus::Champion {
            "champion: first version"
        } else {
            "challenger: `zhiying model promote` to propose it"
        },
        entry.model.created_by
    );
    Ok(())
}

/// Writes the drift baseline next to the model and registers the run as a new version.
fn register_trained(
    cfg: &Config,
    a: &TrainArgs,
    x: &Frame,
    artifact: &ModelArtifact,
    report: &zhiying_models::EvaluationReport,
) -> anyhow::Result<zhiying_store::ModelEntry> {
    use zhiying_bankmodels::registry::{self, REFERENCE_FILE, Registration};
    let all: Vec<usize> = (0..x.n_rows()).collect();
    let step = all
        .len()
        .div_ceil(zhiying_bankmodels::REFERENCE_ROWS)
        .max(1);
    let sample: Vec<usize> = all.into_iter().step_by(step).collect();
    let reference = zhiying_bankmodels::Reference {
        features: x.select_rows(&sample)?,
        scores: artifact.reference_scores.clone(),
    };
    let ref_path = a.out.join(REFERENCE_FILE);
    std::fs::write(&ref_path, serde_json::to_vec(&reference)?)
        .with_context(|| format!("cannot write {}", ref_path.display()))?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => std::fs::canonicalize(&a.out)?
            .file_name()
            .and_then(|s| s.to_str())
            .map(|s| s.to_ascii_lowercase().replace([' ', '.'], "_"))
            .context("--out has no directory name: give --name")?,
    };
    let reg = Registration {
        name,
        algorithm: artifact.algorithm.clone(),
        target: format!("{} = {}", artifact.target, artifact.positive),
        features: artifact
            .model
            .schema
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect(),
        metrics: serde_json::json!({
            "auc": report.auc,
            "ks": report.ks.statistic,
            "gini": report.gini,
            "log_loss": report.log_loss,
            "cv_auc_mean": artifact.cv.auc.mean,
            "cv_auc_std": artifact.cv.auc.std,
            "rows": artifact.rows,
            "positives": artifact.positives,
        }),
        params: serde_json::json!({
            "gbdt": artifact.config,
            "folds": a.folds,
            "seed": a.seed,
            "excluded": artifact.excluded,
            "training_file": artifact.training_file,
        }),
        training_data_hash: artifact.training_sha256.clone(),
        files: vec![
            (
                artifact::MODEL_FILE.to_string(),
                a.out.join(artifact::MODEL_FILE),
            ),
            (
                artifact::REPORT_FILE.to_string(),
                a.out.join(artifact::REPORT_FILE),
            ),
            (REFERENCE_FILE.to_string(), ref_path),
        ],
        author: registry::author(a.author.as_deref()),
    };
    let dd = a.data_dir.resolve(cfg);
    std::fs::create_dir_all(dd.root())?;
    super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        anyhow::Ok(registry::register(&*store, &dd, &reg).await?)
    })
}

#[derive(Serialize)]
struct ScoreOutput<'a> {
    model: &'a Path,
    version: Option<u64>,
    feature_drift: Vec<&'a Drift>,
    file: &'a Path,
    out: &'a Path,
    rows: usize,
    mean_score: f64,
    score_drift: &'a Drift,
    seconds: f64,
    rows_per_second: f64,
}

fn score(cfg: &Config, a: ScoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dd = a.data_dir.resolve(cfg);
    // --name: the registry's champion; --model: that directory.
    let (model_path, entry) = match (&a.name, &a.model) {
        (Some(name), _) => {
            let entry = super::runtime()?.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                anyhow::Ok(store.champion_model(name).await?)
            })?;
            let entry = entry.with_context(|| {
                format!("model {name:?} has no champion: train it with `zhiying model train --name {name}` (see `zhiying model versions`)")
            })?;
            (
                zhiying_bankmodels::registry::artifact_path(&dd, &entry),
                Some(entry),
            )
        }
        (None, Some(p)) => (p.clone(), None),
        (None, None) => anyhow::bail!("give --model DIR or --name NAME"),
    };
    let artifact = ModelArtifact::load(&model_path)?;
    let mut model = artifact.model()?;
    if a.threads > 0 {
        model.set_num_threads(a.threads);
    }
    let frame = read_csv(&a.csv, &artifact.csv_options())?;
    let ids = match &a.id {
        Some(col) => {
            let c = frame.column(col).with_context(|| {
                format!(
                    "--id {col:?} is not a column; the columns are: {}",
                    frame.names().join(", ")
                )
            })?;
            (0..frame.n_rows())
                .map(|i| c.text(i).unwrap_or_default())
                .collect()
        }
        None => (0..frame.n_rows())
            .map(|i| i.to_string())
            .collect::<Vec<_>>(),
    };
    let scores = model.predict(&frame)?;
    let contributions = if a.reasons > 0 {
        Some(model.contributions(&frame)?)
    } else {
        None
    };
    let drift = artifact.score_drift(&scores)?;
    // Feature CSI against the training sample saved with the model, stored with the
    // registered version when scoring by name.
    let report = zhiying_bankmodels::registry::load_reference(&model_path).and_then(|r| {
        let (name, version) = entry
            .as_ref()
            .map_or(("model", 0), |e| (e.model.name.as_str(), e.version));
        zhiying_bankmodels::registry::drift_report(
            name,
            version,
            &r.scores,
            &scores,
            &r.features,
            &frame,
        )
        .map_err(|e| tracing::warn!(error = %e, "feature drift not computed"))
        .ok()
    });
    if let (Some(e), Some(r)) = (&entry, &report) {
        zhiying_bankmodels::registry::save_drift(&dd, e, r)?;
    }

    let file = std::fs::File::create(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let id_name = a.id.as_deref().unwrap_or("row");
    write!(w, "{id_name},score")?;
    for k in 1..=a.reasons {
        write!(w, ",reason_{k},reason_{k}_contribution")?;
    }
    writeln!(w)?;
    for (i, s) in scores.iter().enumerate() {
        write!(w, "{},{s:.6}", csv_field(&ids[i]))?;
        if let Some(c) = &contributions {
            let reasons = artifact::top_reasons(c.row(i, 0), &c.feature_names, a.reasons);
            for k in 0..a.reasons {
                match reasons.get(k) {
                    Some((name, v)) => write!(w, ",{},{v:.4}", csv_field(name))?,
                    None => write!(w, ",,")?,
                }
            }
        }
        writeln!(w)?;
    }
    w.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = ScoreOutput {
        model: &model_path,
        version: entry.as_ref().map(|e| e.version),
        feature_drift: report
            .as_ref()
            .map(|r| r.features.iter().filter(|d| d.index > 0.1).collect())
            .unwrap_or_default(),
        file: &a.csv,
        out: &a.out,
        rows: scores.len(),
        mean_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        score_drift: &drift,
        seconds,
        rows_per_second: scores.len() as f64 / seconds,
    };
    if a.json {
        return output::print_json(&summary);
    }
    println!(
        "scored {} rows into {} in {:.2} s; mean score {:.4}; score PSI against training {:.4} ({:?})",
        summary.rows,
        a.out.display(),
        seconds,
        summary.mean_score,
        drift.index,
        drift.level
    );
    for d in &summary.feature_drift {
        println!(
            "  feature {} CSI {:.4} ({:?})",
            d.variable, d.index, d.level
        );
    }
    if let Some(e) = &entry {
        println!(
            "  champion {} v{}; drift stored with the version",
            e.model.name, e.version
        );
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
