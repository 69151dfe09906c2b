//! One shadow request, whichever way it came (MQTT reserved topic or `iot-data` HTTP): the
//! operation, its answers published through the broker as ordinary messages (`/accepted` or
//! `/rejected`, then `/update/delta` and `/update/documents` when AWS publishes them), and its
//! GetThingShadow, UpdateThingShadow or DeleteThingShadow entry.
//!
//! The answers reach only the clients subscribed to them, with their Publish-Out entries and
//! `iot:Receive` checked at delivery (the broker does that). They are sent at QoS 1 from the
//! service itself, so an MQTT 5 `noLocal` subscription of the requester still gets them.
//!
//! Entry choices (`docs/aws-behaviour.md` §6): `deviceShadowName` is the thing name, for named
//! shadows too; `topicName` is the request's reserved topic, also for HTTP requests; a rejected
//! request writes its entry as a Failure with `reason` = AWS's exception name for the code (for
//! example `ConflictException`) and `details` = the rejected payload's message.

use crate::mqtt::{Operation, ShadowRequest};
use crate::{client_token_of, get_document, rejected, ShadowError, Shadows};
use iotemu_core::Scope;
use iotemu_core::{
    ClientInfo, Clock, IndexChange, IndexFeed, OutboundMessage, Protocol, Publisher, ServiceError, TraceId,
};
use iotemu_logs::{EventSink, LogEntry, LogLevel, ShadowEntry};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// The shadow service with what it needs to answer: the broker's [`Publisher`] and the log.
pub struct ShadowRequests {
    pub shadows: Arc<Shadows>,
    publisher: Arc<dyn Publisher>,
    logs: EventSink,
    /// The documents' and answers' timestamps.
    clock: Arc<dyn Clock>,
    /// The fleet index, told of every accepted update and delete ([`ShadowRequests::attach_index`]).
    index: OnceLock<Arc<dyn IndexFeed>>,
}

/// An accepted request's payload and, for an update, its `/delta` (if any) and `/documents`.
type Accepted = (Value, Option<(Option<Value>, Value)>);

/// A rejected request: the error and the `/rejected` payload (also the HTTP error body).
#[derive(Debug)]
pub struct Rejection {
    pub error: ShadowError,
    pub payload: Value,
}

/// The source of the service's own messages: no client.
fn service_source() -> Arc<ClientInfo> {
    static SOURCE: OnceLock<Arc<ClientInfo>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
            Arc::new(ClientInfo::new(Protocol::Mqtt, "", "iotemu-device-shadow", unspecified))
        })
        .clone()
}

impl ShadowRequests {
    pub fn new(
        shadows: Arc<Shadows>,
        publisher: Arc<dyn Publisher>,
        logs: EventSink,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ShadowRequests { shadows, publisher, logs, clock, index: OnceLock::new() }
    }

    /// Tells `index` of every accepted update and delete from now on.
    pub fn attach_index(&self, index: Arc<dyn IndexFeed>) {
        let _ = self.index.set(index);
    }

    /// Now, in epoch seconds, by the service's clock.
    pub fn now_secs(&self) -> u64 {
        self.clock.now_secs()
    }

    /// Runs `request` for `client` (whose request has `trace_id`: the Publish-In's for MQTT),
    /// publishes its answers and writes its entry, and waits for it: the accepted payload, or the
    /// rejection (UpdateThingShadow and the others over HTTP).
    pub fn handle(
        self: &Arc<Self>,
        scope: &Scope,
        client: &Arc<ClientInfo>,
        trace_id: TraceId,
        request: &ShadowRequest<'_>,
        payload: &[u8],
    ) -> Result<Value, Rejection> {
        let (reply, replied) = std::sync::mpsc::sync_channel(1);
        self.handle_then(scope, client, trace_id, request, payload, move |outcome| {
            let _ = reply.send(outcome);
        });
        replied.recv().unwrap_or_else(|_| {
            let error = ShadowError::internal();
            let payload = rejected(&error, client_token_of(payload).as_deref(), self.now_secs());
            Err(Rejection { error, payload })
        })
    }

    /// [`ShadowRequests::handle`] for a request that came over MQTT, without waiting: the
    /// requester's connection reads its next packet meanwhile and no runtime worker blocks on
    /// SQLite. The answers go out as they do for every request.
    pub fn handle_without_waiting(
        self: &Arc<Self>,
        scope: &Scope,
        client: &Arc<ClientInfo>,
        trace_id: TraceId,
        request: &ShadowRequest<'_>,
        payload: &[u8],
    ) {
        self.handle_then(scope, client, trace_id, request, payload, |_| {});
    }

