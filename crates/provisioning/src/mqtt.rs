//! The fleet provisioning MQTT API (`fleet-provision-api.md`), wire only: requests on
//! `$aws/certificates/create/{format}`, `$aws/certificates/create-from-csr/{format}` and
//! `$aws/provisioning-templates/{name}/provision/{format}` (core's [`ProvisioningTopic`]), in
//! JSON or CBOR as `format` says, answered in the same format on the request topic plus
//! `/accepted` or `/rejected` (`statusCode`, `errorCode`, `errorMessage`).
//!
//! The answers go to the requesting client only ([`iotemu_core::Publisher::deliver_to_client`]):
//! they carry a private key and an ownership token. `iot:Receive` is still checked at delivery,
//! as the broker checked `iot:Publish` on the request. The request itself is then routed like any
//! message, as shadow and jobs requests are. Requests are served off the connection's task (key
//! generation and a pre-provisioning hook take time); a topic with another format than `json` or
//! `cbor` is no request and is not answered.

use crate::device::DeviceCall;
use crate::error::Rejection;
use crate::Provisioning;
use bytes::Bytes;
use iotemu_core::Scope;
use iotemu_core::{OutboundMessage, ProvisioningOperation, ProvisioningTopic, RequestContext, TraceId};
use serde_json::{Map, Value};
use std::sync::Arc;

/// How deep a CBOR request may nest.
const CBOR_DEPTH: usize = 32;

/// A payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Cbor,
}

impl Format {
    fn of(text: &str) -> Format {
        if text == "cbor" {
            Format::Cbor
        } else {
            Format::Json
        }
    }
}

/// The request's object; an empty payload is `{}` (CreateKeysAndCertificate's request is empty).
pub fn decode(format: Format, payload: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Result<Value, String> = match format {
        Format::Json => serde_json::from_slice(payload).map_err(|e| e.to_string()),
        Format::Cbor => {
            ciborium::de::from_reader_with_recursion_limit(payload, CBOR_DEPTH).map_err(|e| e.to_string())
        }
    };
    match value {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::invalid_payload("The request payload must be an object")),
        Err(e) => {
            let name = if format == Format::Cbor { "CBOR" } else { "JSON" };
            Err(Rejection::invalid_payload(format!("The request payload is not valid {name}: {e}")))
        }
    }
}

/// An answer in `format`.
pub fn encode(format: Format, value: &Value) -> Vec<u8> {
    match format {
        Format::Json => value.to_string().into_bytes(),
        Format::Cbor => {
            let mut out = Vec::new();
            if let Err(e) = ciborium::ser::into_writer(value, &mut out) {
                tracing::warn!(error = %e, "a provisioning answer could not be encoded as CBOR");
            }
            out
        }
    }
}

/// Handles a publish on `$aws/{rest}` by `ctx`, in `scope`.
pub fn handle_publish(
    service: &Arc<Provisioning>,
    scope: &Scope,
    ctx: &RequestContext,
    rest: &str,
    payload: &Bytes,
) {
    let Some(topic) = ProvisioningTopic::parse(rest) else { return };
    if topic.accepted.is_some() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("a fleet provisioning request arrived outside the runtime");
        return;
    };
    let call = DeviceCall { scope: scope.clone(), client: ctx.client.clone(), trace_id: ctx.trace_id };
    let format = Format::of(topic.format);
    let template = match topic.operation {
        ProvisioningOperation::RegisterThing { template_name } => Some(template_name.to_string()),
        _ => None,
    };
    let operation = topic.operation;
    let is_csr = matches!(operation, ProvisioningOperation::CreateCertificateFromCsr);
    let request_topic = format!("$aws/{rest}");
    let (service, payload) = (service.clone(), payload.clone());
    runtime.spawn(async move {
        let result = match (decode(format, &payload), template) {
            (Err(rejection), Some(template)) => {
                service.log_provision(
                    call.trace_id,
                    Some(call.client.clone()),
                    &template,
                    "",
                    Err(&rejection),
                );
                Err(rejection)
            }
            (Err(rejection), None) => {
                service.log_credentials_refused(&call, &rejection);
                Err(rejection)
            }
            (Ok(request), Some(template)) => service.register_thing(&call, &template, &request).await,
            (Ok(request), None) => {
                let (service, call) = (service.clone(), call.clone());
                let work = move || {
                    if is_csr {
                        service.create_certificate_from_csr(&call, &request)
                    } else {
                        service.create_keys_and_certificate(&call)
                    }
                };
                tokio::task::spawn_blocking(work)
                    .await
                    .unwrap_or_else(|e| Err(Rejection::internal(format!("Internal error: {e}"))))
            }
        };
        let (suffix, answer) = match &result {
            Ok(answer) => ("accepted", answer.clone()),
            Err(rejection) => ("rejected", rejection.payload()),
        };
        let topic = format!("{request_topic}/{suffix}");
        answer_client(&service, &call.client.client_id, topic, encode(format, &answer), call.trace_id);
    });
}

/// Sends one answer to the requesting client alone.
fn answer_client(
    service: &Provisioning,
    client_id: &str,
    topic: String,
    payload: Vec<u8>,
    trace_id: TraceId,
) {
    let mut message = OutboundMessage::new(topic, payload, trace_id);
    message.qos = 1;
    match service.publisher.deliver_to_client(client_id, message) {
        Ok(true) => {}
        Ok(false) => tracing::debug!(client_id, "a provisioning answer found the requester gone"),
        Err(e) => tracing::warn!(error = %e, "a provisioning answer could not be delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_read_and_written_in_json_and_cbor() {
        let value = json!({"certificateOwnershipToken": "t", "parameters": {"SerialNumber": "1"}});
        for format in [Format::Json, Format::Cbor] {
            let bytes = encode(format, &value);
            assert_eq!(Value::Object(decode(format, &bytes).unwrap()), value);
        }
        assert_eq!(decode(Format::Cbor, b"").unwrap(), Map::new());
        assert_eq!(decode(Format::Json, b" ").unwrap(), Map::new());
        assert_eq!(decode(Format::Json, b"[1]").unwrap_err().error_code, "InvalidPayload");
        assert_eq!(decode(Format::Json, b"{").unwrap_err().status_code, 400);
        assert!(decode(Format::Cbor, b"{}").unwrap_err().message.contains("CBOR"));
        // 0x81 is a CBOR array of one: 10 000 of them nest far deeper than the limit.
        let deep = vec![0x81u8; 10_000];
        assert_eq!(decode(Format::Cbor, &deep).unwrap_err().error_code, "InvalidPayload");
    }
}
