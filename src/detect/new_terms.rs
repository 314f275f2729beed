//! `new_terms` state: when each tuple of `new_terms_fields` was last seen, per rule.
//!
//! A tuple is new when it was never seen, or last seen longer ago than the rule's
//! `history_window_start` (`now-10d`): the streaming form of Elastic's "not in the history
//! window". Times are event times (`@timestamp`), so replaying a log gives the same answer.
//!
//! Multi-valued fields expand into tuples (the cartesian product, capped at `MAX_TUPLES` per
//! event so an attacker's long argv cannot blow it up). An event missing any of the fields
//! gives no tuple, like Elastic's composite aggregation.
//!
//! With a state directory the tuples live in `new_terms.redb` there, so a restart neither
//! forgets history nor re-alerts: a new tuple is committed before its alert is returned;
//! refreshed last-seen times are written in batches (`flush`). Without one the state is in
//! memory only.
//!
//! Warm-up: Elastic does not alert on terms already present in the history window when a rule
//! first runs; a fresh sensor has no such history. `warmup_ms` (default 0) sets a learn-only
//! period counted from the rule's first event on this state (persisted too): tuples first seen
//! in it are recorded, not alerted. With 0, the first sighting of every tuple alerts.

use crate::event::Value;
use redb::{Database, TableDefinition};
use std::collections::HashMap;
use std::path::Path;

const SEEN: TableDefinition<&[u8], i64> = TableDefinition::new("new_terms_last_seen");
const FIRST_RUN: TableDefinition<&[u8], i64> = TableDefinition::new("new_terms_first_run");

/// Tuples one event may expand into; the rest are ignored (and counted).
pub const MAX_TUPLES: usize = 64;
/// Tuples remembered per rule; beyond it expired ones are pruned, then the oldest.
pub const MAX_ENTRIES: usize = 500_000;
/// A refreshed last-seen time is written back only when it moved at least this far, which
/// keeps steady traffic from rewriting the database.
const REFRESH_GRANULARITY_MS: i64 = 60 * 60 * 1000;

/// The shared database; one per engine.
pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("new_terms.redb");
        let db = Database::create(&path)
            .map_err(|e| io_err(&format!("cannot open {}", path.display()), e))?;
        let tx = db.begin_write().map_err(|e| io_err("redb", e))?;
        tx.open_table(SEEN).map_err(|e| io_err("redb", e))?;
        tx.open_table(FIRST_RUN).map_err(|e| io_err("redb", e))?;
        tx.commit().map_err(|e| io_err("redb", e))?;
        Ok(Store { db })
    }
}

