//! SQL over encrypted facts gives exactly what it gives over plaintext ones, and a missing
//! key fails the query with the file, the key id and the fix.

use std::io::Cursor;
use std::path::Path;

use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::{Value, json};
use zhiying_core::DataDir;
use zhiying_core::schema::{ACCOUNTS, CUSTOMERS, TableDef};
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_keyring::{Keyring, install};

fn write_fact(dd: &DataDir, table: &TableDef, batch: &str, rows: &[Value]) {
    let schema = table.arrow_schema();
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let b = ReaderBuilder::new(schema.clone())
        .build(Cursor::new(ndjson.into_bytes()))
        .expect("json reader")
        .next()
        .expect("a batch")
        .expect("valid rows");
    let path = dd.fact_batch(table.name, batch);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let props = zhiying_keyring::writer_properties(table, &schema, WriterProperties::builder())
        .expect("props");
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).expect("create"),
        schema,
        Some(props),
    )
    .expect("writer");
    w.write(&b).expect("write");
    w.close().expect("close");
}

fn bank(root: &Path) -> DataDir {
    let dd = DataDir::new(root);
    let customers: Vec<Value> = (0..40)
        .map(|i| {
            let city = ["上海", "北京", "深圳"][i % 3];
            json!({
                "customer_id": format!("C{i:03}"),
                "source_system": "core",
                "name": format!("客户{i}"),
                "phone": format!("138{i:08}"),
                "city": city,
                "monthly_income_fen": 500_000 + i * 1_000,
                "open_date": "2020-01-01",
            })
        })
        .collect();
    // Two batches, so scans cross files.
    write_fact(&dd, &CUSTOMERS, "a", &customers[..25]);
    write_fact(&dd, &CUSTOMERS, "b", &customers[25..]);
    let accounts: Vec<Value> = (0..80)
        .map(|i| {
            json!({
                "account_id": format!("A{i:03}"),
                "customer_id": format!("C{:03}", i % 40),
                "account_type": "current",
                "currency": "cny",
                "open_date": "2020-02-01",
                "status": "active",
                "balance_fen": (i as i64 - 10) * 12_345,
            })
        })
        .collect();
    write_fact(&dd, &ACCOUNTS, "a", &accounts);
    dd
}

const QUERIES: &[&str] = &[
    "SELECT c.city, COUNT(*) AS n, SUM(a.balance_fen) AS aum, MAX(c.monthly_income_fen) AS top \
     FROM customers c JOIN accounts a ON a.customer_id = c.customer_id GROUP BY c.city ORDER BY c.city",
    "SELECT customer_id, name, phone FROM customers WHERE phone LIKE '1380000001%' ORDER BY customer_id",
    "SELECT COUNT(*) AS n FROM accounts WHERE balance_fen < 0",
];

async fn answers(dd: &DataDir) -> Vec<Vec<zhiying_engine::Row>> {
    let engine = DataFusionEngine::open(dd).await.expect("engine");
    let mut out = Vec::new();
    for q in QUERIES {
        out.push(engine.query_json(q).await.expect(q));
    }
    out
}

fn raw_contains(dd: &DataDir, table: &str, needle: &str) -> bool {
    std::fs::read_dir(dd.facts_dir(table))
        .expect("dir")
        .flatten()
        .any(|e| {
            let b = std::fs::read(e.path()).expect("read");
            b.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
}

// One test: the keyring is process-wide, and each step installs a different one.
#[tokio::test]
async fn queries_match_plaintext_and_a_missing_key_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    install(Keyring::empty());
    let plain = bank(&tmp.path().join("plain"));
    install(Keyring::generate("k1").expect("key"));
    let enc = bank(&tmp.path().join("enc"));

    assert!(raw_contains(&plain, "customers", "13800000001"));
    assert!(!raw_contains(&enc, "customers", "13800000001"));
    assert!(!raw_contains(&enc, "customers", "客户1"));

    let expected = answers(&plain).await;
    assert_eq!(expected[1].len(), 10, "{:?}", expected[1]);
    assert_eq!(answers(&enc).await, expected);

    install(Keyring::empty());
    let err = match DataFusionEngine::open(&enc).await {
        Err(e) => e.to_string(),
        Ok(engine) => engine
            .query_json("SELECT COUNT(*) FROM customers WHERE city = '上海'")
            .await
            .unwrap_err()
            .to_string(),
    };
    assert!(err.contains("'k1'"), "{err}");
    assert!(err.contains("facts/customers/batch-"), "{err}");
    assert!(err.contains("ZHIYING_KEY_FILE"), "{err}");
}
