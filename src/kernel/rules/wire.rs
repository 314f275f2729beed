//! `struct audit_rule_data` (linux/audit.h), native endianness:
//!
//! ```text
//! u32 flags, action, field_count; u32 mask[64]; u32 fields[64], values[64], fieldflags[64];
//! u32 buflen; u8 buf[buflen]   // string values back to back, no terminators
//! ```

use super::fields::{self, id, Action, List, BITMASK_WORDS, FILTER_PREPEND, MAX_FIELDS};
use super::{Field, Rule, Value};
use std::fmt;

/// Size of the fixed part of `struct audit_rule_data`.
pub const HEADER_LEN: usize = 4 * (3 + BITMASK_WORDS + 3 * MAX_FIELDS + 1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad audit_rule_data: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

impl Rule {
    /// The rule as `struct audit_rule_data` bytes (`sizeof` + `buflen`, unpadded). This is the
    /// kernel's canonical form, identical to what `AUDIT_LIST_RULES` returns for the rule.
    pub fn to_bytes(&self) -> Vec<u8> {
        let strings: Vec<&[u8]> = self
            .fields
            .iter()
            .filter_map(|f| match &f.value {
                Value::Str(s) => Some(s.as_slice()),
                Value::Num(_) => None,
            })
            .collect();
        let buflen: usize = strings.iter().map(|s| s.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + buflen);
        let mut put = |v: u32| out.extend_from_slice(&v.to_ne_bytes());
        put(self.list.code() | if self.prepend { FILTER_PREPEND } else { 0 });
        put(self.action.code());
        put(self.fields.len() as u32);
        self.mask.iter().for_each(|w| put(*w));
        let column = |get: &dyn Fn(&Field) -> u32| -> Vec<u32> {
            (0..MAX_FIELDS)
                .map(|i| self.fields.get(i).map_or(0, get))
                .collect()
        };
        let ids = column(&|f| f.id);
        let values = column(&|f| match &f.value {
            Value::Num(n) => *n,
            Value::Str(s) => s.len() as u32,
        });
        let ops = column(&|f| f.op);
        for w in ids.iter().chain(&values).chain(&ops) {
            put(*w);
        }
        put(buflen as u32);
        for s in strings {
            out.extend_from_slice(s);
        }
        out
    }

    /// Parses `struct audit_rule_data` bytes (trailing netlink padding is ignored).
    pub fn from_bytes(b: &[u8]) -> Result<Rule, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError(format!(
                "{} bytes, the header alone is {HEADER_LEN}",
                b.len()
            )));
        }
        let word =
            |i: usize| u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let flags = word(0);
        let list = List::from_code(flags & !FILTER_PREPEND)
            .ok_or_else(|| DecodeError(format!("unknown filter list in flags {flags:#x}")))?;
        let action = Action::from_code(word(1))
            .ok_or_else(|| DecodeError(format!("unknown action {}", word(1))))?;
        let count = word(2) as usize;
        if count > MAX_FIELDS {
            return Err(DecodeError(format!(
                "field_count {count} exceeds {MAX_FIELDS}"
            )));
        }
        let mut mask = [0u32; BITMASK_WORDS];
        for (i, m) in mask.iter_mut().enumerate() {
            *m = word(3 + i);
        }
        let (ids_at, values_at, ops_at) = (
            3 + BITMASK_WORDS,
            3 + BITMASK_WORDS + MAX_FIELDS,
            3 + BITMASK_WORDS + 2 * MAX_FIELDS,
        );
        let buflen = word(3 + BITMASK_WORDS + 3 * MAX_FIELDS) as usize;
        let buf = b.get(HEADER_LEN..HEADER_LEN + buflen).ok_or_else(|| {
            DecodeError(format!(
                "buflen {buflen} but only {} bytes follow the header",
                b.len() - HEADER_LEN
            ))
        })?;
        let mut offset = 0usize;
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let (fid, value, op) = (word(ids_at + i), word(values_at + i), word(ops_at + i));
            let value = if fields::is_string_field(fid) {
                let end = offset + value as usize;
                let s = buf.get(offset..end).ok_or_else(|| {
                    DecodeError(format!(
                        "field {i} string of {value} bytes overruns the {buflen}-byte buffer"
                    ))
                })?;
                offset = end;
                Value::Str(s.to_vec())
            } else {
                Value::Num(value)
            };
            out.push(Field { id: fid, op, value });
        }
        Ok(Rule {
            list,
            action,
            prepend: flags & FILTER_PREPEND != 0,
            mask,
            fields: out,
        })
    }

    /// Whether the rule applies to every syscall (the form `-S all` and watches compile to).
    pub fn all_syscalls(&self) -> bool {
        self.mask[..BITMASK_WORDS - 1]
            .iter()
            .all(|w| *w == u32::MAX)
    }

    /// The syscall numbers in the mask, ascending (empty for `-S all` rules too).
    pub fn syscalls(&self) -> Vec<u32> {
        if self.all_syscalls() {
            return Vec::new();
        }
        (0..(BITMASK_WORDS as u32 * 32))
            .filter(|n| self.mask[(n / 32) as usize] & (1 << (n % 32)) != 0)
            .collect()
    }

    /// The `arch` field's value, if the rule has one.
    pub fn arch(&self) -> Option<u32> {
        self.fields
            .iter()
            .find(|f| f.id == id::ARCH)
            .and_then(|f| f.value.num())
    }

    /// The rule's keys (`-k`), split at the separator.
    pub fn keys(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.id == id::FILTERKEY)
            .filter_map(|f| f.value.bytes())
            .flat_map(|k| {
                k.split(|b| *b == fields::KEY_SEPARATOR)
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
