//! Real-time events for Zhiying: a durable, group-committed event log and the customer
//! profiles derived from it incrementally.
//!
//! * [`input`] validates channel events and transactions against the canonical code lists
//!   (`zhiying_core::schema`), with one error per bad field.
//! * [`log`] is the append-only log: CRC32C-framed records in size-limited segments under
//!   `DIR/log/`, torn tails cut on open.
//! * [`profile`] keeps per-customer recency, day-bucketed counters (today / 7d / 30d / 90d)
//!   and the rule tags computed from them (`active_7d`, `large_inflow_today`, …).
//! * [`watch`] is the seam to saved audiences: a [`MembershipWatcher`] decides membership
//!   from a profile; flips become [`AudienceChange`] records in the log and a broadcast.
//! * [`EventStore`] ties them together. One writer thread batches every queued append into
//!   one write and one `fdatasync` (group commit); an append is answered only after that, so
//!   an acknowledged event survives `kill -9`. Ids are remembered (also across restarts)
//!   so a retried event is acknowledged but not applied twice. A checkpoint of the derived
//!   state (`DIR/checkpoint.bin`) bounds what a restart replays.
//!
//! ```
//! use std::sync::Arc;
//! use zhiying_events::{EventConfig, EventStore, FnWatcher, ValidateOptions, parse_body};
//!
//! let dir = tempfile::tempdir()?;
//! let store = EventStore::open(dir.path(), EventConfig::default())?;
//! store.register_watcher(Arc::new(FnWatcher::new("salary-customers", |v| v.has_tag("salary_credited"))));
//! let changes = store.subscribe();
//!
//! let now = zhiying_events::SystemClock.now_us();
//! let body = format!(r#"[{{"kind": "transaction", "txn_id": "T1", "customer_id": "C1",
//!     "ts": "{}", "amount_fen": 1200000, "direction": "credit", "channel": "batch", "txn_type": "salary"}}]"#,
//!     zhiying_core::time::format_timestamp(now));
//! let records = parse_body(body.as_bytes(), ValidateOptions::at(now)).expect("valid");
//! let outcome = store.append_blocking(records)?;          // returns after fsync
//! assert_eq!(outcome.accepted, 1);
//! let rt = store.realtime("C1").expect("seen");
//! assert!(rt.tags.contains(&"salary_credited".to_string()));
//! assert_eq!(rt.audiences, vec!["salary-customers".to_string()]);
//! # use zhiying_events::Clock;
//! # drop(changes);
//! store.close()?;                                         // final checkpoint
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
pub mod dedupe;
pub mod input;
pub mod log;
pub mod profile;
mod store;
pub mod watch;

use std::path::{Path, PathBuf};

pub use input::{
    AudienceChange, Change, ChannelEvent, FieldError, ItemError, Record, Transaction,
    ValidateOptions, parse_body, parse_item, parse_items,
};
pub use log::Position;
pub use profile::{ProfileView, RULE_TAGS, RealtimeSnapshot, Rules, TagSet, WindowCounts};
pub use store::{
    AppendOutcome, Clock, EventConfig, EventStats, EventStore, ManualClock, PurgeFilter,
    PurgeOutcome, Recovery, SystemClock,
};
pub use watch::{FnWatcher, MembershipWatcher};

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("the event log is not accepting appends: {0}")]
    Failed(String),
    #[error(
        "the event log is closed (the server is shutting down); retry against a running server"
    )]
    Closed,
}

impl EventError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        EventError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
