//! JSON API and operations endpoints.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;

use crate::AppState;
use crate::auth::{Access, Principal, Routes};
use crate::customer360::{self, Customer360};
use crate::data::{self, DataOverview};
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", Access::Public, healthz)
        .get("/metrics", Permission::MetricsRead, metrics)
        .get("/openapi.json", Permission::ApiDocs, openapi)
        .get("/v1/customers/{id}", Permission::CustomerRead, customer)
        .get("/v1/data/tables", Permission::DataRead, data_tables)
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the engine cannot answer a trivial query.
    #[schema(example = "ok")]
    pub status: String,
    /// Analytics engine, e.g. `datafusion`.
    #[schema(example = "datafusion")]
    pub engine: String,
    pub version: String,
}

/// Liveness and readiness: answers 503 when the engine cannot run `SELECT 1`.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Server and engine are working", body = Health),
        (status = 503, description = "The engine failed a trivial query", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let ok = match state.engine.query("SELECT 1").await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("health check query failed: {e}");
            false
        }
    };
    let health = Health {
        status: if ok { "ok" } else { "degraded" }.to_string(),
        engine: state.engine.name().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(health),
    )
}

/// Prometheus metrics (OpenMetrics text): requests, latency, rows and quarantine per table.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Data gauges are refreshed per scrape; a failing engine must not hide request metrics.
    match data::overview(&state.data_dir, state.engine.as_ref()).await {
        Ok(o) => {
            for t in &o.tables {
                let l = crate::metrics::TableLabels {
                    table: t.table.clone(),
                };
                state
                    .metrics
                    .table_rows
                    .get_or_create(&l)
                    .set(t.rows as i64);
                state
                    .metrics
                    .quarantined_rows
                    .get_or_create(&l)
                    .set(t.quarantined as i64);
            }
            for t in o.quality.iter().flat_map(|q| &q.tables) {
                if let Some(h) = t.staleness_hours {
                    let l = crate::metrics::TableLabels {
                        table: t.table.clone(),
                    };
                    state.metrics.data_staleness_hours.get_or_create(&l).set(h);
                }
            }
        }
        Err(e) => tracing::warn!("metrics: data gauges not refreshed: {e}"),
    }
    let body = state
        .metrics
        .encode()
        .map_err(|e| ApiError::internal("encoding metrics", e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

/// `?unmask=true&reason=…` on the customer 360 view.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnmaskQuery {
    /// Ask for personal data in clear. Needs `pii.unmask` and a `reason`; callers
    /// without the permission get the policy's view (`pii_masked: true`).
    pub unmask: Option<bool>,
    /// Why the data is needed (4–500 characters); recorded in the audit log.
    pub reason: Option<String>,
}

/// Decides whether this request sees personal data in clear, and audits it if so. The audit
/// entry is written before the data is read: no entry, no data. Callers without
/// `pii.unmask` get the policy's masked view (and no entry).
pub async fn unmask_decision(
    state: &AppState,
    me: &Principal,
    customer_id: &str,
    unmask: bool,
    reason: Option<&str>,
    via: &str,
) -> Result<bool, ApiError> {
    if !unmask || !me.can(Permission::PiiUnmask) {
        return Ok(false);
    }
    let reason = crate::privacy::check_reason(reason)?;
    crate::privacy::audit_unmask(
        state,
        me,
        customer_id,
        reason,
        via,
        &["name", "resident_id", "phone", "email", "identifiers"],
    )
    .await?;
    Ok(true)
}

/// Customer 360: profile, linked records, identifiers, accounts, holdings, recent
/// transactions and events, consents, contacts and responses. Every C2/C3 field follows the
/// field policy for the caller's roles (clear, masked or hidden); a caller with `pii.unmask`
/// may ask `unmask=true` with a `reason` (audited) to lift masked fields to clear.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "Customer id, e.g. C00000001"), UnmaskQuery),
    responses(
        (status = 200, description = "The customer's 360 view", body = Customer360),
        (status = 400, description = "The id cannot be a customer id, or unmasking without a reason", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "No customer.read permission", body = ErrorBody),
        (status = 404, description = "No customer has this id", body = ErrorBody),
        (status = 500, description = "The engine failed", body = ErrorBody),
    ))]
pub async fn customer(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<UnmaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Customer360>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    customer360::validate_customer_id(&id)?;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let clear = unmask_decision(
        &state,
        &me,
        &id,
        q.unmask.unwrap_or(false),
        q.reason.as_deref(),
        "api",
    )
    .await?;
    let r = crate::privacy::redactor(&state, &me, clear)?;
    match customer360::load(state.engine.as_ref(), &id, &r).await? {
        Some(c) => Ok(Json(c)),
        None => Err(customer_not_found(&id)),
    }
}

pub fn customer_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "customer_not_found",
        format!("no customer has id '{id}'"),
        "Check the id (ids look like C00000001); GET /v1/data/tables shows whether customers were ingested.",
    )
}

pub fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request(
        "invalid_path_parameter",
        format!("the path parameter is invalid: {}", e.body_text()),
        "Percent-encode the value as UTF-8; see /openapi.json for the parameter's format.",
    )
}

/// Tables with row counts, quarantine counts and the latest data-quality report.
#[utoipa::path(get, path = "/v1/data/tables", tag = "data",
    responses(
        (status = 200, description = "Data overview", body = DataOverview),
        (status = 500, description = "The engine failed", body = ErrorBody),
    ))]
pub async fn data_tables(State(state): State<AppState>) -> Result<Json<DataOverview>, ApiError> {
    Ok(Json(
        data::overview(&state.data_dir, state.engine.as_ref()).await?,
    ))
}
