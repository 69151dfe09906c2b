//! What the broker keeps in the SQLite store (`iotemu_store`), so that a restart, even `kill -9`,
//! loses nothing it acknowledged. AWS keeps retained messages until they are deleted and
//! persistent sessions for their expiry (`mqtt.md`).
//!
//! Written synchronously, before the broker answers:
//! - a retained message (and its deletion), before the publisher's PUBACK;
//! - a persistent session (version, expiry, subscriptions) when it starts or resumes and when
//!   its subscriptions change;
//! - a QoS 1 message queued for an offline persistent session, before the publisher's PUBACK;
//!   removed when the client acknowledges it after reconnecting.
//!
//! Written when a connection ends (also at a graceful shutdown): the session's unacknowledged
//! and waiting QoS 1 messages, and when it went offline. So a crash while a client is online
//! loses the messages that were on their way to it (sent or waiting, not yet acknowledged) —
//! never one that was queued for it while it was offline. Nothing else (online QoS 0 and 1
//! delivery) touches the disk.
//!
//! A store error is a WARN line; the broker goes on from memory.

use crate::codec::{MessageProperties, MqttVersion};
use crate::session::{Delivery, Message, SessionState, SubOptions};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use iotemu_store::{Scope, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Document kind of a retained message (key: its topic).
const RETAINED: &str = "broker-retained";
/// Document kind of a persistent session (key: the client id).
const SESSION: &str = "broker-session";
/// List kind of a session's queued messages (list: the client id; items by sequence number).
const QUEUED: &str = "broker-queued";

/// The broker's writer into the store, for the account and region MQTT serves.
pub(crate) struct Journal {
    store: Arc<Store>,
    scope: Scope,
}

/// A retained message read back at start.
pub(crate) struct StoredRetained {
    pub message: Arc<Message>,
    pub stored_at: u64,
}

/// A persistent session read back at start.
pub(crate) struct StoredSession {
    pub client_id: Arc<str>,
    pub version: MqttVersion,
    pub expiry: Duration,
    /// When its client went offline; `None` when it was online when the emulator stopped.
    pub disconnected_at_ms: Option<u64>,
    pub subscriptions: HashMap<String, SubOptions>,
    /// (sequence number, delivery), oldest first.
    pub queue: Vec<(u64, Delivery)>,
    /// The principal of its last connection (no client of a port without policies may take the
    /// session over from another principal, restart or not).
    pub owner: Option<Arc<str>>,
}

impl Journal {
    pub fn new(store: Arc<Store>, scope: Scope) -> Journal {
        Journal { store, scope }
    }

    pub fn put_retained(&self, message: &Message, stored_at: u64) {
        let mut doc = message_json(message);
        doc["storedAt"] = json!(stored_at);
        warn_on(self.store.put(RETAINED, &self.scope, &message.topic, &doc), "a retained message");
    }

    pub fn delete_retained(&self, topic: &str) {
        warn_on(self.store.delete(RETAINED, &self.scope, topic).map(drop), "a retained message");
    }

    /// Writes the session as `state` has it (subscriptions, expiry, online or since when not).
    pub fn put_session(&self, client_id: &str, state: &mut SessionState, disconnected_at_ms: Option<u64>) {
        let subscriptions: Vec<Value> = state
            .subscriptions
            .iter()
            .map(|(filter, o)| {
                json!({"filter": filter, "qos": o.qos, "noLocal": o.no_local, "retainAsPublished": o.retain_as_published})
            })
            .collect();
        let doc = json!({
            "version": match state.version { MqttVersion::V311 => 4, MqttVersion::V5 => 5 },
            "expirySecs": state.expiry.as_secs(),
            "disconnectedAt": disconnected_at_ms,
            "subscriptions": subscriptions,
            "owner": state.owner.as_deref(),
        });
        warn_on(self.store.put(SESSION, &self.scope, client_id, &doc), "a session");
        state.persisted = true;
    }

    /// Removes the session and its queued messages.
    pub fn delete_session(&self, client_id: &str) {
        warn_on(self.store.delete(SESSION, &self.scope, client_id).map(drop), "a session");
        warn_on(self.store.list_replace(QUEUED, &self.scope, client_id, &[]), "a session's queue");
    }

    pub fn put_queued(&self, client_id: &str, seq: u64, delivery: &Delivery) {
        let doc = delivery_json(delivery);
        warn_on(self.store.list_put(QUEUED, &self.scope, client_id, seq, &doc), "a queued message");
    }

    pub fn remove_queued(&self, client_id: &str, seq: u64) {
        warn_on(self.store.list_remove(QUEUED, &self.scope, client_id, seq).map(drop), "a queued message");
    }

    /// Replaces the session's stored queue by `queue`, giving each delivery a new sequence number.
    pub fn replace_queue<'a>(
        &self,
        client_id: &str,
        state_seq: &mut u64,
        queue: impl Iterator<Item = &'a mut Delivery>,
    ) {
        let mut items = Vec::new();
        for delivery in queue {
            *state_seq += 1;
            delivery.stored = Some(*state_seq);
            items.push((*state_seq, delivery_json(delivery)));
        }
        warn_on(self.store.list_replace(QUEUED, &self.scope, client_id, &items), "a session's queue");
    }

    /// Every stored retained message that has not expired (expired ones are deleted).
    pub fn load_retained(&self) -> Vec<StoredRetained> {
        let docs = match self.store.all(RETAINED) {
            Ok(docs) => docs,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the retained messages");
                return Vec::new();
            }
        };
        let now = epoch_ms();
        let mut out = Vec::new();
        for doc in docs.into_iter().filter(|d| d.scope == self.scope) {
            let expired = doc.value["expiresAt"].as_u64().is_some_and(|ms| ms <= now);
            match message_from(&doc.value) {
                Some(message) if !expired => {
                    let stored_at = doc.value["storedAt"].as_u64().unwrap_or(0);
                    out.push(StoredRetained { message: Arc::new(message), stored_at });
                }
                _ => self.delete_retained(&doc.key),
            }
        }
        out
    }

    /// Every stored persistent session, with its queued messages.
    pub fn load_sessions(&self) -> Vec<StoredSession> {
        let (docs, items) = match (self.store.all(SESSION), self.store.list_all(QUEUED)) {
            (Ok(docs), Ok(items)) => (docs, items),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "could not read the persistent sessions");
                return Vec::new();
            }
        };
        let mut queues: HashMap<String, Vec<(u64, Delivery)>> = HashMap::new();
        for item in items.into_iter().filter(|i| i.scope == self.scope) {
            if let Some(delivery) = delivery_from(&item.value) {
                queues.entry(item.list).or_default().push((item.seq, delivery));
            }
        }
        let mut out = Vec::new();
        for doc in docs.into_iter().filter(|d| d.scope == self.scope) {
            let v = &doc.value;
            let version = match v["version"].as_u64() {
                Some(5) => MqttVersion::V5,
                _ => MqttVersion::V311,
            };
            let subscriptions = v["subscriptions"]
                .as_array()
                .map(|subs| {
                    subs.iter()
                        .filter_map(|s| {
                            let options = SubOptions {
                                qos: s["qos"].as_u64()? as u8,
                                no_local: s["noLocal"].as_bool().unwrap_or(false),
                                retain_as_published: s["retainAsPublished"].as_bool().unwrap_or(false),
                            };
                            Some((s["filter"].as_str()?.to_string(), options))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(StoredSession {
                queue: queues.remove(&doc.key).unwrap_or_default(),
                client_id: doc.key.into(),
                version,
                expiry: Duration::from_secs(v["expirySecs"].as_u64().unwrap_or(0)),
                disconnected_at_ms: v["disconnectedAt"].as_u64(),
                subscriptions,
                owner: v["owner"].as_str().map(Arc::from),
            });
        }
        // Queues whose session is gone (a crash between the two writes).
        for client_id in queues.keys() {
            warn_on(self.store.list_replace(QUEUED, &self.scope, client_id, &[]), "a session's queue");
        }
        out
    }
}

fn warn_on(result: Result<(), iotemu_store::StoreError>, what: &str) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not write {what} to the store; it is kept in memory only");
    }
}

