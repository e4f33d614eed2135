//! Input readers. Every format is turned into the same thing: a row whose canonical
//! columns can be fetched as raw bytes, its physical line number, and its raw text for the
//! quarantine. So CSV, JSON Lines and Parquet go through exactly the same validation.

use crate::validate::Rejection;
use crate::{IngestError, InputFormat};
use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Date32Type, Date64Type, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use zhiying_core::schema::TableDef;

/// What the next input row is: a row to validate, or one already rejected while reading.
pub enum Next {
    Row,
    Reject(Rejection),
}

pub enum Source {
    Csv(CsvSource),
    Jsonl(JsonlSource),
    Parquet(ParquetSource),
}

fn open_read(path: &Path) -> Result<Box<dyn Read + Send>, IngestError> {
    let f = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            f,
        )))
    } else {
        Box::new(f)
    })
}

/// Header names are matched after trimming, dropping a BOM and lower-casing.
fn norm_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()
}

/// Columns a header may carry that are not data: blank names, `_`-prefixed names and
/// pandas' `Unnamed: 0` index column.
fn ignorable(h: &str) -> bool {
    h.is_empty() || h.starts_with('_') || h.starts_with("unnamed:")
}

/// Maps canonical columns to positions in the file's header; errors name what is wrong.
pub fn map_header(
    file: &Path,
    table: &TableDef,
    names: &[String],
) -> Result<Vec<Option<usize>>, IngestError> {
    let norm: Vec<String> = names.iter().map(|n| norm_header(n)).collect();
    let expected: Vec<String> = table.columns.iter().map(|c| c.name.to_string()).collect();
    for (i, n) in norm.iter().enumerate() {
        if !ignorable(n) && norm[..i].contains(n) {
            return Err(IngestError::DuplicateColumn {
                file: file.to_path_buf(),
                column: n.clone(),
            });
        }
    }
    let unknown: Vec<String> = norm
        .iter()
        .filter(|n| !ignorable(n) && table.column(n).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(IngestError::UnknownColumns {
            file: file.to_path_buf(),
            unknown,
            expected,
        });
    }
    let map: Vec<Option<usize>> = table
        .columns
        .iter()
        .map(|c| norm.iter().position(|n| n == c.name))
        .collect();
    let missing: Vec<String> = table
        .columns
        .iter()
        .zip(&map)
        .filter(|(c, m)| c.required && m.is_none())
        .map(|(c, _)| c.name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::MissingColumns {
            file: file.to_path_buf(),
            table: table.name.to_string(),
            missing,
            expected,
        });
    }
    Ok(map)
}

impl Source {
    pub fn open(
        path: &Path,
        format: InputFormat,
        table: &TableDef,
        delimiter: u8,
    ) -> Result<Source, IngestError> {
        Ok(match format {
            InputFormat::Csv => Source::Csv(CsvSource::open(path, table, delimiter)?),
            InputFormat::Jsonl => Source::Jsonl(JsonlSource::open(path, table)?),
            InputFormat::Parquet => Source::Parquet(ParquetSource::open(path, table)?),
        })
    }

    /// Advances to the next row; `None` at the end of the file.
    #[inline]
    pub fn next(&mut self) -> Result<Option<Next>, IngestError> {
        match self {
            Source::Csv(s) => s.next(),
            Source::Jsonl(s) => s.next(),
            Source::Parquet(s) => s.next(),
        }
    }

    /// Raw bytes of canonical column `i` in the current row.
    #[inline]
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        match self {
            Source::Csv(s) => s.map[i].and_then(|j| s.record().get(j)),
            Source::Jsonl(s) => s.present[i].then(|| s.record.get(i)).flatten(),
            Source::Parquet(s) => s.field(i),
        }
    }

    /// 1-based physical line of the current row (for Parquet: 1-based row number).
    #[inline]
    pub fn line(&self) -> u64 {
        match self {
            Source::Csv(s) => s.line,
            Source::Jsonl(s) => s.line,
            Source::Parquet(s) => s.line,
        }
    }

    /// The current row as it appeared in the input, for the quarantine.
    pub fn raw(&self) -> String {
        match self {
            Source::Csv(s) => s.raw(),
            Source::Jsonl(s) => String::from_utf8_lossy(s.buf.trim_ascii()).into_owned(),
            Source::Parquet(s) => s.raw(),
        }
    }
}

/// Records per chunk handed from the CSV reader thread to the validating thread.
const CSV_CHUNK: usize = 4096;

type Chunk = (Vec<csv::ByteRecord>, usize);

/// CSV is split by a reader thread, so byte-level parsing overlaps validation; chunks of
/// records travel in reused vectors, so no per-row allocation happens after warm-up.
pub struct CsvSource {
    rx: Receiver<Result<Chunk, csv::Error>>,
    back: SyncSender<Vec<csv::ByteRecord>>,
    chunk: Vec<csv::ByteRecord>,
    len: usize,
    pos: usize,
    map: Vec<Option<usize>>,
    header_len: usize,
    line: u64,
    delimiter: u8,
    file: PathBuf,
}

