//! Checkpoints: the derived state (profiles, memberships, remembered ids) at a log position,
//! so a restart replays only the log written after it.
//!
//! ```text
//! DIR/checkpoint.bin
//!   b"ZYEVCKP2" | segment u64 | offset u64 | profiles u64 | profile* | generations u32 | (count u64, key u128*)* | crc32c u32
//! ```
//! (`ZYEVCKP1` files, without the left-audiences list in each profile, are still read.)
//! Written to `checkpoint.bin.tmp`, synced, renamed, directory synced: a crash leaves the old
//! checkpoint or the new one. A checkpoint that fails its CRC is ignored (with a warning) and
//! the whole log is replayed instead, so it can never make state wrong, only recovery slower.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use crate::EventError;
use crate::dedupe::KeySet;
use crate::log::{Position, sync_dir};
use crate::profile::{DayBucket, Profile};

const MAGIC: &[u8; 8] = b"ZYEVCKP2";
/// Version 1: profiles had no `left_audiences`.
const MAGIC_V1: &[u8; 8] = b"ZYEVCKP1";
pub const FILE: &str = "checkpoint.bin";

/// What a checkpoint holds; built by the writer thread between group commits.
pub struct Snapshot {
    pub position: Position,
    pub profiles: Vec<(Box<str>, Arc<Profile>)>,
    /// Oldest first.
    pub dedupe: Vec<Arc<KeySet>>,
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u16).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn put_profile(w: &mut impl Write, key: &str, p: &Profile) -> std::io::Result<()> {
    put_str(w, key)?;
    w.write_all(&p.last_event_us.to_le_bytes())?;
    w.write_all(&p.last_txn_us.to_le_bytes())?;
    w.write_all(&p.lifetime_events.to_le_bytes())?;
    w.write_all(&p.lifetime_txns.to_le_bytes())?;
    w.write_all(&(p.recency.len() as u16).to_le_bytes())?;
    for (k, ts) in &p.recency {
        w.write_all(&k.to_le_bytes())?;
        w.write_all(&ts.to_le_bytes())?;
    }
    w.write_all(&(p.days.len() as u16).to_le_bytes())?;
    for b in &p.days {
        w.write_all(&b.day.to_le_bytes())?;
        for v in [b.events, b.txns, b.credit_count, b.debit_count] {
            w.write_all(&v.to_le_bytes())?;
        }
        w.write_all(&b.credit_fen.to_le_bytes())?;
        w.write_all(&b.debit_fen.to_le_bytes())?;
        w.write_all(&b.event_types.to_le_bytes())?;
        w.write_all(&b.txn_types.to_le_bytes())?;
        w.write_all(&[b.salary_credit as u8])?;
    }
    w.write_all(&(p.audiences.len() as u16).to_le_bytes())?;
    for a in &p.audiences {
        put_str(w, a)?;
    }
    w.write_all(&(p.left_audiences.len() as u16).to_le_bytes())?;
    for a in &p.left_audiences {
        put_str(w, a)?;
    }
    Ok(())
}

/// Writes `snap` atomically as `dir/checkpoint.bin`. Returns the file size.
pub fn write(dir: &Path, snap: &Snapshot) -> Result<u64, EventError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let io = |e| EventError::io(&tmp, e);
    let file = File::create(&tmp).map_err(io)?;
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: 0,
    };
    w.write_all(MAGIC).map_err(io)?;
    w.write_all(&snap.position.segment.to_le_bytes())
        .map_err(io)?;
    w.write_all(&snap.position.offset.to_le_bytes())
        .map_err(io)?;
    w.write_all(&(snap.profiles.len() as u64).to_le_bytes())
        .map_err(io)?;
    for (k, p) in &snap.profiles {
        put_profile(&mut w, k, p).map_err(io)?;
    }
    w.write_all(&(snap.dedupe.len() as u32).to_le_bytes())
        .map_err(io)?;
    for g in &snap.dedupe {
        w.write_all(&(g.len() as u64).to_le_bytes()).map_err(io)?;
        for k in g.iter() {
            w.write_all(&k.to_le_bytes()).map_err(io)?;
        }
    }
    let crc = w.crc;
    let mut inner = w.inner;
    inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| EventError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(size)
}

