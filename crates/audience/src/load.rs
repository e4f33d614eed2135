//! Loading the index from a data directory: `derived/tags.parquet` and `tags.meta.json`
//! from the tag engine, plus the `products`, `product_holdings` and `events` facts.
//!
//! Only the columns needed are decoded (Parquet projection). Customer ids in the facts are
//! mapped to dense ids through a hash map over `tags.parquet`'s rows; facts about customers
//! without tags are counted and skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use parquet::arrow::ProjectionMask;
use zhiying_core::DataDir;

use crate::AudienceError;
use crate::index::{AudienceIndex, IndexBuilder, NULL_CODE, TagValues};
use crate::meta::{TagKind, TagMeta, TagsMeta};

/// Tag columns in file order, with their metadata.
type TagColumns = Vec<(TagMeta, TagValues)>;
/// Events per type as (customer, ts µs).
type EventGroups = Vec<(String, Vec<(u32, i64)>)>;

/// Where the tag engine's output lives.
pub fn tags_parquet(dir: &DataDir) -> PathBuf {
    dir.derived("tags")
}
pub fn tags_meta_path(dir: &DataDir) -> PathBuf {
    dir.root().join("derived").join("tags.meta.json")
}

/// How long loading took and what was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    pub millis_total: u64,
    pub millis_tags: u64,
    pub millis_facts: u64,
    pub millis_build: u64,
    pub customers: usize,
    pub tags: usize,
    pub holdings: usize,
    pub events: usize,
    /// Holdings and events whose customer has no row in tags.parquet.
    pub unmatched_fact_rows: usize,
}

/// Reads the tag catalogue. A missing file is an empty catalogue (kinds are then inferred
/// from the Parquet column types).
pub fn read_meta(dir: &DataDir) -> Result<TagsMeta, AudienceError> {
    let path = tags_meta_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| AudienceError::Meta { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TagsMeta::default()),
        Err(source) => Err(AudienceError::Io { path, source }),
    }
}

/// Builds the index from the data directory.
pub fn load_index(dir: &DataDir) -> Result<(AudienceIndex, LoadReport), AudienceError> {
    let t0 = Instant::now();
    let meta = read_meta(dir)?;
    let tags_path = tags_parquet(dir);
    if !tags_path.exists() {
        return Err(AudienceError::NoTags { path: tags_path });
    }
    let (ids, columns) = read_tags(&tags_path, &meta)?;
    let millis_tags = t0.elapsed().as_millis() as u64;

    let t1 = Instant::now();
    let by_id: HashMap<&str, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut unmatched = 0usize;
    let products = read_products(dir)?;
    let holdings = read_holdings(dir, &by_id, &mut unmatched)?;
    let events = read_events(dir, &by_id, &mut unmatched)?;
    drop(by_id);
    let millis_facts = t1.elapsed().as_millis() as u64;

    let t2 = Instant::now();
    let mut b = IndexBuilder::new(ids);
    b.meta_as_of(&meta);
    let ntags = columns.len();
    for (m, v) in columns {
        b.tag(m, v);
    }
    for (p, c) in &products {
        b.product(p, c);
    }
    let nholdings = holdings.len();
    for (id, p) in &holdings {
        b.holding(*id, p);
    }
    let mut nevents = 0;
    for (name, pairs) in events {
        nevents += pairs.len();
        b.events(&name, pairs);
    }
    let index = b.build()?;
    let millis_build = t2.elapsed().as_millis() as u64;
    let report = LoadReport {
        millis_total: t0.elapsed().as_millis() as u64,
        millis_tags,
        millis_facts,
        millis_build,
        customers: index.customers() as usize,
        tags: ntags,
        holdings: nholdings,
        events: nevents,
        unmatched_fact_rows: unmatched,
    };
    Ok((index, report))
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> AudienceError {
    AudienceError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Opens a Parquet file and decodes only `wanted` columns (those present); returns the
/// batches and which wanted columns were missing.
fn read_columns(
    path: &Path,
    wanted: &[&str],
) -> Result<(Vec<RecordBatch>, Vec<String>), AudienceError> {
    let builder = zhiying_keyring::open_reader(path).map_err(|e| parquet_err(path, e))?;
    let schema = builder.schema().clone();
    let mut roots = Vec::new();
    let mut missing = Vec::new();
    for w in wanted {
        match schema.index_of(w) {
            Ok(i) => roots.push(i),
            Err(_) => missing.push(w.to_string()),
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| parquet_err(path, e))?);
    }
    Ok((batches, missing))
}

/// Every `*.parquet` under `facts/<table>/`, sorted (empty if the table does not exist).
fn fact_files(dir: &DataDir, table: &str) -> Result<Vec<PathBuf>, AudienceError> {
    let d = dir.facts_dir(table);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AudienceError::Io { path: d, source }),
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

fn col_err(path: &Path, column: &str, problem: impl Into<String>) -> AudienceError {
    AudienceError::Column {
        path: path.to_path_buf(),
        column: column.to_string(),
        problem: problem.into(),
    }
}

fn as_utf8(path: &Path, name: &str, a: &ArrayRef) -> Result<ArrayRef, AudienceError> {
    if matches!(a.data_type(), DataType::Utf8) {
        return Ok(a.clone());
    }
    arrow::compute::cast(a, &DataType::Utf8)
        .map_err(|e| col_err(path, name, format!("cannot be read as text: {e}")))
}

fn column<'b>(path: &Path, b: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, AudienceError> {
    b.column_by_name(name)
        .ok_or_else(|| col_err(path, name, "is missing"))
}

