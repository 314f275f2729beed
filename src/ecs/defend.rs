//! The Elastic Defend view of an Auditbeat-shaped event, for rules whose `index` is
//! `logs-endpoint.events.*`.
//!
//! The view is the same document with `event.action`, `event.category`, `event.type`,
//! `event.dataset` and `data_stream.*` in Defend's vocabulary; everything else (`process.*`,
//! `host.*`, `user.*`, `destination.*`, `auditd.*`) is kept. Events without a Defend
//! counterpart give `None`.
//!
//! | Auditbeat `event.action` (syscall)                     | condition                                   | Defend `event.action`  | `event.category` | `event.type` | `event.dataset`           |
//! |--------------------------------------------------------|---------------------------------------------|------------------------|------------------|--------------|---------------------------|
//! | `executed` (execve, execveat)                          | success                                     | `exec`                 | process          | start        | endpoint.events.process   |
//! | any (exit, exit_group)                                 |                                             | `end`                  | process          | end          | endpoint.events.process   |
//! | `connected-to` (connect)                               | any result (a failed connect is an attempt) | `connection_attempted` | network          | start        | endpoint.events.network   |
//! | `accepted-connection-from` (accept, accept4)           | success                                     | `connection_accepted`  | network          | start        | endpoint.events.network   |
//! | `renamed` (rename, renameat, renameat2)                | success                                     | `rename`               | file             | change       | endpoint.events.file      |
//! | `deleted` (unlink, unlinkat, rmdir)                    | success                                     | `deletion`             | file             | deletion     | endpoint.events.file      |
//! | any file syscall with a PATH `nametype=CREATE`         | success                                     | `creation`             | file             | creation     | endpoint.events.file      |
//! | `opened-file` (open/openat/creat) with write flags, `wrote-to-file`, truncate/ftruncate/fallocate | success, no CREATE path | `modification` | file | change | endpoint.events.file |
//!
//! For `rename`, `file.path` (and `file.name`, `file.extension`, `file.directory`) is the new
//! name (the last `CREATE` path) and `file.Ext.original.{path,name,extension}` the old one (the
//! first `DELETE` path). For `creation`/`deletion` `file.*` describes the `CREATE`/`DELETE`
//! path. Relative names are joined to `process.working_directory`.

