//! A kernel audit session: claim the event stream, apply settings and rules, put everything back.
//!
//! `KernelSession::start` takes a lock (one `auditwatch run` per host), snapshots the kernel's
//! status and rule list, opens the event socket in the chosen mode, adds our rules and applies
//! our settings. `restore` (also run on `Drop`) puts back pid, enabled, failure, rate limit,
//! backlog limit, backlog wait time and the rule list exactly as they were.
//!
//! Socket modes (Auditbeat's `socket_type`):
//! - `unicast`: we register our pid with `AUDIT_SET`; the kernel sends every event to us alone.
//!   Fails if a live process already holds the pid (named in the error).
//! - `multicast`: we join the read-only log group beside auditd or journald (CAP_AUDIT_READ).
//! - `auto`: multicast when a live process holds the pid, else unicast. Another auditwatch holding
//!   it is an error in every mode: two sensors would double every alert.
//!
//! After SIGKILL nothing runs here: the kernel drops our pid registration by itself once our
//! socket is closed (its next send to us fails), but the rules we added and the settings we
//! changed stay loaded. Clean them with `auditwatch audit-rules delete` or `auditctl -D`, and
//! `auditctl -e/-f/-r/-b/--backlog_wait_time` for the settings.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use netlink_sys::Socket;
use nix::errno::Errno;

use super::netlink::{open_multicast_socket, AuditClient, AuditError, RawMessage, Result};
use super::status::{AuditStatus, ProcessInfo, StatusUpdate};

pub const DEFAULT_LOCK_PATH: &str = "/run/auditwatch.lock";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketMode {
    Unicast,
    Multicast,
    #[default]
    Auto,
}

impl FromStr for SocketMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "unicast" => Ok(SocketMode::Unicast),
            "multicast" => Ok(SocketMode::Multicast),
            "auto" => Ok(SocketMode::Auto),
            other => Err(format!(
                "unknown socket mode {other:?} (expected unicast, multicast or auto)"
            )),
        }
    }
}

/// The mode a session actually uses (`auto` resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveMode {
    Unicast,
    Multicast,
}

impl fmt::Display for ActiveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActiveMode::Unicast => "unicast",
            ActiveMode::Multicast => "multicast",
        })
    }
}

/// What to apply; `None` leaves a kernel setting as it is.
#[derive(Clone, Debug)]
pub struct KernelSettings {
    pub mode: SocketMode,
    pub enabled: Option<u32>,
    pub failure: Option<u32>,
    pub rate_limit: Option<u32>,
    pub backlog_limit: Option<u32>,
    pub backlog_wait_time: Option<u32>,
    /// Raw `audit_rule_data` to add (after the existing rules, unless `replace_rules`).
    pub rules: Vec<Vec<u8>>,
    /// Delete the rules loaded before us (they come back on restore).
    pub replace_rules: bool,
    /// The single-instance lock; `None` skips it (tests, `status`).
    pub lock_path: Option<PathBuf>,
}

impl Default for KernelSettings {
    fn default() -> Self {
        KernelSettings {
            mode: SocketMode::Auto,
            enabled: Some(1),
            failure: None,
            rate_limit: None,
            backlog_limit: None,
            backlog_wait_time: None,
            rules: Vec::new(),
            replace_rules: false,
            lock_path: Some(PathBuf::from(DEFAULT_LOCK_PATH)),
        }
    }
}

/// Where the events come from: hand this to `crate::source::netlink::NetlinkReader`.
pub struct EventStream {
    pub socket: Socket,
    /// Events that arrived on `socket` while the session was still sending requests on it.
    pub pending: VecDeque<RawMessage>,
    pub mode: ActiveMode,
}

pub struct KernelSession {
    control: AuditClient,
    before: AuditStatus,
    before_rules: Vec<Vec<u8>>,
    /// Rules we added that were not loaded before (removed again on restore).
    added_rules: Vec<Vec<u8>>,
    /// The fields we changed, with their old values.
    changed: StatusUpdate,
    registered_pid: bool,
    mode: ActiveMode,
    holder: Option<ProcessInfo>,
    note: String,
    events: Option<EventStream>,
    restored: bool,
    _lock: Option<File>,
}

impl fmt::Debug for KernelSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelSession")
            .field("mode", &self.mode)
            .field("note", &self.note)
            .finish()
    }
}

/// Takes `path` with a non-blocking exclusive flock and writes our pid into it: the
/// single-instance lock of `auditwatch run`.
pub fn take_lock(path: &Path) -> Result<File> {
    let refuse = |why: String| {
        AuditError::Refused(format!("cannot take the lock {}: {why}", path.display()))
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| refuse(e.to_string()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(refuse(e.to_string()));
        }
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        let who = text
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(ProcessInfo::lookup)
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("pid {:?}", text.trim()));
        return Err(AuditError::Refused(format!(
            "another auditwatch is already running ({who} holds {}); stop it first",
            path.display()
        )));
    }
    let _ = f
        .set_len(0)
        .and_then(|_| f.rewind())
        .and_then(|_| writeln!(f, "{}", std::process::id()));
    Ok(f)
}

