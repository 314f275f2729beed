//! Sequence matching: one state machine per join-key tuple. For each key the newest partial
//! match at a stage replaces older ones; a stage accepts an event only after the partial's last
//! event in (timestamp, arrival) order and within `maxspan` of the first event (boundary
//! included); `until` kills a key's partials. Missing-event stages `![...]` between positive
//! stages kill a partial waiting across them; leading ones veto a start when such an event was
//! seen within `maxspan` before it; trailing ones hold a completed match until `maxspan` from
//! its first event has passed without such an event.

use super::fields::{IndexedEvent, StrMap};
use super::{
    encode_single, general_tuples, missing_placeholder, tuples, EventRef, Held, Limits, Match,
    Query, Single, Tuple,
};
use crate::detect::dispatch::stage_bit;
use crate::event::Event;
use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

type Ord2 = (i64, u64);
type Key = Tuple;

fn ordinal(ev: &Event) -> Ord2 {
    (ev.timestamp_ms, ev.arrival)
}

struct Partial {
    id: u64,
    start: Ord2,
    last: Ord2,
    /// Events of the positive stages matched so far.
    events: Vec<Held>,
    /// Their `Held::bytes`.
    bytes: usize,
    /// When every leading missing stage had a matching event before `start`: the earliest of
    /// their latest timestamps.
    leading: Option<i64>,
}

/// A completed match waiting for its trailing missing-event window to close.
struct Pending {
    key: Key,
    start: i64,
    last: Ord2,
    leading: Option<i64>,
    deadline: i64,
    /// Per trailing stage: the first matching event after `last` (timestamp).
    trailing: Vec<Option<i64>>,
    events: Vec<Arc<Event>>,
    /// The bytes its events were held at.
    bytes: usize,
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
    states: StrMap<Key, Vec<Option<Partial>>>,
    /// Per key and leading stage: the latest event that matched it.
    leading_seen: StrMap<Key, Vec<Option<Ord2>>>,
    pending: VecDeque<Pending>,
    /// Partials in creation order, for expiry and the state bound: (id, start ts, key).
    order: VecDeque<(u64, i64, Key)>,
    live: usize,
    /// Per positive stage: partials waiting there (all keys). A later stage with none before
    /// it cannot advance anything, so its filter is not evaluated.
    waiting: Vec<usize>,
    next_id: u64,
    dropped: u64,
    maxspan: Option<i64>,
    max_states: usize,
    /// Bytes of the events of every partial and pending match.
    held: usize,
    /// Reused for encoding join keys.
    scratch: Vec<u8>,
    /// The stages that act on an empty state (the first positive one and leading missing
    /// ones), as a `dispatch::stage_bit` mask.
    starts: u64,
}

