//! EQL as Elasticsearch implements it.
//!
//! PUBLIC API CONTRACT (the engine builds on it; keep the signatures):
//! - `parse(src) -> Result<Query, QueryError>`; `Query::kind()`; `QueryError { line, col, message }`
//!   with line/col 1-based within the query text.
//! - `Runtime::new(Arc<Query>, Limits)`; `Runtime::on_event(&mut self, &Arc<Event>, &mut Vec<Vec<Arc<Event>>>)`
//!   pushes each completed match (one event for a plain query, all events in order for a
//!   sequence or sample).
//! - `Filter` is a compiled boolean expression usable on its own (KQL compiles to it too):
//!   `Filter::matches(&Event) -> bool`.

use crate::event::Event;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    Event,
    Sequence,
    Sample,
}

#[derive(Debug)]
pub struct Query {}

#[derive(Debug, Clone)]
pub struct Filter {}

impl Filter {
    pub fn matches(&self, ev: &Event) -> bool {
        let _ = ev;
        todo!("eql")
    }
}

impl Query {
    pub fn kind(&self) -> QueryKind {
        todo!("eql")
    }
}

pub fn parse(src: &str) -> Result<Query, QueryError> {
    let _ = src;
    todo!("eql")
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
        Limits { max_states: 100_000, window_ms: 5 * 60 * 1000 }
    }
}

pub struct Runtime {}

impl Runtime {
    pub fn new(query: Arc<Query>, limits: Limits) -> Runtime {
        let _ = (query, limits);
        todo!("eql")
    }
    pub fn on_event(&mut self, ev: &Arc<Event>, out: &mut Vec<Vec<Arc<Event>>>) {
        let _ = (ev, out);
        todo!("eql")
    }
    /// Partial matches dropped because a bound bit.
    pub fn dropped(&self) -> u64 {
        0
    }
}
