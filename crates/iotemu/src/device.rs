//! HTTPS on the device port (AWS's 443/8443 with ALPN `http/1.1`, `protocols.md`, `http.md`):
//! `POST /topics/{topic}?qos=` and the shadow's `GET`/`POST`/`DELETE /things/{thing}/shadow`
//! authenticated by the client certificate, and MQTT over WebSockets at `/mqtt`
//! ([`crate::websocket`]). The broker does the TLS handshake and hands HTTP connections here
//! ([`HttpsConnection`]); they are served by axum through [`DeviceListener`].
//!
//! The certificate's policies decide, as for MQTT: `iot:Publish` (and `iot:RetainPublish`) on the
//! topic, `iot:GetThingShadow`, `iot:UpdateThingShadow`, `iot:DeleteThingShadow` on
//! `thing/<thing>` (`thing/<thing>/<shadow>` for a named shadow). A request without a
//! certificate, or one its policies deny, is answered as AWS answers it: 403 ForbiddenException,
//! `{"message":"Missing Authentication Token"}` or `{"message":"Forbidden"}`, with a traceId.

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use axum::{Json, Router};
use bytes::Bytes;
use iotemu_broker::device_port::DeviceStream;
use iotemu_broker::HttpsConnection;
use iotemu_core::{ClientInfo, DeviceAuthorizer, IotAction, Protocol, Scope, TraceId};
use iotemu_dataplane::{DataPlane, DataPlaneError, Params};
use iotemu_shadow::mqtt::Operation;
use iotemu_shadow::ShadowRequests;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Who is at the other end of a device-port HTTP connection.
#[derive(Debug, Clone)]
pub struct DevicePeer {
    pub peer: SocketAddr,
    /// The device port's address it connected to.
    pub local: SocketAddr,
    /// The id of its ACTIVE client certificate, if it presented one.
    pub certificate_id: Option<Arc<str>>,
    /// The TLS SNI.
    pub sni: Option<String>,
}

/// The HTTP connections the broker hands over, as an axum listener.
pub struct DeviceListener {
    pub connections: mpsc::Receiver<HttpsConnection>,
    pub local: SocketAddr,
}

impl Listener for DeviceListener {
    type Io = DeviceStream;
    type Addr = DevicePeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(c) => {
                let peer =
                    DevicePeer { peer: c.peer, local: c.local, certificate_id: c.certificate_id, sni: c.sni };
                (c.stream, peer)
            }
            // The broker stopped accepting: nothing more comes (shutdown ends the server).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(DevicePeer { peer: self.local, local: self.local, certificate_id: None, sni: None })
    }
}

impl Connected<IncomingStream<'_, DeviceListener>> for DevicePeer {
    fn connect_info(stream: IncomingStream<'_, DeviceListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// What the device routes use.
pub struct DeviceState {
    pub data_plane: Arc<DataPlane>,
    pub shadows: Arc<ShadowRequests>,
    pub authorizer: Arc<dyn DeviceAuthorizer>,
    /// The account and region devices connect to.
    pub scope: Scope,
    pub websockets: Arc<crate::websocket::WebSockets>,
}

/// The device port's HTTP routes.
pub fn router(state: Arc<DeviceState>) -> Router {
    Router::new()
        .route("/topics/{*topic}", post(publish))
        .route(
            "/things/{thing}/shadow",
            get(get_thing_shadow).post(update_thing_shadow).delete(delete_thing_shadow),
        )
        .route("/mqtt", get(crate::websocket::on_device_port))
        .with_state(state)
}

/// AWS's 403 answer: ForbiddenException with `message` and a traceId.
pub fn forbidden(message: &str) -> Response {
    let body = json!({ "message": message, "traceId": TraceId::new().to_string() });
    (StatusCode::FORBIDDEN, [("x-amzn-ErrorType", "ForbiddenException")], Json(body)).into_response()
}

/// The identity of a device's HTTPS request (no client id over HTTPS, `http.md`).
fn device_client(certificate_id: &str, peer: SocketAddr) -> Arc<ClientInfo> {
    Arc::new(ClientInfo::new(Protocol::Http, iotemu_dataplane::HTTP_CLIENT_ID, certificate_id, peer))
}

/// Publish over HTTPS: the Publish-In entry has protocol HTTP and the certificate's id.
async fn publish(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    topic: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Params,
    headers: HeaderMap,
    payload: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(certificate_id) = device.certificate_id else {
        return forbidden("Missing Authentication Token");
    };
    let request = match iotemu_dataplane::publish_request(topic, query, &headers, payload) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let client = device_client(&certificate_id, device.peer);
    match state.data_plane.publish_as_device(&client, state.authorizer.as_ref(), request) {
        Ok(trace_id) => iotemu_dataplane::published(trace_id).into_response(),
        Err(DataPlaneError::Forbidden(m)) => forbidden(&m),
        Err(e) => iotemu_api::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize, Default)]
struct NameQuery {
    name: Option<String>,
}

async fn get_thing_shadow(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    Path(thing): Path<String>,
    q: iotemu_api::AwsQuery<NameQuery>,
) -> Response {
    shadow(state, device, thing, q, Operation::Get, Bytes::new()).await
}

async fn update_thing_shadow(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    Path(thing): Path<String>,
    q: iotemu_api::AwsQuery<NameQuery>,
    body: Bytes,
) -> Response {
    shadow(state, device, thing, q, Operation::Update, body).await
}

async fn delete_thing_shadow(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    Path(thing): Path<String>,
    q: iotemu_api::AwsQuery<NameQuery>,
) -> Response {
    shadow(state, device, thing, q, Operation::Delete, Bytes::new()).await
}

/// A shadow request of a device: its policies allow the operation on the thing (or the named
/// shadow), then the Device Shadow service answers as over the API port.
async fn shadow(
    state: Arc<DeviceState>,
    device: DevicePeer,
    thing: String,
    q: iotemu_api::AwsQuery<NameQuery>,
    operation: Operation,
    body: Bytes,
) -> Response {
    let Some(certificate_id) = device.certificate_id else {
        return forbidden("Missing Authentication Token");
    };
    let name = match iotemu_api::query(q) {
        Ok(q) => q.name,
        Err(e) => return e.into_response(),
    };
    let action = match operation {
        Operation::Get => IotAction::GetThingShadow,
        Operation::Update => IotAction::UpdateThingShadow,
        Operation::Delete => IotAction::DeleteThingShadow,
    };
    let resource = match &name {
        Some(shadow) => format!("{thing}/{shadow}"),
        None => thing.clone(),
    };
    let client = device_client(&certificate_id, device.peer);
    if !state.authorizer.authorize(&client, action, &resource) {
        return forbidden("Forbidden");
    }
    let caller = Arc::new(ClientInfo::new(Protocol::Http, "", &*certificate_id, device.peer));
    iotemu_shadow::http::serve_as(
        state.shadows.clone(),
        state.scope.clone(),
        caller,
        thing,
        name,
        operation,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
