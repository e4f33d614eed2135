//! Transaction anomaly score: how far each recent debit is from the customer's own habits.
//!
//! For every debit in the last 30 days, compared with the customer's debits in the 180
//! days before that window:
//!
//! | feature | meaning |
//! |---|---|
//! | `amount_z` | (ln amount − mean) / sd of the customer's ln amounts |
//! | `log_amount` | ln(amount in 分 + 100) |
//! | `channel_share` | share of the customer's past debits on this channel (0 = never used) |
//! | `hour_share` | share of past debits in this local hour (China time) |
//! | `night` | 1 between 00:00 and 05:59 local time |
//! | `same_day` | the customer's debits on the same local day |
//! | `new_counterparty` | 1 when the counterparty was never paid before |
//!
//! An isolation forest fitted on all recent debits scores each one; a customer's score is
//! their most anomalous debit in the window, with the reasons that made it stand out.
//! There is no fraud label in the data, so the model is unsupervised; the tests plant
//! anomalous debits and check they rank at the top.

use chrono::{Days, NaiveDate};
use std::collections::HashMap;
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;
use zhiying_models::ColumnData;

use crate::isoforest::{IsolationForest, IsolationForestConfig};
use crate::scores::{ModelScores, ScoreRow, rank_bands};
use crate::{BankModelError, BankModelsOptions, ModelSummary};

pub const NAME: &str = "fraud";
pub const WINDOW_DAYS: u64 = 30;
pub const BASELINE_DAYS: u64 = 180;

pub const FEATURES: &[&str] = &[
    "amount_z",
    "log_amount",
    "channel_share",
    "hour_share",
    "night",
    "same_day",
    "new_counterparty",
];

pub fn transaction_sql(end: NaiveDate) -> String {
    let e = format!(
        "TIMESTAMP '{} 00:00:00'",
        (end + Days::new(1)).format("%Y-%m-%d")
    );
    let w = WINDOW_DAYS;
    let b = WINDOW_DAYS + BASELINE_DAYS;
    format!(
        "WITH recent AS (
  SELECT txn_id, customer_id, ts, amount_fen, channel, counterparty,
         date_part('hour', ts + INTERVAL '8 hours') AS hour,
         date_trunc('day', ts + INTERVAL '8 hours') AS local_day
  FROM transactions
  WHERE direction = 'debit' AND ts < {e} AND ts >= {e} - INTERVAL '{w} days'
), past AS (
  SELECT customer_id, amount_fen, channel, counterparty, date_part('hour', ts + INTERVAL '8 hours') AS hour
  FROM transactions
  WHERE direction = 'debit' AND ts < {e} - INTERVAL '{w} days' AND ts >= {e} - INTERVAL '{b} days'
), base AS (
  SELECT customer_id, AVG(ln(amount_fen + 100)) AS mu, stddev(ln(amount_fen + 100)) AS sd, COUNT(*) AS n
  FROM past GROUP BY customer_id
), ch AS (
  SELECT customer_id, channel, COUNT(*) AS n FROM past GROUP BY customer_id, channel
), hr AS (
  SELECT customer_id, hour, COUNT(*) AS n FROM past GROUP BY customer_id, hour
), cp AS (
  SELECT DISTINCT customer_id, counterparty FROM past WHERE counterparty IS NOT NULL
), day AS (
  SELECT customer_id, local_day, COUNT(*) AS n FROM recent GROUP BY customer_id, local_day
)
SELECT r.txn_id, r.customer_id,
  CASE WHEN b.sd IS NULL OR b.sd < 0.05 THEN (ln(r.amount_fen + 100) - coalesce(b.mu, ln(r.amount_fen + 100))) / 0.05
       ELSE (ln(r.amount_fen + 100) - b.mu) / b.sd END AS amount_z,
  ln(r.amount_fen + 100) AS log_amount,
  CAST(coalesce(ch.n, 0) AS DOUBLE) / coalesce(b.n, 1) AS channel_share,
  CAST(coalesce(hr.n, 0) AS DOUBLE) / coalesce(b.n, 1) AS hour_share,
  CASE WHEN r.hour < 6 THEN 1.0 ELSE 0.0 END AS night,
  CAST(d.n AS DOUBLE) AS same_day,
  CASE WHEN r.counterparty IS NULL OR cp.counterparty IS NOT NULL THEN 0.0 ELSE 1.0 END AS new_counterparty
FROM recent r
LEFT JOIN base b ON b.customer_id = r.customer_id
LEFT JOIN ch ON ch.customer_id = r.customer_id AND ch.channel = r.channel
LEFT JOIN hr ON hr.customer_id = r.customer_id AND hr.hour = r.hour
LEFT JOIN cp ON cp.customer_id = r.customer_id AND cp.counterparty = r.counterparty
LEFT JOIN day d ON d.customer_id = r.customer_id AND d.local_day = r.local_day
ORDER BY r.txn_id"
    )
}

