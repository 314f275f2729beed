//! The live normaliser against this machine: the process table learned from `/proc`, names
//! from `/etc/passwd`, host identity from `/etc/machine-id`.

use auditwatch::assemble::{AuditEvent, Reassembler};
use auditwatch::ecs::{HostInfo, Normalizer};
use auditwatch::record::Record;
use std::process::Command;

fn event(line: &str) -> AuditEvent {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    r.push(
        Record::parse_log_line(line.as_bytes()).expect("line parses"),
        &mut out,
    );
    r.flush(&mut out);
    out.remove(0)
}

#[test]
fn live_table_links_events_to_running_processes() {
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let host = HostInfo::detect();
    let machine_id = host.id.clone();
    let mut n = Normalizer::live(host);
    let me = std::process::id();
    let kid = child.id();
    let sleep = n
        .processes()
        .get(kid)
        .cloned()
        .expect("child learned from /proc");
    assert_eq!(sleep.ppid, me);
    assert_eq!(
        sleep.args.as_deref().map(|a| a.to_vec()),
        Some(vec!["sleep".to_string(), "30".to_string()])
    );

    // An event of the child (a connect it did not really make) gets both entity ids.
    let exe = sleep
        .executable
        .as_deref()
        .unwrap_or("/usr/bin/sleep")
        .to_owned();
    let line = format!(
        "type=SYSCALL msg=audit(1700000000.000:1): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=0 a2=10 a3=0 items=0 ppid={me} pid={kid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"sleep\" exe=\"{exe}\" key=(null)"
    );
    let ev = n.normalize(&event(&line));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        ev.get_str("process.entity_id"),
        Some(sleep.entity_id.as_ref())
    );
    let parent = n.processes().get(me).expect("this test process is known");
    assert_eq!(
        ev.get_str("process.parent.entity_id"),
        Some(parent.entity_id.as_ref())
    );
    assert_eq!(ev.get_str("process.command_line"), Some("sleep 30"));
    assert!(ev.get_str("process.parent.executable").is_some());
    // Live mode resolves names from this host's accounts.
    assert_eq!(ev.get_str("user.name"), Some("root"));
    assert_eq!(ev.get_str("host.os.type"), Some("linux"));
    if !machine_id.is_empty() {
        assert_eq!(ev.get_str("host.id"), Some(machine_id.as_str()));
    }
}
