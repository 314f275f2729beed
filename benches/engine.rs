//! Events per second through the rule engine, one core: with the bundled detections, and with
//! every loadable rule of the public corpus at once (target ≥ 500,000 events/s).
//!
//! The events are synthetic Auditbeat-shaped ECS documents of a busy server: program
//! executions (with parents and argv), outbound connections, file opens for writing, renames
//! and creations, in a realistic mix. Each pass builds a fresh engine (new_terms in memory) and
//! feeds the events in time order, in batches of 64 through `Engine::on_batch` as the daemon's
//! worker does: first as the daemon does (a front thread allocates them and
//! sends them in batches over a bounded channel, the engine's thread is timed), then from an
//! array built beforehand (every event read from main memory, in allocation order). With every
//! corpus rule the first is the slower on the development VM. `AW_FEED=front|prebuilt` runs one
//! of them.
//!
//! `cargo bench --bench engine [-- EVENTS]`

use auditwatch::detect::engine::{Engine, EngineConfig};
use auditwatch::detect::rule::{load_bundled, load_paths, Rule};
use auditwatch::event::{Event, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

// The same allocator as the binary, so the figures are the sensor's.
#[global_allocator]
static GLOBAL: auditwatch::alloc::Alloc = auditwatch::alloc::Alloc;

const T0: i64 = 1_764_560_000_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PROGRAMS: &[&str] = &[
    "bash",
    "sh",
    "python3",
    "curl",
    "wget",
    "ls",
    "cat",
    "grep",
    "sed",
    "awk",
    "systemctl",
    "sshd",
    "cron",
    "sudo",
    "id",
    "ps",
    "git",
    "make",
    "gcc",
    "ld",
    "tar",
    "gzip",
    "nginx",
    "php-fpm",
    "node",
    "java",
    "dpkg",
    "apt",
    "find",
    "xargs",
    "head",
    "tail",
    "chmod",
    "chown",
    "mv",
    "cp",
    "rm",
    "mkdir",
    "ssh",
    "scp",
    "rsync",
    "openssl",
    "perl",
    "nc",
    "socat",
    "crontab",
];
const PARENTS: &[&str] = &[
    "bash",
    "sshd",
    "systemd",
    "cron",
    "sudo",
    "python3",
    "node",
    "make",
    "containerd-shim",
    "nginx",
];
const FILES: &[&str] = &[
    "/var/log/nginx/access.log",
    "/tmp/tmp.X1y2",
    "/home/deploy/app/config.yml",
    "/etc/passwd",
    "/var/lib/dpkg/status",
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/etc/cron.d/backup",
    "/root/.bash_history",
    "/dev/shm/sem.1",
    "/var/tmp/build.o",
    "/usr/lib/python3/dist-packages/x.py",
    "/etc/ld.so.preload",
    "/home/deploy/.ssh/authorized_keys",
    "/run/nginx.pid",
];

fn base(ev: &mut Event, rng: &mut Rng, ts: i64, name: &str) {
    let pid = 1000 + (rng.next() % 30_000) as i64;
    let parent = rng.pick(PARENTS);
    ev.push("@timestamp", auditwatch::event::format_rfc3339_ms(ts));
    ev.push("event.kind", "event");
    ev.push("event.module", "auditd");
    ev.push("event.outcome", "success");
    ev.push("host.id", "4f8a9f0e2c1b4d6e8a7f6b5c4d3e2f1a");
    ev.push("host.name", "web-01");
    ev.push("host.hostname", "web-01");
    ev.push("host.architecture", "x86_64");
    ev.push("host.os.type", "linux");
    ev.push("host.os.family", "debian");
    ev.push("host.os.name", "Debian GNU/Linux");
    ev.push("host.os.kernel", "6.1.0-18-amd64");
    ev.push("process.pid", pid);
    ev.push("process.name", name);
    ev.push("process.executable", format!("/usr/bin/{name}"));
    ev.push("process.working_directory", "/home/deploy");
    ev.push("process.entity_id", format!("e{pid}"));
    ev.push("process.parent.pid", pid - 1);
    ev.push("process.parent.name", parent);
    ev.push("process.parent.executable", format!("/usr/bin/{parent}"));
    ev.push("process.parent.entity_id", format!("e{}", pid - 1));
    ev.push("user.id", "1000");
    ev.push("user.name", "deploy");
    ev.push("user.group.id", "1000");
    ev.push("user.group.name", "deploy");
    ev.push("user.effective.id", "1000");
    ev.push("auditd.session", "42");
    ev.push("auditd.sequence", ts % 1_000_000);
    ev.push("auditd.result", "success");
    ev.push("auditd.data.arch", "x86_64");
    ev.push("auditd.data.tty", "pts0");
    ev.push("auditd.data.exit", "0");
}

fn synthetic(n: usize) -> Vec<Arc<Event>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let ts = T0 + i as i64 * 2;
        let mut ev = Event::new(ts);
        ev.arrival = i as u64;
        let name = rng.pick(PROGRAMS);
        base(&mut ev, &mut rng, ts, name);
        match rng.next() % 10 {
            // 40% executions
            0..=3 => {
                let arg = rng.pick(FILES);
                ev.push("event.category", Value::List(vec!["process".into()]));
                ev.push("event.type", Value::List(vec!["start".into()]));
                ev.push("event.action", "executed");
                ev.push("auditd.data.syscall", "execve");
                ev.push("auditd.data.argc", "3");
                ev.push(
                    "process.args",
                    Value::List(vec![name.into(), "-v".into(), arg.into()]),
                );
                ev.push("process.args_count", 3i64);
                ev.push("process.title", format!("{name} -v {arg}"));
            }
            // 20% outbound connections
            4 | 5 => {
                ev.push("event.category", Value::List(vec!["network".into()]));
                ev.push(
                    "event.type",
                    Value::List(vec!["start".into(), "connection".into()]),
                );
                ev.push("event.action", "connected-to");
                ev.push("auditd.data.syscall", "connect");
                ev.push("network.direction", "egress");
                ev.push("network.transport", "tcp");
                let ip = format!(
                    "{}.{}.{}.{}",
                    1 + rng.next() % 220,
                    rng.next() % 256,
                    rng.next() % 256,
                    1 + rng.next() % 254
                );
                ev.push("destination.ip", ip);
                ev.push(
                    "destination.port",
                    [443i64, 80, 53, 22, 8080][(rng.next() % 5) as usize],
                );
            }
            // 20% file opens for writing
            6 | 7 => {
                let path = rng.pick(FILES);
                ev.push("event.category", Value::List(vec!["file".into()]));
                ev.push("event.type", Value::List(vec!["change".into()]));
                ev.push("event.action", "opened-file");
                ev.push("auditd.data.syscall", "openat");
                ev.push("auditd.data.a2", "241");
                ev.push("file.path", path);
                ev.push("auditd.paths.name", Value::List(vec![path.into()]));
                ev.push("auditd.paths.nametype", Value::List(vec!["NORMAL".into()]));
            }
            // 10% renames
            8 => {
                let path = rng.pick(FILES);
                ev.push("event.category", Value::List(vec!["file".into()]));
                ev.push("event.type", Value::List(vec!["change".into()]));
                ev.push("event.action", "renamed");
                ev.push("auditd.data.syscall", "rename");
                ev.push("file.path", path);
                ev.push(
                    "auditd.paths.name",
                    Value::List(vec![
                        "/tmp/".into(),
                        "/etc/".into(),
                        "/tmp/x.tmp".into(),
                        path.into(),
                    ]),
                );
                ev.push(
                    "auditd.paths.nametype",
                    Value::List(vec![
                        "PARENT".into(),
                        "PARENT".into(),
                        "DELETE".into(),
                        "CREATE".into(),
                    ]),
                );
            }
            // 10% creations
            _ => {
                let path = format!("/tmp/build-{}/obj{}.so", rng.next() % 50, rng.next() % 500);
                ev.push("event.category", Value::List(vec!["file".into()]));
                ev.push("event.type", Value::List(vec!["creation".into()]));
                ev.push("event.action", "opened-file");
                ev.push("auditd.data.syscall", "openat");
                ev.push("auditd.data.a2", "241");
                ev.push("file.path", path.clone());
                ev.push(
                    "auditd.paths.name",
                    Value::List(vec!["/tmp/".into(), path.into()]),
                );
                ev.push(
                    "auditd.paths.nametype",
                    Value::List(vec!["PARENT".into(), "CREATE".into()]),
                );
            }
        }
        out.push(Arc::new(ev));
    }
    out
}

