//! Campaigns under maker-checker (migration 0004). A campaign is edited only as a draft,
//! then moves through a fixed lifecycle; every move is recorded with what the actor saw.
//!
//! ```text
//! draft → submitted → approved → running ⇄ paused
//!   ↑         ↓                     ↓
//!   └─── rejected                completed
//! (any state before completed may be cancelled)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError};
use crate::sql::{Backend, SqlStore, get, non_empty, now_micros, settle};
use crate::util::{
    check_checker, check_transition, json_from_db, json_text, parse_db, string_enum,
};

string_enum! {
    /// A batch campaign runs once on an audience; a triggered one reacts to events.
    CampaignKind, "campaign kind" {
        Batch => "batch",
        Triggered => "triggered",
    }
}

string_enum! {
    /// Where a campaign is in its lifecycle; see [`CampaignStatus::next`].
    CampaignStatus, "campaign status" {
        Draft => "draft",
        Submitted => "submitted",
        Approved => "approved",
        Rejected => "rejected",
        Running => "running",
        Paused => "paused",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

impl CampaignStatus {
    /// The states a campaign may move to from this one.
    pub fn next(self) -> &'static [CampaignStatus] {
        use CampaignStatus::*;
        match self {
            Draft => &[Submitted, Cancelled],
            Submitted => &[Approved, Rejected, Cancelled],
            Rejected => &[Draft, Cancelled],
            Approved => &[Running, Cancelled],
            Running => &[Paused, Completed, Cancelled],
            Paused => &[Running, Cancelled],
            Completed | Cancelled => &[],
        }
    }
}

/// The editable part of a campaign: what a maker writes and a checker approves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDraft {
    pub name: String,
    pub kind: CampaignKind,
    /// An audience expression (or `audience:<id>` of a saved audience).
    pub audience: String,
    /// Offer ids, at least one.
    pub offers: Vec<String>,
    /// Channels, at least one, no repeats.
    pub channels: Vec<String>,
    /// When it runs: a start/end window for batch, a trigger definition for triggered.
    pub schedule: serde_json::Value,
    /// Budget in 分; 0 means no spend.
    pub budget_fen: i64,
    /// Share of the audience held out for measurement, in [0, 1).
    pub holdout_share: f64,
    /// Everything else (treatments, journey steps, caps) as the campaign designer wrote it.
    pub spec: serde_json::Value,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub campaign_id: String,
    #[serde(flatten)]
    pub draft: CampaignDraft,
    pub status: CampaignStatus,
    pub created_by: String,
    /// Who submitted it for approval most recently (cleared when it returns to draft).
    pub submitted_by: Option<String>,
    /// Who approved it (cleared when it returns to draft).
    pub approved_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One recorded lifecycle move. Creation is recorded as `from: None, to: draft`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignTransition {
    pub campaign_id: String,
    pub from: Option<CampaignStatus>,
    pub to: CampaignStatus,
    pub actor: String,
    pub ts: i64,
    pub note: String,
    /// What the actor saw when deciding (for approvals, an [`ApprovalSnapshot`]).
    pub snapshot: serde_json::Value,
}

/// What an approver must have seen: required (as the transition snapshot) to approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalSnapshot {
    /// Customers in the audience when it was reviewed.
    pub audience_size: u64,
    /// Expected contacts per channel after caps and holdout.
    pub expected_contacts: BTreeMap<String, u64>,
    /// Must equal the campaign's budget: the approver saw the real figure.
    pub budget_fen: i64,
    /// The content (copy, templates) as reviewed.
    pub content: serde_json::Value,
}

