//! CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`).
//!
//! Follows AWS's "Filter pattern syntax for metric filters, subscription filters, filter log
//! events, and Live Tail" (`FilterAndPatternSyntax.html`, with its "matching terms in unstructured
//! log events" and "JSON log events" sections). Supported:
//!
//! - Term patterns on the raw message: `ERROR Exception` (every term), `"room 1"` (a phrase),
//!   `?ERROR ?WARN` (any of them), `ERROR -Connect` / `"Failure" - "Connect"` (none of them).
//! - JSON patterns `{ SELECTOR OP VALUE }`: selectors `$.a`, `$.a.b`, `$.a[0]`, `$.a[0].b[1]`;
//!   `=`, `!=` with a quoted or unquoted string (with `*` wildcards) or a number; `<`, `<=`, `>`,
//!   `>=` with a number; `IS TRUE`, `IS FALSE`, `IS NULL`, `NOT EXISTS`; `&&`, `||` and parentheses,
//!   `&&` binding tighter than `||`.
//!
//! Not supported (rejected with a [`PatternError`]): space-delimited patterns `[a, b, ...]` and
//! regular expressions `%...%`.
//!
//! Where AWS's pages leave a point open, this module chooses:
//! - A term is a case-sensitive substring of the message (AWS: `ERROR` matches `ERRORCODE`).
//!   Unquoted terms may hold only letters, digits and `_`; anything else must be quoted, as AWS
//!   says, and is otherwise an error. A quoted phrase escapes `"` and `\` with a backslash.
//! - When plain, `?` and `-` terms are mixed, an event matches when it has every plain term, at
//!   least one `?` term (if there is any) and no `-` term.
//! - A JSON pattern matches only messages that are JSON objects. A comparison is true only when
//!   the selector reaches a string, number or boolean: on a missing field, `null`, an array or an
//!   object both `=` and `!=` are false (AWS says so of arrays and objects).
//! - A string value compares with a string field as text, and with a number or boolean field as
//!   the field's JSON text (so `{ $.latency = * }` matches any latency, as in AWS's example).
//!   `*` is a wildcard at the start and/or end of a value only; elsewhere it is a literal `*`
//!   (AWS: `Ev*ent` only matches `Ev*ent`).
//! - An unquoted number compares numerically with number fields (integers exactly), and with
//!   `=`/`!=` as text with string fields (`{ $.accountId = 123456789012 }` matches the string
//!   `"123456789012"`). `<`, `<=`, `>`, `>=` are false on anything but a number field.
//! - Keywords (`IS`, `TRUE`, `FALSE`, `NULL`, `NOT`, `EXISTS`) are accepted in any case.

mod ast;
mod parser;
mod project;
#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

use ast::Kind;
use project::Projection;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    kind: Kind,
    /// What a JSON pattern reads of each event (empty for other patterns).
    projection: Projection,
}

/// Why a pattern does not parse: where (a character offset) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Zero-based offset, in characters, of the place where parsing failed.
    pub position: usize,
    /// What was expected there, and what was found.
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid filter pattern at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for PatternError {}

impl FilterPattern {
    /// Parses `pattern`; an empty (or blank) pattern matches every event.
    pub fn parse(pattern: &str) -> Result<FilterPattern, PatternError> {
        let kind = parser::parse(pattern)?;
        let projection = match &kind {
            Kind::Json(expr) => Projection::of(expr),
            Kind::All | Kind::Terms(_) => Projection::default(),
        };
        Ok(FilterPattern { kind, projection })
    }

    /// Whether the event `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(terms) => terms.matches(message),
            Kind::Json(expr) => {
                // Skip the JSON parser for messages that cannot be objects.
                if !message.trim_start().starts_with('{') {
                    return false;
                }
                match self.projection.parse(message) {
                    Some(root @ Value::Object(_)) => expr.eval(&root),
                    _ => false,
                }
            }
        }
    }

    /// Equalities every matching event satisfies: top-level JSON fields compared with `=` to a
    /// string without wildcards, joined by `&&` only (e.g. `eventType` = `Connect`). The store
    /// uses them to narrow the events it reads through an index before [`Self::matches`].
    ///
    /// For a pair `(field, value)`, a matching event's top-level `field` is the JSON string
    /// `value`, or a number or boolean whose JSON text is `value` (`{ $.sourcePort = "51234" }`).
    /// Unquoted numbers (`{ $.sourcePort = 51234 }`) give no pair: they also match `51234.0`.
    pub fn required_equalities(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Kind::Json(expr) = &self.kind {
            expr.collect_equalities(&mut out);
        }
        out
    }
}
