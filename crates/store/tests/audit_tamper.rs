//! Tampering with the audit log directly in the SQLite file: every kind of change is found,
//! and the report names the first bad entry.

use std::sync::Arc;

use serde_json::json;
use zhiying_core::DataDir;
use zhiying_store::{
    AnchorKeyring, AuditVerification, OperationalStore, SqlStore, StoreOptions, anchor_head,
    audit_hash, verify_audit_log,
};

struct Log {
    _dir: tempfile::TempDir,
    store: Arc<SqlStore>,
    keys: AnchorKeyring,
}

/// 20 entries, anchored after entry 10 and after entry 20.
async fn log() -> Log {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqlStore::open_with(&StoreOptions::default(), &DataDir::new(dir.path()))
            .await
            .expect("open"),
    );
    let keys = AnchorKeyring::parse(&format!("k1:{}", "5a".repeat(32)), "test").expect("keys");
    for i in 1..=20 {
        store
            .append_audit(
                &format!("user{}", i % 3),
                "auth.login",
                &format!("user:u{i}"),
                &json!({"i": i}),
            )
            .await
            .expect("append");
        if i == 10 || i == 20 {
            anchor_head(store.as_ref(), &keys)
                .await
                .expect("anchor")
                .expect("new anchor");
        }
    }
    Log {
        _dir: dir,
        store,
        keys,
    }
}

async fn exec(l: &Log, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(l.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn verify(l: &Log) -> AuditVerification {
    verify_audit_log(l.store.as_ref() as &dyn OperationalStore, Some(&l.keys))
        .await
        .expect("verify runs")
}

fn bad_at(v: &AuditVerification, seq: u64, words: &str) {
    assert!(!v.ok, "tampering not detected: {v:?}");
    assert_eq!(v.first_bad_seq, Some(seq), "{v:?}");
    let p = v.problem.as_deref().unwrap_or("");
    assert!(p.contains(words), "problem '{p}' should mention '{words}'");
}

#[tokio::test]
async fn untouched_log_verifies_with_both_anchors() {
    let l = log().await;
    let v = verify(&l).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(
        (v.entries, v.anchors, v.anchors_verified, v.head_seq),
        (20, 2, 2, Some(20))
    );
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[tokio::test]
async fn modified_entry_is_named() {
    let l = log().await;
    exec(&l, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7").await;
    bad_at(&verify(&l).await, 7, "changed");
}

#[tokio::test]
async fn deleted_entry_is_named() {
    let l = log().await;
    exec(&l, "DELETE FROM audit_log WHERE seq = 12").await;
    bad_at(&verify(&l).await, 12, "missing");
}

#[tokio::test]
async fn reordered_entries_are_named() {
    let l = log().await;
    // Swap entries 5 and 6 (their contents and hashes move, seq numbers stay in order).
    exec(&l, "UPDATE audit_log SET seq = -5 WHERE seq = 5").await;
    exec(&l, "UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
    exec(&l, "UPDATE audit_log SET seq = 6 WHERE seq = -5").await;
    bad_at(&verify(&l).await, 5, "prev_hash");
}

#[tokio::test]
async fn truncated_tail_is_caught_by_the_anchor() {
    let l = log().await;
    exec(&l, "DELETE FROM audit_log WHERE seq >= 18").await;
    // The chain that is left is internally consistent...
    assert_eq!(l.store.verify_audit().await.expect("chain alone"), 17);
    // ...but the anchor over entry 20 is not satisfied.
    bad_at(&verify(&l).await, 18, "missing");
}

#[tokio::test]
async fn rewritten_and_rehashed_chain_is_caught_by_the_anchor() {
    let l = log().await;
    // Rewrite entry 15 and re-hash 15..=20 so the chain is consistent again.
    let entries = l.store.audit_entries(0, 100).await.expect("entries");
    let mut prev = entries[13].hash.clone();
    for e in &entries[14..] {
        let actor = if e.seq == 15 {
            "mallory"
        } else {
            e.actor.as_str()
        };
        let h = audit_hash(&prev, e.seq, e.ts, actor, &e.action, &e.target, &e.detail);
        sqlx::query("UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(actor)
            .bind(&prev)
            .bind(&h)
            .bind(e.seq as i64)
            .execute(l.store.pool())
            .await
            .expect("rewrite");
        prev = h;
    }
    assert_eq!(
        l.store.verify_audit().await.expect("chain alone verifies"),
        20
    );
    // The anchor after entry 10 still holds, the one after 20 does not: 11..=20 are suspect.
    let v = verify(&l).await;
    bad_at(&v, 11, "rewritten");
    assert_eq!(v.anchors_verified, 1);
}

#[tokio::test]
async fn forged_anchor_and_missing_key_are_reported() {
    let l = log().await;
    exec(&l, "UPDATE audit_anchors SET head_seq = 9 WHERE id = 1").await;
    let v = verify(&l).await;
    assert!(
        !v.ok
            && v.problem
                .as_deref()
                .is_some_and(|p| p.contains("invalid signature")),
        "{v:?}"
    );

    let l = log().await;
    let other = AnchorKeyring::parse(&format!("k9:{}", "77".repeat(32)), "other").expect("keys");
    let v = verify_audit_log(l.store.as_ref() as &dyn OperationalStore, Some(&other))
        .await
        .expect("verify");
    assert!(
        v.ok && v.anchors_verified == 0 && v.warnings.len() == 2,
        "{v:?}"
    );
}
