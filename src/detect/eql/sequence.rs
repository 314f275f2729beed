//! Sequence matching: one state machine per join-key tuple. For each key the newest partial
//! match at a stage replaces older ones; a stage accepts an event only after the partial's last
//! event in (timestamp, arrival) order and within `maxspan` of the first event (boundary
//! included); `until` kills a key's partials. Missing-event stages `![...]` between positive
//! stages kill a partial waiting across them; leading ones veto a start when such an event was
//! seen within `maxspan` before it; trailing ones hold a completed match until `maxspan` from
//! its first event has passed without such an event.

use super::fields::{FxBuild, IndexedEvent};
use super::{key_tuples, missing_placeholder, KeyVal, Limits, Match, Query};
use crate::event::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

type Ord2 = (i64, u64);
type Key = Vec<KeyVal>;

fn ordinal(ev: &Event) -> Ord2 {
    (ev.timestamp_ms, ev.arrival)
}

struct Partial {
    id: u64,
    start: Ord2,
    last: Ord2,
    /// Events of the positive stages matched so far.
    events: Vec<Arc<Event>>,
}

/// A completed match waiting for its trailing missing-event window to close.
struct Pending {
    id: u64,
    key: Key,
    last: Ord2,
    deadline: i64,
    events: Vec<Arc<Event>>,
}

pub(crate) struct Matcher {
    /// Indexes (into `query.stages`) of the positive stages.
    positive: Vec<usize>,
    /// Missing stages before the first positive stage.
    leading: Vec<usize>,
    /// `gaps[g]`: missing stages between positive stage g and g+1.
    gaps: Vec<Vec<usize>>,
    trailing: Vec<usize>,
    /// Per key: `stages[i]` = the partial that has matched positive stages 0..=i.
    states: HashMap<Key, Vec<Option<Partial>>, FxBuild>,
    /// Per key: the latest event that matched a leading missing stage.
    leading_seen: HashMap<Key, Ord2, FxBuild>,
    pending: VecDeque<Pending>,
    /// Partials in creation order, for expiry and the state bound: (id, start ts, key).
    order: VecDeque<(u64, i64, Key)>,
    live: usize,
    next_id: u64,
    dropped: u64,
    maxspan: Option<i64>,
    max_states: usize,
}

