//! `threshold` state: matching events counted per group of `threshold.field` values over the
//! rule's look-back window (`from`).
//!
//! A group alerts when it holds `value` events within the window and every `cardinality`
//! condition (distinct values of a field ≥ its value) holds. Its events are then consumed, so
//! the next alert for that group needs `value` events after it, like Elastic counting only
//! events after a bucket's last signal. An event missing a group-by field is not counted
//! (Elastic's terms aggregation skips it); a multi-valued group-by field counts the event in
//! each of its values' groups.

use super::rule::Cardinality;
use crate::event::{Event, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Groups kept per rule; the least recently touched is dropped beyond it.
pub const MAX_GROUPS: usize = 50_000;
/// Events kept per group (only cardinality conditions can need more than `value`).
const MAX_EVENTS_PER_GROUP: usize = 10_000;
/// Events quoted in an alert.
pub const MAX_ALERT_EVENTS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `(field, value)` of the group, in rule order.
    pub terms: Vec<(String, Value)>,
    pub count: u64,
    /// `(field, distinct count)` per cardinality condition.
    pub cardinality: Vec<(String, u64)>,
    /// Timestamp of the first counted event.
    pub from_ms: i64,
    pub events: Vec<Arc<Event>>,
}

struct Group {
    terms: Vec<(String, Value)>,
    /// The counted events, with what keeping each costs (`Event::heap_bytes`).
    events: VecDeque<(Arc<Event>, usize)>,
    touched: u64,
}

impl Group {
    fn bytes(&self) -> usize {
        self.events.iter().map(|(_, b)| b).sum()
    }
}

pub struct Tracker {
    fields: Vec<String>,
    value: u64,
    cardinality: Vec<Cardinality>,
    window_ms: i64,
    groups: HashMap<Vec<u8>, Group>,
    /// Groups in order of their last event: (its timestamp, `touched`, key). An entry is
    /// live while its group's `touched` is still that tick; the others are skipped.
    order: VecDeque<(i64, u64, Vec<u8>)>,
    tick: u64,
    pub dropped_groups: u64,
    /// Bytes of the events of every group.
    held: usize,
}

