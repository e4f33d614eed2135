//! Data keys: the key file, the environment, and the process-wide keyring.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{KeyInit, OsRng};
use serde::{Deserialize, Serialize};

/// Environment variable naming the key file (same as `--key-file`).
pub const KEY_FILE_ENV: &str = "ZHIYING_KEY_FILE";
/// Environment variable holding one key as `<id>:<64 hex digits>` when there is no key file.
pub const DATA_KEY_ENV: &str = "ZHIYING_DATA_KEY";
/// The key file looked for inside the data directory when no other key is configured;
/// `zhiying demo` creates it. Production keeps the key file elsewhere (`--key-file`).
pub const DATA_DIR_KEY_FILE: &str = "keys/data-keys.toml";

pub(crate) const HINT: &str = "supply it with --key-file FILE or ZHIYING_KEY_FILE=FILE (a key file holding that id), ZHIYING_DATA_KEY=<id>:<64 hex digits>, or DATA_DIR/keys/data-keys.toml";

/// Errors of key loading and use. None of them carries key material or a plaintext.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read the key file {path}: {source}. Check the path given by --key-file or {KEY_FILE_ENV}"
    )]
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
        "the key file {path} is not valid: {message}. Expected `active = \"k1\"` and one `[[keys]]` table per key with `id`, `key_hex` (64 hex digits, e.g. from `openssl rand -hex 32`) and `created`"
    )]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{DATA_KEY_ENV} is not valid: {0}. Expected `<id>:<64 hex digits>`, e.g. k1:$(openssl rand -hex 32)"
    )]
    Env(String),
    #[error("key id '{0}' must be 1–64 letters, digits, '-', '_' or '.'")]
    BadKeyId(String),
    #[error("key id '{0}' is already in the keyring; choose another --new-key-id")]
    Duplicate(String),
    #[error(
        "data encrypted with key id '{0}' cannot be read: that key is not in the keyring; {HINT}"
    )]
    UnknownKey(String),
    #[error("no data key is configured, so nothing can be encrypted; {HINT}")]
    NoActiveKey,
    #[error("not an encrypted field: {0}. Encrypted fields look like `enc:<key id>:<base64>`")]
    Malformed(&'static str),
    #[error(
        "decrypting {field} with key '{kid}' failed: the key material for this id is wrong, or the stored value was altered or moved from another field"
    )]
    DecryptFailed { field: String, kid: String },
}

/// One 256-bit AES key and its id.
#[derive(Clone)]
pub struct DataKey {
    pub id: String,
    pub(crate) key: [u8; 32],
    /// RFC 3339, when the key was generated (informational).
    pub created: Option<String>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({})", self.id)
    }
}

/// Where the keys came from, for status lines and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No key configured: encryption at rest is off.
    None,
    File(PathBuf),
    Env,
    /// Built in code (tests).
    Memory,
}

/// The keys in memory: new data is encrypted with the active key, old data is read with
/// whichever key its id names.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: BTreeMap<String, DataKey>,
    active: Option<String>,
    source: KeySource,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    id: String,
    key_hex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileToml {
    active: String,
    #[serde(default)]
    keys: Vec<FileKey>,
}

pub(crate) fn check_kid(id: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadKeyId(id.to_string()))
    }
}

fn parse_hex_key(hex_key: &str) -> Result<[u8; 32], String> {
    let raw = hex::decode(hex_key.trim()).map_err(|e| format!("the key is not hex ({e})"))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| format!("the key has {} bytes; AES-256 needs exactly 32", raw.len()))
}

