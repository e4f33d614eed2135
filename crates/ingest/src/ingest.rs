//! `ingest_files`: the pipeline from input files to one committed batch.
//!
//! The calling thread reads, validates, deduplicates and fills Arrow builders; a second
//! thread encodes and writes Parquet, so parsing and compression overlap on two cores.

use crate::keys::{self, KeyMap, KeySet, hash_key};
use crate::source::{Next, Source};
use crate::validate::{Builders, Rejection, Validator};
use crate::{IngestError, IngestOptions, IngestSummary, InputFormat};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;
use zhiying_core::DataDir;
use zhiying_core::schema::{ColumnType, TableDef, TableKind};

/// Rows per Arrow batch handed to the writer thread.
const BATCH_ROWS: usize = 64 * 1024;

/// Where the run record of a batch lives: `DATA_DIR/runs/<table>/batch-<id>.json`. Its
/// presence marks the batch as committed.
pub fn run_record_path(data_dir: &DataDir, table: &str, batch_id: &str) -> PathBuf {
    runs_dir(data_dir, table).join(format!("batch-{batch_id}.json"))
}

pub(crate) fn runs_dir(data_dir: &DataDir, table: &str) -> PathBuf {
    data_dir.root().join("runs").join(table)
}

/// `dir/.batch-<id>.ext.tmp`: hidden, and never matched by readers of `batch-*` files.
fn tmp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}.tmp"))
}

fn remove_if_exists(p: &Path) -> Result<(), IngestError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IngestError::io(p, e)),
        _ => Ok(()),
    }
}

fn create_dir(p: &Path) -> Result<(), IngestError> {
    std::fs::create_dir_all(p).map_err(|e| IngestError::io(p, e))
}

/// Renames into place and syncs the directory, so the commit survives a power cut.
fn commit(tmp: &Path, dest: &Path) -> Result<(), IngestError> {
    std::fs::rename(tmp, dest).map_err(|e| IngestError::io(dest, e))?;
    if let Some(dir) = dest.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// First 16 hex digits of blake3(table, each file's length and bytes, options).
fn batch_id(
    table: &TableDef,
    files: &[PathBuf],
    formats: &[InputFormat],
    opts: &IngestOptions,
) -> Result<String, IngestError> {
    let mut h = blake3::Hasher::new();
    h.update(table.name.as_bytes());
    h.update(&[0]);
    for (f, fmt) in files.iter().zip(formats) {
        let file = File::open(f).map_err(|e| IngestError::io(f, e))?;
        let len = file.metadata().map_err(|e| IngestError::io(f, e))?.len();
        h.update(fmt.as_str().as_bytes());
        h.update(&len.to_le_bytes());
        h.update_reader(file).map_err(|e| IngestError::io(f, e))?;
    }
    h.update(
        format!(
            "|{:?}|{}|{}",
            opts.amount_unit, opts.naive_offset_secs, opts.delimiter
        )
        .as_bytes(),
    );
    Ok(h.finalize().to_hex()[..16].to_string())
}

/// The writer settings of a fact file of `table`, before encryption (which
/// [`zhiying_keyring::writer_properties`] adds): also what a key rotation rewrites with.
pub fn fact_writer_builder(table: &TableDef) -> WriterPropertiesBuilder {
    // Codes repeat, so dictionary-encode them; ids and free text rarely repeat and would
    // only pay for a dictionary that overflows.
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_dictionary_enabled(false)
        // Small row groups let min/max statistics skip most of a batch when a query asks
        // for one customer (the customer-360 view) or a time range.
        .set_max_row_group_row_count(Some(64 * 1024));
    for c in table.columns {
        if matches!(c.ty, ColumnType::Code(_) | ColumnType::Bool) {
            b = b.set_column_dictionary_enabled(ColumnPath::from(c.name), true);
        }
        // Customer ids are not sorted across source systems (C… and K… records interleave),
        // so min/max statistics cannot skip row groups; a bloom filter can.
        if c.name == "customer_id" && !table.primary_key.contains(&c.name) {
            b = b
                .set_column_bloom_filter_enabled(ColumnPath::from(c.name), true)
                .set_column_bloom_filter_max_ndv(ColumnPath::from(c.name), 8 * 1024);
        }
    }
    b
}

/// The writer thread: opens the temp file on the first batch, returns rows written.
fn write_batches(
    rx: Receiver<RecordBatch>,
    path: &Path,
    table: &TableDef,
) -> Result<u64, IngestError> {
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut rows = 0u64;
    for batch in rx {
        let w = match &mut writer {
            Some(w) => w,
            None => {
                let f = File::create(path).map_err(|e| IngestError::io(path, e))?;
                let schema = table.arrow_schema();
                let props =
                    zhiying_keyring::writer_properties(table, &schema, fact_writer_builder(table))
                        .map_err(|e| IngestError::parquet(path, e))?;
                writer.insert(
                    ArrowWriter::try_new(f, schema, Some(props))
                        .map_err(|e| IngestError::parquet(path, e))?,
                )
            }
        };
        rows += batch.num_rows() as u64;
        w.write(&batch).map_err(|e| IngestError::parquet(path, e))?;
    }
    if let Some(w) = writer {
        let f = w.into_inner().map_err(|e| IngestError::parquet(path, e))?;
        f.sync_all().map_err(|e| IngestError::io(path, e))?;
    }
    Ok(rows)
}

#[derive(serde::Serialize)]
struct QuarantineRecord<'a> {
    source_file: &'a str,
    line: u64,
    raw: &'a str,
    reason: &'a str,
    column: Option<&'a str>,
    hint: &'a str,
}

