//! `Expr` → compiled matcher. Common shapes (`field == "x"`, `field in (...)`, `field : "a*"`,
//! `field like~ (...)`, `startsWith(field, "x")`, `cidrMatch(field, ...)`, `field > 3`) become
//! specialised nodes that read one slot and test each value without allocating; literal and
//! wildcard patterns of one node are grouped (hash set, prefix/suffix lists, one Aho-Corasick
//! automaton for `*x*`), case-folded at compile time when the operator is insensitive.
//! Everything else goes through a general evaluator with the same semantics.
//!
//! Semantics: a multi-valued field matches when any value does; `!=`, `not` and `not in` are
//! exact complements (so an event without the field satisfies them); `== null` means absent.

use super::fields::{
    each_value, present, same_bytes, slot_of, IndexedEvent, Slot, StrMap, StrSet, Text,
};
use super::funcs;
use crate::detect::expr::{ArithOp, CmpOp, Expr, MatchKind};
use crate::detect::memo::{self, Policy};
use crate::event::Value;
use aho_corasick::AhoCorasick;
use compact_str::CompactString;
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Const(bool),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    /// The field has a non-null value.
    Present(Slot),
    /// Some string value of the field passes the test.
    Str(Slot, Box<StrTest>),
    /// A test against one string (`event.type == "start"`, most tests), the string kept in the
    /// node so that testing a string value reads no memory but the node's; other values go to
    /// `test` (the same test, built by [`str_node`]).
    One {
        slot: Slot,
        fold: bool,
        text: CompactString,
        test: Box<StrTest>,
    },
    /// Some value compares to the literal as `op` says.
    Cmp(Slot, CmpOp, Value),
    Cidr(Slot, Box<funcs::Nets>),
    General(Box<Pred>),
}

/// A group of string patterns applied to one value; `fold` when the operator is insensitive
/// (patterns are stored lower-cased, the value is lower-cased before testing).
///
/// `repr(C)`, fields in the order a test reads them: a test against one string reads only the
/// first cache line (`fold`, `single`), a remembered value the next, and most others stop
/// before the sets. Tests are one allocation each and rules hold thousands of them, so the
/// lines a test touches are mostly cache misses.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct StrTest {
    fold: bool,
    any_string: bool,
    /// A pattern looks numeric, so numeric event values are tested via their string form.
    numeric_strings: bool,
    /// Shortest and longest exact string (bytes).
    exact_lens: (usize, usize),
    /// The whole test is one exact string: compared directly, no hashing.
    single: Option<CompactString>,
    /// Results for recent values, for tests that cost more than a hash lookup (regexes,
    /// globs, many affixes): values repeat, so most are answered from here.
    memo: Option<Memo>,
    regexes: Vec<regex::Regex>,
    contains: Option<AhoCorasick>,
    globs: Vec<Glob>,
    prefixes: Affixes,
    suffixes: Affixes,
    exact: StrSet<CompactString>,
    /// Numbers from an `in` list: compared numerically against numeric values.
    numbers: Vec<Value>,
}

/// Results for recent values (`crate::detect::memo` says when). Rules are shared between
/// threads but evaluated on one (the worker): the lock is never contended, and a busy one is
/// simply not used.
#[derive(Debug, Default)]
struct Memo(std::sync::Mutex<(Policy, StrMap<CompactString, bool>)>);

