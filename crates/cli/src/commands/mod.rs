pub mod attribution;
pub mod audience;
pub mod audit;
pub mod campaign;
pub mod clv;
pub mod compliance;
pub mod demo;
pub mod experiment;
pub mod generate;
pub mod identities;
pub mod ingest;
pub mod keys;
pub mod measure;
pub mod model;
pub mod pii;
pub mod quality;
pub mod report;
pub mod scorecard;
pub mod segment;
pub mod serve;
pub mod tags;
pub mod uplift;
pub mod users;

use std::path::PathBuf;

/// `--data-dir`, shared by the commands that work on a data directory.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDirArg {
    /// Data directory (default: ./zhiying-data, or ZHIYING_DATA_DIR, or `data_dir` in zhiying.toml).
    /// Global so that it may follow a subcommand too (`zhiying user add … --data-dir DIR`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The data directory; also where the process keyring looks for
    /// `keys/data-keys.toml` when no other key is configured.
    pub fn resolve(&self, cfg: &crate::config::Config) -> zhiying_core::DataDir {
        let dd = zhiying_core::DataDir::new(
            self.data_dir
                .clone()
                .unwrap_or_else(|| cfg.default_data_dir.clone()),
        );
        zhiying_keyring::use_data_dir(dd.root());
        dd
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
