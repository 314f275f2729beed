use super::*;

const KQL_RULE: &str = r#"[metadata]
maturity = "production"

[rule]
author = ["Elastic"]
description = "d"
from = "now-9m"
index = ["auditbeat-*"]
language = "kuery"
name = "Test rule"
risk_score = 21
rule_id = "r-1"
severity = "low"
tags = ["OS: Linux"]
type = "query"
unknown_future_key = { a = 1 }
query = '''
event.category:process and
  process.name:(bash or (sh)
'''

[[rule.threat]]
framework = "MITRE ATT&CK"
[rule.threat.tactic]
id = "TA0002"
name = "Execution"
reference = "https://attack.mitre.org/tactics/TA0002/"
"#;

#[test]
fn query_error_maps_to_file_line_and_col() {
    let l = load_str("t.toml", KQL_RULE);
    assert_eq!(l.status, Status::Error, "{l:?}");
    assert_eq!(l.rule_id.as_deref(), Some("r-1"));
    assert_eq!(l.name.as_deref(), Some("Test rule"));
    // The query's second line is file line 20; the parser stops at the end of `(sh)`.
    assert_eq!(l.line, 20, "{l:?}");
    assert!(l.message.starts_with("kuery query:"), "{l:?}");
}

#[test]
fn good_rule_loads_with_everything_kept() {
    let text = KQL_RULE.replace("(bash or (sh)", "(bash or sh)");
    let l = load_str("t.toml", &text);
    assert_eq!(l.status, Status::Ok, "{l:?}");
    assert_eq!((l.line, l.col), (4, 1), "the [rule] header");
    let r = l.rule.unwrap();
    assert_eq!(
        (
            r.rule_id.as_str(),
            r.rule_type.as_str(),
            r.severity_number(),
            r.risk_score
        ),
        ("r-1", "query", 21, 21)
    );
    assert_eq!(r.lookback_ms, 9 * 60_000);
    assert_eq!(r.max_signals, 100);
    assert_eq!(r.index, vec!["auditbeat-*"]);
    assert_eq!(r.threat[0]["tactic"]["id"], "TA0002");
    assert!(matches!(r.kind, RuleKind::Query { .. }));
}

#[test]
fn query_error_on_first_line_keeps_column_offset() {
    let text = "[rule]\nrule_id = \"x\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"high\"\nrisk_score = 73\ntype = \"query\"\nquery = \"a:b and c:{d:e}\"\n";
    let l = load_str("f.toml", text);
    assert_eq!(l.status, Status::Error);
    // `query = "` is 9 characters; the `{` is column 11 of the query.
    assert_eq!((l.line, l.col), (8, 9 + 11), "{l:?}");
    assert!(l.message.contains("nested"), "{l:?}");
}

#[test]
fn missing_keys_bad_toml_and_unsupported_types() {
    let l = load_str(
        "m.toml",
        "[rule]\nrule_id = \"x\"\nname = \"n\"\ntype = \"query\"\n",
    );
    assert_eq!(l.status, Status::Error);
    assert!(
        l.message.contains("missing required key rule.description"),
        "{l:?}"
    );
    assert_eq!((l.line, l.col), (1, 1));

    let l = load_str("b.toml", "[rule]\nname = \"n\"\nrisk_score = \"high\"\n");
    assert_eq!(l.status, Status::Error);
    assert!(l.message.starts_with("invalid TOML"), "{l:?}");
    assert_eq!(l.line, 3, "{l:?}");

    let l = load_str("c.toml", "[rule\n");
    assert_eq!((l.status, l.line), (Status::Error, 1));

    let l = load_str("n.toml", "[metadata]\nx = 1\n");
    assert!(l.message.contains("no [rule]"));

    let base = "[rule]\nrule_id = \"x\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 1\n";
    for (ty, extra, want) in [
        (
            "esql",
            "language = \"esql\"\nquery = \"from logs-*\"\n",
            "ES|QL",
        ),
        ("machine_learning", "", "machine_learning"),
        ("threat_match", "query = \"a:b\"\n", "threat_match"),
        (
            "query",
            "language = \"lucene\"\nquery = \"a:b\"\n",
            "Lucene",
        ),
    ] {
        let l = load_str("u.toml", &format!("{base}type = \"{ty}\"\n{extra}"));
        assert_eq!(l.status, Status::Unsupported, "{ty}: {l:?}");
        assert!(l.message.contains(want), "{ty}: {l:?}");
        assert_eq!(l.rule_id.as_deref(), Some("x"));
    }
    let l = load_str(
        "s.toml",
        &format!("{base}type = \"query\"\nquery = \"a:b\"\n").replace("\"low\"", "\"urgent\""),
    );
    assert_eq!(l.status, Status::Error);
    assert!(l.message.contains("severity"));
    let l = load_str(
        "f.toml",
        &format!("{base}type = \"query\"\nquery = \"a:b\"\nfrom = \"yesterday\"\n"),
    );
    assert_eq!((l.status, l.line), (Status::Error, 9), "{l:?}");
}

