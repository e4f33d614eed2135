//! Parquet modular encryption for the facts, and the one way to open Parquet files.
//!
//! A fact file written while a key is active has an **encrypted footer** and its C2/C3
//! columns encrypted, both with the active data key (AES-GCM, `AES_GCM_V1`); the key id is
//! the key metadata of the footer and of each encrypted column, so a reader finds the key
//! through [`Keyring::decryption_properties`]'s retriever and old files keep reading after a
//! rotation while both keys are in the ring. C1 column pages stay plaintext (less work for
//! tag builds, which mostly scan C1 columns), but without the key nothing of the file can be
//! read: the footer holding the schema, row counts and every column's statistics is
//! encrypted, so C2 min/max values do not leak through statistics either.
//!
//! Every Parquet reader and writer in the workspace opens files through [`open_reader`],
//! [`open_metadata`] and [`writer_properties`] (DataFusion through the engine's encryption
//! factory, which calls [`Keyring::decryption_properties`]), so there is one place that
//! decides what is encrypted.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use zhiying_core::schema::{Sensitivity, TableDef};

use crate::keys::{KeyError, KeySource, Keyring, current};

/// The columns of `table` that are encrypted at rest: C2 and C3.
pub fn sensitive_columns(table: &TableDef) -> Vec<&'static str> {
    table
        .columns
        .iter()
        .filter(|c| c.sensitivity >= Sensitivity::C2)
        .map(|c| c.name)
        .collect()
}

/// [`sensitive_columns`] that a file with `schema` has (an older file may lack a column;
/// Parquet refuses keys for columns it does not have).
fn sensitive_in(table: &TableDef, schema: &arrow_schema::Schema) -> Vec<&'static str> {
    sensitive_columns(table)
        .into_iter()
        .filter(|c| schema.field_with_name(c).is_ok())
        .collect()
}

/// The fact table a file belongs to, from its place in the data directory
/// (`…/facts/<table>/<file>.parquet`); `None` for derived and other files.
pub fn fact_table_of(path: &Path) -> Option<&'static TableDef> {
    let dir = path.parent()?;
    if dir.parent()?.file_name()? != "facts" {
        return None;
    }
    let name = dir.file_name()?.to_str()?;
    zhiying_core::schema::FACT_TABLES
        .iter()
        .copied()
        .find(|t| t.name == name)
}

fn key_err(e: KeyError) -> ParquetError {
    ParquetError::General(e.to_string())
}

/// Finds keys by the id stored as key metadata, remembering which ids it was asked for.
struct Retriever {
    ring: Arc<Keyring>,
    path: String,
    used: Mutex<BTreeSet<String>>,
}

impl KeyRetriever for Retriever {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        let kid = std::str::from_utf8(key_metadata).map_err(|_| {
            ParquetError::General(format!(
                "{}: the key metadata is not a Zhiying key id (not UTF-8); was the file written by another tool?",
                self.path
            ))
        })?;
        match self.ring.get(kid) {
            Some(k) => {
                self.used
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(kid.to_string());
                Ok(k.key.to_vec())
            }
            None => {
                let have = match self.ring.source() {
                    KeySource::None => "no data keys are configured".to_string(),
                    KeySource::File(p) => format!(
                        "the key file {} holds {:?}",
                        p.display(),
                        self.ring.key_ids()
                    ),
                    _ => format!("the keyring holds {:?}", self.ring.key_ids()),
                };
                Err(ParquetError::General(format!(
                    "{} is encrypted with key id '{kid}', which is not available ({have}); {}",
                    self.path,
                    crate::keys::HINT
                )))
            }
        }
    }
}

/// Decryption properties for one file and the set of key ids the reader asked for.
pub struct FileDecryption {
    pub properties: Arc<FileDecryptionProperties>,
    used: Arc<Retriever>,
}

