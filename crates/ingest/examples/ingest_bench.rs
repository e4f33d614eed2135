//! Times `ingest_files` on the CSVs written by `make_txn_csv`.
//!
//! Usage: `ingest_bench DATA_DIR CSV_DIR` — ingests customers and accounts (the parents
//! the transactions reference), then transactions, and prints rows/s for the latter.

use std::path::PathBuf;
use zhiying_core::DataDir;
use zhiying_core::schema::{ACCOUNTS, CUSTOMERS, TRANSACTIONS};
use zhiying_ingest::{IngestOptions, ingest_files};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ingest_bench DATA_DIR CSV_DIR";
    let dd = DataDir::new(args.get(1).ok_or(usage)?);
    let csv = PathBuf::from(args.get(2).ok_or(usage)?);
    let opts = IngestOptions::default();
    for t in [&CUSTOMERS, &ACCOUNTS] {
        let s = ingest_files(&dd, t, &[csv.join(format!("{}.csv", t.name))], &opts)?;
        eprintln!("{}: {} accepted in {:.2}s", t.name, s.accepted, s.seconds);
    }
    let s = ingest_files(&dd, &TRANSACTIONS, &[csv.join("transactions.csv")], &opts)?;
    let rate = s.rows_read as f64 / s.seconds;
    println!(
        "transactions: {} rows read, {} accepted, {} rejected, {} duplicates in {:.2}s = {:.0} rows/s",
        s.rows_read, s.accepted, s.rejected, s.duplicates_skipped, s.seconds, rate
    );
    println!("{}", serde_json::to_string(&s)?);
    Ok(())
}
