//! Load test of `decide`: latency percentiles and throughput with several threads, with
//! and without serialising the decision to JSON (what `POST /v1/decisions` adds).
//!
//! `cargo run -p zhiying-decision --example decision_load -- [customers] [offers] [threads] [decisions]`
//! (the dev profile optimises this crate fully; see `scripts/bench/decision.sh`)

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use zhiying_decision::bench_support::{bench_engine, bench_time};
use zhiying_decision::fixture::customer_id;
use zhiying_decision::{Channel, DecisionRequest};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let customers = arg(1, 100_000);
    let offers = arg(2, 50);
    let threads = arg(3, 2);
    let decisions = arg(4, 200_000);
    let t = Instant::now();
    let engine = Arc::new(bench_engine(customers, offers));
    println!(
        "setup: {customers} customers, {} offers, bound in {:.2}s",
        engine.bind_report().offers,
        t.elapsed().as_secs_f64()
    );
    let channels = [
        Channel::AppPush,
        Channel::Wechat,
        Channel::Sms,
        Channel::CallCentre,
    ];
    for json in [false, true] {
        let per = decisions / threads;
        let start = Instant::now();
        let results: Vec<(Vec<u64>, usize, usize)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|k| {
                    let e = engine.clone();
                    s.spawn(move || {
                        let mut lat = Vec::with_capacity(per);
                        let (mut with_offer, mut bytes) = (0, 0);
                        for j in 0..per {
                            let i = j * threads + k + if json { decisions } else { 0 };
                            let mut req = DecisionRequest::new(
                                &customer_id(i % customers),
                                channels[i % channels.len()],
                                bench_time() + Duration::minutes((i / 10) as i64 % 600),
                            );
                            req.max_offers = Some(2);
                            let t = Instant::now();
                            let d = e.decide(&req);
                            if json {
                                bytes += serde_json::to_vec(&d).map_or(0, |v| v.len());
                            }
                            lat.push(t.elapsed().as_nanos() as u64);
                            with_offer += usize::from(!d.offers.is_empty());
                        }
                        (lat, with_offer, bytes)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("worker")).collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let mut lat: Vec<u64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
        let with_offer: usize = results.iter().map(|r| r.1).sum();
        let bytes: usize = results.iter().map(|r| r.2).sum();
        lat.sort_unstable();
        println!(
            "{} | {threads} threads | {} decisions in {wall:.2}s = {:.0}/s | latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} | {:.0}% with an offer{}",
            if json { "decide+json" } else { "decide     " },
            lat.len(),
            lat.len() as f64 / wall,
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            pct(&lat, 0.999),
            pct(&lat, 1.0),
            100.0 * with_offer as f64 / lat.len() as f64,
            if json {
                format!(
                    " | {:.1} KB JSON per decision",
                    bytes as f64 / lat.len() as f64 / 1024.0
                )
            } else {
                String::new()
            }
        );
    }
}
