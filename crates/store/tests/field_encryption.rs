//! Encryption at rest of the store's C2/C3 fields, on SQLite and PostgreSQL: ciphertext in
//! the raw database, clear values through the API, rotation, and clear errors.
//!
//! PostgreSQL comes from `ZHIYING_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a fresh schema dropped afterwards; skipped
//! loudly when unreachable unless `ZHIYING_REQUIRE_POSTGRES=1`.

mod common;

use sqlx::AnyPool;
use zhiying_core::DataDir;
use zhiying_core::domain::Role;
use zhiying_keyring::{Keyring, install};
use zhiying_store::{
    ConsentEvent, OperationalStore, SqlStore, StoreError, StoreOptions, UserUpdate,
};

/// The keyring is process-wide; the two backends' tests must not interleave.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PHONE: &str = "13812345678";
const NAME: &str = "王小明";

async fn raw(pool: &AnyPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(pool)
        .await
        .expect(sql)
}

async fn raw_fields(pool: &AnyPool) -> Vec<String> {
    let mut v = raw(
        pool,
        "SELECT evidence FROM consents WHERE evidence IS NOT NULL",
    )
    .await;
    v.extend(raw(pool, "SELECT reason FROM do_not_contact").await);
    v.extend(
        raw(
            pool,
            "SELECT display_name FROM users WHERE username = 'alice'",
        )
        .await,
    );
    v
}

async fn contract(store: &SqlStore) {
    let pool = store.pool().clone();
    let mut ring = Keyring::generate("k1").expect("key");
    install(ring.clone());

    store
        .record_consent(&ConsentEvent {
            customer_id: "C1".into(),
            purpose: "marketing".into(),
            channel: "sms".into(),
            granted: true,
            ts: 1_000,
            source: "call_centre".into(),
            evidence: Some(format!("call from {PHONE}, {NAME} agreed")),
        })
        .await
        .expect("consent");
    store
        .dnc_add("C1", &format!("{NAME} asked on {PHONE}"), "agent7")
        .await
        .expect("dnc");
    store
        .create_user("alice", NAME, "argon2-hash", &[Role::Analyst])
        .await
        .expect("user");

    let stored = raw_fields(&pool).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for v in &stored {
        assert!(v.starts_with("enc:k1:"), "stored in the clear: {v}");
        assert!(!v.contains(PHONE) && !v.contains(NAME), "{v}");
    }

    let h = store.consent_history("C1").await.expect("history");
    assert_eq!(
        h[0].evidence.as_deref(),
        Some(format!("call from {PHONE}, {NAME} agreed").as_str())
    );
    let dnc = store.dnc_list().await.expect("dnc list");
    assert_eq!(dnc[0].reason, format!("{NAME} asked on {PHONE}"));
    assert_eq!(
        store
            .user("alice")
            .await
            .expect("user")
            .expect("alice")
            .display_name,
        NAME
    );
    store
        .update_user(
            "alice",
            &UserUpdate {
                display_name: Some("王大明".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(
        store.users().await.expect("users")[0].display_name,
        "王大明"
    );
    assert_eq!(
        store.field_key_usage().await.expect("usage"),
        std::collections::BTreeMap::from([("k1".to_string(), 3)])
    );

    // A ciphertext moved into another field does not decrypt there.
    let evidence = raw(&pool, "SELECT evidence FROM consents").await.remove(0);
    let reason = raw(&pool, "SELECT reason FROM do_not_contact")
        .await
        .remove(0);
    sqlx::query("UPDATE do_not_contact SET reason = $1")
        .bind(&evidence)
        .execute(&pool)
        .await
        .expect("swap");
    let err = store.dnc_list().await.unwrap_err();
    assert!(matches!(err, StoreError::FieldCrypto { .. }), "{err}");
    assert!(err.to_string().contains("do_not_contact.reason"), "{err}");
    sqlx::query("UPDATE do_not_contact SET reason = $1")
        .bind(&reason)
        .execute(&pool)
        .await
        .expect("restore");

    // Without the key: an error naming the key id and how to supply it.
    install(Keyring::empty());
    let err = store.consent_history("C1").await.unwrap_err().to_string();
    assert!(err.contains("'k1'") && err.contains("--key-file"), "{err}");

    // Rotation: everything moves to k2; a rerun has nothing left to do; k1 can go.
    ring.rotate(Some("k2")).expect("rotate");
    install(ring.clone());
    let r = store.reencrypt_fields(&ring).await.expect("re-encrypt");
    assert_eq!(r.reencrypted.values().sum::<u64>(), 3, "{r:?}");
    let again = store.reencrypt_fields(&ring).await.expect("rerun");
    assert_eq!(again.reencrypted.values().sum::<u64>(), 0);
    assert_eq!(again.unchanged, 3);
    ring.remove_key("k1");
    ring.set_active("k2").expect("active");
    install(ring);
    for v in raw_fields(&pool).await {
        assert!(v.starts_with("enc:k2:"), "{v}");
    }
    assert_eq!(
        store.dnc_list().await.expect("dnc")[0].reason,
        format!("{NAME} asked on {PHONE}")
    );
    assert!(
        store.consent_history("C1").await.expect("history")[0]
            .evidence
            .as_deref()
            .is_some_and(|e| e.contains(PHONE))
    );

    // With encryption off, new values are plaintext and old ones still need their key.
    install(Keyring::empty());
    store
        .dnc_add("C2", "plain reason", "agent7")
        .await
        .expect("dnc");
    assert!(
        raw(
            &pool,
            "SELECT reason FROM do_not_contact WHERE customer_id = 'C2'"
        )
        .await
        .contains(&"plain reason".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fields_are_encrypted_at_rest() {
    let _g = LOCK.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::open_with(&StoreOptions::default(), &DataDir::new(dir.path()))
        .await
        .expect("open sqlite");
    contract(&store).await;
    store.close().await;
    // The raw database file holds no planted value either.
    let mut bytes = std::fs::read(dir.path().join("zhiying.db")).expect("db");
    if let Ok(wal) = std::fs::read(dir.path().join("zhiying.db-wal")) {
        bytes.extend(wal);
    }
    assert!(!bytes.windows(PHONE.len()).any(|w| w == PHONE.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fields_are_encrypted_at_rest() {
    let _g = LOCK.lock().await;
    common::on_postgres(
        "enc",
        |store, _second| async move { contract(&store).await },
    )
    .await;
}
