"""Devices connecting through a custom authorizer, with the AWS IoT Device SDK v2 for Python,
unmodified: `mqtt5_client_builder.direct_with_custom_authorizer` (ALPN `mqtt` on the device port,
port given) and `websockets_with_custom_authorizer` (WSS at /mqtt), against a local HTTP server
standing for the authorizer's Lambda function (`[authorizers.endpoints]`).

The function decides by the MQTT password: `allow` (a policy allowing dev/allowed and not
dev/denied), `deny` (isAuthenticated false), `slow` (past AWS's 5-second limit), `short`
(disconnectAfterInSeconds 2), `refresh` (refreshAfterInSeconds 1, and dev/later allowed from the
second call on). paho over plain WebSockets on the API port names the authorizer in the upgrade's
headers instead. Entries are checked with `iotemu check-entries` and for their principalId,
authenticationType and reason."""
import base64
import json
import subprocess
import time
import urllib.request

import pytest
from awsiot import mqtt5_client_builder
from awscrt import mqtt5

from conftest import Emulator, JsonFunction, check_entries, log_authn_errors, wait_until
from test_device_port import PahoWs, SdkClient, allowed_and_denied, entries, port_of, wait_entry

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:device-authorizer"
ACCOUNT = "arn:aws:iot:us-east-1:123456789012"
PRINCIPAL = "deviceUser1"


def policy(*publish_topics):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCOUNT}:client/${{iot:ClientId}}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": [f"{ACCOUNT}:topic/{t}" for t in publish_topics]},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ACCOUNT}:topicfilter/dev/*"},
    ]})


def authorizer_function():
    """The authorizer function, deciding by the MQTT password: `deny` refuses, `slow` answers
    after AWS's 5-second limit, `short` disconnects after 2 s, `refresh` asks again after 1 s and
    is then allowed one more topic."""

    def answer(event):
        password = base64.b64decode(event["protocolData"]["mqtt"].get("password", "")).decode()
        if password == "slow":
            time.sleep(6)
        reply = {"isAuthenticated": password != "deny", "principalId": PRINCIPAL,
                 "disconnectAfterInSeconds": 2 if password == "short" else 3600,
                 "refreshAfterInSeconds": 1 if password == "refresh" else 300,
                 "policyDocuments": [policy("dev/allowed")]}
        calls = [e for e in function.events if e["protocolData"]["mqtt"].get("password") ==
                 event["protocolData"]["mqtt"].get("password")]
        if password == "refresh" and len(calls) > 1:
            reply["policyDocuments"] = [policy("dev/allowed", "dev/later")]
        return reply

    function = JsonFunction(answer)
    return function


@pytest.fixture
def setup(data_dir, tmp_path):
    """An emulator whose authorizers reach the test's function; authorizer `signed` (token key
    `token`, RSA key made by openssl) and `open` (signing disabled)."""
    function = authorizer_function()
    config = tmp_path / "authorizers.toml"
    config.write_text(f'[authorizers.endpoints]\n"{FUNCTION}" = "{function.url}"\n')
    emulator = Emulator(data_dir, "--config", str(config))
    log_authn_errors(emulator)
    key = tmp_path / "signing.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout"], check=True, capture_output=True,
                            text=True).stdout
    iot = emulator.client("iot")
    iot.create_authorizer(authorizerName="signed", authorizerFunctionArn=FUNCTION, tokenKeyName="token",
                          tokenSigningPublicKeys={"k1": public})
    iot.create_authorizer(authorizerName="open", authorizerFunctionArn=FUNCTION, signingDisabled=True)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
    try:
        yield emulator, function, key, ca
    finally:
        emulator.stop()
        function.stop()


def sign(key_path, token):
    signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_path)], input=token.encode(),
                            capture_output=True, check=True).stdout
    return base64.b64encode(signed).decode()


