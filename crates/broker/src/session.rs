//! Sessions: what survives a connection (subscriptions, queued QoS 1 messages) and the link to
//! the connection that currently serves it.
//!
//! AWS (`docs/aws-behaviour.md` §10, `mqtt.md`): persistent sessions last 1 h by default and up to
//! 7 days; only QoS 1 messages on QoS 1 subscriptions are queued while offline, and excess queued
//! messages are dropped; MQTT 3 and MQTT 5 sessions do not resume each other.

use crate::codec::{MessageProperties, MqttVersion};
use bytes::Bytes;
use iotemu_core::TraceId;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A message inside the broker, shared by every delivery of it.
#[derive(Debug)]
pub struct Message {
    pub topic: Arc<str>,
    /// The same topic as bytes, cloned cheaply into each outgoing PUBLISH.
    pub topic_bytes: Bytes,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub properties: Option<MessageProperties>,
    /// When the MQTT 5 Message Expiry Interval runs out.
    pub expires_at: Option<Instant>,
    /// The publishing client, for MQTT 5 No Local.
    pub origin: Option<Arc<str>>,
    /// The Publish-In traceId, repeated by every Publish-Out of this message.
    pub trace_id: TraceId,
    /// The rules that republished it (`OutboundMessage::rule_chain`); empty for a device's.
    pub rule_chain: Vec<Arc<str>>,
}

impl Message {
    /// A message on `topic` (`topic_bytes`: the same, for outgoing PUBLISHes), its expiry
    /// counted from now when its properties carry an MQTT 5 Message Expiry Interval; no origin
    /// and no rule chain (set them with struct update syntax).
    pub fn new(
        topic: Arc<str>,
        topic_bytes: Bytes,
        payload: Bytes,
        qos: u8,
        retain: bool,
        properties: Option<MessageProperties>,
        trace_id: TraceId,
    ) -> Message {
        let expires_at = properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .map(|s| Instant::now() + Duration::from_secs(s.into()));
        Message {
            topic,
            topic_bytes,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            origin: None,
            trace_id,
            rule_chain: Vec::new(),
        }
    }

    /// Whether the message's expiry interval has run out.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// One message on its way to one subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// min(message QoS, granted QoS).
    pub qos: u8,
    pub retain: bool,
    /// Sent before and not acknowledged: resent with DUP.
    pub resend: bool,
}

/// Options of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
}

/// Why a connection is told to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Another connection with the same client id arrived.
    TakenOver,
    /// The client's certificate stopped being ACTIVE; the `reason` code says how.
    AuthError(&'static str),
    /// iot-data DeleteConnection (API_INITIATED_DISCONNECT).
    Api { clean_session: bool, prevent_will: bool },
}

/// The live connection serving a session.
pub struct Link {
    pub deliveries: mpsc::Sender<Delivery>,
    /// Taken when the connection is told to go.
    pub kick: Option<oneshot::Sender<Kick>>,
    /// The connection's principal, to find it when its certificate changes.
    pub principal: Arc<str>,
    /// Resolves when the connection has finished and handed its state back.
    pub done: oneshot::Receiver<()>,
    pub generation: u64,
}

/// A client's session.
pub struct Session {
    pub client_id: Arc<str>,
    /// The lifecycle events' `sessionIdentifier`: random, for the life of the session.
    pub identifier: Arc<str>,
    online: AtomicBool,
    pub state: Mutex<SessionState>,
}

/// The mutable part of a session.
pub struct SessionState {
    pub link: Option<Link>,
    /// Bumped by every connection that attaches.
    pub generation: u64,
    pub version: MqttVersion,
    /// Zero: the session ends with its connection.
    pub expiry: Duration,
    pub disconnected_at: Option<Instant>,
    /// Filter (as subscribed, `$share/...` included) -> options.
    pub subscriptions: HashMap<String, SubOptions>,
    /// QoS 1 messages waiting for the client to come back.
    pub queue: VecDeque<Delivery>,
    /// Removed from the broker; nothing may be queued any more.
    pub ended: bool,
}

impl Session {
    pub fn new(client_id: Arc<str>, version: MqttVersion, expiry: Duration) -> Self {
        Session {
            client_id,
            identifier: uuid::Uuid::new_v4().simple().to_string().into(),
            online: AtomicBool::new(false),
            state: Mutex::new(SessionState {
                link: None,
                generation: 0,
                version,
                expiry,
                disconnected_at: None,
                subscriptions: HashMap::new(),
                queue: VecDeque::new(),
                ended: false,
            }),
        }
    }

    /// Whether a connection currently serves the session (a cheap hint for shared groups).
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
    }

    /// Hands a delivery to the connection, or queues it while offline when the session persists
    /// and the delivery is QoS 1. Returns false when it was dropped.
    pub fn deliver(&self, delivery: Delivery, max_queued: usize) -> bool {
        let mut state = self.state.lock();
        if let Some(link) = &state.link {
            return match link.deliveries.try_send(delivery) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) | Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
        }
        if state.ended || state.expiry.is_zero() || delivery.qos == 0 || state.queue.len() >= max_queued {
            return false;
        }
        state.queue.push_back(delivery);
        true
    }
}
