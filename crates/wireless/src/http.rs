//! The `iotwireless` routes (REST-JSON, botocore `iotwireless/2020-11-22/service-2.json`):
//! paths, status codes (201 for creations, 204 for deletions, 202 for
//! SendDataToWirelessDevice) and member names as the model has them. Wire only.

use crate::levels::LogLevelsUpdate;
use crate::service::DeviceFilter;
use crate::state::{ExpressionType, Level, LoRaWanDevice};
use crate::{Wireless, WirelessError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use iotemu_api::{blocking, query, ApiContext, ApiError, AwsJson, AwsQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

type Wl = State<Arc<Wireless>>;
type Answer = Result<Response, ApiError>;

fn created(body: Value) -> Answer {
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn ok(body: Value) -> Answer {
    Ok(Json(body).into_response())
}

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The iotwireless router.
pub fn routes(wireless: Arc<Wireless>) -> Router {
    Router::new()
        .route("/service-profiles", post(create_service_profile).get(list_service_profiles))
        .route("/service-profiles/{id}", get(get_service_profile).delete(delete_service_profile))
        .route("/device-profiles", post(create_device_profile).get(list_device_profiles))
        .route("/device-profiles/{id}", get(get_device_profile).delete(delete_device_profile))
        .route("/destinations", post(create_destination).get(list_destinations))
        .route(
            "/destinations/{name}",
            get(get_destination).patch(update_destination).delete(delete_destination),
        )
        .route("/wireless-devices", post(create_wireless_device).get(list_wireless_devices))
        .route("/wireless-devices/{id}", get(get_wireless_device).delete(delete_wireless_device))
        .route("/wireless-devices/{id}/data", post(send_data_to_wireless_device))
        .route("/wireless-gateways", post(create_wireless_gateway).get(list_wireless_gateways))
        .route("/wireless-gateways/{id}", get(get_wireless_gateway).delete(delete_wireless_gateway))
        .route(
            "/log-levels",
            post(update_log_levels_by_resource_types)
                .get(get_log_levels_by_resource_types)
                .delete(reset_all_resource_log_levels),
        )
        .route(
            "/log-levels/{id}",
            get(get_resource_log_level).put(put_resource_log_level).delete(reset_resource_log_level),
        )
        .with_state(wireless)
        .layer(axum::middleware::map_response(validation_exception))
}

/// A body or query the shared extractors refuse is an InvalidRequestException there; the
/// iotwireless model names that error ValidationException (400).
async fn validation_exception(mut response: Response) -> Response {
    let header = response.headers().get("x-amzn-ErrorType");
    if header.is_some_and(|v| v.as_bytes() == b"InvalidRequestException") {
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", axum::http::HeaderValue::from_static("ValidationException"));
    }
    response
}

/// `maxResults` and `nextToken`, and the list filters.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
    destination_name: Option<String>,
    device_profile_id: Option<String>,
    service_profile_id: Option<String>,
}

fn listing(key: &str, items: Vec<Value>, next: Option<String>) -> Answer {
    let mut out = json!({ key: items });
    if let Some(token) = next {
        out["NextToken"] = json!(token);
    }
    ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateProfile {
    name: Option<String>,
    #[serde(rename = "LoRaWAN")]
    lorawan: Option<Value>,
    sidewalk: Option<Value>,
}

fn no_sidewalk(sidewalk: &Option<Value>) -> Result<(), ApiError> {
    if sidewalk.is_some() {
        return Err(
            WirelessError::Validation("Sidewalk is not supported: iotemu serves LoRaWAN".into()).into()
        );
    }
    Ok(())
}

async fn create_service_profile(
    State(w): Wl,
    ctx: ApiContext,
    AwsJson(body): AwsJson<CreateProfile>,
) -> Answer {
    let scope = ctx.scope();
    let p = blocking(move || Ok(w.create_service_profile(&scope, body.name, body.lorawan)?)).await?;
    created(json!({ "Arn": p.arn, "Id": p.id }))
}

async fn get_service_profile(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    ok(serde_json::to_value(w.get_service_profile(&ctx.scope(), &id)?).unwrap_or_default())
}

async fn list_service_profiles(State(w): Wl, ctx: ApiContext, q: AwsQuery<ListQuery>) -> Answer {
    let q = query(q)?;
    let (items, next) = w.list_service_profiles(&ctx.scope(), q.max_results, q.next_token.as_deref());
    let items = items.into_iter().map(|p| json!({ "Arn": p.arn, "Name": p.name, "Id": p.id })).collect();
    listing("ServiceProfileList", items, next)
}

async fn delete_service_profile(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.delete_service_profile(&scope, &id)?)).await?;
    no_content()
}

async fn create_device_profile(
    State(w): Wl,
    ctx: ApiContext,
    AwsJson(body): AwsJson<CreateProfile>,
) -> Answer {
    no_sidewalk(&body.sidewalk)?;
    let scope = ctx.scope();
    let p = blocking(move || Ok(w.create_device_profile(&scope, body.name, body.lorawan)?)).await?;
    created(json!({ "Arn": p.arn, "Id": p.id }))
}

async fn get_device_profile(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    ok(serde_json::to_value(w.get_device_profile(&ctx.scope(), &id)?).unwrap_or_default())
}

async fn list_device_profiles(State(w): Wl, ctx: ApiContext, q: AwsQuery<ListQuery>) -> Answer {
    let q = query(q)?;
    let (items, next) = w.list_device_profiles(&ctx.scope(), q.max_results, q.next_token.as_deref());
    let items = items.into_iter().map(|p| json!({ "Arn": p.arn, "Name": p.name, "Id": p.id })).collect();
    listing("DeviceProfileList", items, next)
}

async fn delete_device_profile(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.delete_device_profile(&scope, &id)?)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateDestination {
    name: Option<String>,
    expression_type: Option<ExpressionType>,
    expression: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
}

async fn create_destination(State(w): Wl, ctx: ApiContext, AwsJson(b): AwsJson<CreateDestination>) -> Answer {
    let scope = ctx.scope();
    let name = required(b.name, "Name")?;
    let kind = required(b.expression_type, "ExpressionType")?;
    let expression = required(b.expression, "Expression")?;
    let role_arn = required(b.role_arn, "RoleArn")?;
    let d = blocking(move || {
        Ok(w.create_destination(&scope, &name, kind, expression, b.description, role_arn)?)
    })
    .await?;
    created(json!({ "Arn": d.arn, "Name": d.name }))
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| WirelessError::Validation(format!("{member} is required")).into())
}

