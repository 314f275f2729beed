//! EQL throughput: the EQL rules of the detection-rules sample (event queries and sequences)
//! over synthetic Auditbeat-style ECS events, one shared field index per event, as the engine
//! runs them. Prints events/s for all rules on every event and with the category skip
//! (`Query::categories`). Run: `cargo bench --bench eql`.

use auditwatch::detect::eql::{self, FieldIndex, Limits, Match, Runtime};
use auditwatch::event::{Event, Value};
use std::sync::Arc;
use std::time::Instant;

fn load_rules() -> Vec<Arc<eql::Query>> {
    let dir = "../shared/fixtures/detection-rules/rules";
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("rules dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = vec![];
    for path in files {
        let text = std::fs::read_to_string(&path).expect("rule");
        let doc: toml::Value = toml::from_str(&text).expect("rule toml");
        let rule = &doc["rule"];
        if rule.get("language").and_then(|l| l.as_str()) == Some("eql") {
            if let Ok(q) = eql::parse(rule["query"].as_str().unwrap_or_default()) {
                out.push(Arc::new(q));
            }
        }
    }
    out
}

/// Cheap deterministic PRNG (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn list(xs: &[&str]) -> Value {
    Value::List(xs.iter().map(|x| Value::Str(x.to_string())).collect())
}

fn synth_events(n: usize) -> Vec<Arc<Event>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = [
        "bash", "sh", "python3", "curl", "sshd", "cron", "systemd", "ls", "cat", "grep", "sudo",
        "nc", "wget",
    ];
    let dirs = [
        "/usr/bin",
        "/bin",
        "/usr/sbin",
        "/tmp",
        "/home/alice",
        "/dev/shm",
    ];
    let users = ["root", "alice", "www-data", "postgres"];
    let files = [
        "/etc/passwd",
        "/etc/shadow",
        "/var/log/syslog",
        "/tmp/x.sh",
        "/home/alice/.bashrc",
        "/etc/cron.d/job",
    ];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = Event::new(1_700_000_000_000 + i as i64);
        e.arrival = i as u64;
        let name = rng.pick(&names);
        let parent = rng.pick(&names);
        let dir = rng.pick(&dirs);
        let user = rng.pick(&users);
        let kind = rng.next() % 10;
        e.push(
            "@timestamp",
            Value::Str(auditwatch::event::format_rfc3339_ms(e.timestamp_ms)),
        );
        e.push("event.module", Value::Str("auditd".into()));
        e.push("event.kind", Value::Str("event".into()));
        e.push("host.os.type", Value::Str("linux".into()));
        e.push("host.name", Value::Str("web-1".into()));
        e.push("agent.type", Value::Str("auditbeat".into()));
        e.push(
            "user.id",
            Value::Str(if user == "root" {
                "0".into()
            } else {
                format!("{}", 1000 + kind)
            }),
        );
        e.push("user.name", Value::Str(user.into()));
        e.push(
            "process.pid",
            Value::Int(1000 + (rng.next() % 30_000) as i64),
        );
        e.push(
            "process.parent.pid",
            Value::Int(1 + (rng.next() % 30_000) as i64),
        );
        e.push("process.name", Value::Str(name.into()));
        e.push("process.executable", Value::Str(format!("{dir}/{name}")));
        e.push("process.parent.name", Value::Str(parent.into()));
        e.push(
            "process.parent.executable",
            Value::Str(format!("/usr/bin/{parent}")),
        );
        e.push(
            "process.working_directory",
            Value::Str(rng.pick(&dirs).into()),
        );
        e.push("auditd.session", Value::Str(format!("{}", rng.next() % 50)));
        e.push("auditd.result", Value::Str("success".into()));
        match kind {
            0..=5 => {
                let arg = rng.pick(&[
                    "-c",
                    "--help",
                    "-la",
                    "http://example.com/x.sh",
                    "/etc/passwd",
                    "-e",
                ]);
                e.push("event.category", list(&["process"]));
                e.push("event.type", list(&["start"]));
                e.push("event.action", Value::Str("executed".into()));
                e.push("process.args", list(&[name, arg, "x"]));
                e.push("process.args_count", Value::Int(3));
                e.push(
                    "process.command_line",
                    Value::Str(format!("{name} {arg} x")),
                );
                e.push("process.title", Value::Str(format!("{name} {arg}")));
            }
            6 | 7 => {
                let f = rng.pick(&files);
                e.push("event.category", list(&["file"]));
                e.push("event.type", list(&["change"]));
                e.push(
                    "event.action",
                    Value::Str(
                        rng.pick(&["opened-file", "changed-file-attributes-of", "renamed"])
                            .into(),
                    ),
                );
                e.push("file.path", Value::Str(f.into()));
                e.push(
                    "file.name",
                    Value::Str(f.rsplit('/').next().unwrap_or(f).into()),
                );
                e.push("file.extension", Value::Str("sh".into()));
            }
            8 => {
                e.push("event.category", list(&["network"]));
                e.push("event.type", list(&["connection", "start"]));
                e.push("event.action", Value::Str("connected-to".into()));
                e.push(
                    "destination.ip",
                    Value::Str(format!("10.0.{}.{}", rng.next() % 255, rng.next() % 255)),
                );
                e.push(
                    "destination.port",
                    Value::Int([22, 80, 443, 4444][(rng.next() % 4) as usize]),
                );
                e.push("source.ip", Value::Str("192.168.1.10".into()));
                e.push("network.direction", Value::Str("egress".into()));
            }
            _ => {
                e.push("event.category", list(&["authentication"]));
                e.push("event.type", list(&["start", "authentication_success"]));
                e.push("event.action", Value::Str("logged-in".into()));
                e.push("event.outcome", Value::Str("success".into()));
            }
        }
        out.push(Arc::new(e));
    }
    out
}