/// Reads `tags.parquet`: the ids and one [`TagValues`] per tag column.
fn read_tags(path: &Path, meta: &TagsMeta) -> Result<(Vec<String>, TagColumns), AudienceError> {
    let builder = zhiying_keyring::open_reader(path).map_err(|e| parquet_err(path, e))?;
    let schema = builder.schema().clone();
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    if rows as u64 > u32::MAX as u64 {
        return Err(AudienceError::TooManyCustomers {
            path: path.to_path_buf(),
            rows,
            max: u32::MAX as u64,
        });
    }
    if schema.index_of("customer_id").is_err() {
        return Err(col_err(
            path,
            "customer_id",
            "is missing; tags.parquet must have one row per customer keyed by customer_id",
        ));
    }
    let by_key: HashMap<&str, &TagMeta> = meta.tags.iter().map(|t| (t.key.as_str(), t)).collect();
    // Decide each column's kind: the metadata's, checked against the Arrow type.
    let mut cols: Vec<(usize, TagMeta)> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if f.name() == "customer_id" {
            continue;
        }
        let arrow_kind = match f.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _) => Some(TagKind::Categorical),
            DataType::Boolean => Some(TagKind::Flag),
            t if t.is_numeric() => Some(TagKind::Numeric),
            _ => None,
        };
        let Some(arrow_kind) = arrow_kind else {
            continue; // dates, lists…: not addressable by expressions
        };
        let m = match by_key.get(f.name().as_str()) {
            Some(m) => {
                if m.kind != arrow_kind {
                    return Err(col_err(
                        path,
                        f.name(),
                        format!(
                            "is declared {} in tags.meta.json but its Parquet type {} is {}",
                            m.kind.name(),
                            f.data_type(),
                            arrow_kind.name()
                        ),
                    ));
                }
                (*m).clone()
            }
            None => TagMeta {
                key: f.name().clone(),
                name_zh: String::new(),
                name_en: f.name().clone(),
                description: String::new(),
                category: String::new(),
                kind: arrow_kind,
                values: Vec::new(),
                version: serde_json::Value::Null,
                owner: String::new(),
            },
        };
        cols.push((i, m));
    }
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let mut ids: Vec<String> = Vec::with_capacity(rows);
    enum Acc {
        Cat(HashMap<String, u32>, Vec<String>, Vec<u32>),
        Num(Vec<f64>),
        Flag(Vec<Option<bool>>),
    }
    let mut accs: Vec<Acc> = cols
        .iter()
        .map(|(_, m)| match m.kind {
            TagKind::Categorical => Acc::Cat(HashMap::new(), Vec::new(), Vec::with_capacity(rows)),
            TagKind::Numeric => Acc::Num(Vec::with_capacity(rows)),
            TagKind::Flag => Acc::Flag(Vec::with_capacity(rows)),
        })
        .collect();
    let id_col = schema.index_of("customer_id").unwrap_or(0);
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(path, e))?;
        let idc = as_utf8(path, "customer_id", batch.column(id_col))?;
        let idc = idc.as_string::<i32>();
        for i in 0..idc.len() {
            if idc.is_null(i) {
                return Err(col_err(
                    path,
                    "customer_id",
                    format!("is null in row {}", ids.len() + 1),
                ));
            }
            ids.push(idc.value(i).to_string());
        }
        for ((ci, m), acc) in cols.iter().zip(accs.iter_mut()) {
            let a = batch.column(*ci);
            match acc {
                Acc::Cat(map, dict, codes) => {
                    let s = as_utf8(path, &m.key, a)?;
                    let s = s.as_string::<i32>();
                    for i in 0..s.len() {
                        if s.is_null(i) {
                            codes.push(NULL_CODE);
                            continue;
                        }
                        let v = s.value(i);
                        let code = match map.get(v) {
                            Some(&c) => c,
                            None => {
                                let c = dict.len() as u32;
                                map.insert(v.to_string(), c);
                                dict.push(v.to_string());
                                c
                            }
                        };
                        codes.push(code);
                    }
                }
                Acc::Num(out) => {
                    let f = arrow::compute::cast(a, &DataType::Float64).map_err(|e| {
                        col_err(path, &m.key, format!("cannot be read as a number: {e}"))
                    })?;
                    let f = f.as_primitive::<Float64Type>();
                    for i in 0..f.len() {
                        out.push(if f.is_null(i) { f64::NAN } else { f.value(i) });
                    }
                }
                Acc::Flag(out) => {
                    let b = a
                        .as_boolean_opt()
                        .ok_or_else(|| col_err(path, &m.key, "is not Boolean"))?;
                    for i in 0..b.len() {
                        out.push(if b.is_null(i) { None } else { Some(b.value(i)) });
                    }
                }
            }
        }
    }
    let columns = cols
        .into_iter()
        .zip(accs)
        .map(|((_, m), acc)| {
            let v = match acc {
                Acc::Cat(_, dict, codes) => TagValues::Categorical { dict, codes },
                Acc::Num(v) => TagValues::Numeric(v),
                Acc::Flag(v) => TagValues::Flag(v),
            };
            (m, v)
        })
        .collect();
    Ok((ids, columns))
}

