//! CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`).

use std::fmt;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    _private: (),
}

/// Why a pattern does not parse: where (a character offset) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub position: usize,
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
    pub fn parse(_pattern: &str) -> Result<FilterPattern, PatternError> {
        Ok(FilterPattern { _private: () })
    }

    /// Whether the event `message` matches.
    pub fn matches(&self, _message: &str) -> bool {
        true
    }

    /// Equalities every matching event satisfies: top-level JSON fields compared with `=` to a
    /// string without wildcards, joined by `&&` only (e.g. `eventType` = `Connect`). The store
    /// uses them to narrow the events it reads through an index before [`Self::matches`].
    pub fn required_equalities(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
