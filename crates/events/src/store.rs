//! [`EventStore`]: the log, the profiles and the watchers behind one handle.
//!
//! One writer thread owns the log. Requests queue on a channel; the thread takes everything
//! queued (up to a record limit), encodes it into one buffer, applies it to copies of the
//! touched profiles, evaluates the watchers on the copies, writes the buffer with the
//! membership changes in one `write` and one `fdatasync`, and only then swaps the new
//! profiles in and answers the requests. So many concurrent requests share one fsync
//! (group commit), an answered append is durable, and readers never see state that a crash
//! could take back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::EventError;
use crate::checkpoint::{self, Snapshot};
use crate::dedupe::Dedupe;
use crate::input::{AudienceChange, Record};
use crate::log::{self, Position, SegmentWriter};
use crate::profile::{Profile, ProfileView, RealtimeSnapshot, Rules};
use crate::watch::MembershipWatcher;

/// Where "now" comes from; tests substitute a [`ManualClock`].
pub trait Clock: Send + Sync {
    /// UTC microseconds.
    fn now_us(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_us: i64) -> Self {
        ManualClock(AtomicI64::new(now_us))
    }
    pub fn set(&self, now_us: i64) {
        self.0.store(now_us, Ordering::SeqCst)
    }
    pub fn advance(&self, us: i64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Tuning knobs; the defaults suit the embedded server.
#[derive(Clone)]
pub struct EventConfig {
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Most records written by one group commit.
    pub max_batch_records: usize,
    /// Requests that may wait for the writer before senders are slowed down.
    pub queue_depth: usize,
    /// How many recent ids are remembered for idempotency (see [`crate::dedupe`]).
    pub dedupe_window: usize,
    /// Checkpoint after this many records (also on close).
    pub checkpoint_every: u64,
    /// Audience changes buffered for slow subscribers before they miss some.
    pub broadcast_capacity: usize,
    pub rules: Rules,
    pub clock: Arc<dyn Clock>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            segment_bytes: 64 << 20,
            max_batch_records: 50_000,
            queue_depth: 8192,
            // Four generations of 917,504 ids: each fills a 2^20-slot table exactly (7/8 load),
            // so the window costs about 72 MiB when full.
            dedupe_window: 4 * 917_504,
            checkpoint_every: 2_000_000,
            broadcast_capacity: 65_536,
            rules: Rules::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// The answer to one append.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Records newly written (and applied).
    pub accepted: usize,
    /// Indices (in the request) of records whose id was already seen: acknowledged, not re-applied.
    pub duplicates: Vec<usize>,
    /// The log position after the group commit that made this append durable.
    pub position: Position,
}

/// What opening the store found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recovery {
    /// Position of the checkpoint used, if any.
    pub checkpoint: Option<Position>,
    /// Records replayed from the log after the checkpoint.
    pub replayed_records: u64,
    /// Bytes of a torn tail cut off the newest segment.
    pub truncated_bytes: u64,
    /// Why the checkpoint was ignored, if it was.
    pub checkpoint_error: Option<String>,
    pub millis: u64,
}

/// Counters since open, for metrics and `GET /v1/events/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventStats {
    pub customers: usize,
    pub records_appended: u64,
    pub duplicates: u64,
    pub audience_changes: u64,
    pub group_commits: u64,
    pub bytes_written: u64,
    pub position: Position,
    pub last_checkpoint: Option<Position>,
    pub remembered_ids: u64,
    pub recovery: Recovery,
}

const SHARDS: usize = 64;

/// Customer id → current profile, in shards so readers and the writer rarely meet.
struct Profiles {
    shards: Vec<RwLock<HashMap<Box<str>, Arc<Profile>>>>,
}

