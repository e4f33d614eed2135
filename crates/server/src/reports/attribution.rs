//! Attribution by channel on the campaign report: which channels earned the conversions of
//! the customers the campaign reached.
//!
//! Paths come from the contact history: every contact (of any campaign) sent or delivered
//! to a customer this campaign reached, from [`LOOKBACK_DAYS`] before the campaign's first
//! contact to its last contact or response. Conversions are the campaign's `convert` and
//! `accept` responses of those customers, one per customer (the first, worth the customer's
//! total revenue), as `zhiying-measure` counts converted customers. `zhiying-attribution`
//! then cuts the paths (a conversion's path is the touches in the lookback before it; the
//! touches after a customer's last conversion form a non-converting path) and runs
//! last-touch, first-touch, linear, time-decay, the Markov removal effect and Shapley.
//!
//! Attribution is correlational: it splits the observed conversions over channels. What the
//! campaign *caused* is the effect against the holdout, above it on the page.

use serde::{Deserialize, Serialize};
use zhiying_attribution::{
    AttributionConfig, AttributionReport, Conversion, Model, PathOptions, PathStats,
    PathStatsOptions, Touchpoint, attribute, build_paths, path_stats,
};
use zhiying_engine::{AnalyticsEngine, Row, sql_literal};

use super::{i, s};

/// Touches older than this (days) before a conversion are not on its path.
pub const LOOKBACK_DAYS: i64 = 30;

/// The models the report shows, in this order.
pub const MODELS: [Model; 6] = [
    Model::LastTouch,
    Model::FirstTouch,
    Model::Linear,
    Model::TimeDecay,
    Model::Markov,
    Model::Shapley,
];

/// Channel contribution under each model, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionSection {
    /// `ok`; `single_channel` when every touch was on one channel (each model then gives
    /// it every conversion, so there is nothing to compare); `skipped` with a `note`.
    pub status: String,
    pub note: Option<String>,
    pub lookback_days: i64,
    /// Customers the campaign reached (their touches make the paths).
    pub customers: u64,
    /// Touches on their paths (contacts sent or delivered, any campaign).
    pub touches: u64,
    /// Converted reached customers (what the models distribute, plus the unattributed).
    pub conversions: u64,
    /// The channels touched, in the report's order.
    pub channels: Vec<String>,
    /// Every path has a single touch: rule-based and data-driven models then agree.
    pub single_touch: bool,
    pub report: Option<AttributionReport>,
    pub path_stats: Option<PathStats>,
}

/// Contacts sent or delivered to the customers the campaign reached, inside its window.
fn touches_sql(id: &str) -> String {
    let lit = sql_literal(id);
    format!(
        "WITH me AS (
  SELECT DISTINCT customer_id FROM contacts
  WHERE campaign_id = {lit} AND status IN ('sent', 'delivered')
), span AS (
  SELECT MIN(ts) - INTERVAL '{LOOKBACK_DAYS} days' AS t0, MAX(ts) AS t1 FROM (
    SELECT ts FROM contacts WHERE campaign_id = {lit}
    UNION ALL SELECT ts FROM responses WHERE campaign_id = {lit}
  ) w
)
SELECT k.customer_id, CAST(date_part('epoch', k.ts) * 1000000 AS BIGINT) AS ts_us,
  k.channel, k.campaign_id
FROM contacts k JOIN me ON me.customer_id = k.customer_id CROSS JOIN span
WHERE k.status IN ('sent', 'delivered') AND k.ts >= span.t0 AND k.ts <= span.t1
ORDER BY k.customer_id, ts_us, k.contact_id"
    )
}

/// The first conversion of each reached customer, worth their total revenue from it.
fn conversions_sql(id: &str) -> String {
    let lit = sql_literal(id);
    format!(
        "WITH me AS (
  SELECT DISTINCT customer_id FROM contacts
  WHERE campaign_id = {lit} AND status IN ('sent', 'delivered')
)
SELECT r.customer_id, CAST(date_part('epoch', MIN(r.ts)) * 1000000 AS BIGINT) AS ts_us,
  SUM(coalesce(r.revenue_fen, 0)) AS revenue_fen
FROM responses r JOIN me ON me.customer_id = r.customer_id
WHERE r.campaign_id = {lit} AND r.response_type IN ('convert', 'accept')
GROUP BY r.customer_id ORDER BY r.customer_id"
    )
}

