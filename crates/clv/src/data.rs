//! Customer summaries (frequency `x`, recency `t_x`, age `T`, mean spend `zbar`), their
//! validation, the CSV reader, and the aggregation of identical rows the fitters work on.

use crate::ClvError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One customer's calibration-period summary, in a single time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmRow {
    /// Repeat purchases (purchase days after the first one).
    pub x: f64,
    /// Time of the last purchase, measured from the first one (0 when `x == 0`).
    pub t_x: f64,
    /// Time from the first purchase to the end of the calibration period.
    #[serde(rename = "T")]
    pub t: f64,
}

impl RfmRow {
    pub fn new(x: f64, t_x: f64, t: f64) -> Self {
        Self { x, t_x, t }
    }

    /// Checks the model's data contract; `row` (1-based) only labels the error.
    pub fn validate(&self, row: usize) -> Result<(), ClvError> {
        let bad = |message: String| Err(ClvError::InvalidRow { row, message });
        if !(self.x.is_finite() && self.x >= 0.0 && self.x.fract() == 0.0) {
            return bad(format!(
                "x = {} must be a whole number of repeat purchases >= 0",
                self.x
            ));
        }
        if !(self.t.is_finite() && self.t >= 0.0) {
            return bad(format!(
                "T = {} must be >= 0 (time from first purchase to calibration end)",
                self.t
            ));
        }
        if !(self.t_x.is_finite() && self.t_x >= 0.0 && self.t_x <= self.t * (1.0 + 1e-12)) {
            return bad(format!(
                "t_x = {} must lie in [0, T = {}] (recency is measured from the first purchase)",
                self.t_x, self.t
            ));
        }
        if self.x == 0.0 && self.t_x != 0.0 {
            return bad(format!(
                "x = 0 but t_x = {}: a customer without repeat purchases has recency 0",
                self.t_x
            ));
        }
        Ok(())
    }
}

/// One row of a summary file or of [`crate::build_summary`]'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub customer: String,
    #[serde(flatten)]
    pub rfm: RfmRow,
    /// Mean value of the repeat purchases (each purchase day's total); `None` if unknown,
    /// 0 when there are no repeat purchases.
    pub zbar: Option<f64>,
    /// Purchase days in the holdout period `(calibration_end, observation_end]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_holdout: Option<f64>,
    /// Length of the holdout period, in the same time unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_duration: Option<f64>,
}

/// Validates every row; the error names the first bad one.
pub fn validate_rows(rows: &[RfmRow]) -> Result<(), ClvError> {
    if rows.is_empty() {
        return Err(ClvError::Empty("the summary has no rows".into()));
    }
    for (i, r) in rows.iter().enumerate() {
        r.validate(i + 1)?;
    }
    Ok(())
}

/// Identical `(x, t_x, T)` rows merged, with their multiplicity as a weight. CDNOW's 2,357
/// customers have 1,100-odd distinct rows (every non-repeater of a cohort is the same row),
/// and real data recorded by day always has many duplicates.
#[derive(Debug, Clone)]
pub(crate) struct Aggregated {
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    pub w: Vec<f64>,
    /// Index of the row's `x` in `xs`.
    pub xi: Vec<u32>,
    /// Distinct frequencies and the total weight at each.
    pub xs: Vec<f64>,
    pub xw: Vec<f64>,
    /// Distinct values of `T` and `t_x` together, and each row's index into them for its `T`
    /// and its `t_x`: data recorded by day has few, so `ln(α + time)` is computed once per
    /// distinct time and evaluation.
    pub times: Vec<f64>,
    pub ti: Vec<u32>,
    pub txi: Vec<u32>,
    pub customers: usize,
}

impl Aggregated {
    pub fn new(rows: &[RfmRow]) -> Self {
        // Sort, then merge runs of equal rows: much faster than hashing a million keys.
        let mut sorted: Vec<RfmRow> = rows.to_vec();
        sorted.sort_unstable_by(|a, b| {
            a.x.total_cmp(&b.x)
                .then(a.t.total_cmp(&b.t))
                .then(a.t_x.total_cmp(&b.t_x))
        });
        let mut uniq: Vec<(RfmRow, f64)> = Vec::new();
        for r in sorted {
            match uniq.last_mut() {
                Some((last, w)) if *last == r => *w += 1.0,
                _ => uniq.push((r, 1.0)),
            }
        }
        Self::from_weighted(uniq, rows.len())
    }

