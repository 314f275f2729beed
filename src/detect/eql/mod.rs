//! EQL as Elasticsearch implements it.
//!
//! PUBLIC API CONTRACT (the engine builds on it; keep the signatures):
//! - `parse(src) -> Result<Query, QueryError>`; `Query::kind()`; `QueryError { line, col, message }`
//!   with line/col 1-based within the query text.
//! - `Runtime::new(Arc<Query>, Limits)`; `Runtime::on_event(&mut self, &Arc<Event>, &mut Vec<Vec<Arc<Event>>>)`
//!   pushes each completed match (one event for a plain query, all events in order for a
//!   sequence or sample).
//! - `Filter` is a compiled boolean expression usable on its own (KQL compiles to it too):
//!   `Filter::matches(&Event) -> bool`, `Filter::compile(&Expr)`.
//!
//! Speed: field paths are interned to slots at compile time. The engine should build one
//! [`IndexedEvent`] per event with a [`FieldIndex`] and pass it to every rule through
//! [`Filter::matches_indexed`] / [`Runtime::on_indexed`]; [`Query::categories`] tells which
//! `event.category` values a rule can match at all, and a [`RuleIndex`] over all rules gives,
//! per event, the few rules that can match at all (the others need not be called).
//!
//! Semantics follow the ES EQL reference: multi-valued fields match when any value does;
//! `!=`, `not` and `not in` are complements (a missing field satisfies them); `== null` means
//! absent; `==`, `in`, `like`, `regex` are case-sensitive, `:`, `in~`, `like~`, `regex~` are not;
//! wildcards are `*` and `?`, anchored; regexes are anchored.

mod compile;
mod fields;
mod funcs;
mod lexer;
mod parser;
mod prefilter;
mod sample;
mod sequence;

pub(crate) use compile::with_folded;
pub use fields::{slot_of, FieldIndex, IndexedEvent, Slot, StrBuild, StrMap, Text};
#[cfg(test)]
pub(crate) use funcs::build_regex;
pub use funcs::{parse_number, to_string};
pub use parser::Pipe;
pub use prefilter::RuleIndex;

use crate::detect::expr::Expr;
use crate::event::{Event, Value};
use compile::{Program, Val};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for QueryError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    Event,
    Sequence,
    Sample,
}

/// A compiled boolean condition over one event.
#[derive(Debug, Clone)]
pub struct Filter {
    prog: Program,
}

impl Filter {
    /// Compiles an expression tree (from the EQL or the KQL parser). Errors (unknown function,
    /// bad regex or CIDR) carry line 1, col 1: the tree has no positions; the EQL parser
    /// reports the same errors with their real position first.
    pub fn compile(expr: &Expr) -> Result<Filter, QueryError> {
        compile::compile(expr)
            .map(|root| Filter {
                prog: Program::new(root),
            })
            .map_err(|message| QueryError {
                line: 1,
                col: 1,
                message,
            })
    }

    /// Parses and compiles a bare EQL condition such as `process.name : "bash" and user.id == "0"`.
    pub fn parse(src: &str) -> Result<Filter, QueryError> {
        let e = parser::parse_expr(src)?;
        Filter::compile(&e)
    }

    /// Matches one event. Builds a throw-away index; prefer [`Filter::matches_indexed`] when
    /// many filters look at the same event.
    pub fn matches(&self, ev: &Event) -> bool {
        with_index(ev, |ix| self.matches_indexed(ix))
    }

    pub fn matches_indexed(&self, ix: &IndexedEvent) -> bool {
        self.prog.eval(ix)
    }
}

/// Runs `f` on an index of `ev` built in a thread-local buffer (no allocation once warm).
fn with_index<R>(ev: &Event, f: impl FnOnce(&IndexedEvent) -> R) -> R {
    thread_local! {
        static INDEX: std::cell::RefCell<FieldIndex> = std::cell::RefCell::new(FieldIndex::new());
    }
    INDEX.with(|cell| match cell.try_borrow_mut() {
        Ok(mut index) => f(&index.index(ev)),
        Err(_) => f(&FieldIndex::new().index(ev)),
    })
}

/// An event as a rule keeps it in sequence or sample state: shared, and for a view (Elastic
/// Defend's) the event and the view's changes, so keeping it copies nothing. The full
/// document is built only for an alert.
#[derive(Clone, Debug)]
pub struct Held {
    /// The event's timestamp, kept beside it: expiry reads it for every held event, and the
    /// event itself is then long out of the cache.
    timestamp_ms: i64,
    base: Arc<Event>,
    view: Option<Arc<Event>>,
    /// What keeping it costs (`Event::heap_bytes` of the event and the view's changes), for
    /// the engine's budget of held events; set by [`EventRef::held`].
    bytes: u32,
}

impl Held {
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    pub fn bytes(&self) -> usize {
        self.bytes as usize
    }

    /// The same event seen the same way.
    pub fn same(&self, other: &Held) -> bool {
        Arc::ptr_eq(&self.base, &other.base)
            && match (&self.view, &other.view) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }

