//! Next-best-action over HTTP: `POST /v1/decisions` (ranked offers with the full
//! explanation), `POST /v1/responses` (feeds the adaptive models and contact history), and
//! the console's decision explorer.
//!
//! The engine (`zhiying-decision`) is built on first use from the offer catalogue in the
//! store (the built-in sample catalogue until offers are saved), the audience index (tags,
//! holdings, risk levels) and the consents facts, and is then shared by every request:
//! a decision is pure memory work. Every decision is logged to the store for measurement
//! by a background writer that batches inserts, so logging never sits on the request path.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use tokio::sync::{OnceCell, mpsc};
use zhiying_decision::{
    Catalog, ConsentEvent, ConsentUpdate, ContactLedger, Decision, DecisionEngine, DecisionRequest,
    EngineConfig, InMemoryConsents, Response as OfferResponse, ResponseOutcome,
};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::Locale;
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/decisions", Permission::DecisionCall, decide)
        .post("/v1/responses", Permission::DecisionCall, respond)
        .get("/console/decisions", Permission::DecisionCall, explorer)
}

/// The shared engine and the decision log writer.
///
/// Offer edits bump `catalog_generation` ([`DecisionService::invalidate_catalog`]); the next
/// request that needs the engine sees the engine's generation is behind and rebinds it to
/// the store's current catalogue. Rebinding keeps the contact ledger and the adaptive
/// models, so an edit to an offer's copy does not forget what was learned.
#[derive(Default)]
pub struct DecisionService {
    engine: OnceCell<Arc<DecisionEngine>>,
    log: OnceCell<mpsc::Sender<zhiying_store::Decision>>,
    /// The live consent view the engine asks on every decision. It exists before the engine
    /// so ledger changes made before the first decision are not lost; the engine build
    /// loads the consents facts and then the store's ledger into it, and every change
    /// posted later is pushed into it ([`DecisionService::consent_changed`]).
    consents: Arc<InMemoryConsents>,
    /// Serialises the initial load against live changes, so a change is never overtaken by
    /// an older snapshot of the list being applied after it.
    consent_lock: tokio::sync::Mutex<()>,
    catalog_generation: std::sync::atomic::AtomicU64,
    /// The generation the engine's catalogue reflects.
    bound_generation: std::sync::atomic::AtomicU64,
    rebinding: tokio::sync::Mutex<()>,
}

impl DecisionService {
    /// Pushes a committed ledger change into the live view: the very next decision sees it.
    /// `commit` writes the change to the store; it runs under the same lock as the initial
    /// load.
    pub(crate) async fn consent_changed<T, E>(
        &self,
        commit: impl std::future::Future<Output = Result<(T, Vec<ConsentUpdate>), E>>,
    ) -> Result<T, E> {
        let _g = self.consent_lock.lock().await;
        let (out, updates) = commit.await?;
        for u in updates {
            self.consents.apply(u);
        }
        Ok(out)
    }

