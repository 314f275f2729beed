//! The one pipeline live mode and replay share:
//!
//! ```text
//! records ──▶ Front (reassemble + normalize) ──batches of events──▶ Worker (engine, outputs)
//! ```
//!
//! `Front` runs on the thread that reads (netlink reader or log reader), `Worker` on its own
//! thread behind a bounded crossbeam channel, so a slow rule or output never makes the reader
//! miss kernel messages; the channel's bound is the back-pressure.

use crate::assemble::{AuditEvent, Limits as AssembleLimits, Reassembler, Stats as AssembleStats};
use crate::detect::alert::Alert;
use crate::detect::engine::Engine;
use crate::ecs::Normalizer;
use crate::event::Event;
use crate::output::ndjson::NdjsonWriter;
use crate::ratelimit::RateLimited;
use crate::record::Record;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Events travel to the worker in batches: one channel operation per batch, not per event.
pub const BATCH: usize = 256;

/// A batch of events as the worker takes it: each wrapped in its `Arc` here, on the thread
/// that built it, so the worker neither allocates the wrappers nor frees them.
pub fn share(events: &mut Vec<Event>) -> Vec<Arc<Event>> {
    events.drain(..).map(Arc::new).collect()
}

/// Frees handled events on the thread that built them. The worker gives each batch back
/// (`Worker::handle`); an event a rule still holds (sequence, sample, threshold state) is kept
/// here and freed once the rule has let go of it, so the worker's last reference is a
/// counter decrement and never the free of an event's dozens of blocks: those are cheapest
/// on the allocating thread and would otherwise cost the worker's core.
#[derive(Default)]
pub struct Reaper {
    held: std::collections::VecDeque<Arc<Event>>,
}

impl Reaper {
    pub fn new() -> Self {
        Reaper::default()
    }

    /// Takes back a handled batch: frees what nobody else holds, keeps the rest, and looks
    /// again at twice as many kept events as came in (oldest first), so the kept ones are
    /// freed about as fast as rules let them go.
    pub fn take(&mut self, batch: Vec<Arc<Event>>) {
        let n = batch.len();
        for ev in batch {
            // Only this thread can hold the last reference once the count is 1: nobody can
            // take a new one, so the check cannot race.
            if Arc::strong_count(&ev) > 1 {
                self.held.push_back(ev);
            }
        }
        for _ in 0..(2 * n).min(self.held.len()) {
            match self.held.pop_front() {
                Some(ev) if Arc::strong_count(&ev) > 1 => self.held.push_back(ev),
                _ => {}
            }
        }
    }

    /// Events kept because a rule still holds them.
    pub fn holding(&self) -> usize {
        self.held.len()
    }
}

/// Reassembler + normalizer: records in, ECS events out, in sequence order.
pub struct Front {
    reasm: Reassembler,
    norm: Normalizer,
    assembled: Vec<AuditEvent>,
    arrival: u64,
}

impl Front {
    pub fn new(norm: Normalizer, limits: AssembleLimits) -> Self {
        Front {
            reasm: Reassembler::new(limits),
            norm,
            assembled: Vec::with_capacity(16),
            arrival: 0,
        }
    }

    pub fn push(&mut self, rec: Record, out: &mut Vec<Event>) {
        self.reasm.push(rec, &mut self.assembled);
        self.drain(out);
    }

    /// Advances stream time (live mode: the wall clock) so quiet events time out.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Event>) {
        self.reasm.tick(now_ms, &mut self.assembled);
        self.drain(out);
    }

    pub fn flush(&mut self, out: &mut Vec<Event>) {
        self.reasm.flush(&mut self.assembled);
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        for ae in self.assembled.drain(..) {
            let mut ev = self.norm.normalize(&ae);
            self.arrival += 1;
            ev.arrival = self.arrival;
            out.push(ev);
        }
    }

    pub fn assemble_stats(&self) -> AssembleStats {
        self.reasm.stats()
    }
}

