//! The data of the Jobs service and its pure functions: the job-execution state machine, the
//! timers, the counts of `jobProcessDetails` and ReportFinalJobExecutionCount, the abort check,
//! and the JSON shapes of both planes. Nothing here touches the store, the clock or the broker.
//!
//! Times are epoch milliseconds inside; both device planes show epoch seconds
//! (`docs/aws-behaviour.md` §7) and the `iot` API shows epoch seconds with a fraction.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A job execution's status (botocore `JobExecutionStatus`; `iot-jobs-lifecycle.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    TimedOut,
    Rejected,
    Removed,
    Canceled,
}

impl ExecutionStatus {
    /// Every status, in botocore's order.
    pub const ALL: [ExecutionStatus; 8] = [
        ExecutionStatus::Queued,
        ExecutionStatus::InProgress,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Rejected,
        ExecutionStatus::Removed,
        ExecutionStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "QUEUED",
            ExecutionStatus::InProgress => "IN_PROGRESS",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Rejected => "REJECTED",
            ExecutionStatus::Removed => "REMOVED",
            ExecutionStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// QUEUED and IN_PROGRESS are pending; every other status is terminal.
    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecutionStatus::Queued | ExecutionStatus::InProgress)
    }

    /// The statuses a device may ask for in UpdateJobExecution (`jobs-mqtt-api.md`).
    pub fn device_settable(self) -> bool {
        matches!(
            self,
            ExecutionStatus::InProgress
                | ExecutionStatus::Succeeded
                | ExecutionStatus::Failed
                | ExecutionStatus::Rejected
        )
    }

    /// Terminal statuses the service itself sets (the device's work no longer counts).
    pub fn ended_by_service(self) -> bool {
        matches!(self, ExecutionStatus::TimedOut | ExecutionStatus::Removed | ExecutionStatus::Canceled)
    }
}

/// A job's status (botocore `JobStatus`; SCHEDULED is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    InProgress,
    Canceled,
    Completed,
    DeletionInProgress,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Completed => "COMPLETED",
            JobStatus::DeletionInProgress => "DELETION_IN_PROGRESS",
        }
    }
}

/// SNAPSHOT (the targets when the job is created) or CONTINUOUS (also things added to its
/// groups later; it never completes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetSelection {
    Snapshot,
    Continuous,
}

impl TargetSelection {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSelection::Snapshot => "SNAPSHOT",
            TargetSelection::Continuous => "CONTINUOUS",
        }
    }
}

/// The code of a `/rejected` answer (`jobs-api.md`, "ErrorResponse").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    InvalidTopic,
    InvalidJson,
    InvalidRequest,
    InvalidStateTransition,
    ResourceNotFound,
    VersionMismatch,
    InternalError,
    RequestThrottled,
    TerminalStateReached,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidTopic => "InvalidTopic",
            RejectCode::InvalidJson => "InvalidJson",
            RejectCode::InvalidRequest => "InvalidRequest",
            RejectCode::InvalidStateTransition => "InvalidStateTransition",
            RejectCode::ResourceNotFound => "ResourceNotFound",
            RejectCode::VersionMismatch => "VersionMismatch",
            RejectCode::InternalError => "InternalError",
            RejectCode::RequestThrottled => "RequestThrottled",
            RejectCode::TerminalStateReached => "TerminalStateReached",
        }
    }

    /// The `iot-jobs-data` HTTP status and exception (botocore). VersionMismatch has no
    /// exception of its own in UpdateJobExecution's list: InvalidStateTransitionException (409).
    pub fn http(self) -> (u16, &'static str) {
        match self {
            RejectCode::InvalidTopic | RejectCode::InvalidJson | RejectCode::InvalidRequest => {
                (400, "InvalidRequestException")
            }
            RejectCode::InvalidStateTransition | RejectCode::VersionMismatch => {
                (409, "InvalidStateTransitionException")
            }
            RejectCode::ResourceNotFound => (404, "ResourceNotFoundException"),
            RejectCode::TerminalStateReached => (410, "TerminalStateException"),
            RejectCode::RequestThrottled => (429, "ThrottlingException"),
            RejectCode::InternalError => (503, "ServiceUnavailableException"),
        }
    }
}

