//! Erasure (删除权, PIPL Art. 47) across every store of the platform.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use zhiying_core::DataDir;
use zhiying_events::{EventStore, PurgeFilter, PurgeOutcome};
use zhiying_store::OperationalStore;

use crate::files::{self, FileChange, Reference};
use crate::{PrivacyError, suppression_hash, suppression_key, validate_customer_id};

/// Files the file pass leaves to their owners: the store (its own erase), the event log
/// (rewritten through [`EventStore::purge`]) and the erasure journals (removed at the end).
const OWNED_ELSEWHERE: [&str; 3] = ["zhiying.db*", "events", JOURNAL_DIR];

/// Where pending erasures keep their journal (see [`prepare`]).
pub const JOURNAL_DIR: &str = "privacy/erasures";

/// What one erasure looks for, fixed before anything is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErasurePlan {
    /// The customer and the records identity resolution links to it.
    pub ids: BTreeSet<String>,
    /// The ids plus their unique identifiers (phone, resident id, e-mail, identifier values).
    pub needles: BTreeSet<String>,
}

fn journal_path(dd: &DataDir, id_hash: &str) -> PathBuf {
    dd.root()
        .join(JOURNAL_DIR)
        .join(format!("{id_hash}.pending.json"))
}

/// Fixes what the erasure of `customer_id` looks for and writes it to the journal
/// (`DATA_DIR/privacy/erasures/<hash>.pending.json`, crash-safely) before anything is
/// deleted. The ids and identifiers come from the identity links and the `customers` and
/// `identities` facts, which the erasure itself rewrites; an earlier journal of the same
/// customer (an interrupted run) is merged in, so a rerun still looks for identifiers whose
/// source rows are already gone. The journal is removed when the final scan finds nothing.
pub fn prepare(
    dd: &DataDir,
    customer_id: &str,
    id_hash: &str,
) -> Result<ErasurePlan, PrivacyError> {
    let path = journal_path(dd, id_hash);
    let mut ids = linked_ids(dd, customer_id)?;
    let mut needles = identifiers(dd, &ids)?;
    match std::fs::read(&path) {
        Ok(bytes) => {
            let earlier: ErasurePlan = serde_json::from_slice(&bytes).map_err(|e| {
                PrivacyError::Other(format!(
                    "{}: the journal of an interrupted erasure does not parse ({e}); it lists what that run was erasing, so check it by hand before deleting it",
                    path.display()
                ))
            })?;
            ids.extend(earlier.ids);
            needles.extend(earlier.needles);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(PrivacyError::io(&path, e)),
    }
    needles.extend(ids.iter().cloned());
    let plan = ErasurePlan { ids, needles };
    let bytes = serde_json::to_vec(&plan).map_err(|e| PrivacyError::Other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PrivacyError::io(dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(|e| PrivacyError::io(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| PrivacyError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| PrivacyError::io(&path, e))?;
    Ok(plan)
}

/// Who asks to erase whom, and why.
#[derive(Debug, Clone)]
pub struct ErasureRequest<'a> {
    pub customer_id: &'a str,
    /// Required: recorded in the audit log and on the suppression record.
    pub reason: &'a str,
    /// The user or token name, for the audit entry.
    pub actor: &'a str,
}

/// How to reach the event log.
pub enum EventLogAccess<'a> {
    /// The running server's store (the writer thread does the rewrite).
    Open(&'a EventStore),
    /// Nobody has it open: open the log in this directory, purge, close.
    Dir(PathBuf),
    /// No event log.
    None,
}

/// Something deliberately kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    pub what: String,
    pub reason_zh: String,
    pub reason_en: String,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    /// The suppression record: HMAC-SHA256 of the id under the store's secret key.
    pub id_hash: String,
    /// Other records of the same person (identity resolution) erased with it.
    pub linked_records: Vec<String>,
    /// True when the id had been erased before (the run then only sweeps up leftovers).
    pub already_erased: bool,
    /// Rows deleted per operational-store table.
    pub store_rows: BTreeMap<String, u64>,
    /// Files rewritten without the customer's rows.
    pub files: Vec<FileChange>,
    pub event_log: Option<PurgeOutcome>,
    pub retained: Vec<Retained>,
    /// Occurrences of the ids still found under the data directory outside the store
    /// (should be empty; anything here is a failure to look at).
    pub remaining: Vec<Reference>,
    /// Sequence number of the audit entry recording this erasure.
    pub audit_seq: u64,
}

/// The customer ids linked to `id` by identity resolution (`derived/customer_links.parquet`),
/// `id` included.
pub fn linked_ids(dd: &DataDir, id: &str) -> Result<BTreeSet<String>, PrivacyError> {
    use arrow::array::{Array, StringArray};
    let mut ids: BTreeSet<String> = [id.to_string()].into();
    let path = dd.derived("customer_links");
    if !path.exists() {
        return Ok(ids);
    }
    let strings = |b: &arrow::record_batch::RecordBatch, c: &str| -> Vec<Option<String>> {
        b.column_by_name(c)
            .and_then(|col| arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8).ok())
            .and_then(|a| {
                a.as_any().downcast_ref::<StringArray>().map(|s| {
                    (0..s.len())
                        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
                        .collect()
                })
            })
            .unwrap_or_default()
    };
    let own = files::parquet_rows_of(&path, &ids)?;
    let parties: BTreeSet<String> = own
        .iter()
        .flat_map(|b| strings(b, "party_id"))
        .flatten()
        .collect();
    if parties.is_empty() {
        return Ok(ids);
    }
    let reader = zhiying_keyring::open_reader(&path)
        .and_then(|b| b.build())
        .map_err(|e| PrivacyError::parquet(&path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| PrivacyError::parquet(&path, e))?;
        let party = strings(&batch, "party_id");
        let cust = strings(&batch, "customer_id");
        for (p, c) in party.into_iter().zip(cust) {
            if let (Some(p), Some(c)) = (p, c)
                && parties.contains(&p)
            {
                ids.insert(c);
            }
        }
    }
    Ok(ids)
}

/// The customers' unique identifiers found in the `customers` and `identities` facts
/// (phone, resident id, e-mail, identifier values of 6 characters or more): text files are
/// scrubbed of them too, and the final scan looks for them.
pub fn identifiers(dd: &DataDir, ids: &BTreeSet<String>) -> Result<BTreeSet<String>, PrivacyError> {
    use arrow::array::{Array, StringArray};
    let mut out = BTreeSet::new();
    for (table, columns) in [
        ("customers", &["phone", "resident_id", "email"][..]),
        ("identities", &["id_value"][..]),
    ] {
        for path in files::walk(&dd.facts_dir(table), &[])? {
            if !path.to_string_lossy().ends_with(".parquet") {
                continue;
            }
            for b in files::parquet_rows_of(&path, ids)? {
                for c in columns {
                    let Some(col) = b.column_by_name(c) else {
                        continue;
                    };
                    let Ok(s) = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8) else {
                        continue;
                    };
                    let Some(s) = s.as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    for i in 0..s.len() {
                        if !s.is_null(i) && s.value(i).trim().chars().count() >= 6 {
                            out.insert(s.value(i).trim().to_string());
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn retained(postgres: bool) -> Vec<Retained> {
    let mut v = vec![
        Retained {
            what: "audit_log".into(),
            reason_zh: "审计日志（含本次删除记录）依法保留：哈希链防篡改，只记录客户编号与操作，不含姓名、证件号、手机号等个人信息。".into(),
            reason_en: "Audit entries (this erasure's included) are kept as the law requires: the chain is tamper-evident and the entries name the customer id and the action, never the name, ID number or phone.".into(),
        },
        Retained {
            what: "erased_customers".into(),
            reason_zh: "以密钥哈希（HMAC-SHA256）保存的客户编号，作为抑制记录：防止再次导入或营销接触；无法从哈希还原编号。".into(),
            reason_en: "A keyed hash (HMAC-SHA256) of the id is the suppression record, so the customer is never re-imported or contacted again; the id cannot be recovered from it.".into(),
        },
        Retained {
            what: "backups".into(),
            reason_zh: "数据目录之外的备份不在此处修改，按备份保留期到期销毁；恢复备份后须重新执行删除（抑制记录会识别该客户）。".into(),
            reason_en: "Backups outside the data directory are not changed here; they expire under the backup retention period. After restoring one, run the erasure again (the suppression record recognises the customer).".into(),
        },
    ];
    if postgres {
        v.push(Retained {
            what: "postgresql_dead_tuples".into(),
            reason_zh: "PostgreSQL 删除的行在 VACUUM 之前仍占用磁盘页，不可查询；例行 VACUUM 后回收。".into(),
            reason_en: "Rows deleted in PostgreSQL stay in disk pages, unreachable by queries, until VACUUM reclaims them.".into(),
        });
    }
    v
}

/// Erases a customer everywhere. The caller checks the permission, then refreshes the
/// analytics engine and any in-memory views (consents, audience index) afterwards.
pub async fn erase(
    store: &dyn OperationalStore,
    dd: &DataDir,
    events: EventLogAccess<'_>,
    req: &ErasureRequest<'_>,
) -> Result<ErasureReport, PrivacyError> {
    validate_customer_id(req.customer_id)?;
    let reason = req.reason.trim();
    if reason.chars().count() < 4 {
        return Err(PrivacyError::Invalid {
            field: "reason",
            reason: "say why the customer is erased (at least 4 characters), e.g. \"客户申请删除 ticket 12345\"".into(),
        });
    }
    let key = suppression_key(store).await?;
    let id_hash = suppression_hash(&key, req.customer_id);
    let already_erased = store.erasure(&id_hash).await?.is_some();
    let ErasurePlan { ids, needles } = prepare(dd, req.customer_id, &id_hash)?;

    let result = async {
        // 1. The operational store.
        let mut store_rows = BTreeMap::new();
        for id in &ids {
            for (table, n) in store.erase_customer(id).await? {
                *store_rows.entry(table).or_insert(0) += n;
            }
        }
        for id in &ids {
            store
                .record_erasure(&suppression_hash(&key, id), reason)
                .await?;
        }
        // 2. The event log and the real-time profiles.
        let filter_ids: Vec<String> = ids.iter().cloned().collect();
        let event_log = match events {
            EventLogAccess::Open(es) => {
                let mut total = PurgeOutcome::default();
                for id in &filter_ids {
                    let o = es.purge(PurgeFilter::Customer(id.clone())).await?;
                    add(&mut total, &o);
                }
                Some(total)
            }
            EventLogAccess::Dir(dir) if dir.join("log").is_dir() => {
                let out = tokio::task::spawn_blocking(move || {
                    let es = EventStore::open(&dir, zhiying_events::EventConfig::default())?;
                    let mut total = PurgeOutcome::default();
                    for id in &filter_ids {
                        let o = es.purge_blocking(PurgeFilter::Customer(id.clone()))?;
                        add(&mut total, &o);
                    }
                    es.close()?;
                    Ok::<_, PrivacyError>(total)
                })
                .await
                .map_err(|e| PrivacyError::Other(format!("event-log erasure task: {e}")))??;
                Some(out)
            }
            _ => None,
        };
        // 3. Every file under the data directory.
        let root = dd.root().to_path_buf();
        let ids_for_files = ids.clone();
        let needles = needles.clone();
        let (files, remaining) = tokio::task::spawn_blocking(move || {
            let files = files::erase_files(&root, &ids_for_files, &needles, &OWNED_ELSEWHERE)?;
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            // Everything but the store, where the audit log keeps the id on purpose, and
            // this erasure's own journal.
            let remaining = files::find_references(&root, &needles, &["zhiying.db*", JOURNAL_DIR])?;
            Ok::<_, PrivacyError>((files, remaining))
        })
        .await
        .map_err(|e| PrivacyError::Other(format!("file erasure task: {e}")))??;
        Ok::<_, PrivacyError>((store_rows, event_log, files, remaining))
    }
    .await;

    let target = format!("customer:{}", req.customer_id);
    match result {
        Ok((store_rows, event_log, files, remaining)) => {
            // Done: the journal goes (it holds the identifiers). With leftovers it stays, so
            // the rerun the report asks for looks for the same values.
            if remaining.is_empty() {
                let path = journal_path(dd, &id_hash);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(PrivacyError::io(&path, e)),
                }
            }
            let detail = serde_json::json!({
                "reason": reason,
                "id_hash": id_hash,
                "linked_records": ids.len() - 1,
                "store_rows": store_rows,
                "files": files.len(),
                "rows_removed_from_files": files.iter().map(|f| f.rows_removed).sum::<u64>(),
                "event_log_records": event_log.as_ref().map(|e| e.records_removed),
                "remaining": remaining.len(),
                "already_erased": already_erased,
            });
            let entry = store
                .append_audit(req.actor, "customer.erase", &target, &detail)
                .await?;
            tracing::info!(
                files = files.len(),
                remaining = remaining.len(),
                "customer erased"
            );
            Ok(ErasureReport {
                id_hash,
                linked_records: ids
                    .iter()
                    .filter(|i| *i != req.customer_id)
                    .cloned()
                    .collect(),
                already_erased,
                store_rows,
                files,
                event_log,
                retained: retained(store.backend_name() == "postgres"),
                remaining,
                audit_seq: entry.seq,
            })
        }
        Err(e) => {
            // Record the attempt; a rerun completes it (every step is idempotent).
            let _ = store
                .append_audit(
                    req.actor,
                    "customer.erase_failed",
                    &target,
                    &serde_json::json!({"reason": reason, "error": e.to_string()}),
                )
                .await;
            Err(e)
        }
    }
}

fn add(total: &mut PurgeOutcome, o: &PurgeOutcome) {
    total.records_removed += o.records_removed;
    total.segments_rewritten += o.segments_rewritten;
    total.profiles_dropped += o.profiles_dropped;
}
