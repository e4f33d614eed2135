//! Tag correctness on a hand-computed fixture bank, and the user-tag lifecycle.
//!
//! As of 2026-10-31 (the end of the as-of day is 2026-11-01T00:00Z). Every expected value
//! below is worked out by hand from the rows written here and the thresholds in
//! `src/builtin/*.toml`:
//!
//! | customer | transactions | R (days → score) | F (count → score) | M (yuan → score) | class |
//! |---|---|---|---|---|---|
//! | C01 | 45 × 3,000 in the last 60 days | 2 → 5 | 45 → 3 | 135,000 → 3 | important_value |
//! | C02 | 5 × 30,000, last 10 days ago | 10 → 4 | 5 → 1 | 150,000 → 3 | important_develop |
//! | C03 | 45 × 3,000, 100–144 days ago | 100 → 2 | 45 → 3 | 135,000 → 3 | important_keep |
//! | C04 | 2 × 100,000, 200 days ago | 200 → 1 | 2 → 1 | 200,000 → 3 | important_winback |
//! | C05 | 45 × 100 in the last 60 days | 2 → 5 | 45 → 3 | 4,500 → 1 | general_value |
//! | C06 | 1 × 100, 3 days ago | 3 → 5 | 1 → 1 | 100 → 1 | general_develop |
//! | C07 | 45 × 100, 120–164 days ago | 120 → 2 | 45 → 3 | 4,500 → 1 | general_keep |
//! | C08 | none | null → 1 | 0 → 1 | 0 → 1 | general_winback |

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value as J, json};
use zhiying_core::DataDir;
use zhiying_core::schema::{self, TableDef};
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_profiles::build::{self, BuildOptions};
use zhiying_profiles::catalog;
use zhiying_profiles::explain;
use zhiying_profiles::rule::Value;

const AS_OF: &str = "2026-10-31";

fn write_parquet(path: &std::path::Path, schema: Arc<Schema>, rows: &[J]) {
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let reader = zhiying_engine::arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(100_000)
        .build(Cursor::new(ndjson.into_bytes()))
        .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    for b in reader {
        w.write(&b.unwrap()).unwrap();
    }
    w.close().unwrap();
}

fn fact(dd: &DataDir, table: &TableDef, rows: Vec<J>) {
    write_parquet(
        &dd.fact_batch(table.name, "fixture"),
        table.arrow_schema(),
        &rows,
    );
}