impl Profiles {
    fn new() -> Self {
        Profiles {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }
    fn shard(&self, id: &str) -> &RwLock<HashMap<Box<str>, Arc<Profile>>> {
        let h = twox_hash::XxHash3_128::oneshot(id.as_bytes()) as u64;
        &self.shards[(h as usize) % SHARDS]
    }
    fn get(&self, id: &str) -> Option<Arc<Profile>> {
        let s = self.shard(id).read().unwrap_or_else(|p| p.into_inner());
        s.get(id).cloned()
    }
    fn put(&self, id: &str, p: Arc<Profile>) {
        let mut s = self.shard(id).write().unwrap_or_else(|p| p.into_inner());
        match s.get_mut(id) {
            Some(slot) => *slot = p,
            None => {
                s.insert(id.into(), p);
            }
        }
    }
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
    fn remove(&self, id: &str) -> bool {
        let mut s = self.shard(id).write().unwrap_or_else(|p| p.into_inner());
        s.remove(id).is_some()
    }
    fn all(&self) -> Vec<(Box<str>, Arc<Profile>)> {
        let mut out = Vec::new();
        for s in &self.shards {
            let s = s.read().unwrap_or_else(|p| p.into_inner());
            out.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }
}

struct Shared {
    profiles: Profiles,
    rules: Rules,
    clock: Arc<dyn Clock>,
    watchers: RwLock<Vec<Arc<dyn MembershipWatcher>>>,
    changes: broadcast::Sender<AudienceChange>,
    /// Newly accepted records (not duplicates), published after they are durable.
    records: broadcast::Sender<Arc<Record>>,
    stats: Mutex<EventStats>,
    appended: AtomicU64,
}

enum Command {
    Append {
        records: Vec<Record>,
        reply: oneshot::Sender<Result<AppendOutcome, EventError>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Position, EventError>>,
    },
    Sweep {
        reply: oneshot::Sender<Result<usize, EventError>>,
    },
    Purge {
        filter: PurgeFilter,
        reply: oneshot::Sender<Result<PurgeOutcome, EventError>>,
    },
}

/// Which records [`EventStore::purge`] removes from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeFilter {
    /// Every record of one customer, and their profile (erasure).
    Customer(String),
    /// Records with `ts` before this (UTC micros): retention. Profiles keep their counters.
    OlderThan(i64),
}

impl PurgeFilter {
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            PurgeFilter::Customer(id) => r.customer_id() == id,
            PurgeFilter::OlderThan(ts) => r.ts() < *ts,
        }
    }
}

/// What a purge removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PurgeOutcome {
    pub records_removed: u64,
    pub segments_rewritten: u64,
    pub profiles_dropped: u64,
}

