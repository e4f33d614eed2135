//! [`SqlStore`]: the one implementation of [`OperationalStore`], over sqlx's `Any` driver.
//!
//! The SQL here is the common subset of SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT … DO UPDATE`, `BIGINT` everywhere). The few places where the backends must
//! differ — how a write transaction starts and how the audit chain is locked — go through
//! [`Backend`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, AssertSqlSafe, ConnectOptions, Row, Transaction};
use zhiying_core::DataDir;
use zhiying_core::domain::Role;

use std::collections::BTreeMap;

use crate::OperationalStore;
use crate::audiences::{self, AudienceSnapshot, NewAudience, SavedAudience};
use crate::audit::{GENESIS_HASH, audit_hash, canonical_json};
use crate::campaigns::{self, Campaign, CampaignDraft, CampaignStatus, CampaignTransition};
use crate::contacts::{
    self, CampaignResponse, Contact, ContactGroup, ContactStatus, Decision, Response,
};
use crate::crypt;
use crate::error::{AuditBreak, DbContext, StoreError, is_unique_violation};
use crate::experiments::{self, Assignment, Experiment, ExperimentStatus, NewExperiment};
use crate::models::{self, ChampionSwap, ModelEntry, ModelStatus, ModelTransition, NewModel};
use crate::offers::{self, Offer, OfferStatus, OfferVersion};
use crate::types::{
    ALL_CHANNELS, ApiToken, AuditAnchor, AuditEntry, AuditFilter, ConsentEvent, DncEntry,
    IngestRun, IngestTotals, Session, User, UserUpdate,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite writer waits for another writer's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;
/// Rows fetched per page while verifying the audit chain, to bound memory.
const VERIFY_PAGE: i64 = 1_000;

/// Which database engine a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUrl {
                url: redact_url(url),
            }),
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// How to open a store. `Default` gives the embedded SQLite store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A `postgres://` or `sqlite:` URL; `None` means `DATA_DIR/zhiying.db`.
    pub database_url: Option<String>,
    /// PostgreSQL only: keep every table in this schema (created if missing) instead of the
    /// user's default `search_path`. Lets several deployments, or test runs, share a database.
    pub pg_schema: Option<String>,
    /// Pool size; `None` picks 4 for SQLite (one writer at a time anyway) and 10 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long to wait for a connection, including the first one.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            database_url: None,
            pg_schema: None,
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The operational store over SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// Serialises audit appends within this process so they queue here instead of spinning
    /// on the database lock; the database lock still guards against other processes.
    audit_lock: tokio::sync::Mutex<()>,
}

impl SqlStore {
    /// Connects, creating the SQLite file (and data dir) or PostgreSQL schema if missing, and
    /// applies pending migrations.
    pub async fn open_with(
        options: &StoreOptions,
        data_dir: &DataDir,
    ) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url, location) = match options.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                let backend = Backend::from_url(url)?;
                (backend, url.to_string(), redact_url(url))
            }
            _ => {
                let root = data_dir.root();
                std::fs::create_dir_all(root).map_err(|source| StoreError::DataDir {
                    path: root.display().to_string(),
                    source,
                })?;
                let path = data_dir.sqlite_path();
                let url = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .to_url_lossy();
                (Backend::Sqlite, url.to_string(), path.display().to_string())
            }
        };
        let schema = match (&options.pg_schema, backend) {
            (Some(s), Backend::Postgres) => Some(validate_schema_name(s)?),
            _ => None,
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating_file(&url, &location)?,
            Backend::Postgres => url,
        };

        let set_search_path: Option<Arc<str>> = schema
            .as_ref()
            .map(|s| format!("SET search_path TO \"{s}\"").into());
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            }))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let set_search_path = set_search_path.clone();
                Box::pin(async move {
                    let statements: Vec<String> = match backend {
                        Backend::Sqlite => vec![
                            "PRAGMA journal_mode = WAL".into(),
                            format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
                            "PRAGMA foreign_keys = ON".into(),
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
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            Err(source) => {
                return Err(StoreError::Connect {
                    location,
                    source: root_cause(&url, source).await,
                });
            }
        };

        if let Some(s) = &schema {
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\""
            )))
            .persistent(false)
            .execute(&pool)
            .await
            .ctx("creating the PostgreSQL schema")?;
        }
        backend
            .migrator()
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: backend.name(),
                location: location.clone(),
                source,
            })?;
        Ok(SqlStore {
            pool,
            backend,
            audit_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The underlying pool, for maintenance and tests that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes fails
    /// at once with SQLITE_BUSY under concurrency instead of waiting its turn.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .ctx("starting a write transaction")
    }
}

/// Commits on success; on failure rolls back at once. A dropped transaction is rolled back
/// only when its connection is next used, and on SQLite the idle connection would keep the
/// write lock (`BEGIN IMMEDIATE`) meanwhile, stalling every other writer for the busy timeout.
pub(crate) async fn settle<T>(
    tx: Transaction<'static, Any>,
    result: Result<T, StoreError>,
    context: &'static str,
) -> Result<T, StoreError> {
    match result {
        Ok(v) => {
            tx.commit().await.ctx(context)?;
            Ok(v)
        }
        Err(e) => {
            tx.rollback().await.ctx(context)?;
            Err(e)
        }
    }
}

