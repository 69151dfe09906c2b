//! The logging options' routes of the `iot` API (wire only; botocore shapes).

use crate::v2_logging::service::Logging;
use crate::v2_logging::state::{LoggingOptions, TargetLevel};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use iotemu_api::{query, ApiContext, ApiError, AwsJson, AwsQuery};
use iotemu_logs::{LogTarget, TargetType};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes, for the `iot` service router.
pub fn routes(logging: Arc<Logging>) -> Router {
    Router::new()
        .route("/v2LoggingOptions", post(set_v2_logging_options).get(get_v2_logging_options))
        .route(
            "/v2LoggingLevel",
            post(set_v2_logging_level).get(list_v2_logging_levels).delete(delete_v2_logging_level),
        )
        .with_state(logging)
}

async fn set_v2_logging_options(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    AwsJson(options): AwsJson<LoggingOptions>,
) -> Result<Json<Value>, ApiError> {
    logging.set_v2_logging_options(&ctx.scope(), options)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(default)]
    verbose: Option<String>,
}

async fn get_v2_logging_options(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    q: AwsQuery<GetQuery>,
) -> Result<Json<Value>, ApiError> {
    let verbose = query(q)?.verbose.as_deref() == Some("true");
    let options = logging.get_v2_logging_options(&ctx.scope(), verbose)?;
    let mut body = json!({
        "defaultLogLevel": options.default_log_level.to_string(),
        "disableAllLogs": options.disable_all_logs,
    });
    if let Some(role) = options.role_arn {
        body["roleArn"] = json!(role);
    }
    if !options.event_configurations.is_empty() {
        body["eventConfigurations"] = json!(options.event_configurations);
    }
    Ok(Json(body))
}

async fn set_v2_logging_level(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    AwsJson(level): AwsJson<TargetLevel>,
) -> Result<Json<Value>, ApiError> {
    logging.set_v2_logging_level(&ctx.scope(), level)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    target_type: Option<TargetType>,
}

async fn list_v2_logging_levels(
    State(logging): State<Arc<Logging>>,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let configurations: Vec<Value> = logging
        .list_v2_logging_levels(q.target_type)
        .into_iter()
        .map(|(target, level)| json!({ "logTarget": target, "logLevel": level.to_string() }))
        .collect();
    Ok(Json(json!({ "logTargetConfigurations": configurations })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    target_type: TargetType,
    target_name: String,
}

async fn delete_v2_logging_level(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    q: AwsQuery<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    logging.delete_v2_logging_level(
        &ctx.scope(),
        LogTarget { target_type: q.target_type, name: q.target_name },
    )?;
    Ok(Json(json!({})))
}
