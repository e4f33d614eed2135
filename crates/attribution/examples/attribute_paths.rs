//! Prints the full report for a pre-aggregated path file (ChannelAttribution's layout:
//! `path,total_conversions,total_conversion_value,total_null`), or JSON with `--json`.
//!
//! Usage: attribute_paths FILE.csv [--json]

use std::path::Path;

use zhiying_attribution::{RunOptions, run_paths_file};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: attribute_paths FILE.csv [--json]");
        std::process::exit(2);
    };
    match run_paths_file(Path::new(file), &RunOptions::default()) {
        Ok(r) if args.iter().any(|a| a == "--json") => {
            println!(
                "{}",
                serde_json::to_string_pretty(&r).expect("reports serialise")
            )
        }
        Ok(r) => print!("{r}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
