//! EQL functions as Elasticsearch defines them: names (lower-cased), arity, which accept the `~`
//! case-insensitive form, and their evaluation on single values. A `null` argument gives `null`.

use crate::detect::expr::{ArithOp, Expr};
use crate::event::Value;
use std::cmp::Ordering;

/// (name, min args, max args (usize::MAX = variadic), has a `~` form)
const FUNCS: &[(&str, usize, usize, bool)] = &[
    ("add", 2, 2, false),
    ("between", 3, 4, true),
    ("cidrmatch", 2, usize::MAX, false),
    ("concat", 1, usize::MAX, false),
    ("divide", 2, 2, false),
    ("endswith", 2, 2, true),
    ("indexof", 2, 3, true),
    ("length", 1, 1, false),
    ("modulo", 2, 2, false),
    ("multiply", 2, 2, false),
    ("number", 1, 2, false),
    ("startswith", 2, 2, true),
    ("string", 1, 1, false),
    ("stringcontains", 2, 2, true),
    ("subtract", 2, 2, false),
    ("substring", 2, 3, false),
];

/// Validates a call as the ES verifier would (unknown function, arity, `~` form, constant
/// arguments where ES requires them). `name` is lower-cased.
pub fn check_call(name: &str, tilde: bool, args: &[Expr]) -> Result<(), String> {
    let Some(&(_, min, max, has_tilde)) = FUNCS.iter().find(|f| f.0 == name) else {
        return Err(format!("Unknown function [{name}]"));
    };
    if tilde && !has_tilde {
        return Err(format!(
            "Function [{name}] has no case-insensitive [~] form"
        ));
    }
    if args.len() < min || args.len() > max {
        let want = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(format!(
            "Function [{name}] takes {want} arguments, got {}",
            args.len()
        ));
    }
    if name == "cidrmatch" {
        for a in &args[1..] {
            match a {
                Expr::Literal(Value::Str(s)) => {
                    parse_cidr(s).ok_or_else(|| format!("invalid CIDR [{s}] in cidrMatch"))?;
                }
                _ => return Err("cidrMatch needs constant string CIDR blocks".into()),
            }
        }
    }
    if name == "between" && args.len() == 4 && !matches!(args[3], Expr::Literal(Value::Bool(_))) {
        return Err("the greedy argument of between must be true or false".into());
    }
    Ok(())
}

/// Validates a `regex` pattern.
pub fn check_regex(pattern: &str, insensitive: bool) -> Result<(), String> {
    build_regex(pattern, insensitive).map(|_| ())
}

/// An anchored regex, as Lucene's regexp query is always anchored; only `is_match` is asked
/// of it. A pattern that begins (ends) with `.*` matches wherever the rest does, so it is
/// searched unanchored at that end: the regex engine then looks for the rest's literals
/// instead of running over the whole value (rules write `.*x.*` against long command lines).
pub fn build_regex(pattern: &str, insensitive: bool) -> Result<regex::Regex, String> {
    let flags = if insensitive { "(?si)" } else { "(?s)" };
    let text = regex_syntax::Parser::new()
        .parse(&format!("{flags}(?:{pattern})"))
        .ok()
        .and_then(open_ended)
        // Anything else, including a pattern the parser rejects (the builder says why).
        .unwrap_or_else(|| format!("{flags}^(?:{pattern})$"));
    regex::RegexBuilder::new(&text)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| format!("invalid regular expression [{pattern}]: {e}"))
}

/// `.*P`, `P.*` or `.*P.*` (a top-level sequence; `.` matches any character) as `P`
/// anchored only at the ends without `.*`; `None` for any other shape.
fn open_ended(hir: regex_syntax::hir::Hir) -> Option<String> {
    use regex_syntax::hir::{Dot, Hir, HirKind};
    let HirKind::Concat(items) = hir.kind() else {
        return None;
    };
    let any = |h: &Hir| {
        matches!(h.kind(), HirKind::Repetition(r)
            if r.min == 0 && r.max.is_none() && *r.sub == Hir::dot(Dot::AnyChar))
    };
    let (head, tail) = (any(items.first()?), any(items.last()?));
    let (lo, hi) = (usize::from(head), items.len() - usize::from(tail));
    if lo == 0 && hi == items.len() || lo >= hi {
        return None;
    }
    // The printed HIR is the same language (flags such as case folding are already applied).
    let rest = Hir::concat(items[lo..hi].to_vec());
    Some(format!(
        "{}(?:{rest}){}",
        if head { "" } else { "^" },
        if tail { "" } else { "$" }
    ))
}

