//! Trigger latency: event → decision → delivery outbox, as `zhiying serve` runs it.
//!
//! ```text
//! trigger_latency [--events 3000] [--rate 300] [--customers 3000]
//! ```
//!
//! Builds a fresh data directory (SQLite store and outbox, event log, one rule-free e-mail
//! offer, marketing consent for every customer, the rule "salary credited → e-mail"),
//! starts the delivery dispatcher and the trigger worker exactly as `zhiying serve` does,
//! then posts `--events` salary credits through the HTTP router (`POST /v1/events`, one
//! event per request, paced at `--rate` per second, each request on its own task) and
//! measures, per event, the time from the start of its request to the commit of its
//! outbox row (the firing's `fired_at`). Prints p50/p90/p99/max as JSON, with the
//! worker's own event → outbox latency (from the event log's broadcast) beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use serde_json::json;
use tower::ServiceExt;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_store::{ConsentEvent, FiringOutcome, OperationalStore};

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: not a number")),
        None => Ok(default),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn summary(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    json!({"count": v.len(), "p50_ms": pct(&v, 0.5), "p90_ms": pct(&v, 0.9),
           "p99_ms": pct(&v, 0.99), "max_ms": v.last().copied().unwrap_or(f64::NAN)})
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = flag(&args, "--events", 3000)?;
    let rate: u64 = flag(&args, "--rate", 300)?;
    let customers: u64 = flag(&args, "--customers", events)?.max(1);
    let tmp = tempfile::tempdir()?;
    let dd = DataDir::new(tmp.path().join("data"));
    std::fs::create_dir_all(dd.root())?;
    let engine = Arc::new(zhiying_engine::DataFusionEngine::open(&dd).await?);
    let store = Arc::new(
        zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd).await?,
    );
    store
        .create_user(
            "bench",
            "bench",
            "$argon2id$v=19$m=19456,t=2,p=1$unused$unused",
            &Role::ALL,
        )
        .await?;
    let token = zhiying_server::auth::password::new_api_token();
    store
        .create_token(
            &zhiying_store::hash_token(&token),
            "bench",
            &["*".to_string()],
            None,
        )
        .await?;
    let offer = json!({"id": "OT1", "product_id": "P900", "name_zh": "理财体验金", "name_en": "Wealth trial",
        "category": "deposit", "risk_level": "R1", "value_fen": 5000, "cost_fen": 10,
        "valid_from": "2024-01-01",
        "treatments": [{"channel": "email", "template_zh": "{name_masked}您好，工资到账，试试理财体验金",
                        "template_en": "Dear {name_masked}, your salary is in: try our wealth trial"}]});
    store.put_offer("OT1", 0, &offer, "bench", "seed").await?;
    let granted = Utc::now().timestamp_micros() - 86_400_000_000;
    for c in 0..customers {
        store
            .record_consent(&ConsentEvent {
                customer_id: format!("C{c:08}"),
                purpose: "marketing".into(),
                channel: "all".into(),
                granted: true,
                ts: granted,
                source: "bench".into(),
                evidence: None,
            })
            .await?;
    }
    store
        .put_trigger_rule(
            "salary-email",
            None,
            &json!({"name_zh": "工资到账", "name_en": "Salary credited", "channel": "email",
                    "when": {"kind": "salary_credited"}}),
            true,
            "bench",
        )
        .await?;
    let events_store = Arc::new(zhiying_events::EventStore::open(
        dd.root().join("events"),
        zhiying_events::EventConfig::default(),
    )?);
    let state = zhiying_server::AppState::new(dd.clone(), engine, store.clone())
        .with_events(events_store.clone());
    let mut options = zhiying_server::delivery::DeliveryOptions::for_data_dir(&dd, None);
    options.triggers.sweep_every = None;
    options.triggers.seed_rules = false;
    let (state, background) = zhiying_server::delivery::start(state, options).await?;
    let app = zhiying_server::router(state.clone());
    // Let the worker build the decision engine before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let mut sent = Vec::with_capacity(events as usize);
    let mut tasks = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    for i in 0..events {
        let due = started + gap.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let customer = format!("C{:08}", i % customers);
        let body = json!({"kind": "transaction", "txn_id": format!("B{i}"), "customer_id": customer,
            "ts": Utc::now().to_rfc3339(), "amount_fen": 1_250_000, "direction": "credit",
            "channel": "batch", "txn_type": "salary"});
        let t0 = Utc::now().timestamp_micros();
        sent.push((format!("trg:salary-email:{customer}:txn:B{i}"), t0));
        let req = Request::builder()
            .method("POST")
            .uri("/v1/events")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?;
        let app = app.clone();
        tasks.spawn(async move { app.oneshot(req).await.map(|r| r.status().as_u16()) });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        *statuses.entry(r?.unwrap_or(0)).or_insert(0u64) += 1;
    }
    let post_secs = started.elapsed().as_secs_f64();
    // Wait for every firing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let firings = loop {
        let f = store
            .trigger_firings(Some("salary-email"), events as u32 + 10)
            .await?;
        if f.len() as u64 >= events || Instant::now() > deadline {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_key: std::collections::HashMap<&str, &zhiying_store::TriggerFiring> =
        firings.iter().map(|f| (f.firing_id.as_str(), f)).collect();
    let mut end_to_end = Vec::new();
    let mut worker = Vec::new();
    let mut outcomes = std::collections::BTreeMap::new();
    for (key, t0) in &sent {
        if let Some(f) = by_key.get(key.as_str()) {
            *outcomes.entry(f.outcome.as_str()).or_insert(0u64) += 1;
            if f.outcome == FiringOutcome::Enqueued {
                end_to_end.push((f.fired_at - t0) as f64 / 1000.0);
                worker.push(f.latency_us as f64 / 1000.0);
            }
        }
    }
    let report = background.shutdown().await;
    let delivered: u64 = report.channels.iter().map(|c| c.delivered).sum();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "events": events, "rate_per_s": rate, "customers": customers,
            "post_seconds": post_secs, "http_statuses": statuses,
            "firings": firings.len(), "outcomes": outcomes,
            "event_to_outbox": summary(end_to_end),
            "broadcast_to_outbox": summary(worker),
            "delivered_by_dispatcher": delivered,
        }))?
    );
    events_store.close()?;
    Ok(())
}
