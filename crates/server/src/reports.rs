//! Campaign reports and the experiments list (measurement in the console and the API).
//!
//! * `GET /v1/campaigns/{id}/report` and `/console/campaigns/{id}/report`: for any campaign
//!   with contacts in the facts (the synthetic bank's historical campaigns, imported ones,
//!   and those the campaign runner launches), the KPIs from `zhiying-measure` (reach,
//!   delivery, open, click, conversion, revenue, cost, ROI), a daily trend, the effect
//!   against the holdout with its 95% interval, incremental conversions and revenue, a Qini
//!   curve from a cross-fitted T-learner (`zhiying-uplift`) on the campaign's treated and
//!   untreated customers, attribution by channel over the reached customers' contact paths
//!   (`zhiying-attribution`: last/first touch, linear, time decay, Markov, Shapley), and the
//!   zh/en verdict. The uplift model is cached in `DATA_DIR/reports/uplift/<campaign>.json`,
//!   keyed by a fingerprint of its training rows: the CLI trains it when it simulates a
//!   campaign's responses ([`refresh_uplift`]), and a view that finds no matching cache
//!   starts the training in the background and shows `computing` until it is written.
//! * `GET /v1/experiments` and `/console/experiments`: every campaign with a control or
//!   holdout and every experiment (facts and store), with arms and their sizes, the
//!   sample-ratio-mismatch p-value (flagged at p < 0.001), and the power to detect the
//!   stated minimum detectable effect (`?mde=`, relative, default 10%) together with the
//!   effect the sample can detect at 80% power (flagged when power < 0.8).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hasher;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{LazyLock, Mutex};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_core::access::Permission;
use zhiying_engine::{AnalyticsEngine, Row, sql_literal};
use zhiying_experiment::power::{cohens_h, mde_proportions, power};
use zhiying_experiment::stats::{SRM_THRESHOLD, srm};
use zhiying_measure::{Breakdown, CampaignEffect, KpiRow};
use zhiying_models::{Column, Frame, GbdtConfig};
use zhiying_uplift::evaluate::{EvaluateOptions, Experiment, UpliftReport, evaluate_experiment};
use zhiying_uplift::learners::{Learner, OutcomeKind, UpliftConfig, default_gbdt};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::{Lang, Locale};

mod attribution;
pub use attribution::AttributionSection;

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/v1/campaigns/{id}/report",
            Permission::CampaignRead,
            report_api,
        )
        .get(
            "/console/campaigns/{id}/report",
            Permission::CampaignRead,
            report_page,
        )
        .get("/v1/experiments", Permission::CampaignRead, experiments_api)
        .get(
            "/console/experiments",
            Permission::CampaignRead,
            experiments_page,
        )
}

/// Significance level of every interval and test on these pages.
const ALPHA: f64 = 0.05;
/// Power a test should have at the stated minimum detectable effect.
const TARGET_POWER: f64 = 0.8;
/// Default minimum detectable effect, relative to the control rate.
const DEFAULT_MDE: f64 = 0.10;
/// Bump when the uplift features or settings change: old caches are then retrained.
const UPLIFT_CACHE_VERSION: u32 = 1;

// ---------------------------------------------------------------------------------------
// The campaign report
// ---------------------------------------------------------------------------------------

/// One day of a campaign: contacts made that day and responses received that day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    pub day: String,
    /// Customers contacted (sent or delivered) that day.
    pub reach: u64,
    /// Customers who opened, clicked or converted that day (any group).
    pub opened: u64,
    pub clicked: u64,
    pub converted: u64,
    pub revenue_fen: i64,
    /// Conversion rate so far: treated and untreated (holdout) customers.
    pub cumulative_rate_treated: f64,
    pub cumulative_rate_untreated: f64,
}

/// The uplift model behind the Qini curve, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftSection {
    /// `ok`, or `skipped` with a `note`.
    pub status: String,
    pub note: Option<String>,
    /// Whether it came from the cache in the data directory.
    pub cached: bool,
    pub model: Option<UpliftReport>,
}

/// Everything on the report page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReport {
    pub campaign_id: String,
    pub name: Option<String>,
    /// Campaign totals, as `zhiying measure kpis --by campaign` computes them.
    pub kpis: KpiRow,
    pub groups: Vec<KpiRow>,
    pub channels: Vec<KpiRow>,
    pub daily: Vec<DailyPoint>,
    /// Treated against untreated, as `zhiying measure campaigns` computes it; `None` without
    /// a holdout (or an uncontacted control group).
    pub effect: Option<CampaignEffect>,
    pub uplift: UpliftSection,
    /// Channel contribution to the reached customers' conversions under each model.
    pub attribution: AttributionSection,
}

fn engine_err(what: &str) -> impl Fn(zhiying_measure::MeasureError) -> ApiError + '_ {
    move |e| ApiError::internal(what, e)
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
fn f(r: &Row, k: &str) -> Option<f64> {
    r.get(k).and_then(|v| v.as_f64())
}

