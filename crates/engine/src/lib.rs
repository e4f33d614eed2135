//! The analytics seam.
//!
//! Tag, feature and KPI computation is SQL over the canonical fact tables. Callers talk to
//! [`AnalyticsEngine`], never to DataFusion directly, so the same definitions can run on a
//! Ballista cluster or a bank's warehouse by adding another implementation. The embedded
//! default, [`DataFusionEngine`], registers every fact table's Parquet folder in the data
//! directory as a SQL table.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::writer::{JsonArray, WriterBuilder};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use zhiying_core::DataDir;
use zhiying_core::schema::{FACT_TABLES, TableDef};

pub use datafusion::arrow;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("query failed: {0}\n  query: {1}")]
    Query(String, String),
    #[error("could not register table '{table}' from {path}: {source}")]
    Register {
        table: String,
        path: String,
        source: datafusion::error::DataFusionError,
    },
    #[error("could not convert query results to JSON: {0}")]
    Json(String),
    #[error("engine configuration: {0}")]
    Config(String),
}

/// Environment variable bounding the memory of one query's spillable operators, e.g. `8G`
/// or `512M`; `0` or `unbounded` turns the bound off. Unset: a quarter of physical memory,
/// between 1 and 8 GiB. With the bound, DataFusion's sorts and hash aggregates spill to the
/// OS temp dir instead of growing: the 1M-customer tag build peaks at 2.5 GB instead of 15.
pub const QUERY_MEMORY_ENV: &str = "ZHIYING_QUERY_MEMORY";

/// The query memory bound from [`QUERY_MEMORY_ENV`] or the machine's memory.
fn query_memory_limit() -> Result<Option<usize>, EngineError> {
    match std::env::var(QUERY_MEMORY_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let v = v.trim();
            if v == "0" || v.eq_ignore_ascii_case("unbounded") {
                return Ok(None);
            }
            parse_memory_size(v).map(Some).ok_or_else(|| {
                EngineError::Config(format!(
                    "{QUERY_MEMORY_ENV}={v:?} is not a size: use bytes or a K/M/G suffix \
                     (e.g. 8G), or 0 for no bound"
                ))
            })
        }
        _ => Ok(physical_memory().map(default_query_memory)),
    }
}

/// A quarter of `total`, clamped to 1–8 GiB.
fn default_query_memory(total: usize) -> usize {
    (total / 4).clamp(1 << 30, 8 << 30)
}

/// `MemTotal` from `/proc/meminfo` (Linux); `None` elsewhere.
fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `"8G"` → 8 GiB; `"512m"`, `"1048576"` also accepted.
fn parse_memory_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().ok()?;
    let mult: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&b| b > 0)
}

pub type Row = serde_json::Map<String, serde_json::Value>;

/// Runs SQL over the canonical tables. Implementations must be cheap to share across threads.
#[async_trait::async_trait]
pub trait AnalyticsEngine: Send + Sync {
    /// Engine name for logs and `/metrics`, e.g. `datafusion`.
    fn name(&self) -> &'static str;
    /// Runs one SQL query and returns Arrow record batches.
    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError>;
    /// Re-reads the list of files behind each table (after an ingest).
    async fn refresh(&self) -> Result<(), EngineError>;

    /// Runs a query and returns rows as JSON objects (timestamps as RFC 3339 strings).
    async fn query_json(&self, sql: &str) -> Result<Vec<Row>, EngineError> {
        batches_to_json(&self.query(sql).await?)
    }
}

pub fn batches_to_json(batches: &[RecordBatch]) -> Result<Vec<Row>, EngineError> {
    let mut buf = Vec::new();
    {
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(&mut buf);
        for b in batches {
            w.write(b).map_err(|e| EngineError::Json(e.to_string()))?;
        }
        w.finish().map_err(|e| EngineError::Json(e.to_string()))?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| EngineError::Json(e.to_string()))
}

/// Schema of the derived `scores` table (`DATA_DIR/derived/scores.parquet`): every
/// model's latest score per customer in long form.
pub fn scores_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("band", DataType::Utf8, true),
        Field::new("reasons", DataType::Utf8, true),
        Field::new("as_of", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
    ]))
}

/// Schema of the derived `segments` table (`DATA_DIR/derived/segments.parquet`): the
/// latest clustering's cluster per customer (`zhiying segment run`).
pub fn segments_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("segmentation", DataType::Utf8, false),
        Field::new("cluster", DataType::Int64, false),
        Field::new("description_zh", DataType::Utf8, false),
        Field::new("description_en", DataType::Utf8, false),
    ]))
}

