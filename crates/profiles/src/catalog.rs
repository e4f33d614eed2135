//! The tag catalogue: built-in definitions embedded in the binary, overridden and extended by
//! user definitions in `DATA_DIR/tags/<key>.toml`, with an append-only history in
//! `DATA_DIR/tags/history.jsonl`.
//!
//! Adding a file validates every tag in it against the whole catalogue (rules may only read
//! active tags, types must fit, no cycles) before anything is written, so the catalogue on
//! disk is always buildable. Each change is written to a temp file and renamed, then
//! appended to the history with its time, author and the old and new definitions.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;

use crate::def::{self, Body, DefError, Kind, RawTag, Status, TagDef};
use crate::rule::Type;

/// Built-in definition files, in catalogue order.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("builtin/basic.toml", include_str!("builtin/basic.toml")),
    ("builtin/assets.toml", include_str!("builtin/assets.toml")),
    (
        "builtin/behaviour.toml",
        include_str!("builtin/behaviour.toml"),
    ),
    ("builtin/channel.toml", include_str!("builtin/channel.toml")),
    ("builtin/rfm.toml", include_str!("builtin/rfm.toml")),
    (
        "builtin/lifecycle.toml",
        include_str!("builtin/lifecycle.toml"),
    ),
    (
        "builtin/holdings.toml",
        include_str!("builtin/holdings.toml"),
    ),
    ("builtin/risk.toml", include_str!("builtin/risk.toml")),
    ("builtin/inflow.toml", include_str!("builtin/inflow.toml")),
    ("builtin/scores.toml", include_str!("builtin/scores.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Def(#[from] DefError),
    #[error("tag '{key}': {message}")]
    Inconsistent { key: String, message: String },
    #[error("no tag has key '{0}': `zhiying tags list` shows the keys")]
    UnknownTag(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: the history entry is not valid JSON: {message}")]
    History {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CatalogError + '_ {
    move |source| CatalogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// All known tags, active and retired, in catalogue order.
#[derive(Debug, Clone)]
pub struct Catalog {
    tags: Vec<TagDef>,
}

pub fn tags_dir(dd: &DataDir) -> PathBuf {
    dd.root().join("tags")
}

pub fn history_path(dd: &DataDir) -> PathBuf {
    tags_dir(dd).join("history.jsonl")
}

impl Catalog {
    /// The built-in catalogue alone.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut tags = Vec::new();
        for (origin, text) in BUILTIN_FILES {
            for raw in def::parse_file(text, origin)? {
                tags.push(raw.validate(origin, true)?);
            }
        }
        let c = Catalog { tags };
        c.check()?;
        Ok(c)
    }

    /// Built-ins plus the data directory's definitions (which replace built-ins of the same key).
    pub fn load(dd: &DataDir) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::builtin()?;
        let dir = tags_dir(dd);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            let origin = path.display().to_string();
            for raw in def::parse_file(&text, &origin)? {
                let t = raw.validate(&origin, false)?;
                c.upsert(t);
            }
        }
        c.check()?;
        Ok(c)
    }

    fn upsert(&mut self, t: TagDef) {
        match self.tags.iter_mut().find(|x| x.key == t.key) {
            Some(slot) => *slot = t,
            None => self.tags.push(t),
        }
    }

    pub fn all(&self) -> &[TagDef] {
        &self.tags
    }

    pub fn active(&self) -> impl Iterator<Item = &TagDef> {
        self.tags.iter().filter(|t| t.status == Status::Active)
    }

    pub fn get(&self, key: &str) -> Option<&TagDef> {
        self.tags.iter().find(|t| t.key == key)
    }

    fn active_type(&self, key: &str) -> Option<Type> {
        self.get(key)
            .filter(|t| t.status == Status::Active)
            .map(|t| t.kind.rule_type())
    }

    /// Rules read only active tags, with fitting types and no cycles.
    pub fn check(&self) -> Result<(), CatalogError> {
        for t in self.active() {
            let Body::Rule { parsed, .. } = &t.body else {
                continue;
            };
            let inconsistent = |message: String| CatalogError::Inconsistent {
                key: t.key.clone(),
                message,
            };
            for dep in parsed.tags() {
                match self.get(&dep) {
                    None => {
                        return Err(inconsistent(format!(
                            "the rule reads '{dep}', which is not a tag; `zhiying tags list` shows the keys"
                        )));
                    }
                    Some(d) if d.status == Status::Retired => {
                        return Err(inconsistent(format!(
                            "the rule reads '{dep}', which is retired; change the rule or add '{dep}' again"
                        )));
                    }
                    _ => {}
                }
            }
            let ty = parsed
                .check(&|k| self.active_type(k))
                .map_err(|m| inconsistent(format!("rule: {m}")))?;
            if ty != Type::Any && ty != t.kind.rule_type() {
                return Err(inconsistent(format!(
                    "the rule gives {ty} but the tag is {} ({})",
                    t.kind.as_str(),
                    t.kind.rule_type()
                )));
            }
        }
        self.rule_layers()?;
        Ok(())
    }

    /// Active rule tags in dependency layers: a rule reads only non-rule tags or rules of
    /// earlier layers.
    pub fn rule_layers(&self) -> Result<Vec<Vec<&TagDef>>, CatalogError> {
        let mut done: BTreeSet<&str> = self
            .active()
            .filter(|t| !matches!(t.body, Body::Rule { .. }))
            .map(|t| t.key.as_str())
            .collect();
        let mut pending: Vec<&TagDef> = self
            .active()
            .filter(|t| matches!(t.body, Body::Rule { .. }))
            .collect();
        let mut layers = Vec::new();
        while !pending.is_empty() {
            let (ready, rest): (Vec<&TagDef>, Vec<&TagDef>) =
                pending.into_iter().partition(|t| match &t.body {
                    Body::Rule { parsed, .. } => {
                        parsed.tags().iter().all(|d| done.contains(d.as_str()))
                    }
                    _ => true,
                });
            if ready.is_empty() {
                let keys: Vec<&str> = rest.iter().map(|t| t.key.as_str()).collect();
                return Err(CatalogError::Inconsistent {
                    key: keys[0].to_string(),
                    message: format!("rules read each other in a cycle: {}", keys.join(", ")),
                });
            }
            done.extend(ready.iter().map(|t| t.key.as_str()));
            layers.push(ready);
            pending = rest;
        }
        Ok(layers)
    }

    /// Active tags whose rules read `key`.
    pub fn dependents(&self, key: &str) -> Vec<&TagDef> {
        self.active()
            .filter(|t| matches!(&t.body, Body::Rule { parsed, .. } if parsed.tags().iter().any(|d| d == key)))
            .collect()
    }
}

/// One change to a tag, as kept in `history.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// RFC 3339 UTC; absent for the built-in definition.
    pub at: Option<String>,
    pub author: String,
    /// `builtin`, `add`, `change` or `retire`.
    pub action: String,
    pub key: String,
    pub version: u32,
    pub previous_version: Option<u32>,
    /// Fields that differ from the previous definition.
    pub changed: Vec<String>,
    pub old: Option<RawTag>,
    pub new: RawTag,
}

