use super::DataDirArg;
use crate::config::Config;
use crate::output;
use zhiying_core::quality::QualityReport;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  zhiying quality --data-dir data\n  zhiying quality --data-dir data --json | jq '.tables[] | {table, validity}'"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let report = zhiying_ingest::quality_report(&dd)?;
    if a.json {
        output::print_json(&report)
    } else {
        print_report(&report);
        println!("Report written to {}", dd.quality_report().display());
        Ok(())
    }
}

pub fn print_report(r: &QualityReport) {
    println!(
        "{:<18} {:>12} {:>11} {:>11} {:>9} {:>13} {:>11}",
        "table", "rows", "quarantined", "duplicates", "validity", "completeness", "staleness"
    );
    for t in &r.tables {
        let completeness = if t.columns.is_empty() {
            1.0
        } else {
            t.columns.iter().map(|c| c.completeness).sum::<f64>() / t.columns.len() as f64
        };
        let stale = t
            .staleness_hours
            .map(|h| format!("{:.0} d", h / 24.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<18} {:>12} {:>11} {:>11} {:>8.2}% {:>12.1}% {:>11}",
            t.table,
            t.rows,
            t.quarantined,
            t.duplicates_skipped,
            t.validity * 100.0,
            completeness * 100.0,
            stale
        );
    }
}
