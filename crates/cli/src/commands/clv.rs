//! `zhiying clv`: fit BG/NBD, Pareto/NBD and Gamma-Gamma on a customer summary or on raw
//! transactions, and predict P(alive), purchases, spend and CLV.

use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use zhiying_clv::{
    BgNbdParams, ClvOptions, CustomerSummary, FitOptions, FitReport, GammaGammaFit,
    GammaGammaParams, ParetoNbdParams, Prediction, PurchaseModel, SummaryOptions, TimeUnit,
    TransactionColumns,
};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ClvCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ClvCommand {
    /// Fit the models and print parameters, standard errors and log-likelihoods.
    #[command(after_help = "Examples:\n  \
zhiying clv fit --summary datasets/cdnow_customers_summary_with_transactions.csv\n  \
zhiying clv fit --summary summary.csv --model bgnbd --json\n  \
zhiying clv fit --transactions txns.csv --customer-col customer_id --date-col ts \\\n      \
--amount-col amount_fen --amount-divisor 100 --calibration-end 2024-06-30 --time-unit days\n  \
zhiying clv fit --summary summary.csv --predict-horizon 39 --top 10")]
    Fit(FitArgs),
    /// Fit, then write per-customer predictions (P(alive), purchases, spend, CLV) as CSV.
    #[command(after_help = "Examples:\n  \
zhiying clv predict --summary summary.csv --horizon 52 --months 12 --out predictions.csv\n  \
zhiying clv predict --transactions txns.csv --customer-col cust --date-col date \\\n      \
--amount-col amount --calibration-end 1997-09-30 --model pareto --json")]
    Predict(PredictArgs),
}

/// Where the customers come from: a ready summary, or transactions to summarise.
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// Summary CSV with columns x, t_x, T and optionally zbar and ID (lifetimes' frequency,
    /// recency, monetary_value also accepted).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "transactions",
        required_unless_present = "transactions"
    )]
    pub summary: Option<PathBuf>,
    /// Transaction CSV (any delimiter, .gz ok): one row per purchase.
    #[arg(long, value_name = "FILE")]
    pub transactions: Option<PathBuf>,
    /// Customer id column of --transactions.
    #[arg(long, value_name = "COL", default_value = "customer_id")]
    pub customer_col: String,
    /// Date or timestamp column of --transactions.
    #[arg(long, value_name = "COL", default_value = "date")]
    pub date_col: String,
    /// Amount column of --transactions (omit to fit purchase models only).
    #[arg(long, value_name = "COL")]
    pub amount_col: Option<String>,
    /// Divide amounts by this (100 for fen or cents).
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub amount_divisor: f64,
    /// Last day of the calibration period (YYYY-MM-DD), required with --transactions.
    #[arg(long, value_name = "DATE")]
    pub calibration_end: Option<String>,
    /// Last day of a holdout period: its purchases are counted per customer (x_holdout).
    #[arg(long, value_name = "DATE")]
    pub observation_end: Option<String>,
    /// Time unit of t_x and T (and of horizons): weeks (Fader & Hardie's CDNOW) or days.
    #[arg(long, value_name = "UNIT", default_value = "weeks")]
    pub time_unit: String,
    /// Write the built summary to this CSV (with --transactions).
    #[arg(long, value_name = "FILE")]
    pub summary_out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Bgnbd,
    Pareto,
    Gg,
    All,
}

