//! Value interpretations for the ECS normalizer: arch and syscall names, errno names of
//! `exit`, result, unset ids, SELinux contexts, rule keys, file modes, signals, and `data`,
//! the interpreted key/value view of one record that Auditbeat reports as `auditd.data`
//! (go-libaudit's `auparse` view, see `tests/auparse_golden.rs` for the agreement).

use super::{execve, sockaddr, tables, FieldKind, FieldRef, Record};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `arch=c000003e` → `x86_64`.
pub fn arch(raw: &str) -> Option<&'static str> {
    tables::arch_name_hex(raw)
}

/// Syscall name from a record's `arch=` (hex) and `syscall=` (decimal) values.
pub fn syscall(arch_hex: &str, nr: &str) -> Option<&'static str> {
    let arch = u32::from_str_radix(arch_hex, 16).ok()?;
    tables::syscall_name(arch, nr.parse().ok()?)
}

/// `exit=-13` → `EACCES`; `None` for non-negative exits (return values, not errors).
pub fn exit_errno(raw: &str) -> Option<&'static str> {
    let code: i64 = raw.parse().ok()?;
    if code >= 0 {
        return None;
    }
    tables::errno_name(code)
}

/// `success=yes|no` (SYSCALL) or `res=success|failed|1|0` (others) → `success` / `fail`.
pub fn result(raw: &str) -> &'static str {
    let v = raw.trim_matches(|c| c == '\'' || c == '"' || c == ' ');
    let yes = v.eq_ignore_ascii_case("yes")
        || v == "1"
        || v.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("suc"));
    if yes {
        "success"
    } else {
        "fail"
    }
}

/// `auid=4294967295` (or `-1`): the id was never set.
pub fn is_unset_id(raw: &str) -> bool {
    matches!(raw, "4294967295" | "-1")
}

/// A SELinux context `user:role:type:level[:category]` (the level may hold `s0-s0`, the
/// category `c0.c1023`). Parts that are absent are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeContext<'a> {
    pub user: Option<&'a str>,
    pub role: Option<&'a str>,
    /// The type (`domain` in Auditbeat's field names).
    pub domain: Option<&'a str>,
    pub level: Option<&'a str>,
    pub category: Option<&'a str>,
}

pub fn selinux_context(raw: &str) -> SeContext<'_> {
    let mut parts = raw.splitn(5, ':');
    SeContext {
        user: parts.next(),
        role: parts.next(),
        domain: parts.next(),
        level: parts.next(),
        category: parts.next(),
    }
}

/// The rule keys (`-k`) of a `key=` field: `key="a"` → `[a]`, a hex value holding several
/// keys separated by `\x01` → all of them, `key=(null)` → none. Old kernels print
/// `key="key=net"`; the `key=` prefix is dropped.
pub fn rule_keys(field: &FieldRef<'_>) -> Vec<String> {
    if field.is_null_or_unset() || field.raw.is_empty() {
        return Vec::new();
    }
    if field.kind == FieldKind::Plain {
        if let Some(bytes) = super::hex::decode(field.raw.as_bytes()) {
            return bytes
                .split(|&b| b == 1)
                .filter(|k| !k.is_empty())
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
        }
    }
    let v = field.raw;
    vec![v.split_once('=').map_or(v, |(_, k)| k).to_string()]
}

/// The rule keys of a record (its `key=` field).
pub fn tags(rec: &Record) -> Vec<String> {
    rec.get("key").map(|f| rule_keys(&f)).unwrap_or_default()
}

/// A PATH `mode=` (octal `st_mode`): file type and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMode {
    /// `file`, `dir`, `symlink`, `char_device`, `block_device`, `fifo`, `socket`, or `None`.
    pub kind: Option<&'static str>,
    /// Permission bits incl. setuid/setgid/sticky (`0o4755`).
    pub perms: u32,
}

impl FileMode {
    /// `0644` / `4755` as Auditbeat prints `file.mode`.
    pub fn perms_octal(&self) -> String {
        format!("{:04o}", self.perms)
    }
}

pub fn file_mode(raw: &str) -> Option<FileMode> {
    let m = u32::from_str_radix(raw, 8).ok()?;
    let kind = match m & 0o170000 {
        0o100000 => Some("file"),
        0o040000 => Some("dir"),
        0o120000 => Some("symlink"),
        0o020000 => Some("char_device"),
        0o060000 => Some("block_device"),
        0o010000 => Some("fifo"),
        0o140000 => Some("socket"),
        _ => None,
    };
    Some(FileMode {
        kind,
        perms: m & 0o7777,
    })
}

/// Linux signal number → name (`31` → `SIGSYS`).
pub fn signal_name(n: u32) -> Option<&'static str> {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get(n as usize).copied().filter(|n| !n.is_empty())
}

type Data<'a> = BTreeMap<Cow<'a, str>, Cow<'a, str>>;

