//! Files under the data directory: crash-safe rewrites without a customer's rows (Parquet,
//! CSV, JSON, JSON Lines), age-based Parquet purges, and the scan that proves what is left.
//!
//! Every rewrite goes: new file next to the old one → `fsync` → `rename` over the old one →
//! `fsync` of the directory. A crash leaves the old file or the new one, never half of each;
//! a leftover `*.erasing` temporary is deleted by the next run.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::PrivacyError;

const TMP_SUFFIX: &str = "erasing";

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Relative to the data directory.
    pub path: String,
    /// `parquet`, `csv`, `json` or `jsonl`.
    pub format: &'static str,
    pub rows_removed: u64,
    pub rows_kept: u64,
}

/// A place where a searched value still occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub path: String,
    /// Which of the searched values.
    pub value: String,
    /// `column <name>` for decoded Parquet, `bytes` otherwise.
    pub location: String,
}

/// `needle` occurs in `hay` as a whole token: not preceded or followed by an ASCII letter,
/// digit or `_`, so `C0001` does not match inside `C00012` but does in `客户C0001的`.
pub fn contains_token(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        if !before.is_some_and(word) && !after.is_some_and(word) {
            return true;
        }
        from = start + needle.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Ids match as whole tokens; numeric identifiers (phone, resident id, card number: digits,
/// with a final `X` for resident ids) match anywhere, so `+8613812345678` mentions
/// `13812345678`.
fn mentions_any(s: &str, needles: &BTreeSet<String>) -> bool {
    needles.iter().any(|n| {
        let numeric = n.len() >= 6
            && n.char_indices()
                .all(|(i, c)| c.is_ascii_digit() || (i + 1 == n.len() && (c == 'X' || c == 'x')));
        if numeric {
            s.contains(n.as_str())
        } else {
            contains_token(s, n)
        }
    })
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{TMP_SUFFIX}"));
    path.with_file_name(name)
}

fn sync_dir(dir: &Path) -> Result<(), PrivacyError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PrivacyError::io(dir, e))
}

/// Writes `bytes` to `path` crash-safely.
fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), PrivacyError> {
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp).map_err(|e| PrivacyError::io(&tmp, e))?;
    write(&mut f)
        .and_then(|_| f.sync_all())
        .map_err(|e| PrivacyError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| PrivacyError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `pattern` is a relative path (the file or everything under the folder), or a prefix
/// ending in `*`.
fn skipped(rel: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => rel.starts_with(prefix),
        None => rel == pattern || rel.starts_with(&format!("{pattern}/")),
    }
}

