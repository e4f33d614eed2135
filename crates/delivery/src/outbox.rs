//! [`Outbox`]: the `delivery_outbox` and `delivery_dead_letter` tables over sqlx's `Any`
//! driver, so SQLite and PostgreSQL share one code path.
//!
//! Row life cycle: `pending` → (claimed with a lease) `sending` → `sent`, or back to
//! `pending` with a later `next_attempt_at` after a retryable failure, or `dead` (with a copy
//! in `delivery_dead_letter`) after a permanent failure or the last attempt. A `sending` row
//! whose lease ran out (its dispatcher died) is due again and is reclaimed by the next claim.
//! Claiming uses `next_attempt_at` for both cases — for a `sending` row it holds the lease
//! expiry — so one index serves "what is due on this channel".

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, AssertSqlSafe, ConnectOptions, Row, Transaction};

use crate::error::{DbContext, OutboxError};
use crate::message::{Channel, Message, Receipt};

/// The newest schema version this build writes. Bump it and append to [`migrations`] when
/// the tables change; never edit an applied step.
pub const SCHEMA_VERSION: i64 = 1;

const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

/// Which database engine the outbox lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How to open an [`Outbox`].
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// `postgres://…`, `sqlite://…`, or a plain filesystem path to a SQLite file (created if
    /// missing). Use the operational store's URL so contact history and outbox rows can share
    /// a transaction.
    pub url: String,
    /// PostgreSQL only: keep the tables in this schema (created if missing).
    pub pg_schema: Option<String>,
    /// Pool size; `None` picks 4 for SQLite and 8 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long to wait for a connection, including the first one.
    pub acquire_timeout: Duration,
}

impl OutboxOptions {
    pub fn new(url: impl Into<String>) -> OutboxOptions {
        OutboxOptions {
            url: url.into(),
            pg_schema: None,
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether [`Outbox::enqueue`] stored a new row or found the key already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enqueued {
    /// A new outbox row; it will be delivered once the transaction commits.
    New,
    /// The idempotency key was already in the outbox (any status): nothing was written, so a
    /// re-run campaign does not message anyone twice.
    AlreadyQueued,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Sending,
    Sent,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Dead => "dead",
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Status::Pending),
            "sending" => Ok(Status::Sending),
            "sent" => Ok(Status::Sent),
            "dead" => Ok(Status::Dead),
            other => Err(format!("unknown status '{other}'")),
        }
    }
}

/// One outbox row as the monitor shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub message: Message,
    pub status: Status,
    /// Attempts started since the message was (re)queued.
    pub attempts: i64,
    /// Times it went back to the queue: retryable failures plus reclaimed leases.
    pub retries: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub receipt: Option<Receipt>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A message that will not be retried without a person deciding so.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub outbox_id: i64,
    pub message: Message,
    pub attempts: i64,
    pub last_error: String,
    pub dead_at: i64,
}

/// Counts for one channel, for the delivery monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelMetrics {
    pub channel: String,
    /// Waiting to be sent (including those waiting out a back-off or `not_before`).
    pub pending: i64,
    /// Claimed by a dispatcher right now.
    pub sending: i64,
    pub sent: i64,
    /// Retries so far (failures that were rescheduled plus leases reclaimed after a crash).
    pub retried: i64,
    /// In the dead-letter queue.
    pub dead: i64,
}

/// Per-channel counts, every channel listed (zeros included) so the page has stable rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryMetrics {
    pub channels: Vec<ChannelMetrics>,
}

impl DeliveryMetrics {
    pub fn channel(&self, channel: Channel) -> Option<&ChannelMetrics> {
        self.channels.iter().find(|c| c.channel == channel.as_str())
    }

    /// Sum over channels.
    pub fn total(&self) -> ChannelMetrics {
        let mut t = ChannelMetrics {
            channel: "total".into(),
            ..ChannelMetrics::default()
        };
        for c in &self.channels {
            t.pending += c.pending;
            t.sending += c.sending;
            t.sent += c.sent;
            t.retried += c.retried;
            t.dead += c.dead;
        }
        t
    }
}

