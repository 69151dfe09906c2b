//! The parsed form of a filter pattern and how it is evaluated against one event message.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// What a pattern is, once parsed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// The empty pattern: every event matches.
    All,
    /// Terms and phrases searched for in the raw message.
    Terms(Terms),
    /// A `{ ... }` pattern evaluated on the message parsed as a JSON object.
    Json(Expr),
}

/// A term pattern: each term is a case-sensitive substring of the raw message.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Terms {
    /// Plain terms: all must occur.
    pub required: Vec<String>,
    /// `?term`: when there is any, at least one must occur.
    pub optional: Vec<String>,
    /// `-term`: none may occur.
    pub excluded: Vec<String>,
}

impl Terms {
    pub fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| message.contains(t.as_str()))
            && !self.excluded.iter().any(|t| message.contains(t.as_str()))
            && (self.optional.is_empty() || self.optional.iter().any(|t| message.contains(t.as_str())))
    }
}

/// A boolean expression of a JSON pattern; parentheses leave no trace.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond(Condition),
}

impl Expr {
    pub fn eval(&self, root: &Value) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(root)),
            Expr::Or(items) => items.iter().any(|e| e.eval(root)),
            Expr::Cond(c) => c.eval(root),
        }
    }

    /// Adds the `$.field = "text"` conditions that every match satisfies (see
    /// `FilterPattern::required_equalities`): only conjunctions are walked.
    pub fn collect_equalities(&self, out: &mut Vec<(String, String)>) {
        match self {
            Expr::And(items) => items.iter().for_each(|e| e.collect_equalities(out)),
            Expr::Or(_) => {}
            Expr::Cond(c) => out.extend(c.top_level_equality()),
        }
    }
}

/// One step of a selector: `.name` or `[index]`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// `SELECTOR test`, e.g. `$.sourcePort > 1000` or `$.a NOT EXISTS`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    pub path: Vec<Step>,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Test {
    Cmp(CmpOp, Literal),
    IsTrue,
    IsFalse,
    IsNull,
    NotExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `<`, `<=`, `>`, `>=`: these take a number only.
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    /// Whether `field <op> literal` holds, given how the field compares with the literal.
    fn holds(self, field_vs_literal: Ordering) -> bool {
        match self {
            CmpOp::Eq => field_vs_literal == Ordering::Equal,
            CmpOp::Ne => field_vs_literal != Ordering::Equal,
            CmpOp::Lt => field_vs_literal == Ordering::Less,
            CmpOp::Le => field_vs_literal != Ordering::Greater,
            CmpOp::Gt => field_vs_literal == Ordering::Greater,
            CmpOp::Ge => field_vs_literal != Ordering::Less,
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    /// A quoted string, or an unquoted value that is not a number.
    Text(TextPattern),
    /// An unquoted number, kept as written too (`=` and `!=` compare it with string fields as text).
    Number(NumberLiteral),
}

/// A string value, with AWS's `*` wildcard at its start and/or end; a `*` elsewhere is literal.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TextPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl TextPattern {
    pub fn new(text: String) -> TextPattern {
        if text == "*" {
            return TextPattern::Contains(String::new());
        }
        match (text.strip_prefix('*'), text.strip_suffix('*')) {
            (None, None) => TextPattern::Exact(text),
            (None, Some(rest)) => TextPattern::Prefix(rest.to_owned()),
            (Some(rest), None) => TextPattern::Suffix(rest.to_owned()),
            (Some(_), Some(_)) => TextPattern::Contains(text[1..text.len() - 1].to_owned()),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            TextPattern::Exact(t) => s == t,
            TextPattern::Prefix(t) => s.starts_with(t.as_str()),
            TextPattern::Suffix(t) => s.ends_with(t.as_str()),
            TextPattern::Contains(t) => s.contains(t.as_str()),
        }
    }
}

/// A number of the pattern: compared exactly with JSON integers when it is an integer itself.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NumberLiteral {
    pub raw: String,
    pub float: f64,
    pub int: Option<i128>,
}

impl NumberLiteral {
    /// How the JSON number `n` compares with this literal.
    fn compare(&self, n: &Number) -> Option<Ordering> {
        if let Some(int) = self.int {
            if let Some(i) = n.as_i64() {
                return Some(i128::from(i).cmp(&int));
            }
            if let Some(u) = n.as_u64() {
                return Some(i128::from(u).cmp(&int));
            }
        }
        n.as_f64()?.partial_cmp(&self.float)
    }
}

impl Condition {
    fn eval(&self, root: &Value) -> bool {
        let value = resolve(root, &self.path);
        match &self.test {
            Test::NotExists => value.is_none(),
            Test::IsNull => matches!(value, Some(Value::Null)),
            Test::IsTrue => matches!(value, Some(Value::Bool(true))),
            Test::IsFalse => matches!(value, Some(Value::Bool(false))),
            Test::Cmp(op, literal) => value.is_some_and(|v| compare(v, *op, literal)),
        }
    }

    fn top_level_equality(&self) -> Option<(String, String)> {
        match (self.path.as_slice(), &self.test) {
            ([Step::Key(field)], Test::Cmp(CmpOp::Eq, Literal::Text(TextPattern::Exact(text)))) => {
                Some((field.clone(), text.clone()))
            }
            _ => None,
        }
    }
}

/// The value at `path`, if every step exists (a key of an object, an index of an array).
fn resolve<'v>(root: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, step| match step {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

/// `value <op> literal`. Only strings, numbers and booleans compare: a null, an array or an object
/// makes both `=` and `!=` false, as AWS says of selectors that do not point to a value.
fn compare(value: &Value, op: CmpOp, literal: &Literal) -> bool {
    match literal {
        Literal::Text(pattern) => {
            let equal = match value {
                Value::String(s) => pattern.matches(s),
                Value::Number(n) => pattern.matches(&n.to_string()),
                Value::Bool(b) => pattern.matches(if *b { "true" } else { "false" }),
                Value::Null | Value::Array(_) | Value::Object(_) => return false,
            };
            match op {
                CmpOp::Eq => equal,
                CmpOp::Ne => !equal,
                // The parser gives `<`, `<=`, `>`, `>=` a number only.
                _ => false,
            }
        }
        Literal::Number(number) => match value {
            Value::Number(n) => number.compare(n).is_some_and(|ord| op.holds(ord)),
            Value::String(s) if op == CmpOp::Eq => *s == number.raw,
            Value::String(s) if op == CmpOp::Ne => *s != number.raw,
            _ => false,
        },
    }
}
