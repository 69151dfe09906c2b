//! One task per client connection: CONNECT, then packets in and deliveries out until the
//! connection ends, then the Disconnect entry, the will and the session hand-back.
//!
//! AWS behaviour followed here (`docs/aws-behaviour.md`): QoS 2 is refused (§1:
//! 3.1.1 closes without an acknowledgement; MQTT 5 answers DISCONNECT 0x9B, or CONNACK 0x9B for a
//! QoS 2 will); a taken-over connection logs a Failure Disconnect with DUPLICATE_CLIENT_ID (§9)
//! and an MQTT 5 client gets DISCONNECT 0x8E; keep alive is enforced at 1.5x; retained messages
//! reach exact-match subscriptions only (§8).
//!
//! What the connection sends is in [`outbound`].

mod custom_auth;
mod outbound;

pub use custom_auth::{Auth, CustomAuthContext};

use crate::broker::{Attached, Broker};
use crate::codec::{
    decode_connect, ConnAckCode, ConnectPacket, Incoming, MqttCodec, MqttVersion, Outgoing, PublishPacket,
    SubscribeFilter, WillPacket,
};
use crate::session::{Delivery, Kick, Message, Session, SubOptions};
use crate::topic::{parse_filter, validate_topic_name};
use crate::violation::{Violation, AUTHORIZATION_FAILURE_DETAILS};
use bytes::{Bytes, BytesMut};
use iotemu_core::{ClientInfo, IotAction, Protocol, TraceId};
use iotemu_logs::{Connect, Disconnect, DisconnectReason, LogEntry, LogLevel, Ping, PublishIn, Subscribe};
use outbound::Unwritten;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

/// Bytes a busy connection reads at a time; the buffer grows for larger packets.
const READ_CHUNK: usize = 2048;

/// The read buffer of a quiet connection: enough for pings and small messages.
const IDLE_READ_BUFFER: usize = 256;

/// The `reason` of the Connect Failure entry of a client that tried, on a port without IoT
/// policies, to take over the session of another principal (an iotemu code: AWS has no such port).
const CROSS_PRINCIPAL_TAKEOVER: &str = "CROSS_PRINCIPAL_TAKEOVER";

/// How long a write to a client may block before the connection counts as lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection ended.
enum Exit {
    ClientDisconnect {
        send_will: bool,
    },
    ConnectionLost,
    KeepAliveTimeout,
    ClientError(Violation),
    TakenOver,
    /// The certificate stopped being ACTIVE (reason code of AWS's AuthN errors), or an IoT
    /// policy denied a 3.1.1 PUBLISH or SUBSCRIBE (AUTHORIZATION_FAILURE).
    AuthError(&'static str),
    ServerShutdown,
    /// iot-data DeleteConnection.
    Api {
        clean_session: bool,
        prevent_will: bool,
    },
    /// The connection outlived its [`Lifetime`].
    Expired(DisconnectReason),
}

/// How long a connection may last, and the `disconnectReason` it ends with then: a WebSocket's
/// TTL (WEBSOCKET_TTL_EXPIRATION, 24 h on AWS) or a custom authorizer's
/// `disconnectAfterInSeconds` (CUSTOMAUTH_TTL_EXPIRATION).
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub limit: Duration,
    pub reason: DisconnectReason,
}

impl Exit {
    /// How a violation ends the connection: a denial is an AUTH_ERROR, the rest CLIENT_ERROR.
    fn from_violation(violation: Violation) -> Exit {
        match violation {
            Violation::NotAuthorized => Exit::AuthError(violation.reason()),
            other => Exit::ClientError(other),
        }
    }

    /// The MQTT 5 DISCONNECT reason code the server sends, if any.
    fn v5_code(&self) -> Option<u8> {
        match self {
            Exit::ClientDisconnect { .. } | Exit::ConnectionLost => None,
            Exit::KeepAliveTimeout => Some(0x8D),
            Exit::ClientError(v) => Some(v.v5_code()),
            Exit::TakenOver => Some(0x8E),
            Exit::AuthError(_) => Some(0x87),
            Exit::ServerShutdown => Some(0x8B),
            // AWS documents only that DeleteConnection sends a DISCONNECT; MQTT 5's code for an
            // operator's action is 0x98 Administrative action.
            Exit::Api { .. } => Some(0x98),
            // MQTT 5's Maximum connect time.
            Exit::Expired(_) => Some(0xA0),
        }
    }

