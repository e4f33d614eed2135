//! Triggered campaigns (migration 0008): the event rules and the record of every firing.
//! [`crate::SqlStore`] forwards its trait methods here.
//!
//! A rule is stored as its JSON body (the server validates and interprets it); edits bump
//! `version`, and a writer that passes the version it read is refused when someone else
//! moved it meanwhile. A firing is keyed by its idempotency key (rule + customer + event or
//! day), so recording the same firing twice keeps the first.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError};
use crate::sql::{SqlStore, count_from_db, count_to_db, get, non_empty, now_micros};
use crate::util::{
    check_id, json_from_db, json_text, multi_row_insert, parse_db, rows_per_insert, string_enum,
};

string_enum! {
    /// What a firing did.
    FiringOutcome, "firing outcome" {
        /// A decision chose an offer and its message is in the delivery outbox.
        Enqueued => "enqueued",
        /// Every offer was removed by a policy (consent, caps, quiet hours…): nothing sent.
        NoOffer => "no_offer",
        /// The decision or the outbox failed; `reason` says why.
        Error => "error",
    }
}

/// A trigger rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerRuleRecord {
    pub rule_id: String,
    /// The rule itself (event kind, threshold, channel, names…), a JSON object.
    pub body: serde_json::Value,
    pub enabled: bool,
    /// 1 when created, +1 per edit; pass it back as `expected_version` to edit safely.
    pub version: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One firing of a rule for one customer and one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerFiring {
    /// The idempotency key: also the outbox message's key and the decision id.
    pub firing_id: String,
    pub rule_id: String,
    pub customer_id: String,
    /// What fired it: `txn:<id>`, `evt:<id>`, `aud:<audience>:<cause>`, `card:<account>:<day>`…
    pub event_ref: String,
    pub channel: String,
    pub outcome: FiringOutcome,
    /// For `no_offer`: the engagement policy that removed the offers that got furthest.
    pub policy: Option<String>,
    pub reason: Option<String>,
    pub decision_id: Option<String>,
    pub offer_id: Option<String>,
    /// The `delivery_outbox` row holding the message.
    pub outbox_id: Option<i64>,
    /// From the event's arrival to the committed outbox row, microseconds.
    pub latency_us: i64,
    pub fired_at: i64,
    /// Anything else worth keeping (message text, removed-by-policy counts, event fields).
    pub detail: serde_json::Value,
}

const RULE_COLUMNS: &str = "rule_id, body, enabled, version, created_at, updated_at, updated_by";

const FIRING_COLUMNS: [&str; 14] = [
    "firing_id",
    "rule_id",
    "customer_id",
    "event_ref",
    "channel",
    "outcome",
    "policy",
    "reason",
    "decision_id",
    "offer_id",
    "outbox_id",
    "latency_us",
    "fired_at",
    "detail",
];

fn rule_from_row(row: &AnyRow) -> Result<TriggerRuleRecord, StoreError> {
    let rule_id: String = get(row, "rule_id")?;
    let body: String = get(row, "body")?;
    Ok(TriggerRuleRecord {
        body: json_from_db("trigger_rules", "body", &rule_id, &body)?,
        enabled: get::<i64>(row, "enabled")? != 0,
        version: count_from_db("trigger_rules", "version", &rule_id, get(row, "version")?)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        updated_by: get(row, "updated_by")?,
        rule_id,
    })
}

fn firing_from_row(row: &AnyRow) -> Result<TriggerFiring, StoreError> {
    let firing_id: String = get(row, "firing_id")?;
    let outcome: String = get(row, "outcome")?;
    let detail: String = get(row, "detail")?;
    Ok(TriggerFiring {
        rule_id: get(row, "rule_id")?,
        customer_id: get(row, "customer_id")?,
        event_ref: get(row, "event_ref")?,
        channel: get(row, "channel")?,
        outcome: parse_db("trigger_firings", "outcome", &firing_id, &outcome)?,
        policy: get(row, "policy")?,
        reason: get(row, "reason")?,
        decision_id: get(row, "decision_id")?,
        offer_id: get(row, "offer_id")?,
        outbox_id: get(row, "outbox_id")?,
        latency_us: get(row, "latency_us")?,
        fired_at: get(row, "fired_at")?,
        detail: json_from_db("trigger_firings", "detail", &firing_id, &detail)?,
        firing_id,
    })
}

async fn current_version(store: &SqlStore, rule_id: &str) -> Result<u64, StoreError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT version FROM trigger_rules WHERE rule_id = $1")
        .bind(rule_id)
        .fetch_optional(store.pool())
        .await
        .ctx("reading a trigger rule's version")?;
    v.map(|v| count_from_db("trigger_rules", "version", rule_id, v))
        .transpose()
        .map(|v| v.unwrap_or(0))
}

