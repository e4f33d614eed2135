//! Data-subject rights end to end: the access export holds every store's data, erasure
//! leaves nothing behind (checked by decoding every file under the data directory), an
//! interrupted erasure is completed by a rerun, consent history is kept and a withdrawal
//! binds the very next decision, and retention deletes what is due.

use super::*;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use zhiying_store::OperationalStore;

const ERASED: &str = "C00000001";
/// Linked to C00000001 by identity resolution (same phone): erased with it.
const LINKED: &str = "C00000002";
/// The person's identifiers, planted across the data directory.
const IDENTIFIERS: [&str; 5] = [
    "13812345678",
    "110101198506011234",
    "zhang@example.com",
    "6222021234567890",
    "张三丰",
];

fn data_dir(f: &Fixture) -> DataDir {
    DataDir::new(f._tmp.path().join("data"))
}

fn strings_parquet(path: &std::path::Path, columns: &[&str], rows: &[Vec<&str>]) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            Value::Object(
                columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.to_string(), Value::from(*v)))
                    .collect(),
            )
        })
        .collect();
    write_parquet(path, schema, &json_rows);
}

fn event_records(dd: &DataDir, items: Value) {
    let now = chrono::Utc::now().timestamp_micros();
    let records = zhiying_events::parse_body(
        items.to_string().as_bytes(),
        zhiying_events::ValidateOptions::at(now),
    )
    .unwrap();
    let es = zhiying_events::EventStore::open(
        dd.root().join("events"),
        zhiying_events::EventConfig::default(),
    )
    .unwrap();
    // Called from the async tests: the blocking append must not hold a runtime worker.
    tokio::task::block_in_place(|| es.append_blocking(records)).unwrap();
    es.close().unwrap();
}

