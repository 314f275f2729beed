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

/// How many of the word's bytes (in memory order) are ASCII digits before the first that
/// is not. Exact per byte: neither test carries from one byte into the next.
#[inline]
fn digit_prefix_len(w: u64) -> usize {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // High nibble not 3, or low nibble above 9 (+6 reaches 16): not a digit.
    let not_digit = ((w & HIGH_NIBBLES) ^ THREES)
        | (((w & LOW_NIBBLES) + 0x0606_0606_0606_0606) & HIGH_NIBBLES);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `k` (1..=8) bytes of `w`, all ASCII digits, the first the most
/// significant: shifted up so the missing ones read as leading zeros, then summed in pairs,
/// quads and halves with three multiplications.
#[inline]
fn leading_digits_value(w: u64, k: usize) -> u64 {
    debug_assert!((1..=8).contains(&k));
    let d = (w & 0x0F0F_0F0F_0F0F_0F0F) << (8 * (8 - k));
    let d = (d.wrapping_mul(10 * 256 + 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100 * 65536 + 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    d.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// Seconds whose milliseconds still fit an i64 (`Record::timestamp_ms`).
const MAX_SECS: u64 = (i64::MAX / 1000) as u64 - 1;

/// `audit(SECS.MS:SEQ):` at the start of `s` (the caller checked the `audit(` prefix).
pub(super) fn parse_header(s: &[u8]) -> Result<Header, ParseError> {
    match fixed_time(s) {
        Some((secs, millis, j)) => header_after_time(s, secs, millis, j),
        None => parse_header_any(s),
    }
}

/// `audit(SSSSSSSSSS.mmm:`: ten-digit seconds (2001 to 2286) and the kernel's three-digit
/// millis, the shape of every current header, read with two word tests and two digit
/// checks instead of a loop per digit. (seconds, millis, offset of the `:`).
#[inline]
fn fixed_time(s: &[u8]) -> Option<(u64, u32, usize)> {
    let t: &[u8; 15] = s.get(6..21)?.try_into().ok()?;
    let w = u64::from_le_bytes(t[..8].try_into().expect("8 bytes"));
    if t[10] != b'.' || t[14] != b':' || digit_prefix_len(w) != 8 {
        return None;
    }
    let tail = u64::from_le_bytes([t[8], t[9], t[11], t[12], t[13], b'0', b'0', b'0']);
    if digit_prefix_len(tail) != 8 {
        return None;
    }
    let d = |k: usize| (tail >> (8 * k) & 0x0f) as u32;
    let secs = leading_digits_value(w, 8) * 100 + (d(0) * 10 + d(1)) as u64;
    Some((secs, d(2) * 100 + d(3) * 10 + d(4), 20))
}

/// Any header the kernel or a log may hold, a digit at a time.
fn parse_header_any(s: &[u8]) -> Result<Header, ParseError> {
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
    header_after_time(s, secs, millis, j)
}

/// The sequence number after the `:` at `j`, and the body's start.
#[inline]
fn header_after_time(s: &[u8], secs: u64, millis: u32, j: usize) -> Result<Header, ParseError> {
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

/// Length of the leading run of key characters: `run_len(s, is_key_char)`, four bytes a step
/// (keys are about five bytes, and this runs for every field).
#[inline(always)]
fn key_len(s: &[u8]) -> usize {
    let mut n = 0;
    while let Some(&[a, b, c, d]) = s.get(n..n + 4) {
        if !is_key_char(a) {
            return n;
        }
        if !is_key_char(b) {
            return n + 1;
        }
        if !is_key_char(c) {
            return n + 2;
        }
        if !is_key_char(d) {
            return n + 3;
        }
        n += 4;
    }
    n + run_len(&s[n..], is_key_char)
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
            // Fields are nearly always one blank apart: that needs no loop.
            match s.get(i..i + 2) {
                Some(&[b' ', next]) if !is_space(next) => i += 1,
                _ => i += run_len(&s[i.min(end)..], is_space),
            }
            if i >= end {
                return end;
            }
            if in_msg && s[i] == b'\'' {
                return i + 1;
            }
            let k0 = i;
            i += key_len(&s[i..]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule `digits_at` implements, a byte at a time.
    fn digits_simple(s: &[u8], i: usize, max_len: usize) -> Option<(u64, usize)> {
        let rest = s.get(i..)?;
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > max_len {
            return None;
        }
        let mut v = 0u64;
        for &b in &rest[..n] {
            v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
        }
        Some((v, i + n))
    }

    /// Every run length around the word size and the limits, followed by every kind of
    /// hostile byte (NUL, quotes, backslash, the bytes next to the digits, high bytes).
    #[test]
    fn digits_at_is_the_simple_rule() {
        let after: &[&[u8]] = &[
            b"",
            b".",
            b":",
            b")",
            b"\0",
            b"\"",
            b"'",
            b"\\",
            b"/",
            b":",
            b"@",
            b"\x7f",
            b"\x80",
            b"\xb0",
            b"\xff",
            b"\xf9",
            b"\xc3\xa9",
            b"a",
            b"1)",
            b" x",
        ];
        let digits = b"98765432109876543210123456789";
        for len in 0..=24 {
            for start in [0usize, 3] {
                for tail in after {
                    let mut s = b"abc".to_vec();
                    s.truncate(start);
                    s.extend_from_slice(&digits[..len]);
                    s.extend_from_slice(tail);
                    s.extend_from_slice(b"999999999");
                    for cut in [s.len(), start + len + tail.len(), start + len] {
                        let s = &s[..cut];
                        for max_len in [1, 3, 8, 9, 10, 16, 19, 20] {
                            assert_eq!(
                                digits_at(s, start, max_len),
                                digits_simple(s, start, max_len),
                                "{:?} max {max_len}",
                                String::from_utf8_lossy(s)
                            );
                        }
                    }
                }
            }
        }
        // Overflow at twenty digits, and past the end.
        assert_eq!(
            digits_at(b"18446744073709551615", 0, 20),
            Some((u64::MAX, 20))
        );
        assert_eq!(digits_at(b"18446744073709551616", 0, 20), None);
        assert_eq!(digits_at(b"99999999999999999999)", 0, 20), None);
        assert_eq!(digits_at(b"12", 5, 20), None);
        for b in 0..=255u8 {
            let s = [b'1', b'2', b'3', b'4', b'5', b'6', b'7', b, b'9', b'9'];
            assert_eq!(digits_at(&s, 0, 20), digits_simple(&s, 0, 20), "byte {b}");
            let w = u64::from_le_bytes(s[..8].try_into().unwrap());
            assert_eq!(digit_prefix_len(w), if b.is_ascii_digit() { 8 } else { 7 });
        }
    }

    /// `key_len` is the run of key characters, for every byte after runs of every length
    /// around the four-byte step, at the end of the text and before more text.
    #[test]
    fn key_len_is_the_simple_rule() {
        for len in 0..12 {
            for b in 0..=255u8 {
                for tail in [&b""[..], b"=1", b"ab=cd"] {
                    let mut v = b"ab_-[]9Zk0xy"[..len].to_vec();
                    v.push(b);
                    v.extend_from_slice(tail);
                    for cut in [v.len(), len, len + 1] {
                        let s = &v[..cut.min(v.len())];
                        assert_eq!(key_len(s), run_len(s, is_key_char), "{s:?}");
                    }
                }
            }
        }
    }

    fn header_result(h: Result<Header, ParseError>) -> Result<(u64, u32, u32, usize), String> {
        h.map(|h| (h.secs, h.millis, h.seq, h.body))
            .map_err(|e| e.message)
    }

    /// The two-word fast path reads what the digit-at-a-time parser reads, on every byte
    /// of a header replaced by hostile ones, and on every truncation.
    #[test]
    fn fixed_shape_header_is_the_general_rule() {
        let good = b"audit(1700000000.123:4242): uid=0".to_vec();
        let bytes = [
            b'0', b'9', b'.', b':', b')', b' ', 0, b'"', b'\\', b'\'', b'/', b'a', 0x7f, 0x80,
            0xb9, 0xff, 0x3a, 0x2f,
        ];
        let mut inputs = vec![good.clone(), b"audit(0000000000.000:0)".to_vec()];
        for at in 0..good.len() {
            for b in bytes {
                let mut v = good.clone();
                v[at] = b;
                inputs.push(v);
            }
            inputs.push(good[..at].to_vec());
        }
        for s in &inputs {
            let fast = header_result(parse_header(s));
            assert_eq!(
                fast,
                header_result(parse_header_any(s)),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        assert_eq!(
            header_result(parse_header(&good)),
            Ok((1_700_000_000, 123, 4242, 28))
        );
        assert!(
            fixed_time(&good).is_some(),
            "the usual shape takes the fast path"
        );
    }
}
