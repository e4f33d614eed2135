//! The registry around the bank models on a generated bank: every run registers new
//! versions; the first is champion, later ones are challengers that score nothing until
//! promoted by a second person; scores and drift always come from the champion.

use zhiying_bankmodels::BankModelsOptions;
use zhiying_bankmodels::registry::{self, SYSTEM_ACTOR};
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_store::{ModelStatus, StoreError};
use zhiying_synth::{GenerateConfig, OutputFormat};

async fn bank(dir: &std::path::Path) -> (DataDir, DataFusionEngine) {
    let out = dir.join("gen");
    let cfg = GenerateConfig {
        customers: 6_000,
        months: 12,
        seed: 11,
        out: out.clone(),
        format: OutputFormat::Parquet,
        ..GenerateConfig::default()
    };
    zhiying_synth::generate(&cfg, &mut |_| {}).unwrap();
    let dd = DataDir::new(dir.join("data"));
    for t in FACT_TABLES {
        let src = out.join(format!("{}.parquet", t.name));
        if src.exists() {
            let dst = dd.fact_batch(t.name, "synthetic");
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    (dd, engine)
}

async fn score_versions(engine: &DataFusionEngine, model: &str) -> Vec<String> {
    engine.refresh().await.unwrap();
    engine
        .query_json(&format!(
            "SELECT DISTINCT model_version FROM scores WHERE model = '{model}'"
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r["model_version"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_register_versions_and_only_champions_score() {
    let tmp = tempfile::tempdir().unwrap();
    let (dd, engine) = bank(tmp.path()).await;
    let store = zhiying_store::open(None, &dd).await.unwrap();
    let opts = BankModelsOptions {
        num_threads: 2,
        reasons: false,
        propensity: false,
        ..Default::default()
    };

    // First run: version 1 of each model, champion automatically, audited.
    let run1 = registry::train_register_and_score(&engine, &dd, store.as_ref(), &opts, "alice")
        .await
        .unwrap();
    let names: Vec<&str> = run1
        .registered
        .iter()
        .map(|e| e.model.name.as_str())
        .collect();
    assert_eq!(names, ["churn", "fraud", "clv"]);
    for e in &run1.registered {
        assert_eq!(e.version, 1);
        assert_eq!(e.status, ModelStatus::Champion);
        assert_eq!(e.model.created_by, "alice");
        assert_eq!(e.model.training_data_hash.len(), 64);
        assert!(e.model.metrics["params"].is_object(), "{}", e.model.metrics);
        let path = registry::artifact_path(&dd, e);
        assert!(path.exists() && path.starts_with(registry::model_dir(&dd, &e.model.name)));
        let moves = store.model_transitions(&e.model.name, 1).await.unwrap();
        let to: Vec<_> = moves.iter().map(|t| (t.to, t.actor.as_str())).collect();
        assert_eq!(
            to,
            [
                (ModelStatus::Draft, "alice"),
                (ModelStatus::Submitted, "alice"),
                (ModelStatus::Approved, SYSTEM_ACTOR),
                (ModelStatus::Champion, SYSTEM_ACTOR),
            ]
        );
    }
    assert_eq!(score_versions(&engine, "churn").await, ["v1"]);
    // CLV is refitted when its champion scores, so its scores survive the champions' pass.
    assert_eq!(score_versions(&engine, "clv").await, ["v1"]);
    assert_eq!(score_versions(&engine, "p_alive").await, ["v1"]);
    // Drift at score time, stored with the version: the champion scored the data it was
    // trained at the end of, so its score PSI is computed and every feature has a CSI.
    let churn1 = store.champion_model("churn").await.unwrap().unwrap();
    let drift = registry::load_drift(&dd, &churn1).expect("drift stored with v1");
    assert_eq!(drift.version, 1);
    assert!(
        drift.score.index.is_finite() && drift.rows > 1_000,
        "{drift:?}"
    );
    assert_eq!(drift.features.len(), churn1.model.features.len());
    assert!(["ok", "warn", "alert"].contains(&drift.flag.as_str()));
    let fraud1 = store.champion_model("fraud").await.unwrap().unwrap();
    assert!(registry::load_drift(&dd, &fraud1).is_some());

    // Second run by bob with another seed: challengers, and the champions keep scoring.
    let opts2 = BankModelsOptions { seed: 7, ..opts };
    let run2 = registry::train_register_and_score(&engine, &dd, store.as_ref(), &opts2, "bob")
        .await
        .unwrap();
    for e in &run2.registered {
        assert_eq!(
            (e.version, e.status),
            (2, ModelStatus::Draft),
            "{}",
            e.model.name
        );
    }
    assert_ne!(
        run2.registered[0].model.sha256, churn1.model.sha256,
        "a new artefact"
    );
    assert_eq!(score_versions(&engine, "churn").await, ["v1"]);
    assert!(run2.scored.iter().all(|s| s.version == 1));

    // Promotion: bob requests, bob cannot approve, carol can.
    registry::request_promotion(store.as_ref(), "churn", 2, "bob", "")
        .await
        .unwrap();
    let err = registry::approve(store.as_ref(), "churn", 2, "bob", "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            registry::RegistryError::Store(StoreError::SelfApproval { .. })
        ),
        "{err}"
    );
    let champ = registry::approve(store.as_ref(), "churn", 2, "carol", "better AUC")
        .await
        .unwrap();
    assert_eq!(champ.status, ModelStatus::Champion);
    assert_eq!(
        store.model("churn", 1).await.unwrap().unwrap().status,
        ModelStatus::Retired
    );
    let scored = registry::score_champions(&engine, &dd, store.as_ref(), None, false)
        .await
        .unwrap();
    assert_eq!(score_versions(&engine, "churn").await, ["v2"]);
    assert_eq!(score_versions(&engine, "fraud").await, ["v1"]);
    assert!(scored.iter().any(|s| s.name == "churn" && s.version == 2));
    assert!(registry::load_drift(&dd, &champ).is_some());
}
