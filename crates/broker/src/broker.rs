//! The broker's shared state and the operations connections call: attaching to a session
//! (takeover and resume), subscribing, routing a message, retained messages, wills, and session
//! expiry. State lives here; the wire lives in `connection`; what survives a restart is written
//! through `persist` (once [`Broker::attach_store`] was called).

mod restore;
mod will;

use crate::codec::MqttVersion;
use crate::lifecycle::Versions;
use crate::persist::{epoch_ms, Journal};
use crate::router::{SubscriptionTree, Target};
use crate::session::{Delivered, Delivery, Kick, Link, Message, Session, SessionState, SubOptions};
use crate::topic::{parse_filter, validate_topic_name, ParsedFilter};
use crate::BrokerConfig;
use bytes::Bytes;
use iotemu_core::{
    ClientInfo, ConnectedClient, Connections, DeviceAuthenticator, DeviceAuthorizer, Disposition,
    OutboundMessage, PublishRefused, Publisher, RequestContext, ReservedTopic, ReservedTopicHandler,
    RetainedMessage, RetainedMessages, RoutedMessage, RulesFeed,
};
use iotemu_logs::{EventSink, LogEntry, LogLevel, PublishOut};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The message broker: cheap to clone, shared by every listener and connection.
#[derive(Clone)]
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: BrokerConfig,
    pub logs: EventSink,
    tree: RwLock<SubscriptionTree>,
    /// Topic -> the message retained on it (AWS keeps one per topic).
    retained: Mutex<HashMap<Arc<str>, Retained>>,
    sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    /// Lifecycle events' version numbers per client id (locked after `sessions`, never before).
    versions: Mutex<Versions>,
    reserved: Arc<dyn ReservedTopicHandler>,
    /// The rules engine, once attached ([`Broker::attach_rules`]).
    rules: OnceLock<Arc<dyn RulesFeed>>,
    /// The fleet index, told of connects and disconnects ([`Broker::attach_index`]).
    pub(crate) index: OnceLock<Arc<dyn iotemu_core::IndexFeed>>,
    /// The store retained messages and persistent sessions are written to, once attached
    /// ([`Broker::attach_store`]).
    journal: OnceLock<Journal>,
    /// Deliveries dropped because the client's backlog was full (`publishOutThrottled`).
    throttled: AtomicU64,
    /// QoS 1 messages not queued because an offline session's queue was full.
    offline_dropped: AtomicU64,
    pub authenticator: Arc<dyn DeviceAuthenticator>,
    pub authorizer: Arc<dyn DeviceAuthorizer>,
    /// The custom authorizers, once attached ([`Broker::set_custom_authenticator`]).
    pub custom_auth: OnceLock<Arc<dyn iotemu_core::CustomAuthenticator>>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

/// A retained message and when it was stored (epoch ms, for iot-data's `lastModifiedTime`).
struct Retained {
    message: Arc<Message>,
    stored_at: u64,
}

/// A connection's hold on its session, returned by [`Broker::attach`].
pub(crate) struct Attached {
    pub session: Arc<Session>,
    pub generation: u64,
    pub session_present: bool,
    /// The lifecycle events' `versionNumber` of this connection.
    pub version: u64,
    pub deliveries: mpsc::Receiver<Delivery>,
    pub kick: oneshot::Receiver<Kick>,
    pub done: oneshot::Sender<()>,
    pub queued: Vec<Delivery>,
    /// The bytes waiting in `deliveries` (see [`Link::backlog`]).
    pub backlog: Arc<AtomicUsize>,
}

