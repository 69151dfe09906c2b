//! The `iot` API's logging options: SetV2LoggingOptions, GetV2LoggingOptions,
//! SetV2LoggingLevel, ListV2LoggingLevels and DeleteV2LoggingLevel. They decide which entries the
//! log pipeline writes, to CloudWatch Logs among its sinks.

mod service;

pub use service::{routes, Logging};
