//! Helpers shared by the real-kernel tests (`tests/kernel_netlink.rs`) and the storm benchmark:
//! a hand-encoded audit rule, `auditctl` wrappers, and Debian's auditd run from a temp config.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use auditwatch::kernel::netlink::AuditClient;

pub const SYS_EXECVE: u32 = 59;
pub const SYS_GETPPID: u32 = 110;

/// `struct audit_rule_data` for `-a always,exit -F arch=b64 -S <syscalls> -k <key>`, by hand.
pub fn exit_rule(syscalls: &[u32], key: &str) -> Vec<u8> {
    const AUDIT_FILTER_EXIT: u32 = 0x04;
    const AUDIT_ALWAYS: u32 = 2;
    const AUDIT_ARCH: u32 = 11;
    const AUDIT_FILTERKEY: u32 = 210;
    const AUDIT_EQUAL: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let mut mask = [0u32; 64];
    for &s in syscalls {
        mask[(s / 32) as usize] |= 1 << (s % 32);
    }
    let (mut fields, mut values, mut flags) = ([0u32; 64], [0u32; 64], [0u32; 64]);
    fields[0] = AUDIT_ARCH;
    values[0] = AUDIT_ARCH_X86_64;
    flags[0] = AUDIT_EQUAL;
    fields[1] = AUDIT_FILTERKEY;
    values[1] = key.len() as u32;
    flags[1] = AUDIT_EQUAL;
    let mut out = Vec::new();
    let head = [AUDIT_FILTER_EXIT, AUDIT_ALWAYS, 2];
    for w in head
        .iter()
        .chain(&mask)
        .chain(&fields)
        .chain(&values)
        .chain(&flags)
    {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    out.extend_from_slice(&(key.len() as u32).to_ne_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

pub fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `auditctl -s` fields a session must restore.
pub fn auditctl_settings() -> Vec<(String, String)> {
    const KEYS: [&str; 6] = [
        "enabled",
        "failure",
        "pid",
        "rate_limit",
        "backlog_limit",
        "backlog_wait_time",
    ];
    auditctl(&["-s"])
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        })
        .filter(|(k, _)| KEYS.contains(&k.as_str()))
        .collect()
}

pub fn audit_pid() -> u32 {
    AuditClient::open()
        .and_then(|mut c| c.get_status())
        .map(|s| s.pid)
        .unwrap_or(0)
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Debian's auditd, logging into a temp dir (`auditd -c DIR`); stopped again on drop.
pub struct Auditd {
    pub dir: PathBuf,
    pub pid: u32,
}

impl Auditd {
    /// RAW log, no flushing: the quickest setup, for functional tests.
    pub fn start(tag: &str) -> Auditd {
        Auditd::start_with(tag, "RAW", "NONE")
    }

    /// With the given `log_format` (RAW, ENRICHED) and `flush` (NONE, INCREMENTAL_ASYNC, ...).
    pub fn start_with(tag: &str, log_format: &str, flush: &str) -> Auditd {
        assert_eq!(
            audit_pid(),
            0,
            "no audit daemon may run before the test starts one"
        );
        let dir = std::env::temp_dir().join(format!("aw-auditd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("plugins.d")).unwrap();
        let conf = format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {}/audit.log\nlog_format = {log_format}\nflush = {flush}\n\
             freq = 50\nmax_log_file = 1024\nnum_logs = 1\nmax_log_file_action = IGNORE\nspace_left = 2\n\
             space_left_action = IGNORE\nadmin_space_left = 1\nadmin_space_left_action = IGNORE\n\
             disk_full_action = IGNORE\ndisk_error_action = IGNORE\nname_format = NONE\n\
             plugin_dir = {}/plugins.d\nq_depth = 2000\noverflow_action = IGNORE\n",
            dir.display(),
            dir.display()
        );
        let path = dir.join("auditd.conf");
        std::fs::write(&path, conf).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = Command::new("auditd")
            .arg("-c")
            .arg(&dir)
            .output()
            .expect("run auditd");
        assert!(
            out.status.success(),
            "auditd -c {} failed ({}): {} (another auditd running? {:?})",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            std::fs::read_to_string("/run/auditd.pid").ok()
        );
        let mut pid = 0;
        wait_for(
            "auditd to register its pid",
            Duration::from_secs(10),
            || {
                pid = audit_pid();
                pid != 0
            },
        );
        Auditd { dir, pid }
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("audit.log")).unwrap_or_default())
            .into_owned()
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        // SAFETY: signals the auditd we started.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        let start = Instant::now();
        while !(gone(self.pid) && audit_pid() == 0) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Calls `getppid` `count` times in a forked child (the audit pid's own process is never
/// audited, so the producer must be another process); returns the child's wall time.
pub fn getppid_storm(count: u64) -> Duration {
    let start = Instant::now();
    // SAFETY: the child only makes raw syscalls and `_exit`s; it touches no locks or allocator.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            for _ in 0..count {
                libc::syscall(libc::SYS_getppid);
            }
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "storm child failed"
        );
    }
    start.elapsed()
}