fn io_err(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

/// Outcome of one matching event.
#[derive(Debug, Default)]
pub struct Seen {
    /// Tuples that are new (to alert on), each as the field values in rule order.
    pub new: Vec<Vec<Value>>,
    /// New tuples only recorded because the rule is warming up.
    pub learned: u64,
    /// Tuples beyond `MAX_TUPLES`.
    pub truncated: u64,
}

pub struct Tracker {
    /// Key prefix in the store: rule id and fields, so changing the fields starts afresh.
    prefix: Vec<u8>,
    fields: Vec<String>,
    history_ms: i64,
    warmup_ms: i64,
    first_run: Option<i64>,
    /// Encoded tuple → (last seen, last seen as stored).
    seen: HashMap<Vec<u8>, (i64, i64)>,
    dirty: Vec<Vec<u8>>,
    pub errors: u64,
}

impl Tracker {
    pub fn new(
        rule_id: &str,
        fields: &[String],
        history_ms: i64,
        warmup_ms: i64,
        store: Option<&Store>,
    ) -> std::io::Result<Tracker> {
        let mut prefix = rule_id.as_bytes().to_vec();
        prefix.push(0);
        prefix.extend_from_slice(fields.join(",").as_bytes());
        prefix.push(0);
        let mut t = Tracker {
            prefix,
            fields: fields.to_vec(),
            history_ms,
            warmup_ms,
            first_run: None,
            seen: HashMap::new(),
            dirty: Vec::new(),
            errors: 0,
        };
        if let Some(store) = store {
            let rtx = store.db.begin_read().map_err(|e| io_err("redb", e))?;
            let table = rtx.open_table(SEEN).map_err(|e| io_err("redb", e))?;
            for item in table
                .range(t.prefix.as_slice()..)
                .map_err(|e| io_err("redb", e))?
            {
                let (k, v) = item.map_err(|e| io_err("redb", e))?;
                let Some(tuple) = k.value().strip_prefix(t.prefix.as_slice()) else {
                    break;
                };
                t.seen.insert(tuple.to_vec(), (v.value(), v.value()));
            }
            let first = rtx.open_table(FIRST_RUN).map_err(|e| io_err("redb", e))?;
            t.first_run = first
                .get(t.prefix.as_slice())
                .map_err(|e| io_err("redb", e))?
                .map(|v| v.value());
        }
        Ok(t)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Records the tuples of an event at `ts` whose fields `get` reads, and returns the new
    /// ones. A view of an event is read in place, its document not built.
    pub fn observe_fields<'a>(
        &mut self,
        ts: i64,
        get: impl Fn(&str) -> Option<&'a Value>,
        store: Option<&Store>,
    ) -> Seen {
        let mut out = Seen::default();
        let mut first_run_new = false;
        let first_run = *self.first_run.get_or_insert_with(|| {
            first_run_new = true;
            ts
        });
        let warming = ts < first_run.saturating_add(self.warmup_ms);
        let (tuples, truncated) = tuples(get, &self.fields);
        out.truncated = truncated;
        let mut fresh: Vec<Vec<u8>> = Vec::new();
        for tuple in tuples {
            let key = encode(&tuple);
            match self.seen.get_mut(&key) {
                Some((last, stored)) if ts.saturating_sub(*last) <= self.history_ms => {
                    if ts > *last {
                        *last = ts;
                        if ts - *stored >= REFRESH_GRANULARITY_MS {
                            self.dirty.push(key);
                        }
                    }
                }
                _ => {
                    // Never seen, or not within the history window: new again.
                    self.seen.insert(key.clone(), (ts, ts));
                    fresh.push(key);
                    if warming {
                        out.learned += 1;
                    } else {
                        out.new.push(tuple);
                    }
                }
            }
        }
        if self.seen.len() > MAX_ENTRIES {
            self.prune(ts);
        }
        if let Some(store) = store {
            if !fresh.is_empty() || first_run_new {
                // Committed now, before the alert leaves: a crash cannot make it alert twice.
                let r = self.write(store, &fresh, first_run_new.then_some(first_run));
                if r.is_err() {
                    self.errors += 1;
                }
            }
        }
        out
    }

    fn prune(&mut self, now: i64) {
        let horizon = now.saturating_sub(self.history_ms);
        self.seen.retain(|_, (last, _)| *last >= horizon);
        if self.seen.len() > MAX_ENTRIES {
            let mut times: Vec<i64> = self.seen.values().map(|(l, _)| *l).collect();
            let cut = times.len() - MAX_ENTRIES * 9 / 10;
            let (_, nth, _) = times.select_nth_unstable(cut);
            let nth = *nth;
            self.seen.retain(|_, (last, _)| *last > nth);
        }
    }

    #[allow(clippy::result_large_err)] // redb's own error type, only counted by the caller
    fn write(
        &mut self,
        store: &Store,
        keys: &[Vec<u8>],
        first_run: Option<i64>,
    ) -> Result<(), redb::Error> {
        let tx = store.db.begin_write()?;
        {
            let mut table = tx.open_table(SEEN)?;
            let mut full = self.prefix.clone();
            for key in keys {
                full.truncate(self.prefix.len());
                full.extend_from_slice(key);
                if let Some((last, stored)) = self.seen.get_mut(key) {
                    table.insert(full.as_slice(), *last)?;
                    *stored = *last;
                }
            }
            if let Some(t) = first_run {
                tx.open_table(FIRST_RUN)?
                    .insert(self.prefix.as_slice(), t)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes refreshed last-seen times back.
    pub fn flush(&mut self, store: &Store) {
        if self.dirty.is_empty() {
            return;
        }
        let mut keys = std::mem::take(&mut self.dirty);
        keys.sort();
        keys.dedup();
        if self.write(store, &keys, None).is_err() {
            self.errors += 1;
        }
    }
}

/// The values of one field: a list gives each element, a missing or null field none.
fn values(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(items)) => items.iter().filter(|i| !matches!(i, Value::Null)).collect(),
        Some(other) => vec![other],
    }
}

/// The cartesian product of the fields' values, at most `MAX_TUPLES`; the count beyond it.
fn tuples<'a>(
    get: impl Fn(&str) -> Option<&'a Value>,
    fields: &[String],
) -> (Vec<Vec<Value>>, u64) {
    let per_field: Vec<Vec<&Value>> = fields.iter().map(|f| values(get(f))).collect();
    if per_field.iter().any(Vec::is_empty) {
        return (Vec::new(), 0);
    }
    let total: u64 = per_field
        .iter()
        .fold(1u64, |acc, v| acc.saturating_mul(v.len() as u64));
    let mut out: Vec<Vec<Value>> = vec![Vec::with_capacity(fields.len())];
    for vals in &per_field {
        let mut next = Vec::with_capacity((out.len() * vals.len()).min(MAX_TUPLES));
        'outer: for prefix in &out {
            for v in vals {
                if next.len() == MAX_TUPLES {
                    break 'outer;
                }
                let mut t = prefix.clone();
                t.push((*v).clone());
                next.push(t);
            }
        }
        out = next;
    }
    let truncated = total.saturating_sub(out.len() as u64);
    (out, truncated)
}

