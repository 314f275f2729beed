//! Real-kernel tests of the audit netlink client, socket modes, reader and kernel session. Each
//! test holds `common::kernel::kernel_guard()` (machine-wide lock + snapshot/restore) throughout.

mod common;
mod kernel_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use auditwatch::kernel::netlink::AuditClient;
use auditwatch::kernel::session::{ActiveMode, KernelSession, KernelSettings, SocketMode};
use auditwatch::kernel::status::StatusUpdate;
use auditwatch::source::netlink::{NetlinkReader, ReaderConfig};
use common::kernel::kernel_guard;
use crossbeam_channel::Receiver;
use kernel_support::*;

const AUDIT_EXECVE: u16 = 1309;

type Raw = (u16, Vec<u8>);

fn raw_reader(
    session: &mut KernelSession,
    config: ReaderConfig,
) -> (NetlinkReader, Receiver<Vec<Raw>>) {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let stream = session.take_events().expect("event stream");
    let reader = NetlinkReader::spawn_with(stream, config, tx, |t, p: &[u8]| {
        Ok::<_, String>((t, p.to_vec()))
    })
    .unwrap();
    (reader, rx)
}

fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("aw-marker-{tag}-{}-{nanos}", std::process::id())
}

/// Runs `/bin/true MARKER` until an EXECVE record carrying the marker arrives (re-running covers
/// the moment between our socket opening and the first event).
fn see_marker_exec(rx: &Receiver<Vec<Raw>>, marker: &str) -> Vec<u8> {
    let needle = format!("a1=\"{marker}\"");
    let start = Instant::now();
    let mut last_run = None::<Instant>;
    while start.elapsed() < Duration::from_secs(10) {
        if last_run.map_or(true, |t| t.elapsed() > Duration::from_secs(1)) {
            assert!(Command::new("/bin/true")
                .arg(marker)
                .status()
                .unwrap()
                .success());
            last_run = Some(Instant::now());
        }
        if let Ok(batch) = rx.recv_timeout(Duration::from_millis(100)) {
            for (t, payload) in batch {
                if t == AUDIT_EXECVE && memchr::memmem::find(&payload, needle.as_bytes()).is_some()
                {
                    return payload;
                }
            }
        }
    }
    panic!("no EXECVE with {needle} within 10 s");
}

fn execve_rule_settings(mode: SocketMode, key: &str) -> KernelSettings {
    KernelSettings {
        mode,
        enabled: Some(1),
        rules: vec![exit_rule(&[SYS_EXECVE], key)],
        lock_path: None,
        ..Default::default()
    }
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
    assert!(before.backlog_wait_time_actual.is_some());
    let pid_line = auditctl_settings()
        .into_iter()
        .find(|(k, _)| k == "pid")
        .unwrap();
    assert_eq!(before.pid.to_string(), pid_line.1);

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
    let s = auditctl_settings();
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
    c.set_status(&StatusUpdate {
        reset_lost: true,
        ..Default::default()
    })
    .unwrap();

    // A bad value is refused with a named errno (failure mode must be 0..=2).
    let err = c.set_failure(9).unwrap_err();
    assert!(err.to_string().contains("EINVAL"), "{err}");
    // Registering someone else's pid is refused by the kernel.
    let err = c.set_pid(1).unwrap_err();
    assert!(
        err.to_string().contains("EINVAL") || err.to_string().contains("EEXIST"),
        "{err}"
    );
}

#[test]
fn list_add_delete_rule() {
    let _g = kernel_guard();
    let mut c = AuditClient::open().unwrap();
    c.delete_all_rules().unwrap();
    assert!(c.list_rules().unwrap().is_empty());

    let rule = exit_rule(&[SYS_GETPPID], "aw-test-x");
    c.add_rule(&rule).unwrap();
    assert_eq!(
        auditctl(&["-l"]).trim(),
        "-a always,exit -F arch=b64 -S getppid -F key=aw-test-x"
    );
    let rules = c.list_rules().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0][..12],
        rule[..12],
        "flags/action/field_count round-trip"
    );

    let err = c.add_rule(&rule).unwrap_err();
    assert!(err.to_string().contains("EEXIST"), "{err}");

    // A rule added by auditctl lists after ours, in kernel order.
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
    assert!(memchr::memmem::find(&rules[1], b"aw-test-y").is_some());

    // Deleting with the listed bytes works; deleting twice is ENOENT.
    c.delete_rule(&rules[1]).unwrap();
    c.delete_rule(&rule).unwrap();
    assert_eq!(auditctl(&["-l"]).trim(), "No rules");
    let err = c.delete_rule(&rule).unwrap_err();
    assert!(err.to_string().contains("ENOENT"), "{err}");
}