def direct(emulator, ca, client_id, password, authorizer="open", **extra):
    return SdkClient(mqtt5_client_builder.direct_with_custom_authorizer, endpoint="localhost",
                     port=port_of(emulator.device), ca_filepath=str(ca), client_id=client_id,
                     auth_username="device", auth_authorizer_name=authorizer, auth_password=password.encode(),
                     **extra)


def websockets(emulator, ca, client_id, password, authorizer="open"):
    return SdkClient(mqtt5_client_builder.websockets_with_custom_authorizer, endpoint="localhost",
                     port=port_of(emulator.device), ca_filepath=str(ca), client_id=client_id,
                     auth_username="device", auth_authorizer_name=authorizer, auth_password=password.encode())


def refused(client):
    """Starts a client the authorizer refuses; the SDK reports the failed connection."""
    client.client.start()
    with pytest.raises(RuntimeError):
        client.connected.result(15)
    client.stop()


def test_direct_signed_token_allowed_and_denied_publish(setup):
    emulator, function, key, ca = setup
    client = direct(emulator, ca, "ca-direct", "allow", authorizer="signed", auth_token_key_name="token",
                    auth_token_value="device-token", auth_authorizer_signature=sign(key, "device-token")).start()
    try:
        allowed_and_denied(client, emulator, PRINCIPAL)
    finally:
        client.stop()
    event = function.events[0]
    assert event["token"] == "device-token" and event["signatureVerified"] is True
    assert event["protocols"] == ["tls", "mqtt"]
    assert event["protocolData"]["tls"]["serverName"] == "localhost"
    mqtt_data = event["protocolData"]["mqtt"]
    assert mqtt_data["clientId"] == "ca-direct" and mqtt_data["username"].startswith("device?")
    assert base64.b64decode(mqtt_data["password"]) == b"allow"
    assert event["connectionMetadata"]["id"]
    connect = wait_entry(emulator, "Connect", clientId="ca-direct")
    assert connect["status"] == "Success" and connect["principalId"] == PRINCIPAL
    check_entries(emulator.log_file, "Connect", "Publish-In", "Publish-Out", "Subscribe", "Disconnect")


def test_websockets_allowed_and_denied_publish(setup):
    emulator, function, _, ca = setup
    client = websockets(emulator, ca, "ca-wss", "allow").start()
    try:
        allowed_and_denied(client, emulator, PRINCIPAL)
    finally:
        client.stop()
    event = function.events[0]
    assert event["signatureVerified"] is False and event["protocols"] == ["tls", "http", "mqtt"]
    assert event["protocolData"]["mqtt"]["clientId"] == "ca-wss"
    assert "host" in event["protocolData"]["http"]["headers"]
    connect = wait_entry(emulator, "Connect", clientId="ca-wss")
    assert connect["principalId"] == PRINCIPAL and connect["protocol"] == "MQTT"
    check_entries(emulator.log_file, "Connect", "Publish-In", "Publish-Out", "Disconnect")


@pytest.mark.parametrize("build", [direct, websockets])
def test_denied_and_too_slow_are_refused(setup, build):
    emulator, _, _, ca = setup
    refused(build(emulator, ca, "ca-denied", "deny"))
    denied = wait_entry(emulator, "Connection.AuthNError", clientId="ca-denied")
    assert denied["authenticationType"] == "CUSTOM_AUTH" and denied["reason"] == "NOT_AUTHENTICATED"
    refused(build(emulator, ca, "ca-slow", "slow"))
    slow = wait_entry(emulator, "Connection.AuthNError", clientId="ca-slow")
    assert slow["authenticationType"] == "CUSTOM_AUTH"
    assert slow["reason"] == "CUSTOM_AUTHORIZER_LAMBDA_EXECUTION_ERROR"
    assert not entries(emulator, "Connect", clientId="ca-denied", status="Success")
    check_entries(emulator.log_file, "Connection.AuthNError")


