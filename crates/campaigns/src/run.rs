//! Running one batch campaign: audience → deterministic holdout → engagement policies →
//! optimiser → contacts, holdout assignments, outbox messages and facts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_decision::catalog::{Lang, render};
use zhiying_decision::{
    Candidate as DecisionCandidate, CandidateOutcome, Catalog, Channel, ContactLedger,
    DecisionEngine, DecisionRequest, EngineConfig, Offer, Policy, PropensityOrigin,
};
use zhiying_delivery::{Message, Outbox};
use zhiying_experiment::{Arm, Assigner, ExperimentConfig, GlobalHoldout, Variant};
use zhiying_optimizer::{Options, Problem};
use zhiying_store::{
    Assignment, Campaign, CampaignKind, CampaignStatus, Contact, ContactGroup, ContactStatus,
    EXPERIMENT_BUCKETS, ExperimentArm, ExperimentStatus, NewExperiment, OperationalStore,
};

use crate::facts::{self, FactWrite, Row, ts_text};
use crate::setup::{TagPropensity, load_catalog, load_consents, seed_ledger};
use crate::{GLOBAL_HOLDOUT_SETTING, RunError};

/// Optional settings a campaign's `spec` may carry for the runner.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct RunSpec {
    /// Most offers one customer receives from this campaign (default 1).
    max_offers_per_customer: Option<u32>,
    /// Contacts a channel can take in this run, e.g. `{"call_centre": 500}`.
    channel_capacity: BTreeMap<String, u64>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub campaign_id: String,
    pub name: String,
    /// An earlier run had already committed the plan: nothing was re-planned; missing
    /// outbox messages and facts were completed from the stored contacts.
    pub resumed: bool,
    /// When the messages may go out: the run time or the schedule's start, moved out of
    /// every chosen channel's quiet hours.
    pub send_at: DateTime<Utc>,
    /// Customers in the audience expression.
    pub audience: u64,
    /// Audience customers in the global holdout (never touched).
    pub global_holdout: u64,
    /// Audience customers assigned to treatment and to the campaign's holdout.
    pub assigned_treatment: u64,
    pub assigned_holdout: u64,
    /// Customers with at least one (offer, channel) passing every policy.
    pub customers_with_candidates: u64,
    /// (customer, offer, channel) combinations removed, by the first policy that removed them.
    pub removed_by_policy: BTreeMap<String, u64>,
    /// The optimiser's report: objective, LP upper bound and gap, usage per channel.
    pub optimizer: Option<zhiying_optimizer::Summary>,
    /// Treatment contacts the contact ledger refused at reservation (caps).
    pub dropped_by_caps: u64,
    /// Contacts of the plan: treatment (to be delivered) and holdout (measured, not sent).
    pub treatment_contacts: u64,
    pub holdout_contacts: u64,
    pub treatment_by_channel: BTreeMap<String, u64>,
    /// Sum of the treatment contacts' costs, 分.
    pub planned_cost_fen: i64,
    /// Rows this run added (0 on a rerun).
    pub contacts_new: u64,
    pub assignments_new: u64,
    pub outbox_new: u64,
    pub facts: Vec<FactWrite>,
    pub seconds: f64,
}

/// The runner: everything a run reads and writes.
#[derive(Clone)]
pub struct Runner {
    data_dir: DataDir,
    store: Arc<dyn OperationalStore>,
    outbox: Outbox,
}

/// The campaign's experiment (its holdout) in the store.
pub fn experiment_id(campaign_id: &str) -> String {
    format!("exp-{campaign_id}")
}

/// A contact's id, also the idempotency key of its outbox message.
pub fn contact_id(campaign_id: &str, customer_id: &str, offer_id: &str, channel: &str) -> String {
    format!("{campaign_id}:{customer_id}:{offer_id}:{channel}")
}

/// The first moment at or after `earliest` (whole seconds) outside the quiet hours of
/// every channel in `channels`, in 15-minute steps.
pub fn send_time(
    earliest: DateTime<Utc>,
    channels: &[Channel],
    config: &EngineConfig,
) -> DateTime<Utc> {
    let mut t = DateTime::from_timestamp(earliest.timestamp(), 0).unwrap_or(earliest);
    for _ in 0..(4 * 48) {
        let quiet = channels
            .iter()
            .any(|c| config.quiet_hours.get(c).is_some_and(|q| q.contains(t)));
        if !quiet {
            break;
        }
        t += chrono::Duration::minutes(15);
    }
    t
}