#[test]
fn unicast_session_reads_marker_exec_and_restores() {
    let _g = kernel_guard();
    let settings_before = auditctl_settings();
    let rules_before = auditctl(&["-l"]);

    let mut session =
        KernelSession::start(execve_rule_settings(SocketMode::Unicast, "aw-exec")).unwrap();
    assert_eq!(session.mode(), ActiveMode::Unicast);
    assert_eq!(audit_pid(), std::process::id(), "we hold the audit pid");
    assert!(auditctl(&["-l"]).contains("-S execve -F key=aw-exec"));

    let (reader, rx) = raw_reader(&mut session, ReaderConfig::default());
    let m = marker("unicast");
    let execve = see_marker_exec(&rx, &m);
    assert!(String::from_utf8_lossy(&execve).contains("a0=\"/bin/true\""));
    let stats = reader.stats().snapshot();
    assert!(
        stats.received > 0 && stats.bytes > 0 && stats.batches > 0,
        "{stats}"
    );
    assert_eq!(stats.parse_errors, 0);
    assert!(
        stats.rcvbuf_bytes >= 8 << 20,
        "SO_RCVBUFFORCE as root: {stats}"
    );

    let t = Instant::now();
    reader.stop();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "reader stops promptly"
    );
    session.restore().unwrap();
    assert_eq!(auditctl_settings(), settings_before);
    assert_eq!(auditctl(&["-l"]), rules_before);
}

#[test]
fn session_restore_is_exact_with_and_without_replace() {
    let _g = kernel_guard();
    auditctl(&["-D"]);
    auditctl(&[
        "-e",
        "0",
        "-f",
        "1",
        "-r",
        "55",
        "-b",
        "333",
        "--backlog_wait_time",
        "6000",
    ]);
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getpid",
        "-k",
        "aw-pre-1",
    ]);
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getuid",
        "-k",
        "aw-pre-2",
    ]);
    let settings_before = auditctl_settings();
    let rules_before = auditctl(&["-l"]);
    assert_eq!(rules_before.lines().count(), 2);

    for replace in [false, true] {
        let settings = KernelSettings {
            mode: SocketMode::Unicast,
            enabled: Some(1),
            failure: Some(0),
            rate_limit: Some(1000),
            backlog_limit: Some(8192),
            backlog_wait_time: Some(1000),
            // One new rule, one already loaded (must not be deleted on restore).
            rules: vec![exit_rule(&[SYS_GETPPID], "aw-own")],
            replace_rules: replace,
            lock_path: None,
        };
        let session = KernelSession::start(settings).unwrap();
        let s = auditctl_settings();
        let get = |k: &str| s.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(
            (get("enabled"), get("failure"), get("rate_limit")),
            ("1".into(), "0".into(), "1000".into())
        );
        assert_eq!(
            (get("backlog_limit"), get("backlog_wait_time")),
            ("8192".into(), "1000".into())
        );
        assert_eq!(get("pid"), std::process::id().to_string());
        let during = auditctl(&["-l"]);
        assert!(during.contains("key=aw-own"));
        assert_eq!(
            during.contains("aw-pre-1"),
            !replace,
            "replace_rules={replace}: {during}"
        );
        if replace {
            session.restore().unwrap();
        } else {
            drop(session); // Drop restores too
        }
        assert_eq!(auditctl_settings(), settings_before, "replace={replace}");
        assert_eq!(auditctl(&["-l"]), rules_before, "replace={replace}");
    }

    // A rule that was already loaded is left in place on restore.
    let pre = KernelSettings {
        rules: vec![exit_rule(&[SYS_GETPPID], "aw-own")],
        mode: SocketMode::Multicast,
        lock_path: None,
        ..Default::default()
    };
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "getppid",
        "-k",
        "aw-own",
    ]);
    let with_own = auditctl(&["-l"]);
    KernelSession::start(pre).unwrap().restore().unwrap();
    assert_eq!(auditctl(&["-l"]), with_own);
}

#[test]
fn auto_mode_and_multicast_beside_auditd() {
    let _g = kernel_guard();
    auditctl(&["-D"]);

    // Nobody holds the pid: auto → unicast.
    let s = KernelSession::start(execve_rule_settings(SocketMode::Auto, "aw-auto")).unwrap();
    assert_eq!(s.mode(), ActiveMode::Unicast, "{}", s.mode_note());
    assert!(s.pid_holder().is_none());
    s.restore().unwrap();
    assert_eq!(audit_pid(), 0);

    let auditd = Auditd::start("multicast");
    let settings_with_auditd = auditctl_settings();

    // Unicast is refused, naming the holder.
    let err = KernelSession::start(execve_rule_settings(SocketMode::Unicast, "aw-uni"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("pid {} (auditd", auditd.pid)) && err.contains("/usr/sbin/auditd"),
        "{err}"
    );

    // auto → multicast, naming auditd.
    let mut s = KernelSession::start(execve_rule_settings(SocketMode::Auto, "aw-mc")).unwrap();
    assert_eq!(s.mode(), ActiveMode::Multicast);
    let holder = s.pid_holder().unwrap().clone();
    assert_eq!(
        (holder.pid, holder.comm.as_deref()),
        (auditd.pid, Some("auditd"))
    );
    assert!(
        s.mode_note().contains("auditd") && s.mode_note().contains("/usr/sbin/auditd"),
        "{}",
        s.mode_note()
    );

    let (reader, rx) = raw_reader(&mut s, ReaderConfig::default());
    let m = marker("multicast");
    see_marker_exec(&rx, &m);
    assert_eq!(
        audit_pid(),
        auditd.pid,
        "auditd keeps the pid while we read beside it"
    );
    reader.stop();
    s.restore().unwrap();
    assert_eq!(auditctl_settings(), settings_with_auditd);
    assert!(auditctl(&["-l"]).trim() == "No rules");

    // Explicit multicast works the same way; auditd got the marker too.
    let mut s =
        KernelSession::start(execve_rule_settings(SocketMode::Multicast, "aw-mc2")).unwrap();
    let (reader, rx) = raw_reader(&mut s, ReaderConfig::default());
    let m2 = marker("multicast2");
    see_marker_exec(&rx, &m2);
    reader.stop();
    s.restore().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        auditd.log().contains(&m2),
        "auditd logged the marker as well"
    );
    drop(auditd);
    assert_eq!(audit_pid(), 0);
}