    /// The lifecycle event's `disconnectReason` (and the Disconnect entry's).
    fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Exit::ClientDisconnect { .. } => DisconnectReason::ClientInitiatedDisconnect,
            Exit::ConnectionLost => DisconnectReason::ConnectionLost,
            Exit::KeepAliveTimeout => DisconnectReason::MqttKeepAliveTimeout,
            Exit::ClientError(_) => DisconnectReason::ClientError,
            Exit::TakenOver => DisconnectReason::DuplicateClientId,
            Exit::AuthError(_) => DisconnectReason::AuthError,
            Exit::ServerShutdown => DisconnectReason::ServerInitiatedDisconnect,
            Exit::Api { .. } => DisconnectReason::ApiInitiatedDisconnect,
            Exit::Expired(reason) => *reason,
        }
    }

    /// Whether the last will is published (life-cycle events table, `docs/aws-behaviour.md` §3).
    fn sends_will(&self) -> bool {
        match self {
            Exit::ClientDisconnect { send_will } => *send_will,
            Exit::Api { prevent_will, .. } => !prevent_will,
            _ => true,
        }
    }
}

/// Serves one accepted connection until it ends. The handshake and the farewell run boxed, so
/// the task of an idle connection holds only the state of its main loop.
/// `auth`: who the client is, or that a custom authorizer decides at CONNECT; `lifetime`: when
/// it is cut.
pub(crate) async fn run<S>(
    stream: S,
    peer: SocketAddr,
    auth: Auth,
    lifetime: Option<Lifetime>,
    broker: Broker,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let Some(started) = Box::pin(handshake(reader, writer, peer, auth, &broker)).await else {
        return;
    };
    let Started { mut reader, mut writer, mut rbuf, mut conn, attached, keep_alive, trace_id, custom } =
        started;
    // A custom authorizer's disconnectAfterInSeconds, when it comes before the WebSocket's TTL.
    let custom_lifetime = custom
        .as_ref()
        .and_then(|g| g.disconnect_after)
        .map(|limit| Lifetime { limit, reason: DisconnectReason::CustomauthTtlExpiration });
    let lifetime = match (lifetime, custom_lifetime) {
        (Some(a), Some(b)) => Some(if b.limit < a.limit { b } else { a }),
        (a, b) => a.or(b),
    };
    let mut refresh_failed = custom.and_then(|g| g.refresher);
    let Attached { session, generation, version, mut deliveries, kick, done, queued, backlog, .. } = attached;
    let shared = broker.shared.clone();
    conn.session = Some(session.clone());
    for delivery in queued {
        conn.send(delivery);
    }
    // Packets that came in the same read as CONNECT are handled now, not after the next read.
    let mut early_exit = None;
    if !rbuf.is_empty() {
        match conn.process(&mut rbuf) {
            Ok(exit) => early_exit = exit,
            Err(violation) => early_exit = Some(Exit::from_violation(violation)),
        }
    }

    let mut kick = Some(kick);
    let mut deliveries_open = true;
    let expiry = lifetime.map(|l| (tokio::time::Instant::now() + l.limit, l.reason));
    let mut keep_alive_tick = tokio::time::interval(keep_alive / 2);
    keep_alive_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let exit = loop {
        if !conn.out.is_empty() {
            match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&conn.out)).await {
                Ok(Ok(())) => {
                    conn.log_written();
                    if conn.out.capacity() > 64 * 1024 {
                        conn.out = BytesMut::new();
                    } else {
                        conn.out.clear();
                    }
                }
                _ => {
                    conn.log_unwritten();
                    conn.out.clear();
                    break Exit::ConnectionLost;
                }
            }
        }
        if let Some(exit) = early_exit.take() {
            break exit;
        }
        if rbuf.is_empty() && rbuf.capacity() > 4 * READ_CHUNK {
            // A burst is over: give the memory back, so quiet connections stay small.
            rbuf = BytesMut::with_capacity(IDLE_READ_BUFFER);
        } else if rbuf.capacity() - rbuf.len() < IDLE_READ_BUFFER / 2 {
            rbuf.reserve(READ_CHUNK.max(rbuf.len()));
        }
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break Exit::ServerShutdown,
            k = async { kick.as_mut().expect("guarded by the precondition").await }, if kick.is_some() => {
                match k {
                    Ok(Kick::TakenOver) => break Exit::TakenOver,
                    Ok(Kick::AuthError(reason)) => break Exit::AuthError(reason),
                    Ok(Kick::Api { clean_session, prevent_will }) => {
                        break Exit::Api { clean_session, prevent_will }
                    }
                    Err(_) => kick = None,
                }
            }
            read = reader.read_buf(&mut rbuf) => match read {
                Ok(0) if !rbuf.is_empty() => break Exit::ClientError(truncated()),
                Ok(0) | Err(_) => break Exit::ConnectionLost,
                Ok(_) => {
                    conn.last_seen = Instant::now();
                    match conn.process(&mut rbuf) {
                        Ok(None) => {}
                        Ok(Some(exit)) => break exit,
                        Err(violation) => break Exit::from_violation(violation),
                    }
                }
            },
            delivery = deliveries.recv(), if deliveries_open && conn.takes_deliveries() => match delivery {
                Some(d) => {
                    let mut taken = d.message.backlog_bytes();
                    conn.send(d);
                    for _ in 0..256 {
                        if !conn.takes_deliveries() {
                            break;
                        }
                        match deliveries.try_recv() {
                            Ok(d) => {
                                taken += d.message.backlog_bytes();
                                conn.send(d);
                            }
                            Err(_) => break,
                        }
                    }
                    backlog.fetch_sub(taken, Ordering::Relaxed);
                }
                None => deliveries_open = false,
            },
            failed = async { (&mut refresh_failed.as_mut().expect("guarded").failed).await }, if refresh_failed.is_some() => {
                match failed {
                    Ok(reason) => break Exit::AuthError(reason),
                    Err(_) => refresh_failed = None,
                }
            }
            _ = async { tokio::time::sleep_until(expiry.expect("guarded").0).await }, if expiry.is_some() => {
                break Exit::Expired(expiry.expect("guarded").1);
            }
            _ = keep_alive_tick.tick() => {
                if conn.last_seen.elapsed() > keep_alive * 3 / 2 {
                    break Exit::KeepAliveTimeout;
                }
            }
        }
    };

    let farewell = Farewell { broker: &broker, session: &session, generation, version, trace_id };
    Box::pin(farewell.run(&mut conn, &mut writer, exit, &mut deliveries)).await;
    drop(done);
}