/// Where alerts go besides the engine: NDJSON (stdout by default) and/or syslog.
pub trait AlertSink: Send {
    fn send(&mut self, alert: &serde_json::Value) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

impl AlertSink for crate::output::syslog::SyslogSink {
    /// Never fails: undeliverable alerts wait in the spool (and are counted when it overflows).
    fn send(&mut self, alert: &serde_json::Value) -> io::Result<()> {
        crate::output::syslog::SyslogSink::send(self, alert);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AlertSink for NdjsonWriter {
    fn send(&mut self, alert: &serde_json::Value) -> io::Result<()> {
        self.write_json(alert)
    }
    fn flush(&mut self) -> io::Result<()> {
        NdjsonWriter::flush(self)
    }
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct WorkerStats {
    pub events: u64,
    pub alerts: u64,
    pub output_errors: u64,
    /// The rules' state: events held, and states dropped by a bound.
    pub rule_state: crate::detect::engine::StateCounters,
}

/// The rule engine and the outputs, on the worker thread.
pub struct Worker {
    engine: Option<Engine>,
    events_out: Option<NdjsonWriter>,
    alert_sinks: Vec<Box<dyn AlertSink>>,
    alerts: Vec<Alert>,
    stats: WorkerStats,
    warn: RateLimited,
    /// Rule states dropped by a bound, as last reported.
    dropped_seen: u64,
}

impl Worker {
    pub fn new(
        engine: Option<Engine>,
        events_out: Option<NdjsonWriter>,
        alert_sinks: Vec<Box<dyn AlertSink>>,
    ) -> Self {
        Worker {
            engine,
            events_out,
            alert_sinks,
            alerts: Vec::new(),
            stats: WorkerStats::default(),
            warn: RateLimited::new(Duration::from_secs(10)),
            dropped_seen: 0,
        }
    }

    /// Writes and checks a batch of events, in order, and gives it back so the thread that
    /// built them can drop them (allocators free fastest on the allocating thread; see
    /// `Reaper`). The events come shared (`share`): wrapped where they were built.
    pub fn handle(&mut self, batch: Vec<Arc<Event>>) -> Vec<Arc<Event>> {
        self.stats.events += batch.len() as u64;
        if let Some(w) = &mut self.events_out {
            for ev in &batch {
                if let Err(e) = w.write_event(ev) {
                    self.stats.output_errors += 1;
                    self.warn.warn(|| format!("writing events: {e}"));
                }
            }
        }
        if let Some(engine) = &mut self.engine {
            // A batch at once: the engine loads the next events' memory while it checks one.
            engine.on_batch(&batch, &mut self.alerts);
        }
        self.deliver();
        batch
    }

    /// Lets stream time pass without events, so sequences whose trailing missing-event stage
    /// (`![...]` last) has run out complete without waiting for the next matching event.
    pub fn tick(&mut self, now_ms: i64) {
        if let Some(engine) = &mut self.engine {
            engine.on_time(now_ms, &mut self.alerts);
        }
        self.deliver();
    }

    fn deliver(&mut self) {
        for alert in self.alerts.drain(..) {
            self.stats.alerts += 1;
            let alert = alert.to_json();
            for sink in &mut self.alert_sinks {
                if let Err(e) = sink.send(&alert) {
                    self.stats.output_errors += 1;
                    self.warn.warn(|| format!("writing alert: {e}"));
                }
            }
        }
    }

    /// Persists rule state and flushes the outputs at the end of input.
    pub fn finish(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.flush();
        }
        self.flush();
    }

    /// Flushes outputs (end of a batch, so alerts are not held in buffers while idle), and
    /// says when rule state was dropped since the last batch.
    pub fn flush(&mut self) {
        // The held-bytes budget warns for itself (the engine); this is for the per-rule bounds.
        if let Some(engine) = &self.engine {
            let c = engine.state_counters();
            let by_rule_bounds = c.dropped - c.shed.min(c.dropped);
            if by_rule_bounds > self.dropped_seen {
                self.dropped_seen = by_rule_bounds;
                self.warn.hit(
                    "a rule's state bound (max_states, threshold groups) bit: its oldest partial matches / groups were dropped",
                    by_rule_bounds,
                );
            }
        }
        if let Some(w) = &mut self.events_out {
            let _ = w.flush();
        }
        for s in &mut self.alert_sinks {
            let _ = s.flush();
        }
    }

    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            rule_state: self
                .engine
                .as_ref()
                .map(Engine::state_counters)
                .unwrap_or_default(),
            ..self.stats
        }
    }

    /// Swaps in new rules (SIGHUP); rules that did not change keep their state.
    pub fn reload_rules(
        &mut self,
        rules: Vec<crate::detect::rule::Rule>,
        config: crate::detect::engine::EngineConfig,
    ) {
        let result = match &mut self.engine {
            Some(engine) => engine.reload(rules, config),
            None => Engine::new(rules, config).map(|e| self.engine = Some(e)),
        };
        match result {
            Ok(()) => tracing::info!("SIGHUP: rules reloaded"),
            Err(e) => {
                tracing::error!("SIGHUP: reloading rules failed, the running rules stay: {e}")
            }
        }
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    pub fn engine_mut(&mut self) -> Option<&mut Engine> {
        self.engine.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Vec<Arc<Event>> {
        (0..n).map(|i| Arc::new(Event::new(i as i64))).collect()
    }

    /// Events nobody else holds are freed at once; one a rule holds is kept until the rule
    /// lets go, then freed by a later batch, and never freed while held.
    #[test]
    fn reaper_frees_events_once_rules_let_go() {
        let mut reaper = Reaper::new();
        let first = batch(4);
        let weak: Vec<_> = first.iter().map(Arc::downgrade).collect();
        let held_by_rule = Arc::clone(&first[2]);
        reaper.take(first);
        assert_eq!(reaper.holding(), 1);
        assert_eq!(weak.iter().filter(|w| w.upgrade().is_some()).count(), 1);
        assert_eq!(Arc::strong_count(&held_by_rule), 2);

        // Still held: looking again keeps it.
        reaper.take(batch(2));
        assert_eq!(reaper.holding(), 1);
        assert!(weak[2].upgrade().is_some());

        drop(held_by_rule);
        reaper.take(batch(1));
        assert_eq!(reaper.holding(), 0);
        assert!(weak[2].upgrade().is_none(), "freed once released");
    }

    /// Many kept events drain as fast as they come in once released.
    #[test]
    fn reaper_keeps_up_with_its_input() {
        let mut reaper = Reaper::new();
        let mut rule_state = Vec::new();
        for _ in 0..100 {
            let b = batch(64);
            rule_state.extend(b.iter().map(Arc::clone));
            reaper.take(b);
        }
        assert_eq!(reaper.holding(), 6400);
        rule_state.clear();
        for _ in 0..60 {
            reaper.take(batch(64));
        }
        assert_eq!(reaper.holding(), 0);
    }
}
