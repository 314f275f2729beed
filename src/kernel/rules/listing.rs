//! A rule as `auditctl -l` prints it (auditctl 3.0's `print_rule`), so a listing from the
//! kernel reads the same whether auditctl or auditwatch printed it.

use super::fields::{self, id, op, Action, List};
use super::names;
use super::{Field, Rule, Value};
use std::fmt::Write;

impl Rule {
    /// Whether the rule prints as `-w PATH -p PERM [-k KEY]`. auditctl's test (every syscall, a
    /// perm field, only path/dir/perm/key fields) plus what makes that text compile back to the
    /// same rule: `always,exit`, no `-A`, fields in `-w` order, no trailing `/` on the path
    /// (`-w` trims it). Other rules print in `-a` form, where auditctl's listing would lose them.
    pub fn is_watch(&self) -> bool {
        let shape = match self.fields.as_slice() {
            [p, m]
            | [p, m, Field {
                id: id::FILTERKEY, ..
            }] => matches!(p.id, id::WATCH | id::DIR) && m.id == id::PERM,
            _ => false,
        };
        let path_ok = self
            .fields
            .first()
            .and_then(|f| f.value.bytes())
            .is_some_and(|p| p == b"/" || !p.ends_with(b"/"));
        shape
            && path_ok
            && self.fields.iter().all(|f| f.op == op::EQUAL)
            && (self.list, self.action, self.prepend) == (List::Exit, Action::Always, false)
            && self.all_syscalls()
    }

    /// The rule in `auditctl -l` syntax.
    pub fn to_auditctl(&self) -> String {
        let watch = self.is_watch();
        let mut out = String::new();
        if !watch {
            // auditctl prints `-a` for prepended rules too; `-A` keeps the flag.
            let add = if self.prepend { "-A" } else { "-a" };
            let _ = write!(out, "{add} {},{}", self.action.name(), self.list.name());
            if let Some(f) = self.fields.iter().find(|f| f.id == id::ARCH) {
                let v = f.value.num().unwrap_or(0);
                let sym = op::symbol(f.op & op::MASK).unwrap_or("?");
                if fields::arch_is_known(v) {
                    let bits = if v & fields::ARCH_64BIT != 0 {
                        "b64"
                    } else {
                        "b32"
                    };
                    let _ = write!(out, " -F arch{sym}{bits}");
                } else {
                    let _ = write!(out, " -F arch{sym}0x{v:X}");
                }
            }
            self.write_syscalls(&mut out);
        }
        for f in &self.fields {
            let sym = op::symbol(f.op & op::MASK).unwrap_or("?");
            let num = f.value.num().unwrap_or(0);
            let text = f.value.bytes().map(quoted).unwrap_or_default();
            let Some(name) = fields::field_name(f.id) else {
                let _ = write!(out, " f{}{sym}{}", f.id, num as i32);
                continue;
            };
            match f.id {
                id::ARCH => {}
                id::MSGTYPE => match u16::try_from(num).ok().and_then(names::msg_type_name) {
                    Some(t) => {
                        let _ = write!(out, " -F {name}{sym}{t}");
                    }
                    None => {
                        let _ = write!(out, " -F {name}{sym}{}", num as i32);
                    }
                },
                id::WATCH | id::DIR if watch => {
                    let _ = write!(out, "-w {text}");
                }
                id::FILTERKEY => {
                    let raw = f.value.bytes().unwrap_or_default();
                    for k in raw.split(|b| *b == fields::KEY_SEPARATOR).map(quoted) {
                        let _ = if watch {
                            write!(out, " -k {k}")
                        } else {
                            write!(out, " -F key={k}")
                        };
                    }
                }
                id::PERM => {
                    let letters = fields::perm_letters(num);
                    let _ = if watch {
                        write!(out, " -p {letters}")
                    } else {
                        write!(out, " -F perm={letters}")
                    };
                }
                id::INODE => {
                    let _ = write!(out, " -F {name}{sym}{num}");
                }
                id::FIELD_COMPARE => {
                    if let Some((l, r)) = fields::comparison_names(num) {
                        let _ = write!(out, " -C {l}{sym}{r}");
                    }
                }
                id::ARG0..=id::ARG3 => {
                    let _ = write!(out, " -F {name}{sym}0x{num:X}");
                }
                id::EXIT => {
                    match names::errno_name(-(num as i32 as i64)).filter(|_| (num as i32) < 0) {
                        Some(e) => {
                            let _ = write!(out, " -F {name}{sym}-{e}");
                        }
                        None => {
                            let _ = write!(out, " -F {name}{sym}{}", num as i32);
                        }
                    }
                }
                _ if matches!(f.value, Value::Str(_)) => {
                    let _ = write!(out, " -F {name}{sym}{text}");
                }
                _ => {
                    let _ = write!(out, " -F {name}{sym}{}", num as i32);
                }
            }
        }
        out
    }

    fn write_syscalls(&self, out: &mut String) {
        // auditctl 3.0 prints no syscalls for these lists (filesystem rules carry all bits).
        if matches!(
            self.list,
            List::User | List::Task | List::Exclude | List::Filesystem
        ) {
            return;
        }
        if self.all_syscalls() {
            out.push_str(" -S all");
            return;
        }
        // io_uring rules hold io_uring operation numbers, not syscalls.
        let arch = self
            .arch()
            .or_else(fields::host_arch)
            .filter(|_| self.list != List::IoUring);
        for (i, nr) in self.syscalls().into_iter().enumerate() {
            out.push_str(if i == 0 { " -S " } else { "," });
            match arch.and_then(|a| names::syscall_name(a, nr)) {
                Some(name) => out.push_str(name),
                None => {
                    let _ = write!(out, "{nr}");
                }
            }
        }
    }
}

/// A string value as a rules-file word: quoted when it holds spaces or quotes (auditctl prints
/// it bare, which does not parse back).
fn quoted(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        s.into_owned()
    } else if !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

/// Decodes `struct audit_rule_data` bytes to `auditctl -l` text.
pub fn decode(bytes: &[u8]) -> Result<String, super::DecodeError> {
    Rule::from_bytes(bytes).map(|r| r.to_auditctl())
}
