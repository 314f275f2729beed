//! `auditwatch run` end to end on the real kernel (root): what it sees, what it changes in the
//! kernel while it runs, and that it puts everything back — on SIGTERM, beside auditd, with a
//! second instance refused, after SIGKILL, and driven by its config file.

mod common;
#[path = "common/live.rs"]
mod live;

use live::{
    audit_pid, audit_rules, audit_settings, auditctl, get, ndjson, wait_for, Daemon, TempDir,
};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_auditwatch");
const LOCK: &str = "/run/auditwatch.lock";

fn marker() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("aw-marker-{:x}", n ^ (std::process::id() as u128) << 64)
}

/// No process may hold the audit pid when a unicast test starts.
fn assert_no_audit_daemon() {
    let pid = audit_pid();
    assert!(
        pid == 0 || !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} holds the audit pid; stop it (auditd?) before the tests"
    );
}

/// `auditwatch run --config EMPTY --state-dir DIR ARGS`, started and ready (its "running" line
/// logged), stderr in `dir/NAME.log`.
fn start_run(dir: &TempDir, name: &str, args: &[&str]) -> Daemon {
    let conf = dir.path("empty.toml");
    if !conf.exists() {
        std::fs::write(&conf, "").unwrap();
    }
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(&conf)
        .arg("--state-dir")
        .arg(dir.path("state"))
        .args(args);
    start(cmd, dir.path(&format!("{name}.log")))
}

fn start(mut cmd: Command, log: PathBuf) -> Daemon {
    cmd.env("AUDITWATCH_LOG", "info");
    let mut d = Daemon::spawn("auditwatch run", cmd, Some(log));
    wait_for(
        "auditwatch run to be running",
        Duration::from_secs(30),
        || {
            if let Some(st) = d.exited() {
                panic!("auditwatch run exited ({st}) at start:\n{}", d.log());
            }
            d.log().contains("auditwatch running")
        },
    );
    d
}

/// Waits for an `executed` event of `/bin/echo MARKER` in the events file and returns it.
fn wait_for_exec(events: &Path, marker: &str) -> serde_json::Value {
    let mut found = None;
    let mut last_run: Option<Instant> = None;
    wait_for(
        &format!("an executed event with {marker} in {}", events.display()),
        Duration::from_secs(20),
        || {
            // One exec is enough; another every 2 s keeps a slow start from losing the test.
            if last_run.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                last_run = Some(Instant::now());
                let out = Command::new("/bin/echo")
                    .arg(marker)
                    .output()
                    .expect("echo runs");
                assert!(out.status.success());
            }
            found = ndjson(events).into_iter().find(|e| {
                get(e, "event.action") == "executed"
                    && get(e, "process.args")
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == marker))
            });
            found.is_some()
        },
    );
    found.unwrap()
}

fn status_json(state: &Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("status")
        .arg("--state-dir")
        .arg(state)
        .arg("--json")
        .output()
        .expect("status runs");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

fn stop_ok(d: &mut Daemon) {
    let st = d
        .stop()
        .unwrap_or_else(|| panic!("auditwatch run did not stop on SIGTERM:\n{}", d.log()));
    assert!(
        st.success(),
        "auditwatch run exited with {st} on SIGTERM:\n{}",
        d.log()
    );
}

/// Distinctive settings and one rule of our own, so a restore that merely resets to defaults fails.
fn distinctive_kernel_state() {
    auditctl(&["-D"]);
    auditctl(&[
        "-b",
        "1234",
        "-r",
        "777",
        "-f",
        "1",
        "--backlog_wait_time",
        "15000",
    ]);
    auditctl(&["-e", "0"]);
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getppid",
        "-k",
        "pre-existing",
    ]);
}

/// How many rules the bundled kernel rule files hold (`audit-rules check` says "N rules, ...").
/// Whether this kernel was booted with `audit=1` (auditwatch then has nothing to warn about).
fn booted_with_audit() -> bool {
    std::fs::read_to_string("/proc/cmdline")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "audit=1"))
}

