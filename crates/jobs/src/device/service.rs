//! The device plane, whichever way a request came (MQTT reserved topic or `iot-jobs-data`
//! HTTP): GetPendingJobExecutions, StartNextPendingJobExecution, DescribeJobExecution and
//! UpdateJobExecution, each writing its entry (GetPendingJobExecution,
//! StartNextPendingJobExecution, DescribeJobExecution, UpdateJobExecution) at DEBUG, or as a
//! Failure at ERROR when refused.
//!
//! Entry choices (`docs/aws-behaviour.md` §7 where it leaves points open): `clientId` is the MQTT
//! client id, and over HTTP the thing name (the HTTP API has no client id); `topicName` over
//! HTTP is the equivalent reserved MQTT topic; `clientToken` is empty when the request gave
//! none; `versionNumber` is the execution's version before the update (the example's "1" for a
//! QUEUED execution going IN_PROGRESS), `"0"` when there is no execution. A Failure has
//! `reason` = the rejection code and `details` = "The request status is REJECTED." preceded by
//! the destination status for UpdateJobExecution and followed by the code and message.

use crate::executions::state::{
    apply_device_update, apply_start_next, device_execution, device_summary, document_value, execution_state,
    pending_order, DeviceError, DeviceUpdate, DocumentForm, Execution, ExecutionStatus, RejectCode,
};
use crate::service::Jobs;
use crate::JobsError;
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, OutboundMessage, TraceId};
use iotemu_logs::{JobEntry, LogEntry};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// Who is asking, about which thing, and how the answer is to be shaped.
#[derive(Debug, Clone)]
pub struct DeviceCall {
    pub scope: Scope,
    pub thing: String,
    /// The requester (per-target log levels).
    pub client: Arc<ClientInfo>,
    /// The entry's `clientId`.
    pub client_id: Arc<str>,
    /// The entry's `topicName`.
    pub topic: String,
    pub client_token: Option<String>,
    pub trace_id: TraceId,
    pub form: DocumentForm,
}

/// The four device operations.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceOp {
    GetPendingJobExecutions,
    StartNextPendingJobExecution(DeviceUpdate),
    /// `job_id` may be `$next`.
    DescribeJobExecution {
        job_id: String,
        execution_number: Option<i64>,
        include_document: bool,
    },
    UpdateJobExecution {
        job_id: String,
        update: DeviceUpdate,
        include_state: bool,
        include_document: bool,
    },
}

/// A refused request: the error and, where AWS adds it, the execution's state.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: DeviceError,
    /// Boxed: most refusals have none.
    pub execution: Option<Box<Execution>>,
}

impl Refusal {
    /// The `/rejected` payload (`jobs-api.md`, "ErrorResponse").
    pub fn payload(&self, client_token: Option<&str>, now_secs: u64) -> Value {
        let mut out =
            json!({ "code": self.error.code.as_str(), "message": self.error.message, "timestamp": now_secs });
        if let Some(token) = client_token {
            out["clientToken"] = json!(token);
        }
        if let (true, Some(exec)) = (self.error.with_state, &self.execution) {
            out["executionState"] = execution_state(exec);
        }
        out
    }
}

impl From<DeviceError> for Refusal {
    fn from(error: DeviceError) -> Self {
        Refusal { error, execution: None }
    }
}

impl From<JobsError> for Refusal {
    fn from(e: JobsError) -> Self {
        Refusal { error: DeviceError::new(RejectCode::InternalError, e.to_string()), execution: None }
    }
}

/// What a device request came to: its answer (without `timestamp` and `clientToken`, which the
/// MQTT layer adds) or its refusal, and the notifications to publish after it.
pub struct DeviceOutcome {
    pub result: Result<Value, Refusal>,
    pub notices: Vec<OutboundMessage>,
}

fn not_found(job_id: &str, thing: &str) -> Refusal {
    Refusal::from(DeviceError::new(
        RejectCode::ResourceNotFound,
        format!("Job execution for job {job_id} and thing {thing} cannot be found."),
    ))
}