/// A connection whose CONNECT was accepted.
struct Started<S> {
    reader: ReadHalf<S>,
    writer: WriteHalf<S>,
    rbuf: BytesMut,
    conn: Conn,
    attached: Attached,
    keep_alive: Duration,
    trace_id: TraceId,
    /// What a custom authorizer granted.
    custom: Option<custom_auth::Granted>,
}

/// Reads and answers CONNECT. `None` when the connection ended or was refused (with its
/// entries written).
async fn handshake<S>(
    mut reader: ReadHalf<S>,
    mut writer: WriteHalf<S>,
    peer: SocketAddr,
    auth: Auth,
    broker: &Broker,
) -> Option<Started<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = &broker.shared;
    // Room for the topic and MQTT 5 properties beside the largest payload: a larger PUBLISH is
    // refused while framing, a smaller one over the payload limit after parsing.
    let max_packet = shared.config.limits.payload_bytes + 64 * 1024;
    let mut rbuf = BytesMut::with_capacity(IDLE_READ_BUFFER);
    let deadline = tokio::time::Instant::now() + shared.config.connect_timeout;
    let first = loop {
        match decode_connect(&mut rbuf, max_packet) {
            Ok(Some(first)) => break Ok(first),
            Ok(None) => {}
            Err(e) => break Err(Violation::from(e)),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return None,
            read = tokio::time::timeout_at(deadline, reader.read_buf(&mut rbuf)) => match read {
                // A connection that ends, or stalls, in the middle of its first packet sent bad input.
                Ok(Ok(0)) | Err(_) if !rbuf.is_empty() => break Err(truncated()),
                // Silent, or closed before CONNECT: nobody connected, nothing to log.
                Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(_)) => {}
            },
        }
    };
    let (codec, connect) = match first {
        Ok(first) => first,
        Err(violation) => {
            // Garbage before any CONNECT: the client is unknown, but the connection existed.
            let principal = match auth {
                Auth::Principal { principal, .. } => principal,
                Auth::Custom(_) => "".into(),
            };
            let client = Arc::new(ClientInfo::new(Protocol::Mqtt, "", principal, peer));
            log_client_error(broker, TraceId::new(), &client, &violation);
            let _ = writer.shutdown().await;
            return None;
        }
    };

    let (principal, enforced, custom) = match auth {
        Auth::Principal { principal, enforced } => (principal, enforced, None),
        Auth::Custom(context) => {
            let Some(granted) = custom_auth::authenticate(broker, &context, &connect, peer).await else {
                // MQTT 3.1.1's "not authorized" (0x05), MQTT 5's 0x87.
                let mut out = BytesMut::new();
                let limits = &shared.config.limits;
                codec.encode(connack(ConnAckCode::NotAuthorized, false, None, None, limits, None), &mut out);
                let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&out)).await;
                let _ = writer.shutdown().await;
                return None;
            };
            (granted.principal.clone(), true, Some(granted))
        }
    };
    let policies = custom.as_ref().map(|g| g.policies.clone());
    let trace_id = TraceId::new();
    let Some(accepted) =
        accept_connect(broker, codec, connect, &principal, enforced, policies, peer, trace_id, &mut writer)
            .await
    else {
        let _ = writer.shutdown().await;
        return None;
    };
    let Accepted { conn, attached, keep_alive } = accepted;
    Some(Started { reader, writer, rbuf, conn, attached, keep_alive, trace_id, custom })
}

/// What happens after the main loop: the MQTT 5 DISCONNECT, closing, the Disconnect entry, the
/// will, and handing the session back.
struct Farewell<'a> {
    broker: &'a Broker,
    session: &'a Arc<Session>,
    generation: u64,
    /// The lifecycle events' `versionNumber` of the connection.
    version: u64,
    trace_id: TraceId,
}

