//! The `republish` action (`republish-rule-action.md`): the SELECT's output to a topic template
//! (`$$aws/...` for a reserved topic), with its QoS and MQTT 5 headers, from the client id `N/A`
//! and with the message's traceId and rule chain; jobs topics are refused as on AWS.

use super::run::Outcome;
use crate::actions::{Republish, RepublishHeaders};
use crate::engine::{Incoming, Inner};
use crate::sql::{Environment, Message, Template};
use crate::topic_rules::CachedRule;
use base64::Engine as _;
use bytes::Bytes;
use iotemu_core::{ClientInfo, MessageProperties, OutboundMessage, ReservedTopic};
use std::sync::Arc;

pub(crate) fn republish(
    inner: &Inner,
    rule: &CachedRule,
    r: &Republish,
    sql: &Message,
    env: &dyn Environment,
    message: &Incoming,
    payload: &Bytes,
) -> Outcome {
    let rule_action = "RepublishAction";
    let topic = match r.topic.render(sql, env) {
        Ok(t) => t,
        Err(e) => return Outcome::template_failed(rule_action, "republish topic", e),
    };
    // `$$aws/...` in the action is the reserved topic `$aws/...`.
    let topic = topic.strip_prefix('$').filter(|t| t.starts_with('$')).map(str::to_owned).unwrap_or(topic);
    let resources = vec![("RepublishTopic", topic.clone())];
    let fail = |reason, details| Outcome {
        rule_action,
        resources: resources.clone(),
        error: Some((reason, details)),
    };
    if matches!(ReservedTopic::parse(&topic), Some(ReservedTopic::Jobs { .. })) {
        return fail(
            "RepublishFailed",
            format!("Republishing to reserved job topics is not supported: {topic}"),
        );
    }
    let properties = match &r.headers {
        None => None,
        Some(h) => match republish_properties(h, sql, env) {
            Ok(p) => Some(p),
            Err(e) => return fail("TemplateError", e),
        },
    };
    let mut rule_chain = Vec::with_capacity(message.rule_chain.len() + 1);
    rule_chain.extend_from_slice(&message.rule_chain);
    rule_chain.push(rule.name.clone());
    let outbound = OutboundMessage {
        topic: topic.as_str().into(),
        payload: payload.clone(),
        qos: r.qos,
        retain: false,
        properties,
        trace_id: message.trace_id,
        rule_chain,
    };
    let source = Arc::new(ClientInfo { client_id: "N/A".into(), ..ClientInfo::clone(&message.client) });
    match inner.services.publisher.publish(&source, outbound) {
        Ok(()) => Outcome { rule_action, resources, error: None },
        Err(e) => fail("RepublishFailed", format!("Failed to republish to topic {topic}: {e}")),
    }
}

fn republish_properties(
    h: &RepublishHeaders,
    sql: &Message,
    env: &dyn Environment,
) -> Result<MessageProperties, String> {
    let render = |t: &Option<Template>| -> Result<Option<String>, String> {
        t.as_ref()
            .map(|t| t.render(sql, env).map_err(|e| format!("A republish header template failed: {e}")))
            .transpose()
    };
    let payload_format_indicator = match render(&h.payload_format_indicator)?.as_deref() {
        None => None,
        Some("UTF-8_DATA") => Some(1),
        Some("UNSPECIFIED_BYTES") => Some(0),
        Some(other) => {
            return Err(format!("payloadFormatIndicator {other:?} is not UTF-8_DATA or UNSPECIFIED_BYTES"))
        }
    };
    let correlation_data = match render(&h.correlation_data)? {
        None => None,
        Some(text) => Some(Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| format!("correlationData is not base64: {e}"))?,
        )),
    };
    let message_expiry_interval = match render(&h.message_expiry)? {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .map_err(|_| format!("messageExpiry {text:?} is not a number of seconds"))?,
        ),
    };
    let mut user_properties = Vec::new();
    for (k, v) in &h.user_properties {
        user_properties.push((
            k.clone(),
            v.render(sql, env).map_err(|e| format!("A user property template failed: {e}"))?,
        ));
    }
    Ok(MessageProperties {
        payload_format_indicator,
        message_expiry_interval,
        response_topic: render(&h.response_topic)?,
        correlation_data,
        user_properties,
        content_type: render(&h.content_type)?,
    })
}
