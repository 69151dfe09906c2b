//! The LNS endpoint: `GET /router-info` (discovery: the station sends `{"router": EUI}` and
//! gets the URI of its traffic socket, or an `error` when the gateway is not registered) and
//! `GET /traffic/{eui}` (the gateway's socket; refused with 404 unless a wireless gateway has
//! that GatewayEui). Plain `ws://` on loopback: point the station's `tc.uri` at
//! `ws://127.0.0.1:<port>`.

use super::{dnmsg, id6, mux_time, parse, parse_station_eui, timesync, StationMessage};
use crate::frames::{hex, parse_eui};
use crate::network::Gateway;
use crate::region::Region;
use crate::Wireless;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest message a station may send (its biggest, an `updf`, is well under 1 KB).
const MAX_MESSAGE: usize = 64 * 1024;

struct Lns {
    wireless: Arc<Wireless>,
    /// Downlink ids (`diid`), unique per emulator.
    diid: AtomicU64,
}

/// The LNS router; serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn routes(wireless: Arc<Wireless>) -> Router {
    let lns = Arc::new(Lns { wireless, diid: AtomicU64::new(1) });
    Router::new()
        .route("/router-info", get(router_info))
        .route("/traffic/{eui}", get(traffic))
        .with_state(lns)
}

/// Discovery: one request, one answer, then the socket closes.
async fn router_info(State(lns): State<Arc<Lns>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    ws.max_message_size(MAX_MESSAGE).on_upgrade(move |mut socket| async move {
        let Some(Ok(Message::Text(text))) = socket.recv().await else { return };
        let answer = discovery_answer(&lns.wireless, &host, &text);
        let _ = socket.send(Message::Text(answer.to_string().into())).await;
        let _ = socket.send(Message::Close(None)).await;
    })
}

/// The answer to a discovery request: the traffic URI of a registered gateway, else an error.
fn discovery_answer(wireless: &Wireless, host: &str, text: &str) -> Value {
    let router = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("router").cloned());
    let Some(eui) = router.as_ref().and_then(parse_station_eui) else {
        return json!({ "router": router, "error": "the request must be {\"router\": <EUI>}" });
    };
    if wireless.gateway_by_eui(&hex(&eui)).is_none() {
        return json!({ "router": id6(&eui), "error": format!("Gateway {} is not registered", hex(&eui)) });
    }
    json!({ "router": id6(&eui), "muxs": "muxs-::0", "uri": format!("ws://{host}/traffic/{}", hex(&eui)) })
}

async fn traffic(
    State(lns): State<Arc<Lns>>,
    Path(eui): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let eui = parse_eui(&eui).or_else(|| parse_station_eui(&Value::String(eui.clone())));
    let Some((scope, gateway)) = eui.and_then(|e| lns.wireless.gateway_by_eui(&hex(&e))) else {
        return (StatusCode::NOT_FOUND, "no wireless gateway has this GatewayEui").into_response();
    };
    let gateway =
        Gateway { scope, region: Region::of(&gateway.rf_region()), eui: gateway.eui(), id: gateway.id, peer };
    ws.max_message_size(MAX_MESSAGE).on_upgrade(move |socket| serve_gateway(lns, gateway, socket))
}

/// One gateway's socket: every station message in order, each answered on the same socket.
async fn serve_gateway(lns: Arc<Lns>, gateway: Gateway, socket: WebSocket) {
    tracing::debug!(eui = %gateway.eui, peer = %gateway.peer, "gateway connected");
    let (mut tx, mut rx) = socket.split();
    while let Some(Ok(message)) = rx.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Close(_) => break,
            _ => continue,
        };
        if lns.wireless.gateway_by_eui(&gateway.eui).is_none() {
            tracing::debug!(eui = %gateway.eui, "gateway deleted: closing its socket");
            break;
        }
        let (lns2, gateway2) = (lns.clone(), gateway.clone());
        // The network server commits sessions to SQLite: off the runtime's workers.
        let replies =
            tokio::task::spawn_blocking(move || answer(&lns2.wireless, &gateway2, &lns2.diid, &text))
                .await
                .unwrap_or_default();
        for reply in replies {
            if tx.send(Message::Text(reply.to_string().into())).await.is_err() {
                return;
            }
        }
    }
    tracing::debug!(eui = %gateway.eui, "gateway disconnected");
}

/// The answers to one station message of `gateway` (`diid` numbers the downlinks).
pub(crate) fn answer(wireless: &Wireless, gateway: &Gateway, diid: &AtomicU64, text: &str) -> Vec<Value> {
    let message = match parse(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(eui = %gateway.eui, error = %e, "station message ignored");
            return Vec::new();
        }
    };
    let downlink = match message {
        StationMessage::Version { station } => {
            tracing::debug!(eui = %gateway.eui, %station, "station version");
            return vec![gateway.region.router_config(mux_time())];
        }
        StationMessage::TimeSync { txtime } => return vec![timesync(txtime)],
        StationMessage::Join { request, radio } => wireless.join_request(gateway, &request, &radio),
        StationMessage::Uplink { frame, radio } => wireless.uplink(gateway, &frame, &radio),
        StationMessage::DownlinkTransmitted { diid } => {
            tracing::debug!(eui = %gateway.eui, diid, "downlink transmitted");
            None
        }
        StationMessage::Other(kind) => {
            tracing::debug!(eui = %gateway.eui, %kind, "station message not handled");
            None
        }
    };
    downlink.map(|d| dnmsg(&d, diid.fetch_add(1, Ordering::Relaxed), mux_time())).into_iter().collect()
}
