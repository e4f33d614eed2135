//! Cross-validation timing and AUC for scripts/bench/scorecard.sh (not a test: timings
//! belong in benchmarks). Writes the fold of every row so the Python peer uses the same
//! folds, then prints one JSON line per algorithm.
//!
//! cargo run -p zhiying-scorecard --example cv_bench -- FILE TARGET POSITIVE FOLDS_OUT [EXCLUDE...]

use std::io::Write;
use std::time::Instant;
use zhiying_models::folds::fold_assignment;
use zhiying_models::frame::{CsvOptions, read_csv};
use zhiying_models::{BinaryClassifier, cross_validate, stratified_k_fold};
use zhiying_scorecard::{LogisticClassifier, ScorecardClassifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: cv_bench FILE TARGET POSITIVE FOLDS_OUT [EXCLUDE...]".into());
    }
    let (file, target, positive, folds_out) = (&args[0], &args[1], &args[2], &args[3]);
    let started = Instant::now();
    let frame = read_csv(std::path::Path::new(file), &CsvOptions::default())?;
    let (mut x, t) = frame.split_binary_target(target, Some(positive))?;
    x.drop_columns(&args[4..])?;
    let read_seconds = started.elapsed().as_secs_f64();
    let (k, seed) = (5, 42);
    let folds = stratified_k_fold(&t.y, k, seed)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(folds_out)?);
    writeln!(out, "fold")?;
    for f in fold_assignment(&folds, t.y.len()) {
        writeln!(out, "{f}")?;
    }
    out.flush()?;
    let algorithms: [&dyn BinaryClassifier; 2] = [
        &ScorecardClassifier::default(),
        &LogisticClassifier::default(),
    ];
    for alg in algorithms {
        let started = Instant::now();
        let r = cross_validate(alg, &x, &t.y, &folds, |_| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let aucs: Vec<String> = r.folds.iter().map(|f| format!("{:.4}", f.auc)).collect();
        println!(
            "{{\"tool\":\"zhiying\",\"algorithm\":\"{}\",\"auc_mean\":{:.4},\"auc_sd\":{:.4},\"fold_auc\":[{}],\"cv_seconds\":{seconds:.3},\"read_seconds\":{read_seconds:.3}}}",
            alg.name(),
            r.auc.mean,
            r.auc.std,
            aucs.join(",")
        );
    }
    Ok(())
}
