//! [`FileAdapter`]: one JSON-lines file per channel, `fsync`ed, never the same key twice.
//!
//! Idempotency survives crashes because the file itself is the index: on first use (and
//! whenever another process has appended since) the adapter reads the lines it has not
//! seen and records their keys. A message written but not acknowledged before a crash is
//! found there on redelivery and reported as a duplicate instead of written again. A line
//! cut short by a crash (no trailing newline) was never acknowledged; it is truncated away
//! and written whole on redelivery. An exclusive OS file lock around each append makes this
//! hold across processes too.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::ChannelAdapter;
use crate::message::{Channel, DeliveryError, Message, Receipt};

/// Appends each message as one JSON line to `DIR/CHANNEL.jsonl`, for channels whose
/// "provider" is a file another system picks up (call lists, branch task lists) and for demos.
#[derive(Clone)]
pub struct FileAdapter {
    dir: PathBuf,
    state: Arc<Mutex<HashMap<Channel, ChannelFile>>>,
}

/// What this process knows about one channel's file.
struct ChannelFile {
    file: File,
    /// Bytes of the file already indexed.
    indexed: u64,
    keys: HashSet<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    idempotency_key: &'a str,
    channel: Channel,
    customer_id: &'a str,
    payload: &'a serde_json::Value,
    not_before: i64,
    written_at: i64,
}

