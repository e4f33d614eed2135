//! Experiments and their assignments (migration 0004). Assignment itself is a pure hash of
//! (salt, customer) computed elsewhere; the store keeps what was assigned so analysis reads
//! exactly what customers experienced. The first assignment of a customer wins and replays
//! are no-ops, so re-running an assignment job can never move anyone between arms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::error::{DbContext, StoreError};
use crate::sql::{Backend, SqlStore, count_from_db, get, non_empty, now_micros, settle};
use crate::util::{
    check_id, check_transition, json_from_db, json_text, multi_row_insert, parse_db,
    rows_per_insert, string_enum,
};

/// Hash buckets per layer: an experiment owns buckets `bucket_start..bucket_end` of these.
pub const EXPERIMENT_BUCKETS: u32 = 10_000;

string_enum! {
    /// Draft → running → stopped (a draft may also be stopped unrun).
    ExperimentStatus, "experiment status" {
        Draft => "draft",
        Running => "running",
        Stopped => "stopped",
    }
}

impl ExperimentStatus {
    /// The states an experiment may move to from this one.
    pub fn next(self) -> &'static [ExperimentStatus] {
        match self {
            ExperimentStatus::Draft => &[ExperimentStatus::Running, ExperimentStatus::Stopped],
            ExperimentStatus::Running => &[ExperimentStatus::Stopped],
            ExperimentStatus::Stopped => &[],
        }
    }
}

/// One arm and its share of traffic (weights are relative, need not sum to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentArm {
    pub name: String,
    pub weight: f64,
}

/// What a caller gives to create an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewExperiment {
    pub experiment_id: String,
    pub name: String,
    /// Hash salt: keeps assignments independent across experiments.
    pub salt: String,
    /// Mutually exclusive experiments share a layer and own disjoint bucket ranges.
    pub layer: String,
    pub bucket_start: u32,
    pub bucket_end: u32,
    pub arms: Vec<ExperimentArm>,
    pub control_arm: String,
}

/// A stored experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    #[serde(flatten)]
    pub spec: NewExperiment,
    pub status: ExperimentStatus,
    pub created_at: i64,
}

/// Which arm a customer is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub experiment_id: String,
    pub customer_id: String,
    pub arm: String,
    pub assigned_at: i64,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn validate(e: &NewExperiment) -> Result<(), StoreError> {
    check_id("experiment_id", &e.experiment_id)?;
    non_empty("name", &e.name)?;
    non_empty("salt", &e.salt)?;
    check_id("layer", &e.layer)?;
    if !(e.bucket_start < e.bucket_end && e.bucket_end <= EXPERIMENT_BUCKETS) {
        return Err(invalid(
            "bucket range",
            format!(
                "{}..{} must satisfy start < end <= {EXPERIMENT_BUCKETS}",
                e.bucket_start, e.bucket_end
            ),
        ));
    }
    if e.arms.len() < 2 {
        return Err(invalid("arms", "an experiment needs at least two arms"));
    }
    for (i, arm) in e.arms.iter().enumerate() {
        check_id("arms.name", &arm.name)?;
        if e.arms[..i].iter().any(|a| a.name == arm.name) {
            return Err(invalid(
                "arms",
                format!("arm '{}' is listed twice", arm.name),
            ));
        }
        if !(arm.weight.is_finite() && arm.weight > 0.0) {
            return Err(invalid(
                "arms.weight",
                format!(
                    "arm '{}' has weight {}; weights must be positive",
                    arm.name, arm.weight
                ),
            ));
        }
    }
    if !e.arms.iter().any(|a| a.name == e.control_arm) {
        return Err(invalid(
            "control_arm",
            format!("'{}' is not one of the arms", e.control_arm),
        ));
    }
    Ok(())
}

const COLUMNS: &str = "experiment_id, name, salt, layer, bucket_start, bucket_end, arms, control_arm, status, created_at";