fn read_products(dir: &DataDir) -> Result<Vec<(String, String)>, AudienceError> {
    let mut out = Vec::new();
    for path in fact_files(dir, "products")? {
        let (batches, missing) = read_columns(&path, &["product_id", "category"])?;
        if !missing.is_empty() {
            return Err(col_err(
                &path,
                &missing[0],
                "is missing from the products table",
            ));
        }
        for b in batches {
            let p = as_utf8(&path, "product_id", column(&path, &b, "product_id")?)?;
            let c = as_utf8(&path, "category", column(&path, &b, "category")?)?;
            let (p, c) = (p.as_string::<i32>(), c.as_string::<i32>());
            for i in 0..p.len() {
                if !p.is_null(i) && !c.is_null(i) {
                    out.push((p.value(i).to_string(), c.value(i).to_string()));
                }
            }
        }
    }
    Ok(out)
}

/// Active holdings (status `active`, or no status column) as (customer, product).
fn read_holdings(
    dir: &DataDir,
    by_id: &HashMap<&str, u32>,
    unmatched: &mut usize,
) -> Result<Vec<(u32, String)>, AudienceError> {
    let mut out = Vec::new();
    for path in fact_files(dir, "product_holdings")? {
        let (batches, missing) = read_columns(&path, &["customer_id", "product_id", "status"])?;
        if let Some(m) = missing.iter().find(|m| *m != "status") {
            return Err(col_err(&path, m, "is missing from product_holdings"));
        }
        for b in batches {
            let cid = as_utf8(&path, "customer_id", column(&path, &b, "customer_id")?)?;
            let pid = as_utf8(&path, "product_id", column(&path, &b, "product_id")?)?;
            let status = match b.column_by_name("status") {
                Some(s) => Some(as_utf8(&path, "status", s)?),
                None => None,
            };
            let (cid, pid) = (cid.as_string::<i32>(), pid.as_string::<i32>());
            let status = status.as_ref().map(|s| s.as_string::<i32>());
            for i in 0..cid.len() {
                if cid.is_null(i) || pid.is_null(i) {
                    continue;
                }
                if let Some(s) = status
                    && (s.is_null(i) || s.value(i) != "active")
                {
                    continue;
                }
                match by_id.get(cid.value(i)) {
                    Some(&id) => out.push((id, pid.value(i).to_string())),
                    None => *unmatched += 1,
                }
            }
        }
    }
    Ok(out)
}

