//! Robustness of the record parser on hostile input: arbitrary bytes, mutated real lines,
//! token soups, the nasty-line corpus under `tests/corpus/record/`, and megabyte lines.
//! Nothing may panic; every accessor and interpretation helper is exercised on what parses.

use auditwatch::record::{execve, interp, proctitle, sockaddr, tables, Record};
use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

const CORPUS: &str = "tests/corpus/record";
const FIXTURES: &str = "../shared/fixtures/go-libaudit";

/// Touches everything a consumer may call on a record.
fn exercise(r: &Record) {
    let _ = (
        r.rtype(),
        r.type_name(),
        r.seq(),
        r.timestamp_ms(),
        r.node(),
        r.raw_msg(),
    );
    for f in r.fields().chain(r.enriched_fields()) {
        assert!(!f.key.is_empty(), "empty key in {:?}", r.raw_msg());
        let _ = f.decoded();
    }
    let _ = interp::data(r);
    let _ = interp::tags(r);
    let argv = execve::assemble([r]);
    // Memory follows the fields present, not the argc claimed: each gap between them gets
    // at most MAX_MARKERS_PER_GAP markers.
    let n = r.fields().count();
    let bound = n + (n + 1) * execve::MAX_MARKERS_PER_GAP as usize;
    assert!(
        argv.args.len() <= bound,
        "argv of {} for {n} fields",
        argv.args.len()
    );
    if let Some(p) = r.get("proctitle") {
        let _ = proctitle::parse(&p);
    }
    if let Some(s) = r.get("saddr") {
        let _ = sockaddr::parse(s.raw);
    }
    if let (Some(a), Some(n)) = (r.get("arch"), r.get("syscall")) {
        let _ = interp::syscall(a.raw, n.raw);
    }
    if let Some(e) = r.get("exit") {
        let _ = interp::exit_errno(e.raw);
    }
    if let Some(m) = r.get("mode") {
        let _ = interp::file_mode(m.raw);
    }
}

/// Parses as a log line and as a netlink payload; the two must agree on the kernel fields.
fn check(bytes: &[u8]) -> bool {
    let log = Record::parse_log_line(bytes);
    if let Ok(r) = &log {
        exercise(r);
    }
    let payload = match bytes.windows(4).position(|w| w == b"msg=") {
        Some(i) => &bytes[i + 4..],
        None => bytes,
    };
    let nl = Record::from_netlink(1300, payload);
    if let Ok(r) = &nl {
        exercise(r);
    }
    if let (Ok(a), Ok(b)) = (&log, &nl) {
        if !payload.contains(&0x1d) {
            let fa: Vec<_> = a.fields().map(|f| (f.key, f.raw)).collect();
            let fb: Vec<_> = b.fields().map(|f| (f.key, f.raw)).collect();
            assert_eq!(fa, fb, "log line and netlink payload parse alike");
            assert_eq!((a.seq(), a.timestamp_ms()), (b.seq(), b.timestamp_ms()));
        }
    }
    log.is_ok()
}

fn fixture_lines() -> Vec<Vec<u8>> {
    static LINES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    LINES.get_or_init(read_fixture_lines).clone()
}

fn read_fixture_lines() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for sub in ["auparse", "aucoalesce"] {
        let dir = Path::new(FIXTURES).join(sub);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths {
            let name = p.to_string_lossy();
            if !(name.ends_with(".log") || name.ends_with(".yaml")) {
                continue;
            }
            for l in std::fs::read_to_string(&p).unwrap().lines() {
                let l = l.trim_start();
                if l.starts_with("type=") {
                    lines.push(l.as_bytes().to_vec());
                }
            }
        }
    }
    assert!(lines.len() > 150, "fixture lines found: {}", lines.len());
    lines
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<_> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "line"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn corpus_replays() {
    let cases = corpus();
    assert!(cases.len() >= 50, "corpus has {} cases", cases.len());
    for (name, bytes) in &cases {
        let ok = check(bytes);
        if name.starts_with("ok-") {
            assert!(
                ok,
                "{name} must parse: {:?}",
                Record::parse_log_line(bytes).err()
            );
        } else {
            assert!(
                name.starts_with("err-"),
                "{name}: corpus names start with ok- or err-"
            );
            let e = Record::parse_log_line(bytes).expect_err(name);
            assert!(!e.message.is_empty(), "{name}: error has a message");
        }
    }
}

