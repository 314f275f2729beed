//! The one-pass scanner behind `Record::parse_log_line` / `Record::from_netlink`: header
//! (`audit(SECS.MS:SEQ): `) and `key=value` spans. No regex, no per-field allocation.

use super::{FieldKind, ParseError, Span};

pub(super) fn err(message: impl Into<String>) -> ParseError {
    ParseError {
        message: message.into(),
    }
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(super) fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_space(b)).count();
    &s[n..]
}

/// Drops the line end, trailing blanks and trailing NULs (netlink payloads often carry one).
pub(super) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| is_space(b) || b == 0)
        .count();
    &s[..s.len() - n]
}

pub(super) fn word_end(s: &[u8]) -> usize {
    s.iter().position(|&b| is_space(b)).unwrap_or(s.len())
}

pub(super) struct Header {
    pub secs: u64,
    pub millis: u32,
    pub seq: u32,
    /// Offset of the first byte after `audit(...): ` and its blanks.
    pub body: usize,
}

/// Reads a run of ASCII digits at `i`: (value, end). `None` if none, too long, or overflow.
/// One pass: the header is read for every record.
fn digits_at(s: &[u8], i: usize, max_len: usize) -> Option<(u64, usize)> {
    let rest = s.get(i..)?;
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if n == max_len {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
        n += 1;
    }
    (n > 0).then_some((v, i + n))
}

/// Seconds whose milliseconds still fit an i64 (`Record::timestamp_ms`).
const MAX_SECS: u64 = (i64::MAX / 1000) as u64 - 1;

/// `audit(SECS.MS:SEQ):` at the start of `s` (the caller checked the `audit(` prefix).
pub(super) fn parse_header(s: &[u8]) -> Result<Header, ParseError> {
    let i = b"audit(".len();
    if i >= s.len() {
        return Err(err("truncated header: nothing after audit("));
    }
    let (secs, i) = digits_at(s, i, 20).ok_or_else(|| err("bad timestamp in audit( header"))?;
    if secs > MAX_SECS {
        return Err(err("bad timestamp in audit( header: out of range"));
    }
    match s.get(i) {
        None => return Err(err("truncated header after the timestamp seconds")),
        Some(b'.') => {}
        Some(_) => {
            return Err(err(
                "bad timestamp in audit( header: no '.' after the seconds",
            ))
        }
    }
    let (frac, j) =
        digits_at(s, i + 1, 9).ok_or_else(|| err("bad timestamp in audit( header: bad millis"))?;
    let width = (j - i - 1) as u32;
    // The kernel prints `%03u`; read other widths as a decimal fraction.
    let millis = if width <= 3 {
        frac as u32 * 10u32.pow(3 - width)
    } else {
        (frac / 10u64.pow(width - 3)) as u32
    };
    match s.get(j) {
        None => return Err(err("truncated header after the timestamp")),
        Some(b':') => {}
        Some(_) => return Err(err("bad audit( header: no ':' before the sequence number")),
    }
    let (seq, k) = digits_at(s, j + 1, 10).ok_or_else(|| err("bad sequence number"))?;
    let seq = u32::try_from(seq).map_err(|_| err("bad sequence number: larger than 32 bits"))?;
    match s.get(k) {
        None => return Err(err("truncated header: no ')' after the sequence number")),
        Some(b')') => {}
        Some(_) => return Err(err("bad sequence number: junk before ')'")),
    }
    let mut body = k + 1;
    if s.get(body) == Some(&b':') {
        body += 1;
    }
    while body < s.len() && is_space(s[body]) {
        body += 1;
    }
    Ok(Header {
        secs,
        millis,
        seq,
        body,
    })
}

const fn key_char_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'[' | b']');
        b += 1;
    }
    t
}
static KEY_CHAR: [bool; 256] = key_char_table();

fn is_key_char(b: u8) -> bool {
    KEY_CHAR[b as usize]
}

/// Length of the leading run of bytes that satisfy `pred`.
fn run_len(s: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&b| !pred(b)).unwrap_or(s.len())
}

/// The end of a bare value starting at `i`: the first blank (or, inside `msg='...'`, quote).
/// Eight bytes at a time: hex-encoded values (proctitle, argv) are long.
fn value_end(s: &[u8], mut i: usize, in_msg: bool) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let ends = |b: u8| is_space(b) || (in_msg && b == b'\'');
    while let Some(word) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // Bytes below 0x21 (every blank is) and quotes; the lowest flagged byte is exact.
        let mut hits = w.wrapping_sub(ONES * 0x21) & !w;
        if in_msg {
            let q = w ^ (ONES * b'\'' as u64);
            hits |= q.wrapping_sub(ONES) & !q;
        }
        hits &= HIGH;
        if hits == 0 {
            i += 8;
            continue;
        }
        let at = i + (hits.trailing_zeros() / 8) as usize;
        if ends(s[at]) {
            return at;
        }
        // A control character that is not a blank: part of the value.
        i = at + 1;
    }
    i + run_len(&s[i..], |b| !ends(b))
}

/// One pass over `key=value` text producing spans.
pub(super) struct Tokenizer<'s> {
    pub s: &'s [u8],
    /// Offset where `extra` will start once appended to the record text.
    pub base: usize,
    /// Names and values the text does not hold verbatim (`seresult`, `old_auid`, ...).
    pub extra: String,
    /// Only the first `avc:` prefix is normalized (bounds the work on hostile input).
    pub avc_done: bool,
}

