//! The job execution routes of the `iot` API (wire only; shapes from botocore's `iot` model),
//! and the `JobExecution` and `JobExecutionSummary` shapes. Path parameters are named as the
//! registry's (`thing_name`) so the `iot` routes merge.

use crate::executions::state::{api_time, seconds_before_timeout, Execution};
use crate::jobs::http::ForceQuery;
use crate::Jobs;
use axum::extract::{Path, State};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use iotemu_core::Scope;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The routes of the job execution operations.
pub fn routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/jobs/{job_id}/things", get(list_job_executions_for_job))
        .route("/things/{thing_name}/jobs", get(list_job_executions_for_thing))
        .route("/things/{thing_name}/jobs/{job_id}", get(describe_job_execution))
        .route("/things/{thing_name}/jobs/{job_id}/cancel", put(cancel_job_execution))
        .route(
            "/things/{thing_name}/jobs/{job_id}/executionNumber/{execution_number}",
            delete(delete_job_execution),
        )
        .with_state(jobs)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExecutionQuery {
    execution_number: Option<i64>,
}

async fn describe_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    q: AwsQuery<ExecutionQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let scope = ctx.scope();
    let exec = jobs.describe_job_execution(&scope, &job_id, &thing, q.execution_number)?;
    Ok(Json(json!({ "execution": execution_json(&exec, &scope, jobs.now()) })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListExecutionsQuery {
    status: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
    job_id: Option<String>,
}

async fn list_job_executions_for_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    q: AwsQuery<ListExecutionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let scope = ctx.scope();
    let (page, next) = jobs.list_job_executions_for_job(
        &scope,
        &job_id,
        q.status.as_deref(),
        q.max_results,
        q.next_token.as_deref(),
    )?;
    let summaries: Vec<Value> = page
        .iter()
        .map(|e| json!({ "thingArn": thing_arn(&scope, &e.thing_name), "jobExecutionSummary": execution_summary_json(e) }))
        .collect();
    let out = json!({ "executionSummaries": summaries });
    Ok(Json(with_next_token(out, next)))
}

async fn list_job_executions_for_thing(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<ListExecutionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = jobs.list_job_executions_for_thing(
        &ctx.scope(),
        &thing,
        q.status.as_deref(),
        q.job_id.as_deref(),
        q.max_results,
        q.next_token.as_deref(),
    );
    let summaries: Vec<Value> = page
        .iter()
        .map(|e| json!({ "jobId": e.job_id, "jobExecutionSummary": execution_summary_json(e) }))
        .collect();
    let out = json!({ "executionSummaries": summaries });
    Ok(Json(with_next_token(out, next)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CancelExecutionBody {
    expected_version: Option<i64>,
    status_details: Option<BTreeMap<String, String>>,
}

async fn cancel_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    q: AwsQuery<ForceQuery>,
    AwsJson(body): AwsJson<CancelExecutionBody>,
) -> Result<Json<Value>, ApiError> {
    let force = query(q)?.force.unwrap_or(false);
    let scope = ctx.scope();
    blocking(move || {
        Ok(jobs.cancel_job_execution(
            &scope,
            &job_id,
            &thing,
            force,
            body.expected_version,
            body.status_details,
        )?)
    })
    .await?;
    Ok(Json(json!({})))
}

async fn delete_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id, number)): Path<(String, String, i64)>,
    q: AwsQuery<ForceQuery>,
) -> Result<Json<Value>, ApiError> {
    let force = query(q)?.force.unwrap_or(false);
    let scope = ctx.scope();
    blocking(move || Ok(jobs.delete_job_execution(&scope, &job_id, &thing, number, force)?)).await?;
    Ok(Json(json!({})))
}

/// The `iot` API's `JobExecution` shape.
pub fn execution_json(exec: &Execution, scope: &Scope, now: u64) -> Value {
    let mut out = json!({
        "jobId": exec.job_id,
        "status": exec.status.as_str(),
        "forceCanceled": exec.force_canceled,
        "statusDetails": { "detailsMap": exec.status_details },
        "thingArn": thing_arn(scope, &exec.thing_name),
        "queuedAt": api_time(exec.queued_at),
        "lastUpdatedAt": api_time(exec.last_updated_at),
        "executionNumber": exec.execution_number,
        "versionNumber": exec.version_number,
    });
    if let Some(t) = exec.started_at {
        out["startedAt"] = json!(api_time(t));
    }
    if let Some(left) = seconds_before_timeout(exec, now) {
        out["approximateSecondsBeforeTimedOut"] = json!(left);
    }
    out
}

/// The `iot` API's `JobExecutionSummary` shape.
pub fn execution_summary_json(exec: &Execution) -> Value {
    let mut out = json!({
        "status": exec.status.as_str(),
        "queuedAt": api_time(exec.queued_at),
        "lastUpdatedAt": api_time(exec.last_updated_at),
        "executionNumber": exec.execution_number,
        "retryAttempt": exec.retry_attempt,
    });
    if let Some(t) = exec.started_at {
        out["startedAt"] = json!(api_time(t));
    }
    out
}

/// A thing's ARN.
pub fn thing_arn(scope: &Scope, thing: &str) -> String {
    format!("arn:aws:iot:{}:{}:thing/{thing}", scope.region, scope.account)
}
