//! auditctl syntax → rules: options, values, controls, errors, the loader and the bundled set.

use auditwatch::kernel::rules::fields::{id, op};
use auditwatch::kernel::rules::{
    bundled, decode, load_dirs, parse_line, parse_str, self_exclusion, Action, Control, Directive,
    List, Rule, SelfId, Value, BUNDLED_FILES, HEADER_LEN,
};
use std::path::PathBuf;

fn rule(line: &str) -> Rule {
    match parse_line(line)
        .unwrap_or_else(|e| panic!("`{line}`: {e}"))
        .as_slice()
    {
        [Directive::Add(r)] => r.clone(),
        other => panic!("`{line}`: expected one rule, got {other:?}"),
    }
}

fn err(line: &str) -> String {
    parse_line(line).expect_err(line)
}

fn field(r: &Rule, fid: u32) -> &auditwatch::kernel::rules::Field {
    r.fields
        .iter()
        .find(|f| f.id == fid)
        .unwrap_or_else(|| panic!("no field {fid} in {r:?}"))
}

#[test]
fn list_and_action_in_either_order() {
    for line in ["-a always,exit -S 59", "-a exit,always -S 59"] {
        let r = rule(line);
        assert_eq!(
            (r.list, r.action, r.prepend),
            (List::Exit, Action::Always, false)
        );
        assert_eq!(r.syscalls(), vec![59]);
    }
    let r = rule("-A never,task -F uid=0");
    assert_eq!(
        (r.list, r.action, r.prepend),
        (List::Task, Action::Never, true)
    );
    assert_eq!(
        &r.to_bytes()[..4],
        &0x11u32.to_ne_bytes(),
        "prepend flag 0x10 | task 1"
    );
    assert_eq!(r.mask, [0; 64], "task rules carry no syscalls");
    assert!(rule("-a always,user -F uid=0").all_syscalls());
    assert!(
        rule("-a always,exit -F uid=0").all_syscalls(),
        "exit rule without -S means all"
    );
    let r = rule("-a always,io_uring -S 3");
    assert_eq!(
        (r.list, r.to_auditctl().as_str()),
        (List::IoUring, "-a always,io_uring -S 3")
    );
    let r = rule("-a always,filesystem -F fstype=0x9fa0");
    assert_eq!(
        r.to_auditctl(),
        "-a always,filesystem -F fstype=40864",
        "as auditctl 3.0 lists it"
    );
    assert!(err("-a always,sometimes").contains("expected a list"));
    assert!(err("-a possible,exit").contains("deprecated"));
    assert!(err("-a always,entry").contains("deprecated"));
}

#[test]
fn operators_encode_as_the_kernel_expects() {
    let r = rule("-a always,exit -S 1 -F a0=1 -F a1!=2 -F a2<3 -F a3>4 -F pid<=5 -F ppid>=6 -F uid&7 -F gid&=8");
    let ops: Vec<u32> = r.fields.iter().map(|f| f.op).collect();
    assert_eq!(
        ops,
        [
            op::EQUAL,
            op::NOT_EQUAL,
            op::LESS_THAN,
            op::GREATER_THAN,
            op::LESS_THAN_OR_EQUAL,
            op::GREATER_THAN_OR_EQUAL,
            op::BIT_MASK,
            op::BIT_TEST
        ]
    );
    assert_eq!(ops[0], 0x4000_0000);
    assert_eq!(ops[7], 0x4800_0000);
}

#[test]
fn values_follow_libaudit() {
    let r = rule("-a always,exit -S 2 -F uid=010 -F gid=0x10 -F auid=unset -F euid=-1 -F a0=-1 -F a1=0xffffffff -F exit=-5");
    let nums: Vec<u32> = r.fields.iter().map(|f| f.value.num().unwrap()).collect();
    assert_eq!(
        nums,
        [
            8,
            16,
            u32::MAX,
            u32::MAX,
            u32::MAX,
            u32::MAX,
            (-5i32) as u32
        ]
    );
    assert_eq!(
        field(&rule("-a always,exit -S 2 -F uid=root"), id::UID).value,
        Value::Num(0)
    );
    assert!(field(&rule("-a always,exit -S 2 -F gid=root"), id::GID).value == Value::Num(0));
    assert!(err("-a always,exit -F uid=no-such-user-xyz").contains("Unknown user"));
    assert!(err("-a always,exit -F pid=-1").contains("should be number for pid"));
    assert!(
        err("-a always,exit -F pid=12abc").contains("should be number"),
        "trailing garbage is an error"
    );
    assert!(err("-a always,exit -F a0=0x1ffffffff").contains("32-bit"));
    assert_eq!(
        field(&rule("-a always,exit -F perm=wa -F dir=/etc"), id::PERM).value,
        Value::Num(10)
    );
    assert_eq!(
        field(&rule("-a always,exit -F filetype=dir"), id::FILETYPE).value,
        Value::Num(0o040000)
    );
    assert!(err("-a always,exit -F perm=rwxz").contains("rwxa"));
    assert!(err("-a always,exit -F perm!=w").contains("only takes ="));
}