impl FileDecryption {
    /// The key ids used by the file so far (the footer key once the metadata is read);
    /// empty for a plaintext file.
    pub fn key_ids(&self) -> BTreeSet<String> {
        self.used
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Keyring {
    /// Encryption for a file with `columns` encrypted, or `None` when no key is active or
    /// there is nothing sensitive to protect.
    pub fn file_encryption(
        &self,
        columns: &[&str],
    ) -> Result<Option<Arc<FileEncryptionProperties>>, ParquetError> {
        let Some(key) = self.active() else {
            return Ok(None);
        };
        if columns.is_empty() {
            return Ok(None);
        }
        let kid = key.id.as_bytes().to_vec();
        let mut b = FileEncryptionProperties::builder(key.key.to_vec())
            .with_footer_key_metadata(kid.clone());
        for c in columns {
            b = b.with_column_key_and_metadata(c, key.key.to_vec(), kid.clone());
        }
        b.build().map(Some)
    }

    /// Decryption properties for reading `path` (plaintext files read with them too).
    pub fn decryption_properties(self: &Arc<Self>, path: &str) -> FileDecryption {
        let r = Arc::new(Retriever {
            ring: Arc::clone(self),
            path: path.to_string(),
            used: Mutex::new(BTreeSet::new()),
        });
        let properties =
            FileDecryptionProperties::with_key_retriever(Arc::clone(&r) as Arc<dyn KeyRetriever>)
                .build()
                .unwrap_or_else(|_| {
                    unreachable!("building retriever-based properties cannot fail")
                });
        FileDecryption {
            properties,
            used: r,
        }
    }
}

/// Writer properties for a file of `table` with `schema`: `builder`'s settings, plus
/// encryption of the table's C2/C3 columns when the process keyring has an active key.
pub fn writer_properties(
    table: &TableDef,
    schema: &arrow_schema::Schema,
    builder: WriterPropertiesBuilder,
) -> Result<WriterProperties, ParquetError> {
    let ring = current().map_err(key_err)?;
    Ok(match ring.file_encryption(&sensitive_in(table, schema))? {
        Some(enc) => builder.with_file_encryption_properties(enc).build(),
        None => builder.build(),
    })
}

fn open_with(
    ring: &Arc<Keyring>,
    path: &Path,
    options: ArrowReaderOptions,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, FileDecryption), ParquetError> {
    let shown = path.display().to_string();
    let dec = ring.decryption_properties(&shown);
    let f = File::open(path).map_err(|e| ParquetError::External(Box::new(io_context(path, e))))?;
    let opts = options.with_file_decryption_properties(Arc::clone(&dec.properties));
    let b = ParquetRecordBatchReaderBuilder::try_new_with_options(f, opts).map_err(|e| {
        let msg = e.to_string();
        if msg.contains(&shown) {
            e
        } else if msg.contains("decrypt") {
            ParquetError::General(format!(
                "{shown}: {msg}. The key material for this key id differs from the one the file was written with; check the key file"
            ))
        } else {
            ParquetError::General(format!("{shown}: {msg}"))
        }
    })?;
    Ok((b, dec))
}

fn io_context(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Opens a Parquet file for reading with the process keyring: encrypted and plaintext
/// files alike. A missing key fails with an error naming the file, the key id and how to
/// supply it.
pub fn open_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ParquetError> {
    open_reader_with(path, ArrowReaderOptions::new())
}

/// [`open_reader`] with reader options (page index, schema hints…).
pub fn open_reader_with(
    path: &Path,
    options: ArrowReaderOptions,
) -> Result<ParquetRecordBatchReaderBuilder<File>, ParquetError> {
    let ring = current().map_err(key_err)?;
    Ok(open_with(&ring, path, options)?.0)
}

/// A file's metadata (footer), decrypted if needed.
pub fn open_metadata(path: &Path) -> Result<Arc<ParquetMetaData>, ParquetError> {
    Ok(Arc::clone(open_reader(path)?.metadata()))
}

/// The key ids a file is encrypted with (empty: plaintext).
pub fn file_key_ids(ring: &Arc<Keyring>, path: &Path) -> Result<BTreeSet<String>, ParquetError> {
    let (_, dec) = open_with(ring, path, ArrowReaderOptions::new())?;
    Ok(dec.key_ids())
}

/// Rewrites one fact file of `table` under the ring's active key: reads every batch,
/// writes a temp file beside it, fsyncs and renames over the original (then fsyncs the
/// directory), so a crash leaves either the old or the new file. Returns false when the
/// file already uses only the active key (a rerun after an interrupted rotation skips it).
/// `builder` carries the table's usual writer settings (compression, row groups); the
/// file's own key-value metadata is kept.
pub fn reencrypt_file(
    ring: &Arc<Keyring>,
    table: &TableDef,
    path: &Path,
    builder: WriterPropertiesBuilder,
) -> Result<bool, ParquetError> {
    let (reader, dec) = open_with(ring, path, ArrowReaderOptions::new())?;
    let columns = sensitive_in(table, reader.schema());
    let used = dec.key_ids();
    let target: BTreeSet<String> = match (ring.active_id(), columns.is_empty()) {
        (Some(a), false) => [a.to_string()].into(),
        _ => BTreeSet::new(),
    };
    if used == target {
        return Ok(false);
    }
    let schema = Arc::clone(reader.schema());
    // ArrowWriter writes its own `ARROW:schema` entry; keep the rest (e.g. erasure marks).
    let kv: Vec<_> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter(|e| e.key != "ARROW:schema")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let props = if kv.is_empty() {
        builder
    } else {
        builder.set_key_value_metadata(Some(kv))
    };
    let props = match ring.file_encryption(&columns)? {
        Some(enc) => props.with_file_encryption_properties(enc).build(),
        None => props.build(),
    };
    let reader = reader.build()?;
    let tmp = path.with_extension("parquet.rekey.tmp");
    let out =
        File::create(&tmp).map_err(|e| ParquetError::External(Box::new(io_context(&tmp, e))))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?;
    for batch in reader {
        w.write(&batch?)?;
    }
    let f = w.into_inner()?;
    f.sync_all()
        .map_err(|e| ParquetError::External(Box::new(io_context(&tmp, e))))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| ParquetError::External(Box::new(io_context(path, e))))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(true)
}
