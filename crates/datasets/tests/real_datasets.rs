//! Converts the shipped real datasets and checks the output against the catalogue and
//! against the figures published for each dataset (see `datasets/README.md`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use zhiying_core::ColumnType;
use zhiying_core::schema::{FACT_TABLES, TableDef, fact_table};
use zhiying_core::time::{parse_date, parse_timestamp};
use zhiying_datasets::{
    ConvertedTable, Dataset, convert, convert_cdnow_sample, locate, locate_file,
};

/// A converted table read back: rows as column-name → value maps.
struct Table {
    rows: Vec<Vec<String>>,
    def: &'static TableDef,
}

impl Table {
    fn get<'a>(&self, row: &'a [String], col: &str) -> &'a str {
        &row[self
            .def
            .column_index(col)
            .unwrap_or_else(|| panic!("{}.{col} not in catalogue", self.def.name))]
    }
}

fn input(ds: Dataset) -> PathBuf {
    locate(ds).unwrap_or_else(|| panic!("{} not found: ship it in <repo>/datasets", ds.file_name()))
}

/// Checks one file against the catalogue: header, field count, required fields, types,
/// ranges, code lists, canonical date/timestamp/money text and primary-key uniqueness.
fn read_canonical(t: &ConvertedTable) -> Table {
    let def = fact_table(t.table).unwrap_or_else(|| panic!("{} is not a canonical table", t.table));
    assert_eq!(
        t.path.file_name().and_then(|n| n.to_str()),
        Some(format!("{}.csv", t.table).as_str())
    );
    let mut rdr = csv::Reader::from_path(&t.path).expect("open converted file");
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        def.column_names(),
        "{}: header must equal the catalogue column list",
        t.table
    );
    let pk: Vec<usize> = def
        .primary_key
        .iter()
        .map(|c| def.column_index(c).expect("pk column"))
        .collect();
    let mut keys = HashSet::new();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("{}: row {}: {e}", t.table, i + 1));
        assert_eq!(rec.len(), def.columns.len());
        for (c, v) in def.columns.iter().zip(rec.iter()) {
            let ctx = format!("{} row {} column {} = {v:?}", t.table, i + 1, c.name);
            if v.is_empty() {
                assert!(!c.required, "{ctx}: required column is empty");
                continue;
            }
            assert_eq!(v.trim(), v, "{ctx}: untrimmed");
            match c.ty {
                ColumnType::Code(list) => {
                    assert!(list.contains(&v), "{ctx}: not in catalogue list {list:?}")
                }
                ColumnType::Text { max_len } => {
                    assert!(v.chars().count() <= max_len, "{ctx}: too long")
                }
                ColumnType::Int { min, max } | ColumnType::Money { min, max } => {
                    let n: i64 = v
                        .parse()
                        .unwrap_or_else(|_| panic!("{ctx}: not an integer"));
                    assert!((min..=max).contains(&n), "{ctx}: out of range");
                }
                ColumnType::Float { min, max } => {
                    let f: f64 = v.parse().unwrap_or_else(|_| panic!("{ctx}: not a number"));
                    assert!(f >= min && f <= max, "{ctx}: out of range");
                }
                ColumnType::Date => {
                    assert!(
                        v.len() == 10 && parse_date(v).is_ok(),
                        "{ctx}: not YYYY-MM-DD"
                    );
                }
                ColumnType::Timestamp => {
                    assert!(
                        v.ends_with('Z') && parse_timestamp(v, 8 * 3600).is_ok(),
                        "{ctx}: not RFC 3339 UTC"
                    );
                }
                ColumnType::Bool => assert!(v == "true" || v == "false", "{ctx}: not a bool"),
            }
        }
        let key: Vec<String> = pk.iter().map(|&k| rec[k].to_string()).collect();
        assert!(
            keys.insert(key.clone()),
            "{}: duplicate primary key {key:?}",
            t.table
        );
        rows.push(rec.iter().map(str::to_string).collect());
    }
    assert_eq!(rows.len() as u64, t.rows, "{}: reported row count", t.table);
    Table { rows, def }
}