    /// A field of the document, read without building it (a view's `Null` removes the field).
    pub fn field(&self, path: &str) -> Option<&Value> {
        match self.view.as_ref().and_then(|v| v.get(path)) {
            Some(Value::Null) => None,
            Some(v) => Some(v),
            None => self.base.get(path),
        }
    }

    /// The document: the event itself, or the event with the view's changes applied.
    pub fn materialize(&self) -> Arc<Event> {
        match &self.view {
            None => Arc::clone(&self.base),
            Some(v) => Arc::new(self.base.overlaid(v)),
        }
    }
}

/// The event a stage is tried on, with the stages the dispatcher found it may match.
pub struct EventRef<'a> {
    ordinal: (i64, u64),
    /// The stages (a `dispatch::stage_bit` mask, `until` the top bit) that may match this
    /// event, as the engine's dispatcher found; the others are not evaluated.
    stages: std::cell::Cell<u64>,
    held: Held,
    /// `Event::heap_bytes` of the event, worked out when a rule first keeps it (0: not
    /// yet); shared by the views of one event (a view borrows its event's).
    base_bytes: BaseBytes<'a>,
}

/// An event's own count, or the one of the event a view is of.
enum BaseBytes<'a> {
    Own(std::cell::Cell<u32>),
    Of(&'a std::cell::Cell<u32>),
}

impl BaseBytes<'_> {
    fn cell(&self) -> &std::cell::Cell<u32> {
        match self {
            BaseBytes::Own(c) => c,
            BaseBytes::Of(c) => c,
        }
    }
}

impl EventRef<'_> {
    pub fn ready(ev: &Arc<Event>) -> EventRef<'static> {
        EventRef {
            ordinal: (ev.timestamp_ms, ev.arrival),
            stages: std::cell::Cell::new(u64::MAX),
            held: Held {
                timestamp_ms: ev.timestamp_ms,
                base: Arc::clone(ev),
                view: None,
                bytes: 0,
            },
            base_bytes: BaseBytes::Own(std::cell::Cell::new(0)),
        }
    }

    /// This event as changed by `view` (see [`Event::overlaid`]).
    pub fn view(&self, view: &Arc<Event>) -> EventRef<'_> {
        EventRef {
            ordinal: self.ordinal,
            stages: std::cell::Cell::new(u64::MAX),
            held: Held {
                timestamp_ms: self.held.timestamp_ms,
                base: Arc::clone(&self.held.base),
                view: Some(Arc::clone(view)),
                bytes: 0,
            },
            base_bytes: BaseBytes::Of(self.base_bytes.cell()),
        }
    }

    /// Limits the stages tried on this event (a superset of those that can match it).
    pub fn set_stages(&self, mask: u64) {
        self.stages.set(mask);
    }

    /// Whether stage `i` (`None`: `until`) may match this event.
    pub(crate) fn may_match(&self, stage: Option<usize>) -> bool {
        let bit = stage.map_or(1 << 63, |i| 1u64 << i.min(62));
        self.stages.get() & bit != 0
    }

    /// (timestamp, arrival): the order stages are matched in.
    pub fn ordinal(&self) -> (i64, u64) {
        self.ordinal
    }

    /// The event to keep in state, with what keeping it costs.
    pub fn held(&self) -> Held {
        let base_bytes = self.base_bytes.cell();
        if base_bytes.get() == 0 {
            let n = self.held.base.heap_bytes();
            base_bytes.set(u32::try_from(n).unwrap_or(u32::MAX).max(1));
        }
        // A view's overlay is small, and most are shared by all events of their kind.
        let view = self.held.view.as_ref().map_or(0, |v| {
            v.fields.capacity() * std::mem::size_of::<(crate::event::Key, Value)>()
        });
        Held {
            bytes: base_bytes.get().saturating_add(view as u32),
            ..self.held.clone()
        }
    }

    /// A field of the full document, without building it.
    pub fn field(&self, path: &str) -> Option<&Value> {
        self.held.field(path)
    }

    /// The full document, for an alert.
    pub fn get(&self) -> Arc<Event> {
        self.held.materialize()
    }
}

/// A join key (`by` expression) of a sequence or sample stage.
#[derive(Debug, Clone)]
pub(crate) struct JoinKey {
    val: Val,
    /// `?field`: a missing value is a valid key (`null`) instead of excluding the event.
    optional: bool,
}

/// One stage: `[category where condition] by keys`.
#[derive(Debug, Clone)]
pub struct Stage {
    /// `event.category` value this stage selects; `None` for `any`.
    pub category: Option<String>,
    /// The condition, category check included.
    pub filter: Filter,
    /// The same condition as an expression tree (for the engine's dispatch keys).
    pub expr: Expr,
    /// A missing-event stage `![...]` of a sequence.
    pub missing: bool,
    keys: Vec<JoinKey>,
    /// Index of the query term this stage comes from (`runs=N` repeats one term).
    term: usize,
}

#[derive(Debug)]
pub struct Query {
    kind: QueryKind,
    stages: Vec<Stage>,
    until: Option<Stage>,
    maxspan_ms: Option<i64>,
    pipes: Vec<Pipe>,
}

