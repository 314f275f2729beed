//! `rules check`: one line (or JSON object) per rule, false when any rule has an error.

use auditwatch::detect::check::check;
use std::path::PathBuf;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aw-check-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const GOOD: &str = "[rule]\nrule_id = \"g-1\"\nname = \"Good one\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 21\ntype = \"query\"\nquery = \"process.name:bash\"\n";

#[test]
fn text_report_lists_status_location_id_name_reason() {
    let d = dir("text");
    std::fs::write(d.join("a_good.toml"), GOOD).unwrap();
    std::fs::write(
        d.join("b_bad.toml"),
        GOOD.replace("g-1", "b-2")
            .replace("process.name:bash", "process.name:(bash"),
    )
    .unwrap();
    std::fs::write(
        d.join("c_esql.toml"),
        GOOD.replace("g-1", "e-3")
            .replace("\"query\"\n", "\"esql\"\n"),
    )
    .unwrap();
    let mut out = Vec::new();
    let ok = check(std::slice::from_ref(&d), false, &mut out).unwrap();
    assert!(!ok, "an error makes the check fail");
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let fields = |l: &str| {
        l.split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let a = fields(lines[0]);
    assert_eq!(a[0], "ok");
    assert!(a[1].ends_with("a_good.toml:1:1"), "{a:?}");
    assert_eq!((a[2].as_str(), a[3].as_str()), ("g-1", "Good one"));
    let b = fields(lines[1]);
    assert_eq!(b[0], "error");
    // `query = "` is 9 characters, the query fails at its end (column 19).
    assert!(b[1].ends_with("b_bad.toml:8:28"), "{b:?}");
    assert_eq!(b[2], "b-2");
    assert!(b[4].contains("')'"), "{b:?}");
    let c = fields(lines[2]);
    assert_eq!((c[0].as_str(), c[2].as_str()), ("unsupported", "e-3"));
    assert!(
        lines[3].contains("3 rules: 1 ok, 1 unsupported, 1 errors"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn json_report_and_success() {
    let d = dir("json");
    std::fs::write(d.join("a.toml"), GOOD).unwrap();
    std::fs::write(
        d.join("b.toml"),
        GOOD.replace("g-1", "e-3")
            .replace("\"query\"\n", "\"esql\"\n"),
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(
        check(std::slice::from_ref(&d), true, &mut out).unwrap(),
        "unsupported is not an error"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let items = doc.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["status"], "ok");
    assert_eq!(items[0]["rule_id"], "g-1");
    assert_eq!(items[0]["name"], "Good one");
    assert!(items[0]["file"].as_str().unwrap().ends_with("a.toml"));
    assert_eq!(items[1]["status"], "unsupported");
    assert!(items[1]["message"].as_str().unwrap().contains("ES|QL"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn no_paths_checks_the_bundled_rules() {
    let mut out = Vec::new();
    assert!(check(&[], false, &mut out).unwrap());
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("4 rules: 4 ok, 0 unsupported, 0 errors"),
        "{text}"
    );
    assert!(text.contains("bundled:persistence_cron_job_creation.toml"));
}

#[test]
fn the_public_corpus_checks_clean() {
    let mut out = Vec::new();
    let ok = check(
        &[PathBuf::from("../shared/fixtures/detection-rules/rules")],
        true,
        &mut out,
    )
    .unwrap();
    assert!(ok);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(doc.as_array().unwrap().len() > 300);
}
