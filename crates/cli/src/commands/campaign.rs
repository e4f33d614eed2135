//! `zhiying campaign …`: batch campaign planning across campaigns, running a campaign
//! (`run`), simulating its responses on the synthetic bank (`simulate-responses`), the
//! server's launcher and the demo's campaign.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use zhiying_campaigns::{RunReport, Runner, SimulationReport};
use zhiying_optimizer::{Options, ProblemSpec, load_csv, optimize};
use zhiying_store::{CampaignStatus, OperationalStore};

use super::DataDirArg;
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
    /// Runs a batch campaign: audience, deterministic holdout, engagement policies, the
    /// optimiser, contacts, outbox messages and facts. Rerunning it duplicates nothing.
    #[command(
        after_help = "An approved campaign is moved to running first (recorded, audited). A rerun after a crash \
completes what is missing (outbox messages, facts) without planning again.\n\n\
Examples:\n  zhiying campaign run --data-dir data --campaign cmp-0123456789ab\n  \
zhiying campaign run --name \"春季信用卡\" --json"
    )]
    Run(RunArgs),
    /// Simulates delivery and customer responses of a run campaign from the planted ground
    /// truth (docs/campaigns.md), as facts `zhiying measure campaigns` reads.
    #[command(
        after_help = "Examples:\n  zhiying campaign simulate-responses --data-dir data --campaign cmp-0123456789ab\n  \
zhiying measure campaigns --data-dir data"
    )]
    SimulateResponses(SimulateArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Campaign id (cmp-…).
    #[arg(long, conflicts_with = "name", required_unless_present = "name")]
    pub campaign: Option<String>,
    /// Or the campaign's name (the most recently changed campaign with that name).
    #[arg(long)]
    pub name: Option<String>,
    /// Who launches an approved campaign (recorded in its transitions and the audit log).
    #[arg(long, default_value = "cli")]
    pub actor: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Campaign id (cmp-…).
    #[arg(long, conflicts_with = "name", required_unless_present = "name")]
    pub campaign: Option<String>,
    /// Or the campaign's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Seed of the simulation (the same seed gives the same responses).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
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

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        CampaignCommand::Optimize(a) => optimize_cmd(a),
        CampaignCommand::Run(a) => run_cmd(cfg, a),
        CampaignCommand::SimulateResponses(a) => simulate_cmd(cfg, a),
    }
}

/// The runner over the data directory's store and outbox (PostgreSQL when configured).
pub async fn open_runner(
    cfg: &Config,
    dd: &zhiying_core::DataDir,
    store: std::sync::Arc<dyn OperationalStore>,
) -> anyhow::Result<Runner> {
    let url = cfg
        .database_url
        .clone()
        .unwrap_or_else(|| dd.sqlite_path().display().to_string());
    let outbox = zhiying_delivery::Outbox::open(&url)
        .await
        .context("opening the delivery outbox")?;
    Ok(Runner::new(dd.clone(), store, outbox))
}

/// A campaign id from `--campaign`, or the most recently changed campaign named `--name`.
async fn resolve_campaign(
    store: &dyn OperationalStore,
    id: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(id) = id {
        return Ok(id.to_string());
    }
    let name = name.context("give --campaign ID or --name NAME")?;
    store
        .campaigns(None)
        .await?
        .into_iter()
        .find(|c| c.draft.name == name)
        .map(|c| c.campaign_id)
        .with_context(|| format!("no campaign is named '{name}'"))
}

/// Moves an approved campaign to running as `actor` (recorded and audited).
async fn launch_if_approved(
    store: &dyn OperationalStore,
    id: &str,
    actor: &str,
) -> anyhow::Result<()> {
    let c = store
        .campaign(id)
        .await?
        .with_context(|| format!("no campaign has id '{id}'"))?;
    if c.status == CampaignStatus::Approved {
        store
            .transition_campaign(
                id,
                CampaignStatus::Running,
                actor,
                "launched from the command line",
                &serde_json::Value::Null,
            )
            .await?;
        store
            .append_audit(
                actor,
                "campaign.running",
                &format!("campaign:{id}"),
                &serde_json::json!({"from": "approved", "via": "cli"}),
            )
            .await?;
    }
    Ok(())
}

fn run_cmd(cfg: &Config, a: RunArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let report = super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let id = resolve_campaign(store.as_ref(), a.campaign.as_deref(), a.name.as_deref()).await?;
        launch_if_approved(store.as_ref(), &id, &a.actor).await?;
        let runner = open_runner(cfg, &dd, store.clone()).await?;
        let r = runner.run(&id, chrono::Utc::now()).await;
        runner.outbox().close().await;
        store.close().await;
        anyhow::Ok(r?)
    })?;
    if a.json {
        return output::print_json(&report);
    }
    print_run(&report);
    Ok(())
}