/// Up to `n` events from an NDJSON file of ECS documents, in file order. Their keys are made
/// `'static` strings (one per distinct name), as the normalizer's are.
fn load_events(path: &str, n: usize) -> Vec<Arc<Event>> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).expect("AW_EVENTS file");
    let mut names: std::collections::HashMap<String, &'static str> = Default::default();
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(n) {
        let line = line.expect("read AW_EVENTS");
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let mut ev = Event::from_json(&doc);
        ev.arrival = out.len() as u64;
        for (k, _) in ev.fields.iter_mut() {
            let name = match names.get(&**k) {
                Some(&s) => s,
                None => {
                    let s: &'static str = Box::leak(k.to_string().into_boxed_str());
                    names.insert(k.to_string(), s);
                    s
                }
            };
            *k = std::borrow::Cow::Borrowed(name);
        }
        out.push(Arc::new(ev));
    }
    out
}

/// CPU time of this thread: the machine may be shared, wall time then overstates the cost.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Page faults of this thread so far (a fault that zeroes a fresh page costs microseconds).
fn thread_faults() -> i64 {
    // SAFETY: getrusage writes into the rusage we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ru.ru_minflt + ru.ru_majflt
}

/// How the events reach the engine.
#[derive(Clone, Copy)]
enum Feed {
    /// As the daemon feeds its worker: a front thread allocates each event just before it is
    /// sent (a deep copy of the prepared one, as the normaliser builds its events), in batches
    /// over a bounded channel, and frees the batches the engine hands back. The engine reads
    /// events another core has just written, as it does in the sensor.
    Front,
    /// From an array of every event, built before the clock starts: each event is read from
    /// main memory the first time (hundreds of MiB of events, long out of every cache).
    Prebuilt,
}

