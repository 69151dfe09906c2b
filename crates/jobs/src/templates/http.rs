//! The job template routes of the `iot` API (wire only; shapes from botocore's `iot` model).

use crate::executions::state::api_time;
use crate::templates::state::CreateJobTemplate;
use crate::Jobs;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the job template operations.
pub fn routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/job-templates", get(list_job_templates))
        .route(
            "/job-templates/{template_id}",
            get(describe_job_template).put(create_job_template).delete(delete_job_template),
        )
        .with_state(jobs)
}

async fn create_job_template(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    AwsJson(body): AwsJson<CreateJobTemplate>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let tags = iotemu_api::tags::check_tags(&body.tags)?;
    let template = blocking(move || {
        let template = jobs.create_job_template(&scope, &id, body)?;
        iotemu_api::tags::set_tags(&jobs.store, &scope, &template.arn, &tags)?;
        Ok(template)
    })
    .await?;
    Ok(Json(json!({ "jobTemplateArn": template.arn, "jobTemplateId": template.job_template_id })))
}

async fn describe_job_template(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = jobs.describe_job_template(&ctx.scope(), &id)?;
    let mut out = json!({
        "jobTemplateArn": t.arn,
        "jobTemplateId": t.job_template_id,
        "description": t.description,
        "createdAt": api_time(t.created_at),
    });
    let optional = [
        ("document", t.document.map(Value::from)),
        ("documentSource", t.document_source.map(Value::from)),
        ("presignedUrlConfig", t.presigned_url_config),
        ("jobExecutionsRolloutConfig", t.job_executions_rollout_config),
        ("abortConfig", t.abort_config),
        ("timeoutConfig", t.timeout_config),
        ("jobExecutionsRetryConfig", t.job_executions_retry_config),
        ("maintenanceWindows", t.maintenance_windows),
        ("destinationPackageVersions", t.destination_package_versions),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
}

async fn list_job_templates(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = jobs.list_job_templates(&ctx.scope(), q.max_results, q.next_token.as_deref());
    let items: Vec<Value> = page
        .iter()
        .map(|t| {
            json!({
                "jobTemplateArn": t.arn,
                "jobTemplateId": t.job_template_id,
                "description": t.description,
                "createdAt": api_time(t.created_at),
            })
        })
        .collect();
    let out = json!({ "jobTemplates": items });
    Ok(Json(with_next_token(out, next)))
}

async fn delete_job_template(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    blocking(move || Ok(jobs.delete_job_template(&scope, &id)?)).await?;
    Ok(Json(json!({})))
}
