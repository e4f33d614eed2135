//! Load test of `POST /v1/decisions` through a running `zhiying serve`, from this separate
//! process, over loopback. Used by `scripts/bench/decision_http.sh`.
//!
//! ```text
//! # 1. a data directory: profiles, consents, 50 offers, model propensities, a token
//! decision_loadgen setup --data-dir /tmp/dd --customers 100000 --offers 50
//! # 2. zhiying serve --data-dir /tmp/dd --port 18732 &
//! # 3. drive it
//! decision_loadgen run --addr 127.0.0.1:18732 --token-file /tmp/dd/bench-token \
//!     --connections 16 --seconds 60 --warmup 10 --customers 100000
//! ```
//!
//! `setup` writes `derived/tags.parquet` with the profile tags the sample catalogue's
//! eligibility rules read (age, asset tier, risk level, flags; one row per customer),
//! a `consents` fact batch (95% of customers consent to marketing on every channel),
//! 1% of customers on the do-not-contact list, the catalogue (the 13 sample offers and
//! variants up to `--offers`) in the store, champion propensity scores for half of the
//! customers (`derived/scores.parquet`), and a channel-system user with an API token.
//!
//! `run` keeps `--connections` HTTP/1.1 keep-alive connections busy with decisions for
//! random customers on random channels (contacts reserved, so the caps are checked and
//! consumed), and prints decisions/s and latency percentiles as JSON. Only loopback
//! addresses are accepted: this is a benchmark tool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use zhiying_core::DataDir;

/// 10:00 in Shanghai on a weekday in the catalogue's validity: no quiet hours.
const NOW: &str = "2024-06-03T02:00:00Z";
const CHANNELS: [&str; 3] = ["app_push", "sms", "email"];

fn customer_id(i: u64) -> String {
    format!("C{i:08}")
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

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match flag(args, name) {
        Some(v) => v.parse().map_err(|_| format!("{name} {v}: not a number")),
        None => Ok(default),
    }
}

fn write_parquet(path: &std::path::Path, batch: RecordBatch) -> Result<(), String> {
    std::fs::create_dir_all(path.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| e.to_string())?;
    w.write(&batch).map_err(|e| e.to_string())?;
    w.close().map_err(|e| e.to_string())?;
    Ok(())
}