impl Tracker {
    pub fn new(
        fields: &[String],
        value: u64,
        cardinality: &[Cardinality],
        window_ms: i64,
    ) -> Tracker {
        Tracker {
            fields: fields.to_vec(),
            value: value.max(1),
            cardinality: cardinality.to_vec(),
            window_ms,
            groups: HashMap::new(),
            order: VecDeque::new(),
            tick: 0,
            dropped_groups: 0,
            held: 0,
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Drops the least recently counted groups until their events take at most `target`
    /// bytes; returns how many (they count in `dropped_groups`).
    pub fn shed(&mut self, target: usize) -> u64 {
        let mut n = 0;
        while self.held > target && self.pop_oldest().is_some() {
            self.dropped_groups += 1;
            n += 1;
        }
        n
    }

    /// Removes the least recently counted group.
    fn pop_oldest(&mut self) -> Option<Group> {
        while let Some((_, tick, key)) = self.order.pop_front() {
            if self.groups.get(&key).is_some_and(|g| g.touched == tick) {
                let g = self.groups.remove(&key)?;
                self.held -= g.bytes();
                return Some(g);
            }
        }
        None
    }

    /// Drops the groups whose last event left the window: they hold nothing countable.
    fn expire(&mut self, now: i64) {
        while let Some((ts, tick, key)) = self.order.front() {
            if now.saturating_sub(*ts) <= self.window_ms {
                break;
            }
            if self.groups.get(key).is_some_and(|g| g.touched == *tick) {
                if let Some(g) = self.groups.remove(key) {
                    self.held -= g.bytes();
                }
            }
            self.order.pop_front();
        }
        // Entries of groups touched again since: compact when they pile up.
        if self.order.len() > 2 * self.groups.len() + 1024 {
            let groups = &self.groups;
            self.order
                .retain(|(_, tick, key)| groups.get(key).is_some_and(|g| g.touched == *tick));
        }
    }

    #[cfg(test)]
    fn recount(&self) -> usize {
        self.groups.values().map(Group::bytes).sum()
    }

    /// Counts a matching event; returns the groups that crossed the threshold.
    pub fn observe(&mut self, ev: &Arc<Event>, out: &mut Vec<Hit>) {
        self.tick += 1;
        let ts = ev.timestamp_ms;
        self.expire(ts);
        let mut bytes = None;
        for terms in group_terms(ev, &self.fields) {
            let key =
                serde_json::to_vec(&terms.iter().map(|(_, v)| v.to_json()).collect::<Vec<_>>())
                    .unwrap_or_default();
            if !self.groups.contains_key(&key)
                && self.groups.len() >= MAX_GROUPS
                && self.pop_oldest().is_some()
            {
                self.dropped_groups += 1;
            }
            let tick = self.tick;
            self.order.push_back((ts, tick, key.clone()));
            let group = self.groups.entry(key).or_insert_with(|| Group {
                terms,
                events: VecDeque::new(),
                touched: tick,
            });
            group.touched = tick;
            while group
                .events
                .front()
                .is_some_and(|(e, _)| ts.saturating_sub(e.timestamp_ms) > self.window_ms)
            {
                self.held -= group.events.pop_front().map_or(0, |(_, b)| b);
            }
            if group.events.len() >= MAX_EVENTS_PER_GROUP {
                self.held -= group.events.pop_front().map_or(0, |(_, b)| b);
            }
            let b = *bytes.get_or_insert_with(|| ev.heap_bytes());
            group.events.push_back((Arc::clone(ev), b));
            self.held += b;
            if (group.events.len() as u64) < self.value {
                continue;
            }
            let distinct: Vec<(String, u64)> = self
                .cardinality
                .iter()
                .map(|c| (c.field.clone(), distinct(&group.events, &c.field)))
                .collect();
            if distinct
                .iter()
                .zip(&self.cardinality)
                .any(|((_, n), c)| *n < c.value)
            {
                continue;
            }
            self.held -= group.bytes();
            let events: Vec<Arc<Event>> = std::mem::take(&mut group.events)
                .into_iter()
                .map(|(e, _)| e)
                .collect();
            out.push(Hit {
                terms: group.terms.clone(),
                count: events.len() as u64,
                cardinality: distinct,
                from_ms: events.first().map_or(ts, |e| e.timestamp_ms),
                events: events
                    .iter()
                    .rev()
                    .take(MAX_ALERT_EVENTS)
                    .rev()
                    .cloned()
                    .collect(),
            });
        }
    }
}

fn scalar_values(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(items)) => items
            .iter()
            .filter(|i| !matches!(i, Value::Null))
            .cloned()
            .collect(),
        Some(other) => vec![other.clone()],
    }
}

/// Every group the event falls in (one without group-by fields: the single group).
fn group_terms(ev: &Event, fields: &[String]) -> Vec<Vec<(String, Value)>> {
    let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for f in fields {
        let vals = scalar_values(ev.get(f));
        if vals.is_empty() {
            return Vec::new();
        }
        out = out
            .into_iter()
            .flat_map(|prefix| {
                vals.iter().map(move |v| {
                    let mut t = prefix.clone();
                    t.push((f.clone(), v.clone()));
                    t
                })
            })
            .take(64)
            .collect();
    }
    out
}

