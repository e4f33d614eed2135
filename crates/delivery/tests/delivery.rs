//! End-to-end delivery against SQLite and PostgreSQL: random receiver failures, lost
//! acknowledgements, a channel that never answers, dead letters and requeue.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use zhiying_delivery::{
    Channel, ChannelAdapter, DeliveryError, Dispatcher, DispatcherConfig, Enqueued, FileAdapter,
    Message, Outbox, OutboxOptions, Receipt, Status, WebhookAdapter,
};

use common::{Mode, Receiver, assert_exactly_once, file_keys, on_both_backends, wait_until};

/// Writes for real, then claims failure 20% of the time: the acknowledgement is lost after
/// the effect, the case that forces idempotent receivers.
struct LosesAcks(FileAdapter);

#[async_trait::async_trait]
impl ChannelAdapter for LosesAcks {
    async fn deliver(&self, msg: &Message) -> Result<Receipt, DeliveryError> {
        let r = self.0.deliver(msg).await?;
        if rand::rng().random_bool(0.2) {
            return Err(DeliveryError::Retryable("ack lost after write".into()));
        }
        Ok(r)
    }
    fn describe(&self) -> String {
        format!("lossy {}", self.0.describe())
    }
}

fn msg(channel: Channel, i: usize) -> Message {
    Message::new(
        format!("cmp-1:C{i:06}:offer-{}:0", i % 7),
        channel,
        format!("C{i:06}"),
        json!({"template": "t-1", "text": format!("尊敬的客户 {i}，您好"), "fields": {"n": i}}),
    )
}

fn fast_config(max_attempts: u32) -> DispatcherConfig {
    DispatcherConfig {
        max_attempts,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        lease: Duration::from_secs(10),
        batch_size: 8,
        idle_poll: Duration::from_millis(20),
    }
}

async fn sent(outbox: &Outbox, channel: Channel) -> i64 {
    outbox
        .metrics()
        .await
        .expect("metrics")
        .channel(channel)
        .map_or(0, |m| m.sent)
}