/// The durable event log with its derived real-time profiles. Cheap to share behind an `Arc`;
/// call [`EventStore::close`] on shutdown to checkpoint.
pub struct EventStore {
    dir: PathBuf,
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EventStore {
    /// Opens (or creates) the store in `dir`: loads the checkpoint, replays the log after it,
    /// cuts a torn tail off the newest segment, and starts the writer thread.
    pub fn open(dir: impl AsRef<Path>, config: EventConfig) -> Result<EventStore, EventError> {
        let started = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        let log_dir = dir.join("log");
        std::fs::create_dir_all(&log_dir).map_err(|e| EventError::io(&log_dir, e))?;
        let rules = config.rules;
        let now = config.clock.now_us();
        let today = rules.day_of(now);
        let mut recovery = Recovery::default();

        let mut profiles: HashMap<String, Profile> = HashMap::new();
        let mut dedupe = Dedupe::new(config.dedupe_window);
        let mut start = Position::default();
        match checkpoint::read(&dir) {
            Ok(Some(c)) => {
                start = c.position;
                recovery.checkpoint = Some(c.position);
                profiles.extend(c.profiles);
                dedupe.restore(c.dedupe);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("{e}; replaying the whole event log instead");
                recovery.checkpoint_error = Some(e.to_string());
            }
        }

        let segments = log::list_segments(&log_dir)?;
        if let Some(ck) = recovery.checkpoint
            && !segments.contains(&ck.segment)
        {
            return Err(EventError::Corrupt {
                path: log::segment_path(&log_dir, ck.segment),
                offset: ck.offset,
                reason: "the checkpoint refers to a segment that is missing; restore the log directory from backup, or delete checkpoint.bin to rebuild from the segments that remain".into(),
            });
        }
        let mut end = None;
        for (i, &n) in segments.iter().enumerate() {
            if n < start.segment {
                continue;
            }
            let from = if n == start.segment { start.offset } else { 0 };
            let scan = log::scan_segment(&log_dir, n, from, |payload, _| {
                let r: Record =
                    serde_json::from_slice(payload).map_err(|e| EventError::Corrupt {
                        path: log::segment_path(&log_dir, n),
                        offset: 0,
                        reason: format!(
                            "a checksummed record is not valid JSON ({e}); was it written by a newer Zhiying?"
                        ),
                    })?;
                if let Some(k) = r.dedupe_key() {
                    dedupe.insert(k);
                }
                profiles
                    .entry(r.customer_id().to_string())
                    .or_default()
                    .apply(&r, &rules, today);
                recovery.replayed_records += 1;
                Ok(())
            })?;
            if let Some(tear) = &scan.tear {
                let last = i + 1 == segments.len();
                if !last {
                    return Err(EventError::Corrupt {
                        path: log::segment_path(&log_dir, n),
                        offset: scan.valid_end,
                        reason: format!(
                            "{tear} in a closed segment (only the newest segment can have a torn tail); restore it from backup"
                        ),
                    });
                }
                tracing::warn!(
                    segment = n,
                    offset = scan.valid_end,
                    bytes = scan.file_len - scan.valid_end,
                    "event log: cutting a torn tail ({tear}) left by a crash; those appends were never acknowledged"
                );
                log::truncate_segment(&log_dir, n, scan.valid_end)?;
                recovery.truncated_bytes = scan.file_len - scan.valid_end;
            }
            end = Some(Position {
                segment: n,
                offset: scan.valid_end,
            });
        }
        let writer = match end {
            Some(p) => SegmentWriter::open(&log_dir, p.segment, p.offset, config.segment_bytes)?,
            None => SegmentWriter::create(&log_dir, 1, config.segment_bytes)?,
        };
        recovery.millis = started.elapsed().as_millis() as u64;

        let map = Profiles::new();
        for (k, mut p) in profiles {
            p.prune(today);
            map.put(&k, Arc::new(p));
        }
        let (changes, _) = broadcast::channel(config.broadcast_capacity.max(1));
        let (records, _) = broadcast::channel(config.broadcast_capacity.max(1));
        let shared = Arc::new(Shared {
            profiles: map,
            rules,
            clock: config.clock.clone(),
            watchers: RwLock::new(Vec::new()),
            changes,
            records,
            stats: Mutex::new(EventStats {
                position: writer.position(),
                last_checkpoint: recovery.checkpoint,
                remembered_ids: dedupe.len() as u64,
                recovery: recovery.clone(),
                ..EventStats::default()
            }),
            appended: AtomicU64::new(0),
        });
        tracing::info!(
            dir = %dir.display(),
            replayed = recovery.replayed_records,
            truncated_bytes = recovery.truncated_bytes,
            millis = recovery.millis,
            "event log open"
        );
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let mut w = Writer {
            dir: dir.clone(),
            seg: writer,
            dedupe,
            shared: shared.clone(),
            config,
            since_checkpoint: recovery.replayed_records,
            failed: None,
            checkpointing: Arc::new(AtomicBool::new(false)),
            background: None,
        };
        let thread = std::thread::Builder::new()
            .name("zhiying-event-log".into())
            .spawn(move || w.run(rx))
            .map_err(|e| EventError::io(&dir, e))?;
        Ok(EventStore {
            dir: dir_of(&log_dir),
            shared,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, EventError> {
        self.tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(EventError::Closed)
    }

    /// Appends validated records; resolves once they are durable and visible to readers.
    pub async fn append(&self, records: Vec<Record>) -> Result<AppendOutcome, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Append { records, reply })
            .await
            .map_err(|_| EventError::Closed)?;
        rx.await.map_err(|_| EventError::Closed)?
    }

    /// [`EventStore::append`] for synchronous callers (not from inside an async runtime).
    pub fn append_blocking(&self, records: Vec<Record>) -> Result<AppendOutcome, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .blocking_send(Command::Append { records, reply })
            .map_err(|_| EventError::Closed)?;
        rx.blocking_recv().map_err(|_| EventError::Closed)?
    }

    /// The customer's current profile version.
    pub fn profile(&self, customer_id: &str) -> Option<Arc<Profile>> {
        self.shared.profiles.get(customer_id)
    }

    /// Counters, recency and rule tags evaluated now; `None` for a customer never seen.
    pub fn realtime(&self, customer_id: &str) -> Option<RealtimeSnapshot> {
        let p = self.profile(customer_id)?;
        let now = self.shared.clock.now_us();
        Some(ProfileView::new(customer_id, &p, &self.shared.rules, now).snapshot())
    }

    pub fn rules(&self) -> &Rules {
        &self.shared.rules
    }

    /// Adds (or replaces, by audience id) a watcher. Customers are evaluated against it on
    /// their next update or on the next [`EventStore::sweep`].
    pub fn register_watcher(&self, w: Arc<dyn MembershipWatcher>) {
        let mut ws = self
            .shared
            .watchers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        ws.retain(|x| x.audience_id() != w.audience_id());
        ws.push(w);
    }

    pub fn unregister_watcher(&self, audience_id: &str) {
        self.shared
            .watchers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|x| x.audience_id() != audience_id);
    }

