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
use std::cell::RefCell;
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
    let shared: Arc<str> = topic.as_str().into();
    let resources = vec![("RepublishTopic", topic)];
    let fail = |reason, details| Outcome {
        rule_action,
        resources: resources.clone(),
        error: Some((reason, details)),
    };
    if matches!(ReservedTopic::parse(&shared), Some(ReservedTopic::Jobs { .. })) {
        return fail(
            "RepublishFailed",
            format!("Republishing to reserved job topics is not supported: {shared}"),
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
        topic: shared.clone(),
        payload: payload.clone(),
        qos: r.qos,
        retain: false,
        properties,
        trace_id: message.trace_id,
        rule_chain,
    };
    match inner.services.publisher.publish(&republisher(&message.client), outbound) {
        Ok(()) => Outcome { rule_action, resources, error: None },
        Err(e) => fail("RepublishFailed", format!("Failed to republish to topic {shared}: {e}")),
    }
}

/// Publishers whose republished messages one thread last built a source for.
const REPUBLISHERS: usize = 32;

/// A thread's republish sources: (publisher, the same with client id `N/A`) pairs, and the slot
/// the next new publisher takes once they are full.
#[derive(Default)]
struct Sources {
    entries: Vec<(Arc<ClientInfo>, Arc<ClientInfo>)>,
    next: usize,
}

thread_local! {
    /// Each publisher's republish source is built once, not per message. The publisher's `Arc`
    /// is held, so its address is not reused while it is here.
    static SOURCES: RefCell<Sources> = RefCell::default();
}

/// The client a republished message comes from: the original publisher with the client id
/// `N/A` (see the engine's module doc).
fn republisher(client: &Arc<ClientInfo>) -> Arc<ClientInfo> {
    SOURCES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, source)) = cache.entries.iter().find(|(c, _)| Arc::ptr_eq(c, client)) {
            return source.clone();
        }
        let source = Arc::new(ClientInfo { client_id: "N/A".into(), ..ClientInfo::clone(client) });
        if cache.entries.len() < REPUBLISHERS {
            cache.entries.push((client.clone(), source.clone()));
        } else {
            let next = cache.next;
            cache.entries[next] = (client.clone(), source.clone());
            cache.next = (next + 1) % REPUBLISHERS;
        }
        source
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::Protocol;

    /// Each publisher's source is its own, with the client id `N/A`, built once per thread and
    /// still right once more publishers than the cache holds have come by.
    #[test]
    fn each_publisher_gets_its_own_na_source() {
        let client = |i: usize| {
            let peer = format!("127.0.0.1:{}", 1000 + i).parse().unwrap();
            Arc::new(ClientInfo::new(Protocol::Mqtt, format!("c{i}"), format!("p{i}"), peer))
        };
        let clients: Vec<_> = (0..REPUBLISHERS + 5).map(client).collect();
        for round in 0..2 {
            for (i, c) in clients.iter().enumerate() {
                let source = republisher(c);
                assert_eq!(&*source.client_id, "N/A");
                assert_eq!(&*source.principal_id, format!("p{i}"), "round {round}");
                assert_eq!(source.source_port, c.source_port);
            }
        }
        let first = &clients[REPUBLISHERS + 4];
        assert!(Arc::ptr_eq(&republisher(first), &republisher(first)), "built once");
    }
}
