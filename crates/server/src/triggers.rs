//! Triggered campaigns: declarative event rules that fire a decision and a delivery within
//! a second of the event.
//!
//! A [`TriggerRule`] names an event kind (salary credited, large deposit, card dormant for N
//! days, time deposit maturing in N days, entering a saved audience) and a channel. The
//! worker listens to the event log's accepted records and audience changes
//! ([`zhiying_events::EventStore::subscribe_records`] / `subscribe`); the time-based kinds
//! come from a periodic sweep over the `accounts` and `transactions` facts. For every match
//! it asks the decision engine for the best offer on the rule's channel — so eligibility,
//! suitability, consent and do-not-contact, caps and quiet hours all apply and are
//! explained — and enqueues the message in the delivery outbox. The idempotency key
//! `trg:<rule>:<customer>:<event>` is the outbox key, the decision id and the firing id, so
//! the same event never sends twice, even across restarts. Every firing is recorded
//! (rule, customer, event, outcome, the policy that removed the offers when none was sent,
//! outbox id, latency) in the store's `trigger_firings`.
//!
//! Rules live in the store (`trigger_rules`), editable over `PUT /v1/triggers/rules/{id}`.
//! On start, `DATA_DIR/triggers.toml` (if present) is loaded into the store; otherwise the
//! built-in rules are seeded once. See `docs/triggers.md`.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};
use zhiying_decision::{CandidateOutcome, Channel, Decision, DecisionRequest};
use zhiying_delivery::{Enqueued, Message, Outbox};
use zhiying_events::{AudienceChange, Change, Record};
use zhiying_store::{FiringOutcome, StoreError, TriggerFiring, TriggerRuleRecord};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use zhiying_core::access::Permission;

/// Credits at or above this are a large deposit unless the rule says otherwise: 50,000 元.
pub const DEFAULT_LARGE_DEPOSIT_FEN: i64 = 5_000_000;

/// The built-in rules, seeded into the store on the first start (without `triggers.toml`).
pub const DEFAULT_RULES_TOML: &str = r#"
[[rule]]
id = "salary-credited"
name_zh = "工资到账"
name_en = "Salary credited"
channel = "app_push"
when = { kind = "salary_credited" }

[[rule]]
id = "large-deposit"
name_zh = "大额入账"
name_en = "Large deposit"
channel = "app_push"
when = { kind = "large_deposit", min_amount_fen = 5000000 }

[[rule]]
id = "card-dormant-60d"
name_zh = "信用卡沉睡60天"
name_en = "Card dormant 60 days"
channel = "sms"
when = { kind = "card_dormant", days = 60 }

[[rule]]
id = "deposit-maturing-7d"
name_zh = "定期存款7天后到期"
name_en = "Time deposit maturing in 7 days"
channel = "sms"
when = { kind = "time_deposit_maturing", days = 7 }
"#;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/triggers/rules", Permission::CampaignRead, list_rules)
        .put(
            "/v1/triggers/rules/{id}",
            Permission::CampaignWrite,
            put_rule,
        )
        .delete(
            "/v1/triggers/rules/{id}",
            Permission::CampaignWrite,
            delete_rule,
        )
        .get(
            "/v1/triggers/firings",
            Permission::CampaignRead,
            list_firings,
        )
}

fn default_large() -> i64 {
    DEFAULT_LARGE_DEPOSIT_FEN
}
fn sixty() -> u32 {
    60
}
fn seven() -> u32 {
    7
}
fn yes() -> bool {
    true
}

/// What fires a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum When {
    /// A salary credit transaction, or a `salary_credited` event.
    SalaryCredited,
    /// A credit of at least `min_amount_fen` 分, or a `large_deposit` event.
    LargeDeposit {
        #[serde(default = "default_large")]
        min_amount_fen: i64,
    },
    /// A credit card without transactions for `days` days (sweep over the facts), or a
    /// `card_dormant` event.
    CardDormant {
        #[serde(default = "sixty")]
        days: u32,
    },
    /// An active time deposit whose maturity date is `days` days ahead (sweep).
    TimeDepositMaturing {
        #[serde(default = "seven")]
        days: u32,
    },
    /// The customer entered a saved audience (a live audience change).
    AudienceEntered { audience_id: String },
}

impl When {
    /// The decision context's `trigger`, which the engine's context weights key on.
    pub fn trigger(&self) -> &'static str {
        match self {
            When::SalaryCredited => "salary_credited",
            When::LargeDeposit { .. } => "large_deposit",
            When::CardDormant { .. } => "card_dormant",
            When::TimeDepositMaturing { .. } => "maturing_time_deposit",
            When::AudienceEntered { .. } => "audience_entered",
        }
    }
}

