//! Row counts and the data-quality report, computed from Parquet metadata (cheap: no data
//! pages are read unless a file lacks statistics) and the batches' run records.

use crate::ingest::runs_dir;
use crate::keys::{batch_files, list_batches};
use crate::{IngestError, IngestSummary};
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use zhiying_core::DataDir;
use zhiying_core::quality::{ColumnQuality, QualityReport, TableQuality};
use zhiying_core::schema::{ColumnType, FACT_TABLES, TableDef};

/// A file's footer, decrypted with the process keyring when the file is encrypted.
fn open_meta(path: &Path) -> Result<Arc<ParquetMetaData>, IngestError> {
    zhiying_keyring::open_metadata(path).map_err(|e| IngestError::parquet(path, e))
}

/// Rows in one Parquet file, from its footer.
pub(crate) fn parquet_rows(path: &Path) -> Result<u64, IngestError> {
    Ok(open_meta(path)?.file_metadata().num_rows().max(0) as u64)
}

/// Stored rows per fact table (every fact table is listed, 0 when empty).
pub fn table_row_counts(data_dir: &DataDir) -> Result<BTreeMap<String, u64>, IngestError> {
    let mut out = BTreeMap::new();
    for t in FACT_TABLES {
        let mut n = 0;
        for f in batch_files(data_dir, t.name)? {
            n += parquet_rows(&f)?;
        }
        out.insert(t.name.to_string(), n);
    }
    Ok(out)
}

/// Run records of a table's committed batches.
pub(crate) fn run_records(
    data_dir: &DataDir,
    table: &str,
) -> Result<Vec<IngestSummary>, IngestError> {
    let mut out = Vec::new();
    for p in list_batches(&runs_dir(data_dir, table), "json")? {
        let bytes = std::fs::read(&p).map_err(|e| IngestError::io(&p, e))?;
        out.push(
            serde_json::from_slice(&bytes).map_err(|e| IngestError::Json {
                path: p.clone(),
                source: e,
            })?,
        );
    }
    Ok(out)
}

/// The column whose maximum says how fresh a table is: `ts`, else the first timestamp.
fn time_column(t: &TableDef) -> Option<usize> {
    t.column_index("ts").or_else(|| {
        t.columns
            .iter()
            .position(|c| matches!(c.ty, ColumnType::Timestamp))
    })
}

struct FileStats {
    rows: u64,
    nulls: Vec<u64>,
    max_ts: Option<i64>,
}

/// Null counts and the time column's maximum, from column-chunk statistics, falling back
/// to reading the columns when a writer left statistics out.
fn file_stats(path: &Path, t: &TableDef) -> Result<FileStats, IngestError> {
    let meta = open_meta(path)?;
    let schema = meta.file_metadata().schema_descr();
    let leaf_of = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
    let tcol = time_column(t);
    let mut st = FileStats {
        rows: meta.file_metadata().num_rows().max(0) as u64,
        nulls: vec![0; t.columns.len()],
        max_ts: None,
    };
    let mut need_read: Vec<usize> = Vec::new();
    for (ci, c) in t.columns.iter().enumerate() {
        let Some(leaf) = leaf_of(c.name) else {
            st.nulls[ci] = st.rows; // column absent from this file: all null
            continue;
        };
        let mut ok = true;
        for rg in meta.row_groups() {
            let stats = rg.column(leaf).statistics();
            match stats.and_then(|s| s.null_count_opt()) {
                Some(n) => st.nulls[ci] += n,
                None => ok = false,
            }
            if Some(ci) == tcol {
                match stats {
                    Some(Statistics::Int64(s)) if s.max_opt().is_some() => {
                        let m = s.max_opt().copied().unwrap_or(i64::MIN);
                        st.max_ts = Some(st.max_ts.map_or(m, |x| x.max(m)));
                    }
                    _ if rg.num_rows() > 0 => ok = false,
                    _ => {}
                }
            }
        }
        if !ok {
            st.nulls[ci] = 0;
            need_read.push(ci);
        }
    }
    if !need_read.is_empty() {
        read_columns(path, t, &need_read, tcol, &mut st)?;
    }
    Ok(st)
}

