//! The job execution operations of the `iot` API: DescribeJobExecution,
//! ListJobExecutionsForJob, ListJobExecutionsForThing, CancelJobExecution and
//! DeleteJobExecution. (The device plane's are in [`crate::device`].)

use crate::executions::state::{check_status_details, Execution, ExecutionStatus};
use crate::jobs::service::job_not_found;
use crate::state::max_results;
use crate::{Jobs, JobsError};
use iotemu_api::paging::page;
use iotemu_core::Scope;
use std::collections::BTreeMap;

pub(crate) fn execution_not_found(job: &str, thing: &str) -> JobsError {
    JobsError::NotFound(format!("Job execution for job {job} and thing {thing} cannot be found."))
}

impl Jobs {
    /// DescribeJobExecution (`iot`).
    pub fn describe_job_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        execution_number: Option<i64>,
    ) -> Result<Execution, JobsError> {
        let state = self.state.lock();
        state
            .find_execution(scope, thing, job_id, execution_number)
            .cloned()
            .ok_or_else(|| execution_not_found(job_id, thing))
    }

    /// ListJobExecutionsForJob, by thing name then execution number: a thing whose execution
    /// was retried has one summary per execution.
    pub fn list_job_executions_for_job(
        &self,
        scope: &Scope,
        job_id: &str,
        status: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> Result<(Vec<Execution>, Option<String>), JobsError> {
        let state = self.state.lock();
        if !state.jobs.contains_key(&(scope.clone(), job_id.to_string())) {
            return Err(job_not_found(job_id));
        }
        let execs = state
            .of_job(scope, job_id)
            .flat_map(|e| e.attempts())
            .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
            .map(|e| (page_key(&e.thing_name, e.execution_number), e.clone()));
        Ok(paged(execs, token, max))
    }

    /// ListJobExecutionsForThing, by job id then execution number.
    pub fn list_job_executions_for_thing(
        &self,
        scope: &Scope,
        thing: &str,
        status: Option<&str>,
        job_id: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<Execution>, Option<String>) {
        let state = self.state.lock();
        let execs = state
            .of_thing(scope, thing)
            .flat_map(|e| e.attempts())
            .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
            .filter(|e| job_id.is_none_or(|j| e.job_id == j))
            .map(|e| (page_key(&e.job_id, e.execution_number), e.clone()));
        paged(execs, token, max)
    }

    /// CancelJobExecution: QUEUED -> CANCELED; IN_PROGRESS -> CANCELED only with `force`;
    /// a terminal execution cannot be canceled (InvalidStateTransitionException).
    pub fn cancel_job_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        force: bool,
        expected_version: Option<i64>,
        status_details: Option<BTreeMap<String, String>>,
    ) -> Result<(), JobsError> {
        if let Some(details) = &status_details {
            check_status_details(details).map_err(|e| JobsError::InvalidRequest(e.message))?;
        }
        self.change(|txn| {
            let key = (scope.clone(), thing.to_string(), job_id.to_string());
            let mut exec =
                txn.st.executions.get(&key).cloned().ok_or_else(|| execution_not_found(job_id, thing))?;
            if expected_version.is_some_and(|v| v != exec.version_number) {
                return Err(JobsError::VersionConflict(format!(
                    "The expected version does not match the job execution's version {}",
                    exec.version_number
                )));
            }
            match exec.status {
                ExecutionStatus::Queued => {}
                ExecutionStatus::InProgress if force => exec.force_canceled = true,
                ExecutionStatus::InProgress => {
                    return Err(JobsError::InvalidStateTransition(
                        "The job execution is IN_PROGRESS: cancel it with force=true".into(),
                    ));
                }
                other => {
                    return Err(JobsError::InvalidStateTransition(format!(
                        "The job execution is {} and cannot be canceled",
                        other.as_str()
                    )));
                }
            }
            if let Some(details) = status_details {
                exec.status_details = details;
            }
            exec.set_status(ExecutionStatus::Canceled, txn.now);
            txn.put_exec(scope, exec)
        })
    }

    /// DeleteJobExecution: a terminal execution, or any with `force`. Deleting an earlier
    /// (retried) execution leaves the current one; deleting the current one of a retried
    /// execution makes the latest earlier one current again.
    pub fn delete_job_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        execution_number: i64,
        force: bool,
    ) -> Result<(), JobsError> {
        self.change(|txn| {
            let key = (scope.clone(), thing.to_string(), job_id.to_string());
            let current =
                txn.st.executions.get(&key).cloned().ok_or_else(|| execution_not_found(job_id, thing))?;
            let exec = current
                .attempts()
                .find(|e| e.execution_number == execution_number)
                .cloned()
                .ok_or_else(|| execution_not_found(job_id, thing))?;
            if !force && !exec.status.is_terminal() {
                return Err(JobsError::InvalidStateTransition(format!(
                    "The job execution is {}: delete it with force=true",
                    exec.status.as_str()
                )));
            }
            if exec.execution_number != current.execution_number {
                let mut current = current;
                current.earlier.retain(|e| e.execution_number != execution_number);
                return txn.put_exec(scope, current);
            }
            let mut earlier = current.earlier;
            match earlier.pop() {
                Some(mut previous) => {
                    previous.earlier = earlier;
                    txn.remove_exec(scope, thing, job_id)?;
                    txn.restore_exec(scope, previous)
                }
                None => txn.remove_exec(scope, thing, job_id),
            }
        })
    }
}

/// The paging key of one execution: its thing or job, then its execution number, so that a
/// retried execution's summaries follow each other and a token lands between them.
fn page_key(name: &str, number: i64) -> String {
    format!("{name}!{number:010}")
}

fn paged(
    execs: impl Iterator<Item = (String, Execution)>,
    token: Option<&str>,
    max: Option<usize>,
) -> (Vec<Execution>, Option<String>) {
    let mut execs: Vec<(String, Execution)> = execs.collect();
    execs.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = page(execs, |(key, _)| key.as_str(), token, max_results(max));
    (items.into_iter().map(|(_, e)| e).collect(), next)
}