/// A trigger rule: when `when` happens for a customer, decide on `channel` and deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRule {
    /// Set from the URL or the store; 1–48 characters of letters, digits, `-` and `_`.
    #[serde(default)]
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub channel: Channel,
    pub when: When,
}

impl TriggerRule {
    /// Checks the rule, naming the field and the fix.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 48
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!(
                "id '{}' must be 1-48 ASCII letters, digits, '-' or '_'",
                self.id
            ));
        }
        if self.name_zh.trim().is_empty() || self.name_en.trim().is_empty() {
            return Err("name_zh and name_en must not be empty".into());
        }
        match &self.when {
            When::LargeDeposit { min_amount_fen } if *min_amount_fen <= 0 => Err(format!(
                "when.min_amount_fen is {min_amount_fen}; use a positive amount in 分 (5000000 = 50,000 元)"
            )),
            When::CardDormant { days } | When::TimeDepositMaturing { days }
                if *days == 0 || *days > 3650 =>
            {
                Err(format!("when.days is {days}; use 1 to 3650 days"))
            }
            When::AudienceEntered { audience_id } if audience_id.trim().is_empty() => {
                Err("when.audience_id must name a saved audience".into())
            }
            _ => Ok(()),
        }
    }

    fn from_record(r: &TriggerRuleRecord) -> Result<TriggerRule, String> {
        let mut rule: TriggerRule = serde_json::from_value(r.body.clone())
            .map_err(|e| format!("stored trigger rule '{}' is not valid: {e}", r.rule_id))?;
        rule.id = r.rule_id.clone();
        rule.enabled = r.enabled;
        Ok(rule)
    }
}

#[derive(Deserialize)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<TriggerRule>,
}

/// Parses a `triggers.toml` (`[[rule]]` tables), validating every rule.
pub fn parse_rules_toml(text: &str) -> Result<Vec<TriggerRule>, String> {
    let file: RuleFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    for r in &file.rule {
        r.validate()?;
        if !seen.insert(r.id.clone()) {
            return Err(format!("rule id '{}' appears twice", r.id));
        }
    }
    Ok(file.rule)
}

/// How the trigger worker runs.
#[derive(Debug, Clone)]
pub struct TriggerConfig {
    /// Sweep for the time-based rules (dormant cards, maturing deposits) this often; `None`
    /// never sweeps.
    pub sweep_every: Option<Duration>,
    /// Load `DATA_DIR/triggers.toml`, or seed the built-in rules once, at start.
    pub seed_rules: bool,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            sweep_every: Some(Duration::from_secs(3600)),
            seed_rules: true,
        }
    }
}

/// One thing that may fire rules, with when it reached the trigger worker.
pub(crate) struct Arrival {
    input: Input,
    at: Instant,
}

enum Input {
    Record(Arc<Record>),
    Audience(AudienceChange),
    Swept(Hit),
}

/// A time-based match found by the sweep.
struct Hit {
    rule_id: String,
    customer_id: String,
    event_ref: String,
    detail: serde_json::Value,
}

/// Counters and recent latencies since start, for the delivery monitor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TriggerStats {
    pub fired: u64,
    pub enqueued: u64,
    pub no_offer: u64,
    pub errors: u64,
    /// Events the worker missed because it fell too far behind the event log.
    pub lagged: u64,
    pub sweeps: u64,
    pub last_sweep_hits: u64,
    /// Event → outbox latency over the last firings (at most 10,000), milliseconds.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub latency_samples: usize,
}

#[derive(Default)]
struct StatsInner {
    stats: TriggerStats,
    latencies_us: VecDeque<i64>,
}

const LATENCY_WINDOW: usize = 10_000;

/// The running trigger machinery shared through [`AppState`].
pub struct TriggerService {
    outbox: Outbox,
    config: TriggerConfig,
    /// The enabled rules, reloaded from the store after every edit.
    rules: RwLock<Arc<Vec<TriggerRule>>>,
    inputs: mpsc::Sender<Arrival>,
    stats: Mutex<StatsInner>,
}

/// The receiving end of the worker's queue, handed to [`spawn`].
pub struct TriggerInbox(mpsc::Receiver<Arrival>);

