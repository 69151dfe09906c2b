//! The logging options of the `iot` API (SetV2LoggingOptions, GetV2LoggingOptions,
//! SetV2LoggingLevel, ListV2LoggingLevels, DeleteV2LoggingLevel). They drive the running log
//! pipeline at once, and persist in the store: after a restart the last options set win over
//! `--log-level`, as AWS keeps an account's logging configuration; `POST /_iotemu/reset`
//! returns to the configured start value.

use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use iotemu_logs::{EventSink, LevelFilter, LogTarget, TargetType};
use iotemu_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

const KIND: &str = "logging";
const OPTIONS: &str = "options";

/// What the logging handlers share.
pub struct Logging {
    pub logs: EventSink,
    pub store: Arc<Store>,
    /// The configured start level, restored by reset.
    pub start_level: LevelFilter,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoggingOptions {
    role_arn: Option<String>,
    default_log_level: Option<String>,
    #[serde(default)]
    disable_all_logs: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetLevel {
    log_target: LogTarget,
    log_level: String,
}

impl Logging {
    /// Re-applies the options and target levels stored by an earlier run.
    pub fn restore(&self) -> Result<(), ApiError> {
        for doc in self.store.all(KIND).map_err(internal)? {
            if doc.key == OPTIONS {
                if let Ok(options) = serde_json::from_value::<LoggingOptions>(doc.value) {
                    self.apply_options(&options)?;
                }
            } else if let Ok(level) = serde_json::from_value::<TargetLevel>(doc.value) {
                self.logs.policy().set_target(level.log_target, Some(parse_level(&level.log_level)?));
            }
        }
        Ok(())
    }

    fn apply_options(&self, options: &LoggingOptions) -> Result<(), ApiError> {
        if let Some(level) = &options.default_log_level {
            self.logs.set_filter(parse_level(level)?);
        }
        self.logs.policy().set_disable_all(options.disable_all_logs);
        Ok(())
    }

    /// Back to the configured start value, no targets (`POST /_iotemu/reset`; the store is
    /// cleared by the caller).
    pub fn reset(&self) {
        self.logs.set_filter(self.start_level);
        self.logs.policy().set_disable_all(false);
        for (target, _) in self.logs.policy().targets() {
            self.logs.policy().set_target(target, None);
        }
    }
}

/// The routes, for the `iot` service router.
pub fn routes(logging: Arc<Logging>) -> Router {
    Router::new()
        .route("/v2LoggingOptions", post(set_options).get(get_options))
        .route("/v2LoggingLevel", post(set_level).get(list_levels).delete(delete_level))
        .with_state(logging)
}

/// botocore `LogLevel`: DEBUG, INFO, ERROR, WARN, DISABLED.
fn parse_level(level: &str) -> Result<LevelFilter, ApiError> {
    match level {
        "DEBUG" | "INFO" | "WARN" | "ERROR" | "DISABLED" => level.parse().map_err(ApiError::invalid_request),
        other => Err(ApiError::invalid_request(format!(
            "invalid logLevel {other:?}: expected DEBUG, INFO, WARN, ERROR or DISABLED"
        ))),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "InternalFailureException", e.to_string())
}

fn target_key(target: &LogTarget) -> String {
    format!("level:{:?}:{}", target.target_type, target.name)
}

async fn set_options(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    AwsJson(options): AwsJson<LoggingOptions>,
) -> Result<Json<Value>, ApiError> {
    logging.apply_options(&options)?;
    let value = serde_json::to_value(&options).map_err(internal)?;
    logging.store.put(KIND, &ctx.scope(), OPTIONS, &value).map_err(internal)?;
    Ok(Json(json!({})))
}

/// NotConfiguredException before the first SetV2LoggingOptions, as AWS answers (botocore).
async fn get_options(State(logging): State<Arc<Logging>>, ctx: ApiContext) -> Result<Json<Value>, ApiError> {
    let stored = logging.store.get(KIND, &ctx.scope(), OPTIONS).map_err(internal)?;
    let Some(stored) = stored else {
        return Err(ApiError::new(404, "NotConfiguredException", "Logging options are not configured"));
    };
    let options: LoggingOptions = serde_json::from_value(stored).map_err(internal)?;
    let mut body = json!({
        "defaultLogLevel": logging.logs.filter().to_string(),
        "disableAllLogs": options.disable_all_logs,
    });
    if let Some(role) = options.role_arn {
        body["roleArn"] = json!(role);
    }
    Ok(Json(body))
}

async fn set_level(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    AwsJson(level): AwsJson<TargetLevel>,
) -> Result<Json<Value>, ApiError> {
    let filter = parse_level(&level.log_level)?;
    if level.log_target.name.is_empty() {
        return Err(ApiError::invalid_request("logTarget.targetName is required"));
    }
    let value = serde_json::to_value(&level).map_err(internal)?;
    logging.store.put(KIND, &ctx.scope(), &target_key(&level.log_target), &value).map_err(internal)?;
    logging.logs.policy().set_target(level.log_target, Some(filter));
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    target_type: Option<TargetType>,
}

async fn list_levels(
    State(logging): State<Arc<Logging>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let configurations: Vec<Value> = logging
        .logs
        .policy()
        .targets()
        .into_iter()
        .filter(|(t, _)| q.target_type.is_none_or(|ty| ty == t.target_type))
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

async fn delete_level(
    State(logging): State<Arc<Logging>>,
    ctx: ApiContext,
    q: Result<Query<DeleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let target = LogTarget { target_type: q.target_type, name: q.target_name };
    logging.store.delete(KIND, &ctx.scope(), &target_key(&target)).map_err(internal)?;
    logging.logs.policy().set_target(target, None);
    Ok(Json(json!({})))
}