impl fmt::Display for DeliveryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "channel", "pending", "sending", "sent", "retried", "dead"
        )?;
        for c in self.channels.iter().chain(std::iter::once(&self.total())) {
            writeln!(
                f,
                "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
                c.channel, c.pending, c.sending, c.sent, c.retried, c.dead
            )?;
        }
        Ok(())
    }
}

/// A row claimed by a dispatcher, with the attempt number this delivery is.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: i64,
    pub attempts: i64,
    pub message: Message,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    location: String,
    wake: tokio::sync::Notify,
}

/// The transactional outbox. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("backend", &self.inner.backend)
            .field("location", &self.inner.location)
            .finish()
    }
}

impl Outbox {
    /// Opens (and creates or upgrades) the outbox tables at `url`.
    pub async fn open(url: &str) -> Result<Outbox, OutboxError> {
        Outbox::open_with(&OutboxOptions::new(url)).await
    }

    pub async fn open_with(options: &OutboxOptions) -> Result<Outbox, OutboxError> {
        sqlx::any::install_default_drivers();
        let raw = options.url.trim();
        if raw.is_empty() {
            return Err(OutboxError::Invalid {
                field: "url",
                reason: "is empty: give a postgres:// URL or a SQLite file path".into(),
            });
        }
        let (backend, url, location) = resolve_url(raw)?;
        let schema = match (&options.pg_schema, backend) {
            (Some(s), Backend::Postgres) => Some(validate_schema_name(s)?),
            _ => None,
        };
        let set_search_path: Option<Arc<str>> = schema
            .as_ref()
            .map(|s| format!("SET search_path TO \"{s}\"").into());
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            }))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let set_search_path = set_search_path.clone();
                Box::pin(async move {
                    let statements: Vec<String> = match backend {
                        Backend::Sqlite => vec![
                            "PRAGMA journal_mode = WAL".into(),
                            format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
                            "PRAGMA synchronous = NORMAL".into(),
                        ],
                        Backend::Postgres => {
                            set_search_path.iter().map(|s| s.to_string()).collect()
                        }
                    };
                    for s in statements {
                        sqlx::query(AssertSqlSafe(s))
                            .persistent(false)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| OutboxError::Connect {
                location: location.clone(),
                source,
            })?;
        if let Some(s) = &schema {
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\""
            )))
            .persistent(false)
            .execute(&pool)
            .await
            .ctx("creating the PostgreSQL schema for the outbox")?;
        }
        let outbox = Outbox {
            inner: Arc::new(Inner {
                pool,
                backend,
                location,
                wake: tokio::sync::Notify::new(),
            }),
        };
        outbox.migrate().await?;
        Ok(outbox)
    }

    /// Creates the tables, or upgrades them, under a lock so two processes opening the same
    /// database at once do not both run the DDL.
    async fn migrate(&self) -> Result<(), OutboxError> {
        let mut tx = self.begin().await?;
        if self.inner.backend == Backend::Postgres {
            // Any constant works; it only has to be the same for every Zhiying process.
            sqlx::query("SELECT pg_advisory_xact_lock(7236418001)")
                .execute(&mut *tx)
                .await
                .ctx("locking the outbox schema for migration")?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS delivery_schema_version (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .ctx("creating delivery_schema_version")?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM delivery_schema_version")
                .fetch_one(&mut *tx)
                .await
                .ctx("reading delivery_schema_version")?;
        let current = current.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(OutboxError::NewerSchema {
                location: self.inner.location.clone(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (version, statements) in migrations(self.inner.backend) {
            if version <= current {
                continue;
            }
            for s in statements {
                sqlx::query(AssertSqlSafe(s))
                    .execute(&mut *tx)
                    .await
                    .ctx("creating the outbox tables")?;
            }
            sqlx::query("INSERT INTO delivery_schema_version (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await
                .ctx("recording the outbox schema version")?;
        }
        tx.commit().await.ctx("committing the outbox schema")
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The pool, for callers that keep their own rows in the same database and for tests.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Starts a write transaction for [`Outbox::enqueue`] plus the caller's own writes.
    /// SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so a read-then-write
    /// transaction waits its turn instead of failing with SQLITE_BUSY.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, OutboxError> {
        match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.inner.pool.begin().await,
        }
        .ctx("starting an outbox transaction")
    }

    /// Writes `msg` in the caller's transaction: it is delivered if and only if that
    /// transaction commits, so a contact-history row and its message cannot disagree.
    /// `tx` may come from any pool on the same database (for example the operational
    /// store's). Call [`Outbox::wake`] after committing to skip the dispatcher's poll delay.
    pub async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Any>,
        msg: &Message,
    ) -> Result<Enqueued, OutboxError> {
        validate(msg)?;
        let payload = serde_json::to_string(&msg.payload).map_err(|e| OutboxError::Invalid {
            field: "payload",
            reason: format!("cannot be serialised as JSON: {e}"),
        })?;
        let now = now_micros();
        let done = sqlx::query(
            "INSERT INTO delivery_outbox (idempotency_key, channel, customer_id, payload, not_before, \
             status, attempts, retries, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(msg.idempotency_key.as_str())
        .bind(msg.channel.as_str())
        .bind(msg.customer_id.as_str())
        .bind(payload)
        .bind(msg.not_before)
        .bind(msg.not_before.max(0))
        .bind(now)
        .execute(&mut **tx)
        .await
        .ctx("enqueueing a message")?;
        Ok(if done.rows_affected() == 1 {
            Enqueued::New
        } else {
            Enqueued::AlreadyQueued
        })
    }

    /// [`Outbox::enqueue`], also returning the outbox row id (of the new row, or of the row
    /// already holding the key), for callers that record where their message went.
    pub async fn enqueue_with_id(
        &self,
        tx: &mut Transaction<'_, Any>,
        msg: &Message,
    ) -> Result<(Enqueued, i64), OutboxError> {
        validate(msg)?;
        let payload = serde_json::to_string(&msg.payload).map_err(|e| OutboxError::Invalid {
            field: "payload",
            reason: format!("cannot be serialised as JSON: {e}"),
        })?;
        let now = now_micros();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO delivery_outbox (idempotency_key, channel, customer_id, payload, not_before, \
             status, attempts, retries, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(msg.idempotency_key.as_str())
        .bind(msg.channel.as_str())
        .bind(msg.customer_id.as_str())
        .bind(payload)
        .bind(msg.not_before)
        .bind(msg.not_before.max(0))
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .ctx("enqueueing a message")?;
        if let Some(id) = id {
            return Ok((Enqueued::New, id));
        }
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM delivery_outbox WHERE idempotency_key = $1")
                .bind(msg.idempotency_key.as_str())
                .fetch_one(&mut **tx)
                .await
                .ctx("finding an already queued message")?;
        Ok((Enqueued::AlreadyQueued, id))
    }

    /// Messages whose last attempt failed and that are not sent (waiting for a retry, or
    /// dead), newest first: what the delivery monitor lists with the reasons.
    pub async fn recent_failures(&self, limit: i64) -> Result<Vec<OutboxEntry>, OutboxError> {
        let rows = sqlx::query(
            "SELECT id, idempotency_key, channel, customer_id, payload, not_before, status, attempts, \
             retries, next_attempt_at, last_error, receipt, created_at, sent_at \
             FROM delivery_outbox WHERE last_error IS NOT NULL AND status <> 'sent' \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.max(0))
        .fetch_all(&self.inner.pool)
        .await
        .ctx("listing failed messages")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Messages sent per channel per `bucket_micros` since `since` (UTC micros), oldest
    /// bucket first: `(bucket start, channel, count)`. For the throughput chart.
    pub async fn throughput(
        &self,
        since: i64,
        bucket_micros: i64,
    ) -> Result<Vec<(i64, String, i64)>, OutboxError> {
        if bucket_micros <= 0 {
            return Err(OutboxError::Invalid {
                field: "bucket_micros",
                reason: format!("is {bucket_micros}; use a positive bucket width"),
            });
        }
        let rows = sqlx::query(
            "SELECT CAST(sent_at / $1 AS BIGINT) AS bucket, channel, CAST(COUNT(*) AS BIGINT) AS n \
             FROM delivery_outbox WHERE status = 'sent' AND sent_at >= $2 \
             GROUP BY bucket, channel ORDER BY bucket, channel",
        )
        .bind(bucket_micros)
        .bind(since)
        .fetch_all(&self.inner.pool)
        .await
        .ctx("counting sent messages over time")?;
        rows.iter()
            .map(|row| {
                let bucket: i64 = row.try_get("bucket").ctx("reading throughput")?;
                Ok((
                    bucket.saturating_mul(bucket_micros),
                    row.try_get("channel").ctx("reading throughput")?,
                    row.try_get("n").ctx("reading throughput")?,
                ))
            })
            .collect()
    }

    /// Enqueues one message in its own transaction.
    pub async fn enqueue_one(&self, msg: &Message) -> Result<Enqueued, OutboxError> {
        let mut tx = self.begin().await?;
        let r = self.enqueue(&mut tx, msg).await?;
        tx.commit().await.ctx("committing an enqueued message")?;
        self.wake();
        Ok(r)
    }

    /// Enqueues many messages in one transaction (all or none); returns how many were new.
    pub async fn enqueue_many(&self, msgs: &[Message]) -> Result<u64, OutboxError> {
        let mut tx = self.begin().await?;
        let mut new = 0;
        for m in msgs {
            if self.enqueue(&mut tx, m).await? == Enqueued::New {
                new += 1;
            }
        }
        tx.commit().await.ctx("committing enqueued messages")?;
        self.wake();
        Ok(new)
    }

    /// Nudges idle dispatcher workers in this process to look for due messages now.
    pub fn wake(&self) {
        self.inner.wake.notify_waiters();
    }

    pub(crate) async fn woken(&self) {
        self.inner.wake.notified().await
    }

    /// Claims up to `limit` due messages of `channel` for `owner` until `lease_until`.
    pub(crate) async fn claim(
        &self,
        channel: Channel,
        owner: &str,
        limit: i64,
        lease_until: i64,
        now: i64,
    ) -> Result<Vec<Claimed>, OutboxError> {
        let lock = match self.inner.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            // A single UPDATE is atomic under SQLite's one-writer lock.
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE delivery_outbox SET status = 'sending', attempts = attempts + 1, \
             retries = retries + CASE WHEN status = 'sending' THEN 1 ELSE 0 END, \
             lease_owner = $1, lease_until = $2, next_attempt_at = $2 \
             WHERE id IN (SELECT id FROM delivery_outbox WHERE channel = $3 \
               AND status IN ('pending', 'sending') AND next_attempt_at <= $4 \
               ORDER BY next_attempt_at, id LIMIT $5{lock}) \
             RETURNING id, idempotency_key, customer_id, payload, not_before, attempts"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(channel.as_str())
            .bind(now)
            .bind(limit)
            .fetch_all(&self.inner.pool)
            .await
            .ctx("claiming due messages")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id").ctx("reading a claimed row")?;
            let key: String = row
                .try_get("idempotency_key")
                .ctx("reading a claimed row")?;
            let payload: String = row.try_get("payload").ctx("reading a claimed row")?;
            out.push(Claimed {
                id,
                attempts: row.try_get("attempts").ctx("reading a claimed row")?,
                message: Message {
                    payload: parse_payload(&key, &payload)?,
                    channel,
                    customer_id: row.try_get("customer_id").ctx("reading a claimed row")?,
                    not_before: row.try_get("not_before").ctx("reading a claimed row")?,
                    idempotency_key: key,
                },
            });
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// Marks delivered messages sent, in one transaction. A row that another dispatcher
    /// reclaimed meanwhile is still marked sent: the receiver has it.
    pub(crate) async fn ack_sent(&self, acks: &[(i64, Receipt)]) -> Result<(), OutboxError> {
        if acks.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        let mut tx = self.begin().await?;
        for (id, receipt) in acks {
            let receipt = serde_json::to_string(receipt).map_err(|e| OutboxError::Invalid {
                field: "receipt",
                reason: e.to_string(),
            })?;
            sqlx::query(
                "UPDATE delivery_outbox SET status = 'sent', sent_at = $1, receipt = $2, \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND status IN ('pending', 'sending')",
            )
            .bind(now)
            .bind(receipt)
            .bind(*id)
            .execute(&mut *tx)
            .await
            .ctx("marking a message sent")?;
        }
        tx.commit().await.ctx("committing sent messages")
    }

    /// Puts a failed message back in the queue, due at `next_attempt_at`. Only the lease
    /// holder may: if the lease was lost the new holder decides.
    pub(crate) async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, OutboxError> {
        let done = sqlx::query(
            "UPDATE delivery_outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, \
             retries = retries + 1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND status = 'sending' AND lease_owner = $4",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.inner.pool)
        .await
        .ctx("rescheduling a failed message")?;
        Ok(done.rows_affected() == 1)
    }

    /// Returns claimed but unattempted messages to the queue (dispatcher shutting down).
    pub(crate) async fn release(&self, ids: &[i64], owner: &str) -> Result<(), OutboxError> {
        let now = now_micros();
        for id in ids {
            sqlx::query(
                "UPDATE delivery_outbox SET status = 'pending', next_attempt_at = $1, \
                 attempts = attempts - 1, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND status = 'sending' AND lease_owner = $3",
            )
            .bind(now)
            .bind(*id)
            .bind(owner)
            .execute(&self.inner.pool)
            .await
            .ctx("releasing a claimed message")?;
        }
        Ok(())
    }

    /// Moves a message to the dead-letter queue with its last error.
    pub(crate) async fn dead_letter(
        &self,
        id: i64,
        owner: &str,
        error: &str,
    ) -> Result<bool, OutboxError> {
        let now = now_micros();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE delivery_outbox SET status = 'dead', last_error = $1, lease_owner = NULL, \
             lease_until = NULL WHERE id = $2 AND status = 'sending' AND lease_owner = $3",
        )
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .ctx("dead-lettering a message")?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "INSERT INTO delivery_dead_letter (outbox_id, idempotency_key, channel, customer_id, \
                 payload, attempts, last_error, dead_at) \
                 SELECT id, idempotency_key, channel, customer_id, payload, attempts, $1, $2 \
                 FROM delivery_outbox WHERE id = $3",
            )
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .ctx("writing a dead letter")?;
        }
        tx.commit().await.ctx("committing a dead letter")?;
        Ok(done.rows_affected() == 1)
    }

    /// Dead letters, newest first, optionally for one channel.
    pub async fn dead_letters(
        &self,
        channel: Option<Channel>,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, OutboxError> {
        let rows = sqlx::query(
            "SELECT d.outbox_id, d.idempotency_key, d.channel, d.customer_id, d.payload, d.attempts, \
             d.last_error, d.dead_at, o.not_before FROM delivery_dead_letter d \
             JOIN delivery_outbox o ON o.id = d.outbox_id \
             WHERE ($1 = '' OR d.channel = $1) ORDER BY d.dead_at DESC, d.outbox_id DESC LIMIT $2",
        )
        .bind(channel.map(Channel::as_str).unwrap_or(""))
        .bind(limit.max(0))
        .fetch_all(&self.inner.pool)
        .await
        .ctx("listing dead letters")?;
        rows.iter()
            .map(|row| {
                let message = message_from_row(row)?;
                Ok(DeadLetter {
                    outbox_id: row.try_get("outbox_id").ctx("reading a dead letter")?,
                    attempts: row.try_get("attempts").ctx("reading a dead letter")?,
                    last_error: row.try_get("last_error").ctx("reading a dead letter")?,
                    dead_at: row.try_get("dead_at").ctx("reading a dead letter")?,
                    message,
                })
            })
            .collect()
    }

    /// Sends a dead letter back to the queue with a fresh attempt budget (after someone fixed
    /// the cause). Returns false when the key is not dead-lettered. The key is unchanged, so
    /// a receiver that did get an earlier attempt still drops it.
    pub async fn requeue(&self, idempotency_key: &str) -> Result<bool, OutboxError> {
        let mut tx = self.begin().await?;
        let n = requeue_where(&mut tx, "idempotency_key = $2", idempotency_key).await?;
        tx.commit().await.ctx("committing a requeue")?;
        self.wake();
        Ok(n > 0)
    }

    /// Requeues every dead letter (of one channel, or all); returns how many.
    pub async fn requeue_all(&self, channel: Option<Channel>) -> Result<u64, OutboxError> {
        let mut tx = self.begin().await?;
        let n = match channel {
            Some(c) => requeue_where(&mut tx, "channel = $2", c.as_str()).await?,
            None => requeue_where(&mut tx, "$2 = $2", "").await?,
        };
        tx.commit().await.ctx("committing a requeue")?;
        self.wake();
        Ok(n)
    }

    /// One message by idempotency key.
    pub async fn entry(&self, idempotency_key: &str) -> Result<Option<OutboxEntry>, OutboxError> {
        let row = sqlx::query(
            "SELECT id, idempotency_key, channel, customer_id, payload, not_before, status, attempts, \
             retries, next_attempt_at, last_error, receipt, created_at, sent_at \
             FROM delivery_outbox WHERE idempotency_key = $1",
        )
        .bind(idempotency_key)
        .fetch_optional(&self.inner.pool)
        .await
        .ctx("reading an outbox entry")?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// Per-channel counts for the delivery monitor.
    pub async fn metrics(&self) -> Result<DeliveryMetrics, OutboxError> {
        let rows = sqlx::query(
            "SELECT channel, \
             CAST(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS BIGINT) AS pending, \
             CAST(SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END) AS BIGINT) AS sending, \
             CAST(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS BIGINT) AS sent, \
             CAST(SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS BIGINT) AS dead, \
             CAST(SUM(retries) AS BIGINT) AS retried \
             FROM delivery_outbox GROUP BY channel",
        )
        .fetch_all(&self.inner.pool)
        .await
        .ctx("counting outbox rows")?;
        let mut by_channel: BTreeMap<String, ChannelMetrics> = Channel::ALL
            .iter()
            .map(|c| {
                (
                    c.as_str().to_string(),
                    ChannelMetrics {
                        channel: c.as_str().to_string(),
                        ..ChannelMetrics::default()
                    },
                )
            })
            .collect();
        for row in rows {
            let channel: String = row.try_get("channel").ctx("reading metrics")?;
            let m = by_channel
                .entry(channel.clone())
                .or_insert_with(|| ChannelMetrics {
                    channel,
                    ..ChannelMetrics::default()
                });
            m.pending = row.try_get("pending").ctx("reading metrics")?;
            m.sending = row.try_get("sending").ctx("reading metrics")?;
            m.sent = row.try_get("sent").ctx("reading metrics")?;
            m.dead = row.try_get("dead").ctx("reading metrics")?;
            m.retried = row.try_get("retried").ctx("reading metrics")?;
        }
        // Channel::ALL order first, then anything unexpected found in the table.
        let mut channels = Vec::with_capacity(by_channel.len());
        for c in Channel::ALL {
            if let Some(m) = by_channel.remove(c.as_str()) {
                channels.push(m);
            }
        }
        channels.extend(by_channel.into_values());
        Ok(DeliveryMetrics { channels })
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.inner.pool.close().await
    }
}

async fn requeue_where(
    tx: &mut Transaction<'static, Any>,
    predicate: &'static str,
    value: &str,
) -> Result<u64, OutboxError> {
    let now = now_micros();
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE delivery_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1 \
         WHERE status = 'dead' AND id IN (SELECT outbox_id FROM delivery_dead_letter WHERE {predicate})"
    )))
    .bind(now)
    .bind(value)
    .execute(&mut **tx)
    .await
    .ctx("requeueing dead letters")?;
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM delivery_dead_letter WHERE {}",
        predicate.replace("$2", "$1")
    )))
    .bind(value)
    .execute(&mut **tx)
    .await
    .ctx("removing requeued dead letters")?;
    Ok(done.rows_affected())
}

fn message_from_row(row: &AnyRow) -> Result<Message, OutboxError> {
    let key: String = row.try_get("idempotency_key").ctx("reading a message")?;
    let channel: String = row.try_get("channel").ctx("reading a message")?;
    let payload: String = row.try_get("payload").ctx("reading a message")?;
    Ok(Message {
        channel: channel
            .parse()
            .map_err(|e: crate::UnknownChannel| OutboxError::Corrupt {
                column: "channel",
                key: key.clone(),
                reason: e.to_string(),
            })?,
        payload: parse_payload(&key, &payload)?,
        customer_id: row.try_get("customer_id").ctx("reading a message")?,
        not_before: row.try_get("not_before").ctx("reading a message")?,
        idempotency_key: key,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<OutboxEntry, OutboxError> {
    let message = message_from_row(row)?;
    let status: String = row.try_get("status").ctx("reading an outbox entry")?;
    let receipt: Option<String> = row.try_get("receipt").ctx("reading an outbox entry")?;
    let receipt = receipt
        .map(|r| {
            serde_json::from_str::<Receipt>(&r).map_err(|e| OutboxError::Corrupt {
                column: "receipt",
                key: message.idempotency_key.clone(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    Ok(OutboxEntry {
        id: row.try_get("id").ctx("reading an outbox entry")?,
        status: status.parse().map_err(|reason| OutboxError::Corrupt {
            column: "status",
            key: message.idempotency_key.clone(),
            reason,
        })?,
        attempts: row.try_get("attempts").ctx("reading an outbox entry")?,
        retries: row.try_get("retries").ctx("reading an outbox entry")?,
        next_attempt_at: row
            .try_get("next_attempt_at")
            .ctx("reading an outbox entry")?,
        last_error: row.try_get("last_error").ctx("reading an outbox entry")?,
        created_at: row.try_get("created_at").ctx("reading an outbox entry")?,
        sent_at: row.try_get("sent_at").ctx("reading an outbox entry")?,
        receipt,
        message,
    })
}

fn parse_payload(key: &str, payload: &str) -> Result<serde_json::Value, OutboxError> {
    serde_json::from_str(payload).map_err(|e| OutboxError::Corrupt {
        column: "payload",
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn validate(msg: &Message) -> Result<(), OutboxError> {
    let key = msg.idempotency_key.as_str();
    if key.trim().is_empty() {
        return Err(OutboxError::Invalid {
            field: "idempotency_key",
            reason: "must not be empty: use e.g. campaign:customer:offer:step".into(),
        });
    }
    if key.len() > 512 || key.chars().any(char::is_control) {
        return Err(OutboxError::Invalid {
            field: "idempotency_key",
            reason: format!(
                "'{}' must be at most 512 bytes without control characters (it travels as an HTTP header)",
                key.escape_debug()
            ),
        });
    }
    if msg.customer_id.trim().is_empty() {
        return Err(OutboxError::Invalid {
            field: "customer_id",
            reason: format!("must not be empty (message '{key}')"),
        });
    }
    Ok(())
}

/// The DDL steps, by version. Both backends get the same tables; only the auto-increment
/// key differs.
fn migrations(backend: Backend) -> Vec<(i64, Vec<String>)> {
    let id = match backend {
        Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "id BIGSERIAL PRIMARY KEY",
    };
    vec![(
        1,
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS delivery_outbox (\
                 {id}, \
                 idempotency_key TEXT NOT NULL UNIQUE, \
                 channel TEXT NOT NULL, \
                 customer_id TEXT NOT NULL, \
                 payload TEXT NOT NULL, \
                 not_before BIGINT NOT NULL, \
                 status TEXT NOT NULL, \
                 attempts BIGINT NOT NULL DEFAULT 0, \
                 retries BIGINT NOT NULL DEFAULT 0, \
                 next_attempt_at BIGINT NOT NULL, \
                 lease_owner TEXT, \
                 lease_until BIGINT, \
                 last_error TEXT, \
                 receipt TEXT, \
                 created_at BIGINT NOT NULL, \
                 sent_at BIGINT)"
            ),
            "CREATE INDEX IF NOT EXISTS delivery_outbox_due \
             ON delivery_outbox (channel, status, next_attempt_at, id)"
                .to_string(),
            "CREATE TABLE IF NOT EXISTS delivery_dead_letter (\
             outbox_id BIGINT PRIMARY KEY, \
             idempotency_key TEXT NOT NULL UNIQUE, \
             channel TEXT NOT NULL, \
             customer_id TEXT NOT NULL, \
             payload TEXT NOT NULL, \
             attempts BIGINT NOT NULL, \
             last_error TEXT NOT NULL, \
             dead_at BIGINT NOT NULL)"
                .to_string(),
            "CREATE INDEX IF NOT EXISTS delivery_dead_letter_channel \
             ON delivery_dead_letter (channel, dead_at)"
                .to_string(),
        ],
    )]
}

fn resolve_url(raw: &str) -> Result<(Backend, String, String), OutboxError> {
    let scheme = raw
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .or_else(|| raw.strip_prefix("sqlite:").map(|_| "sqlite".to_string()));
    match scheme.as_deref() {
        Some("postgres") | Some("postgresql") => {
            Ok((Backend::Postgres, raw.to_string(), redact_url(raw)))
        }
        Some("sqlite") => {
            let opts = SqliteConnectOptions::from_str(raw)
                .map_err(|source| OutboxError::Connect {
                    location: raw.to_string(),
                    source,
                })?
                .create_if_missing(true);
            Ok((
                Backend::Sqlite,
                opts.to_url_lossy().to_string(),
                raw.to_string(),
            ))
        }
        Some(_) => Err(OutboxError::UnsupportedUrl {
            url: redact_url(raw),
        }),
        None => {
            let path = std::path::Path::new(raw);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| OutboxError::Invalid {
                    field: "url",
                    reason: format!("cannot create {}: {e}", parent.display()),
                })?;
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true);
            Ok((
                Backend::Sqlite,
                opts.to_url_lossy().to_string(),
                raw.to_string(),
            ))
        }
    }
}

fn validate_schema_name(s: &str) -> Result<String, OutboxError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(OutboxError::Invalid {
            field: "pg_schema",
            reason: format!(
                "'{s}' must be 1-63 ASCII letters, digits or '_', not starting with a digit"
            ),
        })
    }
}

/// Hides the password in `scheme://user:password@host/...` before a URL goes into a message.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn urls_resolve_to_backends() {
        assert!(matches!(
            resolve_url("mysql://x/y"),
            Err(OutboxError::UnsupportedUrl { .. })
        ));
        assert_eq!(
            resolve_url("postgresql://u@h/db").map(|r| r.0).ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            resolve_url("sqlite:///tmp/x.db").map(|r| r.0).ok(),
            Some(Backend::Sqlite)
        );
    }

    #[test]
    fn messages_are_validated() {
        let ok = Message::new("c1:u1:o1:0", Channel::Sms, "u1", serde_json::json!({}));
        assert!(validate(&ok).is_ok());
        let mut bad = ok.clone();
        bad.idempotency_key = " ".into();
        assert!(matches!(
            validate(&bad),
            Err(OutboxError::Invalid {
                field: "idempotency_key",
                ..
            })
        ));
        let mut bad = ok.clone();
        bad.idempotency_key = "a\nb".into();
        assert!(validate(&bad).is_err());
        let mut bad = ok;
        bad.customer_id = String::new();
        assert!(matches!(
            validate(&bad),
            Err(OutboxError::Invalid {
                field: "customer_id",
                ..
            })
        ));
    }
}