/// Scored debits: transaction id, customer id, score, and the features for reasons.
pub struct ScoredTransactions {
    pub txn_ids: Vec<String>,
    pub customer_ids: Vec<String>,
    pub scores: Vec<f64>,
    /// Row-major, [`FEATURES`] order.
    pub features: Vec<f64>,
    pub forest: IsolationForest,
}

/// The recent debits and their features (row-major, [`FEATURES`] order).
pub struct TransactionFeatures {
    pub txn_ids: Vec<String>,
    pub customer_ids: Vec<String>,
    pub features: Vec<f64>,
}

impl TransactionFeatures {
    /// The features as a frame (for drift).
    pub fn frame(&self) -> Result<zhiying_models::Frame, BankModelError> {
        let nf = FEATURES.len();
        let n = self.txn_ids.len();
        let cols = FEATURES
            .iter()
            .enumerate()
            .map(|(j, name)| {
                zhiying_models::Column::numeric(
                    *name,
                    (0..n).map(|i| self.features[i * nf + j]).collect(),
                )
            })
            .collect();
        Ok(zhiying_models::Frame::new(cols)?)
    }
}

/// Every debit of the last [`WINDOW_DAYS`] days up to `end` with its features.
pub async fn transaction_features(
    engine: &dyn AnalyticsEngine,
    end: NaiveDate,
) -> Result<TransactionFeatures, BankModelError> {
    let batches = engine.query(&transaction_sql(end)).await?;
    let (txn_ids, cols, _) = crate::features::batches_to_columns(&batches, "txn_id")?;
    let customer_ids: Vec<String> = match cols.iter().find(|c| c.name == "customer_id") {
        Some(c) => (0..c.len())
            .map(|i| c.text(i).unwrap_or_default())
            .collect(),
        None => Vec::new(),
    };
    let n = txn_ids.len();
    if n < 100 {
        return Err(BankModelError::data(
            NAME,
            format!("only {n} debits in the last {WINDOW_DAYS} days; need at least 100"),
        ));
    }
    let nf = FEATURES.len();
    let mut features = vec![0.0; n * nf];
    for (j, name) in FEATURES.iter().enumerate() {
        let col = cols
            .iter()
            .find(|c| c.name == *name)
            .ok_or_else(|| BankModelError::data(NAME, format!("feature {name} missing")))?;
        if let ColumnData::Numeric(v) = &col.data {
            for (i, x) in v.iter().enumerate() {
                features[i * nf + j] = if x.is_finite() { *x } else { 0.0 };
            }
        }
    }
    Ok(TransactionFeatures {
        txn_ids,
        customer_ids,
        features,
    })
}

pub async fn score_transactions(
    engine: &dyn AnalyticsEngine,
    end: NaiveDate,
    seed: u64,
) -> Result<ScoredTransactions, BankModelError> {
    let tx = transaction_features(engine, end).await?;
    let forest = IsolationForest::fit(
        &tx.features,
        FEATURES.len(),
        &IsolationForestConfig {
            seed,
            ..Default::default()
        },
    );
    let scores = forest.score_all(&tx.features);
    Ok(ScoredTransactions {
        txn_ids: tx.txn_ids,
        customer_ids: tx.customer_ids,
        scores,
        features: tx.features,
        forest,
    })
}

