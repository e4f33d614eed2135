//! The operational store: the small, mutable state of the platform — users and tokens,
//! the audit log, the consent ledger and do-not-contact list, saved audiences, the versioned
//! offer catalogue, campaigns and their approvals, contact history, decisions and responses,
//! experiments and assignments, the model registry, ingest runs and settings.
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
//! Governance is enforced here, not only in the UI: offers change through optimistic
//! concurrency ([`StoreError::VersionConflict`]); campaigns and models follow fixed
//! lifecycles ([`CampaignStatus::next`], [`ModelStatus::next`]) in which the creator and the
//! submitter cannot approve ([`StoreError::SelfApproval`]); every move is recorded; and
//! contact, decision, response and assignment writes are idempotent by id.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zhiying_store::StoreError> {
//! use zhiying_store::{CampaignDraft, CampaignKind, CampaignStatus};
//! let store = zhiying_store::open(None, &zhiying_core::DataDir::new("data")).await?;
//! store.append_audit("admin", "user.create", "user:alice", &serde_json::json!({"roles": ["analyst"]})).await?;
//! let entries = store.verify_audit().await?;
//!
//! let offer = store
//!     .put_offer("card-cashback", 0, &serde_json::json!({"risk": "R2"}), "alice", "new")
//!     .await?;
//! let draft = CampaignDraft {
//!     name: "春季返现".into(),
//!     kind: CampaignKind::Batch,
//!     audience: "aum_tier = 'high'".into(),
//!     offers: vec![offer.offer_id],
//!     channels: vec!["sms".into()],
//!     schedule: serde_json::json!({"start": "2025-03-01"}),
//!     budget_fen: 500_000,
//!     holdout_share: 0.1,
//!     spec: serde_json::Value::Null,
//! };
//! let c = store.create_campaign(&draft, "alice").await?;
//! store
//!     .transition_campaign(&c.campaign_id, CampaignStatus::Submitted, "alice", "", &serde_json::Value::Null)
//!     .await?;
//! // Approving as "alice" would fail with StoreError::SelfApproval.
//! let caps = store.contact_counts("C000123", 0).await?;
//! # let _ = (entries, caps); Ok(()) }
//! ```

mod anchor;
mod audiences;
mod audit;
mod campaigns;
mod contacts;
mod crypt;
mod error;
mod experiments;
mod models;
mod offers;
mod privacy;
mod sql;
mod triggers;
mod types;
mod util;

use std::sync::Arc;

pub use anchor::{
    AnchorKey, AnchorKeyring, AuditVerification, KEY_ENV, KEY_FILE_ENV, KeyError, anchor_head,
    anchor_mac, recompute, verify_audit_log,
};
pub use audiences::{AudienceSnapshot, NewAudience, SavedAudience};
pub use audit::{GENESIS_HASH, audit_hash, canonical_json, hash_token};
pub use campaigns::{
    ApprovalSnapshot, Campaign, CampaignDraft, CampaignKind, CampaignStatus, CampaignTransition,
};
pub use contacts::{
    CampaignResponse, Contact, ContactGroup, ContactStatus, Decision, Response, ResponseKind,
};
pub use crypt::{ENCRYPTED_FIELDS, FieldRotation};
pub use error::{AuditBreak, StoreError};
pub use experiments::{
    Assignment, EXPERIMENT_BUCKETS, Experiment, ExperimentArm, ExperimentStatus, NewExperiment,
};
pub use models::{ChampionSwap, ModelEntry, ModelStatus, ModelTransition, NewModel};
pub use offers::{Offer, OfferStatus, OfferVersion};
pub use privacy::{ErasureRecord, RetentionTable};
pub use sql::{Backend, SqlStore, StoreOptions};
pub use triggers::{FiringOutcome, TriggerFiring, TriggerRuleRecord};
pub use types::{
    ALL_CHANNELS, ApiToken, AuditAnchor, AuditEntry, AuditFilter, ConsentEvent, DncEntry,
    IngestRun, IngestTotals, Session, User, UserUpdate,
};

