//! The Foundation issue's ingest acceptance: good rows accepted, every bad row quarantined
//! with its line and a reason, re-ingest adds nothing, all formats validated alike.

mod common;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType};
use common::*;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use zhiying_core::DataDir;
use zhiying_core::schema::{CUSTOMERS, IDENTITIES, TRANSACTIONS};
use zhiying_ingest::{
    IngestError, IngestOptions, InputFormat, ingest_files, quality_report, table_row_counts,
};

fn read_all(path: &Path) -> RecordBatch {
    let f = std::fs::File::open(path).expect("open parquet");
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = r.map(|b| b.expect("batch")).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

fn by_line(q: &[serde_json::Value]) -> BTreeMap<u64, String> {
    q.iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect()
}

#[test]
fn transactions_good_rows_accepted_bad_rows_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    seed_parents(&dd, tmp.path());
    let f = write(tmp.path(), "txn.csv", TXN_CSV);
    let s = ingest(&dd, &TRANSACTIONS, std::slice::from_ref(&f));

    assert_eq!(s.rows_read, 10);
    assert_eq!(s.accepted, 3, "T1, T2 and T9 are good: {s:?}");
    assert_eq!(s.rejected, 6);
    assert_eq!(s.duplicates_skipped, 1);
    assert_eq!(s.accepted + s.rejected + s.duplicates_skipped, s.rows_read);
    assert_eq!(s.rejections_by_reason.get("orphan_reference"), Some(&1));
    assert_eq!(s.rejections_by_column.get("amount_fen"), Some(&1));

    let q = quarantine(s.quarantine_path.as_ref().expect("quarantine written"));
    assert_eq!(q.len(), 7, "6 rejected + 1 in-file duplicate");
    let lines = by_line(&q);
    assert_eq!(
        lines[&4],
        "amount_fen: 'abc' is not an amount: use digits with at most 2 decimals, e.g. 1234.56"
    );
    assert!(
        lines[&5].starts_with("ts: '2024-13-01 10:00:00' is not a timestamp: use RFC 3339"),
        "{}",
        lines[&5]
    );
    assert!(
        lines[&6]
            .starts_with("direction: 'sideways' is not a valid code: use one of credit, debit"),
        "{}",
        lines[&6]
    );
    assert!(
        lines[&7].starts_with("account_id: required value is missing: fill in account_id"),
        "{}",
        lines[&7]
    );
    assert!(
        lines[&8].contains("10 fields but the header has 9"),
        "{}",
        lines[&8]
    );
    assert!(
        lines[&9].starts_with("duplicate of line 3"),
        "{}",
        lines[&9]
    );
    assert!(
        lines[&10].starts_with("account_id: 'A9' is not a known accounts.account_id"),
        "{}",
        lines[&10]
    );
    let rec4 = q.iter().find(|r| r["line"] == 4).unwrap();
    assert_eq!(rec4["column"], "amount_fen");
    assert_eq!(
        rec4["raw"],
        "T3,A1,C1,2024-03-01 10:00:00,abc,cny,debit,pos,purchase"
    );
    assert_eq!(rec4["source_file"], f.display().to_string());
    assert_eq!(
        q.iter().find(|r| r["line"] == 8).unwrap()["column"],
        serde_json::Value::Null
    );

    // Stored values are cleaned: 12.30元 is 1230 fen, naive 09:30 at +08:00 is 01:30Z.
    let b = read_all(s.fact_path.as_ref().expect("facts written"));
    assert_eq!(b.num_rows(), 3);
    assert_eq!(b.schema(), TRANSACTIONS.arrow_schema());
    let ids: Vec<&str> = b
        .column_by_name("txn_id")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(ids, ["T1", "T2", "T9"]);
    let acct: &StringArray = b.column_by_name("account_id").unwrap().as_string::<i32>();
    assert_eq!(acct.value(1), "A1", "trimmed");
    let amt: &Int64Array = b.column_by_name("amount_fen").unwrap().as_primitive();
    assert_eq!(amt.values().to_vec(), vec![1230, 1500, 123456]);
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        zhiying_core::time::format_timestamp(ts.value(0)),
        "2024-03-01T01:30:00Z"
    );
    assert_eq!(
        zhiying_core::time::format_timestamp(ts.value(1)),
        "2024-03-01T02:00:00Z"
    );
    let cur = b.column_by_name("currency").unwrap().as_string::<i32>();
    assert_eq!(cur.value(0), "cny", "codes are lower-cased");
    assert_eq!(
        b.column_by_name("channel")
            .unwrap()
            .as_string::<i32>()
            .value(1),
        "pos"
    );
    assert!(
        b.column_by_name("merchant_category").unwrap().is_null(0),
        "absent optional column is null"
    );

    // Re-ingesting the same file adds nothing and writes nothing.
    let again = ingest(&dd, &TRANSACTIONS, &[f]);
    assert_eq!(again.batch_id, s.batch_id);
    assert_eq!(again.accepted, 0);
    assert_eq!(again.rejected, 6);
    assert_eq!(
        again.duplicates_skipped, 4,
        "3 good rows + the in-file repeat"
    );
    assert!(again.already_ingested);
    assert_eq!(table_row_counts(&dd).unwrap()["transactions"], 3);
    assert_eq!(
        zhiying_ingest::batch_files(&dd, "transactions")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn quarantine_file_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    seed_parents(&dd, tmp.path());
    let f = write(tmp.path(), "txn.csv", TXN_CSV);
    let s = ingest(&dd, &TRANSACTIONS, &[f]);
    let mut q = quarantine(s.quarantine_path.as_ref().unwrap());
    for r in &mut q {
        r["source_file"] = "txn.csv".into();
    }
    insta::assert_json_snapshot!("transactions_quarantine", q);
}

