//! The data plane on the wire: parse, call the operation ([`DataPlane`]), render. The query
//! members, headers and answers follow botocore's `iot-data` model (and `iot`'s for
//! DescribeEndpoint).

use crate::service::{DataPlane, PublishRequest};
use crate::state::{check_client_id, Endpoints, HTTP_CLIENT_ID};
use crate::DataPlaneError;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use iotemu_api::paging::with_next_token;
use iotemu_api::{ApiContext, ApiError, AwsQuery};
use iotemu_core::{ClientInfo, MessageProperties, Protocol};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The `iotdata` router (merge the shadow routes into it).
pub fn routes(state: Arc<DataPlane>) -> Router {
    Router::new()
        .route("/topics/{*topic}", post(publish))
        .route("/retainedMessage", get(list_retained_messages))
        .route("/retainedMessage/{*topic}", get(get_retained_message))
        .route("/connections/{*client_id}", delete(delete_connection))
        .with_state(state)
}

/// DescribeEndpoint's route, for the `iot` router.
pub fn endpoint_routes(endpoints: Endpoints) -> Router {
    Router::new().route("/endpoint", get(describe_endpoint)).with_state(endpoints)
}

/// The HTTP peer, when the listener records it (`into_make_service_with_connect_info`).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}

/// The identity an HTTP caller has in the broker's log entries (see the module's choices).
pub fn http_client(access_key: &str, peer: Option<SocketAddr>) -> Arc<ClientInfo> {
    let peer = peer.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    Arc::new(ClientInfo::new(Protocol::Http, HTTP_CLIENT_ID, access_key, peer))
}

/// The query of a request, or why it could not be read.
pub type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::invalid_request(e.body_text()))
}

/// A `true`/`false` query member (case-insensitive, as AWS's own examples write `TRUE`).
fn flag(params: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ApiError::invalid_request(format!("{name} must be true or false, not {v:?}"))),
    }
}

fn path_text(
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    path.map(|Path(p)| p).map_err(|e| ApiError::invalid_request(e.body_text()))
}

/// Publish: `POST /topics/{topic}`.
async fn publish(
    State(dp): State<Arc<DataPlane>>,
    ApiContext(scope): ApiContext,
    Peer(peer): Peer,
    topic: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Params,
    headers: HeaderMap,
    payload: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = publish_request(topic, query, &headers, payload)?;
    let client = http_client(&scope.access_key, peer);
    let trace_id = dp.publish(&client, request)?;
    Ok(published(trace_id))
}

/// The answer of a successful Publish.
pub fn published(trace_id: iotemu_core::TraceId) -> Json<Value> {
    Json(json!({ "message": "OK", "traceId": trace_id.to_string() }))
}

/// Publish's input from its request: the topic, `?qos=` (0 or 1), `?retain=`, the MQTT 5
/// properties and the payload.
pub fn publish_request(
    topic: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Params,
    headers: &HeaderMap,
    payload: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<PublishRequest, ApiError> {
    // A body over axum's own limit (2 MB) is refused as AWS refuses one over 128 KB.
    let payload = payload.map_err(|e| match e.status().as_u16() {
        413 => ApiError::from(DataPlaneError::TooLarge),
        _ => ApiError::invalid_request(e.body_text()),
    })?;
    let topic = path_text(topic)?;
    let params = params(query)?;
    let qos = match params.get("qos").map(String::as_str) {
        None | Some("0") => 0,
        Some("1") => 1,
        Some(other) => {
            return Err(ApiError::invalid_request(format!("qos must be 0 or 1, not {other:?}")));
        }
    };
    let retain = flag(&params, "retain")?;
    let properties = mqtt5_properties(&params, headers)?;
    Ok(PublishRequest { topic, payload, qos, retain, properties })
}

/// The MQTT 5 properties of a Publish: `contentType`, `responseTopic`, `messageExpiry` from the
/// query; user properties, payload format indicator and correlation data from headers.
fn mqtt5_properties(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<MessageProperties>, ApiError> {
    let header = |name: &str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| v.to_str().map_err(|_| ApiError::invalid_request(format!("{name} is not ASCII"))))
            .transpose()
    };
    let mut p = MessageProperties {
        content_type: params.get("contentType").cloned(),
        response_topic: params.get("responseTopic").cloned(),
        ..MessageProperties::default()
    };
    if p.response_topic.as_deref().is_some_and(|t| t.is_empty() || t.contains(['+', '#'])) {
        return Err(ApiError::invalid_request("responseTopic must be a topic name without wildcards"));
    }
    if let Some(expiry) = params.get("messageExpiry") {
        let seconds: u64 = expiry.parse().map_err(|_| {
            ApiError::invalid_request(format!("messageExpiry must be a number, not {expiry:?}"))
        })?;
        p.message_expiry_interval = Some(seconds.min(u64::from(u32::MAX)) as u32);
    }
    if let Some(indicator) = header("x-amz-mqtt5-payload-format-indicator")? {
        p.payload_format_indicator = Some(match indicator {
            "UNSPECIFIED_BYTES" => 0,
            "UTF8_DATA" => 1,
            other => {
                return Err(ApiError::invalid_request(format!(
                    "payloadFormatIndicator must be UNSPECIFIED_BYTES or UTF8_DATA, not {other:?}"
                )))
            }
        });
    }
    if let Some(data) = header("x-amz-mqtt5-correlation-data")? {
        let bytes = B64
            .decode(data)
            .map_err(|_| ApiError::invalid_request("correlationData must be base64-encoded"))?;
        p.correlation_data = Some(bytes.into());
    }
    if let Some(encoded) = header("x-amz-mqtt5-user-properties")? {
        p.user_properties = parse_user_properties(encoded)?;
    }
    Ok((p != MessageProperties::default()).then_some(p))
}

