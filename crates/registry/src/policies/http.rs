//! The policy routes (`iot`): CreatePolicy ... GetEffectivePolicies, and the older
//! principal-policy operations. Wire only; shapes from botocore's `iot` model.

use crate::http::{header, query, with_marker, AwsQuery};
use crate::{Policy, Registry, RegistryError};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the policy operations.
pub(crate) fn routes() -> Router<Arc<Registry>> {
    Router::new()
        .route("/policies", get(list_policies))
        .route("/policies/{policy_name}", post(create_policy).get(get_policy).delete(delete_policy))
        .route("/policies/{policy_name}/version", post(create_policy_version).get(list_policy_versions))
        .route(
            "/policies/{policy_name}/version/{version_id}",
            get(get_policy_version).patch(set_default_policy_version).delete(delete_policy_version),
        )
        .route("/target-policies/{policy_name}", put(attach_policy).post(detach_policy))
        .route("/attached-policies/{target}", post(list_attached_policies))
        .route("/policy-targets/{policy_name}", post(list_targets_for_policy))
        .route("/effective-policies", post(get_effective_policies))
        .route("/principal-policies", get(list_principal_policies))
        .route(
            "/principal-policies/{policy_name}",
            put(attach_principal_policy).delete(detach_principal_policy),
        )
        .route("/policy-principals", get(list_policy_principals))
}

/// botocore `Policy`: the name and ARN.
fn summary(policy: &Policy) -> Value {
    json!({ "policyName": policy.name, "policyArn": policy.arn })
}

/// A list of policies with its `nextMarker`.
fn policy_page(key: &str, page: &[Policy], next: Option<String>) -> Json<Value> {
    with_marker(json!({ key: page.iter().map(summary).collect::<Vec<_>>() }), next)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyDocumentBody {
    policy_document: Option<String>,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn create_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(body): AwsJson<PolicyDocumentBody>,
) -> Result<Json<Value>, ApiError> {
    let tags = iotemu_api::tags::check_tags(&body.tags)?;
    let policy = registry.create_policy(
        &ctx.scope(),
        &name,
        &ApiError::required(body.policy_document, "policyDocument")?,
    )?;
    registry.keep_created_tags(&ctx.scope(), &policy.arn, &tags)?;
    Ok(Json(json!({
        "policyName": policy.name,
        "policyArn": policy.arn,
        "policyDocument": policy.default_document(),
        "policyVersionId": policy.default_version.to_string(),
    })))
}

async fn get_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let policy = registry.get_policy(&ctx.scope(), &name)?;
    Ok(Json(json!({
        "policyName": policy.name,
        "policyArn": policy.arn,
        "policyDocument": policy.default_document(),
        "defaultVersionId": policy.default_version.to_string(),
        "creationDate": policy.created,
        "lastModifiedDate": policy.last_modified,
        "generationId": policy.generation_id,
    })))
}

async fn delete_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_policy(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    #[serde(default)]
    recursive: bool,
    marker: Option<String>,
    page_size: Option<usize>,
    is_ascending_order: Option<bool>,
}