impl TriggerService {
    pub fn new(outbox: Outbox, config: TriggerConfig) -> (Arc<TriggerService>, TriggerInbox) {
        let (tx, rx) = mpsc::channel(65_536);
        (
            Arc::new(TriggerService {
                outbox,
                config,
                rules: RwLock::new(Arc::new(Vec::new())),
                inputs: tx,
                stats: Mutex::new(StatsInner::default()),
            }),
            TriggerInbox(rx),
        )
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn enabled_rules(&self) -> Arc<Vec<TriggerRule>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the rules from the store (after an edit).
    pub(crate) async fn reload(&self, store: &dyn zhiying_store::OperationalStore) {
        match store.trigger_rules().await {
            Ok(records) => {
                let mut rules = Vec::new();
                for r in &records {
                    match TriggerRule::from_record(r) {
                        Ok(rule) if rule.enabled => rules.push(rule),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("{e}; the rule is skipped"),
                    }
                }
                *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
            }
            Err(e) => {
                tracing::error!(error = %e, "reading trigger rules; keeping the previous set")
            }
        }
    }

    pub fn stats(&self) -> TriggerStats {
        let g = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = g.stats.clone();
        let mut l: Vec<i64> = g.latencies_us.iter().copied().collect();
        l.sort_unstable();
        s.latency_samples = l.len();
        if !l.is_empty() {
            let q = |p: f64| {
                let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
                l[i] as f64 / 1000.0
            };
            s.latency_p50_ms = Some(q(0.50));
            s.latency_p99_ms = Some(q(0.99));
            s.latency_max_ms = l.last().map(|v| *v as f64 / 1000.0);
        }
        s
    }

    fn observe(&self, firings: &[TriggerFiring]) {
        let mut g = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        for f in firings {
            g.stats.fired += 1;
            match f.outcome {
                FiringOutcome::Enqueued => {
                    g.stats.enqueued += 1;
                    if g.latencies_us.len() == LATENCY_WINDOW {
                        g.latencies_us.pop_front();
                    }
                    g.latencies_us.push_back(f.latency_us);
                }
                FiringOutcome::NoOffer => g.stats.no_offer += 1,
                FiringOutcome::Error => g.stats.errors += 1,
            }
        }
    }

    fn count(&self, f: impl FnOnce(&mut TriggerStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()).stats)
    }
}

/// The trigger tasks; [`TriggerRuntime::shutdown`] stops them after the queued work is done.
pub struct TriggerRuntime {
    listeners: Vec<tokio::task::JoinHandle<()>>,
    worker: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl TriggerRuntime {
    pub async fn shutdown(self) {
        for l in &self.listeners {
            l.abort();
        }
        let _ = self.stop.send(true);
        if let Err(e) = self.worker.await {
            tracing::error!("trigger worker failed: {e}");
        }
    }
}

/// Loads or seeds the rules, subscribes to the event log and starts the worker and the sweep.
/// `state` must carry the service ([`AppState::with_triggers`]).
pub async fn spawn(state: AppState, inbox: TriggerInbox) -> TriggerRuntime {
    let Some(svc) = state.triggers.clone() else {
        tracing::error!("trigger worker started without a trigger service; nothing will fire");
        let (stop, _) = watch::channel(false);
        return TriggerRuntime {
            listeners: Vec::new(),
            worker: tokio::spawn(async {}),
            stop,
        };
    };
    if svc.config.seed_rules {
        seed_rules(&state).await;
    }
    svc.reload(state.store.as_ref()).await;
    let mut listeners = Vec::new();
    if let Some(events) = &state.events {
        let mut records = events.subscribe_records();
        let svc2 = svc.clone();
        listeners.push(tokio::spawn(async move {
            loop {
                match records.recv().await {
                    Ok(r) => {
                        let a = Arrival {
                            input: Input::Record(r),
                            at: Instant::now(),
                        };
                        if svc2.inputs.send(a).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "trigger worker fell behind the event log");
                        svc2.count(|s| s.lagged += n);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }));
        let mut changes = events.subscribe();
        let svc2 = svc.clone();
        listeners.push(tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(c) if c.change == Change::Entered => {
                        let a = Arrival {
                            input: Input::Audience(c),
                            at: Instant::now(),
                        };
                        if svc2.inputs.send(a).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        svc2.count(|s| s.lagged += n);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }));
    } else {
        tracing::warn!("no event log: only the time-based trigger rules can fire");
    }
    if let Some(every) = svc.config.sweep_every {
        let state2 = state.clone();
        listeners.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                sweep(&state2).await;
            }
        }));
    }
    let (stop, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(run_worker(state, inbox.0, stop_rx));
    TriggerRuntime {
        listeners,
        worker,
        stop,
    }
}

