//! A typed, column-oriented table loaded from CSV, ready for modelling.
//!
//! Every column is either numeric (`f64`, NaN for a missing value) or categorical
//! (a code per row into a level list, `None` when missing). The loader sniffs the
//! delimiter (`,` `;` tab `|`), reads gzip transparently (by magic bytes, whatever the
//! file name), and decides each column's type from its values: a column is numeric when
//! every non-missing value parses as a number, categorical otherwise. Missing values are
//! empty cells and `NA`, `N/A`, `NaN`, `null` (any case). Any other text is a level,
//! so bank-full's `unknown` stays a category of its own, as it should: "unknown
//! education" carries information.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

/// Errors from loading or reshaping a [`Frame`].
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: the file is empty; expected a header line with column names")]
    Empty { path: PathBuf },
    #[error(
        "{path}, line {line}: expected {expected} fields like the header, found {found}; check the delimiter (detected {delimiter:?}) and quoting"
    )]
    RaggedRow {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
        delimiter: char,
    },
    #[error("{path}, line {line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: the header names column {name:?} twice (columns {first} and {second})")]
    DuplicateColumn {
        path: PathBuf,
        name: String,
        first: usize,
        second: usize,
    },
    #[error("{path}: the header has an empty column name at position {position}")]
    EmptyColumnName { path: PathBuf, position: usize },
    #[error("no column {name:?}; the columns are: {available}")]
    NoSuchColumn { name: String, available: String },
    #[error("column {column:?}, line {line}: the target is missing; drop or fill such rows first")]
    MissingTarget { column: String, line: u64 },
    #[error(
        "column {column:?}: cannot tell the positive class; its values are {values}. Pass --positive VALUE"
    )]
    AmbiguousPositive { column: String, values: String },
    #[error(
        "column {column:?}: no row has the positive value {positive:?}; its values are {values}"
    )]
    PositiveNotFound {
        column: String,
        positive: String,
        values: String,
    },
    #[error(
        "column {column:?}: every row has the positive value {positive:?}; a binary target needs both classes"
    )]
    SingleClass { column: String, positive: String },
    #[error("columns have different lengths: {name:?} has {found} rows, expected {expected}")]
    LengthMismatch {
        name: String,
        expected: usize,
        found: usize,
    },
    #[error("row index {index} is out of range for a frame of {n_rows} rows")]
    RowOutOfRange { index: usize, n_rows: usize },
}

/// The values of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnData {
    /// Numbers, with `NaN` where the value is missing.
    Numeric(Vec<f64>),
    /// A level index per row (`None` where missing) into `levels`, which are in order of
    /// first appearance in the file.
    Categorical {
        codes: Vec<Option<u32>>,
        levels: Vec<String>,
    },
}

/// A named column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

impl Column {
    pub fn numeric(name: impl Into<String>, values: Vec<f64>) -> Self {
        Column {
            name: name.into(),
            data: ColumnData::Numeric(values),
        }
    }

    /// A categorical column from text values (`None` = missing); levels are in order of
    /// first appearance.
    pub fn categorical<S: AsRef<str>>(name: impl Into<String>, values: &[Option<S>]) -> Self {
        let mut builder = CategoricalBuilder::default();
        for v in values {
            builder.push(v.as_ref().map(|s| s.as_ref()));
        }
        Column {
            name: name.into(),
            data: builder.finish(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.data, ColumnData::Categorical { .. })
    }

    /// Number of missing values.
    pub fn missing_count(&self) -> usize {
        match &self.data {
            ColumnData::Numeric(v) => v.iter().filter(|x| x.is_nan()).count(),
            ColumnData::Categorical { codes, .. } => codes.iter().filter(|c| c.is_none()).count(),
        }
    }

    /// The value of row `i` as text (`None` when missing), for messages and previews.
    pub fn text(&self, i: usize) -> Option<String> {
        match &self.data {
            ColumnData::Numeric(v) => v.get(i).filter(|x| !x.is_nan()).map(|x| x.to_string()),
            ColumnData::Categorical { codes, levels } => codes
                .get(i)
                .copied()
                .flatten()
                .and_then(|c| levels.get(c as usize).cloned()),
        }
    }

    /// The value of row `i` as a model input: the number, or the level code as a float;
    /// `NaN` when missing.
    pub fn value_f64(&self, i: usize) -> f64 {
        match &self.data {
            ColumnData::Numeric(v) => v[i],
            ColumnData::Categorical { codes, .. } => codes[i].map_or(f64::NAN, |c| c as f64),
        }
    }

    /// The rows at `rows`, in that order. Categorical columns keep their full level list,
    /// so codes stay comparable between the subsets of one frame (folds, splits).
    fn take(&self, rows: &[usize]) -> Column {
        let data = match &self.data {
            ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&r| v[r]).collect()),
            ColumnData::Categorical { codes, levels } => ColumnData::Categorical {
                codes: rows.iter().map(|&r| codes[r]).collect(),
                levels: levels.clone(),
            },
        };
        Column {
            name: self.name.clone(),
            data,
        }
    }
}

