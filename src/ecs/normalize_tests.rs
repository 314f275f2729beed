//! Normaliser tests: one per mapping point, from audit log lines through the reassembler.

use super::*;
use crate::assemble::Reassembler;
use crate::record::Record;

fn events(text: &str) -> Vec<AuditEvent> {
    let mut r = Reassembler::default();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        r.push(
            Record::parse_log_line(line.as_bytes()).expect("test line parses"),
            &mut out,
        );
    }
    r.flush(&mut out);
    out
}

fn normalize_all(n: &mut Normalizer, text: &str) -> Vec<Event> {
    events(text).iter().map(|e| n.normalize(e)).collect()
}

fn one(text: &str) -> Event {
    let mut n = Normalizer::new(HostInfo::named("h1", "0123456789abcdef0123456789abcdef"));
    let mut evs = normalize_all(&mut n, text);
    assert_eq!(evs.len(), 1, "one event");
    evs.remove(0)
}

fn s<'e>(ev: &'e Event, k: &str) -> &'e str {
    ev.get_str(k)
        .unwrap_or_else(|| panic!("{k} missing in {:#?}", ev.fields))
}

fn list(ev: &Event, k: &str) -> Vec<String> {
    match ev.get(k) {
        Some(Value::List(l)) => l
            .iter()
            .map(|v| v.as_str().unwrap_or("<non-str>").to_owned())
            .collect(),
        other => panic!("{k} is not a list: {other:?}"),
    }
}

const EXEC: &str = r#"
type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exit=0 a0=55d5 a1=55d6 a2=55d7 a3=0 items=2 ppid=900 pid=1000 auid=1000 uid=1000 gid=1000 euid=0 suid=0 fsuid=0 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="sh" exe="/usr/bin/dash" key="exec"
type=EXECVE msg=audit(1700000000.100:10): argc=3 a0="sh" a1="-c" a2=6563686F20226869207468657265223B206964
type=CWD msg=audit(1700000000.100:10): cwd="/home/alice"
type=PATH msg=audit(1700000000.100:10): item=0 name="/bin/sh" inode=1593 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=PATH msg=audit(1700000000.100:10): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=4382 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=PROCTITLE msg=audit(1700000000.100:10): proctitle=7368002D63006563686F
type=EOE msg=audit(1700000000.100:10):
"#;

