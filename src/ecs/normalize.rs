//! One audit event → one ECS document, field-compatible with Auditbeat's auditd module.
//!
//! The steps follow go-libaudit's `aucoalesce` (which Auditbeat builds its documents from):
//! the SYSCALL record (or the only record) is the main one; its uid/gid fields become user
//! ids, `pid`/`comm`/`exe`/`cwd` and PROCTITLE become `process.*`, PATH records become
//! `auditd.paths` and the file object, SOCKADDR becomes `source`/`destination`, EXECVE
//! becomes `process.args`; every other field of every record lands in `auditd.data` (first
//! record wins a key). Then the normalisation table (`actions.rs`) gives the action, the
//! categories and the summary, and the Auditbeat output step lays out `user.*`.
//!
//! Values in `auditd.data` are as the kernel printed them, except where Auditbeat interprets
//! them: `syscall` and `arch` names, `exit` as an errno name when negative, `auid`/`ses`
//! `4294967295` as `unset`, and hex-encoded strings (`cmd`, `acct`, `data`, ...) decoded.
//! Syscall arguments `a0`..`a3` stay hex (`a1 == "2"` for `SOCK_DGRAM`).

use super::actions::{self, From, Norm, To};
use super::names::NameResolver;
use super::process::{ProcessTable, Sighting};
use crate::assemble::AuditEvent;
use crate::event::{format_rfc3339_ms, Event, Key, Str, Value};
use crate::record::{execve, interp, proctitle, sockaddr, FieldKind, FieldRef, Record};
use std::borrow::Cow;

const SYSCALL: u16 = 1300;
const PATH: u16 = 1302;
const SOCKADDR: u16 = 1306;
const EXECVE: u16 = 1309;
const EOE: u16 = 1320;

/// What the records of one event say, before normalisation. Borrowed from the records.
#[derive(Default)]
pub(crate) struct Work<'a> {
    pub data: Vec<(&'a str, Cow<'a, str>)>,
    pub ids: Vec<(&'a str, Cow<'a, str>)>,
    pub selinux: Vec<(&'static str, &'a str)>,
    pub result: Option<&'static str>,
    pub session: Option<Cow<'a, str>>,
    pub tags: Vec<String>,
    pub pid: Option<&'a str>,
    pub ppid: Option<&'a str>,
    pub comm: Option<Cow<'a, str>>,
    pub exe: Option<Cow<'a, str>>,
    pub cwd: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    /// The PROCTITLE field: its arguments are `process.args` of an exec whose EXECVE record
    /// is missing (split only then).
    pub title_field: Option<FieldRef<'a>>,
    pub paths: Vec<&'a Record>,
    pub sockaddr: Option<&'a Record>,
    pub has_execve: bool,
    /// `KeyFilter`s of the keys in `data` and `ids`: most keys are new, and the filter says
    /// so without a search.
    data_keys: KeyFilter,
    id_keys: KeyFilter,
}

/// A one-word Bloom filter over short keys: `may_have` is false only for keys never added.
#[derive(Default, Clone, Copy)]
struct KeyFilter(u64);

impl KeyFilter {
    fn bit(key: &str) -> u64 {
        let b = key.as_bytes();
        let (first, last) = (
            *b.first().unwrap_or(&0) as usize,
            *b.last().unwrap_or(&0) as usize,
        );
        1 << ((b.len() * 7 + first * 3 + last * 13) & 63)
    }
    fn add(&mut self, key: &str) {
        self.0 |= Self::bit(key);
    }
    fn may_have(&self, key: &str) -> bool {
        self.0 & Self::bit(key) != 0
    }
}

/// `""`, `?`, `?,` and `(null)` carry nothing (auparse drops them too), nor do upper-case keys:
/// those are ENRICHED interpretations (`UID="root"`) whose `\x1d` separator was lost.
fn is_empty_value(f: &FieldRef<'_>) -> bool {
    matches!(f.kind, FieldKind::Null | FieldKind::Unset)
        || matches!(f.raw, "" | "?" | "?," | "(null)")
        || !f.key.bytes().any(|b| b.is_ascii_lowercase())
}

