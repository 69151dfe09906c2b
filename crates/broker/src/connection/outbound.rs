//! What a connection sends its client: QoS 1 flow control (at most `limits.inflight_qos1`
//! unacknowledged, fewer when the client's MQTT 5 Receive Maximum says so, MQTT-3.3.4-9), the
//! client's MQTT 5 Maximum Packet Size (a larger PUBLISH is not sent to it, MQTT-3.1.2-25), and
//! the Publish-Out entries, written once the PUBLISH has been written to the socket (or as a
//! Failure when it could not be).

use super::Conn;
use crate::codec::{MqttVersion, Outgoing, PublishPacket};
use crate::session::Delivery;
use crate::violation::Violation;
use iotemu_core::{IotAction, TraceId};
use iotemu_logs::{LogEntry, LogLevel, PublishOut};
use std::sync::Arc;
use std::time::Instant;

/// The Publish-Out entries of the messages encoded in `Conn::out`, written with it.
#[derive(Default)]
pub(super) struct Unwritten(Vec<(TraceId, Arc<str>)>);

impl Conn {
    pub(super) fn on_puback(&mut self, pkid: u16) {
        if let Some(i) = self.inflight.iter().position(|(id, _)| *id == pkid) {
            if let Some((_, acked)) = self.inflight.remove(i) {
                if let Some(seq) = acked.stored {
                    self.broker.acknowledged_stored(&self.client.client_id, seq);
                }
            }
        }
        while self.inflight.len() < self.inflight_limit {
            let Some(next) = self.pending.pop_front() else { break };
            self.send(next);
        }
    }

    /// Whether the connection takes more deliveries off its channel: not while QoS 1 messages
    /// wait for room in flight (the channel, bounded, then holds the backlog).
    pub(super) fn takes_deliveries(&self) -> bool {
        self.pending.is_empty()
    }

    /// Encodes a delivery (QoS 1 ones wait while the client's in-flight quota is used up); its
    /// Publish-Out entry is written once the bytes are.
    pub(super) fn send(&mut self, delivery: Delivery) {
        let now = Instant::now();
        if delivery.message.expired(now) {
            return;
        }
        if !self.allowed(IotAction::Receive, &delivery.message.topic) {
            // No `iot:Receive`: the message is silently not sent (`iot-policy-actions.md`).
            self.log_publish_out_failure(
                &delivery,
                Violation::NotAuthorized.reason(),
                Violation::NotAuthorized.details(),
            );
            return;
        }
        let pkid = if delivery.qos == 0 {
            0
        } else {
            if self.inflight.len() >= self.inflight_limit {
                self.pending.push_back(delivery);
                return;
            }
            self.allocate_pkid()
        };
        let message = &delivery.message;
        let properties = match self.codec.version() {
            MqttVersion::V311 => None,
            MqttVersion::V5 => message.properties.clone().map(|mut p| {
                if let Some(at) = message.expires_at {
                    p.message_expiry_interval =
                        Some(at.saturating_duration_since(now).as_secs().max(1) as u32);
                }
                p
            }),
        };
        let packet = PublishPacket {
            topic: message.topic_bytes.clone(),
            qos: delivery.qos,
            retain: delivery.retain,
            dup: delivery.resend,
            pkid,
            payload: message.payload.clone(),
            properties,
            topic_alias: None,
        };
        let before = self.out.len();
        self.codec.encode(Outgoing::Publish(packet), &mut self.out);
        let size = self.out.len() - before;
        if self.max_packet_out.is_some_and(|max| size > max) {
            // Discarded as if sent (MQTT-3.1.2-25): not in flight, not resent.
            self.out.truncate(before);
            let details = format!(
                "The PUBLISH of {size} bytes exceeds the client's Maximum Packet Size of {} bytes",
                self.max_packet_out.unwrap_or_default()
            );
            self.log_publish_out_failure(&delivery, "PAYLOAD_LIMIT_EXCEEDED", details);
            if let Some(seq) = delivery.stored {
                self.broker.acknowledged_stored(&self.client.client_id, seq);
            }
            return;
        }
        if self.broker.shared.logs.enabled(LogLevel::Info) {
            self.unwritten.0.push((message.trace_id, message.topic.clone()));
        }
        if delivery.qos == 1 {
            self.inflight.push_back((pkid, Delivery { resend: true, ..delivery }));
        }
    }

    /// `out` reached the socket: the Publish-Out entries of its messages.
    pub(super) fn log_written(&mut self) {
        let logs = &self.broker.shared.logs;
        for (trace_id, topic) in self.unwritten.0.drain(..) {
            let entry = PublishOut { topic_name: topic, client: self.client.clone() };
            logs.success(trace_id, LogEntry::PublishOut(entry));
        }
    }

    /// `out` could not be written (the connection was lost or stalled): the messages in it did
    /// not go out, and their Publish-Out entries say so.
    pub(super) fn log_unwritten(&mut self) {
        let logs = &self.broker.shared.logs;
        for (trace_id, topic) in self.unwritten.0.drain(..) {
            if logs.enabled(LogLevel::Error) {
                let entry = PublishOut { topic_name: topic, client: self.client.clone() };
                let details = "The connection ended before the message could be written to it";
                logs.failure(trace_id, LogEntry::PublishOut(entry), "CONNECTION_LOST", details);
            }
        }
    }

    fn log_publish_out_failure(&self, delivery: &Delivery, reason: &'static str, details: String) {
        let logs = &self.broker.shared.logs;
        if logs.enabled(LogLevel::Error) {
            let message = &delivery.message;
            let entry = PublishOut { topic_name: message.topic.clone(), client: self.client.clone() };
            logs.failure(message.trace_id, LogEntry::PublishOut(entry), reason, details);
        }
    }

    fn allocate_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
            let candidate = self.next_pkid;
            if !self.inflight.iter().any(|(id, _)| *id == candidate) {
                return candidate;
            }
        }
    }

    /// Unacknowledged and waiting QoS 1 deliveries, for the session to keep.
    pub(super) fn take_unacknowledged(&mut self) -> Vec<Delivery> {
        let inflight = std::mem::take(&mut self.inflight).into_iter().map(|(_, d)| d);
        inflight.chain(std::mem::take(&mut self.pending)).collect()
    }
}
