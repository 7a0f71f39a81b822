//! The on-disk queue of messages a NATS server has not acknowledged yet.
//!
//! One file, a stream of varint length-delimited records (the framing of
//! the `.pb` files), each `subject`, `message id` and payload. Appends are
//! fsynced before the batch counts as written; a record torn by a crash is
//! cut off when the file is opened again, so it cannot swallow the records
//! after it. Acknowledged records are forgotten from the front; the file
//! is truncated when none is left and compacted when its dead front grows
//! large. When a new record would make the live records exceed `max`
//! bytes, the oldest are dropped and counted.
//!
//! The file is locked (`flock`) while open: two sinks never share a spool,
//! and a reloaded output waits for the one it replaces to let go.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use prost::encoding::{decode_varint, encode_varint};

use crate::output::OutputError;
use crate::output::sink::safe_open::open_regular;

/// Largest record the spool reads back; anything longer is damage.
const MAX_RECORD: u64 = 256 << 20;
/// Bytes read first from a record to find its subject and id: more than
/// any header (a subject is at most 128 bytes, an id a host name and three
/// numbers).
const HEAD_PEEK: u64 = 1024;

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("spool {} is held by another sink or agent", path.display())]
    Locked { path: PathBuf },
    #[error("spool {}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },
    #[error("spool {} holds a damaged record at byte {offset}", path.display())]
    Damaged { path: PathBuf, offset: u64 },
}

/// One spooled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Position in the spool's order, increasing; acknowledge by it.
    pub index: u64,
    pub subject: String,
    pub id: String,
    pub payload: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    index: u64,
    offset: u64,
    len: u64,
}

pub struct Spool {
    file: Flock<File>,
    path: PathBuf,
    /// `<spool>.head`: the offset of the first live record, so records
    /// acknowledged or dropped before a restart are not sent again. Not
    /// fsynced: after a power loss a few may be resent (the server drops
    /// them as duplicates) or a dropped one sent late, never one lost.
    head: File,
    head_written: u64,
    /// Live records, oldest first.
    entries: VecDeque<Entry>,
    /// End of the last whole record.
    end: u64,
    max: u64,
    next_index: u64,
    /// Records dropped because the spool was full, since it was opened.
    dropped: u64,
}

