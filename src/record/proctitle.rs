//! PROCTITLE decoding: the process's command line (`/proc/PID/cmdline`, at most 128 bytes
//! as the kernel keeps it), hex-encoded with NUL between arguments, or quoted when it is a
//! single safe word.

use super::{hex, FieldKind, FieldRef};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proctitle {
    /// The arguments (lossy UTF-8); a title a process rewrote may be one "argument".
    pub argv: Vec<String>,
    /// The arguments joined by spaces, as `ps` shows them.
    pub title: String,
}

/// Decodes a `proctitle=` field.
pub fn parse(field: &FieldRef<'_>) -> Proctitle {
    let raw = field.raw.as_bytes();
    let bytes = match field.kind {
        FieldKind::Plain => hex::decode(raw).unwrap_or_else(|| raw.to_vec()),
        _ => raw.to_vec(),
    };
    from_bytes(&bytes)
}

/// Just the title of a `proctitle=` field (`parse(field).title`), without building argv.
pub fn title(field: &FieldRef<'_>) -> String {
    let raw = field.raw.as_bytes();
    if field.kind == FieldKind::Plain {
        // `title_from_bytes` of the decoded bytes, in one pass.
        if let Some(text) = hex::decode_text(raw) {
            return text;
        }
    }
    title_from_bytes(raw.to_vec())
}

/// `from_bytes(&bytes).title` in place: NULs are ASCII, so turning them into spaces before
/// the lossy conversion gives the same text as joining the converted arguments.
pub fn title_from_bytes(mut bytes: Vec<u8>) -> String {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    for b in bytes.iter_mut().filter(|b| **b == 0) {
        *b = b' ';
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Splits the NUL-separated command line bytes.
pub fn from_bytes(bytes: &[u8]) -> Proctitle {
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == 0 {
        end -= 1;
    }
    if end == 0 {
        return Proctitle::default();
    }
    let argv: Vec<String> = bytes[..end]
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let title = argv.join(" ");
    Proctitle { argv, title }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn title_alone_equals_parse_title(
            bytes in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(0xc3), Just(0xa9), Just(0xff), any::<u8>()], 0..40),
        ) {
            prop_assert_eq!(title_from_bytes(bytes.clone()), from_bytes(&bytes).title);
        }
    }

    fn field(body: &str) -> Proctitle {
        let line = format!("type=PROCTITLE msg=audit(1.000:1): {body}");
        let r = Record::parse_log_line(line.as_bytes()).unwrap();
        parse(&r.get("proctitle").unwrap())
    }

    #[test]
    fn hex_and_quoted() {
        let p = field("proctitle=2F62696E2F7368002D63006563686F2068690000");
        assert_eq!(p.argv, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(p.title, "/bin/sh -c echo hi");
        let p = field("proctitle=737368643A206275726E205B707269765D");
        assert_eq!((p.argv.len(), p.title.as_str()), (1, "sshd: burn [priv]"));
        let p = field("proctitle=\"bash\"");
        assert_eq!(p.argv, ["bash"]);
        // Empty arguments in the middle are kept.
        let p = field("proctitle=6100006200");
        assert_eq!(p.argv, ["a", "", "b"]);
    }

    #[test]
    fn odd_values() {
        assert_eq!(field("proctitle=0000"), Proctitle::default());
        assert_eq!(
            field("proctitle=ABC").title,
            "ABC",
            "not hex: kept as printed"
        );
        assert_eq!(field("proctitle=(null)").title, "(null)");
        assert_eq!(field("proctitle=FF00").argv, ["\u{fffd}"]);
    }
}
