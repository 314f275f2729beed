//! KQL (`language = "kuery"`), compiled to the same filter as EQL.
//!
//! CONTRACT: `parse_expr(src) -> Result<Expr, QueryError>` and `parse(src) -> Result<Filter,
//! QueryError>`; `QueryError` line/col are 1-based within `src` (col counts characters).
//!
//! The grammar follows Kibana's `grammar.peggy`: `or` binds looser than `and`, `not` prefixes a
//! sub-query or a value list, an unquoted value may contain spaces (trimmed) and ends at a
//! special character `\():<>"*{}` or at a keyword (` or `, ` and `, `not `). Only `*` is a
//! wildcard; an escaped `\*` is a literal star. Keyword matching is exact and case-sensitive.
//!
//! Mapping to `Expr` (the keyword-field semantics of Elasticsearch, without a mapping):
//! - `f:v` → `Compare Eq`; a value that reads as a number or boolean also matches that typed
//!   value (`Or` of both), since ES coerces `"22"` to a numeric field's 22.
//! - `f:(a or b)` of plain values → `In`; wildcard values → `Match{Like, insensitive:false}`
//!   (`Regex` when the value also holds a literal `*` or `?`).
//! - `f:*` → `Not(Compare Eq f null)` (exists).
//! - An IP or CIDR value on an IP field (`*.ip`, `ip`) → `cidrmatch(f, v)`, as ES does for
//!   `ip`-typed fields (`destination.ip:10.0.0.0/8`).
//! - `f >= v` → `Compare Ge` (number when `v` reads as one).
//!
//! Not supported, reported as errors: nested queries `f:{ .. }`, values without a field
//! (free-text search), wildcards in field names.

use super::eql::{Filter, QueryError};
use super::expr::{CmpOp, Expr, MatchKind};
use crate::event::Value;

/// Parses KQL into the shared expression tree.
pub fn parse_expr(src: &str) -> Result<Expr, QueryError> {
    let mut p = Parser { src, pos: 0 };
    p.skip_space();
    if p.at_end() {
        return Err(p.error_at(0, "empty query"));
    }
    let e = p.or_query()?;
    p.skip_space();
    if !p.at_end() {
        return Err(p.error(&format!("unexpected {}", p.describe_here())));
    }
    Ok(e)
}

/// Parses and compiles KQL to the matcher the engine runs.
pub fn parse(src: &str) -> Result<Filter, QueryError> {
    let e = parse_expr(src)?;
    Filter::compile(&e)
}

/// One piece of an unquoted value: a literal character or the `*` wildcard.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Piece {
    Char(char),
    Star,
}

#[derive(Debug)]
enum Literal {
    Quoted(String),
    Unquoted(Vec<Piece>),
}

