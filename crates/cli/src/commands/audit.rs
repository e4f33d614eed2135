//! `zhiying audit verify` and `zhiying audit anchor`.

use serde::Serialize;
use zhiying_store::{AnchorKeyring, anchor_head, verify_audit_log};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "verify recomputes the SHA-256 hash chain of the audit log and checks every signed anchor\n\
(HMAC-SHA256 with the key in ZHIYING_AUDIT_KEY or DATA_DIR/keys/audit-anchor.key). It names the\n\
first entry that was modified, deleted or moved, and exits with status 1 when the log was tampered with.\n\n\
Examples:\n  zhiying audit verify\n  zhiying audit verify --json | jq .first_bad_seq\n  zhiying audit anchor          # sign the current head now (the server does this every 10 minutes)"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain and the signed anchors; name the first bad entry.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Sign the current chain head (creates the key file on first use).
    Anchor {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Anchored {
    anchored: bool,
    head_seq: Option<u64>,
    anchor_id: Option<u64>,
    key_id: Option<String>,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let rt = super::runtime()?;
    match a.command {
        AuditCommand::Verify { json } => {
            let keys = AnchorKeyring::load(&dd)?;
            let v = rt.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                let v = verify_audit_log(store.as_ref(), keys.as_ref()).await;
                store.close().await;
                v
            })?;
            if json {
                output::print_json(&v)?;
            } else if v.ok {
                println!(
                    "Audit log intact: {} entries, {} of {} signed anchors verified{}.",
                    v.entries,
                    v.anchors_verified,
                    v.anchors,
                    v.head_hash
                        .as_deref()
                        .map(|h| format!(", head {}", &h[..h.len().min(16)]))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "AUDIT LOG TAMPERED: {}",
                    v.problem.as_deref().unwrap_or("unknown problem")
                );
                if let Some(seq) = v.first_bad_seq {
                    println!("First bad entry: seq {seq}");
                }
            }
            if !json {
                for w in &v.warnings {
                    eprintln!("warning: {w}");
                }
            }
            if !v.ok {
                std::process::exit(1);
            }
        }
        AuditCommand::Anchor { json } => {
            let keys = AnchorKeyring::load_or_create(&dd)?;
            let a = rt.block_on(async {
                let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
                let a = anchor_head(store.as_ref(), &keys).await;
                store.close().await;
                a
            })?;
            let out = Anchored {
                anchored: a.is_some(),
                head_seq: a.as_ref().map(|a| a.head_seq),
                anchor_id: a.as_ref().map(|a| a.id),
                key_id: a.map(|a| a.key_id),
            };
            if json {
                output::print_json(&out)?;
            } else if out.anchored {
                println!(
                    "Signed anchor {} over entry {} with key '{}'.",
                    out.anchor_id.unwrap_or(0),
                    out.head_seq.unwrap_or(0),
                    out.key_id.unwrap_or_default()
                );
            } else {
                println!("Nothing to anchor: the log is empty or its head is already anchored.");
            }
        }
    }
    Ok(())
}