async fn get_destination(State(w): Wl, ctx: ApiContext, Path(name): Path<String>) -> Answer {
    ok(serde_json::to_value(w.get_destination(&ctx.scope(), &name)?).unwrap_or_default())
}

async fn list_destinations(State(w): Wl, ctx: ApiContext, q: AwsQuery<ListQuery>) -> Answer {
    let q = query(q)?;
    let (items, next) = w.list_destinations(&ctx.scope(), q.max_results, q.next_token.as_deref());
    let items = items.iter().map(|d| serde_json::to_value(d).unwrap_or_default()).collect();
    listing("DestinationList", items, next)
}

async fn update_destination(
    State(w): Wl,
    ctx: ApiContext,
    Path(name): Path<String>,
    AwsJson(b): AwsJson<CreateDestination>,
) -> Answer {
    let scope = ctx.scope();
    blocking(move || {
        Ok(w.update_destination(&scope, &name, b.expression_type, b.expression, b.description, b.role_arn)?)
    })
    .await?;
    no_content()
}

async fn delete_destination(State(w): Wl, ctx: ApiContext, Path(name): Path<String>) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.delete_destination(&scope, &name)?)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateDevice {
    #[serde(rename = "Type")]
    device_type: Option<String>,
    name: Option<String>,
    description: Option<String>,
    destination_name: Option<String>,
    #[serde(rename = "LoRaWAN")]
    lorawan: Option<LoRaWanDevice>,
}

async fn create_wireless_device(State(w): Wl, ctx: ApiContext, AwsJson(b): AwsJson<CreateDevice>) -> Answer {
    let scope = ctx.scope();
    let device_type = required(b.device_type, "Type")?;
    let destination = required(b.destination_name, "DestinationName")?;
    let d = blocking(move || {
        Ok(w.create_wireless_device(&scope, &device_type, b.name, b.description, destination, b.lorawan)?)
    })
    .await?;
    created(json!({ "Arn": d.arn, "Id": d.id }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentifierQuery {
    identifier_type: Option<String>,
}

async fn get_wireless_device(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<IdentifierQuery>,
) -> Answer {
    let kind = required(query(q)?.identifier_type, "identifierType")?;
    ok(serde_json::to_value(w.get_wireless_device(&ctx.scope(), &id, &kind)?).unwrap_or_default())
}

async fn list_wireless_devices(State(w): Wl, ctx: ApiContext, q: AwsQuery<ListQuery>) -> Answer {
    let q = query(q)?;
    let filter = DeviceFilter {
        destination_name: q.destination_name,
        device_profile_id: q.device_profile_id,
        service_profile_id: q.service_profile_id,
    };
    let (items, next) =
        w.list_wireless_devices(&ctx.scope(), &filter, q.max_results, q.next_token.as_deref());
    let items = items
        .into_iter()
        .map(|(d, last)| {
            let mut item = json!({
                "Arn": d.arn, "Id": d.id, "Type": d.device_type, "DestinationName": d.destination_name,
                "LoRaWAN": { "DevEui": d.dev_eui() },
            });
            if let Some(name) = d.name {
                item["Name"] = json!(name);
            }
            if let Some(last) = last {
                item["LastUplinkReceivedAt"] = json!(last);
            }
            item
        })
        .collect();
    listing("WirelessDeviceList", items, next)
}

async fn delete_wireless_device(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.delete_wireless_device(&scope, &id)?)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendData {
    transmit_mode: Option<u8>,
    payload_data: Option<String>,
    wireless_metadata: Option<Value>,
}

async fn send_data_to_wireless_device(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    AwsJson(b): AwsJson<SendData>,
) -> Answer {
    let scope = ctx.scope();
    let mode = required(b.transmit_mode, "TransmitMode")?;
    if mode > 1 {
        return Err(WirelessError::Validation("TransmitMode must be 0 or 1".into()).into());
    }
    let data = required(b.payload_data, "PayloadData")?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .map_err(|e| WirelessError::Validation(format!("PayloadData is not base64: {e}")))?;
    let fport =
        b.wireless_metadata.as_ref().and_then(|m| m.pointer("/LoRaWAN/FPort")).and_then(Value::as_u64);
    let fport = required(fport, "WirelessMetadata.LoRaWAN.FPort")?;
    let fport =
        u8::try_from(fport).map_err(|_| WirelessError::Validation("FPort must be 1 to 223".into()))?;
    let message_id =
        blocking(move || Ok(w.send_data_to_wireless_device(&scope, &id, payload, fport, mode == 1)?)).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "MessageId": message_id }))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGateway {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "LoRaWAN")]
    lorawan: Option<Value>,
}

