//! Audiences over HTTP (`/v1/audiences/…`) and the audience builder page
//! (`/console/audiences`).
//!
//! The index lives in [`AudienceService`]: loaded on first use, shared as an `Arc`, and
//! reloaded when `derived/tags.parquet` (or its metadata) changes on disk, so a tag rebuild
//! shows up without a restart. Loading runs on the blocking pool; concurrent requests during
//! a reload wait for the one load instead of starting their own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_audience::ops::{self, ExportFormat};
use zhiying_audience::{AudienceError, AudienceIndex, ExprError, RoaringBitmap};
use zhiying_core::DataDir;
use zhiying_store::{OperationalStore, StoreError};

use crate::AppState;
use crate::auth::Routes;
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;
use zhiying_core::access::Permission;

/// API routes and the console page. Merged into the router in one line so an auth layer
/// can wrap them.
pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/audiences", Permission::AudienceRead, list)
        .post("/v1/audiences", Permission::AudienceWrite, save)
        .post("/v1/audiences/count", Permission::AudienceRead, count)
        .post("/v1/audiences/sample", Permission::AudienceRead, sample)
        .post("/v1/audiences/overlap", Permission::AudienceRead, overlap)
        .get("/v1/audiences/tags", Permission::AudienceRead, tags)
        .post(
            "/v1/audiences/{id}/snapshot",
            Permission::AudienceWrite,
            snapshot,
        )
        .get(
            "/v1/audiences/{id}/export",
            Permission::AudienceRead,
            export,
        )
        .get("/console/audiences", Permission::AudienceRead, page)
}

struct Loaded {
    index: Arc<AudienceIndex>,
    stamp: Option<(SystemTime, u64, Option<SystemTime>)>,
    load_millis: u64,
}

/// The audience index cache and the store audiences are saved in.
pub struct AudienceService {
    data_dir: DataDir,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
    pub(crate) store: Option<Arc<dyn OperationalStore>>,
}

impl AudienceService {
    pub fn new(data_dir: DataDir, store: Option<Arc<dyn OperationalStore>>) -> Self {
        AudienceService {
            data_dir,
            loaded: tokio::sync::Mutex::new(None),
            store,
        }
    }

    fn stamp(&self) -> Option<(SystemTime, u64, Option<SystemTime>)> {
        let m = std::fs::metadata(zhiying_audience::tags_parquet(&self.data_dir)).ok()?;
        let meta = std::fs::metadata(zhiying_audience::tags_meta_path(&self.data_dir))
            .ok()
            .and_then(|m| m.modified().ok());
        Some((m.modified().ok()?, m.len(), meta))
    }

    /// The current index, (re)loading it if the tag files changed.
    pub async fn index(&self) -> Result<(Arc<AudienceIndex>, u64), ApiError> {
        let stamp = self.stamp();
        let mut guard = self.loaded.lock().await;
        if let Some(l) = guard.as_ref()
            && l.stamp == stamp
            && stamp.is_some()
        {
            return Ok((l.index.clone(), l.load_millis));
        }
        let dd = self.data_dir.clone();
        let result = tokio::task::spawn_blocking(move || zhiying_audience::load_index(&dd))
            .await
            .map_err(|e| ApiError::internal("loading the audience index", e))?;
        let (index, report) = result.map_err(audience_error)?;
        tracing::info!(
            customers = report.customers,
            tags = report.tags,
            events = report.events,
            millis = report.millis_total,
            "audience index loaded"
        );
        let index = Arc::new(index);
        *guard = Some(Loaded {
            index: index.clone(),
            stamp,
            load_millis: report.millis_total,
        });
        drop(guard);
        // The load's scratch buffers (and, on a reload, the previous index) are free now.
        tokio::task::spawn_blocking(crate::memory::release_free_memory);
        Ok((index, report.millis_total))
    }

    fn store(&self) -> Result<&Arc<dyn OperationalStore>, ApiError> {
        self.store.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "this server has no operational store, so audiences cannot be saved",
                "Start the server with `zhiying serve`, which opens DATA_DIR/zhiying.db or --database-url.",
            )
        })
    }
}