/// The live process holding the audit pid, if any.
fn pid_holder(status: &AuditStatus) -> Option<ProcessInfo> {
    ProcessInfo::lookup(status.pid)
}

fn resolve_mode(want: SocketMode, holder: Option<&ProcessInfo>) -> Result<(ActiveMode, String)> {
    let me = std::process::id();
    if let Some(h) = holder {
        if h.pid == me {
            return Err(AuditError::Refused(format!(
                "this process already holds the audit pid ({h}): another kernel session is active"
            )));
        }
        if h.is_auditwatch() {
            return Err(AuditError::Refused(format!(
                "another auditwatch already reads the kernel audit stream as unicast: the audit pid is held by {h}; stop it first"
            )));
        }
    }
    match (want, holder) {
        (SocketMode::Unicast, Some(h)) => Err(AuditError::Refused(format!(
            "socket mode unicast: the audit pid is held by {h}, which is alive; stop it or use socket mode multicast/auto"
        ))),
        (SocketMode::Unicast, None) => Ok((ActiveMode::Unicast, "unicast: registered as the audit pid".into())),
        (SocketMode::Auto, None) => {
            Ok((ActiveMode::Unicast, "auto → unicast: no other process holds the audit pid".into()))
        }
        (SocketMode::Auto, Some(h)) => {
            Ok((ActiveMode::Multicast, format!("auto → multicast: the audit pid is held by {h}")))
        }
        (SocketMode::Multicast, Some(h)) => {
            Ok((ActiveMode::Multicast, format!("multicast: reading beside {h}, which holds the audit pid")))
        }
        (SocketMode::Multicast, None) => Ok((ActiveMode::Multicast, "multicast: no process holds the audit pid".into())),
    }
}

impl KernelSession {
    pub fn start(settings: KernelSettings) -> Result<KernelSession> {
        let lock = settings.lock_path.as_deref().map(take_lock).transpose()?;
        let mut control = AuditClient::open()?;
        let before = control.get_status()?;
        let before_rules = control.list_rules()?;
        let holder = pid_holder(&before);
        let (mode, note) = resolve_mode(settings.mode, holder.as_ref())?;

        let mut session = KernelSession {
            control,
            before,
            before_rules,
            added_rules: Vec::new(),
            changed: StatusUpdate::default(),
            registered_pid: false,
            mode,
            holder,
            note,
            events: None,
            restored: false,
            _lock: lock,
        };
        // On failure `session` drops here and restores whatever was already changed.
        session.open_events()?;
        session.apply_rules(&settings)?;
        session.apply_settings(&settings)?;
        tracing::info!(mode = %session.mode, "{}", session.note);
        Ok(session)
    }

    fn open_events(&mut self) -> Result<()> {
        let stream = match self.mode {
            ActiveMode::Multicast => EventStream {
                socket: open_multicast_socket()?,
                pending: VecDeque::new(),
                mode: self.mode,
            },
            ActiveMode::Unicast => {
                let mut client = AuditClient::open()?;
                match client.register_self() {
                    Ok(()) => {}
                    Err(e) if e.errno() == Some(Errno::EEXIST) => {
                        // Someone registered between our snapshot and now.
                        let now = self.control.get_status().ok();
                        let who = now.as_ref().and_then(pid_holder).map(|h| h.to_string());
                        return Err(AuditError::Refused(format!(
                            "socket mode unicast: the audit pid is held by {}; stop it or use socket mode multicast/auto",
                            who.unwrap_or_else(|| "another process".into())
                        )));
                    }
                    Err(e) => return Err(e),
                }
                self.registered_pid = true;
                let (socket, pending) = client.into_parts();
                EventStream {
                    socket,
                    pending,
                    mode: self.mode,
                }
            }
        };
        self.events = Some(stream);
        Ok(())
    }

