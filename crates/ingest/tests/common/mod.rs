//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use zhiying_core::DataDir;
use zhiying_ingest::{IngestOptions, IngestSummary, ingest_files, resident_id_check_char};

/// A valid 18-character resident ID for a region, birth date and sequence.
pub fn rid(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    let c = resident_id_check_char(first17.as_bytes()).expect("17 digits");
    format!("{first17}{}", c as char)
}

/// The same ID with a wrong check character.
pub fn bad_rid(region: &str, birth: &str, seq: &str) -> String {
    let good = rid(region, birth, seq);
    let last = good.as_bytes()[17];
    let wrong = if last == b'1' { '2' } else { '1' };
    format!("{}{wrong}", &good[..17])
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}

pub fn ingest(dd: &DataDir, table: &zhiying_core::TableDef, files: &[PathBuf]) -> IngestSummary {
    ingest_files(dd, table, files, &IngestOptions::default()).expect("ingest")
}

pub fn quarantine(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("quarantine file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("quarantine line is JSON"))
        .collect()
}

/// Loads three customers and two accounts, the parents of the transaction fixtures.
pub fn seed_parents(dd: &DataDir, dir: &Path) {
    let c = write(
        dir,
        "seed_customers.csv",
        &format!(
            "customer_id,source_system,open_date,resident_id\nC1,core,2020-01-01,{}\nC2,core,2020-01-01,\nC3,card,2021-05-05,\n",
            rid("110105", "19491231", "002")
        ),
    );
    let s = ingest(dd, &zhiying_core::schema::CUSTOMERS, &[c]);
    assert_eq!(s.accepted, 3, "{s:?}");
    let a = write(
        dir,
        "seed_accounts.csv",
        "account_id,customer_id,account_type,currency,open_date,status,balance_fen\nA1,C1,current,cny,2020-01-01,active,0\nA2,C2,savings,CNY,2020-01-01,Active,100.5\n",
    );
    let s = ingest(dd, &zhiying_core::schema::ACCOUNTS, &[a]);
    assert_eq!(s.accepted, 2, "{s:?}");
}

/// Transactions with good, malformed, duplicate and orphan rows. Line numbers in comments.
pub const TXN_CSV: &str = "\
txn_id,account_id,customer_id,ts,amount_fen,currency,direction,channel,txn_type
T1,A1,C1,2024-03-01 09:30:00,12.30元,CNY,credit,mobile,salary
T2, A1 ,C1,2024-03-01T10:00:00+08:00,1500,cny,debit,POS,purchase
T3,A1,C1,2024-03-01 10:00:00,abc,cny,debit,pos,purchase
T4,A1,C1,2024-13-01 10:00:00,100,cny,debit,pos,purchase
T5,A1,C1,2024-03-01 10:00:00,100,cny,sideways,pos,purchase
T6,,C1,2024-03-01 10:00:00,100,cny,debit,pos,purchase
T7,A1,C1,2024-03-01 10:00:00,100,cny,debit,pos,purchase,extra
T2,A1,C1,2024-03-02 10:00:00,99,cny,debit,pos,purchase
T8,A9,C1,2024-03-01 10:00:00,100,cny,debit,pos,purchase
\"T9\",A2,C2,\"2024-03-05 08:00:00\",\"1,234.56\",cny,credit,branch,transfer_in
";
