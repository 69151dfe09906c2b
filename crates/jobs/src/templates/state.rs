//! Job templates as stored, and CreateJobTemplate's body.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A job template, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplate {
    pub job_template_id: String,
    pub arn: String,
    pub description: String,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    /// Kept and returned as given (and given to the jobs made from the template).
    pub job_executions_retry_config: Option<Value>,
    pub maintenance_windows: Option<Value>,
    pub destination_package_versions: Option<Value>,
    pub created_at: u64,
}

/// CreateJobTemplate's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobTemplate {
    /// Kept by the handler in the tags store (`iotemu_api::tags`).
    #[serde(default)]
    pub tags: Vec<iotemu_api::tags::Tag>,
    pub job_arn: Option<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    pub job_executions_retry_config: Option<Value>,
    pub maintenance_windows: Option<Value>,
    pub destination_package_versions: Option<Value>,
}
