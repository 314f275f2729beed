//! Kernel audit rules in auditctl syntax → `struct audit_rule_data` bytes, and back.
//!
//! - [`parse_line`] / [`parse_str`] / [`parse_file`]: auditctl rule lines (`-a`, `-A`, `-d`,
//!   `-w`, `-W`, `-S`, `-F`, `-C`, `-k`, `-p`) and control lines (`-D`, `-b`, `-e`, `-f`, `-r`,
//!   `--backlog_wait_time`, `-i`, `-c`). Every bad line is reported (file:line and why); the
//!   others still load.
//! - [`Rule::to_bytes`]: the kernel's `audit_rule_data`, native endianness, byte-identical to what
//!   the kernel lists back for the same rule loaded with auditctl.
//! - [`decode`] / [`Rule::to_auditctl`]: bytes → the text `auditctl -l` prints.
//! - [`load_dirs`]: `*.rules` of several directories, augenrules-style; [`bundled`]: the rules the
//!   bundled detections need, embedded in the binary; [`self_exclusion`]: a rule that keeps the
//!   sensor's own syscalls out of the stream.
//!
//! Like auditctl, compiling a watch looks at the filesystem: `-w PATH` becomes a `dir` (recursive
//! tree) rule when PATH is an existing directory, otherwise a `path` (inode) watch.

pub mod fields;
mod listing;
mod load;
mod names;
mod parse;
mod wire;

pub use fields::{Action, List};
pub use listing::decode;
pub use load::{bundled, load_dirs, self_exclusion, SelfId, BUNDLED_FILES};
pub use parse::{parse_file, parse_line, parse_str};
pub use wire::{DecodeError, HEADER_LEN};

use std::fmt;

/// One compiled rule: the contents of `struct audit_rule_data`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub list: List,
    pub action: Action,
    /// `-A`: insert at the head of the list (`AUDIT_FILTER_PREPEND`).
    pub prepend: bool,
    pub mask: [u32; fields::BITMASK_WORDS],
    pub fields: Vec<Field>,
}

/// One `-F`/`-C`/`-k` condition: field number (`fields::id`), operator (`fields::op`), value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub id: u32,
    pub op: u32,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Num(u32),
    /// Paths, keys, SELinux labels, exe: raw bytes (a path need not be UTF-8).
    Str(Vec<u8>),
}

impl Value {
    pub fn num(&self) -> Option<u32> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(_) => None,
        }
    }
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            Value::Num(_) => None,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_auditctl())
    }
}

/// What one line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directive {
    /// `-a`, `-A`, `-w`: load this rule.
    Add(Rule),
    /// `-d`, `-W`: delete the loaded rule equal to this one.
    Delete(Rule),
    Control(Control),
}

/// Control lines, for the caller to apply (settings, or how to treat errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// `-D` (optionally `-D -k KEY`: only rules with that key).
    DeleteAll { key: Option<String> },
    /// `-b N`: backlog limit.
    BacklogLimit(u32),
    /// `-e 0|1|2`: disable, enable, enable and lock the configuration.
    Enabled(u32),
    /// `-f 0|1|2`: failure mode silent, printk, panic.
    Failure(u32),
    /// `-r N`: messages per second, 0 = no limit.
    RateLimit(u32),
    /// `--backlog_wait_time N` (jiffies).
    BacklogWaitTime(u32),
    /// `--reset-lost`.
    ResetLost,
    /// `--loginuid-immutable`.
    LoginuidImmutable,
    /// `-i`: ignore errors of the following rules (auditctl `-R` semantics).
    IgnoreErrors,
    /// `-c`: continue loading after an error.
    ContinueOnError,
}

/// Where a directive came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub origin: Origin,
    pub directive: Directive,
}

/// A line that did not parse or compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub origin: Origin,
    /// The line as written.
    pub text: String,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (in `{}`)", self.origin, self.reason, self.text)
    }
}

impl std::error::Error for RuleError {}

/// Directives in load order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub entries: Vec<Entry>,
}

impl RuleSet {
    /// The rules to add, in order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.entries.iter().filter_map(|e| match &e.directive {
            Directive::Add(r) => Some(r),
            _ => None,
        })
    }
    pub fn controls(&self) -> impl Iterator<Item = &Control> {
        self.entries.iter().filter_map(|e| match &e.directive {
            Directive::Control(c) => Some(c),
            _ => None,
        })
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn extend(&mut self, other: RuleSet) {
        self.entries.extend(other.entries);
    }
    /// Drops rules that repeat an earlier rule (same bytes; the kernel refuses a duplicate
    /// with EEXIST, e.g. a local file repeating a bundled line) and returns where they were.
    pub fn dedup_rules(&mut self) -> Vec<Origin> {
        let mut seen = std::collections::HashSet::new();
        let mut dropped = Vec::new();
        self.entries.retain(|e| match &e.directive {
            Directive::Add(r) if !seen.insert(r.to_bytes()) => {
                dropped.push(e.origin.clone());
                false
            }
            _ => true,
        });
        dropped
    }
    /// Puts a rule first (e.g. [`self_exclusion`], which must precede every other rule).
    pub fn insert_first(&mut self, rule: Rule, origin: Origin) {
        self.entries.insert(
            0,
            Entry {
                origin,
                directive: Directive::Add(rule),
            },
        );
    }
}
