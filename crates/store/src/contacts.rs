//! Contact history, the decisions log and responses (migration 0004): what was sent to whom,
//! why, and what came back. Inserts are by caller-chosen id and idempotent, so a channel
//! adapter or the decision API can retry a batch without double counting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError};
use crate::sql::{SqlStore, count_from_db, get};
use crate::util::{
    check_id, json_from_db, json_text, multi_row_insert, parse_db, rows_per_insert, string_enum,
};

string_enum! {
    /// Which measurement group a contact belongs to. Only treatment contacts reach the customer.
    ContactGroup, "contact group" {
        Treatment => "treatment",
        Control => "control",
        Holdout => "holdout",
    }
}

string_enum! {
    /// Delivery state of a contact.
    ContactStatus, "contact status" {
        /// Booked, not yet handed to the channel; counts against caps so a batch cannot overbook.
        Planned => "planned",
        Sent => "sent",
        Delivered => "delivered",
        /// The channel could not deliver; does not count against caps.
        Failed => "failed",
        /// Stopped before sending (consent withdrawn, do-not-contact); does not count either.
        Suppressed => "suppressed",
    }
}

impl ContactStatus {
    /// Whether a contact in this state uses up frequency-cap allowance.
    pub fn counts_against_caps(self) -> bool {
        matches!(
            self,
            ContactStatus::Planned | ContactStatus::Sent | ContactStatus::Delivered
        )
    }
}

string_enum! {
    /// What the customer did.
    ResponseKind, "response kind" {
        Impression => "impression",
        Click => "click",
        Accept => "accept",
        Reject => "reject",
        Convert => "convert",
    }
}

/// One row of contact history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub contact_id: String,
    /// `None` for contacts made by real-time decisioning outside a campaign.
    pub campaign_id: Option<String>,
    pub decision_id: Option<String>,
    pub customer_id: String,
    /// The offer given (or, for control and holdout, the one that would have been given).
    pub offer_id: String,
    pub channel: String,
    pub ts: i64,
    pub group: ContactGroup,
    pub status: ContactStatus,
}

/// One decision made by the decision engine, with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub customer_id: String,
    pub channel: String,
    pub ts: i64,
    /// The customer was in the random control group: served the default, not the ranking.
    pub is_control: bool,
    /// Offer ids, best first.
    pub ranked_offers: Vec<String>,
    pub explanation: serde_json::Value,
}

/// A customer response to a contact or decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub response_id: String,
    /// At least one of `decision_id` and `contact_id` is set.
    pub decision_id: Option<String>,
    pub contact_id: Option<String>,
    pub customer_id: String,
    pub offer_id: String,
    pub kind: ResponseKind,
    pub ts: i64,
    /// Revenue attributed to the response in 分 (0 when none).
    pub revenue_fen: i64,
}

/// A response to a campaign, with the contact it answers: what measurement reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignResponse {
    #[serde(flatten)]
    pub response: Response,
    /// The campaign contact the response was matched to (directly or through its decision).
    pub matched_contact_id: String,
    pub group: ContactGroup,
    pub channel: String,
}

fn row_invalid(field: &'static str, i: usize, id: &str, e: StoreError) -> StoreError {
    let reason = match e {
        StoreError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    };
    StoreError::Invalid {
        field,
        reason: format!("row {i} ('{id}'): {reason}"),
    }
}

pub(crate) const CONTACT_COLUMNS: [&str; 9] = [
    "contact_id",
    "campaign_id",
    "decision_id",
    "customer_id",
    "offer_id",
    "channel",
    "ts",
    "contact_group",
    "status",
];

