//! The bank's models in the API and the console: what each learned, how well (test-set
//! AUC, KS, ROC, lift by decile, calibration) and its strongest features, read from the
//! last `zhiying model bank` run (`DATA_DIR/models/bank/*.json`, cached by file
//! modification time); the model registry (versions, champion and challengers, drift at
//! score time, promotion under maker-checker); and one customer's scores with their
//! reasons (the champions' scores).
//!
//! Promotion: `POST /v1/models/{name}/{version}/promote` (needs `model.train`) asks for a
//! challenger to become champion; `POST …/approve` (needs `model.promote`) by a different
//! user makes it champion, retires the old one and re-scores the bank models with the new
//! champion in the background. The same user gets 403. Every step is a registry
//! transition and an audit-log entry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use zhiying_bankmodels::ModelSummary;
use zhiying_bankmodels::registry::{self, DriftReport, RegistryError};
use zhiying_store::{ModelEntry, ModelStatus, ModelTransition, StoreError};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::Locale;
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/models", Permission::ModelRead, list_api)
        .get(
            "/v1/models/{name}/versions",
            Permission::ModelRead,
            versions_api,
        )
        .post(
            "/v1/models/{name}/{version}/promote",
            Permission::ModelTrain,
            promote_api,
        )
        .post(
            "/v1/models/{name}/{version}/approve",
            Permission::ModelPromote,
            approve_api,
        )
        .get(
            "/v1/customers/{id}/scores",
            Permission::CustomerRead,
            customer_scores_api,
        )
        .get("/console/models", Permission::ModelRead, page)
        .post(
            "/console/models/{name}/{version}/promote",
            Permission::ModelTrain,
            promote_form,
        )
        .post(
            "/console/models/{name}/{version}/approve",
            Permission::ModelPromote,
            approve_form,
        )
}

type SummaryCache = Mutex<HashMap<PathBuf, (SystemTime, u64, Arc<ModelSummary>)>>;

/// Parsed model files, keyed by path and revalidated by modification time and size: a
/// model file holds the whole LightGBM model and is megabytes of JSON, so it is parsed
/// once per training run, not once per request.
fn summary_cache() -> &'static SummaryCache {
    static CACHE: OnceLock<SummaryCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached_summary(path: &std::path::Path) -> Option<Arc<ModelSummary>> {
    let meta = std::fs::metadata(path).ok()?;
    let stamp = (meta.modified().ok()?, meta.len());
    if let Some((t, len, s)) = summary_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
        && (*t, *len) == stamp
    {
        return Some(s.clone());
    }
    let summary = match zhiying_bankmodels::SavedBankModel::load_file(path) {
        Ok(m) => Arc::new(m.summary),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable model file");
            return None;
        }
    };
    summary_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf(), (stamp.0, stamp.1, summary.clone()));
    Some(summary)
}

/// Every saved bank model's summary, churn first, then propensities, then anomaly.
fn load_models(state: &AppState) -> Vec<Arc<ModelSummary>> {
    let dir = state.data_dir.root().join("models").join("bank");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
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
    names
        .iter()
        .filter_map(|n| cached_summary(&zhiying_bankmodels::model_path(&state.data_dir, n)))
        .collect()
}

/// One registered version as the API and the console show it.
#[derive(Debug, Serialize)]
pub struct VersionView {
    #[serde(flatten)]
    pub entry: ModelEntry,
    /// The drift of the last scoring run with this version, if it was scored.
    pub drift: Option<DriftReport>,
}

async fn registry_versions(
    state: &AppState,
    name: Option<&str>,
) -> Result<Vec<VersionView>, ApiError> {
    let list = state
        .store
        .models(name)
        .await
        .map_err(|e| ApiError::internal("reading the model registry", e))?;
    Ok(list
        .into_iter()
        .map(|entry| VersionView {
            drift: registry::load_drift(&state.data_dir, &entry),
            entry,
        })
        .collect())
}

/// The bank models of the last training run with their evaluation reports, and every
/// registered version (status, author, training-data hash, metrics, drift).
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "Model summaries with evaluation reports, and the registry", body = Object)))]
pub async fn list_api(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let models = load_models(&state);
    let registry = registry_versions(&state, None).await?;
    Ok(Json(
        serde_json::json!({ "models": models, "registry": registry }),
    ))
}

/// Every version of one model with its lifecycle transitions (the audit trail) and drift.
#[utoipa::path(get, path = "/v1/models/{name}/versions", tag = "models",
    params(("name" = String, Path, description = "Model name, e.g. churn")),
    responses((status = 200, description = "Versions with transitions and drift", body = Object),
              (status = 404, description = "No such model", body = crate::error::ErrorBody)))]