/// Reads every converted table, checks order, canonical form and that every reference
/// resolves within the converted output (so ingest's referential checks pass).
fn check_all(tables: &[ConvertedTable]) -> HashMap<&'static str, Table> {
    let positions: Vec<usize> = tables
        .iter()
        .map(|t| {
            FACT_TABLES
                .iter()
                .position(|d| d.name == t.table)
                .expect("fact table")
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "tables must come in FACT_TABLES order: {positions:?}"
    );
    let read: HashMap<&'static str, Table> = tables
        .iter()
        .map(|t| (t.table, read_canonical(t)))
        .collect();
    for t in read.values() {
        for (ci, c) in t.def.columns.iter().enumerate() {
            let Some((rt, rc)) = c.references else {
                continue;
            };
            let Some(target) = read.get(rt) else {
                assert!(
                    t.rows.iter().all(|r| r[ci].is_empty()),
                    "{}.{} references {rt}, not converted",
                    t.def.name,
                    c.name
                );
                continue;
            };
            let ri = target.def.column_index(rc).expect("referenced column");
            let ids: HashSet<&str> = target.rows.iter().map(|r| r[ri].as_str()).collect();
            for r in &t.rows {
                assert!(
                    r[ci].is_empty() || ids.contains(r[ci].as_str()),
                    "{}.{} = {} is an orphan",
                    t.def.name,
                    c.name,
                    r[ci]
                );
            }
        }
    }
    read
}

fn count(t: &Table, col: &str, value: &str) -> usize {
    t.rows.iter().filter(|r| t.get(r, col) == value).count()
}

fn features(dir: &Path, ds: Dataset) -> (Vec<String>, Vec<csv::StringRecord>) {
    let path = dir.join(ds.features_file_name().expect("features file"));
    let mut rdr = csv::Reader::from_path(&path).expect("features file exists");
    let header = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    (
        header,
        rdr.records().map(|r| r.expect("features row")).collect(),
    )
}

#[test]
fn bank_full_becomes_a_phone_campaign() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = convert(
        Dataset::BankMarketing,
        &input(Dataset::BankMarketing),
        dir.path(),
    )
    .expect("convert");
    let names: Vec<&str> = tables.iter().map(|t| t.table).collect();
    assert_eq!(
        names,
        [
            "customers",
            "accounts",
            "products",
            "offers",
            "campaigns",
            "contacts",
            "responses"
        ]
    );
    let t = check_all(&tables);

    let customers = &t["customers"];
    assert_eq!(customers.rows.len(), 45_211);
    assert_eq!(t["contacts"].rows.len(), 45_211);
    assert_eq!(t["responses"].rows.len(), 45_211);
    assert_eq!(count(&t["responses"], "response_type", "accept"), 5_289);
    assert_eq!(
        count(&t["responses"], "response_type", "reject"),
        45_211 - 5_289
    );
    assert_eq!(count(customers, "source_system", "uci_bank"), 45_211);
    assert_eq!(count(customers, "occupation", "admin"), 5_171);
    assert_eq!(count(customers, "occupation", "self_employed"), 1_579);

    // First row: 58, management, married, tertiary, balance 2143, housing loan, 5 May.
    let first = &customers.rows[0];
    assert_eq!(customers.get(first, "customer_id"), "UB00001");
    assert_eq!(customers.get(first, "birth_date"), "1950-05-01");
    assert_eq!(customers.get(first, "occupation"), "management");
    assert_eq!(customers.get(first, "open_date"), "2008-05-01");
    let acc = &t["accounts"];
    let cur = acc
        .rows
        .iter()
        .find(|r| acc.get(r, "account_id") == "UB00001-CUR")
        .expect("current account");
    assert_eq!(acc.get(cur, "balance_fen"), "214300");
    assert_eq!(acc.get(cur, "currency"), "eur");
    assert!(
        acc.rows
            .iter()
            .any(|r| acc.get(r, "account_id") == "UB00001-HOUSING")
    );
    assert_eq!(count(acc, "account_type", "current"), 45_211);
    assert!(
        acc.rows
            .iter()
            .any(|r| acc.get(r, "balance_fen").starts_with('-')),
        "overdrawn balances kept"
    );

    // Years are inferred from month wraps: May 2008 … November 2010.
    let contacts = &t["contacts"];
    assert_eq!(
        contacts.get(&contacts.rows[0], "ts"),
        "2008-05-05T00:00:00Z"
    );
    let last = contacts.get(contacts.rows.last().expect("rows"), "ts");
    assert!(last.starts_with("2010-11-"), "last contact {last}");
    let campaigns = &t["campaigns"];
    assert_eq!(campaigns.get(&campaigns.rows[0], "end_date"), &last[..10]);

    let (header, rows) = features(dir.path(), Dataset::BankMarketing);
    assert_eq!(header[0], "customer_id");
    assert_eq!(
        &header[1..],
        [
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
            "y"
        ]
    );
    assert_eq!(rows.len(), 45_211);
    assert_eq!(
        &rows[0].iter().collect::<Vec<_>>(),
        &[
            "UB00001",
            "58",
            "management",
            "married",
            "tertiary",
            "no",
            "2143",
            "yes",
            "no",
            "unknown",
            "5",
            "may",
            "261",
            "1",
            "-1",
            "0",
            "unknown",
            "no"
        ]
    );
    assert_eq!(rows.iter().filter(|r| &r[17] == "yes").count(), 5_289);
}

