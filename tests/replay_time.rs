//! Replay lets stream time reach the rules: a sequence whose last stage is a missing event
//! (`![...]`) completes once its window has passed in the log, even when no later event is
//! one the rule looks at.

use std::process::Command;

const RULE: &str = r#"[rule]
rule_id = "aw-test-missing-tail"
name = "First without a second"
description = "test"
type = "eql"
language = "eql"
index = ["auditbeat-*"]
severity = "low"
risk_score = 21
query = '''
sequence by host.id with maxspan=2s
  [process where event.action == "executed" and process.name == "aw-first"]
  ![process where event.action == "executed" and process.name == "aw-second"]
'''
"#;

fn exec(ts: &str, pid: u32, name: &str) -> String {
    format!(
        "type=SYSCALL msg=audit({ts}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"{name}\" exe=\"/usr/bin/{name}\" key=(null)\n\
         type=EXECVE msg=audit({ts}): argc=1 a0=\"{name}\"\n\
         type=EOE msg=audit({ts}): \n"
    )
}

#[test]
fn trailing_missing_event_sequence_completes_with_stream_time() {
    let dir = std::env::temp_dir().join(format!("aw-replay-time-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/rule.toml"), RULE).unwrap();
    // aw-first, then only unrelated activity, 10 s later: the 2 s window closed without aw-second.
    let log = exec("1700000000.000:1", 100, "aw-first")
        + &exec("1700000010.000:2", 101, "unrelated")
        + &exec("1700000011.000:3", 102, "unrelated");
    std::fs::write(dir.join("a.log"), log).unwrap();
    // The near miss: aw-second follows within the window.
    let log = exec("1700000000.000:1", 100, "aw-first")
        + &exec("1700000001.000:2", 101, "aw-second")
        + &exec("1700000011.000:3", 102, "unrelated");
    std::fs::write(dir.join("b.log"), log).unwrap();
    let run = |log: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_auditwatch"))
            .arg("replay")
            .arg("--rules")
            .arg(dir.join("rules"))
            .arg(dir.join(log))
            .output()
            .expect("replay runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("aw-test-missing-tail"))
            .count()
    };
    assert_eq!(
        run("a.log"),
        1,
        "the window ran out without the second event"
    );
    assert_eq!(run("b.log"), 0, "the second event came in time");
    let _ = std::fs::remove_dir_all(&dir);
}
