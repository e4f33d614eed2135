//! `zhiying keys status|rotate|retire`: the data keys of encryption at rest
//! (`docs/encryption.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_keyring::{KeySource, Keyring};
use zhiying_store::{OperationalStore, SqlStore, StoreOptions};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Keys come from --key-file / ZHIYING_KEY_FILE, else ZHIYING_DATA_KEY=<id>:<hex>, else\n\
DATA_DIR/keys/data-keys.toml (what `zhiying demo` creates). The active key encrypts new data;\n\
every key in the file still decrypts, so rotate, check `keys status`, then retire the old key.\n\n\
Examples:\n  zhiying keys status --data-dir data\n  zhiying keys rotate --data-dir data --json\n  zhiying keys rotate --data-dir data --new-key-id k2026q4\n  zhiying keys rotate --data-dir data --resume      # finish an interrupted rotation\n  zhiying keys retire --data-dir data k1"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Show whether encryption at rest is on, the active key and what each key encrypts.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Generate a new key, make it active, and re-encrypt every fact file and store field.
    Rotate {
        /// Id of the new key (default: k<N+1>).
        #[arg(long, value_name = "ID")]
        new_key_id: Option<String>,
        /// Do not generate a key: re-encrypt whatever is not yet under the active key
        /// (after an interrupted rotation).
        #[arg(long, conflicts_with = "new_key_id")]
        resume: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a key from the key file once no data uses it any more.
    Retire {
        key_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Usage {
    /// Fact files per key id (`plaintext` for files without encryption).
    files: BTreeMap<String, u64>,
    /// Fact files of tables with no C2/C3 column (never encrypted).
    files_not_sensitive: u64,
    /// Store field values per key id (`plaintext` for clear ones).
    fields: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Status {
    encryption_at_rest: bool,
    message: String,
    active_key: Option<String>,
    key_file: Option<PathBuf>,
    keys: Vec<KeyInfo>,
    usage: Usage,
}

#[derive(Serialize)]
struct KeyInfo {
    id: String,
    created: Option<String>,
    active: bool,
    files: u64,
    fields: u64,
}

#[derive(Serialize)]
struct Rotated {
    previous_key: Option<String>,
    active_key: String,
    key_file: PathBuf,
    files_reencrypted: u64,
    files_unchanged: u64,
    fields_reencrypted: u64,
    fields_unchanged: u64,
    seconds: f64,
}

async fn open_store(cfg: &Config, dd: &DataDir) -> anyhow::Result<SqlStore> {
    let options = StoreOptions {
        database_url: cfg.database_url.clone(),
        ..StoreOptions::default()
    };
    Ok(SqlStore::open_with(&options, dd).await?)
}

fn usage(
    ring: &Arc<Keyring>,
    dd: &DataDir,
    store_fields: BTreeMap<String, u64>,
) -> anyhow::Result<Usage> {
    let mut files = BTreeMap::new();
    let mut files_not_sensitive = 0;
    for table in FACT_TABLES {
        let sensitive = !zhiying_keyring::sensitive_columns(table).is_empty();
        for path in zhiying_ingest::batch_files(dd, table.name)? {
            if !sensitive {
                files_not_sensitive += 1;
                continue;
            }
            let ids = zhiying_keyring::file_key_ids(ring, &path)?;
            if ids.is_empty() {
                *files.entry("plaintext".to_string()).or_default() += 1;
            }
            for id in ids {
                *files.entry(id).or_default() += 1;
            }
        }
    }
    Ok(Usage {
        files,
        files_not_sensitive,
        fields: store_fields,
    })
}

/// Where a rotation writes the keyring: the file it came from, else the data directory's.
fn key_file_for(ring: &Keyring, dd: &DataDir) -> anyhow::Result<PathBuf> {
    match ring.source() {
        KeySource::File(p) => Ok(p.clone()),
        KeySource::Env => bail!(
            "the keys come from {}, which a rotation cannot rewrite. Put the key in a file first \
             (active = \"<id>\" and a [[keys]] entry with id and key_hex), pass it with --key-file, \
             and unset {}",
            zhiying_keyring::DATA_KEY_ENV,
            zhiying_keyring::DATA_KEY_ENV
        ),
        _ => Ok(dd.root().join(zhiying_keyring::DATA_DIR_KEY_FILE)),
    }
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let rt = super::runtime()?;
    match a.command {
        KeysCommand::Status { json } => {
            let ring = zhiying_keyring::current()?;
            let fields = rt.block_on(async {
                let store = open_store(cfg, &dd).await?;
                let u = store.field_key_usage().await;
                store.close().await;
                anyhow::Ok(u?)
            })?;
            let usage = usage(&ring, &dd, fields)?;
            let keys = ring
                .keys()
                .map(|k| KeyInfo {
                    id: k.id.clone(),
                    created: k.created.clone(),
                    active: ring.active_id() == Some(k.id.as_str()),
                    files: usage.files.get(&k.id).copied().unwrap_or(0),
                    fields: usage.fields.get(&k.id).copied().unwrap_or(0),
                })
                .collect();
            let s = Status {
                encryption_at_rest: ring.enabled(),
                message: ring.describe(),
                active_key: ring.active_id().map(str::to_string),
                key_file: match ring.source() {
                    KeySource::File(p) => Some(p.clone()),
                    _ => None,
                },
                keys,
                usage,
            };
            if json {
                return output::print_json(&s);
            }
            println!("{}", s.message);
            for k in &s.keys {
                println!(
                    "  {} {:<16} created {:<22} {:>6} fact files {:>8} store fields",
                    if k.active { "*" } else { " " },
                    k.id,
                    k.created.as_deref().unwrap_or("-"),
                    k.files,
                    k.fields
                );
            }
            let pf = s.usage.files.get("plaintext").copied().unwrap_or(0);
            let pv = s.usage.fields.get("plaintext").copied().unwrap_or(0);
            if pf + pv > 0 {
                println!(
                    "  plaintext: {pf} fact files with C2/C3 columns, {pv} store fields{}",
                    if s.encryption_at_rest {
                        " (run `zhiying keys rotate --resume` to encrypt them)"
                    } else {
                        ""
                    }
                );
            }
            println!(
                "  ({} fact files of tables without C2/C3 columns are not encrypted)",
                s.usage.files_not_sensitive
            );
            Ok(())
        }
        KeysCommand::Rotate {
            new_key_id,
            resume,
            json,
        } => {
            let started = std::time::Instant::now();
            let old = zhiying_keyring::current()?;
            let path = key_file_for(&old, &dd)?;
            let mut ring = (*old).clone();
            let previous = old.active_id().map(str::to_string);
            if !resume {
                ring.rotate(new_key_id.as_deref())?;
                // The new key is on disk before any data uses it, so a crash mid-way
                // never leaves data under a key that was lost.
                ring.write_file(&path)
                    .with_context(|| "saving the rotated keyring")?;
            } else if !ring.enabled() {
                bail!(
                    "no data key is configured, so there is nothing to resume; run `zhiying keys rotate` to create one"
                );
            }
            let active = ring.active_id().unwrap_or_default().to_string();
            let ring = zhiying_keyring::install(ring);
            let (mut files_reencrypted, mut files_unchanged) = (0u64, 0u64);
            for table in FACT_TABLES {
                for file in zhiying_ingest::batch_files(&dd, table.name)? {
                    let changed = zhiying_keyring::reencrypt_file(
                        &ring,
                        table,
                        &file,
                        zhiying_ingest::fact_writer_builder(table),
                    )?;
                    if changed {
                        files_reencrypted += 1;
                    } else {
                        files_unchanged += 1;
                    }
                }
            }
            let out = rt.block_on(async {
                let store = open_store(cfg, &dd).await?;
                let fields = store.reencrypt_fields(&ring).await?;
                let r = Rotated {
                    previous_key: previous.clone(),
                    active_key: active.clone(),
                    key_file: path.clone(),
                    files_reencrypted,
                    files_unchanged,
                    fields_reencrypted: fields.reencrypted.values().sum(),
                    fields_unchanged: fields.unchanged,
                    seconds: started.elapsed().as_secs_f64(),
                };
                store
                    .append_audit(
                        &super::users::cli_actor(),
                        "keys.rotate",
                        &format!("key:{active}"),
                        &serde_json::json!({
                            "previous_key": previous,
                            "resume": resume,
                            "files_reencrypted": r.files_reencrypted,
                            "fields_reencrypted": r.fields_reencrypted,
                            "seconds": r.seconds,
                        }),
                    )
                    .await?;
                store.close().await;
                anyhow::Ok(r)
            })?;
            if json {
                return output::print_json(&out);
            }
            println!(
                "Active key is now '{}' ({}). Re-encrypted {} fact files ({} already done) and {} store fields in {:.1} s.",
                out.active_key,
                out.key_file.display(),
                out.files_reencrypted,
                out.files_unchanged,
                out.fields_reencrypted,
                out.seconds
            );
            if let Some(p) = &out.previous_key {
                println!(
                    "Key '{p}' still decrypts; once `zhiying keys status` shows it unused, remove it with `zhiying keys retire {p}`."
                );
            }
            Ok(())
        }
        KeysCommand::Retire { key_id, json } => {
            let ring = zhiying_keyring::current()?;
            let path = match ring.source() {
                KeySource::File(p) => p.clone(),
                _ => bail!(
                    "keys can only be retired from a key file (--key-file or DATA_DIR/keys/data-keys.toml)"
                ),
            };
            if ring.get(&key_id).is_none() {
                bail!("key '{key_id}' is not in {}", path.display());
            }
            if ring.active_id() == Some(key_id.as_str()) {
                bail!("key '{key_id}' is the active key: rotate to a new key first");
            }
            let fields = rt.block_on(async {
                let store = open_store(cfg, &dd).await?;
                let u = store.field_key_usage().await;
                store.close().await;
                anyhow::Ok(u?)
            })?;
            let u = usage(&ring, &dd, fields)?;
            let (f, v) = (
                u.files.get(&key_id).copied().unwrap_or(0),
                u.fields.get(&key_id).copied().unwrap_or(0),
            );
            if f + v > 0 {
                bail!(
                    "key '{key_id}' still encrypts {f} fact files and {v} store fields; run `zhiying keys rotate --resume` first"
                );
            }
            let mut next = (*ring).clone();
            next.remove_key(&key_id);
            next.write_file(&path)?;
            zhiying_keyring::install(next);
            rt.block_on(async {
                let store = open_store(cfg, &dd).await?;
                store
                    .append_audit(
                        &super::users::cli_actor(),
                        "keys.retire",
                        &format!("key:{key_id}"),
                        &serde_json::json!({}),
                    )
                    .await?;
                store.close().await;
                anyhow::Ok(())
            })?;
            if json {
                return output::print_json(
                    &serde_json::json!({"retired": key_id, "key_file": path}),
                );
            }
            println!("Removed key '{key_id}' from {}.", path.display());
            Ok(())
        }
    }
}
