//! Jobs as stored, the bodies of CreateJob and UpdateJob, and the checks of their documents and
//! configurations (pure).

use crate::executions::state::{substitute_parameters, AbortCriteria, JobStatus, TargetSelection, Timers};
use crate::JobsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The largest job document (botocore `JobDocument`: 32 768 characters).
pub const MAX_DOCUMENT: usize = 32_768;

/// A job, as stored. The configurations are kept as given (botocore shapes) and read where
/// iotemu acts on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    pub arn: String,
    pub target_selection: TargetSelection,
    pub status: JobStatus,
    #[serde(default)]
    pub force_canceled: bool,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub targets: Vec<String>,
    pub description: Option<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    /// Kept and returned as given; its retries are not run yet.
    pub job_executions_retry_config: Option<Value>,
    /// Kept and returned as given (`startTime`, `endTime`, `maintenanceWindows`, ...); not acted on.
    pub scheduling_config: Option<Value>,
    /// Kept and returned as given.
    pub destination_package_versions: Option<Value>,
    pub job_template_arn: Option<String>,
    pub document_parameters: Option<BTreeMap<String, String>>,
    pub created_at: u64,
    pub last_updated_at: u64,
    pub completed_at: Option<u64>,
    /// Things not yet given an execution because of `maximumPerMinute`, in rollout order.
    #[serde(default)]
    pub pending_targets: Vec<String>,
    /// When the current rollout minute began.
    #[serde(default)]
    pub window_start: u64,
}

impl Job {
    /// `timeoutConfig.inProgressTimeoutInMinutes`.
    pub fn in_progress_timeout_minutes(&self) -> Option<u64> {
        self.timeout_config.as_ref()?.get("inProgressTimeoutInMinutes")?.as_u64()
    }

    /// `jobExecutionsRolloutConfig.maximumPerMinute`.
    pub fn maximum_per_minute(&self) -> Option<usize> {
        self.job_executions_rollout_config.as_ref()?.get("maximumPerMinute")?.as_u64().map(|n| n as usize)
    }

    /// `abortConfig.criteriaList`.
    pub fn abort_criteria(&self) -> Vec<AbortCriteria> {
        self.abort_config
            .as_ref()
            .and_then(|c| c.get("criteriaList"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default()
    }

    /// The document devices get: `document` (or the one read from `documentSource` at
    /// CreateJob) with its parameters substituted; `{}` when S3 was not configured then.
    /// Presigned-URL placeholders are replaced by [`crate::Jobs::device_document`].
    pub fn device_document(&self) -> String {
        match (&self.document, &self.document_parameters) {
            (Some(doc), Some(params)) => substitute_parameters(doc, params),
            (Some(doc), None) => doc.clone(),
            (None, _) => "{}".to_string(),
        }
    }

    pub(crate) fn timers(&self, minute_ms: u64) -> Timers {
        Timers { minute_ms, in_progress_timeout_minutes: self.in_progress_timeout_minutes() }
    }
}

/// CreateJob's body (botocore `CreateJobRequest`; jobExecutionsRetryConfig, schedulingConfig and
/// destinationPackageVersions are kept and returned; tags are kept by the handler in the tags
/// store; namespaceId is accepted and ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    #[serde(default)]
    pub targets: Vec<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub target_selection: Option<String>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    pub job_executions_retry_config: Option<Value>,
    pub scheduling_config: Option<Value>,
    pub destination_package_versions: Option<Value>,
    pub job_template_arn: Option<String>,
    pub document_parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub tags: Vec<iotemu_api::tags::Tag>,
    /// The document read from `documentSource` in S3 (by the handler, before CreateJob).
    #[serde(skip)]
    pub fetched_document: Option<String>,
}

/// UpdateJob's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateJob {
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
}

pub(crate) fn check_document(document: &str) -> Result<(), JobsError> {
    if document.chars().count() > MAX_DOCUMENT {
        return Err(JobsError::InvalidRequest(format!("The job document exceeds {MAX_DOCUMENT} characters")));
    }
    serde_json::from_str::<Value>(document)
        .map(|_| ())
        .map_err(|e| JobsError::InvalidRequest(format!("The job document is not valid JSON: {e}")))
}

/// Checks the configurations iotemu acts on.
pub(crate) fn check_configs(
    rollout: Option<&Value>,
    timeout: Option<&Value>,
    abort: Option<&Value>,
) -> Result<(), JobsError> {
    let invalid = |m: &str| Err(JobsError::InvalidRequest(m.to_string()));
    if let Some(max) = rollout.and_then(|r| r.get("maximumPerMinute")) {
        if !max.as_u64().is_some_and(|m| (1..=1000).contains(&m)) {
            return invalid("jobExecutionsRolloutConfig.maximumPerMinute must be between 1 and 1000");
        }
    }
    if let Some(minutes) = timeout.and_then(|t| t.get("inProgressTimeoutInMinutes")) {
        if !minutes.as_u64().is_some_and(|m| (1..=10080).contains(&m)) {
            return invalid("timeoutConfig.inProgressTimeoutInMinutes must be between 1 and 10080");
        }
    }
    if let Some(list) = abort.and_then(|a| a.get("criteriaList")) {
        let criteria: Vec<AbortCriteria> = serde_json::from_value(list.clone())
            .map_err(|e| JobsError::InvalidRequest(format!("Invalid abortConfig: {e}")))?;
        for c in &criteria {
            if !["FAILED", "REJECTED", "TIMED_OUT", "ALL"].contains(&c.failure_type.as_str())
                || c.action != "CANCEL"
            {
                return invalid("abortConfig criteria need a failureType of FAILED, REJECTED, TIMED_OUT or ALL and the action CANCEL");
            }
        }
    }
    Ok(())
}
