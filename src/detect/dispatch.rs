//! Rule dispatch: which rules an event can match at all, found with a few hash lookups.
//!
//! Every rule's query is read (as the expression tree both languages parse to) for a
//! *necessary condition*: a set of atoms `field ∈ values`, `field` starts with / ends with a
//! literal, at least one of which holds for every event the rule can match. `a and b` takes
//! the more selective of the two; `a or b` needs both keyed and takes the union; a sequence or
//! sample takes the union over its stages (missing-event and `until` stages included, since
//! they act on events too). The dispatcher indexes the atoms per field; per event it looks up
//! the values of the fields some atom names and returns the rules with an atom that holds.
//! Rules without a necessary condition are returned for every event. A one-event rule may
//! have a second key from another conjunct (`second_key`); it is returned only when both hold.
//!
//! A wrong key would lose alerts, so the reader is conservative: `not`, functions other than
//! `startsWith`/`endsWith`/`stringContains`, numbers and non-ASCII case-insensitive literals
//! contribute nothing (the conjunct is then skipped, or the `or` is unkeyed); a regex
//! contributes the prefix or suffix literals every value it matches has, when they are few.

use super::eql::{Query, QueryKind};
use super::expr::{CmpOp, Expr, MatchKind};
use super::memo::{self, Policy};
use crate::detect::eql::{slot_of, with_folded, IndexedEvent, Slot, StrMap, Text};
use crate::event::Value;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Test {
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// The text occurs somewhere in the value.
    Contains(String),
    /// The field has a value (`field:*`).
    Present,
}

/// Fields every event of its kind has: `field:*` on them selects nothing.
fn ubiquitous(field: &str) -> bool {
    const COMMON: &[&str] = &[
        "event.",
        "host.",
        "agent.",
        "ecs.",
        "auditd.",
        "network.",
        "source.",
        "destination.",
        "user.",
        "group.",
        "process.parent.",
        "tags",
        "@timestamp",
        "message",
    ];
    const PROCESS: &[&str] = &[
        "process.name",
        "process.executable",
        "process.pid",
        "process.args",
        "process.args_count",
        "process.command_line",
        "process.title",
        "process.working_directory",
        "process.entity_id",
        "process.ppid",
        "file.path",
        "file.name",
        "file.directory",
        "file.extension",
        "file.inode",
        "file.mode",
        "file.uid",
        "file.gid",
        "file.owner",
        "file.group",
        "file.device",
    ];
    COMMON.iter().any(|c| field.starts_with(c)) || PROCESS.contains(&field)
}

/// `field` has a value passing `test` (lower-cased first when `fold`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Atom {
    pub(crate) field: String,
    pub(crate) fold: bool,
    pub(crate) test: Test,
    /// The stages of an EQL query this atom is necessary for (`stage_bit`); all for others.
    pub(crate) stages: u64,
}

/// The bit of stage `i` of a query in a stage mask (stages from 62 on share one; `until` is
/// `UNTIL`). A rule whose atom held is handed the mask of the stages that may match.
pub fn stage_bit(i: usize) -> u64 {
    1 << i.min(62)
}
pub const UNTIL: u64 = 1 << 63;

/// A necessary condition: at least one atom holds for every event the rule can match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key(pub(crate) Vec<Atom>);

/// Fields nearly every rule tests and nearly every event satisfies: the weakest keys.
fn field_rank(field: &str) -> u8 {
    match field {
        // `start` spans processes and connections.
        "event.type" => 0,
        "event.category"
        | "event.kind"
        | "event.module"
        | "event.dataset"
        | "data_stream.dataset"
        | "event.outcome"
        | "network.direction"
        | "network.transport"
        | "auditd.result"
        | "host.os.family"
        | "host.os.name"
        | "host.os.platform"
        | "agent.type" => 1,
        "event.action" => 2,
        _ => 3,
    }
}

fn atom_rank(a: &Atom) -> u8 {
    let r = field_rank(&a.field) * 4;
    match &a.test {
        Test::Exact(_) => r + 3,
        Test::Prefix(p) | Test::Suffix(p) if p.len() >= 5 => r + 2,
        Test::Prefix(p) | Test::Suffix(p) if p.len() >= 3 => r + 1,
        Test::Prefix(p) | Test::Suffix(p) if p.len() == 2 => r,
        // A leading `.` (hidden files, `like ".*"`) is rare; a leading `/` is not.
        Test::Prefix(p) if p.len() == 1 && p != "/" => r,
        // Values seldom end in white space (a name padded to pass for another).
        Test::Suffix(p) if p.chars().count() == 1 && p.chars().all(char::is_whitespace) => r,
        Test::Contains(c) if c.len() >= 6 => r + 1,
        Test::Contains(c) if c.len() >= 2 => r,
        Test::Present if !ubiquitous(&a.field) => 12,
        // `/`, `.`, `field:*` on `process.name`: nearly every value has one.
        _ => 1,
    }
}

fn literal_len(a: &Atom) -> usize {
    match &a.test {
        Test::Exact(s) | Test::Prefix(s) | Test::Suffix(s) | Test::Contains(s) => s.len(),
        Test::Present => 0,
    }
}

/// Higher is more selective: the weakest atom decides, then fewer atoms, then longer
/// literals (`process.name == "docker"` over `process.args == "-v"`).
fn score(k: &Key) -> (u8, std::cmp::Reverse<usize>, usize) {
    let weakest = k.0.iter().map(atom_rank).min().unwrap_or(0);
    let shortest = k.0.iter().map(literal_len).min().unwrap_or(0);
    (weakest, std::cmp::Reverse(k.0.len()), shortest)
}

fn str_lit(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn field_path(e: &Expr) -> Option<&str> {
    match e {
        Expr::Field { path, .. } => Some(path),
        _ => None,
    }
}

/// What a literal means without wildcards: equal to, starts with, ends with the value.
#[derive(Clone, Copy, PartialEq)]
enum Base {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// The atom for literal `lit` on `field` (`wild`: `*`/`?` are wildcards, as for `:` and
/// `like`). Folding is done as the matcher does it (the whole text lower-cased), so the atom
/// holds whenever the matcher's test does.
fn atom(field: &str, fold: bool, lit: &str, wild: bool, base: Base) -> Option<Atom> {
    if (fold && !lit.is_ascii()) || field == "@timestamp" {
        return None;
    }
    let lit = if fold {
        lit.to_ascii_lowercase()
    } else {
        lit.to_owned()
    };
    let test = match lit.find(['*', '?']).filter(|_| wild) {
        // Up to the first wildcard is a necessary prefix, after the last one a suffix, and
        // every piece between wildcards occurs in the value: the longest is the most selective.
        Some(first) => {
            let last = lit.rfind(['*', '?']).unwrap_or(first);
            let (head, tail) = (&lit[..first], &lit[last + 1..]);
            let inner = lit[first..=last]
                .split(['*', '?'])
                .max_by_key(|p| p.len())
                .unwrap_or("");
            if head.is_empty() && tail.is_empty() && inner.is_empty() {
                // Only wildcards: `*` matches any string value, `?` any one-character one.
                Test::Present
            } else if head.len() >= tail.len() && head.len() >= inner.len() {
                Test::Prefix(head.to_owned())
            } else if tail.len() >= inner.len() {
                Test::Suffix(tail.to_owned())
            } else {
                Test::Contains(inner.to_owned())
            }
        }
        None => match base {
            Base::Exact => Test::Exact(lit),
            Base::Prefix => Test::Prefix(lit),
            Base::Suffix => Test::Suffix(lit),
            Base::Contains => Test::Contains(lit),
        },
    };
    Some(Atom {
        field: field.to_owned(),
        fold,
        test,
        stages: u64::MAX,
    })
}

/// The atoms of an anchored regex on `field`: every value it matches begins with one of the
/// pattern's prefix literals and ends with one of its suffix literals, as regex-syntax extracts
/// them from the pattern the matcher compiles (`funcs::build_regex`: the same flags, so case
/// variants and Unicode classes are already spelled out and the atoms are case-sensitive).
/// The more selective of the two sets; `None` when neither is finite and non-empty.
fn regex_atoms(field: &str, insensitive: bool, pattern: &str) -> Option<Key> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    if field == "@timestamp" {
        return None;
    }
    let flags = if insensitive { "(?si)" } else { "(?s)" };
    let hir = regex_syntax::Parser::new()
        .parse(&format!("{flags}(?:{pattern})"))
        .ok()?;
    let key = |kind: ExtractKind| -> Option<Key> {
        let prefix = matches!(kind, ExtractKind::Prefix);
        let mut ex = Extractor::new();
        // `\s` is 25 code points: enough room for it and a few case variants.
        ex.kind(kind).limit_class(32).limit_total(64);
        let seq = ex.extract(&hir);
        let mut atoms = Vec::new();
        for lit in seq.literals()? {
            let text = std::str::from_utf8(lit.as_bytes()).ok()?;
            if text.is_empty() {
                return None;
            }
            let text = text.to_owned();
            atoms.push(Atom {
                field: field.to_owned(),
                fold: false,
                test: if prefix {
                    Test::Prefix(text)
                } else {
                    Test::Suffix(text)
                },
                stages: u64::MAX,
            });
        }
        (!atoms.is_empty()).then_some(Key(atoms))
    };
    [key(ExtractKind::Prefix), key(ExtractKind::Suffix)]
        .into_iter()
        .flatten()
        .max_by_key(score)
}

/// Atoms of a literal list on one field; `None` when one literal cannot be keyed.
fn atoms<'a>(
    field: &str,
    fold: bool,
    lits: impl Iterator<Item = &'a Expr>,
    wild: bool,
    base: Base,
) -> Option<Key> {
    let mut out = Vec::new();
    for l in lits {
        match l {
            // `== null` / `in (null)` never match a present value: contributes no atom.
            Expr::Literal(Value::Null) => {}
            _ => {
                out.push(atom(field, fold, str_lit(l)?, wild, base)?);
            }
        }
    }
    (!out.is_empty()).then_some(Key(out))
}

