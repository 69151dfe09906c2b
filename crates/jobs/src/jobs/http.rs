//! The job routes of the `iot` API (wire only; shapes from botocore's `iot` model), and the
//! `Job` and `JobSummary` shapes.

use crate::executions::state::{api_time, ExecutionStatus};
use crate::jobs::state::{CreateJob, Job, UpdateJob};
use crate::Jobs;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The routes of the job operations.
pub fn routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/jobs", get(list_jobs))
        .route("/jobs/{job_id}", get(describe_job).put(create_job).patch(update_job).delete(delete_job))
        .route("/jobs/{job_id}/cancel", put(cancel_job))
        .route("/jobs/{job_id}/job-document", get(get_job_document))
        .with_state(jobs)
}

async fn create_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    AwsJson(mut body): AwsJson<CreateJob>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let tags = iotemu_api::tags::check_tags(&body.tags)?;
    let source = match (&body.document, &body.document_source, &body.job_template_arn) {
        (None, Some(source), _) => Some(source.clone()),
        (None, None, Some(template)) => jobs.template_document_source(&scope, template),
        _ => None,
    };
    if let Some(source) = source {
        body.fetched_document = jobs.fetch_document_source(&source).await?;
    }
    let job = blocking(move || {
        let job = jobs.create_job(&scope, &job_id, body)?;
        iotemu_api::tags::set_tags(&jobs.store, &scope, &job.arn, &tags)?;
        Ok(job)
    })
    .await?;
    let mut out = json!({ "jobArn": job.arn, "jobId": job.job_id });
    if let Some(d) = job.description {
        out["description"] = json!(d);
    }
    Ok(Json(out))
}

async fn describe_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (job, counts) = jobs.describe_job(&ctx.scope(), &job_id)?;
    let mut out = json!({ "job": job_json(&job, &counts) });
    if let Some(source) = &job.document_source {
        out["documentSource"] = json!(source);
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListJobsQuery {
    status: Option<String>,
    target_selection: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
    thing_group_name: Option<String>,
}

async fn list_jobs(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    q: AwsQuery<ListJobsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = jobs.list_jobs(
        &ctx.scope(),
        q.status.as_deref(),
        q.target_selection.as_deref(),
        q.thing_group_name.as_deref(),
        q.max_results,
        q.next_token.as_deref(),
    );
    let out = json!({ "jobs": page.iter().map(job_summary_json).collect::<Vec<_>>() });
    Ok(Json(with_next_token(out, next)))
}

async fn update_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    AwsJson(body): AwsJson<UpdateJob>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    blocking(move || Ok(jobs.update_job(&scope, &job_id, body)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CancelJobBody {
    reason_code: Option<String>,
    comment: Option<String>,
}

async fn cancel_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    q: AwsQuery<ForceQuery>,
    AwsJson(body): AwsJson<CancelJobBody>,
) -> Result<Json<Value>, ApiError> {
    let force = query(q)?.force.unwrap_or(false);
    let scope = ctx.scope();
    let job =
        blocking(move || Ok(jobs.cancel_job(&scope, &job_id, force, body.reason_code, body.comment)?))
            .await?;
    let mut out = json!({ "jobArn": job.arn, "jobId": job.job_id });
    if let Some(d) = job.description {
        out["description"] = json!(d);
    }
    Ok(Json(out))
}

async fn delete_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    q: AwsQuery<ForceQuery>,
) -> Result<Json<Value>, ApiError> {
    let force = query(q)?.force.unwrap_or(false);
    let scope = ctx.scope();
    blocking(move || Ok(jobs.delete_job(&scope, &job_id, force)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DocumentQuery {
    before_substitution: Option<bool>,
}

async fn get_job_document(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    q: AwsQuery<DocumentQuery>,
) -> Result<Json<Value>, ApiError> {
    let raw = query(q)?.before_substitution.unwrap_or(false);
    Ok(Json(json!({ "document": jobs.get_job_document(&ctx.scope(), &job_id, raw)? })))
}

/// `?force=`.
#[derive(Deserialize, Default)]
pub(crate) struct ForceQuery {
    pub force: Option<bool>,
}

/// The `iot` API's `Job` shape.
pub fn job_json(job: &Job, counts: &BTreeMap<ExecutionStatus, u64>) -> Value {
    let n = |s: ExecutionStatus| counts.get(&s).copied().unwrap_or(0);
    let mut out = json!({
        "jobArn": job.arn,
        "jobId": job.job_id,
        "targetSelection": job.target_selection.as_str(),
        "status": job.status.as_str(),
        "forceCanceled": job.force_canceled,
        "targets": job.targets,
        "createdAt": api_time(job.created_at),
        "lastUpdatedAt": api_time(job.last_updated_at),
        "isConcurrent": false,
        "jobProcessDetails": {
            "processingTargets": job.pending_targets.iter().take(10).collect::<Vec<_>>(),
            "numberOfCanceledThings": n(ExecutionStatus::Canceled),
            "numberOfSucceededThings": n(ExecutionStatus::Succeeded),
            "numberOfFailedThings": n(ExecutionStatus::Failed),
            "numberOfRejectedThings": n(ExecutionStatus::Rejected),
            "numberOfQueuedThings": n(ExecutionStatus::Queued),
            "numberOfInProgressThings": n(ExecutionStatus::InProgress),
            "numberOfRemovedThings": n(ExecutionStatus::Removed),
            "numberOfTimedOutThings": n(ExecutionStatus::TimedOut),
        },
    });
    let optional = [
        ("reasonCode", job.reason_code.clone().map(Value::from)),
        ("comment", job.comment.clone().map(Value::from)),
        ("description", job.description.clone().map(Value::from)),
        ("presignedUrlConfig", job.presigned_url_config.clone()),
        ("jobExecutionsRolloutConfig", job.job_executions_rollout_config.clone()),
        ("abortConfig", job.abort_config.clone()),
        ("timeoutConfig", job.timeout_config.clone()),
        ("jobExecutionsRetryConfig", job.job_executions_retry_config.clone()),
        ("schedulingConfig", job.scheduling_config.clone()),
        ("destinationPackageVersions", job.destination_package_versions.clone()),
        ("jobTemplateArn", job.job_template_arn.clone().map(Value::from)),
        ("documentParameters", job.document_parameters.as_ref().map(|p| json!(p))),
        ("completedAt", job.completed_at.map(|t| json!(api_time(t)))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    out
}

/// The `iot` API's `JobSummary` shape.
pub fn job_summary_json(job: &Job) -> Value {
    let mut out = json!({
        "jobArn": job.arn,
        "jobId": job.job_id,
        "targetSelection": job.target_selection.as_str(),
        "status": job.status.as_str(),
        "createdAt": api_time(job.created_at),
        "lastUpdatedAt": api_time(job.last_updated_at),
        "isConcurrent": false,
    });
    if let Some(t) = job.completed_at {
        out["completedAt"] = json!(api_time(t));
    }
    out
}
