//! The thing, thing type and thing principal routes (`iot`): parse, call the operation, render.
//! Shapes follow botocore's `iot` model (CreateThingRequest/Response, DescribeThingResponse, ...).

use crate::http::{header, listing, query, AttributePayload, AwsQuery, PageQuery};
use crate::things::service::{ListThings, UpdateThing};
use crate::things::state::ThingType;
use crate::{Page, Registry, Thing};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes of the thing, thing type and thing principal operations.
pub(crate) fn routes() -> Router<Arc<Registry>> {
    Router::new()
        .route("/things", get(list_things))
        .route(
            "/things/{thing_name}",
            post(create_thing).get(describe_thing).patch(update_thing).delete(delete_thing),
        )
        .route(
            "/things/{thing_name}/principals",
            put(attach_thing_principal).delete(detach_thing_principal).get(list_thing_principals),
        )
        .route("/principals/things", get(list_principal_things))
        .route("/things/{thing_name}/principals-v2", get(list_thing_principals_v2))
        .route("/principals/things-v2", get(list_principal_things_v2))
        .route("/thing-types", get(list_thing_types))
        .route(
            "/thing-types/{thing_type_name}",
            post(create_thing_type).get(describe_thing_type).delete(delete_thing_type),
        )
        .route("/thing-types/{thing_type_name}/deprecate", post(deprecate_thing_type))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateThingRequest {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
    billing_group_name: Option<String>,
}

async fn create_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateThingRequest>,
) -> Result<Json<Value>, ApiError> {
    let attributes = req.attribute_payload.map(|p| p.attributes).unwrap_or_default();
    let scope = ctx.scope();
    if let Some(group) = &req.billing_group_name {
        registry.describe_billing_group(&scope, group)?;
    }
    let thing = registry.create_thing(&scope, &name, req.thing_type_name, attributes)?;
    if let Some(group) = &req.billing_group_name {
        registry.add_thing_to_billing_group(&scope, group, &thing.name)?;
    }
    Ok(Json(json!({ "thingName": thing.name, "thingArn": thing.arn, "thingId": thing.id })))
}

async fn describe_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let thing = registry.describe_thing(&ctx.scope(), &name)?;
    let mut body = thing_attribute(&thing);
    body["defaultClientId"] = json!(thing.name);
    body["thingId"] = json!(thing.id);
    if let Some(group) = &thing.billing_group {
        body["billingGroupName"] = json!(group);
    }
    Ok(Json(body))
}

/// botocore's `ThingAttribute` shape (ListThings); DescribeThing adds to it.
fn thing_attribute(thing: &Thing) -> Value {
    let mut v = json!({
        "thingName": thing.name,
        "thingArn": thing.arn,
        "attributes": thing.attributes,
        "version": thing.version,
    });
    if let Some(type_name) = &thing.type_name {
        v["thingTypeName"] = json!(type_name);
    }
    v
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateThingRequest {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
    expected_version: Option<i64>,
    #[serde(default)]
    remove_thing_type: bool,
}

async fn update_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<UpdateThingRequest>,
) -> Result<Json<Value>, ApiError> {
    let update = UpdateThing {
        type_name: req.thing_type_name,
        remove_type: req.remove_thing_type,
        attributes: req.attribute_payload.map(|p| (p.attributes, p.merge)),
        expected_version: req.expected_version,
    };
    registry.update_thing(&ctx.scope(), &name, update)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteThingQuery {
    expected_version: Option<i64>,
}

async fn delete_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<DeleteThingQuery>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_thing(&ctx.scope(), &name, query(q)?.expected_version)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListThingsQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
    thing_type_name: Option<String>,
    #[serde(default)]
    use_prefix_attribute_value: bool,
}

async fn list_things(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListThingsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let attribute = match (q.attribute_name, q.attribute_value) {
        (Some(name), Some(value)) => Some((name, value)),
        (Some(name), None) => Some((name, String::new())),
        (None, _) => None,
    };
    let use_prefix = q.use_prefix_attribute_value || attribute.as_ref().is_some_and(|(_, v)| v.is_empty());
    let list = ListThings {
        attribute,
        use_prefix,
        type_name: q.thing_type_name,
        max_results: q.max_results,
        next_token: q.next_token,
    };
    let (things, next) = registry.list_things(&ctx.scope(), &list)?;
    let things: Vec<Value> = things.iter().map(thing_attribute).collect();
    let body = json!({ "things": things });
    Ok(Json(with_next_token(body, next)))
}

/// The `x-amzn-principal` header the thing-principal operations carry.
fn principal(headers: &HeaderMap) -> Result<String, ApiError> {
    header(headers, "x-amzn-principal").map(str::to_string)
}

