//! Real-kernel tests of the audit netlink client, socket modes and kernel session. Each test
//! holds `common::kernel::kernel_guard()` (machine-wide lock + snapshot/restore) throughout.

mod common;

use std::process::Command;

use auditwatch::kernel::netlink::AuditClient;
use auditwatch::kernel::status::StatusUpdate;
use common::kernel::kernel_guard;

/// `struct audit_rule_data` for `-a always,exit -F arch=b64 -S <syscalls> -k <key>`, by hand.
fn exit_rule(syscalls: &[u32], key: &str) -> Vec<u8> {
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
    for w in [AUDIT_FILTER_EXIT, AUDIT_ALWAYS, 2]
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

const SYS_GETPPID: u32 = 110;
const SYS_EXECVE: u32 = 59;

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn auditctl_status() -> Vec<(String, String)> {
    auditctl(&["-s"])
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        })
        .filter(|(k, _)| {
            [
                "enabled",
                "failure",
                "pid",
                "rate_limit",
                "backlog_limit",
                "backlog_wait_time",
            ]
            .contains(&k.as_str())
        })
        .collect()
}

#[test]
fn status_get_set_round_trip() {
    let _g = kernel_guard();
    let mut c = AuditClient::open().unwrap();
    let before = c.get_status().unwrap();
    assert!(
        before.backlog_wait_time.is_some(),
        "6.x kernel sends the full struct"
    );
    assert_eq!(
        before.pid.to_string(),
        auditctl_status()
            .iter()
            .find(|(k, _)| k == "pid")
            .unwrap()
            .1
    );

    let want = StatusUpdate {
        enabled: Some(1),
        failure: Some(0),
        rate_limit: Some(1234),
        backlog_limit: Some(4321),
        backlog_wait_time: Some(5000),
        ..Default::default()
    };
    c.set_status(&want).unwrap();
    let after = c.get_status().unwrap();
    assert_eq!(
        (
            after.enabled,
            after.failure,
            after.rate_limit,
            after.backlog_limit
        ),
        (1, 0, 1234, 4321)
    );
    assert_eq!(after.backlog_wait_time, Some(5000));
    let s = auditctl_status();
    for (k, v) in [
        ("enabled", "1"),
        ("failure", "0"),
        ("rate_limit", "1234"),
        ("backlog_limit", "4321"),
        ("backlog_wait_time", "5000"),
    ] {
        assert_eq!(
            s.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()),
            Some(v),
            "{k}"
        );
    }
    // Single-field setters change only their field.
    c.set_rate_limit(77).unwrap();
    let s2 = c.get_status().unwrap();
    assert_eq!((s2.rate_limit, s2.backlog_limit), (77, 4321));

    // A bad value is refused with a named errno (failure mode must be 0..=2).
    let err = c.set_failure(9).unwrap_err();
    assert!(err.to_string().contains("EINVAL"), "{err}");
}

#[test]
fn list_add_delete_rule() {
    let _g = kernel_guard();
    let mut c = AuditClient::open().unwrap();
    c.delete_all_rules().unwrap();
    assert!(c.list_rules().unwrap().is_empty());

    let rule = exit_rule(&[SYS_GETPPID], "aw-test-x");
    c.add_rule(&rule).unwrap();
    let listed = auditctl(&["-l"]);
    assert_eq!(
        listed.trim(),
        "-a always,exit -F arch=b64 -S getppid -F key=aw-test-x"
    );
    let rules = c.list_rules().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0][..12],
        rule[..12],
        "flags/action/field_count round-trip"
    );

    // Adding it again: EEXIST, named.
    let err = c.add_rule(&rule).unwrap_err();
    assert!(err.to_string().contains("EEXIST"), "{err}");

    // A rule added with auditctl lists alongside ours, in kernel order.
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getpid",
        "-k",
        "aw-test-y",
    ]);
    let rules = c.list_rules().unwrap();
    assert_eq!(rules.len(), 2);

    // Deleting with the listed bytes works; deleting twice is ENOENT.
    c.delete_rule(&rules[1]).unwrap();
    c.delete_rule(&rule).unwrap();
    assert_eq!(auditctl(&["-l"]).trim(), "No rules");
    let err = c.delete_rule(&rule).unwrap_err();
    assert!(err.to_string().contains("ENOENT"), "{err}");
}