/// `field` compared with `null` (either side): the atom "the field has a value".
fn present(left: &Expr, right: &Expr) -> Option<Key> {
    let field = match (left, right) {
        (Expr::Field { path, .. }, Expr::Literal(Value::Null))
        | (Expr::Literal(Value::Null), Expr::Field { path, .. }) => path,
        _ => return None,
    };
    Some(Key(vec![Atom {
        field: field.clone(),
        fold: false,
        test: Test::Present,
        stages: u64::MAX,
    }]))
}

/// The best necessary condition of a boolean expression, if it has one.
pub(crate) fn necessary(e: &Expr) -> Option<Key> {
    let k = match e {
        Expr::And(items) => return items.iter().filter_map(necessary).max_by_key(score),
        Expr::Or(items) => {
            let mut all = Vec::new();
            for i in items {
                all.extend(necessary(i)?.0);
            }
            all.sort();
            all.dedup();
            return Some(Key(all));
        }
        // `field != null`, KQL `field:*`: the field has a value.
        Expr::Not(inner) => match &**inner {
            Expr::Compare {
                op: CmpOp::Eq,
                left,
                right,
            } => present(left, right)?,
            _ => return None,
        },
        Expr::Compare {
            op: CmpOp::Ne,
            left,
            right,
        } => present(left, right)?,
        Expr::Compare {
            op: CmpOp::Eq,
            left,
            right,
        } => {
            let (f, lit) = match (field_path(left), field_path(right)) {
                (Some(f), None) => (f, right),
                (None, Some(f)) => (f, left),
                _ => return None,
            };
            atoms(f, false, std::iter::once(&**lit), false, Base::Exact)?
        }
        Expr::In {
            expr,
            list,
            insensitive,
            negated: false,
        } => atoms(
            field_path(expr)?,
            *insensitive,
            list.iter(),
            false,
            Base::Exact,
        )?,
        // `:` and `like` patterns have `*`/`?` wildcards; folding as the parser set it.
        Expr::Match {
            kind: MatchKind::Seq | MatchKind::Like,
            insensitive,
            expr,
            patterns,
        } => atoms(
            field_path(expr)?,
            *insensitive,
            patterns.iter(),
            true,
            Base::Exact,
        )?,
        Expr::Match {
            kind: MatchKind::Regex,
            insensitive,
            expr,
            patterns,
        } => {
            let field = field_path(expr)?;
            let mut all = Vec::new();
            for p in patterns {
                all.extend(regex_atoms(field, *insensitive, str_lit(p)?)?.0);
            }
            Key(all)
        }
        Expr::Call {
            name,
            insensitive,
            args,
        } if args.len() == 2
            && matches!(name.as_str(), "startswith" | "endswith" | "stringcontains") =>
        {
            let base = match name.as_str() {
                "startswith" => Base::Prefix,
                "endswith" => Base::Suffix,
                _ => Base::Contains,
            };
            atoms(
                field_path(&args[0])?,
                *insensitive,
                args[1..].iter(),
                false,
                base,
            )?
        }
        _ => return None,
    };
    // Every event of this sensor is Linux: no use as a key.
    (!k.0.iter().any(|a| a.field == "host.os.type")).then_some(k)
}

/// The bit a rule's second key marks (see [`second_key`]); single-stage rules use no other
/// stage bit this high.
pub const SECOND: u64 = 1 << 61;

/// Selective enough to be worth a second key: the weakest atom exact or a long affix on a
/// field that is not everywhere (`process.name`, `file.path`, `process.args`...).
const SECOND_SCORE: u8 = 13;

/// The necessary conditions of `e`'s conjuncts, `and`s flattened.
fn conjunct_keys(e: &Expr, out: &mut Vec<Key>) {
    match e {
        Expr::And(items) => items.iter().for_each(|i| conjunct_keys(i, out)),
        other => out.extend(necessary(other)),
    }
}

/// A second necessary condition of `e`, from another conjunct than its best one (`first`,
/// what [`necessary`] gives): a rule keyed on both is tried only when both hold, so a rule
/// whose best key is common (`process.name == "bash"`) is not tried on every shell whose
/// arguments its other conjunct rules out.
pub(crate) fn second_key(e: &Expr, first: &Key) -> Option<Key> {
    // Atoms as tests, whatever stages they were given.
    fn tests(k: &Key) -> Vec<(&str, bool, &Test)> {
        let mut t: Vec<_> = k.0.iter().map(|a| (&*a.field, a.fold, &a.test)).collect();
        t.sort();
        t.dedup();
        t
    }
    let first = tests(first);
    let mut all = Vec::new();
    conjunct_keys(e, &mut all);
    all.into_iter()
        // Substrings are searched in every value (each argument of a command line): a
        // second key of them costs more than the tries it saves.
        .filter(|k| k.0.iter().all(|a| !matches!(a.test, Test::Contains(_))))
        .filter(|k| tests(k) != first && score(k).0 >= SECOND_SCORE)
        .max_by_key(score)
        .map(|k| {
            Key(k
                .0
                .into_iter()
                .map(|a| Atom {
                    stages: SECOND,
                    ..a
                })
                .collect())
        })
}

/// Union over an EQL query's stages (and `until`): some stage must see the event.
pub(crate) fn query_key(q: &Query) -> Option<Key> {
    let mut all = Vec::new();
    let stages = q
        .stages()
        .iter()
        .enumerate()
        .map(|(i, s)| (stage_bit(i), s));
    for (bit, s) in stages.chain(q.until().map(|u| (UNTIL, u))) {
        all.extend(
            necessary(&s.expr)?
                .0
                .into_iter()
                .map(|a| Atom { stages: bit, ..a }),
        );
    }
    if q.kind() == QueryKind::Event && all.is_empty() {
        return None;
    }
    // One atom per test, with the stages it serves.
    all.sort();
    all.dedup_by(|b, a| {
        let same = a.field == b.field && a.fold == b.fold && a.test == b.test;
        if same {
            a.stages |= b.stages;
        }
        same
    });
    Some(Key(all))
}

/// Rules an atom admits, each with the stages the atom serves (`stage_bit` mask).
type Rules = Vec<(u32, u64)>;
/// Keys of the value tables: short ones (most) are stored in the table itself, so a look-up
/// touches no other memory to compare.
type Inline = compact_str::CompactString;

/// Prefixes (or suffixes) of one length: the affix → rules, and a bitmap of their inner edge
/// byte (a prefix's last, a suffix's first: paths share their outer `/`), so most values are
/// rejected by one bit test instead of a hash lookup.
#[derive(Default)]
struct Affixes {
    len: usize,
    edges: Bytes,
    /// The same for the outer edge byte (a prefix's first, a suffix's last).
    outer: Bytes,
    rules: StrMap<Inline, Rules>,
}

type ByLen = Vec<Affixes>;

/// Per outer edge byte (a prefix's first, a suffix's last): the entries of a `ByLen` (bit
/// per entry) with an affix of that edge. A value is checked against those lengths only,
/// instead of every length the field's affixes have (dozens on `process.args`).
struct ByEdge(Box<[u64; 256]>);

impl ByEdge {
    /// `None` for more than 64 lengths (then every length is checked).
    fn of(list: &ByLen) -> Option<ByEdge> {
        if list.is_empty() || list.len() > 64 {
            return None;
        }
        let mut t = Box::new([0u64; 256]);
        for (i, a) in list.iter().enumerate() {
            for (c, bits) in t.iter_mut().enumerate() {
                if a.outer.has(c as u8) {
                    *bits |= 1 << i;
                }
            }
        }
        Some(ByEdge(t))
    }
}

/// The entries of `list` a value with outer edge byte `edge` may hit, in order.
#[inline]
fn by_edge<'a>(
    list: &'a ByLen,
    table: Option<&ByEdge>,
    edge: Option<u8>,
) -> impl Iterator<Item = &'a Affixes> + 'a {
    // `None`: no table (or an empty value), every entry in turn.
    let mut mask = table.zip(edge).map(|(t, c)| t.0[c as usize]);
    let mut all = list.iter();
    std::iter::from_fn(move || match &mut mask {
        None => all.next(),
        Some(0) => None,
        Some(m) => {
            let i = m.trailing_zeros() as usize;
            *m &= *m - 1;
            list.get(i)
        }
    })
}