/// `bytes` with its body (after the header) repeated to at least `size` bytes.
fn inflate(bytes: &[u8], size: usize) -> Option<Vec<u8>> {
    let head = bytes
        .iter()
        .position(|&b| b == b')')
        .map_or(bytes.len(), |i| i + 2);
    let (hdr, body) = bytes.split_at(head.min(bytes.len()));
    if body.is_empty() {
        return None;
    }
    let mut big = hdr.to_vec();
    while big.len() < size {
        big.extend_from_slice(body);
        big.push(b' ');
    }
    Some(big)
}

/// Every corpus case and some fixture lines, their bodies repeated into long lines (a few
/// into megabyte ones), parse (or fail) as the short form does, in a time only a linear parser
/// meets comfortably (a quadratic scan of a megabyte takes minutes).
#[test]
fn megabyte_lines() {
    let mut inputs: Vec<(Vec<u8>, usize)> =
        corpus().into_iter().map(|(_, b)| (b, 128 << 10)).collect();
    inputs.extend(
        fixture_lines()
            .into_iter()
            .step_by(25)
            .map(|l| (l, 128 << 10)),
    );
    for name in [
        "ok-nested-quotes",
        "ok-avc-braces",
        "ok-arg-index-huge",
        "ok-parens",
    ] {
        let bytes = std::fs::read(Path::new(CORPUS).join(format!("{name}.line"))).unwrap();
        inputs.push((bytes, 1 << 20));
    }
    for (bytes, size) in inputs {
        let Some(big) = inflate(&bytes, size) else {
            continue;
        };
        let small_ok = Record::parse_log_line(&bytes).is_ok();
        let t = Instant::now();
        let big_parsed = Record::parse_log_line(&big);
        if let Ok(r) = &big_parsed {
            exercise(r);
        }
        let what = String::from_utf8_lossy(&bytes);
        assert!(t.elapsed() < Duration::from_secs(20), "slow on {what:?}");
        assert_eq!(small_ok, big_parsed.is_ok(), "{what:?}");
    }
}

