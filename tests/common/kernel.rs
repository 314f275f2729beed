//! The kernel's audit state is one machine-wide resource. Every test that touches it holds
//! `KernelGuard`: an exclusive flock on one lock file (so cargo's test threads and parallel test
//! binaries never overlap), plus a snapshot of the rule list and settings that `Drop` restores
//! however the test ends (panics included). The rule list is emptied while the guard is held.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::process::Command;

pub const LOCK_PATH: &str = "/run/lock/auditwatch-kernel-test.lock";

pub struct KernelGuard {
    _lock: File,
    rules: Vec<String>,
    status: Vec<(String, String)>,
}

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl runs (package auditd)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Takes the lock and snapshots `auditctl -l` / `auditctl -s`.
pub fn kernel_guard() -> KernelGuard {
    let _ = std::fs::create_dir_all("/run/lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .expect("open kernel test lock");
    // SAFETY: flock on a descriptor we own; blocks until the other holder is done.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {LOCK_PATH}");
    let rules = auditctl(&["-l"])
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "No rules")
        .map(str::to_owned)
        .collect();
    let status = auditctl(&["-s"])
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        })
        .collect();
    // Every test starts from an empty rule list: rules left by something killed earlier (a
    // SIGKILLed `auditwatch run` keeps its rules loaded) would match first and change the keys
    // and events a test sees. `Drop` puts the snapshot back.
    auditctl(&["-D"]);
    KernelGuard {
        _lock: lock,
        rules,
        status,
    }
}

impl KernelGuard {
    pub fn status_value(&self, key: &str) -> Option<&str> {
        self.status
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn saved_rules(&self) -> &[String] {
        &self.rules
    }
}

impl Drop for KernelGuard {
    fn drop(&mut self) {
        auditctl(&["-D"]);
        for r in &self.rules {
            let args: Vec<&str> = r.split_whitespace().collect();
            auditctl(&args);
        }
        for (key, flag) in [
            ("backlog_limit", "-b"),
            ("rate_limit", "-r"),
            ("failure", "-f"),
            ("backlog_wait_time", "--backlog_wait_time"),
        ] {
            if let Some(v) = self.status_value(key) {
                let v = v.to_owned();
                auditctl(&[flag, &v]);
            }
        }
        if let Some(e) = self.status_value("enabled") {
            let e = e.to_owned();
            auditctl(&["-e", &e]);
        }
    }
}
