//! The decision engine: policies in order, arbitration, reservation, learning.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use zhiying_audience::{AudienceIndex, RoaringBitmap};
use zhiying_core::domain::{CustomerRiskLevel, ProductRiskLevel};

use crate::adaptive::AdaptiveModel;
use crate::catalog::{Catalog, Lang, Offer, OfferStatus, render};
use crate::channel::{Channel, local, local_date};
use crate::config::{EngineConfig, Levers};
use crate::consent::{ConsentAnswer, ConsentView, Purpose};
use crate::explain::{Policy, Reason, ReasonCode, RiskLevelSource};
use crate::features::FeatureSpace;
use crate::ledger::{ContactLedger, ResponseKind, stable_hash};

/// Trained-model propensities (e.g. a champion propensity model's batch scores). When it
/// answers, its score is used instead of the adaptive model's.
pub trait PropensitySource: Send + Sync {
    /// A short name shown in explanations.
    fn name(&self) -> &str;
    /// Probability (0–1) that the customer accepts the offer on the channel, if scored.
    fn propensity(&self, customer_id: &str, offer: &Offer, channel: Channel) -> Option<f64>;
}

/// What the caller knows about the moment of the decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionContext {
    /// The event that triggered the decision, e.g. `salary_credited`.
    pub trigger: Option<String>,
    /// Free context (page, device, …): predictors of the adaptive models.
    pub attributes: BTreeMap<String, String>,
    /// Products the customer holds now (fresher than the profile index).
    pub held_products: Vec<String>,
    /// A questionnaire result newer than the profile, C1–C5.
    #[serde(deserialize_with = "de_opt_customer_risk")]
    pub risk_level: Option<CustomerRiskLevel>,
    /// Template values the caller supplies already masked: `name_masked`, `branch_name`.
    pub personalisation: BTreeMap<String, String>,
}

