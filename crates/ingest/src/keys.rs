//! Key sets for duplicate detection and referential integrity.
//!
//! Keys are kept as 128-bit xxh3 hashes (16 bytes each, collision odds negligible at
//! billions of keys), so tens of millions of stored transaction ids fit in memory. Stored
//! keys are read from Parquet with a projection onto the key columns only.

use crate::IngestError;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::ProjectionMask;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use zhiying_core::DataDir;
use zhiying_core::schema::TableDef;

/// The keys are already uniformly distributed hashes: fold them instead of hashing again.
#[derive(Default, Clone, Copy)]
pub struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys; mix bytes in simply.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u128(&mut self, i: u128) {
        self.0 = (i as u64) ^ ((i >> 64) as u64);
    }
}

pub type Fold = BuildHasherDefault<FoldHasher>;
pub type KeySet = HashSet<u128, Fold>;
pub type KeyMap<V> = HashMap<u128, V, Fold>;

#[inline]
pub fn hash_key(bytes: &[u8]) -> u128 {
    twox_hash::XxHash3_128::oneshot(bytes)
}

/// `batch-<id>.parquet` files of a fact table, sorted; temp and foreign files are ignored.
pub fn batch_files(data_dir: &DataDir, table: &str) -> Result<Vec<PathBuf>, IngestError> {
    list_batches(&data_dir.facts_dir(table), "parquet")
}

pub(crate) fn list_batches(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, IngestError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IngestError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| IngestError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("batch-") && name.ends_with(&format!(".{ext}")) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the hashes of `columns` (joined by 0x1f) from every stored batch of `table`,
/// except `skip` (a batch being recovered). Rows with a null key part are not keys.
pub fn load_keys(
    data_dir: &DataDir,
    table: &TableDef,
    columns: &[&str],
    skip: Option<&Path>,
) -> Result<KeySet, IngestError> {
    let mut set = KeySet::default();
    let mut buf = Vec::with_capacity(128);
    for path in batch_files(data_dir, table.name)? {
        if Some(path.as_path()) == skip {
            continue;
        }
        let builder =
            zhiying_keyring::open_reader(&path).map_err(|e| IngestError::parquet(&path, e))?;
        let arrow_schema = builder.schema().clone();
        let mut idx = Vec::with_capacity(columns.len());
        for c in columns {
            match arrow_schema.index_of(c) {
                Ok(i) => idx.push(i),
                Err(e) => return Err(IngestError::arrow(&path, e)),
            }
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), idx.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(65536)
            .build()
            .map_err(|e| IngestError::parquet(&path, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| IngestError::arrow(&path, e))?;
            // The projected batch keeps file order; map requested columns to its positions.
            let cols: Vec<&dyn Array> = columns
                .iter()
                .map(|c| batch.column_by_name(c).map(|a| a.as_ref()))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    IngestError::Pipeline(format!("{}: key column missing", path.display()))
                })?;
            'rows: for r in 0..batch.num_rows() {
                buf.clear();
                for (n, a) in cols.iter().enumerate() {
                    if n > 0 {
                        buf.push(0x1f);
                    }
                    if a.is_null(r) {
                        continue 'rows;
                    }
                    append_canonical(*a, r, &mut buf);
                }
                set.insert(hash_key(&buf));
            }
        }
    }
    Ok(set)
}

/// The canonical key text of a stored value; must agree with `Validator::key_bytes`.
fn append_canonical(a: &dyn Array, r: usize, buf: &mut Vec<u8>) {
    match a.data_type() {
        DataType::Utf8 => buf.extend_from_slice(a.as_string::<i32>().value(r).as_bytes()),
        DataType::LargeUtf8 => buf.extend_from_slice(a.as_string::<i64>().value(r).as_bytes()),
        DataType::Int64 => buf.extend_from_slice(
            a.as_primitive::<Int64Type>()
                .value(r)
                .to_string()
                .as_bytes(),
        ),
        DataType::Timestamp(..) => buf.extend_from_slice(
            a.as_primitive::<TimestampMicrosecondType>()
                .value(r)
                .to_string()
                .as_bytes(),
        ),
        DataType::Date32 => buf.extend_from_slice(
            zhiying_core::time::format_date(a.as_primitive::<Date32Type>().value(r)).as_bytes(),
        ),
        DataType::Boolean => buf.extend_from_slice(if a.as_boolean().value(r) {
            b"true"
        } else {
            b"false"
        }),
        _ => buf.extend_from_slice(format!("{:?}", a.slice(r, 1)).as_bytes()),
    }
}
