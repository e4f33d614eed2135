//! `zhiying attribution run`: credit conversions to channels over contact paths with every
//! model side by side (last/first touch, linear, time decay, position-based, Markov removal
//! effect, Shapley), plus path statistics and channel synergy.

use std::path::PathBuf;

use anyhow::Context;
use zhiying_attribution::{Model, RunOptions, run_files, run_paths_file};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: AttributionCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AttributionCommand {
    /// Attribute conversions from touchpoint and conversion files, or from aggregated paths.
    #[command(
        after_help = "Touchpoints need a customer, a timestamp and a channel column; conversions a customer, a \
timestamp and optionally a value. Columns are found by name (customer_id, ts/timestamp, channel, revenue_fen/value …); \
the canonical contacts and responses tables work as they are. Paths are built per customer from the touches within \
--lookback-days before each conversion; touches after the last conversion form a non-converting path.\n\n\
Examples:\n  zhiying attribution run --touchpoints contacts.csv --conversions responses.csv\n  \
zhiying attribution run --touchpoints touches.csv.gz --conversions orders.csv --models markov,shapley --json\n  \
zhiying attribution run --paths paths.csv --markov-order 2   # columns: path (\"app > sms\"), total_conversions, total_null"
    )]
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Touchpoints CSV (customer, timestamp, channel).
    #[arg(long, requires = "conversions", conflicts_with = "paths")]
    pub touchpoints: Option<PathBuf>,
    /// Conversions CSV (customer, timestamp, optional value).
    #[arg(long)]
    pub conversions: Option<PathBuf>,
    /// Aggregated paths CSV instead of raw files.
    #[arg(long)]
    pub paths: Option<PathBuf>,
    /// Models to run (comma-separated): last_touch, first_touch, linear, time_decay,
    /// position_based, markov, shapley. Default: all.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, default_value_t = 30.0)]
    pub lookback_days: f64,
    #[arg(long, default_value_t = 7.0)]
    pub half_life_days: f64,
    #[arg(long, default_value_t = 1)]
    pub markov_order: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        AttributionCommand::Run(a) => run_attribution(a),
    }
}

fn run_attribution(a: RunArgs) -> anyhow::Result<()> {
    let mut opts = RunOptions::default();
    opts.paths.lookback_days = a.lookback_days;
    opts.attribution.half_life_days = a.half_life_days;
    opts.attribution.markov_order = a.markov_order;
    if !a.models.is_empty() {
        opts.attribution.models = a
            .models
            .iter()
            .map(|m| m.parse::<Model>())
            .collect::<Result<_, _>>()?;
    }
    let pb = output::spinner("attributing conversions", a.json);
    let report = match (&a.touchpoints, &a.conversions, &a.paths) {
        (Some(t), Some(c), None) => {
            let opts = opts.with_detected_columns(t, c)?;
            run_files(t, c, &opts)
                .with_context(|| format!("attributing {} and {}", t.display(), c.display()))?
        }
        (None, None, Some(p)) => {
            run_paths_file(p, &opts).with_context(|| format!("attributing {}", p.display()))?
        }
        _ => anyhow::bail!("give --touchpoints FILE --conversions FILE, or --paths FILE"),
    };
    pb.finish_and_clear();
    if a.json {
        return output::print_json(&report);
    }
    print!("{report}");
    Ok(())
}