pub async fn versions_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let versions = registry_versions(&state, Some(&name)).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(
            "model_not_found",
            format!("model '{name}' has no registered version"),
            "GET /v1/models lists the registered models; train with `zhiying model bank` or `zhiying model train`.",
        ));
    }
    let mut out = Vec::new();
    for v in versions {
        let transitions: Vec<ModelTransition> = state
            .store
            .model_transitions(&name, v.entry.version)
            .await
            .map_err(|e| ApiError::internal("reading model transitions", e))?;
        out.push(serde_json::json!({ "version": v, "transitions": transitions }));
    }
    Ok(Json(serde_json::json!({ "name": name, "versions": out })))
}

/// An optional note with a promotion step.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TransitionBody {
    #[serde(default)]
    pub note: String,
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Store(StoreError::SelfApproval {
            what,
            key,
            actor,
            role,
        }) => ApiError::new(
            StatusCode::FORBIDDEN,
            "self_approval",
            format!("{actor} {role} {what} {key} and cannot approve it"),
            "Promotion needs a second person: another user with model.promote must approve.",
        ),
        RegistryError::Store(StoreError::NotFound { what, key }) => ApiError::not_found(
            "model_not_found",
            format!("{what} '{key}' does not exist"),
            "GET /v1/models lists the registered versions.",
        ),
        RegistryError::Store(e @ StoreError::IllegalTransition { .. }) => ApiError::new(
            StatusCode::CONFLICT,
            "illegal_transition",
            e.to_string(),
            "Request the promotion first (POST …/promote), then another user approves it.",
        ),
        other => ApiError::internal("the model registry", other),
    }
}

async fn do_promote(
    state: &AppState,
    me: &Principal,
    name: &str,
    version: u64,
    note: &str,
) -> Result<ModelEntry, ApiError> {
    let entry =
        registry::request_promotion(state.store.as_ref(), name, version, &me.username, note)
            .await
            .map_err(registry_error)?;
    audit(state, me, "model.promote.request", &entry, note).await?;
    Ok(entry)
}

async fn do_approve(
    state: &AppState,
    me: &Principal,
    name: &str,
    version: u64,
    note: &str,
) -> Result<ModelEntry, ApiError> {
    let entry = registry::approve(state.store.as_ref(), name, version, &me.username, note)
        .await
        .map_err(registry_error)?;
    audit(state, me, "model.promote.approve", &entry, note).await?;
    if entry.model.algorithm.starts_with(registry::BANK_PREFIX) {
        // The new champion's scores replace the old one's: tags, the score API and the
        // decision engine read them.
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = rescore(&state).await {
                tracing::error!(error = %e, "re-scoring with the new champion");
            }
        });
    }
    Ok(entry)
}

/// Re-scores every bank model with its champion and makes the new scores visible.
pub(crate) async fn rescore(state: &AppState) -> Result<(), String> {
    registry::score_champions(
        state.engine.as_ref(),
        &state.data_dir,
        state.store.as_ref(),
        None,
        true,
    )
    .await
    .map_err(|e| e.to_string())?;
    state.engine.refresh().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn audit(
    state: &AppState,
    me: &Principal,
    action: &str,
    entry: &ModelEntry,
    note: &str,
) -> Result<(), ApiError> {
    state
        .store
        .append_audit(
            &me.username,
            action,
            &format!("model:{}@{}", entry.model.name, entry.version),
            &serde_json::json!({"status": entry.status.as_str(), "note": note}),
        )
        .await
        .map(|_| ())
        .map_err(|e| ApiError::internal("recording the model transition in the audit log", e))
}

/// Asks for a challenger to become champion (→ `submitted`); another user approves.
#[utoipa::path(post, path = "/v1/models/{name}/{version}/promote", tag = "models",
    params(("name" = String, Path, description = "Model name"), ("version" = u64, Path, description = "Registered version")),
    request_body(content = TransitionBody, description = "Optional note"),
    responses((status = 200, description = "The version, now submitted", body = Object),
              (status = 404, description = "No such version", body = crate::error::ErrorBody),
              (status = 409, description = "Not a challenger awaiting promotion", body = crate::error::ErrorBody)))]
pub async fn promote_api(
    State(state): State<AppState>,
    me: Principal,
    Path((name, version)): Path<(String, u64)>,
    body: Result<Json<TransitionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ModelEntry>, ApiError> {
    let note = body.map(|b| b.0.note).unwrap_or_default();
    Ok(Json(do_promote(&state, &me, &name, version, &note).await?))
}

/// Approves a requested promotion: the version becomes champion, the previous champion is
/// retired and the bank models are re-scored. 403 when the caller trained or requested it.
#[utoipa::path(post, path = "/v1/models/{name}/{version}/approve", tag = "models",
    params(("name" = String, Path, description = "Model name"), ("version" = u64, Path, description = "Registered version")),
    request_body(content = TransitionBody, description = "Optional note"),
    responses((status = 200, description = "The new champion", body = Object),
              (status = 403, description = "The caller trained or requested this version", body = crate::error::ErrorBody),
              (status = 409, description = "No promotion was requested", body = crate::error::ErrorBody)))]