fn distinct(events: &VecDeque<(Arc<Event>, usize)>, field: &str) -> u64 {
    let mut seen: Vec<Vec<u8>> = events
        .iter()
        .flat_map(|(e, _)| scalar_values(e.get(field)))
        .map(|v| serde_json::to_vec(&v.to_json()).unwrap_or_default())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, host: &str, user: &str) -> Arc<Event> {
        let mut e = Event::new(ts);
        e.push("host.id", host);
        e.push("user.name", user);
        Arc::new(e)
    }

    /// The running count of held bytes follows window expiry, alerts (which consume a
    /// group's events) and `shed`.
    #[test]
    fn held_bytes_follow_the_groups() {
        let mut t = Tracker::new(&["host.id".to_owned()], 5, &[], 40);
        let mut hits = Vec::new();
        for i in 0..2000 {
            let host = format!("h{}", (i * 7919) % 7);
            let user = "u".repeat((i % 50) as usize);
            t.observe(&ev(i, &host, &user), &mut hits);
            assert_eq!(t.held_bytes(), t.recount(), "after event {i}");
        }
        assert!(!hits.is_empty());
        let before = t.held_bytes();
        assert!(before > 0);
        let shed = t.shed(before / 3);
        assert!(shed > 0 && t.held_bytes() <= before / 3);
        assert_eq!(t.held_bytes(), t.recount());
        t.shed(0);
        assert_eq!((t.held_bytes(), t.groups.len()), (0, 0));
    }

    #[test]
    fn counts_per_group_within_window_and_consumes() {
        let mut t = Tracker::new(&["host.id".to_owned()], 3, &[], 60_000);
        let mut hits = Vec::new();
        t.observe(&ev(0, "a", "u"), &mut hits);
        t.observe(&ev(1, "b", "u"), &mut hits);
        t.observe(&ev(2, "a", "u"), &mut hits);
        assert!(hits.is_empty());
        t.observe(&ev(3, "a", "u"), &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].terms,
            vec![("host.id".to_owned(), Value::from("a"))]
        );
        assert_eq!(
            (hits[0].count, hits[0].from_ms, hits[0].events.len()),
            (3, 0, 3)
        );
        // Consumed: the next alert needs three more.
        hits.clear();
        t.observe(&ev(4, "a", "u"), &mut hits);
        t.observe(&ev(5, "a", "u"), &mut hits);
        assert!(hits.is_empty());
        // Events older than the window fall out.
        t.observe(&ev(70_000, "a", "u"), &mut hits);
        assert!(hits.is_empty());
    }

    #[test]
    fn cardinality_and_missing_fields() {
        let card = [Cardinality {
            field: "user.name".to_owned(),
            value: 2,
        }];
        let mut t = Tracker::new(&["host.id".to_owned()], 2, &card, 60_000);
        let mut hits = Vec::new();
        t.observe(&ev(0, "a", "u1"), &mut hits);
        t.observe(&ev(1, "a", "u1"), &mut hits);
        assert!(hits.is_empty(), "one distinct user only");
        t.observe(&ev(2, "a", "u2"), &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].cardinality, vec![("user.name".to_owned(), 2)]);
        let mut nohost = Event::new(3);
        nohost.push("user.name", "x");
        let nohost = Arc::new(nohost);
        for _ in 0..5 {
            t.observe(&nohost, &mut hits);
        }
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn no_group_fields_is_one_group_and_groups_are_bounded() {
        let mut t = Tracker::new(&[], 2, &[], 1000);
        let mut hits = Vec::new();
        t.observe(&ev(0, "a", "u"), &mut hits);
        t.observe(&ev(1, "b", "v"), &mut hits);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].terms.is_empty());
        let mut t = Tracker::new(&["host.id".to_owned()], 2, &[], 1 << 40);
        for i in 0..(MAX_GROUPS + 10) {
            t.observe(&ev(i as i64, &format!("h{i}"), "u"), &mut hits);
        }
        assert_eq!(t.groups.len(), MAX_GROUPS);
        assert_eq!(t.dropped_groups, 10);
        // The least recently counted went: h0..h9.
        let key = |h: &str| serde_json::to_vec(&[serde_json::json!(h)]).unwrap();
        assert!(!t.groups.contains_key(&key("h9")));
        assert!(t.groups.contains_key(&key("h10")));
    }

    /// Groups whose last event left the window go (they could never count again), in time
    /// order, and a group counted again stays.
    #[test]
    fn idle_groups_expire_with_the_window() {
        let mut t = Tracker::new(&["host.id".to_owned()], 1_000, &[], 1000);
        let mut hits = Vec::new();
        for i in 0..5_000i64 {
            t.observe(&ev(i, &format!("h{i}"), "u"), &mut hits);
            t.observe(&ev(i, "busy", "u"), &mut hits);
        }
        // Those of the last second, and `busy`.
        assert_eq!(t.groups.len(), 1_002, "{}", t.groups.len());
        assert_eq!(t.held_bytes(), t.recount());
        assert_eq!(t.dropped_groups, 0, "expiry is not a drop");
        assert!(t.order.len() <= 2 * t.groups.len() + 1024);
    }
}
