//! Normaliser throughput: audit events (already parsed and reassembled) → ECS documents, plus
//! the Defend view, on one core. Prints events/s and records/s for a realistic mix.
//!
//! Run: `cargo bench --bench ecs_normalize`

use auditwatch::assemble::{AuditEvent, Reassembler};
use auditwatch::ecs::{defend_view, HostInfo, Normalizer};
use auditwatch::record::Record;
use std::time::Instant;

const MIX: &str = r#"
type=SYSCALL msg=audit(1700000000.100:SEQ): arch=c000003e syscall=59 success=yes exit=0 a0=55d5 a1=55d6 a2=55d7 a3=0 items=2 ppid=900 pid=PID auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="ls" exe="/usr/bin/ls" key="exec"
type=EXECVE msg=audit(1700000000.100:SEQ): argc=3 a0="ls" a1="-la" a2=2F746D702F612062
type=CWD msg=audit(1700000000.100:SEQ): cwd="/home/alice"
type=PATH msg=audit(1700000000.100:SEQ): item=0 name="/usr/bin/ls" inode=1593 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0
type=PATH msg=audit(1700000000.100:SEQ): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=4382 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0
type=PROCTITLE msg=audit(1700000000.100:SEQ): proctitle=6C73002D6C61002F746D702F612062
type=EOE msg=audit(1700000000.100:SEQ):
type=SYSCALL msg=audit(1700000000.200:SEQ): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffc a2=10 a3=0 items=0 ppid=1 pid=PID auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="curl" exe="/usr/bin/curl" key="net"
type=SOCKADDR msg=audit(1700000000.200:SEQ): saddr=020001BB5DB8D8220000000000000000
type=PROCTITLE msg=audit(1700000000.200:SEQ): proctitle=6375726C0068747470733A2F2F6578616D706C652E636F6D
type=EOE msg=audit(1700000000.200:SEQ):
type=SYSCALL msg=audit(1700000000.300:SEQ): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=5600 a2=241 a3=1b6 items=2 ppid=1 pid=PID auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm="vim" exe="/usr/bin/vim.basic" key="files"
type=CWD msg=audit(1700000000.300:SEQ): cwd="/home/alice"
type=PATH msg=audit(1700000000.300:SEQ): item=0 name="/tmp/" inode=2 dev=08:01 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000000.300:SEQ): item=1 name="/tmp/notes.txt" inode=77 dev=08:01 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE
type=PROCTITLE msg=audit(1700000000.300:SEQ): proctitle=76696D002F746D702F6E6F7465732E747874
type=EOE msg=audit(1700000000.300:SEQ):
type=USER_LOGIN msg=audit(1700000000.400:SEQ): pid=PID uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=10.1.2.3 terminal=sshd res=failed'
"#;

fn build_events(n: usize) -> (Vec<AuditEvent>, usize) {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    let mut records = 0;
    let mut seq = 1u32;
    while out.len() < n {
        let pid = 10_000 + (seq % 5_000);
        let mut last_ts = "";
        for line in MIX.lines().filter(|l| !l.is_empty()) {
            let ts = &line[line.find("audit(").unwrap_or(0)..line.find(':').unwrap_or(0)];
            if ts != last_ts && !last_ts.is_empty() {
                seq += 1;
            }
            last_ts = ts;
            let line = line
                .replace("SEQ", &seq.to_string())
                .replace("PID", &pid.to_string());
            let rec = Record::parse_log_line(line.as_bytes()).expect("bench line parses");
            if rec.rtype() != 1320 {
                records += 1;
            }
            r.push(rec, &mut out);
        }
        seq += 1;
    }
    r.flush(&mut out);
    (out, records)
}

/// This thread's CPU time: the machine may be shared, so rates are per CPU second too.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    // A few thousand distinct events normalised over and over: the timing covers the
    // normaliser, not the memory of a huge prebuilt input.
    let (events, records) = build_events(4_000);
    let rounds = 50;
    let mut norm = Normalizer::new(HostInfo::named(
        "bench-host",
        "0123456789abcdef0123456789abcdef",
    ));
    for e in &events {
        std::hint::black_box(norm.normalize(e));
    }
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut fields = 0usize;
    for _ in 0..rounds {
        for e in &events {
            let ev = norm.normalize(e);
            fields += ev.fields.len();
            std::hint::black_box(&ev);
        }
    }
    let t = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = (events.len() * rounds) as f64;
    println!(
        "normalize: {} events ({} records, {:.1} fields/event) in {:.3}s: {:.0} events/s, {:.0} records/s",
        n,
        records * rounds,
        fields as f64 / n,
        t,
        n / t,
        (records * rounds) as f64 / t
    );
    println!(
        "normalize per CPU second: {:.0} events/s, {:.0} records/s ({:.2} us/event)",
        n / cpu,
        (records * rounds) as f64 / cpu,
        cpu / n * 1e6
    );

    let docs: Vec<_> = events.iter().map(|e| norm.normalize(e)).collect();
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut views = 0;
    for d in &docs {
        if let Some(v) = defend_view(d) {
            views += 1;
            std::hint::black_box(v);
        }
    }
    let t = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "defend_view per CPU second: {:.0} docs/s",
        docs.len() as f64 / cpu
    );
    println!(
        "defend_view: {} docs ({} views) in {:.3}s: {:.0} docs/s",
        docs.len(),
        views,
        t,
        docs.len() as f64 / t
    );
}