/// `x-amz-mqtt5-user-properties`: base64 of a JSON array of objects, `[{"name":"value"}, ...]`
/// (botocore encodes the JSON value; a JSON string holding that array is read too).
fn parse_user_properties(encoded: &str) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = || ApiError::invalid_request("userProperties must be a base64 JSON array of objects");
    let bytes = B64.decode(encoded).map_err(|_| invalid())?;
    let mut value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if let Value::String(text) = &value {
        value = serde_json::from_str(text).map_err(|_| invalid())?;
    }
    let Value::Array(items) = value else { return Err(invalid()) };
    let mut pairs = Vec::new();
    for item in items {
        let Value::Object(object) = item else { return Err(invalid()) };
        for (name, value) in object {
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            pairs.push((name, value));
        }
    }
    Ok(pairs)
}

/// The userProperties of a retained message: base64 of `[{"name":"value"}, ...]`.
fn encode_user_properties(pairs: &[(String, String)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let array: Vec<Value> = pairs.iter().map(|(k, v)| json!({ k.as_str(): v })).collect();
    Some(B64.encode(Value::Array(array).to_string()))
}

/// GetRetainedMessage: `GET /retainedMessage/{topic}`.
async fn get_retained_message(
    State(dp): State<Arc<DataPlane>>,
    topic: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let topic = path_text(topic)?;
    let message = dp.get_retained_message(&topic)?;
    let mut body = json!({
        "topic": &*message.topic,
        "payload": B64.encode(&message.payload),
        "qos": message.qos,
        "lastModifiedTime": message.last_modified,
    });
    if let Some(properties) = encode_user_properties(&message.user_properties) {
        body["userProperties"] = Value::String(properties);
    }
    Ok(Json(body))
}

/// ListRetainedMessages: `GET /retainedMessage?maxResults=&nextToken=` (the token is the last
/// topic of the previous page, base64).
async fn list_retained_messages(
    State(dp): State<Arc<DataPlane>>,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let params = params(query)?;
    let max = match params.get("maxResults") {
        None => 200,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(ApiError::invalid_request("maxResults must be between 1 and 200")),
        },
    };
    let after = match params.get("nextToken") {
        None => None,
        Some(token) => {
            let bytes = B64.decode(token).map_err(|_| ApiError::invalid_request("invalid nextToken"))?;
            Some(String::from_utf8(bytes).map_err(|_| ApiError::invalid_request("invalid nextToken"))?)
        }
    };
    let (page, next) = dp.list_retained_messages(after.as_deref(), max);
    let topics: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "topic": &*m.topic,
                "payloadSize": m.payload.len(),
                "qos": m.qos,
                "lastModifiedTime": m.last_modified,
            })
        })
        .collect();
    let body = json!({ "retainedTopics": topics });
    Ok(Json(with_next_token(body, next.map(|last| B64.encode(last.as_bytes())))))
}

/// DeleteConnection: `DELETE /connections/{clientId}?cleanSession=&preventWillMessage=`.
async fn delete_connection(
    State(dp): State<Arc<DataPlane>>,
    client_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Params,
) -> Result<(), ApiError> {
    let client_id = path_text(client_id)?;
    let params = params(query)?;
    check_client_id(&client_id)?;
    let clean_session = flag(&params, "cleanSession")?;
    let prevent_will = flag(&params, "preventWillMessage")?;
    dp.delete_connection(&client_id, clean_session, prevent_will)?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointQuery {
    endpoint_type: Option<String>,
}

/// DescribeEndpoint: `GET /endpoint?endpointType=`.
async fn describe_endpoint(
    State(endpoints): State<Endpoints>,
    q: AwsQuery<EndpointQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = iotemu_api::query(q)?;
    let address = endpoints.describe_endpoint(q.endpoint_type.as_deref())?;
    Ok(Json(json!({ "endpointAddress": address })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_properties_round_trip() {
        let encoded = B64.encode(r#"[{"deviceName":"alpha"},{"deviceCnt":"45"}]"#);
        let pairs = parse_user_properties(&encoded).unwrap();
        assert_eq!(pairs, vec![("deviceName".into(), "alpha".into()), ("deviceCnt".into(), "45".into())]);
        let back = encode_user_properties(&pairs).unwrap();
        assert_eq!(parse_user_properties(&back).unwrap(), pairs);
        // A JSON string holding the array, as a caller that dumps it twice sends it.
        let twice = B64.encode(serde_json::to_string(r#"[{"a":"b"}]"#).unwrap());
        assert_eq!(parse_user_properties(&twice).unwrap(), vec![("a".into(), "b".into())]);
        assert!(parse_user_properties("not base64!").is_err());
        assert!(encode_user_properties(&[]).is_none());
    }
}
