//! End-to-end checks of the synthetic bank: format, determinism, valid identifiers and the
//! planted effects documented in docs/synthetic-bank.md.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zhiying_core::schema::FACT_TABLES;
use zhiying_core::time::{parse_date, parse_timestamp};
use zhiying_synth::ids::{luhn_valid, resident_id_valid};
use zhiying_synth::{GenerateConfig, GenerateSummary, OutputFormat, generate};

fn gen_into(
    dir: &Path,
    customers: u64,
    months: u32,
    seed: u64,
    format: OutputFormat,
    dirty: f64,
) -> GenerateSummary {
    let cfg = GenerateConfig {
        customers,
        months,
        seed,
        out: dir.to_path_buf(),
        format,
        dirty_share: dirty,
        ..GenerateConfig::default()
    };
    let mut calls = 0;
    let s = generate(&cfg, &mut |p| {
        calls += 1;
        assert!(p.customers_done <= p.customers_total);
    })
    .expect("generate");
    assert_eq!(calls as u64, customers.div_ceil(zhiying_synth::CHUNK));
    s
}

/// One medium bank shared by the effect tests: 4,000 persons × 6 months.
fn bank() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        gen_into(d.path(), 4000, 6, 7, OutputFormat::Csv, 0.0);
        d
    })
    .path()
}

struct Table {
    header: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn read(path: PathBuf) -> Table {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(&path)
            .expect("open csv");
        let header = r
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        let rows = r.records().map(|x| x.expect("record")).collect();
        Table { header, rows }
    }
    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

fn table(name: &str) -> Table {
    Table::read(bank().join(format!("{name}.csv")))
}

#[test]
fn every_table_has_catalogue_header_and_valid_values() {
    let dir = bank();
    let gt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap())
            .unwrap();
    for t in FACT_TABLES.iter().filter(|t| t.name != "applicants") {
        let tab = table(t.name);
        assert_eq!(tab.header, t.column_names(), "{} header", t.name);
        assert!(!tab.rows.is_empty(), "{} is empty", t.name);
        assert_eq!(
            gt["rows"][t.name].as_u64(),
            Some(tab.rows.len() as u64),
            "{} row count",
            t.name
        );
        for row in &tab.rows {
            assert_eq!(row.len(), t.columns.len(), "{} field count", t.name);
            for (c, v) in t.columns.iter().zip(row.iter()) {
                if v.is_empty() {
                    assert!(!c.required, "{}.{} is required but empty", t.name, c.name);
                    continue;
                }
                use zhiying_core::schema::ColumnType::*;
                match c.ty {
                    Code(list) => assert!(
                        list.contains(&v),
                        "{}.{} = {v:?} not in code list",
                        t.name,
                        c.name
                    ),
                    Date => assert!(
                        parse_date(v).is_ok() && v.len() == 10,
                        "{}.{} date {v}",
                        t.name,
                        c.name
                    ),
                    Timestamp => {
                        assert!(
                            v.ends_with('Z') && parse_timestamp(v, 0).is_ok(),
                            "{}.{} ts {v}",
                            t.name,
                            c.name
                        )
                    }
                    Money { min, max } | Int { min, max } => {
                        let n: i64 = v
                            .parse()
                            .unwrap_or_else(|_| panic!("{}.{} int {v}", t.name, c.name));
                        assert!(
                            n >= min && n <= max,
                            "{}.{} = {n} out of range",
                            t.name,
                            c.name
                        );
                    }
                    Bool => assert!(v == "true" || v == "false"),
                    Float { min, max } => {
                        let f: f64 = v.parse().unwrap();
                        assert!(f >= min && f <= max);
                    }
                    Text { max_len } => assert!(
                        v.chars().count() <= max_len,
                        "{}.{} too long",
                        t.name,
                        c.name
                    ),
                }
            }
        }
    }
    // Primary keys are unique and references resolve.
    let cust = table("customers");
    let ids: HashSet<&str> = cust.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), cust.rows.len());
    let acct = table("accounts");
    let acct_ids: HashSet<&str> = acct.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(acct_ids.len(), acct.rows.len());
    let txn = table("transactions");
    let mut txn_ids = HashSet::new();
    for r in &txn.rows {
        assert!(
            txn_ids.insert(r[0].to_string()),
            "duplicate txn id {}",
            &r[0]
        );
        assert!(acct_ids.contains(&r[1]), "orphan account {}", &r[1]);
        assert!(ids.contains(&r[2]), "orphan customer {}", &r[2]);
    }
}

