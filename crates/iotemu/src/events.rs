//! Registry and jobs event messages (`iot-events.md`): UpdateEventConfigurations and
//! DescribeEventConfigurations of the `iot` API, and [`EventPublisher`], core's
//! [`ResourceEvents`] over the broker, which publishes an event only if its type is enabled in
//! the account and region. Every type is off until enabled, as on AWS. The configuration is kept
//! in the store (it survives a restart) and `POST /_iotemu/reset` turns everything off again.
//!
//! Lifecycle events (`$aws/events/presence/...`, `subscriptions/...`) are always on and come
//! from the broker itself. Choices where AWS is silent: events are QoS 1; their Publish-Out
//! entries carry a new traceId; `eventId` is a random UUID; DescribeEventConfigurations lists
//! every type (disabled ones as `Enabled: false`) and has no dates before the first update; an
//! unknown type in UpdateEventConfigurations is an InvalidRequestException.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use iotemu_api::{ApiContext, ApiError, AwsJson};
use iotemu_core::{
    ClientInfo, EventConfigurationType, OutboundMessage, Protocol, Publisher, ResourceEvent, ResourceEvents,
    TraceId,
};
use iotemu_store::{Scope, Store};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

const KIND: &str = "event-configurations";
const KEY: &str = "configuration";

/// One account and region's configuration, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    enabled: BTreeSet<String>,
    /// Epoch milliseconds.
    creation_date: u64,
    last_modified_date: u64,
}

/// The event configurations of every account and region, and the publisher of their events.
pub struct EventPublisher {
    store: Arc<Store>,
    logs: iotemu_logs::EventSink,
    /// Set once the broker exists.
    publisher: OnceLock<Arc<dyn Publisher>>,
    configurations: RwLock<HashMap<Scope, Configuration>>,
}

impl EventPublisher {
    /// Loads the stored configurations.
    pub fn load(store: Arc<Store>, logs: iotemu_logs::EventSink) -> Result<Self, ApiError> {
        let mut configurations = HashMap::new();
        for doc in store.all(KIND).map_err(internal)? {
            if let Ok(c) = serde_json::from_value::<Configuration>(doc.value) {
                configurations.insert(doc.scope, c);
            }
        }
        Ok(EventPublisher {
            store,
            logs,
            publisher: OnceLock::new(),
            configurations: RwLock::new(configurations),
        })
    }

    /// Publishes through `publisher` from now on.
    pub fn attach(&self, publisher: Arc<dyn Publisher>) {
        let _ = self.publisher.set(publisher);
    }

    /// Everything off (`POST /_iotemu/reset`; the store is cleared by the registry's reset).
    pub fn reset(&self) {
        self.configurations.write().clear();
    }

    /// UpdateEventConfigurations: the types named are set, the others left as they are.
    fn update_event_configurations(
        &self,
        scope: &Scope,
        changes: BTreeMap<String, bool>,
    ) -> Result<(), ApiError> {
        for name in changes.keys() {
            if EventConfigurationType::parse(name).is_none() {
                return Err(ApiError::invalid_request(format!("Invalid event configuration type: {name}")));
            }
        }
        let now = self.logs.now_millis();
        let mut all = self.configurations.write();
        let mut next =
            all.get(scope).cloned().unwrap_or(Configuration { creation_date: now, ..Default::default() });
        for (name, enabled) in changes {
            if enabled {
                next.enabled.insert(name);
            } else {
                next.enabled.remove(&name);
            }
        }
        next.last_modified_date = now;
        let value = serde_json::to_value(&next).map_err(internal)?;
        self.store.put(KIND, scope, KEY, &value).map_err(internal)?;
        all.insert(scope.clone(), next);
        Ok(())
    }

    /// DescribeEventConfigurations.
    fn describe_event_configurations(&self, scope: &Scope) -> Value {
        let all = self.configurations.read();
        let configuration = all.get(scope);
        let map: Map<String, Value> = EventConfigurationType::ALL
            .iter()
            .map(|t| {
                let enabled = configuration.is_some_and(|c| c.enabled.contains(t.name()));
                (t.name().to_string(), json!({ "Enabled": enabled }))
            })
            .collect();
        let mut body = json!({ "eventConfigurations": map });
        if let Some(c) = configuration {
            body["creationDate"] = json!(c.creation_date as f64 / 1000.0);
            body["lastModifiedDate"] = json!(c.last_modified_date as f64 / 1000.0);
        }
        body
    }
}

/// Who publishes registry and jobs events, as the rules engine sees it.
fn source() -> &'static Arc<ClientInfo> {
    static SOURCE: OnceLock<Arc<ClientInfo>> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        Arc::new(ClientInfo::new(Protocol::Mqtt, "", "iotemu-events", unspecified))
    })
}

impl ResourceEvents for EventPublisher {
    fn enabled(&self, account: &str, region: &str, kind: EventConfigurationType) -> bool {
        let scope = Scope::new(account, region);
        self.configurations.read().get(&scope).is_some_and(|c| c.enabled.contains(kind.name()))
    }

    fn publish(&self, account: &str, region: &str, event: ResourceEvent) {
        if !self.enabled(account, region, event.kind) {
            return;
        }
        let Some(publisher) = self.publisher.get() else { return };
        let mut payload = Map::new();
        payload.insert("eventType".into(), json!(event.event_type));
        payload.insert("eventId".into(), json!(uuid::Uuid::new_v4().to_string()));
        payload.insert("timestamp".into(), json!(self.logs.now_millis()));
        if let Some(operation) = event.operation {
            payload.insert("operation".into(), json!(operation));
        }
        if event.with_account {
            payload.insert("accountId".into(), json!(account));
        }
        payload.extend(event.fields);
        let mut message =
            OutboundMessage::new(event.topic, Value::Object(payload).to_string(), TraceId::new());
        message.qos = 1;
        if let Err(e) = publisher.deliver(source(), message) {
            tracing::warn!(error = %e, "an event message could not be published");
        }
    }
}

/// The routes, for the `iot` service router.
pub fn routes(events: Arc<EventPublisher>) -> Router {
    Router::new()
        .route("/event-configurations", get(describe_event_configurations).patch(update_event_configurations))
        .with_state(events)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    #[serde(default)]
    event_configurations: BTreeMap<String, Enabled>,
}

#[derive(Deserialize)]
struct Enabled {
    #[serde(rename = "Enabled", default)]
    enabled: bool,
}

async fn update_event_configurations(
    State(events): State<Arc<EventPublisher>>,
    ctx: ApiContext,
    AwsJson(request): AwsJson<UpdateRequest>,
) -> Result<Json<Value>, ApiError> {
    let changes = request.event_configurations.into_iter().map(|(k, v)| (k, v.enabled)).collect();
    events.update_event_configurations(&scope(&ctx), changes)?;
    Ok(Json(json!({})))
}

async fn describe_event_configurations(
    State(events): State<Arc<EventPublisher>>,
    ctx: ApiContext,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(events.describe_event_configurations(&scope(&ctx))))
}

fn scope(ctx: &ApiContext) -> Scope {
    Scope::new(ctx.0.account.clone(), ctx.0.region.clone())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "InternalFailureException", e.to_string())
}