impl CsvSource {
    fn open(path: &Path, table: &TableDef, delimiter: u8) -> Result<Self, IngestError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(1 << 20)
            .from_reader(open_read(path)?);
        let mut header = csv::ByteRecord::new();
        let expected = table.column_names().join(",");
        let got = reader
            .read_byte_record(&mut header)
            .map_err(|source| IngestError::Csv {
                file: path.to_path_buf(),
                source,
            })?;
        if !got {
            return Err(IngestError::EmptyFile {
                file: path.to_path_buf(),
                expected,
            });
        }
        let names: Vec<String> = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        let map = map_header(path, table, &names)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk, csv::Error>>(4);
        let (back, back_rx) = std::sync::mpsc::sync_channel::<Vec<csv::ByteRecord>>(8);
        std::thread::spawn(move || {
            loop {
                let mut buf = back_rx.try_recv().unwrap_or_default();
                buf.resize_with(CSV_CHUNK, csv::ByteRecord::new);
                let mut n = 0;
                while n < CSV_CHUNK {
                    match reader.read_byte_record(&mut buf[n]) {
                        Ok(true) => n += 1,
                        Ok(false) => break,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                // The consumer hung up (an error elsewhere) or the file ended.
                if n == 0 || tx.send(Ok((buf, n))).is_err() || n < CSV_CHUNK {
                    return;
                }
            }
        });
        Ok(CsvSource {
            rx,
            back,
            chunk: Vec::new(),
            len: 0,
            pos: 0,
            map,
            header_len: header.len(),
            line: 1,
            delimiter,
            file: path.to_path_buf(),
        })
    }

    #[inline]
    fn record(&self) -> &csv::ByteRecord {
        &self.chunk[self.pos - 1]
    }

    #[inline]
    fn next(&mut self) -> Result<Option<Next>, IngestError> {
        if self.pos >= self.len {
            if !self.chunk.is_empty() {
                let _ = self.back.try_send(std::mem::take(&mut self.chunk));
            }
            match self.rx.recv() {
                Ok(Ok((chunk, n))) => {
                    self.chunk = chunk;
                    self.len = n;
                    self.pos = 0;
                }
                Ok(Err(source)) => {
                    return Err(IngestError::Csv {
                        file: self.file.clone(),
                        source,
                    });
                }
                Err(_) => return Ok(None),
            }
        }
        self.pos += 1;
        let record = &self.chunk[self.pos - 1];
        self.line = record.position().map(|p| p.line()).unwrap_or(self.line + 1);
        if record.len() != self.header_len {
            let (n, m) = (record.len(), self.header_len);
            return Ok(Some(Next::Reject(Rejection::new(
                None,
                "field_count",
                format!("the row has {n} fields but the header has {m}"),
                if n > m {
                    "quote values that contain the delimiter, or remove the extra fields"
                } else {
                    "add the missing fields (leave optional ones empty between delimiters)"
                },
            ))));
        }
        Ok(Some(Next::Row))
    }

    fn raw(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        if w.write_byte_record(self.record()).is_err() {
            return String::new();
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .trim_end_matches('\n')
            .to_string()
    }
}

pub struct JsonlSource {
    reader: BufReader<Box<dyn Read + Send>>,
    buf: Vec<u8>,
    line: u64,
    record: csv::ByteRecord,
    fields: Vec<Vec<u8>>,
    present: Vec<bool>,
    names: Vec<&'static str>,
    file: PathBuf,
}

impl JsonlSource {
    fn open(path: &Path, table: &TableDef) -> Result<Self, IngestError> {
        let n = table.columns.len();
        Ok(JsonlSource {
            reader: BufReader::with_capacity(1 << 20, open_read(path)?),
            buf: Vec::new(),
            line: 0,
            record: csv::ByteRecord::new(),
            fields: vec![Vec::new(); n],
            present: vec![false; n],
            names: table.column_names(),
            file: path.to_path_buf(),
        })
    }

    fn next(&mut self) -> Result<Option<Next>, IngestError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| IngestError::io(&self.file, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buf.trim_ascii().is_empty() {
                break;
            }
        }
        Ok(Some(match self.parse() {
            Ok(()) => Next::Row,
            Err(r) => Next::Reject(r),
        }))
    }

    fn parse(&mut self) -> Result<(), Rejection> {
        use serde_json::Value;
        let obj: serde_json::Map<String, Value> = serde_json::from_slice(self.buf.trim_ascii())
            .map_err(|e| {
                Rejection::new(
                    None,
                    "bad_json",
                    format!("the line is not a JSON object ({e})"),
                    "write one JSON object per line, e.g. {\"txn_id\":\"T1\",...}",
                )
            })?;
        for f in &mut self.fields {
            f.clear();
        }
        self.present.iter_mut().for_each(|p| *p = false);
        for (k, v) in &obj {
            let key = norm_header(k);
            let Some(i) = self.names.iter().position(|n| *n == key) else {
                if ignorable(&key) {
                    continue;
                }
                return Err(Rejection::new(
                    None,
                    "unknown_field",
                    format!("unknown field '{}'", crate::clean::shown(k)),
                    format!(
                        "use only the fields {} (names starting with '_' are ignored)",
                        self.names.join(", ")
                    ),
                ));
            };
            let col = Some(self.names[i]);
            let f = &mut self.fields[i];
            match v {
                Value::Null => {}
                Value::String(s) => f.extend_from_slice(s.as_bytes()),
                Value::Bool(b) => f.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Number(n) => f.extend_from_slice(n.to_string().as_bytes()),
                Value::Array(_) | Value::Object(_) => {
                    return Err(Rejection::new(
                        col,
                        "bad_json",
                        "nested JSON value",
                        "use a string, number, boolean or null",
                    ));
                }
            }
            self.present[i] = true;
        }
        self.record.clear();
        for f in &self.fields {
            self.record.push_field(f);
        }
        Ok(())
    }
}

pub struct ParquetSource {
    reader: ParquetRecordBatchReader,
    /// Canonical column → position in the file's Arrow schema.
    map: Vec<Option<usize>>,
    cols: Vec<Option<StringArray>>,
    row: usize,
    rows: usize,
    line: u64,
    names: Vec<&'static str>,
    file: PathBuf,
}

impl ParquetSource {
    fn open(path: &Path, table: &TableDef) -> Result<Self, IngestError> {
        let builder =
            zhiying_keyring::open_reader(path).map_err(|e| IngestError::parquet(path, e))?;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let map = map_header(path, table, &names)?;
        let reader = builder
            .with_batch_size(16384)
            .build()
            .map_err(|e| IngestError::parquet(path, e))?;
        Ok(ParquetSource {
            reader,
            map,
            cols: vec![None; table.columns.len()],
            row: 0,
            rows: 0,
            line: 0,
            names: table.column_names(),
            file: path.to_path_buf(),
        })
    }

