//! HTTP tests of the offer catalogue, campaigns, maker-checker, the copy check at approval
//! and the launcher hook, over a 300-customer audience fixture with consents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_store::OperationalStore;

use super::*;

/// Customers 0..50 of the index grant marketing on every channel, 50..60 on SMS only; the
/// first of them is on the do-not-contact list.
const ALL_CHANNELS: u32 = 50;
const SMS_ONLY: u32 = 60;

struct Env {
    app: axum::Router,
    store: Arc<zhiying_store::SqlStore>,
    tokens: HashMap<&'static str, String>,
    ix: zhiying_audience::AudienceIndex,
    dd: DataDir,
    _tmp: tempfile::TempDir,
}

fn write_consents(dd: &DataDir, ix: &zhiying_audience::AudienceIndex) {
    let consents = zhiying_core::schema::fact_table("consents").unwrap();
    let mut ndjson = String::new();
    for i in 0..SMS_ONLY {
        let channel = if i < ALL_CHANNELS { "all" } else { "sms" };
        let row = json!({"consent_id": format!("K{i}"), "customer_id": ix.customer_id(i).unwrap(),
            "purpose": "marketing", "channel": channel, "granted": true,
            "ts": "2025-10-01T00:00:00Z", "source": "app"});
        ndjson.push_str(&format!("{row}\n"));
    }
    let reader = zhiying_engine::arrow::json::ReaderBuilder::new(consents.arrow_schema())
        .build(std::io::Cursor::new(ndjson.into_bytes()))
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
}

async fn env_with(launcher: Option<Arc<dyn CampaignLauncher>>) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    let spec = zhiying_audience::fixture::FixtureSpec {
        customers: 300,
        ..Default::default()
    };
    zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
    let (ix, _) = zhiying_audience::load_index(&dd).unwrap();
    write_consents(&dd, &ix);
    let engine = zhiying_engine::DataFusionEngine::open(&dd).await.unwrap();
    let store = Arc::new(
        zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
            .await
            .unwrap(),
    );
    store
        .dnc_add(ix.customer_id(0).unwrap(), "asked not to be called", "test")
        .await
        .unwrap();
    let mut tokens = HashMap::new();
    for (name, roles) in [
        ("mia", vec![Role::Marketer]),
        ("max", vec![Role::Marketer]),
        ("cora", vec![Role::ComplianceOfficer]),
        ("carl", vec![Role::ComplianceOfficer]),
        ("boss", vec![Role::Marketer, Role::ComplianceOfficer]),
        ("ana", vec![Role::Analyst]),
        ("root", vec![Role::Admin]),
    ] {
        tokens.insert(
            name,
            crate::tests::user_with_token(&store, name, &roles).await,
        );
    }
    let mut state = AppState::new(dd.clone(), Arc::new(engine), store.clone());
    if let Some(l) = launcher {
        state = state.with_launcher(l);
    }
    Env {
        app: crate::router(state),
        store,
        tokens,
        ix,
        dd,
        _tmp: tmp,
    }
}

async fn env() -> Env {
    env_with(None).await
}

impl Env {
    async fn call(&self, who: &str, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let (s, text) = self
            .raw(
                who,
                method,
                uri,
                body.map(|b| ("application/json", b.to_string())),
            )
            .await;
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        body: Option<(&str, String)>,
    ) -> (u16, String) {
        let mut req = Request::builder().method(method).uri(uri).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.tokens[who]),
        );
        let body = match body {
            Some((ct, b)) => {
                req = req.header(header::CONTENT_TYPE, ct);
                Body::from(b)
            }
            None => Body::empty(),
        };
        let res = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn audit(&self, action: &str) -> Vec<zhiying_store::AuditEntry> {
        self.store
            .audit_search(
                &zhiying_store::AuditFilter {
                    action: Some(action.to_string()),
                    ..Default::default()
                },
                100,
            )
            .await
            .unwrap()
    }
}

fn offer(id: &str, text_zh: &str, text_en: &str) -> Value {
    json!({"id": id, "product_id": "P900", "name_zh": "绑卡礼", "name_en": "Card gift",
    "category": "deposit", "risk_level": "R1", "value_fen": 5000, "cost_fen": 10,
    "valid_from": "2024-01-01",
    "treatments": [
        {"channel": "app_push", "template_zh": text_zh, "template_en": text_en},
        {"channel": "sms", "template_zh": text_zh, "template_en": text_en}
    ]})
}

