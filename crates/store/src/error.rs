//! Store errors. Each message names what failed and, where there is one, the fix.

use std::fmt;

/// Where the audit hash chain breaks: the first entry that fails verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    /// Sequence number of the first entry that is missing or does not verify.
    pub seq: u64,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit chain broken at seq {}: {}", self.seq, self.reason)
    }
}

impl std::error::Error for AuditBreak {}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "'{url}' is not a supported database URL: use postgres://user@host:5432/db (or postgresql://), \
         sqlite:///path/to/file.db, or give no URL to use DATA_DIR/zhiying.db"
    )]
    UnsupportedUrl { url: String },

    #[error(
        "cannot create the data directory {path}: {source}. Check that the parent exists and is writable"
    )]
    DataDir {
        path: String,
        source: std::io::Error,
    },

    #[error(
        "cannot connect to the operational store at {location}: {source}. \
         Check that the database is running and the URL, user and database name are right"
    )]
    Connect {
        location: String,
        source: sqlx::Error,
    },

    #[error(
        "migrating the {backend} operational store at {location} failed: {source}. \
         If a migration file was edited after it was applied, restore it and add a new numbered migration instead"
    )]
    Migrate {
        backend: &'static str,
        location: String,
        source: sqlx::migrate::MigrateError,
    },

    #[error("database error while {context}: {source}")]
    Db {
        context: &'static str,
        source: sqlx::Error,
    },

    #[error("{what} '{key}' already exists")]
    Conflict { what: &'static str, key: String },

    #[error("{what} '{key}' does not exist: create it first")]
    NotFound { what: &'static str, key: String },

    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error(
        "stored {table}.{column} for '{key}' is unreadable ({reason}); the row was changed outside Zhiying"
    )]
    Corrupt {
        table: &'static str,
        column: &'static str,
        key: String,
        reason: String,
    },

    #[error(transparent)]
    AuditBroken(#[from] AuditBreak),

    /// Encryption at rest of a C2/C3 field (`docs/encryption.md`): no key to write with, or
    /// a stored value whose key is missing or which fails to authenticate.
    #[error("{table}.{column} for '{key}': {source}")]
    FieldCrypto {
        table: &'static str,
        column: &'static str,
        key: String,
        source: zhiying_keyring::KeyError,
    },

    /// Optimistic concurrency: someone else changed the record since the caller read it.
    #[error(
        "{what} '{key}' is at version {actual}, not {expected} as expected: someone else changed it; \
         reload it and reapply your change (expected version 0 means 'create new')"
    )]
    VersionConflict {
        what: &'static str,
        key: String,
        expected: u64,
        actual: u64,
    },

    /// A lifecycle move the state machine does not allow.
    #[error("{what} '{key}' cannot go from {from} to {to}; from {from} it may go to: {allowed}")]
    IllegalTransition {
        what: &'static str,
        key: String,
        from: String,
        to: String,
        allowed: String,
    },

    /// Maker-checker: the person who created or submitted a record may not approve it.
    #[error(
        "{actor} {role} {what} '{key}' and so cannot approve it (maker-checker): another user must approve"
    )]
    SelfApproval {
        what: &'static str,
        key: String,
        actor: String,
        /// `created` or `submitted`.
        role: &'static str,
    },

    /// An edit to a record whose status freezes it.
    #[error("{what} '{key}' is {status} and cannot be edited: only {editable} {what}s can; {fix}")]
    NotEditable {
        what: &'static str,
        key: String,
        status: String,
        editable: &'static str,
        fix: &'static str,
    },
}

/// Attaches "while doing X" to sqlx errors.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Db { context, source })
    }
}

/// True when the error is a unique / primary-key violation on either backend.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
