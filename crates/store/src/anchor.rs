//! Signed anchors for the audit chain, and the full verification `zhiying audit verify` runs.
//!
//! The hash chain alone shows that an entry was changed, removed from the middle or moved,
//! but not that the newest entries were cut off, nor that someone with database access
//! rewrote an entry and re-hashed everything after it. An anchor closes both gaps: it is an
//! HMAC-SHA256, under a key kept outside the database, over the chain head (seq and hash) at
//! a moment. The server writes one periodically when the head has moved.
//!
//! Keys: `ZHIYING_AUDIT_KEY` (`keyid:hex` or bare hex, 32 bytes), else the key file
//! (`ZHIYING_AUDIT_KEY_FILE`, default `DATA_DIR/keys/audit-anchor.key`) with one `keyid:hex`
//! per line; the last line signs new anchors and earlier lines still verify old ones, so a
//! key rotates by appending a line.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use zhiying_core::DataDir;

use crate::error::StoreError;
use crate::types::AuditAnchor;
use crate::{OperationalStore, audit_hash};

/// Environment variable holding the anchor key (overrides the key file).
pub const KEY_ENV: &str = "ZHIYING_AUDIT_KEY";
/// Environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "ZHIYING_AUDIT_KEY_FILE";

/// One HMAC key with its id.
#[derive(Clone)]
pub struct AnchorKey {
    pub id: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnchorKey({}, {} bytes)", self.id, self.key.len())
    }
}

/// The anchor keys; the last one signs.
#[derive(Debug, Clone)]
pub struct AnchorKeyring {
    keys: Vec<AnchorKey>,
    /// Where the keys came from, for messages.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{source_name} line {line}: {problem}. Write one key per line as `keyid:hex` with 32 bytes (64 hex digits), e.g. `k1:` followed by the output of `openssl rand -hex 32`"
    )]
    Malformed {
        source_name: String,
        line: usize,
        problem: String,
    },
    #[error("{0} holds no key")]
    Empty(String),
    #[error(
        "cannot read or create the audit key file {path}: {err}. Check the directory exists and is writable, or set {KEY_ENV}"
    )]
    Io { path: String, err: std::io::Error },
}

