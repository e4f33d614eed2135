//! Statlog German credit → applicants (`GC0001`…, file order).
//!
//! The shipped file has the decoded attribute labels (e.g. `... < 0 DM`), which are kept
//! as text; the numeric attributes become integers; `creditability` stays good/bad.

use crate::io::{TableWriter, check_header, next_record, open_input};
use crate::parse::id;
use crate::{ConvertedTable, DatasetError};
use std::path::Path;
use zhiying_core::ColumnType;
use zhiying_core::schema::{APPLICANTS, CREDITABILITY, ColumnDef};

const DATASET: &str = "german-credit.csv (Statlog German credit, decoded labels)";

/// Source column → `applicants` column, in catalogue order after `applicant_id` and
/// `source_system`.
const MAPPING: [(&str, &str); 21] = [
    ("status_of_existing_checking_account", "checking_status"),
    ("duration_in_month", "duration_months"),
    ("credit_history", "credit_history"),
    ("purpose", "purpose"),
    ("credit_amount", "credit_amount"),
    ("savings_account_and_bonds", "savings"),
    ("present_employment_since", "employment_since"),
    (
        "installment_rate_in_percentage_of_disposable_income",
        "installment_rate",
    ),
    ("personal_status_and_sex", "personal_status_sex"),
    ("other_debtors_or_guarantors", "other_debtors"),
    ("present_residence_since", "residence_since"),
    ("property", "property"),
    ("age_in_years", "age"),
    ("other_installment_plans", "other_installment_plans"),
    ("housing", "housing"),
    (
        "number_of_existing_credits_at_this_bank",
        "existing_credits",
    ),
    ("job", "job"),
    (
        "number_of_people_being_liable_to_provide_maintenance_for",
        "dependents",
    ),
    ("telephone", "telephone"),
    ("foreign_worker", "foreign_worker"),
    ("creditability", "creditability"),
];

pub(crate) fn convert(input: &Path, out_dir: &Path) -> Result<Vec<ConvertedTable>, DatasetError> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(open_input(input)?);
    let source_columns: Vec<&str> = MAPPING.iter().map(|(s, _)| *s).collect();
    check_header(&mut rdr, input, &source_columns, DATASET)?;
    let targets: Vec<&'static ColumnDef> = MAPPING
        .iter()
        .map(|&(_, t)| {
            APPLICANTS.column(t).ok_or(DatasetError::UnknownColumn {
                table: "applicants",
                column: t,
            })
        })
        .collect::<Result<_, _>>()?;

    let mut applicants = TableWriter::create(out_dir, "applicants")?;
    let mut n: u64 = 0;
    let mut rec = csv::StringRecord::new();
    let mut row: Vec<(&'static str, String)> = Vec::with_capacity(MAPPING.len() + 2);
    while let Some(at) = next_record(&mut rdr, &mut rec, input, DATASET)? {
        n += 1;
        row.clear();
        row.push(("applicant_id", id("GC", n, 4)));
        row.push(("source_system", "german_credit".into()));
        for (i, (&(source, _), col)) in MAPPING.iter().zip(&targets).enumerate() {
            let raw = rec.get(i).unwrap_or("").trim();
            let value = match col.ty {
                ColumnType::Int { min, max } => at.int(source, raw, min, max)?.to_string(),
                ColumnType::Code(allowed) => {
                    debug_assert_eq!(allowed, CREDITABILITY);
                    at.code(source, raw, allowed)?
                }
                ColumnType::Text { max_len } => {
                    if raw.is_empty() || raw.chars().count() > max_len {
                        return Err(at.err(
                            source,
                            raw,
                            format!("expected 1 to {max_len} characters"),
                        ));
                    }
                    raw.to_string()
                }
                other => {
                    return Err(at.err(
                        source,
                        raw,
                        format!("internal: unexpected column type {other:?}"),
                    ));
                }
            };
            row.push((col.name, value));
        }
        applicants.write(&row)?;
    }
    if n == 0 {
        return Err(DatasetError::Input {
            path: input.to_path_buf(),
            message: "no data rows after the header".into(),
        });
    }
    Ok(vec![applicants.finish()?])
}
