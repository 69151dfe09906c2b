//! End-to-end tests of bad input: garbage, truncated and oversized packets, protocol errors,
//! invalid topics and filters, AWS IoT's limits and QoS 2. Each case checks that the offending
//! connection is closed (MQTT 5: after a DISCONNECT with the right reason code), that its
//! Failure entries are written, and that other clients keep working afterwards.

use bytes::{Bytes, BytesMut};
use iotemu_testkit::{Emulator, Entries, RawClient};
use rumqttc::mqttbytes::v4;
use rumqttc::mqttbytes::QoS as QoS4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_iotemu");
const SECOND: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(5);

fn start() -> Emulator {
    Emulator::start(BIN, &[])
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The entries of `event_type` written for the connection from local port `port`.
fn at_port<'a>(entries: &'a Entries, event_type: &str, port: u16) -> Vec<&'a Value> {
    entries.0.iter().filter(|e| e["eventType"] == event_type && e["sourcePort"] == port).collect()
}

/// Checks the common shape of a Failure entry of `client` (client id and port).
fn assert_failure(entry: &Value, client_id: &str, client: &RawClient, reasons: &[&str]) {
    assert_eq!(entry["clientId"], client_id, "clientId of {entry}");
    assert_eq!(entry["sourcePort"], client.local.port(), "sourcePort of {entry}");
    assert_eq!(entry["sourceIp"], "127.0.0.1", "sourceIp of {entry}");
    assert_eq!(entry["status"], "Failure", "status of {entry}");
    assert_eq!(entry["logLevel"], "ERROR", "logLevel of {entry}");
    assert_eq!(entry["protocol"], "MQTT", "protocol of {entry}");
    let reason = entry["reason"].as_str().unwrap_or_else(|| panic!("no reason in {entry}"));
    assert!(reasons.contains(&reason), "reason {reason:?} is not one of {reasons:?}: {entry}");
    let details = entry["details"].as_str().unwrap_or_else(|| panic!("no details in {entry}"));
    assert!(!details.trim().is_empty(), "empty details in {entry}");
}

/// Waits for the one Disconnect of the connection of `client` and checks that it is a
/// CLIENT_ERROR Failure with one of `reasons`. `client_id` is "" for a connection that never
/// sent a valid CONNECT (then no Connect entry may exist for it), otherwise the Disconnect
/// shares the traceId of the client's Connect entry.
fn assert_client_error(emu: &Emulator, client_id: &str, client: &RawClient, reasons: &[&str]) -> Value {
    let port = client.local.port();
    let entries = emu.wait_for(&format!("the Disconnect of {client_id:?} (port {port})"), |e| {
        !at_port(e, "Disconnect", port).is_empty()
    });
    let found = at_port(&entries, "Disconnect", port);
    assert_eq!(found.len(), 1, "one Disconnect for port {port}:\n{}", entries.dump());
    let disconnect = found[0].clone();
    assert_eq!(disconnect["disconnectReason"], "CLIENT_ERROR", "{disconnect}");
    assert_failure(&disconnect, client_id, client, reasons);
    let connects = at_port(&entries, "Connect", port);
    if client_id.is_empty() {
        assert!(
            connects.is_empty(),
            "no Connect entry for a connection without CONNECT:\n{}",
            entries.dump()
        );
    } else {
        assert_eq!(connects.len(), 1, "one Connect for port {port}:\n{}", entries.dump());
        assert_eq!(connects[0]["status"], "Success");
        assert_eq!(connects[0]["clientId"], client_id);
        assert_eq!(disconnect["traceId"], connects[0]["traceId"], "Connect and Disconnect share a traceId");
    }
    disconnect
}

/// Waits for the Failure entry of `event_type` (Publish-In, Subscribe) of `client` naming
/// `topic`, and checks it.
fn assert_failure_entry(
    emu: &Emulator,
    event_type: &str,
    client_id: &str,
    client: &RawClient,
    topic: &str,
    reasons: &[&str],
) -> Value {
    let port = client.local.port();
    let entries = emu.wait_for(&format!("the {event_type} Failure of {client_id}"), |e| {
        at_port(e, event_type, port).iter().any(|x| x["status"] == "Failure")
    });
    let failures: Vec<_> =
        at_port(&entries, event_type, port).into_iter().filter(|x| x["status"] == "Failure").collect();
    assert_eq!(failures.len(), 1, "one {event_type} Failure:\n{}", entries.dump());
    let entry = failures[0].clone();
    assert_eq!(entry["topicName"], topic, "{entry}");
    assert_failure(&entry, client_id, client, reasons);
    let successes: Vec<_> = at_port(&entries, event_type, port)
        .into_iter()
        .filter(|x| x["status"] == "Success" && x["topicName"] == topic)
        .collect();
    assert!(successes.is_empty(), "no {event_type} Success for the refused {topic}:\n{}", entries.dump());
    entry
}

/// The connection is closed by the server within 5 s, with nothing sent back first.
async fn assert_closed_silently(client: &mut RawClient, what: &str) {
    let (closed, bytes) = client.closed_within(WAIT).await;
    assert!(closed, "{what}: the server closes the connection");
    assert!(bytes.is_empty(), "{what}: nothing is sent back before the close, got {bytes:02x?}");
}

/// The server sends an MQTT 5 DISCONNECT with `code`, then closes the connection.
async fn assert_v5_disconnect(client: &mut RawClient, code: u8, what: &str) {
    match client.recv_v5(WAIT).await {
        Ok(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code as u8, code, "{what}: DISCONNECT reason code ({:?})", d.reason_code)
        }
        other => panic!("{what}: expected DISCONNECT 0x{code:02X}, got {other:?}"),
    }
    let (closed, rest) = client.closed_within(WAIT).await;
    assert!(closed, "{what}: the server closes the connection after DISCONNECT");
    assert!(rest.is_empty(), "{what}: nothing after DISCONNECT, got {rest:02x?}");
}

