//! Row buffers that format straight into CSV bytes or Arrow builders, and the file writers.
//!
//! Generators push fields in catalogue order (`s`, `i`, `date`, `ts`, …, then `end`). The CSV
//! variant formats with `itoa` into one growing byte buffer per table and chunk (no per-field
//! allocation); the Arrow variant appends to typed builders and becomes a record batch.

use crate::SynthError;
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhiying_core::schema::{ColumnType, TableDef};
use zhiying_core::time::civil_from_days;

enum Col {
    Str(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
}

enum Buf {
    Csv(Vec<u8>),
    Arrow(Vec<Col>),
}

/// Rows of one table produced by one chunk.
pub struct TableBuf {
    pub table: &'static TableDef,
    buf: Buf,
    col: usize,
    pub rows: u64,
    scratch: [u8; 40],
}

impl TableBuf {
    pub fn new(table: &'static TableDef, csv: bool) -> Self {
        let buf = if csv {
            Buf::Csv(Vec::with_capacity(1 << 16))
        } else {
            Buf::Arrow(
                table
                    .columns
                    .iter()
                    .map(|c| match c.ty {
                        ColumnType::Text { .. } | ColumnType::Code(_) => {
                            Col::Str(StringBuilder::new())
                        }
                        ColumnType::Int { .. } | ColumnType::Money { .. } => {
                            Col::I64(Int64Builder::new())
                        }
                        ColumnType::Float { .. } => Col::F64(Float64Builder::new()),
                        ColumnType::Date => Col::Date(Date32Builder::new()),
                        ColumnType::Timestamp => {
                            Col::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
                        }
                        ColumnType::Bool => Col::Bool(BooleanBuilder::new()),
                    })
                    .collect(),
            )
        };
        TableBuf {
            table,
            buf,
            col: 0,
            rows: 0,
            scratch: [0; 40],
        }
    }

    #[inline]
    fn sep(&mut self) {
        if let Buf::Csv(b) = &mut self.buf
            && self.col > 0
        {
            b.push(b',');
        }
    }

    #[inline]
    fn arrow_col(&mut self) -> &mut Col {
        match &mut self.buf {
            Buf::Arrow(cols) => &mut cols[self.col],
            Buf::Csv(_) => unreachable!("arrow_col on a CSV buffer"),
        }
    }

    fn mismatch(&self, what: &str) -> ! {
        panic!(
            "generator bug: {}.{} is not a {what} column",
            self.table.name, self.table.columns[self.col].name
        )
    }