pub fn parse_cidr(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
}

/// The blocks of one `cidrMatch` call as masks: an address is tested against each with an
/// AND and a compare, and an IPv4 address (most are) is read without the general parser.
#[derive(Clone, Debug, Default)]
pub(crate) struct Nets {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Nets {
    pub(crate) fn new(nets: impl IntoIterator<Item = ipnet::IpNet>) -> Nets {
        let mut out = Nets::default();
        for n in nets {
            match n {
                ipnet::IpNet::V4(n) => out
                    .v4
                    .push((u32::from(n.network()), u32::from(n.netmask()))),
                ipnet::IpNet::V6(n) => out
                    .v6
                    .push((u128::from(n.network()), u128::from(n.netmask()))),
            }
        }
        out
    }

    /// Whether `s` is an IP address in one of the blocks (an IPv4 address only in IPv4
    /// blocks, an IPv6 one only in IPv6 blocks).
    pub(crate) fn matches(&self, s: &str) -> bool {
        let v4 = |a: u32| self.v4.iter().any(|&(net, mask)| a & mask == net);
        if let Some(a) = parse_ipv4(s) {
            return v4(a);
        }
        match s.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => v4(a.into()),
            Ok(std::net::IpAddr::V6(a)) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
            Err(_) => false,
        }
    }
}

/// A dotted-quad IPv4 address in its plain form (four decimal octets, no leading zeros),
/// which is what the standard parser accepts; `None` for anything else, which is then left
/// to that parser, so the two agree on every input.
fn parse_ipv4(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let (mut addr, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                if digits == 1 && octet == 0 {
                    return None; // a leading zero
                }
                octet = octet * 10 + u32::from(c - b'0');
                digits += 1;
                if octet > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && dots < 3 => {
                addr = addr << 8 | octet;
                (octet, digits, dots) = (0, 0, dots + 1);
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0).then_some(addr << 8 | octet)
}

/// The string form ES gives a value in `string()` and `concat()`.
pub fn to_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
        Value::Float(f) => f.to_string(),
        Value::List(l) => {
            let parts: Vec<String> = l.iter().filter_map(to_string).collect();
            format!("[{}]", parts.join(", "))
        }
    })
}

fn num(v: &Value) -> Option<Value> {
    match v {
        Value::Int(_) | Value::Float(_) => Some(v.clone()),
        _ => None,
    }
}

pub fn arith(op: ArithOp, a: &Value, b: &Value) -> Value {
    let (Some(a), Some(b)) = (num(a), num(b)) else {
        return Value::Null;
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match op {
            ArithOp::Add => x.checked_add(y).map_or(Value::Null, Value::Int),
            ArithOp::Sub => x.checked_sub(y).map_or(Value::Null, Value::Int),
            ArithOp::Mul => x.checked_mul(y).map_or(Value::Null, Value::Int),
            // Java integer division and remainder: truncating; by zero gives null.
            ArithOp::Div => x.checked_div(y).map_or(Value::Null, Value::Int),
            ArithOp::Mod => x.checked_rem(y).map_or(Value::Null, Value::Int),
        },
        (x, y) => {
            let (x, y) = (
                as_f64(&x).unwrap_or(f64::NAN),
                as_f64(&y).unwrap_or(f64::NAN),
            );
            let r = match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div => x / y,
                ArithOp::Mod => x % y,
            };
            if r.is_finite() {
                Value::Float(r)
            } else {
                Value::Null
            }
        }
    }
}

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Orders two single values: numbers numerically, strings by code point, booleans. A numeric
/// string against a number compares as numbers (events are schema-less); anything else is
/// incomparable (`None`), which makes every comparison false.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            as_f64(a)?.partial_cmp(&as_f64(b)?)
        }
        (Value::Str(s), Value::Int(_) | Value::Float(_)) => compare(&parse_number(s)?, b),
        (Value::Int(_) | Value::Float(_), Value::Str(s)) => compare(a, &parse_number(s)?),
        _ => None,
    }
}

