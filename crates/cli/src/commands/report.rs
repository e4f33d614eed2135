//! `zhiying report dp`: aggregate reports that leave the bank, released with differential
//! privacy under a per-report budget (`zhiying-privacy`, `docs/privacy.md`).

use std::collections::HashMap;

use anyhow::{Context, bail};
use rand::SeedableRng;
use serde::Serialize;
use zhiying_privacy::{Aggregate, BudgetLedger, Cost, Mechanism, Release, Row, Spec};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {
    /// A noisy count, sum or mean per group, charged to the report's privacy budget.
    #[command(after_help = "Examples:
  zhiying report dp --preset customers-by-city --epsilon 0.5 --delta 1e-6
  zhiying report dp --preset customers-by-risk --epsilon 0.2 --json
  zhiying report dp --preset balance-by-city --aggregate mean --epsilon 1 --delta 1e-6 --mechanism gaussian
  zhiying report dp --report gender-2026 --sql \"SELECT customer_id AS unit, gender FROM customers\" --keys m,f,u --epsilon 0.3
  zhiying report dp --status

The SQL returns one row per person (and fact): a `unit` column (the person), the group
columns, and a `value` column for sums and means. Aggregation is done here, not in SQL, so
that one person's contribution can be bounded.")]
    Dp(DpArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Customers per city (keys from the data, thresholded; needs --delta).
    CustomersByCity,
    /// Customers per risk level C1–C5 (public keys).
    CustomersByRisk,
    /// Account balances in yuan per city (sum or mean; bounds default to 0–1,000,000).
    BalanceByCity,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateArg {
    Count,
    Sum,
    Mean,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MechanismArg {
    /// ε-DP with discrete Laplace noise.
    Laplace,
    /// (ε, δ)-DP with discrete Gaussian noise.
    Gaussian,
}

#[derive(clap::Args, Debug)]
pub struct DpArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// A ready-made report; its name is the preset's unless --report is given.
    #[arg(long, value_enum, conflicts_with = "sql")]
    pub preset: Option<Preset>,
    /// Your own query (see the examples); needs --report.
    #[arg(long, requires = "report")]
    pub sql: Option<String>,
    /// The report's name: its budget is fixed at the first release and every release is charged to it.
    #[arg(long)]
    pub report: Option<String>,
    #[arg(long, value_enum)]
    pub aggregate: Option<AggregateArg>,
    #[arg(long, value_enum, default_value = "laplace")]
    pub mechanism: MechanismArg,
    /// ε spent by this release.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// δ spent by this release (needed for the Gaussian mechanism and for keys from the data).
    #[arg(long, default_value_t = 0.0)]
    pub delta: f64,
    /// The report's total ε (default: 4 × --epsilon on first release).
    #[arg(long)]
    pub budget_epsilon: Option<f64>,
    /// The report's total δ (default: 4 × --delta on first release).
    #[arg(long)]
    pub budget_delta: Option<f64>,
    /// Clamp each person's value to at least this (sums and means).
    #[arg(long, allow_negative_numbers = true)]
    pub lower: Option<f64>,
    /// Clamp each person's value to at most this (sums and means).
    #[arg(long, allow_negative_numbers = true)]
    pub upper: Option<f64>,
    /// Public group keys, comma-separated (one group column); every one is released.
    #[arg(long, value_delimiter = ',')]
    pub keys: Option<Vec<String>>,
    /// Print every report's budget and spends instead of releasing.
    #[arg(long)]
    pub status: bool,
    #[arg(long)]
    pub json: bool,
}

struct Query {
    report: String,
    sql: String,
    aggregate: Aggregate,
    bounds: Option<(f64, f64)>,
    keys: Option<Vec<Vec<String>>>,
}

fn query_for(a: &DpArgs) -> anyhow::Result<Query> {
    let aggregate = a.aggregate.map(|g| match g {
        AggregateArg::Count => Aggregate::Count,
        AggregateArg::Sum => Aggregate::Sum,
        AggregateArg::Mean => Aggregate::Mean,
    });
    let bounds = match (a.lower, a.upper) {
        (Some(l), Some(u)) => Some((l, u)),
        (None, None) => None,
        _ => bail!("give both --lower and --upper (the range each person's value is clipped to)"),
    };
    let keys = a
        .keys
        .as_ref()
        .map(|k| k.iter().map(|s| vec![s.trim().to_string()]).collect());
    let named = |preset: &str| a.report.clone().unwrap_or_else(|| preset.to_string());
    Ok(match (a.preset, &a.sql) {
        (Some(Preset::CustomersByCity), _) => Query {
            report: named("customers-by-city"),
            sql: "SELECT customer_id AS unit, city FROM customers WHERE city IS NOT NULL".into(),
            aggregate: aggregate.unwrap_or(Aggregate::Count),
            bounds,
            keys,
        },
        (Some(Preset::CustomersByRisk), _) => Query {
            report: named("customers-by-risk"),
            sql: "SELECT customer_id AS unit, risk_level FROM customers WHERE risk_level IS NOT NULL"
                .into(),
            aggregate: aggregate.unwrap_or(Aggregate::Count),
            bounds,
            keys: keys.or_else(|| {
                Some(
                    zhiying_core::schema::CUSTOMER_RISK_LEVELS
                        .iter()
                        .map(|k| vec![k.to_string()])
                        .collect(),
                )
            }),
        },
        (Some(Preset::BalanceByCity), _) => Query {
            report: named("balance-by-city"),
            sql: "SELECT a.customer_id AS unit, c.city, CAST(a.balance_fen AS DOUBLE) / 100.0 AS value \
                  FROM accounts a JOIN customers c ON a.customer_id = c.customer_id \
                  WHERE c.city IS NOT NULL AND a.balance_fen IS NOT NULL"
                .into(),
            aggregate: aggregate.unwrap_or(Aggregate::Mean),
            bounds: bounds.or(Some((0.0, 1_000_000.0))),
            keys,
        },
        (None, Some(sql)) => Query {
            report: a
                .report
                .clone()
                .context("--sql needs --report NAME: the budget is kept per report")?,
            sql: sql.clone(),
            aggregate: aggregate.unwrap_or(Aggregate::Count),
            bounds,
            keys,
        },
        (None, None) => bail!(
            "nothing to release: give --preset (customers-by-city, customers-by-risk, balance-by-city) or --sql with --report, or --status"
        ),
    })
}

/// Rows of the query as privacy rows: `unit`, `value` and the other columns (in query
/// order) as the group key.
async fn load_rows(
    engine: &zhiying_engine::DataFusionEngine,
    sql: &str,
) -> anyhow::Result<Vec<Row>> {
    use zhiying_engine::AnalyticsEngine;
    let batches = engine
        .query(sql)
        .await
        .with_context(|| format!("the report query failed: {sql}"))?;
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    if !names.iter().any(|n| n == "unit") {
        bail!(
            "the report query must return a `unit` column (the person, e.g. `customer_id AS unit`); it returned {names:?}"
        );
    }
    let group_cols: Vec<&String> = names
        .iter()
        .filter(|n| *n != "unit" && *n != "value")
        .collect();
    let rows = zhiying_engine::batches_to_json(&batches)?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let unit = r.get("unit").map(text).unwrap_or_default();
            if unit.is_empty() {
                bail!(
                    "row {}: `unit` is empty; every row must name its person",
                    i + 1
                );
            }
            let value = match r.get("value") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.as_f64().with_context(|| {
                    format!("row {}: `value` must be a number, got {v}", i + 1)
                })?),
            };
            Ok(Row {
                unit,
                key: group_cols
                    .iter()
                    .map(|c| r.get(c.as_str()).map(text).unwrap_or_default())
                    .collect(),
                value,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct Released<'a> {
    report: &'a str,
    release: &'a Release,
    budget: &'a zhiying_privacy::Charged,
    /// Only for the operator: how many input rows were dropped by contribution bounding.
    rows_in: usize,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        ReportCommand::Dp(a) => dp(cfg, a),
    }
}

fn dp(cfg: &Config, a: DpArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let ledger = BudgetLedger::in_data_dir(dd.root());
    if a.status {
        let all = ledger.all()?;
        if a.json {
            return output::print_json(&all);
        }
        if all.is_empty() {
            println!("No differentially private report has been released from this data dir.");
        }
        for (name, b) in &all {
            let spent = b.spent();
            println!(
                "{name}: spent ε {:.4} of {:.4}, δ {:e} of {:e}, {} release(s)",
                spent.epsilon,
                b.limit.epsilon,
                spent.delta,
                b.limit.delta,
                b.spends.len()
            );
        }
        return Ok(());
    }
    let q = query_for(&a)?;
    let epsilon = a
        .epsilon
        .context("give --epsilon, the privacy cost of this release (e.g. 0.5)")?;
    let cost = Cost::new(epsilon, a.delta)?;
    let limit = Cost::new(
        a.budget_epsilon.unwrap_or(4.0 * epsilon),
        a.budget_delta.unwrap_or(4.0 * a.delta).min(0.999),
    )?;
    let spec = Spec {
        aggregate: q.aggregate,
        mechanism: match a.mechanism {
            MechanismArg::Laplace => Mechanism::Laplace,
            MechanismArg::Gaussian => Mechanism::Gaussian,
        },
        cost,
        bounds: q.bounds,
        keys: q.keys,
    };
    let rt = super::runtime()?;
    let rows = rt.block_on(async {
        let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
        load_rows(&engine, &q.sql).await
    })?;
    let rows_in = rows.len();
    // A dry run on an empty input finds parameter errors before anything is charged.
    zhiying_privacy::release(&spec, Vec::new(), &mut rand::rngs::StdRng::seed_from_u64(0))?;
    let description = format!(
        "{} {} over {} rows: {}",
        spec.mechanism.name(),
        spec.aggregate.name(),
        rows_in,
        q.sql
    );
    let charged = ledger.charge(&q.report, limit, cost, &description)?;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let release = zhiying_privacy::release(&spec, rows, &mut rng)?;
    rt.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        store
            .append_audit(
                &super::users::cli_actor(),
                "privacy.release",
                &format!("report:{}", q.report),
                &serde_json::json!({
                    "epsilon": cost.epsilon, "delta": cost.delta,
                    "spent_epsilon": charged.spent.epsilon, "spent_delta": charged.spent.delta,
                    "mechanism": spec.mechanism.name(), "aggregate": spec.aggregate.name(),
                    "query": q.sql, "groups": release.groups.len(),
                }),
            )
            .await?;
        anyhow::Ok(())
    })?;
    if a.json {
        return output::print_json(&Released {
            report: &q.report,
            release: &release,
            budget: &charged,
            rows_in,
        });
    }
    print_release(&q.report, &release, &charged);
    Ok(())
}

