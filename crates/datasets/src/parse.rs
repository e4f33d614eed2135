//! Field parsing with errors that point at the file, line and field.

use crate::DatasetError;
use std::path::Path;
use zhiying_core::money::parse_decimal_to_minor;
use zhiying_core::time::{days_from_civil, format_date, format_timestamp, parse_date};

/// Where a value came from, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub path: &'a Path,
    pub line: u64,
}

impl At<'_> {
    pub(crate) fn err(
        &self,
        field: &'static str,
        value: &str,
        reason: impl Into<String>,
    ) -> DatasetError {
        DatasetError::Field {
            path: self.path.to_path_buf(),
            line: self.line,
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn int(
        &self,
        field: &'static str,
        raw: &str,
        min: i64,
        max: i64,
    ) -> Result<i64, DatasetError> {
        let v: i64 = raw
            .trim()
            .parse()
            .map_err(|_| self.err(field, raw, "expected a whole number such as 42"))?;
        if !(min..=max).contains(&v) {
            return Err(self.err(field, raw, format!("out of range {min}..={max}")));
        }
        Ok(v)
    }

    /// A decimal amount in major units (dollars, euros) → integer minor units (cents).
    pub(crate) fn minor_units(&self, field: &'static str, raw: &str) -> Result<i64, DatasetError> {
        let v = parse_decimal_to_minor(raw)
            .map_err(|e| self.err(field, raw, format!("{e}; expected an amount such as 12.34")))?;
        if v < 0 {
            return Err(self.err(field, raw, "amount must not be negative"));
        }
        Ok(v)
    }

    /// `0`/`1` flags.
    pub(crate) fn flag(&self, field: &'static str, raw: &str) -> Result<bool, DatasetError> {
        match raw.trim() {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(self.err(field, raw, "expected 0 or 1")),
        }
    }

    /// `yes`/`no` flags.
    pub(crate) fn yes_no(&self, field: &'static str, raw: &str) -> Result<bool, DatasetError> {
        match raw.trim() {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(self.err(field, raw, "expected yes or no")),
        }
    }

    /// A code that must appear in the catalogue list `allowed` (after trim + lower-case).
    pub(crate) fn code(
        &self,
        field: &'static str,
        raw: &str,
        allowed: &[&'static str],
    ) -> Result<String, DatasetError> {
        let v = raw.trim().to_ascii_lowercase();
        if allowed.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(self.err(
                field,
                raw,
                format!("not a known code; expected one of {}", allowed.join(", ")),
            ))
        }
    }

    /// Days since the epoch for a calendar date, rejecting impossible dates.
    pub(crate) fn ymd(
        &self,
        field: &'static str,
        raw: &str,
        y: i32,
        m: u32,
        d: u32,
    ) -> Result<i32, DatasetError> {
        parse_date(&format!("{y:04}-{m:02}-{d:02}")).map_err(|_| {
            self.err(
                field,
                raw,
                format!("{y:04}-{m:02}-{d:02} is not a calendar date"),
            )
        })
    }
}

/// Canonical date text for a `(y, m, d)` known to be valid.
pub(crate) fn date(y: i32, m: u32, d: u32) -> String {
    format_date(days_from_civil(y, m, d))
}

/// Canonical timestamp text (RFC 3339 UTC) for midnight UTC of a day.
pub(crate) fn midnight_utc(days: i32) -> String {
    format_timestamp(days as i64 * 86_400 * 1_000_000)
}

/// `2008-05-01` minus `months` calendar months, day of month kept at 1.
pub(crate) fn first_of_month_minus(y: i32, m: u32, months: u32) -> (i32, u32) {
    let total = y * 12 + (m as i32 - 1) - months as i32;
    (total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
}

/// Zero-padded numeric id with a prefix, e.g. `id("UB", 7, 5)` = `UB00007`.
pub(crate) fn id(prefix: &str, n: u64, width: usize) -> String {
    format!("{prefix}{n:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_wraps_years() {
        assert_eq!(first_of_month_minus(2008, 3, 1), (2008, 2));
        assert_eq!(first_of_month_minus(2008, 3, 3), (2007, 12));
        assert_eq!(first_of_month_minus(2008, 3, 12), (2007, 3));
        assert_eq!(first_of_month_minus(2008, 3, 15), (2006, 12));
    }

    #[test]
    fn fields_parse_or_name_the_problem() {
        let at = At {
            path: Path::new("x.csv"),
            line: 7,
        };
        assert_eq!(at.minor_units("spend", "29.99").unwrap(), 2999);
        assert_eq!(at.minor_units("spend", "0").unwrap(), 0);
        let e = at.minor_units("spend", "1.234").unwrap_err().to_string();
        assert!(
            e.contains("x.csv") && e.contains("line 7") && e.contains("spend"),
            "{e}"
        );
        assert!(at.int("age", "abc", 0, 10).is_err());
        assert!(at.int("age", "11", 0, 10).is_err());
        assert_eq!(at.code("job", " Admin ", &["admin"]).unwrap(), "admin");
        assert!(
            at.code("job", "pilot", &["admin"])
                .unwrap_err()
                .to_string()
                .contains("expected one of admin")
        );
        assert!(at.ymd("day", "29", 2009, 2, 29).is_err());
        assert_eq!(date(2008, 5, 1), "2008-05-01");
        assert_eq!(
            midnight_utc(days_from_civil(2008, 5, 5)),
            "2008-05-05T00:00:00Z"
        );
        assert_eq!(id("UB", 7, 5), "UB00007");
    }
}