    /// A text or code field.
    #[inline]
    pub fn s(&mut self, v: &str) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => {
                if v.bytes().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
                    b.push(b'"');
                    for c in v.bytes() {
                        if c == b'"' {
                            b.push(b'"');
                        }
                        b.push(c);
                    }
                    b.push(b'"');
                } else {
                    b.extend_from_slice(v.as_bytes());
                }
            }
            Buf::Arrow(_) => match self.arrow_col() {
                Col::Str(x) => x.append_value(v),
                _ => self.mismatch("text"),
            },
        }
        self.col += 1;
    }

    /// A raw ASCII field known to need no quoting (ids, digits).
    #[inline]
    pub fn ascii(&mut self, v: &[u8]) {
        match &mut self.buf {
            Buf::Csv(b) => {
                if self.col > 0 {
                    b.push(b',');
                }
                b.extend_from_slice(v);
                self.col += 1;
            }
            Buf::Arrow(_) => self.s(std::str::from_utf8(v).unwrap_or_default()),
        }
    }

    /// An id: `prefix` followed by `n` zero-padded to `width` digits.
    #[inline]
    pub fn id(&mut self, prefix: &str, n: u64, width: usize) {
        if let Buf::Csv(b) = &mut self.buf {
            if self.col > 0 {
                b.push(b',');
            }
            b.extend_from_slice(prefix.as_bytes());
            let start = b.len();
            b.resize(start + width, b'0');
            crate::ids::write_digits(&mut b[start..], n);
            self.col += 1;
            return;
        }
        let p = prefix.len();
        let mut tmp = self.scratch;
        tmp[..p].copy_from_slice(prefix.as_bytes());
        crate::ids::write_digits(&mut tmp[p..p + width], n);
        self.ascii(&tmp[..p + width]);
    }

    pub fn opt_s(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.s(v),
            None => self.null(),
        }
    }

    /// An integer or money field.
    #[inline]
    pub fn i(&mut self, v: i64) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Buf::Arrow(_) => match self.arrow_col() {
                Col::I64(x) => x.append_value(v),
                _ => self.mismatch("integer"),
            },
        }
        self.col += 1;
    }

    pub fn opt_i(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.i(v),
            None => self.null(),
        }
    }

    pub fn f(&mut self, v: f64) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => {
                let _ = write!(b, "{v}");
            }
            Buf::Arrow(_) => match self.arrow_col() {
                Col::F64(x) => x.append_value(v),
                _ => self.mismatch("float"),
            },
        }
        self.col += 1;
    }

    /// A date as days since the epoch, written `YYYY-MM-DD`.
    #[inline]
    pub fn date(&mut self, days: i32) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => push_date(b, days),
            Buf::Arrow(_) => match self.arrow_col() {
                Col::Date(x) => x.append_value(days),
                _ => self.mismatch("date"),
            },
        }
        self.col += 1;
    }

    pub fn opt_date(&mut self, v: Option<i32>) {
        match v {
            Some(v) => self.date(v),
            None => self.null(),
        }
    }

    /// A UTC timestamp given in whole seconds since the epoch, written RFC 3339 with `Z`.
    #[inline]
    pub fn ts(&mut self, secs: i64) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => push_ts(b, secs),
            Buf::Arrow(_) => match self.arrow_col() {
                Col::Ts(x) => x.append_value(secs * 1_000_000),
                _ => self.mismatch("timestamp"),
            },
        }
        self.col += 1;
    }

    pub fn b(&mut self, v: bool) {
        self.sep();
        match &mut self.buf {
            Buf::Csv(b) => b.extend_from_slice(if v { b"true" } else { b"false" }),
            Buf::Arrow(_) => match self.arrow_col() {
                Col::Bool(x) => x.append_value(v),
                _ => self.mismatch("bool"),
            },
        }
        self.col += 1;
    }

    /// An empty field (null).
    #[inline]
    pub fn null(&mut self) {
        self.sep();
        if let Buf::Arrow(_) = &self.buf {
            match self.arrow_col() {
                Col::Str(x) => x.append_null(),
                Col::I64(x) => x.append_null(),
                Col::F64(x) => x.append_null(),
                Col::Date(x) => x.append_null(),
                Col::Ts(x) => x.append_null(),
                Col::Bool(x) => x.append_null(),
            }
        }
        self.col += 1;
    }

    /// Ends the row; every column must have been pushed.
    #[inline]
    pub fn end(&mut self) {
        debug_assert_eq!(
            self.col,
            self.table.columns.len(),
            "{}: wrong field count",
            self.table.name
        );
        if let Buf::Csv(b) = &mut self.buf {
            b.push(b'\n');
        }
        self.col = 0;
        self.rows += 1;
    }

    /// Raw CSV access for the deliberately dirty rows (CSV only).
    pub fn csv_bytes(&mut self) -> Option<&mut Vec<u8>> {
        match &mut self.buf {
            Buf::Csv(b) => Some(b),
            Buf::Arrow(_) => None,
        }
    }

    /// Counts a row appended through [`TableBuf::csv_bytes`].
    pub fn count_raw_row(&mut self) {
        self.rows += 1;
    }

    /// Empties the buffer, keeping its allocation for the next chunk.
    pub fn clear(&mut self) {
        if let Buf::Csv(b) = &mut self.buf {
            b.clear();
        }
        self.col = 0;
        self.rows = 0;
    }

    /// Finishes the builders into a batch (which also empties them).
    fn take_batch(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let Buf::Arrow(cols) = &mut self.buf else {
            unreachable!("take_batch on a CSV buffer")
        };
        let arrays: Vec<ArrayRef> = cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Str(x) => Arc::new(x.finish()),
                    Col::I64(x) => Arc::new(x.finish()),
                    Col::F64(x) => Arc::new(x.finish()),
                    Col::Date(x) => Arc::new(x.finish()),
                    Col::Ts(x) => Arc::new(x.finish()),
                    Col::Bool(x) => Arc::new(x.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.table.arrow_schema(), arrays)
    }
}

#[inline]
fn push2(b: &mut Vec<u8>, v: u32) {
    b.push(b'0' + (v / 10) as u8);
    b.push(b'0' + (v % 10) as u8);
}

/// Days covered by the formatted-date cache: 1900-01-01 ..= 2099-12-31.
const CACHE_FIRST: i32 = -25_567;
const CACHE_LEN: usize = 73_049;

fn date_cache() -> &'static [[u8; 10]] {
    static CACHE: std::sync::OnceLock<Vec<[u8; 10]>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        (0..CACHE_LEN as i32)
            .map(|i| {
                let mut v = Vec::with_capacity(10);
                format_date_slow(&mut v, CACHE_FIRST + i);
                let mut a = [0u8; 10];
                a.copy_from_slice(&v);
                a
            })
            .collect()
    })
}

