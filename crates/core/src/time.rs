//! Times are stored as UTC microseconds since the Unix epoch; dates as days since the epoch.
//!
//! Source systems in Chinese banks usually write local time without an offset, so a
//! naive timestamp is read in a configurable source offset (default UTC+08:00) and
//! converted to UTC. The parsers are hand-written because ingest runs them on every row.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

pub const MICROS_PER_SEC: i64 = 1_000_000;
/// China Standard Time, the default offset for timestamps that carry none.
pub const CST_OFFSET_SECS: i32 = 8 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("'{0}' is not a date: use YYYY-MM-DD (also accepted: YYYYMMDD, YYYY/MM/DD)")]
    BadDate(String),
    #[error(
        "'{0}' is not a timestamp: use RFC 3339 such as 2024-03-01T09:30:00+08:00, or 'YYYY-MM-DD HH:MM:SS' in the source offset"
    )]
    BadTimestamp(String),
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe as i32 - 719468
}

/// The proleptic Gregorian date of a day count. Total over `i32`: the arithmetic is done in
/// `i64`, because day counts come from files (a Parquet `DATE` column can hold any `i32`) and
/// `z + 719468` overflowed near `i32::MAX`. The year of any `i32` day count fits an `i32`.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = i64::from(z) + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = (z - era * 146097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = i64::from(yoe) + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn ymd(y: u32, m: u32, d: u32) -> Option<i32> {
    let y = y as i32;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || !(1800..=2999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses a date into days since the epoch.
pub fn parse_date(raw: &str) -> Result<i32, TimeError> {
    let s = raw.trim();
    let b = s.as_bytes();
    let r = match b.len() {
        10 if (b[4] == b'-' && b[7] == b'-') || (b[4] == b'/' && b[7] == b'/') => ymd(
            digits(&b[0..4]).unwrap_or(0),
            digits(&b[5..7]).unwrap_or(0),
            digits(&b[8..10]).unwrap_or(0),
        ),
        8 => ymd(
            digits(&b[0..4]).unwrap_or(0),
            digits(&b[4..6]).unwrap_or(0),
            digits(&b[6..8]).unwrap_or(0),
        ),
        _ => None,
    };
    r.ok_or_else(|| TimeError::BadDate(raw.to_string()))
}

/// Parses a timestamp into UTC microseconds. Naive values are read at `naive_offset_secs`
/// east of UTC; a bare date means midnight in that offset.
pub fn parse_timestamp(raw: &str, naive_offset_secs: i32) -> Result<i64, TimeError> {
    let s = raw.trim();
    fast_timestamp(s.as_bytes(), naive_offset_secs)
        .or_else(|| slow_timestamp(s, naive_offset_secs))
        .ok_or_else(|| TimeError::BadTimestamp(raw.to_string()))
}

fn fast_timestamp(b: &[u8], naive_offset_secs: i32) -> Option<i64> {
    if b.len() == 10 || b.len() == 8 {
        let days = parse_date(std::str::from_utf8(b).ok()?).ok()?;
        return Some((days as i64 * 86400 - naive_offset_secs as i64) * MICROS_PER_SEC);
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let days = ymd(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let (h, mi, se) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut v = digits(&frac[..n.min(6)])? as i64;
        for _ in n.min(6)..6 {
            v *= 10;
        }
        micros = v;
        rest = &frac[n..];
    }
    let offset = match rest {
        [] => naive_offset_secs,
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2]
        | [sign @ (b'+' | b'-'), oh1, oh2, om1, om2] => {
            let oh = digits(&[*oh1, *oh2])? as i32;
            let om = digits(&[*om1, *om2])? as i32;
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let secs = days as i64 * 86400 + (h * 3600 + mi * 60 + se) as i64 - offset as i64;
    Some(secs * MICROS_PER_SEC + micros)
}

fn slow_timestamp(s: &str, naive_offset_secs: i32) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for f in [
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
        "%Y%m%d %H%M%S",
        "%Y%m%d%H%M%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(
                n.and_utc().timestamp_micros() - naive_offset_secs as i64 * MICROS_PER_SEC,
            );
        }
    }
    None
}

/// RFC 3339 in UTC, e.g. `2024-03-01T01:30:00Z`.
pub fn format_timestamp(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn naive_date(days: i32) -> Option<NaiveDate> {
    let (y, m, d) = civil_from_days(days);
    NaiveDate::from_ymd_opt(y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_convert_to_utc() {
        let utc = parse_timestamp("2024-03-01T01:30:00Z", CST_OFFSET_SECS).unwrap();
        assert_eq!(
            parse_timestamp("2024-03-01 09:30:00", CST_OFFSET_SECS),
            Ok(utc)
        );
        assert_eq!(parse_timestamp("2024-03-01T09:30:00+08:00", 0), Ok(utc));
        assert_eq!(parse_timestamp("2024-03-01T09:30:00+0800", 0), Ok(utc));
        assert_eq!(
            parse_timestamp("2024/03/01 09:30:00", CST_OFFSET_SECS),
            Ok(utc)
        );
        assert_eq!(
            parse_timestamp("2024-03-01T01:30:00.25Z", 0),
            Ok(utc + 250_000)
        );
        assert_eq!(format_timestamp(utc), "2024-03-01T01:30:00Z");
        assert!(parse_timestamp("2024-02-30 00:00:00", 0).is_err());
        assert!(parse_timestamp("yesterday", 0).is_err());
    }

    #[test]
    fn dates_in_three_forms() {
        let d = parse_date("1997-01-01").unwrap();
        assert_eq!(parse_date("19970101"), Ok(d));
        assert_eq!(parse_date("1997/01/01"), Ok(d));
        assert_eq!(format_date(d), "1997-01-01");
        assert!(parse_date("1997-13-01").is_err());
    }

    /// Day counts from a file can be any `i32`; the extremes used to overflow.
    #[test]
    fn any_day_count_formats_without_overflow() {
        for z in [
            i32::MIN,
            i32::MIN + 1,
            -719_469,
            -1,
            0,
            1,
            i32::MAX - 1,
            i32::MAX,
        ] {
            let (y, m, d) = civil_from_days(z);
            assert!(
                (1..=12).contains(&m) && (1..=31).contains(&d),
                "{z}: {y}-{m}-{d}"
            );
            assert!(!format_date(z).is_empty());
        }
        assert_eq!(format_date(i32::MAX), "5881580-07-11");
        assert_eq!(format_date(i32::MIN), "-5877641-06-23");
        assert!(naive_date(i32::MAX).is_none(), "beyond chrono's range");
    }

    proptest! {
        #[test]
        fn civil_round_trip(z in -100_000i32..200_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }
        #[test]
        fn fast_path_agrees_with_chrono(secs in 0i64..4_000_000_000) {
            let dt = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let s = dt.format("%Y-%m-%d %H:%M:%S").to_string();
            prop_assert_eq!(parse_timestamp(&s, 0), Ok(secs * MICROS_PER_SEC));
        }
    }
}