impl Clone for Memo {
    /// A copy starts empty: results are per matcher instance.
    fn clone(&self) -> Memo {
        Memo::default()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pred {
    Truthy(Val),
    Cmp(CmpOp, Val, Val),
    IsNull(Val),
    In {
        val: Val,
        list: Vec<Val>,
        fold: bool,
    },
    Match(Val, Box<StrTest>),
}

#[derive(Clone, Debug)]
pub(crate) enum Val {
    Lit(Value),
    Field(Slot),
    /// An `?optional` field: when absent it is the `null` literal, so `?x == ?y` holds when
    /// both are absent (as ES replaces unmapped optional fields with `null`).
    OptionalField(Slot),
    /// `@timestamp`: the event's `timestamp_ms`.
    Timestamp,
    /// A comparison used as a value: `null` when a side is null (three-valued, as in ES).
    Compare(CmpOp, Box<Val>, Box<Val>),
    /// Negation of a boolean value (`null` stays `null`).
    Negate(Box<Val>),
    Call {
        name: String,
        insensitive: bool,
        args: Vec<Val>,
    },
    Arith(ArithOp, Box<Val>, Box<Val>),
    Neg(Box<Val>),
    Bool(Box<Node>),
}

/// Compiles a boolean expression.
pub(crate) fn compile(e: &Expr) -> Result<Node, String> {
    Ok(simplify(node(e)?))
}

fn node(e: &Expr) -> Result<Node, String> {
    Ok(match e {
        Expr::Literal(Value::Bool(b)) => Node::Const(*b),
        Expr::Literal(Value::Null) => Node::Const(false),
        Expr::Literal(v) => return Err(format!("a literal {v:?} is not a condition")),
        Expr::Field { path, .. } => {
            Node::General(Box::new(Pred::Truthy(Val::Field(slot_of(path)))))
        }
        Expr::Not(inner) => Node::Not(Box::new(node(inner)?)),
        Expr::And(items) => Node::And(items.iter().map(node).collect::<Result<_, _>>()?),
        Expr::Or(items) => Node::Or(items.iter().map(node).collect::<Result<_, _>>()?),
        Expr::Compare { op, left, right } => compare(*op, left, right)?,
        Expr::In {
            expr,
            list,
            insensitive,
            negated,
        } => {
            let n = in_list(expr, list, *insensitive)?;
            if *negated {
                Node::Not(Box::new(n))
            } else {
                n
            }
        }
        Expr::Match {
            kind,
            insensitive,
            expr,
            patterns,
        } => {
            let test = pattern_test(*kind, *insensitive, patterns)?;
            match field_slot(expr) {
                Some(s) => str_node(s, test),
                None => Node::General(Box::new(Pred::Match(val(expr)?, Box::new(test)))),
            }
        }
        Expr::Call {
            name,
            insensitive,
            args,
        } => call_node(name, *insensitive, args)?,
        Expr::Arith { .. } | Expr::Neg(_) => Node::General(Box::new(Pred::Truthy(val(e)?))),
    })
}

fn field_slot(e: &Expr) -> Option<Slot> {
    match e {
        Expr::Field { path, .. } => Some(slot_of(path)),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&Value> {
    match e {
        Expr::Literal(v) => Some(v),
        _ => None,
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn compare(op: CmpOp, left: &Expr, right: &Expr) -> Result<Node, String> {
    if op == CmpOp::Ne {
        return Ok(Node::Not(Box::new(compare(CmpOp::Eq, left, right)?)));
    }
    // Literal on the left: mirror.
    if literal(left).is_some() && literal(right).is_none() {
        return compare(flip(op), right, left);
    }
    if let Some(Value::Null) = literal(right) {
        if op != CmpOp::Eq {
            return Ok(Node::Const(false));
        }
        return Ok(match field_slot(left) {
            Some(s) => Node::Not(Box::new(Node::Present(s))),
            None => Node::General(Box::new(Pred::IsNull(val(left)?))),
        });
    }
    if matches!(left, Expr::Field { path, .. } if path == "@timestamp") {
        let lit = match literal(right) {
            Some(Value::Str(s)) => Value::Int(timestamp_literal(s)?),
            Some(v) => v.clone(),
            None => {
                return Ok(Node::General(Box::new(Pred::Cmp(
                    op,
                    Val::Timestamp,
                    val(right)?,
                ))))
            }
        };
        return Ok(Node::General(Box::new(Pred::Cmp(
            op,
            Val::Timestamp,
            Val::Lit(lit),
        ))));
    }
    if let (Some(s), Some(lit)) = (field_slot(left), literal(right)) {
        return Ok(match (op, lit) {
            (CmpOp::Eq, Value::Str(x)) => {
                let mut t = StrTest::default();
                t.add_exact(x);
                t.finish()?;
                str_node(s, t)
            }
            _ => Node::Cmp(s, op, lit.clone()),
        });
    }
    Ok(Node::General(Box::new(Pred::Cmp(
        op,
        val(left)?,
        val(right)?,
    ))))
}

/// A date literal compared with `@timestamp`: RFC 3339 or epoch milliseconds.
fn timestamp_literal(s: &str) -> Result<i64, String> {
    let t = s.trim();
    t.parse::<i64>()
        .ok()
        .or_else(|| crate::event::parse_rfc3339_ms(t))
        .or_else(|| {
            (t.len() == 10)
                .then(|| crate::event::parse_rfc3339_ms(&format!("{t}T00:00:00Z")))
                .flatten()
        })
        .ok_or_else(|| format!("cannot parse [{s}] as a date"))
}

fn in_list(expr: &Expr, list: &[Expr], insensitive: bool) -> Result<Node, String> {
    let all_literal = list.iter().all(|e| literal(e).is_some());
    if !all_literal {
        return Ok(Node::General(Box::new(Pred::In {
            val: val(expr)?,
            list: list.iter().map(val).collect::<Result<_, _>>()?,
            fold: insensitive,
        })));
    }
    let mut t = StrTest {
        fold: insensitive,
        ..Default::default()
    };
    for e in list {
        match literal(e) {
            Some(Value::Str(s)) => t.add_exact(s),
            Some(Value::Null) => {}
            Some(v) => t.numbers.push(v.clone()),
            None => {}
        }
    }
    t.finish()?;
    Ok(match field_slot(expr) {
        Some(s) => str_node(s, t),
        None => Node::General(Box::new(Pred::Match(val(expr)?, Box::new(t)))),
    })
}

fn pattern_test(kind: MatchKind, insensitive: bool, patterns: &[Expr]) -> Result<StrTest, String> {
    let mut t = StrTest {
        fold: insensitive && kind != MatchKind::Regex,
        ..Default::default()
    };
    for p in patterns {
        match (kind, literal(p)) {
            (MatchKind::Regex, Some(Value::Str(s))) => {
                t.regexes.push(funcs::build_regex(s, insensitive)?)
            }
            (_, Some(Value::Str(s))) => t.add_wildcard(s),
            (MatchKind::Seq, Some(Value::Null)) => {}
            (MatchKind::Seq, Some(v)) => t.numbers.push(v.clone()),
            _ => return Err("patterns must be constant strings".into()),
        }
    }
    t.finish()?;
    Ok(t)
}

fn call_node(name: &str, insensitive: bool, args: &[Expr]) -> Result<Node, String> {
    funcs::check_call(name, insensitive, args)?;
    let slot = args.first().and_then(field_slot);
    let lits: Option<Vec<&str>> = args[1..]
        .iter()
        .map(|a| literal(a).and_then(Value::as_str))
        .collect();
    if let (Some(s), Some(lits)) = (slot, lits) {
        match name {
            "cidrmatch" => {
                let nets = lits.iter().filter_map(|c| funcs::parse_cidr(c));
                return Ok(Node::Cidr(s, Box::new(funcs::Nets::new(nets))));
            }
            "startswith" | "endswith" | "stringcontains" => {
                let mut t = StrTest {
                    fold: insensitive,
                    ..Default::default()
                };
                let lit = fold(lits[0], insensitive);
                match name {
                    "startswith" => t.prefixes.list.push(lit.into()),
                    "endswith" => t.suffixes.list.push(lit.into()),
                    _ => t.add_contains(&lit),
                }
                t.finish()?;
                return Ok(str_node(s, t));
            }
            _ => {}
        }
    }
    Ok(Node::General(Box::new(Pred::Truthy(val(&Expr::Call {
        name: name.to_owned(),
        insensitive,
        args: args.to_vec(),
    })?))))
}

pub(crate) fn val(e: &Expr) -> Result<Val, String> {
    Ok(match e {
        Expr::Literal(v) => Val::Lit(v.clone()),
        Expr::Field { path, .. } if path == "@timestamp" => Val::Timestamp,
        Expr::Field {
            path,
            optional: true,
        } => Val::OptionalField(slot_of(path)),
        Expr::Field { path, .. } => Val::Field(slot_of(path)),
        Expr::Compare { op, left, right } => {
            let (l, r) = (val(left)?, val(right)?);
            match op {
                CmpOp::Ne => {
                    Val::Negate(Box::new(Val::Compare(CmpOp::Eq, Box::new(l), Box::new(r))))
                }
                _ => Val::Compare(*op, Box::new(l), Box::new(r)),
            }
        }
        Expr::Call {
            name,
            insensitive,
            args,
        } => {
            funcs::check_call(name, *insensitive, args)?;
            Val::Call {
                name: name.clone(),
                insensitive: *insensitive,
                args: args.iter().map(val).collect::<Result<_, _>>()?,
            }
        }
        Expr::Arith { op, left, right } => {
            Val::Arith(*op, Box::new(val(left)?), Box::new(val(right)?))
        }
        Expr::Neg(inner) => Val::Neg(Box::new(val(inner)?)),
        other => Val::Bool(Box::new(compile(other)?)),
    })
}

fn simplify(n: Node) -> Node {
    match n {
        Node::And(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items.into_vec().into_iter().map(simplify) {
                match i {
                    Node::Const(true) => {}
                    Node::Const(false) => return Node::Const(false),
                    Node::And(inner) => out.extend(inner.into_vec()),
                    o => out.push(o),
                }
            }
            // Cheap, selective tests first: evaluation is pure, so order only changes speed.
            // Tests of fields with few values (`event.type == "start"`) almost always hold
            // on the events the dispatcher hands a rule: they go after tests of like cost.
            out.sort_by_key(|n| n.cost() + if n.mostly_true() { 6 } else { 0 });
            match out.len() {
                0 => Node::Const(true),
                1 => out.pop().unwrap_or(Node::Const(true)),
                _ => Node::And(out.into()),
            }
        }
        Node::Or(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items.into_vec().into_iter().map(simplify) {
                match i {
                    Node::Const(false) => {}
                    Node::Const(true) => return Node::Const(true),
                    Node::Or(inner) => out.extend(inner.into_vec()),
                    o => out.push(o),
                }
            }
            // Cheap tests first: evaluation is pure, so order only changes speed.
            out.sort_by_key(Node::cost);
            match out.len() {
                0 => Node::Const(false),
                1 => out.pop().unwrap_or(Node::Const(false)),
                _ => Node::Or(out.into()),
            }
        }
        Node::Not(inner) => match simplify(*inner) {
            Node::Const(b) => Node::Const(!b),
            Node::Not(x) => *x,
            o => Node::Not(Box::new(o)),
        },
        o => o,
    }
}

fn fold(s: &str, yes: bool) -> Cow<'_, str> {
    if yes && s.chars().any(|c| c.is_uppercase() || !c.is_ascii()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Lower-cases `s` into `buf` when it has to, without allocating for short ASCII text.
#[inline]
pub(crate) fn with_folded<R>(s: &str, fold: bool, f: impl FnOnce(&str) -> R) -> R {
    if !fold || !needs_folding(s.as_bytes()) {
        return f(s);
    }
    if s.is_ascii() && s.len() <= 256 {
        let mut buf = [0u8; 256];
        let b = &mut buf[..s.len()];
        b.copy_from_slice(s.as_bytes());
        b.make_ascii_lowercase();
        // ASCII in, ASCII out.
        return f(std::str::from_utf8(b).unwrap_or(""));
    }
    f(&s.to_lowercase())
}

/// Whether `s` has an ASCII capital or a non-ASCII byte, eight bytes at a time (values are
/// often long command lines and arguments, and every insensitive test asks).
#[inline]
fn needs_folding(s: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
        // With every byte below 0x80 the additions carry into no other byte: the high bit
        // of `b + 0x3f` is set from 'A' up, that of `b + 0x25` from '[' up.
        if w & HIGH != 0
            || w.wrapping_add(0x3f3f_3f3f_3f3f_3f3f) & !w.wrapping_add(0x2525_2525_2525_2525) & HIGH
                != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|b| b.is_ascii_uppercase() || *b >= 0x80)
}

impl StrTest {
    fn cost(&self) -> u32 {
        if self.memo.is_some() {
            // Answered from the memo for repeated values: about one hash lookup.
            return 4;
        }
        let affixes = self.prefixes.list.len() + self.suffixes.list.len();
        let base = if self.single.is_some() { 2 } else { 3 };
        base + u32::from(self.fold)
            + affixes.min(64) as u32 / 4
            + if self.contains.is_some() { 4 } else { 0 }
            + 4 * self.globs.len().min(8) as u32
            + 20 * self.regexes.len().min(4) as u32
    }

    fn add_exact(&mut self, s: &str) {
        let s = fold(s, self.fold);
        self.numeric_strings |= funcs::parse_number(&s).is_some();
        self.exact.insert(s.into());
    }

    fn add_contains(&mut self, s: &str) {
        // Rebuilt in `finish`; collect needles in `globs` meanwhile.
        self.globs.push(Glob::contains_marker(s));
    }

    /// A `*`/`?` wildcard pattern, classified into the cheapest test that implements it.
    fn add_wildcard(&mut self, p: &str) {
        let p = fold(p, self.fold);
        let p: &str = &p;
        let inner_wild = |s: &str| s.contains(['*', '?']);
        if !inner_wild(p) {
            return self.add_exact(p);
        }
        if p.chars().all(|c| c == '*') {
            self.any_string = true;
        } else if let Some(rest) = p.strip_suffix('*').filter(|r| !inner_wild(r)) {
            self.prefixes.list.push(rest.into());
        } else if let Some(rest) = p.strip_prefix('*').filter(|r| !inner_wild(r)) {
            self.suffixes.list.push(rest.into());
        } else if let Some(mid) = p
            .strip_prefix('*')
            .and_then(|r| r.strip_suffix('*'))
            .filter(|m| !inner_wild(m))
        {
            self.add_contains(mid);
        } else {
            self.numeric_strings |= p.starts_with(|c: char| c.is_ascii_digit());
            self.globs.push(Glob::new(p));
        }
        self.numeric_strings |= p.starts_with(|c: char| c.is_ascii_digit());
    }

    fn finish(&mut self) -> Result<(), String> {
        let (needles, globs): (Vec<Glob>, Vec<Glob>) = std::mem::take(&mut self.globs)
            .into_iter()
            .partition(|g| g.contains);
        self.globs = globs;
        if !needles.is_empty() {
            let pats: Vec<&str> = needles.iter().map(|g| g.text.as_ref()).collect();
            if pats.iter().any(|p| p.is_empty()) {
                self.any_string = true;
            } else {
                self.contains = Some(AhoCorasick::new(pats).map_err(|e| e.to_string())?);
            }
        }
        self.prefixes.finish(true);
        self.suffixes.finish(false);
        let only_exact = !self.any_string
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.contains.is_none()
            && self.globs.is_empty()
            && self.regexes.is_empty();
        if only_exact && self.exact.len() == 1 {
            self.single = self.exact.iter().next().cloned();
        }
        let lens = self.exact.iter().map(|e| e.len());
        self.exact_lens = (
            lens.clone().min().unwrap_or(usize::MAX),
            lens.max().unwrap_or(0),
        );
        let affixes = self.prefixes.list.len() + self.suffixes.list.len();
        if !self.regexes.is_empty() || !self.globs.is_empty() || affixes > 8 {
            self.memo = Some(Memo::default());
        }
        Ok(())
    }

    #[inline]
    fn test_str(&self, s: &str) -> bool {
        match &self.memo {
            Some(memo) => {
                let Ok(mut m) = memo.0.try_lock() else {
                    return self.test_uncached(s);
                };
                let (policy, results) = &mut *m;
                if !policy.consult(s.len(), || results.clear()) {
                    return self.test_uncached(s);
                }
                if let Some(&hit) = results.get(Text::of(s)) {
                    return hit;
                }
                policy.missed();
                let result = self.test_uncached(s);
                if results.len() >= memo::ENTRIES {
                    results.clear();
                }
                results.insert(s.into(), result);
                result
            }
            _ => self.test_uncached(s),
        }
    }

    /// Whether `s` could pass the exact, prefix and suffix patterns, judged on the value as it
    /// is: folding keeps an ASCII value's length and folds its edge bytes alone. Most values of
    /// a long list (arguments, command lines) fail here without being folded or hashed.
    fn may_pass(&self, s: &str) -> bool {
        if self.fold && !s.is_ascii() {
            return true;
        }
        let low = |c: &u8| {
            if self.fold {
                c.to_ascii_lowercase()
            } else {
                *c
            }
        };
        let b = s.as_bytes();
        let (lo, hi) = self.exact_lens;
        (lo..=hi).contains(&b.len())
            || !self.prefixes.is_empty() && self.prefixes.edge_hit(b.first().map(low).as_ref())
            || !self.suffixes.is_empty() && self.suffixes.edge_hit(b.last().map(low).as_ref())
    }

    fn test_uncached(&self, s: &str) -> bool {
        if self.any_string {
            return true;
        }
        if self.regexes.iter().any(|r| r.is_match(s)) {
            return true;
        }
        if self.contains.is_none() && self.globs.is_empty() && !self.may_pass(s) {
            return false;
        }
        if let Some(only) = &self.single {
            return with_folded(s, self.fold, |s| s == &**only);
        }
        with_folded(s, self.fold, |s| {
            self.exact.contains(Text::of(s))
                || self.prefixes.any_prefix(s)
                || self.suffixes.any_suffix(s)
                || self.contains.as_ref().is_some_and(|ac| ac.is_match(s))
                || self.globs.iter().any(|g| g.matches(s))
        })
    }

    #[inline]
    pub(crate) fn test(&self, v: &Value) -> bool {
        // The most common test (`event.type == "start"`): one comparison, nothing else. The
        // pattern is stored folded, so ASCII folding of an ASCII value is enough.
        if let (Value::Str(s), Some(only)) = (v, &self.single) {
            if let Some(hit) = one_string(self.fold, only, s) {
                return hit;
            }
        }
        match v {
            Value::Str(s) => self.test_str(s),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.numbers
                    .iter()
                    .any(|n| funcs::compare(v, n) == Some(Ordering::Equal))
                    || (self.numeric_strings || matches!(v, Value::Bool(_)))
                        && funcs::to_string(v).is_some_and(|s| self.test_str(&s))
            }
            _ => false,
        }
    }
}

/// Prefixes or suffixes of one test, with a bitmap of their first (last) bytes so most values
/// are rejected by one bit test.
#[derive(Clone, Debug, Default)]
pub(crate) struct Affixes {
    list: Vec<Box<str>>,
    edge_bytes: [u64; 4],
    has_empty: bool,
}

impl Affixes {
    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn finish(&mut self, front: bool) {
        self.list.sort();
        self.list.dedup();
        for a in &self.list {
            let b = if front {
                a.as_bytes().first()
            } else {
                a.as_bytes().last()
            };
            match b {
                Some(&b) => self.edge_bytes[(b >> 6) as usize] |= 1 << (b & 63),
                None => self.has_empty = true,
            }
        }
    }

    #[inline]
    fn edge_hit(&self, b: Option<&u8>) -> bool {
        self.has_empty
            || b.is_some_and(|&b| self.edge_bytes[(b >> 6) as usize] & (1 << (b & 63)) != 0)
    }

    #[inline]
    fn any_prefix(&self, s: &str) -> bool {
        !self.list.is_empty()
            && self.edge_hit(s.as_bytes().first())
            && (self.list.iter()).any(|p| {
                (s.as_bytes().get(..p.len())).is_some_and(|head| same_bytes(head, p.as_bytes()))
            })
    }

    #[inline]
    fn any_suffix(&self, s: &str) -> bool {
        !self.list.is_empty()
            && self.edge_hit(s.as_bytes().last())
            && (self.list.iter()).any(|p| {
                (s.len().checked_sub(p.len()))
                    .is_some_and(|at| same_bytes(&s.as_bytes()[at..], p.as_bytes()))
            })
    }
}

/// A general `*`/`?` wildcard pattern, matched on chars with the classic greedy backtracking
/// (linear for one `*`, at most O(n·m)).
#[derive(Clone, Debug)]
pub(crate) struct Glob {
    text: Box<str>,
    chars: Box<[char]>,
    contains: bool,
    /// For patterns with `*` only: the literal pieces between stars, matched by byte search.
    pieces: Option<Box<[Box<str>]>>,
}

impl Glob {
    fn new(p: &str) -> Glob {
        let pieces = (!p.contains('?')).then(|| p.split('*').map(Box::from).collect());
        Glob {
            text: p.into(),
            chars: p.chars().collect(),
            contains: false,
            pieces,
        }
    }
    fn contains_marker(s: &str) -> Glob {
        Glob {
            text: s.into(),
            chars: Box::new([]),
            contains: true,
            pieces: None,
        }
    }

    fn matches(&self, s: &str) -> bool {
        match &self.pieces {
            Some(pieces) => star_match(pieces, s.as_bytes()),
            None => self.matches_chars(s),
        }
    }

    fn matches_chars(&self, s: &str) -> bool {
        let p = &self.chars;
        // Work on chars; short strings use a stack copy instead of allocating.
        let mut stack = ['\0'; 64];
        let heap: Vec<char>;
        let text: &[char] = if s.len() <= stack.len() {
            let mut n = 0;
            for c in s.chars() {
                stack[n] = c;
                n += 1;
            }
            &stack[..n]
        } else {
            heap = s.chars().collect();
            &heap
        };
        let (mut pi, mut ti) = (0usize, 0usize);
        let (mut star, mut mark) = (usize::MAX, 0usize);
        while ti < text.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == text[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = pi;
                mark = ti;
                pi += 1;
            } else if star != usize::MAX {
                pi = star + 1;
                mark += 1;
                ti = mark;
            } else {
                return false;
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
}

/// `pieces` = a pattern split at its `*`s (at least two pieces, the first anchored at the
/// start, the last at the end). Placing each middle piece leftmost is optimal.
fn star_match(pieces: &[Box<str>], s: &[u8]) -> bool {
    let (first, last) = (pieces[0].as_bytes(), pieces[pieces.len() - 1].as_bytes());
    if s.len() < first.len() + last.len() || !s.starts_with(first) || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        if piece.is_empty() {
            continue;
        }
        match memchr::memmem::find(rest, piece.as_bytes()) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

// ---- anchors for the rule index ------------------------------------------------------------

/// A necessary condition of a filter: some string value of `slot` (lower-cased when `fold`)
/// is one of `values`. Used by [`super::RuleIndex`] to skip rules.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    pub slot: Slot,
    pub fold: bool,
    pub values: Vec<Box<str>>,
}

impl StrTest {
    fn exact_only(&self) -> Option<Vec<Box<str>>> {
        let only = !self.any_string
            && self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.contains.is_none()
            && self.globs.is_empty()
            && self.regexes.is_empty()
            && self.numbers.is_empty()
            && !self.numeric_strings;
        only.then(|| self.exact.iter().map(|s| s.as_str().into()).collect())
    }
}

/// A value against a test's one string (stored folded when `fold`); `None` when that takes
/// the general path (an insensitive test of a non-ASCII value).
#[inline]
fn one_string(fold: bool, only: &str, s: &str) -> Option<bool> {
    if !fold {
        Some(same_bytes(s.as_bytes(), only.as_bytes()))
    } else if s.is_ascii() {
        Some(s.len() == only.len() && s.eq_ignore_ascii_case(only))
    } else {
        None
    }
}

/// The node for `slot` tested by `t`: [`Node::One`] when `t` is one string.
fn str_node(slot: Slot, t: StrTest) -> Node {
    match t.single.clone() {
        Some(text) => Node::One {
            slot,
            fold: t.fold,
            text,
            test: Box::new(t),
        },
        None => Node::Str(slot, Box::new(t)),
    }
}

const _: () = assert!(std::mem::size_of::<Node>() <= 40);

// ---- the tree as a program -----------------------------------------------------------------

/// A condition as its tests in a row, each naming the test to run next when it holds and when
/// it does not (or the answer): `and`, `or` and `not` become jumps. Evaluating runs a loop
/// over one array instead of recursing through the tree's boxes: no call per node, and a
/// rule's tests sit side by side in memory. Jumps only go forward.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    steps: Box<[Step]>,
    entry: u32,
    /// The steps that are operands of a top-level `and` (or the one test), for `anchors`.
    top: Box<[u32]>,
}

#[derive(Clone, Debug)]
struct Step {
    /// A test: never `And`, `Or`, `Not` or `Const`.
    test: Node,
    yes: u32,
    no: u32,
}

/// Jump targets that are answers.
const ACCEPT: u32 = u32::MAX;
const REJECT: u32 = u32::MAX - 1;

impl Program {
    pub(crate) fn new(root: Node) -> Program {
        // Emitted last test first (a test's targets are known once what follows it is), then
        // reversed into evaluation order.
        let mut steps = Vec::new();
        let mut top = Vec::new();
        let entry = match root {
            Node::And(items) => {
                let mut next = ACCEPT;
                for n in items.into_vec().into_iter().rev() {
                    let leaf = n.is_test();
                    next = emit(n, next, REJECT, &mut steps);
                    if leaf && next < REJECT {
                        top.push(next);
                    }
                }
                next
            }
            n => {
                let leaf = n.is_test();
                let entry = emit(n, ACCEPT, REJECT, &mut steps);
                if leaf && entry < REJECT {
                    top.push(entry);
                }
                entry
            }
        };
        let last = steps.len() as u32;
        let flip = |t: u32| if t >= REJECT { t } else { last - 1 - t };
        steps.reverse();
        for st in &mut steps {
            st.yes = flip(st.yes);
            st.no = flip(st.no);
        }
        let mut top: Vec<u32> = top.into_iter().map(flip).collect();
        top.sort_unstable();
        Program {
            steps: steps.into(),
            entry: flip(entry),
            top: top.into(),
        }
    }

    pub(crate) fn eval(&self, ix: &IndexedEvent) -> bool {
        let mut at = self.entry;
        while let Some(st) = self.steps.get(at as usize) {
            at = if st.test.eval_test(ix) { st.yes } else { st.no };
        }
        at == ACCEPT
    }

    /// The necessary exact-match conditions of this filter: its top-level `and` operands
    /// that test one field against exact strings only (at most 64).
    pub(crate) fn anchors(&self) -> Vec<Anchor> {
        let one = |n: &Node| match n {
            Node::Str(slot, t) | Node::One { slot, test: t, .. } => {
                t.exact_only().map(|values| Anchor {
                    slot: *slot,
                    fold: t.fold,
                    values,
                })
            }
            _ => None,
        };
        self.top
            .iter()
            .filter_map(|&i| one(&self.steps[i as usize].test))
            .take(64)
            .collect()
    }
}

impl Node {
    /// Neither a connective nor a constant: a step of a program.
    fn is_test(&self) -> bool {
        !matches!(
            self,
            Node::And(_) | Node::Or(_) | Node::Not(_) | Node::Const(_)
        )
    }
}

/// Emits `n`'s tests (last first), jumping to `yes` when `n` holds and `no` when not; returns
/// the step to start `n` at (or the answer, for a constant).
fn emit(n: Node, yes: u32, no: u32, out: &mut Vec<Step>) -> u32 {
    match n {
        Node::Const(true) => yes,
        Node::Const(false) => no,
        Node::Not(inner) => emit(*inner, no, yes, out),
        Node::And(items) => items
            .into_vec()
            .into_iter()
            .rev()
            .fold(yes, |next, n| emit(n, next, no, out)),
        Node::Or(items) => items
            .into_vec()
            .into_iter()
            .rev()
            .fold(no, |next, n| emit(n, yes, next, out)),
        test => {
            out.push(Step { test, yes, no });
            out.len() as u32 - 1
        }
    }
}

// ---- evaluation ----------------------------------------------------------------------------

impl Node {
    /// A test of a field with few distinct values (category, type, action, outcome, OS).
    fn mostly_true(&self) -> bool {
        match self {
            Node::Str(slot, _) | Node::One { slot, .. } => super::prefilter::LOW_CARDINALITY
                .contains(&super::fields::slot_name(*slot).as_str()),
            _ => false,
        }
    }

    /// Rough evaluation cost, for ordering `and` / `or` operands.
    fn cost(&self) -> u32 {
        match self {
            Node::Const(_) => 0,
            Node::Present(_) => 1,
            Node::Cmp(..) => 2,
            Node::Str(_, t) | Node::One { test: t, .. } => t.cost(),
            Node::Cidr(..) => 8,
            Node::Not(n) => n.cost(),
            Node::And(items) | Node::Or(items) => 1 + items.iter().map(Node::cost).sum::<u32>(),
            Node::General(_) => 40,
        }
    }

    pub(crate) fn eval(&self, ix: &IndexedEvent) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(items) => items.iter().all(|n| n.eval(ix)),
            Node::Or(items) => items.iter().any(|n| n.eval(ix)),
            Node::Not(n) => !n.eval(ix),
            test => test.eval_test(ix),
        }
    }

    /// [`Node::eval`] of a test (a program's step).
    #[inline(always)]
    fn eval_test(&self, ix: &IndexedEvent) -> bool {
        match self {
            Node::Const(_) | Node::And(_) | Node::Or(_) | Node::Not(_) => self.eval(ix),
            Node::Present(s) => present(ix.get(*s)),
            Node::Str(s, t) => ix.get(*s).is_some_and(|v| each_value(v).any(|v| t.test(v))),
            // `StrTest::test`'s first step, without reading the test.
            Node::One {
                slot,
                fold,
                text,
                test,
            } => ix.get(*slot).is_some_and(|v| {
                each_value(v).any(|v| match v {
                    Value::Str(s) => one_string(*fold, text, s).unwrap_or_else(|| test.test(v)),
                    _ => test.test(v),
                })
            }),
            Node::Cmp(s, op, lit) => ix
                .get(*s)
                .is_some_and(|v| each_value(v).any(|v| cmp_ok(*op, funcs::compare(v, lit)))),
            Node::Cidr(s, nets) => ix.get(*s).is_some_and(|v| {
                each_value(v).any(|v| v.as_str().is_some_and(|x| nets.matches(x)))
            }),
            Node::General(p) => p.eval(ix),
        }
    }
}

fn cmp_ok(op: CmpOp, o: Option<Ordering>) -> bool {
    let Some(o) = o else { return false };
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

/// Candidate values of an expression: all values of a multi-valued field, one per argument
/// combination for functions. Empty means null.
type Vals<'a> = Vec<Cow<'a, Value>>;

/// Bound on argument combinations a function over multi-valued fields is evaluated for.
const MAX_COMBOS: usize = 64;

fn ci_eq(a: &Value, b: &Value, fold: bool) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if fold => x.to_lowercase() == y.to_lowercase(),
        _ => funcs::compare(a, b) == Some(Ordering::Equal),
    }
}

impl Pred {
    fn eval(&self, ix: &IndexedEvent) -> bool {
        match self {
            Pred::Truthy(v) => v.eval(ix).iter().any(|v| matches!(**v, Value::Bool(true))),
            Pred::IsNull(v) => v.eval(ix).is_empty(),
            Pred::Cmp(op, l, r) => {
                let (lv, rv) = (l.eval(ix), r.eval(ix));
                if *op == CmpOp::Eq
                    && lv.is_empty()
                    && rv.is_empty()
                    && l.null_literal()
                    && r.null_literal()
                {
                    return true;
                }
                lv.iter()
                    .any(|a| rv.iter().any(|b| cmp_ok(*op, funcs::compare(a, b))))
            }
            Pred::In { val, list, fold } => {
                let vs = val.eval(ix);
                list.iter().any(|item| {
                    let is = item.eval(ix);
                    vs.iter().any(|a| is.iter().any(|b| ci_eq(a, b, *fold)))
                })
            }
            Pred::Match(v, t) => v.eval(ix).iter().any(|v| t.test(v)),
        }
    }
}

impl Val {
    fn eval<'a>(&self, ix: &IndexedEvent<'a>) -> Vals<'a> {
        match self {
            Val::Lit(Value::Null) => vec![],
            Val::Lit(v) => vec![Cow::Owned(v.clone())],
            Val::Timestamp => vec![Cow::Owned(Value::Int(ix.event().timestamp_ms))],
            Val::Compare(op, l, r) => {
                let (lv, rv) = (l.eval(ix), r.eval(ix));
                if lv.is_empty() || rv.is_empty() {
                    return vec![];
                }
                let hit = lv
                    .iter()
                    .any(|a| rv.iter().any(|b| cmp_ok(*op, funcs::compare(a, b))));
                vec![Cow::Owned(Value::Bool(hit))]
            }
            Val::Negate(inner) => inner
                .eval(ix)
                .iter()
                .map(|v| Cow::Owned(Value::Bool(!matches!(**v, Value::Bool(true)))))
                .collect(),
            Val::OptionalField(s) | Val::Field(s) => match ix.get(*s) {
                Some(v) => each_value(v).map(Cow::Borrowed).collect(),
                None => vec![],
            },
            Val::Bool(n) => vec![Cow::Owned(Value::Bool(n.eval(ix)))],
            Val::Neg(inner) => inner
                .eval(ix)
                .iter()
                .map(|v| funcs::arith(ArithOp::Sub, &Value::Int(0), v))
                .filter(|v| *v != Value::Null)
                .map(Cow::Owned)
                .collect(),
            Val::Arith(op, l, r) => {
                let (l, r) = (l.eval(ix), r.eval(ix));
                let mut out = vec![];
                for a in l.iter().take(MAX_COMBOS) {
                    for b in r.iter().take(MAX_COMBOS / 8) {
                        let x = funcs::arith(*op, a, b);
                        if x != Value::Null {
                            out.push(Cow::Owned(x));
                        }
                    }
                }
                out
            }
            Val::Call {
                name,
                insensitive,
                args,
            } => {
                let argv: Vec<Vals<'a>> = args.iter().map(|a| a.eval(ix)).collect();
                let mut out = vec![];
                let mut idx = vec![0usize; argv.len()];
                let null = Value::Null;
                for _ in 0..MAX_COMBOS {
                    let cur: Vec<&Value> = argv
                        .iter()
                        .zip(&idx)
                        .map(|(vs, &i)| vs.get(i).map_or(&null, |c| &**c))
                        .collect();
                    let r = funcs::call(name, *insensitive, &cur);
                    if r != Value::Null {
                        out.push(Cow::Owned(r));
                    }
                    // Next combination (odometer); stop after the last one.
                    let mut k = 0;
                    loop {
                        if k == idx.len() {
                            return out;
                        }
                        idx[k] += 1;
                        if idx[k] < argv[k].len() {
                            break;
                        }
                        idx[k] = 0;
                        k += 1;
                    }
                }
                out
            }
        }
    }

    /// Absent means the `null` literal (optional fields, `null`).
    fn null_literal(&self) -> bool {
        matches!(self, Val::OptionalField(_) | Val::Lit(Value::Null))
    }

    /// Key values for a join key: all values of the expression (empty when null).
    /// The candidate values (borrowed from the event where they are its fields).
    pub(crate) fn values<'a>(&self, ix: &IndexedEvent<'a>) -> Vals<'a> {
        self.eval(ix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random condition over fields `p.a`..`p.d`: presence tests, a one-string and a
    /// general string test, constants, under `and`, `or` and `not` nested a few deep.
    fn random_node(rng: &mut u64, depth: u32) -> Node {
        let mut next = |n: u64| {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            *rng % n
        };
        let field = |i: u64| slot_of(["p.a", "p.b", "p.c", "p.d"][i as usize]);
        let pick = if depth == 0 { next(4) } else { next(8) };
        match pick {
            0 => Node::Present(field(next(4))),
            1 => Node::Const(next(2) == 0),
            2 => {
                let mut t = StrTest::default();
                t.add_exact("x");
                t.finish().unwrap();
                str_node(field(next(4)), t)
            }
            3 => {
                let mut t = StrTest::default();
                t.add_wildcard("y*");
                t.add_exact("z");
                t.finish().unwrap();
                str_node(field(next(4)), t)
            }
            4 => Node::Not(Box::new(random_node(rng, depth - 1))),
            5 | 6 => {
                let n = 1 + next(4);
                let items: Vec<Node> = (0..n).map(|_| random_node(rng, depth - 1)).collect();
                Node::And(items.into())
            }
            _ => {
                let n = 1 + next(4);
                let items: Vec<Node> = (0..n).map(|_| random_node(rng, depth - 1)).collect();
                Node::Or(items.into())
            }
        }
    }

    /// A condition run as a program of jumps answers as the tree it came from, simplified
    /// or not, on events with every combination of the fields' values.
    #[test]
    fn programs_answer_as_their_trees() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let values = ["x", "yes", "z", "w"];
        let mut events = Vec::new();
        for mask in 0..256u32 {
            let mut ev = crate::event::Event::new(0);
            for (i, f) in ["p.a", "p.b", "p.c", "p.d"].into_iter().enumerate() {
                let v = (mask >> (2 * i)) & 3;
                // Three values, or the field left out.
                if v < 3 {
                    ev.push(f, values[(v as usize + i) % values.len()]);
                }
            }
            events.push(ev);
        }
        let mut index = super::super::fields::FieldIndex::new();
        let (mut steps, mut longest) = (0, 0);
        for _ in 0..2000 {
            let tree = random_node(&mut rng, 5);
            for tree in [tree.clone(), simplify(tree)] {
                let prog = Program::new(tree.clone());
                steps += prog.steps.len();
                longest = longest.max(prog.steps.len());
                for ev in &events {
                    let ix = index.index(ev);
                    assert_eq!(prog.eval(&ix), tree.eval(&ix), "{tree:?} on {ev:?}");
                }
            }
        }
        assert!(
            steps > 8_000 && longest > 20,
            "the trees were not trivial: {steps} steps, {longest} the most"
        );
    }

