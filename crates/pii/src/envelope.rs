//! Encryption at rest for personal data (issue 7, item 4): value-level AES-256-GCM
//! envelopes `enc:v1:<kid>:<base64(nonce | ciphertext | tag)>`, and the key file.
//!
//! **Deterministic on purpose.** The 96-bit nonce is HMAC-SHA256(nonce key, plaintext)
//! truncated (the SIV construction), so one value under one key always encrypts to the same
//! envelope. That is what keeps equality working on encrypted columns: identity resolution
//! links records on encrypted phones and IDs, the anomaly model compares counterparties,
//! and searching customers by phone encrypts the query and compares. The envelope is
//! therefore also the keyed blind index (HMAC of the value under a secret key); what leaks
//! is only which stored values are equal, the same as any blind index. Distinct values get
//! distinct nonces except with probability ~n²/2⁹⁷.
//!
//! **Keys** come from `DATA_DIR/keys.toml` (or a file named with `--key-file`), or from the
//! environment: `ZHIYING_KEYS="kid=BASE64KEY,old=BASE64KEY"` (the first is current). The
//! file names the current key and may hold retired keys; rotation (`zhiying keys rotate`)
//! adds a key, makes it current, re-encrypts everything and then marks the old one retired.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Every envelope starts with this.
pub const PREFIX: &str = "enc:v1:";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "keys.toml";
/// The environment variable holding keys when there is no key file.
pub const KEYS_ENV: &str = "ZHIYING_KEYS";
/// The environment variable naming a key file outside the data directory.
pub const KEY_FILE_ENV: &str = "ZHIYING_KEY_FILE";

/// True when `v` is an envelope (it may still fail to decrypt).
pub fn is_envelope(v: &str) -> bool {
    v.starts_with(PREFIX)
}

/// The key id of an envelope.
pub fn key_id(v: &str) -> Option<&str> {
    v.strip_prefix(PREFIX)?.split_once(':').map(|(k, _)| k)
}

/// Errors of the key file and the envelopes. None of them carries a value or a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the key file {path} is not valid: {message}; expected `current = \"kid\"` and `[keys.kid]` tables with `key = \"<base64 of 32 bytes>\"`"
    )]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{KEYS_ENV} is not valid: {0}; expected `kid=BASE64KEY[,kid=BASE64KEY…]` with 32-byte keys, the current key first"
    )]
    Env(String),
    #[error(
        "key `{0}` is not in the key ring; add it to the key file (or {KEYS_ENV}), or restore the file that held it"
    )]
    UnknownKey(String),
    #[error(
        "not an encrypted value: expected `enc:v1:<kid>:<base64>` ({0}); was the value written by a Zhiying ingest?"
    )]
    Malformed(&'static str),
    #[error(
        "decryption failed with key `{0}`: wrong key material for this id, or the value was altered"
    )]
    DecryptFailed(String),
    #[error("key id `{0}` must be 1–64 characters of letters, digits, `-` or `_`")]
    BadKeyId(String),
}

#[derive(Clone)]
struct Key {
    aes: Aes256Gcm,
    nonce_key: [u8; 32],
}

impl Key {
    fn new(raw: [u8; 32]) -> Key {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&raw)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        m.update(b"zhiying envelope nonce v1");
        Key {
            aes: Aes256Gcm::new(&raw.into()),
            nonce_key: m.finalize().into_bytes().into(),
        }
    }
}

/// One key's entry in the key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Base64 of 32 random bytes.
    pub key: String,
    /// RFC 3339, when the key was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// RFC 3339, when a rotation stopped needing this key. Retired keys may be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<String>,
}

/// The key file (`keys.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The key new values are encrypted with.
    pub current: String,
    /// Set while a rotation re-encrypts values from this key to `current`; cleared, and
    /// the key marked retired, when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotating_from: Option<String>,
    pub keys: BTreeMap<String, KeyEntry>,
}

fn check_kid(id: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadKeyId(id.to_string()))
    }
}

fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let raw = B64
        .decode(b64.trim())
        .map_err(|e| format!("a key is not base64 ({e})"))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| format!("a key has {} bytes, not 32", raw.len()))
}

/// 32 random bytes from the OS.
pub fn random_key() -> [u8; 32] {
    let k = Aes256Gcm::generate_key(&mut OsRng);
    let mut out = [0u8; 32];
    out.copy_from_slice(&k);
    out
}

impl KeyFile {
    /// A new file holding one fresh key.
    pub fn generate(kid: &str, created: &str) -> Result<KeyFile, KeyError> {
        check_kid(kid)?;
        let mut keys = BTreeMap::new();
        keys.insert(
            kid.to_string(),
            KeyEntry {
                key: B64.encode(random_key()),
                created: Some(created.to_string()),
                retired: None,
            },
        );
        Ok(KeyFile {
            current: kid.to_string(),
            rotating_from: None,
            keys,
        })
    }

