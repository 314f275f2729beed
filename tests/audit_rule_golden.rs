//! Every rule line of go-libaudit's golden files, compiled by us, against the bytes the kernel
//! listed back after auditctl loaded the same line (`*.rules.golden.yml`), and go-libaudit's
//! `rule_data.yml` flag cases. Plus the decoder's round trip on each line.
//!
//! The golden bytes are netlink payloads, padded to 4 bytes; the padding is checked to be zero
//! and not counted as rule bytes. The golden generator created each `-w`/`dir=`/`path=` path
//! (a directory for a trailing `/`, otherwise a file) before running auditctl, and `-w` compiles
//! by looking at the filesystem, so the same directories are created here.

use auditwatch::kernel::rules::{decode, parse_line, Directive, Rule};
use std::path::Path;

const DIR: &str = "../shared/fixtures/go-libaudit/rule";

struct Case {
    flags: String,
    bytes: Vec<u8>,
}

/// The two shapes of these YAML files: `- flags: TEXT` (plain scalar, continued on indented
/// lines) then `bytes: !!binary |` and indented base64 lines.
fn read_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut cases: Vec<Case> = Vec::new();
    let mut b64 = String::new();
    let mut in_bytes = false;
    let flush = |cases: &mut Vec<Case>, b64: &mut String| {
        if let Some(last) = cases.last_mut() {
            last.bytes = base64(b64);
        }
        b64.clear();
    };
    for line in text.lines() {
        if let Some(flags) = line.strip_prefix("- flags: ") {
            flush(&mut cases, &mut b64);
            cases.push(Case {
                flags: flags.trim().to_owned(),
                bytes: Vec::new(),
            });
            in_bytes = false;
        } else if line.trim_start().starts_with("bytes:") {
            in_bytes = true;
        } else if line.starts_with("    ") && !cases.is_empty() {
            if in_bytes {
                b64.push_str(line.trim());
            } else {
                let c = cases.last_mut().unwrap();
                c.flags.push(' ');
                c.flags.push_str(line.trim());
            }
        }
    }
    flush(&mut cases, &mut b64);
    cases
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let data: Vec<u8> = s.bytes().filter(|c| *c != b'=').map(val).collect();
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (u32::from(*v) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Recreates the generator's filesystem for one rule: trailing-`/` paths are directories.
fn make_paths(flags: &str) {
    for word in flags.split_whitespace() {
        let path = word
            .strip_prefix("dir=")
            .or_else(|| word.strip_prefix("path="))
            .unwrap_or(word);
        if path.starts_with("/tmp/audit-test/") && path.ends_with('/') {
            std::fs::create_dir_all(path).unwrap();
        }
    }
}

fn compile(flags: &str) -> Result<Rule, String> {
    match parse_line(flags)?.as_slice() {
        [Directive::Add(rule)] => Ok(rule.clone()),
        other => Err(format!("expected one rule, got {other:?}")),
    }
}

/// `None` when identical, else why not.
fn compare(flags: &str, golden: &[u8], padded: bool) -> Option<String> {
    let rule = match compile(flags) {
        Ok(r) => r,
        Err(e) => return Some(format!("does not compile: {e}")),
    };
    let ours = rule.to_bytes();
    let expect_len = if padded {
        ours.len().div_ceil(4) * 4
    } else {
        ours.len()
    };
    if golden.len() != expect_len {
        return Some(format!(
            "length {} (padded {expect_len}) vs golden {}",
            ours.len(),
            golden.len()
        ));
    }
    if golden[..ours.len()] != ours[..] || golden[ours.len()..].iter().any(|b| *b != 0) {
        let first = ours
            .iter()
            .zip(golden)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len());
        return Some(format!("first difference at byte {first}"));
    }
    // Round trip: the golden bytes decode to text that compiles back to the same bytes.
    let text = match decode(golden) {
        Ok(t) => t,
        Err(e) => return Some(format!("decode: {e}")),
    };
    match compile(&text) {
        Ok(again) if again.to_bytes() == ours => None,
        Ok(_) => Some(format!("decoded text `{text}` compiles to other bytes")),
        Err(e) => Some(format!("decoded text `{text}` does not compile: {e}")),
    }
}

#[test]
fn golden_rule_lines_are_byte_identical() {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".golden.yml") || p.ends_with("rule_data.yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the golden files in {DIR}");
    let (mut total, mut same) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let padded = file.to_string_lossy().ends_with(".golden.yml");
        let cases = read_cases(file);
        assert!(!cases.is_empty(), "{}: no cases", file.display());
        // Each golden file has one case per rule line of its .rules file.
        let rules_file = file.to_string_lossy().replace(".golden.yml", "");
        if let (true, Ok(text)) = (padded, std::fs::read_to_string(&rules_file)) {
            let lines = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .count();
            assert_eq!(
                cases.len(),
                lines,
                "{}: cases vs rule lines of {rules_file}",
                file.display()
            );
        }
        let mut n_same = 0;
        for case in &cases {
            make_paths(&case.flags);
            match compare(&case.flags, &case.bytes, padded) {
                None => n_same += 1,
                Some(why) => failures.push(format!("{}: `{}`: {why}", file.display(), case.flags)),
            }
        }
        println!(
            "{}: {n_same} of {} rule lines byte-identical",
            file.file_name().unwrap().to_string_lossy(),
            cases.len()
        );
        total += cases.len();
        same += n_same;
    }
    println!("overall: {same} of {total} rule lines byte-identical");
    let _ = std::fs::remove_dir_all("/tmp/audit-test");
    assert!(
        failures.is_empty(),
        "lines that differ:\n{}",
        failures.join("\n")
    );
    assert!(total >= 80, "only {total} golden lines found");
}
