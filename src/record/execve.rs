//! EXECVE argument assembly: `argc`, `aN`, `aN_len` and `aN[i]` chunks, over one or more
//! EXECVE records of an event.
//!
//! The kernel prints an argument quoted when it is safe and hex-encoded otherwise; a long
//! argument is split into `aN[0]`, `aN[1]`, ... chunks (each quoted or hex like the whole),
//! announced by `aN_len` (the printed length: hex digits when encoded). When the records of
//! one exec do not fit in one, they continue in further EXECVE records. Work and memory are
//! bounded by the fields present, not by the `argc` the text claims.

use super::{hex, FieldKind, FieldRef, Record};
use std::collections::BTreeMap;

/// Stands in for an argument (or a chunk of one) that `argc`/`aN_len` promise but no record
/// carries. Its index is also listed in `Argv::missing`, so a literal argument with this text
/// stays distinguishable.
pub const MISSING: &str = "(missing)";
/// Up to this many consecutive missing arguments get one marker each; a longer run (a hostile
/// or corrupt `argc`) gets a single `(missing N args)` marker.
pub const MAX_MARKERS_PER_GAP: u64 = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Argv {
    /// `argc` as printed, if any record had a valid one.
    pub argc: Option<u64>,
    /// The arguments in order, decoded (lossy UTF-8), with markers where pieces are missing.
    pub args: Vec<String>,
    /// Indexes into `args` of marker entries and of arguments with missing chunks.
    pub missing: Vec<usize>,
}

impl Argv {
    /// True when every argument `argc` promises was present and whole.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
    /// The command line with the arguments joined by spaces (as `process.args` joined).
    pub fn command_line(&self) -> String {
        self.args.join(" ")
    }
}

#[derive(Default)]
struct Arg<'a> {
    whole: Option<FieldRef<'a>>,
    /// Printed length from `aN_len`.
    len: Option<u64>,
    chunks: BTreeMap<u64, FieldRef<'a>>,
}

/// Parses `a12` / `a12[3]` / `a12_len` into (arg index, piece).
enum Piece {
    Whole,
    Chunk(u64),
    Len,
}

fn piece(key: &str) -> Option<(u64, Piece)> {
    let rest = key.strip_prefix('a')?.as_bytes();
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let idx = decimal(&rest[..n]);
    let p = match &rest[n..] {
        b"" => Piece::Whole,
        b"_len" => Piece::Len,
        tail => {
            let c = tail.strip_prefix(b"[")?.strip_suffix(b"]")?;
            if c.is_empty() || c.len() > 19 || !c.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Piece::Chunk(decimal(c))
        }
    };
    Some((idx, p))
}

/// The value of at most 19 ASCII digits (which always fit a u64): every argument key has
/// some, and `str::parse` costs more than this.
fn decimal(digits: &[u8]) -> u64 {
    debug_assert!(digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit));
    digits
        .iter()
        .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'))
}

/// True when `bytes` holds a NUL: a word at a time, without a `memchr` call (arguments are
/// mostly short).
fn has_nul(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let zero_in = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    words
        .by_ref()
        .any(|w| zero_in(u64::from_le_bytes(w.try_into().expect("8 bytes"))))
        || words.remainder().contains(&0)
}

/// Appends the bytes an EXECVE value stands for: bare values are hex (anything else is kept
/// as printed), quoted values are literal. Returns the printed length.
fn push_value(f: &FieldRef<'_>, out: &mut Vec<u8>) -> u64 {
    let raw = f.raw.as_bytes();
    if f.kind != FieldKind::Plain || hex::decode_into(raw, out).is_none() {
        out.extend_from_slice(raw);
    }
    raw.len() as u64
}