pub(crate) fn contact_from_row(row: &AnyRow) -> Result<Contact, StoreError> {
    let id: String = get(row, "contact_id")?;
    let group: String = get(row, "contact_group")?;
    let status: String = get(row, "status")?;
    Ok(Contact {
        campaign_id: get(row, "campaign_id")?,
        decision_id: get(row, "decision_id")?,
        customer_id: get(row, "customer_id")?,
        offer_id: get(row, "offer_id")?,
        channel: get(row, "channel")?,
        ts: get(row, "ts")?,
        group: parse_db("contacts", "contact_group", &id, &group)?,
        status: parse_db("contacts", "status", &id, &status)?,
        contact_id: id,
    })
}

pub(crate) async fn record_contacts(
    store: &SqlStore,
    contacts: &[Contact],
) -> Result<u64, StoreError> {
    for (i, c) in contacts.iter().enumerate() {
        check_id("contact_id", &c.contact_id)
            .map_err(|e| row_invalid("contact_id", i, &c.contact_id, e))?;
        for (field, v) in [
            ("customer_id", &c.customer_id),
            ("offer_id", &c.offer_id),
            ("channel", &c.channel),
        ] {
            check_id(field, v).map_err(|e| row_invalid(field, i, &c.contact_id, e))?;
        }
    }
    let mut inserted = 0;
    let mut tx = store.begin_write().await?;
    for chunk in contacts.chunks(rows_per_insert(CONTACT_COLUMNS.len())) {
        let sql = multi_row_insert(
            "contacts",
            &CONTACT_COLUMNS,
            chunk.len(),
            "ON CONFLICT (contact_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q
                .bind(&c.contact_id)
                .bind(c.campaign_id.as_deref())
                .bind(c.decision_id.as_deref())
                .bind(&c.customer_id)
                .bind(&c.offer_id)
                .bind(&c.channel)
                .bind(c.ts)
                .bind(c.group.as_str())
                .bind(c.status.as_str());
        }
        inserted += q
            .execute(&mut *tx)
            .await
            .ctx("recording contacts")?
            .rows_affected();
    }
    tx.commit().await.ctx("committing contacts")?;
    Ok(inserted)
}

pub(crate) async fn set_contact_status(
    store: &SqlStore,
    contact_id: &str,
    status: ContactStatus,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE contacts SET status = $1 WHERE contact_id = $2")
        .bind(status.as_str())
        .bind(contact_id)
        .execute(store.pool())
        .await
        .ctx("updating a contact's status")?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn contact_counts(
    store: &SqlStore,
    customer_id: &str,
    since: i64,
) -> Result<BTreeMap<String, u64>, StoreError> {
    // Uses contacts_cap_window (customer_id, ts, channel): a range scan of one customer's
    // recent history, whatever the table size.
    let rows = sqlx::query(
        "SELECT channel, COUNT(*) AS n FROM contacts \
         WHERE customer_id = $1 AND ts >= $2 AND contact_group = 'treatment' \
         AND status IN ('planned', 'sent', 'delivered') GROUP BY channel",
    )
    .bind(customer_id)
    .bind(since)
    .fetch_all(store.pool())
    .await
    .ctx("counting a customer's recent contacts")?;
    rows.iter()
        .map(|row| {
            let channel: String = get(row, "channel")?;
            let n = count_from_db("contacts", "count", customer_id, get(row, "n")?)?;
            Ok((channel, n))
        })
        .collect()
}

pub(crate) async fn campaign_contacts(
    store: &SqlStore,
    campaign_id: &str,
    group: Option<ContactGroup>,
) -> Result<Vec<Contact>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM contacts WHERE campaign_id = $1 AND ($2 IS NULL OR contact_group = $2) \
         ORDER BY ts, contact_id",
        CONTACT_COLUMNS.join(", ")
    )))
    .bind(campaign_id)
    .bind(group.map(ContactGroup::as_str))
    .fetch_all(store.pool())
    .await
    .ctx("listing a campaign's contacts")?;
    rows.iter().map(contact_from_row).collect()
}

const DECISION_COLUMNS: [&str; 7] = [
    "decision_id",
    "customer_id",
    "channel",
    "ts",
    "is_control",
    "ranked_offers",
    "explanation",
];

