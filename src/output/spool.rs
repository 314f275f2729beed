//! A bounded FIFO of byte frames that waits for a collector to come back: on disk under the
//! state directory (survives restarts) or, without one, in memory.
//!
//! On disk: a directory of append-only segment files `<16 hex digits>.seg`, each a run of
//! records `u32 little-endian length` + bytes, and a file `head` with the segment and offset of
//! the oldest undelivered record. Consumed segments are deleted. On open, a torn record at the
//! end of the newest segment (a crash mid-append) is cut off.
//!
//! Bound: `max_bytes` counts the undelivered records (4 bytes of length each plus the frame);
//! on disk up to one consumed segment more may linger. When a push would pass the bound the
//! oldest records are dropped and counted (`dropped_full`).
//!
//! fsync policy: appends and head updates are plain writes, so a crash of auditwatch loses
//! nothing (the data is in the kernel's page cache). [`Spool::sync`] fdatasyncs the newest
//! segment and the head file; the syslog sender calls it at most once a second while the spool
//! changes and when it stops, so a power loss can lose or redeliver about the last second.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Records longer than this are taken for corruption on read.
const MAX_RECORD: u32 = 64 << 20;

pub struct Spool {
    store: Store,
    max_bytes: u64,
    bytes: u64,
    len: usize,
    dropped_full: u64,
}

enum Store {
    Memory(VecDeque<Vec<u8>>),
    Disk(Disk),
}

struct Segment {
    id: u64,
    /// Bytes of valid records in the file.
    end: u64,
}

struct Disk {
    /// Holds the directory's flock while open.
    _lock: File,
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// Offset of the oldest record in `segments[0]`.
    head_off: u64,
    head_file: File,
    writer: Option<File>,
    reader: Option<(u64, File)>,
    segment_max: u64,
    /// Id of the next segment to create; ids only grow, so the head file never points back.
    next_id: u64,
    dirty: bool,
    /// Length of the record at the head, once read.
    front_len: Option<u32>,
}

fn cost(frame_len: usize) -> u64 {
    frame_len as u64 + 4
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.seg"))
}

fn lock_dir(dir: &Path) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join("lock"))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("spool {} is in use by another process: {e}", dir.display()),
        ));
    }
    Ok(f)
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Spool {
    pub fn memory(max_bytes: u64) -> Spool {
        Spool {
            store: Store::Memory(VecDeque::new()),
            max_bytes,
            bytes: 0,
            len: 0,
            dropped_full: 0,
        }
    }

    /// Opens (or creates, mode 0700) the spool directory and picks up what an earlier run left.
    /// Fails if another process holds it (two writers would corrupt it).
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let lock = lock_dir(dir)?;
        let mut ids: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                u64::from_str_radix(name.strip_suffix(".seg")?, 16).ok()
            })
            .collect();
        ids.sort_unstable();
        let head_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join("head"))?;
        let mut text = String::new();
        let _ = io::Read::read_to_string(&mut &head_file, &mut text);
        let head: Option<(u64, u64)> = text.split_once(' ').and_then(|(a, b)| {
            Some((
                u64::from_str_radix(a.trim(), 16).ok()?,
                u64::from_str_radix(b.trim(), 16).ok()?,
            ))
        });
        // Segments before the head were consumed but not yet deleted.
        let (head_id, mut head_off) = head.unwrap_or((0, 0));
        for &id in ids.iter().filter(|&&id| id < head_id) {
            let _ = fs::remove_file(seg_path(dir, id));
        }
        ids.retain(|&id| id >= head_id);
        if ids.first() != Some(&head_id) {
            head_off = 0;
        }
        let mut segments = VecDeque::new();
        let (mut bytes, mut len) = (0u64, 0usize);
        let last = ids.last().copied();
        for id in ids {
            let path = seg_path(dir, id);
            // Walk the length headers only: a large spool is not read into memory.
            let file = File::open(&path)?;
            let file_len = file.metadata()?.len();
            let mut off = if segments.is_empty() {
                head_off.min(file_len)
            } else {
                0
            };
            let start = off;
            let mut lenb = [0u8; 4];
            while off + 4 <= file_len {
                file.read_exact_at(&mut lenb, off)?;
                let n = u32::from_le_bytes(lenb);
                if n > MAX_RECORD || off + 4 + n as u64 > file_len {
                    break;
                }
                off += 4 + n as u64;
                len += 1;
            }
            if off < file_len {
                tracing::warn!(segment = %path.display(), cut = file_len - off, "syslog spool: torn or corrupt tail cut off");
                if Some(id) == last {
                    OpenOptions::new().write(true).open(&path)?.set_len(off)?;
                }
            }
            bytes += off - start;
            if segments.is_empty() {
                head_off = start;
            }
            segments.push_back(Segment { id, end: off });
        }
        let segment_max = (max_bytes / 8).clamp(64 << 10, 16 << 20);
        let next_id = segments
            .back()
            .map_or(head_id, |s: &Segment| s.id)
            .max(head_id)
            + 1;
        let disk = Disk {
            _lock: lock,
            next_id,
            dir: dir.to_owned(),
            segments,
            head_off,
            head_file,
            writer: None,
            reader: None,
            segment_max,
            dirty: false,
            front_len: None,
        };
        let mut spool = Spool {
            store: Store::Disk(disk),
            max_bytes,
            bytes,
            len,
            dropped_full: 0,
        };
        while spool.bytes > spool.max_bytes && spool.len > 0 {
            spool.pop_front()?;
            spool.dropped_full += 1;
        }
        Ok(spool)
    }

    pub fn is_memory(&self) -> bool {
        matches!(self.store, Store::Memory(_))
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Records dropped (oldest first) to stay within the bound, since this spool was opened.
    pub fn dropped_full(&self) -> u64 {
        self.dropped_full
    }

    /// Appends a frame, dropping the oldest ones first if it would not fit (a frame larger than
    /// the whole bound is itself dropped).
    pub fn push(&mut self, frame: &[u8]) -> io::Result<()> {
        if cost(frame.len()) > self.max_bytes {
            self.dropped_full += 1;
            return Ok(());
        }
        while self.bytes + cost(frame.len()) > self.max_bytes && self.len > 0 {
            self.pop_front()?;
            self.dropped_full += 1;
        }
        match &mut self.store {
            Store::Memory(q) => q.push_back(frame.to_vec()),
            Store::Disk(d) => d.append(frame)?,
        }
        self.bytes += cost(frame.len());
        self.len += 1;
        Ok(())
    }

    /// The oldest frame, without removing it.
    pub fn front(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.len == 0 {
            return Ok(None);
        }
        match &mut self.store {
            Store::Memory(q) => Ok(q.front().cloned()),
            Store::Disk(d) => d.front().map(Some),
        }
    }

    /// Removes the oldest frame.
    pub fn pop_front(&mut self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let n = match &mut self.store {
            Store::Memory(q) => q.pop_front().map_or(0, |f| f.len()),
            Store::Disk(d) => d.pop_front()? as usize,
        };
        self.len -= 1;
        self.bytes = self.bytes.saturating_sub(cost(n));
        Ok(())
    }

    /// Makes the spool durable (fdatasync); cheap when nothing changed.
    pub fn sync(&mut self) -> io::Result<()> {
        match &mut self.store {
            Store::Memory(_) => Ok(()),
            Store::Disk(d) if d.dirty => {
                if let Some(w) = &d.writer {
                    w.sync_data()?;
                }
                d.head_file.sync_data()?;
                d.dirty = false;
                Ok(())
            }
            Store::Disk(_) => Ok(()),
        }
    }
}