/// 32 random bytes from the OS.
pub fn random_key() -> [u8; 32] {
    let k = aes_gcm::Aes256Gcm::generate_key(&mut OsRng);
    let mut out = [0u8; 32];
    out.copy_from_slice(&k);
    out
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Keyring {
    /// No keys: encryption at rest is off, plaintext is written and read.
    pub fn empty() -> Keyring {
        Keyring {
            keys: BTreeMap::new(),
            active: None,
            source: KeySource::None,
        }
    }

    /// One fresh random key, active (tests and first runs).
    pub fn generate(id: &str) -> Result<Keyring, KeyError> {
        let mut k = Keyring {
            source: KeySource::Memory,
            ..Keyring::empty()
        };
        k.add_key(id, random_key(), Some(now_rfc3339()))?;
        k.active = Some(id.to_string());
        Ok(k)
    }

    /// Adds a key (it reads data; [`set_active`](Self::set_active) makes it encrypt).
    pub fn add_key(
        &mut self,
        id: &str,
        key: [u8; 32],
        created: Option<String>,
    ) -> Result<(), KeyError> {
        check_kid(id)?;
        if self.keys.contains_key(id) {
            return Err(KeyError::Duplicate(id.to_string()));
        }
        self.keys.insert(
            id.to_string(),
            DataKey {
                id: id.to_string(),
                key,
                created,
            },
        );
        Ok(())
    }

    /// Generates a key with `id` (or `k<N>` after the highest `k<n>` id) and makes it
    /// active. Returns the new id.
    pub fn rotate(&mut self, id: Option<&str>) -> Result<String, KeyError> {
        let id = match id {
            Some(id) => id.to_string(),
            None => {
                let next = self
                    .keys
                    .keys()
                    .filter_map(|k| k.strip_prefix('k')?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
                    + 1;
                format!("k{next}")
            }
        };
        self.add_key(&id, random_key(), Some(now_rfc3339()))?;
        self.active = Some(id.clone());
        Ok(id)
    }

    pub fn set_active(&mut self, id: &str) -> Result<(), KeyError> {
        if !self.keys.contains_key(id) {
            return Err(KeyError::UnknownKey(id.to_string()));
        }
        self.active = Some(id.to_string());
        Ok(())
    }

    /// Drops a key (after a rotation no data needs it any more).
    pub fn remove_key(&mut self, id: &str) -> bool {
        if self.active.as_deref() == Some(id) {
            self.active = None;
        }
        self.keys.remove(id).is_some()
    }

    /// True when new data is encrypted.
    pub fn enabled(&self) -> bool {
        self.active.is_some()
    }

    pub fn active(&self) -> Option<&DataKey> {
        self.keys.get(self.active.as_deref()?)
    }

    pub fn active_id(&self) -> Option<&str> {
        self.active.as_deref()
    }

    pub fn get(&self, id: &str) -> Option<&DataKey> {
        self.keys.get(id)
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    pub fn keys(&self) -> impl Iterator<Item = &DataKey> {
        self.keys.values()
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// One line for `status` and the server's startup log.
    pub fn describe(&self) -> String {
        match (&self.active, &self.source) {
            (None, _) => "encryption at rest is OFF: no data key is configured, so C2/C3 fields are written in plaintext; \
                 configure one with --key-file FILE, ZHIYING_KEY_FILE or ZHIYING_DATA_KEY=<id>:<64 hex digits>, \
                 or run `zhiying keys rotate` to create DATA_DIR/keys/data-keys.toml and encrypt what is there"
                .to_string(),
            (Some(id), KeySource::File(p)) => format!(
                "encryption at rest is on: active key '{id}' from {} ({} key(s))",
                p.display(),
                self.keys.len()
            ),
            (Some(id), KeySource::Env) => {
                format!("encryption at rest is on: active key '{id}' from {DATA_KEY_ENV}")
            }
            (Some(id), _) => format!("encryption at rest is on: active key '{id}'"),
        }
    }

    /// The keys for this process: `key_file` (the `--key-file` flag) if given, else
    /// `ZHIYING_KEY_FILE`, else `ZHIYING_DATA_KEY`, else `DATA_DIR/keys/data-keys.toml` if
    /// it exists, else none (encryption off).
    pub fn load(key_file: Option<&Path>, data_dir: Option<&Path>) -> Result<Keyring, KeyError> {
        if let Some(p) = key_file {
            return Keyring::read_file(p);
        }
        if let Some(p) = std::env::var_os(KEY_FILE_ENV).filter(|p| !p.is_empty()) {
            return Keyring::read_file(Path::new(&p));
        }
        if let Ok(v) = std::env::var(DATA_KEY_ENV)
            && !v.trim().is_empty()
        {
            return Keyring::from_env_value(&v);
        }
        if let Some(dir) = data_dir {
            let p = dir.join(DATA_DIR_KEY_FILE);
            if p.exists() {
                return Keyring::read_file(&p);
            }
        }
        Ok(Keyring::empty())
    }

    /// Parses `ZHIYING_DATA_KEY`: `<id>:<64 hex digits>`.
    pub fn from_env_value(v: &str) -> Result<Keyring, KeyError> {
        let (id, hex_key) = v.trim().split_once(':').ok_or_else(|| {
            KeyError::Env("there is no ':' between the key id and the key".into())
        })?;
        check_kid(id).map_err(|e| KeyError::Env(e.to_string()))?;
        let key = parse_hex_key(hex_key).map_err(KeyError::Env)?;
        let mut k = Keyring {
            source: KeySource::Env,
            ..Keyring::empty()
        };
        k.add_key(id, key, None)?;
        k.active = Some(id.to_string());
        Ok(k)
    }

    /// Reads a key file, warning (through `tracing`) when others may read it.
    pub fn read_file(path: &Path) -> Result<Keyring, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(w) = mode_warning(path) {
            tracing::warn!("{w}");
        }
        Keyring::parse_file(&text, path)
    }

    /// Parses the key file's TOML; `path` is only for messages.
    pub fn parse_file(text: &str, path: &Path) -> Result<Keyring, KeyError> {
        let invalid = |message: String| KeyError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let f: KeyFileToml = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut k = Keyring {
            source: KeySource::File(path.to_path_buf()),
            ..Keyring::empty()
        };
        for (i, fk) in f.keys.into_iter().enumerate() {
            let key = parse_hex_key(&fk.key_hex)
                .map_err(|m| invalid(format!("key #{} ('{}'): {m}", i + 1, fk.id)))?;
            k.add_key(&fk.id, key, fk.created)
                .map_err(|e| invalid(format!("key #{}: {e}", i + 1)))?;
        }
        if !k.keys.contains_key(&f.active) {
            return Err(invalid(format!(
                "the active key '{}' is not one of the [[keys]]",
                f.active
            )));
        }
        k.active = Some(f.active);
        Ok(k)
    }

    /// Serialises the keyring in the key file format.
    pub fn to_toml(&self) -> Result<String, KeyError> {
        let active = self.active.clone().ok_or(KeyError::NoActiveKey)?;
        let f = KeyFileToml {
            active,
            keys: self
                .keys
                .values()
                .map(|k| FileKey {
                    id: k.id.clone(),
                    key_hex: hex::encode(k.key),
                    created: k.created.clone(),
                })
                .collect(),
        };
        toml::to_string_pretty(&f).map_err(|e| KeyError::Write {
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Writes the key file atomically (temp file with mode 0600, fsync, rename, fsync the
    /// directory) and remembers it as the source.
    pub fn write_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = self.to_toml()?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("toml.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(
            b"# Zhiying data keys (AES-256). Keep this file secret, backed up, and out of the data\n\
              # directory's backups. `active` encrypts new data; keep older keys until\n\
              # `zhiying keys rotate` has re-encrypted everything.\n",
        )
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
        self.source = KeySource::File(path.to_path_buf());
        Ok(())
    }

    /// The AES-GCM cipher of key `id`.
    pub(crate) fn cipher(&self, id: &str) -> Result<aes_gcm::Aes256Gcm, KeyError> {
        let k = self
            .keys
            .get(id)
            .ok_or_else(|| KeyError::UnknownKey(id.to_string()))?;
        Ok(aes_gcm::Aes256Gcm::new(&k.key.into()))
    }
}

/// A warning when the key file can be read by its group or by everyone.
pub fn mode_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "the key file {} has mode {:o}: other users may read the data keys; run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

/// The process keyring and where [`current`] loads it from.
struct Global {
    ring: Option<Arc<Keyring>>,
    /// Set by [`install`]: [`use_data_dir`] then leaves the ring alone.
    installed: bool,
    key_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
}

static GLOBAL: RwLock<Global> = RwLock::new(Global {
    ring: None,
    installed: false,
    key_file: None,
    data_dir: None,
});

fn global() -> std::sync::RwLockWriteGuard<'static, Global> {
    GLOBAL.write().unwrap_or_else(|e| e.into_inner())
}

/// Makes `keyring` the one every Parquet reader/writer and the store use in this process
/// (tests, the demo after creating its key file, a rotation).
pub fn install(keyring: Keyring) -> Arc<Keyring> {
    let k = Arc::new(keyring);
    let mut g = global();
    g.ring = Some(Arc::clone(&k));
    g.installed = true;
    k
}

/// The `--key-file` flag: where [`current`] loads keys from first.
pub fn use_key_file(path: Option<PathBuf>) {
    let mut g = global();
    g.key_file = path;
    if !g.installed {
        g.ring = None;
    }
}

/// The data directory this process works on: [`current`] falls back to its
/// `keys/data-keys.toml`.
pub fn use_data_dir(dir: &Path) {
    let mut g = global();
    if g.data_dir.as_deref() != Some(dir) {
        g.data_dir = Some(dir.to_path_buf());
        if !g.installed {
            g.ring = None;
        }
    }
}

/// The process keyring: the installed one, else loaded (once) by [`Keyring::load`] from
/// the `--key-file` flag, the environment or the data directory.
pub fn current() -> Result<Arc<Keyring>, KeyError> {
    if let Some(k) = GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .ring
        .as_ref()
    {
        return Ok(Arc::clone(k));
    }
    let mut g = global();
    if let Some(k) = g.ring.as_ref() {
        return Ok(Arc::clone(k));
    }
    let loaded = Arc::new(Keyring::load(g.key_file.as_deref(), g.data_dir.as_deref())?);
    g.ring = Some(Arc::clone(&loaded));
    Ok(loaded)
}
