//! AWS IoT SQL: parse a rule's statement once, evaluate it against each message.
//!
//! ```
//! use iotemu_rules::sql::{Message, NoEnvironment, SqlVersion, Statement};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sql = "SELECT color AS rgb FROM 'topic/+' WHERE temperature > 50";
//! let rule = Statement::parse(sql, SqlVersion::default())?;
//! assert!(rule.matches_topic("topic/subtopic"));
//! let msg = Message {
//!     topic: "topic/subtopic".into(),
//!     payload: br#"{"color":"red","temperature":100}"#.to_vec().into(),
//!     ..Message::default()
//! };
//! let out = rule.evaluate(&msg, &NoEnvironment)?.map(|o| o.to_bytes());
//! assert_eq!(out, Some(br#"{"rgb":"red"}"#.to_vec()));
//!
//! let err = Statement::parse("SELECT color rgb FROM 't'", SqlVersion::default()).unwrap_err();
//! assert_eq!(err.to_string(), "Expected ',' or FROM but found 'rgb' at 1:14");
//! # Ok(())
//! # }
//! ```

mod ast;
mod eval;
mod functions;
mod parser;
mod template;
#[cfg(test)]
mod tests;
mod value;

pub use ast::{BinOp, CastType, Expr, From, Literal, Query, SelectItem, SqlVersion};
pub use eval::{
    Environment, EvalError, FunctionExecution, JsonPayload, Message, NoEnvironment, Output, ParsedPayload,
    MAX_COST,
};
pub use parser::{topic_matches, Position, SqlError};
pub use template::Template;

/// A parsed rule statement with its SQL version.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    query: Query,
    version: SqlVersion,
}

impl Statement {
    /// Parses `sql` as `version` interprets it; an error points at the problem.
    pub fn parse(sql: &str, version: SqlVersion) -> Result<Statement, SqlError> {
        Ok(Statement { query: parser::parse_statement(sql, version)?, version })
    }

    /// The topic filter of the FROM clause.
    pub fn topic_filter(&self) -> &str {
        match &self.query.from {
            From::Topic(t) => t,
            From::Expr(_) => "",
        }
    }

    /// Whether a message on `topic` triggers this statement.
    pub fn matches_topic(&self, topic: &str) -> bool {
        topic_matches(self.topic_filter(), topic)
    }

    /// The SQL version the statement was parsed with.
    pub fn version(&self) -> SqlVersion {
        self.version
    }

    /// The syntax tree.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Evaluates the statement: `None` when the WHERE clause does not match, else the outgoing payload.
    pub fn evaluate(&self, msg: &Message, env: &dyn Environment) -> Result<Option<Output>, EvalError> {
        eval::evaluate(&self.query, self.version, msg, env)
    }
}