pub(crate) async fn put_rule(
    store: &SqlStore,
    rule_id: &str,
    expected_version: Option<u64>,
    body: &serde_json::Value,
    enabled: bool,
    actor: &str,
) -> Result<TriggerRuleRecord, StoreError> {
    check_id("rule_id", rule_id)?;
    non_empty("actor", actor)?;
    if !body.is_object() {
        return Err(StoreError::Invalid {
            field: "body",
            reason: "a trigger rule must be a JSON object (when, channel, names…)".into(),
        });
    }
    let body_text = json_text("body", body)?;
    let now = now_micros();
    let done = match expected_version {
        None => sqlx::query(
            "INSERT INTO trigger_rules (rule_id, body, enabled, version, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, 1, $4, $4, $5) \
             ON CONFLICT (rule_id) DO UPDATE SET body = excluded.body, enabled = excluded.enabled, \
             version = trigger_rules.version + 1, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(rule_id)
        .bind(&body_text)
        .bind(i64::from(enabled))
        .bind(now)
        .bind(actor)
        .execute(store.pool())
        .await
        .ctx("saving a trigger rule")?,
        Some(0) => sqlx::query(
            "INSERT INTO trigger_rules (rule_id, body, enabled, version, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, 1, $4, $4, $5) ON CONFLICT (rule_id) DO NOTHING",
        )
        .bind(rule_id)
        .bind(&body_text)
        .bind(i64::from(enabled))
        .bind(now)
        .bind(actor)
        .execute(store.pool())
        .await
        .ctx("creating a trigger rule")?,
        Some(v) => sqlx::query(
            "UPDATE trigger_rules SET body = $1, enabled = $2, version = version + 1, \
             updated_at = $3, updated_by = $4 WHERE rule_id = $5 AND version = $6",
        )
        .bind(&body_text)
        .bind(i64::from(enabled))
        .bind(now)
        .bind(actor)
        .bind(rule_id)
        .bind(count_to_db("expected_version", v)?)
        .execute(store.pool())
        .await
        .ctx("editing a trigger rule")?,
    };
    if done.rows_affected() != 1 {
        let actual = current_version(store, rule_id).await?;
        let expected = expected_version.unwrap_or(0);
        if actual == 0 {
            return Err(StoreError::NotFound {
                what: "trigger rule",
                key: rule_id.to_string(),
            });
        }
        return Err(StoreError::VersionConflict {
            what: "trigger rule",
            key: rule_id.to_string(),
            expected,
            actual,
        });
    }
    get_rule(store, rule_id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "trigger rule",
            key: rule_id.to_string(),
        })
}

pub(crate) async fn get_rule(
    store: &SqlStore,
    rule_id: &str,
) -> Result<Option<TriggerRuleRecord>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM trigger_rules WHERE rule_id = $1"
    )))
    .bind(rule_id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a trigger rule")?;
    row.as_ref().map(rule_from_row).transpose()
}

pub(crate) async fn rules(store: &SqlStore) -> Result<Vec<TriggerRuleRecord>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM trigger_rules ORDER BY rule_id"
    )))
    .fetch_all(store.pool())
    .await
    .ctx("listing trigger rules")?;
    rows.iter().map(rule_from_row).collect()
}

pub(crate) async fn delete_rule(store: &SqlStore, rule_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM trigger_rules WHERE rule_id = $1")
        .bind(rule_id)
        .execute(store.pool())
        .await
        .ctx("deleting a trigger rule")?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn record_firings(
    store: &SqlStore,
    firings: &[TriggerFiring],
) -> Result<u64, StoreError> {
    let mut details = Vec::with_capacity(firings.len());
    for f in firings {
        check_id("firing_id", &f.firing_id)?;
        check_id("rule_id", &f.rule_id)?;
        check_id("customer_id", &f.customer_id)?;
        details.push(json_text("detail", &f.detail)?);
    }
    if firings.is_empty() {
        return Ok(0);
    }
    let mut inserted = 0;
    let mut tx = store.begin_write().await?;
    let per = rows_per_insert(FIRING_COLUMNS.len());
    for (chunk, texts) in firings.chunks(per).zip(details.chunks(per)) {
        let sql = multi_row_insert(
            "trigger_firings",
            &FIRING_COLUMNS,
            chunk.len(),
            "ON CONFLICT (firing_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (f, detail) in chunk.iter().zip(texts) {
            q = q
                .bind(&f.firing_id)
                .bind(&f.rule_id)
                .bind(&f.customer_id)
                .bind(&f.event_ref)
                .bind(&f.channel)
                .bind(f.outcome.as_str())
                .bind(f.policy.as_deref())
                .bind(f.reason.as_deref())
                .bind(f.decision_id.as_deref())
                .bind(f.offer_id.as_deref())
                .bind(f.outbox_id)
                .bind(f.latency_us)
                .bind(f.fired_at)
                .bind(detail.as_str());
        }
        match q.execute(&mut *tx).await {
            Ok(done) => inserted += done.rows_affected(),
            Err(e) => {
                tx.rollback().await.ctx("abandoning trigger firings")?;
                return Err(StoreError::Db {
                    context: "recording trigger firings",
                    source: e,
                });
            }
        }
    }
    tx.commit().await.ctx("committing trigger firings")?;
    Ok(inserted)
}

/// Which of `ids` have fired already.
pub(crate) async fn fired_ids(
    store: &SqlStore,
    ids: &[String],
) -> Result<BTreeSet<String>, StoreError> {
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT firing_id FROM trigger_firings WHERE firing_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.as_str());
        }
        let found: Vec<String> = q
            .fetch_all(store.pool())
            .await
            .ctx("looking up trigger firings")?;
        out.extend(found);
    }
    Ok(out)
}

pub(crate) async fn firing(
    store: &SqlStore,
    firing_id: &str,
) -> Result<Option<TriggerFiring>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM trigger_firings WHERE firing_id = $1",
        FIRING_COLUMNS.join(", ")
    )))
    .bind(firing_id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a trigger firing")?;
    row.as_ref().map(firing_from_row).transpose()
}

pub(crate) async fn firings(
    store: &SqlStore,
    rule_id: Option<&str>,
    limit: u32,
) -> Result<Vec<TriggerFiring>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM trigger_firings WHERE ($1 = '' OR rule_id = $1) \
         ORDER BY fired_at DESC, firing_id DESC LIMIT $2",
        FIRING_COLUMNS.join(", ")
    )))
    .bind(rule_id.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(store.pool())
    .await
    .ctx("listing trigger firings")?;
    rows.iter().map(firing_from_row).collect()
}
