//! `zhiying tags …`: build, list, add, retire, explain customer tags (客户画像).

use anyhow::Context;
use std::path::PathBuf;
use zhiying_profiles::build::{self, BuildOptions, Stage};
use zhiying_profiles::catalog::{self, Catalog};
use zhiying_profiles::def::Status;
use zhiying_profiles::explain;
use zhiying_profiles::rule::Value;

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  zhiying tags build --data-dir data\n  zhiying tags list --data-dir data --category rfm\n  zhiying tags explain --data-dir data --customer C00000001 --tag rfm_class\n  zhiying tags add --data-dir data my_tags.toml\n  zhiying tags retire --data-dir data active_saver\n  zhiying tags history --data-dir data active_saver\n\nTag definitions are TOML; docs/tags.md describes the format and the rule language."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: TagsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TagsCommand {
    /// Compute every active tag into DATA_DIR/derived/tags.parquet (+ tags.meta.json).
    #[command(
        after_help = "Example:\n  zhiying tags build --data-dir data --json\n\nPrints customers, tags and seconds. The as-of date defaults to the date of the latest transaction, so a rebuild on the same data gives the same tags."
    )]
    Build {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// As-of date (YYYY-MM-DD): nothing after it is seen. Default: latest transaction date.
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the tag catalogue (built-in and user tags).
    #[command(
        after_help = "Examples:\n  zhiying tags list --data-dir data\n  zhiying tags list --data-dir data --category rfm --json\n  zhiying tags list --data-dir data --all      # include retired tags"
    )]
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Only this category (basic, assets, behaviour, channel, rfm, lifecycle, holdings, risk, inflow, custom, …).
        #[arg(long)]
        category: Option<String>,
        /// Include retired tags.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Add or change tags from a TOML definition file (one or more [[tag]] tables).
    #[command(
        after_help = "Example file:\n  [[tag]]\n  key = \"active_saver\"\n  name_zh = \"活跃储蓄客户\"\n  name_en = \"Active saver\"\n  description = \"Deposits of 50,000 yuan or more and 10+ transactions in 90 days\"\n  category = \"custom\"\n  kind = \"flag\"\n  owner = \"marketing\"\n  rule = \"deposit_balance_yuan >= 50000 and txn_count_90d >= 10\"\n\nWithout `version`, the tag gets one more than the stored version. Run `zhiying tags build` afterwards."
    )]
    Add {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Who makes the change (default: $USER).
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        json: bool,
        /// Definition file.
        file: PathBuf,
    },
    /// Retire a tag: it stays in the history but is no longer computed.
    Retire {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        json: bool,
        key: String,
    },
    /// Show every version of a tag: when, who, and what changed.
    History {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        json: bool,
        key: String,
    },
    /// Explain a customer's tag values: which rule or query, and which inputs.
    #[command(
        after_help = "Examples:\n  zhiying tags explain --data-dir data --customer C00000001\n  zhiying tags explain --data-dir data --customer C00000001 --tag salary_credit --json"
    )]
    Explain {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        customer: String,
        /// Only this tag; its supporting rows (e.g. monthly salary credits) are shown too.
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the SQL that `build` runs (e.g. to run it on another engine).
    Sql {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        as_of: Option<String>,
    },
}