#[test]
fn fields_are_checked_against_their_list() {
    assert!(err("-a always,exit -F msgtype=1300").contains("exclude or user"));
    assert!(err("-a always,user -F exit=1").contains("exit list"));
    assert!(err("-a always,task -F exe=/bin/ls").contains("exit or exclude list"));
    assert_eq!(
        field(&rule("-a always,exclude -F exe=/bin/ls"), id::EXE).value,
        Value::Str(b"/bin/ls".to_vec())
    );
    assert!(err("-a always,exclude -F ppid=1").contains("exclude list"));
    assert!(err("-a always,task -F path=/etc/passwd").contains("exit list"));
    assert!(err("-a always,exit -F fstype=0x9fa0").contains("filesystem"));
    assert_eq!(
        field(&rule("-a always,filesystem -F fstype=0x9fa0"), id::FSTYPE).value,
        Value::Num(0x9fa0)
    );
    assert!(err("-a always,exit -F path=/etc/").contains("cannot end in /"));
    assert!(err("-a always,exit -F path=etc").contains("absolute"));
    assert!(err("-a always,exit -F path=/a -F dir=/b").contains("only one path"));
    assert!(err("-a always,exit -F inode>3").contains("= or !="));
    assert!(err("-a always,task -S 59").contains("task"));
}

#[test]
fn arch_comes_first_and_picks_the_syscall_table() {
    assert_eq!(
        err("-a always,exit -S 59 -F arch=b64"),
        "arch must be before -S"
    );
    let r = rule("-a always,exit -F arch=b64 -S 59");
    assert_eq!(field(&r, id::ARCH).value, Value::Num(0xC000_003E));
    let r = rule("-a always,exit -F arch=b32 -S 11");
    assert_eq!(field(&r, id::ARCH).value, Value::Num(0x4000_0003));
    assert_eq!(
        field(&rule("-a always,exit -F arch!=x86_64 -S 1"), id::ARCH).op,
        op::NOT_EQUAL
    );
    assert!(err("-a always,exit -F arch=vax -S 1").contains("unknown architecture"));
    assert!(err("-a always,exit -F arch>b64").contains("= or !="));
}

#[test]
fn keys_join_with_the_separator_and_go_last() {
    let r = rule("-a always,exit -S 59 -k one -F uid=0 -F key=two -k three");
    let last = r.fields.last().unwrap();
    assert_eq!(last.id, id::FILTERKEY);
    assert_eq!(last.value, Value::Str(b"one\x01two\x01three".to_vec()));
    assert_eq!(r.keys(), ["one", "two", "three"]);
    assert_eq!(r.fields.len(), 2, "uid, then the one key field");
    assert_eq!(
        err("-a always,exit -k early -S 59"),
        "key option needs a watch or syscall given prior to it"
    );
    assert!(err(&format!("-a always,exit -S 1 -k {}", "k".repeat(257))).contains("256"));
}