/// The engine settings a batch run decides with: the default caps, quiet hours and
/// suppression, no random control group (the campaign's holdout measures it), and room
/// for every offer of the campaign.
pub fn batch_config() -> EngineConfig {
    EngineConfig {
        control_share: 0.0,
        default_max_offers: 10,
        ..EngineConfig::default()
    }
}

fn invalid(id: &str, message: impl Into<String>) -> RunError {
    RunError::Invalid {
        id: id.to_string(),
        message: message.into(),
    }
}

/// Whether a candidate passed every engagement policy (it may still have lost arbitration
/// within the engine, which the optimiser replaces).
fn passed(c: &DecisionCandidate) -> bool {
    match &c.outcome {
        CandidateOutcome::Chosen { .. } => c.factors.is_some(),
        CandidateOutcome::Removed { reason } => {
            reason.policy == Policy::Arbitration && c.factors.is_some()
        }
    }
}

fn policy_name(p: Policy) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{p:?}"))
}

impl Runner {
    pub fn new(data_dir: DataDir, store: Arc<dyn OperationalStore>, outbox: Outbox) -> Self {
        Runner {
            data_dir,
            store,
            outbox,
        }
    }

    pub fn store(&self) -> &Arc<dyn OperationalStore> {
        &self.store
    }
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// Loads a campaign and its offers from the catalogue and parses its channels.
    pub(crate) async fn campaign(
        &self,
        campaign_id: &str,
    ) -> Result<(Campaign, Vec<Offer>, Vec<Channel>), RunError> {
        let c = self
            .store
            .campaign(campaign_id)
            .await?
            .ok_or_else(|| RunError::UnknownCampaign(campaign_id.to_string()))?;
        let catalog = load_catalog(self.store.as_ref()).await?;
        let mut offers = Vec::new();
        for oid in &c.draft.offers {
            let o = catalog.get(oid).ok_or_else(|| {
                invalid(
                    campaign_id,
                    format!("offer '{oid}' is not an active offer of the catalogue"),
                )
            })?;
            offers.push(o.clone());
        }
        let mut channels = Vec::new();
        for ch in &c.draft.channels {
            let parsed = ch
                .parse::<Channel>()
                .map_err(|e| invalid(campaign_id, e.to_string()))?;
            if !channels.contains(&parsed) {
                channels.push(parsed);
            }
        }
        Ok((c, offers, channels))
    }

