//! The process table: which image every pid is running, so each event can carry
//! `process.entity_id` and `process.parent.*`.
//!
//! Learned from `/proc` at start (live mode), from every successful exec, from fork/clone exit
//! values and from the first event of a pid it has not seen (a fork that was not audited: the
//! child inherits its parent's image when it runs the same executable). Replay builds the same
//! table from the log alone.
//!
//! `entity_id` is a hash of the host id, the pid and the image's start time (exec time, fork
//! time, first-seen time, or `/proc` start time), so it is stable for one process image and a
//! child's `process.parent.entity_id` equals its parent's `process.entity_id`.
//!
//! Memory is bounded: `exit_group` removes a process, and past `capacity` entries the least
//! recently used eighth is dropped (counted in `stats().evicted`).

use crate::record::fast_hash::SeededHash;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub executable: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    /// Shared with children that fork without exec.
    pub args: Option<Arc<[String]>>,
    pub entity_id: Arc<str>,
    /// When this image started (Unix ms).
    pub start_ms: i64,
    last_used: u64,
}

impl ProcessInfo {
    /// `args` joined by spaces, as ECS `process.command_line`.
    pub fn command_line(&self) -> Option<String> {
        self.args.as_ref().map(|a| a.join(" "))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessStats {
    pub entries: usize,
    pub from_proc: u64,
    pub from_exec: u64,
    pub from_fork: u64,
    /// Pids first seen in an event (fork not audited, or running before replay began).
    pub from_first_event: u64,
    pub exited: u64,
    /// Dropped by the capacity limit.
    pub evicted: u64,
}

pub const DEFAULT_CAPACITY: usize = 65_536;

pub struct ProcessTable {
    /// The two FNV states of `entity_id` after the host id and its NUL.
    host_fnv: (Fnv, Fnv),
    procs: HashMap<u32, ProcessInfo, SeededHash>,
    capacity: usize,
    tick: u64,
    stats: ProcessStats,
}

/// What one event says about its process (from the SYSCALL record).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sighting<'a> {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub executable: Option<&'a str>,
    pub name: Option<&'a str>,
    pub time_ms: i64,
}

impl ProcessTable {
    pub fn new(host_id: &str, capacity: usize) -> ProcessTable {
        ProcessTable {
            host_fnv: {
                let mut a = Fnv::new(0xcbf2_9ce4_8422_2325);
                let mut b = Fnv::new(0x6c62_272e_07bb_0142);
                for h in [&mut a, &mut b] {
                    h.write(host_id.as_bytes());
                    h.write(&[0]);
                }
                (a, b)
            },
            procs: HashMap::with_hasher(SeededHash::random()),
            capacity: capacity.max(8),
            tick: 0,
            stats: ProcessStats::default(),
        }
    }

    pub fn stats(&self) -> ProcessStats {
        ProcessStats {
            entries: self.procs.len(),
            ..self.stats
        }
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.procs.get(&pid)
    }

    /// The entity id of an image: stable hex of (host id, pid, start time).
    pub fn entity_id(&self, pid: u32, start_ms: i64) -> Arc<str> {
        // Both hashes have taken the host id already.
        let (mut a, mut b) = self.host_fnv;
        for h in [&mut a, &mut b] {
            h.write(&pid.to_le_bytes());
            h.write(&start_ms.to_le_bytes());
        }
        // Hex by hand: this runs for most events, and `format!` is ten times the cost.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; 32];
        for (half, word) in id.chunks_exact_mut(16).zip([a.0, b.0]) {
            for (i, d) in half.iter_mut().enumerate() {
                *d = HEX[(word >> (60 - 4 * i) & 15) as usize];
            }
        }
        Arc::from(std::str::from_utf8(&id).expect("hex digits"))
    }

    /// A successful exec: `pid` now runs a new image.
    pub fn on_exec(&mut self, s: &Sighting<'_>, args: Vec<String>) -> &ProcessInfo {
        self.stats.from_exec += 1;
        let old_ppid = self.procs.get(&s.pid).map(|p| p.ppid);
        let info = ProcessInfo {
            pid: s.pid,
            ppid: s.ppid.or(old_ppid).unwrap_or(0),
            executable: s.executable.map(Arc::from),
            name: s.name.map(Arc::from),
            args: (!args.is_empty()).then(|| Arc::from(args)),
            entity_id: self.entity_id(s.pid, s.time_ms),
            start_ms: s.time_ms,
            last_used: 0,
        };
        self.insert(info)
    }

    /// A successful fork/clone by `parent` that created `child`: same image, own pid.
    pub fn on_fork(&mut self, parent: u32, child: u32, time_ms: i64) {
        let Some(p) = self.procs.get(&parent) else {
            return;
        };
        let info = ProcessInfo {
            pid: child,
            ppid: parent,
            executable: p.executable.clone(),
            name: p.name.clone(),
            args: p.args.clone(),
            entity_id: self.entity_id(child, time_ms),
            start_ms: time_ms,
            last_used: 0,
        };
        self.stats.from_fork += 1;
        self.insert(info);
    }

