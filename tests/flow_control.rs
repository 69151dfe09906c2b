//! End-to-end tests of the broker's flow control and of what survives a crash, over real
//! sockets: packets sent together with CONNECT, a client's MQTT 5 Receive Maximum and Maximum
//! Packet Size, a will delayed beyond its session's end, a subscriber too slow for a flood
//! (bounded backlog, Publish-Out entries only for what went out), and a log line cut short by
//! `kill -9`.

use bytes::{Bytes, BytesMut};
use iotemu_testkit::{Emulator, RawClient};
use rumqttc::mqttbytes::v4;
use rumqttc::mqttbytes::QoS as QoS4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use serde_json::Value;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_iotemu");
const SECOND: Duration = Duration::from_secs(1);

async fn subscribe_v4(client: &mut RawClient, filter: &str, qos: QoS4) {
    let sub = v4::Subscribe { pkid: 1, filters: vec![v4::SubscribeFilter { path: filter.into(), qos }] };
    client.send_v4(v4::Packet::Subscribe(sub)).await;
    match client.recv_v4(5 * SECOND).await {
        Ok(v4::Packet::SubAck(ack)) => assert_eq!(ack.pkid, 1),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

async fn subscribe_v5(client: &mut RawClient, filter: &str, qos: QoS5) {
    let sub = v5::Subscribe { pkid: 1, filters: vec![v5::Filter::new(filter, qos)], properties: None };
    client.send_v5(v5::Packet::Subscribe(sub)).await;
    assert!(matches!(client.recv_v5(5 * SECOND).await, Ok(v5::Packet::SubAck(_))), "SUBACK");
}

/// A QoS 1 publish, waiting for its PUBACK.
async fn publish_qos1(client: &mut RawClient, topic: &str, payload: &[u8]) {
    let mut p = v4::Publish::new(topic, QoS4::AtLeastOnce, payload.to_vec());
    p.pkid = 7;
    client.send_v4(v4::Packet::Publish(p)).await;
    match client.recv_v4(10 * SECOND).await {
        Ok(v4::Packet::PubAck(ack)) => assert_eq!(ack.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

async fn next_publish_v4(client: &mut RawClient, wait: Duration) -> Option<v4::Publish> {
    loop {
        match client.recv_v4(wait).await {
            Ok(v4::Packet::Publish(p)) => return Some(p),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

async fn next_publish_v5(client: &mut RawClient, wait: Duration) -> Option<v5::Publish> {
    loop {
        match client.recv_v5(wait).await {
            Ok(v5::Packet::Publish(p)) => return Some(p),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Connects with MQTT 5 and the given CONNECT properties; returns the client.
async fn connect_v5_with(emu: &Emulator, id: &str, properties: v5::ConnectProperties) -> RawClient {
    let mut c = RawClient::tcp(emu.mqtt).await;
    let connect =
        v5::Connect { keep_alive: 30, client_id: id.into(), clean_start: true, properties: Some(properties) };
    c.send_v5(v5::Packet::Connect(connect, None, None)).await;
    assert!(matches!(c.recv_v5(5 * SECOND).await, Ok(v5::Packet::ConnAck(_))), "CONNACK");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_sent_in_the_same_write_as_connect_are_answered_at_once() {
    let emu = Emulator::start(BIN, &[]);
    let mut bytes = BytesMut::new();
    v4::Packet::Connect(v4::Connect::new("eager")).write(&mut bytes, usize::MAX).unwrap();
    let filter = v4::SubscribeFilter { path: "eager/t".into(), qos: QoS4::AtLeastOnce };
    v4::Packet::Subscribe(v4::Subscribe { pkid: 3, filters: vec![filter] })
        .write(&mut bytes, usize::MAX)
        .unwrap();
    let mut publish = v4::Publish::new("eager/t", QoS4::AtLeastOnce, b"hello".to_vec());
    publish.pkid = 4;
    v4::Packet::Publish(publish).write(&mut bytes, usize::MAX).unwrap();

    let mut client = RawClient::tcp(emu.mqtt).await;
    client.send_bytes(&bytes).await;
    // Nothing more is sent: each answer must come from what the first write held.
    assert!(matches!(client.recv_v4(5 * SECOND).await, Ok(v4::Packet::ConnAck(_))), "CONNACK");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match client.recv_v4(3 * SECOND).await {
            Ok(v4::Packet::SubAck(ack)) => seen.push(format!("suback {}", ack.pkid)),
            Ok(v4::Packet::PubAck(ack)) => seen.push(format!("puback {}", ack.pkid)),
            Ok(v4::Packet::Publish(p)) => {
                seen.push(format!("publish {}", String::from_utf8_lossy(&p.payload)))
            }
            other => panic!("the packets after CONNECT were not answered: {other:?} after {seen:?}"),
        }
    }
    seen.sort();
    assert_eq!(seen, ["puback 4", "publish hello", "suback 3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_maximum_of_2_holds_the_third_unacknowledged_message() {
    let emu = Emulator::start(BIN, &[]);
    let properties = v5::ConnectProperties { receive_maximum: Some(2), ..v5::ConnectProperties::new() };
    let mut sub = connect_v5_with(&emu, "rm-sub", properties).await;
    subscribe_v5(&mut sub, "rm/t", QoS5::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::connect_v4(emu.mqtt, "rm-pub", 30, true).await;
    for i in 1..=3 {
        publish_qos1(&mut publisher, "rm/t", format!("m{i}").as_bytes()).await;
    }
    let mut got = Vec::new();
    while let Some(p) = next_publish_v5(&mut sub, 2 * SECOND).await {
        got.push(p);
    }
    let payloads: Vec<&[u8]> = got.iter().map(|p| &p.payload[..]).collect();
    assert_eq!(payloads, [b"m1", b"m2"], "no more unacknowledged QoS 1 PUBLISHes than the client allows");
    sub.send_v5(v5::Packet::PubAck(v5::PubAck::new(got[0].pkid, None))).await;
    let third = next_publish_v5(&mut sub, 5 * SECOND).await.expect("the third once one is acknowledged");
    assert_eq!(&third.payload[..], b"m3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maximum_packet_size_of_64_bytes_drops_larger_messages_for_that_client() {
    let emu = Emulator::start(BIN, &[]);
    let properties = v5::ConnectProperties { max_packet_size: Some(64), ..v5::ConnectProperties::new() };
    let mut small = connect_v5_with(&emu, "mps-small", properties).await;
    subscribe_v5(&mut small, "mps/t", QoS5::AtLeastOnce).await;
    let (mut big, _) = RawClient::connect_v4(emu.mqtt, "mps-big", 30, true).await;
    subscribe_v4(&mut big, "mps/t", QoS4::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::connect_v4(emu.mqtt, "mps-pub", 30, true).await;
    publish_qos1(&mut publisher, "mps/t", b"short").await;
    publish_qos1(&mut publisher, "mps/t", &[b'x'; 200]).await;
    publish_qos1(&mut publisher, "mps/t", b"after").await;

    let mut got = Vec::new();
    while let Some(p) = next_publish_v5(&mut small, 2 * SECOND).await {
        sub_ack_v5(&mut small, p.pkid).await;
        got.push(p.payload);
    }
    assert_eq!(
        got,
        [Bytes::from_static(b"short"), Bytes::from_static(b"after")],
        "the 200-byte one is dropped"
    );
    let mut sizes = Vec::new();
    while let Some(p) = next_publish_v4(&mut big, 2 * SECOND).await {
        sizes.push(p.payload.len());
    }
    assert_eq!(sizes, [5, 200, 5], "other clients get every message");
    let entries = emu.wait_for("the dropped message's Publish-Out Failure", |e| {
        e.of("Publish-Out", "mps-small").iter().any(|x| x["status"] == "Failure")
    });
    let failure =
        entries.of("Publish-Out", "mps-small").into_iter().find(|x| x["status"] == "Failure").unwrap();
    assert_eq!(failure["reason"], "PAYLOAD_LIMIT_EXCEEDED");
    assert_eq!(entries.of("Publish-Out", "mps-small").len(), 3, "two Success entries and the Failure");
    emu.check_log_entries(&["Publish-Out"]);
}

async fn sub_ack_v5(client: &mut RawClient, pkid: u16) {
    client.send_v5(v5::Packet::PubAck(v5::PubAck::new(pkid, None))).await;
}

/// Connects an MQTT 5 client with a will delayed by 5 s and the given session expiry, then
/// drops the TCP connection without DISCONNECT.
async fn lose_client_with_delayed_will(emu: &Emulator, id: &str, session_expiry: u32) {
    let mut c = RawClient::tcp(emu.mqtt).await;
    let will = v5::LastWill {
        topic: Bytes::from(format!("wills/{id}")),
        message: Bytes::from_static(b"gone"),
        qos: QoS5::AtMostOnce,
        retain: false,
        properties: Some(v5::LastWillProperties {
            delay_interval: Some(5),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: Vec::new(),
        }),
    };
    let properties = v5::ConnectProperties {
        session_expiry_interval: Some(session_expiry),
        ..v5::ConnectProperties::new()
    };
    let connect =
        v5::Connect { keep_alive: 30, client_id: id.into(), clean_start: true, properties: Some(properties) };
    c.send_v5(v5::Packet::Connect(connect, Some(will), None)).await;
    assert!(matches!(c.recv_v5(5 * SECOND).await, Ok(v5::Packet::ConnAck(_))));
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_delayed_beyond_its_session_is_sent_when_the_session_ends() {
    let emu = Emulator::start(BIN, &[]);
    let (mut watcher, _) = RawClient::connect_v4(emu.mqtt, "will-watch", 30, true).await;
    subscribe_v4(&mut watcher, "wills/#", QoS4::AtMostOnce).await;

    // Session expiry 0: the session ends with the connection, so the will goes at once.
    lose_client_with_delayed_will(&emu, "no-session", 0).await;
    let will = next_publish_v4(&mut watcher, 3 * SECOND).await.expect("the will, well before its 5 s delay");
    assert_eq!(will.topic, "wills/no-session");

    // Session expiry 2 s: the will goes when the session expires, before its 5 s delay.
    lose_client_with_delayed_will(&emu, "short-session", 2).await;
    assert!(next_publish_v4(&mut watcher, SECOND).await.is_none(), "not while the session lives");
    let will = next_publish_v4(&mut watcher, 3 * SECOND).await.expect("the will at the session's end");
    assert_eq!(will.topic, "wills/short-session");
}

/// An emulator whose connection backlog is small: 500 messages, 1 MiB.
fn start_with_small_backlog() -> Emulator {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    let limits = "[limits]\nconnection_queue = 500\nconnection_queue_bytes = 1048576\n";
    std::io::Write::write_all(&mut config, limits.as_bytes()).unwrap();
    // The emulator reads its configuration when it starts; the file goes when this returns.
    Emulator::start(BIN, &["--config", config.path().to_str().unwrap()])
}

fn throttled(emu: &Emulator) -> u64 {
    emu.health()["publishOutThrottled"].as_u64().expect("publishOutThrottled in /_iotemu/health")
}

/// Publishes `count` messages of `size` bytes on `topic` in one go, then waits for the PUBACK of
/// a last QoS 1 message: once it comes, every one of them has been routed.
async fn flood(publisher: &mut RawClient, topic: &str, count: usize, size: usize, qos: QoS4) {
    let mut bytes = BytesMut::new();
    for i in 0..count {
        let mut p = v4::Publish::new(topic, qos, vec![b'f'; size]);
        p.pkid = if qos == QoS4::AtLeastOnce { (i % 60_000) as u16 + 1 } else { 0 };
        v4::Packet::Publish(p).write(&mut bytes, usize::MAX).unwrap();
    }
    publisher.send_bytes(&bytes).await;
    let mut p = v4::Publish::new("flood/done", QoS4::AtLeastOnce, b"done".to_vec());
    p.pkid = 65_000;
    publisher.send_v4(v4::Packet::Publish(p)).await;
    loop {
        match publisher.recv_v4(30 * SECOND).await {
            Ok(v4::Packet::PubAck(ack)) if ack.pkid == 65_000 => return,
            Ok(_) => continue,
            other => panic!("the flood was not acknowledged: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos1_subscriber_that_stops_reading_is_throttled_not_buffered_without_bound() {
    let emu = start_with_small_backlog();
    let (mut slow, _) = RawClient::connect_v4(emu.mqtt, "never-reads", 30, true).await;
    subscribe_v4(&mut slow, "flood/q1", QoS4::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::connect_v4(emu.mqtt, "flooder", 30, true).await;
    const SENT: usize = 3000;
    flood(&mut publisher, "flood/q1", SENT, 20, QoS4::AtLeastOnce).await;

    // 100 in flight and at most 500 waiting: the rest was dropped, counted, and said so.
    let dropped = throttled(&emu);
    assert!(dropped >= (SENT - 100 - 500 - 1) as u64, "only the backlog is kept; throttled {dropped}");
    assert_eq!(emu.health()["connections"], 2, "the slow subscriber stays connected");
    let entries = emu.wait_for("the THROTTLED failures", |e| {
        e.of("Publish-Out", "never-reads").iter().filter(|x| x["status"] == "Failure").count() as u64
            == dropped
    });
    let failure =
        entries.of("Publish-Out", "never-reads").into_iter().find(|x| x["status"] == "Failure").unwrap();
    assert_eq!(failure["reason"], "THROTTLED");

    // Reading and acknowledging now, it gets exactly what was not dropped.
    let mut received = 0;
    while let Some(p) = next_publish_v4(&mut slow, 2 * SECOND).await {
        slow.send_v4(v4::Packet::PubAck(v4::PubAck::new(p.pkid))).await;
        received += 1;
    }
    assert_eq!(received as u64 + dropped, SENT as u64, "every message was delivered or counted as dropped");
    let entries = emu.wait_for("the Publish-Out entries", |e| {
        e.of("Publish-Out", "never-reads").iter().filter(|x| x["status"] == "Success").count() == received
    });
    assert_eq!(entries.of("Publish-Out", "never-reads").len() as u64, received as u64 + dropped);
    emu.check_log_entries(&["Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos0_publish_out_success_means_the_message_reached_the_socket() {
    let emu = start_with_small_backlog();
    let (mut slow, _) = RawClient::connect_v4(emu.mqtt, "slow-reader", 30, true).await;
    subscribe_v4(&mut slow, "flood/q0", QoS4::AtMostOnce).await;
    let (mut publisher, _) = RawClient::connect_v4(emu.mqtt, "flooder0", 30, true).await;
    // 40 MB: more than the kernel's socket buffers and the 1 MiB backlog hold.
    const SENT: usize = 4000;
    flood(&mut publisher, "flood/q0", SENT, 10_000, QoS4::AtMostOnce).await;
    let dropped = throttled(&emu);
    assert!(dropped > 0, "the byte bound of the backlog dropped some");

    let mut received = 0u64;
    while next_publish_v4(&mut slow, 2 * SECOND).await.is_some() {
        received += 1;
    }
    assert_eq!(received + dropped, SENT as u64, "every message was delivered or counted as dropped");
    let entries = emu.wait_for("the Publish-Out entries", |e| {
        e.of("Publish-Out", "slow-reader").len() as u64 == SENT as u64
    });
    let successes =
        entries.of("Publish-Out", "slow-reader").iter().filter(|x| x["status"] == "Success").count();
    assert_eq!(successes as u64, received, "a Success for each message that went out, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_line_cut_short_by_kill_9_is_ended_on_restart() {
    let mut emu = Emulator::start(BIN, &[]);
    let (first, _) = RawClient::connect_v4(emu.mqtt, "before-crash", 30, true).await;
    emu.wait_for("the first Connect", |e| e.has("Connect", "before-crash"));
    drop(first);
    emu.wait_for("the first Disconnect", |e| e.has("Disconnect", "before-crash"));
    // The crash cut the last entry short.
    let torn = br#"{"timestamp":"2024-01-01 00:00:00.000","logLevel":"INFO","traceId":"#;
    let mut file = std::fs::OpenOptions::new().append(true).open(&emu.log_file).unwrap();
    std::io::Write::write_all(&mut file, torn).unwrap();
    drop(file);
    emu.restart(true);

    let (_after, _) = RawClient::connect_v4(emu.mqtt, "after-crash", 30, true).await;
    let deadline = std::time::Instant::now() + 10 * SECOND;
    loop {
        let text = std::fs::read_to_string(&emu.log_file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let torn_line = lines.iter().position(|l| l.as_bytes() == torn);
        let parsed: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let connected = parsed.iter().any(|e| e["eventType"] == "Connect" && e["clientId"] == "after-crash");
        if torn_line.is_some() && connected {
            assert_eq!(parsed.len() + 1, lines.len(), "every other line is a whole entry:\n{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the torn line was not ended on restart:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