/// Encoded tuples longer than this are kept as their SHA-256: history must not cost what an
/// attacker's command lines weigh (up to `MAX_ENTRIES` of them per rule, in memory and on
/// disk).
const MAX_KEY: usize = 64;
/// First byte of a digest key; an encoded tuple is JSON and starts with `[`.
const DIGEST: u8 = 0xff;

fn encode(tuple: &[Value]) -> Vec<u8> {
    let json = serde_json::to_vec(&tuple.iter().map(Value::to_json).collect::<Vec<_>>())
        .unwrap_or_default();
    if json.len() <= MAX_KEY {
        return json;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &json);
    let mut key = Vec::with_capacity(1 + digest.as_ref().len());
    key.push(DIGEST);
    key.extend_from_slice(digest.as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    impl Tracker {
        fn observe(&mut self, ev: &Event, store: Option<&Store>) -> Seen {
            self.observe_fields(ev.timestamp_ms, |f| ev.get(f), store)
        }
    }

    /// A tuple with a long value is remembered by its digest: a fixed-size key, the same for
    /// the same value (known on the second sighting, also after a restart), different for a
    /// value that differs in one byte.
    #[test]
    fn long_tuples_are_kept_as_digests() {
        let dir = std::env::temp_dir().join(format!("aw-nt-digest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let fields = ["host.id".to_owned(), "process.command_line".to_owned()];
        let cmd = |c: char| {
            let mut e = Event::new(1000);
            e.push("host.id", "h");
            e.push(
                "process.command_line",
                format!("sh -c {}", "x".repeat(10_000)) + &c.to_string(),
            );
            e
        };
        let mut t = Tracker::new("r", &fields, 10 * DAY, 0, Some(&store)).unwrap();
        assert_eq!(t.observe(&cmd('a'), Some(&store)).new.len(), 1);
        assert_eq!(t.observe(&cmd('a'), Some(&store)).new.len(), 0);
        let new = t.observe(&cmd('b'), Some(&store)).new;
        assert_eq!(new.len(), 1, "one byte apart is another tuple");
        // The alert still carries the value itself.
        assert!(matches!(&new[0][1], Value::Str(s) if s.len() == 10_007));
        assert!(t.seen.keys().all(|k| k.len() == 33 && k[0] == DIGEST));
        // A short tuple stays readable JSON.
        let mut short = Event::new(1000);
        short.push("host.id", "h");
        short.push("process.command_line", "id");
        t.observe(&short, Some(&store));
        assert!(t.seen.contains_key(br#"["h","id"]"#.as_slice()));
        drop(t);
        let mut again = Tracker::new("r", &fields, 10 * DAY, 0, Some(&store)).unwrap();
        assert_eq!(again.len(), 3);
        assert!(again.observe(&cmd('b'), Some(&store)).new.is_empty());
        drop((again, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn ev(ts: i64, host: &str, path: &str, exe: Value) -> Event {
        let mut e = Event::new(ts);
        e.push("host.id", host);
        e.push("file.path", path);
        e.push("process.executable", exe);
        e
    }
    fn fields() -> Vec<String> {
        ["host.id", "file.path", "process.executable"]
            .map(String::from)
            .to_vec()
    }
    const DAY: i64 = 86_400_000;

    #[test]
    fn new_then_known_then_expired() {
        let mut t = Tracker::new("r", &fields(), 10 * DAY, 0, None).unwrap();
        let a = ev(1000, "h", "/usr/lib/x.so", "/tmp/cc".into());
        assert_eq!(t.observe(&a, None).new.len(), 1);
        assert!(t
            .observe(&ev(2000, "h", "/usr/lib/x.so", "/tmp/cc".into()), None)
            .new
            .is_empty());
        // Another host makes another tuple.
        assert_eq!(
            t.observe(&ev(3000, "h2", "/usr/lib/x.so", "/tmp/cc".into()), None)
                .new
                .len(),
            1
        );
        // Within 10 days of the last sighting: still known; after it: new again.
        assert!(t
            .observe(
                &ev(2000 + 10 * DAY, "h", "/usr/lib/x.so", "/tmp/cc".into()),
                None
            )
            .new
            .is_empty());
        assert_eq!(
            t.observe(
                &ev(2001 + 20 * DAY + 1, "h", "/usr/lib/x.so", "/tmp/cc".into()),
                None
            )
            .new
            .len(),
            1
        );
    }

    #[test]
    fn multi_valued_fields_expand_and_missing_fields_give_nothing() {
        let mut t = Tracker::new("r", &fields(), DAY, 0, None).unwrap();
        let e = ev(1, "h", "/p", Value::List(vec!["/a".into(), "/b".into()]));
        let seen = t.observe(&e, None);
        assert_eq!(seen.new.len(), 2);
        assert_eq!(
            seen.new[1],
            vec![Value::from("h"), Value::from("/p"), Value::from("/b")]
        );
        let mut missing = Event::new(2);
        missing.push("host.id", "h");
        assert!(t.observe(&missing, None).new.is_empty());
        let many = Value::List((0..200).map(|i| Value::from(format!("/x{i}"))).collect());
        let seen = t.observe(&ev(3, "h", "/p", many), None);
        assert_eq!(seen.new.len(), MAX_TUPLES);
        assert_eq!(seen.truncated, 200 - MAX_TUPLES as u64);
    }

    #[test]
    fn warmup_learns_without_alerting() {
        let mut t = Tracker::new("r", &fields(), 10 * DAY, 3_600_000, None).unwrap();
        let s = t.observe(&ev(0, "h", "/a", "/e".into()), None);
        assert!(s.new.is_empty());
        assert_eq!(s.learned, 1);
        assert!(t
            .observe(&ev(3_599_999, "h", "/b", "/e".into()), None)
            .new
            .is_empty());
        // After the hour: a tuple learned during warm-up stays known, a new one alerts.
        assert!(t
            .observe(&ev(3_600_000, "h", "/a", "/e".into()), None)
            .new
            .is_empty());
        assert_eq!(
            t.observe(&ev(3_600_001, "h", "/c", "/e".into()), None)
                .new
                .len(),
            1
        );
    }

    #[test]
    fn persisted_across_reopen() {
        let dir = std::env::temp_dir().join(format!("aw-nt-{}-{}", std::process::id(), line!()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = Store::open(&dir).unwrap();
            let mut t = Tracker::new("r", &fields(), 10 * DAY, 0, Some(&store)).unwrap();
            assert_eq!(
                t.observe(&ev(1000, "h", "/a", "/e".into()), Some(&store))
                    .new
                    .len(),
                1
            );
            // A refresh two hours later is written by flush.
            t.observe(
                &ev(1000 + 2 * 3_600_000, "h", "/a", "/e".into()),
                Some(&store),
            );
            t.flush(&store);
        }
        let store = Store::open(&dir).unwrap();
        let mut t = Tracker::new("r", &fields(), 10 * DAY, 0, Some(&store)).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t
            .observe(&ev(5000, "h", "/a", "/e".into()), Some(&store))
            .new
            .is_empty());
        // Known until 10 days after the refreshed sighting, not the first one.
        assert!(t
            .observe(
                &ev(1000 + 2 * 3_600_000 + 10 * DAY, "h", "/a", "/e".into()),
                Some(&store)
            )
            .new
            .is_empty());
        // Another rule (or the same rule with other fields) has its own history.
        let mut other = Tracker::new("r", &fields()[..2], 10 * DAY, 0, Some(&store)).unwrap();
        assert_eq!(other.len(), 0);
        assert_eq!(
            other
                .observe(&ev(6000, "h", "/a", "/e".into()), Some(&store))
                .new
                .len(),
            1
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
