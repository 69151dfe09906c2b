//! The billing-group routes (`iot`): parse, call the operation, render. Shapes follow botocore's
//! `iot` model (CreateBillingGroupRequest/Response, DescribeBillingGroupResponse, ...).

use crate::billing_groups::{name_or_arn, BillingGroup};
use crate::http::{listing, query, AwsQuery, PageQuery};
use crate::Registry;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iotemu_api::tags::{check_tags, Tag};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) fn routes() -> Router<Arc<Registry>> {
    Router::new()
        .route("/billing-groups", get(list_billing_groups))
        .route("/billing-groups/addThingToBillingGroup", put(add_thing_to_billing_group))
        .route("/billing-groups/removeThingFromBillingGroup", put(remove_thing_from_billing_group))
        .route(
            "/billing-groups/{billing_group_name}",
            post(create_billing_group)
                .get(describe_billing_group)
                .patch(update_billing_group)
                .delete(delete_billing_group),
        )
        .route("/billing-groups/{billing_group_name}/things", get(list_things_in_billing_group))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Properties {
    billing_group_description: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateBillingGroupRequest {
    billing_group_properties: Option<Properties>,
    #[serde(default)]
    tags: Vec<Tag>,
}

async fn create_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateBillingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let tags = check_tags(&req.tags)?;
    let description = req.billing_group_properties.unwrap_or_default().billing_group_description;
    let g = registry.create_billing_group(&ctx.scope(), &name, description)?;
    registry.keep_created_tags(&ctx.scope(), &g.arn, &tags)?;
    Ok(Json(json!({ "billingGroupName": g.name, "billingGroupArn": g.arn, "billingGroupId": g.id })))
}

/// botocore's `DescribeBillingGroupResponse`.
fn description(g: &BillingGroup) -> Value {
    let mut properties = json!({});
    if let Some(d) = &g.description {
        properties["billingGroupDescription"] = json!(d);
    }
    json!({
        "billingGroupName": g.name,
        "billingGroupId": g.id,
        "billingGroupArn": g.arn,
        "version": g.version,
        "billingGroupProperties": properties,
        "billingGroupMetadata": { "creationDate": g.created },
    })
}

async fn describe_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(description(&registry.describe_billing_group(&ctx.scope(), &name)?)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
    name_prefix_filter: Option<String>,
}

async fn list_billing_groups(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = crate::Page { max_results: q.max_results, next_token: q.next_token };
    let (groups, next) =
        registry.list_billing_groups(&ctx.scope(), q.name_prefix_filter.as_deref(), &page)?;
    let items: Vec<Value> =
        groups.iter().map(|g| json!({ "groupName": g.name, "groupArn": g.arn })).collect();
    Ok(listing("billingGroups", items, next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBillingGroupRequest {
    billing_group_properties: Properties,
    expected_version: Option<i64>,
}

async fn update_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateBillingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let description = req.billing_group_properties.billing_group_description;
    let version = registry.update_billing_group(&ctx.scope(), &name, description, req.expected_version)?;
    Ok(Json(json!({ "version": version })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    expected_version: Option<i64>,
}

async fn delete_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    registry.delete_billing_group(&ctx.scope(), &name, q.expected_version)?;
    Ok(Json(json!({})))
}

/// AddThingToBillingGroupRequest and RemoveThingFromBillingGroupRequest: each by name or ARN.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Membership {
    billing_group_name: Option<String>,
    billing_group_arn: Option<String>,
    thing_name: Option<String>,
    thing_arn: Option<String>,
}

impl Membership {
    fn names(self) -> Result<(String, String), ApiError> {
        let group =
            name_or_arn(self.billing_group_name, self.billing_group_arn, "billinggroup", "billingGroup")?;
        let thing = name_or_arn(self.thing_name, self.thing_arn, "thing", "thing")?;
        Ok((group, thing))
    }
}

async fn add_thing_to_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<Membership>,
) -> Result<Json<Value>, ApiError> {
    let (group, thing) = req.names()?;
    registry.add_thing_to_billing_group(&ctx.scope(), &group, &thing)?;
    Ok(Json(json!({})))
}

async fn remove_thing_from_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<Membership>,
) -> Result<Json<Value>, ApiError> {
    let (group, thing) = req.names()?;
    registry.remove_thing_from_billing_group(&ctx.scope(), &group, &thing)?;
    Ok(Json(json!({})))
}

async fn list_things_in_billing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = query(q)?.into();
    let (things, next) = registry.list_things_in_billing_group(&ctx.scope(), &name, &page)?;
    Ok(listing("things", things, next))
}
