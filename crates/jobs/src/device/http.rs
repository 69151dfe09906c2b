//! The `iot-jobs-data` routes (wire only; botocore `iot-jobs-data`): GetPendingJobExecutions,
//! StartNextPendingJobExecution (`PUT .../jobs/$next`), DescribeJobExecution and
//! UpdateJobExecution. The same operations as MQTT, so the same entries (protocol HTTP) and
//! notifications; `jobDocument` is a JSON string and there is no `timestamp` or `clientToken` in
//! the answers (botocore).

use crate::device::mqtt::{parse_object, parse_update};
use crate::device::service::{DeviceCall, DeviceOp};
use crate::executions::state::DocumentForm;
use crate::Jobs;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsQuery};
use iotemu_core::{ClientInfo, Protocol, TraceId};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// The `iot-jobs-data` router.
pub fn routes(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/things/{thing_name}/jobs", get(get_pending_job_executions))
        .route(
            "/things/{thing_name}/jobs/{job_id}",
            get(describe_job_execution).put(start_next_pending_job_execution).post(update_job_execution),
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
    run_device(jobs, call, DeviceOp::GetPendingJobExecutions).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DescribeQuery {
    include_job_document: Option<bool>,
    execution_number: Option<i64>,
}

async fn describe_job_execution(
    State(jobs): State<Arc<Jobs>>,
    ctx: ApiContext,
    Path((thing, job_id)): Path<(String, String)>,
    q: AwsQuery<DescribeQuery>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let call = http_call(&ctx, &thing, &format!("{job_id}/get"));
    let op = DeviceOp::DescribeJobExecution {
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
    run_device(jobs, call, DeviceOp::StartNextPendingJobExecution(update)).await
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
        Ok(update) => DeviceOp::UpdateJobExecution { job_id, update, include_state, include_document },
        Err(e) => return Err(ApiError::invalid_request(e.message)),
    };
    run_device(jobs, call, op).await
}