/// Rules by atom, for one field and folding: exact values, prefixes and suffixes by length.
#[derive(Default)]
struct FieldMap {
    fold: bool,
    exact: StrMap<Inline, Rules>,
    prefixes: ByLen,
    suffixes: ByLen,
    /// Which lengths of `prefixes` (`suffixes`) have an affix starting (ending) with a byte.
    prefix_edge: Option<ByEdge>,
    suffix_edge: Option<ByEdge>,
    /// Rules that only need the field present.
    present: Rules,
    /// `Contains` texts and their rules; searched with one automaton (built by `finish`).
    needles: Vec<(Box<str>, Rules)>,
    automaton: Option<aho_corasick::AhoCorasick>,
    /// A pair of adjacent bytes of each needle (`None`: a needle is shorter than two bytes).
    pairs: Option<Pairs>,
    /// Some needle is too short for the automaton's prefilter to skip much (`-S`): values of
    /// any length are checked for pairs first.
    short_needle: bool,
    /// Lengths of the exact values (bit `min(len, 63)`): a value of another length is not
    /// hashed for them.
    exact_lens: u64,
}

/// Values up to this long are checked for a needle's byte pair before the automaton runs;
/// over longer ones the automaton's own vectorised prefilter is faster than a byte loop.
const PAIR_SCAN_MAX: usize = 64;
/// Needles this short are common in long values (`-S` among a command line's dashes): the
/// automaton's prefilter stops at every candidate byte, and checking pairs is cheaper.
const SHORT_NEEDLE: usize = 2;

/// One chosen pair of adjacent bytes per needle, as a bit per possible pair: a value can hold
/// a needle only if it holds the needle's pair. Short values (arguments, names) mostly hold
/// none, and starting the automaton costs more than looking at their pairs.
struct Pairs(Box<[u64; 1024]>);

impl Pairs {
    fn of<'a>(needles: impl Iterator<Item = &'a [u8]>) -> Option<Pairs> {
        // The needle's rarest pair lets the fewest values through. Path punctuation is
        // everywhere, then lower-case letters by their frequency in English text (`he` of
        // `hex2bin` is in every `--header`; its `x2` is rare), digits, upper case; other
        // bytes are rare.
        const LETTERS: &[u8; 26] = b"zqjxkvbpygfwmucldrhsnioate";
        let common = |b: u8| match b {
            b'/' | b'.' | b'-' | b'_' | b' ' => 40,
            b'a'..=b'z' => 12 + LETTERS.iter().position(|&l| l == b).unwrap_or(0) as u32,
            b'0'..=b'9' => 10,
            b'A'..=b'Z' => 6,
            _ => 0,
        };
        let mut bits = Box::new([0u64; 1024]);
        for n in needles {
            let pair = n.windows(2).min_by_key(|w| common(w[0]) + common(w[1]))?;
            let i = (pair[0] as usize) << 8 | pair[1] as usize;
            bits[i >> 6] |= 1 << (i & 63);
        }
        Some(Pairs(bits))
    }

    /// Whether `b` holds some needle's pair (`false`: it holds no needle).
    #[inline]
    fn any(&self, b: &[u8]) -> bool {
        b.windows(2).any(|w| {
            let i = (w[0] as usize) << 8 | w[1] as usize;
            self.0[i >> 6] & (1 << (i & 63)) != 0
        })
    }
}

fn by_len(list: &mut ByLen, s: &str, rule: (u32, u64), front: bool) {
    let at = match list.iter().position(|a| a.len == s.len()) {
        Some(at) => at,
        None => {
            list.push(Affixes {
                len: s.len(),
                ..Affixes::default()
            });
            list.len() - 1
        }
    };
    let a = &mut list[at];
    // Inner and outer edge: a prefix's last and first byte, a suffix's first and last (an
    // empty affix has neither and lets every byte through).
    let (first, last) = (s.as_bytes().first(), s.as_bytes().last());
    let (inner, outer) = if front { (last, first) } else { (first, last) };
    for (bits, b) in [(&mut a.edges, inner), (&mut a.outer, outer)] {
        match b {
            Some(&b) => bits.add(b, false),
            None => *bits = Bytes([u64::MAX; 4]),
        }
    }
    a.rules.entry(s.into()).or_default().push(rule);
}

impl FieldMap {
    fn hits(&self, s: &str, mut mark: impl FnMut(u32, u64)) {
        self.present.iter().for_each(|&(r, m)| mark(r, m));
        // Most values hold no needle: their byte pairs (short values) or the automaton's
        // prefilter say so faster than an overlapping search finds nothing.
        let b = s.as_bytes();
        let may_hold = |ac: &&aho_corasick::AhoCorasick| {
            ((b.len() > PAIR_SCAN_MAX && !self.short_needle)
                || self.pairs.as_ref().is_none_or(|p| p.any(b)))
                && ac.is_match(s)
        };
        if let Some(ac) = self.automaton.as_ref().filter(may_hold) {
            for m in ac.find_overlapping_iter(s) {
                self.needles[m.pattern().as_usize()]
                    .1
                    .iter()
                    .for_each(|&(r, m)| mark(r, m));
            }
        }
        // The length first: most values have none of the exact values' lengths, and are
        // then not hashed.
        if self.exact_lens & len_bit(b.len()) != 0 {
            if let Some(rules) = self.exact.get(Text::of(s)) {
                rules.iter().for_each(|&(r, m)| mark(r, m));
            }
        }
        for a in by_edge(
            &self.prefixes,
            self.prefix_edge.as_ref(),
            b.first().copied(),
        ) {
            if a.len > b.len() || (a.len > 0 && !(a.edges.has(b[a.len - 1]) && a.outer.has(b[0]))) {
                continue;
            }
            if let Some(rules) = s.get(..a.len).and_then(|p| a.rules.get(Text::of(p))) {
                rules.iter().for_each(|&(r, m)| mark(r, m));
            }
        }
        for a in by_edge(&self.suffixes, self.suffix_edge.as_ref(), b.last().copied()) {
            if a.len > b.len()
                || (a.len > 0 && !(a.edges.has(b[b.len() - a.len]) && a.outer.has(b[b.len() - 1])))
            {
                continue;
            }
            if let Some(rules) = s
                .get(b.len() - a.len..)
                .and_then(|t| a.rules.get(Text::of(t)))
            {
                rules.iter().for_each(|&(r, m)| mark(r, m));
            }
        }
    }
}

/// Rules indexed by their keys. Fields are looked up by slot in the event's index, which
/// the rules then share: no hashing of field names per event.
#[derive(Default)]
pub(crate) struct Dispatch {
    /// Rules without a key, and their stages (all).
    always: Rules,
    fields: Vec<Field>,
    /// Per slot: its entry in `fields` (`NO_FIELD`: no atom on it).
    by_slot: Vec<u32>,
    /// Reused buffers: a value's hits, the slots an event has.
    scratch: Rules,
    slots: Vec<Slot>,
    /// Per rule: the stage bits its mask must hold before it is listed (`SECOND` and stage
    /// 0 for a rule with a second key; 0: any mark lists it).
    need: Vec<u64>,
    plans: Plans,
}

const NO_FIELD: u32 = u32::MAX;

/// The atoms on one field, and what they gave for recent values.
#[derive(Default)]
struct Field {
    slot: Slot,
    /// One per folding (case-sensitive, insensitive).
    maps: Vec<FieldMap>,
    gate: Gate,
    memo: Memo,
}

/// What a value must look like to hit some atom of a field, judged on its length and edge
/// bytes. Most values of a keyed field hit nothing (arguments, user names, working
/// directories): they are turned away here instead of being hashed for the memo.
#[derive(Default)]
struct Gate {
    /// A `field:*` or substring atom: every value may hit.
    open: bool,
    /// Lengths of exact values (bit `min(len, 63)`), and their first and last bytes.
    exact_lens: u64,
    exact_first: Bytes,
    exact_last: Bytes,
    /// First bytes of prefixes and the shortest prefix; the same for suffixes' last bytes.
    prefix_first: Bytes,
    shortest_prefix: usize,
    suffix_last: Bytes,
    shortest_suffix: usize,
    /// Some atom is insensitive: its literals are ASCII lower case, and a non-ASCII value may
    /// change its length when folded.
    folds: bool,
}

/// The bit of a length in a set of lengths (`u64`; 63 and longer share the top bit).
#[inline]
fn len_bit(n: usize) -> u64 {
    1 << n.min(63)
}

/// A set of bytes.
#[derive(Default, Clone, Copy)]
struct Bytes([u64; 4]);

