//! MineThatData (Hillstrom) e-mail experiment → customers, experiments, assignments,
//! responses, plus `hillstrom_features.csv` with the original columns.
//!
//! 64,000 customers who bought in the last twelve months were randomly sent a Mens
//! e-mail, a Womens e-mail or nothing; visits, conversions and spend were tracked for two
//! weeks. The file has no dates: we place the test at 2008-03-01 … 2008-03-14 (it was
//! published in March 2008) and stamp responses with the window's last day.
//! Spend is in US dollars; `revenue_fen` holds cents.

use crate::io::{PlainWriter, TableWriter, check_header, next_record, open_input};
use crate::parse::{date, first_of_month_minus, id};
use crate::{ConvertedTable, DatasetError};
use std::path::Path;

pub(crate) const FEATURES_FILE: &str = "hillstrom_features.csv";
const DATASET: &str = "hillstrom.csv (MineThatData e-mail test)";
const COLUMNS: [&str; 12] = [
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
];
pub(crate) const EXPERIMENT_ID: &str = "HILLSTROM-2008";
pub(crate) const ARMS: [&str; 3] = ["Mens E-Mail", "Womens E-Mail", "No E-Mail"];
pub(crate) const CONTROL_ARM: &str = "No E-Mail";
const START: (i32, u32, u32) = (2008, 3, 1);
const END: (i32, u32, u32) = (2008, 3, 14);

pub(crate) fn convert(input: &Path, out_dir: &Path) -> Result<Vec<ConvertedTable>, DatasetError> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(open_input(input)?);
    check_header(&mut rdr, input, &COLUMNS, DATASET)?;

    let mut customers = TableWriter::create(out_dir, "customers")?;
    let mut assignments = TableWriter::create(out_dir, "assignments")?;
    let mut responses = TableWriter::create(out_dir, "responses")?;
    let mut header = vec!["customer_id"];
    header.extend(COLUMNS);
    let mut features = PlainWriter::create(out_dir.join(FEATURES_FILE), &header)?;

    let assigned_at = format!("{}T00:00:00Z", date(START.0, START.1, START.2));
    let responded_at = format!("{}T00:00:00Z", date(END.0, END.1, END.2));
    // A customer new in the last 12 months has no known first purchase before this.
    let established_open = date(START.0 - 1, 2, 28);
    let mut n: u64 = 0;
    let mut rec = csv::StringRecord::new();
    while let Some(at) = next_record(&mut rdr, &mut rec, input, DATASET)? {
        let f = |i: usize| rec.get(i).unwrap_or("").trim();
        let recency = at.int("recency", f(0), 0, 120)? as u32;
        let newbie = at.flag("newbie", f(6))?;
        let segment = f(8);
        if !ARMS.contains(&segment) {
            return Err(at.err(
                "segment",
                segment,
                format!("expected one of {}", ARMS.join(", ")),
            ));
        }
        let visit = at.flag("visit", f(9))?;
        let conversion = at.flag("conversion", f(10))?;
        let spend = at.minor_units("spend", f(11))?;

        n += 1;
        let customer_id = id("HS", n, 5);
        // Open date: unknown, so the latest date consistent with the data. A newbie became
        // a customer within the past 12 months, at the latest at the last purchase
        // (`recency` months before the test); anyone else at least 12 months before it.
        let open_date = if newbie {
            let (y, m) = first_of_month_minus(START.0, START.1, recency);
            date(y, m, 1)
        } else {
            established_open.clone()
        };
        customers.write(&[
            ("customer_id", customer_id.clone()),
            ("source_system", "hillstrom".into()),
            ("open_date", open_date),
        ])?;
        assignments.write(&[
            ("experiment_id", EXPERIMENT_ID.into()),
            ("customer_id", customer_id.clone()),
            ("arm", segment.to_string()),
            ("assigned_at", assigned_at.clone()),
        ])?;
        if visit {
            responses.write(&[
                ("response_id", format!("{customer_id}-VISIT")),
                ("customer_id", customer_id.clone()),
                ("ts", responded_at.clone()),
                ("response_type", "visit".into()),
            ])?;
        }
        if conversion {
            responses.write(&[
                ("response_id", format!("{customer_id}-CONVERT")),
                ("customer_id", customer_id.clone()),
                ("ts", responded_at.clone()),
                ("response_type", "convert".into()),
                ("revenue_fen", spend.to_string()),
            ])?;
        } else if spend != 0 {
            return Err(at.err(
                "spend",
                f(11),
                "spend without a conversion; pass the unmodified file",
            ));
        }
        features.write(std::iter::once(customer_id.as_str()).chain(rec.iter().map(str::trim)))?;
    }
    if n == 0 {
        return Err(DatasetError::Input {
            path: input.to_path_buf(),
            message: "no data rows after the header".into(),
        });
    }

    let mut experiments = TableWriter::create(out_dir, "experiments")?;
    experiments.write(&[
        ("experiment_id", EXPERIMENT_ID.into()),
        ("name", "MineThatData e-mail test (Hillstrom 2008)".into()),
        ("arms", ARMS.join("|")),
        ("control_arm", CONTROL_ARM.into()),
        ("start_date", date(START.0, START.1, START.2)),
        ("end_date", date(END.0, END.1, END.2)),
    ])?;
    features.finish()?;
    Ok(vec![
        customers.finish()?,
        responses.finish()?,
        experiments.finish()?,
        assignments.finish()?,
    ])
}
