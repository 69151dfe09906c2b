//! `iot-data` (SigV4 service `iotdata`) operations that are not shadows: Publish,
//! GetRetainedMessage, ListRetainedMessages and DeleteConnection. Shapes, paths and errors follow
//! botocore's `iot-data` 2015-05-28 model; behaviour follows `http.md`, `mqtt.md` and
//! `docs/aws-behaviour.md` §8 (retained messages) and §9 (DeleteConnection).
//!
//! The broker is reached only through the `iotemu_core` seams ([`Publisher`], [`Connections`],
//! [`RetainedMessages`]). [`routes`] builds the `iotdata` router; the shadow HTTP routes merge
//! into it.
//!
//! Choices where AWS is not documented:
//! - An HTTP publish's Publish-In entry has `protocol` HTTP, `clientId` `n/a` (HTTPS has no
//!   client id, `http.md`; the rules SQL `clientid()` answers `n/a` for non-MQTT messages),
//!   `principalId` the caller's access key id (the emulator has no IAM principal ids), and the
//!   HTTP peer's address.
//! - Publish answers `{"message":"OK","traceId":...}` as AWS's HTTPS publish endpoint does.
//! - Topics starting with `$` outside `$aws/`, and the subscribe-only `$aws/events/...`, are
//!   refused with ForbiddenException (`reserved-topics.md`: "you can't create new topics that
//!   begin with a dollar sign"); a retained publish to a `$` topic is an InvalidRequestException
//!   (AWS does not retain on reserved topics, `docs/aws-behaviour.md` §8).
//! - ListRetainedMessages lists in topic order; its nextToken is opaque (the last topic,
//!   base64); maxResults defaults to 200, its maximum.
//! - The MQTT 5 DISCONNECT that DeleteConnection sends carries 0x98 (Administrative action).
//!
//! Limitations: GetRetainedMessage/ListRetainedMessage/DeleteConnection log entries are not
//! written (AWS's fields are unconfirmed); IAM policies are not evaluated.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use iotemu_api::{ApiContext, ApiError};
use iotemu_core::{
    ClientInfo, Connections, MessageProperties, OutboundMessage, Protocol, PublishRefused, Publisher,
    ReservedTopic, RetainedMessages, TraceId,
};
use iotemu_logs::{EventSink, LogEntry, LogLevel, PublishIn};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The client id AWS has no value for over HTTPS.
pub const HTTP_CLIENT_ID: &str = "n/a";

/// What the `iot-data` operations use.
pub struct DataPlane {
    pub publisher: Arc<dyn Publisher>,
    pub connections: Arc<dyn Connections>,
    pub retained: Arc<dyn RetainedMessages>,
    pub logs: EventSink,
}

impl DataPlane {
    /// A data plane over one broker (which implements every seam).
    pub fn new<B>(broker: B, logs: EventSink) -> Self
    where
        B: Publisher + Connections + RetainedMessages + Clone,
    {
        DataPlane {
            publisher: Arc::new(broker.clone()),
            connections: Arc::new(broker.clone()),
            retained: Arc::new(broker),
            logs,
        }
    }
}

/// The `iotdata` router (merge the shadow routes into it).
pub fn routes(state: Arc<DataPlane>) -> Router {
    Router::new()
        .route("/topics/{*topic}", post(publish))
        .route("/retainedMessage", get(list_retained_messages))
        .route("/retainedMessage/{*topic}", get(get_retained_message))
        .route("/connections/{*client_id}", delete(delete_connection))
        .with_state(state)
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

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

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
    // A body over axum's own limit (2 MB) is refused as AWS refuses one over 128 KB.
    let payload = payload.map_err(|e| match e.status().as_u16() {
        413 => too_large(),
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
    if topic.starts_with('$') {
        let reserved = ReservedTopic::parse(&topic);
        if matches!(reserved, None | Some(ReservedTopic::Events { .. })) {
            return Err(ApiError::new(
                403,
                "ForbiddenException",
                format!("publishing to the reserved topic {topic:?} is not allowed"),
            ));
        }
        if retain {
            return Err(ApiError::invalid_request("retained messages are not allowed on reserved topics"));
        }
    }
    let properties = mqtt5_properties(&params, &headers)?;
    let client = http_client(&scope.access_key, peer);
    let trace_id = TraceId::new();
    let message = OutboundMessage {
        topic: topic.as_str().into(),
        payload,
        qos,
        retain,
        properties,
        trace_id,
        rule_chain: Vec::new(),
    };
    let entry =
        || LogEntry::PublishIn(PublishIn { topic_name: topic.as_str().into(), client: client.clone() });
    // The Publish-In entry comes before the deliveries' Publish-Out entries, as over MQTT: the
    // broker's checks run first, then the entry, then the publish.
    if let Err(refused) = dp.publisher.check(&message) {
        if dp.logs.enabled(LogLevel::Error) {
            dp.logs.failure(trace_id, entry(), refused.reason(), refused.to_string());
        }
        return Err(refused_error(refused));
    }
    if dp.logs.enabled(LogLevel::Info) {
        dp.logs.success(trace_id, entry());
    }
    dp.publisher.publish(&client, message).map_err(refused_error)?;
    Ok(Json(json!({ "message": "OK", "traceId": trace_id.to_string() })))
}

/// How a broker refusal looks to an HTTP caller.
fn refused_error(refused: PublishRefused) -> ApiError {
    match refused {
        PublishRefused::PayloadTooLarge { .. } => too_large(),
        other => ApiError::invalid_request(other.to_string()),
    }
}

/// AWS's answer to a payload over the limit.
fn too_large() -> ApiError {
    ApiError::new(413, "RequestEntityTooLargeException", "The payload exceeds the maximum size allowed")
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
    let Some(message) = dp.retained.retained_message(&topic) else {
        return Err(ApiError::new(
            404,
            "ResourceNotFoundException",
            format!("No retained message found for topic {topic}"),
        ));
    };
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

/// ListRetainedMessages: `GET /retainedMessage?maxResults=&nextToken=`.
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
    let all = dp.retained.retained_messages();
    let start = after.map_or(0, |after| all.partition_point(|m| *m.topic <= *after));
    let page = &all[start..all.len().min(start + max)];
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
    let mut body = json!({ "retainedTopics": topics });
    if start + page.len() < all.len() {
        if let Some(last) = page.last() {
            body["nextToken"] = Value::String(B64.encode(last.topic.as_bytes()));
        }
    }
    Ok(Json(body))
}

/// DeleteConnection: `DELETE /connections/{clientId}?cleanSession=&preventWillMessage=`.
async fn delete_connection(
    State(dp): State<Arc<DataPlane>>,
    client_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Params,
) -> Result<(), ApiError> {
    let client_id = path_text(client_id)?;
    let params = params(query)?;
    if client_id.is_empty() || client_id.len() > 128 || client_id.starts_with('$') {
        return Err(ApiError::invalid_request(
            "clientId must be 1 to 128 characters and must not start with $",
        ));
    }
    let clean_session = flag(&params, "cleanSession")?;
    let prevent_will = flag(&params, "preventWillMessage")?;
    if !dp.connections.disconnect_client(&client_id, clean_session, prevent_will) {
        return Err(ApiError::new(
            404,
            "ResourceNotFoundException",
            format!("No connection or session found for client {client_id}"),
        ));
    }
    Ok(())
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