/// A UTC timestamp `days` days and `hour` hours before the end of the as-of day.
fn ago(days: i64, hour: i64) -> String {
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap();
    (end - chrono::Duration::days(days) - chrono::Duration::hours(hour))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

struct Txns {
    rows: Vec<J>,
}

impl Txns {
    fn add(&mut self, cust: &str, ts: &str, yuan: i64, direction: &str, typ: &str) {
        let n = self.rows.len();
        self.rows.push(json!({
            "txn_id": format!("T{n:05}"), "account_id": format!("A-{cust}"), "customer_id": cust,
            "ts": ts, "amount_fen": yuan * 100, "currency": "cny", "direction": direction,
            "channel": if typ == "salary" { "batch" } else { "mobile" }, "txn_type": typ,
        }));
    }
    /// `n` purchases of `yuan`, one a day, the newest `newest_days` days + 14 h before the end.
    fn series(&mut self, cust: &str, n: i64, yuan: i64, newest_days: i64) {
        for i in 0..n {
            self.add(cust, &ago(newest_days + i, 14), yuan, "debit", "purchase");
        }
    }
}

fn customer(
    id: &str,
    gender: Option<&str>,
    birth: Option<&str>,
    city: &str,
    risk: Option<&str>,
    open: &str,
) -> J {
    json!({"customer_id": id, "source_system": "core", "gender": gender, "birth_date": birth,
           "city": city, "risk_level": risk, "open_date": open, "monthly_income_fen": 1_200_000})
}

fn populate(dd: &DataDir) {
    let ids = [
        "C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09", "C10", "C11", "C12", "C13",
    ];
    let mut customers: Vec<J> = ids
        .iter()
        .map(|id| {
            customer(
                id,
                Some("f"),
                Some("1985-05-05"),
                "杭州",
                Some("c3"),
                "2020-01-01",
            )
        })
        .collect();
    customers[0] = customer(
        "C01",
        Some("m"),
        Some("1990-11-01"),
        "上海",
        Some("c4"),
        "2018-06-01",
    );
    customers[1] = customer(
        "C02",
        Some("f"),
        Some("1960-10-31"),
        "成都",
        Some("c1"),
        "2015-03-01",
    );
    customers[5] = customer(
        "C06",
        Some("m"),
        Some("2000-01-01"),
        "北京",
        Some("c2"),
        "2026-09-01",
    );
    customers[7] = json!({"customer_id": "C08", "source_system": "core", "city": "拉萨", "open_date": "2020-01-01"});
    // Opened after the as-of date: not a customer yet.
    customers.push(customer(
        "C99",
        Some("m"),
        Some("1990-01-01"),
        "上海",
        Some("c3"),
        "2026-11-15",
    ));
    fact(dd, &schema::CUSTOMERS, customers);

    fact(
        dd,
        &schema::ACCOUNTS,
        vec![
            json!({"account_id": "A-C01", "customer_id": "C01", "account_type": "savings", "currency": "cny", "open_date": "2018-06-01", "status": "active", "balance_fen": 60_000_000}),
            json!({"account_id": "A-C01-TD", "customer_id": "C01", "account_type": "time_deposit", "currency": "cny", "open_date": "2019-01-01", "status": "active", "balance_fen": 10_000_000}),
            json!({"account_id": "A-C01-USD", "customer_id": "C01", "account_type": "savings", "currency": "usd", "open_date": "2019-01-01", "status": "active", "balance_fen": 99_000_000}),
            json!({"account_id": "A-C01-L", "customer_id": "C01", "account_type": "loan", "currency": "cny", "open_date": "2019-01-01", "status": "active", "balance_fen": -20_000_000}),
            json!({"account_id": "A-C03", "customer_id": "C03", "account_type": "savings", "currency": "cny", "open_date": "2019-01-01", "status": "closed", "balance_fen": 90_000_000}),
        ],
    );
    fact(
        dd,
        &schema::PRODUCTS,
        vec![
            json!({"product_id": "P1", "name_zh": "定期", "name_en": "TD", "category": "time_deposit", "risk_level": "r1", "min_amount_fen": 1, "launch_date": "2010-01-01"}),
            json!({"product_id": "P2", "name_zh": "基金", "name_en": "Fund", "category": "fund", "risk_level": "r4", "min_amount_fen": 1, "launch_date": "2010-01-01"}),
            json!({"product_id": "P3", "name_zh": "活期", "name_en": "Demand", "category": "deposit", "risk_level": "r1", "min_amount_fen": 1, "launch_date": "2010-01-01"}),
            json!({"product_id": "P4", "name_zh": "理财", "name_en": "Wealth", "category": "wealth", "risk_level": "r2", "min_amount_fen": 1, "launch_date": "2010-01-01"}),
        ],
    );
    fact(
        dd,
        &schema::PRODUCT_HOLDINGS,
        vec![
            json!({"holding_id": "H1", "customer_id": "C01", "product_id": "P1", "start_date": "2020-01-01", "amount_fen": 10_000_000, "status": "active"}),
            json!({"holding_id": "H2", "customer_id": "C01", "product_id": "P2", "start_date": "2021-01-01", "amount_fen": 5_000_000, "status": "active"}),
            json!({"holding_id": "H3", "customer_id": "C01", "product_id": "P3", "start_date": "2018-06-01", "amount_fen": 100, "status": "active"}),
            // Ended before the as-of date: not held.
            json!({"holding_id": "H4", "customer_id": "C01", "product_id": "P4", "start_date": "2020-01-01", "end_date": "2026-06-30", "amount_fen": 100, "status": "matured"}),
            // Starts after the as-of date: not held yet.
            json!({"holding_id": "H5", "customer_id": "C02", "product_id": "P4", "start_date": "2026-11-10", "amount_fen": 100, "status": "active"}),
        ],
    );

    let mut t = Txns { rows: Vec::new() };
    t.series("C01", 45, 3_000, 2);
    for i in 0..5 {
        t.add("C02", &ago(10 + i, 0), 30_000, "credit", "transfer_in");
    }
    t.series("C03", 45, 3_000, 100);
    t.add("C04", &ago(200, 0), 100_000, "credit", "transfer_in");
    t.add("C04", &ago(201, 0), 100_000, "debit", "transfer_out");
    t.series("C05", 45, 100, 2);
    t.add("C06", &ago(3, 14), 100, "debit", "purchase");
    t.series("C07", 45, 100, 120);
    // Salary: C09 regular (Jul–Oct, October has a bonus), C10 only two months in the window,
    // C11 irregular amounts (two on the ±20% boundary). Salary lands on the 10th, 01:30 UTC.
    for (cust, months) in [
        (
            "C09",
            vec![
                ("2026-07", 10_000),
                ("2026-08", 10_200),
                ("2026-09", 9_900),
                ("2026-10", 30_000),
            ],
        ),
        (
            "C10",
            vec![
                ("2026-06", 10_000),
                ("2026-09", 10_000),
                ("2026-10", 10_000),
            ],
        ),
        (
            "C11",
            vec![
                ("2026-07", 5_000),
                ("2026-08", 12_000),
                ("2026-09", 20_000),
                ("2026-10", 8_000),
            ],
        ),
    ] {
        for (m, yuan) in months {
            t.add(cust, &format!("{m}-10T01:30:00Z"), yuan, "credit", "salary");
        }
    }
    // Large inflow: C12 receives 80,000 against a usual 5,000 a month; C13 60,000 against 30,000.
    for (cust, usual, big) in [("C12", 5_000, 80_000), ("C13", 30_000, 60_000)] {
        t.add(cust, &ago(5, 0), big, "credit", "transfer_in");
        for k in 0..11 {
            t.add(cust, &ago(45 + 30 * k, 0), usual, "credit", "transfer_in");
        }
    }
    // After the as-of date: must be ignored everywhere.
    t.add(
        "C08",
        "2026-11-20T00:00:00Z",
        1_000_000,
        "credit",
        "transfer_in",
    );
    fact(dd, &schema::TRANSACTIONS, t.rows);

    let ev = |id: &str, cust: &str, ts: &str, channel: &str| json!({"event_id": id, "customer_id": cust, "ts": ts, "channel": channel, "event_type": "login"});
    fact(
        dd,
        &schema::EVENTS,
        vec![
            ev("E1", "C01", "2026-10-01T12:00:00Z", "mobile_app"),
            ev("E2", "C01", "2026-10-02T12:30:00Z", "mobile_app"),
            ev("E3", "C01", "2026-10-03T12:10:00Z", "mobile_app"),
            ev("E4", "C01", "2026-10-04T02:00:00Z", "branch"),
            ev("E5", "C02", "2026-10-04T02:00:00Z", "branch"),
            ev("E6", "C02", "2026-10-05T03:00:00Z", "branch"),
            ev("E7", "C02", "2026-10-05T12:00:00Z", "wechat"),
        ],
    );
}

/// Reads `tags.parquet` into key → (customer → value).
fn read_tags(dd: &DataDir) -> (Arc<Schema>, BTreeMap<String, BTreeMap<String, Value>>) {
    let f = std::fs::File::open(build::tags_parquet(dd)).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut schema = None;
    for b in reader {
        let b = b.unwrap();
        schema = Some(b.schema());
        for row in 0..b.num_rows() {
            let id = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .value(row)
                .to_string();
            let mut m = BTreeMap::new();
            for (i, f) in b.schema().fields().iter().enumerate().skip(1) {
                let batch = b.slice(row, 1);
                let j = zhiying_engine::batches_to_json(&[batch.project(&[i]).unwrap()]).unwrap();
                let v = match &j[0][f.name()] {
                    J::Null => Value::Null,
                    J::Bool(x) => Value::Bool(*x),
                    J::Number(n) => Value::Num(n.as_f64().unwrap()),
                    J::String(s) => Value::Str(s.clone()),
                    other => panic!("{other}"),
                };
                m.insert(f.name().clone(), v);
            }
            out.insert(id, m);
        }
    }
    (schema.unwrap(), out)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}
fn n(v: f64) -> Value {
    Value::Num(v)
}

async fn build_fixture() -> (
    tempfile::TempDir,
    DataDir,
    DataFusionEngine,
    build::BuildSummary,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    populate(&dd);
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    let opts = BuildOptions {
        as_of: Some(build::parse_as_of(AS_OF).unwrap()),
    };
    let summary = build::build(&dd, &engine, &opts, &|_| {}).await.unwrap();
    (tmp, dd, engine, summary)
}

#[tokio::test]
async fn hand_computed_tags_including_all_eight_rfm_classes() {
    let (_tmp, dd, engine, summary) = build_fixture().await;
    assert_eq!(summary.customers, 13, "C99 opens after the as-of date");
    assert!(summary.tags >= 40, "{} tags", summary.tags);
    // customers + transactions + events + accounts + holdings + scores + segments + 3 SQL tags.
    assert_eq!(summary.scans, 10);
    let (_, tags) = read_tags(&dd);
    let get = |c: &str, k: &str| tags[c][k].clone();

    let expected = [
        ("C01", 5.0, 3.0, 3.0, "important_value"),
        ("C02", 4.0, 1.0, 3.0, "important_develop"),
        ("C03", 2.0, 3.0, 3.0, "important_keep"),
        ("C04", 1.0, 1.0, 3.0, "important_winback"),
        ("C05", 5.0, 3.0, 1.0, "general_value"),
        ("C06", 5.0, 1.0, 1.0, "general_develop"),
        ("C07", 2.0, 3.0, 1.0, "general_keep"),
        ("C08", 1.0, 1.0, 1.0, "general_winback"),
    ];
    for (c, r, f, m, class) in expected {
        assert_eq!(
            (
                get(c, "rfm_r"),
                get(c, "rfm_f"),
                get(c, "rfm_m"),
                get(c, "rfm_class")
            ),
            (n(r), n(f), n(m), s(class)),
            "{c}"
        );
    }
    assert_eq!(get("C01", "rfm_score"), n(533.0));
    assert_eq!(get("C01", "days_since_last_txn"), n(2.0));
    assert_eq!(get("C03", "days_since_last_txn"), n(100.0));
    assert_eq!(
        get("C08", "days_since_last_txn"),
        Value::Null,
        "the 2026-11-20 row is after the as-of date"
    );
    assert_eq!(get("C01", "txn_count_12m"), n(45.0));
    assert_eq!(
        get("C01", "txn_count_30d"),
        n(28.0),
        "days 2..=29 (+14 h) before the end"
    );
    assert_eq!(get("C01", "txn_amount_12m_yuan"), n(135_000.0));
    assert_eq!(get("C02", "avg_txn_amount_yuan"), n(30_000.0));
    assert_eq!(
        get("C08", "txn_count_12m"),
        n(0.0),
        "default for customers without rows"
    );

    // Trend: C03's 45 purchases fall 100–144 days ago, all in the previous 90-day window.
    assert_eq!(get("C03", "txn_trend"), s("down"));
    assert_eq!(get("C01", "txn_trend"), s("new"));
    assert_eq!(get("C08", "txn_trend"), s("inactive"));
    assert_eq!(get("C01", "activity_level"), s("high"));

    // Basic attributes.
    assert_eq!(
        get("C01", "age"),
        n(35.0),
        "born 1990-11-01: the birthday is the day after the as-of date"
    );
    assert_eq!(
        get("C02", "age"),
        n(66.0),
        "born 1960-10-31: the birthday is the as-of date"
    );
    assert_eq!(get("C02", "age_band"), s("65_plus"));
    assert_eq!(get("C01", "age_band"), s("35_44"));
    assert_eq!(get("C08", "age"), Value::Null);
    assert_eq!(get("C08", "gender"), s("u"));
    assert_eq!(get("C01", "city_tier"), s("tier1"));
    assert_eq!(get("C02", "city_tier"), s("new_tier1"));
    assert_eq!(get("C08", "city_tier"), s("other"));
    assert_eq!(get("C06", "tenure_days"), n(60.0));
    assert_eq!(get("C01", "income_band"), s("middle"));

    // Assets: CNY only, closed accounts excluded from AUM, loans as amounts owed.
    assert_eq!(get("C01", "aum_yuan"), n(700_000.0));
    assert_eq!(get("C01", "asset_tier"), s("vip"));
    assert_eq!(get("C01", "loan_balance_yuan"), n(200_000.0));
    assert_eq!(get("C03", "aum_yuan"), n(0.0));
    assert_eq!(get("C02", "asset_tier"), s("mass"));

    // Holdings on the as-of date: H4 ended, H5 not started.
    assert_eq!(get("C01", "holds_time_deposit"), Value::Bool(true));
    assert_eq!(get("C01", "holds_fund"), Value::Bool(true));
    assert_eq!(get("C01", "holds_wealth"), Value::Bool(false));
    assert_eq!(get("C02", "holds_wealth"), Value::Bool(false));
    assert_eq!(get("C01", "product_count"), n(2.0));
    assert_eq!(get("C01", "max_product_risk"), s("r4"));
    assert_eq!(get("C01", "risk_appetite"), s("aggressive"));
    assert_eq!(get("C02", "risk_appetite"), s("conservative"));
    assert_eq!(get("C08", "risk_appetite"), s("unknown"));
    assert_eq!(get("C03", "risk_appetite"), s("balanced"));

    // Lifecycle.
    assert_eq!(get("C06", "lifecycle_stage"), s("new"));
    assert_eq!(get("C08", "lifecycle_stage"), s("churned"));
    assert_eq!(get("C04", "lifecycle_stage"), s("churned"));
    assert_eq!(get("C03", "lifecycle_stage"), s("dormant"));
    assert_eq!(get("C01", "lifecycle_stage"), s("growing"));

    // Channels: hours are China time (12:00 UTC = 20h).
    assert_eq!(get("C01", "preferred_channel"), s("mobile_app"));
    assert_eq!(get("C01", "best_contact_hour"), n(20.0));
    assert_eq!(get("C01", "contact_time_band"), s("evening"));
    assert_eq!(get("C01", "digital_event_share"), n(0.75));
    assert_eq!(get("C01", "digital_user"), Value::Bool(true));
    assert_eq!(get("C02", "preferred_channel"), s("branch"));
    assert_eq!(get("C02", "digital_user"), Value::Bool(false));
    assert_eq!(get("C08", "best_contact_hour"), Value::Null);

    // Salary: medians 10,100 (C09) and 10,000 (C11, whose 8,000 and 12,000 sit exactly on ±20%).
    assert_eq!(get("C09", "salary_credit"), Value::Bool(true));
    assert_eq!(
        get("C10", "salary_credit"),
        Value::Bool(false),
        "June is outside the 4 months"
    );
    assert_eq!(
        get("C11", "salary_credit"),
        Value::Bool(false),
        "only 2 of 4 months within ±20%"
    );
    assert_eq!(get("C01", "salary_credit"), Value::Bool(false));

    // Large inflow: 80,000 ≥ 50,000 and ≥ 3 × 5,000; 60,000 < 3 × 30,000.
    assert_eq!(get("C12", "avg_monthly_credit_yuan"), n(5_000.0));
    assert_eq!(get("C12", "max_credit_30d_yuan"), n(80_000.0));
    assert_eq!(get("C12", "large_inflow_30d"), Value::Bool(true));
    assert_eq!(get("C13", "large_inflow_30d"), Value::Bool(false));
    assert_eq!(get("C09", "large_inflow_30d"), Value::Bool(false));

    // Explanations quote the branch and the inputs.
    let e = explain::explain(&dd, "C02", Some("rfm_class"))
        .unwrap()
        .unwrap();
    let t = &e.tags[0];
    assert_eq!(t.value, s("important_develop"));
    assert_eq!(t.label_zh.as_deref(), Some("重要发展客户"));
    assert_eq!(
        t.matched.as_deref(),
        Some("when rfm_m >= 3 and rfm_r >= 3 and rfm_f < 3 then \"important_develop\"")
    );
    assert_eq!(t.not_matched.len(), 1);
    let inputs: Vec<(String, Value)> = t
        .inputs
        .iter()
        .map(|i| (i.key.clone(), i.value.clone()))
        .collect();
    assert_eq!(
        inputs,
        vec![
            ("rfm_f".into(), n(1.0)),
            ("rfm_m".into(), n(3.0)),
            ("rfm_r".into(), n(4.0))
        ]
    );
    let mut e = explain::explain(&dd, "C09", Some("salary_credit"))
        .unwrap()
        .unwrap();
    explain::details(
        &engine,
        &zhiying_profiles::Catalog::load(&dd).unwrap(),
        &mut e,
    )
    .await
    .unwrap();
    let rows = e.tags[0].details.as_ref().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["month"], "2026-07-01");
    assert_eq!(rows[3]["amount_yuan"], 30000.0);
    let all = explain::explain(&dd, "C01", None).unwrap().unwrap();
    assert_eq!(all.tags.len(), summary.tags);
    let agg = all.tags.iter().find(|t| t.key == "txn_count_90d").unwrap();
    assert_eq!(agg.source.as_deref(), Some("transactions"));
    assert_eq!(
        agg.window.as_deref(),
        Some("ts < TIMESTAMP '2026-11-01 00:00:00'")
    );
    assert!(explain::explain(&dd, "NOPE", None).unwrap().is_none());
}

