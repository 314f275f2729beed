//! `struct audit_status` (linux/audit.h) and the process that holds the kernel's audit pid.
//!
//! The struct grew over the years (`feature_bitmap` in 3.19, `backlog_wait_time` in 3.14,
//! `backlog_wait_time_actual` in 5.9), so it is parsed by length: fields the kernel did not
//! send stay `None`.

use std::fmt;
use std::path::PathBuf;

/// `AUDIT_STATUS_*` mask bits: which fields an `AUDIT_SET` changes.
pub mod mask {
    pub const ENABLED: u32 = 0x0001;
    pub const FAILURE: u32 = 0x0002;
    pub const PID: u32 = 0x0004;
    pub const RATE_LIMIT: u32 = 0x0008;
    pub const BACKLOG_LIMIT: u32 = 0x0010;
    pub const BACKLOG_WAIT_TIME: u32 = 0x0020;
    pub const LOST: u32 = 0x0040;
    pub const BACKLOG_WAIT_TIME_ACTUAL: u32 = 0x0080;
}

/// Size of the full struct on current kernels (11 × u32).
pub const AUDIT_STATUS_SIZE: usize = 44;

/// The kernel's audit status as `AUDIT_GET` returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditStatus {
    pub mask: u32,
    /// 0 off, 1 on, 2 locked (immutable until reboot).
    pub enabled: u32,
    /// 0 silent, 1 printk, 2 panic.
    pub failure: u32,
    /// The process the kernel sends events to (0: none).
    pub pid: u32,
    pub rate_limit: u32,
    pub backlog_limit: u32,
    /// Records the kernel dropped since boot.
    pub lost: u32,
    /// Records queued in the kernel right now.
    pub backlog: u32,
    /// `AUDIT_FEATURE_BITMAP_*` (older kernels: the API version).
    pub feature_bitmap: Option<u32>,
    pub backlog_wait_time: Option<u32>,
    /// Time (jiffies) tasks spent waiting on a full backlog, since it was last reset.
    pub backlog_wait_time_actual: Option<u32>,
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    b.get(i * 4..i * 4 + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

impl AuditStatus {
    /// Parses an `AUDIT_GET` reply payload; needs at least the eight fields of 2.6 kernels.
    pub fn parse(payload: &[u8]) -> Option<AuditStatus> {
        let f = |i| u32_at(payload, i);
        Some(AuditStatus {
            mask: f(0)?,
            enabled: f(1)?,
            failure: f(2)?,
            pid: f(3)?,
            rate_limit: f(4)?,
            backlog_limit: f(5)?,
            lost: f(6)?,
            backlog: f(7)?,
            feature_bitmap: f(8),
            backlog_wait_time: f(9),
            backlog_wait_time_actual: f(10),
        })
    }
}

/// `auditctl -s` style, one `key value` per line; the pid line names its process when alive.
impl fmt::Display for AuditStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.enabled {
            0 => " (off)",
            1 => " (on)",
            2 => " (locked)",
            _ => "",
        };
        writeln!(f, "enabled {}{mode}", self.enabled)?;
        let failure = ["silent", "printk", "panic"]
            .get(self.failure as usize)
            .copied()
            .unwrap_or("?");
        writeln!(f, "failure {} ({failure})", self.failure)?;
        match ProcessInfo::lookup(self.pid) {
            Some(p) => writeln!(f, "{p}")?,
            None => writeln!(f, "pid {}", self.pid)?,
        }
        writeln!(f, "rate_limit {}", self.rate_limit)?;
        writeln!(f, "backlog_limit {}", self.backlog_limit)?;
        writeln!(f, "lost {}", self.lost)?;
        write!(f, "backlog {}", self.backlog)?;
        if let Some(v) = self.backlog_wait_time {
            write!(f, "\nbacklog_wait_time {v}")?;
        }
        if let Some(v) = self.backlog_wait_time_actual {
            write!(f, "\nbacklog_wait_time_actual {v}")?;
        }
        if let Some(v) = self.feature_bitmap {
            write!(f, "\nfeature_bitmap {v:#x}")?;
        }
        Ok(())
    }
}

/// The fields an `AUDIT_SET` changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusUpdate {
    pub enabled: Option<u32>,
    pub failure: Option<u32>,
    pub pid: Option<u32>,
    pub rate_limit: Option<u32>,
    pub backlog_limit: Option<u32>,
    pub backlog_wait_time: Option<u32>,
    /// Resets the kernel's `lost` counter (the value is ignored by the kernel).
    pub reset_lost: bool,
    /// Resets `backlog_wait_time_actual`.
    pub reset_backlog_wait_time_actual: bool,
}

impl StatusUpdate {
    pub fn is_empty(&self) -> bool {
        self.encode_mask() == 0
    }

    fn encode_mask(&self) -> u32 {
        let mut m = 0;
        for (set, bit) in [
            (self.enabled.is_some(), mask::ENABLED),
            (self.failure.is_some(), mask::FAILURE),
            (self.pid.is_some(), mask::PID),
            (self.rate_limit.is_some(), mask::RATE_LIMIT),
            (self.backlog_limit.is_some(), mask::BACKLOG_LIMIT),
            (self.backlog_wait_time.is_some(), mask::BACKLOG_WAIT_TIME),
            (self.reset_lost, mask::LOST),
            (
                self.reset_backlog_wait_time_actual,
                mask::BACKLOG_WAIT_TIME_ACTUAL,
            ),
        ] {
            if set {
                m |= bit;
            }
        }
        m
    }

