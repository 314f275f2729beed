//! One audit record, as the kernel sent it over netlink or auditd wrote it to its log.
//!
//! A record keeps its text and refers to keys and values by byte ranges, so parsing allocates
//! once per record. `FieldRef::decoded` gives the interpreted string (hex decoded) on demand.
//!
//! PUBLIC API CONTRACT (other modules build on it; keep the signatures):
//! - `Record::parse_log_line(&[u8]) -> Result<Record, ParseError>`
//! - `Record::from_netlink(msg_type: u16, payload: &[u8]) -> Result<Record, ParseError>`
//! - `rtype()`, `type_name()`, `seq()`, `secs()`, `millis()`, `timestamp_ms()`, `node()`,
//!   `fields()`, `get(key)`, `enriched(key)`, `enriched_fields()`, `raw_msg()`
//! - `tables::{syscall_name, arch_name, errno_name, msg_type_name, msg_type_from_name}`
//!
//! Interpretation helpers (for the ECS normalizer and the rule compiler):
//! - `FieldRef::decoded`, `is_hex_encoded_field`: hex-encoded strings decoded.
//! - `tables`: also `syscall_number`, `arch_from_name` (`b64`/`b32`/`x86_64`...),
//!   `arch_name_hex`, `native_arch`, `compat_arch`, `errno_number`, `AUDIT_*` type numbers.
//! - `execve::assemble(records) -> Argv` (`argc`, `aN`, `aN_len`, `aN[i]`, several records).
//! - `sockaddr::parse(hex) -> SockAddr` (inet, inet6, unix incl. abstract `@name`, netlink).
//! - `proctitle::parse(&FieldRef) -> Proctitle` (argv and title), `proctitle::title` (title only).
//! - `interp`: `arch`, `syscall`, `exit_errno`, `result`, `is_unset_id`, `selinux_context`,
//!   `rule_keys`/`tags`, `file_mode`, `signal_name`, and `data(&Record)`: the interpreted
//!   key/value view (Auditbeat's `auditd.data`, go-libaudit's auparse view).

pub mod execve;
pub mod fast_hash;
mod generated;
pub mod hex;
pub mod interp;
mod parse;
pub mod proctitle;
pub mod sockaddr;
pub mod tables;

use parse::{err, parse_header, skip_spaces, trim_end, word_end, Tokenizer};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// `key=value` unquoted (numbers, hex-encoded strings, names).
    Plain,
    /// `key="value"` (the quotes are not part of `raw`).
    Quoted,
    /// `key=(null)`.
    Null,
    /// `key=?`.
    Unset,
}

#[derive(Clone, Copy, Debug)]
pub struct FieldRef<'a> {
    pub key: &'a str,
    /// The value as the kernel printed it, without surrounding quotes.
    pub raw: &'a str,
    pub kind: FieldKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for ParseError {}

/// Byte ranges into `Record::text`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub key: (u32, u32),
    pub val: (u32, u32),
    pub kind: FieldKind,
}

#[derive(Clone, Debug)]
pub struct Record {
    pub(crate) rtype: u16,
    pub(crate) seq: u32,
    pub(crate) secs: u64,
    pub(crate) millis: u32,
    /// The record's text from `audit(` on (node= and type= prefixes of log lines dropped).
    pub(crate) text: String,
    pub(crate) node: Option<String>,
    /// Offset of the first key after `audit(...): `.
    pub(crate) body: u32,
    /// End of the kernel's text: the ENRICHED separator or the end of the line. Past it come
    /// the ENRICHED fields, then the names of synthesized fields (`seresult`, `old_auid`).
    pub(crate) end: u32,
    pub(crate) fields: Vec<Span>,
    /// ENRICHED-format interpretations after the `\x1d` separator.
    pub(crate) enriched: Vec<Span>,
    /// `text` is all ASCII (nearly every record): any byte range of it is a `str`, so
    /// fields are sliced without char-boundary checks.
    ascii: bool,
}

