//! [`Dispatcher`]: one tokio worker per channel claims due messages with a lease, hands them
//! to the channel's adapter and records the outcome.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use tokio::sync::watch;

use crate::adapters::{Adapters, ChannelAdapter};
use crate::message::{Channel, DeliveryError, Message, Receipt};
use crate::outbox::{Outbox, now_micros};

/// Retry, lease and polling policy.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Attempts before a retryable failure becomes a dead letter.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each attempt (with jitter) up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a claim is exclusive. Must exceed the slowest adapter attempt for a whole
    /// batch, or a live delivery is redelivered by another worker (harmless to idempotent
    /// receivers, but wasteful). After a crash, messages wait at most this long.
    pub lease: Duration,
    /// Messages claimed per round trip.
    pub batch_size: u32,
    /// How often an idle worker looks for due messages (it is also woken by
    /// [`Outbox::wake`] in this process).
    pub idle_poll: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            max_attempts: 8,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(120),
            batch_size: 32,
            idle_poll: Duration::from_millis(500),
        }
    }
}

impl DispatcherConfig {
    /// Back-off before attempt `attempts + 1`: exponential, capped, with "equal jitter"
    /// (uniform in the upper half) so retries of a burst do not arrive together.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let full = self
            .base_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = full / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }
}

/// What one [`Dispatcher::run`] did, per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelRun {
    pub channel: String,
    pub adapter: String,
    /// Accepted by the receiver as new.
    pub delivered: u64,
    /// Accepted by the receiver as a repeat of an earlier delivery (dedupe at work).
    pub duplicates: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub owner: String,
    pub channels: Vec<ChannelRun>,
}

impl fmt::Display for DispatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "dispatcher {}", self.owner)?;
        for c in &self.channels {
            writeln!(
                f,
                "  {:<12} {:>8} delivered {:>6} duplicates {:>6} retried {:>6} dead  via {}",
                c.channel, c.delivered, c.duplicates, c.retried, c.dead_lettered, c.adapter
            )?;
        }
        Ok(())
    }
}

/// Runs the outbox: one worker per channel that has an adapter.
pub struct Dispatcher {
    outbox: Outbox,
    adapters: Adapters,
    config: DispatcherConfig,
    owner: String,
}

impl Dispatcher {
    /// A dispatcher for the channels in `adapters`; messages of other channels stay pending.
    pub fn new(
        outbox: Outbox,
        adapters: impl IntoIterator<Item = (Channel, Arc<dyn ChannelAdapter>)>,
    ) -> Dispatcher {
        let nonce: u32 = rand::rng().random();
        Dispatcher {
            outbox,
            adapters: adapters.into_iter().collect::<BTreeMap<_, _>>(),
            config: DispatcherConfig::default(),
            owner: format!("pid{}-{nonce:08x}", std::process::id()),
        }
    }

    pub fn with_config(mut self, config: DispatcherConfig) -> Dispatcher {
        self.config = config;
        self
    }

    /// The lease owner name this dispatcher writes into claimed rows.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Delivers until `shutdown` completes, then lets each worker finish the batch in hand
    /// and returns what was done. Database errors are logged and retried, never fatal: the
    /// outbox is the source of truth and nothing is lost while the database is away.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> DispatchReport {
        let (stop_tx, stop_rx) = watch::channel(false);
        let config = Arc::new(self.config);
        let owner: Arc<str> = self.owner.clone().into();
        let mut workers = Vec::new();
        for (channel, adapter) in self.adapters {
            let worker = Worker {
                outbox: self.outbox.clone(),
                channel,
                adapter,
                config: config.clone(),
                owner: owner.clone(),
                stop: stop_rx.clone(),
            };
            workers.push((channel, tokio::spawn(worker.run())));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        let mut report = DispatchReport {
            owner: self.owner,
            channels: Vec::new(),
        };
        for (channel, handle) in workers {
            match handle.await {
                Ok(run) => report.channels.push(run),
                Err(e) => {
                    tracing::error!(%channel, error = %e, "delivery worker panicked");
                    report.channels.push(ChannelRun {
                        channel: channel.as_str().into(),
                        adapter: format!("worker failed: {e}"),
                        ..ChannelRun::default()
                    });
                }
            }
        }
        report
    }
}

