//! iotemu's MQTT broker: AWS IoT Core's message broker, over MQTT 3.1.1 and 5, plain and mutual
//! TLS, writing the Connect, Disconnect, Publish-In, Publish-Out and Subscribe log entries.
//!
//! Follows `mqtt.md`, `topics.md` and `docs/aws-behaviour.md` (§1 QoS 2, §3
//! disconnect reasons, §8 retained messages, §9 takeover, §10 sessions).
//!
//! Layout: [`codec`] (wire, via rumqttc's mqttbytes), [`topic`] (names and filters),
//! [`router`] (subscription tree), [`session`] (session state, a connection's bounded backlog),
//! `broker` (shared state: routing, retained messages, session lifecycle, wills, reading back
//! the store), `persist` (what is written to the SQLite store, and when: retained messages and
//! persistent sessions survive restarts), `connection` (one task per client; what it sends in
//! `connection::outbound`), `listener` (accept loops, TLS handshakes), [`tls`]
//! (client-certificate verifier).
//!
//! Services and the HTTP data plane use the broker through `iotemu_core`'s `Publisher`,
//! `Connections` (DeleteConnection: API_INITIATED_DISCONNECT) and `RetainedMessages`, which
//! [`Broker`] implements.
//!
//! IoT policies are asked of a [`DeviceAuthorizer`] (`iot:Connect`, `Publish`, `RetainPublish`,
//! `Subscribe`, `Receive`) on the mutual-TLS port, and on the plain port when configured. A
//! client connecting through a custom authorizer (ALPN `mqtt`, some WebSockets) is asked about at
//! CONNECT of a [`CustomAuthenticator`], and the policies it returns are that connection's
//! (`connection::custom_auth`).
//!
//! [`CustomAuthenticator`]: iotemu_core::CustomAuthenticator
//!
//! Clients publish and subscribe on `$` topics only as `reserved-topics.md` allows
//! (`iotemu_core::client_may_publish` / `client_may_subscribe`, whatever the policies), and a
//! client of a port without policies cannot take over another principal's session.
//!
//! Limitations: queued messages are replayed at once rather than at AWS's 10 per second; AWS's
//! per-connection rate quotas are not enforced (only the backlog of a slow client is bounded);
//! `$aws/...` topics are routed like any other unless the [`ReservedTopicHandler`] consumes them.
//!
//! [`ReservedTopicHandler`]: iotemu_core::ReservedTopicHandler
//! [`DeviceAuthorizer`]: iotemu_core::DeviceAuthorizer

mod broker;
pub mod codec;
mod connection;
pub mod device_port;
mod lifecycle;
mod listener;
mod persist;
pub mod router;
pub mod session;
pub mod tls;
pub mod topic;
mod violation;

pub use broker::Broker;
pub use connection::{Auth, CustomAuthContext, Lifetime};
pub use device_port::{serve_device_port, HttpsConnection};
pub use listener::{serve_plain, serve_tls};

use std::time::Duration;

/// AWS IoT's message-broker limits (AWS IoT Core quotas), each configurable (the `[limits]`
/// section of the configuration deserializes straight into this).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Client id length in bytes (AWS: 128).
    pub client_id_bytes: usize,
    /// Topic name and filter length in bytes (AWS: 256).
    pub topic_bytes: usize,
    /// Forward slashes in a topic name or filter (AWS: 7).
    pub topic_slashes: usize,
    /// PUBLISH payload in bytes (AWS: 128 KB).
    pub payload_bytes: usize,
    /// Topic filters in one SUBSCRIBE (AWS: 8).
    pub filters_per_subscribe: usize,
    /// Subscriptions per connection (AWS: 50).
    pub subscriptions_per_connection: usize,
    /// Unacknowledged outbound QoS 1 messages per client (AWS: 100).
    pub inflight_qos1: usize,
    /// Longest keep alive the broker accepts, in seconds (AWS: 1200); longer or zero is cut to it.
    pub max_keepalive_secs: u16,
    /// Messages waiting for one live connection (a client that reads too slowly); a message
    /// that finds it full is dropped for that client, with a Publish-Out Failure. Default: 100
    /// seconds of AWS's 100 publishes per second per connection. (AWS IoT Core's quotas: 100
    /// publishes and 512 KB per second per connection; the AWS IoT Device SDK's
    /// `AwsIotCoreDefaults` flow control throttles a client to the same figures. AWS throttles
    /// what exceeds them, `PublishOut.Throttle` in `metrics_dimensions.md`; iotemu does not
    /// enforce the rates, only bounds what a slow client leaves waiting.)
    pub connection_queue: usize,
    /// The same backlog in bytes (topics and payloads). Default: 100 seconds of AWS's
    /// 512 KB/s throughput per connection.
    pub connection_queue_bytes: usize,
    /// QoS 1 messages kept for an offline persistent session; excess ones are dropped (`mqtt.md`).
    pub offline_queue: usize,
    /// MQTT 5 topic aliases a client may use (AWS: 8).
    pub topic_alias_max: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            client_id_bytes: 128,
            topic_bytes: 256,
            topic_slashes: 7,
            payload_bytes: 128 * 1024,
            filters_per_subscribe: 8,
            subscriptions_per_connection: 50,
            inflight_qos1: 100,
            max_keepalive_secs: 1200,
            connection_queue: 10_000,
            connection_queue_bytes: 100 * 512 * 1024,
            offline_queue: 1_000,
            topic_alias_max: 8,
        }
    }
}

/// How the broker behaves.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub limits: Limits,
    /// Persistent session expiry for MQTT 3.1.1 and the cap for MQTT 5 (AWS: 1 h, up to 7 days).
    pub session_expiry: Duration,
    /// How long a new connection may take to send CONNECT (and finish TLS).
    pub connect_timeout: Duration,
    /// Whether IoT policies also apply on the plain port (principal `anonymous`); they always
    /// apply over mutual TLS.
    pub enforce_on_plain: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            limits: Limits::default(),
            session_expiry: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
            enforce_on_plain: false,
        }
    }
}