    pub fn read(path: &Path) -> Result<KeyFile, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let f: KeyFile = toml::from_str(&text).map_err(|e| KeyError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        f.ring().map_err(|e| KeyError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(f)
    }

    /// Writes atomically: a temp file (mode 0600 on Unix), fsync, rename, fsync the dir.
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text =
            toml::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let tmp = path.with_extension("toml.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(b"# Zhiying encryption keys: keep this file secret and backed up.\n")
            .and_then(|()| f.write_all(text.as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err)?;
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The ring of every key in the file (retired ones included: they still decrypt).
    pub fn ring(&self) -> Result<KeyRing, KeyError> {
        let mut keys = BTreeMap::new();
        for (id, e) in &self.keys {
            check_kid(id)?;
            let raw = decode_key(&e.key).map_err(|m| KeyError::Invalid {
                path: PathBuf::from(KEY_FILE),
                message: format!("key `{id}`: {m}"),
            })?;
            keys.insert(id.clone(), Key::new(raw));
        }
        if !keys.contains_key(&self.current) {
            return Err(KeyError::UnknownKey(self.current.clone()));
        }
        Ok(KeyRing {
            current: self.current.clone(),
            keys,
        })
    }
}

/// The keys in memory: encrypts with the current one, decrypts with any.
#[derive(Clone)]
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyRing {{ current: {}, keys: {:?} }}",
            self.current,
            self.keys.keys().collect::<Vec<_>>()
        )
    }
}

impl KeyRing {
    /// A ring of one fresh random key (tests, first run).
    pub fn generate(kid: &str) -> KeyRing {
        let mut keys = BTreeMap::new();
        keys.insert(kid.to_string(), Key::new(random_key()));
        KeyRing {
            current: kid.to_string(),
            keys,
        }
    }

    /// Parses `ZHIYING_KEYS`'s format: `kid=BASE64,kid=BASE64`, the first current.
    pub fn from_env_value(v: &str) -> Result<KeyRing, KeyError> {
        let mut keys = BTreeMap::new();
        let mut current = None;
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part
                .split_once('=')
                .ok_or_else(|| KeyError::Env("an entry has no `=`".into()))?;
            let id = id.trim();
            check_kid(id)?;
            let raw = decode_key(b64).map_err(KeyError::Env)?;
            keys.insert(id.to_string(), Key::new(raw));
            current.get_or_insert_with(|| id.to_string());
        }
        let current = current.ok_or_else(|| KeyError::Env("no keys".into()))?;
        Ok(KeyRing { current, keys })
    }

    /// The keys for a data directory: `key_file` if given, else `ZHIYING_KEY_FILE`, else
    /// `DATA_DIR/keys.toml` if it exists, else `ZHIYING_KEYS` if set. `None`: encryption at
    /// rest is off.
    pub fn load(data_dir: &Path, key_file: Option<&Path>) -> Result<Option<KeyRing>, KeyError> {
        if let Some(p) = key_file {
            return KeyFile::read(p)?.ring().map(Some);
        }
        if let Some(p) = std::env::var_os(KEY_FILE_ENV).filter(|p| !p.is_empty()) {
            return KeyFile::read(Path::new(&p))?.ring().map(Some);
        }
        let p = data_dir.join(KEY_FILE);
        if p.exists() {
            return KeyFile::read(&p)?.ring().map(Some);
        }
        match std::env::var(KEYS_ENV) {
            Ok(v) if !v.trim().is_empty() => KeyRing::from_env_value(&v).map(Some),
            _ => Ok(None),
        }
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// Encrypts with the current key. Deterministic (see the module docs).
    pub fn encrypt(&self, plaintext: &str) -> Result<String, KeyError> {
        self.encrypt_with(&self.current, plaintext)
    }

    /// Every form `plaintext` may be stored in: clear (data loaded before encryption was
    /// on) and its envelope under each key (a rotation may be under way). Equality search
    /// on an encrypted column (customers by phone) compares against these.
    pub fn search_forms(&self, plaintext: &str) -> Vec<String> {
        let mut out = vec![plaintext.to_string()];
        for kid in self.keys.keys() {
            if let Ok(e) = self.encrypt_with(kid, plaintext) {
                out.push(e);
            }
        }
        out
    }

    fn encrypt_with(&self, kid: &str, plaintext: &str) -> Result<String, KeyError> {
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| KeyError::UnknownKey(kid.to_string()))?;
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.nonce_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        m.update(plaintext.as_bytes());
        let tag: [u8; 32] = m.finalize().into_bytes().into();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&tag[..12]);
        let ct = key
            .aes
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| KeyError::Malformed("plaintext too long for AES-GCM"))?;
        let mut buf = Vec::with_capacity(12 + ct.len());
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{kid}:{}", B64.encode(buf)))
    }

    /// Decrypts an envelope with whichever key its id names.
    pub fn decrypt(&self, envelope: &str) -> Result<String, KeyError> {
        let rest = envelope
            .strip_prefix(PREFIX)
            .ok_or(KeyError::Malformed("no `enc:v1:` prefix"))?;
        let (kid, body) = rest
            .split_once(':')
            .ok_or(KeyError::Malformed("no key id"))?;
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| KeyError::UnknownKey(kid.to_string()))?;
        let raw = B64
            .decode(body)
            .map_err(|_| KeyError::Malformed("body is not base64"))?;
        if raw.len() < 12 + 16 {
            return Err(KeyError::Malformed("shorter than nonce and tag"));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| KeyError::Malformed("nonce is not 12 bytes"))?;
        let pt = key
            .aes
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| KeyError::DecryptFailed(kid.to_string()))?;
        String::from_utf8(pt).map_err(|_| KeyError::Malformed("plaintext is not UTF-8"))
    }

    /// The value re-encrypted with the current key, or `None` when it already is.
    /// Plain (never encrypted) values are encrypted.
    pub fn reencrypt(&self, stored: &str) -> Result<Option<String>, KeyError> {
        if is_envelope(stored) {
            if key_id(stored) == Some(self.current.as_str()) {
                return Ok(None);
            }
            let clear = self.decrypt(stored)?;
            return self.encrypt(&clear).map(Some);
        }
        self.encrypt(stored).map(Some)
    }
}

