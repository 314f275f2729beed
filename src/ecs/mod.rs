//! Normalises an assembled audit event into one ECS document (Auditbeat auditd-module shape).

pub mod actions;
pub mod defend;
pub mod host;
pub mod process;

pub use defend::defend_view;
pub use host::HostInfo;

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
    let (directory, name) = match path.rfind('/') {
        Some(0) => (Some("/"), &path[1..]),
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    };
    let name = (!name.is_empty()).then_some(name);
    let extension = name.and_then(|n| match n.rfind('.') {
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
    }
}
