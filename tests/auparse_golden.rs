//! Every line of go-libaudit's `auparse/*.log` fixtures parses to the record type, sequence,
//! timestamp, raw message and interpreted key/values (`interp::data`, `interp::tags`) of the
//! upstream parser's `.log.golden` view. Prints the agreement per fixture.

use auditwatch::record::{interp, Record};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const DIR: &str = "../shared/fixtures/go-libaudit/auparse";

/// Values in the fixtures where we deliberately differ from the reference:
/// (fixture, sequence, key, reason); `key` "*" stands for the whole record. None today; the
/// deliberate differences the fixtures do not exercise are in `deliberate_differences`.
const KNOWN_DIFFERENCES: &[(&str, u32, &str, &str)] = &[];

/// `2007-01-28T21:58:13.977Z` → milliseconds since the epoch.
fn rfc3339_ms(s: &str) -> i64 {
    let (date, time) = s
        .trim_end_matches('Z')
        .split_once('T')
        .expect("T in timestamp");
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms
}

fn known(fixture: &str, seq: u32, key: &str) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(f, s, k, _)| *f == fixture && *s == seq && (*k == key || *k == "*"))
        .map(|d| d.3)
}

#[derive(Default)]
struct Tally {
    records: usize,
    records_ok: usize,
    fields: usize,
    fields_ok: usize,
    known: usize,
    failures: Vec<String>,
}

fn check_record(fixture: &str, line: &str, golden: &Value, t: &mut Tally) {
    t.records += 1;
    let parsed = Record::parse_log_line(line.as_bytes());
    if golden.is_null() {
        // The reference could not parse the line: neither may we.
        match parsed {
            Err(_) => t.records_ok += 1,
            Ok(_) => t.failures.push(format!(
                "{fixture}: parsed a line the reference rejects: {line}"
            )),
        }
        return;
    }
    let rec = match parsed {
        Ok(r) => r,
        Err(e) => {
            t.failures.push(format!("{fixture}: {e}: {line}"));
            return;
        }
    };
    let mut ok = true;
    let mut fail = |what: String, t: &mut Tally| {
        ok = false;
        t.failures
            .push(format!("{fixture} seq {}: {what}", rec.seq()));
    };
    let g_type = golden["record_type"].as_str().unwrap();
    if rec.type_name().to_lowercase() != g_type {
        fail(format!("record_type {} != {g_type}", rec.type_name()), t);
    }
    if rec.seq() as u64 != golden["sequence"].as_u64().unwrap() {
        fail(
            format!("sequence {} != {}", rec.seq(), golden["sequence"]),
            t,
        );
    }
    let g_ts = rfc3339_ms(golden["@timestamp"].as_str().unwrap());
    if rec.timestamp_ms() != g_ts {
        fail(format!("timestamp {} != {g_ts}", rec.timestamp_ms()), t);
    }
    let g_raw = golden["raw_msg"].as_str().unwrap();
    if !(g_raw.starts_with("audit(") && g_raw.ends_with(rec.raw_msg())) {
        fail(
            format!("raw_msg {:?} is not the end of {g_raw:?}", rec.raw_msg()),
            t,
        );
    }
    // The golden files do not record tags; where one does, they must agree.
    if let Some(g) = golden.get("tags").and_then(Value::as_array) {
        let g_tags: Vec<&str> = g.iter().map(|v| v.as_str().unwrap()).collect();
        if interp::tags(&rec) != g_tags {
            fail(format!("tags {:?} != {g_tags:?}", interp::tags(&rec)), t);
        }
    }
    let ours = interp::data(&rec);
    let theirs: BTreeMap<&str, &str> = golden["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let mut keys: Vec<&str> = theirs.keys().copied().collect();
    keys.extend(
        ours.keys()
            .map(|k| k.as_ref())
            .filter(|k| !theirs.contains_key(k)),
    );
    for key in keys {
        t.fields += 1;
        let (a, b) = (ours.get(key).map(|v| v.as_ref()), theirs.get(key).copied());
        if a == b {
            t.fields_ok += 1;
        } else if let Some(reason) = known(fixture, rec.seq(), key) {
            t.known += 1;
            println!(
                "  known difference {fixture} seq {} {key}: ours {a:?}, reference {b:?} ({reason})",
                rec.seq()
            );
        } else {
            fail(format!("{key}: ours {a:?}, reference {b:?}"), t);
        }
    }
    if ok {
        t.records_ok += 1;
    }
}

#[test]
fn auparse_golden_agreement() {
    let mut fixtures: Vec<_> = std::fs::read_dir(DIR)
        .expect("fixtures under ../shared/fixtures (see PREAMBLE)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 6,
        "expected the 6 auparse fixtures, found {}",
        fixtures.len()
    );
    let mut total = Tally::default();
    for log in &fixtures {
        let name = log.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(log).unwrap();
        let golden_path = Path::new(DIR).join(format!("{name}.golden"));
        let golden: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(golden_path).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            golden.len(),
            "{name}: one golden entry per line"
        );
        let mut t = Tally::default();
        for (line, g) in lines.iter().zip(&golden) {
            check_record(&name, line, g, &mut t);
        }
        println!(
            "{name}: records {}/{}, fields {}/{} (+{} known differences)",
            t.records_ok, t.records, t.fields_ok, t.fields, t.known
        );
        total.records += t.records;
        total.records_ok += t.records_ok;
        total.fields += t.fields;
        total.fields_ok += t.fields_ok;
        total.known += t.known;
        total.failures.extend(t.failures);
    }
    println!(
        "total: records {}/{}, fields {}/{} (+{} known differences)",
        total.records_ok, total.records, total.fields_ok, total.fields, total.known
    );
    for f in &total.failures {
        println!("MISMATCH {f}");
    }
    assert!(total.records >= 80, "all fixture lines were checked");
    assert!(
        total.failures.is_empty(),
        "{} mismatches (see output)",
        total.failures.len()
    );
}