#[tokio::test]
async fn output_follows_the_contract_and_default_as_of_is_the_last_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    populate(&dd);
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    // Without --as-of: the date of the latest transaction (the 2026-11-20 row).
    assert_eq!(
        build::default_as_of(&engine).await.unwrap().to_string(),
        "2026-11-20"
    );
    let summary = build::build(&dd, &engine, &BuildOptions::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(summary.as_of, "2026-11-20");
    assert_eq!(summary.customers, 14, "C99 opened 2026-11-15 is now in");

    let (schema, rows) = read_tags(&dd);
    let f0 = schema.field(0);
    assert_eq!(
        (f0.name().as_str(), f0.data_type(), f0.is_nullable()),
        ("customer_id", &DataType::Utf8, false)
    );
    let meta: J = serde_json::from_slice(&std::fs::read(build::meta_path(&dd)).unwrap()).unwrap();
    assert_eq!(meta["as_of"], "2026-11-20");
    assert!(meta["built_at"].as_str().unwrap().ends_with('Z'));
    let tags = meta["tags"].as_array().unwrap();
    assert_eq!(tags.len() + 1, schema.fields().len());
    for (t, f) in tags.iter().zip(schema.fields().iter().skip(1)) {
        assert_eq!(t["key"].as_str().unwrap(), f.name());
        for field in [
            "name_zh",
            "name_en",
            "description",
            "category",
            "kind",
            "values",
            "version",
            "owner",
        ] {
            assert!(
                t.get(field).is_some(),
                "meta tag {} lacks {field}",
                f.name()
            );
        }
        let want = match t["kind"].as_str().unwrap() {
            "categorical" => vec![DataType::Utf8],
            "numeric" => vec![DataType::Float64, DataType::Int64],
            "flag" => vec![DataType::Boolean],
            k => panic!("kind {k}"),
        };
        assert!(
            want.contains(f.data_type()),
            "{} is {}",
            f.name(),
            f.data_type()
        );
    }
    let rfm = tags.iter().find(|t| t["key"] == "rfm_class").unwrap();
    assert_eq!(rfm["values"].as_array().unwrap().len(), 8);
    assert_eq!(
        rfm["values"][0],
        json!({"code": "important_value", "zh": "重要价值客户", "en": "Important value"})
    );
    assert!(
        rows.keys().zip(rows.keys().skip(1)).all(|(a, b)| a < b),
        "sorted, unique ids"
    );
    let stats = build::read_stats(&dd).unwrap().unwrap();
    let class = stats.tags.iter().find(|t| t.key == "rfm_class").unwrap();
    assert_eq!(class.non_null, 14);
    assert_eq!(class.counts.iter().map(|c| c.1).sum::<u64>(), 14);
    let age = stats.tags.iter().find(|t| t.key == "age").unwrap();
    assert!(
        age.coverage > 0.9 && age.coverage < 1.0,
        "C08 has no birth date"
    );
    assert!(age.numeric.is_some());
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dd.root().join("derived"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[tokio::test]
async fn user_tags_are_added_versioned_retired_and_follow_the_output() {
    let (tmp, dd, engine, _) = build_fixture().await;
    let opts = BuildOptions {
        as_of: Some(build::parse_as_of(AS_OF).unwrap()),
    };
    let file = tmp.path().join("vip.toml");
    std::fs::write(
        &file,
        r#"[[tag]]
key = "vip_active"
name_zh = "活跃贵宾"
name_en = "Active VIP"
description = "VIP or private-banking assets and 10+ transactions in 90 days"
category = "custom"
kind = "flag"
rule = "asset_tier in ('vip', 'private') and txn_count_90d >= 10"
"#,
    )
    .unwrap();
    let changes = catalog::add(&dd, &file, "analyst").unwrap();
    assert_eq!((changes[0].action.as_str(), changes[0].version), ("add", 1));
    build::build(&dd, &engine, &opts, &|_| {}).await.unwrap();
    let (_, tags) = read_tags(&dd);
    assert_eq!(tags["C01"]["vip_active"], Value::Bool(true));
    assert_eq!(tags["C02"]["vip_active"], Value::Bool(false));

    // Same definition again: nothing changes. An explicit old version is refused.
    assert_eq!(
        catalog::add(&dd, &file, "analyst").unwrap()[0].action,
        "unchanged"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(">= 10", ">= 50") + "version = 1\n").unwrap();
    let err = catalog::add(&dd, &file, "analyst").unwrap_err().to_string();
    assert!(
        err.contains("version 1 is not newer than the stored version 1"),
        "{err}"
    );
    std::fs::write(&file, text.replace(">= 10", ">= 50")).unwrap();
    let changes = catalog::add(&dd, &file, "lead").unwrap();
    assert_eq!(
        (changes[0].action.as_str(), changes[0].version),
        ("change", 2)
    );
    build::build(&dd, &engine, &opts, &|_| {}).await.unwrap();
    let (_, tags) = read_tags(&dd);
    assert_eq!(
        tags["C01"]["vip_active"],
        Value::Bool(false),
        "45 < 50 transactions"
    );

    // A rule reading an unknown tag is refused and nothing is written.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("vip_active", "broken")
            .replace("txn_count_90d", "txn_count_91d"),
    )
    .unwrap();
    let err = catalog::add(&dd, &bad, "analyst").unwrap_err().to_string();
    assert!(err.contains("'txn_count_91d', which is not a tag"), "{err}");
    assert!(!catalog::tags_dir(&dd).join("broken.toml").exists());

    // A built-in tag that a rule reads cannot be retired.
    let err = catalog::retire(&dd, "txn_count_90d", "analyst")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("activity_level") && err.contains("vip_active"),
        "{err}"
    );

    catalog::retire(&dd, "vip_active", "lead").unwrap();
    let summary = build::build(&dd, &engine, &opts, &|_| {}).await.unwrap();
    let (schema, _) = read_tags(&dd);
    assert!(
        schema.field_with_name("vip_active").is_err(),
        "retired tags leave the output"
    );
    assert_eq!(summary.tags + 1, schema.fields().len());

    let h = catalog::history(&dd, "vip_active").unwrap();
    let summary: Vec<(&str, u32, &str)> = h
        .iter()
        .map(|e| (e.action.as_str(), e.version, e.author.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("add", 1, "analyst"),
            ("change", 2, "lead"),
            ("retire", 3, "lead")
        ]
    );
    assert_eq!(h[1].changed, vec!["rule", "version"]);
    assert!(
        h[1].old
            .as_ref()
            .unwrap()
            .rule
            .as_deref()
            .unwrap()
            .contains(">= 10")
    );
    assert!(h[1].new.rule.as_deref().unwrap().contains(">= 50"));
    assert_eq!(h[2].changed, vec!["status", "version"]);

    // Overriding a built-in threshold: F score 3 from 5 transactions (not 40) makes C02 important_value.
    let f = tmp.path().join("rfm_f.toml");
    let builtin = zhiying_profiles::Catalog::builtin().unwrap();
    let mut raw = builtin.get("rfm_f").unwrap().to_raw();
    raw.version = None;
    raw.rule = Some(raw.rule.unwrap().replace(">= 40 then 3", ">= 5 then 3"));
    std::fs::write(&f, toml::to_string(&json!({"tag": [raw]})).unwrap()).unwrap();
    assert_eq!(catalog::add(&dd, &f, "analyst").unwrap()[0].version, 2);
    build::build(&dd, &engine, &opts, &|_| {}).await.unwrap();
    let (_, tags) = read_tags(&dd);
    assert_eq!(
        tags["C02"]["rfm_class"],
        s("important_value"),
        "5 transactions are now frequent"
    );
    assert_eq!(tags["C06"]["rfm_class"], s("general_develop"));
    let h = catalog::history(&dd, "rfm_f").unwrap();
    assert_eq!(
        h.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["builtin", "change"]
    );
}