#[test]
fn watches_compile_like_auditctl() {
    let dir = std::env::temp_dir().join(format!("aw-krules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    // Existing directory → recursive `dir` watch, trailing slashes trimmed.
    let r = rule(&format!("-w {d}/ -p wa -k k"));
    assert_eq!((r.list, r.action), (List::Exit, Action::Always));
    assert!(r.all_syscalls());
    assert_eq!(r.fields[0].id, id::DIR);
    assert_eq!(r.fields[0].value, Value::Str(d.to_string().into_bytes()));
    assert_eq!(r.fields[1].value, Value::Num(10));
    assert_eq!(r.to_auditctl(), format!("-w {d} -p wa -k k"));
    // Missing path → inode `path` watch; no -p means rwxa.
    let r = rule(&format!("-w {d}/missing"));
    assert_eq!(r.fields[0].id, id::WATCH);
    assert_eq!(r.fields[1].value, Value::Num(15));
    assert_eq!(r.to_auditctl(), format!("-w {d}/missing -p rwxa"));
    // Quoted paths keep their spaces.
    let r = rule(&format!("-w '{d}/with space' -p w"));
    assert_eq!(
        r.fields[0].value,
        Value::Str(format!("{d}/with space").into_bytes())
    );
    assert!(matches!(
        parse_line(&format!("-W {d} -p wa")).unwrap()[0],
        Directive::Delete(_)
    ));
    assert!(err("-w relative/path").contains("start with '/'"));
    assert!(err("-p wa").contains("watch"));
    assert!(err("-w /tmp -S 59").contains("watch"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn control_lines() {
    let c = |l: &str| -> Vec<Control> {
        parse_line(l)
            .unwrap()
            .into_iter()
            .map(|d| match d {
                Directive::Control(c) => c,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(c("-D"), [Control::DeleteAll { key: None }]);
    assert_eq!(
        c("-D -k mykey"),
        [Control::DeleteAll {
            key: Some("mykey".into())
        }]
    );
    assert_eq!(c("-b 8192"), [Control::BacklogLimit(8192)]);
    assert_eq!(
        c("-b 320 -f 1"),
        [Control::BacklogLimit(320), Control::Failure(1)]
    );
    assert_eq!(c("-e 2"), [Control::Enabled(2)]);
    assert_eq!(c("-r 100"), [Control::RateLimit(100)]);
    assert_eq!(
        c("--backlog_wait_time 60000"),
        [Control::BacklogWaitTime(60000)]
    );
    assert_eq!(c("--backlog_wait_time=0"), [Control::BacklogWaitTime(0)]);
    assert_eq!(c("-i"), [Control::IgnoreErrors]);
    assert_eq!(c("-c"), [Control::ContinueOnError]);
    assert!(err("-e 3").contains("0 to 2"));
    assert!(err("-f x").contains("number"));
    assert!(err("-l").contains("command"));
    assert!(err("-D -a always,exit -S 1").contains("cannot also carry"));
    assert!(parse_line("   # comment").unwrap().is_empty());
    assert!(parse_line("").unwrap().is_empty());
}

#[test]
fn every_bad_line_is_reported_and_the_rest_load() {
    let text = "-a always,exit -S 59 -k ok1\n-a bogus\n\n# c\n-a always,exit -F nosuch=1\n-w /etc/hostname -p wa -k ok2\n-w 'unterminated\n";
    let (set, errors) = parse_str("t.rules", text);
    assert_eq!(set.rules().count(), 2);
    let lines: Vec<usize> = errors.iter().map(|e| e.origin.line).collect();
    assert_eq!(lines, [2, 5, 7]);
    assert!(
        errors[1]
            .to_string()
            .starts_with("t.rules:5: -F unknown field: nosuch"),
        "{}",
        errors[1]
    );
    assert!(errors[2].reason.contains("unterminated"));
    assert_eq!(set.entries[1].origin.line, 6);
}

#[test]
fn hostile_input_never_panics() {
    for line in [
        "-",
        "--",
        "-a",
        "-a ,",
        "-a always,",
        "-F",
        "-F =",
        "-F uid=",
        "-C",
        "-C uid",
        "-C =euid",
        "-S",
        "-a always,exit -S ,",
        "-a always,exit -S 99999999999",
        "-a always,exit -S 4000",
        "-a always,exit -F a0=-",
        "-a always,exit -F a0=0x",
        "-a always,exit -F exit=-",
        "-w",
        "-w /",
        "-w //",
        "-k",
        "\u{0}\u{1}",
        "-a always,exit -F uid=\u{ff}",
        "-a always,exit -C uid!=gid",
        "-a always,exit -C uid=nosuch",
    ] {
        let _ = parse_line(line);
    }
    let many = format!("-a always,exit -S 1{}", " -F uid=0".repeat(70));
    assert!(err(&many).contains("too many fields"));
    for len in [0usize, 10, HEADER_LEN - 1, HEADER_LEN] {
        let _ = decode(&vec![0xff; len]);
    }
    // A buffer length that overruns the data is an error, not a panic.
    let mut b = rule("-a always,exit -F arch=b64 -S 1 -F key=abc").to_bytes();
    b.truncate(b.len() - 1);
    assert!(decode(&b).is_err());
}

#[test]
fn comparisons() {
    let r = rule("-a always,exit -S 59 -C uid!=euid");
    assert_eq!(
        (r.fields[0].id, r.fields[0].op, r.fields[0].value.num()),
        (id::FIELD_COMPARE, op::NOT_EQUAL, Some(11))
    );
    assert_eq!(
        rule("-a always,exit -C obj_uid=auid").fields[0].value,
        Value::Num(5),
        "either order"
    );
    assert!(rule("-a always,exit -C auid=obj_uid")
        .to_auditctl()
        .ends_with("-C auid=obj_uid"));
    assert!(
        err("-a always,exit -C uid<euid").contains("no operator")
            || err("-a always,exit -C uid<euid").contains("unknown")
    );
    assert!(err("-a always,exit -C uid=gid").contains("cannot compare"));
    assert!(err("-a always,user -C uid=euid").contains("exit list"));
}

#[test]
fn self_exclusion_rule() {
    let r = self_exclusion(SelfId::Pid(4242));
    assert_eq!(r.to_auditctl(), "-a never,exit -S all -F pid=4242");
    assert_eq!(r.to_bytes(), rule("-a never,exit -F pid=4242").to_bytes());
    let r = self_exclusion(SelfId::Exe(PathBuf::from("/usr/sbin/auditwatch")));
    assert_eq!(
        r.to_bytes(),
        rule("-a never,exit -F exe=/usr/sbin/auditwatch").to_bytes()
    );
}

#[test]
fn load_dirs_sorts_across_directories_like_augenrules() {
    let base = std::env::temp_dir().join(format!("aw-krules-dirs-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        a.join("10-second.rules"),
        "-a always,exit -S 2 -k second\n-e 2\n",
    )
    .unwrap();
    std::fs::write(
        b.join("9-first.rules"),
        "-b 100\n-a always,exit -S 1 -k first\n",
    )
    .unwrap();
    std::fs::write(
        b.join("99-bad.rules"),
        "-a always,exit -S 3 -k third\n-a nonsense\n-D\n",
    )
    .unwrap();
    std::fs::write(a.join("ignored.txt"), "-a always,exit -S 4\n").unwrap();
    let (set, errors) = load_dirs(&[a.clone(), b.clone(), base.join("missing")]);
    let keys: Vec<Vec<String>> = set.rules().map(|r| r.keys()).collect();
    assert_eq!(keys, [["first"], ["second"], ["third"]]);
    let kinds: Vec<String> = set
        .entries
        .iter()
        .map(|e| match &e.directive {
            Directive::Control(c) => format!("{c:?}"),
            Directive::Add(r) => r.keys().join(","),
            Directive::Delete(_) => "del".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "DeleteAll { key: None }",
            "BacklogLimit(100)",
            "first",
            "second",
            "third",
            "Enabled(2)"
        ]
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .any(|e| e.origin.file.ends_with("99-bad.rules") && e.origin.line == 2));
    assert!(errors
        .iter()
        .any(|e| e.reason.contains("cannot read rules directory")));
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn bundled_rules_all_compile() {
    let (set, errors) = bundled();
    assert!(
        errors.is_empty(),
        "bundled lines that do not compile: {errors:#?}"
    );
    let lines: usize = BUNDLED_FILES
        .iter()
        .map(|(_, t)| {
            t.lines()
                .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .count()
        })
        .sum();
    assert_eq!(set.rules().count(), lines, "one rule per non-comment line");
    for r in set.rules() {
        let bytes = r.to_bytes();
        assert_eq!(Rule::from_bytes(&bytes).as_ref(), Ok(r));
        let again = rule(&r.to_auditctl());
        assert_eq!(again.to_bytes(), bytes, "round trip of `{r}`");
    }
    let keys: std::collections::BTreeSet<String> = set.rules().flat_map(|r| r.keys()).collect();
    for k in ["apt_netcon", "udp_revshell", "so_change", "cron_change"] {
        assert!(keys.contains(k), "no rule carries key {k}");
    }
}

#[test]
fn duplicate_rules_are_dropped_with_their_origin() {
    let (mut set, _) = parse_str(
        "d.rules",
        "-a always,exit -S 1 -k a\n-a exit,always -S 1 -k a\n-a always,exit -S 2\n",
    );
    let dropped = set.dedup_rules();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].line, 2);
    assert_eq!(set.rules().count(), 2);
}
