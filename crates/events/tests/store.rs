//! The store end to end on a real directory: recovery, idempotency, checkpoints, watchers.

use std::sync::Arc;

use zhiying_core::time::MICROS_PER_SEC;
use zhiying_events::log::{list_segments, segment_path};
use zhiying_events::{
    Change, ChannelEvent, EventConfig, EventStore, FnWatcher, ManualClock, Record, Transaction,
};

const DAY: i64 = 86_400 * MICROS_PER_SEC;
// 2024-03-01T04:00:00Z, noon in UTC+8.
const NOON: i64 = 1_709_265_600 * MICROS_PER_SEC;

fn config(clock: &Arc<ManualClock>) -> EventConfig {
    EventConfig {
        clock: clock.clone(),
        ..EventConfig::default()
    }
}

fn event(id: &str, customer: &str, ts: i64) -> Record {
    Record::Event(ChannelEvent {
        event_id: id.into(),
        customer_id: customer.into(),
        ts,
        channel: "mobile_app".into(),
        event_type: "login".into(),
        attributes: None,
    })
}

fn credit(id: &str, customer: &str, ts: i64, fen: i64, ty: &str) -> Record {
    Record::Transaction(Transaction {
        txn_id: id.into(),
        customer_id: customer.into(),
        account_id: None,
        ts,
        amount_fen: fen,
        currency: "cny".into(),
        direction: "credit".into(),
        channel: "batch".into(),
        txn_type: ty.into(),
    })
}

fn events_7d(store: &EventStore, customer: &str) -> u64 {
    store
        .realtime(customer)
        .map(|r| r.windows["7d"].events)
        .unwrap_or(0)
}

#[test]
fn torn_tail_is_cut_and_everything_before_it_survives() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    {
        let store = EventStore::open(dir.path(), config(&clock)).unwrap();
        for i in 0..10 {
            store
                .append_blocking(vec![event(&format!("E{i}"), "C1", NOON - i * 1000)])
                .unwrap();
        }
        // Simulate a crash: no close, no checkpoint.
        std::mem::forget(store);
    }
    let seg = segment_path(&dir.path().join("log"), 1);
    let full = std::fs::metadata(&seg).unwrap().len();
    // Chop the last record in half, as a power cut in the middle of a write would.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(full - 20).unwrap();
    drop(f);

    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    let rec = store.stats().recovery;
    assert_eq!(rec.replayed_records, 9);
    assert!(
        rec.truncated_bytes > 0 && rec.truncated_bytes < 200,
        "{rec:?}"
    );
    assert_eq!(events_7d(&store, "C1"), 9);
    // The file now ends at a frame boundary and appends continue from there.
    store
        .append_blocking(vec![event("E9", "C1", NOON)])
        .unwrap();
    store.close().unwrap();
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    assert_eq!(events_7d(&store, "C1"), 10);
    assert_eq!(store.stats().recovery.truncated_bytes, 0);
}

#[test]
fn garbage_after_the_last_record_is_also_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    {
        let store = EventStore::open(dir.path(), config(&clock)).unwrap();
        store
            .append_blocking(vec![event("E1", "C1", NOON)])
            .unwrap();
        std::mem::forget(store);
    }
    let seg = segment_path(&dir.path().join("log"), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0x55; 37]);
    std::fs::write(&seg, bytes).unwrap();
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    assert_eq!(store.stats().recovery.truncated_bytes, 37);
    assert_eq!(events_7d(&store, "C1"), 1);
}

#[test]
fn a_damaged_closed_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let cfg = EventConfig {
        segment_bytes: 400,
        ..config(&clock)
    };
    {
        let store = EventStore::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..20 {
            store
                .append_blocking(vec![event(&format!("E{i}"), "C1", NOON)])
                .unwrap();
        }
        std::mem::forget(store);
    }
    let log = dir.path().join("log");
    let segs = list_segments(&log).unwrap();
    assert!(segs.len() > 2);
    let first = segment_path(&log, segs[0]);
    let mut b = std::fs::read(&first).unwrap();
    b[30] ^= 0xff;
    std::fs::write(&first, b).unwrap();
    let err = EventStore::open(dir.path(), cfg).err().expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("closed segment") && msg.contains("segment-0000000001"),
        "{msg}"
    );
}

