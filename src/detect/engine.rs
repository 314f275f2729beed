//! The rule engine: every event through every loaded rule.
//!
//! - Data sources. A rule whose `index` names Elastic Defend data (`logs-endpoint.events.*`,
//!   per data stream: `logs-endpoint.events.file*` sees only file events) runs on the Defend
//!   view of the event (`crate::ecs::defend::defend_view`, computed once per event and only when
//!   some rule needs it). A rule naming `auditbeat-*` / `logs-auditd_manager.auditd-*`, or no
//!   index, runs on the Auditbeat-shaped event. A rule naming both runs on both, an event
//!   counted once and an alert raised once. A rule naming neither (`endgame-*`,
//!   `logs-crowdstrike.*`, `.alerts-security.*`) can never match this sensor's data: it is
//!   loaded but inactive (`Stats::inactive_rules`).
//! - Dispatch (`super::dispatch`). Each rule's query is analysed for a necessary condition
//!   (atoms such as `process.name ∈ {...}`, `process.args` starting with `--upload`, one of
//!   which must hold); rules are indexed by it, so an event is only tried against the rules
//!   whose condition it meets. Rules without one are tried on every event.
//! - `max_signals` caps alerts per rule per look-back window (`from`); the rest are counted in
//!   `RuleStats::suppressed`.
//! - Time is event time (`Event::timestamp_ms`) throughout: windows, maxspan, history.

use super::alert::{Alert, ThresholdResult};
use super::dispatch::{necessary, query_key, second_key, Dispatch, Key, Marks, SECOND};
use super::eql::{self, EventRef, FieldIndex, Filter, IndexedEvent, Limits, Runtime};
use super::new_terms::{self, Store};
use super::rule::{Rule, RuleKind};
use super::threshold;
use crate::ecs::defend::DEFEND_READS;
use crate::event::{Event, Value};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where persistent rule state lives (`new_terms.redb`); `None` keeps it in memory.
    pub state_dir: Option<PathBuf>,
    /// new_terms learn-only period from a rule's first event on this state (0: the first
    /// sighting of every tuple alerts). See `new_terms`.
    pub new_terms_warmup_ms: i64,
    /// Bounds on EQL sequence and sample state per rule.
    pub eql_limits: Limits,
    /// Budget for the events all rules hold (sequence, sample and threshold state), in
    /// `Event::heap_bytes`: beyond it the rule holding most drops its oldest state.
    pub max_held_bytes: usize,
    /// Try every rule on every event instead of only those whose key the event meets (for
    /// checking the dispatcher; slow).
    pub no_dispatch: bool,
}

/// The default of `EngineConfig::max_held_bytes`.
pub const DEFAULT_MAX_HELD_BYTES: usize = 64 << 20;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            state_dir: None,
            new_terms_warmup_ms: 0,
            eql_limits: Limits::default(),
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            no_dispatch: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleStats {
    pub rule_id: String,
    pub name: String,
    /// Events the dispatcher handed to the rule.
    pub evaluated: u64,
    /// Events (or EQL matches) that satisfied the rule.
    pub matches: u64,
    pub alerts: u64,
    /// Alerts dropped by `max_signals`.
    pub suppressed: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    /// Events that had a Elastic Defend view (computed only when some rule needs one).
    pub defend_views: u64,
    pub alerts: u64,
    pub suppressed: u64,
    pub rules: usize,
    pub inactive_rules: usize,
    /// Rules dropped because a later rule had the same `rule_id`.
    pub replaced_rules: usize,
    /// Rules tried per event on average ×1000 (how well dispatch works).
    pub rule_evals: u64,
    /// Partial EQL matches dropped by `Limits` or the held-bytes budget.
    pub eql_dropped: u64,
    /// Bytes of the events rules hold now (`EngineConfig::max_held_bytes` bounds it), and
    /// the most they held.
    pub held_bytes: u64,
    pub held_peak: u64,
    /// Rule states (partial matches, sample keys, threshold groups) dropped to stay within
    /// the budget; they count in `eql_dropped` / `threshold_groups_dropped` too.
    pub shed_states: u64,
    /// new_terms state write failures (the state stays in memory).
    pub state_errors: u64,
    pub new_terms_learned: u64,
    /// Tuples remembered across all new_terms rules.
    pub new_terms_entries: u64,
    pub new_terms_truncated: u64,
    pub threshold_groups_dropped: u64,
    pub per_rule: Vec<RuleStats>,
}

/// See [`Engine::state_counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateCounters {
    pub held_bytes: u64,
    pub held_peak_bytes: u64,
    /// States dropped by any bound.
    pub dropped: u64,
    /// Of them, dropped to stay within the held-bytes budget.
    pub shed: u64,
}