impl Broker {
    /// A broker writing its entries to `logs`, handing `$aws/...` publishes to `reserved`, and
    /// stopping when `shutdown` is cancelled. Must be called inside a tokio runtime: it starts
    /// the session-expiry sweeper.
    pub fn new(
        config: BrokerConfig,
        logs: EventSink,
        reserved: Arc<dyn ReservedTopicHandler>,
        authenticator: Arc<dyn DeviceAuthenticator>,
        authorizer: Arc<dyn DeviceAuthorizer>,
        shutdown: CancellationToken,
    ) -> Self {
        let broker = Broker {
            shared: Arc::new(Shared {
                config,
                logs,
                tree: RwLock::default(),
                retained: Mutex::default(),
                sessions: Mutex::default(),
                versions: Mutex::default(),
                reserved,
                rules: OnceLock::new(),
                index: OnceLock::new(),
                journal: OnceLock::new(),
                throttled: AtomicU64::new(0),
                offline_dropped: AtomicU64::new(0),
                authenticator,
                authorizer,
                custom_auth: OnceLock::new(),
                shutdown,
                tasks: TaskTracker::new(),
            }),
        };
        let sweeper = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = sweeper.shared.shutdown.cancelled() => return,
                    _ = tick.tick() => sweeper.expire_sessions(Instant::now()),
                }
            }
        });
        broker
    }

    /// Serves custom authentication (ALPN `mqtt`, WebSockets without SigV4 or certificate)
    /// through `authenticator`; without one such clients are refused (CUSTOM_AUTHORIZER_NOT_FOUND).
    pub fn set_custom_authenticator(&self, authenticator: Arc<dyn iotemu_core::CustomAuthenticator>) {
        let _ = self.shared.custom_auth.set(authenticator);
    }

    /// Waits until every connection has closed (after `shutdown` was cancelled), at most `grace`.
    pub async fn wait_closed(&self, grace: Duration) -> bool {
        self.shared.tasks.close();
        tokio::time::timeout(grace, self.shared.tasks.wait()).await.is_ok()
    }

    /// How many connection tasks are running.
    pub fn connection_count(&self) -> usize {
        self.shared.tasks.len()
    }

    /// Deliveries dropped since start because the client did not read fast enough (its backlog,
    /// `limits.connection_queue` and `connection_queue_bytes`, was full).
    pub fn throttled_count(&self) -> u64 {
        self.shared.throttled.load(Ordering::Relaxed)
    }

    /// QoS 1 messages not kept since start because an offline session's queue was full.
    pub fn offline_dropped_count(&self) -> u64 {
        self.shared.offline_dropped.load(Ordering::Relaxed)
    }

    /// The store's writer, when one is attached.
    pub(crate) fn journal(&self) -> Option<&Journal> {
        self.shared.journal.get()
    }

    /// The client acknowledged a queued message that the store holds: it can go.
    pub(crate) fn acknowledged_stored(&self, client_id: &str, seq: u64) {
        if let Some(journal) = self.journal() {
            journal.remove_queued(client_id, seq);
        }
    }

    /// Disconnects every connection authenticated as `principal` (its certificate became
    /// INACTIVE or REVOKED): they log Disconnect with AUTH_ERROR. Returns how many.
    pub fn disconnect_principal(&self, principal: &str, reason: &'static str) -> usize {
        let sessions = self.shared.sessions.lock();
        let mut kicked = 0;
        for session in sessions.values() {
            let mut state = session.state.lock();
            if let Some(link) = state.link.as_mut().filter(|l| &*l.client.principal_id == principal) {
                if let Some(kick) = link.kick.take() {
                    kicked += usize::from(kick.send(Kick::AuthError(reason)).is_ok());
                }
            }
        }
        kicked
    }

    /// The principal of the connection that last attached to the session of `client_id`, while
    /// that session lives (connected, or persistent and offline).
    pub(crate) fn session_owner(&self, client_id: &str) -> Option<Arc<str>> {
        let sessions = self.shared.sessions.lock();
        let state = sessions.get(client_id)?.state.lock();
        state.owner.clone().filter(|_| !state.ended)
    }

    /// Attaches a new connection to the session of `client_id`: takes over a live connection
    /// (which then logs DUPLICATE_CLIENT_ID), resumes a persistent session of the same MQTT
    /// version unless `clean_start`, or starts a new one.
    pub(crate) async fn attach(
        &self,
        client: &Arc<ClientInfo>,
        version: MqttVersion,
        clean_start: bool,
        expiry: Duration,
    ) -> Attached {
        let client_id = &client.client_id;
        let old_link = {
            let sessions = self.shared.sessions.lock();
            sessions.get(client_id).and_then(|s| {
                let mut state = s.state.lock();
                let link = state.link.take();
                if link.is_some() {
                    state.generation += 1;
                    s.set_online(false);
                }
                link
            })
        };
        if let Some(old) = old_link {
            if let Some(kick) = old.kick {
                let _ = kick.send(Kick::TakenOver);
            }
            let _ = tokio::time::timeout(Duration::from_secs(3), old.done).await;
        }

        let (deliveries_tx, deliveries) = mpsc::channel(self.shared.config.limits.connection_queue);
        let (kick_tx, kick) = oneshot::channel();
        let (done, done_rx) = oneshot::channel();
        let mut sessions = self.shared.sessions.lock();
        let existing = sessions.get(client_id).cloned();
        let resumable = existing.as_ref().is_some_and(|s| {
            let state = s.state.lock();
            !clean_start && !state.ended && state.version == version && !state.expiry.is_zero()
        });
        let session_kept = existing.as_ref().is_some_and(|s| !s.state.lock().expiry.is_zero());
        let event_version = self.shared.versions.lock().connected(client_id, session_kept, Instant::now());
        let session = match existing {
            Some(s) if resumable => s,
            other => {
                if let Some(old) = other {
                    self.end_session_locked(&mut sessions, &old);
                }
                let s = Arc::new(Session::new(client_id.clone(), version, expiry));
                sessions.insert(client_id.clone(), s.clone());
                s
            }
        };
        let mut state = session.state.lock();
        if let Some(kick) = state.link.take().and_then(|racing| racing.kick) {
            let _ = kick.send(Kick::TakenOver);
        }
        state.generation += 1;
        state.expiry = expiry;
        state.disconnected_at = None;
        state.owner = Some(client.principal_id.clone());
        let backlog = Arc::new(AtomicUsize::new(0));
        state.link = Some(Link {
            deliveries: deliveries_tx,
            backlog: backlog.clone(),
            client: client.clone(),
            kick: Some(kick_tx),
            done: done_rx,
            generation: state.generation,
            connected_at: epoch_ms(),
        });
        session.set_online(true);
        // A persistent session is on disk from its start, so that a restart resumes it.
        if let Some(journal) = self.journal().filter(|_| !expiry.is_zero()) {
            journal.put_session(client_id, &mut state, None);
        }
        let queued = std::mem::take(&mut state.queue).into();
        let generation = state.generation;
        drop(state);
        drop(sessions);
        Attached {
            session,
            generation,
            session_present: resumable,
            version: event_version,
            deliveries,
            kick,
            done,
            queued,
            backlog,
        }
    }

    /// Hands a session back when its connection ends: queues what was unacknowledged (if the
    /// session persists) or ends the session.
    pub(crate) fn detach(
        &self,
        session: &Arc<Session>,
        generation: u64,
        mut leftovers: Vec<Delivery>,
        deliveries: &mut mpsc::Receiver<Delivery>,
        expiry_override: Option<Duration>,
    ) {
        self.shared.versions.lock().disconnected(&session.client_id, Instant::now());
        let mut state = session.state.lock();
        // Routing sends only while holding this lock, so after draining nothing more arrives.
        while let Ok(d) = deliveries.try_recv() {
            leftovers.push(d);
        }
        leftovers.retain(|d| d.qos == 1);
        let taken_over = state.generation != generation;
        if !taken_over {
            state.link = None;
            session.set_online(false);
            if let Some(expiry) = expiry_override {
                state.expiry = expiry.min(self.shared.config.session_expiry);
            }
            if state.expiry.is_zero() {
                drop(state);
                let mut sessions = self.shared.sessions.lock();
                self.end_session_locked(&mut sessions, session);
                return;
            }
            state.disconnected_at = Some(Instant::now());
        }
        if state.ended {
            return;
        }
        let limit = self.shared.config.limits.offline_queue;
        let older = std::mem::take(&mut state.queue);
        state.queue = leftovers.into_iter().chain(older).take(limit).collect();
        if let Some(journal) = self.journal() {
            let offline_since = state.link.is_none().then(epoch_ms);
            journal.put_session(&session.client_id, &mut state, offline_since);
            let SessionState { queue, next_seq, .. } = &mut *state;
            journal.replace_queue(&session.client_id, next_seq, queue.iter_mut());
        }
    }

    /// Removes a session and its subscriptions. The caller holds the sessions map.
    fn end_session_locked(&self, sessions: &mut HashMap<Arc<str>, Arc<Session>>, session: &Arc<Session>) {
        let subscriptions = {
            let mut state = session.state.lock();
            state.ended = true;
            state.queue.clear();
            // The session's end is the latest moment its pending will is due (MQTT 5 3.1.3.2.2).
            if let Some(will) = state.will_due.take() {
                let _ = will.send(());
            }
            if std::mem::take(&mut state.persisted) {
                if let Some(journal) = self.journal() {
                    journal.delete_session(&session.client_id);
                }
            }
            std::mem::take(&mut state.subscriptions)
        };
        if !subscriptions.is_empty() {
            let mut tree = self.shared.tree.write();
            for filter in subscriptions.keys() {
                if let Ok(parsed) = parse_filter(filter, &self.shared.config.limits) {
                    tree.remove(parsed.share_group, parsed.filter, &session.client_id);
                }
            }
        }
        if sessions.get(&session.client_id).is_some_and(|s| Arc::ptr_eq(s, session)) {
            sessions.remove(&session.client_id);
        }
    }

    /// Ends persistent sessions whose expiry has passed since their client left.
    fn expire_sessions(&self, now: Instant) {
        let mut sessions = self.shared.sessions.lock();
        let expired: Vec<Arc<Session>> = sessions
            .values()
            .filter(|s| {
                let state = s.state.lock();
                state.link.is_none()
                    && state.disconnected_at.is_some_and(|t| now.duration_since(t) >= state.expiry)
            })
            .cloned()
            .collect();
        for session in expired {
            self.end_session_locked(&mut sessions, &session);
        }
        self.shared.versions.lock().sweep(now, |id| sessions.contains_key(id));
    }

    /// Adds a subscription; true when it is new (not a re-subscription).
    pub(crate) fn subscribe(
        &self,
        session: &Arc<Session>,
        raw: &str,
        parsed: &ParsedFilter<'_>,
        options: SubOptions,
    ) -> bool {
        let is_new = {
            let mut state = session.state.lock();
            let is_new = state.subscriptions.insert(raw.to_string(), options).is_none();
            self.persist_subscriptions(session, &mut state);
            is_new
        };
        let target = Target { session: session.clone(), options };
        self.shared.tree.write().insert(parsed.share_group, parsed.filter, target);
        is_new
    }

    /// Removes a subscription; true when there was one.
    pub(crate) fn unsubscribe(&self, session: &Arc<Session>, raw: &str, parsed: &ParsedFilter<'_>) -> bool {
        let existed = {
            let mut state = session.state.lock();
            let existed = state.subscriptions.remove(raw).is_some();
            if existed {
                self.persist_subscriptions(session, &mut state);
            }
            existed
        };
        self.shared.tree.write().remove(parsed.share_group, parsed.filter, &session.client_id);
        existed
    }

    /// Writes a persistent session's subscriptions to the store (a change of them).
    fn persist_subscriptions(&self, session: &Session, state: &mut SessionState) {
        if let Some(journal) = self.journal().filter(|_| !state.expiry.is_zero() && !state.ended) {
            let offline_since = state.link.is_none().then(epoch_ms);
            journal.put_session(&session.client_id, state, offline_since);
        }
    }

    /// Accepts a message into the broker: reserved-topic services, retained store, subscribers.
    pub(crate) fn accept_message(&self, client: &Arc<ClientInfo>, message: Arc<Message>) {
        if let Some(topic) = ReservedTopic::parse(&message.topic) {
            let ctx = RequestContext {
                account_id: self.shared.logs.account_id().clone(),
                client: client.clone(),
                trace_id: message.trace_id,
            };
            if self.shared.reserved.on_publish(&ctx, &topic, &message.payload) == Disposition::Consumed {
                return;
            }
        }
        self.store_and_route(client, message);
    }

    /// Hands every routed message to `rules` from now on. The rules engine is built after the
    /// broker (its republish action publishes through it), hence not a constructor argument.
    pub fn attach_rules(&self, rules: Arc<dyn RulesFeed>) {
        let _ = self.shared.rules.set(rules);
    }

    /// Tells `index` of every connect and disconnect from now on (one bounded channel send each,
    /// the fleet index's connectivity data).
    pub fn attach_index(&self, index: Arc<dyn iotemu_core::IndexFeed>) {
        let _ = self.shared.index.set(index);
    }

    /// The retained store, then every matching subscriber, then the rules feed.
    pub(crate) fn store_and_route(&self, source: &Arc<ClientInfo>, message: Arc<Message>) {
        // AWS does not retain messages on reserved (`$`) topics (docs/aws-behaviour.md §8).
        if message.retain && !message.topic.starts_with('$') {
            let stored_at = self.shared.logs.now_millis();
            let mut retained = self.shared.retained.lock();
            // On disk before the publisher's PUBACK, in the order of the in-memory map.
            let journal = self.journal();
            if message.payload.is_empty() {
                if retained.remove(&message.topic).is_some() {
                    journal.inspect(|j| j.delete_retained(&message.topic));
                }
            } else {
                journal.inspect(|j| j.put_retained(&message, stored_at));
                retained.insert(message.topic.clone(), Retained { message: message.clone(), stored_at });
            }
        }
        self.route(&message);
        if let Some(rules) = self.shared.rules.get() {
            rules.on_message(&RoutedMessage {
                source,
                topic: &message.topic,
                payload: &message.payload,
                qos: message.qos,
                properties: message.properties.as_ref(),
                trace_id: message.trace_id,
                rule_chain: &message.rule_chain,
            });
        }
    }

    /// The checks of a PUBLISH that do not depend on the client: QoS, topic name, payload size.
    fn check_outbound(&self, m: &OutboundMessage) -> Result<(), PublishRefused> {
        let limits = &self.shared.config.limits;
        if m.qos > 1 {
            return Err(PublishRefused::InvalidQos(m.qos));
        }
        validate_topic_name(m.topic.as_bytes(), limits)
            .map_err(|e| PublishRefused::InvalidTopic(e.to_string()))?;
        if m.payload.len() > limits.payload_bytes {
            return Err(PublishRefused::PayloadTooLarge {
                size: m.payload.len(),
                limit: limits.payload_bytes,
            });
        }
        Ok(())
    }

    /// Checks a service's message as the broker checks a PUBLISH and makes it a broker message.
    fn outbound(&self, source: &Arc<ClientInfo>, m: OutboundMessage) -> Result<Arc<Message>, PublishRefused> {
        self.check_outbound(&m)?;
        let topic_bytes = Bytes::copy_from_slice(m.topic.as_bytes());
        Ok(Arc::new(Message {
            origin: Some(source.client_id.clone()),
            rule_chain: m.rule_chain,
            ..Message::new(m.topic, topic_bytes, m.payload, m.qos, m.retain, m.properties, m.trace_id)
        }))
    }

    /// Disconnects `client_id` for iot-data DeleteConnection (see [`Connections`]).
    pub fn disconnect_client(&self, client_id: &str, clean_session: bool, prevent_will: bool) -> bool {
        let mut sessions = self.shared.sessions.lock();
        let Some(session) = sessions.get(client_id).cloned() else {
            return false;
        };
        let mut state = session.state.lock();
        if let Some(link) = state.link.as_mut() {
            // No kick left: the connection is already being told to go.
            if let Some(kick) = link.kick.take() {
                let _ = kick.send(Kick::Api { clean_session, prevent_will });
            }
            return true;
        }
        drop(state);
        if clean_session {
            self.end_session_locked(&mut sessions, &session);
        }
        true
    }

    /// Hands `message` to every matching subscriber.
    fn route(&self, message: &Arc<Message>) {
        let mut targets = Vec::new();
        self.shared.tree.read().matches(&message.topic, &mut targets);
        for target in targets {
            if target.options.no_local && message.origin.as_ref() == Some(&target.session.client_id) {
                continue;
            }
            let qos = message.qos.min(target.options.qos);
            let retain = target.options.retain_as_published && message.retain;
            let delivery = Delivery::new(message.clone(), qos, retain);
            self.deliver_to_session(&target.session, delivery);
        }
    }

    /// Hands a delivery to a session, and counts (and logs) it when it was dropped.
    fn deliver_to_session(&self, session: &Session, delivery: Delivery) -> bool {
        match session.deliver(delivery, &self.shared.config.limits, self.journal()) {
            Delivered::Sent | Delivered::Queued => true,
            Delivered::NotQueued => false,
            Delivered::OfflineQueueFull => {
                self.shared.offline_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Delivered::Overflow(client, delivery) => {
                self.shared.throttled.fetch_add(1, Ordering::Relaxed);
                self.log_throttled(client, &delivery.message);
                false
            }
        }
    }

    /// The Publish-Out Failure of a message dropped for a client whose backlog was full. AWS
    /// throttles a connection's outbound messages beyond its quotas (the `PublishOut.Throttle`
    /// metric, `metrics_dimensions.md`); the reason is named after it.
    fn log_throttled(&self, client: Arc<ClientInfo>, message: &Message) {
        let logs = &self.shared.logs;
        if logs.enabled(LogLevel::Error) {
            let limits = &self.shared.config.limits;
            let entry = PublishOut { topic_name: message.topic.clone(), client };
            let details = format!(
                "The client is not reading its messages fast enough: its backlog of {} messages or {} bytes is full",
                limits.connection_queue, limits.connection_queue_bytes
            );
            logs.failure(message.trace_id, LogEntry::PublishOut(entry), "THROTTLED", details);
        }
    }

    /// The message retained on `topic`, unless it has expired.
    pub(crate) fn retained(&self, topic: &str) -> Option<Arc<Message>> {
        self.retained_entry(topic).map(|(message, _)| message)
    }

    /// The message retained on `topic` and when it was stored, unless it has expired.
    fn retained_entry(&self, topic: &str) -> Option<(Arc<Message>, u64)> {
        let mut retained = self.shared.retained.lock();
        let entry = retained.get(topic)?;
        let found = (entry.message.clone(), entry.stored_at);
        if found.0.expired(Instant::now()) {
            retained.remove(topic);
            self.journal().inspect(|j| j.delete_retained(topic));
            return None;
        }
        Some(found)
    }
}

