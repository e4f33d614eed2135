//! Delivery inside `zhiying serve`: the outbox dispatcher started with the server, the
//! trigger worker that feeds it, `GET /v1/delivery/status` and the delivery monitor page
//! (`/console/delivery`).
//!
//! By default every channel's messages are appended by a file adapter to
//! `DATA_DIR/outbound/<channel>/<channel>.jsonl` (one JSON line per message, deduplicated by
//! idempotency key, for the call centre, branch systems and demos to pick up); a route spec
//! such as `sms=http://gw:8080/sms` sends a channel to a webhook instead. See
//! `docs/delivery.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};
use serde::Serialize;
use tokio::sync::oneshot;
use zhiying_delivery::{
    Adapters, Channel, ChannelAdapter, DispatchReport, Dispatcher, DispatcherConfig, FileAdapter,
    Outbox, OutboxError, WebhookAdapter,
};
use zhiying_store::TriggerFiring;

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::Locale;
use crate::triggers::{
    self, RuleView, TriggerConfig, TriggerRuntime, TriggerService, TriggerStats,
};
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/delivery/status", Permission::CampaignRead, status)
        .get("/console/delivery", Permission::CampaignRead, page)
}

/// The outbox and where each channel goes, for the monitor.
pub struct DeliveryInfo {
    pub outbox: Outbox,
    /// `(channel, adapter description)` in channel order.
    pub adapters: Vec<(String, String)>,
    pub started_at: i64,
}

/// How `zhiying serve` runs delivery.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The outbox database: the operational store's URL, or the SQLite file path.
    pub database_url: String,
    /// `CHANNEL=TARGET,…` where TARGET is `file` or an `http://` webhook; channels not named
    /// use the file adapter.
    pub routes: String,
    /// File adapters write under `<outbound_dir>/<channel>/`.
    pub outbound_dir: PathBuf,
    pub dispatcher: DispatcherConfig,
    pub triggers: TriggerConfig,
}

impl DeliveryOptions {
    /// Defaults for a data dir: SQLite outbox beside the store unless `database_url` is given,
    /// files in `DATA_DIR/outbound/`.
    pub fn for_data_dir(data_dir: &zhiying_core::DataDir, database_url: Option<&str>) -> Self {
        DeliveryOptions {
            database_url: database_url
                .map(str::to_string)
                .unwrap_or_else(|| data_dir.sqlite_path().display().to_string()),
            routes: String::new(),
            outbound_dir: data_dir.root().join("outbound"),
            dispatcher: DispatcherConfig::default(),
            triggers: TriggerConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryStartError {
    #[error("cannot open the delivery outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error(
        "delivery route '{entry}' is not CHANNEL=TARGET: write e.g. sms=file or email=http://mailer:8080/send"
    )]
    Syntax { entry: String },
    #[error(transparent)]
    Channel(#[from] zhiying_delivery::UnknownChannel),
    #[error(transparent)]
    Webhook(#[from] zhiying_delivery::WebhookConfigError),
}

/// One file adapter per channel, each in its own directory, unless the spec routes the
/// channel to a webhook.
pub fn build_adapters(spec: &str, outbound_dir: &Path) -> Result<Adapters, DeliveryStartError> {
    let mut out: Adapters = Channel::ALL
        .iter()
        .map(|c| {
            let a: Arc<dyn ChannelAdapter> =
                Arc::new(FileAdapter::new(outbound_dir.join(c.as_str())));
            (*c, a)
        })
        .collect();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((channel, target)) = entry.split_once('=') else {
            return Err(DeliveryStartError::Syntax {
                entry: entry.to_string(),
            });
        };
        let channel: Channel = channel.parse()?;
        let target = target.trim();
        if !target.eq_ignore_ascii_case("file") {
            out.insert(channel, Arc::new(WebhookAdapter::new(target)?));
        }
    }
    Ok(out)
}

/// The dispatcher and the trigger worker; stop them with [`Background::shutdown`].
pub struct Background {
    dispatcher: tokio::task::JoinHandle<DispatchReport>,
    stop: oneshot::Sender<()>,
    triggers: TriggerRuntime,
}

impl Background {
    /// Lets the trigger worker finish what it has queued, then the dispatcher finish the
    /// batch in hand; returns what the dispatcher did.
    pub async fn shutdown(self) -> DispatchReport {
        self.triggers.shutdown().await;
        let _ = self.stop.send(());
        match self.dispatcher.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("delivery dispatcher failed: {e}");
                DispatchReport::default()
            }
        }
    }
}