/// A table of equally long, typed columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    columns: Vec<Column>,
    n_rows: usize,
    /// 1-based line in the source file where each row starts (empty when the frame was
    /// not read from a file), so later errors can point back at the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    lines: Vec<u64>,
}

/// A binary target: `y[i]` is 1.0 for the positive class and 0.0 otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryTarget {
    pub name: String,
    /// The value that counts as positive, as written in the file.
    pub positive: String,
    pub y: Vec<f64>,
}

impl BinaryTarget {
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&v| v == 1.0).count()
    }
}

/// How to read a CSV file.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Field delimiter; sniffed from the first lines when `None`.
    pub delimiter: Option<u8>,
    /// Columns to read as categorical even though their values are numbers (codes such
    /// as branch ids or postcodes).
    pub categorical: Vec<String>,
    /// Extra cell values that mean "missing", besides the empty cell, NA, N/A, NaN and null.
    pub missing: Vec<String>,
}

/// True when a cell means "missing" by default: empty, NA, N/A, NaN or null in any case.
pub fn is_missing_token(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || t.eq_ignore_ascii_case("na")
        || t.eq_ignore_ascii_case("n/a")
        || t.eq_ignore_ascii_case("nan")
        || t.eq_ignore_ascii_case("null")
}

/// Picks the delimiter among `,` `;` tab and `|` that splits the first lines (outside
/// quotes) into the same, largest number of fields. Falls back to `,`.
pub fn sniff_delimiter(sample: &[u8]) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let text = String::from_utf8_lossy(sample);
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    // The last line of a truncated sample may be cut short.
    if lines.len() > 2 && !sample.ends_with(b"\n") {
        lines.pop();
    }
    let count = |line: &str, d: u8| {
        let mut in_quotes = false;
        let mut n = 0usize;
        for b in line.bytes() {
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == d && !in_quotes {
                n += 1;
            }
        }
        n
    };
    let mut best = (b',', 0usize, false);
    for d in CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count(l, d)).collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        let consistent = counts.iter().all(|&c| c == first);
        // Prefer a delimiter that gives every line the same count; then more fields.
        let better = first > 0
            && match (consistent, best.2) {
                (true, false) => true,
                (false, true) => false,
                _ => first > best.1,
            };
        if better {
            best = (d, first, consistent);
        }
    }
    best.0
}

/// Opens a file for reading, decompressing gzip when the first two bytes are gzip's magic.
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, FrameError> {
    let io_err = |source| FrameError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = file.read(&mut magic[got..]).map_err(io_err)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = Cursor::new(magic[..got].to_vec());
    let whole = head.chain(file);
    if got == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(BufReader::with_capacity(1 << 16, whole)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, whole)))
    }
}

#[derive(Default)]
struct CategoricalBuilder {
    index: HashMap<Box<str>, u32>,
    levels: Vec<String>,
    codes: Vec<Option<u32>>,
}

impl CategoricalBuilder {
    fn push(&mut self, value: Option<&str>) {
        let code = value.map(|v| match self.index.get(v) {
            Some(&c) => c,
            None => {
                let c = self.levels.len() as u32;
                self.index.insert(v.into(), c);
                self.levels.push(v.to_string());
                c
            }
        });
        self.codes.push(code);
    }