pub fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    t.parse::<i64>().map(Value::Int).ok().or_else(|| {
        t.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
    })
}

fn lower(s: &str, fold: bool) -> std::borrow::Cow<'_, str> {
    if fold {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Python-style index: negative counts from the end, clamped to `0..=len`.
fn py_index(i: i64, len: usize) -> usize {
    let len_i = len as i64;
    let i = if i < 0 {
        (len_i + i).max(0)
    } else {
        i.min(len_i)
    };
    i as usize
}

/// Evaluates function `name` on single argument values.
pub fn call(name: &str, insensitive: bool, args: &[&Value]) -> Value {
    let s = |i: usize| args.get(i).and_then(|v| v.as_str());
    let int = |i: usize| match args.get(i) {
        Some(Value::Int(n)) => Some(*n),
        Some(Value::Float(f)) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    };
    let null_arg = args.iter().any(|a| matches!(a, Value::Null));
    match name {
        "add" => arith(ArithOp::Add, args[0], args[1]),
        "subtract" => arith(ArithOp::Sub, args[0], args[1]),
        "multiply" => arith(ArithOp::Mul, args[0], args[1]),
        "divide" => arith(ArithOp::Div, args[0], args[1]),
        "modulo" => arith(ArithOp::Mod, args[0], args[1]),
        "concat" => {
            if null_arg {
                return Value::Null;
            }
            let mut out = String::new();
            for a in args {
                out.push_str(&to_string(a).unwrap_or_default());
            }
            Value::Str(out.into())
        }
        "string" => to_string(args[0]).map_or(Value::Null, Value::from),
        "length" => match args[0] {
            Value::Str(x) => Value::Int(x.chars().count() as i64),
            _ => Value::Null,
        },
        "startswith" | "endswith" | "stringcontains" => {
            let (Some(x), Some(y)) = (s(0), s(1)) else {
                return Value::Null;
            };
            let (x, y) = (lower(x, insensitive), lower(y, insensitive));
            Value::Bool(match name {
                "startswith" => x.starts_with(&*y),
                "endswith" => x.ends_with(&*y),
                _ => x.contains(&*y),
            })
        }
        "indexof" => {
            let (Some(x), Some(y)) = (s(0), s(1)) else {
                return Value::Null;
            };
            let start = if args.len() > 2 {
                match int(2) {
                    Some(n) => n.max(0) as usize,
                    None => return Value::Null,
                }
            } else {
                0
            };
            let (x, y) = (lower(x, insensitive), lower(y, insensitive));
            let chars: Vec<(usize, char)> = x.char_indices().collect();
            if start > chars.len() {
                return Value::Null;
            }
            let byte_start = chars.get(start).map_or(x.len(), |c| c.0);
            match x[byte_start..].find(&*y) {
                Some(b) => {
                    Value::Int((start + x[byte_start..byte_start + b].chars().count()) as i64)
                }
                None => Value::Null,
            }
        }
        "substring" => {
            let Some(x) = s(0) else { return Value::Null };
            let chars: Vec<char> = x.chars().collect();
            let Some(start) = int(1) else {
                return Value::Null;
            };
            let end = if args.len() > 2 && !matches!(args[2], Value::Null) {
                match int(2) {
                    Some(e) => e,
                    None => return Value::Null,
                }
            } else {
                chars.len() as i64
            };
            let (a, b) = (py_index(start, chars.len()), py_index(end, chars.len()));
            Value::Str(if a < b {
                chars[a..b].iter().collect()
            } else {
                Default::default()
            })
        }
        "between" => {
            let (Some(x), Some(l), Some(r)) = (s(0), s(1), s(2)) else {
                return Value::Null;
            };
            let greedy = matches!(args.get(3), Some(Value::Bool(true)));
            between(x, l, r, greedy, insensitive).map_or(Value::Null, Value::from)
        }
        "number" => {
            let Some(x) = s(0) else {
                return match args[0] {
                    Value::Int(_) | Value::Float(_) => args[0].clone(),
                    _ => Value::Null,
                };
            };
            let base = match args.get(1) {
                None | Some(Value::Null) => 10,
                Some(Value::Int(b)) if (2..=36).contains(b) => *b as u32,
                Some(_) => return Value::Null,
            };
            if base == 10 {
                return parse_number(x).unwrap_or(Value::Null);
            }
            let t = x.trim();
            let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
            let t = if base == 16 {
                t.strip_prefix("0x")
                    .or_else(|| t.strip_prefix("0X"))
                    .unwrap_or(t)
            } else {
                t
            };
            match i64::from_str_radix(t, base) {
                Ok(n) => Value::Int(if neg { -n } else { n }),
                Err(_) => Value::Null,
            }
        }
        "cidrmatch" => {
            let Some(ip) = s(0).and_then(|x| x.parse::<std::net::IpAddr>().ok()) else {
                return Value::Null;
            };
            Value::Bool(
                args[1..]
                    .iter()
                    .filter_map(|c| c.as_str().and_then(parse_cidr))
                    .any(|n| n.contains(&ip)),
            )
        }
        _ => Value::Null,
    }
}

fn between(x: &str, l: &str, r: &str, greedy: bool, insensitive: bool) -> Option<String> {
    // Fold per char so byte offsets stay aligned with the original for ASCII; fall back to
    // searching the lower-cased text when folding changes lengths.
    let hay = lower(x, insensitive);
    let (l, r) = (lower(l, insensitive), lower(r, insensitive));
    let aligned = hay.len() == x.len();
    let src: &str = if aligned { x } else { &hay };
    let start = match hay.find(&*l) {
        Some(i) => i + l.len(),
        None => return Some(String::new()),
    };
    let end = if greedy {
        hay.rfind(&*r).filter(|&e| e >= start)
    } else {
        hay[start..].find(&*r).map(|e| e + start)
    };
    match end {
        Some(e) => Some(src[start..e].to_owned()),
        None => Some(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 fast path and the masks give what the general parser and `ipnet` give.
    #[test]
    fn nets_agree_with_the_standard_parser_and_ipnet() {
        let blocks = [
            "10.0.0.0/8",
            "192.168.1.0/24",
            "0.0.0.0/32",
            "::1",
            "fe80::/10",
            "1.2.3.4",
        ];
        let parsed: Vec<ipnet::IpNet> = blocks.iter().filter_map(|b| parse_cidr(b)).collect();
        let nets = Nets::new(parsed.iter().copied());
        let mut inputs: Vec<String> = [
            "10.1.2.3",
            "010.1.2.3",
            "10.01.2.3",
            "10.0.0.0",
            "0.0.0.0",
            "00.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3.4 ",
            "1.2.3.4\0",
            "192.168.1.255",
            "192.168.2.1",
            "1.2.3.4",
            "::1",
            "::ffff:10.1.2.3",
            "fe80::1",
            "FE80::1",
            "fe7f::1",
            "",
            "x",
            "1.2.3.-4",
            "+1.2.3.4",
            "1.2.3.0x4",
            "999.999.999.999",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // And 20,000 random strings of 7 to 15 digits and dots.
        let alphabet = ['0', '1', '2', '5', '9', '.'];
        let mut x = 0x9e37_79b9u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 7 + (x % 9) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((x >> (i * 3)) % alphabet.len() as u64) as usize])
                .collect();
            inputs.push(s);
        }
        for s in &inputs {
            let std_v4 = s.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            assert_eq!(parse_ipv4(s), std_v4, "{s:?}");
            let want = s
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| parsed.iter().any(|n| n.contains(&ip)));
            assert_eq!(nets.matches(s), want, "{s:?}");
        }
        assert_eq!(parse_ipv4("192.168.1.7"), Some(0xc0a8_0107));
        assert!(nets.matches("10.200.0.1") && !nets.matches("11.0.0.1"));
    }

    /// Open-ended patterns searched unanchored accept exactly what the anchored regex does.
    #[test]
    fn open_ended_regexes_match_as_anchored() {
        let patterns = [
            r".*[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}.*",
            r".*[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{1,5})?\/[^ ]+.*",
            ".*ab.*",
            ".*ab",
            "ab.*",
            ".*?ab.*?",
            ".*a|b.*",
            "(.*a)|(b.*)",
            ".*",
            ".*.*",
            ".*a.*b.*",
            r"\.*a\.*",
            ".+a.+",
            "[^x]*a[^x]*",
            "(?-s:.*)a(?-s:.*)",
            ".*(a|b)c.*",
            ".*ÄÖ.*",
            "",
        ];
        let values = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "xaby",
            "x\nab\ny",
            "xab",
            "abx",
            "aXb",
            "AB",
            "xABy",
            ".a.",
            "a.b",
            "äö",
            "xÄöy",
            "curl http://10.1.2.3:8080/path x",
            "10.1.2.3",
            "1.2.3.4/x",
            "ac",
            "zbcz",
            "xxx",
            "ab\n",
            "\nab",
        ];
        for insensitive in [false, true] {
            for p in patterns {
                let flags = if insensitive { "(?si)" } else { "(?s)" };
                let plain = regex::Regex::new(&format!("{flags}^(?:{p})$")).expect("pattern");
                let built = build_regex(p, insensitive).expect("pattern");
                for v in values {
                    assert_eq!(
                        built.is_match(v),
                        plain.is_match(v),
                        "{p:?} (insensitive: {insensitive}) on {v:?}"
                    );
                }
            }
        }
        assert!(build_regex(".*(unclosed.*", false).is_err());
        let shape = |p: &str| {
            regex_syntax::Parser::new()
                .parse(p)
                .ok()
                .and_then(open_ended)
        };
        assert_eq!(shape("(?s).*ab.*").as_deref(), Some("(?:(?:ab))"));
        assert_eq!(shape("(?s).*ab").as_deref(), Some("(?:(?:ab))$"));
        assert_eq!(shape("(?s).*a|b.*"), None);
        assert_eq!(shape("(?-s).*ab.*"), None, "a dot that stops at newlines");
    }

    fn v(s: &str) -> Value {
        Value::Str(s.into())
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            call(
                "between",
                false,
                &[
                    &v("System Idle Process"),
                    &v("S"),
                    &v("e"),
                    &Value::Bool(true)
                ]
            ),
            v("ystem Idle Proc")
        );
        assert_eq!(
            call("between", true, &[&v("System"), &v("s"), &v("E")]),
            v("yst")
        );
        assert_eq!(
            call("substring", false, &[&v("hello"), &Value::Int(-3)]),
            v("llo")
        );
        assert_eq!(
            call(
                "substring",
                false,
                &[&v("hello"), &Value::Int(1), &Value::Int(-1)]
            ),
            v("ell")
        );
        assert_eq!(
            call("indexof", false, &[&v("abcabc"), &v("c"), &Value::Int(3)]),
            Value::Int(5)
        );
        assert_eq!(call("indexof", true, &[&v("ABC"), &v("b")]), Value::Int(1));
        assert_eq!(
            call("number", false, &[&v("0x1f"), &Value::Int(16)]),
            Value::Int(31)
        );
        assert_eq!(call("concat", false, &[&Value::Int(5), &v(":")]), v("5:"));
        assert_eq!(call("concat", false, &[&v("a"), &Value::Null]), Value::Null);
        assert_eq!(
            call("divide", false, &[&Value::Int(83), &Value::Int(2)]),
            Value::Int(41)
        );
        assert_eq!(
            call("cidrmatch", false, &[&v("fe80::1"), &v("fe80::/10")]),
            Value::Bool(true)
        );
        assert_eq!(
            call("cidrmatch", false, &[&v("10.6.48.157"), &v("10.0.0.0/8")]),
            Value::Bool(true)
        );
    }
}