#[test]
fn hillstrom_reproduces_the_published_arm_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables =
        convert(Dataset::Hillstrom, &input(Dataset::Hillstrom), dir.path()).expect("convert");
    let names: Vec<&str> = tables.iter().map(|t| t.table).collect();
    assert_eq!(
        names,
        ["customers", "responses", "experiments", "assignments"]
    );
    let t = check_all(&tables);
    assert_eq!(t["customers"].rows.len(), 64_000);
    let exp = &t["experiments"];
    assert_eq!(
        exp.get(&exp.rows[0], "arms"),
        "Mens E-Mail|Womens E-Mail|No E-Mail"
    );
    assert_eq!(exp.get(&exp.rows[0], "control_arm"), "No E-Mail");

    // Figures computed from the converted tables only.
    let a = &t["assignments"];
    let arm_of: HashMap<&str, &str> = a
        .rows
        .iter()
        .map(|r| (a.get(r, "customer_id"), a.get(r, "arm")))
        .collect();
    let r = &t["responses"];
    let mut size: HashMap<&str, f64> = HashMap::new();
    let mut visits: HashMap<&str, f64> = HashMap::new();
    let mut converts: HashMap<&str, f64> = HashMap::new();
    let mut revenue: HashMap<&str, f64> = HashMap::new();
    for arm in arm_of.values() {
        *size.entry(*arm).or_default() += 1.0;
    }
    for row in &r.rows {
        let arm = arm_of[r.get(row, "customer_id")];
        match r.get(row, "response_type") {
            "visit" => *visits.entry(arm).or_default() += 1.0,
            "convert" => {
                *converts.entry(arm).or_default() += 1.0;
                *revenue.entry(arm).or_default() +=
                    r.get(row, "revenue_fen").parse::<f64>().expect("cents") / 100.0;
            }
            other => panic!("unexpected response type {other}"),
        }
    }
    let expected = [
        ("Mens E-Mail", 21_307.0, 18.28, 1.25, 1.42),
        ("Womens E-Mail", 21_387.0, 15.14, 0.88, 1.08),
        ("No E-Mail", 21_306.0, 10.62, 0.57, 0.65),
    ];
    for (arm, n, visit_pct, conv_pct, spend) in expected {
        assert_eq!(size[arm], n, "{arm} size");
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(
            round2(100.0 * visits[arm] / n),
            visit_pct,
            "{arm} visit rate"
        );
        assert_eq!(
            round2(100.0 * converts[arm] / n),
            conv_pct,
            "{arm} conversion"
        );
        assert_eq!(round2(revenue[arm] / n), spend, "{arm} spend per customer");
    }

    let (header, rows) = features(dir.path(), Dataset::Hillstrom);
    assert_eq!(header.len(), 13);
    assert_eq!(header[0], "customer_id");
    assert_eq!(rows.len(), 64_000);
    assert_eq!(&rows[0][0], "HS00001");
    assert_eq!(&rows[0][2], "2) $100 - $200");
}

#[test]
fn cdnow_master_becomes_purchase_transactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = convert(Dataset::Cdnow, &input(Dataset::Cdnow), dir.path()).expect("convert");
    let names: Vec<&str> = tables.iter().map(|t| t.table).collect();
    assert_eq!(names, ["customers", "accounts", "transactions"]);
    let t = check_all(&tables);
    assert_eq!(t["customers"].rows.len(), 23_570);
    assert_eq!(t["accounts"].rows.len(), 23_570);
    let tx = &t["transactions"];
    assert_eq!(tx.rows.len(), 69_659);
    assert_eq!(
        count(tx, "amount_fen", "0"),
        80,
        "zero-value purchases are kept"
    );
    let first = &tx.rows[0];
    assert_eq!(tx.get(first, "txn_id"), "CDT0000001");
    assert_eq!(tx.get(first, "customer_id"), "CD00001");
    assert_eq!(tx.get(first, "ts"), "1997-01-01T00:00:00Z");
    assert_eq!(tx.get(first, "amount_fen"), "1177");
    assert_eq!(tx.get(first, "description"), "1 CDs");
    let total: i64 = tx
        .rows
        .iter()
        .map(|r| tx.get(r, "amount_fen").parse::<i64>().expect("cents"))
        .sum();
    assert!(total > 0);
    let c = &t["customers"];
    assert_eq!(c.get(&c.rows[1], "customer_id"), "CD00002");
    assert_eq!(c.get(&c.rows[1], "open_date"), "1997-01-12");
}

