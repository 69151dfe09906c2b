"""The events AWS IoT publishes itself, end to end: paho watchers (MQTT 3.1.1 and 5) and the AWS
IoT Device SDK see devices connect, subscribe, unsubscribe and go, with the payloads of
life-cycle-events.md; a topic rule republishes the disconnect event; registry events appear only
after UpdateEventConfigurations enables them. The log file is checked with check-log-entries."""
import hashlib
import json
import pathlib
import socket
import ssl
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from conftest import iotemu_binary, wait_until

CHECKER = pathlib.Path(__file__).resolve().parents[3] / "shared" / "tools" / "check-log-entries"
ROLE = "arn:aws:iam::123456789012:role/rules"

# The keys of AWS's documented examples (life-cycle-events.md).
CONNECTED_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier",
                  "ipAddress", "versionNumber"}
DISCONNECTED_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier",
                     "clientInitiatedDisconnect", "disconnectReason", "versionNumber"}
SUBSCRIPTION_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier", "topics"}


def check(emulator, *required):
    args = [str(CHECKER)] + [a for event in required for a in ("--require", event)]
    result = subprocess.run(args + [str(emulator.log_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


class Client:
    """A paho client on the plain port that keeps (topic, decoded JSON or bytes) it receives."""

    def __init__(self, emulator, client_id, subscribe=(), protocol=mqtt.MQTTv311, clean=True):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.messages = []
        kwargs = {} if protocol == mqtt.MQTTv5 else {"clean_session": clean}
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
        self.paho.on_message = lambda c, u, m: self.messages.append((m.topic, decode(m.payload)))
        self.paho.connect(host, int(port))
        self.paho.loop_start()
        assert wait_until(self.paho.is_connected)
        for topic in subscribe:
            self.subscribe(topic)

    def subscribe(self, *topics):
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe([(t, 1) for t in topics])
        assert done.wait(5)

    def unsubscribe(self, *topics):
        done = threading.Event()
        self.paho.on_unsubscribe = lambda *a: done.set()
        self.paho.unsubscribe(list(topics))
        assert done.wait(5)

    def on(self, topic):
        return [p for t, p in self.messages if t == topic]

    def wait_for(self, topic, count=1):
        assert wait_until(lambda: len(self.on(topic)) >= count), (topic, self.messages)
        return self.on(topic)

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()

    def kill(self):
        """Drops the TCP connection without DISCONNECT."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def decode(payload):
    try:
        return json.loads(payload)
    except ValueError:
        return payload


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_a_watcher_sees_a_device_connect_subscribe_unsubscribe_and_drop(emulator, protocol):
    watcher = Client(emulator, "watcher", ["$aws/events/presence/+/+", "$aws/events/subscriptions/+/+"],
                     protocol=protocol)
    device = Client(emulator, "dev-1", protocol=protocol)
    device.subscribe("sensors/+/temp", "cmd/dev-1")
    device.unsubscribe("cmd/dev-1")
    device.kill()

    connected = watcher.wait_for("$aws/events/presence/connected/dev-1")[0]
    assert set(connected) == CONNECTED_KEYS
    assert connected["clientId"] == "dev-1" and connected["eventType"] == "connected"
    assert connected["principalIdentifier"] == "anonymous" and connected["ipAddress"] == "127.0.0.1"
    assert isinstance(connected["timestamp"], int) and isinstance(connected["versionNumber"], int)

    subscribed = watcher.wait_for("$aws/events/subscriptions/subscribed/dev-1")[0]
    assert set(subscribed) == SUBSCRIPTION_KEYS
    assert subscribed["eventType"] == "subscribed"
    assert subscribed["topics"] == ["sensors/+/temp", "cmd/dev-1"]
    unsubscribed = watcher.wait_for("$aws/events/subscriptions/unsubscribed/dev-1")[0]
    assert unsubscribed["eventType"] == "unsubscribed" and unsubscribed["topics"] == ["cmd/dev-1"]

    disconnected = watcher.wait_for("$aws/events/presence/disconnected/dev-1")[0]
    assert set(disconnected) == DISCONNECTED_KEYS
    assert disconnected["eventType"] == "disconnected"
    assert disconnected["disconnectReason"] == "CONNECTION_LOST"
    assert disconnected["clientInitiatedDisconnect"] is False
    # One session, one connection: the same identifier and version number throughout.
    for event in (subscribed, unsubscribed, disconnected):
        assert event["sessionIdentifier"] == connected["sessionIdentifier"]
        assert event["principalIdentifier"] == "anonymous" and event["clientId"] == "dev-1"
    assert disconnected["versionNumber"] == connected["versionNumber"]

    # The watcher's own subscription was announced too (it had subscribed to the first filter).
    assert watcher.on("$aws/events/subscriptions/subscribed/watcher")
    watcher.stop()
    check(emulator, "Publish-Out", "Subscribe", "Disconnect")
    outs = [e for e in emulator.entries() if e.get("eventType") == "Publish-Out"
            and e.get("topicName", "").startswith("$aws/events/") and e.get("clientId") == "watcher"]
    assert len(outs) >= 4
    connects = [e for e in emulator.entries() if e.get("eventType") == "Connect" and e.get("clientId") == "dev-1"]
    # The connected event's Publish-Out carries the traceId of the device's Connect entry.
    assert any(o["traceId"] == connects[0]["traceId"] for o in outs
               if o["topicName"] == "$aws/events/presence/connected/dev-1")


def test_version_numbers_grow_per_client_id_and_a_takeover_says_duplicate_clientid(emulator):
    watcher = Client(emulator, "watcher", ["$aws/events/#"], protocol=mqtt.MQTTv5)
    first = Client(emulator, "dev-2")
    first.stop()
    second = Client(emulator, "dev-2")
    third = Client(emulator, "dev-2")  # takes over the second connection
    connected = watcher.wait_for("$aws/events/presence/connected/dev-2", 3)
    disconnected = watcher.wait_for("$aws/events/presence/disconnected/dev-2", 2)
    versions = [e["versionNumber"] for e in connected]
    assert versions == sorted(versions) and len(set(versions)) == 3, versions
    assert disconnected[0]["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert disconnected[0]["clientInitiatedDisconnect"] is True
    assert disconnected[0]["versionNumber"] == versions[0]
    assert disconnected[1]["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert disconnected[1]["clientInitiatedDisconnect"] is False
    assert disconnected[1]["versionNumber"] == versions[1]
    # Each clean session has its own identifier.
    assert len({e["sessionIdentifier"] for e in connected}) == 3
    second.paho.loop_stop()
    third.stop()
    watcher.stop()
    check(emulator, "Publish-Out")


def test_a_persistent_session_keeps_its_identifier(emulator):
    watcher = Client(emulator, "watcher", ["$aws/events/presence/connected/+"])
    device = Client(emulator, "dev-3", clean=False)
    device.stop()
    device = Client(emulator, "dev-3", clean=False)
    events = watcher.wait_for("$aws/events/presence/connected/dev-3", 2)
    assert events[0]["sessionIdentifier"] == events[1]["sessionIdentifier"]
    assert events[1]["versionNumber"] > events[0]["versionNumber"]
    device.stop()
    watcher.stop()


def test_a_topic_rule_on_the_disconnect_event_republishes_it(emulator, iot):
    iot.create_topic_rule(ruleName="offline", topicRulePayload={
        "sql": "SELECT clientId, disconnectReason, versionNumber FROM '$aws/events/presence/disconnected/+'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": "fleet/offline/${clientId}", "qos": 1}}],
        "awsIotSqlVersion": "2016-03-23"})
    iot.create_topic_rule(ruleName="presence", topicRulePayload={
        "sql": "SELECT eventType FROM '$aws/events/presence/+/+'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": "fleet/presence", "qos": 1}}],
        "awsIotSqlVersion": "2016-03-23"})
    watcher = Client(emulator, "watcher", ["fleet/#"])
    device = Client(emulator, "dev-4")
    device.kill()
    offline = watcher.wait_for("fleet/offline/dev-4")[0]
    assert offline["clientId"] == "dev-4" and offline["disconnectReason"] == "CONNECTION_LOST"
    assert isinstance(offline["versionNumber"], int)
    presence = watcher.wait_for("fleet/presence", 2)
    assert {"connected", "disconnected"} <= {p["eventType"] for p in presence}
    watcher.stop()
    assert wait_until(lambda: any(e.get("eventType") == "RuleExecution" and e.get("ruleName") == "offline"
                                  for e in emulator.entries()))
    check(emulator, "RuleMatch", "RuleExecution", "Publish-Out")


def test_the_device_sdk_over_mutual_tls_is_announced_with_its_certificate_id(emulator, data_dir, tmp_path):
    from awsiot import mqtt_connection_builder

    watcher = Client(emulator, "watcher", ["$aws/events/presence/+/sdk-thing"], protocol=mqtt.MQTTv5)
    subprocess.run([iotemu_binary(), "certs", "create-device", "--thing", "sdk-thing", "--out", str(tmp_path),
                    "--data-dir", str(data_dir)], check=True, capture_output=True)
    pem = (tmp_path / "sdk-thing.cert.pem").read_text()
    certificate_id = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    port = int(emulator.mqtts.rsplit(":", 1)[1])
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(tmp_path / "sdk-thing.cert.pem"),
        pri_key_filepath=str(tmp_path / "sdk-thing.private.key"), ca_filepath=str(tmp_path / "ca.pem"),
        client_id="sdk-thing", clean_session=True, keep_alive_secs=30)
    connection.connect().result(timeout=10)
    connected = watcher.wait_for("$aws/events/presence/connected/sdk-thing")[0]
    connection.disconnect().result(timeout=10)
    disconnected = watcher.wait_for("$aws/events/presence/disconnected/sdk-thing")[0]
    assert connected["principalIdentifier"] == certificate_id
    assert disconnected["principalIdentifier"] == certificate_id
    assert disconnected["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert disconnected["clientInitiatedDisconnect"] is True
    assert disconnected["versionNumber"] == connected["versionNumber"]
    watcher.stop()
    check(emulator, "Publish-Out")