use crate::event::{Event, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// `open(2)` flags that mean the file is opened for writing.
const O_WRONLY: u64 = 0o1;
const O_RDWR: u64 = 0o2;
const O_TRUNC: u64 = 0o1000;

struct Mapping {
    action: &'static str,
    category: &'static str,
    etype: &'static str,
    dataset: &'static str,
}

const fn m(
    action: &'static str,
    category: &'static str,
    etype: &'static str,
    dataset: &'static str,
) -> Mapping {
    Mapping {
        action,
        category,
        etype,
        dataset,
    }
}

const EXEC: Mapping = m("exec", "process", "start", "endpoint.events.process");
const END: Mapping = m("end", "process", "end", "endpoint.events.process");
const CONNECT: Mapping = m(
    "connection_attempted",
    "network",
    "start",
    "endpoint.events.network",
);
const ACCEPT: Mapping = m(
    "connection_accepted",
    "network",
    "start",
    "endpoint.events.network",
);
const RENAME: Mapping = m("rename", "file", "change", "endpoint.events.file");
const DELETION: Mapping = m("deletion", "file", "deletion", "endpoint.events.file");
const CREATION: Mapping = m("creation", "file", "creation", "endpoint.events.file");
const MODIFICATION: Mapping = m("modification", "file", "change", "endpoint.events.file");

/// The event in Elastic Defend's vocabulary, or `None` when Defend has no such event.
pub fn defend_view(ev: &Event) -> Option<Event> {
    defend_overlay(ev).map(|o| ev.overlaid(&o))
}

/// The fields every view of one mapping sets.
fn mapping_fields(out: &mut Event, mapping: &Mapping) {
    out.push("event.action", mapping.action);
    out.push("event.category", Value::List(vec![mapping.category.into()]));
    out.push("event.type", Value::List(vec![mapping.etype.into()]));
    out.push("event.module", "endpoint");
    out.push("event.dataset", mapping.dataset);
    out.push("data_stream.dataset", mapping.dataset);
    out.push("data_stream.type", "logs");
    out.push("data_stream.namespace", "default");
}

/// The overlay of a mapping that changes no `file.*` field: the same for every event, so
/// built once per thread and shared.
fn shared_overlay(mapping: &Mapping) -> Arc<Event> {
    thread_local! {
        // By the mapping's action: each mapping has its own.
        static BUILT: std::cell::RefCell<Vec<(&'static str, Arc<Event>)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUILT.with(|b| {
        let mut b = b.borrow_mut();
        if let Some((_, o)) = b.iter().find(|(a, _)| *a == mapping.action) {
            return Arc::clone(o);
        }
        let mut out = Event::new(0);
        mapping_fields(&mut out, mapping);
        let o = Arc::new(out);
        b.push((mapping.action, Arc::clone(&o)));
        o
    })
}

/// The fields the Defend view is decided on, in the order [`defend_overlay_from`] takes them.
pub const DEFEND_READS: [&str; 9] = [
    "event.action",
    "auditd.data.syscall",
    "event.outcome",
    "process.working_directory",
    "auditd.paths.name",
    "auditd.paths.nametype",
    "auditd.paths.objtype",
    "auditd.data.a1",
    "auditd.data.a2",
];

/// What the Defend view changes in the event: the fields it replaces or adds, and `Null` for
/// the ones it removes (see [`Event::overlaid`]). `None` when Defend has no such event. The
/// engine indexes this over the event instead of copying it; views that change no file
/// field share one overlay.
pub fn defend_overlay(ev: &Event) -> Option<Arc<Event>> {
    // One pass over the fields for the few this reads (the first of each, like `get`).
    let mut reads = [None; DEFEND_READS.len()];
    for (k, v) in &ev.fields {
        if let Some(i) = DEFEND_READS.iter().position(|r| *r == &**k) {
            reads[i] = reads[i].or(Some(v));
        }
    }
    defend_overlay_from(ev, reads)
}

/// [`defend_overlay`] given the first value of each of [`DEFEND_READS`] (the engine reads
/// them from its field index instead of scanning the event).
pub fn defend_overlay_from(
    ev: &Event,
    reads: [Option<&Value>; DEFEND_READS.len()],
) -> Option<Arc<Event>> {
    let [action, syscall, outcome, cwd, names, nametypes, objtypes, a1, a2] = reads;
    fn text(v: Option<&Value>) -> Option<&str> {
        v.map(|v| v.as_str().unwrap_or(""))
    }
    let (action, syscall, outcome) = (text(action), text(syscall), text(outcome));
    let cwd = cwd.map(Value::as_str);
    let (action, syscall) = (action.unwrap_or(""), syscall.unwrap_or(""));
    let cwd = cwd.flatten();
    let success = outcome == Some("success");
    let paths = Paths::new(names, nametypes, objtypes);

    let mapping = match (action, syscall) {
        ("executed", _) if success => &EXEC,
        (_, "exit" | "exit_group") => &END,
        ("connected-to", _) => &CONNECT,
        ("accepted-connection-from", _) if success => &ACCEPT,
        ("renamed", _) if success => &RENAME,
        ("deleted", _) if success => &DELETION,
        _ if success && syscall_touches_files(syscall) && paths.find("CREATE", true).is_some() => {
            &CREATION
        }
        ("wrote-to-file", _) if success => &MODIFICATION,
        ("opened-file", _) if success && opens_for_writing(syscall, a1, a2) => &MODIFICATION,
        _ => return None,
    };

    let mut out = Event {
        timestamp_ms: ev.timestamp_ms,
        arrival: ev.arrival,
        fields: Vec::with_capacity(16),
    };
    match mapping.action {
        "rename" => {
            mapping_fields(&mut out, mapping);
            let old = paths.find("DELETE", false);
            let new = paths.find("CREATE", true);
            if let Some(new) = new {
                set_file(&mut out, "file", &absolute(new, cwd), true);
            }
            if let Some(old) = old {
                set_file(&mut out, "file.Ext.original", &absolute(old, cwd), false);
            }
        }
        "creation" => {
            mapping_fields(&mut out, mapping);
            if let Some(p) = paths.find("CREATE", true) {
                set_file(&mut out, "file", &absolute(p, cwd), true);
            }
        }
        "deletion" => {
            mapping_fields(&mut out, mapping);
            if let Some(p) = paths.find("DELETE", false) {
                set_file(&mut out, "file", &absolute(p, cwd), true);
            }
        }
        _ => return Some(shared_overlay(mapping)),
    }
    Some(Arc::new(out))
}

fn syscall_touches_files(syscall: &str) -> bool {
    matches!(
        syscall,
        "open"
            | "openat"
            | "openat2"
            | "creat"
            | "mkdir"
            | "mkdirat"
            | "mknod"
            | "mknodat"
            | "symlink"
            | "symlinkat"
            | "link"
            | "linkat"
    )
}

/// `open`'s flags are its second argument, `openat`'s its third (hex as the kernel printed it).
fn opens_for_writing(syscall: &str, a1: Option<&Value>, a2: Option<&Value>) -> bool {
    let arg = match syscall {
        "open" => a1,
        "openat" => a2,
        "creat" | "truncate" | "ftruncate" | "fallocate" => return true,
        _ => return false,
    };
    let Some(flags) = arg
        .and_then(Value::as_str)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
    else {
        return false;
    };
    flags & (O_WRONLY | O_RDWR | O_TRUNC) != 0
}

/// The PATH records of the event: `auditd.paths.name` and `auditd.paths.nametype`, aligned
/// lists (one entry per PATH record, `null` where a record lacks the field).
struct Paths<'a> {
    names: &'a [Value],
    nametypes: &'a [Value],
}