impl Bytes {
    /// Adds `b` (and, for an insensitive atom, its other case).
    fn add(&mut self, b: u8, fold: bool) {
        for b in [b, if fold { b.to_ascii_uppercase() } else { b }] {
            self.0[(b >> 6) as usize] |= 1 << (b & 63);
        }
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
}

/// Adds the shortest length of `list`'s affixes and the outer `edge` byte of each.
fn affix_edges(
    list: &ByLen,
    fold: bool,
    edge: impl Fn(&[u8]) -> Option<u8>,
    (shortest, bytes): (&mut usize, &mut Bytes),
) {
    for a in list {
        *shortest = (*shortest).min(a.len);
        a.rules
            .keys()
            .filter_map(|p| edge(p.as_bytes()))
            .for_each(|b| bytes.add(b, fold));
    }
}

impl Gate {
    fn of(maps: &[FieldMap]) -> Gate {
        let mut g = Gate {
            shortest_prefix: usize::MAX,
            shortest_suffix: usize::MAX,
            ..Gate::default()
        };
        for m in maps {
            g.open |= !m.present.is_empty() || !m.needles.is_empty();
            g.folds |= m.fold;
            g.exact_lens |= m.exact_lens;
            for v in m.exact.keys().map(|v| v.as_bytes()) {
                if let (Some(&f), Some(&l)) = (v.first(), v.last()) {
                    g.exact_first.add(f, m.fold);
                    g.exact_last.add(l, m.fold);
                }
            }
            let (first, last) = (|p: &[u8]| p.first().copied(), |p: &[u8]| p.last().copied());
            let prefix = (&mut g.shortest_prefix, &mut g.prefix_first);
            affix_edges(&m.prefixes, m.fold, first, prefix);
            affix_edges(
                &m.suffixes,
                m.fold,
                last,
                (&mut g.shortest_suffix, &mut g.suffix_last),
            );
        }
        // An empty affix holds for every value.
        g.open |= g.shortest_prefix == 0 || g.shortest_suffix == 0;
        g
    }

    /// Whether `s` may hit some atom (`false`: it hits none).
    #[inline]
    fn admits(&self, s: &str) -> bool {
        if self.open {
            return true;
        }
        let b = s.as_bytes();
        let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
            return self.exact_lens & 1 != 0;
        };
        let n = b.len();
        let may = (self.exact_lens & len_bit(n) != 0
            && self.exact_first.has(first)
            && self.exact_last.has(last))
            || (n >= self.shortest_prefix && self.prefix_first.has(first))
            || (n >= self.shortest_suffix && self.suffix_last.has(last));
        // Folding an ASCII value keeps its length and changes only letters' case.
        may || (self.folds && !s.is_ascii())
    }
}

/// The rules recent values of a field admitted, so a repeated value costs one hash lookup
/// instead of every map's tests (`super::memo` says when).
#[derive(Default)]
struct Memo {
    /// Value → where its rules are in `rules` (start, length).
    index: StrMap<Inline, (u32, u32)>,
    /// The remembered values' rules, one list after the other.
    rules: Vec<(u32, u64)>,
    policy: Policy,
}

impl Memo {
    /// The rules `s` admits (from `compute`); `None` when not remembered, the rules are then
    /// in `scratch`.
    fn get_or(
        &mut self,
        s: &str,
        scratch: &mut Rules,
        compute: impl FnOnce(&mut Rules),
    ) -> Option<&[(u32, u64)]> {
        let (index, rules) = (&mut self.index, &mut self.rules);
        if !self.policy.consult(s.len(), || {
            index.clear();
            rules.clear();
        }) {
            scratch.clear();
            compute(scratch);
            return None;
        }
        let (at, len) = match self.index.get(Text::of(s)) {
            Some(&found) => found,
            None => {
                self.policy.missed();
                if self.index.len() >= memo::ENTRIES {
                    self.index.clear();
                    self.rules.clear();
                }
                scratch.clear();
                compute(scratch);
                let found = (self.rules.len() as u32, scratch.len() as u32);
                self.rules.extend_from_slice(scratch);
                self.index.insert(s.into(), found);
                found
            }
        };
        self.rules.get(at as usize..(at + len) as usize)
    }
}

/// A rule as the dispatcher lists it: its index and the view (family) it is keyed for.
fn code(rule: u32, view: usize) -> u32 {
    rule << 1 | (view as u32 & 1)
}

/// What dispatch marked per rule and view for the current event: the event it was marked
/// for (`gen`) and the stages that may match. Both in one entry, and a rule's two views side
/// by side: marking reads and writes one cache line, not two arrays' lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) gen: u64,
    pub(crate) stages: u64,
}

/// The marks of every rule, indexed by `code(rule, view)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Marks(Vec<Mark>);

impl Marks {
    pub(crate) fn new(rules: usize) -> Marks {
        Marks(vec![Mark::default(); 2 * rules])
    }

    /// The mark of `rule` in `view`.
    #[inline]
    pub(crate) fn get(&self, view: usize, rule: usize) -> Mark {
        self.0[code(rule as u32, view) as usize]
    }

    #[cfg(test)]
    fn stamp(&self, view: usize, rule: usize) -> u64 {
        self.get(view, rule).gen
    }
}

impl Dispatch {
    /// Keys `rule` for events seen as `view` (0 or 1: the engine's Auditbeat and Defend
    /// views); `None`: every event.
    pub(crate) fn add(&mut self, rule: u32, view: usize, key: Option<&Key>) {
        let rule = code(rule, view);
        let Some(k) = key else {
            self.always.push((rule, u64::MAX));
            return;
        };
        for a in &k.0 {
            let entry = (rule, a.stages);
            let slot = slot_of(&a.field);
            let at = match self.fields.iter().position(|f| f.slot == slot) {
                Some(at) => at,
                None => {
                    self.fields.push(Field {
                        slot,
                        ..Field::default()
                    });
                    self.fields.len() - 1
                }
            };
            let maps = &mut self.fields[at].maps;
            let map = match maps.iter().position(|m| m.fold == a.fold) {
                Some(p) => &mut maps[p],
                None => {
                    maps.push(FieldMap {
                        fold: a.fold,
                        ..FieldMap::default()
                    });
                    maps.last_mut().expect("just pushed")
                }
            };
            match &a.test {
                Test::Exact(v) => map.exact.entry(v.as_str().into()).or_default().push(entry),
                Test::Prefix(p) => by_len(&mut map.prefixes, p, entry, true),
                Test::Suffix(s) => by_len(&mut map.suffixes, s, entry, false),
                Test::Present => map.present.push(entry),
                Test::Contains(c) => {
                    match map.needles.iter().position(|(n, _)| **n == **c) {
                        Some(at) => map.needles[at].1.push(entry),
                        None => map.needles.push((c.as_str().into(), vec![entry])),
                    }
                    map.automaton = None;
                }
            }
        }
    }

    /// Keys `rule` for `view` on its second key as well (see [`second_key`]): it is listed
    /// only when both keys hold. Call after `add` gave it its first key.
    pub(crate) fn add_second(&mut self, rule: u32, view: usize, key: &Key) {
        self.add(rule, view, Some(key));
        let i = rule as usize;
        if self.need.len() <= i {
            self.need.resize(i + 1, 0);
        }
        self.need[i] = SECOND | 1;
    }

    /// The stage bits a view's mask must hold for `rule` to be tried.
    pub(crate) fn need(&self, rule: usize) -> u64 {
        self.need.get(rule).copied().unwrap_or(0)
    }

    /// Builds the search automata; call after the last `add`. A field whose automaton cannot
    /// be built sends its contains-rules to every event.
    pub(crate) fn finish(&mut self) {
        let mut fallback = Vec::new();
        let top = self
            .fields
            .iter()
            .map(|f| f.slot as usize + 1)
            .max()
            .unwrap_or(0);
        self.by_slot = vec![NO_FIELD; top];
        for (i, f) in self.fields.iter_mut().enumerate() {
            self.by_slot[f.slot as usize] = i as u32;
        }
        for f in &mut self.fields {
            for m in f.maps.iter_mut().filter(|m| !m.needles.is_empty()) {
                match aho_corasick::AhoCorasick::new(m.needles.iter().map(|(n, _)| &**n)) {
                    Ok(ac) => {
                        m.automaton = Some(ac);
                        m.pairs = Pairs::of(m.needles.iter().map(|(n, _)| n.as_bytes()));
                        m.short_needle = m.needles.iter().any(|(n, _)| n.len() <= SHORT_NEEDLE);
                    }
                    Err(_) => fallback.extend(m.needles.drain(..).flat_map(|(_, r)| r)),
                }
            }
        }
        self.always.extend(fallback);
        for f in &mut self.fields {
            for m in &mut f.maps {
                m.exact_lens = m.exact.keys().fold(0, |l, v| l | len_bit(v.len()));
                m.prefix_edge = ByEdge::of(&m.prefixes);
                m.suffix_edge = ByEdge::of(&m.suffixes);
            }
            f.gate = Gate::of(&f.maps);
        }
    }

