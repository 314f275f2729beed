//! Recursive-descent parser for the EQL grammar of Elasticsearch (`EqlBase.g4`): event queries,
//! `sequence` (shared and per-term `by`, `with maxspan=`, `with runs=`, `until`, missing events),
//! `sample by`, and `| head` / `| tail` pipes. Expressions become the shared [`Expr`] tree.

use super::lexer::{tokenize, Tok, Token};
use super::{funcs, QueryError, QueryKind};
use crate::detect::expr::{ArithOp, CmpOp, Expr, MatchKind};
use crate::event::Value;

/// One `[category where expr] by keys with runs=N` term, or the single term of an event query.
#[derive(Clone, Debug)]
pub struct Term {
    /// `None` for `any`.
    pub category: Option<String>,
    pub expr: Expr,
    /// Per-term join keys (the shared `by` keys are kept apart in [`Parsed::shared_by`]).
    pub by: Vec<Expr>,
    pub runs: usize,
    /// A missing-event term `![...]`.
    pub missing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipe {
    Head(usize),
    Tail(usize),
}

#[derive(Clone, Debug)]
pub struct Parsed {
    pub kind: QueryKind,
    pub terms: Vec<Term>,
    pub shared_by: Vec<Expr>,
    pub maxspan_ms: Option<i64>,
    pub until: Option<Term>,
    pub pipes: Vec<Pipe>,
}

pub fn parse(src: &str) -> Result<Parsed, QueryError> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, i: 0 };
    let q = p.statement()?;
    Ok(q)
}

/// Parses a standalone boolean expression (no `category where`).
pub fn parse_expr(src: &str) -> Result<Expr, QueryError> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, i: 0 };
    let e = p.expression()?;
    p.expect_eof()?;
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
}

const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "like", "regex", "where", "sequence", "sample", "by", "with",
    "until", "true", "false", "null", "join", "of", "any",
];

