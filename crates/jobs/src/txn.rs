//! Every change to executions goes through a [`Txn`]: it writes jobs and executions through to
//! the store, and when the change is done it checks the touched jobs (abort, completion and its
//! ReportFinalJobExecutionCount entry) and works out the `jobs/notify` and `jobs/notify-next`
//! messages of the touched things (`jobs-comm-notifications.md`).

use crate::executions::state::{
    abort_triggered, attempt_counts, counts, device_execution, device_summary, document_value,
    final_count_details, pending_order, retry_due, DocumentForm, Execution, ExecutionStatus, JobStatus,
    TargetSelection,
};
use crate::jobs::state::Job;
use crate::service::{exec_store_key, EXECUTION, JOB};
use crate::state::{Snapshot, State};
use crate::{Jobs, JobsError};
use iotemu_core::{OutboundMessage, Scope, TraceId};
use iotemu_logs::{JobCompletionEntry, LogEntry};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A change to the executions in progress: what was pending for each touched thing before,
/// and which jobs to check when it is done.
pub(crate) struct Txn<'a> {
    pub st: &'a mut State,
    pub jobs: &'a Jobs,
    pub now: u64,
    before: BTreeMap<(Scope, String), Snapshot>,
    touched_jobs: BTreeSet<(Scope, String)>,
    /// Executions that became FAILED or TIMED_OUT in this change: (scope, thing, job).
    ended: Vec<(Scope, String, String)>,
}

impl<'a> Txn<'a> {
    /// A change at `now` (epoch ms) to the tables `st` of `jobs`.
    pub fn new(st: &'a mut State, jobs: &'a Jobs, now: u64) -> Self {
        Txn { st, jobs, now, before: BTreeMap::new(), touched_jobs: BTreeSet::new(), ended: Vec::new() }
    }

    fn touch(&mut self, scope: &Scope, thing: &str) {
        let key = (scope.clone(), thing.to_string());
        if !self.before.contains_key(&key) {
            let snapshot = self.st.snapshot(scope, thing);
            self.before.insert(key, snapshot);
        }
    }

    /// Stores a new or changed execution.
    pub fn put_exec(&mut self, scope: &Scope, exec: Execution) -> Result<(), JobsError> {
        self.touch(scope, &exec.thing_name);
        self.touched_jobs.insert((scope.clone(), exec.job_id.clone()));
        let value = serde_json::to_value(&exec).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.jobs.store.put(EXECUTION, scope, &exec_store_key(&exec.thing_name, &exec.job_id), &value)?;
        let key = (scope.clone(), exec.thing_name.clone(), exec.job_id.clone());
        if self.st.executions.get(&key).map(|e| e.status) != Some(exec.status) {
            self.jobs.execution_event(scope, &exec, false);
            if matches!(exec.status, ExecutionStatus::Failed | ExecutionStatus::TimedOut) {
                self.ended.push(key.clone());
            }
        }
        self.st.executions.insert(key, exec);
        Ok(())
    }

    /// Stores an execution back as it was (DeleteJobExecution of a retry makes the execution
    /// it retried current again): no event, no retry.
    pub fn restore_exec(&mut self, scope: &Scope, exec: Execution) -> Result<(), JobsError> {
        self.touch(scope, &exec.thing_name);
        self.touched_jobs.insert((scope.clone(), exec.job_id.clone()));
        let value = serde_json::to_value(&exec).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.jobs.store.put(EXECUTION, scope, &exec_store_key(&exec.thing_name, &exec.job_id), &value)?;
        self.st.executions.insert((scope.clone(), exec.thing_name.clone(), exec.job_id.clone()), exec);
        Ok(())
    }

    /// Forgets an execution.
    pub fn remove_exec(&mut self, scope: &Scope, thing: &str, job: &str) -> Result<(), JobsError> {
        self.touch(scope, thing);
        self.jobs.store.delete(EXECUTION, scope, &exec_store_key(thing, job))?;
        if let Some(exec) = self.st.executions.remove(&(scope.clone(), thing.to_string(), job.to_string())) {
            self.jobs.execution_event(scope, &exec, true);
        }
        Ok(())
    }

    /// Stores a new or changed job.
    pub fn put_job(&mut self, scope: &Scope, job: Job) -> Result<(), JobsError> {
        self.touched_jobs.insert((scope.clone(), job.job_id.clone()));
        let value = serde_json::to_value(&job).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.jobs.store.put(JOB, scope, &job.job_id, &value)?;
        let before = self.st.jobs.get(&(scope.clone(), job.job_id.clone())).map(|j| j.status);
        if before != Some(job.status) {
            let executions = self.st.of_job(scope, &job.job_id);
            match job.status {
                JobStatus::Completed => self.jobs.job_event(scope, &job, "completed", executions),
                JobStatus::Canceled => {
                    self.jobs.job_event(scope, &job, "cancellation_in_progress", []);
                    self.jobs.job_event(scope, &job, "canceled", executions);
                }
                _ => {}
            }
        }
        self.st.jobs.insert((scope.clone(), job.job_id.clone()), job);
        Ok(())
    }

    /// Gives the next things of `job` their QUEUED executions, as many as its rate allows.
    pub(crate) fn roll_out(&mut self, scope: &Scope, mut job: Job) -> Result<(), JobsError> {
        if job.pending_targets.is_empty() || job.status != JobStatus::InProgress {
            return Ok(());
        }
        let take = match job.maximum_per_minute() {
            None => job.pending_targets.len(),
            Some(max) if job.window_start + self.jobs.minute_ms <= self.now || job.window_start == 0 => {
                job.window_start = self.now;
                max.min(job.pending_targets.len())
            }
            Some(_) => return Ok(()),
        };
        let batch: Vec<String> = job.pending_targets.drain(..take).collect();
        for thing in batch {
            let key = (scope.clone(), thing.clone(), job.job_id.clone());
            if self.st.executions.contains_key(&key) {
                continue;
            }
            self.st.seq += 1;
            let exec = Execution::queued(&job.job_id, &thing, self.now, self.st.seq);
            self.put_exec(scope, exec)?;
        }
        self.put_job(scope, job)
    }

