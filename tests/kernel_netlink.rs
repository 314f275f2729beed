//! Real-kernel tests of the audit netlink client, socket modes, reader and kernel session. Each
//! test holds `common::kernel::kernel_guard()` (machine-wide lock + snapshot/restore) throughout.

mod common;
mod kernel_support;

use std::os::unix::io::AsRawFd;
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

/// A SYSCALL record of `getppid_storm`'s child (its parent is us), not of other processes
/// on the machine that happen to make the same syscall.
fn from_our_storm(syscall_record: &[u8]) -> bool {
    let needle = format!(" ppid={} ", std::process::id());
    memchr::memmem::find(syscall_record, needle.as_bytes()).is_some()
}

/// The serial in `audit(SECS.MS:SERIAL):`.
fn audit_seq(payload: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(payload.get(..64.min(payload.len()))?).ok()?;
    let colon = text.find(':')?;
    let close = text.find(')')?;
    text.get(colon + 1..close)?.parse().ok()
}

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
        if last_run.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
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
    // Counter resets answer with the old value (a positive ACK code, not an error).
    c.reset_lost().unwrap();
    c.reset_backlog_wait_time_actual().unwrap();
    let zeroed = c.get_status().unwrap();
    assert_eq!((zeroed.lost, zeroed.backlog_wait_time_actual), (0, Some(0)));
    let both = StatusUpdate {
        reset_lost: true,
        reset_backlog_wait_time_actual: true,
        ..Default::default()
    };
    c.set_status(&both).unwrap();

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

    let fast_poll = ReaderConfig {
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let (reader, rx) = raw_reader(&mut session, fast_poll);
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
    let start = Instant::now();
    while reader.stats().snapshot().kernel_pid == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let polled = reader.stats().snapshot();
    let expect = (std::process::id() as u64, 1);
    assert_eq!(
        (polled.kernel_pid, polled.kernel_enabled),
        expect,
        "kernel status polled"
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

#[test]
fn events_arriving_during_requests_are_queued_not_dropped() {
    let _g = kernel_guard();
    let mut control = AuditClient::open().unwrap();
    control.delete_all_rules().unwrap();
    control
        .add_rule(&exit_rule(&[SYS_GETPPID], "aw-queue"))
        .unwrap();
    control.set_enabled(1).unwrap();
    let mut events = AuditClient::open().unwrap();
    auditwatch::source::netlink::set_receive_buffer(events.socket().as_raw_fd(), 8 << 20).unwrap();
    events.register_self().unwrap();
    getppid_storm(500);
    // Events sit in the socket ahead of the replies; the requests must keep them, in order.
    let status = events.get_status().unwrap();
    assert_eq!(status.pid, std::process::id());
    assert_eq!(events.list_rules().unwrap().len(), 1);
    let keyed =
        |p: &[u8]| memchr::memmem::find(p, b"key=\"aw-queue\"").is_some() && from_our_storm(p);
    let pending = events.take_pending();
    let queued = pending
        .iter()
        .filter(|m| m.msg_type == 1300 && keyed(&m.payload))
        .count();
    assert!(
        queued > 0,
        "events that came before the reply are queued ({} messages)",
        pending.len()
    );
    let seqs: Vec<u64> = pending
        .iter()
        .filter_map(|m| audit_seq(&m.payload))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "queue keeps arrival order"
    );
    // The rest follow on the socket: together every event is there, none dropped.
    let mut rest = 0;
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    while queued + rest < 500 && start.elapsed() < Duration::from_secs(5) {
        // SAFETY: recv into our buffer.
        let n = unsafe {
            libc::recv(
                events.socket().as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        auditwatch::kernel::netlink::split_datagram(&buf[..n as usize], |t, _, p| {
            rest += usize::from(t == 1300 && keyed(p));
        });
    }
    assert_eq!(queued + rest, 500, "queued {queued} + later {rest}");
    assert_eq!(events.pending_dropped(), 0);
    events.set_pid(0).unwrap();
    assert_eq!(control.get_status().unwrap().pid, 0);
}

#[test]
fn reader_parses_records_that_assemble_into_the_exec_event() {
    use auditwatch::assemble::{Limits, Reassembler};
    use auditwatch::record::Record;
    let _g = kernel_guard();
    let mut session =
        KernelSession::start(execve_rule_settings(SocketMode::Unicast, "aw-parse")).unwrap();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Record>>(64);
    let reader =
        NetlinkReader::spawn(session.take_events().unwrap(), ReaderConfig::default(), tx).unwrap();
    let m = marker("parsed");
    let mut asm = Reassembler::new(Limits::default());
    let mut events = Vec::new();
    let start = Instant::now();
    let found = loop {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no assembled exec event with the marker"
        );
        if events.is_empty() {
            assert!(Command::new("/bin/true")
                .arg(&m)
                .status()
                .unwrap()
                .success());
        }
        let Ok(batch) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        for rec in batch {
            asm.push(rec, &mut events);
        }
        let hit = events.iter().find(|e| {
            e.records
                .iter()
                .any(|r| r.rtype() == AUDIT_EXECVE && r.get("a1").is_some_and(|a| a.decoded() == m))
        });
        if let Some(e) = hit {
            break e.clone();
        }
        events.clear();
    };
    let syscall = found
        .records
        .iter()
        .find(|r| r.rtype() == 1300)
        .expect("SYSCALL in the event");
    assert_eq!(
        syscall
            .get("key")
            .map(|k| k.decoded().into_owned())
            .as_deref(),
        Some("aw-parse")
    );
    assert_eq!(syscall.get("syscall").map(|s| s.raw), Some("59"));
    assert!(!found.incomplete, "EOE completes the event");
    assert_eq!(reader.stats().snapshot().parse_errors, 0);
    reader.stop();
    session.restore().unwrap();
}

#[test]
fn multicast_overflow_is_counted_as_enobufs() {
    use auditwatch::kernel::netlink::open_multicast_socket;
    use auditwatch::kernel::session::EventStream;
    let _g = kernel_guard();
    // We hold the pid (unicast reader drains normally); a second, multicast listener with a tiny
    // buffer and a consumer that never reads must overflow and count it.
    let settings = KernelSettings {
        mode: SocketMode::Unicast,
        rules: vec![exit_rule(&[SYS_GETPPID], "aw-enobufs")],
        lock_path: None,
        ..Default::default()
    };
    let mut session = KernelSession::start(settings).unwrap();
    let (main_reader, main_rx) = raw_reader(&mut session, ReaderConfig::default());
    let slow = EventStream {
        socket: open_multicast_socket().unwrap(),
        pending: Default::default(),
        mode: ActiveMode::Multicast,
    };
    let (tx, _never_read) = crossbeam_channel::bounded::<Vec<Raw>>(1);
    let config = ReaderConfig {
        rcvbuf_bytes: 4096,
        batch_max: 1,
        channel_block: Duration::from_secs(1),
        ..Default::default()
    };
    let slow_reader = NetlinkReader::spawn_with(slow, config, tx, |t, p: &[u8]| {
        Ok::<_, String>((t, p.to_vec()))
    })
    .unwrap();
    assert!(slow_reader.stats().snapshot().rcvbuf_bytes < 64 * 1024);
    getppid_storm(5000);
    let start = Instant::now();
    while slow_reader.stats().snapshot().enobufs == 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let slow_stats = slow_reader.stats().snapshot();
    assert!(slow_stats.enobufs > 0, "{slow_stats}");
    assert!(
        slow_stats.received < 15_000,
        "the slow listener lost records: {slow_stats}"
    );
    // The unicast reader lost nothing meanwhile.
    let mut keyed = 0;
    let start = Instant::now();
    while keyed < 5000 && start.elapsed() < Duration::from_secs(10) {
        if let Ok(batch) = main_rx.recv_timeout(Duration::from_millis(100)) {
            keyed += batch
                .iter()
                .filter(|(t, p)| {
                    *t == 1300
                        && memchr::memmem::find(p, b"key=\"aw-enobufs\"").is_some()
                        && from_our_storm(p)
                })
                .count();
        }
    }
    assert_eq!(keyed, 5000);
    assert_eq!(main_reader.stats().snapshot().enobufs, 0);
    slow_reader.stop();
    main_reader.stop();
    session.restore().unwrap();
}

#[test]
fn rules_compiled_by_kernel_rules_load_list_and_restore() {
    use auditwatch::kernel::rules::{decode, parse_line, Directive};
    let _g = kernel_guard();
    auditctl(&["-D"]);
    let lines = [
        "-a always,exit -F arch=b64 -S getppid -k aw-compiled",
        "-a always,exit -F arch=b64 -S execve -F exe=/bin/true -F key=aw-exe",
        "-a always,exit -F arch=b64 -S openat -F auid>=1000 -F auid!=-1 -k aw-auid",
        "-w /etc/passwd -p wa -k aw-watch",
    ];
    let rules: Vec<Vec<u8>> = lines
        .iter()
        .flat_map(|l| parse_line(l).unwrap())
        .map(|d| match d {
            Directive::Add(r) => r.to_bytes(),
            other => panic!("unexpected directive {other:?}"),
        })
        .collect();
    assert_eq!(rules.len(), lines.len());
    let settings = KernelSettings {
        mode: SocketMode::Unicast,
        rules: rules.clone(),
        lock_path: None,
        ..Default::default()
    };
    let mut session = KernelSession::start(settings).unwrap();
    let listed = session.control().list_rules().unwrap();
    assert_eq!(listed, rules, "the kernel lists back the compiled bytes");
    let by_auditctl: Vec<String> = auditctl(&["-l"]).lines().map(str::to_owned).collect();
    let by_decode: Vec<String> = listed.iter().map(|r| decode(r).unwrap()).collect();
    assert_eq!(by_decode, by_auditctl);
    session.restore().unwrap();
    assert_eq!(auditctl(&["-l"]).trim(), "No rules");
}