    /// Runs a running batch campaign. Idempotent: once the plan (contacts) is committed, a
    /// rerun re-plans nothing and only completes what a crash may have left undone.
    pub async fn run(&self, campaign_id: &str, now: DateTime<Utc>) -> Result<RunReport, RunError> {
        let started = Instant::now();
        let (c, offers, channels) = self.campaign(campaign_id).await?;
        if c.draft.kind != CampaignKind::Batch {
            return Err(RunError::NotBatch {
                id: campaign_id.to_string(),
                kind: c.draft.kind.to_string(),
            });
        }
        if c.status != CampaignStatus::Running {
            return Err(RunError::NotRunning {
                id: campaign_id.to_string(),
                status: c.status.to_string(),
            });
        }
        let existing = self.store.campaign_contacts(campaign_id, None).await?;
        let mut report = RunReport {
            campaign_id: campaign_id.to_string(),
            name: c.draft.name.clone(),
            resumed: !existing.is_empty(),
            send_at: now,
            audience: 0,
            global_holdout: 0,
            assigned_treatment: 0,
            assigned_holdout: 0,
            customers_with_candidates: 0,
            removed_by_policy: BTreeMap::new(),
            optimizer: None,
            dropped_by_caps: 0,
            treatment_contacts: 0,
            holdout_contacts: 0,
            treatment_by_channel: BTreeMap::new(),
            planned_cost_fen: 0,
            contacts_new: 0,
            assignments_new: 0,
            outbox_new: 0,
            facts: Vec::new(),
            seconds: 0.0,
        };
        let contacts = if existing.is_empty() {
            let contacts = self.plan(&c, &offers, &channels, now, &mut report).await?;
            // The commit point: every contact of the plan in one transaction.
            report.contacts_new = self.store.record_contacts(&contacts).await?;
            contacts
        } else {
            if let Some(k) = existing.first()
                && let Some(t) = DateTime::from_timestamp_micros(k.ts)
            {
                report.send_at = t;
            }
            existing
        };
        let by_id: HashMap<&str, &Offer> = offers.iter().map(|o| (o.id.as_str(), o)).collect();
        for k in &contacts {
            match k.group {
                ContactGroup::Treatment => {
                    report.treatment_contacts += 1;
                    *report
                        .treatment_by_channel
                        .entry(k.channel.clone())
                        .or_default() += 1;
                    report.planned_cost_fen +=
                        by_id.get(k.offer_id.as_str()).map_or(0, |o| o.cost_fen);
                }
                ContactGroup::Holdout => report.holdout_contacts += 1,
                ContactGroup::Control => {}
            }
        }

        // Deliveries: one message per treatment contact, keyed by the contact id.
        let mut messages = Vec::new();
        for k in contacts
            .iter()
            .filter(|k| k.group == ContactGroup::Treatment)
        {
            let offer = by_id.get(k.offer_id.as_str()).ok_or_else(|| {
                invalid(
                    campaign_id,
                    format!(
                        "contact {} names offer '{}', which is not in the campaign",
                        k.contact_id, k.offer_id
                    ),
                )
            })?;
            messages.push(message(&c, k, offer)?);
        }
        for chunk in messages.chunks(5_000) {
            report.outbox_new += self.outbox.enqueue_many(chunk).await?;
        }

        // Facts: the offers and the campaign (so contacts reference them), then the holdout
        // contacts, whose story is complete now. Treatment contacts become facts when their
        // delivery outcome is known (`simulate_responses`, or delivery receipts).
        let offer_rows: Vec<Row> = offers.iter().map(offer_row).collect();
        report.facts.push(
            facts::ingest(&self.data_dir, campaign_id, "offers", "offers", &offer_rows).await?,
        );
        report.facts.push(
            facts::ingest(
                &self.data_dir,
                campaign_id,
                "campaigns",
                "campaign",
                &[campaign_row(&c, report.send_at)],
            )
            .await?,
        );
        let mut holdout: Vec<&Contact> = contacts
            .iter()
            .filter(|k| k.group == ContactGroup::Holdout)
            .collect();
        holdout.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
        let rows: Vec<Row> = holdout
            .iter()
            .map(|k| contact_row(k, "suppressed"))
            .collect();
        report.facts.push(
            facts::ingest(
                &self.data_dir,
                campaign_id,
                "contacts",
                "contacts-holdout",
                &rows,
            )
            .await?,
        );
        report.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            campaign = campaign_id,
            treatment = report.treatment_contacts,
            holdout = report.holdout_contacts,
            resumed = report.resumed,
            "campaign run"
        );
        Ok(report)
    }

    /// Plans the campaign: who is held out, who gets which offer on which channel. Writes
    /// the experiment and its assignments (idempotent: the first assignment wins) and
    /// returns the contacts, not yet stored.
    async fn plan(
        &self,
        c: &Campaign,
        offers: &[Offer],
        channels: &[Channel],
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<Vec<Contact>, RunError> {
        let id = c.campaign_id.as_str();
        let spec: RunSpec = if c.draft.spec.is_object() {
            serde_json::from_value(c.draft.spec.clone())
                .map_err(|e| invalid(id, format!("spec: {e}")))?
        } else {
            RunSpec::default()
        };
        let (index, _) = zhiying_audience::load_index(&self.data_dir)
            .map_err(|e| RunError::Index(e.to_string()))?;
        let index = Arc::new(index);
        let expression = audience_expression(self.store.as_ref(), c).await?;
        let members = index.members(&expression).map_err(|e| RunError::Audience {
            id: id.to_string(),
            message: e.to_string(),
        })?;
        report.audience = members.len();

        // When: the schedule's start (local midnight) or now, out of quiet hours.
        let config = batch_config();
        let start = c
            .draft
            .schedule
            .get("start")
            .and_then(|v| v.as_str())
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc() - chrono::Duration::hours(8));
        let earliest = start.map_or(now, |s| s.max(now));
        let send_at = send_time(earliest, channels, &config);
        report.send_at = send_at;

        // What the policies decide with.
        let engine = zhiying_engine::DataFusionEngine::open(&self.data_dir).await?;
        let consents = load_consents(&engine, self.store.as_ref()).await?;
        let ledger = Arc::new(ContactLedger::new(config.retention_days()));
        seed_ledger(
            self.store.as_ref(),
            &ledger,
            id,
            send_at,
            config.retention_days(),
        )
        .await?;
        let caps = config.caps.clone();
        let decider = DecisionEngine::new(
            Catalog::from_offers(offers.to_vec())?,
            Some(&index),
            config,
            consents,
            ledger.clone(),
            Some(Arc::new(TagPropensity::new(index.clone()))),
        )?;

        // Holdout: deterministic hash salted by the campaign id; global holdout first.
        let global: Option<GlobalHoldout> =
            match self.store.get_setting(GLOBAL_HOLDOUT_SETTING).await? {
                Some(v) => {
                    Some(serde_json::from_value(v).map_err(|e| {
                        invalid(id, format!("setting {GLOBAL_HOLDOUT_SETTING}: {e}"))
                    })?)
                }
                None => None,
            };
        let share = c.draft.holdout_share;
        let exp_id = experiment_id(id);
        let mut assigner = Assigner::new(global)?;
        assigner.add_experiment(ExperimentConfig {
            id: exp_id.clone(),
            salt: format!("campaign:{id}"),
            arms: vec![Arm {
                name: "treatment".into(),
                weight: 1,
            }],
            holdout_share: share,
            layer: None,
        })?;

        // The optimisation problem over treatment and holdout alike, so the holdout is
        // exactly the customers the campaign would have contacted.
        let max_offers = spec.max_offers_per_customer.unwrap_or(1).max(1);
        let mut problem = Problem::new(max_offers)?;
        problem.set_one_per_campaign(max_offers == 1);
        let mut channel_ids = Vec::new();
        for ch in channels {
            let cap = spec
                .channel_capacity
                .iter()
                .find(|(k, _)| k.parse::<Channel>().ok() == Some(*ch))
                .map(|(_, v)| *v);
            channel_ids.push(problem.add_channel(ch.as_str(), cap)?);
        }
        let budget = (c.draft.budget_fen > 0).then(|| c.draft.budget_fen as f64 / 100.0);
        let cmp = problem.add_campaign(id, budget)?;
        let mut offer_ids = HashMap::new();
        for o in offers {
            offer_ids.insert(o.id.clone(), problem.add_offer(o.id.as_str(), 0, None)?);
        }
        let assigned_at = now.timestamp_micros();
        let mut assignments = Vec::new();
        let mut in_holdout: Vec<bool> = Vec::new();
        let mut cands = Vec::new();
        for d in members.iter() {
            let Some(cid) = index.customer_id(d) else {
                continue;
            };
            let holdout = match assigner.assign(&exp_id, cid)?.variant {
                Variant::GlobalHoldout => {
                    report.global_holdout += 1;
                    continue;
                }
                Variant::NotEligible => continue,
                Variant::CampaignHoldout => {
                    report.assigned_holdout += 1;
                    true
                }
                Variant::Arm(_) => {
                    report.assigned_treatment += 1;
                    false
                }
            };
            assignments.push(Assignment {
                experiment_id: exp_id.clone(),
                customer_id: cid.to_string(),
                arm: if holdout { "holdout" } else { "treatment" }.into(),
                assigned_at,
            });
            cands.clear();
            for (k, ch) in channels.iter().enumerate() {
                let decision = decider.decide(&DecisionRequest {
                    customer_id: cid.to_string(),
                    channel: *ch,
                    context: Default::default(),
                    now: send_at,
                    max_offers: Some(10),
                    simulate: true,
                    decision_id: Some(format!("{id}:{cid}:{}", ch.as_str())),
                });
                for cand in &decision.candidates {
                    if !passed(cand) {
                        if let CandidateOutcome::Removed { reason } = &cand.outcome {
                            *report
                                .removed_by_policy
                                .entry(policy_name(reason.policy))
                                .or_default() += 1;
                        }
                        continue;
                    }
                    let (Some(f), Some(o), Some(&oid)) = (
                        cand.factors.as_ref(),
                        offers.iter().find(|o| o.id == cand.offer_id),
                        offer_ids.get(&cand.offer_id),
                    ) else {
                        continue;
                    };
                    let p = match &f.propensity_origin {
                        PropensityOrigin::Adaptive { posterior_mean, .. } => *posterior_mean,
                        PropensityOrigin::Model { .. } => f.propensity,
                    };
                    let cost = o.cost_fen as f64 / 100.0;
                    cands.push(zhiying_optimizer::Candidate {
                        campaign: cmp,
                        offer: oid,
                        channel: channel_ids[k],
                        value: p * o.value_fen as f64 / 100.0 - cost,
                        cost,
                    });
                }
            }
            if !cands.is_empty() {
                report.customers_with_candidates += 1;
                problem.add_customer(cid, &cands)?;
                in_holdout.push(holdout);
            }
        }

        // Who is held out is on record before any contact exists.
        if share > 0.0 {
            self.ensure_experiment(c, &exp_id, share).await?;
            report.assignments_new = self.store.record_assignments(&assignments).await?;
        }

        let mut contacts = Vec::new();
        if problem.customer_count() == 0 {
            return Ok(contacts);
        }
        let solution = zhiying_optimizer::optimize(&problem, &Options::default())?;
        report.optimizer = Some(solution.summary());
        let mut chosen = solution.assignments.clone();
        chosen.sort_by_key(|a| (a.customer, a.candidate));
        let ts = send_at.timestamp_micros();
        for a in &chosen {
            let customer = problem.customer_id(a.customer).to_string();
            let offer = &problem.offers()[a.offer.0 as usize].name;
            let channel = channels[a.channel.0 as usize];
            let code = channel.schema_code();
            let contact_id = contact_id(id, &customer, offer, code);
            let holdout = in_holdout.get(a.customer as usize).copied().unwrap_or(true);
            if !holdout
                && ledger
                    .try_reserve(&customer, channel, offer, &contact_id, send_at, &caps)
                    .is_err()
            {
                report.dropped_by_caps += 1;
                continue;
            }
            contacts.push(Contact {
                contact_id,
                campaign_id: Some(id.to_string()),
                decision_id: None,
                customer_id: customer,
                offer_id: offer.clone(),
                channel: code.to_string(),
                ts,
                group: if holdout {
                    ContactGroup::Holdout
                } else {
                    ContactGroup::Treatment
                },
                status: if holdout {
                    ContactStatus::Suppressed
                } else {
                    ContactStatus::Planned
                },
            });
        }
        Ok(contacts)
    }

    /// Creates (if absent) and starts the campaign's holdout experiment in the store, in a
    /// layer of its own.
    async fn ensure_experiment(
        &self,
        c: &Campaign,
        exp_id: &str,
        share: f64,
    ) -> Result<(), RunError> {
        let e = match self.store.experiment(exp_id).await? {
            Some(e) => e,
            None => {
                self.store
                    .create_experiment(&NewExperiment {
                        experiment_id: exp_id.to_string(),
                        name: format!("{} · holdout", c.draft.name),
                        salt: format!("campaign:{}", c.campaign_id),
                        layer: format!("campaign-{}", c.campaign_id),
                        bucket_start: 0,
                        bucket_end: EXPERIMENT_BUCKETS,
                        arms: vec![
                            ExperimentArm {
                                name: "treatment".into(),
                                weight: 1.0 - share,
                            },
                            ExperimentArm {
                                name: "holdout".into(),
                                weight: share,
                            },
                        ],
                        control_arm: "holdout".into(),
                    })
                    .await?
            }
        };
        if e.status == ExperimentStatus::Draft {
            self.store
                .set_experiment_status(exp_id, ExperimentStatus::Running)
                .await?;
        }
        Ok(())
    }
}

