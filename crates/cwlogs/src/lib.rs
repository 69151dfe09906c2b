//! CloudWatch Logs for iotemu: the entries of the log pipeline, kept in a durable store and read
//! back through the `logs` API (JSON 1.1, `Logs_20140328.*`), as AWS IoT's entries are read from
//! CloudWatch (botocore `logs/2014-03-28/service-2.json`).
//!
//! - [`filter`]: CloudWatch filter patterns (terms, phrases, `?` alternatives, `-` exclusions,
//!   JSON patterns). Space-delimited patterns (`[a, b]`) and regular expressions (`%...%`) are
//!   refused with an error.
//! - [`store`]: the SQLite database (`logs.db`) of groups, streams and events.
//! - [`sink`]: the pipeline's sink into the store (its own thread; log group `AWSIotLogsV2`, one
//!   stream per day), retention and the count of entries it missed.
//! - [`insights`]: Logs Insights queries (StartQuery, GetQueryResults, StopQuery,
//!   DescribeQueries) and their language's subset.
//! - `service.rs`: the operations ([`Logs`]); `http.rs`: the JSON 1.1 wire.
//!
//! Limitations: no metric filters, subscriptions, saved query definitions, tags, KMS or data
//! protection; `aws logs tail` of the AWS CLI v2 works through FilterLogEvents, but the
//! StartLiveTail API is not served.

mod error;
pub mod filter;
mod http;
pub mod insights;
mod insights_http;
mod service;
pub mod sink;
mod spool;
pub mod store;
pub mod v2_logging;

pub use error::LogsError;
pub use http::routes;
pub use service::{FilterInput, Logs, RETENTION_DAYS};
pub use sink::{Backlog, StoreConfig, StoreSink, IOT_LOG_GROUP};
pub use store::LogStore;