pub async fn approve_api(
    State(state): State<AppState>,
    me: Principal,
    Path((name, version)): Path<(String, u64)>,
    body: Result<Json<TransitionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ModelEntry>, ApiError> {
    let note = body.map(|b| b.0.note).unwrap_or_default();
    Ok(Json(do_approve(&state, &me, &name, version, &note).await?))
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn form_step(
    state: AppState,
    locale: Locale,
    me: Principal,
    name: String,
    version: u64,
    note: String,
    approve: bool,
) -> Response {
    let r = if approve {
        do_approve(&state, &me, &name, version, &note).await
    } else {
        do_promote(&state, &me, &name, version, &note).await
    };
    match r {
        Ok(_) => Redirect::to(&format!("/console/models#registry-{name}")).into_response(),
        Err(e) => crate::console::error_page(&state, &locale, &e, Some(&me)),
    }
}

async fn promote_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Path((name, version)): Path<(String, u64)>,
    form: Result<axum::Form<NoteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let note = form.map(|f| f.0.note).unwrap_or_default();
    form_step(state, locale, me, name, version, note, false).await
}

async fn approve_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Path((name, version)): Path<(String, u64)>,
    form: Result<axum::Form<NoteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let note = form.map(|f| f.0.note).unwrap_or_default();
    form_step(state, locale, me, name, version, note, true).await
}