#[test]
fn customers_dates_codes_and_resident_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    let good = rid("110105", "19491231", "002");
    let csv = format!(
        "customer_id,source_system,gender,birth_date,resident_id,phone,email,open_date,_note\n\
         K1,core,M,1949-12-31,{},+86 138-1234-5678,Li.Wei@Example.com,2020-01-01,ignored\n\
         K2,crm,f,1990-02-30,,,,2020-01-01,\n\
         K3,crm,x,,,,,2020-01-01,\n\
         K4,crm,f,,{},,,2020-01-01,\n\
         K5,,f,,,,,2020-01-01,\n\
         K1,crm,f,,,,,2020-01-01,\n",
        good.to_lowercase(),
        bad_rid("320102", "19800101", "123")
    );
    let f = write(tmp.path(), "customers.csv", &csv);
    let s = ingest(&dd, &CUSTOMERS, &[f]);
    assert_eq!(
        (s.accepted, s.rejected, s.duplicates_skipped),
        (1, 4, 1),
        "{s:?}"
    );
    let lines = by_line(&quarantine(s.quarantine_path.as_ref().unwrap()));
    assert!(
        lines[&3].starts_with("birth_date: '1990-02-30' is not a date: use YYYY-MM-DD"),
        "{}",
        lines[&3]
    );
    assert!(
        lines[&4].starts_with("gender: 'x' is not a valid code: use one of m, f, u"),
        "{}",
        lines[&4]
    );
    assert!(
        lines[&5].starts_with("resident_id:") && lines[&5].contains("GB 11643 check digit"),
        "{}",
        lines[&5]
    );
    assert!(
        lines[&6].starts_with("source_system: required value is missing"),
        "{}",
        lines[&6]
    );
    assert!(
        lines[&7].starts_with("duplicate of line 2"),
        "{}",
        lines[&7]
    );
    let b = read_all(s.fact_path.as_ref().unwrap());
    let col = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string()
    };
    assert_eq!(col("phone"), "13812345678");
    assert_eq!(col("email"), "li.wei@example.com");
    assert_eq!(col("resident_id"), good, "x upper-cased");
    assert_eq!(col("gender"), "m");
}