/// A checkpoint read back.
pub struct Loaded {
    pub position: Position,
    pub profiles: Vec<(String, Profile)>,
    pub dedupe: Vec<KeySet>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    /// The file has `left_audiences` (version 2).
    has_left: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn profile(&mut self) -> Option<(String, Profile)> {
        let key = self.string()?;
        let mut p = Profile {
            last_event_us: self.i64()?,
            last_txn_us: self.i64()?,
            lifetime_events: self.u64()?,
            lifetime_txns: self.u64()?,
            ..Profile::default()
        };
        for _ in 0..self.u16()? {
            p.recency.push((self.u16()?, self.i64()?));
        }
        for _ in 0..self.u16()? {
            p.days.push(DayBucket {
                day: self.i32()?,
                events: self.u32()?,
                txns: self.u32()?,
                credit_count: self.u32()?,
                debit_count: self.u32()?,
                credit_fen: self.i64()?,
                debit_fen: self.i64()?,
                event_types: self.u16()?,
                txn_types: self.u16()?,
                salary_credit: self.u8()? != 0,
            });
        }
        for _ in 0..self.u16()? {
            p.audiences.push(self.string()?);
        }
        if self.has_left {
            for _ in 0..self.u16()? {
                p.left_audiences.push(self.string()?);
            }
        }
        Some((key, p))
    }
}

/// Reads `dir/checkpoint.bin`. `Ok(None)` when there is none; `Err` when it is damaged.
pub fn read(dir: &Path) -> Result<Option<Loaded>, EventError> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EventError::io(&path, e)),
    };
    let bad = |reason: &str| EventError::Corrupt {
        path: path.clone(),
        offset: 0,
        reason: reason.to_string(),
    };
    if bytes.len() < MAGIC.len() + 4 || (&bytes[..8] != MAGIC && &bytes[..8] != MAGIC_V1) {
        return Err(bad("not a checkpoint file (wrong header)"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| bad("short file"))?);
    if crc32c::crc32c(body) != crc {
        return Err(bad("checksum mismatch"));
    }
    let mut r = Reader {
        b: body,
        at: 8,
        has_left: &body[..8] == MAGIC,
    };
    let mut parse = || -> Option<Loaded> {
        let position = Position {
            segment: r.u64()?,
            offset: r.u64()?,
        };
        let n = r.u64()? as usize;
        let mut profiles = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            profiles.push(r.profile()?);
        }
        let gens = r.u32()?;
        let mut dedupe = Vec::new();
        for _ in 0..gens {
            let n = r.u64()? as usize;
            let mut g = KeySet::with_capacity_and_hasher(n.min(1 << 24), Default::default());
            for _ in 0..n {
                g.insert(r.u128()?);
            }
            dedupe.push(g);
        }
        (r.at == body.len()).then_some(Loaded {
            position,
            profiles,
            dedupe,
        })
    };
    parse()
        .map(Some)
        .ok_or_else(|| bad("truncated or malformed contents"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = Profile {
            last_event_us: 5,
            last_txn_us: 7,
            recency: vec![(3, 9), (258, 11)],
            days: vec![DayBucket {
                day: 19_000,
                events: 2,
                txns: 1,
                credit_count: 1,
                debit_count: 0,
                credit_fen: 500,
                debit_fen: 0,
                event_types: 0b101,
                txn_types: 1,
                salary_credit: true,
            }],
            lifetime_events: 2,
            lifetime_txns: 1,
            audiences: vec!["vip".into()],
            left_audiences: vec!["dormant".into()],
        };
        let mut g = KeySet::default();
        g.insert(42);
        let snap = Snapshot {
            position: Position {
                segment: 3,
                offset: 99,
            },
            profiles: vec![("C1".into(), Arc::new(p.clone()))],
            dedupe: vec![Arc::new(g)],
        };
        write(dir.path(), &snap).unwrap();
        let l = read(dir.path()).unwrap().unwrap();
        assert_eq!(l.position, snap.position);
        assert_eq!(l.profiles, vec![("C1".to_string(), p)]);
        assert!(l.dedupe[0].contains(&42));
        let path = dir.path().join(FILE);
        let mut b = std::fs::read(&path).unwrap();
        b[20] ^= 1;
        std::fs::write(&path, b).unwrap();
        assert!(read(dir.path()).is_err());
    }
}