/// Not a test by itself: the body of the helper process `second_auditwatch_is_refused` starts
/// (this binary copied to a file named `auditwatch`). Holds the audit pid until killed.
#[test]
#[ignore]
fn helper_hold_unicast() {
    let Ok(ready) = std::env::var("AW_HELPER_READY") else {
        return;
    };
    let mut c = AuditClient::open().unwrap();
    c.register_self().unwrap();
    std::fs::write(ready, std::process::id().to_string()).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        // Keep reading so the kernel never sees us as stuck.
        // SAFETY: recv into our buffer.
        unsafe {
            libc::recv(
                std::os::unix::io::AsRawFd::as_raw_fd(c.socket()),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
            )
        };
    }
}

#[test]
fn second_auditwatch_is_refused() {
    let _g = kernel_guard();
    let dir = std::env::temp_dir().join(format!("aw-second-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("auditwatch");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let ready = dir.join("ready");
    let mut child = Command::new(&exe)
        .args([
            "--exact",
            "helper_hold_unicast",
            "--ignored",
            "--test-threads",
            "1",
        ])
        .env("AW_HELPER_READY", &ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "helper did not register"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(audit_pid(), child.id());

    for mode in [SocketMode::Unicast, SocketMode::Auto, SocketMode::Multicast] {
        let err = KernelSession::start(execve_rule_settings(mode, "aw-second"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another auditwatch already reads"),
            "{mode:?}: {err}"
        );
        assert!(
            err.contains(&format!("pid {} (auditwatch", child.id())),
            "{err}"
        );
    }
    // The kernel itself refuses a second registration.
    let err = AuditClient::open()
        .unwrap()
        .register_self()
        .unwrap_err()
        .to_string();
    assert!(err.contains("EEXIST"), "{err}");

    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel frees the pid once the holder's socket is gone (it notices on its next send).
    let start = Instant::now();
    while audit_pid() != 0 && start.elapsed() < Duration::from_secs(5) {
        let _ = Command::new("/bin/true").status();
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = KernelSession::start(execve_rule_settings(SocketMode::Unicast, "aw-after")).unwrap();
    assert_eq!(s.mode(), ActiveMode::Unicast);
    s.restore().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lock_file_refuses_second_run() {
    let _g = kernel_guard();
    let lock: PathBuf = std::env::temp_dir().join(format!("aw-run-{}.lock", std::process::id()));
    let settings = KernelSettings {
        mode: SocketMode::Multicast,
        lock_path: Some(lock.clone()),
        ..Default::default()
    };
    let first = KernelSession::start(settings.clone()).unwrap();
    let err = KernelSession::start(settings.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another auditwatch is already running")
            && err.contains(&lock.display().to_string()),
        "{err}"
    );
    first.restore().unwrap();
    KernelSession::start(settings).unwrap().restore().unwrap();
    let _ = std::fs::remove_file(&lock);
}

#[test]
fn full_channel_blocks_then_drops_and_counts() {
    let _g = kernel_guard();
    let settings = KernelSettings {
        mode: SocketMode::Unicast,
        rules: vec![exit_rule(&[SYS_GETPPID], "aw-full")],
        lock_path: None,
        ..Default::default()
    };
    let mut session = KernelSession::start(settings).unwrap();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Raw>>(1);
    let config = ReaderConfig {
        channel_block: Duration::from_millis(20),
        batch_max: 16,
        ..Default::default()
    };
    let reader =
        NetlinkReader::spawn_with(session.take_events().unwrap(), config, tx, |t, p: &[u8]| {
            Ok::<_, String>((t, p.to_vec()))
        })
        .unwrap();
    // Nobody reads `rx`: the first batch fills the channel, later ones are dropped.
    getppid_storm(3000);
    let start = Instant::now();
    while reader.stats().snapshot().dropped_channel_full == 0
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = reader.stats().snapshot();
    assert!(stats.dropped_channel_full > 0, "{stats}");
    assert_eq!(rx.len(), 1, "channel holds exactly its bound");
    let t = Instant::now();
    reader.stop();
    assert!(t.elapsed() < Duration::from_secs(2));
    session.restore().unwrap();
}