#[test]
fn duplicates_are_acknowledged_not_reapplied_even_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    let out = store
        .append_blocking(vec![
            event("E1", "C1", NOON),
            event("E2", "C1", NOON),
            event("E1", "C1", NOON), // repeated inside one request
            credit("E1", "C1", NOON, 100, "transfer_in"), // same id, other kind: distinct
        ])
        .unwrap();
    assert_eq!(out.accepted, 3);
    assert_eq!(out.duplicates, vec![2]);
    let out = store
        .append_blocking(vec![event("E2", "C1", NOON)])
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, vec![0]));
    assert_eq!(events_7d(&store, "C1"), 2);

    // Restart without a checkpoint (crash), then with one (clean close).
    std::mem::forget(store);
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    let out = store
        .append_blocking(vec![event("E1", "C1", NOON), event("E3", "C1", NOON)])
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (1, vec![0]));
    store.close().unwrap();
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    assert_eq!(
        store.stats().recovery.replayed_records,
        0,
        "checkpoint covers all"
    );
    let out = store
        .append_blocking(vec![event("E1", "C1", NOON), event("E3", "C1", NOON)])
        .unwrap();
    assert_eq!(out.accepted, 0);
    let rt = store.realtime("C1").unwrap();
    assert_eq!(rt.windows["7d"].events, 3);
    assert_eq!(rt.windows["7d"].transactions, 1);
    assert_eq!(rt.lifetime_events, 3);
}

#[test]
fn restart_from_checkpoint_plus_tail_equals_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let cfg = EventConfig {
        checkpoint_every: 50,
        segment_bytes: 4096,
        ..config(&clock)
    };
    let store = EventStore::open(dir.path(), cfg.clone()).unwrap();
    for i in 0..300i64 {
        let c = format!("C{}", i % 7);
        let r = if i % 3 == 0 {
            credit(
                &format!("T{i}"),
                &c,
                NOON - (i % 40) * DAY,
                1000 + i,
                "salary",
            )
        } else {
            event(&format!("E{i}"), &c, NOON - (i % 40) * DAY)
        };
        store.append_blocking(vec![r]).unwrap();
    }
    let live: Vec<_> = (0..7)
        .map(|c| store.realtime(&format!("C{c}")).unwrap())
        .collect();
    assert!(store.stats().last_checkpoint.is_some());
    std::mem::forget(store); // crash after several background checkpoints
    let store = EventStore::open(dir.path(), cfg.clone()).unwrap();
    let rec = store.stats().recovery;
    assert!(
        rec.checkpoint.is_some() && rec.replayed_records < 300,
        "{rec:?}"
    );
    let after: Vec<_> = (0..7)
        .map(|c| store.realtime(&format!("C{c}")).unwrap())
        .collect();
    assert_eq!(live, after);
    // And a full replay (no checkpoint) agrees too.
    store.close().unwrap();
    drop(store);
    std::fs::remove_file(dir.path().join("checkpoint.bin")).unwrap();
    let store = EventStore::open(dir.path(), cfg).unwrap();
    assert_eq!(store.stats().recovery.replayed_records, 300);
    let full: Vec<_> = (0..7)
        .map(|c| store.realtime(&format!("C{c}")).unwrap())
        .collect();
    assert_eq!(live, full);
}