/// Events per batch, as the daemon's front thread sends them (one record batch's events).
const BATCH: usize = 64;

/// This thread's CPU seconds, wall seconds and page faults while `run` runs.
fn timed(run: impl FnOnce()) -> (f64, f64, i64) {
    let start = Instant::now();
    let cpu0 = thread_cpu_s();
    let faults0 = thread_faults();
    run();
    (
        thread_cpu_s() - cpu0,
        start.elapsed().as_secs_f64(),
        thread_faults() - faults0,
    )
}

/// The engine's thread's [`timed`] figures for `events` sent by a front thread (`Feed::Front`).
fn from_front(engine: &mut Engine, events: &[Arc<Event>]) -> (f64, f64, i64) {
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Arc<Event>>>(64);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Vec<Arc<Event>>>(16);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut reaper = auditwatch::pipeline::Reaper::new();
            for chunk in events.chunks(BATCH) {
                let batch = chunk.iter().map(|e| Arc::new(Event::clone(e))).collect();
                if tx.send(batch).is_err() {
                    break;
                }
                // Handled events are freed here, where they were allocated, as the daemon's
                // front does (those a rule still holds once it lets go of them).
                while let Ok(done) = done_rx.try_recv() {
                    reaper.take(done);
                }
            }
        });
        let mut out = Vec::new();
        timed(|| {
            for batch in rx {
                engine.on_batch(&batch, &mut out);
                out.clear();
                // When the front is behind on freeing, the batch is freed here (as in the daemon).
                let _ = done_tx.try_send(batch);
            }
        })
    })
}

/// The same for events read from the prepared array (`Feed::Prebuilt`).
fn from_array(engine: &mut Engine, events: &[Arc<Event>]) -> (f64, f64, i64) {
    let mut out = Vec::new();
    timed(|| {
        // In batches, as the daemon's worker gets them.
        for batch in events.chunks(BATCH) {
            engine.on_batch(batch, &mut out);
            out.clear();
        }
    })
}

