//! Writes an `Event` as one nested JSON object straight from its flat fields, without building
//! an intermediate tree (this is on the per-event hot path of `--events`).

use crate::event::{Event, Key, Value};
use crate::record::fast_hash::SeededHash;
use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;

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

/// `buf.push(b)` without the capacity check.
///
/// # Safety
/// `buf` has room for one more byte.
#[inline(always)]
unsafe fn push_unchecked(buf: &mut Vec<u8>, b: u8) {
    let len = buf.len();
    debug_assert!(buf.capacity() > len);
    // SAFETY: the caller made room for the byte at `len`.
    unsafe {
        *buf.as_mut_ptr().add(len) = b;
        buf.set_len(len + 1);
    }
}

/// A value; strings, the bulk of every event, are written inline (lists of them too), and
/// this is inlined into the layout's loop.
#[inline(always)]
fn write_scalar(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => write_str_inline(buf, s),
        Value::List(items) => {
            // The bracket and the commas are the pieces before the strings.
            let mut before = Piece::OPEN;
            for it in items {
                match it {
                    Value::Str(s) => write_piece_and_str(buf, before, s),
                    other => {
                        buf.extend_from_slice(&before.padded[..before.n]);
                        write_other(buf, other);
                    }
                }
                before = Piece::COMMA;
            }
            if items.is_empty() {
                buf.push(b'[');
            }
            buf.push(b']');
        }
        other => write_other(buf, other),
    }
}

/// Every value but a string (a nested list goes back to `write_scalar`).
fn write_other(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(buf, *i),
        Value::Float(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *buf, f);
        }
        Value::Float(_) => buf.extend_from_slice(b"null"),
        Value::Str(s) => write_str(buf, s),
        Value::List(_) => write_scalar(buf, v),
    }
}

/// Decimal digits of an integer, without going through `fmt` (pids, ports, sequence numbers
/// are in every event).
pub fn write_i64(buf: &mut Vec<u8>, i: i64) {
    buf.extend_from_slice(crate::decimal::digits(i, &mut [0; 20]));
}

/// True when some byte of the word is a control character, `"` or `\`: words without one are
/// copied as they are.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // With bit 1 flipped, exactly the control characters and `"` (0x22 -> 0x20) are below
    // 0x21: one "has a byte below n" test for both (exact for n <= 0x80).
    let q = w ^ (ONES * 0x02);
    let control_or_quote = q.wrapping_sub(ONES * 0x21) & !q;
    let b = w ^ (ONES * b'\\' as u64);
    let backslash = b.wrapping_sub(ONES) & !b;
    (control_or_quote | backslash) & HIGH != 0
}

const fn escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c < 0x20 || c == b'"' as usize || c == b'\\' as usize;
        c += 1;
    }
    t
}
static NEEDS_ESCAPE: [bool; 256] = escape_table();

fn needs_escape(c: u8) -> bool {
    NEEDS_ESCAPE[c as usize]
}

/// Index of the first byte at or after `from` that needs escaping, or `bytes.len()`.
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> usize {
    let len = bytes.len();
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        if word_needs_escape(u64::from_le_bytes(word.try_into().expect("8 bytes"))) {
            break;
        }
        i += 8;
    }
    // The tail: the last eight bytes again (those before `i` are known clean) when there
    // are eight, so a clean tail costs one word.
    if i + 8 > len && len >= 8 && i > from {
        let w = u64::from_le_bytes(bytes[len - 8..].try_into().expect("8 bytes"));
        if !word_needs_escape(w) {
            return len;
        }
    }
    while i < len && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// `word_needs_escape` for four bytes: padded with `A`s, which need no escape (and a
/// borrow only runs upwards from a byte that does).
#[inline]
fn word4_needs_escape(w: u32) -> bool {
    word_needs_escape(u64::from(w) | 0x4141_4141_0000_0000)
}