/// A device request the service refuses: the `/rejected` code and message, and whether the
/// answer carries the execution's state (InvalidStateTransition, VersionMismatch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError {
    pub code: RejectCode,
    pub message: String,
    pub with_state: bool,
}

impl DeviceError {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        DeviceError { code, message: message.into(), with_state: false }
    }

    fn with_state(mut self) -> Self {
        self.with_state = true;
        self
    }
}

/// Whether a device may move an execution from `current` to `requested` with
/// UpdateJobExecution. The table (`iot-jobs-lifecycle.md`; choices where it is silent):
/// - only IN_PROGRESS, SUCCEEDED, FAILED and REJECTED may be asked for (InvalidRequest);
/// - from QUEUED or IN_PROGRESS any of them is allowed (IN_PROGRESS -> IN_PROGRESS updates the
///   details and the step timer; QUEUED -> REJECTED is the device refusing the job);
/// - from a terminal status the device set (SUCCEEDED, FAILED, REJECTED): InvalidStateTransition;
/// - from a terminal status the service set (TIMED_OUT, CANCELED, REMOVED): TerminalStateReached
///   (unconfirmed: AWS names the code without saying when it is used).
pub fn check_device_transition(
    current: ExecutionStatus,
    requested: ExecutionStatus,
) -> Result<(), DeviceError> {
    if !requested.device_settable() {
        return Err(DeviceError::new(
            RejectCode::InvalidRequest,
            format!(
                "Invalid status {}: a device may set IN_PROGRESS, SUCCEEDED, FAILED or REJECTED",
                requested.as_str()
            ),
        ));
    }
    if current.ended_by_service() {
        return Err(DeviceError::new(
            RejectCode::TerminalStateReached,
            format!("The job execution is in the terminal state {}", current.as_str()),
        )
        .with_state());
    }
    if current.is_terminal() {
        return Err(DeviceError::new(
            RejectCode::InvalidStateTransition,
            format!("Cannot update the job execution from {} to {}", current.as_str(), requested.as_str()),
        )
        .with_state());
    }
    Ok(())
}

/// One thing's execution of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub job_id: String,
    pub thing_name: String,
    pub status: ExecutionStatus,
    #[serde(default)]
    pub status_details: BTreeMap<String, String>,
    pub queued_at: u64,
    pub started_at: Option<u64>,
    pub last_updated_at: u64,
    pub execution_number: i64,
    pub version_number: i64,
    /// Creation order, for "in the order in which they were created".
    pub seq: u64,
    /// When the step timer runs out (epoch ms).
    pub step_deadline: Option<u64>,
    /// When the job's in-progress timer runs out (epoch ms).
    pub in_progress_deadline: Option<u64>,
    #[serde(default)]
    pub force_canceled: bool,
    /// How many retries came before this execution (botocore `JobExecutionSummary.retryAttempt`:
    /// "how many retry attempts have been completed for this job on this device").
    #[serde(default)]
    pub retry_attempt: u32,
    /// The thing's earlier executions of the job that ended FAILED or TIMED_OUT and were retried,
    /// oldest first (`jobs-configurations-details.md`, "Job execution retry configuration").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<Execution>,
}

impl Execution {
    /// A new QUEUED execution (version 1, as `jobs-comm-notifications.md` shows).
    pub fn queued(job_id: &str, thing: &str, now: u64, seq: u64) -> Self {
        Execution {
            job_id: job_id.to_string(),
            thing_name: thing.to_string(),
            status: ExecutionStatus::Queued,
            status_details: BTreeMap::new(),
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            execution_number: 1,
            version_number: 1,
            seq,
            step_deadline: None,
            in_progress_deadline: None,
            force_canceled: false,
            retry_attempt: 0,
            earlier: Vec::new(),
        }
    }

