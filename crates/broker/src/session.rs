//! Sessions: what survives a connection (subscriptions, queued QoS 1 messages) and the link to
//! the connection that currently serves it.
//!
//! AWS (`docs/aws-behaviour.md` §10, `mqtt.md`): persistent sessions last 1 h by default and up to
//! 7 days; only QoS 1 messages on QoS 1 subscriptions are queued while offline, and excess queued
//! messages are dropped; MQTT 3 and MQTT 5 sessions do not resume each other.
//!
//! A live connection's backlog is bounded: its delivery channel holds at most
//! `limits.connection_queue` messages and `limits.connection_queue_bytes` bytes (counted in
//! [`Link::backlog`]); a delivery that finds it full is dropped ([`Delivered::Overflow`]).

use crate::codec::{MessageProperties, MqttVersion};
use crate::persist::Journal;
use crate::Limits;
use bytes::Bytes;
use iotemu_core::{ClientInfo, TraceId};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

    /// What the message counts for in a connection's backlog, in bytes.
    pub fn backlog_bytes(&self) -> usize {
        self.topic.len() + self.payload.len()
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
    /// Its sequence number in the store, while it is a persistent session's queued message
    /// (removed from the store when the client acknowledges it).
    pub stored: Option<u64>,
}

impl Delivery {
    /// A first delivery of `message` at `qos`.
    pub fn new(message: Arc<Message>, qos: u8, retain: bool) -> Delivery {
        Delivery { message, qos, retain, resend: false, stored: None }
    }
}

/// What became of a delivery handed to a session.
#[derive(Debug)]
pub enum Delivered {
    /// Handed to the live connection.
    Sent,
    /// Kept for the offline persistent session.
    Queued,
    /// Offline and not kept: QoS 0, or the session ends with its connection.
    NotQueued,
    /// Offline, and the session's queue is full (`limits.offline_queue`).
    OfflineQueueFull,
    /// The live connection's backlog is full: the client does not read fast enough.
    Overflow(Arc<ClientInfo>, Delivery),
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
    /// Bytes of the deliveries waiting in `deliveries` ([`Message::backlog_bytes`]); the
    /// connection subtracts what it takes out.
    pub backlog: Arc<AtomicUsize>,
    /// The connected client: its principal (to find it when its certificate changes), and its
    /// identity for the Publish-Out Failure of a delivery it had no room for.
    pub client: Arc<ClientInfo>,
    /// Taken when the connection is told to go.
    pub kick: Option<oneshot::Sender<Kick>>,
    /// Resolves when the connection has finished and handed its state back.
    pub done: oneshot::Receiver<()>,
    pub generation: u64,
    /// When the connection attached, in epoch milliseconds (`GET /_iotemu/connections`).
    pub connected_at: u64,
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
    /// Whether the store holds the session (it persists, and was written once).
    pub persisted: bool,
    /// The next sequence number of a queued message in the store.
    pub next_seq: u64,
    /// Told when the session ends, while a delayed will waits (MQTT 5 3.1.3.2.2).
    pub will_due: Option<oneshot::Sender<()>>,
    /// The principal of the last connection that attached (kept while the session is offline,
    /// and across restarts).
    pub owner: Option<Arc<str>>,
}

impl SessionState {
    /// A fresh sequence number for a queued message.
    pub fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
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
                persisted: false,
                next_seq: 0,
                will_due: None,
                owner: None,
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
    /// and the delivery is QoS 1 (writing it to `journal` first, so that a message acknowledged
    /// to its publisher survives a crash).
    pub(crate) fn deliver(
        &self,
        mut delivery: Delivery,
        limits: &Limits,
        journal: Option<&Journal>,
    ) -> Delivered {
        let mut state = self.state.lock();
        if let Some(link) = &state.link {
            let bytes = delivery.message.backlog_bytes();
            // Only this path adds to the backlog, under the session's lock: no race past the limit.
            if link.backlog.load(Ordering::Relaxed) + bytes > limits.connection_queue_bytes {
                return Delivered::Overflow(link.client.clone(), delivery);
            }
            return match link.deliveries.try_send(delivery) {
                Ok(()) => {
                    link.backlog.fetch_add(bytes, Ordering::Relaxed);
                    Delivered::Sent
                }
                Err(mpsc::error::TrySendError::Full(d)) | Err(mpsc::error::TrySendError::Closed(d)) => {
                    Delivered::Overflow(link.client.clone(), d)
                }
            };
        }
        if state.ended || state.expiry.is_zero() || delivery.qos == 0 {
            return Delivered::NotQueued;
        }
        if state.queue.len() >= limits.offline_queue {
            return Delivered::OfflineQueueFull;
        }
        if let Some(journal) = journal {
            let seq = state.take_seq();
            journal.put_queued(&self.client_id, seq, &delivery);
            delivery.stored = Some(seq);
        }
        state.queue.push_back(delivery);
        Delivered::Queued
    }
}
