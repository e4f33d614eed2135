//! From transactions to the per-customer summary the models take: frequency `x` (repeat
//! purchase days), recency `t_x`, age `T`, mean repeat spend `zbar`, and optionally the
//! holdout-period purchases used to validate a fit.
//!
//! Conventions follow lifetimes' `summary_data_from_transaction_data` with `freq="D"` and
//! Fader & Hardie's CDNOW files: purchases on the same day count once (their amounts are
//! added), `x` counts the days after the first, times are whole days divided by the unit's
//! length (so weeks are `days / 7`, not calendar weeks), `zbar` averages the repeat days'
//! totals (the first purchase is excluded), transactions after the calibration end are
//! holdout data, and customers whose first purchase is after it are left out.

use crate::ClvError;
use crate::data::{CustomerSummary, RfmRow};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The time unit of `t_x`, `T` and prediction horizons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Days,
    Weeks,
}

impl TimeUnit {
    /// Length in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// Units per month in lifetimes' CLV (`freq="D"`: 30, `freq="W"`: 4.345).
    pub fn per_month(self) -> f64 {
        match self {
            TimeUnit::Days => 30.0,
            TimeUnit::Weeks => 4.345,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = ClvError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "d" | "day" | "days" => Ok(TimeUnit::Days),
            "w" | "week" | "weeks" => Ok(TimeUnit::Weeks),
            other => Err(ClvError::Option {
                option: "time-unit",
                message: format!("`{other}` is not a time unit; use days or weeks"),
            }),
        }
    }
}

/// Where the calibration period ends (inclusive) and, optionally, the holdout period.
#[derive(Debug, Clone, Copy)]
pub struct SummaryOptions {
    /// Last day of the calibration period, in days since 1970-01-01.
    pub calibration_end: i32,
    /// Last day of the holdout period; `None` ignores later transactions.
    pub observation_end: Option<i32>,
    pub unit: TimeUnit,
}

/// The summary with counts of what was left out.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub customers: Vec<CustomerSummary>,
    /// Transactions read.
    pub transactions: usize,
    /// Customers whose first purchase falls after the calibration end.
    pub born_after_calibration: usize,
}

impl Summary {
    pub fn rfm(&self) -> Vec<RfmRow> {
        self.customers.iter().map(|c| c.rfm).collect()
    }
}

/// Collects transactions, then [`SummaryBuilder::build`]s the summary. Customer ids are
/// interned, so memory is 16 bytes per transaction plus one string per customer.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    txns: Vec<(u32, i32, f64)>,
    has_amounts: bool,
}

