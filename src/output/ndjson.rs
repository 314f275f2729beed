//! One JSON document per line to stdout or a file, with size-based rotation and retention like
//! Auditbeat's file output: when `auditwatch.ndjson` would pass `max_size_bytes` it becomes
//! `auditwatch.ndjson.1`, `.1` becomes `.2`, ... and the file past `keep_files` is deleted.
//! Files are created with (and kept at) the configured mode, 0600 by default.
//!
//! An [`EventFilter`] leaves out events the user does not want shipped.

use crate::config::EventsOutput;
use crate::event::{Event, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const BUF_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// A file is rotated before a line would take it past this size (a longer line still
    /// goes whole into a fresh file).
    pub max_size_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep_files: u32,
    pub permissions: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size_bytes: 10 << 20,
            keep_files: 7,
            permissions: 0o600,
        }
    }
}

/// Which events are written: none of the excluded `event.kind`s or `event.action`s, and if
/// `include_categories` is not empty, only events with one of those `event.category` values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub exclude_kinds: Vec<String>,
    pub exclude_actions: Vec<String>,
    pub include_categories: Vec<String>,
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        self.exclude_kinds.is_empty()
            && self.exclude_actions.is_empty()
            && self.include_categories.is_empty()
    }

    pub fn keep(&self, ev: &Event) -> bool {
        let has = |path: &str, set: &[String]| match ev.get(path) {
            Some(Value::Str(s)) => set.iter().any(|x| x == s),
            Some(Value::List(l)) => l
                .iter()
                .any(|v| v.as_str().is_some_and(|s| set.iter().any(|x| x == s))),
            _ => false,
        };
        let category_ok =
            self.include_categories.is_empty() || has("event.category", &self.include_categories);
        category_ok
            && !has("event.kind", &self.exclude_kinds)
            && !has("event.action", &self.exclude_actions)
    }
}

struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    /// Bytes in the current file, including what is still buffered.
    size: u64,
}

impl RotatingFile {
    fn open_current(&self) -> io::Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(self.rotation.permissions)
            .open(&self.path)?;
        // An existing file keeps its old mode otherwise.
        f.set_permissions(fs::Permissions::from_mode(self.rotation.permissions))?;
        Ok(f)
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Shifts `path` → `.1` → `.2` ...; the oldest beyond `keep_files` is deleted.
    fn shift(&self) -> io::Result<()> {
        let keep = self.rotation.keep_files;
        let ignore_missing = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        if keep == 0 {
            return ignore_missing(fs::remove_file(&self.path));
        }
        ignore_missing(fs::remove_file(self.numbered(keep)))?;
        for n in (1..keep).rev() {
            ignore_missing(fs::rename(self.numbered(n), self.numbered(n + 1)))?;
        }
        ignore_missing(fs::rename(&self.path, self.numbered(1)))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NdjsonStats {
    pub written: u64,
    pub filtered: u64,
    pub rotations: u64,
}

pub struct NdjsonWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    line: Vec<u8>,
    file: Option<RotatingFile>,
    filter: EventFilter,
    stats: NdjsonStats,
}

impl NdjsonWriter {
    /// `-` is stdout; anything else a file opened for appending (never rotated).
    pub fn open(target: &str) -> io::Result<Self> {
        let w: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(target))?,
            )
        };
        Ok(Self::new(w))
    }

    /// A file that rotates by size; it is created with `rotation.permissions`.
    pub fn open_rotating(path: &Path, rotation: Rotation) -> io::Result<Self> {
        let rf = RotatingFile {
            path: path.to_owned(),
            rotation,
            size: 0,
        };
        let f = rf.open_current()?;
        let size = f.metadata()?.len();
        let mut w = Self::new(Box::new(f));
        w.file = Some(RotatingFile { size, ..rf });
        Ok(w)
    }

    /// The event output as configured (`[output.events]`): `None` when it is off.
    pub fn from_config(cfg: &EventsOutput) -> io::Result<Option<Self>> {
        cfg.path
            .as_deref()
            .map(|p| Self::open_events(cfg, p))
            .transpose()
    }

    /// The event output to `target` (`-` for stdout, e.g. from `--events`) with the rotation
    /// and filters of `[output.events]`.
    pub fn open_events(cfg: &EventsOutput, target: &str) -> io::Result<Self> {
        let mut w = if target == "-" {
            Self::open("-")?
        } else {
            let rotation = Rotation {
                max_size_bytes: cfg.max_size_bytes,
                keep_files: cfg.keep_files,
                permissions: cfg.permissions,
            };
            Self::open_rotating(Path::new(target), rotation)?
        };
        w.set_filter(EventFilter {
            exclude_kinds: cfg.exclude_kinds.clone(),
            exclude_actions: cfg.exclude_actions.clone(),
            include_categories: cfg.include_categories.clone(),
        });
        Ok(w)
    }

    pub fn new(w: Box<dyn Write + Send>) -> Self {
        NdjsonWriter {
            out: BufWriter::with_capacity(BUF_BYTES, w),
            line: Vec::with_capacity(4096),
            file: None,
            filter: EventFilter::default(),
            stats: NdjsonStats::default(),
        }
    }

    pub fn set_filter(&mut self, filter: EventFilter) {
        self.filter = filter;
    }

    pub fn stats(&self) -> NdjsonStats {
        self.stats
    }

    /// Writes the event unless the filter leaves it out.
    pub fn write_event(&mut self, ev: &Event) -> io::Result<()> {
        if !self.filter.is_empty() && !self.filter.keep(ev) {
            self.stats.filtered += 1;
            return Ok(());
        }
        self.line.clear();
        super::json::write_event(ev, &mut self.line);
        self.line.push(b'\n');
        self.emit()
    }

    /// Writes any JSON document (alerts); not filtered.
    pub fn write_json(&mut self, v: &serde_json::Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, v)?;
        self.line.push(b'\n');
        self.emit()
    }

    fn emit(&mut self) -> io::Result<()> {
        let len = self.line.len() as u64;
        if let Some(rf) = &self.file {
            if rf.size > 0 && rf.size + len > rf.rotation.max_size_bytes {
                self.rotate()?;
            }
        }
        self.out.write_all(&self.line)?;
        if let Some(rf) = &mut self.file {
            rf.size += len;
        }
        self.stats.written += 1;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let rf = self.file.as_mut().expect("rotating file");
        rf.shift()?;
        let f = rf.open_current()?;
        rf.size = 0;
        // The buffer is empty after the flush, so swapping the inner writer loses nothing.
        self.out = BufWriter::with_capacity(BUF_BYTES, Box::new(f));
        self.stats.rotations += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