impl Query {
    pub fn kind(&self) -> QueryKind {
        self.kind
    }

    /// The stages in order (one for an event query; `runs=N` terms are expanded).
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The filters of all stages, in order.
    pub fn filters(&self) -> impl Iterator<Item = &Filter> {
        self.stages.iter().map(|s| &s.filter)
    }

    /// The `until` stage of a sequence.
    pub fn until(&self) -> Option<&Stage> {
        self.until.as_ref()
    }

    /// `event.category` values some stage (or `until`) selects; `None` when a stage uses
    /// `any`, i.e. the rule must see every event.
    pub fn categories(&self) -> Option<Vec<&str>> {
        let mut out: Vec<&str> = vec![];
        for s in self.stages.iter().chain(&self.until) {
            let c = s.category.as_deref()?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Some(out)
    }

    pub fn maxspan_ms(&self) -> Option<i64> {
        self.maxspan_ms
    }

    pub fn pipes(&self) -> &[Pipe] {
        &self.pipes
    }
}

pub fn parse(src: &str) -> Result<Query, QueryError> {
    let p = parser::parse(src)?;
    let err = |message: String| QueryError {
        line: 1,
        col: 1,
        message,
    };
    let shared: Vec<JoinKey> = p
        .shared_by
        .iter()
        .map(join_key)
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let build = |t: &parser::Term| -> Result<Stage, QueryError> {
        let cond = match &t.category {
            Some(c) => Expr::And(vec![
                Expr::In {
                    expr: Box::new(Expr::field("event.category")),
                    list: vec![Expr::string(c)],
                    insensitive: false,
                    negated: false,
                },
                t.expr.clone(),
            ]),
            None => t.expr.clone(),
        };
        let mut keys = shared.clone();
        for k in &t.by {
            keys.push(join_key(k).map_err(err)?);
        }
        Ok(Stage {
            category: t.category.clone(),
            filter: Filter::compile(&cond)?,
            expr: cond,
            missing: t.missing,
            keys,
            term: 0,
        })
    };
    let mut stages = vec![];
    for (i, t) in p.terms.iter().enumerate() {
        let s = Stage {
            term: i,
            ..build(t)?
        };
        for _ in 0..t.runs {
            stages.push(s.clone());
        }
    }
    let until = p.until.as_ref().map(build).transpose()?.map(|u| Stage {
        term: usize::MAX,
        ..u
    });
    Ok(Query {
        kind: p.kind,
        stages,
        until,
        maxspan_ms: p.maxspan_ms,
        pipes: p.pipes,
    })
}

fn join_key(e: &Expr) -> Result<JoinKey, String> {
    let optional = matches!(e, Expr::Field { optional: true, .. });
    Ok(JoinKey {
        val: compile::val(e)?,
        optional,
    })
}

/// A hashable join-key value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum KeyVal {
    Null,
    Bool(bool),
    Int(i64),
    /// Floats by bit pattern (`-0.0` and `0.0` normalised).
    Float(u64),
    Str(Box<str>),
}

impl KeyVal {
    fn from_value(v: &Value) -> KeyVal {
        match v {
            Value::Null | Value::List(_) => KeyVal::Null,
            Value::Bool(b) => KeyVal::Bool(*b),
            Value::Int(i) => KeyVal::Int(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => KeyVal::Int(*f as i64),
            Value::Float(f) => KeyVal::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Str(s) => KeyVal::Str(s.as_str().into()),
        }
    }
}

/// All key tuples an event joins on: the cartesian product of each key's values (a multi-valued
/// key joins on each value). Empty when a non-optional key is null. Bounded to `MAX_TUPLES`.
pub(crate) fn key_tuples(keys: &[JoinKey], ix: &IndexedEvent) -> Vec<Vec<KeyVal>> {
    const MAX_TUPLES: usize = 64;
    let mut tuples: Vec<Vec<KeyVal>> = vec![Vec::with_capacity(keys.len())];
    for k in keys {
        let mut vals: Vec<KeyVal> = k
            .val
            .values(ix)
            .iter()
            .map(|v| KeyVal::from_value(v))
            .collect();
        if vals.len() > 1 {
            vals.sort();
            vals.dedup();
        }
        if vals.is_empty() {
            if !k.optional {
                return vec![];
            }
            vals.push(KeyVal::Null);
        }
        if let ([t], [v]) = (tuples.as_mut_slice(), vals.as_slice()) {
            // One value: extend the single tuple in place (the common case).
            t.push(v.clone());
            continue;
        }
        let mut next = Vec::with_capacity(tuples.len() * vals.len());
        for t in &tuples {
            for v in &vals {
                if next.len() == MAX_TUPLES {
                    break;
                }
                let mut t2 = t.clone();
                t2.push(v.clone());
                next.push(t2);
            }
        }
        tuples = next;
    }
    tuples
}

/// A join-key tuple as the streaming matchers keep it: its values encoded one after the other
/// into one byte string (a tag byte, then 8 bytes for a number or a length and the bytes for a
/// string). A tuple is one allocation, shared by the maps and queues that name it, hashes in
/// one pass and compares with one `memcmp`; the encoding is unambiguous, so equal bytes mean
/// equal tuples.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Tuple(Arc<[u8]>);

const T_NULL: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_FLOAT: u8 = 4;
const T_STR: u8 = 5;

impl Tuple {
    /// The values joined on, for the alert.
    pub(crate) fn values(&self) -> Vec<Value> {
        decode_tuple(&self.0)
    }
}

/// The values of an encoded tuple ([`Tuple`]).
pub(crate) fn decode_tuple(mut b: &[u8]) -> Vec<Value> {
    let mut out = vec![];
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    while let Some((&tag, rest)) = b.split_first() {
        let (v, used) = match tag {
            T_FALSE => (Value::Bool(false), 0),
            T_TRUE => (Value::Bool(true), 0),
            T_INT if rest.len() >= 8 => (Value::Int(word(rest) as i64), 8),
            T_FLOAT if rest.len() >= 8 => (Value::Float(f64::from_bits(word(rest))), 8),
            T_STR if rest.len() >= 4 => {
                let n = u32::from_le_bytes(rest[..4].try_into().unwrap_or_default()) as usize;
                let text = rest.get(4..4 + n).unwrap_or_default();
                (Value::Str(String::from_utf8_lossy(text).into()), 4 + n)
            }
            _ => (Value::Null, 0),
        };
        out.push(v);
        b = rest.get(used..).unwrap_or_default();
    }
    out
}

/// Appends one key value's encoding (numbers as `KeyVal` normalises them; a string without
/// being copied into a `KeyVal` first).
fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => encode_str(s, out),
        other => encode_key(&KeyVal::from_value(other), out),
    }
}

