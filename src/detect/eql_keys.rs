//! Dispatch keys of EQL rules, read from the query text.
//!
//! The compiled EQL query does not expose its expression tree, so the engine would only know
//! each stage's `event.category`. This reads the query's stages and, in each, the top-level
//! conjuncts of the plain shapes `field == "v"`, `field in ("a", "b")`, `field : "v"`,
//! `field : ("a", "b")`, `field in~ (...)` (no wildcards), which every event the stage matches
//! must satisfy. Anything else (functions, `not`, `or` across fields, numbers, escapes, raw
//! strings, comments, optional fields) contributes no key; a query it cannot read at all gets
//! `None`, and the engine then falls back to the categories. Wrong keys would lose alerts, so
//! the reader refuses rather than guesses.

use super::engine::Key;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Pipe,
    /// `==`, `:`, `in`, `in~`, and everything else as `Other` (`!=`, `<`, numbers, ...).
    Op(&'static str),
    Other,
}

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b'[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            b']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1
            }
            b'|' => {
                out.push(Tok::Pipe);
                i += 1
            }
            b':' => {
                out.push(Tok::Op(":"));
                i += 1
            }
            b'=' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Op("=="));
                i += 2
            }
            b'"' => {
                // Raw (`"""`) strings and escapes are left to the real parser.
                if src[i..].starts_with("\"\"\"") {
                    return None;
                }
                let end = src[i + 1..].find('"')? + i + 1;
                let s = &src[i + 1..end];
                if s.contains('\\') {
                    return None;
                }
                out.push(Tok::Str(s.to_owned()));
                i = end + 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = src[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = src[i + 2..].find("*/").map(|n| i + 2 + n + 2)?;
            }
            // `?field` (optional): the condition on it is still necessary when it holds.
            b'?' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'@') =>
            {
                i += 1
            }
            // Raw `?"..."` strings, `'` strings, backtick fields: not read here.
            b'\'' | b'`' | b'?' => return None,
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b'@' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'@'))
                {
                    i += 1;
                }
                let word = &src[start..i];
                if word == "in" {
                    if b.get(i) == Some(&b'~') {
                        i += 1;
                        out.push(Tok::Op("in~"));
                    } else {
                        out.push(Tok::Op("in"));
                    }
                } else if b.get(i) == Some(&b'~') {
                    // `like~`, `startsWith~(...)`: not a shape we key on.
                    i += 1;
                    out.push(Tok::Other);
                } else {
                    out.push(Tok::Word(word.to_owned()));
                }
            }
            _ => {
                out.push(Tok::Other);
                i += 1
            }
        }
    }
    Some(out)
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

