//! `zhiying clv` end to end on the CDNOW data shipped in `datasets/`.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::zhiying;

fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(name)
}

fn close(v: &Value, want: f64, rel: f64) -> bool {
    v.as_f64()
        .is_some_and(|g| (g - want).abs() <= rel * want.abs())
}

#[test]
fn fit_summary_reproduces_the_cdnow_references() {
    let summary = dataset("cdnow_customers_summary_with_transactions.csv");
    let (ok, out, err) = zhiying(&[
        "clv",
        "fit",
        "--summary",
        summary.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let bg = &v["bgnbd"];
    assert!(close(&bg["params"]["r"], 0.243, 0.005), "{bg}");
    assert!(close(&bg["params"]["b"], 2.426, 0.005), "{bg}");
    assert!(close(&bg["log_likelihood"], -9582.4, 0.0001), "{bg}");
    assert!(
        close(&v["pareto_nbd"]["params"]["beta"], 11.669, 0.01),
        "{v}"
    );
    assert!(close(&v["gamma_gamma"]["params"]["p"], 6.25, 0.01), "{v}");
    assert_eq!(v["gamma_gamma"]["customers"], 946);
    assert_eq!(v["input"]["customers"], 2357);

    // The human output names the parameters and the log-likelihood.
    let (ok, out, err) = zhiying(&[
        "clv",
        "fit",
        "--summary",
        summary.to_str().unwrap(),
        "--model",
        "bgnbd",
        "--predict-horizon",
        "39",
        "--top",
        "3",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("BG/NBD") && out.contains("log-likelihood -9582.4"),
        "{out}"
    );
    assert!(out.contains("P(alive)") && !out.contains("Pareto"), "{out}");
}

#[test]
fn fit_transactions_builds_the_summary_itself() {
    // CDNOW_sample.txt as a transaction CSV: sample id, date, dollars.
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("cdnow.csv");
    let raw = std::fs::read_to_string(dataset("CDNOW_sample.txt")).expect("sample");
    let mut text = String::from("customer,date,amount\n");
    for line in raw.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 5 {
            text.push_str(&format!("{},{},{}\n", f[1], f[2], f[4]));
        }
    }
    std::fs::write(&csv, text).expect("write");
    let summary_out = dir.path().join("summary.csv");
    let (ok, out, err) = zhiying(&[
        "clv",
        "fit",
        "--transactions",
        csv.to_str().unwrap(),
        "--customer-col",
        "customer",
        "--date-col",
        "date",
        "--amount-col",
        "amount",
        "--calibration-end",
        "1997-09-30",
        "--time-unit",
        "weeks",
        "--model",
        "bgnbd",
        "--summary-out",
        summary_out.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["input"]["customers"], 2357);
    assert_eq!(v["input"]["transactions"], 6919);
    // Unrounded times: the same fit as the published (2-decimal) summary to 0.5%.
    assert!(close(&v["bgnbd"]["params"]["r"], 0.243, 0.005), "{v}");
    assert!(close(&v["bgnbd"]["params"]["alpha"], 4.414, 0.005), "{v}");
    let written = std::fs::read_to_string(&summary_out).expect("summary written");
    assert_eq!(written.lines().count(), 2358);
    assert!(written.starts_with("ID,x,t_x,T,zbar,x_holdout"));

    // Predictions for everyone, as CSV.
    let preds = dir.path().join("pred.csv");
    let (ok, _, err) = zhiying(&[
        "clv",
        "predict",
        "--transactions",
        csv.to_str().unwrap(),
        "--customer-col",
        "customer",
        "--date-col",
        "date",
        "--amount-col",
        "amount",
        "--calibration-end",
        "1997-09-30",
        "--horizon",
        "39",
        "--out",
        preds.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let p = std::fs::read_to_string(&preds).expect("predictions");
    assert_eq!(p.lines().count(), 2358);
    assert!(
        p.starts_with("customer,x,t_x,T,probability_alive,expected_purchases,expected_spend,clv")
    );
}

#[test]
fn errors_say_what_to_do() {
    let csv = dataset("cdnow_customers_summary_with_transactions.csv");
    let (ok, _, err) = zhiying(&["clv", "fit", "--transactions", csv.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("--calibration-end"), "{err}");
    let (ok, _, err) = zhiying(&[
        "clv",
        "fit",
        "--transactions",
        csv.to_str().unwrap(),
        "--calibration-end",
        "1997-09-30",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no column `customer_id`") && err.contains("ID, x, t_x, T, zbar"),
        "{err}"
    );
}
