//! Router tests over a small data directory written as Parquet with the canonical schemas.

use std::io::Cursor;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::{Value, json};
use tower::ServiceExt;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_core::schema::{self, TableDef};
use zhiying_engine::DataFusionEngine;

use super::*;

/// Field-level access, unmasking and the customer-360 property test.
mod field_access;
/// Data-subject rights: access export, erasure everywhere, consent, retention.
mod rights;

/// Writes JSON rows as one Parquet batch with the given schema.
fn write_parquet(path: &std::path::Path, schema: Arc<Schema>, rows: &[Value]) {
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let mut reader = ReaderBuilder::new(schema.clone())
        .build(Cursor::new(ndjson.into_bytes()))
        .unwrap();
    let batch = reader.next().unwrap().unwrap();
    assert_eq!(batch.num_rows(), rows.len());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn fact(dd: &DataDir, table: &TableDef, rows: Vec<Value>) {
    write_parquet(
        &dd.fact_batch(table.name, "test"),
        table.arrow_schema(),
        &rows,
    );
}

/// A tiny bank: C00000001 and C00000002 are one person (shared phone); C00000003 is alone.
fn populate(dd: &DataDir, with_links: bool) {
    fact(
        dd,
        &schema::CUSTOMERS,
        vec![
            json!({"customer_id": "C00000001", "source_system": "core", "name": "张三丰", "gender": "m", "birth_date": "1985-06-01",
                   "resident_id": "110101198506011234", "phone": "13812345678", "email": "zhang@example.com", "city": "上海",
                   "occupation": "professional", "risk_level": "c3", "monthly_income_fen": 1500000, "open_date": "2019-03-04", "branch_id": "B001"}),
            json!({"customer_id": "C00000002", "source_system": "mobile", "phone": "13812345678", "open_date": "2021-07-01"}),
            json!({"customer_id": "C00000003", "source_system": "card", "city": "<b>x</b>", "open_date": "2022-01-01"}),
        ],
    );
    fact(
        dd,
        &schema::IDENTITIES,
        vec![
            json!({"customer_id": "C00000001", "id_type": "phone", "id_value": "13812345678", "source_system": "core", "observed_at": "2024-01-01T00:00:00Z"}),
            json!({"customer_id": "C00000002", "id_type": "card_no", "id_value": "6222021234567890", "source_system": "mobile", "observed_at": "2024-02-01T08:00:00Z"}),
        ],
    );
    fact(
        dd,
        &schema::ACCOUNTS,
        vec![
            json!({"account_id": "A1", "customer_id": "C00000001", "account_type": "savings", "currency": "cny", "open_date": "2019-03-04", "status": "active", "balance_fen": 1234560}),
            json!({"account_id": "A2", "customer_id": "C00000001", "account_type": "credit_card", "currency": "cny", "open_date": "2020-01-01", "status": "active", "balance_fen": -50000, "credit_limit_fen": 5000000}),
            json!({"account_id": "A3", "customer_id": "C00000002", "account_type": "current", "currency": "cny", "open_date": "2021-07-01", "status": "active", "balance_fen": 100}),
            json!({"account_id": "A4", "customer_id": "C00000003", "account_type": "current", "currency": "usd", "open_date": "2022-01-01", "status": "active", "balance_fen": 999}),
        ],
    );
    fact(
        dd,
        &schema::PRODUCTS,
        vec![
            json!({"product_id": "P1", "name_zh": "定期存款", "name_en": "Time deposit", "category": "time_deposit", "risk_level": "r1", "min_amount_fen": 500000, "annual_rate_bp": 175, "launch_date": "2020-01-01"}),
            json!({"product_id": "P2", "name_zh": "基金</script>", "name_en": "Fund </script><b>", "category": "fund", "risk_level": "r4", "min_amount_fen": 100000, "launch_date": "2020-06-01"}),
        ],
    );
    fact(
        dd,
        &schema::PRODUCT_HOLDINGS,
        vec![
            json!({"holding_id": "H1", "customer_id": "C00000001", "product_id": "P1", "account_id": "A1", "start_date": "2023-01-01", "amount_fen": 10000000, "status": "active"}),
            json!({"holding_id": "H2", "customer_id": "C00000002", "product_id": "P2", "start_date": "2023-05-01", "amount_fen": 2000000, "status": "active"}),
        ],
    );
    fact(
        dd,
        &schema::TRANSACTIONS,
        vec![
            json!({"txn_id": "T1", "account_id": "A1", "customer_id": "C00000001", "ts": "2024-01-15T02:00:00Z", "amount_fen": 800000, "currency": "cny", "direction": "credit", "channel": "batch", "txn_type": "salary"}),
            json!({"txn_id": "T2", "account_id": "A1", "customer_id": "C00000001", "ts": "2024-01-20T10:30:00Z", "amount_fen": 12345, "currency": "cny", "direction": "debit", "channel": "pos", "txn_type": "purchase", "merchant_category": "5411"}),
            json!({"txn_id": "T3", "account_id": "A3", "customer_id": "C00000002", "ts": "2024-02-03T04:05:06Z", "amount_fen": 5000, "currency": "cny", "direction": "debit", "channel": "mobile", "txn_type": "transfer_out"}),
            json!({"txn_id": "T4", "account_id": "A4", "customer_id": "C00000003", "ts": "2024-02-04T00:00:00Z", "amount_fen": 100, "currency": "usd", "direction": "credit", "channel": "online", "txn_type": "refund"}),
        ],
    );
    fact(
        dd,
        &schema::EVENTS,
        vec![
            json!({"event_id": "E1", "customer_id": "C00000001", "ts": "2024-02-01T01:00:00Z", "channel": "mobile_app", "event_type": "login"}),
            json!({"event_id": "E2", "customer_id": "C00000002", "ts": "2024-02-02T01:00:00Z", "channel": "web", "event_type": "product_view", "item": "P2"}),
        ],
    );
    fact(
        dd,
        &schema::CONSENTS,
        vec![
            json!({"consent_id": "K1", "customer_id": "C00000001", "purpose": "marketing", "channel": "sms", "granted": true, "ts": "2023-01-01T00:00:00Z", "source": "branch"}),
            json!({"consent_id": "K2", "customer_id": "C00000001", "purpose": "marketing", "channel": "sms", "granted": false, "ts": "2024-01-01T00:00:00Z", "source": "app"}),
            json!({"consent_id": "K3", "customer_id": "C00000001", "purpose": "profiling", "channel": "all", "granted": true, "ts": "2023-01-01T00:00:00Z", "source": "branch"}),
        ],
    );
    fact(
        dd,
        &schema::CAMPAIGNS,
        vec![
            json!({"campaign_id": "CP1", "name": "春季理财", "channel": "sms", "start_date": "2024-01-01", "status": "completed"}),
        ],
    );
    fact(
        dd,
        &schema::CONTACTS,
        vec![
            json!({"contact_id": "CT1", "campaign_id": "CP1", "customer_id": "C00000001", "channel": "sms", "ts": "2024-01-10T01:00:00Z", "group": "treatment", "status": "delivered"}),
        ],
    );
    fact(
        dd,
        &schema::RESPONSES,
        vec![
            json!({"response_id": "R1", "contact_id": "CT1", "campaign_id": "CP1", "customer_id": "C00000001", "ts": "2024-01-11T01:00:00Z", "response_type": "accept", "revenue_fen": 25000}),
        ],
    );
    if with_links {
        let links = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("party_id", DataType::Utf8, false),
            Field::new("matched_on", DataType::Utf8, true),
        ]));
        write_parquet(
            &dd.derived("customer_links"),
            links,
            &[
                json!({"customer_id": "C00000001", "party_id": "PTY1", "matched_on": "phone"}),
                json!({"customer_id": "C00000002", "party_id": "PTY1", "matched_on": "phone"}),
                json!({"customer_id": "C00000003", "party_id": "PTY3"}),
            ],
        );
    }
    std::fs::create_dir_all(dd.quarantine_dir("transactions")).unwrap();
    std::fs::write(
        dd.quarantine_batch("transactions", "x"),
        "{\"line\":2,\"reason\":\"amount_fen: 'abc' is not an amount\"}\n{\"line\":5,\"reason\":\"orphan\"}\n",
    )
    .unwrap();
    let report = zhiying_core::quality::QualityReport {
        generated_at: "2024-03-01T00:00:00Z".into(),
        tables: vec![zhiying_core::quality::TableQuality {
            table: "transactions".into(),
            rows: 4,
            quarantined: 2,
            duplicates_skipped: 1,
            validity: 4.0 / 6.0,
            freshest: Some("2024-02-04T00:00:00Z".into()),
            staleness_hours: Some(600.0),
            columns: vec![zhiying_core::quality::ColumnQuality {
                column: "merchant_category".into(),
                completeness: 0.25,
                validity: 1.0,
                rejected: 0,
            }],
        }],
    };
    std::fs::create_dir_all(dd.quality_report().parent().unwrap()).unwrap();
    std::fs::write(dd.quality_report(), serde_json::to_string(&report).unwrap()).unwrap();
}

