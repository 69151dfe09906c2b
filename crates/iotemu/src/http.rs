//! The HTTP listener on the API port: the admin routes under `/_iotemu/` (and moto's reset
//! route), then every AWS service, chosen by the SigV4 credential scope (`iotemu_api::dispatch`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use iotemu_api::{ApiError, ServiceRouters};
use iotemu_registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the admin routes and the emulator-level operations need.
pub struct AdminState {
    pub ca_pem: String,
    pub account_id: String,
    pub region: String,
    pub broker: iotemu_broker::Broker,
    pub logs: iotemu_logs::EventSink,
    /// Recent and new entries, for `/_iotemu/logs`.
    pub tail: iotemu_logs::LiveTail,
    pub registry: Arc<Registry>,
    pub logging: Arc<iotemu_cwlogs::v2_logging::Logging>,
    /// Registry and jobs event configurations and their publisher.
    pub events: Arc<crate::events::EventPublisher>,
    /// The topic rules of the `iot` API.
    pub topic_rules: Arc<iotemu_rules::TopicRules>,
    /// The Device Shadow service (its `iot-data` routes).
    pub shadows: Arc<iotemu_shadow::ShadowRequests>,
    /// The Jobs service (its `iot` and `iot-jobs-data` routes).
    pub jobs: Arc<iotemu_jobs::Jobs>,
    /// AWS IoT Core for LoRaWAN (its `iotwireless` routes).
    pub wireless: Arc<iotemu_wireless::Wireless>,
    /// The fleet provisioning service (its `iot` routes).
    pub provisioning: Arc<iotemu_provisioning::Provisioning>,
    /// Fleet indexing and dynamic thing groups (their `iot` routes).
    pub index: Arc<iotemu_index::Index>,
    /// The rules engine, for its overflow count.
    pub rules_engine: iotemu_rules::RulesEngine,
    /// The CloudWatch Logs service over the log store.
    pub cloudwatch: Arc<iotemu_cwlogs::Logs>,
    /// Entries the log store missed because its queue was full (`None`: the store is off).
    pub log_store_missed: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Entries the store has yet to write (its queue and spool).
    pub log_store_backlog: Option<iotemu_cwlogs::Backlog>,
    /// The plain MQTT address (the console's demo device connects there).
    pub mqtt_addr: SocketAddr,
    /// The MQTTS and API addresses, for DescribeEndpoint.
    pub mqtts_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Custom authorizers (their `iot` routes).
    pub authorizers: Arc<iotemu_authorizers::Authorizers>,
    /// MQTT over WebSockets at `/mqtt` (SigV4-presigned).
    pub websockets: Arc<crate::websocket::WebSockets>,
}

/// The API port's router.
pub fn router(state: Arc<AdminState>) -> Router {
    let endpoints = iotemu_dataplane::Endpoints { mqtts: state.mqtts_addr, api: state.api_addr };
    let iot = iotemu_dataplane::endpoint_routes(endpoints)
        .merge(iotemu_registry::routes(state.registry.clone()))
        .merge(iotemu_cwlogs::v2_logging::routes(state.logging.clone()))
        .merge(crate::events::routes(state.events.clone()))
        .merge(iotemu_rules::http::routes(state.topic_rules.clone()))
        .merge(iotemu_jobs::http::control_routes(state.jobs.clone()))
        .merge(iotemu_provisioning::http::routes(state.provisioning.clone()))
        .merge(iotemu_authorizers::routes(state.authorizers.clone()))
        .merge(iotemu_index::http::routes(state.index.clone()));
    let services = ServiceRouters::new(state.account_id.clone(), state.region.clone())
        .with("iot", iot)
        .with("logs", iotemu_cwlogs::routes(state.cloudwatch.clone()))
        .with("iotdata", iotdata_routes(&state))
        .with("iot-jobs-data", iotemu_jobs::http::data_routes(state.jobs.clone()))
        .with("iotwireless", iotemu_wireless::http::routes(state.wireless.clone()));
    let websocket =
        Router::new().route("/mqtt", get(crate::websocket::on_api_port)).with_state(state.websockets.clone());
    let admin = Router::new()
        .route("/_iotemu/health", get(health))
        .route("/_iotemu/ca.pem", get(ca_pem))
        .route("/_iotemu/connections", get(connections))
        .route("/_iotemu/reset", post(reset))
        // The same, for suites written against moto's server mode.
        .route("/moto-api/reset", post(reset))
        .merge(crate::live_tail::routes(state.tail.clone()))
        .merge(crate::console::routes(state.clone()))
        .with_state(state);
    admin.merge(websocket).merge(Router::new().fallback(page_or_service).with_state(services))
}

