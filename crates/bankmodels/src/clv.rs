//! Customer lifetime value (客户终身价值) on the customer's purchases (card and account
//! spending, `txn_type = 'purchase'`): BG/NBD for how often a customer buys and whether they
//! are still active, Gamma-Gamma for how much they spend per purchase day.
//!
//! Validation first: the models are fitted on everything up to 90 days before the end of the
//! data and their prediction of each customer's purchase days in those last 90 days is
//! compared with what happened (total, mean absolute error, correlation). Then they are
//! refitted on all the data and score every customer: P(alive), expected purchase days in the
//! next 90 days, and CLV over 12 months at 1% a month, in yuan.

use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};
use zhiying_clv::{
    BgNbdParams, ClvOptions, CustomerSummary, FitOptions, GammaGammaParams, SummaryBuilder,
    SummaryOptions, TimeUnit,
};
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;
use zhiying_models::ColumnData;

use crate::scores::{ModelScores, ScoreRow, rank_bands};
use crate::{BankModelError, BankModelsOptions, ModelSummary};

pub const NAME: &str = "clv";
/// The probability-alive scores are written as their own model rows.
pub const P_ALIVE: &str = "p_alive";
pub const HOLDOUT_DAYS: i64 = 90;
pub const HORIZON_DAYS: f64 = 90.0;
pub const CLV_MONTHS: u32 = 12;
pub const MONTHLY_DISCOUNT: f64 = 0.01;
/// Fewer customers with a repeat purchase than this cannot support the fit.
const MIN_CUSTOMERS: usize = 50;

/// What the CLV model learned and how well it predicted the holdout period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvReport {
    pub bgnbd: BgNbdParams,
    pub bgnbd_log_likelihood: f64,
    pub gamma_gamma: Option<GammaGammaParams>,
    /// Pearson correlation of frequency and spend; Gamma-Gamma assumes it is small.
    pub frequency_spend_correlation: Option<f64>,
    pub calibration_end: NaiveDate,
    pub holdout_days: i64,
    /// Customers in the validation fit.
    pub validation_customers: usize,
    /// Purchase days in the holdout period: observed and predicted by the calibration fit.
    pub holdout_actual: f64,
    pub holdout_predicted: f64,
    /// Per-customer mean absolute error and Pearson correlation of predicted and actual.
    pub holdout_mae: f64,
    pub holdout_correlation: f64,
    /// Mean and total 12-month CLV of the scored customers, in yuan.
    pub mean_clv_yuan: f64,
    pub total_clv_yuan: f64,
}

/// Purchase days per customer (China time), summed in 分.
fn purchases_sql(end: NaiveDate) -> String {
    let e = (end + TimeDelta::days(1)).format("%Y-%m-%d");
    format!(
        "SELECT customer_id, day, CAST(SUM(amount_fen) AS DOUBLE) AS fen FROM (
  SELECT customer_id, floor(date_part('epoch', ts + INTERVAL '8 hours') / 86400.0) AS day, amount_fen
  FROM transactions
  WHERE direction = 'debit' AND txn_type = 'purchase' AND ts < TIMESTAMP '{e} 00:00:00'
) GROUP BY customer_id, day"
    )
}