    /// The process exited (`exit_group`): forget it.
    pub fn on_exit(&mut self, pid: u32) {
        if self.procs.remove(&pid).is_some() {
            self.stats.exited += 1;
        }
    }

    /// Any other event of `pid`: returns its entry, learning it first when it is new or its
    /// executable changed (an exec we did not see is a new image).
    pub fn observe(&mut self, s: &Sighting<'_>) -> &ProcessInfo {
        self.tick += 1;
        let tick = self.tick;
        let known = match self.procs.get_mut(&s.pid) {
            Some(p)
                if s.executable.is_none()
                    || p.executable.is_none()
                    || p.executable.as_deref() == s.executable =>
            {
                p.last_used = tick;
                // A user-space record (no exe) may have introduced the pid.
                if p.executable.is_none() {
                    p.executable = s.executable.map(Arc::from);
                }
                if p.name.is_none() {
                    p.name = s.name.map(Arc::from);
                }
                if let Some(ppid) = s.ppid {
                    // Reparenting (parent died) keeps the image.
                    p.ppid = ppid;
                }
                true
            }
            _ => false,
        };
        if known {
            return &self.procs[&s.pid];
        }
        self.stats.from_first_event += 1;
        let parent = s.ppid.and_then(|pp| self.procs.get(&pp));
        // A child that runs its parent's executable forked without exec: it has the parent's
        // arguments too.
        let inherited =
            parent.filter(|p| s.executable.is_some() && p.executable.as_deref() == s.executable);
        let info = ProcessInfo {
            pid: s.pid,
            ppid: s.ppid.unwrap_or(0),
            executable: s.executable.map(Arc::from),
            name: s
                .name
                .map(Arc::from)
                .or_else(|| inherited.and_then(|p| p.name.clone())),
            args: inherited.and_then(|p| p.args.clone()),
            entity_id: self.entity_id(s.pid, s.time_ms),
            start_ms: s.time_ms,
            last_used: 0,
        };
        self.insert(info)
    }

    fn insert(&mut self, mut info: ProcessInfo) -> &ProcessInfo {
        self.tick += 1;
        info.last_used = self.tick;
        let pid = info.pid;
        self.procs.insert(pid, info);
        if self.procs.len() > self.capacity {
            self.evict(pid);
        }
        &self.procs[&pid]
    }

    /// Drops the least recently used eighth (never `keep`), so eviction is amortised.
    fn evict(&mut self, keep: u32) {
        let n = (self.capacity / 8).max(1);
        let mut ages: Vec<(u64, u32)> = self
            .procs
            .iter()
            .filter(|(pid, _)| **pid != keep)
            .map(|(pid, p)| (p.last_used, *pid))
            .collect();
        let n = n.min(ages.len());
        if n == 0 {
            return;
        }
        ages.select_nth_unstable(n - 1);
        for &(_, pid) in &ages[..n] {
            self.procs.remove(&pid);
        }
        self.stats.evicted += n as u64;
    }

