//! Row validation and cleaning, driven entirely by the table's [`TableDef`].
//!
//! A row is validated into a reusable staging area ([`Val`]s plus one string buffer) and
//! only appended to the Arrow builders once every column passed, so a rejected row never
//! leaves half a row behind. Nothing here allocates per field once the buffers are warm.

use crate::clean;
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use zhiying_core::money::{AmountUnit, MoneyError, parse_amount};
use zhiying_core::schema::{ColumnDef, ColumnType, TableDef};
use zhiying_core::time::{TimeError, parse_date, parse_timestamp};

/// Why a row was rejected. `kind` is a stable short code used for counting.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub column: Option<&'static str>,
    pub kind: &'static str,
    /// What is wrong and how to fix it, prefixed by the column.
    pub reason: String,
    /// How to fix it, alone.
    pub hint: String,
}

impl Rejection {
    pub fn new(
        column: Option<&'static str>,
        kind: &'static str,
        what: impl AsRef<str>,
        hint: impl Into<String>,
    ) -> Self {
        let hint = hint.into();
        let reason = match column {
            Some(c) => format!("{c}: {}: {hint}", what.as_ref()),
            None => format!("{}: {hint}", what.as_ref()),
        };
        Rejection {
            column,
            kind,
            reason,
            hint,
        }
    }
}

