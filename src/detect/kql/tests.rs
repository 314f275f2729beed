use super::*;

fn f(p: &str) -> Box<Expr> {
    Box::new(Expr::field(p))
}
fn s(v: &str) -> Box<Expr> {
    Box::new(Expr::string(v))
}
fn eqs(field: &str, v: &str) -> Expr {
    Expr::Compare {
        op: CmpOp::Eq,
        left: f(field),
        right: s(v),
    }
}
fn like(field: &str, pats: &[&str]) -> Expr {
    Expr::Match {
        kind: MatchKind::Like,
        insensitive: false,
        expr: f(field),
        patterns: pats.iter().map(|p| Expr::string(p)).collect(),
    }
}
fn p(src: &str) -> Expr {
    parse_expr(src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}
fn err(src: &str) -> QueryError {
    parse_expr(src).expect_err(src)
}

#[test]
fn field_value_exact_and_quoted() {
    assert_eq!(p("process.name:bash"), eqs("process.name", "bash"));
    assert_eq!(p(r#"process.name : "ba sh""#), eqs("process.name", "ba sh"));
    // A `*` inside quotes is literal text, not a wildcard.
    assert_eq!(p(r#"process.args:"a*b""#), eqs("process.args", "a*b"));
    // Unquoted values may contain spaces; surrounding ones are trimmed.
    assert_eq!(
        p("process.title:  runc init  "),
        eqs("process.title", "runc init")
    );
}

#[test]
fn and_binds_tighter_than_or() {
    let e = p("a:1x or b:2x and c:3x");
    assert_eq!(
        e,
        Expr::Or(vec![
            eqs("a", "1x"),
            Expr::And(vec![eqs("b", "2x"), eqs("c", "3x")])
        ])
    );
    let e = p("(a:1x OR b:2x) AND c:3x");
    assert_eq!(
        e,
        Expr::And(vec![
            Expr::Or(vec![eqs("a", "1x"), eqs("b", "2x")]),
            eqs("c", "3x")
        ])
    );
}

#[test]
fn not_prefix_and_value_level_operators() {
    assert_eq!(p("not a:x"), Expr::Not(Box::new(eqs("a", "x"))));
    assert_eq!(p("NOT (a:x)"), Expr::Not(Box::new(eqs("a", "x"))));
    // `cannot` and `notes` are words, not the keyword.
    assert_eq!(p("a:cannot"), eqs("a", "cannot"));
    assert_eq!(p("notes:x"), eqs("notes", "x"));
    let e = p("dns.question.name:(* and not localhost)");
    assert_eq!(
        e,
        Expr::And(vec![
            exists("dns.question.name"),
            Expr::Not(Box::new(eqs("dns.question.name", "localhost")))
        ])
    );
}

#[test]
fn value_lists_fold_into_in_and_match() {
    let e = p(r#"process.name:(bash or "sh" or python* or dash)"#);
    assert_eq!(
        e,
        Expr::Or(vec![
            Expr::In {
                expr: f("process.name"),
                list: vec![
                    Expr::string("bash"),
                    Expr::string("sh"),
                    Expr::string("dash")
                ],
                insensitive: false,
                negated: false
            },
            like("process.name", &["python*"]),
        ])
    );
    assert_eq!(p("a:(x)"), eqs("a", "x"));
}

#[test]
fn wildcards_and_exists() {
    assert_eq!(
        p("process.args:*awsrunShellScript*"),
        like("process.args", &["*awsrunShellScript*"])
    );
    assert_eq!(p("process.name:*"), exists("process.name"));
    // Spaces inside an unquoted wildcard value belong to it.
    assert_eq!(
        p("process.args:(* curl*)"),
        like("process.args", &["* curl*"])
    );
    // An escaped star is a literal star: with a wildcard too it needs an escaped regex.
    assert_eq!(p(r"a:x\*"), eqs("a", "x*"));
    let e = p(r"a:x\*y*");
    assert_eq!(
        e,
        Expr::Match {
            kind: MatchKind::Regex,
            insensitive: false,
            expr: f("a"),
            patterns: vec![Expr::string(r"x\*y(?s:.*)")]
        }
    );
    // `?` is no KQL wildcard: kept literal.
    let e = p("a:wh?t*");
    let Expr::Match {
        kind: MatchKind::Regex,
        patterns,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(patterns, vec![Expr::string(r"wh\?t(?s:.*)")]);
}

#[test]
fn escapes() {
    assert_eq!(p(r"a:C\:\\Windows"), eqs("a", r"C:\Windows"));
    assert_eq!(p(r"a:\(x\)"), eqs("a", "(x)"));
    assert_eq!(p(r#"a:"say \"hi\"""#), eqs("a", r#"say "hi""#));
    assert_eq!(p(r"a:x\ty"), eqs("a", "x\ty"));
    assert_eq!(p(r"a:\u0041b"), eqs("a", "Ab"));
    assert_eq!(p(r"a:x \or y"), eqs("a", "x or y"));
    // Quoted strings keep other backslashes as written.
    assert_eq!(p(r#"a:"C:\Program Files""#), eqs("a", r"C:\Program Files"));
    let e = err(r"a:x\qy");
    assert_eq!((e.line, e.col), (1, 4), "{e:?}");
}

#[test]
fn numbers_booleans_ranges() {
    assert_eq!(
        p("a:22"),
        Expr::Or(vec![
            Expr::Compare {
                op: CmpOp::Eq,
                left: f("a"),
                right: Box::new(Expr::Literal(Value::Int(22)))
            },
            eqs("a", "22")
        ])
    );
    assert_eq!(
        p("process.interactive:true"),
        Expr::Or(vec![
            Expr::Compare {
                op: CmpOp::Eq,
                left: f("process.interactive"),
                right: Box::new(Expr::Literal(Value::Bool(true)))
            },
            eqs("process.interactive", "true")
        ])
    );
    assert_eq!(
        p("process.args_count >= 10"),
        Expr::Compare {
            op: CmpOp::Ge,
            left: f("process.args_count"),
            right: Box::new(Expr::Literal(Value::Int(10)))
        }
    );
    assert_eq!(
        p("x<2.5"),
        Expr::Compare {
            op: CmpOp::Lt,
            left: f("x"),
            right: Box::new(Expr::Literal(Value::Float(2.5)))
        }
    );
    assert_eq!(
        p("x > 3"),
        Expr::Compare {
            op: CmpOp::Gt,
            left: f("x"),
            right: Box::new(Expr::Literal(Value::Int(3)))
        }
    );
    assert_eq!(
        p("x <= b"),
        Expr::Compare {
            op: CmpOp::Le,
            left: f("x"),
            right: s("b")
        }
    );
    // Not a number: words like `inf`, version strings.
    assert_eq!(p("a:inf"), eqs("a", "inf"));
    assert_eq!(p("a:1.2.3"), eqs("a", "1.2.3"));
}

#[test]
fn ip_fields_use_cidrmatch() {
    let e = p(r#"not destination.ip:(10.0.0.0/8 or "::1" or "FE80::/10")"#);
    let Expr::Not(inner) = e else { panic!() };
    let Expr::Or(items) = *inner else { panic!() };
    assert_eq!(items.len(), 3);
    for it in items {
        assert!(
            matches!(&it, Expr::Call { name, args, .. } if name == "cidrmatch" && args.len() == 2),
            "{it:?}"
        );
    }
    // Not an IP field, or not an IP: plain equality.
    assert_eq!(p("foo.address:10.0.0.1"), eqs("foo.address", "10.0.0.1"));
    assert_eq!(p("source.ip:*"), exists("source.ip"));
}

#[test]
fn errors_carry_line_and_col() {
    let e = err("a:x and\n  b:{ c:d }");
    assert_eq!((e.line, e.col), (2, 5), "{e:?}");
    assert!(e.message.contains("nested"), "{e:?}");
    let e = err("a:x and bare");
    assert!(e.message.contains("free-text"), "{e:?}");
    assert_eq!((e.line, e.col), (1, 9));
    let e = err("process.*:x");
    assert!(e.message.contains("field names"), "{e:?}");
    let e = err("a:(x or y");
    assert!(e.message.contains("')'"), "{e:?}");
    let e = err(r#"a:"open"#);
    assert!(e.message.contains("unterminated"), "{e:?}");
    assert!(err("").message.contains("empty"));
    assert!(
        err("a:x or").message.contains("field name")
            || err("a:x or").message.contains("unexpected")
    );
    assert!(err("a:x )").message.contains("unexpected"));
    assert!(err("a:").message.contains("expected a value"));
}

#[test]
fn hostile_input_never_panics() {
    for src in [
        "\\",
        "a:\\",
        "a:\"\\",
        "((((",
        "a:(((",
        "not",
        "not not",
        ":",
        "a:\u{1F600}*",
        "a>=",
        "a:\\u12",
        "\u{a0}a:b",
        "a: b\u{a0}or c",
    ] {
        let _ = parse_expr(src);
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(src in "[a-z:()*\" \\\\<>=.{}]{0,40}") {
        let _ = parse_expr(&src);
    }
}
