//! Audience count latency: loads the index from a data directory (writing the synthetic
//! fixture first if the directory has no tags), then times parse + check + evaluate + count
//! of 5-condition expressions. Run through `scripts/bench/audience.sh`.
//!
//! ```text
//! cargo run --release -p zhiying-audience --example audience_bench -- DIR [CUSTOMERS] [RUNS]
//! ```

use std::time::Instant;

use zhiying_audience::fixture::{FixtureSpec, write_fixture};
use zhiying_core::DataDir;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/zhiying-audience-bench".into());
    let customers: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(300);
    let dd = DataDir::new(&dir);
    if !zhiying_audience::tags_parquet(&dd).exists() {
        let t = Instant::now();
        let rep = write_fixture(
            &dd,
            &FixtureSpec {
                customers,
                ..Default::default()
            },
        )?;
        println!(
            "fixture: {} customers, {} tags, {} holdings, {} events written in {:.1} s",
            rep.customers,
            rep.tags,
            rep.holdings,
            rep.events,
            t.elapsed().as_secs_f64()
        );
    }
    let rss_before = rss_mib();
    let (ix, load) = zhiying_audience::load_index(&dd)?;
    let rss_after = rss_mib();
    let stats = ix.stats();
    println!(
        "index: {} customers, {} tags, {} events; load {} ms (tags {} ms, facts {} ms, build {} ms); RSS {:.0} MiB (before load {:.0} MiB); index ≈ {:.0} MiB",
        stats.customers,
        stats.tags,
        stats.events,
        load.millis_total,
        load.millis_tags,
        load.millis_facts,
        load.millis_build,
        rss_after,
        rss_before,
        stats.approx_bytes as f64 / 1_048_576.0
    );
    let exprs = [
        // The benchmark expression of docs/benchmarks.md: five conditions of five kinds.
        r#"aum_tier in ("affluent", "high", "private") and age between 30 and 55 and did("login", 30d) and not holds category "fund" and churn_risk >= 0.3"#,
        r#"rfm_class = "important_retain" and txn_amount_90d_fen > 1000000 and city_tier in ("tier1", "tier2") and holds_credit_card and did("app_open", 90d, 3)"#,
        r#"(lifecycle_stage = "dormant" or recency_days > 90) and aum_fen >= 50000000 and not did("login", 60d) and risk_appetite in ("c3", "c4", "c5") and salary_credit"#,
    ];
    for e in exprs {
        let mut times = Vec::with_capacity(runs);
        let mut count = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let m = ix.members(e)?;
            count = m.len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "count {count:>8}  runs {runs}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  | {e}",
            pct(&times, 0.5),
            pct(&times, 0.99),
            times[times.len() - 1]
        );
    }
    println!("RSS after queries: {:.0} MiB", rss_mib());
    Ok(())
}
