use std::net::SocketAddr;
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
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let addr = SocketAddr::new(a.bind, a.port.unwrap_or(cfg.default_port));
    super::runtime()?.block_on(serve(cfg, dd, addr, a.secure_cookies))
}

pub async fn serve(
    cfg: &Config,
    dd: zhiying_core::DataDir,
    addr: SocketAddr,
    secure_cookies: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dd.root())?;
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
    let state = zhiying_server::AppState::new(dd, engine, store).with_auth(auth, Some(keys));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    zhiying_server::serve(state, addr, shutdown).await?;
    Ok(())
}