fn audience_error(e: AudienceError) -> ApiError {
    match e {
        AudienceError::NoTags { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "no_tags",
            "no tags have been built for this data directory",
            "Run `zhiying tags build --data-dir DIR` (or `zhiying audience fixture` for synthetic tags), then retry.",
        ),
        AudienceError::Expr(x) => ApiError::bad_request(x.code(), x.to_string(), x.hint()),
        AudienceError::Invalid(m) => ApiError::bad_request(
            "invalid_request",
            m,
            "See /openapi.json for the request shape.",
        ),
        other => ApiError::internal("reading the tags", other),
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { what, key } => ApiError::new(
            StatusCode::CONFLICT,
            "audience_exists",
            format!("{what} '{key}' already exists"),
            "Choose another name.",
        ),
        StoreError::Invalid { field, reason } => ApiError::bad_request(
            "invalid_request",
            format!("invalid {field}: {reason}"),
            "Give a non-empty name and expression.",
        ),
        other => ApiError::internal("the operational store", other),
    }
}

/// Where in the expression an error is (1-based line and column, byte span).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorPosition {
    pub line: usize,
    pub column: usize,
    pub start: usize,
    pub end: usize,
    /// The source line, and the caret line under it.
    pub snippet: String,
    pub caret: String,
    pub expected: Option<String>,
    pub suggestion: Option<String>,
    pub valid: Vec<String>,
}

/// The error body for invalid expressions: the usual `{code, message, hint}` plus `position`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExprErrorBody {
    pub error: ExprErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExprErrorDetail {
    /// `expr_syntax`, `expr_lexical`, `expr_unknown_tag`, `expr_unknown_value` or `expr_type`.
    pub code: String,
    pub message: String,
    pub hint: String,
    pub position: ErrorPosition,
    /// Which expression of the request (overlap has several), from 0.
    pub index: usize,
}

pub(crate) struct ExprRejection(ExprError, usize);

impl IntoResponse for ExprRejection {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = ExprErrorBody {
            error: ExprErrorDetail {
                code: e.code().to_string(),
                message: format!("error at {}:{}: {}", e.line, e.column, e.message),
                hint: e.hint(),
                position: ErrorPosition {
                    line: e.line,
                    column: e.column,
                    start: e.span.start,
                    end: e.span.end,
                    snippet: e.snippet.clone(),
                    caret: e.caret.clone(),
                    expected: e.expected.clone(),
                    suggestion: e.suggestion.clone(),
                    valid: e.valid.clone(),
                },
                index: self.1,
            },
        };
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

pub(crate) enum Failure {
    Api(ApiError),
    Expr(Box<ExprRejection>),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Api(e) => e.into_response(),
            Failure::Expr(e) => e.into_response(),
        }
    }
}

fn evaluate(ix: &AudienceIndex, expr: &str, which: usize) -> Result<(RoaringBitmap, f64), Failure> {
    if expr.len() > 20_000 {
        return Err(Failure::Api(ApiError::bad_request(
            "expr_too_long",
            format!(
                "the expression has {} bytes; the limit is 20,000",
                expr.len()
            ),
            "Save parts as audiences, or simplify with `in (…)`.",
        )));
    }
    let t = Instant::now();
    let m = ix
        .members(expr)
        .map_err(|e| Failure::Expr(Box::new(ExprRejection(e, which))))?;
    Ok((m, t.elapsed().as_secs_f64() * 1000.0))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CountRequest {
    /// An audience expression, e.g. `aum_tier = "high" and did("login", 30d)`.
    #[schema(example = "aum_tier in (\"high\", \"private\") and did(\"login\", 30d)")]
    pub expr: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CountResponse {
    pub count: u64,
    /// Customers in the index (the universe `not` complements within).
    pub customers: u32,
    /// Parse, check and evaluate time in milliseconds.
    pub millis: f64,
    /// The instant "in the last N days" counts back from.
    pub as_of: Option<String>,
}

/// Counts the customers an expression selects.
#[utoipa::path(post, path = "/v1/audiences/count", tag = "audiences", request_body = CountRequest,
    responses(
        (status = 200, description = "Members counted", body = CountResponse),
        (status = 400, description = "Invalid expression, with its position", body = ExprErrorBody),
        (status = 409, description = "No tags built yet", body = ErrorBody),
    ))]
