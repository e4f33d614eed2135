//! What `zhiying experiment analyze` wraps, runnable on any CSV:
//!
//! ```text
//! cargo run -p zhiying-experiment --example analyze -- --csv FILE --arm-col COL --control VALUE \
//!     --metric COL [--metric COL ...] [--covariate COL] [--skip-invalid] [--json]
//! ```

use zhiying_experiment::{AnalyzeOptions, analyze_csv};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = AnalyzeOptions::default();
    let (mut csv, mut json) = (None, false);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--csv" => csv = Some(value()),
            "--arm-col" => opts.arm_col = value(),
            "--control" => opts.control = value(),
            "--metric" => opts.metrics.push(value()),
            "--covariate" => opts.covariate = Some(value()),
            "--skip-invalid" => opts.skip_invalid = true,
            "--json" => json = true,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(csv) = csv else {
        eprintln!("--csv FILE is required");
        std::process::exit(2);
    };
    match analyze_csv(&csv, &opts) {
        Ok(r) if json => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
        Ok(r) => {
            print!("{r}");
            for v in r.verdicts(0.05).unwrap_or_default() {
                println!("- {}\n  {}", v.en, v.zh);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
