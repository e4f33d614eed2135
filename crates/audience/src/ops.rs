//! What one does with an audience once its members are known: sample them, compare
//! several audiences, freeze a snapshot, export members with chosen tags.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use roaring::RoaringBitmap;
use serde::Serialize;
use twox_hash::XxHash3_128;
use zhiying_core::DataDir;

use crate::AudienceError;
use crate::error::did_you_mean;
use crate::index::AudienceIndex;
use crate::load::tags_parquet;

/// Up to `n` members chosen pseudo-randomly but deterministically: the members whose
/// `hash(seed, customer_id)` is smallest. The same data and seed give the same sample, and a
/// sample of 10 is a prefix of the sample of 20.
pub fn sample(index: &AudienceIndex, members: &RoaringBitmap, n: usize, seed: u64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<(u64, u32)> = BinaryHeap::with_capacity(n + 1);
    for id in members {
        let Some(cid) = index.customer_id(id) else {
            continue;
        };
        let h = XxHash3_128::oneshot_with_seed(seed, cid.as_bytes()) as u64;
        if heap.len() < n {
            heap.push((h, id));
        } else if let Some(&(top, _)) = heap.peek()
            && h < top
        {
            heap.pop();
            heap.push((h, id));
        }
    }
    let mut v = heap.into_vec();
    v.sort_unstable();
    v.into_iter()
        .filter_map(|(_, id)| index.customer_id(id).map(str::to_string))
        .collect()
}

/// The customers in exactly the listed audiences (indices into the input) and no other.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Region {
    pub sets: Vec<usize>,
    pub count: u64,
}

/// How 2–5 audiences overlap.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overlap {
    pub sizes: Vec<u64>,
    /// `matrix[i][j]` = |A_i ∩ A_j| (the diagonal is each size).
    pub matrix: Vec<Vec<u64>>,
    /// |A_i ∩ A_j| / |A_i ∪ A_j| (1 on the diagonal, 0 when both are empty).
    pub jaccard: Vec<Vec<f64>>,
    /// Venn regions: every non-empty combination, with the customers in exactly it.
    pub regions: Vec<Region>,
    pub union: u64,
}

/// The most audiences [`overlap`] compares (31 Venn regions).
pub const MAX_OVERLAP: usize = 5;

pub fn overlap(sets: &[RoaringBitmap]) -> Result<Overlap, AudienceError> {
    let k = sets.len();
    if !(2..=MAX_OVERLAP).contains(&k) {
        return Err(AudienceError::Invalid(format!(
            "overlap compares 2 to {MAX_OVERLAP} audiences, got {k}"
        )));
    }
    let sizes: Vec<u64> = sets.iter().map(|s| s.len()).collect();
    let mut matrix = vec![vec![0u64; k]; k];
    let mut jaccard = vec![vec![0f64; k]; k];
    for i in 0..k {
        for j in 0..k {
            let inter = if i == j {
                sizes[i]
            } else {
                sets[i].intersection_len(&sets[j])
            };
            matrix[i][j] = inter;
            let uni = sizes[i] + sizes[j] - inter;
            jaccard[i][j] = if uni == 0 {
                if i == j { 1.0 } else { 0.0 }
            } else {
                inter as f64 / uni as f64
            };
        }
    }
    let mut union = RoaringBitmap::new();
    for s in sets {
        union |= s;
    }
    let mut regions = Vec::new();
    for mask in 1u32..(1 << k) {
        let inside: Vec<usize> = (0..k).filter(|i| mask & (1 << i) != 0).collect();
        let mut acc = sets[inside[0]].clone();
        for &i in &inside[1..] {
            acc &= &sets[i];
        }
        for j in (0..k).filter(|j| mask & (1 << j) == 0) {
            if acc.is_empty() {
                break;
            }
            acc -= &sets[j];
        }
        regions.push(Region {
            sets: inside,
            count: acc.len(),
        });
    }
    Ok(Overlap {
        sizes,
        matrix,
        jaccard,
        regions,
        union: union.len(),
    })
}

/// Where a snapshot of audience `id` taken at `taken_at` (UTC) is written.
pub fn snapshot_path(dir: &DataDir, id: &str, taken_at: chrono::DateTime<chrono::Utc>) -> PathBuf {
    dir.root()
        .join("derived")
        .join("audiences")
        .join(id)
        .join(format!("{}.parquet", taken_at.format("%Y%m%dT%H%M%S%.6fZ")))
}