/// Which views of an event a rule runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub auditbeat: bool,
    /// Bit `i` set: the rule reads Defend data stream `DEFEND_STREAMS[i]`.
    pub defend: u16,
}

/// Elastic Defend's event data streams (`logs-endpoint.events.<stream>-<namespace>`).
const DEFEND_STREAMS: [&str; 8] = [
    "process", "file", "network", "library", "security", "api", "registry", "session",
];

/// `*`-only glob, the form of index patterns.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Sources {
    pub fn of(index: &[String]) -> Sources {
        if index.is_empty() {
            return Sources {
                auditbeat: true,
                defend: 0,
            };
        }
        let any = |name: &str| index.iter().any(|p| glob(p.trim(), name));
        let auditbeat =
            any("auditbeat-8.17.0-2026.01.01") || any("logs-auditd_manager.auditd-default");
        let mut defend = 0;
        for (i, s) in DEFEND_STREAMS.iter().enumerate() {
            if any(&format!("logs-endpoint.events.{s}-default")) {
                defend |= 1 << i;
            }
        }
        Sources { auditbeat, defend }
    }
    fn active(&self) -> bool {
        self.auditbeat || self.defend != 0
    }
}

/// The Defend data stream bit of a Defend view (all bits when it names none we know).
fn stream_bit(view: &Event) -> u16 {
    let ds = view
        .get_str("event.dataset")
        .or_else(|| view.get_str("data_stream.dataset"))
        .unwrap_or("");
    let s = ds.strip_prefix("endpoint.events.").unwrap_or("");
    DEFEND_STREAMS
        .iter()
        .position(|k| *k == s)
        .map_or(u16::MAX, |i| 1 << i)
}

const AB: usize = 0;
const DEF: usize = 1;

enum State {
    Filter(Filter),
    Eql(Box<[Option<Runtime>; 2]>),
    NewTerms(Filter, new_terms::Tracker),
    Threshold(Filter, threshold::Tracker),
}

impl State {
    /// Bytes of the events this rule's state holds.
    fn held_bytes(&self) -> usize {
        match self {
            State::Eql(rts) => rts.iter().flatten().map(Runtime::held_bytes).sum(),
            State::Threshold(_, t) => t.held_bytes(),
            State::Filter(_) | State::NewTerms(..) => 0,
        }
    }

    /// Partial matches, sample keys or threshold groups a bound dropped.
    fn dropped(&self) -> u64 {
        match self {
            State::Eql(rts) => rts.iter().flatten().map(Runtime::dropped).sum(),
            State::Threshold(_, t) => t.dropped_groups,
            State::Filter(_) | State::NewTerms(..) => 0,
        }
    }

    /// Drops the oldest state until at most `target` bytes are held; returns how many
    /// partial matches or groups went.
    fn shed(&mut self, target: usize) -> u64 {
        match self {
            State::Eql(rts) => {
                let [a, b] = &mut **rts;
                let mut rts: Vec<&mut Runtime> =
                    [a.as_mut(), b.as_mut()].into_iter().flatten().collect();
                // The bigger one first, down to what leaves room for the other.
                rts.sort_by_key(|rt| std::cmp::Reverse(rt.held_bytes()));
                let mut n = 0;
                for i in 0..rts.len() {
                    let all: usize = rts.iter().map(|rt| rt.held_bytes()).sum();
                    let others = all - rts[i].held_bytes();
                    n += rts[i].shed(target.saturating_sub(others));
                }
                n
            }
            State::Threshold(_, t) => t.shed(target),
            State::Filter(_) | State::NewTerms(..) => 0,
        }
    }
}

struct Slot {
    state: State,
    meta: Meta,
}

struct Meta {
    rule: Arc<Rule>,
    sources: Sources,
    window_start: i64,
    window_count: usize,
    stats: RuleStats,
    /// Recent EQL matches as (timestamp, arrival) lists, to raise a match seen on both
    /// views once.
    recent: VecDeque<Vec<(i64, u64)>>,
}

pub struct Engine {
    slots: Vec<Slot>,
    store: Option<Store>,
    need_defend: bool,
    dispatch: Dispatch,
    stats: Stats,
    /// The Defend view of an event as an overlay (`crate::ecs::defend::defend_overlay_from`),
    /// decided on the fields at `defend_reads` (`DEFEND_READS`, read from the field index).
    defend_overlay: DefendView,
    defend_reads: [eql::Slot; DEFEND_READS.len()],
    // Scratch, reused per event.
    /// Boxed: taken out for each event and put back, which moves a pointer, not the tables.
    index: Option<Box<[FieldIndex; 2]>>,
    /// Per rule and view: whether dispatch named it for this event, and the stages its keys
    /// say may match (`dispatch::stage_bit`).
    marks: Marks,
    cands: Vec<u32>,
    matches: Vec<Vec<Arc<Event>>>,
    hits: Vec<threshold::Hit>,
    /// Bytes of the events all rules hold (the sum of their `held_bytes`), and the budget.
    held: usize,
    max_held: usize,
    shed_warn: crate::ratelimit::RateLimited,
}

