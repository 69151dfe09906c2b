"""iot-data's non-shadow operations with boto3 (`iot-data`, endpoint_url = the API port) against
real paho MQTT clients: Publish (QoS, retain, MQTT 5 properties, `%2F` and plain-slash topics,
its Publish-In entry), GetRetainedMessage, ListRetainedMessages and DeleteConnection (will or
not, API_INITIATED_DISCONNECT)."""
import base64
import json
import threading
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from conftest import error_of, wait_until


@pytest.fixture
def data(emulator):
    return emulator.client("iot-data")


class Device:
    """A connected paho client that records what it receives."""

    def __init__(self, emulator, client_id, v5=False, will=None, clean=True, subscribe=()):
        host, port = emulator.mqtt.rsplit(":", 1)
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kwargs = {} if v5 else {"clean_session": clean}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                                  **kwargs)
        # A kicked client must not come back during the test.
        self.client.reconnect_delay_set(min_delay=60, max_delay=120)
        self.messages = []
        self.disconnects = []
        self.lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda c, u, flags, reason, props: self.disconnects.append(reason)
        if will:
            self.client.will_set(*will)
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert wait_until(self.client.is_connected), f"{client_id} did not connect"
        for topic in subscribe:
            subscribed = threading.Event()
            self.client.on_subscribe = lambda *a: subscribed.set()
            self.client.subscribe(topic, qos=1)
            assert subscribed.wait(5), f"{client_id} was not subscribed to {topic}"

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append(message)

    def received(self, topic):
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self):
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()


def entries_of(emulator, event_type, **fields):
    return [e for e in emulator.entries()
            if e["eventType"] == event_type and all(e.get(k) == v for k, v in fields.items())]


def test_publish_reaches_an_mqtt5_subscriber_with_its_properties(emulator, data):
    sub = Device(emulator, "sub-v5", v5=True, subscribe=["dev/data"])
    try:
        data.publish(
            topic="dev/data", qos=1, payload=b'{"t":21}',
            userProperties=[{"deviceName": "alpha"}, {"deviceCnt": "45"}],
            payloadFormatIndicator="UTF8_DATA", contentType="application/json",
            responseTopic="dev/reply", correlationData=base64.b64encode(b"req-1").decode(),
            messageExpiry=300,
        )
        assert wait_until(lambda: sub.received("dev/data"))
        message = sub.received("dev/data")[0]
        assert message.payload == b'{"t":21}'
        assert message.qos == 1
        assert not message.retain
        props = message.properties
        assert props.UserProperty == [("deviceName", "alpha"), ("deviceCnt", "45")]
        assert props.PayloadFormatIndicator == 1
        assert props.ContentType == "application/json"
        assert props.ResponseTopic == "dev/reply"
        assert props.CorrelationData == b"req-1"
        assert 0 < props.MessageExpiryInterval <= 300
    finally:
        sub.close()


def test_publish_in_entry_says_http_and_shares_its_trace_with_publish_out(emulator, data):
    sub = Device(emulator, "sub-log", subscribe=["logs/topic"])
    try:
        data.publish(topic="logs/topic", payload=b"x")
        assert wait_until(lambda: sub.received("logs/topic"))
        assert wait_until(lambda: entries_of(emulator, "Publish-Out", clientId="sub-log"))
        [publish_in] = entries_of(emulator, "Publish-In", topicName="logs/topic")
        assert publish_in["protocol"] == "HTTP"
        assert publish_in["status"] == "Success"
        assert publish_in["clientId"] == "n/a"
        assert publish_in["principalId"] == "test"  # the caller's access key id
        assert publish_in["sourceIp"] == "127.0.0.1"
        [publish_out] = entries_of(emulator, "Publish-Out", clientId="sub-log")
        assert publish_out["traceId"] == publish_in["traceId"]
        assert publish_out["protocol"] == "MQTT"
    finally:
        sub.close()