#[test]
fn header_errors_name_the_file_and_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    let f = write(
        tmp.path(),
        "c.csv",
        "customer_id,open_date\nK1,2020-01-01\n",
    );
    let e = ingest_files(
        &dd,
        &CUSTOMERS,
        std::slice::from_ref(&f),
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IngestError::MissingColumns { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("c.csv")
            && msg.contains("source_system")
            && msg.contains("expected columns: customer_id, source_system, name"),
        "{msg}"
    );

    let f = write(
        tmp.path(),
        "d.csv",
        "customer_id,source_system,open_date,nickname\nK1,core,2020-01-01,x\n",
    );
    let msg = ingest_files(&dd, &CUSTOMERS, &[f], &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("d.csv") && msg.contains("unknown column(s) nickname"),
        "{msg}"
    );

    let f = write(tmp.path(), "e.dat", "x");
    let e = ingest_files(&dd, &CUSTOMERS, &[f], &IngestOptions::default()).unwrap_err();
    assert!(matches!(e, IngestError::UnknownFormat { .. }), "{e}");
    assert_eq!(
        InputFormat::from_path(Path::new("a/b.CSV.gz")),
        Some(InputFormat::Csv)
    );
    assert_eq!(
        InputFormat::from_path(Path::new("x.ndjson")),
        Some(InputFormat::Jsonl)
    );
    assert_eq!(
        InputFormat::from_path(Path::new("x.parquet")),
        Some(InputFormat::Parquet)
    );
}

#[test]
fn jsonl_and_parquet_inputs_are_validated_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    seed_parents(&dd, tmp.path());
    let jsonl = "\
{\"txn_id\":\"J1\",\"account_id\":\"A1\",\"customer_id\":\"C1\",\"ts\":\"2024-03-01 09:30:00\",\"amount_fen\":\"12.30元\",\"currency\":\"CNY\",\"direction\":\"credit\",\"channel\":\"mobile\",\"txn_type\":\"salary\"}

