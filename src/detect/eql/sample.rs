//! Samples: for one join-key tuple, a set of distinct events, one per filter, in any time
//! order. Streaming keeps, per key, the recent candidates of each filter within the look-back
//! window and emits one alert per key tuple per window; the batch search reproduces ES's result
//! (keys in ascending order, up to `max_samples_per_key` samples each).

use super::fields::{IndexedEvent, StrMap};
use super::{
    encode_single, general_tuples, key_tuples, EventRef, Held, KeyVal, Limits, Match, Query,
    Single, Tuple,
};
use crate::event::Event;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Candidates kept per filter and key: enough to find distinct events for every filter.
const CANDIDATES: usize = 6;

struct Bucket {
    /// Recent matching events with the filter each matched, oldest first; at most
    /// `CANDIDATES` per filter. One vector for all filters: one allocation per key.
    cands: Vec<(usize, Held)>,
    /// No new alert for this key before this time (ms).
    quiet_until: i64,
    last_seen: i64,
}

impl Bucket {
    fn bytes(&self) -> usize {
        self.cands.iter().map(|(_, e)| e.bytes()).sum()
    }
}

pub(crate) struct Matcher {
    buckets: StrMap<Tuple, Bucket>,
    /// Keys in order of last activity, for expiry and the bound: (last_seen, key).
    order: VecDeque<(i64, Tuple)>,
    window: i64,
    max_states: usize,
    dropped: u64,
    /// Bytes of the candidates of every bucket (`Held::bytes`).
    held: usize,
    /// The event's key, encoded (reused).
    scratch: Vec<u8>,
}