/// `DATA_DIR/triggers.toml` wins when present (loaded on every start); otherwise the
/// built-in rules are written once, remembered by the setting `triggers.seeded`.
async fn seed_rules(state: &AppState) {
    let path = state.data_dir.root().join("triggers.toml");
    let (rules, actor) = match std::fs::read_to_string(&path) {
        Ok(text) => match parse_rules_toml(&text) {
            Ok(r) => (r, "file:triggers.toml"),
            Err(e) => {
                tracing::error!(file = %path.display(), "trigger rules not loaded: {e}");
                return;
            }
        },
        Err(_) => {
            match state.store.get_setting("triggers.seeded").await {
                Ok(Some(_)) => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read triggers.seeded; not seeding");
                    return;
                }
            }
            match parse_rules_toml(DEFAULT_RULES_TOML) {
                Ok(r) => (r, "system"),
                Err(e) => {
                    tracing::error!("built-in trigger rules are invalid: {e}");
                    return;
                }
            }
        }
    };
    for r in &rules {
        let body = match serde_json::to_value(r) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("trigger rule {}: {e}", r.id);
                continue;
            }
        };
        if let Err(e) = state
            .store
            .put_trigger_rule(&r.id, None, &body, r.enabled, actor)
            .await
        {
            tracing::error!(rule = %r.id, error = %e, "saving a trigger rule");
        }
    }
    if actor == "system"
        && let Err(e) = state
            .store
            .put_setting(
                "triggers.seeded",
                &json!({"rules": rules.len(), "at": Utc::now().to_rfc3339()}),
            )
            .await
    {
        tracing::warn!(error = %e, "cannot remember that trigger rules were seeded");
    }
    tracing::info!(rules = rules.len(), source = actor, "trigger rules loaded");
}

async fn run_worker(
    state: AppState,
    mut rx: mpsc::Receiver<Arrival>,
    mut stop: watch::Receiver<bool>,
) {
    // Build the decision engine now, so the first event does not wait for it.
    if let Err(e) = state.decisions.engine(&state).await {
        tracing::warn!(error = %e.message, "decision engine not ready yet; triggers retry on the next event");
    }
    let mut batch = Vec::with_capacity(512);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 512) => {
                if n == 0 {
                    break;
                }
                process(&state, std::mem::take(&mut batch)).await;
            }
            _ = stop.changed() => {
                while let Ok(a) = rx.try_recv() {
                    batch.push(a);
                }
                if !batch.is_empty() {
                    process(&state, std::mem::take(&mut batch)).await;
                }
                break;
            }
        }
    }
}

/// The idempotency key of one rule firing for one customer and event. At most 200
/// characters (the store's id limit): longer keys keep a readable prefix and a hash.
fn firing_key(rule_id: &str, customer_id: &str, event_ref: &str) -> String {
    let key = format!("trg:{rule_id}:{customer_id}:{event_ref}");
    if key.chars().count() <= 200 {
        return key;
    }
    // FNV-1a, 64-bit: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let prefix: String = key.chars().take(150).collect();
    format!("{prefix}~{h:016x}")
}

fn local_day(ts_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_us)
        .map(|t| zhiying_decision::channel::local_date(t).to_string())
        .unwrap_or_default()
}

/// Whether `rule` fires on `input`: the customer, the event reference and what to keep.
fn matches(rule: &TriggerRule, input: &Input) -> Option<(String, String, serde_json::Value)> {
    match input {
        Input::Record(r) => match r.as_ref() {
            Record::Transaction(t) => {
                let credit = t.direction == "credit";
                let hit = match &rule.when {
                    When::SalaryCredited => credit && t.txn_type == "salary",
                    When::LargeDeposit { min_amount_fen } => {
                        credit && t.amount_fen >= *min_amount_fen
                    }
                    _ => false,
                };
                hit.then(|| {
                    (
                        t.customer_id.clone(),
                        format!("txn:{}", t.txn_id),
                        json!({"txn_type": t.txn_type, "amount_fen": t.amount_fen,
                               "direction": t.direction, "ts": t.ts}),
                    )
                })
            }
            Record::Event(e) => {
                let hit = match &rule.when {
                    When::SalaryCredited => e.event_type == "salary_credited",
                    When::LargeDeposit { min_amount_fen } => {
                        e.event_type == "large_deposit"
                            && e.attributes
                                .as_ref()
                                .and_then(|a| a.get("amount_fen"))
                                .and_then(|v| v.as_i64())
                                .is_none_or(|a| a >= *min_amount_fen)
                    }
                    When::CardDormant { .. } => e.event_type == "card_dormant",
                    _ => false,
                };
                hit.then(|| {
                    (
                        e.customer_id.clone(),
                        format!("evt:{}", e.event_id),
                        json!({"event_type": e.event_type, "channel": e.channel, "ts": e.ts}),
                    )
                })
            }
            Record::Audience(_) => None,
        },
        Input::Audience(c) => match &rule.when {
            When::AudienceEntered { audience_id }
                if c.change == Change::Entered && &c.audience_id == audience_id =>
            {
                let cause = c.cause.clone().unwrap_or_else(|| local_day(c.ts));
                Some((
                    c.customer_id.clone(),
                    format!("aud:{audience_id}:{cause}"),
                    json!({"audience_id": audience_id, "cause": c.cause, "ts": c.ts}),
                ))
            }
            _ => None,
        },
        Input::Swept(h) => (h.rule_id == rule.id)
            .then(|| (h.customer_id.clone(), h.event_ref.clone(), h.detail.clone())),
    }
}