impl Disk {
    fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        let need_new = match self.segments.back() {
            None => true,
            Some(s) => self.writer.is_none() || s.end >= self.segment_max,
        };
        if need_new {
            let id = self.next_id;
            self.next_id += 1;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(seg_path(&self.dir, id))?;
            if let Some(old) = self.writer.replace(f) {
                old.sync_data()?;
            }
            if self.segments.is_empty() {
                self.head_off = 0;
                self.write_head(id)?;
            }
            self.segments.push_back(Segment { id, end: 0 });
        }
        let mut rec = Vec::with_capacity(frame.len() + 4);
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(frame);
        let w = self.writer.as_mut().expect("opened above");
        if let Err(e) = w.write_all(&rec) {
            // Cut a partial record so the file stays a clean run of records.
            let seg = self.segments.back().expect("pushed above");
            let _ = w.set_len(seg.end);
            return Err(e);
        }
        self.segments.back_mut().expect("pushed above").end += rec.len() as u64;
        self.dirty = true;
        Ok(())
    }

    fn head_reader(&mut self) -> io::Result<&File> {
        let id = self.segments[0].id;
        if self.reader.as_ref().map(|r| r.0) != Some(id) {
            self.reader = Some((id, File::open(seg_path(&self.dir, id))?));
        }
        Ok(&self.reader.as_ref().expect("set above").1)
    }

    fn front(&mut self) -> io::Result<Vec<u8>> {
        let (off, end) = (self.head_off, self.segments[0].end);
        if off + 4 > end {
            return Err(corrupt(format!(
                "spool segment {} ends inside a record",
                self.segments[0].id
            )));
        }
        let r = self.head_reader()?;
        let mut lenb = [0u8; 4];
        r.read_exact_at(&mut lenb, off)?;
        let n = u32::from_le_bytes(lenb);
        if n > MAX_RECORD || off + 4 + n as u64 > end {
            self.front_len = None;
            return Err(corrupt(format!(
                "spool record of {n} bytes at {off} runs past its segment"
            )));
        }
        let mut buf = vec![0u8; n as usize];
        r.read_exact_at(&mut buf, off + 4)?;
        self.front_len = Some(n);
        Ok(buf)
    }

    /// Returns the length of the removed frame.
    fn pop_front(&mut self) -> io::Result<u32> {
        let n = match self.front_len.take() {
            Some(n) => n,
            None => match self.front() {
                Ok(f) => f.len() as u32,
                // Unreadable: give up on the rest of this segment.
                Err(_) => (self.segments[0].end - self.head_off).saturating_sub(4) as u32,
            },
        };
        self.front_len = None;
        self.head_off = (self.head_off + 4 + n as u64).min(self.segments[0].end);
        if self.head_off >= self.segments[0].end {
            let done = self.segments.pop_front().expect("non-empty");
            if self.segments.is_empty() {
                self.writer = None;
            }
            self.reader = None;
            fs::remove_file(seg_path(&self.dir, done.id))?;
            self.head_off = 0;
            let next = self.segments.front().map_or(done.id + 1, |s| s.id);
            self.write_head(next)?;
        } else {
            let id = self.segments[0].id;
            self.write_head(id)?;
        }
        Ok(n)
    }

    fn write_head(&mut self, id: u64) -> io::Result<()> {
        // Fixed width, so one small pwrite replaces the whole content.
        let line = format!("{id:016x} {:016x}\n", self.head_off);
        self.head_file.write_all_at(line.as_bytes(), 0)?;
        self.dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aw-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn drain(s: &mut Spool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(f) = s.front().unwrap() {
            out.push(String::from_utf8(f).unwrap());
            s.pop_front().unwrap();
        }
        out
    }

    #[test]
    fn memory_fifo_and_bound() {
        let mut s = Spool::memory(3 * cost(2));
        for m in ["m1", "m2", "m3", "m4", "m5"] {
            s.push(m.as_bytes()).unwrap();
        }
        assert_eq!(s.dropped_full(), 2);
        assert_eq!(drain(&mut s), ["m3", "m4", "m5"]);
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn disk_survives_reopen_across_segments() {
        let dir = tmp("reopen");
        let frame = vec![b'x'; 20_000];
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            for i in 0..10u8 {
                let mut f = frame.clone();
                f[0] = i;
                s.push(&f).unwrap();
            }
            // Consume three, across no segment boundary yet (64 KiB segments hold 3 frames).
            for _ in 0..4 {
                s.pop_front().unwrap();
            }
            s.sync().unwrap();
        }
        let segs = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some())
            .count();
        assert!(segs >= 2, "expected several segments, got {segs}");
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.len(), 6);
        let mut firsts = Vec::new();
        while let Some(f) = s.front().unwrap() {
            firsts.push(f[0]);
            s.pop_front().unwrap();
        }
        assert_eq!(firsts, [4, 5, 6, 7, 8, 9]);
        // Everything consumed: no segment is left behind.
        let left = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some())
            .count();
        assert_eq!(left, 0);
        s.push(b"again").unwrap();
        drop(s);
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(drain(&mut s), ["again"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_user_at_a_time() {
        let dir = tmp("lock");
        let s = Spool::open(&dir, 1 << 20).unwrap();
        let err = Spool::open(&dir, 1 << 20)
            .err()
            .expect("second open refused");
        assert!(err.to_string().contains("in use"), "{err}");
        drop(s);
        Spool::open(&dir, 1 << 20).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tmp("torn");
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            s.push(b"one").unwrap();
            s.push(b"two").unwrap();
        }
        let seg = seg_path(&dir, 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.len(), 2);
        s.push(b"three").unwrap();
        assert_eq!(drain(&mut s), ["one", "two", "three"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn disk_bound_drops_oldest() {
        let dir = tmp("bound");
        let mut s = Spool::open(&dir, 10 * cost(3)).unwrap();
        for i in 0..25 {
            s.push(format!("{i:03}").as_bytes()).unwrap();
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.dropped_full(), 15);
        assert_eq!(drain(&mut s).first().map(String::as_str), Some("015"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn frames_of_varying_length_with_peeks_and_drops() {
        let dir = tmp("vary");
        let mut s = Spool::open(&dir, 40 * cost(10)).unwrap();
        let mut expect = std::collections::VecDeque::new();
        for i in 0..500usize {
            let f = "x".repeat(i % 13) + &i.to_string();
            s.push(f.as_bytes()).unwrap();
            expect.push_back(f);
            while s.len() < expect.len() {
                expect.pop_front();
            }
            if i % 3 == 0 {
                assert_eq!(
                    s.front().unwrap().as_deref(),
                    expect.front().map(|f| f.as_bytes())
                );
            }
            if i % 5 == 0 {
                s.pop_front().unwrap();
                expect.pop_front();
            }
        }
        let total: u64 = expect.iter().map(|f| cost(f.len())).sum();
        assert_eq!(s.bytes(), total);
        drop(s);
        let mut s = Spool::open(&dir, 40 * cost(10)).unwrap();
        assert_eq!(drain(&mut s), Vec::from(expect));
        fs::remove_dir_all(&dir).unwrap();
    }
}