/// The router plus the bearer token that plain `get` calls send (a user holding every role).
#[derive(Clone)]
struct App {
    router: axum::Router,
    token: String,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    app: App,
    store: Arc<zhiying_store::SqlStore>,
    /// A token per role, for one user holding only that role (`<role>-user`).
    tokens: std::collections::HashMap<Role, String>,
}

/// A user with `roles` and a token with scope `*`; returns the raw token.
pub(crate) async fn user_with_token(
    store: &zhiying_store::SqlStore,
    name: &str,
    roles: &[Role],
) -> String {
    use zhiying_store::OperationalStore;
    store
        .create_user(
            name,
            name,
            "$argon2id$v=19$m=19456,t=2,p=1$unused$unused",
            roles,
        )
        .await
        .unwrap();
    let token = auth::password::new_api_token();
    store
        .create_token(
            &zhiying_store::hash_token(&token),
            name,
            &["*".to_string()],
            None,
        )
        .await
        .unwrap();
    token
}

async fn fixture_with(with_links: bool, config: auth::AuthConfig) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    populate(&dd, with_links);
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    let store = Arc::new(
        zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
            .await
            .unwrap(),
    );
    let root = user_with_token(&store, "root", &Role::ALL).await;
    let mut tokens = std::collections::HashMap::new();
    for role in Role::ALL {
        tokens.insert(
            role,
            user_with_token(&store, &format!("{}-user", role.as_str()), &[role]).await,
        );
    }
    let keys =
        zhiying_store::AnchorKeyring::parse(&format!("k1:{}", "42".repeat(32)), "test").unwrap();
    let state = AppState::new(dd, Arc::new(engine), store.clone()).with_auth(config, Some(keys));
    Fixture {
        app: App {
            router: router(state),
            token: root,
        },
        store,
        tokens,
        _tmp: tmp,
    }
}

