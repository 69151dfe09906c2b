//! Who is making a request, over which protocol, and the trace id that ties its log entries.

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// The protocol of a request, as the log entries' `protocol` attribute spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    #[serde(rename = "MQTT")]
    Mqtt,
    #[serde(rename = "HTTP")]
    Http,
}

/// A lower-case UUID that ties the log entries of one event together (`traceId`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(uuid::Uuid);

impl TraceId {
    /// A fresh random trace id.
    pub fn new() -> Self {
        TraceId(uuid::Uuid::new_v4())
    }
}

impl std::str::FromStr for TraceId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(TraceId).map_err(|e| format!("invalid trace id {s:?}: {e}"))
    }
}

impl Default for TraceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uuid`'s Display is the hyphenated lower-case form the log entries use.
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The identity of a connected client, as every message-broker log entry repeats it.
/// Built once per connection and shared (`Arc`) by every entry of that connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    pub protocol: Protocol,
    pub client_id: Arc<str>,
    /// The certificateId (lower-case hex SHA-256 of the certificate DER) over mutual TLS,
    /// `anonymous` on the plain port.
    pub principal_id: Arc<str>,
    pub source_ip: Arc<str>,
    pub source_port: u16,
}

impl ClientInfo {
    /// A client seen at `peer`.
    pub fn new(
        protocol: Protocol,
        client_id: impl Into<Arc<str>>,
        principal_id: impl Into<Arc<str>>,
        peer: SocketAddr,
    ) -> Self {
        ClientInfo {
            protocol,
            client_id: client_id.into(),
            principal_id: principal_id.into(),
            source_ip: peer.ip().to_canonical().to_string().into(),
            source_port: peer.port(),
        }
    }
}

/// Everything an operation needs to know about its caller.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The 12-digit AWS account id.
    pub account_id: Arc<str>,
    pub client: Arc<ClientInfo>,
    pub trace_id: TraceId,
}