fn de_opt_customer_risk<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<CustomerRiskLevel>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `POST /v1/decisions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRequest {
    pub customer_id: String,
    pub channel: Channel,
    #[serde(default)]
    pub context: DecisionContext,
    /// Decision time (UTC); defaults to now.
    #[serde(default = "now")]
    pub now: DateTime<Utc>,
    /// How many offers to return (default from the engine config, at most 10).
    #[serde(default)]
    pub max_offers: Option<usize>,
    /// Explain only: reserve no contact and remember nothing (the console explorer).
    #[serde(default)]
    pub simulate: bool,
    /// The caller's idempotency key; a retry with the same id reserves nothing twice.
    #[serde(default)]
    pub decision_id: Option<String>,
}

impl DecisionRequest {
    pub fn new(customer_id: &str, channel: Channel, now: DateTime<Utc>) -> Self {
        DecisionRequest {
            customer_id: customer_id.to_string(),
            channel,
            context: DecisionContext::default(),
            now,
            max_offers: None,
            simulate: false,
            decision_id: None,
        }
    }
}

/// Where a propensity came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum PropensityOrigin {
    /// A trained model's score.
    Model { name: String },
    /// The adaptive model: `propensity` is a Thompson sample from its posterior.
    Adaptive {
        posterior_mean: f64,
        /// Responses the model has learned from.
        evidence: u64,
    },
}

/// The business-lever part of the priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeverFactors {
    pub offer_strategic_weight: f64,
    pub product_weight: f64,
    pub pinned_campaign: Option<String>,
    pub pinned_campaign_weight: f64,
    /// The product of the above.
    pub total: f64,
}

/// priority = propensity × context weight × value × levers, with every factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    pub propensity: f64,
    pub propensity_origin: PropensityOrigin,
    pub context_weight: f64,
    /// The context rules that matched.
    pub context_rules: Vec<String>,
    /// Net value if accepted, 元: value − cost per contact, at least 0.
    pub value_yuan: f64,
    pub levers: LeverFactors,
    pub priority: f64,
}

/// How a returned offer was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Highest priority.
    Arbitration,
    /// The customer is in the random control group: a random offer that passed every
    /// policy, so the engine's lift over random can be measured.
    RandomControl,
}

/// A treatment filled in for the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub title_zh: Option<String>,
    pub title_en: Option<String>,
    pub text_zh: String,
    pub text_en: String,
}

/// An offer returned to the channel. Its contact is already reserved (unless simulated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChosenOffer {
    pub rank: usize,
    pub offer_id: String,
    pub offer_version: u32,
    pub product_id: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    pub risk_level: ProductRiskLevel,
    pub selection: Selection,
    pub factors: Factors,
    pub message: Message,
}

/// What happened to one offer of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CandidateOutcome {
    Chosen {
        rank: usize,
    },
    /// Removed by a policy (or not returned after arbitration), with the reason.
    Removed {
        reason: Reason,
    },
}

/// One offer's trace through the policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub offer_id: String,
    pub offer_version: u32,
    #[serde(flatten)]
    pub outcome: CandidateOutcome,
    /// Present when the offer reached arbitration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<Factors>,
}

/// What the engine knew about the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// In the audience index (otherwise only rule-free offers can be eligible).
    pub indexed: bool,
    pub risk_level: CustomerRiskLevel,
    pub risk_level_source: RiskLevelSource,
    pub control_group: bool,
}

/// `POST /v1/decisions` answer: the ranked offers and the full explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub customer_id: String,
    pub channel: Channel,
    pub decided_at: DateTime<Utc>,
    /// Local (Asia/Shanghai) time of the decision, as quiet hours read it.
    pub local_time: String,
    pub simulated: bool,
    pub customer: CustomerFacts,
    pub offers: Vec<ChosenOffer>,
    /// Every offer of the catalogue, in catalogue order, with what happened to it.
    pub candidates: Vec<Candidate>,
    /// Offers removed per policy.
    pub removed_by_policy: BTreeMap<Policy, usize>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "decision {} for {} on {} at {} (Beijing {}){}{}",
            self.decision_id,
            self.customer_id,
            self.channel,
            self.decided_at.format("%Y-%m-%d %H:%M:%SZ"),
            self.local_time,
            if self.customer.control_group {
                " [control group]"
            } else {
                ""
            },
            if self.simulated { " [simulated]" } else { "" }
        )?;
        writeln!(
            f,
            "customer risk level {:?} ({:?}){}",
            self.customer.risk_level,
            self.customer.risk_level_source,
            if self.customer.indexed {
                ""
            } else {
                ", not in the profile index"
            }
        )?;
        if self.offers.is_empty() {
            writeln!(f, "no offer")?;
        }
        for o in &self.offers {
            let x = &o.factors;
            writeln!(
                f,
                "#{} {} v{} {} ({:?}): priority {:.4} = propensity {:.4} × context {:.2} × value ¥{:.2} × levers {:.2}",
                o.rank,
                o.offer_id,
                o.offer_version,
                o.name_zh,
                o.risk_level,
                x.priority,
                x.propensity,
                x.context_weight,
                x.value_yuan,
                x.levers.total
            )?;
            writeln!(f, "   {}", o.message.text_zh)?;
        }
        for c in &self.candidates {
            if let CandidateOutcome::Removed { reason } = &c.outcome {
                writeln!(
                    f,
                    "  - {} removed by {:?}: {}",
                    c.offer_id, reason.policy, reason.text_en
                )?;
            }
        }
        Ok(())
    }
}

/// `POST /v1/responses` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub decision_id: Option<String>,
    pub customer_id: String,
    pub offer_id: String,
    pub channel: Channel,
    pub kind: ResponseKind,
    #[serde(default = "now")]
    pub ts: DateTime<Utc>,
}

/// What recording a response did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOutcome {
    /// The adaptive model learned from it (accept/reject, first time for this decision).
    pub learned: bool,
    /// `decision`: with the features the decision used; `profile`: the decision was no
    /// longer remembered, so with the customer's current profile and no context.
    pub features_from: Option<String>,
    /// Responses the (offer, channel) model has learned from.
    pub model_evidence: u64,
}

/// Why the engine could not be built or a response recorded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("offer '{offer}', field 'eligibility': {message}")]
    Eligibility { offer: String, message: String },
    #[error("engine configuration: {0}")]
    Config(String),
    #[error("offer '{0}' is not in the catalogue the engine decides on")]
    UnknownOffer(String),
}

struct CompiledOffer {
    offer: Offer,
    /// `None`: no eligibility rule (everyone).
    eligible: Option<RoaringBitmap>,
    /// Active holders of the product in the index.
    holders: Option<RoaringBitmap>,
    models: [Arc<RwLock<AdaptiveModel>>; 6],
}

struct Snapshot {
    offers: Vec<CompiledOffer>,
    offer_pos: HashMap<String, usize>,
    customers: HashMap<Box<str>, u32>,
    /// Per dense id: 0 unknown, 1–5 for C1–C5.
    risk_levels: Vec<u8>,
    features: FeatureSpace,
    report: BindReport,
}

/// What binding the catalogue to an index found (for logs and the console).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BindReport {
    pub offers: usize,
    pub customers: usize,
    /// Eligible customers per offer id.
    pub eligible: BTreeMap<String, u64>,
    /// Customers with a known C1–C5 level.
    pub with_risk_level: usize,
    pub predictors: Vec<String>,
    pub skipped_predictors: Vec<String>,
    pub features: usize,
}

struct PendingDecision {
    customer_id: String,
    channel: Channel,
    features: Vec<u32>,
    offers: Vec<String>,
    learned: Vec<String>,
}

const PENDING_SHARDS: usize = 16;

/// One shard: pending decisions by id, and their ids oldest first (for eviction).
type PendingShard = (HashMap<String, PendingDecision>, VecDeque<String>);

struct Pending {
    shards: Vec<Mutex<PendingShard>>,
    per_shard: usize,
}

impl Pending {
    fn new(capacity: usize) -> Self {
        Pending {
            shards: (0..PENDING_SHARDS)
                .map(|_| Mutex::new((HashMap::new(), VecDeque::new())))
                .collect(),
            per_shard: (capacity / PENDING_SHARDS).max(1),
        }
    }
    fn shard(&self, id: &str) -> &Mutex<(HashMap<String, PendingDecision>, VecDeque<String>)> {
        &self.shards[crate::ledger::shard_of(id, PENDING_SHARDS)]
    }
    fn insert(&self, id: String, p: PendingDecision) {
        let mut g = self.shard(&id).lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *g;
        if map.insert(id.clone(), p).is_none() {
            order.push_back(id);
        }
        while order.len() > self.per_shard {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

type ModelKey = (String, Channel);

/// The engine is shared between HTTP handlers and batch jobs.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DecisionEngine>();
};

/// The next-best-action engine. `Send + Sync`: share one behind an `Arc` between the
/// HTTP handlers and batch jobs.
pub struct DecisionEngine {
    config: EngineConfig,
    levers: RwLock<Arc<Levers>>,
    snapshot: RwLock<Arc<Snapshot>>,
    catalog: RwLock<Arc<Catalog>>,
    models: Mutex<HashMap<ModelKey, Arc<RwLock<AdaptiveModel>>>>,
    consents: Arc<dyn ConsentView>,
    propensity: Option<Arc<dyn PropensitySource>>,
    ledger: Arc<ContactLedger>,
    pending: Pending,
    counter: AtomicU64,
}

impl fmt::Debug for DecisionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionEngine")
            .field("report", &self.bind_report())
            .finish_non_exhaustive()
    }
}

fn risk_from_code(c: u8) -> Option<CustomerRiskLevel> {
    match c {
        1 => Some(CustomerRiskLevel::C1),
        2 => Some(CustomerRiskLevel::C2),
        3 => Some(CustomerRiskLevel::C3),
        4 => Some(CustomerRiskLevel::C4),
        5 => Some(CustomerRiskLevel::C5),
        _ => None,
    }
}

impl DecisionEngine {
    /// Builds an engine over `catalog`, binding eligibility rules, holdings, risk levels
    /// and predictors to `index` (the customers' profiles). Without an index, customers
    /// are unknown: only offers without an eligibility rule can be eligible and every
    /// customer is treated as C1 unless the request carries a questionnaire level.
    pub fn new(
        catalog: Catalog,
        index: Option<&AudienceIndex>,
        config: EngineConfig,
        consents: Arc<dyn ConsentView>,
        ledger: Arc<ContactLedger>,
        propensity: Option<Arc<dyn PropensitySource>>,
    ) -> Result<Self, EngineError> {
        config.validate().map_err(EngineError::Config)?;
        let engine = DecisionEngine {
            levers: RwLock::new(Arc::new(config.levers.clone())),
            pending: Pending::new(config.pending_decisions),
            snapshot: RwLock::new(Arc::new(Snapshot {
                offers: Vec::new(),
                offer_pos: HashMap::new(),
                customers: HashMap::new(),
                risk_levels: Vec::new(),
                features: FeatureSpace::default(),
                report: BindReport::default(),
            })),
            catalog: RwLock::new(Arc::new(Catalog::new())),
            models: Mutex::new(HashMap::new()),
            config,
            consents,
            propensity,
            ledger,
            counter: AtomicU64::new(0),
        };
        engine.rebind(catalog, index)?;
        Ok(engine)
    }

    /// Replaces the catalogue and/or the index (after a tag rebuild). Adaptive models are
    /// kept per (offer id, channel) when the feature layout is unchanged, so edits to an
    /// offer's copy do not throw away what was learned.
    pub fn rebind(
        &self,
        catalog: Catalog,
        index: Option<&AudienceIndex>,
    ) -> Result<BindReport, EngineError> {
        let (features, skipped) = FeatureSpace::build(index, &self.config.predictors);
        let mut report = BindReport {
            customers: index.map_or(0, |ix| ix.customers() as usize),
            predictors: features.predictors().to_vec(),
            skipped_predictors: skipped,
            features: features.len(),
            ..Default::default()
        };
        let mut customers = HashMap::new();
        let mut risk_levels = Vec::new();
        if let Some(ix) = index {
            customers.reserve(ix.customers() as usize);
            for i in 0..ix.customers() {
                if let Some(id) = ix.customer_id(i) {
                    customers.insert(Box::<str>::from(id), i);
                }
            }
            risk_levels = vec![0u8; ix.customers() as usize];
            // Later tags in the list only fill customers the earlier ones left unknown.
            for tag in self.config.risk_level_tags.iter().rev() {
                for (lvl, code) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
                    if let Ok(m) = ix.members(&format!("{tag} = \"{code}\"")) {
                        for c in m.iter() {
                            risk_levels[c as usize] = lvl as u8 + 1;
                        }
                    }
                }
            }
            report.with_risk_level = risk_levels.iter().filter(|&&x| x > 0).count();
        }
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        let layout_changed = models.values().next().is_some_and(|m| {
            m.read()
                .map(|m| m.mean.len() != features.len())
                .unwrap_or(true)
        });
        if layout_changed {
            models.clear();
        }
        let mut offers = Vec::new();
        let mut offer_pos = HashMap::new();
        for offer in catalog.current() {
            let eligible = if offer.eligibility.trim().is_empty() {
                None
            } else {
                match index {
                    Some(ix) => Some(ix.members(&offer.eligibility).map_err(|e| {
                        EngineError::Eligibility {
                            offer: offer.id.clone(),
                            message: e.to_string(),
                        }
                    })?),
                    None => Some(RoaringBitmap::new()),
                }
            };
            if let Some(e) = &eligible {
                report.eligible.insert(offer.id.clone(), e.len());
            }
            let holders = index.and_then(|ix| {
                if ix.product_ids().iter().any(|p| p == &offer.product_id) {
                    ix.members(&format!("holds product \"{}\"", offer.product_id))
                        .ok()
                } else {
                    None
                }
            });
            let mut model = |c: Channel| {
                models
                    .entry((offer.id.clone(), c))
                    .or_insert_with(|| {
                        Arc::new(RwLock::new(AdaptiveModel::new(
                            features.len(),
                            features.typical_active(),
                            &self.config.adaptive,
                        )))
                    })
                    .clone()
            };
            let mut ms = Vec::with_capacity(6);
            for c in Channel::ALL {
                ms.push(model(c));
            }
            let offer_models: [Arc<RwLock<AdaptiveModel>>; 6] = match ms.try_into() {
                Ok(a) => a,
                Err(_) => unreachable!("one model per channel, six channels"),
            };
            offer_pos.insert(offer.id.clone(), offers.len());
            offers.push(CompiledOffer {
                offer: offer.clone(),
                eligible,
                holders,
                models: offer_models,
            });
        }
        drop(models);
        report.offers = offers.len();
        let snap = Snapshot {
            offers,
            offer_pos,
            customers,
            risk_levels,
            features,
            report: report.clone(),
        };
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(report)
    }

    pub fn bind_report(&self) -> BindReport {
        self.snap().report.clone()
    }
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
    pub fn ledger(&self) -> &Arc<ContactLedger> {
        &self.ledger
    }
    /// The catalogue the engine decides on.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn levers(&self) -> Levers {
        (**self.levers.read().unwrap_or_else(|e| e.into_inner())).clone()
    }
    /// Edits the business levers; takes effect for the next decision.
    pub fn set_levers(&self, levers: Levers) -> Result<(), EngineError> {
        levers.validate().map_err(EngineError::Config)?;
        *self.levers.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(levers);
        Ok(())
    }

    fn snap(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a customer is in the random control group (deterministic in the id).
    pub fn in_control_group(&self, customer_id: &str) -> bool {
        let h = stable_hash(customer_id, self.config.control_salt);
        (h as f64 / u64::MAX as f64) < self.config.control_share
    }

    /// Decides: applies the engagement policies in order, arbitrates, reserves contacts
    /// for the returned offers and explains what happened to every offer.
    pub fn decide(&self, req: &DecisionRequest) -> Decision {
        let snap = self.snap();
        let levers = self
            .levers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let cfg = &self.config;
        let channel = req.channel;
        let now = req.now;
        let seq = self.counter.fetch_add(1, Ordering::Relaxed);
        let decision_id = req.decision_id.clone().unwrap_or_else(|| {
            format!(
                "D{:016x}{:06x}",
                stable_hash(&req.customer_id, cfg.seed ^ now.timestamp_millis() as u64),
                seq & 0xff_ffff
            )
        });
        let mut rng = Pcg64Mcg::seed_from_u64(stable_hash(&decision_id, cfg.seed));
        let dense = snap.customers.get(req.customer_id.as_str()).copied();

        // Suitability level: questionnaire in the request, else profile tag, else C1.
        let (risk_level, risk_source) = match req.context.risk_level {
            Some(l) => (l, RiskLevelSource::Questionnaire),
            None => match dense
                .and_then(|d| snap.risk_levels.get(d as usize))
                .and_then(|&c| risk_from_code(c))
            {
                Some(l) => (l, RiskLevelSource::ProfileTag),
                None => (CustomerRiskLevel::C1, RiskLevelSource::DefaultC1),
            },
        };
        let control = self.in_control_group(&req.customer_id);

        // Customer- and channel-level facts, computed once.
        let consent = match self
            .consents
            .check(&req.customer_id, Purpose::Marketing, channel, now)
        {
            ConsentAnswer::Granted => None,
            ConsentAnswer::DoNotContact => Some(ReasonCode::DoNotContact),
            ConsentAnswer::NotGranted { detail } => {
                Some(ReasonCode::NoMarketingConsent { channel, detail })
            }
        };
        let local_now = local(now);
        let local_time = local_now.format("%H:%M").to_string();
        let quiet = cfg
            .quiet_hours
            .get(&channel)
            .filter(|q| q.contains(now))
            .map(|q| ReasonCode::QuietHours {
                channel,
                local_time: local_time.clone(),
                window: q.label(),
            });
        let cap_now = self
            .ledger
            .check(&req.customer_id, channel, now, &cfg.caps)
            .map(|v| cap_reason(&v));
        let mut rejects: HashMap<&str, u32> = HashMap::new();
        let mut accepted: HashMap<&str, i64> = HashMap::new();
        self.ledger.offer_history(
            &req.customer_id,
            now,
            cfg.suppression.window_days,
            cfg.reoffer_after_accept_days,
            |offer, kind, ts| {
                if let Some(&pos) = snap.offer_pos.get(offer) {
                    let id = snap.offers[pos].offer.id.as_str();
                    match kind {
                        ResponseKind::Reject => *rejects.entry(id).or_default() += 1,
                        ResponseKind::Accept => {
                            let e = accepted.entry(id).or_insert(ts);
                            *e = (*e).max(ts);
                        }
                        _ => {}
                    }
                }
            },
        );
        let today = local_date(now);
        let mut features = Vec::with_capacity(24);
        snap.features.active(
            dense,
            req.context.trigger.as_deref(),
            &req.context.attributes,
            &mut features,
        );

        let mut candidates: Vec<Candidate> = Vec::with_capacity(snap.offers.len());
        let mut survivors: Vec<(usize, Factors)> = Vec::new();
        for (i, co) in snap.offers.iter().enumerate() {
            let o = &co.offer;
            let removed = self
                .policies(
                    co,
                    dense,
                    req,
                    today,
                    risk_level,
                    risk_source,
                    &accepted,
                    &rejects,
                    consent.as_ref(),
                    quiet.as_ref(),
                    cap_now.as_ref(),
                )
                .map(|(p, code)| Reason::new(p, code));
            match removed {
                Some(reason) => candidates.push(Candidate {
                    offer_id: o.id.clone(),
                    offer_version: o.version,
                    outcome: CandidateOutcome::Removed { reason },
                    factors: None,
                }),
                None => {
                    let f = self.factors(co, &req.customer_id, req, &levers, &features, &mut rng);
                    candidates.push(Candidate {
                        offer_id: o.id.clone(),
                        offer_version: o.version,
                        outcome: CandidateOutcome::Chosen { rank: 0 },
                        factors: Some(f.clone()),
                    });
                    survivors.push((i, f));
                }
            }
        }

        // Arbitration, or a random order for the control group.
        let selection = if control {
            for k in (1..survivors.len()).rev() {
                let j = rng.random_range(0..=k);
                survivors.swap(k, j);
            }
            Selection::RandomControl
        } else {
            survivors.sort_by(|a, b| {
                b.1.priority
                    .total_cmp(&a.1.priority)
                    .then_with(|| snap.offers[a.0].offer.id.cmp(&snap.offers[b.0].offer.id))
            });
            Selection::Arbitration
        };
        let max_offers = req
            .max_offers
            .unwrap_or(cfg.default_max_offers)
            .clamp(1, 10);
        let mut chosen = Vec::new();
        let mut cap_hit: Option<ReasonCode> = None;
        for (pos, (i, f)) in survivors.into_iter().enumerate() {
            let co = &snap.offers[i];
            let o = &co.offer;
            let verdict = if let Some(code) = &cap_hit {
                Some(Reason::new(Policy::ContactPolicy, code.clone()))
            } else if chosen.len() >= max_offers {
                Some(Reason::new(
                    Policy::Arbitration,
                    ReasonCode::BelowCutoff {
                        rank: pos + 1,
                        max_offers,
                    },
                ))
            } else if req.simulate {
                None
            } else {
                match self.ledger.try_reserve(
                    &req.customer_id,
                    channel,
                    &o.id,
                    &decision_id,
                    now,
                    &cfg.caps,
                ) {
                    Ok(()) => None,
                    Err(v) => {
                        let code = cap_reason(&v);
                        cap_hit = Some(code.clone());
                        Some(Reason::new(Policy::ContactPolicy, code))
                    }
                }
            };
            // Candidates are in catalogue order, so survivor i's entry is candidates[i].
            let cand = &mut candidates[i];
            match verdict {
                Some(reason) => cand.outcome = CandidateOutcome::Removed { reason },
                None => {
                    let rank = chosen.len() + 1;
                    cand.outcome = CandidateOutcome::Chosen { rank };
                    chosen.push(self.chosen(co, rank, selection, f, req));
                }
            }
        }
        let mut removed_by_policy = BTreeMap::new();
        for c in &candidates {
            if let CandidateOutcome::Removed { reason } = &c.outcome {
                *removed_by_policy.entry(reason.policy).or_insert(0) += 1;
            }
        }
        if !req.simulate && !chosen.is_empty() {
            self.pending.insert(
                decision_id.clone(),
                PendingDecision {
                    customer_id: req.customer_id.clone(),
                    channel,
                    features,
                    offers: chosen
                        .iter()
                        .map(|c: &ChosenOffer| c.offer_id.clone())
                        .collect(),
                    learned: Vec::new(),
                },
            );
        }
        Decision {
            decision_id,
            customer_id: req.customer_id.clone(),
            channel,
            decided_at: now,
            local_time: local_now.format("%Y-%m-%d %H:%M").to_string(),
            simulated: req.simulate,
            customer: CustomerFacts {
                indexed: dense.is_some(),
                risk_level,
                risk_level_source: risk_source,
                control_group: control,
            },
            offers: chosen,
            candidates,
            removed_by_policy,
        }
    }

    /// The first policy that removes the offer, in the documented order.
    #[allow(clippy::too_many_arguments)]
    fn policies(
        &self,
        co: &CompiledOffer,
        dense: Option<u32>,
        req: &DecisionRequest,
        today: chrono::NaiveDate,
        risk_level: CustomerRiskLevel,
        risk_source: RiskLevelSource,
        accepted: &HashMap<&str, i64>,
        rejects: &HashMap<&str, u32>,
        consent: Option<&ReasonCode>,
        quiet: Option<&ReasonCode>,
        cap: Option<&ReasonCode>,
    ) -> Option<(Policy, ReasonCode)> {
        let o = &co.offer;
        // 1. Eligibility.
        if let Some(bm) = &co.eligible {
            match dense {
                None => return Some((Policy::Eligibility, ReasonCode::UnknownCustomer)),
                Some(d) if !bm.contains(d) => {
                    return Some((
                        Policy::Eligibility,
                        ReasonCode::NotInAudience {
                            expression: o.eligibility.clone(),
                        },
                    ));
                }
                _ => {}
            }
        }
        // 2. Applicability.
        let ap = Policy::Applicability;
        if o.status != OfferStatus::Active {
            let status = match o.status {
                OfferStatus::Paused => "paused",
                _ => "retired",
            };
            return Some((
                ap,
                ReasonCode::OfferNotActive {
                    status: status.into(),
                },
            ));
        }
        if today < o.valid_from {
            return Some((
                ap,
                ReasonCode::NotYetValid {
                    valid_from: o.valid_from.to_string(),
                },
            ));
        }
        if let Some(to) = o.valid_to
            && today > to
        {
            return Some((
                ap,
                ReasonCode::Expired {
                    valid_to: to.to_string(),
                },
            ));
        }
        if o.treatment(req.channel).is_none() {
            return Some((
                ap,
                ReasonCode::NoTreatment {
                    channel: req.channel,
                },
            ));
        }
        let held_now = req.context.held_products.iter().any(|p| p == &o.product_id);
        let held_index = matches!((&co.holders, dense), (Some(h), Some(d)) if h.contains(d));
        if held_now || held_index {
            return Some((
                ap,
                ReasonCode::AlreadyHeld {
                    product_id: o.product_id.clone(),
                },
            ));
        }
        if let Some(&ts) = accepted.get(o.id.as_str()) {
            return Some((
                ap,
                ReasonCode::AcceptedRecently {
                    accepted_at: DateTime::from_timestamp_millis(ts)
                        .unwrap_or_default()
                        .format("%Y-%m-%d")
                        .to_string(),
                    window_days: self.config.reoffer_after_accept_days.round() as u32,
                },
            ));
        }
        // 3. Suitability.
        if !risk_level.may_hold(o.risk_level) {
            return Some((
                Policy::Suitability,
                ReasonCode::AboveSuitability {
                    customer_level: risk_level,
                    product_level: o.risk_level,
                    source: risk_source,
                },
            ));
        }
        // 4. Consent and do-not-contact.
        if let Some(c) = consent {
            return Some((Policy::Consent, c.clone()));
        }
        // 5. Contact policy: quiet hours, suppression, caps.
        if let Some(q) = quiet {
            return Some((Policy::ContactPolicy, q.clone()));
        }
        let s = &self.config.suppression;
        if s.rejects > 0
            && let Some(&n) = rejects.get(o.id.as_str())
            && n >= s.rejects
        {
            return Some((
                Policy::ContactPolicy,
                ReasonCode::Suppressed {
                    rejects: n,
                    window_days: s.window_days.round() as u32,
                },
            ));
        }
        if let Some(c) = cap {
            return Some((Policy::ContactPolicy, c.clone()));
        }
        None
    }

    fn factors(
        &self,
        co: &CompiledOffer,
        customer_id: &str,
        req: &DecisionRequest,
        levers: &Levers,
        features: &[u32],
        rng: &mut Pcg64Mcg,
    ) -> Factors {
        let o = &co.offer;
        let z: f64 = rng.sample(StandardNormal);
        let scored = self.propensity.as_ref().and_then(|p| {
            p.propensity(customer_id, o, req.channel)
                .filter(|x| x.is_finite())
                .map(|x| (x.clamp(0.0, 1.0), p.name().to_string()))
        });
        let (propensity, origin) = match scored {
            Some((x, name)) => (x, PropensityOrigin::Model { name }),
            None => {
                let m = co.models[req.channel.index()]
                    .read()
                    .unwrap_or_else(|e| e.into_inner());
                let s = m.score(features, self.config.adaptive.beta, z);
                (
                    s.sample,
                    PropensityOrigin::Adaptive {
                        posterior_mean: s.mean,
                        evidence: m.evidence(),
                    },
                )
            }
        };
        let mut context_weight = 1.0;
        let mut context_rules = Vec::new();
        for w in &self.config.context_weights {
            let hit = w
                .trigger
                .as_ref()
                .is_none_or(|t| req.context.trigger.as_deref() == Some(t.as_str()))
                && w.channel.is_none_or(|c| c == req.channel)
                && w.category.as_ref().is_none_or(|c| c == &o.category)
                && w.offer_id.as_ref().is_none_or(|x| x == &o.id);
            if hit {
                context_weight *= w.weight;
                context_rules.push(w.label());
            }
        }
        let value_yuan = ((o.value_fen - o.cost_fen).max(0)) as f64 / 100.0;
        let product_weight = levers
            .product_weights
            .get(&o.product_id)
            .copied()
            .unwrap_or(1.0);
        let pinned_weight = match &o.pinned_campaign {
            Some(c) => levers
                .campaign_weights
                .get(c)
                .copied()
                .unwrap_or(levers.pinned_campaign_weight),
            None => 1.0,
        };
        let lever_total = o.strategic_weight * product_weight * pinned_weight;
        Factors {
            propensity,
            propensity_origin: origin,
            context_weight,
            context_rules,
            value_yuan,
            levers: LeverFactors {
                offer_strategic_weight: o.strategic_weight,
                product_weight,
                pinned_campaign: o.pinned_campaign.clone(),
                pinned_campaign_weight: pinned_weight,
                total: lever_total,
            },
            priority: propensity * context_weight * value_yuan * lever_total,
        }
    }

    fn chosen(
        &self,
        co: &CompiledOffer,
        rank: usize,
        selection: Selection,
        factors: Factors,
        req: &DecisionRequest,
    ) -> ChosenOffer {
        let o = &co.offer;
        let p = &req.context.personalisation;
        let message = match o.treatment(req.channel) {
            Some(t) => Message {
                title_zh: t.title_zh.as_ref().map(|s| render(s, o, Lang::Zh, p)),
                title_en: t.title_en.as_ref().map(|s| render(s, o, Lang::En, p)),
                text_zh: render(&t.template_zh, o, Lang::Zh, p),
                text_en: render(&t.template_en, o, Lang::En, p),
            },
            None => Message {
                title_zh: None,
                title_en: None,
                text_zh: o.name_zh.clone(),
                text_en: o.name_en.clone(),
            },
        };
        ChosenOffer {
            rank,
            offer_id: o.id.clone(),
            offer_version: o.version,
            product_id: o.product_id.clone(),
            name_zh: o.name_zh.clone(),
            name_en: o.name_en.clone(),
            category: o.category.clone(),
            risk_level: o.risk_level,
            selection,
            factors,
            message,
        }
    }

    /// Records a response: contact history (rejects suppress, accepts stop re-offers) and
    /// the adaptive model of (offer, channel). A repeated response for the same decision
    /// and offer teaches the model only once.
    pub fn record_response(&self, r: &Response) -> Result<ResponseOutcome, EngineError> {
        let snap = self.snap();
        let pos = *snap
            .offer_pos
            .get(&r.offer_id)
            .ok_or_else(|| EngineError::UnknownOffer(r.offer_id.clone()))?;
        self.ledger
            .record_response(&r.customer_id, &r.offer_id, r.kind, r.ts);
        let positive = match r.kind {
            ResponseKind::Accept => Some(true),
            ResponseKind::Reject => Some(false),
            ResponseKind::Click if self.config.learn_from_clicks => Some(true),
            _ => None,
        };
        let model = &snap.offers[pos].models[r.channel.index()];
        let Some(positive) = positive else {
            let evidence = model.read().map_or(0, |m| m.evidence());
            return Ok(ResponseOutcome {
                learned: false,
                features_from: None,
                model_evidence: evidence,
            });
        };
        // The features the decision used, if it is still remembered.
        let mut from_decision = None;
        if let Some(id) = &r.decision_id {
            let mut g = self
                .pending
                .shard(id)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(p) = g.0.get_mut(id)
                && p.customer_id == r.customer_id
                && p.channel == r.channel
                && p.offers.contains(&r.offer_id)
            {
                if p.learned.contains(&r.offer_id) {
                    let evidence = model.read().map_or(0, |m| m.evidence());
                    return Ok(ResponseOutcome {
                        learned: false,
                        features_from: Some("decision".into()),
                        model_evidence: evidence,
                    });
                }
                p.learned.push(r.offer_id.clone());
                from_decision = Some(p.features.clone());
            }
        }
        let (features, from) = match from_decision {
            Some(f) => (f, "decision"),
            None => {
                let mut f = Vec::new();
                let dense = snap.customers.get(r.customer_id.as_str()).copied();
                snap.features.active(dense, None, &BTreeMap::new(), &mut f);
                (f, "profile")
            }
        };
        let mut m = model.write().unwrap_or_else(|e| e.into_inner());
        m.update(&features, positive, &self.config.adaptive);
        Ok(ResponseOutcome {
            learned: true,
            features_from: Some(from.into()),
            model_evidence: m.evidence(),
        })
    }

    /// Gives back the contacts a decision reserved (delivery failed or was cancelled).
    pub fn release(&self, customer_id: &str, decision_id: &str) -> usize {
        self.ledger.release(customer_id, decision_id)
    }

    /// A summary of every adaptive model, for the console's model report.
    pub fn model_report(&self) -> Vec<ModelSummary> {
        let snap = self.snap();
        let mut out = Vec::new();
        for co in &snap.offers {
            for c in Channel::ALL {
                if co.offer.treatment(c).is_none() {
                    continue;
                }
                let m = co.models[c.index()]
                    .read()
                    .unwrap_or_else(|e| e.into_inner());
                let mut top: Vec<(f64, u32)> = m
                    .mean
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(i, _)| m.var[*i] < 0.999 * m.var.first().copied().unwrap_or(1.0))
                    .map(|(i, &w)| (w, i as u32))
                    .collect();
                top.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
                out.push(ModelSummary {
                    offer_id: co.offer.id.clone(),
                    channel: c,
                    positives: m.stats.positives,
                    negatives: m.stats.negatives,
                    base_propensity: m.score(&[0], self.config.adaptive.beta, 0.0).mean,
                    top_features: top
                        .into_iter()
                        .take(5)
                        .map(|(w, i)| (snap.features.name(i), w))
                        .collect(),
                });
            }
        }
        out
    }
}

/// One adaptive model, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub offer_id: String,
    pub channel: Channel,
    pub positives: u64,
    pub negatives: u64,
    /// Propensity from the bias alone.
    pub base_propensity: f64,
    /// Learned features with the largest weights (probit scale).
    pub top_features: Vec<(String, f64)>,
}

fn cap_reason(v: &crate::ledger::CapViolation) -> ReasonCode {
    ReasonCode::CapReached {
        channel: v.cap.channel,
        max: v.cap.max,
        window_days: v.cap.window_days,
        used: v.used,
    }
}