/// Appends `bytes` and returns true when none of them needs escaping; otherwise returns
/// false with the length unchanged (the spare capacity may have been written). Checked and
/// copied in one pass, whole words, the last one overlapping the one before, so short values
/// (`0`, `fd:01`, `1000`) cost one or two word checks.
///
/// # Safety
/// `buf` has room for `bytes.len()` more bytes.
#[inline(always)]
unsafe fn put_if_clean(buf: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let n = bytes.len();
    let len = buf.len();
    debug_assert!(buf.capacity() - len >= n);
    let src = bytes.as_ptr();
    // SAFETY: every read is within `bytes`; every write within the `n` bytes of spare
    // capacity the caller made room for, and the length covers them only once all are
    // written.
    unsafe {
        let dst = buf.as_mut_ptr().add(len);
        if n >= 8 {
            let mut i = 0;
            while i + 8 < n {
                let w = src.add(i).cast::<u64>().read_unaligned();
                if word_needs_escape(w) {
                    return false;
                }
                dst.add(i).cast::<u64>().write_unaligned(w);
                i += 8;
            }
            let w = src.add(n - 8).cast::<u64>().read_unaligned();
            if word_needs_escape(w) {
                return false;
            }
            dst.add(n - 8).cast::<u64>().write_unaligned(w);
        } else if n >= 4 {
            let a = src.cast::<u32>().read_unaligned();
            let b = src.add(n - 4).cast::<u32>().read_unaligned();
            if word4_needs_escape(a) || word4_needs_escape(b) {
                return false;
            }
            dst.cast::<u32>().write_unaligned(a);
            dst.add(n - 4).cast::<u32>().write_unaligned(b);
        } else {
            for i in 0..n {
                let c = *src.add(i);
                if needs_escape(c) {
                    return false;
                }
                *dst.add(i) = c;
            }
        }
        buf.set_len(len + n);
    }
    true
}

/// How many readable bytes a [`Piece`] has past its end.
const PAD: usize = 32;
static NO_PIECE: [u8; PAD] = [0; PAD];
static OPEN: [u8; PAD + 1] = padded(b'[');
static COMMA: [u8; PAD + 1] = padded(b',');

const fn padded(b: u8) -> [u8; PAD + 1] {
    let mut p = [0; PAD + 1];
    p[0] = b;
    p
}

/// Literal bytes of a layout: the first `n` bytes of `padded`, which has at least `PAD` more
/// after them, so a short piece is copied with two fixed 16-byte moves (no length switch).
#[derive(Clone, Copy)]
struct Piece<'a> {
    padded: &'a [u8],
    n: usize,
}

impl Piece<'_> {
    const NONE: Piece<'static> = Piece {
        padded: &NO_PIECE,
        n: 0,
    };
    /// A list's opening bracket, and the comma between its items.
    const OPEN: Piece<'static> = Piece {
        padded: &OPEN,
        n: 1,
    };
    const COMMA: Piece<'static> = Piece {
        padded: &COMMA,
        n: 1,
    };
}

/// Appends the piece.
///
/// # Safety
/// `buf` has room for `PAD.max(piece.n)` more bytes.
#[inline(always)]
unsafe fn put_piece(buf: &mut Vec<u8>, piece: Piece<'_>) {
    let (n, len) = (piece.n, buf.len());
    debug_assert!(piece.padded.len() >= n + PAD && buf.capacity() - len >= n.max(PAD));
    let src = piece.padded.as_ptr();
    // SAFETY: `padded` has `n + PAD` bytes, so the reads are within it; the caller made room
    // for the writes; the length covers only the piece.
    unsafe {
        let dst = buf.as_mut_ptr().add(len);
        if n <= PAD {
            let (a, b) = (
                src.cast::<u128>().read_unaligned(),
                src.add(16).cast::<u128>().read_unaligned(),
            );
            dst.cast::<u128>().write_unaligned(a);
            dst.add(16).cast::<u128>().write_unaligned(b);
        } else {
            std::ptr::copy_nonoverlapping(src, dst, n);
        }
        buf.set_len(len + n);
    }
}

/// JSON string with every control character escaped: argv and paths are attacker-controlled.
/// The same escapes as serde_json (`\n`-style where JSON has one, else `\u00xx`), written
/// in runs: almost every string needs none, and those are checked a word at a time.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_str_inline(buf, s)
}

