//! Syslog over TLS (against a rustls server in the test, with a CA and server certificate
//! made by rcgen) and over a local unix datagram socket that is missing at first.

mod common;
use common::netns::in_netns;

use auditwatch::output::syslog::{SyslogConfig, SyslogFormat, SyslogSink, SyslogTarget};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aw-transport-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn alert(seq: usize) -> Value {
    json!({
        "kibana.alert.uuid": format!("alert-{seq}"),
        "kibana.alert.rule.rule_id": "tls-test-rule",
        "kibana.alert.severity": "medium",
        "kibana.alert.risk_score": 47,
        "event": {"module": "auditd", "category": ["network"], "action": "connected-to"},
        "destination": {"ip": "203.0.113.9", "port": 4444},
        "process": {"executable": "/usr/bin/nc", "args": ["nc", "203.0.113.9", "4444"]}
    })
}

/// A CA and a `localhost` server certificate signed by it.
struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "auditwatch test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert: cert.der().clone(),
        server_key: key.serialize_der(),
    }
}

/// A TLS syslog receiver: octet-counted frames from each connection in turn go to the channel.
/// After `close_after` frames on the first connection it closes it (close_notify).
fn tls_server(p: &Pki, close_after: usize) -> (u16, mpsc::Receiver<String>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![p.server_cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p.server_key.clone())),
        )
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, sock) in listener.incoming().enumerate() {
            let Ok(sock) = sock else { return };
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut r = BufReader::new(rustls::StreamOwned::new(conn, sock));
            let mut frames = 0;
            loop {
                if n == 0 && frames == close_after {
                    r.get_mut().conn.send_close_notify();
                    let _ = r.get_mut().flush();
                    break;
                }
                let mut len = Vec::new();
                match r.read_until(b' ', &mut len) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let size: usize = std::str::from_utf8(&len[..len.len() - 1])
                    .unwrap()
                    .parse()
                    .unwrap();
                let mut msg = vec![0u8; size];
                r.read_exact(&mut msg).unwrap();
                tx.send(String::from_utf8(msg).unwrap()).unwrap();
                frames += 1;
            }
        }
    });
    (port, rx)
}

fn tls_sink(port: u16, ca_file: PathBuf, spool: Option<PathBuf>) -> SyslogSink {
    let mut cfg =
        SyslogConfig::new(SyslogTarget::parse(&format!("tls://localhost:{port}")).unwrap());
    cfg.tls_ca_file = Some(ca_file);
    cfg.hostname = Some("web-01".into());
    SyslogSink::new(cfg, spool).unwrap()
}

fn payload_seq(frame: &str) -> usize {
    let json = &frame[frame.find('{').unwrap()..];
    let v: Value = serde_json::from_str(json).unwrap();
    v["kibana.alert.uuid"]
        .as_str()
        .unwrap()
        .trim_start_matches("alert-")
        .parse()
        .unwrap()
}

#[test]
fn tls_delivers_and_reconnects_after_the_server_closes() {
    in_netns(
        "tls_delivers_and_reconnects_after_the_server_closes",
        || {
            let dir = temp_dir("tls");
            let p = pki();
            let ca = dir.join("ca.pem");
            std::fs::write(&ca, &p.ca_pem).unwrap();
            let (port, rx) = tls_server(&p, 5);
            let s = tls_sink(port, ca, Some(dir.join("spool")));
            for i in 0..5 {
                s.send(&alert(i));
            }
            let mut got = Vec::new();
            for _ in 0..5 {
                got.push(
                    rx.recv_timeout(Duration::from_secs(10))
                        .expect("frame over TLS"),
                );
            }
            let first = &got[0];
            // medium → warning (4), facility auth (4)
            assert!(first.starts_with("<36>1 "), "{first}");
            assert!(first.contains(" web-01 auditwatch "), "{first}");
            assert!(
                first.contains("[auditwatch@32473 risk_score=\"47\" rule_id=\"tls-test-rule\"]"),
                "{first}"
            );
            // The server has closed the first connection; the sink notices and reconnects.
            std::thread::sleep(Duration::from_millis(300));
            for i in 5..12 {
                s.send(&alert(i));
            }
            assert!(s.flush(Duration::from_secs(20)), "{:?}", s.stats());
            while got.len() < 12 {
                got.push(
                    rx.recv_timeout(Duration::from_secs(10))
                        .expect("frame after reconnect"),
                );
            }
            let order: Vec<usize> = got.iter().map(|f| payload_seq(f)).collect();
            assert_eq!(order, (0..12).collect::<Vec<_>>());
            let st = s.stats();
            assert_eq!(st.sent, 12);
            assert_eq!(st.connects, 2, "{st:?}");
            std::fs::remove_dir_all(&dir).unwrap();
        },
    );
}

#[test]
fn tls_with_the_wrong_ca_delivers_nothing_and_keeps_the_alerts() {
    in_netns(
        "tls_with_the_wrong_ca_delivers_nothing_and_keeps_the_alerts",
        || {
            let dir = temp_dir("tls-wrong-ca");
            let p = pki();
            let other = pki();
            let ca = dir.join("other-ca.pem");
            std::fs::write(&ca, &other.ca_pem).unwrap();
            let (port, rx) = tls_server(&p, usize::MAX);
            let s = tls_sink(port, ca, Some(dir.join("spool")));
            for i in 0..3 {
                s.send(&alert(i));
            }
            assert!(!s.flush(Duration::from_millis(1500)));
            assert!(rx.try_recv().is_err());
            let st = s.stats();
            assert_eq!((st.sent, st.queued + st.spooled), (0, 3), "{st:?}");
            assert!(st.connect_errors >= 1 && !st.connected, "{st:?}");
            std::fs::remove_dir_all(&dir).unwrap();
        },
    );
}

#[test]
fn bad_ca_file_is_an_error_at_start() {
    let dir = temp_dir("bad-ca");
    let ca = dir.join("empty.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let mut cfg = SyslogConfig::new(SyslogTarget::parse("tls://localhost:6514").unwrap());
    cfg.tls_ca_file = Some(ca);
    let err = SyslogSink::new(cfg, None).err().expect("no certificates");
    assert!(err.to_string().contains("no certificates"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unix_socket_missing_then_present() {
    let dir = temp_dir("unix");
    let path = dir.join("log");
    let mut cfg =
        SyslogConfig::new(SyslogTarget::parse(&format!("unix://{}", path.display())).unwrap());
    assert_eq!(cfg.format, SyslogFormat::Rfc3164);
    cfg.queue_capacity = 2;
    let s = SyslogSink::new(cfg, None).unwrap();
    for i in 0..6 {
        s.send(&alert(i));
    }
    std::thread::sleep(Duration::from_millis(400));
    let st = s.stats();
    assert_eq!((st.sent, st.queued + st.spooled), (0, 6), "{st:?}");
    assert!(st.connect_errors >= 1);

    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 65536];
    while got.len() < 6 && Instant::now() < deadline {
        let n = rx.recv(&mut buf).expect("datagram");
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    let order: Vec<usize> = got.iter().map(|f| payload_seq(f)).collect();
    assert_eq!(order, (0..6).collect::<Vec<_>>());
    // As syslog(3) writes to /dev/log: `<PRI>Mmm dd hh:mm:ss auditwatch[PID]: MSG`, no host.
    let tag = format!(" auditwatch[{}]: {{", std::process::id());
    assert!(
        got[0].starts_with("<36>") && got[0][4 + 15..].starts_with(&tag),
        "{}",
        got[0]
    );
    assert!(s.flush(Duration::from_secs(5)));
    std::fs::remove_dir_all(&dir).unwrap();
}
