//! Triggered campaigns end to end inside the server: POST /v1/events → trigger worker →
//! decision engine → delivery outbox → dispatcher → DATA_DIR/outbound/<channel>/ file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use chrono::Utc;
use serde_json::{Value, json};
use tower::ServiceExt;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_events::{EventConfig, EventStore};
use zhiying_store::{ConsentEvent, FiringOutcome, OperationalStore, SqlStore, StoreOptions};

use super::*;
use crate::delivery::{Background, DeliveryOptions};

struct Setup {
    app: axum::Router,
    token: String,
    store: Arc<SqlStore>,
    state: AppState,
    background: Background,
    events: Arc<EventStore>,
    dd: DataDir,
    _tmp: tempfile::TempDir,
}

fn write_fact(dd: &DataDir, table: &str, rows: &[Value]) {
    let def = zhiying_core::schema::fact_table(table).expect("known table");
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let reader = zhiying_engine::arrow::json::ReaderBuilder::new(def.arrow_schema())
        .build(std::io::Cursor::new(ndjson.into_bytes()))
        .expect("reader");
    let path = dd.fact_batch(table, "test");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).expect("create"),
        def.arrow_schema(),
        None,
    )
    .expect("writer");
    for b in reader {
        w.write(&b.expect("batch")).expect("write");
    }
    w.close().expect("close");
}

/// A data dir with one rule-free R1 offer that has an e-mail treatment, C1 consenting to
/// marketing on every channel, C2 never asked; `facts` are written before the engine opens.
async fn setup(facts: &[(&str, Vec<Value>)]) -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dd = DataDir::new(tmp.path().join("data"));
    std::fs::create_dir_all(dd.root()).expect("data dir");
    for (table, rows) in facts {
        write_fact(&dd, table, rows);
    }
    let engine = zhiying_engine::DataFusionEngine::open(&dd)
        .await
        .expect("engine");
    let store = Arc::new(
        SqlStore::open_with(&StoreOptions::default(), &dd)
            .await
            .expect("store"),
    );
    let token = crate::tests::user_with_token(&store, "ops", &Role::ALL).await;
    let offer = json!({"id": "OT1", "product_id": "P900", "name_zh": "理财体验金", "name_en": "Wealth trial",
        "category": "deposit", "risk_level": "R1", "value_fen": 5000, "cost_fen": 10,
        "valid_from": "2024-01-01",
        "treatments": [{"channel": "email", "template_zh": "{name_masked}您好，工资到账，试试理财体验金",
                        "template_en": "Dear {name_masked}, your salary is in: try our wealth trial"}]});
    store
        .put_offer("OT1", 0, &offer, "test", "seed")
        .await
        .expect("offer");
    store
        .record_consent(&ConsentEvent {
            customer_id: "C1".into(),
            purpose: "marketing".into(),
            channel: "all".into(),
            granted: true,
            ts: Utc::now().timestamp_micros() - 86_400_000_000,
            source: "test".into(),
            evidence: None,
        })
        .await
        .expect("consent");
    let events = Arc::new(
        EventStore::open(dd.root().join("events"), EventConfig::default()).expect("events"),
    );
    let state =
        AppState::new(dd.clone(), Arc::new(engine), store.clone()).with_events(events.clone());
    let mut options = DeliveryOptions::for_data_dir(&dd, None);
    options.triggers = TriggerConfig {
        sweep_every: None,
        seed_rules: false,
    };
    options.dispatcher.idle_poll = Duration::from_millis(100);
    let (state, background) = crate::delivery::start(state, options)
        .await
        .expect("delivery starts");
    Setup {
        app: crate::router(state.clone()),
        token,
        store,
        state,
        background,
        events,
        dd,
        _tmp: tmp,
    }
}

