//! The job operations of the `iot` API: CreateJob, DescribeJob, ListJobs, UpdateJob, CancelJob,
//! DeleteJob and GetJobDocument.

use crate::executions::state::{counts, ExecutionStatus, JobStatus, TargetSelection};
use crate::jobs::state::{check_configs, check_document, check_retry_update, CreateJob, Job, UpdateJob};
use crate::service::JOB;
use crate::state::{arn_resource, check_id, max_results};
use crate::{Jobs, JobsError};
use iotemu_api::paging::page;
use iotemu_core::Scope;
use std::collections::BTreeMap;

pub(crate) fn job_not_found(id: &str) -> JobsError {
    JobsError::NotFound(format!("Job {id} cannot be found."))
}

impl Jobs {
    /// CreateJob.
    pub fn create_job(&self, scope: &Scope, job_id: &str, request: CreateJob) -> Result<Job, JobsError> {
        check_id("jobId", job_id)?;
        let mut request = request;
        if request.targets.is_empty() || request.targets.len() > 100 {
            return Err(JobsError::InvalidRequest(
                "targets must name 1 to 100 things or thing groups".into(),
            ));
        }
        if let Some(template_arn) = &request.job_template_arn {
            let template_id = match arn_resource(template_arn) {
                Some(("jobtemplate", id)) => id.to_string(),
                _ => {
                    return Err(JobsError::InvalidRequest(format!(
                        "{template_arn} is not a job template ARN"
                    )))
                }
            };
            let template =
                self.state.lock().templates.get(&(scope.clone(), template_id.clone())).cloned().ok_or_else(
                    || JobsError::NotFound(format!("Job template {template_id} cannot be found.")),
                )?;
            if request.document.is_none() && request.document_source.is_none() {
                request.document = template.document;
                request.document_source = template.document_source;
            }
            request.presigned_url_config = request.presigned_url_config.or(template.presigned_url_config);
            request.job_executions_rollout_config =
                request.job_executions_rollout_config.or(template.job_executions_rollout_config);
            request.abort_config = request.abort_config.or(template.abort_config);
            request.timeout_config = request.timeout_config.or(template.timeout_config);
            request.job_executions_retry_config =
                request.job_executions_retry_config.or(template.job_executions_retry_config);
            request.destination_package_versions =
                request.destination_package_versions.or(template.destination_package_versions);
            // The template's maintenance windows become the job's (botocore keeps them in the
            // job's schedulingConfig).
            if request.scheduling_config.is_none() {
                request.scheduling_config =
                    template.maintenance_windows.map(|w| serde_json::json!({ "maintenanceWindows": w }));
            }
        }
        match (&request.document, &request.document_source) {
            (Some(_), Some(_)) => {
                return Err(JobsError::InvalidRequest(
                    "Give either document or documentSource, not both".into(),
                ));
            }
            (None, None) => {
                return Err(JobsError::InvalidRequest(
                    "Either document or documentSource is required".into(),
                ));
            }
            (Some(doc), None) => check_document(doc)?,
            (None, Some(_)) => {
                if let Some(doc) = &request.fetched_document {
                    check_document(doc)?;
                }
            }
        }
        let target_selection = match request.target_selection.as_deref() {
            None | Some("SNAPSHOT") => TargetSelection::Snapshot,
            Some("CONTINUOUS") => TargetSelection::Continuous,
            Some(other) => return Err(JobsError::InvalidRequest(format!("Invalid targetSelection {other}"))),
        };
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
            request.job_executions_retry_config.as_ref(),
        )?;
        let things = self.resolve_targets(scope, &request.targets)?;
        self.change(|txn| {
            if txn.st.jobs.contains_key(&(scope.clone(), job_id.to_string())) {
                return Err(JobsError::AlreadyExists(format!("Job {job_id} already exists.")));
            }
            let now = txn.now;
            let job = Job {
                job_id: job_id.to_string(),
                arn: format!("arn:aws:iot:{}:{}:job/{job_id}", scope.region, scope.account),
                target_selection,
                status: JobStatus::InProgress,
                force_canceled: false,
                reason_code: None,
                comment: None,
                targets: request.targets,
                description: request.description,
                document: request.document.or(request.fetched_document),
                document_source: request.document_source,
                presigned_url_config: request.presigned_url_config,
                job_executions_rollout_config: request.job_executions_rollout_config,
                abort_config: request.abort_config,
                timeout_config: request.timeout_config,
                job_executions_retry_config: request.job_executions_retry_config,
                scheduling_config: request.scheduling_config,
                destination_package_versions: request.destination_package_versions,
                job_template_arn: request.job_template_arn,
                document_parameters: request.document_parameters,
                created_at: now,
                last_updated_at: now,
                completed_at: None,
                pending_targets: things,
                window_start: 0,
            };
            txn.put_job(scope, job.clone())?;
            txn.roll_out(scope, job)?;
            Ok(())
        })?;
        self.describe_job(scope, job_id).map(|(job, _)| job)
    }

    /// DescribeJob: the job and its execution counts by status.
    pub fn describe_job(
        &self,
        scope: &Scope,
        job_id: &str,
    ) -> Result<(Job, BTreeMap<ExecutionStatus, u64>), JobsError> {
        let state = self.state.lock();
        let job = state
            .jobs
            .get(&(scope.clone(), job_id.to_string()))
            .cloned()
            .ok_or_else(|| job_not_found(job_id))?;
        let counts = counts(state.of_job(scope, job_id));
        Ok((job, counts))
    }

    /// ListJobs, by job id, filtered as asked.
    pub fn list_jobs(
        &self,
        scope: &Scope,
        status: Option<&str>,
        target_selection: Option<&str>,
        thing_group: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<Job>, Option<String>) {
        let state = self.state.lock();
        let jobs: Vec<Job> = state
            .jobs
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, j)| j)
            .filter(|j| status.is_none_or(|s| j.status.as_str() == s))
            .filter(|j| target_selection.is_none_or(|t| j.target_selection.as_str() == t))
            .filter(|j| {
                thing_group
                    .is_none_or(|g| j.targets.iter().any(|t| arn_resource(t) == Some(("thinggroup", g))))
            })
            .cloned()
            .collect();
        page(jobs, |j| j.job_id.as_str(), token, max_results(max))
    }

    /// UpdateJob: description and configurations.
    pub fn update_job(&self, scope: &Scope, job_id: &str, request: UpdateJob) -> Result<(), JobsError> {
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
            None,
        )?;
        if let Some(retry) = &request.job_executions_retry_config {
            check_retry_update(retry)?;
        }
        self.change(|txn| {
            let mut job = txn
                .st
                .jobs
                .get(&(scope.clone(), job_id.to_string()))
                .cloned()
                .ok_or_else(|| job_not_found(job_id))?;
            if let Some(d) = request.description {
                job.description = Some(d);
            }
            if request.presigned_url_config.is_some() {
                job.presigned_url_config = request.presigned_url_config;
            }
            if request.job_executions_rollout_config.is_some() {
                job.job_executions_rollout_config = request.job_executions_rollout_config;
            }
            if request.abort_config.is_some() {
                job.abort_config = request.abort_config;
            }
            if request.timeout_config.is_some() {
                job.timeout_config = request.timeout_config;
            }
            if request.job_executions_retry_config.is_some() {
                job.job_executions_retry_config = request.job_executions_retry_config;
            }
            job.last_updated_at = txn.now;
            txn.put_job(scope, job)
        })
    }

    /// CancelJob: the job becomes CANCELED; its QUEUED executions are CANCELED, and its
    /// IN_PROGRESS ones too with `force`. A canceled job can be canceled again with `force` (to
    /// reach the IN_PROGRESS executions); a COMPLETED one cannot be canceled.
    pub fn cancel_job(
        &self,
        scope: &Scope,
        job_id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
    ) -> Result<Job, JobsError> {
        self.change(|txn| {
            let mut job = txn
                .st
                .jobs
                .get(&(scope.clone(), job_id.to_string()))
                .cloned()
                .ok_or_else(|| job_not_found(job_id))?;
            match job.status {
                JobStatus::InProgress | JobStatus::Canceled => {}
                other => {
                    return Err(JobsError::InvalidStateTransition(format!(
                        "Job {job_id} is {} and cannot be canceled",
                        other.as_str()
                    )));
                }
            }
            job.status = JobStatus::Canceled;
            job.force_canceled |= force;
            job.reason_code = reason_code.or(job.reason_code);
            job.comment = comment.or(job.comment);
            job.pending_targets.clear();
            job.last_updated_at = txn.now;
            txn.cancel_executions(scope, job_id, force)?;
            txn.put_job(scope, job.clone())?;
            Ok(job)
        })
    }

    /// DeleteJob: with its executions. A job IN_PROGRESS, or with executions IN_PROGRESS, needs
    /// `force` (InvalidStateTransitionException otherwise).
    pub fn delete_job(&self, scope: &Scope, job_id: &str, force: bool) -> Result<(), JobsError> {
        self.change(|txn| {
            let key = (scope.clone(), job_id.to_string());
            let job = txn.st.jobs.get(&key).cloned().ok_or_else(|| job_not_found(job_id))?;
            let running = txn.st.of_job(scope, job_id).any(|e| e.status == ExecutionStatus::InProgress);
            if !force && (job.status == JobStatus::InProgress || running) {
                return Err(JobsError::InvalidStateTransition(format!(
                    "Job {job_id} is in progress: delete it with force=true"
                )));
            }
            let things: Vec<String> = txn.st.of_job(scope, job_id).map(|e| e.thing_name.clone()).collect();
            for thing in things {
                txn.remove_exec(scope, &thing, job_id)?;
            }
            txn.jobs.store.delete(JOB, scope, job_id)?;
            txn.jobs.job_event(scope, &job, "deletion_in_progress", []);
            txn.jobs.job_event(scope, &job, "deleted", []);
            txn.st.jobs.remove(&key);
            Ok(())
        })
    }

    /// GetJobDocument: the document with its `documentParameters` substituted, or as given
    /// with `before_substitution`.
    pub fn get_job_document(
        &self,
        scope: &Scope,
        job_id: &str,
        before_substitution: bool,
    ) -> Result<String, JobsError> {
        let (job, _) = self.describe_job(scope, job_id)?;
        Ok(match before_substitution {
            true => job.document.unwrap_or_else(|| "{}".into()),
            false => self.device_document(&job),
        })
    }
}
