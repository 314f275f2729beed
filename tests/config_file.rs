//! The config file: the shipped example, defaults, and errors with line:column.

use auditwatch::config::{check, Config, ConfigError, FailureMode, SocketType};
use auditwatch::output::syslog::{SyslogFormat, SyslogTarget};
use std::path::{Path, PathBuf};

const EXAMPLE: &str = "packaging/auditwatch.toml";

fn errors(text: &str) -> Vec<ConfigError> {
    Config::parse(text).expect_err("should not load")
}

#[test]
fn example_loads_and_states_the_defaults() {
    // Active lines of the example hold the defaults, so it must load to exactly them, except
    // the rule paths: the example names the installed directories, the default is the bundled
    // rules (the same files).
    let mut cfg = Config::load(Path::new(EXAMPLE)).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        cfg.rules.paths,
        vec![PathBuf::from("/etc/auditwatch/rules")]
    );
    assert_eq!(
        cfg.audit_rules.paths,
        vec![PathBuf::from("/etc/auditwatch/audit-rules")]
    );
    cfg.rules.paths.clear();
    cfg.audit_rules.paths.clear();
    assert_eq!(cfg, Config::default());
}

#[test]
fn example_with_every_optional_setting_turned_on_loads() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    // `#key = value` lines are the optional settings; uncomment them all.
    let on: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_lowercase()) && rest.contains(" = ") =>
            {
                rest
            }
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let uncommented = on.lines().filter(|l| !l.starts_with('#')).count()
        - text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(uncommented, 13, "optional settings found");
    let cfg = Config::parse(&on).unwrap_or_else(|e| panic!("{e:#?}"));
    let s = cfg.output.alerts.syslog.expect("syslog configured");
    assert_eq!(
        s.target,
        SyslogTarget::Tcp {
            host: "logs.example.com".into(),
            port: 514
        }
    );
    assert_eq!(s.hostname.as_deref(), Some("web-01"));
    assert_eq!(s.max_message_bytes, 8096);
    assert_eq!(cfg.output.alerts.path.as_deref(), Some("-"));
    assert_eq!(
        cfg.output.events.path.as_deref(),
        Some("/var/log/auditwatch/auditwatch.ndjson")
    );
    assert_eq!(cfg.kernel.backlog_wait_time, Some(0));
    assert_eq!(
        cfg.host.id.as_deref(),
        Some("6a8f5d8e2c2b4d0e9d3c1b2a0f9e8d7c")
    );
}

#[test]
fn defaults() {
    let d = Config::default();
    assert_eq!(
        d.state.dir.as_deref(),
        Some(Path::new("/var/lib/auditwatch"))
    );
    assert_eq!(
        d.state.spool_dir(),
        Some(PathBuf::from("/var/lib/auditwatch/spool"))
    );
    assert_eq!(d.kernel.socket_type, SocketType::Auto);
    assert_eq!(d.kernel.failure_mode, FailureMode::Silent);
    assert_eq!((d.kernel.backlog_limit, d.kernel.rate_limit), (8192, 0));
    assert_eq!(d.output.alerts.path.as_deref(), Some("-"));
    assert!(d.output.alerts.syslog.is_none());
    assert!(d.output.events.path.is_none());
    assert_eq!(
        (
            d.output.events.max_size_bytes,
            d.output.events.keep_files,
            d.output.events.permissions
        ),
        (10 << 20, 7, 0o600)
    );
    let l = d.reassembler.limits();
    let def = auditwatch::assemble::Limits::default();
    assert_eq!(
        (l.timeout_ms, l.max_in_flight, l.max_gap_records),
        (def.timeout_ms, def.max_in_flight, def.max_gap_records)
    );
    assert_eq!(d.logging.level, "info");
    let e = d.detection.engine(None);
    let def = auditwatch::detect::engine::EngineConfig::default();
    assert_eq!(
        (e.max_held_bytes, e.eql_limits.max_states),
        (def.max_held_bytes, def.eql_limits.max_states)
    );
    assert_eq!(e.max_held_bytes, 64 << 20);
}

#[test]
fn settings_take_effect() {
    let cfg = Config::parse(
        r#"
[kernel]
socket_type = "multicast"
failure_mode = "printk"
backlog_limit = 16384
[state]
dir = ""
[host]
name = "db-7"
[output.alerts]
syslog_url = "udp://[::1]:5514"
syslog_facility = "local4"
syslog_framing = "lf"
spool_max_mb = 8
[output.events]
path = "-"
permissions = "0640"
exclude_kinds = ["metric"]
include_categories = "process"
[detection]
max_states = 5000
max_held_mib = 16
"#,
    )
    .unwrap();
    assert_eq!(cfg.kernel.socket_type, SocketType::Multicast);
    assert_eq!(cfg.kernel.failure_mode.as_kernel(), 1);
    assert_eq!(cfg.kernel.backlog_limit, 16384);
    assert_eq!(cfg.state.dir, None);
    // A syslog target alone: alerts no longer also go to stdout.
    assert_eq!(cfg.output.alerts.path, None);
    let s = cfg.output.alerts.syslog.unwrap();
    assert_eq!(
        s.target,
        SyslogTarget::Udp {
            host: "::1".into(),
            port: 5514
        }
    );
    assert_eq!(s.format, SyslogFormat::Rfc5424);
    assert_eq!(s.facility as u8, 20 << 3);
    assert_eq!(s.spool_max_bytes, 8 << 20);
    assert_eq!(s.framing, auditwatch::output::syslog::Framing::Lf);
    assert_eq!(
        s.hostname.as_deref(),
        Some("db-7"),
        "[host] name names the syslog host too"
    );
    assert_eq!(cfg.output.events.permissions, 0o640);
    assert_eq!(cfg.output.events.exclude_kinds, ["metric"]);
    assert_eq!(cfg.output.events.include_categories, ["process"]);
    let e = cfg.detection.engine(Some(PathBuf::from("/s")));
    assert_eq!(
        (e.max_held_bytes, e.eql_limits.max_states),
        (16 << 20, 5000)
    );
    assert_eq!(e.state_dir.as_deref(), Some(Path::new("/s")));
}