const COLUMNS: &str = "campaign_id, name, kind, audience, offers, channels, schedule, budget_fen, holdout_share, \
     status, spec, created_by, submitted_by, approved_by, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Campaign, StoreError> {
    let id: String = get(row, "campaign_id")?;
    let text = |c: &'static str| get::<String>(row, c);
    Ok(Campaign {
        draft: CampaignDraft {
            name: text("name")?,
            kind: parse_db("campaigns", "kind", &id, &text("kind")?)?,
            audience: text("audience")?,
            offers: json_from_db("campaigns", "offers", &id, &text("offers")?)?,
            channels: json_from_db("campaigns", "channels", &id, &text("channels")?)?,
            schedule: json_from_db("campaigns", "schedule", &id, &text("schedule")?)?,
            budget_fen: get(row, "budget_fen")?,
            holdout_share: get(row, "holdout_share")?,
            spec: json_from_db("campaigns", "spec", &id, &text("spec")?)?,
        },
        status: parse_db("campaigns", "status", &id, &text("status")?)?,
        created_by: text("created_by")?,
        submitted_by: get(row, "submitted_by")?,
        approved_by: get(row, "approved_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        campaign_id: id,
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn validate(d: &CampaignDraft) -> Result<(), StoreError> {
    let name = d.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    non_empty("audience", &d.audience)?;
    if d.offers.is_empty() || d.offers.iter().any(|o| o.trim().is_empty()) {
        return Err(invalid("offers", "list at least one offer id, none empty"));
    }
    if d.channels.is_empty() || d.channels.iter().any(|c| c.trim().is_empty()) {
        return Err(invalid("channels", "list at least one channel, none empty"));
    }
    for (i, c) in d.channels.iter().enumerate() {
        if d.channels[..i].contains(c) {
            return Err(invalid("channels", format!("'{c}' is listed twice")));
        }
    }
    if d.budget_fen < 0 {
        return Err(invalid(
            "budget_fen",
            format!(
                "{} is negative; give the budget in 分, 0 for none",
                d.budget_fen
            ),
        ));
    }
    if !(d.holdout_share.is_finite() && (0.0..1.0).contains(&d.holdout_share)) {
        return Err(invalid(
            "holdout_share",
            format!(
                "{} must be at least 0 and below 1 (e.g. 0.1 for 10%)",
                d.holdout_share
            ),
        ));
    }
    Ok(())
}

// One argument per column of the transition row.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    from: Option<CampaignStatus>,
    to: CampaignStatus,
    actor: &str,
    ts: i64,
    note: &str,
    snapshot: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO campaign_transitions (campaign_id, from_status, to_status, actor, ts, note, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(from.map(CampaignStatus::as_str))
    .bind(to.as_str())
    .bind(actor)
    .bind(ts)
    .bind(note)
    .bind(json_text("snapshot", snapshot)?)
    .execute(&mut **tx)
    .await
    .ctx("recording a campaign transition")?;
    Ok(())
}

pub(crate) async fn create(
    store: &SqlStore,
    draft: &CampaignDraft,
    actor: &str,
) -> Result<Campaign, StoreError> {
    validate(draft)?;
    non_empty("actor", actor)?;
    let now = now_micros();
    let salt: u64 = rand::random();
    let digest =
        Sha256::digest(format!("{}\u{0}{actor}\u{0}{now}\u{0}{salt}", draft.name).as_bytes());
    let id = format!("cmp-{}", &hex::encode(digest)[..12]);
    let mut tx = store.begin_write().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO campaigns ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, $13, $13)"
    )))
    .bind(&id)
    .bind(draft.name.trim())
    .bind(draft.kind.as_str())
    .bind(&draft.audience)
    .bind(json_text("offers", &draft.offers)?)
    .bind(json_text("channels", &draft.channels)?)
    .bind(json_text("schedule", &draft.schedule)?)
    .bind(draft.budget_fen)
    .bind(draft.holdout_share)
    .bind(CampaignStatus::Draft.as_str())
    .bind(json_text("spec", &draft.spec)?)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await
    .ctx("creating a campaign")?;
    record(
        &mut tx,
        &id,
        None,
        CampaignStatus::Draft,
        actor,
        now,
        "created",
        &serde_json::Value::Null,
    )
    .await?;
    tx.commit().await.ctx("committing a new campaign")?;
    get_campaign(store, &id).await?.ok_or(StoreError::NotFound {
        what: "campaign",
        key: id,
    })
}

pub(crate) async fn update(
    store: &SqlStore,
    id: &str,
    draft: &CampaignDraft,
) -> Result<Campaign, StoreError> {
    validate(draft)?;
    let done = sqlx::query(
        "UPDATE campaigns SET name = $1, kind = $2, audience = $3, offers = $4, channels = $5, schedule = $6, \
         budget_fen = $7, holdout_share = $8, spec = $9, updated_at = $10 \
         WHERE campaign_id = $11 AND status = 'draft'",
    )
    .bind(draft.name.trim())
    .bind(draft.kind.as_str())
    .bind(&draft.audience)
    .bind(json_text("offers", &draft.offers)?)
    .bind(json_text("channels", &draft.channels)?)
    .bind(json_text("schedule", &draft.schedule)?)
    .bind(draft.budget_fen)
    .bind(draft.holdout_share)
    .bind(json_text("spec", &draft.spec)?)
    .bind(now_micros())
    .bind(id)
    .execute(store.pool())
    .await
    .ctx("editing a campaign")?;
    let current = get_campaign(store, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "campaign",
            key: id.to_string(),
        })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotEditable {
            what: "campaign",
            key: id.to_string(),
            status: current.status.to_string(),
            editable: "draft",
            fix: "a rejected campaign returns to draft; otherwise cancel it and create a new one",
        });
    }
    Ok(current)
}