impl Farewell<'_> {
    async fn run<W: AsyncWrite + Unpin>(
        self,
        conn: &mut Conn,
        writer: &mut W,
        exit: Exit,
        deliveries: &mut tokio::sync::mpsc::Receiver<Delivery>,
    ) {
        let Farewell { broker, session, generation, version, trace_id } = self;
        if let (MqttVersion::V5, Some(code)) = (conn.codec.version(), exit.v5_code()) {
            conn.codec.encode(Outgoing::Disconnect { reason: code }, &mut conn.out);
        }
        if !conn.out.is_empty() {
            match tokio::time::timeout(Duration::from_secs(1), writer.write_all(&conn.out)).await {
                Ok(Ok(())) => conn.log_written(),
                _ => conn.log_unwritten(),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;

        conn.log_disconnect(trace_id, &exit);
        let reason = exit.disconnect_reason();
        broker.publish_disconnected(&conn.client, &session.identifier, version, reason, trace_id);
        let expiry = match exit {
            // DeleteConnection with cleanSession ends the session with the connection.
            Exit::Api { clean_session: true, .. } => Some(Duration::ZERO),
            _ => conn.disconnect_session_expiry.map(|s| Duration::from_secs(s.into())),
        };
        if exit.sends_will() {
            if let Some(will) = conn.will.take() {
                let cap = broker.shared.config.session_expiry;
                let session_expiry = expiry.map_or_else(|| session.state.lock().expiry, |e| e.min(cap));
                let client = conn.client.clone();
                broker.publish_will(
                    client,
                    *will,
                    session.clone(),
                    generation,
                    conn.policies(),
                    session_expiry,
                );
            }
        }
        let leftovers = conn.take_unacknowledged();
        broker.detach(session, generation, leftovers, deliveries, expiry);
    }
}

/// The violation of a stream that ends inside a packet.
fn truncated() -> Violation {
    Violation::Malformed("the connection ended or stalled inside a packet".into())
}

/// What CONNECT produced when it was accepted.
struct Accepted {
    conn: Conn,
    attached: Attached,
    keep_alive: Duration,
}

/// Checks CONNECT (`iot:Connect` too, when `enforced`), attaches the session, answers CONNACK
/// and logs Connect. `None` when the connection was refused (its Connect Failure entry is
/// written). A denied CONNECT gets no CONNACK on 3.1.1 and CONNACK 0x87 on MQTT 5, as AWS
/// answers (`docs/aws-behaviour.md` §2); it never touches the session of the client id.
#[allow(clippy::too_many_arguments)]
async fn accept_connect<W: AsyncWrite + Unpin>(
    broker: &Broker,
    codec: Box<dyn MqttCodec>,
    connect: ConnectPacket,
    principal: &Arc<str>,
    enforced: bool,
    policies: Option<Arc<custom_auth::ConnectionPolicies>>,
    peer: SocketAddr,
    trace_id: TraceId,
    writer: &mut W,
) -> Option<Accepted> {
    let shared = &broker.shared;
    let limits = &shared.config.limits;
    let version = connect.version;
    let mut assigned = None;
    let client_id: Arc<str> = if connect.client_id.is_empty() && connect.clean_start {
        let id = format!("iotemu-{}", TraceId::new());
        assigned = (version == MqttVersion::V5).then(|| id.clone());
        id.into()
    } else {
        connect.client_id.as_str().into()
    };
    let client = Arc::new(ClientInfo::new(Protocol::Mqtt, client_id.clone(), principal.clone(), peer));
    let mut out = BytesMut::new();

    let refusal = if client_id.is_empty() || client_id.len() > limits.client_id_bytes {
        Some((
            ConnAckCode::ClientIdNotValid,
            "INVALID_CLIENT_ID",
            format!(
                "The client ID must be 1 to {} bytes long; it was {} bytes",
                limits.client_id_bytes,
                client_id.len()
            ),
        ))
    } else if connect.will.as_ref().is_some_and(|w| w.qos > 1) {
        // 3.1.1: AWS closes the connection with no CONNACK (docs/aws-behaviour.md §1).
        Some((
            ConnAckCode::QosNotSupported,
            Violation::QosNotSupported.reason(),
            Violation::QosNotSupported.details(),
        ))
    } else if let Some(Err(e)) =
        connect.will.as_ref().map(|w| validate_topic_name(w.topic.as_bytes(), limits))
    {
        Some((ConnAckCode::TopicNameInvalid, "INVALID_TOPIC", format!("Invalid will topic: {e}")))
    } else if let Some(Err(refusal)) =
        connect.will.as_ref().map(|w| iotemu_core::client_may_publish(&w.topic))
    {
        // A will is published as its client: it may not forge a reserved topic's answer either.
        let violation = Violation::ReservedTopic(refusal);
        Some((
            ConnAckCode::TopicNameInvalid,
            violation.reason(),
            format!("Will topic: {}", violation.details()),
        ))
    } else if enforced
        && !match &policies {
            Some(policies) => policies.authorize(&client, IotAction::Connect, &client_id),
            None => shared.authorizer.authorize(&client, IotAction::Connect, &client_id),
        }
    {
        let violation = Violation::NotAuthorized;
        Some((ConnAckCode::NotAuthorized, violation.reason(), violation.details()))
    } else if let Some(owner) = (!enforced).then(|| broker.session_owner(&client_id)).flatten() {
        // Without policies, nothing proves this client may act for the session's principal: a
        // client of the plain port could otherwise take over a device's session and messages.
        (owner != *principal).then(|| {
            (
                ConnAckCode::NotAuthorized,
                CROSS_PRINCIPAL_TAKEOVER,
                format!(
                    "The client ID {client_id} is in use by a session of principal {owner}; a connection \
                     on a port that does not enforce IoT policies may not take it over"
                ),
            )
        })
    } else {
        None
    };
    if let Some((code, reason, details)) = refusal {
        // 3.1.1 gets a CONNACK "not authorized" for a refused takeover too: the refusal is
        // iotemu's own (AWS has no port without policies), so the client is told why.
        let send_connack = version == MqttVersion::V5
            || code == ConnAckCode::ClientIdNotValid
            || reason == CROSS_PRINCIPAL_TAKEOVER;
        if send_connack {
            codec.encode(connack(code, false, None, None, limits, None), &mut out);
            let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&out)).await;
        }
        if shared.logs.enabled(LogLevel::Error) {
            shared.logs.failure(trace_id, LogEntry::Connect(Connect { client }), reason, details);
        }
        return None;
    }

    let max_keep_alive = limits.max_keepalive_secs;
    let keep_alive_secs = match connect.keep_alive {
        0 => max_keep_alive,
        k => k.min(max_keep_alive),
    };
    let server_keep_alive = (keep_alive_secs != connect.keep_alive).then_some(keep_alive_secs);
    let cap = shared.config.session_expiry;
    let (expiry, expiry_answer) = match version {
        MqttVersion::V311 if connect.clean_start => (Duration::ZERO, None),
        MqttVersion::V311 => (cap, None),
        MqttVersion::V5 => {
            let asked = connect.session_expiry.unwrap_or(0);
            let applied = Duration::from_secs(asked.into()).min(cap);
            let answer = (applied.as_secs() != u64::from(asked)).then_some(applied.as_secs() as u32);
            (applied, answer)
        }
    };
    let attached = broker.attach(&client, version, connect.clean_start, expiry).await;
    codec.encode(
        connack(
            ConnAckCode::Success,
            attached.session_present,
            expiry_answer,
            server_keep_alive,
            limits,
            assigned,
        ),
        &mut out,
    );
    if shared.logs.enabled(LogLevel::Info) {
        shared.logs.success(trace_id, LogEntry::Connect(Connect { client: client.clone() }));
    }
    broker.publish_connected(&client, &attached.session.identifier, attached.version, trace_id);
    // The client's MQTT 5 limits on what it receives (MQTT 5 3.1.2.11.3 and 3.1.2.11.4).
    let inflight_limit = limits.inflight_qos1.min(connect.receive_maximum.map_or(usize::MAX, usize::from));
    let conn = Conn {
        broker: broker.clone(),
        codec,
        client,
        enforced,
        policies,
        session: None,
        out,
        inflight: VecDeque::new(),
        pending: VecDeque::new(),
        inflight_limit,
        max_packet_out: connect.max_packet_size.map(|m| m as usize),
        unwritten: Unwritten::default(),
        next_pkid: 0,
        aliases: HashMap::new(),
        last_seen: Instant::now(),
        will: connect.will.map(Box::new),
        disconnect_session_expiry: None,
    };
    Some(Accepted { conn, attached, keep_alive: Duration::from_secs(keep_alive_secs.into()) })
}