fn read_columns(
    path: &Path,
    t: &TableDef,
    cols: &[usize],
    tcol: Option<usize>,
    st: &mut FileStats,
) -> Result<(), IngestError> {
    let b = zhiying_keyring::open_reader(path).map_err(|e| IngestError::parquet(path, e))?;
    let idx: Vec<usize> = cols
        .iter()
        .filter_map(|&c| b.schema().index_of(t.columns[c].name).ok())
        .collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), idx);
    for batch in b
        .with_projection(mask)
        .build()
        .map_err(|e| IngestError::parquet(path, e))?
    {
        let batch = batch.map_err(|e| IngestError::arrow(path, e))?;
        for &c in cols {
            let Some(a) = batch.column_by_name(t.columns[c].name) else {
                continue;
            };
            st.nulls[c] += a.null_count() as u64;
            if Some(c) == tcol
                && let Some(p) = a.as_primitive_opt::<TimestampMicrosecondType>()
                && let Some(m) = arrow::compute::max(p)
            {
                st.max_ts = Some(st.max_ts.map_or(m, |x| x.max(m)));
            }
        }
    }
    Ok(())
}

/// Computes completeness, validity and timeliness per fact table and column, writes it to
/// `DataDir::quality_report()` and returns it. Tables never ingested are left out.
pub fn quality_report(data_dir: &DataDir) -> Result<QualityReport, IngestError> {
    let now = chrono::Utc::now();
    let now_us = now.timestamp_micros();
    let mut tables = Vec::new();
    for t in FACT_TABLES {
        let files = batch_files(data_dir, t.name)?;
        let runs = run_records(data_dir, t.name)?;
        if files.is_empty() && runs.is_empty() {
            continue;
        }
        let mut rows = 0u64;
        let mut nulls = vec![0u64; t.columns.len()];
        let mut max_ts: Option<i64> = None;
        for f in &files {
            let st = file_stats(f, t)?;
            rows += st.rows;
            for (a, b) in nulls.iter_mut().zip(&st.nulls) {
                *a += b;
            }
            if let Some(m) = st.max_ts {
                max_ts = Some(max_ts.map_or(m, |x| x.max(m)));
            }
        }
        let quarantined: u64 = runs.iter().map(|r| r.rejected).sum();
        let duplicates: u64 = runs.iter().map(|r| r.duplicates_skipped).sum();
        let mut col_rejected: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &runs {
            for (c, n) in &r.rejections_by_column {
                *col_rejected.entry(c.as_str()).or_default() += n;
            }
        }
        let input = rows + quarantined;
        let share = |good: u64, total: u64| {
            if total == 0 {
                1.0
            } else {
                good as f64 / total as f64
            }
        };
        let columns = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rejected = col_rejected.get(c.name).copied().unwrap_or(0);
                ColumnQuality {
                    column: c.name.to_string(),
                    completeness: if rows == 0 {
                        0.0
                    } else {
                        share(rows.saturating_sub(nulls[i]), rows)
                    },
                    validity: share(input.saturating_sub(rejected), input),
                    rejected,
                }
            })
            .collect();
        tables.push(TableQuality {
            table: t.name.to_string(),
            rows,
            quarantined,
            duplicates_skipped: duplicates,
            validity: share(rows, input),
            freshest: max_ts.map(zhiying_core::time::format_timestamp),
            staleness_hours: max_ts.map(|m| (now_us - m) as f64 / 3_600_000_000.0),
            columns,
        });
    }
    let report = QualityReport {
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tables,
    };
    let path = data_dir.quality_report();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(&report).map_err(|e| IngestError::Json {
        path: path.clone(),
        source: e,
    })?;
    std::fs::write(&tmp, json).map_err(|e| IngestError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| IngestError::io(&path, e))?;
    Ok(report)
}