#[test]
fn windows_roll_with_the_clock_not_with_events() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    store
        .append_blocking(vec![
            credit("T1", "C1", NOON, 5_000_000, "transfer_in"),
            event("E1", "C1", NOON - 6 * DAY),
        ])
        .unwrap();
    let rt = store.realtime("C1").unwrap();
    assert_eq!(rt.windows["today"].credit_fen, 5_000_000);
    assert_eq!(rt.windows["7d"].events, 1);
    assert!(rt.tags.iter().any(|t| t == "large_inflow_today"));
    clock.advance(DAY);
    let rt = store.realtime("C1").unwrap();
    assert_eq!(rt.windows["today"].credit_fen, 0);
    assert_eq!(rt.windows["7d"].credit_fen, 5_000_000);
    assert_eq!(rt.windows["7d"].events, 0, "the event is now 7 days old");
    assert_eq!(rt.windows["30d"].events, 1);
    assert!(!rt.tags.iter().any(|t| t == "large_inflow_today"));
    clock.advance(60 * DAY);
    let rt = store.realtime("C1").unwrap();
    assert_eq!(rt.tags, vec!["dormant_60d".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_emit_entered_and_left_durably_and_to_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    store.register_watcher(Arc::new(FnWatcher::new("big-inflow", |v| {
        v.has_tag("large_inflow_today")
    })));
    store.register_watcher(Arc::new(FnWatcher::new("active-2-logins", |v| {
        v.window(7).events >= 2
    })));
    let mut rx = store.subscribe();

    store.append(vec![event("E1", "C1", NOON)]).await.unwrap();
    assert!(rx.try_recv().is_err(), "one login is not enough");
    store.append(vec![event("E2", "C1", NOON)]).await.unwrap();
    let c = rx.recv().await.unwrap();
    assert_eq!(
        (
            c.audience_id.as_str(),
            c.customer_id.as_str(),
            c.change,
            c.cause.as_deref()
        ),
        ("active-2-logins", "C1", Change::Entered, Some("E2"))
    );
    store
        .append(vec![credit("T1", "C1", NOON, 6_000_000, "transfer_in")])
        .await
        .unwrap();
    let c = rx.recv().await.unwrap();
    assert_eq!(
        (c.audience_id.as_str(), c.change),
        ("big-inflow", Change::Entered)
    );
    assert_eq!(
        store.realtime("C1").unwrap().audiences,
        vec!["active-2-logins".to_string(), "big-inflow".to_string()]
    );
    // Nothing new for a third login: already a member.
    store.append(vec![event("E3", "C1", NOON)]).await.unwrap();
    assert!(rx.try_recv().is_err());

    // A day later nothing arrives, but a sweep sees that today's inflow is gone.
    clock.advance(DAY);
    assert_eq!(store.sweep().await.unwrap(), 1);
    let c = rx.recv().await.unwrap();
    assert_eq!(
        (c.audience_id.as_str(), c.change),
        ("big-inflow", Change::Left)
    );
    assert_eq!(store.sweep().await.unwrap(), 0, "nothing flips twice");

    // Membership is in the log: a crash and replay restore it and do not re-announce it.
    std::mem::forget(store);
    let store = EventStore::open(dir.path(), config(&clock)).unwrap();
    assert_eq!(
        store.realtime("C1").unwrap().audiences,
        vec!["active-2-logins".to_string()]
    );
    store.register_watcher(Arc::new(FnWatcher::new("active-2-logins", |v| {
        v.window(7).events >= 2
    })));
    let mut rx = store.subscribe();
    store
        .append(vec![event("E4", "C1", NOON + DAY)])
        .await
        .unwrap();
    assert!(rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_group_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOON));
    let store = Arc::new(EventStore::open(dir.path(), config(&clock)).unwrap());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let recs = (0..4)
                    .map(|k| event(&format!("E{t}-{i}-{k}"), &format!("C{}", k), NOON))
                    .collect();
                s.append(recs).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = store.stats();
    assert_eq!(s.records_appended, 16 * 25 * 4);
    assert!(s.group_commits <= 16 * 25);
    for k in 0..4 {
        assert_eq!(events_7d(&store, &format!("C{k}")), 16 * 25);
    }
}
