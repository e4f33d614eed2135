//! Encryption at rest of the store's C2/C3 fields (`docs/encryption.md`).
//!
//! The listed columns are sealed with the process keyring's active key on the way in and
//! opened on the way out, so callers of [`OperationalStore`](crate::OperationalStore) only
//! ever see clear values and the database only ever holds `enc:<kid>:…` (or, with no key
//! configured, plaintext as before). Each value's associated data is its `table.column`.

use std::collections::BTreeMap;

use zhiying_keyring::Keyring;

use crate::error::{DbContext, StoreError};
use crate::sql::SqlStore;

/// `(table, column, key column)` of every encrypted field: customer PII first.
pub const ENCRYPTED_FIELDS: &[(&str, &str, &str)] = &[
    // Free-text evidence of a consent: call recordings' references, form scans, phone
    // numbers and names as the agent wrote them.
    ("consents", "evidence", "id"),
    // Why a customer asked not to be contacted, in the agent's words.
    ("do_not_contact", "reason", "customer_id"),
    // Staff names (personal information of employees).
    ("users", "display_name", "username"),
];

fn ring(
    table: &'static str,
    column: &'static str,
    key: &str,
) -> Result<std::sync::Arc<Keyring>, StoreError> {
    zhiying_keyring::current().map_err(|source| StoreError::FieldCrypto {
        table,
        column,
        key: key.to_string(),
        source,
    })
}

/// The value to store for `table.column`: encrypted when a key is active.
pub(crate) fn seal(
    table: &'static str,
    column: &'static str,
    key: &str,
    value: &str,
) -> Result<String, StoreError> {
    ring(table, column, key)?
        .seal_field(&format!("{table}.{column}"), value)
        .map_err(|source| StoreError::FieldCrypto {
            table,
            column,
            key: key.to_string(),
            source,
        })
}

/// The clear value of a stored `table.column`.
pub(crate) fn open(
    table: &'static str,
    column: &'static str,
    key: &str,
    stored: String,
) -> Result<String, StoreError> {
    if !zhiying_keyring::is_encrypted(&stored) {
        return Ok(stored);
    }
    ring(table, column, key)?
        .open_field(&format!("{table}.{column}"), &stored)
        .map_err(|source| StoreError::FieldCrypto {
            table,
            column,
            key: key.to_string(),
            source,
        })
}

/// What a rotation did to the store.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FieldRotation {
    /// Values rewritten under the active key, per `table.column`.
    pub reencrypted: BTreeMap<String, u64>,
    /// Values already under the active key.
    pub unchanged: u64,
}

impl SqlStore {
    /// Re-encrypts every encrypted field (and plaintext left from before encryption was on)
    /// under `ring`'s active key, one transaction per table: an interrupted run leaves each
    /// table wholly old or new, and a rerun skips values already under the active key.
    pub async fn reencrypt_fields(&self, ring: &Keyring) -> Result<FieldRotation, StoreError> {
        let mut out = FieldRotation::default();
        for &(table, column, key_col) in ENCRYPTED_FIELDS {
            let field = format!("{table}.{column}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST({key_col} AS TEXT) AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(self.pool())
            .await
            .ctx("reading fields to re-encrypt")?;
            let mut tx = self.begin_write().await?;
            let mut n = 0u64;
            for row in &rows {
                let k: String = crate::sql::get(row, "k")?;
                let v: String = crate::sql::get(row, "v")?;
                let new =
                    ring.reseal_field(&field, &v)
                        .map_err(|source| StoreError::FieldCrypto {
                            table,
                            column,
                            key: k.clone(),
                            source,
                        })?;
                let Some(new) = new else {
                    out.unchanged += 1;
                    continue;
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {column} = $1 WHERE CAST({key_col} AS TEXT) = $2 AND {column} = $3"
                )))
                .bind(new)
                .bind(&k)
                .bind(&v)
                .execute(&mut *tx)
                .await
                .ctx("re-encrypting a field")?;
                n += 1;
            }
            tx.commit().await.ctx("committing re-encrypted fields")?;
            out.reencrypted.insert(field, n);
        }
        Ok(out)
    }

    /// How many stored field values each key id encrypts (`plaintext` for clear ones).
    pub async fn field_key_usage(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for &(table, column, _) in ENCRYPTED_FIELDS {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(self.pool())
            .await
            .ctx("counting encrypted fields")?;
            for row in &rows {
                let v: String = crate::sql::get(row, "v")?;
                let kid = zhiying_keyring::field_key_id(&v).unwrap_or("plaintext");
                *out.entry(kid.to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }
}
