//! Customer features at a snapshot date, computed by one SQL statement on the analytics
//! engine. Nothing on or after the end of the snapshot day is read, so the same query
//! serves training (snapshot in the past, label from the later performance window) and
//! scoring (snapshot = the last day of data).

use chrono::NaiveDate;
use zhiying_engine::AnalyticsEngine;
use zhiying_engine::arrow::array::{Array, AsArray, RecordBatch};
use zhiying_engine::arrow::compute::cast;
use zhiying_engine::arrow::datatypes::{DataType, Float64Type};
use zhiying_models::{Column, Frame};

use crate::BankModelError;

/// Product categories a customer may hold beyond the demand deposit everyone has.
pub const HOLDING_CATEGORIES: &[&str] = &[
    "time_deposit",
    "wealth",
    "fund",
    "insurance",
    "credit_card",
    "consumer_loan",
    "mortgage",
    "pension",
    "gold",
];

/// Features of every customer opened by the snapshot date, one row per customer.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    pub snapshot: NaiveDate,
    pub customer_ids: Vec<String>,
    pub frame: Frame,
    /// 1 when the customer had a transaction or event in the 30 days before the snapshot's end.
    pub active_30d: Vec<bool>,
}

impl FeatureTable {
    /// The rows at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Result<FeatureTable, BankModelError> {
        Ok(FeatureTable {
            snapshot: self.snapshot,
            customer_ids: rows.iter().map(|&i| self.customer_ids[i].clone()).collect(),
            frame: self.frame.select_rows(rows)?,
            active_30d: rows.iter().map(|&i| self.active_30d[i]).collect(),
        })
    }
}

fn ts(d: NaiveDate) -> String {
    format!("TIMESTAMP '{} 00:00:00'", d.format("%Y-%m-%d"))
}

