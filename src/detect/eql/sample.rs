//! Samples: for one join-key tuple, a set of distinct events, one per filter, in any time
//! order. Streaming keeps, per key, the recent candidates of each filter within the look-back
//! window and emits one alert per key tuple per window; the batch search reproduces ES's result
//! (keys in ascending order, up to `max_samples_per_key` samples each).

use super::fields::{IndexedEvent, StrBuild};
use super::{
    encode_single, general_tuples, key_tuples, EventRef, Held, KeyVal, Limits, Match, Query,
    Single, Tuple,
};
use crate::event::Event;
use hashbrown::hash_table::{Entry, HashTable, OccupiedEntry};
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Candidates kept per filter and key: enough to find distinct events for every filter.
const CANDIDATES: usize = 6;

struct Bucket {
    key: Tuple,
    cands: Cands,
    /// No new alert for this key before this time (ms).
    quiet_until: i64,
    last_seen: i64,
}

impl Bucket {
    fn bytes(&self) -> usize {
        self.cands.list().iter().map(|(_, e)| e.bytes()).sum()
    }
}

/// Recent matching events of one key with the filter each matched, oldest first; at most
/// `CANDIDATES` per filter. Most keys only ever see one event (a connection of a process that
/// does nothing else the rule asks for), and that one is kept in the bucket itself: no
/// allocation of its own to make, touch and free again at expiry.
enum Cands {
    None,
    One((usize, Held)),
    Many(Vec<(usize, Held)>),
}

impl Cands {
    fn list(&self) -> &[(usize, Held)] {
        match self {
            Cands::None => &[],
            Cands::One(c) => std::slice::from_ref(c),
            Cands::Many(v) => v,
        }
    }

    fn push(&mut self, c: (usize, Held)) {
        *self = match std::mem::replace(self, Cands::None) {
            Cands::None => Cands::One(c),
            Cands::One(first) => Cands::Many(vec![first, c]),
            Cands::Many(mut v) => {
                v.push(c);
                Cands::Many(v)
            }
        };
    }

    fn retain(&mut self, keep: impl FnMut(&(usize, Held)) -> bool) {
        match self {
            Cands::None => {}
            Cands::One(c) => {
                let mut keep = keep;
                if !keep(c) {
                    *self = Cands::None;
                }
            }
            Cands::Many(v) => v.retain(keep),
        }
    }

    fn remove(&mut self, at: usize) {
        match self {
            Cands::Many(v) if at < v.len() => {
                v.remove(at);
            }
            Cands::One(_) if at == 0 => *self = Cands::None,
            _ => {}
        }
    }
}

/// A key's place in the expiry queue: the hash of its bucket and the bucket's own key, found
/// again by one probe that compares pointers, not bytes (each bucket has one entry).
type Queued = (i64, u64, Tuple);

pub(crate) struct Matcher {
    /// Buckets by the hash of their key's encoding, which an event's key is probed with
    /// before it is ever made a `Tuple`: a key seen before costs one hash and no allocation.
    buckets: HashTable<Bucket>,
    hasher: StrBuild,
    /// Keys in order of last activity, for expiry and the bound.
    order: VecDeque<Queued>,
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
            buckets: HashTable::new(),
            hasher: StrBuild::default(),
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

