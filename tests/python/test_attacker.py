"""The holes issue 13 found by trying iotemu as an attacker, each closed and seen from outside
with real clients (paho-mqtt over MQTT 3.1.1 and 5, boto3):

- certificates the account and region do not know (deleted, or made in another account or
  region) are refused with DEVICE_CERTIFICATE_NOT_REGISTERED instead of registered on first use;
- registered certificates past their notAfter (or before their notBefore) are refused;
- clients cannot forge answers on reserved topics (shadow `/update/delta`, `jobs/notify-next`,
  `$aws/events/...`) over MQTT or iot-data, while the services still publish theirs;
- a FilterLogEvents pattern of 2,000 nested parentheses is refused and the process answers on;
- a client of the plain port cannot take over the session of a certificate's client id."""
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import boto3
import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, error_of, iotemu_binary, log_authn_errors, wait_until
from test_certificate_enforcement import ALLOW_ALL, connect, tls_client
from test_certificate_registration import Pki, certificate_id
from test_policy_enforcement import ACCOUNT, CONNECT_ANY, Device, allow, policy


def authn_errors(emulator, reason):
    return [e for e in emulator.entries() if e["eventType"] == "Connection.AuthNError" and e["reason"] == reason]


def refused(emulator, tmp_path, client_id, cert_pem, key_pem):
    """Whether a TLS client with this certificate is refused: closed before any CONNACK."""
    client = tls_client(emulator, tmp_path, client_id, cert_pem, key_pem)
    connected, closed = connect(client, emulator)
    wait_until(lambda: connected.is_set() or closed.is_set(), timeout=10)
    ok = connected.is_set()
    if ok:
        client.disconnect()
    client.loop_stop()
    return not ok


def create_device(emulator, data_dir, out, name, *extra):
    return subprocess.run(
        [iotemu_binary(), "certs", "create-device", "--thing", name, "--out", str(out), "--data-dir", str(data_dir),
         *extra], check=True, capture_output=True, text=True).stdout.strip()


# ------------------------------------------------------------------------------------------------
# 1. Deleted or foreign certificates
# ------------------------------------------------------------------------------------------------

def test_a_deleted_certificate_stays_unknown_and_is_refused(emulator, iot, data_dir, tmp_path):
    log_authn_errors(emulator)
    out = tmp_path / "device"
    cid = create_device(emulator, data_dir, out, "doomed")
    cert, key = (out / "doomed.cert.pem").read_text(), (out / "doomed.private.key").read_text()
    assert not refused(emulator, tmp_path, "doomed", cert, key), "registered on its first connection"
    arn = iot.describe_certificate(certificateId=cid)["certificateDescription"]["certificateArn"]

    iot.update_certificate(certificateId=cid, newStatus="REVOKED")
    iot.detach_policy(policyName="iotemu-allow-all", target=arn)
    iot.delete_certificate(certificateId=cid)
    before = len(authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))
    assert refused(emulator, tmp_path, "doomed-again", cert, key), "a deleted certificate is refused"
    assert wait_until(lambda: len(authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED")) > before)
    assert error_of(iot.describe_certificate, certificateId=cid) == ("ResourceNotFoundException", 404), \
        "and is not registered again"

    # The same for one from CreateKeysAndCertificate.
    created = iot.create_keys_and_certificate(setAsActive=False)
    iot.delete_certificate(certificateId=created["certificateId"])
    assert refused(emulator, tmp_path, "keys", created["certificatePem"], created["keyPair"]["PrivateKey"])
    assert error_of(iot.describe_certificate, certificateId=created["certificateId"])[1] == 404
    assert not [e for e in emulator.entries() if e["eventType"] == "Connect" and e["status"] == "Success"
                and e["clientId"] in ("doomed-again", "keys")]
    check_entries(emulator.log_file, "Connection.AuthNError")


@pytest.mark.parametrize("account, region", [("111122223333", "us-east-1"), ("123456789012", "eu-west-1")])
def test_an_inactive_certificate_of_another_account_or_region_is_refused(emulator, iot, tmp_path, account, region):
    log_authn_errors(emulator)
    foreign = boto3.client("iot", endpoint_url=emulator.endpoint, region_name=region,
                           aws_access_key_id=account, aws_secret_access_key="test")
    created = foreign.create_keys_and_certificate(setAsActive=False)
    cid = created["certificateId"]
    assert refused(emulator, tmp_path, "foreign", created["certificatePem"], created["keyPair"]["PrivateKey"])
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))
    # (paho may try again while it waits: one entry per attempt)
    for entry in authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"):
        assert entry["status"] == "Failure" and entry["logLevel"] == "ERROR"
        assert entry["authenticationType"] == "AWS_X509" and cid in entry["details"]
    assert error_of(iot.describe_certificate, certificateId=cid) == ("ResourceNotFoundException", 404), \
        "the serving account and region did not register it"
    assert foreign.describe_certificate(certificateId=cid)["certificateDescription"]["status"] == "INACTIVE"
    assert not iot.list_policies()["policies"], "and iotemu-allow-all was given to nobody"


