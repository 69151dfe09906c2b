//! The thing-group routes: parse, call the operation, render. Shapes follow botocore's
//! CreateThingGroupRequest/Response, DescribeThingGroupResponse, ListThingGroupsRequest, ...

use crate::http::{listing, query, AttributePayload, AwsQuery, PageQuery};
use crate::{GroupNameAndArn, ListThingGroups, NameOrArn, Page, Registry, ThingGroupProperties};
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The thing-group routes, to be merged into the registry's router.
pub(crate) fn routes() -> Router<Arc<Registry>> {
    Router::new()
        .route("/thing-groups", get(list_thing_groups))
        .route(
            "/thing-groups/{thing_group_name}",
            post(create_thing_group)
                .get(describe_thing_group)
                .patch(update_thing_group)
                .delete(delete_thing_group),
        )
        .route("/thing-groups/{thing_group_name}/things", get(list_things_in_thing_group))
        .route("/thing-groups/addThingToThingGroup", put(add_thing_to_thing_group))
        .route("/thing-groups/removeThingFromThingGroup", put(remove_thing_from_thing_group))
        .route("/thing-groups/updateThingGroupsForThing", put(update_thing_groups_for_thing))
        .route("/things/{thing_name}/thing-groups", get(list_thing_groups_for_thing))
}

/// botocore `ThingGroupProperties`, as CreateThingGroup, UpdateThingGroup and the dynamic
/// groups' operations take it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PropertiesRequest {
    thing_group_description: Option<String>,
    attribute_payload: Option<AttributePayload>,
}

