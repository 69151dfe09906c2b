"""The broker enforces IoT policies as AWS's does, seen by real clients (paho-mqtt over MQTT
3.1.1 and 5, and the AWS IoT Device SDK v2) with certificates from CreateKeysAndCertificate.

For each of Connect, Publish, Subscribe and Receive: one allowed and one denied case, checking the
client's outcome (3.1.1: no CONNACK, or the connection closed; MQTT 5: reason code 0x87) and the
Failure entry (reason AUTHORIZATION_FAILURE, details "Authorization Failure"). Also: an explicit
Deny beats an Allow, policy variables, `certs create-device` and its allow-all policy, and
`policies.enforce_on_plain`."""
import json
import ssl
import subprocess
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, iotemu_binary, wait_until

ACCOUNT = "arn:aws:iot:us-east-1:123456789012"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources):
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def deny(actions, resources):
    return {"Effect": "Deny", "Action": actions, "Resource": resources}


CONNECT_ANY = allow("iot:Connect", f"{ACCOUNT}:client/*")


class Device:
    """A certificate from CreateKeysAndCertificate with one policy attached, written to files."""

    counter = 0

    def __init__(self, emulator, iot, tmp_path, document):
        Device.counter += 1
        self.emulator = emulator
        created = iot.create_keys_and_certificate(setAsActive=True)
        self.arn, self.certificate_id = created["certificateArn"], created["certificateId"]
        name = f"policy-{Device.counter}"
        iot.create_policy(policyName=name, policyDocument=document)
        iot.attach_policy(policyName=name, target=self.arn)
        self.ca = tmp_path / "ca.pem"
        self.ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
        self.cert = tmp_path / f"device-{Device.counter}.pem"
        self.key = tmp_path / f"device-{Device.counter}.key"
        self.cert.write_text(created["certificatePem"])
        self.key.write_text(created["keyPair"]["PrivateKey"])

    def client(self, client_id, v5=False):
        return Client(self, client_id, v5)


class Client:
    """A paho client whose callbacks feed events and lists."""

    def __init__(self, device, client_id, v5):
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.paho.tls_set(ca_certs=str(device.ca), certfile=str(device.cert), keyfile=str(device.key),
                          tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.port = int(device.emulator.mqtts.rsplit(":", 1)[1])
        self.connected, self.closed = threading.Event(), threading.Event()
        self.connack, self.messages, self.pubacks, self.subacks = [], [], {}, {}
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = lambda c, u, f, rc, p: self.closed.set()
        self.paho.on_message = lambda c, u, m: self.messages.append(m.topic)
        self.paho.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc.value)
        self.paho.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.__setitem__(mid, [rc.value for rc in rcs])

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack.append(reason_code.value)
        if not reason_code.is_failure:
            self.connected.set()

    def connect(self):
        self.paho.connect("localhost", self.port, keepalive=30)
        self.paho.loop_start()
        return self

    def publish(self, topic, qos=1):
        return self.paho.publish(topic, b"{}", qos=qos).mid

    def subscribe(self, topic_filter):
        return self.paho.subscribe(topic_filter, qos=1)[1]

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()


def entries_of(emulator, event, client_id):
    return [e for e in emulator.entries() if e["eventType"] == event and e.get("clientId") == client_id]


def failure(emulator, event, client_id):
    """The one AUTHORIZATION_FAILURE entry of `event` for `client_id` (waits for it)."""
    assert wait_until(lambda: any(e["status"] == "Failure" for e in entries_of(emulator, event, client_id))), \
        (event, client_id, emulator.entries())
    (entry,) = [e for e in entries_of(emulator, event, client_id) if e["status"] == "Failure"]
    assert entry["logLevel"] == "ERROR"
    assert entry["reason"] == "AUTHORIZATION_FAILURE" and entry["details"] == "Authorization Failure"
    return entry