fn is_word(t: &Tok, w: &str) -> bool {
    matches!(t, Tok::Ident { name, tilde: false } if name == w)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> (usize, usize) {
        let t = &self.toks[self.i];
        (t.line, t.col)
    }
    fn advance(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn err_here(&self, msg: impl Into<String>) -> QueryError {
        let (line, col) = self.pos();
        QueryError {
            line,
            col,
            message: msg.into(),
        }
    }
    fn unexpected(&self, wanted: &str) -> QueryError {
        let found = describe(self.peek());
        self.err_here(format!("expected {wanted}, found {found}"))
    }
    fn at_word(&self, w: &str) -> bool {
        is_word(self.peek(), w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        let y = self.at_word(w);
        if y {
            self.advance();
        }
        y
    }
    fn expect_word(&mut self, w: &str) -> Result<(), QueryError> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("[{w}]")))
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        let y = self.peek() == t;
        if y {
            self.advance();
        }
        y
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), QueryError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }
    fn expect_eof(&self) -> Result<(), QueryError> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            Err(self.unexpected("end of query"))
        }
    }

    fn statement(&mut self) -> Result<Parsed, QueryError> {
        let mut q = if self.at_word("sequence") {
            self.sequence()?
        } else if self.at_word("sample") {
            self.sample()?
        } else if self.at_word("join") {
            return Err(self.err_here("join is not supported"));
        } else {
            let term = self.event_filter()?;
            Parsed {
                kind: QueryKind::Event,
                terms: vec![term],
                shared_by: vec![],
                maxspan_ms: None,
                until: None,
                pipes: vec![],
            }
        };
        while self.eat(&Tok::Pipe) {
            let (line, col) = self.pos();
            let name = match self.advance() {
                Tok::Ident { name, .. } => name,
                other => {
                    return Err(QueryError {
                        line,
                        col,
                        message: format!("expected a pipe name, found {}", describe(&other)),
                    })
                }
            };
            let n = match (name.as_str(), self.peek().clone()) {
                ("head" | "tail", Tok::Int(n)) if n >= 0 => {
                    self.advance();
                    n as usize
                }
                ("head" | "tail", _) => {
                    return Err(self.err_here(format!("[{name}] needs a non-negative integer")))
                }
                _ => {
                    return Err(QueryError {
                        line,
                        col,
                        message: format!("pipe [{name}] is not supported"),
                    })
                }
            };
            q.pipes.push(if name == "head" {
                Pipe::Head(n)
            } else {
                Pipe::Tail(n)
            });
        }
        self.expect_eof()?;
        Ok(q)
    }

    fn event_filter(&mut self) -> Result<Term, QueryError> {
        let (line, col) = self.pos();
        let category = match self.advance() {
            Tok::Ident { name, tilde: false } if name == "any" => None,
            Tok::Ident { name, tilde: false } if !RESERVED.contains(&name.as_str()) => Some(name),
            Tok::Str(s) | Tok::Quoted(s) => Some(s),
            other => {
                return Err(QueryError {
                    line,
                    col,
                    message: format!(
                        "expected an event category or [any], found {}",
                        describe(&other)
                    ),
                })
            }
        };
        self.expect_word("where")?;
        let expr = self.expression()?;
        Ok(Term {
            category,
            expr,
            by: vec![],
            runs: 1,
            missing: false,
        })
    }

    fn join_keys(&mut self) -> Result<Vec<Expr>, QueryError> {
        let mut keys = vec![self.expression()?];
        while self.eat(&Tok::Comma) {
            keys.push(self.expression()?);
        }
        Ok(keys)
    }

    fn sequence(&mut self) -> Result<Parsed, QueryError> {
        self.expect_word("sequence")?;
        let mut shared_by = vec![];
        let mut maxspan_ms = None;
        if self.eat_word("by") {
            shared_by = self.join_keys()?;
        }
        if self.eat_word("with") {
            let (line, col) = self.pos();
            if !self.eat_word("maxspan") {
                return Err(self.unexpected("[maxspan]"));
            }
            self.expect(&Tok::Assign, "[=]")?;
            maxspan_ms = Some(self.time_unit(line, col)?);
            if self.at_word("by") {
                return Err(self.err_here("Please specify sequence [by] before [with] not after"));
            }
        }
        let mut terms = vec![];
        while matches!(self.peek(), Tok::LBracket | Tok::MissingOpen) {
            let missing = *self.peek() == Tok::MissingOpen;
            let mut term = self.subquery()?;
            term.missing = missing;
            if self.eat_word("by") {
                term.by = self.join_keys()?;
            }
            if self.eat_word("with") {
                if !self.eat_word("runs") {
                    return Err(self.unexpected("[runs]"));
                }
                self.expect(&Tok::Assign, "[=]")?;
                let (rl, rc) = self.pos();
                match self.advance() {
                    Tok::Int(n) if (1..=100).contains(&n) => term.runs = n as usize,
                    _ => {
                        return Err(QueryError {
                            line: rl,
                            col: rc,
                            message: "runs must be an integer between 1 and 100".into(),
                        })
                    }
                }
            }
            terms.push(term);
        }
        let stages: usize = terms.iter().map(|t| t.runs).sum();
        if stages < 2 {
            return Err(self.err_here("A sequence requires a minimum of 2 queries"));
        }
        if terms.iter().all(|t| t.missing) {
            return Err(self.err_here("A sequence requires at least one event that is not missing"));
        }
        let mut until = None;
        if self.eat_word("until") {
            if *self.peek() != Tok::LBracket {
                return Err(self.unexpected("[ after until"));
            }
            let mut t = self.subquery()?;
            if self.eat_word("by") {
                t.by = self.join_keys()?;
            }
            until = Some(t);
        }
        check_key_counts(&terms, until.as_ref()).map_err(|m| self.err_here(m))?;
        if terms.iter().any(|t| t.missing) && maxspan_ms.is_none() {
            return Err(self.err_here("A sequence with missing events requires [maxspan]"));
        }
        Ok(Parsed {
            kind: QueryKind::Sequence,
            terms,
            shared_by,
            maxspan_ms,
            until,
            pipes: vec![],
        })
    }

    fn sample(&mut self) -> Result<Parsed, QueryError> {
        self.expect_word("sample")?;
        let mut shared_by = vec![];
        if self.eat_word("by") {
            shared_by = self.join_keys()?;
        }
        let mut terms = vec![];
        while *self.peek() == Tok::LBracket {
            let mut t = self.subquery()?;
            if self.eat_word("by") {
                t.by = self.join_keys()?;
            }
            terms.push(t);
        }
        if *self.peek() == Tok::MissingOpen {
            return Err(self.err_here("missing events are not allowed in a sample"));
        }
        if terms.len() < 2 {
            return Err(self.err_here("A sample requires a minimum of 2 queries"));
        }
        if terms.len() > 5 {
            return Err(self.err_here("A sample must have at most 5 queries"));
        }
        check_key_counts(&terms, None).map_err(|m| self.err_here(m))?;
        if shared_by.is_empty() && terms[0].by.is_empty() {
            return Err(self.err_here("A sample requires join keys ([by])"));
        }
        Ok(Parsed {
            kind: QueryKind::Sample,
            terms,
            shared_by,
            maxspan_ms: None,
            until: None,
            pipes: vec![],
        })
    }

    fn subquery(&mut self) -> Result<Term, QueryError> {
        // `[` or `![`
        self.advance();
        let t = self.event_filter()?;
        self.expect(&Tok::RBracket, "[]]")?;
        Ok(t)
    }

    fn time_unit(&mut self, line: usize, col: usize) -> Result<i64, QueryError> {
        let n = match self.advance() {
            Tok::Int(n) if n >= 0 => n,
            _ => {
                return Err(QueryError {
                    line,
                    col,
                    message: "maxspan needs a non-negative integer and a time unit".into(),
                })
            }
        };
        let (ul, uc) = self.pos();
        let mult = match self.peek() {
            Tok::Ident { name, tilde: false } => match name.as_str() {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                u => {
                    return Err(QueryError {
                        line: ul,
                        col: uc,
                        message: format!("Unknown time unit [{u}]"),
                    })
                }
            },
            _ => {
                return Err(QueryError {
                    line: ul,
                    col: uc,
                    message: "Missing time unit (ms, s, m, h, d)".into(),
                })
            }
        };
        self.advance();
        n.checked_mul(mult).ok_or_else(|| QueryError {
            line,
            col,
            message: "maxspan is too large".into(),
        })
    }

    // ---- expressions -------------------------------------------------------------------------

    pub fn expression(&mut self) -> Result<Expr, QueryError> {
        self.or_expr()
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr()?];
        while self.eat_word("or") {
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Literal(Value::Bool(false)))
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_expr()?];
        while self.eat_word("and") {
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Literal(Value::Bool(true)))
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.predicate()?;
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Assign => {
                return Err(self.err_here("Use == instead of = for equality"));
            }
            _ => return Ok(left),
        };
        self.advance();
        let right = self.predicate()?;
        Ok(Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    /// An arithmetic operand optionally followed by `in`, `not in`, `:`, `like`, `regex`.
    fn predicate(&mut self) -> Result<Expr, QueryError> {
        let e = self.additive()?;
        let negated = self.at_word("not")
            && matches!(self.peek_at(1), Tok::Ident { name, .. } if name == "in");
        if negated {
            self.advance();
        }
        let (line, col) = self.pos();
        match self.peek().clone() {
            Tok::Ident { name, tilde } if name == "in" => {
                self.advance();
                self.expect(&Tok::LParen, "[(] after in")?;
                let mut list = vec![self.expression()?];
                while self.eat(&Tok::Comma) {
                    list.push(self.expression()?);
                }
                self.expect(&Tok::RParen, "[)]")?;
                Ok(Expr::In {
                    expr: Box::new(e),
                    list,
                    insensitive: tilde,
                    negated,
                })
            }
            Tok::Colon => {
                self.advance();
                let patterns = self.constants()?;
                Ok(Expr::Match {
                    kind: MatchKind::Seq,
                    insensitive: true,
                    expr: Box::new(e),
                    patterns,
                })
            }
            Tok::Ident { name, tilde } if name == "like" || name == "regex" => {
                self.advance();
                let kind = if name == "like" {
                    MatchKind::Like
                } else {
                    MatchKind::Regex
                };
                let patterns = self.constants()?;
                for p in &patterns {
                    let ok = matches!(p, Expr::Literal(Value::Str(_)));
                    if !ok {
                        return Err(QueryError {
                            line,
                            col,
                            message: format!("[{name}] needs string patterns"),
                        });
                    }
                    if let (MatchKind::Regex, Expr::Literal(Value::Str(s))) = (kind, p) {
                        funcs::check_regex(s, tilde).map_err(|m| QueryError {
                            line,
                            col,
                            message: m,
                        })?;
                    }
                }
                Ok(Expr::Match {
                    kind,
                    insensitive: tilde,
                    expr: Box::new(e),
                    patterns,
                })
            }
            _ => Ok(e),
        }
    }

    /// A constant or a parenthesised list of constants (the right side of `:`, `like`, `regex`).
    fn constants(&mut self) -> Result<Vec<Expr>, QueryError> {
        if self.eat(&Tok::LParen) {
            let mut v = vec![self.constant()?];
            while self.eat(&Tok::Comma) {
                v.push(self.constant()?);
            }
            self.expect(&Tok::RParen, "[)]")?;
            Ok(v)
        } else {
            Ok(vec![self.constant()?])
        }
    }

    fn constant(&mut self) -> Result<Expr, QueryError> {
        let neg = self.eat(&Tok::Minus);
        let v = match self.peek().clone() {
            Tok::Str(s) if !neg => Value::Str(s.into()),
            Tok::Int(i) => Value::Int(if neg { -i } else { i }),
            Tok::Float(f) => Value::Float(if neg { -f } else { f }),
            Tok::Ident { name, tilde: false } if !neg && name == "true" => Value::Bool(true),
            Tok::Ident { name, tilde: false } if !neg && name == "false" => Value::Bool(false),
            Tok::Ident { name, tilde: false } if !neg && name == "null" => Value::Null,
            _ => return Err(self.unexpected("a constant")),
        };
        self.advance();
        Ok(Expr::Literal(v))
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.multiplicative()?;
            left = Expr::Arith {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                Tok::Percent => ArithOp::Mod,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.unary()?;
            left = Expr::Arith {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&Tok::Minus) {
            return Ok(match self.unary()? {
                Expr::Literal(Value::Int(i)) => Expr::Literal(Value::Int(i.wrapping_neg())),
                Expr::Literal(Value::Float(f)) => Expr::Literal(Value::Float(-f)),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if self.eat(&Tok::Plus) {
            return self.unary();
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let (line, col) = self.pos();
        match self.peek().clone() {
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::Literal(Value::Str(s.into())))
            }
            Tok::Int(i) => {
                self.advance();
                Ok(Expr::Literal(Value::Int(i)))
            }
            Tok::Float(f) => {
                self.advance();
                Ok(Expr::Literal(Value::Float(f)))
            }
            Tok::LParen => {
                self.advance();
                let e = self.expression()?;
                self.expect(&Tok::RParen, "[)]")?;
                Ok(e)
            }
            Tok::Question => {
                self.advance();
                match self.advance() {
                    Tok::Ident { name, tilde: false } if !RESERVED.contains(&name.as_str()) => {
                        Ok(Expr::Field {
                            path: name,
                            optional: true,
                        })
                    }
                    Tok::Quoted(name) => Ok(Expr::Field {
                        path: name,
                        optional: true,
                    }),
                    _ => Err(QueryError {
                        line,
                        col,
                        message: "expected a field name after [?]".into(),
                    }),
                }
            }
            Tok::Quoted(name) => {
                self.advance();
                Ok(Expr::Field {
                    path: name,
                    optional: false,
                })
            }
            Tok::Ident { name, tilde } => {
                if *self.peek_at(1) == Tok::LParen {
                    self.advance();
                    self.advance();
                    let mut args = vec![];
                    if !self.eat(&Tok::RParen) {
                        args.push(self.expression()?);
                        while self.eat(&Tok::Comma) {
                            args.push(self.expression()?);
                        }
                        self.expect(&Tok::RParen, "[)]")?;
                    }
                    let lname = name.to_ascii_lowercase();
                    funcs::check_call(&lname, tilde, &args).map_err(|m| QueryError {
                        line,
                        col,
                        message: m,
                    })?;
                    return Ok(Expr::Call {
                        name: lname,
                        insensitive: tilde,
                        args,
                    });
                }
                if tilde {
                    return Err(QueryError {
                        line,
                        col,
                        message: format!("unexpected [~] after [{name}]"),
                    });
                }
                match name.as_str() {
                    "true" | "false" | "null" => return self.constant(),
                    n if RESERVED.contains(&n) => return Err(self.unexpected("an expression")),
                    _ => {}
                }
                if name.ends_with('.') || name.starts_with('.') || name.contains("..") {
                    return Err(QueryError {
                        line,
                        col,
                        message: format!("invalid field name [{name}]"),
                    });
                }
                self.advance();
                Ok(Expr::Field {
                    path: name,
                    optional: false,
                })
            }
            _ => Err(self.unexpected("an expression")),
        }
    }
}

fn check_key_counts(terms: &[Term], until: Option<&Term>) -> Result<(), String> {
    let n = terms[0].by.len();
    for t in terms.iter().chain(until) {
        if t.by.len() != n {
            return Err(format!(
                "Inconsistent number of join keys specified; expected [{n}] but found [{}]",
                t.by.len()
            ));
        }
    }
    Ok(())
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident { name, tilde } => format!("[{name}{}]", if *tilde { "~" } else { "" }),
        Tok::Quoted(s) => format!("[`{s}`]"),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Int(i) => format!("[{i}]"),
        Tok::Float(f) => format!("[{f}]"),
        Tok::Eof => "end of query".into(),
        other => {
            let s = match other {
                Tok::LParen => "(",
                Tok::RParen => ")",
                Tok::LBracket => "[",
                Tok::RBracket => "]",
                Tok::MissingOpen => "![",
                Tok::Comma => ",",
                Tok::Pipe => "|",
                Tok::Eq => "==",
                Tok::Ne => "!=",
                Tok::Lt => "<",
                Tok::Le => "<=",
                Tok::Gt => ">",
                Tok::Ge => ">=",
                Tok::Assign => "=",
                Tok::Colon => ":",
                Tok::Plus => "+",
                Tok::Minus => "-",
                Tok::Star => "*",
                Tok::Slash => "/",
                Tok::Percent => "%",
                Tok::Question => "?",
                _ => "?",
            };
            format!("[{s}]")
        }
    }
}
