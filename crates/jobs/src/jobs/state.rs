//! Jobs as stored, the bodies of CreateJob and UpdateJob, and the checks of their documents and
//! configurations (pure).

use crate::executions::state::{
    substitute_parameters, AbortCriteria, JobStatus, RetryCriteria, TargetSelection, Timers,
};
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
    /// Kept and returned as given; FAILED and TIMED_OUT executions are retried as it says.
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

    /// `jobExecutionsRetryConfig.criteriaList`.
    pub fn retry_criteria(&self) -> Vec<RetryCriteria> {
        self.job_executions_retry_config
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
    /// Only to set the number of retries to 0 (`job-configurations-api.md`, "Retry configuration").
    pub job_executions_retry_config: Option<Value>,
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
    retry: Option<&Value>,
) -> Result<(), JobsError> {
    if let Some(retry) = retry {
        check_retry_config(retry)?;
    }
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

/// AWS's validation message for one member (the form of its other `1 validation error
/// detected` answers).
fn validation(value: &Value, at: &str, constraint: &str) -> JobsError {
    let value = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    JobsError::InvalidRequest(format!(
        "1 validation error detected: Value '{value}' at '{at}' failed to satisfy constraint: {constraint}"
    ))
}

/// Checks `jobExecutionsRetryConfig` against botocore's `JobExecutionsRetryConfig`
/// (`criteriaList` of 1-2 `RetryCriteria`: `failureType` FAILED | TIMED_OUT | ALL,
/// `numberOfRetries` 0-10) and `jobs-configurations-details.md` ("up to 10 retries for both
/// failure types combined").
pub(crate) fn check_retry_config(retry: &Value) -> Result<(), JobsError> {
    let at = "jobExecutionsRetryConfig.criteriaList";
    let Some(list) = retry.get("criteriaList") else {
        return Err(validation(&Value::Null, at, "Member must not be null"));
    };
    let Some(items) = list.as_array() else {
        return Err(JobsError::InvalidRequest(format!("{at} must be a list")));
    };
    if items.is_empty() {
        return Err(validation(list, at, "Member must have length greater than or equal to 1"));
    }
    if items.len() > 2 {
        return Err(validation(list, at, "Member must have length less than or equal to 2"));
    }
    let mut total = 0;
    for (i, item) in items.iter().enumerate() {
        let member = format!("{at}.{}.member", i + 1);
        let failure = item.get("failureType").unwrap_or(&Value::Null);
        if failure.is_null() {
            return Err(validation(failure, &format!("{member}.failureType"), "Member must not be null"));
        }
        if !failure.as_str().is_some_and(|f| ["FAILED", "TIMED_OUT", "ALL"].contains(&f)) {
            return Err(validation(
                failure,
                &format!("{member}.failureType"),
                "Member must satisfy enum value set: [FAILED, TIMED_OUT, ALL]",
            ));
        }
        let retries = item.get("numberOfRetries").unwrap_or(&Value::Null);
        let at_retries = format!("{member}.numberOfRetries");
        match retries.as_i64() {
            None if retries.is_null() => {
                return Err(validation(retries, &at_retries, "Member must not be null"))
            }
            None => return Err(JobsError::InvalidRequest(format!("{at_retries} must be an integer"))),
            Some(n) if n < 0 => {
                return Err(validation(
                    retries,
                    &at_retries,
                    "Member must have value greater than or equal to 0",
                ))
            }
            Some(n) if n > 10 => {
                return Err(validation(
                    retries,
                    &at_retries,
                    "Member must have value less than or equal to 10",
                ))
            }
            Some(n) => total += n,
        }
    }
    if total > 10 {
        return Err(JobsError::InvalidRequest(format!(
            "The numberOfRetries of jobExecutionsRetryConfig add up to {total}; a device allows up to 10 retries for all failure types combined"
        )));
    }
    Ok(())
}

/// UpdateJob's `jobExecutionsRetryConfig`: after a job is created its retries can only be set to
/// 0 (`job-configurations-api.md`, "Retry configuration").
pub(crate) fn check_retry_update(retry: &Value) -> Result<(), JobsError> {
    check_retry_config(retry)?;
    let nonzero = retry["criteriaList"]
        .as_array()
        .is_some_and(|items| items.iter().any(|c| c["numberOfRetries"].as_i64() != Some(0)));
    if nonzero {
        return Err(JobsError::InvalidRequest(
            "The number of retries of a job can only be set to 0 after the job is created".into(),
        ));
    }
    Ok(())
}