fn delivery_channel(c: Channel) -> zhiying_delivery::Channel {
    match c {
        Channel::AppPush => zhiying_delivery::Channel::AppPush,
        Channel::Sms => zhiying_delivery::Channel::Sms,
        Channel::Email => zhiying_delivery::Channel::Email,
        Channel::Wechat => zhiying_delivery::Channel::Wechat,
        Channel::CallCentre => zhiying_delivery::Channel::CallCentre,
        Channel::Branch => zhiying_delivery::Channel::Branch,
    }
}

fn policy_name(p: zhiying_decision::Policy) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{p:?}"))
}

/// Why no offer was chosen: the removal of the offers that got furthest through the
/// policies (eligibility → applicability → suitability → consent → contact policy).
fn blocking_reason(d: &Decision) -> (Option<String>, Option<String>, Option<String>) {
    let last = d
        .candidates
        .iter()
        .filter_map(|c| match &c.outcome {
            CandidateOutcome::Removed { reason } => Some(reason),
            CandidateOutcome::Chosen { .. } => None,
        })
        .max_by_key(|r| r.policy);
    match last {
        Some(r) => (
            Some(policy_name(r.policy)),
            Some(r.text_en.clone()),
            Some(r.text_zh.clone()),
        ),
        None => (
            None,
            Some("the offer catalogue has no offers".into()),
            Some("营销权益目录为空".into()),
        ),
    }
}

struct Pending {
    rule: TriggerRule,
    customer: String,
    event_ref: String,
    detail: serde_json::Value,
    key: String,
    at: Instant,
}