impl Jobs {
    /// Runs one device request and writes its entry; the caller sends the answer, then
    /// [`Jobs::publish`]es the notices.
    pub fn device_request(&self, call: &DeviceCall, op: &DeviceOp) -> DeviceOutcome {
        let mut version: Option<i64> = None;
        let (result, notices) = match op {
            DeviceOp::GetPendingJobExecutions => (Ok(get_pending_job_executions(self, call)), Vec::new()),
            DeviceOp::StartNextPendingJobExecution(update) => {
                split(start_next_pending_job_execution(self, call, update))
            }
            DeviceOp::DescribeJobExecution { job_id, execution_number, include_document } => {
                (describe_job_execution(self, call, job_id, *execution_number, *include_document), Vec::new())
            }
            DeviceOp::UpdateJobExecution { job_id, update, include_state, include_document } => {
                let outcome =
                    update_job_execution(self, call, job_id, update, *include_state, *include_document);
                let outcome = outcome.map(|(value, before, notices)| {
                    version = Some(before);
                    (value, notices)
                });
                if let Err(refusal) = &outcome {
                    version = refusal.execution.as_ref().map(|e| e.version_number);
                }
                split(outcome)
            }
        };
        self.log_request(call, op, version, &result);
        DeviceOutcome { result, notices }
    }

    fn document_of(&self, scope: &Scope, job_id: &str, form: DocumentForm) -> Option<Value> {
        let state = self.state.lock();
        state
            .jobs
            .get(&(scope.clone(), job_id.to_string()))
            .map(|j| document_value(&self.device_document(j), form))
    }

    /// Writes the Failure entry of a request refused before it reached an operation.
    pub(crate) fn log_refused(&self, call: &DeviceCall, op: &DeviceOp, refusal: &Refusal) {
        self.log_request(call, op, None, &Err(refusal.clone()));
    }

    fn log_request(
        &self,
        call: &DeviceCall,
        op: &DeviceOp,
        version: Option<i64>,
        result: &Result<Value, Refusal>,
    ) {
        let (job_id, destination) = match op {
            DeviceOp::GetPendingJobExecutions | DeviceOp::StartNextPendingJobExecution(_) => (None, None),
            DeviceOp::DescribeJobExecution { job_id, .. } => (Some(job_id.as_str()), None),
            DeviceOp::UpdateJobExecution { job_id, update, .. } => {
                (Some(job_id.as_str()), Some(update.status))
            }
        };
        let version_number =
            matches!(op, DeviceOp::UpdateJobExecution { .. }).then(|| version.unwrap_or(0).to_string());
        let prefix = match destination {
            Some(Some(status)) => format!("The destination status is {}. ", status.as_str()),
            _ => String::new(),
        };
        let mut entry = JobEntry {
            protocol: call.client.protocol,
            client_id: call.client_id.clone(),
            job_id: job_id.map(Into::into),
            topic_name: call.topic.as_str().into(),
            client_token: call.client_token.as_deref().unwrap_or_default().into(),
            version_number,
            details: None,
            client: Some(call.client.clone()),
        };
        let wrap = |entry: JobEntry| match op {
            DeviceOp::GetPendingJobExecutions => LogEntry::GetPendingJobExecution(entry),
            DeviceOp::StartNextPendingJobExecution(_) => LogEntry::StartNextPendingJobExecution(entry),
            DeviceOp::DescribeJobExecution { .. } => LogEntry::DescribeJobExecution(entry),
            DeviceOp::UpdateJobExecution { .. } => LogEntry::UpdateJobExecution(entry),
        };
        match result {
            Ok(_) => {
                entry.details = Some(Cow::Owned(format!("{prefix}The request status is SUCCESS.")));
                self.logs.success(call.trace_id, wrap(entry));
            }
            Err(refusal) => {
                let code = refusal.error.code.as_str();
                let details =
                    format!("{prefix}The request status is REJECTED. {code}: {}", refusal.error.message);
                self.logs.failure(call.trace_id, wrap(entry), code, details);
            }
        }
    }
}

/// GetPendingJobExecutions.
fn get_pending_job_executions(jobs: &Jobs, call: &DeviceCall) -> Value {
    let state = jobs.state.lock();
    let pending = pending_order(state.of_thing(&call.scope, &call.thing));
    let (running, queued): (Vec<&Execution>, Vec<&Execution>) =
        pending.into_iter().partition(|e| e.status == ExecutionStatus::InProgress);
    json!({
        "inProgressJobs": running.into_iter().map(device_summary).collect::<Vec<_>>(),
        "queuedJobs": queued.into_iter().map(device_summary).collect::<Vec<_>>(),
    })
}

