//! The ECS event as the pipeline passes it around: a flat list of dotted field paths and
//! values. Flat because the rule engine looks fields up by full path (one hash per field, once
//! per event) and the output nests them only when it serialises.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A field path such as `process.parent.pid`. Most are static ECS names; `auditd.data.*` keys
/// come from the records.
pub type Key = Cow<'static, str>;

/// A string value: up to 24 bytes inline, no allocation (`compact_str`), the size of a
/// `String`. Most values (pids, ids, syscall names, `success`) are that short.
pub type Str = compact_str::CompactString;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    /// A multi-valued field (`process.args`, `event.category`, ...).
    List(Vec<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Heap bytes beyond the value itself.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        #[inline(always)]
        fn scalar(v: &Value) -> usize {
            match v {
                Value::Str(s) if s.is_heap_allocated() => s.capacity(),
                Value::List(items) => items.capacity() * std::mem::size_of::<Value>(),
                _ => 0,
            }
        }
        match self {
            // Lists in events hold scalars; a nested one counts its own table.
            Value::List(items) => scalar(self) + items.iter().map(scalar).sum::<usize>(),
            other => scalar(other),
        }
    }

    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(Str::new(s)),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            // Objects inside arrays are rare in ECS; keep them as their JSON text.
            serde_json::Value::Object(_) => Value::Str(v.to_string().into()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.as_str().into(),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
        }
    }
}

impl From<&str> for Value {
    #[inline]
    fn from(s: &str) -> Self {
        Value::Str(Str::new(s))
    }
}
/// Keeps a long string's buffer; a short one moves inline.
impl From<String> for Value {
    #[inline]
    fn from(s: String) -> Self {
        Value::Str(s.into())
    }
}
/// Inlined here: compact_str's own `From<Cow<str>>` is a call per value.
impl From<Cow<'_, str>> for Value {
    #[inline]
    fn from(s: Cow<'_, str>) -> Self {
        Value::Str(match s {
            Cow::Borrowed(s) => Str::new(s),
            Cow::Owned(s) => Str::from(s),
        })
    }
}
impl From<Str> for Value {
    #[inline]
    fn from(s: Str) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    #[inline]
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    #[inline]
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::List(v.into_iter().map(Value::from).collect())
    }
}

/// Starts loading the cache line at `p` (a hint: the address is not dereferenced, any value
/// is safe).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program; any address will do.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// One ECS document. `timestamp_ms` mirrors `@timestamp` as Unix milliseconds for ordering,
/// `maxspan` and look-back windows; `arrival` breaks ties between equal timestamps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub arrival: u64,
    pub fields: Vec<(Key, Value)>,
}

impl Event {
    pub fn new(timestamp_ms: i64) -> Self {
        Event {
            timestamp_ms,
            arrival: 0,
            fields: Vec::with_capacity(48),
        }
    }