def test_create_device_registers_once_in_its_own_account_and_region(emulator, iot, data_dir, tmp_path):
    log_authn_errors(emulator)
    out = tmp_path / "elsewhere"
    cid = create_device(emulator, data_dir, out, "elsewhere", "--region", "eu-west-1")
    cert, key = (out / "elsewhere.cert.pem").read_text(), (out / "elsewhere.private.key").read_text()
    assert refused(emulator, tmp_path, "elsewhere", cert, key), "made for eu-west-1, refused in us-east-1"
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))
    assert error_of(iot.describe_certificate, certificateId=cid)[1] == 404


# ------------------------------------------------------------------------------------------------
# 2. Expired certificates
# ------------------------------------------------------------------------------------------------

CA_CONFIG = """
[ca]
default_ca = dated
[dated]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = anything
unique_subject = no
x509_extensions = device
[anything]
commonName = supplied
[device]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
"""


def utc(seconds):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(seconds))


def dated(pki, ca_pem, ca_key, name, not_before, not_after):
    """A device certificate and key signed by the CA in `ca_pem`/`ca_key`, valid between the
    given epoch seconds (`openssl ca`, which takes any dates)."""
    key, _ = pki.key_and_csr(name, name)
    (pki.dir / "dated-ca.cnf").write_text(CA_CONFIG)
    (pki.dir / "index.txt").touch()
    if not (pki.dir / "serial").exists():
        (pki.dir / "serial").write_text("1000\n")
    pki.run("ca", "-batch", "-config", "dated-ca.cnf", "-cert", ca_pem, "-keyfile", ca_key, "-in", f"{name}.csr",
            "-out", f"{name}.pem", "-startdate", utc(not_before), "-enddate", utc(not_after), "-notext")
    return (pki.dir / f"{name}.pem").read_text(), key


def test_registered_certificates_are_refused_once_they_expire(emulator, iot, data_dir, tmp_path):
    log_authn_errors(emulator)
    pki = Pki(tmp_path / "pki")
    own_ca = pki.ca("own")
    iot.create_policy(policyName="allow-all", policyDocument=ALLOW_ALL)
    now = time.time()
    ends = now + 6
    cases = {
        # signed by the emulator's CA (its key is in the data directory): the TLS chain's path
        "of-emulator-ca": dated(pki, data_dir / "ca" / "ca.pem", data_dir / "ca" / "ca.key", "of-emulator-ca",
                                now - 60, ends),
        # signed by a CA nobody registered: the path of certificates registered without a CA
        "without-ca": dated(pki, pki.dir / "own.pem", pki.dir / "own.key", "without-ca", now - 60, ends),
    }
    for name, (pem, key) in cases.items():
        registered = iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
        iot.attach_policy(policyName="allow-all", target=registered["certificateArn"])
        assert not refused(emulator, tmp_path, name, pem, key), f"{name} connects while it is valid"
    # Not registered, and not valid yet.
    future = dated(pki, data_dir / "ca" / "ca.pem", data_dir / "ca" / "ca.key", "future", now + 3600, now + 7200)

    while time.time() < ends + 1.5:
        time.sleep(0.2)
    for name, (pem, key) in cases.items():
        assert refused(emulator, tmp_path, f"{name}-expired", pem, key), f"{name} is refused once expired"
        cid = certificate_id(pem)
        assert iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"] == "ACTIVE", \
            "although still registered ACTIVE"
    assert refused(emulator, tmp_path, "future", *future)

    assert wait_until(lambda: len(authn_errors(emulator, "NOT_AUTHENTICATED")) >= 3)
    errors = authn_errors(emulator, "NOT_AUTHENTICATED")
    # (paho may try again while it waits: one entry per attempt)
    assert sum("expired" in e["details"] for e in errors) >= 2, errors
    assert any("not valid before" in e["details"] for e in errors), errors
    assert all("expired" in e["details"] or "not valid before" in e["details"] for e in errors), errors
    assert all(e["status"] == "Failure" and e["authenticationType"] == "AWS_X509" for e in errors)
    connected = {e["clientId"] for e in emulator.entries() if e["eventType"] == "Connect" and e["status"] == "Success"}
    assert connected == set(cases), "only the certificates within their dates ever connected"
    check_entries(emulator.log_file, "Connection.AuthNError", "Connect")


