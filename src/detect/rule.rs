//! Elastic detection-rules TOML files, loaded unchanged.
//!
//! One file holds one rule: `[metadata]` (ignored) and `[rule]`. Every file gives one `Loaded`
//! result; a broken or unsupported file never stops the others. Locations are 1-based
//! `line:col` in the file; a query error is mapped from its place inside the query string to
//! the file (exact for `'''literal'''` strings, the form detection-rules uses).
//!
//! Supported: `type = "query"` (KQL), `"eql"` (event, sequence, sample), `"new_terms"` and
//! `"threshold"` (KQL). Reported unsupported: ES|QL, machine_learning, threat_match, saved
//! queries, Lucene queries.

use super::eql::{self, Filter, Query, QueryError};
use super::expr::Expr;
use super::kql;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// A compiled rule, ready for the engine.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where the rule came from: a file path or `bundled:NAME`.
    pub file: String,
    pub rule_id: String,
    pub name: String,
    pub description: String,
    /// `type` as written (`query`, `eql`, `new_terms`, `threshold`).
    pub rule_type: String,
    pub language: String,
    pub query: String,
    pub index: Vec<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    pub risk_score: i64,
    pub tags: Vec<String>,
    /// The MITRE ATT&CK mapping exactly as the rule gives it (`[[rule.threat]]`).
    pub threat: serde_json::Value,
    pub version: Option<i64>,
    pub building_block_type: Option<String>,
    /// The look-back window from `from` (`now-9m` → 9 minutes); Elastic's default is 6m.
    pub lookback_ms: i64,
    /// Alerts per look-back window before the rest are suppressed (Elastic default 100).
    pub max_signals: usize,
    pub kind: RuleKind,
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    Query {
        filter: Filter,
        expr: Expr,
    },
    Eql {
        query: Arc<Query>,
    },
    NewTerms {
        filter: Filter,
        expr: Expr,
        fields: Vec<String>,
        history_window_ms: i64,
    },
    Threshold {
        filter: Filter,
        expr: Expr,
        fields: Vec<String>,
        value: u64,
        cardinality: Vec<Cardinality>,
    },
}

/// A threshold rule's distinct-count condition: the group needs `value` distinct `field`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cardinality {
    pub field: String,
    pub value: u64,
}

impl Rule {
    /// Numeric severity as Elastic writes it into `event.severity`.
    pub fn severity_number(&self) -> i64 {
        match self.severity.as_str() {
            "low" => 21,
            "medium" => 47,
            "high" => 73,
            "critical" => 99,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Unsupported,
    Error,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::Error => "error",
        })
    }
}

/// The outcome of loading one file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub rule_id: Option<String>,
    pub name: Option<String>,
    pub rule_type: Option<String>,
    pub status: Status,
    /// Why it is not `Ok` (empty when it is).
    pub message: String,
    pub rule: Option<Rule>,
}

impl Loaded {
    fn fail(file: &str, status: Status, (line, col): (usize, usize), message: String) -> Loaded {
        Loaded {
            file: file.to_owned(),
            line,
            col,
            rule_id: None,
            name: None,
            rule_type: None,
            status,
            message,
            rule: None,
        }
    }
}

/// The detections shipped inside the binary, as `(file name, TOML text)`.
pub fn bundled() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "persistence_apt_package_manager_netcon.toml",
            include_str!("../../rules/persistence_apt_package_manager_netcon.toml"),
        ),
        (
            "command_and_control_reverse_shell_via_udp.toml",
            include_str!("../../rules/command_and_control_reverse_shell_via_udp.toml"),
        ),
        (
            "persistence_shared_object_creation.toml",
            include_str!("../../rules/persistence_shared_object_creation.toml"),
        ),
        (
            "persistence_cron_job_creation.toml",
            include_str!("../../rules/persistence_cron_job_creation.toml"),
        ),
    ]
}

/// Loads the bundled detections (file names reported as `bundled:NAME`).
pub fn load_bundled() -> Vec<Loaded> {
    bundled()
        .into_iter()
        .map(|(name, text)| load_str(&format!("bundled:{name}"), text))
        .collect()
}

/// Loads files and directories (recursively, `*.toml`, in name order). An unreadable path is
/// one error result.
pub fn load_paths(paths: &[PathBuf]) -> Vec<Loaded> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = collect_toml(p, &mut files) {
                out.push(Loaded::fail(
                    &p.display().to_string(),
                    Status::Error,
                    (0, 0),
                    format!("cannot read directory: {e}"),
                ));
            }
            files.sort();
            out.extend(files.iter().map(|f| load_file(f)));
        } else {
            out.push(load_file(p));
        }
    }
    out
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

pub fn load_file(path: &Path) -> Loaded {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => load_str(&name, &text),
            Err(e) => Loaded::fail(&name, Status::Error, (1, 1), format!("not UTF-8 text: {e}")),
        },
        Err(e) => Loaded::fail(&name, Status::Error, (0, 0), format!("cannot read: {e}")),
    }
}

