//! Campaign measurement on the canonical data, computed by the analytics engine:
//!
//! - [`kpis`]: reach, delivery, open, click, conversion, revenue, cost, ROI, complaints and
//!   unsubscribes per campaign, channel, group and day — defined once here, as SQL over the
//!   `contacts`, `responses` and `offers` facts.
//! - [`campaign_effects`]: what each campaign *caused*: treated customers against the
//!   customers it deliberately did not contact (holdout, and a control group that was not
//!   contacted), with a two-proportion test, the 95% interval of the lift, incremental
//!   conversions and revenue with intervals, ROI, and a plain-language verdict in zh and en.
//!
//! ```no_run
//! # async fn run(engine: &dyn zhiying_engine::AnalyticsEngine) -> Result<(), zhiying_measure::MeasureError> {
//! for e in zhiying_measure::campaign_effects(engine, 0.05).await? {
//!     println!("{}", e.verdict_en);
//! }
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};
use zhiying_engine::{AnalyticsEngine, Row};
use zhiying_experiment::stats::two_proportions;

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Engine(#[from] zhiying_engine::EngineError),
    #[error(transparent)]
    Stats(#[from] zhiying_experiment::ExperimentError),
}

/// How KPIs are broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    Campaign,
    CampaignGroup,
    CampaignChannel,
    CampaignDay,
    /// By the customer's cluster in the latest segmentation (`c1`, `c2`, …; `none`).
    CampaignSegment,
}

impl Breakdown {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Breakdown::Campaign => &["campaign_id"],
            Breakdown::CampaignGroup => &["campaign_id", "contact_group"],
            Breakdown::CampaignChannel => &["campaign_id", "channel"],
            Breakdown::CampaignDay => &["campaign_id", "day"],
            Breakdown::CampaignSegment => &["campaign_id", "segment"],
        }
    }
}

/// One row of the KPI table. Rates are over contacted customers (`reach`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiRow {
    pub campaign_id: String,
    pub contact_group: Option<String>,
    pub channel: Option<String>,
    pub day: Option<String>,
    pub segment: Option<String>,
    /// Customers with a contact row (any status, holdout included).
    pub customers: u64,
    /// Customers actually contacted (status sent or delivered).
    pub reach: u64,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub converted: u64,
    pub complaints: u64,
    pub unsubscribed: u64,
    pub revenue_fen: i64,
    pub cost_fen: i64,
    pub delivery_rate: f64,
    pub open_rate: f64,
    pub click_rate: f64,
    pub conversion_rate: f64,
    pub complaint_rate: f64,
    /// Customers still transacting 30 days after the contact (holdout included: compare groups).
    pub retained: u64,
    /// `retained` over `customers`.
    pub retention_rate: f64,
    /// Mean 12-month CLV (yuan) of the customers, from the CLV model; `None` without scores.
    pub avg_clv_yuan: Option<f64>,
    /// (revenue − cost) / cost; `None` without cost.
    pub roi: Option<f64>,
}