/// What `add` or `retire` did to one tag.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub key: String,
    /// `add`, `change`, `retire` or `unchanged`.
    pub action: String,
    pub version: u32,
    pub path: Option<PathBuf>,
}

fn changed_fields(old: &RawTag, new: &RawTag) -> Vec<String> {
    let (a, b) = (
        serde_json::to_value(old).unwrap_or_default(),
        serde_json::to_value(new).unwrap_or_default(),
    );
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

fn append_history(dd: &DataDir, entry: &HistoryEntry) -> Result<(), CatalogError> {
    let path = history_path(dd);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let mut line = serde_json::to_string(entry).unwrap_or_default();
    line.push('\n');
    f.write_all(line.as_bytes()).map_err(io_err(&path))?;
    f.sync_data().map_err(io_err(&path))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn same_definition(a: &TagDef, b: &TagDef) -> bool {
    let (mut a, mut b) = (a.to_raw(), b.to_raw());
    a.version = None;
    b.version = None;
    a == b
}

/// Adds or changes the tags of a definition file. Versions: a file without `version` gets
/// one more than the stored definition; an explicit version must be newer. A definition
/// identical to the stored one (apart from the version) is left alone.
pub fn add(dd: &DataDir, file: &Path, author: &str) -> Result<Vec<Change>, CatalogError> {
    let text = std::fs::read_to_string(file).map_err(io_err(file))?;
    let origin = file.display().to_string();
    let raws = def::parse_file(&text, &origin)?;
    let mut catalog = Catalog::load(dd)?;
    let mut planned = Vec::new();
    for mut raw in raws {
        let old = catalog.get(&raw.key).cloned();
        let stored = old.as_ref().map_or(0, |o| o.version);
        match raw.version {
            None => raw.version = Some(stored + 1),
            Some(v) if v <= stored => {
                let same = old.as_ref().is_some_and(|o| {
                    let mut r = raw.clone();
                    r.owner.get_or_insert_with(|| o.owner.clone());
                    r.validate(&origin, o.builtin)
                        .is_ok_and(|t| same_definition(&t, o))
                });
                if !same {
                    return Err(CatalogError::Inconsistent {
                        key: raw.key.clone(),
                        message: format!(
                            "version {v} is not newer than the stored version {stored}: set version = {} or leave it out",
                            stored + 1
                        ),
                    });
                }
            }
            Some(_) => {}
        }
        if raw.owner.is_none() {
            raw.owner = Some(
                old.as_ref()
                    .map_or_else(|| author.to_string(), |o| o.owner.clone()),
            );
        }
        let new = raw.validate(&origin, false)?;
        if let Some(o) = &old
            && same_definition(o, &new)
        {
            planned.push((old, new, true));
            continue;
        }
        catalog.upsert(new.clone());
        planned.push((old, new, false));
    }
    catalog.check()?;

    let dir = tags_dir(dd);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut changes = Vec::new();
    for (old, new, unchanged) in planned {
        if unchanged {
            changes.push(Change {
                key: new.key.clone(),
                action: "unchanged".into(),
                version: old.map_or(new.version, |o| o.version),
                path: None,
            });
            continue;
        }
        let path = dir.join(format!("{}.toml", new.key));
        write_atomic(&path, new.to_toml().as_bytes())?;
        let action = match (&old, new.status) {
            (_, Status::Retired) => "retire",
            (None, _) => "add",
            (Some(_), _) => "change",
        };
        let new_raw = new.to_raw();
        append_history(
            dd,
            &HistoryEntry {
                at: Some(now()),
                author: author.to_string(),
                action: action.into(),
                key: new.key.clone(),
                version: new.version,
                previous_version: old.as_ref().map(|o| o.version),
                changed: old
                    .as_ref()
                    .map(|o| changed_fields(&o.to_raw(), &new_raw))
                    .unwrap_or_default(),
                old: old.as_ref().map(TagDef::to_raw),
                new: new_raw,
            },
        )?;
        changes.push(Change {
            key: new.key.clone(),
            action: action.into(),
            version: new.version,
            path: Some(path),
        });
    }
    Ok(changes)
}

/// Retires a tag: it stays in the catalogue and history but is no longer computed.
/// Refused while an active rule reads it.
pub fn retire(dd: &DataDir, key: &str, author: &str) -> Result<Change, CatalogError> {
    let catalog = Catalog::load(dd)?;
    let old = catalog
        .get(key)
        .ok_or_else(|| CatalogError::UnknownTag(key.to_string()))?;
    if old.status == Status::Retired {
        return Err(CatalogError::Inconsistent {
            key: key.into(),
            message: format!("already retired (version {})", old.version),
        });
    }
    let users: Vec<&str> = catalog
        .dependents(key)
        .iter()
        .map(|t| t.key.as_str())
        .collect();
    if !users.is_empty() {
        return Err(CatalogError::Inconsistent {
            key: key.into(),
            message: format!(
                "the rules of {} read it: retire or change those first",
                users.join(", ")
            ),
        });
    }
    let mut new = old.clone();
    new.status = Status::Retired;
    new.version += 1;
    new.builtin = false;
    let dir = tags_dir(dd);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(format!("{key}.toml"));
    write_atomic(&path, new.to_toml().as_bytes())?;
    let (old_raw, new_raw) = (old.to_raw(), new.to_raw());
    append_history(
        dd,
        &HistoryEntry {
            at: Some(now()),
            author: author.to_string(),
            action: "retire".into(),
            key: key.into(),
            version: new.version,
            previous_version: Some(old.version),
            changed: changed_fields(&old_raw, &new_raw),
            old: Some(old_raw),
            new: new_raw,
        },
    )?;
    Ok(Change {
        key: key.into(),
        action: "retire".into(),
        version: new.version,
        path: Some(path),
    })
}

/// A tag's history, oldest first: the built-in definition (if any), then every recorded change.
pub fn history(dd: &DataDir, key: &str) -> Result<Vec<HistoryEntry>, CatalogError> {
    let mut out = Vec::new();
    let builtin = Catalog::builtin()?;
    if let Some(b) = builtin.get(key) {
        out.push(HistoryEntry {
            at: None,
            author: b.owner.clone(),
            action: "builtin".into(),
            key: key.into(),
            version: b.version,
            previous_version: None,
            changed: Vec::new(),
            old: None,
            new: b.to_raw(),
        });
    }
    let path = history_path(dd);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let e: HistoryEntry =
                    serde_json::from_str(line).map_err(|e| CatalogError::History {
                        path: path.clone(),
                        line: i + 1,
                        message: e.to_string(),
                    })?;
                if e.key == key {
                    out.push(e);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    if out.is_empty() && Catalog::load(dd)?.get(key).is_none() {
        return Err(CatalogError::UnknownTag(key.into()));
    }
    Ok(out)
}

/// Count of active tags per kind, for summaries.
pub fn kind_counts(c: &Catalog) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for t in c.active() {
        *m.entry(match t.kind {
            Kind::Categorical => "categorical",
            Kind::Numeric => "numeric",
            Kind::Flag => "flag",
        })
        .or_default() += 1;
    }
    m
}
