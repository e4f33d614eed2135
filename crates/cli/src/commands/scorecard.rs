//! `zhiying scorecard fit|score`: credit scorecards on any CSV (see docs/scorecard.md).

use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use zhiying_models::eval::CostMatrix;
use zhiying_models::frame::{CsvOptions, Frame, read_csv};
use zhiying_models::{CvReport, cross_validate, stratified_k_fold};
use zhiying_scorecard::{
    Baseline, BinningOptions, Column, FoldCost, Monotonic, NamedFeature, Scaling, Scorecard,
    ScorecardClassifier, ScorecardOptions, cross_validated_cost, frame_columns, labels,
    render_iv_table,
};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Bins every column (WOE/IV, monotonic ChiMerge, missing values in their own bin), keeps\n\
columns with enough IV that are not too correlated, fits a logistic regression on the WOE\n\
values and scales it to points. The positive class is the *bad* outcome (default, churn).\n\n\
Examples:\n  zhiying scorecard fit --csv datasets/german-credit.csv --target creditability --positive bad\n  \
zhiying scorecard fit --csv german.csv --target creditability --positive bad --pdo 20 --base-score 600 --base-odds 50 --save card.json\n  \
zhiying scorecard score --model card.json --csv applicants.csv --reasons 3 --json"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: ScorecardCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ScorecardCommand {
    /// Fit a scorecard: IV table, points table, coefficients and cross-validated metrics.
    Fit(FitArgs),
    /// Score a CSV with a saved scorecard, with reason codes.
    Score(ScoreArgs),
}

