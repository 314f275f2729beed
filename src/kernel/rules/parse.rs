//! auditctl rule lines → [`Directive`]s, following auditctl/libaudit 3.0 semantics (option order,
//! value syntax, which field fits which list), with stricter numbers: trailing garbage and values
//! that do not fit 32 bits are errors instead of being silently cut.

use super::fields::{self, id, op, Action, List, BITMASK_WORDS, MAX_FIELDS, MAX_KEY_LEN, PATH_MAX};
use super::{names, Control, Directive, Entry, Field, Origin, Rule, RuleError, RuleSet, Value};
use std::path::Path;

/// Parses one line. Blank lines and `#` comments give no directives; a line may hold several
/// settings (`-b 8192 -f 1`) or exactly one rule.
pub fn parse_line(line: &str) -> Result<Vec<Directive>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Vec::new());
    }
    let args = split_args(trimmed)?;
    Builder::default().run(&args)
}

/// Parses rule text; `file` names it in errors. Every line is tried; all errors are returned.
pub fn parse_str(file: &str, text: &str) -> (RuleSet, Vec<RuleError>) {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            line: i + 1,
        };
        match parse_line(line) {
            Ok(directives) => set
                .entries
                .extend(directives.into_iter().map(|directive| Entry {
                    origin: origin.clone(),
                    directive,
                })),
            Err(reason) => errors.push(RuleError {
                origin,
                text: line.trim().to_owned(),
                reason,
            }),
        }
    }
    (set, errors)
}

/// Reads and parses a rules file (invalid UTF-8 is replaced, and reported by the lines it breaks).
pub fn parse_file(path: &Path) -> (RuleSet, Vec<RuleError>) {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_str(&name, &String::from_utf8_lossy(&bytes)),
        Err(e) => {
            let origin = Origin {
                file: name,
                line: 0,
            };
            (
                RuleSet::default(),
                vec![RuleError {
                    origin,
                    text: String::new(),
                    reason: format!("cannot read: {e}"),
                }],
            )
        }
    }
}

/// Splits at whitespace; `'…'` and `"…"` group words (quotes removed), as in
/// `-w "/folder with space"`.
fn split_args(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        args.push(cur);
    }
    Ok(args)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Prepend,
    Delete,
}

#[derive(Default)]
struct Builder {
    mode: Option<Mode>,
    list: Option<List>,
    action: Option<Action>,
    /// Index of the `perm` field of a `-w` watch (which `-p` updates).
    watch_perm: Option<usize>,
    mask: Option<[u32; BITMASK_WORDS]>,
    arch: Option<u32>,
    fields: Vec<Field>,
    keys: Vec<String>,
    syscall_added: bool,
    perm_added: bool,
    exe_added: bool,
    controls: Vec<Control>,
    delete_all: bool,
    /// `-D -k KEY`.
    delete_key: Option<String>,
}

/// Options that take an argument.
const WITH_ARG: &str = "aAdwWpkSFCbefr";

