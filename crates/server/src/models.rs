//! The bank's models in the API and the console: what each learned, how well (test-set
//! AUC, KS, ROC, lift by decile, calibration) and its strongest features, read from the
//! last `zhiying model bank` run (`DATA_DIR/models/bank/*.json`); and one customer's
//! scores with their reasons.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use zhiying_bankmodels::ModelSummary;

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::Locale;
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/models", Permission::ModelRead, list_api)
        .get(
            "/v1/customers/{id}/scores",
            Permission::CustomerRead,
            customer_scores_api,
        )
        .get("/console/models", Permission::ModelRead, page)
}

/// Every saved bank model's summary, churn first, then propensities, then anomaly.
fn load_models(state: &AppState) -> Result<Vec<ModelSummary>, ApiError> {
    let dir = state.data_dir.root().join("models").join("bank");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension().is_some_and(|x| x == "json"))
                .then(|| p.file_stem()?.to_str().map(str::to_string))
                .flatten()
        })
        .collect();
    names.sort_by_key(|n| (!n.starts_with("churn"), n.starts_with("fraud"), n.clone()));
    let mut out = Vec::new();
    for n in names {
        match zhiying_bankmodels::load_summary(&state.data_dir, &n) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(e) => tracing::warn!(model = %n, error = %e, "unreadable model file"),
        }
    }
    Ok(out)
}

/// The bank models of the last training run, with their evaluation reports.
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "Model summaries with evaluation reports", body = Object)))]
pub async fn list_api(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let models = load_models(&state)?;
    Ok(Json(serde_json::json!({ "models": models })))
}

/// One customer's model scores, bands and reasons (from `derived/scores.parquet`).
#[utoipa::path(get, path = "/v1/customers/{id}/scores", tag = "models",
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "Scores", body = Object)))]
pub async fn customer_scores_api(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(serde_json::json!({
        "customer_id": id,
        "scores": customer_scores(&state, &id).await?,
    })))
}

pub(crate) async fn customer_scores(
    state: &AppState,
    id: &str,
) -> Result<Vec<zhiying_engine::Row>, ApiError> {
    let sql = format!(
        "SELECT model, score, band, reasons, as_of, model_version FROM scores WHERE customer_id = {} ORDER BY model",
        zhiying_engine::sql_literal(id)
    );
    state
        .engine
        .query_json(&sql)
        .await
        .map_err(|e| ApiError::internal("reading model scores", e))
}

async fn page(State(state): State<AppState>, locale: Locale, me: Principal) -> Response {
    let models = match load_models(&state) {
        Ok(m) => m,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let cards: Vec<Value> = models
        .iter()
        .map(|m| {
            let charts = m.report.as_ref().map(|r| {
                serde_json::json!({
                    "roc": r.roc.iter().map(|p| [p.fpr, p.tpr]).collect::<Vec<_>>(),
                    "gains": r.gains.iter().map(|g| [g.decile as f64, g.lift]).collect::<Vec<_>>(),
                    "calibration": r.calibration.bins.iter().map(|b| [b.mean_predicted, b.observed_rate]).collect::<Vec<_>>(),
                    "importance": r.feature_importance.iter().take(12).map(|f| (f.feature.as_str(), f.gain_share)).collect::<Vec<_>>(),
                    "fairness": r.fairness.iter().map(|f| serde_json::json!({
                        "attribute": f.attribute,
                        "groups": f.groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
                        "selection": f.groups.iter().map(|g| g.selection_rate).collect::<Vec<_>>(),
                        "tpr": f.groups.iter().map(|g| g.true_positive_rate).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            });
            context! {
                m => Value::from_serialize(m),
                id => m.name.replace('_', "-"),
                charts => charts.map(|c| Value::from_serialize(&c)),
            }
        })
        .collect();
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "models.html",
        "models",
        context! { models => cards },
    )
}

/// One score on the customer-360 page, its reasons split into "feature=value (+contribution)" items.
#[derive(serde::Serialize)]
pub(crate) struct PageScore {
    model: String,
    score: Option<f64>,
    band: Option<String>,
    reasons: Vec<String>,
    as_of: Option<String>,
    model_version: Option<String>,
}

/// The customer's scores for the 360 page; a customer without scores (or a data dir without a
/// `zhiying model bank` run) gets an empty list, never an error page.
pub(crate) async fn customer_page_scores(state: &AppState, id: &str) -> Vec<PageScore> {
    let rows = match customer_scores(state, id).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e.message, "customer scores unavailable");
            return Vec::new();
        }
    };
    let text = |r: &zhiying_engine::Row, k: &str| match r.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    };
    rows.iter()
        .map(|r| PageScore {
            model: text(r, "model").unwrap_or_default(),
            score: r.get("score").and_then(serde_json::Value::as_f64),
            band: text(r, "band"),
            reasons: text(r, "reasons")
                .map(|s| {
                    s.split(';')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            as_of: text(r, "as_of"),
            model_version: text(r, "model_version"),
        })
        .collect()
}
