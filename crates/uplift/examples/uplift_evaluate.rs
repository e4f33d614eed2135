//! `zhiying uplift evaluate` until the CLI wires it: the bench script's entry point.
//!
//! uplift_evaluate --csv FILE --treatment-col COL --treatment VALUE --control VALUE
//!     --outcome COL [--exclude COL...] [--folds K] [--learner t|x|x-fitted|ct]
//!     [--seed N] [--json] [--write-rows FILE]

use std::process::ExitCode;

use zhiying_uplift::{EvaluateOptions, evaluate_csv};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = EvaluateOptions::new("", "", "", "", "");
    let (mut json, mut rows_out) = (false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--csv" => opts.csv = val()?.into(),
            "--treatment-col" => opts.treatment_col = val()?,
            "--treatment" => opts.treatment = val()?,
            "--control" => opts.control = val()?,
            "--outcome" => opts.outcome = val()?,
            "--exclude" => opts.exclude.push(val()?),
            "--folds" => opts.folds = val()?.parse()?,
            "--learner" => opts.learner = val()?.parse()?,
            "--seed" => opts.seed = val()?.parse()?,
            "--write-rows" => rows_out = Some(std::path::PathBuf::from(val()?)),
            "--json" => json = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let started = std::time::Instant::now();
    let report = evaluate_csv(&opts)?;
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    eprintln!("evaluate_seconds {secs:.3}");
    if let Some(p) = rows_out {
        report.write_rows(&p)?;
    }
    Ok(())
}
