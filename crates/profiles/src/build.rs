//! Computing every active tag in one SQL statement on the analytics engine, and writing
//! `derived/tags.parquet`, `derived/tags.meta.json` and `derived/tags.stats.json`.
//!
//! The statement has one `GROUP BY customer_id` per source (all aggregate tags of a source
//! share its scan), one sub-query per SQL tag, a left join of all of them onto the
//! customers, then one projection per layer of rules:
//!
//! ```text
//! WITH base AS (SELECT customer_id, <customer exprs> FROM customers WHERE open_date <= as_of),
//!      src_transactions AS (SELECT customer_id, <aggregates> FROM transactions WHERE ts < as_of_end GROUP BY customer_id),
//!      …, sql_salary_credit AS (<query>),
//!      joined AS (base LEFT JOIN src_… LEFT JOIN sql_…),
//!      rules_1 AS (SELECT *, <rules reading only joined columns> FROM joined), rules_2 AS (…)
//! SELECT customer_id, CAST(tag AS <type>) AS tag, … FROM rules_n ORDER BY customer_id
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;

use crate::catalog::Catalog;
use crate::def::{Body, Kind, TagDef};
use crate::sources::{self, AsOf};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(
        "computing tags failed: {0}\n  Check the SQL of user tags with `zhiying tags sql`; `zhiying tags list` shows which are yours."
    )]
    Engine(#[from] zhiying_engine::EngineError),
    #[error(
        "the tag query returned column '{column}' as {found}, which cannot become {expected}: {message}"
    )]
    Type {
        column: String,
        found: String,
        expected: String,
        message: String,
    },
    #[error(
        "customer '{0}' appears more than once in the output: a SQL tag returns several rows for one customer; make it return one row per customer_id"
    )]
    DuplicateCustomer(String),
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("the as-of date '{0}' is not a date: write it as YYYY-MM-DD")]
    AsOf(String),
}

/// `derived/tags.meta.json`: what was built, when, and the definitions of the columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagsMeta {
    /// YYYY-MM-DD.
    pub as_of: String,
    /// RFC 3339 UTC.
    pub built_at: String,
    pub tags: Vec<MetaTag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetaTag {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub description: String,
    pub category: String,
    pub kind: Kind,
    pub values: Vec<crate::def::ValueLabel>,
    pub version: u32,
    pub owner: String,
}

impl MetaTag {
    fn from_def(t: &TagDef) -> Self {
        MetaTag {
            key: t.key.clone(),
            name_zh: t.name_zh.clone(),
            name_en: t.name_en.clone(),
            description: t.description.clone(),
            category: t.category.clone(),
            kind: t.kind,
            values: t.values.clone(),
            version: t.version,
            owner: t.owner.clone(),
        }
    }
}

/// Coverage and distribution of one tag (`derived/tags.stats.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagStats {
    pub key: String,
    /// Customers with a non-null value.
    pub non_null: u64,
    /// `non_null / customers`.
    pub coverage: f64,
    /// Categorical and flag tags: customers per value (`true`/`false` for flags), most first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<(String, u64)>,
    /// Numeric tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericStats {
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
    pub mean: f64,
    /// Equal-width bins between the 1st and 99th percentiles (values outside go to the end bins).
    pub bins: Vec<Bin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bin {
    pub from: f64,
    pub to: f64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatsFile {
    pub as_of: String,
    pub built_at: String,
    pub customers: u64,
    pub tags: Vec<TagStats>,
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    pub customers: u64,
    pub tags: usize,
    pub seconds: f64,
    pub as_of: String,
    /// Scans: one per source with aggregate tags plus one per SQL tag.
    pub scans: usize,
    pub query_seconds: f64,
    pub parquet: PathBuf,
    pub meta: PathBuf,
}

/// Options of a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The as-of date; default: the date of the latest transaction (today when there is none).
    pub as_of: Option<chrono::NaiveDate>,
}

pub fn tags_parquet(dd: &DataDir) -> PathBuf {
    dd.derived("tags")
}
pub fn meta_path(dd: &DataDir) -> PathBuf {
    dd.root().join("derived").join("tags.meta.json")
}
pub fn stats_path(dd: &DataDir) -> PathBuf {
    dd.root().join("derived").join("tags.stats.json")
}

pub fn parse_as_of(s: &str) -> Result<chrono::NaiveDate, BuildError> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| BuildError::AsOf(s.to_string()))
}

