//! Access (查阅复制权, PIPL Art. 45): everything held on one customer as one JSON document.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::{AnalyticsEngine, batches_to_json, sql_literal};
use zhiying_events::{EventStore, Record};
use zhiying_store::{AuditFilter, OperationalStore};

use crate::files::{self, contains_token};
use crate::{PrivacyError, is_erased, validate_customer_id};

/// Most audit entries and decisions listed.
const MAX_ENTRIES: u32 = 10_000;

/// Event-log records of one customer, by scanning the segments (read-only; safe while the
/// writer appends: a frame being written is simply not seen yet).
pub fn event_log_records(
    events_dir: &std::path::Path,
    id: &str,
) -> Result<Vec<Record>, PrivacyError> {
    let log = events_dir.join("log");
    if !log.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for n in zhiying_events::log::list_segments(&log)? {
        zhiying_events::log::scan_segment(&log, n, 0, |payload, _| {
            if let Ok(r) = serde_json::from_slice::<Record>(payload)
                && r.customer_id() == id
            {
                out.push(r);
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The access export. `events` is the running server's event store, if any (for the
/// real-time profile); the log itself is read from `DATA_DIR/events`.
pub async fn export(
    engine: &dyn AnalyticsEngine,
    store: &dyn OperationalStore,
    dd: &DataDir,
    events: Option<&EventStore>,
    id: &str,
) -> Result<Value, PrivacyError> {
    validate_customer_id(id)?;
    let lit = sql_literal(id);

    // Facts, through the engine: every table with a customer_id column.
    let mut facts = Map::new();
    for t in FACT_TABLES {
        if t.column("customer_id").is_none() {
            continue;
        }
        let rows = engine
            .query_json(&format!(
                "SELECT * FROM {} WHERE customer_id = {lit}",
                t.name
            ))
            .await?;
        facts.insert(
            t.name.to_string(),
            Value::Array(rows.into_iter().map(Value::Object).collect()),
        );
    }

    // Derived files and model/audience artefacts: read directly.
    let ids: BTreeSet<String> = [id.to_string()].into();
    let root = dd.root().to_path_buf();
    let derived = tokio::task::spawn_blocking(move || {
        let mut derived = Map::new();
        let mut snapshots = Vec::new();
        for dir in ["derived", "models"] {
            for path in files::walk(&root.join(dir), &[])? {
                if !path.to_string_lossy().ends_with(".parquet") {
                    continue;
                }
                let batches = files::parquet_rows_of(&path, &ids)?;
                if batches.is_empty() {
                    continue;
                }
                let rel = path
                    .strip_prefix(&root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if let Some(rest) = rel.strip_prefix("derived/audiences/") {
                    let audience = rest.split('/').next().unwrap_or("").to_string();
                    snapshots.push(json!({"audience_id": audience, "snapshot": rel}));
                    continue;
                }
                let rows = batches_to_json(&batches)?;
                derived.insert(
                    rel,
                    Value::Array(rows.into_iter().map(Value::Object).collect()),
                );
            }
        }
        Ok::<_, PrivacyError>((derived, snapshots))
    })
    .await
    .map_err(|e| PrivacyError::Other(format!("export task: {e}")))??;
    let (derived, snapshots) = derived;

    // The operational store.
    let history = store.consent_history(id).await?;
    let mut current: std::collections::BTreeMap<(String, String), &zhiying_store::ConsentEvent> =
        Default::default();
    for e in &history {
        current.insert((e.purpose.clone(), e.channel.clone()), e);
    }
    let dnc = store
        .dnc_list()
        .await?
        .into_iter()
        .find(|d| d.customer_id == id);
    let contacts = store.customer_contacts(id).await?;
    let decisions = store.customer_decisions(id, MAX_ENTRIES).await?;
    let responses = store.customer_responses(id, i64::MIN).await?;
    let assignments = store.customer_assignments(id).await?;
    let audit: Vec<_> = store
        .audit_search(
            &AuditFilter {
                target: Some(id.to_string()),
                ..AuditFilter::default()
            },
            MAX_ENTRIES,
        )
        .await?
        .into_iter()
        .filter(|e| contains_token(&e.target, id))
        .collect();

    // The event log and the real-time profile.
    let events_dir = dd.root().join("events");
    let owned = id.to_string();
    let log_records = tokio::task::spawn_blocking(move || event_log_records(&events_dir, &owned))
        .await
        .map_err(|e| PrivacyError::Other(format!("export task: {e}")))??;
    let realtime = events.and_then(|e| e.realtime(id));

    Ok(json!({
        "customer_id": id,
        "exported_at": zhiying_core::time::format_timestamp(chrono::Utc::now().timestamp_micros()),
        "erased": is_erased(store, id).await?,
        "facts": facts,
        "derived": derived,
        "audiences": {
            "snapshots": snapshots,
            "realtime": realtime.as_ref().map(|r| to_value(&r.audiences)),
        },
        "consents": {
            "current": current.values().map(|e| to_value(*e)).collect::<Vec<_>>(),
            "history": to_value(&history),
            "do_not_contact": to_value(&dnc),
        },
        "contacts": to_value(&contacts),
        "decisions": to_value(&decisions),
        "responses": to_value(&responses),
        "experiment_assignments": to_value(&assignments),
        "realtime_profile": to_value(&realtime),
        "event_log": to_value(&log_records),
        "audit": to_value(&audit),
    }))
}