fn epoch_day(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// (customer, day, yuan) of every purchase day up to `end`.
async fn purchase_days(
    engine: &dyn AnalyticsEngine,
    end: NaiveDate,
) -> Result<Vec<(String, i32, f64)>, BankModelError> {
    let batches = engine.query(&purchases_sql(end)).await?;
    let (ids, cols, _) = crate::features::batches_to_columns(&batches, "customer_id")?;
    let numeric = |name: &str| -> Result<&Vec<f64>, BankModelError> {
        match cols.iter().find(|c| c.name == name).map(|c| &c.data) {
            Some(ColumnData::Numeric(v)) => Ok(v),
            _ => Err(BankModelError::data(
                NAME,
                format!("purchase query: no numeric `{name}`"),
            )),
        }
    };
    let (days, fen) = (numeric("day")?, numeric("fen")?);
    Ok(ids
        .into_iter()
        .zip(days.iter().zip(fen))
        .filter(|(_, (d, f))| d.is_finite() && f.is_finite())
        .map(|(c, (d, f))| (c, *d as i32, f / 100.0))
        .collect())
}

/// SHA-256 of the purchase days the model learned from.
fn rows_hash(rows: &[(String, i32, f64)]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for (c, day, yuan) in rows {
        h.update(c.as_bytes());
        h.update(day.to_le_bytes());
        h.update(yuan.to_le_bytes());
    }
    format!("{:x}", h.finalize())
}

fn summarise(
    rows: &[(String, i32, f64)],
    calibration_end: i32,
    observation_end: Option<i32>,
) -> Result<Vec<CustomerSummary>, BankModelError> {
    let mut b = SummaryBuilder::new();
    for (c, day, yuan) in rows {
        b.push(c, *day, Some(*yuan));
    }
    let s = b
        .build(&SummaryOptions {
            calibration_end,
            observation_end,
            unit: TimeUnit::Days,
        })
        .map_err(|e| BankModelError::data(NAME, e.to_string()))?;
    let repeaters = s.customers.iter().filter(|c| c.rfm.x > 0.0).count();
    if repeaters < MIN_CUSTOMERS {
        return Err(BankModelError::data(
            NAME,
            format!("only {repeaters} customers with a repeat purchase; need {MIN_CUSTOMERS}"),
        ));
    }
    Ok(s.customers)
}

fn fit_bgnbd(
    customers: &[CustomerSummary],
) -> Result<zhiying_clv::FitReport<BgNbdParams>, BankModelError> {
    let rfm: Vec<_> = customers.iter().map(|c| c.rfm).collect();
    BgNbdParams::fit(&rfm, &FitOptions::default())
        .map_err(|e| BankModelError::data(NAME, format!("BG/NBD fit: {e}")))
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

pub(crate) async fn train_and_score(
    engine: &dyn AnalyticsEngine,
    dd: &DataDir,
    end: NaiveDate,
    _opts: &BankModelsOptions,
) -> Result<(ModelSummary, Vec<ModelScores>, ClvReport), BankModelError> {
    let rows = purchase_days(engine, end).await?;
    let end_day = epoch_day(end);
    let calibration_end = end - TimeDelta::days(HOLDOUT_DAYS);

    // Validation: fit on the calibration period, predict the holdout.
    let calib = summarise(&rows, epoch_day(calibration_end), Some(end_day))?;
    let calib_fit = fit_bgnbd(&calib)?;
    let (mut predicted, mut actual) = (Vec::new(), Vec::new());
    for c in &calib {
        let h = c.holdout_duration.unwrap_or(HOLDOUT_DAYS as f64);
        predicted.push(calib_fit.params.conditional_expected_purchases(h, &c.rfm));
        actual.push(c.x_holdout.unwrap_or(0.0));
    }
    let mae = predicted
        .iter()
        .zip(&actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / predicted.len().max(1) as f64;

    // Scoring: refit on everything.
    let all = summarise(&rows, end_day, None)?;
    let fit = fit_bgnbd(&all)?;
    let (x, z): (Vec<f64>, Vec<f64>) = all
        .iter()
        .filter_map(|c| Some((c.rfm.x, c.zbar?)))
        .filter(|(x, z)| *x > 0.0 && *z > 0.0)
        .unzip();
    let gg = GammaGammaParams::fit(&x, &z, &FitOptions::default()).ok();
    let clv_opts = ClvOptions {
        months: CLV_MONTHS,
        monthly_discount_rate: MONTHLY_DISCOUNT,
        unit: TimeUnit::Days,
    };
    let preds = zhiying_clv::predict(
        &fit.params,
        gg.as_ref().map(|g| &g.report.params),
        &all,
        HORIZON_DAYS,
        &clv_opts,
    )
    .map_err(|e| BankModelError::data(NAME, format!("CLV prediction: {e}")))?;

    let clv: Vec<f64> = preds.iter().map(|p| p.clv.unwrap_or(0.0)).collect();
    let alive: Vec<f64> = preds.iter().map(|p| p.probability_alive).collect();
    let clv_rows: Vec<ScoreRow> = preds
        .iter()
        .zip(rank_bands(&clv))
        .map(|(p, band)| ScoreRow {
            customer_id: p.customer.clone(),
            model: NAME.into(),
            score: p.clv.unwrap_or(0.0),
            band: Some(band.into()),
            reasons: Some(format!(
                "p_alive={:.2}; purchase_days_90d={:.1}; spend_per_day={:.0} yuan; past: x={}, recency={}d, age={}d",
                p.probability_alive,
                p.expected_purchases,
                p.expected_spend.unwrap_or(0.0),
                p.x,
                p.t_x,
                p.t
            )),
        })
        .collect();
    // Low P(alive) is the risk, so the band ranks 1 − P(alive).
    let inactive: Vec<f64> = alive.iter().map(|a| 1.0 - a).collect();
    let alive_rows: Vec<ScoreRow> = preds
        .iter()
        .zip(rank_bands(&inactive))
        .map(|(p, band)| ScoreRow {
            customer_id: p.customer.clone(),
            model: P_ALIVE.into(),
            score: p.probability_alive,
            band: Some(band.into()),
            reasons: None,
        })
        .collect();

    let report = ClvReport {
        bgnbd: fit.params,
        bgnbd_log_likelihood: fit.log_likelihood,
        gamma_gamma: gg.as_ref().map(|g| g.report.params),
        frequency_spend_correlation: gg.as_ref().map(|g| g.frequency_spend_correlation),
        calibration_end,
        holdout_days: HOLDOUT_DAYS,
        validation_customers: calib.len(),
        holdout_actual: actual.iter().sum(),
        holdout_predicted: predicted.iter().sum(),
        holdout_mae: mae,
        holdout_correlation: pearson(&predicted, &actual),
        mean_clv_yuan: clv.iter().sum::<f64>() / clv.len().max(1) as f64,
        total_clv_yuan: clv.iter().sum(),
    };
    let version = crate::version_of(end, &report);
    let mut summary = ModelSummary {
        name: NAME.into(),
        kind: "clv".into(),
        version: version.clone(),
        label: format!(
            "BG/NBD + Gamma-Gamma on purchase days; validated on the last {HOLDOUT_DAYS} days (predicted {:.0} vs actual {:.0} purchase days, correlation {:.2}); CLV over {CLV_MONTHS} months at {}%/month",
            report.holdout_predicted,
            report.holdout_actual,
            report.holdout_correlation,
            MONTHLY_DISCOUNT * 100.0
        ),
        train_snapshot: calibration_end,
        score_snapshot: end,
        train_rows: calib.len(),
        test_rows: calib.len(),
        positives: 0,
        test_auc: None,
        test_ks: None,
        top_features: Vec::new(),
        scored: clv_rows.len(),
        artifact: Default::default(),
        report: None,
        clv: Some(report.clone()),
        training_data_hash: rows_hash(&rows),
        params: serde_json::json!({
            "holdout_days": HOLDOUT_DAYS,
            "horizon_days": HORIZON_DAYS,
            "clv_months": CLV_MONTHS,
            "monthly_discount_rate": MONTHLY_DISCOUNT,
            "unit": "days",
        }),
    };
    crate::save_model(dd, &mut summary, None, None, None)?;
    let set = |model: &str, rows| ModelScores {
        model: model.into(),
        version: version.clone(),
        as_of: end.to_string(),
        rows,
    };
    Ok((
        summary,
        vec![set(NAME, clv_rows), set(P_ALIVE, alive_rows)],
        report,
    ))
}