/// The default as-of date: the (UTC) date of the latest transaction.
pub async fn default_as_of(engine: &dyn AnalyticsEngine) -> Result<chrono::NaiveDate, BuildError> {
    let batches = engine
        .query("SELECT CAST(CAST(MAX(ts) AS DATE) AS VARCHAR) AS d FROM transactions")
        .await?;
    let s = batches.iter().find_map(|b| {
        let a = arrow::compute::cast(b.column(0), &DataType::Utf8).ok()?;
        let a = a.as_string::<i32>();
        (a.len() > 0 && !a.is_null(0)).then(|| a.value(0).to_string())
    });
    match s {
        Some(s) => parse_as_of(&s),
        None => Ok(chrono::Utc::now().date_naive()),
    }
}

fn quote(key: &str) -> String {
    format!("\"{key}\"")
}

/// The SQL that computes every active tag, with its number of scans.
pub fn compile(catalog: &Catalog, as_of: AsOf) -> Result<(String, usize), BuildError> {
    let active: Vec<&TagDef> = catalog.active().collect();
    let mut ctes: Vec<String> = Vec::new();
    let mut scans = 0;

    // Base: customers, with their per-row tags.
    let base_src = sources::source("customers").expect("customers is a source");
    let mut base_cols = vec!["customer_id".to_string()];
    for t in &active {
        if let Body::Aggregate { source, expr } = &t.body
            && source == "customers"
        {
            base_cols.push(format!("{} AS {}", as_of.expand(expr), quote(&t.key)));
        }
    }
    ctes.push(format!(
        "base AS (SELECT {} FROM customers WHERE {})",
        base_cols.join(", "),
        as_of.expand(base_src.window)
    ));
    scans += 1;

    // One GROUP BY per other source, in the order of `SOURCES`.
    let mut joins = Vec::new();
    let mut joined_cols: Vec<String> = vec!["b.customer_id AS customer_id".into()];
    for t in &active {
        if matches!(&t.body, Body::Aggregate { source, .. } if source == "customers") {
            joined_cols.push(with_default(t, &format!("b.{}", quote(&t.key))));
        }
    }
    for src in sources::SOURCES.iter().filter(|s| s.name != "customers") {
        let tags: Vec<&&TagDef> = active
            .iter()
            .filter(|t| matches!(&t.body, Body::Aggregate { source, .. } if source == src.name))
            .collect();
        if tags.is_empty() {
            continue;
        }
        let alias = format!("src_{}", src.name);
        let mut cols = vec![format!("{} AS customer_id", src.customer_column)];
        for t in &tags {
            let Body::Aggregate { expr, .. } = &t.body else {
                continue;
            };
            cols.push(format!("{} AS {}", as_of.expand(expr), quote(&t.key)));
            joined_cols.push(with_default(t, &format!("{alias}.{}", quote(&t.key))));
        }
        ctes.push(format!(
            "{alias} AS (SELECT {} FROM {} WHERE {} GROUP BY {})",
            cols.join(", "),
            src.from,
            as_of.expand(src.window),
            src.customer_column
        ));
        joins.push(format!(
            "LEFT JOIN {alias} ON {alias}.customer_id = b.customer_id"
        ));
        scans += 1;
    }
    for t in &active {
        let Body::Sql { sql } = &t.body else { continue };
        let alias = format!("sql_{}", t.key);
        ctes.push(format!(
            "{alias} AS (SELECT customer_id, value FROM ({}) q_{})",
            as_of.expand(sql),
            t.key
        ));
        joins.push(format!(
            "LEFT JOIN {alias} ON {alias}.customer_id = b.customer_id"
        ));
        joined_cols.push(with_default(t, &format!("{alias}.value")));
        scans += 1;
    }
    ctes.push(format!(
        "joined AS (SELECT {} FROM base b {})",
        joined_cols.join(", "),
        joins.join(" ")
    ));

    let mut prev = "joined".to_string();
    for (i, layer) in catalog.rule_layers()?.iter().enumerate() {
        let name = format!("rules_{}", i + 1);
        let cols: Vec<String> = layer
            .iter()
            .filter_map(|t| match &t.body {
                Body::Rule { parsed, .. } => Some(format!(
                    "{} AS {}",
                    parsed.to_sql(&|k| quote(k)),
                    quote(&t.key)
                )),
                _ => None,
            })
            .collect();
        ctes.push(format!(
            "{name} AS (SELECT *, {} FROM {prev})",
            cols.join(", ")
        ));
        prev = name;
    }

    let mut out = vec!["customer_id".to_string()];
    for t in &active {
        out.push(format!(
            "CAST({k} AS {}) AS {k}",
            t.sql_type(),
            k = quote(&t.key)
        ));
    }
    let sql = format!(
        "WITH {}\nSELECT {} FROM {prev} ORDER BY customer_id",
        ctes.join(",\n"),
        out.join(", ")
    );
    Ok((sql, scans))
}

