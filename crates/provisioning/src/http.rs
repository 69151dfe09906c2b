//! The `iot` routes of fleet provisioning (wire only; shapes from botocore's model): the
//! provisioning templates and their versions, and RegisterThing (`POST /things`).

use crate::state::api_time;
use crate::Provisioning;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The routes.
pub fn routes(service: Arc<Provisioning>) -> Router {
    Router::new()
        .route("/provisioning-templates", post(create_provisioning_template).get(list_provisioning_templates))
        .route(
            "/provisioning-templates/{template_name}",
            get(describe_provisioning_template)
                .patch(update_provisioning_template)
                .delete(delete_provisioning_template),
        )
        .route(
            "/provisioning-templates/{template_name}/versions",
            post(create_provisioning_template_version).get(list_provisioning_template_versions),
        )
        .route(
            "/provisioning-templates/{template_name}/versions/{version_id}",
            get(describe_provisioning_template_version).delete(delete_provisioning_template_version),
        )
        .route("/things", post(register_thing))
        .with_state(service)
}

/// A version id of the path: an integer (botocore `TemplateVersionId`).
fn version(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| ApiError::invalid_request(format!("versionId {text:?} is not an integer")))
}

async fn create_provisioning_template(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    AwsJson(body): AwsJson<crate::CreateTemplate>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let tags = iotemu_api::tags::check_tags(&body.tags)?;
    let template = blocking(move || {
        let template = service.create_provisioning_template(&scope, body)?;
        iotemu_api::tags::set_tags(&service.store, &scope, &template.template_arn, &tags)?;
        Ok(template)
    })
    .await?;
    Ok(Json(json!({
        "templateArn": template.template_arn,
        "templateName": template.template_name,
        "defaultVersionId": template.default_version_id,
    })))
}

async fn describe_provisioning_template(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service.describe_provisioning_template(&ctx.scope(), &name)?.describe_json()))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
}

async fn list_provisioning_templates(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (templates, next) =
        service.list_provisioning_templates(&ctx.scope(), q.max_results, q.next_token.as_deref())?;
    let out = json!({ "templates": templates.iter().map(|t| t.summary_json()).collect::<Vec<_>>() });
    Ok(Json(with_next_token(out, next)))
}

async fn update_provisioning_template(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(body): AwsJson<crate::UpdateTemplate>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    blocking(move || Ok(service.update_provisioning_template(&scope, &name, body)?)).await?;
    Ok(Json(json!({})))
}

async fn delete_provisioning_template(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    blocking(move || Ok(service.delete_provisioning_template(&scope, &name)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VersionQuery {
    set_as_default: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VersionBody {
    template_body: Option<String>,
}

async fn create_provisioning_template_version(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<VersionQuery>,
    AwsJson(body): AwsJson<VersionBody>,
) -> Result<Json<Value>, ApiError> {
    let set_as_default = query(q)?.set_as_default.unwrap_or(false);
    let scope = ctx.scope();
    let (template, id) = blocking(move || {
        Ok(service.create_provisioning_template_version(&scope, &name, body.template_body, set_as_default)?)
    })
    .await?;
    Ok(Json(json!({
        "templateArn": template.template_arn,
        "templateName": template.template_name,
        "versionId": id,
        "isDefaultVersion": template.default_version_id == id,
    })))
}

async fn describe_provisioning_template_version(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path((name, version_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (template, found) =
        service.describe_provisioning_template_version(&ctx.scope(), &name, version(&version_id)?)?;
    Ok(Json(json!({
        "versionId": found.version_id,
        "creationDate": api_time(found.creation_date),
        "templateBody": found.template_body,
        "isDefaultVersion": template.default_version_id == found.version_id,
    })))
}

async fn list_provisioning_template_versions(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (template, versions, next) = service.list_provisioning_template_versions(
        &ctx.scope(),
        &name,
        q.max_results,
        q.next_token.as_deref(),
    )?;
    let out = json!({ "versions": versions.iter().map(|v| template.version_json(v)).collect::<Vec<_>>() });
    Ok(Json(with_next_token(out, next)))
}

async fn delete_provisioning_template_version(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    Path((name, version_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let version = version(&version_id)?;
    let scope = ctx.scope();
    blocking(move || Ok(service.delete_provisioning_template_version(&scope, &name, version)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RegisterThingBody {
    template_body: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

async fn register_thing(
    State(service): State<Arc<Provisioning>>,
    ctx: ApiContext,
    AwsJson(body): AwsJson<RegisterThingBody>,
) -> Result<Json<Value>, ApiError> {
    let scope = ctx.scope();
    let done = blocking(move || {
        Ok(service.register_thing_with_body(&scope, body.template_body, body.parameters)?)
    })
    .await?;
    let mut out = json!({ "resourceArns": done.resource_arns });
    if let Some(pem) = done.certificate_pem {
        out["certificatePem"] = json!(pem);
    }
    Ok(Json(out))
}