/// A fresh id for a new key: `k` + the UTC date + 6 random hex digits.
pub fn new_key_id(now_rfc3339: &str) -> String {
    let date: String = now_rfc3339
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    let n = Aes256Gcm::generate_nonce(&mut OsRng);
    format!("k{date}-{}", hex::encode(&n[..3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_deterministic_and_keyed() {
        let r = KeyRing::generate("k1");
        let a = r.encrypt("13812345678").expect("encrypts");
        assert!(a.starts_with("enc:v1:k1:"), "{a}");
        assert!(!a.contains("13812345678"));
        assert_eq!(r.encrypt("13812345678").expect("encrypts"), a);
        assert_ne!(r.encrypt("13812345679").expect("encrypts"), a);
        assert_eq!(r.decrypt(&a).expect("decrypts"), "13812345678");
        let other = KeyRing::generate("k1");
        assert_ne!(other.encrypt("13812345678").expect("encrypts"), a);
        assert!(matches!(other.decrypt(&a), Err(KeyError::DecryptFailed(_))));
        assert!(matches!(
            r.decrypt("enc:v1:k9:AAAA"),
            Err(KeyError::UnknownKey(_))
        ));
        assert!(matches!(
            r.decrypt("13812345678"),
            Err(KeyError::Malformed(_))
        ));
        // Tampering is detected.
        let mut t = a.clone().into_bytes();
        let last = t.len() - 3;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).expect("ascii");
        assert!(r.decrypt(&t).is_err());
    }

    #[test]
    fn key_file_and_env_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let f = KeyFile::generate("k1", "2026-11-26T00:00:00Z").expect("generates");
        f.write(&path).expect("writes");
        let ring = KeyRing::load(dir.path(), None)
            .expect("loads")
            .expect("has keys");
        assert_eq!(ring.current_key_id(), "k1");
        let v = ring.encrypt("张三").expect("encrypts");
        let env = format!("k1={}", f.keys["k1"].key);
        let from_env = KeyRing::from_env_value(&env).expect("parses");
        assert_eq!(from_env.decrypt(&v).expect("decrypts"), "张三");
        assert!(KeyRing::from_env_value("k1=AAAA").is_err());
        assert!(KeyRing::from_env_value("").is_err());
        std::fs::write(&path, "current = \"k2\"\n[keys.k1]\nkey = \"AAAA\"\n").expect("writes");
        let err = KeyRing::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("keys.toml"), "{err}");
        assert!(KeyFile::generate("bad:id", "x").is_err());
    }

    #[test]
    fn reencrypt_moves_values_to_the_current_key() {
        let mut f = KeyFile::generate("k1", "t").expect("generates");
        let r1 = f.ring().expect("ring");
        let old = r1.encrypt("6222021234567890").expect("encrypts");
        let k2 = KeyFile::generate("k2", "t").expect("generates");
        f.keys.insert("k2".into(), k2.keys["k2"].clone());
        f.current = "k2".into();
        let r2 = f.ring().expect("ring");
        let new = r2.reencrypt(&old).expect("re-encrypts").expect("changed");
        assert_eq!(key_id(&new), Some("k2"));
        assert_eq!(r2.reencrypt(&new).expect("ok"), None);
        f.keys.remove("k1");
        assert_eq!(
            f.ring().expect("ring").decrypt(&new).expect("decrypts"),
            "6222021234567890"
        );
        assert!(new_key_id("2026-11-26T20:00:00Z").starts_with("k20261126-"));
    }
}
