//! The Jobs device MQTT API (`jobs-mqtt-api.md`): requests on `$aws/things/T/jobs/get`,
//! `jobs/start-next`, `jobs/<jobId>/get` (`$next` too) and `jobs/<jobId>/update`, answered on
//! the request topic plus `/accepted` or `/rejected` with `timestamp` (epoch seconds) and the
//! request's `clientToken`. The answers go to the requesting client only, whether or not it
//! subscribed ([`iotemu_core::Publisher::deliver_to_client`]); other clients never see them.
//! Any other topic under `jobs/` but the service's own (`notify`, `notify-next`, answers) is
//! refused with InvalidTopic (and writes no entry: no documented one fits). The request itself is then routed like any message (as shadow
//! requests are; AWS does not say otherwise).
//!
//! Wire only: [`parse_request`] and the answers; the operations are [`Jobs::device_request`].

use crate::device::service::{DeviceCall, DeviceOp, Refusal};
use crate::executions::state::{DeviceError, DeviceUpdate, DocumentForm, ExecutionStatus, RejectCode};
use crate::Jobs;
use iotemu_core::Scope;
use iotemu_core::{OutboundMessage, RequestContext, TraceId};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Whether `rest` (what follows `jobs/`) is a topic the service publishes itself.
fn is_service_topic(rest: &str) -> bool {
    rest == "notify" || rest == "notify-next" || rest.ends_with("/accepted") || rest.ends_with("/rejected")
}

/// The operation a request topic names, before its payload is read.
enum TopicOp<'a> {
    GetPending,
    StartNext,
    Describe(&'a str),
    Update(&'a str),
}

fn topic_op(rest: &str) -> Option<TopicOp<'_>> {
    match rest {
        "get" => Some(TopicOp::GetPending),
        "start-next" => Some(TopicOp::StartNext),
        _ => match rest.split_once('/') {
            Some((job, "get")) if !job.is_empty() => Some(TopicOp::Describe(job)),
            Some((job, "update")) if !job.is_empty() && job != "$next" => Some(TopicOp::Update(job)),
            _ => None,
        },
    }
}

/// The request's JSON object (an empty payload counts as `{}`).
pub fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, DeviceError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DeviceError::new(RejectCode::InvalidJson, "The request payload is not a valid JSON object")),
    }
}

/// `clientToken`, when it is a string.
pub fn client_token(request: &Map<String, Value>) -> Option<String> {
    request.get("clientToken").and_then(Value::as_str).map(str::to_string)
}

fn invalid(message: String) -> DeviceError {
    DeviceError::new(RejectCode::InvalidRequest, message)
}

fn integer(request: &Map<String, Value>, name: &str) -> Result<Option<i64>, DeviceError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| invalid(format!("{name} must be an integer")))
        }
        // The MQTT page types expectedVersion as "number" in quotes: accept a numeric string.
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| invalid(format!("{name} must be an integer")))
        }
        Some(_) => Err(invalid(format!("{name} must be an integer"))),
    }
}

fn boolean(request: &Map<String, Value>, name: &str) -> Result<Option<bool>, DeviceError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("{name} must be a boolean"))),
    }
}

/// The members of StartNextPendingJobExecution and UpdateJobExecution.
pub fn parse_update(request: &Map<String, Value>) -> Result<DeviceUpdate, DeviceError> {
    let status = match request.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            ExecutionStatus::parse(s).ok_or_else(|| invalid(format!("Invalid job execution status {s}")))?,
        ),
        Some(_) => return Err(invalid("status must be a string".into())),
    };
    let status_details = match request.get("statusDetails") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut details = BTreeMap::new();
            for (key, value) in map {
                let Value::String(value) = value else {
                    return Err(invalid(format!("statusDetails value of {key:?} must be a string")));
                };
                details.insert(key.clone(), value.clone());
            }
            Some(details)
        }
        Some(_) => return Err(invalid("statusDetails must be an object of strings".into())),
    };
    Ok(DeviceUpdate {
        status,
        status_details,
        expected_version: integer(request, "expectedVersion")?,
        execution_number: integer(request, "executionNumber")?,
        step_timeout_minutes: integer(request, "stepTimeoutInMinutes")?,
    })
}

/// The operation of the request on `rest` with `payload`.
fn parse_request(rest: &str, payload: &[u8]) -> Result<DeviceOp, DeviceError> {
    let op = topic_op(rest).ok_or_else(|| {
        DeviceError::new(RejectCode::InvalidTopic, "The topic does not name a Jobs operation")
    })?;
    let request = parse_object(payload)?;
    Ok(match op {
        TopicOp::GetPending => DeviceOp::GetPendingJobExecutions,
        TopicOp::StartNext => DeviceOp::StartNextPendingJobExecution(parse_update(&request)?),
        TopicOp::Describe(job) => DeviceOp::DescribeJobExecution {
            job_id: job.to_string(),
            execution_number: integer(&request, "executionNumber")?,
            include_document: boolean(&request, "includeJobDocument")?.unwrap_or(true),
        },
        TopicOp::Update(job) => DeviceOp::UpdateJobExecution {
            job_id: job.to_string(),
            update: parse_update(&request)?,
            include_state: boolean(&request, "includeJobExecutionState")?.unwrap_or(false),
            include_document: boolean(&request, "includeJobDocument")?.unwrap_or(false),
        },
    })
}