impl Spool {
    /// Open (creating, mode 0600) and lock `path`, cutting a torn tail.
    pub fn open(path: &Path, max: u64) -> Result<Spool, SpoolError> {
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|cause| OutputError::CreateDir {
                    dir: dir.to_path_buf(),
                    cause,
                })?;
        }
        let file = open_regular(
            path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600),
        )?;
        let file =
            Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| SpoolError::Locked {
                path: path.to_path_buf(),
            })?;
        let head = open_regular(
            &head_path(path),
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600),
        )?;
        let mut spool = Spool {
            file,
            path: path.to_path_buf(),
            head,
            head_written: 0,
            entries: VecDeque::new(),
            end: 0,
            max,
            next_index: 0,
            dropped: 0,
        };
        spool.scan()?;
        Ok(spool)
    }

    fn io(&self, cause: io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.path.clone(),
            cause,
        }
    }

    /// Index every whole record at or after the saved head; cut what
    /// follows the last one.
    fn scan(&mut self) -> Result<(), SpoolError> {
        let len = self.file.metadata().map_err(|e| self.io(e))?.len();
        let mut saved = [0u8; 8];
        let head = match self.head.read_exact_at(&mut saved, 0) {
            Ok(()) => u64::from_le_bytes(saved),
            Err(_) => 0,
        };
        self.head_written = head;
        let mut reader = io::BufReader::with_capacity(64 * 1024, &*self.file);
        let mut offset = 0u64;
        let mut body = Vec::new();
        while let Some((prefix, size)) = read_prefix(&mut reader).map_err(|e| self.io(e))? {
            if size > MAX_RECORD || offset + prefix + size > len {
                break;
            }
            body.resize(size as usize, 0);
            reader.read_exact(&mut body).map_err(|e| self.io(e))?;
            if parse(&body).is_none() {
                break;
            }
            if offset >= head {
                self.entries.push_back(Entry {
                    index: self.next_index,
                    offset,
                    len: prefix + size,
                });
                self.next_index += 1;
            }
            offset += prefix + size;
        }
        drop(reader);
        if offset < len {
            self.file.set_len(offset).map_err(|e| self.io(e))?;
            self.file.sync_all().map_err(|e| self.io(e))?;
        }
        self.end = offset;
        if self.entries.is_empty() {
            self.reclaim()?;
        }
        Ok(())
    }

    /// Remember where the live records start (see `head`).
    fn save_head(&mut self) -> Result<(), SpoolError> {
        let head = self.entries.front().map_or(self.end, |e| e.offset);
        if head != self.head_written {
            self.head
                .write_all_at(&head.to_le_bytes(), 0)
                .map_err(|e| self.io(e))?;
            self.head_written = head;
        }
        Ok(())
    }

    /// Records waiting for an acknowledgement.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records dropped since open because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes the live records take.
    pub fn live_bytes(&self) -> u64 {
        self.entries.front().map_or(0, |e| self.end - e.offset)
    }

    /// Append one message, fsynced. Makes room first by dropping the
    /// oldest records; a message larger than the whole spool is itself
    /// dropped (counted). Returns how many records were dropped.
    pub fn append(&mut self, subject: &str, id: &str, payload: &[u8]) -> Result<u64, SpoolError> {
        // The payload is written from where it is: a first every-socket
        // batch is megabytes, and a framed copy would double it.
        let header = frame_header(subject, id, payload.len());
        let size = (header.len() + payload.len()) as u64;
        let before = self.dropped;
        if size > self.max {
            self.dropped += 1;
            return Ok(1);
        }
        while !self.entries.is_empty() && self.live_bytes() + size > self.max {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.reclaim()?;
        let written = self.file.write_all_at(&header, self.end).and_then(|()| {
            self.file
                .write_all_at(payload, self.end + header.len() as u64)
        });
        if let Err(e) = written {
            // Leave no partial record behind.
            let _ = self.file.set_len(self.end);
            return Err(self.io(e));
        }
        self.file.sync_data().map_err(|e| self.io(e))?;
        self.entries.push_back(Entry {
            index: self.next_index,
            offset: self.end,
            len: size,
        });
        self.next_index += 1;
        self.end += size;
        Ok(self.dropped - before)
    }

    /// The first record after `after` (the oldest when `None`).
    pub fn read_after(&self, after: Option<u64>) -> Result<Option<Message>, SpoolError> {
        let first = after.map_or(0, |i| self.entries.partition_point(|e| e.index <= i));
        let Some(e) = self.entries.get(first) else {
            return Ok(None);
        };
        let damaged = || SpoolError::Damaged {
            path: self.path.clone(),
            offset: e.offset,
        };
        // The head first, then the payload straight into the buffer that
        // is handed on: one copy of a large batch in memory, not two.
        let mut head = vec![0u8; e.len.min(HEAD_PEEK) as usize];
        self.file
            .read_exact_at(&mut head, e.offset)
            .map_err(|c| self.io(c))?;
        let (subject, id, payload_at) = parse_header(&head).ok_or_else(damaged)?;
        let mut payload = vec![0u8; (e.len - payload_at) as usize];
        let copied = head.len() as u64 - payload_at;
        payload[..copied as usize].copy_from_slice(&head[payload_at as usize..]);
        self.file
            .read_exact_at(
                &mut payload[copied as usize..],
                e.offset + head.len() as u64,
            )
            .map_err(|c| self.io(c))?;
        Ok(Some(Message {
            index: e.index,
            subject,
            id,
            payload,
        }))
    }

    /// Forget every record up to and including `index`.
    pub fn ack(&mut self, index: u64) -> Result<(), SpoolError> {
        while self.entries.front().is_some_and(|e| e.index <= index) {
            self.entries.pop_front();
        }
        self.reclaim()
    }

    /// Forget the one record `index` (one that can never be sent), wherever
    /// it is; the records before it stay.
    pub fn forget(&mut self, index: u64) -> Result<(), SpoolError> {
        if self.entries.front().is_some_and(|e| e.index == index) {
            return self.ack(index);
        }
        if let Some(i) = self.entries.iter().position(|e| e.index == index) {
            // Not at the front: it stays in the file, skipped from now on;
            // after a restart it is met again and dropped again.
            self.entries.remove(i);
        }
        Ok(())
    }

    /// Give back the space of forgotten records: truncate when none is
    /// live, compact when the dead front is over half the limit.
    fn reclaim(&mut self) -> Result<(), SpoolError> {
        let Some(front) = self.entries.front().copied() else {
            if self.end > 0 {
                self.file.set_len(0).map_err(|e| self.io(e))?;
                self.end = 0;
            }
            return self.save_head();
        };
        if front.offset > self.max / 2 {
            self.compact(front.offset)?;
        }
        self.save_head()
    }

    /// Move the live records to the start of a fresh file that replaces
    /// this one (written aside, fsynced, renamed over).
    fn compact(&mut self, dead: u64) -> Result<(), SpoolError> {
        let aside = self.path.with_extension("spool.compact");
        let _ = std::fs::remove_file(&aside);
        let fresh = open_regular(
            &aside,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600),
        )?;
        let fresh = Flock::lock(fresh, FlockArg::LockExclusiveNonblock).map_err(|_| {
            SpoolError::Locked {
                path: aside.clone(),
            }
        })?;
        let mut buf = vec![0u8; 1 << 20];
        let mut from = dead;
        while from < self.end {
            let n = (self.end - from).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..n], from)
                .map_err(|e| self.io(e))?;
            fresh
                .write_all_at(&buf[..n], from - dead)
                .map_err(|e| self.io(e))?;
            from += n as u64;
        }
        fresh.sync_all().map_err(|e| self.io(e))?;
        // Head first: a crash between the two resends, never skips.
        self.head
            .write_all_at(&0u64.to_le_bytes(), 0)
            .map_err(|e| self.io(e))?;
        self.head_written = 0;
        std::fs::rename(&aside, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = fresh;
        for e in &mut self.entries {
            e.offset -= dead;
        }
        self.end -= dead;
        Ok(())
    }
}

