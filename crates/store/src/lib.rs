//! The operational store: the small, mutable state of the platform — users and tokens,
//! the audit log, the consent ledger and do-not-contact list, campaigns, offers, contact
//! history, the model registry, ingest runs and settings.
//!
//! One trait, [`OperationalStore`], is the seam. One implementation, [`SqlStore`], serves
//! both backends through sqlx's `Any` driver with portable SQL, so there is a single code
//! path to test: SQLite in `DATA_DIR/zhiying.db` by default, PostgreSQL when a URL is given.
//! Schema changes are numbered migrations under `migrations/{sqlite,postgres}/`, embedded
//! in the binary and applied on open.
//!
//! Conventions, shared by both backends: times are UTC microseconds since the Unix epoch
//! (`BIGINT`), money is `BIGINT` 分, JSON is `TEXT`, booleans are `BIGINT` 0/1.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zhiying_store::StoreError> {
//! let store = zhiying_store::open(None, &zhiying_core::DataDir::new("data")).await?;
//! store.append_audit("admin", "user.create", "user:alice", &serde_json::json!({"roles": ["analyst"]})).await?;
//! let entries = store.verify_audit().await?;
//! # let _ = entries; Ok(()) }
//! ```

mod anchor;
mod audiences;
mod audit;
mod error;
mod sql;
mod types;

use std::sync::Arc;

pub use anchor::{
    AnchorKey, AnchorKeyring, AuditVerification, KEY_ENV, KEY_FILE_ENV, KeyError, anchor_head,
    anchor_mac, recompute, verify_audit_log,
};
pub use audiences::{AudienceSnapshot, NewAudience, SavedAudience};
pub use audit::{GENESIS_HASH, audit_hash, canonical_json, hash_token};
pub use error::{AuditBreak, StoreError};
pub use sql::{Backend, SqlStore, StoreOptions};
pub use types::{
    ALL_CHANNELS, ApiToken, AuditAnchor, AuditEntry, AuditFilter, ConsentEvent, DncEntry,
    IngestRun, IngestTotals, Session, User, UserUpdate,
};

use zhiying_core::DataDir;
use zhiying_core::domain::Role;

/// Opens the operational store: PostgreSQL when `database_url` is given, otherwise SQLite at
/// [`DataDir::sqlite_path`] (created if missing). Applies pending migrations before returning.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &DataDir,
) -> Result<Arc<dyn OperationalStore>, StoreError> {
    let options = StoreOptions {
        database_url: database_url.map(str::to_string),
        ..StoreOptions::default()
    };
    Ok(Arc::new(SqlStore::open_with(&options, data_dir).await?))
}