impl Matcher {
    pub fn new(_q: &Query, limits: Limits) -> Matcher {
        Matcher {
            buckets: HashMap::default(),
            order: VecDeque::new(),
            window: limits.window_ms.max(0),
            max_states: limits.max_states.max(1),
            dropped: 0,
            held: 0,
            scratch: Vec::new(),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Drops the least recently active keys until the candidates take at most `target` bytes.
    pub fn shed(&mut self, target: usize) -> u64 {
        let mut n = 0;
        while self.held > target {
            let Some((_, key)) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.buckets.remove(&key) {
                self.held -= b.bytes();
                self.dropped += 1;
                n += 1;
            }
        }
        n
    }

    /// `held` worked out afresh (tests check the running count against it).
    #[cfg(test)]
    pub(crate) fn recount(&self) -> usize {
        self.buckets.values().map(Bucket::bytes).sum()
    }

    pub fn on_event(&mut self, q: &Query, ix: &IndexedEvent, ev: &EventRef, out: &mut Vec<Match>) {
        let now = ev.ordinal().0;
        self.expire(now);
        let mut key = std::mem::take(&mut self.scratch);
        for (i, stage) in q.stages.iter().enumerate() {
            if !ev.may_match(Some(i)) || !stage.filter.matches_indexed(ix) {
                continue;
            }
            // Most keys are one value per field: encoded into a reused buffer and looked
            // up by their bytes, so a key already held costs no allocation.
            match encode_single(&stage.keys, ix, &mut key) {
                Single::One => self.add(q, i, &key, ev, out),
                Single::Missing => {}
                Single::General => {
                    for k in general_tuples(&stage.keys, ix) {
                        self.add(q, i, std::borrow::Borrow::borrow(&k), ev, out);
                    }
                }
            }
        }
        self.scratch = key;
        self.enforce_bound();
    }

    /// Adds the event as a candidate of filter `i` for `key`; a match once every filter has
    /// a distinct candidate.
    fn add(&mut self, q: &Query, i: usize, key: &[u8], ev: &EventRef, out: &mut Vec<Match>) {
        let now = ev.ordinal().0;
        let n = q.stages.len();
        if !self.buckets.contains_key(key) {
            let k = Tuple::from_encoded(key);
            self.order.push_back((now, k.clone()));
            self.buckets.insert(
                k,
                Bucket {
                    cands: Vec::with_capacity(2),
                    quiet_until: i64::MIN,
                    last_seen: now,
                },
            );
        }
        let Some(b) = self.buckets.get_mut(key) else {
            return;
        };
        b.last_seen = b.last_seen.max(now);
        let before = b.bytes();
        let window = self.window;
        b.cands.retain(|(_, e)| now - e.timestamp_ms() <= window);
        let this = ev.held();
        if !b.cands.iter().any(|(f, e)| *f == i && e.same(&this)) {
            let mut mine = b.cands.iter().filter(|(f, _)| *f == i);
            if mine.nth(CANDIDATES - 1).is_some() {
                // Full: the filter's oldest candidate makes room.
                if let Some(at) = b.cands.iter().position(|(f, _)| *f == i) {
                    b.cands.remove(at);
                }
            }
            b.cands.push((i, this));
        }
        self.held = self.held + b.bytes() - before;
        // A sample needs a candidate for every filter; until then nothing to search.
        if now < b.quiet_until || (0..n).any(|f| b.cands.iter().all(|(g, _)| *g != f)) {
            return;
        }
        let lists: Vec<Vec<Held>> = (0..n)
            .map(|f| {
                b.cands
                    .iter()
                    .filter(|(g, _)| *g == f)
                    .map(|(_, e)| e.clone())
                    .collect()
            })
            .collect();
        if let Some(events) = first_distinct(&lists) {
            let first = events.iter().map(Held::timestamp_ms).min().unwrap_or(now);
            let events = events.iter().map(Held::materialize).collect();
            b.quiet_until = first.saturating_add(window).saturating_add(1);
            self.held -= b.bytes();
            b.cands.clear();
            out.push(Match {
                events,
                join_keys: super::decode_tuple(key),
            });
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some((seen, _)) = self.order.front() {
            if now - *seen <= self.window {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            match self.buckets.get(&key) {
                // Still active: requeue at its real last activity.
                Some(b) if now - b.last_seen <= self.window || now < b.quiet_until => {
                    let t = b.last_seen;
                    self.order.push_back((t, key));
                    if self
                        .order
                        .front()
                        .is_some_and(|(t2, _)| now - *t2 <= self.window)
                    {
                        break;
                    }
                }
                _ => {
                    if let Some(b) = self.buckets.remove(&key) {
                        self.held -= b.bytes();
                    }
                }
            }
        }
    }

    fn enforce_bound(&mut self) {
        while self.buckets.len() > self.max_states {
            let Some((_, key)) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.buckets.remove(&key) {
                self.held -= b.bytes();
                self.dropped += 1;
            }
        }
    }
}

/// The first assignment (in candidate order, first filter outermost) of distinct events, one
/// per filter.
fn first_distinct(lists: &[Vec<Held>]) -> Option<Vec<Held>> {
    let mut all = vec![];
    distinct_assignments(lists, &mut vec![], 1, &mut all, &Held::same);
    all.pop()
}

fn distinct_assignments<T: Clone>(
    lists: &[Vec<T>],
    chosen: &mut Vec<T>,
    limit: usize,
    out: &mut Vec<Vec<T>>,
    same: &impl Fn(&T, &T) -> bool,
) {
    if out.len() >= limit {
        return;
    }
    let i = chosen.len();
    if i == lists.len() {
        out.push(chosen.clone());
        return;
    }
    for e in &lists[i] {
        if chosen.iter().any(|c| same(c, e)) {
            continue;
        }
        chosen.push(e.clone());
        distinct_assignments(lists, chosen, limit, out, same);
        chosen.pop();
        if out.len() >= limit {
            return;
        }
    }
}

/// Batch sample search: every key tuple in ascending order, up to `per_key` samples each.
pub(crate) fn search(q: &Query, events: &[Arc<Event>], per_key: usize) -> Vec<Match> {
    let per_key = per_key.max(1);
    let n = q.stages.len();
    // Enough candidates per filter for `per_key` distinct samples.
    let keep = per_key + n;
    let mut keys: BTreeMap<Vec<KeyVal>, Vec<Vec<Arc<Event>>>> = BTreeMap::new();
    let mut index = super::FieldIndex::new();
    for ev in events {
        let ix = index.index(ev);
        for (i, stage) in q.stages.iter().enumerate() {
            if !stage.filter.matches_indexed(&ix) {
                continue;
            }
            for k in key_tuples(&stage.keys, &ix) {
                let lists = keys.entry(k).or_insert_with(|| vec![vec![]; n]);
                if lists[i].len() < keep && !lists[i].iter().any(|e| Arc::ptr_eq(e, ev)) {
                    lists[i].push(ev.clone());
                }
            }
        }
    }
    let mut out = vec![];
    for (k, lists) in keys {
        let mut samples = vec![];
        distinct_assignments(&lists, &mut vec![], per_key, &mut samples, &Arc::ptr_eq);
        for events in samples {
            out.push(Match {
                events,
                join_keys: k.iter().map(KeyVal::to_value).collect(),
            });
        }
    }
    out
}