impl Publisher for Broker {
    fn check(&self, message: &OutboundMessage) -> Result<(), PublishRefused> {
        self.check_outbound(message)
    }

    fn publish(&self, source: &Arc<ClientInfo>, message: OutboundMessage) -> Result<(), PublishRefused> {
        let message = self.outbound(source, message)?;
        self.accept_message(source, message);
        Ok(())
    }

    fn deliver(&self, source: &Arc<ClientInfo>, message: OutboundMessage) -> Result<(), PublishRefused> {
        let message = self.outbound(source, message)?;
        self.store_and_route(source, message);
        Ok(())
    }

    fn deliver_to_client(&self, client_id: &str, message: OutboundMessage) -> Result<bool, PublishRefused> {
        self.check_outbound(&message)?;
        let Some(session) = self.shared.sessions.lock().get(client_id).cloned() else {
            return Ok(false);
        };
        let qos = message.qos;
        let topic_bytes = Bytes::copy_from_slice(message.topic.as_bytes());
        let message = Arc::new(Message {
            rule_chain: message.rule_chain,
            ..Message::new(
                message.topic,
                topic_bytes,
                message.payload,
                qos,
                false,
                message.properties,
                message.trace_id,
            )
        });
        Ok(self.deliver_to_session(&session, Delivery::new(message, qos, false)))
    }
}

