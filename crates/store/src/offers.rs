//! The versioned offer catalogue (migration 0004). Every change is a new immutable version;
//! `offers.current_version` points at the live one. Writers pass the version they read, so
//! two people editing the same offer cannot silently overwrite each other.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError};
use crate::sql::{SqlStore, count_from_db, count_to_db, get, non_empty, now_micros};
use crate::util::{check_id, json_from_db, json_text, parse_db, string_enum};

string_enum! {
    /// Whether decisioning may use an offer. Retired offers keep their history.
    OfferStatus, "offer status" {
        Active => "active",
        Retired => "retired",
    }
}

/// One immutable version of an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferVersion {
    pub offer_id: String,
    /// 1 for the first version, then consecutive.
    pub version: u64,
    /// The offer itself (product, risk level, eligibility, value, cost, treatments…).
    pub body: serde_json::Value,
    pub created_by: String,
    pub created_at: i64,
    /// Why this version was made.
    pub note: String,
}

/// An offer at its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub offer_id: String,
    pub status: OfferStatus,
    /// The current version number; pass it as `expected_version` to change the offer.
    pub version: u64,
    pub body: serde_json::Value,
    /// When version 1 was made.
    pub created_at: i64,
    /// When the current version was made, and by whom, and why.
    pub updated_at: i64,
    pub updated_by: String,
    pub note: String,
}

const CURRENT: &str = "SELECT o.offer_id, o.status, o.current_version, o.created_at, v.created_at AS updated_at, \
     v.created_by, v.note, v.body FROM offers o \
     JOIN offer_versions v ON v.offer_id = o.offer_id AND v.version = o.current_version";

fn offer_from_row(row: &AnyRow) -> Result<Offer, StoreError> {
    let offer_id: String = get(row, "offer_id")?;
    let status: String = get(row, "status")?;
    let body: String = get(row, "body")?;
    Ok(Offer {
        status: parse_db("offers", "status", &offer_id, &status)?,
        version: count_from_db(
            "offers",
            "current_version",
            &offer_id,
            get(row, "current_version")?,
        )?,
        body: json_from_db("offer_versions", "body", &offer_id, &body)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        updated_by: get(row, "created_by")?,
        note: get(row, "note")?,
        offer_id,
    })
}

fn version_from_row(row: &AnyRow) -> Result<OfferVersion, StoreError> {
    let offer_id: String = get(row, "offer_id")?;
    let body: String = get(row, "body")?;
    Ok(OfferVersion {
        version: count_from_db("offer_versions", "version", &offer_id, get(row, "version")?)?,
        body: json_from_db("offer_versions", "body", &offer_id, &body)?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        note: get(row, "note")?,
        offer_id,
    })
}

async fn current_version(store: &SqlStore, offer_id: &str) -> Result<u64, StoreError> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT current_version FROM offers WHERE offer_id = $1")
            .bind(offer_id)
            .fetch_optional(store.pool())
            .await
            .ctx("reading an offer's version")?;
    v.map(|v| count_from_db("offers", "current_version", offer_id, v))
        .transpose()
        .map(|v| v.unwrap_or(0))
}

