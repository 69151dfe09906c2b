//! The Jobs service's event messages (`events-jobs.md`), handed to core's [`ResourceEvents`],
//! which publishes them if JOB or JOB_EXECUTION events are enabled: `$aws/events/job/{jobId}/
//! completed|canceled|deleted|cancellation_in_progress|deletion_in_progress` and
//! `$aws/events/jobExecution/{jobId}/succeeded|failed|rejected|canceled|timed_out|removed|deleted`.
//!
//! iotemu cancels and deletes at once, so `cancellation_in_progress` and `canceled` (and
//! `deletion_in_progress` and `deleted`) are published one after the other. Deleting a job
//! publishes `deleted` for each of its executions too. AWS's job payloads have no `accountId`.

use crate::executions::state::{counts, Execution, ExecutionStatus};
use crate::jobs::state::Job;
use crate::Jobs;
use iotemu_core::{EventConfigurationType as Kind, ResourceEvent, ResourceEvents};
use iotemu_store::Scope;
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Jobs {
    /// Where jobs events go (the `iotemu` crate wires the broker-backed publisher).
    pub fn on_events(&self, events: Arc<dyn ResourceEvents>) {
        let _ = self.events.set(events);
    }

    fn events_for(&self, scope: &Scope, kind: Kind) -> Option<&Arc<dyn ResourceEvents>> {
        self.events.get().filter(|e| e.enabled(&scope.account, &scope.region, kind))
    }

    /// `$aws/events/job/{jobId}/{operation}`; `executions` are the job's, for
    /// `jobProcessDetails` of a completed job.
    pub(crate) fn job_event<'a>(
        &self,
        scope: &Scope,
        job: &Job,
        operation: &'static str,
        executions: impl IntoIterator<Item = &'a Execution>,
    ) {
        let Some(events) = self.events_for(scope, Kind::Job) else { return };
        let mut fields = object(json!({
            "jobId": job.job_id,
            "status": operation.to_ascii_uppercase(),
            "targetSelection": job.target_selection.as_str(),
            "targets": job.targets,
            "description": job.description,
        }));
        if let Some(completed) = job.completed_at {
            fields.insert("completedAt".into(), json!(completed));
        }
        fields.insert("createdAt".into(), json!(job.created_at));
        fields.insert("lastUpdatedAt".into(), json!(job.last_updated_at));
        if operation == "completed" {
            let counts = counts(executions);
            let n = |s: ExecutionStatus| counts.get(&s).copied().unwrap_or(0);
            fields.insert(
                "jobProcessDetails".into(),
                json!({
                    "numberOfCanceledThings": n(ExecutionStatus::Canceled),
                    "numberOfRejectedThings": n(ExecutionStatus::Rejected),
                    "numberOfFailedThings": n(ExecutionStatus::Failed),
                    "numberOfRemovedThings": n(ExecutionStatus::Removed),
                    "numberOfSucceededThings": n(ExecutionStatus::Succeeded),
                    "numberOfTimedOutThings": n(ExecutionStatus::TimedOut),
                }),
            );
        } else if let Some(comment) = &job.comment {
            fields.insert("comment".into(), json!(comment));
        }
        let event = ResourceEvent {
            kind: Kind::Job,
            topic: format!("$aws/events/job/{}/{operation}", job.job_id),
            event_type: "JOB",
            operation: Some(operation),
            with_account: false,
            fields,
        };
        events.publish(&scope.account, &scope.region, event);
    }

    /// `$aws/events/jobExecution/{jobId}/{operation}`: the execution reached a terminal status
    /// (the operation is that status in lower case), or was deleted (`deleted`).
    pub(crate) fn execution_event(&self, scope: &Scope, exec: &Execution, deleted: bool) {
        let Some(events) = self.events_for(scope, Kind::JobExecution) else { return };
        let status = if deleted { "DELETED" } else { exec.status.as_str() };
        let operation: &'static str = match (deleted, exec.status) {
            (true, _) => "deleted",
            (false, ExecutionStatus::Succeeded) => "succeeded",
            (false, ExecutionStatus::Failed) => "failed",
            (false, ExecutionStatus::Rejected) => "rejected",
            (false, ExecutionStatus::Canceled) => "canceled",
            (false, ExecutionStatus::TimedOut) => "timed_out",
            (false, ExecutionStatus::Removed) => "removed",
            (false, ExecutionStatus::Queued | ExecutionStatus::InProgress) => return,
        };
        let fields = object(json!({
            "jobId": exec.job_id,
            "thingArn": crate::executions::http::thing_arn(scope, &exec.thing_name),
            "status": status,
            "statusDetails": exec.status_details,
        }));
        let event = ResourceEvent {
            kind: Kind::JobExecution,
            topic: format!("$aws/events/jobExecution/{}/{operation}", exec.job_id),
            event_type: "JOB_EXECUTION",
            operation: Some(operation),
            with_account: false,
            fields,
        };
        events.publish(&scope.account, &scope.region, event);
    }
}
