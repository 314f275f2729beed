//! Real-kernel checks of the rule compiler against auditctl. Each test holds
//! `common::kernel::kernel_guard()` (machine-wide lock, rules and settings restored on drop).
//!
//! For every bundled rules file, and the go-libaudit sample files: `auditctl -R` loads it, then
//! - `auditctl -l` prints, line for line, what our decoder prints for our compiled rules;
//! - the kernel lists back, byte for byte, what `Rule::to_bytes` produced.

mod common;

use auditwatch::kernel::netlink::AuditClient;
use auditwatch::kernel::rules::{
    decode, parse_line, parse_str, self_exclusion, Directive, Rule, SelfId, BUNDLED_FILES,
};
use common::kernel::kernel_guard;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn auditctl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("auditctl runs (package auditd)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn listed() -> Vec<String> {
    let (ok, out, err) = auditctl(&["-l"]);
    assert!(ok, "auditctl -l: {err}");
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && l != "No rules")
        .collect()
}

/// auditctl -R wants a root-owned file that others cannot write.
fn write_rules(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn kernel_rules() -> Vec<Vec<u8>> {
    AuditClient::open()
        .expect("audit netlink socket")
        .list_rules()
        .expect("AUDIT_LIST_RULES")
}

/// The kernel lists rules by filter list (user, task, exit, exclude, filesystem), each in order.
fn in_kernel_order(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_key(|r| r.list.code());
    rules
}

struct Outcome {
    lines: usize,
    text_same: usize,
    /// auditctl printed `-w` for a rule its `-w` cannot recreate; we print the `-a` form.
    lossy_in_auditctl: Vec<String>,
}

fn check_file(dir: &Path, name: &str, text: &str) -> Outcome {
    let (set, errors) = parse_str(name, text);
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    let ours = in_kernel_order(set.rules().cloned().collect());
    auditctl(&["-D"]);
    let path = write_rules(dir, name, text);
    let (ok, _, err) = auditctl(&["-R", path.to_str().unwrap()]);
    assert!(ok, "auditctl -R {name} failed: {err}");
    let theirs = listed();
    assert_eq!(
        theirs.len(),
        ours.len(),
        "{name}: auditctl lists {theirs:#?}"
    );
    let mut outcome = Outcome {
        lines: ours.len(),
        text_same: 0,
        lossy_in_auditctl: Vec::new(),
    };
    for (rule, line) in ours.iter().zip(&theirs) {
        let mine = rule.to_auditctl();
        if &mine == line {
            outcome.text_same += 1;
            continue;
        }
        // The one allowed difference: auditctl's watch form, which would not compile back.
        let reparsed = |t: &str| match parse_line(t).ok().as_deref() {
            Some([Directive::Add(r)]) => Some(r.to_bytes()),
            _ => None,
        };
        assert!(
            line.starts_with("-w ") && mine.starts_with("-a "),
            "{name}: auditctl `{line}`, we `{mine}`"
        );
        assert_eq!(
            reparsed(&mine),
            Some(rule.to_bytes()),
            "{name}: `{mine}` must compile back"
        );
        assert_ne!(
            reparsed(line),
            Some(rule.to_bytes()),
            "{name}: `{line}` would have been exact"
        );
        outcome
            .lossy_in_auditctl
            .push(format!("auditctl `{line}` / ours `{mine}`"));
    }
    let kernel = kernel_rules();
    assert_eq!(kernel.len(), ours.len(), "{name}: kernel rule count");
    for (rule, k) in ours.iter().zip(&kernel) {
        let bytes = rule.to_bytes();
        assert!(
            k.len() >= bytes.len() && k.len() - bytes.len() < 4,
            "{name}: `{rule}`: {} vs kernel {}",
            bytes.len(),
            k.len()
        );
        assert_eq!(
            &k[..bytes.len()],
            &bytes[..],
            "{name}: `{rule}` differs from the kernel's copy"
        );
        assert_eq!(decode(k).unwrap(), rule.to_auditctl());
    }
    outcome
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aw-krules-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bundled_rules_load_with_auditctl_and_match_our_bytes_and_text() {
    let _guard = kernel_guard();
    let dir = temp_dir("bundled");
    let mut all = String::new();
    for (name, text) in BUNDLED_FILES {
        let o = check_file(&dir, name, text);
        assert!(o.lines > 0);
        assert_eq!(
            o.text_same, o.lines,
            "{name}: bundled rules must list exactly as auditctl lists them"
        );
        println!(
            "{name}: {} of {} lines as auditctl -l prints them, bytes identical to the kernel's",
            o.text_same, o.lines
        );
        all.push_str(text);
    }
    // All files together, as the sensor loads them.
    let o = check_file(&dir, "all.rules", &all);
    assert_eq!(o.text_same, o.lines);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn go_libaudit_sample_files_match_auditctl() {
    let _guard = kernel_guard();
    let dir = temp_dir("samples");
    let fixtures = Path::new("../shared/fixtures/go-libaudit/rule");
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    let (mut lines, mut same) = (0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let quoted = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains(['"', '\'']));
        if quoted {
            println!("{name}: skipped, auditctl 3.0 -R does not take quoted paths");
            continue;
        }
        let o = check_file(&dir, &name, &text);
        println!(
            "{name}: {} of {} lines as auditctl -l prints them",
            o.text_same, o.lines
        );
        for l in &o.lossy_in_auditctl {
            println!("  lossy in auditctl: {l}");
        }
        lines += o.lines;
        same += o.text_same;
    }
    println!("overall: {same} of {lines} lines identical to auditctl -l; all bytes identical to the kernel's");
    assert!(lines >= 80);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn self_exclusion_loads_first() {
    let _guard = kernel_guard();
    auditctl(&["-D"]);
    let (ok, _, err) = auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "openat",
        "-k",
        "other",
    ]);
    assert!(ok, "{err}");
    let pid = std::process::id();
    let mut client = AuditClient::open().unwrap();
    let mut rule = self_exclusion(SelfId::Pid(pid));
    rule.prepend = true;
    client
        .add_rule(&rule.to_bytes())
        .expect("kernel takes the self-exclusion rule");
    let l = listed();
    assert_eq!(l[0], format!("-a never,exit -S all -F pid={pid}"), "{l:?}");
    assert_eq!(l[1], "-a always,exit -F arch=b64 -S openat -F key=other");
    let exe = std::env::current_exe().unwrap();
    client
        .add_rule(&self_exclusion(SelfId::Exe(exe.clone())).to_bytes())
        .expect("exe form");
    assert_eq!(
        listed()[2],
        format!("-a never,exit -S all -F exe={}", exe.display())
    );
}

/// Keys of a SYSCALL record: `key="a"`, or hex of `a\x01b` for several, or `(null)`.
fn record_keys(text: &str) -> Vec<String> {
    let Some(v) = text.split(' ').find_map(|w| w.strip_prefix("key=")) else {
        return Vec::new();
    };
    if let Some(q) = v.strip_prefix('"') {
        return vec![q.trim_end_matches('"').to_owned()];
    }
    let bytes: Option<Vec<u8>> = (0..v.len() / 2)
        .map(|i| {
            v.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    match bytes {
        Some(b) if !b.is_empty() => b
            .split(|c| *c == 1)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split(' ')
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// The bundled rules, loaded from our bytes over netlink, report what the four detections read:
/// a shell's exec, its UDP socket() and connect(), a .so written under /dev/shm, a file written
/// in /etc/cron.d. Read from the audit multicast group, so no auditd is needed.
#[test]
fn bundled_rules_report_what_the_detections_need() {
    let _guard = kernel_guard();
    auditctl(&["-D"]);
    let mut client = AuditClient::open().unwrap();
    let (set, errors) = auditwatch::kernel::rules::bundled();
    assert!(errors.is_empty(), "{errors:?}");
    for r in set.rules() {
        client
            .add_rule(&r.to_bytes())
            .unwrap_or_else(|e| panic!("kernel refused `{r}`: {e}"));
    }
    let (ok, _, err) = auditctl(&["-e", "1"]);
    assert!(ok, "{err}");
    // The kernel's default backlog (64 records) can overflow while the exec rules record
    // every exec on the machine; the guard puts the old limit back.
    let (ok, _, err) = auditctl(&["-b", "8192"]);
    assert!(ok, "{err}");
    let lost_before = lost_count();
    let sock = auditwatch::kernel::netlink::open_multicast_socket().expect("multicast group");
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(&sock);
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: setting a receive timeout on a socket we own, with a valid timeval.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    // The records are read after the actions, and the exec rules record every exec on the
    // machine meanwhile: the default buffer can overflow on a busy machine (one run beside a
    // parallel build missed two of the records).
    auditwatch::source::netlink::set_receive_buffer(fd, 16 << 20).expect("receive buffer");

    // The actions, each by a process whose pid we know.
    let me = std::process::id();
    let shell = Command::new("/bin/sh")
        .args(["-c", "exit 0"])
        .spawn()
        .unwrap();
    let shell_pid = shell.id();
    let _ = shell.wait_with_output();
    // bash opens /dev/udp with socket(AF_INET, SOCK_DGRAM, 0) + connect; no network in the netns.
    let udp = Command::new("unshare")
        .args(["-n", "bash", "-c", "exec 3<>/dev/udp/127.0.0.1/53"])
        .output()
        .unwrap();
    let _ = udp;
    // The writes come from a process started after audit was enabled: the kernel gives a
    // task its audit context when it forks, and only once audit has ever been enabled since
    // boot, so on a fresh machine this test's own syscalls are never audited.
    let so = format!("/dev/shm/aw-krules-{me}.so");
    let cron = format!("/etc/cron.d/aw-krules-{me}");
    let cron_dir_existed = Path::new("/etc/cron.d").is_dir();
    std::fs::create_dir_all("/etc/cron.d").unwrap();
    let writer = Command::new("/bin/sh")
        .args([
            "-c",
            r#"printf '\177ELF' > "$1" && printf '# test\n' > "$2""#,
            "sh",
            &so,
            &cron,
        ])
        .spawn()
        .unwrap();
    let writer_pid = writer.id().to_string();
    let wrote = writer.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&cron);
    let _ = std::fs::remove_file(&so);
    if !cron_dir_existed {
        let _ = std::fs::remove_dir("/etc/cron.d");
    }
    assert!(wrote.status.success(), "the writes failed: {wrote:?}");

    let wanted = [
        "exec of sh",
        "udp socket",
        "udp connect",
        "so write",
        "cron write",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut buf = vec![0u8; 16384];
    while seen.len() < wanted.len() && std::time::Instant::now() < deadline {
        // SAFETY: recv into our own buffer of the given length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n <= 0 {
            continue;
        }
        auditwatch::kernel::netlink::split_datagram(&buf[..n as usize], |t, _, body| {
            if t != 1300 {
                return;
            }
            let text = String::from_utf8_lossy(body);
            let keys = record_keys(&text);
            let has = |k: &str| keys.iter().any(|x| x == k);
            let (sc, pid) = (field(&text, "syscall"), field(&text, "pid"));
            if sc == Some("59")
                && pid == Some(&shell_pid.to_string())
                && has("apt_netcon")
                && has("udp_revshell")
            {
                seen.insert("exec of sh");
            }
            if sc == Some("41")
                && has("udp_revshell")
                && field(&text, "a0") == Some("2")
                && field(&text, "a1") == Some("2")
            {
                seen.insert("udp socket");
            }
            if sc == Some("42") && has("udp_revshell") && has("apt_netcon") {
                seen.insert("udp connect");
            }
            if has("so_change") && pid == Some(&writer_pid) {
                seen.insert("so write");
            }
            if has("cron_change") && pid == Some(&writer_pid) {
                seen.insert("cron write");
            }
        });
    }
    let missing: Vec<_> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "no event for {missing:?} (saw {seen:?}; the kernel lost {} records meanwhile)",
        lost_count().saturating_sub(lost_before)
    );
}

/// The kernel's count of records it lost (`auditctl -s`).
fn lost_count() -> u64 {
    let (_, out, _) = auditctl(&["-s"]);
    out.lines()
        .find_map(|l| l.strip_prefix("lost ")?.trim().parse().ok())
        .unwrap_or(0)
}