fn decision_from_row(row: &AnyRow) -> Result<Decision, StoreError> {
    let id: String = get(row, "decision_id")?;
    let ranked: String = get(row, "ranked_offers")?;
    let explanation: String = get(row, "explanation")?;
    Ok(Decision {
        customer_id: get(row, "customer_id")?,
        channel: get(row, "channel")?,
        ts: get(row, "ts")?,
        is_control: get::<i64>(row, "is_control")? != 0,
        ranked_offers: json_from_db("decisions", "ranked_offers", &id, &ranked)?,
        explanation: json_from_db("decisions", "explanation", &id, &explanation)?,
        decision_id: id,
    })
}

pub(crate) async fn record_decisions(
    store: &SqlStore,
    decisions: &[Decision],
) -> Result<u64, StoreError> {
    let mut encoded = Vec::with_capacity(decisions.len());
    for (i, d) in decisions.iter().enumerate() {
        check_id("decision_id", &d.decision_id)
            .map_err(|e| row_invalid("decision_id", i, &d.decision_id, e))?;
        for (field, v) in [("customer_id", &d.customer_id), ("channel", &d.channel)] {
            check_id(field, v).map_err(|e| row_invalid(field, i, &d.decision_id, e))?;
        }
        encoded.push((
            json_text("ranked_offers", &d.ranked_offers)?,
            json_text("explanation", &d.explanation)?,
        ));
    }
    let mut inserted = 0;
    let mut tx = store.begin_write().await?;
    let per = rows_per_insert(DECISION_COLUMNS.len());
    for (chunk, texts) in decisions.chunks(per).zip(encoded.chunks(per)) {
        let sql = multi_row_insert(
            "decisions",
            &DECISION_COLUMNS,
            chunk.len(),
            "ON CONFLICT (decision_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (d, (ranked, explanation)) in chunk.iter().zip(texts) {
            q = q
                .bind(&d.decision_id)
                .bind(&d.customer_id)
                .bind(&d.channel)
                .bind(d.ts)
                .bind(i64::from(d.is_control))
                .bind(ranked.as_str())
                .bind(explanation.as_str());
        }
        inserted += q
            .execute(&mut *tx)
            .await
            .ctx("recording decisions")?
            .rows_affected();
    }
    tx.commit().await.ctx("committing decisions")?;
    Ok(inserted)
}

pub(crate) async fn decision(store: &SqlStore, id: &str) -> Result<Option<Decision>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM decisions WHERE decision_id = $1",
        DECISION_COLUMNS.join(", ")
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a decision")?;
    row.as_ref().map(decision_from_row).transpose()
}

pub(crate) async fn customer_decisions(
    store: &SqlStore,
    customer_id: &str,
    limit: u32,
) -> Result<Vec<Decision>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM decisions WHERE customer_id = $1 ORDER BY ts DESC, decision_id DESC LIMIT $2",
        DECISION_COLUMNS.join(", ")
    )))
    .bind(customer_id)
    .bind(i64::from(limit))
    .fetch_all(store.pool())
    .await
    .ctx("reading a customer's decisions")?;
    rows.iter().map(decision_from_row).collect()
}

const RESPONSE_COLUMNS: [&str; 8] = [
    "response_id",
    "decision_id",
    "contact_id",
    "customer_id",
    "offer_id",
    "kind",
    "ts",
    "revenue_fen",
];

fn response_from_row(row: &AnyRow) -> Result<Response, StoreError> {
    let id: String = get(row, "response_id")?;
    let kind: String = get(row, "kind")?;
    Ok(Response {
        decision_id: get(row, "decision_id")?,
        contact_id: get(row, "contact_id")?,
        customer_id: get(row, "customer_id")?,
        offer_id: get(row, "offer_id")?,
        kind: parse_db("responses", "kind", &id, &kind)?,
        ts: get(row, "ts")?,
        revenue_fen: get(row, "revenue_fen")?,
        response_id: id,
    })
}