/// The quarantine file, opened on the first rejected row.
struct Quarantine {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Quarantine {
    fn write(&mut self, rec: &QuarantineRecord<'_>) -> Result<(), IngestError> {
        let out = match &mut self.out {
            Some(o) => o,
            None => {
                let f = File::create(&self.path).map_err(|e| IngestError::io(&self.path, e))?;
                self.out.insert(BufWriter::with_capacity(1 << 16, f))
            }
        };
        serde_json::to_writer(&mut *out, rec).map_err(|e| IngestError::Json {
            path: self.path.clone(),
            source: e,
        })?;
        out.write_all(b"\n")
            .map_err(|e| IngestError::io(&self.path, e))
    }

    /// Flushes and syncs; true when anything was written.
    fn finish(self) -> Result<bool, IngestError> {
        match self.out {
            None => Ok(false),
            Some(o) => {
                let f = o
                    .into_inner()
                    .map_err(|e| IngestError::io(&self.path, e.into_error()))?;
                f.sync_all().map_err(|e| IngestError::io(&self.path, e))?;
                Ok(true)
            }
        }
    }
}

/// A referential-integrity check of one column.
struct RefCheck {
    col: usize,
    name: &'static str,
    target: (&'static str, &'static str),
    /// Index into the loaded key sets; `None` for a reference to the table being loaded.
    keys: Option<usize>,
}

#[derive(Default)]
struct Counts {
    rows_read: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    by_reason: BTreeMap<String, u64>,
    by_column: BTreeMap<String, u64>,
}

/// Ingests `files` into `table` as one batch. See the crate docs for the semantics.
pub fn ingest_files(
    data_dir: &DataDir,
    table: &TableDef,
    files: &[PathBuf],
    opts: &IngestOptions,
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    if files.is_empty() {
        return Err(IngestError::NoFiles);
    }
    if table.kind != TableKind::Fact {
        return Err(IngestError::NotFactTable {
            table: table.name.to_string(),
            expected: zhiying_core::schema::fact_table_names().join(", "),
        });
    }
    let formats = files
        .iter()
        .map(|f| {
            opts.format
                .or_else(|| InputFormat::from_path(f))
                .ok_or_else(|| IngestError::UnknownFormat { file: f.clone() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let id = batch_id(table, files, &formats, opts)?;
    let fact_final = data_dir.fact_batch(table.name, &id);
    let quar_final = data_dir.quarantine_batch(table.name, &id);
    let run_final = run_record_path(data_dir, table.name, &id);
    let (fact_tmp, quar_tmp, run_tmp) = (
        tmp_path(&fact_final),
        tmp_path(&quar_final),
        tmp_path(&run_final),
    );

    // Committed: a pure re-ingest, which only counts. Recovering: a crash hit after the
    // Parquet rename but before the run record; redo the run against the other batches.
    let committed = run_final.exists();
    let recovering = !committed && fact_final.exists();
    if !committed {
        for d in [
            data_dir.facts_dir(table.name),
            data_dir.quarantine_dir(table.name),
            runs_dir(data_dir, table.name),
        ] {
            create_dir(&d)?;
        }
        for t in [&fact_tmp, &quar_tmp, &run_tmp] {
            remove_if_exists(t)?;
        }
    }

    let pk_cols: Vec<usize> = table
        .primary_key
        .iter()
        .filter_map(|c| table.column_index(c))
        .collect();
    let stored = keys::load_keys(
        data_dir,
        table,
        table.primary_key,
        recovering.then_some(fact_final.as_path()),
    )?;
    let mut ref_sets: Vec<KeySet> = Vec::new();
    let mut ref_names: Vec<(&str, &str)> = Vec::new();
    let mut refs = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        let Some(target) = c.references else { continue };
        let keys = if target.0 == table.name {
            None
        } else if let Some(k) = ref_names.iter().position(|n| *n == target) {
            Some(k)
        } else {
            let Some(t) = zhiying_core::schema::fact_table(target.0) else {
                continue;
            };
            ref_sets.push(keys::load_keys(data_dir, t, &[target.1], None)?);
            ref_names.push(target);
            Some(ref_sets.len() - 1)
        };
        refs.push(RefCheck {
            col: i,
            name: c.name,
            target,
            keys,
        });
    }

    let write_parquet = !committed && !recovering;
    let mut quarantine = (!committed).then(|| Quarantine {
        path: quar_tmp.clone(),
        out: None,
    });
    let file_names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();

    let result = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let writer = if write_parquet {
            let path = fact_tmp.as_path();
            Some(scope.spawn(move || write_batches(rx, path, table)))
        } else {
            drop(rx);
            None
        };
        let mut ctx = Run {
            table,
            opts,
            stored: &stored,
            seen: KeyMap::default(),
            ref_sets: &ref_sets,
            refs: &refs,
            pk_cols: &pk_cols,
            quarantine: quarantine.as_mut(),
            tx: write_parquet.then_some(&tx),
            counts: Counts::default(),
        };
        let res = ctx.run(files, &formats, &file_names);
        let counts = ctx.counts;
        drop(tx);
        let written = match writer {
            Some(h) => h
                .join()
                .map_err(|_| IngestError::Pipeline("the Parquet writer panicked".into()))?,
            None => Ok(0),
        };
        // A writer failure (e.g. disk full) also makes the reader fail on send: report the cause.
        let written = written?;
        res?;
        Ok::<_, IngestError>((counts, written))
    });
    let (counts, written) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&fact_tmp);
            let _ = std::fs::remove_file(&quar_tmp);
            return Err(e);
        }
    };

    let mut summary = IngestSummary {
        table: table.name.to_string(),
        batch_id: id,
        files: file_names,
        rows_read: counts.rows_read,
        accepted: counts.accepted,
        rejected: counts.rejected,
        duplicates_skipped: counts.duplicates,
        quarantine_path: None,
        fact_path: None,
        rejections_by_reason: counts.by_reason,
        rejections_by_column: counts.by_column,
        already_ingested: committed,
        seconds: 0.0,
    };
    if committed {
        summary.quarantine_path = quar_final.exists().then_some(quar_final);
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    // Commit order: quarantine, then facts, then the run record that marks the batch done.
    if let Some(q) = quarantine
        && q.finish()?
    {
        commit(&quar_tmp, &quar_final)?;
        summary.quarantine_path = Some(quar_final);
    }
    if summary.accepted > 0 {
        if recovering {
            let stored_rows = crate::quality::parquet_rows(&fact_final)?;
            if stored_rows != summary.accepted {
                return Err(IngestError::BatchMismatch {
                    path: fact_final,
                    stored: stored_rows,
                    accepted: summary.accepted,
                });
            }
        } else {
            if written != summary.accepted {
                return Err(IngestError::Pipeline(format!(
                    "wrote {written} rows but accepted {}",
                    summary.accepted
                )));
            }
            if fact_final.exists() {
                // Another run committed the same batch meanwhile; never overwrite it.
                let _ = std::fs::remove_file(&fact_tmp);
            } else {
                commit(&fact_tmp, &fact_final)?;
            }
        }
        summary.fact_path = Some(fact_final);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| IngestError::Json {
        path: run_tmp.clone(),
        source: e,
    })?;
    std::fs::write(&run_tmp, json).map_err(|e| IngestError::io(&run_tmp, e))?;
    commit(&run_tmp, &run_final)?;
    Ok(summary)
}