    pub fn get(&self, path: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == path).map(|(_, v)| v)
    }

    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Sets a field, replacing an earlier value of the same path.
    pub fn set(&mut self, path: impl Into<Key>, value: impl Into<Value>) {
        let path = path.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| *k == path) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((path, value)),
        }
    }

    /// Appends without checking for an earlier value: for builders that know the path is new.
    pub fn push(&mut self, path: impl Into<Key>, value: impl Into<Value>) {
        self.fields.push((path.into(), value.into()));
    }

    pub fn remove(&mut self, path: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(k, _)| k == path)?;
        Some(self.fields.remove(i).1)
    }

    /// The bytes this event takes on the heap (its field table, owned keys and values that
    /// do not fit inline): what holding it in rule state costs.
    pub fn heap_bytes(&self) -> usize {
        let mut n = std::mem::size_of::<Event>()
            + self.fields.capacity() * std::mem::size_of::<(Key, Value)>();
        for (k, v) in &self.fields {
            if let Cow::Owned(k) = k {
                n += k.capacity();
            }
            n += v.heap_bytes();
        }
        n
    }

    /// Asks the CPU to start loading this event's field table, which whoever handles the
    /// event next reads first. A hint: it changes no result.
    #[inline]
    pub fn prefetch_fields(&self) {
        let table = self.fields.as_ptr().cast::<u8>();
        let bytes = std::mem::size_of_val(&self.fields[..]);
        for off in (0..bytes).step_by(64) {
            // `wrapping_add`: the address is only a hint, never dereferenced.
            prefetch(table.wrapping_add(off));
        }
    }

    /// The same for the buffers the fields point to (lists, long strings). Reads the field
    /// table, so call it once that is loaded (`prefetch_fields` well before).
    #[inline]
    pub fn prefetch_values(&self) {
        for (_, v) in &self.fields {
            match v {
                Value::List(items) => prefetch(items.as_ptr().cast()),
                Value::Str(s) if s.is_heap_allocated() => prefetch(s.as_ptr()),
                _ => {}
            }
        }
    }

    /// This event with `overlay`'s fields in place of its own (a `Null` in the overlay removes
    /// the field); timestamp and arrival stay this event's. A view of an event (Elastic
    /// Defend's) is kept as such an overlay and built in full only when needed.
    pub fn overlaid(&self, overlay: &Event) -> Event {
        let mut out = Event {
            timestamp_ms: self.timestamp_ms,
            arrival: self.arrival,
            fields: Vec::with_capacity(self.fields.len() + overlay.fields.len()),
        };
        // A bit per (length, last byte) of the overlay's keys: most of the event's fields
        // have none of them and skip the scan of the overlay.
        let bit = |k: &str| {
            let last = k.as_bytes().last().copied().unwrap_or(0) as usize;
            1u64 << ((k.len() * 31 + last) % 64)
        };
        let keys = overlay.fields.iter().fold(0, |m, (k, _)| m | bit(k));
        for (k, v) in &self.fields {
            if keys & bit(k) == 0 || overlay.get(k).is_none() {
                out.fields.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &overlay.fields {
            if !matches!(v, Value::Null) {
                out.fields.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// Flattens a nested JSON document (`{"process":{"pid":1}}` → `process.pid`). Dotted keys
    /// in the source are kept as written, so both shapes give the same paths.
    /// `@timestamp` (epoch millis as number or numeric string, or RFC 3339) sets `timestamp_ms`.
    pub fn from_json(doc: &serde_json::Value) -> Event {
        let mut ev = Event::new(0);
        fn walk(ev: &mut Event, prefix: &str, v: &serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(ev, &p, v);
                    }
                }
                serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                    // Array of objects: each sub-field becomes a multi-valued field.
                    let mut sub = Event::new(0);
                    for item in items {
                        walk(&mut sub, prefix, item);
                    }
                    for (k, v) in sub.fields {
                        match ev.fields.iter_mut().find(|(ek, _)| *ek == k) {
                            Some((_, Value::List(l))) => l.push(v),
                            Some((_, old)) => {
                                let o = std::mem::replace(old, Value::Null);
                                *old = Value::List(vec![o, v]);
                            }
                            None => ev.fields.push((k, v)),
                        }
                    }
                }
                _ => ev
                    .fields
                    .push((Cow::Owned(prefix.to_owned()), Value::from_json(v))),
            }
        }
        walk(&mut ev, "", doc);
        if let Some(ts) = ev.get("@timestamp") {
            ev.timestamp_ms = match ts {
                Value::Int(i) => *i,
                Value::Float(f) => *f as i64,
                Value::Str(s) => s
                    .parse::<i64>()
                    .ok()
                    .or_else(|| parse_rfc3339_ms(s))
                    .unwrap_or(0),
                _ => 0,
            };
        }
        ev
    }

    /// Nests the dotted paths back into a JSON object for output.
    pub fn to_json(&self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for (k, v) in &self.fields {
            insert_path(&mut root, k, v.to_json());
        }
        serde_json::Value::Object(root)
    }
}

