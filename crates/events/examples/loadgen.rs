//! Load generator for `POST /v1/events`: many keep-alive HTTP/1.1 connections (hyper), each
//! posting batches of fresh events and transactions as fast as it gets answers, for a fixed
//! time. Reports events/s, request latency percentiles and, with `--rss-pid`, the server's
//! resident memory over the run. Used by `scripts/bench/events.sh`.
//!
//! ```text
//! cargo run --example loadgen -p zhiying-events -- --addr 127.0.0.1:8080 \
//!     --connections 32 --batch 100 --seconds 300 --customers 100000 --rss-pid 1234
//! ```
//! Only loopback addresses are accepted: this is a benchmark tool, not a traffic source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

struct Args {
    addr: SocketAddr,
    connections: usize,
    batch: usize,
    seconds: u64,
    warmup: u64,
    customers: u64,
    rss_pid: Option<u32>,
    sample_every: u64,
    /// Bearer token for `zhiying serve` (every route but /healthz needs one); also `ZHIYING_TOKEN`.
    token: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
        connections: 32,
        batch: 100,
        seconds: 60,
        warmup: 0,
        customers: 100_000,
        rss_pid: None,
        sample_every: 30,
        token: std::env::var("ZHIYING_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = val()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--connections" => a.connections = val()?.parse().map_err(|e| format!("{e}"))?,
            "--batch" => a.batch = val()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => a.seconds = val()?.parse().map_err(|e| format!("{e}"))?,
            "--warmup" => a.warmup = val()?.parse().map_err(|e| format!("{e}"))?,
            "--customers" => a.customers = val()?.parse().map_err(|e| format!("{e}"))?,
            "--rss-pid" => a.rss_pid = Some(val()?.parse().map_err(|e| format!("{e}"))?),
            "--sample-every" => a.sample_every = val()?.parse().map_err(|e| format!("{e}"))?,
            "--token" => a.token = Some(val()?),
            "-h" | "--help" => {
                return Err("usage: loadgen [--addr 127.0.0.1:8080] [--connections 32] [--batch 100] [--seconds 60] [--warmup 0] [--customers 100000] [--rss-pid PID] [--sample-every 30] [--token TOKEN]".into());
            }
            other => return Err(format!("unknown flag {other}; see --help")),
        }
    }
    if !a.addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address; benchmark only local servers",
            a.addr
        ));
    }
    Ok(a)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// xorshift64*: enough randomness to spread customers, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const EVENT_TYPES: [&str; 5] = ["login", "page_view", "product_view", "app_open", "click"];
const TXN_TYPES: [(&str, &str); 4] = [
    ("purchase", "debit"),
    ("transfer_in", "credit"),
    ("bill_payment", "debit"),
    ("salary", "credit"),
];

fn body(rng: &mut Rng, conn: usize, seq: &mut u64, batch: usize, customers: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let ts = zhiying_core::time::format_timestamp(now);
    let mut s = String::with_capacity(batch * 200);
    s.push('[');
    for i in 0..batch {
        if i > 0 {
            s.push(',');
        }
        let r = rng.next();
        let c = r % customers;
        *seq += 1;
        if r >> 60 < 13 {
            let ty = EVENT_TYPES[(r >> 32) as usize % EVENT_TYPES.len()];
            s.push_str(&format!(
                r#"{{"kind":"event","event_id":"L{conn}-{seq}","customer_id":"C{c:08}","ts":"{ts}","channel":"mobile_app","event_type":"{ty}"}}"#
            ));
        } else {
            let (ty, dir) = TXN_TYPES[(r >> 32) as usize % TXN_TYPES.len()];
            let amount = (r >> 8) % 2_000_000 + 100;
            s.push_str(&format!(
                r#"{{"kind":"transaction","txn_id":"L{conn}-{seq}","customer_id":"C{c:08}","ts":"{ts}","amount_fen":{amount},"direction":"{dir}","channel":"mobile","txn_type":"{ty}"}}"#
            ));
        }
    }
    s.push(']');
    s
}

