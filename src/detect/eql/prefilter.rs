//! Rule index: skips rules that cannot match an event without evaluating them.
//!
//! Every filter (each stage of a sequence or sample, `until` and missing stages included) is
//! a *clause* whose necessary conditions are its top-level `and` operands of the form
//! `field == / in / : exact strings`. Per event the index looks each anchored field's values
//! up in one hash map per field, marks the conditions they satisfy, and returns the rules with
//! a clause whose conditions all hold; rules with a clause without such conditions are always
//! returned. With hundreds of rules this replaces most rule evaluations (each a walk over
//! memory the event has not touched) by a handful of hash lookups.

use super::compile::{with_folded, Anchor};
use super::fields::{each_value, slot_name, IndexedEvent, Slot, StrMap};
use super::{Filter, Query};

/// Fields with few distinct values. Nearly every rule tests them, so as conditions they would
/// cost many updates per event and filter little: a clause uses them only when it has
/// nothing better (the rule itself still checks them).
pub(super) const LOW_CARDINALITY: &[&str] = &[
    "event.category",
    "event.type",
    "event.action",
    "event.kind",
    "event.module",
    "event.dataset",
    "event.outcome",
    "host.os.type",
    "host.os.family",
    "host.os.name",
    "host.os.platform",
    "data_stream.dataset",
    "agent.type",
    "network.direction",
    "network.transport",
    "network.protocol",
    "auditd.result",
];

/// The conditions a clause is indexed by: its selective ones, else all it has.
fn selective(anchors: Vec<Anchor>) -> Vec<Anchor> {
    let (high, low): (Vec<Anchor>, Vec<Anchor>) = anchors
        .into_iter()
        .partition(|a| !LOW_CARDINALITY.contains(&slot_name(a.slot).as_str()));
    if high.is_empty() {
        low
    } else {
        high
    }
}

#[derive(Default)]
struct AnchorField {
    slot: Slot,
    fold: bool,
    /// Value → (clause, condition bit) pairs it satisfies.
    hits: StrMap<Box<str>, Vec<(u32, u8)>>,
}

struct Clause {
    rule: u32,
    /// All condition bits of the clause.
    full: u64,
}

/// See the module documentation. Rule ids are dense, in the order rules were added.
#[derive(Default)]
pub struct RuleIndex {
    always: Vec<u32>,
    clauses: Vec<Clause>,
    fields: Vec<AnchorField>,
    rules: u32,
    /// Per clause: condition bits seen for the current event (reset after each event).
    seen: Vec<u64>,
    touched: Vec<u32>,
}

impl RuleIndex {
    pub fn new() -> RuleIndex {
        RuleIndex::default()
    }

    /// Adds a query (every stage, `until` included); returns its rule id.
    pub fn add_query(&mut self, q: &Query) -> usize {
        let filters: Vec<&Filter> = q.stages.iter().chain(&q.until).map(|s| &s.filter).collect();
        self.add(&filters)
    }

    /// Adds a single filter (a KQL rule); returns its rule id.
    pub fn add_filter(&mut self, f: &Filter) -> usize {
        self.add(&[f])
    }

    fn add(&mut self, filters: &[&Filter]) -> usize {
        let id = self.rules;
        self.rules += 1;
        let clauses: Vec<Vec<Anchor>> = filters
            .iter()
            .map(|f| selective(f.prog.anchors()))
            .collect();
        if clauses.iter().any(Vec::is_empty) {
            self.always.push(id);
            return id as usize;
        }
        for anchors in clauses {
            let clause = self.clauses.len() as u32;
            let n = anchors.len();
            self.clauses.push(Clause {
                rule: id,
                full: if n == 64 { u64::MAX } else { (1u64 << n) - 1 },
            });
            self.seen.push(0);
            for (bit, a) in anchors.into_iter().enumerate() {
                let pos = match self
                    .fields
                    .iter()
                    .position(|f| f.slot == a.slot && f.fold == a.fold)
                {
                    Some(p) => p,
                    None => {
                        self.fields.push(AnchorField {
                            slot: a.slot,
                            fold: a.fold,
                            ..Default::default()
                        });
                        self.fields.len() - 1
                    }
                };
                for v in a.values {
                    self.fields[pos]
                        .hits
                        .entry(v)
                        .or_default()
                        .push((clause, bit as u8));
                }
            }
        }
        id as usize
    }

    pub fn len(&self) -> usize {
        self.rules as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Rules that must be evaluated for every event.
    pub fn unanchored(&self) -> usize {
        self.always.len()
    }

    /// Ids of the rules that may match `ix`, ascending and without duplicates; every other
    /// rule is certain not to match any of its stages with this event.
    pub fn candidates(&mut self, ix: &IndexedEvent, out: &mut Vec<usize>) {
        out.clear();
        out.extend(self.always.iter().map(|&i| i as usize));
        let (seen, touched, clauses) = (&mut self.seen, &mut self.touched, &self.clauses);
        for f in &self.fields {
            let Some(v) = ix.get(f.slot) else { continue };
            for v in each_value(v) {
                let Some(s) = v.as_str() else { continue };
                let Some(hits) = with_folded(s, f.fold, |s| f.hits.get(s)) else {
                    continue;
                };
                for &(c, bit) in hits {
                    let mask = &mut seen[c as usize];
                    if *mask == 0 {
                        touched.push(c);
                    }
                    let was_full = *mask == clauses[c as usize].full;
                    *mask |= 1 << bit;
                    if !was_full && *mask == clauses[c as usize].full {
                        out.push(clauses[c as usize].rule as usize);
                    }
                }
            }
        }
        for c in touched.drain(..) {
            seen[c as usize] = 0;
        }
        out.sort_unstable();
        out.dedup();
    }
}
