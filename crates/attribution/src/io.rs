//! CSV loaders. Every error names the file, the line and the column, so an analyst can fix
//! the export rather than guess. Files ending in `.gz` are decompressed; the delimiter is
//! sniffed from the header (`,` `;` tab `|`) unless given.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use zhiying_core::time::{CST_OFFSET_SECS, parse_timestamp};

use crate::error::{AttributionError, Result};
use crate::funnel::Event;
use crate::paths::{Conversion, Paths, Touchpoint};

/// Column names of a touchpoint file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TouchpointColumns {
    pub customer: String,
    pub timestamp: String,
    pub channel: String,
    pub campaign: Option<String>,
    /// `None` sniffs the delimiter from the header line.
    pub delimiter: Option<u8>,
    /// Offset east of UTC, in seconds, for timestamps without one (default +08:00).
    pub utc_offset_secs: i32,
}

impl Default for TouchpointColumns {
    fn default() -> Self {
        Self {
            customer: "customer_id".into(),
            timestamp: "timestamp".into(),
            channel: "channel".into(),
            campaign: None,
            delimiter: None,
            utc_offset_secs: CST_OFFSET_SECS,
        }
    }
}

impl TouchpointColumns {
    /// The canonical `contacts` table (customer_id, ts, channel, campaign_id).
    pub fn bank_contacts() -> Self {
        Self {
            timestamp: "ts".into(),
            campaign: Some("campaign_id".into()),
            ..Self::default()
        }
    }
}

/// Header names [`TouchpointColumns::detect`] and [`ConversionColumns::detect`] accept, in
/// order of preference.
const CUSTOMER_NAMES: &[&str] = &["customer_id", "customer", "user_id", "client_id", "cust_id"];
const TIME_NAMES: &[&str] = &["timestamp", "ts", "time", "event_time", "datetime", "date"];
const CHANNEL_NAMES: &[&str] = &["channel", "touchpoint", "medium"];
const CAMPAIGN_NAMES: &[&str] = &["campaign", "campaign_id"];
const VALUE_NAMES: &[&str] = &[
    "value",
    "revenue",
    "revenue_fen",
    "conversion_value",
    "amount",
];

