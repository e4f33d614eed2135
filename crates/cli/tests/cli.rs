//! End-to-end checks of the binary on real files: what a user would type.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod common;
use common::zhiying;

fn ingest_json(data: &Path, table: &str, file: &str) -> Value {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    let (ok, out, err) = zhiying(&[
        "ingest",
        "--data-dir",
        data.to_str().unwrap(),
        "--table",
        table,
        "--json",
        fixture.to_str().unwrap(),
    ]);
    assert!(ok, "ingest {file} failed: {err}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("ingest --json printed no JSON ({e}): {out}"))
}

#[test]
fn dirty_csv_accepts_good_rows_quarantines_bad_ones_and_reingest_adds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert_eq!(
        ingest_json(&data, "customers", "customers.csv")["accepted"],
        2
    );
    assert_eq!(
        ingest_json(&data, "accounts", "accounts.csv")["accepted"],
        2
    );

    let s = ingest_json(&data, "transactions", "transactions_dirty.csv");
    assert_eq!(s["accepted"], 3, "{s}");
    assert_eq!(s["duplicates_skipped"], 1, "{s}");
    assert_eq!(s["rejected"], 5, "{s}");
    let qpath = s["quarantine_path"]
        .as_str()
        .expect("quarantine_path is set");
    let quarantined: Vec<Value> = std::fs::read_to_string(qpath)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut lines: Vec<u64> = quarantined
        .iter()
        .map(|q| q["line"].as_u64().unwrap())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![4, 5, 6, 7, 8, 9],
        "bad rows and the duplicate, by line: {quarantined:?}"
    );
    for q in &quarantined {
        assert!(
            !q["reason"].as_str().unwrap_or("").is_empty(),
            "every quarantined row has a reason: {q}"
        );
        assert!(
            q["source_file"]
                .as_str()
                .unwrap()
                .ends_with("transactions_dirty.csv")
        );
        assert!(!q["raw"].as_str().unwrap_or("").is_empty());
    }
    let reason_of = |line: u64| {
        quarantined.iter().find(|q| q["line"] == line).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason_of(4).contains("amount_fen"), "{}", reason_of(4));
    assert!(reason_of(6).contains("duplicate"), "{}", reason_of(6));
    assert!(reason_of(7).contains("A9999"), "{}", reason_of(7));
    assert!(reason_of(8).contains("teleport"), "{}", reason_of(8));

    let again = ingest_json(&data, "transactions", "transactions_dirty.csv");
    assert_eq!(again["accepted"], 0, "re-ingest adds nothing: {again}");

    let (ok, out, err) = zhiying(&["quality", "--data-dir", data.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let q: Value = serde_json::from_str(&out).unwrap();
    let txn = q["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "transactions")
        .unwrap();
    assert_eq!(txn["rows"], 3);
    assert_eq!(txn["quarantined"], 5);
}

#[test]
fn unknown_table_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, _, err) = zhiying(&[
        "ingest",
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--table",
        "txns",
        "x.csv",
    ]);
    assert!(!ok);
    assert!(
        err.contains("unknown table 'txns'") && err.contains("transactions"),
        "{err}"
    );
}

#[test]
fn generate_is_deterministic_and_writes_every_table() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        let dir = tmp.path().join(out);
        let (ok, stdout, err) = zhiying(&[
            "generate",
            "--customers",
            "300",
            "--months",
            "3",
            "--seed",
            "9",
            "--out",
            dir.to_str().unwrap(),
            "--json",
        ]);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        (dir, v)
    };
    let (a, summary) = run("a");
    let (b, _) = run("b");
    for table in [
        "customers",
        "accounts",
        "transactions",
        "events",
        "consents",
        "contacts",
        "responses",
    ] {
        let fa = std::fs::read(a.join(format!("{table}.csv"))).unwrap();
        let fb = std::fs::read(b.join(format!("{table}.csv"))).unwrap();
        assert!(
            fa == fb,
            "{table}.csv differs between runs with the same seed"
        );
        assert!(
            summary["rows"][table].as_u64().unwrap() > 0,
            "{table} is empty"
        );
    }
}

