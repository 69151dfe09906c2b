//! CloudWatch Logs for iotemu: the entries of the log pipeline, kept in a durable store and read
//! back through the `logs` API (JSON 1.1, `Logs_20140328.*`), as AWS IoT's entries are read from
//! CloudWatch.
//!
//! - [`filter`]: CloudWatch filter patterns (terms, phrases, `?` alternatives, `-` exclusions,
//!   JSON patterns). Space-delimited patterns (`[a, b]`) and regular expressions (`%...%`) are
//!   refused with an error.

pub mod filter;
