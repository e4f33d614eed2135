//! In-process throughput of `EventStore::append` (no HTTP): concurrent tasks append batches
//! of fresh events for a fixed time, every append fsynced by group commit.
//!
//! `cargo run --example store_throughput -p zhiying-events -- [SECONDS] [TASKS] [BATCH]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use zhiying_events::{ChannelEvent, Clock, EventConfig, EventStore, Record, SystemClock};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = std::env::args().skip(1).map(|s| s.parse::<u64>());
    let secs = a.next().transpose()?.unwrap_or(10);
    let tasks = a.next().transpose()?.unwrap_or(16);
    let batch = a.next().transpose()?.unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EventStore::open(dir.path(), EventConfig::default())?);
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                let now = SystemClock.now_us();
                let recs = (0..batch)
                    .map(|i| {
                        Record::Event(ChannelEvent {
                            event_id: format!("T{t}-{n}-{i}"),
                            customer_id: format!("C{:08}", (n * 7919 + i * 104_729 + t) % 100_000),
                            ts: now,
                            channel: "mobile_app".into(),
                            event_type: "login".into(),
                            attributes: None,
                        })
                    })
                    .collect();
                s.append(recs).await.expect("append");
                n += 1;
            }
            n * batch
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await?;
    }
    let el = start.elapsed().as_secs_f64();
    let st = store.stats();
    println!(
        "{total} events in {el:.1}s = {:.0} events/s; {} group commits ({:.0} events each), {} customers",
        total as f64 / el,
        st.group_commits,
        total as f64 / st.group_commits.max(1) as f64,
        st.customers
    );
    Ok(())
}