fn unset(v: Cow<'_, str>) -> Cow<'_, str> {
    if interp::is_unset_id(&v) {
        Cow::Borrowed("unset")
    } else {
        v
    }
}

/// `user`, `role`, `domain`, `level`, `category` of a SELinux context, those present.
fn selinux_parts(v: &str) -> impl Iterator<Item = (&'static str, &str)> {
    selinux_parts_as(v, ["user", "role", "domain", "level", "category"])
}

/// The parts of a SELinux context under the given names (user, role, domain, level,
/// category): static ECS keys without a `format!` per event.
fn selinux_parts_as<'v>(
    v: &'v str,
    names: [&'static str; 5],
) -> impl Iterator<Item = (&'static str, &'v str)> {
    let c = interp::selinux_context(v);
    names
        .into_iter()
        .zip([c.user, c.role, c.domain, c.level, c.category])
        .filter_map(|(k, v)| Some((k, v?)))
}

const USER_SELINUX: [&str; 5] = [
    "user.selinux.user",
    "user.selinux.role",
    "user.selinux.domain",
    "user.selinux.level",
    "user.selinux.category",
];
const FILE_SELINUX: [&str; 5] = [
    "file.selinux.user",
    "file.selinux.role",
    "file.selinux.domain",
    "file.selinux.level",
    "file.selinux.category",
];

impl<'a> Work<'a> {
    fn has_data(&self, key: &str) -> bool {
        self.data_keys.may_have(key) && self.data.iter().any(|(k, _)| same_key(k, key))
    }

    /// Adds a data key the caller knows is not there yet.
    fn push_data(&mut self, key: &'a str, v: Cow<'a, str>) {
        self.data_keys.add(key);
        self.data.push((key, v));
    }

    fn data(&self, key: &str) -> Option<&str> {
        if !self.data_keys.may_have(key) {
            return None;
        }
        self.data
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v.as_ref())
    }

    fn id(&self, key: &str) -> Option<&str> {
        if !self.id_keys.may_have(key) {
            return None;
        }
        self.ids
            .iter()
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v.as_ref())
    }

    /// aucoalesce's `getValue`: the data (process fields included), then the user ids; a
    /// copy that borrows from the records when the stored value does.
    fn value_cow(&self, key: &str) -> Option<Cow<'a, str>> {
        let process = match key {
            "pid" => return self.pid.map(Cow::Borrowed),
            "ppid" => return self.ppid.map(Cow::Borrowed),
            "comm" => self.comm.as_ref(),
            "exe" => self.exe.as_ref(),
            "cwd" => self.cwd.as_ref(),
            "proctitle" => self.title.as_ref(),
            _ => None,
        };
        let find = |list: &[(&'a str, Cow<'a, str>)], keys: KeyFilter| {
            keys.may_have(key)
                .then(|| {
                    list.iter()
                        .find(|(k, _)| same_key(k, key))
                        .map(|(_, v)| v.clone())
                })
                .flatten()
        };
        process
            .cloned()
            .or_else(|| find(&self.data, self.data_keys))
            .or_else(|| find(&self.ids, self.id_keys))
    }

    /// The fields that become `process.*`; false when `f` is not one of them.
    #[inline(always)]
    fn take_process_field(&mut self, f: &FieldRef<'a>) -> bool {
        let slot = match f.key {
            "pid" => {
                self.pid.get_or_insert(f.raw);
                return true;
            }
            "ppid" => {
                self.ppid.get_or_insert(f.raw);
                return true;
            }
            "comm" => &mut self.comm,
            "exe" => &mut self.exe,
            "cwd" => &mut self.cwd,
            "proctitle" => {
                if self.title.is_none() {
                    self.title = Some(Cow::Owned(proctitle::title(f)));
                    self.title_field = Some(*f);
                }
                return true;
            }
            _ => return false,
        };
        if slot.is_none() {
            *slot = Some(f.decoded());
        }
        true
    }

    /// `compound`: the event has more records than this one (only then does upstream drop
    /// SYSCALL's `items`).
    fn take_main(&mut self, rec: &'a Record, compound: bool) {
        let arch = rec.get("arch").map(|f| f.raw);
        let is_syscall = rec.rtype() == SYSCALL;
        for f in rec.fields() {
            if is_empty_value(&f) {
                continue;
            }
            match f.key {
                "success" => self.result = Some(interp::result(f.raw)),
                "res" => {
                    self.result.get_or_insert(interp::result(f.raw));
                }
                "key" => self.tags = interp::rule_keys(&f),
                "ses" => self.session = Some(unset(Cow::Borrowed(f.raw))),
                "items" if is_syscall && compound => {}
                "subj" => self.selinux.extend(selinux_parts_as(f.raw, USER_SELINUX)),
                "arch" => {
                    self.put_data("arch", Cow::Borrowed(interp::arch(f.raw).unwrap_or(f.raw)))
                }
                "syscall" if is_syscall => {
                    let name = arch
                        .and_then(|a| interp::syscall(a, f.raw))
                        .unwrap_or(f.raw);
                    self.put_data("syscall", Cow::Borrowed(name));
                }
                "exit" => self.put_data(
                    "exit",
                    Cow::Borrowed(interp::exit_errno(f.raw).unwrap_or(f.raw)),
                ),
                k if k.ends_with("uid") || k.ends_with("gid") => {
                    let v = f.decoded();
                    let v = if matches!(k, "auid" | "old-auid" | "old_auid") {
                        unset(v)
                    } else {
                        v
                    };
                    // A repeated key keeps its last value (user records repeat ids in msg=).
                    let slot = match self.id_keys.may_have(k) {
                        true => self.ids.iter_mut().find(|(ik, _)| same_key(ik, k)),
                        false => None,
                    };
                    match slot {
                        Some(slot) => slot.1 = v,
                        None => {
                            self.id_keys.add(k);
                            self.ids.push((k, v));
                        }
                    }
                }
                _ => {
                    if !self.take_process_field(&f) {
                        self.put_data(f.key, f.decoded());
                    }
                }
            }
        }
    }

    /// Sets a data key, the last value of a repeated key winning.
    #[inline(always)]
    fn put_data(&mut self, key: &'a str, v: Cow<'a, str>) {
        let slot = match self.data_keys.may_have(key) {
            true => self.data.iter_mut().find(|(k, _)| same_key(k, key)),
            false => None,
        };
        match slot {
            Some(slot) => slot.1 = v,
            None => self.push_data(key, v),
        }
    }

    fn take_other(&mut self, rec: &'a Record) {
        match rec.rtype() {
            SYSCALL | EOE => {}
            PATH => self.paths.push(rec),
            SOCKADDR => self.sockaddr = Some(rec),
            EXECVE => {
                self.has_execve = true;
                if let Some(argc) = rec.get("argc").filter(|f| !is_empty_value(f)) {
                    if !self.has_data("argc") {
                        self.push_data("argc", Cow::Borrowed(argc.raw));
                    }
                }
            }
            _ => {
                for f in rec.fields() {
                    if is_empty_value(&f) {
                        continue;
                    }
                    if matches!(f.key, "res" | "success") {
                        self.result.get_or_insert(interp::result(f.raw));
                        continue;
                    }
                    if !self.take_process_field(&f) && !self.has_data(f.key) {
                        self.push_data(f.key, f.decoded());
                    }
                }
            }
        }
    }
}

/// The records' interpretation, the normalisation and the Auditbeat layout.
pub(crate) struct Normalized<'a> {
    pub work: Work<'a>,
    pub main: &'a Record,
    pub type_name: Cow<'static, str>,
    pub rtype: u16,
    pub norm: Option<&'static Norm>,
    pub syscall_norm: Option<&'static Norm>,
    pub actor: (Option<Cow<'a, str>>, Option<Cow<'a, str>>),
    pub object: (Option<Cow<'a, str>>, Option<Cow<'a, str>>),
    pub object_type: &'static str,
    pub how: Option<Cow<'a, str>>,
    /// Index into `work.paths` of the file object.
    pub file_path: Option<usize>,
    pub sock: Option<Sock>,
    pub source_ip: Option<Cow<'a, str>>,
    pub entities: [Entity; 5],
}