# ------------------------------------------------------------------------------------------------
# 3. Forged answers on reserved topics
# ------------------------------------------------------------------------------------------------

class Watcher:
    """A plain-port paho client that records what arrives on the topics it subscribed to."""

    def __init__(self, emulator, client_id, *filters):
        self.got = []
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        connected, subscribed = threading.Event(), threading.Event()
        self.paho.on_connect = lambda *args: connected.set()
        self.paho.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.paho.on_subscribe = lambda *args: subscribed.set()
        host, port = emulator.mqtt.rsplit(":", 1)
        self.paho.connect(host, int(port))
        self.paho.loop_start()
        assert connected.wait(10), f"{client_id} connects"
        if filters:
            self.paho.subscribe([(f, 1) for f in filters])
            assert subscribed.wait(10), f"{client_id} subscribes"

    def on(self, topic):
        return [json.loads(p) for t, p in self.got if t == topic]

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()


def publish_in_failures(emulator, topic):
    return [e for e in emulator.entries()
            if e["eventType"] == "Publish-In" and e["status"] == "Failure" and e.get("topicName") == topic]


FORGED = {"state": {"power": "off"}, "version": 999}
DELTA = "$aws/things/victim/shadow/update/delta"
NOTIFY_NEXT = "$aws/things/victim/jobs/notify-next"
EVENT = "$aws/events/presence/connected/victim"


def test_forged_answers_over_mqtt_are_refused_and_the_services_still_answer(emulator, iot, tmp_path):
    victim = Watcher(emulator, "victim", DELTA, NOTIFY_NEXT, EVENT, "$aws/things/victim/shadow/update/accepted")
    attacker = Device(emulator, iot, tmp_path, policy(CONNECT_ANY, allow("iot:Publish", f"{ACCOUNT}:topic/*")))
    try:
        # MQTT 3.1.1: each forgery closes the connection (CLIENT_ERROR) and writes its Failure.
        for topic in (DELTA, NOTIFY_NEXT, EVENT):
            client = attacker.client("attacker").connect()
            assert client.connected.wait(5)
            client.paho.publish(topic, json.dumps(FORGED), qos=1)
            assert client.closed.wait(5), f"3.1.1: a forged {topic} closes the connection"
            client.paho.loop_stop()
            assert wait_until(lambda: publish_in_failures(emulator, topic)), topic
            [entry] = publish_in_failures(emulator, topic)
            assert entry["reason"] == "FORBIDDEN_RESERVED_TOPIC", entry
            assert topic in entry["details"] and "may only subscribe" in entry["details"]
        disconnects = [e for e in emulator.entries() if e["eventType"] == "Disconnect" and e["clientId"] == "attacker"]
        assert len(disconnects) == 3 and all(e["disconnectReason"] == "CLIENT_ERROR" for e in disconnects)

        # MQTT 5: PUBACK 0x90 (Topic Name invalid), and the connection stays.
        client5 = attacker.client("attacker-5", v5=True).connect()
        assert client5.connected.wait(5)
        mid = client5.publish(DELTA)
        assert wait_until(lambda: client5.pubacks.get(mid) == 0x90), client5.pubacks
        subscribed = client5.subscribe("$aws/things/victim/shadow/update")
        assert wait_until(lambda: subscribed in client5.subacks)
        # The request topic is Publish/Subscribe; a Basic Ingest topic is Publish only (the
        # broker refuses its filter as malformed), and a `$` topic AWS lists nowhere may not be
        # subscribed to: SUBACK 0x8F.
        unknown = client5.subscribe("$SYS/broker/#")
        assert wait_until(lambda: client5.subacks.get(unknown) == [0x8F]), client5.subacks
        assert not client5.closed.is_set()

        # The services still publish their answers: a real update reaches the victim's delta.
        ok = client5.publish("$aws/things/victim/shadow/update")
        assert wait_until(lambda: client5.pubacks.get(ok) == 0)
        client5.paho.publish("$aws/things/victim/shadow/update",
                             json.dumps({"state": {"desired": {"power": "on"}}}), qos=1)
        assert wait_until(lambda: victim.on(DELTA)), "the shadow service's delta arrives"
        iot.create_thing(thingName="victim")
        iot.create_job(jobId="real-job", targets=[f"{ACCOUNT}:thing/victim"], document="{}")
        assert wait_until(lambda: victim.on(NOTIFY_NEXT)), "the jobs service's notify-next arrives"
        client5.stop()
        time.sleep(0.3)
        assert victim.on(DELTA) == [victim.on(DELTA)[0]] and victim.on(DELTA)[0]["state"] == {"power": "on"}, \
            "no forged delta arrived"
        assert [n["execution"]["jobId"] for n in victim.on(NOTIFY_NEXT)] == ["real-job"]
        assert not victim.on(EVENT)
        check_entries(emulator.log_file, "Publish-In", "Disconnect", "Subscribe")
    finally:
        victim.stop()