use std::collections::{BTreeMap, BTreeSet};

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

    // ---- offer catalogue ----

    /// Writes a new version of an offer. `expected_version` is the version the caller read
    /// (0 to create a new offer); if someone else moved it meanwhile this fails with
    /// [`StoreError::VersionConflict`] and nothing is written. `body` must be a JSON object.
    async fn put_offer(
        &self,
        offer_id: &str,
        expected_version: u64,
        body: &serde_json::Value,
        actor: &str,
        note: &str,
    ) -> Result<Offer, StoreError>;
    /// An offer at its current version.
    async fn offer(&self, offer_id: &str) -> Result<Option<Offer>, StoreError>;
    /// Offers at their current versions, ordered by id; retired ones only if asked.
    async fn offers(&self, include_retired: bool) -> Result<Vec<Offer>, StoreError>;
    /// Every version of an offer, oldest first.
    async fn offer_history(&self, offer_id: &str) -> Result<Vec<OfferVersion>, StoreError>;
    /// One version of an offer (what a campaign or decision referred to).
    async fn offer_version(
        &self,
        offer_id: &str,
        version: u64,
    ) -> Result<Option<OfferVersion>, StoreError>;
    /// Retires or reactivates an offer; its versions are untouched.
    async fn set_offer_status(
        &self,
        offer_id: &str,
        status: OfferStatus,
    ) -> Result<Offer, StoreError>;

    // ---- campaigns (maker-checker) ----

    /// Creates a campaign in `draft` under a new `cmp-…` id, recording the creation.
    async fn create_campaign(
        &self,
        draft: &CampaignDraft,
        actor: &str,
    ) -> Result<Campaign, StoreError>;
    /// Replaces the editable fields. Only drafts can be edited: otherwise
    /// [`StoreError::NotEditable`].
    async fn update_campaign(
        &self,
        campaign_id: &str,
        draft: &CampaignDraft,
    ) -> Result<Campaign, StoreError>;
    /// Moves a campaign along its lifecycle ([`CampaignStatus::next`]) and records the move
    /// with `snapshot`, what the actor saw. Refuses illegal moves
    /// ([`StoreError::IllegalTransition`]) and approval by the creator or the submitter
    /// ([`StoreError::SelfApproval`]); approving needs an [`ApprovalSnapshot`] whose budget
    /// matches the campaign's.
    async fn transition_campaign(
        &self,
        campaign_id: &str,
        to: CampaignStatus,
        actor: &str,
        note: &str,
        snapshot: &serde_json::Value,
    ) -> Result<Campaign, StoreError>;
    async fn campaign(&self, campaign_id: &str) -> Result<Option<Campaign>, StoreError>;
    /// Campaigns, most recently changed first, optionally in one status only.
    async fn campaigns(&self, status: Option<CampaignStatus>) -> Result<Vec<Campaign>, StoreError>;
    /// Every recorded move of a campaign, creation first.
    async fn campaign_transitions(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignTransition>, StoreError>;

    // ---- contact history, decisions, responses ----

    /// Records contacts. Idempotent by `contact_id`: ids already stored are left as they are.
    /// Returns how many were new. All or nothing.
    async fn record_contacts(&self, contacts: &[Contact]) -> Result<u64, StoreError>;
    /// Moves a contact's delivery status. Returns false if there is no such contact.
    async fn set_contact_status(
        &self,
        contact_id: &str,
        status: ContactStatus,
    ) -> Result<bool, StoreError>;
    /// Contacts per channel of a customer with `ts >= since` that count against frequency
    /// caps: treatment group, status planned, sent or delivered.
    async fn contact_counts(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, u64>, StoreError>;
    /// A campaign's contacts, oldest first, optionally of one group only.
    async fn campaign_contacts(
        &self,
        campaign_id: &str,
        group: Option<ContactGroup>,
    ) -> Result<Vec<Contact>, StoreError>;
    /// Logs decisions. Idempotent by `decision_id`; returns how many were new.
    async fn record_decisions(&self, decisions: &[Decision]) -> Result<u64, StoreError>;
    async fn decision(&self, decision_id: &str) -> Result<Option<Decision>, StoreError>;
    /// A customer's decisions, newest first, at most `limit`.
    async fn customer_decisions(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<Vec<Decision>, StoreError>;
    /// Records responses. Idempotent by `response_id` (the first report wins); returns how
    /// many were new.
    async fn record_responses(&self, responses: &[Response]) -> Result<u64, StoreError>;
    /// Responses to a campaign's contacts (matched by contact id, or by decision id when the
    /// response names only the decision), with the contact's group and channel.
    async fn campaign_responses(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignResponse>, StoreError>;
    /// A customer's responses with `ts >= since`, oldest first (for reject suppression).
    async fn customer_responses(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<Vec<Response>, StoreError>;

    // ---- experiments ----

    /// Creates an experiment in `draft`. Fails with [`StoreError::Conflict`] if the id is
    /// taken, and [`StoreError::Invalid`] if its buckets overlap a live experiment of its layer.
    async fn create_experiment(&self, new: &NewExperiment) -> Result<Experiment, StoreError>;
    async fn experiment(&self, experiment_id: &str) -> Result<Option<Experiment>, StoreError>;
    /// Every experiment, by layer and bucket range.
    async fn experiments(&self) -> Result<Vec<Experiment>, StoreError>;
    /// Starts or stops an experiment ([`ExperimentStatus::next`]).
    async fn set_experiment_status(
        &self,
        experiment_id: &str,
        status: ExperimentStatus,
    ) -> Result<Experiment, StoreError>;
    /// Stores assignments; the first assignment of a customer to an experiment wins and
    /// later ones (replays) are ignored. Arms are checked against the experiment. Written in
    /// multi-row batches in one transaction. Returns how many were new.
    async fn record_assignments(&self, assignments: &[Assignment]) -> Result<u64, StoreError>;
    async fn assignment(
        &self,
        experiment_id: &str,
        customer_id: &str,
    ) -> Result<Option<Assignment>, StoreError>;
    /// A page of an experiment's assignments ordered by customer id: pass the last customer
    /// id of the previous page as `after_customer`.
    async fn assignments(
        &self,
        experiment_id: &str,
        after_customer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Assignment>, StoreError>;
    /// Assigned customers per arm (for the sample-ratio-mismatch check).
    async fn assignment_counts(
        &self,
        experiment_id: &str,
    ) -> Result<BTreeMap<String, u64>, StoreError>;

    // ---- model registry (maker-checker) ----

    /// Registers a trained model as the next version of `new.name`, in `draft`.
    async fn register_model(&self, new: &NewModel) -> Result<ModelEntry, StoreError>;
    /// Moves a model version along its lifecycle ([`ModelStatus::next`]), with the same
    /// creator/submitter-cannot-approve rule as campaigns. Moving to `champion` is
    /// [`OperationalStore::promote_model`].
    async fn transition_model(
        &self,
        name: &str,
        version: u64,
        to: ModelStatus,
        actor: &str,
        note: &str,
    ) -> Result<ModelEntry, StoreError>;
    /// Makes an approved version the champion of its name; the previous champion is
    /// retired in the same transaction.
    async fn promote_model(
        &self,
        name: &str,
        version: u64,
        actor: &str,
        note: &str,
    ) -> Result<ChampionSwap, StoreError>;
    async fn model(&self, name: &str, version: u64) -> Result<Option<ModelEntry>, StoreError>;
    /// Registered versions ordered by name and version, of one model or all.
    async fn models(&self, name: Option<&str>) -> Result<Vec<ModelEntry>, StoreError>;
    /// The current champion of a model name.
    async fn champion_model(&self, name: &str) -> Result<Option<ModelEntry>, StoreError>;
    /// Every recorded move of a model version, registration first.
    async fn model_transitions(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Vec<ModelTransition>, StoreError>;

    // ---- settings ----

    async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Inserts or replaces a setting.
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;

    // ---- data-subject rights and retention (migration 0007) ----

    /// The whole consent ledger, oldest first (the decision engine's live consent view
    /// starts from it).
    async fn consent_events(&self) -> Result<Vec<ConsentEvent>, StoreError>;
    /// A customer's contacts, oldest first (data-subject access).
    async fn customer_contacts(&self, customer_id: &str) -> Result<Vec<Contact>, StoreError>;
    /// A customer's experiment assignments (data-subject access).
    async fn customer_assignments(&self, customer_id: &str) -> Result<Vec<Assignment>, StoreError>;
    /// Deletes every row about a customer (consents, do-not-contact, contacts, decisions,
    /// responses, assignments, trigger firings, and the delivery outbox and dead letters
    /// where they exist) in one transaction; returns rows deleted per table. The audit
    /// log is kept. On SQLite the freed cells are zeroed and the WAL truncated.
    async fn erase_customer(&self, customer_id: &str) -> Result<BTreeMap<String, u64>, StoreError>;
    /// Remembers an erased customer by a keyed hash of the id. Returns false if already known.
    async fn record_erasure(&self, id_hash: &str, reason: &str) -> Result<bool, StoreError>;
    /// The erasure record for this id hash, if the customer was erased.
    async fn erasure(&self, id_hash: &str) -> Result<Option<ErasureRecord>, StoreError>;
    /// Every erasure record, oldest first.
    async fn erasures(&self) -> Result<Vec<ErasureRecord>, StoreError>;
    /// Deletes (or with `dry_run` only counts) the rows of `table` older than `before`
    /// (UTC micros).
    async fn purge_older_than(
        &self,
        table: RetentionTable,
        before: i64,
        dry_run: bool,
    ) -> Result<u64, StoreError>;

    // ---- triggered campaigns (migration 0008) ----

    /// Saves a trigger rule. `expected_version`: `None` creates or replaces unconditionally,
    /// `Some(0)` creates only, `Some(v)` edits only if the stored version is still `v`
    /// ([`StoreError::VersionConflict`] / [`StoreError::NotFound`] otherwise). `body` must be
    /// a JSON object.
    async fn put_trigger_rule(
        &self,
        rule_id: &str,
        expected_version: Option<u64>,
        body: &serde_json::Value,
        enabled: bool,
        actor: &str,
    ) -> Result<TriggerRuleRecord, StoreError>;
    async fn trigger_rule(&self, rule_id: &str) -> Result<Option<TriggerRuleRecord>, StoreError>;
    /// Every trigger rule, ordered by id.
    async fn trigger_rules(&self) -> Result<Vec<TriggerRuleRecord>, StoreError>;
    /// Deletes a rule (its firings stay). Returns false if there was none.
    async fn delete_trigger_rule(&self, rule_id: &str) -> Result<bool, StoreError>;
    /// Records firings. Idempotent by `firing_id`: the first record wins. Returns how many
    /// were new. All or nothing.
    async fn record_trigger_firings(&self, firings: &[TriggerFiring]) -> Result<u64, StoreError>;
    /// The subset of `firing_ids` already recorded.
    async fn fired_trigger_ids(
        &self,
        firing_ids: &[String],
    ) -> Result<BTreeSet<String>, StoreError>;
    async fn trigger_firing(&self, firing_id: &str) -> Result<Option<TriggerFiring>, StoreError>;
    /// Firings, newest first, of one rule or all, at most `limit`.
    async fn trigger_firings(
        &self,
        rule_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TriggerFiring>, StoreError>;
}