    /// The rule index's anchors are the exact-string operands of the top-level `and`.
    #[test]
    fn program_anchors_are_the_top_level_exact_tests() {
        let e = crate::detect::eql::parser::parse_expr(
            r#"p.a == "x" and p.b in ("y", "z") and (p.c == "q" or p.d == "r") and not p.e == "s"
               and p.f : "t*""#,
        )
        .unwrap();
        let prog = Program::new(compile(&e).unwrap());
        let mut got: Vec<(String, Vec<Box<str>>)> = prog
            .anchors()
            .into_iter()
            .map(|a| (super::super::fields::slot_name(a.slot), a.values))
            .collect();
        got.iter_mut().for_each(|(_, v)| v.sort());
        got.sort();
        assert_eq!(
            got,
            vec![
                ("p.a".to_string(), vec!["x".into()]),
                ("p.b".to_string(), vec!["y".into(), "z".into()]),
            ]
        );
        let one = Program::new(
            compile(&crate::detect::eql::parser::parse_expr(r#"p.a == "x""#).unwrap()).unwrap(),
        );
        assert_eq!(one.anchors().len(), 1);
    }

    /// The one-string fast path of `test` agrees with the general path, sensitive and not,
    /// for ASCII and non-ASCII values and patterns (the Kelvin sign folds to `k`).
    #[test]
    fn single_string_fast_path_agrees() {
        let pats = ["start", "Start", "kelvin", "café", "", "-e"];
        let values = [
            "start",
            "START",
            "Start",
            "star",
            "starts",
            "kelvin",
            "\u{212a}elvin",
            "KELVIN",
            "café",
            "CAFÉ",
            "cafe",
            "",
            "-e",
            "-E",
        ];
        for fold in [false, true] {
            for p in pats {
                let mut t = StrTest {
                    fold,
                    ..StrTest::default()
                };
                t.add_wildcard(p);
                t.finish().unwrap();
                assert!(t.single.is_some(), "{p}");
                for v in values {
                    assert_eq!(
                        t.test(&Value::Str(v.into())),
                        t.test_uncached(v),
                        "pattern {p:?} value {v:?} fold {fold}"
                    );
                }
            }
        }
    }

    /// A one-string node (`Node::One`, its string kept in the node) evaluates as the general
    /// string node over the same test: string, numeric, boolean and list values, either case.
    #[test]
    fn one_string_node_agrees_with_the_general_node() {
        let slot = super::super::slot_of("test.one_string_node");
        let values = [
            Value::Str("start".into()),
            Value::Str("START".into()),
            Value::Str("\u{212a}elvin".into()),
            Value::Str("café".into()),
            Value::Str("CAFÉ".into()),
            Value::Int(0),
            Value::Int(7),
            Value::Bool(true),
            Value::Null,
            Value::List(vec!["x".into(), "Start".into()]),
            Value::List(vec![]),
        ];
        let mut hits = 0;
        for fold in [false, true] {
            for p in ["start", "kelvin", "café", "0", "true", "7"] {
                let mut t = StrTest {
                    fold,
                    ..StrTest::default()
                };
                t.add_wildcard(p);
                t.finish().unwrap();
                let one = str_node(slot, t.clone());
                assert!(matches!(one, Node::One { .. }), "{p}");
                let general = Node::Str(slot, Box::new(t));
                for v in &values {
                    let mut ev = crate::event::Event::new(0);
                    ev.push("test.one_string_node", v.clone());
                    let mut fi = super::super::FieldIndex::new();
                    let ix = fi.index(&ev);
                    hits += usize::from(one.eval(&ix));
                    assert_eq!(
                        one.eval(&ix),
                        general.eval(&ix),
                        "pattern {p:?} value {v:?} fold {fold}"
                    );
                }
            }
        }
        // start, list with Start (folded), START (folded), café, CAFÉ (folded), 0, 7, true
        // (twice each), Kelvin sign (folded).
        assert!(hits >= 12, "{hits}");
    }

    /// The quick rejection on the raw value never rejects one the patterns accept: exact,
    /// prefix and suffix patterns, sensitive and not, against ASCII and non-ASCII values of
    /// every length around the patterns'.
    #[test]
    fn may_pass_rejects_only_failing_values() {
        let pats = [
            "curl",
            "/tmp/*",
            "*.sh",
            "-e",
            "",
            "Kel*",
            "*\u{212a}x",
            "é*",
        ];
        let values = [
            "",
            "curl",
            "CURL",
            "cUrl",
            "curlx",
            "/tmp/a",
            "/TMP/a",
            "/tm",
            "a.sh",
            "A.SH",
            ".sh",
            "-e",
            "-E",
            "-ee",
            "kelvin",
            "KELVIN",
            "\u{212a}elvin",
            "\u{212a}x",
            "yk",
            "éa",
            "Éa",
            "x",
            "/tmp/\u{212a}.sh",
        ];
        for fold in [false, true] {
            for n in 1..=pats.len() {
                for start in 0..pats.len() {
                    let mut t = StrTest {
                        fold,
                        ..StrTest::default()
                    };
                    for p in pats.iter().cycle().skip(start).take(n) {
                        t.add_wildcard(p);
                    }
                    t.finish().unwrap();
                    for v in values {
                        let full = with_folded(v, t.fold, |s| {
                            t.exact.contains(s)
                                || t.prefixes.any_prefix(s)
                                || t.suffixes.any_suffix(s)
                        });
                        if full {
                            assert!(t.may_pass(v), "{v:?} against {n} from {start}, fold {fold}");
                        }
                        assert_eq!(t.test_uncached(v), full || t.any_string, "{v:?}");
                    }
                }
            }
        }
    }

    /// The word-at-a-time check agrees with the byte-wise one at every position.
    #[test]
    fn needs_folding_agrees_with_bytes() {
        let mut buf = *b"abcdefghijklmnopqrstuvwxyz0123456789_-/.@[`{~";
        for at in 0..buf.len() {
            for b in 0..=255u8 {
                let keep = buf[at];
                buf[at] = b;
                let want = buf.iter().any(|c| c.is_ascii_uppercase() || *c >= 0x80);
                assert_eq!(needs_folding(&buf), want, "byte {b:#x} at {at}");
                assert_eq!(
                    needs_folding(&buf[at..]),
                    want && buf[at..]
                        .iter()
                        .any(|c| c.is_ascii_uppercase() || *c >= 0x80)
                );
                buf[at] = keep;
            }
        }
    }

    #[test]
    fn globs() {
        let g = Glob::new("a?c*d");
        assert!(g.matches("abcd"));
        assert!(g.matches("abcxxd"));
        assert!(!g.matches("abcdx"));
        assert!(!g.matches("acd"));
        assert!(Glob::new("*é?").matches("xxéz"));
        // Star-only patterns use the piece matcher.
        let g = Glob::new("*curl*http*");
        assert!(g.pieces.is_some());
        assert!(g.matches("sh -c curl http://x"));
        assert!(!g.matches("sh -c http://x curl"));
        assert!(Glob::new("a*b*a").matches("aba"));
        assert!(!Glob::new("ab*ba").matches("aba"));
        assert!(Glob::new("/tmp/*").matches("/tmp/"));
    }
    /// Remembered results are the computed ones: each value tested twice (the second time
    /// from the memo) against a matcher that has never seen it, for regexes, globs and many
    /// affixes, sensitive and not, including values longer than the memo keeps.
    #[test]
    fn memoised_tests_answer_as_computed() {
        let queries = [
            r#"any where process.executable regex~ """/[a-z0-9\s_\-\\./]+\s""""#,
            r#"any where process.executable like~ ("/tmp/*/x*", "*/.?*", "/dev/shm/*")"#,
            r#"any where process.executable : ("/a*", "/b*", "/c*", "/d*", "/e*", "/f*", "/g*", "/h*", "*.so")"#,
            r#"any where process.executable regex "/usr/(s?bin)/[a-z]+""#,
        ];
        let long = format!("/usr/bin/{}", "x".repeat(300));
        let values = [
            "/usr/bin/curl",
            "/USR/BIN/CURL ",
            "/tmp/ab/xy",
            "/home/u/.hidden",
            "/b/c.so",
            "/usr/sbin/sshd",
            "/dev/shm/e",
            "",
            long.as_str(),
        ];
        for q in queries {
            let query = crate::detect::eql::parse(q).expect(q);
            let node = compile(&query.stages()[0].expr).expect(q);
            let mut outcomes = [0; 2];
            for v in values {
                let mut ev = crate::event::Event::new(0);
                ev.push("process.executable", v);
                let mut fi = super::super::FieldIndex::new();
                let ix = fi.index(&ev);
                let fresh = compile(&query.stages()[0].expr).expect(q).eval(&ix);
                assert_eq!(node.eval(&ix), fresh, "{q} on {v:?} (first)");
                assert_eq!(node.eval(&ix), fresh, "{q} on {v:?} (remembered)");
                outcomes[usize::from(fresh)] += 1;
            }
            assert!(outcomes[0] > 0 && outcomes[1] > 0, "{q}: {outcomes:?}");
        }
    }
}
