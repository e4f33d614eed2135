//! What is delivered ([`Message`]), where ([`Channel`]) and what comes back ([`Receipt`],
//! [`DeliveryError`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A delivery channel. Each channel gets its own dispatcher worker, so a failing provider on
/// one channel never delays the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Mobile-banking app push notification.
    AppPush,
    Sms,
    Email,
    /// WeChat template message (服务号模板消息).
    Wechat,
    /// An entry on the outbound call centre's call list.
    CallCentre,
    /// A task for a relationship manager at the customer's branch.
    Branch,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::AppPush,
        Channel::Sms,
        Channel::Email,
        Channel::Wechat,
        Channel::CallCentre,
        Channel::Branch,
    ];

    /// The name stored in the outbox and used for file names and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::AppPush => "app_push",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Wechat => "wechat",
            Channel::CallCentre => "call_centre",
            Channel::Branch => "branch",
        }
    }

    /// The channel name the consent ledger and contact history use (`call` for the call
    /// centre), so a consent check and the delivery agree on which channel is meant.
    pub fn consent_channel(self) -> &'static str {
        match self {
            Channel::CallCentre => "call",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel name that is not one of [`Channel::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown delivery channel '{0}': use one of app_push, sms, email, wechat, call_centre (or call), branch"
)]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "app_push" | "push" => Ok(Channel::AppPush),
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            "wechat" => Ok(Channel::Wechat),
            "call_centre" | "call_center" | "call" => Ok(Channel::CallCentre),
            "branch" => Ok(Channel::Branch),
            _ => Err(UnknownChannel(s.to_string())),
        }
    }
}

/// One message to one customer on one channel.
///
/// The `idempotency_key` names the *effect* (for example
/// `campaign:customer:offer:step`), not the attempt: enqueueing the same key twice is a
/// no-op, and every delivery attempt hands the receiver the same key so it can drop repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub idempotency_key: String,
    pub channel: Channel,
    pub customer_id: String,
    /// What the receiver needs: rendered text, template id, template fields…
    pub payload: serde_json::Value,
    /// Do not deliver before this time (UTC microseconds since the Unix epoch); 0 means now.
    pub not_before: i64,
}

impl Message {
    /// A message due immediately.
    pub fn new(
        idempotency_key: impl Into<String>,
        channel: Channel,
        customer_id: impl Into<String>,
        payload: serde_json::Value,
    ) -> Message {
        Message {
            idempotency_key: idempotency_key.into(),
            channel,
            customer_id: customer_id.into(),
            payload,
            not_before: 0,
        }
    }

    /// The same message, held back until `micros` (UTC microseconds since the Unix epoch).
    pub fn not_before(mut self, micros: i64) -> Message {
        self.not_before = micros;
        self
    }
}

/// What a receiver says after accepting a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The receiver's reference (provider message id, file and line…), kept for audits.
    pub reference: String,
    /// True when the receiver had already seen this idempotency key and did nothing new.
    pub duplicate: bool,
}

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Transient (timeout, 5xx, connection refused, disk busy): retried with back-off.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The receiver will never accept this message (4xx, malformed payload): dead-lettered at
    /// once.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).ok(),
                Some(serde_json::json!(c.as_str()))
            );
        }
        assert_eq!("call".parse::<Channel>(), Ok(Channel::CallCentre));
        assert_eq!(Channel::CallCentre.consent_channel(), "call");
        assert!("fax".parse::<Channel>().is_err());
    }
}
