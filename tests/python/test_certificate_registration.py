"""Certificate registration and CA certificates through boto3 (CreateCertificateFromCsr,
RegisterCertificate, RegisterCertificateWithoutCA, Get/DeleteRegistrationCode,
RegisterCACertificate, Describe/List/Update/DeleteCACertificate, ListCertificatesByCA), their
errors, pagination and persistence; and the MQTTS listener trusting them (paho-mqtt over mutual
TLS). Test CAs, CSRs and device certificates are made with the openssl CLI."""
import hashlib
import pathlib
import secrets
import ssl
import subprocess

import pytest

import paho.mqtt.client as mqtt

from conftest import Emulator, error_of, log_authn_errors, wait_until
from test_certificate_enforcement import ALLOW_ALL, connect, tls_client

OPENSSL_CONFIG = """
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[device]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
"""


class Pki:
    """openssl in a directory of its own."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "openssl.cnf"
        self.config.write_text(OPENSSL_CONFIG)

    def run(self, *args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=self.dir)

    def key_and_csr(self, name, cn, key="ec"):
        key_args = ["-newkey", "rsa:1024"] if key == "rsa1024" else \
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        self.run("req", "-new", *key_args, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", "-config", self.config)
        return (self.dir / f"{name}.key").read_text(), (self.dir / f"{name}.csr").read_text()

    def self_signed(self, name, cn, extensions):
        """A self-signed certificate: `extensions` "ca" for a CA, "device" for a device."""
        self.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30", "-subj", f"/CN={cn}",
                 "-config", self.config, "-extensions", extensions)
        return (self.dir / f"{name}.pem").read_text(), (self.dir / f"{name}.key").read_text()

    def ca(self, name):
        return TestCa(self, name)


class TestCa:
    """A CA of the test's own (not the emulator's)."""

    __test__ = False

    def __init__(self, pki, name):
        self.pki, self.name = pki, name
        self.pem, self.key = pki.self_signed(name, f"{name} test CA", "ca")

    def issue(self, name, cn=None):
        """A device certificate (and its key) signed by this CA."""
        key, _ = self.pki.key_and_csr(name, cn or name)
        self.pki.run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{self.name}.pem", "-CAkey", f"{self.name}.key",
                     "-set_serial", str(secrets.randbits(63)), "-days", "10", "-extfile", self.pki.config,
                     "-extensions", "device", "-out", f"{name}.pem")
        return (self.pki.dir / f"{name}.pem").read_text(), key

    def register(self, iot, **kwargs):
        """RegisterCACertificate with a verification certificate carrying the registration code."""
        code = iot.get_registration_code()["registrationCode"]
        verification, _ = self.issue(f"{self.name}-verification", code)
        return iot.register_ca_certificate(caCertificate=self.pem, verificationCertificate=verification, **kwargs)


def certificate_id(pem):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def test_create_certificate_from_csr(iot, pki):
    _, csr = pki.key_and_csr("csr", "csr-device")
    created = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    assert created["certificateId"] == certificate_id(created["certificatePem"])
    assert created["certificateArn"] == f"arn:aws:iot:us-east-1:123456789012:cert/{created['certificateId']}"
    description = iot.describe_certificate(certificateId=created["certificateId"])["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["certificateMode"] == "DEFAULT"
    assert description["certificatePem"] == created["certificatePem"]
    assert "caCertificateId" not in description
    (pki.dir / "issued.pem").write_text(created["certificatePem"])
    subject = subprocess.run(["openssl", "x509", "-in", str(pki.dir / "issued.pem"), "-noout", "-subject"],
                             check=True, capture_output=True, text=True).stdout
    assert "csr-device" in subject

    again = iot.create_certificate_from_csr(certificateSigningRequest=csr)
    assert again["certificateId"] != created["certificateId"], "the same CSR gives a distinct certificate"
    assert iot.describe_certificate(certificateId=again["certificateId"])["certificateDescription"]["status"] \
        == "INACTIVE"

    assert error_of(iot.create_certificate_from_csr, certificateSigningRequest="not a csr") == \
        ("InvalidRequestException", 400)
    _, weak = pki.key_and_csr("weak", "weak", key="rsa1024")
    assert error_of(iot.create_certificate_from_csr, certificateSigningRequest=weak) == \
        ("InvalidRequestException", 400)


def test_a_certificate_from_a_csr_connects(emulator, iot, pki, tmp_path):
    key, csr = pki.key_and_csr("mqtt-csr", "mqtt-csr")
    created = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    allow_all(iot, created["certificateArn"], "from-csr")
    client = tls_client(emulator, tmp_path, "from-csr", created["certificatePem"], key)
    connected, _ = connect(client, emulator)
    assert connected.wait(5), "a certificate signed from a CSR connects with the CSR's key"
    client.disconnect()
    client.loop_stop()
    assert wait_until(lambda: any(e["eventType"] == "Connect" and e.get("clientId") == "from-csr"
                                  and e["principalId"] == created["certificateId"] for e in emulator.entries()))


def test_registration_code_is_stable_until_deleted(iot):
    code = iot.get_registration_code()["registrationCode"]
    assert len(code) == 64 and all(c in "0123456789abcdef" for c in code)
    assert iot.get_registration_code()["registrationCode"] == code
    iot.delete_registration_code()
    assert iot.get_registration_code()["registrationCode"] != code


def test_register_ca_certificate_and_its_errors(iot, pki):
    ca = pki.ca("alpha")
    verification_without_code, _ = ca.issue("early-verification", "0" * 64)
    assert error_of(iot.register_ca_certificate, caCertificate=ca.pem,
                    verificationCertificate=verification_without_code) == \
        ("RegistrationCodeValidationException", 400), "no registration code exists yet"

    code = iot.get_registration_code()["registrationCode"]
    wrong_cn, _ = ca.issue("wrong-cn", "not-the-code")
    assert error_of(iot.register_ca_certificate, caCertificate=ca.pem, verificationCertificate=wrong_cn) == \
        ("RegistrationCodeValidationException", 400)
    other_signer, _ = pki.ca("other").issue("other-verification", code)
    assert error_of(iot.register_ca_certificate, caCertificate=ca.pem, verificationCertificate=other_signer) == \
        ("CertificateValidationException", 400)
    assert error_of(iot.register_ca_certificate, caCertificate=ca.pem) == ("InvalidRequestException", 400), \
        "DEFAULT mode needs a verification certificate"
    device, _ = ca.issue("not-a-ca")
    assert error_of(iot.register_ca_certificate, caCertificate=device, certificateMode="SNI_ONLY") == \
        ("CertificateValidationException", 400)
    assert error_of(iot.register_ca_certificate, caCertificate="garbage", certificateMode="SNI_ONLY") == \
        ("CertificateValidationException", 400)

    registered = ca.register(iot, setAsActive=True, allowAutoRegistration=True,
                             registrationConfig={"templateName": "jitp-template"})
    ca_id = certificate_id(ca.pem)
    assert registered["certificateId"] == ca_id
    assert registered["certificateArn"] == f"arn:aws:iot:us-east-1:123456789012:cacert/{ca_id}"
    described = iot.describe_ca_certificate(certificateId=ca_id)
    description = described["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["autoRegistrationStatus"] == "ENABLE"
    assert description["certificateMode"] == "DEFAULT" and description["ownedBy"] == "123456789012"
    assert description["certificatePem"] == ca.pem and description["customerVersion"] == 1
    assert description["validity"]["notAfter"] > description["validity"]["notBefore"]
    assert described["registrationConfig"] == {"templateName": "jitp-template"}
    assert error_of(ca.register, iot=iot) == ("ResourceAlreadyExistsException", 409)

    sni = pki.ca("sni")
    with_verification, _ = sni.issue("sni-verification", code)
    assert error_of(iot.register_ca_certificate, caCertificate=sni.pem, verificationCertificate=with_verification,
                    certificateMode="SNI_ONLY") == ("InvalidRequestException", 400)
    sni_id = iot.register_ca_certificate(caCertificate=sni.pem, certificateMode="SNI_ONLY")["certificateId"]
    description = iot.describe_ca_certificate(certificateId=sni_id)["certificateDescription"]
    assert description["certificateMode"] == "SNI_ONLY" and description["status"] == "INACTIVE"
    assert description["autoRegistrationStatus"] == "DISABLE"
    assert error_of(iot.describe_ca_certificate, certificateId="ab" * 32) == ("ResourceNotFoundException", 404)


def test_list_update_and_delete_ca_certificates(iot, pki):
    ids = [iot.register_ca_certificate(caCertificate=pki.ca(f"ca{i}").pem, certificateMode="SNI_ONLY",
                                       setAsActive=True)["certificateId"] for i in range(5)]
    seen = [c["certificateId"] for page in iot.get_paginator("list_ca_certificates").paginate(
        PaginationConfig={"PageSize": 2}) for c in page["certificates"]]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    first = iot.list_ca_certificates(pageSize=2)
    assert len(first["certificates"]) == 2 and "nextMarker" in first
    rest = iot.list_ca_certificates(pageSize=3, marker=first["nextMarker"])
    assert len(rest["certificates"]) == 3 and "nextMarker" not in rest
    assert {c["status"] for c in first["certificates"]} == {"ACTIVE"}
    assert set(first["certificates"][0]) >= {"certificateArn", "certificateId", "status", "creationDate"}
    assert error_of(iot.list_ca_certificates, pageSize=2, marker="bogus") == ("InvalidRequestException", 400)

    target = ids[0]
    iot.update_ca_certificate(certificateId=target, newStatus="INACTIVE", newAutoRegistrationStatus="ENABLE",
                              registrationConfig={"templateName": "fleet"})
    described = iot.describe_ca_certificate(certificateId=target)
    assert described["certificateDescription"]["status"] == "INACTIVE"
    assert described["certificateDescription"]["autoRegistrationStatus"] == "ENABLE"
    assert described["certificateDescription"]["customerVersion"] == 2
    assert described["registrationConfig"] == {"templateName": "fleet"}
    assert [c["certificateId"] for c in iot.list_ca_certificates(templateName="fleet")["certificates"]] == [target]
    iot.update_ca_certificate(certificateId=target, removeAutoRegistration=True)
    assert "registrationConfig" not in iot.describe_ca_certificate(certificateId=target)
    assert error_of(iot.update_ca_certificate, certificateId=target, newStatus="REVOKED") == \
        ("InvalidRequestException", 400)
    assert error_of(iot.update_ca_certificate, certificateId="cd" * 32, newStatus="ACTIVE") == \
        ("ResourceNotFoundException", 404)

    assert error_of(iot.delete_ca_certificate, certificateId=ids[1]) == ("CertificateStateException", 406), \
        "an ACTIVE CA cannot be deleted"
    iot.delete_ca_certificate(certificateId=target)
    assert error_of(iot.describe_ca_certificate, certificateId=target) == ("ResourceNotFoundException", 404)
    assert error_of(iot.delete_ca_certificate, certificateId=target) == ("ResourceNotFoundException", 404)


def test_register_certificate_under_a_registered_ca(iot, pki):
    ca = pki.ca("issuer")
    ca_id = ca.register(iot, setAsActive=True)["certificateId"]
    device, _ = ca.issue("device-1")
    registered = iot.register_certificate(certificatePem=device, setAsActive=True)
    assert registered["certificateId"] == certificate_id(device)
    description = iot.describe_certificate(certificateId=registered["certificateId"])["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["caCertificateId"] == ca_id
    assert description["certificateMode"] == "DEFAULT" and description["certificatePem"] == device
    assert error_of(iot.register_certificate, certificatePem=device) == ("ResourceAlreadyExistsException", 409)

    named, _ = ca.issue("device-2")
    two = iot.register_certificate(certificatePem=named, caCertificatePem=ca.pem)["certificateId"]
    assert iot.describe_certificate(certificateId=two)["certificateDescription"]["status"] == "INACTIVE"
    revoked, _ = ca.issue("device-3")
    three = iot.register_certificate(certificatePem=revoked, status="REVOKED")["certificateId"]
    assert iot.describe_certificate(certificateId=three)["certificateDescription"]["status"] == "REVOKED"
    pending, _ = ca.issue("device-4")
    assert error_of(iot.register_certificate, certificatePem=pending, status="PENDING_TRANSFER") == \
        ("InvalidRequestException", 400)

    stranger = pki.ca("stranger")
    foreign, _ = stranger.issue("foreign")
    assert error_of(iot.register_certificate, certificatePem=foreign) == ("CertificateValidationException", 400)
    assert error_of(iot.register_certificate, certificatePem=foreign, caCertificatePem=stranger.pem) == \
        ("CertificateValidationException", 400), "the named CA is not registered"
    assert error_of(iot.register_certificate, certificatePem=pending, caCertificatePem=ca.pem[:40]) == \
        ("CertificateValidationException", 400)
    assert error_of(iot.register_certificate, certificatePem="garbage") == ("CertificateValidationException", 400)

    listed = [c for page in iot.get_paginator("list_certificates_by_ca").paginate(
        caCertificateId=ca_id, PaginationConfig={"PageSize": 2}) for c in page["certificates"]]
    assert sorted(c["certificateId"] for c in listed) == sorted([registered["certificateId"], two, three])
    assert {c["certificateMode"] for c in listed} == {"DEFAULT"}
    first = iot.list_certificates_by_ca(caCertificateId=ca_id, pageSize=2)
    assert len(first["certificates"]) == 2 and "nextMarker" in first
    assert iot.list_certificates_by_ca(caCertificateId="ef" * 32)["certificates"] == []

    iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
    assert error_of(iot.register_certificate, certificatePem=pending) == ("CertificateStateException", 406)
    assert error_of(iot.delete_ca_certificate, certificateId=ca_id) == ("CertificateStateException", 406), \
        "certificates it signed are still registered"
    for cid in (registered["certificateId"], two, three):
        if cid == registered["certificateId"]:
            iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
        iot.delete_certificate(certificateId=cid)
    iot.delete_ca_certificate(certificateId=ca_id)
    assert iot.list_certificates_by_ca(caCertificateId=ca_id)["certificates"] == []


def test_register_certificate_without_ca(iot, pki):
    pem, _ = pki.self_signed("lonely", "lonely-device", "device")
    registered = iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    assert registered["certificateId"] == certificate_id(pem)
    description = iot.describe_certificate(certificateId=registered["certificateId"])["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["certificateMode"] == "SNI_ONLY"
    assert "caCertificateId" not in description
    listed = {c["certificateId"]: c for c in iot.list_certificates()["certificates"]}
    assert listed[registered["certificateId"]]["certificateMode"] == "SNI_ONLY"
    assert error_of(iot.register_certificate_without_ca, certificatePem=pem) == \
        ("ResourceAlreadyExistsException", 409)
    other, _ = pki.self_signed("default-status", "default-status", "device")
    cid = iot.register_certificate_without_ca(certificatePem=other)["certificateId"]
    assert iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"] == "INACTIVE"
    assert error_of(iot.register_certificate_without_ca, certificatePem="garbage") == \
        ("CertificateValidationException", 400)


def test_registrations_survive_a_restart(data_dir, pki):
    first = Emulator(data_dir)
    try:
        iot = first.client()
        ca = pki.ca("durable")
        ca_id = ca.register(iot, setAsActive=True, allowAutoRegistration=True)["certificateId"]
        code = iot.get_registration_code()["registrationCode"]
        device, _ = ca.issue("durable-device")
        device_id = iot.register_certificate(certificatePem=device, setAsActive=True)["certificateId"]
        lonely, _ = pki.self_signed("durable-lonely", "durable-lonely", "device")
        lonely_id = iot.register_certificate_without_ca(certificatePem=lonely)["certificateId"]
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client()
        assert iot.get_registration_code()["registrationCode"] == code
        description = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
        assert description["status"] == "ACTIVE" and description["autoRegistrationStatus"] == "ENABLE"
        device = iot.describe_certificate(certificateId=device_id)["certificateDescription"]
        assert device["caCertificateId"] == ca_id and device["status"] == "ACTIVE"
        assert iot.describe_certificate(certificateId=lonely_id)["certificateDescription"]["certificateMode"] \
            == "SNI_ONLY"
        assert [c["certificateId"] for c in iot.list_certificates_by_ca(caCertificateId=ca_id)["certificates"]] \
            == [device_id]
    finally:
        second.stop()


def authn_errors(emulator, reason):
    return [e for e in emulator.entries() if e["eventType"] == "Connection.AuthNError" and e["reason"] == reason]


def authenticates(emulator, tmp_path, client_id, cert_pem, key_pem, timeout=5):
    """Whether the broker lets the device past TLS and its certificate checks: an MQTT 5 CONNACK
    arrives within `timeout` seconds (0x00, or 0x87 when no IoT policy allows iot:Connect, which
    authorization decides after authentication), instead of the connection closing with a
    Connection.AuthNError entry."""
    client = tls_client(emulator, tmp_path, client_id, cert_pem, key_pem, protocol=mqtt.MQTTv5)
    acknowledged = []
    client.on_connect = lambda c, u, f, rc, p: acknowledged.append(rc.value)
    try:
        client.connect("localhost", int(emulator.mqtts.rsplit(":", 1)[1]))
    except (ssl.SSLError, OSError):
        return False
    client.loop_start()
    ok = wait_until(lambda: acknowledged, timeout)
    if ok:
        client.disconnect()
    client.loop_stop()
    return ok


def allow_all(iot, certificate_arn, name):
    """Attaches an allow-all policy, so that the certificate's clients may connect."""
    iot.create_policy(policyName=name, policyDocument=ALLOW_ALL)
    iot.attach_policy(policyName=name, target=certificate_arn)