async fn fixture(with_links: bool) -> Fixture {
    fixture_with(with_links, auth::AuthConfig::default()).await
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends a request; adds the root bearer token unless the headers bring credentials
/// (or say `authorization: none` for an anonymous call).
async fn send(app: &App, method: &str, uri: &str, headers: &[(&str, &str)], body: Body) -> Got {
    let mut req = Request::builder().method(method).uri(uri);
    let brings_own = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("authorization")
            || (k.eq_ignore_ascii_case("cookie") && v.contains("zhiying_session"))
    });
    if !brings_own {
        req = req.header("authorization", format!("Bearer {}", app.token));
    }
    for (k, v) in headers {
        if !(k.eq_ignore_ascii_case("authorization") && *v == "none") {
            req = req.header(*k, *v);
        }
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get_with(app: &App, uri: &str, headers: &[(&str, &str)]) -> Got {
    send(app, "GET", uri, headers, Body::empty()).await
}

async fn get(app: &App, uri: &str) -> Got {
    get_with(app, uri, &[]).await
}

fn assert_error(g: &Got, status: u16, code: &str) {
    assert_eq!(g.status.as_u16(), status, "{}", g.body);
    assert!(
        g.header(header::CONTENT_TYPE)
            .starts_with("application/json")
    );
    let v = g.json();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    assert!(!v["error"]["hint"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn healthz_reports_engine() {
    let f = fixture(true).await;
    let g = get(&f.app, "/healthz").await;
    assert_eq!(g.status, StatusCode::OK);
    let v = g.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["engine"], "datafusion");
    assert!(
        g.header(header::CONTENT_SECURITY_POLICY)
            .contains("default-src 'self'")
    );
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_expose_table_gauges() {
    let f = fixture(true).await;
    get(&f.app, "/healthz").await;
    get(&f.app, "/healthz").await;
    get(&f.app, "/v1/customers/NOPE").await;
    get(&f.app, "/no/such/route").await;
    let g = get(&f.app, "/metrics").await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(
        g.header(header::CONTENT_TYPE)
            .starts_with("application/openmetrics-text")
    );
    let m = &g.body;
    assert!(m.contains("# TYPE zhiying_http_requests counter"), "{m}");
    assert!(
        m.contains(r#"zhiying_http_requests_total{method="GET",route="/healthz",status="200"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"zhiying_http_requests_total{method="GET",route="/v1/customers/{id}",status="404"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"zhiying_http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{m}"
    );
    assert!(
        m.contains("# TYPE zhiying_http_request_duration_seconds histogram"),
        "{m}"
    );
    assert!(m.contains(r#"zhiying_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#));
    assert!(
        m.contains(r#"zhiying_table_rows{table="customers"} 3"#),
        "{m}"
    );
    assert!(
        m.contains(r#"zhiying_table_rows{table="transactions"} 4"#),
        "{m}"
    );
    assert!(
        m.contains(r#"zhiying_quarantined_rows{table="transactions"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"zhiying_data_staleness_hours{table="transactions"} 600"#),
        "{m}"
    );
    assert!(m.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn openapi_lists_every_route_with_schemas() {
    let f = fixture(false).await;
    let v = get(&f.app, "/openapi.json").await.json();
    assert!(
        v["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        v["openapi"]
    );
    for path in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v1/customers/{id}",
        "/v1/data/tables",
    ] {
        assert!(
            v["paths"][path]["get"].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let schemas = &v["components"]["schemas"];
    for s in [
        "Customer360",
        "CustomerProfile",
        "AccountView",
        "ErrorBody",
        "DataOverview",
        "QualityReportDoc",
        "Health",
    ] {
        assert!(schemas[s].is_object(), "schema {s} missing");
    }
    let c360 = &v["paths"]["/v1/customers/{id}"]["get"];
    assert_eq!(c360["parameters"][0]["name"], "id");
    assert!(c360["responses"]["404"].is_object());
}

#[tokio::test]
async fn customer_360_gathers_the_party_and_masks_pii() {
    let f = fixture(true).await;
    let g = get(&f.app, "/v1/customers/C00000001").await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(v["party_id"], "PTY1");
    assert_eq!(v["pii_masked"], true);
    let p = &v["profile"];
    assert_eq!(p["phone"], "138****5678");
    assert_eq!(p["resident_id"], "110101********1234");
    assert_eq!(p["name"], "张**");
    assert_eq!(p["birth_date"], "1985-06-01");
    assert_eq!(p["monthly_income"], "¥15,000.00");
    assert_eq!(
        v["linked_records"],
        json!([{"customer_id": "C00000002", "source_system": "mobile", "matched_on": "phone"}])
    );
    let ids: Vec<_> = v["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id_value"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["************7890", "138****5678"],
        "newest first, masked"
    );
    // Accounts of the linked record belong to the same person.
    let accts: Vec<_> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accts, ["A1", "A2", "A3"]);
    assert_eq!(v["accounts"][1]["balance"], "¥-500.00");
    assert_eq!(
        v["balances"],
        json!([{"currency": "cny", "balance_fen": 1184660, "balance": "¥11,846.60"}])
    );
    assert_eq!(v["holdings"][0]["name_zh"], "基金</script>");
    assert_eq!(v["holdings"][1]["name_en"], "Time deposit");
    assert_eq!(v["holdings"][1]["risk_level"], "r1");
    let txns = v["recent_transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 3, "C00000003's transaction must not leak in");
    assert_eq!(txns[0]["txn_id"], "T3");
    assert_eq!(txns[0]["ts"], "2024-02-03T04:05:06Z");
    assert_eq!(txns[2]["amount"], "¥8,000.00");
    assert_eq!(
        v["monthly_flows"],
        json!({"currency": "cny", "months": [
            {"month": "2024-01", "credit_fen": 800000, "debit_fen": 12345, "transactions": 2},
            {"month": "2024-02", "credit_fen": 0, "debit_fen": 5000, "transactions": 1}]})
    );
    assert_eq!(v["recent_events"][0]["event_id"], "E2");
    let consents = v["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2);
    assert_eq!(consents[0]["purpose"], "marketing");
    assert_eq!(
        consents[0]["granted"], false,
        "the withdrawal is the latest decision"
    );
    assert_eq!(v["recent_contacts"][0]["campaign_name"], "春季理财");
    assert_eq!(v["recent_contacts"][0]["group"], "treatment");
    assert_eq!(v["recent_responses"][0]["revenue_fen"], 25000);
}

#[tokio::test]
async fn customer_360_works_without_identity_links() {
    let f = fixture(false).await;
    let v = get(&f.app, "/v1/customers/C00000001").await.json();
    assert_eq!(v["party_id"], Value::Null);
    assert_eq!(v["linked_records"], json!([]));
    assert_eq!(v["accounts"].as_array().unwrap().len(), 2);
    let d = get(&f.app, "/v1/data/tables").await.json();
    assert_eq!(d["identity_links"], false);
}

#[tokio::test]
async fn errors_are_json_with_code_message_and_hint() {
    let f = fixture(true).await;
    assert_error(
        &get(&f.app, "/v1/customers/C99999999").await,
        404,
        "customer_not_found",
    );
    // Quotes are data, not SQL: this must not match every customer.
    assert_error(
        &get(&f.app, "/v1/customers/x'%20OR%20'1'='1").await,
        404,
        "customer_not_found",
    );
    assert_error(
        &get(&f.app, &format!("/v1/customers/{}", "C".repeat(65))).await,
        400,
        "invalid_customer_id",
    );
    assert_error(
        &get(&f.app, "/v1/customers/%FF").await,
        400,
        "invalid_path_parameter",
    );
    assert_error(&get(&f.app, "/v1/nothing").await, 404, "route_not_found");
    assert_error(
        &get(&f.app, "/assets/templates/layout.html").await,
        404,
        "asset_not_found",
    );
    let post = f
        .app
        .router
        .clone()
        .oneshot(Request::post("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = axum::body::to_bytes(post.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn data_tables_report_rows_quarantine_and_quality() {
    let f = fixture(true).await;
    let v = get(&f.app, "/v1/data/tables").await.json();
    let table = |name: &str| {
        v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(table("customers")["rows"], 3);
    assert_eq!(table("customers")["zh_name"], "客户");
    assert_eq!(table("transactions")["quarantined"], 2);
    assert_eq!(table("transactions")["quarantine_files"], 1);
    assert_eq!(table("applicants")["rows"], 0);
    assert_eq!(v["total_quarantined"], 2);
    assert_eq!(v["identity_links"], true);
    assert_eq!(v["quality"]["tables"][0]["duplicates_skipped"], 1);
    assert_eq!(v["quality_error"], Value::Null);
}

#[tokio::test]
async fn console_data_page_renders_in_both_languages() {
    let f = fixture(true).await;
    let zh = get(&f.app, "/console/data").await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.body.contains(r#"<html lang="zh-CN">"#));
    assert!(
        zh.body.contains("数据概览")
            && zh.body.contains("数据质量报告")
            && zh.body.contains("即将推出")
    );
    assert!(
        zh.body.contains(r#"data-chart="table-rows""#) && zh.body.contains(r#"id="data-chart""#)
    );
    assert!(zh.body.contains("/assets/vendor/echarts.min.js"));
    assert!(
        zh.body.contains("交易"),
        "zh table names come from the catalogue"
    );
    assert!(
        zh.header(header::SET_COOKIE).is_empty(),
        "no cookie unless ?lang= chose the language"
    );

    let en = get(&f.app, "/console/data?lang=en").await;
    assert!(en.body.contains(r#"<html lang="en">"#));
    assert!(
        en.body.contains("Data overview")
            && en.body.contains("Data-quality report")
            && en.body.contains("Coming")
    );
    assert!(!en.body.contains("数据概览"));
    assert!(
        en.header(header::SET_COOKIE)
            .starts_with("zhiying_lang=en;")
    );
    // Quality details: staleness and a column's completeness.
    assert!(
        en.body.contains("600.0") && en.body.contains("25.0%"),
        "quality figures missing"
    );

    let by_cookie = get_with(
        &f.app,
        "/console/data",
        &[("cookie", "a=b; zhiying_lang=en")],
    )
    .await;
    assert!(by_cookie.body.contains("Data overview"));
    let by_header = get_with(
        &f.app,
        "/console/data",
        &[("accept-language", "en-GB,en;q=0.9")],
    )
    .await;
    assert!(by_header.body.contains("Data overview"));
    let query_beats_cookie = get_with(
        &f.app,
        "/console/data?lang=zh",
        &[("cookie", "zhiying_lang=en")],
    )
    .await;
    assert!(query_beats_cookie.body.contains("数据概览"));
}

#[tokio::test]
async fn console_customer_pages_render_escaped_in_both_languages() {
    let f = fixture(true).await;
    let zh = get(&f.app, "/console/customers/C00000001").await;
    assert_eq!(zh.status, StatusCode::OK, "{}", zh.body);
    assert!(zh.body.contains("客户全景视图") && zh.body.contains("最近 20 笔交易"));
    assert!(
        zh.body.contains("138****5678") && !zh.body.contains("13812345678"),
        "phone must be masked"
    );
    assert!(zh.body.contains(r#"data-chart="monthly-flows""#));
    // Chart JSON cannot close its <script> block; HTML text is escaped.
    let chart = zh
        .body
        .split(r#"id="customer-chart">"#)
        .nth(1)
        .unwrap()
        .split("</script>")
        .next()
        .unwrap();
    assert!(chart.contains("2024-01") && !chart.contains('<'), "{chart}");
    assert!(zh.body.contains("基金&lt;&#x2f;script&gt;") && !zh.body.contains("基金</script>"));

    let en = get(&f.app, "/console/customers/C00000001?lang=en").await;
    assert!(
        en.body.contains("Customer 360")
            && en.body.contains("Last 20 transactions")
            && en.body.contains("Money in")
    );
    assert!(en.body.contains("Fund &lt;&#x2f;script&gt;&lt;b&gt;"));

    let c3 = get(&f.app, "/console/customers/C00000003?lang=en").await;
    assert!(c3.body.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") && !c3.body.contains("<b>x</b>"));

    let missing = get(&f.app, "/console/customers/NOPE?lang=en").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("Something went wrong")
            && missing.body.contains("customer_not_found")
    );

    let list = get(&f.app, "/console/customers").await;
    assert!(
        list.body.contains("客户列表")
            && list.body.contains(r#"href="/console/customers/C00000003""#)
    );
    let list_en = get(&f.app, "/console/customers?lang=en").await;
    assert!(list_en.body.contains("Customers (first 20)"));
}

#[tokio::test]
async fn console_search_redirects_and_lists() {
    let f = fixture(true).await;
    let exact = get(&f.app, "/console/customers?q=C00000002").await;
    assert_eq!(exact.status, StatusCode::SEE_OTHER);
    assert_eq!(
        exact.header(header::LOCATION),
        "/console/customers/C00000002"
    );
    let exact_among_prefixes = get(&f.app, "/console/customers?q=C0000000").await;
    assert_eq!(
        exact_among_prefixes.status,
        StatusCode::OK,
        "no exact match: list the prefix matches"
    );
    let prefix = get(&f.app, "/console/customers?q=C0000000&lang=en").await;
    assert_eq!(prefix.status, StatusCode::OK);
    assert!(prefix.body.contains("Search results") && prefix.body.contains("C00000003"));
    let phone = get(&f.app, "/console/customers?q=138-1234-5678").await;
    assert!(
        phone.body.contains("C00000001")
            && phone.body.contains("C00000002")
            && !phone.body.contains(">C00000003<")
    );
    let none = get(&f.app, "/console/customers?q=zzz&lang=en").await;
    assert!(none.body.contains("No customer matches"));

    let root = get(&f.app, "/console?lang=en").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.header(header::LOCATION), "/console/data?lang=en");
    let html404 = get_with(&f.app, "/console/nope", &[("accept", "text/html")]).await;
    assert_eq!(html404.status, StatusCode::NOT_FOUND);
    assert!(html404.body.contains("<html"));
}

#[tokio::test]
async fn assets_are_embedded_with_etags() {
    let f = fixture(false).await;
    let js = get(&f.app, "/assets/vendor/echarts.min.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header(header::CONTENT_TYPE).contains("javascript"));
    assert!(js.body.len() > 500_000);
    let etag = js.header(header::ETAG).to_string();
    let again = get_with(
        &f.app,
        "/assets/vendor/echarts.min.js",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let css = get(&f.app, "/assets/static/console.css").await;
    assert!(css.header(header::CONTENT_TYPE).starts_with("text/css"));
}

#[test]
fn quality_schema_mirror_matches_core() {
    let report = zhiying_core::quality::QualityReport {
        generated_at: "2024-03-01T00:00:00Z".into(),
        tables: vec![zhiying_core::quality::TableQuality {
            table: "t".into(),
            freshest: Some("x".into()),
            staleness_hours: Some(1.0),
            columns: vec![Default::default()],
            ..Default::default()
        }],
    };
    let v = serde_json::to_value(&report).unwrap();
    let mirror: crate::data::QualityReportDoc =
        serde_json::from_value(v.clone()).expect("mirror misses a field");
    assert_eq!(
        serde_json::to_value(&mirror).unwrap(),
        v,
        "mirror differs from zhiying_core::quality"
    );
}

#[test]
fn every_template_renders_in_both_languages_without_undefined_keys() {
    // Rendering with the real pages happens above; this catches a key used only on the error page.
    let t = console_templates_smoke();
    assert!(t.iter().all(|html| html.contains("</html>")));
}

fn console_templates_smoke() -> Vec<String> {
    let templates = console::Templates::load();
    let mut out = Vec::new();
    for lang in [i18n::Lang::Zh, i18n::Lang::En] {
        let ctx = minijinja::context! {
            t => i18n::table(lang), lang => lang.tag(), nav => Vec::<Value>::new(), active => "", me => (),
            switch_zh => "/?lang=zh", switch_en => "/?lang=en",
            status => 500, code => "x", message => "m", hint => "h",
        };
        out.push(templates.render("error.html", ctx).unwrap());
    }
    out
}

// ---------------------------------------------------------------------------------------
// Authentication and authorisation
// ---------------------------------------------------------------------------------------

use zhiying_core::access::{Permission, role_permissions};
use zhiying_store::OperationalStore;

/// A concrete URI for a registered path.
fn sample_uri(path: &str) -> String {
    path.replace("{id}", "C00000001")
        .replace("{version}", "1")
        .replace("{*path}", "static/console.css")
}

fn is_login_redirect(g: &Got) -> bool {
    g.status == StatusCode::SEE_OTHER
        && g.header(header::LOCATION)
            .starts_with("/console/login?next=")
}

#[tokio::test]
async fn every_route_rejects_anonymous_callers_and_grants_exactly_the_role_table() {
    let f = fixture(true).await;
    let routes = crate::all_routes();
    let specs = routes.specs().to_vec();
    assert!(specs.len() >= 17, "registry has {} routes", specs.len());
    let public: Vec<&str> = specs
        .iter()
        .filter(|s| s.access == auth::Access::Public)
        .map(|s| s.path)
        .collect();
    assert_eq!(
        public,
        [
            "/healthz",
            "/console/login",
            "/console/login",
            "/assets/{*path}",
            "/favicon.ico"
        ],
        "only the health check, the login page and static assets are public"
    );
    for spec in &specs {
        let uri = sample_uri(spec.path);
        let method = spec.method.as_str();
        let body = || {
            if method == "POST" {
                Body::from("{}")
            } else {
                Body::empty()
            }
        };
        let anon = send(
            &f.app,
            method,
            &uri,
            &[
                ("authorization", "none"),
                ("content-type", "application/json"),
            ],
            body(),
        )
        .await;
        if spec.access == auth::Access::Public {
            assert!(
                anon.status != StatusCode::UNAUTHORIZED && !is_login_redirect(&anon),
                "{method} {uri} is public: {}",
                anon.status
            );
            continue;
        }
        let console = uri == "/" || uri.starts_with("/console");
        if console && method == "GET" {
            assert!(
                is_login_redirect(&anon),
                "{method} {uri}: anonymous must be sent to the login page, got {}",
                anon.status
            );
        } else {
            assert_error(&anon, 401, "unauthenticated");
            assert_eq!(
                anon.header(header::WWW_AUTHENTICATE),
                "Bearer realm=\"zhiying\""
            );
        }
        for role in Role::ALL {
            let bearer = format!("Bearer {}", f.tokens[&role]);
            let got = send(
                &f.app,
                method,
                &uri,
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                body(),
            )
            .await;
            let allowed = match spec.access {
                auth::Access::Perm(p) => role_permissions(role).contains(&p),
                _ => true,
            };
            if allowed {
                assert!(
                    got.status != StatusCode::UNAUTHORIZED && got.status != StatusCode::FORBIDDEN,
                    "{method} {uri} must be open to {}: {} {}",
                    role.as_str(),
                    got.status,
                    got.body
                );
            } else {
                assert_eq!(
                    got.status,
                    StatusCode::FORBIDDEN,
                    "{method} {uri} must be closed to {}: {}",
                    role.as_str(),
                    got.body
                );
            }
        }
    }
}

#[tokio::test]
async fn a_route_outside_the_registry_is_refused() {
    let f = fixture(false).await;
    let (routes, registry) = auth::Routes::new()
        .get("/v1/known", Permission::DataRead, || async { "ok" })
        .into_parts();
    let sneaky = routes.route("/v1/sneaky", axum::routing::get(|| async { "secret" }));
    let state = {
        // Reuse the fixture's state through a fresh AppState on the same store.
        let dd = DataDir::new(f._tmp.path().join("data"));
        let engine = DataFusionEngine::open(&dd).await.unwrap();
        AppState::new(dd, Arc::new(engine), f.store.clone())
    };
    let guard = auth::Guard {
        state: state.clone(),
        registry,
    };
    let app = App {
        router: sneaky
            .route_layer(axum::middleware::from_fn_with_state(guard, auth::enforce))
            .with_state(state),
        token: f.app.token.clone(),
    };
    assert_eq!(get(&app, "/v1/known").await.body, "ok");
    let g = get(&app, "/v1/sneaky").await;
    assert_error(&g, 403, "route_without_permission");
    assert!(!g.body.contains("secret"));
}

#[tokio::test]
async fn tokens_are_scoped_expiring_revocable_and_die_with_their_user() {
    let f = fixture(false).await;
    let s = f.store.as_ref();
    s.create_user("ops", "Ops", "x", &[Role::Admin])
        .await
        .unwrap();
    let mk = |scopes: &[&str], expires: Option<i64>| {
        let t = auth::password::new_api_token();
        let scopes: Vec<String> = scopes.iter().map(|x| x.to_string()).collect();
        (t, scopes, expires)
    };
    let (scoped, sc, ex) = mk(&["data.read"], None);
    s.create_token(&zhiying_store::hash_token(&scoped), "ops", &sc, ex)
        .await
        .unwrap();
    let auth_h = format!("Bearer {scoped}");
    assert_eq!(
        get_with(&f.app, "/v1/data/tables", &[("authorization", &auth_h)])
            .await
            .status,
        StatusCode::OK
    );
    assert_error(
        &get_with(
            &f.app,
            "/v1/customers/C00000001",
            &[("authorization", &auth_h)],
        )
        .await,
        403,
        "forbidden",
    );
    let me = get_with(&f.app, "/v1/me", &[("authorization", &auth_h)])
        .await
        .json();
    assert_eq!(me["permissions"], json!(["data.read"]));
    assert_eq!(me["via"], "token");

    let (expired, sc, _) = mk(&["*"], None);
    s.create_token(&zhiying_store::hash_token(&expired), "ops", &sc, Some(1))
        .await
        .unwrap();
    assert_error(
        &get_with(
            &f.app,
            "/v1/data/tables",
            &[("authorization", &format!("Bearer {expired}"))],
        )
        .await,
        401,
        "invalid_token",
    );

    assert!(
        s.revoke_token(&zhiying_store::hash_token(&scoped))
            .await
            .unwrap()
    );
    assert_error(
        &get_with(&f.app, "/v1/data/tables", &[("authorization", &auth_h)]).await,
        401,
        "invalid_token",
    );

    let (live, sc, _) = mk(&["*"], None);
    s.create_token(&zhiying_store::hash_token(&live), "ops", &sc, None)
        .await
        .unwrap();
    let live_h = format!("Bearer {live}");
    assert_eq!(
        get_with(&f.app, "/metrics", &[("authorization", &live_h)])
            .await
            .status,
        StatusCode::OK
    );
    s.update_user(
        "ops",
        &zhiying_store::UserUpdate {
            disabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_error(
        &get_with(&f.app, "/metrics", &[("authorization", &live_h)]).await,
        401,
        "invalid_token",
    );

    assert_error(
        &get_with(&f.app, "/v1/me", &[("authorization", "Basic YTpi")]).await,
        401,
        "invalid_authorization",
    );
    assert_error(
        &get_with(&f.app, "/v1/me", &[("authorization", "Bearer zy_nope")]).await,
        401,
        "invalid_token",
    );
}

/// The hidden CSRF value in a rendered form.
fn hidden_csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string()
}

fn set_cookie_value(g: &Got, name: &str) -> Option<String> {
    g.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.to_string())
}

async fn post_form(app: &App, uri: &str, cookie: &str, form: &str) -> Got {
    send(
        app,
        "POST",
        uri,
        &[
            ("authorization", "none"),
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Body::from(form.to_string()),
    )
    .await
}

async fn login(app: &App, user: &str, pw: &str) -> (Got, String) {
    let page = get_with(
        app,
        "/console/login?next=/console/customers",
        &[("authorization", "none")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = hidden_csrf(&page.body);
    let c = set_cookie_value(&page, "zhiying_login_csrf").unwrap_or_default();
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    let cookie = format!("zhiying_login_csrf={csrf}");
    let form = format!("username={user}&password={pw}&csrf={csrf}&next=%2Fconsole%2Fcustomers");
    (
        post_form(app, "/console/login", &cookie, &form).await,
        cookie,
    )
}

#[tokio::test]
async fn console_login_session_csrf_and_logout() {
    let f = fixture(true).await;
    let hash = auth::password::hash_password("a long demo password").unwrap();
    f.store
        .create_user("mia", "Mia 米娅", &hash, &[Role::Marketer])
        .await
        .unwrap();

    // Anonymous: redirected to the login page, which says who may sign in.
    let anon = get_with(
        &f.app,
        "/console/data?lang=en",
        &[("authorization", "none")],
    )
    .await;
    assert_eq!(
        anon.header(header::LOCATION),
        "/console/login?next=%2Fconsole%2Fdata%3Flang%3Den"
    );
    let page = get_with(
        &f.app,
        "/console/login?lang=en",
        &[("authorization", "none")],
    )
    .await;
    assert!(page.body.contains("Sign in") && page.body.contains("name=\"password\""));

    // Wrong password, then no login CSRF cookie: refused, audited.
    let (bad, _) = login(&f.app, "mia", "wrong password here").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("用户名或密码错误"), "{}", bad.body);
    let no_cookie = post_form(
        &f.app,
        "/console/login",
        "",
        "username=mia&password=a+long+demo+password&csrf=x",
    )
    .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);

    // Right password: a session cookie, HttpOnly and SameSite=Lax, and the redirect to next.
    let (ok, _) = login(&f.app, "mia", "a+long+demo+password").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.header(header::LOCATION), "/console/customers");
    let sc = set_cookie_value(&ok, "zhiying_session").unwrap();
    assert!(
        sc.contains("HttpOnly") && sc.contains("SameSite=Lax") && !sc.contains("Secure"),
        "{sc}"
    );
    let sid = sc
        .trim_start_matches("zhiying_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session_cookie = format!("zhiying_session={sid}");
    // The raw session id is not what the store keeps.
    assert!(f.store.session(&sid).await.unwrap().is_none());
    assert!(
        f.store
            .session(&zhiying_store::hash_token(&sid))
            .await
            .unwrap()
            .is_some()
    );

    let data = get_with(&f.app, "/console/data", &[("cookie", &session_cookie)]).await;
    assert_eq!(data.status, StatusCode::OK);
    assert!(data.body.contains("Mia 米娅") && data.body.contains("action=\"/console/logout\""));
    assert!(
        !data.body.contains("/console/audit"),
        "a marketer sees no audit link"
    );
    let csrf = hidden_csrf(&data.body);
    assert_eq!(csrf.len(), 64);

    // A marketer is refused the audit page with an HTML 403 page in the console.
    let denied = get_with(
        &f.app,
        "/console/audit",
        &[("cookie", &session_cookie), ("accept", "text/html")],
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        denied.body.contains("<html") && denied.body.contains("audit.read"),
        "{}",
        denied.body
    );

    // Logout needs the CSRF token, and a same-site origin.
    let no_csrf = post_form(&f.app, "/console/logout", &session_cookie, "").await;
    assert_error(&no_csrf, 403, "csrf_failed");
    let wrong_origin = send(
        &f.app,
        "POST",
        "/console/logout",
        &[
            ("cookie", &session_cookie),
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
            ("x-csrf-token", &csrf),
        ],
        Body::empty(),
    )
    .await;
    assert_error(&wrong_origin, 403, "csrf_failed");
    let out = post_form(
        &f.app,
        "/console/logout",
        &session_cookie,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(set_cookie_value(&out, "zhiying_session").is_some_and(|c| c.contains("Max-Age=0")));
    assert!(is_login_redirect(
        &get_with(&f.app, "/console/data", &[("cookie", &session_cookie)]).await
    ));

    let actions: Vec<String> = f
        .store
        .audit_entries(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["auth.login_failed", "auth.login", "auth.logout"]);
}

#[tokio::test]
async fn logins_are_rate_limited_and_cookies_are_secure_behind_tls() {
    let f = fixture(false).await;
    let hash = auth::password::hash_password("a long demo password").unwrap();
    f.store
        .create_user("kim", "Kim", &hash, &[Role::Analyst])
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            login(&f.app, "kim", "nope nope nope").await.0.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let (locked, _) = login(&f.app, "kim", "a+long+demo+password").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused while locked"
    );
    assert!(
        locked
            .header(header::RETRY_AFTER)
            .parse::<u64>()
            .is_ok_and(|s| s > 0 && s <= 900)
    );
    let rate_limited = f
        .store
        .audit_search(
            &zhiying_store::AuditFilter {
                action: Some("auth.login_failed".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(rate_limited.len(), 6);
    assert!(rate_limited[0].detail.contains("rate_limited"));

    f.store
        .create_user("lee", "Lee", &hash, &[Role::Analyst])
        .await
        .unwrap();
    let page = get_with(&f.app, "/console/login", &[("authorization", "none")]).await;
    let csrf = hidden_csrf(&page.body);
    let tls = send(
        &f.app,
        "POST",
        "/console/login",
        &[
            ("authorization", "none"),
            ("cookie", &format!("zhiying_login_csrf={csrf}")),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-forwarded-proto", "https"),
        ],
        Body::from(format!(
            "username=lee&password=a+long+demo+password&csrf={csrf}"
        )),
    )
    .await;
    assert_eq!(tls.status, StatusCode::SEE_OTHER);
    assert!(set_cookie_value(&tls, "zhiying_session").is_some_and(|c| c.contains("; Secure")));
}

#[tokio::test]
async fn sessions_expire_when_idle_or_old() {
    let f = fixture_with(
        false,
        auth::AuthConfig {
            idle_timeout: std::time::Duration::from_secs(60),
            ..Default::default()
        },
    )
    .await;
    f.store
        .create_user("old", "Old", "x", &[Role::Analyst])
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    for (sid, last_seen, expires) in [
        ("idle", now - 120_000_000, now + 3_600_000_000),
        ("aged", now, now - 1),
        ("fresh", now, now + 3_600_000_000),
    ] {
        f.store
            .create_session(&zhiying_store::Session {
                id_hash: zhiying_store::hash_token(sid),
                username: "old".into(),
                csrf_token: "c".into(),
                created_at: now,
                last_seen_at: last_seen,
                expires_at: expires,
            })
            .await
            .unwrap();
    }
    for sid in ["idle", "aged"] {
        let g = get_with(
            &f.app,
            "/console/data",
            &[("cookie", &format!("zhiying_session={sid}"))],
        )
        .await;
        assert!(is_login_redirect(&g), "{sid}: {}", g.status);
        assert!(
            f.store
                .session(&zhiying_store::hash_token(sid))
                .await
                .unwrap()
                .is_none(),
            "{sid} deleted"
        );
    }
    assert_eq!(
        get_with(
            &f.app,
            "/console/data",
            &[("cookie", "zhiying_session=fresh")]
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unmasking_needs_the_permission_and_a_reason_and_is_audited() {
    let f = fixture(true).await;
    let compliance = format!("Bearer {}", f.tokens[&Role::ComplianceOfficer]);
    let marketer = format!("Bearer {}", f.tokens[&Role::Marketer]);

    let no_reason = get_with(
        &f.app,
        "/v1/customers/C00000001?unmask=true",
        &[("authorization", &compliance)],
    )
    .await;
    assert_error(&no_reason, 400, "unmask_reason_required");

    let clear = get_with(
        &f.app,
        "/v1/customers/C00000001?unmask=true&reason=complaint%20%23118",
        &[("authorization", &compliance)],
    )
    .await;
    assert_eq!(clear.status, StatusCode::OK, "{}", clear.body);
    let v = clear.json();
    assert_eq!(v["pii_masked"], false);
    assert_eq!(v["profile"]["phone"], "13812345678");
    assert_eq!(v["profile"]["resident_id"], "110101198506011234");
    assert_eq!(v["profile"]["name"], "张三丰");

    // A marketer asking to unmask gets masked values, and nothing is audited for them.
    let masked = get_with(
        &f.app,
        "/v1/customers/C00000001?unmask=true&reason=curious",
        &[("authorization", &marketer)],
    )
    .await
    .json();
    assert_eq!(masked["pii_masked"], true);
    assert_eq!(masked["profile"]["phone"], "138****5678");

    // The console form: POST with a reason shows clear values, once, and audits them.
    let page = send(
        &f.app,
        "POST",
        "/console/customers/C00000001/unmask",
        &[
            ("authorization", &compliance),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Body::from("reason=identity+check+at+branch"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("13812345678") && page.body.contains("identity check at branch"));
    assert_eq!(page.header(header::CACHE_CONTROL), "no-store");
    let masked_page = get_with(
        &f.app,
        "/console/customers/C00000001",
        &[("authorization", &compliance)],
    )
    .await;
    assert!(
        !masked_page.body.contains("13812345678")
            && masked_page
                .body
                .contains("action=\"/console/customers/C00000001/unmask\"")
    );

    let unmasks = f
        .store
        .audit_search(
            &zhiying_store::AuditFilter {
                action: Some("pii.unmask".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, serde_json::Value)> = unmasks
        .iter()
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            (
                e.actor.clone(),
                e.target.clone(),
                json!([d["reason"], d["via"]]),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "compliance_officer-user".to_string(),
                "customer:C00000001".to_string(),
                json!(["identity check at branch", "console"])
            ),
            (
                "compliance_officer-user".to_string(),
                "customer:C00000001".to_string(),
                json!(["complaint #118", "api"])
            ),
        ]
    );
}

#[tokio::test]
async fn audit_page_and_api_show_entries_and_detect_tampering() {
    let f = fixture(false).await;
    for i in 0..3 {
        f.store
            .append_audit(
                "alice",
                "auth.login",
                &format!("user:alice{i}"),
                &json!({"i": i}),
            )
            .await
            .unwrap();
    }
    f.store
        .append_audit("bob", "token.create", "token:abc", &json!({}))
        .await
        .unwrap();
    let compliance = format!("Bearer {}", f.tokens[&Role::ComplianceOfficer]);

    let ok = get_with(
        &f.app,
        "/v1/audit/verify",
        &[("authorization", &compliance)],
    )
    .await
    .json();
    assert_eq!(
        (ok["ok"].clone(), ok["entries"].clone()),
        (json!(true), json!(4))
    );
    let only_auth = get_with(
        &f.app,
        "/v1/audit/entries?action=auth.&limit=2",
        &[("authorization", &compliance)],
    )
    .await
    .json();
    assert_eq!(
        only_auth.as_array().map(|a| a
            .iter()
            .map(|e| e["seq"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()),
        Some(vec![3, 2])
    );

    let page = get_with(
        &f.app,
        "/console/audit?lang=en&actor=bob",
        &[("authorization", &compliance)],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Chain intact")
            && page.body.contains("token.create")
            && !page.body.contains("user:alice0")
    );

    sqlx::query("UPDATE audit_log SET target = 'user:mallory' WHERE seq = 2")
        .execute(f.store.pool())
        .await
        .unwrap();
    let bad = get_with(
        &f.app,
        "/v1/audit/verify",
        &[("authorization", &compliance)],
    )
    .await
    .json();
    assert_eq!(
        (bad["ok"].clone(), bad["first_bad_seq"].clone()),
        (json!(false), json!(2))
    );
    let page = get_with(
        &f.app,
        "/console/audit?lang=en",
        &[("authorization", &compliance)],
    )
    .await;
    assert!(
        page.body.contains("Tampering detected") && page.body.contains("#2"),
        "{}",
        page.body
    );

    assert_error(
        &get_with(
            &f.app,
            "/v1/audit/verify",
            &[(
                "authorization",
                &format!("Bearer {}", f.tokens[&Role::Marketer]),
            )],
        )
        .await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn copy_checker_api() {
    let f = fixture(false).await;
    let marketer = format!("Bearer {}", f.tokens[&Role::Marketer]);
    let g = send(
        &f.app,
        "POST",
        "/v1/compliance/check-copy",
        &[
            ("authorization", &marketer),
            ("content-type", "application/json"),
        ],
        Body::from(json!({"text": "稳赚不赔，保本保收益！"}).to_string()),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(v["blocking"], true);
    let ids: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "prohibited.no_risk",
            "prohibited.guarantee",
            "prohibited.guarantee"
        ]
    );
    assert_eq!(v["violations"][0]["category"], "prohibited_claim");
    assert_eq!(
        (
            v["violations"][2]["char_start"].clone(),
            v["violations"][2]["char_end"].clone()
        ),
        (json!(7), json!(10))
    );
    let empty = send(
        &f.app,
        "POST",
        "/v1/compliance/check-copy",
        &[
            ("authorization", &marketer),
            ("content-type", "application/json"),
        ],
        Body::from(r#"{"text": "  "}"#),
    )
    .await;
    assert_error(&empty, 400, "invalid_text");
    let analyst = format!("Bearer {}", f.tokens[&Role::Analyst]);
    let denied = send(
        &f.app,
        "POST",
        "/v1/compliance/check-copy",
        &[
            ("authorization", &analyst),
            ("content-type", "application/json"),
        ],
        Body::from(r#"{"text": "x"}"#),
    )
    .await;
    assert_error(&denied, 403, "forbidden");
}