/// Now, in milliseconds since the epoch.
pub(crate) fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The instant that was `ms` (epoch milliseconds), as seen now; never later than now.
pub(crate) fn instant_of(ms: u64) -> Instant {
    let ago = Duration::from_millis(epoch_ms().saturating_sub(ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

fn message_json(m: &Message) -> Value {
    let mut doc = json!({
        "topic": &*m.topic,
        "payload": B64.encode(&m.payload),
        "qos": m.qos,
        "retain": m.retain,
        "traceId": m.trace_id.to_string(),
    });
    if let Some(at) = m.expires_at {
        let left = at.saturating_duration_since(Instant::now());
        doc["expiresAt"] = json!(epoch_ms() + left.as_millis() as u64);
    }
    if let Some(origin) = &m.origin {
        doc["origin"] = json!(&**origin);
    }
    if !m.rule_chain.is_empty() {
        doc["ruleChain"] = json!(m.rule_chain.iter().map(|r| &**r).collect::<Vec<_>>());
    }
    if let Some(p) = &m.properties {
        doc["properties"] = json!({
            "payloadFormatIndicator": p.payload_format_indicator,
            "messageExpiryInterval": p.message_expiry_interval,
            "responseTopic": p.response_topic,
            "correlationData": p.correlation_data.as_ref().map(|c| B64.encode(c)),
            "userProperties": p.user_properties,
            "contentType": p.content_type,
        });
    }
    doc
}

fn message_from(v: &Value) -> Option<Message> {
    let topic: Arc<str> = v["topic"].as_str()?.into();
    let payload = Bytes::from(B64.decode(v["payload"].as_str()?).ok()?);
    let properties = v.get("properties").filter(|p| p.is_object()).map(|p| MessageProperties {
        payload_format_indicator: p["payloadFormatIndicator"].as_u64().map(|n| n as u8),
        message_expiry_interval: p["messageExpiryInterval"].as_u64().map(|n| n as u32),
        response_topic: p["responseTopic"].as_str().map(str::to_string),
        correlation_data: p["correlationData"].as_str().and_then(|c| B64.decode(c).ok()).map(Bytes::from),
        user_properties: serde_json::from_value(p["userProperties"].clone()).unwrap_or_default(),
        content_type: p["contentType"].as_str().map(str::to_string),
    });
    let expires_at = v["expiresAt"].as_u64().map(|ms| {
        let left = Duration::from_millis(ms.saturating_sub(epoch_ms()));
        Instant::now() + left
    });
    Some(Message {
        topic_bytes: Bytes::copy_from_slice(topic.as_bytes()),
        topic,
        payload,
        qos: v["qos"].as_u64().unwrap_or(0).min(1) as u8,
        retain: v["retain"].as_bool().unwrap_or(false),
        properties,
        expires_at,
        origin: v["origin"].as_str().map(Into::into),
        trace_id: v["traceId"].as_str().and_then(|t| t.parse().ok()).unwrap_or_default(),
        rule_chain: v["ruleChain"]
            .as_array()
            .map(|c| c.iter().filter_map(|r| r.as_str().map(Into::into)).collect())
            .unwrap_or_default(),
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "message": message_json(&d.message),
        "qos": d.qos,
        "retain": d.retain,
        "resend": d.resend,
    })
}

fn delivery_from(v: &Value) -> Option<Delivery> {
    let message = Arc::new(message_from(&v["message"])?);
    let mut delivery =
        Delivery::new(message, v["qos"].as_u64()?.min(1) as u8, v["retain"].as_bool().unwrap_or(false));
    delivery.resend = v["resend"].as_bool().unwrap_or(false);
    Some(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::TraceId;

    fn message() -> Message {
        Message {
            topic: "a/b".into(),
            topic_bytes: Bytes::from_static(b"a/b"),
            payload: Bytes::from_static(b"\x00\x01hi"),
            qos: 1,
            retain: true,
            properties: Some(MessageProperties {
                content_type: Some("text/plain".into()),
                correlation_data: Some(Bytes::from_static(b"\xff")),
                user_properties: vec![("k".into(), "v".into())],
                message_expiry_interval: Some(3600),
                ..Default::default()
            }),
            expires_at: Some(Instant::now() + Duration::from_secs(3600)),
            origin: Some("dev".into()),
            trace_id: TraceId::new(),
            rule_chain: vec!["r1".into()],
        }
    }

    #[test]
    fn messages_and_deliveries_read_back_as_written() {
        let m = message();
        let back = message_from(&message_json(&m)).unwrap();
        assert_eq!((&*back.topic, &back.payload, back.qos, back.retain), (&*m.topic, &m.payload, 1, true));
        assert_eq!(back.properties, m.properties);
        assert_eq!(back.trace_id.to_string(), m.trace_id.to_string());
        assert_eq!(back.origin.as_deref(), Some("dev"));
        assert_eq!(back.rule_chain, m.rule_chain);
        assert!(!back.expired(Instant::now()));
        let mut d = Delivery::new(Arc::new(m), 1, false);
        d.resend = true;
        let back = delivery_from(&delivery_json(&d)).unwrap();
        assert_eq!((back.qos, back.retain, back.resend), (1, false, true));
    }

    #[test]
    fn sessions_and_queues_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        let scope = Scope::new("123456789012", "us-east-1");
        {
            let journal = Journal::new(Arc::new(Store::open(&path).unwrap()), scope.clone());
            let session =
                crate::session::Session::new("dev".into(), MqttVersion::V5, Duration::from_secs(60));
            let mut state = session.state.lock();
            let options = SubOptions { qos: 1, no_local: true, retain_as_published: false };
            state.subscriptions.insert("a/+".into(), options);
            journal.put_session("dev", &mut state, Some(epoch_ms()));
            let d = Delivery::new(Arc::new(message()), 1, false);
            journal.put_queued("dev", 1, &d);
            journal.put_queued("dev", 2, &d);
            journal.remove_queued("dev", 1);
            journal.put_retained(&message(), 42);
            journal.put_queued("gone", 1, &d);
        }
        let journal = Journal::new(Arc::new(Store::open(&path).unwrap()), scope);
        let sessions = journal.load_sessions();
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!((&*s.client_id, s.version, s.expiry), ("dev", MqttVersion::V5, Duration::from_secs(60)));
        assert_eq!(s.subscriptions["a/+"], SubOptions { qos: 1, no_local: true, retain_as_published: false });
        assert_eq!(s.queue.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [2]);
        let retained = journal.load_retained();
        assert_eq!((&*retained[0].message.topic, retained[0].stored_at), ("a/b", 42));
        journal.delete_session("dev");
        assert!(journal.load_sessions().is_empty());
        assert!(journal.store.list_all(QUEUED).unwrap().is_empty(), "orphan queues are removed");
    }
}