async fn connect_v4(emu: &Emulator, id: &str) -> RawClient {
    let (client, ack) = RawClient::connect_v4(emu.mqtt, id, 30, true).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success, "CONNACK of {id}");
    client
}

async fn connect_v5(emu: &Emulator, id: &str) -> RawClient {
    let (client, ack) = RawClient::connect_v5(emu.mqtt, id, 30).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success, "CONNACK of {id}");
    client
}

async fn subscribe_v4(client: &mut RawClient, pkid: u16, filters: &[&str]) {
    let filters = filters.iter().map(|f| v4::SubscribeFilter { path: f.to_string(), qos: QoS4::AtLeastOnce });
    client.send_v4(v4::Packet::Subscribe(v4::Subscribe { pkid, filters: filters.collect() })).await;
}

async fn expect_suback_v4(client: &mut RawClient, pkid: u16, count: usize) {
    match client.recv_v4(WAIT).await {
        Ok(v4::Packet::SubAck(ack)) => {
            assert_eq!(ack.pkid, pkid);
            assert_eq!(ack.return_codes.len(), count);
            for code in ack.return_codes {
                assert_eq!(code, v4::SubscribeReasonCode::Success(QoS4::AtLeastOnce));
            }
        }
        other => panic!("expected SUBACK {pkid}, got {other:?}"),
    }
}

async fn subscribe_v5(client: &mut RawClient, pkid: u16, filters: &[&str]) {
    let filters = filters.iter().map(|f| v5::Filter::new(*f, QoS5::AtLeastOnce)).collect();
    client.send_v5(v5::Packet::Subscribe(v5::Subscribe { pkid, filters, properties: None })).await;
}

async fn expect_suback_v5(client: &mut RawClient, pkid: u16, count: usize) {
    match client.recv_v5(WAIT).await {
        Ok(v5::Packet::SubAck(ack)) => {
            assert_eq!(ack.pkid, pkid);
            assert_eq!(ack.return_codes.len(), count);
            for code in ack.return_codes {
                assert_eq!(code, v5::SubscribeReasonCode::Success(QoS5::AtLeastOnce));
            }
        }
        other => panic!("expected SUBACK {pkid}, got {other:?}"),
    }
}

fn publish_v4(topic: &str, qos: QoS4, payload: impl Into<Vec<u8>>) -> v4::Packet {
    let mut p = v4::Publish::new(topic, qos, payload);
    if qos != QoS4::AtMostOnce {
        p.pkid = 9;
    }
    v4::Packet::Publish(p)
}

fn publish_v5(topic: impl Into<Bytes>, qos: QoS5, payload: impl Into<Bytes>) -> v5::Packet {
    let mut p = v5::Publish::new("", qos, payload.into(), None);
    p.topic = topic.into();
    if qos != QoS5::AtMostOnce {
        p.pkid = 9;
    }
    v5::Packet::Publish(p)
}

fn encode_v4(packet: v4::Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.write(&mut out, usize::MAX).expect("encode");
    out.to_vec()
}

fn encode_v5(packet: v5::Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.write(&mut out, None).expect("encode");
    out.to_vec()
}

/// A client connected before the bad input: it subscribes to `#` and afterwards must still
/// receive a message from a newly connected publisher, and nothing else in between (so a
/// refused PUBLISH was not routed either).
struct Bystander {
    sub: RawClient,
    tag: String,
}

impl Bystander {
    async fn connect(emu: &Emulator, tag: &str) -> Bystander {
        let id = format!("{tag}-bystander");
        let mut sub = connect_v4(emu, &id).await;
        subscribe_v4(&mut sub, 1, &["#"]).await;
        expect_suback_v4(&mut sub, 1, 1).await;
        Bystander { sub, tag: tag.to_string() }
    }

    /// The next message the bystander receives (acknowledged).
    async fn next(&mut self) -> v4::Publish {
        loop {
            match self.sub.recv_v4(WAIT).await {
                Ok(v4::Packet::Publish(p)) => {
                    if p.pkid != 0 {
                        self.sub.send_v4(v4::Packet::PubAck(v4::PubAck::new(p.pkid))).await;
                    }
                    return p;
                }
                Ok(v4::Packet::PingResp) => continue,
                other => panic!("bystander {}: expected a PUBLISH, got {other:?}", self.tag),
            }
        }
    }

    /// A new client connects and publishes; the bystander gets exactly that message next.
    async fn still_works(mut self, emu: &Emulator) {
        let topic = format!("ok/{}", self.tag);
        let payload = format!("still alive after {}", self.tag);
        let publisher_id = format!("{}-publisher", self.tag);
        let mut publisher = connect_v4(emu, &publisher_id).await;
        publisher.send_v4(publish_v4(&topic, QoS4::AtLeastOnce, payload.clone())).await;
        match publisher.recv_v4(WAIT).await {
            Ok(v4::Packet::PubAck(ack)) => assert_eq!(ack.pkid, 9),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        let got = self.next().await;
        assert_eq!(
            got.topic, topic,
            "the bystander's next message is the new one (nothing refused was routed)"
        );
        assert_eq!(&got.payload[..], payload.as_bytes());
        // And a new subscriber on another connection works too.
        let sub2_id = format!("{}-late-sub", self.tag);
        let mut late = connect_v4(emu, &sub2_id).await;
        subscribe_v4(&mut late, 2, &[&topic]).await;
        expect_suback_v4(&mut late, 2, 1).await;
        publisher.send_v4(publish_v4(&topic, QoS4::AtMostOnce, "again")).await;
        match late.recv_v4(WAIT).await {
            Ok(v4::Packet::Publish(p)) => {
                assert_eq!(p.topic, topic);
                assert_eq!(&p.payload[..], b"again");
            }
            other => panic!("late subscriber: expected PUBLISH, got {other:?}"),
        }
        assert_eq!(self.next().await.topic, topic);

        let bystander_id = format!("{}-bystander", self.tag);
        let entries = emu.wait_for("the round trip's Publish-Out entries", |e| {
            e.has("Publish-Out", &bystander_id) && e.has("Publish-Out", &sub2_id)
        });
        let publish_in = entries.of("Publish-In", &publisher_id);
        assert_eq!(publish_in.len(), 2, "{}", entries.dump());
        assert!(publish_in.iter().all(|e| e["status"] == "Success" && e["topicName"] == topic.as_str()));
        assert!(entries.of("Disconnect", &bystander_id).is_empty(), "the bystander stayed connected");
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_as_first_bytes_closes_the_connection_with_a_client_error() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "garbage").await;

    let mut http = RawClient::tcp(emu.mqtt).await;
    http.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_closed_silently(&mut http, "HTTP request").await;
    assert_client_error(&emu, "", &http, &["PROTOCOL_ERROR", "MALFORMED_PACKET"]);

    // A TLS ClientHello on the plain port.
    let mut tls = RawClient::tcp(emu.mqtt).await;
    tls.send_bytes(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]).await;
    assert_closed_silently(&mut tls, "TLS ClientHello").await;
    assert_client_error(&emu, "", &tls, &["PROTOCOL_ERROR", "MALFORMED_PACKET"]);