def test_missing_inactive_and_unsigned_authorizers_are_refused(setup):
    emulator, function, _, ca = setup
    refused(direct(emulator, ca, "ca-missing", "allow", authorizer="missing"))
    assert wait_entry(emulator, "Connection.AuthNError", clientId="ca-missing")["reason"] == \
        "CUSTOM_AUTHORIZER_NOT_FOUND"
    emulator.client("iot").update_authorizer(authorizerName="open", status="INACTIVE")
    refused(direct(emulator, ca, "ca-inactive", "allow"))
    assert wait_entry(emulator, "Connection.AuthNError", clientId="ca-inactive")["reason"] == \
        "CUSTOM_AUTHORIZER_NOT_FOUND"
    refused(direct(emulator, ca, "ca-unsigned", "allow", authorizer="signed"))
    assert wait_entry(emulator, "Connection.AuthNError", clientId="ca-unsigned")["reason"] == \
        "CUSTOM_AUTHORIZER_PARAMETER_INVALID"
    assert not function.events, "refused before the function is called"
    check_entries(emulator.log_file, "Connection.AuthNError")


def test_the_default_authorizer_serves_a_client_naming_none(setup):
    emulator, _, _, ca = setup
    emulator.client("iot").set_default_authorizer(authorizerName="open")
    client = SdkClient(mqtt5_client_builder.direct_with_custom_authorizer, endpoint="localhost",
                       port=port_of(emulator.device), ca_filepath=str(ca), client_id="ca-default",
                       auth_username="device", auth_password=b"allow").start()
    client.stop()
    assert wait_entry(emulator, "Connect", clientId="ca-default")["principalId"] == PRINCIPAL


def test_disconnect_after_seconds_ends_the_connection(setup):
    emulator, _, _, ca = setup
    client = direct(emulator, ca, "ca-short", "short").start()
    try:
        entry = wait_entry(emulator, "Disconnect", clientId="ca-short")
    finally:
        client.stop()
    assert entry["disconnectReason"] == "CUSTOMAUTH_TTL_EXPIRATION" and entry["principalId"] == PRINCIPAL
    check_entries(emulator.log_file, "Connect", "Disconnect")


def test_refresh_applies_the_new_policies(setup):
    emulator, function, _, ca = setup
    client = direct(emulator, ca, "ca-refresh", "refresh").start()
    try:
        assert client.publish("dev/later") == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        assert wait_until(lambda: len(function.events) >= 2, timeout=10), function.events
        assert wait_until(lambda: client.publish("dev/later") == mqtt5.PubackReasonCode.SUCCESS, timeout=5)
    finally:
        client.stop()
    check_entries(emulator.log_file, "Connect", "Publish-In")


def test_paho_websocket_names_the_authorizer_in_its_headers(setup):
    """The authorizer's name as an upgrade header on the API port's ws:// (AWS: header or query)."""
    emulator, function, _, _ = setup
    host, port = emulator.api.rsplit(":", 1)
    client = PahoWs("ca-paho", "/mqtt")
    client.paho.ws_set_options(path="/mqtt?source=paho", headers={"x-amz-customauthorizer-name": "open"})
    client.paho.username_pw_set("device", "allow")
    client.connect(host, int(port))
    try:
        client.paho.subscribe("dev/#", qos=1)
        time.sleep(0.3)
        allowed = client.paho.publish("dev/allowed", b"{}", qos=1).mid
        denied = client.paho.publish("dev/denied", b"{}", qos=1).mid
        assert wait_until(lambda: allowed in client.pubacks and denied in client.pubacks), client.pubacks
        assert client.pubacks[allowed] == 0 and client.pubacks[denied] == 0x87
    finally:
        client.stop()
    http_data = function.events[0]["protocolData"]["http"]
    assert http_data["headers"]["x-amz-customauthorizer-name"] == "open"
    assert http_data["queryString"] == "?source=paho"
    denied_entry = wait_entry(emulator, "Publish-In", clientId="ca-paho", topicName="dev/denied")
    assert denied_entry["status"] == "Failure" and denied_entry["principalId"] == PRINCIPAL
    check_entries(emulator.log_file, "Connect", "Publish-In")