impl Literal {
    fn has_wildcard(&self) -> bool {
        matches!(self, Literal::Unquoted(p) if p.contains(&Piece::Star))
    }
    /// The text with wildcards written as `*` (for field names and range values).
    fn text(&self) -> String {
        match self {
            Literal::Quoted(s) => s.clone(),
            Literal::Unquoted(p) => p
                .iter()
                .map(|c| if let Piece::Char(c) = c { *c } else { '*' })
                .collect(),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{a0}')
}

fn is_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '(' | ')' | ':' | '<' | '>' | '"' | '*' | '{' | '}'
    )
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
    }

    fn error_at(&self, pos: usize, msg: &str) -> QueryError {
        let before = &self.src[..pos.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        QueryError {
            line,
            col,
            message: msg.to_owned(),
        }
    }
    fn error(&self, msg: &str) -> QueryError {
        self.error_at(self.pos, msg)
    }
    fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of query".to_owned(),
            Some(c) => format!("'{c}'"),
        }
    }

    /// Length of a keyword (`or`/`and` with the spaces around it, or `not ` ) at `at`.
    fn keyword_len(&self, at: usize, word: &str) -> Option<usize> {
        let s = &self.src[at..];
        let lead = s.len() - s.trim_start_matches(is_space).len();
        if word != "not" && lead == 0 {
            return None;
        }
        let after = &s[lead..];
        if !after
            .get(..word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
        {
            return None;
        }
        let tail = &after[word.len()..];
        let trail = tail.len() - tail.trim_start_matches(is_space).len();
        // `not(` and `or(` are accepted too (parentheses cannot start a literal), and a keyword
        // at the very end is one, so `a:x or` reports the missing operand.
        if trail == 0 && !tail.starts_with('(') && !tail.is_empty() {
            return None;
        }
        Some(lead + word.len() + trail)
    }
    fn eat_keyword(&mut self, word: &str) -> bool {
        match self.keyword_len(self.pos, word) {
            Some(n) => {
                self.pos += n;
                true
            }
            None => false,
        }
    }
    fn keyword_at(&self, at: usize) -> bool {
        ["or", "and", "not"]
            .iter()
            .any(|w| self.keyword_len(at, w).is_some())
    }

    fn or_query(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_query()?];
        while self.eat_keyword("or") {
            items.push(self.and_query()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Expr::Or(items)
        })
    }

    fn and_query(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_query()?];
        while self.eat_keyword("and") {
            items.push(self.not_query()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Expr::And(items)
        })
    }

    fn not_query(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            self.skip_space();
            return Ok(Expr::Not(Box::new(self.not_query()?)));
        }
        self.sub_query()
    }

    fn sub_query(&mut self) -> Result<Expr, QueryError> {
        if self.peek() == Some('(') {
            self.bump();
            self.skip_space();
            let e = self.or_query()?;
            self.skip_space();
            if self.peek() != Some(')') {
                return Err(self.error(&format!(
                    "expected ')' or a keyword, found {}",
                    self.describe_here()
                )));
            }
            self.bump();
            return Ok(e);
        }
        self.expression()
    }

    fn expression(&mut self) -> Result<Expr, QueryError> {
        let field_pos = self.pos;
        let field = match self.literal()? {
            Some(l) => l,
            None => {
                return Err(self.error(&format!(
                    "expected a field name, found {}",
                    self.describe_here()
                )))
            }
        };
        self.skip_space();
        let range = if self.rest().starts_with("<=") {
            Some((CmpOp::Le, 2))
        } else if self.rest().starts_with(">=") {
            Some((CmpOp::Ge, 2))
        } else if self.rest().starts_with('<') {
            Some((CmpOp::Lt, 1))
        } else if self.rest().starts_with('>') {
            Some((CmpOp::Gt, 1))
        } else {
            None
        };
        if range.is_none() && self.peek() != Some(':') {
            return Err(self.error_at(
                field_pos,
                &format!(
                    "a value without a field name (free-text search of \"{}\") is not supported; write field:value",
                    field.text()
                ),
            ));
        }
        let path = self.field_name(&field, field_pos)?;
        if let Some((op, n)) = range {
            self.pos += n;
            self.skip_space();
            let value_pos = self.pos;
            let value = match self.literal()? {
                Some(v) => v,
                None => {
                    return Err(self.error(&format!(
                        "expected a value after the range operator, found {}",
                        self.describe_here()
                    )))
                }
            };
            if value.has_wildcard() {
                return Err(self.error_at(value_pos, "a range value cannot contain a wildcard"));
            }
            let text = value.text();
            let lit = match number(&text) {
                Some(n) => n,
                None => Value::Str(text.into()),
            };
            return Ok(Expr::Compare {
                op,
                left: Box::new(Expr::field(&path)),
                right: Box::new(Expr::Literal(lit)),
            });
        }
        self.bump(); // ':'
        self.skip_space();
        if self.peek() == Some('{') {
            return Err(self.error(&format!(
                "nested queries ({path}:{{ ... }}) are not supported"
            )));
        }
        self.list_of_values(&path)
    }

    fn field_name(&self, field: &Literal, at: usize) -> Result<String, QueryError> {
        if field.has_wildcard() {
            return Err(self.error_at(
                at,
                &format!(
                    "wildcards in field names ({}) are not supported",
                    field.text()
                ),
            ));
        }
        let name = field.text();
        if name.is_empty() {
            return Err(self.error_at(at, "empty field name"));
        }
        Ok(name)
    }

    fn list_of_values(&mut self, field: &str) -> Result<Expr, QueryError> {
        if self.peek() == Some('(') {
            self.bump();
            self.skip_space();
            let e = self.or_values(field)?;
            self.skip_space();
            if self.peek() != Some(')') {
                return Err(self.error(&format!(
                    "expected ')' or a keyword in the value list, found {}",
                    self.describe_here()
                )));
            }
            self.bump();
            return Ok(e);
        }
        let at = self.pos;
        match self.literal()? {
            Some(v) => Ok(value_expr(field, v)),
            None => Err(self.error_at(
                at,
                &format!(
                    "expected a value for {field}, found {}",
                    self.describe_here()
                ),
            )),
        }
    }

    fn or_values(&mut self, field: &str) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_values(field)?];
        while self.eat_keyword("or") {
            items.push(self.and_values(field)?);
        }
        Ok(merge_or(field, items))
    }

    fn and_values(&mut self, field: &str) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_values(field)?];
        while self.eat_keyword("and") {
            items.push(self.not_values(field)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Expr::And(items)
        })
    }

    fn not_values(&mut self, field: &str) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            self.skip_space();
            return Ok(Expr::Not(Box::new(self.not_values(field)?)));
        }
        self.list_of_values(field)
    }

    /// A quoted string or an unquoted literal; `None` when neither starts here.
    fn literal(&mut self) -> Result<Option<Literal>, QueryError> {
        if self.peek() == Some('"') {
            return self.quoted().map(Some);
        }
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            // Keywords only count at a word boundary: `cannot` stays one word.
            if (is_space(c) && self.keyword_at(self.pos))
                || (pieces.is_empty() && self.keyword_len(self.pos, "not").is_some())
            {
                break;
            }
            if c == '\\' {
                let at = self.pos;
                self.bump();
                pieces.push(Piece::Char(self.escape(at, false)?));
                continue;
            }
            if c == '*' {
                self.bump();
                pieces.push(Piece::Star);
                continue;
            }
            if is_special(c) {
                break;
            }
            self.bump();
            pieces.push(Piece::Char(c));
        }
        // Unescaped surrounding whitespace is not part of the value.
        while matches!(pieces.last(), Some(Piece::Char(c)) if is_space(*c)) {
            pieces.pop();
        }
        let lead = pieces
            .iter()
            .take_while(|p| matches!(p, Piece::Char(c) if is_space(*c)))
            .count();
        pieces.drain(..lead);
        Ok(if pieces.is_empty() {
            None
        } else {
            Some(Literal::Unquoted(pieces))
        })
    }

    fn quoted(&mut self) -> Result<Literal, QueryError> {
        let start = self.pos;
        self.bump(); // opening quote
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "unterminated quoted string")),
                Some('"') => {
                    self.bump();
                    return Ok(Literal::Quoted(s));
                }
                Some('\\') => {
                    let at = self.pos;
                    self.bump();
                    s.push(self.escape(at, true)?);
                }
                Some(c) => {
                    self.bump();
                    s.push(c);
                }
            }
        }
    }

    /// The character after a backslash (already consumed). In quoted strings only `\\`, `\"`,
    /// `\t\r\n` and `\uXXXX` are escapes; any other backslash is kept as written.
    fn escape(&mut self, at: usize, quoted: bool) -> Result<char, QueryError> {
        let Some(c) = self.peek() else {
            return Err(self.error_at(at, "a backslash at the end of the query escapes nothing"));
        };
        let simple = match c {
            't' => Some('\t'),
            'r' => Some('\r'),
            'n' => Some('\n'),
            '\\' | '"' => Some(c),
            _ if !quoted && is_special(c) => Some(c),
            _ => None,
        };
        if let Some(out) = simple {
            self.bump();
            return Ok(out);
        }
        if c == 'u' {
            let hex = self
                .rest()
                .get(1..5)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
            if let Some(ch) = hex
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
            {
                self.pos += 5;
                return Ok(ch);
            }
        }
        if quoted {
            return Ok('\\');
        }
        // `\or`, `\and`, `\not`: the keyword as literal text; its first letter comes back here,
        // the rest is ordinary characters.
        for w in ["or", "and", "not"] {
            if self
                .rest()
                .get(..w.len())
                .is_some_and(|k| k.eq_ignore_ascii_case(w))
            {
                self.bump();
                return Ok(c);
            }
        }
        Err(self.error_at(
            at,
            &format!("invalid escape '\\{c}'; escape only \\ ( ) : < > \" * {{ }} and keywords"),
        ))
    }
}