fn from_row(row: &AnyRow) -> Result<Experiment, StoreError> {
    let id: String = get(row, "experiment_id")?;
    let bucket = |c: &'static str| -> Result<u32, StoreError> {
        let v: i64 = get(row, c)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt {
            table: "experiments",
            column: c,
            key: id.clone(),
            reason: format!("bucket {v} out of range"),
        })
    };
    let arms: String = get(row, "arms")?;
    let status: String = get(row, "status")?;
    Ok(Experiment {
        spec: NewExperiment {
            name: get(row, "name")?,
            salt: get(row, "salt")?,
            layer: get(row, "layer")?,
            bucket_start: bucket("bucket_start")?,
            bucket_end: bucket("bucket_end")?,
            arms: json_from_db("experiments", "arms", &id, &arms)?,
            control_arm: get(row, "control_arm")?,
            experiment_id: id.clone(),
        },
        status: parse_db("experiments", "status", &id, &status)?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create(
    store: &SqlStore,
    new: &NewExperiment,
) -> Result<Experiment, StoreError> {
    validate(new)?;
    let now = now_micros();
    let mut tx = store.begin_write().await?;
    let result = create_in(&mut tx, store.backend(), new, now).await;
    settle(tx, result, "committing an experiment").await
}

async fn create_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    new: &NewExperiment,
    now: i64,
) -> Result<Experiment, StoreError> {
    if backend == Backend::Postgres {
        // Serialise creations so two overlapping experiments cannot both pass the check below.
        sqlx::query("LOCK TABLE experiments IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await
            .ctx("locking experiments")?;
    }
    let overlap: Option<String> = sqlx::query_scalar(
        "SELECT experiment_id FROM experiments WHERE layer = $1 AND status <> 'stopped' \
         AND bucket_start < $2 AND $3 < bucket_end ORDER BY experiment_id LIMIT 1",
    )
    .bind(&new.layer)
    .bind(i64::from(new.bucket_end))
    .bind(i64::from(new.bucket_start))
    .fetch_optional(&mut **tx)
    .await
    .ctx("checking experiment bucket ranges")?;
    if let Some(other) = overlap {
        return Err(invalid(
            "bucket range",
            format!(
                "buckets {}..{} of layer '{}' overlap experiment '{other}': pick a free range, \
                 another layer, or stop '{other}' first",
                new.bucket_start, new.bucket_end, new.layer
            ),
        ));
    }
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO experiments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9) \
         ON CONFLICT (experiment_id) DO NOTHING"
    )))
    .bind(&new.experiment_id)
    .bind(&new.name)
    .bind(&new.salt)
    .bind(&new.layer)
    .bind(i64::from(new.bucket_start))
    .bind(i64::from(new.bucket_end))
    .bind(json_text("arms", &new.arms)?)
    .bind(&new.control_arm)
    .bind(now)
    .execute(&mut **tx)
    .await
    .ctx("creating an experiment")?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict {
            what: "experiment",
            key: new.experiment_id.clone(),
        });
    }
    Ok(Experiment {
        spec: new.clone(),
        status: ExperimentStatus::Draft,
        created_at: now,
    })
}

pub(crate) async fn get_experiment(
    store: &SqlStore,
    id: &str,
) -> Result<Option<Experiment>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM experiments WHERE experiment_id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading an experiment")?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn list(store: &SqlStore) -> Result<Vec<Experiment>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM experiments ORDER BY layer, bucket_start, experiment_id"
    )))
    .fetch_all(store.pool())
    .await
    .ctx("listing experiments")?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn set_status(
    store: &SqlStore,
    id: &str,
    to: ExperimentStatus,
) -> Result<Experiment, StoreError> {
    let current = get_experiment(store, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "experiment",
            key: id.to_string(),
        })?;
    check_transition("experiment", id, current.status, to, current.status.next())?;
    // Conditional on the status read, so a concurrent change is refused, not overwritten.
    let done =
        sqlx::query("UPDATE experiments SET status = $1 WHERE experiment_id = $2 AND status = $3")
            .bind(to.as_str())
            .bind(id)
            .bind(current.status.as_str())
            .execute(store.pool())
            .await
            .ctx("changing an experiment's status")?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict {
            what: "experiment status change",
            key: id.to_string(),
        });
    }
    Ok(Experiment {
        status: to,
        ..current
    })
}

