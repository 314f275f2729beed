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

pub mod tables;

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
    pub(crate) fields: Vec<Span>,
    /// ENRICHED-format interpretations after the `\x1d` separator.
    pub(crate) enriched: Vec<Span>,
}

impl Record {
    /// Parses one auditd log line (`[node=N ]type=T msg=audit(S.MS:SEQ): ...`, RAW or ENRICHED).
    pub fn parse_log_line(line: &[u8]) -> Result<Record, ParseError> {
        let _ = line;
        todo!("record parser")
    }

    /// Parses a netlink payload; the type comes from the netlink header.
    pub fn from_netlink(msg_type: u16, payload: &[u8]) -> Result<Record, ParseError> {
        let _ = (msg_type, payload);
        todo!("record parser")
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
        &self.text[self.body as usize..]
    }
    fn field_ref(&self, s: &Span) -> FieldRef<'_> {
        FieldRef {
            key: &self.text[s.key.0 as usize..s.key.1 as usize],
            raw: &self.text[s.val.0 as usize..s.val.1 as usize],
            kind: s.kind,
        }
    }
    /// The kernel's fields in order (those inside `msg='...'` included, flattened).
    pub fn fields(&self) -> impl Iterator<Item = FieldRef<'_>> + '_ {
        self.fields.iter().map(move |s| self.field_ref(s))
    }
    pub fn get(&self, key: &str) -> Option<FieldRef<'_>> {
        self.fields().find(|f| f.key == key)
    }
    pub fn enriched_fields(&self) -> impl Iterator<Item = FieldRef<'_>> + '_ {
        self.enriched.iter().map(move |s| self.field_ref(s))
    }
    /// An ENRICHED interpretation such as `UID` → `root`.
    pub fn enriched(&self, key: &str) -> Option<&str> {
        self.enriched_fields().find(|f| f.key == key).map(|f| f.raw)
    }
}

impl<'a> FieldRef<'a> {
    /// The value with hex decoding applied where the kernel hex-encoded it (lossy UTF-8).
    pub fn decoded(&self) -> Cow<'a, str> {
        todo!("record parser")
    }
}