fn simulate_cmd(cfg: &Config, a: SimulateArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let report = super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let id = resolve_campaign(store.as_ref(), a.campaign.as_deref(), a.name.as_deref()).await?;
        let runner = open_runner(cfg, &dd, store.clone()).await?;
        let r = runner.simulate_responses(&id, a.seed).await;
        runner.outbox().close().await;
        store.close().await;
        let r = r?;
        // The responses are in: train the report's uplift model now, not on its first view.
        prepare_report(&dd, &id).await?;
        anyhow::Ok(r)
    })?;
    if a.json {
        return output::print_json(&report);
    }
    print_simulation(&report);
    println!("Measure it: zhiying measure campaigns");
    Ok(())
}

pub fn print_run(r: &RunReport) {
    println!(
        "Campaign {} 「{}」{}: {} treatment contacts, {} held out; messages go out from {}",
        r.campaign_id,
        r.name,
        if r.resumed {
            " (already planned: completed what was missing)"
        } else {
            ""
        },
        r.treatment_contacts,
        r.holdout_contacts,
        r.send_at.format("%Y-%m-%d %H:%M UTC")
    );
    if !r.resumed {
        println!(
            "  audience {} · global holdout {} · assigned treatment {} / holdout {} · with an offer passing every policy {}",
            r.audience,
            r.global_holdout,
            r.assigned_treatment,
            r.assigned_holdout,
            r.customers_with_candidates
        );
        let removed: Vec<String> = r
            .removed_by_policy
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  removed by policy (customer × offer × channel): {}",
            removed.join(", ")
        );
        if let Some(o) = &r.optimizer {
            println!(
                "  optimiser: expected value ¥{:.0}, LP bound ¥{:.0}, gap {:.3}% ({} iterations)",
                o.objective,
                o.upper_bound,
                o.gap * 100.0,
                o.iterations
            );
        }
        if r.dropped_by_caps > 0 {
            println!(
                "  dropped at reservation by frequency caps: {}",
                r.dropped_by_caps
            );
        }
    }
    let channels: Vec<String> = r
        .treatment_by_channel
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "  by channel: {} · planned cost ¥{:.2}",
        channels.join(", "),
        r.planned_cost_fen as f64 / 100.0
    );
    let facts: Vec<String> = r
        .facts
        .iter()
        .map(|f| format!("{} +{}", f.table, f.accepted))
        .collect();
    println!(
        "  new: contacts {}, assignments {}, outbox messages {}; facts {}",
        r.contacts_new,
        r.assignments_new,
        r.outbox_new,
        facts.join(", ")
    );
}

pub fn print_simulation(s: &SimulationReport) {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 / b as f64 * 100.0
        }
    };
    println!(
        "Simulated responses for {} (seed {}): treatment {} (delivered {}, failed {}, opened {}, clicked {}), holdout {}",
        s.campaign_id, s.seed, s.treatment, s.delivered, s.failed, s.opened, s.clicked, s.holdout
    );
    println!(
        "  conversions: treatment {} ({:.2}%), holdout {} ({:.2}%)",
        s.conversions_treatment,
        pct(s.conversions_treatment, s.treatment),
        s.conversions_holdout,
        pct(s.conversions_holdout, s.holdout)
    );
    println!(
        "  planted true lift: {:+.2} points ({:+.2} had every contact been delivered)",
        s.planted_lift * 100.0,
        s.planted_lift_if_delivered * 100.0
    );
    for o in &s.by_offer {
        println!(
            "    {} ({}): {} contacts, base {:.2}%, true effect {:+.2} points",
            o.offer_id,
            o.category,
            o.treatment_contacts,
            o.mean_base * 100.0,
            o.mean_effect * 100.0
        );
    }
}

/// Starts batch campaigns when they are launched from the API or the console.
pub struct RunnerLauncher {
    pub runner: Runner,
}

#[async_trait::async_trait]
impl zhiying_server::CampaignLauncher for RunnerLauncher {
    async fn launch(
        &self,
        campaign: &zhiying_store::Campaign,
    ) -> Result<zhiying_server::LaunchSummary, zhiying_server::LaunchError> {
        if campaign.draft.kind != zhiying_store::CampaignKind::Batch {
            return Ok(zhiying_server::LaunchSummary {
                detail: serde_json::json!({"note": "triggered campaigns run on their events, not as a batch"}),
                ..Default::default()
            });
        }
        let r = self
            .runner
            .run(&campaign.campaign_id, chrono::Utc::now())
            .await
            .map_err(|e| zhiying_server::LaunchError(e.to_string()))?;
        Ok(zhiying_server::LaunchSummary {
            contacts_planned: r.treatment_contacts,
            holdout: r.holdout_contacts,
            detail: serde_json::to_value(&r).unwrap_or_default(),
        })
    }
}

