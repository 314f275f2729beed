//! The four bundled detections end to end, on the real kernel (root): scripted attacks and near
//! misses (tests/e2e/scenarios.sh) while `auditwatch run` watches live beside Debian's `auditd`
//! (which holds the audit pid, so auditwatch runs multicast), then the log auditd wrote for the
//! same run is replayed through `auditwatch replay`. Done twice, with auditd writing RAW and then
//! ENRICHED logs. Every alert set must be exactly: 1 APT, 1 UDP reverse shell, 2 shared object
//! (new names only), 2 cron (a new file and a moved-in file) — and nothing for the near misses.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APT: &str = "eaef8a35-12e0-4ac0-bc14-81c72b6bd27c";
const UDP: &str = "a5eb21b7-13cc-4b94-9fe2-29bb2914e037";
const SHARED_OBJECT: &str = "aebaa51f-2a91-4f6a-850b-b601db2293f4";
const CRON: &str = "ff10d4d8-fea7-422d-afb1-e5a2702369a9";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_auditwatch")
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("bash runs")
}

fn must(cmd: &str) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Killer(Option<Child>, &'static str);

impl Killer {
    /// SIGTERM, then wait (SIGKILL after 20 s).
    fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("{} did not stop on SIGTERM; killing", self.1);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Killer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn alerts(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("alert is JSON"))
        .collect()
}

fn events_of(alert: &Value) -> Vec<&Value> {
    alert["events"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, p| &v[p])
}

/// Alerts of this run's scenarios, by rule (events carry our markers).
fn ours(all: &[Value], rule: &str) -> Vec<Value> {
    all.iter()
        .filter(|a| a["rule"]["id"] == rule)
        .filter(|a| {
            let text = serde_json::to_string(a).unwrap_or_default();
            text.contains("aw-e2e") || text.contains("1.1.1.1") || text.contains("127.0.0.1")
        })
        .cloned()
        .collect()
}

fn check(label: &str, all: &[Value]) {
    let summary: Vec<String> = all
        .iter()
        .map(|a| format!("{} {}", a["rule"]["id"], a["rule"]["name"]))
        .collect();
    eprintln!("{label}: {} alerts: {summary:#?}", all.len());

    let apt = ours(all, APT);
    assert_eq!(apt.len(), 1, "{label}: one APT alert: {apt:#?}");
    let evs = events_of(&apt[0]);
    assert_eq!(evs.len(), 2, "{label}: the APT alert carries both events");
    assert_eq!(get(evs[0], "process.parent.name"), "apt", "{label}");
    assert_eq!(get(evs[1], "destination.ip"), "1.1.1.1", "{label}");

    let udp = ours(all, UDP);
    assert_eq!(
        udp.len(),
        1,
        "{label}: one UDP reverse shell alert: {udp:#?}"
    );
    let evs = events_of(&udp[0]);
    assert_eq!(evs.len(), 3, "{label}: exec, socket and connect");
    assert!(
        evs.iter().any(|e| get(e, "destination.ip") == "1.1.1.1"),
        "{label}"
    );
    assert!(
        evs.iter().any(|e| get(e, "auditd.data.a1") == "2"),
        "{label}"
    );

    let so = ours(all, SHARED_OBJECT);
    let mut paths: Vec<String> = so
        .iter()
        .flat_map(events_of)
        .filter_map(|e| get(e, "file.path").as_str().map(str::to_owned))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["/dev/shm/aw-e2e-1.so", "/dev/shm/aw-e2e-2.so"],
        "{label}: shared object alerts"
    );
    assert_eq!(so.len(), 2, "{label}");

    let cron = ours(all, CRON);
    let mut paths: Vec<String> = cron
        .iter()
        .flat_map(events_of)
        .filter_map(|e| get(e, "file.path").as_str().map(str::to_owned))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["/etc/cron.d/aw-e2e-job", "/etc/cron.d/aw-e2e-moved"],
        "{label}: cron alerts"
    );
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn prepare(work: &Path) {
    must(&format!(
        "cc -O1 -o {0}/apt tests/e2e/apt.c",
        work.display()
    ));
    let pkg = work.join("pkg");
    must(&format!(
        "mkdir -p {0}/DEBIAN {0}/etc/cron.d && printf 'Package: aw-e2e-cron\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: test <t@example.invalid>\\nDescription: test cron file\\n' > {0}/DEBIAN/control && echo '* * * * * root true' > {0}/etc/cron.d/aw-e2e-cron && dpkg-deb --root-owner-group --build {0} {1}/aw-e2e-cron.deb >/dev/null",
        pkg.display(),
        work.display()
    ));
    // The watched directories must exist before kernel rules are loaded.
    must("mkdir -p /etc/cron.d /var/spool/cron/crontabs /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly");
}