fn clean_offer(id: &str) -> Value {
    offer(
        id,
        "{name_masked}您好，绑卡即享{offer_name}",
        "Dear {name_masked}, link your card for a {offer_name}",
    )
}

const AUDIENCE: &str = r#"aum_tier in ("mass", "affluent")"#;

fn campaign(name: &str, offers: &[&str]) -> Value {
    json!({"name": name, "audience": AUDIENCE, "offers": offers, "channels": ["app_push", "sms"],
        "schedule": {"start": "2026-12-01", "end": "2026-12-31"}, "budget_fen": 500000,
        "holdout_share": 0.1})
}

fn fields(v: &Value) -> Vec<String> {
    v["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {v}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_validated_field_by_field() {
    let e = env().await;
    // Several required fields missing: each named.
    let (s, v) = e
        .call(
            "mia",
            "POST",
            "/v1/offers",
            Some(json!({"offer": {"id": "O1", "name_zh": "x"}})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_offer");
    let f = fields(&v);
    for k in [
        "product_id",
        "name_en",
        "category",
        "risk_level",
        "value_fen",
        "treatments",
    ] {
        assert!(f.contains(&k.to_string()), "{k} not reported: {v}");
    }
    // A risk level outside R1–R5.
    let mut bad = clean_offer("O1");
    bad["risk_level"] = json!("R7");
    let (s, v) = e
        .call("mia", "POST", "/v1/offers", Some(json!({"offer": bad})))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(fields(&v), ["risk_level"], "{v}");
    assert!(
        v["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("R1"),
        "{v}"
    );
    // Unknown personalisation field, negative cost, valid_to before valid_from.
    let mut bad = offer("O1", "{name}您好", "Hello {name_masked}");
    bad["cost_fen"] = json!(-1);
    bad["valid_to"] = json!("2023-01-01");
    let (s, v) = e
        .call("mia", "POST", "/v1/offers", Some(json!({"offer": bad})))
        .await;
    assert_eq!(s, 400, "{v}");
    let f = fields(&v);
    assert!(
        f.contains(&"treatments[app_push].template_zh".to_string()),
        "{v}"
    );
    assert!(f.contains(&"cost_fen".to_string()), "{v}");
    assert!(f.contains(&"valid_to".to_string()), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("{name_masked}"),
        "{v}"
    );
    // Eligibility: a syntax error and an unknown code, each with its position.
    for (expr, col) in [(r#"aum_tier = "#, 12), (r#"aum_tier = "hgih""#, 12)] {
        let mut bad = clean_offer("O1");
        bad["eligibility"] = json!(expr);
        let (s, v) = e
            .call("mia", "POST", "/v1/offers", Some(json!({"offer": bad})))
            .await;
        assert_eq!(s, 400, "{expr}: {v}");
        let f0 = &v["error"]["fields"][0];
        assert_eq!(f0["field"], "eligibility", "{v}");
        assert_eq!(f0["position"]["line"], 1, "{v}");
        assert_eq!(f0["position"]["column"], col, "{expr}: {v}");
        assert!(
            f0["position"]["caret"].as_str().unwrap().contains('^'),
            "{v}"
        );
    }
    // Nothing was stored.
    let (s, v) = e.call("mia", "GET", "/v1/offers", None).await;
    assert_eq!(s, 200);
    assert_eq!(v, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_versioned_retired_and_audited() {
    let e = env().await;
    let mut o = clean_offer("O1");
    o["eligibility"] = json!(AUDIENCE);
    let (s, v) = e
        .call(
            "mia",
            "POST",
            "/v1/offers",
            Some(json!({"offer": o, "note": "launch"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["offer"]["version"], 1);
    assert_eq!(v["offer"]["edited_by"], "mia");
    // The same id again is a conflict, not a silent overwrite.
    let (s, v) = e
        .call("mia", "POST", "/v1/offers", Some(json!({"offer": o})))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "offer_exists");
    // Editing needs the version read; a stale one is refused.
    o["value_fen"] = json!(8000);
    let (s, v) = e
        .call("max", "PUT", "/v1/offers/O1", Some(json!({"offer": o})))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(fields(&v), ["expected_version"]);
    let (s, v) = e
        .call(
            "max",
            "PUT",
            "/v1/offers/O1",
            Some(json!({"offer": o, "expected_version": 1, "note": "richer"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 2);
    assert_eq!(v["updated_by"], "max");
    let (s, v) = e
        .call(
            "mia",
            "PUT",
            "/v1/offers/O1",
            Some(json!({"offer": o, "expected_version": 1})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "version_conflict");
    // The id in the body must match the URL.
    let (s, v) = e
        .call(
            "mia",
            "PUT",
            "/v1/offers/O1",
            Some(json!({"offer": clean_offer("O2"), "expected_version": 2})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(fields(&v), ["id"]);
    // History.
    let (s, v) = e.call("ana", "GET", "/v1/offers/O1/versions", None).await;
    assert_eq!(s, 200, "{v}");
    let versions: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["offer"]["value_fen"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [5000, 8000]);
    assert_eq!(v[0]["note"], "launch");
    let (s, v) = e.call("ana", "GET", "/v1/offers/O1/versions/1", None).await;
    assert_eq!(
        (s, v["offer"]["value_fen"].as_i64()),
        (200, Some(5000)),
        "{v}"
    );
    let (s, v) = e.call("ana", "GET", "/v1/offers/O1/versions/9", None).await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = e.call("ana", "GET", "/v1/offers/nope", None).await;
    assert_eq!(s, 404);
    // Retire: gone from the active list, kept with include_retired.
    let (s, v) = e
        .call(
            "mia",
            "POST",
            "/v1/offers/O1/retire",
            Some(json!({"reason": "season over"})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("retired")), "{v}");
    let (_, v) = e.call("mia", "GET", "/v1/offers", None).await;
    assert_eq!(v, json!([]));
    let (_, v) = e
        .call("mia", "GET", "/v1/offers?include_retired=true", None)
        .await;
    assert_eq!(v[0]["offer_id"], "O1");
    // Roles: an analyst reads but cannot write, a compliance officer neither writes.
    for who in ["ana", "cora"] {
        let (s, v) = e
            .call(
                who,
                "POST",
                "/v1/offers",
                Some(json!({"offer": clean_offer("O9")})),
            )
            .await;
        assert_eq!(s, 403, "{who}: {v}");
    }
    let (s, _) = e
        .call(
            "root",
            "POST",
            "/v1/offers",
            Some(json!({"offer": clean_offer("O9")})),
        )
        .await;
    assert_eq!(s, 201, "admins maintain the catalogue");
    // Audited.
    assert_eq!(e.audit("offer.create").await.len(), 2);
    let upd = e.audit("offer.update").await;
    assert_eq!(upd.len(), 1);
    assert_eq!(upd[0].actor, "max");
    assert!(upd[0].detail.contains("richer"));
    assert_eq!(e.audit("offer.retire").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_after_an_offer_edit_uses_the_new_version() {
    let e = env().await;
    let customer = e.ix.customer_id(5).unwrap().to_string();
    let decide = || {
        e.call(
            "mia",
            "POST",
            "/v1/decisions",
            Some(json!({"customer_id": customer, "channel": "app_push", "now": "2026-06-03T04:00:00Z", "simulate": true})),
        )
    };
    let (s, v) = e
        .call(
            "mia",
            "POST",
            "/v1/offers",
            Some(json!({"offer": clean_offer("O1")})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, d) = decide().await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["candidates"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["candidates"][0]["offer_version"], 1, "{d}");
    assert_eq!(d["offers"][0]["offer_id"], "O1", "{d}");
    // Edit the copy: the very next decision names version 2 and shows the new text.
    let o = offer(
        "O1",
        "{name_masked}您好，新版文案",
        "Dear {name_masked}, new copy",
    );
    let (s, v) = e
        .call(
            "mia",
            "PUT",
            "/v1/offers/O1",
            Some(json!({"offer": o, "expected_version": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, d) = decide().await;
    assert_eq!(d["candidates"][0]["offer_version"], 2, "{d}");
    assert!(
        d["offers"][0]["message"]["text_en"]
            .as_str()
            .unwrap()
            .contains("new copy"),
        "{d}"
    );
    // A new offer joins; a retired one leaves.
    let (s, _) = e
        .call(
            "mia",
            "POST",
            "/v1/offers",
            Some(json!({"offer": clean_offer("O2")})),
        )
        .await;
    assert_eq!(s, 201);
    let (_, d) = decide().await;
    let ids: Vec<&str> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["offer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{d}");
    assert!(ids.contains(&"O2"));
    let (s, _) = e.call("mia", "POST", "/v1/offers/O1/retire", None).await;
    assert_eq!(s, 200);
    let (_, d) = decide().await;
    let ids: Vec<&str> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["offer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["O2"], "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_are_validated() {
    let e = env().await;
    e.call(
        "mia",
        "POST",
        "/v1/offers",
        Some(json!({"offer": clean_offer("O1")})),
    )
    .await;
    let mut c = campaign("Bad", &["O1", "nope"]);
    c["channels"] = json!(["app_push", "fax"]);
    c["holdout_share"] = json!(1.5);
    c["audience"] = json!("aum_tier = ");
    c["schedule"] = json!({"start": "2026-12-31", "end": "2026-12-01"});
    let (s, v) = e.call("mia", "POST", "/v1/campaigns", Some(c)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_campaign");
    let f = fields(&v);
    for k in [
        "offers",
        "channels",
        "holdout_share",
        "audience",
        "schedule.end",
    ] {
        assert!(f.contains(&k.to_string()), "{k} not reported: {v}");
    }
    let aud = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "audience")
        .unwrap();
    // "aum_tier =" is 10 characters: the value is missing at column 11.
    assert_eq!(aud["position"]["column"], 11, "{v}");
    // An offer without a treatment on any chosen channel.
    let mut c = campaign("No copy", &["O1"]);
    c["channels"] = json!(["email"]);
    let (s, v) = e.call("mia", "POST", "/v1/campaigns", Some(c)).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no treatment"),
        "{v}"
    );
    // A saved audience that does not exist.
    let mut c = campaign("Ghost", &["O1"]);
    c["audience"] = json!("audience:aud-000000000000");
    let (s, v) = e.call("mia", "POST", "/v1/campaigns", Some(c)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(fields(&v), ["audience"]);
    // An analyst may read campaigns but not write them.
    let (s, _) = e
        .call("ana", "POST", "/v1/campaigns", Some(campaign("x", &["O1"])))
        .await;
    assert_eq!(s, 403);
    let (s, _) = e.call("ana", "GET", "/v1/campaigns", None).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maker_checker_review_and_lifecycle() {
    let e = env().await;
    e.call(
        "mia",
        "POST",
        "/v1/offers",
        Some(json!({"offer": clean_offer("O1")})),
    )
    .await;
    // A saved audience works as the campaign's audience.
    let (s, a) = e
        .call(
            "mia",
            "POST",
            "/v1/audiences",
            Some(json!({"name": "mass+affluent", "expr": AUDIENCE})),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let mut body = campaign("Card gift Dec", &["O1"]);
    body["audience"] = json!(format!("audience:{}", a["id"].as_str().unwrap()));
    let (s, c) = e.call("mia", "POST", "/v1/campaigns", Some(body)).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["status"], "draft");
    let id = c["campaign_id"].as_str().unwrap().to_string();
    let at = |action: &str| format!("/v1/campaigns/{id}/{action}");

    // Only submitted campaigns can be approved.
    let (s, v) = e
        .call("cora", "POST", &at("approve"), Some(json!({})))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{v}"
    );
    let (s, v) = e
        .call(
            "mia",
            "POST",
            &at("submit"),
            Some(json!({"note": "please review"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["campaign"]["status"], "submitted");
    // Drafts only are editable.
    let (s, v) = e
        .call(
            "mia",
            "PUT",
            &format!("/v1/campaigns/{id}"),
            Some(campaign("Edited", &["O1"])),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("not_editable")),
        "{v}"
    );

    // The review: audience size from the index, contacts after consent, DNC and holdout.
    let (s, r) = e.call("cora", "GET", &at("review"), None).await;
    assert_eq!(s, 200, "{r}");
    let members = e.ix.members(AUDIENCE).unwrap();
    assert_eq!(r["audience_size"], members.len(), "{r}");
    assert!(members.len() > 100);
    assert_eq!(r["consent_applied"], true, "{r}");
    // Customer 0 is on the do-not-contact list.
    let push = members
        .iter()
        .filter(|&i| (1..ALL_CHANNELS).contains(&i))
        .count() as u64;
    let sms = members
        .iter()
        .filter(|&i| (1..SMS_ONLY).contains(&i))
        .count() as u64;
    assert_eq!(r["reachable"]["app_push"], push, "{r}");
    assert_eq!(r["reachable"]["sms"], sms, "{r}");
    assert_eq!(
        r["expected_contacts"]["app_push"],
        (push as f64 * 0.9 / 2.0).round() as u64,
        "{r}"
    );
    assert_eq!(
        r["expected_contacts"]["sms"],
        (sms as f64 * 0.9 / 2.0).round() as u64,
        "{r}"
    );
    assert_eq!(r["holdout"], (members.len() as f64 * 0.1).round() as u64);
    assert_eq!(r["budget_fen"], 500000);
    assert_eq!(r["violation_count"], 0, "{r}");
    // Two channels × two languages of rendered text, personalised with a masked name.
    let content = r["content"].as_array().unwrap();
    assert_eq!(content.len(), 4, "{r}");
    assert!(
        content
            .iter()
            .any(|i| i["text"].as_str().unwrap().starts_with("张*您好")),
        "{r}"
    );

    // The maker cannot approve: a marketer lacks the permission...
    let (s, v) = e.call("mia", "POST", &at("approve"), Some(json!({}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    // ...and neither does an admin (separation of duties).
    let (s, _) = e
        .call("root", "POST", &at("approve"), Some(json!({})))
        .await;
    assert_eq!(s, 403);
    // A compliance officer who is not the maker approves.
    let (s, v) = e
        .call("cora", "POST", &at("approve"), Some(json!({"note": "ok"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["campaign"]["status"], "approved");
    assert_eq!(v["campaign"]["approved_by"], "cora");

    // Launch without a launcher records running; then completion.
    let (s, v) = e.call("mia", "POST", &at("launch"), None).await;
    assert_eq!(
        (s, v["campaign"]["status"].as_str()),
        (200, Some("running")),
        "{v}"
    );
    assert!(v.get("launch").is_none());
    let (s, v) = e.call("mia", "POST", &at("complete"), None).await;
    assert_eq!(
        (s, v["campaign"]["status"].as_str()),
        (200, Some("completed")),
        "{v}"
    );
    let (s, v) = e.call("mia", "POST", &at("cancel"), None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{v}"
    );

    // Every move is recorded, the approval with what the approver saw.
    let (s, t) = e.call("ana", "GET", &at("transitions"), None).await;
    assert_eq!(s, 200, "{t}");
    let moves: Vec<(&str, &str)> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["to"].as_str().unwrap(), m["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        moves,
        [
            ("draft", "mia"),
            ("submitted", "mia"),
            ("approved", "cora"),
            ("running", "mia"),
            ("completed", "mia")
        ]
    );
    let snap = &t[2]["snapshot"];
    assert_eq!(snap["audience_size"], members.len(), "{snap}");
    assert_eq!(snap["budget_fen"], 500000);
    assert_eq!(
        snap["expected_contacts"]["sms"],
        r["expected_contacts"]["sms"]
    );
    assert_eq!(snap["content"]["items"].as_array().unwrap().len(), 4);
    // And audited.
    for action in [
        "campaign.create",
        "campaign.submitted",
        "campaign.approved",
        "campaign.running",
        "campaign.completed",
    ] {
        assert_eq!(e.audit(action).await.len(), 1, "{action}");
    }
    let approved = &e.audit("campaign.approved").await[0];
    assert_eq!(approved.actor, "cora");
    assert!(
        approved.detail.contains("\"audience_size\""),
        "{}",
        approved.detail
    );

    // Rejection returns the campaign to its maker, who reopens and edits it.
    let (_, c) = e
        .call(
            "mia",
            "POST",
            "/v1/campaigns",
            Some(campaign("Second", &["O1"])),
        )
        .await;
    let id2 = c["campaign_id"].as_str().unwrap().to_string();
    e.call("mia", "POST", &format!("/v1/campaigns/{id2}/submit"), None)
        .await;
    let (s, v) = e
        .call(
            "cora",
            "POST",
            &format!("/v1/campaigns/{id2}/reject"),
            Some(json!({"note": "budget too high"})),
        )
        .await;
    assert_eq!(
        (s, v["campaign"]["status"].as_str()),
        (200, Some("rejected")),
        "{v}"
    );
    let (s, v) = e
        .call("mia", "POST", &format!("/v1/campaigns/{id2}/reopen"), None)
        .await;
    assert_eq!(
        (s, v["campaign"]["status"].as_str()),
        (200, Some("draft")),
        "{v}"
    );
    let mut edited = campaign("Second, smaller", &["O1"]);
    edited["budget_fen"] = json!(1000);
    let (s, v) = e
        .call("mia", "PUT", &format!("/v1/campaigns/{id2}"), Some(edited))
        .await;
    assert_eq!((s, v["budget_fen"].as_i64()), (200, Some(1000)), "{v}");
    let (s, v) = e
        .call("ana", "GET", "/v1/campaigns?status=draft", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let (s, _) = e
        .call("ana", "GET", "/v1/campaigns?status=nonsense", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_or_submitter_can_never_approve() {
    let e = env().await;
    e.call(
        "mia",
        "POST",
        "/v1/offers",
        Some(json!({"offer": clean_offer("O1")})),
    )
    .await;
    // boss holds both roles: may create and approve, but not their own campaign.
    let (_, c) = e
        .call(
            "boss",
            "POST",
            "/v1/campaigns",
            Some(campaign("Own", &["O1"])),
        )
        .await;
    let id = c["campaign_id"].as_str().unwrap().to_string();
    e.call("boss", "POST", &format!("/v1/campaigns/{id}/submit"), None)
        .await;
    let (s, v) = e
        .call(
            "boss",
            "POST",
            &format!("/v1/campaigns/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "self_approval");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("boss created"),
        "{v}"
    );
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("another user"),
        "{v}"
    );
    // The submitter cannot either, even when someone else created it.
    let (_, c) = e
        .call(
            "mia",
            "POST",
            "/v1/campaigns",
            Some(campaign("Submitted by boss", &["O1"])),
        )
        .await;
    let id2 = c["campaign_id"].as_str().unwrap().to_string();
    e.call("boss", "POST", &format!("/v1/campaigns/{id2}/submit"), None)
        .await;
    let (s, v) = e
        .call(
            "boss",
            "POST",
            &format!("/v1/campaigns/{id2}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("self_approval")),
        "{v}"
    );
    // Another user approves both.
    for id in [&id, &id2] {
        let (s, v) = e
            .call(
                "carl",
                "POST",
                &format!("/v1/campaigns/{id}/approve"),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_violations_block_approval_unless_overridden_with_a_reason() {
    let e = env().await;
    let dirty = offer(
        "O2",
        "{name_masked}您好，本理财产品保本保收益，稳赚不赔",
        "Guaranteed returns with zero risk",
    );
    let (s, v) = e
        .call("mia", "POST", "/v1/offers", Some(json!({"offer": dirty})))
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, c) = e
        .call(
            "mia",
            "POST",
            "/v1/campaigns",
            Some(campaign("Dirty", &["O2"])),
        )
        .await;
    let id = c["campaign_id"].as_str().unwrap().to_string();
    let at = |action: &str| format!("/v1/campaigns/{id}/{action}");
    e.call("mia", "POST", &at("submit"), None).await;

    let (s, r) = e.call("cora", "GET", &at("review"), None).await;
    assert_eq!(s, 200, "{r}");
    assert!(r["violation_count"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["blocking"], true);
    // The span is highlighted: a segment carries the rule and exactly the matched text.
    let zh = r["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["lang"] == "zh" && i["channel"] == "app_push")
        .unwrap();
    let v0 = &zh["violations"][0];
    let hit = zh["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| !s["rules"].as_array().unwrap().is_empty())
        .unwrap();
    let text: Vec<char> = zh["text"].as_str().unwrap().chars().collect();
    let span: String = text
        [v0["char_start"].as_u64().unwrap() as usize..v0["char_end"].as_u64().unwrap() as usize]
        .iter()
        .collect();
    assert!(
        hit["text"].as_str().unwrap().contains(&span)
            || span.contains(hit["text"].as_str().unwrap()),
        "{zh}"
    );
    let joined: String = zh["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        joined,
        zh["text"].as_str().unwrap(),
        "segments cover the text exactly"
    );

    // Without an override: refused, naming the rules.
    let (s, v) = e
        .call("cora", "POST", &at("approve"), Some(json!({})))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("copy_violations")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(v0["rule_id"].as_str().unwrap()),
        "{v}"
    );
    // An override needs a real reason.
    let (s, v) = e
        .call(
            "cora",
            "POST",
            &at("approve"),
            Some(json!({"override": true, "reason": "ok"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("override_reason_required")),
        "{v}"
    );
    assert_eq!(
        e.store.campaign(&id).await.unwrap().unwrap().status,
        CampaignStatus::Submitted
    );
    // With one, approved; the reason is in the transition and the audit log.
    let reason = "Legal review LR-2026-117 cleared this wording";
    let (s, v) = e
        .call(
            "cora",
            "POST",
            &at("approve"),
            Some(json!({"override": true, "reason": reason, "note": "see LR"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let t = e.store.campaign_transitions(&id).await.unwrap();
    let approval = t.iter().find(|m| m.to == CampaignStatus::Approved).unwrap();
    assert!(approval.note.contains(reason), "{}", approval.note);
    assert_eq!(approval.snapshot["content"]["override"], true);
    assert_eq!(approval.snapshot["content"]["override_reason"], reason);
    let audit = e.audit("campaign.approved").await;
    assert!(audit[0].detail.contains(reason), "{}", audit[0].detail);
    assert!(
        audit[0].detail.contains("\"override\":true"),
        "{}",
        audit[0].detail
    );
}

struct CountingLauncher {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait::async_trait]
impl CampaignLauncher for CountingLauncher {
    async fn launch(&self, campaign: &Campaign) -> Result<LaunchSummary, LaunchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(campaign.status, CampaignStatus::Running);
        if self.fail {
            return Err(LaunchError("the outbox is unreachable".into()));
        }
        Ok(LaunchSummary {
            contacts_planned: 42,
            holdout: 5,
            detail: json!({"batch": "b1"}),
        })
    }
}

async fn approved_campaign(e: &Env) -> String {
    e.call(
        "mia",
        "POST",
        "/v1/offers",
        Some(json!({"offer": clean_offer("O1")})),
    )
    .await;
    let (_, c) = e
        .call(
            "mia",
            "POST",
            "/v1/campaigns",
            Some(campaign("Launch me", &["O1"])),
        )
        .await;
    let id = c["campaign_id"].as_str().unwrap().to_string();
    e.call("mia", "POST", &format!("/v1/campaigns/{id}/submit"), None)
        .await;
    let (s, v) = e
        .call(
            "cora",
            "POST",
            &format!("/v1/campaigns/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launching_calls_the_launcher_and_a_failure_pauses() {
    let ok = Arc::new(CountingLauncher {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let e = env_with(Some(ok.clone())).await;
    let id = approved_campaign(&e).await;
    let (s, v) = e
        .call("mia", "POST", &format!("/v1/campaigns/{id}/launch"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["campaign"]["status"], "running");
    assert_eq!(v["launch"]["contacts_planned"], 42);
    assert_eq!(ok.calls.load(Ordering::SeqCst), 1);
    assert_eq!(e.audit("campaign.launch").await.len(), 1);

    let bad = Arc::new(CountingLauncher {
        calls: AtomicUsize::new(0),
        fail: true,
    });
    let e = env_with(Some(bad.clone())).await;
    let id = approved_campaign(&e).await;
    let (s, v) = e
        .call("mia", "POST", &format!("/v1/campaigns/{id}/launch"), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (502, Some("launch_failed")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outbox is unreachable")
    );
    assert_eq!(bad.calls.load(Ordering::SeqCst), 1);
    let c = e.store.campaign(&id).await.unwrap().unwrap();
    assert_eq!(c.status, CampaignStatus::Paused);
    let t = e.store.campaign_transitions(&id).await.unwrap();
    assert!(t.last().unwrap().note.contains("launch failed"), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_render_and_forms_work() {
    let e = env().await;
    // Offer form: invalid first (unknown field in a template), then valid.
    let form = |tpl: &str| {
        serde_urlencoded::to_string([
            ("expected_version", "0"),
            ("id", "O7"),
            ("product_id", "P900"),
            ("name_zh", "绑卡礼"),
            ("name_en", "Card gift"),
            ("category", "deposit"),
            ("risk_level", "R2"),
            ("value_yuan", "50"),
            ("cost_yuan", "0.10"),
            ("valid_from", "2024-01-01"),
            ("eligibility", ""),
            ("app_push.template_zh", tpl),
            ("app_push.template_en", "Hello {name_masked}"),
            ("note", "form"),
        ])
        .unwrap()
    };
    let urlenc = "application/x-www-form-urlencoded";
    let (s, html) = e
        .raw(
            "mia",
            "POST",
            "/console/offers",
            Some((urlenc, form("{nme}您好"))),
        )
        .await;
    assert_eq!(s, 400, "{html}");
    assert!(
        html.contains("offer-errors") && html.contains("{nme}"),
        "{html}"
    );
    let (s, _) = e
        .raw(
            "mia",
            "POST",
            "/console/offers",
            Some((urlenc, form("{name_masked}您好"))),
        )
        .await;
    assert_eq!(s, 303);
    let stored = e.store.offer("O7").await.unwrap().unwrap();
    assert_eq!(stored.body["value_fen"], 5000);
    assert_eq!(stored.body["cost_fen"], 10);
    assert_eq!(stored.body["risk_level"], "R2");
    for lang in ["zh", "en"] {
        let (s, html) = e
            .raw(
                "mia",
                "GET",
                &format!("/console/offers?lang={lang}&edit=O7"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{html}");
        assert!(
            html.contains("offer-editor") && html.contains("offer-history"),
            "{html}"
        );
        assert!(html.contains("{name_masked}您好"));
    }
    // Campaign builder.
    let body = "name=Form+campaign&audience_id=&audience_expr=aum_tier+%3D+%22mass%22&offers=O7&channels=app_push&start=2026-12-01&end=&budget_yuan=1000&holdout_pct=10";
    let (s, html) = e
        .raw(
            "mia",
            "POST",
            "/console/campaigns",
            Some((urlenc, body.to_string())),
        )
        .await;
    assert_eq!(s, 303, "{html}");
    let list = e.store.campaigns(None).await.unwrap();
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!((c.draft.budget_fen, c.draft.holdout_share), (100_000, 0.1));
    let bad = "name=Bad&audience_expr=aum_tier+%3D&channels=app_push&start=2026-12-01";
    let (s, html) = e
        .raw(
            "mia",
            "POST",
            "/console/campaigns",
            Some((urlenc, bad.to_string())),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        html.contains("campaign-errors") && html.contains("cmp-caret"),
        "{html}"
    );
    let id = c.campaign_id.clone();
    let (s, _) = e
        .raw(
            "mia",
            "POST",
            &format!("/console/campaigns/{id}/move"),
            Some((urlenc, "to=submitted".into())),
        )
        .await;
    assert_eq!(s, 303);
    // The approval queue: the maker sees it but no buttons; a checker approves.
    let (s, html) = e
        .raw("boss", "GET", "/console/approvals?lang=en", None)
        .await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&id) && html.contains("data-approve"),
        "{html}"
    );
    let (s, html) = e
        .raw("cora", "GET", "/console/approvals?lang=zh", None)
        .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("cmp-audience-size") && html.contains("张*您好"),
        "{html}"
    );
    let (s, html) = e
        .raw(
            "mia",
            "POST",
            &format!("/console/approvals/{id}"),
            Some((urlenc, "decision=approve".into())),
        )
        .await;
    assert_eq!(s, 403, "a marketer cannot approve: {html}");
    let (s, _) = e
        .raw(
            "cora",
            "POST",
            &format!("/console/approvals/{id}"),
            Some((urlenc, "decision=approve&note=fine".into())),
        )
        .await;
    assert_eq!(s, 303);
    assert_eq!(
        e.store.campaign(&id).await.unwrap().unwrap().status,
        CampaignStatus::Approved
    );
    for lang in ["zh", "en"] {
        let (s, html) = e
            .raw(
                "mia",
                "GET",
                &format!("/console/campaigns?lang={lang}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{html}");
        assert!(
            html.contains("campaign-builder") && html.contains("data-move=\"running\""),
            "{html}"
        );
    }
    let _ = &e.dd;
}

#[test]
fn every_campaign_api_route_is_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(&crate::openapi::json()).unwrap();
    let mut n = 0;
    for spec in routes().specs() {
        if spec.path.starts_with("/v1/") {
            let method = spec.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][spec.path][method.as_str()];
            assert!(
                op.is_object(),
                "{} {} missing from /openapi.json",
                spec.method,
                spec.path
            );
            assert_eq!(op["tags"][0], "campaigns", "{} {}", spec.method, spec.path);
            n += 1;
        }
    }
    assert_eq!(n, 21);
    assert!(doc["components"]["schemas"]["CampaignReview"].is_object());
}