/// Plants the person in every kind of store beside the facts the fixture wrote.
async fn plant_everywhere(f: &Fixture) {
    let dd = data_dir(f);
    let root = dd.root();
    strings_parquet(
        &dd.derived("tags"),
        &["customer_id", "value_tier", "contact_phone"],
        &[
            vec![ERASED, "high", "13812345678"],
            vec![LINKED, "mid", "13812345678"],
            vec!["C00000003", "low", ""],
        ],
    );
    // Scores and segments in the schemas the engine registers them with.
    let score = |id: &str, s: f64| {
        json!({"customer_id": id, "model": "churn", "score": s, "band": "high", "reasons": "[]",
               "as_of": "2026-01-01", "model_version": "v1"})
    };
    write_parquet(
        &dd.derived("scores"),
        zhiying_engine::scores_schema(),
        &[score(ERASED, 0.8), score("C00000003", 0.1)],
    );
    let segment = |id: &str, c: i64| {
        json!({"customer_id": id, "segmentation": "value", "cluster": c,
               "description_zh": "高价值", "description_en": "high value"})
    };
    write_parquet(
        &dd.derived("segments"),
        zhiying_engine::segments_schema(),
        &[
            segment(ERASED, 1),
            segment(LINKED, 1),
            segment("C00000003", 2),
        ],
    );
    strings_parquet(
        &root.join("derived/audiences/A1/snapshot-1.parquet"),
        &["customer_id"],
        &[vec![ERASED], vec!["C00000003"]],
    );
    strings_parquet(
        &root.join("models/churn/1/training_snapshot.parquet"),
        &["customer_id", "label"],
        &[vec![ERASED, "1"], vec![LINKED, "0"], vec!["C00000003", "0"]],
    );
    std::fs::create_dir_all(root.join("exports")).unwrap();
    std::fs::write(
        root.join("exports/audience-A1.csv"),
        format!("customer_id,tier\n{ERASED},high\nC00000003,low\n"),
    )
    .unwrap();
    // A rejected row with no usable id: only the identifiers tie it to the person.
    std::fs::create_dir_all(dd.quarantine_dir("customers")).unwrap();
    std::fs::write(
        dd.quarantine_batch("customers", "planted"),
        "{\"line\":7,\"reason\":\"birth_date: '1985-13-01' is not a date\",\"row\":{\"name\":\"张三丰\",\"phone\":\"13812345678\",\"resident_id\":\"110101198506011234\"}}\n\
         {\"line\":9,\"reason\":\"open_date missing\",\"row\":{\"name\":\"李四\",\"phone\":\"13900001111\"}}\n",
    )
    .unwrap();
    event_records(
        &dd,
        json!([
            {"kind": "event", "event_id": "EV1", "customer_id": ERASED, "ts": "2026-01-05T01:00:00Z", "channel": "mobile_app", "event_type": "login"},
            {"kind": "event", "event_id": "EV2", "customer_id": LINKED, "ts": "2026-01-05T02:00:00Z", "channel": "web", "event_type": "login"},
            {"kind": "event", "event_id": "EV3", "customer_id": "C00000003", "ts": "2026-01-05T03:00:00Z", "channel": "web", "event_type": "login"}
        ]),
    );
    // The operational store: consent ledger, do-not-contact, contacts.
    let g = send(
        &f.app,
        "POST",
        &format!("/v1/customers/{ERASED}/consents"),
        &[("content-type", "application/json")],
        Body::from(
            json!({"purpose": "marketing", "channel": "sms", "action": "grant", "source": "branch_form",
                   "evidence": "form-2026-001", "ts": "2026-01-01T00:00:00Z"})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let g = send(
        &f.app,
        "POST",
        "/v1/dnc",
        &[("content-type", "application/json")],
        Body::from(json!({"customer_id": ERASED, "reason": "complaint 88"}).to_string()),
    )
    .await;
    assert!(g.status.is_success(), "{}", g.body);
    f.store
        .record_contacts(&[zhiying_store::Contact {
            contact_id: "CT-P1".into(),
            campaign_id: None,
            decision_id: None,
            customer_id: ERASED.into(),
            offer_id: "OT1".into(),
            channel: "sms".into(),
            ts: 1_767_225_600_000_000,
            group: zhiying_store::ContactGroup::Treatment,
            status: zhiying_store::ContactStatus::Delivered,
        }])
        .await
        .unwrap();
}

/// Every place under `root` where one of `needles` occurs: Parquet decoded column by column
/// (its pages are compressed), every other file byte for byte. The SQLite files are searched
/// for the identifiers only: the audit log keeps the customer id on purpose.
fn occurrences(root: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let wanted: Vec<&str> = if name.starts_with("zhiying.db") {
                needles
                    .iter()
                    .copied()
                    .filter(|n| !n.starts_with("C0000000"))
                    .collect()
            } else {
                needles.to_vec()
            };
            if name.ends_with(".parquet") {
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
                        .unwrap()
                        .build()
                        .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                        let Ok(s) = cast(col, &DataType::Utf8) else {
                            continue;
                        };
                        let s = s.as_any().downcast_ref::<StringArray>().unwrap();
                        for n in &wanted {
                            if (0..s.len()).any(|i| !s.is_null(i) && s.value(i).contains(n)) {
                                found.push(format!("{rel} column {}: {n}", field.name()));
                            }
                        }
                    }
                }
            } else {
                let bytes = std::fs::read(&p).unwrap();
                for n in &wanted {
                    if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                        found.push(format!("{rel}: {n}"));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn all_needles() -> Vec<&'static str> {
    let mut v = vec![ERASED, LINKED];
    v.extend(IDENTIFIERS);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_export_holds_every_store_and_erasure_leaves_nothing() {
    let f = fixture(true).await;
    plant_everywhere(&f).await;
    let dd = data_dir(&f);
    let before = occurrences(dd.root(), &all_needles());
    for place in [
        "facts/customers",
        "derived/tags.parquet",
        "derived/scores.parquet",
        "derived/segments.parquet",
        "derived/customer_links.parquet",
        "derived/audiences/A1",
        "models/churn/1",
        "exports/audience-A1.csv",
        "quarantine/customers",
        "events/",
    ] {
        assert!(
            before.iter().any(|o| o.starts_with(place)),
            "the plant missed {place}: {before:?}"
        );
    }

    // Access: every store.
    let g = get(&f.app, &format!("/v1/customers/{ERASED}/export")).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(v["customer_id"], ERASED);
    assert_eq!(v["erased"], false);
    assert_eq!(v["facts"]["customers"][0]["phone"], "13812345678");
    assert_eq!(v["facts"]["customers"][0]["name"], "张三丰");
    for (table, n) in [
        ("accounts", 2),
        ("transactions", 2),
        ("product_holdings", 1),
        ("events", 1),
        ("consents", 3),
        ("contacts", 1),
        ("responses", 1),
        ("identities", 1),
    ] {
        assert_eq!(
            v["facts"][table].as_array().map(Vec::len),
            Some(n),
            "facts.{table}: {}",
            v["facts"][table]
        );
    }
    for file in [
        "derived/tags.parquet",
        "derived/scores.parquet",
        "derived/segments.parquet",
        "derived/customer_links.parquet",
        "models/churn/1/training_snapshot.parquet",
    ] {
        assert_eq!(
            v["derived"][file].as_array().map(Vec::len),
            Some(1),
            "{file}: {}",
            v["derived"]
        );
    }
    assert_eq!(v["audiences"]["snapshots"][0]["audience_id"], "A1");
    assert_eq!(v["consents"]["history"].as_array().unwrap().len(), 1);
    assert_eq!(v["consents"]["history"][0]["evidence"], "form-2026-001");
    assert_eq!(v["consents"]["do_not_contact"]["reason"], "complaint 88");
    assert_eq!(v["contacts"][0]["contact_id"], "CT-P1");
    assert_eq!(v["event_log"].as_array().unwrap().len(), 1);
    assert_eq!(v["event_log"][0]["event_id"], "EV1");
    assert!(
        v["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "consent.grant"
                || e["action"].as_str().unwrap_or("").starts_with("consent")),
        "{}",
        v["audit"]
    );

    // Erasure.
    let g = send(
        &f.app,
        "POST",
        &format!("/v1/customers/{ERASED}/erase"),
        &[("content-type", "application/json")],
        Body::from(json!({"reason": "客户申请删除 ticket 12345"}).to_string()),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let report = g.json();
    assert_eq!(report["remaining"], json!([]), "{report}");
    assert_eq!(report["linked_records"], json!([LINKED]));
    assert_eq!(report["already_erased"], false);
    assert!(
        report["retained"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["what"] == "audit_log" && !r["reason_en"].as_str().unwrap().is_empty())
    );

    let left = occurrences(dd.root(), &all_needles());
    assert!(left.is_empty(), "left after erasure: {left:#?}");
    assert!(
        !dd.root().join(zhiying_dsr::JOURNAL_DIR).exists()
            || std::fs::read_dir(dd.root().join(zhiying_dsr::JOURNAL_DIR))
                .unwrap()
                .next()
                .is_none(),
        "the journal goes once the erasure is complete"
    );
    // The store answers nothing about the person; the others are untouched.
    for id in [ERASED, LINKED] {
        assert!(f.store.consent_history(id).await.unwrap().is_empty());
        assert!(f.store.customer_contacts(id).await.unwrap().is_empty());
        assert_error(
            &get(&f.app, &format!("/v1/customers/{id}")).await,
            404,
            "customer_not_found",
        );
    }
    assert!(
        f.store
            .dnc_list()
            .await
            .unwrap()
            .iter()
            .all(|d| d.customer_id != ERASED)
    );
    let other = get(&f.app, "/v1/customers/C00000003").await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(other.json()["accounts"][0]["account_id"], "A4");
    let kept = occurrences(dd.root(), &["C00000003", "13900001111"]);
    for place in [
        "derived/tags.parquet",
        "derived/audiences/A1",
        "events/",
        "exports/audience-A1.csv",
        "quarantine/customers",
    ] {
        assert!(
            kept.iter().any(|o| o.starts_with(place)),
            "{place} lost other customers: {kept:?}"
        );
    }
    let export = get(&f.app, &format!("/v1/customers/{ERASED}/export"))
        .await
        .json();
    assert_eq!(export["erased"], true);
    assert_eq!(export["facts"]["customers"], json!([]));

    // Erasing again is safe and finds nothing new.
    let again = send(
        &f.app,
        "POST",
        &format!("/v1/customers/{ERASED}/erase"),
        &[("content-type", "application/json")],
        Body::from(json!({"reason": "客户申请删除 ticket 12345 (rerun)"}).to_string()),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let again = again.json();
    assert_eq!(again["already_erased"], true);
    assert_eq!(again["remaining"], json!([]));
    assert_eq!(again["files"], json!([]), "nothing left to rewrite");
    assert!(occurrences(dd.root(), &all_needles()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_erasure_is_completed_by_a_rerun() {
    let f = fixture(true).await;
    plant_everywhere(&f).await;
    let dd = data_dir(&f);
    let key = zhiying_dsr::suppression_key(f.store.as_ref())
        .await
        .unwrap();
    let hash = zhiying_dsr::suppression_hash(&key, ERASED);

    // A run that dies half-way: the plan is journalled, the store is erased, and the file
    // pass has rewritten derived/, facts/ and models/ but not yet quarantine/ or exports/.
    let plan = zhiying_dsr::prepare(&dd, ERASED, &hash).unwrap();
    assert!(plan.ids.contains(LINKED));
    assert!(plan.needles.contains("13812345678") && plan.needles.contains("6222021234567890"));
    for id in &plan.ids {
        f.store.erase_customer(id).await.unwrap();
    }
    zhiying_dsr::files::erase_files(
        dd.root(),
        &plan.ids,
        &plan.needles,
        &[
            "zhiying.db*",
            "events",
            zhiying_dsr::JOURNAL_DIR,
            "quarantine",
            "exports",
        ],
    )
    .unwrap();
    // The sources of the identifiers are gone; only the journal still knows them.
    assert!(
        zhiying_dsr::erase::identifiers(&dd, &plan.ids)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        zhiying_dsr::erase::linked_ids(&dd, ERASED).unwrap().len(),
        1,
        "the identity links of the person are gone too"
    );
    let half = occurrences(dd.root(), &all_needles());
    assert!(
        half.iter().any(|o| o.starts_with("quarantine/customers")),
        "the crash left the quarantine untouched: {half:?}"
    );

    // The rerun completes it.
    let g = send(
        &f.app,
        "POST",
        &format!("/v1/customers/{ERASED}/erase"),
        &[("content-type", "application/json")],
        Body::from(json!({"reason": "客户申请删除 ticket 777"}).to_string()),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let report = g.json();
    assert_eq!(report["remaining"], json!([]), "{report}");
    assert_eq!(
        report["linked_records"],
        json!([LINKED]),
        "from the journal"
    );
    let left = occurrences(dd.root(), &all_needles());
    assert!(left.is_empty(), "left after the rerun: {left:#?}");
    assert!(
        std::fs::read_dir(dd.root().join(zhiying_dsr::JOURNAL_DIR))
            .unwrap()
            .next()
            .is_none(),
        "the journal is removed once nothing is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_history_is_kept_and_a_withdrawal_binds_the_next_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path());
    let spec = zhiying_audience::fixture::FixtureSpec {
        customers: 300,
        ..Default::default()
    };
    zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
    let (ix, _) = zhiying_audience::load_index(&dd).unwrap();
    let who = ix.customer_id(1).unwrap().to_string();
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    let store = Arc::new(
        zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
            .await
            .unwrap(),
    );
    let channel = user_with_token(&store, "channel", &[Role::ChannelSystem]).await;
    let agent = user_with_token(&store, "agent", &[Role::ServiceAgent]).await;
    let offer = json!({"id": "OT1", "product_id": "P900", "name_zh": "绑卡礼", "name_en": "Card gift",
        "category": "deposit", "risk_level": "R1", "value_fen": 5000, "cost_fen": 10,
        "valid_from": "2024-01-01",
        "treatments": [{"channel": "app_push", "template_zh": "{name_masked}您好，绑卡有礼",
                        "template_en": "Dear {name_masked}, a gift for linking your card"}]});
    store
        .put_offer("OT1", 0, &offer, "test", "seed")
        .await
        .unwrap();
    let app = App {
        router: router(AppState::new(dd.clone(), Arc::new(engine), store.clone())),
        token: agent.clone(),
    };
    let channel_auth = format!("Bearer {channel}");
    let decide = || {
        let app = app.clone();
        let who = who.clone();
        let auth = channel_auth.clone();
        async move {
            let g = send(
                &app,
                "POST",
                "/v1/decisions",
                &[("authorization", &auth), ("content-type", "application/json")],
                Body::from(
                    json!({"customer_id": who, "channel": "app_push", "now": "2026-06-03T04:00:00Z"})
                        .to_string(),
                ),
            )
            .await;
            assert_eq!(g.status, StatusCode::OK, "{}", g.body);
            let v = g.json();
            let by_consent = v["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["outcome"] == "removed" && c["reason"]["policy"] == "consent");
            (v, by_consent)
        }
    };
    let consent = |body: Value| {
        let app = app.clone();
        let who = who.clone();
        async move {
            let g = send(
                &app,
                "POST",
                &format!("/v1/customers/{who}/consents"),
                &[("content-type", "application/json")],
                Body::from(body.to_string()),
            )
            .await;
            assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
            g.json()
        }
    };

    let (v, by_consent) = decide().await;
    assert!(by_consent, "no consent yet: {v}");
    consent(
        json!({"purpose": "marketing", "channel": "all", "action": "grant", "source": "branch_form",
                   "evidence": "form-77", "ts": "2026-01-01T00:00:00Z"}),
    )
    .await;
    let (v, by_consent) = decide().await;
    assert!(!by_consent, "granted: {v}");
    let state = consent(
        json!({"purpose": "marketing", "channel": "app_push", "action": "withdraw",
                               "source": "app", "ts": "2026-02-01T00:00:00Z"}),
    )
    .await;
    // Honoured immediately, without a reload.
    let (v, by_consent) = decide().await;
    assert!(by_consent, "withdrawn: {v}");
    assert!(v["offers"].as_array().unwrap().is_empty(), "{v}");

    // The full history is kept, oldest first, with sources and evidence.
    let history = state["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{state}");
    assert_eq!(history[0]["granted"], true);
    assert_eq!(history[0]["evidence"], "form-77");
    assert_eq!(history[0]["channel"], "all");
    assert_eq!(history[1]["granted"], false);
    assert_eq!(history[1]["source"], "app");
    let g = get(&app, &format!("/v1/customers/{who}/consents")).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.json()["history"], state["history"]);
    // Each change is audited.
    let changes = store
        .audit_search(
            &zhiying_store::AuditFilter {
                target: Some(format!("customer:{who}")),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(changes.len() >= 2, "{changes:?}");
    // A new grant on that channel restores it: the latest event wins.
    consent(
        json!({"purpose": "marketing", "channel": "app_push", "action": "grant", "source": "app",
                   "evidence": "in-app toggle 3", "ts": "2026-03-01T00:00:00Z"}),
    )
    .await;
    let (v, by_consent) = decide().await;
    assert!(!by_consent, "granted again: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_run_deletes_what_is_due() {
    use zhiying_dsr::{RetentionRule, RetentionRules};
    let f = fixture(true).await;
    let dd = data_dir(&f);
    event_records(
        &dd,
        json!([
            {"kind": "event", "event_id": "OLD", "customer_id": "C00000003", "ts": "2024-01-01T00:00:00Z", "channel": "web", "event_type": "login"},
            {"kind": "event", "event_id": "NEW", "customer_id": "C00000003", "ts": "2024-02-02T06:00:00Z", "channel": "web", "event_type": "login"}
        ]),
    );
    let contact = |id: &str, ts: i64| zhiying_store::Contact {
        contact_id: id.into(),
        campaign_id: None,
        decision_id: None,
        customer_id: "C00000003".into(),
        offer_id: "OT1".into(),
        channel: "sms".into(),
        ts,
        group: zhiying_store::ContactGroup::Treatment,
        status: zhiying_store::ContactStatus::Delivered,
    };
    let now = zhiying_core::time::parse_timestamp("2024-02-02T12:00:00Z", 0).unwrap();
    let day = 86_400_000_000i64;
    f.store
        .record_contacts(&[
            contact("CT-OLD", now - 40 * day),
            contact("CT-NEW", now - day / 2),
        ])
        .await
        .unwrap();
    let rules = RetentionRules {
        rules: vec![
            RetentionRule {
                target: "facts.events".into(),
                days: 1,
            },
            RetentionRule {
                target: "store.contacts".into(),
                days: 30,
            },
            RetentionRule {
                target: "event_log".into(),
                days: 7,
            },
        ],
        every_hours: 24,
    };
    let run = |dry: bool| {
        let store = f.store.clone();
        let dd = dd.clone();
        let rules = rules.clone();
        async move {
            zhiying_dsr::retention::run(
                store.as_ref(),
                &dd,
                zhiying_dsr::EventLogAccess::Dir(dd.root().join("events")),
                &rules,
                now,
                dry,
                "test:retention",
            )
            .await
            .unwrap()
        }
    };
    let rows = |r: &zhiying_dsr::RetentionReport| -> Vec<(String, u64)> {
        r.rules.iter().map(|o| (o.target.clone(), o.rows)).collect()
    };
    let expected = vec![
        ("facts.events".to_string(), 1),
        ("store.contacts".to_string(), 1),
        ("event_log".to_string(), 1),
    ];
    // A dry run counts and deletes nothing.
    let dry = run(true).await;
    assert_eq!(rows(&dry), expected);
    assert_eq!(dry.audit_seq, None);
    assert_eq!(
        f.store.customer_contacts("C00000003").await.unwrap().len(),
        2
    );

    let done = run(false).await;
    assert_eq!(rows(&done), expected);
    assert!(done.audit_seq.is_some());
    // What was due is gone; what was not is kept.
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    let left = zhiying_engine::AnalyticsEngine::query_json(
        &engine,
        "SELECT event_id FROM events ORDER BY event_id",
    )
    .await
    .unwrap();
    let left: Vec<&str> = left.iter().filter_map(|r| r["event_id"].as_str()).collect();
    assert_eq!(left, ["E2"], "E1 (2024-02-01T01:00Z) is older than a day");
    let contacts: Vec<String> = f
        .store
        .customer_contacts("C00000003")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.contact_id)
        .collect();
    assert_eq!(contacts, ["CT-NEW"]);
    let log: Vec<String> =
        zhiying_dsr::export::event_log_records(&dd.root().join("events"), "C00000003")
            .unwrap()
            .iter()
            .filter_map(|r| r.id().map(str::to_string))
            .collect();
    assert_eq!(log, ["NEW"]);
    // Running again finds nothing due.
    let again = run(false).await;
    assert!(
        again.rules.iter().all(|o| o.rows == 0),
        "{:?}",
        rows(&again)
    );
}