/// The interpreted key/value view of a record, Auditbeat's `auditd.data`:
/// - fields without a value (`?`, `(null)`, empty, quoted or not) are left out; a repeated key keeps its
///   last value (user space records repeat `uid` inside `msg='...'`);
/// - hex-encoded strings are decoded (`FieldRef::decoded`), EXECVE arguments assembled
///   from their chunks (`aN_len`, `aN[i]` fold into `aN`);
/// - `auid`, `old-auid`, `ses` of 4294967295 become `unset`;
/// - `success` (or else `res`) becomes `result`: `success` / `fail`;
/// - `exit` < 0 becomes its errno name; `arch` and `syscall` (SYSCALL, SECCOMP) their names;
///   SECCOMP `sig` its signal name;
/// - `subj` (and PATH `obj`) split into `subj_user`, `subj_role`, `subj_domain`,
///   `subj_level`, `subj_category`;
/// - `key` moves out (see `tags`);
/// - SOCKADDR `saddr` becomes `family` plus `addr`/`port`, `path`, or stays for families
///   without an address (netlink, unknown: `family` is then the number).
pub fn data(rec: &Record) -> Data<'_> {
    let t = rec.rtype();
    let mut d: Data<'_> = BTreeMap::new();
    let is_execve = t == tables::AUDIT_EXECVE;
    for f in rec.fields() {
        // `acct="?"` is as empty as `acct=?`.
        if f.is_null_or_unset() || matches!(f.raw, "" | "?" | "(null)") || f.key == "key" {
            continue;
        }
        if is_execve && (super::is_arg_key(f.key) || f.key.ends_with("_len")) {
            continue;
        }
        d.insert(Cow::Borrowed(f.key), f.decoded());
    }
    if is_execve {
        for (i, text, _) in execve::present_args([rec]).1 {
            d.insert(Cow::Owned(format!("a{i}")), Cow::Owned(text));
        }
    }
    for k in ["auid", "old-auid", "ses"] {
        if d.get(k).is_some_and(|v| is_unset_id(v)) {
            d.insert(Cow::Borrowed(k), Cow::Borrowed("unset"));
        }
    }
    split_context(&mut d, "subj");
    if t == tables::AUDIT_PATH {
        split_context(&mut d, "obj");
    }
    if let Some(v) = d.remove("success").or_else(|| d.remove("res")) {
        d.insert(Cow::Borrowed("result"), Cow::Borrowed(result(&v)));
    }
    if let Some(name) = d.get("exit").and_then(|v| exit_errno(v)) {
        d.insert(Cow::Borrowed("exit"), Cow::Borrowed(name));
    }
    if t == tables::AUDIT_SYSCALL || t == tables::AUDIT_SECCOMP {
        let sys = match (d.get("arch"), d.get("syscall")) {
            (Some(a), Some(n)) => syscall(a, n),
            _ => None,
        };
        if let Some(name) = sys {
            d.insert(Cow::Borrowed("syscall"), Cow::Borrowed(name));
        }
        if let Some(name) = d.get("arch").and_then(|a| arch(a)) {
            d.insert(Cow::Borrowed("arch"), Cow::Borrowed(name));
        }
    }
    if t == tables::AUDIT_SECCOMP {
        if let Some(name) = d
            .get("sig")
            .and_then(|s| s.parse().ok())
            .and_then(signal_name)
        {
            d.insert(Cow::Borrowed("sig"), Cow::Borrowed(name));
        }
    }
    if t == tables::AUDIT_SOCKADDR {
        if let Some(parsed) = d.get("saddr").and_then(|s| sockaddr::parse(s).ok()) {
            saddr_fields(&mut d, &parsed);
        }
    }
    d
}

fn split_context<'a>(d: &mut Data<'a>, key: &'static str) {
    let Some(v) = d.remove(key) else { return };
    let parts: Vec<String> = v.splitn(5, ':').map(str::to_string).collect();
    for (part, suffix) in
        parts
            .into_iter()
            .zip(["_user", "_role", "_domain", "_level", "_category"])
    {
        d.insert(Cow::Owned(format!("{key}{suffix}")), Cow::Owned(part));
    }
}

