//! Times bulk assignment writes and paged read-back: `N` customers into one experiment,
//! then the same `N` again (a replay, which must insert nothing), then a full paged read.
//!
//! `cargo run --release -p zhiying-store --example bench_assignments -- [N] [postgres-url]`
//! (no URL: SQLite in a temporary directory). Prints one JSON line per phase.

use std::time::Instant;

use zhiying_core::DataDir;
use zhiying_store::{
    Assignment, ExperimentArm, NewExperiment, OperationalStore, SqlStore, StoreOptions,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let url = args.next();
    let dir = tempfile::tempdir()?;
    let schema = format!("bench_{}", std::process::id());
    let options = StoreOptions {
        database_url: url.clone(),
        pg_schema: url.as_ref().map(|_| schema.clone()),
        ..StoreOptions::default()
    };
    let store = SqlStore::open_with(&options, &DataDir::new(dir.path())).await?;
    let backend = store.backend_name();
    store
        .create_experiment(&NewExperiment {
            experiment_id: "bench".into(),
            name: "bench".into(),
            salt: "s".into(),
            layer: "l".into(),
            bucket_start: 0,
            bucket_end: 10_000,
            arms: ["control", "a", "b"]
                .iter()
                .map(|a| ExperimentArm {
                    name: (*a).into(),
                    weight: 1.0,
                })
                .collect(),
            control_arm: "control".into(),
        })
        .await?;
    let arms = ["control", "a", "b"];
    let rows: Vec<Assignment> = (0..n)
        .map(|i| Assignment {
            experiment_id: "bench".into(),
            customer_id: format!("C{i:09}"),
            arm: arms[i % 3].into(),
            assigned_at: i as i64,
        })
        .collect();
    for phase in ["insert", "replay"] {
        let t = Instant::now();
        let inserted = store.record_assignments(&rows).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{{\"backend\":\"{backend}\",\"phase\":\"{phase}\",\"rows\":{n},\"inserted\":{inserted},\"seconds\":{secs:.2},\"rows_per_s\":{:.0}}}",
            n as f64 / secs
        );
    }
    let t = Instant::now();
    let (mut read, mut after) = (0usize, None::<String>);
    loop {
        let page = store.assignments("bench", after.as_deref(), 50_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.customer_id.clone());
        read += page.len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"backend\":\"{backend}\",\"phase\":\"read\",\"rows\":{read},\"seconds\":{secs:.2},\"rows_per_s\":{:.0}}}",
        read as f64 / secs
    );
    if url.is_some() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .execute(store.pool())
        .await?;
    }
    store.close().await;
    Ok(())
}