/// The text of a whole argument: `bytes_to_text` of its bytes, without the byte round trip
/// for a printed value that holds no NUL (the kernel's quoted arguments): it is text already.
fn whole_text(f: &FieldRef<'_>) -> String {
    if f.kind != FieldKind::Plain && !has_nul(f.raw.as_bytes()) {
        return f.raw.to_owned();
    }
    if f.kind == FieldKind::Plain {
        if let Some(text) = hex::decode_text(f.raw.as_bytes()) {
            return text;
        }
    }
    let mut buf = Vec::with_capacity(f.raw.len());
    push_value(f, &mut buf);
    hex::bytes_to_text(buf)
}

/// Assembles the arguments of the EXECVE records among `records` (other types are skipped).
pub fn assemble<'a>(records: impl IntoIterator<Item = &'a Record>) -> Argv {
    let (argc, present) = present(records);
    let present = match present {
        // `a0`, `a1`, ... whole and in order: they are the arguments as they are.
        Present::InOrder(args) => {
            let mut out = Argv {
                argc,
                args,
                ..Argv::default()
            };
            if let Some(argc) = argc {
                let have = out.args.len() as u64;
                fill_gap(&mut out, argc.saturating_sub(have));
            }
            return out;
        }
        Present::Indexed(present) => present,
    };
    let mut out = Argv {
        argc,
        args: Vec::with_capacity(present.len()),
        ..Argv::default()
    };
    let mut next = 0u64;
    for (idx, text, whole) in present {
        fill_gap(&mut out, idx - next);
        next = idx + 1;
        if !whole {
            out.missing.push(out.args.len());
        }
        out.args.push(text);
    }
    if let Some(argc) = argc {
        fill_gap(&mut out, argc.saturating_sub(next));
    }
    out
}

/// The arguments the records carry, by index: (index, decoded text, whole). An argument
/// with missing chunks has `MISSING` where they belong and `whole == false`. Indexes at or
/// past `argc` are left out (they cannot be the kernel's). Returns `argc` too.
pub fn present_args<'a>(
    records: impl IntoIterator<Item = &'a Record>,
) -> (Option<u64>, Vec<(u64, String, bool)>) {
    let (argc, present) = present(records);
    let present = match present {
        Present::InOrder(args) => args
            .into_iter()
            .enumerate()
            .map(|(i, a)| (i as u64, a, true))
            .collect(),
        Present::Indexed(present) => present,
    };
    (argc, present)
}

/// The arguments present: `InOrder` when they are `a0`, `a1`, ... `aN`, whole (the usual
/// shape), else by index as `present_args` gives them.
enum Present {
    InOrder(Vec<String>),
    Indexed(Vec<(u64, String, bool)>),
}

