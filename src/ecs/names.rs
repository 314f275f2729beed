//! User and group names for numeric ids. Replay must not invent names from the replaying
//! host's accounts, so the default knows none; live mode reads `/etc/passwd` and `/etc/group`.

use std::collections::HashMap;
use std::path::Path;

pub trait NameResolver: Send {
    fn user(&self, uid: u32) -> Option<&str>;
    fn group(&self, gid: u32) -> Option<&str>;
    /// The id of a user (or group) name.
    fn id_of(&self, name: &str, group: bool) -> Option<u32>;
    /// True when this resolver never knows a name: callers skip parsing ids for it.
    fn knows_none(&self) -> bool {
        false
    }
}

/// Knows no names: only names the records carry (ENRICHED logs) appear.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNames;

impl NameResolver for NoNames {
    fn user(&self, _: u32) -> Option<&str> {
        None
    }
    fn group(&self, _: u32) -> Option<&str> {
        None
    }
    fn id_of(&self, _: &str, _: bool) -> Option<u32> {
        None
    }
    fn knows_none(&self) -> bool {
        true
    }
}

/// The accounts of a passwd/group file pair, read once.
#[derive(Clone, Debug, Default)]
pub struct AccountNames {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl AccountNames {
    /// This host's `/etc/passwd` and `/etc/group` (missing files give no names).
    pub fn host() -> AccountNames {
        AccountNames::load(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    pub fn load(passwd: &Path, group: &Path) -> AccountNames {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        AccountNames {
            users: parse_db(&read(passwd)),
            groups: parse_db(&read(group)),
        }
    }
}

/// `name:x:id:...` lines → id → name (the first name of an id wins, as getpwuid).
fn parse_db(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split(':');
        let (Some(name), Some(_), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            out.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    out
}

impl NameResolver for AccountNames {
    fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }
    fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
    fn id_of(&self, name: &str, group: bool) -> Option<u32> {
        let db = if group { &self.groups } else { &self.users };
        db.iter().find(|(_, n)| *n == name).map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_account_files() {
        let db = parse_db("root:x:0:0:root:/root:/bin/bash\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\ndup:x:0:0::/:/bin/sh\n");
        assert_eq!(db.get(&0).map(String::as_str), Some("root"));
        assert_eq!(db.get(&1000).map(String::as_str), Some("alice"));
        let host = AccountNames::host();
        assert_eq!(host.user(0), Some("root"));
        assert_eq!(host.id_of("root", false), Some(0));
        assert_eq!(NoNames.user(0), None);
    }
}