/// The expression a campaign's audience stands for (a saved audience's definition).
async fn audience_expression(
    store: &dyn OperationalStore,
    c: &Campaign,
) -> Result<String, RunError> {
    let a = c.draft.audience.trim();
    if let Some(saved) = a.strip_prefix("audience:") {
        let saved = saved.trim();
        return match store.audience(saved).await? {
            Some(s) => Ok(s.definition),
            None => Err(RunError::Audience {
                id: c.campaign_id.clone(),
                message: format!("no saved audience has id '{saved}'"),
            }),
        };
    }
    Ok(a.to_string())
}

/// The outbox message of a treatment contact: the offer's treatment on the channel,
/// rendered (names stay masked: the channel adapter fills them in).
fn message(c: &Campaign, k: &Contact, offer: &Offer) -> Result<Message, RunError> {
    let invalid_channel = |e: String| invalid(&c.campaign_id, e);
    let channel: Channel =
        k.channel
            .parse()
            .map_err(|e: zhiying_decision::channel::ParseChannelError| {
                invalid_channel(e.to_string())
            })?;
    let delivery: zhiying_delivery::Channel = k
        .channel
        .parse()
        .map_err(|e: zhiying_delivery::UnknownChannel| invalid_channel(e.to_string()))?;
    let p = BTreeMap::new();
    let (title_zh, title_en, text_zh, text_en) = match offer.treatment(channel) {
        Some(t) => (
            t.title_zh.as_ref().map(|s| render(s, offer, Lang::Zh, &p)),
            t.title_en.as_ref().map(|s| render(s, offer, Lang::En, &p)),
            render(&t.template_zh, offer, Lang::Zh, &p),
            render(&t.template_en, offer, Lang::En, &p),
        ),
        None => (None, None, offer.name_zh.clone(), offer.name_en.clone()),
    };
    Ok(Message::new(
        k.contact_id.clone(),
        delivery,
        k.customer_id.clone(),
        serde_json::json!({
            "campaign_id": c.campaign_id,
            "campaign_name": c.draft.name,
            "contact_id": k.contact_id,
            "offer_id": offer.id,
            "offer_version": offer.version,
            "product_id": offer.product_id,
            "title_zh": title_zh,
            "title_en": title_en,
            "text_zh": text_zh,
            "text_en": text_en,
        }),
    )
    .not_before(k.ts))
}