impl Connections for Broker {
    fn disconnect_client(&self, client_id: &str, clean_session: bool, prevent_will: bool) -> bool {
        Broker::disconnect_client(self, client_id, clean_session, prevent_will)
    }

    fn connected_clients(&self) -> Vec<ConnectedClient> {
        let sessions: Vec<Arc<Session>> = self.shared.sessions.lock().values().cloned().collect();
        let mut clients: Vec<ConnectedClient> = sessions
            .iter()
            .filter_map(|session| {
                let state = session.state.lock();
                let link = state.link.as_ref()?;
                Some(ConnectedClient {
                    client_id: session.client_id.clone(),
                    principal_id: link.client.principal_id.clone(),
                    protocol: link.client.protocol,
                    mqtt_version: match state.version {
                        MqttVersion::V311 => "3.1.1",
                        MqttVersion::V5 => "5",
                    },
                    source_ip: link.client.source_ip.clone(),
                    source_port: link.client.source_port,
                    connected_since: link.connected_at,
                    persistent_session: !state.expiry.is_zero(),
                    subscriptions: state.subscriptions.len(),
                })
            })
            .collect();
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        clients
    }
}

/// The iot-data view of a retained message.
fn retained_view(message: &Message, stored_at: u64) -> RetainedMessage {
    RetainedMessage {
        topic: message.topic.clone(),
        payload: message.payload.clone(),
        qos: message.qos,
        last_modified: stored_at,
        user_properties: message.properties.as_ref().map(|p| p.user_properties.clone()).unwrap_or_default(),
    }
}