fn connack(
    code: ConnAckCode,
    session_present: bool,
    session_expiry: Option<u32>,
    server_keep_alive: Option<u16>,
    limits: &crate::Limits,
    assigned_client_id: Option<String>,
) -> Outgoing {
    Outgoing::ConnAck {
        session_present,
        code,
        session_expiry,
        server_keep_alive,
        topic_alias_max: limits.topic_alias_max,
        receive_max: limits.inflight_qos1.min(u16::MAX as usize) as u16,
        max_packet_size: (limits.payload_bytes + 64 * 1024) as u32,
        assigned_client_id,
    }
}

/// Writes the Disconnect Failure entry of a connection ended by a protocol violation.
fn log_client_error(broker: &Broker, trace_id: TraceId, client: &Arc<ClientInfo>, violation: &Violation) {
    let logs = &broker.shared.logs;
    if logs.enabled(LogLevel::Error) {
        let entry = Disconnect { client: client.clone(), disconnect_reason: DisconnectReason::ClientError };
        logs.failure(trace_id, LogEntry::Disconnect(entry), violation.reason(), violation.details());
    }
}

/// The state of a connected client.
struct Conn {
    broker: Broker,
    codec: Box<dyn MqttCodec>,
    client: Arc<ClientInfo>,
    /// Whether IoT policies apply (always over mutual TLS; on the plain port when configured).
    enforced: bool,
    /// The IoT policies a custom authorizer returned; else the principal's.
    policies: Option<Arc<custom_auth::ConnectionPolicies>>,
    session: Option<Arc<Session>>,
    /// Bytes waiting to be written.
    out: BytesMut,
    /// Sent QoS 1 deliveries awaiting PUBACK, in order.
    inflight: VecDeque<(u16, Delivery)>,
    /// QoS 1 deliveries waiting for room in `inflight`.
    pending: VecDeque<Delivery>,
    /// How many QoS 1 deliveries may be unacknowledged: AWS's limit, or the client's MQTT 5
    /// Receive Maximum when lower.
    inflight_limit: usize,
    /// The client's MQTT 5 Maximum Packet Size.
    max_packet_out: Option<usize>,
    /// The Publish-Out entries of the messages in `out`.
    unwritten: Unwritten,
    next_pkid: u16,
    /// MQTT 5 inbound topic aliases.
    aliases: HashMap<u16, (Arc<str>, Bytes)>,
    last_seen: Instant,
    /// Boxed: most clients have none, and this struct lives as long as the connection.
    will: Option<Box<WillPacket>>,
    /// MQTT 5 Session Expiry Interval sent with DISCONNECT.
    disconnect_session_expiry: Option<u32>,
}