#[test]
fn exec_with_hex_args() {
    let ev = one(EXEC);
    assert_eq!(s(&ev, "event.action"), "executed");
    assert_eq!(list(&ev, "event.category"), ["process"]);
    assert_eq!(list(&ev, "event.type"), ["start"]);
    assert_eq!(s(&ev, "event.outcome"), "success");
    assert_eq!(s(&ev, "event.module"), "auditd");
    assert_eq!(s(&ev, "@timestamp"), "2023-11-14T22:13:20.100Z");
    assert_eq!(
        list(&ev, "process.args"),
        ["sh", "-c", "echo \"hi there\"; id"]
    );
    assert_eq!(ev.get("process.args_count"), Some(&Value::Int(3)));
    assert_eq!(
        s(&ev, "process.command_line"),
        "sh -c echo \"hi there\"; id"
    );
    assert_eq!(s(&ev, "process.title"), "sh -c echo");
    assert_eq!(s(&ev, "process.name"), "sh");
    assert_eq!(s(&ev, "process.executable"), "/usr/bin/dash");
    assert_eq!(s(&ev, "process.working_directory"), "/home/alice");
    assert_eq!(ev.get("process.pid"), Some(&Value::Int(1000)));
    assert_eq!(ev.get("process.parent.pid"), Some(&Value::Int(900)));
    assert_eq!(s(&ev, "process.entity_id").len(), 32);
    assert_eq!(s(&ev, "user.id"), "1000");
    assert_eq!(s(&ev, "user.audit.id"), "1000");
    assert_eq!(s(&ev, "user.effective.id"), "0");
    assert_eq!(s(&ev, "user.group.id"), "1000");
    assert_eq!(s(&ev, "file.path"), "/bin/sh");
    assert_eq!(s(&ev, "file.name"), "sh");
    assert_eq!(s(&ev, "file.directory"), "/bin");
    assert_eq!(s(&ev, "file.mode"), "0755");
    assert_eq!(s(&ev, "file.inode"), "1593");
    assert_eq!(s(&ev, "auditd.data.syscall"), "execve");
    assert_eq!(s(&ev, "auditd.data.arch"), "x86_64");
    assert_eq!(s(&ev, "auditd.data.a0"), "55d5");
    assert_eq!(s(&ev, "auditd.data.argc"), "3");
    assert_eq!(s(&ev, "auditd.session"), "3");
    assert_eq!(s(&ev, "auditd.message_type"), "syscall");
    assert_eq!(ev.get("auditd.sequence"), Some(&Value::Int(10)));
    assert_eq!(s(&ev, "auditd.summary.object.primary"), "/bin/sh");
    assert_eq!(s(&ev, "auditd.summary.actor.primary"), "1000");
    assert_eq!(
        list(&ev, "auditd.paths.name"),
        ["/bin/sh", "/lib64/ld-linux-x86-64.so.2"]
    );
    assert_eq!(list(&ev, "tags"), ["exec"]);
    assert_eq!(s(&ev, "host.os.type"), "linux");
    assert_eq!(s(&ev, "host.name"), "h1");
    assert_eq!(s(&ev, "host.id"), "0123456789abcdef0123456789abcdef");
    // Moved out of auditd.data, as Auditbeat does.
    assert!(ev.get("auditd.data.pid").is_none() && ev.get("auditd.data.uid").is_none());
    assert!(ev.get("auditd.incomplete").is_none());
    let d = defend_view(&ev).expect("exec has a Defend view");
    assert_eq!(s(&d, "event.action"), "exec");
}

#[test]
fn udp_socket_keeps_kernel_hex_args() {
    let ev = one(
        "type=SYSCALL msg=audit(1700000000.200:11): arch=c000003e syscall=41 success=yes exit=3 a0=2 a1=2 a2=0 a3=7ffd items=0 ppid=1 pid=1200 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm=\"nc\" exe=\"/usr/bin/nc.openbsd\" key=(null)\n\
         type=EOE msg=audit(1700000000.200:11):",
    );
    assert_eq!(s(&ev, "auditd.data.syscall"), "socket");
    assert_eq!(s(&ev, "auditd.data.a0"), "2");
    assert_eq!(s(&ev, "auditd.data.a1"), "2");
    assert_eq!(s(&ev, "auditd.data.exit"), "3");
    assert_eq!(list(&ev, "event.category"), ["process"]);
    assert_eq!(list(&ev, "event.type"), ["info"]);
    assert!(
        ev.get("event.action").is_none(),
        "socket() has no action in Auditbeat"
    );
    assert!(ev.get("tags").is_none());
    assert!(defend_view(&ev).is_none());
}