    fn finish(self) -> ColumnData {
        ColumnData::Categorical {
            codes: self.codes,
            levels: self.levels,
        }
    }
}

/// Builds one column while reading: numeric until a value does not parse, then categorical.
enum ColumnBuilder {
    Numeric(Vec<f64>),
    Categorical(CategoricalBuilder),
}

impl ColumnBuilder {
    fn push(&mut self, raw: &str, missing: bool) {
        let value = raw.trim();
        match self {
            ColumnBuilder::Numeric(values) => {
                if missing {
                    values.push(f64::NAN);
                } else if let Some(x) = parse_number(value) {
                    values.push(x);
                } else {
                    // The first non-number turns the column categorical; earlier numbers
                    // become levels written the way Rust prints them.
                    let mut cat = CategoricalBuilder::default();
                    for x in values.iter() {
                        if x.is_nan() {
                            cat.push(None);
                        } else {
                            cat.push(Some(&x.to_string()));
                        }
                    }
                    cat.push(Some(value));
                    *self = ColumnBuilder::Categorical(cat);
                }
            }
            ColumnBuilder::Categorical(cat) => cat.push(if missing { None } else { Some(value) }),
        }
    }

    fn finish(self) -> ColumnData {
        match self {
            ColumnBuilder::Numeric(v) => ColumnData::Numeric(v),
            ColumnBuilder::Categorical(c) => c.finish(),
        }
    }
}

/// Parses a finite decimal number. `inf` and `nan` spelled out are not numbers here:
/// they are text (or, for NaN, a missing value).
fn parse_number(s: &str) -> Option<f64> {
    let first = *s.as_bytes().first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Reads a CSV file (optionally gzip-compressed) into a [`Frame`].
///
/// ```no_run
/// use zhiying_models::frame::{read_csv, CsvOptions};
/// let frame = read_csv("datasets/bank-full.csv.gz".as_ref(), &CsvOptions::default())?;
/// println!("{} rows, {} columns", frame.n_rows(), frame.n_cols());
/// # Ok::<(), zhiying_models::frame::FrameError>(())
/// ```
pub fn read_csv(path: &Path, options: &CsvOptions) -> Result<Frame, FrameError> {
    let io_err = |source| FrameError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = open_maybe_gzip(path)?;
    let mut sample = Vec::with_capacity(1 << 16);
    (&mut reader)
        .take(1 << 16)
        .read_to_end(&mut sample)
        .map_err(io_err)?;
    // A UTF-8 byte-order mark would otherwise become part of the first column's name.
    let skip = if sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    if sample[skip..].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FrameError::Empty {
            path: path.to_path_buf(),
        });
    }
    let delimiter = options
        .delimiter
        .unwrap_or_else(|| sniff_delimiter(&sample[skip..]));
    let input = Cursor::new(sample).chain(reader);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(input);

    let csv_err = |e: csv::Error| -> FrameError {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => FrameError::RaggedRow {
                path: path.to_path_buf(),
                line: pos.map_or(line, |p| p.line()),
                expected: expected_len as usize,
                found: len as usize,
                delimiter: delimiter as char,
            },
            csv::ErrorKind::Io(source) => FrameError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => FrameError::Csv {
                path: path.to_path_buf(),
                line,
                message: format!("{other:?}"),
            },
        }
    };

    let headers = csv.headers().map_err(csv_err)?.clone();
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = if i == 0 {
            h.trim_start_matches('\u{feff}')
        } else {
            h
        }
        .trim()
        .to_string();
        if name.is_empty() {
            return Err(FrameError::EmptyColumnName {
                path: path.to_path_buf(),
                position: i + 1,
            });
        }
        if let Some(first) = names.iter().position(|n| *n == name) {
            return Err(FrameError::DuplicateColumn {
                path: path.to_path_buf(),
                name,
                first: first + 1,
                second: i + 1,
            });
        }
        names.push(name);
    }

    let extra_missing: Vec<&str> = options.missing.iter().map(|s| s.trim()).collect();
    let mut builders: Vec<ColumnBuilder> = names
        .iter()
        .map(|n| {
            if options.categorical.iter().any(|c| c == n) {
                ColumnBuilder::Categorical(CategoricalBuilder::default())
            } else {
                ColumnBuilder::Numeric(Vec::new())
            }
        })
        .collect();
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(e)),
        }
        lines.push(record.position().map_or(0, |p| p.line()));
        for (builder, raw) in builders.iter_mut().zip(record.iter()) {
            let missing = is_missing_token(raw) || extra_missing.contains(&raw.trim());
            builder.push(raw, missing);
        }
    }
    let columns: Vec<Column> = names
        .into_iter()
        .zip(builders)
        .map(|(name, b)| Column {
            name,
            data: b.finish(),
        })
        .collect();
    let n_rows = lines.len();
    Ok(Frame {
        columns,
        n_rows,
        lines,
    })
}