impl RetainedMessages for Broker {
    fn retained_message(&self, topic: &str) -> Option<RetainedMessage> {
        self.retained_entry(topic).map(|(message, stored_at)| retained_view(&message, stored_at))
    }

    fn retained_messages(&self) -> Vec<RetainedMessage> {
        let now = Instant::now();
        let mut retained = self.shared.retained.lock();
        retained.retain(|_, r| !r.message.expired(now));
        let mut all: Vec<RetainedMessage> =
            retained.values().map(|r| retained_view(&r.message, r.stored_at)).collect();
        drop(retained);
        all.sort_by(|a, b| a.topic.cmp(&b.topic));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::{AcceptAll, AllowAll, MessageProperties, Protocol, TraceId};
    use iotemu_logs::{LevelFilter, LogPipeline};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the reserved-topic publishes it sees.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl ReservedTopicHandler for Counting {
        fn on_publish(&self, _: &RequestContext, _: &ReservedTopic<'_>, _: &Bytes) -> Disposition {
            self.0.fetch_add(1, Ordering::Relaxed);
            Disposition::Deliver
        }
    }

    fn broker(reserved: Arc<Counting>) -> (Broker, iotemu_logs::PipelineHandle) {
        let (logs, handle) = LogPipeline::new("123456789012", LevelFilter::Disabled).start().unwrap();
        let broker = Broker::new(
            BrokerConfig::default(),
            logs,
            reserved,
            Arc::new(AcceptAll),
            Arc::new(AllowAll),
            CancellationToken::new(),
        );
        (broker, handle)
    }

    fn http_client() -> Arc<ClientInfo> {
        Arc::new(ClientInfo::new(Protocol::Http, "n/a", "AKID", "127.0.0.1:1".parse().unwrap()))
    }

    #[tokio::test]
    async fn publish_reaches_reserved_services_and_deliver_does_not() {
        let reserved = Arc::new(Counting::default());
        let (broker, _logs) = broker(reserved.clone());
        let topic = "$aws/things/t/shadow/update/accepted";
        Publisher::publish(&broker, &http_client(), OutboundMessage::new(topic, "{}", TraceId::new()))
            .unwrap();
        assert_eq!(reserved.0.load(Ordering::Relaxed), 1);
        broker.deliver(&http_client(), OutboundMessage::new(topic, "{}", TraceId::new())).unwrap();
        assert_eq!(reserved.0.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn deliver_to_client_reaches_only_that_session_without_a_subscription() {
        let (broker, _logs) = broker(Arc::default());
        let topic = "$aws/things/t/jobs/get/accepted";
        let mut message = OutboundMessage::new(topic, "{}", TraceId::new());
        message.qos = 1;
        assert_eq!(broker.deliver_to_client("nobody", message.clone()), Ok(false));
        // An offline persistent session queues the QoS 1 answer; another session gets nothing.
        let session = Arc::new(Session::new("dev".into(), MqttVersion::V311, Duration::from_secs(60)));
        let other = Arc::new(Session::new("other".into(), MqttVersion::V311, Duration::from_secs(60)));
        broker.shared.sessions.lock().insert("dev".into(), session.clone());
        broker.shared.sessions.lock().insert("other".into(), other.clone());
        assert_eq!(broker.deliver_to_client("dev", message), Ok(true));
        assert_eq!(session.state.lock().queue.len(), 1);
        assert_eq!(&*session.state.lock().queue[0].message.topic, topic);
        assert!(other.state.lock().queue.is_empty());
        let bad = OutboundMessage::new("a/+", "x", TraceId::new());
        assert!(broker.deliver_to_client("dev", bad).is_err());
    }

    #[tokio::test]
    async fn refuses_what_a_publish_would_be_refused_for() {
        let (broker, _logs) = broker(Arc::default());
        let client = http_client();
        let mut message = OutboundMessage::new("a/+", "x", TraceId::new());
        assert!(matches!(broker.check(&message), Err(PublishRefused::InvalidTopic(_))));
        message.topic = "a/b".into();
        message.qos = 2;
        assert_eq!(broker.check(&message), Err(PublishRefused::InvalidQos(2)));
        message.qos = 1;
        message.payload = Bytes::from(vec![0; 128 * 1024 + 1]);
        assert!(matches!(
            Publisher::publish(&broker, &client, message),
            Err(PublishRefused::PayloadTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn retained_messages_keep_their_time_and_are_listed_in_topic_order() {
        let (broker, _logs) = broker(Arc::default());
        let client = http_client();
        for topic in ["b/1", "a/1", "$aws/rules/r"] {
            let mut message = OutboundMessage::new(topic, "x", TraceId::new());
            message.retain = true;
            message.properties = Some(MessageProperties {
                user_properties: vec![("k".into(), "v".into())],
                ..Default::default()
            });
            broker.deliver(&client, message).unwrap();
        }
        let all = broker.retained_messages();
        let topics: Vec<&str> = all.iter().map(|m| &*m.topic).collect();
        assert_eq!(topics, ["a/1", "b/1"], "no retained messages on reserved topics");
        let one = broker.retained_message("a/1").unwrap();
        assert!(one.last_modified > 0);
        assert_eq!(one.user_properties, [("k".to_string(), "v".to_string())]);
        let mut delete = OutboundMessage::new("a/1", Bytes::new(), TraceId::new());
        delete.retain = true;
        broker.deliver(&client, delete).unwrap();
        assert!(broker.retained_message("a/1").is_none());
        assert!(!broker.disconnect_client("nobody", false, false));
    }
}