    /// Learns every process under `proc_root` (normally `/proc`). Returns how many.
    pub fn load_proc(&mut self, proc_root: &Path) -> usize {
        let boot_ms = std::fs::read_to_string(proc_root.join("stat"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("btime ")
                        .and_then(|v| v.trim().parse::<i64>().ok())
                })
            })
            .map(|s| s * 1000)
            .unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as i64;
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return 0;
        };
        let mut n = 0;
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let base = entry.path();
            let Ok(stat) = std::fs::read_to_string(base.join("stat")) else {
                continue;
            };
            let Some((comm, ppid, start_ticks)) = parse_stat(&stat) else {
                continue;
            };
            let executable = std::fs::read_link(base.join("exe"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned());
            let args: Vec<String> = std::fs::read(base.join("cmdline"))
                .map(|b| {
                    b.split(|&c| c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let start_ms = boot_ms + start_ticks as i64 * 1000 / ticks;
            let info = ProcessInfo {
                pid,
                ppid,
                executable: executable.map(Arc::from),
                name: Some(Arc::from(comm)),
                // Kernel threads have no command line.
                args: (!args.is_empty()).then(|| Arc::from(args)),
                entity_id: self.entity_id(pid, start_ms),
                start_ms,
                last_used: 0,
            };
            self.insert(info);
            n += 1;
        }
        self.stats.from_proc += n as u64;
        n
    }
}

/// `pid (comm) state ppid ... starttime` → (comm, ppid, starttime). `comm` may hold `)`.
fn parse_stat(stat: &str) -> Option<(&str, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace();
    // Fields after comm: state(3) ppid(4) ... starttime(22).
    let ppid = rest.nth(1)?.parse().ok()?;
    let start = rest.nth(22 - 5)?.parse().ok()?;
    Some((comm, ppid, start))
}

#[derive(Clone, Copy)]
struct Fnv(u64);
impl Fnv {
    fn new(seed: u64) -> Fnv {
        Fnv(seed)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_id_is_both_hashes_in_hex() {
        let t = ProcessTable::new("host-1", 8);
        let mut a = Fnv::new(0xcbf2_9ce4_8422_2325);
        let mut b = Fnv::new(0x6c62_272e_07bb_0142);
        for h in [&mut a, &mut b] {
            h.write(b"host-1\0");
            h.write(&42u32.to_le_bytes());
            h.write(&(-5i64).to_le_bytes());
        }
        let want = format!("{:016x}{:016x}", a.0, b.0);
        assert_eq!(&*t.entity_id(42, -5), want.as_str());
    }

    fn s<'a>(pid: u32, ppid: u32, exe: &'a str, t: i64) -> Sighting<'a> {
        Sighting {
            pid,
            ppid: Some(ppid),
            executable: Some(exe),
            name: exe.rsplit('/').next(),
            time_ms: t,
        }
    }

    #[test]
    fn exec_links_child_to_parent_entity() {
        let mut t = ProcessTable::new("host", 100);
        let bash = t
            .on_exec(&s(100, 1, "/bin/bash", 1_000), vec!["bash".into()])
            .entity_id
            .clone();
        let ls = t
            .on_exec(
                &s(101, 100, "/bin/ls", 2_000),
                vec!["ls".into(), "-l".into()],
            )
            .clone();
        assert_eq!(ls.ppid, 100);
        assert_eq!(
            t.get(ls.ppid).map(|p| p.entity_id.clone()),
            Some(bash.clone())
        );
        assert_ne!(ls.entity_id, bash);
        assert_eq!(ls.command_line().as_deref(), Some("ls -l"));
        // Stable: the same image gives the same id again.
        assert_eq!(t.entity_id(101, 2_000), ls.entity_id);
        assert_eq!(ls.entity_id.len(), 32);
    }

    #[test]
    fn fork_without_exec_inherits_image_not_pid() {
        let mut t = ProcessTable::new("host", 100);
        let parent = t
            .on_exec(
                &s(200, 1, "/bin/bash", 1_000),
                vec!["bash".into(), "-i".into()],
            )
            .clone();
        // First event of an unknown pid that runs its parent's executable.
        let child = t.observe(&s(201, 200, "/bin/bash", 5_000)).clone();
        assert_eq!(child.pid, 201);
        assert_eq!(child.args, parent.args);
        assert_ne!(child.entity_id, parent.entity_id);
        // Its own exec'd child links to it.
        let nc = t
            .on_exec(&s(202, 201, "/bin/nc", 6_000), vec!["nc".into()])
            .clone();
        assert_eq!(t.get(nc.ppid).map(|p| &p.entity_id), Some(&child.entity_id));
        // A child running another executable does not get the parent's args.
        let other = t.observe(&s(203, 200, "/usr/bin/python3", 7_000)).clone();
        assert_eq!(other.args, None);
    }

    #[test]
    fn audited_fork_and_exit() {
        let mut t = ProcessTable::new("host", 100);
        let p = t
            .on_exec(&s(300, 1, "/bin/sh", 1_000), vec!["sh".into()])
            .clone();
        t.on_fork(300, 301, 2_000);
        let c = t.observe(&s(301, 300, "/bin/sh", 3_000)).clone();
        assert_eq!(c.start_ms, 2_000, "learned at fork, not at first event");
        assert_eq!(c.args, p.args);
        assert_eq!(t.stats().from_fork, 1);
        t.on_exit(301);
        assert!(t.get(301).is_none());
        assert_eq!(t.stats().exited, 1);
    }

    #[test]
    fn missed_exec_is_a_new_image_and_reparenting_is_not() {
        let mut t = ProcessTable::new("host", 100);
        let a = t
            .on_exec(&s(400, 10, "/bin/a", 1_000), vec!["a".into()])
            .entity_id
            .clone();
        let same = t.observe(&s(400, 1, "/bin/a", 2_000)).clone();
        assert_eq!((same.entity_id.clone(), same.ppid), (a.clone(), 1));
        let b = t.observe(&s(400, 1, "/bin/b", 3_000)).entity_id.clone();
        assert_ne!(a, b);
    }

    #[test]
    fn capacity_bounds_memory() {
        let mut t = ProcessTable::new("host", 64);
        for pid in 0..1_000 {
            t.observe(&s(pid, 1, "/bin/x", pid as i64));
        }
        assert!(t.len() <= 64);
        assert!(t.stats().evicted >= 1_000 - 64);
        // The most recent survives.
        assert!(t.get(999).is_some());
    }

    #[test]
    fn stat_parsing_and_live_proc() {
        let line =
            "1234 (we ird) name) S 77 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5555 0 0";
        assert_eq!(parse_stat(line), Some(("we ird) name", 77, 5555)));
        let mut t = ProcessTable::new("host", DEFAULT_CAPACITY);
        let n = t.load_proc(Path::new("/proc"));
        assert!(n > 0);
        let me = t
            .get(std::process::id())
            .expect("this test process is in /proc");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(me.args.as_ref().is_some_and(|a| !a.is_empty()));
        assert!(me.executable.is_some());
    }
}