    // A CONNECT-typed packet whose content is garbage.
    let mut bad_connect = RawClient::tcp(emu.mqtt).await;
    bad_connect.send_bytes(&[0x10, 0x06, 0x00, 0x04, b'J', b'U', b'N', b'K']).await;
    assert_closed_silently(&mut bad_connect, "garbage CONNECT").await;
    assert_client_error(&emu, "", &bad_connect, &["MALFORMED_PACKET", "PROTOCOL_ERROR"]);

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_packet_is_a_client_error() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "truncated").await;

    // MQTT 3.1.1: CONNECT, half a PUBLISH, end of stream.
    let mut c4 = connect_v4(&emu, "trunc-4").await;
    let publish = encode_v4(publish_v4("t/x", QoS4::AtLeastOnce, vec![7u8; 100]));
    c4.send_bytes(&publish[..publish.len() / 2]).await;
    c4.shutdown_write().await;
    assert_closed_silently(&mut c4, "truncated PUBLISH (3.1.1)").await;
    assert_client_error(&emu, "trunc-4", &c4, &["MALFORMED_PACKET"]);

    // MQTT 5: the same, and the server still says why before closing.
    let mut c5 = connect_v5(&emu, "trunc-5").await;
    let publish = encode_v5(publish_v5(&b"t/x"[..], QoS5::AtLeastOnce, vec![7u8; 100]));
    c5.send_bytes(&publish[..publish.len() / 2]).await;
    c5.shutdown_write().await;
    assert_v5_disconnect(&mut c5, 0x81, "truncated PUBLISH (5)").await;
    assert_client_error(&emu, "trunc-5", &c5, &["MALFORMED_PACKET"]);

    // Half a CONNECT: nobody connected, but the connection sent bad input.
    let mut half = RawClient::tcp(emu.mqtt).await;
    let connect = encode_v4(v4::Packet::Connect(v4::Connect::new("trunc-connect")));
    half.send_bytes(&connect[..connect.len() / 2]).await;
    half.shutdown_write().await;
    assert_closed_silently(&mut half, "truncated CONNECT").await;
    assert_client_error(&emu, "", &half, &["MALFORMED_PACKET"]);

    let entries = emu.entries();
    assert!(!entries.has("Publish-In", "trunc-4") && !entries.has("Publish-In", "trunc-5"));
    assert!(!entries.has("Connect", "trunc-connect"));
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_that_stalls_half_way_is_closed_at_the_connect_timeout() {
    let config = tempfile_config("[broker]\nconnect_timeout_secs = 1\n");
    let emu = Emulator::start(BIN, &["--config", config.path().to_str().unwrap()]);
    let bystander = Bystander::connect(&emu, "stalled").await;

    let mut stalled = RawClient::tcp(emu.mqtt).await;
    let connect = encode_v4(v4::Packet::Connect(v4::Connect::new("stalled-connect")));
    stalled.send_bytes(&connect[..connect.len() / 2]).await;
    let started = std::time::Instant::now();
    assert_closed_silently(&mut stalled, "stalled CONNECT").await;
    assert!(started.elapsed() >= Duration::from_millis(800), "closed at the timeout, not before");
    assert_client_error(&emu, "", &stalled, &["MALFORMED_PACKET"]);

    // A socket that sends nothing at all is closed too, and nothing is logged for it.
    let mut silent = RawClient::tcp(emu.mqtt).await;
    assert_closed_silently(&mut silent, "silent socket").await;
    assert!(at_port(&emu.entries(), "Disconnect", silent.local.port()).is_empty());
    bystander.still_works(&emu).await;
}

