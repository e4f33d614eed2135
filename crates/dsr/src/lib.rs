//! Data-subject rights (PIPL Art. 45 and 47) and retention for Zhiying.
//!
//! * [`export`]: access — everything held on a customer as one JSON document: fact rows
//!   from every table (through the analytics engine), derived files (tags, scores, segments,
//!   identity links, audience snapshots), consents and the do-not-contact list, contacts,
//!   decisions, responses, experiment assignments, the real-time profile, event-log records
//!   and the audit entries about them.
//! * [`erase`]: erasure — deletes the customer (and the other records identity resolution
//!   linked to the same person) from the operational store, every Parquet, CSV, JSON and
//!   JSON Lines file under the data directory (crash-safe rewrites), and the event log
//!   (segments rewritten, profile dropped, fresh checkpoint). What the law requires stays:
//!   the audit entries (the erasure's own included) and a keyed hash of the id as the
//!   suppression record. The report lists both with reasons, and a scan of the data
//!   directory proves nothing else is left.
//! * [`retention`]: rules per table (`event_log`, `store.contacts`, `facts.events`, …)
//!   that drop rows older than N days; run by `zhiying retention run` and by `serve` on a
//!   schedule.

pub mod erase;
pub mod export;
pub mod files;
pub mod retention;

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zhiying_store::OperationalStore;

pub use erase::{
    ErasurePlan, ErasureReport, ErasureRequest, EventLogAccess, JOURNAL_DIR, Retained, erase,
    prepare,
};
pub use export::export;
pub use files::{FileChange, Reference, contains_token, find_references};
pub use retention::{RetentionReport, RetentionRule, RetentionRules, RetentionTarget, RuleOutcome};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] zhiying_store::StoreError),
    #[error(transparent)]
    Engine(#[from] zhiying_engine::EngineError),
    #[error("event log: {0}")]
    Events(#[from] zhiying_events::EventError),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0}")]
    Other(String),
}

impl PrivacyError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PrivacyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn parquet(path: &Path, e: impl std::fmt::Display) -> Self {
        PrivacyError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// The setting holding the secret that keys erased-customer hashes.
pub const SALT_SETTING: &str = "privacy.erasure_salt";

/// The secret key for suppression hashes: created (32 random bytes) on first use and kept
/// in the store's settings, so hashes stay comparable across runs and machines sharing the
/// store, and cannot be recomputed from an id list without the store.
pub async fn suppression_key(store: &dyn OperationalStore) -> Result<Vec<u8>, PrivacyError> {
    if let Some(v) = store.get_setting(SALT_SETTING).await?
        && let Some(hexed) = v.as_str()
        && let Ok(key) = hex::decode(hexed)
        && key.len() >= 16
    {
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    store
        .put_setting(SALT_SETTING, &serde_json::Value::String(hex::encode(key)))
        .await?;
    // Another process may have raced us: read back what won.
    match store.get_setting(SALT_SETTING).await? {
        Some(serde_json::Value::String(h)) => {
            hex::decode(h).map_err(|e| PrivacyError::Other(format!("{SALT_SETTING}: {e}")))
        }
        _ => Ok(key.to_vec()),
    }
}

/// HMAC-SHA256 of a customer id under the suppression key, hex.
pub fn suppression_hash(key: &[u8], customer_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(customer_id.trim().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether this customer id was erased (so it must not be re-imported or contacted).
pub async fn is_erased(
    store: &dyn OperationalStore,
    customer_id: &str,
) -> Result<bool, PrivacyError> {
    let key = suppression_key(store).await?;
    Ok(store
        .erasure(&suppression_hash(&key, customer_id))
        .await?
        .is_some())
}

/// Checks a customer id given by a caller: 1 to 64 characters, no control characters or
/// surrounding spaces.
pub fn validate_customer_id(id: &str) -> Result<(), PrivacyError> {
    let len = id.chars().count();
    if len == 0 || len > 64 || id.chars().any(char::is_control) || id.trim() != id {
        return Err(PrivacyError::Invalid {
            field: "customer_id",
            reason: "a customer id has 1 to 64 characters without spaces at the ends or control characters, e.g. C00000001".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = suppression_hash(b"0123456789abcdef", "C1");
        assert_eq!(a, suppression_hash(b"0123456789abcdef", "C1"));
        assert_ne!(a, suppression_hash(b"0123456789abcdeX", "C1"));
        assert_ne!(a, suppression_hash(b"0123456789abcdef", "C2"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("C1"));
    }

    #[test]
    fn ids_are_validated() {
        assert!(validate_customer_id("C00000001").is_ok());
        assert!(validate_customer_id("").is_err());
        assert!(validate_customer_id(" C1").is_err());
        assert!(validate_customer_id("a\nb").is_err());
    }
}
