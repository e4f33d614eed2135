//! One contract, two backends: every assertion here runs against SQLite and PostgreSQL
//! (the PostgreSQL harness and its environment variables are in `common/mod.rs`).

mod common;

use std::sync::Arc;

use serde_json::json;
use sqlx::AnyPool;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_store::{
    ALL_CHANNELS, AudienceSnapshot, AuditFilter, ConsentEvent, GENESIS_HASH, IngestRun,
    NewAudience, OperationalStore, Session, StoreError, StoreOptions, UserUpdate, hash_token,
};

/// Two stores opened separately on the same database (so two pools, like two processes),
/// and a raw pool for tampering.
struct Harness {
    backend: &'static str,
    store: Arc<dyn OperationalStore>,
    second: Arc<dyn OperationalStore>,
    raw: AnyPool,
}

fn run(
    batch: &str,
    table: &str,
    started_at: i64,
    accepted: u64,
    rejected: u64,
    dups: u64,
) -> IngestRun {
    IngestRun {
        batch_id: batch.into(),
        table_name: table.into(),
        source_file: format!("/data/{table}.csv"),
        file_hash: format!("hash-{batch}"),
        started_at,
        finished_at: started_at + 1_000,
        accepted,
        rejected,
        duplicates_skipped: dups,
        quarantine_path: (rejected > 0).then(|| format!("quarantine/{table}/batch-{batch}.jsonl")),
    }
}

fn consent(customer: &str, purpose: &str, channel: &str, granted: bool, ts: i64) -> ConsentEvent {
    ConsentEvent {
        customer_id: customer.into(),
        purpose: purpose.into(),
        channel: channel.into(),
        granted,
        ts,
        source: "branch_form".into(),
        evidence: Some(format!("form-{ts}")),
    }
}

async fn store_contract(h: Harness) {
    let s = &h.store;
    assert_eq!(s.backend_name(), h.backend);
    assert_eq!(h.second.backend_name(), h.backend);

    settings(s).await;
    ingest_runs(s).await;
    users_and_tokens(s).await;
    consents(s).await;
    do_not_contact(s).await;
    audit_chain(&h).await;
    audiences(s).await;
}

async fn settings(s: &Arc<dyn OperationalStore>) {
    assert_eq!(s.get_setting("ui.language").await.ok(), Some(None));
    s.put_setting("ui.language", &json!("zh-CN"))
        .await
        .expect("put setting");
    s.put_setting(
        "caps",
        &json!({"sms_per_week": 2, "channels": ["sms", "app"]}),
    )
    .await
    .expect("put setting");
    s.put_setting("ui.language", &json!("en"))
        .await
        .expect("overwrite setting");
    assert_eq!(
        s.get_setting("ui.language").await.ok(),
        Some(Some(json!("en")))
    );
    assert_eq!(
        s.get_setting("caps").await.ok(),
        Some(Some(json!({"channels": ["sms", "app"], "sms_per_week": 2})))
    );
    assert!(matches!(
        s.put_setting(" ", &json!(1)).await,
        Err(StoreError::Invalid { field: "key", .. })
    ));
}