/// A Defend view as an overlay, decided on the first values of `DEFEND_READS`.
pub type DefendView = fn(&Event, [Option<&Value>; DEFEND_READS.len()]) -> Option<Arc<Event>>;

impl Engine {
    /// Builds the engine; fails only when the state directory cannot be opened.
    pub fn new(rules: Vec<Rule>, config: EngineConfig) -> std::io::Result<Engine> {
        Engine::with_overlay(rules, config, crate::ecs::defend::defend_overlay_from)
    }

    /// As `new`, with another Defend view (as an overlay, see `Event::overlaid`).
    pub fn with_overlay(
        rules: Vec<Rule>,
        config: EngineConfig,
        view: DefendView,
    ) -> std::io::Result<Engine> {
        let store = match &config.state_dir {
            Some(dir) => Some(Store::open(dir)?),
            None => None,
        };
        Engine::build(rules, config, view, store, &mut HashMap::new())
    }

    /// Swaps in a new rule set (SIGHUP) without losing state: a rule whose id, type, language,
    /// query, index, look-back and `max_signals` are unchanged keeps its running state
    /// (sequences and samples in progress, new_terms history, threshold groups, counters);
    /// new or changed rules start fresh. The state database stays open throughout. If the new
    /// set cannot be built, the running one is kept and the error returned.
    pub fn reload(&mut self, rules: Vec<Rule>, config: EngineConfig) -> std::io::Result<()> {
        self.flush();
        let mut carry: HashMap<Fingerprint, Slot> = self
            .slots
            .drain(..)
            .map(|s| (fingerprint(&s.meta.rule), s))
            .collect();
        let store = self.store.take();
        let state_dir = config.state_dir.clone();
        let totals = (self.stats.events, self.stats.alerts, self.stats.suppressed);
        match Engine::build(rules, config, self.defend_overlay, store, &mut carry) {
            Ok(mut fresh) => {
                (
                    fresh.stats.events,
                    fresh.stats.alerts,
                    fresh.stats.suppressed,
                ) = totals;
                *self = fresh;
                Ok(())
            }
            Err(e) => {
                // Rules that were not reached are still in `carry`; the store went down with
                // the failed build, so open it again.
                self.slots = carry.into_values().collect();
                self.store = match &state_dir {
                    Some(dir) => Some(Store::open(dir)?),
                    None => None,
                };
                Err(e)
            }
        }
    }

