//! Event output: size-based rotation, retention, file modes and filters.

use auditwatch::config::Config;
use auditwatch::event::Event;
use auditwatch::output::ndjson::{EventFilter, NdjsonWriter, Rotation};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aw-rotation-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn event(seq: i64, kind: &str, category: &str, action: &str) -> Event {
    let mut ev = Event::new(1_714_557_600_000 + seq);
    ev.push("@timestamp", "2024-05-01T10:00:00.000Z");
    ev.push("event.kind", kind);
    ev.push("event.category", vec![category.to_owned()]);
    ev.push("event.action", action);
    ev.push("event.module", "auditd");
    ev.push("event.sequence", seq);
    ev.push("process.executable", "/usr/bin/curl");
    ev.push(
        "process.args",
        vec!["curl".to_owned(), "-s\nhttp://example.invalid/x".to_owned()],
    );
    ev
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn seqs(p: &Path) -> Vec<i64> {
    lines(p)
        .iter()
        .map(|v| v["event"]["sequence"].as_i64().unwrap())
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn rotates_by_size_and_keeps_n_files() {
    let dir = temp_dir("size");
    let path = dir.join("auditwatch.ndjson");
    let one = {
        let mut buf = Vec::new();
        auditwatch::output::json::write_event(&event(10, "event", "process", "executed"), &mut buf);
        buf.len() as u64 + 1
    };
    // Four lines fit in a file.
    let rotation = Rotation {
        max_size_bytes: 4 * one + 2,
        keep_files: 3,
        permissions: 0o600,
    };
    let mut w = NdjsonWriter::open_rotating(&path, rotation).unwrap();
    for i in 10..60 {
        w.write_event(&event(i, "event", "process", "executed"))
            .unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.stats().rotations, 12);
    assert_eq!(w.stats().written, 50);

    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "auditwatch.ndjson",
            "auditwatch.ndjson.1",
            "auditwatch.ndjson.2",
            "auditwatch.ndjson.3"
        ]
    );
    // Oldest to newest, the kept files hold the last events, contiguous and in order.
    let mut all = Vec::new();
    for n in [
        "auditwatch.ndjson.3",
        "auditwatch.ndjson.2",
        "auditwatch.ndjson.1",
        "auditwatch.ndjson",
    ] {
        let p = dir.join(n);
        assert!(
            fs::metadata(&p).unwrap().len() <= rotation.max_size_bytes,
            "{n} too big"
        );
        assert_eq!(mode(&p), 0o600, "{n}");
        all.extend(seqs(&p));
    }
    // 50 events, 4 a file: 12 full files rotated out, 2 events in the current one.
    assert_eq!(all, (46..60).collect::<Vec<_>>());
    // The argv newline stayed escaped inside the JSON line.
    assert_eq!(
        lines(&path)[0]["process"]["args"][1],
        "-s\nhttp://example.invalid/x"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reopening_appends_counts_the_existing_size_and_fixes_the_mode() {
    let dir = temp_dir("reopen");
    let path = dir.join("events.ndjson");
    let rotation = Rotation {
        max_size_bytes: 1000,
        keep_files: 2,
        permissions: 0o640,
    };
    fs::write(&path, "x".repeat(950) + "\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut w = NdjsonWriter::open_rotating(&path, rotation).unwrap();
    assert_eq!(mode(&path), 0o640);
    w.write_event(&event(1, "event", "file", "opened-file"))
        .unwrap();
    w.flush().unwrap();
    // The old content did not leave room: it was rotated away, the new line starts a file.
    assert_eq!(w.stats().rotations, 1);
    assert_eq!(
        fs::read_to_string(dir.join("events.ndjson.1"))
            .unwrap()
            .len(),
        951
    );
    assert_eq!(seqs(&path), [1]);
    drop(w);
    let mut w = NdjsonWriter::open_rotating(&path, rotation).unwrap();
    w.write_event(&event(2, "event", "file", "opened-file"))
        .unwrap();
    w.flush().unwrap();
    assert_eq!(w.stats().rotations, 0);
    assert_eq!(seqs(&path), [1, 2]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_zero_keeps_only_the_current_file() {
    let dir = temp_dir("zero");
    let path = dir.join("e.ndjson");
    let mut w = NdjsonWriter::open_rotating(
        &path,
        Rotation {
            max_size_bytes: 300,
            keep_files: 0,
            permissions: 0o600,
        },
    )
    .unwrap();
    for i in 0..20 {
        w.write_event(&event(i, "event", "process", "executed"))
            .unwrap();
    }
    w.flush().unwrap();
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    // A line longer than the limit still goes whole into its own file.
    assert_eq!(seqs(&path), [19]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn filters_from_the_config() {
    let dir = temp_dir("filter");
    let path = dir.join("events.ndjson");
    let cfg = Config::parse(&format!(
        "[output.events]\npath = \"{}\"\nexclude_kinds = [\"metric\"]\nexclude_actions = [\"opened-file\"]\ninclude_categories = [\"process\", \"network\"]\n",
        path.display()
    ))
    .unwrap();
    let mut w = NdjsonWriter::from_config(&cfg.output.events)
        .unwrap()
        .expect("event output on");
    let evs = [
        event(1, "event", "process", "executed"),
        event(2, "metric", "process", "executed"),
        event(3, "event", "file", "changed-file"),
        event(4, "event", "network", "opened-file"),
        event(5, "event", "network", "connected-to"),
        event(6, "state", "process", "executed"),
    ];
    for e in &evs {
        w.write_event(e).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(seqs(&path), [1, 5, 6]);
    assert_eq!(w.stats().filtered, 3);
    assert_eq!(mode(&path), 0o600);
    assert!(NdjsonWriter::from_config(&Config::default().output.events)
        .unwrap()
        .is_none());

    // `--events FILE` with the configured rotation and filters.
    let other = dir.join("cli.ndjson");
    let mut w = NdjsonWriter::open_events(&cfg.output.events, other.to_str().unwrap()).unwrap();
    for e in &evs {
        w.write_event(e).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(seqs(&other), [1, 5, 6]);
    assert_eq!(mode(&other), 0o600);

    let f = EventFilter::default();
    assert!(f.is_empty() && f.keep(&evs[1]));
    fs::remove_dir_all(&dir).unwrap();
}