    /// The bucket `queued` names, if it is still held.
    fn queued_entry(&mut self, (_, h, key): &Queued) -> Option<OccupiedEntry<'_, Bucket>> {
        self.buckets
            .find_entry(*h, |b| Arc::ptr_eq(&b.key.0, &key.0))
            .ok()
    }

    /// Drops the least recently active key; false when none is left.
    fn drop_oldest(&mut self) -> bool {
        let Some(q) = self.order.pop_front() else {
            return false;
        };
        if let Some(e) = self.queued_entry(&q) {
            let (b, _) = e.remove();
            self.held -= b.bytes();
            self.dropped += 1;
        }
        true
    }

    /// Drops the least recently active keys until the candidates take at most `target` bytes.
    pub fn shed(&mut self, target: usize) -> u64 {
        let before = self.dropped;
        while self.held > target && self.drop_oldest() {}
        self.dropped - before
    }

    /// `held` worked out afresh (tests check the running count against it).
    #[cfg(test)]
    pub(crate) fn recount(&self) -> usize {
        self.buckets.iter().map(Bucket::bytes).sum()
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
                        self.add(q, i, &k.0, ev, out);
                    }
                }
            }
        }
        self.scratch = key;
        while self.buckets.len() > self.max_states && self.drop_oldest() {}
    }

    /// Adds the event as a candidate of filter `i` for `key`; a match once every filter has
    /// a distinct candidate.
    fn add(&mut self, q: &Query, i: usize, key: &[u8], ev: &EventRef, out: &mut Vec<Match>) {
        let now = ev.ordinal().0;
        let n = q.stages.len();
        let h = self.hasher.hash_one(key);
        let (hasher, order) = (&self.hasher, &mut self.order);
        let b = match self
            .buckets
            .entry(h, |b| *b.key.0 == *key, |b| hasher.hash_one(&*b.key.0))
        {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let k = Tuple(key.into());
                order.push_back((now, h, k.clone()));
                v.insert(Bucket {
                    key: k,
                    cands: Cands::None,
                    quiet_until: i64::MIN,
                    last_seen: now,
                })
                .into_mut()
            }
        };
        b.last_seen = b.last_seen.max(now);
        let before = b.bytes();
        let window = self.window;
        b.cands.retain(|(_, e)| now - e.timestamp_ms() <= window);
        let this = ev.held();
        if !b.cands.list().iter().any(|(f, e)| *f == i && e.same(&this)) {
            let mut mine = b.cands.list().iter().filter(|(f, _)| *f == i);
            if mine.nth(CANDIDATES - 1).is_some() {
                // Full: the filter's oldest candidate makes room.
                if let Some(at) = b.cands.list().iter().position(|(f, _)| *f == i) {
                    b.cands.remove(at);
                }
            }
            b.cands.push((i, this));
        }
        self.held = self.held + b.bytes() - before;
        // A sample needs a candidate for every filter; until then nothing to search.
        let cands = b.cands.list();
        if now < b.quiet_until || (0..n).any(|f| cands.iter().all(|(g, _)| *g != f)) {
            return;
        }
        let lists: Vec<Vec<Held>> = (0..n)
            .map(|f| {
                cands
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
            b.cands = Cands::None;
            out.push(Match {
                events,
                join_keys: super::decode_tuple(key),
            });
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some((seen, _, _)) = self.order.front() {
            if now - *seen <= self.window {
                break;
            }
            let q = self.order.pop_front().expect("front exists");
            let window = self.window;
            let Some(e) = self.queued_entry(&q) else {
                continue;
            };
            let b = e.get();
            if now - b.last_seen <= window || now < b.quiet_until {
                // Still active: requeue at its real last activity.
                let t = b.last_seen;
                self.order.push_back((t, q.1, q.2));
                if self
                    .order
                    .front()
                    .is_some_and(|(t2, _, _)| now - *t2 <= window)
                {
                    break;
                }
            } else {
                let (b, _) = e.remove();
                self.held -= b.bytes();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `Cands` keeps the same list, in the same order, as a plain vector would.
    #[test]
    fn candidates_behave_as_a_vector() {
        let events: Vec<Held> = (0..8)
            .map(|t| EventRef::ready(&Arc::new(Event::new(t))).held())
            .collect();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let (mut cands, mut model) = (Cands::None, Vec::<(usize, Held)>::new());
        let same = |a: &[(usize, Held)], b: &[(usize, Held)]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1.same(&y.1))
        };
        let mut shapes = [0; 3];
        for _ in 0..5000 {
            match next(6) {
                0 | 1 => {
                    let c = (next(3) as usize, events[next(8) as usize].clone());
                    cands.push(c.clone());
                    model.push(c);
                }
                2 => {
                    let t = next(8) as i64;
                    cands.retain(|(_, e)| e.timestamp_ms() >= t);
                    model.retain(|(_, e)| e.timestamp_ms() >= t);
                }
                3 => {
                    // As after an alert.
                    cands = Cands::None;
                    model.clear();
                }
                _ => {
                    let at = next(model.len() as u64 + 1) as usize;
                    cands.remove(at);
                    if at < model.len() {
                        model.remove(at);
                    }
                }
            }
            assert!(same(cands.list(), &model));
            shapes[match cands {
                Cands::None => 0,
                Cands::One(_) => 1,
                Cands::Many(_) => 2,
            }] += 1;
        }
        assert!(
            shapes.iter().all(|&n| n > 100),
            "every form was used: {shapes:?}"
        );
    }
}
