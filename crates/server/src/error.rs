//! One error shape for every JSON response: `{"error": {"code", "message", "hint"}}`.
//!
//! `code` is stable and machine-readable; `message` says what went wrong; `hint` says how
//! to fix it. Internal details (SQL, paths) go to the log, not to the client.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `customer_not_found`.
    #[schema(example = "customer_not_found")]
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn not_found(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message, hint)
    }

    pub fn bad_request(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message, hint)
    }

    /// An engine or I/O failure: logged in full, reported to the client without internals.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context} failed"),
            "The server log has the details. Check that the data directory is readable and was written by `zhiying ingest`.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                hint: self.hint.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl From<zhiying_engine::EngineError> for ApiError {
    fn from(e: zhiying_engine::EngineError) -> Self {
        ApiError::internal("query", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Fallback for unknown routes.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(
        "route_not_found",
        format!("no route for {}", uri.path()),
        "See /openapi.json for the API routes; the console starts at /console.",
    )
}

/// Fallback for a known route called with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
        "See /openapi.json for the methods each route accepts.",
    )
}