fn present<'a>(records: impl IntoIterator<Item = &'a Record>) -> (Option<u64>, Present) {
    let mut argc = None;
    // The usual shape, `a0`, `a1`, ... whole and in order, is collected in a list; the map
    // takes over at the first field that is not the next whole argument.
    let mut in_order: Vec<FieldRef<'a>> = Vec::with_capacity(16);
    let mut args: BTreeMap<u64, Arg<'a>> = BTreeMap::new();
    let mut ordered = true;
    for rec in records {
        if rec.rtype() != super::tables::AUDIT_EXECVE {
            continue;
        }
        for f in rec.fields() {
            if f.key == "argc" {
                if argc.is_none() {
                    argc = f.raw.parse::<u64>().ok();
                }
                continue;
            }
            let Some((idx, p)) = piece(f.key) else {
                continue;
            };
            if ordered {
                if matches!(p, Piece::Whole) && idx == in_order.len() as u64 {
                    in_order.push(f);
                    continue;
                }
                ordered = false;
                for (i, w) in in_order.drain(..).enumerate() {
                    args.insert(
                        i as u64,
                        Arg {
                            whole: Some(w),
                            ..Arg::default()
                        },
                    );
                }
            }
            let a = args.entry(idx).or_default();
            match p {
                Piece::Whole => {
                    a.whole.get_or_insert(f);
                }
                Piece::Len => a.len = a.len.or(f.raw.parse().ok()),
                Piece::Chunk(c) => {
                    a.chunks.entry(c).or_insert(f);
                }
            }
        }
    }
    let limit = argc.unwrap_or(u64::MAX);
    if ordered {
        let n = in_order
            .len()
            .min(usize::try_from(limit).unwrap_or(usize::MAX));
        let out = in_order[..n].iter().map(whole_text).collect();
        return (argc, Present::InOrder(out));
    }
    let mut out = Vec::with_capacity(args.len());
    for (idx, a) in args.range(..limit) {
        let mut buf = Vec::new();
        let mut whole = true;
        if let Some(f) = &a.whole {
            push_value(f, &mut buf);
        } else {
            // A missing middle chunk is taken to be as long as the longest one present,
            // so a shortfall against `aN_len` beyond that means the tail is missing too.
            let (mut printed, mut longest, mut gaps, mut expect) = (0u64, 0u64, 0u64, 0u64);
            for (&c, f) in &a.chunks {
                if c != expect {
                    whole = false;
                    gaps += 1;
                    buf.extend_from_slice(MISSING.as_bytes());
                }
                let n = push_value(f, &mut buf);
                printed += n;
                longest = longest.max(n);
                expect = c + 1;
            }
            let accounted = printed.saturating_add(gaps.saturating_mul(longest));
            if a.chunks.is_empty() || a.len.is_some_and(|len| accounted < len) {
                whole = false;
                buf.extend_from_slice(MISSING.as_bytes());
            }
        }
        out.push((*idx, hex::bytes_to_text(buf), whole));
    }
    (argc, Present::Indexed(out))
}