/// Builds the report of one campaign; `Ok(None)` when no contact names it.
pub async fn campaign_report(
    state: &AppState,
    id: &str,
) -> Result<Option<CampaignReport>, ApiError> {
    let engine: &dyn AnalyticsEngine = &*state.engine;
    let (totals, groups, channels, days, effects) = tokio::try_join!(
        zhiying_measure::kpis(engine, Breakdown::Campaign),
        zhiying_measure::kpis(engine, Breakdown::CampaignGroup),
        zhiying_measure::kpis(engine, Breakdown::CampaignChannel),
        zhiying_measure::kpis(engine, Breakdown::CampaignDay),
        zhiying_measure::campaign_effects(engine, ALPHA),
    )
    .map_err(engine_err("computing the campaign KPIs"))?;
    let Some(kpis) = totals.into_iter().find(|r| r.campaign_id == id) else {
        return Ok(None);
    };
    let mine = |rows: Vec<KpiRow>| -> Vec<KpiRow> {
        rows.into_iter().filter(|r| r.campaign_id == id).collect()
    };
    let (groups, channels, days) = (mine(groups), mine(channels), mine(days));
    let effect = effects.into_iter().find(|e| e.campaign_id == id);
    let daily = daily_trend(engine, id, &groups, &days).await?;
    let name = campaign_name(state, id).await;
    let uplift = uplift_section(state, id).await;
    let attribution = attribution::attribution_section(engine, id).await;
    Ok(Some(CampaignReport {
        campaign_id: id.to_string(),
        name,
        kpis,
        groups,
        channels,
        daily,
        effect,
        uplift,
        attribution,
    }))
}

/// The campaign's name from the store (runner campaigns) or the `campaigns` fact.
async fn campaign_name(state: &AppState, id: &str) -> Option<String> {
    if let Ok(Some(c)) = state.store.campaign(id).await {
        return Some(c.draft.name);
    }
    let sql = format!(
        "SELECT name FROM campaigns WHERE campaign_id = {} LIMIT 1",
        sql_literal(id)
    );
    let rows = state.engine.query_json(&sql).await.ok()?;
    rows.first().and_then(|r| s(r, "name"))
}

/// Whether a group counts as untreated, as `zhiying-measure` decides: the holdout, and a
/// control group nobody in which was contacted.
fn untreated_groups(groups: &[KpiRow]) -> Vec<String> {
    let mut out = vec!["holdout".to_string()];
    if groups
        .iter()
        .any(|g| g.contact_group.as_deref() == Some("control") && g.reach == 0)
    {
        out.push("control".to_string());
    }
    out
}

async fn daily_trend(
    engine: &dyn AnalyticsEngine,
    id: &str,
    groups: &[KpiRow],
    days: &[KpiRow],
) -> Result<Vec<DailyPoint>, ApiError> {
    let lit = sql_literal(id);
    let sql = format!(
        "WITH g AS (SELECT customer_id, MIN(\"group\") AS grp FROM contacts WHERE campaign_id = {lit} GROUP BY customer_id),
x AS (
  SELECT CAST(CAST(r.ts AS DATE) AS VARCHAR) AS day, g.grp AS grp, r.customer_id, r.response_type,
         coalesce(r.revenue_fen, 0) AS revenue_fen
  FROM responses r JOIN g ON g.customer_id = r.customer_id
  WHERE r.campaign_id = {lit}
)
SELECT day, grp,
  COUNT(DISTINCT CASE WHEN response_type = 'open' THEN customer_id END) AS opened,
  COUNT(DISTINCT CASE WHEN response_type = 'click' THEN customer_id END) AS clicked,
  COUNT(DISTINCT CASE WHEN response_type IN ('convert', 'accept') THEN customer_id END) AS converted,
  SUM(CASE WHEN response_type IN ('convert', 'accept') THEN revenue_fen ELSE 0 END) AS revenue_fen
FROM x GROUP BY day, grp ORDER BY day, grp"
    );
    let rows = engine
        .query_json(&sql)
        .await
        .map_err(|e| ApiError::internal("computing the daily trend", e))?;
    let untreated = untreated_groups(groups);
    let size = |treated: bool| -> u64 {
        groups
            .iter()
            .filter(|g| {
                let name = g.contact_group.clone().unwrap_or_default();
                if treated {
                    name == "treatment"
                } else {
                    untreated.contains(&name)
                }
            })
            .map(|g| g.customers)
            .sum()
    };
    let (n_t, n_u) = (size(true), size(false));
    let mut by_day: BTreeMap<String, DailyPoint> = BTreeMap::new();
    let blank = |day: &str| DailyPoint {
        day: day.to_string(),
        reach: 0,
        opened: 0,
        clicked: 0,
        converted: 0,
        revenue_fen: 0,
        cumulative_rate_treated: 0.0,
        cumulative_rate_untreated: 0.0,
    };
    for d in days {
        if let Some(day) = &d.day {
            by_day
                .entry(day.clone())
                .or_insert_with(|| blank(day.as_str()))
                .reach += d.reach;
        }
    }
    // Conversions per day and group, for the cumulative rates.
    let mut conv_t: BTreeMap<String, u64> = BTreeMap::new();
    let mut conv_u: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        let Some(day) = s(r, "day") else { continue };
        let grp = s(r, "grp").unwrap_or_default();
        let p = by_day
            .entry(day.clone())
            .or_insert_with(|| blank(day.as_str()));
        p.opened += u(r, "opened");
        p.clicked += u(r, "clicked");
        p.converted += u(r, "converted");
        p.revenue_fen += i(r, "revenue_fen");
        if grp == "treatment" {
            *conv_t.entry(day).or_default() += u(r, "converted");
        } else if untreated.contains(&grp) {
            *conv_u.entry(day).or_default() += u(r, "converted");
        }
    }
    let (mut cum_t, mut cum_u) = (0u64, 0u64);
    let rate = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    for (day, p) in by_day.iter_mut() {
        cum_t += conv_t.get(day).copied().unwrap_or(0);
        cum_u += conv_u.get(day).copied().unwrap_or(0);
        p.cumulative_rate_treated = rate(cum_t, n_t);
        p.cumulative_rate_untreated = rate(cum_u, n_u);
    }
    Ok(by_day.into_values().collect())
}