fn with_default(t: &TagDef, column: &str) -> String {
    match t.default_sql() {
        Some(d) => format!("coalesce({column}, {d}) AS {}", quote(&t.key)),
        None => format!("{column} AS {}", quote(&t.key)),
    }
}

/// Stages reported while building, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Planning,
    Computing,
    Writing,
    Done,
}

/// Builds every active tag and writes the outputs atomically.
pub async fn build(
    dd: &DataDir,
    engine: &dyn AnalyticsEngine,
    opts: &BuildOptions,
    progress: &(dyn Fn(Stage) + Sync),
) -> Result<BuildSummary, BuildError> {
    let started = std::time::Instant::now();
    progress(Stage::Planning);
    let catalog = Catalog::load(dd)?;
    let as_of = match opts.as_of {
        Some(d) => d,
        None => default_as_of(engine).await?,
    };
    let (sql, scans) = compile(&catalog, AsOf(as_of))?;
    tracing::debug!(%sql, "tag query");
    progress(Stage::Computing);
    let q = std::time::Instant::now();
    let batches = engine.query(&sql).await?;
    let query_seconds = q.elapsed().as_secs_f64();
    progress(Stage::Writing);

    let active: Vec<&TagDef> = catalog.active().collect();
    let schema = output_schema(&active);
    let batches = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| conform(b, &schema))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&batches)?;
    let customers: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();

    let built_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let derived = dd.root().join("derived");
    std::fs::create_dir_all(&derived).map_err(|e| BuildError::Write {
        path: derived.clone(),
        message: e.to_string(),
    })?;
    let parquet = tags_parquet(dd);
    write_parquet(&parquet, schema.clone(), &batches)?;
    let meta = TagsMeta {
        as_of: as_of.to_string(),
        built_at: built_at.clone(),
        tags: active.iter().map(|t| MetaTag::from_def(t)).collect(),
    };
    let stats = StatsFile {
        as_of: as_of.to_string(),
        built_at,
        customers,
        tags: active
            .iter()
            .enumerate()
            .map(|(i, t)| column_stats(t, &batches, i + 1, customers))
            .collect(),
    };
    write_json(&stats_path(dd), &stats)?;
    // The meta file is written last: its `built_at` marks a complete build.
    write_json(&meta_path(dd), &meta)?;
    progress(Stage::Done);
    Ok(BuildSummary {
        customers,
        tags: active.len(),
        seconds: started.elapsed().as_secs_f64(),
        as_of: as_of.to_string(),
        scans,
        query_seconds,
        parquet,
        meta: meta_path(dd),
    })
}

/// The contract schema: `customer_id` then one column per active tag.
pub fn output_schema(active: &[&TagDef]) -> Arc<Schema> {
    let mut fields = vec![Field::new("customer_id", DataType::Utf8, false)];
    fields.extend(
        active
            .iter()
            .map(|t| Field::new(&t.key, t.arrow_type(), true)),
    );
    Arc::new(Schema::new(fields))
}

/// Casts a result batch to the contract types (the engine may return e.g. string views).
fn conform(b: &RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch, BuildError> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        let col = b.column(i);
        let cast = if col.data_type() == f.data_type() {
            col.clone()
        } else {
            arrow::compute::cast(col, f.data_type()).map_err(|e| BuildError::Type {
                column: f.name().clone(),
                found: col.data_type().to_string(),
                expected: f.data_type().to_string(),
                message: e.to_string(),
            })?
        };
        cols.push(cast);
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| BuildError::Type {
        column: "customer_id".into(),
        found: "null".into(),
        expected: "non-null Utf8".into(),
        message: e.to_string(),
    })
}