impl Record {
    /// Parses one auditd log line (`[node=N ]type=T msg=audit(S.MS:SEQ): ...`, RAW or ENRICHED).
    pub fn parse_log_line(line: &[u8]) -> Result<Record, ParseError> {
        let mut rest = trim_end(skip_spaces(line));
        let mut node = None;
        if let Some(r) = rest.strip_prefix(b"node=") {
            let sp = word_end(r);
            if sp == r.len() {
                return Err(err("truncated header: nothing after node="));
            }
            node = Some(String::from_utf8_lossy(&r[..sp]).into_owned());
            rest = skip_spaces(&r[sp..]);
        }
        let r = rest
            .strip_prefix(b"type=")
            .ok_or_else(|| err("not an audit log line: no type= at the start"))?;
        let sp = word_end(r);
        if sp == r.len() {
            return Err(err("truncated header: nothing after type="));
        }
        let name = &r[..sp];
        let rtype = tables::common_msg_type(name)
            .or_else(|| {
                std::str::from_utf8(name)
                    .ok()
                    .and_then(tables::msg_type_from_name)
            })
            .ok_or_else(|| {
                err(format!(
                    "unknown record type {:?}",
                    String::from_utf8_lossy(name)
                ))
            })?;
        let r = skip_spaces(&r[sp..])
            .strip_prefix(b"msg=")
            .ok_or_else(|| err("not an audit log line: no msg= after type="))?;
        Self::parse_payload(rtype, node, r, true)
    }

    /// Parses a netlink payload; the type comes from the netlink header.
    pub fn from_netlink(msg_type: u16, payload: &[u8]) -> Result<Record, ParseError> {
        Self::parse_payload(msg_type, None, trim_end(skip_spaces(payload)), false)
    }

    fn parse_payload(
        rtype: u16,
        node: Option<String>,
        bytes: &[u8],
        log_format: bool,
    ) -> Result<Record, ParseError> {
        if !bytes.starts_with(b"audit(") {
            return Err(err("no audit( header"));
        }
        if bytes.len() > MAX_RECORD_LEN {
            return Err(err(format!("record of {} bytes is too long", bytes.len())));
        }
        // Records are nearly always ASCII, which needs no UTF-8 decoding; the lossy path is
        // only for bad input.
        let ascii = all_ascii(bytes);
        let mut text = if ascii {
            // SAFETY: every byte is below 0x80 (checked just above), and ASCII is UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }.to_owned()
        } else {
            match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            }
        };
        let b = text.as_bytes();
        let h = parse_header(b)?;
        let end = match log_format {
            true => memchr::memchr(ENRICHED_SEP, b).unwrap_or(b.len()),
            false => b.len(),
        };
        let mut t = Tokenizer {
            s: b,
            base: b.len(),
            extra: String::new(),
            avc_done: false,
        };
        // One allocation in the common case without counting: kernel fields take ten bytes
        // or more on average (denser text grows the vector).
        let mut fields = Vec::with_capacity(((end - h.body.min(end)) / 8 + 2).min(512));
        t.scan(h.body.min(end), end, false, &mut fields);
        let mut enriched = Vec::new();
        if end < b.len() {
            t.scan(end + 1, b.len(), false, &mut enriched);
        }
        let extra = t.extra;
        let ascii = ascii && extra.is_ascii();
        text.push_str(&extra);
        Ok(Record {
            rtype,
            seq: h.seq,
            secs: h.secs,
            millis: h.millis,
            text,
            node,
            body: h.body.min(end) as u32,
            end: end as u32,
            fields,
            enriched,
            ascii,
        })
    }

    pub fn rtype(&self) -> u16 {
        self.rtype
    }
    /// `SYSCALL`, `EXECVE`, ... or `UNKNOWN[1234]` for types without a name.
    pub fn type_name(&self) -> Cow<'static, str> {
        match tables::msg_type_name(self.rtype) {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(format!("UNKNOWN[{}]", self.rtype)),
        }
    }
    pub fn seq(&self) -> u32 {
        self.seq
    }
    pub fn secs(&self) -> u64 {
        self.secs
    }
    pub fn millis(&self) -> u32 {
        self.millis
    }
    pub fn timestamp_ms(&self) -> i64 {
        self.secs as i64 * 1000 + self.millis as i64
    }
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }
    /// Everything after `audit(S.MS:SEQ): `, as the kernel printed it.
    pub fn raw_msg(&self) -> &str {
        &self.text[self.body as usize..self.end as usize]
    }
    fn field_ref(&self, s: &Span) -> FieldRef<'_> {
        FieldRef {
            key: self.slice(s.key),
            raw: self.slice(s.val),
            kind: s.kind,
        }
    }
    /// `&self.text[a..b]`; for ASCII text (the flag is set once, at parse time, and the text
    /// never changes after) without the char-boundary checks: this runs for every field read.
    #[inline(always)]
    fn slice(&self, (a, b): (u32, u32)) -> &str {
        let (a, b) = (a as usize, b as usize);
        if self.ascii {
            let bytes = &self.text.as_bytes()[a..b];
            // SAFETY: every byte of the text is ASCII, so any byte range of it is UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            &self.text[a..b]
        }
    }
    /// The kernel's fields in order (those inside `msg='...'` included, flattened).
    pub fn fields(&self) -> impl Iterator<Item = FieldRef<'_>> + '_ {
        self.fields.iter().map(move |s| self.field_ref(s))
    }
    pub fn get(&self, key: &str) -> Option<FieldRef<'_>> {
        self.find(&self.fields, key).map(|s| self.field_ref(s))
    }
    /// Compares key spans by length first: no `FieldRef` built for the fields passed over.
    fn find<'s>(&self, spans: &'s [Span], key: &str) -> Option<&'s Span> {
        let text = self.text.as_bytes();
        spans.iter().find(|s| {
            let (a, b) = (s.key.0 as usize, s.key.1 as usize);
            b.wrapping_sub(a) == key.len() && text.get(a..b) == Some(key.as_bytes())
        })
    }
    pub fn enriched_fields(&self) -> impl Iterator<Item = FieldRef<'_>> + '_ {
        self.enriched.iter().map(move |s| self.field_ref(s))
    }
    /// An ENRICHED interpretation such as `UID` → `root`.
    pub fn enriched(&self, key: &str) -> Option<&str> {
        self.find(&self.enriched, key)
            .map(|s| self.field_ref(s).raw)
    }
}