fn offer_row(o: &Offer) -> Row {
    Row::new()
        .set("offer_id", &o.id)
        .set("product_id", &o.product_id)
        .set("name", &o.name_zh)
        .set("value_fen", o.value_fen)
        .set("cost_fen", o.cost_fen)
        .set("valid_from", o.valid_from)
        .set(
            "valid_to",
            o.valid_to.map(|d| d.to_string()).unwrap_or_default(),
        )
}

fn campaign_row(c: &Campaign, send_at: DateTime<Utc>) -> Row {
    let channel = c
        .draft
        .channels
        .first()
        .and_then(|s| s.parse::<Channel>().ok())
        .map_or("sms", |ch| ch.schema_code());
    let end = c
        .draft
        .schedule
        .get("end")
        .and_then(|v| v.as_str())
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .map(|d| d.to_string())
        .unwrap_or_default();
    Row::new()
        .set("campaign_id", &c.campaign_id)
        .set("name", &c.draft.name)
        .set(
            "offer_id",
            c.draft.offers.first().cloned().unwrap_or_default(),
        )
        .set("channel", channel)
        .set("start_date", zhiying_decision::channel::local_date(send_at))
        .set("end_date", end)
        .set("status", "running")
        .set("budget_fen", c.draft.budget_fen)
        .set("holdout_share", c.draft.holdout_share)
}