fn insert_path(
    root: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    v: serde_json::Value,
) {
    // `@timestamp` and other leaf names without dots go straight in.
    let mut parts = path.split('.').peekable();
    let mut cur = root;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), v);
            return;
        }
        if cur.get(p).is_some_and(|e| !e.is_object()) {
            // A leaf and a subtree share a name (`a` and `a.b`): keep both by dotting the rest.
            let rest: Vec<&str> = parts.collect();
            cur.insert(format!("{p}.{}", rest.join(".")), v);
            return;
        }
        let entry = cur
            .entry(p.to_owned())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        cur = entry.as_object_mut().expect("checked above");
    }
}

/// Formats Unix milliseconds as `2016-12-07T02:16:32.414Z`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    );
    s
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` to Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        let frac = &r[..n];
        let mut digits: String = frac.chars().take(3).collect();
        while digits.len() < 3 {
            digits.push('0');
        }
        ms = digits.parse().ok()?;
        rest = &r[n..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let r = &rest[1..];
            let hh: i64 = r.get(0..2)?.parse().ok()?;
            let mm: i64 = r.get(r.len() - 2..)?.parse().ok()?;
            sign * (hh * 60 + mm)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset_min * 60) * 1000 + ms)
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// A value is as small as before the inline strings: events hold ~50 of them.
const _: () = assert!(std::mem::size_of::<Value>() <= 32);
const _: () = assert!(std::mem::size_of::<Str>() == std::mem::size_of::<String>());

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of the event is kept unless the overlay names it (whatever its length and
    /// last byte share with the overlay's other keys); the overlay's non-null fields follow.
    #[test]
    fn overlaid_replaces_and_removes_exactly_the_overlay_keys() {
        let mut base = Event::new(5);
        let names: Vec<String> = (0..200)
            .map(|i| format!("f.{}{}", "x".repeat(i % 7), i))
            .collect();
        for (i, n) in names.iter().enumerate() {
            base.push(n.clone(), i as i64);
        }
        let mut over = Event::new(9);
        over.push(names[3].clone(), "three");
        over.push(names[77].clone(), Value::Null);
        over.push("new.field", "n");
        let full = base.overlaid(&over);
        assert_eq!(full.timestamp_ms, 5);
        let mut want: Vec<(String, Value)> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 77)
            .map(|(i, n)| (n.clone(), Value::Int(i as i64)))
            .collect();
        want.push((names[3].clone(), "three".into()));
        want.push(("new.field".into(), "n".into()));
        let got: Vec<(String, Value)> = full
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn time_roundtrip() {
        assert_eq!(format_rfc3339_ms(1481076992414), "2016-12-07T02:16:32.414Z");
        assert_eq!(
            parse_rfc3339_ms("2016-12-07T02:16:32.414Z"),
            Some(1481076992414)
        );
        assert_eq!(
            parse_rfc3339_ms("2016-12-07T03:16:32.4+01:00"),
            Some(1481076992400)
        );
    }

    #[test]
    fn flatten_and_nest() {
        let doc =
            serde_json::json!({"process": {"pid": 7, "args": ["a", "b"]}, "event.kind": "event"});
        let ev = Event::from_json(&doc);
        assert_eq!(ev.get("process.pid"), Some(&Value::Int(7)));
        assert_eq!(ev.get("event.kind").and_then(Value::as_str), Some("event"));
        let back = ev.to_json();
        assert_eq!(back["process"]["args"][1], "b");
        assert_eq!(back["event"]["kind"], "event");
    }

    #[test]
    fn short_and_long_strings_give_the_same_json() {
        let long = "x".repeat(40) + "\u{1}\"é";
        for s in ["", "success", "123456789012345678901234", long.as_str()] {
            let v = Value::from(s);
            assert_eq!(v, Value::from(s.to_owned()));
            assert_eq!(v.as_str(), Some(s));
            assert_eq!(v.to_json(), serde_json::Value::String(s.to_owned()));
            assert_eq!(Value::from_json(&v.to_json()), v);
        }
        assert!(std::mem::size_of::<Value>() <= 32);
    }
}