// ---- the uplift model -----------------------------------------------------------------

/// Features of every treated and untreated customer of the campaign, with the outcome.
fn uplift_sql(id: &str) -> String {
    let lit = sql_literal(id);
    format!(
        "WITH c AS (
  SELECT customer_id, MIN(\"group\") AS grp, MIN(ts) AS ts FROM contacts
  WHERE campaign_id = {lit} GROUP BY customer_id
), ctl AS (
  SELECT COUNT(*) AS reached FROM contacts
  WHERE campaign_id = {lit} AND \"group\" = 'control' AND status IN ('sent', 'delivered')
), r AS (
  SELECT customer_id, MAX(CASE WHEN response_type IN ('convert', 'accept') THEN 1 ELSE 0 END) AS converted
  FROM responses WHERE campaign_id = {lit} GROUP BY customer_id
), cu AS (
  SELECT customer_id, MIN(birth_date) AS birth_date, MAX(monthly_income_fen) AS income_fen,
         MIN(gender) AS gender, MIN(risk_level) AS risk_level, MIN(occupation) AS occupation,
         MIN(marital_status) AS marital_status, MIN(education) AS education, MIN(open_date) AS open_date
  FROM customers GROUP BY customer_id
)
SELECT c.customer_id, c.grp,
  CAST(date_part('year', c.ts) - date_part('year', cu.birth_date) AS DOUBLE) AS age,
  CAST(cu.income_fen AS DOUBLE) / 100.0 AS income_yuan,
  CAST(date_part('year', c.ts) - date_part('year', cu.open_date) AS DOUBLE) AS tenure_years,
  cu.gender, cu.risk_level, cu.occupation, cu.marital_status, cu.education,
  coalesce(r.converted, 0) AS converted
FROM c CROSS JOIN ctl
LEFT JOIN r ON r.customer_id = c.customer_id
LEFT JOIN cu ON cu.customer_id = c.customer_id
WHERE c.grp = 'treatment' OR c.grp = 'holdout' OR (c.grp = 'control' AND ctl.reached = 0)
ORDER BY c.customer_id"
    )
}

const NUMERIC_FEATURES: [&str; 3] = ["age", "income_yuan", "tenure_years"];
const CATEGORICAL_FEATURES: [&str; 5] = [
    "gender",
    "risk_level",
    "occupation",
    "marital_status",
    "education",
];

/// A stable 64-bit FNV-1a hash (the std hasher is not stable across releases).
struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn fingerprint(rows: &[Row]) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(&UPLIFT_CACHE_VERSION.to_le_bytes());
    for r in rows {
        h.write(serde_json::Value::Object(r.clone()).to_string().as_bytes());
        h.write(b"\n");
    }
    format!("{:016x}-{}", h.finish(), rows.len())
}

/// `DATA_DIR/reports/uplift/<campaign>.json`; ids that are not plain file names are hashed.
fn cache_path(data_dir: &DataDir, id: &str) -> PathBuf {
    let plain = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let name = if plain {
        id.to_string()
    } else {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(id.as_bytes());
        format!("campaign-{:016x}", h.finish())
    };
    data_dir
        .root()
        .join("reports")
        .join("uplift")
        .join(format!("{name}.json"))
}

/// A trained model, or why none could be fitted on these rows (kept too, so a reload
/// does not try again on the same data).
#[derive(Serialize, Deserialize)]
struct UpliftCache {
    campaign_id: String,
    fingerprint: String,
    report: Option<UpliftReport>,
    #[serde(default)]
    note: Option<String>,
}

fn skipped(note: impl Into<String>) -> UpliftSection {
    UpliftSection {
        status: "skipped".into(),
        note: Some(note.into()),
        cached: false,
        model: None,
    }
}

fn from_cache(c: UpliftCache, cached: bool) -> UpliftSection {
    match c.report {
        Some(model) => UpliftSection {
            status: "ok".into(),
            note: None,
            cached,
            model: Some(model),
        },
        None => UpliftSection {
            cached,
            ..skipped(c.note.unwrap_or_else(|| "no uplift model".into()))
        },
    }
}

/// The campaign's training rows and what the cache holds for them.
enum Lookup {
    Fresh(Box<UpliftSection>),
    Stale {
        rows: Vec<Row>,
        fingerprint: String,
        path: PathBuf,
    },
}

async fn lookup(engine: &dyn AnalyticsEngine, data_dir: &DataDir, id: &str) -> Lookup {
    let rows = match engine.query_json(&uplift_sql(id)).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("uplift features of {id}: {e}");
            return Lookup::Fresh(Box::new(skipped(format!(
                "the features could not be read: {e}"
            ))));
        }
    };
    let print = fingerprint(&rows);
    let path = cache_path(data_dir, id);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(c) = serde_json::from_str::<UpliftCache>(&text)
        && c.fingerprint == print
        && c.campaign_id == id
    {
        return Lookup::Fresh(Box::new(from_cache(c, true)));
    }
    Lookup::Stale {
        rows,
        fingerprint: print,
        path,
    }
}

