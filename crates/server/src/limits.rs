//! Request limits that keep one client from starving the others: a cap on body size, a
//! deadline per request and a token-bucket rate limit per caller.
//!
//! The caller is the bearer token or session cookie when there is one (so a channel system
//! behind a NAT gets its own allowance), else the client address. Rejections answer with the
//! usual JSON error body: 413 for a body over the cap, 429 with `Retry-After` when the bucket
//! is empty, 503 when a request outlives its deadline.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The limits `zhiying serve` applies; see [`Limits::default`] for the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A request still running after this long is abandoned with 503.
    pub request_timeout: Duration,
    /// Sustained requests per second per caller; `0` turns rate limiting off.
    pub requests_per_second: u32,
    /// Requests a caller may make in a burst above the sustained rate.
    pub burst: u32,
}

impl Default for Limits {
    /// 8 MiB bodies (a batch of several thousand events), 60 s per request (an audience
    /// export of a million customers fits), 2,000 requests/s per caller with a burst of 4,000:
    /// far above what a console user or a channel system needs, low enough to stop a runaway
    /// client from taking every core.
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            requests_per_second: 2_000,
            burst: 4_000,
        }
    }
}

const SHARDS: usize = 16;
/// Past this many callers in one shard, idle full buckets are forgotten.
const PRUNE_ABOVE: usize = 8_192;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per caller, sharded so concurrent requests rarely share a lock.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<u64, Bucket>>>,
}

impl RateLimiter {
    pub fn new(requests_per_second: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(requests_per_second),
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `caller`; `Err(seconds)` says how long until one is available.
    pub fn check(&self, caller: u64, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let shard = &self.shards[(caller as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = map.entry(caller).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// What the middleware needs: the limits and the shared buckets.
#[derive(Clone)]
pub struct LimitState {
    pub limits: Limits,
    limiter: Arc<RateLimiter>,
}

impl LimitState {
    pub fn new(limits: Limits) -> Self {
        LimitState {
            limits,
            limiter: Arc::new(RateLimiter::new(limits.requests_per_second, limits.burst)),
        }
    }
}

/// The caller's key: a hash of its credential, else of its address. Hashing keeps tokens out
/// of the limiter's memory.
fn caller_key(req: &Request) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let headers = req.headers();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        ("auth", v.as_bytes()).hash(&mut h);
    } else if let Some(v) = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .map(str::trim)
                .find(|p| p.starts_with("zy_session="))
        })
    {
        ("session", v).hash(&mut h);
    } else if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        ("addr", addr.ip()).hash(&mut h);
    } else {
        "unknown".hash(&mut h);
    }
    h.finish()
}

/// Rate limit, body cap and deadline, in that order. `/healthz` is exempt from the rate
/// limit so load balancers never see 429.
pub async fn enforce(State(st): State<LimitState>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/healthz"
        && let Err(wait) = st.limiter.check(caller_key(&req), Instant::now())
    {
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "More than {} requests per second from this caller (burst {}).",
                st.limits.requests_per_second, st.limits.burst
            ),
            format!("Retry after {wait} s, or raise the limit with `zhiying serve --rate-limit`."),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.limits.max_body_bytes as u64) {
        return too_large(st.limits.max_body_bytes);
    }
    match tokio::time::timeout(st.limits.request_timeout, next.run(req)).await {
        Ok(res) if res.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            // Bodies without a Content-Length are cut by `DefaultBodyLimit`; say why here too.
            too_large(st.limits.max_body_bytes)
        }
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "The request took longer than {} s and was abandoned.",
                st.limits.request_timeout.as_secs_f64()
            ),
            "Narrow it (a smaller audience or page), or raise the limit with `zhiying serve --request-timeout`.",
        )
        .into_response(),
    }
}

fn too_large(max: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("The request body is larger than {max} bytes."),
        "Split it (for events, send several batches), or raise the limit with `zhiying serve --max-body-mb`.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn app(limits: Limits) -> Router {
        Router::new()
            .route("/echo", post(|b: Bytes| async move { b.len().to_string() }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                LimitState::new(limits),
                enforce,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
    }

    async fn send(
        app: &Router,
        req: axum::http::Request<Body>,
    ) -> (StatusCode, String, Option<String>) {
        let res = app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let retry = res
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned(), retry)
    }

    /// Built in-process, so no Content-Length unless `declared` adds one: without it the
    /// body is cut while read (`DefaultBodyLimit`), with it the middleware refuses up front.
    fn post_body(n: usize, token: &str, declared: bool) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::post("/echo")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if declared {
            b = b.header(header::CONTENT_LENGTH, n.to_string());
        }
        b.body(Body::from(vec![b'x'; n])).expect("request")
    }

    #[tokio::test]
    async fn bodies_over_the_cap_get_413_with_the_fix() {
        let app = app(Limits {
            max_body_bytes: 1000,
            ..Limits::default()
        });
        for declared in [false, true] {
            let (s, body, _) = send(&app, post_body(1000, "a", declared)).await;
            assert_eq!((s, body.as_str()), (StatusCode::OK, "1000"));
            let (s, body, _) = send(&app, post_body(1001, "a", declared)).await;
            assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "declared={declared}");
            assert!(
                body.contains("body_too_large")
                    && body.contains("larger than 1000 bytes")
                    && body.contains("--max-body-mb"),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_bucket_and_429_says_when_to_retry() {
        let app = app(Limits {
            requests_per_second: 1,
            burst: 3,
            ..Limits::default()
        });
        for i in 0..3 {
            assert_eq!(
                send(&app, post_body(1, "alice", false)).await.0,
                StatusCode::OK,
                "request {i}"
            );
        }
        let (s, body, retry) = send(&app, post_body(1, "alice", false)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            body.contains("rate_limited") && body.contains("--rate-limit"),
            "{body}"
        );
        // Another token is a different caller with a full bucket.
        assert_eq!(
            send(&app, post_body(1, "bob", false)).await.0,
            StatusCode::OK
        );
        // Health checks are never limited.
        for _ in 0..10 {
            let req = axum::http::Request::get("/healthz")
                .body(Body::empty())
                .expect("req");
            assert_eq!(send(&app, req).await.0, StatusCode::OK);
        }
    }

    #[test]
    fn buckets_refill_at_the_sustained_rate() {
        let l = RateLimiter::new(10, 2);
        let t0 = Instant::now();
        assert!(l.check(7, t0).is_ok());
        assert!(l.check(7, t0).is_ok());
        assert_eq!(l.check(7, t0), Err(1));
        // 100 ms at 10/s refills exactly one token.
        assert!(l.check(7, t0 + Duration::from_millis(100)).is_ok());
        assert!(l.check(7, t0 + Duration::from_millis(100)).is_err());
        // Off means off.
        let off = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert!(off.check(1, t0).is_ok());
        }
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_gets_503() {
        let app = app(Limits {
            request_timeout: Duration::from_millis(1500),
            ..Limits::default()
        });
        let req = axum::http::Request::get("/slow")
            .body(Body::empty())
            .expect("req");
        let (s, body, _) = send(&app, req).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("longer than 1.5 s") && body.contains("--request-timeout"),
            "{body}"
        );
    }
}