pub(crate) async fn transition(
    store: &SqlStore,
    id: &str,
    to: CampaignStatus,
    actor: &str,
    note: &str,
    snapshot: &serde_json::Value,
) -> Result<Campaign, StoreError> {
    non_empty("actor", actor)?;
    let mut tx = store.begin_write().await?;
    let result = transition_in(&mut tx, store.backend(), id, to, actor, note, snapshot).await;
    settle(tx, result, "committing a campaign transition").await
}

async fn transition_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    id: &str,
    to: CampaignStatus,
    actor: &str,
    note: &str,
    snapshot: &serde_json::Value,
) -> Result<Campaign, StoreError> {
    // PostgreSQL: hold the row so a concurrent transition waits and then sees the new state.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE campaign_id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .ctx("reading a campaign to move it")?;
    let Some(row) = row else {
        return Err(StoreError::NotFound {
            what: "campaign",
            key: id.to_string(),
        });
    };
    let current = from_row(&row)?;
    let from = current.status;
    check_transition("campaign", id, from, to, from.next())?;
    let (mut submitted_by, mut approved_by) =
        (current.submitted_by.clone(), current.approved_by.clone());
    match to {
        CampaignStatus::Submitted => {
            submitted_by = Some(actor.to_string());
            approved_by = None;
        }
        CampaignStatus::Approved => {
            check_checker(
                "campaign",
                id,
                actor,
                &current.created_by,
                current.submitted_by.as_deref(),
            )?;
            let seen: ApprovalSnapshot = serde_json::from_value(snapshot.clone()).map_err(|e| {
                invalid(
                    "snapshot",
                    format!(
                        "an approval must record what the approver saw \
                         ({{audience_size, expected_contacts, budget_fen, content}}): {e}"
                    ),
                )
            })?;
            if seen.budget_fen != current.draft.budget_fen {
                return Err(invalid(
                    "snapshot.budget_fen",
                    format!(
                        "the approver saw a budget of {} 分 but the campaign's is {} 分: review it again",
                        seen.budget_fen, current.draft.budget_fen
                    ),
                ));
            }
            approved_by = Some(actor.to_string());
        }
        CampaignStatus::Draft => {
            submitted_by = None;
            approved_by = None;
        }
        _ => {}
    }
    let now = now_micros().max(current.updated_at);
    sqlx::query(
        "UPDATE campaigns SET status = $1, submitted_by = $2, approved_by = $3, updated_at = $4 \
         WHERE campaign_id = $5",
    )
    .bind(to.as_str())
    .bind(submitted_by.as_deref())
    .bind(approved_by.as_deref())
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .ctx("moving a campaign")?;
    record(tx, id, Some(from), to, actor, now, note, snapshot).await?;
    Ok(Campaign {
        status: to,
        submitted_by,
        approved_by,
        updated_at: now,
        ..current
    })
}

pub(crate) async fn get_campaign(
    store: &SqlStore,
    id: &str,
) -> Result<Option<Campaign>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE campaign_id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a campaign")?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn list(
    store: &SqlStore,
    status: Option<CampaignStatus>,
) -> Result<Vec<Campaign>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE ($1 IS NULL OR status = $1) ORDER BY updated_at DESC, campaign_id"
    )))
    .bind(status.map(CampaignStatus::as_str))
    .fetch_all(store.pool())
    .await
    .ctx("listing campaigns")?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn transitions(
    store: &SqlStore,
    id: &str,
) -> Result<Vec<CampaignTransition>, StoreError> {
    let rows = sqlx::query(
        "SELECT campaign_id, from_status, to_status, actor, ts, note, snapshot FROM campaign_transitions \
         WHERE campaign_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await
    .ctx("reading campaign transitions")?;
    rows.iter()
        .map(|row| {
            let from: Option<String> = get(row, "from_status")?;
            let to: String = get(row, "to_status")?;
            let snapshot: String = get(row, "snapshot")?;
            Ok(CampaignTransition {
                campaign_id: get(row, "campaign_id")?,
                from: from
                    .map(|f| parse_db("campaign_transitions", "from_status", id, &f))
                    .transpose()?,
                to: parse_db("campaign_transitions", "to_status", id, &to)?,
                actor: get(row, "actor")?,
                ts: get(row, "ts")?,
                note: get(row, "note")?,
                snapshot: json_from_db("campaign_transitions", "snapshot", id, &snapshot)?,
            })
        })
        .collect()
}