fn pick(path: &Path, headers: &csv::StringRecord, names: &[&str], what: &str) -> Result<String> {
    pick_opt(headers, names).ok_or_else(|| AttributionError::Csv {
        path: path.to_path_buf(),
        message: format!(
            "no {what} column: expected one of {}; the header has: {} (name the column explicitly)",
            names.join(", "),
            headers.iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

fn pick_opt(headers: &csv::StringRecord, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| headers.iter().find(|h| h.eq_ignore_ascii_case(n)))
        .map(str::to_string)
}

impl TouchpointColumns {
    /// Chooses the columns from the file's header by common names (`customer_id`/`user_id`,
    /// `timestamp`/`ts`, `channel`, optional `campaign_id`), so the canonical `contacts`
    /// export and most ad-platform exports read without options.
    pub fn detect(path: &Path) -> Result<Self> {
        let f = CsvFile::open(path, None)?;
        let h = &f.headers;
        Ok(Self {
            customer: pick(path, h, CUSTOMER_NAMES, "customer")?,
            timestamp: pick(path, h, TIME_NAMES, "timestamp")?,
            channel: pick(path, h, CHANNEL_NAMES, "channel")?,
            campaign: pick_opt(h, CAMPAIGN_NAMES),
            ..Self::default()
        })
    }
}

impl ConversionColumns {
    /// Chooses the columns from the file's header by common names; a `response_type`
    /// column (the canonical `responses` table) keeps only `convert` rows.
    pub fn detect(path: &Path) -> Result<Self> {
        let f = CsvFile::open(path, None)?;
        let h = &f.headers;
        Ok(Self {
            customer: pick(path, h, CUSTOMER_NAMES, "customer")?,
            timestamp: pick(path, h, TIME_NAMES, "timestamp")?,
            value: pick_opt(h, VALUE_NAMES),
            filter: pick_opt(h, &["response_type"]).map(|c| (c, "convert".to_string())),
            ..Self::default()
        })
    }
}

/// Column names of a conversion file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConversionColumns {
    pub customer: String,
    pub timestamp: String,
    /// `None` gives every conversion value 1.
    pub value: Option<String>,
    /// Keep only rows whose column equals the value, e.g. `("response_type", "convert")`.
    pub filter: Option<(String, String)>,
    pub delimiter: Option<u8>,
    pub utc_offset_secs: i32,
}

impl Default for ConversionColumns {
    fn default() -> Self {
        Self {
            customer: "customer_id".into(),
            timestamp: "timestamp".into(),
            value: Some("value".into()),
            filter: None,
            delimiter: None,
            utc_offset_secs: CST_OFFSET_SECS,
        }
    }
}

impl ConversionColumns {
    /// The canonical `responses` table: rows with `response_type = convert`, value in 分.
    pub fn bank_responses() -> Self {
        Self {
            timestamp: "ts".into(),
            value: Some("revenue_fen".into()),
            filter: Some(("response_type".into(), "convert".into())),
            ..Self::default()
        }
    }
}

/// Column names of a pre-aggregated path file (ChannelAttribution's `PathData` layout by
/// default: `path`, `total_conversions`, `total_conversion_value`, `total_null`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PathColumns {
    pub path: String,
    /// Separates channels inside the path cell; surrounding spaces are trimmed.
    pub separator: String,
    pub conversions: String,
    pub non_conversions: Option<String>,
    pub value: Option<String>,
    pub delimiter: Option<u8>,
}

impl Default for PathColumns {
    fn default() -> Self {
        Self {
            path: "path".into(),
            separator: ">".into(),
            conversions: "total_conversions".into(),
            non_conversions: Some("total_null".into()),
            value: Some("total_conversion_value".into()),
            delimiter: None,
        }
    }
}

/// Column names of an event file for funnels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EventColumns {
    pub customer: String,
    pub timestamp: String,
    pub event: String,
    pub delimiter: Option<u8>,
    pub utc_offset_secs: i32,
}

impl Default for EventColumns {
    fn default() -> Self {
        Self {
            customer: "customer_id".into(),
            timestamp: "timestamp".into(),
            event: "event".into(),
            delimiter: None,
            utc_offset_secs: CST_OFFSET_SECS,
        }
    }
}

struct CsvFile<'p> {
    path: &'p Path,
    reader: csv::Reader<Box<dyn Read>>,
    headers: csv::StringRecord,
}

