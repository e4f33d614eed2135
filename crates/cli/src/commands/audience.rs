//! `zhiying audience …`: count, sample, save, list, snapshot, export and overlap audiences
//! written in the audience expression language (docs/audiences.md).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use zhiying_audience::ops::{self, ExportFormat};
use zhiying_audience::{AudienceIndex, ExprError, RoaringBitmap};
use zhiying_core::DataDir;

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Expressions combine tags with and, or, not, comparisons, ranges, sets, \
holdings and events:\n  asset_tier in (\"vip\", \"private\") and age between 30 and 55\n  \
holds category \"fund\" and not did(\"login\", 90d)\n  资产等级 = \"贵宾客户\" 且 近90天交易笔数 >= 10\n\n\
Examples:\n  zhiying audience count --data-dir data --expr 'asset_tier = \"vip\" and did(\"login\", 30d)'\n  \
zhiying audience sample --data-dir data --expr 'holds_fund' --n 10 --json\n  \
zhiying audience save --data-dir data --name 贵宾活跃 --expr 'asset_tier = \"vip\" and did(\"login\", 30d)'\n  \
zhiying audience export --data-dir data --expr 'rfm_class = \"important_winback\"' --tags asset_tier,age --format csv --out winback.csv\n  \
zhiying audience overlap --data-dir data --expr holds_fund --expr holds_wealth --expr 'asset_tier = \"vip\"'\n\n\
An invalid expression prints the position and what was expected, and exits with code 2."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: AudienceCommand,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExprArg {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The audience expression (see docs/audiences.md).
    #[arg(long, value_name = "EXPR")]
    pub expr: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum AudienceCommand {
    /// Count the customers an expression selects.
    Count(ExprArg),
    /// Print a deterministic sample of members (same data and seed, same sample).
    Sample {
        #[command(flatten)]
        e: ExprArg,
        /// How many members.
        #[arg(long, default_value_t = 20)]
        n: usize,
        /// Seed of the pseudo-random choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Save an expression as a named audience in the operational store.
    Save {
        #[command(flatten)]
        e: ExprArg,
        /// A unique name, e.g. 高净值活跃.
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Who saves it (recorded with the audience).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// List saved audiences.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        json: bool,
    },
    /// Write the current members of a saved audience to derived/audiences/<id>/<time>.parquet.
    Snapshot {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Audience id (`aud-…`) or name.
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Export members with chosen tags to CSV or Parquet (personal data masked).
    Export {
        #[command(flatten)]
        e: ExprArg,
        /// csv or parquet.
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
        /// Output file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Tags to include beside customer_id, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
    },
    /// Compare 2 to 5 audiences: sizes, pairwise intersections and Venn regions.
    Overlap {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// An expression; give --expr 2 to 5 times.
        #[arg(long = "expr", value_name = "EXPR", required = true)]
        exprs: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic tags.parquet + tags.meta.json and the facts audiences read
    /// (products, holdings, events), in the tag engine's format, for trials and benchmarks.
    Fixture {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Mean events per customer over the 180 days before as_of.
        #[arg(long, default_value_t = 8.0)]
        events_per_customer: f64,
        #[arg(long)]
        json: bool,
    },
}

fn load(
    dd: &DataDir,
    quiet: bool,
) -> anyhow::Result<(AudienceIndex, zhiying_audience::LoadReport)> {
    let sp = output::spinner("loading the audience index", quiet);
    let r = zhiying_audience::load_index(dd)
        .with_context(|| format!("loading audiences from {}", dd.root().display()));
    sp.finish_and_clear();
    r
}

/// Prints an expression error (positioned, with a caret) and exits with code 2.
fn invalid(e: &ExprError, json: bool) -> ! {
    if json {
        let body = serde_json::json!({"error": {"code": e.code(), "message": e.message, "hint": e.hint(), "detail": e}});
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
    } else {
        eprintln!("{e}");
    }
    std::process::exit(2);
}

fn members(ix: &AudienceIndex, expr: &str, json: bool) -> (RoaringBitmap, f64) {
    let t = Instant::now();
    match ix.members(expr) {
        Ok(m) => (m, t.elapsed().as_secs_f64() * 1000.0),
        Err(e) => invalid(&e, json),
    }
}

#[derive(Serialize)]
struct CountOut {
    count: u64,
    millis: f64,
    customers: u32,
    load_millis: u64,
    as_of: Option<String>,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        AudienceCommand::Count(e) => {
            let dd = e.data_dir.resolve(cfg);
            let (ix, rep) = load(&dd, e.json)?;
            let (m, millis) = members(&ix, &e.expr, e.json);
            let out = CountOut {
                count: m.len(),
                millis: (millis * 1000.0).round() / 1000.0,
                customers: ix.customers(),
                load_millis: rep.millis_total,
                as_of: ix.stats().as_of,
            };
            if e.json {
                output::print_json(&out)?;
            } else {
                println!("count: {}", out.count);
                println!("millis: {:.3}", out.millis);
                println!(
                    "customers: {} (index loaded in {} ms)",
                    out.customers, out.load_millis
                );
            }
        }
        AudienceCommand::Sample { e, n, seed } => {
            let dd = e.data_dir.resolve(cfg);
            let (ix, _) = load(&dd, e.json)?;
            let (m, _) = members(&ix, &e.expr, e.json);
            let sample = ops::sample(&ix, &m, n, seed);
            if e.json {
                output::print_json(
                    &serde_json::json!({"count": m.len(), "seed": seed, "sample": sample}),
                )?;
            } else {
                println!(
                    "{} members; sample of {} (seed {seed}):",
                    m.len(),
                    sample.len()
                );
                for s in sample {
                    println!("  {s}");
                }
            }
        }
        AudienceCommand::Save {
            e,
            name,
            description,
            by,
        } => {
            let dd = e.data_dir.resolve(cfg);
            let (ix, _) = load(&dd, e.json)?;
            let (m, _) = members(&ix, &e.expr, e.json);
            let saved = super::runtime()?.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                let r = store
                    .create_audience(&zhiying_store::NewAudience {
                        name,
                        description,
                        definition: e.expr.clone(),
                        created_by: by,
                        count: Some(m.len()),
                    })
                    .await;
                store.close().await;
                anyhow::Ok(r?)
            })?;
            if e.json {
                output::print_json(&saved)?;
            } else {
                println!(
                    "saved {} \"{}\" ({} members)",
                    saved.id,
                    saved.name,
                    m.len()
                );
            }
        }
        AudienceCommand::List { data_dir, json } => {
            let dd = data_dir.resolve(cfg);
            let list = super::runtime()?.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                let r = store.audiences().await;
                store.close().await;
                anyhow::Ok(r?)
            })?;
            if json {
                output::print_json(&list)?;
            } else if list.is_empty() {
                println!(
                    "no saved audiences; save one with `zhiying audience save --name NAME --expr EXPR`"
                );
            } else {
                for a in list {
                    let count = a.last_count.map_or("-".to_string(), |c| c.to_string());
                    println!("{}  {:<24} {:>10}  {}", a.id, a.name, count, a.definition);
                }
            }
        }
        AudienceCommand::Snapshot { data_dir, id, json } => {
            let dd = data_dir.resolve(cfg);
            let (ix, _) = load(&dd, json)?;
            let snap = super::runtime()?.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                let r = snapshot(&store, &ix, &dd, &id, json).await;
                store.close().await;
                r
            })?;
            if json {
                output::print_json(&snap)?;
            } else {
                println!(
                    "{} members of {} written to {}",
                    snap.member_count, snap.audience_id, snap.path
                );
            }
        }
        AudienceCommand::Export {
            e,
            format,
            out,
            tags,
        } => {
            let dd = e.data_dir.resolve(cfg);
            let (ix, _) = load(&dd, e.json)?;
            let (m, _) = members(&ix, &e.expr, e.json);
            ops::check_export_tags(&ix, &tags)?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let w = std::io::BufWriter::new(file);
            let t = Instant::now();
            let rows = ops::export(&ix, &dd, &m, &tags, format, w)?;
            if e.json {
                output::print_json(
                    &serde_json::json!({"rows": rows, "out": out, "format": format, "seconds": t.elapsed().as_secs_f64()}),
                )?;
            } else {
                println!(
                    "{rows} rows written to {} ({format:?}, personal data masked)",
                    out.display()
                );
            }
        }
        AudienceCommand::Overlap {
            data_dir,
            exprs,
            json,
        } => {
            let dd = data_dir.resolve(cfg);
            if !(2..=ops::MAX_OVERLAP).contains(&exprs.len()) {
                anyhow::bail!(
                    "give --expr 2 to {} times (got {})",
                    ops::MAX_OVERLAP,
                    exprs.len()
                );
            }
            let (ix, _) = load(&dd, json)?;
            let sets: Vec<RoaringBitmap> = exprs.iter().map(|x| members(&ix, x, json).0).collect();
            let o = ops::overlap(&sets)?;
            if json {
                output::print_json(&serde_json::json!({"expressions": exprs, "overlap": o}))?;
            } else {
                for (i, x) in exprs.iter().enumerate() {
                    println!("[{}] {:>10}  {x}", (b'A' + i as u8) as char, o.sizes[i]);
                }
                println!("\nintersections:");
                print!("     ");
                for j in 0..exprs.len() {
                    print!("{:>10}", (b'A' + j as u8) as char);
                }
                println!();
                for (i, row) in o.matrix.iter().enumerate() {
                    print!("  {}  ", (b'A' + i as u8) as char);
                    for v in row {
                        print!("{v:>10}");
                    }
                    println!();
                }
                println!("\nVenn regions (customers in exactly these audiences):");
                for r in &o.regions {
                    let label: String = r.sets.iter().map(|&i| (b'A' + i as u8) as char).collect();
                    println!("  {label:<6}{:>10}", r.count);
                }
                println!("  union {:>10}", o.union);
            }
        }
        AudienceCommand::Fixture {
            data_dir,
            customers,
            seed,
            events_per_customer,
            json,
        } => {
            let dd = data_dir.resolve(cfg);
            let sp = output::spinner(&format!("writing a {customers}-customer tag fixture"), json);
            let t = Instant::now();
            let rep = zhiying_audience::fixture::write_fixture(
                &dd,
                &zhiying_audience::fixture::FixtureSpec {
                    customers,
                    seed,
                    events_per_customer,
                    ..Default::default()
                },
            )?;
            sp.finish_and_clear();
            if json {
                output::print_json(
                    &serde_json::json!({"fixture": rep, "seconds": t.elapsed().as_secs_f64()}),
                )?;
            } else {
                println!(
                    "wrote {} customers × {} tags, {} holdings, {} events to {} in {:.1} s",
                    rep.customers,
                    rep.tags,
                    rep.holdings,
                    rep.events,
                    dd.root().display(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(())
}

async fn snapshot(
    store: &std::sync::Arc<dyn zhiying_store::OperationalStore>,
    ix: &AudienceIndex,
    dd: &DataDir,
    id_or_name: &str,
    json: bool,
) -> anyhow::Result<zhiying_store::AudienceSnapshot> {
    let saved = match store.audience(id_or_name).await? {
        Some(a) => a,
        None => store
            .audiences()
            .await?
            .into_iter()
            .find(|a| a.name == id_or_name)
            .with_context(|| {
                format!(
                    "no saved audience with id or name `{id_or_name}`; see `zhiying audience list`"
                )
            })?,
    };
    let (m, _) = members(ix, &saved.definition, json);
    let now = chrono::Utc::now();
    let path = ops::snapshot_path(dd, &saved.id, now);
    let n = ops::write_snapshot(ix, &m, &path)?;
    let snap = zhiying_store::AudienceSnapshot {
        audience_id: saved.id.clone(),
        taken_at: now.timestamp_micros(),
        member_count: n,
        path: path.display().to_string(),
        definition: saved.definition.clone(),
    };
    store.record_audience_snapshot(&snap).await?;
    store
        .record_audience_count(&saved.id, n, snap.taken_at)
        .await?;
    Ok(snap)
}

/// The audiences the demo saves and prints: what a bank's marketers ask for first.
pub const EXAMPLE_AUDIENCES: [(&str, &str, &str); 3] = [
    (
        "高价值流失预警客户",
        "High-value customers at risk of churning",
        r#"asset_tier in ("affluent", "vip", "private") and churn_risk in ("high", "medium")"#,
    ),
    (
        "代发工资未持有理财客户",
        "Salary customers without a wealth product",
        "salary_credit and not holds_wealth and not holds_fund",
    ),
    (
        "近30天大额入账未持有定期客户",
        "Large inflow in the last 30 days, no time deposit",
        "large_inflow_30d and not holds_time_deposit",
    ),
];

/// One example audience as saved by [`save_examples`].
#[derive(Serialize, Debug)]
pub struct ExampleAudience {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub expression: String,
    pub count: u64,
    pub millis: f64,
}

/// Counts the [`EXAMPLE_AUDIENCES`] on the current tags and saves each one (replacing an
/// earlier save of the same name), so the console and the campaigns can use them.
pub fn save_examples(
    cfg: &Config,
    dd: &zhiying_core::DataDir,
    created_by: &str,
) -> anyhow::Result<Vec<ExampleAudience>> {
    let (index, _) = zhiying_audience::load_index(dd)
        .with_context(|| format!("loading tags from {}", dd.root().display()))?;
    let mut counted = Vec::new();
    for (zh, en, expr) in EXAMPLE_AUDIENCES {
        let started = std::time::Instant::now();
        let members = index
            .members(expr)
            .map_err(|e| anyhow::anyhow!("example audience {en}: {e}"))?;
        counted.push((
            zh,
            en,
            expr,
            members.len(),
            started.elapsed().as_secs_f64() * 1e3,
        ));
    }
    drop(index);
    super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), dd).await?;
        let existing = store.audiences().await?;
        let mut out = Vec::new();
        for (zh, en, expr, count, millis) in counted {
            for old in existing.iter().filter(|x| x.name == zh) {
                store.delete_audience(&old.id).await?;
            }
            let saved = store
                .create_audience(&zhiying_store::NewAudience {
                    name: zh.to_string(),
                    description: en.to_string(),
                    definition: expr.to_string(),
                    created_by: created_by.to_string(),
                    count: Some(count),
                })
                .await?;
            out.push(ExampleAudience {
                id: saved.id,
                name_zh: zh.to_string(),
                name_en: en.to_string(),
                expression: expr.to_string(),
                count,
                millis,
            });
        }
        store.close().await;
        anyhow::Ok(out)
    })
}

/// Prints the example audiences as a small table.
pub fn print_examples(examples: &[ExampleAudience]) {
    for e in examples {
        println!(
            "   {:>9} customers  {} / {}  ({:.1} ms)\n              {}",
            e.count, e.name_zh, e.name_en, e.millis, e.expression
        );
    }
}
