//! Money is stored as integer 分 (fen, 1/100 yuan). Floats never hold money.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in 分 (1/100 of a yuan). Also used for other currencies' minor units
/// (cents) where a dataset is not in CNY; the row's `currency` column says which.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub fn from_yuan_str(s: &str) -> Result<Fen, MoneyError> {
        parse_decimal_to_minor(s).map(Fen)
    }
    pub fn yuan(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("empty amount")]
    Empty,
    #[error("'{0}' is not an amount: use digits with at most 2 decimals, e.g. 1234.56")]
    Invalid(String),
    #[error("'{0}' has more than 2 decimals: 分 is the smallest unit")]
    TooPrecise(String),
    #[error("'{0}' is too large")]
    Overflow(String),
}

/// How a money column's plain numbers are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AmountUnit {
    /// Plain integers are 分; a value with a decimal point or a 元/¥ mark is yuan.
    #[default]
    Fen,
    /// Plain numbers are yuan.
    Yuan,
}

/// Parses an amount into 分.
///
/// Accepts `1234` (in `unit`), `1234.5`, `1,234.56`, `¥12.30`, `12.30元`, `-5`.
/// A decimal point or a yuan mark always means yuan.
pub fn parse_amount(raw: &str, unit: AmountUnit) -> Result<i64, MoneyError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (s, marked) = strip_yuan_marks(s);
    if !marked && unit == AmountUnit::Fen && !s.contains('.') {
        return parse_plain_int(s).ok_or_else(|| MoneyError::Invalid(raw.to_string()));
    }
    parse_decimal_to_minor(s).map_err(|e| match e {
        MoneyError::Invalid(_) => MoneyError::Invalid(raw.to_string()),
        other => other,
    })
}

fn strip_yuan_marks(s: &str) -> (&str, bool) {
    let mut marked = false;
    let mut s = s;
    for p in ["¥", "￥", "RMB", "CNY"] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.trim_start();
            marked = true;
        }
    }
    for p in ["元", "RMB", "CNY"] {
        if let Some(r) = s.strip_suffix(p) {
            s = r.trim_end();
            marked = true;
        }
    }
    (s, marked)
}

fn parse_plain_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if c == b',' {
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// `"12.3"` → 1230. Exact: no float rounding.
pub fn parse_decimal_to_minor(s: &str) -> Result<i64, MoneyError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    // Digits first: slicing the decimals below must not land inside a multi-byte character.
    if !frac_part.bytes().all(|c| c.is_ascii_digit()) {
        return Err(MoneyError::Invalid(s.to_string()));
    }
    if frac_part.len() > 2 {
        if frac_part[2..].bytes().all(|c| c == b'0') {
            return parse_decimal_to_minor(&s[..s.len() - (frac_part.len() - 2)]);
        }
        return Err(MoneyError::TooPrecise(s.to_string()));
    }
    let neg = int_part.starts_with('-');
    let int_digits = int_part.trim_start_matches(['-', '+']);
    let int_val = if int_digits.is_empty() {
        if frac_part.is_empty() {
            return Err(MoneyError::Invalid(s.to_string()));
        }
        0
    } else {
        parse_plain_int(int_digits).ok_or_else(|| MoneyError::Invalid(s.to_string()))?
    };
    let mut frac: i64 = 0;
    for (i, c) in frac_part.bytes().enumerate() {
        frac += (c - b'0') as i64 * if i == 0 { 10 } else { 1 };
    }
    let v = int_val
        .checked_mul(100)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(|| MoneyError::Overflow(s.to_string()))?;
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_yuan_forms() {
        assert_eq!(parse_amount("12.3", AmountUnit::Fen), Ok(1230));
        assert_eq!(parse_amount("1,234.56", AmountUnit::Fen), Ok(123456));
        assert_eq!(parse_amount("¥12", AmountUnit::Fen), Ok(1200));
        assert_eq!(parse_amount("12元", AmountUnit::Fen), Ok(1200));
        assert_eq!(parse_amount("1200", AmountUnit::Fen), Ok(1200));
        assert_eq!(parse_amount("12", AmountUnit::Yuan), Ok(1200));
        assert_eq!(parse_amount("-0.05", AmountUnit::Fen), Ok(-5));
        assert_eq!(parse_amount("1.2300", AmountUnit::Fen), Ok(123));
        assert!(matches!(
            parse_amount("1.234", AmountUnit::Fen),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            parse_amount("abc", AmountUnit::Fen),
            Err(MoneyError::Invalid(_))
        ));
        assert_eq!(parse_amount("  ", AmountUnit::Fen), Err(MoneyError::Empty));
    }

    /// A multi-byte character straddling the second decimal used to make the trailing-zero
    /// check slice inside it and panic.
    #[test]
    fn non_ascii_decimals_are_invalid_not_a_panic() {
        for s in ["1.aé", "1.0é", "1.€", "¥1.5元0", "1.00ü0"] {
            assert!(
                matches!(
                    parse_amount(s, AmountUnit::Fen),
                    Err(MoneyError::Invalid(_))
                ),
                "{s}"
            );
        }
        assert_eq!(parse_decimal_to_minor("1.2000"), Ok(120));
    }

    proptest! {
        #[test]
        fn display_round_trips(v in -1_000_000_000_000i64..1_000_000_000_000) {
            let s = Fen(v).to_string();
            prop_assert_eq!(Fen::from_yuan_str(&s), Ok(Fen(v)));
        }
    }
}