async fn create_wireless_gateway(
    State(w): Wl,
    ctx: ApiContext,
    AwsJson(b): AwsJson<CreateGateway>,
) -> Answer {
    let scope = ctx.scope();
    let lorawan = required(b.lorawan.filter(Value::is_object), "LoRaWAN")?;
    let g = blocking(move || Ok(w.create_wireless_gateway(&scope, b.name, b.description, lorawan)?)).await?;
    created(json!({ "Arn": g.arn, "Id": g.id }))
}

async fn get_wireless_gateway(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<IdentifierQuery>,
) -> Answer {
    let kind = required(query(q)?.identifier_type, "identifierType")?;
    ok(serde_json::to_value(w.get_wireless_gateway(&ctx.scope(), &id, &kind)?).unwrap_or_default())
}

async fn list_wireless_gateways(State(w): Wl, ctx: ApiContext, q: AwsQuery<ListQuery>) -> Answer {
    let q = query(q)?;
    let (items, next) = w.list_wireless_gateways(&ctx.scope(), q.max_results, q.next_token.as_deref());
    let items = items.iter().map(|g| serde_json::to_value(g).unwrap_or_default()).collect();
    listing("WirelessGatewayList", items, next)
}

async fn delete_wireless_gateway(State(w): Wl, ctx: ApiContext, Path(id): Path<String>) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.delete_wireless_gateway(&scope, &id)?)).await?;
    no_content()
}

async fn update_log_levels_by_resource_types(
    State(w): Wl,
    ctx: ApiContext,
    AwsJson(b): AwsJson<LogLevelsUpdate>,
) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.update_log_levels_by_resource_types(&scope, b)?)).await?;
    ok(json!({}))
}

async fn get_log_levels_by_resource_types(State(w): Wl, ctx: ApiContext) -> Answer {
    ok(serde_json::to_value(w.get_log_levels_by_resource_types(&ctx.scope())).unwrap_or_default())
}

async fn reset_all_resource_log_levels(State(w): Wl, ctx: ApiContext) -> Answer {
    let scope = ctx.scope();
    blocking(move || Ok(w.reset_all_resource_log_levels(&scope)?)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceQuery {
    resource_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutLevel {
    log_level: Option<Level>,
}

async fn get_resource_log_level(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<ResourceQuery>,
) -> Answer {
    let kind = required(query(q)?.resource_type, "resourceType")?;
    let level = w.get_resource_log_level(&ctx.scope(), &id, &kind)?;
    ok(level.map_or_else(|| json!({}), |l| json!({ "LogLevel": l })))
}

async fn put_resource_log_level(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<ResourceQuery>,
    AwsJson(b): AwsJson<PutLevel>,
) -> Answer {
    let scope = ctx.scope();
    let kind = required(query(q)?.resource_type, "resourceType")?;
    let level = required(b.log_level, "LogLevel")?;
    blocking(move || Ok(w.put_resource_log_level(&scope, &id, &kind, level)?)).await?;
    ok(json!({}))
}

async fn reset_resource_log_level(
    State(w): Wl,
    ctx: ApiContext,
    Path(id): Path<String>,
    q: AwsQuery<ResourceQuery>,
) -> Answer {
    let scope = ctx.scope();
    let kind = required(query(q)?.resource_type, "resourceType")?;
    blocking(move || Ok(w.reset_resource_log_level(&scope, &id, &kind)?)).await?;
    no_content()
}
