//! The harness shared by the contract tests: each contract runs against SQLite and
//! PostgreSQL, on two stores opened separately on the same database (two pools, like two
//! processes).
//!
//! PostgreSQL comes from `ZHIYING_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each run works in a fresh schema that is
//! dropped afterwards, even when an assertion fails. When the server is unreachable the
//! test is skipped loudly, unless `ZHIYING_REQUIRE_POSTGRES=1` (set in CI), where it fails.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use zhiying_core::DataDir;
use zhiying_store::{OperationalStore, SqlStore, StoreError, StoreOptions};

/// Two stores on the same database.
pub async fn open_pair(
    options: &StoreOptions,
    data_dir: &DataDir,
) -> (Arc<SqlStore>, Arc<SqlStore>) {
    let first = SqlStore::open_with(options, data_dir).await.expect("open");
    let second = SqlStore::open_with(options, data_dir)
        .await
        .expect("open again (migrations are idempotent)");
    (Arc::new(first), Arc::new(second))
}

/// Runs `contract(store, second)` on SQLite in a temporary data directory.
pub async fn on_sqlite<F, Fut>(contract: F)
where
    F: FnOnce(Arc<SqlStore>, Arc<SqlStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let (s, second) = open_pair(&StoreOptions::default(), &DataDir::new(dir.path())).await;
    contract(s.clone(), second.clone()).await;
    s.close().await;
    second.close().await;
}

/// Runs `contract(store, second)` on PostgreSQL in a fresh schema named after `name`,
/// then drops the schema (also when the contract panics, whose panic is then resumed).
pub async fn on_postgres<F, Fut>(name: &str, contract: F)
where
    F: FnOnce(Arc<SqlStore>, Arc<SqlStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = std::env::var("ZHIYING_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let required = std::env::var("ZHIYING_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let schema = format!("zt_{name}_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let options = StoreOptions {
        database_url: Some(url),
        pg_schema: Some(schema.clone()),
        acquire_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    };
    let unused = DataDir::new("/nonexistent-zhiying-data-dir");
    let s = match SqlStore::open_with(&options, &unused).await {
        Ok(s) => Arc::new(s),
        Err(e @ StoreError::Connect { .. }) if !required => {
            eprintln!("\n!!!!!!!! SKIPPED: PostgreSQL {name} contract NOT RUN: {e}");
            eprintln!(
                "!!!!!!!! Set ZHIYING_TEST_DATABASE_URL, or ZHIYING_REQUIRE_POSTGRES=1 to make this a failure.\n"
            );
            return;
        }
        Err(e) => {
            panic!("PostgreSQL store did not open (ZHIYING_REQUIRE_POSTGRES={required}): {e}")
        }
    };
    let second = Arc::new(
        SqlStore::open_with(&options, &unused)
            .await
            .expect("open again"),
    );
    // In a task, so a failed assertion still lets us drop the schema below.
    let result = tokio::spawn(contract(s.clone(), second.clone())).await;
    second.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(s.pool())
    .await
    .expect("drop test schema");
    s.close().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