/// Fires every rule matching the batch: one dedupe query, one decision per match, one
/// outbox transaction for all messages, one insert for all firing records.
async fn process(state: &AppState, batch: Vec<Arrival>) {
    let Some(svc) = state.triggers.clone() else {
        return;
    };
    let rules = svc.enabled_rules();
    if rules.is_empty() {
        return;
    }
    let mut seen = HashSet::new();
    let mut todo: Vec<Pending> = Vec::new();
    for a in &batch {
        for rule in rules.iter() {
            if let Some((customer, event_ref, detail)) = matches(rule, &a.input) {
                let key = firing_key(&rule.id, &customer, &event_ref);
                if seen.insert(key.clone()) {
                    todo.push(Pending {
                        rule: rule.clone(),
                        customer,
                        event_ref,
                        detail,
                        key,
                        at: a.at,
                    });
                }
            }
        }
    }
    if todo.is_empty() {
        return;
    }
    let keys: Vec<String> = todo.iter().map(|p| p.key.clone()).collect();
    match state.store.fired_trigger_ids(&keys).await {
        Ok(done) => todo.retain(|p| !done.contains(&p.key)),
        // The outbox key still refuses a second message; decide anyway.
        Err(e) => tracing::warn!(error = %e, "cannot check earlier firings"),
    }
    if todo.is_empty() {
        return;
    }
    let mut firings: Vec<TriggerFiring> = todo
        .iter()
        .map(|p| TriggerFiring {
            firing_id: p.key.clone(),
            rule_id: p.rule.id.clone(),
            customer_id: p.customer.clone(),
            event_ref: p.event_ref.clone(),
            channel: p.rule.channel.as_str().to_string(),
            outcome: FiringOutcome::Error,
            policy: None,
            reason: None,
            decision_id: None,
            offer_id: None,
            outbox_id: None,
            latency_us: 0,
            fired_at: 0,
            detail: json!({"event": p.detail, "trigger": p.rule.when.trigger()}),
        })
        .collect();
    let mut messages: Vec<(usize, Message)> = Vec::new();
    match state.decisions.engine(state).await {
        Err(e) => {
            for f in &mut firings {
                f.reason = Some(format!("decision engine unavailable: {}", e.message));
            }
        }
        Ok(engine) => {
            for (i, p) in todo.iter().enumerate() {
                let mut req = DecisionRequest::new(&p.customer, p.rule.channel, Utc::now());
                req.context.trigger = Some(p.rule.when.trigger().to_string());
                req.decision_id = Some(p.key.clone());
                req.max_offers = Some(1);
                let d = engine.decide(&req);
                state.decisions.log(state, &d).await;
                let f = &mut firings[i];
                f.decision_id = Some(d.decision_id.clone());
                let removed: serde_json::Map<String, serde_json::Value> = d
                    .removed_by_policy
                    .iter()
                    .map(|(p, n)| (policy_name(*p), json!(n)))
                    .collect();
                f.detail["removed_by_policy"] = json!(removed);
                f.detail["control_group"] = json!(d.customer.control_group);
                match d.offers.first() {
                    Some(o) => {
                        f.offer_id = Some(o.offer_id.clone());
                        f.detail["text_zh"] = json!(o.message.text_zh);
                        f.detail["text_en"] = json!(o.message.text_en);
                        let payload = json!({
                            "rule_id": p.rule.id, "trigger": p.rule.when.trigger(),
                            "event": p.event_ref, "decision_id": d.decision_id,
                            "offer_id": o.offer_id, "offer_version": o.offer_version,
                            "product_id": o.product_id, "name_zh": o.name_zh, "name_en": o.name_en,
                            "title_zh": o.message.title_zh, "title_en": o.message.title_en,
                            "text_zh": o.message.text_zh, "text_en": o.message.text_en,
                        });
                        messages.push((
                            i,
                            Message::new(
                                p.key.clone(),
                                delivery_channel(p.rule.channel),
                                p.customer.clone(),
                                payload,
                            ),
                        ));
                    }
                    None => {
                        let (policy, en, zh) = blocking_reason(&d);
                        f.outcome = FiringOutcome::NoOffer;
                        f.policy = policy;
                        f.reason = en;
                        f.detail["reason_zh"] = json!(zh);
                    }
                }
            }
            if !messages.is_empty() {
                match enqueue_all(&svc.outbox, &messages).await {
                    Ok(ids) => {
                        for ((i, _), (enqueued, id)) in messages.iter().zip(ids) {
                            let f = &mut firings[*i];
                            f.outcome = FiringOutcome::Enqueued;
                            f.outbox_id = Some(id);
                            f.detail["outbox"] = json!(match enqueued {
                                Enqueued::New => "new",
                                Enqueued::AlreadyQueued => "already_queued",
                            });
                        }
                        svc.outbox.wake();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, messages = messages.len(), "trigger messages not enqueued");
                        for (i, _) in &messages {
                            let f = &mut firings[*i];
                            f.reason = Some(format!("delivery outbox: {e}"));
                            // Give back the contact the decision reserved against the caps.
                            if let Some(d) = &f.decision_id {
                                engine.release(&f.customer_id, d);
                            }
                        }
                    }
                }
            }
        }
    }
    let fired_at = Utc::now().timestamp_micros();
    for (f, p) in firings.iter_mut().zip(&todo) {
        f.latency_us = i64::try_from(p.at.elapsed().as_micros()).unwrap_or(i64::MAX);
        f.fired_at = fired_at;
    }
    if let Err(e) = state.store.record_trigger_firings(&firings).await {
        tracing::error!(error = %e, firings = firings.len(), "recording trigger firings");
    }
    svc.observe(&firings);
}