    /// The `AUDIT_SET` payload: a full `struct audit_status` with the mask bits set.
    pub fn encode(&self) -> [u8; AUDIT_STATUS_SIZE] {
        let words = [
            self.encode_mask(),
            self.enabled.unwrap_or(0),
            self.failure.unwrap_or(0),
            self.pid.unwrap_or(0),
            self.rate_limit.unwrap_or(0),
            self.backlog_limit.unwrap_or(0),
            0, // lost
            0, // backlog
            0, // feature_bitmap
            self.backlog_wait_time.unwrap_or(0),
            0, // backlog_wait_time_actual
        ];
        let mut out = [0u8; AUDIT_STATUS_SIZE];
        for (i, w) in words.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        out
    }
}

/// A process as `/proc` describes it: who holds the audit pid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/PID/comm`, if readable.
    pub comm: Option<String>,
    /// `/proc/PID/exe` target, if readable.
    pub exe: Option<PathBuf>,
}

impl ProcessInfo {
    /// `None` when no such process exists (in our pid namespace).
    pub fn lookup(pid: u32) -> Option<ProcessInfo> {
        if pid == 0 {
            return None;
        }
        let dir = PathBuf::from(format!("/proc/{pid}"));
        if !dir.exists() {
            return None;
        }
        let comm = std::fs::read_to_string(dir.join("comm"))
            .ok()
            .map(|s| s.trim_end().to_owned());
        let exe = std::fs::read_link(dir.join("exe")).ok();
        // A zombie still has /proc/PID but no exe and no netlink socket: count it as gone.
        let state = std::fs::read_to_string(dir.join("stat")).ok();
        let zombie = state
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false);
        if zombie {
            return None;
        }
        Some(ProcessInfo { pid, comm, exe })
    }

    /// True when this looks like another auditwatch (by comm or by the executable's name).
    pub fn is_auditwatch(&self) -> bool {
        let by_comm = self.comm.as_deref() == Some("auditwatch");
        let by_exe = self
            .exe
            .as_deref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .map(|n| n.trim_end_matches(" (deleted)") == "auditwatch")
            .unwrap_or(false);
        by_comm || by_exe
    }
}

impl fmt::Display for ProcessInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} ({}",
            self.pid,
            self.comm.as_deref().unwrap_or("?")
        )?;
        if let Some(exe) = &self.exe {
            write!(f, ", {}", exe.display())?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_full_and_short_status() {
        let mut b = Vec::new();
        for w in [0u32, 1, 2, 1234, 10, 8192, 7, 3, 0x7f, 60000, 42] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        let s = AuditStatus::parse(&b).unwrap();
        assert_eq!(
            (s.enabled, s.failure, s.pid, s.rate_limit, s.backlog_limit),
            (1, 2, 1234, 10, 8192)
        );
        assert_eq!((s.lost, s.backlog), (7, 3));
        assert_eq!(s.feature_bitmap, Some(0x7f));
        assert_eq!(s.backlog_wait_time, Some(60000));
        assert_eq!(s.backlog_wait_time_actual, Some(42));

        // A 3.x kernel sends 36 bytes; a 2.6 kernel 32.
        let old = AuditStatus::parse(&b[..36]).unwrap();
        assert_eq!(old.feature_bitmap, Some(0x7f));
        assert_eq!(old.backlog_wait_time, None);
        assert_eq!(AuditStatus::parse(&b[..32]).unwrap().feature_bitmap, None);
        assert!(AuditStatus::parse(&b[..31]).is_none());
    }

    #[test]
    fn update_sets_only_masked_fields() {
        let u = StatusUpdate {
            failure: Some(2),
            backlog_wait_time: Some(0),
            ..Default::default()
        };
        let enc = u.encode();
        let s = AuditStatus::parse(&enc).unwrap();
        assert_eq!(s.mask, mask::FAILURE | mask::BACKLOG_WAIT_TIME);
        assert_eq!(s.failure, 2);
        assert_eq!(s.backlog_wait_time, Some(0));
        assert!(StatusUpdate::default().is_empty());
        let r = StatusUpdate {
            reset_lost: true,
            ..Default::default()
        };
        assert_eq!(AuditStatus::parse(&r.encode()).unwrap().mask, mask::LOST);
    }

    #[test]
    fn display_like_auditctl() {
        let s = AuditStatus {
            enabled: 1,
            failure: 1,
            backlog_limit: 64,
            backlog_wait_time: Some(15000),
            ..Default::default()
        };
        let text = s.to_string();
        assert!(
            text.starts_with("enabled 1 (on)\nfailure 1 (printk)\npid 0\n"),
            "{text}"
        );
        assert!(
            text.contains("backlog_limit 64\n") && text.ends_with("backlog_wait_time 15000"),
            "{text}"
        );
        let me = AuditStatus {
            pid: std::process::id(),
            ..s
        };
        assert!(
            me.to_string()
                .contains(&format!("pid {} (", std::process::id())),
            "{me}"
        );
    }

    #[test]
    fn process_lookup_self() {
        let me = ProcessInfo::lookup(std::process::id()).unwrap();
        assert!(me.comm.is_some());
        assert!(me.exe.is_some());
        assert!(!me.is_auditwatch() || me.comm.as_deref() == Some("auditwatch"));
        assert!(ProcessInfo::lookup(0).is_none());
        let text = me.to_string();
        assert!(text.starts_with(&format!("pid {} (", me.pid)), "{text}");
    }
}