#[test]
fn connect_ipv4_and_ipv6_egress() {
    let ev = one(
        "type=SYSCALL msg=audit(1700000000.300:12): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffc a2=10 a3=0 items=0 ppid=1 pid=1300 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"curl\" exe=\"/usr/bin/curl\" key=\"net\"\n\
         type=SOCKADDR msg=audit(1700000000.300:12): saddr=020001BB5DB8D8220000000000000000\n\
         type=EOE msg=audit(1700000000.300:12):",
    );
    assert_eq!(s(&ev, "event.action"), "connected-to");
    assert_eq!(list(&ev, "event.category"), ["network"]);
    assert_eq!(list(&ev, "event.type"), ["connection", "start"]);
    assert_eq!(s(&ev, "event.outcome"), "failure");
    assert_eq!(s(&ev, "destination.ip"), "93.184.216.34");
    assert_eq!(ev.get("destination.port"), Some(&Value::Int(443)));
    assert_eq!(s(&ev, "network.direction"), "egress");
    assert_eq!(s(&ev, "auditd.data.exit"), "EINPROGRESS");
    assert_eq!(s(&ev, "auditd.data.socket.family"), "ipv4");
    assert_eq!(s(&ev, "auditd.data.socket.addr"), "93.184.216.34");
    assert!(
        ev.get("auditd.session").is_none(),
        "unset session is left out"
    );
    assert!(ev.get("user.audit.id").is_none(), "unset auid is left out");
    let d = defend_view(&ev).expect("connect has a Defend view");
    assert_eq!(s(&d, "event.action"), "connection_attempted");
    assert_eq!(list(&d, "event.category"), ["network"]);
    assert_eq!(s(&d, "destination.ip"), "93.184.216.34");

    // 2606:2800:220:1:248:1893:25c8:1946 port 80.
    let ev = one(
        "type=SYSCALL msg=audit(1700000000.400:13): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=7ffc a2=1c a3=0 items=0 ppid=1 pid=1301 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"curl\" exe=\"/usr/bin/curl\" key=(null)\n\
         type=SOCKADDR msg=audit(1700000000.400:13): saddr=0A0000500000000026062800022000010248189325C8194600000000",
    );
    assert_eq!(
        s(&ev, "destination.ip"),
        "2606:2800:220:1:248:1893:25c8:1946"
    );
    assert_eq!(ev.get("destination.port"), Some(&Value::Int(80)));
    assert_eq!(s(&ev, "network.direction"), "egress");
    assert_eq!(s(&ev, "auditd.data.socket.family"), "ipv6");
}

#[test]
fn accept_is_ingress_with_source() {
    let ev = one(
        "type=SYSCALL msg=audit(1492752520.441:8832): arch=c000003e syscall=43 success=yes exit=5 a0=3 a1=7ffd0dc80040 a2=7ffd0dc7ffd0 a3=0 items=0 ppid=1 pid=1663 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sshd\" exe=\"/usr/sbin/sshd\" key=\"key=net\"\n\
         type=SOCKADDR msg=audit(1492752520.441:8832): saddr=0200E31C4853E6640000000000000000",
    );
    assert_eq!(s(&ev, "source.ip"), "72.83.230.100");
    assert_eq!(ev.get("source.port"), Some(&Value::Int(58140)));
    assert_eq!(s(&ev, "network.direction"), "ingress");
    assert_eq!(list(&ev, "tags"), ["net"]);
    assert!(ev.get("destination.ip").is_none());
}

#[test]
fn unix_connect_keeps_abstract_path() {
    // sun_path "\0mysock".
    let ev = one(
        "type=SYSCALL msg=audit(1700000000.500:14): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=7ffc a2=a a3=0 items=0 ppid=1 pid=1400 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"app\" exe=\"/usr/bin/app\" key=(null)\n\
         type=SOCKADDR msg=audit(1700000000.500:14): saddr=0100006D79736F636B",
    );
    assert_eq!(s(&ev, "destination.path"), "@mysock");
    assert_eq!(s(&ev, "auditd.data.socket.family"), "unix");
}