#[test]
fn cdnow_sample_matches_master_customers() {
    let path = locate_file("CDNOW_sample.txt").expect("CDNOW_sample.txt shipped");
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = convert_cdnow_sample(&path, dir.path()).expect("convert");
    let t = check_all(&tables);
    assert_eq!(t["customers"].rows.len(), 2_357);
    assert_eq!(t["transactions"].rows.len(), 6_919);
    let tx = &t["transactions"];
    assert_eq!(tx.get(&tx.rows[0], "txn_id"), "CDS0000001");
    assert_eq!(tx.get(&tx.rows[0], "customer_id"), "CD00004");
}

#[test]
fn german_credit_becomes_applicants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = convert(
        Dataset::GermanCredit,
        &input(Dataset::GermanCredit),
        dir.path(),
    )
    .expect("convert");
    let t = check_all(&tables);
    let a = &t["applicants"];
    assert_eq!(a.rows.len(), 1_000);
    assert_eq!(count(a, "creditability", "bad"), 300);
    assert_eq!(count(a, "creditability", "good"), 700);
    let first = &a.rows[0];
    assert_eq!(a.get(first, "applicant_id"), "GC0001");
    assert_eq!(a.get(first, "checking_status"), "... < 0 DM");
    assert_eq!(a.get(first, "duration_months"), "6");
    assert_eq!(a.get(first, "credit_amount"), "1169");
    assert_eq!(a.get(first, "age"), "67");
    assert_eq!(
        a.get(first, "telephone"),
        "yes, registered under the customers name"
    );
    assert!(
        a.rows
            .iter()
            .all(|r| a.get(r, "source_system") == "german_credit")
    );
}

#[test]
fn every_dataset_is_located_and_credited() {
    for ds in Dataset::all() {
        assert!(locate(ds).is_some(), "{ds} not shipped");
        assert!(ds.credit().len() > 40, "{ds} needs a citation");
        assert_eq!(ds.name().parse::<Dataset>(), Ok(ds));
    }
    assert!("nope".parse::<Dataset>().unwrap_err().contains("bank-full"));
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bank.csv");
    let mut text = String::from(
        "\"age\";\"job\";\"marital\";\"education\";\"default\";\"balance\";\"housing\";\"loan\";\"contact\";\"day\";\"month\";\"duration\";\"campaign\";\"pdays\";\"previous\";\"poutcome\";\"y\"\n",
    );
    text.push_str("58;\"management\";\"married\";\"tertiary\";\"no\";2143;\"yes\";\"no\";\"unknown\";5;\"may\";261;1;-1;0;\"unknown\";\"no\"\n");
    text.push_str("44;\"astronaut\";\"single\";\"secondary\";\"no\";29;\"yes\";\"no\";\"unknown\";5;\"may\";151;1;-1;0;\"unknown\";\"no\"\n");
    std::fs::write(&bad, text).expect("write");
    let e = convert(Dataset::BankMarketing, &bad, &dir.path().join("out"))
        .expect_err("unknown job")
        .to_string();
    assert!(
        e.contains("bank.csv")
            && e.contains("line 3")
            && e.contains("job")
            && e.contains("astronaut"),
        "{e}"
    );

    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "a,b\n1,2\n").expect("write");
    let e = convert(Dataset::GermanCredit, &wrong, &dir.path().join("out2"))
        .expect_err("wrong header")
        .to_string();
    assert!(e.contains("wrong.csv") && e.contains("header"), "{e}");

    let missing = dir.path().join("missing.csv");
    let e = convert(Dataset::Hillstrom, &missing, &dir.path().join("out3"))
        .expect_err("missing")
        .to_string();
    assert!(e.contains("missing.csv"), "{e}");
}