/// `write_str` inlined into the value writer: it runs for most values of every event.
#[inline(always)]
fn write_str_inline(buf: &mut Vec<u8>, s: &str) {
    write_piece_and_str(buf, Piece::NONE, s)
}

/// A layout's literal `piece` then the string `s`, with one capacity check for both (what
/// most fields of an event are).
#[inline(always)]
fn write_piece_and_str(buf: &mut Vec<u8>, piece: Piece<'_>, s: &str) {
    let bytes = s.as_bytes();
    buf.reserve(piece.n + PAD + bytes.len() + 2);
    // SAFETY: room for the piece (and its padding), the string and its two quotes was
    // reserved just above.
    unsafe {
        put_piece(buf, piece);
        push_unchecked(buf, b'"');
        if put_if_clean(buf, bytes) {
            push_unchecked(buf, b'"');
            return;
        }
    }
    write_escaped(buf, bytes);
}

/// The body and closing quote of a string that has something to escape.
#[cold]
fn write_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    loop {
        let i = next_escape(bytes, start);
        buf.extend_from_slice(&bytes[start..i]);
        let Some(&c) = bytes.get(i) else { break };
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ],
        };
        buf.extend_from_slice(esc);
        start = i + 1;
    }
    buf.push(b'"');
}

/// Writes the nesting of the event's fields: the keys and braces, sorted, calling `value` for
/// field `i`'s value at its place. It depends on the keys alone, which is what lets
/// [`Layout`] record it once per field layout.
fn write_structure(ev: &Event, buf: &mut Vec<u8>, mut value: impl FnMut(&mut Vec<u8>, usize)) {
    let mut order: Vec<usize> = (0..ev.fields.len()).collect();
    order.sort_by(|&a, &b| cmp_paths(&ev.fields[a].0, &ev.fields[b].0));
    // `open` holds the path segments of the objects currently open.
    let mut open: Vec<&str> = Vec::with_capacity(8);
    let mut first_in_obj: Vec<bool> = Vec::with_capacity(8);
    first_in_obj.push(true);
    buf.push(b'{');
    let mut prev_leaf: Option<&str> = None;
    let mut segs: Vec<&str> = Vec::with_capacity(8);
    for i in order {
        let path: &str = &ev.fields[i].0;
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
        value(buf, i);
        if !under_leaf {
            prev_leaf = Some(path);
        }
    }
    for _ in 0..open.len() {
        buf.push(b'}');
    }
    buf.push(b'}');
}

/// The output of one field layout (the event's keys in their order) without its values: the
/// literal bytes, and where each value goes.
struct Layout {
    /// The keys, to check that a hash hit really is this layout.
    keys: Vec<Key>,
    /// The literal bytes, then `PAD` zeros (see [`Piece`]).
    skeleton: Vec<u8>,
    /// The length of the literal bytes.
    literal_len: usize,
    /// (field index, end of the literal bytes before its value), in output order.
    slots: Vec<(u32, u32)>,
    /// Used since the last eviction sweep.
    used: bool,
}

impl Layout {
    fn build(ev: &Event) -> Layout {
        let mut skeleton = Vec::with_capacity(32 * ev.fields.len());
        let mut slots = Vec::with_capacity(ev.fields.len());
        write_structure(ev, &mut skeleton, |buf, i| {
            slots.push((i as u32, buf.len() as u32))
        });
        let literal_len = skeleton.len();
        skeleton.extend_from_slice(&[0; PAD]);
        Layout {
            keys: ev.fields.iter().map(|(k, _)| k.clone()).collect(),
            skeleton,
            literal_len,
            slots,
            used: false,
        }
    }

    fn matches(&self, ev: &Event) -> bool {
        self.keys.len() == ev.fields.len()
            && self
                .keys
                .iter()
                .zip(&ev.fields)
                .all(|(a, (b, _))| same_key(a, b))
    }