/// A configuration file overlaying the defaults, alive as long as the returned handle.
fn tempfile_config(toml: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remaining_length_over_the_maximum_is_refused_without_waiting_for_the_bytes() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "remaining").await;

    // After CONNECT, a remaining length of five bytes (MQTT allows four).
    let mut c4 = connect_v4(&emu, "huge-4").await;
    c4.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_closed_silently(&mut c4, "5-byte remaining length (3.1.1)").await;
    assert_client_error(&emu, "huge-4", &c4, &["MALFORMED_PACKET", "PAYLOAD_LIMIT_EXCEEDED"]);

    let mut c5 = connect_v5(&emu, "huge-5-malformed").await;
    c5.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_v5_disconnect(&mut c5, 0x81, "5-byte remaining length (5)").await;
    assert_client_error(&emu, "huge-5-malformed", &c5, &["MALFORMED_PACKET"]);

    // After CONNECT, the largest valid remaining length (256 MB), far over the maximum.
    let mut big5 = connect_v5(&emu, "huge-5").await;
    big5.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_v5_disconnect(&mut big5, 0x95, "256 MB PUBLISH (5)").await;
    assert_client_error(&emu, "huge-5", &big5, &["PAYLOAD_LIMIT_EXCEEDED"]);

    let mut big4 = connect_v4(&emu, "huge-4-valid-length").await;
    big4.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_closed_silently(&mut big4, "256 MB PUBLISH (3.1.1)").await;
    assert_client_error(&emu, "huge-4-valid-length", &big4, &["PAYLOAD_LIMIT_EXCEEDED"]);

    // Before CONNECT: a PUBLISH header with the 5-byte length, and a 256 MB CONNECT.
    let mut pre = RawClient::tcp(emu.mqtt).await;
    pre.send_bytes(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_closed_silently(&mut pre, "5-byte remaining length before CONNECT").await;
    assert_client_error(&emu, "", &pre, &["PROTOCOL_ERROR", "MALFORMED_PACKET"]);

    let mut pre_connect = RawClient::tcp(emu.mqtt).await;
    pre_connect.send_bytes(&[0x10, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_closed_silently(&mut pre_connect, "256 MB CONNECT").await;
    assert_client_error(&emu, "", &pre_connect, &["PAYLOAD_LIMIT_EXCEEDED"]);

    let mut pre_connect5 = RawClient::tcp(emu.mqtt).await;
    pre_connect5.send_bytes(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]).await;
    assert_closed_silently(&mut pre_connect5, "CONNECT with a 5-byte remaining length").await;
    assert_client_error(&emu, "", &pre_connect5, &["MALFORMED_PACKET"]);

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_before_connect_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "early").await;

    let mut c = RawClient::tcp(emu.mqtt).await;
    c.send_v4(publish_v4("early/topic", QoS4::AtLeastOnce, "too soon")).await;
    assert_closed_silently(&mut c, "PUBLISH before CONNECT").await;
    assert_client_error(&emu, "", &c, &["PROTOCOL_ERROR"]);

    // QoS 0, then a valid CONNECT right behind it in the same write: still refused.
    let mut c2 = RawClient::tcp(emu.mqtt).await;
    let mut bytes = encode_v4(publish_v4("early/topic", QoS4::AtMostOnce, "too soon"));
    bytes.extend(encode_v4(v4::Packet::Connect(v4::Connect::new("early-after"))));
    c2.send_bytes(&bytes).await;
    assert_closed_silently(&mut c2, "PUBLISH then CONNECT").await;
    assert_client_error(&emu, "", &c2, &["PROTOCOL_ERROR"]);

    let entries = emu.entries();
    for client in [&c, &c2] {
        assert!(at_port(&entries, "Publish-In", client.local.port()).is_empty(), "{}", entries.dump());
    }
    assert!(!entries.has("Connect", "early-after"));
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connect_is_a_protocol_error() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "second").await;

    let mut c4 = connect_v4(&emu, "again-4").await;
    c4.send_v4(v4::Packet::Connect(v4::Connect::new("again-4-other"))).await;
    assert_closed_silently(&mut c4, "second CONNECT (3.1.1)").await;
    assert_client_error(&emu, "again-4", &c4, &["PROTOCOL_ERROR"]);

    let mut c5 = connect_v5(&emu, "again-5").await;
    let connect = v5::Connect {
        keep_alive: 30,
        client_id: "again-5-other".into(),
        clean_start: true,
        properties: None,
    };
    c5.send_v5(v5::Packet::Connect(connect, None, None)).await;
    assert_v5_disconnect(&mut c5, 0x82, "second CONNECT (5)").await;
    assert_client_error(&emu, "again-5", &c5, &["PROTOCOL_ERROR"]);

    let entries = emu.entries();
    assert!(!entries.has("Connect", "again-4-other") && !entries.has("Connect", "again-5-other"));
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_utf8_topic_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "utf8").await;
    let topic: &[u8] = &[b'u', b'/', 0xff, 0xfe, b'x'];

    // MQTT 3.1.1, by hand: PUBLISH QoS 0, topic length 5, the topic, payload "p".
    let mut c4 = connect_v4(&emu, "utf8-4").await;
    let mut packet = vec![0x30, (2 + topic.len() + 1) as u8, 0x00, topic.len() as u8];
    packet.extend_from_slice(topic);
    packet.push(b'p');
    c4.send_bytes(&packet).await;
    assert_closed_silently(&mut c4, "invalid UTF-8 topic (3.1.1)").await;
    assert_client_error(&emu, "utf8-4", &c4, &["MALFORMED_PACKET", "INVALID_TOPIC"]);

    // MQTT 5: the server answers with a DISCONNECT (0x81 Malformed or 0x90 Topic Name invalid).
    let mut c5 = connect_v5(&emu, "utf8-5").await;
    c5.send_v5(publish_v5(Bytes::from_static(&[b'u', b'/', 0xff, 0xfe, b'x']), QoS5::AtLeastOnce, "p")).await;
    let code = match c5.recv_v5(WAIT).await {
        Ok(v5::Packet::Disconnect(d)) => d.reason_code as u8,
        other => panic!("expected DISCONNECT, got {other:?}"),
    };
    assert!(code == 0x81 || code == 0x90, "DISCONNECT reason 0x{code:02X}");
    let (closed, rest) = c5.closed_within(WAIT).await;
    assert!(closed && rest.is_empty(), "closed after DISCONNECT, no PUBACK: {rest:02x?}");
    assert_client_error(&emu, "utf8-5", &c5, &["MALFORMED_PACKET", "INVALID_TOPIC"]);

    let entries = emu.entries();
    for (id, client) in [("utf8-4", &c4), ("utf8-5", &c5)] {
        let ok: Vec<_> = at_port(&entries, "Publish-In", client.local.port())
            .into_iter()
            .filter(|e| e["status"] == "Success")
            .collect();
        assert!(ok.is_empty(), "{id}: no Publish-In Success for an invalid topic:\n{}", entries.dump());
    }
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_in_a_publish_topic_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "wildcard").await;

    for (i, topic) in ["a/+/b", "a/#"].into_iter().enumerate() {
        let id4 = format!("wild-4-{i}");
        let mut c4 = connect_v4(&emu, &id4).await;
        c4.send_v4(publish_v4(topic, QoS4::AtLeastOnce, "wild")).await;
        assert_closed_silently(&mut c4, &format!("PUBLISH to {topic} (3.1.1): no PUBACK")).await;
        assert_failure_entry(&emu, "Publish-In", &id4, &c4, topic, &["INVALID_TOPIC"]);
        assert_client_error(&emu, &id4, &c4, &["INVALID_TOPIC"]);

        let id5 = format!("wild-5-{i}");
        let mut c5 = connect_v5(&emu, &id5).await;
        c5.send_v5(publish_v5(Bytes::copy_from_slice(topic.as_bytes()), QoS5::AtLeastOnce, "wild")).await;
        assert_v5_disconnect(&mut c5, 0x90, &format!("PUBLISH to {topic} (5)")).await;
        assert_failure_entry(&emu, "Publish-In", &id5, &c5, topic, &["INVALID_TOPIC"]);
        assert_client_error(&emu, &id5, &c5, &["INVALID_TOPIC"]);
    }

    let entries = emu.entries();
    assert!(
        entries.0.iter().all(|e| e["eventType"] != "Publish-Out"),
        "nothing was delivered:\n{}",
        entries.dump()
    );
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_with_an_invalid_filter_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "filter").await;

    for (i, filter) in ["a/#/b", "a/b+"].into_iter().enumerate() {
        let id4 = format!("filter-4-{i}");
        let mut c4 = connect_v4(&emu, &id4).await;
        subscribe_v4(&mut c4, 3, &[filter]).await;
        assert_closed_silently(&mut c4, &format!("SUBSCRIBE {filter} (3.1.1): no SUBACK")).await;
        assert_failure_entry(&emu, "Subscribe", &id4, &c4, filter, &["INVALID_TOPIC_FILTER"]);
        assert_client_error(&emu, &id4, &c4, &["INVALID_TOPIC_FILTER"]);

        let id5 = format!("filter-5-{i}");
        let mut c5 = connect_v5(&emu, &id5).await;
        subscribe_v5(&mut c5, 3, &[filter]).await;
        assert_v5_disconnect(&mut c5, 0x8F, &format!("SUBSCRIBE {filter} (5)")).await;
        assert_failure_entry(&emu, "Subscribe", &id5, &c5, filter, &["INVALID_TOPIC_FILTER"]);
        assert_client_error(&emu, &id5, &c5, &["INVALID_TOPIC_FILTER"]);
    }

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