def test_connect_allowed_and_denied(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(allow("iot:Connect", f"{ACCOUNT}:client/sensor-*")))
    ok = device.client("sensor-1").connect()
    assert ok.connected.wait(5)
    ok.stop()

    refused = device.client("intruder").connect()
    assert refused.closed.wait(5) and refused.connack == [], "3.1.1: closed with no CONNACK"
    refused.paho.loop_stop()
    entry = failure(emulator, "Connect", "intruder")
    assert entry["principalId"] == device.certificate_id

    refused5 = device.client("intruder-5", v5=True).connect()
    assert wait_until(lambda: refused5.connack == [0x87]), "MQTT 5: CONNACK 0x87 Not authorized"
    refused5.paho.loop_stop()
    failure(emulator, "Connect", "intruder-5")
    assert not entries_of(emulator, "Disconnect", "intruder"), "a refused CONNECT never connected"
    check_entries(emulator.log_file, "Connect")


def test_publish_allowed_and_denied(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(CONNECT_ANY, allow("iot:Publish", f"{ACCOUNT}:topic/room/*")))
    client = device.client("pub-311").connect()
    assert client.connected.wait(5)
    mid = client.publish("room/1")
    assert wait_until(lambda: mid in client.pubacks), "allowed: PUBACK"
    client.publish("hall/1")
    assert client.closed.wait(5), "3.1.1: a denied PUBLISH closes the connection"
    client.paho.loop_stop()
    entry = failure(emulator, "Publish-In", "pub-311")
    assert entry["topicName"] == "hall/1"
    assert wait_until(lambda: entries_of(emulator, "Disconnect", "pub-311"))
    (disconnect,) = entries_of(emulator, "Disconnect", "pub-311")
    assert disconnect["disconnectReason"] == "AUTH_ERROR" and disconnect["reason"] == "AUTHORIZATION_FAILURE"

    client5 = device.client("pub-5", v5=True).connect()
    assert client5.connected.wait(5)
    denied = client5.publish("hall/2")
    assert wait_until(lambda: client5.pubacks.get(denied) == 0x87), "MQTT 5: PUBACK 0x87"
    allowed = client5.publish("room/2")
    assert wait_until(lambda: client5.pubacks.get(allowed) == 0), "the connection stays open"
    client5.stop()
    failure(emulator, "Publish-In", "pub-5")
    check_entries(emulator.log_file, "Publish-In", "Disconnect")


def test_subscribe_allowed_and_denied(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path,
                    policy(CONNECT_ANY, allow("iot:Subscribe", f"{ACCOUNT}:topicfilter/room/+")))
    client5 = device.client("sub-5", v5=True).connect()
    assert client5.connected.wait(5)
    mid = client5.paho.subscribe([("room/+", 1), ("room/#", 1)])[1]
    assert wait_until(lambda: client5.subacks.get(mid) == [1, 0x87]), "MQTT 5: SUBACK 0x87 for the denied filter"
    client5.stop()
    entry = failure(emulator, "Subscribe", "sub-5")
    assert entry["topicName"] == "room/#", "the filter is matched literally: room/# is not room/+"

    client = device.client("sub-311").connect()
    assert client.connected.wait(5)
    ok = client.subscribe("room/+")
    assert wait_until(lambda: ok in client.subacks)
    client.subscribe("secret/+")
    assert client.closed.wait(5), "3.1.1: a denied SUBSCRIBE closes the connection, no SUBACK"
    client.paho.loop_stop()
    failure(emulator, "Subscribe", "sub-311")
    check_entries(emulator.log_file, "Subscribe")