impl Conn {
    fn limits(&self) -> &crate::Limits {
        &self.broker.shared.config.limits
    }

    fn session(&self) -> &Arc<Session> {
        self.session.as_ref().expect("attached before packets are processed")
    }

    /// Handles every complete packet in `rbuf`.
    fn process(&mut self, rbuf: &mut BytesMut) -> Result<Option<Exit>, Violation> {
        while let Some(packet) = self.codec.decode(rbuf)? {
            if let Some(exit) = self.handle(packet)? {
                return Ok(Some(exit));
            }
        }
        Ok(None)
    }

    fn handle(&mut self, packet: Incoming) -> Result<Option<Exit>, Violation> {
        match packet {
            Incoming::Connect => {
                return Err(Violation::Protocol("a second CONNECT on the connection".into()))
            }
            Incoming::Publish(p) => self.on_publish(p)?,
            Incoming::PubAck(pkid) => self.on_puback(pkid),
            Incoming::Subscribe { pkid, filters } => self.on_subscribe(pkid, filters)?,
            Incoming::Unsubscribe { pkid, filters } => self.on_unsubscribe(pkid, filters)?,
            Incoming::PingReq => self.on_pingreq(),
            Incoming::Disconnect { reason, session_expiry } => {
                self.disconnect_session_expiry = session_expiry;
                return Ok(Some(Exit::ClientDisconnect { send_will: reason == 0x04 }));
            }
            Incoming::Unsupported(what) => {
                return Err(Violation::Protocol(format!("{what} is not supported").into()));
            }
        }
        Ok(None)
    }

    /// Answers a PINGREQ; the Ping entry is written only when `eventConfigurations` opts into it
    /// (the log policy decides).
    fn on_pingreq(&mut self) {
        let logs = &self.broker.shared.logs;
        let request_timestamp = logs.now_millis();
        self.codec.encode(Outgoing::PingResp, &mut self.out);
        if logs.enabled(LogLevel::Debug) {
            let response_timestamp = Some(logs.now_millis());
            let entry = Ping { client: self.client.clone(), request_timestamp, response_timestamp };
            logs.success(TraceId::new(), LogEntry::Ping(entry));
        }
    }

    fn on_publish(&mut self, p: PublishPacket) -> Result<(), Violation> {
        if p.qos > 1 {
            return Err(self.publish_failure(&p.topic, Violation::QosNotSupported));
        }
        let (topic, topic_bytes) = self.resolve_topic(&p)?;
        if p.payload.len() > self.limits().payload_bytes {
            return Err(self.publish_failure(&p.topic, Violation::PayloadTooLarge(p.payload.len())));
        }
        // A reserved topic clients may not publish to (`reserved-topics.md`) is refused whatever
        // the policies say, then the policies decide.
        let refused = match iotemu_core::client_may_publish(&topic) {
            Err(refusal) => Some(Violation::ReservedTopic(refusal)),
            Ok(()) if !self.may_publish(&topic, p.retain) => Some(Violation::NotAuthorized),
            Ok(()) => None,
        };
        if let Some(violation) = refused {
            let violation = self.publish_failure(topic.as_bytes(), violation);
            // 3.1.1: AWS closes the connection; MQTT 5: PUBACK 0x87 for a denial
            // (`docs/aws-behaviour.md` §2), 0x90 for a reserved topic.
            if self.codec.version() == MqttVersion::V311 {
                return Err(violation);
            }
            if p.qos == 1 {
                let reason = violation.v5_code();
                self.codec.encode(Outgoing::PubAck { pkid: p.pkid, reason }, &mut self.out);
            }
            return Ok(());
        }
        let trace_id = TraceId::new();
        let logs = &self.broker.shared.logs;
        if logs.enabled(LogLevel::Info) {
            let entry = PublishIn { topic_name: topic.clone(), client: self.client.clone() };
            logs.success(trace_id, LogEntry::PublishIn(entry));
        }
        let message = Arc::new(Message {
            origin: Some(self.client.client_id.clone()),
            ..Message::new(topic, topic_bytes, p.payload, p.qos, p.retain, p.properties, trace_id)
        });
        self.broker.accept_message(&self.client, message);
        if p.qos == 1 {
            self.codec.encode(Outgoing::PubAck { pkid: p.pkid, reason: 0 }, &mut self.out);
        }
        Ok(())
    }