#[derive(Deserialize)]
struct RawFile {
    rule: Option<Spanned<RawRule>>,
}

#[derive(Deserialize)]
struct RawRule {
    rule_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "type")]
    rule_type: Option<String>,
    language: Option<String>,
    query: Option<Spanned<String>>,
    index: Option<Vec<String>>,
    severity: Option<String>,
    risk_score: Option<i64>,
    #[serde(default)]
    tags: Vec<String>,
    threat: Option<toml::Value>,
    new_terms: Option<RawNewTerms>,
    threshold: Option<RawThreshold>,
    from: Option<Spanned<String>>,
    max_signals: Option<u64>,
    building_block_type: Option<String>,
    version: Option<i64>,
}

#[derive(Deserialize)]
struct RawNewTerms {
    field: Option<String>,
    value: Option<Vec<String>>,
    history_window_start: Option<Vec<RawParam>>,
}

#[derive(Deserialize)]
struct RawParam {
    field: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawThreshold {
    field: Option<OneOrMany>,
    value: Option<u64>,
    #[serde(default)]
    cardinality: Vec<RawCardinality>,
}

#[derive(Deserialize)]
struct RawCardinality {
    field: String,
    value: u64,
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Byte offset where a string value's content starts, given the span of the whole TOML value
/// (quotes included). A newline right after `'''`/`"""` is not part of the string.
fn content_start(text: &str, span_start: usize) -> usize {
    let raw = &text[span_start..];
    for delim in ["'''", "\"\"\""] {
        if let Some(rest) = raw.strip_prefix(delim) {
            let skip = if rest.starts_with("\r\n") {
                2
            } else if rest.starts_with('\n') {
                1
            } else {
                0
            };
            return span_start + 3 + skip;
        }
    }
    span_start + usize::from(raw.starts_with(['\'', '"']))
}

/// Maps a query error's line/col inside the query string to the file.
fn map_query_error(text: &str, span_start: usize, e: &QueryError) -> (usize, usize) {
    let (line0, col0) = line_col(text, content_start(text, span_start));
    let line = e.line.max(1);
    if line == 1 {
        (line0, col0 + e.col.max(1) - 1)
    } else {
        (line0 + line - 1, e.col.max(1))
    }
}

/// Parses Elastic date math `now-9m` into milliseconds (`s m h d w`, `M` = 30d, `y` = 365d).
pub fn parse_lookback(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix("now-")?;
    let split = rest.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = rest.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit_ms: i64 = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

/// Loads one rule from TOML text; `file` names it in every location.
pub fn load_str(file: &str, text: &str) -> Loaded {
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let at = e.span().map_or((1, 1), |s| line_col(text, s.start));
            return Loaded::fail(
                file,
                Status::Error,
                at,
                format!("invalid TOML: {}", e.message().trim()),
            );
        }
    };
    let Some(rule) = raw.rule else {
        return Loaded::fail(file, Status::Error, (1, 1), "no [rule] table".to_owned());
    };
    let header = text.lines().scan(0, |off, l| {
        let start = *off;
        *off += l.len() + 1;
        Some((start, l))
    });
    let header = header
        .filter(|(_, l)| l.trim() == "[rule]")
        .map(|(o, _)| o)
        .next();
    let rule_at = line_col(text, header.unwrap_or(rule.span().start));
    let r = rule.into_inner();
    let mut out = Loaded {
        file: file.to_owned(),
        line: rule_at.0,
        col: rule_at.1,
        rule_id: r.rule_id.clone(),
        name: r.name.clone(),
        rule_type: r.rule_type.clone(),
        status: Status::Ok,
        message: String::new(),
        rule: None,
    };
    match compile(file, text, r) {
        Ok(rule) => out.rule = Some(rule),
        Err((status, at, message)) => {
            out.status = status;
            if let Some((l, c)) = at {
                out.line = l;
                out.col = c;
            }
            out.message = message;
        }
    }
    out
}

type Failure = (Status, Option<(usize, usize)>, String);

fn compile(file: &str, text: &str, r: RawRule) -> Result<Rule, Failure> {
    let missing = |key: &str| {
        (
            Status::Error,
            None,
            format!("missing required key rule.{key}"),
        )
    };
    let rule_type = r.rule_type.clone().ok_or_else(|| missing("type"))?;
    let rule_id = r.rule_id.clone().ok_or_else(|| missing("rule_id"))?;
    let name = r.name.clone().ok_or_else(|| missing("name"))?;
    let description = r
        .description
        .clone()
        .ok_or_else(|| missing("description"))?;
    let severity = r.severity.clone().ok_or_else(|| missing("severity"))?;
    let risk_score = r.risk_score.ok_or_else(|| missing("risk_score"))?;
    if !["low", "medium", "high", "critical"].contains(&severity.as_str()) {
        return Err((
            Status::Error,
            None,
            format!("severity {severity:?} is not low, medium, high or critical"),
        ));
    }
    let unsupported = |what: String| Err((Status::Unsupported, None, what));
    match rule_type.as_str() {
        "query" | "eql" | "new_terms" | "threshold" => {}
        "esql" => return unsupported("ES|QL rules are not supported".to_owned()),
        "machine_learning" => {
            return unsupported("machine_learning rules need Elastic ML jobs".to_owned())
        }
        "threat_match" => {
            return unsupported("threat_match (indicator match) rules are not supported".to_owned())
        }
        "saved_query" => return unsupported("saved_query rules are not supported".to_owned()),
        other => return unsupported(format!("rule type {other:?} is not supported")),
    }
    let default_lang = if rule_type == "eql" { "eql" } else { "kuery" };
    let language = r
        .language
        .clone()
        .unwrap_or_else(|| default_lang.to_owned());
    let query = r.query.clone().ok_or_else(|| missing("query"))?;
    let query_span = query.span().start;
    let query_text = query.into_inner();
    let query_err = |e: QueryError| {
        let at = map_query_error(text, query_span, &e);
        (
            Status::Error,
            Some(at),
            format!("{language} query: {}", e.message),
        )
    };

    let lookback_ms = match &r.from {
        None => 6 * 60_000,
        Some(from) => parse_lookback(from.get_ref()).ok_or_else(|| {
            (
                Status::Error,
                Some(line_col(text, from.span().start)),
                format!(
                    "cannot read from = {:?} (expected now-<n><s|m|h|d|w|M|y>)",
                    from.get_ref()
                ),
            )
        })?,
    };

    let kql_filter = |lang: &str| -> Result<(Filter, Expr), Failure> {
        match lang {
            "kuery" => {
                let expr = kql::parse_expr(&query_text).map_err(query_err)?;
                let filter = Filter::compile(&expr).map_err(query_err)?;
                Ok((filter, expr))
            }
            "lucene" => Err((
                Status::Unsupported,
                None,
                "Lucene queries are not supported; use KQL (language = \"kuery\")".to_owned(),
            )),
            other => Err((
                Status::Error,
                None,
                format!("language {other:?} is not valid for a {rule_type} rule"),
            )),
        }
    };

    let kind = match rule_type.as_str() {
        "query" => {
            let (filter, expr) = kql_filter(&language)?;
            RuleKind::Query { filter, expr }
        }
        "eql" => {
            if language != "eql" {
                return Err((
                    Status::Error,
                    None,
                    format!("an eql rule needs language = \"eql\", not {language:?}"),
                ));
            }
            RuleKind::Eql {
                query: Arc::new(eql::parse(&query_text).map_err(query_err)?),
            }
        }
        "new_terms" => {
            let nt = r.new_terms.as_ref().ok_or_else(|| missing("new_terms"))?;
            if nt.field.as_deref().is_some_and(|f| f != "new_terms_fields") {
                return Err((
                    Status::Error,
                    None,
                    format!(
                        "rule.new_terms.field must be \"new_terms_fields\", not {:?}",
                        nt.field
                    ),
                ));
            }
            let fields = nt
                .value
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing("new_terms.value (the fields)"))?;
            let window = nt
                .history_window_start
                .iter()
                .flatten()
                .find(|p| {
                    p.field.as_deref().unwrap_or("history_window_start") == "history_window_start"
                })
                .and_then(|p| p.value.clone())
                .ok_or_else(|| missing("new_terms.history_window_start"))?;
            let history_window_ms = parse_lookback(&window).ok_or_else(|| {
                (
                    Status::Error,
                    None,
                    format!("cannot read history_window_start = {window:?}"),
                )
            })?;
            let (filter, expr) = kql_filter(&language)?;
            RuleKind::NewTerms {
                filter,
                expr,
                fields,
                history_window_ms,
            }
        }
        "threshold" => {
            let th = r.threshold.as_ref().ok_or_else(|| missing("threshold"))?;
            let fields = match &th.field {
                None => Vec::new(),
                Some(OneOrMany::One(f)) if f.is_empty() => Vec::new(),
                Some(OneOrMany::One(f)) => vec![f.clone()],
                Some(OneOrMany::Many(v)) => v.clone(),
            };
            let value = th.value.ok_or_else(|| missing("threshold.value"))?.max(1);
            let cardinality = th
                .cardinality
                .iter()
                .map(|c| Cardinality {
                    field: c.field.clone(),
                    value: c.value,
                })
                .collect();
            let (filter, expr) = kql_filter(&language)?;
            RuleKind::Threshold {
                filter,
                expr,
                fields,
                value,
                cardinality,
            }
        }
        _ => unreachable!("checked above"),
    };

    let threat = match &r.threat {
        Some(t) => serde_json::to_value(t).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Array(Vec::new()),
    };
    Ok(Rule {
        file: file.to_owned(),
        rule_id,
        name,
        description,
        rule_type,
        language,
        query: query_text,
        index: r.index.unwrap_or_default(),
        severity,
        risk_score,
        tags: r.tags,
        threat,
        version: r.version,
        building_block_type: r.building_block_type,
        lookback_ms,
        max_signals: r.max_signals.unwrap_or(100).max(1) as usize,
        kind,
    })
}

#[cfg(test)]
mod tests;
