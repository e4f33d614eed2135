use std::net::SocketAddr;

use anyhow::Context;
use std::sync::Arc;

use super::DataDirArg;
use crate::config::Config;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  zhiying serve --data-dir data\n  zhiying serve --data-dir data --port 9000 --bind 0.0.0.0\n\nThen open http://127.0.0.1:8080/console"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Port to listen on (default 8080, or ZHIYING_PORT).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Mark session cookies Secure (set this when a TLS proxy fronts the server; requests with
    /// `X-Forwarded-Proto: https` get Secure cookies anyway).
    #[arg(long, env = "ZHIYING_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Retrain the bank models in the background this often (e.g. 7d, 12h); new versions
    /// are registered as challengers, never promoted. Default: the store setting
    /// `models.retrain_every`, else never.
    #[arg(long, value_name = "INTERVAL", value_parser = zhiying_server::retrain::parse_interval)]
    pub retrain_every: Option<std::time::Duration>,
    /// Largest request body accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    pub max_body_mb: usize,
    /// Abandon a request (503) after this long, e.g. 60s, 5m.
    #[arg(long, value_name = "INTERVAL", default_value = "60s", value_parser = zhiying_server::retrain::parse_interval)]
    pub request_timeout: std::time::Duration,
    /// Sustained requests per second per caller (token, session or address); 0 turns it off.
    /// Bursts of twice this are allowed.
    #[arg(
        long,
        value_name = "PER_SECOND",
        default_value_t = 2000,
        env = "ZHIYING_RATE_LIMIT"
    )]
    pub rate_limit: u32,
    /// Send channels to webhooks instead of files: CHANNEL=URL,… (e.g.
    /// `sms=http://gw:8080/sms`). Channels not named write JSON lines to
    /// DATA_DIR/outbound/<channel>/.
    #[arg(long, env = "ZHIYING_DELIVERY_ROUTES", default_value = "")]
    pub delivery_routes: String,
    /// How often to sweep the facts for time-based trigger rules (dormant cards, maturing
    /// time deposits); also once at start.
    #[arg(long, value_name = "INTERVAL", default_value = "1h", value_parser = zhiying_server::retrain::parse_interval)]
    pub trigger_sweep_every: std::time::Duration,
}

/// Delivery settings of `zhiying serve`.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// `CHANNEL=URL,…`; empty sends every channel to DATA_DIR/outbound/<channel>/.
    pub routes: String,
    pub trigger_sweep_every: std::time::Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            routes: std::env::var("ZHIYING_DELIVERY_ROUTES").unwrap_or_default(),
            trigger_sweep_every: std::time::Duration::from_secs(3600),
        }
    }
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let addr = SocketAddr::new(a.bind, a.port.unwrap_or(cfg.default_port));
    let limits = zhiying_server::limits::Limits {
        max_body_bytes: a.max_body_mb.saturating_mul(1024 * 1024),
        request_timeout: a.request_timeout,
        requests_per_second: a.rate_limit,
        burst: a.rate_limit.saturating_mul(2),
    };
    let delivery = DeliverySettings {
        routes: a.delivery_routes,
        trigger_sweep_every: a.trigger_sweep_every,
    };
    super::runtime()?.block_on(serve_with(
        cfg,
        dd,
        addr,
        a.secure_cookies,
        a.retrain_every,
        limits,
        delivery,
    ))
}

pub async fn serve(
    cfg: &Config,
    dd: zhiying_core::DataDir,
    addr: SocketAddr,
    secure_cookies: bool,
    retrain_every: Option<std::time::Duration>,
    limits: zhiying_server::limits::Limits,
) -> anyhow::Result<()> {
    serve_with(
        cfg,
        dd,
        addr,
        secure_cookies,
        retrain_every,
        limits,
        DeliverySettings::default(),
    )
    .await
}

/// `serve` with explicit delivery settings: the outbox dispatcher and the trigger worker
/// start with the server and stop cleanly after it.
pub async fn serve_with(
    cfg: &Config,
    dd: zhiying_core::DataDir,
    addr: SocketAddr,
    secure_cookies: bool,
    retrain_every: Option<std::time::Duration>,
    limits: zhiying_server::limits::Limits,
    delivery: DeliverySettings,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dd.root())?;
    let ring = zhiying_keyring::current()?;
    if ring.enabled() {
        tracing::info!("{}", ring.describe());
    } else {
        tracing::warn!("{}", ring.describe());
    }
    let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
    if store.users().await?.is_empty() {
        tracing::warn!(
            "no users yet: create one with `zhiying user add --username admin --role admin` to sign in"
        );
    }
    // The anchor key lives beside the data, outside the database: created on first run.
    let keys = zhiying_store::AnchorKeyring::load_or_create(&dd)?;
    let engine = Arc::new(zhiying_engine::DataFusionEngine::open(&dd).await?);
    let auth = zhiying_server::auth::AuthConfig {
        secure_cookies,
        ..zhiying_server::auth::AuthConfig::default()
    };
    // The event log recovers (replays after its checkpoint, cuts a torn tail) before any
    // request is served, and checkpoints when the server stops cleanly.
    let events_dir = dd.root().join("events");
    let events = Arc::new(
        zhiying_events::EventStore::open(&events_dir, zhiying_events::EventConfig::default())
            .with_context(|| format!("cannot open the event log in {}", events_dir.display()))?,
    );
    // Launching an approved batch campaign (API or console) runs it.
    let runner = super::campaign::open_runner(cfg, &dd, store.clone()).await?;
    let mut delivery_options =
        zhiying_server::delivery::DeliveryOptions::for_data_dir(&dd, cfg.database_url.as_deref());
    delivery_options.routes = delivery.routes;
    delivery_options.triggers.sweep_every = Some(delivery.trigger_sweep_every);
    let outbound = delivery_options.outbound_dir.clone();
    let state = zhiying_server::AppState::new(dd, engine, store)
        .with_auth(auth, Some(keys))
        .with_limits(limits)
        .with_events(events.clone())
        .with_launcher(Arc::new(super::campaign::RunnerLauncher { runner }));
    // The delivery outbox (same database as the store), its dispatcher and the trigger
    // worker that feeds it from the event log.
    let (state, background) = zhiying_server::delivery::start(state, delivery_options)
        .await
        .with_context(|| {
            format!(
                "cannot start delivery (files go to {}; routes from --delivery-routes)",
                outbound.display()
            )
        })?;
    // Saved audiences become real-time watchers; a periodic sweep catches the changes that
    // time alone causes (windows rolling past an event, dormancy).
    zhiying_server::sync_watchers(&state).await;
    let sweeper = {
        let events = events.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                match events.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(changes = n, "audience sweep"),
                    Err(e) => {
                        tracing::warn!(error = %e, "audience sweep stopped");
                        break;
                    }
                }
            }
        })
    };
    let retrainer = zhiying_server::retrain::spawn(
        state.clone(),
        zhiying_server::retrain::RetrainSchedule {
            every: retrain_every,
            clock: Arc::new(zhiying_server::retrain::SystemClock),
        },
        std::time::Duration::from_secs(600),
    );
    let served = zhiying_server::serve(state, addr, shutdown_signal()).await;
    sweeper.abort();
    retrainer.abort();
    let report = background.shutdown().await;
    tracing::info!("delivery stopped\n{report}");
    let closed = tokio::task::spawn_blocking(move || events.close()).await?;
    served?;
    closed.context("closing the event log (it will be replayed on the next start)")?;
    Ok(())
}

/// Ctrl-C or SIGTERM (what service managers send) both stop the server cleanly.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