pub(crate) async fn count(
    State(state): State<AppState>,
    Json(req): Json<CountRequest>,
) -> Result<Json<CountResponse>, Failure> {
    let (ix, _) = state.audiences.index().await?;
    let (m, millis) = evaluate(&ix, &req.expr, 0)?;
    Ok(Json(CountResponse {
        count: m.len(),
        customers: ix.customers(),
        millis: (millis * 1000.0).round() / 1000.0,
        as_of: ix.stats().as_of,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SampleRequest {
    pub expr: String,
    /// How many members (default 20, at most 1000).
    pub n: Option<usize>,
    /// Seed of the deterministic choice (default 0).
    pub seed: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SampleResponse {
    pub count: u64,
    pub seed: u64,
    pub customer_ids: Vec<String>,
}

/// A deterministic sample of members: the same data, expression and seed give the same ids.
#[utoipa::path(post, path = "/v1/audiences/sample", tag = "audiences", request_body = SampleRequest,
    responses(
        (status = 200, description = "A sample of members", body = SampleResponse),
        (status = 400, description = "Invalid expression", body = ExprErrorBody),
    ))]
pub(crate) async fn sample(
    State(state): State<AppState>,
    Json(req): Json<SampleRequest>,
) -> Result<Json<SampleResponse>, Failure> {
    let (ix, _) = state.audiences.index().await?;
    let (m, _) = evaluate(&ix, &req.expr, 0)?;
    let seed = req.seed.unwrap_or(0);
    let n = req.n.unwrap_or(20).min(1000);
    Ok(Json(SampleResponse {
        count: m.len(),
        seed,
        customer_ids: ops::sample(&ix, &m, n, seed),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SaveRequest {
    pub name: String,
    pub expr: String,
    #[serde(default)]
    pub description: String,
}

/// A saved audience (as stored).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AudienceOut {
    pub id: String,
    pub name: String,
    pub description: String,
    pub definition: String,
    pub created_by: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub last_count: Option<u64>,
    pub last_counted_at: Option<String>,
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl From<zhiying_store::SavedAudience> for AudienceOut {
    fn from(a: zhiying_store::SavedAudience) -> Self {
        AudienceOut {
            id: a.id,
            name: a.name,
            description: a.description,
            definition: a.definition,
            created_by: a.created_by,
            created_at: rfc3339(a.created_at),
            last_count: a.last_count,
            last_counted_at: a.last_counted_at.map(rfc3339),
        }
    }
}

/// Saves an expression as a named audience (checked and counted first).
#[utoipa::path(post, path = "/v1/audiences", tag = "audiences", request_body = SaveRequest,
    responses(
        (status = 201, description = "Saved", body = AudienceOut),
        (status = 400, description = "Invalid expression or name", body = ExprErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ))]
pub(crate) async fn save(
    State(state): State<AppState>,
    me: crate::auth::Principal,
    Json(req): Json<SaveRequest>,
) -> Result<(StatusCode, Json<AudienceOut>), Failure> {
    let store = state.audiences.store()?.clone();
    let (ix, _) = state.audiences.index().await?;
    let (m, _) = evaluate(&ix, &req.expr, 0)?;
    let saved = store
        .create_audience(&zhiying_store::NewAudience {
            name: req.name,
            description: req.description,
            definition: req.expr,
            created_by: me.username.clone(),
            count: Some(m.len()),
        })
        .await
        .map_err(store_error)?;
    // From now on real-time events can move customers in and out of it.
    sync_watchers(&state).await;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// Saved audiences, ordered by name.
#[utoipa::path(get, path = "/v1/audiences", tag = "audiences",
    responses((status = 200, description = "Saved audiences", body = [AudienceOut])))]
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<AudienceOut>>, ApiError> {
    let store = state.audiences.store()?;
    let list = store.audiences().await.map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

async fn saved(state: &AppState, id: &str) -> Result<zhiying_store::SavedAudience, ApiError> {
    let store = state.audiences.store()?;
    store
        .audience(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(
                "audience_not_found",
                format!("no saved audience has id '{id}'"),
                "GET /v1/audiences lists the saved audiences and their ids.",
            )
        })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SnapshotOut {
    pub audience_id: String,
    pub taken_at: String,
    pub member_count: u64,
    /// The Parquet file, relative to the data directory.
    pub path: String,
}

/// Freezes the current members of a saved audience to
/// `derived/audiences/<id>/<time>.parquet` and records it.
#[utoipa::path(post, path = "/v1/audiences/{id}/snapshot", tag = "audiences",
    params(("id" = String, Path, description = "Audience id, e.g. aud-1a2b3c4d5e6f")),
    responses(
        (status = 201, description = "Snapshot written", body = SnapshotOut),
        (status = 404, description = "No such audience", body = ErrorBody),
    ))]
pub(crate) async fn snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SnapshotOut>), Failure> {
    let a = saved(&state, &id).await?;
    let (ix, _) = state.audiences.index().await?;
    let (m, _) = evaluate(&ix, &a.definition, 0)?;
    let now = chrono::Utc::now();
    let path = ops::snapshot_path(&state.data_dir, &a.id, now);
    let ix2 = ix.clone();
    let p2 = path.clone();
    let n = tokio::task::spawn_blocking(move || ops::write_snapshot(&ix2, &m, &p2))
        .await
        .map_err(|e| ApiError::internal("writing a snapshot", e))?
        .map_err(|e| ApiError::internal("writing a snapshot", e))?;
    let rel: PathBuf = path
        .strip_prefix(state.data_dir.root())
        .map(PathBuf::from)
        .unwrap_or(path);
    let store = state.audiences.store()?;
    let snap = zhiying_store::AudienceSnapshot {
        audience_id: a.id.clone(),
        taken_at: now.timestamp_micros(),
        member_count: n,
        path: rel.display().to_string(),
        definition: a.definition.clone(),
    };
    store
        .record_audience_snapshot(&snap)
        .await
        .map_err(store_error)?;
    store
        .record_audience_count(&a.id, n, snap.taken_at)
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(SnapshotOut {
            audience_id: snap.audience_id,
            taken_at: rfc3339(snap.taken_at),
            member_count: n,
            path: snap.path,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `parquet`.
    pub format: Option<String>,
    /// Tags to include beside customer_id, comma-separated.
    pub tags: Option<String>,
}

/// Members of a saved audience with chosen tags, as CSV or Parquet. Every text value goes
/// through the field policy for the caller's roles: values that hold personal data are
/// masked or left out as the policy says.
#[utoipa::path(get, path = "/v1/audiences/{id}/export", tag = "audiences",
    params(("id" = String, Path, description = "Audience id"), ExportQuery),
    responses(
        (status = 200, description = "The file", content_type = "text/csv", body = String),
        (status = 400, description = "Unknown format or tag", body = ErrorBody),
        (status = 404, description = "No such audience", body = ErrorBody),
    ))]
pub(crate) async fn export(
    State(state): State<AppState>,
    me: crate::auth::Principal,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, Failure> {
    let format: ExportFormat =
        q.format
            .as_deref()
            .unwrap_or("csv")
            .parse()
            .map_err(|m: String| {
                ApiError::bad_request("invalid_format", m, "Use ?format=csv or ?format=parquet.")
            })?;
    let tags: Vec<String> = q
        .tags
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let a = saved(&state, &id).await?;
    let (ix, _) = state.audiences.index().await?;
    ops::check_export_tags(&ix, &tags).map_err(|e| {
        ApiError::bad_request(
            "unknown_tag",
            e.to_string(),
            "GET /v1/audiences/tags lists the tags.",
        )
    })?;
    let (m, _) = evaluate(&ix, &a.definition, 0)?;
    let dd = state.data_dir.clone();
    // Every text cell through the caller's field policy (never unmasked in an export).
    let r = crate::privacy::redactor(&state, &me, false)?;
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let cells = |col: &str, v: &str| crate::privacy::field_text(&r, None, col, None, v);
        ops::export_with(&ix, &dd, &m, &tags, format, &mut out, &cells).map(|_| out)
    })
    .await
    .map_err(|e| ApiError::internal("exporting an audience", e))?
    .map_err(audience_error)?;
    let (ctype, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Parquet => ("application/vnd.apache.parquet", "parquet"),
    };
    let mut res = bytes.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", a.id)) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OverlapRequest {
    /// 2 to 5 expressions; or give `audiences` (saved ids) instead, or both.
    #[serde(default)]
    pub exprs: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OverlapRegion {
    /// Indices of the audiences a customer is in (and in no other).
    pub sets: Vec<usize>,
    pub count: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OverlapResponse {
    /// Names of the compared audiences: the expressions, then saved names.
    pub labels: Vec<String>,
    pub sizes: Vec<u64>,
    pub matrix: Vec<Vec<u64>>,
    pub jaccard: Vec<Vec<f64>>,
    pub regions: Vec<OverlapRegion>,
    pub union: u64,
    pub millis: f64,
}

/// Pairwise intersections and Venn regions of 2–5 audiences.
#[utoipa::path(post, path = "/v1/audiences/overlap", tag = "audiences", request_body = OverlapRequest,
    responses(
        (status = 200, description = "Overlap", body = OverlapResponse),
        (status = 400, description = "Invalid expression or count", body = ExprErrorBody),
    ))]
pub(crate) async fn overlap(
    State(state): State<AppState>,
    Json(req): Json<OverlapRequest>,
) -> Result<Json<OverlapResponse>, Failure> {
    let mut labels = req.exprs.clone();
    let mut exprs = req.exprs.clone();
    for id in &req.audiences {
        let a = saved(&state, id).await?;
        labels.push(a.name);
        exprs.push(a.definition);
    }
    if !(2..=ops::MAX_OVERLAP).contains(&exprs.len()) {
        return Err(Failure::Api(ApiError::bad_request(
            "invalid_request",
            format!(
                "overlap compares 2 to {} audiences, got {}",
                ops::MAX_OVERLAP,
                exprs.len()
            ),
            "Give 2 to 5 entries in `exprs` and `audiences` together.",
        )));
    }
    let (ix, _) = state.audiences.index().await?;
    let t = Instant::now();
    let mut sets = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        sets.push(evaluate(&ix, e, i)?.0);
    }
    let o = ops::overlap(&sets).map_err(audience_error)?;
    Ok(Json(OverlapResponse {
        labels,
        sizes: o.sizes,
        matrix: o.matrix,
        jaccard: o.jaccard,
        regions: o
            .regions
            .into_iter()
            .map(|r| OverlapRegion {
                sets: r.sets,
                count: r.count,
            })
            .collect(),
        union: o.union,
        millis: t.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// One tag as the builder's picker shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagOut {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    /// `categorical`, `numeric` or `flag`.
    pub kind: String,
    pub description: String,
    /// Codes with labels: `[code, zh, en]`.
    pub values: Vec<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagsResponse {
    pub customers: u32,
    pub as_of: Option<String>,
    pub tags: Vec<TagOut>,
    pub event_types: Vec<String>,
    pub product_categories: Vec<String>,
    pub load_millis: u64,
}

fn tags_of(ix: &AudienceIndex, load_millis: u64) -> TagsResponse {
    TagsResponse {
        customers: ix.customers(),
        as_of: ix.stats().as_of,
        tags: ix
            .tags()
            .iter()
            .map(|t| TagOut {
                key: t.key.clone(),
                name_zh: t.name_zh.clone(),
                name_en: t.name_en.clone(),
                category: t.category.clone(),
                kind: t.kind.name().to_string(),
                description: t.description.clone(),
                values: t
                    .values
                    .iter()
                    .map(|v| vec![v.code.clone(), v.zh.clone(), v.en.clone()])
                    .collect(),
            })
            .collect(),
        event_types: ix.event_types().map(str::to_string).collect(),
        product_categories: ix.product_categories().to_vec(),
        load_millis,
    }
}

/// The tag catalogue the expressions can use, with event types and product categories.
#[utoipa::path(get, path = "/v1/audiences/tags", tag = "audiences",
    responses(
        (status = 200, description = "Tags", body = TagsResponse),
        (status = 409, description = "No tags built yet", body = ErrorBody),
    ))]
pub(crate) async fn tags(State(state): State<AppState>) -> Result<Json<TagsResponse>, ApiError> {
    let (ix, ms) = state.audiences.index().await?;
    Ok(Json(tags_of(&ix, ms)))
}

/// The audience builder.
async fn page(
    State(state): State<AppState>,
    locale: Locale,
    me: crate::auth::Principal,
) -> Response {
    let (catalog, error) = match state.audiences.index().await {
        Ok((ix, ms)) => (Some(tags_of(&ix, ms)), None),
        Err(e) => (None, Some(e)),
    };
    let saved: Vec<AudienceOut> = match &state.audiences.store {
        Some(s) => s
            .audiences()
            .await
            .map(|v| v.into_iter().map(Into::into).collect())
            .unwrap_or_else(|e| {
                tracing::warn!("listing audiences: {e}");
                Vec::new()
            }),
        None => Vec::new(),
    };
    crate::console::render_page(
        &state,
        &locale,
        &me,
        "audiences.html",
        "audiences",
        context! {
            catalog => Value::from_serialize(&catalog),
            has_catalog => catalog.is_some(),
            load_error => error.as_ref().map(|e| e.message.clone()),
            load_hint => error.as_ref().map(|e| e.hint.clone()),
            saved => Value::from_serialize(&saved),
            can_save => state.audiences.store.is_some(),
        },
    )
}

/// A saved audience evaluated for one customer on every real-time update: batch tags from
/// the audience index, "did event Y in the last N days" from the live profile first.
struct AudienceWatcher {
    id: String,
    query: zhiying_audience::Query,
    index: Arc<AudienceIndex>,
}

struct LiveProfile<'a, 'b>(&'a zhiying_events::profile::ProfileView<'b>);

impl zhiying_audience::LiveFacts for LiveProfile<'_, '_> {
    fn did(&self, event_type: &str, days: Option<u32>, min_count: u32) -> Option<bool> {
        // The live profile only knows events since the log started; it can add a "yes"
        // to the batch history but not take one away.
        let days = days.map_or(i32::MAX, |d| d.min(i32::MAX as u32) as i32);
        (min_count <= 1
            && (self.0.did_event(event_type, days) || self.0.did_transaction(event_type, days)))
        .then_some(true)
    }
}

impl zhiying_events::MembershipWatcher for AudienceWatcher {
    fn audience_id(&self) -> &str {
        &self.id
    }
    fn is_member(&self, view: &zhiying_events::profile::ProfileView<'_>) -> bool {
        let c = self.index.position(view.customer_id);
        self.index.matches(&self.query, c, &LiveProfile(view))
    }
    fn transition(
        &self,
        view: &zhiying_events::profile::ProfileView<'_>,
        was_member: bool,
    ) -> Option<zhiying_events::input::Change> {
        // A customer already in the batch audience has not "entered" it on their first live
        // event: batch membership is the starting state until the customer leaves live;
        // after that the live state rules, so leaving and re-entering are both reported.
        let c = self.index.position(view.customer_id);
        let before = was_member
            || (view
                .profile
                .left_audiences
                .binary_search_by(|a| a.as_str().cmp(&self.id))
                .is_err()
                && self
                    .index
                    .matches(&self.query, c, &zhiying_audience::NoLiveFacts));
        match (before, self.is_member(view)) {
            (false, true) => Some(zhiying_events::input::Change::Entered),
            (true, false) => Some(zhiying_events::input::Change::Left),
            _ => None,
        }
    }
}

/// Registers every saved audience as a real-time watcher (and drops removed ones), so
/// entering or leaving one emits an `AudienceEntered`/`AudienceLeft` change that triggers
/// can act on. Audiences whose expression no longer compiles are skipped with a warning.
pub async fn sync_watchers(state: &AppState) {
    let Some(events) = state.events.clone() else {
        return;
    };
    let Ok(store) = state.audiences.store().cloned() else {
        return;
    };
    let index = match state.audiences.index().await {
        Ok((ix, _)) => ix,
        Err(e) => {
            tracing::info!(error = %e.message, "no audience index yet: real-time audience watchers not registered");
            return;
        }
    };
    let saved = match store.audiences().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list saved audiences for real-time watchers");
            return;
        }
    };
    let mut registered = 0;
    for a in saved {
        match index.compile(&a.definition) {
            Ok(query) => {
                events.register_watcher(Arc::new(AudienceWatcher {
                    id: a.id.clone(),
                    query,
                    index: index.clone(),
                }));
                registered += 1;
            }
            Err(e) => {
                events.unregister_watcher(&a.id);
                tracing::warn!(audience = %a.id, error = %e, "saved audience no longer compiles; not watched");
            }
        }
    }
    tracing::info!(registered, "real-time audience watchers registered");
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    struct Env {
        app: axum::Router,
        dd: DataDir,
        token: String,
        _tmp: tempfile::TempDir,
    }

    async fn env(with_tags: bool) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        if with_tags {
            let spec = zhiying_audience::fixture::FixtureSpec {
                customers: 2_000,
                ..Default::default()
            };
            zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
        }
        let engine = zhiying_engine::DataFusionEngine::open(&dd).await.unwrap();
        let sql = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let token = crate::tests::user_with_token(
            &sql,
            "marketer",
            &[zhiying_core::domain::Role::Marketer],
        )
        .await;
        let app = crate::router(AppState::new(dd.clone(), Arc::new(engine), sql));
        Env {
            app,
            dd,
            token,
            _tmp: tmp,
        }
    }

    async fn call(e: &Env, method: &str, uri: &str, body: Option<Value>) -> (u16, String) {
        let app = &e.app;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", e.token));
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
    }

    #[tokio::test]
    async fn count_sample_save_snapshot_export_overlap() {
        let e = env(true).await;
        let (ix, _) = zhiying_audience::load_index(&e.dd).unwrap();
        let expr = r#"aum_tier in ("high", "private") or (age >= 60 and did("login", 30d))"#;
        let want = ix.members(expr).unwrap().len();
        assert!(want > 0);

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": expr})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let v = json(&b);
        assert_eq!(v["count"], want);
        assert_eq!(v["customers"], 2_000);
        assert_eq!(v["as_of"], "2024-06-30");

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/sample",
            Some(json!({"expr": expr, "n": 5, "seed": 3})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let v = json(&b);
        assert_eq!(v["customer_ids"].as_array().unwrap().len(), 5);
        let (_, b2) = call(
            &e,
            "POST",
            "/v1/audiences/sample",
            Some(json!({"expr": expr, "n": 5, "seed": 3})),
        )
        .await;
        assert_eq!(
            json(&b2)["customer_ids"],
            v["customer_ids"],
            "samples are deterministic"
        );

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences",
            Some(json!({"name": "高价值", "expr": expr})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let saved = json(&b);
        assert_eq!(saved["last_count"], want);
        let id = saved["id"].as_str().unwrap().to_string();
        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences",
            Some(json!({"name": "高价值", "expr": "true"})),
        )
        .await;
        assert_eq!(s, 409, "{b}");
        assert_eq!(json(&b)["error"]["code"], "audience_exists");
        let (s, b) = call(&e, "GET", "/v1/audiences", None).await;
        assert_eq!(s, 200);
        assert_eq!(json(&b)[0]["name"], "高价值");

        let (s, b) = call(&e, "POST", &format!("/v1/audiences/{id}/snapshot"), None).await;
        assert_eq!(s, 201, "{b}");
        let snap = json(&b);
        assert_eq!(snap["member_count"], want);
        let path = e.dd.root().join(snap["path"].as_str().unwrap());
        assert!(
            path.starts_with(e.dd.root().join("derived/audiences").join(&id)),
            "{}",
            path.display()
        );
        assert!(path.is_file());

        let (s, b) = call(
            &e,
            "GET",
            &format!("/v1/audiences/{id}/export?format=csv&tags=aum_tier,age"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let mut lines = b.lines();
        assert_eq!(lines.next(), Some("customer_id,aum_tier,age"));
        assert_eq!(lines.count() as u64, want);
        let (s, b) = call(
            &e,
            "GET",
            &format!("/v1/audiences/{id}/export?format=xlsx"),
            None,
        )
        .await;
        assert_eq!(s, 400, "{b}");
        let (s, b) = call(
            &e,
            "GET",
            &format!("/v1/audiences/{id}/export?tags=agee"),
            None,
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert!(
            json(&b)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `age`"),
            "{b}"
        );
        let (s, _) = call(&e, "GET", "/v1/audiences/aud-000000000000/export", None).await;
        assert_eq!(s, 404);

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/overlap",
            Some(json!({"exprs": ["holds_fund", "holds_wealth"], "audiences": [id]})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let o = json(&b);
        let fund = ix.members("holds_fund").unwrap();
        let wealth = ix.members("holds_wealth").unwrap();
        assert_eq!(o["labels"], json!(["holds_fund", "holds_wealth", "高价值"]));
        assert_eq!(o["matrix"][0][1], fund.intersection_len(&wealth));
        assert_eq!(o["sizes"][2], want);
        assert_eq!(o["regions"].as_array().unwrap().len(), 7);

        let (s, b) = call(&e, "GET", "/console/audiences?lang=zh", None).await;
        assert_eq!(s, 200);
        assert!(
            b.contains("人群圈选") && b.contains("高价值") && b.contains("aud-catalog"),
            "{b}"
        );
        let (s, b) = call(&e, "GET", "/console/audiences?lang=en", None).await;
        assert_eq!(s, 200);
        assert!(b.contains("Saved audiences"));
    }

    #[tokio::test]
    async fn invalid_expressions_answer_400_with_the_position() {
        let e = env(true).await;
        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": "age > 30 and aum_teir = 'high'"})),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        let v = json(&b);
        assert_eq!(v["error"]["code"], "expr_unknown_tag");
        assert_eq!(
            v["error"]["message"],
            "error at 1:14: unknown tag `aum_teir`"
        );
        assert_eq!(v["error"]["position"]["column"], 14);
        assert_eq!(v["error"]["position"]["start"], 13);
        assert_eq!(v["error"]["position"]["end"], 21);
        assert_eq!(v["error"]["position"]["suggestion"], "aum_tier");
        assert_eq!(
            v["error"]["position"]["caret"],
            format!("{}{}", " ".repeat(13), "^".repeat(8))
        );

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": "aum_tier ="})),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(
            json(&b)["error"]["message"],
            "error at 1:11: expected a value after `=`, found end of input"
        );

        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/overlap",
            Some(json!({"exprs": ["holds_fund", "age >"]})),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(json(&b)["error"]["index"], 1);
        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/overlap",
            Some(json!({"exprs": ["holds_fund"]})),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        // An invalid expression is not saved.
        let (s, _) = call(
            &e,
            "POST",
            "/v1/audiences",
            Some(json!({"name": "x", "expr": "age >"})),
        )
        .await;
        assert_eq!(s, 400);
        let (_, b) = call(&e, "GET", "/v1/audiences", None).await;
        assert_eq!(json(&b), json!([]));
    }

    #[tokio::test]
    async fn without_tags_the_api_says_how_to_build_them() {
        let e = env(false).await;
        let (s, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": "true"})),
        )
        .await;
        assert_eq!(s, 409, "{b}");
        let v = json(&b);
        assert_eq!(v["error"]["code"], "no_tags");
        assert!(
            v["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("zhiying tags build")
        );
        let (s, b) = call(&e, "GET", "/console/audiences", None).await;
        assert_eq!(s, 200);
        assert!(b.contains("aud-load-error"));
    }

    #[tokio::test]
    async fn the_index_reloads_when_tags_change() {
        let e = env(true).await;
        let (_, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": "true"})),
        )
        .await;
        assert_eq!(json(&b)["count"], 2_000);
        // Rewrite with fewer customers; a different size changes the file stamp.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let spec = zhiying_audience::fixture::FixtureSpec {
            customers: 1_500,
            ..Default::default()
        };
        zhiying_audience::fixture::write_fixture(&e.dd, &spec).unwrap();
        let (_, b) = call(
            &e,
            "POST",
            "/v1/audiences/count",
            Some(json!({"expr": "true"})),
        )
        .await;
        assert_eq!(json(&b)["count"], 1_500);
    }
}