    /// The retry of this ended execution: a new QUEUED execution of the same job for the same
    /// thing, with the next execution number, which keeps this one among its `earlier`.
    pub fn retried(&self, now: u64, seq: u64) -> Execution {
        let mut next = Execution::queued(&self.job_id, &self.thing_name, now, seq);
        next.execution_number = self.execution_number + 1;
        next.retry_attempt = self.retry_attempt + 1;
        next.earlier = self.earlier.clone();
        next.earlier.push(Execution { earlier: Vec::new(), ..self.clone() });
        next
    }

    /// This execution and the earlier ones it retried, newest first.
    pub fn attempts(&self) -> impl Iterator<Item = &Execution> {
        std::iter::once(self).chain(self.earlier.iter().rev())
    }

    /// Moves to `status` at `now`: the version goes up, timers stop at a terminal status.
    pub fn set_status(&mut self, status: ExecutionStatus, now: u64) {
        self.status = status;
        self.last_updated_at = now;
        self.version_number += 1;
        if status.is_terminal() {
            self.step_deadline = None;
            self.in_progress_deadline = None;
        }
    }

    /// The earlier of the two timers.
    pub fn deadline(&self) -> Option<u64> {
        match (self.step_deadline, self.in_progress_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// TIMED_OUT if a timer has run out by `now`; true when it did.
    pub fn time_out(&mut self, now: u64) -> bool {
        if self.status != ExecutionStatus::InProgress || self.deadline().is_none_or(|d| d > now) {
            return false;
        }
        self.set_status(ExecutionStatus::TimedOut, now);
        true
    }
}

/// What a device asks for in StartNextPendingJobExecution or UpdateJobExecution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceUpdate {
    pub status: Option<ExecutionStatus>,
    pub status_details: Option<BTreeMap<String, String>>,
    pub expected_version: Option<i64>,
    pub execution_number: Option<i64>,
    /// 1-10080 minutes; -1 stops the step timer.
    pub step_timeout_minutes: Option<i64>,
}

/// The longest step timeout AWS allows (7 days, `job-limits.md`).
pub const MAX_STEP_TIMEOUT_MINUTES: i64 = 10080;

/// Checks `statusDetails` (botocore `DetailsMap`: keys `[a-zA-Z0-9:_-]+` of at most 128
/// characters, values of 1-1024 characters).
pub fn check_status_details(details: &BTreeMap<String, String>) -> Result<(), DeviceError> {
    for (key, value) in details {
        let key_ok = (1..=128).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b));
        if !key_ok {
            return Err(DeviceError::new(
                RejectCode::InvalidRequest,
                format!("Invalid statusDetails key {key:?}"),
            ));
        }
        if !(1..=1024).contains(&value.chars().count()) {
            return Err(DeviceError::new(
                RejectCode::InvalidRequest,
                format!("statusDetails value of {key:?} must be 1 to 1024 characters"),
            ));
        }
    }
    Ok(())
}

fn check_step_timeout(minutes: Option<i64>) -> Result<(), DeviceError> {
    match minutes {
        None | Some(-1) => Ok(()),
        Some(m) if (1..=MAX_STEP_TIMEOUT_MINUTES).contains(&m) => Ok(()),
        Some(m) => Err(DeviceError::new(
            RejectCode::InvalidRequest,
            format!("stepTimeoutInMinutes {m} must be between 1 and {MAX_STEP_TIMEOUT_MINUTES}, or -1"),
        )),
    }
}

/// Timer settings: how long a "minute" is (tests shorten it) and the job's in-progress timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub minute_ms: u64,
    pub in_progress_timeout_minutes: Option<u64>,
}