    /// Runs `request`, and once it is done writes its entry, publishes its answers (`/accepted`
    /// or `/rejected`, `/delta`, `/documents`) and calls `reply` with the outcome. An update or
    /// delete is answered from the shadow writer's thread after its commit, in the order the
    /// requests came, so a device hears of its updates in order; a get queued behind pending
    /// updates sees them.
    fn handle_then(
        self: &Arc<Self>,
        scope: &Scope,
        client: &Arc<ClientInfo>,
        trace_id: TraceId,
        request: &ShadowRequest<'_>,
        payload: &[u8],
        reply: impl FnOnce(Result<Value, Rejection>) + Send + 'static,
    ) {
        let now = self.now_secs();
        let token = client_token_of(payload);
        let (thing, name, operation) =
            (request.thing.to_string(), request.name.map(str::to_owned), request.operation);
        let (this, owner, requester) = (self.clone(), scope.clone(), client.clone());
        // Publishing may start tasks (rules' remote actions): the writer's thread enters the runtime.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let token_for_answer = token.clone();
        let finish = move |result: Result<Accepted, ShadowError>| {
            let _entered = runtime.as_ref().map(|r| r.enter());
            let request = ShadowRequest { thing: &thing, name: name.as_deref(), operation };
            let token = token_for_answer.as_deref();
            reply(this.finish(&owner, &requester, trace_id, &request, token, now, result));
        };
        let (thing, name) = (request.thing, request.name);
        match operation {
            Operation::Get => self.shadows.get_thing_shadow_then(scope, thing, name, move |result| {
                let document = result.map(|doc| (get_document(&doc, token.as_deref(), now), None));
                finish(document)
            }),
            Operation::Update => {
                self.shadows.update_thing_shadow_then(scope, thing, name, payload, now, move |result| {
                    finish(result.map(|outcome| (outcome.accepted, Some((outcome.delta, outcome.documents)))))
                })
            }
            Operation::Delete => self.shadows.delete_thing_shadow_then(
                scope,
                thing,
                name,
                token.as_deref(),
                now,
                move |result| finish(result.map(|answer| (answer, None))),
            ),
        }
    }

    /// Writes a request's entry and publishes its answers, given its outcome.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        scope: &Scope,
        client: &Arc<ClientInfo>,
        trace_id: TraceId,
        request: &ShadowRequest<'_>,
        token: Option<&str>,
        now: u64,
        result: Result<Accepted, ShadowError>,
    ) -> Result<Value, Rejection> {
        let thing = request.thing;
        let entry = ShadowEntry {
            protocol: client.protocol,
            device_shadow_name: thing.into(),
            topic_name: request.topic().into(),
            client: Some(client.clone()),
        };
        match result {
            // The entry comes first, then the answers' Publish-Out entries.
            Ok((accepted, update)) => {
                if let (Some(index), false) = (self.index.get(), request.operation == Operation::Get) {
                    index.changed(IndexChange::Shadow { scope: scope.clone(), thing: thing.to_string() });
                }
                if self.logs.enabled(LogLevel::Info) {
                    self.logs.success(trace_id, entry_of(request.operation, entry));
                }
                self.answer(request.answer_topic("accepted"), &accepted, trace_id);
                if let Some((delta, documents)) = update {
                    if let Some(delta) = delta {
                        self.answer(request.answer_topic("delta"), &delta, trace_id);
                    }
                    self.answer(request.answer_topic("documents"), &documents, trace_id);
                }
                Ok(accepted)
            }
            Err(error) => {
                if self.logs.enabled(LogLevel::Error) {
                    let details = error.message.clone();
                    let entry = entry_of(request.operation, entry);
                    self.logs.failure(trace_id, entry, error.error_type(), details);
                }
                let payload = rejected(&error, token, now);
                self.answer(request.answer_topic("rejected"), &payload, trace_id);
                Err(Rejection { error, payload })
            }
        }
    }

    /// Delivers one answer to its subscribers.
    fn answer(&self, topic: String, payload: &Value, trace_id: TraceId) {
        let mut message = OutboundMessage::new(topic, payload.to_string(), trace_id);
        message.qos = 1;
        if let Err(e) = self.publisher.deliver(&service_source(), message) {
            tracing::warn!(error = %e, "a shadow answer could not be published");
        }
    }
}

fn entry_of(operation: Operation, entry: ShadowEntry) -> LogEntry {
    match operation {
        Operation::Get => LogEntry::GetThingShadow(entry),
        Operation::Update => LogEntry::UpdateThingShadow(entry),
        Operation::Delete => LogEntry::DeleteThingShadow(entry),
    }
}