def test_receive_allowed_and_denied(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(
        CONNECT_ANY,
        allow(["iot:Publish"], f"{ACCOUNT}:topic/room/*"),
        allow(["iot:Subscribe"], f"{ACCOUNT}:topicfilter/room/*"),
        allow(["iot:Receive"], f"{ACCOUNT}:topic/room/open")))
    listener = device.client("listener").connect()
    assert listener.connected.wait(5)
    mid = listener.subscribe("room/+")
    assert wait_until(lambda: listener.subacks.get(mid) == [1]), "subscribing needs iot:Subscribe only"
    talker = device.client("talker").connect()
    assert talker.connected.wait(5)
    talker.publish("room/closed")
    talker.publish("room/open")
    assert wait_until(lambda: "room/open" in listener.messages)
    time.sleep(0.3)
    assert listener.messages == ["room/open"], "no iot:Receive for room/closed: silently not delivered"
    assert not listener.closed.is_set(), "a missing iot:Receive does not disconnect"
    entry = failure(emulator, "Publish-Out", "listener")
    assert entry["topicName"] == "room/closed"
    talker.stop()
    listener.stop()


def test_an_explicit_deny_beats_an_allow(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(
        allow("iot:*", "*"), deny("iot:Publish", f"{ACCOUNT}:topic/alarm/*")))
    client = device.client("deny-wins", v5=True).connect()
    assert client.connected.wait(5)
    denied, allowed = client.publish("alarm/fire"), client.publish("status/ok")
    assert wait_until(lambda: client.pubacks.get(denied) == 0x87 and client.pubacks.get(allowed) == 0)
    client.stop()
    assert failure(emulator, "Publish-In", "deny-wins")["topicName"] == "alarm/fire"