fn round(work: &Path, format: &str) {
    must("bash tests/e2e/cleanup.sh");
    let conf_dir = work.join(format!("auditd-{format}"));
    std::fs::create_dir_all(&conf_dir).expect("conf dir");
    let log = work.join(format!("audit-{format}.log"));
    let _ = std::fs::remove_file(&log);
    let conf = conf_dir.join("auditd.conf");
    std::fs::write(
        &conf,
        format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_format = {format}\nflush = INCREMENTAL_ASYNC\nfreq = 20\nmax_log_file = 1024\nnum_logs = 2\nmax_log_file_action = IGNORE\nspace_left = 2\nspace_left_action = IGNORE\nadmin_space_left = 1\nadmin_space_left_action = IGNORE\ndisk_full_action = IGNORE\ndisk_error_action = IGNORE\nname_format = NONE\nq_depth = 2000\noverflow_action = IGNORE\nplugin_dir = {}\nend_of_event_timeout = 2\n",
            log.display(),
            conf_dir.join("plugins").display()
        ),
    )
    .expect("write auditd.conf");
    std::fs::create_dir_all(conf_dir.join("plugins")).expect("plugins dir");
    let auditd = Command::new("auditd")
        .args(["-n", "-s", "nochange", "-c"])
        .arg(&conf_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut auditd = Killer(
        Some(auditd.expect("auditd starts (package auditd)")),
        "auditd",
    );
    wait_for(
        "auditd to hold the audit pid",
        Duration::from_secs(10),
        || {
            String::from_utf8_lossy(&sh("auditctl -s").stdout)
                .lines()
                .any(|l| l.starts_with("pid ") && l.trim() != "pid 0")
        },
    );

    let live = work.join(format!("live-{format}.ndjson"));
    let state = work.join(format!("state-{format}"));
    let empty_conf = work.join("empty.toml");
    std::fs::write(&empty_conf, "").expect("config");
    let stderr = std::fs::File::create(work.join(format!("run-{format}.log"))).expect("log");
    let run = Command::new(bin())
        .args(["run", "--socket-type", "multicast", "--config"])
        .arg(&empty_conf)
        .arg("--state-dir")
        .arg(&state)
        .arg("--alerts")
        .arg(&live)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("auditwatch run starts");
    let mut run = Killer(Some(run), "auditwatch run");
    wait_for(
        "auditwatch to load its kernel rules",
        Duration::from_secs(20),
        || String::from_utf8_lossy(&sh("auditctl -l").stdout).contains("/etc/cron.d"),
    );
    std::thread::sleep(Duration::from_millis(500));

    let out = Command::new("bash")
        .arg("tests/e2e/scenarios.sh")
        .arg(work)
        .output()
        .expect("scenarios run");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    // Let the reassembler's timeout and the samples/sequences finish.
    std::thread::sleep(Duration::from_secs(3));
    run.stop();
    auditd.stop();
    let run_log =
        std::fs::read_to_string(work.join(format!("run-{format}.log"))).unwrap_or_default();
    eprintln!("auditwatch run ({format}) said:\n{run_log}");
    check(&format!("live ({format})"), &alerts(&live));

    let replayed = work.join(format!("replay-{format}.ndjson"));
    let out = Command::new(bin())
        .arg("replay")
        .arg("--alerts")
        .arg(&replayed)
        .arg(&log)
        .output()
        .expect("replay runs");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if format == "ENRICHED" {
        let text = std::fs::read(&log).expect("log");
        assert!(text.contains(&0x1d), "auditd wrote an ENRICHED log");
    }
    check(
        &format!("replay of auditd's {format} log"),
        &alerts(&replayed),
    );
}

#[test]
fn bundled_detections_fire_live_and_in_replay() {
    let _guard = common::kernel::kernel_guard();
    let work: PathBuf = std::env::temp_dir().join(format!("aw-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    prepare(&work);
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = sh("bash tests/e2e/cleanup.sh");
        }
    }
    let _cleanup = Cleanup;
    round(&work, "RAW");
    round(&work, "ENRICHED");
    let _ = std::fs::remove_dir_all(&work);
}

/// The README's first command: the bundled example log (made by examples/record.sh from a real
/// run of the scenarios) gives exactly the alerts of the attacks and none for the near misses.
#[test]
fn bundled_example_replays_to_the_expected_alerts() {
    let out = Command::new(bin())
        .args(["replay", "examples/attack.log"])
        .output()
        .expect("replay runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect();
    for a in &all {
        assert_eq!(a["event"]["kind"], "alert");
        assert!(
            a["threat"].is_array() && !a["threat"].as_array().unwrap().is_empty(),
            "MITRE mapping"
        );
        assert!(a["event"]["risk_score"].is_number() && a["event"]["severity"].is_number());
    }
    check("bundled example", &all);
    assert_eq!(all.len(), 6, "nothing else fires on the example");
}