async fn call(s: &Setup, method: &str, uri: &str, body: Option<Value>) -> (u16, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.token));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let res = s.app.clone().oneshot(req).await.expect("response");
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn call_json(s: &Setup, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    let (status, text) = call(s, method, uri, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn salary(txn_id: &str, customer: &str) -> Value {
    json!({"kind": "transaction", "txn_id": txn_id, "customer_id": customer, "account_id": "A1",
           "ts": Utc::now().to_rfc3339(), "amount_fen": 1_250_000, "currency": "cny",
           "direction": "credit", "channel": "batch", "txn_type": "salary"})
}

/// Polls `check` every 10 ms until it returns `Some` or `within` has passed since `start`.
async fn wait_for<T, F, Fut>(start: Instant, within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn keys_in(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["idempotency_key"].as_str().map(str::to_string))
        .collect()
}

async fn outbox_total(s: &Setup) -> i64 {
    let d = s.state.delivery.as_ref().expect("delivery");
    let m = d.outbox.metrics().await.expect("metrics").total();
    m.pending + m.sending + m.sent + m.dead
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salary_credit_fires_a_decision_and_one_message_within_a_second() {
    let s = setup(&[]).await;
    let (status, rule) = call_json(
        &s,
        "PUT",
        "/v1/triggers/rules/salary-email",
        Some(
            json!({"name_zh": "工资到账", "name_en": "Salary credited", "channel": "email",
                    "when": {"kind": "salary_credited"}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["version"], 1);
    // A bad rule is refused with the field named.
    let (status, bad) = call_json(
        &s,
        "PUT",
        "/v1/triggers/rules/bad",
        Some(json!({"name_zh": "x", "name_en": "x", "channel": "email",
                    "when": {"kind": "large_deposit", "min_amount_fen": -1}})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("min_amount_fen")
    );

    // The salary credit: a decision and an outbox message within one second, and the
    // dispatcher's file within the same second.
    let key = "trg:salary-email:C1:txn:T-1";
    let file = s.dd.root().join("outbound/email/email.jsonl");
    let t0 = Instant::now();
    let (status, ack) = call_json(&s, "POST", "/v1/events", Some(salary("T-1", "C1"))).await;
    assert_eq!(status, 202, "{ack}");
    let store = s.store.clone();
    let firing = wait_for(t0, Duration::from_secs(1), || {
        let store = store.clone();
        async move { store.trigger_firing(key).await.ok().flatten() }
    })
    .await
    .expect("the rule fired within a second");
    assert_eq!(firing.outcome, FiringOutcome::Enqueued, "{firing:?}");
    assert_eq!(firing.offer_id.as_deref(), Some("OT1"));
    assert_eq!(firing.decision_id.as_deref(), Some(key));
    assert_eq!(firing.channel, "email");
    assert!(firing.latency_us < 1_000_000, "{}", firing.latency_us);
    let outbox = s.state.delivery.as_ref().expect("delivery").outbox.clone();
    let entry = outbox
        .entry(key)
        .await
        .expect("outbox read")
        .expect("the message is in the outbox");
    assert_eq!(Some(entry.id), firing.outbox_id);
    assert_eq!(entry.message.customer_id, "C1");
    assert!(
        entry.message.payload["text_zh"]
            .as_str()
            .unwrap_or("")
            .contains("工资到账"),
        "{}",
        entry.message.payload
    );
    let file2 = file.clone();
    let written = wait_for(t0, Duration::from_secs(1), || {
        let file = file2.clone();
        async move { keys_in(&file).contains(&key.to_string()).then_some(()) }
    })
    .await;
    assert!(
        written.is_some(),
        "the dispatcher wrote {} within a second",
        file.display()
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    // The decision is logged (by the background writer) under the same id.
    let store2 = s.store.clone();
    let logged = wait_for(Instant::now(), Duration::from_secs(3), || {
        let store = store2.clone();
        async move { store.decision(key).await.ok().flatten() }
    })
    .await
    .expect("decision logged");
    assert_eq!(logged.customer_id, "C1");

    // The same event again: acknowledged as a duplicate, no second message.
    let (status, ack) = call_json(&s, "POST", "/v1/events", Some(salary("T-1", "C1"))).await;
    assert_eq!(status, 202, "{ack}");
    assert_eq!(ack["duplicates"], 1, "{ack}");
    // And if the worker sees the same record again (a replay), the firing record stops it.
    let again = zhiying_events::parse_body(
        salary("T-1", "C1").to_string().as_bytes(),
        zhiying_events::ValidateOptions::at(Utc::now().timestamp_micros()),
    )
    .expect("valid");
    process(
        &s.state,
        again
            .into_iter()
            .map(|r| Arrival {
                input: Input::Record(Arc::new(r)),
                at: Instant::now(),
            })
            .collect(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbox_total(&s).await, 1);
    assert_eq!(keys_in(&file), [key.to_string()]);

    // C2 never consented: the rule fires, the decision removes the offer by consent, no
    // message; the firing says which policy removed it.
    let key2 = "trg:salary-email:C2:txn:T-2";
    let t1 = Instant::now();
    let (status, _) = call_json(&s, "POST", "/v1/events", Some(salary("T-2", "C2"))).await;
    assert_eq!(status, 202);
    let store3 = s.store.clone();
    let f2 = wait_for(t1, Duration::from_secs(1), || {
        let store = store3.clone();
        async move { store.trigger_firing(key2).await.ok().flatten() }
    })
    .await
    .expect("the rule fired for C2");
    assert_eq!(f2.outcome, FiringOutcome::NoOffer, "{f2:?}");
    assert_eq!(f2.policy.as_deref(), Some("consent"), "{f2:?}");
    assert!(!f2.reason.as_deref().unwrap_or("").is_empty());
    assert!(f2.outbox_id.is_none());
    assert!(outbox.entry(key2).await.expect("read").is_none());
    assert_eq!(outbox_total(&s).await, 1);

    // A transfer is not a salary: nothing fires.
    let mut transfer = salary("T-3", "C1");
    transfer["txn_type"] = json!("transfer_in");
    let (status, _) = call_json(&s, "POST", "/v1/events", Some(transfer)).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.store
            .trigger_firing("trg:salary-email:C1:txn:T-3")
            .await
            .expect("read")
            .is_none()
    );

    // The monitor's API and page.
    let (status, st) = call_json(&s, "GET", "/v1/delivery/status", None).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["running"], true);
    let email = st["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel"] == "email")
        .cloned()
        .expect("email row");
    assert_eq!(email["sent"], 1, "{st}");
    assert!(
        email["adapter"].as_str().unwrap_or("").starts_with("file:"),
        "{email}"
    );
    assert_eq!(
        st["triggers"]["recent"].as_array().map(Vec::len),
        Some(2),
        "{st}"
    );
    assert_eq!(st["triggers"]["stats"]["enqueued"], 1, "{st}");
    assert!(
        st["triggers"]["stats"]["latency_p99_ms"].as_f64().is_some(),
        "{st}"
    );
    let sent: i64 = st["throughput"]["series"]["email"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_i64).sum())
        .unwrap_or(0);
    assert_eq!(sent, 1, "{st}");
    let (status, firings) =
        call_json(&s, "GET", "/v1/triggers/firings?rule=salary-email", None).await;
    assert_eq!(status, 200);
    assert_eq!(firings["firings"].as_array().map(Vec::len), Some(2));
    for (lang, title) in [("en", "Delivery monitor"), ("zh", "触达监控")] {
        let (status, html) = call(&s, "GET", &format!("/console/delivery?lang={lang}"), None).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains(title), "{html}");
        assert!(html.contains("salary-email"));
        assert!(
            html.contains("delivery-chart"),
            "the throughput chart has data"
        );
        assert!(html.contains(key2));
    }
    // Rules can be disabled and deleted; deleting twice is a 404.
    let (status, _) = call_json(
        &s,
        "PUT",
        "/v1/triggers/rules/salary-email?expected_version=1",
        Some(
            json!({"name_zh": "工资到账", "name_en": "Salary credited", "channel": "email",
                    "enabled": false, "when": {"kind": "salary_credited"}}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call_json(&s, "POST", "/v1/events", Some(salary("T-4", "C1"))).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.store
            .trigger_firing("trg:salary-email:C1:txn:T-4")
            .await
            .expect("read")
            .is_none(),
        "a disabled rule does not fire"
    );
    let (status, _) = call(&s, "DELETE", "/v1/triggers/rules/salary-email", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&s, "DELETE", "/v1/triggers/rules/salary-email", None).await;
    assert_eq!(status, 404);

    let report = s.background.shutdown().await;
    assert!(
        report
            .channels
            .iter()
            .any(|c| c.channel == "email" && c.delivered == 1),
        "{report}"
    );
    s.events.close().expect("close events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_fires_once_for_maturing_deposits_and_dormant_cards() {
    let now = Utc::now();
    let today = zhiying_decision::channel::local_date(now);
    let maturity = (today + chrono::Duration::days(7)).to_string();
    let far = (today + chrono::Duration::days(30)).to_string();
    let dormant_since =
        (now - chrono::Duration::days(60) - chrono::Duration::hours(3)).to_rfc3339();
    let active_since = (now - chrono::Duration::days(5)).to_rfc3339();
    let account = |id: &str, kind: &str, maturity: Option<&str>| {
        json!({"account_id": id, "customer_id": "C1", "account_type": kind, "currency": "cny",
               "open_date": "2024-01-01", "status": "active", "balance_fen": 100_000,
               "maturity_date": maturity})
    };
    let txn = |id: &str, account: &str, ts: &str| {
        json!({"txn_id": id, "account_id": account, "customer_id": "C1", "ts": ts,
               "amount_fen": 1000, "currency": "cny", "direction": "debit", "channel": "pos",
               "txn_type": "purchase"})
    };
    let s = setup(&[
        (
            "accounts",
            vec![
                account("TD1", "time_deposit", Some(&maturity)),
                account("TD2", "time_deposit", Some(&far)),
                account("CC1", "credit_card", None),
                account("CC2", "credit_card", None),
            ],
        ),
        (
            "transactions",
            vec![
                txn("X1", "CC1", &dormant_since),
                txn("X2", "CC2", &active_since),
            ],
        ),
    ])
    .await;
    for (id, when) in [
        ("td-7d", json!({"kind": "time_deposit_maturing", "days": 7})),
        ("card-60d", json!({"kind": "card_dormant", "days": 60})),
    ] {
        let (status, body) = call_json(
            &s,
            "PUT",
            &format!("/v1/triggers/rules/{id}"),
            Some(json!({"name_zh": id, "name_en": id, "channel": "email", "when": when})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        sweep(&s.state).await,
        2,
        "one maturing deposit, one dormant card"
    );
    let dormant_day = zhiying_decision::channel::local_date(
        chrono::DateTime::parse_from_rfc3339(&dormant_since)
            .expect("ts")
            .with_timezone(&Utc),
    );
    let keys = [
        format!("trg:td-7d:C1:td:TD1:{maturity}"),
        format!("trg:card-60d:C1:card:CC1:{dormant_day}"),
    ];
    let store = s.store.clone();
    for key in &keys {
        let store = store.clone();
        let f = wait_for(Instant::now(), Duration::from_secs(2), || {
            let store = store.clone();
            let key = key.clone();
            async move { store.trigger_firing(&key).await.ok().flatten() }
        })
        .await
        .unwrap_or_else(|| panic!("{key} fired"));
        assert_eq!(f.outcome, FiringOutcome::Enqueued, "{f:?}");
    }
    // Sweeping again finds the same matches but fires nothing new.
    assert_eq!(sweep(&s.state).await, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbox_total(&s).await, 2);
    assert_eq!(
        s.store
            .trigger_firings(None, 100)
            .await
            .expect("firings")
            .len(),
        2
    );
    s.background.shutdown().await;
    s.events.close().expect("close events");
}

#[test]
fn built_in_rules_parse_and_keys_stay_short() {
    let rules = parse_rules_toml(DEFAULT_RULES_TOML).expect("built-in rules");
    assert_eq!(rules.len(), 4);
    assert!(rules.iter().all(|r| r.enabled));
    assert!(parse_rules_toml("[[rule]]\nid = \"x\"\nname_zh = \"a\"\nname_en = \"a\"\nchannel = \"sms\"\nwhen = { kind = \"card_dormant\", days = 0 }\n").is_err());
    assert!(parse_rules_toml("[[rule]]\nid = \"x\"\nname_zh = \"a\"\nname_en = \"a\"\nchannel = \"fax\"\nwhen = { kind = \"salary_credited\" }\n").is_err());
    let long = firing_key(
        "r",
        &"C".repeat(64),
        &format!("aud:{}:{}", "a".repeat(100), "e".repeat(64)),
    );
    assert!(long.chars().count() <= 200, "{long}");
    assert_ne!(
        long,
        firing_key(
            "r",
            &"C".repeat(64),
            &format!("aud:{}:{}", "a".repeat(100), "f".repeat(64))
        )
    );
    assert_eq!(firing_key("r", "C1", "txn:T1"), "trg:r:C1:txn:T1");
}
