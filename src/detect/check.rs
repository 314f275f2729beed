//! `auditwatch rules check [--json] PATH...`: load every rule and say what became of it.

use super::rule::{load_bundled, load_paths, Loaded, Status};
use std::io::{self, Write};
use std::path::PathBuf;

/// Loads `paths` (files or directories; none = the bundled rules) and writes one line per
/// rule, `status  file:line:col  rule_id  name  reason`, or a JSON array with `json`.
/// Returns false when any rule failed with an error (unsupported rules are not errors).
pub fn check(paths: &[PathBuf], json: bool, out: &mut dyn Write) -> io::Result<bool> {
    let results = if paths.is_empty() {
        load_bundled()
    } else {
        load_paths(paths)
    };
    write_report(&results, json, out)?;
    Ok(!results.iter().any(|r| r.status == Status::Error))
}

/// Writes a report for already loaded rules (the daemon reuses it at start-up).
pub fn write_report(results: &[Loaded], json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "file": r.file,
                    "line": r.line,
                    "col": r.col,
                    "rule_id": r.rule_id,
                    "name": r.name,
                    "type": r.rule_type,
                    "status": r.status.to_string(),
                    "message": r.message,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
        return Ok(());
    }
    for r in results {
        // Tabs and newlines inside names or messages would break the one-line-per-rule shape.
        let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
        writeln!(
            out,
            "{:<11}  {}:{}:{}  {}  {}  {}",
            r.status.to_string(),
            r.file,
            r.line,
            r.col,
            r.rule_id.as_deref().unwrap_or("-"),
            clean(r.name.as_deref().unwrap_or("-")),
            clean(&r.message)
        )?;
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    writeln!(
        out,
        "{} rules: {} ok, {} unsupported, {} errors",
        results.len(),
        count(Status::Ok),
        count(Status::Unsupported),
        count(Status::Error)
    )?;
    Ok(())
}