/// Events grouped by type as (customer, ts µs).
fn read_events(
    dir: &DataDir,
    by_id: &HashMap<&str, u32>,
    unmatched: &mut usize,
) -> Result<EventGroups, AudienceError> {
    let mut groups: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    for path in fact_files(dir, "events")? {
        let (batches, missing) = read_columns(&path, &["customer_id", "ts", "event_type"])?;
        if !missing.is_empty() {
            return Err(col_err(&path, &missing[0], "is missing from events"));
        }
        for b in batches {
            let cid = as_utf8(&path, "customer_id", column(&path, &b, "customer_id")?)?;
            let et = as_utf8(&path, "event_type", column(&path, &b, "event_type")?)?;
            let ts = column(&path, &b, "ts")?;
            let ts = match ts.data_type() {
                DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => ts.clone(),
                DataType::Timestamp(_, tz) => arrow::compute::cast(
                    ts,
                    &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                )
                .map_err(|e| col_err(&path, "ts", e.to_string()))?,
                other => {
                    return Err(col_err(
                        &path,
                        "ts",
                        format!("has type {other}; expected Timestamp(µs, UTC)"),
                    ));
                }
            };
            let ts = arrow::compute::cast(&ts, &DataType::Int64)
                .map_err(|e| col_err(&path, "ts", e.to_string()))?;
            let ts = ts.as_primitive::<Int64Type>();
            let (cid, et) = (cid.as_string::<i32>(), et.as_string::<i32>());
            // Consecutive rows often share a type; remember the last group looked up.
            let mut last: Option<(String, Vec<(u32, i64)>)> = None;
            for i in 0..cid.len() {
                if cid.is_null(i) || et.is_null(i) || ts.is_null(i) {
                    continue;
                }
                let Some(&id) = by_id.get(cid.value(i)) else {
                    *unmatched += 1;
                    continue;
                };
                let t = et.value(i);
                match &mut last {
                    Some((name, v)) if name == t => v.push((id, ts.value(i))),
                    _ => {
                        if let Some((name, v)) = last.take() {
                            groups.insert(name, v);
                        }
                        let mut v = groups.remove(t).unwrap_or_default();
                        v.push((id, ts.value(i)));
                        last = Some((t.to_string(), v));
                    }
                }
            }
            if let Some((name, v)) = last.take() {
                groups.insert(name, v);
            }
        }
    }
    Ok(groups.into_iter().collect())
}
