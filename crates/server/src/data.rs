//! The data overview: row counts per table (from the engine), quarantine counts (from the
//! quarantine files) and the latest data-quality report (written by ingestion).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::DataDir;
use zhiying_core::quality::QualityReport;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::AnalyticsEngine;

use crate::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct DataOverview {
    pub tables: Vec<TableSummary>,
    /// Rows in all fact tables together.
    pub total_rows: u64,
    /// Rows in quarantine over all tables.
    pub total_quarantined: u64,
    /// Whether identity resolution has produced `derived/customer_links.parquet`.
    pub identity_links: bool,
    /// The latest data-quality report, absent until the first ingest.
    #[schema(value_type = Option<QualityReportDoc>)]
    pub quality: Option<QualityReport>,
    /// Why the quality report could not be read, if it exists but is unreadable.
    pub quality_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableSummary {
    pub table: String,
    pub zh_name: String,
    pub description: String,
    /// Rows the engine sees.
    pub rows: u64,
    /// Rejected rows in `quarantine/<table>/*.jsonl`.
    pub quarantined: u64,
    /// Number of quarantine files (one per ingested batch with rejections).
    pub quarantine_files: u64,
}

pub async fn overview(
    data_dir: &DataDir,
    engine: &dyn AnalyticsEngine,
) -> Result<DataOverview, ApiError> {
    let counts = row_counts(engine).await?;
    let dd = data_dir.clone();
    let (quarantine, quality, quality_error) = tokio::task::spawn_blocking(move || {
        let q: Vec<(u64, u64)> = FACT_TABLES
            .iter()
            .map(|t| count_quarantine(&dd.quarantine_dir(t.name)))
            .collect();
        let (quality, err) = match read_quality(&dd.quality_report()) {
            Ok(r) => (r, None),
            Err(e) => (None, Some(e)),
        };
        (q, quality, err)
    })
    .await
    .map_err(|e| ApiError::internal("reading quarantine files", e))?;
    let identity_links = has_table(engine, "customer_links").await;

    let tables: Vec<TableSummary> = FACT_TABLES
        .iter()
        .zip(quarantine)
        .map(|(t, (quarantined, files))| TableSummary {
            table: t.name.to_string(),
            zh_name: t.zh_name.to_string(),
            description: t.description.to_string(),
            rows: counts
                .iter()
                .find(|(n, _)| n == t.name)
                .map(|(_, c)| *c)
                .unwrap_or(0),
            quarantined,
            quarantine_files: files,
        })
        .collect();
    Ok(DataOverview {
        total_rows: tables.iter().map(|t| t.rows).sum(),
        total_quarantined: tables.iter().map(|t| t.quarantined).sum(),
        tables,
        identity_links,
        quality,
        quality_error,
    })
}

/// Row counts of every fact table in one query.
pub async fn row_counts(engine: &dyn AnalyticsEngine) -> Result<Vec<(String, u64)>, ApiError> {
    let sql = FACT_TABLES
        .iter()
        .map(|t| format!("SELECT '{0}' AS table_name, COUNT(*) AS n FROM {0}", t.name))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = engine.query_json(&sql).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get("table_name")?.as_str()?.to_string(),
                r.get("n")?.as_u64()?,
            ))
        })
        .collect())
}

/// Whether the engine has a table registered (optional derived tables come and go).
pub async fn has_table(engine: &dyn AnalyticsEngine, name: &str) -> bool {
    let sql = format!(
        "SELECT table_name FROM information_schema.tables WHERE table_name = {}",
        zhiying_engine::sql_literal(name)
    );
    matches!(engine.query_json(&sql).await, Ok(rows) if !rows.is_empty())
}

/// (rejected rows, files) under a quarantine folder; a missing folder means none.
pub fn count_quarantine(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let mut rows = 0;
    let mut files = 0;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            files += 1;
            match std::fs::File::open(&p) {
                Ok(f) => {
                    rows += BufReader::new(f)
                        .split(b'\n')
                        .flatten()
                        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                        .count() as u64
                }
                Err(err) => tracing::warn!("cannot read quarantine file {}: {err}", p.display()),
            }
        }
    }
    (rows, files)
}

fn read_quality(path: &Path) -> Result<Option<QualityReport>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        format!(
            "{} is not a quality report ({e}); re-run `zhiying ingest` to rewrite it",
            path.display()
        )
    })
}

// OpenAPI mirror of `zhiying_core::quality`, which does not depend on utoipa. A test checks
// that a report round-trips through these types, so they cannot drift apart silently.

/// The latest data-quality report (completeness, validity, timeliness per table and column).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityReportDoc {
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub tables: Vec<TableQualityDoc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableQualityDoc {
    pub table: String,
    pub rows: u64,
    pub quarantined: u64,
    pub duplicates_skipped: u64,
    /// rows / (rows + quarantined)
    pub validity: f64,
    /// Latest event time (RFC 3339) for tables with a time column.
    pub freshest: Option<String>,
    pub staleness_hours: Option<f64>,
    pub columns: Vec<ColumnQualityDoc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnQualityDoc {
    pub column: String,
    /// Share of stored rows where the column is filled.
    pub completeness: f64,
    /// Share of input values that were valid.
    pub validity: f64,
    pub rejected: u64,
}
