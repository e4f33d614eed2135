//! `zhiying campaign …`: batch campaign planning across campaigns.

use std::path::PathBuf;

use anyhow::Context;
use zhiying_optimizer::{Options, ProblemSpec, load_csv, optimize};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: CampaignCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CampaignCommand {
    /// Assign offers to customers across all running campaigns to maximise expected value
    /// under channel capacities, budgets and per-customer caps; reports the gap to the LP bound.
    #[command(
        after_help = "The spec (JSON or TOML) names the channels with their capacities, the campaigns with their \
budgets, optional per-offer minimums/maximums, and the most offers per customer. The candidates CSV has one row per \
eligible (customer, campaign, offer, channel) with the expected value (propensity × value) and the contact cost, \
grouped by customer: customer_id,campaign,offer,channel,value,cost.\n\n\
Examples:\n  zhiying campaign optimize --spec plan.json --candidates candidates.csv --out assignments.csv\n  \
zhiying campaign optimize --synthetic 1000000 --json            # a realistic generated instance"
    )]
    Optimize(OptimizeArgs),
}

#[derive(clap::Args, Debug)]
pub struct OptimizeArgs {
    /// Problem spec: channels, campaigns, offers, per-customer cap (JSON or TOML).
    #[arg(long, requires = "candidates", conflicts_with = "synthetic")]
    pub spec: Option<PathBuf>,
    /// Candidates CSV: customer_id,campaign,offer,channel,value,cost (grouped by customer).
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// Generate a realistic instance with this many customers instead.
    #[arg(long)]
    pub synthetic: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the assignments here (CSV).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stop when the gap to the bound is below this (relative).
    #[arg(long, default_value_t = 1e-3)]
    pub target_gap: f64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        CampaignCommand::Optimize(a) => optimize_cmd(a),
    }
}

fn optimize_cmd(a: OptimizeArgs) -> anyhow::Result<()> {
    let pb = output::spinner("building the problem", a.json);
    let problem = match (&a.spec, &a.candidates, a.synthetic) {
        (Some(spec), Some(cands), None) => {
            let text = std::fs::read_to_string(spec)
                .with_context(|| format!("reading {}", spec.display()))?;
            let spec_v: ProblemSpec = if spec.extension().is_some_and(|e| e == "toml") {
                toml::from_str(&text)
                    .with_context(|| format!("{}: not a valid spec", spec.display()))?
            } else {
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a valid spec", spec.display()))?
            };
            let f = std::fs::File::open(cands)
                .with_context(|| format!("opening {}", cands.display()))?;
            load_csv(&spec_v, std::io::BufReader::new(f))
                .with_context(|| format!("reading candidates from {}", cands.display()))?
        }
        (None, None, Some(n)) => zhiying_optimizer::synth::realistic(n, a.seed)?,
        _ => anyhow::bail!("give --spec FILE --candidates FILE, or --synthetic N"),
    };
    pb.set_message("optimising");
    let opts = Options {
        target_gap: a.target_gap,
        ..Options::default()
    };
    let solution = optimize(&problem, &opts)?;
    pb.finish_and_clear();
    if let Some(out) = &a.out {
        let f =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        solution.write_assignments_csv(&problem, std::io::BufWriter::new(f))?;
    }
    if a.json {
        return output::print_json(&solution.summary());
    }
    print!("{solution}");
    Ok(())
}
