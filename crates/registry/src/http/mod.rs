//! The registry's REST routes (`iot`): parse, call the operation, render. Shapes follow
//! botocore's `iot` model (CreateThingRequest/Response, DescribeThingResponse, ...).

mod certificates;

use crate::service::{ListThings, UpdateThing};
use crate::state::ThingType;
use crate::{Page, Registry, Thing};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

mod policies;
mod thing_groups;

/// The routes of the registry operations.
pub fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/things", get(list_things))
        .route(
            "/things/{thing_name}",
            post(create_thing).get(describe_thing).patch(update_thing).delete(delete_thing),
        )
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/certificates", get(list_certificates))
        .route(
            "/certificates/{certificate_id}",
            get(describe_certificate).put(update_certificate).delete(delete_certificate),
        )
        .route(
            "/things/{thing_name}/principals",
            put(attach_thing_principal).delete(detach_thing_principal).get(list_thing_principals),
        )
        .route("/principals/things", get(list_principal_things))
        .route("/thing-types", get(list_thing_types))
        .route(
            "/thing-types/{thing_type_name}",
            post(create_thing_type).get(describe_thing_type).delete(delete_thing_type),
        )
        .route("/thing-types/{thing_type_name}/deprecate", post(deprecate_thing_type))
        .merge(thing_groups::routes())
        .merge(policies::routes())
        .with_state(registry.clone())
        .merge(certificates::routes(registry))
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
    let thing = registry.create_thing(&ctx.scope(), &name, req.thing_type_name, attributes)?;
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
    let mut body = json!({ "things": things });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok(Json(body))
}

/// A query string in AWS's error shape when it does not parse.
pub(super) use iotemu_api::{query, AwsQuery};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetAsActive {
    #[serde(default)]
    set_as_active: bool,
}

async fn create_keys_and_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<SetAsActive>,
) -> Result<Json<Value>, ApiError> {
    let created = registry.create_keys_and_certificate(&ctx.scope(), query(q)?.set_as_active)?;
    Ok(Json(json!({
        "certificateArn": created.certificate.arn,
        "certificateId": created.certificate.id,
        "certificatePem": created.certificate.pem,
        "keyPair": { "PublicKey": created.public_key_pem, "PrivateKey": created.private_key_pem },
    })))
}

async fn describe_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = registry.describe_certificate(&ctx.scope(), &id)?;
    let mut description = json!({
        "certificateArn": c.arn,
        "certificateId": c.id,
        "status": c.status,
        "certificatePem": c.pem,
        "ownedBy": c.owned_by,
        "creationDate": c.created,
        "lastModifiedDate": c.last_modified,
        "customerVersion": 1,
        "generationId": c.generation_id,
        "validity": { "notBefore": c.not_before, "notAfter": c.not_after },
        "certificateMode": c.certificate_mode,
    });
    if let Some(ca) = c.ca_certificate_id {
        description["caCertificateId"] = json!(ca);
    }
    Ok(Json(json!({ "certificateDescription": description })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListCertificatesQuery {
    page_size: Option<usize>,
    marker: Option<String>,
    is_ascending_order: Option<bool>,
}

async fn list_certificates(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    q: AwsQuery<ListCertificatesQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let size = q.page_size.unwrap_or(25);
    let ascending = q.is_ascending_order.unwrap_or(true);
    let (page, next) = registry.list_certificates(&ctx.scope(), size, q.marker.as_deref(), ascending)?;
    let certificates: Vec<Value> = page.iter().map(certificate_summary).collect();
    Ok(with_marker(json!({ "certificates": certificates }), next))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewStatus {
    new_status: String,
}

async fn update_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<NewStatus>,
) -> Result<Json<Value>, ApiError> {
    registry.update_certificate(&ctx.scope(), &id, &query(q)?.new_status)?;
    Ok(Json(json!({})))
}

async fn delete_certificate(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    registry.delete_certificate(&ctx.scope(), &id)?;
    Ok(Json(json!({})))
}

/// A required, non-empty request header (`x-amzn-principal`, `x-amzn-iot-policy`, ...).
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let value = headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    ApiError::required(value, &format!("the {name} header"))
}

/// The `x-amzn-principal` header the thing-principal operations carry.
fn principal(headers: &HeaderMap) -> Result<String, ApiError> {
    header(headers, "x-amzn-principal").map(str::to_string)
}

async fn attach_thing_principal(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    registry.attach_thing_principal(&ctx.scope(), &name, &principal(&headers)?)?;
    Ok(Json(json!({})))
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

/// botocore `Certificate`: a certificate as ListCertificates and ListCertificatesByCA list it.
pub(super) fn certificate_summary(c: &crate::Certificate) -> Value {
    json!({
        "certificateArn": c.arn,
        "certificateId": c.id,
        "status": c.status,
        "certificateMode": c.certificate_mode,
        "creationDate": c.created,
    })
}

/// A `pageSize`/`marker` list body: `nextMarker` added when there is more.
pub(super) fn with_marker(mut body: Value, next: Option<String>) -> Json<Value> {
    if let Some(next) = next {
        body["nextMarker"] = json!(next);
    }
    Json(body)
}

/// `maxResults`/`nextToken` of a list operation.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl From<PageQuery> for Page {
    fn from(q: PageQuery) -> Page {
        Page { max_results: q.max_results, next_token: q.next_token }
    }
}

/// A list body: `items` under `key`, and `nextToken` when there is more.
pub(super) fn listing(key: &str, items: impl serde::Serialize, next: Option<String>) -> Json<Value> {
    let mut body = json!({ key: items });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Json(body)
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
}

async fn create_thing_type(
    State(registry): State<Arc<Registry>>,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(req): AwsJson<CreateThingTypeRequest>,
) -> Result<Json<Value>, ApiError> {
    let props = req.thing_type_properties.unwrap_or_default();
    let t = registry.create_thing_type(
        &ctx.scope(),
        &name,
        props.thing_type_description,
        props.searchable_attributes,
    )?;
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
