//! CPU cost of the live sensor per exec event, against Debian's auditd, on the real kernel (root).
//!
//! Both read the same stream in the same run: auditd holds the audit pid (unicast) and writes its
//! RAW log; `auditwatch run --socket-type multicast` (bundled detections, every event as NDJSON
//! to a file) reads beside it. The bundled kernel rules are loaded first. The load: 1000
//! `fork`+`exec` of `/bin/true` a second for 15 s, paced by this program. Measured: utime+stime
//! of each daemon (all threads, children excluded) from /proc/PID/stat over the load and the
//! drain after it, divided by the `/bin/true` execs each one recorded.
//! Target: auditwatch ≤ auditd CPU per event.
//!
//! Runs only under `cargo bench` (which passes `--bench`); `cargo test` just prints a note.

#[path = "../tests/common/kernel.rs"]
mod kernel;
#[path = "../tests/common/live.rs"]
mod live;

use live::{cpu_seconds, get, wait_for, Daemon, TempDir};
use std::ffi::CString;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_auditwatch");
const RATE_PER_S: u64 = 1000;
const SECONDS: u64 = 15;

/// fork + execv("/bin/true") at `RATE_PER_S` for `SECONDS`; returns (execs, seconds taken).
fn exec_load() -> (u64, f64) {
    let path = CString::new("/bin/true").unwrap();
    let argv = [path.as_ptr(), std::ptr::null()];
    let total = RATE_PER_S * SECONDS;
    let start = Instant::now();
    let mut outstanding = 0u64;
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / RATE_PER_S);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // SAFETY: the child only calls execv and _exit (async-signal-safe) on data prepared above.
        match unsafe { libc::fork() } {
            0 => unsafe {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            },
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            _ => outstanding += 1,
        }
        // Reap whatever finished, without waiting.
        while outstanding > 0
            && unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0
        {
            outstanding -= 1;
        }
    }
    while outstanding > 0 && unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {
        outstanding -= 1;
    }
    (total, start.elapsed().as_secs_f64())
}

/// Waits until neither daemon used CPU for a second (the load drained), at most 30 s.
fn wait_idle(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let now: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
        if now.iter().zip(&last).all(|(n, l)| n - l < 0.011) {
            return;
        }
        last = now;
    }
    eprintln!("warning: the daemons were still busy 30 s after the load");
}

fn is_true(exe: &str) -> bool {
    exe == "/usr/bin/true" || exe == "/bin/true"
}

/// (execs of /bin/true, all events) in auditd's RAW log: one SYSCALL record per event.
fn count_auditd(log: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut execs = 0;
    let mut events = 0;
    for line in text.lines().filter(|l| l.starts_with("type=SYSCALL ")) {
        events += 1;
        if line.contains(" syscall=59 ")
            && (line.contains(" exe=\"/usr/bin/true\"") || line.contains(" exe=\"/bin/true\""))
        {
            execs += 1;
        }
    }
    (execs, events)
}

/// (execs of /bin/true, all events) in auditwatch's NDJSON events (rotated files included).
fn count_auditwatch(events: &Path) -> (u64, u64) {
    let mut all = live::ndjson(events);
    for n in 1..=16 {
        all.extend(live::ndjson(Path::new(&format!(
            "{}.{n}",
            events.display()
        ))));
    }
    let execs = all
        .iter()
        .filter(|e| {
            get(e, "event.action") == "executed"
                && get(e, "process.executable").as_str().is_some_and(is_true)
        })
        .count();
    (execs as u64, all.len() as u64)
}

fn kernel_lost() -> u64 {
    live::audit_status()
        .get("lost")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cost: real-kernel CPU benchmark (root); run it with `cargo bench --bench cost`");
        return;
    }
    let _guard = kernel::kernel_guard();
    let pid = live::audit_pid();
    assert!(
        pid == 0 || !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} holds the audit pid; stop it first"
    );
    let dir = TempDir::new("bench-cost");

    live::auditctl(&["-D"]);
    let out = Command::new(BIN)
        .args(["audit-rules", "load"])
        .output()
        .expect("audit-rules load runs");
    assert!(
        out.status.success(),
        "audit-rules load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = live::audit_rules().len();

    let (mut auditd, auditd_log) = live::start_auditd(&dir.0, "RAW");
    let conf = dir.path("auditwatch.toml");
    // One events file (no rotation) keeps the run comparable to auditd's single log.
    std::fs::write(&conf, "[output.events]\nmax_size_mb = 4096\n").unwrap();
    let events = dir.path("events.ndjson");
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(&conf)
        .arg("--state-dir")
        .arg(dir.path("state"))
        .args(["--socket-type", "multicast", "--events"])
        .arg(&events)
        .arg("--alerts")
        .arg(dir.path("alerts.ndjson"));
    let mut aw = Daemon::spawn("auditwatch run", cmd, Some(dir.path("run.log")));
    wait_for(
        "auditwatch run to be running",
        Duration::from_secs(30),
        || {
            assert!(
                aw.exited().is_none(),
                "auditwatch run exited at start:\n{}",
                aw.log()
            );
            aw.log().contains("auditwatch running")
        },
    );
    let pids = [aw.pid(), auditd.pid()];
    wait_idle(&pids);

    let lost_before = kernel_lost();
    let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    let (execs, took) = exec_load();
    wait_idle(&pids);
    // The reassembler holds the last event until its timeout; let it go before counting.
    std::thread::sleep(Duration::from_secs(3));
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(p, b)| cpu_seconds(*p) - b)
        .collect();
    let lost = kernel_lost() - lost_before;

    let status = std::fs::read_to_string(dir.path("state/status.json")).unwrap_or_default();
    aw.stop();
    auditd.stop();
    let (aw_execs, aw_events) = count_auditwatch(&events);
    let (ad_execs, ad_events) = count_auditd(&auditd_log);

    let per = |cpu: f64, n: u64| cpu / n.max(1) as f64 * 1e6;
    let (aw_us, ad_us) = (per(cpu[0], aw_execs), per(cpu[1], ad_execs));
    println!("cost: {execs} fork+exec of /bin/true in {took:.1} s ({:.0}/s), {rules} kernel rules, kernel lost {lost}", execs as f64 / took);
    println!("  auditwatch run: {:.2} CPU s, {aw_execs} exec events ({aw_events} events), {aw_us:.1} µs CPU per exec event", cpu[0]);
    println!("  auditd (RAW):   {:.2} CPU s, {ad_execs} exec events ({ad_events} events), {ad_us:.1} µs CPU per exec event", cpu[1]);
    println!(
        "  ratio auditwatch/auditd: {:.2} per exec event",
        aw_us / ad_us
    );
    println!(
        "  target (auditwatch ≤ auditd CPU per event): {}",
        if aw_us <= ad_us { "met" } else { "NOT met" }
    );
    println!("  auditwatch status at the end: {status}");
    if aw_execs * 100 < execs * 95 || ad_execs * 100 < execs * 95 {
        println!("  warning: a side saw fewer than 95% of the execs");
    }
}