#[test]
fn new_terms_and_threshold_parameters() {
    let base = "[rule]\nrule_id = \"x\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 1\nlanguage = \"kuery\"\nquery = \"event.category:file\"\n";
    let nt = format!(
        "{base}type = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"host.id\", \"file.path\"]\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-10d\"\n"
    );
    let l = load_str("nt.toml", &nt);
    let Some(Rule {
        kind:
            RuleKind::NewTerms {
                fields,
                history_window_ms,
                ..
            },
        ..
    }) = l.rule
    else {
        panic!("{l:?}")
    };
    assert_eq!(fields, vec!["host.id", "file.path"]);
    assert_eq!(history_window_ms, 10 * 86_400_000);
    let l = load_str("nt.toml", &format!("{base}type = \"new_terms\"\n"));
    assert!(l.message.contains("new_terms"), "{l:?}");

    let th = format!("{base}type = \"threshold\"\n[rule.threshold]\nfield = \"host.id\"\nvalue = 10\n[[rule.threshold.cardinality]]\nfield = \"user.name\"\nvalue = 3\n");
    let l = load_str("th.toml", &th);
    let Some(Rule {
        kind:
            RuleKind::Threshold {
                fields,
                value,
                cardinality,
                ..
            },
        ..
    }) = l.rule
    else {
        panic!("{l:?}")
    };
    assert_eq!((fields, value), (vec!["host.id".to_owned()], 10));
    assert_eq!(
        cardinality,
        vec![Cardinality {
            field: "user.name".into(),
            value: 3
        }]
    );
    let th = format!("{base}type = \"threshold\"\n[rule.threshold]\nfield = []\nvalue = 5\n");
    let l = load_str("th.toml", &th);
    assert!(
        matches!(l.rule, Some(Rule { kind: RuleKind::Threshold { ref fields, .. }, .. }) if fields.is_empty()),
        "{l:?}"
    );
}

#[test]
fn lookback_parsing() {
    assert_eq!(parse_lookback("now-9m"), Some(540_000));
    assert_eq!(parse_lookback("now-10d"), Some(864_000_000));
    assert_eq!(parse_lookback("now-1h"), Some(3_600_000));
    assert_eq!(parse_lookback("now-30s"), Some(30_000));
    assert_eq!(parse_lookback("now-2w"), Some(14 * 86_400_000));
    assert_eq!(parse_lookback("now"), None);
    assert_eq!(parse_lookback("now-m"), None);
    assert_eq!(parse_lookback("now-99999999999999999999d"), None);
}

#[test]
fn directories_load_recursively_and_bad_files_do_not_stop_others() {
    let dir = std::env::temp_dir().join(format!("aw-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("a.toml"),
        KQL_RULE.replace("(bash or (sh)", "(bash or sh)"),
    )
    .unwrap();
    std::fs::write(dir.join("sub/b.toml"), "not toml [").unwrap();
    std::fs::write(
        dir.join("sub/c.toml"),
        KQL_RULE.replace("(bash or (sh)", "bash"),
    )
    .unwrap();
    std::fs::write(dir.join("readme.md"), "ignored").unwrap();
    std::fs::write(dir.join("sub/bin.toml"), [0xffu8, 0xfe, 0]).unwrap();
    let results = load_paths(std::slice::from_ref(&dir));
    let statuses: Vec<(String, Status)> = results
        .iter()
        .map(|r| {
            (
                Path::new(&r.file)
                    .strip_prefix(&dir)
                    .unwrap()
                    .display()
                    .to_string(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("a.toml".to_owned(), Status::Ok),
            ("sub/b.toml".to_owned(), Status::Error),
            ("sub/bin.toml".to_owned(), Status::Error),
            ("sub/c.toml".to_owned(), Status::Ok),
        ]
    );
    let missing = load_paths(&[dir.join("nope.toml")]);
    assert_eq!(missing[0].status, Status::Error);
    assert!(missing[0].message.contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bundled_rules_parse_their_metadata() {
    // Query compilation of the EQL ones is covered by the integration tests.
    let loaded = load_bundled();
    assert_eq!(loaded.len(), 4);
    let ids: Vec<_> = loaded
        .iter()
        .map(|l| l.rule_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        [
            "eaef8a35-12e0-4ac0-bc14-81c72b6bd27c",
            "a5eb21b7-13cc-4b94-9fe2-29bb2914e037",
            "aebaa51f-2a91-4f6a-850b-b601db2293f4",
            "ff10d4d8-fea7-422d-afb1-e5a2702369a9"
        ]
    );
    assert!(loaded.iter().all(|l| l.file.starts_with("bundled:")));
}
