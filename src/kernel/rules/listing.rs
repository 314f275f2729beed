//! A rule as `auditctl -l` prints it (auditctl 3.0's `print_rule`), so a listing from the
//! kernel reads the same whether auditctl or auditwatch printed it.

use super::fields::{self, id, op, List};
use super::names;
use super::{Rule, Value};
use std::fmt::Write;

impl Rule {
    /// A watch in auditctl's sense: every syscall, a `perm` field and only path/dir/perm/key fields.
    pub fn is_watch(&self) -> bool {
        let only_watch_fields = self
            .fields
            .iter()
            .all(|f| matches!(f.id, id::PERM | id::FILTERKEY | id::DIR | id::WATCH));
        let has_perm = self.fields.iter().any(|f| f.id == id::PERM);
        let syscalls_ok =
            matches!(self.list, List::User | List::Task | List::Exclude) || self.all_syscalls();
        only_watch_fields && has_perm && syscalls_ok
    }

    /// The rule in `auditctl -l` syntax.
    pub fn to_auditctl(&self) -> String {
        let watch = self.is_watch();
        let mut out = String::new();
        if !watch {
            let _ = write!(out, "-a {},{}", self.action.name(), self.list.name());
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
            let text = f
                .value
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
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
                    for k in text.split(fields::KEY_SEPARATOR as char) {
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
        if matches!(self.list, List::User | List::Task | List::Exclude) {
            return;
        }
        if self.all_syscalls() {
            out.push_str(" -S all");
            return;
        }
        let arch = self.arch().or_else(fields::host_arch);
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

/// Decodes `struct audit_rule_data` bytes to `auditctl -l` text.
pub fn decode(bytes: &[u8]) -> Result<String, super::DecodeError> {
    Rule::from_bytes(bytes).map(|r| r.to_auditctl())
}
