//! The bank models on a generated synthetic bank: they must recover the planted ground
//! truth (docs/synthetic-bank.md), not merely run.
//!
//! One bank (8,000 customers × 12 months, seed 7) is generated as Parquet straight into a
//! data directory's facts; every check reads the same trained models.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use zhiying_bankmodels::{BankModelsOptions, churn, propensity};
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_models::eval::auc;
use zhiying_synth::{GenerateConfig, OutputFormat};

struct Bank {
    _dir: tempfile::TempDir,
    dd: DataDir,
    engine: DataFusionEngine,
    truth: Vec<HashMap<String, String>>,
    customers: HashMap<String, HashMap<String, String>>,
}

async fn bank() -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let cfg = GenerateConfig {
        customers: 8_000,
        months: 12,
        seed: 7,
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
    let truth = read_csv(&out.join(zhiying_synth::TRUTH_CUSTOMERS_FILE));
    let customers = read_csv_parquet_customers(&engine).await;
    Bank {
        _dir: dir,
        dd,
        engine,
        truth,
        customers,
    }
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

async fn read_csv_parquet_customers(
    engine: &DataFusionEngine,
) -> HashMap<String, HashMap<String, String>> {
    let rows = engine
        .query_json(
            "SELECT customer_id, CAST(monthly_income_fen AS DOUBLE) AS income FROM customers",
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let id = r["customer_id"].as_str().unwrap().to_string();
            let inc = r.get("income").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            (id, HashMap::from([("income".to_string(), inc.to_string())]))
        })
        .collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_recover_the_planted_truth() {
    let bank = bank().await;
    let opts = BankModelsOptions {
        num_threads: 2,
        ..Default::default()
    };
    let summary = zhiying_bankmodels::train_and_score(&bank.engine, &bank.dd, &opts)
        .await
        .unwrap();
    let by_name: HashMap<&str, &zhiying_bankmodels::ModelSummary> = summary
        .models
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();

    // ── Churn: the label comes from behaviour, the truth from the generator. ──
    let churn_m = by_name["churn"];
    let churn_auc = churn_m.test_auc.unwrap();
    assert!(churn_auc > 0.80, "churn test AUC {churn_auc}");
    // The labelled population at the training snapshot, against the planted churn dates:
    // a customer whose planted churn month falls in the performance window must mostly be
    // labelled 1, and the model must rank the planted churners above the others.
    let (table, y) = churn::training_table(&bank.engine, churn_m.train_snapshot)
        .await
        .unwrap();
    let truth: HashMap<&str, &HashMap<String, String>> = bank
        .truth
        .iter()
        .map(|t| (t["customer_id"].as_str(), t))
        .collect();
    let snapshot = churn_m.train_snapshot.to_string();
    let mut planted = Vec::new();
    for id in &table.customer_ids {
        let t = truth.get(id.as_str());
        let churned_later = t.is_some_and(|t| {
            t["churned"] == "true" && t["churn_date"].as_str() > snapshot.as_str()
        });
        planted.push(if churned_later { 1.0 } else { 0.0 });
    }
    let agree = y
        .iter()
        .zip(&planted)
        .filter(|(a, b)| (*a - *b).abs() < 0.5)
        .count() as f64
        / y.len() as f64;
    assert!(
        agree > 0.95,
        "label agrees with the planted churn for {agree:.3}"
    );
    let model = zhiying_bankmodels::SavedBankModel::load(&bank.dd, "churn").unwrap();
    let p = model.predict(&table.frame).unwrap();
    let planted_auc = auc(&planted, &p).unwrap();
    assert!(
        planted_auc > 0.80,
        "AUC against planted churners {planted_auc}"
    );
    // The report carries the confusion matrix at the campaign operating point and fairness by
    // age band and gender (groups with both attributes planted by the generator).
    let report = churn_m.report.as_ref().unwrap();
    let conf = report.confusion.as_ref().expect("confusion matrix");
    assert_eq!(
        conf.true_positives + conf.false_positives + conf.false_negatives + conf.true_negatives,
        churn_m.test_rows
    );
    let attrs: Vec<&str> = report
        .fairness
        .iter()
        .map(|f| f.attribute.as_str())
        .collect();
    assert_eq!(attrs, ["age_band", "gender"]);
    assert!(
        report
            .fairness
            .iter()
            .all(|f| f.groups.len() >= 2 && (0.0..=1.0).contains(&f.disparate_impact_ratio))
    );
    // The planted drivers are among the model's top features.
    let top: Vec<&str> = churn_m
        .top_features
        .iter()
        .map(|(f, _)| f.as_str())
        .collect();
    assert!(
        top.iter()
            .any(|f| f.contains("competitor") || f.contains("trend") || f.contains("days_since")),
        "top churn features {top:?}"
    );

    // ── Propensity: the credit-card look-alike must rank like the planted affinity. ──
    let cc = by_name[propensity::model_name("credit_card").as_str()];
    assert!(
        cc.test_auc.unwrap() > 0.70,
        "credit card AUC {:?}",
        cc.test_auc
    );
    let scores = read_scores(&bank.dd);
    let mut model_s = Vec::new();
    let mut planted_s = Vec::new();
    for (id, score) in scores
        .iter()
        .filter(|(_, (m, _))| m == "propensity_credit_card")
        .map(|(id, (_, s))| (id, s))
    {
        let Some(t) = truth.get(id.as_str()) else {
            continue;
        };
        let age: f64 = t["age"].parse().unwrap();
        let income = bank.customers[id.as_str()]["income"]
            .parse::<f64>()
            .unwrap()
            / 100.0;
        if !income.is_finite() || income <= 0.0 {
            continue;
        }
        let inc = (income / 8000.0).ln();
        let logit = -0.4 + 1.3 * f64::from(age < 35.0) - 1.0 * f64::from(age >= 60.0) + 0.6 * inc;
        model_s.push(*score);
        planted_s.push(sigmoid(logit));
    }
    let rho = spearman(&model_s, &planted_s);
    assert!(
        rho > 0.5,
        "Spearman(model, planted credit-card affinity) = {rho} over {} non-holders",
        model_s.len()
    );

    // ── CLV: the holdout check holds, and the planted churners are the ones BG/NBD
    // thinks are gone (no purchase after the churn date). ──
    let clv_m = by_name["clv"];
    let c = clv_m.clv.as_ref().expect("CLV report");
    let ratio = c.holdout_predicted / c.holdout_actual;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "predicted {:.0} vs actual {:.0} purchase days in the holdout",
        c.holdout_predicted,
        c.holdout_actual
    );
    assert!(
        c.holdout_correlation > 0.5,
        "holdout correlation {}",
        c.holdout_correlation
    );
    assert!(c.gamma_gamma.is_some() && c.mean_clv_yuan > 0.0);
    let data_end = summary.data_end.to_string();
    let (mut dead, mut gone) = (Vec::new(), Vec::new());
    for (id, (_, p_alive)) in scores.iter().filter(|(_, (m, _))| m == "p_alive") {
        let Some(t) = truth.get(id.as_str()) else {
            continue;
        };
        // Churned at least 60 days before the end: long enough to be visible.
        let churned = t["churned"] == "true"
            && chrono::NaiveDate::parse_from_str(&t["churn_date"], "%Y-%m-%d")
                .is_ok_and(|d| d + chrono::TimeDelta::days(60) <= summary.data_end);
        gone.push(if churned { 1.0 } else { 0.0 });
        dead.push(1.0 - p_alive);
    }
    let alive_auc = auc(&gone, &dead).unwrap();
    assert!(
        alive_auc > 0.85,
        "AUC of 1 − P(alive) against customers churned before {data_end} − 60 days: {alive_auc}"
    );

    // ── Every score is in the scores file, readable by the engine as a table. ──
    assert_eq!(summary.score_rows, scores.len());
    assert!(summary.models.iter().any(|m| m.name == "fraud"));
}