impl SummaryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one purchase on `day` (days since 1970-01-01). `amount` may be `None` when only
    /// frequency and recency are wanted; then no `zbar` is produced.
    pub fn push(&mut self, customer: &str, day: i32, amount: Option<f64>) {
        let id = match self.ids.get(customer) {
            Some(&i) => i,
            None => {
                let i = self.names.len() as u32;
                self.ids.insert(customer.to_string(), i);
                self.names.push(customer.to_string());
                i
            }
        };
        self.has_amounts |= amount.is_some();
        self.txns.push((id, day, amount.unwrap_or(0.0)));
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Builds one row per customer born by the calibration end, in order of first appearance.
    pub fn build(mut self, opts: &SummaryOptions) -> Result<Summary, ClvError> {
        if self.txns.is_empty() {
            return Err(ClvError::Empty("no transactions".into()));
        }
        if let Some(end) = opts.observation_end
            && end < opts.calibration_end
        {
            return Err(ClvError::Option {
                option: "observation-end",
                message: "the observation end must not precede the calibration end".into(),
            });
        }
        let transactions = self.txns.len();
        self.txns.sort_unstable_by_key(|&(c, d, _)| (c, d));
        let unit = opts.unit.days();
        let cal = opts.calibration_end;
        let mut out = Vec::with_capacity(self.names.len());
        let mut born_after = 0;
        let mut i = 0;
        while i < self.txns.len() {
            let cust = self.txns[i].0;
            let mut j = i;
            while j < self.txns.len() && self.txns[j].0 == cust {
                j += 1;
            }
            // Purchase days of this customer, same-day amounts summed.
            let mut days: Vec<(i32, f64)> = Vec::new();
            for &(_, d, amt) in &self.txns[i..j] {
                match days.last_mut() {
                    Some(last) if last.0 == d => last.1 += amt,
                    _ => days.push((d, amt)),
                }
            }
            i = j;
            let first = days[0].0;
            if first > cal {
                born_after += 1;
                continue;
            }
            let in_cal: Vec<&(i32, f64)> = days.iter().filter(|(d, _)| *d <= cal).collect();
            let x = (in_cal.len() - 1) as f64;
            let last = in_cal[in_cal.len() - 1].0;
            let zbar = self.has_amounts.then(|| {
                if in_cal.len() > 1 {
                    in_cal[1..].iter().map(|(_, a)| a).sum::<f64>() / x
                } else {
                    0.0
                }
            });
            let (x_holdout, holdout_duration) = match opts.observation_end {
                Some(end) => (
                    Some(days.iter().filter(|(d, _)| *d > cal && *d <= end).count() as f64),
                    Some((end - cal) as f64 / unit),
                ),
                None => (None, None),
            };
            out.push(CustomerSummary {
                customer: self.names[cust as usize].clone(),
                rfm: RfmRow::new(x, (last - first) as f64 / unit, (cal - first) as f64 / unit),
                zbar,
                x_holdout,
                holdout_duration,
            });
        }
        if out.is_empty() {
            return Err(ClvError::Empty(format!(
                "all {born_after} customers made their first purchase after the calibration end; \
                 choose a later --calibration-end"
            )));
        }
        Ok(Summary {
            customers: out,
            transactions,
            born_after_calibration: born_after,
        })
    }
}

/// Parses the date at the start of a date or timestamp field (`2024-03-01`,
/// `2024-03-01T09:30:00+08:00`, `2024/03/01 09:30`, `20240301`), as days since 1970-01-01.
pub fn parse_day(raw: &str) -> Result<i32, String> {
    let s = raw.trim();
    let date = s.split(['T', ' ']).next().unwrap_or(s);
    zhiying_core::time::parse_date(date)
        .map_err(|_| format!("`{raw}` is not a date; use YYYY-MM-DD, YYYYMMDD or an ISO timestamp"))
}

/// Which columns of a transaction CSV to read.
#[derive(Debug, Clone)]
pub struct TransactionColumns<'a> {
    pub customer: &'a str,
    pub date: &'a str,
    /// `None` for frequency/recency only.
    pub amount: Option<&'a str>,
    /// Amounts are divided by this (e.g. 100 for amounts in fen or cents).
    pub amount_divisor: f64,
    /// Field delimiter; `None` guesses from the header line (`,`, `;`, tab or `|`).
    pub delimiter: Option<u8>,
}

