//! Helpers for driving the live sensor and Debian's auditd on the real kernel: `auditctl`
//! snapshots, child processes stopped by signal, a throw-away auditd, CPU time from /proc.
//! Used by tests/run_lifecycle.rs and benches/cost.rs (both include it by `#[path]`). Callers
//! hold `kernel::kernel_guard()` for as long as they touch the kernel's audit state.
#![allow(dead_code)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `auditctl ARGS`; panics when it fails (the test cannot go on without it).
pub fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl runs (package auditd)");
    assert!(
        out.status.success(),
        "auditctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `auditctl -s` as key → value.
pub fn audit_status() -> BTreeMap<String, String> {
    auditctl(&["-s"])
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// The settings a sensor may change and must put back (not the counters).
pub const SETTINGS: [&str; 6] = [
    "enabled",
    "pid",
    "backlog_limit",
    "rate_limit",
    "failure",
    "backlog_wait_time",
];

pub fn audit_settings() -> BTreeMap<String, String> {
    audit_status()
        .into_iter()
        .filter(|(k, _)| SETTINGS.contains(&k.as_str()))
        .collect()
}

pub fn audit_pid() -> u32 {
    audit_status()
        .get("pid")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// `auditctl -l`, one rule a line (empty for "No rules").
pub fn audit_rules() -> Vec<String> {
    auditctl(&["-l"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "No rules")
        .map(str::to_owned)
        .collect()
}

pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory under /tmp, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("aw-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL after 20 s) when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub name: &'static str,
    pub stderr: Option<PathBuf>,
}

impl Daemon {
    pub fn spawn(name: &'static str, mut cmd: Command, stderr: Option<PathBuf>) -> Daemon {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        match &stderr {
            Some(p) => cmd.stderr(std::fs::File::create(p).expect("stderr file")),
            None => cmd.stderr(Stdio::null()),
        };
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{name} starts: {e}"));
        Daemon {
            child: Some(child),
            name,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The process has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Sends `sig` and waits up to `timeout` for the exit.
    pub fn signal_and_wait(&mut self, sig: Signal, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = kill(Pid::from_raw(c.id() as i32), sig);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{} did not exit on {sig:?} within {timeout:?}; killing",
            self.name
        );
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// SIGTERM; `None` if it had to be killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.signal_and_wait(Signal::SIGTERM, Duration::from_secs(20))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts Debian's auditd in the foreground with its own config in `dir` (log `dir/audit.log`,
/// `log_format`, no plugins, `-s nochange`: it leaves `enabled` alone) and waits until it holds
/// the audit pid.
pub fn start_auditd(dir: &Path, log_format: &str) -> (Daemon, PathBuf) {
    let log = dir.join("audit.log");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    std::fs::write(
        dir.join("auditd.conf"),
        format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_format = {log_format}\nflush = INCREMENTAL_ASYNC\nfreq = 50\n\
             max_log_file = 4096\nnum_logs = 2\nmax_log_file_action = IGNORE\nspace_left = 2\nspace_left_action = IGNORE\n\
             admin_space_left = 1\nadmin_space_left_action = IGNORE\ndisk_full_action = IGNORE\ndisk_error_action = IGNORE\n\
             name_format = NONE\nq_depth = 2000\noverflow_action = IGNORE\nplugin_dir = {}\nend_of_event_timeout = 2\n",
            log.display(),
            plugins.display()
        ),
    )
    .expect("write auditd.conf");
    let mut cmd = Command::new("auditd");
    cmd.args(["-n", "-s", "nochange", "-c"]).arg(dir);
    let mut d = Daemon::spawn("auditd", cmd, Some(dir.join("auditd.stderr")));
    let pid = d.pid();
    wait_for(
        "auditd to hold the audit pid",
        Duration::from_secs(10),
        || {
            assert!(d.exited().is_none(), "auditd exited at start: {}", d.log());
            audit_pid() == pid
        },
    );
    (d, log)
}

/// CPU seconds (utime + stime, all threads, children excluded) from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the `(comm)`, which may itself hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').expect("stat has (comm)").1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// Lines of an NDJSON file, parsed (a torn last line is skipped).
pub fn ndjson(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `a.b.c` in a JSON document.
pub fn get<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    path.split('.').fold(v, |v, p| &v[p])
}