/// Writes the members' customer ids to `path` (Parquet, one `customer_id` column), through
/// a temporary file renamed into place so readers never see half a snapshot.
pub fn write_snapshot(
    index: &AudienceIndex,
    members: &RoaringBitmap,
    path: &Path,
) -> Result<u64, AudienceError> {
    let werr = |e: &dyn std::fmt::Display| AudienceError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if !path
        .file_name()
        .and_then(|f| f.to_str())
        .is_some_and(|f| f.ends_with(".parquet"))
    {
        return Err(werr(&"a snapshot file must end in .parquet"));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| werr(&e))?;
    }
    let tmp = path.with_extension("parquet.tmp");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "customer_id",
        DataType::Utf8,
        false,
    )]));
    let file = File::create(&tmp).map_err(|e| werr(&e))?;
    let mut w =
        ArrowWriter::try_new(file, schema.clone(), Some(writer_props())).map_err(|e| werr(&e))?;
    let ids: Vec<u32> = members.iter().collect();
    for chunk in ids.chunks(65_536) {
        let arr: StringArray = chunk.iter().map(|&i| index.customer_id(i)).collect();
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(arr)]).map_err(|e| werr(&e))?;
        w.write(&batch).map_err(|e| werr(&e))?;
    }
    w.close().map_err(|e| werr(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| werr(&e))?;
    Ok(members.len())
}

fn writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

/// Export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Parquet,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(format!(
                "unknown export format `{other}`: use csv or parquet"
            )),
        }
    }
}

/// Checks export column names against the catalogue (with a did-you-mean).
pub fn check_export_tags(index: &AudienceIndex, tags: &[String]) -> Result<(), AudienceError> {
    for t in tags {
        if !index.tags().iter().any(|m| m.key == *t) {
            let hint = did_you_mean(t, index.tags().iter().map(|m| m.key.as_str()))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(AudienceError::Invalid(format!(
                "unknown tag `{t}` for export{hint}"
            )));
        }
    }
    Ok(())
}

/// Writes members with `customer_id` and the chosen tags, read back from `tags.parquet`.
/// Text values that look like personal data (IDs, phones, cards, names in name-like
/// columns…) are masked as `zhiying-pii` does for every response without clearance.
/// Returns the number of rows written.
pub fn export<W: Write + Send>(
    index: &AudienceIndex,
    dir: &DataDir,
    members: &RoaringBitmap,
    tags: &[String],
    format: ExportFormat,
    out: W,
) -> Result<u64, AudienceError> {
    export_with(index, dir, members, tags, format, out, &mask_detected)
}

/// What an export shows of one text cell, given the column name and the stored value:
/// `None` leaves the cell empty (null). The server passes its field policy for the caller.
pub type CellPolicy<'a> = dyn Fn(&str, &str) -> Option<String> + Sync + 'a;

/// The default cell policy: values that look like personal data are masked.
pub fn mask_detected(column: &str, v: &str) -> Option<String> {
    Some(match zhiying_pii::classify_field(column, v) {
        Some(kind) => zhiying_pii::mask(v, kind),
        None => v.to_string(),
    })
}

/// [`export`] with the caller's cell policy applied to every text column.
pub fn export_with<W: Write + Send>(
    index: &AudienceIndex,
    dir: &DataDir,
    members: &RoaringBitmap,
    tags: &[String],
    format: ExportFormat,
    out: W,
    cells: &CellPolicy<'_>,
) -> Result<u64, AudienceError> {
    check_export_tags(index, tags)?;
    let path = tags_parquet(dir);
    let perr = |e: &dyn std::fmt::Display| AudienceError::Parquet {
        path: path.clone(),
        message: e.to_string(),
    };
    let builder = zhiying_keyring::open_reader(&path).map_err(|e| perr(&e))?;
    let mut names = vec!["customer_id".to_string()];
    names.extend(tags.iter().cloned());
    let mut roots = Vec::new();
    for n in &names {
        roots.push(builder.schema().index_of(n).map_err(|e| perr(&e))?);
    }
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| perr(&e))?;
    let werr = |e: &dyn std::fmt::Display| AudienceError::Write {
        path: PathBuf::from("<export>"),
        message: e.to_string(),
    };
    enum Sink<W: Write + Send> {
        Csv(csv::Writer<W>),
        Parquet(Option<ArrowWriter<W>>, Option<W>),
    }
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(&names).map_err(|e| werr(&e))?;
            Sink::Csv(w)
        }
        ExportFormat::Parquet => Sink::Parquet(None, Some(out)),
    };
    let mut offset: u32 = 0;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| perr(&e))?;
        let len = batch.num_rows() as u32;
        let keep: BooleanArray = {
            let mut bits = vec![false; len as usize];
            for id in members.range(offset..offset.saturating_add(len)) {
                bits[(id - offset) as usize] = true;
            }
            BooleanArray::from(bits)
        };
        offset = offset.saturating_add(len);
        let batch = arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| perr(&e))?;
        if batch.num_rows() == 0 {
            continue;
        }
        // Reorder to `names` and mask text.
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for n in &names {
            let c = batch
                .column_by_name(n)
                .ok_or_else(|| perr(&format!("column {n} vanished")))?;
            let c = mask_column(n, c, cells)?;
            fields.push(Field::new(n, c.data_type().clone(), true));
            cols.push(c);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| werr(&e))?;
        rows += batch.num_rows() as u64;
        match &mut sink {
            Sink::Csv(w) => write_csv(w, &batch).map_err(|e| werr(&e))?,
            Sink::Parquet(writer, out) => {
                if writer.is_none() {
                    let o = out.take().ok_or_else(|| werr(&"writer already taken"))?;
                    *writer = Some(
                        ArrowWriter::try_new(o, schema, Some(writer_props()))
                            .map_err(|e| werr(&e))?,
                    );
                }
                if let Some(w) = writer {
                    w.write(&batch).map_err(|e| werr(&e))?;
                }
            }
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush().map_err(|e| werr(&e))?,
        Sink::Parquet(writer, out) => match (writer, out) {
            (Some(w), _) => {
                w.close().map_err(|e| werr(&e))?;
            }
            (None, Some(o)) => {
                // No member at all: still a valid, empty file with the right columns.
                let fields: Vec<Field> = names
                    .iter()
                    .map(|n| Field::new(n, DataType::Utf8, true))
                    .collect();
                let w =
                    ArrowWriter::try_new(o, Arc::new(Schema::new(fields)), Some(writer_props()))
                        .map_err(|e| werr(&e))?;
                w.close().map_err(|e| werr(&e))?;
            }
            (None, None) => {}
        },
    }
    Ok(rows)
}