    /// Whether the policies let this client publish to `topic` (and retain there).
    fn may_publish(&self, topic: &str, retain: bool) -> bool {
        self.allowed(IotAction::Publish, topic) && (!retain || self.allowed(IotAction::RetainPublish, topic))
    }

    /// The IoT policies the connection's will is checked against; `None` when none apply.
    fn policies(&self) -> Option<Arc<dyn iotemu_core::DeviceAuthorizer>> {
        self.enforced.then(|| match &self.policies {
            Some(policies) => policies.current(),
            None => self.broker.shared.authorizer.clone(),
        })
    }

    /// Whether the policies allow `action` on `resource`; always, when they are not enforced.
    fn allowed(&self, action: IotAction, resource: &str) -> bool {
        !self.enforced
            || match &self.policies {
                Some(policies) => policies.authorize(&self.client, action, resource),
                None => self.broker.shared.authorizer.authorize(&self.client, action, resource),
            }
    }

    /// The topic of a PUBLISH, through its MQTT 5 topic alias when it has one.
    fn resolve_topic(&mut self, p: &PublishPacket) -> Result<(Arc<str>, Bytes), Violation> {
        if let Some(alias) = p.topic_alias {
            if alias == 0 || alias > self.limits().topic_alias_max {
                return Err(self.publish_failure(&p.topic, Violation::TopicAliasInvalid(alias)));
            }
            if p.topic.is_empty() {
                return match self.aliases.get(&alias) {
                    Some(known) => Ok(known.clone()),
                    None => Err(self.publish_failure(&p.topic, Violation::TopicAliasInvalid(alias))),
                };
            }
        }
        let topic: Arc<str> = match validate_topic_name(&p.topic, self.limits()) {
            Ok(t) => t.into(),
            Err(e) => return Err(self.publish_failure(&p.topic, Violation::TopicInvalid(e))),
        };
        let resolved = (topic, p.topic.clone());
        if let Some(alias) = p.topic_alias {
            self.aliases.insert(alias, resolved.clone());
        }
        Ok(resolved)
    }

    /// Writes the Publish-In Failure entry of a refused PUBLISH and returns the violation.
    fn publish_failure(&self, raw_topic: &[u8], violation: Violation) -> Violation {
        let logs = &self.broker.shared.logs;
        if logs.enabled(LogLevel::Error) {
            let entry = PublishIn {
                topic_name: String::from_utf8_lossy(raw_topic).into(),
                client: self.client.clone(),
            };
            logs.failure(TraceId::new(), LogEntry::PublishIn(entry), violation.reason(), violation.details());
        }
        violation
    }

    /// Writes the Subscribe Failure entry of a refused filter and returns the violation.
    fn subscribe_failure(&self, filter: &str, violation: Violation) -> Violation {
        let logs = &self.broker.shared.logs;
        if logs.enabled(LogLevel::Error) {
            let entry = Subscribe { topic_name: filter.into(), client: self.client.clone() };
            logs.failure(TraceId::new(), LogEntry::Subscribe(entry), violation.reason(), violation.details());
        }
        violation
    }