/// Splits `toks` at depth-0 occurrences of the keyword.
fn split_kw<'a>(toks: &'a [Tok], kw: &str) -> Vec<&'a [Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::LParen | Tok::LBracket => depth += 1,
            Tok::RParen | Tok::RBracket => depth -= 1,
            _ if depth == 0 && is_kw(t, kw) => {
                parts.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// The closing index of the bracket or paren opened at `open`.
fn matching(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen | Tok::LBracket => depth += 1,
            Tok::RParen | Tok::RBracket => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A string that is safe to compare as text: numbers and booleans may be matched by typed
/// values the dispatcher does not look at.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_err() && !matches!(s, "true" | "false" | "null")
}

/// `field op value(s)` as a key, or `None` for any other shape.
fn conjunct_key(t: &[Tok]) -> Vec<Key> {
    // `( ... )` around the whole conjunct: read inside.
    if t.first() == Some(&Tok::LParen) && matching(t, 0) == Some(t.len() - 1) {
        return cond_keys(&t[1..t.len() - 1]);
    }
    let (Some(Tok::Word(field)), Some(Tok::Op(op))) = (t.first(), t.get(1)) else {
        return Vec::new();
    };
    // Every event of this sensor is Linux: `host.os.type` selects nothing.
    if field == "host.os.type"
        || ["and", "or", "not"]
            .iter()
            .any(|k| field.eq_ignore_ascii_case(k))
    {
        return Vec::new();
    }
    let rest = &t[2..];
    let values: Option<Vec<String>> = match rest {
        [Tok::Str(s)] => Some(vec![s.clone()]),
        [Tok::LParen, inner @ .., Tok::RParen] => {
            let mut vals = Vec::new();
            let mut ok = !inner.is_empty();
            for (i, tok) in inner.iter().enumerate() {
                match (i % 2, tok) {
                    (0, Tok::Str(s)) => vals.push(s.clone()),
                    (1, Tok::Comma) => {}
                    _ => ok = false,
                }
            }
            (ok && inner.len() % 2 == 1).then_some(vals)
        }
        _ => None,
    };
    let Some(values) = values else {
        return Vec::new();
    };
    if !values.iter().all(|v| plain(v)) {
        return Vec::new();
    }
    let insensitive = match *op {
        "==" => false,
        "in" if matches!(rest.first(), Some(Tok::LParen)) => false,
        "in~" if matches!(rest.first(), Some(Tok::LParen)) => true,
        ":" if values.iter().all(|v| super::engine::prefix_or_plain(v)) => true,
        _ => return Vec::new(),
    };
    let values = if insensitive {
        values.iter().map(|v| v.to_lowercase()).collect()
    } else {
        values
    };
    vec![Key {
        field: field.clone(),
        insensitive,
        values,
    }]
}

/// Keys every event satisfying the condition meets (at most one per field).
fn cond_keys(t: &[Tok]) -> Vec<Key> {
    let alternatives = split_kw(t, "or");
    if alternatives.len() > 1 {
        // `a or b`: a field keyed in every alternative, with the union of their values.
        let per_alt: Vec<Vec<Key>> = alternatives.iter().map(|a| cond_keys(a)).collect();
        let mut out = Vec::new();
        for k in &per_alt[0] {
            let mut acc = k.clone();
            let mut all = true;
            for other in &per_alt[1..] {
                match other.iter().find(|o| o.field == k.field) {
                    Some(o) => merge(&mut acc, o),
                    None => all = false,
                }
            }
            if all {
                out.push(acc);
            }
        }
        return out;
    }
    let mut out: Vec<Key> = Vec::new();
    for conj in split_kw(t, "and") {
        for k in conjunct_key(conj) {
            // Two conditions on one field: either is necessary; keep the narrower.
            match out.iter_mut().find(|o| o.field == k.field) {
                Some(o) if k.values.len() < o.values.len() => *o = k,
                Some(_) => {}
                None => out.push(k),
            }
        }
    }
    out
}

fn merge(acc: &mut Key, other: &Key) {
    if acc.insensitive != other.insensitive {
        acc.insensitive = true;
        acc.values.iter_mut().for_each(|v| *v = v.to_lowercase());
    }
    for v in &other.values {
        let v = if acc.insensitive {
            v.to_lowercase()
        } else {
            v.clone()
        };
        if !acc.values.contains(&v) {
            acc.values.push(v);
        }
    }
}

/// The keys of one stage: `category where condition`.
fn stage_keys(t: &[Tok]) -> Option<Vec<Key>> {
    let (Some(Tok::Word(category)), true) =
        (t.first(), t.get(1).is_some_and(|w| is_kw(w, "where")))
    else {
        return None;
    };
    let mut keys = cond_keys(&t[2..]);
    if !category.eq_ignore_ascii_case("any") {
        // The compiled stage checks `event.category` case-sensitively.
        if let Some(k) = keys.iter_mut().find(|k| k.field == "event.category") {
            if k.insensitive {
                *k = Key {
                    field: "event.category".to_owned(),
                    insensitive: false,
                    values: vec![category.clone()],
                };
            }
        } else {
            keys.push(Key {
                field: "event.category".to_owned(),
                insensitive: false,
                values: vec![category.clone()],
            });
        }
    }
    Some(keys)
}

/// Per stage (and `until`), the keys an event must satisfy to be relevant to that stage; `None`
/// when the query is not read.
pub fn query_stage_keys(src: &str) -> Option<Vec<Vec<Key>>> {
    let toks = tokenize(src)?;
    let head = toks.first()?;
    if is_kw(head, "sequence") || is_kw(head, "sample") {
        let mut stages = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Pipe => break,
                Tok::LBracket => {
                    let end = matching(&toks, i)?;
                    stages.push(stage_keys(&toks[i + 1..end])?);
                    i = end + 1;
                }
                Tok::Other if toks.get(i + 1) == Some(&Tok::LBracket) => {
                    // `![`: a missing-event stage; its events must reach the runtime too.
                    i += 1;
                }
                _ => i += 1,
            }
        }
        return (!stages.is_empty()).then_some(stages);
    }
    let end = toks
        .iter()
        .position(|t| *t == Tok::Pipe)
        .unwrap_or(toks.len());
    Some(vec![stage_keys(&toks[..end])?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(field: &str, ins: bool, vals: &[&str]) -> Key {
        Key {
            field: field.to_owned(),
            insensitive: ins,
            values: vals.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn event_query_conjuncts() {
        let keys = query_stage_keys(
            r#"process where host.os.type == "linux" and event.type == "start" and process.name in ("curl", "wget") and not process.args : "x*""#,
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        let s = &keys[0];
        assert!(s.contains(&k("process.name", false, &["curl", "wget"])));
        assert!(s.contains(&k("event.type", false, &["start"])));
        assert!(s.contains(&k("event.category", false, &["process"])));
        assert!(!s
            .iter()
            .any(|k| k.field == "process.args" || k.field == "host.os.type"));
    }

    #[test]
    fn or_needs_the_field_in_every_alternative() {
        let s = &query_stage_keys(r#"file where (event.action == "rename" or event.action : "Creation") and file.path : "/etc/*""#).unwrap()[0];
        assert!(
            s.contains(&k("event.action", true, &["rename", "creation"])),
            "{s:?}"
        );
        assert!(
            s.contains(&k("file.path", true, &["/etc/*"])),
            "a trailing-star pattern is a prefix key"
        );
        let s =
            &query_stage_keys(r#"process where process.name == "a" or user.id == "0""#).unwrap()[0];
        assert_eq!(s, &vec![k("event.category", false, &["process"])]);
    }

    #[test]
    fn sequences_and_samples_read_every_stage() {
        let q = r#"sequence by host.id with maxspan=5s
          [process where event.action == "exec" and process.name in ("sh", "bash")] by process.entity_id
          ![network where event.action == "connection_attempted"] by process.parent.entity_id
          until [process where event.action == "end"]"#;
        let st = query_stage_keys(q).unwrap();
        assert_eq!(st.len(), 3);
        assert!(st[1].contains(&k("event.action", false, &["connection_attempted"])));
        let st =
            query_stage_keys("sample by host.id [any where true] [process where true]").unwrap();
        assert_eq!(st[0], vec![]);
    }

    #[test]
    fn comments_and_optional_fields() {
        let q = "process where // a comment: or (\n ?process.name == \"a\" /* and not */ and user.id == \"x\"";
        let s = &query_stage_keys(q).unwrap()[0];
        assert!(s.contains(&k("process.name", false, &["a"])), "{s:?}");
        assert!(s.contains(&k("user.id", false, &["x"])), "{s:?}");
        let s = &query_stage_keys(r#"process where process.name : ("*sh", "py*")"#).unwrap()[0];
        assert!(
            !s.iter().any(|k| k.field == "process.name"),
            "a leading star is no prefix"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_safely() {
        assert_eq!(
            query_stage_keys(r#"process where process.name == "a\"b""#),
            None
        );
        assert_eq!(
            query_stage_keys("process where process.name == ?\"a\""),
            None
        );
        assert_eq!(
            query_stage_keys("process where process.name == \"\"\"raw\"\"\""),
            None
        );
        assert_eq!(query_stage_keys("process where /* open"), None);
        // Numbers and booleans as strings could be matched by typed values: no key.
        let s = &query_stage_keys(r#"process where process.pid == "1" and user.id in ("0", "1")"#)
            .unwrap()[0];
        assert_eq!(s, &vec![k("event.category", false, &["process"])]);
        // Functions and comparisons give nothing.
        let s = &query_stage_keys(
            r#"network where cidrmatch(destination.ip, "10.0.0.0/8") and destination.port != 22"#,
        )
        .unwrap()[0];
        assert_eq!(s, &vec![k("event.category", false, &["network"])]);
        assert_eq!(query_stage_keys(""), None);
        assert_eq!(query_stage_keys("process"), None);
    }
}