/// The demo's campaign: made, approved by a second user, run, answered by the simulated
/// customers, and measured against its holdout beside the planted truth.
#[derive(Debug, Serialize)]
pub struct DemoCampaign {
    pub campaign_id: String,
    pub run: RunReport,
    pub simulation: SimulationReport,
    pub measured: Option<zhiying_measure::CampaignEffect>,
    /// Whether the planted true lift lies in the measured 95% interval.
    pub planted_inside_ci: Option<bool>,
    /// A second campaign three days later on other channels and offers, so the customers
    /// both reach have multi-channel contact paths for the reports' attribution.
    pub follow_up: DemoFollowUp,
}

/// The demo's follow-up campaign (run and simulated like the first).
#[derive(Debug, Serialize)]
pub struct DemoFollowUp {
    pub campaign_id: String,
    pub run: RunReport,
    /// `None` when no customer of a tiny demo bank qualified for its offers.
    pub simulation: Option<SimulationReport>,
}

pub const DEMO_CAMPAIGN_NAME: &str = "演示活动：信用卡、消费贷与基金 (demo)";
/// Credit card (R1), consumer loan (R1) and a bond fund (R3, so suitability matters).
const DEMO_OFFERS: [&str; 3] = ["O001", "O004", "O006"];
pub const DEMO_FOLLOW_UP_NAME: &str = "演示跟进：存款与理财 (demo follow-up)";
/// Time deposit, wealth and deposit: other products, so the follow-up's responses are its own.
const FOLLOW_UP_OFFERS: [&str; 3] = ["O002", "O003", "O005"];
/// Days between the demo campaign and its follow-up.
const FOLLOW_UP_AFTER_DAYS: i64 = 3;

/// The campaign named `draft.name`, or a new one made by the marketer, approved by the
/// compliance officer and launched.
async fn ensure_demo_campaign(
    store: &dyn OperationalStore,
    draft: zhiying_store::CampaignDraft,
) -> anyhow::Result<String> {
    if let Some(c) = store
        .campaigns(None)
        .await?
        .into_iter()
        .find(|c| c.draft.name == draft.name)
    {
        return Ok(c.campaign_id);
    }
    let c = store.create_campaign(&draft, "marketer").await?;
    let none = serde_json::Value::Null;
    store
        .transition_campaign(
            &c.campaign_id,
            CampaignStatus::Submitted,
            "marketer",
            "demo",
            &none,
        )
        .await?;
    let snapshot = serde_json::to_value(zhiying_store::ApprovalSnapshot {
        audience_size: 0,
        expected_contacts: Default::default(),
        budget_fen: 0,
        content: serde_json::json!({"offers": draft.offers}),
    })?;
    store
        .transition_campaign(
            &c.campaign_id,
            CampaignStatus::Approved,
            "compliance",
            "demo approval",
            &snapshot,
        )
        .await?;
    store
        .transition_campaign(
            &c.campaign_id,
            CampaignStatus::Running,
            "marketer",
            "demo launch",
            &none,
        )
        .await?;
    Ok(c.campaign_id)
}

/// Trains the campaign report's uplift model now that the campaign's responses are in the
/// facts, so the report's first view reads a finished model instead of waiting for one.
async fn prepare_report(
    dd: &zhiying_core::DataDir,
    id: &str,
) -> anyhow::Result<zhiying_server::reports::UpliftSection> {
    let engine = zhiying_engine::DataFusionEngine::open(dd).await?;
    Ok(zhiying_server::reports::refresh_uplift(&engine, dd, id).await)
}