    fn build(
        rules: Vec<Rule>,
        config: EngineConfig,
        view: DefendView,
        store: Option<Store>,
        carry: &mut HashMap<Fingerprint, Slot>,
    ) -> std::io::Result<Engine> {
        let mut slots = Vec::with_capacity(rules.len());
        let mut keys: Vec<[Option<Key>; 2]> = Vec::new();
        let mut seconds: Vec<Option<Key>> = Vec::new();
        let mut inactive = 0;
        // A rule_id loaded twice (the bundled copy and an updated file in the rules
        // directory) runs once: the later one wins.
        let total = rules.len();
        let mut last: HashMap<String, usize> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            last.insert(r.rule_id.clone(), i);
        }
        let rules: Vec<Rule> = rules
            .into_iter()
            .enumerate()
            .filter(|(i, r)| last[&r.rule_id] == *i)
            .map(|(_, r)| r)
            .collect();
        let replaced = total - rules.len();
        for rule in rules {
            let sources = Sources::of(&rule.index);
            if !sources.active() {
                inactive += 1;
                continue;
            }
            let (key, second) = rule_keys(&rule);
            seconds.push(second);
            keys.push([
                key.clone().filter(|_| sources.auditbeat),
                key.filter(|_| sources.defend != 0),
            ]);
            if let Some(mut slot) = carry.remove(&fingerprint(&rule)) {
                slot.meta.stats.name = rule.name.clone();
                slot.meta.rule = Arc::new(rule);
                slots.push(slot);
                continue;
            }
            let state = match &rule.kind {
                RuleKind::Query { filter, .. } => State::Filter(filter.clone()),
                RuleKind::Eql { query } => {
                    let rt =
                        |on: bool| on.then(|| Runtime::new(Arc::clone(query), config.eql_limits));
                    State::Eql(Box::new([rt(sources.auditbeat), rt(sources.defend != 0)]))
                }
                RuleKind::NewTerms {
                    filter,
                    fields,
                    history_window_ms,
                    ..
                } => {
                    let t = new_terms::Tracker::new(
                        &rule.rule_id,
                        fields,
                        *history_window_ms,
                        config.new_terms_warmup_ms,
                        store.as_ref(),
                    )?;
                    State::NewTerms(filter.clone(), t)
                }
                RuleKind::Threshold {
                    filter,
                    fields,
                    value,
                    cardinality,
                    ..
                } => {
                    let t = threshold::Tracker::new(fields, *value, cardinality, rule.lookback_ms);
                    State::Threshold(filter.clone(), t)
                }
            };
            let stats = RuleStats {
                rule_id: rule.rule_id.clone(),
                name: rule.name.clone(),
                ..RuleStats::default()
            };
            let meta = Meta {
                rule: Arc::new(rule),
                sources,
                window_start: i64::MIN,
                window_count: 0,
                stats,
                recent: VecDeque::new(),
            };
            slots.push(Slot { state, meta });
        }
        let mut dispatch = Dispatch::default();
        for (i, (slot, key)) in slots.iter().zip(&keys).enumerate() {
            let sees = [slot.meta.sources.auditbeat, slot.meta.sources.defend != 0];
            let second = seconds[i].as_ref().filter(|_| !config.no_dispatch);
            for fam in [AB, DEF] {
                if sees[fam] {
                    let key = key[fam].as_ref().filter(|_| !config.no_dispatch);
                    dispatch.add(i as u32, fam, key);
                    if let (Some(_), Some(second)) = (key, second) {
                        dispatch.add_second(i as u32, fam, second);
                    }
                }
            }
        }
        dispatch.finish();
        let need_defend = slots.iter().any(|s| s.meta.sources.defend != 0);
        let n = slots.len();
        // Carried rules (reload) bring their state.
        let held = slots.iter().map(|s| s.state.held_bytes()).sum();
        Ok(Engine {
            stats: Stats {
                rules: n,
                inactive_rules: inactive,
                replaced_rules: replaced,
                ..Stats::default()
            },
            slots,
            store,
            need_defend,
            dispatch,
            defend_overlay: view,
            defend_reads: DEFEND_READS.map(eql::slot_of),
            index: Some(Box::new([FieldIndex::new(), FieldIndex::new()])),
            marks: Marks::new(n),
            cands: Vec::new(),
            matches: Vec::new(),
            hits: Vec::new(),
            held,
            max_held: config.max_held_bytes,
            shed_warn: crate::ratelimit::RateLimited::new(std::time::Duration::from_secs(10)),
        })
    }

    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.slots.iter().map(|s| &s.meta.rule)
    }

    /// Runs one event through every rule; appends the alerts it completes.
    pub fn on_event(&mut self, ev: Arc<Event>, out: &mut Vec<Alert>) {
        self.on_shared(&ev, out)
    }

    /// Runs a batch of events through every rule, in order; appends the alerts they complete.
    /// While one event is handled the memory of the next ones is asked for ahead: the
    /// engine waits on events' memory much of its time, most of all for events another
    /// thread has just built (1.16-1.17x events/s on the engine bench in one sitting, both
    /// feeds, at about the same instruction count).
    pub fn on_batch(&mut self, batch: &[Arc<Event>], out: &mut Vec<Alert>) {
        for (i, ev) in batch.iter().enumerate() {
            // Three steps: the event itself (its `Arc` block), then its field table, then
            // what the fields point to; each step reads what the one before loaded.
            if let Some(e) = batch.get(i + 3) {
                crate::event::prefetch(Arc::as_ptr(e).cast());
            }
            if let Some(e) = batch.get(i + 2) {
                e.prefetch_fields();
            }
            if let Some(e) = batch.get(i + 1) {
                e.prefetch_values();
            }
            self.on_shared(ev, out);
        }
    }

    /// As `on_event`, leaving the caller its reference (to drop the event where it was made).
    pub fn on_shared(&mut self, ev: &Arc<Event>, out: &mut Vec<Alert>) {
        self.stats.events += 1;
        let gen = self.stats.events;
        // One field index per view, shared by the dispatcher and every rule. Taken out of
        // `self` for the duration so the rules can borrow the engine.
        let mut fi =
            (self.index.take()).unwrap_or_else(|| Box::new([FieldIndex::new(), FieldIndex::new()]));
        let [fi_ab, fi_def] = &mut *fi;
        let ix_ab = fi_ab.index(ev);
        self.cands.clear();
        let overlay = if self.need_defend {
            (self.defend_overlay)(ev, self.defend_reads.map(|s| ix_ab.get(s)))
        } else {
            None
        };
        if overlay.is_some() {
            self.stats.defend_views += 1;
        }
        let stream = overlay.as_deref().map_or(0, stream_bit);
        let ix_def = overlay.as_ref().map(|o| fi_def.index_over(&ix_ab, o));
        self.dispatch.collect(
            [Some(&ix_ab), ix_def.as_ref()],
            gen,
            &mut self.marks,
            &mut self.cands,
        );
        if !self.cands.is_empty() {
            self.cands.sort_unstable();
            self.cands.dedup();
            let ref_ab = EventRef::ready(ev);
            // Rules keep the Defend view as the event plus its changes; the full document is
            // built only for an alert.
            let ref_def = overlay.as_ref().map(|o| ref_ab.view(o));
            // A rule sees a view only when that view's dispatch named it (its stamp).
            let views = [
                Some((&ref_ab, &ix_ab)),
                ix_def.as_ref().zip(ref_def.as_ref()).map(|(ix, e)| (e, ix)),
            ];
            self.run_candidates(views, stream, gen, out);
            if self.held > self.max_held {
                self.shed();
            }
            self.stats.held_peak = self.stats.held_peak.max(self.held as u64);
        }
        self.index = Some(fi);
        if gen % 65_536 == 0 {
            self.flush();
        }
    }

    fn run_candidates(
        &mut self,
        views: [Option<(&EventRef, &IndexedEvent)>; 2],
        stream: u16,
        gen: u64,
        out: &mut Vec<Alert>,
    ) {
        for &ci in &self.cands {
            let i = ci as usize;
            let slot = &mut self.slots[i];
            let sees = [
                slot.meta.sources.auditbeat,
                slot.meta.sources.defend & stream != 0,
            ];
            let need = self.dispatch.need(i);
            let sees = |fam: usize| {
                views[fam].filter(|_| {
                    let mk = self.marks.get(fam, i);
                    sees[fam] && mk.gen == gen && mk.stages & need == need
                })
            };
            let v = [sees(AB), sees(DEF)];
            if v[AB].is_none() && v[DEF].is_none() {
                // Only its second key held: the rule cannot match.
                continue;
            }
            slot.meta.stats.evaluated += 1;
            self.stats.rule_evals += 1;
            let first_match = |f: &Filter| {
                v.iter()
                    .flatten()
                    .find(|(_, ix)| f.matches_indexed(ix))
                    .map(|(e, _)| *e)
            };
            match &mut slot.state {
                State::Filter(f) => {
                    if let Some(e) = first_match(f) {
                        raise_one(&mut slot.meta, &mut self.stats, e, out);
                    }
                }
                State::NewTerms(f, tracker) => {
                    if let Some(e) = first_match(f) {
                        slot.meta.stats.matches += 1;
                        // Read in place: the document is built only for an alert.
                        let ts = e.ordinal().0;
                        let seen = tracker.observe_fields(ts, |p| e.field(p), self.store.as_ref());
                        self.stats.new_terms_learned += seen.learned;
                        self.stats.new_terms_truncated += seen.truncated;
                        let mut doc = None;
                        for terms in seen.new {
                            if admit(&mut slot.meta, &mut self.stats, ts) {
                                let doc = doc.get_or_insert_with(|| e.get());
                                let mut alert =
                                    Alert::new(&slot.meta.rule, ts, vec![Arc::clone(doc)]);
                                alert.new_terms = Some(terms);
                                out.push(alert);
                            }
                        }
                    }
                }
                State::Threshold(f, tracker) => {
                    if let Some(e) = first_match(f).map(EventRef::get) {
                        slot.meta.stats.matches += 1;
                        self.hits.clear();
                        let before = tracker.held_bytes();
                        tracker.observe(&e, &mut self.hits);
                        self.held = self.held + tracker.held_bytes() - before;
                        for hit in self.hits.drain(..) {
                            let threshold = ThresholdResult::from(&hit);
                            let mut alert = Alert::new(&slot.meta.rule, e.timestamp_ms, hit.events);
                            alert.threshold = Some(threshold);
                            emit(&mut slot.meta, &mut self.stats, alert, out);
                        }
                    }
                }
                State::Eql(rts) => {
                    let both = rts[AB].is_some() && rts[DEF].is_some();
                    for fam in [AB, DEF] {
                        let (Some(rt), Some((e, ix))) = (rts[fam].as_mut(), v[fam]) else {
                            continue;
                        };
                        let stages = self.marks.get(fam, i).stages;
                        if rt.idle_for(stages) {
                            continue;
                        }
                        e.set_stages(stages);
                        if let Some(matched) = rt.event_matches(ix, e) {
                            if !matched
                                || both && seen_before(&mut slot.meta.recent, vec![e.ordinal()])
                            {
                                continue;
                            }
                            raise_one(&mut slot.meta, &mut self.stats, e, out);
                            continue;
                        }
                        self.matches.clear();
                        let before = rt.held_bytes();
                        rt.on_indexed(ix, e, &mut self.matches);
                        self.held = self.held + rt.held_bytes() - before;
                        if self.matches.is_empty() {
                            continue;
                        }
                        for events in self.matches.drain(..) {
                            if both && seen_before(&mut slot.meta.recent, ordinals(&events)) {
                                continue;
                            }
                            slot.meta.stats.matches += 1;
                            let alert = eql_alert(&slot.meta.rule, events, e.ordinal().0);
                            emit(&mut slot.meta, &mut self.stats, alert, out);
                        }
                    }
                }
            }
        }
    }

    /// Lets time pass without events (call on idle ticks with the stream's clock): completes
    /// sequences whose trailing missing-event stage (`![...]` last) timed out before `now_ms`.
    pub fn on_time(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        let mut matches = Vec::new();
        for slot in &mut self.slots {
            let State::Eql(rts) = &mut slot.state else {
                continue;
            };
            let both = rts[AB].is_some() && rts[DEF].is_some();
            for rt in rts.iter_mut().flatten() {
                matches.clear();
                let before = rt.held_bytes();
                rt.on_time(now_ms, &mut matches);
                self.held = self.held + rt.held_bytes() - before;
                for m in matches.drain(..) {
                    if both && seen_before(&mut slot.meta.recent, ordinals(&m.events)) {
                        continue;
                    }
                    slot.meta.stats.matches += 1;
                    let alert = eql_alert(&slot.meta.rule, m.events, now_ms);
                    emit(&mut slot.meta, &mut self.stats, alert, out);
                }
            }
        }
    }

    /// Brings the events held under the budget: the rule holding most drops its oldest
    /// state, down to what the next one holds or as far as the budget needs, until all
    /// rules together hold at most 7/8 of it (room before the next shed).
    fn shed(&mut self) {
        let target = self.max_held - self.max_held / 8;
        let mut shed = 0;
        while self.held > target {
            let Some((top, second)) = self.biggest_holders() else {
                break;
            };
            let holds = self.slots[top].state.held_bytes();
            let needed = holds.saturating_sub(self.held - target);
            // Rules holding the same take turns, a quarter each.
            let floor = if second < holds {
                second
            } else {
                holds - holds / 4
            };
            let own_target = needed.max(floor);
            let n = self.slots[top].state.shed(own_target);
            let after = self.slots[top].state.held_bytes();
            self.held -= holds - after;
            shed += n;
            if n == 0 && after == holds {
                break;
            }
        }
        self.stats.shed_states += shed;
        if shed > 0 {
            let what = format!(
                "rule state over its budget of {} KiB of held events: dropped the oldest partial matches and groups",
                self.max_held >> 10
            );
            self.shed_warn.hit(&what, self.stats.shed_states);
        }
    }

    /// The state bounds at a glance, without `stats`' per-rule list: bytes of events held
    /// now and at most, and rule states dropped by a bound (`Limits`, threshold groups, the
    /// held-bytes budget).
    pub fn state_counters(&self) -> StateCounters {
        let dropped = self.slots.iter().map(|slot| slot.state.dropped()).sum();
        StateCounters {
            held_bytes: self.held as u64,
            held_peak_bytes: self.stats.held_peak,
            dropped,
            shed: self.stats.shed_states,
        }
    }

    /// The rule holding the most bytes, and what the next one holds.
    fn biggest_holders(&self) -> Option<(usize, usize)> {
        let mut top: Option<(usize, usize)> = None;
        let mut second = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            let b = slot.state.held_bytes();
            match top {
                Some((_, t)) if b <= t => second = second.max(b),
                _ => {
                    second = top.map_or(0, |(_, t)| t);
                    top = Some((i, b));
                }
            }
        }
        top.filter(|(_, b)| *b > 0).map(|(i, _)| (i, second))
    }

    /// Writes batched rule state (refreshed new_terms sightings) to the state directory.
    pub fn flush(&mut self) {
        let Some(store) = &self.store else { return };
        for slot in &mut self.slots {
            if let State::NewTerms(_, t) = &mut slot.state {
                t.flush(store);
            }
        }
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.per_rule = self
            .slots
            .iter()
            .map(|slot| slot.meta.stats.clone())
            .collect();
        s.held_bytes = self.held as u64;
        for slot in &self.slots {
            match &slot.state {
                State::Eql(_) => s.eql_dropped += slot.state.dropped(),
                State::NewTerms(_, t) => {
                    s.state_errors += t.errors;
                    s.new_terms_entries += t.len() as u64;
                }
                State::Threshold(..) => s.threshold_groups_dropped += slot.state.dropped(),
                State::Filter(_) => {}
            }
        }
        s
    }
}

