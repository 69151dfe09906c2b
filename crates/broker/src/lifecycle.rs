//! Lifecycle events (`life-cycle-events.md`): the broker's own messages on
//! `$aws/events/presence/connected|disconnected/{clientId}` and
//! `$aws/events/subscriptions/subscribed|unsubscribed/{clientId}`, always on, as on AWS.
//!
//! They are ordinary broker messages: every matching subscriber gets them (with its Publish-Out
//! entry and `iot:Receive` checked at delivery) and the rules engine sees them. Client ids
//! containing `#` or `+` get none (the page says so).
//!
//! `versionNumber` follows the page: one number per connection, shared by its connect and
//! disconnect events, growing for each new connection of the client id, and back to 0 once the
//! client id has been disconnected for about an hour ([`VERSION_RESET`]) with no persistent
//! session left.
//!
//! Choices where AWS is silent: the events are QoS 1 (as the just-in-time registration event);
//! their Publish-Out entries carry the traceId of the Connect, Disconnect or Subscribe entry that
//! caused them (the unsubscribed event a new one: UNSUBSCRIBE writes no entry); the rules engine
//! sees them published by a client with an empty client id and principal
//! `iotemu-lifecycle-events`; `sessionIdentifier` is a random 32-hex-digit id per session (the
//! connect example's shape), kept while a persistent session is resumed.

use crate::broker::Broker;
use crate::session::Message;
use bytes::Bytes;
use iotemu_core::IndexChange;
use iotemu_core::{ClientInfo, Protocol, TraceId};
use iotemu_logs::DisconnectReason;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a client id stays disconnected before its version number starts again at 0
/// ("approximately one hour", `life-cycle-events.md`).
pub(crate) const VERSION_RESET: Duration = Duration::from_secs(3600);

/// The version numbers of the client ids seen lately.
#[derive(Default)]
pub(crate) struct Versions {
    by_client: HashMap<Arc<str>, VersionState>,
}

struct VersionState {
    version: u64,
    /// Connections of the client id that have connected and not yet disconnected.
    live: u32,
    disconnected_at: Option<Instant>,
}

impl Versions {
    /// The version number of a new connection of `client_id`: one more than the last one,
    /// unless the client id has been away for [`VERSION_RESET`] and `session_kept` is false.
    pub fn connected(&mut self, client_id: &Arc<str>, session_kept: bool, now: Instant) -> u64 {
        let state = self.by_client.entry(client_id.clone()).or_insert(VersionState {
            version: 0,
            live: 0,
            disconnected_at: None,
        });
        let away_long = state.live == 0
            && state.disconnected_at.is_some_and(|at| now.duration_since(at) >= VERSION_RESET);
        let first = state.live == 0 && state.disconnected_at.is_none();
        state.version = if first || (away_long && !session_kept) { 0 } else { state.version + 1 };
        state.live += 1;
        state.disconnected_at = None;
        state.version
    }

    /// A connection of `client_id` ended.
    pub fn disconnected(&mut self, client_id: &str, now: Instant) {
        if let Some(state) = self.by_client.get_mut(client_id) {
            state.live = state.live.saturating_sub(1);
            if state.live == 0 {
                state.disconnected_at = Some(now);
            }
        }
    }

    /// Forgets client ids away for [`VERSION_RESET`] unless `has_session` says their persistent
    /// session still lives.
    pub fn sweep(&mut self, now: Instant, has_session: impl Fn(&str) -> bool) {
        self.by_client.retain(|id, s| {
            s.live > 0
                || s.disconnected_at.is_none_or(|at| now.duration_since(at) < VERSION_RESET)
                || has_session(id)
        });
    }
}

/// `$aws/events/presence/connected/{clientId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Connected<'a> {
    client_id: &'a str,
    timestamp: u64,
    event_type: &'static str,
    session_identifier: &'a str,
    principal_identifier: &'a str,
    ip_address: &'a str,
    version_number: u64,
}