fn run(rules: &[Arc<eql::Query>], events: &[Arc<Event>], skip_by_category: bool) -> (f64, usize) {
    let mut rts: Vec<(Runtime, Option<Vec<String>>)> = rules
        .iter()
        .map(|q| {
            let cats = q
                .categories()
                .map(|c| c.into_iter().map(str::to_owned).collect());
            (Runtime::new(q.clone(), Limits::default()), cats)
        })
        .collect();
    let mut index = FieldIndex::new();
    let mut out: Vec<Match> = vec![];
    let mut alerts = 0;
    let start = Instant::now();
    for ev in events {
        let ix = index.index(ev);
        let cats = ev.get("event.category");
        for (rt, want) in rts.iter_mut() {
            if skip_by_category {
                if let (Some(want), Some(Value::List(have))) = (want.as_ref(), cats) {
                    if !have
                        .iter()
                        .any(|h| h.as_str().is_some_and(|h| want.iter().any(|w| w == h)))
                    {
                        continue;
                    }
                }
            }
            rt.on_indexed_matches(&ix, ev, &mut out);
        }
        alerts += out.len();
        out.clear();
    }
    (events.len() as f64 / start.elapsed().as_secs_f64(), alerts)
}

fn main() {
    let rules = load_rules();
    let sequences = rules
        .iter()
        .filter(|q| q.kind() == eql::QueryKind::Sequence)
        .count();
    let events = synth_events(200_000);
    println!(
        "{} EQL rules ({sequences} sequences), {} events",
        rules.len(),
        events.len()
    );
    // Warm-up (interns fields, sizes buffers).
    run(&rules, &events[..10_000], false);
    for (label, skip) in [
        ("every rule on every event", false),
        ("with category skip", true),
    ] {
        let (rate, alerts) = run(&rules, &events, skip);
        println!(
            "{label}: {:.0} events/s ({alerts} alerts), {:.2}x the 500k events/s target",
            rate,
            rate / 500_000.0
        );
    }
    // Index build alone: the per-event cost shared by all rules.
    let mut index = FieldIndex::new();
    let start = Instant::now();
    let mut n = 0usize;
    for ev in &events {
        n += index.index(ev).event().fields.len();
    }
    let per = start.elapsed().as_secs_f64() / events.len() as f64;
    println!("field index build: {:.0} ns/event ({n} fields)", per * 1e9);
}