{\"txn_id\":\"J2\",\"account_id\":\"A1\",\"customer_id\":\"C1\",\"ts\":\"2024-03-01 09:30:00\",\"amount_fen\":\"abc\",\"currency\":\"cny\",\"direction\":\"credit\",\"channel\":\"mobile\",\"txn_type\":\"salary\"}
not json
{\"txn_id\":\"J3\",\"account_id\":\"A1\",\"customer_id\":\"C1\",\"ts\":\"2024-03-01 09:30:00\",\"amount_fen\":5,\"currency\":\"cny\",\"direction\":\"credit\",\"channel\":\"mobile\",\"txn_type\":\"salary\",\"colour\":\"red\"}
{\"txn_id\":\"J4\",\"account_id\":\"A1\",\"customer_id\":\"C1\",\"ts\":\"2024-03-01 09:30:00\",\"amount_fen\":5,\"currency\":\"cny\",\"direction\":\"credit\",\"channel\":\"mobile\",\"txn_type\":null}
";
    let f = write(tmp.path(), "txn.jsonl", jsonl);
    let s = ingest(&dd, &TRANSACTIONS, &[f]);
    assert_eq!((s.rows_read, s.accepted, s.rejected), (5, 1, 4), "{s:?}");
    let lines = by_line(&quarantine(s.quarantine_path.as_ref().unwrap()));
    assert!(
        lines[&3].starts_with("amount_fen: 'abc' is not an amount"),
        "{lines:?}"
    );
    assert!(lines[&4].contains("not a JSON object"), "{lines:?}");
    assert!(lines[&5].contains("unknown field 'colour'"), "{lines:?}");
    assert!(
        lines[&6].starts_with("txn_type: required value is missing"),
        "{lines:?}"
    );

    // Parquet input: an amount column as text with a bad value, a timestamp column as text.
    let schema = Arc::new(Schema::new(vec![
        Field::new("txn_id", DataType::Utf8, false),
        Field::new("account_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("ts", DataType::Utf8, false),
        Field::new("amount_fen", DataType::Utf8, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("txn_type", DataType::Utf8, false),
    ]));
    let col = |v: [&str; 2]| -> Arc<dyn Array> { Arc::new(StringArray::from(v.to_vec())) };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            col(["P1", "P2"]),
            col(["A1", "A1"]),
            col(["C1", "C1"]),
            col(["2024-03-01 09:30:00", "2024-03-01 09:30:00"]),
            col(["12.30元", "abc"]),
            col(["cny", "cny"]),
            col(["credit", "credit"]),
            col(["atm", "atm"]),
            col(["fee", "fee"]),
        ],
    )
    .unwrap();
    let p = tmp.path().join("txn.parquet");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let s = ingest(&dd, &TRANSACTIONS, &[p]);
    assert_eq!((s.accepted, s.rejected), (1, 1), "{s:?}");
    let q = quarantine(s.quarantine_path.as_ref().unwrap());
    assert_eq!(q[0]["line"], 2);
    assert_eq!(
        q[0]["reason"],
        "amount_fen: 'abc' is not an amount: use digits with at most 2 decimals, e.g. 1234.56"
    );
    assert!(
        q[0]["raw"]
            .as_str()
            .unwrap()
            .contains("\"amount_fen\":\"abc\"")
    );

    // A stored batch read back as Parquet input (typed columns) is all duplicates.
    let stored = s.fact_path.unwrap();
    let copy = tmp.path().join("copy.parquet");
    std::fs::copy(&stored, &copy).unwrap();
    let s2 = ingest(&dd, &TRANSACTIONS, &[copy]);
    assert_eq!(
        (s2.accepted, s2.rejected, s2.duplicates_skipped),
        (0, 0, 1),
        "{s2:?}"
    );
}

#[test]
fn crash_leftovers_are_ignored_and_rerun_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    // Reference run in a clean directory.
    let clean = DataDir::new(tmp.path().join("clean"));
    seed_parents(&clean, tmp.path());
    let f = write(tmp.path(), "txn.csv", TXN_CSV);
    let reference = ingest(&clean, &TRANSACTIONS, std::slice::from_ref(&f));

    // Crash 1: killed while writing, leaving partial temp files of this batch and another.
    let dd = DataDir::new(tmp.path().join("crashed"));
    seed_parents(&dd, tmp.path());
    let id = &reference.batch_id;
    std::fs::create_dir_all(dd.facts_dir("transactions")).unwrap();
    std::fs::create_dir_all(dd.quarantine_dir("transactions")).unwrap();
    let fact_tmp = dd
        .facts_dir("transactions")
        .join(format!(".batch-{id}.parquet.tmp"));
    std::fs::write(&fact_tmp, b"PAR1 half a file").unwrap();
    std::fs::write(
        dd.quarantine_dir("transactions")
            .join(format!(".batch-{id}.jsonl.tmp")),
        b"{\"line\":",
    )
    .unwrap();
    std::fs::write(
        dd.facts_dir("transactions")
            .join(".batch-0000000000000000.parquet.tmp"),
        b"junk",
    )
    .unwrap();
    assert_eq!(
        table_row_counts(&dd).unwrap()["transactions"],
        0,
        "temp files are not batches"
    );
    let s = ingest(&dd, &TRANSACTIONS, std::slice::from_ref(&f));
    assert_eq!(
        (s.accepted, s.rejected, s.duplicates_skipped),
        (
            reference.accepted,
            reference.rejected,
            reference.duplicates_skipped
        )
    );
    assert!(!fact_tmp.exists());
    assert_eq!(quarantine(s.quarantine_path.as_ref().unwrap()).len(), 7);

    // Crash 2: killed after the Parquet rename, before the run record.
    std::fs::remove_file(zhiying_ingest::run_record_path(&dd, "transactions", id)).unwrap();
    let r = ingest(&dd, &TRANSACTIONS, std::slice::from_ref(&f));
    assert!(!r.already_ingested);
    assert_eq!(
        (r.accepted, r.rejected, r.duplicates_skipped),
        (
            reference.accepted,
            reference.rejected,
            reference.duplicates_skipped
        )
    );
    assert_eq!(table_row_counts(&dd).unwrap()["transactions"], 3);
    assert!(zhiying_ingest::run_record_path(&dd, "transactions", id).exists());
    // And after that, a plain re-ingest is again a no-op.
    assert_eq!(ingest(&dd, &TRANSACTIONS, &[f]).accepted, 0);
}

#[test]
fn quality_report_totals_and_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    seed_parents(&dd, tmp.path());
    let f = write(tmp.path(), "txn.csv", TXN_CSV);
    ingest(&dd, &TRANSACTIONS, &[f]);
    let r = quality_report(&dd).unwrap();
    assert!(dd.quality_report().exists());
    let mut on_disk: zhiying_core::quality::QualityReport =
        serde_json::from_slice(&std::fs::read(dd.quality_report()).unwrap()).unwrap();
    let mut same = r.clone();
    // Staleness is a float whose last digit may not survive the JSON round trip.
    for t in on_disk.tables.iter_mut().chain(same.tables.iter_mut()) {
        t.staleness_hours = t.staleness_hours.map(|h| (h * 1e6).round());
    }
    assert_eq!(on_disk, same);
    let t = r.table("transactions").expect("transactions reported");
    assert_eq!((t.rows, t.quarantined, t.duplicates_skipped), (3, 6, 1));
    assert!((t.validity - 3.0 / 9.0).abs() < 1e-9);
    assert_eq!(t.freshest.as_deref(), Some("2024-03-05T00:00:00Z"));
    assert!(t.staleness_hours.unwrap() > 0.0);
    let c = |n: &str| t.columns.iter().find(|c| c.column == n).unwrap();
    assert_eq!(c("amount_fen").rejected, 1);
    assert_eq!(c("txn_id").completeness, 1.0);
    assert_eq!(c("merchant_category").completeness, 0.0);
    assert!((c("amount_fen").validity - 8.0 / 9.0).abs() < 1e-9);
    let cust = r.table("customers").unwrap();
    assert_eq!(cust.rows, 3);
    assert!(
        (cust
            .columns
            .iter()
            .find(|c| c.column == "resident_id")
            .unwrap()
            .completeness
            - 1.0 / 3.0)
            .abs()
            < 1e-9
    );
    assert!(
        r.table("events").is_none(),
        "tables never ingested are left out"
    );
}