const CREATE_AND_RENAME: &str = r#"
type=SYSCALL msg=audit(1700000001.000:20): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=5600 a2=241 a3=1b6 items=2 ppid=1 pid=1500 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm="vim" exe="/usr/bin/vim.basic" key="files"
type=CWD msg=audit(1700000001.000:20): cwd="/home/alice"
type=PATH msg=audit(1700000001.000:20): item=0 name="/tmp/" inode=2 dev=08:01 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000001.000:20): item=1 name="/tmp/notes.txt" inode=77 dev=08:01 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE
type=EOE msg=audit(1700000001.000:20):
type=SYSCALL msg=audit(1700000001.100:21): arch=c000003e syscall=82 success=yes exit=0 a0=5600 a1=5601 a2=0 a3=0 items=4 ppid=1 pid=1500 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm="vim" exe="/usr/bin/vim.basic" key="files"
type=CWD msg=audit(1700000001.100:21): cwd="/home/alice"
type=PATH msg=audit(1700000001.100:21): item=0 name="/tmp/" inode=2 dev=08:01 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000001.100:21): item=1 name="/tmp/" inode=2 dev=08:01 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000001.100:21): item=2 name="/tmp/notes.txt" inode=77 dev=08:01 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=DELETE
type=PATH msg=audit(1700000001.100:21): item=3 name="/tmp/run.sh" inode=77 dev=08:01 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE
type=EOE msg=audit(1700000001.100:21):
"#;

#[test]
fn file_create_then_rename_with_defend_view() {
    let mut n = Normalizer::new(HostInfo::named("h", "id"));
    let evs = normalize_all(&mut n, CREATE_AND_RENAME);
    assert_eq!(evs.len(), 2);
    let create = &evs[0];
    assert_eq!(s(create, "event.action"), "opened-file");
    assert_eq!(s(create, "file.path"), "/tmp/notes.txt");
    assert_eq!(s(create, "file.extension"), "txt");
    assert_eq!(s(create, "file.uid"), "1000");
    assert_eq!(list(create, "auditd.paths.nametype"), ["PARENT", "CREATE"]);
    let d = defend_view(create).expect("creation view");
    assert_eq!(s(&d, "event.action"), "creation");
    assert_eq!(list(&d, "event.type"), ["creation"]);
    assert_eq!(s(&d, "file.path"), "/tmp/notes.txt");

    let rename = &evs[1];
    assert_eq!(s(rename, "event.action"), "renamed");
    assert_eq!(list(rename, "event.type"), ["change"]);
    // Auditbeat's file object for rename is the old name (path_index 2).
    assert_eq!(s(rename, "file.path"), "/tmp/notes.txt");
    assert_eq!(
        list(rename, "auditd.paths.nametype"),
        ["PARENT", "PARENT", "DELETE", "CREATE"]
    );
    let d = defend_view(rename).expect("rename view");
    assert_eq!(s(&d, "event.action"), "rename");
    assert_eq!(list(&d, "event.category"), ["file"]);
    assert_eq!(s(&d, "file.path"), "/tmp/run.sh");
    assert_eq!(s(&d, "file.extension"), "sh");
    assert_eq!(s(&d, "file.Ext.original.path"), "/tmp/notes.txt");
    assert_eq!(s(&d, "file.Ext.original.name"), "notes.txt");
    assert_eq!(s(&d, "file.Ext.original.extension"), "txt");
    assert_eq!(s(&d, "process.executable"), "/usr/bin/vim.basic");
}

fn sys(seq: u32, ms: u32, nr: u32, pid: u32, ppid: u32, exe: &str, exit: i64) -> String {
    let comm = exe.rsplit('/').next().unwrap_or(exe);
    format!(
        "type=SYSCALL msg=audit(1700000002.{ms:03}:{seq}): arch=c000003e syscall={nr} success=yes exit={exit} a0=1200011 a1=0 a2=0 a3=0 items=0 ppid={ppid} pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=2 comm=\"{comm}\" exe=\"{exe}\" key=(null)\ntype=EOE msg=audit(1700000002.{ms:03}:{seq}):\n"
    )
}

fn exec(seq: u32, ms: u32, pid: u32, ppid: u32, exe: &str, args: &[&str]) -> String {
    let mut out = sys(seq, ms, 59, pid, ppid, exe, 0).replace("type=EOE", "type=EXECVE");
    // The EOE line became EXECVE: give it the arguments, then end the event.
    let argv: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| format!("a{i}=\"{a}\""))
        .collect();
    out = out.trim_end().to_string();
    out.push_str(&format!(
        " argc={} {}\ntype=EOE msg=audit(1700000002.{ms:03}:{seq}):\n",
        args.len(),
        argv.join(" ")
    ));
    out
}