/// Every regular file under `root`, sorted, skipping `skip` (see [`skipped`]).
pub fn walk(root: &Path, skip: &[&str]) -> Result<Vec<PathBuf>, PrivacyError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(PrivacyError::io(&dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| PrivacyError::io(&dir, e))?;
            let p = entry.path();
            let r = rel(root, &p);
            if skip.iter().any(|s| skipped(&r, s)) {
                continue;
            }
            let ft = entry.file_type().map_err(|e| PrivacyError::io(&p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

// ---- Parquet ----

fn as_strings(col: &ArrayRef) -> Option<StringArray> {
    match col.data_type() {
        DataType::Utf8 => col.as_any().downcast_ref::<StringArray>().cloned(),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            cast(col, &DataType::Utf8)
                .ok()
                .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
        }
        _ => None,
    }
}

fn as_micros(col: &ArrayRef) -> Option<Int64Array> {
    let micros = match col.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => col.clone(),
        DataType::Timestamp(_, _) => {
            cast(col, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?
        }
        DataType::Int64 => col.clone(),
        _ => return None,
    };
    cast(&micros, &DataType::Int64)
        .ok()
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned())
}

/// Rewrites a Parquet file keeping the rows `keep` marks true. Returns `None` when nothing
/// was removed (the file is then left untouched), else the counts. Key-value metadata,
/// the schema and the row order are preserved.
pub fn rewrite_parquet(
    path: &Path,
    keep: &dyn Fn(&RecordBatch) -> Option<BooleanArray>,
) -> Result<Option<(u64, u64)>, PrivacyError> {
    let builder = zhiying_keyring::open_reader(path).map_err(|e| PrivacyError::parquet(path, e))?;
    let schema = builder.schema().clone();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let reader = builder
        .build()
        .map_err(|e| PrivacyError::parquet(path, e))?;
    let mut kept_batches = Vec::new();
    let (mut removed, mut kept) = (0u64, 0u64);
    for batch in reader {
        let batch = batch.map_err(|e| PrivacyError::parquet(path, e))?;
        match keep(&batch) {
            Some(mask) => {
                let b = filter_record_batch(&batch, &mask)
                    .map_err(|e| PrivacyError::parquet(path, e))?;
                removed += (batch.num_rows() - b.num_rows()) as u64;
                kept += b.num_rows() as u64;
                kept_batches.push(b);
            }
            None => {
                kept += batch.num_rows() as u64;
                kept_batches.push(batch);
            }
        }
    }
    if removed == 0 {
        return Ok(None);
    }
    // The embedded Arrow schema is rewritten by the writer; keep the other metadata.
    let kv = kv.map(|v| {
        v.into_iter()
            .filter(|e| e.key != "ARROW:schema")
            .collect::<Vec<_>>()
    });
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_key_value_metadata(kv);
    // A fact file stays encrypted (under the active key) through an erasure rewrite.
    let props = match zhiying_keyring::parquet_io::fact_table_of(path) {
        Some(table) => zhiying_keyring::writer_properties(table, &schema, builder)
            .map_err(|e| PrivacyError::parquet(path, e))?,
        None => builder.build(),
    };
    let tmp = tmp_path(path);
    let out = File::create(&tmp).map_err(|e| PrivacyError::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))
        .map_err(|e| PrivacyError::parquet(&tmp, e))?;
    for b in &kept_batches {
        w.write(b).map_err(|e| PrivacyError::parquet(&tmp, e))?;
    }
    let file = w.into_inner().map_err(|e| PrivacyError::parquet(&tmp, e))?;
    file.sync_all().map_err(|e| PrivacyError::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| PrivacyError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(Some((removed, kept)))
}

/// A mask that drops rows whose `customer_id` is one of `ids`; `None` if the batch has no
/// such column.
pub fn customer_mask(batch: &RecordBatch, ids: &BTreeSet<String>) -> Option<BooleanArray> {
    let col = batch.column_by_name("customer_id")?;
    let s = as_strings(col)?;
    Some(
        (0..s.len())
            .map(|i| Some(s.is_null(i) || !ids.contains(s.value(i))))
            .collect(),
    )
}

/// A mask that drops rows whose `column` (a timestamp or micros) is before `before`.
pub fn age_mask(batch: &RecordBatch, column: &str, before: i64) -> Option<BooleanArray> {
    let col = batch.column_by_name(column)?;
    let t = as_micros(col)?;
    Some(
        (0..t.len())
            .map(|i| Some(t.is_null(i) || t.value(i) >= before))
            .collect(),
    )
}

/// Rows of `path` whose `customer_id` is in `ids` (for the access export).
pub fn parquet_rows_of(
    path: &Path,
    ids: &BTreeSet<String>,
) -> Result<Vec<RecordBatch>, PrivacyError> {
    let builder = zhiying_keyring::open_reader(path).map_err(|e| PrivacyError::parquet(path, e))?;
    if builder.schema().field_with_name("customer_id").is_err() {
        return Ok(Vec::new());
    }
    let reader = builder
        .build()
        .map_err(|e| PrivacyError::parquet(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| PrivacyError::parquet(path, e))?;
        if let Some(drop) = customer_mask(&batch, ids) {
            let select: BooleanArray = drop.iter().map(|v| v.map(|keep| !keep)).collect();
            let b =
                filter_record_batch(&batch, &select).map_err(|e| PrivacyError::parquet(path, e))?;
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
    }
    Ok(out)
}

// ---- text formats ----

/// Removes from a JSON value every array element and object entry that mentions one of
/// `ids` (as a key, or a string value containing it as a token). Returns how many were
/// removed. The top level itself is never removed.
fn scrub_json(v: &mut serde_json::Value, ids: &BTreeSet<String>) -> u64 {
    use serde_json::Value;
    fn mentions(v: &Value, ids: &BTreeSet<String>) -> bool {
        match v {
            Value::String(s) => mentions_any(s, ids),
            _ => false,
        }
    }
    let mut removed = 0;
    match v {
        Value::Array(items) => {
            let before = items.len();
            items.retain(|x| !mentions(x, ids) && !direct_fields_mention(x, ids));
            removed += (before - items.len()) as u64;
            for x in items.iter_mut() {
                removed += scrub_json(x, ids);
            }
        }
        Value::Object(map) => {
            let keys: Vec<String> = map
                .iter()
                .filter(|(k, x)| mentions_any(k, ids) || mentions(x, ids))
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                map.remove(&k);
                removed += 1;
            }
            for x in map.values_mut() {
                removed += scrub_json(x, ids);
            }
        }
        _ => {}
    }
    removed
}

/// An object (a record) one of whose own scalar fields mentions an id: the record is about
/// that customer and goes whole.
fn direct_fields_mention(v: &serde_json::Value, ids: &BTreeSet<String>) -> bool {
    match v {
        serde_json::Value::Object(map) => map
            .values()
            .any(|x| matches!(x, serde_json::Value::String(s) if mentions_any(s, ids))),
        _ => false,
    }
}

fn json_mentions(v: &serde_json::Value, ids: &BTreeSet<String>) -> bool {
    match v {
        serde_json::Value::String(s) => mentions_any(s, ids),
        serde_json::Value::Array(a) => a.iter().any(|x| json_mentions(x, ids)),
        serde_json::Value::Object(m) => m
            .iter()
            .any(|(k, x)| mentions_any(k, ids) || json_mentions(x, ids)),
        _ => false,
    }
}

fn rewrite_jsonl(path: &Path, ids: &BTreeSet<String>) -> Result<Option<(u64, u64)>, PrivacyError> {
    let f = File::open(path).map_err(|e| PrivacyError::io(path, e))?;
    let mut kept = Vec::new();
    let (mut removed, mut n_kept) = (0u64, 0u64);
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| PrivacyError::io(path, e))?;
        let about = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) => json_mentions(&v, ids),
            Err(_) => mentions_any(&line, ids),
        };
        if about {
            removed += 1;
        } else {
            kept.extend_from_slice(line.as_bytes());
            kept.push(b'\n');
            n_kept += 1;
        }
    }
    if removed == 0 {
        return Ok(None);
    }
    replace_file(path, |f| f.write_all(&kept))?;
    Ok(Some((removed, n_kept)))
}