/// A validated, cleaned value.
#[derive(Debug, Clone, Copy)]
pub enum Val {
    Null,
    /// Byte range in the validator's string buffer.
    Str(u32, u32),
    Static(&'static str),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(i32),
    Ts(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    None,
    Phone,
    ResidentId,
    Email,
    /// `identities.id_value`, normalised according to the row's `id_type`.
    IdValue,
}

pub struct Validator<'t> {
    pub table: &'t TableDef,
    specials: Vec<Special>,
    id_type_col: Option<usize>,
    unit: AmountUnit,
    naive_offset_secs: i32,
    sbuf: String,
    pub vals: Vec<Val>,
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

impl<'t> Validator<'t> {
    pub fn new(table: &'t TableDef, unit: AmountUnit, naive_offset_secs: i32) -> Self {
        let has_id_type = table.column_index("id_type");
        let specials = table
            .columns
            .iter()
            .map(|c| match (c.name, c.ty) {
                ("phone" | "mobile", ColumnType::Text { .. }) => Special::Phone,
                ("resident_id", ColumnType::Text { .. }) => Special::ResidentId,
                ("email", ColumnType::Text { .. }) => Special::Email,
                ("id_value", ColumnType::Text { .. }) if has_id_type.is_some() => Special::IdValue,
                _ => Special::None,
            })
            .collect();
        Validator {
            table,
            specials,
            id_type_col: has_id_type,
            unit,
            naive_offset_secs,
            sbuf: String::with_capacity(1024),
            vals: vec![Val::Null; table.columns.len()],
        }
    }

    /// Validates one row. `field(i)` gives the raw bytes of canonical column `i`, or `None`
    /// when the input has no such column.
    pub fn validate<'r>(
        &mut self,
        field: impl Fn(usize) -> Option<&'r [u8]>,
    ) -> Result<(), Rejection> {
        self.sbuf.clear();
        let table = self.table;
        // Columns are done in order, but id_value needs id_type: id_type precedes it in the schema.
        for (i, def) in table.columns.iter().enumerate() {
            let raw = field(i).map(trim_ascii).unwrap_or(b"");
            let v = self.value(i, def, raw)?;
            self.vals[i] = v;
        }
        Ok(())
    }

    fn value(&mut self, i: usize, def: &ColumnDef, raw: &[u8]) -> Result<Val, Rejection> {
        let col = Some(def.name);
        let s = match std::str::from_utf8(raw) {
            Ok(s) => s.trim(),
            Err(_) => {
                return Err(Rejection::new(
                    col,
                    "bad_encoding",
                    "is not valid UTF-8",
                    "save the file as UTF-8 (convert GBK exports with: iconv -f GBK -t UTF-8)",
                ));
            }
        };
        if s.is_empty()
            || (s.eq_ignore_ascii_case("null") && !matches!(def.ty, ColumnType::Text { .. }))
        {
            if def.required {
                return Err(Rejection::new(
                    col,
                    "missing_required",
                    "required value is missing",
                    format!("fill in {} ({})", def.name, def.description),
                ));
            }
            return Ok(Val::Null);
        }
        let shown = || clean::shown(s);
        Ok(match def.ty {
            ColumnType::Text { max_len } => {
                let start = self.sbuf.len();
                let res = match self.specials[i] {
                    Special::None => {
                        self.sbuf.push_str(s);
                        Ok(())
                    }
                    Special::Phone => clean::phone(s, &mut self.sbuf),
                    Special::ResidentId => clean::resident_id(s, &mut self.sbuf),
                    Special::Email => clean::email(s, &mut self.sbuf),
                    Special::IdValue => {
                        let kind = self.id_type_col.and_then(|c| match self.vals[c] {
                            Val::Static(k) => Some(k),
                            _ => None,
                        });
                        match kind {
                            Some("phone") => clean::phone(s, &mut self.sbuf),
                            Some("resident_id") => clean::resident_id(s, &mut self.sbuf),
                            Some("email") => clean::email(s, &mut self.sbuf),
                            Some("card_no") => clean::card_no(s, &mut self.sbuf),
                            _ => {
                                self.sbuf.push_str(s);
                                Ok(())
                            }
                        }
                    }
                };
                if let Err((what, hint)) = res {
                    let kind = match self.specials[i] {
                        Special::Phone => "bad_phone",
                        Special::ResidentId => "bad_resident_id",
                        Special::Email => "bad_email",
                        _ => "bad_identifier",
                    };
                    return Err(Rejection::new(col, kind, what, hint));
                }
                let end = self.sbuf.len();
                let v = &self.sbuf[start..end];
                if v.len() > max_len {
                    let n = v.chars().count();
                    if n > max_len {
                        return Err(Rejection::new(
                            col,
                            "too_long",
                            format!(
                                "'{}' has {n} characters, more than the {max_len} allowed",
                                clean::shown(v)
                            ),
                            format!("shorten it to at most {max_len} characters"),
                        ));
                    }
                }
                Val::Str(start as u32, end as u32)
            }
            ColumnType::Code(list) => match list.iter().find(|c| c.eq_ignore_ascii_case(s)) {
                Some(c) => Val::Static(c),
                None => {
                    return Err(Rejection::new(
                        col,
                        "bad_code",
                        format!("'{}' is not a valid code", shown()),
                        format!("use one of {}", list.join(", ")),
                    ));
                }
            },
            ColumnType::Int { min, max } => {
                let v: i64 = s.strip_prefix('+').unwrap_or(s).parse().map_err(|_| {
                    Rejection::new(
                        col,
                        "bad_int",
                        format!("'{}' is not a whole number", shown()),
                        "use digits only, e.g. 42",
                    )
                })?;
                range_check(col, v, min, max)?;
                Val::I64(v)
            }
            ColumnType::Float { min, max } => {
                let v: f64 = s
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        Rejection::new(
                            col,
                            "bad_number",
                            format!("'{}' is not a number", shown()),
                            "use a decimal number, e.g. 0.25",
                        )
                    })?;
                if v < min || v > max {
                    return Err(Rejection::new(
                        col,
                        "out_of_range",
                        format!("{v} is out of range"),
                        format!("use a value between {min} and {max}"),
                    ));
                }
                Val::F64(v)
            }
            ColumnType::Money { min, max } => {
                let v = parse_amount(s, self.unit).map_err(|e| money_rejection(col, e))?;
                if v < min || v > max {
                    return Err(Rejection::new(
                        col,
                        "out_of_range",
                        format!("'{}' ({v} 分) is out of range", shown()),
                        format!(
                            "use an amount between {} and {} yuan",
                            zhiying_core::Fen(min),
                            zhiying_core::Fen(max)
                        ),
                    ));
                }
                Val::I64(v)
            }
            ColumnType::Timestamp => Val::Ts(
                parse_timestamp(s, self.naive_offset_secs).map_err(|e| time_rejection(col, e))?,
            ),
            ColumnType::Date => Val::Date(parse_date(s).map_err(|e| time_rejection(col, e))?),
            ColumnType::Bool => Val::Bool(clean::boolean(s).ok_or_else(|| {
                Rejection::new(
                    col,
                    "bad_bool",
                    format!("'{}' is not a yes/no value", shown()),
                    "use true or false",
                )
            })?),
        })
    }

    /// The string value of a staged `Val::Str`/`Val::Static`.
    pub fn str_of(&self, v: Val) -> Option<&str> {
        match v {
            Val::Str(a, b) => Some(&self.sbuf[a as usize..b as usize]),
            Val::Static(s) => Some(s),
            _ => None,
        }
    }

    /// Canonical key bytes of staged columns `cols`, joined by 0x1f, into `buf`.
    /// Returns false when any part is null (a null never matches a key).
    pub fn key_bytes(&self, cols: &[usize], buf: &mut Vec<u8>) -> bool {
        buf.clear();
        for (n, &c) in cols.iter().enumerate() {
            if n > 0 {
                buf.push(0x1f);
            }
            let v = self.vals[c];
            match v {
                Val::Null => return false,
                Val::Str(..) | Val::Static(_) => {
                    buf.extend_from_slice(self.str_of(v).unwrap_or("").as_bytes())
                }
                Val::I64(x) | Val::Ts(x) => buf.extend_from_slice(itoa_buf(x).as_bytes()),
                Val::Date(d) => {
                    buf.extend_from_slice(zhiying_core::time::format_date(d).as_bytes())
                }
                Val::F64(f) => buf.extend_from_slice(f.to_string().as_bytes()),
                Val::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
            }
        }
        true
    }
}

