//! `zhiying scorecard fit|score` on German credit, as a user would run them.

use serde_json::Value;
use std::path::Path;

mod common;
use common::zhiying;

fn german() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/german-credit.csv")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn scorecard_fit_then_score_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let card = dir.path().join("card.json");
    let csv = german();
    let (ok, out, err) = zhiying(&[
        "scorecard",
        "fit",
        "--csv",
        &csv,
        "--target",
        "creditability",
        "--positive",
        "bad",
        "--cost",
        "5:1",
        "--save",
        card.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(ok, "fit failed: {err}");
    let v: Value = serde_json::from_str(&out).expect("fit --json prints JSON");
    assert_eq!(v["rows"], 1000);
    assert_eq!(v["bad"], 300);
    let auc = v["cv"]["auc"]["mean"].as_f64().expect("auc");
    assert!(auc >= 0.77, "cv auc {auc}");
    assert!(v["cv"]["total_cost"].as_f64().expect("cost") <= 560.0);
    let vars = v["scorecard"]["variables"].as_array().expect("variables");
    assert!(vars.len() >= 8);
    assert_eq!(
        v["scorecard"]["candidates"][0]["name"],
        "status_of_existing_checking_account"
    );

    let (ok, out, err) = zhiying(&[
        "scorecard",
        "score",
        "--model",
        card.to_str().expect("utf-8 path"),
        "--csv",
        &csv,
        "--reasons",
        "3",
        "--json",
    ]);
    assert!(ok, "score failed: {err}");
    let rows: Value = serde_json::from_str(&out).expect("score --json prints JSON");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 1000);
    for r in rows {
        let reasons = r["reasons"].as_array().expect("reasons");
        assert!(reasons.len() <= 3);
        let lost: Vec<f64> = reasons
            .iter()
            .map(|x| x["points_lost"].as_f64().expect("lost"))
            .collect();
        assert!(lost.windows(2).all(|w| w[0] >= w[1]));
    }

    // Human output carries the IV table and the points table.
    let (ok, out, err) = zhiying(&[
        "scorecard",
        "fit",
        "--csv",
        &csv,
        "--target",
        "creditability",
        "--folds",
        "0",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("IV table") && out.contains("basepoints"));

    // A wrong target is explained.
    let (ok, _, err) = zhiying(&["scorecard", "fit", "--csv", &csv, "--target", "nope"]);
    assert!(!ok);
    assert!(
        err.contains("nope") && err.contains("creditability"),
        "{err}"
    );
}

#[test]
fn model_cv_runs_scorecard_and_logistic() {
    let csv = german();
    for (algorithm, floor) in [("scorecard", 0.77), ("logistic", 0.76)] {
        let (ok, out, err) = zhiying(&[
            "model",
            "cv",
            "--csv",
            &csv,
            "--target",
            "creditability",
            "--positive",
            "bad",
            "--algorithm",
            algorithm,
            "--folds",
            "5",
            "--seed",
            "42",
            "--json",
        ]);
        assert!(ok, "model cv --algorithm {algorithm} failed: {err}");
        let v: Value = serde_json::from_str(&out).expect("model cv --json prints JSON");
        assert_eq!(v["algorithm"], algorithm);
        let auc = v["auc"]["mean"].as_f64().expect("auc");
        assert!(auc >= floor, "{algorithm} AUC {auc}");
    }
}
