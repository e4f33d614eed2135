//! The log-grep test (issue 7, item 3): a small demo, an ingest of planted identifiers and a
//! served session that handles them (360 views, unmasking, searches by phone, ids in URLs)
//! all log to one file at debug level; the file must not contain any of the identifiers.
//!
//! The served session deliberately sends identifiers through request URIs, which the
//! server's access log writes at debug level: without the redacting log writer the phone
//! and resident ID would be in the file, so this test fails if that writer is removed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Valid GB 11643 resident IDs, Luhn-valid card numbers, mobiles, names and e-mails.
const PLANTED_OK: &str = "customer_id,source_system,name,gender,birth_date,resident_id,phone,email,city,occupation,education,marital_status,monthly_income_fen,risk_level,open_date,branch_id\n\
C90000001,core,欧阳娜娜,f,1990-03-07,110105199003071239,13987654321,ouyang.nana@example.cn,上海,employee,tertiary,married,1200000,c3,2015-06-01,B001\n\
C90000002,core,司马相如,m,1976-13-45,310104197608154565,13711112222,sima.xr@example.cn,北京,employee,tertiary,married,1200000,c3,2015-06-01,B001\n";
const PLANTED_IDS: &str = "customer_id,id_type,id_value,source_system,observed_at\n\
C90000001,card_no,6217001234567893,card,2024-01-01T00:00:00Z\n\
C90000001,card_no,6228487654321092,card,not-a-time\n";

const IDENTIFIERS: [&str; 10] = [
    "110105199003071239",
    "310104197608154565",
    "13987654321",
    "13711112222",
    "6217001234567893",
    "6228487654321092",
    "ouyang.nana@example.cn",
    "sima.xr@example.cn",
    "欧阳娜娜",
    "司马相如",
];

fn zhiying(args: &[&str], log: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhiying"))
        .args(args)
        .env_remove("ZHIYING_DATABASE_URL")
        .env_remove("ZHIYING_DATA_DIR")
        .env("ZHIYING_LOG", "info,zhiying=debug")
        .stderr(append(log))
        .output()
        .expect("the zhiying binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn append(log: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the log file opens")
}

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
fn http(port: u16, method: &str, uri: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the server accepts");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {uri} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies: keep the JSON between the first `{` and the last `}`.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if b > a => body[a..=b].to_string(),
        _ => body,
    };
    (status, json)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn logs_of_a_demo_and_a_served_session_hold_no_personal_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let log = tmp.path().join("zhiying.log");

    let (ok, _) = zhiying(
        &[
            "demo",
            "--customers",
            "300",
            "--months",
            "3",
            "--no-serve",
            "--json",
            "--data-dir",
            d,
        ],
        &log,
    );
    assert!(
        ok,
        "demo failed; log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let customers = tmp.path().join("planted_customers.csv");
    std::fs::write(&customers, PLANTED_OK).unwrap();
    let identities = tmp.path().join("planted_identities.csv");
    std::fs::write(&identities, PLANTED_IDS).unwrap();
    for (table, file) in [("customers", &customers), ("identities", &identities)] {
        let (ok, _) = zhiying(
            &[
                "ingest",
                "--data-dir",
                d,
                "--table",
                table,
                "--json",
                file.to_str().unwrap(),
            ],
            &log,
        );
        assert!(ok, "ingest {table} failed");
    }
    let (ok, _) = zhiying(
        &[
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "officer",
            "--role",
            "compliance_officer",
            "--json",
        ],
        &log,
    );
    assert!(ok, "user add failed");
    let (ok, out) = zhiying(
        &[
            "token",
            "create",
            "--data-dir",
            d,
            "--user",
            "officer",
            "--scope",
            "*",
            "--json",
        ],
        &log,
    );
    assert!(ok, "token create failed");
    let token = serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_zhiying"))
            .args(["serve", "--data-dir", d, "--port", &port.to_string()])
            .env_remove("ZHIYING_DATABASE_URL")
            .env_remove("ZHIYING_DATA_DIR")
            .env("ZHIYING_LOG", "info,zhiying=debug")
            .stdout(Stdio::null())
            .stderr(append(&log))
            .spawn()
            .expect("serve starts"),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "serve did not come up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Names and identifiers of synthetic customers, as an officer unmasking them sees them.
    let mut planted: Vec<String> = IDENTIFIERS.iter().map(|s| s.to_string()).collect();
    for i in 0..=5 {
        let id = format!("C{i:08}");
        let (status, body) = http(
            port,
            "GET",
            &format!("/v1/customers/{id}?unmask=true&reason=log%20test%20case%20{i}"),
            &token,
            None,
        );
        if status != 200 {
            continue;
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        for k in ["name", "phone", "resident_id", "email"] {
            if let Some(s) = v["profile"][k].as_str()
                && s.chars().count() >= 2
            {
                planted.push(s.to_string());
            }
        }
    }
    assert!(
        planted.len() > IDENTIFIERS.len(),
        "no synthetic customer was read"
    );

    let (status, body) = http(port, "GET", "/v1/customers/C90000001", &token, None);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("13987654321"), "masked by default: {body}");
    let (status, body) = http(
        port,
        "POST",
        "/v1/customers/C90000001/unmask",
        &token,
        Some(r#"{"reason": "log test: complaint 42"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("13987654321") && body.contains("6217001234567893"),
        "{body}"
    );
    // Identifiers in URIs: a console search by phone, a resident ID and a card number as ids.
    http(
        port,
        "GET",
        "/console/customers?q=13987654321",
        &token,
        None,
    );
    http(
        port,
        "GET",
        "/v1/customers/110105199003071239",
        &token,
        None,
    );
    http(
        port,
        "GET",
        "/v1/customers/6217001234567893/consents",
        &token,
        None,
    );
    http(
        port,
        "POST",
        "/v1/events",
        &token,
        Some(
            r#"{"kind": "event", "event_id": "X1", "customer_id": "13711112222", "ts": "bad", "channel": "web", "event_type": "login"}"#,
        ),
    );
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("request") && text.contains("/console/customers?q="),
        "the access log was written: {}",
        &text[text.len().saturating_sub(2000)..]
    );
    assert!(text.contains("[手机号]"), "identifiers in URIs were masked");
    let leaks: Vec<(&str, &str)> = planted
        .iter()
        .filter_map(|p| {
            text.lines()
                .find(|l| l.contains(p.as_str()))
                .map(|l| (p.as_str(), l))
        })
        .collect();
    assert!(leaks.is_empty(), "personal data in the log: {leaks:#?}");
}