impl<'a> FieldRef<'a> {
    /// The value with hex decoding applied where the kernel hex-encoded it (lossy UTF-8).
    ///
    /// A bare value is decoded when the field is one the kernel or audit userspace
    /// hex-encodes (`is_hex_encoded_field`) and the value is kernel hex (uppercase, even
    /// length); NUL separators (proctitle) become spaces. Quoted, `(null)` and `?` values come
    /// back as printed. `a0`..`a3` that hold no uppercase letter are taken for SYSCALL's `%lx`
    /// numbers; `execve::assemble` knows the record type and decodes EXECVE arguments always.
    #[inline]
    pub fn decoded(&self) -> Cow<'a, str> {
        // Inlined test: most fields are not hex-encoded ones and come back as printed.
        if self.kind != FieldKind::Plain || self.raw.is_empty() || !is_hex_encoded_field(self.key) {
            return Cow::Borrowed(self.raw);
        }
        self.decode_hex()
    }

    fn decode_hex(&self) -> Cow<'a, str> {
        let raw = self.raw.as_bytes();
        if is_syscall_arg_key(self.key) && !raw.iter().any(|b| (b'A'..=b'F').contains(b)) {
            return Cow::Borrowed(self.raw);
        }
        match hex::decode_text(raw) {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(self.raw),
        }
    }

    /// True for `(null)` and `?`: the kernel had no value.
    pub fn is_null_or_unset(&self) -> bool {
        matches!(self.kind, FieldKind::Null | FieldKind::Unset)
    }
}

/// Fields whose bare values are hex-encoded strings: the kernel's untrusted strings
/// (`audit_log_untrustedstring` callers: comm, exe, name, cwd, path, key, proctitle, argv,
/// tty data, ...) and those audit userspace encodes with `audit_encode_nv_string` (acct,
/// cmd, ...); the same set libauparse interprets as escaped. `saddr` is binary and stays
/// hex (see `sockaddr`).
#[inline]
pub fn is_hex_encoded_field(key: &str) -> bool {
    is_arg_key(key) || (HEX_FIELD_SIG.may_have(key) && is_hex_field_name(key))
}