    /// Audience changes, published after they are durable. A subscriber that falls more than
    /// `broadcast_capacity` behind gets `Lagged` and can re-read the log.
    pub fn subscribe(&self) -> broadcast::Receiver<AudienceChange> {
        self.shared.changes.subscribe()
    }

    /// Records newly accepted by appends (events and transactions, never duplicates), published
    /// after the group commit that made them durable, in log order. Campaign triggers listen
    /// here. A subscriber that falls more than `broadcast_capacity` behind gets `Lagged`.
    pub fn subscribe_records(&self) -> broadcast::Receiver<Arc<Record>> {
        self.shared.records.subscribe()
    }

    /// Re-evaluates every customer against the watchers at the current time, for changes that
    /// time alone causes (`dormant_60d`, windows rolling) and for newly registered audiences.
    /// Returns the number of audience changes written.
    pub async fn sweep(&self) -> Result<usize, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Sweep { reply })
            .await
            .map_err(|_| EventError::Closed)?;
        rx.await.map_err(|_| EventError::Closed)?
    }

    /// Removes the matching records from every segment of the log (each affected segment is
    /// rewritten crash-safely), drops an erased customer's profile, and writes a fresh
    /// checkpoint, so neither a restart nor a replay brings the records back. The
    /// checkpoint is deleted before any segment is rewritten: a crash part-way leaves a log
    /// that replays from the start, and running the purge again finishes it.
    pub async fn purge(&self, filter: PurgeFilter) -> Result<PurgeOutcome, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Purge { filter, reply })
            .await
            .map_err(|_| EventError::Closed)?;
        rx.await.map_err(|_| EventError::Closed)?
    }

    /// [`EventStore::purge`] for callers outside an async runtime.
    pub fn purge_blocking(&self, filter: PurgeFilter) -> Result<PurgeOutcome, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .blocking_send(Command::Purge { filter, reply })
            .map_err(|_| EventError::Closed)?;
        rx.blocking_recv().map_err(|_| EventError::Closed)?
    }

    /// Writes a checkpoint now and waits for it.
    pub async fn checkpoint(&self) -> Result<Position, EventError> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Checkpoint { reply })
            .await
            .map_err(|_| EventError::Closed)?;
        rx.await.map_err(|_| EventError::Closed)?
    }

    pub fn stats(&self) -> EventStats {
        let mut s = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.customers = self.shared.profiles.len();
        s
    }

    /// Records appended since open (cheap; for metrics).
    pub fn appended(&self) -> u64 {
        self.shared.appended.load(Ordering::Relaxed)
    }

    /// Stops accepting appends, lets queued ones finish, writes a final checkpoint and stops
    /// the writer thread. Idempotent.
    pub fn close(&self) -> Result<(), EventError> {
        // Dropping the sender lets the writer drain the queue and exit its loop.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            return Err(EventError::Failed(
                "the event log writer thread panicked".into(),
            ));
        }
        Ok(())
    }
}

fn dir_of(log_dir: &Path) -> PathBuf {
    log_dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Drop for EventStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!("closing the event log: {e}");
        }
    }
}