impl Tokenizer<'_> {
    fn synth(&mut self, s: &str) -> (u32, u32) {
        let start = self.base + self.extra.len();
        self.extra.push_str(s);
        (start as u32, (start + s.len()) as u32)
    }

    /// Scans `[i, end)` into `out`. Inside `msg='...'` (`in_msg`) it stops after the closing
    /// quote. Returns where scanning stopped. Every byte is looked at a bounded number of times.
    pub fn scan(&mut self, mut i: usize, end: usize, in_msg: bool, out: &mut Vec<Span>) -> usize {
        // Bounded once here so the loops below index without bounds checks.
        let s = &self.s[..end];
        let mut parens = 0u32;
        // `old auid=` (LOGIN records of old kernels) names the next key `old_auid`.
        let mut prefix: Option<&'static str> = None;
        loop {
            i += run_len(&s[i.min(end)..], is_space);
            if i >= end {
                return end;
            }
            if in_msg && s[i] == b'\'' {
                return i + 1;
            }
            let k0 = i;
            i += run_len(&s[i..], is_key_char);
            if i == k0 {
                // Not a key: `(`, `{`, `:`... A stray quoted string is skipped whole so the
                // `=` inside it are not taken for fields.
                match s[i] {
                    b'(' => parens += 1,
                    b'"' => i = memchr::memchr(b'"', &s[i + 1..end]).map_or(end, |q| i + 1 + q),
                    _ => {}
                }
                i += 1;
                prefix = None;
                continue;
            }
            if i >= end || s[i] != b'=' {
                let word = &s[k0..i];
                prefix = match word {
                    b"old" => Some("old_"),
                    b"new" => Some("new_"),
                    _ => None,
                };
                if word == b"avc" && i < end && s[i] == b':' && !self.avc_done {
                    self.avc_done = true;
                    i = self.avc_prefix(i + 1, end, out);
                }
                continue;
            }
            let key = match prefix.take() {
                Some(p) => {
                    let name = format!("{p}{}", String::from_utf8_lossy(&s[k0..i]));
                    self.synth(&name)
                }
                None => (k0 as u32, i as u32),
            };
            i += 1;
            if i < end && s[i] == b'"' {
                let v0 = i + 1;
                let v1 = memchr::memchr(b'"', &s[v0..end]).map_or(end, |q| v0 + q);
                out.push(Span {
                    key,
                    val: (v0 as u32, v1 as u32),
                    kind: FieldKind::Quoted,
                });
                i = (v1 + 1).min(end);
            } else if i < end && s[i] == b'\'' && !in_msg {
                let before = out.len();
                let close = self.scan(i + 1, end, true, out);
                if out.len() == before {
                    // Free text without fields: keep it as the value of `msg`.
                    let v1 = if close > i + 1 && s[close - 1] == b'\'' {
                        close - 1
                    } else {
                        close
                    };
                    let val = (i as u32 + 1, v1 as u32);
                    out.push(Span {
                        key,
                        val,
                        kind: FieldKind::Quoted,
                    });
                }
                i = close;
            } else if i < end && s[i] == b'{' && !in_msg {
                // ENRICHED `SADDR={ saddr_fam=inet laddr=10.0.0.1 lport=80 }`: one value.
                let v0 = i;
                let v1 = memchr::memchr(b'}', &s[v0..end]).map_or(end, |q| v0 + q + 1);
                out.push(Span {
                    key,
                    val: (v0 as u32, v1 as u32),
                    kind: FieldKind::Plain,
                });
                i = v1;
            } else {
                let v0 = i;
                i = value_end(s, i, in_msg);
                let mut v1 = i;
                // `(hostname=?, addr=?, terminal=cron res=success)` of old PAM records.
                if v1 > v0 && s[v1 - 1] == b',' {
                    v1 -= 1;
                }
                if parens > 0 && v1 > v0 && s[v1 - 1] == b')' {
                    v1 -= 1;
                    parens -= 1;
                }
                let kind = match &s[v0..v1] {
                    b"(null)" => FieldKind::Null,
                    b"?" => FieldKind::Unset,
                    _ => FieldKind::Plain,
                };
                out.push(Span {
                    key,
                    val: (v0 as u32, v1 as u32),
                    kind,
                });
            }
        }
    }

    /// SELinux `avc:  denied  { read write } for  pid=...`: adds `seresult` and `seperms`
    /// (comma separated) and returns where the fields start. Other `avc:` text is left to
    /// the normal scan.
    fn avc_prefix(&mut self, start: usize, end: usize, out: &mut Vec<Span>) -> usize {
        let s = self.s;
        let skip = |mut i: usize| {
            while i < end && is_space(s[i]) {
                i += 1;
            }
            i
        };
        let word = |mut j: usize| {
            while j < end && !is_space(s[j]) && s[j] != b'}' {
                j += 1;
            }
            j
        };
        let r0 = skip(start);
        let r1 = word(r0);
        let mut i = skip(r1);
        if r0 == r1 || i >= end || s[i] != b'{' {
            return start;
        }
        let mut perms: Vec<(usize, usize)> = Vec::new();
        i = skip(i + 1);
        while i < end && s[i] != b'}' {
            let j = word(i).max(i + 1);
            perms.push((i, j));
            i = skip(j);
        }
        if i >= end {
            return start;
        }
        i = skip(i + 1);
        if word(i) == i + 3 && &s[i..i + 3] == b"for" {
            i += 3;
        }
        let key = self.synth("seresult");
        out.push(Span {
            key,
            val: (r0 as u32, r1 as u32),
            kind: FieldKind::Plain,
        });
        let key = self.synth("seperms");
        let val = match perms.as_slice() {
            [(a, b)] => (*a as u32, *b as u32),
            _ => {
                let names: Vec<_> = perms
                    .iter()
                    .map(|&(a, b)| String::from_utf8_lossy(&s[a..b]))
                    .collect();
                self.synth(&names.join(","))
            }
        };
        out.push(Span {
            key,
            val,
            kind: FieldKind::Plain,
        });
        i
    }
}