def test_policy_variables(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(
        allow("iot:Connect", f"{ACCOUNT}:client/${{iot:Connection.Thing.ThingName}}"),
        allow("iot:Publish", f"{ACCOUNT}:topic/things/${{iot:ClientId}}/*"),
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ACCOUNT}:topicfilter/rooms/*",
         "Condition": {"StringEquals": {"iot:Connection.Thing.Attributes[Room]": "kitchen"},
                       "Bool": {"iot:Connection.Thing.IsAttached": "true"}}}))
    iot.create_thing(thingName="lamp-7", attributePayload={"attributes": {"Room": "kitchen"}})
    iot.attach_thing_principal(thingName="lamp-7", principal=device.arn)

    lamp = device.client("lamp-7", v5=True).connect()
    assert lamp.connected.wait(5), "the client id names a thing attached to the certificate"
    own, other = lamp.publish("things/lamp-7/state"), lamp.publish("things/lamp-8/state")
    assert wait_until(lambda: lamp.pubacks.get(own) == 0 and lamp.pubacks.get(other) == 0x87)
    kitchen = lamp.subscribe("rooms/kitchen")
    assert wait_until(lambda: lamp.subacks.get(kitchen) == [1]), "the condition on the attribute holds"
    iot.update_thing(thingName="lamp-7", attributePayload={"attributes": {"Room": "hall"}, "merge": True})
    hall = lamp.subscribe("rooms/hall")
    assert wait_until(lambda: lamp.subacks.get(hall) == [0x87]), "the attribute changed: evaluated anew"
    lamp.stop()

    iot.create_thing(thingName="lamp-8")  # exists, but not attached to this certificate
    stranger = device.client("lamp-8", v5=True).connect()
    assert wait_until(lambda: stranger.connack == [0x87])
    stranger.paho.loop_stop()
    failure(emulator, "Connect", "lamp-8")


def test_the_aws_iot_device_sdk_is_allowed_and_denied(emulator, iot, tmp_path):
    from awscrt import mqtt as crt_mqtt
    from awsiot import mqtt_connection_builder

    device = Device(emulator, iot, tmp_path, policy(
        allow("iot:Connect", f"{ACCOUNT}:client/sdk-ok"),
        allow(["iot:Publish", "iot:Receive"], f"{ACCOUNT}:topic/sdk/*"),
        allow("iot:Subscribe", f"{ACCOUNT}:topicfilter/sdk/*")))
    port = int(emulator.mqtts.rsplit(":", 1)[1])

    def connection(client_id):
        return mqtt_connection_builder.mtls_from_path(
            endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
            ca_filepath=str(device.ca), client_id=client_id, clean_session=True, keep_alive_secs=30)

    ok = connection("sdk-ok")
    ok.connect().result(timeout=10)
    received = threading.Event()
    subscribed, _ = ok.subscribe(topic="sdk/echo", qos=crt_mqtt.QoS.AT_LEAST_ONCE,
                                 callback=lambda topic, payload, **kw: received.set())
    subscribed.result(timeout=10)
    published, _ = ok.publish(topic="sdk/echo", payload="{}", qos=crt_mqtt.QoS.AT_LEAST_ONCE)
    published.result(timeout=10)
    assert received.wait(10), "allowed: the SDK gets its own message back"
    ok.disconnect().result(timeout=10)

    denied = connection("sdk-denied")
    with pytest.raises(Exception):
        denied.connect().result(timeout=10)
    failure(emulator, "Connect", "sdk-denied")


def create_device(data_dir, out, name, *extra):
    subprocess.run([iotemu_binary(), "certs", "create-device", "--thing", name, "--out", str(out),
                    "--data-dir", str(data_dir), *extra], check=True, capture_output=True, text=True)


def test_create_device_gets_the_allow_all_policy_unless_told_not_to(emulator, iot, data_dir, tmp_path):
    create_device(data_dir, tmp_path, "open-device")
    create_device(data_dir, tmp_path, "bare-device", "--no-policy")
    port = int(emulator.mqtts.rsplit(":", 1)[1])

    def connect(name):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(tmp_path / "ca.pem"), certfile=str(tmp_path / f"{name}.cert.pem"),
                       keyfile=str(tmp_path / f"{name}.private.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        codes = []
        client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
        client.connect("localhost", port)
        client.loop_start()
        assert wait_until(lambda: codes), name
        client.disconnect()
        client.loop_stop()
        return codes[0]

    assert connect("open-device") == 0
    assert connect("bare-device") == 0x87, "--no-policy: no policy, so iot:Connect is denied"
    assert iot.get_policy(policyName="iotemu-allow-all")["policyDocument"]
    targets = iot.list_targets_for_policy(policyName="iotemu-allow-all")["targets"]
    assert len(targets) == 1 and targets[0].endswith(":cert/" + entries_of(emulator, "Connect", "open-device")[0]
                                                       ["principalId"])


def test_enforce_on_plain_makes_anonymous_clients_need_policies(data_dir, tmp_path):
    config = tmp_path / "iotemu.toml"
    config.write_text("[policies]\nenforce_on_plain = true\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        host, port = emulator.mqtt.rsplit(":", 1)

        def connack(client_id):
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
            codes = []
            client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
            client.connect(host, int(port))
            client.loop_start()
            assert wait_until(lambda: codes)
            client.disconnect()
            client.loop_stop()
            return codes[0]

        assert connack("plain-1") == 0x87
        iot = emulator.client("iot")
        iot.create_policy(policyName="plain", policyDocument=policy(CONNECT_ANY))
        iot.attach_policy(policyName="plain", target="anonymous")
        assert connack("plain-2") == 0
    finally:
        emulator.stop()


def test_certificate_policy_variables(emulator, iot, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(
        CONNECT_ANY,
        allow("iot:Publish", f"{ACCOUNT}:topic/by-cn/${{iot:Certificate.Subject.CommonName}}"),
        allow("iot:Publish", f"{ACCOUNT}:topic/by-id/${{iot:CertificateId}}")))
    client = device.client("cert-vars", v5=True).connect()
    assert client.connected.wait(5)
    # CreateKeysAndCertificate's certificates are issued to the common name "AWS IoT Certificate".
    by_cn, by_id = client.publish("by-cn/AWS IoT Certificate"), client.publish(f"by-id/{device.certificate_id}")
    other = client.publish("by-id/someone-else")
    assert wait_until(lambda: (client.pubacks.get(by_cn), client.pubacks.get(by_id), client.pubacks.get(other))
                      == (0, 0, 0x87))
    client.stop()
