//! Zhiying's HTTP server: the JSON API under `/v1`, operations endpoints (`/healthz`,
//! `/metrics`, `/openapi.json`) and the server-rendered console under `/console`.
//!
//! Everything a request needs lives in [`AppState`], which is cheap to clone (it is a bag of
//! `Arc`s). Later capabilities add their own fields without touching the handlers that do
//! not use them.
//!
//! Every route is registered with the permission it needs through [`auth::Routes`]; see
//! [`all_routes`] and the `auth` module.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<dyn zhiying_engine::AnalyticsEngine>, store: std::sync::Arc<dyn zhiying_store::OperationalStore>) -> Result<(), zhiying_server::ServerError> {
//! use zhiying_core::DataDir;
//! let state = zhiying_server::AppState::new(DataDir::new("data"), engine, store);
//! let addr = "127.0.0.1:8080".parse().unwrap();
//! zhiying_server::serve(state, addr, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod api;
mod assets;
mod audiences;
mod decisions;
pub(crate) mod models;
pub use audiences::sync_watchers;
mod audit;
mod campaigns;
pub use campaigns::{CampaignLauncher, LaunchError, LaunchSummary};
pub mod auth;
mod compliance;
mod console;
mod customer360;
mod data;
/// Delivery in `zhiying serve`: the outbox dispatcher, the status API and the monitor page.
pub mod delivery;
mod dsr;
mod error;
mod events;
mod i18n;
/// Body-size cap, request deadline and per-caller rate limit.
pub mod limits;
mod memory;
mod metrics;
mod openapi;
mod privacy;
pub mod reports;
/// Scheduled retraining of the bank models (`zhiying serve --retrain-every`).
pub mod retrain;
mod segments;
mod tags;
/// Triggered campaigns: event rules that fire a decision and a delivery.
pub mod triggers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use zhiying_core::DataDir;
use zhiying_engine::AnalyticsEngine;
use zhiying_store::OperationalStore;

pub use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub data_dir: DataDir,
    pub engine: Arc<dyn AnalyticsEngine>,
    /// The real-time event log; `None` until [`AppState::with_events`] (the events routes then answer 503).
    pub events: Option<Arc<zhiying_events::EventStore>>,
    /// Users, sessions, tokens, the audit log and the rest of the operational state.
    pub store: Arc<dyn OperationalStore>,
    pub auth: Arc<auth::AuthState>,
    metrics: Arc<metrics::Metrics>,
    templates: Arc<console::Templates>,
    audiences: Arc<audiences::AudienceService>,
    decisions: Arc<decisions::DecisionService>,
    /// Starts a campaign when it moves to `running`; `None` only records the state.
    pub launcher: Option<Arc<dyn CampaignLauncher>>,
    /// Body cap, deadline and rate limit applied to every request.
    pub limits: limits::Limits,
    /// The delivery outbox and its adapters; `None` until [`delivery::start`].
    pub delivery: Option<Arc<delivery::DeliveryInfo>>,
    /// The trigger worker's service; `None` until [`delivery::start`].
    pub triggers: Option<Arc<triggers::TriggerService>>,
}

impl AppState {
    /// Builds the state. Templates and translations are embedded in the binary and checked
    /// by the crate's tests, so building them cannot fail at run time.
    /// Uses the default [`auth::AuthConfig`] and no audit-anchor key; see [`AppState::with_auth`].
    pub fn new(
        data_dir: DataDir,
        engine: Arc<dyn AnalyticsEngine>,
        store: Arc<dyn OperationalStore>,
    ) -> Self {
        AppState {
            audiences: Arc::new(audiences::AudienceService::new(
                data_dir.clone(),
                Some(store.clone()),
            )),
            decisions: Arc::new(decisions::DecisionService::default()),
            launcher: None,
            limits: limits::Limits::default(),
            delivery: None,
            triggers: None,
            data_dir,
            engine,
            events: None,
            store,
            auth: Arc::new(auth::AuthState::new(auth::AuthConfig::default(), None)),
            metrics: Arc::new(metrics::Metrics::new()),
            templates: Arc::new(console::Templates::load()),
        }
    }

    /// Serves `POST /v1/events` and the real-time profile routes from this store.
    pub fn with_events(mut self, store: Arc<zhiying_events::EventStore>) -> Self {
        self.events = Some(store);
        self
    }

    /// Serves the delivery monitor from this outbox (see [`delivery::start`]).
    pub fn with_delivery(mut self, info: Arc<delivery::DeliveryInfo>) -> Self {
        self.delivery = Some(info);
        self
    }

    /// Fires trigger rules through this service (see [`delivery::start`]).
    pub fn with_triggers(mut self, service: Arc<triggers::TriggerService>) -> Self {
        self.triggers = Some(service);
        self
    }

    /// Calls `launcher` when a campaign moves to `running` (the campaign runner).
    pub fn with_launcher(mut self, launcher: Arc<dyn CampaignLauncher>) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// Replaces the request limits (body size, deadline, rate).
    pub fn with_limits(mut self, limits: limits::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the session/login settings and the key that signs audit anchors.
    pub fn with_auth(
        mut self,
        config: auth::AuthConfig,
        anchor_keys: Option<zhiying_store::AnchorKeyring>,
    ) -> Self {
        self.auth = Arc::new(auth::AuthState::new(config, anchor_keys));
        self
    }
}

/// Every route with the permission it needs. Add a capability's routes here with one
/// `.merge(module::routes())`.
pub fn all_routes() -> auth::Routes {
    auth::Routes::new()
        .merge(api::routes())
        .merge(events::routes())
        .merge(audiences::routes())
        .merge(tags::routes())
        .merge(models::routes())
        .merge(segments::routes())
        .merge(decisions::routes())
        .merge(auth::login::routes())
        .merge(console::routes())
        .merge(audit::routes())
        .merge(compliance::routes())
        .merge(campaigns::routes())
        .merge(assets::routes())
        .merge(dsr::routes())
        .merge(privacy::routes())
        .merge(reports::routes())
        .merge(triggers::routes())
        .merge(delivery::routes())
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
    let limits = state.limits;
    let (routes, registry) = all_routes().into_parts();
    let guard = auth::Guard {
        state: state.clone(),
        registry,
    };
    routes
        // After every route is in: the gate applies to all of them, and only to matched ones.
        .route_layer(axum::middleware::from_fn_with_state(guard, auth::enforce))
        .fallback(console::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::LimitState::new(limits),
            limits::enforce,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(privacy::access_log))
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
    // `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends `Origin: null` on
    // same-site form posts, which the CSRF check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
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
    let upkeep = tokio::spawn(auth::upkeep(state.clone()));
    let retention = tokio::spawn(dsr::retention_task(state.clone()));
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    upkeep.abort();
    retention.abort();
    served?;
    tracing::info!("server stopped");
    Ok(())
}

#[cfg(test)]
mod tests;
