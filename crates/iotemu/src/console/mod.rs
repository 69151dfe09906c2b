//! The console: a page served on the API port at `GET /` (a browser's GET, which carries no AWS
//! credentials; every AWS call does and still goes to its service), plain HTML, CSS and
//! JavaScript embedded in the binary (no build step, no CDN). It shows the live entries from
//! `/_iotemu/logs/stream` grouped by traceId, the map of every entry iotemu writes with what
//! each attribute means (`GET /_iotemu/spec`, the repository's `spec/` files), the demo device
//! (`POST /_iotemu/demo/<action>`, see [`demo`]), the emulator's state, and Logs Insights
//! queries through the `logs` API.

pub mod demo;

use crate::http::AdminState;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The spec files, embedded (the same files `iotemu check-entries` reads).
const SPEC: &[(&str, &str)] = &[
    ("common", include_str!("../../../../spec/common.json")),
    ("broker", include_str!("../../../../spec/broker.json")),
    ("shadow", include_str!("../../../../spec/shadow.json")),
    ("rules", include_str!("../../../../spec/rules.json")),
    ("jobs", include_str!("../../../../spec/jobs.json")),
    ("provisioning", include_str!("../../../../spec/provisioning.json")),
    ("dynamic-groups", include_str!("../../../../spec/dynamic-groups.json")),
    ("lorawan", include_str!("../../../../spec/lorawan.json")),
];

/// The console's routes under `/_iotemu/`.
pub fn routes<S: Clone + Send + Sync + 'static>(state: Arc<AdminState>) -> Router<S> {
    Router::new()
        .route("/_iotemu/console/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/_iotemu/console/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/_iotemu/spec", get(spec))
        .route("/_iotemu/demo/{action}", post(demo_action))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Whether `request` is a browser asking for the page: `GET /` (or `HEAD /`) without SigV4
/// credentials in a header or the query string and without an `X-Amz-Target`.
pub fn is_page_request(request: &Request) -> bool {
    let h = request.headers();
    matches!(*request.method(), Method::GET | Method::HEAD)
        && request.uri().path() == "/"
        && !h.contains_key(header::AUTHORIZATION)
        && !h.contains_key("x-amz-target")
        && !request.uri().query().is_some_and(|q| q.contains("X-Amz-Credential"))
}

/// The page.
pub fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /_iotemu/spec`: `{"common": ..., "components": {"broker": ..., ...}}`.
async fn spec() -> Response {
    let mut components = serde_json::Map::new();
    let mut common = serde_json::Value::Null;
    for (name, text) in SPEC {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        if *name == "common" {
            common = value;
        } else {
            components.insert(name.to_string(), value);
        }
    }
    Json(serde_json::json!({ "common": common, "components": components })).into_response()
}

async fn demo_action(State(state): State<Arc<AdminState>>, Path(action): Path<String>) -> Response {
    match demo::run(state, &action).await {
        Ok(done) => Json(done).into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "__type": "InvalidRequestException", "message": message })),
        )
            .into_response(),
    }
}