/// Moves a QUEUED execution to IN_PROGRESS (starting the in-progress timer) or keeps an
/// IN_PROGRESS one, applying `statusDetails` and the step timer as asked.
fn start(exec: &mut Execution, update: &DeviceUpdate, now: u64, timers: Timers) {
    if exec.status == ExecutionStatus::Queued {
        exec.started_at = Some(now);
        exec.in_progress_deadline =
            timers.in_progress_timeout_minutes.map(|m| now + m.saturating_mul(timers.minute_ms));
    }
    match update.step_timeout_minutes {
        Some(-1) => exec.step_deadline = None,
        Some(m) if m > 0 => exec.step_deadline = Some(now + (m as u64).saturating_mul(timers.minute_ms)),
        _ => {}
    }
}

/// StartNextPendingJobExecution on the next pending execution: a QUEUED one starts (its
/// details set as given); an IN_PROGRESS one is returned as it is (`jobs-mqtt-api.md`).
pub fn apply_start_next(
    exec: &mut Execution,
    update: &DeviceUpdate,
    now: u64,
    timers: Timers,
) -> Result<bool, DeviceError> {
    check_step_timeout(update.step_timeout_minutes)?;
    if let Some(details) = &update.status_details {
        check_status_details(details)?;
    }
    if exec.status != ExecutionStatus::Queued {
        return Ok(false);
    }
    start(exec, update, now, timers);
    if let Some(details) = &update.status_details {
        exec.status_details = details.clone();
    }
    exec.set_status(ExecutionStatus::InProgress, now);
    Ok(true)
}

/// UpdateJobExecution: the checks in AWS's order as far as the pages tell (request, version,
/// transition), then the change.
pub fn apply_device_update(
    exec: &mut Execution,
    update: &DeviceUpdate,
    now: u64,
    timers: Timers,
) -> Result<(), DeviceError> {
    let Some(requested) = update.status else {
        return Err(DeviceError::new(RejectCode::InvalidRequest, "Missing required field: status"));
    };
    check_step_timeout(update.step_timeout_minutes)?;
    if let Some(details) = &update.status_details {
        check_status_details(details)?;
    }
    if let Some(expected) = update.expected_version {
        if expected != exec.version_number {
            return Err(DeviceError::new(
                RejectCode::VersionMismatch,
                format!(
                    "The expected version {expected} does not match the job execution's version {}",
                    exec.version_number
                ),
            )
            .with_state());
        }
    }
    check_device_transition(exec.status, requested)?;
    if requested == ExecutionStatus::InProgress {
        start(exec, update, now, timers);
    }
    if let Some(details) = &update.status_details {
        exec.status_details = details.clone();
    }
    exec.set_status(requested, now);
    Ok(())
}

/// Pending executions in AWS's order: IN_PROGRESS first, then QUEUED, each oldest first.
pub fn pending_order<'a>(executions: impl IntoIterator<Item = &'a Execution>) -> Vec<&'a Execution> {
    let mut pending: Vec<&Execution> = executions.into_iter().filter(|e| !e.status.is_terminal()).collect();
    pending.sort_by_key(|e| (e.status != ExecutionStatus::InProgress, e.seq));
    pending
}

/// How many executions are in each status (`jobProcessDetails`).
pub fn counts<'a>(executions: impl IntoIterator<Item = &'a Execution>) -> BTreeMap<ExecutionStatus, u64> {
    let mut counts: BTreeMap<ExecutionStatus, u64> = ExecutionStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for e in executions {
        *counts.entry(e.status).or_default() += 1;
    }
    counts
}

/// ReportFinalJobExecutionCount's `details`, in the documented wording and order. The example
/// has no TIMED_OUT count; iotemu adds one at the end only when some execution timed out, so
/// the common case reads exactly as AWS's.
pub fn final_count_details(job_id: &str, counts: &BTreeMap<ExecutionStatus, u64>) -> String {
    use ExecutionStatus::*;
    let n = |s| counts.get(&s).copied().unwrap_or(0);
    let mut text = format!("Job {job_id} completed.");
    for status in [Queued, InProgress, Failed, Succeeded, Canceled, Rejected, Removed] {
        text.push_str(&format!(" {} job execution count: {}", status.as_str(), n(status)));
    }
    if n(TimedOut) > 0 {
        text.push_str(&format!(" TIMED_OUT job execution count: {}", n(TimedOut)));
    }
    text
}