    fn next(&mut self) -> Result<Option<Next>, IngestError> {
        self.row += 1;
        while self.row >= self.rows {
            let Some(batch) = self.reader.next() else {
                return Ok(None);
            };
            let batch = batch.map_err(|e| IngestError::arrow(&self.file, e))?;
            for (i, m) in self.map.iter().enumerate() {
                self.cols[i] = match m {
                    Some(j) => Some(
                        to_strings(batch.column(*j))
                            .map_err(|e| IngestError::arrow(&self.file, e))?,
                    ),
                    None => None,
                };
            }
            self.row = 0;
            self.rows = batch.num_rows();
        }
        self.line += 1;
        Ok(Some(Next::Row))
    }

    fn field(&self, i: usize) -> Option<&[u8]> {
        let a = self.cols[i].as_ref()?;
        (!a.is_null(self.row)).then(|| a.value(self.row).as_bytes())
    }

    fn raw(&self) -> String {
        let mut m = serde_json::Map::new();
        for (i, c) in self.cols.iter().enumerate() {
            if let Some(a) = c {
                let v = if a.is_null(self.row) {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(a.value(self.row).to_string())
                };
                m.insert(self.names[i].to_string(), v);
            }
        }
        serde_json::Value::Object(m).to_string()
    }
}

/// Renders any Arrow column as text the validator understands. Timestamps with a time
/// zone become RFC 3339 UTC; naive ones stay naive so they are read at the source offset.
fn to_strings(a: &ArrayRef) -> Result<StringArray, arrow::error::ArrowError> {
    let micros = |v: i64, unit: &TimeUnit| match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    };
    let mut b = StringBuilder::with_capacity(a.len(), a.len() * 16);
    match a.data_type() {
        DataType::Utf8 => return Ok(a.as_string::<i32>().clone()),
        DataType::Timestamp(unit, tz) => {
            let p = arrow::compute::cast(a, &DataType::Int64)?;
            let p = p.as_primitive::<arrow::datatypes::Int64Type>();
            for i in 0..p.len() {
                if p.is_null(i) {
                    b.append_null();
                    continue;
                }
                let us = micros(p.value(i), unit);
                if tz.is_some() {
                    b.append_value(zhiying_core::time::format_timestamp(us));
                } else {
                    let s = chrono::DateTime::from_timestamp_micros(us)
                        .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
                        .unwrap_or_default();
                    b.append_value(s);
                }
            }
        }
        DataType::Date32 => {
            let p = a.as_primitive::<Date32Type>();
            for i in 0..p.len() {
                if p.is_null(i) {
                    b.append_null()
                } else {
                    b.append_value(zhiying_core::time::format_date(p.value(i)))
                }
            }
        }
        DataType::Date64 => {
            let p = a.as_primitive::<Date64Type>();
            for i in 0..p.len() {
                if p.is_null(i) {
                    b.append_null()
                } else {
                    b.append_value(zhiying_core::time::format_date(
                        p.value(i).div_euclid(86_400_000) as i32,
                    ))
                }
            }
        }
        _ => {
            let c = arrow::compute::cast(a, &DataType::Utf8)?;
            return Ok(c.as_string::<i32>().clone());
        }
    }
    Ok(b.finish())
}
