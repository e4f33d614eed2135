//! Channel adapters: how a message leaves Zhiying. Every adapter must be idempotent by
//! [`Message::idempotency_key`], because the dispatcher delivers at least once.

mod file;
mod webhook;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use file::FileAdapter;
pub use webhook::{WebhookAdapter, WebhookConfigError};

use crate::message::{Channel, DeliveryError, Message, Receipt};

/// Hands messages to one channel's provider.
///
/// Contract: the same idempotency key may arrive more than once (a retry after a timeout,
/// a redelivery after a crash between hand-off and acknowledgement). The adapter, or the
/// system behind it, must then report success without a second effect. Return
/// [`DeliveryError::Retryable`] when trying later may help, [`DeliveryError::Permanent`]
/// when it cannot.
#[async_trait::async_trait]
pub trait ChannelAdapter: Send + Sync {
    async fn deliver(&self, msg: &Message) -> Result<Receipt, DeliveryError>;

    /// Delivers several messages of one channel; one result per message, in order. The
    /// default calls [`ChannelAdapter::deliver`] in turn; adapters that can share an
    /// expensive step (one `fsync` for many lines) override it.
    async fn deliver_batch(&self, msgs: &[Message]) -> Vec<Result<Receipt, DeliveryError>> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(self.deliver(m).await);
        }
        out
    }

    /// A short description for logs and the monitor page (`file:/data/delivery`, a URL…).
    fn describe(&self) -> String;
}

/// Adapters keyed by channel, as [`crate::Dispatcher::new`] takes them.
pub type Adapters = BTreeMap<Channel, Arc<dyn ChannelAdapter>>;

/// Error in a routing spec given to [`adapters_from_spec`].
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "delivery route '{entry}' is not CHANNEL=TARGET: write e.g. sms=file or email=http://mailer:8080/send"
    )]
    Syntax { entry: String },
    #[error(transparent)]
    Channel(#[from] crate::message::UnknownChannel),
    #[error(transparent)]
    Webhook(#[from] WebhookConfigError),
}

/// Builds adapters from a spec such as `sms=http://gw:8080/sms,email=file`: `file` writes
/// to JSON-lines files under `file_dir`, an `http://` URL posts to a webhook. Channels not
/// named use the file adapter, so every channel is always served. One file adapter is shared
/// by all file-routed channels.
pub fn adapters_from_spec(spec: &str, file_dir: &Path) -> Result<Adapters, RouteError> {
    let file: Arc<dyn ChannelAdapter> = Arc::new(FileAdapter::new(file_dir));
    let mut out: Adapters = Channel::ALL.iter().map(|c| (*c, file.clone())).collect();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((channel, target)) = entry.split_once('=') else {
            return Err(RouteError::Syntax {
                entry: entry.to_string(),
            });
        };
        let channel: Channel = channel.parse()?;
        let target = target.trim();
        let adapter: Arc<dyn ChannelAdapter> = if target.eq_ignore_ascii_case("file") {
            file.clone()
        } else {
            Arc::new(WebhookAdapter::new(target)?)
        };
        out.insert(channel, adapter);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let dir = std::env::temp_dir();
        let a =
            adapters_from_spec("sms=http://127.0.0.1:9/sms, email=file", &dir).expect("valid spec");
        assert_eq!(a.len(), Channel::ALL.len());
        assert!(
            a[&Channel::Sms]
                .describe()
                .starts_with("webhook:http://127.0.0.1:9/sms")
        );
        assert!(a[&Channel::Email].describe().starts_with("file:"));
        assert!(matches!(
            adapters_from_spec("sms", &dir),
            Err(RouteError::Syntax { .. })
        ));
        assert!(matches!(
            adapters_from_spec("fax=file", &dir),
            Err(RouteError::Channel(_))
        ));
        assert!(matches!(
            adapters_from_spec("sms=ftp://x", &dir),
            Err(RouteError::Webhook(_))
        ));
    }
}