const ASSIGNMENT_COLUMNS: [&str; 4] = ["experiment_id", "customer_id", "arm", "assigned_at"];

pub(crate) async fn record_assignments(
    store: &SqlStore,
    assignments: &[Assignment],
) -> Result<u64, StoreError> {
    // Every arm must belong to its experiment: a typo would silently create a phantom arm.
    let mut arms: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (i, a) in assignments.iter().enumerate() {
        if !arms.contains_key(a.experiment_id.as_str()) {
            let e = get_experiment(store, &a.experiment_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "experiment",
                    key: a.experiment_id.clone(),
                })?;
            arms.insert(
                &a.experiment_id,
                e.spec.arms.into_iter().map(|a| a.name).collect(),
            );
        }
        if !arms[a.experiment_id.as_str()].contains(&a.arm) {
            return Err(invalid(
                "arm",
                format!(
                    "row {i} (customer '{}'): '{}' is not an arm of experiment '{}'",
                    a.customer_id, a.arm, a.experiment_id
                ),
            ));
        }
        check_id("customer_id", &a.customer_id)?;
    }
    let mut inserted = 0;
    let mut tx = store.begin_write().await?;
    for chunk in assignments.chunks(rows_per_insert(ASSIGNMENT_COLUMNS.len())) {
        let sql = multi_row_insert(
            "assignments",
            &ASSIGNMENT_COLUMNS,
            chunk.len(),
            "ON CONFLICT (experiment_id, customer_id) DO NOTHING",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in chunk {
            q = q
                .bind(&a.experiment_id)
                .bind(&a.customer_id)
                .bind(&a.arm)
                .bind(a.assigned_at);
        }
        inserted += q
            .execute(&mut *tx)
            .await
            .ctx("recording assignments")?
            .rows_affected();
    }
    tx.commit().await.ctx("committing assignments")?;
    Ok(inserted)
}

pub(crate) fn assignment_from_row(row: &AnyRow) -> Result<Assignment, StoreError> {
    Ok(Assignment {
        experiment_id: get(row, "experiment_id")?,
        customer_id: get(row, "customer_id")?,
        arm: get(row, "arm")?,
        assigned_at: get(row, "assigned_at")?,
    })
}

pub(crate) async fn assignment(
    store: &SqlStore,
    experiment_id: &str,
    customer_id: &str,
) -> Result<Option<Assignment>, StoreError> {
    let row = sqlx::query(
        "SELECT experiment_id, customer_id, arm, assigned_at FROM assignments \
         WHERE experiment_id = $1 AND customer_id = $2",
    )
    .bind(experiment_id)
    .bind(customer_id)
    .fetch_optional(store.pool())
    .await
    .ctx("reading an assignment")?;
    row.as_ref().map(assignment_from_row).transpose()
}

pub(crate) async fn assignments(
    store: &SqlStore,
    experiment_id: &str,
    after_customer: Option<&str>,
    limit: u32,
) -> Result<Vec<Assignment>, StoreError> {
    // Keyset paging on the primary key: each page is an index range scan.
    let rows = sqlx::query(
        "SELECT experiment_id, customer_id, arm, assigned_at FROM assignments \
         WHERE experiment_id = $1 AND ($2 IS NULL OR customer_id > $2) ORDER BY customer_id LIMIT $3",
    )
    .bind(experiment_id)
    .bind(after_customer)
    .bind(i64::from(limit))
    .fetch_all(store.pool())
    .await
    .ctx("reading assignments")?;
    rows.iter().map(assignment_from_row).collect()
}

pub(crate) async fn assignment_counts(
    store: &SqlStore,
    experiment_id: &str,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let rows = sqlx::query(
        "SELECT arm, COUNT(*) AS n FROM assignments WHERE experiment_id = $1 GROUP BY arm",
    )
    .bind(experiment_id)
    .fetch_all(store.pool())
    .await
    .ctx("counting assignments")?;
    rows.iter()
        .map(|row| {
            let arm: String = get(row, "arm")?;
            let n = count_from_db("assignments", "count", experiment_id, get(row, "n")?)?;
            Ok((arm, n))
        })
        .collect()
}
