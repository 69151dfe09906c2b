//! The `logs` API on the wire: JSON 1.1 (`POST /`, `X-Amz-Target: Logs_20140328.<Operation>`),
//! answers `application/x-amz-json-1.1`, errors `{"__type", "message"}` with the status and the
//! `x-amzn-ErrorType` header. Store calls run on the blocking pool: a filter over many events
//! must not hold up the runtime.

use crate::service::{group_name, FilterInput, FilterOutput, Logs, RejectedEvents, StreamListing};
use crate::store::{Group, Stream};
use crate::LogsError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use iotemu_api::paging::with_next_token;
use iotemu_api::ApiContext;
use iotemu_core::{Scope, ServiceError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

const TARGET_PREFIX: &str = "Logs_20140328.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The router of the `logs` service.
pub fn routes(logs: Arc<Logs>) -> Router {
    // PutLogEvents carries up to 1 MiB of events (CloudWatch's quota, checked by the operation);
    // the body limit leaves room for the JSON around them.
    Router::new()
        .route("/", post(handle))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(logs)
}

async fn handle(State(logs): State<Arc<Logs>>, ctx: ApiContext, headers: HeaderMap, body: Bytes) -> Response {
    let scope = ctx.scope();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let answer = tokio::task::spawn_blocking(move || call(&logs, &scope, &target, &body)).await;
    match answer {
        Ok(Ok(body)) => reply(StatusCode::OK, body, None),
        Ok(Err(e)) => error(&e),
        Err(e) => error(&LogsError::ServiceUnavailable(e.to_string())),
    }
}

fn reply(status: StatusCode, body: String, error_type: Option<&'static str>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Some(t) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(t));
    }
    response
}

fn error(e: &LogsError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = json!({ "__type": e.error_type(), "message": e.to_string() });
    if let LogsError::MalformedQuery(q) = e {
        body["queryCompileError"] = json!({
            "location": { "startCharOffset": q.start, "endCharOffset": q.end },
            "message": q.message,
        });
    }
    reply(status, body.to_string(), Some(e.error_type()))
}

/// The input of an operation; a missing required member or a wrong type is an
/// InvalidParameterException naming it.
fn input<T: DeserializeOwned>(body: &Value) -> Result<T, LogsError> {
    serde_json::from_value(body.clone())
        .map_err(|e| LogsError::InvalidParameter(format!("Invalid request: {e}")))
}

/// The answer's body: FilterLogEvents' pages (up to 10,000 events) are written straight into it;
/// every other operation builds a [`Value`] first.
fn call(logs: &Logs, scope: &Scope, target: &str, body: &[u8]) -> Result<String, LogsError> {
    let operation = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        LogsError::UnknownOperation(format!("X-Amz-Target {target:?} is not a CloudWatch Logs operation"))
    })?;
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| LogsError::Serialization(format!("The request body is not JSON: {e}")))?
    };
    if operation == "FilterLogEvents" {
        return filter_log_events(logs, scope, input(&body)?);
    }
    call_value(logs, scope, operation, &body).map(|value| value.to_string())
}