/// One criterion of `abortConfig.criteriaList` (botocore `AbortCriteria`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortCriteria {
    pub failure_type: String,
    pub action: String,
    pub threshold_percentage: f64,
    pub min_number_of_executed_things: u64,
}

/// One criterion of `jobExecutionsRetryConfig.criteriaList` (botocore `RetryCriteria`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryCriteria {
    pub failure_type: String,
    pub number_of_retries: u32,
}

/// Whether an execution that just ended is retried (`jobs-configurations-details.md`, "Job
/// execution retry configuration"): only FAILED and TIMED_OUT are retryable; a criterion of
/// that failure type gives the retries allowed for it, counted over the earlier executions that
/// ended the same way; without one, an `ALL` criterion gives the retries allowed for both,
/// counted over every earlier execution. Retries stop when the count is reached.
pub fn retry_due(criteria: &[RetryCriteria], exec: &Execution) -> bool {
    let status = exec.status;
    if !matches!(status, ExecutionStatus::Failed | ExecutionStatus::TimedOut) {
        return false;
    }
    let own = criteria.iter().find(|c| c.failure_type == status.as_str());
    match own.or_else(|| criteria.iter().find(|c| c.failure_type == "ALL")) {
        Some(c) if c.failure_type == "ALL" => (exec.earlier.len() as u32) < c.number_of_retries,
        Some(c) => {
            let used = exec.earlier.iter().filter(|e| e.status == status).count() as u32;
            used < c.number_of_retries
        }
        None => false,
    }
}

/// How many executions, the retried ones included, are in each status: what the abort
/// criteria count, so that repeated retry failures can abort a job and cancel its queued
/// retries (`jobs-configurations-details.md`, "Retry and abort configuration").
pub fn attempt_counts<'a>(
    executions: impl IntoIterator<Item = &'a Execution>,
) -> BTreeMap<ExecutionStatus, u64> {
    counts(executions.into_iter().flat_map(|e| e.attempts()))
}

/// Whether an abort criterion is met: at least `minNumberOfExecutedThings` executions have
/// ended, and the share of them that ended in the criterion's failure type (FAILED, REJECTED,
/// TIMED_OUT, or ALL of these) is at least `thresholdPercentage`. Only CANCEL exists as action.
pub fn abort_triggered(criteria: &[AbortCriteria], counts: &BTreeMap<ExecutionStatus, u64>) -> bool {
    use ExecutionStatus::*;
    let n = |s| counts.get(&s).copied().unwrap_or(0);
    let executed: u64 = [Succeeded, Failed, Rejected, TimedOut].into_iter().map(n).sum();
    criteria.iter().any(|c| {
        let failed = match c.failure_type.as_str() {
            "FAILED" => n(Failed),
            "REJECTED" => n(Rejected),
            "TIMED_OUT" => n(TimedOut),
            "ALL" => n(Failed) + n(Rejected) + n(TimedOut),
            _ => return false,
        };
        executed > 0
            && executed >= c.min_number_of_executed_things
            && (failed as f64) * 100.0 / (executed as f64) >= c.threshold_percentage
    })
}

/// Epoch seconds (device planes).
pub fn secs(ms: u64) -> u64 {
    ms / 1000
}

/// Epoch seconds with milliseconds (the `iot` API's `timestamp`).
pub fn api_time(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// How the device planes carry the job document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentForm {
    /// MQTT: an embedded JSON value.
    Object,
    /// HTTP: a JSON string (botocore `JobDocument: string`).
    String,
}

/// The document as the device plane shows it.
pub fn document_value(document: &str, form: DocumentForm) -> Value {
    match form {
        DocumentForm::String => Value::String(document.to_string()),
        DocumentForm::Object => {
            serde_json::from_str(document).unwrap_or_else(|_| Value::String(document.into()))
        }
    }
}