impl<'a> Paths<'a> {
    /// From the values of `auditd.paths.name`, `.nametype` and `.objtype`.
    fn new(
        names: Option<&'a Value>,
        nametypes: Option<&'a Value>,
        objtypes: Option<&'a Value>,
    ) -> Paths<'a> {
        fn list(v: Option<&Value>) -> &[Value] {
            match v {
                Some(Value::List(l)) => l,
                Some(v) => std::slice::from_ref(v),
                None => &[],
            }
        }
        let mut types = list(nametypes);
        if types.is_empty() {
            // Kernels before 4.x print `objtype`.
            types = list(objtypes);
        }
        Paths {
            names: list(names),
            nametypes: types,
        }
    }

    /// The name of the first (or last) PATH record with this nametype.
    fn find(&self, nametype: &str, last: bool) -> Option<&'a str> {
        let mut hits = self
            .nametypes
            .iter()
            .zip(self.names.iter())
            .filter(|(t, _)| t.as_str() == Some(nametype))
            .filter_map(|(_, n)| n.as_str());
        if last {
            hits.next_back()
        } else {
            hits.next()
        }
    }
}

fn absolute<'a>(path: &'a str, cwd: Option<&str>) -> Cow<'a, str> {
    match cwd {
        Some(cwd) if !path.starts_with('/') && !cwd.is_empty() => {
            let rel = path.strip_prefix("./").unwrap_or(path);
            Cow::Owned(format!("{}/{}", cwd.trim_end_matches('/'), rel))
        }
        _ => Cow::Borrowed(path),
    }
}

