//! The syntax tree of a Logs Insights query: a pipeline of commands separated by `|`
//! (CloudWatch Logs User Guide, "CloudWatch Logs Insights language query syntax").

use regex::Regex;

/// A parsed query: its commands in order.
#[derive(Debug)]
pub struct Query {
    pub commands: Vec<Command>,
}

/// One command of the pipeline.
#[derive(Debug)]
pub enum Command {
    /// `fields a, b + 1 as c`: adds the fields to the results (computed ones to each record).
    Fields(Vec<Named>),
    /// `display a, b`: which fields the results show (the last `display` wins).
    Display(Vec<String>),
    /// `filter <condition>`: keeps the records for which the condition holds.
    Filter(Expr),
    /// `stats agg(..) [as x], ... [by e [as y], ...]`.
    Stats { aggs: Vec<Aggregate>, by: Vec<Named> },
    /// `sort f [asc|desc], ...` (ascending unless `desc`).
    Sort(Vec<(Expr, bool)>),
    /// `limit n`.
    Limit(usize),
    /// `parse [field] "glob with *" as a, b` or `parse [field] /regex with (?<name>...)/`.
    Parse { field: String, pattern: ParsePattern },
}

/// An expression with the name its value takes in the results: the alias, else its text.
#[derive(Debug)]
pub struct Named {
    pub expr: Expr,
    pub name: String,
}

/// How `parse` extracts fields.
#[derive(Debug)]
pub enum ParsePattern {
    /// A glob (`*` captures) and the names of its captures, in order.
    Glob { regex: Regex, names: Vec<String> },
    /// A regular expression with named groups.
    Regex(Regex),
}

/// A statistic of `stats`.
#[derive(Debug)]
pub struct Aggregate {
    pub func: AggFunc,
    /// The field or expression it reads (`None`: `count(*)` or `count()`).
    pub arg: Option<Expr>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggFunc {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    /// `pct(field, p)`: the p-th percentile.
    Pct(f64),
}

/// An expression.
#[derive(Debug)]
pub enum Expr {
    Field(String),
    Str(String),
    Num(f64),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    Arith(Box<Expr>, ArithOp, Box<Expr>),
    /// `e like /re/`, `e =~ /re/`, `e like "text"` (a substring), negated by `not like`.
    Like {
        expr: Box<Expr>,
        pattern: Regex,
        negated: bool,
    },
    /// `e in [a, b]`, negated by `not in`.
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// A function call other than `bin`.
    Call(Func, Vec<Expr>),
    /// `bin(period)`: `@timestamp` rounded down to a multiple of the period (milliseconds).
    Bin(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// The scalar functions served.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    IsPresent,
    IsEmpty,
    IsBlank,
    StrLen,
    ToLower,
    ToUpper,
    Concat,
    Coalesce,
    Abs,
    Floor,
    Ceil,
}

impl Func {
    /// The function called `name` (any case) and its number of arguments (`None`: one or more).
    pub fn by_name(name: &str) -> Option<(Func, Option<usize>)> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ispresent" => (Func::IsPresent, Some(1)),
            "isempty" => (Func::IsEmpty, Some(1)),
            "isblank" => (Func::IsBlank, Some(1)),
            "strlen" => (Func::StrLen, Some(1)),
            "tolower" => (Func::ToLower, Some(1)),
            "toupper" => (Func::ToUpper, Some(1)),
            "concat" => (Func::Concat, None),
            "coalesce" => (Func::Coalesce, None),
            "abs" => (Func::Abs, Some(1)),
            "floor" => (Func::Floor, Some(1)),
            "ceil" => (Func::Ceil, Some(1)),
            _ => return None,
        })
    }
}
