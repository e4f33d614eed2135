//! The model registry under maker-checker (migration 0004). Versions are numbered per model
//! name; a version goes draft → submitted → approved → champion → retired, the creator and
//! submitter cannot approve, and promoting a champion retires the previous one in the same
//! transaction (a partial unique index makes two champions impossible).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError, is_unique_violation};
use crate::sql::{
    Backend, SqlStore, count_from_db, count_to_db, get, non_empty, now_micros, settle,
};
use crate::util::{
    check_checker, check_id, check_transition, json_from_db, json_text, parse_db, string_enum,
};

string_enum! {
    /// Where a model version is in its lifecycle; see [`ModelStatus::next`].
    ModelStatus, "model status" {
        Draft => "draft",
        Submitted => "submitted",
        Approved => "approved",
        Champion => "champion",
        Retired => "retired",
    }
}

impl ModelStatus {
    /// The states a model version may move to from this one. `submitted → draft` sends a
    /// version back to its author.
    pub fn next(self) -> &'static [ModelStatus] {
        use ModelStatus::*;
        match self {
            Draft => &[Submitted, Retired],
            Submitted => &[Approved, Draft, Retired],
            Approved => &[Champion, Retired],
            Champion => &[Retired],
            Retired => &[],
        }
    }
}

/// What a caller gives to register a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModel {
    /// The model family, e.g. `churn`; versions are numbered within it.
    pub name: String,
    pub algorithm: String,
    pub target: String,
    pub features: Vec<String>,
    /// Evaluation metrics (AUC, KS, PSI…), as the evaluation report wrote them.
    pub metrics: serde_json::Value,
    pub artifact_path: String,
    /// SHA-256 of the artifact file, 64 hex digits.
    pub sha256: String,
    /// Hash of the training data, so a version can be traced to what it learned from.
    pub training_data_hash: String,
    pub created_by: String,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    #[serde(flatten)]
    pub model: NewModel,
    pub version: u64,
    pub status: ModelStatus,
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One recorded lifecycle move of a model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelTransition {
    pub name: String,
    pub version: u64,
    pub from: Option<ModelStatus>,
    pub to: ModelStatus,
    pub actor: String,
    pub ts: i64,
    pub note: String,
}

/// The result of a promotion: the new champion and the one it replaced, now retired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionSwap {
    pub champion: ModelEntry,
    pub retired: Option<ModelEntry>,
}

const COLUMNS: &str = "name, version, algorithm, target, features, metrics, artifact_path, sha256, \
     training_data_hash, status, created_by, submitted_by, approved_by, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<ModelEntry, StoreError> {
    let name: String = get(row, "name")?;
    let version = count_from_db("models", "version", &name, get(row, "version")?)?;
    let key = format!("{name}@{version}");
    let features: String = get(row, "features")?;
    let metrics: String = get(row, "metrics")?;
    let status: String = get(row, "status")?;
    Ok(ModelEntry {
        model: NewModel {
            algorithm: get(row, "algorithm")?,
            target: get(row, "target")?,
            features: json_from_db("models", "features", &key, &features)?,
            metrics: json_from_db("models", "metrics", &key, &metrics)?,
            artifact_path: get(row, "artifact_path")?,
            sha256: get(row, "sha256")?,
            training_data_hash: get(row, "training_data_hash")?,
            created_by: get(row, "created_by")?,
            name,
        },
        version,
        status: parse_db("models", "status", &key, &status)?,
        submitted_by: get(row, "submitted_by")?,
        approved_by: get(row, "approved_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn validate(m: &NewModel) -> Result<(), StoreError> {
    check_id("name", &m.name)?;
    non_empty("algorithm", &m.algorithm)?;
    non_empty("target", &m.target)?;
    non_empty("artifact_path", &m.artifact_path)?;
    non_empty("created_by", &m.created_by)?;
    if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Invalid {
            field: "sha256",
            reason: format!(
                "'{}' is not 64 hex digits: give the SHA-256 of the artifact file",
                m.sha256
            ),
        });
    }
    Ok(())
}

// One argument per column of the transition row.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    version: u64,
    from: Option<ModelStatus>,
    to: ModelStatus,
    actor: &str,
    ts: i64,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO model_transitions (name, version, from_status, to_status, actor, ts, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(name)
    .bind(count_to_db("version", version)?)
    .bind(from.map(ModelStatus::as_str))
    .bind(to.as_str())
    .bind(actor)
    .bind(ts)
    .bind(note)
    .execute(&mut **tx)
    .await
    .ctx("recording a model transition")?;
    Ok(())
}

/// Attempts at numbering a new version when concurrent registrations collide (PostgreSQL).
const REGISTER_ATTEMPTS: usize = 5;

pub(crate) async fn register(store: &SqlStore, new: &NewModel) -> Result<ModelEntry, StoreError> {
    validate(new)?;
    let features = json_text("features", &new.features)?;
    let metrics = json_text("metrics", &new.metrics)?;
    let sha256 = new.sha256.to_ascii_lowercase();
    for _ in 0..REGISTER_ATTEMPTS {
        let now = now_micros();
        let mut tx = store.begin_write().await?;
        let max: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM models WHERE name = $1")
                .bind(&new.name)
                .fetch_one(&mut *tx)
                .await
                .ctx("numbering a model version")?;
        let version = count_from_db("models", "version", &new.name, max)? + 1;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO models ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft', $10, NULL, NULL, $11, $11)"
        )))
        .bind(&new.name)
        .bind(count_to_db("version", version)?)
        .bind(&new.algorithm)
        .bind(&new.target)
        .bind(&features)
        .bind(&metrics)
        .bind(&new.artifact_path)
        .bind(&sha256)
        .bind(&new.training_data_hash)
        .bind(&new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => continue,
            other => other.ctx("registering a model")?,
        };
        record(
            &mut tx,
            &new.name,
            version,
            None,
            ModelStatus::Draft,
            &new.created_by,
            now,
            "registered",
        )
        .await?;
        tx.commit().await.ctx("committing a model registration")?;
        return Ok(ModelEntry {
            model: NewModel {
                sha256,
                ..new.clone()
            },
            version,
            status: ModelStatus::Draft,
            submitted_by: None,
            approved_by: None,
            created_at: now,
            updated_at: now,
        });
    }
    Err(StoreError::Conflict {
        what: "model version (registered concurrently; retry)",
        key: new.name.clone(),
    })
}