/// Opens the outbox, starts the dispatcher and the trigger worker, and returns the state
/// that serves the delivery monitor and the trigger API.
pub async fn start(
    state: AppState,
    options: DeliveryOptions,
) -> Result<(AppState, Background), DeliveryStartError> {
    let outbox = Outbox::open(&options.database_url).await?;
    let adapters = build_adapters(&options.routes, &options.outbound_dir)?;
    let info = DeliveryInfo {
        outbox: outbox.clone(),
        adapters: adapters
            .iter()
            .map(|(c, a)| (c.as_str().to_string(), a.describe()))
            .collect(),
        started_at: Utc::now().timestamp_micros(),
    };
    let (svc, inbox) = TriggerService::new(outbox.clone(), options.triggers.clone());
    let state = state.with_delivery(Arc::new(info)).with_triggers(svc);
    let triggers = triggers::spawn(state.clone(), inbox).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let dispatcher = Dispatcher::new(outbox, adapters).with_config(options.dispatcher);
    tracing::info!(owner = dispatcher.owner(), outbound = %options.outbound_dir.display(), "delivery dispatcher started");
    let dispatcher = tokio::spawn(dispatcher.run(async move {
        let _ = stopped.await;
    }));
    Ok((
        state,
        Background {
            dispatcher,
            stop,
            triggers,
        },
    ))
}

#[derive(Debug, Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub adapter: Option<String>,
    /// Waiting or being sent.
    pub queued: i64,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    /// Failed attempts that were retried.
    pub failed: i64,
    /// In the dead-letter queue.
    pub dead: i64,
}

#[derive(Debug, Serialize)]
pub struct FailureRow {
    pub outbox_id: i64,
    pub idempotency_key: String,
    pub channel: String,
    pub customer_id: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
    pub created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub bucket_seconds: i64,
    /// Bucket starts, UTC micros.
    pub buckets: Vec<i64>,
    /// `HH:MM` Beijing time of each bucket.
    pub labels: Vec<String>,
    /// Messages sent per bucket, per channel.
    pub series: BTreeMap<String, Vec<i64>>,
}

#[derive(Debug, Serialize)]
pub struct TriggerSummary {
    /// Whether the trigger worker runs in this server.
    pub running: bool,
    pub rules: Vec<RuleView>,
    pub stats: Option<TriggerStats>,
    pub recent: Vec<TriggerFiring>,
}

/// `GET /v1/delivery/status`.
#[derive(Debug, Serialize)]
pub struct DeliveryStatus {
    /// Whether the dispatcher runs in this server.
    pub running: bool,
    pub backend: Option<String>,
    pub started_at: Option<i64>,
    pub channels: Vec<ChannelRow>,
    pub total: ChannelRow,
    pub recent_failures: Vec<FailureRow>,
    pub throughput: Throughput,
    pub triggers: TriggerSummary,
}

const BUCKET_SECONDS: i64 = 60;
const BUCKETS: i64 = 60;

