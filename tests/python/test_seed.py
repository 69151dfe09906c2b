"""Fixtures from a seed file (`--seed`), `POST /_iotemu/seed`, `iotemu wait` and `--server-name`,
end to end: boto3 reads back what the seed declared, paho connects over mutual TLS with a seeded
certificate while checking the server's name strictly, a bad entry stops the start with one line
naming it."""
import json
import socket
import ssl
import subprocess
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, iotemu_binary, log_authn_errors, wait_until
from test_attacker import refused

SEED = """
[[thingTypes]]
thingTypeName = "lamp"

[[thingGroups]]
thingGroupName = "home"

[[things]]
thingName = "lamp-1"
thingTypeName = "lamp"
attributePayload = { attributes = { room = "hall" } }
thingGroups = ["home"]

[[policies]]
policyName = "lamps"
policyDocument = '''{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
  {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": "arn:aws:iot:us-east-1:123456789012:topic/lamps/*"}]}'''

[[certificates]]
name = "lamp-1"
out = "certs"
policies = ["lamps"]
things = ["lamp-1"]

[[certificates]]
name = "spare"
out = "certs"
keyAlgorithm = "RSA"
status = "INACTIVE"

[[topicRules]]
ruleName = "lamps_copy"
topicRulePayload = { sql = "SELECT * FROM 'lamps/#'", actions = [{ republish = { topic = "copy" } }] }
"""


def write_seed(tmp_path, text=SEED, name="seed.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_seed_file_is_there_before_the_emulator_answers(tmp_path):
    seed = write_seed(tmp_path)
    emulator = Emulator(tmp_path / "data", "--seed", str(seed), "--server-name", "emu.test")
    try:
        iot = emulator.client("iot")
        lamp = iot.describe_thing(thingName="lamp-1")
        assert lamp["thingTypeName"] == "lamp" and lamp["attributes"] == {"room": "hall"}
        assert iot.list_things_in_thing_group(thingGroupName="home")["things"] == ["lamp-1"]
        [principal] = iot.list_thing_principals(thingName="lamp-1")["principals"]
        assert [p["policyName"] for p in iot.list_attached_policies(target=principal)["policies"]] == ["lamps"]
        assert iot.get_topic_rule(ruleName="lamps_copy")["rule"]["ruleName"] == "lamps_copy"

        certs = tmp_path / "certs"
        cert_id = principal.rsplit("/", 1)[1]
        assert (certs / "lamp-1.cert.pem").exists() and (certs / "ca.pem").exists()
        assert oct((certs / "lamp-1.private.key").stat().st_mode & 0o777) == "0o600"
        # lamp-1: an EC key and CreateCertificateFromCsr; spare: CreateKeysAndCertificate's RSA.
        assert (certs / "lamp-1.private.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert (certs / "spare.private.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
        statuses = {c["certificateId"]: c["status"] for c in iot.list_certificates()["certificates"]}
        assert statuses.pop(cert_id) == "ACTIVE" and list(statuses.values()) == ["INACTIVE"], statuses

        # A strict TLS client that reaches the emulator as emu.test (its --server-name).
        host, port = emulator.mqtts.rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.load_cert_chain(str(certs / "lamp-1.cert.pem"), str(certs / "lamp-1.private.key"))
        with context.wrap_socket(socket.create_connection((host, int(port)), timeout=5),
                                 server_hostname="emu.test") as tls:
            assert tls.version() is not None
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(socket.create_connection((host, int(port)), timeout=5),
                                server_hostname="other.test")

        # paho with the seeded certificate: its policy lets lamp-1 connect as itself.
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lamp-1")
        client.tls_set(ca_certs=str(certs / "ca.pem"), certfile=str(certs / "lamp-1.cert.pem"),
                       keyfile=str(certs / "lamp-1.private.key"))
        client.connect("localhost", int(port))
        client.loop_start()
        assert wait_until(client.is_connected)
        client.publish("lamps/lamp-1/state", "on", qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        assert wait_until(lambda: any(e["eventType"] == "Connect" and e["clientId"] == "lamp-1"
                                      and e["principalId"] == cert_id for e in emulator.entries()))
    finally:
        emulator.stop()

    # A restart finds everything and makes nothing twice.
    emulator = Emulator(tmp_path / "data", "--seed", str(seed))
    try:
        iot = emulator.client("iot")
        after = {c["certificateId"]: c["status"] for c in iot.list_certificates()["certificates"]}
        assert after == {cert_id: "ACTIVE", **statuses}, after
        # The seed registered its certificates through the API, in the status it declared: the
        # INACTIVE one is refused, not let in by create-device's registration on first use.
        spare = [(certs / f"spare.{ext}").read_text() for ext in ("cert.pem", "private.key")]
        log_authn_errors(emulator)
        assert refused(emulator, tmp_path, "spare", *spare)
        assert wait_until(lambda: any(e["eventType"] == "Connection.AuthNError"
                                      and e["reason"] == "DEVICE_CERTIFICATE_INACTIVE" for e in emulator.entries()))
        assert {c["certificateId"]: c["status"] for c in iot.list_certificates()["certificates"]} == after
    finally:
        emulator.stop()


def test_a_bad_entry_stops_the_start_naming_it(tmp_path):
    seed = write_seed(tmp_path, json.dumps({"things": [
        {"thingName": "fine"}, {"thingName": "bad one"}]}), name="seed.json")
    result = subprocess.run(
        [iotemu_binary(), "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0", "--device-port", "0",
         "--data-dir", str(tmp_path / "data"), "--seed", str(seed), "--no-stdout-logs"],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: seed things[1] (bad one): InvalidRequestException: "), errors
    assert "iotemu listening" not in result.stderr


def test_post_seed_after_a_reset_and_iotemu_wait(tmp_path, emulator):
    wait = subprocess.run([iotemu_binary(), "wait", "--endpoint", emulator.endpoint, "--timeout", "5"],
                          capture_output=True, text=True, timeout=20)
    assert wait.returncode == 0, wait.stderr
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    wait = subprocess.run([iotemu_binary(), "wait", "--api-port", str(port), "--timeout", "0.3"],
                          capture_output=True, text=True, timeout=20)
    assert wait.returncode == 1 and f"127.0.0.1:{port}" in wait.stderr, wait.stderr

    def post(body):
        request = urllib.request.Request(emulator.endpoint + "/_iotemu/seed", data=body.encode(), method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, answer = post(SEED)
    assert status == 200, answer
    cert = answer["certificates"]["lamp-1"]
    assert cert["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in cert["privateKey"]
    iot = emulator.client("iot")
    assert iot.describe_certificate(certificateId=cert["certificateId"])["certificateDescription"]["status"] == "ACTIVE"

    # Again: nothing new.
    status, again = post(SEED)
    assert status == 200 and again["alreadyThere"] >= 3, again
    assert again["certificates"]["lamp-1"]["certificateId"] == cert["certificateId"]

    # After a reset the same seed brings the same state back (the certificate from its files).
    urllib.request.urlopen(urllib.request.Request(emulator.endpoint + "/_iotemu/reset", method="POST"))
    assert iot.list_things()["things"] == []
    status, answer = post(SEED)
    assert status == 200 and answer["alreadyThere"] == 0, answer
    assert answer["certificates"]["lamp-1"]["certificateId"] == cert["certificateId"]
    assert iot.describe_thing(thingName="lamp-1")["attributes"] == {"room": "hall"}

    status, error = post('[[policies]]\npolicyName = "p"\npolicyDocument = "not json"\n')
    assert status == 400 and error["message"].startswith("seed policies[0] (p): MalformedPolicyException"), error
