//! EQL throughput: the EQL rules of the detection-rules sample (event queries and sequences)
//! over synthetic Auditbeat-style ECS events, one shared field index per event, as the engine
//! runs them. Prints events/s for all rules on every event and with the category skip
//! (`Query::categories`). Times are this thread's CPU time. Run: `cargo bench --bench eql`
//! (`EQL_BENCH_PER_RULE=1` also lists the slowest rules).

use auditwatch::detect::eql::{self, FieldIndex, Limits, Match, Runtime};
use auditwatch::event::{Event, Value};
use std::sync::Arc;

/// This thread's CPU time: the machine is shared, so wall time would mostly measure others.
#[derive(Clone, Copy)]
struct Instant(f64);
impl Instant {
    fn now() -> Instant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid pointer to a timespec; CLOCK_THREAD_CPUTIME_ID is always available on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Instant(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64((Instant::now().0 - self.0).max(1e-9))
    }
}

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
    Value::List(xs.iter().map(|x| Value::from(x.to_string())).collect())
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
            Value::from(auditwatch::event::format_rfc3339_ms(e.timestamp_ms)),
        );
        e.push("event.module", Value::Str("auditd".into()));
        e.push("event.kind", Value::Str("event".into()));
        e.push("host.os.type", Value::Str("linux".into()));
        e.push("host.name", Value::Str("web-1".into()));
        e.push("agent.type", Value::Str("auditbeat".into()));
        e.push(
            "user.id",
            Value::from(if user == "root" {
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
        e.push("process.executable", Value::from(format!("{dir}/{name}")));
        e.push("process.parent.name", Value::Str(parent.into()));
        e.push(
            "process.parent.executable",
            Value::from(format!("/usr/bin/{parent}")),
        );
        e.push(
            "process.working_directory",
            Value::Str(rng.pick(&dirs).into()),
        );
        e.push(
            "auditd.session",
            Value::from(format!("{}", rng.next() % 50)),
        );
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
                    Value::from(format!("{name} {arg} x")),
                );
                e.push("process.title", Value::from(format!("{name} {arg}")));
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
                    Value::from(format!("10.0.{}.{}", rng.next() % 255, rng.next() % 255)),
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

/// Fresh events in batches: a pipeline runs the rules on an event right after building it, so
/// each batch is cloned from templates (new timestamps, fresh allocations, warm in cache) and
/// only the rule work is timed.
struct Source {
    templates: Vec<Arc<Event>>,
    next: usize,
}

const BATCH: usize = 500;

impl Source {
    fn batch(&mut self) -> Vec<Arc<Event>> {
        (0..BATCH)
            .map(|_| {
                let t = &self.templates[self.next % self.templates.len()];
                let mut e = (**t).clone();
                e.timestamp_ms = 1_700_000_000_000 + self.next as i64;
                e.arrival = self.next as u64;
                self.next += 1;
                Arc::new(e)
            })
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    All,
    CategorySkip,
    RuleIndex,
}

fn run(rules: &[Arc<eql::Query>], src: &mut Source, n: usize, mode: Mode) -> (f64, usize) {
    let mut rts: Vec<(Runtime, Option<Vec<String>>)> = rules
        .iter()
        .map(|q| {
            let cats = q
                .categories()
                .map(|c| c.into_iter().map(str::to_owned).collect());
            (Runtime::new(q.clone(), Limits::default()), cats)
        })
        .collect();
    let mut rule_index = eql::RuleIndex::new();
    for q in rules {
        rule_index.add_query(q);
    }
    let mut candidates = vec![];
    let mut index = FieldIndex::new();
    let mut out: Vec<Match> = vec![];
    let mut alerts = 0;
    let mut busy = 0.0;
    let mut evaluated = 0usize;
    for _ in 0..n.div_ceil(BATCH) {
        let events = src.batch();
        let start = Instant::now();
        for ev in &events {
            let ix = index.index(ev);
            match mode {
                Mode::RuleIndex => {
                    rule_index.candidates(&ix, &mut candidates);
                    evaluated += candidates.len();
                    for &i in &candidates {
                        rts[i]
                            .0
                            .on_indexed_matches(&ix, &eql::EventRef::ready(ev), &mut out);
                    }
                }
                Mode::All | Mode::CategorySkip => {
                    let cats = ev.get("event.category");
                    for (rt, want) in rts.iter_mut() {
                        if mode == Mode::CategorySkip && !category_hit(want.as_deref(), cats) {
                            continue;
                        }
                        rt.on_indexed_matches(&ix, &eql::EventRef::ready(ev), &mut out);
                    }
                }
            }
            alerts += out.len();
            out.clear();
        }
        busy += start.elapsed().as_secs_f64();
    }
    if mode == Mode::RuleIndex {
        println!(
            "  rule index: {:.1} candidate rules per event",
            evaluated as f64 / (n.div_ceil(BATCH) * BATCH) as f64
        );
    }
    ((n.div_ceil(BATCH) * BATCH) as f64 / busy, alerts)
}

fn category_hit(want: Option<&[String]>, have: Option<&Value>) -> bool {
    match (want, have) {
        (Some(want), Some(Value::List(have))) => have
            .iter()
            .any(|h| h.as_str().is_some_and(|h| want.iter().any(|w| w == h))),
        _ => true,
    }
}

fn main() {
    let rules = load_rules();
    let sequences = rules
        .iter()
        .filter(|q| q.kind() == eql::QueryKind::Sequence)
        .count();
    let mut src = Source {
        templates: synth_events(5_000),
        next: 0,
    };
    const N: usize = 100_000;
    println!(
        "{} EQL rules ({sequences} sequences), {N} events",
        rules.len()
    );
    let mut rule_index = eql::RuleIndex::new();
    for q in &rules {
        rule_index.add_query(q);
    }
    println!(
        "rule index: {} of {} rules unanchored",
        rule_index.unanchored(),
        rule_index.len()
    );
    // Warm-up (interns fields, sizes buffers).
    run(&rules, &mut src, 5_000, Mode::All);
    let only_index = std::env::var_os("EQL_BENCH_ONLY_INDEX").is_some();
    for (label, mode) in [
        ("every rule on every event", Mode::All),
        ("with category skip", Mode::CategorySkip),
        ("with RuleIndex", Mode::RuleIndex),
    ]
    .into_iter()
    .filter(|(_, m)| !only_index || *m == Mode::RuleIndex)
    {
        let (rate, alerts) = run(&rules, &mut src, N, mode);
        println!(
            "{label}: {rate:.0} events/s ({alerts} alerts), {:.2}x the 500k events/s target",
            rate / 500_000.0
        );
    }
    if std::env::var_os("EQL_BENCH_PER_RULE").is_some() {
        per_rule(&rules, &src.batch());
    }
    // Index build alone: the per-event cost shared by all rules.
    let mut index = FieldIndex::new();
    let mut busy = 0.0;
    let mut fields = 0usize;
    for _ in 0..20 {
        let events = src.batch();
        let start = Instant::now();
        for ev in &events {
            fields += index.index(ev).event().fields.len();
        }
        busy += start.elapsed().as_secs_f64();
    }
    println!(
        "field index build: {:.0} ns/event ({} fields/event)",
        busy / (20 * BATCH) as f64 * 1e9,
        fields / (20 * BATCH)
    );
}

/// The slowest rules, each timed alone (set `EQL_BENCH_PER_RULE=1`).
fn per_rule(rules: &[Arc<eql::Query>], events: &[Arc<Event>]) {
    let mut index = FieldIndex::new();
    let mut times = vec![];
    for (i, q) in rules.iter().enumerate() {
        let mut rt = Runtime::new(q.clone(), Limits::default());
        let mut out = vec![];
        let start = Instant::now();
        for ev in events {
            let ix = index.index(ev);
            rt.on_indexed_matches(&ix, &eql::EventRef::ready(ev), &mut out);
            out.clear();
        }
        times.push((start.elapsed().as_secs_f64() / events.len() as f64 * 1e9, i));
    }
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ns, i) in times.iter().take(8) {
        println!("{ns:8.0} ns/event  rule #{i} {:?}", rules[*i].kind());
    }
    let median = times[times.len() / 2].0;
    println!("median {median:.0} ns/event per rule (index build included)");
}