fn encode_key(k: &KeyVal, out: &mut Vec<u8>) {
    match k {
        KeyVal::Null => out.push(T_NULL),
        KeyVal::Bool(b) => out.push(if *b { T_TRUE } else { T_FALSE }),
        KeyVal::Int(i) => {
            out.push(T_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        KeyVal::Float(bits) => {
            out.push(T_FLOAT);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        KeyVal::Str(s) => encode_str(s, out),
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.push(T_STR);
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// [`key_tuples`] for the streaming matchers, as encoded [`Tuple`]s in the same order. A key
/// that is a plain field with one value (the common case) is encoded straight from the event,
/// with no intermediate values.
/// Looked up by its encoding, so a probe needs no `Tuple` (the derived hash is the bytes').
impl std::borrow::Borrow<[u8]> for Tuple {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// What [`encode_single`] made of an event's join key.
pub(crate) enum Single {
    /// The one tuple, encoded into the buffer.
    One,
    /// A key field is missing: no tuple.
    Missing,
    /// Several values or an expression: [`tuples`] has the answer.
    General,
}

pub(crate) fn tuples(keys: &[JoinKey], ix: &IndexedEvent) -> Vec<Tuple> {
    let mut one = Vec::with_capacity(16 * keys.len());
    match encode_single(keys, ix, &mut one) {
        Single::One => vec![Tuple(one.into())],
        Single::Missing => vec![],
        Single::General => general_tuples(keys, ix),
    }
}

/// The tuples when [`encode_single`] said `General`: every combination of the key values.
pub(crate) fn general_tuples(keys: &[JoinKey], ix: &IndexedEvent) -> Vec<Tuple> {
    key_tuples(keys, ix).iter().map(|t| encode_all(t)).collect()
}

/// The event's join tuple encoded into `one` (cleared first) when the key has one
/// single-valued field per part, as most do.
pub(crate) fn encode_single(keys: &[JoinKey], ix: &IndexedEvent, one: &mut Vec<u8>) -> Single {
    one.clear();
    for k in keys {
        let single = match &k.val {
            compile::Val::Field(s) | compile::Val::OptionalField(s) => match ix.get(*s) {
                None | Some(Value::Null) => Some(None),
                Some(Value::List(l)) => {
                    let mut vals = l.iter().filter(|v| !matches!(v, Value::Null));
                    match (vals.next(), vals.next()) {
                        (None, _) => Some(None),
                        (Some(v), None) => Some(Some(v)),
                        _ => None,
                    }
                }
                Some(v) => Some(Some(v)),
            },
            _ => None,
        };
        match single {
            Some(Some(v)) => encode(v, one),
            Some(None) if k.optional => one.push(T_NULL),
            Some(None) => return Single::Missing,
            None => return Single::General,
        }
    }
    Single::One
}

fn encode_all(t: &[KeyVal]) -> Tuple {
    let mut out = vec![];
    for k in t {
        encode_key(k, &mut out);
    }
    Tuple(out.into())
}

/// Bounds on sequence/sample state per rule.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Partial sequences / sample buckets kept per rule before the oldest are dropped.
    pub max_states: usize,
    /// Look-back window for samples (ms); sequences use their maxspan when set.
    pub window_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_states: 100_000,
            window_ms: 5 * 60 * 1000,
        }
    }
}

/// A completed match with the join-key values it was joined on (empty for event queries).
#[derive(Clone, Debug)]
pub struct Match {
    /// One event for an event query; all events in stage order for a sequence or sample
    /// (a missing-event stage holds a placeholder, see [`is_missing_placeholder`]).
    pub events: Vec<Arc<Event>>,
    pub join_keys: Vec<Value>,
}

/// Path of the only field of a missing-event placeholder.
pub const MISSING_EVENT_FIELD: &str = "eql.missing";

/// True for the placeholder a sequence puts where a missing-event stage `![...]` stands.
pub fn is_missing_placeholder(ev: &Event) -> bool {
    matches!(ev.get(MISSING_EVENT_FIELD), Some(Value::Bool(true)))
}

fn missing_placeholder() -> Arc<Event> {
    thread_local! {
        static P: Arc<Event> = Arc::new(Event {
            timestamp_ms: 0,
            arrival: 0,
            fields: vec![(MISSING_EVENT_FIELD.into(), Value::Bool(true))],
        });
    }
    P.with(Arc::clone)
}

impl KeyVal {
    fn to_value(&self) -> Value {
        match self {
            KeyVal::Null => Value::Null,
            KeyVal::Bool(b) => Value::Bool(*b),
            KeyVal::Int(i) => Value::Int(*i),
            KeyVal::Float(bits) => Value::Float(f64::from_bits(*bits)),
            KeyVal::Str(s) => Value::Str((&**s).into()),
        }
    }
}

enum Engine {
    /// A copy of the query's filter, kept inline: one pointer hop less per event.
    Event(Filter),
    Sequence(Box<sequence::Matcher>),
    Sample(sample::Matcher),
}

/// Streaming evaluation of one query. Events must come in arrival order. `| head N` caps the
/// matches a runtime ever emits; `| tail N` needs the whole result set and applies only in
/// [`search`].
pub struct Runtime {
    query: Arc<Query>,
    engine: Engine,
    emitted: usize,
    head: Option<usize>,
    scratch: Vec<Match>,
}

impl Runtime {
    pub fn new(query: Arc<Query>, limits: Limits) -> Runtime {
        let engine = match query.kind {
            QueryKind::Event => Engine::Event(query.stages[0].filter.clone()),
            QueryKind::Sequence => {
                Engine::Sequence(Box::new(sequence::Matcher::new(&query, limits)))
            }
            QueryKind::Sample => Engine::Sample(sample::Matcher::new(&query, limits)),
        };
        let head = query.pipes.iter().find_map(|p| match p {
            Pipe::Head(n) => Some(*n),
            Pipe::Tail(_) => None,
        });
        Runtime {
            query,
            engine,
            emitted: 0,
            head,
            scratch: vec![],
        }
    }

    pub fn query(&self) -> &Arc<Query> {
        &self.query
    }

    pub fn on_event(&mut self, ev: &Arc<Event>, out: &mut Vec<Vec<Arc<Event>>>) {
        with_index(ev, |ix| self.on_indexed(ix, &EventRef::ready(ev), out))
    }

    /// Like [`Runtime::on_event`] with an index the caller built once for all rules
    /// (`ix` must index `ev`).
    pub fn on_indexed(&mut self, ix: &IndexedEvent, ev: &EventRef, out: &mut Vec<Vec<Arc<Event>>>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        self.on_indexed_matches(ix, ev, &mut scratch);
        // Most events match nothing: no drain to set up and drop then.
        if !scratch.is_empty() {
            out.extend(scratch.drain(..).map(|m| m.events));
        }
        self.scratch = scratch;
    }

    /// Whether an event the dispatcher found may match only the stages in `mask` (a
    /// `dispatch::stage_bit` mask) would change nothing: a sequence with no partial waiting
    /// and no stage to start in `mask`. The caller may then skip [`Runtime::on_indexed`].
    pub fn idle_for(&mut self, mask: u64) -> bool {
        match &mut self.engine {
            Engine::Sequence(m) => m.idle_for(mask),
            Engine::Event(_) | Engine::Sample(_) => false,
        }
    }

    /// For an event query: whether the event matches (counted against `| head` as a match
    /// is), without building its document, which the caller builds only for an alert it
    /// raises. `None` for sequences and samples.
    pub fn event_matches(&mut self, ix: &IndexedEvent, ev: &EventRef) -> Option<bool> {
        let Engine::Event(filter) = &self.engine else {
            return None;
        };
        if self.head.is_some_and(|h| self.emitted >= h) {
            return Some(false);
        }
        let matched = ev.may_match(Some(0)) && filter.matches_indexed(ix);
        self.emitted += matched as usize;
        Some(matched)
    }

    /// Like [`Runtime::on_indexed`], keeping the join keys of each match.
    pub fn on_indexed_matches(&mut self, ix: &IndexedEvent, ev: &EventRef, out: &mut Vec<Match>) {
        if self.head.is_some_and(|h| self.emitted >= h) {
            return;
        }
        let before = out.len();
        match &mut self.engine {
            Engine::Event(filter) => {
                if ev.may_match(Some(0)) && filter.matches_indexed(ix) {
                    out.push(Match {
                        events: vec![ev.get()],
                        join_keys: vec![],
                    });
                }
            }
            Engine::Sequence(m) => m.on_event(&self.query, ix, ev, out),
            Engine::Sample(m) => m.on_event(&self.query, ix, ev, out),
        }
        self.cap(before, out);
    }

    fn cap(&mut self, before: usize, out: &mut Vec<Match>) {
        if let Some(h) = self.head {
            out.truncate(before + (h - self.emitted).min(out.len() - before));
        }
        self.emitted += out.len() - before;
    }

    /// Lets time pass without an event: emits sequences whose trailing missing-event window
    /// (`![...]` last) closed before `now_ms`. Call on idle ticks with the stream's clock.
    pub fn on_time(&mut self, now_ms: i64, out: &mut Vec<Match>) {
        if self.head.is_some_and(|h| self.emitted >= h) {
            return;
        }
        let before = out.len();
        if let Engine::Sequence(m) = &mut self.engine {
            m.flush_expired(&self.query, now_ms, out);
        }
        self.cap(before, out);
    }

    /// Partial matches dropped because a bound bit (`Limits`, or the engine's memory budget
    /// through [`Runtime::shed`]).
    pub fn dropped(&self) -> u64 {
        match &self.engine {
            Engine::Event(_) => 0,
            Engine::Sequence(m) => m.dropped(),
            Engine::Sample(m) => m.dropped(),
        }
    }

    /// Bytes of the events this runtime's state holds (`Held::bytes`).
    pub fn held_bytes(&self) -> usize {
        match &self.engine {
            Engine::Event(_) => 0,
            Engine::Sequence(m) => m.held_bytes(),
            Engine::Sample(m) => m.held_bytes(),
        }
    }

    #[cfg(test)]
    fn recount_held(&self) -> usize {
        match &self.engine {
            Engine::Event(_) => 0,
            Engine::Sequence(m) => m.recount(),
            Engine::Sample(m) => m.recount(),
        }
    }

    /// Drops the oldest partial matches until the events held take at most `target` bytes;
    /// returns how many were dropped (they count in [`Runtime::dropped`]).
    pub fn shed(&mut self, target: usize) -> u64 {
        match &mut self.engine {
            Engine::Event(_) => 0,
            Engine::Sequence(m) => m.shed(target),
            Engine::Sample(m) => m.shed(target),
        }
    }
}

/// Options of a batch [`search_with`], as in the ES request.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Maximum number of results (ES `size`, default 10 there; the spec runner uses 50).
    pub size: usize,
    /// Samples per join-key tuple (ES `max_samples_per_key`).
    pub max_samples_per_key: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            size: 10,
            max_samples_per_key: 1,
        }
    }
}