fn put_details(out: &mut Map<String, Value>, details: &BTreeMap<String, String>) {
    if !details.is_empty() {
        out.insert("statusDetails".into(), json!(details));
    }
}

/// Seconds left before the earlier timer runs out.
pub fn seconds_before_timeout(exec: &Execution, now: u64) -> Option<u64> {
    if exec.status != ExecutionStatus::InProgress {
        return None;
    }
    exec.deadline().map(|d| d.saturating_sub(now).div_ceil(1000))
}

/// A device-plane `JobExecution`; `document` is included when given.
pub fn device_execution(exec: &Execution, document: Option<Value>, with_thing: bool, now: u64) -> Value {
    let mut out = Map::new();
    out.insert("jobId".into(), json!(exec.job_id));
    if with_thing {
        out.insert("thingName".into(), json!(exec.thing_name));
    }
    out.insert("status".into(), json!(exec.status.as_str()));
    put_details(&mut out, &exec.status_details);
    out.insert("queuedAt".into(), json!(secs(exec.queued_at)));
    if let Some(started) = exec.started_at {
        out.insert("startedAt".into(), json!(secs(started)));
    }
    out.insert("lastUpdatedAt".into(), json!(secs(exec.last_updated_at)));
    if let Some(left) = seconds_before_timeout(exec, now) {
        out.insert("approximateSecondsBeforeTimedOut".into(), json!(left));
    }
    out.insert("versionNumber".into(), json!(exec.version_number));
    out.insert("executionNumber".into(), json!(exec.execution_number));
    if let Some(document) = document {
        out.insert("jobDocument".into(), document);
    }
    Value::Object(out)
}

/// A device-plane `JobExecutionSummary` (GetPendingJobExecutions, `jobs/notify`).
pub fn device_summary(exec: &Execution) -> Value {
    let mut out = Map::new();
    out.insert("jobId".into(), json!(exec.job_id));
    out.insert("queuedAt".into(), json!(secs(exec.queued_at)));
    if let Some(started) = exec.started_at {
        out.insert("startedAt".into(), json!(secs(started)));
    }
    out.insert("lastUpdatedAt".into(), json!(secs(exec.last_updated_at)));
    out.insert("executionNumber".into(), json!(exec.execution_number));
    out.insert("versionNumber".into(), json!(exec.version_number));
    Value::Object(out)
}

/// A device-plane `JobExecutionState`.
pub fn execution_state(exec: &Execution) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(exec.status.as_str()));
    put_details(&mut out, &exec.status_details);
    out.insert("versionNumber".into(), json!(exec.version_number));
    Value::Object(out)
}