/// The embedded engine: DataFusion over the data directory's Parquet facts.
pub struct DataFusionEngine {
    data_dir: DataDir,
    ctx: tokio::sync::RwLock<SessionContext>,
}

impl DataFusionEngine {
    pub async fn open(data_dir: &DataDir) -> Result<Self, EngineError> {
        let ctx = Self::build_context(data_dir).await?;
        Ok(DataFusionEngine {
            data_dir: data_dir.clone(),
            ctx: tokio::sync::RwLock::new(ctx),
        })
    }

    async fn build_context(data_dir: &DataDir) -> Result<SessionContext, EngineError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(2);
        let ctx = match query_memory_limit()? {
            Some(limit) => {
                // A fair spill pool: sorts and hash aggregates spill to the OS temp dir
                // instead of growing until the kernel kills the process.
                let runtime = RuntimeEnvBuilder::new()
                    .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
                    .build_arc()
                    .map_err(|e| EngineError::Config(e.to_string()))?;
                tracing::debug!(limit, "query memory pool");
                SessionContext::new_with_config_rt(config, runtime)
            }
            None => SessionContext::new_with_config(config),
        };
        // Every Parquet scan asks the keyring for the keys of the file it opens, so
        // encrypted facts (`docs/encryption.md`) read like plaintext ones.
        ctx.runtime_env()
            .register_parquet_encryption_factory(KEYRING_FACTORY, Arc::new(KeyringFactory));
        ctx.state_ref()
            .write()
            .table_options_mut()
            .parquet
            .crypto
            .factory_id = Some(KEYRING_FACTORY.to_string());
        for table in FACT_TABLES {
            register_table(&ctx, data_dir, table).await?;
        }
        let links = data_dir.derived("customer_links");
        if links.exists() {
            let path = links.to_string_lossy().to_string();
            ctx.register_parquet("customer_links", &path, ParquetReadOptions::default())
                .await
                .map_err(|source| EngineError::Register {
                    table: "customer_links".into(),
                    path,
                    source,
                })?;
        }
        // Derived tables other capabilities write (model scores, customer segments): empty
        // until their first run, so tag SQL over them always plans.
        for (name, schema) in [("scores", scores_schema()), ("segments", segments_schema())] {
            register_derived(&ctx, data_dir, name, schema).await?;
        }
        Ok(ctx)
    }

    /// Row counts of every fact table.
    pub async fn row_counts(&self) -> Result<BTreeMap<String, u64>, EngineError> {
        let mut out = BTreeMap::new();
        for t in FACT_TABLES {
            let rows = self
                .query(&format!("SELECT COUNT(*) AS n FROM {}", t.name))
                .await?;
            let n = rows
                .first()
                .and_then(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .map(|a| a.value(0))
                })
                .unwrap_or(0);
            out.insert(t.name.to_string(), n as u64);
        }
        Ok(out)
    }
}

const KEYRING_FACTORY: &str = "zhiying-keyring";

/// Hands DataFusion the process keyring's decryption properties for each file it reads.
#[derive(Debug)]
struct KeyringFactory;

#[async_trait::async_trait]
impl datafusion::execution::parquet_encryption::EncryptionFactory for KeyringFactory {
    async fn get_file_encryption_properties(
        &self,
        _config: &datafusion::common::config::EncryptionFactoryOptions,
        _schema: &arrow::datatypes::SchemaRef,
        _file_path: &datafusion::object_store::path::Path,
    ) -> datafusion::error::Result<
        Option<Arc<datafusion::parquet::encryption::encrypt::FileEncryptionProperties>>,
    > {
        // The engine only reads; facts are written by ingest through the keyring.
        Ok(None)
    }

    async fn get_file_decryption_properties(
        &self,
        _config: &datafusion::common::config::EncryptionFactoryOptions,
        file_path: &datafusion::object_store::path::Path,
    ) -> datafusion::error::Result<
        Option<Arc<datafusion::parquet::encryption::decrypt::FileDecryptionProperties>>,
    > {
        let ring = zhiying_keyring::current()
            .map_err(|e| datafusion::error::DataFusionError::Configuration(e.to_string()))?;
        // Object-store paths are relative to the file system root.
        let shown = format!("/{file_path}");
        Ok(Some(ring.decryption_properties(&shown).properties))
    }
}