#[test]
fn resident_ids_phones_and_cards_are_valid() {
    let cust = table("customers");
    let (rid, phone, birth, gender) = (
        cust.col("resident_id"),
        cust.col("phone"),
        cust.col("birth_date"),
        cust.col("gender"),
    );
    let mut seen = HashSet::new();
    for r in cust.rows.iter().filter(|r| &r[1] == "core") {
        let id = &r[rid];
        assert!(resident_id_valid(id), "bad resident id {id}");
        assert!(seen.insert(id.to_string()), "resident id {id} reused");
        assert_eq!(&id[6..14], r[birth].replace('-', ""), "birth date embedded");
        let male = (id.as_bytes()[16] - b'0') % 2 == 1;
        assert_eq!(&r[gender], if male { "m" } else { "f" });
        let p = &r[phone];
        assert!(
            p.len() == 11 && p.starts_with('1') && p.bytes().all(|b| b.is_ascii_digit()),
            "phone {p}"
        );
    }
    let ident = table("identities");
    let mut cards = 0;
    for r in ident.rows.iter().filter(|r| &r[1] == "card_no") {
        assert!(luhn_valid(&r[2]), "card {} fails Luhn", &r[2]);
        cards += 1;
    }
    assert!(cards >= 4000);
}

#[test]
fn identity_pairs_are_planted_and_recorded() {
    let cust = table("customers");
    let by_id: HashMap<&str, &csv::StringRecord> = cust.rows.iter().map(|r| (&r[0], r)).collect();
    let truth = Table::read(bank().join("truth_customers.csv"));
    let dup = truth.col("duplicate_customer_id");
    let mut pairs = 0;
    for t in truth.rows.iter().filter(|t| !t[dup].is_empty()) {
        pairs += 1;
        let c = by_id[&t[0]];
        let k = by_id[&t[dup]];
        assert_eq!(&k[1], "card");
        assert_eq!(&c[6], &k[6], "same phone");
        assert!(
            k[5].is_empty() || k[5] == c[5],
            "same resident id when present"
        );
    }
    // 2% of 4,000 persons, with sampling noise.
    assert!((40..=130).contains(&pairs), "{pairs} identity pairs");
    let gt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bank().join("ground_truth.json")).unwrap())
            .unwrap();
    assert_eq!(gt["identity"]["pairs"].as_u64(), Some(pairs));
}

#[test]
fn churners_drain_balances_and_complain() {
    let truth = Table::read(bank().join("truth_customers.csv"));
    let churned: HashSet<String> = truth
        .rows
        .iter()
        .filter(|r| &r[truth.col("churned")] == "true")
        .map(|r| r[0].to_string())
        .collect();
    let n = truth.rows.len() as f64;
    let rate = churned.len() as f64 / n;
    assert!((0.04..0.25).contains(&rate), "churn rate {rate}");
    // Net flow (credits − debits) over the last 3 of 6 months, per customer.
    let txn = table("transactions");
    let cutoff = parse_timestamp("2026-08-01T00:00:00+08:00", 0).unwrap();
    let mut net: HashMap<String, i64> = HashMap::new();
    let mut competitor: HashMap<String, u32> = HashMap::new();
    for r in &txn.rows {
        if !r[2].starts_with('C') {
            continue;
        }
        let ts = parse_timestamp(&r[3], 0).unwrap();
        if ts >= cutoff {
            let amt: i64 = r[4].parse().unwrap();
            *net.entry(r[2].to_string()).or_default() += if &r[6] == "credit" { amt } else { -amt };
        }
        if &r[8] == "competitor_transfer" {
            *competitor.entry(r[2].to_string()).or_default() += 1;
        }
    }
    let mean = |want: bool| {
        let xs: Vec<i64> = truth
            .rows
            .iter()
            .filter(|r| churned.contains(&r[0]) == want)
            .map(|r| net.get(&r[0]).copied().unwrap_or(0))
            .collect();
        xs.iter().sum::<i64>() as f64 / xs.len() as f64
    };
    let (mc, mn) = (mean(true), mean(false));
    assert!(
        mc < 0.0 && mc < mn,
        "churners' net flow {mc} vs others {mn}"
    );
    let share = |want: bool| {
        let xs: Vec<bool> = truth
            .rows
            .iter()
            .filter(|r| churned.contains(&r[0]) == want)
            .map(|r| competitor.contains_key(&r[0]))
            .collect();
        xs.iter().filter(|&&b| b).count() as f64 / xs.len() as f64
    };
    assert!(
        share(true) > 0.8 && share(false) < 0.15,
        "competitor transfers {} vs {}",
        share(true),
        share(false)
    );
    let ev = table("events");
    let mut complaints: HashMap<String, u32> = HashMap::new();
    for r in ev.rows.iter().filter(|r| &r[4] == "complaint") {
        *complaints.entry(r[1].to_string()).or_default() += 1;
    }
    let per = |want: bool| {
        let xs: Vec<u32> = truth
            .rows
            .iter()
            .filter(|r| churned.contains(&r[0]) == want)
            .map(|r| complaints.get(&r[0]).copied().unwrap_or(0))
            .collect();
        xs.iter().sum::<u32>() as f64 / xs.len() as f64
    };
    assert!(
        per(true) > 3.0 * per(false),
        "complaints {} vs {}",
        per(true),
        per(false)
    );
}

