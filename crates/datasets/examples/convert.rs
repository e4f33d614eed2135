//! Converts every shipped dataset into `<OUT>/<dataset>/<table>.csv` and prints the counts.
//!
//! `cargo run -p zhiying-datasets --example convert -- /tmp/zhiying-real`

use std::path::PathBuf;
use zhiying_datasets::{Dataset, convert, locate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: convert OUT_DIR")?;
    for ds in Dataset::all() {
        let input = locate(ds)
            .ok_or_else(|| format!("{} not found: set ZHIYING_DATASETS_DIR", ds.file_name()))?;
        println!("{ds}: {}", input.display());
        for t in convert(ds, &input, &out.join(ds.name()))? {
            println!("  {:<12} {:>7} rows  {}", t.table, t.rows, t.path.display());
        }
        if let Some(f) = ds.features_file_name() {
            println!("  features     {}", out.join(ds.name()).join(f).display());
        }
    }
    Ok(())
}
