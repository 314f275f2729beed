//! Rule files from directories (augenrules-style), the bundled rules, the self-exclusion rule.

use super::fields::{id, op, Action, List};
use super::parse::{parse_file, parse_str};
use super::{Control, Directive, Entry, Field, Rule, RuleError, RuleSet, Value};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// The bundled `audit-rules/` files (name, text), embedded so the binary needs no /etc files.
pub const BUNDLED_FILES: &[(&str, &str)] = &[
    (
        "10-process.rules",
        include_str!("../../../audit-rules/10-process.rules"),
    ),
    (
        "20-network.rules",
        include_str!("../../../audit-rules/20-network.rules"),
    ),
    (
        "30-shared-objects.rules",
        include_str!("../../../audit-rules/30-shared-objects.rules"),
    ),
    (
        "40-cron.rules",
        include_str!("../../../audit-rules/40-cron.rules"),
    ),
];

/// The bundled rules, in file order (errors would mean a bundled line does not compile on
/// this machine; they are returned, not hidden).
pub fn bundled() -> (RuleSet, Vec<RuleError>) {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    for (name, text) in BUNDLED_FILES {
        let (s, e) = parse_str(&format!("bundled:{name}"), text);
        set.extend(s);
        errors.extend(e);
    }
    (set, errors)
}

/// Loads the `*.rules` files of `dirs` like augenrules: all files sorted by name (natural
/// order, as `ls -v`: `9-x` before `10-x`; the same name in two directories: both, in
/// directory order), concatenated. As augenrules does, the first `-D` and the last `-b` and `-f`
/// move to the front and the last `-e` to the end (so `-e 2`, which locks the rules, comes last).
/// A missing directory is an error; the other directories still load.
pub fn load_dirs(dirs: &[PathBuf]) -> (RuleSet, Vec<RuleError>) {
    let mut files: Vec<(String, usize, PathBuf)> = Vec::new();
    let mut errors = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for entry in rd.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".rules") && path.is_file() {
                        files.push((name, i, path));
                    }
                }
            }
            Err(e) => errors.push(dir_error(dir, &e.to_string())),
        }
    }
    files.sort_by(|a, b| natural_cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut all = RuleSet::default();
    for (_, _, path) in &files {
        let (set, errs) = parse_file(path);
        all.extend(set);
        errors.extend(errs);
    }
    (augenrules_order(all), errors)
}

fn dir_error(dir: &Path, why: &str) -> RuleError {
    RuleError {
        origin: super::Origin {
            file: dir.display().to_string(),
            line: 0,
        },
        text: String::new(),
        reason: format!("cannot read rules directory: {why}"),
    }
}

fn augenrules_order(set: RuleSet) -> RuleSet {
    let (mut delete, mut backlog, mut failure, mut enable) = (None, None, None, None);
    let mut rest = Vec::new();
    for e in set.entries {
        match &e.directive {
            Directive::Control(Control::DeleteAll { .. }) => {
                delete.get_or_insert(e);
            }
            Directive::Control(Control::BacklogLimit(_)) => backlog = Some(e),
            Directive::Control(Control::Failure(_)) => failure = Some(e),
            Directive::Control(Control::Enabled(_)) => enable = Some(e),
            _ => rest.push(e),
        }
    }
    let entries: Vec<Entry> = [delete, backlog, failure]
        .into_iter()
        .flatten()
        .chain(rest)
        .chain(enable)
        .collect();
    RuleSet { entries }
}

/// Compares names with digit runs as numbers (`ls -v`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then(na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|c| **c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

/// How the sensor identifies itself to [`self_exclusion`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfId {
    /// The sensor's pid (its threads share it): exact, but must be replaced after a restart.
    Pid(u32),
    /// The sensor's executable: survives restarts, but also silences other copies of the binary.
    Exe(PathBuf),
}

/// `-a never,exit -F pid=PID` (or `-F exe=PATH`): keeps the sensor's own syscalls (reading
/// /proc, writing alerts into watched directories) out of the stream, so it never reports, or
/// feeds back on, itself. Insert it before every other rule ([`RuleSet::insert_first`]): the
/// exit list is first-match.
pub fn self_exclusion(who: SelfId) -> Rule {
    let field = match who {
        SelfId::Pid(pid) => Field {
            id: id::PID,
            op: op::EQUAL,
            value: Value::Num(pid),
        },
        SelfId::Exe(path) => {
            use std::os::unix::ffi::OsStrExt;
            Field {
                id: id::EXE,
                op: op::EQUAL,
                value: Value::Str(path.as_os_str().as_bytes().to_vec()),
            }
        }
    };
    let mut mask = [u32::MAX; super::fields::BITMASK_WORDS];
    mask[super::fields::BITMASK_WORDS - 1] = super::fields::ALL_SYSCALLS_LAST_WORD;
    Rule {
        list: List::Exit,
        action: Action::Never,
        prepend: false,
        mask,
        fields: vec![field],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_9_before_10() {
        let mut v = vec![
            "10-a.rules",
            "9-b.rules",
            "010-c.rules",
            "a.rules",
            "99-finalize.rules",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "9-b.rules",
                "10-a.rules",
                "010-c.rules",
                "99-finalize.rules",
                "a.rules"
            ]
        );
    }
}