fn number(s: &str) -> Option<Value> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Int(i));
    }
    // Only plain decimal notation: `inf`/`nan` are words, not numbers.
    if s.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit())
    {
        return s.parse::<f64>().ok().map(Value::Float);
    }
    None
}

fn is_ip_field(field: &str) -> bool {
    field == "ip" || field.ends_with(".ip")
}

fn is_ip_or_cidr(s: &str) -> bool {
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    s.parse::<ipnet::IpNet>().is_ok()
        || (addr.len() == s.len() && addr.parse::<std::net::IpAddr>().is_ok())
}

fn eq(field: &str, v: Value) -> Expr {
    Expr::Compare {
        op: CmpOp::Eq,
        left: Box::new(Expr::field(field)),
        right: Box::new(Expr::Literal(v)),
    }
}

fn exists(field: &str) -> Expr {
    Expr::Not(Box::new(eq(field, Value::Null)))
}

fn value_expr(field: &str, lit: Literal) -> Expr {
    let text = match lit {
        Literal::Unquoted(pieces) if pieces == [Piece::Star] => return exists(field),
        Literal::Unquoted(pieces) if pieces.contains(&Piece::Star) => {
            return wildcard(field, &pieces)
        }
        Literal::Unquoted(pieces) => pieces
            .iter()
            .filter_map(|p| {
                if let Piece::Char(c) = p {
                    Some(*c)
                } else {
                    None
                }
            })
            .collect(),
        Literal::Quoted(s) => s,
    };
    if is_ip_field(field) && is_ip_or_cidr(&text) {
        return Expr::Call {
            name: "cidrmatch".to_owned(),
            insensitive: false,
            args: vec![Expr::field(field), Expr::Literal(Value::Str(text.into()))],
        };
    }
    let typed = match text.as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => number(&text),
    };
    match typed {
        Some(t) => Expr::Or(vec![eq(field, t), eq(field, Value::Str(text.into()))]),
        None => eq(field, Value::Str(text.into())),
    }
}

