//! `zhiying experiment …`: analyse an experiment from any CSV (one row per exposed unit),
//! and size one before it starts.

use anyhow::Context;
use zhiying_experiment::{AnalyzeOptions, Correction, RatioSpec, analyze_csv};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ExperimentCommand,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CorrectionArg {
    Holm,
    Bh,
    None,
}

#[derive(clap::Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Per arm: n, mean, absolute and relative lift with CIs, p-value, P(beat control);
    /// plus the sample-ratio-mismatch check, CUPED and always-valid intervals.
    #[command(
        after_help = "Works on any CSV (gzip too), one row per unit, an arm column and numeric metric columns \
(0/1 conversions, counts, amounts; the kind is detected). Binary metrics use the two-proportion z-test, others \
Welch's t; relative lifts use the delta method; p-values are corrected across metrics and arms (Holm by default). \
Bayesian: P(beat control) and expected loss. Sequential: an always-valid confidence sequence, safe to peek at. \
The SRM check flags p < 0.001 against the planned split (equal unless --weights).\n\n\
Examples:\n  zhiying experiment analyze --csv hillstrom.csv.gz --arm-col segment --control 'No E-Mail' --metric visit --metric conversion --metric spend\n  \
zhiying experiment analyze --csv exp.csv --arm-col arm --control control --metric converted --covariate pre_spend --json\n  \
zhiying experiment analyze --csv exp.csv --arm-col arm --control a --metric clicks --ratio ctr=clicks/views --weights a=0.5,b=0.25,c=0.25"
    )]
    Analyze(AnalyzeArgs),
    /// Sample size per arm for a conversion or mean difference, or the detectable effect
    /// for a given size.
    #[command(
        after_help = "Examples:\n  zhiying experiment power --baseline 0.05 --mde 0.01            # n per arm for 5% → 6%\n  \
zhiying experiment power --baseline 0.05 --n 20000             # smallest detectable lift with 20,000 per arm\n  \
zhiying experiment power --sd 120 --mde 5 --power 0.9           # a revenue metric"
    )]
    Power(PowerArgs),
}

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The CSV file (one row per unit; gzip is detected).
    #[arg(long)]
    pub csv: std::path::PathBuf,
    /// Column with the arm name.
    #[arg(long)]
    pub arm_col: String,
    /// The control arm's value.
    #[arg(long)]
    pub control: String,
    /// A metric column (repeatable).
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
    /// A ratio metric NAME=NUMERATOR/DENOMINATOR, analysed with the delta method (repeatable).
    #[arg(long = "ratio")]
    pub ratios: Vec<String>,
    /// Pre-period covariate for CUPED variance reduction.
    #[arg(long)]
    pub covariate: Option<String>,
    /// Planned split for the SRM check, e.g. control=0.5,a=0.25,b=0.25 (default: equal).
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<String>,
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    #[arg(long, value_enum, default_value = "holm")]
    pub correction: CorrectionArg,
    /// Field delimiter (one character).
    #[arg(long, default_value = ",")]
    pub delimiter: char,
    /// Skip rows whose metric cells are empty or not numbers (counted) instead of failing.
    #[arg(long)]
    pub skip_invalid: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct PowerArgs {
    /// Control conversion rate (binary metric).
    #[arg(long, conflicts_with = "sd")]
    pub baseline: Option<f64>,
    /// Standard deviation (continuous metric).
    #[arg(long)]
    pub sd: Option<f64>,
    /// Minimum detectable effect, absolute (e.g. 0.01 = one point).
    #[arg(long)]
    pub mde: Option<f64>,
    /// Units in the control arm (to get the detectable effect instead).
    #[arg(long)]
    pub n: Option<f64>,
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// Treatment size as a multiple of control.
    #[arg(long, default_value_t = 1.0)]
    pub ratio: f64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        ExperimentCommand::Analyze(a) => analyze(a),
        ExperimentCommand::Power(a) => power(a),
    }
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !a.metrics.is_empty() || !a.ratios.is_empty(),
        "name at least one --metric COLUMN (or --ratio NAME=NUM/DEN)"
    );
    let metrics: Vec<&str> = a.metrics.iter().map(String::as_str).collect();
    let mut opts = AnalyzeOptions::new(&a.arm_col, &a.control, &metrics);
    for r in &a.ratios {
        let (name, rest) = r
            .split_once('=')
            .with_context(|| format!("--ratio {r}: expected NAME=NUMERATOR/DENOMINATOR"))?;
        let (num, den) = rest
            .split_once('/')
            .with_context(|| format!("--ratio {r}: expected NAME=NUMERATOR/DENOMINATOR"))?;
        opts.ratios.push(RatioSpec {
            name: name.trim().into(),
            numerator: num.trim().into(),
            denominator: den.trim().into(),
        });
    }
    opts.covariate = a.covariate.clone();
    if !a.weights.is_empty() {
        let mut w = Vec::new();
        for item in &a.weights {
            let (arm, v) = item
                .split_once('=')
                .with_context(|| format!("--weights {item}: expected ARM=SHARE"))?;
            let v: f64 = v
                .trim()
                .parse()
                .with_context(|| format!("--weights {item}: {v} is not a number"))?;
            w.push((arm.trim().to_string(), v));
        }
        opts.planned_weights = Some(w);
    }
    opts.alpha = a.alpha;
    opts.correction = match a.correction {
        CorrectionArg::Holm => Correction::Holm,
        CorrectionArg::Bh => Correction::BenjaminiHochberg,
        CorrectionArg::None => Correction::None,
    };
    anyhow::ensure!(
        a.delimiter.is_ascii(),
        "--delimiter must be one ASCII character"
    );
    opts.delimiter = a.delimiter as u8;
    opts.skip_invalid = a.skip_invalid;
    let pb = output::spinner(&format!("analysing {}", a.csv.display()), a.json);
    let report = analyze_csv(&a.csv, &opts)?;
    pb.finish_and_clear();
    if a.json {
        return output::print_json(&report);
    }
    print!("{report}");
    // A test is flagged under-powered when it could not have detected a 5% relative lift.
    for v in report.verdicts(0.05)? {
        println!("- {}\n  {}", v.en, v.zh);
    }
    Ok(())
}

fn power(a: PowerArgs) -> anyhow::Result<()> {
    use zhiying_experiment::power;
    let out = match (a.baseline, a.sd, a.mde, a.n) {
        (Some(p), None, Some(mde), None) => serde_json::to_value(power::sample_size_proportions(
            p, mde, a.alpha, a.power, a.ratio,
        )?)?,
        (None, Some(sd), Some(mde), None) => serde_json::to_value(power::sample_size_means(
            mde, sd, a.alpha, a.power, a.ratio,
        )?)?,
        (Some(p), None, None, Some(n)) => serde_json::json!({
            "n_control": n,
            "mde_absolute": power::mde_proportions(p, n, a.alpha, a.power, a.ratio)?,
        }),
        (None, Some(sd), None, Some(n)) => serde_json::json!({
            "n_control": n,
            "mde_absolute": power::mde_means(sd, n, a.alpha, a.power, a.ratio)?,
        }),
        _ => anyhow::bail!(
            "give --baseline (conversion) or --sd (continuous), and either --mde (to get n) or --n (to get the detectable effect)"
        ),
    };
    if a.json {
        return output::print_json(&out);
    }
    for (k, v) in out.as_object().into_iter().flatten() {
        println!("{k:<24} {v}");
    }
    Ok(())
}