/// `$aws/events/presence/disconnected/{clientId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Disconnected<'a> {
    client_id: &'a str,
    timestamp: u64,
    event_type: &'static str,
    session_identifier: &'a str,
    principal_identifier: &'a str,
    client_initiated_disconnect: bool,
    disconnect_reason: DisconnectReason,
    version_number: u64,
}

/// `$aws/events/subscriptions/subscribed|unsubscribed/{clientId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subscriptions<'a> {
    client_id: &'a str,
    timestamp: u64,
    event_type: &'static str,
    session_identifier: &'a str,
    principal_identifier: &'a str,
    topics: &'a [&'a str],
}

/// Who publishes lifecycle events, as the rules engine sees it.
fn events_source() -> &'static Arc<ClientInfo> {
    static SOURCE: OnceLock<Arc<ClientInfo>> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        Arc::new(ClientInfo::new(Protocol::Mqtt, "", "iotemu-lifecycle-events", unspecified))
    })
}

/// Whether `client_id` gets lifecycle events at all.
fn has_events(client_id: &str) -> bool {
    !client_id.contains(['#', '+'])
}

impl Broker {
    /// Publishes `$aws/events/presence/connected/{clientId}`.
    pub(crate) fn publish_connected(
        &self,
        client: &ClientInfo,
        session_id: &str,
        version: u64,
        trace: TraceId,
    ) {
        if let Some(index) = self.shared.index.get() {
            let timestamp = self.shared.logs.now_millis();
            index.changed(IndexChange::Connected { client_id: client.client_id.clone(), timestamp });
        }
        if !has_events(&client.client_id) {
            return;
        }
        let event = Connected {
            client_id: &client.client_id,
            timestamp: self.shared.logs.now_millis(),
            event_type: "connected",
            session_identifier: session_id,
            principal_identifier: &client.principal_id,
            ip_address: &client.source_ip,
            version_number: version,
        };
        self.publish_event(format!("$aws/events/presence/connected/{}", client.client_id), &event, trace);
    }

    /// Publishes `$aws/events/presence/disconnected/{clientId}`.
    pub(crate) fn publish_disconnected(
        &self,
        client: &ClientInfo,
        session_id: &str,
        version: u64,
        reason: DisconnectReason,
        trace: TraceId,
    ) {
        if let Some(index) = self.shared.index.get() {
            let timestamp = self.shared.logs.now_millis();
            let reason = serde_json::to_value(reason).ok().and_then(|v| v.as_str().map(str::to_string));
            let client_id = client.client_id.clone();
            index.changed(IndexChange::Disconnected {
                client_id,
                timestamp,
                reason: reason.unwrap_or_default(),
            });
        }
        if !has_events(&client.client_id) {
            return;
        }
        let event = Disconnected {
            client_id: &client.client_id,
            timestamp: self.shared.logs.now_millis(),
            event_type: "disconnected",
            session_identifier: session_id,
            principal_identifier: &client.principal_id,
            client_initiated_disconnect: reason == DisconnectReason::ClientInitiatedDisconnect,
            disconnect_reason: reason,
            version_number: version,
        };
        self.publish_event(format!("$aws/events/presence/disconnected/{}", client.client_id), &event, trace);
    }

    /// Publishes `$aws/events/subscriptions/subscribed/{clientId}` (or `unsubscribed`) for the
    /// filters of one SUBSCRIBE (or UNSUBSCRIBE).
    pub(crate) fn publish_subscriptions(
        &self,
        client: &ClientInfo,
        session_id: &str,
        subscribed: bool,
        topics: &[&str],
        trace: TraceId,
    ) {
        if topics.is_empty() || !has_events(&client.client_id) {
            return;
        }
        let kind = if subscribed { "subscribed" } else { "unsubscribed" };
        let event = Subscriptions {
            client_id: &client.client_id,
            timestamp: self.shared.logs.now_millis(),
            event_type: kind,
            session_identifier: session_id,
            principal_identifier: &client.principal_id,
            topics,
        };
        self.publish_event(format!("$aws/events/subscriptions/{kind}/{}", client.client_id), &event, trace);
    }