macro_rules! hex_fields {
    ($($name:literal)|+) => {
        const HEX_FIELDS: &[&str] = &[$($name),+];
        fn is_hex_field_name(key: &str) -> bool {
            matches!(key, $($name)|+)
        }
    };
}

hex_fields!(
    "proctitle"
    | "name"
    | "cwd"
    | "comm"
    | "ocomm"
    | "exe"
    | "path"
    | "file"
    | "watch"
    | "dir"
    | "root_dir"
    | "key"
    | "data"
    | "cmd"
    | "acct"
    | "grp"
    | "new_group"
    | "vm"
    | "device"
    | "cgroup"
    | "sw"
    | "invalid_context"
    | "old-chardev"
    | "new-chardev"
    | "old-disk"
    | "new-disk"
    | "old-fs"
    | "new-fs"
    | "old-net"
    | "new-net"
    | "old-rng"
    | "new-rng"
    // AppArmor's strings.
    | "apparmor"
    | "operation"
    | "profile"
    | "info"
    | "requested_mask"
    | "denied_mask"
);

/// (length, first byte) and (length, last byte) pairs of `HEX_FIELDS`: rule out most keys
/// (`uid`, `pid`, `exit`, `dev`, ...) without a string compare, as `decoded` runs for most
/// fields of every event.
struct KeySignatures {
    first: [u32; 32],
    last: [u32; 32],
}

impl KeySignatures {
    const fn of(names: &[&str]) -> KeySignatures {
        let (mut first, mut last) = ([0u32; 32], [0u32; 32]);
        let mut i = 0;
        while i < names.len() {
            let b = names[i].as_bytes();
            first[b.len() & 31] |= 1 << (b[0] & 31);
            last[b.len() & 31] |= 1 << (b[b.len() - 1] & 31);
            i += 1;
        }
        KeySignatures { first, last }
    }
    fn may_have(&self, key: &str) -> bool {
        let b = key.as_bytes();
        let (Some(&f), Some(&l)) = (b.first(), b.last()) else {
            return false;
        };
        let n = b.len() & 31;
        self.first[n] & (1 << (f & 31)) != 0 && self.last[n] & (1 << (l & 31)) != 0
    }
}

static HEX_FIELD_SIG: KeySignatures = KeySignatures::of(HEX_FIELDS);

/// `a0`, `a12`, `a1[3]`: EXECVE argument (or argument chunk) keys; SYSCALL's `a0`..`a3` share
/// the first form.
pub(crate) fn is_arg_key(key: &str) -> bool {
    // Byte loops, not `find`: this runs for most fields of every event.
    let b = key.as_bytes();
    if b.len() < 2 || b[0] != b'a' {
        return false;
    }
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match b.iter().position(|&c| c == b'[') {
        None => digits(&b[1..]),
        Some(i) => {
            let chunk = &b[i..];
            digits(&b[1..i])
                && chunk.len() > 2
                && chunk.ends_with(b"]")
                && digits(&chunk[1..chunk.len() - 1])
        }
    }
}

fn is_syscall_arg_key(key: &str) -> bool {
    matches!(key, "a0" | "a1" | "a2" | "a3")
}

/// True when no byte has its high bit set: the OR of all words, one test at the end (cheaper
/// than `from_utf8`'s early-exit loop on the ASCII text records are).
fn all_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().fold(0u8, |acc, &b| acc | b);
    let high = words.fold(0u64, |acc, w| {
        acc | u64::from_le_bytes(w.try_into().expect("8 bytes"))
    });
    high & HIGH == 0 && tail < 0x80
}

/// auditd's ENRICHED format separates the kernel's text from its interpretations with this.
const ENRICHED_SEP: u8 = 0x1d;
/// Spans are u32; keep room for synthesized names.
const MAX_RECORD_LEN: usize = (u32::MAX as usize) - (1 << 20);

#[cfg(test)]
mod tests;
