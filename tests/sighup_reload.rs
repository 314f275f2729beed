//! SIGHUP reloads the detection rules of a running `auditwatch run` (real kernel, root): a rule
//! added to the rules directory starts firing without a restart, and a sequence in progress
//! across the reload still completes.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENCE_RULE: &str = r#"[metadata]
creation_date = "2026/12/01"

[rule]
rule_id = "aw-test-hup-sequence"
name = "Test sequence across a reload"
description = "Two marked executions, in order."
type = "eql"
language = "eql"
index = ["auditbeat-*"]
severity = "low"
risk_score = 21
query = '''
sequence by host.id with maxspan=2m
  [process where event.action == "executed" and process.args == "aw-hup-stage1"]
  [process where event.action == "executed" and process.args == "aw-hup-stage2"]
'''
"#;

const NEW_RULE: &str = r#"[metadata]
creation_date = "2026/12/01"

[rule]
rule_id = "aw-test-hup-new"
name = "Test rule added while running"
description = "A marked execution."
type = "query"
language = "kuery"
index = ["auditbeat-*"]
severity = "low"
risk_score = 21
query = 'event.action:executed and process.args:aw-hup-new'
"#;

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count(path: &Path, rule: &str) -> usize {
    alerts(path)
        .iter()
        .filter(|a| a["rule"]["id"] == rule)
        .count()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn sighup_adds_rules_and_keeps_sequences_in_progress() {
    let _guard = common::kernel::kernel_guard();
    let work = std::env::temp_dir().join(format!("aw-hup-{}", std::process::id()));
    let rules = work.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("sequence.toml"), SEQUENCE_RULE).unwrap();
    let config = work.join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = work.join("alerts.ndjson");
    let log = std::fs::File::create(work.join("run.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_auditwatch"))
        .args(["run", "--socket-type", "auto", "--config"])
        .arg(&config)
        .arg("--rules")
        .arg(&rules)
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("--alerts")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("auditwatch run starts");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let run = Running(child);
    wait_for("the kernel rules", Duration::from_secs(20), || {
        let l = Command::new("auditctl").arg("-l").output().unwrap();
        String::from_utf8_lossy(&l.stdout).contains("execve")
    });
    std::thread::sleep(Duration::from_millis(500));

    // First stage before the reload.
    assert!(Command::new("/bin/echo")
        .arg("aw-hup-stage1")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(3));
    // The new rule before the reload: nothing may fire for it.
    assert!(Command::new("/bin/echo")
        .arg("aw-hup-new")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&out, "aw-test-hup-new"), 0, "not loaded yet");

    std::fs::write(rules.join("new.toml"), NEW_RULE).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_secs(2));

    assert!(Command::new("/bin/echo")
        .arg("aw-hup-stage2")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    assert!(Command::new("/bin/echo")
        .arg("aw-hup-new")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    wait_for("both alerts", Duration::from_secs(15), || {
        count(&out, "aw-test-hup-sequence") >= 1 && count(&out, "aw-test-hup-new") >= 1
    });
    drop(run);
    let log = std::fs::read_to_string(work.join("run.log")).unwrap_or_default();
    assert!(log.contains("SIGHUP"), "the reload is logged: {log}");
    assert_eq!(
        count(&out, "aw-test-hup-sequence"),
        1,
        "the sequence begun before the reload completed once"
    );
    assert_eq!(
        count(&out, "aw-test-hup-new"),
        1,
        "the new rule fired once, after the reload"
    );
    let _ = std::fs::remove_dir_all(&work);
}