/// A SOCKADDR record's address (wrapping the record module's decoder).
#[derive(Clone, Debug, Default)]
pub(crate) struct Sock {
    pub fields: Vec<(&'static str, String)>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
}

/// aucoalesce's ECS entity: an id or a name (`unset` for the unset id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entity {
    pub id: String,
    pub name: String,
}

impl Entity {
    fn set(&mut self, v: &str) {
        *self = match v {
            "" | "unset" | "4294967295" | "-1" => Entity {
                id: "unset".into(),
                name: String::new(),
            },
            _ if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Entity {
                id: v.into(),
                name: String::new(),
            },
            _ => Entity {
                id: String::new(),
                name: v.into(),
            },
        };
    }
}

const ENTITY_KEYS: [(&str, &str, &str); 5] = [
    ("user", "user.id", "user.name"),
    ("user.effective", "user.effective.id", "user.effective.name"),
    ("user.target", "user.target.id", "user.target.name"),
    ("user.changes", "user.changes.id", "user.changes.name"),
    ("group", "group.id", "group.name"),
];

fn entity_index(to: To) -> usize {
    match to {
        To::User => 0,
        To::UserEffective => 1,
        To::UserTarget => 2,
        To::UserChanges => 3,
        To::Group => 4,
    }
}

/// The work lists' allocations, kept empty from one event to the next (`interpret` takes
/// them, `Spare::keep` gives them back).
#[derive(Default)]
pub(crate) struct Spare {
    data: Vec<(&'static str, Cow<'static, str>)>,
    ids: Vec<(&'static str, Cow<'static, str>)>,
    paths: Vec<&'static Record>,
}

impl Spare {
    /// Keeps the lists of an event that is done with.
    pub fn keep(&mut self, w: Work<'_>) {
        self.data = recycle(w.data);
        self.ids = recycle(w.ids);
        self.paths = recycle(w.paths);
    }
}

/// `v` emptied, as a vector of another lifetime: collecting a vector's own iterator into a
/// vector of a same-sized type reuses its allocation.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("emptied")).collect()
}

/// Interprets the records and applies the normalisation table (no output yet).
pub(crate) fn interpret<'a>(ev: &'a AuditEvent, spare: &mut Spare) -> Option<Normalized<'a>> {
    let recs = &ev.records;
    let first = recs.first()?;
    let syscall_at = recs.iter().position(|r| r.rtype() == SYSCALL);
    let main_at = if recs.len() == 1 {
        0
    } else {
        syscall_at.unwrap_or(0)
    };
    let main = &recs[main_at];
    // The event's type is the first record's when it is not the SYSCALL (AVC, ANOM_*, ...).
    let head = if recs.len() > 1 && first.rtype() != SYSCALL && syscall_at.is_some() {
        first
    } else {
        main
    };

    let mut w = Work {
        data: recycle(std::mem::take(&mut spare.data)),
        ids: recycle(std::mem::take(&mut spare.ids)),
        paths: recycle(std::mem::take(&mut spare.paths)),
        // `subj=` has up to five parts.
        selinux: Vec::with_capacity(5),
        ..Work::default()
    };
    // Room for a SYSCALL record's fields; a kept allocation has it already.
    w.data.reserve(24);
    w.ids.reserve(12);
    w.take_main(main, recs.len() > 1);
    for (i, r) in recs.iter().enumerate() {
        if i != main_at {
            w.take_other(r);
        }
    }

    let id = |k: &str| {
        w.ids
            .iter()
            .find(|(ik, _)| same_key(ik, k))
            .map(|(_, v)| v.clone())
    };
    let actor = (id("auid"), id("uid"));
    let mut n = Normalized {
        type_name: head.type_name(),
        rtype: head.rtype(),
        norm: None,
        syscall_norm: None,
        actor,
        object: (None, None),
        object_type: "",
        how: None,
        file_path: None,
        sock: None,
        source_ip: None,
        entities: Default::default(),
        main,
        work: w,
    };
    n.sock = n.work.sockaddr.and_then(decode_sockaddr);
    n.how = default_how(&n.work);

    n.syscall_norm = n.work.data("syscall").map(actions::syscall_norm);
    n.norm = if n.rtype == SYSCALL {
        n.syscall_norm
    } else {
        let norms = actions::record_norms(&n.type_name);
        match norms.len() {
            0 => None,
            1 => Some(&norms[0]),
            // The last entry whose `has_fields` are all present wins, as upstream.
            _ => norms
                .iter()
                .rfind(|c| c.has_fields.iter().all(|f| n.work.has_data(f))),
        }
    };
    if let Some(norm) = n.norm {
        apply(&mut n, norm);
    }
    Some(n)
}

fn default_how<'a>(w: &Work<'a>) -> Option<Cow<'a, str>> {
    let exe = w.exe.clone().or_else(|| w.comm.clone())?;
    let interpreted = [
        "/usr/bin/python",
        "/usr/bin/sh",
        "/usr/bin/bash",
        "/usr/bin/perl",
    ]
    .iter()
    .any(|p| exe.starts_with(p));
    if interpreted {
        if let Some(comm) = &w.comm {
            return Some(comm.clone());
        }
    }
    Some(exe)
}

fn first_value<'a>(w: &Work<'a>, keys: &[&str]) -> Option<Cow<'a, str>> {
    keys.iter().find_map(|k| w.value_cow(k))
}