/// Everything the platform keeps in its operational database. Object-safe, so callers hold
/// an `Arc<dyn OperationalStore>` and never name a backend.
#[async_trait::async_trait]
pub trait OperationalStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend_name(&self) -> &'static str;

    /// Closes every pooled connection (SQLite checkpoints its WAL). Later calls fail.
    async fn close(&self);

    // ---- saved audiences ----

    /// Saves an audience definition under a new id. Fails with [`StoreError::Conflict`] if
    /// the name is taken.
    async fn create_audience(&self, new: &NewAudience) -> Result<SavedAudience, StoreError>;
    async fn audience(&self, id: &str) -> Result<Option<SavedAudience>, StoreError>;
    /// Every saved audience, ordered by name.
    async fn audiences(&self) -> Result<Vec<SavedAudience>, StoreError>;
    /// Records the member count of an audience at `at` (UTC micros).
    async fn record_audience_count(&self, id: &str, count: u64, at: i64) -> Result<(), StoreError>;
    /// Deletes an audience and its snapshot records. Returns false if there was none.
    async fn delete_audience(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a snapshot whose members were written to `snapshot.path`.
    async fn record_audience_snapshot(&self, snapshot: &AudienceSnapshot)
    -> Result<(), StoreError>;
    /// Snapshots of an audience, newest first.
    async fn audience_snapshots(&self, id: &str) -> Result<Vec<AudienceSnapshot>, StoreError>;

    // ---- ingest runs ----

    /// Records one ingested batch. Re-recording the same `batch_id` replaces it (never duplicates).
    async fn record_ingest_run(&self, run: &IngestRun) -> Result<(), StoreError>;
    /// Recorded batches, newest first, optionally of one table only.
    async fn ingest_runs(&self, table: Option<&str>) -> Result<Vec<IngestRun>, StoreError>;
    /// Accepted, rejected and duplicate counts summed per table, ordered by table name.
    async fn ingest_totals(&self) -> Result<Vec<IngestTotals>, StoreError>;

    // ---- users and API tokens ----

    /// Creates a user. Fails with [`StoreError::Conflict`] if the username is taken.
    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        roles: &[Role],
    ) -> Result<User, StoreError>;
    async fn user(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, ordered by username.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Stores a token by its hash (see [`hash_token`]). `expires_at` is UTC micros.
    async fn create_token(
        &self,
        token_hash: &str,
        username: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> Result<ApiToken, StoreError>;
    /// The token with this hash, revoked or not: check [`ApiToken::is_active_at`].
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    /// Revokes a token. Returns false if no active token has this hash.
    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Changes a user. Fails with [`StoreError::NotFound`] if there is no such user.
    async fn update_user(&self, username: &str, change: &UserUpdate) -> Result<User, StoreError>;
    /// Tokens, revoked and expired ones included, oldest first; of one user or of all.
    async fn tokens(&self, username: Option<&str>) -> Result<Vec<ApiToken>, StoreError>;

    // ---- console sessions ----

    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session with this id hash, expired or not: the caller checks the times.
    async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Records activity: moves `last_seen_at`.
    async fn touch_session(&self, id_hash: &str, last_seen_at: i64) -> Result<(), StoreError>;
    /// Ends a session (logout). Returns false if it did not exist.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Ends every session of a user (password change, disabling). Returns how many.
    async fn delete_user_sessions(&self, username: &str) -> Result<u64, StoreError>;
    /// Deletes sessions whose `expires_at` is at or before `now`. Returns how many.
    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError>;

    // ---- audit log ----

    /// Appends an entry to the hash chain. Appends are serialised (in process and in the
    /// database), so concurrent writers, even from several processes, never fork the chain.
    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditEntry, StoreError>;
    /// Up to `limit` entries with `seq > after_seq`, in order.
    async fn audit_entries(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Entries matching `filter`, newest first, at most `limit`.
    async fn audit_search(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// The last entry's seq and hash, or `None` for an empty log.
    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError>;
    /// Stores a signed anchor (its `id` is assigned here and returned).
    async fn append_anchor(&self, anchor: &AuditAnchor) -> Result<AuditAnchor, StoreError>;
    /// Every anchor, oldest first.
    async fn audit_anchors(&self) -> Result<Vec<AuditAnchor>, StoreError>;
    /// Recomputes the whole chain. Returns the number of entries, or
    /// [`StoreError::AuditBroken`] naming the first entry that is missing or was changed.
    async fn verify_audit(&self) -> Result<u64, StoreError>;

    // ---- consent ----

    /// Appends an event to the consent ledger.
    async fn record_consent(&self, event: &ConsentEvent) -> Result<(), StoreError>;
    /// Every consent event of a customer, oldest first.
    async fn consent_history(&self, customer_id: &str) -> Result<Vec<ConsentEvent>, StoreError>;
    /// Whether the customer currently consents to `purpose` on `channel`. The latest event
    /// wins among those for this channel and for [`ALL_CHANNELS`]; at equal times a
    /// channel-specific event overrides `all`, and a withdrawal beats a grant. No event
    /// means no consent.
    async fn current_consent(
        &self,
        customer_id: &str,
        purpose: &str,
        channel: &str,
    ) -> Result<bool, StoreError>;
    /// Puts a customer on the do-not-contact list. Returns false if already there.
    async fn dnc_add(
        &self,
        customer_id: &str,
        reason: &str,
        added_by: &str,
    ) -> Result<bool, StoreError>;
    /// Takes a customer off the list. Returns false if they were not on it.
    async fn dnc_remove(&self, customer_id: &str) -> Result<bool, StoreError>;
    async fn dnc_contains(&self, customer_id: &str) -> Result<bool, StoreError>;
    /// The list, ordered by customer id.
    async fn dnc_list(&self) -> Result<Vec<DncEntry>, StoreError>;

    /// Consent given and not on the do-not-contact list: the gate every contact passes.
    async fn may_contact(
        &self,
        customer_id: &str,
        purpose: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        Ok(!self.dnc_contains(customer_id).await?
            && self.current_consent(customer_id, purpose, channel).await?)
    }

    // ---- settings ----

    async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Inserts or replaces a setting.
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;
}