#[test]
fn unknown_keys_have_line_and_column_and_a_hint() {
    let e = errors(
        "[kernel]\nbacklog_limt = 5\n\n[output.alerts]\n  sylog_url = \"udp://x\"\n[bogus]\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!((e[0].line, e[0].column), (2, 1));
    assert!(
        e[0].message
            .contains("unknown key `backlog_limt` in [kernel]"),
        "{}",
        e[0]
    );
    assert!(
        e[0].message.contains("did you mean `backlog_limit`"),
        "{}",
        e[0]
    );
    assert_eq!((e[1].line, e[1].column), (5, 3));
    assert!(
        e[1].message.contains("`sylog_url`") && e[1].message.contains("syslog_url"),
        "{}",
        e[1]
    );
    assert_eq!((e[2].line, e[2].column), (6, 2));
    assert!(
        e[2].message
            .contains("unknown key `bogus` at the top level"),
        "{}",
        e[2]
    );
    assert_eq!(e[0].to_string(), format!("2:1: {}", e[0].message));
}

#[test]
fn bad_values_have_line_and_column() {
    let text = "[kernel]\nbacklog_limit = \"big\"\nrate_limit = -1\nsocket_type = \"broadcast\"\nenabled = 1\n\
                [output.alerts]\nsyslog_url = \"http://x:514\"\n[output.events]\nkeep_files = 5000\npermissions = 0o644\n\
                permissions_x = 1\n[reassembler]\ntimeout_ms = 0\n[detection]\nmax_held_mib = 0\n";
    let e = errors(text);
    let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        at,
        [
            (2, 17),
            (3, 14),
            (4, 15),
            (5, 11),
            (7, 14),
            (9, 14),
            (11, 1),
            (13, 14),
            (15, 16)
        ],
        "{e:#?}"
    );
    assert!(
        e[0].message.contains("must be an integer, found string"),
        "{}",
        e[0]
    );
    assert!(e[1].message.contains("out of range"), "{}", e[1]);
    assert!(
        e[2].message
            .contains("\"broadcast\" is not one of \"auto\", \"unicast\", \"multicast\""),
        "{}",
        e[2]
    );
    assert!(e[3].message.contains("true or false"), "{}", e[3]);
    assert!(e[4].message.contains("unknown scheme `http`"), "{}", e[4]);
    assert!(
        e[5].message.contains("5000 is out of range (0 to 1024)"),
        "{}",
        e[5]
    );
    // 0o644 includes owner read/write: fine. The unknown key is reported.
    assert!(e[6].message.contains("permissions_x"), "{}", e[6]);
    assert!(
        e[8].message.contains("`max_held_mib` = 0 is out of range"),
        "{}",
        e[8]
    );
}

#[test]
fn syntax_error_position() {
    let e = errors("[kernel]\nbacklog_limit = = 3\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (2, 17), "{e:#?}");
    assert!(e[0].message.starts_with("TOML syntax"), "{}", e[0]);
}

#[test]
fn syslog_options_need_a_url_and_tls_needs_a_readable_ca() {
    let e = errors("[output.alerts]\nsyslog_format = \"rfc3164\"\n");
    assert_eq!((e[0].line, e[0].column), (2, 1));
    assert!(e[0].message.contains("needs `syslog_url`"));
    let e = errors(
        "[output.alerts]\nsyslog_url = \"tls://h\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n",
    );
    assert_eq!((e[0].line, e[0].column), (3, 15));
    assert!(e[0].message.contains("cannot read TLS CA file"), "{}", e[0]);
    // Only checked for tls:// targets.
    assert!(Config::parse(
        "[output.alerts]\nsyslog_url = \"udp://h\"\ntls_ca_file = \"/nonexistent\"\n"
    )
    .is_ok());
    let e = errors("[output.alerts]\nsyslog_url = \"udp://h\"\nsyslog_facility = \"local9\"\n");
    assert!(
        e[0].message.contains("unknown syslog facility `local9`"),
        "{}",
        e[0]
    );
}

#[test]
fn check_prints_ok_or_each_error_with_a_caret() {
    let mut out = Vec::new();
    assert!(check(Path::new(EXAMPLE), &mut out));
    assert_eq!(String::from_utf8(out).unwrap(), format!("{EXAMPLE}: OK\n"));

    let dir = std::env::temp_dir().join(format!("aw-config-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[logging]\nlevel = \"loud\"\nstats = 1\n").unwrap();
    let mut out = Vec::new();
    assert!(!check(&bad, &mut out));
    let text = String::from_utf8(out).unwrap();
    let b = bad.display();
    assert!(
        text.contains(&format!("{b}:2:9: `level` = \"loud\" is not one of")),
        "{text}"
    );
    assert!(
        text.contains("    level = \"loud\"\n            ^\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{b}:3:1: unknown key `stats` in [logging]")),
        "{text}"
    );
    assert!(text.ends_with(&format!("{b}: 2 error(s)\n")), "{text}");

    let mut out = Vec::new();
    assert!(!check(&dir.join("missing.toml"), &mut out));
    assert!(String::from_utf8(out).unwrap().contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}