impl Builder {
    fn run(mut self, args: &[String]) -> Result<Vec<Directive>, String> {
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (long, None),
                };
                match name {
                    "backlog_wait_time" => {
                        let v = inline
                            .or_else(|| it.next().cloned())
                            .ok_or("--backlog_wait_time needs a value")?;
                        self.controls.push(Control::BacklogWaitTime(setting(
                            &v,
                            "--backlog_wait_time",
                            u32::MAX,
                        )?));
                    }
                    "reset-lost" => self.controls.push(Control::ResetLost),
                    "loginuid-immutable" => self.controls.push(Control::LoginuidImmutable),
                    _ => return Err(format!("unknown option --{name}")),
                }
                continue;
            }
            let mut chars = arg.chars();
            let (Some('-'), Some(opt)) = (chars.next(), chars.next()) else {
                return Err(format!(
                    "unexpected argument `{arg}` (options start with -)"
                ));
            };
            let attached = chars.as_str();
            let value = if WITH_ARG.contains(opt) {
                if attached.is_empty() {
                    Some(
                        it.next()
                            .ok_or_else(|| format!("option -{opt} needs a value"))?
                            .clone(),
                    )
                } else {
                    Some(attached.to_owned())
                }
            } else if !attached.is_empty() {
                return Err(format!("unknown option `{arg}`"));
            } else {
                None
            };
            let v = value.as_deref().unwrap_or_default();
            match opt {
                'a' => self.set_list(v, Mode::Add)?,
                'A' => self.set_list(v, Mode::Prepend)?,
                'd' => self.set_list(v, Mode::Delete)?,
                'w' => self.watch(v, Mode::Add)?,
                'W' => self.watch(v, Mode::Delete)?,
                'p' => self.perm(v)?,
                'k' => self.key(v)?,
                'S' => self.syscalls(v)?,
                'F' => self.field(v)?,
                'C' => self.compare(v)?,
                'D' => self.delete_all = true,
                'b' => self
                    .controls
                    .push(Control::BacklogLimit(setting(v, "-b", u32::MAX)?)),
                'e' => self.controls.push(Control::Enabled(setting(v, "-e", 2)?)),
                'f' => self.controls.push(Control::Failure(setting(v, "-f", 2)?)),
                'r' => self
                    .controls
                    .push(Control::RateLimit(setting(v, "-r", u32::MAX)?)),
                'i' => self.controls.push(Control::IgnoreErrors),
                'c' => self.controls.push(Control::ContinueOnError),
                'l' | 's' | 'v' | 'h' | 'R' | 'm' | 't' | 'q' => {
                    return Err(format!(
                    "-{opt} is a command, not a rule or setting; it has no place in a rules file"
                ))
                }
                _ => return Err(format!("unknown option -{opt}")),
            }
        }
        self.finish()
    }

    fn set_list(&mut self, v: &str, mode: Mode) -> Result<(), String> {
        if self.mode.is_some() {
            return Err("only one -a/-A/-d/-w/-W per line".into());
        }
        let (a, b) = v
            .split_once(',')
            .ok_or_else(|| format!("`{v}`: expected list,action (e.g. always,exit)"))?;
        let (list, action) = match (List::from_name(a), Action::from_name(b), List::from_name(b), Action::from_name(a)) {
            (Some(l), Some(act), _, _) | (_, _, Some(l), Some(act)) => (l, act),
            _ if [a, b].contains(&"entry") => return Err("the entry list is deprecated; use exit".into()),
            _ => return Err(format!("`{v}`: expected a list (exit, exclude, user, task, filesystem, io_uring) and an action (always, never)")),
        };
        if action == Action::Possible {
            return Err("the possible action is deprecated; use always".into());
        }
        self.mode = Some(mode);
        self.list = Some(list);
        self.action = Some(action);
        Ok(())
    }

    fn watch(&mut self, path: &str, mode: Mode) -> Result<(), String> {
        if self.mode.is_some() {
            return Err("-w/-W cannot be combined with -a/-A/-d or another watch".into());
        }
        check_watch_path(path)?;
        // Trailing slashes go, like auditctl; then an existing directory becomes a tree watch.
        let mut p = path;
        if p.len() > 2 {
            p = p.trim_end_matches('/');
            if p.is_empty() {
                p = "/";
            }
        }
        let kind = if std::fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false) {
            id::DIR
        } else {
            id::WATCH
        };
        self.mode = Some(mode);
        self.list = Some(List::Exit);
        self.action = Some(Action::Always);
        self.mask = Some(all_mask());
        self.syscall_added = true;
        self.perm_added = true;
        self.fields.push(Field {
            id: kind,
            op: op::EQUAL,
            value: Value::Str(p.as_bytes().to_vec()),
        });
        self.fields.push(Field {
            id: id::PERM,
            op: op::EQUAL,
            value: Value::Num(15),
        });
        self.watch_perm = Some(1);
        Ok(())
    }

    fn perm(&mut self, v: &str) -> Result<(), String> {
        let idx = self.watch_perm.ok_or("-p needs a watch (-w) before it")?;
        self.fields[idx].value = Value::Num(perm_bits(v)?);
        Ok(())
    }

    fn key(&mut self, v: &str) -> Result<(), String> {
        if self.delete_all && self.mode.is_none() && self.delete_key.is_none() {
            self.delete_key = Some(v.to_owned());
            return Ok(());
        }
        if self.mode.is_none() || !(self.syscall_added || self.perm_added || self.exe_added) {
            return Err("key option needs a watch or syscall given prior to it".into());
        }
        if v.is_empty() {
            return Err("empty key".into());
        }
        if v.contains(fields::KEY_SEPARATOR as char) {
            return Err("a key cannot contain the \\x01 key separator".into());
        }
        self.keys.push(v.to_owned());
        let total = self.keys.iter().map(|k| k.len()).sum::<usize>() + self.keys.len() - 1;
        if total > MAX_KEY_LEN {
            return Err(format!(
                "keys total {total} bytes, more than the kernel's {MAX_KEY_LEN}"
            ));
        }
        Ok(())
    }

    fn list(&self, what: &str) -> Result<List, String> {
        self.list
            .ok_or_else(|| format!("{what} needs a list first (-a/-A/-d or -w)"))
    }

    fn syscalls(&mut self, v: &str) -> Result<(), String> {
        let list = self.list("-S")?;
        if self.watch_perm.is_some() {
            return Err("-S cannot be used with a watch (-w)".into());
        }
        if !matches!(list, List::Exit | List::IoUring) {
            return Err(format!(
                "syscalls cannot be filtered on the {} list (only exit)",
                list.name()
            ));
        }
        let mask = self.mask.get_or_insert([0; BITMASK_WORDS]);
        for name in v.split(',') {
            let nr = match name {
                "all" => {
                    *mask = all_mask();
                    continue;
                }
                "" => return Err(format!("-S `{v}`: empty syscall name")),
                _ if name.bytes().all(|b| b.is_ascii_digit()) => name
                    .parse::<u32>()
                    .map_err(|_| format!("syscall number {name} out of range"))?,
                _ if list == List::IoUring => {
                    return Err(format!(
                        "io_uring operations are given by number, not `{name}`"
                    ))
                }
                _ => {
                    let arch = self
                        .arch
                        .or_else(fields::host_arch)
                        .ok_or("cannot tell this machine's architecture; add -F arch=")?;
                    names::syscall_number(arch, name).ok_or_else(|| {
                        let arch_name = names::arch_name(arch).unwrap_or("?");
                        format!("unknown syscall `{name}` for arch {arch_name}")
                    })?
                }
            };
            if nr > fields::MAX_SYSCALL {
                return Err(format!(
                    "syscall number {nr} out of range (at most {})",
                    fields::MAX_SYSCALL
                ));
            }
            mask[(nr / 32) as usize] |= 1 << (nr % 32);
        }
        self.syscall_added = true;
        Ok(())
    }

    fn push(&mut self, id: u32, op: u32, value: Value) -> Result<(), String> {
        // auditctl keeps one slot free: at most 63 fields, the key included.
        if self.fields.len() + usize::from(!self.keys.is_empty()) >= MAX_FIELDS - 1 {
            return Err(format!("too many fields (at most {})", MAX_FIELDS - 1));
        }
        self.fields.push(Field { id, op, value });
        Ok(())
    }

    fn field(&mut self, pair: &str) -> Result<(), String> {
        let list = self.list("-F")?;
        let (name, oper, v) = split_pair(pair, &op::SEARCH_ORDER, "-F")?;
        let field =
            fields::field_from_name(name).ok_or_else(|| format!("-F unknown field: {name}"))?;
        if field == id::FILTERKEY {
            if oper != op::EQUAL {
                return Err("key only takes =".into());
            }
            return self.key(v);
        }
        if list == List::Exclude
            && !matches!(
                field,
                id::PID | id::UID | id::GID | id::LOGINUID | id::MSGTYPE | id::EXE | id::SUBJ_USER
                    ..=id::SUBJ_CLR
            )
        {
            return Err(format!("field {name} cannot be used on the exclude list (only pid, uid, gid, auid, msgtype, subj_*, exe)"));
        }
        let exit_only = |what: &str| -> Result<(), String> {
            if matches!(list, List::Exit | List::IoUring) {
                Ok(())
            } else {
                Err(format!("{what} can only be used with the exit list"))
            }
        };
        let eq_or_ne = |what: &str| -> Result<(), String> {
            if oper == op::EQUAL || oper == op::NOT_EQUAL {
                Ok(())
            } else {
                Err(format!("{what} only takes = or !="))
            }
        };
        let value = match field {
            _ if fields::is_uid_field(field) => Value::Num(id_value(v, name, true)?),
            _ if fields::is_gid_field(field) => Value::Num(id_value(v, name, false)?),
            id::EXIT => {
                exit_only("exit")?;
                Value::Num(exit_value(v)?)
            }
            id::MSGTYPE => {
                if !matches!(list, List::Exclude | List::User) {
                    return Err(
                        "msgtype field can only be used with exclude or user filter list".into(),
                    );
                }
                Value::Num(if starts_digit(v) {
                    number(v, name)?
                } else {
                    names::msg_type_from_name(v)
                        .map(u32::from)
                        .ok_or_else(|| format!("unknown message type {v}"))?
                })
            }
            id::WATCH | id::DIR => {
                exit_only(name)?;
                if oper != op::EQUAL {
                    return Err(format!("{name} only takes ="));
                }
                if self
                    .fields
                    .iter()
                    .any(|f| matches!(f.id, id::WATCH | id::DIR))
                {
                    return Err("a rule can hold only one path or dir".into());
                }
                if !v.starts_with('/') {
                    return Err(format!("{name} must be an absolute path"));
                }
                if field == id::WATCH && v.len() > 1 && v.ends_with('/') {
                    return Err("path cannot end in / (use dir= for a directory)".into());
                }
                self.perm_added = true;
                string_value(v, name)?
            }
            id::OBJ_USER..=id::OBJ_LEV_HIGH => {
                exit_only(name)?;
                eq_or_ne(name)?;
                string_value(v, name)?
            }
            id::SUBJ_USER..=id::SUBJ_CLR => {
                eq_or_ne(name)?;
                string_value(v, name)?
            }
            id::EXE => {
                if !matches!(list, List::Exit | List::IoUring | List::Exclude) {
                    return Err("exe can only be used with the exit or exclude list".into());
                }
                eq_or_ne("exe")?;
                if !v.starts_with('/') {
                    return Err("exe must be an absolute path".into());
                }
                self.exe_added = true;
                string_value(v, name)?
            }
            id::ARCH => {
                if self.syscall_added {
                    return Err("arch must be before -S".into());
                }
                eq_or_ne("arch")?;
                let arch = arch_value(v)?;
                self.arch = Some(arch);
                Value::Num(arch)
            }
            id::PERM => {
                exit_only("perm")?;
                if oper != op::EQUAL {
                    return Err("perm only takes =".into());
                }
                self.perm_added = true;
                Value::Num(perm_bits(v)?)
            }
            id::FILETYPE => {
                exit_only("filetype")?;
                Value::Num(match fields::FILE_TYPES.iter().find(|(n, _)| *n == v) {
                    Some((_, t)) => *t,
                    None if starts_digit(v) => number(v, name)?,
                    None => return Err(format!("-F unknown file type {v} (block, character, dir, fifo, file, link, socket)")),
                })
            }
            id::ARG0..=id::ARG3 => Value::Num(signed_or_unsigned(v, name)?),
            id::SESSIONID => {
                if !matches!(
                    list,
                    List::Exclude | List::User | List::Exit | List::IoUring
                ) {
                    return Err(
                        "sessionid can only be used with the exit, user or exclude list".into(),
                    );
                }
                Value::Num(if v == "unset" {
                    u32::MAX
                } else {
                    signed_or_unsigned(v, name)?
                })
            }
            id::DEVMAJOR | id::DEVMINOR | id::INODE | id::SUCCESS | id::PPID | id::SADDR_FAM => {
                exit_only(name)?;
                if field == id::INODE {
                    eq_or_ne("inode")?;
                }
                Value::Num(number(v, name)?)
            }
            id::FSTYPE => {
                if list != List::Filesystem {
                    return Err("fstype can only be used with the filesystem list".into());
                }
                Value::Num(number(v, name)?)
            }
            id::LOGINUID_SET => {
                eq_or_ne("loginuid_set")?;
                match number(v, name)? {
                    n @ (0 | 1) => Value::Num(n),
                    _ => return Err("loginuid_set is 0 or 1".into()),
                }
            }
            id::FIELD_COMPARE => {
                return Err("field_compare is written with -C (e.g. -C uid!=euid)".into())
            }
            _ => Value::Num(number(v, name)?),
        };
        self.push(field, oper, value)
    }

    fn compare(&mut self, pair: &str) -> Result<(), String> {
        let list = self.list("-C")?;
        let (l, oper, r) = split_pair(pair, &[("!=", op::NOT_EQUAL), ("=", op::EQUAL)], "-C")?;
        let fl = fields::field_from_name(l).ok_or_else(|| format!("-C unknown field: {l}"))?;
        let fr = fields::field_from_name(r)
            .ok_or_else(|| format!("-C unknown right hand value for comparison with: {l}"))?;
        if list != List::Exit {
            return Err("-C can only be used with the exit list".into());
        }
        let code = fields::comparison_code(fl, fr)
            .ok_or_else(|| format!("-C cannot compare {l} with {r}"))?;
        self.push(id::FIELD_COMPARE, oper, Value::Num(code))
    }

    fn finish(mut self) -> Result<Vec<Directive>, String> {
        let mut out: Vec<Directive> = Vec::new();
        let Some(mode) = self.mode else {
            if !self.keys.is_empty() || !self.fields.is_empty() {
                return Err("fields and keys need -a/-A/-d or -w".into());
            }
            if self.delete_all {
                out.push(Directive::Control(Control::DeleteAll {
                    key: self.delete_key,
                }));
            }
            out.extend(self.controls.into_iter().map(Directive::Control));
            return Ok(out);
        };
        if self.delete_all || !self.controls.is_empty() {
            return Err(
                "a rule line cannot also carry settings (-D, -b, -e, -f, -r, -i, -c)".into(),
            );
        }
        let list = self.list.unwrap_or(List::Exit);
        let mask = match (self.mask, list) {
            (Some(m), _) => m,
            (None, List::Task) => [0; BITMASK_WORDS],
            (None, _) => all_mask(),
        };
        if !self.keys.is_empty() {
            let key = self.keys.join("\u{1}");
            self.fields.push(Field {
                id: id::FILTERKEY,
                op: op::EQUAL,
                value: Value::Str(key.into_bytes()),
            });
        }
        let rule = Rule {
            list,
            action: self.action.unwrap_or(Action::Always),
            prepend: mode == Mode::Prepend,
            mask,
            fields: self.fields,
        };
        out.push(if mode == Mode::Delete {
            Directive::Delete(rule)
        } else {
            Directive::Add(rule)
        });
        Ok(out)
    }
}