/// State of one run over the input files.
struct Run<'a> {
    table: &'a TableDef,
    opts: &'a IngestOptions,
    stored: &'a KeySet,
    /// Keys accepted so far in this input → packed (file index, line) of their first row.
    seen: KeyMap<u64>,
    ref_sets: &'a [KeySet],
    refs: &'a [RefCheck],
    pk_cols: &'a [usize],
    quarantine: Option<&'a mut Quarantine>,
    tx: Option<&'a SyncSender<RecordBatch>>,
    counts: Counts,
}

const LINE_BITS: u32 = 44;

impl Run<'_> {
    fn run(
        &mut self,
        files: &[PathBuf],
        formats: &[InputFormat],
        names: &[String],
    ) -> Result<(), IngestError> {
        let mut v = Validator::new(
            self.table,
            self.opts.amount_unit,
            self.opts.naive_offset_secs,
        );
        let mut builders = self.tx.map(|_| Builders::new(self.table, BATCH_ROWS));
        let mut key = Vec::with_capacity(128);
        for (fi, (path, fmt)) in files.iter().zip(formats).enumerate() {
            let mut src = Source::open(path, *fmt, self.table, self.opts.delimiter)?;
            while let Some(next) = src.next()? {
                self.counts.rows_read += 1;
                let checked = match next {
                    Next::Reject(r) => Err(r),
                    Next::Row => v
                        .validate(|i| src.field(i))
                        .and_then(|()| self.check_refs(&v, &mut key)),
                };
                if let Err(r) = checked {
                    self.reject(&names[fi], src.line(), &src, &r)?;
                    continue;
                }
                v.key_bytes(self.pk_cols, &mut key);
                let h = hash_key(&key);
                if self.stored.contains(&h) {
                    self.counts.duplicates += 1;
                    continue;
                }
                match self.seen.entry(h) {
                    Entry::Occupied(e) => {
                        self.counts.duplicates += 1;
                        let (f0, l0) = (
                            (*e.get() >> LINE_BITS) as usize,
                            *e.get() & ((1 << LINE_BITS) - 1),
                        );
                        let where_ = if f0 == fi {
                            String::new()
                        } else {
                            format!(" of {}", names[f0])
                        };
                        let keytxt = String::from_utf8_lossy(&key).replace('\u{1f}', ",");
                        let what = format!("duplicate of line {l0}{where_}");
                        let hint = format!(
                            "{} '{keytxt}' appears earlier in the input and the first row was kept; remove the repeated row",
                            self.table.primary_key.join(",")
                        );
                        let r = Rejection::new(None, "duplicate_in_input", what, hint);
                        if let Some(q) = self.quarantine.as_deref_mut() {
                            let raw = src.raw();
                            q.write(&QuarantineRecord {
                                source_file: &names[fi],
                                line: src.line(),
                                raw: &raw,
                                reason: &r.reason,
                                column: None,
                                hint: &r.hint,
                            })?;
                        }
                        continue;
                    }
                    Entry::Vacant(e) => {
                        e.insert(((fi as u64) << LINE_BITS) | src.line());
                    }
                }
                self.counts.accepted += 1;
                if let Some(b) = builders.as_mut() {
                    b.append(&v);
                    if b.rows >= BATCH_ROWS {
                        self.send(b)?;
                    }
                }
            }
        }
        if let Some(b) = builders.as_mut()
            && b.rows > 0
        {
            self.send(b)?;
        }
        Ok(())
    }

    fn send(&self, b: &mut Builders) -> Result<(), IngestError> {
        let batch = b
            .finish()
            .map_err(|e| IngestError::Pipeline(format!("building a batch: {e}")))?;
        if let Some(tx) = self.tx {
            tx.send(batch)
                .map_err(|_| IngestError::Pipeline("the Parquet writer stopped".into()))?;
        }
        Ok(())
    }

    fn check_refs(&self, v: &Validator<'_>, key: &mut Vec<u8>) -> Result<(), Rejection> {
        for rc in self.refs {
            if !v.key_bytes(&[rc.col], key) {
                continue; // an optional reference left empty
            }
            let h = hash_key(key);
            let found = match rc.keys {
                Some(k) => self.ref_sets[k].contains(&h),
                None => self.stored.contains(&h) || self.seen.contains_key(&h),
            };
            if !found {
                let val = String::from_utf8_lossy(key);
                return Err(Rejection::new(
                    Some(rc.name),
                    "orphan_reference",
                    format!(
                        "'{}' is not a known {}.{}",
                        crate::clean::shown(&val),
                        rc.target.0,
                        rc.target.1
                    ),
                    format!("ingest the {} row first, or correct the id", rc.target.0),
                ));
            }
        }
        Ok(())
    }

    fn reject(
        &mut self,
        file: &str,
        line: u64,
        src: &Source,
        r: &Rejection,
    ) -> Result<(), IngestError> {
        self.counts.rejected += 1;
        *self.counts.by_reason.entry(r.kind.to_string()).or_default() += 1;
        if let Some(c) = r.column {
            *self.counts.by_column.entry(c.to_string()).or_default() += 1;
        }
        if let Some(q) = self.quarantine.as_deref_mut() {
            let raw = src.raw();
            q.write(&QuarantineRecord {
                source_file: file,
                line,
                raw: &raw,
                reason: &r.reason,
                column: r.column,
                hint: &r.hint,
            })?;
        }
        Ok(())
    }
}