#[derive(clap::Args, Debug)]
pub struct FitArgs {
    /// CSV file (any of , ; tab |, optionally gzip-compressed).
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Target column.
    #[arg(long, value_name = "COL")]
    target: String,
    /// Value of the target that means bad (default: 1/yes/bad/true in a two-valued column).
    #[arg(long, value_name = "VALUE")]
    positive: Option<String>,
    /// Columns to leave out (ids, leakage such as bank-full's `duration`).
    #[arg(long, value_name = "COL", num_args = 1..)]
    exclude: Vec<String>,
    /// Points to double the odds.
    #[arg(long, default_value_t = 20.0)]
    pdo: f64,
    /// Score at the base odds.
    #[arg(long, default_value_t = 600.0)]
    base_score: f64,
    /// Good:bad odds at the base score (50 means 50:1).
    #[arg(long, default_value_t = 50.0)]
    base_odds: f64,
    /// Maximum bins per variable (the missing bin not counted).
    #[arg(long, default_value_t = 8)]
    max_bins: usize,
    /// Minimum share of non-missing rows per bin.
    #[arg(long, default_value_t = 0.05)]
    min_bin_share: f64,
    /// WOE monotonicity for numeric variables: auto, ascending, descending or none.
    #[arg(long, default_value = "auto", value_parser = parse_monotonic)]
    monotonic: Monotonic,
    /// Keep variables with at least this IV.
    #[arg(long, default_value_t = 0.02)]
    min_iv: f64,
    /// Drop a variable whose WOE correlates above this with a stronger one.
    #[arg(long, default_value_t = 0.7)]
    max_corr: f64,
    /// Stratified cross-validation folds (0 to skip).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of the fold shuffle.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Cost matrix BAD_ACCEPTED:GOOD_REJECTED (UCI German credit: 5:1); reports the cost at
    /// the threshold that minimises it on the training folds.
    #[arg(long, value_name = "A:B", value_parser = parse_cost)]
    cost: Option<CostMatrix>,
    /// Write the fitted scorecard (JSON) here, for `zhiying scorecard score`.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Print everything as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// Scorecard saved by `zhiying scorecard fit --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// CSV with the scorecard's variables.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Column to identify rows in the output (default: the row number).
    #[arg(long, value_name = "COL")]
    id: Option<String>,
    /// Reason codes per row.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// What lost points are measured against: best (best bin) or average (population average).
    #[arg(long, default_value = "best", value_parser = parse_baseline)]
    baseline: Baseline,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_monotonic(s: &str) -> Result<Monotonic, String> {
    match s {
        "auto" => Ok(Monotonic::Auto),
        "ascending" => Ok(Monotonic::Ascending),
        "descending" => Ok(Monotonic::Descending),
        "none" => Ok(Monotonic::None),
        _ => Err("use auto, ascending, descending or none".into()),
    }
}

fn parse_baseline(s: &str) -> Result<Baseline, String> {
    match s {
        "best" => Ok(Baseline::BestPossible),
        "average" => Ok(Baseline::PopulationAverage),
        _ => Err("use best or average".into()),
    }
}

fn parse_cost(s: &str) -> Result<CostMatrix, String> {
    let (a, b) = s
        .split_once(':')
        .ok_or("write BAD_ACCEPTED:GOOD_REJECTED, e.g. 5:1")?;
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{v}` is not a number"))
    };
    // Bad is the positive class: accepting a bad case is a false negative.
    Ok(CostMatrix {
        true_positive: 0.0,
        false_positive: num(b)?,
        false_negative: num(a)?,
        true_negative: 0.0,
    })
}

#[derive(Serialize)]
struct CvSummary {
    /// Number of folds (the per-fold results are in `folds`).
    k: usize,
    seed: u64,
    #[serde(flatten)]
    report: CvReport,
    /// Held-out cost per fold at the training-optimal threshold (with --cost).
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<Vec<FoldCost>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_cost: Option<f64>,
}

#[derive(Serialize)]
struct FitReport<'a> {
    file: &'a PathBuf,
    rows: usize,
    target: &'a str,
    positive: &'a str,
    bad: usize,
    scorecard: &'a Scorecard,
    cv: Option<CvSummary>,
}

fn read(path: &std::path::Path) -> anyhow::Result<Frame> {
    read_csv(path, &CsvOptions::default()).with_context(|| format!("reading {}", path.display()))
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        ScorecardCommand::Fit(f) => fit(f),
        ScorecardCommand::Score(s) => score(s),
    }
}

fn fit(a: FitArgs) -> anyhow::Result<()> {
    let frame = read(&a.csv)?;
    // A scorecard's positive class is the bad outcome: without --positive, a two-valued
    // target that the frame cannot read as yes/1/true is taken as "bad" when it has that value.
    let (mut x, target) = match (
        a.positive.as_deref(),
        frame
            .clone()
            .split_binary_target(&a.target, a.positive.as_deref()),
    ) {
        (None, Err(zhiying_models::frame::FrameError::AmbiguousPositive { .. })) => {
            frame.split_binary_target(&a.target, Some("bad"))?
        }
        (_, r) => r?,
    };
    x.drop_columns(a.exclude.as_slice())
        .with_context(|| format!("--exclude: columns of {}", a.csv.display()))?;
    let opts = ScorecardOptions {
        binning: BinningOptions {
            max_bins: a.max_bins,
            min_bin_share: a.min_bin_share,
            monotonic: a.monotonic,
            ..BinningOptions::default()
        },
        min_iv: a.min_iv,
        max_correlation: a.max_corr,
        scaling: Scaling {
            pdo: a.pdo,
            base_score: a.base_score,
            base_odds: a.base_odds,
        },
        ..ScorecardOptions::default()
    };
    let columns = frame_columns(&x);
    let y = labels(&target.y);
    let features: Vec<NamedFeature<'_>> = columns.iter().map(Column::named).collect();
    let card = Scorecard::fit(&features, &y, &opts)?;
    let cv = if a.folds > 0 {
        let folds = stratified_k_fold(&target.y, a.folds, a.seed)?;
        let classifier = ScorecardClassifier {
            options: opts.clone(),
        };
        let pb = output::bar(a.folds as u64, "cv folds", a.json);
        let report = cross_validate(&classifier, &x, &target.y, &folds, |_| pb.inc(1))?;
        pb.finish_and_clear();
        let cost = match a.cost {
            Some(cm) => Some(cross_validated_cost(
                &classifier,
                &x,
                &target.y,
                &folds,
                cm,
            )?),
            None => None,
        };
        Some(CvSummary {
            k: a.folds,
            seed: a.seed,
            report,
            total_cost: cost.as_ref().map(|c| c.iter().map(|f| f.cost).sum()),
            cost,
        })
    } else {
        None
    };
    if let Some(path) = &a.save {
        let json = serde_json::to_vec_pretty(&card)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let bad = y.iter().filter(|&&b| b).count();
    if a.json {
        return output::print_json(&FitReport {
            file: &a.csv,
            rows: y.len(),
            target: &a.target,
            positive: &target.positive,
            bad,
            scorecard: &card,
            cv,
        });
    }
    println!(
        "{}: {} rows, {} bad ({} = {}, {:.2}%), {} candidate variables\n",
        a.csv.display(),
        y.len(),
        bad,
        a.target,
        target.positive,
        100.0 * bad as f64 / y.len() as f64,
        columns.len()
    );
    println!("IV table\n{}", render_iv_table(&card.binnings));
    println!("selection");
    for c in &card.candidates {
        println!("  {:<40} IV {:>7.4}  {:?}", c.name, c.iv, c.selection);
    }
    println!("\npoints\n{}", card.render_points_table());
    if let Some(cv) = cv {
        println!(
            "{}-fold stratified CV (seed {}): AUC {:.4} ± {:.4}   KS {:.4} ± {:.4}   log-loss {:.4} ± {:.4}   training {:.2} s",
            cv.k,
            cv.seed,
            cv.report.auc.mean,
            cv.report.auc.std,
            cv.report.ks.mean,
            cv.report.ks.std,
            cv.report.log_loss.mean,
            cv.report.log_loss.std,
            cv.report.train_seconds
        );
        if let Some(c) = cv.total_cost {
            println!(
                "total cost over the held-out folds: {c} ({:.3} per row), thresholds chosen on the training folds",
                c / y.len() as f64
            );
        }
    }
    if let Some(path) = &a.save {
        println!("saved {}", path.display());
    }
    Ok(())
}

#[derive(Serialize)]
struct Scored {
    id: String,
    score: f64,
    p_bad: f64,
    reasons: Vec<zhiying_scorecard::Reason>,
}

fn score(a: ScoreArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.model)
        .with_context(|| format!("cannot read {}", a.model.display()))?;
    let card: Scorecard = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a scorecard saved by `zhiying scorecard fit --save`",
            a.model.display()
        )
    })?;
    let frame = read(&a.csv)?;
    let columns = frame_columns(&frame);
    let features: Vec<NamedFeature<'_>> = columns.iter().map(Column::named).collect();
    let scores = card.score(&features)?;
    let p = card.predict_proba(&features)?;
    let reasons = card.reason_codes(&features, a.reasons, a.baseline)?;
    let ids: Vec<String> = match &a.id {
        Some(col) => {
            let c = frame
                .column(col)
                .with_context(|| format!("--id {col}: no such column in {}", a.csv.display()))?;
            (0..frame.n_rows())
                .map(|i| c.text(i).unwrap_or_default())
                .collect()
        }
        None => (1..=frame.n_rows()).map(|i| i.to_string()).collect(),
    };
    let rows: Vec<Scored> = ids
        .into_iter()
        .zip(scores)
        .zip(p)
        .zip(reasons)
        .map(|(((id, score), p_bad), reasons)| Scored {
            id,
            score,
            p_bad,
            reasons,
        })
        .collect();
    if a.json {
        return output::print_json(&rows);
    }
    for r in rows {
        let why: Vec<String> = r
            .reasons
            .iter()
            .map(|x| format!("{} {}", x.code, x.text_en))
            .collect();
        println!("{}\t{}\t{:.4}\t{}", r.id, r.score, r.p_bad, why.join("; "));
    }
    Ok(())
}
