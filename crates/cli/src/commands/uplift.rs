//! `zhiying uplift evaluate`: cross-fitted uplift models on any experiment CSV, scored by
//! Qini, AUUC and uplift@k.

use zhiying_uplift::{EvaluateOptions, Learner, evaluate_csv};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: UpliftCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum UpliftCommand {
    /// K-fold cross-fitted uplift model: Qini coefficient, AUUC and uplift at 10/20/30%.
    #[command(
        after_help = "Learners: t (two models), x (X-learner, propensity = treated share), x-fitted (fitted \
propensity), ct (class transformation, binary outcomes). Boosted trees from zhiying-models. A 0/1 outcome is \
binary; anything else numeric (spend) is continuous. Exclude other outcomes and post-treatment columns.\n\n\
Examples:\n  zhiying uplift evaluate --csv hillstrom.csv.gz --treatment-col segment --treatment 'Womens E-Mail' \
--control 'No E-Mail' --outcome visit --exclude conversion --exclude spend\n  \
zhiying uplift evaluate --csv exp.csv --treatment-col arm --treatment offer --control none --outcome spend --learner x --folds 10 --json"
    )]
    Evaluate(EvaluateArgs),
}

#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    #[arg(long)]
    pub csv: std::path::PathBuf,
    #[arg(long)]
    pub treatment_col: String,
    #[arg(long)]
    pub treatment: String,
    #[arg(long)]
    pub control: String,
    #[arg(long)]
    pub outcome: String,
    /// Columns that are not features (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// t, x, x-fitted or ct.
    #[arg(long, default_value = "t")]
    pub learner: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        UpliftCommand::Evaluate(a) => {
            let mut opts = EvaluateOptions::new(
                &a.csv,
                &a.treatment_col,
                &a.treatment,
                &a.control,
                &a.outcome,
            );
            opts.exclude = a.exclude.clone();
            opts.folds = a.folds;
            opts.learner = a.learner.parse::<Learner>()?;
            opts.seed = a.seed;
            let pb = output::spinner(
                &format!("cross-fitting {} folds on {}", a.folds, a.csv.display()),
                a.json,
            );
            let report = evaluate_csv(&opts)?;
            pb.finish_and_clear();
            if a.json {
                return output::print_json(&report);
            }
            print!("{report}");
            Ok(())
        }
    }
}