def test_forged_answers_over_iot_data_are_refused(emulator):
    data = emulator.client("iot-data")
    victim = Watcher(emulator, "victim", DELTA, EVENT)
    try:
        for topic in (DELTA, EVENT, "$aws/things/victim/shadow/update/accepted", "$SYS/x"):
            assert error_of(data.publish, topic=topic, qos=1, payload=json.dumps(FORGED).encode()) == (
                "UnauthorizedException", 401), topic
            assert wait_until(lambda: publish_in_failures(emulator, topic)), topic
            [entry] = publish_in_failures(emulator, topic)
            assert entry["protocol"] == "HTTP" and entry["reason"] == "FORBIDDEN_RESERVED_TOPIC", entry
        data.publish(topic="$aws/things/victim/shadow/update", qos=1,
                     payload=json.dumps({"state": {"desired": {"power": "on"}}}).encode())
        assert wait_until(lambda: victim.on(DELTA)), "a real update through iot-data still makes a delta"
        time.sleep(0.3)
        assert [d["state"] for d in victim.on(DELTA)] == [{"power": "on"}] and not victim.on(EVENT)
        check_entries(emulator.log_file, "Publish-In")
    finally:
        victim.stop()


# ------------------------------------------------------------------------------------------------
# 4. Input that nests too deep
# ------------------------------------------------------------------------------------------------

