//! The Jobs routes: the control plane of the `iot` API ([`control_routes`]) and the device
//! plane of `iot-jobs-data` ([`data_routes`]). Wire only; shapes from botocore's models. Path
//! parameters are named as the registry's (`thing_name`) so the `iot` routes merge.

use crate::device::mqtt::{parse_object, parse_update};
use crate::device::service::{DeviceCall, DeviceOp};
use crate::executions::state::{api_time, DocumentForm};
use crate::service::{
    execution_json, execution_summary_json, job_json, job_summary_json, thing_arn, CreateJob,
    CreateJobTemplate, UpdateJob,
};
use crate::Jobs;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use iotemu_core::{ClientInfo, Protocol, TraceId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `iot` routes of jobs, executions and job templates.
pub fn control_routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/jobs", get(list_jobs))
        .route("/jobs/{job_id}", get(describe_job).put(create_job).patch(update_job).delete(delete_job))
        .route("/jobs/{job_id}/cancel", axum::routing::put(cancel_job))
        .route("/jobs/{job_id}/job-document", get(get_job_document))
        .route("/jobs/{job_id}/things", get(list_job_executions_for_job))
        .route("/things/{thing_name}/jobs", get(list_job_executions_for_thing))
        .route("/things/{thing_name}/jobs/{job_id}", get(describe_job_execution))
        .route("/things/{thing_name}/jobs/{job_id}/cancel", axum::routing::put(cancel_job_execution))
        .route(
            "/things/{thing_name}/jobs/{job_id}/executionNumber/{execution_number}",
            axum::routing::delete(delete_job_execution),
        )
        .route("/job-templates", get(list_job_templates))
        .route(
            "/job-templates/{template_id}",
            get(describe_job_template).put(create_job_template).delete(delete_job_template),
        )
        .with_state(jobs)
}

async fn create_job(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(job_id): Path<String>,
    AwsJson(body): AwsJson<CreateJob>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let job = blocking(move || Ok(jobs.create_job(&scope, &job_id, body)?)).await?;
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
    let mut out = json!({ "jobs": page.iter().map(job_summary_json).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(Json(out))
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
struct ForceQuery {
    force: Option<bool>,
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
    let mut out = json!({ "executionSummaries": summaries });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(Json(out))
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
    let mut out = json!({ "executionSummaries": summaries });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(Json(out))
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

async fn create_job_template(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    AwsJson(body): AwsJson<CreateJobTemplate>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let template = blocking(move || Ok(jobs.create_job_template(&scope, &id, body)?)).await?;
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
    let mut out = json!({ "jobTemplates": items });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(Json(out))
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

// ---- iot-jobs-data ----

/// The `iot-jobs-data` routes: GetPendingJobExecutions, StartNextPendingJobExecution
/// (`PUT .../jobs/$next`), DescribeJobExecution and UpdateJobExecution. The same operations as
/// MQTT, so the same entries (protocol HTTP) and notifications; `jobDocument` is a JSON string
/// and there is no `timestamp` or `clientToken` in the answers (botocore).
pub fn data_routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/things/{thing_name}/jobs", get(get_pending_job_executions))
        .route(
            "/things/{thing_name}/jobs/{job_id}",
            get(describe_job_execution_for_device)
                .put(start_next_pending_job_execution)
                .post(update_job_execution),
        )
        .with_state(jobs)
}

fn http_call(ctx: &ApiContext, thing: &str, topic_rest: &str) -> DeviceCall {
    let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let client = Arc::new(ClientInfo::new(Protocol::Http, thing, ctx.0.access_key.as_str(), unspecified));
    DeviceCall {
        scope: ctx.scope(),
        thing: thing.to_string(),
        client_id: client.client_id.clone(),
        client,
        topic: format!("$aws/things/{thing}/jobs/{topic_rest}"),
        client_token: None,
        trace_id: TraceId::new(),
        form: DocumentForm::String,
    }
}

/// Runs a device request off the runtime and renders its answer or AWS's error.
async fn run_device(jobs: Arc<Jobs>, call: DeviceCall, op: DeviceOp) -> Result<Response, ApiError> {
    blocking(move || {
        let outcome = jobs.device_request(&call, &op);
        let response = match outcome.result {
            Ok(value) => Json(value).into_response(),
            Err(refusal) => {
                let (status, kind) = refusal.error.code.http();
                ApiError::new(status, kind, refusal.error.message).into_response()
            }
        };
        jobs.publish(outcome.notices);
        Ok(response)
    })
    .await
}

async fn get_pending_job_executions(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
) -> Result<Response, ApiError> {
    let call = http_call(&ctx, &thing, "get");
    run_device(jobs, call, DeviceOp::GetPending).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeQuery {
    include_job_document: Option<bool>,
    execution_number: Option<i64>,
}

async fn describe_job_execution_for_device(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    q: AwsQuery<DescribeQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let call = http_call(&ctx, &thing, &format!("{job_id}/get"));
    let op = DeviceOp::Describe {
        job_id,
        execution_number: q.execution_number,
        include_document: q.include_job_document.unwrap_or(true),
    };
    run_device(jobs, call, op).await
}

/// A device request's body, refused as AWS's InvalidRequestException when unreadable.
fn device_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    parse_object(body).map_err(|e| ApiError::invalid_request(e.message))
}

async fn start_next_pending_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if job_id != "$next" {
        return Err(ApiError::new(
            404,
            "ResourceNotFoundException",
            "PUT is only for /things/{thingName}/jobs/$next",
        ));
    }
    let request = device_body(&body)?;
    let update = parse_update(&request).map_err(|e| ApiError::invalid_request(e.message))?;
    let call = http_call(&ctx, &thing, "start-next");
    run_device(jobs, call, DeviceOp::StartNext(update)).await
}

async fn update_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = device_body(&body)?;
    let flag = |name: &str| request.get(name).and_then(Value::as_bool).unwrap_or(false);
    let (include_state, include_document) = (flag("includeJobExecutionState"), flag("includeJobDocument"));
    let call = http_call(&ctx, &thing, &format!("{job_id}/update"));
    let op = match parse_update(&request) {
        Ok(update) => DeviceOp::Update { job_id, update, include_state, include_document },
        Err(e) => return Err(ApiError::invalid_request(e.message)),
    };
    run_device(jobs, call, op).await
}