/// `thingPrincipalType` (and the paging) of the thing-principal operations.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PrincipalTypeQuery {
    thing_principal_type: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl PrincipalTypeQuery {
    fn page(&self) -> crate::Page {
        crate::Page { max_results: self.max_results, next_token: self.next_token.clone() }
    }
}

async fn attach_thing_principal(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: HeaderMap,
    q: AwsQuery<PrincipalTypeQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let principal_type = q.thing_principal_type.as_deref().unwrap_or("NON_EXCLUSIVE_THING");
    registry.attach_thing_principal_typed(&ctx.scope(), &name, &principal(&headers)?, principal_type)?;
    Ok(Json(json!({})))
}

async fn list_thing_principals_v2(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<PrincipalTypeQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (principals, next) = registry.list_thing_principals_v2(
        &ctx.scope(),
        &name,
        q.thing_principal_type.as_deref(),
        &q.page(),
    )?;
    let objects: Vec<Value> =
        principals.iter().map(|(p, ty)| json!({ "principal": p, "thingPrincipalType": ty })).collect();
    Ok(listing("thingPrincipalObjects", objects, next))
}

async fn list_principal_things_v2(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    headers: HeaderMap,
    q: AwsQuery<PrincipalTypeQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (things, next) = registry.list_principal_things_v2(
        &ctx.scope(),
        &principal(&headers)?,
        q.thing_principal_type.as_deref(),
        &q.page(),
    )?;
    let objects: Vec<Value> =
        things.iter().map(|(t, ty)| json!({ "thingName": t, "thingPrincipalType": ty })).collect();
    Ok(listing("principalThingObjects", objects, next))
}

async fn detach_thing_principal(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    registry.detach_thing_principal(&ctx.scope(), &name, &principal(&headers)?)?;
    Ok(Json(json!({})))
}

async fn list_thing_principals(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let (principals, next) = registry.list_thing_principals(&ctx.scope(), &name, &query(q)?.into())?;
    Ok(listing("principals", principals, next))
}

async fn list_principal_things(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    headers: HeaderMap,
    q: AwsQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let (things, next) =
        registry.list_principal_things(&ctx.scope(), &principal(&headers)?, &query(q)?.into())?;
    Ok(listing("things", things, next))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThingTypeProperties {
    thing_type_description: Option<String>,
    #[serde(default)]
    searchable_attributes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateThingTypeRequest {
    thing_type_properties: Option<ThingTypeProperties>,
    #[serde(default)]
    tags: Vec<iotemu_api::tags::Tag>,
}

async fn create_thing_type(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateThingTypeRequest>,
) -> Result<Json<Value>, ApiError> {
    let tags = iotemu_api::tags::check_tags(&req.tags)?;
    let props = req.thing_type_properties.unwrap_or_default();
    let t = registry.create_thing_type(
        &ctx.scope(),
        &name,
        props.thing_type_description,
        props.searchable_attributes,
    )?;
    registry.keep_created_tags(&ctx.scope(), &t.arn, &tags)?;
    Ok(Json(json!({ "thingTypeName": t.name, "thingTypeArn": t.arn, "thingTypeId": t.id })))
}

/// botocore's `ThingTypeDefinition` (ListThingTypes); DescribeThingType adds the id.
fn thing_type_definition(t: &ThingType) -> Value {
    let mut properties = json!({ "searchableAttributes": t.searchable_attributes });
    if let Some(description) = &t.description {
        properties["thingTypeDescription"] = json!(description);
    }
    let mut metadata = json!({ "deprecated": t.deprecated, "creationDate": t.created });
    if let Some(date) = t.deprecation_date {
        metadata["deprecationDate"] = json!(date);
    }
    json!({
        "thingTypeName": t.name,
        "thingTypeArn": t.arn,
        "thingTypeProperties": properties,
        "thingTypeMetadata": metadata,
    })
}

async fn describe_thing_type(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = registry.describe_thing_type(&ctx.scope(), &name)?;
    let mut body = thing_type_definition(&t);
    body["thingTypeId"] = json!(t.id);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListThingTypesQuery {
    thing_type_name: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

async fn list_thing_types(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListThingTypesQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = Page { max_results: q.max_results, next_token: q.next_token };
    let (types, next) = registry.list_thing_types(&ctx.scope(), q.thing_type_name.as_deref(), &page)?;
    Ok(listing("thingTypes", types.iter().map(thing_type_definition).collect::<Vec<_>>(), next))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeprecateRequest {
    #[serde(default)]
    undo_deprecate: bool,
}

async fn deprecate_thing_type(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<DeprecateRequest>,
) -> Result<Json<Value>, ApiError> {
    registry.deprecate_thing_type(&ctx.scope(), &name, req.undo_deprecate)?;
    Ok(Json(json!({})))
}

async fn delete_thing_type(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_thing_type(&ctx.scope(), &name)?;
    Ok(Json(json!({})))
}
