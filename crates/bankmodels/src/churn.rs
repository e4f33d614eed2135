//! Churn: will a customer who is active today go quiet in the next 90 days?
//!
//! ```text
//!   observation window (180 d)      performance window (90 d)
//! |──────────────────────────────|S|────────────── 60 d ─────────|── 30 d ──|end
//!   features as of S                 (ignored: churn may start)    label: no txn, no event
//! ```
//!
//! * **Population**: customers with a transaction or event in the 30 days before S.
//! * **Label**: 1 when the customer has no transaction and no event in the last 30 days
//!   of the performance window (S+60 d, S+90 d], i.e. has stopped using the bank.
//! * **No leakage**: features only read rows before the end of day S; balances (which
//!   are extracted at the end of the data) are not used.
//! * **Scoring**: the same features as of the last day of data, for customers active in
//!   its last 30 days; the score is the probability of going quiet within 90 days.

use std::collections::HashSet;

use chrono::{Days, NaiveDate};
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;

use crate::features::{FeatureTable, customer_features};
use crate::scores::{ModelScores, ScoreRow, rank_bands};
use crate::{BankModelError, BankModelsOptions, ModelSummary};

pub const NAME: &str = "churn";
pub const PERFORMANCE_DAYS: u64 = 90;
pub const QUIET_DAYS: u64 = 30;

pub const LABEL: &str = "active in the 30 days before the snapshot, then no transaction and no channel event in the last 30 days of the 90-day performance window";

/// Customers with any transaction or event in `[from, to)` (UTC days).
pub async fn active_between(
    engine: &dyn AnalyticsEngine,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<HashSet<String>, BankModelError> {
    let (a, b) = (from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
    let sql = format!(
        "SELECT DISTINCT customer_id FROM transactions WHERE ts >= TIMESTAMP '{a} 00:00:00' AND ts < TIMESTAMP '{b} 00:00:00'
         UNION SELECT DISTINCT customer_id FROM events WHERE ts >= TIMESTAMP '{a} 00:00:00' AND ts < TIMESTAMP '{b} 00:00:00'"
    );
    let batches = engine.query(&sql).await?;
    let (ids, _, _) = crate::features::batches_to_columns(&batches, "customer_id")?;
    Ok(ids.into_iter().collect())
}

/// The labelled training table at `snapshot`: active customers and their churn labels.
pub async fn training_table(
    engine: &dyn AnalyticsEngine,
    snapshot: NaiveDate,
) -> Result<(FeatureTable, Vec<f64>), BankModelError> {
    let all = customer_features(engine, snapshot).await?;
    let day_after = snapshot + Days::new(1);
    let quiet_from = day_after + Days::new(PERFORMANCE_DAYS - QUIET_DAYS);
    let quiet_to = day_after + Days::new(PERFORMANCE_DAYS);
    let later = active_between(engine, quiet_from, quiet_to).await?;
    let rows: Vec<usize> = (0..all.customer_ids.len())
        .filter(|&i| all.active_30d[i])
        .collect();
    let table = all.select(&rows)?;
    let y = table
        .customer_ids
        .iter()
        .map(|id| if later.contains(id) { 0.0 } else { 1.0 })
        .collect();
    Ok((table, y))
}

pub async fn train_and_score(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    current: &FeatureTable,
    opts: &BankModelsOptions,
) -> Result<(ModelSummary, ModelScores), BankModelError> {
    let end = current.snapshot;
    let snapshot = end - Days::new(PERFORMANCE_DAYS);
    let (table, y) = training_table(engine, snapshot).await?;
    let trained = crate::fit_binary(
        NAME,
        &table.frame,
        &y,
        &table.customer_ids,
        opts,
        crate::gbdt_config(opts),
    )?;

    let (score_rows, _) = score(&trained.model, current, opts.reasons)?;
    let version = crate::version_of(end, &trained.report);
    let mut summary = ModelSummary {
        name: NAME.into(),
        kind: "churn".into(),
        version: version.clone(),
        label: LABEL.into(),
        train_snapshot: snapshot,
        score_snapshot: end,
        train_rows: trained.train_rows,
        test_rows: trained.test_rows,
        positives: trained.positives,
        test_auc: Some(trained.report.auc),
        test_ks: Some(trained.report.ks.statistic),
        top_features: crate::top_features(&trained.report, 8),
        scored: score_rows.len(),
        artifact: Default::default(),
        report: Some(trained.report),
        clv: None,
        training_data_hash: trained.data_hash,
        params: crate::gbdt_params(&crate::gbdt_config(opts)),
    };
    crate::save_model(
        dd,
        &mut summary,
        Some(&trained.model),
        None,
        Some(trained.reference),
    )?;
    Ok((
        summary,
        ModelScores {
            model: NAME.into(),
            version,
            as_of: end.to_string(),
            rows: score_rows,
        },
    ))
}

/// Scores the customers of `current` active in its last 30 days with a churn model (the
/// trained one, or a registered champion), with reason codes when `with_reasons`. Returns
/// the score rows and the scoring frame (for drift).
pub fn score(
    model: &zhiying_models::GbdtModel,
    current: &FeatureTable,
    with_reasons: bool,
) -> Result<(Vec<ScoreRow>, zhiying_models::Frame), BankModelError> {
    let rows: Vec<usize> = (0..current.customer_ids.len())
        .filter(|&i| current.active_30d[i])
        .collect();
    let scoring = current.select(&rows)?;
    let p = model.predict(&scoring.frame)?;
    let reasons = if with_reasons {
        reason_codes(model, &scoring)?
    } else {
        vec![None; p.len()]
    };
    let bands = rank_bands(&p);
    let score_rows: Vec<ScoreRow> = scoring
        .customer_ids
        .iter()
        .zip(&p)
        .zip(bands)
        .zip(reasons)
        .map(|(((id, &score), band), reasons)| ScoreRow {
            customer_id: id.clone(),
            model: NAME.into(),
            score,
            band: Some(band.to_string()),
            reasons,
        })
        .collect();
    Ok((score_rows, scoring.frame))
}

/// The three features that push each customer's score up most (TreeSHAP on the log-odds),
/// with the customer's value: what a relationship manager needs to act on the score.
pub(crate) fn reason_codes(
    model: &zhiying_models::GbdtModel,
    table: &FeatureTable,
) -> Result<Vec<Option<String>>, BankModelError> {
    let contrib = model.contributions(&table.frame)?;
    let names = &contrib.feature_names;
    let mut out = Vec::with_capacity(table.customer_ids.len());
    for row in 0..contrib.n_rows {
        let values = contrib.row(row, 0);
        let mut idx: Vec<usize> = (0..names.len()).filter(|&j| values[j] > 0.0).collect();
        idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        idx.truncate(3);
        if idx.is_empty() {
            out.push(None);
            continue;
        }
        let text = idx
            .iter()
            .map(|&j| {
                let v = table
                    .frame
                    .column(&names[j])
                    .map(|c| c.text(row).unwrap_or_else(|| "missing".into()))
                    .unwrap_or_default();
                format!("{}={} (+{:.2})", names[j], v, values[j])
            })
            .collect::<Vec<_>>()
            .join("; ");
        out.push(Some(text));
    }
    Ok(out)
}
