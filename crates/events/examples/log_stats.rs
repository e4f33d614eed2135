//! Opens an event-log directory (running recovery: checkpoint, replay, torn-tail cut) and
//! prints what it found as JSON. Handy after a crash: `cargo run --example log_stats -p zhiying-events -- DATA_DIR/events`

use zhiying_events::{EventConfig, EventStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: log_stats DIR (e.g. zhiying-data/events)")?;
    let store = EventStore::open(&dir, EventConfig::default())?;
    let stats = store.stats();
    println!("{}", serde_json::to_string_pretty(&stats)?);
    // Leave without a new checkpoint, so running this twice shows the same recovery.
    std::mem::forget(store);
    Ok(())
}
