//! The expression tree both query languages parse to. EQL's parser and KQL's parser each produce
//! an `Expr`; `eql::Filter::compile` turns one into the fast matcher the engine runs. Keeping one
//! tree means one set of semantics (multi-valued fields, missing fields, case rules) for both.

use crate::event::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal: string, number, boolean or `null`.
    Literal(Value),
    /// A field path such as `process.args`; `optional` for EQL's `?field`.
    Field {
        path: String,
        optional: bool,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `== != < <= > >=`. `field == null` means the field is absent.
    Compare {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x in (..)`, `x in~ (..)`, `x not in (..)`.
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        insensitive: bool,
        negated: bool,
    },
    /// `x : ..`, `x like ..`, `x regex ..` and their `~` forms, single value or list.
    Match {
        kind: MatchKind,
        insensitive: bool,
        expr: Box<Expr>,
        patterns: Vec<Expr>,
    },
    /// A function call; `name` lower-cased, `insensitive` for the `~` form (`startsWith~`).
    Call {
        name: String,
        insensitive: bool,
        args: Vec<Expr>,
    },
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Neg(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// EQL `:`: equality, case-insensitive, with `*`/`?` wildcards for strings.
    Seq,
    /// `like`: anchored wildcard match, `*` and `?` only, no escape.
    Like,
    /// `regex`: anchored regular expression.
    Regex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl Expr {
    pub fn field(path: &str) -> Expr {
        Expr::Field {
            path: path.to_owned(),
            optional: false,
        }
    }
    pub fn string(s: &str) -> Expr {
        Expr::Literal(Value::Str(s.into()))
    }
}