/// The pool reports only "timed out" when every connection attempt failed; one direct
/// attempt recovers the reason (connection refused, unknown role, missing database…).
async fn root_cause(url: &str, err: sqlx::Error) -> sqlx::Error {
    use sqlx::Connection;
    if !matches!(err, sqlx::Error::PoolTimedOut) {
        return err;
    }
    match tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(url)).await {
        Ok(Err(direct)) => direct,
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            err
        }
        Err(_elapsed) => err,
    }
}

/// Accepts `sqlite:` URLs given by the user, adding `mode=rwc` so a missing file is created.
fn sqlite_url_creating_file(url: &str, location: &str) -> Result<String, StoreError> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|source| StoreError::Connect {
            location: location.to_string(),
            source,
        })?
        .create_if_missing(true);
    Ok(opts.to_url_lossy().to_string())
}

fn validate_schema_name(s: &str) -> Result<String, StoreError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(StoreError::Invalid {
            field: "pg_schema",
            reason: format!(
                "'{s}' must be 1-63 ASCII letters, digits or '_', not starting with a digit"
            ),
        })
    }
}

/// Hides the password in `scheme://user:password@host/...` before a URL goes into a message.
pub(crate) fn redact_url(url: &str) -> String {
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

pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        Err(StoreError::Invalid {
            field,
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn count_to_db(field: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid {
        field,
        reason: format!("{v} exceeds the largest storable count"),
    })
}

pub(crate) fn count_from_db(
    table: &'static str,
    column: &'static str,
    key: &str,
    v: i64,
) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        column,
        key: key.to_string(),
        reason: format!("negative count {v}"),
    })
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, Any> + sqlx::Type<Any>>(
    row: &'r AnyRow,
    column: &'static str,
) -> Result<T, StoreError> {
    row.try_get(column).ctx("reading a row")
}