fn itoa_buf(x: i64) -> String {
    x.to_string()
}

fn range_check(col: Option<&'static str>, v: i64, min: i64, max: i64) -> Result<(), Rejection> {
    if v < min || v > max {
        return Err(Rejection::new(
            col,
            "out_of_range",
            format!("{v} is out of range"),
            format!("use a value between {min} and {max}"),
        ));
    }
    Ok(())
}

fn money_rejection(col: Option<&'static str>, e: MoneyError) -> Rejection {
    let hint = "use digits with at most 2 decimals, e.g. 1234.56";
    match e {
        MoneyError::Empty => Rejection::new(col, "missing_required", "amount is empty", hint),
        MoneyError::Invalid(s) => Rejection::new(
            col,
            "bad_amount",
            format!("'{}' is not an amount", clean::shown(&s)),
            hint,
        ),
        MoneyError::TooPrecise(s) => Rejection::new(
            col,
            "bad_amount",
            format!("'{}' has more than 2 decimals", clean::shown(&s)),
            "round to 分 (2 decimals), e.g. 1234.56",
        ),
        MoneyError::Overflow(s) => Rejection::new(
            col,
            "out_of_range",
            format!("'{}' is too large", clean::shown(&s)),
            "check the amount and its unit",
        ),
    }
}

fn time_rejection(col: Option<&'static str>, e: TimeError) -> Rejection {
    match e {
        TimeError::BadDate(s) => Rejection::new(
            col,
            "bad_date",
            format!("'{}' is not a date", clean::shown(&s)),
            "use YYYY-MM-DD (also accepted: YYYYMMDD, YYYY/MM/DD)",
        ),
        TimeError::BadTimestamp(s) => Rejection::new(
            col,
            "bad_timestamp",
            format!("'{}' is not a timestamp", clean::shown(&s)),
            "use RFC 3339 such as 2024-03-01T09:30:00+08:00, or 'YYYY-MM-DD HH:MM:SS' in the source offset",
        ),
    }
}

/// One Arrow builder per column, matching `ColumnType::arrow_type`.
pub enum ColBuilder {
    Utf8(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

pub struct Builders {
    cols: Vec<ColBuilder>,
    pub rows: usize,
    schema: arrow::datatypes::SchemaRef,
}

impl Builders {
    pub fn new(table: &TableDef, capacity: usize) -> Self {
        let cols = table
            .columns
            .iter()
            .map(|c| match c.ty {
                ColumnType::Text { .. } | ColumnType::Code(_) => {
                    ColBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
                }
                ColumnType::Int { .. } | ColumnType::Money { .. } => {
                    ColBuilder::I64(Int64Builder::with_capacity(capacity))
                }
                ColumnType::Float { .. } => {
                    ColBuilder::F64(Float64Builder::with_capacity(capacity))
                }
                ColumnType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
                ColumnType::Date => ColBuilder::Date(Date32Builder::with_capacity(capacity)),
                ColumnType::Timestamp => {
                    ColBuilder::Ts(TimestampMicrosecondBuilder::with_capacity(capacity))
                }
            })
            .collect();
        Builders {
            cols,
            rows: 0,
            schema: table.arrow_schema(),
        }
    }

    /// Appends the validator's staged row.
    pub fn append(&mut self, v: &Validator<'_>) {
        for (b, &val) in self.cols.iter_mut().zip(&v.vals) {
            match (b, val) {
                (ColBuilder::Utf8(b), Val::Null) => b.append_null(),
                (ColBuilder::Utf8(b), val) => b.append_value(v.str_of(val).unwrap_or("")),
                (ColBuilder::I64(b), Val::I64(x)) => b.append_value(x),
                (ColBuilder::F64(b), Val::F64(x)) => b.append_value(x),
                (ColBuilder::Bool(b), Val::Bool(x)) => b.append_value(x),
                (ColBuilder::Date(b), Val::Date(x)) => b.append_value(x),
                (ColBuilder::Ts(b), Val::Ts(x)) => b.append_value(x),
                (ColBuilder::I64(b), _) => b.append_null(),
                (ColBuilder::F64(b), _) => b.append_null(),
                (ColBuilder::Bool(b), _) => b.append_null(),
                (ColBuilder::Date(b), _) => b.append_null(),
                (ColBuilder::Ts(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    /// Finishes the buffered rows into a batch and resets the builders.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    ColBuilder::Utf8(b) => Arc::new(b.finish()),
                    ColBuilder::I64(b) => Arc::new(b.finish()),
                    ColBuilder::F64(b) => Arc::new(b.finish()),
                    ColBuilder::Bool(b) => Arc::new(b.finish()),
                    ColBuilder::Date(b) => Arc::new(b.finish()),
                    ColBuilder::Ts(b) => Arc::new(b.finish().with_timezone("UTC")),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}