async fn setup(args: &[String]) -> Result<(), String> {
    let dir = flag(args, "--data-dir").ok_or("--data-dir DIR is required")?;
    let n: u64 = num(args, "--customers", 100_000)?;
    let offers: usize = num(args, "--offers", 50)?;
    let dd = DataDir::new(PathBuf::from(&dir));
    std::fs::create_dir_all(dd.root()).map_err(|e| e.to_string())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // Profiles: the tags the sample catalogue's eligibility rules read.
    let tiers = ["mass", "affluent", "vip", "private"];
    let levels = ["c1", "c2", "c3", "c4", "c5"];
    let ids: Vec<String> = (0..n).map(customer_id).collect();
    let mut age = Vec::new();
    let mut tier = Vec::new();
    let mut level = Vec::new();
    let flag_names = [
        "salary_credit",
        "large_inflow_30d",
        "digital_user",
        "holds_credit_card",
        "holds_wealth",
        "holds_loan",
        "holds_insurance",
    ];
    let probs = [45, 12, 60, 35, 25, 15, 25];
    let mut flags: Vec<Vec<bool>> = vec![Vec::new(); flag_names.len()];
    for _ in 0..n {
        let r = rng.next();
        age.push(18 + (r % 62) as i64);
        tier.push(
            tiers[match (r >> 8) % 100 {
                0..60 => 0,
                60..88 => 1,
                88..98 => 2,
                _ => 3,
            }],
        );
        level.push(levels[((r >> 12) % 5) as usize]);
        for (k, p) in probs.iter().enumerate() {
            flags[k].push((rng.next() % 100) < *p);
        }
    }
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("age", DataType::Int64, true),
        Field::new("asset_tier", DataType::Utf8, true),
        Field::new("risk_level", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids.clone())),
        Arc::new(Int64Array::from(age)),
        Arc::new(StringArray::from(tier)),
        Arc::new(StringArray::from(level)),
    ];
    for (name, values) in flag_names.iter().zip(flags) {
        fields.push(Field::new(*name, DataType::Boolean, true));
        cols.push(Arc::new(BooleanArray::from(values)));
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?;
    write_parquet(&zhiying_audience::tags_parquet(&dd), batch)?;
    std::fs::write(
        dd.root().join("derived").join("tags.meta.json"),
        r#"{"as_of": "2024-06-02", "tags": []}"#,
    )
    .map_err(|e| e.to_string())?;

    // Consents: 95% grant marketing on every channel.
    let consents = zhiying_core::schema::fact_table("consents").ok_or("no consents table")?;
    let mut ndjson = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i % 20 != 0 {
            ndjson.push_str(&format!(
                "{{\"consent_id\":\"K{i}\",\"customer_id\":\"{id}\",\"purpose\":\"marketing\",\"channel\":\"all\",\"granted\":true,\"ts\":\"2023-06-01T00:00:00Z\",\"source\":\"app\"}}\n"
            ));
        }
    }
    let reader = datafusion::arrow::json::ReaderBuilder::new(consents.arrow_schema())
        .with_batch_size(1 << 20)
        .build(std::io::Cursor::new(ndjson.into_bytes()))
        .map_err(|e| e.to_string())?;
    let path = dd.fact_batch("consents", "bench");
    std::fs::create_dir_all(path.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).map_err(|e| e.to_string())?,
        consents.arrow_schema(),
        None,
    )
    .map_err(|e| e.to_string())?;
    for b in reader {
        w.write(&b.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;

    // Champion propensities for half of the customers, per category.
    let cats = [
        "deposit",
        "time_deposit",
        "wealth",
        "fund",
        "credit_card",
        "consumer_loan",
        "insurance",
        "pension",
    ];
    let sets: Vec<zhiying_bankmodels::ModelScores> = cats
        .iter()
        .map(|c| zhiying_bankmodels::ModelScores {
            model: format!("propensity_{c}"),
            version: "v1".into(),
            as_of: "2024-06-02".into(),
            rows: ids
                .iter()
                .step_by(2)
                .map(|id| zhiying_bankmodels::ScoreRow {
                    customer_id: id.clone(),
                    model: format!("propensity_{c}"),
                    score: (rng.next() % 1000) as f64 / 10_000.0,
                    band: None,
                    reasons: None,
                })
                .collect(),
        })
        .collect();
    zhiying_bankmodels::write_scores(&dd, &sets).map_err(|e| e.to_string())?;

    // The catalogue, the do-not-contact list and a token, in the store the server opens.
    let store = zhiying_store::open(None, &dd)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = zhiying_decision::bench_support::bench_catalog(offers);
    let mut count = 0;
    for o in catalog.current() {
        let body = serde_json::to_value(o).map_err(|e| e.to_string())?;
        store
            .put_offer(&o.id, 0, &body, "bench", "decision load test")
            .await
            .map_err(|e| format!("offer {}: {e}", o.id))?;
        count += 1;
    }
    for id in ids.iter().skip(7).step_by(100) {
        store
            .dnc_add(id, "load test", "bench")
            .await
            .map_err(|e| e.to_string())?;
    }
    let user = "bench-channel";
    if store.user(user).await.map_err(|e| e.to_string())?.is_none() {
        store
            .create_user(
                user,
                user,
                "$argon2id$v=19$m=19456,t=2,p=1$unused$unused",
                &[zhiying_core::domain::Role::ChannelSystem],
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    let token = zhiying_server::auth::password::new_api_token();
    store
        .create_token(
            &zhiying_store::hash_token(&token),
            user,
            &["*".to_string()],
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    let token_file = dd.root().join("bench-token");
    std::fs::write(&token_file, &token).map_err(|e| e.to_string())?;
    println!(
        "{{\"customers\": {n}, \"offers\": {count}, \"token_file\": \"{}\"}}",
        token_file.display()
    );
    Ok(())
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    ok: u64,
    errors: u64,
    offers_returned: u64,
    failure: Option<String>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

struct RunArgs {
    addr: SocketAddr,
    token: String,
    customers: u64,
}

async fn one(sender: &mut Sender, a: &RunArgs, rng: &mut Rng) -> Result<(u16, u32, bool), String> {
    let r = rng.next();
    let body = format!(
        "{{\"customer_id\":\"{}\",\"channel\":\"{}\",\"now\":\"{NOW}\"}}",
        customer_id(r % a.customers),
        CHANNELS[((r >> 40) % 3) as usize]
    );
    let req = hyper::Request::post("/v1/decisions")
        .header("host", a.addr.to_string())
        .header("authorization", format!("Bearer {}", a.token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
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
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
    if status != 200 {
        eprintln!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok((status, us, has_offers(&bytes)))
}

/// Whether the decision returned at least one offer (`"offers":[` not followed by `]`).
fn has_offers(b: &[u8]) -> bool {
    let key = b"\"offers\":[";
    b.windows(key.len())
        .position(|w| w == key)
        .is_some_and(|i| b.get(i + key.len()) != Some(&b']'))
}

async fn connection(
    a: Arc<RunArgs>,
    conn: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut t = Tally::default();
    let stream = match tokio::net::TcpStream::connect(a.addr).await {
        Ok(s) => s,
        Err(e) => {
            t.failure = Some(format!("connect {}: {e}", a.addr));
            return t;
        }
    };
    stream.set_nodelay(true).ok();
    let (mut sender, driver) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(e) => {
                t.failure = Some(format!("handshake: {e}"));
                return t;
            }
        };
    tokio::spawn(driver);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (conn as u64 + 1).wrapping_mul(0x1000_0000_01b3));
    while !stop.load(Ordering::Relaxed) {
        match one(&mut sender, &a, &mut rng).await {
            Ok((200, us, offered)) => {
                if measuring.load(Ordering::Relaxed) {
                    t.latencies_us.push(us);
                    t.ok += 1;
                    t.offers_returned += u64::from(offered);
                }
            }
            Ok(_) => t.errors += 1,
            Err(e) => {
                t.failure = Some(e);
                break;
            }
        }
    }
    t
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

async fn run(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = flag(args, "--addr")
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; benchmark only local servers"
        ));
    }
    let token_file = flag(args, "--token-file").ok_or("--token-file FILE is required")?;
    let token = std::fs::read_to_string(&token_file)
        .map_err(|e| format!("{token_file}: {e}"))?
        .trim()
        .to_string();
    let connections: usize = num(args, "--connections", 16)?;
    let seconds: u64 = num(args, "--seconds", 60)?;
    let warmup: u64 = num(args, "--warmup", 10)?;
    let customers: u64 = num(args, "--customers", 100_000)?;
    let a = Arc::new(RunArgs {
        addr,
        token,
        customers,
    });
    let measuring = Arc::new(AtomicBool::new(warmup == 0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(connection(a.clone(), c, measuring.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let (mut ok, mut errors, mut offered) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for t in tasks {
        let t = t.await.map_err(|e| e.to_string())?;
        all.extend(t.latencies_us);
        ok += t.ok;
        errors += t.errors;
        offered += t.offers_returned;
        if let Some(f) = t.failure {
            failures.push(f);
        }
    }
    all.sort_unstable();
    let out = serde_json::json!({
        "connections": connections,
        "seconds": elapsed,
        "decisions": ok,
        "errors": errors,
        "decisions_per_second": ok as f64 / elapsed,
        "with_an_offer": offered,
        "latency_ms": {
            "p50": pct(&all, 0.50), "p90": pct(&all, 0.90), "p99": pct(&all, 0.99),
            "p999": pct(&all, 0.999), "max": pct(&all, 1.0),
        },
        "connection_failures": failures,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
    );
    if ok == 0 {
        return Err("no successful decision: is the server running and the token valid?".into());
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("setup") => setup(&args[1..]).await,
        Some("run") => run(&args[1..]).await,
        _ => Err("usage: decision_loadgen setup --data-dir DIR [--customers N] [--offers 50]\n       decision_loadgen run --addr 127.0.0.1:PORT --token-file FILE [--connections 16] [--seconds 60] [--warmup 10] [--customers N]".into()),
    };
    if let Err(e) = r {
        eprintln!("decision_loadgen: {e}");
        std::process::exit(2);
    }
}