#[test]
fn identity_resolution_links_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = DataDir::new(tmp.path().join("data"));
    let id1 = rid("110105", "19800101", "123");
    let csv = format!(
        "customer_id,source_system,resident_id,phone,open_date\n\
         M9,mobile,{id1},,2021-01-01\n\
         B1,core,{id1},,2020-01-01\n\
         X1,crm,,139 0000 1111,2020-01-01\n\
         X2,wechat,,+8613900001111,2020-01-01\n\
         X3,card,,,2020-01-01\n\
         Z1,crm,,,2020-01-01\n"
    );
    let f = write(tmp.path(), "cust.csv", &csv);
    assert_eq!(ingest(&dd, &CUSTOMERS, &[f]).accepted, 6);
    let ids = "customer_id,id_type,id_value,source_system,observed_at\n\
               X2,card_no,6222 0000 1111 2222,card,2024-01-01 00:00:00\n\
               X3,card_no,6222000011112222,card,2024-01-01 00:00:00\n";
    let f = write(tmp.path(), "ids.csv", ids);
    assert_eq!(ingest(&dd, &IDENTITIES, &[f]).accepted, 2);

    let s = zhiying_ingest::resolve_identities(&dd).unwrap();
    assert_eq!(s.records, 6);
    assert_eq!(s.parties, 3, "{{M9,B1}}, {{X1,X2,X3}}, {{Z1}}");
    assert_eq!(s.merged_records, 5);
    let b = read_all(&dd.derived("customer_links"));
    let col = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    let (cid, pid, how) = (col("customer_id"), col("party_id"), col("matched_on"));
    let m: BTreeMap<&str, (&str, Option<&str>)> = (0..b.num_rows())
        .map(|i| {
            (
                cid.value(i),
                (pid.value(i), how.is_valid(i).then(|| how.value(i))),
            )
        })
        .collect();
    assert_eq!(
        m["M9"],
        ("B1", Some("resident_id")),
        "the core record is the golden id"
    );
    assert_eq!(m["B1"], ("B1", Some("resident_id")));
    assert_eq!(
        m["X1"],
        ("X1", Some("phone")),
        "smallest id when no core record"
    );
    assert_eq!(m["X2"], ("X1", Some("phone,card_no")));
    assert_eq!(
        m["X3"],
        ("X1", Some("card_no")),
        "chain X1-X2 (phone), X2-X3 (card) joins all three"
    );
    assert_eq!(m["Z1"], ("Z1", None));
}