/// Reads a transaction CSV (optionally gzip-compressed, by `.gz` suffix) into a builder.
/// Errors name the file, line and column.
pub fn read_transactions_csv(
    path: &Path,
    cols: &TransactionColumns<'_>,
) -> Result<SummaryBuilder, ClvError> {
    use std::io::{BufRead, BufReader, Read};
    let io_err = |source| ClvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let delimiter = match cols.delimiter {
        Some(d) => d,
        None => {
            let head = reader.fill_buf().map_err(io_err)?;
            let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
            *[b',', b';', b'\t', b'|']
                .iter()
                .max_by_key(|&&d| line.iter().filter(|&&b| b == d).count())
                .unwrap_or(&b',')
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| ClvError::Csv {
            path: path.to_path_buf(),
            message: format!("cannot read the header: {e}"),
        })?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ClvError::Csv {
                path: path.to_path_buf(),
                message: format!(
                    "no column `{name}`; the header has: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            })
    };
    let (cc, cd) = (col(cols.customer)?, col(cols.date)?);
    let ca = cols.amount.map(col).transpose()?;
    let mut b = SummaryBuilder::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(ClvError::Csv {
                    path: path.to_path_buf(),
                    message: format!("malformed CSV: {e}"),
                });
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let field_err = |c: usize, message: String| ClvError::Field {
            path: path.to_path_buf(),
            line,
            column: headers.get(c).unwrap_or("?").to_string(),
            message,
        };
        let customer = rec.get(cc).unwrap_or("");
        if customer.is_empty() {
            return Err(field_err(cc, "empty customer id".into()));
        }
        let day = parse_day(rec.get(cd).unwrap_or("")).map_err(|m| field_err(cd, m))?;
        let amount = match ca {
            Some(c) => {
                let raw = rec.get(c).unwrap_or("");
                let v: f64 = raw
                    .parse()
                    .map_err(|_| field_err(c, format!("`{raw}` is not a number")))?;
                Some(v / cols.amount_divisor)
            }
            None => None,
        };
        b.push(customer, day, amount);
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> i32 {
        parse_day(s).expect("date")
    }

    /// A hand-worked customer: first purchase Jan 1, two purchases on Jan 8 (one day),
    /// one on Jan 29, one in the holdout period.
    #[test]
    fn hand_computed_summary() {
        let mut b = SummaryBuilder::new();
        b.push("A", day("1997-01-08"), Some(10.0));
        b.push("A", day("1997-01-01"), Some(5.0));
        b.push("A", day("1997-01-08"), Some(4.0));
        b.push("A", day("1997-01-29"), Some(20.0));
        b.push("A", day("1997-02-20"), Some(99.0));
        b.push("B", day("1997-01-15"), Some(7.0));
        b.push("C", day("1997-03-01"), Some(7.0));
        let s = b
            .build(&SummaryOptions {
                calibration_end: day("1997-02-05"),
                observation_end: Some(day("1997-03-05")),
                unit: TimeUnit::Weeks,
            })
            .expect("summary");
        assert_eq!(s.transactions, 7);
        assert_eq!(s.born_after_calibration, 1);
        assert_eq!(s.customers.len(), 2);
        let a = &s.customers[0];
        assert_eq!(a.customer, "A");
        assert_eq!(a.rfm.x, 2.0);
        assert!((a.rfm.t_x - 4.0).abs() < 1e-12); // 28 days
        assert!((a.rfm.t - 5.0).abs() < 1e-12); // 35 days
        assert_eq!(a.zbar, Some((14.0 + 20.0) / 2.0));
        assert_eq!(a.x_holdout, Some(1.0));
        assert_eq!(a.holdout_duration, Some(4.0));
        let b = &s.customers[1];
        assert_eq!((b.rfm.x, b.rfm.t_x, b.zbar), (0.0, 0.0, Some(0.0)));
        assert!((b.rfm.t - 3.0).abs() < 1e-12); // 21 days
    }

    #[test]
    fn csv_errors_point_at_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "cust;date;amt\nA;2024-01-01;10\nA;2024-13-01;5\n").expect("write");
        let cols = TransactionColumns {
            customer: "cust",
            date: "date",
            amount: Some("amt"),
            amount_divisor: 1.0,
            delimiter: None,
        };
        let e = read_transactions_csv(&p, &cols).unwrap_err().to_string();
        assert!(
            e.contains(":3:") && e.contains("`date`") && e.contains("2024-13-01"),
            "{e}"
        );
        let missing = TransactionColumns {
            amount: Some("amount"),
            ..cols.clone()
        };
        let e = read_transactions_csv(&p, &missing).unwrap_err().to_string();
        assert!(
            e.contains("no column `amount`") && e.contains("cust, date, amt"),
            "{e}"
        );
        std::fs::write(
            &p,
            "cust;date;amt\nA;2024-01-01T10:00:00+08:00;1000\nA;20240105;500\n",
        )
        .expect("write");
        let b = read_transactions_csv(
            &p,
            &TransactionColumns {
                amount_divisor: 100.0,
                ..cols
            },
        )
        .expect("read");
        let s = b
            .build(&SummaryOptions {
                calibration_end: day("2024-01-31"),
                observation_end: None,
                unit: TimeUnit::Days,
            })
            .expect("summary");
        assert_eq!(s.customers[0].rfm, RfmRow::new(1.0, 4.0, 30.0));
        assert_eq!(s.customers[0].zbar, Some(5.0));
    }
}