/// Rows are sorted by customer_id, so a repeat is next to its twin.
fn check_unique(batches: &[RecordBatch]) -> Result<(), BuildError> {
    let mut prev: Option<String> = None;
    for b in batches {
        let ids = b.column(0).as_string::<i32>();
        for i in 0..ids.len() {
            let id = ids.value(i);
            if prev.as_deref() == Some(id) {
                return Err(BuildError::DuplicateCustomer(id.to_string()));
            }
            if i + 1 == ids.len() {
                prev = Some(id.to_string());
            } else if ids.value(i + 1) == id {
                return Err(BuildError::DuplicateCustomer(id.to_string()));
            }
        }
    }
    Ok(())
}

fn write_err(path: &Path) -> impl Fn(String) -> BuildError + '_ {
    move |message| BuildError::Write {
        path: path.to_path_buf(),
        message,
    }
}

fn write_parquet(
    path: &Path,
    schema: Arc<Schema>,
    batches: &[RecordBatch],
) -> Result<(), BuildError> {
    let tmp = path.with_extension("parquet.tmp");
    let err = write_err(&tmp);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let f = std::fs::File::create(&tmp).map_err(|e| err(e.to_string()))?;
    let mut w = ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| err(e.to_string()))?;
    for b in batches {
        w.write(b).map_err(|e| err(e.to_string()))?;
    }
    let f = w.into_inner().map_err(|e| err(e.to_string()))?;
    f.sync_all().map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(path)(e.to_string()))
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), BuildError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| write_err(path)(e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| write_err(&tmp)(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(path)(e.to_string()))
}

fn column_stats(t: &TagDef, batches: &[RecordBatch], col: usize, customers: u64) -> TagStats {
    let mut non_null = 0u64;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut nums: Vec<f64> = Vec::new();
    for b in batches {
        let a = b.column(col);
        non_null += (a.len() - a.null_count()) as u64;
        match a.data_type() {
            DataType::Utf8 => {
                for v in a.as_string::<i32>().iter().flatten() {
                    *counts.entry(v.to_string()).or_default() += 1;
                }
            }
            DataType::Boolean => {
                for v in a.as_boolean().iter().flatten() {
                    *counts.entry(v.to_string()).or_default() += 1;
                }
            }
            DataType::Int64 => nums.extend(
                a.as_primitive::<arrow::datatypes::Int64Type>()
                    .iter()
                    .flatten()
                    .map(|v| v as f64),
            ),
            DataType::Float64 => nums.extend(
                a.as_primitive::<arrow::datatypes::Float64Type>()
                    .iter()
                    .flatten()
                    .filter(|v| v.is_finite()),
            ),
            _ => {}
        }
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    TagStats {
        key: t.key.clone(),
        non_null,
        coverage: if customers == 0 {
            0.0
        } else {
            non_null as f64 / customers as f64
        },
        counts,
        numeric: (t.kind == Kind::Numeric && !nums.is_empty())
            .then(|| numeric_stats(nums, t.integer)),
    }
}

fn numeric_stats(mut v: Vec<f64>, integer: bool) -> NumericStats {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.01), q(0.99));
    let mut bins = Vec::new();
    if hi > lo {
        let n = if integer {
            ((hi - lo) as usize + 1).min(12)
        } else {
            12
        };
        let width = (hi - lo) / n as f64;
        let mut counts = vec![0u64; n];
        for x in &v {
            let i = (((x - lo) / width).floor().max(0.0) as usize).min(n - 1);
            counts[i] += 1;
        }
        bins = counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| Bin {
                from: lo + width * i as f64,
                to: lo + width * (i + 1) as f64,
                count,
            })
            .collect();
    } else {
        bins.push(Bin {
            from: lo,
            to: hi,
            count: v.len() as u64,
        });
    }
    NumericStats {
        min: v[0],
        p25: q(0.25),
        median: q(0.5),
        p75: q(0.75),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
        bins,
    }
}

/// Reads `tags.meta.json`, or `None` before the first build.
pub fn read_meta(dd: &DataDir) -> Result<Option<TagsMeta>, BuildError> {
    read_json(&meta_path(dd))
}

/// Reads `tags.stats.json`, or `None` before the first build.
pub fn read_stats(dd: &DataDir) -> Result<Option<StatsFile>, BuildError> {
    read_json(&stats_path(dd))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, BuildError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            write_err(path)(format!("not valid: {e}; run `zhiying tags build` again"))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(write_err(path)(e.to_string())),
    }
}
