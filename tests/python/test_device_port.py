"""The device port (AWS IoT's 443/8443): one TLS port serving by ALPN, seen by real clients.

- The AWS IoT Device SDK v2 (`mqtt5_client_builder.mtls_from_path`) over MQTT with its client
  certificate: on the device port with the port given (no ALPN: served by its CONNECT), and with
  no port against 443 (ALPN `x-amzn-mqtt-ca`) when the test may bind 443.
- paho with ALPN `x-amzn-mqtt-ca` set explicitly.
- curl publishing over HTTPS with the certificate (`POST /topics/...?qos=1`), and the shadow's
  REST API over mutual TLS.
- MQTT over WebSockets at /mqtt: the SDK's `websockets_with_default_aws_signing` with static
  credentials (WSS), paho `transport="websockets"` with a botocore-presigned URL on the plain API
  port, and paho over WSS with a client certificate; the WebSocket TTL.

Each path has an allowed and a denied publish, and the entries are checked with
`iotemu check-entries` and for their principalId and protocol."""
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import Future

import paho.mqtt.client as mqtt
import pytest
from awscrt import auth, mqtt5
from awsiot import mqtt5_client_builder
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Emulator, check_entries, log_authn_errors, wait_until

ACCOUNT = "arn:aws:iot:us-east-1:123456789012"
ACCESS_KEY = "AKIAIOTEMUWEBSOCKET1"


