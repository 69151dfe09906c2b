//! The AWS IoT rules engine of iotemu: the topic rules of the `iot` API ([`TopicRules`], routes
//! in [`http`]), the AWS IoT SQL language, parsed once per rule and evaluated per message, with no
//! I/O of its own ([`sql::Statement`]), the substitution templates of rule actions
//! ([`sql::Template`]), the actions ([`actions`]) and the engine that runs them on messages and
//! writes the rule entries ([`RulesEngine`], see [`engine`] for its choices). External functions
//! (`get_thing_shadow`) go through [`sql::Environment`], which is also told of each call so the
//! engine can log FunctionExecution.
//!
//! Follows AWS's pages `iot-sql-reference`, `-select`, `-from`, `-where`, `-data-types`,
//! `-operators`, `-functions`, `-literals`, `-case`, `-json`, `-nested-queries`,
//! `iot-rule-sql-version`, `binary-payloads` and `iot-substitution-templates`, for SQL versions
//! `2015-10-08` (the default) and `2016-03-23` (`beta` is read as 2016-03-23).
//!
//! The parser is hand-written (a tokenizer and recursive descent of a few hundred lines) rather than
//! built on a parser library: the grammar is small, and it lets every error say what was expected
//! and where (`Expected ',' or FROM but found 'b' at 1:10`), as AWS's SqlParseException does.
//!
//! Version differences: object and array literals, nested `(SELECT ... FROM expr)`, `encode`,
//! `decode`, `isUndefined`, `length`, `indexof`, `numbytes`, `parse_time`, `get_thing_shadow`,
//! `time_to_epoch`, `transform` and `cast(... AS Decimal|Bool|Boolean)` are refused by the parser under
//! 2015-10-08; under 2016-03-23 a whole Decimal (`10.0`) is processed as an Int. A nested query
//! over an array gives an array of its projections; over one object, that object's projection.
//!
//! Limitations:
//! - Numbers are `i64` and `f64`, not AWS's 34-digit decimals; Int overflow falls back to a Decimal.
//!   Sums, differences and products are rounded to 15 significant digits (`0.1 + 0.2` = `0.3`).
//! - Regular expressions are Rust's `regex` (no look-around or back-references), not Java's.
//! - `parse_time` knows the common Joda-Time pattern letters and only UTC/GMT or fixed offsets
//!   (`+05:30`) as zones; named zones such as `America/Belize` give Undefined.
//! - Output text ([`sql::Output::to_bytes`]) keeps the payload's and the SELECT's key order, as
//!   AWS does; the parsed [`serde_json::Value`] beside it has serde_json's order.
//! - The undocumented 2015-10-08 quirks that 2016-03-23 "fixed" (nested objects, array queries,
//!   `SELECT VALUE` of an array) are not reproduced: both versions behave as 2016-03-23 there.
//! - Keys of items without `AS` are the last field name, the function name, or `_N` for other
//!   expressions (N = the item's position): AWS does not document them.
//! - Not implemented: `aws_lambda`, `get_dynamodb`, `get_secret`, `machinelearning_predict`,
//!   `md2`; unknown functions are parse errors. `time_to_epoch`, like `parse_time`, knows only
//!   UTC/GMT and fixed offsets (`UTC+01:00`, `+0100`).
//! - Non-JSON payloads: fields read as Undefined; `SELECT *` alone passes the bytes through and
//!   `encode(*, 'base64')` reads them; `*` beside other items is an evaluation error. An empty
//!   payload reads as `{}`.

pub mod actions;
pub mod engine;
pub mod http;
pub mod sql;
pub mod topic_rules;

pub use engine::{EngineConfig, RulesEngine, Services};
pub use topic_rules::{CachedRule, RuleError, TopicRule, TopicRulePayload, TopicRules};