impl AnchorKeyring {
    /// Parses `keyid:hex` lines (blank lines and `#` comments ignored). A single bare hex
    /// key gets the id `default`.
    pub fn parse(text: &str, source: &str) -> Result<AnchorKeyring, KeyError> {
        let mut keys: Vec<AnchorKey> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |problem: String| KeyError::Malformed {
                source_name: source.to_string(),
                line: i + 1,
                problem,
            };
            let (id, hex_key) = match line.split_once(':') {
                Some((id, k)) => (id.trim(), k.trim()),
                None => ("default", line),
            };
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(bad(format!(
                    "key id '{id}' must be letters, digits, '-', '_' or '.'"
                )));
            }
            let key = hex::decode(hex_key).map_err(|e| bad(format!("the key is not hex ({e})")))?;
            if key.len() < 32 {
                return Err(bad(format!(
                    "the key has {} bytes; at least 32 are needed",
                    key.len()
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(bad(format!("key id '{id}' appears twice")));
            }
            keys.push(AnchorKey {
                id: id.to_string(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty(source.to_string()));
        }
        Ok(AnchorKeyring {
            keys,
            source: source.to_string(),
        })
    }

    /// The key file path: `ZHIYING_AUDIT_KEY_FILE`, else `DATA_DIR/keys/audit-anchor.key`.
    pub fn default_path(data_dir: &DataDir) -> PathBuf {
        std::env::var_os(KEY_FILE_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.root().join("keys").join("audit-anchor.key"))
    }

    /// The keys from the environment or the key file, or `None` if neither exists.
    pub fn load(data_dir: &DataDir) -> Result<Option<AnchorKeyring>, KeyError> {
        if let Ok(v) = std::env::var(KEY_ENV)
            && !v.trim().is_empty()
        {
            return AnchorKeyring::parse(&v, KEY_ENV).map(Some);
        }
        let path = Self::default_path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => AnchorKeyring::parse(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(KeyError::Io {
                path: path.display().to_string(),
                err,
            }),
        }
    }

    /// Like [`load`](Self::load), but creates the key file with a fresh random key (mode
    /// 0600) when there is no key at all: what `serve` and `demo` do on first run.
    pub fn load_or_create(data_dir: &DataDir) -> Result<AnchorKeyring, KeyError> {
        if let Some(k) = Self::load(data_dir)? {
            return Ok(k);
        }
        let path = Self::default_path(data_dir);
        let key: [u8; 32] = rand::random();
        let text = format!(
            "# Zhiying audit-anchor keys: `keyid:hex`, one per line. The last line signs new anchors;\n\
             # keep older lines so old anchors still verify. Keep this file out of the database backups.\n\
             k1:{}\n",
            hex::encode(key)
        );
        write_private(&path, &text).map_err(|err| KeyError::Io {
            path: path.display().to_string(),
            err,
        })?;
        AnchorKeyring::parse(&text, &path.display().to_string())
    }

    /// The key that signs new anchors.
    pub fn current(&self) -> &AnchorKey {
        // `parse` never returns an empty ring.
        &self.keys[self.keys.len() - 1]
    }

    pub fn get(&self, id: &str) -> Option<&AnchorKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Signs a chain head with the current key.
    pub fn sign(&self, ts: i64, head_seq: u64, head_hash: &str) -> AuditAnchor {
        let k = self.current();
        AuditAnchor {
            id: 0,
            ts,
            head_seq,
            head_hash: head_hash.to_string(),
            key_id: k.id.clone(),
            mac: anchor_mac(&k.key, ts, head_seq, head_hash),
        }
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// `hex(HMAC-SHA256(key, "zhiying-audit-anchor" ‖ ts ‖ head_seq ‖ head_hash))`, fields
/// length-prefixed like the chain hash.
pub fn anchor_mac(key: &[u8], ts: i64, head_seq: u64, head_hash: &str) -> String {
    // HMAC takes keys of any length, so new_from_slice cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    let ts = ts.to_string();
    let seq = head_seq.to_string();
    for field in ["zhiying-audit-anchor", ts.as_str(), seq.as_str(), head_hash] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Writes an anchor over the current head, unless the log is empty or the newest anchor
/// already covers this head. Returns the new anchor, if any.
pub async fn anchor_head(
    store: &dyn OperationalStore,
    keys: &AnchorKeyring,
) -> Result<Option<AuditAnchor>, StoreError> {
    let Some((seq, hash)) = store.audit_head().await? else {
        return Ok(None);
    };
    if store
        .audit_anchors()
        .await?
        .last()
        .is_some_and(|a| a.head_seq == seq && a.head_hash == hash)
    {
        return Ok(None);
    }
    let anchor = keys.sign(chrono::Utc::now().timestamp_micros(), seq, &hash);
    store.append_anchor(&anchor).await.map(Some)
}

/// What `zhiying audit verify` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub ok: bool,
    /// Entries in the chain that verified (all of them when `ok`).
    pub entries: u64,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub anchors: u64,
    pub anchors_verified: u64,
    /// The first entry that is missing, changed or out of place.
    pub first_bad_seq: Option<u64>,
    pub problem: Option<String>,
    /// Things that are not tampering but limit the check (e.g. no key for an anchor).
    pub warnings: Vec<String>,
}

/// Verifies the chain and then every anchor. The first problem found by sequence number
/// is reported; `first_bad_seq` names the entry.
pub async fn verify_audit_log(
    store: &dyn OperationalStore,
    keys: Option<&AnchorKeyring>,
) -> Result<AuditVerification, StoreError> {
    let mut v = AuditVerification {
        ok: true,
        entries: 0,
        head_seq: None,
        head_hash: None,
        anchors: 0,
        anchors_verified: 0,
        first_bad_seq: None,
        problem: None,
        warnings: Vec::new(),
    };
    match store.verify_audit().await {
        Ok(n) => v.entries = n,
        Err(StoreError::AuditBroken(b)) => {
            v.ok = false;
            v.entries = b.seq.saturating_sub(1);
            v.first_bad_seq = Some(b.seq);
            v.problem = Some(format!("entry {}: {}", b.seq, b.reason));
            return Ok(v);
        }
        Err(e) => return Err(e),
    }
    let head = store.audit_head().await?;
    v.head_seq = head.as_ref().map(|h| h.0);
    v.head_hash = head.map(|h| h.1);
    let anchors = store.audit_anchors().await?;
    v.anchors = anchors.len() as u64;
    if anchors.is_empty() && v.entries > 0 {
        v.warnings.push(
            "no signed anchor yet: truncation of the newest entries cannot be detected until one is written (`zhiying audit anchor`, or the server writes them periodically)"
                .into(),
        );
    }
    let mut verified_up_to = 0u64; // highest head_seq confirmed by a valid anchor
    for a in &anchors {
        let Some(keys) = keys else {
            v.warnings.push(format!(
                "anchor {} not checked: no audit key configured ({KEY_ENV} or the key file)",
                a.id
            ));
            continue;
        };
        let Some(key) = keys.get(&a.key_id) else {
            v.warnings.push(format!(
                "anchor {} not checked: key '{}' is not in {}",
                a.id, a.key_id, keys.source
            ));
            continue;
        };
        if anchor_mac(&key.key, a.ts, a.head_seq, &a.head_hash) != a.mac {
            return Ok(fail(
                v,
                None,
                format!(
                    "anchor {} (key '{}') has an invalid signature: the anchor itself was altered or forged",
                    a.id, a.key_id
                ),
            ));
        }
        if a.head_seq > v.entries {
            return Ok(fail(
                v.clone(),
                Some(v.entries + 1),
                format!(
                    "entries {}..={} are missing: anchor {} signed a chain of {} entries, the log now has {} (the newest entries were deleted)",
                    v.entries + 1,
                    a.head_seq,
                    a.id,
                    a.head_seq,
                    v.entries
                ),
            ));
        }
        let at = store.audit_entries(a.head_seq.saturating_sub(1), 1).await?;
        let stored_hash = at
            .first()
            .filter(|e| e.seq == a.head_seq)
            .map(|e| e.hash.clone());
        if stored_hash.as_deref() != Some(a.head_hash.as_str()) {
            // The chain verifies on its own, so it was rewritten and re-hashed. Find the
            // first entry whose hash differs from a recomputation anchored at the last
            // confirmed point: every entry after verified_up_to is suspect; name the first.
            return Ok(fail(
                v,
                Some(verified_up_to + 1),
                format!(
                    "entries {}..={} were rewritten and re-hashed: anchor {} signed head hash {} at seq {}, the log now has {}",
                    verified_up_to + 1,
                    a.head_seq,
                    a.id,
                    short(&a.head_hash),
                    a.head_seq,
                    stored_hash.as_deref().map(short).unwrap_or("nothing")
                ),
            ));
        }
        verified_up_to = verified_up_to.max(a.head_seq);
        v.anchors_verified += 1;
    }
    Ok(v)
}

fn fail(mut v: AuditVerification, seq: Option<u64>, problem: String) -> AuditVerification {
    v.ok = false;
    v.first_bad_seq = seq;
    v.problem = Some(problem);
    v
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Recomputes one entry's hash; exposed for auditors' tooling and tests.
pub fn recompute(e: &crate::AuditEntry) -> String {
    audit_hash(
        &e.prev_hash,
        e.seq,
        e.ts,
        &e.actor,
        &e.action,
        &e.target,
        &e.detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_parses_rotates_and_rejects_bad_keys() {
        let k1 = "11".repeat(32);
        let k2 = "22".repeat(32);
        let ring =
            AnchorKeyring::parse(&format!("# c\nk1:{k1}\n\nk2:{k2}\n"), "test").expect("parse");
        assert_eq!(ring.current().id, "k2");
        assert!(ring.get("k1").is_some());
        let a = ring.sign(5, 3, "abc");
        assert_eq!(a.key_id, "k2");
        assert_eq!(a.mac, anchor_mac(&[0x22; 32], 5, 3, "abc"));
        assert_ne!(a.mac, anchor_mac(&[0x22; 32], 5, 4, "abc"));
        assert_ne!(a.mac, anchor_mac(&[0x11; 32], 5, 3, "abc"));
        assert_eq!(
            AnchorKeyring::parse(&k1, "env").expect("bare").current().id,
            "default"
        );
        let e = AnchorKeyring::parse("k1:abcd", "f")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("f line 1") && e.contains("2 bytes"), "{e}");
        assert!(AnchorKeyring::parse("# only a comment", "f").is_err());
        assert!(AnchorKeyring::parse(&format!("a:{k1}\na:{k2}"), "f").is_err());
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2 checks the HMAC primitive itself.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").expect("key");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