    fn apply_rules(&mut self, settings: &KernelSettings) -> Result<()> {
        if settings.replace_rules && !self.before_rules.is_empty() {
            self.control.delete_all_rules()?;
        }
        for rule in &settings.rules {
            match self.control.add_rule(rule) {
                Ok(()) => self.added_rules.push(rule.clone()),
                // Already loaded (by auditd, or listed twice): not ours to delete later.
                Err(e) if e.errno() == Some(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn apply_settings(&mut self, s: &KernelSettings) -> Result<()> {
        let b = &self.before;
        let differs = |want: Option<u32>, old: Option<u32>| want.is_some() && want != old;
        let update = StatusUpdate {
            enabled: s.enabled.filter(|_| differs(s.enabled, Some(b.enabled))),
            failure: s.failure.filter(|_| differs(s.failure, Some(b.failure))),
            rate_limit: s
                .rate_limit
                .filter(|_| differs(s.rate_limit, Some(b.rate_limit))),
            backlog_limit: s
                .backlog_limit
                .filter(|_| differs(s.backlog_limit, Some(b.backlog_limit))),
            backlog_wait_time: s
                .backlog_wait_time
                .filter(|_| differs(s.backlog_wait_time, b.backlog_wait_time)),
            ..Default::default()
        };
        if update.is_empty() {
            return Ok(());
        }
        if b.enabled == 2 {
            return Err(AuditError::Refused(
                "the kernel audit configuration is locked (enabled=2, `auditctl -e 2`); it can only change after a reboot"
                    .into(),
            ));
        }
        self.control.set_status(&update)?;
        self.changed = StatusUpdate {
            enabled: update.enabled.map(|_| b.enabled),
            failure: update.failure.map(|_| b.failure),
            rate_limit: update.rate_limit.map(|_| b.rate_limit),
            backlog_limit: update.backlog_limit.map(|_| b.backlog_limit),
            backlog_wait_time: update.backlog_wait_time.and(b.backlog_wait_time),
            ..Default::default()
        };
        Ok(())
    }

    pub fn mode(&self) -> ActiveMode {
        self.mode
    }

    /// Who held the audit pid when we started (the reason for multicast in `auto`).
    pub fn pid_holder(&self) -> Option<&ProcessInfo> {
        self.holder.as_ref()
    }

    /// One line saying which mode was chosen and why (names the pid holder).
    pub fn mode_note(&self) -> &str {
        &self.note
    }

    /// The kernel status as it was before we changed anything.
    pub fn status_before(&self) -> &AuditStatus {
        &self.before
    }

    /// The rules as they were before we changed anything.
    pub fn rules_before(&self) -> &[Vec<u8>] {
        &self.before_rules
    }

    /// The event socket, once; the reader owns it from then on.
    pub fn take_events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// A control connection (not the event socket) for status queries.
    pub fn control(&mut self) -> &mut AuditClient {
        &mut self.control
    }

    /// Puts back the rule list, the settings and the pid as they were before `start`.
    pub fn restore(mut self) -> Result<()> {
        self.restore_inner()
    }

    fn restore_inner(&mut self) -> Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let mut first_err = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                tracing::error!("restoring kernel audit state: {e}");
                first_err.get_or_insert(e);
            }
        };
        note(self.restore_rules());
        note(self.control.set_status(&self.changed));
        if self.registered_pid {
            // Only our own process may unregister; if the kernel already dropped us, leave it.
            let ours = self
                .control
                .get_status()
                .map(|s| s.pid == std::process::id());
            match ours {
                Ok(true) => note(self.control.set_pid(0)),
                Ok(false) => {}
                Err(e) => note(Err(e)),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn restore_rules(&mut self) -> Result<()> {
        let mut now = self.control.list_rules()?;
        if now == self.before_rules {
            return Ok(());
        }
        // Usual case: only our additions differ; remove just those, leaving others untouched.
        for ours in &self.added_rules {
            if let Some(i) = now.iter().position(|r| r == ours) {
                self.control.delete_rule(&now[i])?;
                now.remove(i);
            } else if self.control.delete_rule(ours).is_ok() {
                now = self.control.list_rules()?;
            }
        }
        if now == self.before_rules {
            return Ok(());
        }
        // Replaced, or changed meanwhile: rebuild the exact list in its old order.
        self.control.delete_all_rules()?;
        for r in &self.before_rules {
            self.control.add_rule(r)?;
        }
        Ok(())
    }
}

impl Drop for KernelSession {
    fn drop(&mut self) {
        let _ = self.restore_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, comm: &str, exe: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            comm: Some(comm.into()),
            exe: Some(exe.into()),
        }
    }

    #[test]
    fn mode_resolution() {
        let auditd = proc(1, "auditd", "/usr/sbin/auditd");
        assert_eq!(
            resolve_mode(SocketMode::Auto, None).unwrap().0,
            ActiveMode::Unicast
        );
        let (m, note) = resolve_mode(SocketMode::Auto, Some(&auditd)).unwrap();
        assert_eq!(m, ActiveMode::Multicast);
        assert!(
            note.contains("auditd") && note.contains("/usr/sbin/auditd"),
            "{note}"
        );
        assert_eq!(
            resolve_mode(SocketMode::Multicast, None).unwrap().0,
            ActiveMode::Multicast
        );
        let e = resolve_mode(SocketMode::Unicast, Some(&auditd))
            .unwrap_err()
            .to_string();
        assert!(e.contains("held by pid 1 (auditd"), "{e}");
        for mode in [SocketMode::Auto, SocketMode::Unicast, SocketMode::Multicast] {
            let e = resolve_mode(mode, Some(&proc(9, "auditwatch", "/usr/bin/auditwatch")))
                .unwrap_err();
            assert!(e.to_string().contains("another auditwatch"), "{e}");
        }
    }

    #[test]
    fn socket_mode_parses() {
        assert_eq!("multicast".parse::<SocketMode>(), Ok(SocketMode::Multicast));
        assert!("both"
            .parse::<SocketMode>()
            .unwrap_err()
            .contains("unicast, multicast or auto"));
    }

    #[test]
    fn lock_refuses_second_holder() {
        let dir = std::env::temp_dir().join(format!("aw-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auditwatch.lock");
        let first = take_lock(&path).unwrap();
        let e = take_lock(&path).unwrap_err().to_string();
        assert!(e.contains("another auditwatch is already running"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert!(take_lock(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