fn saddr_fields(d: &mut Data<'_>, s: &sockaddr::SockAddr) {
    use sockaddr::SockAddr::*;
    let family = sockaddr::family_name(s.family())
        .filter(|_| !matches!(s, Other { .. }))
        .map_or_else(|| Cow::Owned(s.family().to_string()), Cow::Borrowed);
    d.insert(Cow::Borrowed("family"), family);
    match s {
        Inet { .. } | Inet6 { .. } | Unix { .. } => {
            d.remove("saddr");
        }
        Netlink { .. } | Other { .. } => {}
    }
    match s {
        Inet { addr, port } => {
            d.insert(Cow::Borrowed("addr"), Cow::Owned(addr.to_string()));
            d.insert(Cow::Borrowed("port"), Cow::Owned(port.to_string()));
        }
        Inet6 {
            addr,
            port,
            flowinfo,
            ..
        } => {
            d.insert(Cow::Borrowed("addr"), Cow::Owned(addr.to_string()));
            d.insert(Cow::Borrowed("port"), Cow::Owned(port.to_string()));
            if *flowinfo > 0 {
                d.insert(Cow::Borrowed("flow"), Cow::Owned(flowinfo.to_string()));
            }
        }
        Unix { path } => {
            d.insert(Cow::Borrowed("path"), Cow::Owned(path.clone()));
        }
        Netlink { .. } | Other { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> Record {
        Record::parse_log_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn small_interpretations() {
        assert_eq!(arch("c000003e"), Some("x86_64"));
        assert_eq!(syscall("c000003e", "59"), Some("execve"));
        assert_eq!(syscall("40000003", "11"), Some("execve"));
        assert_eq!(syscall("c00000b7", "221"), Some("execve"));
        assert_eq!(syscall("zz", "1"), None);
        assert_eq!(exit_errno("-2"), Some("ENOENT"));
        assert_eq!(exit_errno("3"), None);
        assert_eq!(exit_errno("-99999"), None);
        assert_eq!(result("yes"), "success");
        assert_eq!(result("success"), "success");
        assert_eq!(result("1"), "success");
        assert_eq!(result("no"), "fail");
        assert_eq!(result("failed"), "fail");
        assert!(is_unset_id("4294967295") && !is_unset_id("0"));
        let c = selinux_context("system_u:system_r:crond_t:s0-s0:c0.c1023");
        assert_eq!(
            (c.domain, c.level, c.category),
            (Some("crond_t"), Some("s0-s0"), Some("c0.c1023"))
        );
        assert_eq!(selinux_context("unconfined").role, None);
        let m = file_mode("0100644").unwrap();
        assert_eq!((m.kind, m.perms_octal().as_str()), (Some("file"), "0644"));
        assert_eq!(file_mode("042775").unwrap().kind, Some("dir"));
        assert_eq!(file_mode("04755").unwrap().perms_octal(), "4755");
        assert_eq!(file_mode("9"), None);
        assert_eq!(signal_name(31), Some("SIGSYS"));
        assert_eq!(signal_name(0), None);
    }

    #[test]
    fn rule_keys_forms() {
        let r = rec("type=SYSCALL msg=audit(1.000:1): key=\"key=net\"");
        assert_eq!(tags(&r), ["net"]);
        let r = rec("type=SYSCALL msg=audit(1.000:1): key=6578656301666F6F");
        assert_eq!(tags(&r), ["exec", "foo"]);
        let r = rec("type=SYSCALL msg=audit(1.000:1): key=(null)");
        assert!(tags(&r).is_empty());
        let r = rec("type=SYSCALL msg=audit(1.000:1): key=\"exec\"");
        assert_eq!(tags(&r), ["exec"]);
    }

    #[test]
    fn data_view_of_a_syscall() {
        let r = rec(
            "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 success=no exit=-13 \
             a0=5555665d91b0 auid=4294967295 tty=(none) comm=\"pickup\" exe=2F62696E2F6C73 \
             subj=system_u:system_r:postfix_pickup_t:s0 key=(null) ses=?",
        );
        let d = data(&r);
        let get = |k: &str| d.get(k).map(|v| v.as_ref());
        assert_eq!(get("arch"), Some("x86_64"));
        assert_eq!(get("syscall"), Some("open"));
        assert_eq!(get("exit"), Some("EACCES"));
        assert_eq!(get("result"), Some("fail"));
        assert_eq!(get("success"), None);
        assert_eq!(get("auid"), Some("unset"));
        assert_eq!(get("exe"), Some("/bin/ls"));
        assert_eq!(get("subj_domain"), Some("postfix_pickup_t"));
        assert_eq!(get("subj_category"), None);
        assert_eq!(get("tty"), Some("(none)"));
        assert_eq!(get("key"), None);
        assert_eq!(get("ses"), None);
        assert_eq!(get("a0"), Some("5555665d91b0"));
    }

    #[test]
    fn data_view_of_execve_and_sockaddr() {
        let r =
            rec(r#"type=EXECVE msg=audit(1.000:1): argc=3 a0="ls" a1_len=4 a1[0]=2D6C a2=2D2061"#);
        let d = data(&r);
        let keys: Vec<&str> = d.keys().map(|k| k.as_ref()).collect();
        assert_eq!(keys, ["a0", "a1", "a2", "argc"]);
        assert_eq!((d["a1"].as_ref(), d["a2"].as_ref()), ("-l", "- a"));
        let r = rec("type=SOCKADDR msg=audit(1.000:1): saddr=0100006162");
        let d = data(&r);
        assert_eq!((d["family"].as_ref(), d["path"].as_ref()), ("unix", "@ab"));
        assert!(!d.contains_key("saddr"));
        let r = rec("type=SOCKADDR msg=audit(1.000:1): saddr=100000000000000000000000");
        let d = data(&r);
        assert_eq!(
            (d["family"].as_ref(), d["saddr"].as_ref()),
            ("netlink", "100000000000000000000000")
        );
        let r = rec("type=SOCKADDR msg=audit(1.000:1): saddr=0000");
        assert_eq!(data(&r)["family"], "0");
    }
}
