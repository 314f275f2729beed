//! Audit storm: a producer hammers `getppid` under a keyed rule while a consumer drains the
//! kernel's audit stream: first our netlink reader (unicast, records parsed), then Debian's
//! auditd (its Debian defaults: ENRICHED log, INCREMENTAL_ASYNC flush, into a temp dir).
//!
//! Reports per consumer: producer rate, kernel `lost`, `backlog_wait_time_actual`, events
//! received vs produced, consumer CPU and peak RSS; then the ratios.
//!
//! `cargo bench --bench storm [-- COUNT] [--raw]` (default 500000; `--raw` skips record
//! parsing to show the reader's own cost). Needs root; holds the kernel test
//! lock and restores the kernel's audit state afterwards.
//!
//! Measured 2026-12-01, 500k calls, 2 shared vCPUs (other builds running), kernel 6.18:
//! producer 21 660 calls/s with us vs 5 094 with auditd (4.25×; unaudited 1.47 M/s); both got
//! 500 000 of 500 000 events, kernel lost 0 both; backlog_wait_time_actual 101 vs 21 789;
//! consumer CPU 7.4 vs 35.5 µs/event (0.21×); peak RSS 11.8 MiB (whole bench process, incl.
//! batches queued in the channel) vs 2.2 MiB.

#[path = "../tests/common/kernel.rs"]
mod kernel;
#[path = "../tests/kernel_support/mod.rs"]
mod kernel_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditwatch::kernel::netlink::AuditClient;
use auditwatch::kernel::session::{KernelSession, KernelSettings, SocketMode};
use auditwatch::kernel::status::StatusUpdate;
use auditwatch::record::Record;
use auditwatch::source::netlink::{NetlinkReader, ReaderConfig};
use kernel_support::{exit_rule, getppid_storm, Auditd, SYS_GETPPID};

const KEY: &str = "aw-storm";
const BACKLOG_LIMIT: u32 = 8192;
const AUDIT_SYSCALL: u16 = 1300;

struct Phase {
    name: &'static str,
    produced: u64,
    producer_secs: f64,
    events: u64,
    records: u64,
    kernel_lost: u32,
    wait_actual: u32,
    cpu_secs: f64,
    peak_rss_kib: u64,
    note: String,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.produced as f64 / self.producer_secs
    }
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// utime + stime of a whole process (all threads), seconds.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (t(11) + t(12)) as f64 / ticks_per_sec()
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn reset_kernel_counters(c: &mut AuditClient) {
    let reset = StatusUpdate {
        reset_lost: true,
        reset_backlog_wait_time_actual: true,
        ..Default::default()
    };
    c.set_status(&reset)
        .expect("reset lost / backlog_wait_time_actual");
}

fn kernel_counters(c: &mut AuditClient) -> (u32, u32) {
    let s = c.get_status().expect("AUDIT_GET");
    (s.lost, s.backlog_wait_time_actual.unwrap_or(0))
}

