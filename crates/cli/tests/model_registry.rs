//! `zhiying model train|versions|promote|approve|score` as a user runs them: every training
//! run is a registered version, promotion needs a second person, scoring by name uses the
//! champion and stores the drift with it.

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
fn train_registers_versions_and_promotion_needs_a_second_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let csv = german();
    let train = |out: &str, author: &str, trees: &str| {
        let out = dir.path().join(out);
        let (ok, stdout, err) = zhiying(&[
            "model",
            "train",
            "--csv",
            &csv,
            "--target",
            "creditability",
            "--positive",
            "bad",
            "--folds",
            "3",
            "--trees",
            trees,
            "--threads",
            "2",
            "--name",
            "credit",
            "--author",
            author,
            "--out",
            out.to_str().expect("utf-8"),
            "--data-dir",
            data,
            "--json",
        ]);
        assert!(ok, "train failed: {err}");
        serde_json::from_str::<Value>(&stdout).expect("train --json prints JSON")
    };
    train("m1", "alice", "60");
    train("m2", "alice", "120");

    let (ok, out, err) = zhiying(&["model", "versions", "credit", "--data-dir", data, "--json"]);
    assert!(ok, "{err}");
    let versions: Value = serde_json::from_str(&out).expect("JSON");
    let v = versions.as_array().expect("array");
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["status"], "champion");
    assert_eq!(v[1]["status"], "draft");
    assert_eq!(v[1]["created_by"], "alice");
    assert_eq!(v[1]["metrics"]["params"]["gbdt"]["num_trees"], 120);
    assert_eq!(v[1]["training_data_hash"].as_str().expect("hash").len(), 64);
    let artefact = Path::new(data).join(v[1]["artifact_path"].as_str().expect("path"));
    assert!(artefact.exists(), "{}", artefact.display());
    assert!(artefact.with_file_name("reference.json").exists());

    // Scoring by name uses the champion (v1) and stores its drift.
    let scored = dir.path().join("scores.csv");
    let score = || {
        let (ok, out, err) = zhiying(&[
            "model",
            "score",
            "--name",
            "credit",
            "--csv",
            &csv,
            "--reasons",
            "0",
            "--out",
            scored.to_str().expect("utf-8"),
            "--data-dir",
            data,
            "--json",
        ]);
        assert!(ok, "score failed: {err}");
        serde_json::from_str::<Value>(&out).expect("score --json prints JSON")
    };
    assert_eq!(score()["version"], 1);

    // alice trained it: she may request, not approve; bob approves.
    let step = |verb: &str, user: &str| {
        zhiying(&[
            "model",
            verb,
            "credit",
            "2",
            "--as",
            user,
            "--data-dir",
            data,
        ])
    };
    let (ok, _, err) = step("approve", "bob");
    assert!(!ok && err.contains("cannot go from draft"), "{err}");
    let (ok, _, err) = step("promote", "alice");
    assert!(ok, "{err}");
    let (ok, _, err) = step("approve", "alice");
    assert!(!ok && err.contains("maker-checker"), "{err}");
    let (ok, out, err) = step("approve", "bob");
    assert!(ok, "{err}");
    assert!(out.contains("now champion"), "{out}");

    let s = score();
    assert_eq!(s["version"], 2);
    let (ok, out, _) = zhiying(&["model", "versions", "credit", "--data-dir", data, "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v[0]["status"], "retired");
    assert_eq!(v[1]["status"], "champion");
    assert_eq!(v[1]["approved_by"], "bob");
    let drift = Path::new(data)
        .join(v[1]["artifact_path"].as_str().expect("path"))
        .with_file_name("drift-v2.json");
    let d: Value =
        serde_json::from_slice(&std::fs::read(&drift).expect("drift stored")).expect("JSON");
    assert_eq!(d["version"], 2);
    assert_eq!(d["rows"], 1000);
    // Scoring the training file itself: every feature's CSI is (near) zero.
    let features = d["features"].as_array().expect("features");
    assert!(features.len() >= 15, "{d}");
    assert!(
        features
            .iter()
            .all(|f| f["index"].as_f64().expect("index") < 0.1),
        "{d}"
    );
    // The score PSI compares in-sample scores with the out-of-fold reference: finite, flagged.
    assert!(
        d["score"]["index"].as_f64().expect("psi").is_finite(),
        "{d}"
    );
    assert!(["ok", "warn", "alert"].contains(&d["flag"].as_str().expect("flag")));
}