async fn collect(state: &AppState) -> Result<DeliveryStatus, ApiError> {
    let now = Utc::now().timestamp_micros();
    let bucket_us = BUCKET_SECONDS * 1_000_000;
    let first = (now / bucket_us - (BUCKETS - 1)) * bucket_us;
    let buckets: Vec<i64> = (0..BUCKETS).map(|i| first + i * bucket_us).collect();
    let labels = buckets
        .iter()
        .map(|b| {
            chrono::DateTime::from_timestamp_micros(*b)
                .map(|t| {
                    zhiying_decision::channel::local(t)
                        .format("%H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        })
        .collect();
    let mut channels = Vec::new();
    let mut failures = Vec::new();
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    if let Some(d) = &state.delivery {
        let adapters: BTreeMap<&str, &str> = d
            .adapters
            .iter()
            .map(|(c, a)| (c.as_str(), a.as_str()))
            .collect();
        let m = d
            .outbox
            .metrics()
            .await
            .map_err(|e| ApiError::internal("reading the delivery outbox", e))?;
        for c in &m.channels {
            channels.push(ChannelRow {
                adapter: adapters.get(c.channel.as_str()).map(|a| a.to_string()),
                channel: c.channel.clone(),
                queued: c.pending + c.sending,
                pending: c.pending,
                sending: c.sending,
                sent: c.sent,
                failed: c.retried,
                dead: c.dead,
            });
        }
        for e in d
            .outbox
            .recent_failures(20)
            .await
            .map_err(|e| ApiError::internal("reading failed deliveries", e))?
        {
            failures.push(FailureRow {
                outbox_id: e.id,
                channel: e.message.channel.as_str().to_string(),
                customer_id: e.message.customer_id.clone(),
                idempotency_key: e.message.idempotency_key,
                status: e.status.as_str().to_string(),
                attempts: e.attempts,
                error: e.last_error.unwrap_or_default(),
                created_at: e.created_at,
            });
        }
        for (start, channel, n) in d
            .outbox
            .throughput(first, bucket_us)
            .await
            .map_err(|e| ApiError::internal("reading delivery throughput", e))?
        {
            let i = (start - first) / bucket_us;
            if (0..BUCKETS).contains(&i) {
                series
                    .entry(channel)
                    .or_insert_with(|| vec![0; BUCKETS as usize])[i as usize] += n;
            }
        }
    }
    let mut total = ChannelRow {
        channel: "total".into(),
        adapter: None,
        queued: 0,
        pending: 0,
        sending: 0,
        sent: 0,
        failed: 0,
        dead: 0,
    };
    for c in &channels {
        total.queued += c.queued;
        total.pending += c.pending;
        total.sending += c.sending;
        total.sent += c.sent;
        total.failed += c.failed;
        total.dead += c.dead;
    }
    let rules = triggers::rule_views(state).await?;
    let recent = state
        .store
        .trigger_firings(None, 20)
        .await
        .map_err(|e| ApiError::internal("reading trigger firings", e))?;
    Ok(DeliveryStatus {
        running: state.delivery.is_some(),
        backend: state
            .delivery
            .as_ref()
            .map(|d| d.outbox.backend().name().to_string()),
        started_at: state.delivery.as_ref().map(|d| d.started_at),
        channels,
        total,
        recent_failures: failures,
        throughput: Throughput {
            bucket_seconds: BUCKET_SECONDS,
            buckets,
            labels,
            series,
        },
        triggers: TriggerSummary {
            running: state.triggers.is_some(),
            rules,
            stats: state.triggers.as_ref().map(|t| t.stats()),
            recent,
        },
    })
}

/// Per-channel queued, sent, failed and dead-letter counts, recent failures with their
/// reasons, messages sent per minute over the last hour, and the trigger rules with their
/// recent firings and event → outbox latency.
#[utoipa::path(get, path = "/v1/delivery/status", tag = "delivery",
    responses((status = 200, description = "The delivery monitor's data", body = Object)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<DeliveryStatus>, ApiError> {
    Ok(Json(collect(&state).await?))
}

/// The delivery monitor.
async fn page(State(state): State<AppState>, locale: Locale, me: Principal) -> Response {
    let s = match collect(&state).await {
        Ok(s) => s,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let tr = |k: &str| state.templates.tr(locale.lang, k);
    let chart = serde_json::json!({
        "labels": s.throughput.labels,
        "series": s.throughput.series.iter().map(|(c, v)| serde_json::json!({
            "name": tr(&format!("decisions.channel.{c}")), "data": v})).collect::<Vec<_>>(),
        "y_label": tr("delivery.sent_per_minute"),
    });
    let has_chart = s
        .throughput
        .series
        .values()
        .any(|v| v.iter().any(|n| *n > 0));
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "delivery.html",
        "delivery",
        context! {
            s => Value::from_serialize(&s),
            chart => Value::from_serialize(&chart),
            has_chart => has_chart,
        },
    )
}
