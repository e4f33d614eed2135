//! JSON API and operations endpoints.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::customer360::{self, Customer360};
use crate::data::{self, DataOverview};
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/customers/{id}", get(customer))
        .route("/v1/data/tables", get(data_tables))
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

/// Customer 360: profile, linked records, identifiers, accounts, holdings, recent
/// transactions and events, consents, contacts and responses. C2 identifiers are masked.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "Customer id, e.g. C00000001")),
    responses(
        (status = 200, description = "The customer's 360 view", body = Customer360),
        (status = 400, description = "The id cannot be a customer id", body = ErrorBody),
        (status = 404, description = "No customer has this id", body = ErrorBody),
        (status = 500, description = "The engine failed", body = ErrorBody),
    ))]
pub async fn customer(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Customer360>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    match customer360::load(state.engine.as_ref(), &id).await? {
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
