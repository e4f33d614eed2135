use anyhow::Context;
use std::path::PathBuf;
use zhiying_synth::{GenerateConfig, OutputFormat};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  zhiying generate --customers 10000 --months 12 --seed 7 --out bank/\n  zhiying generate --customers 1000000 --months 12 --format parquet --out big/"
)]
pub struct Args {
    /// Number of customers (persons); about 2% also get a second record in the card system.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Months of history to generate.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder; one file per canonical table.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Share of transaction rows to corrupt on purpose (to exercise quarantine). CSV only.
    #[arg(long, default_value_t = 0.0)]
    pub dirty_share: f64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Csv,
    Parquet,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.customers > 0, "--customers must be at least 1");
    anyhow::ensure!(
        (1..=120).contains(&a.months),
        "--months must be between 1 and 120"
    );
    anyhow::ensure!(
        (0.0..0.5).contains(&a.dirty_share),
        "--dirty-share must be in [0, 0.5)"
    );
    let cfg = GenerateConfig {
        customers: a.customers,
        months: a.months,
        seed: a.seed,
        out: a.out.clone(),
        format: match a.format {
            Format::Csv => OutputFormat::Csv,
            Format::Parquet => OutputFormat::Parquet,
        },
        dirty_share: a.dirty_share,
        ..GenerateConfig::default()
    };
    let summary = generate_with_bar(&cfg, a.json)?;
    if a.json {
        output::print_json(&serde_json::json!({
            "out": a.out, "rows": summary.rows, "files": summary.files,
            "ground_truth": summary.ground_truth, "seconds": summary.seconds,
        }))?;
    } else {
        let total: u64 = summary.rows.values().sum();
        println!(
            "Generated {total} rows in {:.1}s into {}",
            summary.seconds,
            a.out.display()
        );
        for (table, n) in &summary.rows {
            println!("  {table:<18} {n:>12}");
        }
        println!("Ground truth: {}", summary.ground_truth.display());
    }
    Ok(())
}

pub fn generate_with_bar(
    cfg: &GenerateConfig,
    quiet: bool,
) -> anyhow::Result<zhiying_synth::GenerateSummary> {
    let pb = output::bar(cfg.customers, "customers", quiet);
    let summary = zhiying_synth::generate(cfg, &mut |p| pb.set_position(p.customers_done))
        .with_context(|| format!("generating the synthetic bank into {}", cfg.out.display()))?;
    pb.finish_and_clear();
    Ok(summary)
}