impl From<PropertiesRequest> for ThingGroupProperties {
    fn from(p: PropertiesRequest) -> Self {
        ThingGroupProperties {
            description: p.thing_group_description,
            attributes: p.attribute_payload.map(|a| (a.attributes, a.merge)),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateThingGroupRequest {
    parent_group_name: Option<String>,
    thing_group_properties: Option<PropertiesRequest>,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn create_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateThingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let tags = iotemu_api::tags::check_tags(&req.tags)?;
    let properties = req.thing_group_properties.unwrap_or_default().into();
    let g = registry.create_thing_group(&ctx.scope(), &name, req.parent_group_name, properties)?;
    registry.keep_created_tags(&ctx.scope(), &g.arn, &tags)?;
    Ok(Json(json!({ "thingGroupName": g.name, "thingGroupArn": g.arn, "thingGroupId": g.id })))
}

fn name_and_arn(g: &GroupNameAndArn) -> Value {
    json!({ "groupName": g.name, "groupArn": g.arn })
}

/// DescribeThingGroupResponse; `status`, `queryString`, `indexName` and `queryVersion` only for
/// a dynamic group.
async fn describe_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = registry.describe_thing_group(&ctx.scope(), &name)?;
    let g = &d.group;
    // A group without attributes has no `attributePayload` at all, as AWS answers.
    let mut properties = json!({});
    if !g.attributes.is_empty() {
        properties["attributePayload"] = json!({ "attributes": g.attributes });
    }
    if let Some(description) = &g.description {
        properties["thingGroupDescription"] = json!(description);
    }
    let mut metadata = json!({ "creationDate": g.created_ms as f64 / 1000.0 });
    if let Some(parent) = &g.parent {
        metadata["parentGroupName"] = json!(parent);
        metadata["rootToParentThingGroups"] = d.root_to_parent.iter().map(name_and_arn).collect();
    }
    let mut body = json!({
        "thingGroupName": g.name,
        "thingGroupId": g.id,
        "thingGroupArn": g.arn,
        "version": g.version,
        "thingGroupProperties": properties,
        "thingGroupMetadata": metadata,
    });
    // A dynamic group's query and status (dynamic-thing-groups.md, "Describe").
    if let Some(d) = &g.dynamic {
        body["status"] = json!(d.status);
        body["queryString"] = json!(d.query_string);
        body["indexName"] = json!(d.index_name);
        body["queryVersion"] = json!(d.query_version);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateThingGroupRequest {
    thing_group_properties: PropertiesRequest,
    expected_version: Option<i64>,
}

async fn update_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateThingGroupRequest>,
) -> Result<Json<Value>, ApiError> {
    let version = registry.update_thing_group(
        &ctx.scope(),
        &name,
        req.thing_group_properties.into(),
        req.expected_version,
    )?;
    Ok(Json(json!({ "version": version })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    expected_version: Option<i64>,
}

async fn delete_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_thing_group(&ctx.scope(), &name, query(q)?.expected_version)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListThingGroupsQuery {
    next_token: Option<String>,
    max_results: Option<usize>,
    parent_group: Option<String>,
    name_prefix_filter: Option<String>,
    recursive: Option<bool>,
}

async fn list_thing_groups(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListThingGroupsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let list = ListThingGroups {
        parent_group: q.parent_group,
        name_prefix: q.name_prefix_filter,
        recursive: q.recursive,
        page: Page { max_results: q.max_results, next_token: q.next_token },
    };
    let (groups, next) = registry.list_thing_groups(&ctx.scope(), &list)?;
    Ok(listing("thingGroups", groups.iter().map(name_and_arn).collect::<Vec<_>>(), next))
}

/// AddThingToThingGroupRequest and RemoveThingFromThingGroupRequest.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembershipRequest {
    thing_group_name: Option<String>,
    thing_group_arn: Option<String>,
    thing_name: Option<String>,
    thing_arn: Option<String>,
    /// Lets the thing leave dynamic groups to stay within the limit.
    override_dynamic_groups: Option<bool>,
}

impl MembershipRequest {
    fn targets(self) -> Result<(NameOrArn, NameOrArn), ApiError> {
        let group = NameOrArn::from_request(self.thing_group_name, self.thing_group_arn, "thingGroup")?;
        let thing = NameOrArn::from_request(self.thing_name, self.thing_arn, "thing")?;
        Ok((group, thing))
    }
}

async fn add_thing_to_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<MembershipRequest>,
) -> Result<Json<Value>, ApiError> {
    let override_dynamic = req.override_dynamic_groups.unwrap_or(false);
    let (group, thing) = req.targets()?;
    registry.add_thing_to_thing_group(&ctx.scope(), &group, &thing, override_dynamic)?;
    Ok(Json(json!({})))
}

async fn remove_thing_from_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<MembershipRequest>,
) -> Result<Json<Value>, ApiError> {
    let (group, thing) = req.targets()?;
    registry.remove_thing_from_thing_group(&ctx.scope(), &group, &thing)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateThingGroupsForThingRequest {
    thing_name: Option<String>,
    #[serde(default)]
    thing_groups_to_add: Vec<String>,
    #[serde(default)]
    thing_groups_to_remove: Vec<String>,
    override_dynamic_groups: Option<bool>,
}

async fn update_thing_groups_for_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    AwsJson(req): AwsJson<UpdateThingGroupsForThingRequest>,
) -> Result<Json<Value>, ApiError> {
    let thing = ApiError::required(req.thing_name, "thingName")?;
    registry.update_thing_groups_for_thing(
        &ctx.scope(),
        &thing,
        &req.thing_groups_to_add,
        &req.thing_groups_to_remove,
        req.override_dynamic_groups.unwrap_or(false),
    )?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListThingsInThingGroupQuery {
    #[serde(default)]
    recursive: bool,
    next_token: Option<String>,
    max_results: Option<usize>,
}

async fn list_things_in_thing_group(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<ListThingsInThingGroupQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = Page { max_results: q.max_results, next_token: q.next_token };
    let (things, next) = registry.list_things_in_thing_group(&ctx.scope(), &name, q.recursive, &page)?;
    Ok(listing("things", things, next))
}

async fn list_thing_groups_for_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(thing): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page: Page = query(q)?.into();
    let (groups, next) = registry.list_thing_groups_for_thing(&ctx.scope(), &thing, &page)?;
    Ok(listing("thingGroups", groups.iter().map(name_and_arn).collect::<Vec<_>>(), next))
}