    /// What the live view answers for a customer on each channel now (for the consent API).
    pub(crate) fn consent_answers(
        &self,
        customer_id: &str,
    ) -> Vec<(zhiying_decision::Channel, zhiying_decision::ConsentAnswer)> {
        use zhiying_decision::ConsentView;
        let now = chrono::Utc::now();
        zhiying_decision::Channel::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    self.consents
                        .check(customer_id, zhiying_decision::Purpose::Marketing, c, now),
                )
            })
            .collect()
    }

    pub(crate) async fn engine(&self, state: &AppState) -> Result<Arc<DecisionEngine>, ApiError> {
        use std::sync::atomic::Ordering;
        let engine = self
            .engine
            .get_or_try_init(|| async {
                let generation = self.catalog_generation.load(Ordering::SeqCst);
                let engine = build_engine(state).await?;
                self.bound_generation.store(generation, Ordering::SeqCst);
                Ok::<_, ApiError>(engine)
            })
            .await?
            .clone();
        if self.bound_generation.load(Ordering::SeqCst)
            < self.catalog_generation.load(Ordering::SeqCst)
        {
            let _one_at_a_time = self.rebinding.lock().await;
            let generation = self.catalog_generation.load(Ordering::SeqCst);
            if self.bound_generation.load(Ordering::SeqCst) < generation {
                let catalog = load_catalog(state).await?;
                let index = state.audiences.index().await.ok().map(|(ix, _)| ix);
                match engine.rebind(catalog, index.as_deref()) {
                    Ok(report) => tracing::info!(
                        offers = report.offers,
                        generation,
                        "decision engine rebound to the edited offer catalogue"
                    ),
                    // Keep serving the previous catalogue rather than failing every decision.
                    Err(e) => tracing::error!(
                        "rebinding the decision engine to the edited catalogue failed; \
                         decisions keep the previous catalogue: {e}"
                    ),
                }
                self.bound_generation.store(generation, Ordering::SeqCst);
            }
        }
        Ok(engine)
    }

    /// The offer catalogue in the store changed: the next decision rebinds the engine to it.
    pub(crate) fn invalidate_catalog(&self) {
        self.catalog_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The consents and do-not-contact list the engine decides with, building the engine
    /// (and so loading them) if needed.
    pub(crate) async fn consents(
        &self,
        state: &AppState,
    ) -> Result<Arc<InMemoryConsents>, ApiError> {
        self.engine(state).await?;
        Ok(self.consents.clone())
    }

    /// Queues a decision for the store; drops it (with a warning) if the writer is far behind.
    pub(crate) async fn log(&self, state: &AppState, d: &Decision) {
        let tx = self
            .log
            .get_or_init(|| async { spawn_log_writer(state.store.clone()) })
            .await;
        let row = zhiying_store::Decision {
            decision_id: d.decision_id.clone(),
            customer_id: d.customer_id.clone(),
            channel: d.channel.to_string(),
            ts: d.decided_at.timestamp_micros(),
            is_control: d.customer.control_group,
            ranked_offers: d.offers.iter().map(|o| o.offer_id.clone()).collect(),
            explanation: serde_json::to_value(d).unwrap_or_default(),
        };
        if tx.try_send(row).is_err() {
            tracing::warn!(decision = %d.decision_id, "decision log queue full: not logged");
        }
    }
}

/// Batches queued decisions into multi-row inserts.
fn spawn_log_writer(
    store: Arc<dyn zhiying_store::OperationalStore>,
) -> mpsc::Sender<zhiying_store::Decision> {
    let (tx, mut rx) = mpsc::channel::<zhiying_store::Decision>(50_000);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(1_000);
        while rx.recv_many(&mut batch, 1_000).await > 0 {
            if let Err(e) = store.record_decisions(&batch).await {
                tracing::error!(error = %e, rows = batch.len(), "writing the decision log");
            }
            batch.clear();
        }
    });
    tx
}

/// The store's active offers at their current versions (each offer's `version` is the
/// store's), or the built-in sample catalogue while the store has none.
async fn load_catalog(state: &AppState) -> Result<Catalog, ApiError> {
    let stored = state
        .store
        .offers(false)
        .await
        .map_err(|e| ApiError::internal("reading the offer catalogue", e))?;
    if stored.is_empty() {
        return Ok(zhiying_decision::sample_catalog());
    }
    let offers = stored
        .iter()
        .map(|o| {
            serde_json::from_value::<zhiying_decision::Offer>(o.body.clone()).map(|mut offer| {
                offer.version = u32::try_from(o.version).unwrap_or(u32::MAX);
                offer
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal("a stored offer is not a valid offer", e))?;
    Catalog::from_offers(offers).map_err(|e| ApiError::internal("building the offer catalogue", e))
}

async fn build_engine(state: &AppState) -> Result<Arc<DecisionEngine>, ApiError> {
    let started = std::time::Instant::now();
    let catalog = load_catalog(state).await?;
    let index = state.audiences.index().await.ok().map(|(ix, _)| ix);
    let consents = state.decisions.consents.clone();
    let loading = state.decisions.consent_lock.lock().await;
    let rows = state
        .engine
        .query_json(
            "SELECT customer_id, purpose, channel, granted, CAST(date_part('epoch', ts) AS BIGINT) AS epoch \
             FROM consents ORDER BY ts",
        )
        .await
        .map_err(|e| ApiError::internal("reading consents", e))?;
    let mut loaded = 0usize;
    for r in &rows {
        let get = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let ts = r
            .get("epoch")
            .and_then(|v| v.as_i64())
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
        let granted = r.get("granted").and_then(|v| v.as_bool()).unwrap_or(false);
        if let Some(ts) = ts
            && let Ok(e) = ConsentEvent::from_row(
                get("customer_id"),
                get("purpose"),
                get("channel"),
                granted,
                ts,
            )
        {
            consents.record(e);
            loaded += 1;
        }
    }
    // The live ledger in the store overrides the facts by time.
    let mut ledger_events = 0usize;
    for e in state
        .store
        .consent_events()
        .await
        .map_err(|e| ApiError::internal("reading the consent ledger", e))?
    {
        let Some(ts) = chrono::DateTime::from_timestamp_micros(e.ts) else {
            continue;
        };
        if let Ok(ev) =
            ConsentEvent::from_row(&e.customer_id, &e.purpose, &e.channel, e.granted, ts)
        {
            consents.record(ev);
            ledger_events += 1;
        }
    }
    for d in state
        .store
        .dnc_list()
        .await
        .map_err(|e| ApiError::internal("reading the do-not-contact list", e))?
    {
        consents.set_do_not_contact(&d.customer_id, true);
    }
    drop(loading);
    let config = EngineConfig::default();
    let ledger = Arc::new(ContactLedger::new(config.retention_days()));
    let engine = DecisionEngine::new(catalog, index.as_deref(), config, consents, ledger, None)
        .map_err(|e| ApiError::internal("building the decision engine", e))?;
    tracing::info!(
        consents = loaded,
        ledger_events,
        indexed = index.is_some(),
        millis = started.elapsed().as_millis() as u64,
        "decision engine ready"
    );
    Ok(Arc::new(engine))
}

/// Ranked offers for one customer on one channel, with every policy's verdict on every
/// offer and the factors of each priority. Contacts are reserved against the caps unless
/// `simulate` is set.
#[utoipa::path(post, path = "/v1/decisions", tag = "decisions",
    request_body = Object,
    responses((status = 200, description = "Ranked offers with the explanation", body = Object)))]
pub async fn decide(
    State(state): State<AppState>,
    Json(req): Json<DecisionRequest>,
) -> Result<Json<Decision>, ApiError> {
    let engine = state.decisions.engine(&state).await?;
    let d = engine.decide(&req);
    if !d.simulated {
        state.decisions.log(&state, &d).await;
    }
    Ok(Json(d))
}

/// Records an impression, click, accept or reject: the adaptive models learn from it and
/// the contact history (rejection suppression) sees it.
#[utoipa::path(post, path = "/v1/responses", tag = "decisions",
    request_body = Object,
    responses((status = 200, description = "What the response changed", body = Object)))]