fn apply(n: &mut Normalized<'_>, norm: &'static Norm) {
    n.object_type = norm.what;
    match norm.what {
        "file" | "filesystem" => set_file_object(n, norm.path_index),
        "socket" => {
            if let Some(s) = &n.sock {
                n.object.0 = s.ip.clone().or_else(|| s.path.clone()).map(Cow::Owned);
                n.object.1 = s.port.map(|p| Cow::Owned(decimal(p)));
            }
        }
        _ => {}
    }
    if !norm.subject_primary.is_empty() {
        if let Some(v) = first_value(&n.work, norm.subject_primary) {
            n.actor.0 = Some(v);
        }
    }
    if !norm.subject_secondary.is_empty() {
        if let Some(v) = first_value(&n.work, norm.subject_secondary) {
            n.actor.1 = Some(v);
        }
    }
    if !norm.object_primary.is_empty() {
        if let Some(v) = first_value(&n.work, norm.object_primary) {
            n.object.0 = Some(v);
        }
    }
    if !norm.object_secondary.is_empty() {
        if let Some(v) = first_value(&n.work, norm.object_secondary) {
            n.object.1 = Some(v);
        }
    }
    if !norm.how.is_empty() {
        if let Some(v) = first_value(&n.work, norm.how) {
            n.how = Some(v);
        }
    }
    if n.sock.as_ref().is_none_or(|s| s.ip.is_none()) {
        for key in norm.source_ip {
            if let Some(i) = n.work.data.iter().position(|(k, _)| k == key) {
                let (_, v) = n.work.data.remove(i);
                n.source_ip = Some(v);
                break;
            }
        }
    }
    for (from, to) in norm.mappings {
        let v = match from {
            From::SubjectPrimary => n.actor.0.as_deref(),
            From::SubjectSecondary => n.actor.1.as_deref(),
            From::ObjectPrimary => n.object.0.as_deref(),
            From::Id(k) => n.work.id(k),
        };
        n.entities[entity_index(*to)].set(v.unwrap_or(""));
    }
}

/// A PATH record's `nametype` (`objtype` on kernels before 4.x, which upstream misses).
fn nametype(rec: &Record) -> Option<&str> {
    rec.get("nametype")
        .or_else(|| rec.get("objtype"))
        .map(|f| f.raw)
}

/// aucoalesce's `setFileObject`: the PATH at the hint, skipping PARENT/UNKNOWN records.
fn set_file_object(n: &mut Normalized<'_>, hint: usize) {
    let paths = &n.work.paths;
    if paths.is_empty() {
        return;
    }
    let start = if hint < paths.len() { hint } else { 0 };
    let chosen = (start..paths.len())
        .find(|&i| !matches!(nametype(paths[i]), Some("PARENT" | "UNKNOWN")))
        .unwrap_or(start);
    n.file_path = Some(chosen);
    let rec = paths[chosen];
    if let Some(name) = rec.get("name").filter(|f| !is_empty_value(f)) {
        n.object.0 = Some(Cow::Owned(name.decoded().into_owned()));
    }
    if let Some(kind) = rec
        .get("mode")
        .and_then(|f| interp::file_mode(f.raw))
        .and_then(|m| m.kind)
    {
        n.object_type = match kind {
            "dir" => "directory",
            "char_device" => "character-device",
            "block_device" => "block-device",
            "fifo" => "named-pipe",
            "symlink" => "symlink",
            "socket" => "socket",
            _ => "file",
        };
    }
}

/// The SOCKADDR address and Auditbeat's `auditd.data.socket.*` fields for it.
fn decode_sockaddr(rec: &Record) -> Option<Sock> {
    let raw = rec.get("saddr")?.raw;
    let addr = sockaddr::parse(raw).ok()?;
    let family = sockaddr::family_name(addr.family())
        .map_or_else(|| addr.family().to_string(), str::to_owned);
    let mut s = Sock {
        fields: vec![("auditd.data.socket.family", family)],
        ..Sock::default()
    };
    match &addr {
        sockaddr::SockAddr::Unix { path } => {
            s.path = Some(path.clone());
            s.fields.push(("auditd.data.socket.path", path.clone()));
        }
        sockaddr::SockAddr::Inet { .. } | sockaddr::SockAddr::Inet6 { .. } => {
            s.ip = addr.address();
            s.port = addr.port();
            if let Some(ip) = &s.ip {
                s.fields.push(("auditd.data.socket.addr", ip.clone()));
            }
            if let Some(p) = s.port {
                s.fields.push(("auditd.data.socket.port", decimal(p)));
            }
            if let sockaddr::SockAddr::Inet6 { flowinfo, .. } = addr {
                if flowinfo > 0 {
                    s.fields
                        .push(("auditd.data.socket.flow", flowinfo.to_string()));
                }
            }
        }
        _ => s.fields.push(("auditd.data.socket.saddr", raw.to_owned())),
    }
    Some(s)
}

/// A port's decimal text (every connect event has one, twice).
fn decimal(n: u16) -> String {
    crate::decimal::decimal(n.into(), &mut [0; 20]).to_owned()
}

/// `@timestamp` text, keeping the part up to the second from the previous event: most events
/// share their second with the one before.
#[derive(Default)]
pub(crate) struct Timestamps {
    sec: Option<i64>,
    /// `2016-12-07T02:16:32.`
    prefix: String,
}

impl Timestamps {
    pub fn format(&mut self, ms: i64) -> Str {
        let sec = ms.div_euclid(1000);
        if self.sec != Some(sec) {
            let Some(whole) = sec.checked_mul(1000) else {
                return format_rfc3339_ms(ms).into();
            };
            let mut text = format_rfc3339_ms(whole);
            text.truncate(text.len() - "000Z".len());
            self.prefix = text;
            self.sec = Some(sec);
        }
        let milli = ms.rem_euclid(1000) as u32;
        let digits = [milli / 100, milli / 10 % 10, milli % 10].map(|d| b'0' + d as u8);
        // Four-digit years: 24 bytes, put together on the stack and kept inline.
        if let Ok(prefix) = <[u8; 20]>::try_from(self.prefix.as_bytes()) {
            let mut b = [0u8; 24];
            b[..20].copy_from_slice(&prefix);
            b[20..23].copy_from_slice(&digits);
            b[23] = b'Z';
            return Str::new(std::str::from_utf8(&b).expect("ASCII digits"));
        }
        let mut s = String::with_capacity(self.prefix.len() + 4);
        s.push_str(&self.prefix);
        s.extend(digits.map(char::from));
        s.push('Z');
        s.into()
    }
}