fn measure(label: &str, rules: &[Rule], events: &[Arc<Event>], feed: Feed) -> f64 {
    let mut best = 0f64;
    let mut best_wall = 0f64;
    let mut alerts = 0;
    let mut evals = 0f64;
    let mut views = 0;
    let mut faults = 0;
    let mut held = (0, 0, 0);
    // AW_PASSES=1 for profiling runs (instruction counts need no best-of).
    let passes = std::env::var("AW_PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3);
    for _ in 0..passes {
        let mut engine = Engine::new(rules.to_vec(), EngineConfig::default()).expect("engine");
        let (cpu, wall, f) = match feed {
            Feed::Front => from_front(&mut engine, events),
            Feed::Prebuilt => from_array(&mut engine, events),
        };
        let rate = events.len() as f64 / cpu;
        faults = f;
        best_wall = best_wall.max(events.len() as f64 / wall);
        let stats = engine.stats();
        alerts = stats.alerts + stats.suppressed;
        evals = stats.rule_evals as f64 / events.len() as f64;
        if std::env::var_os("AW_TOP_RULES").is_some() {
            let mut per = stats.per_rule.clone();
            per.sort_by_key(|r| std::cmp::Reverse(r.evaluated));
            for r in per.iter().take(15) {
                println!(
                    "  tried on {:>5.1}% of events: {}",
                    r.evaluated as f64 * 100.0 / events.len() as f64,
                    r.name
                );
            }
        }
        views = stats.defend_views;
        held = (stats.held_peak >> 20, stats.shed_states, stats.eql_dropped);
        best = best.max(rate);
    }
    println!(
        "{label:<36} {:>4} rules  {:>9.0} events/s CPU ({:.0} wall)  ({:.2} µs/event, {:.1} rules tried/event, {views} Defend views, {alerts} alerts, {faults} page faults, held events peak {} MiB, {} states shed, {} dropped)",
        rules.len(),
        best,
        best_wall,
        1e6 / best,
        evals,
        held.0,
        held.1,
        held.2
    );
    best
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    // AW_EVENTS=FILE: ECS documents (NDJSON, as `replay --events -` writes them) instead of
    // the synthetic events, e.g. the pipeline bench's normalized log
    // (`AUDITWATCH_BENCH_DUMP=FILE cargo bench --bench pipeline`).
    let (events, what) = match std::env::var("AW_EVENTS") {
        Ok(path) => {
            let events = load_events(&path, n);
            let what = format!("{} normalized events from {path}", events.len());
            (events, what)
        }
        Err(_) => (
            synthetic(n),
            format!("{n} synthetic events (40% exec, 20% connect, 20% file write, 10% rename, 10% create)"),
        ),
    };
    let bundled: Vec<Rule> = load_bundled().into_iter().filter_map(|l| l.rule).collect();
    let corpus = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/detection-rules/rules"
    ));
    let mut all: Vec<Rule> = load_paths(&[corpus])
        .into_iter()
        .filter_map(|l| l.rule)
        .collect();
    all.extend(bundled.iter().cloned());
    // AW_RULE=text: only the rules whose name contains it (to profile one rule).
    if let Ok(only) = std::env::var("AW_RULE") {
        all.retain(|r| r.name.contains(&only));
    }
    // AW_SKIP=text: leave out the rules whose name contains it (what one rule costs the rest).
    if let Ok(skip) = std::env::var("AW_SKIP") {
        all.retain(|r| !r.name.contains(&skip));
    }
    if std::env::args().any(|a| a == "--per-rule") {
        // The slowest rules, each alone in an engine: where the time goes.
        let mut times: Vec<(f64, String, String)> = all
            .iter()
            .map(|r| {
                let mut engine =
                    Engine::new(vec![r.clone()], EngineConfig::default()).expect("engine");
                let mut out = Vec::new();
                let start = Instant::now();
                for ev in &events {
                    engine.on_event(Arc::clone(ev), &mut out);
                    out.clear();
                }
                (
                    start.elapsed().as_secs_f64() * 1e6 / events.len() as f64,
                    r.rule_type.clone(),
                    r.name.clone(),
                )
            })
            .collect();
        times.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top = std::env::var("AW_TOP")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(15);
        for (us, ty, name) in times.iter().take(top) {
            println!("{us:>8.2} µs/event  {ty:<10} {name}");
        }
        return;
    }
    println!("{what}");
    // AW_FEED=prebuilt: only the pre-built array; AW_FEED=front: only the front thread.
    let feeds: &[(Feed, &str)] = match std::env::var("AW_FEED").as_deref() {
        Ok("prebuilt") => &[(Feed::Prebuilt, "pre-built array")],
        Ok("front") => &[(Feed::Front, "front thread")],
        _ => &[
            (Feed::Front, "front thread"),
            (Feed::Prebuilt, "pre-built array"),
        ],
    };
    for &(feed, how) in feeds {
        println!("events from the {how}:");
        if std::env::var_os("AW_ONLY_ALL").is_none() {
            measure("bundled detections", &bundled, &events, feed);
        }
        let rate = measure("all loadable fixture rules + bundled", &all, &events, feed);
        println!(
            "target 500000 events/s with all rules ({how}): {:.2}x",
            rate / 500_000.0
        );
    }
}
