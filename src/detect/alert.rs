//! Alerts: one JSON object per detection.
//!
//! ```json
//! {"@timestamp": "...", "event": {"kind": "alert", "severity": 47, "risk_score": 47},
//!  "rule": {"id": "<rule_id>", "name": "...", "description": "...", "type": "eql",
//!           "severity": "medium", "risk_score": 47, "version": 4, "building_block_type": null},
//!  "threat": [<the rule's MITRE mapping as written>], "tags": [...], "host": {<from the event>},
//!  "events": [<the matched ECS events, in order>],
//!  "new_terms": [<the new values, in new_terms_fields order>],           // new_terms only
//!  "threshold_result": {"terms": [{"field","value"}], "count", "from", "cardinality"}}  // threshold only
//! ```
//! `@timestamp` is the time of the last matched event (event time: a replayed log gives the
//! same alerts), `event.severity` is Elastic's number for the severity word (21/47/73/99).

use super::rule::Rule;
use super::threshold::Hit;
use crate::event::{format_rfc3339_ms, Event, Value};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Alert {
    pub timestamp_ms: i64,
    pub rule: Arc<Rule>,
    /// The matched events in order (one for query and new_terms rules, the stages of a
    /// sequence or sample, the counted events of a threshold group).
    pub events: Vec<Arc<Event>>,
    /// For new_terms: the new tuple, one value per `new_terms_fields` entry.
    pub new_terms: Option<Vec<Value>>,
    pub threshold: Option<ThresholdResult>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdResult {
    pub terms: Vec<(String, Value)>,
    pub count: u64,
    pub cardinality: Vec<(String, u64)>,
    pub from_ms: i64,
}

impl From<&Hit> for ThresholdResult {
    fn from(h: &Hit) -> Self {
        ThresholdResult {
            terms: h.terms.clone(),
            count: h.count,
            cardinality: h.cardinality.clone(),
            from_ms: h.from_ms,
        }
    }
}

impl Alert {
    pub fn new(rule: &Arc<Rule>, timestamp_ms: i64, events: Vec<Arc<Event>>) -> Alert {
        Alert {
            timestamp_ms,
            rule: Arc::clone(rule),
            events,
            new_terms: None,
            threshold: None,
        }
    }

    pub fn to_json(&self) -> Json {
        let r = &self.rule;
        let mut doc = Map::new();
        doc.insert(
            "@timestamp".into(),
            format_rfc3339_ms(self.timestamp_ms).into(),
        );
        doc.insert(
            "event".into(),
            json!({"kind": "alert", "severity": r.severity_number(), "risk_score": r.risk_score}),
        );
        let mut rule = json!({
            "id": r.rule_id,
            "name": r.name,
            "description": r.description,
            "type": r.rule_type,
            "severity": r.severity,
            "risk_score": r.risk_score,
        });
        if let Some(v) = r.version {
            rule["version"] = v.into();
        }
        if let Some(b) = &r.building_block_type {
            rule["building_block_type"] = b.as_str().into();
        }
        doc.insert("rule".into(), rule);
        doc.insert("threat".into(), r.threat.clone());
        doc.insert("tags".into(), r.tags.clone().into());
        if let Some(host) = self.host() {
            doc.insert("host".into(), host);
        }
        doc.insert(
            "events".into(),
            Json::Array(self.events.iter().map(|e| e.to_json()).collect()),
        );
        if let Some(terms) = &self.new_terms {
            doc.insert(
                "new_terms".into(),
                Json::Array(terms.iter().map(Value::to_json).collect()),
            );
        }
        if let Some(t) = &self.threshold {
            doc.insert(
                "threshold_result".into(),
                json!({
                    "terms": t.terms.iter().map(|(f, v)| json!({"field": f, "value": v.to_json()})).collect::<Vec<_>>(),
                    "count": t.count,
                    "from": format_rfc3339_ms(t.from_ms),
                    "cardinality": t.cardinality.iter().map(|(f, n)| json!({"field": f, "value": n})).collect::<Vec<_>>(),
                }),
            );
        }
        Json::Object(doc)
    }

    /// Appends the alert as one line of NDJSON (no trailing newline).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        // Serialising a `serde_json::Value` cannot fail.
        let _ = serde_json::to_writer(&mut *buf, &self.to_json());
    }

    /// `host.*` of the first event that has any.
    fn host(&self) -> Option<Json> {
        let ev = self
            .events
            .iter()
            .find(|e| e.fields.iter().any(|(k, _)| k.starts_with("host.")))?;
        let mut host = Event::new(0);
        for (k, v) in &ev.fields {
            if k.starts_with("host.") {
                host.fields.push((k.clone(), v.clone()));
            }
        }
        host.to_json().get("host").cloned()
    }
}