    fn write(&self, ev: &Event, buf: &mut Vec<u8>) {
        // What makes the unchecked reads below sound: `build` made one slot per field of an
        // event with as many fields as `keys`, in increasing order of their ends, all within
        // the literal bytes, which the padding follows.
        assert_eq!(ev.fields.len(), self.keys.len(), "layout of another event");
        buf.reserve(self.skeleton.len() + 16 * self.slots.len());
        let mut at = 0;
        for &(i, end) in &self.slots {
            let end = end as usize;
            debug_assert!((i as usize) < ev.fields.len() && at <= end && end <= self.literal_len);
            // SAFETY: see the assertion above the loop.
            let (padded, field) = unsafe {
                (
                    self.skeleton.get_unchecked(at..),
                    ev.fields.get_unchecked(i as usize),
                )
            };
            let piece = Piece {
                padded,
                n: end - at,
            };
            match &field.1 {
                Value::Str(s) => write_piece_and_str(buf, piece, s),
                v => {
                    buf.reserve(piece.n + PAD);
                    // SAFETY: reserved just above.
                    unsafe { put_piece(buf, piece) };
                    write_scalar(buf, v);
                }
            }
            at = end;
        }
        buf.extend_from_slice(&self.skeleton[at..self.literal_len]);
    }

    fn bytes(&self) -> usize {
        self.skeleton.len()
            + self.slots.len() * 8
            + self
                .keys
                .iter()
                .map(|k| {
                    std::mem::size_of::<Key>() + if let Cow::Owned(s) = k { s.len() } else { 0 }
                })
                .sum::<usize>()
    }
}

fn same_key(a: &Key, b: &Key) -> bool {
    (a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())) || a == b
}

/// A hash of the layout: static keys by address (the same literal is the same key), owned
/// ones by content.
fn layout_hash(ev: &Event) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, x: u64| (h.rotate_left(5) ^ x).wrapping_mul(K);
    let mut h = ev.fields.len() as u64;
    for (k, _) in &ev.fields {
        match k {
            Cow::Borrowed(s) => h = mix(mix(h, s.as_ptr() as u64), s.len() as u64),
            Cow::Owned(s) => {
                let mut words = s.as_bytes().chunks_exact(8);
                for w in words.by_ref() {
                    h = mix(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
                }
                let mut tail = [0u8; 8];
                tail[..words.remainder().len()].copy_from_slice(words.remainder());
                h = mix(mix(h, u64::from_le_bytes(tail)), s.len() as u64 | 1 << 63);
            }
        }
    }
    h
}

/// Layouts seen recently. Bounded: hostile input can make any number of layouts, so when
/// full, the layouts unused since the last sweep go (all of them if every one was used).
#[derive(Default)]
struct LayoutCache {
    layouts: HashMap<u64, Layout, SeededHash>,
    bytes: usize,
    /// (hash, field count) of the layouts used last: a stream has a few kinds of event,
    /// and comparing an event's keys with a recent layout's is cheaper than hashing them.
    recent: [(u64, usize); RECENT],
    next_recent: usize,
}

const RECENT: usize = 8;

const MAX_LAYOUTS: usize = 512;
const MAX_LAYOUT_BYTES: usize = 4 << 20;

impl LayoutCache {
    fn write(&mut self, ev: &Event, buf: &mut Vec<u8>) {
        let n = ev.fields.len();
        for &(h, count) in &self.recent {
            if count != n {
                continue;
            }
            if let Some(l) = self.layouts.get_mut(&h) {
                if l.matches(ev) {
                    l.used = true;
                    l.write(ev, buf);
                    return;
                }
            }
        }
        let h = layout_hash(ev);
        self.recent[self.next_recent] = (h, n);
        self.next_recent = (self.next_recent + 1) % RECENT;
        if let Some(l) = self.layouts.get_mut(&h) {
            if l.matches(ev) {
                l.used = true;
                l.write(ev, buf);
                return;
            }
        }
        let layout = Layout::build(ev);
        layout.write(ev, buf);
        let size = layout.bytes();
        if size > MAX_LAYOUT_BYTES / 8 {
            return;
        }
        if self.layouts.len() >= MAX_LAYOUTS || self.bytes + size > MAX_LAYOUT_BYTES {
            self.sweep();
        }
        self.bytes += size;
        if let Some(old) = self.layouts.insert(h, layout) {
            self.bytes -= old.bytes();
        }
    }