/// Waits until `progress()` reaches `target` or stops moving for `idle`.
fn drain(target: u64, idle: Duration, mut progress: impl FnMut() -> u64) -> u64 {
    let (mut last, mut since) = (progress(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = progress();
        if now >= target {
            return now;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > idle {
            return now;
        }
    }
}

fn baseline(count: u64) -> f64 {
    count as f64 / getppid_storm(count).as_secs_f64()
}

/// What the reader hands on: a parsed record, or the raw message (`--raw`: reader cost alone).
enum Item {
    Parsed(Record),
    Raw(u16, Vec<u8>),
}

fn run_ours(count: u64, parse: bool) -> Phase {
    let mut control = AuditClient::open().unwrap();
    let settings = KernelSettings {
        mode: SocketMode::Unicast,
        enabled: Some(1),
        backlog_limit: Some(BACKLOG_LIMIT),
        rules: vec![exit_rule(&[SYS_GETPPID], KEY)],
        replace_rules: true,
        lock_path: None,
        ..Default::default()
    };
    let mut session = KernelSession::start(settings).expect("kernel session");
    let (tx, rx) = crossbeam_channel::bounded(1024);
    let stream = session.take_events().unwrap();
    let reader =
        NetlinkReader::spawn_with(stream, ReaderConfig::default(), tx, move |t, p: &[u8]| {
            if parse {
                Record::from_netlink(t, p).map(Item::Parsed)
            } else {
                Ok(Item::Raw(t, p.to_vec()))
            }
        })
        .unwrap();
    let events = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (events, records) = (events.clone(), records.clone());
        let needle = format!("key=\"{KEY}\"");
        let ppid_needle = format!(" ppid={} ", std::process::id());
        let ppid = std::process::id().to_string();
        std::thread::spawn(move || {
            let finder = memchr::memmem::Finder::new(needle.as_bytes());
            let ppid_finder = memchr::memmem::Finder::new(ppid_needle.as_bytes());
            // Only the producer's calls count (its parent is us), not other getppid callers.
            let from_producer = |r: &Record| r.get("ppid").is_some_and(|p| p.raw == ppid);
            for batch in rx {
                let batch: Vec<Item> = batch;
                records.fetch_add(batch.len() as u64, Ordering::Relaxed);
                let keyed = batch
                    .iter()
                    .filter(|item| match item {
                        Item::Parsed(r) => {
                            r.rtype() == AUDIT_SYSCALL
                                && r.get("key").is_some_and(|k| k.raw == KEY)
                                && from_producer(r)
                        }
                        Item::Raw(t, p) => {
                            *t == AUDIT_SYSCALL
                                && finder.find(p).is_some()
                                && ppid_finder.find(p).is_some()
                        }
                    })
                    .count();
                events.fetch_add(keyed as u64, Ordering::Relaxed);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    reset_kernel_counters(&mut control);
    let me = std::process::id();
    reset_peak_rss(me);
    let cpu0 = process_cpu(me);

    let wall = getppid_storm(count);
    let got = drain(count, Duration::from_secs(3), || {
        events.load(Ordering::Relaxed)
    });

    let cpu = process_cpu(me) - cpu0;
    let rss = peak_rss_kib(me);
    let (lost, wait) = kernel_counters(&mut control);
    let stats = reader.stats().snapshot();
    reader.stop();
    consumer.join().unwrap();
    session.restore().expect("restore kernel state");
    Phase {
        name: if parse {
            "auditwatch"
        } else {
            "auditwatch(raw)"
        },
        produced: count,
        producer_secs: wall.as_secs_f64(),
        events: got,
        records: records.load(Ordering::Relaxed),
        kernel_lost: lost,
        wait_actual: wait,
        cpu_secs: cpu,
        peak_rss_kib: rss,
        note: format!("reader: {stats}"),
    }
}

fn count_keyed_syscalls(log: &[u8]) -> (u64, u64) {
    let needle = format!("key=\"{KEY}\"");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let ppid_needle = format!(" ppid={} ", std::process::id());
    let ppid_finder = memchr::memmem::Finder::new(ppid_needle.as_bytes());
    let (mut events, mut records) = (0, 0);
    for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        records += 1;
        if line.starts_with(b"type=SYSCALL ")
            && finder.find(line).is_some()
            && ppid_finder.find(line).is_some()
        {
            events += 1;
        }
    }
    (events, records)
}

fn run_auditd(count: u64) -> Phase {
    let auditd = Auditd::start_with("storm", "ENRICHED", "INCREMENTAL_ASYNC");
    let mut control = AuditClient::open().unwrap();
    control.delete_all_rules().unwrap();
    control.set_backlog_limit(BACKLOG_LIMIT).unwrap();
    control.add_rule(&exit_rule(&[SYS_GETPPID], KEY)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    reset_kernel_counters(&mut control);
    reset_peak_rss(auditd.pid);
    let cpu0 = process_cpu(auditd.pid);
    let log = auditd.dir.join("audit.log");
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);

    let wall = getppid_storm(count);
    // Counting the log while auditd writes would steal its CPU: wait for the size to settle.
    drain(u64::MAX, Duration::from_secs(3), size);

    let cpu = process_cpu(auditd.pid) - cpu0;
    let rss = peak_rss_kib(auditd.pid);
    let (lost, wait) = kernel_counters(&mut control);
    control.delete_all_rules().unwrap();
    let (events, records) = count_keyed_syscalls(&std::fs::read(&log).unwrap_or_default());
    let note = format!("log {} MiB", size() >> 20);
    drop(auditd);
    Phase {
        name: "auditd",
        produced: count,
        producer_secs: wall.as_secs_f64(),
        events,
        records,
        kernel_lost: lost,
        wait_actual: wait,
        cpu_secs: cpu,
        peak_rss_kib: rss,
        note,
    }
}

fn main() {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("STORM_COUNT").ok()?.parse().ok())
        .unwrap_or(500_000);
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("storm: needs root (kernel audit)");
        return;
    }
    let _guard = kernel::kernel_guard();
    let unaudited = baseline(count);
    let parse = !std::env::args().any(|a| a == "--raw");
    let ours = run_ours(count, parse);
    let theirs = run_auditd(count);

    println!("\naudit storm: {count} × getppid under `-a always,exit -S getppid -k {KEY}`, backlog_limit {BACKLOG_LIMIT}");
    println!("unaudited producer: {unaudited:.0} calls/s");
    println!("{:<26}{:>16}{:>16}", "", ours.name, theirs.name);
    let row = |label: &str, a: String, b: String| println!("{label:<26}{a:>16}{b:>16}");
    row(
        "producer calls/s",
        format!("{:.0}", ours.rate()),
        format!("{:.0}", theirs.rate()),
    );
    row(
        "producer seconds",
        format!("{:.2}", ours.producer_secs),
        format!("{:.2}", theirs.producer_secs),
    );
    row(
        "events received",
        ours.events.to_string(),
        theirs.events.to_string(),
    );
    row(
        "events produced",
        ours.produced.to_string(),
        theirs.produced.to_string(),
    );
    row(
        "records received",
        ours.records.to_string(),
        theirs.records.to_string(),
    );
    row(
        "kernel lost",
        ours.kernel_lost.to_string(),
        theirs.kernel_lost.to_string(),
    );
    row(
        "backlog_wait_time_actual",
        ours.wait_actual.to_string(),
        theirs.wait_actual.to_string(),
    );
    row(
        "consumer CPU seconds",
        format!("{:.2}", ours.cpu_secs),
        format!("{:.2}", theirs.cpu_secs),
    );
    row(
        "consumer CPU µs/event",
        format!("{:.2}", ours.cpu_secs * 1e6 / ours.events.max(1) as f64),
        format!("{:.2}", theirs.cpu_secs * 1e6 / theirs.events.max(1) as f64),
    );
    row(
        "consumer peak RSS MiB",
        format!("{:.1}", ours.peak_rss_kib as f64 / 1024.0),
        format!("{:.1}", theirs.peak_rss_kib as f64 / 1024.0),
    );
    println!("{}: {}", ours.name, ours.note);
    println!("{}: {}", theirs.name, theirs.note);
    println!(
        "ratios auditwatch/auditd: producer rate {:.2}, events received {:.3}, CPU {:.2}, peak RSS {:.2}",
        ours.rate() / theirs.rate(),
        ours.events as f64 / theirs.events.max(1) as f64,
        ours.cpu_secs / theirs.cpu_secs.max(1e-9),
        ours.peak_rss_kib as f64 / theirs.peak_rss_kib.max(1) as f64
    );
}