/// Runs `query` over a finished batch of events in time order, as an ES search does: results
/// ordered as ES orders them, `head`/`tail` pipes applied, then `size`.
pub fn search(query: &Arc<Query>, events: &[Arc<Event>], limits: Limits) -> Vec<Vec<Arc<Event>>> {
    search_with(
        query,
        events,
        limits,
        SearchOptions {
            size: usize::MAX,
            ..Default::default()
        },
    )
    .into_iter()
    .map(|m| m.events)
    .collect()
}

pub fn search_with(
    query: &Arc<Query>,
    events: &[Arc<Event>],
    limits: Limits,
    opts: SearchOptions,
) -> Vec<Match> {
    let mut out = if query.kind == QueryKind::Sample {
        sample::search(query, events, opts.max_samples_per_key)
    } else {
        let mut rt = Runtime::new(query.clone(), limits);
        rt.head = None;
        let mut out = vec![];
        let mut index = FieldIndex::new();
        for ev in events {
            let ix = index.index(ev);
            rt.on_indexed_matches(&ix, &EventRef::ready(ev), &mut out);
        }
        rt.on_time(i64::MAX, &mut out);
        if query.kind == QueryKind::Sequence {
            sequence::sort_results(&mut out);
        }
        out
    };
    let mut limited = false;
    for p in &query.pipes {
        match *p {
            Pipe::Head(n) => out.truncate(n),
            Pipe::Tail(n) => {
                let skip = out.len().saturating_sub(n);
                out.drain(..skip);
            }
        }
        limited = true;
    }
    let _ = limited;
    out.truncate(opts.size);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random numbers for generated event streams (xorshift64).
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Sequences with `until`, a missing stage in the middle and one at the end.
    const SEQUENCE_SHAPES: [&str; 3] = [
        "sequence by k with maxspan=50ms [any where t == 1] [any where t == 2] [any where t == 3] until [any where t == 9]",
        "sequence by k with maxspan=40ms [any where t == 1] ![any where t == 4] [any where t == 2]",
        "sequence by k with maxspan=30ms [any where t == 1] [any where t == 2] ![any where t == 5]",
    ];

    /// Bounds small enough for a few thousand events to hit them.
    const SMALL_LIMITS: Limits = Limits {
        max_states: 4,
        window_ms: 60,
    };

    /// The running count of held bytes equals the sum over the state after every event of a
    /// random stream (partials replaced, completed, expired, killed by `until` and missing
    /// stages, bounded; sample candidates rotated, cleared on alerts, expired), and `shed`
    /// brings it under its target.
    #[test]
    fn held_bytes_follow_the_state() {
        let queries = SEQUENCE_SHAPES.into_iter().chain([
            "sequence by k [any where t == 1] with runs=2 [any where t == 3]",
            "sample by k [any where t == 1] [any where t == 2] [any where t == 3]",
        ]);
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for q in queries {
            let query = Arc::new(parse(q).unwrap());
            let limits = SMALL_LIMITS;
            let mut rt = Runtime::new(query, limits);
            let mut out = vec![];
            let mut peak = 0;
            for i in 0..3000i64 {
                let mut ev = Event::new(i);
                ev.arrival = i as u64;
                ev.push("t", (next() % 10) as i64);
                ev.push("k", format!("key-{}", next() % 8));
                // Events of different sizes, so a wrong subtraction shows.
                if next() % 3 == 0 {
                    ev.push("pad", "x".repeat((next() % 200) as usize));
                }
                rt.on_event(&Arc::new(ev), &mut out);
                if i % 97 == 0 {
                    rt.on_time(i, &mut vec![]);
                }
                assert_eq!(rt.held_bytes(), rt.recount_held(), "{q} after event {i}");
                peak = peak.max(rt.held_bytes());
            }
            assert!(peak > 0, "{q}: nothing was ever held");
            assert!(!out.is_empty(), "{q}: no match");
            let dropped = rt.dropped();
            assert!(dropped > 0, "{q}: the state bound never bit");
            let target = rt.held_bytes() / 2;
            let shed = rt.shed(target);
            assert!(
                rt.held_bytes() <= target,
                "{q}: shed left {}",
                rt.held_bytes()
            );
            assert_eq!(rt.held_bytes(), rt.recount_held(), "{q} after shed");
            assert_eq!(rt.dropped(), dropped + shed);
            rt.shed(0);
            assert_eq!((rt.held_bytes(), rt.recount_held()), (0, 0), "{q}");
        }
    }

    /// Skipping the events `idle_for` calls idle changes nothing: a runtime fed only the
    /// events whose stage mask (the stages they match, as the dispatcher's superset) finds
    /// work gives the same matches and holds the same bytes as one fed every event.
    #[test]
    fn idle_events_change_nothing() {
        let queries = SEQUENCE_SHAPES.into_iter().chain([
            "sequence by k with maxspan=30ms ![any where t == 6] [any where t == 1] [any where t == 2]",
            "sequence by k with maxspan=20ms [any where t == 1] with runs=2 [any where t == 3]",
        ]);
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for q in queries {
            let query = Arc::new(parse(q).unwrap());
            let limits = SMALL_LIMITS;
            let (mut all, mut some) = (
                Runtime::new(Arc::clone(&query), limits),
                Runtime::new(Arc::clone(&query), limits),
            );
            let (mut out_all, mut out_some) = (vec![], vec![]);
            let mut skipped = 0;
            for i in 0..3000i64 {
                let mut ev = Event::new(i);
                ev.arrival = i as u64;
                // Mostly events of later stages, which find nothing waiting.
                ev.push(
                    "t",
                    [1, 2, 2, 3, 3, 4, 5, 6, 9, 0][(next() % 10) as usize] as i64,
                );
                ev.push("k", format!("key-{}", next() % 8));
                let ev = Arc::new(ev);
                let mut fi = FieldIndex::new();
                let ix = fi.index(&ev);
                let mut mask = query
                    .stages
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.filter.matches_indexed(&ix))
                    .fold(0, |m, (i, _)| m | crate::detect::dispatch::stage_bit(i));
                if query
                    .until
                    .as_ref()
                    .is_some_and(|u| u.filter.matches_indexed(&ix))
                {
                    mask |= crate::detect::dispatch::UNTIL;
                }
                all.on_indexed(&ix, &EventRef::ready(&ev), &mut out_all);
                if some.idle_for(mask) {
                    skipped += 1;
                } else {
                    let e = EventRef::ready(&ev);
                    e.set_stages(mask);
                    some.on_indexed(&ix, &e, &mut out_some);
                }
                assert_eq!(some.held_bytes(), all.held_bytes(), "{q} after event {i}");
                assert_eq!(out_some, out_all, "{q} after event {i}");
            }
            assert!(!out_all.is_empty(), "{q}: no match");
            assert!(skipped > 100, "{q}: only {skipped} events skipped");
        }
    }

    /// A runtime for `q` with room for 100 states within a second.
    fn keyed_runtime(q: &str) -> Runtime {
        let limits = Limits {
            max_states: 100,
            window_ms: 1000,
        };
        Runtime::new(Arc::new(parse(q).unwrap()), limits)
    }

    /// Event `i` (its time and arrival) with `t` and, when given, the key `k`.
    fn keyed_event(i: i64, t: i64, k: Option<Value>) -> Event {
        let mut ev = Event::new(i);
        ev.arrival = i as u64;
        ev.push("t", t);
        if let Some(k) = k {
            ev.push("k", k);
        }
        ev
    }

    fn str_list(v: &[&str]) -> Value {
        Value::List(v.iter().map(|s| Value::from(*s)).collect())
    }

    /// A later stage looks for a partial of its key before its filter: with one key value,
    /// several (a list field: any shared value joins) or none.
    #[test]
    fn later_stages_join_on_every_key_value() {
        let mut rt = keyed_runtime(
            "sequence by k with maxspan=1s [any where t == 1] [any where t == 2] [any where t == 3]",
        );
        let mut out = vec![];
        let mut feed = |i, t, k| {
            rt.on_event(&Arc::new(keyed_event(i, t, k)), &mut out);
            out.len()
        };
        feed(1, 1, Some(str_list(&["a", "b"])));
        // No key, another key, the wrong stage: nothing advances.
        feed(2, 2, None);
        feed(3, 2, Some("z".into()));
        assert_eq!(feed(4, 3, Some("b".into())), 0);
        feed(5, 2, Some(str_list(&["c", "b"])));
        assert_eq!(feed(6, 3, Some("b".into())), 1);
        let times: Vec<i64> = out[0].iter().map(|e| e.timestamp_ms).collect();
        assert_eq!(times, vec![1, 5, 6]);
    }

    /// A sample joins on every value of its key (a list field puts the event under each)
    /// and reports the values it joined on, for string and numeric keys alike.
    #[test]
    fn samples_join_on_every_key_value_and_report_it() {
        let mut rt = keyed_runtime(
            "sample by k, n [any where t == 1] [any where t == 2] [any where t == 3]",
        );
        let mut out = vec![];
        let mut feed = |i, t, k| {
            let mut ev = keyed_event(i, t, k);
            ev.push("n", 7i64);
            let ev = Arc::new(ev);
            let mut index = FieldIndex::new();
            rt.on_indexed_matches(&index.index(&ev), &EventRef::ready(&ev), &mut out);
            out.len()
        };
        feed(1, 3, Some(str_list(&["a", "b"])));
        feed(2, 1, None);
        feed(3, 1, Some("z".into()));
        assert_eq!(
            feed(4, 2, Some("b".into())),
            0,
            "no key, another key: no sample"
        );
        assert_eq!(feed(5, 1, Some(str_list(&["c", "b"]))), 1);
        let times: Vec<i64> = out[0].events.iter().map(|e| e.timestamp_ms).collect();
        assert_eq!(times, vec![5, 4, 1], "in filter order");
        assert_eq!(out[0].join_keys, vec![Value::from("b"), Value::Int(7)]);
    }

    /// The encoded tuples are the general ones, in the same order, and decode to the values
    /// joined on: single values, lists, optional and missing keys, numbers and expressions.
    #[test]
    fn tuples_encode_the_general_key_tuples() {
        let q = parse(
            "sequence [any where true] by t.s, t.list, ?t.opt, t.n, t.f, string(t.n)
                      [any where true] by t.s, t.list, ?t.opt, t.n, t.f, string(t.n)",
        )
        .unwrap();
        let keys = &q.stages[0].keys;
        let mut ev = Event::new(1);
        ev.push("t.s", "a\u{0}b");
        ev.push(
            "t.list",
            Value::List(vec!["y".into(), Value::Null, "x".into()]),
        );
        ev.push("t.n", 7i64);
        ev.push("t.f", Value::Float(2.0));
        let general = |keys: &[JoinKey], ix: &IndexedEvent| -> Vec<Tuple> {
            key_tuples(keys, ix).iter().map(|t| encode_all(t)).collect()
        };
        let mut fi = FieldIndex::new();
        let ix = fi.index(&ev);
        let all = general(keys, &ix);
        assert_eq!(tuples(keys, &ix), all);
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].values(),
            vec![
                Value::from("a\u{0}b"),
                "x".into(),
                Value::Null,
                7i64.into(),
                2i64.into(),
                "7".into()
            ]
        );
        // One value per key: the fast path, same bytes.
        let mut ev2 = ev.clone();
        ev2.set("t.list", Value::List(vec![Value::Null, "x".into()]));
        let q2 = parse("sequence [any where true] by t.s, t.list, ?t.opt, t.n, t.f [any where true] by t.s, t.list, ?t.opt, t.n, t.f").unwrap();
        let keys2 = &q2.stages[0].keys;
        let ix2 = fi.index(&ev2);
        let one = general(keys2, &ix2);
        assert_eq!(tuples(keys2, &ix2), one);
        assert_eq!(one.len(), 1);
        // A missing required key: no tuple.
        let q3 = parse("sequence [any where true] by t.none [any where true] by t.none").unwrap();
        assert!(tuples(&q3.stages[0].keys, &ix2).is_empty());
        // Different values never encode alike.
        let mut a = vec![];
        encode(&"ab".into(), &mut a);
        encode(&"c".into(), &mut a);
        let mut b = vec![];
        encode(&"a".into(), &mut b);
        encode(&"bc".into(), &mut b);
        assert_ne!(a, b);
    }
}