async fn enqueue_all(
    outbox: &Outbox,
    messages: &[(usize, Message)],
) -> Result<Vec<(Enqueued, i64)>, zhiying_delivery::OutboxError> {
    let mut tx = outbox.begin().await?;
    let mut out = Vec::with_capacity(messages.len());
    for (_, m) in messages {
        match outbox.enqueue_with_id(&mut tx, m).await {
            Ok(r) => out.push(r),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
    }
    tx.commit()
        .await
        .map_err(|source| zhiying_delivery::OutboxError::Db {
            context: "committing trigger messages",
            source,
        })?;
    Ok(out)
}

/// Runs the time-based rules once: credit cards that went dormant and time deposits about
/// to mature, from the facts. Returns how many matches were queued (each fires once: the
/// key holds the account and the day).
pub async fn sweep(state: &AppState) -> usize {
    let Some(svc) = state.triggers.clone() else {
        return 0;
    };
    let rules = svc.enabled_rules();
    let now = Utc::now();
    let mut hits = Vec::new();
    for rule in rules.iter() {
        let found = match &rule.when {
            When::CardDormant { days } => dormant_cards(state, rule, *days, now).await,
            When::TimeDepositMaturing { days } => maturing_deposits(state, rule, *days, now).await,
            _ => continue,
        };
        match found {
            Ok(h) => hits.extend(h),
            Err(e) => tracing::warn!(rule = %rule.id, "trigger sweep query failed: {e}"),
        }
    }
    let n = hits.len();
    for h in hits {
        let a = Arrival {
            input: Input::Swept(h),
            at: Instant::now(),
        };
        if svc.inputs.send(a).await.is_err() {
            break;
        }
    }
    svc.count(|s| {
        s.sweeps += 1;
        s.last_sweep_hits = n as u64;
    });
    n
}

fn row_str(r: &zhiying_engine::Row, k: &str) -> Option<String> {
    r.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

/// Credit cards whose last transaction is `days` days old (within a two-day window, so a
/// missed sweep is caught up), unless a live transaction of the customer came later.
async fn dormant_cards(
    state: &AppState,
    rule: &TriggerRule,
    days: u32,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Hit>, String> {
    let hi = now.timestamp() - i64::from(days) * 86_400;
    let lo = hi - 2 * 86_400;
    let sql = format!(
        "SELECT a.customer_id AS customer_id, a.account_id AS account_id, \
         CAST(date_part('epoch', MAX(t.ts)) AS BIGINT) AS last_epoch \
         FROM accounts a JOIN transactions t ON t.account_id = a.account_id \
         WHERE a.account_type = 'credit_card' AND a.status <> 'closed' \
         GROUP BY a.customer_id, a.account_id \
         HAVING CAST(date_part('epoch', MAX(t.ts)) AS BIGINT) > {lo} \
            AND CAST(date_part('epoch', MAX(t.ts)) AS BIGINT) <= {hi}"
    );
    let rows = state
        .engine
        .query_json(&sql)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in &rows {
        let (Some(customer), Some(account), Some(last)) = (
            row_str(r, "customer_id"),
            row_str(r, "account_id"),
            r.get("last_epoch").and_then(|v| v.as_i64()),
        ) else {
            continue;
        };
        let last_us = last.saturating_mul(1_000_000);
        let live_later = state
            .events
            .as_ref()
            .and_then(|e| e.profile(&customer))
            .is_some_and(|p| p.last_txn_us > last_us);
        if live_later {
            continue;
        }
        let day = local_day(last_us);
        out.push(Hit {
            rule_id: rule.id.clone(),
            event_ref: format!("card:{account}:{day}"),
            detail: json!({"account_id": account, "last_transaction_day": day, "days": days}),
            customer_id: customer,
        });
    }
    Ok(out)
}

/// Active time deposits maturing `days` days from today (local), within a two-day window.
async fn maturing_deposits(
    state: &AppState,
    rule: &TriggerRule,
    days: u32,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Hit>, String> {
    let today = zhiying_decision::channel::local_date(now);
    let hi = today + chrono::Duration::days(i64::from(days));
    let lo = hi - chrono::Duration::days(2);
    let sql = format!(
        "SELECT customer_id, account_id, CAST(maturity_date AS VARCHAR) AS maturity FROM accounts \
         WHERE account_type = 'time_deposit' AND status = 'active' \
         AND maturity_date > DATE '{lo}' AND maturity_date <= DATE '{hi}'"
    );
    let rows = state
        .engine
        .query_json(&sql)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let customer = row_str(r, "customer_id")?;
            let account = row_str(r, "account_id")?;
            let maturity = row_str(r, "maturity")?;
            Some(Hit {
                rule_id: rule.id.clone(),
                event_ref: format!("td:{account}:{maturity}"),
                detail: json!({"account_id": account, "maturity_date": maturity, "days": days}),
                customer_id: customer,
            })
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// A stored rule with its version, as the API shows it.
#[derive(Debug, Serialize)]
pub struct RuleView {
    #[serde(flatten)]
    pub rule: TriggerRule,
    pub version: u64,
    pub updated_at: i64,
    pub updated_by: String,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { what, key } => ApiError::not_found(
            "trigger_rule_not_found",
            format!("{what} '{key}' does not exist"),
            "GET /v1/triggers/rules lists the rules; create one with expected_version=0 or without expected_version.",
        ),
        e @ StoreError::VersionConflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "version_conflict",
            e.to_string(),
            "GET the rule again, reapply your change and send its current version as expected_version.",
        ),
        StoreError::Invalid { field, reason } => ApiError::bad_request(
            "invalid_trigger_rule",
            format!("invalid {field}: {reason}"),
            "Fix the named field and send the request again.",
        ),
        other => ApiError::internal("the trigger rules", other),
    }
}

pub(crate) async fn rule_views(state: &AppState) -> Result<Vec<RuleView>, ApiError> {
    let records = state.store.trigger_rules().await.map_err(store_error)?;
    Ok(records
        .iter()
        .filter_map(|r| match TriggerRule::from_record(r) {
            Ok(rule) => Some(RuleView {
                rule,
                version: r.version,
                updated_at: r.updated_at,
                updated_by: r.updated_by.clone(),
            }),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        })
        .collect())
}

/// Every trigger rule, enabled or not.
#[utoipa::path(get, path = "/v1/triggers/rules", tag = "triggers",
    responses((status = 200, description = "The trigger rules with their versions", body = Object)))]
pub async fn list_rules(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules = rule_views(&state).await?;
    Ok(Json(json!({ "rules": rules })))
}

#[derive(Deserialize)]
pub struct PutQuery {
    /// The version you read (0 = create only); without it the rule is created or replaced.
    expected_version: Option<u64>,
}

/// Creates or edits a rule: `{name_zh, name_en, enabled, channel, when: {kind, …}}`.
#[utoipa::path(put, path = "/v1/triggers/rules/{id}", tag = "triggers",
    params(("id" = String, Path, description = "Rule id"),
           ("expected_version" = Option<u64>, Query, description = "The version you read; 0 creates only")),
    request_body = Object,
    responses((status = 200, description = "The saved rule", body = Object),
              (status = 400, description = "Invalid rule", body = crate::error::ErrorBody),
              (status = 409, description = "Someone else changed the rule", body = crate::error::ErrorBody)))]