#[test]
fn process_table_links_parents_including_fork_without_exec() {
    let mut n = Normalizer::new(HostInfo::named("h", "hostid"));
    let mut log = String::new();
    log += &exec(30, 1, 2000, 1, "/usr/bin/bash", &["bash", "-i"]);
    // bash forks a background job (clone audited) that connects without exec.
    log += &sys(31, 2, 56, 2000, 1, "/usr/bin/bash", 2001);
    log += &sys(32, 3, 42, 2001, 2000, "/usr/bin/bash", 0);
    // Another fork that was not audited: learned from its first event.
    log += &sys(33, 4, 42, 2002, 2000, "/usr/bin/bash", 0);
    // The background job execs nc.
    log += &exec(
        34,
        5,
        2003,
        2001,
        "/usr/bin/nc",
        &["nc", "10.0.0.1", "4444"],
    );
    log += &sys(35, 6, 231, 2003, 2001, "/usr/bin/nc", 0);
    let evs = normalize_all(&mut n, &log);
    assert_eq!(evs.len(), 6);
    let bash = s(&evs[0], "process.entity_id").to_owned();
    assert_eq!(
        s(&evs[1], "process.entity_id"),
        bash,
        "bash's clone is bash"
    );

    let job = &evs[2];
    assert_eq!(job.get("process.pid"), Some(&Value::Int(2001)));
    assert_ne!(s(job, "process.entity_id"), bash);
    assert_eq!(s(job, "process.parent.entity_id"), bash);
    assert_eq!(
        list(job, "process.args"),
        ["bash", "-i"],
        "fork without exec keeps the image's args"
    );
    assert_eq!(list(job, "process.parent.args"), ["bash", "-i"]);
    assert_eq!(s(job, "process.parent.executable"), "/usr/bin/bash");
    assert_eq!(s(job, "process.parent.command_line"), "bash -i");

    let unaudited = &evs[3];
    assert_eq!(s(unaudited, "process.parent.entity_id"), bash);
    assert_eq!(list(unaudited, "process.args"), ["bash", "-i"]);

    let nc = &evs[4];
    assert_eq!(
        s(nc, "process.parent.entity_id"),
        s(job, "process.entity_id")
    );
    assert_eq!(list(nc, "process.args"), ["nc", "10.0.0.1", "4444"]);
    assert_eq!(s(nc, "process.parent.name"), "bash");
    assert_eq!(s(&evs[5], "process.entity_id"), s(nc, "process.entity_id"));
    // exit_group pruned nc.
    assert!(n.processes().get(2003).is_none());
    let st = n.stats();
    assert_eq!(
        (st.events, st.processes.from_fork, st.processes.exited),
        (6, 1, 1)
    );
    assert_eq!(st.processes.from_exec, 2);
}

#[test]
fn replay_twice_gives_the_same_entity_ids() {
    let log = exec(40, 1, 3000, 1, "/bin/ls", &["ls"]);
    let a = one(&log);
    let b = one(&log);
    assert_eq!(s(&a, "process.entity_id"), s(&b, "process.entity_id"));
}