impl Matcher {
    pub fn new(q: &Query, limits: Limits) -> Matcher {
        let mut positive = vec![];
        let mut leading = vec![];
        let mut gaps: Vec<Vec<usize>> = vec![];
        for (i, s) in q.stages.iter().enumerate() {
            if !s.missing {
                positive.push(i);
                gaps.push(vec![]);
            } else if let Some(g) = gaps.last_mut() {
                g.push(i);
            } else {
                leading.push(i);
            }
        }
        // The group after the last positive stage is the trailing one.
        let trailing = gaps.pop().unwrap_or_default();
        let starts = leading
            .iter()
            .chain(positive.first())
            .fold(0, |m, &i| m | stage_bit(i));
        Matcher {
            starts,
            scratch: vec![],
            positive,
            leading,
            gaps,
            trailing,
            states: HashMap::default(),
            leading_seen: HashMap::default(),
            pending: VecDeque::new(),
            order: VecDeque::new(),
            live: 0,
            waiting: vec![0; q.stages.len()],
            next_id: 0,
            dropped: 0,
            maxspan: q.maxspan_ms,
            max_states: limits.max_states.max(1),
            held: 0,
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether an event that may match only the stages in `mask` would leave this matcher as
    /// it is: nothing is waiting and the event can start nothing. Most events a later stage's
    /// key admits find no partial to extend; they skip the matcher's bookkeeping.
    pub fn idle_for(&mut self, mask: u64) -> bool {
        if self.live > 0 || mask & self.starts != 0 {
            return false;
        }
        // Left by partials an `until` or missing event ended.
        self.order.clear();
        true
    }

    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Drops the oldest partials (then pending matches) until the events held take at most
    /// `target` bytes.
    pub fn shed(&mut self, target: usize) -> u64 {
        let before = self.dropped;
        while self.held > target && self.drop_oldest() {}
        self.dropped - before
    }

    /// Drops the oldest partial, else the oldest pending match (a queue entry of a partial
    /// already gone is only taken off); false when there is nothing left.
    fn drop_oldest(&mut self) -> bool {
        if let Some((id, _, key)) = self.order.pop_front() {
            if self.remove_partial(id, &key) {
                self.dropped += 1;
            }
        } else if let Some(p) = self.pending.pop_front() {
            self.live -= 1;
            self.held -= p.bytes;
            self.dropped += 1;
        } else {
            return false;
        }
        true
    }

    /// `held` worked out afresh (tests check the running count against it).
    #[cfg(test)]
    pub(crate) fn recount(&self) -> usize {
        let partials: usize = self
            .states
            .values()
            .flatten()
            .flatten()
            .map(|p| p.bytes)
            .sum();
        partials + self.pending.iter().map(|p| p.bytes).sum::<usize>()
    }

    pub fn on_event(&mut self, q: &Query, ix: &IndexedEvent, ev: &EventRef, out: &mut Vec<Match>) {
        let o = ev.ordinal();
        self.flush_expired(q, o.0, out);
        self.expire(o.0);
        self.missing_events(q, ix, ev, o);

        // Later stages first, so an event can extend an older partial and also start a new one.
        let n = self.positive.len();
        // Stages of one `runs=N` term share their filter's verdict.
        let mut cached: Option<(usize, bool)> = None;
        for j in (0..n).rev() {
            if j > 0 && self.waiting[j - 1] == 0 {
                continue;
            }
            let stage = &q.stages[self.positive[j]];
            // A later stage can only extend a partial of the event's own key: look for one
            // first (no allocation for a single tuple), as most events of a busy stage find
            // none and then need no filter.
            // Several tuples, worked out here, are kept for the advance.
            let mut known = None;
            if j > 0 {
                let mut buf = std::mem::take(&mut self.scratch);
                let none = match encode_single(&stage.keys, ix, &mut buf) {
                    Single::One => !self.extends(j, &buf[..], o),
                    Single::Missing => true,
                    Single::General => {
                        let keys = general_tuples(&stage.keys, ix);
                        let none = !keys.iter().any(|k| self.extends(j, k.borrow(), o));
                        known = Some(keys);
                        none
                    }
                };
                self.scratch = buf;
                if none {
                    continue;
                }
            }
            let matched = match cached {
                Some((term, matched)) if term == stage.term => matched,
                _ => {
                    let may = ev.may_match(Some(self.positive[j]));
                    let matched = may && stage.filter.matches_indexed(ix);
                    cached = Some((stage.term, matched));
                    matched
                }
            };
            if !matched {
                continue;
            }
            for k in &known.unwrap_or_else(|| tuples(&stage.keys, ix)) {
                self.advance(q, j, k, o, ev, out);
            }
        }

        // `until` after the stages: a match the same event completes stands, but partials that
        // started before the until event die.
        if let Some(until) = &q.until {
            if ev.may_match(None) && until.filter.matches_indexed(ix) {
                for k in tuples(&until.keys, ix) {
                    let Some(stages) = self.states.get_mut(&k) else {
                        continue;
                    };
                    for (i, slot) in stages.iter_mut().enumerate() {
                        if slot.as_ref().is_some_and(|p| p.start < o) {
                            self.held -= slot.take().map_or(0, |p| p.bytes);
                            self.live -= 1;
                            self.waiting[i] -= 1;
                        }
                    }
                    if stages.iter().all(Option::is_none) {
                        self.states.remove(&k);
                    }
                }
            }
        }
    }

    /// Records or applies events of the missing-event stages.
    fn missing_events(&mut self, q: &Query, ix: &IndexedEvent, ev: &EventRef, o: Ord2) {
        let nlead = self.leading.len();
        for (li, &m) in self.leading.iter().enumerate() {
            let s = &q.stages[m];
            if ev.may_match(Some(m)) && s.filter.matches_indexed(ix) {
                for k in tuples(&s.keys, ix) {
                    self.leading_seen
                        .entry(k)
                        .or_insert_with(|| vec![None; nlead])[li] = Some(o);
                }
            }
        }
        for g in 0..self.gaps.len() {
            for &m in &self.gaps[g] {
                let s = &q.stages[m];
                if !ev.may_match(Some(m)) || !s.filter.matches_indexed(ix) {
                    continue;
                }
                // A partial waiting across this gap saw the missing event: it can never match.
                for k in tuples(&s.keys, ix) {
                    if let Some(slot) = self.states.get_mut(&k).and_then(|st| st.get_mut(g)) {
                        if slot.as_ref().is_some_and(|p| p.last < o) {
                            self.held -= slot.take().map_or(0, |p| p.bytes);
                            self.live -= 1;
                            self.waiting[g] -= 1;
                        }
                    }
                }
            }
        }
        for (ti, &m) in self.trailing.iter().enumerate() {
            let s = &q.stages[m];
            if !ev.may_match(Some(m)) || !s.filter.matches_indexed(ix) {
                continue;
            }
            let keys = tuples(&s.keys, ix);
            for p in self.pending.iter_mut() {
                if p.last < o
                    && o.0 <= p.deadline
                    && p.trailing[ti].is_none()
                    && keys.contains(&p.key)
                {
                    p.trailing[ti] = Some(o.0);
                }
            }
            // Without leading stages a fully seen trailing set already decides the match.
            if self.leading.is_empty() {
                let before = self.pending.len();
                let held = &mut self.held;
                self.pending.retain(|p| {
                    let keep = p.trailing.iter().any(Option::is_none);
                    if !keep {
                        *held -= p.bytes;
                    }
                    keep
                });
                self.live -= before - self.pending.len();
            }
        }
    }

    /// Whether an event at `o` of key `k` matching positive stage `j > 0` extends a partial.
    fn extends(&self, j: usize, k: &[u8], o: Ord2) -> bool {
        self.states
            .get(k)
            .and_then(|st| st[j - 1].as_ref())
            .is_some_and(|p| p.last < o && self.maxspan.is_none_or(|span| o.0 - p.start.0 <= span))
    }

    fn advance(
        &mut self,
        q: &Query,
        j: usize,
        k: &Key,
        o: Ord2,
        ev: &EventRef,
        out: &mut Vec<Match>,
    ) {
        let n = self.positive.len();
        let partial = if j == 0 {
            let leading = match self.leading_seen.get(k) {
                Some(seen) if !seen.is_empty() && seen.iter().all(|s| s.is_some_and(|s| s < o)) => {
                    seen.iter().flatten().map(|s| s.0).min()
                }
                _ => None,
            };
            self.next_id += 1;
            let held = ev.held();
            Partial {
                id: self.next_id,
                start: o,
                last: o,
                bytes: held.bytes(),
                events: vec![held],
                leading,
            }
        } else {
            if !self.extends(j, k.borrow(), o) {
                return;
            }
            let mut p = self
                .states
                .get_mut(k)
                .and_then(|st| st[j - 1].take())
                .expect("checked above");
            self.live -= 1;
            self.waiting[j - 1] -= 1;
            self.held -= p.bytes;
            let held = ev.held();
            p.last = o;
            p.bytes += held.bytes();
            p.events.push(held);
            p
        };
        if j + 1 == n {
            self.complete(q, k.clone(), partial, out);
            return;
        }
        let (id, start_ts) = (partial.id, partial.start.0);
        if !self.states.contains_key(k) {
            let fresh = (0..n.saturating_sub(1)).map(|_| None).collect();
            self.states.insert(k.clone(), fresh);
        }
        let Some(stages) = self.states.get_mut(k) else {
            return;
        };
        self.held += partial.bytes;
        match stages[j].replace(partial) {
            Some(old) => self.held -= old.bytes,
            None => {
                self.live += 1;
                self.waiting[j] += 1;
            }
        }
        if j == 0 {
            self.order.push_back((id, start_ts, k.clone()));
        }
        self.enforce_bound();
    }

    /// Whether the edge missing stages were all seen close enough that the sequence including
    /// them fits in `maxspan`; such a match is discarded.
    fn edges_seen(
        &self,
        start: i64,
        last: i64,
        leading: Option<i64>,
        trailing: &[Option<i64>],
    ) -> bool {
        if self.leading.is_empty() && self.trailing.is_empty() {
            return false;
        }
        if !self.leading.is_empty() && leading.is_none() {
            return false;
        }
        if trailing.iter().any(Option::is_none) {
            return false;
        }
        let lo = leading.unwrap_or(start);
        let hi = trailing
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(last)
            .max(last);
        self.maxspan.is_some_and(|span| hi - lo <= span)
    }

    fn complete(&mut self, q: &Query, key: Key, p: Partial, out: &mut Vec<Match>) {
        if let Some(stages) = self.states.get(&key) {
            if stages.iter().all(Option::is_none) {
                self.states.remove(&key);
            }
        }
        if self.trailing.is_empty() {
            if !self.edges_seen(p.start.0, p.last.0, p.leading, &[]) {
                let events = self.with_placeholders(q, p.events);
                out.push(Match {
                    events,
                    join_keys: key.values(),
                });
            }
            return;
        }
        let deadline = p.start.0.saturating_add(self.maxspan.unwrap_or(0));
        let events = self.with_placeholders(q, p.events);
        self.held += p.bytes;
        self.pending.push_back(Pending {
            bytes: p.bytes,
            key,
            start: p.start.0,
            last: p.last,
            leading: p.leading,
            deadline,
            trailing: vec![None; self.trailing.len()],
            events,
        });
        self.live += 1;
        self.enforce_bound();
    }

    /// The match's documents, with placeholders for its missing-event stages.
    fn with_placeholders(&self, q: &Query, positive: Vec<Held>) -> Vec<Arc<Event>> {
        let mut it = positive.iter().map(Held::materialize);
        if q.stages.len() == positive.len() {
            return it.collect();
        }
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

    /// Decides pending matches whose trailing window closed before `now`.
    pub fn flush_expired(&mut self, _q: &Query, now: i64, out: &mut Vec<Match>) {
        if self.pending.is_empty() {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.pending.len());
        while let Some(p) = self.pending.pop_front() {
            if p.deadline >= now {
                keep.push_back(p);
                continue;
            }
            self.live -= 1;
            self.held -= p.bytes;
            if !self.edges_seen(p.start, p.last.0, p.leading, &p.trailing) {
                out.push(Match {
                    events: p.events,
                    join_keys: p.key.values(),
                });
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
            self.leading_seen
                .retain(|_, seen| seen.iter().flatten().any(|s| now - s.0 <= span));
        }
    }

    /// Removes partial `id` of `key` if it still exists; true if it did.
    fn remove_partial(&mut self, id: u64, key: &Key) -> bool {
        let Some(stages) = self.states.get_mut(key) else {
            return false;
        };
        let mut found = false;
        for (i, slot) in stages.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|p| p.id == id) {
                self.held -= slot.take().map_or(0, |p| p.bytes);
                self.waiting[i] -= 1;
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
        while self.live > self.max_states && self.drop_oldest() {}
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

/// Orders batch results as ES does: by the last event's (timestamp, arrival), i.e. in
/// completion order.
pub(crate) fn sort_results(out: &mut [Match]) {
    let first = |m: &Match| {
        m.events
            .iter()
            .rev()
            .find(|e| !super::is_missing_placeholder(e))
            .map_or((i64::MIN, 0), |e| ordinal(e))
    };
    out.sort_by_key(first);
}