#[derive(Default)]
struct Tally {
    /// Why the connection ended early (server gone), if it did.
    failure: Option<String>,
    latencies_us: Vec<u32>,
    events: u64,
    requests: u64,
    errors: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One POST; returns the status and the latency in µs.
async fn one_request(
    sender: &mut Sender,
    args: &Args,
    host: &str,
    rng: &mut Rng,
    conn: usize,
    seq: &mut u64,
) -> Result<(u16, u32), String> {
    let b = body(rng, conn, seq, args.batch, args.customers);
    let mut req = hyper::Request::post("/v1/events")
        .header("host", host)
        .header("content-type", "application/json");
    if let Some(token) = &args.token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req
        .body(Full::new(Bytes::from(b)))
        .map_err(|e| e.to_string())?;
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let start = Instant::now();
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = res.status().as_u16();
    let resp = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
    if status != 202 {
        eprintln!("HTTP {status}: {}", String::from_utf8_lossy(&resp));
    }
    Ok((status, us))
}

async fn connection(
    args: Arc<Args>,
    conn: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> Result<Tally, String> {
    let stream = tokio::net::TcpStream::connect(args.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", args.addr))?;
    stream.set_nodelay(true).ok();
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(driver);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (conn as u64 + 1).wrapping_mul(0x1000_0000_01b3));
    let mut seq = 0u64;
    let mut t = Tally::default();
    let host = args.addr.to_string();
    while !stop.load(Ordering::Relaxed) {
        match one_request(&mut sender, &args, &host, &mut rng, conn, &mut seq).await {
            Ok((202, us)) => {
                acked.fetch_add(args.batch as u64, Ordering::Relaxed);
                if measuring.load(Ordering::Relaxed) {
                    t.latencies_us.push(us);
                    t.events += args.batch as u64;
                    t.requests += 1;
                }
            }
            Ok(_) => t.errors += 1,
            Err(e) => {
                t.failure = Some(e);
                break;
            }
        }
    }
    Ok(t)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let measuring = Arc::new(AtomicBool::new(args.warmup == 0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        tasks.push(tokio::spawn(connection(
            args.clone(),
            c,
            measuring.clone(),
            stop.clone(),
            acked.clone(),
        )));
    }
    let begin = Instant::now();
    let mut rss = Vec::new();
    // Samples cover the warm-up too (negative times), so a plateau is visible.
    let t0 = begin + Duration::from_secs(args.warmup);
    let end = t0 + Duration::from_secs(args.seconds);
    let mut next_sample = begin;
    let mut last = (begin, 0u64);
    let secs_from_t0 = |i: Instant| {
        if i >= t0 {
            (i - t0).as_secs() as i64
        } else {
            -((t0 - i).as_secs_f64().round() as i64)
        }
    };
    loop {
        let now = Instant::now();
        if now >= t0 && !measuring.load(Ordering::SeqCst) {
            measuring.store(true, Ordering::SeqCst);
        }
        if now >= end {
            break;
        }
        if now >= next_sample {
            let a = acked.load(Ordering::SeqCst);
            let rate = if now > last.0 {
                (a - last.1) as f64 / (now - last.0).as_secs_f64()
            } else {
                0.0
            };
            let r = args.rss_pid.and_then(rss_kib);
            eprintln!(
                "t={:>5}s events/s (since last sample)={:>8.0} rss={}",
                secs_from_t0(now),
                rate,
                r.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or("-".into())
            );
            if let Some(k) = r {
                rss.push(serde_json::json!({"t_s": secs_from_t0(now), "rss_mib": (k as f64 / 1024.0 * 10.0).round() / 10.0}));
            }
            last = (now, a);
            next_sample += Duration::from_secs(args.sample_every.max(1));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some(k) = args.rss_pid.and_then(rss_kib) {
        rss.push(serde_json::json!({"t_s": elapsed.round() as u64, "rss_mib": (k as f64 / 1024.0 * 10.0).round() / 10.0}));
    }
    stop.store(true, Ordering::SeqCst);
    let mut all = Tally::default();
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(t)) => {
                if let Some(f) = t.failure {
                    failures.push(f);
                }
                all.latencies_us.extend(t.latencies_us);
                all.events += t.events;
                all.requests += t.requests;
                all.errors += t.errors;
            }
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    all.latencies_us.sort_unstable();
    let summary = serde_json::json!({
        "connections": args.connections,
        "batch": args.batch,
        "warmup_s": args.warmup,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "requests": all.requests,
        "events": all.events,
        "events_per_s": (all.events as f64 / elapsed).round(),
        "requests_per_s": (all.requests as f64 / elapsed).round(),
        "latency_ms": {
            "p50": pct(&all.latencies_us, 0.50),
            "p99": pct(&all.latencies_us, 0.99),
            "p999": pct(&all.latencies_us, 0.999),
            "max": pct(&all.latencies_us, 1.0),
        },
        "errors": all.errors,
        "connection_failures": failures,
        "rss": rss,
        "total_wall_s": begin.elapsed().as_secs(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    if !failures.is_empty() || all.errors > 0 {
        std::process::exit(1);
    }
}
