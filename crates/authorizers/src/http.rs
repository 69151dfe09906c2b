//! The authorizer routes (`iot`), wire only; paths and shapes from botocore's `iot` model.

use crate::service::Authorizers;
use crate::state::{Authorizer, AuthorizerInput};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::{query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the authorizer operations.
pub fn routes(authorizers: Arc<Authorizers>) -> Router {
    Router::new()
        .route("/authorizers/", get(list_authorizers))
        .route(
            "/authorizer/{authorizer_name}",
            get(describe_authorizer).post(create_authorizer).put(update_authorizer).delete(delete_authorizer),
        )
        .route("/authorizer/{authorizer_name}/test", post(test_invoke_authorizer))
        .route("/default-authorizer", get(describe_default_authorizer).post(set_default_authorizer))
        .with_state(authorizers)
}

fn name_and_arn(a: &Authorizer) -> Json<Value> {
    Json(json!({ "authorizerName": a.authorizer_name, "authorizerArn": a.authorizer_arn }))
}

/// CreateAuthorizer's body: UpdateAuthorizer's and `tags`.
#[derive(serde::Deserialize, Default)]
struct CreateAuthorizerRequest {
    #[serde(flatten)]
    input: AuthorizerInput,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn create_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateAuthorizerRequest>,
) -> Result<Json<Value>, ApiError> {
    let tags = iotemu_api::tags::check_tags(&req.tags)?;
    let authorizer = authorizers.create_authorizer(&ctx.scope(), &name, req.input)?;
    authorizers.keep_created_tags(&ctx.scope(), &authorizer.authorizer_arn, &tags)?;
    Ok(name_and_arn(&authorizer))
}

async fn describe_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let authorizer = authorizers.describe_authorizer(&ctx.scope(), &name)?;
    Ok(Json(json!({ "authorizerDescription": authorizer })))
}

async fn update_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(input): AwsJson<AuthorizerInput>,
) -> Result<Json<Value>, ApiError> {
    Ok(name_and_arn(&authorizers.update_authorizer(&ctx.scope(), &name, input)?))
}

async fn delete_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorizers.delete_authorizer(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_size: Option<usize>,
    marker: Option<String>,
    is_ascending_order: Option<bool>,
    status: Option<String>,
}

/// ListAuthorizers: `pageSize` (1 to 250, default 250 as other `iot` lists), `marker`,
/// `isAscendingOrder`, `status`.
async fn list_authorizers(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page_size = q.page_size.unwrap_or(250);
    if !(1..=250).contains(&page_size) {
        return Err(ApiError::invalid_request("pageSize must be 1 to 250"));
    }
    let (items, next) = authorizers.list_authorizers(
        &ctx.scope(),
        q.status.as_deref(),
        q.is_ascending_order.unwrap_or(true),
        q.marker.as_deref(),
        page_size,
    );
    let summaries: Vec<Value> = items
        .iter()
        .map(|a| json!({ "authorizerName": a.authorizer_name, "authorizerArn": a.authorizer_arn }))
        .collect();
    let mut body = json!({ "authorizers": summaries });
    if let Some(next) = next {
        body["nextMarker"] = Value::from(next);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultBody {
    authorizer_name: String,
}

async fn set_default_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    AwsJson(body): AwsJson<DefaultBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(name_and_arn(&authorizers.set_default_authorizer(&ctx.scope(), &body.authorizer_name)?))
}

async fn describe_default_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
) -> Result<Json<Value>, ApiError> {
    let authorizer = authorizers.describe_default_authorizer(&ctx.scope())?;
    Ok(Json(json!({ "authorizerDescription": authorizer })))
}

async fn test_invoke_authorizer(
    State(authorizers): State<Arc<Authorizers>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(input): AwsJson<crate::invoke::TestInvokeInput>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(authorizers.test_invoke_authorizer(&ctx.scope(), &name, input).await?))
}
