//! The HTTP listener on the API port. For now only the admin routes under `/_iotemu/`; the AWS
//! service APIs (`iot`, `iot-data`, `iot-jobs-data`, `logs`) join this router as they arrive.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// What the admin routes can report.
pub struct AdminState {
    pub ca_pem: String,
    pub account_id: String,
    pub region: String,
    pub broker: iotemu_broker::Broker,
    pub logs: iotemu_logs::EventSink,
}

/// The API port's router.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/_iotemu/health", get(health))
        .route("/_iotemu/ca.pem", get(ca_pem))
        .with_state(state)
}

async fn health(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "accountId": state.account_id,
        "region": state.region,
        "connections": state.broker.connection_count(),
        "logLevel": state.logs.filter().to_string(),
        // Entries the log pipeline dropped because its queue was full (it never blocks the broker).
        "logEntriesDropped": state.logs.dropped(),
    }))
}

async fn ca_pem(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], state.ca_pem.clone())
}