pub fn demo_campaign(cfg: &Config, dd: &zhiying_core::DataDir) -> anyhow::Result<DemoCampaign> {
    let (id, run, simulation, follow_up) = super::runtime()?.block_on(async {
        let store = zhiying_store::open(cfg.database_url.as_deref(), dd).await?;
        if store
            .get_setting(zhiying_campaigns::GLOBAL_HOLDOUT_SETTING)
            .await?
            .is_none()
        {
            store
                .put_setting(
                    zhiying_campaigns::GLOBAL_HOLDOUT_SETTING,
                    &serde_json::json!({"salt": "zhiying-global-holdout", "share": 0.02}),
                )
                .await?;
        }
        // The console and the API show the store's catalogue: put the sample offers there
        // (all of them while it is empty, so decisions keep the same catalogue).
        let sample = zhiying_decision::sample_catalog();
        let empty = store.offers(true).await?.is_empty();
        for o in sample.current() {
            let used =
                DEMO_OFFERS.contains(&o.id.as_str()) || FOLLOW_UP_OFFERS.contains(&o.id.as_str());
            if (empty || used) && store.offer(&o.id).await?.is_none() {
                store
                    .put_offer(
                        &o.id,
                        0,
                        &serde_json::to_value(o)?,
                        "demo",
                        "sample catalogue",
                    )
                    .await?;
            }
        }
        let today = chrono::Utc::now().date_naive();
        let draft = |name: &str,
                     offers: &[&str],
                     channels: &[&str],
                     start: chrono::NaiveDate,
                     spec: serde_json::Value| {
            zhiying_store::CampaignDraft {
                name: name.into(),
                kind: zhiying_store::CampaignKind::Batch,
                audience: "age between 22 and 60".into(),
                offers: offers.iter().map(|s| s.to_string()).collect(),
                channels: channels.iter().map(|s| s.to_string()).collect(),
                schedule: serde_json::json!({"start": start.to_string()}),
                budget_fen: 0,
                holdout_share: 0.2,
                spec,
            }
        };
        let id = ensure_demo_campaign(
            store.as_ref(),
            draft(
                DEMO_CAMPAIGN_NAME,
                &DEMO_OFFERS,
                &["app_push", "wechat", "sms"],
                today,
                serde_json::json!({"channel_capacity": {"sms": 2000}}),
            ),
        )
        .await?;
        let follow_id = ensure_demo_campaign(
            store.as_ref(),
            draft(
                DEMO_FOLLOW_UP_NAME,
                &FOLLOW_UP_OFFERS,
                &["sms", "email", "wechat"],
                today + chrono::Duration::days(FOLLOW_UP_AFTER_DAYS),
                serde_json::json!({"channel_capacity": {"sms": 1000}}),
            ),
        )
        .await?;
        let runner = open_runner(cfg, dd, store.clone()).await?;
        let run = runner.run(&id, chrono::Utc::now()).await?;
        let simulation = runner.simulate_responses(&id, 42).await?;
        let follow_run = runner.run(&follow_id, chrono::Utc::now()).await?;
        let simulation_follow = if follow_run.treatment_contacts + follow_run.holdout_contacts > 0 {
            Some(runner.simulate_responses(&follow_id, 43).await?)
        } else {
            None
        };
        let follow_up = DemoFollowUp {
            run: follow_run,
            simulation: simulation_follow,
            campaign_id: follow_id,
        };
        runner.outbox().close().await;
        store.close().await;
        for c in [&id, &follow_up.campaign_id] {
            prepare_report(dd, c).await?;
        }
        anyhow::Ok((id, run, simulation, follow_up))
    })?;
    let measured = super::measure::campaign_effects(dd, 0.05)?
        .into_iter()
        .find(|e| e.campaign_id == id);
    let planted_inside_ci = measured.as_ref().map(|e| {
        e.lift_ci[0] <= simulation.planted_lift && simulation.planted_lift <= e.lift_ci[1]
    });
    Ok(DemoCampaign {
        campaign_id: id,
        run,
        simulation,
        measured,
        planted_inside_ci,
        follow_up,
    })
}

pub fn print_demo_campaign(d: &DemoCampaign) {
    print_run(&d.run);
    print_simulation(&d.simulation);
    match &d.measured {
        Some(e) => println!(
            "  measured against the holdout: lift {:+.2} points (95% CI {:+.2} to {:+.2}), planted {:+.2}: {}",
            e.lift * 100.0,
            e.lift_ci[0] * 100.0,
            e.lift_ci[1] * 100.0,
            d.simulation.planted_lift * 100.0,
            if d.planted_inside_ci == Some(true) {
                "the interval contains the truth"
            } else {
                "the truth is outside the interval"
            }
        ),
        None => println!("  not measurable yet (no treated and held-out customers)"),
    }
    println!(
        "  follow-up {} ({} days later, other offers on SMS, e-mail and WeChat): {} treatment contacts, {} conversions; the reports attribute both campaigns' conversions over the customers' contact paths",
        d.follow_up.campaign_id,
        FOLLOW_UP_AFTER_DAYS,
        d.follow_up.run.treatment_contacts,
        d.follow_up
            .simulation
            .as_ref()
            .map_or(0, |s| s.conversions_treatment)
    );
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