async fn register_derived(
    ctx: &SessionContext,
    data_dir: &DataDir,
    name: &str,
    schema: arrow::datatypes::SchemaRef,
) -> Result<(), EngineError> {
    let file = data_dir.derived(name);
    let path = file.to_string_lossy().to_string();
    let err = |source| EngineError::Register {
        table: name.into(),
        path: path.clone(),
        source,
    };
    if file.exists() {
        let opts = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet(name, &path, opts).await.map_err(err)?;
    } else {
        let empty = MemTable::try_new(schema, vec![vec![]]).map_err(err)?;
        ctx.register_table(name, Arc::new(empty)).map_err(err)?;
    }
    Ok(())
}

async fn register_table(
    ctx: &SessionContext,
    data_dir: &DataDir,
    table: &TableDef,
) -> Result<(), EngineError> {
    let dir = data_dir.facts_dir(table.name);
    let schema = table.arrow_schema();
    let has_files = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        })
        .unwrap_or(false);
    let path = dir.to_string_lossy().to_string();
    let err = |source| EngineError::Register {
        table: table.name.into(),
        path: path.clone(),
        source,
    };
    if has_files {
        let opts = ParquetReadOptions::default()
            .schema(&schema)
            .file_extension(".parquet");
        ctx.register_parquet(table.name, &format!("{path}/"), opts)
            .await
            .map_err(err)?;
    } else {
        let empty = MemTable::try_new(schema, vec![vec![]]).map_err(err)?;
        ctx.register_table(table.name, Arc::new(empty))
            .map_err(err)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl AnalyticsEngine for DataFusionEngine {
    fn name(&self) -> &'static str {
        "datafusion"
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let started = std::time::Instant::now();
        let ctx = self.ctx.read().await;
        let err = |e: datafusion::error::DataFusionError| {
            EngineError::Query(e.to_string(), sql.to_string())
        };
        let batches = ctx
            .sql(sql)
            .await
            .map_err(err)?
            .collect()
            .await
            .map_err(err)?;
        tracing::debug!(millis = started.elapsed().as_millis() as u64, sql, "query");
        Ok(batches)
    }

    async fn refresh(&self) -> Result<(), EngineError> {
        let fresh = Self::build_context(&self.data_dir).await?;
        *self.ctx.write().await = fresh;
        Ok(())
    }
}

/// Quotes a string literal for SQL built from trusted identifiers plus user values.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use zhiying_core::schema::PRODUCTS;

    #[test]
    fn memory_sizes_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_memory_size("8G"), Some(8 << 30));
        assert_eq!(parse_memory_size("512m"), Some(512 << 20));
        assert_eq!(parse_memory_size(" 4 GiB "), Some(4 << 30));
        assert_eq!(parse_memory_size("1048576"), Some(1 << 20));
        assert_eq!(parse_memory_size("0"), None);
        assert_eq!(parse_memory_size("8T"), None);
        assert_eq!(parse_memory_size("G"), None);
        assert_eq!(parse_memory_size("99999999999999999999G"), None);
        assert_eq!(default_query_memory(24 << 30), 6 << 30);
        assert_eq!(default_query_memory(2 << 30), 1 << 30);
        assert_eq!(default_query_memory(256 << 30), 8 << 30);
    }

    #[tokio::test]
    async fn empty_tables_are_queryable_and_parquet_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        let engine = DataFusionEngine::open(&dd).await.unwrap();
        assert_eq!(engine.row_counts().await.unwrap()["transactions"], 0);

        let schema = PRODUCTS.arrow_schema();
        let s = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as _;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                s(&["P1", "P2"]),
                s(&["定期存款", "基金"]),
                s(&["Time deposit", "Fund"]),
                s(&["time_deposit", "fund"]),
                s(&["r1", "r4"]),
                Arc::new(Int64Array::from(vec![500_000, 100_000])),
                Arc::new(Int64Array::from(vec![Some(175), None])),
                Arc::new(arrow::array::Date32Array::from(vec![19000, 19100])),
            ],
        )
        .unwrap();
        std::fs::create_dir_all(dd.facts_dir("products")).unwrap();
        let f = std::fs::File::create(dd.fact_batch("products", "t1")).unwrap();
        let mut w = ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        engine.refresh().await.unwrap();
        let rows = engine
            .query_json("SELECT product_id, name_zh FROM products WHERE risk_level = 'r4'")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["name_zh"], "基金");
        let err = engine.query("SELECT nope FROM products").await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