/// The feature query at `snapshot`. Columns: `customer_id`, `active_30d`, then features.
pub fn feature_sql(snapshot: NaiveDate) -> String {
    let s = format!("DATE '{}'", snapshot.format("%Y-%m-%d"));
    let end = ts(snapshot + chrono::Days::new(1));
    let holdings: String = HOLDING_CATEGORIES
        .iter()
        .map(|c| format!(",\n    MAX(CASE WHEN p.category = '{c}' THEN 1 ELSE 0 END) AS has_{c}"))
        .collect();
    let has_cols: String = HOLDING_CATEGORIES
        .iter()
        .map(|c| format!(", coalesce(h.has_{c}, 0) AS has_{c}"))
        .collect();
    format!(
        "WITH t AS (
  SELECT customer_id,
    COUNT(*) FILTER (WHERE ts >= {end} - INTERVAL '30 days') AS txn_30d,
    COUNT(*) FILTER (WHERE ts >= {end} - INTERVAL '90 days') AS txn_90d,
    COUNT(*) FILTER (WHERE ts < {end} - INTERVAL '90 days') AS txn_prev_90d,
    COUNT(*) FILTER (WHERE txn_type = 'purchase' AND ts >= {end} - INTERVAL '90 days') AS purchases_90d,
    COUNT(*) FILTER (WHERE txn_type = 'purchase' AND ts < {end} - INTERVAL '90 days') AS purchases_prev_90d,
    COUNT(*) FILTER (WHERE txn_type = 'salary' AND ts >= {end} - INTERVAL '62 days') AS salary_60d,
    COUNT(*) FILTER (WHERE txn_type = 'salary') AS salary_180d,
    COUNT(*) FILTER (WHERE txn_type = 'competitor_transfer' AND ts >= {end} - INTERVAL '90 days') AS competitor_transfers_90d,
    coalesce(SUM(amount_fen) FILTER (WHERE txn_type = 'competitor_transfer' AND ts >= {end} - INTERVAL '90 days'), 0) / 100.0 AS competitor_yuan_90d,
    COUNT(*) FILTER (WHERE txn_type = 'atm_withdrawal' AND ts >= {end} - INTERVAL '90 days') AS atm_90d,
    coalesce(SUM(amount_fen) FILTER (WHERE direction = 'credit' AND ts >= {end} - INTERVAL '90 days'), 0) / 100.0 AS credit_yuan_90d,
    coalesce(SUM(amount_fen) FILTER (WHERE direction = 'debit' AND ts >= {end} - INTERVAL '90 days'), 0) / 100.0 AS debit_yuan_90d,
    coalesce(SUM(amount_fen) FILTER (WHERE direction = 'credit' AND ts < {end} - INTERVAL '90 days'), 0) / 100.0 AS credit_yuan_prev_90d,
    (date_part('epoch', {end}) - date_part('epoch', MAX(ts))) / 86400.0 AS days_since_txn
  FROM transactions WHERE ts < {end} AND ts >= {end} - INTERVAL '180 days'
  GROUP BY customer_id
), e AS (
  SELECT customer_id,
    COUNT(*) FILTER (WHERE ts >= {end} - INTERVAL '30 days') AS events_30d,
    COUNT(*) FILTER (WHERE ts >= {end} - INTERVAL '90 days') AS events_90d,
    COUNT(*) FILTER (WHERE ts < {end} - INTERVAL '90 days') AS events_prev_90d,
    COUNT(*) FILTER (WHERE event_type = 'complaint' AND ts >= {end} - INTERVAL '90 days') AS complaints_90d,
    COUNT(*) FILTER (WHERE event_type = 'service_call' AND ts >= {end} - INTERVAL '90 days') AS service_calls_90d,
    COUNT(*) FILTER (WHERE event_type = 'product_view' AND ts >= {end} - INTERVAL '90 days') AS product_views_90d,
    CAST(COUNT(*) FILTER (WHERE channel IN ('mobile_app', 'web', 'wechat')) AS DOUBLE) / NULLIF(COUNT(*), 0) AS digital_share,
    (date_part('epoch', {end}) - date_part('epoch', MAX(ts))) / 86400.0 AS days_since_event
  FROM events WHERE ts < {end} AND ts >= {end} - INTERVAL '180 days'
  GROUP BY customer_id
), h AS (
  SELECT h.customer_id,
    COUNT(DISTINCT p.category) FILTER (WHERE p.category <> 'deposit') AS n_products{holdings}
  FROM product_holdings h JOIN products p ON p.product_id = h.product_id
  WHERE h.start_date <= {s} AND (h.end_date IS NULL OR h.end_date > {s}) AND h.status <> 'closed'
  GROUP BY h.customer_id
)
SELECT c.customer_id,
  (coalesce(t.txn_30d, 0) + coalesce(e.events_30d, 0)) > 0 AS active_30d,
  CASE WHEN c.birth_date IS NULL THEN NULL ELSE
    CAST(date_part('year', {s}) - date_part('year', c.birth_date) AS DOUBLE) END AS age,
  CAST(c.monthly_income_fen AS DOUBLE) / 100.0 AS income_yuan,
  (date_part('epoch', CAST({s} AS TIMESTAMP)) - date_part('epoch', CAST(c.open_date AS TIMESTAMP))) / 86400.0 / 365.25 AS tenure_years,
  c.gender, c.occupation, c.education, c.marital_status, c.risk_level,
  coalesce(t.txn_30d, 0) AS txn_30d, coalesce(t.txn_90d, 0) AS txn_90d,
  coalesce(t.txn_prev_90d, 0) AS txn_prev_90d,
  CAST(coalesce(t.txn_90d, 0) + 1 AS DOUBLE) / (coalesce(t.txn_prev_90d, 0) + 1) AS txn_trend,
  coalesce(t.purchases_90d, 0) AS purchases_90d,
  CAST(coalesce(t.purchases_90d, 0) + 1 AS DOUBLE) / (coalesce(t.purchases_prev_90d, 0) + 1) AS purchase_trend,
  coalesce(t.salary_60d, 0) AS salary_60d, coalesce(t.salary_180d, 0) AS salary_180d,
  coalesce(t.competitor_transfers_90d, 0) AS competitor_transfers_90d,
  coalesce(t.competitor_yuan_90d, 0) AS competitor_yuan_90d,
  coalesce(t.atm_90d, 0) AS atm_90d,
  coalesce(t.credit_yuan_90d, 0) AS credit_yuan_90d,
  coalesce(t.debit_yuan_90d, 0) AS debit_yuan_90d,
  coalesce(t.credit_yuan_90d, 0) - coalesce(t.debit_yuan_90d, 0) AS net_flow_yuan_90d,
  (coalesce(t.credit_yuan_90d, 0) + 1) / (coalesce(t.credit_yuan_prev_90d, 0) + 1) AS inflow_trend,
  t.days_since_txn,
  coalesce(e.events_30d, 0) AS events_30d, coalesce(e.events_90d, 0) AS events_90d,
  CAST(coalesce(e.events_90d, 0) + 1 AS DOUBLE) / (coalesce(e.events_prev_90d, 0) + 1) AS event_trend,
  coalesce(e.complaints_90d, 0) AS complaints_90d,
  coalesce(e.service_calls_90d, 0) AS service_calls_90d,
  coalesce(e.product_views_90d, 0) AS product_views_90d,
  e.digital_share, e.days_since_event,
  coalesce(h.n_products, 0) AS n_products{has_cols}
FROM customers c
LEFT JOIN t ON t.customer_id = c.customer_id
LEFT JOIN e ON e.customer_id = c.customer_id
LEFT JOIN h ON h.customer_id = c.customer_id
WHERE c.open_date <= {s}
ORDER BY c.customer_id"
    )
}