/// A deterministic pseudo-random byte source (Knuth's MMIX LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_survives_200_connections_of_random_garbage() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "storm").await;
    let mut rng = Lcg(0x0010_57e3);
    let mut ports = BTreeSet::new();
    for _wave in 0..4 {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let len = 1 + (rng.next() % 400) as usize;
            let garbage = rng.bytes(len);
            let addr = emu.mqtt;
            tasks.push(tokio::spawn(async move {
                let mut c = RawClient::tcp(addr).await;
                c.send_bytes(&garbage).await;
                c.shutdown_write().await;
                let (closed, _) = c.closed_within(10 * SECOND).await;
                (c.local.port(), closed, garbage)
            }));
        }
        for task in tasks {
            let (port, closed, garbage) = task.await.expect("garbage task");
            assert!(closed, "the connection from port {port} is closed after garbage {garbage:02x?}");
            ports.insert(port);
        }
    }
    assert_eq!(ports.len(), 200);

    let is_storm = |e: &&Value| {
        e["eventType"] == "Disconnect"
            && e["sourcePort"].as_u64().is_some_and(|p| ports.contains(&(p as u16)))
    };
    let entries = emu.wait_for("200 Disconnect entries", |e| e.0.iter().filter(is_storm).count() >= 200);
    let storm: Vec<_> = entries.0.iter().filter(is_storm).collect();
    assert_eq!(storm.len(), 200, "exactly one Disconnect per garbage connection");
    let logged: BTreeSet<u16> = storm.iter().map(|e| e["sourcePort"].as_u64().unwrap() as u16).collect();
    assert_eq!(logged, ports);
    for e in &storm {
        assert_eq!(e["clientId"], "", "{e}");
        assert_eq!(e["disconnectReason"], "CLIENT_ERROR", "{e}");
        assert_eq!(e["status"], "Failure", "{e}");
        assert_eq!(e["logLevel"], "ERROR", "{e}");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        assert!(e["details"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
    }
    assert!(!entries.0.iter().any(|e| e["eventType"] == "Connect" && e["clientId"] == ""));

    // No connection task leaked: only the bystander's remains.
    let deadline = std::time::Instant::now() + 10 * SECOND;
    loop {
        let health = http_get_json(emu.api, "/_iotemu/health");
        assert_eq!(health["status"], "ok");
        if health["connections"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "connections never went back to 1: {health}");
        tokio::time::sleep(SECOND / 10).await;
    }
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

/// `GET path` over plain HTTP/1.1; the body parsed as JSON (status must be 200).
fn http_get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect API");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split_once("\r\n\r\n").expect("headers end").1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

// ---------------------------------------------------------------------------------------------
// AWS IoT limits
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_over_128_bytes_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "client-id").await;

    // 128 bytes is allowed.
    let ok_id = "k".repeat(128);
    let ok = connect_v4(&emu, &ok_id).await;

    let long4 = "a".repeat(129);
    let (mut c4, ack) = RawClient::connect_v4(emu.mqtt, &long4, 30, true).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::BadClientId, "3.1.1 CONNACK return code 2");
    let (closed, rest) = c4.closed_within(WAIT).await;
    assert!(closed && rest.is_empty(), "closed after the refusal: {rest:02x?}");

    let long5 = "b".repeat(129);
    let (mut c5, ack) = RawClient::connect_v5(emu.mqtt, &long5, 30).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::ClientIdentifierNotValid, "MQTT 5 CONNACK 0x85");
    let (closed, rest) = c5.closed_within(WAIT).await;
    assert!(closed && rest.is_empty(), "closed after the refusal: {rest:02x?}");

    let entries =
        emu.wait_for("two Connect Failures", |e| e.has("Connect", &long4) && e.has("Connect", &long5));
    for (id, client) in [(&long4, &c4), (&long5, &c5)] {
        let connect = entries.one("Connect", id);
        assert_failure(connect, id, client, &["INVALID_CLIENT_ID"]);
        assert!(connect["details"].as_str().unwrap().contains("129"), "{connect}");
    }
    let ok_connect = entries.one("Connect", &ok_id);
    assert_eq!(ok_connect["status"], "Success");
    assert_eq!(ok_connect["sourcePort"], ok.local.port());

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_over_7_slashes_or_256_bytes_is_refused() {
    let emu = start();
    let mut bystander = Bystander::connect(&emu, "topic-limits").await;
    let mut ok = connect_v4(&emu, "topic-ok").await;

    // At the limits: 7 slashes, 256 bytes; both delivered.
    let seven = "a/b/c/d/e/f/g/h";
    let max_len = format!("long/{}", "x".repeat(251));
    assert_eq!(max_len.len(), 256);
    for topic in [seven, max_len.as_str()] {
        ok.send_v4(publish_v4(topic, QoS4::AtLeastOnce, "fits")).await;
        assert!(matches!(ok.recv_v4(WAIT).await, Ok(v4::Packet::PubAck(_))), "PUBACK for {topic}");
        assert_eq!(bystander.next().await.topic, topic);
    }

    let eight = "a/b/c/d/e/f/g/h/i";
    let too_long = format!("long/{}", "x".repeat(252));
    assert_eq!(too_long.len(), 257);
    for (i, topic) in [eight, too_long.as_str()].into_iter().enumerate() {
        let id4 = format!("topic-4-{i}");
        let mut c4 = connect_v4(&emu, &id4).await;
        c4.send_v4(publish_v4(topic, QoS4::AtLeastOnce, "too much")).await;
        assert_closed_silently(&mut c4, &format!("topic {i} (3.1.1)")).await;
        assert_failure_entry(&emu, "Publish-In", &id4, &c4, topic, &["INVALID_TOPIC"]);
        assert_client_error(&emu, &id4, &c4, &["INVALID_TOPIC"]);

        let id5 = format!("topic-5-{i}");
        let mut c5 = connect_v5(&emu, &id5).await;
        c5.send_v5(publish_v5(Bytes::copy_from_slice(topic.as_bytes()), QoS5::AtLeastOnce, "too much")).await;
        assert_v5_disconnect(&mut c5, 0x90, &format!("topic {i} (5)")).await;
        assert_failure_entry(&emu, "Publish-In", &id5, &c5, topic, &["INVALID_TOPIC"]);
        assert_client_error(&emu, &id5, &c5, &["INVALID_TOPIC"]);
    }

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_over_128_kib_is_a_client_error() {
    let emu = start();
    let mut bystander = Bystander::connect(&emu, "payload").await;
    const LIMIT: usize = 128 * 1024;

    let mut ok = connect_v4(&emu, "payload-ok").await;
    ok.send_v4(publish_v4("payload/max", QoS4::AtLeastOnce, vec![b'm'; LIMIT])).await;
    assert!(matches!(ok.recv_v4(WAIT).await, Ok(v4::Packet::PubAck(_))), "128 KiB is accepted");
    let got = bystander.next().await;
    assert_eq!((got.topic.as_str(), got.payload.len()), ("payload/max", LIMIT));

    let mut c4 = connect_v4(&emu, "payload-4").await;
    c4.send_v4(publish_v4("payload/over", QoS4::AtLeastOnce, vec![b'o'; LIMIT + 1])).await;
    assert_closed_silently(&mut c4, "128 KiB + 1 (3.1.1)").await;
    assert_failure_entry(&emu, "Publish-In", "payload-4", &c4, "payload/over", &["PAYLOAD_LIMIT_EXCEEDED"]);
    assert_client_error(&emu, "payload-4", &c4, &["PAYLOAD_LIMIT_EXCEEDED"]);

    let mut c5 = connect_v5(&emu, "payload-5").await;
    c5.send_v5(publish_v5(&b"payload/over"[..], QoS5::AtLeastOnce, vec![b'o'; LIMIT + 1])).await;
    assert_v5_disconnect(&mut c5, 0x95, "128 KiB + 1 (5)").await;
    assert_failure_entry(&emu, "Publish-In", "payload-5", &c5, "payload/over", &["PAYLOAD_LIMIT_EXCEEDED"]);
    assert_client_error(&emu, "payload-5", &c5, &["PAYLOAD_LIMIT_EXCEEDED"]);

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_with_9_filters_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "nine").await;
    let eight: Vec<String> = (0..8).map(|i| format!("nine/{i}")).collect();
    let nine: Vec<String> = (0..9).map(|i| format!("nine/{i}")).collect();
    let eight: Vec<&str> = eight.iter().map(String::as_str).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();

    let mut ok = connect_v4(&emu, "nine-ok").await;
    subscribe_v4(&mut ok, 4, &eight).await;
    expect_suback_v4(&mut ok, 4, 8).await;

    let mut c4 = connect_v4(&emu, "nine-4").await;
    subscribe_v4(&mut c4, 4, &nine).await;
    assert_closed_silently(&mut c4, "9 filters (3.1.1): no SUBACK").await;
    assert_client_error(&emu, "nine-4", &c4, &["SUBSCRIPTION_LIMIT_EXCEEDED"]);

    let mut c5 = connect_v5(&emu, "nine-5").await;
    subscribe_v5(&mut c5, 4, &nine).await;
    assert_v5_disconnect(&mut c5, 0x97, "9 filters (5)").await;
    assert_client_error(&emu, "nine-5", &c5, &["SUBSCRIPTION_LIMIT_EXCEEDED"]);

    let entries = emu.entries();
    for (id, client) in [("nine-4", &c4), ("nine-5", &c5)] {
        let subs = at_port(&entries, "Subscribe", client.local.port());
        assert!(
            subs.iter().all(|e| e["status"] == "Failure"),
            "no filter of a refused SUBSCRIBE succeeds: {id}"
        );
    }
    assert_eq!(entries.of("Subscribe", "nine-ok").len(), 8);
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_51st_subscription_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "fifty").await;
    let filters: Vec<String> = (0..50).map(|i| format!("fifty/{i}")).collect();
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();

    let mut c4 = connect_v4(&emu, "fifty-4").await;
    for (i, chunk) in filters.chunks(8).enumerate() {
        subscribe_v4(&mut c4, 10 + i as u16, chunk).await;
        expect_suback_v4(&mut c4, 10 + i as u16, chunk.len()).await;
    }
    // Subscribing again to a filter it has is no new subscription.
    subscribe_v4(&mut c4, 30, &["fifty/0"]).await;
    expect_suback_v4(&mut c4, 30, 1).await;
    subscribe_v4(&mut c4, 31, &["fifty/50"]).await;
    assert_closed_silently(&mut c4, "51st subscription (3.1.1)").await;
    assert_failure_entry(&emu, "Subscribe", "fifty-4", &c4, "fifty/50", &["SUBSCRIPTION_LIMIT_EXCEEDED"]);
    assert_client_error(&emu, "fifty-4", &c4, &["SUBSCRIPTION_LIMIT_EXCEEDED"]);

    let mut c5 = connect_v5(&emu, "fifty-5").await;
    for (i, chunk) in filters.chunks(8).enumerate() {
        subscribe_v5(&mut c5, 10 + i as u16, chunk).await;
        expect_suback_v5(&mut c5, 10 + i as u16, chunk.len()).await;
    }
    subscribe_v5(&mut c5, 31, &["fifty/50"]).await;
    assert_v5_disconnect(&mut c5, 0x97, "51st subscription (5)").await;
    assert_failure_entry(&emu, "Subscribe", "fifty-5", &c5, "fifty/50", &["SUBSCRIPTION_LIMIT_EXCEEDED"]);
    assert_client_error(&emu, "fifty-5", &c5, &["SUBSCRIPTION_LIMIT_EXCEEDED"]);

    let entries = emu.entries();
    for id in ["fifty-4", "fifty-5"] {
        let ok = entries.of("Subscribe", id).into_iter().filter(|e| e["status"] == "Success").count();
        assert!(ok >= 50, "{id}: the first 50 subscriptions succeed ({ok})");
    }
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