#[test]
fn user_login_and_names() {
    let line = "type=USER_LOGIN msg=audit(1492896301.818:19955): pid=12635 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=28696E76616C6964207573657229 exe=\"/usr/sbin/sshd\" hostname=? addr=179.38.151.221 terminal=sshd res=failed'";
    let ev = one(line);
    assert_eq!(s(&ev, "event.action"), "logged-in");
    assert_eq!(list(&ev, "event.category"), ["authentication"]);
    assert_eq!(s(&ev, "event.outcome"), "failure");
    assert_eq!(s(&ev, "source.ip"), "179.38.151.221");
    assert_eq!(s(&ev, "network.direction"), "ingress");
    assert_eq!(s(&ev, "auditd.data.acct"), "(invalid user)");
    assert_eq!(s(&ev, "user.effective.name"), "(invalid user)");
    // The entity `user` is the unset auid: Auditbeat drops user.id then.
    assert!(ev.get("user.id").is_none());
    assert!(
        ev.get("auditd.data.addr").is_none(),
        "addr moved to source.ip"
    );
    assert_eq!(s(&ev, "auditd.summary.object.primary"), "sshd");

    // ENRICHED names are used; the replaying host's accounts are not.
    let enriched = "type=SYSCALL msg=audit(1700000003.000:50): arch=c000003e syscall=2 success=yes exit=3 a0=1 a1=0 a2=0 a3=0 items=1 ppid=1 pid=5000 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"cat\" exe=\"/bin/cat\" key=(null)\x1dARCH=x86_64 SYSCALL=open AUID=\"alice\" UID=\"root\" GID=\"root\" EUID=\"root\" SUID=\"root\" FSUID=\"root\" EGID=\"root\" SGID=\"root\" FSGID=\"root\"\n\
        type=PATH msg=audit(1700000003.000:50): item=0 name=\"/etc/shadow\" inode=5 dev=08:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL\x1dOUID=\"root\" OGID=\"shadow\"";
    let ev = one(enriched);
    assert_eq!(s(&ev, "user.name"), "root");
    assert_eq!(s(&ev, "user.audit.name"), "alice");
    assert_eq!(s(&ev, "file.owner"), "root");
    assert_eq!(s(&ev, "file.group"), "shadow");
    let raw = enriched.split('\x1d').next().unwrap_or_default();
    let ev = one(raw);
    assert!(
        ev.get("user.name").is_none(),
        "replay does not invent names"
    );
    let mut live =
        Normalizer::new(HostInfo::named("h", "i")).with_names(Box::new(AccountNames::host()));
    let ev = normalize_all(&mut live, raw).remove(0);
    assert_eq!(s(&ev, "user.name"), "root");
}

#[test]
fn incomplete_events_are_marked() {
    // A stream with EOE records (the kernel's) where one event never gets its EOE: the
    // reassembler flushes it as incomplete at the end of input. (auditd's logs carry no EOE at
    // all; there a timeout is the normal end of an event.)
    let mut n = Normalizer::new(HostInfo::named("h1", "0123456789abcdef0123456789abcdef"));
    let evs = normalize_all(
        &mut n,
        "type=SYSCALL msg=audit(1700000004.000:59): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 ppid=1 pid=5999 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"x\" exe=\"/bin/x\" key=(null)
         type=EOE msg=audit(1700000004.000:59):
         type=SYSCALL msg=audit(1700000004.000:60): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 ppid=1 pid=6000 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"x\" exe=\"/bin/x\" key=(null)",
    );
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].get("auditd.incomplete"), None);
    let ev = &evs[1];
    assert_eq!(ev.get("auditd.incomplete"), Some(&Value::Bool(true)));
    assert_eq!(s(ev, "event.action"), "executed");
}

#[test]
fn hostile_values_do_not_panic() {
    let lines = [
        "type=SYSCALL msg=audit(1.000:1): arch=zz syscall=abc success=maybe exit=-999999999999999999999 pid=-1 ppid=x",
        "type=SOCKADDR msg=audit(1.000:2): saddr=02",
        "type=PATH msg=audit(1.000:3): item=0 name=ZZ mode=9999 nametype=CREATE",
        "type=EXECVE msg=audit(1.000:4): argc=99999999999 a0=\"x\"",
        "type=UNKNOWN[9999] msg=audit(1.000:5): foo=bar",
    ];
    let mut n = Normalizer::new(HostInfo::named("h", "i"));
    for l in lines {
        for e in events(l) {
            let ev = n.normalize(&e);
            assert!(ev.get("event.kind").is_some());
            let _ = defend_view(&ev);
        }
    }
}