#[tokio::test]
async fn rules_evaluate_the_same_in_sql_and_in_rust() {
    // The engine and the explainer must agree, including on nulls and division by zero.
    let engine = {
        let tmp = tempfile::tempdir().unwrap();
        DataFusionEngine::open(&DataDir::new(tmp.path()))
            .await
            .unwrap()
    };
    let rules = [
        "case when a >= 3 and b < 2 then 'x' when a is null then 'n' else 'y' end",
        "a / b",
        "coalesce(a, b, 0) * 2 - 1",
        "a between 1 and b or not (b in (1, 2, null))",
        "abs(a - b) <= 0.2 * b",
        "case when a > b then a end",
    ];
    let vals = [None, Some(0.0), Some(1.0), Some(2.5), Some(3.0), Some(-4.0)];
    for rule in rules {
        let parsed = zhiying_profiles::rule::parse(rule).unwrap();
        let sql_expr = parsed.to_sql(&|k| k.to_string());
        let mut rows = Vec::new();
        for a in vals {
            for b in vals {
                rows.push((a, b));
            }
        }
        let lit = |v: Option<f64>| {
            v.map_or("CAST(NULL AS DOUBLE)".to_string(), |x| {
                format!("CAST({x} AS DOUBLE)")
            })
        };
        let values: Vec<String> = rows
            .iter()
            .map(|(a, b)| format!("({}, {})", lit(*a), lit(*b)))
            .collect();
        let sql = format!(
            "SELECT {sql_expr} AS v FROM (VALUES {}) AS t(a, b)",
            values.join(", ")
        );
        let got = engine.query_json(&sql).await.unwrap();
        for ((a, b), row) in rows.iter().zip(&got) {
            let mut m = BTreeMap::new();
            m.insert("a".to_string(), a.map_or(Value::Null, Value::Num));
            m.insert("b".to_string(), b.map_or(Value::Null, Value::Num));
            let want = parsed.eval(&m);
            let sql_v = match &row["v"] {
                J::Null => Value::Null,
                J::Bool(x) => Value::Bool(*x),
                J::Number(x) => Value::Num(x.as_f64().unwrap()),
                J::String(x) => Value::Str(x.clone()),
                o => panic!("{o}"),
            };
            assert_eq!(sql_v, want, "rule `{rule}` with a={a:?} b={b:?}");
        }
    }
}

#[test]
fn the_builtin_catalogue_covers_the_brief() {
    let c = zhiying_profiles::Catalog::builtin().unwrap();
    assert!(c.active().count() >= 40);
    for cat in [
        "basic",
        "assets",
        "behaviour",
        "channel",
        "rfm",
        "lifecycle",
        "holdings",
        "risk",
        "inflow",
    ] {
        assert!(c.active().any(|t| t.category == cat), "no {cat} tag");
    }
    for key in [
        "rfm_class",
        "salary_credit",
        "large_inflow_30d",
        "lifecycle_stage",
        "risk_appetite",
        "best_contact_hour",
        "preferred_channel",
        "asset_tier",
        "txn_trend",
    ] {
        assert!(c.get(key).is_some(), "{key}");
    }
    let life = c.get("lifecycle_stage").unwrap();
    let codes: Vec<&str> = life.values.iter().map(|v| v.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "new",
            "growing",
            "mature",
            "declining",
            "dormant",
            "churned"
        ]
    );
}
