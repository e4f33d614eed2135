//! Measures generation throughput:
//! `cargo run -p zhiying-synth --example throughput -- [CUSTOMERS] [MONTHS] [csv|parquet] [OUT] [DIRTY_SHARE]`.

use std::time::Instant;
use zhiying_synth::{GenerateConfig, OutputFormat, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let customers = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let months = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(12);
    let format = match args.get(3).map(String::as_str) {
        Some("parquet") => OutputFormat::Parquet,
        _ => OutputFormat::Csv,
    };
    let out = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "/tmp/zhiying-synth-throughput".into());
    let dirty_share = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(0.0);
    let cfg = GenerateConfig {
        customers,
        months,
        format,
        out: out.into(),
        dirty_share,
        ..GenerateConfig::default()
    };
    let t = Instant::now();
    let s = generate(&cfg, &mut |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    let total: u64 = s.rows.values().sum();
    let txns = s.rows.get("transactions").copied().unwrap_or(0);
    println!("{customers} customers x {months} months ({format:?}) in {secs:.2}s");
    println!("  all rows: {total} ({:.0} rows/s)", total as f64 / secs);
    println!("  transactions: {txns} ({:.0} rows/s)", txns as f64 / secs);
    for (t, n) in &s.rows {
        println!(
            "  {t:<18} {n:>12}  ({:.2} per customer-month)",
            *n as f64 / (customers as f64 * months as f64)
        );
    }
    Ok(())
}