pub async fn respond(
    State(state): State<AppState>,
    Json(r): Json<OfferResponse>,
) -> Result<Json<ResponseOutcome>, ApiError> {
    let engine = state.decisions.engine(&state).await?;
    let outcome = engine.record_response(&r).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_response",
            e.to_string(),
            "check the decision id, offer id and channel",
        )
    })?;
    let kind = match r.kind {
        zhiying_decision::ResponseKind::Impression => zhiying_store::ResponseKind::Impression,
        zhiying_decision::ResponseKind::Click => zhiying_store::ResponseKind::Click,
        zhiying_decision::ResponseKind::Accept => zhiying_store::ResponseKind::Accept,
        zhiying_decision::ResponseKind::Reject => zhiying_store::ResponseKind::Reject,
    };
    let id = format!(
        "{}:{}:{}:{}",
        r.decision_id.as_deref().unwrap_or("-"),
        r.customer_id,
        r.offer_id,
        kind.as_str()
    );
    if r.decision_id.is_some() {
        state
            .store
            .record_responses(&[zhiying_store::Response {
                response_id: id,
                decision_id: r.decision_id.clone(),
                contact_id: None,
                customer_id: r.customer_id.clone(),
                offer_id: r.offer_id.clone(),
                kind,
                ts: r.ts.timestamp_micros(),
                revenue_fen: 0,
            }])
            .await
            .map_err(|e| ApiError::internal("recording the response", e))?;
    }
    Ok(Json(outcome))
}

#[derive(Deserialize)]
struct ExplorerQuery {
    customer: Option<String>,
    channel: Option<String>,
}