fn rewrite_json(path: &Path, ids: &BTreeSet<String>) -> Result<Option<(u64, u64)>, PrivacyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PrivacyError::io(path, e))?;
    if !mentions_any(&text, ids) {
        return Ok(None);
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let removed = scrub_json(&mut v, ids);
    if removed == 0 {
        return Ok(None);
    }
    let out = serde_json::to_vec_pretty(&v)
        .map_err(|e| PrivacyError::Other(format!("{}: {e}", path.display())))?;
    replace_file(path, |f| f.write_all(&out))?;
    Ok(Some((removed, 0)))
}

fn rewrite_csv(path: &Path, ids: &BTreeSet<String>) -> Result<Option<(u64, u64)>, PrivacyError> {
    let mut raw = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut raw))
        .map_err(|e| PrivacyError::io(path, e))?;
    if !mentions_any(&raw, ids) {
        return Ok(None);
    }
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw.as_bytes());
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let (mut removed, mut kept) = (0u64, 0u64);
    for rec in rd.records() {
        let rec = rec.map_err(|e| PrivacyError::Other(format!("{}: {e}", path.display())))?;
        if rec.iter().any(|f| mentions_any(f, ids)) {
            removed += 1;
        } else {
            out.write_record(&rec)
                .map_err(|e| PrivacyError::Other(format!("{}: {e}", path.display())))?;
            kept += 1;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| PrivacyError::Other(format!("{}: {e}", path.display())))?;
    if removed == 0 {
        return Ok(None);
    }
    replace_file(path, |f| f.write_all(&bytes))?;
    Ok(Some((removed, kept.saturating_sub(1))))
}