struct Worker {
    outbox: Outbox,
    channel: Channel,
    adapter: Arc<dyn ChannelAdapter>,
    config: Arc<DispatcherConfig>,
    owner: Arc<str>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps up to `d`, waking early on shutdown or (if `wakeable`) on [`Outbox::wake`].
    async fn pause(&mut self, d: Duration, wakeable: bool) {
        let outbox = self.outbox.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = outbox.woken(), if wakeable => {}
            _ = self.stop.changed() => {}
        }
    }

    async fn run(mut self) -> ChannelRun {
        let mut run = ChannelRun {
            channel: self.channel.as_str().into(),
            adapter: self.adapter.describe(),
            ..ChannelRun::default()
        };
        let max_attempts = i64::from(self.config.max_attempts.max(1));
        let lease = i64::try_from(self.config.lease.as_micros()).unwrap_or(i64::MAX / 4);
        let mut db_wait = self.config.idle_poll;
        while !self.stopping() {
            let now = now_micros();
            let claimed = match self
                .outbox
                .claim(
                    self.channel,
                    &self.owner,
                    i64::from(self.config.batch_size.max(1)),
                    now.saturating_add(lease),
                    now,
                )
                .await
            {
                Ok(c) => {
                    db_wait = self.config.idle_poll;
                    c
                }
                Err(e) => {
                    tracing::warn!(channel = %self.channel, error = %e, "cannot claim messages; retrying");
                    self.pause(db_wait, false).await;
                    db_wait = (db_wait * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            if claimed.is_empty() {
                self.pause(self.config.idle_poll, true).await;
                continue;
            }
            if self.stopping() {
                let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
                if let Err(e) = self.outbox.release(&ids, &self.owner).await {
                    tracing::warn!(channel = %self.channel, error = %e, "cannot release claimed messages; their lease will expire");
                }
                break;
            }
            // A row claimed more often than allowed ended its earlier attempts without an
            // outcome (its dispatcher died mid-delivery): stop instead of crashing forever.
            let (exhausted, due): (Vec<_>, Vec<_>) =
                claimed.into_iter().partition(|c| c.attempts > max_attempts);
            for c in exhausted {
                let error = format!(
                    "gave up after {} attempts; the last ended without an outcome (the dispatcher stopped mid-delivery)",
                    c.attempts - 1
                );
                self.dead_letter(c.id, &error, &mut run).await;
            }
            if due.is_empty() {
                continue;
            }
            let msgs: Vec<Message> = due.iter().map(|c| c.message.clone()).collect();
            let mut results = self.adapter.deliver_batch(&msgs).await.into_iter();
            let mut acks: Vec<(i64, Receipt)> = Vec::new();
            for c in &due {
                let result = results.next().unwrap_or_else(|| {
                    Err(DeliveryError::Retryable(
                        "the adapter returned fewer results than messages".into(),
                    ))
                });
                match result {
                    Ok(receipt) => {
                        if receipt.duplicate {
                            run.duplicates += 1;
                        } else {
                            run.delivered += 1;
                        }
                        acks.push((c.id, receipt));
                    }
                    Err(DeliveryError::Retryable(e)) if c.attempts < max_attempts => {
                        let attempts = u32::try_from(c.attempts).unwrap_or(u32::MAX);
                        let delay = self.config.backoff(attempts);
                        let at = now_micros().saturating_add(
                            i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 4),
                        );
                        match self.outbox.reschedule(c.id, &self.owner, at, &e).await {
                            Ok(_) => run.retried += 1,
                            Err(db) => {
                                tracing::warn!(channel = %self.channel, error = %db, "cannot reschedule; the lease will expire and it is retried then")
                            }
                        }
                    }
                    Err(e) => {
                        let error = match &e {
                            DeliveryError::Retryable(m) => {
                                format!("{m} (attempt {} of {max_attempts})", c.attempts)
                            }
                            DeliveryError::Permanent(m) => m.clone(),
                        };
                        self.dead_letter(c.id, &error, &mut run).await;
                    }
                }
            }
            if let Err(e) = self.outbox.ack_sent(&acks).await {
                // Delivered but not recorded: the lease expires and the receiver sees the
                // same keys again, which it drops.
                tracing::warn!(channel = %self.channel, error = %e, count = acks.len(), "cannot record deliveries; they will be redelivered with the same keys");
            }
        }
        run
    }

    async fn dead_letter(&self, id: i64, error: &str, run: &mut ChannelRun) {
        match self.outbox.dead_letter(id, &self.owner, error).await {
            Ok(true) => {
                run.dead_lettered += 1;
                tracing::warn!(channel = %self.channel, outbox_id = id, error, "message dead-lettered");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(channel = %self.channel, error = %e, "cannot dead-letter; the lease will expire and it is tried again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let c = DispatcherConfig {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..DispatcherConfig::default()
        };
        for _ in 0..50 {
            let b1 = c.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = c.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b20 = c.backoff(20);
            assert!(b20 >= Duration::from_millis(500) && b20 <= Duration::from_secs(1));
        }
    }
}
