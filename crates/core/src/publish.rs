//! The seams through which services and the HTTP data plane use the message broker without
//! importing it: [`Publisher`] to publish a message, [`Connections`] to disconnect a client,
//! [`RetainedMessages`] to read the retained store. The broker implements all three; the
//! `iotemu` crate wires them.

use crate::ClientInfo;
use crate::TraceId;
use bytes::Bytes;
use std::sync::Arc;

/// MQTT 5 message properties that travel with a message from publisher to subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<(String, String)>,
    pub content_type: Option<String>,
}

/// A message a service (or the HTTP data plane) hands to the broker.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub topic: Arc<str>,
    pub payload: Bytes,
    /// 0 or 1 (AWS has no QoS 2).
    pub qos: u8,
    pub retain: bool,
    pub properties: Option<MessageProperties>,
    /// Repeated by every Publish-Out entry of the message: the traceId of the request that
    /// caused it (the Publish-In of a shadow update, the HTTP Publish).
    pub trace_id: TraceId,
    /// The rules whose republish actions produced this message, oldest first; empty for every
    /// other message. The rules engine uses it to stop loops (see [`RulesFeed`]).
    pub rule_chain: Vec<Arc<str>>,
}

impl OutboundMessage {
    /// A QoS 0, not retained message without properties.
    pub fn new(topic: impl Into<Arc<str>>, payload: impl Into<Bytes>, trace_id: TraceId) -> Self {
        OutboundMessage {
            topic: topic.into(),
            payload: payload.into(),
            qos: 0,
            retain: false,
            properties: None,
            trace_id,
            rule_chain: Vec::new(),
        }
    }
}

/// Why the broker refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishRefused {
    /// The topic is not a valid topic name (empty, wildcard, over 256 bytes or 7 slashes, ...).
    InvalidTopic(String),
    /// The payload is over the broker's limit (AWS: 128 KB).
    PayloadTooLarge { size: usize, limit: usize },
    /// QoS other than 0 or 1.
    InvalidQos(u8),
}

impl PublishRefused {
    /// The `reason` of the Publish-In Failure entry, as the MQTT broker writes it.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishRefused::InvalidTopic(_) => "INVALID_TOPIC",
            PublishRefused::PayloadTooLarge { .. } => "PAYLOAD_LIMIT_EXCEEDED",
            PublishRefused::InvalidQos(_) => "QOS_NOT_SUPPORTED",
        }
    }
}

impl std::fmt::Display for PublishRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishRefused::InvalidTopic(why) => write!(f, "invalid topic: {why}"),
            PublishRefused::PayloadTooLarge { size, limit } => {
                write!(f, "the payload is {size} bytes; the maximum is {limit}")
            }
            PublishRefused::InvalidQos(q) => write!(f, "QoS {q} is not supported; use 0 or 1"),
        }
    }
}

impl std::error::Error for PublishRefused {}

/// Publishes through the broker as an ordinary message: retained store, then every matching
/// subscriber (one Publish-Out entry each, `iot:Receive` checked at delivery). Neither method
/// writes a Publish-In entry: the caller writes what its protocol logs.
pub trait Publisher: Send + Sync + 'static {
    /// Whether the broker would take `message` (topic name, payload size, QoS), so a caller can
    /// log its request before the deliveries' Publish-Out entries appear.
    fn check(&self, message: &OutboundMessage) -> Result<(), PublishRefused>;

    /// Accepts a message as if `source` had published it: a `$aws/...` topic goes to the
    /// reserved-topic services first (a shadow update sent over HTTP), then to subscribers.
    fn publish(&self, source: &Arc<ClientInfo>, message: OutboundMessage) -> Result<(), PublishRefused>;

    /// Delivers a service's own message (shadow `/accepted`, `/rejected`, `/delta`, ...) to
    /// subscribers only, never back to the reserved-topic services.
    fn deliver(&self, source: &Arc<ClientInfo>, message: OutboundMessage) -> Result<(), PublishRefused>;

    /// Delivers a service's answer to the one connected client `client_id`, whether or not it
    /// subscribed to the topic, and to nobody else (the Jobs MQTT API answers its requester so,
    /// `jobs-mqtt-api.md`). `iot:Receive` is still checked and the Publish-Out entry written at
    /// delivery. False when the client has no session to deliver to.
    fn deliver_to_client(&self, client_id: &str, message: OutboundMessage) -> Result<bool, PublishRefused>;
}

/// Disconnects clients (iot-data DeleteConnection).
pub trait Connections: Send + Sync + 'static {
    /// Disconnects `client_id` with `API_INITIATED_DISCONNECT`: an MQTT 5 client gets a
    /// DISCONNECT first; its will is sent unless `prevent_will`; `clean_session` ends its
    /// persistent session. False when the client is neither connected nor has a session.
    fn disconnect_client(&self, client_id: &str, clean_session: bool, prevent_will: bool) -> bool;

    /// The clients connected now, from the broker's own session table, sorted by client id
    /// (the console's state view, `GET /_iotemu/connections`).
    fn connected_clients(&self) -> Vec<ConnectedClient>;
}

/// One connected client, as the broker's session table knows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedClient {
    pub client_id: Arc<str>,
    /// The certificateId, a custom authorizer's principal, or `anonymous`.
    pub principal_id: Arc<str>,
    /// `MQTT` (over TCP, TLS or WebSockets).
    pub protocol: crate::Protocol,
    /// `3.1.1` or `5`.
    pub mqtt_version: &'static str,
    pub source_ip: Arc<str>,
    pub source_port: u16,
    /// When this connection attached, in epoch milliseconds.
    pub connected_since: u64,
    /// Whether the session outlives the connection (clean session false / a session expiry).
    pub persistent_session: bool,
    /// The topic filters it is subscribed to.
    pub subscriptions: usize,
}

/// One retained message, as iot-data GetRetainedMessage shows it.
#[derive(Debug, Clone)]
pub struct RetainedMessage {
    pub topic: Arc<str>,
    pub payload: Bytes,
    pub qos: u8,
    /// When it was stored, in epoch milliseconds.
    pub last_modified: u64,
    pub user_properties: Vec<(String, String)>,
}

/// Reads the broker's retained messages.
pub trait RetainedMessages: Send + Sync + 'static {
    /// The message retained on `topic`, unless there is none or it has expired.
    fn retained_message(&self, topic: &str) -> Option<RetainedMessage>;
    /// Every retained message, sorted by topic.
    fn retained_messages(&self) -> Vec<RetainedMessage>;
}

/// A message the broker has accepted and routed, as the rules engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct RoutedMessage<'a> {
    /// Who published it: a device, the HTTP data plane, or a service (shadow answers).
    pub source: &'a Arc<ClientInfo>,
    pub topic: &'a Arc<str>,
    pub payload: &'a Bytes,
    pub qos: u8,
    pub properties: Option<&'a MessageProperties>,
    /// The Publish-In traceId (or the request's, for a service's answer).
    pub trace_id: TraceId,
    /// See [`OutboundMessage::rule_chain`].
    pub rule_chain: &'a [Arc<str>],
}

/// The rules feed (`docs/architecture.md`, "The way of one publish"): the broker hands it every
/// message it routes (device publishes, `iot-data` Publish, service answers on reserved topics,
/// wills and republished messages), but not Basic Ingest messages, which the reserved-topic handler
/// consumes. Called on the broker's hot path: an implementation must only queue.
pub trait RulesFeed: Send + Sync + 'static {
    fn on_message(&self, message: &RoutedMessage<'_>);
}