async fn dead(outbox: &Outbox, channel: Channel) -> i64 {
    outbox
        .metrics()
        .await
        .expect("metrics")
        .channel(channel)
        .map_or(0, |m| m.dead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_takes_effect_exactly_once_despite_failures() {
    on_both_backends(exactly_once).await;
}

async fn exactly_once(outbox: Outbox, backend: &'static str, _options: OutboxOptions) {
    let files = tempfile::tempdir().expect("tempdir");
    let file = FileAdapter::new(files.path());
    let email = Receiver::start(Mode::Flaky).await;
    let wechat = Receiver::start(Mode::Flaky).await;
    let webhook = |r: &Receiver, path: &str| -> Arc<dyn ChannelAdapter> {
        Arc::new(
            WebhookAdapter::new(&r.url(path))
                .expect("url")
                .with_timeout(Duration::from_millis(300)),
        )
    };
    let adapters: Vec<(Channel, Arc<dyn ChannelAdapter>)> = vec![
        (Channel::Sms, Arc::new(LosesAcks(file.clone()))),
        (Channel::Branch, Arc::new(file.clone())),
        (Channel::Email, webhook(&email, "email")),
        (Channel::Wechat, webhook(&wechat, "wechat")),
    ];

    let channels = [
        Channel::Sms,
        Channel::Branch,
        Channel::Email,
        Channel::Wechat,
    ];
    let mut expected: BTreeMap<Channel, HashSet<String>> = BTreeMap::new();
    let all: Vec<Message> = (0..240).map(|i| msg(channels[i % 4], i)).collect();
    for m in &all {
        expected
            .entry(m.channel)
            .or_default()
            .insert(m.idempotency_key.clone());
    }
    // Half in one transaction, half one by one.
    assert_eq!(
        outbox.enqueue_many(&all[..120]).await.expect("enqueue"),
        120
    );
    for m in &all[120..] {
        assert_eq!(outbox.enqueue_one(m).await.expect("enqueue"), Enqueued::New);
    }
    // Re-running the campaign enqueues nothing new.
    assert_eq!(outbox.enqueue_many(&all).await.expect("re-enqueue"), 0);
    assert_eq!(
        outbox.enqueue_one(&all[0]).await.expect("re-enqueue"),
        Enqueued::AlreadyQueued
    );
    // A rolled-back caller transaction leaves no message behind.
    let mut tx = outbox.begin().await.expect("begin");
    let ghost = msg(Channel::Sms, 9_999);
    assert_eq!(
        outbox
            .enqueue(&mut tx, &ghost)
            .await
            .expect("enqueue in tx"),
        Enqueued::New
    );
    tx.rollback().await.expect("rollback");
    assert!(
        outbox
            .entry(&ghost.idempotency_key)
            .await
            .expect("entry")
            .is_none()
    );
    // A scheduled message waits for its time.
    let later =
        msg(Channel::Sms, 5_000).not_before(chrono::Utc::now().timestamp_micros() + 3_600_000_000);
    outbox.enqueue_one(&later).await.expect("enqueue later");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let dispatcher = Dispatcher::new(outbox.clone(), adapters).with_config(fast_config(40));
    let running = tokio::spawn(dispatcher.run(async {
        let _ = stop_rx.await;
    }));
    wait_until(
        &format!("{backend}: all 240 sent"),
        Duration::from_secs(120),
        || async { outbox.metrics().await.expect("metrics").total().sent == 240 },
    )
    .await;
    let _ = stop_tx.send(());
    let report = running.await.expect("dispatcher");
    eprintln!("{report}");

    let metrics = outbox.metrics().await.expect("metrics");
    eprintln!("{metrics}");
    let total = metrics.total();
    assert_eq!(
        (total.sent, total.dead, total.pending),
        (240, 0, 1),
        "{metrics}"
    );
    assert!(
        total.retried > 0,
        "random failures must have caused retries: {metrics}"
    );
    let later_entry = outbox
        .entry(&later.idempotency_key)
        .await
        .expect("entry")
        .expect("exists");
    assert_eq!(
        (later_entry.status, later_entry.attempts),
        (Status::Pending, 0)
    );

    assert_exactly_once(
        "sms file",
        &file_keys(&file.path(Channel::Sms)),
        &expected[&Channel::Sms],
    );
    assert_exactly_once(
        "branch file",
        &file_keys(&file.path(Channel::Branch)),
        &expected[&Channel::Branch],
    );
    assert_exactly_once(
        "email receiver",
        &email.effects(),
        &expected[&Channel::Email],
    );
    assert_exactly_once(
        "wechat receiver",
        &wechat.effects(),
        &expected[&Channel::Wechat],
    );
    // The failures were real: receivers saw repeats of keys that had already taken effect,
    // and the file adapter was asked again for keys it had written.
    assert!(
        email.total_requests() + wechat.total_requests() > 120,
        "no webhook retries happened"
    );
    let dups: u64 = report.channels.iter().map(|c| c.duplicates).sum();
    assert!(
        dups > 0,
        "no redelivery of an already-delivered message happened: {report}"
    );

    let sent_entry = outbox
        .entry(&all[2].idempotency_key)
        .await
        .expect("entry")
        .expect("exists");
    assert_eq!(sent_entry.status, Status::Sent);
    assert!(sent_entry.receipt.is_some() && sent_entry.sent_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_channel_does_not_stall_the_others_and_its_messages_dead_letter() {
    on_both_backends(isolation).await;
}

async fn isolation(outbox: Outbox, backend: &'static str, _options: OutboxOptions) {
    let files = tempfile::tempdir().expect("tempdir");
    let file = FileAdapter::new(files.path());
    let email = Receiver::start(Mode::Healthy).await;
    let wechat = Receiver::start(Mode::Hang).await;
    let push = Receiver::start(Mode::Reject).await;
    let call = Receiver::start(Mode::Fail).await;
    let hook = |r: &Receiver| -> Arc<dyn ChannelAdapter> {
        Arc::new(
            WebhookAdapter::new(&r.url("in"))
                .expect("url")
                .with_timeout(Duration::from_millis(400)),
        )
    };
    let adapters: Vec<(Channel, Arc<dyn ChannelAdapter>)> = vec![
        (Channel::Sms, Arc::new(file.clone())),
        (Channel::Email, hook(&email)),
        (Channel::Wechat, hook(&wechat)),
        (Channel::AppPush, hook(&push)),
        (Channel::CallCentre, hook(&call)),
    ];
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.push(msg(Channel::Sms, i));
    }
    for i in 200..260 {
        batch.push(msg(Channel::Email, i));
    }
    for i in 300..308 {
        batch.push(msg(Channel::Wechat, i));
    }
    for i in 400..403 {
        batch.push(msg(Channel::AppPush, i));
    }
    for i in 500..503 {
        batch.push(msg(Channel::CallCentre, i));
    }
    outbox.enqueue_many(&batch).await.expect("enqueue");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let dispatcher = Dispatcher::new(outbox.clone(), adapters).with_config(fast_config(3));
    let running = tokio::spawn(dispatcher.run(async {
        let _ = stop_rx.await;
    }));

    // 8 hanging messages × 3 attempts × 400 ms ≈ 10 s of wechat work; the healthy channels
    // must finish while wechat is still grinding.
    wait_until(
        &format!("{backend}: healthy channels sent"),
        Duration::from_secs(60),
        || async {
            sent(&outbox, Channel::Sms).await == 200 && sent(&outbox, Channel::Email).await == 60
        },
    )
    .await;
    let wechat_dead_when_others_done = dead(&outbox, Channel::Wechat).await;
    assert!(
        wechat_dead_when_others_done < 8,
        "the healthy channels waited for the hanging one ({wechat_dead_when_others_done} of 8 wechat already dead)"
    );

    wait_until(
        &format!("{backend}: wechat dead-lettered"),
        Duration::from_secs(90),
        || async {
            dead(&outbox, Channel::Wechat).await == 8
                && dead(&outbox, Channel::AppPush).await == 3
                && dead(&outbox, Channel::CallCentre).await == 3
        },
    )
    .await;
    let letters = outbox
        .dead_letters(Some(Channel::Wechat), 100)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 8);
    for d in &letters {
        assert_eq!(d.attempts, 3, "{d:?}");
        assert!(
            d.last_error.contains("timed out") && d.last_error.contains("attempt 3 of 3"),
            "{}",
            d.last_error
        );
        assert_eq!(d.message.channel, Channel::Wechat);
    }
    // A 4xx is permanent: dead after one attempt.
    for d in outbox
        .dead_letters(Some(Channel::AppPush), 100)
        .await
        .expect("dead letters")
    {
        assert_eq!(d.attempts, 1, "{d:?}");
        assert!(d.last_error.contains("400"), "{}", d.last_error);
    }
    // A 5xx is retried up to the limit.
    for d in outbox
        .dead_letters(Some(Channel::CallCentre), 100)
        .await
        .expect("dead letters")
    {
        assert_eq!(d.attempts, 3, "{d:?}");
        assert!(d.last_error.contains("500"), "{}", d.last_error);
    }
    assert_eq!(outbox.dead_letters(None, 100).await.expect("all").len(), 14);
    assert!(wechat.effects().is_empty());

    // The provider recovers; an operator requeues.
    wechat.set_mode(Mode::Healthy);
    assert!(
        !outbox
            .requeue("no-such-key")
            .await
            .expect("requeue missing")
    );
    assert!(
        !outbox
            .requeue(&batch[0].idempotency_key)
            .await
            .expect("requeue a sent one")
    );
    let first = letters[0].message.idempotency_key.clone();
    assert!(outbox.requeue(&first).await.expect("requeue one"));
    assert_eq!(
        outbox
            .requeue_all(Some(Channel::Wechat))
            .await
            .expect("requeue rest"),
        7
    );
    wait_until(
        &format!("{backend}: requeued wechat sent"),
        Duration::from_secs(30),
        || async { sent(&outbox, Channel::Wechat).await == 8 },
    )
    .await;
    let _ = stop_tx.send(());
    let report = running.await.expect("dispatcher");
    eprintln!("{report}");

    let metrics = outbox.metrics().await.expect("metrics");
    eprintln!("{metrics}");
    let w = metrics.channel(Channel::Wechat).expect("wechat row");
    assert_eq!((w.sent, w.dead, w.pending, w.sending), (8, 0, 0, 0));
    assert!(
        w.retried >= 16,
        "two retries per message before dead-lettering: {metrics}"
    );
    assert_eq!(
        outbox
            .dead_letters(Some(Channel::Wechat), 100)
            .await
            .expect("dl")
            .len(),
        0
    );
    assert_eq!(outbox.dead_letters(None, 100).await.expect("dl").len(), 6);
    let expect = |range: std::ops::Range<usize>, c: Channel| -> HashSet<String> {
        range.map(|i| msg(c, i).idempotency_key).collect()
    };
    assert_exactly_once(
        "wechat after requeue",
        &wechat.effects(),
        &expect(300..308, Channel::Wechat),
    );
    assert_exactly_once("email", &email.effects(), &expect(200..260, Channel::Email));
    assert_exactly_once(
        "sms",
        &file_keys(&file.path(Channel::Sms)),
        &expect(0..200, Channel::Sms),
    );
}

#[tokio::test]
async fn reopening_is_idempotent_and_newer_schemas_are_refused() {
    let db = common::TestDb::sqlite().await;
    let again = Outbox::open_with(&db.options).await.expect("reopen");
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM delivery_schema_version")
        .fetch_one(again.pool())
        .await
        .expect("version");
    assert_eq!(version, zhiying_delivery::SCHEMA_VERSION);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM delivery_schema_version")
        .fetch_one(again.pool())
        .await
        .expect("rows");
    assert_eq!(rows, 1);
    sqlx::query("INSERT INTO delivery_schema_version (version) VALUES (99)")
        .execute(again.pool())
        .await
        .expect("bump");
    match Outbox::open_with(&db.options).await {
        Err(zhiying_delivery::OutboxError::NewerSchema { found: 99, .. }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    again.close().await;
    db.cleanup().await;
}