#[test]
fn demo_runs_end_to_end_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let args = [
        "demo",
        "--customers",
        "400",
        "--months",
        "4",
        "--no-serve",
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let (ok, out, err) = zhiying(&args);
    assert!(ok, "demo failed: {err}");
    let first: Value = serde_json::from_str(&out).unwrap();
    let accepted = |v: &Value, key: &str| {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["accepted"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(accepted(&first, "synthetic") > 1000);
    assert!(
        accepted(&first, "real") > 100_000,
        "the real datasets were ingested"
    );
    let tables = first["quality"]["tables"].as_array().unwrap();
    let rows = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == name)
            .map(|t| t["rows"].as_u64().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(rows("applicants"), 1000, "German credit");
    assert!(
        rows("transactions") >= 69_659,
        "CDNOW plus the synthetic bank"
    );
    assert!(
        first["identities"]["merged_records"].as_u64().unwrap() > 0,
        "planted duplicate persons are linked"
    );
    // The demo runs with encryption at rest on, its key file beside the data (mode 0600).
    assert_eq!(first["encryption"]["on"], true, "{}", first["encryption"]);
    let key_file = data.join("keys/data-keys.toml");
    assert_eq!(first["encryption"]["key_file"], key_file.to_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Example audiences are counted on the tags and saved; their sizes are real counts.
    let examples = first["audiences"].as_array().unwrap();
    assert_eq!(examples.len(), 3);
    let customers = first["tags"]["customers"].as_u64().unwrap();
    assert!(
        examples
            .iter()
            .all(|a| a["count"].as_u64().unwrap() <= customers && a["id"].is_string())
    );
    assert!(
        examples.iter().any(|a| a["count"].as_u64().unwrap() > 0),
        "some example audience has members: {examples:?}"
    );
    // The cluster profiles the console shows are written beside segments.parquet.
    let profiles: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("derived").join("segments.json")).unwrap(),
    )
    .unwrap();
    let k = first["segments"]["segmentation"]["clustering"]["k"]
        .as_u64()
        .unwrap();
    assert_eq!(profiles["k"].as_u64(), Some(k));
    assert_eq!(profiles["clusters"].as_array().unwrap().len() as u64, k);
    assert_eq!(profiles["expressions"][0], "segment = \"c1\"");

    let logins = |v: &Value| -> Vec<(String, String)> {
        v["logins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["username"].as_str().unwrap().to_string(),
                    l["password"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first_logins = logins(&first);
    assert_eq!(
        first_logins
            .iter()
            .map(|l| l.0.as_str())
            .collect::<Vec<_>>(),
        ["admin", "marketer", "compliance"]
    );
    assert!(first_logins.iter().all(|l| l.1.len() == 20));

    let (ok, out, err) = zhiying(&args);
    assert!(ok, "second demo failed: {err}");
    let second: Value = serde_json::from_str(&out).unwrap();
    let second_logins = logins(&second);
    assert!(
        first_logins
            .iter()
            .zip(&second_logins)
            .all(|(a, b)| a.0 == b.0 && a.1 != b.1),
        "each run resets and prints the demo passwords"
    );
    assert_eq!(
        accepted(&second, "synthetic") + accepted(&second, "real"),
        0,
        "a second run adds nothing"
    );
    // A second run replaces the example audiences instead of saving them twice.
    let (ok, out, err) = zhiying(&[
        "audience",
        "list",
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "audience list failed: {err}");
    let saved: Value = serde_json::from_str(&out).unwrap();
    let named = |name: &str| {
        saved
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == name)
            .count()
    };
    assert_eq!(named("代发工资未持有理财客户"), 1);

    // The demo's campaign: run once with a holdout, measured; the rerun plans nothing again.
    let c1 = &first["demo_campaign"];
    assert!(
        c1["run"]["treatment_contacts"].as_u64().unwrap() > 0,
        "{c1}"
    );
    assert!(c1["run"]["holdout_contacts"].as_u64().unwrap() > 0, "{c1}");
    let c2 = &second["demo_campaign"];
    assert_eq!(c2["campaign_id"], c1["campaign_id"]);
    assert_eq!(c2["run"]["resumed"], true);
    assert_eq!(c2["run"]["contacts_new"], 0);
    assert_eq!(c2["run"]["outbox_new"], 0);
    assert_eq!(c2["simulation"]["responses_new"], 0);
    // Its follow-up on other channels (multi-channel paths for attribution), also idempotent.
    let f1 = &c1["follow_up"];
    assert!(
        f1["run"]["treatment_contacts"].as_u64().unwrap() > 0,
        "{f1}"
    );
    assert_ne!(f1["campaign_id"], c1["campaign_id"]);
    let f2 = &c2["follow_up"];
    assert_eq!(f2["campaign_id"], f1["campaign_id"]);
    assert_eq!(f2["run"]["resumed"], true);
    assert_eq!(f2["simulation"]["responses_new"], 0);
    // The responses were simulated, so the reports' uplift models are already trained.
    for c in [&c1["campaign_id"], &f1["campaign_id"]] {
        let cache = data.join(format!("reports/uplift/{}.json", c.as_str().unwrap()));
        assert!(cache.exists(), "{} missing", cache.display());
    }
}

#[test]
fn pii_scan_reports_spans_types_and_masks_values() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("note.txt");
    // 11010519491231002X has a valid GB 11643 check digit; 6222020200112233445 is not Luhn-valid.
    std::fs::write(
        &file,
        "客户张伟来电，手机13812345678，身份证11010519491231002X。\n订单号6222020200112233445。\n",
    )
    .unwrap();
    let (ok, out, err) = zhiying(&["pii", "scan", "--json", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["bytes"].as_u64().unwrap() > 0 && v["seconds"].as_f64().is_some());
    let findings = v["files"][0]["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"mobile") && kinds.contains(&"resident_id"),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"bank_card"),
        "a non-Luhn order number is not a card: {kinds:?}"
    );
    assert!(
        !out.contains("13812345678") && !out.contains("11010519491231002X"),
        "values are masked: {out}"
    );
    let mobile = findings.iter().find(|f| f["kind"] == "mobile").unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let (s, e) = (
        mobile["start"].as_u64().unwrap() as usize,
        mobile["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "13812345678");
}

#[test]
fn users_tokens_and_audit_verify_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let (ok, out, err) = zhiying(&[
        "user",
        "add",
        "--data-dir",
        d,
        "--username",
        "alice",
        "--role",
        "marketer,analyst",
        "--json",
    ]);
    assert!(ok, "user add failed: {err}");
    let u: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(u["roles"], serde_json::json!(["analyst", "marketer"]));
    assert_eq!(
        u["password"].as_str().map(str::len),
        Some(20),
        "a generated password is printed once"
    );
    let (ok, _, err) = zhiying(&[
        "user",
        "add",
        "--data-dir",
        d,
        "--username",
        "alice",
        "--role",
        "admin",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = zhiying(&[
        "user",
        "add",
        "--data-dir",
        d,
        "--username",
        "bob",
        "--role",
        "wizard",
    ]);
    assert!(!ok && err.contains("not a valid role"), "{err}");

    // A token may not carry a permission its user lacks; a valid one is printed once.
    let (ok, _, err) = zhiying(&[
        "token",
        "create",
        "--data-dir",
        d,
        "--user",
        "alice",
        "--scope",
        "audit.read",
    ]);
    assert!(
        !ok && err.contains("does not have this permission"),
        "{err}"
    );
    let (ok, out, err) = zhiying(&[
        "token",
        "create",
        "--data-dir",
        d,
        "--user",
        "alice",
        "--scope",
        "data.read,customer.read",
        "--expires",
        "7d",
        "--json",
    ]);
    assert!(ok, "token create failed: {err}");
    let t: Value = serde_json::from_str(&out).unwrap();
    let token = t["token"].as_str().unwrap();
    assert!(token.starts_with("zy_") && token.len() == 67);
    let id = t["id"].as_str().unwrap().to_string();
    let (ok, out, _) = zhiying(&["token", "list", "--data-dir", d, "--json"]);
    assert!(
        ok && !out.contains(token),
        "the token itself is never listed"
    );
    let (ok, out, err) = zhiying(&["token", "revoke", "--data-dir", d, "--id", &id]);
    assert!(ok && out.contains("Revoked"), "{err}");
    let (_, out, _) = zhiying(&["token", "list", "--data-dir", d, "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["active"], false);

    // Everything above is in the audit log, which verifies, and is anchored.
    let (ok, out, err) = zhiying(&["audit", "anchor", "--data-dir", d, "--json"]);
    assert!(ok, "anchor failed: {err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["head_seq"], 3);
    assert!(data.join("keys/audit-anchor.key").is_file());
    let (ok, out, err) = zhiying(&["audit", "verify", "--data-dir", d, "--json"]);
    assert!(ok, "verify failed: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["ok"].clone(),
            v["entries"].clone(),
            v["anchors_verified"].clone()
        ),
        (Value::Bool(true), 3.into(), 1.into())
    );

    // Tamper with the SQLite file directly: verify names the entry and exits 1.
    let db = data.join("zhiying.db");
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .status();
    if status.is_ok_and(|s| s.success()) {
        let (ok, out, _) = zhiying(&["audit", "verify", "--data-dir", d]);
        assert!(!ok, "tampering must fail verify");
        assert!(out.contains("First bad entry: seq 2"), "{out}");
    } else {
        eprintln!(
            "sqlite3 CLI not installed: tamper check left to crates/store/tests/audit_tamper.rs"
        );
    }
}

#[test]
fn check_copy_reports_violations_and_exits_1_when_blocking() {
    let (ok, out, _) = zhiying(&[
        "compliance",
        "check-copy",
        "--text",
        "本理财产品保本保收益，年化收益最高4.5%",
        "--json",
    ]);
    assert!(!ok, "blocking copy exits non-zero");
    let r: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "disclosure.wealth",
            "prohibited.guarantee",
            "prohibited.guarantee",
            "absolute.superlative"
        ]
    );
    let (ok, out, _) = zhiying(&[
        "compliance",
        "check-copy",
        "--text",
        "三年期大额存单利率2.35%，受存款保险保障。",
    ]);
    assert!(ok && out.contains("No violations"), "{out}");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("copy.txt");
    std::fs::write(&f, "智营信用卡，您的最佳选择").unwrap();
    let (ok, out, _) = zhiying(&["compliance", "check-copy", "--file", f.to_str().unwrap()]);
    assert!(
        ok && out.contains("absolute.superlative") && out.contains("warnings only"),
        "{out}"
    );
}

#[test]
fn report_dp_releases_noisy_counts_and_refuses_to_overspend_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 1,000 customers: 600 at c2 and 400 at c4, in two cities.
    let mut csv = String::from(
        "customer_id,source_system,gender,birth_date,city,risk_level,open_date,branch_id\n",
    );
    for i in 0..1000 {
        let (risk, city) = if i < 600 {
            ("c2", "上海")
        } else {
            ("c4", "北京")
        };
        csv.push_str(&format!(
            "D{i:05},core,f,1980-01-01,{city},{risk},2020-01-01,B001\n"
        ));
    }
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, csv).unwrap();
    let (ok, _, err) = zhiying(&[
        "ingest",
        "--data-dir",
        data.to_str().unwrap(),
        "--table",
        "customers",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let d = data.to_str().unwrap();
    let release = |eps: &str| {
        zhiying(&[
            "report",
            "dp",
            "--data-dir",
            d,
            "--preset",
            "customers-by-risk",
            "--epsilon",
            eps,
            "--budget-epsilon",
            "2",
            "--json",
        ])
    };
    let (ok, out, err) = release("1");
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let groups = v["release"]["groups"].as_array().unwrap();
    // Public keys: all five levels are released, empty ones too.
    let keys: Vec<&str> = groups
        .iter()
        .map(|g| g["key"][0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["c1", "c2", "c3", "c4", "c5"]);
    let count = |k: &str| {
        groups.iter().find(|g| g["key"][0] == k).unwrap()["count"]
            .as_i64()
            .unwrap()
    };
    // Laplace noise at ε = 1 has sd √2: ±20 fails with probability ~e^-20.
    assert!((count("c2") - 600).abs() <= 20, "{out}");
    assert!((count("c4") - 400).abs() <= 20, "{out}");
    assert!(count("c1").abs() <= 20, "{out}");
    assert_eq!(v["budget"]["spent"]["epsilon"].as_f64(), Some(1.0));
    assert_eq!(v["budget"]["remaining"]["epsilon"].as_f64(), Some(1.0));

    assert!(release("1").0, "the second ε = 1 fits the budget of 2");
    let (ok, _, err) = release("0.5");
    assert!(!ok, "a third release would overspend");
    assert!(
        err.contains("exhausted") && err.contains("Nothing was released"),
        "{err}"
    );

    // Keys taken from the data would reveal rare groups: without δ nothing is released.
    let (ok, _, err) = zhiying(&[
        "report",
        "dp",
        "--data-dir",
        d,
        "--preset",
        "customers-by-city",
        "--epsilon",
        "1",
    ]);
    assert!(!ok && err.contains("--delta"), "{err}");

    let (ok, out, err) = zhiying(&["report", "dp", "--data-dir", d, "--status", "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        status["customers-by-risk"]["spends"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{out}"
    );
    // Every release is in the tamper-evident audit log.
    let (ok, out, err) = zhiying(&["audit", "verify", "--data-dir", d, "--json"]);
    assert!(ok, "{err}");
    let audit: Value = serde_json::from_str(&out).unwrap();
    assert!(audit["entries"].as_u64().unwrap_or(0) >= 2, "{out}");
}
