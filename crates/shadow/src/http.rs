//! The shadow operations of `iot-data` over HTTP (botocore `iot-data/2015-05-28`): GetThingShadow,
//! UpdateThingShadow, DeleteThingShadow (`?name=` for a named shadow) and
//! ListNamedShadowsForThing. Wire only: the same [`ShadowRequests::handle`] serves MQTT, so an
//! update over HTTP publishes the same `/accepted`, `/delta` and `/documents` messages.
//!
//! The caller of an HTTP request has no client id; its principal is the SigV4 access key.

use crate::mqtt::{Operation, ShadowRequest};
use crate::service::ShadowRequests;
use crate::Rejection;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{query, ApiContext, ApiError, AwsQuery};
use iotemu_core::{ClientInfo, Protocol, Scope, ServiceError, TraceId};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The shadow routes of the `iotdata` service.
pub fn routes(requests: Arc<ShadowRequests>) -> Router {
    Router::new()
        .route(
            "/things/{thing}/shadow",
            get(get_thing_shadow).post(update_thing_shadow).delete(delete_thing_shadow),
        )
        .route("/api/things/shadow/ListNamedShadowsForThing/{thing}", get(list_named_shadows_for_thing))
        .with_state(requests)
}

#[derive(Deserialize, Default)]
struct NameQuery {
    name: Option<String>,
}

fn caller(ctx: &ApiContext) -> Arc<ClientInfo> {
    let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    Arc::new(ClientInfo::new(Protocol::Http, "", ctx.0.access_key.as_str(), unspecified))
}

/// Runs one request and renders its answer: the accepted payload as JSON, or AWS's error.
fn run(
    requests: &Arc<ShadowRequests>,
    scope: &Scope,
    caller: &Arc<ClientInfo>,
    thing: &str,
    name: Option<&str>,
    operation: Operation,
    payload: &[u8],
) -> Response {
    let request = ShadowRequest { thing, name, operation };
    match requests.handle(scope, caller, TraceId::new(), &request, payload) {
        Ok(accepted) => ([(header::CONTENT_TYPE, "application/json")], accepted.to_string()).into_response(),
        // AWS's message alone (the code is the status); the exception name from the code.
        Err(Rejection { error, .. }) => {
            ApiError::new(error.http_status(), error.error_type(), error.message).into_response()
        }
    }
}

/// Serves one request on the blocking pool: updates and deletes commit to SQLite, so a slow disk
/// never stalls the runtime.
async fn serve(
    requests: Arc<ShadowRequests>,
    ctx: ApiContext,
    thing: String,
    q: AwsQuery<NameQuery>,
    operation: Operation,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = query(q)?.name;
    let caller = caller(&ctx);
    serve_as(requests, ctx.scope(), caller, thing, name, operation, body).await
}

/// Serves one request of `caller` (an HTTPS device on the device port, say) in `scope`, on the
/// blocking pool.
pub async fn serve_as(
    requests: Arc<ShadowRequests>,
    scope: Scope,
    caller: Arc<ClientInfo>,
    thing: String,
    name: Option<String>,
    operation: Operation,
    body: Bytes,
) -> Result<Response, ApiError> {
    iotemu_api::blocking(move || {
        Ok(run(&requests, &scope, &caller, &thing, name.as_deref(), operation, &body))
    })
    .await
}

async fn get_thing_shadow(
    State(requests): State<Arc<ShadowRequests>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<NameQuery>,
) -> Result<Response, ApiError> {
    serve(requests, ctx, thing, q, Operation::Get, Bytes::new()).await
}

async fn update_thing_shadow(
    State(requests): State<Arc<ShadowRequests>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<NameQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    serve(requests, ctx, thing, q, Operation::Update, body).await
}

async fn delete_thing_shadow(
    State(requests): State<Arc<ShadowRequests>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<NameQuery>,
) -> Result<Response, ApiError> {
    serve(requests, ctx, thing, q, Operation::Delete, Bytes::new()).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    next_token: Option<String>,
    page_size: Option<usize>,
}

async fn list_named_shadows_for_thing(
    State(requests): State<Arc<ShadowRequests>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let (names, next) = requests.shadows.list_named_shadows_for_thing(
        &ctx.scope(),
        &thing,
        q.page_size,
        q.next_token.as_deref(),
    )?;
    let body = json!({ "results": names, "timestamp": requests.now_secs() });
    Ok(Json(with_next_token(body, next)))
}
