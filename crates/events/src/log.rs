//! The segmented, append-only log on disk.
//!
//! ```text
//! DIR/log/segment-0000000001.log
//!   header  16 bytes: b"ZYEVLOG\x01" + segment number (u64 LE)
//!   frame   len: u32 LE | crc: u32 LE | payload (len bytes, JSON of a Record)
//!   frame   ...
//! ```
//! `crc` is CRC32C over the 4 length bytes and the payload, so a torn length is caught
//! too. A crash can only tear the tail of the newest segment (a segment is synced before
//! the next is created), so recovery truncates that segment at the first frame that does
//! not check out; a bad frame anywhere else is corruption and opening fails.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EventError;

pub const MAGIC: &[u8; 8] = b"ZYEVLOG\x01";
pub const HEADER_LEN: u64 = 16;
pub const FRAME_OVERHEAD: usize = 8;
/// Larger frames are treated as garbage (a record is a few hundred bytes).
pub const MAX_FRAME: u32 = 1 << 20;

/// A place in the log: the byte offset just after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("segment-{n:010}.log"))
}

/// Segment numbers present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, EventError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| EventError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| EventError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix("segment-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Appends a frame for `payload` to `buf`.
pub fn encode_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tear {
    /// Fewer bytes than a frame header or than the frame's length.
    ShortFrame,
    /// Length zero or larger than [`MAX_FRAME`].
    BadLength(u32),
    /// CRC mismatch.
    BadChecksum,
}

impl std::fmt::Display for Tear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tear::ShortFrame => write!(f, "an incomplete frame"),
            Tear::BadLength(n) => write!(f, "an impossible frame length {n}"),
            Tear::BadChecksum => write!(f, "a checksum mismatch"),
        }
    }
}

/// Result of reading a segment from an offset.
#[derive(Debug)]
pub struct Scan {
    /// Offset just after the last good frame.
    pub valid_end: u64,
    /// File length.
    pub file_len: u64,
    /// Set when bytes after `valid_end` did not form a good frame.
    pub tear: Option<Tear>,
    pub frames: u64,
}

/// Reads frames of segment `n` from `from` (0 = start, after the header), calling `f` with
/// each payload and the position just after it.
pub fn scan_segment(
    dir: &Path,
    n: u64,
    from: u64,
    mut f: impl FnMut(&[u8], Position) -> Result<(), EventError>,
) -> Result<Scan, EventError> {
    let path = segment_path(dir, n);
    let mut file = File::open(&path).map_err(|e| EventError::io(&path, e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| EventError::io(&path, e))?;
    let file_len = data.len() as u64;
    if data.len() < HEADER_LEN as usize || &data[..8] != MAGIC {
        // A header is written and synced before the segment is renamed into place, so this
        // is not a torn write.
        return Err(EventError::Corrupt {
            path,
            offset: 0,
            reason: "missing or wrong segment header".into(),
        });
    }
    if from > file_len {
        return Err(EventError::Corrupt {
            path,
            offset: from,
            reason: format!(
                "the checkpoint points past the end of the segment ({file_len} bytes); the segment was cut after the checkpoint was written. Delete checkpoint.bin to rebuild from the log"
            ),
        });
    }
    let mut off = from.max(HEADER_LEN) as usize;
    let mut frames = 0;
    let tear = loop {
        if off == data.len() {
            break None;
        }
        if data.len() - off < FRAME_OVERHEAD {
            break Some(Tear::ShortFrame);
        }
        let len_bytes: [u8; 4] = data[off..off + 4].try_into().unwrap_or_default();
        let len = u32::from_le_bytes(len_bytes);
        if len == 0 || len > MAX_FRAME {
            break Some(Tear::BadLength(len));
        }
        let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap_or_default());
        let end = off + FRAME_OVERHEAD + len as usize;
        if end > data.len() {
            break Some(Tear::ShortFrame);
        }
        let payload = &data[off + FRAME_OVERHEAD..end];
        if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload) != crc {
            break Some(Tear::BadChecksum);
        }
        f(
            payload,
            Position {
                segment: n,
                offset: end as u64,
            },
        )?;
        frames += 1;
        off = end;
    };
    Ok(Scan {
        valid_end: off as u64,
        file_len,
        tear,
        frames,
    })
}

/// Syncs a directory so a create or rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), EventError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EventError::io(dir, e))
}

/// The open, newest segment.
pub struct SegmentWriter {
    dir: PathBuf,
    n: u64,
    file: File,
    len: u64,
    max_bytes: u64,
}