def signed_request(emulator, method, path, body=None):
    """A raw request with a SigV4-shaped Authorization header for `iotdata` (not verified)."""
    request = urllib.request.Request(f"{emulator.endpoint}{path}", data=body, method=method, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261124/us-east-1/iotdata/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_topics_arrive_percent_encoded_or_with_plain_slashes(emulator, data):
    sub = Device(emulator, "sub-slash", subscribe=["a/b/c", "x/y"])
    try:
        data.publish(topic="a/b/c", payload=b"encoded")  # botocore sends a%2Fb%2Fc
        status, body = signed_request(emulator, "POST", "/topics/x/y?qos=1", b"plain")
        assert status == 200, body
        assert json.loads(body)["message"] == "OK"
        assert wait_until(lambda: sub.received("a/b/c") and sub.received("x/y"))
        assert sub.received("a/b/c")[0].payload == b"encoded"
        assert sub.received("x/y")[0].payload == b"plain"
        assert sub.received("x/y")[0].qos == 1
    finally:
        sub.close()


def test_publish_refusals(emulator, data):
    code, status = error_of(data.publish, topic="big/one", payload=b"x" * (128 * 1024 + 1))
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert error_of(data.publish, topic="huge/one", payload=b"x" * (3 * 1024 * 1024)) == (
        "RequestEntityTooLargeException", 413)
    assert error_of(data.publish, topic="bad/+/topic", payload=b"x") == ("InvalidRequestException", 400)
    # botocore's iot-data model lists UnauthorizedException (401) as Publish's denial.
    assert error_of(data.publish, topic="$SYS/mine", payload=b"x") == ("UnauthorizedException", 401)
    assert error_of(data.publish, topic="$aws/events/presence/connected/x", payload=b"x") == (
        "UnauthorizedException", 401)
    assert error_of(data.publish, topic="$aws/things/t/shadow/update", payload=b"{}", retain=True) == (
        "InvalidRequestException", 400)
    assert error_of(data.publish, topic="a/b/c/d/e/f/g/h/i", payload=b"x") == ("InvalidRequestException", 400)
    # The payload limit refusal is logged as the MQTT broker logs it.
    assert wait_until(lambda: entries_of(emulator, "Publish-In", topicName="big/one"))
    [failure] = entries_of(emulator, "Publish-In", topicName="big/one")
    assert (failure["status"], failure["reason"], failure["protocol"]) == (
        "Failure", "PAYLOAD_LIMIT_EXCEEDED", "HTTP")


def test_retained_messages_from_http_and_mqtt(emulator, data):
    data.publish(topic="state/http", payload=b"from-http", qos=1, retain=True,
                 userProperties=[{"k": "v"}])
    pub = Device(emulator, "retainer")
    try:
        info = pub.client.publish("state/mqtt", b"from-mqtt!", qos=0, retain=True)
        info.wait_for_publish(5)
        assert wait_until(lambda: "retainedTopics" in data.list_retained_messages()
                          and len(data.list_retained_messages()["retainedTopics"]) == 2)
    finally:
        pub.close()

    got = data.get_retained_message(topic="state/http")
    assert got["topic"] == "state/http"
    assert got["payload"] == b"from-http"
    assert got["qos"] == 1
    assert isinstance(got["lastModifiedTime"], int) and got["lastModifiedTime"] > 1_600_000_000_000
    assert json.loads(got["userProperties"]) == [{"k": "v"}]
    got = data.get_retained_message(topic="state/mqtt")
    assert (got["payload"], got["qos"]) == (b"from-mqtt!", 0)
    assert "userProperties" not in got

    listed = data.list_retained_messages()["retainedTopics"]
    assert [(t["topic"], t["payloadSize"], t["qos"]) for t in listed] == [
        ("state/http", 9, 1), ("state/mqtt", 10, 0)]
    first = data.list_retained_messages(maxResults=1)
    assert [t["topic"] for t in first["retainedTopics"]] == ["state/http"]
    second = data.list_retained_messages(maxResults=1, nextToken=first["nextToken"])
    assert [t["topic"] for t in second["retainedTopics"]] == ["state/mqtt"]
    assert "nextToken" not in second

    # A new exact-match subscriber gets the HTTP-retained message with RETAIN set.
    sub = Device(emulator, "late", subscribe=["state/http"])
    try:
        assert wait_until(lambda: sub.received("state/http"))
        assert sub.received("state/http")[0].retain
    finally:
        sub.close()

    # An empty retained payload deletes it.
    data.publish(topic="state/http", payload=b"", retain=True)
    assert error_of(data.get_retained_message, topic="state/http") == ("ResourceNotFoundException", 404)
    assert error_of(data.get_retained_message, topic="never/set") == ("ResourceNotFoundException", 404)


def test_delete_connection_sends_the_will_unless_prevented(emulator, data):
    watcher = Device(emulator, "watcher", subscribe=["wills/#"])
    first = Device(emulator, "kick-me", will=("wills/kick-me", b"gone", 1))
    second = Device(emulator, "kick-me-quietly", will=("wills/quiet", b"gone", 1))
    try:
        data.delete_connection(clientId="kick-me")
        assert wait_until(lambda: first.disconnects)
        assert wait_until(lambda: watcher.received("wills/kick-me"))

        data.delete_connection(clientId="kick-me-quietly", preventWillMessage=True)
        assert wait_until(lambda: second.disconnects)
        assert wait_until(lambda: entries_of(emulator, "Disconnect", clientId="kick-me-quietly"))
        [entry] = entries_of(emulator, "Disconnect", clientId="kick-me-quietly")
        assert (entry["status"], entry["disconnectReason"]) == ("Success", "API_INITIATED_DISCONNECT")
        [entry] = entries_of(emulator, "Disconnect", clientId="kick-me")
        assert entry["disconnectReason"] == "API_INITIATED_DISCONNECT"
        assert not watcher.received("wills/quiet")

        # Clean sessions end with their connection: nothing left to delete.
        assert error_of(data.delete_connection, clientId="kick-me") == ("ResourceNotFoundException", 404)
        assert error_of(data.delete_connection, clientId="nobody") == ("ResourceNotFoundException", 404)
    finally:
        for device in (watcher, first, second):
            device.close()


def test_delete_connection_of_a_persistent_session(emulator, data):
    device = Device(emulator, "persistent", clean=False)
    device.client.disconnect()
    device.client.loop_stop()
    assert wait_until(lambda: entries_of(emulator, "Disconnect", clientId="persistent"))
    # Offline, but its session is kept: found; cleanSession=true deletes it.
    data.delete_connection(clientId="persistent")
    data.delete_connection(clientId="persistent", cleanSession=True)
    assert error_of(data.delete_connection, clientId="persistent") == ("ResourceNotFoundException", 404)


def test_delete_connection_tells_an_mqtt5_client_why(emulator, data):
    device = Device(emulator, "v5-kick", v5=True)
    try:
        data.delete_connection(clientId="v5-kick")
        assert wait_until(lambda: device.disconnects)
        assert device.disconnects[0].value == 0x98  # Administrative action
    finally:
        device.close()