/// Where the reference is wrong on input its fixtures do not hold, we differ on purpose.
#[test]
fn deliberate_differences() {
    let data = |line: &str| {
        let r = Record::parse_log_line(line.as_bytes()).unwrap();
        interp::data(&r)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let d: BTreeMap<String, String> =
        data("type=SOCKADDR msg=audit(1.000:1): saddr=01000040646F636B6572");
    // Reference: path "" (it stops at the abstract name's leading NUL).
    assert_eq!(d["path"], "@@docker", "abstract unix socket keeps its name");
    let d = data("type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 comm=6D7920636D64");
    // Reference: comm left hex in SYSCALL records (it decodes only exe there).
    assert_eq!(d["comm"], "my cmd", "hex-encoded comm is decoded");
    let d = data("type=EXECVE msg=audit(1.000:1): argc=1 a0_len=4 a0[0]=4142 a0[1]=4344");
    // Reference: fails the record ("failed to find arg a0") and keeps no data.
    assert_eq!(d["a0"], "ABCD", "chunked argument reassembled");
    assert!(!d.contains_key("a0[0]") && !d.contains_key("a0_len"));
}

/// Every raw record of the aucoalesce fixtures parses, with a known type and its fields.
#[test]
fn aucoalesce_fixture_lines_parse() {
    let dir = Path::new(DIR).parent().unwrap().join("aucoalesce");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let line = line.trim_start();
            if !line.starts_with("type=") {
                continue;
            }
            let r = Record::parse_log_line(line.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
            assert!(!r.type_name().starts_with("UNKNOWN"), "{line}");
            let body = r.raw_msg();
            let eq = body.bytes().filter(|&b| b == b'=').count();
            assert!(eq == 0 || r.fields().count() > 0, "fields found in {line}");
            n += 1;
        }
    }
    assert!(n >= 117, "only {n} aucoalesce lines");
}

/// The rule keys the golden files leave out, checked directly.
#[test]
fn rule_keys_of_fixture_lines() {
    let text = std::fs::read_to_string(Path::new(DIR).join("audit-rhel7.log")).unwrap();
    let tags_of = |seq: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(":{seq}):")))
            .unwrap();
        interp::tags(&Record::parse_log_line(line.as_bytes()).unwrap())
    };
    assert_eq!(tags_of("1095517"), ["kill_signals"]);
    assert_eq!(tags_of("1209"), ["pam"]);
}

#[test]
fn timestamp_helper() {
    assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), 0);
    assert_eq!(rfc3339_ms("2007-01-28T21:58:13.977Z"), 1_170_021_493_977);
    assert_eq!(rfc3339_ms("2007-01-28T22:00:01.34Z"), 1_170_021_601_340);
}
