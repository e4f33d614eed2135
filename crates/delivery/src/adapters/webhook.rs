//! [`WebhookAdapter`]: `POST` the message as JSON with an `Idempotency-Key` header.
//!
//! The receiver must dedupe by that header: the same key arrives again after a timeout or
//! a dispatcher crash, and it must answer 2xx without acting twice. Status mapping: 2xx
//! delivered; 408, 429 and 5xx, timeouts and connection errors retryable; other 4xx
//! permanent (the request itself is wrong, so repeating it cannot help).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use super::ChannelAdapter;
use crate::message::{Channel, DeliveryError, Message, Receipt};

/// Largest response body read; a receipt is small.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A webhook URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "webhook URL '{url}' {reason}: give an absolute http:// URL such as http://gateway:8080/sms \
     (for https, put a TLS-terminating proxy in front)"
)]
pub struct WebhookConfigError {
    pub url: String,
    pub reason: String,
}

/// Posts messages to one URL.
pub struct WebhookAdapter {
    uri: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

#[derive(Serialize)]
struct Body<'a> {
    idempotency_key: &'a str,
    channel: Channel,
    customer_id: &'a str,
    payload: &'a serde_json::Value,
    not_before: i64,
}

/// What a receiver may answer; every field optional.
#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    duplicate: bool,
}

impl WebhookAdapter {
    /// A webhook with a 10 s timeout per attempt.
    pub fn new(url: &str) -> Result<WebhookAdapter, WebhookConfigError> {
        let err = |reason: &str| WebhookConfigError {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.trim().parse().map_err(|_| err("is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(err("does not use http")),
            None => return Err(err("has no scheme")),
        }
        if uri.host().is_none() {
            return Err(err("has no host"));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(WebhookAdapter {
            uri,
            client,
            timeout: Duration::from_secs(10),
        })
    }

    /// Time allowed for one attempt (connect, send, response). Keep it well under the
    /// dispatcher's lease so a slow attempt is not redelivered while still in flight.
    pub fn with_timeout(mut self, timeout: Duration) -> WebhookAdapter {
        self.timeout = timeout;
        self
    }

    async fn post(&self, msg: &Message) -> Result<Receipt, DeliveryError> {
        let body = serde_json::to_vec(&Body {
            idempotency_key: &msg.idempotency_key,
            channel: msg.channel,
            customer_id: &msg.customer_id,
            payload: &msg.payload,
            not_before: msg.not_before,
        })
        .map_err(|e| DeliveryError::Permanent(format!("cannot serialise message: {e}")))?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header("content-type", "application/json")
            .header("idempotency-key", msg.idempotency_key.as_str())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the request: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| DeliveryError::Retryable(format!("POST {} failed: {e}", self.uri)))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        classify(status, &bytes, &self.uri)
    }
}

fn classify(status: StatusCode, body: &[u8], uri: &Uri) -> Result<Receipt, DeliveryError> {
    let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if status.is_success() {
        let answer: Answer = serde_json::from_slice(body).unwrap_or_default();
        return Ok(Receipt {
            reference: answer
                .reference
                .unwrap_or_else(|| format!("{uri} {}", status.as_u16())),
            duplicate: answer.duplicate,
        });
    }
    let text = format!("POST {uri} answered {status}: {}", snippet());
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::Retryable(text))
    } else {
        Err(DeliveryError::Permanent(text))
    }
}

#[async_trait::async_trait]
impl ChannelAdapter for WebhookAdapter {
    async fn deliver(&self, msg: &Message) -> Result<Receipt, DeliveryError> {
        match tokio::time::timeout(self.timeout, self.post(msg)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Retryable(format!(
                "POST {} timed out after {:?}",
                self.uri, self.timeout
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("webhook:{}", self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let uri: Uri = "http://h/x".parse().expect("uri");
        let ok = classify(
            StatusCode::OK,
            br#"{"reference":"p-1","duplicate":true}"#,
            &uri,
        )
        .expect("2xx is delivered");
        assert_eq!(ok.reference, "p-1");
        assert!(ok.duplicate);
        assert!(classify(StatusCode::ACCEPTED, b"", &uri).is_ok());
        for s in [500, 502, 503, 408, 429] {
            let s = StatusCode::from_u16(s).expect("status");
            assert!(matches!(
                classify(s, b"busy", &uri),
                Err(DeliveryError::Retryable(_))
            ));
        }
        for s in [400, 404, 410, 422] {
            let s = StatusCode::from_u16(s).expect("status");
            assert!(matches!(
                classify(s, b"bad", &uri),
                Err(DeliveryError::Permanent(_))
            ));
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(WebhookAdapter::new("https://h/x").is_err());
        assert!(WebhookAdapter::new("h/x").is_err());
        assert!(WebhookAdapter::new("http://gw:8080/sms").is_ok());
    }
}