impl Frame {
    /// A frame from columns of equal length.
    pub fn new(columns: Vec<Column>) -> Result<Frame, FrameError> {
        let n_rows = columns.first().map_or(0, Column::len);
        for c in &columns {
            if c.len() != n_rows {
                return Err(FrameError::LengthMismatch {
                    name: c.name.clone(),
                    expected: n_rows,
                    found: c.len(),
                });
            }
        }
        Ok(Frame {
            columns,
            n_rows,
            lines: Vec::new(),
        })
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The 1-based source line of row `i`, when the frame was read from a file.
    pub fn line_of(&self, i: usize) -> Option<u64> {
        self.lines.get(i).copied()
    }

    fn no_such_column(&self, name: &str) -> FrameError {
        FrameError::NoSuchColumn {
            name: name.to_string(),
            available: self.names().join(", "),
        }
    }

    /// Removes and returns the named column.
    pub fn take_column(&mut self, name: &str) -> Result<Column, FrameError> {
        let i = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| self.no_such_column(name))?;
        Ok(self.columns.remove(i))
    }

    /// Drops the named columns; every name must exist (a typo should not pass silently).
    pub fn drop_columns<S: AsRef<str>>(&mut self, names: &[S]) -> Result<(), FrameError> {
        for n in names {
            self.take_column(n.as_ref())?;
        }
        Ok(())
    }

    /// The rows at `rows`, in that order (indices may repeat, as in a bootstrap).
    pub fn select_rows(&self, rows: &[usize]) -> Result<Frame, FrameError> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.n_rows) {
            return Err(FrameError::RowOutOfRange {
                index: bad,
                n_rows: self.n_rows,
            });
        }
        Ok(Frame {
            columns: self.columns.iter().map(|c| c.take(rows)).collect(),
            n_rows: rows.len(),
            lines: if self.lines.is_empty() {
                Vec::new()
            } else {
                rows.iter().map(|&r| self.lines[r]).collect()
            },
        })
    }

    /// Row-major `f64` matrix of every column (level codes for categorical columns,
    /// `NaN` for missing values): the layout LightGBM and most solvers take.
    pub fn to_row_major(&self) -> Vec<f64> {
        let p = self.columns.len();
        let mut out = vec![0.0; self.n_rows * p];
        for (j, c) in self.columns.iter().enumerate() {
            match &c.data {
                ColumnData::Numeric(v) => {
                    for (i, x) in v.iter().enumerate() {
                        out[i * p + j] = *x;
                    }
                }
                ColumnData::Categorical { codes, .. } => {
                    for (i, code) in codes.iter().enumerate() {
                        out[i * p + j] = code.map_or(f64::NAN, |c| c as f64);
                    }
                }
            }
        }
        out
    }

    /// Splits off the named column as a binary target.
    ///
    /// The positive class is `positive` when given (compared with the cell text, or
    /// numerically for a numeric column); otherwise the value `yes`, `1` or `true` (any
    /// case). A missing target value is an error naming its line.
    pub fn split_binary_target(
        mut self,
        target: &str,
        positive: Option<&str>,
    ) -> Result<(Frame, BinaryTarget), FrameError> {
        let column = self.take_column(target)?;
        let values = distinct_values(&column);
        let shown = || {
            let mut v = values.clone();
            if v.len() > 10 {
                v.truncate(10);
                v.push("…".into());
            }
            v.join(", ")
        };
        let missing_at = |i: usize| FrameError::MissingTarget {
            column: target.to_string(),
            line: self.line_of(i).unwrap_or(i as u64 + 2),
        };
        let positive_text = match positive {
            Some(p) => p.trim().to_string(),
            None => values
                .iter()
                .find(|v| {
                    let v = v.trim();
                    v.eq_ignore_ascii_case("yes") || v == "1" || v.eq_ignore_ascii_case("true")
                })
                .cloned()
                .ok_or_else(|| FrameError::AmbiguousPositive {
                    column: target.to_string(),
                    values: shown(),
                })?,
        };
        let mut y = Vec::with_capacity(self.n_rows);
        match &column.data {
            ColumnData::Numeric(v) => {
                let p: f64 =
                    parse_number(&positive_text).ok_or_else(|| FrameError::PositiveNotFound {
                        column: target.to_string(),
                        positive: positive_text.clone(),
                        values: shown(),
                    })?;
                for (i, &x) in v.iter().enumerate() {
                    if x.is_nan() {
                        return Err(missing_at(i));
                    }
                    y.push(if x == p { 1.0 } else { 0.0 });
                }
            }
            ColumnData::Categorical { codes, levels } => {
                let pos_code = levels.iter().position(|l| *l == positive_text);
                for (i, c) in codes.iter().enumerate() {
                    let Some(c) = c else {
                        return Err(missing_at(i));
                    };
                    y.push(if Some(*c as usize) == pos_code {
                        1.0
                    } else {
                        0.0
                    });
                }
            }
        }
        let n_pos = y.iter().filter(|&&v| v == 1.0).count();
        if n_pos == 0 {
            return Err(FrameError::PositiveNotFound {
                column: target.to_string(),
                positive: positive_text,
                values: shown(),
            });
        }
        if n_pos == y.len() {
            return Err(FrameError::SingleClass {
                column: target.to_string(),
                positive: positive_text,
            });
        }
        Ok((
            self,
            BinaryTarget {
                name: target.to_string(),
                positive: positive_text,
                y,
            },
        ))
    }
}