#[inline]
pub fn push_date(b: &mut Vec<u8>, days: i32) {
    match date_cache().get(days.wrapping_sub(CACHE_FIRST) as usize) {
        Some(s) => b.extend_from_slice(s),
        None => format_date_slow(b, days),
    }
}

fn format_date_slow(b: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    push2(b, y / 100);
    push2(b, y % 100);
    b.push(b'-');
    push2(b, m);
    b.push(b'-');
    push2(b, d);
}

pub fn push_ts(b: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    push_date(b, days as i32);
    b.push(b'T');
    push2(b, rem / 3600);
    b.push(b':');
    push2(b, rem / 60 % 60);
    b.push(b':');
    push2(b, rem % 60);
    b.push(b'Z');
}

enum FileWriter {
    Csv(BufWriter<File>),
    Parquet(Box<ArrowWriter<File>>),
}

/// The open output file of one table.
pub struct TableWriter {
    pub path: PathBuf,
    w: Option<FileWriter>,
    pub rows: u64,
}

impl TableWriter {
    pub fn create(dir: &Path, table: &'static TableDef, csv: bool) -> Result<Self, SynthError> {
        let path = dir.join(format!(
            "{}.{}",
            table.name,
            if csv { "csv" } else { "parquet" }
        ));
        let file = File::create(&path).map_err(|e| SynthError::io(&path, e))?;
        let w = if csv {
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let header = table.column_names().join(",");
            w.write_all(header.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| SynthError::io(&path, e))?;
            FileWriter::Csv(w)
        } else {
            // Source extracts hold names and phones too: encrypted like the facts when a
            // data key is configured.
            let schema = table.arrow_schema();
            let props = zhiying_keyring::writer_properties(
                table,
                &schema,
                WriterProperties::builder().set_compression(Compression::SNAPPY),
            )
            .map_err(|e| SynthError::parquet(&path, e))?;
            let w = ArrowWriter::try_new(file, schema, Some(props))
                .map_err(|e| SynthError::parquet(&path, e))?;
            FileWriter::Parquet(Box::new(w))
        };
        Ok(TableWriter {
            path,
            w: Some(w),
            rows: 0,
        })
    }

    /// Writes and empties `buf`.
    pub fn write(&mut self, buf: &mut TableBuf) -> Result<(), SynthError> {
        self.rows += buf.rows;
        if buf.rows == 0 {
            return Ok(());
        }
        match self.w.as_mut() {
            Some(FileWriter::Csv(w)) => {
                let Buf::Csv(bytes) = &buf.buf else {
                    unreachable!("CSV writer given an Arrow buffer")
                };
                w.write_all(bytes)
                    .map_err(|e| SynthError::io(&self.path, e))?;
                buf.clear();
                Ok(())
            }
            Some(FileWriter::Parquet(w)) => {
                let batch = buf.take_batch().map_err(|e| SynthError::Arrow {
                    path: self.path.clone(),
                    source: e,
                })?;
                w.write(&batch)
                    .map_err(|e| SynthError::parquet(&self.path, e))
            }
            None => Ok(()),
        }
    }

    pub fn finish(&mut self) -> Result<(), SynthError> {
        match self.w.take() {
            Some(FileWriter::Csv(mut w)) => w.flush().map_err(|e| SynthError::io(&self.path, e)),
            Some(FileWriter::Parquet(w)) => w
                .close()
                .map(|_| ())
                .map_err(|e| SynthError::parquet(&self.path, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_and_timestamps() {
        let mut b = Vec::new();
        push_ts(&mut b, 1_740_792_600); // 2025-03-01T01:30:00Z
        assert_eq!(std::str::from_utf8(&b).unwrap(), "2025-03-01T01:30:00Z");
        b.clear();
        push_date(&mut b, 0);
        assert_eq!(b, b"1970-01-01");
    }

    #[test]
    fn quotes_only_when_needed() {
        let mut t = TableBuf::new(&zhiying_core::schema::EXPERIMENTS, true);
        t.s("E1");
        t.s("a,\"b\"");
        t.s("x|y");
        t.null();
        t.date(0);
        t.null();
        t.end();
        let b = t.csv_bytes().unwrap();
        assert_eq!(
            std::str::from_utf8(b).unwrap(),
            "E1,\"a,\"\"b\"\"\",x|y,,1970-01-01,\n"
        );
    }
}
