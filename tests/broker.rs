//! End-to-end tests of the MQTT broker and its log entries: the real `iotemu` binary on free
//! ports, driven by rumqttc (MQTT 3.1.1 and 5), raw packets, and mosquitto's clients.

use bytes::Bytes;
use iotemu_testkit::{Emulator, RawClient};
use rumqttc::mqttbytes::v4;
use rumqttc::mqttbytes::QoS as QoS4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_iotemu");
const SECOND: Duration = Duration::from_secs(1);

fn start() -> Emulator {
    Emulator::start(BIN, &[])
}

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

async fn publish_v4(client: &mut RawClient, topic: &str, payload: &str, qos: QoS4, retain: bool) {
    let mut p = v4::Publish::new(topic, qos, payload.as_bytes().to_vec());
    p.retain = retain;
    if qos == QoS4::AtLeastOnce {
        p.pkid = 7;
    }
    client.send_v4(v4::Packet::Publish(p)).await;
    if qos == QoS4::AtLeastOnce {
        match client.recv_v4(5 * SECOND).await {
            Ok(v4::Packet::PubAck(ack)) => assert_eq!(ack.pkid, 7),
            other => panic!("expected PUBACK, got {other:?}"),
        }
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

async fn disconnect_v4(mut client: RawClient) {
    client.send_v4(v4::Packet::Disconnect).await;
    let (closed, _) = client.closed_within(5 * SECOND).await;
    assert!(closed, "the broker closes after DISCONNECT");
}

fn trace(entry: &Value) -> &str {
    entry["traceId"].as_str().expect("traceId")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broker_event_writes_its_documented_entry() {
    let emu = start();
    let (mut sub, ack) = RawClient::connect_v4(emu.mqtt, "sub-1", 30, true).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    subscribe_v4(&mut sub, "devices/+/telemetry", QoS4::AtLeastOnce).await;
    let (mut publisher, _) = RawClient::connect_v4(emu.mqtt, "pub-1", 30, true).await;
    publish_v4(&mut publisher, "devices/d1/telemetry", "{\"t\":21}", QoS4::AtLeastOnce, false).await;
    let got = next_publish_v4(&mut sub, 5 * SECOND).await.expect("delivery");
    assert_eq!(got.topic, "devices/d1/telemetry");
    assert_eq!(&got.payload[..], b"{\"t\":21}");
    sub.send_v4(v4::Packet::PubAck(v4::PubAck::new(got.pkid))).await;
    disconnect_v4(publisher).await;
    disconnect_v4(sub).await;

    let entries =
        emu.wait_for("both disconnects", |e| e.has("Disconnect", "sub-1") && e.has("Disconnect", "pub-1"));
    for (id, port) in [("sub-1", sub_port(&entries, "sub-1")), ("pub-1", sub_port(&entries, "pub-1"))] {
        let connect = entries.one("Connect", id);
        assert_eq!(connect["sourcePort"], port);
        assert_eq!(connect["sourceIp"], "127.0.0.1");
        assert_eq!(connect["principalId"], "anonymous");
        assert_eq!(connect["protocol"], "MQTT");
        assert_eq!(connect["accountId"], "123456789012");
        let disconnect = entries.one("Disconnect", id);
        assert_eq!(disconnect["disconnectReason"], "CLIENT_INITIATED_DISCONNECT");
        assert_eq!(trace(disconnect), trace(connect), "Connect and Disconnect share a traceId");
    }
    let subscribe = entries.one("Subscribe", "sub-1");
    assert_eq!(subscribe["topicName"], "devices/+/telemetry");
    assert_ne!(
        trace(subscribe),
        trace(entries.one("Connect", "sub-1")),
        "each Subscribe has its own traceId"
    );
    let publish_in = entries.one("Publish-In", "pub-1");
    assert_eq!(publish_in["topicName"], "devices/d1/telemetry");
    let publish_out = entries.one("Publish-Out", "sub-1");
    assert_eq!(publish_out["topicName"], "devices/d1/telemetry");
    assert_eq!(trace(publish_out), trace(publish_in), "Publish-In and Publish-Out share a traceId");
    assert_ne!(trace(publish_in), trace(entries.one("Connect", "pub-1")));
    emu.check_log_entries(&["Connect", "Disconnect", "Publish-In", "Publish-Out", "Subscribe"]);
}

/// The port a client's Connect entry names; checked against the client's socket elsewhere.
fn sub_port(entries: &iotemu_testkit::Entries, id: &str) -> Value {
    entries.one("Connect", id)["sourcePort"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_port_is_the_clients_local_port_and_publish_out_is_per_delivery() {
    let emu = start();
    let (mut a, _) = RawClient::connect_v4(emu.mqtt, "fan-a", 30, true).await;
    let (mut b, _) = RawClient::connect_v5(emu.mqtt, "fan-b", 30).await;
    subscribe_v4(&mut a, "fan/out", QoS4::AtMostOnce).await;
    subscribe_v5(&mut b, "fan/#", QoS5::AtMostOnce).await;
    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "fan-pub", 30, true).await;
    publish_v4(&mut p, "fan/out", "x", QoS4::AtMostOnce, false).await;
    assert!(next_publish_v4(&mut a, 5 * SECOND).await.is_some());
    assert!(matches!(b.recv_v5(5 * SECOND).await, Ok(v5::Packet::Publish(_))));

    let entries =
        emu.wait_for("two deliveries", |e| e.has("Publish-Out", "fan-a") && e.has("Publish-Out", "fan-b"));
    for (id, client) in [("fan-a", &a), ("fan-b", &b), ("fan-pub", &p)] {
        assert_eq!(entries.one("Connect", id)["sourcePort"], client.local.port(), "{id}");
    }
    let tin = trace(entries.one("Publish-In", "fan-pub")).to_string();
    for id in ["fan-a", "fan-b"] {
        let out = entries.one("Publish-Out", id);
        assert_eq!(trace(out), tin);
        assert_eq!(out["sourcePort"], if id == "fan-a" { a.local.port() } else { b.local.port() });
    }
    emu.check_log_entries(&["Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_clients_v4_and_v5_exchange_qos0_and_qos1() {
    let emu = start();
    let port = emu.mqtt.port();
    let mut opts = rumqttc::v5::MqttOptions::new("v5-sub", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (sub, mut sub_loop) = rumqttc::v5::AsyncClient::new(opts, 10);
    sub.subscribe("room/+/temp", QoS5::AtLeastOnce).await.unwrap();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1);
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::channel(10);
    tokio::spawn(async move {
        loop {
            match sub_loop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(v5::Packet::SubAck(_))) => {
                    let _ = ready_tx.send(()).await;
                }
                Ok(rumqttc::v5::Event::Incoming(v5::Packet::Publish(p))) => {
                    let _ = msg_tx.send(p).await;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    tokio::time::timeout(5 * SECOND, ready_rx.recv()).await.expect("SUBACK").unwrap();

    let (publisher, mut pub_loop) =
        rumqttc::AsyncClient::new(rumqttc::MqttOptions::new("v4-pub", "127.0.0.1", port), 10);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    publisher.publish("room/1/temp", QoS4::AtMostOnce, false, "20").await.unwrap();
    publisher.publish("room/2/temp", QoS4::AtLeastOnce, false, "21").await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = tokio::time::timeout(5 * SECOND, msg_rx.recv()).await.expect("message").unwrap();
        got.push((String::from_utf8(p.topic.to_vec()).unwrap(), p.payload, p.qos));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0], ("room/1/temp".into(), Bytes::from("20"), QoS5::AtMostOnce));
    assert_eq!(got[1], ("room/2/temp".into(), Bytes::from("21"), QoS5::AtLeastOnce));
    emu.wait_for("two deliveries", |e| e.of("Publish-Out", "v5-sub").len() == 2);
    emu.check_log_entries(&["Connect", "Subscribe", "Publish-In", "Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_reach_exact_subscriptions_only() {
    let emu = start();
    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "ret-pub", 30, true).await;
    publish_v4(&mut p, "status/lamp", "on", QoS4::AtLeastOnce, true).await;

    let (mut exact, _) = RawClient::connect_v4(emu.mqtt, "ret-exact", 30, true).await;
    subscribe_v4(&mut exact, "status/lamp", QoS4::AtLeastOnce).await;
    let stored = next_publish_v4(&mut exact, 5 * SECOND).await.expect("retained message");
    assert!(stored.retain, "the stored message carries RETAIN");
    assert_eq!(&stored.payload[..], b"on");

    let (mut wild, _) = RawClient::connect_v4(emu.mqtt, "ret-wild", 30, true).await;
    subscribe_v4(&mut wild, "status/#", QoS4::AtMostOnce).await;
    assert!(
        next_publish_v4(&mut wild, SECOND).await.is_none(),
        "a wildcard subscription gets no stored message"
    );

    publish_v4(&mut p, "status/lamp", "off", QoS4::AtMostOnce, true).await;
    let live = next_publish_v4(&mut wild, 5 * SECOND).await.expect("live message");
    assert!(!live.retain, "live messages are delivered without RETAIN");
    assert_eq!(&live.payload[..], b"off");

    // An empty retained payload deletes the stored message.
    publish_v4(&mut p, "status/lamp", "", QoS4::AtMostOnce, true).await;
    assert!(next_publish_v4(&mut wild, 5 * SECOND).await.is_some(), "the empty message is still delivered");
    let (mut late, _) = RawClient::connect_v4(emu.mqtt, "ret-late", 30, true).await;
    subscribe_v4(&mut late, "status/lamp", QoS4::AtMostOnce).await;
    assert!(next_publish_v4(&mut late, SECOND).await.is_none(), "deleted retained message");
    emu.check_log_entries(&["Publish-Out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_expires_with_its_mqtt5_expiry() {
    let emu = start();
    let (mut p, _) = RawClient::connect_v5(emu.mqtt, "exp-pub", 30).await;
    let mut publish = v5::Publish::new("exp/topic", QoS5::AtMostOnce, "soon gone", None);
    publish.retain = true;
    publish.properties =
        Some(v5::PublishProperties { message_expiry_interval: Some(1), ..Default::default() });
    p.send_v5(v5::Packet::Publish(publish)).await;
    let (mut fresh, _) = RawClient::connect_v4(emu.mqtt, "exp-fresh", 30, true).await;
    subscribe_v4(&mut fresh, "exp/topic", QoS4::AtMostOnce).await;
    assert!(next_publish_v4(&mut fresh, 5 * SECOND).await.is_some(), "retained before expiry");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut late, _) = RawClient::connect_v4(emu.mqtt, "exp-late", 30, true).await;
    subscribe_v4(&mut late, "exp/topic", QoS4::AtMostOnce).await;
    assert!(next_publish_v4(&mut late, SECOND).await.is_none(), "expired retained message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_keeps_subscriptions_and_queues_only_qos1() {
    let emu = start();
    let (mut dev, ack) = RawClient::connect_v4(emu.mqtt, "persist-1", 30, false).await;
    assert!(!ack.session_present);
    subscribe_v4(&mut dev, "cmd/persist-1", QoS4::AtLeastOnce).await;
    disconnect_v4(dev).await;

    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "persist-pub", 30, true).await;
    publish_v4(&mut p, "cmd/persist-1", "qos1-a", QoS4::AtLeastOnce, false).await;
    publish_v4(&mut p, "cmd/persist-1", "qos0-b", QoS4::AtMostOnce, false).await;
    publish_v4(&mut p, "cmd/persist-1", "qos1-c", QoS4::AtLeastOnce, false).await;

    let (mut back, ack) = RawClient::connect_v4(emu.mqtt, "persist-1", 30, false).await;
    assert!(ack.session_present, "sessionPresent on resume");
    let mut got = Vec::new();
    while let Some(m) = next_publish_v4(&mut back, SECOND).await {
        back.send_v4(v4::Packet::PubAck(v4::PubAck::new(m.pkid))).await;
        got.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    assert_eq!(got, ["qos1-a", "qos1-c"], "only QoS 1 messages are queued while offline");
    // The subscription survived too: a live message arrives without re-subscribing.
    publish_v4(&mut p, "cmd/persist-1", "live", QoS4::AtLeastOnce, false).await;
    assert_eq!(&next_publish_v4(&mut back, 5 * SECOND).await.expect("live").payload[..], b"live");
    disconnect_v4(back).await;

    // A clean session discards it.
    let (clean, ack) = RawClient::connect_v4(emu.mqtt, "persist-1", 30, true).await;
    assert!(!ack.session_present);
    disconnect_v4(clean).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_session_expiry_is_capped_and_answered() {
    let emu = start();
    let mut client = RawClient::tcp(emu.mqtt).await;
    let properties = v5::ConnectProperties {
        session_expiry_interval: Some(30 * 24 * 3600),
        ..v5::ConnectProperties::new()
    };
    let connect = v5::Connect {
        keep_alive: 30,
        client_id: "expiry-5".into(),
        clean_start: true,
        properties: Some(properties),
    };
    client.send_v5(v5::Packet::Connect(connect, None, None)).await;
    let Ok(v5::Packet::ConnAck(ack)) = client.recv_v5(5 * SECOND).await else { panic!("CONNACK") };
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.session_expiry_interval, Some(3600), "capped at the configured 1 h");
    assert_eq!(props.max_qos, Some(1), "AWS IoT: maximum QoS 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_will_is_published_when_the_connection_is_lost_not_on_disconnect() {
    let emu = start();
    let (mut watcher, _) = RawClient::connect_v4(emu.mqtt, "will-watch", 30, true).await;
    subscribe_v4(&mut watcher, "wills/#", QoS4::AtMostOnce).await;

    for (id, lose) in [("will-polite", false), ("will-lost", true)] {
        let mut c = RawClient::tcp(emu.mqtt).await;
        let mut connect = v4::Connect::new(id);
        connect.last_will = Some(v4::LastWill::new(format!("wills/{id}"), "gone", QoS4::AtMostOnce, false));
        c.send_v4(v4::Packet::Connect(connect)).await;
        assert!(matches!(c.recv_v4(5 * SECOND).await, Ok(v4::Packet::ConnAck(_))));
        if lose {
            drop(c);
        } else {
            disconnect_v4(c).await;
        }
    }
    let will = next_publish_v4(&mut watcher, 5 * SECOND).await.expect("the lost client's will");
    assert_eq!(will.topic, "wills/will-lost");
    assert_eq!(&will.payload[..], b"gone");
    assert!(next_publish_v4(&mut watcher, SECOND).await.is_none(), "no will after a clean DISCONNECT");
    let entries = emu.wait_for("disconnects", |e| e.has("Disconnect", "will-lost"));
    assert_eq!(entries.one("Disconnect", "will-lost")["disconnectReason"], "CONNECTION_LOST");
    assert_eq!(entries.one("Disconnect", "will-polite")["disconnectReason"], "CLIENT_INITIATED_DISCONNECT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_is_enforced_at_one_and_a_half_times() {
    let emu = start();
    let (mut quiet, _) = RawClient::connect_v4(emu.mqtt, "sleepy", 1, true).await;
    let started = std::time::Instant::now();
    let (closed, _) = quiet.closed_within(5 * SECOND).await;
    assert!(closed, "a silent client is disconnected");
    assert!(started.elapsed() >= Duration::from_millis(1400), "not before 1.5 x keep alive");
    let entries = emu.wait_for("keep-alive disconnect", |e| e.has("Disconnect", "sleepy"));
    assert_eq!(entries.one("Disconnect", "sleepy")["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");

    // A client that pings stays.
    let (mut lively, _) = RawClient::connect_v4(emu.mqtt, "lively", 1, true).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        lively.send_v4(v4::Packet::PingReq).await;
        assert!(matches!(lively.recv_v4(5 * SECOND).await, Ok(v4::Packet::PingResp)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_with_the_same_client_id_takes_over() {
    let emu = start();
    let (mut first, _) = RawClient::connect_v5(emu.mqtt, "twin", 30).await;
    let (_second, ack) = RawClient::connect_v4(emu.mqtt, "twin", 30, true).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    match first.recv_v5(5 * SECOND).await {
        Ok(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::SessionTakenOver)
        }
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    assert!(first.closed_within(5 * SECOND).await.0);
    // The newcomer's Connect entry may be written after the old connection's Disconnect.
    let entries =
        emu.wait_for("takeover", |e| e.has("Disconnect", "twin") && e.of("Connect", "twin").len() == 2);
    let d = entries.one("Disconnect", "twin");
    assert_eq!(d["status"], "Failure");
    assert_eq!(d["logLevel"], "ERROR");
    assert_eq!(d["reason"], "DUPLICATE_CLIENT_ID");
    assert_eq!(d["details"], "A new connection was established with the same client ID");
    assert_eq!(d["disconnectReason"], "DUPLICATE_CLIENTID");
    assert_eq!(d["sourcePort"], first.local.port(), "the old connection's entry");
    assert_eq!(entries.of("Connect", "twin").len(), 2);
    emu.check_log_entries(&["Disconnect"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_follow_aws_rules_for_dollar_topics_and_parents() {
    let emu = start();
    let (mut all, _) = RawClient::connect_v4(emu.mqtt, "wc-all", 30, true).await;
    subscribe_v4(&mut all, "#", QoS4::AtMostOnce).await;
    let (mut shadow, _) = RawClient::connect_v4(emu.mqtt, "wc-shadow", 30, true).await;
    subscribe_v4(&mut shadow, "$aws/things/lamp/shadow/update", QoS4::AtMostOnce).await;
    let (mut sensor, _) = RawClient::connect_v4(emu.mqtt, "wc-sensor", 30, true).await;
    subscribe_v4(&mut sensor, "sensor/#", QoS4::AtMostOnce).await;

    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "wc-pub", 30, true).await;
    publish_v4(&mut p, "$aws/things/lamp/shadow/update", "{}", QoS4::AtMostOnce, false).await;
    assert_eq!(
        next_publish_v4(&mut shadow, 5 * SECOND).await.expect("exact $aws subscription").topic,
        "$aws/things/lamp/shadow/update"
    );
    publish_v4(&mut p, "sensor", "parent", QoS4::AtMostOnce, false).await;
    publish_v4(&mut p, "sensor/", "child", QoS4::AtMostOnce, false).await;
    assert_eq!(&next_publish_v4(&mut sensor, 5 * SECOND).await.expect("sensor/").payload[..], b"child");
    assert!(next_publish_v4(&mut sensor, SECOND / 2).await.is_none(), "sensor/# does not match sensor");
    let got: Vec<String> = {
        let mut v = Vec::new();
        while let Some(m) = next_publish_v4(&mut all, SECOND / 2).await {
            v.push(m.topic);
        }
        v
    };
    assert_eq!(got, ["sensor", "sensor/"], "# never matches a $ topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_subscription_delivers_each_message_to_one_member() {
    let emu = start();
    let mut members = Vec::new();
    for id in ["worker-1", "worker-2"] {
        let (mut c, _) = RawClient::connect_v4(emu.mqtt, id, 30, true).await;
        subscribe_v4(&mut c, "$share/workers/jobs/+", QoS4::AtMostOnce).await;
        members.push(c);
    }
    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "boss", 30, true).await;
    for i in 0..10 {
        publish_v4(&mut p, &format!("jobs/{i}"), "work", QoS4::AtMostOnce, false).await;
    }
    let mut counts = Vec::new();
    for m in members.iter_mut() {
        let mut n = 0;
        while next_publish_v4(m, SECOND / 2).await.is_some() {
            n += 1;
        }
        counts.push(n);
    }
    assert_eq!(counts.iter().sum::<i32>(), 10, "each message once: {counts:?}");
    assert!(counts.iter().all(|n| *n > 0), "both members get work: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_properties_pass_through_and_topic_aliases_resolve() {
    let emu = start();
    let (mut sub, _) = RawClient::connect_v5(emu.mqtt, "props-sub", 30).await;
    subscribe_v5(&mut sub, "rpc/#", QoS5::AtLeastOnce).await;

    let (mut p, _) = RawClient::connect_v5(emu.mqtt, "props-pub", 30).await;
    let properties = v5::PublishProperties {
        user_properties: vec![("device".into(), "d1".into())],
        content_type: Some("application/json".into()),
        response_topic: Some("rpc/replies/d1".into()),
        correlation_data: Some(Bytes::from_static(b"req-42")),
        message_expiry_interval: Some(60),
        topic_alias: Some(1),
        ..Default::default()
    };
    let mut first = v5::Publish::new("rpc/requests", QoS5::AtMostOnce, "{}", Some(properties));
    first.pkid = 0;
    p.send_v5(v5::Packet::Publish(first)).await;
    let aliased = v5::Publish::new(
        "",
        QoS5::AtMostOnce,
        "again",
        Some(v5::PublishProperties { topic_alias: Some(1), ..Default::default() }),
    );
    p.send_v5(v5::Packet::Publish(aliased)).await;

    let Ok(v5::Packet::Publish(got)) = sub.recv_v5(5 * SECOND).await else { panic!("first message") };
    let props = got.properties.expect("properties");
    assert_eq!(props.user_properties, vec![("device".to_string(), "d1".to_string())]);
    assert_eq!(props.content_type.as_deref(), Some("application/json"));
    assert_eq!(props.response_topic.as_deref(), Some("rpc/replies/d1"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"req-42"[..]));
    assert!(props.message_expiry_interval.is_some_and(|s| (58..=60).contains(&s)));
    let Ok(v5::Packet::Publish(second)) = sub.recv_v5(5 * SECOND).await else { panic!("aliased message") };
    assert_eq!(&second.topic[..], b"rpc/requests", "the alias resolves to its topic");
    assert_eq!(&second.payload[..], b"again");
    let entries = emu.wait_for("publish-ins", |e| e.of("Publish-In", "props-pub").len() == 2);
    assert!(entries.of("Publish-In", "props-pub").iter().all(|e| e["topicName"] == "rpc/requests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_100_qos1_messages_are_in_flight_to_a_client() {
    let emu = start();
    let (mut slow, _) = RawClient::connect_v4(emu.mqtt, "slow", 30, true).await;
    subscribe_v4(&mut slow, "flood", QoS4::AtLeastOnce).await;
    let (mut p, _) = RawClient::connect_v4(emu.mqtt, "flooder", 30, true).await;
    for i in 0..150 {
        publish_v4(&mut p, "flood", &i.to_string(), QoS4::AtLeastOnce, false).await;
    }
    let mut pkids = Vec::new();
    while let Some(m) = next_publish_v4(&mut slow, SECOND).await {
        pkids.push(m.pkid);
    }
    assert_eq!(pkids.len(), 100, "unacknowledged QoS 1 deliveries stop at 100");
    for pkid in &pkids[..10] {
        slow.send_v4(v4::Packet::PubAck(v4::PubAck::new(*pkid))).await;
    }
    let mut more = 0;
    while next_publish_v4(&mut slow, SECOND).await.is_some() {
        more += 1;
    }
    assert_eq!(more, 10, "each PUBACK makes room for one more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_clients_are_identified_by_their_certificate_id() {
    iotemu_testkit::install_crypto_provider();
    let emu = start();
    let device = emu.create_device("tls-thing");
    assert_eq!(device.certificate_id.len(), 64);

    let (client, mut eventloop, connack) =
        iotemu_testkit::tls::connect_rumqttc(emu.mqtts.port(), "tls-thing", &device, 10 * SECOND).await;
    assert_eq!(connack.code, v4::ConnectReturnCode::Success);
    client.publish("tls/hello", QoS4::AtLeastOnce, false, "hi").await.unwrap();
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });

    let entries = emu.wait_for("TLS publish", |e| e.has("Publish-In", "tls-thing"));
    assert_eq!(entries.one("Connect", "tls-thing")["principalId"], device.certificate_id.as_str());
    assert_eq!(entries.one("Publish-In", "tls-thing")["principalId"], device.certificate_id.as_str());
    emu.check_log_entries(&["Connect", "Publish-In"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_from_the_ca_is_refused() {
    iotemu_testkit::install_crypto_provider();
    let emu = start();
    let other = Emulator::start(BIN, &[]);
    let foreign = other.create_device("foreign");
    // Trust this emulator's server, but present a certificate from another emulator's CA.
    let own = emu.create_device("own");
    let config = iotemu_testkit::tls::client_config(&own.ca, &foreign.cert, &foreign.key);
    let connector = tokio_rustls_connector(config);
    let tcp = tokio::net::TcpStream::connect(emu.mqtts).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let outcome = async {
        let mut tls = connector.connect(name, tcp).await?;
        let mut buf = bytes::BytesMut::new();
        v4::Packet::Connect(v4::Connect::new("foreign")).write(&mut buf, usize::MAX).unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tls, &buf).await?;
        let mut answer = [0u8; 4];
        tokio::io::AsyncReadExt::read_exact(&mut tls, &mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let result = tokio::time::timeout(10 * SECOND, outcome).await.expect("no hang");
    assert!(result.is_err(), "the handshake fails: {result:?}");
    tokio::time::sleep(SECOND / 2).await;
    assert!(!emu.entries().has("Connect", "foreign"), "an unauthenticated client never connects");
}

fn tokio_rustls_connector(config: std::sync::Arc<rustls::ClientConfig>) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_on_the_tls_port_delays_nobody() {
    iotemu_testkit::install_crypto_provider();
    let emu = start();
    let device = emu.create_device("busy-thing");
    let _idle: Vec<_> = futures_connect_many(emu.mqtts, 20).await;
    let started = std::time::Instant::now();
    // Panics unless the CONNACK arrives within 5 s.
    let _connected =
        iotemu_testkit::tls::connect_rumqttc(emu.mqtts.port(), "busy-thing", &device, 5 * SECOND).await;
    assert!(started.elapsed() < 3 * SECOND);
}

async fn futures_connect_many(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    v
}

/// mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients), plain and over mutual TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_work_plain_and_over_mutual_tls() {
    let emu = start();
    let device = emu.create_device("mosq-thing");
    let port = emu.mqtt.port().to_string();
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "mosq-sub",
            "-t",
            "mosq/#",
            "-C",
            "2",
            "-W",
            "20",
            "-q",
            "1",
            "-v",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (install Debian's mosquitto-clients)");
    emu.wait_for("mosquitto_sub's subscription", |e| e.has("Subscribe", "mosq-sub"));
    let plain = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-i",
            "mosq-plain",
            "-t",
            "mosq/plain",
            "-m",
            "over tcp",
            "-q",
            "1",
        ])
        .status()
        .expect("mosquitto_pub");
    assert!(plain.success());
    let tls = Command::new("mosquitto_pub")
        .args([
            "-h",
            "localhost",
            "-p",
            &emu.mqtts.port().to_string(),
            "-i",
            "mosq-thing",
            "-t",
            "mosq/tls",
            "-m",
            "over tls",
            "-q",
            "1",
        ])
        .arg("--cafile")
        .arg(&device.ca)
        .arg("--cert")
        .arg(&device.cert)
        .arg("--key")
        .arg(&device.key)
        .status()
        .expect("mosquitto_pub over TLS");
    assert!(tls.success(), "mosquitto_pub over mutual TLS");
    let output = sub.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("mosq/plain over tcp"), "{text}");
    assert!(text.contains("mosq/tls over tls"), "{text}");
    let entries = emu.wait_for("mosquitto disconnects", |e| e.has("Disconnect", "mosq-sub"));
    assert_eq!(entries.one("Connect", "mosq-thing")["principalId"], device.certificate_id.as_str());
    assert_eq!(entries.one("Connect", "mosq-plain")["principalId"], "anonymous");
    assert_eq!(entries.of("Publish-Out", "mosq-sub").len(), 2);
    emu.check_log_entries(&["Connect", "Disconnect", "Publish-In", "Publish-Out", "Subscribe"]);
}

/// The Python interpreter of the test environment (`scripts/test.sh` makes `.venv/`).
fn test_python() -> std::path::PathBuf {
    if let Ok(python) = std::env::var("IOTEMU_PYTHON") {
        return python.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no test Python: run scripts/test.sh, which installs .venv with the AWS IoT Device SDK"
    );
    venv
}

/// AWS's own device client (AWS IoT Device SDK v2) connects over mutual TLS: it verifies the
/// server certificate strictly, so this fails if the SANs lack localhost or 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_iot_device_sdk_connects_over_mutual_tls() {
    let emu = start();
    let device = emu.create_device("sdk-thing");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/device_sdk_roundtrip.py");
    for host in ["localhost", "127.0.0.1"] {
        let client_id = format!("sdk-{}", host.replace('.', "-"));
        let output = Command::new(test_python())
            .arg(&script)
            .args([host, &emu.mqtts.port().to_string()])
            .args([&device.cert, &device.key, &device.ca])
            .args([client_id.as_str(), "sdk/echo"])
            .output()
            .expect("run the Device SDK script");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "Device SDK via {host} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("received {\"from\":\"device-sdk\"}"), "{stdout}");
        let entries = emu.wait_for("SDK disconnect", |e| e.has("Disconnect", &client_id));
        assert_eq!(entries.one("Connect", &client_id)["principalId"], device.certificate_id.as_str());
        assert_eq!(entries.one("Disconnect", &client_id)["disconnectReason"], "CLIENT_INITIATED_DISCONNECT");
    }
    emu.check_log_entries(&["Connect", "Subscribe", "Publish-In", "Publish-Out", "Disconnect"]);
}

/// Connects an MQTT 5 client with a will delayed by `delay` seconds and a session that outlives
/// it, then drops the TCP connection without DISCONNECT.
async fn connect_with_delayed_will(emu: &Emulator, id: &str, delay: u32) {
    let mut c = RawClient::tcp(emu.mqtt).await;
    let will = v5::LastWill {
        topic: Bytes::from(format!("wills/{id}")),
        message: Bytes::from_static(b"late"),
        qos: QoS5::AtMostOnce,
        retain: false,
        properties: Some(v5::LastWillProperties {
            delay_interval: Some(delay),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: Vec::new(),
        }),
    };
    let properties =
        v5::ConnectProperties { session_expiry_interval: Some(60), ..v5::ConnectProperties::new() };
    let connect = v5::Connect {
        keep_alive: 30,
        client_id: id.into(),
        clean_start: false,
        properties: Some(properties),
    };
    c.send_v5(v5::Packet::Connect(connect, Some(will), None)).await;
    assert!(matches!(c.recv_v5(5 * SECOND).await, Ok(v5::Packet::ConnAck(_))));
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt5_will_waits_for_its_delay_and_is_cancelled_by_a_reconnect() {
    let emu = start();
    let (mut watcher, _) = RawClient::connect_v4(emu.mqtt, "delay-watch", 30, true).await;
    subscribe_v4(&mut watcher, "wills/#", QoS4::AtMostOnce).await;

    connect_with_delayed_will(&emu, "delayed", 2).await;
    let lost_at = std::time::Instant::now();
    let will = next_publish_v4(&mut watcher, 5 * SECOND).await.expect("the delayed will");
    assert_eq!(will.topic, "wills/delayed");
    assert!(lost_at.elapsed() >= Duration::from_millis(1500), "sent after the delay, not at once");

    connect_with_delayed_will(&emu, "returning", 2).await;
    let mut back = RawClient::tcp(emu.mqtt).await;
    let resume =
        v5::Connect { keep_alive: 30, client_id: "returning".into(), clean_start: false, properties: None };
    back.send_v5(v5::Packet::Connect(resume, None, None)).await;
    let Ok(v5::Packet::ConnAck(ack)) = back.recv_v5(5 * SECOND).await else { panic!("CONNACK") };
    assert!(ack.session_present, "the session outlived the connection");
    assert!(
        next_publish_v4(&mut watcher, 3 * SECOND).await.is_none(),
        "resuming the session within the delay cancels the will"
    );
}

/// Connects with MQTT 5, `clean_start` false and the given Session Expiry Interval; returns
/// the client and whether the CONNACK said a session was present.
async fn connect_v5_session(emu: &Emulator, id: &str, expiry: u32) -> (RawClient, bool) {
    let mut c = RawClient::tcp(emu.mqtt).await;
    let properties =
        v5::ConnectProperties { session_expiry_interval: Some(expiry), ..v5::ConnectProperties::new() };
    let connect = v5::Connect {
        keep_alive: 30,
        client_id: id.into(),
        clean_start: false,
        properties: Some(properties),
    };
    c.send_v5(v5::Packet::Connect(connect, None, None)).await;
    let Ok(v5::Packet::ConnAck(ack)) = c.recv_v5(5 * SECOND).await else { panic!("CONNACK") };
    (c, ack.session_present)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt5_session_ends_when_its_expiry_interval_passes() {
    let emu = start();
    for (id, expiry) in [("short-lived", 1), ("long-lived", 60)] {
        let (mut c, present) = connect_v5_session(&emu, id, expiry).await;
        assert!(!present);
        c.send_v5(v5::Packet::Disconnect(v5::Disconnect::new(v5::DisconnectReasonCode::NormalDisconnection)))
            .await;
        assert!(c.closed_within(5 * SECOND).await.0);
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (_short, present) = connect_v5_session(&emu, "short-lived", 1).await;
    assert!(!present, "a 1 s session is gone after 3 s");
    let (_long, present) = connect_v5_session(&emu, "long-lived", 60).await;
    assert!(present, "a 60 s session is still there");
}