fn format_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with(".parquet") {
        Some("parquet")
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Some("jsonl")
    } else if name.ends_with(".json") {
        Some("json")
    } else if name.ends_with(".csv") {
        Some("csv")
    } else {
        None
    }
}

/// Removes `ids` from every file under `root` except those under `skip`: rows of Parquet
/// files whose `customer_id` is one of `ids`; CSV rows, JSON Lines records and JSON
/// records mentioning one of `needles` (the ids and the customer's unique identifiers:
/// phone, resident id, e-mail, so a rejected row without a usable id goes too).
/// Leftover temporaries of an interrupted run are deleted.
pub fn erase_files(
    root: &Path,
    ids: &BTreeSet<String>,
    needles: &BTreeSet<String>,
    skip: &[&str],
) -> Result<Vec<FileChange>, PrivacyError> {
    let mut changes = Vec::new();
    for path in walk(root, skip)? {
        if path.to_string_lossy().ends_with(&format!(".{TMP_SUFFIX}")) {
            std::fs::remove_file(&path).map_err(|e| PrivacyError::io(&path, e))?;
            continue;
        }
        let Some(format) = format_of(&path) else {
            continue;
        };
        let done = match format {
            "parquet" => rewrite_parquet(&path, &|b| customer_mask(b, ids))?,
            "jsonl" => rewrite_jsonl(&path, needles)?,
            "json" => rewrite_json(&path, needles)?,
            _ => rewrite_csv(&path, needles)?,
        };
        if let Some((rows_removed, rows_kept)) = done {
            changes.push(FileChange {
                path: rel(root, &path),
                format,
                rows_removed,
                rows_kept,
            });
        }
    }
    Ok(changes)
}

/// Drops rows older than `before` (UTC micros) from every Parquet file in `dir`, judged by
/// `column`. Returns the files changed.
pub fn purge_parquet_dir(
    root: &Path,
    dir: &Path,
    column: &str,
    before: i64,
    dry_run: bool,
) -> Result<Vec<FileChange>, PrivacyError> {
    let mut changes = Vec::new();
    for path in walk(dir, &[])? {
        if format_of(&path) != Some("parquet") {
            continue;
        }
        let outcome = if dry_run {
            count_parquet(&path, &|b| age_mask(b, column, before))?
        } else {
            rewrite_parquet(&path, &|b| age_mask(b, column, before))?
        };
        if let Some((rows_removed, rows_kept)) = outcome {
            changes.push(FileChange {
                path: rel(root, &path),
                format: "parquet",
                rows_removed,
                rows_kept,
            });
        }
    }
    Ok(changes)
}

fn count_parquet(
    path: &Path,
    keep: &dyn Fn(&RecordBatch) -> Option<BooleanArray>,
) -> Result<Option<(u64, u64)>, PrivacyError> {
    let reader = zhiying_keyring::open_reader(path)
        .and_then(|b| b.build())
        .map_err(|e| PrivacyError::parquet(path, e))?;
    let (mut removed, mut kept) = (0u64, 0u64);
    for batch in reader {
        let batch = batch.map_err(|e| PrivacyError::parquet(path, e))?;
        let k = keep(&batch).map_or(batch.num_rows() as u64, |m| m.true_count() as u64);
        kept += k;
        removed += batch.num_rows() as u64 - k;
    }
    Ok((removed > 0).then_some((removed, kept)))
}