pub async fn put_rule(
    State(state): State<AppState>,
    me: Principal,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<PutQuery>,
    body: axum::body::Bytes,
) -> Result<Json<RuleView>, ApiError> {
    let mut rule: TriggerRule = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_trigger_rule",
            format!("the body is not a trigger rule: {e}"),
            "Send {\"name_zh\": …, \"name_en\": …, \"channel\": \"sms\", \"when\": {\"kind\": \"salary_credited\"}}; kinds: salary_credited, large_deposit (min_amount_fen), card_dormant (days), time_deposit_maturing (days), audience_entered (audience_id).",
        )
    })?;
    rule.id = id.clone();
    rule.validate().map_err(|e| {
        ApiError::bad_request(
            "invalid_trigger_rule",
            e,
            "Fix the named field and send the rule again.",
        )
    })?;
    if let When::AudienceEntered { audience_id } = &rule.when
        && state
            .store
            .audience(audience_id)
            .await
            .map_err(store_error)?
            .is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_trigger_rule",
            format!("when.audience_id '{audience_id}' is not a saved audience"),
            "GET /v1/audiences lists the saved audiences' ids.",
        ));
    }
    let body_json = serde_json::to_value(&rule)
        .map_err(|e| ApiError::internal("encoding a trigger rule", e))?;
    let saved = state
        .store
        .put_trigger_rule(
            &id,
            q.expected_version,
            &body_json,
            rule.enabled,
            &me.username,
        )
        .await
        .map_err(store_error)?;
    if let Err(e) = state
        .store
        .append_audit(
            &me.username,
            "trigger_rule.save",
            &format!("trigger_rule:{id}"),
            &json!({"version": saved.version, "rule": body_json}),
        )
        .await
    {
        tracing::error!(error = %e, "auditing a trigger rule change");
    }
    if let Some(svc) = &state.triggers {
        svc.reload(state.store.as_ref()).await;
    }
    Ok(Json(RuleView {
        rule,
        version: saved.version,
        updated_at: saved.updated_at,
        updated_by: saved.updated_by,
    }))
}

/// Deletes a rule; its firings stay on record.
#[utoipa::path(delete, path = "/v1/triggers/rules/{id}", tag = "triggers",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such rule", body = crate::error::ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    me: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .delete_trigger_rule(&id)
        .await
        .map_err(store_error)?
    {
        return Err(store_error(StoreError::NotFound {
            what: "trigger rule",
            key: id,
        }));
    }
    if let Err(e) = state
        .store
        .append_audit(
            &me.username,
            "trigger_rule.delete",
            &format!("trigger_rule:{id}"),
            &json!({}),
        )
        .await
    {
        tracing::error!(error = %e, "auditing a trigger rule deletion");
    }
    if let Some(svc) = &state.triggers {
        svc.reload(state.store.as_ref()).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct FiringsQuery {
    rule: Option<String>,
    limit: Option<u32>,
}

/// Recent firings, newest first (`?rule=` one rule, `?limit=` at most 1000).
#[utoipa::path(get, path = "/v1/triggers/firings", tag = "triggers",
    params(("rule" = Option<String>, Query, description = "Only this rule"),
           ("limit" = Option<u32>, Query, description = "At most this many (default 100, max 1000)")),
    responses((status = 200, description = "Firings with outcome, policy, outbox id and latency", body = Object)))]
pub async fn list_firings(
    State(state): State<AppState>,
    Query(q): Query<FiringsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let firings = state
        .store
        .trigger_firings(
            q.rule.as_deref().filter(|r| !r.is_empty()),
            q.limit.unwrap_or(100).min(1000),
        )
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "firings": firings })))
}

/// Rules from a `triggers.toml` file (for `zhiying` commands and tests).
pub fn load_rules_file(path: &Path) -> Result<Vec<TriggerRule>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_rules_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[path = "triggers_tests.rs"]
mod tests;
