//! The `iot` API's logging options: SetV2LoggingOptions, GetV2LoggingOptions,
//! SetV2LoggingLevel, ListV2LoggingLevels and DeleteV2LoggingLevel. They decide which entries the
//! log pipeline writes (to CloudWatch Logs among its sinks), so they live with iotemu's CloudWatch
//! Logs side: `state.rs` (the stored options, level names), `service.rs` (the operations over the
//! pipeline's level policy and the store), `error.rs`, `http.rs` (wire only).

mod error;
mod http;
mod service;
mod state;

pub use error::LoggingError;
pub use http::routes;
pub use service::{Logging, V2LoggingOptions};
pub use state::{parse_level, LoggingOptions, TargetLevel};
