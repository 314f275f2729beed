//! The host an event came from: `host.name`, `host.id` (`/etc/machine-id`), `host.os.*`.

use crate::event::{Key, Value};
use std::borrow::Cow;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// `host.name` and `host.hostname`.
    pub name: String,
    /// `host.id`: the machine id (32 hex digits), empty when unknown.
    pub id: String,
    /// `host.os.kernel` (`uname -r`).
    pub kernel: String,
    /// `host.os.name`, `host.os.version`, `host.os.platform` from `/etc/os-release`.
    pub os_name: String,
    pub os_version: String,
    pub os_platform: String,
    /// `host.architecture` (`uname -m`).
    pub architecture: String,
}

impl HostInfo {
    /// Reads this machine's identity. Missing files leave fields empty; never fails.
    pub fn detect() -> HostInfo {
        let uts = nix::sys::utsname::uname().ok();
        let uts_str = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let name = uts_str(|u| u.nodename());
        let id = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_default();
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| os_release_value(&release, key).unwrap_or_default();
        HostInfo {
            name,
            id,
            kernel: uts_str(|u| u.release()),
            os_name: field("NAME"),
            os_version: field("VERSION"),
            os_platform: field("ID"),
            architecture: uts_str(|u| u.machine()),
        }
    }

    /// A host given by the operator (replay of another machine's log): name and id only.
    pub fn named(name: impl Into<String>, id: impl Into<String>) -> HostInfo {
        HostInfo {
            name: name.into(),
            id: id.into(),
            ..HostInfo::default()
        }
    }

    /// The `host.*` fields, built once and copied into every event.
    pub fn fields(&self) -> Vec<(Key, Value)> {
        let mut out: Vec<(Key, Value)> = vec![(Cow::Borrowed("host.os.type"), "linux".into())];
        let mut add = |k: &'static str, v: &str| {
            if !v.is_empty() {
                out.push((Cow::Borrowed(k), v.into()));
            }
        };
        add("host.name", &self.name);
        add("host.hostname", &self.name);
        add("host.id", &self.id);
        add("host.os.kernel", &self.kernel);
        add("host.os.name", &self.os_name);
        add("host.os.version", &self.os_version);
        add("host.os.platform", &self.os_platform);
        add("host.architecture", &self.architecture);
        if !self.os_name.is_empty() {
            out.push((
                Cow::Borrowed("host.os.family"),
                os_family(&self.os_platform).into(),
            ));
        }
        out
    }
}

fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_owned())
    })
}

fn os_family(platform: &str) -> &'static str {
    match platform {
        "debian" | "ubuntu" | "raspbian" | "linuxmint" => "debian",
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "amzn" | "ol" => "redhat",
        "sles" | "opensuse" | "opensuse-leap" => "suse",
        "arch" => "arch",
        _ => "linux",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_reads_this_machine() {
        let h = HostInfo::detect();
        assert!(!h.name.is_empty());
        if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
            assert_eq!(h.id, id.trim());
        }
        let f = h.fields();
        assert!(f
            .iter()
            .any(|(k, v)| k == "host.os.type" && v.as_str() == Some("linux")));
        assert!(f
            .iter()
            .any(|(k, v)| k == "host.name" && v.as_str() == Some(h.name.as_str())));
    }

    #[test]
    fn override_and_os_release() {
        let h = HostInfo::named("web-1", "abc");
        let f = h.fields();
        assert!(f
            .iter()
            .any(|(k, v)| k == "host.id" && v.as_str() == Some("abc")));
        assert!(!f.iter().any(|(k, _)| k == "host.os.kernel"));
        assert_eq!(
            os_release_value("NAME=\"Debian GNU/Linux\"\nID=debian\n", "ID"),
            Some("debian".into())
        );
        assert_eq!(
            os_release_value("NAME=\"Debian GNU/Linux\"\n", "NAME"),
            Some("Debian GNU/Linux".into())
        );
    }
}