/// Fits the model on `rows` and saves it (or the reason there is none) in the cache.
async fn train_and_save(
    id: &str,
    rows: Vec<Row>,
    fingerprint: String,
    path: &FsPath,
) -> UpliftSection {
    let label = format!("campaign {id}");
    let trained = tokio::task::spawn_blocking(move || fit_uplift(&label, &rows)).await;
    let (report, note) = match trained {
        Ok(Ok(report)) => (Some(report), None),
        Ok(Err(note)) => (None, Some(note)),
        // A failed task is not a property of the data: do not cache it.
        Err(e) => return skipped(format!("the uplift task failed: {e}")),
    };
    let cache = UpliftCache {
        campaign_id: id.to_string(),
        fingerprint,
        report,
        note,
    };
    if let Err(e) = save_cache(path, &cache) {
        tracing::warn!("could not cache the uplift model of {id}: {e}");
    }
    from_cache(cache, false)
}

/// Trains the campaign's uplift model now unless the cache already matches its data. The
/// CLI calls this when a campaign's responses have been simulated, so the report's first
/// view reads a finished model.
pub async fn refresh_uplift(
    engine: &dyn AnalyticsEngine,
    data_dir: &DataDir,
    id: &str,
) -> UpliftSection {
    match lookup(engine, data_dir, id).await {
        Lookup::Fresh(s) => *s,
        Lookup::Stale {
            rows,
            fingerprint,
            path,
        } => train_and_save(id, rows, fingerprint, &path).await,
    }
}

/// Caches being trained in the background (by path, so data directories do not collide).
static TRAINING: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Default::default);

/// Takes a cache path off [`TRAINING`] when its task ends, even by a panic or shutdown.
struct TrainingGuard(PathBuf);
impl Drop for TrainingGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = TRAINING.lock() {
            set.remove(&self.0);
        }
    }
}

/// The cached model when its fingerprint still matches; otherwise training starts in the
/// background (once per campaign) and the page says `computing` until the cache is written,
/// so no request waits for LightGBM.
async fn uplift_section(state: &AppState, id: &str) -> UpliftSection {
    let (rows, fingerprint, path) = match lookup(&*state.engine, &state.data_dir, id).await {
        Lookup::Fresh(s) => return *s,
        Lookup::Stale {
            rows,
            fingerprint,
            path,
        } => (rows, fingerprint, path),
    };
    // Too few customers is known without training: say so at once.
    if let Err(note) = folds_for(&rows) {
        return skipped(note);
    }
    let start = TRAINING
        .lock()
        .map(|mut set| set.insert(path.clone()))
        .unwrap_or(false);
    if start {
        let guard = TrainingGuard(path.clone());
        let id = id.to_string();
        tokio::spawn(async move {
            let _guard = guard;
            train_and_save(&id, rows, fingerprint, &path).await;
        });
    }
    UpliftSection {
        status: "computing".into(),
        note: Some(
            "the uplift model is being trained in the background; reload in a few seconds".into(),
        ),
        cached: false,
        model: None,
    }
}

fn save_cache(path: &std::path::Path, cache: &UpliftCache) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(cache).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

/// Whether each row is treated, and its outcome.
fn treated_and_outcome(rows: &[Row]) -> (Vec<bool>, Vec<f64>) {
    let treated = rows
        .iter()
        .map(|r| s(r, "grp").as_deref() == Some("treatment"))
        .collect();
    let y = rows.iter().map(|r| u(r, "converted") as f64).collect();
    (treated, y)
}

/// Customers per treatment × outcome stratum: untreated (not converted, converted), then
/// treated (not converted, converted).
fn strata(treated: &[bool], y: &[f64]) -> [usize; 4] {
    let mut strata = [0usize; 4];
    for (&t, &v) in treated.iter().zip(y) {
        strata[2 * usize::from(t) + usize::from(v > 0.0)] += 1;
    }
    strata
}

/// How many folds the rows allow (the smallest stratum decides, at most 5), or why a
/// model cannot be fitted.
fn folds_for(rows: &[Row]) -> Result<usize, String> {
    let (treated, y) = treated_and_outcome(rows);
    let strata = strata(&treated, &y);
    let smallest = strata.iter().copied().min().unwrap_or(0);
    if smallest < 2 {
        return Err(format!(
            "too few customers to fit an uplift model: treated {} ({} converted), untreated {} ({} converted); each of the four needs at least 2",
            strata[2] + strata[3],
            strata[3],
            strata[0] + strata[1],
            strata[1]
        ));
    }
    Ok(smallest.min(5))
}

/// Cross-fitted T-learner on the campaign's rows: the Qini curve of out-of-fold scores.
/// `Err` carries a plain reason to show instead of the chart.
fn fit_uplift(label: &str, rows: &[Row]) -> Result<UpliftReport, String> {
    let folds = folds_for(rows)?;
    let (treated, y) = treated_and_outcome(rows);
    let strata = strata(&treated, &y);
    let mut columns: Vec<Column> = NUMERIC_FEATURES
        .iter()
        .map(|&name| {
            Column::numeric(
                name,
                rows.iter()
                    .map(|r| f(r, name).unwrap_or(f64::NAN))
                    .collect(),
            )
        })
        .collect();
    for name in CATEGORICAL_FEATURES {
        let values: Vec<Option<String>> = rows.iter().map(|r| s(r, name)).collect();
        columns.push(Column::categorical(name, &values));
    }
    let x = Frame::new(columns).map_err(|e| e.to_string())?;
    let untreated = strata[0] + strata[1];
    let train_rows = untreated - untreated / folds;
    let gbdt = GbdtConfig {
        // Small holdouts: leaves of at least ~5% of the smaller arm's training rows.
        min_data_in_leaf: (train_rows / 20).clamp(10, 100),
        num_threads: 2,
        seed: 42,
        ..default_gbdt()
    };
    let cfg = UpliftConfig {
        learner: Learner::T,
        gbdt,
        seed: 42,
    };
    let mut opts = EvaluateOptions::new(label, "group", "treatment", "untreated", "converted");
    opts.folds = folds;
    opts.learner = Learner::T;
    let exp = Experiment {
        x,
        outcome_kind: OutcomeKind::Binary,
        positive: None,
        source_rows: (0..rows.len()).collect(),
        treated,
        y,
    };
    evaluate_experiment(&opts, &exp, &cfg).map_err(|e| e.to_string())
}

