//! Reading raw inputs (plain or gzip) and writing canonical CSV files.

use crate::{ConvertedTable, DatasetError};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use zhiying_core::TableDef;
use zhiying_core::schema::fact_table;

/// Opens `path`, transparently decompressing gzip (detected by its magic bytes, not the
/// file name, so a renamed file still works).
pub(crate) fn open_input(path: &Path) -> Result<Box<dyn BufRead>, DatasetError> {
    let mut file = File::open(path).map_err(|e| DatasetError::io(path, "opening the input", e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic)
        .map_err(|e| DatasetError::io(path, "reading the input", e))?;
    let file = File::open(path).map_err(|e| DatasetError::io(path, "opening the input", e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(BufReader::new(file)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

pub(crate) fn create_out_dir(out_dir: &Path) -> Result<(), DatasetError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| DatasetError::io(out_dir, "creating the output directory", e))
}

/// Writes one canonical table as `<out_dir>/<table>.csv`: header = catalogue column names,
/// fields in catalogue order, empty = null. Rows are given by column name so a converter
/// cannot put a value in the wrong position.
pub(crate) struct TableWriter {
    def: &'static TableDef,
    path: PathBuf,
    out: csv::Writer<BufWriter<File>>,
    row: Vec<String>,
    rows: u64,
}

impl TableWriter {
    pub(crate) fn create(out_dir: &Path, table: &'static str) -> Result<Self, DatasetError> {
        let def = fact_table(table).ok_or(DatasetError::UnknownColumn { table, column: "*" })?;
        let path = out_dir.join(format!("{table}.csv"));
        let file = File::create(&path)
            .map_err(|e| DatasetError::io(&path, "creating the output file", e))?;
        let mut out =
            csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 16, file));
        out.write_record(def.columns.iter().map(|c| c.name))
            .map_err(|e| csv_write_error(&path, e))?;
        Ok(TableWriter {
            def,
            path,
            out,
            row: vec![String::new(); def.columns.len()],
            rows: 0,
        })
    }

    /// Writes one row; columns not named are null.
    pub(crate) fn write(&mut self, values: &[(&'static str, String)]) -> Result<(), DatasetError> {
        for f in &mut self.row {
            f.clear();
        }
        for (name, value) in values {
            let i = self
                .def
                .column_index(name)
                .ok_or(DatasetError::UnknownColumn {
                    table: self.def.name,
                    column: name,
                })?;
            self.row[i].clone_from(value);
        }
        self.out
            .write_record(&self.row)
            .map_err(|e| csv_write_error(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<ConvertedTable, DatasetError> {
        let TableWriter {
            def,
            path,
            mut out,
            rows,
            ..
        } = self;
        out.flush()
            .map_err(|e| DatasetError::io(&path, "flushing the output", e))?;
        Ok(ConvertedTable {
            table: def.name,
            path,
            rows,
        })
    }
}

/// A plain CSV file that is not a canonical table (the model-feature files).
pub(crate) struct PlainWriter {
    path: PathBuf,
    out: csv::Writer<BufWriter<File>>,
}

impl PlainWriter {
    pub(crate) fn create(path: PathBuf, header: &[&str]) -> Result<Self, DatasetError> {
        let file = File::create(&path)
            .map_err(|e| DatasetError::io(&path, "creating the output file", e))?;
        let mut out =
            csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 16, file));
        out.write_record(header)
            .map_err(|e| csv_write_error(&path, e))?;
        Ok(PlainWriter { path, out })
    }

    pub(crate) fn write<'a>(
        &mut self,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), DatasetError> {
        self.out
            .write_record(fields)
            .map_err(|e| csv_write_error(&self.path, e))
    }

    pub(crate) fn finish(self) -> Result<PathBuf, DatasetError> {
        let PlainWriter { path, mut out } = self;
        out.flush()
            .map_err(|e| DatasetError::io(&path, "flushing the output", e))?;
        Ok(path)
    }
}

fn csv_write_error(path: &Path, e: csv::Error) -> DatasetError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => DatasetError::io(path, "writing the output", e),
        other => DatasetError::Input {
            path: path.to_path_buf(),
            message: format!("writing CSV failed: {other:?}"),
        },
    }
}

/// The 1-based line of a csv record, for error messages.
pub(crate) fn record_line(rec: &csv::StringRecord) -> u64 {
    rec.position().map(|p| p.line()).unwrap_or(0)
}

/// Reads the next record of a dataset file, with its location for error messages;
/// `None` at the end of the file.
pub(crate) fn next_record<'a, R: std::io::Read>(
    rdr: &mut csv::Reader<R>,
    rec: &mut csv::StringRecord,
    input: &'a std::path::Path,
    dataset: &'static str,
) -> Result<Option<crate::parse::At<'a>>, crate::DatasetError> {
    let more = rdr
        .read_record(rec)
        .map_err(|source| crate::DatasetError::Csv {
            path: input.to_path_buf(),
            line: source.position().map(|p| p.line()).unwrap_or(0),
            expected: dataset,
            source,
        })?;
    Ok(more.then(|| crate::parse::At {
        path: input,
        line: record_line(rec),
    }))
}

/// Reads the header and checks it equals `expected` (after trimming), so a wrong or
/// edited file fails on line 1 rather than producing nonsense.
pub(crate) fn check_header(
    rdr: &mut csv::Reader<Box<dyn BufRead>>,
    path: &Path,
    expected: &[&str],
    dataset: &'static str,
) -> Result<(), DatasetError> {
    let header = rdr.headers().map_err(|source| DatasetError::Csv {
        path: path.to_path_buf(),
        line: 1,
        expected: dataset,
        source,
    })?;
    let found: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if found
        .iter()
        .map(String::as_str)
        .ne(expected.iter().copied())
    {
        return Err(DatasetError::Header {
            path: path.to_path_buf(),
            found,
            expected: expected.iter().map(|s| s.to_string()).collect(),
            dataset,
        });
    }
    Ok(())
}
