//! `zhiying measure …`: campaign KPIs and what each campaign caused against its holdout.

use serde::Serialize;
use zhiying_measure::{Breakdown, CampaignEffect, KpiRow};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: MeasureCommand,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum By {
    Campaign,
    Group,
    Channel,
    Day,
    /// By the customer's cluster in the latest `zhiying segment run`.
    Segment,
}

#[derive(clap::Subcommand, Debug)]
pub enum MeasureCommand {
    /// Each campaign's effect on conversion: treated vs untreated (holdout) with a 95%
    /// interval, incremental conversions and revenue, ROI and a plain-language verdict.
    #[command(
        after_help = "Examples:\n  zhiying measure campaigns --data-dir data\n  zhiying measure campaigns --alpha 0.01 --json"
    )]
    Campaigns {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        #[arg(long)]
        json: bool,
    },
    /// Reach, delivery, open, click, conversion, revenue, cost, ROI and complaints.
    #[command(
        after_help = "Examples:\n  zhiying measure kpis --by campaign\n  zhiying measure kpis --by day --json"
    )]
    Kpis {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long, value_enum, default_value = "campaign")]
        by: By,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Effects<'a> {
    campaigns: &'a [CampaignEffect],
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        MeasureCommand::Campaigns {
            data_dir,
            alpha,
            json,
        } => {
            let effects = campaign_effects(&data_dir.resolve(cfg), alpha)?;
            if json {
                return output::print_json(&Effects {
                    campaigns: &effects,
                });
            }
            print_effects(&effects);
            Ok(())
        }
        MeasureCommand::Kpis { data_dir, by, json } => {
            let by = match by {
                By::Campaign => Breakdown::Campaign,
                By::Group => Breakdown::CampaignGroup,
                By::Channel => Breakdown::CampaignChannel,
                By::Day => Breakdown::CampaignDay,
                By::Segment => Breakdown::CampaignSegment,
            };
            let dd = data_dir.resolve(cfg);
            let rows = super::runtime()?.block_on(async {
                let engine = zhiying_engine::DataFusionEngine::open(&dd).await?;
                anyhow::Ok(zhiying_measure::kpis(&engine, by).await?)
            })?;
            if json {
                return output::print_json(&rows);
            }
            print_kpis(&rows);
            Ok(())
        }
    }
}

pub fn campaign_effects(
    dd: &zhiying_core::DataDir,
    alpha: f64,
) -> anyhow::Result<Vec<CampaignEffect>> {
    super::runtime()?.block_on(async {
        let engine = zhiying_engine::DataFusionEngine::open(dd).await?;
        anyhow::Ok(zhiying_measure::campaign_effects(&engine, alpha).await?)
    })
}

pub fn print_effects(effects: &[CampaignEffect]) {
    if effects.is_empty() {
        println!("No campaign has both treated and untreated (holdout) customers yet.");
    }
    for e in effects {
        println!("{}\n  {}", e.verdict_en, e.verdict_zh);
    }
}

fn print_kpis(rows: &[KpiRow]) {
    println!(
        "{:<10} {:<12} {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>12} {:>8}",
        "campaign",
        "by",
        "customers",
        "reach",
        "open",
        "click",
        "conv",
        "converted",
        "revenue ¥",
        "ROI"
    );
    for r in rows {
        let by = r
            .contact_group
            .as_deref()
            .or(r.channel.as_deref())
            .or(r.day.as_deref())
            .or(r.segment.as_deref())
            .unwrap_or("");
        println!(
            "{:<10} {:<12} {:>9} {:>9} {:>6.1}% {:>6.1}% {:>6.2}% {:>9} {:>12.0} {:>8}",
            r.campaign_id,
            by,
            r.customers,
            r.reach,
            r.open_rate * 100.0,
            r.click_rate * 100.0,
            r.conversion_rate * 100.0,
            r.converted,
            r.revenue_fen as f64 / 100.0,
            r.roi
                .map_or("—".to_string(), |x| format!("{:+.0}%", x * 100.0))
        );
    }
}