pub(crate) async fn record_responses(
    store: &SqlStore,
    responses: &[Response],
) -> Result<u64, StoreError> {
    for (i, r) in responses.iter().enumerate() {
        check_id("response_id", &r.response_id)
            .map_err(|e| row_invalid("response_id", i, &r.response_id, e))?;
        for (field, v) in [("customer_id", &r.customer_id), ("offer_id", &r.offer_id)] {
            check_id(field, v).map_err(|e| row_invalid(field, i, &r.response_id, e))?;
        }
        if r.decision_id.is_none() && r.contact_id.is_none() {
            return Err(StoreError::Invalid {
                field: "decision_id/contact_id",
                reason: format!(
                    "row {i} ('{}'): a response must name the decision or the contact it answers",
                    r.response_id
                ),
            });
        }
        if r.revenue_fen < 0 {
            return Err(StoreError::Invalid {
                field: "revenue_fen",
                reason: format!(
                    "row {i} ('{}'): {} is negative",
                    r.response_id, r.revenue_fen
                ),
            });
        }
    }
    let mut inserted = 0;
    let mut tx = store.begin_write().await?;
    for chunk in responses.chunks(rows_per_insert(RESPONSE_COLUMNS.len())) {
        let sql = multi_row_insert(
            "responses",
            &RESPONSE_COLUMNS,
            chunk.len(),
            "ON CONFLICT (response_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(&r.response_id)
                .bind(r.decision_id.as_deref())
                .bind(r.contact_id.as_deref())
                .bind(&r.customer_id)
                .bind(&r.offer_id)
                .bind(r.kind.as_str())
                .bind(r.ts)
                .bind(r.revenue_fen);
        }
        inserted += q
            .execute(&mut *tx)
            .await
            .ctx("recording responses")?
            .rows_affected();
    }
    tx.commit().await.ctx("committing responses")?;
    Ok(inserted)
}

pub(crate) async fn campaign_responses(
    store: &SqlStore,
    campaign_id: &str,
) -> Result<Vec<CampaignResponse>, StoreError> {
    // A response names its contact, or only the decision behind it; match either way, the
    // contact link first.
    let rows = sqlx::query(
        "SELECT * FROM (\
         SELECT r.response_id, r.decision_id, r.contact_id, r.customer_id, r.offer_id, r.kind, r.ts, \
         r.revenue_fen, c.contact_id AS matched_contact_id, c.contact_group, c.channel \
         FROM responses r JOIN contacts c ON c.contact_id = r.contact_id WHERE c.campaign_id = $1 \
         UNION ALL \
         SELECT r.response_id, r.decision_id, r.contact_id, r.customer_id, r.offer_id, r.kind, r.ts, \
         r.revenue_fen, c.contact_id AS matched_contact_id, c.contact_group, c.channel \
         FROM responses r JOIN contacts c ON c.decision_id = r.decision_id \
         WHERE r.contact_id IS NULL AND c.campaign_id = $1\
         ) matched ORDER BY ts, response_id",
    )
    .bind(campaign_id)
    .fetch_all(store.pool())
    .await
    .ctx("reading a campaign's responses")?;
    rows.iter()
        .map(|row| {
            let response = response_from_row(row)?;
            let group: String = get(row, "contact_group")?;
            Ok(CampaignResponse {
                group: parse_db("contacts", "contact_group", &response.response_id, &group)?,
                matched_contact_id: get(row, "matched_contact_id")?,
                channel: get(row, "channel")?,
                response,
            })
        })
        .collect()
}

pub(crate) async fn customer_responses(
    store: &SqlStore,
    customer_id: &str,
    since: i64,
) -> Result<Vec<Response>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM responses WHERE customer_id = $1 AND ts >= $2 ORDER BY ts, response_id",
        RESPONSE_COLUMNS.join(", ")
    )))
    .bind(customer_id)
    .bind(since)
    .fetch_all(store.pool())
    .await
    .ctx("reading a customer's responses")?;
    rows.iter().map(response_from_row).collect()
}