/// Which of `values` occur in the file, read in 8 MiB chunks (overlapping by the longest
/// value) so large files are not loaded whole.
fn bytes_containing<'v>(path: &Path, values: &[&'v str]) -> Result<Vec<&'v str>, PrivacyError> {
    const CHUNK: usize = 8 << 20;
    let longest = values.iter().map(|v| v.len()).max().unwrap_or(0);
    let mut found = vec![false; values.len()];
    let mut f = File::open(path).map_err(|e| PrivacyError::io(path, e))?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + longest);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut chunk).map_err(|e| PrivacyError::io(path, e))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        for (i, v) in values.iter().enumerate() {
            if !found[i] && buf.windows(v.len()).any(|w| w == v.as_bytes()) {
                found[i] = true;
            }
        }
        let keep = longest.saturating_sub(1).min(buf.len());
        buf.drain(..buf.len() - keep);
    }
    Ok(values
        .iter()
        .zip(found)
        .filter(|(_, f)| *f)
        .map(|(v, _)| *v)
        .collect())
}

/// Where any of `values` still occurs under `root` (except `skip`): Parquet is decoded and
/// every string-like column searched; every other file is searched byte for byte (the event
/// log, SQLite files and their WAL included unless skipped).
pub fn find_references(
    root: &Path,
    values: &[&str],
    skip: &[&str],
) -> Result<Vec<Reference>, PrivacyError> {
    let mut out = Vec::new();
    let values: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    for path in walk(root, skip)? {
        if format_of(&path) == Some("parquet") {
            let reader = zhiying_keyring::open_reader(&path)
                .and_then(|b| b.build())
                .map_err(|e| PrivacyError::parquet(&path, e))?;
            let mut seen = BTreeSet::new();
            for batch in reader {
                let batch = batch.map_err(|e| PrivacyError::parquet(&path, e))?;
                for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                    let Ok(s) = cast(col, &DataType::Utf8) else {
                        continue;
                    };
                    let Some(s) = s.as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    for v in &values {
                        if s.iter().flatten().any(|x| x.contains(v))
                            && seen.insert((field.name().clone(), v.to_string()))
                        {
                            out.push(Reference {
                                path: rel(root, &path),
                                value: v.to_string(),
                                location: format!("column {}", field.name()),
                            });
                        }
                    }
                }
            }
            continue;
        }
        for v in bytes_containing(&path, &values)? {
            out.push(Reference {
                path: rel(root, &path),
                value: v.to_string(),
                location: "bytes".into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_whole_ids_only() {
        assert!(contains_token("C0001", "C0001"));
        assert!(contains_token("x,C0001,y", "C0001"));
        assert!(!contains_token("C00012", "C0001"));
        assert!(!contains_token("AC0001", "C0001"));
        assert!(contains_token("客户C0001的", "C0001"));
        assert!(contains_token("\"C0001\"", "C0001"));
        assert!(!contains_token("", "C0001"));
        let needles: BTreeSet<String> = ["C0001".to_string(), "13812345678".to_string()].into();
        assert!(mentions_any("tel +8613812345678", &needles));
        assert!(!mentions_any("C00012, 1381234567", &needles));
    }

    #[test]
    fn json_records_about_the_customer_go_whole() {
        let ids: BTreeSet<String> = ["C1".to_string()].into();
        let mut v = serde_json::json!({
            "planted": [{"customer_id": "C1", "x": 1}, {"customer_id": "C2", "x": 2}],
            "C1": {"score": 3},
            "ids": ["C1", "C3"],
            "n": 4
        });
        let removed = scrub_json(&mut v, &ids);
        assert_eq!(removed, 3);
        assert_eq!(
            v,
            serde_json::json!({"planted": [{"customer_id": "C2", "x": 2}], "ids": ["C3"], "n": 4})
        );
    }
}
