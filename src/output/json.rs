//! Writes an `Event` as one nested JSON object straight from its flat fields, without building
//! an intermediate tree (this is on the per-event hot path of `--events`).

use crate::event::{Event, Value};
use std::cmp::Ordering;
use std::io::Write as _;

/// Orders paths segment by segment (`a.b` before `a-b`, siblings together), as comparing
/// `split('.')` would, but byte by byte with `.` ranked below every other byte: this runs for
/// every field of every event.
fn cmp_paths(a: &str, b: &str) -> Ordering {
    let rank = |c: u8| if c == b'.' { 0u16 } else { c as u16 + 1 };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Ranks only matter at the first differing byte.
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => rank(a[i]).cmp(&rank(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

fn write_scalar(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::Int(i) => {
            // io::Write on a Vec: no temporary String per number.
            let _ = write!(buf, "{i}");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *buf, f);
        }
        Value::Float(_) => buf.extend_from_slice(b"null"),
        Value::Str(s) => write_str(buf, s),
        Value::List(items) => {
            buf.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_scalar(buf, it);
            }
            buf.push(b']');
        }
    }
}

/// JSON string with every control character escaped: argv and paths are attacker-controlled.
/// The same escapes as serde_json (`\n`-style where JSON has one, else `\u00xx`), written
/// in runs: almost every string needs none.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                buf.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 15) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(esc);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Appends the event as a JSON object (no trailing newline).
pub fn write_event(ev: &Event, buf: &mut Vec<u8>) {
    let mut order: Vec<&(crate::event::Key, Value)> = ev.fields.iter().collect();
    order.sort_by(|a, b| cmp_paths(&a.0, &b.0));
    // `open` holds the path segments of the objects currently open.
    let mut open: Vec<&str> = Vec::with_capacity(8);
    let mut first_in_obj: Vec<bool> = Vec::with_capacity(8);
    first_in_obj.push(true);
    buf.push(b'{');
    let mut prev_leaf: Option<&str> = None;
    let mut segs: Vec<&str> = Vec::with_capacity(8);
    for (path, value) in order {
        let path: &str = path;
        segs.clear();
        segs.extend(path.split('.'));
        // A later path below an earlier leaf (`a` then `a.b`) cannot nest: write it dotted.
        let under_leaf = prev_leaf.is_some_and(|l| {
            path.len() > l.len() && path.starts_with(l) && path.as_bytes()[l.len()] == b'.'
        });
        let (dirs, leaf): (&[&str], &str) = if under_leaf {
            let l = prev_leaf.unwrap_or_default();
            let depth = l.bytes().filter(|&c| c == b'.').count();
            // The leaf is the rest of the path after its first `depth` segments, dots kept.
            let start: usize = segs[..depth].iter().map(|s| s.len() + 1).sum();
            (&segs[..depth], &path[start..])
        } else {
            (&segs[..segs.len() - 1], segs[segs.len() - 1])
        };
        let common = open
            .iter()
            .zip(dirs.iter())
            .take_while(|(a, b)| a == b)
            .count();
        while open.len() > common {
            open.pop();
            first_in_obj.pop();
            buf.push(b'}');
        }
        for d in &dirs[common..] {
            if !std::mem::replace(first_in_obj.last_mut().expect("root"), false) {
                buf.push(b',');
            }
            write_str(buf, d);
            buf.extend_from_slice(b":{");
            open.push(d);
            first_in_obj.push(true);
        }
        if !std::mem::replace(first_in_obj.last_mut().expect("root"), false) {
            buf.push(b',');
        }
        write_str(buf, leaf);
        buf.push(b':');
        write_scalar(buf, value);
        if !under_leaf {
            prev_leaf = Some(path);
        }
    }
    for _ in 0..open.len() {
        buf.push(b'}');
    }
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(ev: &Event) -> serde_json::Value {
        let mut buf = Vec::new();
        write_event(ev, &mut buf);
        serde_json::from_slice(&buf).expect("valid JSON")
    }

    #[test]
    fn nests_like_to_json() {
        let mut ev = Event::new(0);
        ev.push("process.pid", 5i64);
        ev.push("@timestamp", "2020-01-01T00:00:00.000Z");
        ev.push(
            "process.args",
            vec!["a\n\"b".to_owned(), "\u{0}c".to_owned()],
        );
        ev.push("auditd.data.a1", "2");
        ev.push("process.parent.pid", 1i64);
        ev.push("event.kind", "event");
        assert_eq!(roundtrip(&ev), ev.to_json());
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let all: String = (0u8..0x80)
            .map(char::from)
            .chain("é\u{2028}\u{7f}".chars())
            .collect();
        for s in ["", "plain", "a\"b\\c", all.as_str()] {
            let mut buf = Vec::new();
            write_str(&mut buf, s);
            assert_eq!(buf, serde_json::to_vec(s).expect("serialise"), "{s:?}");
        }
    }

    #[test]
    fn path_order_is_segment_order() {
        let mut paths = vec!["a-b", "a.b", "a", "a.b.c", "ab", "a.a", "b", "a.b-c"];
        paths.sort_by(|a, b| cmp_paths(a, b));
        let mut want = paths.clone();
        want.sort_by(|a, b| a.split('.').cmp(b.split('.')));
        assert_eq!(paths, want);
    }

    #[test]
    fn leaf_and_subtree_share_a_name() {
        let mut ev = Event::new(0);
        ev.push("a.b", 1i64);
        ev.push("a", 2i64);
        ev.push("a.b.c", 3i64);
        // Sorted, `a` comes first as a leaf; the paths below it stay dotted at its level.
        let v = roundtrip(&ev);
        assert_eq!(v["a"], 2);
        assert_eq!(v["a.b"], 1);
        assert_eq!(v["a.b.c"], 3);
    }
}
