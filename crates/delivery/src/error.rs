//! Outbox errors. Each message names what failed and, where there is one, the fix.

/// Errors from the outbox tables (opening, enqueueing, claiming, metrics).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(
        "'{url}' is not a supported outbox database URL: use postgres://user@host:5432/db \
         (or postgresql://), sqlite:///path/to/file.db, or a plain path to a SQLite file"
    )]
    UnsupportedUrl { url: String },

    #[error(
        "cannot connect to the outbox database at {location}: {source}. \
         Check that the database is running and the URL, user and database name are right"
    )]
    Connect {
        location: String,
        source: sqlx::Error,
    },

    #[error(
        "the outbox tables at {location} are at schema version {found}, newer than this build \
         understands ({supported}): upgrade Zhiying instead of running an older binary on this database"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },

    #[error("database error while {context}: {source}")]
    Db {
        context: &'static str,
        source: sqlx::Error,
    },

    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error(
        "stored delivery_outbox.{column} for '{key}' is unreadable ({reason}); the row was changed outside Zhiying"
    )]
    Corrupt {
        column: &'static str,
        key: String,
        reason: String,
    },
}

/// Attaches "while doing X" to sqlx errors.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, OutboxError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, OutboxError> {
        self.map_err(|source| OutboxError::Db { context, source })
    }
}