/// A contact as a `contacts` fact row with the given delivery status.
pub(crate) fn contact_row(k: &Contact, status: &str) -> Row {
    let ts = DateTime::from_timestamp_micros(k.ts).unwrap_or_default();
    Row::new()
        .set("contact_id", &k.contact_id)
        .set("campaign_id", k.campaign_id.clone().unwrap_or_default())
        .set("customer_id", &k.customer_id)
        .set("offer_id", &k.offer_id)
        .set("channel", &k.channel)
        .set("ts", ts_text(ts))
        .set("group", k.group.as_str())
        .set("status", status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn send_time_leaves_every_quiet_window() {
        let cfg = batch_config();
        // 23:30 in Shanghai: SMS is quiet until 08:00, calls until 09:00.
        let late = Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 0).unwrap();
        let sms = send_time(late, &[Channel::Sms], &cfg);
        assert_eq!(sms, Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap());
        let call = send_time(late, &[Channel::Sms, Channel::CallCentre], &cfg);
        assert_eq!(call, Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap());
        // Noon is fine as it is.
        let noon = Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap();
        assert_eq!(send_time(noon, &[Channel::Sms], &cfg), noon);
    }

    #[test]
    fn contact_ids_fit_the_fact_column() {
        let id = contact_id("cmp-0123456789ab", "C00000001", "O001", "app_push");
        assert!(id.len() <= 64, "{id}");
    }
}
