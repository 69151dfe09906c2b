//! The topic-rule routes (`iot`): wire only; shapes from botocore's `iot` model (the body of
//! CreateTopicRule and ReplaceTopicRule is the `TopicRulePayload` itself).

use crate::topic_rules::{CachedRule, TopicRulePayload, TopicRules};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the topic-rule operations.
pub fn routes(rules: Arc<TopicRules>) -> Router {
    Router::new()
        .route("/rules", get(list_topic_rules))
        .route(
            "/rules/{rule_name}",
            post(create_topic_rule).get(get_topic_rule).patch(replace_topic_rule).delete(delete_topic_rule),
        )
        .route("/rules/{rule_name}/enable", post(enable_topic_rule))
        .route("/rules/{rule_name}/disable", post(disable_topic_rule))
        .with_state(rules)
}

async fn create_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    AwsJson(body): AwsJson<TopicRulePayload>,
) -> Result<Json<Value>, ApiError> {
    // botocore sends CreateTopicRule's `tags` as the `x-amz-tagging` header (`k=v&k2=v2`).
    let tagging = headers.get("x-amz-tagging").map(|v| v.to_str().unwrap_or_default()).unwrap_or_default();
    let tags = iotemu_api::tags::check_tags(&iotemu_api::tags::parse_tagging_header(tagging)?)?;
    rules.create_topic_rule(&ctx.scope(), &name, body)?;
    rules.keep_created_tags(&ctx.scope(), &name, &tags)?;
    Ok(Json(json!({})))
}

async fn replace_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(body): AwsJson<TopicRulePayload>,
) -> Result<Json<Value>, ApiError> {
    rules.replace_topic_rule(&ctx.scope(), &name, body)?;
    Ok(Json(json!({})))
}

async fn get_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let CachedRule { rule, .. } = rules.get_topic_rule(&ctx.scope(), &name)?;
    let mut body = json!({
        "ruleName": rule.name,
        "sql": rule.sql,
        "createdAt": rule.created,
        "actions": rule.actions,
        "ruleDisabled": rule.disabled,
        "awsIotSqlVersion": rule.sql_version.as_deref().unwrap_or("2015-10-08"),
    });
    if let Some(description) = &rule.description {
        body["description"] = json!(description);
    }
    if let Some(error_action) = &rule.error_action {
        body["errorAction"] = error_action.clone();
    }
    Ok(Json(json!({ "ruleArn": rule.arn, "rule": body })))
}

async fn delete_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    rules.delete_topic_rule(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}

async fn enable_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    rules.enable_topic_rule(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}

async fn disable_topic_rule(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    rules.disable_topic_rule(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    topic: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
    rule_disabled: Option<bool>,
}

async fn list_topic_rules(
    State(rules): State<Arc<TopicRules>>,
    ctx: ApiContext,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = rules.list_topic_rules(
        &ctx.scope(),
        q.topic.as_deref(),
        q.rule_disabled,
        q.max_results,
        q.next_token.as_deref(),
    )?;
    let items: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({
                "ruleArn": r.rule.arn,
                "ruleName": r.rule.name,
                "topicPattern": r.statement.topic_filter(),
                "createdAt": r.rule.created,
                "ruleDisabled": r.rule.disabled,
            })
        })
        .collect();
    let body = json!({ "rules": items });
    Ok(Json(with_next_token(body, next)))
}
