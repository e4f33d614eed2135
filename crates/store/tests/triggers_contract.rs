//! Contract for the 0008 tables (trigger rules and firings): every assertion runs against
//! SQLite and PostgreSQL, through the harness in `common/mod.rs`.

mod common;

use std::sync::Arc;

use serde_json::json;
use zhiying_store::{FiringOutcome, OperationalStore, StoreError, TriggerFiring};

type Store = Arc<dyn OperationalStore>;

async fn triggers_contract(s: Store, second: Store) {
    rules(&s, &second).await;
    firings(&s, &second).await;
    erasure(&s).await;
}

/// A data-subject erasure removes the customer's firings (and leaves the others'); the
/// delivery outbox is erased only where `zhiying-delivery` created it, so its absence here
/// is not an error.
async fn erasure(s: &Store) {
    let now = 9_000_000_000;
    let new = s
        .record_trigger_firings(&[
            firing("trg:salary:E1:txn:X1", "E1", FiringOutcome::Enqueued, now),
            firing(
                "trg:salary:E1:txn:X2",
                "E1",
                FiringOutcome::NoOffer,
                now + 1,
            ),
            firing(
                "trg:salary:E2:txn:X3",
                "E2",
                FiringOutcome::Enqueued,
                now + 2,
            ),
        ])
        .await
        .expect("record");
    assert_eq!(new, 3);
    let before = s.trigger_firings(None, 100_000).await.expect("firings");
    let counts = s.erase_customer("E1").await.expect("erase");
    assert_eq!(counts.get("trigger_firings"), Some(&2), "{counts:?}");
    assert!(!counts.contains_key("delivery_outbox"), "{counts:?}");
    let after = s.trigger_firings(None, 100_000).await.expect("firings");
    assert!(after.iter().all(|f| f.customer_id != "E1"));
    assert!(after.iter().any(|f| f.customer_id == "E2"));
    assert_eq!(after.len(), before.len() - 2);
}

