//! The audit log in the console (`/console/audit`) and the API (`/v1/audit/…`): entries with
//! filters, and the verification of the hash chain and its signed anchors.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;
use zhiying_store::{AuditFilter, verify_audit_log};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;

pub fn routes() -> Routes {
    Routes::new()
        .get("/console/audit", Permission::AuditRead, audit_page)
        .get("/v1/audit/entries", Permission::AuditRead, entries)
        .get("/v1/audit/verify", Permission::AuditRead, verify)
}

/// Filters of the audit list (all optional).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exact username.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.`, e.g. `auth.`.
    pub action: Option<String>,
    /// Part of the target, e.g. `customer:C00000001`.
    pub target: Option<String>,
    /// From this UTC date (YYYY-MM-DD), inclusive.
    pub since: Option<String>,
    /// Until this UTC date (YYYY-MM-DD), inclusive.
    pub until: Option<String>,
    /// Only entries before this seq (the next page).
    pub before: Option<u64>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

fn day_micros(s: &str, field: &str, end_of_day: bool) -> Result<i64, ApiError> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_date",
            format!("{field} '{s}' is not a date"),
            "Write dates as YYYY-MM-DD (UTC).",
        )
    })?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    Ok(d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or(0))
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        Ok(AuditFilter {
            actor: non_empty(&self.actor),
            action: non_empty(&self.action),
            target: non_empty(&self.target),
            since: non_empty(&self.since)
                .map(|s| day_micros(&s, "since", false))
                .transpose()?,
            until: non_empty(&self.until)
                .map(|s| day_micros(&s, "until", true))
                .transpose()?,
            before_seq: self.before,
        })
    }
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The detail as JSON.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

fn view(e: zhiying_store::AuditEntry) -> AuditEntryView {
    AuditEntryView {
        ts: chrono::DateTime::from_timestamp_micros(e.ts)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        detail: serde_json::from_str(&e.detail)
            .unwrap_or(serde_json::Value::String(e.detail.clone())),
        seq: e.seq,
        actor: e.actor,
        action: e.action,
        target: e.target,
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}

/// Audit entries, newest first, with filters.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries, newest first", body = Vec<AuditEntryView>),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 403, description = "No audit.read permission", body = ErrorBody),
    ))]
pub async fn entries(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("the query string is invalid: {}", e.body_text()),
            "Filters: actor, action, target, since, until (YYYY-MM-DD), before (a seq), limit (1-500).",
        )
    })?;
    let list = state
        .store
        .audit_search(&q.filter()?, q.limit())
        .await
        .map_err(|e| ApiError::internal("reading the audit log", e))?;
    Ok(Json(list.into_iter().map(view).collect()))
}

/// The verification `zhiying audit verify` does: chain and signed anchors.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub ok: bool,
    pub entries: u64,
    pub head_seq: Option<u64>,
    pub anchors: u64,
    pub anchors_verified: u64,
    /// The first entry that is missing, changed or out of place.
    pub first_bad_seq: Option<u64>,
    pub problem: Option<String>,
    pub warnings: Vec<String>,
}

async fn run_verify(state: &AppState) -> Result<VerificationView, ApiError> {
    let v = verify_audit_log(state.store.as_ref(), state.auth.anchor_keys.as_ref())
        .await
        .map_err(|e| ApiError::internal("verifying the audit log", e))?;
    Ok(VerificationView {
        ok: v.ok,
        entries: v.entries,
        head_seq: v.head_seq,
        anchors: v.anchors,
        anchors_verified: v.anchors_verified,
        first_bad_seq: v.first_bad_seq,
        problem: v.problem,
        warnings: v.warnings,
    })
}

/// Recomputes the hash chain and checks every signed anchor; names the first bad entry.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "Verification result (ok false when tampered)", body = VerificationView),
        (status = 403, description = "No audit.read permission", body = ErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>) -> Result<Json<VerificationView>, ApiError> {
    Ok(Json(run_verify(&state).await?))
}

async fn audit_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let limit = q.limit();
    let (list, verification) = match tokio::try_join!(
        async {
            state
                .store
                .audit_search(&filter, limit)
                .await
                .map_err(|e| ApiError::internal("reading the audit log", e))
        },
        run_verify(&state)
    ) {
        Ok(x) => x,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let next_before = (list.len() as u32 == limit)
        .then(|| list.last().map(|e| e.seq))
        .flatten();
    let rows: Vec<AuditEntryView> = list.into_iter().map(view).collect();
    let mut next_query: Vec<String> = Vec::new();
    for (k, v) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("target", &q.target),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if let Some(v) = non_empty(v) {
            next_query.push(format!("{k}={}", crate::console::encode_segment(&v)));
        }
    }
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "audit.html",
        "audit",
        context! {
            entries => Value::from_serialize(&rows),
            v => Value::from_serialize(&verification),
            f => context! {
                actor => non_empty(&q.actor).unwrap_or_default(),
                action => non_empty(&q.action).unwrap_or_default(),
                target => non_empty(&q.target).unwrap_or_default(),
                since => non_empty(&q.since).unwrap_or_default(),
                until => non_empty(&q.until).unwrap_or_default(),
            },
            next_href => next_before.map(|b| {
                next_query.push(format!("before={b}"));
                format!("/console/audit?{}", next_query.join("&"))
            }),
        },
    )
}