/// Customer scores (their most anomalous debit) from per-debit scores.
pub fn customer_scores(
    txn_ids: &[String],
    customer_ids: &[String],
    features: &[f64],
    scores: &[f64],
) -> Vec<ScoreRow> {
    let nf = FEATURES.len();
    let mut best: HashMap<&str, usize> = HashMap::new();
    for (i, c) in customer_ids.iter().enumerate() {
        let e = best.entry(c.as_str()).or_insert(i);
        if scores[i] > scores[*e] {
            *e = i;
        }
    }
    let mut picks: Vec<(&str, usize)> = best.into_iter().collect();
    picks.sort_unstable();
    let s: Vec<f64> = picks.iter().map(|(_, i)| scores[*i]).collect();
    let bands = rank_bands(&s);
    picks
        .iter()
        .zip(bands)
        .map(|((c, i), band)| ScoreRow {
            customer_id: c.to_string(),
            model: NAME.into(),
            score: scores[*i],
            band: Some(band.into()),
            reasons: Some(reasons(&features[i * nf..(i + 1) * nf], &txn_ids[*i])),
        })
        .collect()
}

/// Scores recent debits with a saved forest (a registered champion).
pub fn score(forest: &IsolationForest, tx: &TransactionFeatures) -> (Vec<ScoreRow>, Vec<f64>) {
    let scores = forest.score_all(&tx.features);
    let rows = customer_scores(&tx.txn_ids, &tx.customer_ids, &tx.features, &scores);
    (rows, scores)
}

fn reasons(f: &[f64], txn_id: &str) -> String {
    // By name, so reordering FEATURES cannot silently mislabel a reason.
    let v = |name: &str| {
        FEATURES
            .iter()
            .position(|x| *x == name)
            .and_then(|i| f.get(i).copied())
            .unwrap_or(0.0)
    };
    let mut r = vec![format!("txn {txn_id}")];
    let z = v("amount_z");
    if z.abs() >= 3.0 {
        r.push(format!("amount {z:+.1} sd from usual"));
    }
    if v("channel_share") < 0.02 {
        r.push("channel never used before".into());
    }
    if v("hour_share") < 0.02 {
        r.push("unusual hour".into());
    }
    if v("night") > 0.5 {
        r.push("at night".into());
    }
    let same_day = v("same_day");
    if same_day >= 5.0 {
        r.push(format!("{same_day} debits that day"));
    }
    if v("new_counterparty") > 0.5 {
        r.push("new counterparty".into());
    }
    r.join("; ")
}

pub async fn train_and_score(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    end: NaiveDate,
    opts: &BankModelsOptions,
) -> Result<(ModelSummary, ModelScores), BankModelError> {
    let scored = score_transactions(engine, end, opts.seed).await?;
    let rows = customer_scores(
        &scored.txn_ids,
        &scored.customer_ids,
        &scored.features,
        &scored.scores,
    );
    let s: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let nf = FEATURES.len();
    let all: Vec<usize> = (0..scored.txn_ids.len()).collect();
    let sample = crate::sample_rows(&all);
    let tx_frame = TransactionFeatures {
        txn_ids: sample.iter().map(|&i| scored.txn_ids[i].clone()).collect(),
        customer_ids: Vec::new(),
        features: sample
            .iter()
            .flat_map(|&i| scored.features[i * nf..(i + 1) * nf].iter().copied())
            .collect(),
    }
    .frame()?;
    let reference = crate::Reference {
        scores: sample.iter().map(|&i| scored.scores[i]).collect(),
        features: tx_frame,
    };
    let data_hash = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for x in &scored.features {
            h.update(x.to_bits().to_le_bytes());
        }
        hex::encode(h.finalize())
    };
    let version = crate::version_of(end, &(scored.txn_ids.len(), &s[..s.len().min(100)]));
    let mut summary = ModelSummary {
        name: NAME.into(),
        kind: "anomaly".into(),
        version: version.clone(),
        label: format!(
            "unsupervised: isolation forest over each debit in the last {WINDOW_DAYS} days against the customer's previous {BASELINE_DAYS} days; a customer's score is their most anomalous debit"
        ),
        train_snapshot: end,
        score_snapshot: end,
        train_rows: scored.txn_ids.len(),
        test_rows: 0,
        positives: 0,
        test_auc: None,
        test_ks: None,
        top_features: Vec::new(),
        scored: rows.len(),
        artifact: Default::default(),
        report: None,
        clv: None,
        training_data_hash: data_hash,
        params: serde_json::to_value(IsolationForestConfig {
            seed: opts.seed,
            ..Default::default()
        })
        .unwrap_or_default(),
    };
    crate::save_model(
        dd,
        &mut summary,
        None,
        Some(&scored.forest),
        Some(reference),
    )?;
    Ok((
        summary,
        ModelScores {
            model: NAME.into(),
            version,
            as_of: end.to_string(),
            rows,
        },
    ))
}