/// (customer, model) → score, from derived/scores.parquet.
fn read_scores(dd: &DataDir) -> Vec<(String, (String, f64))> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use zhiying_engine::arrow::array::{AsArray, Float64Array};
    let f = std::fs::File::open(zhiying_bankmodels::scores_path(dd)).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in r {
        let b = b.unwrap();
        let ids = b.column(0).as_string::<i32>();
        let models = b.column(1).as_string::<i32>();
        let s = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                ids.value(i).to_string(),
                (models.value(i).to_string(), s.value(i)),
            ));
        }
    }
    out
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_anomalous_debits_rank_at_the_top() {
    let bank = bank().await;
    let end = zhiying_bankmodels::data_end(&bank.engine).await.unwrap();
    // 20 customers who spent in the last month get one debit far outside their habits:
    // 200× their typical amount, at 03:00 China time, through a channel they never use,
    // to a new counterparty.
    let rows = bank
        .engine
        .query_json(&format!(
            "SELECT customer_id, MIN(account_id) AS account_id, CAST(AVG(amount_fen) AS BIGINT) AS typical
             FROM transactions WHERE direction = 'debit' AND txn_type = 'purchase'
               AND ts >= TIMESTAMP '{end} 00:00:00' - INTERVAL '20 days'
             GROUP BY customer_id HAVING COUNT(*) >= 3 ORDER BY customer_id LIMIT 20"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    let ts = format!("{}T19:00:00Z", end - chrono::Days::new(3)); // 03:00 the next day in China
    let planted: Vec<serde_json::Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({
                "txn_id": format!("TPLANT{i:03}"), "account_id": r["account_id"], "customer_id": r["customer_id"],
                "ts": ts, "amount_fen": r["typical"].as_i64().unwrap() * 200, "currency": "cny",
                "direction": "debit", "channel": "counter", "txn_type": "transfer_out",
                "counterparty": format!("境外账户{i}"),
            })
        })
        .collect();
    write_fact(&bank.dd, "transactions", "planted", &planted);
    let engine = DataFusionEngine::open(&bank.dd).await.unwrap();
    let scored = zhiying_bankmodels::anomaly::score_transactions(&engine, end, 42)
        .await
        .unwrap();
    let mut order: Vec<usize> = (0..scored.scores.len()).collect();
    order.sort_by(|&a, &b| scored.scores[b].total_cmp(&scored.scores[a]));
    let top = (scored.scores.len() / 100).max(20);
    let hits = order[..top]
        .iter()
        .filter(|&&i| scored.txn_ids[i].starts_with("TPLANT"))
        .count();
    // Random ranking would put 0.2 of them there; the forest finds three in four.
    assert!(
        hits >= 15,
        "{hits} of 20 planted debits in the top 1% ({top} of {} debits)",
        scored.scores.len()
    );
}

fn write_fact(dd: &DataDir, table: &str, batch: &str, rows: &[serde_json::Value]) {
    use parquet::arrow::ArrowWriter;
    let def = zhiying_core::schema::fact_table(table).unwrap();
    let schema = def.arrow_schema();
    let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let reader = zhiying_engine::arrow::json::ReaderBuilder::new(schema.clone())
        .build(std::io::Cursor::new(ndjson.into_bytes()))
        .unwrap();
    let path = dd.fact_batch(table, batch);
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        Arc::clone(&schema),
        None,
    )
    .unwrap();
    for b in reader {
        w.write(&b.unwrap()).unwrap();
    }
    w.close().unwrap();
}