/// A browser's `GET /` gets the console; everything else goes to the AWS service its SigV4
/// credential scope names.
async fn page_or_service(
    services: State<ServiceRouters>,
    request: axum::extract::Request,
) -> axum::response::Response {
    if crate::console::is_page_request(&request) {
        return crate::console::page();
    }
    iotemu_api::dispatch(services, request).await
}

/// The `iotdata` router: the data-plane operations (the shadow routes join here).
pub fn iotdata_routes(state: &AdminState) -> Router {
    let data_plane = iotemu_dataplane::DataPlane::new(state.broker.clone(), state.logs.clone());
    iotemu_dataplane::routes(Arc::new(data_plane)).merge(iotemu_shadow::http::routes(state.shadows.clone()))
}

async fn health(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "accountId": state.account_id,
        "region": state.region,
        "connections": state.broker.connection_count(),
        "logLevel": state.logs.filter().to_string(),
        // Entries the log pipeline dropped: a sink took nothing for [logging] max_wait (a full batch
        // otherwise makes producers wait), or could not write them (a full disk).
        "logEntriesDropped": state.logs.dropped(),
        // Entries the log store missed (its own queue was full); stdout and the file have them.
        "logStoreMissed": state.log_store_missed.as_ref().map(|m| m.load(std::sync::atomic::Ordering::Relaxed)),
        "logStoreBacklog": state.log_store_backlog.as_ref().map(|b| b.entries()),
        // Messages a rule did not process because the rules queue was full ([rules] queue_capacity).
        "rulesQueueFull": state.rules_engine.overflowed(),
        // Deliveries dropped because the client read too slowly (its backlog, [limits]
        // connection_queue and connection_queue_bytes, was full): Publish-Out Failures THROTTLED.
        "publishOutThrottled": state.broker.throttled_count(),
        // QoS 1 messages not kept because an offline session's queue ([limits] offline_queue) was full.
        "offlineQueueDropped": state.broker.offline_dropped_count(),
        // Entries live-tail readers (the console, `iotemu logs tail -f`) lost because they fell
        // behind: the log writer never waits for them.
        "liveTailLagged": state.tail.lagged(),
    }))
}

/// `GET /_iotemu/connections`: `{"connections": [...]}`, the clients connected now (client id,
/// principal, protocol, MQTT version, source, since when), read from the broker's session table.
async fn connections(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    let clients = iotemu_core::Connections::connected_clients(&state.broker);
    Json(serde_json::json!({ "connections": clients }))
}

async fn ca_pem(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], state.ca_pem.clone())
}

/// Wipes the control-plane state of every account.
async fn reset(State(state): State<Arc<AdminState>>) -> Result<Json<serde_json::Value>, ApiError> {
    state.registry.reset()?;
    state.shadows.shadows.reset()?;
    state.topic_rules.reset()?;
    state.jobs.reset()?;
    state.wireless.reset()?;
    state.provisioning.reset()?;
    state.index.reset();
    state.authorizers.reset()?;
    state.logging.reset();
    state.events.reset();
    state.cloudwatch.store.clear()?;
    state.cloudwatch.queries.clear();
    Ok(Json(serde_json::json!({ "reset": true })))
}
