//! The product log of iotemu: the CloudWatch entries AWS IoT writes to `AWSIotLogsV2`.
//!
//! - [`entries`]: one struct per documented entry (the repository's `spec/`, from AWS's
//!   "CloudWatch AWS IoT log entries" page), holding exactly its documented attributes, wrapped
//!   in a [`LogRecord`] with the common ones.
//! - [`spec`]: those documented entries as data (`spec/*.json`, embedded), and [`check`], the
//!   validator behind `iotemu check-entries`.
//! - [`level`]: the log levels and the policy that filters entries (AWS: ERROR ⊂ WARN ⊂ INFO ⊂ DEBUG,
//!   `configure-logging.md`; which entry logs at which level: `docs/aws-behaviour.md` §5).
//! - [`pipeline`]: producers hand records to an [`EventSink`] without ever blocking; one writer
//!   thread serializes each record once and fans the line out to the [`sinks`].
//! - [`wireless`]: the AWS IoT Core for LoRaWAN entries (`/aws/iotwireless`, their own schema).
//! - [`tail`]: live tailing, the most recent lines and a broadcast of new ones, with filters.
//!
//! The emulator's own diagnostics go through `tracing` and never into this stream.
//! Limitations: the dynamic-group entries, and the newer broker entries other than
//! Connection.AuthNError, Ping, GetRetainedMessage and ListRetainedMessage, are in the spec but
//! not written yet (`docs/coverage.md`).

pub mod check;
pub mod entries;
pub mod event_config;
pub mod level;
pub mod pipeline;
pub mod policy;
pub mod sinks;
pub mod spec;
pub mod tail;
pub mod wireless;

pub use entries::{
    Connect, ConnectionAuthNError, Disconnect, DisconnectReason, DynamicGroupsFailed, GetDeviceCredentials,
    GetRetainedMessage, JobCompletionEntry, JobEntry, LogEntry, LogRecord, Ping, ProvisionDevice, PublishIn,
    PublishOut, RuleEntry, ShadowEntry, Status, Subscribe,
};
pub use event_config::{EventConfiguration, EventConfigurations};
pub use level::{LevelFilter, LogLevel};
pub use pipeline::{EventSink, LogPipeline, PipelineHandle};
pub use policy::{LevelPolicy, LogTarget, TargetType};
pub use sinks::{FileSink, LogSink, StdoutSink};
pub use tail::{live_tail, LiveTail, TailFilter, TailLine, TailSink, TailStatus};
pub use wireless::{
    DownlinkEntry, JoinEntry, UplinkEntry, WirelessEntry, WirelessLogLevel, WirelessRecord, WirelessResource,
};