async fn ingest_runs(s: &Arc<dyn OperationalStore>) {
    s.record_ingest_run(&run("b1", "customers", 100, 10, 2, 0))
        .await
        .expect("record b1");
    s.record_ingest_run(&run("b2", "transactions", 200, 1_000, 0, 5))
        .await
        .expect("record b2");
    // Re-recording the same batch (a retried ingest) replaces it, never adds a row.
    let b1_again = run("b1", "customers", 300, 12, 0, 3);
    s.record_ingest_run(&b1_again).await.expect("re-record b1");
    s.record_ingest_run(&b1_again)
        .await
        .expect("re-record b1 twice");

    let all = s.ingest_runs(None).await.expect("list runs");
    assert_eq!(
        all.iter().map(|r| r.batch_id.as_str()).collect::<Vec<_>>(),
        ["b1", "b2"],
        "newest first, no duplicates"
    );
    assert_eq!(all[0], b1_again);
    assert_eq!(all[1].quarantine_path, None);

    s.record_ingest_run(&run("b3", "customers", 50, 7, 1, 0))
        .await
        .expect("record b3");
    let customers = s
        .ingest_runs(Some("customers"))
        .await
        .expect("list customer runs");
    assert_eq!(
        customers
            .iter()
            .map(|r| r.batch_id.as_str())
            .collect::<Vec<_>>(),
        ["b1", "b3"]
    );
    assert_eq!(
        customers[1].quarantine_path.as_deref(),
        Some("quarantine/customers/batch-b3.jsonl")
    );
    assert!(
        s.ingest_runs(Some("events"))
            .await
            .expect("list")
            .is_empty()
    );

    let totals = s.ingest_totals().await.expect("totals");
    let got: Vec<_> = totals
        .iter()
        .map(|t| {
            (
                t.table_name.as_str(),
                t.batches,
                t.accepted,
                t.rejected,
                t.duplicates_skipped,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("customers", 2, 19, 1, 3), ("transactions", 1, 1_000, 0, 5)]
    );

    let too_big = IngestRun {
        accepted: u64::MAX,
        ..run("b4", "customers", 1, 0, 0, 0)
    };
    assert!(matches!(
        s.record_ingest_run(&too_big).await,
        Err(StoreError::Invalid {
            field: "accepted",
            ..
        })
    ));
}

async fn users_and_tokens(s: &Arc<dyn OperationalStore>) {
    let alice = s
        .create_user(
            "alice",
            "Alice 王",
            "argon2$hash-a",
            &[Role::Marketer, Role::Analyst, Role::Marketer],
        )
        .await
        .expect("create alice");
    assert_eq!(
        alice.roles,
        [Role::Analyst, Role::Marketer],
        "deduplicated, sorted by name"
    );
    assert!(alice.has_role(Role::Marketer) && !alice.has_role(Role::Admin));
    s.create_user("carol", "Carol", "argon2$hash-c", &[])
        .await
        .expect("create carol");
    s.create_user("bob", "Bob", "argon2$hash-b", &[Role::ComplianceOfficer])
        .await
        .expect("create bob");

    assert_eq!(
        s.user("alice").await.expect("get alice"),
        Some(alice.clone())
    );
    assert_eq!(s.user("nobody").await.expect("get nobody"), None);
    let all = s.users().await.expect("list users");
    assert_eq!(
        all.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    assert_eq!(all[1].roles, [Role::ComplianceOfficer]);
    assert!(all[2].roles.is_empty());
    match s.create_user("alice", "Again", "x", &[]).await {
        Err(StoreError::Conflict { what: "user", key }) => assert_eq!(key, "alice"),
        other => panic!("duplicate user must conflict, got {other:?}"),
    }
    assert!(matches!(
        s.create_user("", "x", "x", &[]).await,
        Err(StoreError::Invalid {
            field: "username",
            ..
        })
    ));
    let public = serde_json::to_value(&alice).expect("serialise user");
    assert!(
        public.get("password_hash").is_none(),
        "password hash must not be serialised: {public}"
    );

    let raw = "zy_live_0123456789";
    let th = hash_token(raw);
    let scopes = vec!["decide".to_string(), "read:customers".to_string()];
    let token = s
        .create_token(&th, "alice", &scopes, Some(5_000))
        .await
        .expect("create token");
    assert_eq!(token.scopes, scopes);
    assert_eq!(
        s.token_by_hash(&th).await.expect("get token"),
        Some(token.clone())
    );
    assert!(
        token.is_active_at(4_999) && !token.is_active_at(5_000),
        "expires at expires_at"
    );
    assert_eq!(
        s.token_by_hash(&hash_token("other"))
            .await
            .expect("get unknown"),
        None
    );
    assert!(matches!(
        s.create_token(&hash_token("t2"), "mallory", &[], None)
            .await,
        Err(StoreError::NotFound { what: "user", .. })
    ));
    assert!(matches!(
        s.create_token(&th, "bob", &[], None).await,
        Err(StoreError::Conflict {
            what: "API token",
            ..
        })
    ));

    let forever = hash_token("forever");
    s.create_token(&forever, "bob", &[], None)
        .await
        .expect("create non-expiring token");
    assert!(
        s.token_by_hash(&forever)
            .await
            .expect("get")
            .is_some_and(|t| t.is_active_at(i64::MAX))
    );
    assert!(s.revoke_token(&forever).await.expect("revoke"));
    assert!(
        !s.revoke_token(&forever).await.expect("revoke twice"),
        "already revoked"
    );
    assert!(
        !s.revoke_token(&hash_token("unknown"))
            .await
            .expect("revoke unknown")
    );
    let revoked = s
        .token_by_hash(&forever)
        .await
        .expect("get revoked")
        .expect("still stored");
    assert!(revoked.revoked_at.is_some() && !revoked.is_active_at(0));

    // Tokens are listed per user and overall, revoked ones included.
    let bobs: Vec<String> = s
        .tokens(Some("bob"))
        .await
        .expect("bob's tokens")
        .into_iter()
        .map(|t| t.token_hash)
        .collect();
    assert_eq!(bobs, std::slice::from_ref(&forever));
    assert_eq!(s.tokens(None).await.expect("all tokens").len(), 2);

    // Updating a user: password, roles, disabled; untouched fields stay.
    let changed = s
        .update_user(
            "carol",
            &UserUpdate {
                password_hash: Some("argon2$new".into()),
                roles: Some(vec![Role::ServiceAgent, Role::ServiceAgent]),
                disabled: Some(true),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("update carol");
    assert_eq!(
        (
            changed.password_hash.as_str(),
            changed.roles.as_slice(),
            changed.disabled,
            changed.display_name.as_str()
        ),
        ("argon2$new", [Role::ServiceAgent].as_slice(), true, "Carol")
    );
    let back = s
        .update_user(
            "carol",
            &UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("enable carol");
    assert_eq!(
        (back.disabled, back.roles.as_slice()),
        (false, [Role::ServiceAgent].as_slice())
    );
    assert!(matches!(
        s.update_user("nobody", &UserUpdate::default()).await,
        Err(StoreError::NotFound { what: "user", .. })
    ));

    // Sessions: create, read, touch, end; expired ones are purged; a user's all end at once.
    let sess = |id: &str, user: &str, expires_at: i64| Session {
        id_hash: hash_token(id),
        username: user.into(),
        csrf_token: format!("csrf-{id}"),
        created_at: 100,
        last_seen_at: 100,
        expires_at,
    };
    s.create_session(&sess("s1", "alice", 1_000))
        .await
        .expect("session 1");
    s.create_session(&sess("s2", "alice", 5_000))
        .await
        .expect("session 2");
    s.create_session(&sess("s3", "bob", 5_000))
        .await
        .expect("session 3");
    assert_eq!(
        s.session(&hash_token("s1")).await.expect("get"),
        Some(sess("s1", "alice", 1_000))
    );
    s.touch_session(&hash_token("s2"), 4_000)
        .await
        .expect("touch");
    assert_eq!(
        s.session(&hash_token("s2"))
            .await
            .expect("get")
            .map(|x| x.last_seen_at),
        Some(4_000)
    );
    assert_eq!(s.purge_sessions(1_000).await.expect("purge"), 1);
    assert_eq!(s.session(&hash_token("s1")).await.expect("get"), None);
    assert_eq!(
        s.delete_user_sessions("alice").await.expect("end alice's"),
        1
    );
    assert!(s.delete_session(&hash_token("s3")).await.expect("logout"));
    assert!(
        !s.delete_session(&hash_token("s3"))
            .await
            .expect("logout twice")
    );
}

async fn consents(s: &Arc<dyn OperationalStore>) {
    let c = "CUST-001";
    assert!(
        !s.current_consent(c, "marketing", "sms")
            .await
            .expect("read"),
        "no record means no consent"
    );

    s.record_consent(&consent(c, "marketing", ALL_CHANNELS, true, 100))
        .await
        .expect("grant all");
    assert!(
        s.current_consent(c, "marketing", "sms")
            .await
            .expect("read"),
        "'all' covers sms"
    );
    assert!(
        s.current_consent(c, "marketing", "email")
            .await
            .expect("read")
    );
    assert!(
        !s.current_consent(c, "profiling", "sms")
            .await
            .expect("read"),
        "purposes are separate"
    );
    assert!(
        !s.current_consent("CUST-002", "marketing", "sms")
            .await
            .expect("read"),
        "customers are separate"
    );

    // A later channel-specific withdrawal overrides the blanket grant for that channel only.
    s.record_consent(&consent(c, "marketing", "sms", false, 200))
        .await
        .expect("withdraw sms");
    assert!(
        !s.current_consent(c, "marketing", "sms")
            .await
            .expect("read")
    );
    assert!(
        s.current_consent(c, "marketing", "email")
            .await
            .expect("read")
    );

    // An event recorded later but effective earlier does not win: the event time decides.
    s.record_consent(&consent(c, "marketing", "sms", true, 150))
        .await
        .expect("backdated grant");
    assert!(
        !s.current_consent(c, "marketing", "sms")
            .await
            .expect("read"),
        "latest by event time wins"
    );

    // A newer blanket grant wins over an older channel withdrawal.
    s.record_consent(&consent(c, "marketing", ALL_CHANNELS, true, 300))
        .await
        .expect("grant all again");
    assert!(
        s.current_consent(c, "marketing", "sms")
            .await
            .expect("read")
    );

    // At the same instant, the channel-specific event overrides 'all'.
    s.record_consent(&consent(c, "marketing", ALL_CHANNELS, false, 400))
        .await
        .expect("withdraw all");
    s.record_consent(&consent(c, "marketing", "app", true, 400))
        .await
        .expect("grant app");
    assert!(
        s.current_consent(c, "marketing", "app")
            .await
            .expect("read")
    );
    assert!(
        !s.current_consent(c, "marketing", "sms")
            .await
            .expect("read")
    );
    assert!(
        !s.current_consent(c, "marketing", ALL_CHANNELS)
            .await
            .expect("read")
    );

    let history = s.consent_history(c).await.expect("history");
    assert_eq!(
        history.iter().map(|e| e.ts).collect::<Vec<_>>(),
        [100, 150, 200, 300, 400, 400],
        "oldest first"
    );
    assert_eq!(history[0], consent(c, "marketing", ALL_CHANNELS, true, 100));
    assert!(
        s.consent_history("CUST-404")
            .await
            .expect("history")
            .is_empty()
    );
    let bad = ConsentEvent {
        purpose: "".into(),
        ..consent(c, "x", "sms", true, 1)
    };
    assert!(matches!(
        s.record_consent(&bad).await,
        Err(StoreError::Invalid {
            field: "purpose",
            ..
        })
    ));
}

async fn do_not_contact(s: &Arc<dyn OperationalStore>) {
    let c = "CUST-010";
    s.record_consent(&consent(c, "marketing", ALL_CHANNELS, true, 100))
        .await
        .expect("grant");
    assert!(s.may_contact(c, "marketing", "sms").await.expect("gate"));
    assert!(!s.dnc_contains(c).await.expect("contains"));
    assert!(
        s.dnc_add(c, "complaint 2024-03-01", "bob")
            .await
            .expect("add")
    );
    assert!(
        !s.dnc_add(c, "again", "bob").await.expect("add twice"),
        "already listed"
    );
    assert!(s.dnc_contains(c).await.expect("contains"));
    assert!(
        !s.may_contact(c, "marketing", "sms").await.expect("gate"),
        "do-not-contact overrides consent"
    );
    assert!(
        s.current_consent(c, "marketing", "sms")
            .await
            .expect("read"),
        "consent itself is unchanged"
    );
    let list = s.dnc_list().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].customer_id.as_str(), list[0].reason.as_str()),
        (c, "complaint 2024-03-01")
    );
    assert!(s.dnc_remove(c).await.expect("remove"));
    assert!(!s.dnc_remove(c).await.expect("remove twice"));
    assert!(s.may_contact(c, "marketing", "sms").await.expect("gate"));
}

async fn audit_chain(h: &Harness) {
    let s = &h.store;
    assert_eq!(s.verify_audit().await.expect("empty chain verifies"), 0);
    let first = s
        .append_audit(
            "admin",
            "user.create",
            "user:alice",
            &json!({"roles": ["analyst"], "by": "cli"}),
        )
        .await;
    let first = first.expect("append");
    assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
    assert_eq!(
        first.detail, r#"{"by":"cli","roles":["analyst"]}"#,
        "detail stored as canonical JSON"
    );
    let second = s
        .append_audit("alice", "login", "", &json!(null))
        .await
        .expect("append");
    assert_eq!(
        (second.seq, second.prev_hash.as_str()),
        (2, first.hash.as_str())
    );
    assert!(second.ts >= first.ts);

    // 50 concurrent appends through two independent pools never fork the chain.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = if i % 2 == 0 {
            h.store.clone()
        } else {
            h.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(
                    &format!("worker-{i}"),
                    "campaign.approve",
                    &format!("campaign:{i}"),
                    &json!({"i": i}),
                )
                .await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("task").expect("concurrent append").seq);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (3..=52).collect::<Vec<u64>>(),
        "every append got its own seq"
    );
    assert_eq!(s.verify_audit().await.expect("chain verifies"), 52);
    assert_eq!(
        h.second
            .verify_audit()
            .await
            .expect("chain verifies from the other pool"),
        52
    );

    let entries = s.audit_entries(0, 1_000).await.expect("entries");
    assert_eq!(entries.len(), 52);
    assert_eq!(entries[0], first);
    assert!(
        entries
            .windows(2)
            .all(|w| w[1].prev_hash == w[0].hash && w[1].seq == w[0].seq + 1)
    );
    assert_eq!(
        s.audit_entries(50, 10)
            .await
            .expect("page")
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [51, 52]
    );

    // Search: newest first, by actor, action prefix, target and paging.
    let found = s
        .audit_search(
            &AuditFilter {
                actor: Some("alice".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .await
        .expect("search");
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
    let by_prefix = s
        .audit_search(
            &AuditFilter {
                action: Some("campaign.".into()),
                ..AuditFilter::default()
            },
            5,
        )
        .await
        .expect("search");
    assert_eq!(
        by_prefix.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [52, 51, 50, 49, 48]
    );
    let page2 = s
        .audit_search(
            &AuditFilter {
                action: Some("campaign.approve".into()),
                before_seq: Some(48),
                ..AuditFilter::default()
            },
            2,
        )
        .await
        .expect("search");
    assert_eq!(page2.iter().map(|e| e.seq).collect::<Vec<_>>(), [47, 46]);
    let by_target = s
        .audit_search(
            &AuditFilter {
                target: Some("user:ali".into()),
                ..AuditFilter::default()
            },
            5,
        )
        .await
        .expect("search");
    assert_eq!(by_target.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    let none = s
        .audit_search(
            &AuditFilter {
                since: Some(i64::MAX),
                ..AuditFilter::default()
            },
            5,
        )
        .await
        .expect("search");
    assert!(none.is_empty());
    assert_eq!(
        s.audit_head().await.expect("head"),
        Some((52, entries[51].hash.clone()))
    );

    // Anchors: signed heads, stored in order with ids.
    let keys = zhiying_store::AnchorKeyring::parse(&format!("k1:{}", "ab".repeat(32)), "test")
        .expect("keys");
    let a1 = zhiying_store::anchor_head(s.as_ref(), &keys)
        .await
        .expect("anchor")
        .expect("written");
    assert_eq!((a1.head_seq, a1.key_id.as_str()), (52, "k1"));
    assert!(
        zhiying_store::anchor_head(s.as_ref(), &keys)
            .await
            .expect("anchor again")
            .is_none(),
        "head unchanged: no new anchor"
    );
    assert_eq!(
        s.audit_anchors().await.expect("anchors"),
        std::slice::from_ref(&a1)
    );
    let report = zhiying_store::verify_audit_log(s.as_ref(), Some(&keys))
        .await
        .expect("verify");
    assert!(
        report.ok && report.anchors_verified == 1 && report.entries == 52,
        "{report:?}"
    );

    // Tampering with a row's contents is detected at that row.
    let original = entries[6].detail.clone();
    sqlx::query("UPDATE audit_log SET detail = $1 WHERE seq = $2")
        .bind(r#"{"i":999}"#)
        .bind(7_i64)
        .execute(&h.raw)
        .await
        .expect("tamper");
    match s.verify_audit().await {
        Err(StoreError::AuditBroken(b)) => {
            assert_eq!(b.seq, 7);
            assert!(b.reason.contains("changed"), "{}", b.reason);
        }
        other => panic!("tampered detail must break the chain at seq 7, got {other:?}"),
    }
    sqlx::query("UPDATE audit_log SET detail = $1 WHERE seq = $2")
        .bind(&original)
        .bind(7_i64)
        .execute(&h.raw)
        .await
        .expect("restore");
    assert_eq!(s.verify_audit().await.expect("restored chain verifies"), 52);

    // Rewriting a row together with its own hash still breaks the link to the next row.
    let forged_hash = zhiying_store::audit_hash(
        &entries[19].prev_hash,
        20,
        entries[19].ts,
        "mallory",
        "x",
        "",
        "{}",
    );
    sqlx::query("UPDATE audit_log SET actor = 'mallory', action = 'x', target = '', detail = '{}', hash = $1 WHERE seq = 20")
        .bind(&forged_hash)
        .execute(&h.raw)
        .await
        .expect("forge");
    match s.verify_audit().await {
        Err(StoreError::AuditBroken(b)) => assert_eq!(b.seq, 21, "{b}"),
        other => panic!("forged row must break the link at seq 21, got {other:?}"),
    }

    // A deleted row is reported as missing.
    sqlx::query("DELETE FROM audit_log WHERE seq = 10")
        .execute(&h.raw)
        .await
        .expect("delete");
    match s.verify_audit().await {
        Err(StoreError::AuditBroken(b)) => {
            assert_eq!(b.seq, 10);
            assert!(b.reason.contains("missing"), "{}", b.reason);
        }
        other => panic!("deleted row must break the chain at seq 10, got {other:?}"),
    }
    assert!(matches!(
        s.append_audit(" ", "a", "t", &json!({})).await,
        Err(StoreError::Invalid { field: "actor", .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A data dir that does not exist yet, with a non-ASCII name: both must work.
    let data_dir = DataDir::new(dir.path().join("数据 dir"));
    let (store, second) = common::open_pair(&StoreOptions::default(), &data_dir).await;
    assert!(
        data_dir.sqlite_path().is_file(),
        "db file created at DATA_DIR/zhiying.db"
    );
    let raw = store.pool().clone();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");

    store_contract(Harness {
        backend: "sqlite",
        store: store.clone(),
        second: second.clone(),
        raw,
    })
    .await;
    store.close().await;
    second.close().await;

    // Data survives a restart, through the public `open`.
    let reopened = zhiying_store::open(None, &data_dir).await.expect("reopen");
    assert_eq!(reopened.users().await.expect("users").len(), 3);
    assert_eq!(
        reopened.get_setting("ui.language").await.expect("setting"),
        Some(json!("en"))
    );
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_contract() {
    common::on_postgres("store", |store, second| {
        let raw = store.pool().clone();
        store_contract(Harness {
            backend: "postgres",
            store,
            second,
            raw,
        })
    })
    .await;
}

async fn audiences(s: &Arc<dyn OperationalStore>) {
    let new = |name: &str, def: &str| NewAudience {
        name: name.into(),
        description: "高净值且近30天登录".into(),
        definition: def.into(),
        created_by: "alice".into(),
        count: Some(42),
    };
    let a = s
        .create_audience(&new(
            "高净值活跃",
            "aum_tier = 'high' and did('login', 30d)",
        ))
        .await
        .expect("create audience");
    assert!(a.id.starts_with("aud-") && a.id.len() == 16, "{}", a.id);
    assert_eq!(a.last_count, Some(42));
    let b = s
        .create_audience(&new(
            "Dormant fund holders",
            "holds_fund and lifecycle_stage = 'dormant'",
        ))
        .await
        .expect("create second audience");
    assert!(matches!(
        s.create_audience(&new("高净值活跃", "true")).await,
        Err(StoreError::Conflict {
            what: "audience",
            ..
        })
    ));
    assert!(matches!(
        s.create_audience(&new("  ", "true")).await,
        Err(StoreError::Invalid { field: "name", .. })
    ));
    // Ordered by name: ASCII before CJK.
    let names: Vec<String> = s
        .audiences()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, vec!["Dormant fund holders", "高净值活跃"]);
    assert_eq!(s.audience(&a.id).await.expect("get"), Some(a.clone()));
    assert_eq!(s.audience("aud-missing").await.expect("get missing"), None);

    s.record_audience_count(&b.id, 7, 1_000)
        .await
        .expect("count");
    let b2 = s.audience(&b.id).await.expect("get").expect("exists");
    assert_eq!((b2.last_count, b2.last_counted_at), (Some(7), Some(1_000)));
    assert!(matches!(
        s.record_audience_count("aud-missing", 1, 1).await,
        Err(StoreError::NotFound { .. })
    ));

    for (t, n) in [(10, 5u64), (20, 6)] {
        s.record_audience_snapshot(&AudienceSnapshot {
            audience_id: b.id.clone(),
            taken_at: t,
            member_count: n,
            path: format!("derived/audiences/{}/{t}.parquet", b.id),
            definition: b.definition.clone(),
        })
        .await
        .expect("snapshot");
    }
    let snaps = s.audience_snapshots(&b.id).await.expect("snapshots");
    assert_eq!(
        snaps
            .iter()
            .map(|x| (x.taken_at, x.member_count))
            .collect::<Vec<_>>(),
        vec![(20, 6), (10, 5)]
    );
    assert!(s.delete_audience(&b.id).await.expect("delete"));
    assert!(!s.delete_audience(&b.id).await.expect("delete again"));
    assert!(
        s.audience_snapshots(&b.id)
            .await
            .expect("snapshots")
            .is_empty()
    );
}
