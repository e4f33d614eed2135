//! Records the store reads and writes. Times are UTC microseconds since the Unix epoch.

use serde::{Deserialize, Serialize};
use zhiying_core::domain::Role;

/// The channel value that means "every channel" in a consent event.
pub const ALL_CHANNELS: &str = "all";

/// One ingested batch: what came in, what was kept and where the rejects went.
/// `batch_id` is derived from table and content, so re-recording a batch updates it in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRun {
    pub batch_id: String,
    pub table_name: String,
    pub source_file: String,
    pub file_hash: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates_skipped: u64,
    pub quarantine_path: Option<String>,
}

/// Row counts summed over every recorded batch of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestTotals {
    pub table_name: String,
    pub batches: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates_skipped: u64,
}

/// A console or API user. The password hash is never serialised into API output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub display_name: String,
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
    pub created_at: i64,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// An API token. Only its hash is stored: the raw token is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub token_hash: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    /// Usable at `now`: not revoked and not expired.
    pub fn is_active_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| now < exp)
    }
}

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub ts: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// Canonical JSON (sorted keys, no whitespace), exactly as hashed.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// One event in the consent ledger. The ledger is append-only; the latest event decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub customer_id: String,
    /// What the data may be used for, e.g. `marketing`.
    pub purpose: String,
    /// A channel such as `sms`, or [`ALL_CHANNELS`].
    pub channel: String,
    pub granted: bool,
    /// When the customer gave or withdrew consent.
    pub ts: i64,
    /// Where the event came from, e.g. `branch_form`, `app`, `import:bank-full`.
    pub source: String,
    /// A pointer to proof: a form id, recording id or document hash.
    pub evidence: Option<String>,
}

/// A do-not-contact list entry: overrides any consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub customer_id: String,
    pub reason: String,
    pub added_by: String,
    pub added_at: i64,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub disabled: Option<bool>,
}

/// A console session. `id_hash` is the SHA-256 of the cookie value (see
/// [`crate::hash_token`]); the raw session id is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id_hash: String,
    pub username: String,
    /// Synchroniser token that state-changing console requests must echo.
    #[serde(skip_serializing, default)]
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A signed checkpoint of the audit chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    pub id: u64,
    pub ts: i64,
    pub head_seq: u64,
    pub head_hash: String,
    pub key_id: String,
    /// Hex HMAC-SHA256, see [`crate::anchor_mac`].
    pub mac: String,
}

/// Which audit entries to list; every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// Only entries with `ts >= since` (UTC micros).
    pub since: Option<i64>,
    /// Only entries with `ts < until` (UTC micros).
    pub until: Option<i64>,
    /// Only entries with `seq < before_seq` (paging backwards).
    pub before_seq: Option<u64>,
}