#[test]
fn product_affinities_differ_by_age() {
    let cust = table("customers");
    let end = parse_date("2026-10-31").unwrap();
    let age: HashMap<&str, i32> = cust
        .rows
        .iter()
        .filter(|r| &r[1] == "core")
        .map(|r| (&r[0], (end - parse_date(&r[4]).unwrap()) / 365))
        .collect();
    let products = table("products");
    let cat: HashMap<&str, &str> = products.rows.iter().map(|r| (&r[0], &r[3])).collect();
    let hold = table("product_holdings");
    let mut has: HashSet<(String, &str)> = HashSet::new();
    let kc: HashMap<String, String> = {
        let truth = Table::read(bank().join("truth_customers.csv"));
        let d = truth.col("duplicate_customer_id");
        truth
            .rows
            .iter()
            .filter(|r| !r[d].is_empty())
            .map(|r| (r[d].to_string(), r[0].to_string()))
            .collect()
    };
    for r in &hold.rows {
        let owner = kc.get(&r[1]).cloned().unwrap_or_else(|| r[1].to_string());
        has.insert((owner, cat[&r[2]]));
    }
    let rate = |category: &str, lo: i32, hi: i32| {
        let ids: Vec<&&str> = age
            .iter()
            .filter(|(_, a)| **a >= lo && **a < hi)
            .map(|(id, _)| id)
            .collect();
        ids.iter()
            .filter(|id| has.contains(&(id.to_string(), category)))
            .count() as f64
            / ids.len() as f64
    };
    assert!(
        rate("credit_card", 18, 35) > rate("credit_card", 55, 120) + 0.15,
        "credit card by age"
    );
    assert!(
        rate("time_deposit", 50, 120) > rate("time_deposit", 18, 35) + 0.15,
        "time deposits by age"
    );
    assert!(
        rate("wealth", 50, 120) > rate("wealth", 18, 35),
        "wealth by age"
    );
}

#[test]
fn treatment_beats_control_where_uplift_is_planted() {
    let truth = Table::read(bank().join("truth_customers.csv"));
    let contacts = table("contacts");
    let responses = table("responses");
    let converted: HashSet<(String, String)> = responses
        .rows
        .iter()
        .filter(|r| &r[5] == "convert")
        .map(|r| (r[2].to_string(), r[3].to_string()))
        .collect();
    let mut uplift: HashMap<(String, String), f64> = HashMap::new();
    for r in &truth.rows {
        for c in ["CP001", "CP002", "CP003", "CP004"] {
            let v: f64 = r[truth.col(&format!("uplift_{}", c.to_lowercase()))]
                .parse()
                .unwrap();
            uplift.insert((c.to_string(), r[0].to_string()), v);
        }
    }
    // (treated n, treated conversions, untreated n, untreated conversions) in the positive segment.
    let mut s = [0f64; 4];
    for r in &contacts.rows {
        let key = (r[1].to_string(), r[2].to_string());
        if uplift[&key] < 0.05 {
            continue;
        }
        let conv = converted.contains(&key) as i32 as f64;
        if &r[6] == "treatment" {
            s[0] += 1.0;
            s[1] += conv;
        } else {
            s[2] += 1.0;
            s[3] += conv;
        }
    }
    let diff = s[1] / s[0] - s[3] / s[2];
    assert!(s[2] > 50.0, "too few untreated in segment: {s:?}");
    assert!(
        diff > 0.03,
        "observed uplift {diff} in the planted-positive segment ({s:?})"
    );
}