impl SegmentWriter {
    /// Opens segment `n` for appending at `len` (recovery has already truncated any torn tail).
    pub fn open(dir: &Path, n: u64, len: u64, max_bytes: u64) -> Result<Self, EventError> {
        let path = segment_path(dir, n);
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| EventError::io(&path, e))?;
        file.seek(SeekFrom::Start(len))
            .map_err(|e| EventError::io(&path, e))?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            n,
            file,
            len,
            max_bytes,
        })
    }

    /// Creates segment `n` atomically: header written and synced under a temporary name,
    /// then renamed, then the directory synced.
    pub fn create(dir: &Path, n: u64, max_bytes: u64) -> Result<Self, EventError> {
        let path = segment_path(dir, n);
        let tmp = dir.join(format!("segment-{n:010}.log.tmp"));
        let mut f = File::create(&tmp).map_err(|e| EventError::io(&tmp, e))?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&n.to_le_bytes());
        f.write_all(&header)
            .and_then(|_| f.sync_all())
            .map_err(|e| EventError::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| EventError::io(&path, e))?;
        sync_dir(dir)?;
        Self::open(dir, n, HEADER_LEN, max_bytes)
    }

    pub fn position(&self) -> Position {
        Position {
            segment: self.n,
            offset: self.len,
        }
    }

    /// Writes `buf` (whole frames) and makes it durable before returning. Rotates first
    /// when the segment would grow past its size limit (a frame never spans segments).
    pub fn append_durable(&mut self, buf: &[u8]) -> Result<Position, EventError> {
        if self.len > HEADER_LEN && self.len + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let path = segment_path(&self.dir, self.n);
        self.file
            .write_all(buf)
            .map_err(|e| EventError::io(&path, e))?;
        self.file
            .sync_data()
            .map_err(|e| EventError::io(&path, e))?;
        self.len += buf.len() as u64;
        Ok(self.position())
    }

    fn rotate(&mut self) -> Result<(), EventError> {
        let path = segment_path(&self.dir, self.n);
        self.file.sync_all().map_err(|e| EventError::io(&path, e))?;
        let next = SegmentWriter::create(&self.dir, self.n + 1, self.max_bytes)?;
        tracing::debug!(segment = next.n, "event log rotated");
        *self = next;
        Ok(())
    }
}

/// Replaces segment `n` with a header and `frames` (whole frames), crash-safely: written
/// and synced under a temporary name, renamed over the old file, directory synced. Used by
/// erasure and retention, which drop records from closed and open segments alike.
pub fn rewrite_segment(dir: &Path, n: u64, frames: &[u8]) -> Result<(), EventError> {
    let path = segment_path(dir, n);
    let tmp = dir.join(format!("segment-{n:010}.log.rewrite"));
    let mut f = File::create(&tmp).map_err(|e| EventError::io(&tmp, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&n.to_le_bytes());
    f.write_all(&header)
        .and_then(|_| f.write_all(frames))
        .and_then(|_| f.sync_all())
        .map_err(|e| EventError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| EventError::io(&path, e))?;
    sync_dir(dir)
}

/// Cuts a torn tail off segment `n` at `len` and syncs.
pub fn truncate_segment(dir: &Path, n: u64, len: u64) -> Result<(), EventError> {
    let path = segment_path(dir, n);
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| EventError::io(&path, e))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(|e| EventError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_scan_back_and_a_flipped_bit_stops_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 1, 1 << 20).unwrap();
        let mut buf = Vec::new();
        for p in ["one", "two", "three"] {
            encode_frame(&mut buf, p.as_bytes());
        }
        let end = w.append_durable(&buf).unwrap();
        let mut seen = Vec::new();
        let s = scan_segment(dir.path(), 1, 0, |p, pos| {
            seen.push((String::from_utf8(p.to_vec()).unwrap(), pos.offset));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].1, end.offset);
        assert_eq!(s.tear, None);
        // Flip one payload bit of the second frame: the scan ends after the first.
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let second_payload = HEADER_LEN as usize + FRAME_OVERHEAD + 3 + FRAME_OVERHEAD;
        bytes[second_payload] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let s = scan_segment(dir.path(), 1, 0, |_, _| Ok(())).unwrap();
        assert_eq!(s.frames, 1);
        assert_eq!(s.tear, Some(Tear::BadChecksum));
        assert_eq!(s.valid_end, seen[0].1);
    }

    #[test]
    fn segments_rotate_at_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 1, 100).unwrap();
        for i in 0..10 {
            let mut buf = Vec::new();
            encode_frame(
                &mut buf,
                format!("record-{i:04}-xxxxxxxxxxxxxxxxxxxx").as_bytes(),
            );
            w.append_durable(&buf).unwrap();
        }
        let segs = list_segments(dir.path()).unwrap();
        assert!(segs.len() >= 4, "{segs:?}");
        let mut total = 0;
        for n in &segs {
            let s = scan_segment(dir.path(), *n, 0, |_, _| Ok(())).unwrap();
            assert!(s.file_len <= 100 || s.frames == 1);
            total += s.frames;
        }
        assert_eq!(total, 10);
    }
}