fn ingest_run_from_row(row: &AnyRow) -> Result<IngestRun, StoreError> {
    let batch_id: String = get(row, "batch_id")?;
    let count = |column: &'static str| -> Result<u64, StoreError> {
        count_from_db("ingest_runs", column, &batch_id, get::<i64>(row, column)?)
    };
    Ok(IngestRun {
        table_name: get(row, "table_name")?,
        source_file: get(row, "source_file")?,
        file_hash: get(row, "file_hash")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        accepted: count("accepted")?,
        rejected: count("rejected")?,
        duplicates_skipped: count("duplicates_skipped")?,
        quarantine_path: get(row, "quarantine_path")?,
        batch_id,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let seq: i64 = get(row, "seq")?;
    Ok(AuditEntry {
        seq: count_from_db("audit_log", "seq", &seq.to_string(), seq)?,
        ts: get(row, "ts")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        detail: get(row, "detail")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

pub(crate) fn consent_from_row(row: &AnyRow) -> Result<ConsentEvent, StoreError> {
    let customer_id: String = get(row, "customer_id")?;
    let evidence = get::<Option<String>>(row, "evidence")?
        .map(|v| crypt::open("consents", "evidence", &customer_id, v))
        .transpose()?;
    Ok(ConsentEvent {
        customer_id,
        purpose: get(row, "purpose")?,
        channel: get(row, "channel")?,
        granted: get::<i64>(row, "granted")? != 0,
        ts: get(row, "ts")?,
        source: get(row, "source")?,
        evidence,
    })
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    let token_hash: String = get(row, "token_hash")?;
    let scopes_json: String = get(row, "scopes")?;
    let scopes = serde_json::from_str(&scopes_json).map_err(|e| StoreError::Corrupt {
        table: "api_tokens",
        column: "scopes",
        key: token_hash.clone(),
        reason: e.to_string(),
    })?;
    Ok(ApiToken {
        username: get(row, "username")?,
        scopes,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
        token_hash,
    })
}

const AUDIT_COLUMNS: &str = "seq, ts, actor, action, target, detail, prev_hash, hash";
const INGEST_COLUMNS: &str = "batch_id, table_name, source_file, file_hash, started_at, finished_at, accepted, rejected, duplicates_skipped, quarantine_path";

impl SqlStore {
    /// Loads users with their roles; `username = None` loads all.
    async fn load_users(&self, username: Option<&str>) -> Result<Vec<User>, StoreError> {
        let (user_rows, role_rows) = match username {
            Some(u) => (
                sqlx::query("SELECT username, display_name, password_hash, disabled, created_at FROM users WHERE username = $1")
                    .bind(u)
                    .fetch_all(&self.pool)
                    .await,
                sqlx::query("SELECT username, role FROM user_roles WHERE username = $1 ORDER BY role")
                    .bind(u)
                    .fetch_all(&self.pool)
                    .await,
            ),
            None => (
                sqlx::query("SELECT username, display_name, password_hash, disabled, created_at FROM users ORDER BY username")
                    .fetch_all(&self.pool)
                    .await,
                sqlx::query("SELECT username, role FROM user_roles ORDER BY username, role").fetch_all(&self.pool).await,
            ),
        };
        let (user_rows, role_rows) = (
            user_rows.ctx("reading users")?,
            role_rows.ctx("reading user roles")?,
        );
        let mut roles: std::collections::HashMap<String, Vec<Role>> =
            std::collections::HashMap::new();
        for row in &role_rows {
            let name: String = get(row, "username")?;
            let role_text: String = get(row, "role")?;
            let role = Role::from_str(&role_text).map_err(|e| StoreError::Corrupt {
                table: "user_roles",
                column: "role",
                key: name.clone(),
                reason: e.to_string(),
            })?;
            roles.entry(name).or_default().push(role);
        }
        user_rows
            .iter()
            .map(|row| {
                let username: String = get(row, "username")?;
                Ok(User {
                    display_name: crypt::open(
                        "users",
                        "display_name",
                        &username,
                        get(row, "display_name")?,
                    )?,
                    password_hash: get(row, "password_hash")?,
                    roles: roles.remove(&username).unwrap_or_default(),
                    disabled: get::<i64>(row, "disabled")? != 0,
                    created_at: get(row, "created_at")?,
                    username,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl OperationalStore for SqlStore {
    fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_audience(&self, new: &NewAudience) -> Result<SavedAudience, StoreError> {
        audiences::create(&self.pool, new).await
    }
    async fn audience(&self, id: &str) -> Result<Option<SavedAudience>, StoreError> {
        audiences::get(&self.pool, id).await
    }
    async fn audiences(&self) -> Result<Vec<SavedAudience>, StoreError> {
        audiences::list(&self.pool).await
    }
    async fn record_audience_count(&self, id: &str, count: u64, at: i64) -> Result<(), StoreError> {
        audiences::record_count(&self.pool, id, count, at).await
    }
    async fn delete_audience(&self, id: &str) -> Result<bool, StoreError> {
        audiences::delete(&self.pool, id).await
    }
    async fn record_audience_snapshot(
        &self,
        snapshot: &AudienceSnapshot,
    ) -> Result<(), StoreError> {
        audiences::record_snapshot(&self.pool, snapshot).await
    }
    async fn audience_snapshots(&self, id: &str) -> Result<Vec<AudienceSnapshot>, StoreError> {
        audiences::snapshots(&self.pool, id).await
    }

    async fn record_ingest_run(&self, run: &IngestRun) -> Result<(), StoreError> {
        non_empty("batch_id", &run.batch_id)?;
        non_empty("table_name", &run.table_name)?;
        sqlx::query(
            "INSERT INTO ingest_runs (batch_id, table_name, source_file, file_hash, started_at, finished_at, \
             accepted, rejected, duplicates_skipped, quarantine_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (batch_id) DO UPDATE SET table_name = excluded.table_name, source_file = excluded.source_file, \
             file_hash = excluded.file_hash, started_at = excluded.started_at, finished_at = excluded.finished_at, \
             accepted = excluded.accepted, rejected = excluded.rejected, duplicates_skipped = excluded.duplicates_skipped, \
             quarantine_path = excluded.quarantine_path",
        )
        .bind(&run.batch_id)
        .bind(&run.table_name)
        .bind(&run.source_file)
        .bind(&run.file_hash)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(count_to_db("accepted", run.accepted)?)
        .bind(count_to_db("rejected", run.rejected)?)
        .bind(count_to_db("duplicates_skipped", run.duplicates_skipped)?)
        .bind(run.quarantine_path.as_deref())
        .execute(&self.pool)
        .await
        .ctx("recording an ingest run")?;
        Ok(())
    }

    async fn ingest_runs(&self, table: Option<&str>) -> Result<Vec<IngestRun>, StoreError> {
        let rows = match table {
            Some(t) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {INGEST_COLUMNS} FROM ingest_runs WHERE table_name = $1 ORDER BY started_at DESC, batch_id"
                )))
                .bind(t)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {INGEST_COLUMNS} FROM ingest_runs ORDER BY started_at DESC, batch_id"
                )))
                .fetch_all(&self.pool)
                .await
            }
        }
        .ctx("listing ingest runs")?;
        rows.iter().map(ingest_run_from_row).collect()
    }

    async fn ingest_totals(&self) -> Result<Vec<IngestTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT table_name, COUNT(*) AS batches, CAST(COALESCE(SUM(accepted), 0) AS BIGINT) AS accepted, \
             CAST(COALESCE(SUM(rejected), 0) AS BIGINT) AS rejected, \
             CAST(COALESCE(SUM(duplicates_skipped), 0) AS BIGINT) AS duplicates_skipped \
             FROM ingest_runs GROUP BY table_name ORDER BY table_name",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("summing ingest runs")?;
        rows.iter()
            .map(|row| {
                let table_name: String = get(row, "table_name")?;
                let count = |column: &'static str| -> Result<u64, StoreError> {
                    count_from_db("ingest_runs", column, &table_name, get::<i64>(row, column)?)
                };
                Ok(IngestTotals {
                    batches: count("batches")?,
                    accepted: count("accepted")?,
                    rejected: count("rejected")?,
                    duplicates_skipped: count("duplicates_skipped")?,
                    table_name: table_name.clone(),
                })
            })
            .collect()
    }

    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        roles: &[Role],
    ) -> Result<User, StoreError> {
        non_empty("username", username)?;
        non_empty("password_hash", password_hash)?;
        let now = now_micros();
        let sealed_name = crypt::seal("users", "display_name", username, display_name)?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(username)
        .bind(&sealed_name)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict {
                    what: "user",
                    key: username.to_string(),
                });
            }
            other => other.ctx("creating a user")?,
        };
        let mut unique_roles: Vec<Role> = Vec::with_capacity(roles.len());
        for role in roles {
            if !unique_roles.contains(role) {
                unique_roles.push(*role);
            }
        }
        for role in &unique_roles {
            sqlx::query("INSERT INTO user_roles (username, role) VALUES ($1, $2)")
                .bind(username)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .ctx("granting a role")?;
        }
        tx.commit().await.ctx("committing a new user")?;
        unique_roles.sort_by_key(|r| r.as_str());
        Ok(User {
            username: username.to_string(),
            display_name: display_name.to_string(),
            password_hash: password_hash.to_string(),
            roles: unique_roles,
            disabled: false,
            created_at: now,
        })
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self.load_users(Some(username)).await?.into_iter().next())
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.load_users(None).await
    }

    async fn create_token(
        &self,
        token_hash: &str,
        username: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> Result<ApiToken, StoreError> {
        non_empty("token_hash", token_hash)?;
        let scopes_json = serde_json::to_string(scopes).map_err(|e| StoreError::Invalid {
            field: "scopes",
            reason: e.to_string(),
        })?;
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        let user_exists = sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await
            .ctx("looking up a token's user")?
            .is_some();
        if !user_exists {
            return Err(StoreError::NotFound {
                what: "user",
                key: username.to_string(),
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (token_hash, username, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(username)
        .bind(&scopes_json)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict {
                    what: "API token",
                    key: token_hash.to_string(),
                });
            }
            other => other.ctx("creating an API token")?,
        };
        tx.commit().await.ctx("committing an API token")?;
        Ok(ApiToken {
            token_hash: token_hash.to_string(),
            username: username.to_string(),
            scopes: scopes.to_vec(),
            created_at: now,
            expires_at,
            revoked_at: None,
        })
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, username, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .ctx("looking up an API token")?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_micros())
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .ctx("revoking an API token")?;
        Ok(done.rows_affected() > 0)
    }

    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditEntry, StoreError> {
        non_empty("actor", actor)?;
        non_empty("action", action)?;
        let detail = canonical_json(detail);
        let _in_process = self.audit_lock.lock().await;
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Blocks other writers (other processes too) until commit; readers carry on.
            sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .ctx("locking the audit log")?;
        }
        let last = sqlx::query("SELECT seq, ts, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .ctx("reading the audit chain head")?;
        let (seq, prev_hash, ts) = match &last {
            Some(row) => {
                let last_seq: i64 = get(row, "seq")?;
                let last_ts: i64 = get(row, "ts")?;
                let seq = count_from_db("audit_log", "seq", &last_seq.to_string(), last_seq)? + 1;
                // Keep timestamps non-decreasing along the chain even if the clock steps back.
                (seq, get::<String>(row, "hash")?, now_micros().max(last_ts))
            }
            None => (1, GENESIS_HASH.to_string(), now_micros()),
        };
        let hash = audit_hash(&prev_hash, seq, ts, actor, action, target, &detail);
        sqlx::query(
            "INSERT INTO audit_log (seq, ts, actor, action, target, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(count_to_db("seq", seq)?)
        .bind(ts)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(&detail)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .ctx("appending to the audit log")?;
        tx.commit().await.ctx("committing an audit entry")?;
        Ok(AuditEntry {
            seq,
            ts,
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            detail,
            prev_hash,
            hash,
        })
    }

    async fn audit_entries(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        )))
        .bind(count_to_db("after_seq", after_seq)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .ctx("reading the audit log")?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn update_user(&self, username: &str, change: &UserUpdate) -> Result<User, StoreError> {
        if let Some(h) = &change.password_hash {
            non_empty("password_hash", h)?;
        }
        let now = now_micros();
        let display_name = change
            .display_name
            .as_deref()
            .map(|v| crypt::seal("users", "display_name", username, v))
            .transpose()?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), \
             password_hash = COALESCE($2, password_hash), disabled = COALESCE($3, disabled), \
             updated_at = $4 WHERE username = $5",
        )
        .bind(display_name.as_deref())
        .bind(change.password_hash.as_deref())
        .bind(change.disabled.map(i64::from))
        .bind(now)
        .bind(username)
        .execute(&mut *tx)
        .await
        .ctx("updating a user")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "user",
                key: username.to_string(),
            });
        }
        if let Some(roles) = &change.roles {
            sqlx::query("DELETE FROM user_roles WHERE username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await
                .ctx("replacing a user's roles")?;
            let mut unique: Vec<Role> = Vec::new();
            for r in roles {
                if !unique.contains(r) {
                    unique.push(*r);
                }
            }
            for role in unique {
                sqlx::query("INSERT INTO user_roles (username, role) VALUES ($1, $2)")
                    .bind(username)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .ctx("granting a role")?;
            }
        }
        tx.commit().await.ctx("committing a user change")?;
        self.user(username)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "user",
                key: username.to_string(),
            })
    }

    async fn tokens(&self, username: Option<&str>) -> Result<Vec<ApiToken>, StoreError> {
        let sql = "SELECT token_hash, username, scopes, created_at, expires_at, revoked_at FROM api_tokens";
        let rows = match username {
            Some(u) => {
                sqlx::query(AssertSqlSafe(format!(
                    "{sql} WHERE username = $1 ORDER BY created_at, token_hash"
                )))
                .bind(u)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "{sql} ORDER BY created_at, token_hash"
                )))
                .fetch_all(&self.pool)
                .await
            }
        }
        .ctx("listing API tokens")?;
        rows.iter().map(token_from_row).collect()
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        non_empty("session id", &session.id_hash)?;
        non_empty("csrf_token", &session.csrf_token)?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, username, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(&session.username)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .ctx("creating a session")?;
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, username, csrf_token, created_at, last_seen_at, expires_at \
             FROM sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await
        .ctx("looking up a session")?;
        row.map(|row| {
            Ok(Session {
                id_hash: get(&row, "id_hash")?,
                username: get(&row, "username")?,
                csrf_token: get(&row, "csrf_token")?,
                created_at: get(&row, "created_at")?,
                last_seen_at: get(&row, "last_seen_at")?,
                expires_at: get(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &str, last_seen_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(last_seen_at)
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .ctx("recording session activity")?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .ctx("ending a session")?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, username: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .ctx("ending a user's sessions")?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .ctx("purging expired sessions")?;
        Ok(done.rows_affected())
    }

    async fn audit_search(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        // Every condition is always present and switched off by a NULL parameter, so the
        // SQL text is one constant for both backends.
        let action_prefix = filter
            .action
            .as_deref()
            .filter(|a| a.ends_with('.'))
            .map(|a| format!("{}%", a.replace(['%', '_'], "")));
        let action_exact = filter.action.as_deref().filter(|a| !a.ends_with('.'));
        let target_like = filter
            .target
            .as_deref()
            .map(|t| format!("%{}%", t.replace(['%', '_'], "")));
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE \
             ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR action LIKE $3) \
             AND ($4 IS NULL OR target LIKE $4) AND ($5 IS NULL OR ts >= $5) AND ($6 IS NULL OR ts < $6) \
             AND ($7 IS NULL OR seq < $7) ORDER BY seq DESC LIMIT $8"
        )))
        .bind(filter.actor.as_deref())
        .bind(action_exact)
        .bind(action_prefix.as_deref())
        .bind(target_like.as_deref())
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.before_seq.map(|s| count_to_db("before_seq", s)).transpose()?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .ctx("searching the audit log")?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .ctx("reading the audit chain head")?;
        row.map(|row| {
            let seq: i64 = get(&row, "seq")?;
            Ok((
                count_from_db("audit_log", "seq", &seq.to_string(), seq)?,
                get::<String>(&row, "hash")?,
            ))
        })
        .transpose()
    }

    async fn append_anchor(&self, anchor: &AuditAnchor) -> Result<AuditAnchor, StoreError> {
        non_empty("key_id", &anchor.key_id)?;
        non_empty("mac", &anchor.mac)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_anchors (ts, head_seq, head_hash, key_id, mac) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(anchor.ts)
        .bind(count_to_db("head_seq", anchor.head_seq)?)
        .bind(&anchor.head_hash)
        .bind(&anchor.key_id)
        .bind(&anchor.mac)
        .fetch_one(&self.pool)
        .await
        .ctx("storing an audit anchor")?;
        Ok(AuditAnchor {
            id: count_from_db("audit_anchors", "id", "new", id)?,
            ..anchor.clone()
        })
    }

    async fn audit_anchors(&self) -> Result<Vec<AuditAnchor>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ts, head_seq, head_hash, key_id, mac FROM audit_anchors ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading audit anchors")?;
        rows.iter()
            .map(|row| {
                let id: i64 = get(row, "id")?;
                let head_seq: i64 = get(row, "head_seq")?;
                Ok(AuditAnchor {
                    id: count_from_db("audit_anchors", "id", &id.to_string(), id)?,
                    ts: get(row, "ts")?,
                    head_seq: count_from_db(
                        "audit_anchors",
                        "head_seq",
                        &id.to_string(),
                        head_seq,
                    )?,
                    head_hash: get(row, "head_hash")?,
                    key_id: get(row, "key_id")?,
                    mac: get(row, "mac")?,
                })
            })
            .collect()
    }

    async fn verify_audit(&self) -> Result<u64, StoreError> {
        let mut expected_seq: u64 = 1;
        let mut prev_hash = GENESIS_HASH.to_string();
        loop {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
            )))
            .bind(count_to_db("seq", expected_seq)?)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.pool)
            .await
            .ctx("reading the audit log to verify it")?;
            if rows.is_empty() {
                return Ok(expected_seq - 1);
            }
            for row in &rows {
                let e = audit_from_row(row)?;
                if e.seq != expected_seq {
                    return Err(AuditBreak {
                        seq: expected_seq,
                        reason: format!(
                            "entry is missing (the next entry present is seq {})",
                            e.seq
                        ),
                    }
                    .into());
                }
                if e.prev_hash != prev_hash {
                    return Err(AuditBreak {
                        seq: e.seq,
                        reason: "prev_hash does not match the hash of the entry before it".into(),
                    }
                    .into());
                }
                let recomputed = audit_hash(
                    &e.prev_hash,
                    e.seq,
                    e.ts,
                    &e.actor,
                    &e.action,
                    &e.target,
                    &e.detail,
                );
                if recomputed != e.hash {
                    return Err(AuditBreak {
                        seq: e.seq,
                        reason: "contents changed after it was written (hash does not match)"
                            .into(),
                    }
                    .into());
                }
                prev_hash = e.hash;
                expected_seq += 1;
            }
        }
    }

    async fn record_consent(&self, event: &ConsentEvent) -> Result<(), StoreError> {
        non_empty("customer_id", &event.customer_id)?;
        non_empty("purpose", &event.purpose)?;
        non_empty("channel", &event.channel)?;
        non_empty("source", &event.source)?;
        let evidence = event
            .evidence
            .as_deref()
            .map(|v| crypt::seal("consents", "evidence", &event.customer_id, v))
            .transpose()?;
        sqlx::query(
            "INSERT INTO consents (customer_id, purpose, channel, granted, ts, source, evidence, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&event.customer_id)
        .bind(&event.purpose)
        .bind(&event.channel)
        .bind(i64::from(event.granted))
        .bind(event.ts)
        .bind(&event.source)
        .bind(evidence)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .ctx("recording a consent event")?;
        Ok(())
    }

    async fn consent_history(&self, customer_id: &str) -> Result<Vec<ConsentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, purpose, channel, granted, ts, source, evidence FROM consents \
             WHERE customer_id = $1 ORDER BY ts, id",
        )
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await
        .ctx("reading consent history")?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn current_consent(
        &self,
        customer_id: &str,
        purpose: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT granted FROM consents WHERE customer_id = $1 AND purpose = $2 AND channel IN ($3, $4) \
             ORDER BY ts DESC, CASE WHEN channel = $3 THEN 0 ELSE 1 END, granted ASC, id DESC LIMIT 1",
        )
        .bind(customer_id)
        .bind(purpose)
        .bind(channel)
        .bind(ALL_CHANNELS)
        .fetch_optional(&self.pool)
        .await
        .ctx("reading current consent")?;
        match row {
            Some(row) => Ok(get::<i64>(&row, "granted")? != 0),
            None => Ok(false),
        }
    }

    async fn dnc_add(
        &self,
        customer_id: &str,
        reason: &str,
        added_by: &str,
    ) -> Result<bool, StoreError> {
        non_empty("customer_id", customer_id)?;
        let reason = crypt::seal("do_not_contact", "reason", customer_id, reason)?;
        let done = sqlx::query(
            "INSERT INTO do_not_contact (customer_id, reason, added_by, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(customer_id)
        .bind(&reason)
        .bind(added_by)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .ctx("adding to the do-not-contact list")?;
        Ok(done.rows_affected() > 0)
    }

    async fn dnc_remove(&self, customer_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM do_not_contact WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&self.pool)
            .await
            .ctx("removing from the do-not-contact list")?;
        Ok(done.rows_affected() > 0)
    }

    async fn dnc_contains(&self, customer_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM do_not_contact WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&self.pool)
            .await
            .ctx("checking the do-not-contact list")?;
        Ok(row.is_some())
    }

    async fn dnc_list(&self) -> Result<Vec<DncEntry>, StoreError> {
        let rows = sqlx::query("SELECT customer_id, reason, added_by, added_at FROM do_not_contact ORDER BY customer_id")
            .fetch_all(&self.pool)
            .await
            .ctx("listing the do-not-contact list")?;
        rows.iter()
            .map(|row| {
                let customer_id: String = get(row, "customer_id")?;
                Ok(DncEntry {
                    reason: crypt::open(
                        "do_not_contact",
                        "reason",
                        &customer_id,
                        get(row, "reason")?,
                    )?,
                    customer_id,
                    added_by: get(row, "added_by")?,
                    added_at: get(row, "added_at")?,
                })
            })
            .collect()
    }

    async fn put_offer(
        &self,
        offer_id: &str,
        expected_version: u64,
        body: &serde_json::Value,
        actor: &str,
        note: &str,
    ) -> Result<Offer, StoreError> {
        offers::put(self, offer_id, expected_version, body, actor, note).await
    }
    async fn offer(&self, offer_id: &str) -> Result<Option<Offer>, StoreError> {
        offers::get_offer(self, offer_id).await
    }
    async fn offers(&self, include_retired: bool) -> Result<Vec<Offer>, StoreError> {
        offers::list(self, include_retired).await
    }
    async fn offer_history(&self, offer_id: &str) -> Result<Vec<OfferVersion>, StoreError> {
        offers::history(self, offer_id).await
    }
    async fn offer_version(
        &self,
        offer_id: &str,
        version: u64,
    ) -> Result<Option<OfferVersion>, StoreError> {
        offers::version(self, offer_id, version).await
    }
    async fn set_offer_status(
        &self,
        offer_id: &str,
        status: OfferStatus,
    ) -> Result<Offer, StoreError> {
        offers::set_status(self, offer_id, status).await
    }

    async fn create_campaign(
        &self,
        draft: &CampaignDraft,
        actor: &str,
    ) -> Result<Campaign, StoreError> {
        campaigns::create(self, draft, actor).await
    }
    async fn update_campaign(
        &self,
        campaign_id: &str,
        draft: &CampaignDraft,
    ) -> Result<Campaign, StoreError> {
        campaigns::update(self, campaign_id, draft).await
    }
    async fn transition_campaign(
        &self,
        campaign_id: &str,
        to: CampaignStatus,
        actor: &str,
        note: &str,
        snapshot: &serde_json::Value,
    ) -> Result<Campaign, StoreError> {
        campaigns::transition(self, campaign_id, to, actor, note, snapshot).await
    }
    async fn campaign(&self, campaign_id: &str) -> Result<Option<Campaign>, StoreError> {
        campaigns::get_campaign(self, campaign_id).await
    }
    async fn campaigns(&self, status: Option<CampaignStatus>) -> Result<Vec<Campaign>, StoreError> {
        campaigns::list(self, status).await
    }
    async fn campaign_transitions(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignTransition>, StoreError> {
        campaigns::transitions(self, campaign_id).await
    }

    async fn record_contacts(&self, contacts: &[Contact]) -> Result<u64, StoreError> {
        contacts::record_contacts(self, contacts).await
    }
    async fn set_contact_status(
        &self,
        contact_id: &str,
        status: ContactStatus,
    ) -> Result<bool, StoreError> {
        contacts::set_contact_status(self, contact_id, status).await
    }
    async fn contact_counts(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        contacts::contact_counts(self, customer_id, since).await
    }
    async fn campaign_contacts(
        &self,
        campaign_id: &str,
        group: Option<ContactGroup>,
    ) -> Result<Vec<Contact>, StoreError> {
        contacts::campaign_contacts(self, campaign_id, group).await
    }
    async fn record_decisions(&self, decisions: &[Decision]) -> Result<u64, StoreError> {
        contacts::record_decisions(self, decisions).await
    }
    async fn decision(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        contacts::decision(self, decision_id).await
    }
    async fn customer_decisions(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> Result<Vec<Decision>, StoreError> {
        contacts::customer_decisions(self, customer_id, limit).await
    }
    async fn record_responses(&self, responses: &[Response]) -> Result<u64, StoreError> {
        contacts::record_responses(self, responses).await
    }
    async fn campaign_responses(
        &self,
        campaign_id: &str,
    ) -> Result<Vec<CampaignResponse>, StoreError> {
        contacts::campaign_responses(self, campaign_id).await
    }
    async fn customer_responses(
        &self,
        customer_id: &str,
        since: i64,
    ) -> Result<Vec<Response>, StoreError> {
        contacts::customer_responses(self, customer_id, since).await
    }

    async fn create_experiment(&self, new: &NewExperiment) -> Result<Experiment, StoreError> {
        experiments::create(self, new).await
    }
    async fn experiment(&self, experiment_id: &str) -> Result<Option<Experiment>, StoreError> {
        experiments::get_experiment(self, experiment_id).await
    }
    async fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        experiments::list(self).await
    }
    async fn set_experiment_status(
        &self,
        experiment_id: &str,
        status: ExperimentStatus,
    ) -> Result<Experiment, StoreError> {
        experiments::set_status(self, experiment_id, status).await
    }
    async fn record_assignments(&self, assignments: &[Assignment]) -> Result<u64, StoreError> {
        experiments::record_assignments(self, assignments).await
    }
    async fn assignment(
        &self,
        experiment_id: &str,
        customer_id: &str,
    ) -> Result<Option<Assignment>, StoreError> {
        experiments::assignment(self, experiment_id, customer_id).await
    }
    async fn assignments(
        &self,
        experiment_id: &str,
        after_customer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Assignment>, StoreError> {
        experiments::assignments(self, experiment_id, after_customer, limit).await
    }
    async fn assignment_counts(
        &self,
        experiment_id: &str,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        experiments::assignment_counts(self, experiment_id).await
    }

    async fn register_model(&self, new: &NewModel) -> Result<ModelEntry, StoreError> {
        models::register(self, new).await
    }
    async fn transition_model(
        &self,
        name: &str,
        version: u64,
        to: ModelStatus,
        actor: &str,
        note: &str,
    ) -> Result<ModelEntry, StoreError> {
        Ok(models::transition(self, name, version, to, actor, note)
            .await?
            .champion)
    }
    async fn promote_model(
        &self,
        name: &str,
        version: u64,
        actor: &str,
        note: &str,
    ) -> Result<ChampionSwap, StoreError> {
        models::transition(self, name, version, ModelStatus::Champion, actor, note).await
    }
    async fn model(&self, name: &str, version: u64) -> Result<Option<ModelEntry>, StoreError> {
        models::get_model(self, name, version).await
    }
    async fn models(&self, name: Option<&str>) -> Result<Vec<ModelEntry>, StoreError> {
        models::list(self, name).await
    }
    async fn champion_model(&self, name: &str) -> Result<Option<ModelEntry>, StoreError> {
        models::champion(self, name).await
    }
    async fn model_transitions(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Vec<ModelTransition>, StoreError> {
        models::transitions(self, name, version).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading a setting")?;
        let Some(row) = row else { return Ok(None) };
        let text: String = get(&row, "value")?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                table: "settings",
                column: "value",
                key: key.to_string(),
                reason: e.to_string(),
            })
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        non_empty("key", key)?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value.to_string())
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .ctx("writing a setting")?;
        Ok(())
    }

    async fn consent_events(&self) -> Result<Vec<ConsentEvent>, StoreError> {
        crate::privacy::consent_events(self).await
    }
    async fn customer_contacts(&self, customer_id: &str) -> Result<Vec<Contact>, StoreError> {
        crate::privacy::customer_contacts(self, customer_id).await
    }
    async fn customer_assignments(&self, customer_id: &str) -> Result<Vec<Assignment>, StoreError> {
        crate::privacy::customer_assignments(self, customer_id).await
    }
    async fn erase_customer(&self, customer_id: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        crate::privacy::erase_customer(self, customer_id).await
    }
    async fn record_erasure(&self, id_hash: &str, reason: &str) -> Result<bool, StoreError> {
        crate::privacy::record_erasure(self, id_hash, reason).await
    }
    async fn erasure(&self, id_hash: &str) -> Result<Option<crate::ErasureRecord>, StoreError> {
        crate::privacy::erasure(self, id_hash).await
    }
    async fn erasures(&self) -> Result<Vec<crate::ErasureRecord>, StoreError> {
        crate::privacy::erasures(self).await
    }
    async fn purge_older_than(
        &self,
        table: crate::RetentionTable,
        before: i64,
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        crate::privacy::purge_older_than(self, table, before, dry_run).await
    }

    async fn put_trigger_rule(
        &self,
        rule_id: &str,
        expected_version: Option<u64>,
        body: &serde_json::Value,
        enabled: bool,
        actor: &str,
    ) -> Result<crate::TriggerRuleRecord, StoreError> {
        crate::triggers::put_rule(self, rule_id, expected_version, body, enabled, actor).await
    }
    async fn trigger_rule(
        &self,
        rule_id: &str,
    ) -> Result<Option<crate::TriggerRuleRecord>, StoreError> {
        crate::triggers::get_rule(self, rule_id).await
    }
    async fn trigger_rules(&self) -> Result<Vec<crate::TriggerRuleRecord>, StoreError> {
        crate::triggers::rules(self).await
    }
    async fn delete_trigger_rule(&self, rule_id: &str) -> Result<bool, StoreError> {
        crate::triggers::delete_rule(self, rule_id).await
    }
    async fn record_trigger_firings(
        &self,
        firings: &[crate::TriggerFiring],
    ) -> Result<u64, StoreError> {
        crate::triggers::record_firings(self, firings).await
    }
    async fn fired_trigger_ids(
        &self,
        firing_ids: &[String],
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        crate::triggers::fired_ids(self, firing_ids).await
    }
    async fn trigger_firing(
        &self,
        firing_id: &str,
    ) -> Result<Option<crate::TriggerFiring>, StoreError> {
        crate::triggers::firing(self, firing_id).await
    }
    async fn trigger_firings(
        &self,
        rule_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::TriggerFiring>, StoreError> {
        crate::triggers::firings(self, rule_id, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_backends_and_hide_passwords() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("PostgreSQL://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").ok(),
            Some(Backend::Sqlite)
        );
        let err = Backend::from_url("mysql://root:hunter2@h/db")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("mysql://root:***@h/db") && !err.contains("hunter2"),
            "{err}"
        );
        assert_eq!(
            redact_url("postgres://u@h:5432/db"),
            "postgres://u@h:5432/db"
        );
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(validate_schema_name("zt_abc123").is_ok());
        assert!(validate_schema_name("1abc").is_err());
        assert!(validate_schema_name("a\"; drop").is_err());
        assert!(validate_schema_name("").is_err());
    }
}