fn all_mask() -> [u32; BITMASK_WORDS] {
    let mut m = [u32::MAX; BITMASK_WORDS];
    m[BITMASK_WORDS - 1] = fields::ALL_SYSCALLS_LAST_WORD;
    m
}

/// `NAME OP VALUE` with the operator found the way libaudit finds it (first spelling in `ops`
/// order that occurs anywhere in the pair).
fn split_pair<'a>(
    pair: &'a str,
    ops: &[(&str, u32)],
    opt: &str,
) -> Result<(&'a str, u32, &'a str), String> {
    let (pos, sym, code) = ops
        .iter()
        .find_map(|(s, c)| pair.find(s).map(|p| (p, *s, *c)))
        .ok_or_else(|| format!("{opt} `{pair}`: no operator (=, !=, <, >, <=, >=, &, &=)"))?;
    let (name, value) = (&pair[..pos], &pair[pos + sym.len()..]);
    if name.is_empty() {
        return Err(format!(
            "{opt} missing field name before operator for {pair}"
        ));
    }
    if value.is_empty() {
        return Err(format!("{opt} missing value after operation for {name}"));
    }
    Ok((name, code, value))
}

fn check_watch_path(path: &str) -> Result<(), String> {
    if path.len() >= PATH_MAX {
        return Err("the path passed for the watch is too big".into());
    }
    if !path.starts_with('/') {
        return Err("the path must start with '/'".into());
    }
    let base = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if base.len() > 255 {
        return Err("the base name of the path is too big".into());
    }
    Ok(())
}

