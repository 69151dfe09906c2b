//! MQTT over WebSockets at `/mqtt` (subprotocol `mqtt`), on the device port (WSS, AWS's 443) and
//! on the plain API port (WS, for local tools), as `protocols.md` describes. Each binary frame
//! carries MQTT bytes; the broker serves the connection as any other ([`Broker::spawn_connection`])
//! and cuts it after the WebSocket TTL (WEBSOCKET_TTL_EXPIRATION, AWS: 24 hours).
//!
//! Authentication (`docs/aws-behaviour.md` §20):
//! - a SigV4-presigned query (`X-Amz-Algorithm=AWS4-HMAC-SHA256`, `X-Amz-Credential`,
//!   `X-Amz-Date`, `X-Amz-Signature`, optional `X-Amz-Security-Token`): accepted as the API port
//!   accepts SigV4 (the signature is not verified: iotemu has no IAM). The principal is the access
//!   key id; IAM policies are not evaluated, so IoT policies do not apply (AWS checks an IAM
//!   identity's IAM policies, not IoT policies, except for Cognito identities);
//! - on the device port, a client certificate (WSS with mutual TLS): the certificate's id, its IoT
//!   policies enforced as over MQTT;
//! - nothing else: 403 ForbiddenException `Missing Authentication Token`.

use crate::device::{forbidden, DevicePeer, DeviceState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use iotemu_broker::{Broker, Lifetime};
use iotemu_logs::DisconnectReason;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Bytes buffered between a WebSocket and the broker in each direction.
const BRIDGE_BUFFER: usize = 64 * 1024;

/// What the `/mqtt` routes need.
pub struct WebSockets {
    pub broker: Broker,
    /// How long a WebSocket connection may last (AWS: 24 hours).
    pub ttl: Duration,
}

/// Who authenticated a WebSocket connection.
struct Authenticated {
    principal: Arc<str>,
    /// Whether IoT policies apply.
    enforced: bool,
}

/// The access key id of a SigV4-presigned query, when it has every member AWS requires.
fn presigned_access_key(query: &HashMap<String, String>) -> Option<&str> {
    if query.get("X-Amz-Algorithm").map(String::as_str) != Some("AWS4-HMAC-SHA256") {
        return None;
    }
    if !query.contains_key("X-Amz-Date") || query.get("X-Amz-Signature").is_none_or(|s| s.is_empty()) {
        return None;
    }
    let credential = query.get("X-Amz-Credential")?;
    // AKID/date/region/service/aws4_request
    let mut parts = credential.split('/');
    let access_key = parts.next().filter(|k| !k.is_empty())?;
    (parts.count() == 4).then_some(access_key)
}

/// `GET /mqtt` on the plain API port: SigV4-presigned only.
pub async fn on_api_port(
    State(ws): State<Arc<WebSockets>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Upgrade,
) -> Response {
    let Some(access_key) = presigned_access_key(&query) else {
        return forbidden("Missing Authentication Token");
    };
    let who = Authenticated { principal: access_key.into(), enforced: false };
    accept(ws, upgrade, peer, who)
}

/// `GET /mqtt` on the device port: SigV4-presigned, else the client certificate.
pub async fn on_device_port(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Upgrade,
) -> Response {
    let who = match (presigned_access_key(&query), device.certificate_id) {
        (Some(access_key), _) => Authenticated { principal: access_key.into(), enforced: false },
        (None, Some(certificate_id)) => Authenticated { principal: certificate_id, enforced: true },
        (None, None) => return forbidden("Missing Authentication Token"),
    };
    accept(state.websockets.clone(), upgrade, device.peer, who)
}

/// The upgrade request, read after authentication (an unauthenticated request is a 403 whatever
/// its headers).
type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// Upgrades to subprotocol `mqtt` and hands the connection to the broker.
fn accept(ws: Arc<WebSockets>, upgrade: Upgrade, peer: SocketAddr, who: Authenticated) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.protocols(["mqtt"]).on_upgrade(move |socket| async move {
        let (ours, broker_side) = tokio::io::duplex(BRIDGE_BUFFER);
        let lifetime = Lifetime { limit: ws.ttl, reason: DisconnectReason::WebsocketTtlExpiration };
        ws.broker.spawn_connection(broker_side, peer, who.principal, who.enforced, Some(lifetime));
        bridge(socket, ours).await;
    })
}

/// Copies binary frames to the broker's side and the broker's bytes back as binary frames,
/// until either side closes.
async fn bridge(mut socket: WebSocket, io: DuplexStream) {
    let (mut from_broker, mut to_broker) = tokio::io::split(io);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_broker.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // MQTT travels in binary frames only; a text frame, a Close frame or an error
                // ends the connection.
                Some(Ok(Message::Text(_) | Message::Close(_))) | Some(Err(_)) | None => break,
            },
            read = from_broker.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    close_after_broker(socket).await;
                    return;
                }
                Ok(n) => {
                    if socket.send(Message::Binary(bytes::Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = to_broker.shutdown().await;
}

/// The broker ended the connection (after a DISCONNECT, a refusal or a limit): the WebSocket
/// closing handshake (RFC 6455 §7.1.1) sends a Close frame and waits briefly for the client's,
/// so that a client still writing (its own Close, a last PUBACK) does not meet a reset socket.
async fn close_after_broker(mut socket: WebSocket) {
    if socket.send(Message::Close(None)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
