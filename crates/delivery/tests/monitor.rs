//! What the delivery monitor reads, on SQLite and PostgreSQL: `enqueue_with_id` (the row id
//! of a new or an already queued key), `recent_failures` with the last error, and
//! `throughput` (messages sent per channel per time bucket).

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zhiying_delivery::{
    Channel, ChannelAdapter, DeliveryError, Dispatcher, DispatcherConfig, Enqueued, FileAdapter,
    Message, Outbox, OutboxOptions, Receipt, Status,
};

use common::{on_both_backends, wait_until};

/// A provider that is down: every attempt fails with a retryable error.
struct Down;

#[async_trait::async_trait]
impl ChannelAdapter for Down {
    async fn deliver(&self, _msg: &Message) -> Result<Receipt, DeliveryError> {
        Err(DeliveryError::Retryable("gateway answered 503".into()))
    }
    fn describe(&self) -> String {
        "down".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_monitor_sees_ids_failures_and_throughput() {
    on_both_backends(monitor).await;
}

async fn monitor(outbox: Outbox, _backend: &'static str, _options: OutboxOptions) {
    let m = |key: &str, channel: Channel| {
        Message::new(key, channel, "C000001", json!({"text": "您好"}))
    };
    let mut tx = outbox.begin().await.expect("begin");
    let (first, id) = outbox
        .enqueue_with_id(&mut tx, &m("k-email-1", Channel::Email))
        .await
        .expect("enqueue");
    let (again, same) = outbox
        .enqueue_with_id(&mut tx, &m("k-email-1", Channel::Email))
        .await
        .expect("enqueue again");
    tx.commit().await.expect("commit");
    assert_eq!((first, again), (Enqueued::New, Enqueued::AlreadyQueued));
    assert_eq!(id, same);
    assert_eq!(
        outbox
            .entry("k-email-1")
            .await
            .expect("entry")
            .map(|e| e.id),
        Some(id)
    );
    outbox
        .enqueue_many(&[
            m("k-email-2", Channel::Email),
            m("k-sms-1", Channel::Sms),
            m("k-sms-2", Channel::Sms),
        ])
        .await
        .expect("enqueue many");
    let before = chrono::Utc::now().timestamp_micros();

    let files = tempfile::tempdir().expect("tempdir");
    let file: Arc<dyn ChannelAdapter> = Arc::new(FileAdapter::new(files.path()));
    let down: Arc<dyn ChannelAdapter> = Arc::new(Down);
    let config = DispatcherConfig {
        max_attempts: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        lease: Duration::from_secs(10),
        batch_size: 8,
        idle_poll: Duration::from_millis(20),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(
        Dispatcher::new(
            outbox.clone(),
            [(Channel::Email, file.clone()), (Channel::Sms, down)],
        )
        .with_config(config)
        .run(async move {
            let _ = stopped.await;
        }),
    );
    let o = outbox.clone();
    wait_until("email sent and sms dead", Duration::from_secs(20), || {
        let o = o.clone();
        async move {
            let m = o.metrics().await.expect("metrics");
            let email = m.channel(Channel::Email).map(|c| c.sent).unwrap_or(0);
            let sms = m.channel(Channel::Sms).map(|c| c.dead).unwrap_or(0);
            email == 2 && sms == 2
        }
    })
    .await;
    let _ = stop.send(());
    run.await.expect("dispatcher");

    let failures = outbox.recent_failures(10).await.expect("failures");
    assert_eq!(
        failures
            .iter()
            .map(|f| f.message.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["k-sms-2", "k-sms-1"],
        "newest first, sent messages not listed"
    );
    for f in &failures {
        assert_eq!(f.status, Status::Dead);
        assert!(
            f.last_error
                .as_deref()
                .unwrap_or("")
                .contains("gateway answered 503"),
            "{f:?}"
        );
    }
    assert_eq!(outbox.recent_failures(1).await.expect("one").len(), 1);

    let minute = 60_000_000;
    let t = outbox
        .throughput(before - 10 * minute, minute)
        .await
        .expect("throughput");
    let email: i64 = t
        .iter()
        .filter(|(_, c, _)| c == "email")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(email, 2, "{t:?}");
    assert!(
        t.iter().all(|(_, c, _)| c != "sms"),
        "dead letters are not sent: {t:?}"
    );
    for (start, _, _) in &t {
        assert_eq!(start % minute, 0, "bucket starts are whole minutes");
    }
    assert!(
        outbox
            .throughput(chrono::Utc::now().timestamp_micros() + minute, minute)
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(outbox.throughput(0, 0).await.is_err());
}