async fn rules(s: &Store, second: &Store) {
    assert!(s.trigger_rules().await.expect("list").is_empty());
    let body = json!({"when": {"kind": "salary_credited"}, "channel": "email"});
    let v1 = s
        .put_trigger_rule("salary", Some(0), &body, true, "alice")
        .await
        .expect("create");
    assert_eq!(
        (v1.version, v1.enabled, v1.updated_by.as_str()),
        (1, true, "alice")
    );
    assert_eq!(v1.body, body);
    // Creating again is a conflict naming the stored version.
    match s
        .put_trigger_rule("salary", Some(0), &body, true, "bob")
        .await
    {
        Err(StoreError::VersionConflict {
            expected: 0,
            actual: 1,
            ..
        }) => {}
        other => panic!("re-create must conflict, got {other:?}"),
    }
    // An edit at the version read moves it on; a stale one is refused and writes nothing.
    let v2 = s
        .put_trigger_rule("salary", Some(1), &body, false, "bob")
        .await
        .expect("edit");
    assert_eq!(
        (v2.version, v2.enabled, v2.created_at),
        (2, false, v1.created_at)
    );
    assert!(matches!(
        s.put_trigger_rule("salary", Some(1), &json!({"x": 1}), true, "carol")
            .await,
        Err(StoreError::VersionConflict {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    assert!(matches!(
        s.put_trigger_rule("missing", Some(4), &body, true, "carol")
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // Unconditional save: upsert, version still counts.
    let v3 = second
        .put_trigger_rule("salary", None, &body, true, "dave")
        .await
        .expect("upsert");
    assert_eq!((v3.version, v3.enabled), (3, true));
    let fresh = second
        .put_trigger_rule(
            "deposit",
            None,
            &json!({"when": {"kind": "large_deposit"}}),
            true,
            "dave",
        )
        .await
        .expect("upsert creates");
    assert_eq!(fresh.version, 1);
    assert!(matches!(
        s.put_trigger_rule("bad", None, &json!([1]), true, "dave")
            .await,
        Err(StoreError::Invalid { field: "body", .. })
    ));
    assert!(matches!(
        s.put_trigger_rule(" bad", None, &body, true, "dave").await,
        Err(StoreError::Invalid {
            field: "rule_id",
            ..
        })
    ));
    let ids: Vec<String> = s
        .trigger_rules()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.rule_id)
        .collect();
    assert_eq!(ids, ["deposit", "salary"]);
    assert_eq!(
        s.trigger_rule("salary")
            .await
            .expect("get")
            .map(|r| r.version),
        Some(3)
    );
    assert!(s.delete_trigger_rule("deposit").await.expect("delete"));
    assert!(
        !s.delete_trigger_rule("deposit")
            .await
            .expect("delete again")
    );
    assert!(s.trigger_rule("deposit").await.expect("get").is_none());
}

fn firing(id: &str, customer: &str, outcome: FiringOutcome, fired_at: i64) -> TriggerFiring {
    TriggerFiring {
        firing_id: id.into(),
        rule_id: "salary".into(),
        customer_id: customer.into(),
        event_ref: format!("txn:{id}"),
        channel: "email".into(),
        outcome,
        policy: (outcome == FiringOutcome::NoOffer).then(|| "consent".to_string()),
        reason: (outcome == FiringOutcome::NoOffer).then(|| "no marketing consent".to_string()),
        decision_id: Some(id.into()),
        offer_id: (outcome == FiringOutcome::Enqueued).then(|| "OT1".to_string()),
        outbox_id: (outcome == FiringOutcome::Enqueued).then_some(7),
        latency_us: 1_234,
        fired_at,
        detail: json!({"text_zh": "您好", "removed": {"consent": 1}}),
    }
}

async fn firings(s: &Store, second: &Store) {
    let a = firing("trg:salary:C1:txn:T1", "C1", FiringOutcome::Enqueued, 1_000);
    let b = firing("trg:salary:C2:txn:T2", "C2", FiringOutcome::NoOffer, 2_000);
    assert_eq!(
        s.record_trigger_firings(&[a.clone(), b.clone()])
            .await
            .expect("record"),
        2
    );
    // The same firing again (another pool, changed fields) keeps the first record.
    let mut again = a.clone();
    again.outcome = FiringOutcome::Error;
    assert_eq!(
        second
            .record_trigger_firings(&[again])
            .await
            .expect("record again"),
        0
    );
    assert_eq!(
        s.trigger_firing(&a.firing_id).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        s.trigger_firing(&b.firing_id).await.expect("get"),
        Some(b.clone())
    );
    let asked: Vec<String> = vec![
        a.firing_id.clone(),
        "trg:salary:C9:txn:T9".into(),
        b.firing_id.clone(),
    ];
    let fired = s.fired_trigger_ids(&asked).await.expect("fired ids");
    assert_eq!(
        fired.into_iter().collect::<Vec<_>>(),
        [a.firing_id.clone(), b.firing_id.clone()]
    );
    assert!(s.fired_trigger_ids(&[]).await.expect("none").is_empty());
    // Many ids in one call (more than one IN-list chunk).
    let many: Vec<TriggerFiring> = (0..1_200)
        .map(|i| firing(&format!("k{i}"), "C3", FiringOutcome::Enqueued, 3_000 + i))
        .collect();
    assert_eq!(s.record_trigger_firings(&many).await.expect("many"), 1_200);
    let ids: Vec<String> = many.iter().map(|f| f.firing_id.clone()).collect();
    assert_eq!(
        s.fired_trigger_ids(&ids).await.expect("many ids").len(),
        1_200
    );
    // Newest first; by rule.
    let recent = s.trigger_firings(None, 3).await.expect("recent");
    assert_eq!(
        recent.iter().map(|f| f.fired_at).collect::<Vec<_>>(),
        [4_199, 4_198, 4_197]
    );
    assert!(
        s.trigger_firings(Some("other"), 10)
            .await
            .expect("by rule")
            .is_empty()
    );
    assert_eq!(
        s.trigger_firings(Some("salary"), 5_000)
            .await
            .expect("by rule")
            .len(),
        1_202
    );
    // A bad row is refused as a whole.
    let bad = firing(" bad", "C1", FiringOutcome::Enqueued, 9);
    assert!(matches!(
        s.record_trigger_firings(&[firing("ok-1", "C1", FiringOutcome::Enqueued, 9), bad])
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(s.trigger_firing("ok-1").await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_triggers_contract() {
    common::on_sqlite(|s, second| triggers_contract(s, second)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_triggers_contract() {
    common::on_postgres("triggers", |s, second| triggers_contract(s, second)).await;
}