def test_deeply_nested_input_is_refused_and_the_process_stays_up(emulator):
    logs = emulator.client("logs")
    deep = "{ " + "(" * 2000 + "$.a = 1" + ")" * 2000 + " }"
    with pytest.raises(logs.exceptions.InvalidParameterException) as info:
        logs.filter_log_events(logGroupName="AWSIotLogsV2", filterPattern=deep)
    message = info.value.response["Error"]["Message"]
    assert "at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024" \
        in message
    within = "{ " + "(" * 500 + "$.a = 1" + ")" * 500 + " }"
    assert len(within) <= 1024
    with pytest.raises(logs.exceptions.InvalidParameterException) as info:
        logs.filter_log_events(logGroupName="AWSIotLogsV2", filterPattern=within)
    assert "parentheses nest deeper than 64 levels" in info.value.response["Error"]["Message"]

    # The other parsers of outside JSON stop where serde_json does (128 levels), with AWS's errors.
    iot = emulator.client("iot")
    nested = "[" * 50_000 + '"x"' + "]" * 50_000
    deep_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}).replace('"*"}', '"*", "Condition": '
                                                                             '{"StringEquals": {"iot:ClientId": '
                                                                             + nested + '}}}')
    assert error_of(iot.create_policy, policyName="deep", policyDocument=deep_policy) == (
        "MalformedPolicyException", 400)
    deep_state = '{"state": {"desired": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}}"
    with pytest.raises(emulator.client("iot-data").exceptions.InvalidRequestException) as info:
        emulator.client("iot-data").update_thing_shadow(thingName="t", payload=deep_state.encode())
    assert info.value.response["Error"]["Message"] == "JSON contains too many levels of nesting; maximum is 6"
    body = ('{"attributePayload": ' + nested + "}").encode()
    request = urllib.request.Request(f"{emulator.endpoint}/things/deep", data=body, method="POST", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261124/us-east-1/iot/aws4_request, "
                         "SignedHeaders=host, Signature=0", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=5)
    assert http_error.value.code == 400
    assert http_error.value.headers["x-amzn-ErrorType"].startswith("InvalidRequestException")

    health = json.loads(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/health").read())
    assert health["status"] == "ok"
    watcher = Watcher(emulator, "still-here", "x")
    watcher.stop()
    assert wait_until(lambda: logs.filter_log_events(
        logGroupName="AWSIotLogsV2", filterPattern='{ (($.clientId = "still-here")) }')["events"])
    assert emulator.process.poll() is None


# ------------------------------------------------------------------------------------------------
# 5. Plain-port takeover
# ------------------------------------------------------------------------------------------------

def plain_connack(emulator, client_id, v5=False):
    """The CONNACK reason code a plain-port client gets (None if the connection just closed)."""
    got, done = [], threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client.on_connect = lambda c, u, f, rc, p: (got.append(rc.value), done.set())
    client.on_disconnect = lambda *args: done.set()
    host, port = emulator.mqtt.rsplit(":", 1)
    client.connect(host, int(port))
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


def persistent(device, client_id):
    """A Client of `device` (test_policy_enforcement) with a persistent 3.1.1 session."""
    client = device.client(client_id)
    client.paho._clean_session = False  # paho takes it only in its constructor
    return client


def test_the_plain_port_cannot_take_over_a_certificate_session(emulator, iot, data_dir, tmp_path):
    device = Device(emulator, iot, tmp_path, policy(CONNECT_ANY, allow(["iot:Publish", "iot:Subscribe",
                                                                        "iot:Receive"], "*")))
    owner = persistent(device, "lamp-1").connect()
    assert owner.connected.wait(5)
    subscribed = owner.subscribe("lamps/1/cmd")
    assert wait_until(lambda: subscribed in owner.subacks)

    # paho reports 3.1.1 return code 5 (not authorized) as reason code 0x87, as for MQTT 5.
    assert plain_connack(emulator, "lamp-1") == 0x87, "3.1.1: CONNACK 5 (not authorized)"
    assert plain_connack(emulator, "lamp-1", v5=True) == 0x87, "MQTT 5: CONNACK 0x87"
    time.sleep(0.3)
    assert not owner.closed.is_set(), "the device keeps its connection"
    sender = Watcher(emulator, "sender")
    sender.paho.publish("lamps/1/cmd", b"on", qos=1)
    assert wait_until(lambda: "lamps/1/cmd" in owner.messages), "and its messages"

    # Offline, its persistent session (and the messages queued in it) is not taken over either.
    owner.paho.disconnect()
    owner.paho.loop_stop()
    assert wait_until(lambda: [e for e in emulator.entries() if e["eventType"] == "Disconnect"
                               and e["clientId"] == "lamp-1"])
    sender.paho.publish("lamps/1/cmd", b"queued", qos=1)
    time.sleep(0.3)
    assert plain_connack(emulator, "lamp-1") == 0x87
    sender.stop()
    back = persistent(device, "lamp-1").connect()
    assert back.connected.wait(5)
    assert wait_until(lambda: back.messages.count("lamps/1/cmd") == 1), "the queued message waited for it"
    back.stop()

    failures = [e for e in emulator.entries() if e["eventType"] == "Connect" and e["status"] == "Failure"]
    assert len(failures) == 3 and all(e["reason"] == "CROSS_PRINCIPAL_TAKEOVER" for e in failures), failures
    assert all(e["principalId"] == "anonymous" and device.certificate_id in e["details"] for e in failures)
    assert not [e for e in emulator.entries() if e.get("reason") == "DUPLICATE_CLIENT_ID"]
    # A plain client may still take over a plain client's session.
    assert plain_connack(emulator, "sender") == 0
    check_entries(emulator.log_file, "Connect", "Disconnect")

    # The device's persistent session survives a restart, and so does whose it is.
    emulator.stop()
    takeovers = lambda emu: [e for e in emu.entries() if e.get("reason") == "CROSS_PRINCIPAL_TAKEOVER"]  # noqa: E731
    before = len(takeovers(emulator))
    restarted = Emulator(data_dir)
    try:
        assert plain_connack(restarted, "lamp-1") == 0x87, "still refused after a restart"
        assert wait_until(lambda: len(takeovers(restarted)) == before + 1)
    finally:
        restarted.stop()
