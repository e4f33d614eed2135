//! Zhiying's HTTP server: the JSON API under `/v1`, operations endpoints (`/healthz`,
//! `/metrics`, `/openapi.json`) and the server-rendered console under `/console`.
//!
//! Everything a request needs lives in [`AppState`], which is cheap to clone (it is a bag of
//! `Arc`s). Later capabilities add their own fields (operational store, auth) without
//! touching the handlers that do not use them.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<dyn zhiying_engine::AnalyticsEngine>) -> Result<(), zhiying_server::ServerError> {
//! use zhiying_core::DataDir;
//! let state = zhiying_server::AppState::new(DataDir::new("data"), engine);
//! let addr = "127.0.0.1:8080".parse().unwrap();
//! zhiying_server::serve(state, addr, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod api;
mod assets;
mod console;
mod customer360;
mod data;
mod error;
mod i18n;
mod metrics;
mod openapi;
mod tags;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;

pub use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub data_dir: DataDir,
    pub engine: Arc<dyn AnalyticsEngine>,
    metrics: Arc<metrics::Metrics>,
    templates: Arc<console::Templates>,
}

impl AppState {
    /// Builds the state. Templates and translations are embedded in the binary and checked
    /// by the crate's tests, so building them cannot fail at run time.
    pub fn new(data_dir: DataDir, engine: Arc<dyn AnalyticsEngine>) -> Self {
        AppState {
            data_dir,
            engine,
            metrics: Arc::new(metrics::Metrics::new()),
            templates: Arc::new(console::Templates::load()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "could not listen on {addr}: {source}. Is another program using the port? Try another with --port"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped with an I/O error: {0}")]
    Serve(#[from] std::io::Error),
}

/// The whole application: API, operations endpoints, console and embedded assets.
pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .merge(api::routes())
        .merge(tags::routes())
        .merge(console::routes())
        .merge(assets::routes())
        .fallback(console::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Nothing may load from outside the server: the console is fully self-contained.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        local.ip().to_string()
    };
    let host = if local.is_ipv6() && !local.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    tracing::info!(
        "Zhiying console at http://{host}:{port}/console (API: http://{host}:{port}/openapi.json, engine {engine})",
        port = local.port(),
        engine = state.engine.name()
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

#[cfg(test)]
mod tests;