#[test]
fn exec_without_execve_record_uses_proctitle_for_the_image() {
    let mut n = Normalizer::new(HostInfo::named("h", "i"));
    let log = "type=SYSCALL msg=audit(1700000005.000:70): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 ppid=1 pid=7000 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"python3\" exe=\"/usr/bin/python3.11\" key=(null)\n\
        type=PROCTITLE msg=audit(1700000005.000:70): proctitle=707974686F6E33002D63007072696E74283129\n\
        type=EOE msg=audit(1700000005.000:70):\n";
    let evs = normalize_all(&mut n, log);
    assert_eq!(s(&evs[0], "process.title"), "python3 -c print(1)");
    assert_eq!(list(&evs[0], "process.args"), ["python3", "-c", "print(1)"]);
    // A user-space record that introduced a pid first does not split its image later.
    let mut n = Normalizer::new(HostInfo::named("h", "i"));
    let log = "type=USER_CMD msg=audit(1700000006.000:80): pid=8000 uid=1000 auid=1000 ses=1 msg='cwd=\"/\" cmd=\"id\" terminal=pts/0 res=success'\n".to_string()
        + &sys(81, 1, 42, 8000, 1, "/usr/bin/sudo", 0);
    let evs = normalize_all(&mut n, &log);
    assert_eq!(
        s(&evs[0], "process.entity_id"),
        s(&evs[1], "process.entity_id")
    );
}

#[test]
fn forged_path_record_with_many_keys_is_bounded() {
    let keys: Vec<String> = (0..5_000).map(|i| format!("k{i}=v")).collect();
    let log = format!(
        "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 success=yes exit=3 a0=1 a1=0 a2=0 a3=0 items=1 ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"x\" exe=\"/bin/x\" key=(null)\n\
         type=PATH msg=audit(1.000:1): item=0 name=\"/etc/passwd\" nametype=NORMAL {}\n\
         type=EOE msg=audit(1.000:1):",
        keys.join(" ")
    );
    let ev = one(&log);
    let cols = ev
        .fields
        .iter()
        .filter(|(k, _)| k.starts_with("auditd.paths."))
        .count();
    assert!(cols <= 64, "{cols} path columns");
    assert_eq!(list(&ev, "auditd.paths.name"), ["/etc/passwd"]);
    assert_eq!(s(&ev, "file.path"), "/etc/passwd");
}

#[test]
fn path_columns_stay_aligned_when_records_differ() {
    let ev = one(
        "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=82 success=yes exit=0 a0=1 a1=0 a2=0 a3=0 items=3 ppid=1 pid=9 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"mv\" exe=\"/bin/mv\" key=(null)\n\
         type=PATH msg=audit(1.000:1): item=0 name=\"/a\" nametype=PARENT\n\
         type=PATH msg=audit(1.000:1): item=1 inode=7 nametype=DELETE inode=8\n\
         type=PATH msg=audit(1.000:1): nametype=CREATE item=2 name=\"/b\" extra=x\n\
         type=EOE msg=audit(1.000:1):",
    );
    let col = |k: &str| match ev.get(k) {
        Some(Value::List(l)) => l.clone(),
        other => panic!("{k}: {other:?}"),
    };
    let st = |s: &str| Value::from(s);
    assert_eq!(col("auditd.paths.item"), [st("0"), st("1"), st("2")]);
    assert_eq!(col("auditd.paths.name"), [st("/a"), Value::Null, st("/b")]);
    // A key repeated in one record keeps its last value.
    assert_eq!(
        col("auditd.paths.inode"),
        [Value::Null, st("8"), Value::Null]
    );
    assert_eq!(
        col("auditd.paths.nametype"),
        [st("PARENT"), st("DELETE"), st("CREATE")]
    );
    assert_eq!(
        col("auditd.paths.extra"),
        [Value::Null, Value::Null, st("x")]
    );
}