/// Sets `{prefix}.path`, `.name`, `.extension` (and `.directory` when asked) in the
/// overlay; a part the path lacks is set to `Null` (removed from the view). The overlay has
/// none of these yet (its mapping fields are `event.*` and `data_stream.*`, and the two
/// prefixes differ), so they are appended without looking for an earlier value.
fn set_file(ev: &mut Event, prefix: &'static str, path: &str, with_directory: bool) {
    let parts = crate::ecs::split_path(path);
    let keys: [&'static str; 4] = if prefix == "file" {
        ["file.path", "file.name", "file.extension", "file.directory"]
    } else {
        [
            "file.Ext.original.path",
            "file.Ext.original.name",
            "file.Ext.original.extension",
            "file.Ext.original.directory",
        ]
    };
    let or_null = |p: Option<&str>| p.map_or(Value::Null, Value::from);
    debug_assert!(ev.fields.iter().all(|(k, _)| !k.starts_with(prefix)));
    ev.push(keys[0], path);
    ev.push(keys[1], or_null(parts.name));
    ev.push(keys[2], or_null(parts.extension));
    if with_directory {
        ev.push(keys[3], or_null(parts.directory));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(action: &str, syscall: &str, outcome: &str) -> Event {
        let mut ev = Event::new(1_700_000_000_000);
        ev.push("event.action", action);
        ev.push("event.category", Value::List(vec!["file".into()]));
        ev.push("event.type", Value::List(vec!["change".into()]));
        ev.push("event.module", "auditd");
        ev.push("event.outcome", outcome);
        ev.push("auditd.data.syscall", syscall);
        ev.push("process.pid", 42i64);
        ev.push("host.name", "h");
        ev
    }

    fn with_paths(mut ev: Event, items: &[(&str, &str)]) -> Event {
        ev.push(
            "auditd.paths.name",
            Value::List(items.iter().map(|(n, _)| Value::from(*n)).collect()),
        );
        ev.push(
            "auditd.paths.nametype",
            Value::List(items.iter().map(|(_, t)| Value::from(*t)).collect()),
        );
        ev
    }

    fn cat(ev: &Event) -> (&str, &str, &str) {
        let first = |k: &str| match ev.get(k) {
            Some(Value::List(l)) => l[0].as_str().unwrap_or(""),
            _ => "",
        };
        (
            ev.get_str("event.action").unwrap_or(""),
            first("event.category"),
            first("event.type"),
        )
    }

    #[test]
    fn exec_maps_to_exec_start() {
        let v = defend_view(&base("executed", "execve", "success")).expect("exec has a view");
        assert_eq!(cat(&v), ("exec", "process", "start"));
        assert_eq!(v.get_str("event.dataset"), Some("endpoint.events.process"));
        assert_eq!(v.get("process.pid"), Some(&Value::Int(42)));
        assert_eq!(v.get_str("host.name"), Some("h"));
        assert!(defend_view(&base("executed", "execve", "failure")).is_none());
    }

    #[test]
    fn connect_is_an_attempt_even_when_it_fails() {
        let v =
            defend_view(&base("connected-to", "connect", "failure")).expect("connect has a view");
        assert_eq!(cat(&v), ("connection_attempted", "network", "start"));
    }

    #[test]
    fn rename_gives_new_path_and_original() {
        let ev = with_paths(
            base("renamed", "rename", "success"),
            &[
                ("/tmp/", "PARENT"),
                ("/tmp/", "PARENT"),
                ("/tmp/a.txt", "DELETE"),
                ("/tmp/b.sh", "CREATE"),
            ],
        );
        let v = defend_view(&ev).expect("rename has a view");
        assert_eq!(cat(&v), ("rename", "file", "change"));
        assert_eq!(v.get_str("file.path"), Some("/tmp/b.sh"));
        assert_eq!(v.get_str("file.name"), Some("b.sh"));
        assert_eq!(v.get_str("file.extension"), Some("sh"));
        assert_eq!(v.get_str("file.directory"), Some("/tmp"));
        assert_eq!(v.get_str("file.Ext.original.path"), Some("/tmp/a.txt"));
        assert_eq!(v.get_str("file.Ext.original.name"), Some("a.txt"));
        assert_eq!(v.get_str("file.Ext.original.extension"), Some("txt"));
    }

    #[test]
    fn creation_from_create_nametype_with_relative_name() {
        let mut ev = with_paths(
            base("opened-file", "openat", "success"),
            &[("/home/u", "PARENT"), ("new.txt", "CREATE")],
        );
        ev.push("process.working_directory", "/home/u");
        ev.push("auditd.data.a2", "241");
        let v = defend_view(&ev).expect("creation has a view");
        assert_eq!(cat(&v), ("creation", "file", "creation"));
        assert_eq!(v.get_str("file.path"), Some("/home/u/new.txt"));
    }

    #[test]
    fn modification_needs_write_flags() {
        let mut ev = with_paths(
            base("opened-file", "openat", "success"),
            &[("/etc/passwd", "NORMAL")],
        );
        ev.push("auditd.data.a2", "0");
        assert!(
            defend_view(&ev).is_none(),
            "read-only open is not a modification"
        );
        ev.set("auditd.data.a2", "1");
        let v = defend_view(&ev).expect("write open has a view");
        assert_eq!(cat(&v), ("modification", "file", "change"));
    }

    #[test]
    fn deletion_and_unmapped() {
        let ev = with_paths(
            base("deleted", "unlink", "success"),
            &[("/tmp/", "PARENT"), ("/tmp/x", "DELETE")],
        );
        let v = defend_view(&ev).expect("deletion has a view");
        assert_eq!(cat(&v), ("deletion", "file", "deletion"));
        assert_eq!(v.get_str("file.path"), Some("/tmp/x"));
        assert!(defend_view(&base("bound-socket", "bind", "success")).is_none());
        assert!(defend_view(&base("", "socket", "success")).is_none());
    }
}