/// The KPI statement: one row per contact, its customer's responses to the same campaign
/// (within the campaign, counted once per customer), the offer's cost per contact, whether
/// the customer still transacts 30 days later, their CLV score and their segment.
pub fn kpi_sql(by: Breakdown) -> String {
    let keys = by.keys();
    let select_keys = keys
        .iter()
        .map(|k| format!("k.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH k AS (
  SELECT c.campaign_id, c.customer_id, c.channel, c.\"group\" AS contact_group, c.status,
         CAST(CAST(c.ts AS DATE) AS VARCHAR) AS day, c.ts AS contact_ts,
         coalesce(sg.segment, 'none') AS segment, coalesce(o.cost_fen, 0) AS cost_fen
  FROM contacts c LEFT JOIN offers o ON o.offer_id = c.offer_id
  LEFT JOIN (SELECT customer_id, concat('c', CAST(MAX(cluster) AS VARCHAR)) AS segment
             FROM segments GROUP BY customer_id) sg ON sg.customer_id = c.customer_id
), t AS (
  SELECT customer_id, MAX(ts) AS last_ts FROM transactions GROUP BY customer_id
), v AS (
  SELECT customer_id, MAX(score) AS clv FROM scores WHERE model = 'clv' GROUP BY customer_id
), r AS (
  SELECT campaign_id, customer_id,
    MAX(CASE WHEN response_type = 'open' THEN 1 ELSE 0 END) AS opened,
    MAX(CASE WHEN response_type = 'click' THEN 1 ELSE 0 END) AS clicked,
    MAX(CASE WHEN response_type IN ('convert', 'accept') THEN 1 ELSE 0 END) AS converted,
    MAX(CASE WHEN response_type = 'complaint' THEN 1 ELSE 0 END) AS complained,
    MAX(CASE WHEN response_type = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribed,
    coalesce(SUM(revenue_fen) FILTER (WHERE response_type IN ('convert', 'accept')), 0) AS revenue_fen
  FROM responses WHERE campaign_id IS NOT NULL
  GROUP BY campaign_id, customer_id
)
SELECT {select_keys},
  COUNT(*) AS customers,
  SUM(CASE WHEN k.status IN ('sent', 'delivered') THEN 1 ELSE 0 END) AS reach,
  SUM(CASE WHEN k.status = 'delivered' THEN 1 ELSE 0 END) AS delivered,
  SUM(coalesce(r.opened, 0)) AS opened,
  SUM(coalesce(r.clicked, 0)) AS clicked,
  SUM(coalesce(r.converted, 0)) AS converted,
  SUM(coalesce(r.complained, 0)) AS complaints,
  SUM(coalesce(r.unsubscribed, 0)) AS unsubscribed,
  SUM(coalesce(r.revenue_fen, 0)) AS revenue_fen,
  SUM(CASE WHEN k.status IN ('sent', 'delivered', 'failed') THEN k.cost_fen ELSE 0 END) AS cost_fen,
  SUM(CASE WHEN t.last_ts >= k.contact_ts + INTERVAL '30 days' THEN 1 ELSE 0 END) AS retained,
  AVG(v.clv) AS avg_clv_yuan
FROM k LEFT JOIN r ON r.campaign_id = k.campaign_id AND r.customer_id = k.customer_id
LEFT JOIN t ON t.customer_id = k.customer_id
LEFT JOIN v ON v.customer_id = k.customer_id
GROUP BY {select_keys}
ORDER BY {select_keys}"
    )
}

fn u(r: &Row, k: &str) -> u64 {
    r.get(k).and_then(|v| v.as_u64()).unwrap_or(0)
}
fn i(r: &Row, k: &str) -> i64 {
    r.get(k).and_then(|v| v.as_i64()).unwrap_or(0)
}
fn s(r: &Row, k: &str) -> Option<String> {
    r.get(k).and_then(|v| v.as_str()).map(str::to_string)
}
fn rate(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// KPIs by the chosen breakdown.
pub async fn kpis(
    engine: &dyn AnalyticsEngine,
    by: Breakdown,
) -> Result<Vec<KpiRow>, MeasureError> {
    let rows = engine.query_json(&kpi_sql(by)).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let reach = u(r, "reach");
            let (revenue, cost) = (i(r, "revenue_fen"), i(r, "cost_fen"));
            KpiRow {
                campaign_id: s(r, "campaign_id").unwrap_or_default(),
                contact_group: s(r, "contact_group"),
                channel: s(r, "channel"),
                day: s(r, "day"),
                segment: s(r, "segment"),
                customers: u(r, "customers"),
                reach,
                delivered: u(r, "delivered"),
                opened: u(r, "opened"),
                clicked: u(r, "clicked"),
                converted: u(r, "converted"),
                complaints: u(r, "complaints"),
                unsubscribed: u(r, "unsubscribed"),
                revenue_fen: revenue,
                cost_fen: cost,
                delivery_rate: rate(u(r, "delivered"), reach),
                open_rate: rate(u(r, "opened"), reach),
                click_rate: rate(u(r, "clicked"), reach),
                conversion_rate: rate(u(r, "converted"), u(r, "customers")),
                complaint_rate: rate(u(r, "complaints"), reach),
                retained: u(r, "retained"),
                retention_rate: rate(u(r, "retained"), u(r, "customers")),
                avg_clv_yuan: r.get("avg_clv_yuan").and_then(|v| v.as_f64()),
                roi: (cost > 0).then(|| (revenue - cost) as f64 / cost as f64),
            }
        })
        .collect())
}

/// A group's size and outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOutcome {
    pub customers: u64,
    pub converted: u64,
    pub revenue_fen: i64,
    pub conversion_rate: f64,
}

/// What one campaign caused, treated against untreated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignEffect {
    pub campaign_id: String,
    pub treated: GroupOutcome,
    /// Customers the campaign selected but did not contact (holdout, plus any control group
    /// that was not contacted either).
    pub untreated: GroupOutcome,
    /// Treated minus untreated conversion rate, with its interval.
    pub lift: f64,
    pub lift_ci: [f64; 2],
    pub relative_lift: f64,
    pub p_value: f64,
    /// Lift × treated customers, with the interval scaled the same way.
    pub incremental_conversions: f64,
    pub incremental_conversions_ci: [f64; 2],
    /// Treated revenue minus what the treated would have earned at the untreated rate.
    pub incremental_revenue_fen: f64,
    pub cost_fen: i64,
    /// (incremental revenue − cost) / cost.
    pub roi: Option<f64>,
    pub significant: bool,
    pub verdict_en: String,
    pub verdict_zh: String,
}