#[inline]
fn fill_gap(out: &mut Argv, n: u64) {
    if n == 0 {
        return;
    }
    if n <= MAX_MARKERS_PER_GAP {
        for _ in 0..n {
            out.missing.push(out.args.len());
            out.args.push(MISSING.to_string());
        }
    } else {
        out.missing.push(out.args.len());
        out.args.push(format!("(missing {n} args)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(body: &str) -> Record {
        let line = format!("type=EXECVE msg=audit(1.000:1): {body}");
        Record::parse_log_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn in_order_args_read_like_any_order() {
        let body = r#"argc=4 a0="ls" a1=2D6C2061 a2="" a3=? a3="dup" a7="past-argc""#;
        let shuffled = r#"argc=4 a2="" a0="ls" a3=? a1=2D6C2061 a3="dup" a7="past-argc""#;
        let a = assemble([&rec(body)]);
        assert_eq!(a, assemble([&rec(shuffled)]));
        assert_eq!(a.args, ["ls", "-l a", "", "?"]);
        let split = assemble([&rec(r#"argc=3 a0="a""#), &rec(r#"a1="b" a2="c""#)]);
        assert_eq!(split.args, ["a", "b", "c"]);
        assert!(split.is_complete());
    }

    #[test]
    fn plain_and_hex_args() {
        let a = assemble([&rec(r#"argc=4 a0="ls" a1=2D6C2061 a2="" a3=?"#)]);
        assert_eq!(a.argc, Some(4));
        assert_eq!(a.args, ["ls", "-l a", "", "?"]);
        assert!(a.is_complete());
        assert_eq!(a.command_line(), "ls -l a  ?");
    }

    #[test]
    fn chunked_args_over_records() {
        let r1 = rec(r#"argc=3 a0="sh" a1_len=12 a1[0]=414243"#);
        let r2 = rec(r#"a1[1]=444546 a2="x""#);
        let a = assemble([&r1, &r2]);
        assert_eq!(a.args, ["sh", "ABCDEF", "x"]);
        assert!(a.is_complete());
        // Quoted chunks (a long but safe argument).
        let a = assemble([&rec(r#"argc=1 a0_len=6 a0[0]="abc" a0[1]="def""#)]);
        assert_eq!(a.args, ["abcdef"]);
    }

    #[test]
    fn utf8_split_across_chunks() {
        // "é" = C3 A9 split between chunks.
        let a = assemble([&rec("argc=1 a0_len=4 a0[0]=C3 a0[1]=A9")]);
        assert_eq!(a.args, ["é"]);
    }

    #[test]
    fn missing_pieces_are_marked() {
        let a = assemble([&rec(r#"argc=4 a0="a" a2="c""#)]);
        assert_eq!(a.args, ["a", MISSING, "c", MISSING]);
        assert_eq!(a.missing, [1, 3]);
        let a = assemble([&rec(r#"argc=2 a0="a" a1_len=18 a1[0]=414243 a1[2]=444546"#)]);
        assert_eq!(a.args, ["a", "ABC(missing)DEF"]);
        assert_eq!(a.missing, [1]);
        let a = assemble([&rec(r#"argc=2 a0="a" a1_len=24 a1[0]=414243 a1[2]=444546"#)]);
        assert_eq!(
            a.args,
            ["a", "ABC(missing)DEF(missing)"],
            "the tail is missing too"
        );
        let a = assemble([&rec(r#"argc=1 a0_len=12 a0[0]=414243"#)]);
        assert_eq!(
            (a.args[0].as_str(), a.missing.as_slice()),
            ("ABC(missing)", &[0][..])
        );
        // No argc: what is there, in order.
        let a = assemble([&rec(r#"a1="b" a0="a""#)]);
        assert_eq!(
            (a.argc, a.args.clone()),
            (None, vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn huge_argc_is_bounded() {
        let a = assemble([&rec(r#"argc=99999999 a0="a" a1="b""#)]);
        assert_eq!(a.args.len(), 3);
        assert_eq!(a.args[2], "(missing 99999997 args)");
        let a = assemble([&rec(
            r#"argc=18446744073709551615 a0="a" a99999999999="z" a5[99999999]=41"#,
        )]);
        let m = MISSING;
        assert_eq!(
            a.args[..6],
            ["a", m, m, m, m, "(missing)A"],
            "a5 has no chunk 0"
        );
        assert_eq!(a.args[6], "(missing 99999999993 args)");
        assert_eq!(a.args[7], "z");
        assert_eq!(a.args.len(), 9);
        let a = assemble([&rec(r#"argc=2 a0="a" a1="b" a2="past argc""#)]);
        assert_eq!(a.args, ["a", "b"]);
    }

    #[test]
    fn keys_and_nul_checks() {
        assert!(matches!(piece("a0"), Some((0, Piece::Whole))));
        assert!(matches!(
            piece("a1234567890123456789"),
            Some((1234567890123456789, Piece::Whole))
        ));
        assert!(piece("a12345678901234567890").is_none());
        assert!(matches!(piece("a7_len"), Some((7, Piece::Len))));
        assert!(matches!(
            piece("a7[9999999999999999999]"),
            Some((7, Piece::Chunk(9999999999999999999)))
        ));
        for bad in [
            "a", "b1", "a1x", "a1[]", "a1[x]", "a1[2", "a+1", "a1[+2]", "a1_le",
        ] {
            assert!(piece(bad).is_none(), "{bad}");
        }
        for n in 0..40 {
            let mut v = vec![b'x'; n];
            assert!(!has_nul(&v));
            for i in 0..n {
                v[i] = 0;
                assert!(has_nul(&v), "{n} {i}");
                v[i] = 0x80;
                assert!(!has_nul(&v), "{n} {i}");
                v[i] = b'x';
            }
        }
        // A quoted argument with a NUL (a forged line) goes the byte way: NUL becomes a space.
        let a = assemble([&rec("argc=2 a0=\"a\0b\" a1=\"c\"")]);
        assert_eq!(a.args, ["a b", "c"]);
    }

    #[test]
    fn other_record_types_are_ignored() {
        let s = Record::parse_log_line(b"type=SYSCALL msg=audit(1.000:1): a0=1 a1=2").unwrap();
        assert_eq!(assemble([&s]), Argv::default());
    }
}