pub(crate) async fn transition(
    store: &SqlStore,
    name: &str,
    version: u64,
    to: ModelStatus,
    actor: &str,
    note: &str,
) -> Result<ChampionSwap, StoreError> {
    non_empty("actor", actor)?;
    let mut tx = store.begin_write().await?;
    let result = transition_in(&mut tx, store.backend(), name, version, to, actor, note).await;
    settle(tx, result, "committing a model transition").await
}

async fn transition_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    name: &str,
    version: u64,
    to: ModelStatus,
    actor: &str,
    note: &str,
) -> Result<ChampionSwap, StoreError> {
    let key = format!("{name}@{version}");
    // PostgreSQL: lock every version of this model so promotions of one name run one at a time.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE name = $1 ORDER BY version{lock}"
    )))
    .bind(name)
    .fetch_all(&mut **tx)
    .await
    .ctx("reading a model to move it")?;
    let versions = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let Some(current) = versions.iter().find(|m| m.version == version).cloned() else {
        return Err(StoreError::NotFound {
            what: "model version",
            key,
        });
    };
    let from = current.status;
    check_transition("model", &key, from, to, from.next())?;
    let (mut submitted_by, mut approved_by) =
        (current.submitted_by.clone(), current.approved_by.clone());
    match to {
        ModelStatus::Submitted => submitted_by = Some(actor.to_string()),
        ModelStatus::Approved => {
            check_checker(
                "model",
                &key,
                actor,
                &current.model.created_by,
                current.submitted_by.as_deref(),
            )?;
            approved_by = Some(actor.to_string());
        }
        ModelStatus::Draft => {
            submitted_by = None;
            approved_by = None;
        }
        _ => {}
    }
    let now = now_micros().max(current.updated_at);
    let mut retired = None;
    if to == ModelStatus::Champion
        && let Some(old) = versions.iter().find(|m| m.status == ModelStatus::Champion)
    {
        sqlx::query("UPDATE models SET status = 'retired', updated_at = $1 WHERE name = $2 AND version = $3")
            .bind(now)
            .bind(name)
            .bind(count_to_db("version", old.version)?)
            .execute(&mut **tx)
            .await
            .ctx("retiring the previous champion")?;
        record(
            tx,
            name,
            old.version,
            Some(ModelStatus::Champion),
            ModelStatus::Retired,
            actor,
            now,
            &format!("replaced by version {version}"),
        )
        .await?;
        retired = Some(ModelEntry {
            status: ModelStatus::Retired,
            updated_at: now,
            ..old.clone()
        });
    }
    sqlx::query(
        "UPDATE models SET status = $1, submitted_by = $2, approved_by = $3, updated_at = $4 \
         WHERE name = $5 AND version = $6",
    )
    .bind(to.as_str())
    .bind(submitted_by.as_deref())
    .bind(approved_by.as_deref())
    .bind(now)
    .bind(name)
    .bind(count_to_db("version", version)?)
    .execute(&mut **tx)
    .await
    .ctx("moving a model")?;
    record(tx, name, version, Some(from), to, actor, now, note).await?;
    Ok(ChampionSwap {
        champion: ModelEntry {
            status: to,
            submitted_by,
            approved_by,
            updated_at: now,
            ..current
        },
        retired,
    })
}

pub(crate) async fn get_model(
    store: &SqlStore,
    name: &str,
    version: u64,
) -> Result<Option<ModelEntry>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE name = $1 AND version = $2"
    )))
    .bind(name)
    .bind(count_to_db("version", version)?)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a model")?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn list(
    store: &SqlStore,
    name: Option<&str>,
) -> Result<Vec<ModelEntry>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE ($1 IS NULL OR name = $1) ORDER BY name, version"
    )))
    .bind(name)
    .fetch_all(store.pool())
    .await
    .ctx("listing models")?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn champion(
    store: &SqlStore,
    name: &str,
) -> Result<Option<ModelEntry>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE name = $1 AND status = 'champion'"
    )))
    .bind(name)
    .fetch_optional(store.pool())
    .await
    .ctx("reading a champion model")?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn transitions(
    store: &SqlStore,
    name: &str,
    version: u64,
) -> Result<Vec<ModelTransition>, StoreError> {
    let key = format!("{name}@{version}");
    let rows = sqlx::query(
        "SELECT name, version, from_status, to_status, actor, ts, note FROM model_transitions \
         WHERE name = $1 AND version = $2 ORDER BY id",
    )
    .bind(name)
    .bind(count_to_db("version", version)?)
    .fetch_all(store.pool())
    .await
    .ctx("reading model transitions")?;
    rows.iter()
        .map(|row| {
            let from: Option<String> = get(row, "from_status")?;
            let to: String = get(row, "to_status")?;
            Ok(ModelTransition {
                name: get(row, "name")?,
                version,
                from: from
                    .map(|f| parse_db("model_transitions", "from_status", &key, &f))
                    .transpose()?,
                to: parse_db("model_transitions", "to_status", &key, &to)?,
                actor: get(row, "actor")?,
                ts: get(row, "ts")?,
                note: get(row, "note")?,
            })
        })
        .collect()
}