/// A wildcard value: `Like` when no literal `*`/`?` needs escaping, else an anchored regex.
fn wildcard(field: &str, pieces: &[Piece]) -> Expr {
    let needs_regex = pieces
        .iter()
        .any(|p| matches!(p, Piece::Char('*') | Piece::Char('?')));
    let (kind, pattern) = if needs_regex {
        let mut re = String::new();
        let mut buf = [0u8; 4];
        for p in pieces {
            match p {
                Piece::Star => re.push_str("(?s:.*)"),
                Piece::Char(c) => re.push_str(&regex::escape(c.encode_utf8(&mut buf))),
            }
        }
        (MatchKind::Regex, re)
    } else {
        let s = pieces
            .iter()
            .map(|p| if let Piece::Char(c) = p { *c } else { '*' })
            .collect();
        (MatchKind::Like, s)
    };
    Expr::Match {
        kind,
        insensitive: false,
        expr: Box::new(Expr::field(field)),
        patterns: vec![Expr::Literal(Value::Str(pattern.into()))],
    }
}

/// Folds the alternatives of `f:(a or b or c*)`: plain strings into one `In`, `Like` patterns
/// into one `Match`, so the compiled filter can use a set and a single pattern scan.
fn merge_or(field: &str, items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().expect("one");
    }
    let mut strings = Vec::new();
    let mut likes = Vec::new();
    let mut others = Vec::new();
    for e in items {
        match e {
            Expr::Compare {
                op: CmpOp::Eq,
                right,
                left,
            } if matches!(*right, Expr::Literal(Value::Str(_))) && is_field(&left, field) => {
                strings.push(*right)
            }
            Expr::In {
                expr,
                list,
                insensitive: false,
                negated: false,
            } if is_field(&expr, field) => strings.extend(list),
            Expr::Match {
                kind: MatchKind::Like,
                insensitive: false,
                expr,
                patterns,
            } if is_field(&expr, field) => likes.extend(patterns),
            other => others.push(other),
        }
    }
    let mut out = Vec::new();
    match strings.len() {
        0 => {}
        1 => out.push(Expr::Compare {
            op: CmpOp::Eq,
            left: Box::new(Expr::field(field)),
            right: Box::new(strings.remove(0)),
        }),
        _ => out.push(Expr::In {
            expr: Box::new(Expr::field(field)),
            list: strings,
            insensitive: false,
            negated: false,
        }),
    }
    if !likes.is_empty() {
        out.push(Expr::Match {
            kind: MatchKind::Like,
            insensitive: false,
            expr: Box::new(Expr::field(field)),
            patterns: likes,
        });
    }
    out.extend(others);
    if out.len() == 1 {
        out.pop().expect("one")
    } else {
        Expr::Or(out)
    }
}

fn is_field(e: &Expr, field: &str) -> bool {
    matches!(e, Expr::Field { path, .. } if path == field)
}

#[cfg(test)]
mod tests;