// ---------------------------------------------------------------------------------------------
// QoS 2
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos2_publish_is_refused() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "qos2").await;

    let mut c4 = connect_v4(&emu, "qos2-4").await;
    c4.send_v4(publish_v4("qos2/t", QoS4::ExactlyOnce, "exactly once")).await;
    assert_closed_silently(&mut c4, "QoS 2 PUBLISH (3.1.1): no PUBACK or PUBREC").await;
    assert_failure_entry(&emu, "Publish-In", "qos2-4", &c4, "qos2/t", &["QOS_NOT_SUPPORTED"]);
    assert_client_error(&emu, "qos2-4", &c4, &["QOS_NOT_SUPPORTED"]);

    let mut c5 = connect_v5(&emu, "qos2-5").await;
    c5.send_v5(publish_v5(&b"qos2/t"[..], QoS5::ExactlyOnce, "exactly once")).await;
    assert_v5_disconnect(&mut c5, 0x9B, "QoS 2 PUBLISH (5)").await;
    assert_failure_entry(&emu, "Publish-In", "qos2-5", &c5, "qos2/t", &["QOS_NOT_SUPPORTED"]);
    assert_client_error(&emu, "qos2-5", &c5, &["QOS_NOT_SUPPORTED"]);

    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos2_will_is_refused_and_mqtt5_connack_advertises_max_qos_1() {
    let emu = start();
    let bystander = Bystander::connect(&emu, "will2").await;

    // MQTT 5 CONNACK of an accepted client: Maximum QoS 1.
    let (accepted, ack) = RawClient::connect_v5(emu.mqtt, "will2-ok", 30).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.max_qos, Some(1), "MQTT 5 CONNACK advertises Maximum QoS 1");

    // 3.1.1: closed with no CONNACK.
    let mut c4 = RawClient::tcp(emu.mqtt).await;
    let mut connect = v4::Connect::new("will2-4");
    connect.last_will = Some(v4::LastWill::new("will2/t", "gone", QoS4::ExactlyOnce, false));
    c4.send_v4(v4::Packet::Connect(connect)).await;
    assert_closed_silently(&mut c4, "QoS 2 will (3.1.1): no CONNACK").await;

    // MQTT 5: CONNACK 0x9B, then closed.
    let mut c5 = RawClient::tcp(emu.mqtt).await;
    let connect =
        v5::Connect { keep_alive: 30, client_id: "will2-5".into(), clean_start: true, properties: None };
    let will = v5::LastWill::new("will2/t", "gone", QoS5::ExactlyOnce, false, None);
    c5.send_v5(v5::Packet::Connect(connect, Some(will), None)).await;
    match c5.recv_v5(WAIT).await {
        Ok(v5::Packet::ConnAck(ack)) => {
            assert_eq!(ack.code, v5::ConnectReturnCode::QoSNotSupported, "CONNACK 0x9B");
            if let Some(p) = ack.properties {
                assert_eq!(p.max_qos, Some(1));
            }
        }
        other => panic!("expected CONNACK 0x9B, got {other:?}"),
    }
    let (closed, rest) = c5.closed_within(WAIT).await;
    assert!(closed && rest.is_empty(), "closed after CONNACK 0x9B: {rest:02x?}");

    let entries =
        emu.wait_for("two Connect Failures", |e| e.has("Connect", "will2-4") && e.has("Connect", "will2-5"));
    for (id, client) in [("will2-4", &c4), ("will2-5", &c5)] {
        assert_failure(entries.one("Connect", id), id, client, &["QOS_NOT_SUPPORTED"]);
        assert!(
            entries
                .of("Disconnect", id)
                .iter()
                .all(|e| e["disconnectReason"] != "CLIENT_INITIATED_DISCONNECT"),
            "{id}"
        );
    }
    drop(accepted);
    // The refused wills were not published: the bystander's next message is the round trip's.
    bystander.still_works(&emu).await;
    emu.check_log_entries(&["Connect", "Subscribe", "Publish-In", "Publish-Out"]);
}