#[test]
fn pii_is_planted_in_about_five_percent_of_free_text() {
    let txn = table("transactions");
    let d = txn.col("description");
    let phone_like = |s: &str| {
        let b = s.as_bytes();
        b.windows(11)
            .any(|w| w[0] == b'1' && w.iter().all(u8::is_ascii_digit))
    };
    let pii = txn.rows.iter().filter(|r| phone_like(&r[d])).count() as f64 / txn.rows.len() as f64;
    assert!((0.02..0.06).contains(&pii), "PII share {pii}");
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    // 5,000 persons span three chunks, so ordering across the two workers is exercised.
    let sa = gen_into(a.path(), 5000, 3, 11, OutputFormat::Csv, 0.0);
    gen_into(b.path(), 5000, 3, 11, OutputFormat::Csv, 0.0);
    gen_into(c.path(), 5000, 3, 12, OutputFormat::Csv, 0.0);
    let mut names: Vec<PathBuf> = sa.files.clone();
    names.push(a.path().join("truth_customers.csv"));
    names.push(a.path().join("ground_truth.json"));
    for f in &names {
        let name = f.file_name().unwrap();
        let x = std::fs::read(a.path().join(name)).unwrap();
        let y = std::fs::read(b.path().join(name)).unwrap();
        assert!(
            x == y,
            "{name:?} differs between two runs with the same seed"
        );
    }
    let x = std::fs::read(a.path().join("transactions.csv")).unwrap();
    let z = std::fs::read(c.path().join("transactions.csv")).unwrap();
    assert_ne!(x, z);
}

#[test]
fn dirty_rows_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let s = gen_into(d.path(), 300, 3, 5, OutputFormat::Csv, 0.05);
    let gt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.ground_truth).unwrap()).unwrap();
    let txn = Table::read(d.path().join("transactions.csv"));
    let count =
        |f: &dyn Fn(&csv::StringRecord) -> bool| txn.rows.iter().filter(|r| f(r)).count() as u64;
    let dirty = &gt["dirty_rows"];
    assert_eq!(
        dirty["malformed_amount"].as_u64(),
        Some(count(&|r| &r[4] == "12.3.4"))
    );
    assert_eq!(
        dirty["impossible_date"].as_u64(),
        Some(count(&|r| r[3].contains("-02-30T")))
    );
    assert_eq!(
        dirty["unknown_code"].as_u64(),
        Some(count(&|r| &r[7] == "carrier_pigeon"))
    );
    assert_eq!(
        dirty["orphan_account"].as_u64(),
        Some(count(&|r| r[1].starts_with("AX")))
    );
    let mut seen = HashSet::new();
    let dups = txn
        .rows
        .iter()
        .filter(|r| !seen.insert(r.iter().collect::<Vec<_>>().join(",")))
        .count() as u64;
    assert_eq!(dirty["exact_duplicate"].as_u64(), Some(dups));
    let total: u64 = (0..5)
        .map(|i| dirty[zhiying_synth::DIRTY_KINDS[i]].as_u64().unwrap())
        .sum();
    assert!(total > 0);
}

#[test]
fn parquet_matches_csv_row_counts_and_schema() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let csv = gen_into(a.path(), 500, 3, 9, OutputFormat::Csv, 0.0);
    let pq = gen_into(b.path(), 500, 3, 9, OutputFormat::Parquet, 0.0);
    assert_eq!(csv.rows, pq.rows);
    for f in &pq.files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        let def = zhiying_core::schema::fact_table(name).unwrap();
        let file = std::fs::File::open(f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(
            reader.schema().fields(),
            def.arrow_schema().fields(),
            "{name} schema"
        );
        let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n as u64, pq.rows[name], "{name} rows");
    }
}
