//! Normalises an assembled audit event into one ECS document (Auditbeat auditd-module shape),
//! with `process.entity_id`/`process.parent.*` from the process table, and the Elastic
//! Defend view of it (`defend_view`).
//!
//! What a document holds (Auditbeat's names and values unless noted):
//! - `@timestamp`, `event.kind` (`event`), `event.category`/`event.type` (lists),
//!   `event.action` (`executed`, `connected-to`, ... — absent where upstream has none, e.g.
//!   `socket()`), `event.outcome`, `event.module`/`event.dataset` (`auditd`), `tags` (rule keys);
//! - `process.pid`, `.name`, `.executable`, `.title`, `.working_directory`, `.args`,
//!   `.args_count`, `.command_line`, `.entity_id`, `process.parent.{pid,entity_id,name,
//!   executable,args,args_count,command_line}` (beyond Auditbeat: from the process table, also
//!   on non-exec events);
//! - `user.id`, `.name`, `.group.*`, `.effective.*`, `.saved.*`, `.filesystem.*`, `.audit.*`,
//!   `.target.*`, `.changes.*`, `group.*`, `user.selinux.*`, `related.user` (ids are strings;
//!   names from ENRICHED fields, or the `NameResolver` in live mode);
//! - `file.{path,name,extension,directory,inode,mode,uid,gid,owner,group,device,selinux}`;
//! - `source.*`/`destination.*` (`ip`, `port` as a number, `path` for unix sockets),
//!   `network.direction` (egress for connect/sendto/sendmsg, ingress for accept/recv* and
//!   for user-space login records with `addr`);
//! - `host.{name,hostname,id,os.type,os.kernel,os.name,os.version,os.platform,os.family,
//!   architecture}`;
//! - `auditd.{message_type,sequence,result,session,summary.{actor,action,object,how},data.*,
//!   paths.*}`, `auditd.incomplete: true` for events the reassembler flushed without EOE.
//!   `auditd.paths.<key>` are aligned lists, one entry per PATH record (`null` where a record
//!   lacks the key), since an `Event` holds no objects.

pub mod actions;
pub mod defend;
pub mod host;
pub mod names;
mod normalize;
pub mod process;

pub use defend::{defend_overlay, defend_view};
pub use host::HostInfo;
pub use names::{AccountNames, NameResolver, NoNames};
pub use process::{ProcessStats, ProcessTable};

use crate::assemble::AuditEvent;
use crate::event::{Event, Key, Value};

/// Counters of the normaliser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NormalizerStats {
    pub events: u64,
    pub incomplete: u64,
    /// Events with no records (nothing to normalise; an empty document is returned).
    pub empty: u64,
    pub processes: ProcessStats,
}

/// Audit events → ECS documents. Keeps the process table across events, so feed it every
/// event of a stream in order.
pub struct Normalizer {
    host: Vec<(Key, Value)>,
    names: Box<dyn NameResolver>,
    processes: ProcessTable,
    stats: NormalizerStats,
    stamps: normalize::Timestamps,
    spare: normalize::Spare,
}

impl Normalizer {
    /// For replay: names only from the records themselves (ENRICHED logs), process table
    /// built from the log alone.
    pub fn new(host: HostInfo) -> Normalizer {
        Normalizer {
            processes: ProcessTable::new(&host.id, process::DEFAULT_CAPACITY),
            host: host.fields(),
            names: Box::new(NoNames),
            stats: NormalizerStats::default(),
            stamps: normalize::Timestamps::default(),
            spare: normalize::Spare::default(),
        }
    }

    /// For the live host: this host's account names and its running processes from `/proc`.
    pub fn live(host: HostInfo) -> Normalizer {
        let mut n = Normalizer::new(host).with_names(Box::new(AccountNames::host()));
        n.processes.load_proc(std::path::Path::new("/proc"));
        n
    }

    /// Replaces the name resolver (e.g. `AccountNames::load` of the recorded host's files).
    pub fn with_names(mut self, names: Box<dyn NameResolver>) -> Normalizer {
        self.names = names;
        self
    }

    /// Replaces the process table (a different capacity, or one loaded elsewhere).
    pub fn with_process_table(mut self, table: ProcessTable) -> Normalizer {
        self.processes = table;
        self
    }

    pub fn processes(&self) -> &ProcessTable {
        &self.processes
    }

    pub fn stats(&self) -> NormalizerStats {
        NormalizerStats {
            processes: self.processes.stats(),
            ..self.stats
        }
    }

    /// One ECS document for one audit event.
    pub fn normalize(&mut self, ev: &AuditEvent) -> Event {
        self.stats.events += 1;
        if ev.incomplete {
            self.stats.incomplete += 1;
        }
        match normalize::interpret(ev, &mut self.spare) {
            Some(n) => {
                let doc = normalize::build(
                    &n,
                    ev,
                    &self.host,
                    self.names.as_ref(),
                    &mut self.processes,
                    &mut self.stamps,
                );
                self.spare.keep(n.work);
                doc
            }
            None => {
                self.stats.empty += 1;
                let mut out = Event::new(0);
                out.push("event.kind", "event");
                out.push("event.module", "auditd");
                out.push("event.dataset", "auditd");
                out.push("auditd.sequence", ev.seq as i64);
                out.push("auditd.incomplete", true);
                out.fields.extend(self.host.iter().cloned());
                out
            }
        }
    }
}
/// The parts of a file path that ECS names separately.
#[derive(Debug, PartialEq, Eq)]
pub struct PathParts<'a> {
    pub name: Option<&'a str>,
    pub extension: Option<&'a str>,
    pub directory: Option<&'a str>,
}

/// Splits `/tmp/a.tar.gz` into name `a.tar.gz`, extension `gz`, directory `/tmp`. A leading dot
/// (`.bashrc`) is not an extension; a trailing slash leaves no name.
pub fn split_path(path: &str) -> PathParts<'_> {
    // Byte searches: `/` and `.` are ASCII, so they never fall inside a multi-byte character,
    // and a loop over a short path costs less than `str::rfind`'s searcher.
    let last = |s: &str, c: u8| s.bytes().rposition(|b| b == c);
    let (directory, name) = match last(path, b'/') {
        Some(0) => (Some("/"), &path[1..]),
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    };
    let name = (!name.is_empty()).then_some(name);
    let extension = name.and_then(|n| match last(n, b'.') {
        Some(i) if i > 0 && i + 1 < n.len() => Some(&n[i + 1..]),
        _ => None,
    });
    PathParts {
        name,
        extension,
        directory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts() {
        let p = split_path("/tmp/a.tar.gz");
        assert_eq!(
            (p.name, p.extension, p.directory),
            (Some("a.tar.gz"), Some("gz"), Some("/tmp"))
        );
        let p = split_path("/.bashrc");
        assert_eq!(
            (p.name, p.extension, p.directory),
            (Some(".bashrc"), None, Some("/"))
        );
        let p = split_path("rel");
        assert_eq!(
            (p.name, p.extension, p.directory),
            (Some("rel"), None, None)
        );
        let p = split_path("/etc/");
        assert_eq!((p.name, p.directory), (None, Some("/etc")));
        // Multi-byte characters around the separators.
        let p = split_path("/é/ü.ß");
        assert_eq!(
            (p.name, p.extension, p.directory),
            (Some("ü.ß"), Some("ß"), Some("/é"))
        );
        let p = split_path("é.");
        assert_eq!((p.name, p.extension, p.directory), (Some("é."), None, None));
    }
}

#[cfg(test)]
mod normalize_tests;