struct Writer {
    dir: PathBuf,
    seg: SegmentWriter,
    dedupe: Dedupe,
    shared: Arc<Shared>,
    config: EventConfig,
    since_checkpoint: u64,
    /// Set after a failed write or sync: the file's state is unknown, so nothing more is
    /// acknowledged until a restart recovers from what is on disk.
    failed: Option<String>,
    checkpointing: Arc<AtomicBool>,
    background: Option<JoinHandle<()>>,
}

type Reply = oneshot::Sender<Result<AppendOutcome, EventError>>;

struct Pending {
    reply: Reply,
    outcome: AppendOutcome,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Command>) {
        let mut carry: Option<Command> = None;
        loop {
            let first = match carry.take() {
                Some(c) => c,
                None => match rx.blocking_recv() {
                    Some(c) => c,
                    None => break,
                },
            };
            match first {
                Command::Append { records, reply } => {
                    let mut batch = vec![(records, reply)];
                    let mut n: usize = batch[0].0.len();
                    while n < self.config.max_batch_records {
                        match rx.try_recv() {
                            Ok(Command::Append { records, reply }) => {
                                n += records.len();
                                batch.push((records, reply));
                            }
                            Ok(other) => {
                                carry = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(batch);
                }
                Command::Checkpoint { reply } => {
                    let r = self.checkpoint_now();
                    let _ = reply.send(r);
                }
                Command::Sweep { reply } => {
                    let r = self.sweep();
                    let _ = reply.send(r);
                }
                Command::Purge { filter, reply } => {
                    let r = self.purge(&filter);
                    let _ = reply.send(r);
                }
            }
        }
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
        if self.failed.is_none() {
            match self.checkpoint_now() {
                Ok(p) => tracing::info!(
                    segment = p.segment,
                    offset = p.offset,
                    "event log closed with a checkpoint"
                ),
                Err(e) => tracing::error!(
                    "final event-log checkpoint failed (the log will be replayed on the next start): {e}"
                ),
            }
        }
    }

    fn watchers(&self) -> Vec<Arc<dyn MembershipWatcher>> {
        self.shared
            .watchers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Evaluates watchers on `p`, records the changes in it and returns them.
    fn evaluate(
        watchers: &[Arc<dyn MembershipWatcher>],
        rules: &Rules,
        now: i64,
        customer: &str,
        p: &mut Profile,
        cause: Option<&str>,
    ) -> Vec<AudienceChange> {
        if watchers.is_empty() {
            return Vec::new();
        }
        let view = ProfileView::new(customer, p, rules, now);
        let changes: Vec<AudienceChange> = watchers
            .iter()
            .filter_map(|w| {
                let was = view.in_audience(w.audience_id());
                w.transition(&view, was).map(|change| AudienceChange {
                    audience_id: w.audience_id().to_string(),
                    customer_id: customer.to_string(),
                    change,
                    ts: now,
                    cause: cause.map(str::to_string),
                })
            })
            .collect();
        let today = rules.day_of(now);
        for c in &changes {
            p.apply(&Record::Audience(c.clone()), rules, today);
        }
        changes
    }

    fn commit(&mut self, batch: Vec<(Vec<Record>, Reply)>) {
        if let Some(f) = &self.failed {
            for (_, reply) in batch {
                let _ = reply.send(Err(EventError::Failed(f.clone())));
            }
            return;
        }
        let rules = self.shared.rules;
        let now = self.shared.clock.now_us();
        let today = rules.day_of(now);
        let mut buf = Vec::with_capacity(batch.iter().map(|b| b.0.len()).sum::<usize>() * 256);
        let mut touched: HashMap<String, (Profile, Option<String>)> = HashMap::new();
        let mut new_keys = crate::dedupe::KeySet::default();
        let mut pending = Vec::with_capacity(batch.len());
        let mut accepted_total = 0u64;
        let mut dup_total = 0u64;
        let publish = self.shared.records.receiver_count() > 0;
        let mut published: Vec<Arc<Record>> = Vec::new();
        for (records, reply) in batch {
            let mut outcome = AppendOutcome {
                accepted: 0,
                duplicates: Vec::new(),
                position: Position::default(),
            };
            for (i, r) in records.iter().enumerate() {
                if let Some(k) = r.dedupe_key()
                    && (self.dedupe.contains(k) || !new_keys.insert(k))
                {
                    outcome.duplicates.push(i);
                    continue;
                }
                match serde_json::to_vec(r) {
                    Ok(payload) => log::encode_frame(&mut buf, &payload),
                    Err(e) => {
                        // Records are plain data; this cannot happen, but never ack unwritten data.
                        self.fail_batch(pending, reply, format!("encoding a record: {e}"));
                        return;
                    }
                }
                let cid = r.customer_id();
                let entry = touched.entry(cid.to_string()).or_insert_with(|| {
                    let p = self
                        .shared
                        .profiles
                        .get(cid)
                        .map(|p| (*p).clone())
                        .unwrap_or_default();
                    (p, None)
                });
                entry.0.apply(r, &rules, today);
                entry.1 = r.id().map(str::to_string);
                outcome.accepted += 1;
                if publish {
                    published.push(Arc::new(r.clone()));
                }
            }
            accepted_total += outcome.accepted as u64;
            dup_total += outcome.duplicates.len() as u64;
            pending.push(Pending { reply, outcome });
        }
        let watchers = self.watchers();
        let mut changes = Vec::new();
        for (cid, (p, cause)) in touched.iter_mut() {
            for c in Self::evaluate(&watchers, &rules, now, cid, p, cause.as_deref()) {
                if let Ok(payload) = serde_json::to_vec(&Record::Audience(c.clone())) {
                    log::encode_frame(&mut buf, &payload);
                }
                changes.push(c);
            }
        }
        let bytes = buf.len() as u64;
        let position = if buf.is_empty() {
            self.seg.position()
        } else {
            match self.seg.append_durable(&buf) {
                Ok(p) => p,
                Err(e) => {
                    let msg = format!(
                        "writing the event log failed ({e}); appends are refused until the server restarts and recovers the log"
                    );
                    tracing::error!("{msg}");
                    self.failed = Some(msg.clone());
                    for p in pending {
                        let _ = p.reply.send(Err(EventError::Failed(msg.clone())));
                    }
                    return;
                }
            }
        };
        // Durable: publish.
        for (cid, (p, _)) in touched {
            self.shared.profiles.put(&cid, Arc::new(p));
        }
        for k in new_keys {
            self.dedupe.insert(k);
        }
        {
            let mut s = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.records_appended += accepted_total;
            s.duplicates += dup_total;
            s.audience_changes += changes.len() as u64;
            if bytes > 0 {
                s.group_commits += 1;
            }
            s.bytes_written += bytes;
            s.position = position;
            s.remembered_ids = self.dedupe.len() as u64;
        }
        self.shared
            .appended
            .fetch_add(accepted_total, Ordering::Relaxed);
        for mut p in pending {
            p.outcome.position = position;
            let _ = p.reply.send(Ok(p.outcome));
        }
        for r in published {
            let _ = self.shared.records.send(r);
        }
        for c in changes {
            let _ = self.shared.changes.send(c);
        }
        self.since_checkpoint += accepted_total;
        if self.since_checkpoint >= self.config.checkpoint_every {
            self.checkpoint_background();
        }
    }

    fn fail_batch(
        &mut self,
        pending: Vec<Pending>,
        reply: oneshot::Sender<Result<AppendOutcome, EventError>>,
        msg: String,
    ) {
        tracing::error!("{msg}");
        let _ = reply.send(Err(EventError::Failed(msg.clone())));
        for p in pending {
            let _ = p.reply.send(Err(EventError::Failed(msg.clone())));
        }
    }

    fn sweep(&mut self) -> Result<usize, EventError> {
        if let Some(f) = &self.failed {
            return Err(EventError::Failed(f.clone()));
        }
        let watchers = self.watchers();
        if watchers.is_empty() {
            return Ok(0);
        }
        let rules = self.shared.rules;
        let now = self.shared.clock.now_us();
        let mut buf = Vec::new();
        let mut updated = Vec::new();
        let mut changes = Vec::new();
        for (cid, p) in self.shared.profiles.all() {
            let mut p = (*p).clone();
            let c = Self::evaluate(&watchers, &rules, now, &cid, &mut p, None);
            if !c.is_empty() {
                for c in &c {
                    if let Ok(payload) = serde_json::to_vec(&Record::Audience(c.clone())) {
                        log::encode_frame(&mut buf, &payload);
                    }
                }
                changes.extend(c);
                updated.push((cid, p));
            }
        }
        if !buf.is_empty() {
            let position = self.seg.append_durable(&buf).inspect_err(|e| {
                self.failed = Some(format!("writing the event log failed ({e})"));
            })?;
            let mut s = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.position = position;
            s.audience_changes += changes.len() as u64;
            s.bytes_written += buf.len() as u64;
        }
        for (cid, p) in updated {
            self.shared.profiles.put(&cid, Arc::new(p));
        }
        let n = changes.len();
        for c in changes {
            let _ = self.shared.changes.send(c);
        }
        Ok(n)
    }

    fn snapshot(&self) -> Snapshot {
        let mut dedupe: Vec<_> = self.dedupe.sealed.iter().cloned().collect();
        dedupe.push(Arc::new(self.dedupe.current.clone()));
        Snapshot {
            position: self.seg.position(),
            profiles: self.shared.profiles.all(),
            dedupe,
        }
    }

    fn checkpoint_now(&mut self) -> Result<Position, EventError> {
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
        let snap = self.snapshot();
        let started = Instant::now();
        let size = checkpoint::write(&self.dir, &snap)?;
        self.since_checkpoint = 0;
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_checkpoint = Some(snap.position);
        tracing::debug!(
            bytes = size,
            millis = started.elapsed().as_millis() as u64,
            "event log checkpoint"
        );
        Ok(snap.position)
    }

    fn purge(&mut self, filter: &PurgeFilter) -> Result<PurgeOutcome, EventError> {
        if let Some(f) = &self.failed {
            return Err(EventError::Failed(f.clone()));
        }
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
        let log_dir = self.dir.join("log");
        let ck = self.dir.join(checkpoint::FILE);
        if ck.exists() {
            std::fs::remove_file(&ck).map_err(|e| EventError::io(&ck, e))?;
            log::sync_dir(&self.dir)?;
        }
        let mut out = PurgeOutcome::default();
        let current = self.seg.position().segment;
        for n in log::list_segments(&log_dir)? {
            let mut kept = Vec::new();
            let mut dropped = 0u64;
            log::scan_segment(&log_dir, n, 0, |payload, _| {
                let drop = serde_json::from_slice::<Record>(payload)
                    .map(|r| filter.matches(&r))
                    .unwrap_or(false);
                if drop {
                    dropped += 1;
                } else {
                    log::encode_frame(&mut kept, payload);
                }
                Ok(())
            })?;
            if dropped > 0 {
                log::rewrite_segment(&log_dir, n, &kept)?;
                out.records_removed += dropped;
                out.segments_rewritten += 1;
            }
        }
        let path = log::segment_path(&log_dir, current);
        let len = std::fs::metadata(&path)
            .map_err(|e| EventError::io(&path, e))?
            .len();
        self.seg = SegmentWriter::open(&log_dir, current, len, self.config.segment_bytes)?;
        if let PurgeFilter::Customer(id) = filter
            && self.shared.profiles.remove(id)
        {
            out.profiles_dropped = 1;
        }
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .position = self.seg.position();
        self.checkpoint_now()?;
        Ok(out)
    }

    /// Checkpoints on another thread so appends keep flowing; skipped if one is running.
    fn checkpoint_background(&mut self) {
        if self.checkpointing.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(h) = self.background.take() {
            let _ = h.join();
        }
        let snap = self.snapshot();
        self.since_checkpoint = 0;
        let dir = self.dir.clone();
        let flag = self.checkpointing.clone();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("zhiying-event-checkpoint".into())
            .spawn(move || {
                match checkpoint::write(&dir, &snap) {
                    Ok(size) => {
                        shared
                            .stats
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .last_checkpoint = Some(snap.position);
                        tracing::debug!(bytes = size, "event log checkpoint written");
                    }
                    Err(e) => tracing::warn!("event log checkpoint failed (will retry later): {e}"),
                }
                flag.store(false, Ordering::SeqCst);
            });
        match spawned {
            Ok(h) => self.background = Some(h),
            Err(e) => {
                tracing::warn!("cannot start the checkpoint thread: {e}");
                self.checkpointing.store(false, Ordering::SeqCst);
            }
        }
    }
}