/// Turns the interpretation into the Auditbeat-shaped document.
pub(crate) fn build(
    n: &Normalized<'_>,
    ev: &AuditEvent,
    host: &[(Key, Value)],
    names: &dyn NameResolver,
    procs: &mut ProcessTable,
    stamps: &mut Timestamps,
) -> Event {
    let ts = ev.records.first().map(Record::timestamp_ms).unwrap_or(0);
    let mut doc = Event {
        timestamp_ms: ts,
        arrival: 0,
        // Room for an exec event (about 80 fields): growing would copy them all.
        fields: Vec::with_capacity(96),
    };
    let out = &mut doc;
    let w = &n.work;
    push(out, "@timestamp", stamps.format(ts));

    // event.*
    let result = w.result.unwrap_or("unknown");
    // One allocation each: the table entries have one or two of each.
    let mut category: Vec<Value> = Vec::with_capacity(4);
    let mut etype: Vec<Value> = Vec::with_capacity(4);
    let mut outcome = if result == "fail" { "failure" } else { result };
    if let Some(norm) = n.norm {
        category.extend(norm.category.iter().map(|c| Value::from(*c)));
        etype.extend(norm.etype.iter().map(|c| Value::from(*c)));
        if let Some(sn) = n.syscall_norm.filter(|sn| !std::ptr::eq(*sn, norm)) {
            category.extend(sn.category.iter().map(|c| Value::from(*c)));
            etype.extend(sn.etype.iter().map(|c| Value::from(*c)));
            if result == "fail" {
                outcome = "failure";
            }
        }
    } else if let Some(sn) = n.syscall_norm {
        category.extend(sn.category.iter().map(|c| Value::from(*c)));
        etype.extend(sn.etype.iter().map(|c| Value::from(*c)));
    }
    push(out, "event.kind", "event");
    if category.is_empty() {
        push(out, "event.category", actions::legacy_category(n.rtype));
    } else {
        push(out, "event.category", Value::List(category));
    }
    if !etype.is_empty() {
        push(out, "event.type", Value::List(etype));
    }
    if let Some(norm) = n.norm.filter(|n| !n.action.is_empty()) {
        push(out, "event.action", norm.action);
    }
    push(out, "event.outcome", outcome);
    push(out, "event.module", "auditd");
    push(out, "event.dataset", "auditd");
    out.fields.extend(host.iter().cloned());

    // auditd.*
    let mut message_type = Str::new(&n.type_name);
    message_type.make_ascii_lowercase();
    push(out, "auditd.message_type", message_type);
    push(out, "auditd.sequence", ev.seq as i64);
    push(out, "auditd.result", result);
    if let Some(s) = w.session.as_deref().filter(|s| *s != "unset") {
        push(out, "auditd.session", s);
    }
    if ev.incomplete {
        push(out, "auditd.incomplete", true);
    }
    let summary: [(&'static str, Option<&str>); 6] = [
        ("auditd.summary.actor.primary", n.actor.0.as_deref()),
        ("auditd.summary.actor.secondary", n.actor.1.as_deref()),
        ("auditd.summary.object.primary", n.object.0.as_deref()),
        ("auditd.summary.object.secondary", n.object.1.as_deref()),
        (
            "auditd.summary.object.type",
            Some(n.object_type).filter(|t| !t.is_empty()),
        ),
        ("auditd.summary.how", n.how.as_deref()),
    ];
    for (k, v) in summary {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            push(out, k, v);
        }
    }
    if let Some(norm) = n.norm.filter(|n| !n.action.is_empty()) {
        push(out, "auditd.summary.action", norm.action);
    }
    for (k, v) in &w.data {
        push(out, data_key(k), v.as_ref());
    }
    if let Some(s) = &n.sock {
        for (k, v) in &s.fields {
            push(out, *k, v.as_str());
        }
    }
    push_paths(out, &w.paths);
    if !w.tags.is_empty() {
        push(
            out,
            "tags",
            Value::List(w.tags.iter().map(|t| Value::from(t.as_str())).collect()),
        );
    }

    push_users(out, n, names);
    push_file(out, n, names);
    push_network(out, n);
    push_process(out, n, ev, procs, ts);
    doc
}

/// `Event::push`, inlined: about 80 fields per event go through it.
#[inline(always)]
fn push(out: &mut Event, path: impl Into<Key>, value: impl Into<Value>) {
    out.fields.push((path.into(), value.into()));
}

fn data_key(k: &str) -> Key {
    let s: &'static str = match k {
        "a0" => "auditd.data.a0",
        "a1" => "auditd.data.a1",
        "a2" => "auditd.data.a2",
        "a3" => "auditd.data.a3",
        "arch" => "auditd.data.arch",
        "syscall" => "auditd.data.syscall",
        "exit" => "auditd.data.exit",
        "tty" => "auditd.data.tty",
        "argc" => "auditd.data.argc",
        "op" => "auditd.data.op",
        "acct" => "auditd.data.acct",
        "terminal" => "auditd.data.terminal",
        "hostname" => "auditd.data.hostname",
        "addr" => "auditd.data.addr",
        "cmd" => "auditd.data.cmd",
        "cap_fp" => "auditd.data.cap_fp",
        "cap_fi" => "auditd.data.cap_fi",
        "cap_fe" => "auditd.data.cap_fe",
        "cap_fver" => "auditd.data.cap_fver",
        // Common in user-space (PAM, systemd) records.
        "grantors" => "auditd.data.grantors",
        "unit" => "auditd.data.unit",
        "items" => "auditd.data.items",
        _ => return Cow::Owned(format!("auditd.data.{k}")),
    };
    Cow::Borrowed(s)
}

/// At most this many distinct keys over an event's PATH records become `auditd.paths.*`.
const MAX_PATH_KEYS: usize = 64;

/// `auditd.paths.<key>`: one aligned list per key over the PATH records (`null` where a
/// record lacks the key), so `auditd.paths.name` and `auditd.paths.nametype` line up.
/// The `auditd.paths.*` columns being filled, row (PATH record) by row.
struct PathColumns<'r> {
    /// Column keys borrow from the records; `obj` parts get static names.
    cols: Vec<(&'r str, Vec<Value>)>,
    /// The column keys: a key the filter has not seen needs no search (the first record's).
    keys: KeyFilter,
    rows: usize,
}

