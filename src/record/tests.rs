use super::*;

fn parse(line: &str) -> Record {
    Record::parse_log_line(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn pairs(r: &Record) -> Vec<(String, String)> {
    r.fields()
        .map(|f| (f.key.to_string(), f.raw.to_string()))
        .collect()
}

fn parse_err(line: &[u8]) -> String {
    Record::parse_log_line(line).expect_err("must fail").message
}

#[test]
fn syscall_line() {
    let r = parse(
        "type=SYSCALL msg=audit(1170021493.977:293): arch=c000003e syscall=2 success=no \
         exit=-13 a0=5555665d91b0 tty=(none) comm=\"pickup\" exe=\"/usr/libexec/postfix/pickup\" \
         subj=system_u:system_r:postfix_pickup_t:s0 key=(null)\n",
    );
    assert_eq!(r.rtype(), 1300);
    assert_eq!(r.type_name(), "SYSCALL");
    assert_eq!((r.secs(), r.millis(), r.seq()), (1170021493, 977, 293));
    assert_eq!(r.timestamp_ms(), 1170021493977);
    assert_eq!(r.node(), None);
    assert_eq!(r.get("arch").unwrap().raw, "c000003e");
    assert_eq!(r.get("exit").unwrap().raw, "-13");
    let comm = r.get("comm").unwrap();
    assert_eq!((comm.raw, comm.kind), ("pickup", FieldKind::Quoted));
    assert_eq!(r.get("tty").unwrap().raw, "(none)");
    assert_eq!(r.get("tty").unwrap().kind, FieldKind::Plain);
    assert_eq!(r.get("key").unwrap().kind, FieldKind::Null);
    assert_eq!(
        r.get("subj").unwrap().raw,
        "system_u:system_r:postfix_pickup_t:s0"
    );
    assert_eq!(r.fields().count(), 10);
    assert!(r.raw_msg().starts_with("arch=c000003e "));
    assert!(r.raw_msg().ends_with("key=(null)"));
}

#[test]
fn node_and_unknown_type_and_numeric_type() {
    let r = parse("node=web-1 type=UNKNOWN[1399] msg=audit(1.5:7): op=x");
    assert_eq!(
        (r.node(), r.rtype(), r.millis()),
        (Some("web-1"), 1399, 500)
    );
    assert_eq!(r.type_name(), "UNKNOWN[1399]");
    // An older auditd names BPF records UNKNOWN[1334].
    assert_eq!(
        parse("type=UNKNOWN[1334] msg=audit(1.000:7): x=1").type_name(),
        "BPF"
    );
    assert_eq!(r.get("op").unwrap().raw, "x");
    let r = parse("type=1398 msg=audit(1.000:7): op=x");
    assert_eq!(r.rtype(), 1398);
}

#[test]
fn enriched_format() {
    let line = "type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 auid=1000 \
                key=\"exec\"\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"root\"";
    let r = parse(line);
    assert_eq!(r.get("syscall").unwrap().raw, "59");
    assert_eq!(r.get("key").unwrap().raw, "exec");
    assert_eq!(r.enriched("SYSCALL"), Some("execve"));
    assert_eq!(r.enriched("AUID"), Some("alice"));
    assert_eq!(r.enriched_fields().count(), 4);
    assert!(
        r.get("ARCH").is_none(),
        "enriched fields are not kernel fields"
    );
    assert!(r.raw_msg().ends_with("key=\"exec\""));
    let s = parse(
        "type=SOCKADDR msg=audit(1.000:2): saddr=0200\x1dSADDR={ saddr_fam=inet laddr=10.0.0.1 \
         lport=80 } X=1",
    );
    assert_eq!(
        s.enriched("SADDR"),
        Some("{ saddr_fam=inet laddr=10.0.0.1 lport=80 }")
    );
    assert_eq!(s.enriched("X"), Some("1"));
    assert_eq!(s.enriched_fields().count(), 2);
    // Over netlink the separator byte has no meaning and stays part of the text.
    let n = Record::from_netlink(1300, &line.as_bytes()[line.find("audit(").unwrap()..]).unwrap();
    assert_eq!(n.enriched_fields().count(), 0);
}

#[test]
fn netlink_payload() {
    let r = Record::from_netlink(1307, b"audit(1700000000.001:9):  cwd=\"/root\"\0").unwrap();
    assert_eq!(
        (r.rtype(), r.type_name().as_ref(), r.seq()),
        (1307, "CWD", 9)
    );
    assert_eq!(r.get("cwd").unwrap().raw, "/root");
    assert_eq!(r.raw_msg(), "cwd=\"/root\"");
    let e = Record::from_netlink(1300, b"arch=c000003e").unwrap_err();
    assert!(e.message.contains("audit("), "{e}");
}

#[test]
fn user_msg_is_flattened() {
    let r = parse(
        "type=USER_ACCT msg=audit(1170021601.340:294): user pid=13015 uid=0 auid=4294967295 \
         subj=system_u:system_r:crond_t:s0-s0:c0.c1023 msg='PAM: accounting acct=root : \
         exe=\"/usr/sbin/crond\" hostname=? addr=? terminal=cron res=success'",
    );
    let p = pairs(&r);
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["pid", "uid", "auid", "subj", "acct", "exe", "hostname", "addr", "terminal", "res"]
    );
    assert_eq!(r.get("res").unwrap().raw, "success");
    assert_eq!(r.get("hostname").unwrap().kind, FieldKind::Unset);
    assert_eq!(r.get("exe").unwrap().raw, "/usr/sbin/crond");
}

#[test]
fn old_pam_parenthesis_form() {
    let r = parse(
        "type=CRED_DISP msg=audit(1170021601.364:298): user pid=13015 uid=0 auid=0 \
         msg='PAM: setcred acct=root : exe=\"/usr/sbin/crond\" (hostname=?, addr=?, \
         terminal=cron res=success)'",
    );
    assert_eq!(r.get("hostname").unwrap().kind, FieldKind::Unset);
    assert_eq!(r.get("addr").unwrap().raw, "?");
    assert_eq!(r.get("res").unwrap().raw, "success");
}

#[test]
fn msg_without_fields_is_kept() {
    let r = parse("type=USER msg=audit(1.000:1): pid=1 uid=0 msg='hello world'");
    let m = r.get("msg").unwrap();
    assert_eq!((m.raw, m.kind), ("hello world", FieldKind::Quoted));
}

#[test]
fn selinux_avc() {
    let r = parse(
        "type=AVC msg=audit(1170021493.977:293): avc:  denied  { read write } for  pid=13010 \
         comm=\"pickup\" name=\"maildrop\" dev=hda7 tclass=dir",
    );
    assert_eq!(r.get("seresult").unwrap().raw, "denied");
    assert_eq!(r.get("seperms").unwrap().raw, "read,write");
    assert_eq!(r.get("pid").unwrap().raw, "13010");
    assert_eq!(r.get("tclass").unwrap().raw, "dir");
    assert!(r.raw_msg().starts_with("avc:  denied"));
    assert!(r.raw_msg().ends_with("tclass=dir"));
    let one = parse("type=AVC msg=audit(1.000:1): avc:  granted  { setenforce } for pid=1");
    assert_eq!(one.get("seperms").unwrap().raw, "setenforce");
    let apparmor =
        parse("type=AVC msg=audit(1.000:1): apparmor=\"DENIED\" operation=\"ptrace\" pid=5571");
    assert!(apparmor.get("seresult").is_none());
    assert_eq!(apparmor.get("apparmor").unwrap().raw, "DENIED");
}

#[test]
fn old_login_format() {
    let r = parse(
        "type=LOGIN msg=audit(1170021601.343:296): login pid=13015 uid=0 old auid=4294967295 \
         new auid=0",
    );
    assert_eq!(r.get("old_auid").unwrap().raw, "4294967295");
    assert_eq!(r.get("new_auid").unwrap().raw, "0");
    assert!(r.get("auid").is_none());
}

#[test]
fn invalid_utf8_is_kept_lossy() {
    let mut line = b"type=PATH msg=audit(1.000:1): item=0 name=\"caf\xe9\" mode=0100644".to_vec();
    line.push(b'\n');
    let r = Record::parse_log_line(&line).unwrap();
    assert_eq!(r.get("name").unwrap().raw, "caf\u{fffd}");
    assert_eq!(r.get("mode").unwrap().raw, "0100644");
}

#[test]
fn header_errors_are_clear() {
    assert!(parse_err(b"").contains("type="));
    assert!(parse_err(b"type=SYSCALL").contains("truncated"));
    assert!(parse_err(b"type=NOSUCH msg=audit(1.000:1): a=b").contains("unknown record type"));
    assert!(parse_err(b"type=SYSCALL msg=hello").contains("audit("));
    assert!(parse_err(b"type=SYSCALL arch=x").contains("msg="));
    assert!(parse_err(b"type=SYSCALL msg=audit(").contains("truncated"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12").contains("truncated"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12.000").contains("truncated"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12.000:").contains("sequence"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12.000:x)").contains("sequence"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12.000:99999999999)").contains("sequence"));
    assert!(parse_err(b"type=SYSCALL msg=audit(12.000:5").contains("truncated"));
    assert!(parse_err(b"type=SYSCALL msg=audit(x.000:5)").contains("timestamp"));
    assert!(parse_err(b"type=SYSCALL msg=audit(1:5)").contains("timestamp"));
    // Found by tests/record_fuzz.rs: seconds whose milliseconds overflow an i64.
    assert!(parse_err(b"type=SYSCALL msg=audit(9223372036854775.000:5)").contains("range"));
    let max = parse("type=SYSCALL msg=audit(9223372036854774.999:5): a=1");
    assert_eq!(max.timestamp_ms(), 9223372036854774999);
}

#[test]
fn empty_body_and_odd_quotes() {
    let r = parse("type=EOE msg=audit(1700000000.001:9): ");
    assert_eq!((r.fields().count(), r.raw_msg()), (0, ""));
    let r = parse("type=PATH msg=audit(1.000:1): name=\"unterminated mode=1");
    assert_eq!(r.get("name").unwrap().raw, "unterminated mode=1");
    let r = parse("type=USER msg=audit(1.000:1): msg='op=x res=1");
    assert_eq!(r.get("res").unwrap().raw, "1");
    let r = parse("type=USER msg=audit(1.000:1): a= b=\"\" c=1");
    assert_eq!(
        pairs(&r),
        [("a", ""), ("b", ""), ("c", "1")].map(|(k, v)| (k.into(), v.into()))
    );
}

#[test]
fn decoded_hex_fields() {
    let r = parse(
        "type=SYSCALL msg=audit(1.000:1): a0=20 a1=7f56476614b0 a2=1D0 comm=2F746D70 \
         exe=2F7573722F62696E2F6E6F6465 name=\"plain\" key=6578656301666F6F cwd=2f746d70 \
         saddr=0200 proctitle=6C73002D6C00",
    );
    let d = |k: &str| r.get(k).unwrap().decoded().into_owned();
    assert_eq!(d("a0"), "20", "SYSCALL numbers stay numbers");
    assert_eq!(d("a1"), "7f56476614b0");
    assert_eq!(d("comm"), "/tmp");
    assert_eq!(d("exe"), "/usr/bin/node");
    assert_eq!(d("name"), "plain");
    assert_eq!(d("key"), "exec\u{1}foo");
    assert_eq!(d("cwd"), "2f746d70", "lowercase is not kernel hex");
    assert_eq!(d("saddr"), "0200");
    assert_eq!(d("proctitle"), "ls -l");
    let e = parse("type=EXECVE msg=audit(1.000:1): argc=2 a0=\"ls\" a1[0]=2D6C20 a7=FF");
    assert_eq!(e.get("a1[0]").unwrap().decoded(), "-l ");
    assert_eq!(e.get("a7").unwrap().decoded(), "\u{fffd}");
    assert_eq!(e.get("a0").unwrap().decoded(), "ls");
    assert!(matches!(e.get("a0").unwrap().decoded(), Cow::Borrowed(_)));
}

#[test]
fn arg_keys() {
    for k in ["a0", "a12", "a1[0]", "a10[23]"] {
        assert!(is_arg_key(k), "{k}");
    }
    for k in ["a", "arch", "a1[", "a1[]", "a1[x]", "ab"] {
        assert!(!is_arg_key(k), "{k}");
    }
}

#[test]
fn megabyte_line_parses() {
    let mut line = String::from("type=EXECVE msg=audit(1.000:1): argc=1 a0=");
    line.push_str(&"41".repeat(1 << 20));
    line.push_str(&" x=1".repeat(100_000));
    let r = parse(&line);
    assert_eq!(r.get("a0").unwrap().raw.len(), 2 << 20);
    assert_eq!(r.fields().count(), 100_002);
    // A single unterminated quote or a run of `(` must not be quadratic either.
    let q = format!(
        "type=PATH msg=audit(1.000:1): name=\"{}",
        "a=b ".repeat(250_000)
    );
    assert_eq!(parse(&q).fields().count(), 1);
    let p = format!(
        "type=PATH msg=audit(1.000:1): {}",
        "(avc: x { ".repeat(100_000)
    );
    assert_eq!(parse(&p).fields().count(), 0);
}

#[test]
fn hex_encoded_fields_pass_the_signature_filter() {
    for name in super::HEX_FIELDS {
        assert!(super::is_hex_encoded_field(name), "{name}");
    }
    for name in ["a0", "a12", "a1[3]"] {
        assert!(super::is_hex_encoded_field(name), "{name}");
    }
    for name in [
        "", "uid", "pid", "exit", "arch", "names", "dev", "cap_fp", "a", "a1[", "ab",
    ] {
        assert!(!super::is_hex_encoded_field(name), "{name}");
    }
}

#[test]
fn ascii_check_agrees_with_std() {
    let mut text: Vec<u8> = (0u8..128).collect();
    for len in 0..40 {
        assert!(super::all_ascii(&text[..len]));
    }
    for at in 0..40 {
        let saved = text[at];
        text[at] = 0xc3;
        assert!(!super::all_ascii(&text[..40]), "{at}");
        text[at] = saved;
    }
    let r = Record::parse_log_line("type=PATH msg=audit(1.000:1): name=\"caf\u{e9}\"".as_bytes())
        .unwrap();
    assert_eq!(r.get("name").unwrap().raw, "caf\u{e9}");
}

#[test]
fn non_ascii_text_and_synthesized_names_slice_right() {
    // Kernel text with UTF-8 (and an invalid byte, made U+FFFD), and perms joined into the
    // synthesized part: fields are sliced on the checked path and read back whole.
    let mut line = b"type=AVC msg=audit(1.000:1): avc:  denied  { r\xc3\xa9ad wr\xffite } for pid=7 comm=\"caf\xc3\xa9\" name=x".to_vec();
    let r = Record::parse_log_line(&line).expect("parses");
    assert_eq!(r.get("seperms").unwrap().raw, "r\u{e9}ad,wr\u{fffd}ite");
    assert_eq!(r.get("comm").unwrap().raw, "caf\u{e9}");
    assert_eq!(r.get("pid").unwrap().raw, "7");
    assert_eq!(r.get("name").unwrap().raw, "x");
    // The same record in ASCII gives the same shape.
    line =
        b"type=AVC msg=audit(1.000:1): avc:  denied  { read write } for pid=7 comm=\"cafe\" name=x"
            .to_vec();
    let r = Record::parse_log_line(&line).expect("parses");
    assert_eq!(r.get("seperms").unwrap().raw, "read,write");
    assert_eq!(pairs(&r).len(), 5);
}