/// Every campaign's effect on conversion with a `1 − alpha` interval.
pub async fn campaign_effects(
    engine: &dyn AnalyticsEngine,
    alpha: f64,
) -> Result<Vec<CampaignEffect>, MeasureError> {
    let rows = kpis(engine, Breakdown::CampaignGroup).await?;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.campaign_id.as_str()).collect();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let of = |g: &str| {
            rows.iter()
                .find(|r| r.campaign_id == id && r.contact_group.as_deref() == Some(g))
        };
        let Some(t) = of("treatment") else { continue };
        // Untreated: the holdout, plus a control group nobody in which was contacted.
        let mut untreated: Vec<&KpiRow> = of("holdout").into_iter().collect();
        if let Some(c) = of("control")
            && c.reach == 0
        {
            untreated.push(c);
        }
        let (n_u, x_u, rev_u) = untreated.iter().fold((0u64, 0u64, 0i64), |a, r| {
            (a.0 + r.customers, a.1 + r.converted, a.2 + r.revenue_fen)
        });
        if n_u == 0 || t.customers == 0 {
            continue;
        }
        let cmp = two_proportions(
            t.converted as f64,
            t.customers as f64,
            x_u as f64,
            n_u as f64,
            alpha,
        )?;
        let n_t = t.customers as f64;
        let rev_per_u = rev_u as f64 / n_u as f64;
        let incremental_revenue = t.revenue_fen as f64 - rev_per_u * n_t;
        let cost = t.cost_fen;
        let roi = (cost > 0).then(|| (incremental_revenue - cost as f64) / cost as f64);
        let significant = cmp.p_value < alpha;
        let level = ((1.0 - alpha) * 100.0).round();
        let inc = cmp.diff * n_t;
        let (lo, hi) = (cmp.ci.lower * n_t, cmp.ci.upper * n_t);
        let roi_en = roi.map_or("no cost recorded".to_string(), |r| {
            format!("ROI {:+.0}%", r * 100.0)
        });
        let roi_zh = roi.map_or("无成本记录".to_string(), |r| {
            format!("投资回报率 {:+.0}%", r * 100.0)
        });
        let (verdict_en, verdict_zh) = if significant {
            (
                format!(
                    "{id} caused {inc:+.0} conversions among {} treated customers ({level}% CI {lo:+.0} to {hi:+.0}); conversion {:.2}% vs {:.2}% untreated; incremental revenue ¥{:.0}; {roi_en}.",
                    t.customers,
                    t.converted as f64 / n_t * 100.0,
                    x_u as f64 / n_u as f64 * 100.0,
                    incremental_revenue / 100.0
                ),
                format!(
                    "{id} 带来 {inc:+.0} 次转化（{} 名触达客户，{level}% 置信区间 {lo:+.0} 至 {hi:+.0}）；转化率 {:.2}% 对比未触达 {:.2}%；增量收入 ¥{:.0}；{roi_zh}。",
                    t.customers,
                    t.converted as f64 / n_t * 100.0,
                    x_u as f64 / n_u as f64 * 100.0,
                    incremental_revenue / 100.0
                ),
            )
        } else {
            (
                format!(
                    "{id}: no detectable effect on conversion (lift {:+.2} points, {level}% CI {:+.2} to {:+.2}; p = {:.2}).",
                    cmp.diff * 100.0,
                    cmp.ci.lower * 100.0,
                    cmp.ci.upper * 100.0,
                    cmp.p_value
                ),
                format!(
                    "{id}：未检测到对转化的显著效果（提升 {:+.2} 个百分点，{level}% 置信区间 {:+.2} 至 {:+.2}；p = {:.2}）。",
                    cmp.diff * 100.0,
                    cmp.ci.lower * 100.0,
                    cmp.ci.upper * 100.0,
                    cmp.p_value
                ),
            )
        };
        out.push(CampaignEffect {
            campaign_id: id.to_string(),
            treated: GroupOutcome {
                customers: t.customers,
                converted: t.converted,
                revenue_fen: t.revenue_fen,
                conversion_rate: t.conversion_rate,
            },
            untreated: GroupOutcome {
                customers: n_u,
                converted: x_u,
                revenue_fen: rev_u,
                conversion_rate: rate(x_u, n_u),
            },
            lift: cmp.diff,
            lift_ci: [cmp.ci.lower, cmp.ci.upper],
            relative_lift: cmp.rel,
            p_value: cmp.p_value,
            incremental_conversions: inc,
            incremental_conversions_ci: [lo, hi],
            incremental_revenue_fen: incremental_revenue,
            cost_fen: cost,
            roi,
            significant,
            verdict_en,
            verdict_zh,
        });
    }
    Ok(out)
}
