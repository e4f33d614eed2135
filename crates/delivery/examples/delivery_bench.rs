//! Throughput of the outbox on SQLite with the file adapter: enqueue N messages, then
//! dispatch them all, and report messages per second for each phase and end to end.
//!
//! `cargo run -p zhiying-delivery --example delivery_bench -- [N] [BATCH] [CHANNELS]`
//! (defaults 20000, 32, 6). Writes to a temporary directory that is removed afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zhiying_delivery::{
    Channel, ChannelAdapter, Dispatcher, DispatcherConfig, FileAdapter, Message, Outbox,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("argument {} '{s}' must be a whole number", i + 1))
        })
    };
    let n = arg(0, 20_000)?;
    let batch = arg(1, 32)?;
    let channels = arg(2, 6)?.clamp(1, Channel::ALL.len());
    let dir = tempfile_dir()?;
    let db = dir.join("outbox.db");
    let outbox = Outbox::open(&db.display().to_string()).await?;

    let msgs: Vec<Message> = (0..n)
        .map(|i| {
            Message::new(
                format!("bench:C{i:08}:offer-{}:0", i % 11),
                Channel::ALL[i % channels],
                format!("C{i:08}"),
                serde_json::json!({"template": "fund-intro-v2", "text": format!("尊敬的客户，您的定期存款即将到期 {i}"), "fields": {"n": i}}),
            )
        })
        .collect();
    let t0 = Instant::now();
    for chunk in msgs.chunks(1_000) {
        outbox.enqueue_many(chunk).await?;
    }
    let enqueue = t0.elapsed();

    let files: Arc<dyn ChannelAdapter> = Arc::new(FileAdapter::new(dir.join("delivery")));
    let adapters = Channel::ALL.map(|c| (c, files.clone()));
    let config = DispatcherConfig {
        batch_size: u32::try_from(batch)?,
        idle_poll: Duration::from_millis(5),
        ..DispatcherConfig::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let t1 = Instant::now();
    let running = tokio::spawn(
        Dispatcher::new(outbox.clone(), adapters)
            .with_config(config)
            .run(async {
                let _ = stop_rx.await;
            }),
    );
    loop {
        let m = outbox.metrics().await?.total();
        if m.sent as usize >= n {
            break;
        }
        if m.dead > 0 {
            return Err(format!("{} messages dead-lettered", m.dead).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliver = t1.elapsed();
    let _ = stop_tx.send(());
    let report = running.await?;
    let written: usize = Channel::ALL
        .iter()
        .map(|c| {
            std::fs::read_to_string(dir.join("delivery").join(format!("{c}.jsonl")))
                .map(|s| s.lines().count())
                .unwrap_or(0)
        })
        .sum();
    outbox.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if written != n {
        return Err(format!("{written} lines written for {n} messages").into());
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("messages           {n} over {channels} channels, claim batch {batch}");
    println!(
        "enqueue            {:>8.0} msg/s ({:.2} s, 1000 per transaction)",
        rate(enqueue),
        enqueue.as_secs_f64()
    );
    println!(
        "dispatch (file)    {:>8.0} msg/s ({:.2} s, fsync per batch)",
        rate(deliver),
        deliver.as_secs_f64()
    );
    println!("end to end         {:>8.0} msg/s", rate(enqueue + deliver));
    print!("{report}");
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf, std::io::Error> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "zhiying-delivery-bench-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