async fn list_policies(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let ascending = q.is_ascending_order.unwrap_or(true);
    let (page, next) = registry.list_policies(&ctx.scope(), q.marker.as_deref(), q.page_size, ascending)?;
    Ok(policy_page("policies", &page, next))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SetAsDefaultQuery {
    #[serde(default)]
    set_as_default: bool,
}

async fn create_policy_version(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<SetAsDefaultQuery>,
    AwsJson(body): AwsJson<PolicyDocumentBody>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (policy, id) = registry.create_policy_version(
        &ctx.scope(),
        &name,
        &ApiError::required(body.policy_document, "policyDocument")?,
        q.set_as_default,
    )?;
    Ok(Json(json!({
        "policyArn": policy.arn,
        "policyDocument": policy.versions.get(&id).map(|v| v.document.as_str()),
        "policyVersionId": id.to_string(),
        "isDefaultVersion": policy.default_version == id,
    })))
}

async fn list_policy_versions(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let policy = registry.list_policy_versions(&ctx.scope(), &name)?;
    // Newest first, as AWS lists them.
    let versions: Vec<Value> = policy
        .versions
        .iter()
        .rev()
        .map(|(id, v)| {
            json!({
                "versionId": id.to_string(),
                "isDefaultVersion": *id == policy.default_version,
                "createDate": v.created,
            })
        })
        .collect();
    Ok(Json(json!({ "policyVersions": versions })))
}

async fn get_policy_version(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (policy, id) = registry.get_policy_version(&ctx.scope(), &name, &version)?;
    let created = policy.versions.get(&id).map(|v| v.created);
    Ok(Json(json!({
        "policyArn": policy.arn,
        "policyName": policy.name,
        "policyDocument": policy.versions.get(&id).map(|v| v.document.as_str()),
        "policyVersionId": id.to_string(),
        "isDefaultVersion": policy.default_version == id,
        "creationDate": created,
        "lastModifiedDate": created,
        "generationId": policy.generation_id,
    })))
}

async fn set_default_policy_version(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    registry.set_default_policy_version(&ctx.scope(), &name, &version)?;
    Ok(Json(json!({})))
}

async fn delete_policy_version(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_policy_version(&ctx.scope(), &name, &version)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct TargetBody {
    target: Option<String>,
}

async fn attach_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(body): AwsJson<TargetBody>,
) -> Result<Json<Value>, ApiError> {
    registry.attach_policy(&ctx.scope(), &name, &ApiError::required(body.target, "target")?)?;
    Ok(Json(json!({})))
}

async fn detach_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(body): AwsJson<TargetBody>,
) -> Result<Json<Value>, ApiError> {
    registry.detach_policy(&ctx.scope(), &name, &ApiError::required(body.target, "target")?)?;
    Ok(Json(json!({})))
}

async fn list_attached_policies(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(target): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, next) = registry.list_attached_policies(
        &ctx.scope(),
        &target,
        q.recursive,
        q.marker.as_deref(),
        q.page_size,
    )?;
    Ok(policy_page("policies", &page, next))
}

async fn list_targets_for_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (targets, next) =
        registry.list_targets_for_policy(&ctx.scope(), &name, q.marker.as_deref(), q.page_size)?;
    Ok(with_marker(json!({ "targets": targets }), next))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EffectivePoliciesQuery {
    thing_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EffectivePoliciesBody {
    principal: Option<String>,
    #[allow(dead_code)]
    cognito_identity_pool_id: Option<String>,
}

async fn get_effective_policies(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<EffectivePoliciesQuery>,
    AwsJson(body): AwsJson<EffectivePoliciesBody>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let policies =
        registry.get_effective_policies(&ctx.scope(), body.principal.as_deref(), q.thing_name.as_deref())?;
    let effective: Vec<Value> = policies
        .iter()
        .map(|p| json!({ "policyName": p.name, "policyArn": p.arn, "policyDocument": p.default_document() }))
        .collect();
    Ok(Json(json!({ "effectivePolicies": effective })))
}

async fn attach_principal_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    registry.attach_policy(&ctx.scope(), &name, header(&headers, "x-amzn-iot-principal")?)?;
    Ok(Json(json!({})))
}

async fn detach_principal_policy(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    registry.detach_policy(&ctx.scope(), &name, header(&headers, "x-amzn-iot-principal")?)?;
    Ok(Json(json!({})))
}

async fn list_principal_policies(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    headers: HeaderMap,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let principal = header(&headers, "x-amzn-iot-principal")?;
    let (page, next) =
        registry.list_attached_policies(&ctx.scope(), principal, false, q.marker.as_deref(), q.page_size)?;
    Ok(policy_page("policies", &page, next))
}

async fn list_policy_principals(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    headers: HeaderMap,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let name = header(&headers, "x-amzn-iot-policy")?;
    // A policy that does not exist has no principals: AWS answers an empty list, not an error.
    let (targets, next) =
        match registry.list_targets_for_policy(&ctx.scope(), name, q.marker.as_deref(), q.page_size) {
            Err(RegistryError::NotFound(_)) => (Vec::new(), None),
            other => other?,
        };
    Ok(with_marker(json!({ "principals": targets }), next))
}
