//! Cross-validation timing and AUC for scripts/bench/scorecard.sh (not a test: timings
//! belong in benchmarks). Writes the fold of every row so the Python peer uses the same
//! folds, then prints one JSON line per algorithm.
//!
//! cargo run -p zhiying-scorecard --example cv_bench -- FILE TARGET POSITIVE FOLDS_OUT [EXCLUDE...]

use std::io::Write;
use std::time::Instant;
use zhiying_scorecard::cv::{Algorithm, cross_validate};
use zhiying_scorecard::eval::stratified_folds;
use zhiying_scorecard::{Column, IrlsOptions, LogisticModel, ScorecardOptions, Table};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: cv_bench FILE TARGET POSITIVE FOLDS_OUT [EXCLUDE...]".into());
    }
    let (file, target, positive, folds_out) = (&args[0], &args[1], &args[2], &args[3]);
    let exclude: Vec<&str> = args[4..].iter().map(String::as_str).collect();
    let started = Instant::now();
    let t = Table::read_csv(std::path::Path::new(file))?;
    let read_seconds = started.elapsed().as_secs_f64();
    let y = t.target(target, Some(positive))?;
    let cols: Vec<Column> = t
        .columns
        .iter()
        .filter(|c| c.name != *target && !exclude.contains(&c.name.as_str()))
        .cloned()
        .collect();
    let (k, seed) = (5, 42);
    let mut out = std::io::BufWriter::new(std::fs::File::create(folds_out)?);
    writeln!(out, "fold")?;
    for f in stratified_folds(&y, k, seed) {
        writeln!(out, "{f}")?;
    }
    out.flush()?;
    let algorithms = [
        (
            "scorecard",
            Algorithm::Scorecard(ScorecardOptions::default()),
        ),
        (
            "logistic",
            Algorithm::Logistic(IrlsOptions {
                l2: LogisticModel::DEFAULT_L2,
                ..IrlsOptions::default()
            }),
        ),
    ];
    for (name, alg) in algorithms {
        let started = Instant::now();
        let r = cross_validate(&cols, &y, &alg, k, seed, None, |_| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let aucs: Vec<String> = r.folds.iter().map(|f| format!("{:.4}", f.auc)).collect();
        println!(
            "{{\"tool\":\"zhiying\",\"algorithm\":\"{name}\",\"auc_mean\":{:.4},\"auc_sd\":{:.4},\"fold_auc\":[{}],\"cv_seconds\":{seconds:.3},\"read_seconds\":{read_seconds:.3}}}",
            r.auc().0,
            r.auc().1,
            aucs.join(",")
        );
    }
    Ok(())
}
