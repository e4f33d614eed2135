//! Durability of `POST /v1/events` across a real `kill -9` of `zhiying serve`.
//!
//! Writers post batches while the server is killed with SIGKILL. After a restart every
//! acknowledged event must be reflected in the real-time counters; re-sending everything
//! (as a client that never got its answers would) must then give exactly one count per
//! distinct event: nothing lost, nothing applied twice. A clean SIGTERM stop must leave a
//! checkpoint, so the next start replays nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CUSTOMERS: usize = 10;
const BATCH: usize = 10;

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(data: &Path) -> Server {
        bootstrap_token(data);
        let mut child = Command::new(env!("CARGO_BIN_EXE_zhiying"))
            .args(["serve", "--data-dir", data.to_str().unwrap(), "--port", "0"])
            .env_remove("ZHIYING_DATABASE_URL")
            .env_remove("ZHIYING_DATA_DIR")
            .env("ZHIYING_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zhiying serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.find("http://127.0.0.1:") {
                    let port: String = line[i + 17..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if let (Some(tx), Ok(p)) = (tx.take(), port.parse::<u16>()) {
                        let _ = tx.send(p);
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address within 60 s");
        Server { child, port }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The bearer token every request sends: a user with every role, made once per data dir
/// through the CLI, as an operator would.
static TOKEN: OnceLock<String> = OnceLock::new();

fn zhiying(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zhiying"))
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env_remove("ZHIYING_DATABASE_URL")
        .env_remove("ZHIYING_DATA_DIR")
        .output()
        .expect("zhiying runs");
    assert!(
        out.status.success(),
        "zhiying {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bootstrap_token(data: &Path) {
    if TOKEN.get().is_some() {
        return;
    }
    std::fs::create_dir_all(data).expect("data dir");
    let roles = "admin,marketer,analyst,compliance_officer,service_agent,channel_system";
    zhiying(
        data,
        &["user", "add", "--username", "loader", "--role", roles],
    );
    let out = zhiying(
        data,
        &[
            "token", "create", "--user", "loader", "--scope", "*", "--json",
        ],
    );
    let v: Value = serde_json::from_str(&out).expect("token create --json prints JSON");
    let _ = TOKEN.set(v["token"].as_str().expect("a token").to_string());
}

/// One HTTP/1.1 request on a fresh connection; `None` when the connection fails (server dead).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        TOKEN.get().map(String::as_str).unwrap_or(""),
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    // A cut-off answer (server killed mid-write) counts as no answer.
    Some((status, serde_json::from_str(body).ok()?))
}

/// A posted batch: its body, its customers, and whether the server acknowledged it.
type SentBatch = (String, Vec<usize>, bool);

fn batch(writer: usize, n: usize) -> (String, Vec<usize>) {
    let ts = chrono::Utc::now().to_rfc3339();
    let mut items = Vec::new();
    let mut customers = Vec::new();
    for k in 0..BATCH {
        let c = (writer * 7 + n * 3 + k) % CUSTOMERS;
        customers.push(c);
        items.push(json!({"kind": "event", "event_id": format!("W{writer}-B{n}-{k}"),
            "customer_id": format!("C{c}"), "ts": ts, "channel": "mobile_app", "event_type": "login"}));
    }
    (Value::Array(items).to_string(), customers)
}

fn lifetime_events(port: u16) -> Vec<u64> {
    (0..CUSTOMERS)
        .map(
            |c| match http(port, "GET", &format!("/v1/customers/C{c}/realtime"), "") {
                Some((200, v)) => v["lifetime_events"].as_u64().unwrap(),
                Some((404, _)) => 0,
                other => panic!("realtime C{c}: {other:?}"),
            },
        )
        .collect()
}

#[test]
fn acknowledged_events_survive_kill_9_and_retries_are_not_applied_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let port = server.port;

    // Per batch: the body and its customers; whether it was acknowledged.
    let sent: Arc<Mutex<Vec<SentBatch>>> = Arc::default();
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (sent, acked) = (sent.clone(), acked.clone());
        writers.push(std::thread::spawn(move || {
            for n in 0..10_000 {
                let (body, customers) = batch(w, n);
                let i = {
                    let mut s = sent.lock().unwrap();
                    s.push((body.clone(), customers, false));
                    s.len() - 1
                };
                match http(port, "POST", "/v1/events", &body) {
                    Some((202, v)) => {
                        assert_eq!(v["accepted"], BATCH as u64, "{v}");
                        sent.lock().unwrap()[i].2 = true;
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Some((status, v)) => panic!("unexpected {status}: {v}"),
                    None => return, // the server is gone
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < 60 {
        assert!(Instant::now() < deadline, "too few acknowledgements");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    for w in writers {
        w.join().unwrap();
    }
    let sent = Arc::try_unwrap(sent).unwrap().into_inner().unwrap();
    let mut acked_per = vec![0u64; CUSTOMERS];
    let mut sent_per = vec![0u64; CUSTOMERS];
    for (_, customers, ok) in &sent {
        for &c in customers {
            sent_per[c] += 1;
            if *ok {
                acked_per[c] += 1;
            }
        }
    }
    assert!(acked_per.iter().sum::<u64>() >= 600);

    let server = Server::start(&data);
    let after_crash = lifetime_events(server.port);
    for (c, ((got, acked), sent)) in after_crash
        .iter()
        .zip(&acked_per)
        .zip(&sent_per)
        .enumerate()
    {
        assert!(
            got >= acked && got <= sent,
            "C{c}: {got} after restart, {acked} acknowledged, {sent} sent"
        );
    }
    // Retry every batch, acknowledged or not: each ends up applied exactly once.
    for (body, _, _) in &sent {
        let (status, v) = http(server.port, "POST", "/v1/events", body).expect("server up");
        assert_eq!(status, 202, "{v}");
        assert_eq!(
            v["accepted"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap(),
            BATCH as u64
        );
    }
    assert_eq!(lifetime_events(server.port), sent_per);

    // A clean stop checkpoints; the next start replays nothing and sees the same counters.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(data.join("events/checkpoint.bin").exists());
    let server = Server::start(&data);
    let (_, st) = http(server.port, "GET", "/v1/events/status", "").unwrap();
    assert_eq!(st["recovery"]["replayed_records"], 0, "{st}");
    assert_eq!(lifetime_events(server.port), sent_per);
    let counts: HashMap<usize, u64> = (0..CUSTOMERS).map(|c| (c, sent_per[c])).collect();
    assert_eq!(counts.values().sum::<u64>(), (sent.len() * BATCH) as u64);
    server.kill9();
}