#[derive(clap::Args, Debug)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which model(s) to fit.
    #[arg(long, value_enum, default_value = "all")]
    pub model: Model,
    /// Also print predictions over this many time units for the --top customers.
    #[arg(long, value_name = "N")]
    pub predict_horizon: Option<f64>,
    /// Customers shown with --predict-horizon, highest expected purchases first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub value: ValueArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValueArgs {
    /// CLV horizon in months.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Monthly discount rate for CLV (0.01 = 1% a month).
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
}

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Purchase model: bgnbd or pareto (Gamma-Gamma is added when zbar is known).
    #[arg(long, value_enum, default_value = "bgnbd")]
    pub model: Model,
    /// Prediction horizon for expected purchases, in time units.
    #[arg(long, value_name = "N", default_value_t = 52.0)]
    pub horizon: f64,
    #[command(flatten)]
    pub value: ValueArgs,
    /// Write predictions to this CSV (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of CSV.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Loaded {
    source: PathBuf,
    customers: usize,
    time_unit: TimeUnit,
    #[serde(skip_serializing_if = "Option::is_none")]
    transactions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    born_after_calibration: Option<usize>,
}

fn load(a: &InputArgs) -> anyhow::Result<(Vec<CustomerSummary>, Loaded)> {
    let unit: TimeUnit = a.time_unit.parse()?;
    if let Some(path) = &a.summary {
        let rows = zhiying_clv::read_summary_csv(path)?;
        let info = Loaded {
            source: path.clone(),
            customers: rows.len(),
            time_unit: unit,
            transactions: None,
            born_after_calibration: None,
        };
        return Ok((rows, info));
    }
    let Some(path) = &a.transactions else {
        bail!("give --summary FILE or --transactions FILE");
    };
    let Some(cal) = &a.calibration_end else {
        bail!(
            "--transactions needs --calibration-end YYYY-MM-DD (the last day of the fitting period)"
        );
    };
    let day =
        |s: &str, flag: &str| zhiying_clv::parse_day(s).map_err(|m| anyhow::anyhow!("{flag}: {m}"));
    let opts = SummaryOptions {
        calibration_end: day(cal, "--calibration-end")?,
        observation_end: a
            .observation_end
            .as_deref()
            .map(|s| day(s, "--observation-end"))
            .transpose()?,
        unit,
    };
    if a.amount_divisor.is_nan() || a.amount_divisor <= 0.0 {
        bail!("--amount-divisor must be positive");
    }
    let cols = TransactionColumns {
        customer: &a.customer_col,
        date: &a.date_col,
        amount: a.amount_col.as_deref(),
        amount_divisor: a.amount_divisor,
        delimiter: None,
    };
    let builder = zhiying_clv::read_transactions_csv(path, &cols)?;
    let summary = builder.build(&opts)?;
    if let Some(out) = &a.summary_out {
        write_summary(out, &summary.customers)?;
    }
    let info = Loaded {
        source: path.clone(),
        customers: summary.customers.len(),
        time_unit: unit,
        transactions: Some(summary.transactions),
        born_after_calibration: Some(summary.born_after_calibration),
    };
    Ok((summary.customers, info))
}