fn skipped(note: impl Into<String>) -> AttributionSection {
    AttributionSection {
        status: "skipped".into(),
        note: Some(note.into()),
        lookback_days: LOOKBACK_DAYS,
        customers: 0,
        touches: 0,
        conversions: 0,
        channels: Vec::new(),
        single_touch: false,
        report: None,
        path_stats: None,
    }
}

fn touchpoint(r: &Row) -> Option<Touchpoint> {
    Some(Touchpoint {
        customer_id: s(r, "customer_id")?,
        timestamp: r.get("ts_us")?.as_i64()?,
        channel: s(r, "channel")?,
        campaign: s(r, "campaign_id"),
    })
}

fn conversion(r: &Row) -> Option<Conversion> {
    Some(Conversion {
        customer_id: s(r, "customer_id")?,
        timestamp: r.get("ts_us")?.as_i64()?,
        value: i(r, "revenue_fen") as f64,
    })
}

/// The options the report attributes with (also what a test rebuilds the paths with).
pub fn options() -> (PathOptions, AttributionConfig) {
    (
        PathOptions {
            lookback_days: LOOKBACK_DAYS as f64,
            ..PathOptions::default()
        },
        AttributionConfig {
            models: MODELS.to_vec(),
            ..AttributionConfig::default()
        },
    )
}

/// Paths of the campaign's reached customers and every model's credit per channel.
pub async fn attribution_section(engine: &dyn AnalyticsEngine, id: &str) -> AttributionSection {
    let (touches_q, conversions_q) = (touches_sql(id), conversions_sql(id));
    let rows = tokio::try_join!(
        engine.query_json(&touches_q),
        engine.query_json(&conversions_q),
    );
    let (touch_rows, conv_rows) = match rows {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("attribution paths of {id}: {e}");
            return skipped(format!("the contact history could not be read: {e}"));
        }
    };
    let touches: Vec<Touchpoint> = touch_rows.iter().filter_map(touchpoint).collect();
    let conversions: Vec<Conversion> = conv_rows.iter().filter_map(conversion).collect();
    let customers = {
        let mut ids: Vec<&str> = touches.iter().map(|t| t.customer_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u64
    };
    let (n_touches, n_conv) = (touches.len() as u64, conversions.len() as u64);
    let base = |mut a: AttributionSection| {
        a.customers = customers;
        a.touches = n_touches;
        a.conversions = n_conv;
        a
    };
    if touches.is_empty() {
        return base(skipped(
            "no contact of this campaign was sent or delivered, so there are no paths",
        ));
    }
    if conversions.is_empty() {
        return base(skipped(
            "no customer the campaign reached has converted yet: nothing to attribute",
        ));
    }
    let (path_opts, cfg) = options();
    let computed = tokio::task::spawn_blocking(move || {
        let paths = build_paths(&touches, &conversions, &path_opts).map_err(|e| e.to_string())?;
        let report = attribute(&paths, &cfg).map_err(|e| e.to_string())?;
        let stats = path_stats(&paths, &PathStatsOptions::default());
        let single_touch = paths.iter().all(|p| p.steps.len() == 1);
        Ok::<_, String>((report, stats, single_touch))
    })
    .await;
    let (report, stats, single_touch) = match computed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return base(skipped(e)),
        Err(e) => return base(skipped(format!("the attribution task failed: {e}"))),
    };
    let channels: Vec<String> = report.channels.iter().map(|c| c.channel.clone()).collect();
    let (status, note) = if channels.len() == 1 {
        (
            "single_channel",
            Some(format!(
                "every touch was on one channel ({}): it gets every conversion under every model",
                channels[0]
            )),
        )
    } else if single_touch {
        (
            "ok",
            Some("every path has a single touch, so every model gives the same credit".into()),
        )
    } else {
        ("ok", None)
    };
    AttributionSection {
        status: status.into(),
        note,
        lookback_days: LOOKBACK_DAYS,
        customers,
        touches: n_touches,
        conversions: n_conv,
        channels,
        single_touch,
        report: Some(report),
        path_stats: Some(stats),
    }
}
