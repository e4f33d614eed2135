//! Facts the measurement layer reads (`offers`, `campaigns`, `contacts`, `responses`), written
//! as CSV under `DATA_DIR/staging/campaigns/<id>/` and ingested through the same validated
//! pipeline as every other source. Ingest deduplicates by primary key against the stored
//! facts and names each batch by its content, so writing the same rows again adds nothing.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_core::schema::{TableDef, fact_table};
use zhiying_ingest::IngestOptions;

use crate::RunError;

/// What one facts batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactWrite {
    pub table: String,
    pub rows: u64,
    /// New rows stored.
    pub accepted: u64,
    /// Rows whose key was already stored (a rerun, or a row an earlier source wrote).
    pub duplicates: u64,
}

/// One CSV row being built: values by column name, written in catalogue order.
#[derive(Default)]
pub(crate) struct Row(Vec<(&'static str, String)>);

impl Row {
    pub(crate) fn new() -> Self {
        Row(Vec::new())
    }
    pub(crate) fn set(mut self, col: &'static str, value: impl ToString) -> Self {
        self.0.push((col, value.to_string()));
        self
    }
    fn ordered(&self, def: &TableDef) -> Vec<String> {
        def.columns
            .iter()
            .map(|c| {
                self.0
                    .iter()
                    .find(|(k, _)| *k == c.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A timestamp as ingest reads it: RFC 3339 in UTC, whole seconds.
pub(crate) fn ts_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Where a campaign's fact files are staged.
pub(crate) fn staging_dir(dd: &DataDir, campaign_id: &str) -> PathBuf {
    dd.root()
        .join("staging")
        .join("campaigns")
        .join(campaign_id)
}

/// Writes `rows` to `<staging>/<file>.csv` and ingests them into `table`. Any rejected row
/// is an error (with the quarantine file), since a silently dropped contact would bias the
/// measurement.
pub(crate) async fn ingest(
    dd: &DataDir,
    campaign_id: &str,
    table: &'static str,
    file: &str,
    rows: &[Row],
) -> Result<FactWrite, RunError> {
    let def = fact_table(table).ok_or_else(|| RunError::Invalid {
        id: campaign_id.to_string(),
        message: format!("'{table}' is not a fact table"),
    })?;
    if rows.is_empty() {
        return Ok(FactWrite {
            table: table.to_string(),
            rows: 0,
            accepted: 0,
            duplicates: 0,
        });
    }
    let dir = staging_dir(dd, campaign_id);
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let path = dir.join(format!("{file}.csv"));
    let tmp = dir.join(format!("{file}.csv.tmp"));
    let csv_err = |source| RunError::Csv {
        path: tmp.display().to_string(),
        source,
    };
    {
        let mut w = csv::Writer::from_path(&tmp).map_err(csv_err)?;
        w.write_record(def.columns.iter().map(|c| c.name))
            .map_err(csv_err)?;
        for r in rows {
            w.write_record(r.ordered(def)).map_err(csv_err)?;
        }
        w.flush().map_err(|source| RunError::Io {
            path: tmp.display().to_string(),
            source,
        })?;
    }
    std::fs::rename(&tmp, &path).map_err(|source| RunError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let dd2 = dd.clone();
    let files = vec![path];
    let summary = tokio::task::spawn_blocking(move || {
        zhiying_ingest::ingest_files(&dd2, def, &files, &IngestOptions::default())
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))??;
    if summary.rejected > 0 {
        let reasons = summary
            .rejections_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RunError::FactsRejected {
            table: table.to_string(),
            rejected: summary.rejected,
            reasons,
            quarantine: summary
                .quarantine_path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the quarantine folder".into()),
        });
    }
    Ok(FactWrite {
        table: table.to_string(),
        rows: summary.rows_read,
        accepted: summary.accepted,
        duplicates: summary.duplicates_skipped,
    })
}