    pub fn from_weighted(mut uniq: Vec<(RfmRow, f64)>, customers: usize) -> Self {
        // Sorted by x, then rows of one x are contiguous (better cache use, stable output).
        uniq.sort_by(|a, b| {
            a.0.x
                .total_cmp(&b.0.x)
                .then(a.0.t.total_cmp(&b.0.t))
                .then(a.0.t_x.total_cmp(&b.0.t_x))
        });
        let mut xs: Vec<f64> = Vec::new();
        let mut xw: Vec<f64> = Vec::new();
        let mut out = Self {
            x: Vec::with_capacity(uniq.len()),
            t_x: Vec::with_capacity(uniq.len()),
            t: Vec::with_capacity(uniq.len()),
            w: Vec::with_capacity(uniq.len()),
            xi: Vec::with_capacity(uniq.len()),
            xs: Vec::new(),
            xw: Vec::new(),
            times: Vec::new(),
            ti: Vec::new(),
            txi: Vec::new(),
            customers,
        };
        for (r, w) in uniq {
            if xs.last() != Some(&r.x) {
                xs.push(r.x);
                xw.push(0.0);
            }
            let k = xs.len() - 1;
            xw[k] += w;
            out.x.push(r.x);
            out.t_x.push(r.t_x);
            out.t.push(r.t);
            out.w.push(w);
            out.xi.push(k as u32);
        }
        out.xs = xs;
        out.xw = xw;
        let mut times: Vec<f64> = out.t.iter().chain(&out.t_x).copied().collect();
        times.sort_unstable_by(f64::total_cmp);
        times.dedup();
        let index = |t: &f64| times.partition_point(|v| v < t) as u32;
        out.ti = out.t.iter().map(index).collect();
        out.txi = out.t_x.iter().map(index).collect();
        out.times = times;
        out
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// A deterministic subset of about `n` distinct rows (weights kept), used to explore
    /// starting points cheaply on very large inputs before polishing on all rows.
    pub fn subsample(&self, n: usize, seed: u64) -> Self {
        use rand::SeedableRng;
        use rand::seq::index::sample;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut idx = sample(&mut rng, self.len(), n.min(self.len())).into_vec();
        idx.sort_unstable();
        let total: f64 = self.w.iter().sum();
        let picked: f64 = idx.iter().map(|&i| self.w[i]).sum();
        let uniq = idx
            .iter()
            .map(|&i| (RfmRow::new(self.x[i], self.t_x[i], self.t[i]), self.w[i]))
            .collect();
        let customers = (self.customers as f64 * picked / total).round() as usize;
        Self::from_weighted(uniq, customers)
    }
}

/// Column names accepted for each field (Fader & Hardie's, then lifetimes').
const X_NAMES: &[&str] = &["x", "frequency"];
const TX_NAMES: &[&str] = &["t_x", "recency"];
const T_NAMES: &[&str] = &["T", "t"];
const ZBAR_NAMES: &[&str] = &["zbar", "monetary_value", "m"];
const ID_NAMES: &[&str] = &["ID", "id", "customer", "customer_id", "cust"];

/// Reads a summary CSV with columns `x`, `t_x`, `T` and optionally `zbar` and an id column
/// (`ID`, `customer`, `customer_id`). lifetimes' names `frequency`, `recency`,
/// `monetary_value` are accepted too. Rows are validated; errors name the line.
pub fn read_summary_csv(path: &Path) -> Result<Vec<CustomerSummary>, ClvError> {
    let file = std::fs::File::open(path).map_err(|source| ClvError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let headers = rdr
        .headers()
        .map_err(|e| ClvError::Csv {
            path: path.to_path_buf(),
            message: format!("cannot read the header: {e}"),
        })?
        .clone();
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.iter().position(|h| h == *n))
    };
    let need = |names: &[&str]| {
        find(names).ok_or_else(|| ClvError::Csv {
            path: path.to_path_buf(),
            message: format!(
                "no `{}` column (found: {}); a summary needs columns x, t_x, T and optionally zbar",
                names[0],
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        })
    };
    let (cx, ctx, ct) = (need(X_NAMES)?, need(TX_NAMES)?, need(T_NAMES)?);
    let (cz, cid) = (find(ZBAR_NAMES), find(ID_NAMES));
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| ClvError::Csv {
            path: path.to_path_buf(),
            message: format!("malformed CSV: {e}"),
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        let num = |c: usize| -> Result<f64, ClvError> {
            let raw = rec.get(c).unwrap_or("");
            raw.parse::<f64>().map_err(|_| ClvError::Field {
                path: path.to_path_buf(),
                line,
                column: headers.get(c).unwrap_or("?").to_string(),
                message: format!("`{raw}` is not a number"),
            })
        };
        let rfm = RfmRow::new(num(cx)?, num(ctx)?, num(ct)?);
        rfm.validate(i + 1).map_err(|e| ClvError::Field {
            path: path.to_path_buf(),
            line,
            column: "x/t_x/T".into(),
            message: match e {
                ClvError::InvalidRow { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        let zbar = match cz {
            Some(c) => Some(num(c)?),
            None => None,
        };
        let customer = match cid {
            Some(c) => rec.get(c).unwrap_or("").to_string(),
            None => (i + 1).to_string(),
        };
        out.push(CustomerSummary {
            customer,
            rfm,
            zbar,
            x_holdout: None,
            holdout_duration: None,
        });
    }
    if out.is_empty() {
        return Err(ClvError::Empty(format!(
            "{} has no data rows",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_merges_duplicates_and_keeps_totals() {
        let rows = vec![
            RfmRow::new(0.0, 0.0, 38.0),
            RfmRow::new(2.0, 10.0, 38.0),
            RfmRow::new(0.0, 0.0, 38.0),
            RfmRow::new(1.0, 5.0, 30.0),
            RfmRow::new(2.0, 10.0, 38.0),
        ];
        let a = Aggregated::new(&rows);
        assert_eq!(a.len(), 3);
        assert_eq!(a.w.iter().sum::<f64>(), 5.0);
        assert_eq!(a.xs, vec![0.0, 1.0, 2.0]);
        assert_eq!(a.xw, vec![2.0, 1.0, 2.0]);
        for i in 0..a.len() {
            assert_eq!(a.xs[a.xi[i] as usize], a.x[i]);
            assert_eq!(a.times[a.ti[i] as usize], a.t[i]);
            assert_eq!(a.times[a.txi[i] as usize], a.t_x[i]);
        }
        assert_eq!(a.times, vec![0.0, 5.0, 10.0, 30.0, 38.0]);
    }

    #[test]
    fn validation_names_the_problem() {
        let e = RfmRow::new(0.0, 3.0, 10.0)
            .validate(7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 7") && e.contains("recency 0"), "{e}");
        let e = RfmRow::new(2.0, 11.0, 10.0)
            .validate(1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t_x = 11"), "{e}");
        assert!(RfmRow::new(1.5, 1.0, 10.0).validate(1).is_err());
        assert!(RfmRow::new(1.0, 1.0, 0.0).validate(1).is_err());
        assert!(RfmRow::new(0.0, 0.0, -1.0).validate(1).is_err());
        assert!(RfmRow::new(3.0, 10.0, 10.0).validate(1).is_ok());
    }

    #[test]
    fn csv_reader_reports_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.csv");
        std::fs::write(
            &p,
            "ID,x,t_x,T,zbar\n1,2,30.43,38.86,22.35\n2,1,abc,38.86,11.77\n",
        )
        .expect("write");
        let e = read_summary_csv(&p).unwrap_err().to_string();
        assert!(
            e.contains(":3:") && e.contains("t_x") && e.contains("abc"),
            "{e}"
        );
        std::fs::write(&p, "frequency,recency,T\n2,30.43,38.86\n").expect("write");
        let rows = read_summary_csv(&p).expect("lifetimes names");
        assert_eq!(rows[0].rfm, RfmRow::new(2.0, 30.43, 38.86));
        assert_eq!(rows[0].zbar, None);
        std::fs::write(&p, "x,T\n2,38.86\n").expect("write");
        let e = read_summary_csv(&p).unwrap_err().to_string();
        assert!(e.contains("no `t_x` column"), "{e}");
    }
}
