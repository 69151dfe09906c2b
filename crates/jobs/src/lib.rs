//! The AWS IoT Jobs service: jobs (SNAPSHOT and CONTINUOUS, targets of things and thing groups
//! with their descendants), job executions and their state machine, job templates, the device
//! MQTT API (`$aws/things/T/jobs/...`) and `iot-jobs-data` HTTP API, timeouts, the rollout
//! rate, the FAILED/REJECTED/TIMED_OUT abort criteria, the retries of FAILED and TIMED_OUT
//! executions (`jobExecutionsRetryConfig`), and the DescribeJobExecution,
//! GetPendingJobExecution, StartNextPendingJobExecution, UpdateJobExecution and
//! ReportFinalJobExecutionCount entries.
//!
//! - `service.rs`: [`Jobs`], loading, persistence, notifications; `state.rs`: its tables;
//!   `txn.rs`: one change to executions and what follows it (abort, completion, notifications);
//!   `timers.rs`: timeouts, rollout and CONTINUOUS targets.
//! - One folder per area, each with `state.rs` (data, pure rules), `service.rs` (operations) and
//!   `http.rs` (wire only): [`jobs`] (CreateJob, DescribeJob, ...), [`executions`] (the
//!   execution state machine; DescribeJobExecution, CancelJobExecution, ...) and [`templates`]
//!   (CreateJobTemplate, ...).
//! - [`device`]: the four device operations and their entries for either transport
//!   ([`device::service`]), the reserved request topics ([`device::mqtt`], answers to the
//!   requester alone) and `iot-jobs-data` ([`device::http`]).
//! - [`http`]: the `iot` and the `iot-jobs-data` routers.
//!
//! AWS pages followed: jobs-mqtt-api.md, jobs-http-device-api.md, jobs-api.md,
//! jobs-comm-notifications.md, iot-jobs-lifecycle.md, jobs-configurations-details.md, and
//! `docs/aws-behaviour.md` §7.
//!
//! Time: a [`iotemu_core::Clock`] is injected, and a timer "minute" lasts `minute_ms` (the
//! `[jobs] minute_seconds` setting, 60 by default), so a test can see a 1-minute step timeout
//! fire in about a second. [`Jobs::run_timers`] sweeps several times per "minute".
//!
//! Choices where AWS is silent or ambiguous (unconfirmed): a new execution has version 1 and
//! execution number 1; a retry is a new QUEUED execution with the next number, and the ended
//! ones stay readable by their number (`docs/aws-behaviour.md` §24); a device may move QUEUED
//! straight to SUCCEEDED, FAILED or REJECTED; updating an execution the service ended (TIMED_OUT,
//! CANCELED, REMOVED) is TerminalStateReached, one the device ended InvalidStateTransition;
//! `jobs/notify` is sent when the set of pending job ids changes and `jobs/notify-next` when the
//! next job changes (`jobs-comm-notifications.md`); CancelJob of a COMPLETED job is
//! InvalidStateTransitionException; an abort cancels like CancelJob without force.
//!
//! Limitations: `documentSource` is kept but never fetched (devices get `{}`); the retry count
//! is not reset when a thing rejoins a CONTINUOUS job's group; scheduling, presigned URLs, exponential rollout and namespaces are not implemented (dynamic thing
//! groups work as targets: their members are registry members); targets must exist when the job is created; the rollout rate applies per
//! "minute" window rather than evenly within it.

pub mod device;
mod error;
mod events;
pub mod executions;
pub mod http;
pub mod jobs;
mod s3;
mod service;
mod state;
pub mod templates;
mod timers;
mod txn;

pub use error::JobsError;
pub use executions::http::execution_json;
pub use jobs::http::job_json;
pub use jobs::state::{CreateJob, Job, UpdateJob};
pub use service::{Jobs, Targets};
pub use state::check_id;
pub use templates::state::{CreateJobTemplate, JobTemplate};

use iotemu_core::{ClientInfo, Protocol};
use std::sync::{Arc, OnceLock};

/// The source of the service's own messages (notifications): no client.
pub(crate) fn service_source() -> Arc<ClientInfo> {
    static SOURCE: OnceLock<Arc<ClientInfo>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
            Arc::new(ClientInfo::new(Protocol::Mqtt, "", "iotemu-jobs", unspecified))
        })
        .clone()
}

#[cfg(test)]
mod tests;