fn author(a: Option<String>) -> String {
    a.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        TagsCommand::Build {
            data_dir,
            as_of,
            json,
        } => {
            let dd = data_dir.resolve(cfg);
            let s = build_tags(&dd, as_of.as_deref(), json)?;
            if json {
                output::print_json(&s)?;
            } else {
                println!(
                    "customers {}  tags {}  seconds {:.2}  (as of {}, {} scans, query {:.2}s)\n  {}\n  {}",
                    s.customers,
                    s.tags,
                    s.seconds,
                    s.as_of,
                    s.scans,
                    s.query_seconds,
                    s.parquet.display(),
                    s.meta.display()
                );
            }
            Ok(())
        }
        TagsCommand::List {
            data_dir,
            category,
            all,
            json,
        } => {
            let dd = data_dir.resolve(cfg);
            let c = Catalog::load(&dd)?;
            let tags: Vec<_> = c
                .all()
                .iter()
                .filter(|t| all || t.status == Status::Active)
                .filter(|t| category.as_deref().is_none_or(|k| t.category == k))
                .collect();
            if json {
                let v: Vec<serde_json::Value> = tags
                    .iter()
                    .map(|t| {
                        let mut raw = serde_json::to_value(t.to_raw()).unwrap_or_default();
                        if let Some(o) = raw.as_object_mut() {
                            o.insert("builtin".into(), t.builtin.into());
                            o.insert("method".into(), t.body.kind_name().into());
                        }
                        raw
                    })
                    .collect();
                return output::print_json(&v);
            }
            println!(
                "{:<26} {:<11} {:<11} {:<9} {:>3} {:<8} name",
                "key", "category", "kind", "method", "ver", "status"
            );
            for t in &tags {
                println!(
                    "{:<26} {:<11} {:<11} {:<9} {:>3} {:<8} {} / {}{}",
                    t.key,
                    t.category,
                    t.kind.as_str(),
                    t.body.kind_name(),
                    t.version,
                    match t.status {
                        Status::Active => "active",
                        Status::Retired => "retired",
                    },
                    t.name_zh,
                    t.name_en,
                    if t.builtin { "" } else { "  [user]" }
                );
            }
            println!("{} tags", tags.len());
            Ok(())
        }
        TagsCommand::Add {
            data_dir,
            author: who,
            json,
            file,
        } => {
            let dd = data_dir.resolve(cfg);
            let changes = catalog::add(&dd, &file, &author(who))
                .with_context(|| format!("adding tags from {}", file.display()))?;
            if json {
                return output::print_json(&changes);
            }
            for c in &changes {
                println!("{:<10} {} (version {})", c.action, c.key, c.version);
            }
            println!("Run `zhiying tags build` to compute them.");
            Ok(())
        }
        TagsCommand::Retire {
            data_dir,
            author: who,
            json,
            key,
        } => {
            let dd = data_dir.resolve(cfg);
            let c = catalog::retire(&dd, &key, &author(who))?;
            if json {
                return output::print_json(&c);
            }
            println!(
                "retired {} (version {}); the next build leaves it out",
                c.key, c.version
            );
            Ok(())
        }
        TagsCommand::History {
            data_dir,
            json,
            key,
        } => {
            let dd = data_dir.resolve(cfg);
            let h = catalog::history(&dd, &key)?;
            if json {
                return output::print_json(&h);
            }
            for e in &h {
                println!(
                    "v{:<3} {:<8} {:<20} {}{}",
                    e.version,
                    e.action,
                    e.at.as_deref().unwrap_or("(built in)"),
                    e.author,
                    if e.changed.is_empty() {
                        String::new()
                    } else {
                        format!("  changed: {}", e.changed.join(", "))
                    }
                );
                if let (Some(old), new) = (&e.old, &e.new) {
                    for (what, a, b) in [
                        ("rule", &old.rule, &new.rule),
                        ("sql", &old.sql, &new.sql),
                        ("expr", &old.expr, &new.expr),
                    ] {
                        if a != b {
                            println!(
                                "      {what} was: {}",
                                one_line(a.as_deref().unwrap_or("-"))
                            );
                            println!(
                                "      {what} now: {}",
                                one_line(b.as_deref().unwrap_or("-"))
                            );
                        }
                    }
                }
            }
            Ok(())
        }
        TagsCommand::Explain {
            data_dir,
            customer,
            tag,
            json,
        } => {
            let dd = data_dir.resolve(cfg);
            let mut e = explain::explain(&dd, &customer, tag.as_deref())?.with_context(|| {
                format!(
                    "no customer '{customer}' in the last tag build ({})",
                    build::tags_parquet(&dd).display()
                )
            })?;
            if tag.is_some() {
                let rt = super::runtime()?;
                rt.block_on(async {
                    let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
                    explain::details(&engine, &Catalog::load(&dd)?, &mut e).await?;
                    anyhow::Ok(())
                })?;
            }
            if json {
                return output::print_json(&e);
            }
            print_explanation(&e);
            Ok(())
        }
        TagsCommand::Sql { data_dir, as_of } => {
            let dd = data_dir.resolve(cfg);
            let catalog = Catalog::load(&dd)?;
            let rt = super::runtime()?;
            let date = match as_of {
                Some(s) => build::parse_as_of(&s)?,
                None => rt.block_on(async {
                    let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
                    anyhow::Ok(build::default_as_of(&engine).await?)
                })?,
            };
            let (sql, _) = build::compile(&catalog, zhiying_profiles::sources::AsOf(date))?;
            println!("{sql}");
            Ok(())
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds tags with a progress display; used by `tags build` and `demo`.
pub fn build_tags(
    dd: &zhiying_core::DataDir,
    as_of: Option<&str>,
    quiet: bool,
) -> anyhow::Result<zhiying_profiles::BuildSummary> {
    let opts = BuildOptions {
        as_of: as_of.map(build::parse_as_of).transpose()?,
    };
    let rt = super::runtime()?;
    let pb = output::spinner("loading the tag catalogue", quiet);
    let summary = rt.block_on(async {
        let engine = zhiying_engine::DataFusionEngine::open(dd).await?;
        let progress = |s: Stage| {
            pb.set_message(match s {
                Stage::Planning => "planning: one scan per source",
                Stage::Computing => "computing tags on DataFusion",
                Stage::Writing => "writing tags.parquet and statistics",
                Stage::Done => "done",
            })
        };
        anyhow::Ok(build::build(dd, &engine, &opts, &progress).await?)
    })?;
    pb.finish_and_clear();
    Ok(summary)
}

fn show(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_explanation(e: &explain::Explanation) {
    println!(
        "Customer {} · as of {} · built {}",
        e.customer_id, e.as_of, e.built_at
    );
    for t in &e.tags {
        let label = t
            .label_zh
            .as_ref()
            .map(|zh| format!(" ({zh} / {})", t.label_en.as_deref().unwrap_or("")))
            .unwrap_or_default();
        println!(
            "\n{} = {}{}   [{} v{}, {}]",
            t.key,
            show(&t.value),
            label,
            t.method,
            t.version,
            t.name_zh
        );
        match t.method.as_str() {
            "rule" => {
                if !t.inputs.is_empty() {
                    let inputs: Vec<String> = t
                        .inputs
                        .iter()
                        .map(|i| format!("{} = {}", i.key, show(&i.value)))
                        .collect();
                    println!("  inputs:  {}", inputs.join(", "));
                }
                if let Some(m) = &t.matched {
                    println!("  matched: {m}");
                }
                for n in &t.not_matched {
                    println!("  not:     {n}");
                }
            }
            _ => {
                if let Some(s) = &t.source {
                    println!("  source:  {s} where {}", t.window.as_deref().unwrap_or(""));
                }
                println!(
                    "  {}:  {}",
                    if t.method == "sql" { "query" } else { "expr" },
                    one_line(&t.definition)
                );
                if let Some(d) = &t.default {
                    println!("  default: {d} when the source has no rows for the customer");
                }
            }
        }
        if let Some(rows) = &t.details {
            println!("  rows behind the value:");
            for r in rows {
                println!("    {}", serde_json::Value::Object(r.clone()));
            }
        }
        if let Some(n) = &t.note {
            println!("  note: {n}");
        }
    }
}
