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
//! - a custom authorizer named by the `x-amz-customauthorizer-name` header or query parameter
//!   (`custom-auth.md`; the token under the authorizer's `tokenKeyName` and
//!   `x-amz-customauthorizer-signature` beside it): the authorizer decides at CONNECT, with the
//!   upgrade's headers and query in its event (`iotemu_authorizers`);
//! - on the device port, a client certificate (WSS with mutual TLS): the certificate's id, its IoT
//!   policies enforced as over MQTT;
//! - on the device port, nothing of these: the custom authorizer the MQTT user name names, or the
//!   default one, decides at CONNECT (the AWS IoT Device SDK's `websockets_with_custom_authorizer`
//!   puts the authorizer's name and token in the user name);
//! - nothing on the API port: 403 ForbiddenException `Missing Authentication Token`.

use crate::device::{forbidden, DevicePeer, DeviceState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use iotemu_broker::{Auth, Broker, CustomAuthContext, Lifetime};
use iotemu_core::HttpRequestContext;
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
    /// The plain API port's address (the entries' target of its WebSockets).
    pub api_addr: SocketAddr,
}

/// The name of a custom authorizer in a WebSocket's headers or query (`custom-auth.md`).
const AUTHORIZER_NAME: &str = "x-amz-customauthorizer-name";

/// Whether the upgrade request names a custom authorizer.
fn names_authorizer(headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
    headers.contains_key(AUTHORIZER_NAME) || query.contains_key(AUTHORIZER_NAME)
}

/// A connection a custom authorizer decides at CONNECT, with the upgrade's headers and query.
fn custom(headers: &HeaderMap, raw_query: Option<String>, sni: Option<String>, local: SocketAddr) -> Auth {
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let http = HttpRequestContext { headers, query_string: raw_query.unwrap_or_default() };
    Auth::Custom(CustomAuthContext { sni, local, http: Some(http) })
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

/// `GET /mqtt` on the plain API port: SigV4-presigned, or a custom authorizer's headers or query.
pub async fn on_api_port(
    State(ws): State<Arc<WebSockets>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let who = if let Some(access_key) = presigned_access_key(&query) {
        Auth::Principal { principal: access_key.into(), enforced: false }
    } else if names_authorizer(&headers, &query) {
        custom(&headers, raw_query, None, ws.api_addr)
    } else {
        return forbidden("Missing Authentication Token");
    };
    accept(ws, upgrade, peer, who)
}

/// `GET /mqtt` on the device port: SigV4-presigned, else a custom authorizer's headers or query,
/// else the client certificate, else the custom authorizer of the MQTT user name (or the default).
pub async fn on_device_port(
    State(state): State<Arc<DeviceState>>,
    ConnectInfo(device): ConnectInfo<DevicePeer>,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let who = match (presigned_access_key(&query), device.certificate_id) {
        (Some(access_key), _) => Auth::Principal { principal: access_key.into(), enforced: false },
        (None, Some(certificate_id)) if !names_authorizer(&headers, &query) => {
            Auth::Principal { principal: certificate_id, enforced: true }
        }
        (None, _) => custom(&headers, raw_query, device.sni, device.local),
    };
    accept(state.websockets.clone(), upgrade, device.peer, who)
}

/// The upgrade request, read after authentication (an unauthenticated request is a 403 whatever
/// its headers).
type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// Upgrades to subprotocol `mqtt` and hands the connection to the broker.
fn accept(ws: Arc<WebSockets>, upgrade: Upgrade, peer: SocketAddr, who: Auth) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.protocols(["mqtt"]).on_upgrade(move |socket| async move {
        let (ours, broker_side) = tokio::io::duplex(BRIDGE_BUFFER);
        let lifetime = Lifetime { limit: ws.ttl, reason: DisconnectReason::WebsocketTtlExpiration };
        ws.broker.spawn_connection(broker_side, peer, who, Some(lifetime));
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
