//! Alerts to a real rsyslog: RFC 5424 over UDP and TCP, RFC 3164 over UDP, an outage with the
//! spool, a full spool, a spool across sink restarts, and hostile argv.
//!
//! Each test re-runs itself inside a fresh network namespace (`unshare -n`), so its rsyslog
//! and traffic stay on a private loopback.

mod common;
use common::netns::in_netns;

use auditwatch::output::syslog::{Framing, SyslogConfig, SyslogFormat, SyslogSink, SyslogTarget};
use serde_json::{json, Value};
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aw-rsyslog-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

struct Rsyslog {
    child: Child,
    dir: PathBuf,
}

impl Rsyslog {
    /// rsyslogd in the foreground with only our inputs (no imuxsock, so no /dev/log) and its
    /// default limits (maxMessageSize 8k), writing
    /// each message raw and as rsyslog parsed it (`%jsonmesg%`).
    fn start(dir: &Path, udp_port: Option<u16>, tcp_port: Option<u16>) -> Rsyslog {
        let d = dir.display();
        let mut conf = format!(
            "global(workDirectory=\"{d}\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             template(name=\"parsed\" type=\"string\" string=\"%jsonmesg%\\n\")\n\
             ruleset(name=\"in\") {{\n\
               action(type=\"omfile\" file=\"{d}/raw.log\" template=\"raw\")\n\
               action(type=\"omfile\" file=\"{d}/parsed.log\" template=\"parsed\")\n\
             }}\n"
        );
        if let Some(p) = udp_port {
            conf += &format!("module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"in\")\n");
        }
        if let Some(p) = tcp_port {
            conf += &format!("module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"in\")\n");
        }
        let conf_path = dir.join("rsyslog.conf");
        fs::write(&conf_path, conf).unwrap();
        let pid = dir.join("rsyslogd.pid");
        let _ = fs::remove_file(&pid);
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(&pid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let rs = Rsyslog {
            child,
            dir: dir.to_owned(),
        };
        rs.wait_listening(udp_port, tcp_port);
        rs
    }

    fn wait_listening(&self, udp: Option<u16>, tcp: Option<u16>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tcp_ok = tcp.is_none_or(|p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok());
            // A bound UDP port cannot be bound again.
            let udp_ok = udp.is_none_or(|p| UdpSocket::bind(("127.0.0.1", p)).is_err());
            if tcp_ok && udp_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        // SAFETY: signalling the child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// Parsed messages (`%jsonmesg%`) once at least `n` arrived.
    fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = read_lines(&self.dir.join("parsed.log"));
            if got.len() >= n {
                // Anything more than expected would arrive right behind: give it a moment.
                std::thread::sleep(Duration::from_millis(300));
                return read_lines(&self.dir.join("parsed.log"))
                    .iter()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn raw_lines(&self) -> Vec<String> {
        read_lines(&self.dir.join("raw.log"))
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An alert as the rule engine raises it: rule metadata plus the ECS event that matched.
fn alert(seq: usize, severity: &str, args: &[&str]) -> Value {
    json!({
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "kibana.alert.uuid": format!("alert-{seq}"),
        "kibana.alert.rule.rule_id": "4e3a-b8f1\"odd]",
        "kibana.alert.rule.name": "Suspicious shell from web server",
        "kibana.alert.severity": severity,
        "kibana.alert.risk_score": 73,
        "event": {
            "kind": "event", "module": "auditd", "category": ["process"], "type": ["start"],
            "action": "executed", "outcome": "success", "sequence": 8000 + seq
        },
        "host": {"name": "web-01"},
        "user": {"id": "33", "name": "www-data"},
        "process": {
            "pid": 4242, "executable": "/usr/bin/bash", "name": "bash",
            "args": args, "working_directory": "/var/www",
            "parent": {"pid": 4200, "executable": "/usr/sbin/apache2"}
        },
        "auditd": {"result": "success", "summary": {"actor": {"primary": "33", "secondary": "33"}, "how": "/usr/bin/bash"}}
    })
}

fn seq_of(parsed_msg: &Value) -> usize {
    let payload: Value =
        serde_json::from_str(parsed_msg["msg"].as_str().unwrap().trim_start()).unwrap();
    payload["kibana.alert.uuid"]
        .as_str()
        .unwrap()
        .trim_start_matches("alert-")
        .parse()
        .unwrap()
}

fn sink(url: &str, format: SyslogFormat, spool: Option<PathBuf>) -> SyslogSink {
    let mut cfg = SyslogConfig::new(SyslogTarget::parse(url).unwrap());
    cfg.format = format;
    cfg.hostname = Some("web-01".into());
    SyslogSink::new(cfg, spool).unwrap()
}

fn check_5424(m: &Value, sent: &Value) {
    assert_eq!(m["app-name"], "auditwatch");
    assert_eq!(m["hostname"], "web-01");
    assert_eq!(m["procid"], std::process::id().to_string());
    assert_eq!(m["msgid"], "alert");
    assert_eq!(m["protocol-version"], "1");
    // facility auth (4) * 8 + err (3) for "high"
    assert_eq!(m["pri"], "35");
    assert_eq!(m["syslogseverity"], "3");
    assert_eq!(
        m["structured-data"],
        r#"[auditwatch@32473 risk_score="73" rule_id="4e3a-b8f1\"odd\]"]"#
    );
    let payload: Value = serde_json::from_str(m["msg"].as_str().unwrap()).unwrap();
    assert_eq!(&payload, sent);
}

fn rfc5424(url_scheme: &str) {
    let dir = temp_dir(url_scheme);
    let (udp, tcp) = if url_scheme == "udp" {
        (Some(free_udp_port()), None)
    } else {
        (None, Some(free_tcp_port()))
    };
    let rs = Rsyslog::start(&dir, udp, tcp);
    let port = udp.or(tcp).unwrap();
    let s = sink(
        &format!("{url_scheme}://127.0.0.1:{port}"),
        SyslogFormat::Rfc5424,
        None,
    );
    let sent: Vec<Value> = (0..20)
        .map(|i| alert(i, "high", &["bash", "-c", "id; uname -a"]))
        .collect();
    for a in &sent {
        s.send(a);
    }
    assert!(s.flush(Duration::from_secs(10)));
    let got = rs.wait_for(sent.len());
    assert_eq!(got.len(), sent.len());
    for (i, m) in got.iter().enumerate() {
        check_5424(m, &sent[if udp.is_some() { seq_of(m) } else { i }]);
    }
    if tcp.is_some() {
        let order: Vec<usize> = got.iter().map(seq_of).collect();
        assert_eq!(order, (0..20).collect::<Vec<_>>());
    }
    let st = s.stats();
    assert_eq!(
        (st.sent, st.queued, st.spooled, st.dropped_spool_full),
        (20, 0, 0, 0)
    );
    rs.stop();
}

#[test]
fn udp_rfc5424() {
    in_netns("udp_rfc5424", || rfc5424("udp"));
}

#[test]
fn tcp_rfc5424_octet_counting() {
    in_netns("tcp_rfc5424_octet_counting", || rfc5424("tcp"));
}

#[test]
fn udp_rfc3164() {
    in_netns("udp_rfc3164", || {
        let dir = temp_dir("3164");
        let port = free_udp_port();
        let rs = Rsyslog::start(&dir, Some(port), None);
        let s = sink(
            &format!("udp://127.0.0.1:{port}"),
            SyslogFormat::Rfc3164,
            None,
        );
        let sent = [
            alert(0, "critical", &["nc", "-e", "/bin/sh"]),
            alert(1, "low", &["ls"]),
            alert(2, "medium", &["cat"]),
        ];
        for a in &sent {
            s.send(a);
        }
        assert!(s.flush(Duration::from_secs(10)));
        let got = rs.wait_for(3);
        assert_eq!(got.len(), 3);
        for m in &got {
            let seq = seq_of(m);
            let sev = [2, 5, 4][seq];
            assert_eq!(m["syslogseverity"], sev.to_string());
            assert_eq!(m["pri"], (32 + sev).to_string());
            assert_eq!(m["hostname"], "web-01");
            assert_eq!(
                m["syslogtag"],
                format!("auditwatch[{}]:", std::process::id())
            );
            assert_eq!(m["programname"], "auditwatch");
            let payload: Value =
                serde_json::from_str(m["msg"].as_str().unwrap().trim_start()).unwrap();
            assert_eq!(payload, sent[seq]);
        }
        rs.stop();
    });
}

#[test]
fn tcp_outage_spools_and_delivers_once_in_order() {
    in_netns("tcp_outage_spools_and_delivers_once_in_order", || {
        let dir = temp_dir("outage");
        let port = free_tcp_port();
        let spool = dir.join("spool");
        let rs = Rsyslog::start(&dir, None, Some(port));
        let s = sink(
            &format!("tcp://127.0.0.1:{port}"),
            SyslogFormat::Rfc5424,
            Some(spool.clone()),
        );
        for i in 0..20 {
            s.send(&alert(i, "high", &["sh"]));
        }
        assert!(s.flush(Duration::from_secs(10)));
        rs.wait_for(20);
        rs.stop();

        // Collector down: alerts wait (queue, then spool on disk).
        for i in 20..70 {
            s.send(&alert(i, "high", &["sh"]));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let st = s.stats();
        assert!(!st.connected, "{st:?}");
        assert_eq!(st.sent, 20, "{st:?}");
        // All on disk, not just in memory: a crash now would lose none of them.
        assert_eq!((st.queued, st.spooled), (0, 50), "{st:?}");
        assert!(st.connect_errors > 0, "{st:?}");
        assert!(
            fs::read_dir(&spool).unwrap().count() > 1,
            "segments on disk"
        );

        let rs = Rsyslog::start(&dir, None, Some(port));
        assert!(s.flush(Duration::from_secs(40)), "{:?}", s.stats());
        let got = rs.wait_for(70);
        let order: Vec<usize> = got.iter().map(seq_of).collect();
        assert_eq!(
            order,
            (0..70).collect::<Vec<_>>(),
            "every alert once, in order"
        );
        let st = s.stats();
        assert_eq!(
            (st.sent, st.queued, st.spooled, st.dropped_spool_full),
            (70, 0, 0, 0),
            "{st:?}"
        );
        assert!(st.connects >= 2);
        rs.stop();
    });
}

#[test]
fn spool_full_drops_oldest_and_counts() {
    in_netns("spool_full_drops_oldest_and_counts", || {
        let dir = temp_dir("full");
        let port = free_tcp_port();
        let one = sink_frame_len();
        let mut cfg =
            SyslogConfig::new(SyslogTarget::parse(&format!("tcp://127.0.0.1:{port}")).unwrap());
        cfg.hostname = Some("web-01".into());
        cfg.queue_capacity = 5;
        // Room for about ten frames in the spool.
        cfg.spool_max_bytes = 10 * (one as u64 + 4) + 2;
        let s = SyslogSink::new(cfg, Some(dir.join("spool"))).unwrap();
        for i in 0..100 {
            s.send(&alert(i, "high", &["sh"]));
        }
        std::thread::sleep(Duration::from_millis(500));
        let st = s.stats();
        assert_eq!(
            st.queued + st.spooled + st.dropped_spool_full as usize,
            100,
            "{st:?}"
        );
        assert!(st.dropped_spool_full >= 80, "{st:?}");
        let kept = 100 - st.dropped_spool_full as usize;

        let rs = Rsyslog::start(&dir, None, Some(port));
        assert!(s.flush(Duration::from_secs(40)), "{:?}", s.stats());
        let got = rs.wait_for(kept);
        let order: Vec<usize> = got.iter().map(seq_of).collect();
        assert_eq!(
            order,
            (100 - kept..100).collect::<Vec<_>>(),
            "the newest survive, in order"
        );
        assert_eq!(s.stats().dropped_spool_full, st.dropped_spool_full);
        rs.stop();
    });
}

/// Length of one formatted test alert (they differ only in digits of the sequence).
fn sink_frame_len() -> usize {
    let mut cfg = SyslogConfig::new(SyslogTarget::parse("tcp://127.0.0.1:1").unwrap());
    cfg.hostname = Some("web-01".into());
    auditwatch::output::syslog::SyslogFormatter::new(&cfg)
        .format(&alert(10, "high", &["sh"]))
        .len()
}

#[test]
fn spool_survives_sink_restart() {
    in_netns("spool_survives_sink_restart", || {
        let dir = temp_dir("restart");
        let port = free_tcp_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let spool = dir.join("spool");
        let s = sink(&url, SyslogFormat::Rfc5424, Some(spool.clone()));
        for i in 0..15 {
            s.send(&alert(i, "high", &["sh"]));
        }
        let st = s.close(Duration::from_millis(300));
        assert_eq!(st.spooled, 15, "{st:?}");
        assert_eq!(st.dropped_at_exit, 0);

        // A new sink (as after a restart of auditwatch) picks the spool up; the collector
        // comes back after it.
        let s = sink(&url, SyslogFormat::Rfc5424, Some(spool));
        assert_eq!(s.stats().spooled, 15);
        let rs = Rsyslog::start(&dir, None, Some(port));
        s.send(&alert(15, "high", &["sh"]));
        assert!(s.flush(Duration::from_secs(20)), "{:?}", s.stats());
        let got = rs.wait_for(16);
        let order: Vec<usize> = got.iter().map(seq_of).collect();
        assert_eq!(order, (0..16).collect::<Vec<_>>());
        rs.stop();
    });
}

#[test]
fn hostile_argv_makes_one_well_formed_message() {
    in_netns("hostile_argv_makes_one_well_formed_message", || {
        let dir = temp_dir("inject");
        let (udp, tcp) = (free_udp_port(), free_tcp_port());
        let rs = Rsyslog::start(&dir, Some(udp), Some(tcp));
        let evil = [
            "sh",
            "-c",
            "x\n<13>1 2024-05-01T10:00:00Z evil fake - - - injected\r\nsecond line",
            "nul turned space: a b",
            "\u{0}raw nul\u{1b}[31m",
            "4 <13>octet-count smuggling",
            "lossy \u{FFFD}\u{FFFD} bytes",
            "sep\u{2028}\u{2029}\u{85}\u{7f}end",
            "]\"\\",
        ];
        let a = alert(0, "critical", &evil);
        let mut n = 0;
        let (oc, lf) = (Framing::OctetCounting, Framing::Lf);
        for (url, format, framing) in [
            (format!("tcp://127.0.0.1:{tcp}"), SyslogFormat::Rfc5424, oc),
            (format!("udp://127.0.0.1:{udp}"), SyslogFormat::Rfc5424, oc),
            (format!("udp://127.0.0.1:{udp}"), SyslogFormat::Rfc3164, oc),
            (format!("tcp://127.0.0.1:{tcp}"), SyslogFormat::Rfc3164, oc),
            (format!("tcp://127.0.0.1:{tcp}"), SyslogFormat::Rfc5424, lf),
            (format!("tcp://127.0.0.1:{tcp}"), SyslogFormat::Rfc3164, lf),
        ] {
            let mut cfg = SyslogConfig::new(SyslogTarget::parse(&url).unwrap());
            cfg.format = format;
            cfg.framing = framing;
            cfg.hostname = Some("web-01".into());
            let s = SyslogSink::new(cfg, None).unwrap();
            s.send(&a);
            assert!(s.flush(Duration::from_secs(10)));
            n += 1;
            let got = rs.wait_for(n);
            assert_eq!(
                got.len(),
                n,
                "exactly one message per alert ({url} {format:?} {framing:?})"
            );
            let m = &got[n - 1];
            assert_eq!(m["app-name"], "auditwatch");
            assert_eq!(m["syslogseverity"], "2");
            let payload: Value =
                serde_json::from_str(m["msg"].as_str().unwrap().trim_start()).unwrap();
            assert_eq!(payload, a, "{url} {format:?} {framing:?}");
        }
        let raw = rs.raw_lines();
        assert_eq!(raw.len(), 6, "{raw:#?}");
        for line in &raw {
            // rsyslog writes received control characters as #NNN: there must be none.
            assert!(
                !line.contains("#012") && !line.contains("#015") && !line.contains("#000"),
                "{line}"
            );
            assert!(line.starts_with("<34>"), "{line}");
        }
        rs.stop();
    });
}

#[test]
fn oversized_alert_arrives_whole_and_valid_at_rsyslog_default_limit() {
    in_netns(
        "oversized_alert_arrives_whole_and_valid_at_rsyslog_default_limit",
        || {
            let dir = temp_dir("oversize");
            let (udp, tcp) = (free_udp_port(), free_tcp_port());
            let rs = Rsyslog::start(&dir, Some(udp), Some(tcp));
            // 40 KB of attacker-chosen argv, with fake frames inside.
            let long =
                "A".repeat(20_000) + "\n<13>1 - evil - - - - injected\n" + &"B".repeat(20_000);
            let many: Vec<String> = (0..3000).map(|i| format!("--opt{i}")).collect();
            let mut args = vec!["sh", long.as_str()];
            args.extend(many.iter().map(String::as_str));
            let a = alert(0, "critical", &args);
            for url in [
                format!("tcp://127.0.0.1:{tcp}"),
                format!("udp://127.0.0.1:{udp}"),
            ] {
                let s = sink(&url, SyslogFormat::Rfc5424, None);
                s.send(&a);
                assert!(s.flush(Duration::from_secs(10)));
                assert_eq!(s.stats().truncated, 1);
            }
            // Right at the limit: sent as it is, and rsyslog (maxMessageSize 8k = 8096) takes it whole;
            // at 8192 it would cut it and take the rest for a second message.
            let probe = auditwatch::output::syslog::SyslogFormatter::new(&{
                let mut c = SyslogConfig::new(SyslogTarget::parse("tcp://127.0.0.1:1").unwrap());
                c.hostname = Some("web-01".into());
                c
            });
            let base = probe.format(&alert(1, "critical", &["sh", ""])).len();
            let fill = "C".repeat(8096 - base);
            let edge = alert(1, "critical", &["sh", &fill]);
            assert_eq!(probe.format(&edge).len(), 8096);
            let s = sink(
                &format!("tcp://127.0.0.1:{tcp}"),
                SyslogFormat::Rfc5424,
                None,
            );
            s.send(&edge);
            assert!(s.flush(Duration::from_secs(10)));
            assert_eq!(s.stats().truncated, 0);

            let got = rs.wait_for(3);
            assert_eq!(got.len(), 3, "one message per alert");
            let whole: Value = serde_json::from_str(got[2]["msg"].as_str().unwrap())
                .expect("complete JSON at the limit");
            assert_eq!(whole, edge);
            for m in &got[..2] {
                assert_eq!(m["app-name"], "auditwatch");
                let payload: Value =
                    serde_json::from_str(m["msg"].as_str().unwrap()).expect("complete JSON");
                assert_eq!(payload["auditwatch.truncated"], true);
                assert_eq!(payload["kibana.alert.uuid"], "alert-0");
                assert_eq!(payload["process"]["executable"], "/usr/bin/bash");
                assert!(payload["process"]["args"][1]
                    .as_str()
                    .unwrap()
                    .ends_with('…'));
            }
            for line in rs.raw_lines() {
                assert!(line.len() <= 8096, "{}", line.len());
            }
            rs.stop();
        },
    );
}

#[test]
fn spool_survives_a_crash() {
    in_netns("spool_survives_a_crash", || {
        const CHILD: &str = "AUDITWATCH_TEST_CRASH_CHILD";
        if let Ok(arg) = std::env::var(CHILD) {
            // The child: alerts to a collector that is down, then wait to be killed.
            let (spool, url) = arg.split_once(' ').unwrap();
            let s = sink(url, SyslogFormat::Rfc5424, Some(PathBuf::from(spool)));
            for i in 0..25 {
                s.send(&alert(i, "high", &["sh"]));
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while s.stats().spooled < 25 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            println!("SPOOLED {}", s.stats().spooled);
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        let dir = temp_dir("crash");
        let port = free_tcp_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let spool = dir.join("spool");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "spool_survives_a_crash",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, format!("{} {url}", spool.display()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // The harness prints `test NAME ... ` before it, on the same line.
        while !line.contains("SPOOLED") {
            line.clear();
            assert!(
                std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
                "child ended early"
            );
        }
        assert!(line.trim_end().ends_with("SPOOLED 25"), "{line}");
        // SIGKILL: no flush, no orderly shutdown.
        child.kill().unwrap();
        child.wait().unwrap();

        let rs = Rsyslog::start(&dir, None, Some(port));
        let s = sink(&url, SyslogFormat::Rfc5424, Some(spool));
        assert!(s.flush(Duration::from_secs(20)), "{:?}", s.stats());
        let got = rs.wait_for(25);
        let order: Vec<usize> = got.iter().map(seq_of).collect();
        assert_eq!(order, (0..25).collect::<Vec<_>>());
        rs.stop();
    });
}

/// The alerts of a replayed attack log (the bundled example, a real auditd log) reach a real
/// rsyslog through `auditwatch replay --syslog`, over UDP and over TCP, in RFC 5424.
fn replayed_attack_log(scheme: &str) {
    let dir = temp_dir(&format!("replay-{scheme}"));
    let (udp, tcp) = if scheme == "udp" {
        (Some(free_udp_port()), None)
    } else {
        (None, Some(free_tcp_port()))
    };
    let rs = Rsyslog::start(&dir, udp, tcp);
    let port = udp.or(tcp).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_auditwatch"))
        .args(["replay", "--alerts"])
        .arg(dir.join("alerts.ndjson"))
        .arg("--syslog")
        .arg(format!("{scheme}://127.0.0.1:{port}"))
        .arg("examples/attack.log")
        .output()
        .expect("replay runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ndjson: Vec<Value> = read_lines(&dir.join("alerts.ndjson"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ndjson.len(), 6, "the example's six alerts");
    let got = rs.wait_for(ndjson.len());
    assert_eq!(got.len(), ndjson.len(), "one syslog message per alert");
    for m in &got {
        assert_eq!(m["app-name"], "auditwatch");
        assert_eq!(m["msgid"], "alert");
        let payload: Value = serde_json::from_str(m["msg"].as_str().unwrap()).unwrap();
        assert_eq!(payload["event"]["kind"], "alert");
        // Every bundled rule is medium or low: medium → warning (4), low → notice (5).
        let want_sev = match payload["rule"]["severity"].as_str() {
            Some("medium") => "4",
            Some("low") => "5",
            other => panic!("unexpected severity {other:?}"),
        };
        assert_eq!(m["syslogseverity"], want_sev);
        let id = payload["rule"]["id"].as_str().unwrap();
        let risk = payload["event"]["risk_score"].to_string();
        assert_eq!(
            m["structured-data"],
            format!(r#"[auditwatch@32473 risk_score="{risk}" rule_id="{id}"]"#)
        );
        assert!(
            ndjson.contains(&payload),
            "the syslog payload is the alert itself"
        );
    }
    rs.stop();
}

#[test]
fn replayed_attack_log_over_udp() {
    in_netns("replayed_attack_log_over_udp", || {
        replayed_attack_log("udp")
    });
}

#[test]
fn replayed_attack_log_over_tcp() {
    in_netns("replayed_attack_log_over_tcp", || {
        replayed_attack_log("tcp")
    });
}

/// Hostile argv end to end: an audit log whose EXECVE (hex-encoded, as the kernel writes such
/// arguments) carries newlines, a carriage return, a fake `<13>1` syslog header, NUL and invalid
/// UTF-8 goes through parse → normalize → a rule → syslog, and rsyslog receives exactly one
/// well-formed message whose JSON payload holds the argument intact.
#[test]
fn hostile_exec_argv_through_replay_is_one_message() {
    in_netns("hostile_exec_argv_through_replay_is_one_message", || {
        let dir = temp_dir("inject");
        let port = free_tcp_port();
        let rs = Rsyslog::start(&dir, None, Some(port));
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        let evil1 = b"line1\nline2\r<13>1 2026-01-01T00:00:00Z evil app - - - injected\n";
        let evil2 = b"\xff\xfe bad utf8 \x00 after-nul";
        let title = [&b"aw-inject\0"[..], evil1, b"\0", evil2].concat();
        let ts = "1700000000.000:100";
        let log = format!(
            "type=SYSCALL msg=audit({ts}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"aw-inject\" exe=\"/tmp/aw-inject\" key=(null)\n\
             type=EXECVE msg=audit({ts}): argc=3 a0=\"aw-inject\" a1={} a2={}\n\
             type=PROCTITLE msg=audit({ts}): proctitle={}\n\
             type=EOE msg=audit({ts}): \n",
            hex(evil1),
            hex(evil2),
            hex(&title)
        );
        fs::write(dir.join("hostile.log"), log).unwrap();
        let rules = dir.join("rules");
        fs::create_dir_all(&rules).unwrap();
        fs::write(
            rules.join("inject.toml"),
            "[rule]\nrule_id = \"aw-test-inject\"\nname = \"Hostile argv\"\ndescription = \"test\"\ntype = \"query\"\nlanguage = \"kuery\"\nindex = [\"auditbeat-*\"]\nseverity = \"high\"\nrisk_score = 73\nquery = 'event.action:executed and process.name:aw-inject'\n",
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_auditwatch"))
            .args(["replay", "--alerts", "/dev/null", "--rules"])
            .arg(&rules)
            .arg("--syslog")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg(dir.join("hostile.log"))
            .output()
            .expect("replay runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = rs.wait_for(1);
        assert_eq!(got.len(), 1, "exactly one message: {got:#?}");
        assert_eq!(rs.raw_lines().len(), 1, "no injected line");
        let m = &got[0];
        assert_eq!(m["app-name"], "auditwatch");
        assert_eq!(m["syslogseverity"], "3");
        let payload: Value = serde_json::from_str(m["msg"].as_str().unwrap()).unwrap();
        let args = payload["events"][0]["process"]["args"]
            .as_array()
            .expect("args");
        assert_eq!(
            args[1],
            String::from_utf8_lossy(evil1).as_ref(),
            "the argument survives intact"
        );
        assert!(
            args[2].as_str().unwrap().contains('\u{fffd}'),
            "invalid UTF-8 is replaced, not dropped"
        );
        rs.stop();
    });
}