// ---------------------------------------------------------------------------------------------
// Reserved topics (`reserved-topics.md`)
// ---------------------------------------------------------------------------------------------

/// Wills and subscriptions on reserved topics that clients may not use are refused with the
/// reason FORBIDDEN_RESERVED_TOPIC: a will on a shadow answer topic (3.1.1: closed without
/// CONNACK; MQTT 5: CONNACK 0x90), a 3.1.1 SUBSCRIBE to a Publish-only topic (closed), an MQTT 5
/// SUBSCRIBE to a `$` topic AWS does not list (SUBACK 0x8F, the connection stays) and an MQTT 5
/// QoS 1 PUBLISH to a `jobs/notify` (PUBACK 0x90). A subscriber to the answer topics gets none
/// of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_topics_refuse_what_clients_may_not_do_there() {
    let emu = start();
    let delta = "$aws/things/lamp/shadow/update/delta";
    let notify = "$aws/things/lamp/jobs/notify";
    let mut watcher = connect_v4(&emu, "watcher").await;
    subscribe_v4(&mut watcher, 1, &[delta, notify]).await;
    expect_suback_v4(&mut watcher, 1, 2).await;

    let mut c4 = RawClient::tcp(emu.mqtt).await;
    let mut connect = v4::Connect::new("will-4");
    connect.last_will = Some(v4::LastWill::new(delta, "{\"state\":{}}", QoS4::AtMostOnce, false));
    c4.send_v4(v4::Packet::Connect(connect)).await;
    assert_closed_silently(&mut c4, "a will on a delta topic (3.1.1): no CONNACK").await;

    let mut c5 = RawClient::tcp(emu.mqtt).await;
    let connect =
        v5::Connect { keep_alive: 30, client_id: "will-5".into(), clean_start: true, properties: None };
    let will = v5::LastWill::new(delta, "{\"state\":{}}", QoS5::AtMostOnce, false, None);
    c5.send_v5(v5::Packet::Connect(connect, Some(will), None)).await;
    match c5.recv_v5(WAIT).await {
        Ok(v5::Packet::ConnAck(ack)) => {
            assert_eq!(ack.code, v5::ConnectReturnCode::TopicNameInvalid, "CONNACK 0x90")
        }
        other => panic!("expected CONNACK 0x90, got {other:?}"),
    }

    let mut sub4 = connect_v4(&emu, "sub-4").await;
    subscribe_v4(&mut sub4, 2, &["$aws/things/lamp/jobs/get"]).await;
    assert_closed_silently(&mut sub4, "3.1.1 SUBSCRIBE to a Publish-only topic").await;

    let mut c = connect_v5(&emu, "client-5").await;
    subscribe_v5(&mut c, 3, &["$SYS/#", "$aws/things/lamp/shadow/update/accepted"]).await;
    match c.recv_v5(WAIT).await {
        Ok(v5::Packet::SubAck(ack)) => assert_eq!(
            ack.return_codes,
            [
                v5::SubscribeReasonCode::TopicFilterInvalid,
                v5::SubscribeReasonCode::Success(QoS5::AtLeastOnce)
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    c.send_v5(publish_v5(notify, QoS5::AtLeastOnce, "{\"jobs\":{}}")).await;
    match c.recv_v5(WAIT).await {
        Ok(v5::Packet::PubAck(ack)) => {
            assert_eq!((ack.pkid, ack.reason), (9, v5::PubAckReason::TopicNameInvalid), "PUBACK 0x90")
        }
        other => panic!("expected PUBACK 0x90, got {other:?}"),
    }
    // The connection stays: a ping is answered.
    c.send_v5(v5::Packet::PingReq(v5::PingReq)).await;
    assert!(matches!(c.recv_v5(WAIT).await, Ok(v5::Packet::PingResp(_))));

    let entries = emu.wait_for("the refusals", |e| {
        e.has("Connect", "will-4")
            && e.has("Connect", "will-5")
            && e.has("Disconnect", "sub-4")
            && e.of("Subscribe", "client-5").len() == 2
            && e.has("Publish-In", "client-5")
    });
    assert_failure(entries.one("Connect", "will-4"), "will-4", &c4, &["FORBIDDEN_RESERVED_TOPIC"]);
    assert_failure(entries.one("Connect", "will-5"), "will-5", &c5, &["FORBIDDEN_RESERVED_TOPIC"]);
    let refused_filter = entries.of("Subscribe", "sub-4");
    assert_eq!(refused_filter.len(), 1, "{}", entries.dump());
    assert_failure(refused_filter[0], "sub-4", &sub4, &["FORBIDDEN_RESERVED_TOPIC"]);
    assert_client_error(&emu, "sub-4", &sub4, &["FORBIDDEN_RESERVED_TOPIC"]);
    let sys = entries.of("Subscribe", "client-5").into_iter().find(|e| e["topicName"] == "$SYS/#").cloned();
    assert_failure(&sys.expect("the $SYS/# Subscribe entry"), "client-5", &c, &["FORBIDDEN_RESERVED_TOPIC"]);
    let publish = entries.one("Publish-In", "client-5");
    assert_failure(publish, "client-5", &c, &["FORBIDDEN_RESERVED_TOPIC"]);
    assert!(publish["details"].as_str().unwrap().contains(notify), "{publish}");

    // Nothing reached the watcher: its next packet is the answer to its ping.
    watcher.send_v4(v4::Packet::PingReq).await;
    assert!(matches!(watcher.recv_v4(WAIT).await, Ok(v4::Packet::PingResp)), "no forged answer arrived");
    emu.check_log_entries(&["Connect", "Disconnect", "Subscribe", "Publish-In"]);
}