impl<'p> CsvFile<'p> {
    fn open(path: &'p Path, delimiter: Option<u8>) -> Result<Self> {
        let io_err = |source| AttributionError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        let raw: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut buffered = BufReader::with_capacity(1 << 20, raw);
        let delimiter = match delimiter {
            Some(d) => d,
            None => {
                let head = buffered.fill_buf().map_err(io_err)?;
                let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
                *[b',', b';', b'\t', b'|']
                    .iter()
                    .max_by_key(|&&d| line.iter().filter(|&&b| b == d).count())
                    .unwrap_or(&b',')
            }
        };
        let boxed: Box<dyn Read> = Box::new(buffered);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(boxed);
        let headers = reader
            .headers()
            .map_err(|e| AttributionError::Csv {
                path: path.to_path_buf(),
                message: format!("cannot read the header: {e}"),
            })?
            .clone();
        Ok(Self {
            path,
            reader,
            headers,
        })
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| AttributionError::Csv {
                path: self.path.to_path_buf(),
                message: format!(
                    "no column `{name}`; the header has: {} (set the column name in the options)",
                    self.headers.iter().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// Reads the next record; `Ok(None)` at the end. Returns the 1-based line number.
    fn next(&mut self, rec: &mut csv::ByteRecord) -> Result<Option<u64>> {
        match self.reader.read_byte_record(rec) {
            Ok(false) => Ok(None),
            Ok(true) => Ok(Some(rec.position().map_or(0, |p| p.line()))),
            Err(e) => Err(AttributionError::Csv {
                path: self.path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    /// A non-empty UTF-8 field. Records are read as bytes and only the used fields are
    /// validated, which keeps million-row files fast.
    fn field<'r>(
        &self,
        rec: &'r csv::ByteRecord,
        line: u64,
        idx: usize,
        name: &str,
    ) -> Result<&'r str> {
        match rec.get(idx) {
            Some(v) if !v.is_empty() => std::str::from_utf8(v).map_err(|_| {
                self.field_err(
                    line,
                    name,
                    "is not valid UTF-8; re-export the file as UTF-8".into(),
                )
            }),
            _ => Err(self.field_err(line, name, "is empty; every row needs a value".into())),
        }
    }

    fn field_err(&self, line: u64, column: &str, message: String) -> AttributionError {
        AttributionError::Field {
            path: self.path.to_path_buf(),
            line,
            column: column.to_string(),
            message,
        }
    }

    fn timestamp(
        &self,
        rec: &csv::ByteRecord,
        line: u64,
        idx: usize,
        name: &str,
        offset: i32,
    ) -> Result<i64> {
        let raw = self.field(rec, line, idx, name)?;
        // Unix seconds are common in exports from ad and app platforms.
        if raw.bytes().all(|b| b.is_ascii_digit())
            && (9..=11).contains(&raw.len())
            && let Ok(secs) = raw.parse::<i64>()
        {
            return Ok(secs * 1_000_000);
        }
        parse_timestamp(raw, offset).map_err(|e| self.field_err(line, name, e.to_string()))
    }

    fn number(&self, rec: &csv::ByteRecord, line: u64, idx: usize, name: &str) -> Result<f64> {
        let raw = self.field(rec, line, idx, name)?;
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.field_err(line, name, format!("`{raw}` is not a finite number"))),
        }
    }
}

/// Reads touchpoints (customer, timestamp, channel[, campaign]).
pub fn read_touchpoints_csv(path: &Path, cols: &TouchpointColumns) -> Result<Vec<Touchpoint>> {
    let mut f = CsvFile::open(path, cols.delimiter)?;
    let (cc, ct, ch) = (
        f.column(&cols.customer)?,
        f.column(&cols.timestamp)?,
        f.column(&cols.channel)?,
    );
    let cp = cols.campaign.as_deref().map(|c| f.column(c)).transpose()?;
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while let Some(line) = f.next(&mut rec)? {
        out.push(Touchpoint {
            customer_id: f.field(&rec, line, cc, &cols.customer)?.to_string(),
            timestamp: f.timestamp(&rec, line, ct, &cols.timestamp, cols.utc_offset_secs)?,
            channel: f.field(&rec, line, ch, &cols.channel)?.to_string(),
            campaign: match cp {
                Some(i) if rec.get(i).is_some_and(|s| !s.is_empty()) => Some(
                    f.field(
                        &rec,
                        line,
                        i,
                        cols.campaign.as_deref().unwrap_or("campaign"),
                    )?
                    .to_string(),
                ),
                _ => None,
            },
        });
    }
    Ok(out)
}

/// Reads conversions (customer, timestamp[, value]), keeping rows that pass the filter.
pub fn read_conversions_csv(path: &Path, cols: &ConversionColumns) -> Result<Vec<Conversion>> {
    let mut f = CsvFile::open(path, cols.delimiter)?;
    let (cc, ct) = (f.column(&cols.customer)?, f.column(&cols.timestamp)?);
    let cv = cols.value.as_deref().map(|c| f.column(c)).transpose()?;
    let filter = match &cols.filter {
        Some((col, want)) => Some((f.column(col)?, want.as_str())),
        None => None,
    };
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while let Some(line) = f.next(&mut rec)? {
        if let Some((i, want)) = filter
            && rec.get(i) != Some(want.as_bytes())
        {
            continue;
        }
        let value = match (cv, cols.value.as_deref()) {
            // A conversion without revenue (an account opened) is worth 0, not an error.
            (Some(i), Some(name)) if rec.get(i).is_some_and(|v| !v.is_empty()) => {
                f.number(&rec, line, i, name)?
            }
            (Some(_), _) => 0.0,
            _ => 1.0,
        };
        out.push(Conversion {
            customer_id: f.field(&rec, line, cc, &cols.customer)?.to_string(),
            timestamp: f.timestamp(&rec, line, ct, &cols.timestamp, cols.utc_offset_secs)?,
            value,
        });
    }
    Ok(out)
}

/// Reads pre-aggregated paths ("app > sms > call", conversions, non-conversions, value).
pub fn read_paths_csv(path: &Path, cols: &PathColumns) -> Result<Paths> {
    if cols.separator.trim().is_empty() {
        return Err(AttributionError::Option {
            option: "separator",
            message: "the path separator must contain a visible character, e.g. `>`".into(),
        });
    }
    let mut f = CsvFile::open(path, cols.delimiter)?;
    let (cp, cc) = (f.column(&cols.path)?, f.column(&cols.conversions)?);
    let cn = cols
        .non_conversions
        .as_deref()
        .map(|c| f.column(c))
        .transpose()?;
    let cv = cols.value.as_deref().map(|c| f.column(c)).transpose()?;
    let mut paths = Paths::new();
    let mut rec = csv::ByteRecord::new();
    let mut ids = Vec::new();
    while let Some(line) = f.next(&mut rec)? {
        let raw = f.field(&rec, line, cp, &cols.path)?;
        ids.clear();
        for step in raw.split(cols.separator.as_str()) {
            let step = step.trim();
            if step.is_empty() {
                return Err(f.field_err(
                    line,
                    &cols.path,
                    format!(
                        "`{raw}` has an empty step; separate channels with `{}`",
                        cols.separator
                    ),
                ));
            }
            ids.push(paths.channel_id(step));
        }
        let conv = f.number(&rec, line, cc, &cols.conversions)?;
        let non = match (cn, cols.non_conversions.as_deref()) {
            (Some(i), Some(n)) => f.number(&rec, line, i, n)?,
            _ => 0.0,
        };
        let value = match (cv, cols.value.as_deref()) {
            (Some(i), Some(n)) => f.number(&rec, line, i, n)?,
            _ => conv,
        };
        if conv == 0.0 && non == 0.0 {
            continue; // an empty row carries no evidence
        }
        paths
            .push_ids(&ids, conv, non, value)
            .map_err(|e| match e {
                AttributionError::Record { message, .. } => {
                    f.field_err(line, &cols.conversions, message)
                }
                other => other,
            })?;
    }
    Ok(paths)
}

/// Reads events (customer, timestamp, event type) for [`crate::funnel`].
pub fn read_events_csv(path: &Path, cols: &EventColumns) -> Result<Vec<Event>> {
    let mut f = CsvFile::open(path, cols.delimiter)?;
    let (cc, ct, ce) = (
        f.column(&cols.customer)?,
        f.column(&cols.timestamp)?,
        f.column(&cols.event)?,
    );
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while let Some(line) = f.next(&mut rec)? {
        out.push(Event {
            customer_id: f.field(&rec, line, cc, &cols.customer)?.to_string(),
            timestamp: f.timestamp(&rec, line, ct, &cols.timestamp, cols.utc_offset_secs)?,
            event: f.field(&rec, line, ce, &cols.event)?.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(body: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(body.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_touchpoints_and_names_bad_fields() {
        let f =
            file("customer_id,timestamp,channel\nc1,2024-03-01 09:00:00,sms\nc1,1709280000,app\n");
        let t = read_touchpoints_csv(f.path(), &TouchpointColumns::default()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].timestamp, 1_709_280_000_000_000);
        // Naive timestamps are read at +08:00.
        assert_eq!(t[0].timestamp, 1_709_254_800_000_000);
        let f = file("customer_id,timestamp,channel\nc1,2024-03-01,sms\nc2,yesterday,app\n");
        let e = read_touchpoints_csv(f.path(), &TouchpointColumns::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3: column `timestamp`"), "{e}");
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        let f = file("cust;ts;ch\nc1;2024-03-01;sms\n");
        let e = read_touchpoints_csv(f.path(), &TouchpointColumns::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column `customer_id`; the header has: cust, ts, ch"),
            "{e}"
        );
    }

    #[test]
    fn reads_filtered_conversions() {
        let f = file(
            "customer_id,ts,response_type,revenue_fen\nc1,2024-03-01,convert,500\nc1,2024-03-02,click,\nc2,2024-03-02,convert,\n",
        );
        let c = read_conversions_csv(f.path(), &ConversionColumns::bank_responses()).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].value, c[1].value), (500.0, 0.0));
        let f = file("customer_id,ts,response_type,revenue_fen\nc1,2024-03-01,convert,lots\n");
        let e = read_conversions_csv(f.path(), &ConversionColumns::bank_responses())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2: column `revenue_fen`: `lots` is not a finite number"),
            "{e}"
        );
    }

    #[test]
    fn reads_aggregated_paths() {
        let f = file(
            "path,total_conversions,total_conversion_value,total_null\n\"app > sms > call\",3,30.5,7\nsms,0,0,4\n",
        );
        let p = read_paths_csv(f.path(), &PathColumns::default()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.format_path(p.get(0).steps, ">"), "app>sms>call");
        assert_eq!(
            (p.total_conversions(), p.total_non_conversions()),
            (3.0, 11.0)
        );
        let f = file(
            "path,total_conversions,total_conversion_value,total_null\n\"app >> sms\",1,1,0\n",
        );
        let e = read_paths_csv(f.path(), &PathColumns::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: column `path`"), "{e}");
        let f = file("path,total_conversions,total_conversion_value,total_null\napp,0,3,1\n");
        let e = read_paths_csv(f.path(), &PathColumns::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: column `total_conversions`: value 3"), "{e}");
    }

    #[test]
    fn reads_events() {
        let f = file("customer_id\ttimestamp\tevent\nc1\t2024-03-01T09:00:00Z\tvisit\n");
        let e = read_events_csv(f.path(), &EventColumns::default()).unwrap();
        assert_eq!(e[0].event, "visit");
        assert_eq!(e[0].timestamp, 1_709_283_600_000_000);
        let f = file("customer_id,timestamp,event\nc1,2024-03-01,\n");
        let err = read_events_csv(f.path(), &EventColumns::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: column `event`: is empty"), "{err}");
    }

    #[test]
    fn detects_bank_and_generic_headers() {
        let f = file("contact_id,campaign_id,customer_id,offer_id,channel,ts,group,status\n");
        let c = TouchpointColumns::detect(f.path()).unwrap();
        assert_eq!(
            (c.timestamp.as_str(), c.campaign.as_deref()),
            ("ts", Some("campaign_id"))
        );
        let f = file("response_id,customer_id,ts,response_type,revenue_fen\n");
        let c = ConversionColumns::detect(f.path()).unwrap();
        assert_eq!(c.value.as_deref(), Some("revenue_fen"));
        assert_eq!(c.filter, Some(("response_type".into(), "convert".into())));
        let f = file("User_ID;Time;Medium\n");
        let c = TouchpointColumns::detect(f.path()).unwrap();
        assert_eq!(
            (c.customer.as_str(), c.channel.as_str()),
            ("User_ID", "Medium")
        );
        let f = file("customer_id,timestamp,what\n");
        let e = TouchpointColumns::detect(f.path()).unwrap_err().to_string();
        assert!(
            e.contains("no channel column: expected one of channel"),
            "{e}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let e = read_events_csv(Path::new("/nonexistent/ev.csv"), &EventColumns::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ev.csv"), "{e}");
    }
}
