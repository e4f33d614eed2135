//! UCI Bank Marketing (`bank-full`) → customers, accounts, products, offers, campaigns,
//! contacts, responses, plus `bank_full_features.csv` with the original columns.
//!
//! Each row is one customer's last contact in a Portuguese bank's term-deposit phone
//! campaigns, May 2008 – November 2010. The file has day and month but no year; rows are
//! in date order, so the year starts at 2008 and increases whenever the month goes back
//! (e.g. `dec` → `jan`). Customer attributes describe the customer at the contact; we
//! anchor them at the campaign start (2008-05-01): `birth_date` = 2008-05-01 − age years.

use crate::io::{PlainWriter, TableWriter, check_header, next_record, open_input};
use crate::parse::{date, id, midnight_utc};
use crate::{ConvertedTable, DatasetError};
use std::path::Path;
use zhiying_core::schema::{EDUCATIONS, MARITAL, OCCUPATIONS};
use zhiying_core::time::days_from_civil;

pub(crate) const FEATURES_FILE: &str = "bank_full_features.csv";
const DATASET: &str = "bank-full (UCI Bank Marketing, ';'-separated)";
const COLUMNS: [&str; 17] = [
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The campaign data starts in May 2008 (Moro et al. 2014).
const START: (i32, u32, u32) = (2008, 5, 1);
pub(crate) const PRODUCT_ID: &str = "UB-TD";
pub(crate) const OFFER_ID: &str = "UB-TD-OFFER";
pub(crate) const CAMPAIGN_ID: &str = "UB-2008-TD";

pub(crate) fn convert(input: &Path, out_dir: &Path) -> Result<Vec<ConvertedTable>, DatasetError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(open_input(input)?);
    check_header(&mut rdr, input, &COLUMNS, DATASET)?;

    let start = date(START.0, START.1, START.2);
    let mut customers = TableWriter::create(out_dir, "customers")?;
    let mut accounts = TableWriter::create(out_dir, "accounts")?;
    let mut contacts = TableWriter::create(out_dir, "contacts")?;
    let mut responses = TableWriter::create(out_dir, "responses")?;
    let mut header = vec!["customer_id"];
    header.extend(COLUMNS);
    let mut features = PlainWriter::create(out_dir.join(FEATURES_FILE), &header)?;

    let mut year = START.0;
    let mut prev_month = START.1;
    let mut last_day = days_from_civil(START.0, START.1, START.2);
    let mut n: u64 = 0;
    let mut rec = csv::StringRecord::new();
    while let Some(at) = next_record(&mut rdr, &mut rec, input, DATASET)? {
        if rec.len() != COLUMNS.len() {
            return Err(DatasetError::FieldCount {
                path: input.to_path_buf(),
                line: at.line,
                expected: COLUMNS.len(),
                found: rec.len(),
            });
        }
        n += 1;
        let customer_id = id("UB", n, 5);
        let f = |i: usize| rec.get(i).unwrap_or("").trim();

        let age = at.int("age", f(0), 16, 120)?;
        let occupation = match f(1) {
            "admin." => "admin".to_string(),
            "self-employed" => "self_employed".to_string(),
            other => at.code("job", other, OCCUPATIONS)?,
        };
        let marital = at.code("marital", f(2), MARITAL)?;
        let education = at.code("education", f(3), EDUCATIONS)?;
        let balance_cents = at.int("balance", f(5), -1_000_000_000, 1_000_000_000)? * 100;
        let housing = at.yes_no("housing", f(6))?;
        let loan = at.yes_no("loan", f(7))?;
        let day = at.int("day", f(9), 1, 31)? as u32;
        let month_raw = f(10);
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(month_raw))
            .ok_or_else(|| {
                at.err(
                    "month",
                    month_raw,
                    "expected a three-letter month such as may",
                )
            })? as u32
            + 1;
        let accepted = at.yes_no("y", f(16))?;

        if month < prev_month {
            year += 1;
        }
        prev_month = month;
        let contact_day = at.ymd("day", f(9), year, month, day)?;
        if contact_day < last_day {
            return Err(at.err(
                "day",
                f(9),
                "rows must be in date order (the year is inferred from month changes); pass the unmodified file",
            ));
        }
        last_day = contact_day;
        let ts = midnight_utc(contact_day);

        customers.write(&[
            ("customer_id", customer_id.clone()),
            ("source_system", "uci_bank".into()),
            ("birth_date", date(START.0 - age as i32, START.1, START.2)),
            ("occupation", occupation),
            ("education", education),
            ("marital_status", marital),
            ("open_date", start.clone()),
        ])?;
        let account = |suffix: &str, ty: &str, balance: i64| {
            [
                ("account_id", format!("{customer_id}-{suffix}")),
                ("customer_id", customer_id.clone()),
                ("account_type", ty.to_string()),
                ("currency", "eur".to_string()),
                ("open_date", start.clone()),
                ("status", "active".to_string()),
                ("balance_fen", balance.to_string()),
            ]
        };
        accounts.write(&account("CUR", "current", balance_cents))?;
        // Only the existence of the loans is known, not their amounts: balance 0.
        if housing {
            accounts.write(&account("HOUSING", "loan", 0))?;
        }
        if loan {
            accounts.write(&account("LOAN", "loan", 0))?;
        }
        let contact_id = format!("{customer_id}-CT");
        contacts.write(&[
            ("contact_id", contact_id.clone()),
            ("campaign_id", CAMPAIGN_ID.into()),
            ("customer_id", customer_id.clone()),
            ("offer_id", OFFER_ID.into()),
            ("channel", "call".into()),
            ("ts", ts.clone()),
            ("group", "treatment".into()),
            ("status", "delivered".into()),
        ])?;
        responses.write(&[
            ("response_id", format!("{customer_id}-RS")),
            ("contact_id", contact_id),
            ("campaign_id", CAMPAIGN_ID.into()),
            ("customer_id", customer_id.clone()),
            ("ts", ts),
            (
                "response_type",
                if accepted { "accept" } else { "reject" }.into(),
            ),
        ])?;
        features.write(std::iter::once(customer_id.as_str()).chain(rec.iter().map(str::trim)))?;
    }
    if n == 0 {
        return Err(DatasetError::Input {
            path: input.to_path_buf(),
            message: "no data rows after the header".into(),
        });
    }
    let end = zhiying_core::time::format_date(last_day);

    let mut products = TableWriter::create(out_dir, "products")?;
    products.write(&[
        ("product_id", PRODUCT_ID.into()),
        ("name_zh", "定期存款（UCI 银行营销数据）".into()),
        ("name_en", "Term deposit (UCI Bank Marketing)".into()),
        ("category", "time_deposit".into()),
        ("risk_level", "r1".into()),
        ("min_amount_fen", "0".into()),
        ("launch_date", start.clone()),
    ])?;
    let mut offers = TableWriter::create(out_dir, "offers")?;
    offers.write(&[
        ("offer_id", OFFER_ID.into()),
        ("product_id", PRODUCT_ID.into()),
        ("name", "Term deposit subscription by phone".into()),
        // The data carries neither the value of a deposit nor the cost of a call.
        ("value_fen", "0".into()),
        ("cost_fen", "0".into()),
        ("valid_from", start.clone()),
        ("valid_to", end.clone()),
    ])?;
    let mut campaigns = TableWriter::create(out_dir, "campaigns")?;
    campaigns.write(&[
        ("campaign_id", CAMPAIGN_ID.into()),
        (
            "name",
            "UCI Bank Marketing term-deposit calls 2008-2010".into(),
        ),
        ("offer_id", OFFER_ID.into()),
        ("channel", "call".into()),
        ("start_date", start.clone()),
        ("end_date", end),
        ("status", "completed".into()),
    ])?;

    features.finish()?;
    Ok(vec![
        customers.finish()?,
        accounts.finish()?,
        products.finish()?,
        offers.finish()?,
        campaigns.finish()?,
        contacts.finish()?,
        responses.finish()?,
    ])
}