/// Runs [`feature_sql`] and turns the result into a typed frame (strings become
/// categorical columns, everything else numeric with NULL as missing).
pub async fn customer_features(
    engine: &dyn AnalyticsEngine,
    snapshot: NaiveDate,
) -> Result<FeatureTable, BankModelError> {
    let batches = engine.query(&feature_sql(snapshot)).await?;
    let (mut ids, mut frame_cols, active) = batches_to_columns(&batches, "customer_id")?;
    let active_30d = active
        .iter()
        .map(|v| v.is_some_and(|x| x > 0.5))
        .collect::<Vec<_>>();
    frame_cols.retain(|c| c.name != "active_30d");
    let frame = Frame::new(frame_cols)?;
    ids.shrink_to_fit();
    Ok(FeatureTable {
        snapshot,
        customer_ids: ids,
        frame,
        active_30d,
    })
}

/// Ids, feature columns and the `active_30d` flag of a query result.
pub(crate) type SplitColumns = (Vec<String>, Vec<Column>, Vec<Option<f64>>);

/// Splits query results into the id column, the other columns as frame columns, and the
/// `active_30d` flag (if present) as numbers.
pub(crate) fn batches_to_columns(
    batches: &[RecordBatch],
    id_column: &str,
) -> Result<SplitColumns, BankModelError> {
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    let schema = first.schema();
    let mut ids = Vec::new();
    let mut active = Vec::new();
    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        let is_text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        if name == id_column {
            for b in batches {
                let col = cast(b.column(i), &DataType::Utf8)?;
                let s = col.as_string::<i32>();
                ids.extend((0..s.len()).map(|r| s.value(r).to_string()));
            }
            continue;
        }
        if is_text {
            let mut vals: Vec<Option<String>> = Vec::new();
            for b in batches {
                let col = cast(b.column(i), &DataType::Utf8)?;
                let s = col.as_string::<i32>();
                vals.extend((0..s.len()).map(|r| s.is_valid(r).then(|| s.value(r).to_string())));
            }
            columns.push(Column::categorical(name, &vals));
        } else {
            let mut vals = Vec::new();
            for b in batches {
                let src = b.column(i);
                let src = if matches!(src.data_type(), DataType::Boolean) {
                    cast(src, &DataType::Int8)?
                } else {
                    src.clone()
                };
                let col = cast(&src, &DataType::Float64)?;
                let f = col.as_primitive::<Float64Type>();
                vals.extend((0..f.len()).map(|r| f.is_valid(r).then(|| f.value(r))));
            }
            if name == "active_30d" {
                active = vals;
            } else {
                columns.push(Column::numeric(
                    name,
                    vals.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                ));
            }
        }
    }
    Ok((ids, columns, active))
}
