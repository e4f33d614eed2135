//! Data-subject rights and retention in the operational store (migration 0007): what is
//! held on one customer, erasing it, the erased-customer suppression list and time-based
//! purges. [`crate::SqlStore`] forwards its trait methods here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::contacts::{CONTACT_COLUMNS, Contact, contact_from_row};
use crate::error::{DbContext, StoreError};
use crate::experiments::{Assignment, assignment_from_row};
use crate::sql::{Backend, SqlStore, consent_from_row, get, non_empty, now_micros, settle};
use crate::types::ConsentEvent;

/// An erased customer as the store remembers them: a keyed hash of the id, never the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub id_hash: String,
    pub erased_at: i64,
    pub reason: String,
}

/// Tables a retention rule can purge by age in the operational store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionTable {
    Contacts,
    Decisions,
    Responses,
}

impl RetentionTable {
    pub const ALL: [RetentionTable; 3] = [
        RetentionTable::Contacts,
        RetentionTable::Decisions,
        RetentionTable::Responses,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionTable::Contacts => "contacts",
            RetentionTable::Decisions => "decisions",
            RetentionTable::Responses => "responses",
        }
    }
}

impl std::str::FromStr for RetentionTable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RetentionTable::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| {
                format!("'{s}' is not a store table with a retention rule: expected contacts, decisions or responses")
            })
    }
}

/// Tables holding rows about a customer, in deletion order. `audit_log` is not here: the
/// erasure's own record stays, and past entries are chained and name ids, not personal data.
const CUSTOMER_TABLES: [&str; 7] = [
    "responses",
    "contacts",
    "decisions",
    "assignments",
    "consents",
    "do_not_contact",
    "trigger_firings",
];

/// Tables `zhiying-delivery` creates in the same database on first use: erased when present
/// (a pending message to an erased customer must never go out).
const DELIVERY_TABLES: [&str; 2] = ["delivery_outbox", "delivery_dead_letter"];

pub(crate) async fn consent_events(store: &SqlStore) -> Result<Vec<ConsentEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT customer_id, purpose, channel, granted, ts, source, evidence FROM consents ORDER BY ts, id",
    )
    .fetch_all(store.pool())
    .await
    .ctx("reading the consent ledger")?;
    rows.iter().map(consent_from_row).collect()
}

pub(crate) async fn customer_contacts(
    store: &SqlStore,
    customer_id: &str,
) -> Result<Vec<Contact>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM contacts WHERE customer_id = $1 ORDER BY ts, contact_id",
        CONTACT_COLUMNS.join(", ")
    )))
    .bind(customer_id)
    .fetch_all(store.pool())
    .await
    .ctx("reading a customer's contacts")?;
    rows.iter().map(contact_from_row).collect()
}

pub(crate) async fn customer_assignments(
    store: &SqlStore,
    customer_id: &str,
) -> Result<Vec<Assignment>, StoreError> {
    let rows = sqlx::query(
        "SELECT experiment_id, customer_id, arm, assigned_at FROM assignments \
         WHERE customer_id = $1 ORDER BY experiment_id",
    )
    .bind(customer_id)
    .fetch_all(store.pool())
    .await
    .ctx("reading a customer's experiment assignments")?;
    rows.iter().map(assignment_from_row).collect()
}

/// Deletes every row about `customer_id` in one transaction. On SQLite the deleted cells
/// are overwritten (`secure_delete`) and the WAL is checkpointed and truncated afterwards,
/// so the bytes are gone from the files, not only unreachable.
pub(crate) async fn erase_customer(
    store: &SqlStore,
    customer_id: &str,
) -> Result<BTreeMap<String, u64>, StoreError> {
    non_empty("customer_id", customer_id)?;
    let mut tx = store.begin_write().await?;
    let result = async {
        if store.backend() == Backend::Sqlite {
            sqlx::query("PRAGMA secure_delete = ON")
                .execute(&mut *tx)
                .await
                .ctx("turning on secure delete")?;
        }
        let mut counts = BTreeMap::new();
        for table in CUSTOMER_TABLES {
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE customer_id = $1"
            )))
            .bind(customer_id)
            .execute(&mut *tx)
            .await
            .ctx("erasing a customer")?;
            counts.insert(table.to_string(), done.rows_affected());
        }
        for table in DELIVERY_TABLES {
            let exists_sql = match store.backend() {
                Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                _ => "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = $1 AND table_schema = current_schema()",
            };
            let n: i64 = sqlx::query_scalar(exists_sql)
                .bind(table)
                .fetch_one(&mut *tx)
                .await
                .ctx("looking for the delivery outbox")?;
            if n == 0 {
                continue;
            }
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE customer_id = $1"
            )))
            .bind(customer_id)
            .execute(&mut *tx)
            .await
            .ctx("erasing a customer's outbound messages")?;
            counts.insert(table.to_string(), done.rows_affected());
        }
        Ok(counts)
    }
    .await;
    let counts = settle(tx, result, "erasing a customer").await?;
    if store.backend() == Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(store.pool())
            .await
            .ctx("checkpointing the SQLite WAL after an erasure")?;
    }
    Ok(counts)
}

pub(crate) async fn record_erasure(
    store: &SqlStore,
    id_hash: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    non_empty("id_hash", id_hash)?;
    non_empty("reason", reason)?;
    let done = sqlx::query(
        "INSERT INTO erased_customers (id_hash, erased_at, reason) VALUES ($1, $2, $3) \
         ON CONFLICT (id_hash) DO NOTHING",
    )
    .bind(id_hash)
    .bind(now_micros())
    .bind(reason)
    .execute(store.pool())
    .await
    .ctx("recording an erasure")?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn erasure(
    store: &SqlStore,
    id_hash: &str,
) -> Result<Option<ErasureRecord>, StoreError> {
    let row =
        sqlx::query("SELECT id_hash, erased_at, reason FROM erased_customers WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(store.pool())
            .await
            .ctx("checking the erased-customer list")?;
    row.map(|r| {
        Ok(ErasureRecord {
            id_hash: get(&r, "id_hash")?,
            erased_at: get(&r, "erased_at")?,
            reason: get(&r, "reason")?,
        })
    })
    .transpose()
}

pub(crate) async fn erasures(store: &SqlStore) -> Result<Vec<ErasureRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id_hash, erased_at, reason FROM erased_customers ORDER BY erased_at, id_hash",
    )
    .fetch_all(store.pool())
    .await
    .ctx("listing erased customers")?;
    rows.iter()
        .map(|r| {
            Ok(ErasureRecord {
                id_hash: get(r, "id_hash")?,
                erased_at: get(r, "erased_at")?,
                reason: get(r, "reason")?,
            })
        })
        .collect()
}

/// Rows of `table` with `ts < before`; deletes them unless `dry_run`.
pub(crate) async fn purge_older_than(
    store: &SqlStore,
    table: RetentionTable,
    before: i64,
    dry_run: bool,
) -> Result<u64, StoreError> {
    let t = table.as_str();
    if dry_run {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {t} WHERE ts < $1"
        )))
        .bind(before)
        .fetch_one(store.pool())
        .await
        .ctx("counting rows past retention")?;
        let n: i64 = row.try_get("n").ctx("counting rows past retention")?;
        return Ok(n.max(0) as u64);
    }
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {t} WHERE ts < $1"
    )))
    .bind(before)
    .execute(store.pool())
    .await
    .ctx("purging rows past retention")?;
    Ok(done.rows_affected())
}