impl FileAdapter {
    /// Files go in `dir` (created on first delivery).
    pub fn new(dir: impl AsRef<Path>) -> FileAdapter {
        FileAdapter {
            dir: dir.as_ref().to_path_buf(),
            state: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The file one channel's messages go to.
    pub fn path(&self, channel: Channel) -> PathBuf {
        self.dir.join(format!("{}.jsonl", channel.as_str()))
    }

    fn write_blocking(&self, msgs: &[Message]) -> Vec<Result<Receipt, DeliveryError>> {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            // A panic mid-write leaves at most a partial line, which the next write repairs.
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut results: Vec<Option<Result<Receipt, DeliveryError>>> = vec![None; msgs.len()];
        let mut channels: Vec<Channel> = msgs.iter().map(|m| m.channel).collect();
        channels.sort();
        channels.dedup();
        for channel in channels {
            let idx: Vec<usize> = (0..msgs.len())
                .filter(|&i| msgs[i].channel == channel)
                .collect();
            let path = self.path(channel);
            let outcome = (|| -> Result<Vec<Receipt>, String> {
                if let std::collections::hash_map::Entry::Vacant(slot) = state.entry(channel) {
                    std::fs::create_dir_all(&self.dir)
                        .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
                    let file = OpenOptions::new()
                        .read(true)
                        .append(true)
                        .create(true)
                        .open(&path)
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                    slot.insert(ChannelFile {
                        file,
                        indexed: 0,
                        keys: HashSet::new(),
                    });
                }
                let cf = state
                    .get_mut(&channel)
                    .ok_or_else(|| "channel file state vanished".to_string())?;
                cf.file
                    .lock()
                    .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
                let r = append_locked(cf, &path, idx.iter().map(|&i| &msgs[i]));
                let _ = cf.file.unlock();
                r
            })();
            match outcome {
                Ok(receipts) => {
                    for (i, r) in idx.into_iter().zip(receipts) {
                        results[i] = Some(Ok(r));
                    }
                }
                Err(e) => {
                    for i in idx {
                        results[i] = Some(Err(DeliveryError::Retryable(e.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(DeliveryError::Retryable("message not written".into())))
            })
            .collect()
    }
}

/// Catches up on lines appended by others, then appends the new messages and syncs.
/// Called with the OS lock held.
fn append_locked<'a>(
    cf: &mut ChannelFile,
    path: &Path,
    msgs: impl Iterator<Item = &'a Message>,
) -> Result<Vec<Receipt>, String> {
    catch_up(cf, path)?;
    let mut buf = Vec::new();
    let mut receipts = Vec::new();
    let mut fresh = Vec::new();
    let now = chrono::Utc::now().timestamp_micros();
    for m in msgs {
        if cf.keys.contains(&m.idempotency_key) || fresh.contains(&m.idempotency_key.as_str()) {
            receipts.push(Receipt {
                reference: format!("{}#{}", path.display(), m.idempotency_key),
                duplicate: true,
            });
            continue;
        }
        let line = Line {
            idempotency_key: &m.idempotency_key,
            channel: m.channel,
            customer_id: &m.customer_id,
            payload: &m.payload,
            not_before: m.not_before,
            written_at: now,
        };
        let offset = cf.indexed + buf.len() as u64;
        serde_json::to_writer(&mut buf, &line)
            .map_err(|e| format!("cannot serialise message: {e}"))?;
        buf.push(b'\n');
        fresh.push(m.idempotency_key.as_str());
        receipts.push(Receipt {
            reference: format!("{}@{offset}", path.display()),
            duplicate: false,
        });
    }
    if !buf.is_empty() {
        cf.file
            .write_all(&buf)
            .and_then(|()| cf.file.sync_data())
            .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
        cf.indexed += buf.len() as u64;
        cf.keys.extend(fresh.into_iter().map(str::to_string));
    }
    Ok(receipts)
}

/// Indexes bytes past `cf.indexed`; truncates a trailing partial line left by a crash.
fn catch_up(cf: &mut ChannelFile, path: &Path) -> Result<(), String> {
    let len = cf
        .file
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    if len < cf.indexed {
        // Only a partial tail is ever cut, and we never index partial lines; rescan anyway.
        cf.indexed = 0;
        cf.keys.clear();
    }
    if len == cf.indexed {
        return Ok(());
    }
    let mut tail = Vec::with_capacity((len - cf.indexed) as usize);
    cf.file
        .seek(SeekFrom::Start(cf.indexed))
        .and_then(|_| (&cf.file).take(len - cf.indexed).read_to_end(&mut tail))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    for (n, line) in tail[..complete].split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
            format!(
                "{} has an unreadable line ({} lines after byte {}): {e}; fix or move the file",
                path.display(),
                n,
                cf.indexed
            )
        })?;
        let key = v
            .get("idempotency_key")
            .and_then(|k| k.as_str())
            .ok_or_else(|| {
                format!(
                    "{} has a line without idempotency_key after byte {}; fix or move the file",
                    path.display(),
                    cf.indexed
                )
            })?;
        cf.keys.insert(key.to_string());
    }
    if complete < tail.len() {
        let keep = cf.indexed + complete as u64;
        cf.file
            .set_len(keep)
            .and_then(|()| cf.file.sync_data())
            .map_err(|e| format!("cannot trim a partial line from {}: {e}", path.display()))?;
        tracing::warn!(
            file = %path.display(),
            bytes = tail.len() - complete,
            "removed a partial line left by an interrupted write"
        );
    }
    cf.indexed += complete as u64;
    Ok(())
}

#[async_trait::async_trait]
impl ChannelAdapter for FileAdapter {
    async fn deliver(&self, msg: &Message) -> Result<Receipt, DeliveryError> {
        self.deliver_batch(std::slice::from_ref(msg))
            .await
            .pop()
            .unwrap_or_else(|| Err(DeliveryError::Retryable("message not written".into())))
    }

    async fn deliver_batch(&self, msgs: &[Message]) -> Vec<Result<Receipt, DeliveryError>> {
        let this = self.clone();
        let owned = msgs.to_vec();
        let n = msgs.len();
        match tokio::task::spawn_blocking(move || this.write_blocking(&owned)).await {
            Ok(r) => r,
            Err(e) => (0..n)
                .map(|_| Err(DeliveryError::Retryable(format!("file writer failed: {e}"))))
                .collect(),
        }
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(key: &str) -> Message {
        Message::new(key, Channel::Sms, "c1", json!({"text": "您好"}))
    }

    fn keys_in(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["idempotency_key"].as_str().map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn same_key_is_written_once_even_by_a_fresh_adapter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = FileAdapter::new(dir.path());
        let r = a.deliver(&msg("k1")).await.expect("first");
        assert!(!r.duplicate);
        assert!(a.deliver(&msg("k1")).await.expect("again").duplicate);
        // A new adapter (a restarted process) learns the key from the file.
        let b = FileAdapter::new(dir.path());
        let rs = b.deliver_batch(&[msg("k1"), msg("k2"), msg("k2")]).await;
        let dups: Vec<bool> = rs.into_iter().map(|r| r.expect("ok").duplicate).collect();
        assert_eq!(dups, vec![true, false, true]);
        // The first adapter sees what the second appended.
        assert!(a.deliver(&msg("k2")).await.expect("k2").duplicate);
        assert_eq!(keys_in(&a.path(Channel::Sms)), vec!["k1", "k2"]);
    }

    #[tokio::test]
    async fn a_partial_line_from_a_crash_is_repaired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = FileAdapter::new(dir.path());
        a.deliver(&msg("k1")).await.expect("k1");
        let path = a.path(Channel::Sms);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(br#"{"idempotency_key":"k2","chan"#)
            .expect("partial");
        drop(f);
        let b = FileAdapter::new(dir.path());
        assert!(!b.deliver(&msg("k2")).await.expect("k2").duplicate);
        assert_eq!(keys_in(&path), vec!["k1", "k2"]);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[tokio::test]
    async fn a_corrupt_line_is_a_retryable_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sms.jsonl"), "not json\n").expect("write");
        let a = FileAdapter::new(dir.path());
        match a.deliver(&msg("k1")).await {
            Err(DeliveryError::Retryable(e)) => assert!(e.contains("sms.jsonl"), "{e}"),
            other => panic!("expected a retryable error, got {other:?}"),
        }
    }
}
