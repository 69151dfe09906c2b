//! The registry's REST routes (`iot`): parse, call the operation, render. Shapes follow
//! botocore's `iot` model (CreateThingRequest/Response, DescribeThingResponse, ...).

use crate::service::{ListThings, UpdateThing};
use crate::{Registry, Thing};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use iotemu_store::Scope;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The routes of the things operations.
pub fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/things", get(list_things))
        .route(
            "/things/{thing_name}",
            post(create_thing).get(describe_thing).patch(update_thing).delete(delete_thing),
        )
        .with_state(registry)
}

fn scope(ctx: &ApiContext) -> Scope {
    Scope::new(ctx.0.account.clone(), ctx.0.region.clone())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AttributePayload {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    merge: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateThingRequest {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
    #[allow(dead_code)]
    billing_group_name: Option<String>,
}

async fn create_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateThingRequest>,
) -> Result<Json<Value>, ApiError> {
    let attributes = req.attribute_payload.map(|p| p.attributes).unwrap_or_default();
    let thing = registry.create_thing(&scope(&ctx), &name, req.thing_type_name, attributes)?;
    Ok(Json(json!({ "thingName": thing.name, "thingArn": thing.arn, "thingId": thing.id })))
}

async fn describe_thing(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let thing = registry.describe_thing(&scope(&ctx), &name)?;
    let mut body = thing_attribute(&thing);
    body["defaultClientId"] = json!(thing.name);
    body["thingId"] = json!(thing.id);
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
    registry.update_thing(&scope(&ctx), &name, update)?;
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
    query: Result<Query<DeleteThingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    registry.delete_thing(&scope(&ctx), &name, query.expected_version)?;
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
    query: Result<Query<ListThingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid_request(e.body_text()))?;
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
    let (things, next) = registry.list_things(&scope(&ctx), &list)?;
    let things: Vec<Value> = things.iter().map(thing_attribute).collect();
    let mut body = json!({ "things": things });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok(Json(body))
}
