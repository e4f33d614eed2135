//! Retention: rules per table that drop rows older than N days, run on a schedule.
//!
//! Rules live in the store's settings (`privacy.retention`) so every process sharing the
//! store applies the same ones. A rule names a target:
//!
//! | target | what is purged |
//! |---|---|
//! | `event_log` | records in `DATA_DIR/events` (segments rewritten, checkpoint renewed) |
//! | `store.contacts`, `store.decisions`, `store.responses` | rows of the operational store |
//! | `facts.<table>` | rows of `DATA_DIR/facts/<table>/*.parquet` by the table's time column |
//!
//! Consents, the do-not-contact list, the audit log and customer master data have no age
//! rule on purpose: consent evidence and the audit trail must outlive the processing they
//! justify, and master data leaves by erasure.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_core::schema::{ColumnType, FACT_TABLES};
use zhiying_events::{EventStore, PurgeFilter};
use zhiying_store::{OperationalStore, RetentionTable};

use crate::PrivacyError;
use crate::erase::EventLogAccess;
use crate::files::{self, FileChange};

/// The setting holding the rules.
pub const SETTING: &str = "privacy.retention";

const DAY_US: i64 = 86_400 * 1_000_000;

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RetentionTarget {
    EventLog,
    Store(RetentionTable),
    /// A fact table and its time column.
    Facts {
        table: String,
        column: String,
    },
}

impl RetentionTarget {
    pub fn name(&self) -> String {
        match self {
            RetentionTarget::EventLog => "event_log".into(),
            RetentionTarget::Store(t) => format!("store.{}", t.as_str()),
            RetentionTarget::Facts { table, .. } => format!("facts.{table}"),
        }
    }
}

impl FromStr for RetentionTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "event_log" {
            return Ok(RetentionTarget::EventLog);
        }
        if let Some(t) = s.strip_prefix("store.") {
            return t.parse().map(RetentionTarget::Store);
        }
        if let Some(t) = s.strip_prefix("facts.") {
            let def = FACT_TABLES
                .iter()
                .find(|d| d.name == t)
                .ok_or_else(|| format!("'{t}' is not a fact table"))?;
            let column = def
                .columns
                .iter()
                .find(|c| matches!(c.ty, ColumnType::Timestamp))
                .ok_or_else(|| {
                    format!("fact table '{t}' has no timestamp column to judge age by")
                })?;
            return Ok(RetentionTarget::Facts {
                table: t.to_string(),
                column: column.name.to_string(),
            });
        }
        Err(format!(
            "'{s}' is not a retention target: use event_log, store.contacts, store.decisions, store.responses or facts.<table> (e.g. facts.events)"
        ))
    }
}

/// Keep rows of `target` for `days` days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    pub target: String,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRules {
    pub rules: Vec<RetentionRule>,
    /// How often `serve` runs them, in hours.
    #[serde(default = "default_every")]
    pub every_hours: u32,
}

fn default_every() -> u32 {
    24
}

impl Default for RetentionRules {
    /// Conservative defaults: decision logs 3 years, contact and response history and the
    /// event log 5 years (the PBoC keeps marketing records at least that long).
    fn default() -> Self {
        let r = |t: &str, days| RetentionRule {
            target: t.into(),
            days,
        };
        RetentionRules {
            rules: vec![
                r("store.decisions", 3 * 365),
                r("store.contacts", 5 * 365),
                r("store.responses", 5 * 365),
                r("event_log", 5 * 365),
            ],
            every_hours: 24,
        }
    }
}

impl RetentionRules {
    /// Parses `TARGET=DAYS`.
    pub fn parse_rule(s: &str) -> Result<RetentionRule, String> {
        let (t, d) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}': write a rule as TARGET=DAYS, e.g. event_log=365"))?;
        let target: RetentionTarget = t.parse()?;
        let days: u32 = d.trim().parse().map_err(|_| {
            format!("'{s}': DAYS must be a whole number of days ≥ 1, e.g. event_log=365")
        })?;
        if days == 0 {
            return Err(format!("'{s}': DAYS must be at least 1"));
        }
        Ok(RetentionRule {
            target: target.name(),
            days,
        })
    }

    pub fn validate(&self) -> Result<(), PrivacyError> {
        for (i, r) in self.rules.iter().enumerate() {
            r.target
                .parse::<RetentionTarget>()
                .map_err(|reason| PrivacyError::Invalid {
                    field: "rules[].target",
                    reason: format!("rule {i}: {reason}"),
                })?;
            if r.days == 0 {
                return Err(PrivacyError::Invalid {
                    field: "rules[].days",
                    reason: format!("rule {i} ({}): keep at least 1 day", r.target),
                });
            }
        }
        if self.every_hours == 0 {
            return Err(PrivacyError::Invalid {
                field: "every_hours",
                reason: "run at least every N ≥ 1 hours".into(),
            });
        }
        Ok(())
    }

    /// The stored rules, or the defaults.
    pub async fn load(store: &dyn OperationalStore) -> Result<RetentionRules, PrivacyError> {
        match store.get_setting(SETTING).await? {
            Some(v) => {
                let rules: RetentionRules =
                    serde_json::from_value(v).map_err(|e| PrivacyError::Invalid {
                        field: "privacy.retention",
                        reason: format!("the stored retention rules do not parse ({e}); save them again with `zhiying retention run --rule … --save`"),
                    })?;
                rules.validate()?;
                Ok(rules)
            }
            None => Ok(RetentionRules::default()),
        }
    }

    pub async fn save(&self, store: &dyn OperationalStore) -> Result<(), PrivacyError> {
        self.validate()?;
        let v = serde_json::to_value(self).map_err(|e| PrivacyError::Other(e.to_string()))?;
        store.put_setting(SETTING, &v).await?;
        Ok(())
    }
}