    /// Marks (`marks` of rule and view: `gen`) and lists the rules an event may match in each of
    /// its views, with the stages of each that may match it (the mark's `stages`, a
    /// `stage_bit` mask); a rule can be listed twice. A field a view shares with the other
    /// (the same value) is looked up once for both.
    pub(crate) fn collect(
        &mut self,
        views: [Option<&IndexedEvent>; 2],
        gen: u64,
        marks: &mut Marks,
        out: &mut Vec<u32>,
    ) {
        let Dispatch {
            always,
            fields,
            by_slot,
            scratch,
            slots,
            need,
            plans,
        } = self;
        let mut mark = |code: u32, m: u64| {
            let i = (code >> 1) as usize;
            let mk = &mut marks.0[code as usize];
            let before = if mk.gen != gen {
                mk.gen = gen;
                0
            } else {
                mk.stages
            };
            mk.stages = before | m;
            // Listed once its keys hold: at the first mark, or when the second key's (or
            // the first's) mark completes what it needs.
            let want = need.get(i).copied().unwrap_or(0);
            let listed = |mask: u64| mask != 0 && mask & want == want;
            if listed(before | m) && !listed(before) {
                out.push(code >> 1);
            }
        };
        let seen = [views[0].is_some(), views[1].is_some()];
        always
            .iter()
            .filter(|(c, _)| seen[(c & 1) as usize])
            .for_each(|&(c, m)| mark(c, m));
        if let Some(at) = plans.find(views, by_slot) {
            let (ab, def) = (views[0].expect("planned"), views[1]);
            for st in &plans.steps[at] {
                let f = &mut fields[st.field as usize];
                let own = (st.own != NOWHERE).then(|| ab.own_at(st.own)).flatten();
                // Which views each value serves (bit per view).
                let (serves, view) = match (st.view, def) {
                    (SAME, _) => (0b11, None),
                    (NOWHERE, _) | (_, None) => (0b01, None),
                    (p, Some(d)) => (0b01, d.view_at(p)),
                };
                if let Some(v) = own {
                    look_up(f, scratch, v, serves, &mut mark);
                }
                if let Some(v) = view {
                    look_up(f, scratch, v, 0b10, &mut mark);
                }
            }
            return;
        }
        // The fields the events have and some atom names: the event's own (both views have
        // them unless the second view removes them), then those only the second view sets.
        slots.clear();
        let keyed = |s: &Slot| by_slot.get(*s as usize).is_some_and(|&f| f != NO_FIELD);
        if let Some(ix) = views[0].or(views[1]) {
            slots.extend(ix.present().iter().filter(|s| keyed(s)));
        }
        if let Some(ix) = views[1] {
            let first = views[0];
            slots.extend(
                ix.view_present()
                    .iter()
                    .filter(|s| keyed(s) && first.is_none_or(|a| a.get(**s).is_none())),
            );
        }
        for &slot in slots.iter() {
            // Spelled out: `array::map` is not always inlined, and this runs per field.
            let got = [
                views[0].and_then(|ix| ix.get(slot)),
                views[1].and_then(|ix| ix.get(slot)),
            ];
            let f = &mut fields[by_slot[slot as usize] as usize];
            match got {
                [Some(a), Some(b)] if std::ptr::eq(a, b) => look_up(f, scratch, a, 0b11, &mut mark),
                [a, b] => {
                    if let Some(a) = a {
                        look_up(f, scratch, a, 0b01, &mut mark);
                    }
                    if let Some(b) = b {
                        look_up(f, scratch, b, 0b10, &mut mark);
                    }
                }
            }
        }
    }
}

/// Marks the rules a field's value (each of a list's) admits, for the views it serves (bit
/// per view).
#[inline]
fn look_up(
    field: &mut Field,
    scratch: &mut Rules,
    v: &Value,
    serves: u32,
    mark: &mut impl FnMut(u32, u64),
) {
    let Field {
        maps, memo, gate, ..
    } = field;
    let mut num = [0u8; 20];
    let values: &[Value] = match v {
        Value::List(items) => items,
        other => std::slice::from_ref(other),
    };
    for v in values {
        // Numbers and booleans are tested through their string form, as the matcher
        // does (`user.id == "0"` on a numeric id).
        let owned;
        let s: &str = match v {
            Value::Str(s) => s,
            Value::Int(i) => crate::decimal::decimal(*i, &mut num),
            Value::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
            Value::Float(_) => {
                owned = crate::detect::eql::to_string(v).unwrap_or_default();
                &owned
            }
            Value::Null | Value::List(_) => continue,
        };
        if !gate.admits(s) {
            continue;
        }
        let maps = &*maps;
        let hits = memo.get_or(s, scratch, |list| {
            for map in maps {
                // The same folding the matcher applies.
                with_folded(s, map.fold, |s| map.hits(s, |r, m| list.push((r, m))));
            }
        });
        hits.unwrap_or(scratch)
            .iter()
            .filter(|(c, _)| serves & (1 << (c & 1)) != 0)
            .for_each(|&(c, m)| mark(c, m));
    }
}

/// One keyed field of a pair of event shapes: its entry in `Dispatch::fields`, where the
/// event has it (`NOWHERE`: absent) and where the view has it (`SAME`: the event's value,
/// `NOWHERE`: absent or no view).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    field: u32,
    own: u32,
    view: u32,
}

const NOWHERE: u32 = u32::MAX;
const SAME: u32 = u32::MAX - 1;

/// The keyed fields of recent pairs of shapes (the event's, its view's), direct-mapped.
/// Events of one kind share their shapes, so the fields to look up and where their values
/// are is worked out once per kind, not per event.
#[derive(Default)]
struct Plans {
    keys: Vec<(u64, u64)>,
    steps: Vec<Vec<Step>>,
}

const PLANS: usize = 64;

