//! A small typed CSV reader for the scorecard's own tests and CLI: any delimiter, gzip,
//! numeric columns detected when every non-missing value parses as a number.

use crate::data::{Column, ColumnData, MISSING_CODE, NamedFeature};
use crate::error::{Result, ScorecardError};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Values read as missing.
const MISSING_TOKENS: [&str; 8] = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"];

/// Columns of a CSV file, typed.
#[derive(Debug, Clone)]
pub struct Table {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// Columns in file order.
    pub columns: Vec<Column>,
    /// Raw text of each column, kept to read the target with any positive value.
    raw: Vec<Vec<String>>,
}

impl Table {
    /// Read a CSV (optionally gzip-compressed); the delimiter is the most frequent of
    /// `,` `;` tab `|` in the header line.
    pub fn read_csv(path: &Path) -> Result<Table> {
        let err = |message: String| ScorecardError::Csv {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .map_err(|e| err(format!("not valid gzip: {e}")))?;
            out
        } else {
            bytes
        };
        let header_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let header = &bytes[..header_end];
        let delimiter = [b',', b';', b'\t', b'|']
            .into_iter()
            .max_by_key(|d| header.iter().filter(|b| *b == d).count())
            .unwrap_or(b',');
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(&bytes[..]);
        let names: Vec<String> = rdr
            .headers()
            .map_err(|e| err(format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut raw: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| err(format!("line {}: {e}", i + 2)))?;
            if rec.len() != names.len() {
                return Err(err(format!(
                    "line {}: {} fields but the header has {}; check the delimiter and quoting",
                    i + 2,
                    rec.len(),
                    names.len()
                )));
            }
            for (col, v) in raw.iter_mut().zip(rec.iter()) {
                col.push(v.trim().to_string());
            }
        }
        let columns = names
            .iter()
            .zip(&raw)
            .map(|(name, vals)| Column {
                name: name.clone(),
                data: type_column(vals),
            })
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            raw,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.raw.first().map_or(0, Vec::len)
    }

    /// The target as booleans. `positive` names the positive (bad) value; without it a
    /// two-valued column is read with 1/yes/bad/true/y as positive.
    pub fn target(&self, column: &str, positive: Option<&str>) -> Result<Vec<bool>> {
        let terr = |message: String| ScorecardError::Target {
            column: column.to_string(),
            message,
        };
        let k = self
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| {
                terr(format!(
                    "no such column in {}; columns are: {}",
                    self.path.display(),
                    self.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let vals = &self.raw[k];
        let mut distinct: Vec<&str> = vals.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let positive = match positive {
            Some(p) => {
                if !distinct.contains(&p) {
                    return Err(terr(format!(
                        "no row has the value `{p}`; values are: {}",
                        distinct.join(", ")
                    )));
                }
                p.to_string()
            }
            None => {
                let known = [
                    "1", "1.0", "yes", "bad", "true", "y", "Y", "Yes", "YES", "TRUE", "True",
                ];
                match distinct.iter().find(|v| known.contains(v)) {
                    Some(v) if distinct.len() == 2 => v.to_string(),
                    _ => {
                        return Err(terr(format!(
                            "cannot tell the positive class among {} values ({}); pass --positive VALUE",
                            distinct.len(),
                            distinct
                                .iter()
                                .take(10)
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
        };
        Ok(vals.iter().map(|v| *v == positive).collect())
    }

    /// Every column except `exclude`, as features.
    pub fn features(&self, exclude: &[&str]) -> Vec<NamedFeature<'_>> {
        self.columns
            .iter()
            .filter(|c| !exclude.contains(&c.name.as_str()))
            .map(Column::named)
            .collect()
    }
}

fn type_column(vals: &[String]) -> ColumnData {
    let is_missing = |v: &str| MISSING_TOKENS.contains(&v);
    let mut numeric = Vec::with_capacity(vals.len());
    let mut any = false;
    let all_numeric = vals.iter().all(|v| {
        if is_missing(v) {
            numeric.push(f64::NAN);
            true
        } else if let Ok(x) = v.parse::<f64>() {
            any = true;
            numeric.push(x);
            x.is_finite()
        } else {
            false
        }
    });
    if all_numeric && any {
        return ColumnData::Numeric(numeric);
    }
    let mut levels: Vec<String> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let codes = vals
        .iter()
        .map(|v| {
            if is_missing(v) {
                MISSING_CODE
            } else {
                *index.entry(v.as_str()).or_insert_with(|| {
                    levels.push(v.clone());
                    (levels.len() - 1) as u32
                })
            }
        })
        .collect();
    ColumnData::Categorical { codes, levels }
}
