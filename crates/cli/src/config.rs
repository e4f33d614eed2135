//! Configuration: an optional TOML file, then `ZHIYING_*` environment variables, then flags.
//! Everything has a default, so no file is needed.

use anyhow::Context;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: ./zhiying.toml when it exists.
    #[arg(long, global = true, env = "ZHIYING_CONFIG")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL for the operational store; SQLite in the data directory when absent.
    #[arg(long, global = true, env = "ZHIYING_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Key file of the data keys for encryption at rest (TOML; see `zhiying keys --help`).
    /// Default: ZHIYING_DATA_KEY, else DATA_DIR/keys/data-keys.toml when it exists.
    #[arg(long, global = true, env = "ZHIYING_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "ZHIYING_LOG_JSON")]
    pub log_json: bool,
}

/// The settings the file may hold; flags and environment variables override them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    port: Option<u16>,
    log_json: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub default_data_dir: PathBuf,
    pub database_url: Option<String>,
    pub default_port: u16,
    pub log_json: bool,
}

impl Config {
    pub fn load(args: &GlobalArgs) -> anyhow::Result<Config> {
        let path = args.config.clone().or_else(|| {
            let p = PathBuf::from("zhiying.toml");
            p.exists().then_some(p)
        });
        let file = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| {
                    format!(
                        "{} is not a valid Zhiying config: fix the TOML above",
                        p.display()
                    )
                })?
            }
            None => FileConfig::default(),
        };
        let env_data_dir = std::env::var_os("ZHIYING_DATA_DIR").map(PathBuf::from);
        Ok(Config {
            default_data_dir: env_data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("zhiying-data")),
            database_url: args
                .database_url
                .clone()
                .or(file.database_url)
                .filter(|s| !s.is_empty()),
            default_port: std::env::var("ZHIYING_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .or(file.port)
                .unwrap_or(8080),
            log_json: args.log_json || file.log_json.unwrap_or(false),
        })
    }
}

/// Logs to stderr through `zhiying_pii::log::RedactingWriter`: every line, from every
/// crate, has its identifiers (ID numbers, phones, cards, e-mails, names in context,
/// addresses, client IPs) masked before it is written.
pub fn init_tracing(cfg: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ZHIYING_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| zhiying_pii::log::RedactingWriter::new(std::io::stderr()));
    if cfg.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