// ---- handlers -------------------------------------------------------------------------

fn not_measured(id: &str) -> ApiError {
    ApiError::not_found(
        "campaign_not_measured",
        format!("no contact names campaign '{id}', so there is nothing to measure yet"),
        "A report appears once the campaign has contacts (the runner writes them when it launches). GET /v1/experiments lists the campaigns that have them.",
    )
}

/// A campaign's KPIs, daily trend, effect against its holdout, Qini curve and verdict.
#[utoipa::path(get, path = "/v1/campaigns/{id}/report", tag = "measurement",
    params(("id" = String, Path, description = "Campaign id, as the contacts name it (e.g. CP001)")),
    responses((status = 200, description = "The campaign report", body = Object),
              (status = 404, description = "No contact names this campaign", body = crate::error::ErrorBody)))]
pub async fn report_api(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignReport>, ApiError> {
    let Path(id) = id.map_err(crate::api::path_error)?;
    match campaign_report(&state, &id).await? {
        Some(r) => Ok(Json(r)),
        None => Err(not_measured(&id)),
    }
}

fn pts(v: f64) -> f64 {
    (v * 10_000.0).round() / 100.0
}

/// Chart data of the report page.
fn report_charts(r: &CampaignReport, state: &AppState, lang: Lang) -> serde_json::Value {
    let tr = |k: &str| state.templates.tr(lang, k);
    let daily = serde_json::json!({
        "days": r.daily.iter().map(|d| d.day.clone()).collect::<Vec<_>>(),
        "reach": r.daily.iter().map(|d| d.reach).collect::<Vec<_>>(),
        "opened": r.daily.iter().map(|d| d.opened).collect::<Vec<_>>(),
        "clicked": r.daily.iter().map(|d| d.clicked).collect::<Vec<_>>(),
        "converted": r.daily.iter().map(|d| d.converted).collect::<Vec<_>>(),
        "rate_treated": r.daily.iter().map(|d| pts(d.cumulative_rate_treated)).collect::<Vec<_>>(),
        "rate_untreated": r.daily.iter().map(|d| pts(d.cumulative_rate_untreated)).collect::<Vec<_>>(),
        "labels": {
            "reach": tr("rpt.reach"), "opened": tr("rpt.opened"), "clicked": tr("rpt.clicked"),
            "converted": tr("rpt.converted"), "rate_treated": tr("rpt.cum_rate_treated"),
            "rate_untreated": tr("rpt.cum_rate_untreated"),
        },
    });
    let effect = r.effect.as_ref().map(|e| {
        serde_json::json!({
            "groups": [tr("rpt.treated"), tr("rpt.untreated")],
            "rates": [pts(e.treated.conversion_rate), pts(e.untreated.conversion_rate)],
            "lift": pts(e.lift),
            "lift_ci": [pts(e.lift_ci[0]), pts(e.lift_ci[1])],
            "incremental": (e.incremental_conversions * 10.0).round() / 10.0,
            "incremental_ci": [
                (e.incremental_conversions_ci[0] * 10.0).round() / 10.0,
                (e.incremental_conversions_ci[1] * 10.0).round() / 10.0,
            ],
            "labels": {
                "rate": tr("rpt.conversion_rate"), "lift": tr("rpt.lift_pts"),
                "incremental": tr("rpt.incremental_conversions"), "ci": tr("rpt.ci95"),
            },
        })
    });
    let qini = r.uplift.model.as_ref().map(|m| {
        serde_json::json!({
            "fraction": m.qini_curve.iter().map(|p| (p.fraction * 100.0).round()).collect::<Vec<_>>(),
            "model": m.qini_curve.iter().map(|p| (p.incremental * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "random": m.qini_curve.iter().map(|p| (p.random * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "labels": {
                "model": tr("rpt.qini_model"), "random": tr("rpt.qini_random"),
                "x": tr("rpt.qini_x"), "y": tr("rpt.qini_y"),
            },
        })
    });
    let attribution = r
        .attribution
        .report
        .as_ref()
        .filter(|_| r.attribution.status == "ok")
        .map(|a| {
            let series: Vec<serde_json::Value> = a
                .models
                .iter()
                .map(|&m| {
                    serde_json::json!({
                        "name": tr(&format!("rpt.model.{}", m.name())),
                        "data": a.channels.iter().map(|c| {
                            c.credit(m).map_or(0.0, |x| (x.conversions * 100.0).round() / 100.0)
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::json!({
                "channels": a.channels.iter().map(|c| c.channel.clone()).collect::<Vec<_>>(),
                "series": series,
                "labels": { "y": tr("rpt.attr_credited") },
            })
        });
    serde_json::json!({ "daily": daily, "effect": effect, "qini": qini, "attribution": attribution })
}

async fn report_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => {
            return crate::console::error_page(
                &state,
                &locale,
                &crate::api::path_error(e),
                Some(&me),
            );
        }
    };
    let report = match campaign_report(&state, &id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return crate::console::error_page(&state, &locale, &not_measured(&id), Some(&me));
        }
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let lang = locale.lang;
    let verdict = report.effect.as_ref().map(|e| match lang {
        Lang::Zh => e.verdict_zh.clone(),
        Lang::En => e.verdict_en.clone(),
    });
    let charts = report_charts(&report, &state, lang);
    crate::console::render_page(
        &state,
        &locale,
        &me,
        "campaign_report.html",
        "measurement",
        context! {
            r => Value::from_serialize(&report),
            verdict => verdict,
            charts => Value::from_serialize(charts),
        },
    )
}

// ---------------------------------------------------------------------------------------
// The experiments list
// ---------------------------------------------------------------------------------------

/// One arm: its size and, when there is an outcome, its conversions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRow {
    pub arm: String,
    pub n: u64,
    pub converted: Option<u64>,
    pub rate: Option<f64>,
}

/// The sample-ratio-mismatch check against the planned split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    /// What is compared, e.g. `holdout vs rest` or the arms.
    pub compared: Vec<String>,
    pub observed: Vec<u64>,
    /// Planned shares, summing to 1.
    pub planned: Vec<f64>,
    pub chi2: f64,
    pub p_value: f64,
    /// p < 0.001.
    pub mismatch: bool,
}

/// Power of one arm against control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerCheck {
    pub arm: String,
    pub control: String,
    pub n_arm: u64,
    pub n_control: u64,
    /// Control conversion rate (the baseline).
    pub baseline: f64,
    /// The stated minimum detectable effect, relative to the baseline.
    pub mde_relative: f64,
    /// Power of a two-sided test at alpha 0.05 to detect it with these sizes.
    pub power: f64,
    /// The smallest absolute (and relative) increase detectable with 80% power.
    pub mde_abs_at_80: f64,
    pub mde_rel_at_80: f64,
    /// power < 0.8.
    pub underpowered: bool,
}

/// One campaign or experiment in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRow {
    pub id: String,
    /// `campaign` (treatment vs holdout), `experiment` (the `experiments` fact) or
    /// `store_experiment` (assigned by Zhiying, no outcome yet).
    pub kind: String,
    pub name: Option<String>,
    pub metric: Option<String>,
    pub arms: Vec<ArmRow>,
    pub srm: Option<SrmCheck>,
    /// Why there is no SRM check (no planned split known).
    pub srm_note: Option<String>,
    pub power: Vec<PowerCheck>,
    pub power_note: Option<String>,
    /// The report page, for campaigns.
    pub report: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentsList {
    pub alpha: f64,
    pub target_power: f64,
    pub mde_relative: f64,
    pub srm_threshold: f64,
    pub experiments: Vec<ExperimentRow>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Minimum detectable effect relative to the control rate (0.1 = 10%).
    pub mde: Option<f64>,
}

fn srm_check(compared: Vec<String>, observed: Vec<u64>, weights: &[f64]) -> Option<SrmCheck> {
    let obs: Vec<f64> = observed.iter().map(|&n| n as f64).collect();
    let total: f64 = weights.iter().sum();
    let r = srm(&obs, weights).ok()?;
    Some(SrmCheck {
        compared,
        observed,
        planned: weights.iter().map(|w| w / total).collect(),
        chi2: r.chi2,
        p_value: r.p_value,
        mismatch: r.p_value < SRM_THRESHOLD,
    })
}

/// Power of `arm` against `control` at the stated relative MDE; `None` when the baseline
/// is 0 or the rates leave (0, 1).
pub fn power_check(
    arm: &str,
    control: &str,
    n_arm: u64,
    n_control: u64,
    baseline: f64,
    mde_relative: f64,
) -> Option<PowerCheck> {
    if n_arm == 0 || n_control == 0 || !(baseline > 0.0 && baseline < 1.0) {
        return None;
    }
    let target = baseline * (1.0 + mde_relative);
    if !(target > 0.0 && target < 1.0) {
        return None;
    }
    let ratio = n_arm as f64 / n_control as f64;
    let pw = power(cohens_h(target, baseline), n_control as f64, ALPHA, ratio);
    let mde_abs = mde_proportions(baseline, n_control as f64, ALPHA, TARGET_POWER, ratio).ok()?;
    Some(PowerCheck {
        arm: arm.to_string(),
        control: control.to_string(),
        n_arm,
        n_control,
        baseline,
        mde_relative,
        power: pw,
        mde_abs_at_80: mde_abs,
        mde_rel_at_80: mde_abs / baseline,
        underpowered: pw < TARGET_POWER,
    })
}

/// Every campaign with an untreated group and every experiment, with SRM and power.
pub async fn experiments_list(
    state: &AppState,
    mde_relative: f64,
) -> Result<ExperimentsList, ApiError> {
    let engine: &dyn AnalyticsEngine = &*state.engine;
    let (groups, effects) = tokio::try_join!(
        zhiying_measure::kpis(engine, Breakdown::CampaignGroup),
        zhiying_measure::campaign_effects(engine, ALPHA),
    )
    .map_err(engine_err("computing the campaign groups"))?;
    let facts = engine
        .query_json("SELECT campaign_id, name, holdout_share FROM campaigns")
        .await
        .map_err(|e| ApiError::internal("reading the campaigns", e))?;
    let stored = state
        .store
        .campaigns(None)
        .await
        .map_err(|e| ApiError::internal("reading the stored campaigns", e))?;
    let mut planned: HashMap<String, (Option<String>, Option<f64>)> = HashMap::new();
    for r in &facts {
        if let Some(id) = s(r, "campaign_id") {
            planned.insert(id, (s(r, "name"), f(r, "holdout_share")));
        }
    }
    for c in stored {
        planned.insert(
            c.campaign_id.clone(),
            (Some(c.draft.name.clone()), Some(c.draft.holdout_share)),
        );
    }
    let mut ids: Vec<String> = groups.iter().map(|g| g.campaign_id.clone()).collect();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let mine: Vec<&KpiRow> = groups.iter().filter(|g| g.campaign_id == id).collect();
        let arms: Vec<ArmRow> = mine
            .iter()
            .map(|g| ArmRow {
                arm: g.contact_group.clone().unwrap_or_default(),
                n: g.customers,
                converted: Some(g.converted),
                rate: Some(g.conversion_rate),
            })
            .collect();
        let (name, share) = planned.get(&id).cloned().unwrap_or((None, None));
        let holdout: u64 = arms
            .iter()
            .filter(|a| a.arm == "holdout")
            .map(|a| a.n)
            .sum();
        let total: u64 = arms.iter().map(|a| a.n).sum();
        let (srm, srm_note) = match share {
            Some(p) if p > 0.0 && p < 1.0 => (
                srm_check(
                    vec!["holdout".into(), "rest".into()],
                    vec![holdout, total - holdout],
                    &[p, 1.0 - p],
                ),
                None,
            ),
            _ => (
                None,
                Some("no planned holdout share recorded for this campaign".to_string()),
            ),
        };
        let effect = effects.iter().find(|e| e.campaign_id == id);
        let (power, power_note) = match effect {
            Some(e) => match power_check(
                "treatment",
                "untreated",
                e.treated.customers,
                e.untreated.customers,
                e.untreated.conversion_rate,
                mde_relative,
            ) {
                Some(p) => (vec![p], None),
                None => (
                    Vec::new(),
                    Some("the untreated conversion rate is 0: no baseline for power".into()),
                ),
            },
            None => (
                Vec::new(),
                Some(
                    "no holdout or uncontacted control group: the effect cannot be measured".into(),
                ),
            ),
        };
        out.push(ExperimentRow {
            report: Some(format!(
                "/console/campaigns/{}/report",
                crate::console::encode_segment(&id)
            )),
            id,
            kind: "campaign".into(),
            name,
            metric: Some("conversion".into()),
            arms,
            srm,
            srm_note,
            power,
            power_note,
        });
    }
    out.extend(fact_experiments(state, mde_relative).await?);
    Ok(ExperimentsList {
        alpha: ALPHA,
        target_power: TARGET_POWER,
        mde_relative,
        srm_threshold: SRM_THRESHOLD,
        experiments: out,
    })
}

/// Experiments from the `experiments`/`assignments` facts (outcome: responses without a
/// campaign after assignment, within the experiment's dates), and those assigned by
/// Zhiying in the store (sizes and SRM only).
async fn fact_experiments(
    state: &AppState,
    mde_relative: f64,
) -> Result<Vec<ExperimentRow>, ApiError> {
    let engine: &dyn AnalyticsEngine = &*state.engine;
    let defs = engine
        .query_json(
            "SELECT experiment_id, name, arms, control_arm FROM experiments ORDER BY experiment_id",
        )
        .await
        .map_err(|e| ApiError::internal("reading the experiments", e))?;
    let counts = engine
        .query_json(
            "SELECT a.experiment_id, a.arm, COUNT(DISTINCT a.customer_id) AS n,
  COUNT(DISTINCT r.customer_id) AS converted
FROM assignments a
JOIN experiments e ON e.experiment_id = a.experiment_id
LEFT JOIN responses r ON r.customer_id = a.customer_id AND r.campaign_id IS NULL
  AND r.response_type IN ('click', 'convert', 'accept') AND r.ts >= a.assigned_at
  AND (e.end_date IS NULL OR CAST(r.ts AS DATE) <= e.end_date)
GROUP BY a.experiment_id, a.arm",
        )
        .await
        .map_err(|e| ApiError::internal("counting the experiment arms", e))?;
    let stored = state
        .store
        .experiments()
        .await
        .map_err(|e| ApiError::internal("reading the stored experiments", e))?;
    let mut out = Vec::new();
    for d in &defs {
        let Some(id) = s(d, "experiment_id") else {
            continue;
        };
        let mut arm_names: Vec<String> = s(d, "arms")
            .unwrap_or_default()
            .split('|')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        for c in counts
            .iter()
            .filter(|c| s(c, "experiment_id").as_deref() == Some(id.as_str()))
        {
            if let Some(a) = s(c, "arm")
                && !arm_names.contains(&a)
            {
                arm_names.push(a);
            }
        }
        let arms: Vec<ArmRow> = arm_names
            .iter()
            .map(|a| {
                let c = counts.iter().find(|c| {
                    s(c, "experiment_id").as_deref() == Some(id.as_str())
                        && s(c, "arm").as_deref() == Some(a.as_str())
                });
                let n = c.map_or(0, |c| u(c, "n"));
                let x = c.map_or(0, |c| u(c, "converted"));
                ArmRow {
                    arm: a.clone(),
                    n,
                    converted: Some(x),
                    rate: (n > 0).then(|| x as f64 / n as f64),
                }
            })
            .collect();
        // Planned weights: the store's when Zhiying assigned it, else an even split.
        let weights: Vec<f64> = match stored.iter().find(|e| e.spec.experiment_id == id) {
            Some(e) => arm_names
                .iter()
                .map(|a| {
                    e.spec
                        .arms
                        .iter()
                        .find(|x| &x.name == a)
                        .map_or(0.0, |x| x.weight)
                })
                .collect(),
            None => vec![1.0; arm_names.len()],
        };
        let srm = srm_check(
            arm_names.clone(),
            arms.iter().map(|a| a.n).collect(),
            &weights,
        );
        let control =
            s(d, "control_arm").unwrap_or_else(|| arm_names.first().cloned().unwrap_or_default());
        let ctl = arms.iter().find(|a| a.arm == control);
        let mut power = Vec::new();
        if let Some(c) = ctl {
            for a in arms.iter().filter(|a| a.arm != control) {
                if let Some(p) = power_check(
                    &a.arm,
                    &control,
                    a.n,
                    c.n,
                    c.rate.unwrap_or(0.0),
                    mde_relative,
                ) {
                    power.push(p);
                }
            }
        }
        let power_note = power
            .is_empty()
            .then(|| "no control arm with a non-zero response rate".to_string());
        out.push(ExperimentRow {
            srm_note: srm
                .is_none()
                .then(|| "fewer than two arms with a planned weight".to_string()),
            id,
            kind: "experiment".into(),
            name: s(d, "name"),
            metric: Some("response (click or conversion) without a campaign".into()),
            arms,
            srm,
            power,
            power_note,
            report: None,
        });
    }
    for e in &stored {
        if out.iter().any(|r| r.id == e.spec.experiment_id) {
            continue;
        }
        let counts = state
            .store
            .assignment_counts(&e.spec.experiment_id)
            .await
            .map_err(|err| ApiError::internal("counting assignments", err))?;
        let names: Vec<String> = e.spec.arms.iter().map(|a| a.name.clone()).collect();
        let observed: Vec<u64> = names
            .iter()
            .map(|a| counts.get(a).copied().unwrap_or(0))
            .collect();
        let weights: Vec<f64> = e.spec.arms.iter().map(|a| a.weight).collect();
        let srm = if observed.iter().sum::<u64>() > 0 {
            srm_check(names.clone(), observed.clone(), &weights)
        } else {
            None
        };
        out.push(ExperimentRow {
            id: e.spec.experiment_id.clone(),
            kind: "store_experiment".into(),
            name: Some(e.spec.name.clone()),
            metric: None,
            arms: names
                .iter()
                .zip(&observed)
                .map(|(a, &n)| ArmRow {
                    arm: a.clone(),
                    n,
                    converted: None,
                    rate: None,
                })
                .collect(),
            srm_note: srm
                .is_none()
                .then(|| "no assignments recorded yet".to_string()),
            srm,
            power: Vec::new(),
            power_note: Some("no outcome recorded for this experiment".into()),
            report: None,
        });
    }
    Ok(out)
}

fn read_mde(q: &ListQuery) -> Result<f64, ApiError> {
    let mde = q.mde.unwrap_or(DEFAULT_MDE);
    if !(mde > 0.0 && mde <= 10.0) {
        return Err(ApiError::bad_request(
            "invalid_mde",
            format!("mde {mde} is out of range"),
            "Give the minimum detectable effect relative to the control rate, e.g. ?mde=0.1 for 10%.",
        ));
    }
    Ok(mde)
}

/// Every campaign and experiment with arms, sizes, SRM and power.
#[utoipa::path(get, path = "/v1/experiments", tag = "measurement",
    params(("mde" = Option<f64>, Query, description = "Minimum detectable effect relative to the control rate (default 0.1)")),
    responses((status = 200, description = "Campaigns and experiments with SRM and power", body = Object),
              (status = 400, description = "Invalid mde", body = crate::error::ErrorBody)))]
pub async fn experiments_api(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ExperimentsList>, ApiError> {
    let mde = read_mde(&q)?;
    Ok(Json(experiments_list(&state, mde).await?))
}

async fn experiments_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or(ListQuery { mde: None });
    let list = match read_mde(&q) {
        Ok(mde) => experiments_list(&state, mde).await,
        Err(e) => Err(e),
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    // The chart: SRM p-value and power per campaign / experiment arm.
    let lang = locale.lang;
    let mut names = Vec::new();
    let mut powers = Vec::new();
    for e in &list.experiments {
        for p in &e.power {
            names.push(format!("{} · {}", e.id, p.arm));
            powers.push((p.power * 1000.0).round() / 10.0);
        }
    }
    let charts = serde_json::json!({
        "names": names,
        "power": powers,
        "target": list.target_power * 100.0,
        "labels": {
            "power": state.templates.tr(lang, "exp.power"),
            "target": state.templates.tr(lang, "exp.target_power"),
        },
    });
    crate::console::render_page(
        &state,
        &locale,
        &me,
        "experiments.html",
        "measurement",
        context! {
            list => Value::from_serialize(&list),
            charts => Value::from_serialize(charts),
        },
    )
}

#[cfg(test)]
mod tests;
