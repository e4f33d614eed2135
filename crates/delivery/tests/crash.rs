//! Kill -9 a dispatcher mid-delivery, restart it, and check that nothing is lost and nothing
//! takes effect twice — for the file adapter and for a webhook receiver — on SQLite and
//! PostgreSQL.
//!
//! The dispatcher runs in a child process: this test binary re-executed with
//! `--exact crash_child` and a job description in `ZHIYING_DELIVERY_CRASH_CHILD`. Its
//! adapters pause after each hand-off and before the acknowledgement, so most kills land in
//! the window between "the receiver has it" and "the outbox knows" — the window that makes
//! idempotent receivers necessary. The test asserts that at least one kill did land there.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zhiying_delivery::{
    Channel, ChannelAdapter, DeliveryError, Dispatcher, DispatcherConfig, FileAdapter, Message,
    Outbox, OutboxOptions, Receipt, WebhookAdapter,
};

use common::{Mode, Receiver, assert_exactly_once, file_keys, on_both_backends, wait_until};

const CHILD_ENV: &str = "ZHIYING_DELIVERY_CRASH_CHILD";
const PER_CHANNEL: usize = 300;

/// Delivers, then waits before the dispatcher may acknowledge.
struct SlowAck(Arc<dyn ChannelAdapter>);

#[async_trait::async_trait]
impl ChannelAdapter for SlowAck {
    async fn deliver(&self, msg: &Message) -> Result<Receipt, DeliveryError> {
        let r = self.0.deliver(msg).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        r
    }
    async fn deliver_batch(&self, msgs: &[Message]) -> Vec<Result<Receipt, DeliveryError>> {
        let r = self.0.deliver_batch(msgs).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        r
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// The child half. Does nothing in a normal test run; see the module docs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let job: serde_json::Value = serde_json::from_str(&job).expect("job json");
    let options = OutboxOptions {
        pg_schema: job["pg_schema"].as_str().map(str::to_string),
        ..OutboxOptions::new(job["url"].as_str().expect("url"))
    };
    let outbox = Outbox::open_with(&options)
        .await
        .expect("child opens outbox");
    let file: Arc<dyn ChannelAdapter> = Arc::new(FileAdapter::new(
        job["file_dir"].as_str().expect("file_dir"),
    ));
    let hook: Arc<dyn ChannelAdapter> = Arc::new(
        WebhookAdapter::new(job["webhook"].as_str().expect("webhook"))
            .expect("webhook url")
            .with_timeout(Duration::from_secs(2)),
    );
    let adapters: Vec<(Channel, Arc<dyn ChannelAdapter>)> = vec![
        (Channel::Sms, Arc::new(SlowAck(file))),
        (Channel::Email, Arc::new(SlowAck(hook))),
    ];
    let config = DispatcherConfig {
        max_attempts: 50,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        lease: Duration::from_secs(1),
        batch_size: 4,
        idle_poll: Duration::from_millis(20),
    };
    Dispatcher::new(outbox, adapters)
        .with_config(config)
        .run(std::future::pending())
        .await;
}

fn spawn_child(job: &serde_json::Value) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, job.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child dispatcher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_dispatcher_loses_nothing_and_duplicates_nothing() {
    on_both_backends(crash_and_restart).await;
}

async fn crash_and_restart(outbox: Outbox, backend: &'static str, options: OutboxOptions) {
    let files = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(Mode::Healthy).await;
    let sms_path = FileAdapter::new(files.path()).path(Channel::Sms);
    let mut msgs = Vec::new();
    for i in 0..PER_CHANNEL {
        for channel in [Channel::Sms, Channel::Email] {
            msgs.push(Message::new(
                format!("cmp-9:C{i:06}:{channel}:0"),
                channel,
                format!("C{i:06}"),
                json!({"text": format!("到期提醒 {i}")}),
            ));
        }
    }
    outbox.enqueue_many(&msgs).await.expect("enqueue");
    let expected = |c: Channel| -> HashSet<String> {
        msgs.iter()
            .filter(|m| m.channel == c)
            .map(|m| m.idempotency_key.clone())
            .collect()
    };
    let job = json!({
        "url": options.url,
        "pg_schema": options.pg_schema,
        "file_dir": files.path().display().to_string(),
        "webhook": receiver.url("email"),
    });
    let progress = || file_keys(&sms_path).len() + receiver.effects().len();

    let mut in_window = 0usize;
    for round in 0..3 {
        let start = progress();
        let mut child = spawn_child(&job);
        wait_until(
            &format!("{backend}: round {round} progress"),
            Duration::from_secs(90),
            || {
                let done = progress() >= start + 60;
                async move { done }
            },
        )
        .await;
        child.kill().expect("kill -9 the dispatcher");
        child.wait().expect("reap the dispatcher");
        // Rows still leased by the dead process whose message already reached a receiver:
        // delivered, never acknowledged.
        let sending: Vec<String> = sqlx::query_scalar(
            "SELECT idempotency_key FROM delivery_outbox WHERE status = 'sending'",
        )
        .fetch_all(outbox.pool())
        .await
        .expect("sending rows");
        let reached: HashSet<String> = file_keys(&sms_path)
            .into_iter()
            .chain(receiver.effects())
            .collect();
        let hits = sending.iter().filter(|k| reached.contains(*k)).count();
        eprintln!(
            "{backend} round {round}: killed after {} deliveries; {} leased, {hits} of them already delivered",
            progress(),
            sending.len()
        );
        in_window += hits;
    }
    assert!(
        in_window > 0,
        "no kill landed between delivery and acknowledgement, so redelivery was not exercised"
    );

    let mut child = spawn_child(&job);
    let total = (2 * PER_CHANNEL) as i64;
    let ob = outbox.clone();
    let label = format!("{backend}: all sent after restarts");
    // In a task so a timeout panic still lets us kill the child below.
    let outcome = tokio::spawn(async move {
        wait_until(&label, Duration::from_secs(120), || {
            let ob = ob.clone();
            async move { ob.metrics().await.expect("metrics").total().sent == total }
        })
        .await
    });
    let r = outcome.await;
    child.kill().expect("stop the dispatcher");
    child.wait().expect("reap");
    if let Err(e) = r {
        std::panic::resume_unwind(e.into_panic());
    }

    let metrics = outbox.metrics().await.expect("metrics");
    eprintln!("{metrics}");
    assert_eq!(metrics.total().dead, 0, "{metrics}");
    assert!(
        metrics.total().retried > 0,
        "reclaimed leases count as retries: {metrics}"
    );
    assert_exactly_once(
        "sms file after crashes",
        &file_keys(&sms_path),
        &expected(Channel::Sms),
    );
    assert_exactly_once(
        "email receiver after crashes",
        &receiver.effects(),
        &expected(Channel::Email),
    );
}
