//! Delivery: channel adapters behind a transactional outbox with idempotency keys, retries
//! with back-off and a dead-letter queue.
//!
//! * [`Outbox`] keeps messages in the `delivery_outbox` table of the operational database
//!   (SQLite or PostgreSQL). [`Outbox::enqueue`] writes in the caller's transaction, so a
//!   contact-history row and its message commit or roll back together.
//! * [`Dispatcher`] runs one worker per channel: claim due rows with a lease, hand them to
//!   the channel's [`ChannelAdapter`], mark them sent, retry with exponential back-off and
//!   jitter, or dead-letter them. A failing channel only delays itself.
//! * Adapters: [`FileAdapter`] (JSON lines per channel, deduped by key across crashes) and
//!   [`WebhookAdapter`] (HTTP `POST` with an `Idempotency-Key` header).
//!
//! Transport is at-least-once; every attempt carries the message's idempotency key and the
//! receivers drop repeats, so each message takes effect once. See `docs/delivery.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use zhiying_delivery::{Channel, ChannelAdapter, Dispatcher, FileAdapter, Message, Outbox};
//!
//! let outbox = Outbox::open("data/zhiying.db").await?;
//! let mut tx = outbox.begin().await?;
//! // ... insert the contact-history row with `&mut *tx` here ...
//! let msg = Message::new("cmp-7:C000123:offer-3:0", Channel::Sms, "C000123",
//!     serde_json::json!({"template": "fund-intro", "text": "尊敬的客户……"}));
//! outbox.enqueue(&mut tx, &msg).await?;
//! tx.commit().await?;
//!
//! let files: Arc<dyn ChannelAdapter> = Arc::new(FileAdapter::new("data/delivery"));
//! let adapters = Channel::ALL.map(|c| (c, files.clone()));
//! let report = Dispatcher::new(outbox.clone(), adapters)
//!     .run(async { let _ = tokio::signal::ctrl_c().await; })
//!     .await;
//! println!("{report}\n{}", outbox.metrics().await?);
//! # Ok(()) }
//! ```

mod adapters;
mod dispatcher;
mod error;
mod message;
mod outbox;

pub use adapters::{
    Adapters, ChannelAdapter, FileAdapter, RouteError, WebhookAdapter, WebhookConfigError,
    adapters_from_spec,
};
pub use dispatcher::{ChannelRun, DispatchReport, Dispatcher, DispatcherConfig};
pub use error::OutboxError;
pub use message::{Channel, DeliveryError, Message, Receipt, UnknownChannel};
pub use outbox::{
    Backend, ChannelMetrics, DeadLetter, DeliveryMetrics, Enqueued, Outbox, OutboxEntry,
    OutboxOptions, SCHEMA_VERSION, Status,
};

/// The sqlx transaction type [`Outbox::enqueue`] takes, for either backend.
pub type OutboxTransaction<'c> = sqlx::Transaction<'c, sqlx::Any>;