/// StartNextPendingJobExecution: the next pending execution, started (IN_PROGRESS) if it was
/// QUEUED.
fn start_next_pending_job_execution(
    jobs: &Jobs,
    call: &DeviceCall,
    update: &DeviceUpdate,
) -> Result<(Value, Vec<OutboundMessage>), Refusal> {
    let minute_ms = jobs.minute_ms();
    let (found, notices) = jobs.change_quietly(|txn| {
        let next = pending_order(txn.st.of_thing(&call.scope, &call.thing)).first().map(|e| (*e).clone());
        let Some(mut exec) = next else { return Ok::<_, Refusal>(None) };
        let timers = txn
            .st
            .jobs
            .get(&(call.scope.clone(), exec.job_id.clone()))
            .map(|j| j.timers(minute_ms))
            .unwrap_or(crate::executions::state::Timers { minute_ms, in_progress_timeout_minutes: None });
        if apply_start_next(&mut exec, update, txn.now, timers)? {
            txn.put_exec(&call.scope, exec.clone())?;
        }
        Ok(Some((exec, txn.now)))
    })?;
    let answer = match found {
        Some((exec, now)) => {
            let doc = jobs.document_of(&call.scope, &exec.job_id, call.form);
            json!({ "execution": device_execution(&exec, doc, true, now) })
        }
        None => json!({}),
    };
    Ok((answer, notices))
}

/// DescribeJobExecution (`$next`: the next pending one).
fn describe_job_execution(
    jobs: &Jobs,
    call: &DeviceCall,
    job_id: &str,
    execution_number: Option<i64>,
    include_document: bool,
) -> Result<Value, Refusal> {
    let now = jobs.now();
    let exec = {
        let state = jobs.state.lock();
        if job_id == "$next" {
            pending_order(state.of_thing(&call.scope, &call.thing)).first().map(|e| (*e).clone())
        } else {
            let exec = state.find_execution(&call.scope, &call.thing, job_id, execution_number);
            Some(exec.cloned().ok_or_else(|| not_found(job_id, &call.thing))?)
        }
    };
    let Some(exec) = exec else { return Ok(json!({})) };
    let doc = if include_document { jobs.document_of(&call.scope, &exec.job_id, call.form) } else { None };
    Ok(json!({ "execution": device_execution(&exec, doc, true, now) }))
}

/// UpdateJobExecution: the answer, the version before the update, and the notices.
fn update_job_execution(
    jobs: &Jobs,
    call: &DeviceCall,
    job_id: &str,
    update: &DeviceUpdate,
    include_state: bool,
    include_document: bool,
) -> Result<(Value, i64, Vec<OutboundMessage>), Refusal> {
    let minute_ms = jobs.minute_ms();
    let ((exec, before), notices) = jobs.change_quietly(|txn| {
        let key = (call.scope.clone(), call.thing.clone(), job_id.to_string());
        let mut exec = txn
            .st
            .executions
            .get(&key)
            .filter(|e| update.execution_number.is_none_or(|n| n == e.execution_number))
            .cloned()
            .ok_or_else(|| not_found(job_id, &call.thing))?;
        let before = exec.version_number;
        let timers = txn
            .st
            .jobs
            .get(&(call.scope.clone(), job_id.to_string()))
            .map(|j| j.timers(minute_ms))
            .unwrap_or(crate::executions::state::Timers { minute_ms, in_progress_timeout_minutes: None });
        let current = exec.clone();
        apply_device_update(&mut exec, update, txn.now, timers)
            .map_err(|error| Refusal { error, execution: Some(Box::new(current)) })?;
        txn.put_exec(&call.scope, exec.clone())?;
        Ok::<_, Refusal>((exec, before))
    })?;
    let mut answer = json!({});
    if include_state {
        answer["executionState"] = execution_state(&exec);
    }
    if include_document {
        if let Some(doc) = jobs.document_of(&call.scope, job_id, call.form) {
            answer["jobDocument"] = doc;
        }
    }
    Ok((answer, before, notices))
}

fn split(
    outcome: Result<(Value, Vec<OutboundMessage>), Refusal>,
) -> (Result<Value, Refusal>, Vec<OutboundMessage>) {
    match outcome {
        Ok((value, notices)) => (Ok(value), notices),
        Err(refusal) => (Err(refusal), Vec::new()),
    }
}
