//! Every rule of the public Elastic corpus (`../shared/fixtures/detection-rules/rules/`) must
//! load: EQL, KQL, new_terms, threshold and query rules compile; ES|QL is reported unsupported.

use auditwatch::detect::rule::{load_paths, Status};
use std::collections::BTreeMap;
use std::path::PathBuf;

const CORPUS: &str = "../shared/fixtures/detection-rules/rules";

#[test]
fn every_fixture_rule_compiles_or_is_reported_unsupported() {
    let results = load_paths(&[PathBuf::from(CORPUS)]);
    let files = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(results.len(), files, "one result per file");
    assert!(files > 300, "the corpus is there ({files} files)");

    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &results {
        *counts
            .entry((
                r.rule_type.clone().unwrap_or_default(),
                r.status.to_string(),
            ))
            .or_default() += 1;
    }
    for ((ty, status), n) in &counts {
        println!("{ty:<10} {status:<11} {n}");
    }
    let errors: Vec<String> = results
        .iter()
        .filter(|r| r.status == Status::Error)
        .map(|r| format!("{}:{}:{} {}", r.file, r.line, r.col, r.message))
        .collect();
    assert!(
        errors.is_empty(),
        "{} errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
    for r in &results {
        match r.rule_type.as_deref() {
            Some("esql") => {
                assert_eq!(r.status, Status::Unsupported, "{}", r.file);
                assert!(r.message.contains("ES|QL"));
            }
            _ => assert_eq!(r.status, Status::Ok, "{}: {}", r.file, r.message),
        }
        // Every loaded rule keeps its identity and MITRE mapping.
        if let Some(rule) = &r.rule {
            assert!(!rule.rule_id.is_empty() && !rule.name.is_empty());
            assert!(rule.threat.is_array());
        }
    }
    let ok = counts
        .iter()
        .filter(|((_, s), _)| s == "ok")
        .map(|(_, n)| n)
        .sum::<usize>();
    let esql = counts
        .get(&("esql".to_owned(), "unsupported".to_owned()))
        .copied()
        .unwrap_or(0);
    assert_eq!(ok + esql, files);
}
