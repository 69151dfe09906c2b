//! The job template operations of the `iot` API: CreateJobTemplate, DescribeJobTemplate,
//! ListJobTemplates and DeleteJobTemplate.

use crate::jobs::service::job_not_found;
use crate::jobs::state::{check_configs, check_document};
use crate::service::TEMPLATE;
use crate::state::{arn_resource, check_id, max_results};
use crate::templates::state::{CreateJobTemplate, JobTemplate};
use crate::{Jobs, JobsError};
use iotemu_api::paging::page;
use iotemu_core::Scope;

impl Jobs {
    /// CreateJobTemplate: from a document, a documentSource, or an existing job (`jobArn`).
    pub fn create_job_template(
        &self,
        scope: &Scope,
        id: &str,
        request: CreateJobTemplate,
    ) -> Result<JobTemplate, JobsError> {
        check_id("jobTemplateId", id)?;
        let description = request
            .description
            .ok_or_else(|| JobsError::InvalidRequest("Missing required parameter: description".into()))?;
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
            request.job_executions_retry_config.as_ref(),
        )?;
        let mut state = self.state.lock();
        if state.templates.contains_key(&(scope.clone(), id.to_string())) {
            return Err(JobsError::Conflict(format!("Job template {id} already exists.")));
        }
        let mut template = JobTemplate {
            job_template_id: id.to_string(),
            arn: format!("arn:aws:iot:{}:{}:jobtemplate/{id}", scope.region, scope.account),
            description,
            document: request.document,
            document_source: request.document_source,
            presigned_url_config: request.presigned_url_config,
            job_executions_rollout_config: request.job_executions_rollout_config,
            abort_config: request.abort_config,
            timeout_config: request.timeout_config,
            job_executions_retry_config: request.job_executions_retry_config,
            maintenance_windows: request.maintenance_windows,
            destination_package_versions: request.destination_package_versions,
            created_at: self.now(),
        };
        if let Some(job_arn) = &request.job_arn {
            let job_id = match arn_resource(job_arn) {
                Some(("job", id)) => id,
                _ => return Err(JobsError::InvalidRequest(format!("{job_arn} is not a job ARN"))),
            };
            let job =
                state.jobs.get(&(scope.clone(), job_id.to_string())).ok_or_else(|| job_not_found(job_id))?;
            template.document = template.document.or(job.document.clone());
            template.document_source = template.document_source.or(job.document_source.clone());
            template.presigned_url_config =
                template.presigned_url_config.or(job.presigned_url_config.clone());
            template.job_executions_rollout_config =
                template.job_executions_rollout_config.or(job.job_executions_rollout_config.clone());
            template.abort_config = template.abort_config.or(job.abort_config.clone());
            template.timeout_config = template.timeout_config.or(job.timeout_config.clone());
            template.job_executions_retry_config =
                template.job_executions_retry_config.or(job.job_executions_retry_config.clone());
            template.maintenance_windows = template.maintenance_windows.or_else(|| {
                job.scheduling_config.as_ref().and_then(|s| s.get("maintenanceWindows")).cloned()
            });
            template.destination_package_versions =
                template.destination_package_versions.or(job.destination_package_versions.clone());
        }
        match (&template.document, &template.document_source) {
            (None, None) => {
                return Err(JobsError::InvalidRequest(
                    "A document, documentSource or jobArn is required".into(),
                ));
            }
            (Some(doc), _) => check_document(doc)?,
            _ => {}
        }
        let value = serde_json::to_value(&template).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.store.put(TEMPLATE, scope, id, &value)?;
        state.templates.insert((scope.clone(), id.to_string()), template.clone());
        Ok(template)
    }

    /// DescribeJobTemplate.
    pub fn describe_job_template(&self, scope: &Scope, id: &str) -> Result<JobTemplate, JobsError> {
        self.state
            .lock()
            .templates
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| JobsError::NotFound(format!("Job template {id} cannot be found.")))
    }

    /// ListJobTemplates, by id.
    pub fn list_job_templates(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<JobTemplate>, Option<String>) {
        let state = self.state.lock();
        let all: Vec<JobTemplate> =
            state.templates.iter().filter(|((s, _), _)| s == scope).map(|(_, t)| t.clone()).collect();
        page(all, |t| t.job_template_id.as_str(), token, max_results(max))
    }

    /// DeleteJobTemplate.
    pub fn delete_job_template(&self, scope: &Scope, id: &str) -> Result<(), JobsError> {
        let mut state = self.state.lock();
        if state.templates.remove(&(scope.clone(), id.to_string())).is_none() {
            return Err(JobsError::NotFound(format!("Job template {id} cannot be found.")));
        }
        self.store.delete(TEMPLATE, scope, id)?;
        Ok(())
    }
}