/// Replaces `${aws:iot:parameter:NAME}` in a template's document with `documentParameters`.
pub fn substitute_parameters(document: &str, parameters: &BTreeMap<String, String>) -> String {
    let mut out = document.to_string();
    for (name, value) in parameters {
        out = out.replace(&format!("${{aws:iot:parameter:{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionStatus::*;

    const TIMERS: Timers = Timers { minute_ms: 60_000, in_progress_timeout_minutes: None };

    /// Every (current, requested) pair of UpdateJobExecution and its outcome.
    #[test]
    fn every_device_transition_is_allowed_or_refused_as_the_table_says() {
        let ok = None;
        let invalid = Some(RejectCode::InvalidRequest);
        let refused = Some(RejectCode::InvalidStateTransition);
        let terminal = Some(RejectCode::TerminalStateReached);
        // Rows: current; columns: requested in ALL's order
        // (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED).
        let table: [(ExecutionStatus, [Option<RejectCode>; 8]); 8] = [
            (Queued, [invalid, ok, ok, ok, invalid, ok, invalid, invalid]),
            (InProgress, [invalid, ok, ok, ok, invalid, ok, invalid, invalid]),
            (Succeeded, [invalid, refused, refused, refused, invalid, refused, invalid, invalid]),
            (Failed, [invalid, refused, refused, refused, invalid, refused, invalid, invalid]),
            (TimedOut, [invalid, terminal, terminal, terminal, invalid, terminal, invalid, invalid]),
            (Rejected, [invalid, refused, refused, refused, invalid, refused, invalid, invalid]),
            (Removed, [invalid, terminal, terminal, terminal, invalid, terminal, invalid, invalid]),
            (Canceled, [invalid, terminal, terminal, terminal, invalid, terminal, invalid, invalid]),
        ];
        for (current, row) in table {
            for (requested, expected) in ExecutionStatus::ALL.into_iter().zip(row) {
                let mut exec = Execution::queued("j", "t", 0, 0);
                exec.status = current;
                let before = exec.clone();
                let update = DeviceUpdate { status: Some(requested), ..Default::default() };
                let got = apply_device_update(&mut exec, &update, 5, TIMERS).err().map(|e| e.code);
                assert_eq!(got, expected, "{current:?} -> {requested:?}");
                match got {
                    None => {
                        assert_eq!(exec.status, requested);
                        assert_eq!(exec.version_number, before.version_number + 1);
                        assert_eq!(exec.last_updated_at, 5);
                    }
                    Some(_) => assert_eq!(exec, before, "a refused update changes nothing"),
                }
            }
        }
    }

    #[test]
    fn refusals_carry_the_execution_state_where_aws_says() {
        let mut exec = Execution::queued("j", "t", 0, 0);
        let update =
            DeviceUpdate { status: Some(InProgress), expected_version: Some(7), ..Default::default() };
        let err = apply_device_update(&mut exec, &update, 1, TIMERS).unwrap_err();
        assert_eq!((err.code, err.with_state), (RejectCode::VersionMismatch, true));
        exec.status = Succeeded;
        let update = DeviceUpdate { status: Some(InProgress), ..Default::default() };
        let err = apply_device_update(&mut exec, &update, 1, TIMERS).unwrap_err();
        assert_eq!((err.code, err.with_state), (RejectCode::InvalidStateTransition, true));
        let err = apply_device_update(&mut exec, &DeviceUpdate::default(), 1, TIMERS).unwrap_err();
        assert_eq!((err.code, err.with_state), (RejectCode::InvalidRequest, false));
    }

    #[test]
    fn a_matching_expected_version_passes_and_details_replace() {
        let mut exec = Execution::queued("j", "t", 0, 0);
        let details: BTreeMap<String, String> = [("step".to_string(), "1".to_string())].into();
        let update = DeviceUpdate {
            status: Some(InProgress),
            expected_version: Some(1),
            status_details: Some(details.clone()),
            ..Default::default()
        };
        apply_device_update(&mut exec, &update, 10, TIMERS).unwrap();
        assert_eq!((exec.version_number, exec.started_at, &exec.status_details), (2, Some(10), &details));
        let bad: BTreeMap<String, String> = [("bad key".to_string(), "x".to_string())].into();
        let update =
            DeviceUpdate { status: Some(Succeeded), status_details: Some(bad), ..Default::default() };
        assert_eq!(
            apply_device_update(&mut exec, &update, 11, TIMERS).unwrap_err().code,
            RejectCode::InvalidRequest
        );
    }

    #[test]
    fn start_next_starts_a_queued_execution_and_leaves_an_in_progress_one() {
        let mut exec = Execution::queued("j", "t", 0, 0);
        let update = DeviceUpdate { step_timeout_minutes: Some(2), ..Default::default() };
        assert!(apply_start_next(&mut exec, &update, 1_000, TIMERS).unwrap());
        assert_eq!((exec.status, exec.version_number, exec.step_deadline), (InProgress, 2, Some(121_000)));
        assert!(!apply_start_next(&mut exec, &DeviceUpdate::default(), 2_000, TIMERS).unwrap());
        assert_eq!(exec.version_number, 2);
        let too_long = DeviceUpdate { step_timeout_minutes: Some(10081), ..Default::default() };
        assert_eq!(
            apply_start_next(&mut exec, &too_long, 1, TIMERS).unwrap_err().code,
            RejectCode::InvalidRequest
        );
    }

    #[test]
    fn step_and_in_progress_timers_time_an_execution_out() {
        let timers = Timers { minute_ms: 1_000, in_progress_timeout_minutes: Some(5) };
        let mut exec = Execution::queued("j", "t", 0, 0);
        let update =
            DeviceUpdate { status: Some(InProgress), step_timeout_minutes: Some(2), ..Default::default() };
        apply_device_update(&mut exec, &update, 0, timers).unwrap();
        assert_eq!((exec.step_deadline, exec.in_progress_deadline), (Some(2_000), Some(5_000)));
        assert_eq!(seconds_before_timeout(&exec, 500), Some(2));
        assert!(!exec.time_out(1_999));
        // A new step timeout resets the step timer, not the in-progress timer.
        let update =
            DeviceUpdate { status: Some(InProgress), step_timeout_minutes: Some(4), ..Default::default() };
        apply_device_update(&mut exec, &update, 1_500, timers).unwrap();
        assert!(!exec.time_out(3_000));
        assert!(exec.time_out(5_000), "the in-progress timer runs out first");
        assert_eq!((exec.status, exec.deadline()), (TimedOut, None));
        // A QUEUED execution never times out.
        let mut queued = Execution::queued("j", "t", 0, 0);
        assert!(!queued.time_out(u64::MAX));
    }

    #[test]
    fn pending_executions_come_in_progress_first_then_oldest_first() {
        let mut a = Execution::queued("a", "t", 0, 1);
        let b = Execution::queued("b", "t", 0, 2);
        let mut c = Execution::queued("c", "t", 0, 3);
        let mut d = Execution::queued("d", "t", 0, 0);
        c.status = InProgress;
        d.status = Succeeded;
        a.status = Queued;
        let order: Vec<&str> = pending_order([&a, &b, &c, &d]).iter().map(|e| e.job_id.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }

    #[test]
    fn the_final_count_reads_as_aws_writes_it() {
        let mut exec = Execution::queued("002", "t", 0, 0);
        exec.status = Succeeded;
        assert_eq!(
            final_count_details("002", &counts([&exec])),
            "Job 002 completed. QUEUED job execution count: 0 IN_PROGRESS job execution count: 0 FAILED job \
             execution count: 0 SUCCEEDED job execution count: 1 CANCELED job execution count: 0 REJECTED job \
             execution count: 0 REMOVED job execution count: 0"
        );
        exec.status = TimedOut;
        assert!(final_count_details("002", &counts([&exec])).ends_with(" TIMED_OUT job execution count: 1"));
    }

    #[test]
    fn abort_needs_the_minimum_and_the_threshold() {
        let criteria = [AbortCriteria {
            failure_type: "FAILED".into(),
            action: "CANCEL".into(),
            threshold_percentage: 50.0,
            min_number_of_executed_things: 2,
        }];
        let mut c = counts([]);
        c.insert(Failed, 1);
        assert!(!abort_triggered(&criteria, &c), "one executed thing is below the minimum");
        c.insert(Succeeded, 2);
        assert!(!abort_triggered(&criteria, &c), "1 of 3 is below 50%");
        c.insert(Failed, 2);
        assert!(abort_triggered(&criteria, &c));
    }

    #[test]
    fn documents_are_objects_over_mqtt_and_strings_over_http() {
        assert_eq!(document_value(r#"{"a":1}"#, DocumentForm::Object), json!({"a": 1}));
        assert_eq!(document_value(r#"{"a":1}"#, DocumentForm::String), json!(r#"{"a":1}"#));
        let params: BTreeMap<String, String> = [("v".to_string(), "2.0".to_string())].into();
        assert_eq!(substitute_parameters(r#"{"v":"${aws:iot:parameter:v}"}"#, &params), r#"{"v":"2.0"}"#);
    }
}
