//! Jobs and S3 (`create-manage-jobs.md`, "Presigned URLs"; `job-templates.md`): CreateJob's
//! `documentSource` (`https://s3.amazonaws.com/bucket/key` or a regional form) is read from the
//! S3 endpoint of `[aws_services]` when the job is created, and each
//! `${aws:iot:s3-presigned-url:<S3 URL>}` of a document is replaced, whenever a device is given
//! the document, by a SigV4-presigned GET URL of that object at the same endpoint, valid for
//! `presignedUrlConfig.expiresInSec` (default 3600).

use crate::jobs::state::Job;
use crate::{Jobs, JobsError};
use iotemu_awsclient::{parse_s3_url, AwsClient, Service};
use std::time::Duration;

const PLACEHOLDER: &str = "${aws:iot:s3-presigned-url:";

impl Jobs {
    /// The document `job`'s devices get, its presigned-URL placeholders replaced (left as they
    /// are when S3 has no endpoint, or the URL is not an S3 object's).
    pub fn device_document(&self, job: &Job) -> String {
        let document = job.device_document();
        if !document.contains(PLACEHOLDER) {
            return document;
        }
        let client = AwsClient::new(&self.http, &self.aws);
        if !client.is_configured(Service::S3) {
            return document;
        }
        let expires = job
            .presigned_url_config
            .as_ref()
            .and_then(|c| c.get("expiresInSec"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(3600);
        let mut out = String::with_capacity(document.len());
        let mut rest = document.as_str();
        while let Some(start) = rest.find(PLACEHOLDER) {
            let after = &rest[start + PLACEHOLDER.len()..];
            let Some(end) = after.find('}') else { break };
            let presigned = parse_s3_url(&after[..end]).and_then(|(bucket, key)| {
                client.presign_s3_get(&bucket, &key, Duration::from_secs(expires)).ok()
            });
            out.push_str(&rest[..start]);
            match presigned {
                Some(url) => out.push_str(&url),
                None => out.push_str(&rest[start..start + PLACEHOLDER.len() + end + 1]),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The `documentSource` of the job template `template_arn` (CreateJob with a template and
    /// no document of its own).
    pub fn template_document_source(&self, scope: &iotemu_core::Scope, template_arn: &str) -> Option<String> {
        let Some(("jobtemplate", id)) = crate::state::arn_resource(template_arn) else { return None };
        let state = self.state.lock();
        state.templates.get(&(scope.clone(), id.to_string()))?.document_source.clone()
    }

    /// The document at `documentSource`, read from S3; `None` when S3 has no endpoint (the job
    /// then keeps only the source, as before iotemu could reach S3).
    pub async fn fetch_document_source(&self, source: &str) -> Result<Option<String>, JobsError> {
        let client = AwsClient::new(&self.http, &self.aws);
        if !client.is_configured(Service::S3) {
            return Ok(None);
        }
        let Some((bucket, key)) = parse_s3_url(source) else {
            return Err(JobsError::InvalidRequest(format!(
                "documentSource {source} is not an S3 URL (https://s3.amazonaws.com/bucket/key)"
            )));
        };
        let bytes = client.get_s3_object(&bucket, &key).await.map_err(|e| {
            JobsError::InvalidRequest(format!("The job document at {source} could not be read from S3: {e}"))
        })?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| JobsError::InvalidRequest(format!("The job document at {source} is not UTF-8 text")))
    }
}