pub(crate) async fn put(
    store: &SqlStore,
    offer_id: &str,
    expected_version: u64,
    body: &serde_json::Value,
    actor: &str,
    note: &str,
) -> Result<Offer, StoreError> {
    check_id("offer_id", offer_id)?;
    non_empty("actor", actor)?;
    if !body.is_object() {
        return Err(StoreError::Invalid {
            field: "body",
            reason: "an offer body must be a JSON object (product, risk level, value, treatments…)"
                .into(),
        });
    }
    let body_text = json_text("body", body)?;
    let version = expected_version
        .checked_add(1)
        .ok_or_else(|| StoreError::Invalid {
            field: "expected_version",
            reason: "is too large".into(),
        })?;
    let now = now_micros();
    let mut tx = store.begin_write().await?;
    let moved = if expected_version == 0 {
        sqlx::query(
            "INSERT INTO offers (offer_id, current_version, status, created_at, updated_at) \
             VALUES ($1, 1, 'active', $2, $2) ON CONFLICT (offer_id) DO NOTHING",
        )
        .bind(offer_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .ctx("creating an offer")?
    } else {
        sqlx::query(
            "UPDATE offers SET current_version = $1, updated_at = $2 \
             WHERE offer_id = $3 AND current_version = $4",
        )
        .bind(count_to_db("version", version)?)
        .bind(now)
        .bind(offer_id)
        .bind(count_to_db("expected_version", expected_version)?)
        .execute(&mut *tx)
        .await
        .ctx("moving an offer to a new version")?
    };
    if moved.rows_affected() != 1 {
        tx.rollback().await.ctx("abandoning an offer change")?;
        let actual = current_version(store, offer_id).await?;
        if actual == 0 {
            return Err(StoreError::NotFound {
                what: "offer",
                key: offer_id.to_string(),
            });
        }
        return Err(StoreError::VersionConflict {
            what: "offer",
            key: offer_id.to_string(),
            expected: expected_version,
            actual,
        });
    }
    sqlx::query(
        "INSERT INTO offer_versions (offer_id, version, body, created_by, created_at, note) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(offer_id)
    .bind(count_to_db("version", version)?)
    .bind(&body_text)
    .bind(actor)
    .bind(now)
    .bind(note)
    .execute(&mut *tx)
    .await
    .ctx("storing an offer version")?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{CURRENT} WHERE o.offer_id = $1"
    )))
    .bind(offer_id)
    .fetch_one(&mut *tx)
    .await
    .ctx("reading back an offer")?;
    let offer = offer_from_row(&row)?;
    tx.commit().await.ctx("committing an offer version")?;
    Ok(offer)
}

pub(crate) async fn get_offer(
    store: &SqlStore,
    offer_id: &str,
) -> Result<Option<Offer>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{CURRENT} WHERE o.offer_id = $1"
    )))
    .bind(offer_id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading an offer")?;
    row.as_ref().map(offer_from_row).transpose()
}

pub(crate) async fn list(
    store: &SqlStore,
    include_retired: bool,
) -> Result<Vec<Offer>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{CURRENT} WHERE ($1 = 1 OR o.status = 'active') ORDER BY o.offer_id"
    )))
    .bind(i64::from(include_retired))
    .fetch_all(store.pool())
    .await
    .ctx("listing offers")?;
    rows.iter().map(offer_from_row).collect()
}

pub(crate) async fn history(
    store: &SqlStore,
    offer_id: &str,
) -> Result<Vec<OfferVersion>, StoreError> {
    let rows = sqlx::query(
        "SELECT offer_id, version, body, created_by, created_at, note FROM offer_versions \
         WHERE offer_id = $1 ORDER BY version",
    )
    .bind(offer_id)
    .fetch_all(store.pool())
    .await
    .ctx("reading offer history")?;
    rows.iter().map(version_from_row).collect()
}

pub(crate) async fn version(
    store: &SqlStore,
    offer_id: &str,
    version: u64,
) -> Result<Option<OfferVersion>, StoreError> {
    let row = sqlx::query(
        "SELECT offer_id, version, body, created_by, created_at, note FROM offer_versions \
         WHERE offer_id = $1 AND version = $2",
    )
    .bind(offer_id)
    .bind(count_to_db("version", version)?)
    .fetch_optional(store.pool())
    .await
    .ctx("reading an offer version")?;
    row.as_ref().map(version_from_row).transpose()
}

pub(crate) async fn set_status(
    store: &SqlStore,
    offer_id: &str,
    status: OfferStatus,
) -> Result<Offer, StoreError> {
    let done = sqlx::query("UPDATE offers SET status = $1, updated_at = $2 WHERE offer_id = $3")
        .bind(status.as_str())
        .bind(now_micros())
        .bind(offer_id)
        .execute(store.pool())
        .await
        .ctx("changing an offer's status")?;
    let not_found = || StoreError::NotFound {
        what: "offer",
        key: offer_id.to_string(),
    };
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    get_offer(store, offer_id).await?.ok_or_else(not_found)
}
