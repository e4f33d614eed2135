//! Shared test harness: outboxes on both backends and an HTTP receiver that misbehaves on
//! purpose and dedupes by `Idempotency-Key` the way a real provider gateway must.
//!
//! PostgreSQL comes from `ZHIYING_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test works in a fresh schema that is
//! dropped afterwards. When the server is unreachable the PostgreSQL half is skipped loudly,
//! unless `ZHIYING_REQUIRE_POSTGRES=1`, where it fails.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use zhiying_delivery::{Outbox, OutboxError, OutboxOptions};

/// A fresh outbox plus what is needed to clean it up.
pub struct TestDb {
    pub backend: &'static str,
    pub options: OutboxOptions,
    pub outbox: Outbox,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("outbox.db");
        let options = OutboxOptions::new(path.display().to_string());
        let outbox = Outbox::open_with(&options)
            .await
            .expect("open sqlite outbox");
        TestDb {
            backend: "sqlite",
            options,
            outbox,
            schema: None,
            _dir: Some(dir),
        }
    }

    /// `None` when PostgreSQL is unreachable and not required.
    pub async fn postgres() -> Option<TestDb> {
        let url = std::env::var("ZHIYING_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let required = std::env::var("ZHIYING_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let schema = format!("zd_{}_{}", std::process::id(), nanos % 1_000_000_000);
        let options = OutboxOptions {
            pg_schema: Some(schema.clone()),
            acquire_timeout: Duration::from_secs(10),
            ..OutboxOptions::new(url)
        };
        match Outbox::open_with(&options).await {
            Ok(outbox) => Some(TestDb {
                backend: "postgres",
                options,
                outbox,
                schema: Some(schema),
                _dir: None,
            }),
            Err(e @ OutboxError::Connect { .. }) if !required => {
                eprintln!("\n!!!!!!!! SKIPPED: PostgreSQL delivery test NOT RUN: {e}");
                eprintln!(
                    "!!!!!!!! Set ZHIYING_TEST_DATABASE_URL, or ZHIYING_REQUIRE_POSTGRES=1 to make this a failure.\n"
                );
                None
            }
            Err(e) => {
                panic!("PostgreSQL outbox did not open (ZHIYING_REQUIRE_POSTGRES={required}): {e}")
            }
        }
    }

    /// Drops the PostgreSQL schema; closes the pool.
    pub async fn cleanup(self) {
        if let Some(s) = &self.schema {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{s}\" CASCADE")))
                .execute(self.outbox.pool())
                .await
                .expect("drop test schema");
        }
        self.outbox.close().await;
    }
}

/// Runs `body` against SQLite and (when reachable) PostgreSQL. Each runs in a task so a
/// failed assertion still lets the PostgreSQL schema be dropped.
pub async fn on_both_backends<F, Fut>(body: F)
where
    F: Fn(Outbox, &'static str, OutboxOptions) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut dbs = vec![TestDb::sqlite().await];
    dbs.extend(TestDb::postgres().await);
    for db in dbs {
        eprintln!("--- backend {}", db.backend);
        let r = tokio::spawn(body(db.outbox.clone(), db.backend, db.options.clone())).await;
        db.cleanup().await;
        if let Err(e) = r {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// How the receiver behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    /// Random 500s before processing, 503s and stalls after processing (the response is
    /// lost, so the sender must retry a message that already took effect).
    Flaky,
    /// Never answers within any sane timeout.
    Hang,
    /// Always 500.
    Fail,
    /// Always 400 (permanent).
    Reject,
}

#[derive(Default)]
pub struct ReceiverState {
    /// Requests seen per key (repeats included).
    pub requests: HashMap<String, u32>,
    /// Keys whose effect happened, in order; a correct sender + receiver never repeats one.
    pub effects: Vec<String>,
}

/// An HTTP receiver on 127.0.0.1 that dedupes by `Idempotency-Key`.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ReceiverState>>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let r = Receiver {
            addr,
            state: Arc::new(Mutex::new(ReceiverState::default())),
            mode: Arc::new(Mutex::new(mode)),
        };
        let server = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rx = server.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let rx = rx.clone();
                        async move { Ok::<_, Infallible>(rx.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    pub fn effects(&self) -> Vec<String> {
        self.state.lock().expect("state").effects.clone()
    }

    pub fn total_requests(&self) -> u32 {
        self.state.lock().expect("state").requests.values().sum()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let key = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        let (Some(key), Ok(body)) = (key, body) else {
            return reply(StatusCode::BAD_REQUEST, "missing Idempotency-Key or body");
        };
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if parsed["idempotency_key"].as_str() != Some(key.as_str()) {
            return reply(StatusCode::BAD_REQUEST, "body and header keys differ");
        }
        let mode = *self.mode.lock().expect("mode");
        let roll: f64 = rand::rng().random();
        match mode {
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return reply(StatusCode::OK, "{}");
            }
            Mode::Fail => return reply(StatusCode::INTERNAL_SERVER_ERROR, "provider down"),
            Mode::Reject => return reply(StatusCode::BAD_REQUEST, "template not approved"),
            Mode::Flaky if roll < 0.15 => {
                return reply(StatusCode::INTERNAL_SERVER_ERROR, "try later");
            }
            _ => {}
        }
        let duplicate = {
            let mut s = self.state.lock().expect("state");
            *s.requests.entry(key.clone()).or_default() += 1;
            let seen = s.requests[&key] > 1 && s.effects.contains(&key);
            if !seen {
                s.effects.push(key.clone());
            }
            seen
        };
        if mode == Mode::Flaky {
            if roll < 0.25 {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "processed, but the reply is lost",
                );
            }
            if roll < 0.35 {
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
        }
        reply(
            StatusCode::OK,
            &serde_json::json!({"reference": format!("rx-{key}"), "duplicate": duplicate})
                .to_string(),
        )
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

/// Keys in a file adapter's JSON-lines file, in order.
pub fn file_keys(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"));
            v["idempotency_key"]
                .as_str()
                .unwrap_or_else(|| panic!("no key in {l:?}"))
                .to_string()
        })
        .collect()
}

/// Asserts `seen` holds each of `expected` exactly once and nothing else.
pub fn assert_exactly_once(what: &str, seen: &[String], expected: &HashSet<String>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in seen {
        *counts.entry(k).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dups.is_empty(),
        "{what}: delivered more than once: {dups:?}"
    );
    let seen: HashSet<String> = seen.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    let extra: Vec<_> = seen.difference(expected).collect();
    assert!(missing.is_empty(), "{what}: never delivered: {missing:?}");
    assert!(extra.is_empty(), "{what}: unexpected keys: {extra:?}");
}

/// Polls `check` every 20 ms until it returns true, panicking with `what` after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