fn write_summary(path: &Path, rows: &[CustomerSummary]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    w.write_record(["ID", "x", "t_x", "T", "zbar", "x_holdout"])?;
    for r in rows {
        w.write_record([
            r.customer.clone(),
            r.rfm.x.to_string(),
            format!("{:.6}", r.rfm.t_x),
            format!("{:.6}", r.rfm.t),
            r.zbar.map(|z| format!("{z:.6}")).unwrap_or_default(),
            r.x_holdout.map(|z| z.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[derive(Serialize, Default)]
struct Fits {
    #[serde(skip_serializing_if = "Option::is_none")]
    bgnbd: Option<FitReport<BgNbdParams>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pareto_nbd: Option<FitReport<ParetoNbdParams>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma_gamma: Option<GammaGammaFit>,
    seconds: f64,
}

fn fit_models(rows: &[CustomerSummary], model: Model, quiet: bool) -> anyhow::Result<Fits> {
    let rfm: Vec<_> = rows.iter().map(|c| c.rfm).collect();
    let opts = FitOptions::default();
    let started = Instant::now();
    let mut fits = Fits::default();
    if matches!(model, Model::Bgnbd | Model::All) {
        let pb = output::spinner("fitting BG/NBD", quiet);
        fits.bgnbd = Some(BgNbdParams::fit(&rfm, &opts)?);
        pb.finish_and_clear();
    }
    if matches!(model, Model::Pareto | Model::All) {
        let pb = output::spinner("fitting Pareto/NBD", quiet);
        fits.pareto_nbd = Some(ParetoNbdParams::fit(&rfm, &opts)?);
        pb.finish_and_clear();
    }
    let has_zbar = rows.iter().all(|c| c.zbar.is_some());
    if matches!(model, Model::Gg) && !has_zbar {
        bail!(
            "Gamma-Gamma needs spend: add a zbar column to the summary, or --amount-col with --transactions"
        );
    }
    if matches!(model, Model::Gg | Model::All) && has_zbar {
        let pb = output::spinner("fitting Gamma-Gamma", quiet);
        let x: Vec<f64> = rfm.iter().map(|r| r.x).collect();
        let z: Vec<f64> = rows.iter().map(|c| c.zbar.unwrap_or(0.0)).collect();
        fits.gamma_gamma = Some(GammaGammaParams::fit(&x, &z, &opts)?);
        pb.finish_and_clear();
    }
    fits.seconds = started.elapsed().as_secs_f64();
    Ok(fits)
}

fn print_params(title: &str, names: &[&str], values: &[f64], se: Option<Vec<f64>>) {
    println!("{title}");
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        match &se {
            Some(se) => println!("  {n:<8} {v:>12.4}  ± {:.4}", se[i]),
            None => println!("  {n:<8} {v:>12.4}"),
        }
    }
}

fn print_report<P>(r: &FitReport<P>) {
    println!(
        "  log-likelihood {:.2}   {} customers, {} distinct rows, {}; {}/{} polished starts agree",
        r.log_likelihood,
        r.customers,
        r.distinct_rows,
        if r.converged {
            "converged"
        } else {
            "NOT converged (check the data)"
        },
        r.starts_agreeing,
        r.polished
    );
}

#[derive(Serialize)]
struct FitOutput {
    input: Loaded,
    #[serde(flatten)]
    fits: Fits,
    #[serde(skip_serializing_if = "Option::is_none")]
    predictions: Option<Vec<Prediction>>,
}

fn predictions(
    fits: &Fits,
    rows: &[CustomerSummary],
    horizon: f64,
    value: &ValueArgs,
    unit: TimeUnit,
) -> anyhow::Result<Vec<Prediction>> {
    let model: &dyn PurchaseModel = match (&fits.bgnbd, &fits.pareto_nbd) {
        (Some(b), _) => &b.params,
        (None, Some(p)) => &p.params,
        (None, None) => bail!("predictions need a purchase model: --model bgnbd, pareto or all"),
    };
    let gg = fits.gamma_gamma.as_ref().map(|g| g.report.params);
    let opts = ClvOptions {
        months: value.months,
        monthly_discount_rate: value.discount_rate,
        unit,
    };
    Ok(zhiying_clv::predict(
        model,
        gg.as_ref(),
        rows,
        horizon,
        &opts,
    )?)
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        ClvCommand::Fit(f) => run_fit(f),
        ClvCommand::Predict(p) => run_predict(p),
    }
}

fn run_fit(a: FitArgs) -> anyhow::Result<()> {
    let (rows, info) = load(&a.input)?;
    let fits = fit_models(&rows, a.model, a.json)?;
    let preds = match a.predict_horizon {
        Some(h) => {
            let mut p = predictions(&fits, &rows, h, &a.value, info.time_unit)?;
            p.sort_by(|x, y| y.expected_purchases.total_cmp(&x.expected_purchases));
            p.truncate(a.top);
            Some(p)
        }
        None => None,
    };
    if a.json {
        return output::print_json(&FitOutput {
            input: info,
            fits,
            predictions: preds,
        });
    }
    println!(
        "{} customers from {} (time unit: {})",
        info.customers,
        info.source.display(),
        info.time_unit.name()
    );
    if let Some(f) = &fits.bgnbd {
        let p = f.params;
        let se = f.standard_errors.map(|s| vec![s.r, s.alpha, s.a, s.b]);
        print_params(
            "BG/NBD",
            &["r", "alpha", "a", "b"],
            &[p.r, p.alpha, p.a, p.b],
            se,
        );
        print_report(f);
    }
    if let Some(f) = &fits.pareto_nbd {
        let p = f.params;
        let se = f.standard_errors.map(|s| vec![s.r, s.alpha, s.s, s.beta]);
        print_params(
            "Pareto/NBD",
            &["r", "alpha", "s", "beta"],
            &[p.r, p.alpha, p.s, p.beta],
            se,
        );
        print_report(f);
    }
    if let Some(g) = &fits.gamma_gamma {
        let p = g.report.params;
        let se = g.report.standard_errors.map(|s| vec![s.p, s.q, s.gamma]);
        print_params(
            "Gamma-Gamma",
            &["p", "q", "gamma"],
            &[p.p, p.q, p.gamma],
            se,
        );
        print_report(&g.report);
        println!(
            "  {} customers without repeat purchases left out; corr(x, zbar) = {:.3}{}",
            g.excluded_no_repeat,
            g.frequency_spend_correlation,
            if g.frequency_spend_correlation.abs() > 0.3 {
                "  (high: the model assumes spend independent of frequency)"
            } else {
                ""
            }
        );
    }
    println!("fitted in {:.3} s", fits.seconds);
    if let Some(p) = preds {
        println!(
            "\ntop {} by expected purchases in the next {} {} (CLV: {} months at {}%/month)",
            p.len(),
            a.predict_horizon.unwrap_or_default(),
            info.time_unit.name(),
            a.value.months,
            a.value.discount_rate * 100.0
        );
        println!(
            "{:<12} {:>4} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
            "customer", "x", "t_x", "T", "P(alive)", "purchases", "spend", "CLV"
        );
        for r in p {
            let opt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
            println!(
                "{:<12} {:>4} {:>8.2} {:>8.2} {:>8.3} {:>10.3} {:>10} {:>10}",
                r.customer,
                r.x,
                r.t_x,
                r.t,
                r.probability_alive,
                r.expected_purchases,
                opt(r.expected_spend),
                opt(r.clv)
            );
        }
    }
    Ok(())
}

fn run_predict(a: PredictArgs) -> anyhow::Result<()> {
    let (rows, info) = load(&a.input)?;
    let purchase = match a.model {
        Model::Gg => bail!(
            "--model must be a purchase model (bgnbd or pareto); Gamma-Gamma is added automatically when spend is known"
        ),
        Model::All => Model::Bgnbd,
        m => m,
    };
    let mut fits = fit_models(&rows, purchase, a.json || a.out.is_none())?;
    if rows.iter().all(|c| c.zbar.is_some()) {
        fits.gamma_gamma = fit_models(&rows, Model::Gg, true)?.gamma_gamma;
    }
    let preds = predictions(&fits, &rows, a.horizon, &a.value, info.time_unit)?;
    if a.json {
        return output::print_json(&FitOutput {
            input: info,
            fits,
            predictions: Some(preds),
        });
    }
    let sink: Box<dyn std::io::Write> = match &a.out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut w = csv::Writer::from_writer(sink);
    w.write_record([
        "customer",
        "x",
        "t_x",
        "T",
        "probability_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ])?;
    for r in &preds {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
        w.write_record([
            r.customer.clone(),
            r.x.to_string(),
            format!("{:.4}", r.t_x),
            format!("{:.4}", r.t),
            format!("{:.6}", r.probability_alive),
            format!("{:.6}", r.expected_purchases),
            opt(r.expected_spend),
            opt(r.clv),
        ])?;
    }
    w.flush()?;
    if let Some(p) = &a.out {
        eprintln!("wrote {} predictions to {}", preds.len(), p.display());
    }
    Ok(())
}