/// Handles a publish on `$aws/things/{thing}/jobs/{rest}` by client `ctx`, in `scope`.
pub fn handle_publish(
    jobs: &Jobs,
    scope: &Scope,
    ctx: &RequestContext,
    thing: &str,
    rest: &str,
    payload: &[u8],
) {
    if is_service_topic(rest) {
        return;
    }
    let topic = format!("$aws/things/{thing}/jobs/{rest}");
    let token = parse_object(payload).ok().as_ref().and_then(client_token);
    let call = DeviceCall {
        scope: scope.clone(),
        thing: thing.to_string(),
        client: ctx.client.clone(),
        client_id: ctx.client.client_id.clone(),
        topic: topic.clone(),
        client_token: token.clone(),
        trace_id: ctx.trace_id,
        form: DocumentForm::Object,
    };
    let now_secs = jobs.now() / 1000;
    let (answer_topic, payload, notices) = match parse_request(rest, payload) {
        Ok(op) => {
            let outcome = jobs.device_request(&call, &op);
            match outcome.result {
                Ok(mut accepted) => {
                    accepted["timestamp"] = json!(now_secs);
                    if let Some(token) = &token {
                        accepted["clientToken"] = json!(token);
                    }
                    (format!("{topic}/accepted"), accepted, outcome.notices)
                }
                Err(refusal) => {
                    (format!("{topic}/rejected"), refusal.payload(token.as_deref(), now_secs), Vec::new())
                }
            }
        }
        Err(error) => {
            // A request that cannot be read still gets its entry (an UpdateJobExecution of an
            // unreadable payload logs as one), and its `/rejected`. A topic that names no
            // operation has no documented entry to write: only its `/rejected`.
            let refusal = Refusal::from(error);
            if let Some(op) = fallback_op(rest) {
                jobs.log_refused(&call, &op, &refusal);
            }
            (format!("{topic}/rejected"), refusal.payload(token.as_deref(), now_secs), Vec::new())
        }
    };
    answer(jobs, &ctx.client.client_id, answer_topic, &payload, ctx.trace_id);
    jobs.publish(notices);
}

/// The operation a refused request is logged as; `None` for a topic that names none.
fn fallback_op(rest: &str) -> Option<DeviceOp> {
    Some(match topic_op(rest)? {
        TopicOp::GetPending => DeviceOp::GetPendingJobExecutions,
        TopicOp::StartNext => DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default()),
        TopicOp::Describe(job) => DeviceOp::DescribeJobExecution {
            job_id: job.to_string(),
            execution_number: None,
            include_document: false,
        },
        TopicOp::Update(job) => DeviceOp::UpdateJobExecution {
            job_id: job.to_string(),
            update: DeviceUpdate::default(),
            include_state: false,
            include_document: false,
        },
    })
}

/// Sends one answer to the requesting client alone.
fn answer(jobs: &Jobs, client_id: &str, topic: String, payload: &Value, trace_id: TraceId) {
    let mut message = OutboundMessage::new(topic, payload.to_string(), trace_id);
    message.qos = 1;
    if let Err(e) = jobs.publisher.deliver_to_client(client_id, message) {
        tracing::warn!(error = %e, "a jobs answer could not be delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_topics_map_to_operations() {
        assert!(matches!(parse_request("get", b""), Ok(DeviceOp::GetPendingJobExecutions)));
        assert!(matches!(parse_request("start-next", b"{}"), Ok(DeviceOp::StartNextPendingJobExecution(_))));
        match parse_request("$next/get", br#"{"includeJobDocument": false}"#) {
            Ok(DeviceOp::DescribeJobExecution { job_id, include_document, .. }) => {
                assert_eq!((job_id.as_str(), include_document), ("$next", false));
            }
            other => panic!("{other:?}"),
        }
        match parse_request("j1/update", br#"{"status": "IN_PROGRESS", "expectedVersion": "3"}"#) {
            Ok(DeviceOp::UpdateJobExecution { job_id, update, include_state, include_document }) => {
                assert_eq!(job_id, "j1");
                assert_eq!(update.status, Some(ExecutionStatus::InProgress));
                assert_eq!(update.expected_version, Some(3));
                assert!(!include_state && !include_document);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_request("j1/delete", b"{}").unwrap_err().code, RejectCode::InvalidTopic);
        assert_eq!(parse_request("$next/update", b"{}").unwrap_err().code, RejectCode::InvalidTopic);
        assert_eq!(parse_request("get", b"nope").unwrap_err().code, RejectCode::InvalidJson);
        assert_eq!(parse_request("get", b"[1]").unwrap_err().code, RejectCode::InvalidJson);
        let bad = parse_request("j/update", br#"{"status": "DONE"}"#).unwrap_err();
        assert_eq!(bad.code, RejectCode::InvalidRequest);
        let bad =
            parse_request("j/update", br#"{"status": "FAILED", "statusDetails": {"a": 1}}"#).unwrap_err();
        assert_eq!(bad.code, RejectCode::InvalidRequest);
        assert!(is_service_topic("notify-next") && is_service_topic("j/update/accepted"));
    }
}