fn mask_column(
    name: &str,
    c: &ArrayRef,
    cells: &CellPolicy<'_>,
) -> Result<ArrayRef, AudienceError> {
    if !matches!(
        c.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Ok(c.clone());
    }
    let s = arrow::compute::cast(c, &DataType::Utf8)
        .map_err(|e| AudienceError::Invalid(e.to_string()))?;
    let s = s.as_string::<i32>();
    let masked: StringArray = (0..s.len())
        .map(|i| {
            if s.is_null(i) {
                return None;
            }
            cells(name, s.value(i))
        })
        .collect();
    Ok(Arc::new(masked))
}

fn write_csv<W: Write>(w: &mut csv::Writer<W>, batch: &RecordBatch) -> Result<(), csv::Error> {
    let cols: Vec<&ArrayRef> = batch.columns().iter().collect();
    let mut record: Vec<String> = Vec::with_capacity(cols.len());
    for row in 0..batch.num_rows() {
        record.clear();
        for c in &cols {
            record.push(cell(c, row));
        }
        w.write_record(&record)?;
    }
    Ok(())
}

fn cell(c: &ArrayRef, row: usize) -> String {
    use arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type};
    if c.is_null(row) {
        return String::new();
    }
    match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(row).to_string(),
        DataType::Boolean => c.as_boolean().value(row).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Int32 => c.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Float64 => c.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Float32 => c.as_primitive::<Float32Type>().value(row).to_string(),
        _ => arrow::util::display::array_value_to_string(c, row).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bm(v: &[u32]) -> RoaringBitmap {
        v.iter().copied().collect()
    }

    #[test]
    fn overlap_of_three_by_hand() {
        // A = {1,2,3,4}, B = {3,4,5}, C = {4,6}
        let o = overlap(&[bm(&[1, 2, 3, 4]), bm(&[3, 4, 5]), bm(&[4, 6])]).unwrap();
        assert_eq!(o.sizes, vec![4, 3, 2]);
        assert_eq!(o.matrix, vec![vec![4, 2, 1], vec![2, 3, 1], vec![1, 1, 2]]);
        assert_eq!(o.union, 6);
        let region = |s: &[usize]| o.regions.iter().find(|r| r.sets == s).unwrap().count;
        assert_eq!(region(&[0]), 2); // 1, 2
        assert_eq!(region(&[1]), 1); // 5
        assert_eq!(region(&[2]), 1); // 6
        assert_eq!(region(&[0, 1]), 1); // 3
        assert_eq!(region(&[0, 2]), 0);
        assert_eq!(region(&[1, 2]), 0);
        assert_eq!(region(&[0, 1, 2]), 1); // 4
        assert_eq!(o.regions.iter().map(|r| r.count).sum::<u64>(), o.union);
        assert!((o.jaccard[0][1] - 2.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn overlap_needs_two_to_five() {
        assert!(overlap(&[bm(&[1])]).is_err());
        assert!(overlap(&vec![bm(&[1]); 6]).is_err());
    }

    #[test]
    fn export_format_parses() {
        assert_eq!("CSV".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }
}