/// What one rule did.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    pub target: String,
    pub days: u32,
    /// UTC micros: rows before this were (or would be) removed.
    pub before: i64,
    pub before_rfc3339: String,
    pub rows: u64,
    pub files: Vec<FileChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub ran_at: String,
    pub rules: Vec<RuleOutcome>,
    pub audit_seq: Option<u64>,
}

/// Applies every rule at `now_us`. Audited (not on a dry run). Returns what was removed.
pub async fn run(
    store: &dyn OperationalStore,
    dd: &DataDir,
    events: EventLogAccess<'_>,
    rules: &RetentionRules,
    now_us: i64,
    dry_run: bool,
    actor: &str,
) -> Result<RetentionReport, PrivacyError> {
    rules.validate()?;
    let mut outcomes = Vec::new();
    for r in &rules.rules {
        let target: RetentionTarget = r.target.parse().map_err(|reason| PrivacyError::Invalid {
            field: "rules[].target",
            reason,
        })?;
        let before = now_us - i64::from(r.days) * DAY_US;
        let (rows, files) = match &target {
            RetentionTarget::Store(t) => {
                (store.purge_older_than(*t, before, dry_run).await?, vec![])
            }
            RetentionTarget::Facts { table, column } => {
                let root = dd.root().to_path_buf();
                let dir = dd.facts_dir(table);
                let column = column.clone();
                let files = tokio::task::spawn_blocking(move || {
                    files::purge_parquet_dir(&root, &dir, &column, before, dry_run)
                })
                .await
                .map_err(|e| PrivacyError::Other(format!("retention task: {e}")))??;
                (files.iter().map(|f| f.rows_removed).sum(), files)
            }
            RetentionTarget::EventLog => (event_log(&events, before, dry_run).await?, vec![]),
        };
        outcomes.push(RuleOutcome {
            target: r.target.clone(),
            days: r.days,
            before,
            before_rfc3339: zhiying_core::time::format_timestamp(before),
            rows,
            files,
        });
    }
    let audit_seq = if dry_run {
        None
    } else {
        let detail = serde_json::json!({
            "rules": outcomes.iter().map(|o| serde_json::json!({
                "target": o.target, "days": o.days, "rows": o.rows, "files": o.files.len()
            })).collect::<Vec<_>>(),
        });
        Some(
            store
                .append_audit(actor, "retention.run", "retention", &detail)
                .await?
                .seq,
        )
    };
    Ok(RetentionReport {
        dry_run,
        ran_at: zhiying_core::time::format_timestamp(now_us),
        rules: outcomes,
        audit_seq,
    })
}

async fn event_log(
    events: &EventLogAccess<'_>,
    before: i64,
    dry_run: bool,
) -> Result<u64, PrivacyError> {
    let dir: PathBuf = match events {
        EventLogAccess::Open(es) if !dry_run => {
            return Ok(es
                .purge(PurgeFilter::OlderThan(before))
                .await?
                .records_removed);
        }
        EventLogAccess::Open(es) => es.dir().to_path_buf(),
        EventLogAccess::Dir(d) => d.clone(),
        EventLogAccess::None => return Ok(0),
    };
    if !dir.join("log").is_dir() {
        return Ok(0);
    }
    tokio::task::spawn_blocking(move || {
        if dry_run {
            let log = dir.join("log");
            let mut n = 0u64;
            for seg in zhiying_events::log::list_segments(&log)? {
                zhiying_events::log::scan_segment(&log, seg, 0, |payload, _| {
                    if let Ok(r) = serde_json::from_slice::<zhiying_events::Record>(payload)
                        && r.ts() < before
                    {
                        n += 1;
                    }
                    Ok(())
                })?;
            }
            return Ok(n);
        }
        let es = EventStore::open(&dir, zhiying_events::EventConfig::default())?;
        let out = es.purge_blocking(PurgeFilter::OlderThan(before))?;
        es.close()?;
        Ok::<_, PrivacyError>(out.records_removed)
    })
    .await
    .map_err(|e| PrivacyError::Other(format!("retention task: {e}")))?
}