fn head_path(spool: &Path) -> PathBuf {
    let mut name = spool.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The front of one record, everything before its payload: varint length
/// of the rest, then varint-prefixed subject and id.
fn frame_header(subject: &str, id: &str, payload_len: usize) -> Vec<u8> {
    let mut names = Vec::with_capacity(subject.len() + id.len() + 4);
    encode_varint(subject.len() as u64, &mut names);
    names.extend_from_slice(subject.as_bytes());
    encode_varint(id.len() as u64, &mut names);
    names.extend_from_slice(id.as_bytes());
    let mut out = Vec::with_capacity(names.len() + 10);
    encode_varint((names.len() + payload_len) as u64, &mut out);
    out.extend_from_slice(&names);
    out
}

/// Subject, id and where the payload starts, from the first bytes of a
/// record (its length prefix included); `None` when they do not hold a
/// whole header.
fn parse_header(record: &[u8]) -> Option<(String, String, u64)> {
    let mut rest = record;
    decode_varint(&mut rest).ok()?;
    let prefix = record.len() - rest.len();
    let (subject, id, payload) = parse(rest)?;
    Some((subject, id, (prefix + rest.len() - payload.len()) as u64))
}

/// A record body's parts, or `None` when it is not one.
fn parse(body: &[u8]) -> Option<(String, String, &[u8])> {
    let mut rest = body;
    let n = decode_varint(&mut rest).ok()? as usize;
    let subject = std::str::from_utf8(rest.get(..n)?).ok()?.to_string();
    rest = &rest[n..];
    let n = decode_varint(&mut rest).ok()? as usize;
    let id = std::str::from_utf8(rest.get(..n)?).ok()?.to_string();
    Some((subject, id, &rest[n..]))
}

/// A varint length prefix: its own size and its value; `None` at a clean
/// end of file or a cut-off prefix.
fn read_prefix(r: &mut impl Read) -> io::Result<Option<(u64, u64)>> {
    let mut value = 0u64;
    for i in 0..10u64 {
        let mut b = [0u8; 1];
        if r.read(&mut b)? == 0 {
            return Ok(None);
        }
        value |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(Some((i + 1, value)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole record as `append` writes it.
    fn frame(subject: &str, id: &str, payload: &[u8]) -> Vec<u8> {
        let mut record = frame_header(subject, id, payload.len());
        record.extend_from_slice(payload);
        record
    }

    fn all(s: &Spool) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut after = None;
        while let Some(m) = s.read_after(after).unwrap() {
            after = Some(m.index);
            out.push((m.id, m.payload));
        }
        out
    }

    #[test]
    fn appended_messages_come_back_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        {
            let mut s = Spool::open(&path, 1 << 20).unwrap();
            for i in 0..5 {
                s.append("a.b", &format!("id{i}"), format!("p{i}").as_bytes())
                    .unwrap();
            }
            let first = s.read_after(None).unwrap().unwrap();
            assert_eq!(first.subject, "a.b");
            s.ack(first.index).unwrap();
        }
        let s = Spool::open(&path, 1 << 20).unwrap();
        let got = all(&s);
        let ids: Vec<_> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["id1", "id2", "id3", "id4"]);
        assert_eq!(got.last().unwrap().1, b"p4");
    }

    /// Payloads around the size read first to find the header come back
    /// whole, the large ones read straight into their own buffer.
    #[test]
    fn payloads_of_every_size_come_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        let mut s = Spool::open(&path, 64 << 20).unwrap();
        let peek = HEAD_PEEK as usize;
        let sizes = [
            0,
            1,
            peek - 40,
            peek - 20,
            peek,
            peek + 1,
            3 * peek,
            5 << 20,
        ];
        let payloads: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let subject = format!("netpulse.{}.fast", "h".repeat(64));
        for (i, p) in payloads.iter().enumerate() {
            s.append(&subject, &format!("id{i}"), p).unwrap();
        }
        let got = all(&s);
        assert_eq!(got.len(), payloads.len());
        for (i, ((id, payload), want)) in got.iter().zip(&payloads).enumerate() {
            assert_eq!(id, &format!("id{i}"));
            assert!(
                payload == want,
                "payload {i} ({} bytes) differs",
                want.len()
            );
        }
        assert_eq!(s.read_after(None).unwrap().unwrap().subject, subject);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_whole_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        {
            let mut s = Spool::open(&path, 1 << 20).unwrap();
            s.append("x", "one", b"first").unwrap();
            s.append("x", "two", b"second").unwrap();
        }
        let whole = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of a third record.
        let mut third = frame("x", "three", b"third record");
        third.truncate(third.len() - 4);
        let f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all_at(&third, whole).unwrap();
        drop(f);
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        s.append("x", "four", b"fourth").unwrap();
        let ids: Vec<_> = all(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["one", "two", "four"]);
    }

    #[test]
    fn full_spool_drops_the_oldest_and_counts_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        let record = frame("s", "id00", &[7u8; 100]).len() as u64;
        let mut s = Spool::open(&path, record * 3).unwrap();
        for i in 0..10 {
            s.append("s", &format!("id{i:02}"), &[7u8; 100]).unwrap();
        }
        assert_eq!(s.dropped(), 7);
        assert_eq!(s.len(), 3);
        let ids: Vec<_> = all(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["id07", "id08", "id09"]);
        // The file was compacted rather than growing without bound.
        assert!(std::fs::metadata(&path).unwrap().len() <= record * 5);
        // Still valid after compaction and reopen.
        drop(s);
        let s = Spool::open(&path, record * 3).unwrap();
        let ids: Vec<_> = all(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["id07", "id08", "id09"]);
    }

    #[test]
    fn a_forgotten_record_is_skipped_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&dir.path().join("s.spool"), 1 << 20).unwrap();
        for id in ["a", "b", "c"] {
            s.append("s", id, b"x").unwrap();
        }
        let b = s.read_after(None).unwrap().unwrap().index + 1;
        s.forget(b).unwrap();
        let ids: Vec<_> = all(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "c"]);
        let a = s.read_after(None).unwrap().unwrap().index;
        s.forget(a).unwrap();
        let ids: Vec<_> = all(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["c"]);
    }

    #[test]
    fn acknowledging_everything_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        s.append("s", "a", b"1").unwrap();
        let last = s.read_after(None).unwrap().unwrap().index;
        s.append("s", "b", b"2").unwrap();
        s.ack(last).unwrap();
        assert_eq!(s.len(), 1);
        let m = s.read_after(None).unwrap().unwrap();
        assert_eq!(m.id, "b");
        s.ack(m.index).unwrap();
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn one_holder_at_a_time_and_no_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.spool");
        let held = Spool::open(&path, 1 << 20).unwrap();
        assert!(matches!(
            Spool::open(&path, 1 << 20),
            Err(SpoolError::Locked { .. })
        ));
        drop(held);
        Spool::open(&path, 1 << 20).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("l.spool");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(Spool::open(&link, 1 << 20).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