    /// Routes one event as a QoS 1 message to subscribers and the rules engine. The topic is the
    /// broker's own, so it is not checked against the client topic limits.
    fn publish_event(&self, topic: String, event: &impl Serialize, trace_id: TraceId) {
        let Ok(payload) = serde_json::to_vec(event) else { return };
        let topic: Arc<str> = topic.into();
        let message = Arc::new(Message {
            topic_bytes: Bytes::copy_from_slice(topic.as_bytes()),
            topic,
            payload: payload.into(),
            qos: 1,
            retain: false,
            properties: None,
            expires_at: None,
            origin: None,
            trace_id,
            rule_chain: Vec::new(),
        });
        self.store_and_route(events_source(), message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_per_connection_and_reset_after_an_hour_away() {
        let mut versions = Versions::default();
        let id: Arc<str> = "dev".into();
        let t0 = Instant::now();
        assert_eq!(versions.connected(&id, false, t0), 0);
        versions.disconnected(&id, t0);
        assert_eq!(versions.connected(&id, false, t0 + Duration::from_secs(5)), 1);
        // A takeover: the second connection is counted while the first is still live.
        assert_eq!(versions.connected(&id, false, t0 + Duration::from_secs(6)), 2);
        versions.disconnected(&id, t0 + Duration::from_secs(6));
        versions.disconnected(&id, t0 + Duration::from_secs(7));
        let later = t0 + Duration::from_secs(7) + VERSION_RESET;
        // A persistent session keeps the count; without one it starts again.
        assert_eq!(versions.connected(&id, true, later), 3);
        versions.disconnected(&id, later);
        assert_eq!(versions.connected(&id, false, later + VERSION_RESET), 0);
        versions.disconnected(&id, later + VERSION_RESET);
        versions.sweep(later + VERSION_RESET * 2, |_| true);
        assert_eq!(versions.by_client.len(), 1, "kept while its session lives");
        versions.sweep(later + VERSION_RESET * 2, |_| false);
        assert!(versions.by_client.is_empty());
    }

    #[test]
    fn payloads_have_aws_fields_in_aws_order() {
        let connected = Connected {
            client_id: "186b5",
            timestamp: 1573002230757,
            event_type: "connected",
            session_identifier: "a4666d2a7d844ae4ac5d7b38c9cb7967",
            principal_identifier: "12345678901234567890123456789012",
            ip_address: "192.0.2.0",
            version_number: 0,
        };
        assert_eq!(
            serde_json::to_string(&connected).unwrap(),
            r#"{"clientId":"186b5","timestamp":1573002230757,"eventType":"connected","sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967","principalIdentifier":"12345678901234567890123456789012","ipAddress":"192.0.2.0","versionNumber":0}"#
        );
        let disconnected = Disconnected {
            client_id: "186b5",
            timestamp: 1573002340451,
            event_type: "disconnected",
            session_identifier: "a4666d2a7d844ae4ac5d7b38c9cb7967",
            principal_identifier: "12345678901234567890123456789012",
            client_initiated_disconnect: true,
            disconnect_reason: DisconnectReason::ClientInitiatedDisconnect,
            version_number: 0,
        };
        assert_eq!(
            serde_json::to_string(&disconnected).unwrap(),
            r#"{"clientId":"186b5","timestamp":1573002340451,"eventType":"disconnected","sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967","principalIdentifier":"12345678901234567890123456789012","clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT","versionNumber":0}"#
        );
        let subscribed = Subscriptions {
            client_id: "186b5",
            timestamp: 1460065214626,
            event_type: "subscribed",
            session_identifier: "00000000-0000-0000-0000-000000000000",
            principal_identifier: "p",
            topics: &["foo/bar", "device/data", "dog/cat"],
        };
        assert_eq!(
            serde_json::to_string(&subscribed).unwrap(),
            r#"{"clientId":"186b5","timestamp":1460065214626,"eventType":"subscribed","sessionIdentifier":"00000000-0000-0000-0000-000000000000","principalIdentifier":"p","topics":["foo/bar","device/data","dog/cat"]}"#
        );
        assert!(!has_events("a+b") && !has_events("a#") && has_events("a/b"));
    }
}
