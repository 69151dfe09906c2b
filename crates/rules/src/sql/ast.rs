//! The syntax tree of one AWS IoT SQL statement.

use std::fmt;

/// The AWS IoT SQL version a statement is interpreted with (`awsIotSqlVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqlVersion {
    /// `2015-10-08`, the default when a rule names none.
    #[default]
    V2015_10_08,
    /// `2016-03-23`: literals, nested queries, `encode`/`decode`, whole decimals as Int.
    V2016_03_23,
}

impl SqlVersion {
    /// Parses `2015-10-08`, `2016-03-23` or `beta` (treated as the newest version).
    pub fn parse(s: &str) -> Option<SqlVersion> {
        match s {
            "2015-10-08" => Some(SqlVersion::V2015_10_08),
            "2016-03-23" | "beta" => Some(SqlVersion::V2016_03_23),
            _ => None,
        }
    }

    /// The version as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlVersion::V2015_10_08 => "2015-10-08",
            SqlVersion::V2016_03_23 => "2016-03-23",
        }
    }
}

impl fmt::Display for SqlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SELECT query: the statement itself or a nested query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `SELECT VALUE expr`: the output is the value itself, not an object.
    pub value: bool,
    /// The selected items, in order.
    pub items: Vec<SelectItem>,
    /// What the query reads from.
    pub from: From,
    /// The optional WHERE condition.
    pub condition: Option<Expr>,
}

/// The source of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum From {
    /// `FROM 'topic/filter'` of the top-level statement.
    Topic(String),
    /// `FROM expr` of a nested query (2016-03-23): an array whose elements are queried.
    Expr(Box<Expr>),
}

/// One item of the SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: every field of the input.
    Wildcard,
    /// `expr [AS a.b]`.
    Expr {
        /// The selected expression.
        expr: Expr,
        /// The output key path (`AS a.b` nests); `None` derives the key from the expression.
        alias: Option<Vec<String>>,
    },
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `OR`
    Or,
    /// `AND`
    And,
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

/// The target type of `cast(x AS type)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    /// `String`, `Nvarchar`, `Text`, `Ntext`, `varchar`
    String,
    /// `Int`, `Integer`
    Int,
    /// `Double`, and `Decimal` (2016-03-23)
    Decimal,
    /// `Bool`, `Boolean` (2016-03-23)
    Boolean,
}

/// A literal value written in the statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `NULL`
    Null,
    /// `TRUE`, `FALSE`
    Bool(bool),
    /// A number without fraction or exponent.
    Int(i64),
    /// A number with a fraction or exponent.
    Decimal(f64),
    /// `'text'` or `"text"`
    String(String),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Literal),
    /// A top-level field of the current input (`color`).
    Field(String),
    /// `*` as a function argument: the whole payload (for `encode(*, 'base64')`).
    Wildcard,
    /// `expr.name`
    Member(Box<Expr>, String),
    /// `expr[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `NOT expr`
    Not(Box<Expr>),
    /// `-expr`
    Neg(Box<Expr>),
    /// `left op right`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `name(args...)`; `name` is lower-cased.
    Call(String, Vec<Expr>),
    /// `cast(expr AS type)`
    Cast(Box<Expr>, CastType),
    /// `CASE v WHEN t THEN r ... [ELSE e] END`
    Case {
        /// The value compared with each `WHEN`.
        operand: Box<Expr>,
        /// `(when, then)` pairs, at least one.
        branches: Vec<(Expr, Expr)>,
        /// The `ELSE` result.
        otherwise: Option<Box<Expr>>,
    },
    /// `{'k': v, ...}` (2016-03-23)
    Object(Vec<(String, Expr)>),
    /// `[a, b, ...]` (2016-03-23)
    Array(Vec<Expr>),
    /// `(SELECT ... FROM expr ...)` (2016-03-23)
    Subquery(Box<Query>),
}