    fn on_subscribe(&mut self, pkid: u16, filters: Vec<SubscribeFilter>) -> Result<(), Violation> {
        let limits = self.limits().clone();
        if filters.len() > limits.filters_per_subscribe {
            let violation = Violation::TooManyFilters(filters.len());
            for f in &filters {
                self.subscribe_failure(&f.filter, violation.clone());
            }
            return Err(violation);
        }
        let session = self.session().clone();
        let mut codes = Vec::with_capacity(filters.len());
        let mut retained = Vec::new();
        let mut subscribed = Vec::with_capacity(filters.len());
        let event_trace = TraceId::new();
        for f in &filters {
            // 3.1.1: AWS sends no SUBACK and closes; MQTT 5: granted QoS 1
            // (docs/aws-behaviour.md §1).
            if f.qos > 1 && self.codec.version() == MqttVersion::V311 {
                return Err(self.subscribe_failure(&f.filter, Violation::QosNotSupported));
            }
            let parsed = match parse_filter(&f.filter, &limits) {
                Ok(p) => p,
                Err(e) => return Err(self.subscribe_failure(&f.filter, Violation::TopicFilterInvalid(e))),
            };
            let refused = match iotemu_core::client_may_subscribe(parsed.filter) {
                Err(refusal) => Some(Violation::ReservedTopic(refusal)),
                Ok(()) if !self.allowed(IotAction::Subscribe, &f.filter) => Some(Violation::NotAuthorized),
                Ok(()) => None,
            };
            if let Some(violation) = refused {
                let violation = self.subscribe_failure(&f.filter, violation);
                // 3.1.1: AWS closes the connection, no SUBACK; MQTT 5: SUBACK 0x87 for a denied
                // filter, 0x8F for a reserved one.
                if self.codec.version() == MqttVersion::V311 {
                    return Err(violation);
                }
                codes.push(violation.v5_code());
                continue;
            }
            let count = {
                let state = session.state.lock();
                state.subscriptions.len() + usize::from(!state.subscriptions.contains_key(&f.filter))
            };
            if count > limits.subscriptions_per_connection {
                return Err(self.subscribe_failure(&f.filter, Violation::TooManySubscriptions(count)));
            }
            let options = SubOptions {
                qos: f.qos.min(1),
                no_local: f.no_local,
                retain_as_published: f.retain_as_published,
            };
            let is_new = self.broker.subscribe(&session, &f.filter, &parsed, options);
            let logs = &self.broker.shared.logs;
            if logs.enabled(LogLevel::Info) {
                let entry = Subscribe { topic_name: f.filter.as_str().into(), client: self.client.clone() };
                let trace = if subscribed.is_empty() { event_trace } else { TraceId::new() };
                logs.success(trace, LogEntry::Subscribe(entry));
            }
            subscribed.push(f.filter.as_str());
            codes.push(options.qos);
            let wants_retained = match f.retain_handling {
                0 => true,
                1 => is_new,
                _ => false,
            };
            if parsed.is_exact() && wants_retained {
                if let Some(message) = self.broker.retained(parsed.filter) {
                    let qos = message.qos.min(options.qos);
                    retained.push(Delivery::new(message, qos, true));
                }
            }
        }
        self.codec.encode(Outgoing::SubAck { pkid, codes }, &mut self.out);
        for delivery in retained {
            self.send(delivery);
        }
        let identifier = &session.identifier;
        self.broker.publish_subscriptions(&self.client, identifier, true, &subscribed, event_trace);
        Ok(())
    }

    fn on_unsubscribe(&mut self, pkid: u16, filters: Vec<String>) -> Result<(), Violation> {
        let session = self.session().clone();
        let limits = self.limits().clone();
        let mut codes = Vec::with_capacity(filters.len());
        for filter in &filters {
            // A malformed UNSUBSCRIBE is a CLIENT_ERROR on AWS (docs/aws-behaviour.md §3).
            let parsed = parse_filter(filter, &limits).map_err(Violation::TopicFilterInvalid)?;
            let existed = self.broker.unsubscribe(&session, filter, &parsed);
            codes.push(if existed { 0x00 } else { 0x11 });
        }
        self.codec.encode(Outgoing::UnsubAck { pkid, codes }, &mut self.out);
        let topics: Vec<&str> = filters.iter().map(String::as_str).collect();
        self.broker.publish_subscriptions(&self.client, &session.identifier, false, &topics, TraceId::new());
        Ok(())
    }

    fn log_disconnect(&self, trace_id: TraceId, exit: &Exit) {
        let logs = &self.broker.shared.logs;
        let client = self.client.clone();
        let reason = match exit {
            Exit::ClientError(violation) => {
                return log_client_error(&self.broker, trace_id, &client, violation)
            }
            Exit::TakenOver => {
                if logs.enabled(LogLevel::Error) {
                    let entry = Disconnect { client, disconnect_reason: DisconnectReason::DuplicateClientId };
                    logs.failure(
                        trace_id,
                        LogEntry::Disconnect(entry),
                        "DUPLICATE_CLIENT_ID",
                        "A new connection was established with the same client ID",
                    );
                }
                return;
            }
            Exit::AuthError(reason) => {
                if logs.enabled(LogLevel::Error) {
                    let entry = Disconnect { client, disconnect_reason: DisconnectReason::AuthError };
                    let details = if *reason == Violation::NotAuthorized.reason() {
                        AUTHORIZATION_FAILURE_DETAILS
                    } else {
                        "The certificate of the connection is no longer ACTIVE"
                    };
                    logs.failure(trace_id, LogEntry::Disconnect(entry), *reason, details);
                }
                return;
            }
            other => other.disconnect_reason(),
        };
        if logs.enabled(LogLevel::Info) {
            logs.success(trace_id, LogEntry::Disconnect(Disconnect { client, disconnect_reason: reason }));
        }
    }
}