impl<'r> PathColumns<'r> {
    /// Puts `v` in row `row` of column `key`; `next` is the column after the last one put
    /// (PATH records list their keys in the same order: it is tried first).
    #[inline(always)]
    fn put(&mut self, next: &mut usize, row: usize, key: &'r str, v: Value) {
        let cols = &mut self.cols;
        let found = match cols.get(*next) {
            Some((k, _)) if same_key(k, key) => Some(*next),
            _ if !self.keys.may_have(key) => None,
            _ => cols.iter().position(|(k, _)| same_key(k, key)),
        };
        let col = match found {
            Some(c) => c,
            // A kernel PATH record has about 15 keys; a forged log line may have
            // thousands, which would make this quadratic.
            None if cols.len() >= MAX_PATH_KEYS => return,
            None => {
                self.keys.add(key);
                cols.push((key, Vec::with_capacity(self.rows)));
                cols.len() - 1
            }
        };
        // Filled row by row: `null` for the rows before that lacked the key; a key
        // repeated within a record keeps its last value.
        let vals = &mut cols[col].1;
        if vals.len() != row {
            vals.resize(row, Value::Null);
        }
        match vals.get_mut(row) {
            Some(slot) => *slot = v,
            None => vals.push(v),
        }
        *next = col + 1;
    }
}

/// `a == b` for the short keys of records, a byte at a time: a `bcmp` call costs more for a
/// key of a few bytes, and the look-ups by key run for most fields of every event.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

fn push_paths(out: &mut Event, paths: &[&Record]) {
    if paths.is_empty() {
        return;
    }
    let mut table = PathColumns {
        cols: Vec::with_capacity(16),
        keys: KeyFilter::default(),
        rows: paths.len(),
    };
    for (i, rec) in paths.iter().enumerate() {
        let mut next = 0;
        for f in rec.fields() {
            if is_empty_value(&f) {
                continue;
            }
            if f.key == "obj" {
                for (part, v) in selinux_parts(f.raw) {
                    let key = match part {
                        "user" => "obj_user",
                        "role" => "obj_role",
                        "domain" => "obj_domain",
                        "level" => "obj_level",
                        _ => "obj_category",
                    };
                    table.put(&mut next, i, key, Value::from(v));
                }
            } else {
                table.put(&mut next, i, f.key, Value::from(f.decoded()));
            }
        }
    }
    let cols = table.cols;
    for (k, mut vals) in cols {
        if vals.len() < paths.len() {
            vals.resize(paths.len(), Value::Null);
        }
        let key: &'static str = match k {
            "name" => "auditd.paths.name",
            "nametype" => "auditd.paths.nametype",
            "objtype" => "auditd.paths.objtype",
            "item" => "auditd.paths.item",
            "inode" => "auditd.paths.inode",
            "dev" => "auditd.paths.dev",
            "mode" => "auditd.paths.mode",
            "ouid" => "auditd.paths.ouid",
            "ogid" => "auditd.paths.ogid",
            "rdev" => "auditd.paths.rdev",
            "cap_fp" => "auditd.paths.cap_fp",
            "cap_fi" => "auditd.paths.cap_fi",
            "cap_fe" => "auditd.paths.cap_fe",
            "cap_fver" => "auditd.paths.cap_fver",
            "cap_frootid" => "auditd.paths.cap_frootid",
            "obj_user" => "auditd.paths.obj_user",
            "obj_role" => "auditd.paths.obj_role",
            "obj_domain" => "auditd.paths.obj_domain",
            "obj_level" => "auditd.paths.obj_level",
            "obj_category" => "auditd.paths.obj_category",
            _ => {
                push(out, format!("auditd.paths.{k}"), Value::List(vals));
                continue;
            }
        };
        push(out, key, Value::List(vals));
    }
}

/// ECS name of a user id key (`euid` → `user.effective`).
#[inline(always)]
fn user_field(key: &str) -> Option<(&'static str, &'static str, &'static str, bool)> {
    // (id path, name path, ENRICHED key, is a group)
    Some(match key {
        "uid" => ("user.id", "user.name", "UID", false),
        "gid" => ("user.group.id", "user.group.name", "GID", true),
        "euid" => ("user.effective.id", "user.effective.name", "EUID", false),
        "egid" => (
            "user.effective.group.id",
            "user.effective.group.name",
            "EGID",
            true,
        ),
        "suid" => ("user.saved.id", "user.saved.name", "SUID", false),
        "sgid" => ("user.saved.group.id", "user.saved.group.name", "SGID", true),
        "fsuid" => ("user.filesystem.id", "user.filesystem.name", "FSUID", false),
        "fsgid" => (
            "user.filesystem.group.id",
            "user.filesystem.group.name",
            "FSGID",
            true,
        ),
        "auid" => ("user.audit.id", "user.audit.name", "AUID", false),
        _ => return None,
    })
}

/// A name for a numeric id: the event's own ENRICHED text first, then the resolver.
#[inline(always)]
fn name_for<'e>(
    ev_names: &'e [(&str, &str, bool)],
    names: &'e dyn NameResolver,
    id: &str,
    group: bool,
) -> Option<&'e str> {
    ev_names
        .iter()
        .find(|(i, _, g)| *i == id && *g == group)
        .map(|(_, n, _)| *n)
        .or_else(|| {
            if names.knows_none() {
                return None;
            }
            let n: u32 = id.parse().ok()?;
            if group {
                names.group(n)
            } else {
                names.user(n)
            }
        })
}