/// What makes two loads of a rule the same rule for `reload`.
type Fingerprint = (String, String, String, String, Vec<String>, i64, usize);

fn fingerprint(r: &Rule) -> Fingerprint {
    (
        r.rule_id.clone(),
        r.rule_type.clone(),
        r.language.clone(),
        r.query.clone(),
        r.index.clone(),
        r.lookback_ms,
        r.max_signals,
    )
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A one-event rule's match: counted, and an alert of the event's document if `max_signals`
/// lets it through (the document is built only then).
fn raise_one(slot: &mut Meta, stats: &mut Stats, e: &EventRef, out: &mut Vec<Alert>) {
    slot.stats.matches += 1;
    let ts = e.ordinal().0;
    if admit(slot, stats, ts) {
        out.push(Alert::new(&slot.rule, ts, vec![e.get()]));
    }
}

/// Applies `max_signals` per look-back window, then hands the alert out.
fn emit(slot: &mut Meta, stats: &mut Stats, alert: Alert, out: &mut Vec<Alert>) {
    if admit(slot, stats, alert.timestamp_ms) {
        out.push(alert);
    }
}

/// Whether the rule may raise an alert at `ts` under `max_signals` (counted as raised if so,
/// as suppressed if not), so a caller can skip building one that would be dropped.
fn admit(slot: &mut Meta, stats: &mut Stats, ts: i64) -> bool {
    if slot.window_start == i64::MIN
        || ts.saturating_sub(slot.window_start) >= slot.rule.lookback_ms
    {
        slot.window_start = ts;
        slot.window_count = 0;
    }
    if slot.window_count >= slot.rule.max_signals {
        slot.stats.suppressed += 1;
        stats.suppressed += 1;
        return false;
    }
    slot.window_count += 1;
    slot.stats.alerts += 1;
    stats.alerts += 1;
    true
}

/// An EQL match as an alert: the placeholders of missing-event stages are left out, the time
/// is the last real event's.
fn eql_alert(rule: &Arc<Rule>, mut events: Vec<Arc<Event>>, fallback_ts: i64) -> Alert {
    events.retain(|e| !eql::is_missing_placeholder(e));
    let ts = events
        .iter()
        .map(|e| e.timestamp_ms)
        .max()
        .unwrap_or(fallback_ts);
    Alert::new(rule, ts, events)
}

fn ordinals(events: &[Arc<Event>]) -> Vec<(i64, u64)> {
    events.iter().map(|e| (e.timestamp_ms, e.arrival)).collect()
}

fn seen_before(recent: &mut VecDeque<Vec<(i64, u64)>>, key: Vec<(i64, u64)>) -> bool {
    if recent.contains(&key) {
        return true;
    }
    if recent.len() == 64 {
        recent.pop_front();
    }
    recent.push_back(key);
    false
}

/// A rule's dispatch key (see `super::dispatch`) and, for a one-event rule, a second key
/// from another of its conjuncts (`dispatch::second_key`): it is tried only when both hold.
fn rule_keys(rule: &Rule) -> (Option<Key>, Option<Key>) {
    let (key, expr) = match &rule.kind {
        RuleKind::Query { expr, .. }
        | RuleKind::NewTerms { expr, .. }
        | RuleKind::Threshold { expr, .. } => (necessary(expr), expr),
        RuleKind::Eql { query } => {
            let key = query_key(query);
            match (query.kind(), query.stages()) {
                (eql::QueryKind::Event, [stage]) => (key, &stage.expr),
                _ => return (key, None),
            }
        }
    };
    let Some(mut key) = key else {
        return (None, None);
    };
    let second = second_key(expr, &key);
    if second.is_some() {
        // The first key's atoms must not stand in for the second's.
        key.0.iter_mut().for_each(|a| a.stages &= !SECOND);
    }
    (Some(key), second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::defend::{defend_overlay, defend_overlay_from};

    /// The engine decides the Defend view on values read from its field index; that must be
    /// the view a scan of the event gives: every event of the bundled example log and the
    /// reference auparse logs, and events that repeat a key (the first value counts).
    #[test]
    fn defend_view_from_the_index_is_the_scanned_one() {
        let mut events = Vec::new();
        let logs = std::fs::read_dir("../shared/fixtures/go-libaudit/auparse")
            .expect("auparse fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .chain([std::path::PathBuf::from("examples/attack.log")]);
        for log in logs {
            let mut front = crate::pipeline::Front::new(
                crate::ecs::Normalizer::new(crate::ecs::HostInfo::default()),
                crate::assemble::Limits::default(),
            );
            let text = std::fs::read(&log).expect("log");
            for line in text.split(|&b| b == b'\n') {
                if let Ok(rec) = crate::record::Record::parse_log_line(line) {
                    front.push(rec, &mut events);
                }
            }
            front.flush(&mut events);
        }
        let views = events
            .iter()
            .filter(|e| defend_overlay(e).is_some())
            .count();
        assert!(
            events.len() > 100 && views > 20,
            "{} events, {views} views",
            events.len()
        );
        for (first, second) in [("renamed", "executed"), ("executed", "renamed")] {
            let mut ev = Event::new(1);
            ev.push("event.action", first);
            ev.push("event.outcome", "success");
            ev.push("event.action", second);
            ev.push("auditd.data.syscall", "rename");
            ev.push(
                "auditd.paths.name",
                Value::List(vec!["a".into(), "b".into()]),
            );
            ev.push(
                "auditd.paths.nametype",
                Value::List(vec!["DELETE".into(), "CREATE".into()]),
            );
            ev.push("auditd.paths.name", "c");
            events.push(ev);
        }
        let reads = DEFEND_READS.map(eql::slot_of);
        let mut fi = FieldIndex::new();
        for ev in &events {
            let ix = fi.index(ev);
            let got = defend_overlay_from(ev, reads.map(|s| ix.get(s)));
            assert_eq!(got, defend_overlay(ev), "{ev:?}");
        }
    }

    /// A batch (with its look-ahead) raises the alerts event-by-event handling does, in the
    /// same order with the same events: the bundled example log through the bundled rules
    /// and the corpus, in batches of every size from 1 to 9.
    #[test]
    fn batches_alert_as_single_events_do() {
        let mut events = Vec::new();
        let mut front = crate::pipeline::Front::new(
            crate::ecs::Normalizer::new(crate::ecs::HostInfo::default()),
            crate::assemble::Limits::default(),
        );
        let text = std::fs::read("examples/attack.log").expect("example log");
        for line in text.split(|&b| b == b'\n') {
            if let Ok(rec) = crate::record::Record::parse_log_line(line) {
                front.push(rec, &mut events);
            }
        }
        front.flush(&mut events);
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        let mut rules: Vec<Rule> = super::super::rule::load_paths(&[PathBuf::from(
            "../shared/fixtures/detection-rules/rules",
        )])
        .into_iter()
        .filter_map(|l| l.rule)
        .collect();
        rules.extend(
            super::super::rule::load_bundled()
                .into_iter()
                .filter_map(|l| l.rule),
        );
        let summary = |alerts: &[Alert]| -> Vec<(String, Vec<(i64, u64)>)> {
            alerts
                .iter()
                .map(|a| {
                    let evs = a
                        .events
                        .iter()
                        .map(|e| (e.timestamp_ms, e.arrival))
                        .collect();
                    (a.rule.rule_id.clone(), evs)
                })
                .collect()
        };
        let mut one = Engine::new(rules.clone(), EngineConfig::default()).expect("engine");
        let mut want = Vec::new();
        for ev in &events {
            one.on_event(Arc::clone(ev), &mut want);
        }
        assert!(want.len() >= 6, "the example raises alerts: {}", want.len());
        for size in 1..10 {
            let mut batched = Engine::new(rules.clone(), EngineConfig::default()).expect("engine");
            let mut got = Vec::new();
            for batch in events.chunks(size) {
                batched.on_batch(batch, &mut got);
            }
            assert_eq!(summary(&got), summary(&want), "batches of {size}");
            assert_eq!(batched.stats().events, events.len() as u64);
        }
    }

    #[test]
    fn index_patterns_select_sources() {
        let s = |idx: &[&str]| Sources::of(&idx.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&[]),
            Sources {
                auditbeat: true,
                defend: 0
            }
        );
        assert_eq!(
            s(&["auditbeat-*", "logs-auditd_manager.auditd-*"]),
            Sources {
                auditbeat: true,
                defend: 0
            }
        );
        let all = s(&["logs-endpoint.events.*"]);
        assert!(!all.auditbeat && all.defend == (1 << DEFEND_STREAMS.len()) - 1);
        assert_eq!(s(&["logs-endpoint.events.file*"]).defend, 1 << 1);
        assert_eq!(
            s(&[
                "logs-endpoint.events.process-*",
                "logs-endpoint.events.network-*"
            ])
            .defend,
            0b101
        );
        assert!(!s(&["endgame-*", "logs-crowdstrike.fdr*", ".alerts-security.*"]).active());
        let both = s(&["logs-endpoint.events.*", "auditbeat-*"]);
        assert!(both.auditbeat && both.defend != 0);
        assert!(
            glob("a*b*c", "aXbYc")
                && !glob("a*b*c", "aXc")
                && glob("*", "")
                && !glob("ab*ba", "aba")
        );
    }
}
