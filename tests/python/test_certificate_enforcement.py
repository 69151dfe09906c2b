"""The broker lets in only ACTIVE certificates: a certificate from CreateKeysAndCertificate
connects over mutual TLS (paho-mqtt); made INACTIVE it is disconnected at once (AUTH_ERROR) and
refused afterwards with a Connection.AuthNError entry; an emulator-issued certificate the registry
did not know is registered as ACTIVE on first use."""
import ssl
import subprocess
import threading
import urllib.request

import paho.mqtt.client as mqtt

from conftest import iotemu_binary, log_authn_errors, wait_until


def tls_client(emulator, tmp_path, client_id, cert_pem, key_pem, protocol=mqtt.MQTTv311):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
    cert, key = tmp_path / f"{client_id}.pem", tmp_path / f"{client_id}.key"
    cert.write_text(cert_pem)
    key.write_text(key_pem)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return client


def connect(client, emulator):
    """Connects and returns (connected, disconnected) events."""
    connected, disconnected = threading.Event(), threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.on_disconnect = lambda c, u, f, rc, p: disconnected.set()
    port = int(emulator.mqtts.rsplit(":", 1)[1])
    try:
        client.connect("localhost", port)
    except (ssl.SSLError, OSError):
        disconnected.set()
        return connected, disconnected
    client.loop_start()
    return connected, disconnected


ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'


def test_an_inactive_certificate_is_disconnected_and_refused(emulator, iot, tmp_path):
    log_authn_errors(emulator)
    created = iot.create_keys_and_certificate(setAsActive=True)
    cid = created["certificateId"]
    iot.create_policy(policyName="allow-all", policyDocument=ALLOW_ALL)
    iot.attach_policy(policyName="allow-all", target=created["certificateArn"])
    client = tls_client(emulator, tmp_path, "enforced", created["certificatePem"], created["keyPair"]["PrivateKey"])
    connected, disconnected = connect(client, emulator)
    assert connected.wait(5), "an ACTIVE certificate connects"

    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    assert disconnected.wait(5), "made INACTIVE, it is disconnected at once"
    client.loop_stop()
    assert wait_until(lambda: any(e["eventType"] == "Disconnect" and e["clientId"] == "enforced"
                                  for e in emulator.entries()))
    disconnect = [e for e in emulator.entries() if e["eventType"] == "Disconnect" and e["clientId"] == "enforced"][0]
    assert disconnect["disconnectReason"] == "AUTH_ERROR"
    assert disconnect["reason"] == "DEVICE_CERTIFICATE_INACTIVE" and disconnect["principalId"] == cid

    again = tls_client(emulator, tmp_path, "enforced-again", created["certificatePem"],
                       created["keyPair"]["PrivateKey"])
    connected, _ = connect(again, emulator)
    assert not connected.wait(2), "an INACTIVE certificate cannot connect"
    again.loop_stop()
    assert wait_until(lambda: any(e["eventType"] == "Connection.AuthNError" for e in emulator.entries()))
    authn = [e for e in emulator.entries() if e["eventType"] == "Connection.AuthNError"][0]
    assert authn["reason"] == "DEVICE_CERTIFICATE_INACTIVE"
    assert authn["status"] == "Failure" and authn["logLevel"] == "ERROR"
    assert authn["authenticationType"] == "AWS_X509" and authn["sourceIp"] == "127.0.0.1"

    iot.update_certificate(certificateId=cid, newStatus="REVOKED")
    revoked = tls_client(emulator, tmp_path, "enforced-revoked", created["certificatePem"],
                         created["keyPair"]["PrivateKey"])
    connected, _ = connect(revoked, emulator)
    assert not connected.wait(2)
    revoked.loop_stop()
    assert wait_until(lambda: any(e.get("reason") == "DEVICE_CERTIFICATE_REVOKED" for e in emulator.entries()))


def test_a_create_device_certificate_is_registered_on_first_use(emulator, iot, data_dir, tmp_path):
    out = tmp_path / "device"
    certificate_id = subprocess.run(
        [iotemu_binary(), "certs", "create-device", "--thing", "first-use", "--out", str(out),
         "--data-dir", str(data_dir)], check=True, capture_output=True, text=True).stdout.strip()
    client = tls_client(emulator, tmp_path, "first-use", (out / "first-use.cert.pem").read_text(),
                        (out / "first-use.private.key").read_text())
    connected, _ = connect(client, emulator)
    assert connected.wait(5)
    client.disconnect()
    client.loop_stop()
    description = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    assert description["status"] == "ACTIVE"
    assert "BEGIN CERTIFICATE" in description["certificatePem"]