fn print_release(report: &str, r: &Release, c: &zhiying_privacy::Charged) {
    println!(
        "Report {report}: {} {} with ε {} δ {:e}",
        r.mechanism.name(),
        r.aggregate.name(),
        r.cost.epsilon,
        r.cost.delta
    );
    let mut width: HashMap<usize, usize> = HashMap::new();
    for g in &r.groups {
        for (i, k) in g.key.iter().enumerate() {
            let w = width.entry(i).or_insert(5);
            *w = (*w).max(k.chars().count());
        }
    }
    for g in &r.groups {
        let key: Vec<String> = g
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k:<w$}", w = width.get(&i).copied().unwrap_or(5)))
            .collect();
        let mut line = key.join("  ");
        if let Some(n) = g.count {
            line.push_str(&format!("  count {n:>9}"));
        }
        if let Some(s) = g.sum {
            line.push_str(&format!("  sum {s:>14.2}"));
        }
        if let Some(m) = g.mean {
            line.push_str(&format!("  mean {m:>12.2}"));
        }
        println!("  {line}");
    }
    if let Some(sd) = r.count_noise_sd {
        println!("Noise sd per count: {sd:.2} people");
    }
    if let Some(sd) = r.sum_noise_sd {
        println!("Noise sd per sum: {sd:.2}");
    }
    if let Some(t) = r.threshold {
        println!("Groups with a noisy count below {t:.1} were withheld (keys came from the data).");
    }
    println!(
        "Budget: spent ε {:.4} of {:.4}, δ {:e} of {:e}; remaining ε {:.4}.",
        c.spent.epsilon, c.limit.epsilon, c.spent.delta, c.limit.delta, c.remaining.epsilon
    );
}