fn push_users(out: &mut Event, n: &Normalized<'_>, names: &dyn NameResolver) {
    let w = &n.work;
    // Every `user.*`/`group.*` field is pushed here: the look-ups below search only these.
    let start = out.fields.len();
    // Names the records themselves carry (ENRICHED format): (id, name, is group).
    let mut ev_names: Vec<(&str, &str, bool)> = Vec::new();
    let has_enriched = n.main.enriched_fields().next().is_some();
    for (k, v) in w.ids.iter().filter(|_| has_enriched) {
        if let Some((_, _, ekey, group)) = user_field(k) {
            if let Some(name) = n_enriched(n, ekey) {
                ev_names.push((v.as_ref(), name, group));
            }
        }
    }
    for (k, v) in &w.ids {
        if v == "unset" {
            continue;
        }
        match user_field(k) {
            Some((id_path, name_path, _, group)) => {
                push(out, id_path, v.as_ref());
                if let Some(name) = name_for(&ev_names, names, v, group) {
                    push(out, name_path, name);
                }
            }
            None => push(out, Cow::Owned(format!("user.{k}.id")), v.as_ref()),
        }
    }
    for (part, v) in &w.selinux {
        push(out, *part, *v);
    }

    // The ECS entities from the table's mappings replace the plain ids.
    let mut related: Vec<&str> = Vec::new();
    for (i, (_, id_path, name_path)) in ENTITY_KEYS.iter().enumerate() {
        let e = &n.entities[i];
        if e.id.is_empty() && e.name.is_empty() {
            continue;
        }
        let group = i == 4;
        // Borrowed from the entity, the records or the resolver: no copies.
        let looked_up: String;
        let (id, name): (&str, &str) = if e.id == "unset" {
            ("", &e.name)
        } else if !e.id.is_empty() && e.name.is_empty() {
            (
                &e.id,
                name_for(&ev_names, names, &e.id, group).unwrap_or(""),
            )
        } else if e.id.is_empty() {
            let by_name = ev_names
                .iter()
                .find(|(_, nm, g)| *nm == e.name && *g == group)
                .map(|(id, _, _)| id.to_string());
            looked_up = by_name
                .or_else(|| names.id_of(&e.name, group).map(|i| i.to_string()))
                .unwrap_or_default();
            (&looked_up, &e.name)
        } else {
            (&e.id, &e.name)
        };
        if id.is_empty() {
            remove_from(out, start, id_path);
        } else {
            set_from(out, start, id_path, id);
        }
        if name.is_empty() {
            remove_from(out, start, name_path);
        } else {
            set_from(out, start, name_path, name);
            if !group && !related.contains(&name) {
                related.push(name);
            }
        }
    }
    if !related.is_empty() {
        push(
            out,
            "related.user",
            Value::List(related.into_iter().map(Value::from).collect()),
        );
    }
    // Auditbeat drops user.effective.* when it says the same as user.*.
    let same = |a: &str, b: &str| {
        let a = get_from(out, start, a).filter(|v| !v.is_empty());
        a.is_some() && a == get_from(out, start, b)
    };
    if same("user.id", "user.effective.id") || same("user.name", "user.effective.name") {
        let mut i = start;
        while i < out.fields.len() {
            if out.fields[i].0.starts_with("user.effective.") {
                out.fields.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// `Event::get_str`, `set` and `remove` over the fields from `start` on.
fn get_from<'e>(out: &'e Event, start: usize, path: &str) -> Option<&'e str> {
    out.fields[start..]
        .iter()
        .find(|(k, _)| k == path)
        .and_then(|(_, v)| v.as_str())
}

fn set_from(out: &mut Event, start: usize, path: &'static str, value: &str) {
    match out.fields[start..].iter_mut().find(|(k, _)| k == path) {
        Some(slot) => slot.1 = Value::from(value),
        None => push(out, path, value),
    }
}

fn remove_from(out: &mut Event, start: usize, path: &str) {
    if let Some(i) = out.fields[start..].iter().position(|(k, _)| k == path) {
        out.fields.remove(start + i);
    }
}

fn n_enriched<'a>(n: &Normalized<'a>, key: &str) -> Option<&'a str> {
    n.main.enriched(key)
}

