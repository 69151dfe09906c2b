//! The data-plane operations: Publish (which writes the request's Publish-In entry),
//! GetRetainedMessage and ListRetainedMessages (their GetRetainedMessage and ListRetainedMessage
//! entries), DeleteConnection, and DescribeEndpoint. The broker is
//! reached only through the `iotemu_core` seams ([`Publisher`], [`Connections`],
//! [`RetainedMessages`]).

use crate::state::{check_publish_topic, endpoint_address, Endpoints};
use crate::DataPlaneError;
use bytes::Bytes;
use iotemu_api::paging::page;
use iotemu_core::{
    client_may_publish, ClientInfo, Connections, DeviceAuthorizer, IotAction, MessageProperties,
    OutboundMessage, Publisher, ReservedTopicRefusal, RetainedMessage, RetainedMessages, TraceId,
};
use iotemu_logs::{EventSink, GetRetainedMessage, LogEntry, LogLevel, PublishIn};
use std::sync::Arc;

/// What the `iot-data` operations use.
pub struct DataPlane {
    pub publisher: Arc<dyn Publisher>,
    pub connections: Arc<dyn Connections>,
    pub retained: Arc<dyn RetainedMessages>,
    pub logs: EventSink,
}

/// Publish's input.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub properties: Option<MessageProperties>,
}

impl DataPlane {
    /// A data plane over one broker (which implements every seam).
    pub fn new<B>(broker: B, logs: EventSink) -> Self
    where
        B: Publisher + Connections + RetainedMessages + Clone,
    {
        DataPlane {
            publisher: Arc::new(broker.clone()),
            connections: Arc::new(broker.clone()),
            retained: Arc::new(broker),
            logs,
        }
    }

    /// Publish: the message goes through the broker as `client` published it; its traceId. A
    /// reserved topic clients may not publish to (a shadow answer, an event, a `$` topic no
    /// service answers) is refused as MQTT refuses it, with its Publish-In Failure entry.
    pub fn publish(
        &self,
        client: &Arc<ClientInfo>,
        request: PublishRequest,
    ) -> Result<TraceId, DataPlaneError> {
        let PublishRequest { topic, payload, qos, retain, properties } = request;
        let trace_id = TraceId::new();
        let message = OutboundMessage {
            topic: topic.as_str().into(),
            payload,
            qos,
            retain,
            properties,
            trace_id,
            rule_chain: Vec::new(),
        };
        let entry =
            || LogEntry::PublishIn(PublishIn { topic_name: topic.as_str().into(), client: client.clone() });
        if let Err(refusal) = client_may_publish(&topic) {
            if self.logs.enabled(LogLevel::Error) {
                self.logs.failure(trace_id, entry(), ReservedTopicRefusal::REASON, refusal.to_string());
            }
            return Err(DataPlaneError::Unauthorized(refusal.to_string()));
        }
        check_publish_topic(&topic, retain)?;
        // The Publish-In entry comes before the deliveries' Publish-Out entries, as over MQTT: the
        // broker's checks run first, then the entry, then the publish.
        if let Err(refused) = self.publisher.check(&message) {
            if self.logs.enabled(LogLevel::Error) {
                self.logs.failure(trace_id, entry(), refused.reason(), refused.to_string());
            }
            return Err(refused.into());
        }
        if self.logs.enabled(LogLevel::Info) {
            self.logs.success(trace_id, entry());
        }
        self.publisher.publish(client, message)?;
        Ok(trace_id)
    }

    /// Publish over HTTPS with a client certificate (the device port): as [`Self::publish`],
    /// after the IoT policies of the certificate allow `iot:Publish` (and `iot:RetainPublish`
    /// for a retained message) on the topic; a denial is ForbiddenException (403) with the
    /// Publish-In Failure entry MQTT writes (AUTHORIZATION_FAILURE).
    pub fn publish_as_device(
        &self,
        client: &Arc<ClientInfo>,
        authorizer: &dyn DeviceAuthorizer,
        request: PublishRequest,
    ) -> Result<TraceId, DataPlaneError> {
        let allowed = authorizer.authorize(client, IotAction::Publish, &request.topic)
            && (!request.retain || authorizer.authorize(client, IotAction::RetainPublish, &request.topic));
        if !allowed {
            if self.logs.enabled(LogLevel::Error) {
                let entry = PublishIn { topic_name: request.topic.as_str().into(), client: client.clone() };
                self.logs.failure(
                    TraceId::new(),
                    LogEntry::PublishIn(entry),
                    "AUTHORIZATION_FAILURE",
                    "Authorization Failure",
                );
            }
            return Err(DataPlaneError::Forbidden("Forbidden".into()));
        }
        self.publish(client, request)
    }

    /// GetRetainedMessage, with its GetRetainedMessage entry ("GetRetainedMessage log entry"); a
    /// topic without a retained message is a Failure entry (RESOURCE_NOT_FOUND: AWS documents no
    /// failure of this entry).
    pub fn get_retained_message(&self, topic: &str) -> Result<RetainedMessage, DataPlaneError> {
        let found = self.retained.retained_message(topic);
        let entry = GetRetainedMessage {
            topic_name: topic.into(),
            found: found.as_ref().map(|m| (m.qos, m.last_modified)),
        };
        match found {
            Some(message) => {
                self.logs.success(TraceId::new(), LogEntry::GetRetainedMessage(entry));
                Ok(message)
            }
            None => {
                let error = format!("No retained message found for topic {topic}");
                self.logs.failure(
                    TraceId::new(),
                    LogEntry::GetRetainedMessage(entry),
                    "RESOURCE_NOT_FOUND",
                    error.clone(),
                );
                Err(DataPlaneError::NotFound(error))
            }
        }
    }

    /// ListRetainedMessages: in topic order, at most `max` after the topic `after`, and the last
    /// topic of the page when more follow; writes the ListRetainedMessage entry.
    pub fn list_retained_messages(
        &self,
        after: Option<&str>,
        max: usize,
    ) -> (Vec<RetainedMessage>, Option<String>) {
        self.logs.success(TraceId::new(), LogEntry::ListRetainedMessage);
        page(self.retained.retained_messages(), |m| &m.topic, after, max)
    }

    /// DeleteConnection: disconnects `client_id` (see [`Connections`]); 404 when it has neither
    /// a connection nor a session.
    pub fn delete_connection(
        &self,
        client_id: &str,
        clean_session: bool,
        prevent_will: bool,
    ) -> Result<(), DataPlaneError> {
        if !self.connections.disconnect_client(client_id, clean_session, prevent_will) {
            return Err(DataPlaneError::NotFound(format!(
                "No connection or session found for client {client_id}"
            )));
        }
        Ok(())
    }
}

impl Endpoints {
    /// DescribeEndpoint: the emulator's host name for `endpoint_type` (default `iot:Data`).
    pub fn describe_endpoint(&self, endpoint_type: Option<&str>) -> Result<String, DataPlaneError> {
        let addr = match endpoint_type {
            None | Some("iot:Data") | Some("iot:Data-ATS") => self.mqtts,
            Some("iot:CredentialProvider") | Some("iot:Jobs") => self.api,
            Some(other) => {
                return Err(DataPlaneError::InvalidRequest(format!("unknown endpointType {other:?}")))
            }
        };
        Ok(endpoint_address(addr))
    }
}