fn perm_bits(v: &str) -> Result<u32, String> {
    if v.len() > 4 {
        return Err(format!("permission `{v}` can only contain 'rwxa'"));
    }
    v.chars().try_fold(0, |acc, c| {
        let c = c.to_ascii_lowercase();
        fields::PERMS
            .iter()
            .find(|(l, _)| *l == c)
            .map(|(_, bit)| acc | bit)
            .ok_or_else(|| format!("permission `{v}` can only contain 'rwxa'"))
    })
}

fn starts_digit(v: &str) -> bool {
    v.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// C `strtol(v, NULL, 0)` syntax (`0x` hex, leading `0` octal, else decimal) over the whole
/// string, with an optional leading minus.
fn c_integer(v: &str) -> Option<i64> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// A number that is stored in 32 bits: -2^31..2^32-1, negatives two's complement (like C).
fn to_u32(n: i64, v: &str, name: &str) -> Result<u32, String> {
    if (-(1i64 << 31)..(1i64 << 32)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(format!("-F {name}={v}: out of the 32-bit range"))
    }
}

/// Non-negative numbers only (pid, pers, devmajor, …), as auditctl requires.
fn number(v: &str, name: &str) -> Result<u32, String> {
    match c_integer(v) {
        Some(n) if starts_digit(v) => to_u32(n, v, name),
        _ => Err(format!("-F value should be number for {name} (got `{v}`)")),
    }
}

fn signed_or_unsigned(v: &str, name: &str) -> Result<u32, String> {
    c_integer(v)
        .ok_or_else(|| format!("-F value should be number for {name} (got `{v}`)"))
        .and_then(|n| to_u32(n, v, name))
}

/// uid/gid values: numbers, `unset` (4294967295), or a user/group name looked up locally.
fn id_value(v: &str, name: &str, user: bool) -> Result<u32, String> {
    if let Some(n) = c_integer(v) {
        return to_u32(n, v, name);
    }
    if v == "unset" {
        return Ok(u32::MAX);
    }
    if user {
        match nix::unistd::User::from_name(v) {
            Ok(Some(u)) => Ok(u.uid.as_raw()),
            _ => Err(format!("Unknown user: {v}")),
        }
    } else {
        match nix::unistd::Group::from_name(v) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            _ => Err(format!("Unknown group: {v}")),
        }
    }
}