fn bundled_rule_count() -> usize {
    let out = Command::new(BIN)
        .args(["audit-rules", "check"])
        .output()
        .expect("audit-rules check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("audit-rules check said {text:?}"))
}

#[test]
fn unicast_sees_an_exec_and_counts_it() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    // Audit off at start: the log says what that means for processes already running.
    auditctl(&["-e", "0"]);
    let dir = TempDir::new("run-unicast");
    let events = dir.path("events.ndjson");
    let mut run = start_run(
        &dir,
        "run",
        &[
            "--socket-type",
            "unicast",
            "--events",
            events.to_str().unwrap(),
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    assert_eq!(
        audit_pid(),
        run.pid(),
        "unicast: auditwatch holds the audit pid"
    );
    assert_eq!(
        run.log().contains("audit was off when auditwatch started"),
        !booted_with_audit(),
        "the start warns about processes audit may not see:\n{}",
        run.log()
    );

    let marker = marker();
    let ev = wait_for_exec(&events, &marker);
    assert_eq!(
        get(&ev, "process.args"),
        &serde_json::json!(["/bin/echo", marker])
    );
    assert!(
        get(&ev, "process.executable")
            .as_str()
            .is_some_and(|x| x.ends_with("/echo")),
        "{ev}"
    );
    assert_eq!(get(&ev, "event.outcome"), "success");
    assert!(
        get(&ev, "process.pid").as_u64().is_some_and(|p| p > 0),
        "{ev}"
    );
    assert_eq!(get(&ev, "auditd.data.syscall"), "execve");

    // The status file is rewritten every 2 s.
    let state = dir.path("state");
    let mut status = serde_json::Value::Null;
    wait_for(
        "status to count the events",
        Duration::from_secs(10),
        || {
            status = status_json(&state);
            get(&status, "sensor.worker.events").as_u64().unwrap_or(0) > 0
        },
    );
    eprintln!("status: {status}");
    let s = &status["sensor"];
    assert_eq!(s["pid"], run.pid());
    assert_eq!(s["mode"], "unicast");
    assert_eq!(s["running"], true);
    for counter in [
        "reader.received",
        "reader.bytes",
        "reassembler.records",
        "reassembler.events",
        "worker.events",
    ] {
        assert!(
            get(s, counter).as_u64().unwrap_or(0) > 0,
            "{counter} > 0 in {s}"
        );
    }
    assert_eq!(get(s, "reader.parse_errors"), 0);
    assert_eq!(status["kernel"]["pid"], run.pid());
    stop_ok(&mut run);
    assert_eq!(
        status_json(&state)["sensor"]["running"],
        false,
        "the final status says stopped"
    );
}

#[test]
fn sigterm_restores_settings_and_rules_exactly() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    distinctive_kernel_state();
    let (settings_before, rules_before) = (audit_settings(), audit_rules());
    assert_eq!(settings_before["backlog_limit"], "1234");
    assert_eq!(settings_before["enabled"], "0");

    let dir = TempDir::new("run-restore");
    let mut run = start_run(
        &dir,
        "run",
        &[
            "--socket-type",
            "unicast",
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    let pid = run.pid().to_string();
    let running = audit_settings();
    assert_eq!(running["pid"], pid, "{running:?}");
    assert_eq!(running["enabled"], "1", "{running:?}");
    let rules = audit_rules();
    assert_eq!(
        rules[0],
        format!("-a never,exit -S all -F pid={pid} -F key=auditwatch-self"),
        "our own syscalls are excluded first: {rules:#?}"
    );
    for r in &rules_before {
        assert!(
            rules.contains(r),
            "the rule loaded before us stays while we run: {r}"
        );
    }
    assert_eq!(
        rules.len(),
        rules_before.len() + 1 + bundled_rule_count(),
        "{rules:#?}"
    );
    for key in ["apt_netcon", "udp_revshell", "so_change", "cron_change"] {
        assert!(
            rules
                .iter()
                .any(|r| r.contains(&format!("key={key}")) || r.contains(&format!("-k {key}"))),
            "a rule with key {key}: {rules:#?}"
        );
    }

    stop_ok(&mut run);
    assert_eq!(audit_settings(), settings_before, "settings after SIGTERM");
    assert_eq!(audit_rules(), rules_before, "rules after SIGTERM");
    assert!(
        run.log().contains("kernel state restored: yes"),
        "{}",
        run.log()
    );
}

#[test]
fn auto_reads_multicast_beside_auditd_and_leaves_it_alone() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    distinctive_kernel_state();
    let dir = TempDir::new("run-auto");
    let (mut auditd, _log) = live::start_auditd(&dir.0, "RAW");
    // Audit on, as auditd leaves it where its rules say so: no warning about unaudited
    // processes (the unicast test starts with it off).
    auditctl(&["-e", "1"]);
    let (settings_before, rules_before) = (audit_settings(), audit_rules());
    assert_eq!(settings_before["pid"], auditd.pid().to_string());

    let events = dir.path("events.ndjson");
    let mut run = start_run(
        &dir,
        "run",
        &[
            "--socket-type",
            "auto",
            "--events",
            events.to_str().unwrap(),
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    let log = run.log();
    let line = log
        .lines()
        .find(|l| l.contains("auditwatch running"))
        .unwrap();
    assert!(
        line.contains("auto → multicast")
            && line.contains("auditd")
            && line.contains(&format!("pid {}", auditd.pid())),
        "the start message names auditd: {line}"
    );
    assert_eq!(audit_pid(), auditd.pid(), "auditd keeps the audit pid");
    assert_eq!(
        log.contains("audit was off when auditwatch started"),
        settings_before["enabled"] == "0" && !booted_with_audit(),
        "the warning follows the enabled flag auditwatch found ({}):\n{log}",
        settings_before["enabled"]
    );
    assert!(
        audit_rules().len() > rules_before.len(),
        "our rules are loaded"
    );
    wait_for_exec(&events, &marker());

    stop_ok(&mut run);
    assert!(auditd.exited().is_none(), "auditd still runs");
    assert_eq!(
        audit_settings(),
        settings_before,
        "settings after SIGTERM (auditd still holds the pid)"
    );
    assert_eq!(audit_rules(), rules_before, "rules after SIGTERM");
    auditd.stop();
}

#[test]
fn a_second_instance_is_refused_at_once() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    let dir = TempDir::new("run-second");
    let mut first = start_run(
        &dir,
        "first",
        &[
            "--socket-type",
            "unicast",
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    let other = TempDir::new("run-second-other");
    // Same state directory (the usual case: both use the default) and a separate one.
    for (state, mode) in [
        (dir.path("state"), "auto"),
        (other.path("state"), "multicast"),
    ] {
        let started = Instant::now();
        let out = Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(dir.path("empty.toml"))
            .arg("--state-dir")
            .arg(&state)
            .args(["--socket-type", mode, "--alerts", "-"])
            .output()
            .expect("second run");
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "a second instance must fail ({mode}): {err}"
        );
        assert!(
            took < Duration::from_secs(5),
            "it fails quickly, took {took:?}"
        );
        assert!(
            err.contains("another auditwatch is already running") && err.contains(LOCK),
            "names the lock: {err}"
        );
        assert!(
            err.contains(&format!("pid {}", first.pid())),
            "names the first instance: {err}"
        );
        assert!(out.stdout.is_empty(), "no output from the refused instance");
    }
    assert!(first.exited().is_none(), "the first instance still runs");
    assert_eq!(audit_pid(), first.pid(), "and still holds the audit pid");
    stop_ok(&mut first);
}

#[test]
fn after_sigkill_the_kernel_is_usable_and_the_rules_removable() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    auditctl(&["-D"]);
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getppid",
        "-k",
        "pre-existing",
    ]);
    let rules_before = audit_rules();
    let dir = TempDir::new("run-sigkill");
    let mut killed = start_run(
        &dir,
        "killed",
        &[
            "--socket-type",
            "unicast",
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    let dead_pid = killed.pid();
    let st = killed
        .signal_and_wait(Signal::SIGKILL, Duration::from_secs(10))
        .expect("SIGKILL ends it");
    assert!(!st.success());

    // The kernel lets go of a dead audit daemon at its next send: make some audited activity.
    wait_for(
        "the kernel to free the audit pid",
        Duration::from_secs(10),
        || {
            let _ = Command::new("/bin/true").status();
            audit_pid() == 0
        },
    );
    let left = audit_rules();
    assert!(
        left.len() > rules_before.len(),
        "SIGKILL leaves our rules behind: {left:#?}"
    );
    assert!(
        left.iter().any(|r| r.contains(&format!("pid={dead_pid}"))),
        "and the self-exclusion of the dead pid"
    );

    // A new instance starts (after a SIGKILL, the lock is free too), removes the dead one's
    // self-exclusion, and sees events.
    let events = dir.path("events.ndjson");
    let mut again = start_run(
        &dir,
        "again",
        &[
            "--socket-type",
            "unicast",
            "--events",
            events.to_str().unwrap(),
            "--alerts",
            dir.path("alerts.ndjson").to_str().unwrap(),
        ],
    );
    assert_eq!(audit_pid(), again.pid());
    assert!(
        again.log().contains("removed 1 self-exclusion rule"),
        "{}",
        again.log()
    );
    let rules = audit_rules();
    assert!(
        !rules.iter().any(|r| r.contains(&format!("pid={dead_pid}"))),
        "stale self-exclusion removed: {rules:#?}"
    );
    wait_for_exec(&events, &marker());
    stop_ok(&mut again);
    assert_eq!(audit_pid(), 0);

    // What the killed instance loaded stays (the new one found it loaded, so it is not its to
    // remove); `audit-rules delete` removes exactly that.
    let out = Command::new(BIN)
        .args(["audit-rules", "delete"])
        .output()
        .expect("audit-rules delete runs");
    assert!(
        out.status.success(),
        "audit-rules delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        audit_rules(),
        rules_before,
        "after audit-rules delete only the rules from before remain"
    );
}

#[test]
fn config_file_is_honoured_and_flags_override_it() {
    let _guard = common::kernel::kernel_guard();
    assert_no_audit_daemon();
    let dir = TempDir::new("run-config");
    let conf_events = dir.path("from-config.ndjson");
    let conf = dir.path("auditwatch.toml");
    std::fs::write(
        &conf,
        format!(
            "[kernel]\nsocket_type = \"unicast\"\n\n[state]\ndir = \"{}\"\n\n[output.events]\npath = \"{}\"\n\n[output.alerts]\npath = \"{}\"\n",
            dir.path("state").display(),
            conf_events.display(),
            dir.path("alerts.ndjson").display()
        ),
    )
    .unwrap();

    // The config alone: unicast, events to its file, its state directory.
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg("--config").arg(&conf);
    let mut run = start(cmd, dir.path("config.log"));
    assert_eq!(
        audit_pid(),
        run.pid(),
        "socket_type = unicast from the config"
    );
    assert!(run.log().contains("mode=unicast"), "{}", run.log());
    wait_for_exec(&conf_events, &marker());
    wait_for(
        "the status file in the configured state dir",
        Duration::from_secs(10),
        || dir.path("state/status.json").exists(),
    );
    stop_ok(&mut run);

    // Flags win: multicast and another events file.
    let flag_events = dir.path("from-flag.ndjson");
    let before = std::fs::metadata(&conf_events).unwrap().len();
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(&conf)
        .args(["--socket-type", "multicast", "--events"])
        .arg(&flag_events);
    let mut run = start(cmd, dir.path("flags.log"));
    assert_eq!(
        audit_pid(),
        0,
        "--socket-type multicast overrides the config's unicast"
    );
    assert!(run.log().contains("mode=multicast"), "{}", run.log());
    wait_for_exec(&flag_events, &marker());
    stop_ok(&mut run);
    assert_eq!(
        std::fs::metadata(&conf_events).unwrap().len(),
        before,
        "--events overrides the config's events path"
    );
}