    fn sweep(&mut self) {
        self.layouts
            .retain(|_, l| std::mem::replace(&mut l.used, false));
        self.bytes = self.layouts.values().map(Layout::bytes).sum();
        if self.layouts.len() >= MAX_LAYOUTS / 2 || self.bytes >= MAX_LAYOUT_BYTES / 2 {
            self.layouts.clear();
            self.bytes = 0;
        }
    }
}

thread_local! {
    static LAYOUTS: RefCell<LayoutCache> = RefCell::default();
}

/// Appends the event as a JSON object (no trailing newline). The nesting of a field layout is
/// worked out once and reused for the following events with the same keys.
pub fn write_event(ev: &Event, buf: &mut Vec<u8>) {
    LAYOUTS.with(|c| match c.try_borrow_mut() {
        Ok(mut cache) => cache.write(ev, buf),
        Err(_) => write_event_uncached(ev, buf),
    })
}

/// `write_event` without the layout cache (the reference it is tested against).
pub fn write_event_uncached(ev: &Event, buf: &mut Vec<u8>) {
    write_structure(ev, buf, |buf, i| write_scalar(buf, &ev.fields[i].1));
}

#[cfg(test)]
mod tests {
    /// The word checks agree with the byte table for every byte at every position, and
    /// around a byte that needs escaping.
    #[test]
    fn word_checks_agree_with_bytes() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                for fill in [b'a', b'~', 0x7f, 0xc3] {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    let want = w.iter().any(|&c| needs_escape(c));
                    assert_eq!(word_needs_escape(u64::from_le_bytes(w)), want, "{w:?}");
                    let w4: [u8; 4] = w[..4].try_into().unwrap();
                    let want4 = w4.iter().any(|&c| needs_escape(c));
                    assert_eq!(word4_needs_escape(u32::from_le_bytes(w4)), want4, "{w4:?}");
                }
            }
        }
    }

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

    /// Lists: empty, of one, mixed (the non-string items take the bracket or comma before
    /// them the other way), nested, with strings that need escapes.
    #[test]
    fn lists_like_serde_json() {
        let lists = [
            vec![],
            vec![Value::from("a")],
            vec![Value::Int(-3), Value::from("x\"y"), Value::Null],
            vec![
                Value::Bool(true),
                Value::List(vec![]),
                Value::List(vec![Value::from("\u{1}"), Value::Int(7)]),
                Value::from(""),
            ],
        ];
        for items in lists {
            let v = Value::List(items);
            let mut buf = Vec::new();
            write_scalar(&mut buf, &v);
            assert_eq!(
                buf,
                serde_json::to_vec(&v.to_json()).expect("serialise"),
                "{v:?}"
            );
        }
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

    /// `put_if_clean` copies exactly the clean strings, at every length around the word
    /// sizes, with the byte that needs escaping at every position.
    #[test]
    fn put_if_clean_agrees_with_bytes() {
        for n in 0..40 {
            for bad in [None, Some(b'"'), Some(b'\\'), Some(0u8), Some(0x1f)] {
                for at in 0..n.max(1) {
                    let mut src: Vec<u8> = (0..n as u8).map(|i| b'a' + i % 26).collect();
                    if let (Some(c), true) = (bad, at < n) {
                        src[at] = c;
                    }
                    let mut buf = b"head".to_vec();
                    buf.reserve(n);
                    // SAFETY: reserved just above.
                    let clean = unsafe { put_if_clean(&mut buf, &src) };
                    assert_eq!(clean, !src.iter().any(|&c| needs_escape(c)), "{src:?}");
                    let want: &[u8] = if clean { &src } else { b"" };
                    assert_eq!(&buf[..4], b"head");
                    assert_eq!(&buf[4..], want, "{src:?}");
                }
            }
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

    #[test]
    fn integers_like_fmt() {
        for i in [
            0,
            7,
            9,
            10,
            99,
            100,
            12345,
            -1,
            -10,
            -987654321,
            i64::MAX,
            i64::MIN,
        ] {
            let mut buf = Vec::new();
            write_i64(&mut buf, i);
            assert_eq!(String::from_utf8(buf).unwrap(), i.to_string());
        }
    }

    #[test]
    fn cached_layout_is_reused_and_checked() {
        let mut ev = Event::new(0);
        ev.push("process.pid", 5i64);
        ev.push(Cow::Owned("auditd.data.x".to_owned()), "a");
        let mut cache = LayoutCache::default();
        for v in ["a", "b\"", "c"] {
            ev.fields[1].1 = Value::from(v);
            let (mut cached, mut plain) = (Vec::new(), Vec::new());
            cache.write(&ev, &mut cached);
            write_event_uncached(&ev, &mut plain);
            assert_eq!(cached, plain);
        }
        assert_eq!(cache.layouts.len(), 1);
        // Same number of keys, another owned key: a different layout, not the cached one.
        ev.fields[1].0 = Cow::Owned("auditd.data.y".to_owned());
        let (mut cached, mut plain) = (Vec::new(), Vec::new());
        cache.write(&ev, &mut cached);
        write_event_uncached(&ev, &mut plain);
        assert_eq!(cached, plain);
        assert_eq!(cache.layouts.len(), 2);
    }

    #[test]
    fn cache_stays_bounded() {
        let mut cache = LayoutCache::default();
        let mut buf = Vec::new();
        for i in 0..5 * MAX_LAYOUTS {
            let mut ev = Event::new(0);
            ev.push(Cow::Owned(format!("auditd.data.k{i}")), 1i64);
            ev.push("event.kind", "event");
            buf.clear();
            cache.write(&ev, &mut buf);
            assert!(cache.layouts.len() <= MAX_LAYOUTS);
            assert!(cache.bytes <= MAX_LAYOUT_BYTES);
        }
        // A layout used between sweeps survives the flood.
        let mut hot = Event::new(0);
        hot.push("event.kind", "event");
        cache.write(&hot, &mut buf);
        for i in 0..3 * MAX_LAYOUTS {
            let mut ev = Event::new(0);
            ev.push(Cow::Owned(format!("flood.k{i}")), 1i64);
            cache.write(&ev, &mut buf);
            cache.write(&hot, &mut buf);
        }
        assert!(cache.layouts.contains_key(&layout_hash(&hot)));
    }

    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            any::<String>().prop_map(Value::from),
            proptest::collection::vec(any::<String>().prop_map(Value::from), 0..3)
                .prop_map(Value::List),
        ]
    }

    proptest! {
        #[test]
        fn str_escapes_like_serde_json(s in "(.|[\\x00-\\x1f\"\\\\]){0,40}") {
            let mut buf = Vec::new();
            write_str(&mut buf, &s);
            prop_assert_eq!(buf, serde_json::to_vec(&s).expect("serialise"));
        }

        /// Keys from a small alphabet, so that `a` / `a.b` / `a-b` clashes and repeats are common.
        #[test]
        fn cached_equals_uncached(
            fields in proptest::collection::vec(
                ("[ab.\\-\"]{0,6}", any::<bool>(), value()), 0..12),
            revalues in proptest::collection::vec(value(), 12),
        ) {
            // Static keys are leaked: the cache tells borrowed keys apart by address.
            let mut ev = Event::new(0);
            for (k, stat, v) in fields {
                let key: Key = if stat { Cow::Borrowed(Box::leak(k.into_boxed_str())) } else { Cow::Owned(k) };
                ev.push(key, v);
            }
            let mut cache = LayoutCache::default();
            for round in 0..2 {
                if round == 1 {
                    for (f, v) in ev.fields.iter_mut().zip(&revalues) {
                        f.1 = v.clone();
                    }
                }
                let (mut cached, mut plain) = (Vec::new(), Vec::new());
                cache.write(&ev, &mut cached);
                write_event_uncached(&ev, &mut plain);
                prop_assert_eq!(&cached, &plain);
                let mut via_pub = Vec::new();
                write_event(&ev, &mut via_pub);
                prop_assert_eq!(&via_pub, &plain);
            }
        }
    }
}