    /// Cancels a job's executions: QUEUED ones, and IN_PROGRESS ones with `force`.
    pub(crate) fn cancel_executions(
        &mut self,
        scope: &Scope,
        job_id: &str,
        force: bool,
    ) -> Result<(), JobsError> {
        let victims: Vec<Execution> = self
            .st
            .of_job(scope, job_id)
            .filter(|e| {
                e.status == ExecutionStatus::Queued || (force && e.status == ExecutionStatus::InProgress)
            })
            .cloned()
            .collect();
        for mut exec in victims {
            exec.force_canceled = exec.status == ExecutionStatus::InProgress;
            exec.set_status(ExecutionStatus::Canceled, self.now);
            self.put_exec(scope, exec)?;
        }
        Ok(())
    }

    /// Retries the executions that ended FAILED or TIMED_OUT in this change where their job's
    /// `jobExecutionsRetryConfig` allows one more (`jobs-configurations-details.md`, "Job
    /// execution retry configuration"): the thing gets a new QUEUED execution of the job with
    /// the next execution number, and the ended one stays readable by its number.
    fn retry_ended(&mut self) -> Result<(), JobsError> {
        for key in std::mem::take(&mut self.ended) {
            let Some(exec) = self.st.executions.get(&key).cloned() else { continue };
            let Some(job) = self.st.jobs.get(&(key.0.clone(), key.2.clone())) else { continue };
            if job.status != JobStatus::InProgress || !retry_due(&job.retry_criteria(), &exec) {
                continue;
            }
            self.st.seq += 1;
            let next = exec.retried(self.now, self.st.seq);
            self.put_exec(&key.0, next)?;
        }
        Ok(())
    }

    /// Retries what ended and may be retried, checks the touched jobs (abort, completion), then
    /// works out the notifications of the touched things.
    pub fn finish(mut self) -> Result<Vec<OutboundMessage>, JobsError> {
        self.retry_ended()?;
        let touched: Vec<(Scope, String)> = std::mem::take(&mut self.touched_jobs).into_iter().collect();
        for (scope, job_id) in touched {
            let Some(job) = self.st.jobs.get(&(scope.clone(), job_id.clone())).cloned() else { continue };
            if job.status != JobStatus::InProgress {
                continue;
            }
            // Things by their current execution; the abort criteria count every execution,
            // retried ones included.
            let counts = counts(self.st.of_job(&scope, &job_id));
            let criteria = job.abort_criteria();
            if !criteria.is_empty()
                && abort_triggered(&criteria, &attempt_counts(self.st.of_job(&scope, &job_id)))
            {
                // The abort cancels as CancelJob without force does.
                let mut job = job.clone();
                job.status = JobStatus::Canceled;
                job.comment = Some("The job was aborted: its abort criteria were met.".into());
                job.pending_targets.clear();
                job.last_updated_at = self.now;
                self.cancel_executions(&scope, &job_id, false)?;
                self.put_job(&scope, job)?;
                continue;
            }
            let all_done = counts.iter().all(|(status, n)| status.is_terminal() || *n == 0);
            if job.target_selection == TargetSelection::Snapshot && job.pending_targets.is_empty() && all_done
            {
                let mut job = job.clone();
                job.status = JobStatus::Completed;
                job.completed_at = Some(self.now);
                job.last_updated_at = self.now;
                let details = final_count_details(&job_id, &counts);
                self.put_job(&scope, job)?;
                self.jobs.logs.success(
                    TraceId::new(),
                    LogEntry::ReportFinalJobExecutionCount(JobCompletionEntry {
                        job_id: job_id.into(),
                        details,
                    }),
                );
            }
        }
        let mut messages = Vec::new();
        let trace_id = TraceId::new();
        let ts = self.now / 1000;
        for ((scope, thing), (before, before_next)) in std::mem::take(&mut self.before) {
            let (after, after_next) = self.st.snapshot(&scope, &thing);
            if before != after {
                let mut groups = Map::new();
                for exec in pending_order(self.st.of_thing(&scope, &thing)) {
                    let group = groups.entry(exec.status.as_str()).or_insert_with(|| json!([]));
                    if let Some(list) = group.as_array_mut() {
                        list.push(device_summary(exec));
                    }
                }
                let payload = json!({ "timestamp": ts, "jobs": groups });
                messages.push(notice(&thing, "notify", &payload, trace_id));
            }
            if before_next != after_next {
                let mut payload = json!({ "timestamp": ts });
                if let Some((job_id, _)) = &after_next {
                    let key = (scope.clone(), thing.clone(), job_id.clone());
                    if let Some(exec) = self.st.executions.get(&key) {
                        let doc = self
                            .st
                            .jobs
                            .get(&(scope.clone(), job_id.clone()))
                            .map(|j| self.jobs.device_document(j));
                        let doc = doc.map(|d| document_value(&d, DocumentForm::Object));
                        payload["execution"] = device_execution(exec, doc, false, self.now);
                    }
                }
                messages.push(notice(&thing, "notify-next", &payload, trace_id));
            }
        }
        Ok(messages)
    }
}

fn notice(thing: &str, kind: &str, payload: &Value, trace_id: TraceId) -> OutboundMessage {
    let mut message =
        OutboundMessage::new(format!("$aws/things/{thing}/jobs/{kind}"), payload.to_string(), trace_id);
    message.qos = 1;
    message
}
