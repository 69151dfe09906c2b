//! The last will: published when the connection ends, after the MQTT 5 Will Delay Interval or
//! at the session's end, whichever comes first, unless the client came back in time.

use super::Broker;
use crate::codec::WillPacket;
use crate::session::{Message, Session};
use crate::topic::validate_topic_name;
use bytes::Bytes;
use iotemu_core::{ClientInfo, DeviceAuthorizer, IotAction, TraceId};
use iotemu_logs::{LogEntry, LogLevel, PublishIn};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

impl Broker {
    /// Publishes a client's last will, after its MQTT 5 Will Delay Interval unless the client
    /// has reconnected by then, or when the session ends if that comes first (MQTT 5
    /// 3.1.3.2.2): `session_expiry` is how long the session outlives this connection; `policies`
    /// are the IoT policies it is checked against (`None`: none apply).
    pub(crate) fn publish_will(
        &self,
        client: Arc<ClientInfo>,
        will: WillPacket,
        session: Arc<Session>,
        generation: u64,
        policies: Option<Arc<dyn DeviceAuthorizer>>,
        session_expiry: Duration,
    ) {
        let broker = self.clone();
        let send = move || {
            let Ok(topic) = validate_topic_name(will.topic.as_bytes(), &broker.shared.config.limits) else {
                return;
            };
            let trace_id = TraceId::new();
            let topic: Arc<str> = topic.into();
            // The will goes out with the client's own rights (`iot:Publish`, and `iot:RetainPublish`
            // for a retained will), checked when it is sent.
            let allowed = policies.as_ref().is_none_or(|authorizer| {
                authorizer.authorize(&client, IotAction::Publish, &topic)
                    && (!will.retain || authorizer.authorize(&client, IotAction::RetainPublish, &topic))
            });
            if !allowed {
                if broker.shared.logs.enabled(LogLevel::Error) {
                    let entry = PublishIn { topic_name: topic.clone(), client: client.clone() };
                    let violation = crate::violation::Violation::NotAuthorized;
                    let entry = LogEntry::PublishIn(entry);
                    broker.shared.logs.failure(trace_id, entry, violation.reason(), violation.details());
                }
                return;
            }
            if broker.shared.logs.enabled(LogLevel::Info) {
                let entry = PublishIn { topic_name: topic.clone(), client: client.clone() };
                broker.shared.logs.success(trace_id, LogEntry::PublishIn(entry));
            }
            let expires_at = will
                .properties
                .as_ref()
                .and_then(|p| p.message_expiry_interval)
                .map(|s| Instant::now() + Duration::from_secs(s.into()));
            let message = Arc::new(Message {
                topic_bytes: Bytes::copy_from_slice(topic.as_bytes()),
                topic,
                payload: will.payload,
                qos: will.qos,
                retain: will.retain,
                properties: will.properties,
                expires_at,
                origin: Some(client.client_id.clone()),
                trace_id,
                rule_chain: Vec::new(),
            });
            broker.accept_message(&client, message);
        };
        let delay = Duration::from_secs(will.delay.into()).min(session_expiry);
        if delay.is_zero() {
            send();
            return;
        }
        let shutdown = self.shared.shutdown.clone();
        // Also due when the session ends earlier (a clean start, DeleteConnection, expiry).
        let (due, mut ended) = oneshot::channel();
        session.state.lock().will_due = Some(due);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // The server is going away: the will is due now (MQTT 5 3.1.3.2.2).
                _ = shutdown.cancelled() => {}
                Ok(()) = &mut ended => {}
            }
            if session.state.lock().generation == generation {
                send();
            }
        });
    }
}