/// One customer's model scores, bands and reasons: the champions' scores
/// (`derived/scores.parquet`, `model_version` = the registry version `vN`).
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
    let models = load_models(&state);
    let versions = match registry_versions(&state, None).await {
        Ok(v) => v,
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
                m => Value::from_serialize(m.as_ref()),
                id => m.name.replace('_', "-"),
                charts => charts.map(|c| Value::from_serialize(&c)),
            }
        })
        .collect();
    // The registry grouped by model name, newest version first.
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for v in versions.iter().rev() {
        let row = context! {
            v => Value::from_serialize(&v.entry),
            status => v.entry.status.as_str(),
            auc => ["test_auc", "auc"].iter().find_map(|k| v.entry.model.metrics.get(*k).and_then(|x| x.as_f64())),
            drift => v.drift.as_ref().map(Value::from_serialize),
            drift_top => v.drift.as_ref().map(|d| Value::from_serialize(d.features.iter().take(5).collect::<Vec<_>>())),
            can_promote => v.entry.status == ModelStatus::Draft && me.can(Permission::ModelTrain),
            can_approve => v.entry.status == ModelStatus::Submitted
                && me.can(Permission::ModelPromote)
                && v.entry.model.created_by != me.username
                && v.entry.submitted_by.as_deref() != Some(me.username.as_str()),
        };
        match groups.iter_mut().find(|(n, _)| *n == v.entry.model.name) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((v.entry.model.name.clone(), vec![row])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let registry: Vec<Value> = groups
        .into_iter()
        .map(|(name, rows)| context! { name => name, versions => rows })
        .collect();
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "models.html",
        "models",
        context! {
            models => cards,
            registry => registry,
            psi_warn => registry::PSI_WARN,
            psi_alert => registry::PSI_ALERT,
        },
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use serde_json::{Value, json};
    use tower::ServiceExt;
    use zhiying_core::DataDir;
    use zhiying_core::domain::Role;
    use zhiying_store::OperationalStore;

    use super::*;

    async fn call(app: &axum::Router, token: &str, method: &str, uri: &str) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(if method == "POST" {
                Body::from(json!({"note": "AUC up"}).to_string())
            } else {
                Body::empty()
            })
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    /// A challenger becomes champion only when one user requests it and a different user
    /// approves; the requester gets 403; every step is a registry transition and an audit
    /// entry; the console shows the registry with the buttons each user may press.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn promotion_needs_a_second_person_and_is_audited() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("data"));
        std::fs::create_dir_all(dd.root()).unwrap();
        let engine = zhiying_engine::DataFusionEngine::open(&dd).await.unwrap();
        let sql = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let carol =
            crate::tests::user_with_token(&sql, "carol", &[Role::Analyst, Role::ComplianceOfficer])
                .await;
        let dave = crate::tests::user_with_token(&sql, "dave", &[Role::ComplianceOfficer]).await;

        // Two trained versions of a CSV model by alice: the first is champion at once.
        let mut entries = Vec::new();
        for v in 1..=2 {
            let src = tmp.path().join(format!("model{v}.json"));
            std::fs::write(&src, format!("{{\"trained\": {v}}}")).unwrap();
            let reg = registry::Registration {
                name: "credit".into(),
                algorithm: "gbdt".into(),
                target: "default = 1".into(),
                features: vec!["age".into(), "income".into()],
                metrics: json!({"auc": 0.70 + v as f64 / 100.0}),
                params: json!({"trees": 300}),
                training_data_hash: format!("{v:064x}"),
                files: vec![("model.json".into(), src)],
                author: "alice".into(),
            };
            entries.push(registry::register(sql.as_ref(), &dd, &reg).await.unwrap());
        }
        assert_eq!(entries[0].status, ModelStatus::Champion);
        assert_eq!(entries[1].status, ModelStatus::Draft);
        let art = registry::artifact_path(&dd, &entries[1]);
        assert!(art.starts_with(dd.root().join("models/registry/credit")));
        assert_eq!(
            std::fs::read_to_string(&art).unwrap(),
            "{\"trained\": 2}",
            "the artefact is copied into the versioned registry path"
        );
        assert_eq!(entries[1].model.metrics["params"]["trees"], 300);

        let app = crate::router(AppState::new(dd.clone(), Arc::new(engine), sql.clone()));
        // Approving what nobody requested is a conflict.
        let (s, b) = call(&app, &dave, "POST", "/v1/models/credit/2/approve").await;
        assert_eq!(s, 409, "{b}");
        assert_eq!(b["error"]["code"], "illegal_transition");
        // carol requests, then cannot approve her own request.
        let (s, b) = call(&app, &carol, "POST", "/v1/models/credit/2/promote").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["status"], "submitted");
        assert_eq!(b["submitted_by"], "carol");
        let (s, b) = call(&app, &carol, "POST", "/v1/models/credit/2/approve").await;
        assert_eq!(s, 403, "{b}");
        assert_eq!(b["error"]["code"], "self_approval");
        assert_eq!(
            sql.champion_model("credit").await.unwrap().unwrap().version,
            1
        );
        // The console offers dave the approve button, not carol.
        let (s, page) = call(&app, &dave, "GET", "/console/models").await;
        assert_eq!(s, 200);
        let page = page.as_str().unwrap().to_string();
        assert!(page.contains("/console/models/credit/2/approve"), "{page}");
        let (_, page) = call(&app, &carol, "GET", "/console/models").await;
        assert!(
            !page
                .as_str()
                .unwrap()
                .contains("/console/models/credit/2/approve")
        );
        // dave approves: v2 champion, v1 retired.
        let (s, b) = call(&app, &dave, "POST", "/v1/models/credit/2/approve").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["status"], "champion");
        assert_eq!(b["approved_by"], "dave");
        let (s, b) = call(&app, &dave, "GET", "/v1/models/credit/versions").await;
        assert_eq!(s, 200, "{b}");
        let versions = b["versions"].as_array().unwrap();
        assert_eq!(versions[0]["version"]["status"], "retired");
        assert_eq!(versions[1]["version"]["status"], "champion");
        let moves: Vec<(String, String)> = versions[1]["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["to"].as_str().unwrap().to_string(),
                    t["actor"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            [
                ("draft".to_string(), "alice".to_string()),
                ("submitted".into(), "carol".into()),
                ("approved".into(), "dave".into()),
                ("champion".into(), "dave".into()),
            ]
        );
        let audit = sql
            .audit_search(
                &zhiying_store::AuditFilter {
                    action: Some("model.".into()),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        let actions: Vec<(&str, &str)> = audit
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("model.promote.approve", "dave"),
                ("model.promote.request", "carol")
            ]
        );
        let (s, b) = call(&app, &dave, "GET", "/v1/models/nothing/versions").await;
        assert_eq!(s, 404, "{b}");
    }

    /// Model files are parsed once and re-read only when they change.
    #[test]
    fn summaries_are_cached_until_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.json");
        let write = |label: &str| {
            let saved = json!({
                "summary": {"name": "churn", "kind": "churn", "version": "x", "label": label,
                    "train_snapshot": "2026-01-01", "score_snapshot": "2026-04-01",
                    "train_rows": 1, "test_rows": 1, "positives": 1, "test_auc": null, "test_ks": null,
                    "top_features": [], "scored": 0, "artifact": "m.json"},
                "gbdt": null, "isolation_forest": null});
            std::fs::write(&path, saved.to_string()).unwrap();
        };
        write("first");
        let a = cached_summary(&path).unwrap();
        let b = cached_summary(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "second read comes from the cache");
        assert_eq!(a.label, "first");
        write("second, longer label");
        let c = cached_summary(&path).unwrap();
        assert_eq!(c.label, "second, longer label");
    }
}
