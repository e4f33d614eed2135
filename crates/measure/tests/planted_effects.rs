//! The measured effect of each synthetic campaign must contain the planted true effect
//! (docs/synthetic-bank.md, "Heterogeneous treatment effects") in its 95% interval.

use std::collections::HashMap;

use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::DataFusionEngine;
use zhiying_synth::{GenerateConfig, OutputFormat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_lift_covers_the_planted_uplift() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let cfg = GenerateConfig {
        customers: 30_000,
        months: 12,
        seed: 11,
        out: out.clone(),
        format: OutputFormat::Parquet,
        ..GenerateConfig::default()
    };
    zhiying_synth::generate(&cfg, &mut |_| {}).unwrap();
    let dd = DataDir::new(dir.path().join("data"));
    for t in FACT_TABLES {
        let src = out.join(format!("{}.parquet", t.name));
        if src.exists() {
            let dst = dd.fact_batch(t.name, "synthetic");
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    let effects = zhiying_measure::campaign_effects(&engine, 0.05)
        .await
        .unwrap();
    assert_eq!(effects.len(), 4, "{effects:#?}");

    // Planted: mean true uplift over the treatment group, times the delivered share (a
    // failed contact converts at the base rate).
    let mut r = csv::Reader::from_path(out.join(zhiying_synth::TRUTH_CUSTOMERS_FILE)).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    for c in 1..=4 {
        let id = format!("CP{c:03}");
        let (u, g) = (
            col(&format!("uplift_cp{c:03}")),
            col(&format!("group_cp{c:03}")),
        );
        for rec in &rows {
            if &rec[g] == "treatment" {
                let e = sums.entry(id.clone()).or_default();
                e.0 += rec[u].parse::<f64>().unwrap();
                e.1 += 1.0;
            }
        }
    }
    let kpis = zhiying_measure::kpis(&engine, zhiying_measure::Breakdown::CampaignGroup)
        .await
        .unwrap();
    for e in &effects {
        let (sum, n) = sums[&e.campaign_id];
        let t = kpis
            .iter()
            .find(|k| {
                k.campaign_id == e.campaign_id && k.contact_group.as_deref() == Some("treatment")
            })
            .unwrap();
        assert_eq!(n as u64, t.customers, "{}: treatment size", e.campaign_id);
        let planted = sum / n * t.delivered as f64 / t.customers as f64;
        assert!(
            e.lift_ci[0] <= planted && planted <= e.lift_ci[1],
            "{}: planted {planted:.4} outside measured {:.4} [{:.4}, {:.4}]",
            e.campaign_id,
            e.lift,
            e.lift_ci[0],
            e.lift_ci[1]
        );
        assert!(!e.verdict_en.is_empty() && !e.verdict_zh.is_empty());
    }
    // The segment breakdown partitions each campaign's customers (no segmentation here: all
    // `none`), and retention counts customers still transacting 30 days after the contact:
    // the planted churners make it less than everyone.
    let by_segment = zhiying_measure::kpis(&engine, zhiying_measure::Breakdown::CampaignSegment)
        .await
        .unwrap();
    for e in &effects {
        let total = |rows: &[zhiying_measure::KpiRow]| -> u64 {
            rows.iter()
                .filter(|k| k.campaign_id == e.campaign_id)
                .map(|k| k.customers)
                .sum()
        };
        assert_eq!(total(&by_segment), total(&kpis), "{}", e.campaign_id);
        for k in by_segment.iter().filter(|k| k.campaign_id == e.campaign_id) {
            assert_eq!(k.segment.as_deref(), Some("none"));
            assert!(k.retained <= k.customers, "{k:?}");
        }
    }
    let retained: u64 = by_segment.iter().map(|k| k.retained).sum();
    let customers: u64 = by_segment.iter().map(|k| k.customers).sum();
    assert!(
        retained > 0 && retained < customers,
        "retained {retained} of {customers}"
    );
    // CP001 plants a large uplift (+10 points for young digital customers): detectable.
    let cp1 = effects.iter().find(|e| e.campaign_id == "CP001").unwrap();
    assert!(
        cp1.significant && cp1.incremental_conversions > 0.0,
        "{cp1:#?}"
    );
}