def test_devices_of_a_registered_ca_connect_while_it_is_active(emulator, iot, pki, tmp_path):
    log_authn_errors(emulator)
    ca = pki.ca("fleet")
    device, device_key = ca.issue("fleet-1")
    assert not authenticates(emulator, tmp_path, "fleet-1", device, device_key, timeout=2), \
        "a device of an unregistered CA is refused"
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))
    refused = authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED")[0]
    assert refused["status"] == "Failure" and refused["logLevel"] == "ERROR"
    assert refused["authenticationType"] == "AWS_X509"

    ca_id = ca.register(iot, setAsActive=True)["certificateId"]
    assert authenticates(emulator, tmp_path, "fleet-1", device, device_key), "the CA is registered and ACTIVE"
    description = iot.describe_certificate(certificateId=certificate_id(device))["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["caCertificateId"] == ca_id, \
        "registered on first use, with its CA"

    explicit, explicit_key = ca.issue("fleet-2")
    explicit_id = iot.register_certificate(certificatePem=explicit)["certificateId"]
    assert not authenticates(emulator, tmp_path, "fleet-2", explicit, explicit_key, timeout=2), \
        "registered INACTIVE, it is refused"
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_INACTIVE"))
    iot.update_certificate(certificateId=explicit_id, newStatus="ACTIVE")
    assert authenticates(emulator, tmp_path, "fleet-2", explicit, explicit_key)

    iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
    newcomer, newcomer_key = ca.issue("fleet-3")
    before = len(authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))
    assert not authenticates(emulator, tmp_path, "fleet-3", newcomer, newcomer_key, timeout=2), \
        "an INACTIVE CA lets no new certificate in"
    assert wait_until(lambda: len(authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED")) > before)
    assert error_of(iot.describe_certificate, certificateId=certificate_id(newcomer)) == \
        ("ResourceNotFoundException", 404)
    # AWS: registered certificates of a deactivated CA "continue to work until you explicitly
    # revoke each one of them" (deactivate-ca-cert.md).
    assert authenticates(emulator, tmp_path, "fleet-1", device, device_key)

    iot.update_ca_certificate(certificateId=ca_id, newStatus="ACTIVE")
    assert authenticates(emulator, tmp_path, "fleet-3", newcomer, newcomer_key), "reactivated, the CA lets it in"


def test_a_certificate_registered_without_ca_connects_when_active(emulator, iot, pki, tmp_path):
    log_authn_errors(emulator)
    pem, key = pki.self_signed("self", "self-signed-device", "device")
    assert not authenticates(emulator, tmp_path, "self-signed", pem, key, timeout=2)
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_NOT_REGISTERED"))

    cid = iot.register_certificate_without_ca(certificatePem=pem, status="INACTIVE")["certificateId"]
    assert not authenticates(emulator, tmp_path, "self-signed", pem, key, timeout=2)
    assert wait_until(lambda: authn_errors(emulator, "DEVICE_CERTIFICATE_INACTIVE"))

    iot.update_certificate(certificateId=cid, newStatus="ACTIVE")
    allow_all(iot, iot.describe_certificate(certificateId=cid)["certificateDescription"]["certificateArn"], "self")
    assert authenticates(emulator, tmp_path, "self-signed", pem, key)
    assert wait_until(lambda: any(e["eventType"] == "Connect" and e["principalId"] == cid
                                  and e["status"] == "Success" for e in emulator.entries()))