fn call_value(logs: &Logs, scope: &Scope, operation: &str, body: &Value) -> Result<Value, LogsError> {
    match operation {
        "DescribeLogGroups" => describe_log_groups(logs, scope, input(body)?),
        "DescribeLogStreams" => describe_log_streams(logs, scope, input(body)?),
        "GetLogEvents" => get_log_events(logs, scope, input(body)?),
        "CreateLogGroup" => {
            let req: GroupRequest = input(body)?;
            logs.create_log_group(scope, &req.log_group_name)?;
            Ok(json!({}))
        }
        "DeleteLogGroup" => {
            let req: GroupRequest = input(body)?;
            logs.delete_log_group(scope, &req.log_group_name)?;
            Ok(json!({}))
        }
        "CreateLogStream" => {
            let req: StreamRequest = input(body)?;
            logs.create_log_stream(scope, &req.log_group_name, &req.log_stream_name)?;
            Ok(json!({}))
        }
        "DeleteLogStream" => {
            let req: StreamRequest = input(body)?;
            logs.delete_log_stream(scope, &req.log_group_name, &req.log_stream_name)?;
            Ok(json!({}))
        }
        "PutLogEvents" => put_log_events(logs, scope, input(body)?),
        "PutRetentionPolicy" => {
            let req: RetentionRequest = input(body)?;
            logs.put_retention_policy(scope, &req.log_group_name, req.retention_in_days)?;
            Ok(json!({}))
        }
        "DeleteRetentionPolicy" => {
            let req: GroupRequest = input(body)?;
            logs.delete_retention_policy(scope, &req.log_group_name)?;
            Ok(json!({}))
        }
        "StartQuery" => crate::insights_http::start_query(logs, scope, input(body)?),
        "GetQueryResults" => crate::insights_http::get_query_results(logs, scope, input(body)?),
        "StopQuery" => crate::insights_http::stop_query(logs, scope, input(body)?),
        "DescribeQueries" => crate::insights_http::describe_queries(logs, scope, input(body)?),
        other => Err(LogsError::UnknownOperation(format!("iotemu does not implement logs:{other}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    log_group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRequest {
    log_group_name: String,
    log_stream_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetentionRequest {
    log_group_name: String,
    retention_in_days: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeGroupsRequest {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn group_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:logs:{}:{}:log-group:{name}", scope.region, scope.account)
}

fn describe_log_groups(logs: &Logs, scope: &Scope, req: DescribeGroupsRequest) -> Result<Value, LogsError> {
    let (groups, next) = logs.describe_log_groups(
        scope,
        req.log_group_name_prefix.as_deref(),
        req.log_group_name_pattern.as_deref(),
        req.next_token.as_deref(),
        req.limit,
    )?;
    let groups: Vec<Value> = groups.iter().map(|g| group_json(scope, g)).collect();
    Ok(with_next_token(json!({ "logGroups": groups }), next))
}

/// botocore `LogGroup`.
fn group_json(scope: &Scope, g: &Group) -> Value {
    let arn = group_arn(scope, &g.name);
    let mut v = json!({
        "logGroupName": g.name,
        "creationTime": g.created,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "logGroupArn": arn,
        "storedBytes": g.stored_bytes,
        "logGroupClass": "STANDARD",
    });
    if let Some(days) = g.retention_days {
        v["retentionInDays"] = json!(days);
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeStreamsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<usize>,
}

fn describe_log_streams(logs: &Logs, scope: &Scope, req: DescribeStreamsRequest) -> Result<Value, LogsError> {
    let group = group_name(req.log_group_name, req.log_group_identifier)?;
    let by_last_event = match req.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(LogsError::InvalidParameter(format!(
                "orderBy must be LogStreamName or LastEventTime, not {other:?}"
            )))
        }
    };
    let listing = StreamListing {
        prefix: req.log_stream_name_prefix,
        by_last_event,
        descending: req.descending,
        next_token: req.next_token,
        limit: req.limit,
    };
    let (streams, next) = logs.describe_log_streams(scope, &group, &listing)?;
    let arn = group_arn(scope, &group);
    let streams: Vec<Value> = streams.iter().map(|s| stream_json(&arn, s)).collect();
    Ok(with_next_token(json!({ "logStreams": streams }), next))
}

/// botocore `LogStream`.
fn stream_json(group_arn: &str, s: &Stream) -> Value {
    let mut v = json!({
        "logStreamName": s.name,
        "creationTime": s.created,
        "arn": format!("{group_arn}:log-stream:{}", s.name),
        "storedBytes": s.stored_bytes,
    });
    for (key, value) in [
        ("firstEventTimestamp", s.first_event),
        ("lastEventTimestamp", s.last_event),
        ("lastIngestionTime", s.last_ingestion),
    ] {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    start_from_head: bool,
}

fn get_log_events(logs: &Logs, scope: &Scope, req: GetEventsRequest) -> Result<Value, LogsError> {
    let group = group_name(req.log_group_name, req.log_group_identifier)?;
    let out = logs.get_log_events(
        scope,
        &group,
        &req.log_stream_name,
        (req.start_time, req.end_time),
        req.next_token.as_deref(),
        req.limit,
        req.start_from_head,
    )?;
    let events: Vec<Value> = out
        .events
        .iter()
        .map(|e| json!({ "timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion }))
        .collect();
    Ok(json!({ "events": events, "nextForwardToken": out.forward, "nextBackwardToken": out.backward }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<usize>,
    /// Deprecated by AWS (results are always interleaved); accepted and ignored.
    #[allow(dead_code)]
    interleaved: Option<bool>,
}

fn filter_log_events(logs: &Logs, scope: &Scope, req: FilterRequest) -> Result<String, LogsError> {
    let input = FilterInput {
        group: group_name(req.log_group_name, req.log_group_identifier)?,
        stream_names: req.log_stream_names,
        stream_prefix: req.log_stream_name_prefix,
        start: req.start_time,
        end: req.end_time,
        pattern: req.filter_pattern,
        next_token: req.next_token,
        limit: req.limit,
    };
    filter_body(&logs.filter_log_events(scope, input)?)
}

/// FilterLogEvents' answer (botocore `FilterLogEventsResponse`; AWS's API reference,
/// `API_FilterLogEvents.html`), serialized from the events as they are: building a [`Value`]
/// copy of each message first, then the text, took a third of a 200-event answer's time.
fn filter_body(out: &FilterOutput) -> Result<String, LogsError> {
    let answer = FilterAnswer {
        events: out
            .events
            .iter()
            .map(|e| FilteredEvent {
                log_stream_name: &e.stream,
                timestamp: e.timestamp,
                message: &e.message,
                ingestion_time: e.ingestion,
                event_id: EventId(e.id),
            })
            .collect(),
        searched_log_streams: out
            .searched
            .iter()
            .map(|s| SearchedStream { log_stream_name: s, searched_completely: true })
            .collect(),
        next_token: out.next_token.as_deref(),
    };
    // Each message is escaped into a JSON string (its quotes grow it): room for that, and for the
    // members around it, so that the buffer is not copied as it grows.
    let room: usize = out.events.iter().map(|e| e.message.len() * 5 / 4 + e.stream.len() + 120).sum();
    let mut buffer = Vec::with_capacity(room + 64 * out.searched.len() + 128);
    serde_json::to_writer(&mut buffer, &answer).map_err(|e| LogsError::ServiceUnavailable(e.to_string()))?;
    String::from_utf8(buffer).map_err(|e| LogsError::ServiceUnavailable(e.to_string()))
}

/// botocore `FilterLogEventsResponse`; members in the order serde_json's map gives them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FilterAnswer<'a> {
    events: Vec<FilteredEvent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
    searched_log_streams: Vec<SearchedStream<'a>>,
}

/// botocore `FilteredLogEvent`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FilteredEvent<'a> {
    event_id: EventId,
    ingestion_time: i64,
    log_stream_name: &'a str,
    message: &'a str,
    timestamp: i64,
}

/// botocore `SearchedLogStream`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchedStream<'a> {
    log_stream_name: &'a str,
    searched_completely: bool,
}

/// An event's id as `eventId`: 20 digits, zero-padded.
struct EventId(i64);

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:020}", self.0))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutEventsRequest {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputEvent>,
}

#[derive(Deserialize)]
struct InputEvent {
    timestamp: i64,
    message: String,
}

fn put_log_events(logs: &Logs, scope: &Scope, req: PutEventsRequest) -> Result<Value, LogsError> {
    let events = req.log_events.into_iter().map(|e| (e.timestamp, e.message)).collect();
    let rejected = logs.put_log_events(scope, &req.log_group_name, &req.log_stream_name, events)?;
    let mut body = json!({ "nextSequenceToken": format!("{:056}", logs.now_ms()) });
    if rejected != RejectedEvents::default() {
        let mut info = json!({});
        if let Some(i) = rejected.too_new_start {
            info["tooNewLogEventStartIndex"] = json!(i);
        }
        if let Some(i) = rejected.too_old_end {
            info["tooOldLogEventEndIndex"] = json!(i);
        }
        if let Some(i) = rejected.expired_end {
            info["expiredLogEventEndIndex"] = json!(i);
        }
        body["rejectedLogEventsInfo"] = info;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Event;

    /// The answer as it was built before it was serialized directly: a `Value` per event.
    fn as_values(out: &FilterOutput) -> Value {
        let events: Vec<Value> = out
            .events
            .iter()
            .map(|e| {
                json!({
                    "logStreamName": e.stream,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion,
                    "eventId": format!("{:020}", e.id),
                })
            })
            .collect();
        let searched: Vec<Value> =
            out.searched.iter().map(|s| json!({ "logStreamName": s, "searchedCompletely": true })).collect();
        with_next_token(json!({ "events": events, "searchedLogStreams": searched }), out.next_token.clone())
    }

    #[test]
    fn the_filter_answer_is_the_same_text_as_its_value() {
        let event = |id: i64, message: &str| Event {
            id,
            stream: "iotemu/2026-01-01".into(),
            timestamp: 1_767_225_600_000 + id,
            ingestion: 1_767_225_600_500,
            message: message.into(),
        };
        let events = vec![
            event(1, r#"{"clientId":"dev-7","eventType":"Publish-In","topicName":"room/\"1\""}"#),
            event(12_345, "plain text with \\ backslash, tab\t, ünïcödé and \u{1} control"),
        ];
        for (events, next_token) in
            [(events.clone(), None), (events, Some("1767225612345/12345".to_string())), (vec![], None)]
        {
            let out = FilterOutput { events, searched: vec!["a".into(), "b/c".into()], next_token };
            let body = filter_body(&out).unwrap();
            assert_eq!(body, as_values(&out).to_string());
        }
    }
}