def policy_document():
    """Connect anywhere; publish and receive on dev/allowed only; subscribe to dev/*; the shadow of
    `dev-thing` only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCOUNT}:client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": f"{ACCOUNT}:topic/dev/allowed"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ACCOUNT}:topicfilter/dev/*"},
        {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow"],
         "Resource": f"{ACCOUNT}:thing/dev-thing"},
    ]})


class Device:
    """A certificate from CreateKeysAndCertificate with the policy above, written to files."""

    def __init__(self, emulator, tmp_path, name="device"):
        iot = emulator.client("iot")
        created = iot.create_keys_and_certificate(setAsActive=True)
        self.certificate_id = created["certificateId"]
        policy = f"policy-{name}"
        iot.create_policy(policyName=policy, policyDocument=policy_document())
        iot.attach_policy(policyName=policy, target=created["certificateArn"])
        self.ca = tmp_path / "ca.pem"
        self.ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
        self.cert, self.key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        self.cert.write_text(created["certificatePem"])
        self.key.write_text(created["keyPair"]["PrivateKey"])


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def entries(emulator, event, **match):
    return [e for e in emulator.entries()
            if e["eventType"] == event and all(e.get(k) == v for k, v in match.items())]


def wait_entry(emulator, event, **match):
    assert wait_until(lambda: entries(emulator, event, **match), timeout=10), (event, match, emulator.entries())
    return entries(emulator, event, **match)[0]


class SdkClient:
    """An MQTT 5 client of the AWS IoT Device SDK v2, with futures for its events."""

    def __init__(self, build, **kwargs):
        self.connected, self.stopped = Future(), Future()
        self.messages = []
        self.client = build(
            on_lifecycle_connection_success=lambda d: self.connected.set_result(d),
            on_lifecycle_connection_failure=lambda d: self.connected.done() or self.connected.set_exception(
                RuntimeError(str(d.exception))),
            on_lifecycle_stopped=lambda d: self.stopped.done() or self.stopped.set_result(True),
            on_publish_received=lambda d: self.messages.append(d.publish_packet.topic),
            **kwargs)

    def start(self):
        self.client.start()
        self.connected.result(10)
        return self

    def publish(self, topic):
        packet = mqtt5.PublishPacket(topic=topic, payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE)
        return self.client.publish(packet).result(10).puback.reason_code

    def subscribe(self, topic_filter):
        packet = mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(topic_filter, mqtt5.QoS.AT_LEAST_ONCE)])
        return self.client.subscribe(packet).result(10).reason_codes

    def stop(self):
        self.client.stop()
        self.stopped.result(10)


def allowed_and_denied(client, emulator, principal):
    """Subscribes to dev/#, publishes to dev/allowed (received) and dev/denied (PUBACK 0x87, and
    the Publish-In Failure entry of `principal`)."""
    assert client.subscribe("dev/#")[0] == mqtt5.SubackReasonCode.GRANTED_QOS_1
    assert client.publish("dev/allowed") == mqtt5.PubackReasonCode.SUCCESS
    assert client.publish("dev/denied") == mqtt5.PubackReasonCode.NOT_AUTHORIZED
    assert wait_until(lambda: "dev/allowed" in client.messages), client.messages
    denied = wait_entry(emulator, "Publish-In", topicName="dev/denied", principalId=principal)
    assert denied["status"] == "Failure" and denied["reason"] == "AUTHORIZATION_FAILURE"
    assert denied["protocol"] == "MQTT"


def test_sdk_mtls_on_the_device_port(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    client = SdkClient(mqtt5_client_builder.mtls_from_path, endpoint="localhost", port=port_of(emulator.device),
                       cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
                       ca_filepath=str(device.ca), client_id="sdk-device-port").start()
    try:
        allowed_and_denied(client, emulator, device.certificate_id)
    finally:
        client.stop()
    connect = wait_entry(emulator, "Connect", clientId="sdk-device-port")
    assert connect["principalId"] == device.certificate_id and connect["protocol"] == "MQTT"
    check_entries(emulator.log_file, "Connect", "Publish-In", "Subscribe", "Publish-Out", "Disconnect")


def test_sdk_mtls_with_no_port_reaches_443(data_dir, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("binding port 443 needs root (or CAP_NET_BIND_SERVICE); run as root to test the SDK's default")
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 443))
    except OSError as e:
        pytest.skip(f"port 443 is not free here ({e})")
    finally:
        probe.close()
    emulator = Emulator(data_dir, "--device-port", "443")
    try:
        assert port_of(emulator.device) == 443
        device = Device(emulator, tmp_path)
        # No port: the SDK dials 443 with ALPN x-amzn-mqtt-ca.
        client = SdkClient(mqtt5_client_builder.mtls_from_path, endpoint="localhost",
                           cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
                           ca_filepath=str(device.ca), client_id="sdk-443").start()
        try:
            allowed_and_denied(client, emulator, device.certificate_id)
        finally:
            client.stop()
        check_entries(emulator.log_file, "Connect", "Publish-In", "Disconnect")
    finally:
        emulator.stop()


def test_paho_with_alpn_x_amzn_mqtt_ca(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    context = ssl.create_default_context(cafile=str(device.ca))
    context.load_cert_chain(str(device.cert), str(device.key))
    context.set_alpn_protocols(["x-amzn-mqtt-ca"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-alpn", protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    connacks = []
    client.on_connect = lambda c, u, f, rc, p: connacks.append(rc.value)
    client.connect("localhost", port_of(emulator.device))
    client.loop_start()
    try:
        assert wait_until(lambda: connacks) and connacks == [0]
        assert client.socket().selected_alpn_protocol() == "x-amzn-mqtt-ca"
    finally:
        client.disconnect()
        client.loop_stop()
    assert wait_entry(emulator, "Connect", clientId="paho-alpn")["principalId"] == device.certificate_id


def curl(emulator, device, method, path, body=None, cert=True):
    """(status, JSON answer) of a curl request to the device port, with the certificate or not."""
    args = ["curl", "-sS", "-X", method, "--cacert", str(device.ca), "-w", "\n%{http_code}",
            f"https://localhost:{port_of(emulator.device)}{path}"]
    if cert:
        args += ["--cert", str(device.cert), "--key", str(device.key)]
    if body is not None:
        args += ["--data-binary", body]
    out = subprocess.run(args, capture_output=True, text=True, timeout=20, check=True).stdout
    text, status = out.rsplit("\n", 1)
    return int(status), json.loads(text) if text else None


def test_curl_publishes_over_https_with_a_certificate(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    watcher = SdkClient(mqtt5_client_builder.mtls_from_path, endpoint="localhost", port=port_of(emulator.mqtts),
                        cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
                        ca_filepath=str(device.ca), client_id="https-watcher").start()
    try:
        watcher.subscribe("dev/#")
        status, answer = curl(emulator, device, "POST", "/topics/dev/allowed?qos=1", '{"t": 1}')
        assert status == 200 and answer["message"] == "OK", answer
        assert wait_until(lambda: "dev/allowed" in watcher.messages), watcher.messages

        status, answer = curl(emulator, device, "POST", "/topics/dev/denied?qos=1", "{}")
        assert status == 403 and answer["message"] == "Forbidden", answer
        status, answer = curl(emulator, device, "POST", "/topics/dev/allowed", "{}", cert=False)
        assert status == 403 and answer["message"] == "Missing Authentication Token", answer
    finally:
        watcher.stop()
    published = wait_entry(emulator, "Publish-In", topicName="dev/allowed", protocol="HTTP")
    assert published["status"] == "Success" and published["principalId"] == device.certificate_id
    denied = wait_entry(emulator, "Publish-In", topicName="dev/denied", protocol="HTTP")
    assert denied["status"] == "Failure" and denied["reason"] == "AUTHORIZATION_FAILURE"
    assert denied["principalId"] == device.certificate_id
    assert "dev/denied" not in watcher.messages
    check_entries(emulator.log_file, "Publish-In", "Publish-Out")


def test_shadow_over_mutual_tls(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    update = json.dumps({"state": {"reported": {"on": True}}})
    status, answer = curl(emulator, device, "POST", "/things/dev-thing/shadow", update)
    assert status == 200 and answer["state"]["reported"] == {"on": True}, answer
    status, answer = curl(emulator, device, "GET", "/things/dev-thing/shadow")
    assert status == 200 and answer["state"]["reported"] == {"on": True}, answer
    # Its policies allow neither another thing nor DeleteThingShadow.
    status, answer = curl(emulator, device, "POST", "/things/other-thing/shadow", update)
    assert status == 403 and answer["message"] == "Forbidden", answer
    status, answer = curl(emulator, device, "DELETE", "/things/dev-thing/shadow")
    assert status == 403, answer
    shadow = emulator.client("iot-data").get_thing_shadow(thingName="dev-thing")
    assert json.loads(shadow["payload"].read())["state"]["reported"] == {"on": True}
    check_entries(emulator.log_file)


def test_describe_endpoint_is_a_host_name(emulator):
    address = emulator.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    assert address == "localhost"


def test_sdk_websockets_with_default_aws_signing(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    credentials = auth.AwsCredentialsProvider.new_static(ACCESS_KEY, "secret")
    client = SdkClient(mqtt5_client_builder.websockets_with_default_aws_signing, endpoint="localhost",
                       port=port_of(emulator.device), region="us-east-1", credentials_provider=credentials,
                       ca_filepath=str(device.ca), client_id="sdk-wss").start()
    try:
        client.subscribe("dev/#")
        assert client.publish("dev/any") == mqtt5.PubackReasonCode.SUCCESS
        assert wait_until(lambda: "dev/any" in client.messages), client.messages
    finally:
        client.stop()
    connect = wait_entry(emulator, "Connect", clientId="sdk-wss")
    assert connect["principalId"] == ACCESS_KEY and connect["protocol"] == "MQTT"
    check_entries(emulator.log_file, "Connect", "Publish-In", "Disconnect")


def presigned_path(host):
    """`/mqtt?X-Amz-...` presigned by botocore for service iotdevicegateway."""
    credentials = Credentials(ACCESS_KEY, "secret", "session-token")
    request = AWSRequest(method="GET", url=f"wss://{host}/mqtt")
    SigV4QueryAuth(credentials, "iotdevicegateway", "us-east-1", expires=300).add_auth(request)
    url = urllib.parse.urlsplit(request.url)
    return f"{url.path}?{url.query}"


class PahoWs:
    """paho over WebSockets at `path`."""

    def __init__(self, client_id, path, tls_context=None, v5=True):
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets",
                                protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        self.paho.ws_set_options(path=path)
        if tls_context:
            self.paho.tls_set_context(tls_context)
        self.connacks, self.messages, self.pubacks = [], [], {}
        self.closed = threading.Event()
        self.paho.on_connect = lambda c, u, f, rc, p: self.connacks.append(rc.value)
        self.paho.on_message = lambda c, u, m: self.messages.append(m.topic)
        self.paho.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc.value)
        self.paho.on_disconnect = lambda c, u, f, rc, p: self.closed.set()

    def connect(self, host, port):
        self.paho.connect(host, port, keepalive=30)
        self.paho.loop_start()
        assert wait_until(lambda: self.connacks, timeout=10) and self.connacks == [0], self.connacks
        return self

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()


def test_paho_websockets_presigned_on_the_api_port(emulator):
    host, port = emulator.api.rsplit(":", 1)
    client = PahoWs("paho-ws", presigned_path(emulator.api)).connect(host, int(port))
    try:
        client.paho.subscribe("ws/#", qos=1)
        time.sleep(0.3)
        mid = client.paho.publish("ws/hello", b"{}", qos=1).mid
        assert wait_until(lambda: mid in client.pubacks) and client.pubacks[mid] == 0
        assert wait_until(lambda: "ws/hello" in client.messages), client.messages
    finally:
        client.stop()
    connect = wait_entry(emulator, "Connect", clientId="paho-ws")
    assert connect["principalId"] == ACCESS_KEY
    check_entries(emulator.log_file, "Connect", "Publish-In", "Publish-Out", "Disconnect")


def test_websocket_without_authentication_is_refused(emulator):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(
            f"{emulator.endpoint}/mqtt",
            headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "mqtt"}))
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["message"] == "Missing Authentication Token"


def test_paho_wss_with_a_client_certificate_follows_its_policies(emulator, tmp_path):
    device = Device(emulator, tmp_path)
    context = ssl.create_default_context(cafile=str(device.ca))
    context.load_cert_chain(str(device.cert), str(device.key))
    client = PahoWs("paho-wss-cert", "/mqtt", context).connect("localhost", port_of(emulator.device))
    try:
        client.paho.subscribe("dev/#", qos=1)
        time.sleep(0.3)
        allowed = client.paho.publish("dev/allowed", b"{}", qos=1).mid
        denied = client.paho.publish("dev/denied", b"{}", qos=1).mid
        assert wait_until(lambda: allowed in client.pubacks and denied in client.pubacks), client.pubacks
        assert client.pubacks[allowed] == 0 and client.pubacks[denied] == 0x87
        assert wait_until(lambda: "dev/allowed" in client.messages), client.messages
    finally:
        client.stop()
    entry = wait_entry(emulator, "Publish-In", clientId="paho-wss-cert", topicName="dev/denied")
    assert entry["status"] == "Failure" and entry["principalId"] == device.certificate_id
    check_entries(emulator.log_file, "Connect", "Publish-In")


def test_a_websocket_is_cut_after_its_ttl(data_dir, tmp_path):
    config = tmp_path / "ttl.toml"
    config.write_text("[broker]\nwebsocket_ttl_secs = 2\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        host, port = emulator.api.rsplit(":", 1)
        client = PahoWs("paho-ttl", presigned_path(emulator.api)).connect(host, int(port))
        try:
            assert client.closed.wait(15), "the connection outlived its TTL"
        finally:
            client.paho.loop_stop()
        entry = wait_entry(emulator, "Disconnect", clientId="paho-ttl")
        assert entry["disconnectReason"] == "WEBSOCKET_TTL_EXPIRATION"
        check_entries(emulator.log_file, "Connect", "Disconnect")
    finally:
        emulator.stop()


def test_alpn_mqtt_naming_a_missing_authorizer_is_refused(emulator, tmp_path):
    """ALPN `mqtt` naming an authorizer the account lacks: CONNACK "not authorized" (3.1.1's 5,
    which paho reports as reason code 135) and a Connection.AuthNError. test_custom_auth.py has
    the authorizers that let devices in."""
    log_authn_errors(emulator)
    device = Device(emulator, tmp_path)
    context = ssl.create_default_context(cafile=str(device.ca))
    context.set_alpn_protocols(["mqtt"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="custom-auth",
                         protocol=mqtt.MQTTv311)
    client.username_pw_set("user?x-amz-customauthorizer-name=none", "password")
    client.tls_set_context(context)
    connacks, closed = [], threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connacks.append(rc.value)
    client.on_disconnect = lambda c, u, f, rc, p: closed.set()
    client.connect("localhost", port_of(emulator.device))
    client.loop_start()
    try:
        assert closed.wait(10) and connacks == [135]
    finally:
        client.loop_stop()
    entry = wait_entry(emulator, "Connection.AuthNError", authenticationType="CUSTOM_AUTH")
    assert entry["reason"] == "CUSTOM_AUTHORIZER_NOT_FOUND" and entry["clientId"] == "custom-auth"
    check_entries(emulator.log_file, "Connection.AuthNError")


def test_mqttjs_over_wss_with_a_presigned_url(emulator, tmp_path):
    """mqtt.js (npm mqtt, tests/mqttjs) connects to a botocore-presigned wss:// URL."""
    root = pathlib.Path(__file__).resolve().parents[2]
    assert shutil.which("node") and (root / "tests" / "mqttjs" / "node_modules" / "mqtt").exists(), \
        "mqtt.js needs Node.js and npm mqtt: scripts/test.sh installs them (npm ci in tests/mqttjs)"
    device = Device(emulator, tmp_path)
    host = f"localhost:{port_of(emulator.device)}"
    url = f"wss://{host}{presigned_path(host)}"
    run = subprocess.run(["node", str(root / "tests" / "mqttjs" / "wss_client.js"), url, str(device.ca),
                          "mqttjs-wss", "web/hello"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"connected": True, "received": ["web/hello"]}
    connect = wait_entry(emulator, "Connect", clientId="mqttjs-wss")
    assert connect["principalId"] == ACCESS_KEY and connect["protocol"] == "MQTT"
    wait_entry(emulator, "Disconnect", clientId="mqttjs-wss")
    check_entries(emulator.log_file, "Connect", "Publish-In", "Publish-Out", "Disconnect")