fn push_file(out: &mut Event, n: &Normalized<'_>, names: &dyn NameResolver) {
    let Some(i) = n.file_path else { return };
    let rec = n.work.paths[i];
    // One pass over the record for the keys used below: the first of each, as `get` finds.
    const KEYS: [&str; 7] = ["name", "inode", "rdev", "mode", "ouid", "ogid", "obj"];
    let mut found: [Option<FieldRef<'_>>; 7] = [None; 7];
    let mut seen = 0u8;
    for f in rec.fields() {
        // A `match` on the key: a length switch, then one compare.
        let k = match f.key {
            "name" => 0,
            "inode" => 1,
            "rdev" => 2,
            "mode" => 3,
            "ouid" => 4,
            "ogid" => 5,
            "obj" => 6,
            _ => continue,
        };
        debug_assert_eq!(KEYS[k], f.key);
        if seen & 1 << k == 0 {
            seen |= 1 << k;
            found[k] = Some(f).filter(|f| !is_empty_value(f));
        }
    }
    let get = |k: &str| found[KEYS.iter().position(|x| *x == k).expect("a listed key")];
    if let Some(name) = get("name") {
        let path = name.decoded();
        let parts = super::split_path(&path);
        if let Some(nm) = parts.name {
            push(out, "file.name", nm);
        }
        if let Some(x) = parts.extension {
            push(out, "file.extension", x);
        }
        if let Some(d) = parts.directory {
            push(out, "file.directory", d);
        }
        push(out, "file.path", path.as_ref());
    }
    if let Some(f) = get("inode") {
        push(out, "file.inode", f.raw);
    }
    if let Some(f) = get("rdev") {
        push(out, "file.device", f.raw);
    }
    if let Some(mode) = get("mode").and_then(|f| interp::file_mode(f.raw)) {
        push(out, "file.mode", mode.perms_octal());
    }
    for (key, id_path, name_path, ekey, group) in [
        ("ouid", "file.uid", "file.owner", "OUID", false),
        ("ogid", "file.gid", "file.group", "OGID", true),
    ] {
        if let Some(f) = get(key) {
            push(out, id_path, f.raw);
            let name = rec.enriched(ekey).map(str::to_owned).or_else(|| {
                let id: u32 = f.raw.parse().ok()?;
                if group {
                    names.group(id)
                } else {
                    names.user(id)
                }
                .map(str::to_owned)
            });
            if let Some(name) = name {
                push(out, name_path, name);
            }
        }
    }
    if let Some(obj) = get("obj") {
        for (part, v) in selinux_parts_as(obj.raw, FILE_SELINUX) {
            push(out, part, v);
        }
    }
}

fn push_network(out: &mut Event, n: &Normalized<'_>) {
    let syscall = n.work.data("syscall").unwrap_or("");
    let (side, direction) = match syscall {
        "recvfrom" | "recvmsg" | "accept" | "accept4" => ("source", "ingress"),
        "connect" | "sendto" | "sendmsg" => ("destination", "egress"),
        _ => ("", ""),
    };
    if let Some(s) = n.sock.as_ref().filter(|_| !side.is_empty()) {
        if s.ip.is_some() || s.port.is_some() || s.path.is_some() {
            let (ip, port, path) = if side == "source" {
                ("source.ip", "source.port", "source.path")
            } else {
                ("destination.ip", "destination.port", "destination.path")
            };
            if let Some(v) = &s.ip {
                push(out, ip, v.as_str());
            }
            if let Some(p) = s.port {
                push(out, port, p as i64);
            }
            if let Some(v) = &s.path {
                push(out, path, v.as_str());
            }
            push(out, "network.direction", direction);
            return;
        }
    }
    if let Some(ip) = &n.source_ip {
        push(out, "source.ip", ip.as_ref());
        push(out, "network.direction", "ingress");
    }
}

fn is_fork(syscall: &str) -> bool {
    matches!(syscall, "fork" | "vfork" | "clone" | "clone3")
}

fn push_process(
    out: &mut Event,
    n: &Normalized<'_>,
    ev: &AuditEvent,
    procs: &mut ProcessTable,
    ts: i64,
) {
    let w = &n.work;
    let pid = w.pid.and_then(|p| p.parse::<u32>().ok());
    let ppid = w.ppid.and_then(|p| p.parse::<u32>().ok());
    if let Some(p) = pid {
        push(out, "process.pid", p as i64);
    }
    if let Some(p) = ppid {
        push(out, "process.parent.pid", p as i64);
    }
    if let Some(v) = &w.title {
        push(out, "process.title", v.as_ref());
    }
    if let Some(v) = &w.comm {
        push(out, "process.name", v.as_ref());
    }
    if let Some(v) = &w.exe {
        push(out, "process.executable", v.as_ref());
    }
    if let Some(v) = &w.cwd {
        push(out, "process.working_directory", v.as_ref());
    }
    let mut argv = w.has_execve.then(|| execve::assemble(ev.records.iter()));

    let Some(pid) = pid else {
        if let Some(a) = argv {
            push_args(out, "process", &a.args);
        }
        return;
    };
    let syscall = w.data("syscall").unwrap_or("");
    let success = w.result == Some("success");
    let sighting = Sighting {
        pid,
        ppid,
        executable: w.exe.as_deref(),
        name: w.comm.as_deref(),
        time_ms: ts,
    };
    let exec = matches!(syscall, "execve" | "execveat") && success;
    // An exec's arguments move into the table; the document takes them from there.
    let info = match (argv.as_mut(), exec) {
        (Some(a), true) => procs.on_exec(&sighting, std::mem::take(&mut a.args)),
        // EXECVE not audited: the proctitle is the best record of the new image's argv.
        (None, true) => {
            let argv = w.title_field.map(|f| proctitle::parse(&f).argv);
            procs.on_exec(&sighting, argv.unwrap_or_default())
        }
        _ => procs.observe(&sighting),
    };
    push(out, "process.entity_id", info.entity_id.as_ref());
    match (&argv, &info.args) {
        (Some(_), Some(args)) if exec => push_args(out, "process", args),
        (Some(a), _) => push_args(out, "process", &a.args),
        (None, Some(args)) => push_args(out, "process", args),
        (None, None) => {}
    }
    if let Some(parent) = ppid.and_then(|pp| procs.get(pp)) {
        push(out, "process.parent.entity_id", parent.entity_id.as_ref());
        if let Some(v) = &parent.name {
            push(out, "process.parent.name", v.as_ref());
        }
        if let Some(v) = &parent.executable {
            push(out, "process.parent.executable", v.as_ref());
        }
        if let Some(args) = &parent.args {
            push_args(out, "process.parent", args);
        }
    }

    if success && is_fork(syscall) {
        let flags = w
            .data("a0")
            .and_then(|a| u64::from_str_radix(a, 16).ok())
            .unwrap_or(0);
        const CLONE_THREAD: u64 = 0x10000;
        let child = w
            .data("exit")
            .and_then(|e| e.parse::<u32>().ok())
            .filter(|c| *c > 0);
        if let Some(child) = child.filter(|_| syscall != "clone" || flags & CLONE_THREAD == 0) {
            procs.on_fork(pid, child, ts);
        }
    }
    if syscall == "exit_group" {
        procs.on_exit(pid);
    }
}

fn push_args(out: &mut Event, prefix: &'static str, args: &[String]) {
    let (a, c, l) = match prefix {
        "process" => ("process.args", "process.args_count", "process.command_line"),
        _ => (
            "process.parent.args",
            "process.parent.args_count",
            "process.parent.command_line",
        ),
    };
    push(
        out,
        a,
        Value::List(args.iter().map(|s| Value::from(s.as_str())).collect()),
    );
    push(out, c, args.len() as i64);
    push(out, l, args.join(" "));
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;

    /// A recycled list comes back empty, of the new lifetime, with its room (what the
    /// Normalizer keeps between events).
    #[test]
    fn recycled_lists_are_empty_and_keep_their_room() {
        let text = String::from("uid");
        let mut v: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(24);
        v.push((text.as_str(), Cow::Owned("1000".into())));
        let kept: Vec<(&'static str, Cow<'static, str>)> = recycle(v);
        assert!(kept.is_empty());
        assert!(kept.capacity() >= 24, "room kept: {}", kept.capacity());
        let mut again: Vec<(&str, Cow<'_, str>)> = recycle(kept);
        again.push((text.as_str(), Cow::Borrowed("0")));
        assert_eq!(again, [("uid", Cow::Borrowed("0"))]);
    }

    #[test]
    fn decimal_like_to_string() {
        for n in [0u16, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn cached_seconds_format_like_format_rfc3339_ms() {
        let mut t = Timestamps::default();
        let base = 1_481_076_992_000i64;
        let mut times: Vec<i64> = (0..2500).map(|i| base + i * 7).collect();
        times.extend([
            0,
            999,
            1000,
            -1,
            -999,
            -1000,
            -1001,
            base,
            i64::MAX,
            i64::MIN,
            base,
        ]);
        for ms in times {
            assert_eq!(t.format(ms), format_rfc3339_ms(ms), "{ms}");
        }
    }
}