/// Patterns that would make a naive scanner quadratic, timed at two sizes: 64 times the
/// input must not take anywhere near 4096 times as long (min of 2 runs against noise; the
/// bound leaves room for cache effects, which cost a debug build up to 3x on large lines).
#[test]
fn adversarial_patterns_scale_linearly() {
    let patterns: [&[u8]; 8] = [
        b"a",
        b"\"",
        b"'",
        b"msg='",
        b"avc: x { ",
        b"(",
        b"a1[",
        b"a=\"b\" ",
    ];
    let time = |input: &[u8]| {
        (0..2)
            .map(|_| {
                let t = Instant::now();
                let _ = check(input);
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    for p in patterns {
        let build = |n: usize| {
            let mut v = b"type=USER msg=audit(1.000:1): ".to_vec();
            while v.len() < n {
                v.extend_from_slice(p);
            }
            v
        };
        let small = time(&build(16 << 10)).max(Duration::from_micros(100));
        let large = time(&build(1 << 20));
        assert!(
            large < small * 1000,
            "pattern {:?}: 16K took {small:?}, 1M took {large:?}",
            String::from_utf8_lossy(p)
        );
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Interesting pieces of audit text for token soups.
const TOKENS: &[&str] = &[
    " ",
    "  ",
    "=",
    "\"",
    "'",
    "msg='",
    "a0=",
    "a1[0]=",
    "a1_len=",
    "argc=",
    "argc=99999999 ",
    "key=",
    "saddr=",
    "proctitle=",
    "name=",
    "(null)",
    "?",
    "?,",
    "avc:",
    " denied ",
    "{",
    "}",
    " for ",
    "(",
    ")",
    "old ",
    "new ",
    "auid=",
    "\x1d",
    "41",
    "0A",
    "FF",
    "00",
    "zz",
    "0200",
    "01000061",
    "\u{fffd}",
    "é",
    "\0",
    "\n",
    "type=",
    "audit(",
    "1.000:1): ",
    "subj=a:b:c:d:e:f",
    "success=yes",
    "res=",
    "exit=-2",
    "arch=c000003e",
    "syscall=59",
    "mode=0100644",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(
            &[
                "type=SYSCALL",
                "type=EXECVE",
                "type=AVC",
                "type=SOCKADDR",
                "type=PROCTITLE",
                "type=USER_LOGIN",
                "type=LOGIN",
                "type=UNKNOWN[1399]",
                "node=n type=PATH",
            ][..],
        ),
        prop::collection::vec(prop::sample::select(TOKENS), 0..60),
    )
        .prop_map(|(t, toks)| {
            let mut v = format!("{t} msg=audit(1700000000.123:42): ").into_bytes();
            for tok in toks {
                v.extend_from_slice(tok.as_bytes());
            }
            v
        })
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Flip(usize, u8),
    Duplicate(usize, usize),
}

fn mutate(mut line: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let n = line.len().max(1);
        match m {
            Mutation::Truncate(i) => line.truncate(i % n),
            Mutation::Insert(i, b) => {
                let at = i % n.min(line.len() + 1).max(1);
                line.splice(at.min(line.len())..at.min(line.len()), b.iter().copied());
            }
            Mutation::Delete(i, len) => {
                let a = (i % n).min(line.len());
                let b = (a + len).min(line.len());
                line.drain(a..b);
            }
            Mutation::Flip(i, x) => {
                if !line.is_empty() {
                    let at = i % line.len();
                    line[at] ^= x;
                }
            }
            Mutation::Duplicate(i, len) => {
                let a = (i % n).min(line.len());
                let b = (a + len).min(line.len());
                let piece = line[a..b].to_vec();
                line.splice(b..b, piece);
            }
        }
    }
    line
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1..20usize).prop_map(|(i, l)| Mutation::Delete(i, l)),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), 1..40usize).prop_map(|(i, l)| Mutation::Duplicate(i, l)),
    ]
}

proptest! {
    // PROPTEST_CASES=20000 for a longer hunt.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
        let mut with_header = b"type=SYSCALL msg=audit(1.000:1): ".to_vec();
        with_header.extend_from_slice(&bytes);
        prop_assert!(check(&with_header), "a valid header always parses");
    }

    #[test]
    fn token_soups(line in soup()) {
        prop_assert!(check(&line));
    }

    #[test]
    fn mutated_fixture_lines(idx in any::<prop::sample::Index>(), muts in prop::collection::vec(mutation(), 1..6)) {
        let lines = fixture_lines();
        let line = lines[idx.index(lines.len())].clone();
        check(&mutate(line, &muts));
    }

    #[test]
    fn saddr_and_proctitle_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = sockaddr::parse_bytes(&bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        prop_assert_eq!(sockaddr::parse(&hex), sockaddr::parse_bytes(&bytes));
        let p = proctitle::from_bytes(&bytes);
        prop_assert!(p.argv.len() <= bytes.len());
    }

    #[test]
    fn header_round_trip(secs in 0u64..=u32::MAX as u64 * 4, ms in 0u32..1000, seq in any::<u32>(), t in 1000u16..3000) {
        let name = tables::msg_type_name(t).map_or_else(|| format!("UNKNOWN[{t}]"), str::to_string);
        let line = format!("type={name} msg=audit({secs}.{ms:03}:{seq}): a=1");
        let r = Record::parse_log_line(line.as_bytes()).unwrap();
        prop_assert_eq!((r.rtype(), r.secs(), r.millis(), r.seq()), (t, secs, ms, seq));
        prop_assert_eq!(r.type_name(), name.as_str());
    }
}