/// Enter a customer and a channel, see the ranked offers and why every other offer was
/// removed. Simulated: nothing is reserved or remembered.
async fn explorer(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Query(q): Query<ExplorerQuery>,
) -> Response {
    let customer = q.customer.unwrap_or_default().trim().to_string();
    let channel = q.channel.unwrap_or_else(|| "app_push".into());
    let mut decision = None;
    let mut error = None;
    if !customer.is_empty() {
        match (state.decisions.engine(&state).await, channel.parse()) {
            (Ok(engine), Ok(ch)) => {
                let mut req = DecisionRequest::new(&customer, ch, chrono::Utc::now());
                req.simulate = true;
                decision = Some(engine.decide(&req));
            }
            (Err(e), _) => error = Some(e.message),
            (_, Err(e)) => error = Some(format!("{e}")),
        }
    }
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "decisions.html",
        "decisions",
        context! {
            customer => customer,
            channel => channel,
            channels => ["app_push", "sms", "email", "wechat", "call_centre", "branch"],
            decision => decision.as_ref().map(Value::from_serialize),
            error => error,
        },
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use serde_json::{Value, json};
    use tower::ServiceExt;
    use zhiying_core::DataDir;

    use super::*;

    async fn call(app: &axum::Router, token: &str, uri: &str, body: Value) -> (u16, Value) {
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Consent decides: the customer who granted marketing consent gets no consent
    /// removal; the one who never did gets no offer, each removal explained.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decisions_respect_consent_and_explain_every_removal() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        let spec = zhiying_audience::fixture::FixtureSpec {
            customers: 300,
            ..Default::default()
        };
        zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
        let (ix, _) = zhiying_audience::load_index(&dd).unwrap();
        let (yes, no) = (
            ix.customer_id(0).unwrap().to_string(),
            ix.customer_id(1).unwrap().to_string(),
        );
        // One marketing grant on every channel for `yes`, a year ago.
        let consents = zhiying_core::schema::fact_table("consents").unwrap();
        let row = json!({"consent_id": "K1", "customer_id": yes, "purpose": "marketing", "channel": "all",
            "granted": true, "ts": "2025-10-01T00:00:00Z", "source": "app"});
        let reader = zhiying_engine::arrow::json::ReaderBuilder::new(consents.arrow_schema())
            .build(std::io::Cursor::new(format!("{row}\n").into_bytes()))
            .unwrap();
        let path = dd.fact_batch("consents", "test");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            consents.arrow_schema(),
            None,
        )
        .unwrap();
        for b in reader {
            w.write(&b.unwrap()).unwrap();
        }
        w.close().unwrap();

        let engine = zhiying_engine::DataFusionEngine::open(&dd).await.unwrap();
        let sql = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let token = crate::tests::user_with_token(
            &sql,
            "channel",
            &[zhiying_core::domain::Role::ChannelSystem],
        )
        .await;
        // One rule-free R1 offer in the store's catalogue (it replaces the sample catalogue,
        // whose rules need the full tag set).
        let offer = json!({"id": "OT1", "product_id": "P900", "name_zh": "绑卡礼", "name_en": "Card gift",
            "category": "deposit", "risk_level": "R1", "value_fen": 5000, "cost_fen": 10,
            "valid_from": "2024-01-01",
            "treatments": [{"channel": "app_push", "template_zh": "{name_masked}您好，绑卡有礼",
                            "template_en": "Dear {name_masked}, a gift for linking your card"}]});
        zhiying_store::OperationalStore::put_offer(sql.as_ref(), "OT1", 0, &offer, "test", "seed")
            .await
            .unwrap();
        let app = crate::router(AppState::new(dd.clone(), Arc::new(engine), sql));
        let noon = "2026-06-03T04:00:00Z"; // 12:00 in Shanghai: no quiet hours

        let (s, d) = call(
            &app,
            &token,
            "/v1/decisions",
            json!({"customer_id": no, "channel": "app_push", "now": noon}),
        )
        .await;
        assert_eq!(s, 200, "{d}");
        assert!(d["offers"].as_array().unwrap().is_empty(), "{d}");
        let candidates = d["candidates"].as_array().unwrap();
        assert!(!candidates.is_empty());
        for c in candidates {
            assert_eq!(c["outcome"], "removed", "{c}");
            assert!(!c["reason"]["text_en"].as_str().unwrap().is_empty());
            assert!(!c["reason"]["text_zh"].as_str().unwrap().is_empty());
        }
        assert!(
            candidates
                .iter()
                .any(|c| c["reason"]["policy"] == "consent"),
            "{d}"
        );

        let (s, d) = call(
            &app,
            &token,
            "/v1/decisions",
            json!({"customer_id": yes, "channel": "app_push", "now": noon}),
        )
        .await;
        assert_eq!(s, 200, "{d}");
        assert!(
            d["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["reason"]["policy"] != "consent"),
            "{d}"
        );
        if let Some(first) = d["offers"].as_array().unwrap().first() {
            let (s, r) = call(
                &app,
                &token,
                "/v1/responses",
                json!({
                "decision_id": d["decision_id"], "customer_id": yes, "offer_id": first["offer_id"],
                "channel": "app_push", "kind": "accept", "ts": noon}),
            )
            .await;
            assert_eq!(s, 200, "{r}");
        }
    }
}