/// `exit=` takes numbers or errno names, either sign: `-EACCES`, `EPERM`, `-13`.
fn exit_value(v: &str) -> Result<u32, String> {
    if let Some(n) = c_integer(v) {
        return to_u32(n, v, "exit");
    }
    let (neg, name) = match v.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, v),
    };
    let n = names::errno_number(name).ok_or_else(|| format!("-F exit={v}: unknown errno name"))?;
    Ok(if neg {
        (n as i32).wrapping_neg() as u32
    } else {
        n
    })
}

fn string_value(v: &str, name: &str) -> Result<Value, String> {
    if v.len() > PATH_MAX {
        return Err(format!("{name} value longer than {PATH_MAX} bytes"));
    }
    Ok(Value::Str(v.as_bytes().to_vec()))
}

/// `b64`/`b32` (relative to this machine), an architecture name, or an `AUDIT_ARCH_*` number.
fn arch_value(v: &str) -> Result<u32, String> {
    let host = fields::host_arch();
    let arch = match v.to_ascii_lowercase().as_str() {
        "b64" => host
            .filter(|h| h & fields::ARCH_64BIT != 0)
            .ok_or("b64 given but this machine is not 64-bit")?,
        "b32" => match host {
            Some(h) if h & fields::ARCH_64BIT == 0 => h,
            Some(h) => names::compat32(h).ok_or("this machine has no 32-bit architecture")?,
            None => return Err("cannot tell this machine's architecture".into()),
        },
        name if starts_digit(name) => {
            let n = c_integer(name).ok_or_else(|| format!("-F arch={v}: not a number"))?;
            to_u32(n, v, "arch")?
        }
        name => {
            names::arch_code(name).ok_or_else(|| format!("-F arch={v}: unknown architecture"))?
        }
    };
    if !fields::arch_is_known(arch) {
        return Err(format!("-F arch={v}: unknown architecture"));
    }
    Ok(arch)
}

/// Settings take a plain number within a bound.
fn setting(v: &str, opt: &str, max: u32) -> Result<u32, String> {
    match c_integer(v) {
        Some(n) if n >= 0 && n <= i64::from(max) => Ok(n as u32),
        _ => Err(format!("{opt} `{v}`: expected a number from 0 to {max}")),
    }
}
