//! CDNOW purchases → customers, accounts (one `purchase` account each) and transactions.
//!
//! The files are whitespace-separated with CRLF line ends. The master file has a header
//! and columns `customer_id date number_of_cds dollar_value`; the 1/10 sample has no
//! header and columns `master_id sample_id date number_of_cds dollar_value`. Customer
//! ids keep CDNOW's own number (`00001` → `CD00001`), so the sample's customers are the
//! same records as the master's.

use crate::io::{TableWriter, open_input};
use crate::parse::{At, id, midnight_utc};
use crate::{ConvertedTable, DatasetError, sort_dependency_order};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use zhiying_core::time::{format_date, parse_date};

const MASTER_HEADER: [&str; 4] = ["customer_id", "date", "number_of_cds", "dollar_value"];

#[derive(Clone, Copy)]
enum Layout {
    Master,
    Sample,
}

/// Converts the master file: transactions `CDT0000001`… in file order.
pub(crate) fn convert_master(
    input: &Path,
    out_dir: &Path,
) -> Result<Vec<ConvertedTable>, DatasetError> {
    convert_file(input, out_dir, Layout::Master)
}

/// Converts `CDNOW_sample.txt` (the 1/10 sample: 2,357 customers, 6,919 purchases) the
/// same way as the master file. Customer and account ids equal the master's; transaction
/// ids are `CDS0000001`… in file order, so load the sample *or* the master into a data
/// directory, not both, or the sample's purchases count twice.
pub fn convert_cdnow_sample(
    input: &Path,
    out_dir: &Path,
) -> Result<Vec<ConvertedTable>, DatasetError> {
    crate::io::create_out_dir(out_dir)?;
    let mut tables = convert_file(input, out_dir, Layout::Sample)?;
    sort_dependency_order(&mut tables);
    Ok(tables)
}

fn convert_file(
    input: &Path,
    out_dir: &Path,
    layout: Layout,
) -> Result<Vec<ConvertedTable>, DatasetError> {
    let reader = open_input(input)?;
    let mut transactions = TableWriter::create(out_dir, "transactions")?;
    // customer number → first purchase day (the customer's open date).
    let mut first_purchase: BTreeMap<u32, i32> = BTreeMap::new();
    let (width, txn_prefix) = match layout {
        Layout::Master => (MASTER_HEADER.len(), "CDT"),
        Layout::Sample => (5, "CDS"),
    };
    let mut n: u64 = 0;
    for (i, line) in reader.lines().enumerate() {
        let at = At {
            path: input,
            line: i as u64 + 1,
        };
        let line = line.map_err(|e| DatasetError::io(input, "reading the input", e))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if i == 0 && matches!(layout, Layout::Master) {
            if fields != MASTER_HEADER {
                return Err(DatasetError::Header {
                    path: input.to_path_buf(),
                    found: fields.iter().map(|s| s.to_string()).collect(),
                    expected: MASTER_HEADER.iter().map(|s| s.to_string()).collect(),
                    dataset: "CDNOW_master.txt",
                });
            }
            continue;
        }
        if fields.len() != width {
            return Err(DatasetError::FieldCount {
                path: input.to_path_buf(),
                line: at.line,
                expected: width,
                found: fields.len(),
            });
        }
        let rest = match layout {
            Layout::Master => &fields[1..],
            Layout::Sample => &fields[2..],
        };
        let customer = at.int("customer_id", fields[0], 1, 99_999)? as u32;
        let day = parse_date(rest[0]).map_err(|e| at.err("date", rest[0], e.to_string()))?;
        let cds = at.int("number_of_cds", rest[1], 0, 1_000_000)?;
        let cents = at.minor_units("dollar_value", rest[2])?;

        let first = first_purchase.entry(customer).or_insert(day);
        *first = (*first).min(day);
        n += 1;
        let customer_id = id("CD", customer as u64, 5);
        transactions.write(&[
            ("txn_id", id(txn_prefix, n, 7)),
            ("account_id", format!("{customer_id}-P")),
            ("customer_id", customer_id),
            ("ts", midnight_utc(day)),
            ("amount_fen", cents.to_string()),
            ("currency", "usd".into()),
            ("direction", "debit".into()),
            ("channel", "mail".into()),
            ("txn_type", "purchase".into()),
            ("description", format!("{cds} CDs")),
        ])?;
    }
    if n == 0 {
        return Err(DatasetError::Input {
            path: input.to_path_buf(),
            message: "no purchase rows found".into(),
        });
    }

    let mut customers = TableWriter::create(out_dir, "customers")?;
    let mut accounts = TableWriter::create(out_dir, "accounts")?;
    for (&customer, &day) in &first_purchase {
        let customer_id = id("CD", customer as u64, 5);
        let open = format_date(day);
        customers.write(&[
            ("customer_id", customer_id.clone()),
            ("source_system", "cdnow".into()),
            ("open_date", open.clone()),
        ])?;
        accounts.write(&[
            ("account_id", format!("{customer_id}-P")),
            ("customer_id", customer_id),
            ("account_type", "purchase".into()),
            ("currency", "usd".into()),
            ("open_date", open),
            ("status", "active".into()),
            ("balance_fen", "0".into()),
        ])?;
    }
    Ok(vec![
        customers.finish()?,
        accounts.finish()?,
        transactions.finish()?,
    ])
}
