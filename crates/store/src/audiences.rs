//! Saved audiences and their snapshots (migration 0003). The SQL is the portable subset
//! used everywhere in this crate; [`crate::SqlStore`] forwards its trait methods here.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::error::{DbContext, StoreError, is_unique_violation};

/// A named audience definition (an expression in the audience language).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAudience {
    /// `aud-` and 12 hex digits, assigned on creation.
    pub id: String,
    pub name: String,
    pub description: String,
    pub definition: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Members at the last count, and when (UTC micros) it was taken.
    pub last_count: Option<u64>,
    pub last_counted_at: Option<i64>,
}

/// What a caller gives to create an audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAudience {
    pub name: String,
    pub description: String,
    pub definition: String,
    pub created_by: String,
    /// The member count at save time, if the caller evaluated it.
    pub count: Option<u64>,
}

/// One frozen member list of an audience, written as Parquet at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceSnapshot {
    pub audience_id: String,
    pub taken_at: i64,
    pub member_count: u64,
    pub path: String,
    /// The definition as it was when the snapshot was taken.
    pub definition: String,
}

const COLUMNS: &str = "id, name, description, definition, created_by, created_at, updated_at, last_count, last_counted_at";

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn invalid(field: &'static str, reason: &str) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

fn to_db(field: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| invalid(field, "too large"))
}

fn from_row(row: &AnyRow) -> Result<SavedAudience, StoreError> {
    let id: String = row.try_get("id").ctx("reading an audience")?;
    let count: Option<i64> = row.try_get("last_count").ctx("reading an audience")?;
    let last_count = match count {
        Some(c) => Some(u64::try_from(c).map_err(|_| StoreError::Corrupt {
            table: "saved_audiences",
            column: "last_count",
            key: id.clone(),
            reason: format!("negative count {c}"),
        })?),
        None => None,
    };
    Ok(SavedAudience {
        name: row.try_get("name").ctx("reading an audience")?,
        description: row.try_get("description").ctx("reading an audience")?,
        definition: row.try_get("definition").ctx("reading an audience")?,
        created_by: row.try_get("created_by").ctx("reading an audience")?,
        created_at: row.try_get("created_at").ctx("reading an audience")?,
        updated_at: row.try_get("updated_at").ctx("reading an audience")?,
        last_count,
        last_counted_at: row.try_get("last_counted_at").ctx("reading an audience")?,
        id,
    })
}

pub(crate) async fn create(pool: &AnyPool, new: &NewAudience) -> Result<SavedAudience, StoreError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    if new.definition.trim().is_empty() {
        return Err(invalid("definition", "must not be empty"));
    }
    if new.created_by.trim().is_empty() {
        return Err(invalid("created_by", "must not be empty"));
    }
    let now = now_micros();
    let digest = Sha256::digest(format!("{name}\u{0}{now}\u{0}{}", new.definition).as_bytes());
    let id = format!("aud-{}", &hex::encode(digest)[..12]);
    let count = new.count.map(|c| to_db("count", c)).transpose()?;
    let res = sqlx::query(
        "INSERT INTO saved_audiences (id, name, description, definition, created_by, created_at, updated_at, last_count, last_counted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(name)
    .bind(&new.description)
    .bind(&new.definition)
    .bind(&new.created_by)
    .bind(now)
    .bind(now)
    .bind(count)
    .bind(count.map(|_| now))
    .execute(pool)
    .await;
    match res {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Conflict {
                what: "audience",
                key: name.to_string(),
            });
        }
        Err(e) => {
            return Err(StoreError::Db {
                context: "saving an audience",
                source: e,
            });
        }
    }
    Ok(SavedAudience {
        id,
        name: name.to_string(),
        description: new.description.clone(),
        definition: new.definition.clone(),
        created_by: new.created_by.clone(),
        created_at: now,
        updated_at: now,
        last_count: new.count,
        last_counted_at: new.count.map(|_| now),
    })
}

pub(crate) async fn get(pool: &AnyPool, id: &str) -> Result<Option<SavedAudience>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saved_audiences WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .ctx("reading an audience")?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn list(pool: &AnyPool) -> Result<Vec<SavedAudience>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saved_audiences ORDER BY name, id"
    )))
    .fetch_all(pool)
    .await
    .ctx("listing audiences")?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn record_count(
    pool: &AnyPool,
    id: &str,
    count: u64,
    at: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE saved_audiences SET last_count = $1, last_counted_at = $2 WHERE id = $3",
    )
    .bind(to_db("count", count)?)
    .bind(at)
    .bind(id)
    .execute(pool)
    .await
    .ctx("recording an audience count")?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "audience",
            key: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn delete(pool: &AnyPool, id: &str) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.ctx("deleting an audience")?;
    sqlx::query("DELETE FROM audience_snapshots WHERE audience_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("deleting audience snapshots")?;
    let done = sqlx::query("DELETE FROM saved_audiences WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("deleting an audience")?;
    tx.commit().await.ctx("deleting an audience")?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn record_snapshot(
    pool: &AnyPool,
    s: &AudienceSnapshot,
) -> Result<(), StoreError> {
    let res = sqlx::query(
        "INSERT INTO audience_snapshots (audience_id, taken_at, member_count, path, definition) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&s.audience_id)
    .bind(s.taken_at)
    .bind(to_db("member_count", s.member_count)?)
    .bind(&s.path)
    .bind(&s.definition)
    .execute(pool)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict {
            what: "audience snapshot",
            key: format!("{}@{}", s.audience_id, s.taken_at),
        }),
        Err(e) => Err(StoreError::Db {
            context: "recording an audience snapshot",
            source: e,
        }),
    }
}

pub(crate) async fn snapshots(
    pool: &AnyPool,
    id: &str,
) -> Result<Vec<AudienceSnapshot>, StoreError> {
    let rows = sqlx::query(
        "SELECT audience_id, taken_at, member_count, path, definition FROM audience_snapshots \
         WHERE audience_id = $1 ORDER BY taken_at DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .ctx("listing audience snapshots")?;
    rows.iter()
        .map(|r| {
            let n: i64 = r.try_get("member_count").ctx("reading a snapshot")?;
            Ok(AudienceSnapshot {
                audience_id: r.try_get("audience_id").ctx("reading a snapshot")?,
                taken_at: r.try_get("taken_at").ctx("reading a snapshot")?,
                member_count: u64::try_from(n).unwrap_or(0),
                path: r.try_get("path").ctx("reading a snapshot")?,
                definition: r.try_get("definition").ctx("reading a snapshot")?,
            })
        })
        .collect()
}