impl Matcher {
    pub fn new(q: &Query, limits: Limits) -> Matcher {
        let mut positive = vec![];
        let mut leading = vec![];
        let mut gaps: Vec<Vec<usize>> = vec![];
        for (i, s) in q.stages.iter().enumerate() {
            match (s.missing, positive.is_empty()) {
                (true, true) => leading.push(i),
                (true, false) => gaps.last_mut().map_or((), |g: &mut Vec<usize>| g.push(i)),
                (false, _) => {
                    positive.push(i);
                    gaps.push(vec![]);
                }
            }
        }
        // The group after the last positive stage is the trailing one.
        let trailing = gaps.pop().unwrap_or_default();
        Matcher {
            positive,
            leading,
            gaps,
            trailing,
            states: HashMap::default(),
            leading_seen: HashMap::default(),
            pending: VecDeque::new(),
            order: VecDeque::new(),
            live: 0,
            next_id: 0,
            dropped: 0,
            maxspan: q.maxspan_ms,
            max_states: limits.max_states.max(1),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn on_event(
        &mut self,
        q: &Query,
        ix: &IndexedEvent,
        ev: &Arc<Event>,
        out: &mut Vec<Match>,
    ) {
        let o = ordinal(ev);
        self.flush_expired(q, o.0, out);
        self.expire(o.0);

        if let Some(until) = &q.until {
            if until.filter.matches_indexed(ix) {
                for k in key_tuples(&until.keys, ix) {
                    if let Some(stages) = self.states.remove(&k) {
                        self.live -= stages.iter().flatten().count();
                    }
                }
            }
        }

        for &m in self.leading.iter() {
            let s = &q.stages[m];
            if s.filter.matches_indexed(ix) {
                for k in key_tuples(&s.keys, ix) {
                    self.leading_seen.insert(k, o);
                }
            }
        }
        for g in 0..self.gaps.len() {
            for &m in &self.gaps[g] {
                let s = &q.stages[m];
                if !s.filter.matches_indexed(ix) {
                    continue;
                }
                for k in key_tuples(&s.keys, ix) {
                    if let Some(slot) = self.states.get_mut(&k).and_then(|st| st.get_mut(g)) {
                        if slot.as_ref().is_some_and(|p| p.last < o) {
                            *slot = None;
                            self.live -= 1;
                        }
                    }
                }
            }
        }
        for &m in &self.trailing {
            let s = &q.stages[m];
            if s.filter.matches_indexed(ix) {
                let keys = key_tuples(&s.keys, ix);
                let before = self.pending.len();
                self.pending
                    .retain(|p| !(p.last < o && p.deadline >= o.0 && keys.contains(&p.key)));
                self.live -= before - self.pending.len();
            }
        }

        // Later stages first, so an event can extend an older partial and also start a new one.
        let n = self.positive.len();
        for j in (0..n).rev() {
            let stage = &q.stages[self.positive[j]];
            if !stage.filter.matches_indexed(ix) {
                continue;
            }
            for k in key_tuples(&stage.keys, ix) {
                self.advance(q, j, k, o, ev, out);
            }
        }
    }

    fn advance(
        &mut self,
        q: &Query,
        j: usize,
        k: Key,
        o: Ord2,
        ev: &Arc<Event>,
        out: &mut Vec<Match>,
    ) {
        let n = self.positive.len();
        let partial = if j == 0 {
            if let (Some(&seen), Some(span)) = (self.leading_seen.get(&k), self.maxspan) {
                if seen < o && o.0 - seen.0 <= span {
                    return;
                }
            }
            self.next_id += 1;
            Partial {
                id: self.next_id,
                start: o,
                last: o,
                events: vec![ev.clone()],
            }
        } else {
            let Some(slot) = self.states.get_mut(&k).and_then(|st| st[j - 1].as_mut()) else {
                return;
            };
            if slot.last >= o || self.maxspan.is_some_and(|span| o.0 - slot.start.0 > span) {
                return;
            }
            let mut p = self
                .states
                .get_mut(&k)
                .and_then(|st| st[j - 1].take())
                .expect("checked above");
            self.live -= 1;
            p.last = o;
            p.events.push(ev.clone());
            p
        };
        if j + 1 == n {
            self.complete(q, k, partial, out);
            return;
        }
        let (id, start_ts) = (partial.id, partial.start.0);
        let stages = self
            .states
            .entry(k.clone())
            .or_insert_with(|| (0..n.saturating_sub(1)).map(|_| None).collect());
        if stages[j].replace(partial).is_none() {
            self.live += 1;
        }
        if j == 0 {
            self.order.push_back((id, start_ts, k));
        }
        self.enforce_bound();
    }

    fn complete(&mut self, q: &Query, key: Key, p: Partial, out: &mut Vec<Match>) {
        if let Some(stages) = self.states.get(&key) {
            if stages.iter().all(Option::is_none) {
                self.states.remove(&key);
            }
        }
        let events = self.with_placeholders(q, p.events);
        if self.trailing.is_empty() {
            out.push(Match {
                events,
                join_keys: key.iter().map(KeyVal::to_value).collect(),
            });
            return;
        }
        let deadline = p.start.0.saturating_add(self.maxspan.unwrap_or(0));
        self.pending.push_back(Pending {
            id: p.id,
            key,
            last: p.last,
            deadline,
            events,
        });
        self.live += 1;
        self.enforce_bound();
    }

    fn with_placeholders(&self, q: &Query, positive: Vec<Arc<Event>>) -> Vec<Arc<Event>> {
        if q.stages.len() == positive.len() {
            return positive;
        }
        let mut it = positive.into_iter();
        q.stages
            .iter()
            .map(|s| {
                if s.missing {
                    missing_placeholder()
                } else {
                    it.next().unwrap_or_else(missing_placeholder)
                }
            })
            .collect()
    }

    /// Emits pending matches whose trailing window closed before `now`.
    pub fn flush_expired(&mut self, _q: &Query, now: i64, out: &mut Vec<Match>) {
        // Pending entries are nearly deadline-ordered; scan all for exactness (few exist).
        let mut keep = VecDeque::with_capacity(self.pending.len());
        while let Some(p) = self.pending.pop_front() {
            if p.deadline < now {
                self.live -= 1;
                out.push(Match {
                    events: p.events,
                    join_keys: p.key.iter().map(KeyVal::to_value).collect(),
                });
            } else {
                keep.push_back(p);
            }
        }
        self.pending = keep;
    }

    /// Drops partials whose first event is more than `maxspan` before `now`.
    fn expire(&mut self, now: i64) {
        let Some(span) = self.maxspan else { return };
        while let Some(&(id, start, _)) = self.order.front() {
            if now - start <= span {
                break;
            }
            let (_, _, key) = self.order.pop_front().expect("front exists");
            self.remove_partial(id, &key);
        }
        if self.leading_seen.len() > 1024 && self.leading_seen.len() > 2 * self.live {
            self.leading_seen.retain(|_, seen| now - seen.0 <= span);
        }
    }

    /// Removes partial `id` of `key` if it still exists; true if it did.
    fn remove_partial(&mut self, id: u64, key: &Key) -> bool {
        let Some(stages) = self.states.get_mut(key) else {
            return false;
        };
        let mut found = false;
        for slot in stages.iter_mut() {
            if slot.as_ref().is_some_and(|p| p.id == id) {
                *slot = None;
                found = true;
            }
        }
        if stages.iter().all(Option::is_none) {
            self.states.remove(key);
        }
        if found {
            self.live -= 1;
        }
        found
    }

    fn enforce_bound(&mut self) {
        while self.live > self.max_states {
            if let Some((id, _, key)) = self.order.pop_front() {
                if self.remove_partial(id, &key) {
                    self.dropped += 1;
                }
            } else if self.pending.pop_front().is_some() {
                self.live -= 1;
                self.dropped += 1;
            } else {
                break;
            }
        }
        // Queue entries of partials already gone (replaced, completed): compact when they pile up.
        if self.order.len() > 2 * self.live + 1024 {
            let states = &self.states;
            self.order.retain(|(id, _, key)| {
                states
                    .get(key)
                    .is_some_and(|st| st.iter().flatten().any(|p| p.id == *id))
            });
        }
    }
}

/// Orders batch results as ES does: by the first event's (timestamp, arrival).
pub(crate) fn sort_results(out: &mut [Match]) {
    let first = |m: &Match| {
        m.events
            .iter()
            .find(|e| !super::is_missing_placeholder(e))
            .map_or((i64::MIN, 0), |e| ordinal(e))
    };
    out.sort_by_key(first);
}