/// Distinct non-missing values of a column as text, in order of first appearance.
fn distinct_values(column: &Column) -> Vec<String> {
    match &column.data {
        ColumnData::Categorical { levels, .. } => levels.clone(),
        ColumnData::Numeric(v) => {
            let mut seen: Vec<f64> = Vec::new();
            for &x in v {
                if !x.is_nan() && !seen.contains(&x) {
                    seen.push(x);
                    if seen.len() > 20 {
                        break;
                    }
                }
            }
            seen.iter().map(|x| x.to_string()).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn sniffs_each_delimiter() {
        for d in [",", ";", "\t", "|"] {
            let text = format!("a{d}b{d}c\n1{d}2{d}3\n4{d}5{d}6\n");
            assert_eq!(sniff_delimiter(text.as_bytes()), d.as_bytes()[0], "{d:?}");
        }
        // Commas inside quotes do not count.
        let text = "\"x,y\";b\n\"1,5\";2\n";
        assert_eq!(sniff_delimiter(text.as_bytes()), b';');
    }

    #[test]
    fn detects_types_and_missing_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "t.csv",
            "age;job;balance;flag\n30;admin.;100;1\nNA;unknown;;0\n45;admin.;-3.5;null\n",
        );
        let f = read_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(f.n_rows(), 3);
        assert_eq!(f.names(), vec!["age", "job", "balance", "flag"]);
        let ColumnData::Numeric(age) = &f.column("age").unwrap().data else {
            panic!("age should be numeric")
        };
        assert_eq!(age[0], 30.0);
        assert!(age[1].is_nan());
        let ColumnData::Categorical { codes, levels } = &f.column("job").unwrap().data else {
            panic!("job should be categorical")
        };
        assert_eq!(levels, &vec!["admin.".to_string(), "unknown".to_string()]);
        assert_eq!(codes, &vec![Some(0), Some(1), Some(0)]);
        assert_eq!(f.column("balance").unwrap().missing_count(), 1);
        assert_eq!(f.column("flag").unwrap().missing_count(), 1);
        assert_eq!(f.line_of(2), Some(4));
    }

    #[test]
    fn mixed_column_becomes_categorical_keeping_earlier_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m.csv", "code,x\n1,1\n2,2\nA7,3\n");
        let f = read_csv(&p, &CsvOptions::default()).unwrap();
        let c = f.column("code").unwrap();
        assert!(c.is_categorical());
        assert_eq!(c.text(0).as_deref(), Some("1"));
        assert_eq!(c.text(2).as_deref(), Some("A7"));
    }

    #[test]
    fn forced_categorical_and_extra_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m.csv", "branch,x\n101,?\n102,2\n101,3\n");
        let opts = CsvOptions {
            categorical: vec!["branch".into()],
            missing: vec!["?".into()],
            ..CsvOptions::default()
        };
        let f = read_csv(&p, &opts).unwrap();
        assert!(f.column("branch").unwrap().is_categorical());
        assert_eq!(f.column("x").unwrap().missing_count(), 1);
        assert!(!f.column("x").unwrap().is_categorical());
    }

    #[test]
    fn reads_gzip_by_magic_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no-extension");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&p).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"a|b\n1|x\n2|y\n").unwrap();
        gz.finish().unwrap();
        let f = read_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(f.n_rows(), 2);
        assert_eq!(f.names(), vec!["a", "b"]);
    }

    #[test]
    fn ragged_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "bad.csv", "a,b,c\n1,2,3\n4,5\n");
        let err = read_csv(&p, &CsvOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.csv"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("expected 3 fields"), "{msg}");
    }

    #[test]
    fn header_problems_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "dup.csv", "a,b,a\n1,2,3\n");
        assert!(matches!(
            read_csv(&p, &CsvOptions::default()),
            Err(FrameError::DuplicateColumn {
                first: 1,
                second: 3,
                ..
            })
        ));
        let p = write(&dir, "empty.csv", "\n");
        assert!(matches!(
            read_csv(&p, &CsvOptions::default()),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn binary_target_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "t.csv", "x,y\n1,no\n2,yes\n3,no\n");
        let f = read_csv(&p, &CsvOptions::default()).unwrap();
        let (x, t) = f.clone().split_binary_target("y", None).unwrap();
        assert_eq!(t.y, vec![0.0, 1.0, 0.0]);
        assert_eq!(t.positive, "yes");
        assert_eq!(x.names(), vec!["x"]);
        let (_, t) = f.clone().split_binary_target("y", Some("no")).unwrap();
        assert_eq!(t.y, vec![1.0, 0.0, 1.0]);
        // Numeric target 0/1 and an explicit numeric positive.
        let (_, t) = f.clone().split_binary_target("x", Some("2")).unwrap();
        assert_eq!(t.y, vec![0.0, 1.0, 0.0]);
        assert!(matches!(
            f.clone().split_binary_target("y", Some("maybe")),
            Err(FrameError::PositiveNotFound { .. })
        ));
        assert!(matches!(
            f.split_binary_target("nope", None),
            Err(FrameError::NoSuchColumn { .. })
        ));
    }

    #[test]
    fn ambiguous_and_missing_targets() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "t.csv", "x,y\n1,good\n2,bad\n3,\n");
        let f = read_csv(&p, &CsvOptions::default()).unwrap();
        let err = f.clone().split_binary_target("y", None).unwrap_err();
        assert!(err.to_string().contains("--positive"), "{err}");
        let err = f.split_binary_target("y", Some("bad")).unwrap_err();
        assert!(
            matches!(err, FrameError::MissingTarget { line: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn select_rows_keeps_levels_and_matrix_layout() {
        let f = Frame::new(vec![
            Column::numeric("a", vec![1.0, f64::NAN, 3.0]),
            Column::categorical("b", &[Some("x"), None, Some("y")]),
        ])
        .unwrap();
        let s = f.select_rows(&[2, 0]).unwrap();
        let m = s.to_row_major();
        assert_eq!(m, vec![3.0, 1.0, 1.0, 0.0]);
        let ColumnData::Categorical { levels, .. } = &s.column("b").unwrap().data else {
            panic!()
        };
        assert_eq!(levels.len(), 2);
        assert!(f.to_row_major()[2].is_nan() && f.to_row_major()[3].is_nan());
        assert!(f.select_rows(&[3]).is_err());
    }
}