impl Plans {
    /// The plan for the views' shapes, made on first sight; `None` for events indexed
    /// without a shape, or with a view not over the first view's event.
    fn find(&mut self, views: [Option<&IndexedEvent>; 2], by_slot: &[u32]) -> Option<usize> {
        let ab = views[0]?;
        let (own, _) = ab.shapes()?;
        let view = match views[1] {
            None => 0,
            Some(d) if std::ptr::eq(d.event(), ab.event()) => d.shapes()?.1,
            Some(_) => return None,
        };
        let key = (own, view);
        let at = ((own ^ view.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
            % PLANS;
        if self.keys.is_empty() {
            self.keys = vec![(0, 0); PLANS];
            self.steps = vec![Vec::new(); PLANS];
        }
        if self.keys[at] != key {
            self.keys[at] = key;
            self.steps[at] = plan(ab, views[1], by_slot);
        }
        Some(at)
    }
}

/// The steps for an event and its view: the same fields, in the same order, as the general
/// path of `collect` looks up.
fn plan(ab: &IndexedEvent, def: Option<&IndexedEvent>, by_slot: &[u32]) -> Vec<Step> {
    let field = |s: Slot| by_slot.get(s as usize).copied().filter(|&f| f != NO_FIELD);
    let mut steps = Vec::new();
    for &slot in ab.present() {
        let (Some(f), Some(own)) = (field(slot), ab.own_position(slot)) else {
            continue;
        };
        let view = match def.map(|d| d.view_position(slot)) {
            None | Some(Some(None)) => NOWHERE,
            Some(None) => SAME,
            Some(Some(Some(p))) => p,
        };
        steps.push(Step {
            field: f,
            own,
            view,
        });
    }
    for &slot in def.map_or(&[][..], |d| d.view_present()) {
        let Some(f) = field(slot).filter(|_| ab.own_position(slot).is_none()) else {
            continue;
        };
        if let Some(Some(Some(p))) = def.map(|d| d.view_position(slot)) {
            steps.push(Step {
                field: f,
                own: NOWHERE,
                view: p,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kql(q: &str) -> Option<Key> {
        necessary(&crate::detect::kql::parse_expr(q).unwrap())
    }

    fn eql(q: &str) -> Option<Key> {
        query_key(&crate::detect::eql::parse(q).unwrap())
    }

    fn tests(k: &Key) -> Vec<(String, Test)> {
        k.0.iter()
            .map(|a| (a.field.clone(), a.test.clone()))
            .collect()
    }

    fn ex(f: &str, v: &str) -> (String, Test) {
        (f.into(), Test::Exact(v.into()))
    }

    fn second(q: &str) -> Option<Vec<(String, Test)>> {
        let e = crate::detect::kql::parse_expr(q).unwrap();
        let k = second_key(&e, &necessary(&e)?)?;
        assert!(k.0.iter().all(|a| a.stages == SECOND));
        Some(tests(&k))
    }

    /// The second key comes from another conjunct than the first, nested `and`s included;
    /// common fields, substrings and the first key's own tests are not second keys.
    #[test]
    fn second_key_is_another_selective_conjunct() {
        assert_eq!(
            second(
                "process.name:(curl or wget) and (event.type:start and process.parent.name:sshd)"
            ),
            Some(vec![ex("process.name", "curl"), ex("process.name", "wget")]),
            "the first key is the one-value conjunct"
        );
        assert_eq!(
            second("process.name:curl and event.action:exec and event.type:start"),
            None,
            "only common fields left"
        );
        assert_eq!(
            second("process.name:curl and process.command_line:*--insecure*"),
            None,
            "a substring is searched in every value"
        );
        assert_eq!(second("process.name:curl and process.name:curl"), None);
        assert_eq!(second("process.name:curl or process.name:wget"), None);
    }

    /// A rule with a second key is listed once both keys held, on either order of marks,
    /// and not when only one did.
    #[test]
    fn a_rule_with_two_keys_is_listed_when_both_hold() {
        let e = crate::detect::kql::parse_expr(
            "process.name:curl and process.parent.name:sshd-session and event.action:exec",
        )
        .unwrap();
        let mut first = necessary(&e).unwrap();
        let second = second_key(&e, &first).unwrap();
        first.0.iter_mut().for_each(|a| a.stages &= !SECOND);
        let mut d = Dispatch::default();
        d.add(0, 0, Some(&first));
        d.add_second(0, 0, &second);
        d.add(1, 0, Some(&first));
        d.finish();
        assert_eq!(d.need(0), SECOND | 1);
        assert_eq!(d.need(1), 0);
        let mut marks = Marks::new(2);
        let mut fields = crate::detect::eql::FieldIndex::new();
        for (gen, (name, parent, listed)) in [
            // The first key is the longer literal (the parent), the second the name.
            ("curl", "sshd-session", vec![0, 1]),
            ("wget", "sshd-session", vec![1]),
            ("curl", "bash", vec![]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut ev = crate::event::Event::new(0);
            ev.push("process.parent.name", parent);
            ev.push("process.name", name);
            let ev = std::sync::Arc::new(ev);
            let ix = fields.index(&ev);
            let mut out = vec![];
            d.collect([Some(&ix), None], gen as u64 + 1, &mut marks, &mut out);
            out.sort();
            assert_eq!(out, listed, "{name} under {parent}");
        }
    }

    #[test]
    fn picks_the_most_selective_conjunct() {
        let k = kql("host.os.type:linux and event.category:process and event.action:(exec or executed) and process.name:(curl or wget)").unwrap();
        assert_eq!(
            tests(&k),
            vec![ex("process.name", "curl"), ex("process.name", "wget")]
        );
        assert_eq!(kql("not process.name:curl"), None);
        // A wildcard pattern keys on its literal prefix or suffix.
        let k = kql("process.name:(py* or perl) and event.action:exec").unwrap();
        assert_eq!(
            tests(&k),
            vec![
                ex("process.name", "perl"),
                ("process.name".into(), Test::Prefix("py".into()))
            ]
        );
        let k = kql("process.name:*py and event.action:exec").unwrap();
        assert_eq!(
            tests(&k),
            vec![("process.name".into(), Test::Suffix("py".into()))]
        );
        // The longer literal end of a pattern; a one-byte affix is weaker than an action.
        let k = kql("file.name:.*.so and event.action:exec").unwrap();
        assert_eq!(
            tests(&k),
            vec![("file.name".into(), Test::Suffix(".so".into()))]
        );
        let k = kql("process.executable:/* and event.action:exec").unwrap();
        assert_eq!(tests(&k), vec![ex("event.action", "exec")]);
        // `*x*` keys on the text inside; `field:*` on the field's presence, unless every
        // event has the field.
        let k = kql("process.command_line:*serviceaccount* and event.action:exec").unwrap();
        assert_eq!(
            tests(&k),
            vec![(
                "process.command_line".into(),
                Test::Contains("serviceaccount".into())
            )]
        );
        let k = kql("process.env_vars:* and event.action:exec").unwrap();
        assert_eq!(tests(&k), vec![("process.env_vars".into(), Test::Present)]);
        let k = kql("process.name:* and event.action:exec").unwrap();
        assert_eq!(tests(&k), vec![ex("event.action", "exec")]);
    }

    #[test]
    fn or_across_fields_is_a_union() {
        let k = eql(r#"process where event.type == "start" and (process.name : "Curl" or process.args : "--upload*" or startsWith(process.executable, "/tmp/"))"#).unwrap();
        let mut got = tests(&k);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("process.args".into(), Test::Prefix("--upload".into())),
                ("process.executable".into(), Test::Prefix("/tmp/".into())),
                ex("process.name", "curl"),
            ]
        );
        assert!(k.0.iter().any(|a| a.field == "process.name" && a.fold));
        // One unkeyable branch unkeys the `or`; the category remains.
        let k = eql(r#"process where process.name == "a" or process.args regex ".*b.*""#).unwrap();
        assert_eq!(tests(&k), vec![ex("event.category", "process")]);
        // A regex with a literal start keys on it.
        let k = eql(r#"process where process.name == "a" or process.args regex "b.*""#).unwrap();
        let mut got = tests(&k);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("process.args".into(), Test::Prefix("b".into())),
                ex("process.name", "a")
            ]
        );
    }

    #[test]
    fn sequences_take_every_stage_and_until() {
        let k = eql(r#"sequence by process.entity_id [process where process.name == "a"] [network where destination.port == 4444] until [process where event.action == "end"]"#).unwrap();
        let mut got = tests(&k);
        got.sort();
        // The port is a number: that stage keys on its category.
        assert_eq!(
            got,
            vec![
                ex("event.action", "end"),
                ex("event.category", "network"),
                ex("process.name", "a"),
            ]
        );
        // Each atom knows the stages it serves: a `by`-joined event is tried only on those.
        let stages_of = |f: &str| k.0.iter().find(|a| a.field == f).map(|a| a.stages);
        assert_eq!(stages_of("process.name"), Some(stage_bit(0)));
        assert_eq!(stages_of("event.category"), Some(stage_bit(1)));
        assert_eq!(stages_of("event.action"), Some(UNTIL));
        let k = eql(r#"sequence [process where process.name == "a"] [process where process.name : ("a", "b")]"#).unwrap();
        let a =
            k.0.iter()
                .find(|a| a.test == Test::Exact("a".into()) && !a.fold)
                .map(|a| a.stages);
        assert_eq!(a, Some(stage_bit(0)));
        assert_eq!(
            eql(r#"sequence [any where true] [process where process.name == "a"]"#),
            None
        );
    }

    /// Every value a regex matches has one of its atoms (prefix or suffix, case-sensitive),
    /// over values built from pieces the patterns name, white space of several kinds and
    /// case variants (the Kelvin sign folds to `k`).
    #[test]
    fn regex_atoms_hold_for_every_match() {
        let patterns = [
            r"/[a-z0-9\s_\-\\./]+\s",
            r"(bin|usr)/.*[0-9]",
            r"k.*",
            r"[^a]+\s",
            r".*x y.*",
            r"(/usr/bin/)?a.*",
            r"/tmp/.*\.sh",
        ];
        let pieces = [
            "/", "usr", "bin", "tmp", " ", "\t", "\u{a0}", "\u{2003}", "a", "Z", "K", "k",
            "\u{212a}", "-", ".", ".sh", "1", "x y", "\n", "bin/", "/tmp/",
        ];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let holds = |k: &Key, v: &str| {
            k.0.iter().any(|a| match &a.test {
                Test::Prefix(p) => v.starts_with(p.as_str()),
                Test::Suffix(p) => v.ends_with(p.as_str()),
                _ => false,
            })
        };
        let mut keyed = 0;
        for p in patterns {
            for insensitive in [false, true] {
                let Some(k) = regex_atoms("f", insensitive, p) else {
                    continue;
                };
                keyed += 1;
                assert!(k.0.iter().all(|a| !a.fold));
                let re = crate::detect::eql::build_regex(p, insensitive).unwrap();
                let mut matched = 0;
                for _ in 0..50_000 {
                    let v: String = (0..1 + next(6))
                        .map(|_| pieces[next(pieces.len() as u64) as usize])
                        .collect();
                    if re.is_match(&v) {
                        matched += 1;
                        assert!(
                            holds(&k, &v),
                            "{p} (insensitive {insensitive}) matches {v:?}: {k:?}"
                        );
                    }
                }
                assert!(
                    matched > 20,
                    "{p}: only {matched} matches, the test says little"
                );
            }
        }
        assert!(keyed >= 10, "most patterns give atoms: {keyed}");
        // White space at the end is a selective key: it beats `event.type == "start"`.
        let e = crate::detect::eql::parse(
            r#"process where event.type == "start" and process.executable regex~ """/[a-z0-9\s_\-\\./]+\s""""#,
        )
        .unwrap();
        let k = necessary(&e.stages()[0].expr).unwrap();
        assert!(k.0.iter().all(|a| a.field == "process.executable"), "{k:?}");
        // Open at both ends: no prefix, no suffix, no key.
        assert!(regex_atoms("f", false, ".*[0-9]+:[0-9]+.*").is_none());
    }

    #[test]
    fn refuses_what_it_cannot_prove() {
        // Non-ASCII case-insensitive literals: Unicode folding differs from ASCII lowering.
        let e = crate::detect::eql::parse(r#"any where process.name : "ſh""#).unwrap();
        assert_eq!(necessary(&e.stages()[0].expr), None);
        let e = crate::detect::eql::parse(r#"any where @timestamp == "1000""#).unwrap();
        assert_eq!(necessary(&e.stages()[0].expr), None);
    }

    use crate::event::Event;

    fn key(f: &str, fold: bool, t: Test) -> Key {
        Key(vec![Atom {
            field: f.into(),
            fold,
            test: t,
            stages: u64::MAX,
        }])
    }

    #[test]
    fn dispatch_finds_exact_prefix_suffix_folded_and_numeric_values() {
        let mut d = Dispatch::default();
        let exact = |s: &str| Test::Exact(s.into());
        d.add(0, 0, Some(&key("process.name", false, exact("curl"))));
        d.add(
            1,
            0,
            Some(&key("process.name", false, Test::Prefix("py".into()))),
        );
        d.add(2, 0, Some(&key("process.name", true, exact("bash"))));
        d.add(3, 0, None);
        d.add(
            4,
            0,
            Some(&key("file.path", false, Test::Suffix(".so".into()))),
        );
        d.add(5, 0, Some(&key("process.pid", false, exact("-12"))));
        d.add(
            6,
            0,
            Some(&key("file.path", false, Test::Contains("mp/x".into()))),
        );
        d.add(
            6,
            0,
            Some(&key("file.path", false, Test::Contains("/x.s".into()))),
        );
        d.add(7, 0, Some(&key("process.env_vars", false, Test::Present)));
        d.finish();
        let mut ev = Event::new(0);
        ev.push(
            "process.name",
            Value::List(vec!["python3".into(), "BASH".into()]),
        );
        ev.push("file.path", "/tmp/x.so");
        ev.push("process.pid", -12i64);
        let mut marks = Marks::new(8);
        let mut out = Vec::new();
        let mut fi = crate::detect::eql::FieldIndex::new();
        // Twice: the second time from the remembered values.
        for gen in [1, 2] {
            out.clear();
            let ix = fi.index(&ev);
            d.collect([Some(&ix), None], gen, &mut marks, &mut out);
            out.sort();
            assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
        }
        let mut ev = Event::new(0);
        ev.push("process.name", "p");
        ev.push("file.path", "so");
        ev.push("process.env_vars", Value::List(vec![]));
        out.clear();
        let ix = fi.index(&ev);
        d.collect([Some(&ix), None], 3, &mut marks, &mut out);
        assert_eq!(out, vec![3], "shorter than the prefix and the suffix");
    }

    /// Rules keyed for the second view see its own values: those it shares with the event,
    /// those it changes, adds and removes; rules of the first view only the event's.
    #[test]
    fn each_view_is_dispatched_on_its_own_values() {
        let mut d = Dispatch::default();
        let exact = |s: &str| Test::Exact(s.into());
        d.add(0, 0, Some(&key("event.action", false, exact("executed"))));
        d.add(1, 1, Some(&key("event.action", false, exact("exec"))));
        d.add(2, 1, Some(&key("event.action", false, exact("executed"))));
        d.add(3, 0, Some(&key("process.name", false, exact("curl"))));
        d.add(3, 1, Some(&key("process.name", false, exact("curl"))));
        d.add(4, 1, None);
        d.add(5, 0, None);
        // Only the view has `file.path`; the view removes `user.name`.
        d.add(
            6,
            1,
            Some(&key("file.path", false, Test::Prefix("/tmp/".into()))),
        );
        d.add(
            7,
            0,
            Some(&key("file.path", false, Test::Prefix("/tmp/".into()))),
        );
        d.add(8, 1, Some(&key("user.name", false, exact("root"))));
        d.add(9, 0, Some(&key("user.name", false, exact("root"))));
        d.finish();
        let mut ev = Event::new(0);
        ev.push("event.action", "executed");
        ev.push("process.name", "curl");
        ev.push("user.name", "root");
        let mut view = Event::new(0);
        view.push("event.action", "exec");
        view.push("file.path", "/tmp/x");
        view.push("user.name", Value::Null);
        let n = 10;
        let mut marks = Marks::new(n);
        let mut out = Vec::new();
        let (mut fa, mut fb) = (
            crate::detect::eql::FieldIndex::new(),
            crate::detect::eql::FieldIndex::new(),
        );
        let ia = fa.index(&ev);
        let ib = fb.index_over(&ia, &view);
        d.collect([Some(&ia), Some(&ib)], 1, &mut marks, &mut out);
        let marked = |v: usize| {
            (0..n)
                .filter(|&r| marks.stamp(v, r) == 1)
                .collect::<Vec<_>>()
        };
        assert_eq!(marked(0), vec![0, 3, 5, 9]);
        assert_eq!(marked(1), vec![1, 3, 4, 6]);
        // Without the second view only the first view's rules.
        out.clear();
        d.collect([Some(&ia), None], 2, &mut marks, &mut out);
        out.sort();
        assert_eq!(out, vec![0, 3, 5, 9]);
        assert!((0..n).all(|r| marks.stamp(1, r) != 2));
    }

    /// A field whose values never repeat stops being remembered; answers stay right before,
    /// while and after it rests, and the memo stays bounded.
    #[test]
    fn memo_answers_right_for_values_that_never_repeat() {
        let mut d = Dispatch::default();
        d.add(
            0,
            0,
            Some(&key("file.path", false, Test::Prefix("/tmp/".into()))),
        );
        d.add(
            1,
            0,
            Some(&key("file.path", false, Test::Suffix(".so".into()))),
        );
        d.finish();
        let mut marks = Marks::new(2);
        let mut out = Vec::new();
        let mut fi = crate::detect::eql::FieldIndex::new();
        for i in 0..(memo::ENTRIES as u64 * 3) {
            let path = match i % 3 {
                0 => format!("/tmp/{i}"),
                1 => format!("/var/{i}.so"),
                _ => format!("/var/{i}"),
            };
            let mut ev = Event::new(0);
            ev.push("file.path", path.clone());
            out.clear();
            let ix = fi.index(&ev);
            d.collect([Some(&ix), None], i + 1, &mut marks, &mut out);
            let want: Vec<u32> = match i % 3 {
                0 => vec![0],
                1 => vec![1],
                _ => vec![],
            };
            assert_eq!(out, want, "{path}");
        }
        let memo = &d.fields[0].memo;
        assert!(memo.policy.resting(), "a field of unique values rests");
        assert!(memo.index.len() <= memo::ENTRIES);
    }

    /// A xorshift generator of numbers below its argument.
    /// The rules (sorted, once each) a field's maps list for `v`, folded or not as given.
    fn rules_hit(f: &Field, v: &str) -> Vec<u32> {
        let mut rules = vec![];
        f.maps
            .iter()
            .for_each(|m| m.hits(v, |r, _| rules.push(r >> 1)));
        rules.sort();
        rules.dedup();
        rules
    }

    fn below(mut rng: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        }
    }

    /// Rules keyed on every kind of atom, for both views.
    fn mixed_dispatch() -> Dispatch {
        let queries = [
            "process.name:(curl or wget)",
            "process.name:py* and event.action:exec",
            "file.path:*.so",
            "process.command_line:*base64*",
            "process.parent.name:(sshd or cron) and user.id:0",
            "event.action:(exec or executed)",
            "file.name:*",
            "destination.port:(22 or 4444)",
            "process.args:(-c or --command)",
        ];
        let mut d = Dispatch::default();
        for (i, q) in queries.iter().enumerate() {
            let k = kql(q);
            d.add(i as u32, i % 2, k.as_ref());
            d.add(i as u32, (i + 1) % 2, k.as_ref());
        }
        let k = eql(r#"process where process.name : ("BASH", "K")"#);
        d.add(queries.len() as u32, 0, k.as_ref());
        d.finish();
        d
    }

    /// Where the views' shapes give a plan, `collect` marks and lists exactly what its
    /// general path does: fields the view keeps, changes, removes and adds, over events of
    /// a few shapes with varying values.
    #[test]
    fn planned_lookups_mark_what_the_general_path_marks() {
        use crate::event::Event;
        let mut d = mixed_dispatch();
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        let names = [
            "curl", "wget", "python3", "bash", "BASH", "ls", "sshd", "cron",
        ];
        let paths = ["/tmp/x.so", "/usr/lib/a.SO", "/etc/passwd", ""];
        let (mut ab_index, mut def_index) = (
            crate::detect::eql::FieldIndex::new(),
            crate::detect::eql::FieldIndex::new(),
        );
        let n = 16;
        let mut marks = Marks::new(n);
        let mut marks2 = marks.clone();
        let mut planned = 0;
        for gen in 1..=3000u64 {
            let mut ev = Event::new(gen as i64);
            let shape = next(4);
            ev.push("process.name", names[next(8) as usize]);
            if shape != 1 {
                ev.push("process.parent.name", names[next(8) as usize]);
                ev.push("user.id", ["0", "1000"][next(2) as usize]);
            }
            ev.push(
                "event.action",
                ["executed", "exec", "opened-file"][next(3) as usize],
            );
            if shape >= 2 {
                ev.push("file.path", paths[next(4) as usize]);
                ev.push("destination.port", [22i64, 80, 4444][next(3) as usize]);
            }
            let args: Vec<Value> = (0..next(4))
                .map(|_| Value::from(["-c", "-C", "x", "--command"][next(4) as usize]))
                .collect();
            ev.push("process.args", Value::List(args));
            ev.push(
                "process.command_line",
                ["echo aGk= | base64 -d", "ls"][next(2) as usize],
            );
            // The view: changes the action, removes the parent on some shapes, adds a file
            // name on others.
            let mut view = Event::new(gen as i64);
            view.push("event.action", ["exec", "start"][next(2) as usize]);
            if shape == 0 {
                view.push("process.parent.name", Value::Null);
            }
            if shape == 3 {
                view.push("file.name", "x.so");
            }
            let with_view = next(5) != 0;
            let ix = ab_index.index(&ev);
            let iv = with_view.then(|| def_index.index_over(&ix, &view));
            planned += (ix.shapes().is_some() && iv.as_ref().is_none_or(|v| v.shapes().is_some()))
                as usize;
            let (mut out, mut out2) = (vec![], vec![]);
            d.collect([Some(&ix), iv.as_ref()], gen, &mut marks, &mut out);
            let (gx, gv) = (ix.unshaped(), iv.map(|v| v.unshaped()));
            d.collect([Some(&gx), gv.as_ref()], gen, &mut marks2, &mut out2);
            out.sort();
            out2.sort();
            assert_eq!(out, out2, "event {gen}");
            assert_eq!(marks, marks2, "event {gen}");
        }
        assert!(planned > 2500, "most events took a plan: {planned}");
    }

    /// The gate turns a value away only when no atom of its field can hit it: checked
    /// against the field's maps for values of every length and edge, both cases, and
    /// non-ASCII ones (the Kelvin sign folds to `k`).
    #[test]
    fn the_gate_admits_every_value_some_atom_hits() {
        let d = mixed_dispatch();
        let values = [
            "",
            "c",
            "curl",
            "CURL",
            "wget",
            "py",
            "python3",
            "PYTHON",
            "bash",
            "BASH",
            "\u{212a}",
            "-c",
            "-C",
            "--command",
            "/tmp/x.so",
            "/tmp/x.SO",
            "x.so",
            "so",
            "0",
            "00",
            "1000",
            "22",
            "4444",
            "sshd",
            "cron",
            "exec",
            "executed",
            "EXEC",
            "\u{212a}url",
        ];
        let mut rejected = 0;
        for f in &d.fields {
            for v in values {
                let mut hits = vec![];
                for map in &f.maps {
                    with_folded(v, map.fold, |s| map.hits(s, |r, m| hits.push((r, m))));
                }
                if !hits.is_empty() {
                    assert!(f.gate.admits(v), "{v:?} on slot {}", f.slot);
                }
                rejected += !f.gate.admits(v) as usize;
            }
        }
        assert!(rejected > 100, "the gate rejects most values: {rejected}");
    }

    /// The byte-pair check lets through every value that holds a needle (at its start, end,
    /// middle, overlapping others) and turns most others away; a one-byte needle disables it.
    #[test]
    fn needle_pairs_let_every_holder_through() {
        let needles = [
            "/.aws/cli/cache/",
            "containerd.sock",
            ":10250/",
            "base64",
            "Zx",
        ];
        let pairs = Pairs::of(needles.iter().map(|n| n.as_bytes())).unwrap();
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let filler = b"abcdefghijklmnopqrstuvwxyz/._-0123456789 :ABZx";
        let (mut held, mut turned_away) = (0, 0);
        for _ in 0..20_000 {
            let mut v: Vec<u8> = (0..next(40))
                .map(|_| filler[next(filler.len() as u64) as usize])
                .collect();
            if next(3) == 0 {
                let n = needles[next(needles.len() as u64) as usize].as_bytes();
                let at = next(v.len() as u64 + 1) as usize;
                v.splice(at..at, n.iter().copied());
            }
            let s = String::from_utf8(v).unwrap();
            if needles.iter().any(|n| s.contains(n)) {
                held += 1;
                assert!(pairs.any(s.as_bytes()), "{s:?} holds a needle");
            } else if !pairs.any(s.as_bytes()) {
                turned_away += 1;
            }
        }
        assert!(
            held > 5_000 && turned_away > 5_000,
            "{held} held, {turned_away} turned away"
        );
        assert!(Pairs::of(["ab", "c"].iter().map(|n| n.as_bytes())).is_none());
    }

    /// Affixes of one length that share their inner edge byte but not their outer one: a
    /// value is found by the affix it has, whichever edge tells them apart.
    #[test]
    fn affixes_are_found_by_both_edges() {
        let mut d = Dispatch::default();
        d.add(0, 0, kql("process.args:(/tmp/* or --xy/* or ab*)").as_ref());
        d.add(1, 0, kql("process.args:(*.so or *-so or *.SH)").as_ref());
        d.finish();
        let f = &d.fields[0];
        let hit = |v: &str| rules_hit(f, v);
        for (v, want) in [
            ("/tmp/a", vec![0]),
            ("--xy/q", vec![0]),
            ("abc", vec![0]),
            ("zbc", vec![]),
            ("-tmp/a", vec![]),
            ("/tmp", vec![]),
            ("x.so", vec![1]),
            ("x-so", vec![1]),
            ("x.sh", vec![]),
            ("x.SH", vec![1]),
            ("/tmp/x.so", vec![0, 1]),
        ] {
            assert_eq!(hit(v), want, "{v}");
        }
    }

    /// Prefixes and suffixes of many lengths and edge bytes: a value hits exactly the rules
    /// whose affix it has, whether the lengths are picked by edge byte (up to 64 of them) or
    /// all scanned (more).
    #[test]
    fn affix_lookup_by_edge_agrees_with_a_scan() {
        let mut next = below(0x2545_f491_4f6c_dd1d);
        let alphabet = b"abc/-._x";
        let mut word = |n: u64| -> String {
            (0..n)
                .map(|_| alphabet[next(alphabet.len() as u64) as usize] as char)
                .collect()
        };
        for (count, longest) in [(40, 20), (120, 90)] {
            let prefixes: Vec<String> = (0..count).map(|i| word(1 + i % longest)).collect();
            let suffixes: Vec<String> = (0..count).map(|i| word(1 + (i * 7) % longest)).collect();
            let list = |items: &[String], pre: bool| {
                items
                    .iter()
                    .map(|a| {
                        if pre {
                            format!("{a}*")
                        } else {
                            format!("*{a}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            let mut d = Dispatch::default();
            d.add(
                0,
                0,
                kql(&format!("process.args:({})", list(&prefixes, true))).as_ref(),
            );
            d.add(
                1,
                0,
                kql(&format!("process.args:({})", list(&suffixes, false))).as_ref(),
            );
            d.finish();
            let f = &d.fields[0];
            let lengths = f.maps[0].prefixes.len();
            assert_eq!(f.maps[0].prefix_edge.is_some(), lengths <= 64, "{lengths}");
            let mut values: Vec<String> = (0..3000).map(|i| word(i % 30)).collect();
            for (i, a) in prefixes.iter().chain(&suffixes).enumerate() {
                values.push(if i % 2 == 0 {
                    format!("{a}{}", word(3))
                } else {
                    format!("{}{a}", word(3))
                });
            }
            let (mut found, mut missed) = (0, 0);
            for v in &values {
                let got = rules_hit(f, v);
                let mut want = vec![];
                if prefixes.iter().any(|p| v.starts_with(p.as_str())) {
                    want.push(0);
                }
                if suffixes.iter().any(|p| v.ends_with(p.as_str())) {
                    want.push(1);
                }
                assert_eq!(got, want, "{v:?} ({count} affixes)");
                if want.is_empty() {
                    missed += 1;
                } else {
                    found += 1;
                }
            }
            assert!(found > 500 && missed > 200, "{found} found, {missed} not");
        }
    }

    /// A needle of two bytes is looked for in long values too (its pair is checked first,
    /// there as in short ones).
    #[test]
    fn short_needles_are_found_in_long_values() {
        let mut d = Dispatch::default();
        d.add(
            0,
            0,
            kql("process.command_line:(*-S* or *containerd.sock*)").as_ref(),
        );
        d.finish();
        let f = &d.fields[0];
        assert!(f.maps[0].short_needle);
        let hit = |v: &str| !rules_hit(f, v).is_empty();
        let long = "curl --header-1=value ".repeat(20);
        assert!(!hit(&long));
        assert!(hit(&format!("{long}-S")));
        assert!(hit(&format!("-S{long}")));
        assert!(hit(&format!("{long}/run/containerd.sock")));
        assert!(!hit(&format!("{long}-s")));
    }
}
