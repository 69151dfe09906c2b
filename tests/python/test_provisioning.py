"""Fleet provisioning end to end: boto3 drives the whole control plane (templates, versions, their
errors, a restart, a reset, RegisterThing over HTTP); the AWS IoT Device SDK v2's IotIdentityClient
and IotIdentityClientV2, unmodified, provision a device by claim over mutual TLS (new keys, or a CSR)
and the device reconnects with its own certificate; paho speaks CBOR; pre-provisioning hooks allow,
refuse and time out; refused requests roll back; an unclaimed certificate goes when its token
expires; JITP and JITR run on the first connection of a certificate signed by an openssl CA. Every
run checks the GetDeviceCredentials and ProvisionDevice entries with `iotemu check-entries` and their
values (traceId = the request's Publish-In)."""
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import uuid

import cbor2
import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, JsonFunction, check_entries, error_of, log_authn_errors, wait_until

ACCOUNT = "arn:aws:iot:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/Provision_role"
HOOK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:pre_provisioning_hook"


def entries(emulator, event, **match):
    return [e for e in emulator.entries()
            if e["eventType"] == event and all(e.get(k) == v for k, v in match.items())]


def wait_entries(emulator, event, count=1, **match):
    assert wait_until(lambda: len(entries(emulator, event, **match)) >= count, timeout=15), \
        (event, match, emulator.entries()[-20:])
    return entries(emulator, event, **match)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources):
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def claim_policy(template):
    """The claim certificate's policy of provision-wo-cert.md, for `template`."""
    topics = [f"$aws/certificates/create/*", f"$aws/certificates/create-from-csr/*",
              f"$aws/provisioning-templates/{template}/provision/*"]
    return policy(
        allow("iot:Connect", "*"),
        allow(["iot:Publish", "iot:Receive"], [f"{ACCOUNT}:topic/{t}" for t in topics]),
        allow("iot:Subscribe", [f"{ACCOUNT}:topicfilter/{t}" for t in topics]))


def fleet_template(group="fleet-lamps"):
    """The guide's fleet example, made to work: a device policy, an existing group, a mapping."""
    device_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect",
             "Resource": f"{ACCOUNT}:client/${{iot:Connection.Thing.ThingName}}"},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ACCOUNT}:topic/data/*"},
        ],
    }
    return json.dumps({
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "DeviceLocation": {"Type": "String", "Default": "Seattle"},
        },
        "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Fn::Join": ["", ["lamp-", {"Ref": "SerialNumber"}]]},
                    "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                    "ThingGroups": [group],
                },
                "OverrideSettings": {"AttributePayload": "MERGE", "ThingGroups": "DO_NOTHING"},
            },
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": device_policy}},
        },
        "DeviceConfiguration": {
            "FallbackUrl": "https://www.example.com/test-site",
            "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]},
        },
    })


class Claim:
    """A claim certificate (CreateKeysAndCertificate over HTTP) with the claim policy, in files."""

    def __init__(self, emulator, iot, tmp_path, template):
        created = iot.create_keys_and_certificate(setAsActive=True)
        self.certificate_id = created["certificateId"]
        name = f"claim-{uuid.uuid4().hex[:8]}"
        iot.create_policy(policyName=name, policyDocument=claim_policy(template))
        iot.attach_policy(policyName=name, target=created["certificateArn"])
        self.ca = tmp_path / "ca.pem"
        self.ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
        self.cert, self.key = write_pair(tmp_path, name, created["certificatePem"], created["keyPair"]["PrivateKey"])
        self.port = int(emulator.mqtts.rsplit(":", 1)[1])


def write_pair(directory, name, certificate_pem, private_key):
    cert, key = directory / f"{name}.cert.pem", directory / f"{name}.private.key"
    cert.write_text(certificate_pem)
    key.write_text(private_key)
    return cert, key


def setup_template(iot, name, body=None, **extra):
    iot.create_thing_group(thingGroupName="fleet-lamps")
    iot.create_provisioning_template(templateName=name, templateBody=body or fleet_template(),
                                     provisioningRoleArn=ROLE, enabled=True, **extra)


def sdk_connection(claim, cert, key, client_id):
    from awsiot import mqtt_connection_builder
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=claim.port, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(claim.ca), client_id=client_id, clean_session=True, keep_alive_secs=30)
    connection.connect().result(timeout=10)
    return connection


def publish_as_device(claim, cert, key, thing):
    """Reconnects with the device's own certificate, as the thing, and publishes (QoS 1)."""
    from awscrt import mqtt as crt_mqtt
    connection = sdk_connection(claim, cert, key, thing)
    future, _ = connection.publish(topic=f"data/{thing}", payload=b'{"on": true}', qos=crt_mqtt.QoS.AT_LEAST_ONCE)
    future.result(timeout=10)
    connection.disconnect().result(timeout=10)


def assert_provisioned(iot, thing, certificate_id, serial):
    described = iot.describe_thing(thingName=thing)
    assert described["attributes"] == {"version": "v1", "serialNumber": serial}
    groups = iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"]
    assert [g["groupName"] for g in groups] == ["fleet-lamps"]
    certificate = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    assert certificate["status"] == "ACTIVE"
    assert iot.list_thing_principals(thingName=thing)["principals"] == [certificate["certificateArn"]]
    policies = iot.list_attached_policies(target=certificate["certificateArn"])["policies"]
    assert len(policies) == 1 and len(policies[0]["policyName"]) == 64


def assert_request_entries(emulator, client_id, topic, event, **values):
    """The one `event` entry of the request on `topic`: its traceId is the request's Publish-In."""
    (publish_in,) = wait_entries(emulator, "Publish-In", clientId=client_id, topicName=topic)
    (entry,) = wait_entries(emulator, event, traceId=publish_in["traceId"])
    for key, value in values.items():
        assert entry[key] == value, (key, entry)
    answers = wait_entries(emulator, "Publish-Out", clientId=client_id, traceId=publish_in["traceId"])
    assert {a["topicName"] for a in answers} <= {f"{topic}/accepted", f"{topic}/rejected"}, answers
    return entry


def test_sdk_identity_client_provisions_by_claim_and_the_device_reconnects(emulator, iot, tmp_path):
    from awscrt import mqtt as crt_mqtt
    from awsiot import iotidentity

    setup_template(iot, "lamps")
    claim = Claim(emulator, iot, tmp_path, "lamps")
    connection = sdk_connection(claim, claim.cert, claim.key, "claim-sdk")
    identity = iotidentity.IotIdentityClient(connection)
    qos = crt_mqtt.QoS.AT_LEAST_ONCE
    got = {}
    events = {k: threading.Event() for k in ("keys", "registered")}

    def keep(kind, event):
        def callback(response):
            got[kind] = response
            events[event].set()
        return callback

    subscriptions = [
        identity.subscribe_to_create_keys_and_certificate_accepted(
            iotidentity.CreateKeysAndCertificateSubscriptionRequest(), qos, keep("keys", "keys")),
        identity.subscribe_to_create_keys_and_certificate_rejected(
            iotidentity.CreateKeysAndCertificateSubscriptionRequest(), qos, keep("keys-rejected", "keys")),
        identity.subscribe_to_register_thing_accepted(
            iotidentity.RegisterThingSubscriptionRequest(template_name="lamps"), qos, keep("thing", "registered")),
        identity.subscribe_to_register_thing_rejected(
            iotidentity.RegisterThingSubscriptionRequest(template_name="lamps"), qos,
            keep("thing-rejected", "registered")),
    ]
    for future, _ in subscriptions:
        future.result(timeout=10)
    identity.publish_create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest(), qos).result(10)
    assert events["keys"].wait(30) and "keys" in got, got
    keys = got["keys"]
    assert keys.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    pending = iot.describe_certificate(certificateId=keys.certificate_id)["certificateDescription"]
    assert pending["status"] == "PENDING_ACTIVATION" and pending["certificatePem"] == keys.certificate_pem
    identity.publish_register_thing(iotidentity.RegisterThingRequest(
        template_name="lamps", certificate_ownership_token=keys.certificate_ownership_token,
        parameters={"SerialNumber": "0001"}), qos).result(10)
    assert events["registered"].wait(30) and "thing" in got, got
    assert got["thing"].thing_name == "lamp-0001"
    assert got["thing"].device_configuration == {
        "FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"}
    connection.disconnect().result(timeout=10)
    assert_provisioned(iot, "lamp-0001", keys.certificate_id, "0001")

    cert, key = write_pair(tmp_path, "lamp-0001", keys.certificate_pem, keys.private_key)
    publish_as_device(claim, cert, key, "lamp-0001")
    wait_entries(emulator, "Publish-In", clientId="lamp-0001", topicName="data/lamp-0001", status="Success")

    credentials = assert_request_entries(emulator, "claim-sdk", "$aws/certificates/create/json",
                                         "GetDeviceCredentials", status="Success", logLevel="INFO",
                                         deviceCertificateId=keys.certificate_id)
    assert keys.certificate_id in credentials["details"]
    provisioned = assert_request_entries(emulator, "claim-sdk", "$aws/provisioning-templates/lamps/provision/json",
                                         "ProvisionDevice", status="Success", logLevel="INFO",
                                         provisioningTemplateName="lamps", deviceCertificateId=keys.certificate_id)
    assert "thing lamp-0001" in provisioned["details"]
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


def test_sdk_identity_client_v2_and_a_modeled_rejection(emulator, iot, tmp_path):
    import awsiot
    from awscrt import mqtt_request_response
    from awsiot import iotidentity

    setup_template(iot, "lamps")
    claim = Claim(emulator, iot, tmp_path, "lamps")
    connection = sdk_connection(claim, claim.cert, claim.key, "claim-v2")
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=2,
                                                  max_streaming_subscriptions=1, operation_timeout_in_seconds=20)
    identity = iotidentity.IotIdentityClientV2(connection, options)
    keys = identity.create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(timeout=30)
    registered = identity.register_thing(iotidentity.RegisterThingRequest(
        template_name="lamps", certificate_ownership_token=keys.certificate_ownership_token,
        parameters={"SerialNumber": "0002"})).result(timeout=30)
    assert registered.thing_name == "lamp-0002"
    with pytest.raises(awsiot.V2ServiceException) as info:
        identity.register_thing(iotidentity.RegisterThingRequest(
            template_name="lamps", certificate_ownership_token=keys.certificate_ownership_token,
            parameters={"SerialNumber": "0003"})).result(timeout=30)
    error = info.value.modeled_error
    assert (error.status_code, error.error_code) == (400, "InvalidCertificateOwnershipToken")
    connection.disconnect().result(timeout=10)
    assert_provisioned(iot, "lamp-0002", keys.certificate_id, "0002")
    cert, key = write_pair(tmp_path, "lamp-0002", keys.certificate_pem, keys.private_key)
    publish_as_device(claim, cert, key, "lamp-0002")
    failures = wait_entries(emulator, "ProvisionDevice", status="Failure")
    assert failures[0]["reason"] == "InvalidCertificateOwnershipToken" and failures[0]["logLevel"] == "ERROR"
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True, check=True).stdout


def test_sdk_create_certificate_from_csr_keeps_the_key_on_the_device(emulator, iot, tmp_path):
    from awscrt import mqtt_request_response
    from awsiot import iotidentity

    setup_template(iot, "lamps")
    claim = Claim(emulator, iot, tmp_path, "lamps")
    key = tmp_path / "own.key"
    csr = openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-subj", "/CN=own-key")
    connection = sdk_connection(claim, claim.cert, claim.key, "claim-csr")
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=2,
                                                  max_streaming_subscriptions=1, operation_timeout_in_seconds=20)
    identity = iotidentity.IotIdentityClientV2(connection, options)
    created = identity.create_certificate_from_csr(
        iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=csr)).result(timeout=30)
    signed_key = openssl("x509", "-noout", "-pubkey", stdin=created.certificate_pem)
    assert signed_key == openssl("pkey", "-in", str(key), "-pubout")
    identity.register_thing(iotidentity.RegisterThingRequest(
        template_name="lamps", certificate_ownership_token=created.certificate_ownership_token,
        parameters={"SerialNumber": "0004"})).result(timeout=30)
    connection.disconnect().result(timeout=10)
    assert_provisioned(iot, "lamp-0004", created.certificate_id, "0004")
    cert = tmp_path / "own.pem"
    cert.write_text(created.certificate_pem)
    publish_as_device(claim, cert, key, "lamp-0004")
    assert_request_entries(emulator, "claim-csr", "$aws/certificates/create-from-csr/json", "GetDeviceCredentials",
                           status="Success", deviceCertificateId=created.certificate_id)
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


class Device:
    """A paho client over mutual TLS that keeps every message it gets, decoded as JSON or CBOR."""

    def __init__(self, claim, client_id, cert=None, key=None):
        self.messages = []
        self.closed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.tls_set(ca_certs=str(claim.ca), certfile=str(cert or claim.cert), keyfile=str(key or claim.key),
                            tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_disconnect = lambda *a: self.closed.set()
        self.client.connect("localhost", claim.port, keepalive=30)
        self.client.loop_start()
        assert wait_until(self.client.is_connected)

    def subscribe(self, topic_filter):
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(5)

    def request(self, topic, payload, timeout=20):
        """Publishes `payload` (bytes) and returns (answer topic, raw payload)."""
        count = len(self.messages)
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
        wanted = (f"{topic}/accepted", f"{topic}/rejected")
        assert wait_until(lambda: any(t in wanted for t, _ in self.messages[count:]), timeout=timeout), \
            (topic, self.messages)
        return next((t, p) for t, p in self.messages[count:] if t in wanted)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_cbor_requests_are_answered_in_cbor(emulator, iot, tmp_path):
    setup_template(iot, "lamps")
    claim = Claim(emulator, iot, tmp_path, "lamps")
    device = Device(claim, "claim-cbor")
    device.subscribe("$aws/certificates/create/cbor/+")
    device.subscribe("$aws/provisioning-templates/lamps/provision/cbor/+")
    topic, payload = device.request("$aws/certificates/create/cbor", b"")
    assert topic == "$aws/certificates/create/cbor/accepted"
    keys = cbor2.loads(payload)
    assert keys["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    request = cbor2.dumps({"certificateOwnershipToken": keys["certificateOwnershipToken"],
                           "parameters": {"SerialNumber": "0005"}})
    topic, payload = device.request("$aws/provisioning-templates/lamps/provision/cbor", request)
    assert topic.endswith("/accepted")
    assert cbor2.loads(payload)["thingName"] == "lamp-0005"
    assert cbor2.loads(payload)["deviceConfiguration"]["LocationUrl"] == "https://example.aws"
    # Not CBOR: a CBOR rejection, and a Failure entry.
    topic, payload = device.request("$aws/provisioning-templates/lamps/provision/cbor", b"{not cbor")
    assert topic.endswith("/rejected")
    rejected = cbor2.loads(payload)
    assert (rejected["statusCode"], rejected["errorCode"]) == (400, "InvalidPayload")
    device.stop()
    assert_provisioned(iot, "lamp-0005", keys["certificateId"], "0005")
    failure = wait_entries(emulator, "ProvisionDevice", status="Failure")[0]
    assert (failure["reason"], failure["deviceCertificateId"]) == ("InvalidPayload", "")
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


def test_refusals_roll_back_and_are_failure_entries(emulator, iot, tmp_path):
    setup_template(iot, "lamps")
    # This template names a group that does not exist: the thing it made is removed again.
    iot.create_provisioning_template(templateName="broken", templateBody=fleet_template(group="no-such-group"),
                                     provisioningRoleArn=ROLE, enabled=True)
    iot.create_provisioning_template(templateName="off", templateBody=fleet_template(), provisioningRoleArn=ROLE)
    claim = Claim(emulator, iot, tmp_path, "*")
    device = Device(claim, "claim-refused")
    device.subscribe("$aws/certificates/create/json/+")
    device.subscribe("$aws/provisioning-templates/+/provision/json/+")
    _, keys = device.request("$aws/certificates/create/json", b"{}")
    keys = json.loads(keys)

    def register(template, token, serial):
        body = json.dumps({"certificateOwnershipToken": token, "parameters": {"SerialNumber": serial}})
        topic, payload = device.request(f"$aws/provisioning-templates/{template}/provision/json", body.encode())
        assert topic.endswith("/rejected"), (topic, payload)
        return json.loads(payload)

    token = keys["certificateOwnershipToken"]
    broken = register("broken", token, "0006")
    assert (broken["statusCode"], broken["errorCode"]) == (400, "ResourceRegistrationFailure")
    assert "no-such-group" in broken["errorMessage"]
    assert error_of(iot.describe_thing, thingName="lamp-0006")[0] == "ResourceNotFoundException"
    status = iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["status"]
    assert status == "PENDING_ACTIVATION"
    assert register("off", token, "0006")["errorCode"] == "AccessDenied"
    assert register("missing", token, "0006") == {
        "statusCode": 404, "errorCode": "ResourceNotFound",
        "errorMessage": "The provisioning template missing does not exist."}
    assert register("lamps", "not-a-token", "0006")["errorCode"] == "InvalidCertificateOwnershipToken"
    assert register("lamps", "", "0006")["errorMessage"] == "Certificate ownership token cannot be empty."
    device.stop()
    failures = wait_entries(emulator, "ProvisionDevice", 5, status="Failure")
    reasons = [(f["provisioningTemplateName"], f["reason"]) for f in failures]
    assert reasons == [("broken", "ResourceRegistrationFailure"), ("off", "AccessDenied"),
                       ("missing", "ResourceNotFound"), ("lamps", "InvalidCertificateOwnershipToken"),
                       ("lamps", "InvalidCertificateOwnershipToken")]
    assert [f["deviceCertificateId"] for f in failures[:3]] == [keys["certificateId"]] * 3
    assert all(f["logLevel"] == "ERROR" and f["details"] for f in failures)
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


def test_the_claim_policy_must_allow_the_request(emulator, iot, tmp_path):
    setup_template(iot, "lamps")
    claim = Claim(emulator, iot, tmp_path, "other-template")
    device = Device(claim, "claim-denied")
    device.client.publish("$aws/provisioning-templates/lamps/provision/json", b"{}", qos=1)
    # MQTT 3.1.1: a denied PUBLISH closes the connection, as on AWS; the service never sees it.
    assert device.closed.wait(10)
    device.client.loop_stop()
    (denied,) = wait_entries(emulator, "Publish-In", clientId="claim-denied", status="Failure")
    assert denied["reason"] == "AUTHORIZATION_FAILURE"
    assert denied["topicName"] == "$aws/provisioning-templates/lamps/provision/json"
    time.sleep(0.5)
    assert entries(emulator, "ProvisionDevice") == []
    check_entries(emulator.log_file)


def hook_function():
    """A local stand-in for the hook's Lambda: its answer depends on the `Mode` parameter."""

    def answer(event):
        mode = event["parameters"].get("Mode")
        if mode == "slow":
            time.sleep(6)
        return {"allowProvisioning": mode in ("allow", "slow"),
                "parameterOverrides": {"SerialNumber": "hooked-" + event["parameters"]["SerialNumber"]}}

    return JsonFunction(answer)

@pytest.fixture
def hooked(data_dir, tmp_path):
    hook = hook_function()
    config = tmp_path / "iotemu.toml"
    config.write_text(f'[provisioning.hook_endpoints]\n"{HOOK_ARN}" = "{hook.url}"\n')
    emulator = Emulator(data_dir, "--config", str(config))
    yield emulator, hook
    emulator.stop()
    hook.stop()


def test_a_pre_provisioning_hook_allows_refuses_and_times_out(hooked, tmp_path):
    emulator, hook = hooked
    iot = emulator.client("iot")
    setup_template(iot, "hooked", preProvisioningHook={"targetArn": HOOK_ARN, "payloadVersion": "2020-04-01"})
    claim = Claim(emulator, iot, tmp_path, "hooked")
    device = Device(claim, "claim-hooked")
    device.subscribe("$aws/certificates/create/json/+")
    device.subscribe("$aws/provisioning-templates/hooked/provision/json/+")

    def register(mode, serial):
        _, keys = device.request("$aws/certificates/create/json", b"{}")
        keys = json.loads(keys)
        body = json.dumps({"certificateOwnershipToken": keys["certificateOwnershipToken"],
                           "parameters": {"SerialNumber": serial, "Mode": mode}})
        topic, payload = device.request("$aws/provisioning-templates/hooked/provision/json", body.encode())
        return keys, topic, json.loads(payload)

    keys, topic, answer = register("allow", "7")
    assert topic.endswith("/accepted") and answer["thingName"] == "lamp-hooked-7"
    event = hook.events[0]
    assert event["certificateId"] == keys["certificateId"]
    assert event["certificatePem"] == keys["certificatePem"]
    assert event["claimCertificateId"] == claim.certificate_id
    assert event["clientId"] == "claim-hooked"
    assert event["templateArn"] == f"{ACCOUNT}:provisioningtemplate/hooked"
    assert event["parameters"] == {"SerialNumber": "7", "Mode": "allow"}

    keys, topic, answer = register("refuse", "8")
    assert topic.endswith("/rejected") and (answer["statusCode"], answer["errorCode"]) == (403, "AccessDenied")
    assert iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["status"] \
        == "PENDING_ACTIVATION"

    # While the slow hook runs, the template is in use; the hook then misses AWS's 5 seconds.
    result = {}
    slow = threading.Thread(target=lambda: result.update(zip(("keys", "topic", "answer"), register("slow", "9"))))
    slow.start()
    assert wait_until(lambda: any(e["parameters"].get("Mode") == "slow" for e in hook.events), timeout=20)
    assert error_of(iot.delete_provisioning_template, templateName="hooked") \
        == ("ConflictingResourceUpdateException", 409)
    slow.join(timeout=30)
    assert result["topic"].endswith("/rejected") and result["answer"]["errorCode"] == "AccessDenied"
    assert "did not return within 5 seconds" in result["answer"]["errorMessage"]
    assert error_of(iot.describe_thing, thingName="lamp-hooked-9")[0] == "ResourceNotFoundException"
    device.stop()

    outcomes = [(e["status"], e.get("reason")) for e in wait_entries(emulator, "ProvisionDevice", 3)]
    assert outcomes == [("Success", None), ("Failure", "AccessDenied"), ("Failure", "AccessDenied")]
    assert "did not allow provisioning" in entries(emulator, "ProvisionDevice")[1]["details"]
    check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")


def test_an_unclaimed_certificate_goes_when_its_token_expires(data_dir, tmp_path):
    config = tmp_path / "iotemu.toml"
    config.write_text("[provisioning]\nownership_token_seconds = 1\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        iot = emulator.client("iot")
        setup_template(iot, "lamps")
        claim = Claim(emulator, iot, tmp_path, "lamps")
        device = Device(claim, "claim-expiry")
        device.subscribe("$aws/certificates/create/json/+")
        device.subscribe("$aws/provisioning-templates/lamps/provision/json/+")
        _, keys = device.request("$aws/certificates/create/json", b"")
        keys = json.loads(keys)
        # The certificate was never activated: it goes with its token.
        assert wait_until(lambda: _gone(iot, keys), timeout=10)
        body = json.dumps({"certificateOwnershipToken": keys["certificateOwnershipToken"],
                           "parameters": {"SerialNumber": "10"}})
        topic, payload = device.request("$aws/provisioning-templates/lamps/provision/json", body.encode())
        assert topic.endswith("/rejected") and json.loads(payload)["errorCode"] == "InvalidCertificateOwnershipToken"
        device.stop()
        check_entries(emulator.log_file, "GetDeviceCredentials", "ProvisionDevice")
    finally:
        emulator.stop()


def _gone(iot, keys):
    try:
        iot.describe_certificate(certificateId=keys["certificateId"])
        return False
    except iot.exceptions.ResourceNotFoundException:
        return True


def make_ca(iot, tmp_path, name):
    """An openssl CA registered ACTIVE with its verification certificate."""
    key, pem = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(pem),
            "-days", "30", "-sha256", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    code = iot.get_registration_code()["registrationCode"]
    verification = sign(tmp_path, key, pem, f"{name}-verification", f"/CN={code}")[1]
    return key, pem, verification.read_text()


def sign(tmp_path, ca_key, ca_pem, name, subject):
    """A device key and a certificate for it, signed by the CA."""
    key, csr, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.csr", tmp_path / f"{name}.pem"
    extensions = tmp_path / "client.ext"
    extensions.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subject)
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "30", "-sha256", "-extfile", str(extensions))
    return key, cert


class Raw:
    """Just what a paho device needs: the CA and port of the emulator's MQTTS listener."""

    def __init__(self, emulator, tmp_path):
        self.ca = tmp_path / "emulator-ca.pem"
        self.ca.write_bytes(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/ca.pem").read())
        self.port = int(emulator.mqtts.rsplit(":", 1)[1])


def first_connection_is_refused(raw, client_id, cert, key):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.tls_set(ca_certs=str(raw.ca), certfile=str(cert), keyfile=str(key), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connected, closed = threading.Event(), threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.on_disconnect = lambda *a: closed.set()
    try:
        client.connect("localhost", raw.port, keepalive=30)
        client.loop_start()
        assert closed.wait(10)
    except (ssl.SSLError, ConnectionError, socket.error):
        pass
    finally:
        client.loop_stop()
    assert not connected.is_set()


def test_jitp_provisions_a_device_of_a_registered_ca_on_its_first_connection(emulator, iot, tmp_path):
    log_authn_errors(emulator)
    template = json.dumps({
        "Parameters": {
            "AWS::IoT::Certificate::CommonName": {"Type": "String"},
            "AWS::IoT::Certificate::SerialNumber": {"Type": "String"},
            "AWS::IoT::Certificate::Country": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"},
        },
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "AWS::IoT::Certificate::SerialNumber"}},
                "ThingGroups": ["fleet-lamps", {"Ref": "AWS::IoT::Certificate::Country"}]}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"},
                "OverrideSettings": {"Status": "DO_NOTHING"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": policy(
                allow("iot:Connect", f"{ACCOUNT}:client/${{iot:Connection.Thing.ThingName}}"),
                allow("iot:Publish", f"{ACCOUNT}:topic/data/*"))}},
        },
    })
    iot.create_thing_group(thingGroupName="fleet-lamps")
    iot.create_thing_group(thingGroupName="US")
    iot.create_provisioning_template(templateName="jitp-lamps", templateBody=template, provisioningRoleArn=ROLE,
                                     type="JITP")
    ca_key, ca_pem, verification = make_ca(iot, tmp_path, "jitp-ca")
    ca = iot.register_ca_certificate(caCertificate=ca_pem.read_text(), verificationCertificate=verification,
                                     setAsActive=True, allowAutoRegistration=True,
                                     registrationConfig={"templateName": "jitp-lamps"})
    assert iot.describe_ca_certificate(certificateId=ca["certificateId"])["registrationConfig"]["templateName"] \
        == "jitp-lamps"
    key, cert = sign(tmp_path, ca_key, ca_pem, "jitp-lamp", "/C=US/CN=jitp-lamp/serialNumber=SN-0001")
    raw = Raw(emulator, tmp_path)
    first_connection_is_refused(raw, "jitp-lamp", cert, key)
    refused = wait_entries(emulator, "Connection.AuthNError")[0]
    assert refused["reason"] == "DEVICE_CERTIFICATE_INACTIVE" and "connect again" in refused["details"]
    certificate_id = hashlib_id(cert)
    described = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    assert (described["status"], described["caCertificateId"]) == ("ACTIVE", ca["certificateId"])
    thing = iot.describe_thing(thingName="jitp-lamp")
    assert thing["attributes"] == {"version": "v1", "serialNumber": "SN-0001"}
    groups = sorted(g["groupName"] for g in iot.list_thing_groups_for_thing(thingName="jitp-lamp")["thingGroups"])
    assert groups == ["US", "fleet-lamps"]
    device = Device(raw, "jitp-lamp", cert, key)
    device.client.publish("data/jitp-lamp", b"{}", qos=1).wait_for_publish(timeout=5)
    device.stop()
    wait_entries(emulator, "Publish-In", clientId="jitp-lamp", topicName="data/jitp-lamp", status="Success")
    (entry,) = wait_entries(emulator, "ProvisionDevice")
    assert (entry["status"], entry["provisioningTemplateName"], entry["deviceCertificateId"]) == \
        ("Success", "jitp-lamps", certificate_id)
    # A CA's template cannot go while the CA names it.
    assert error_of(iot.delete_provisioning_template, templateName="jitp-lamps")[0] == "DeleteConflictException"
    check_entries(emulator.log_file, "ProvisionDevice")


def hashlib_id(cert_path):
    import hashlib
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_path.read_text())).hexdigest()


def test_jitr_registers_pending_activation_and_publishes_the_event(emulator, iot, tmp_path):
    log_authn_errors(emulator)
    ca_key, ca_pem, verification = make_ca(iot, tmp_path, "jitr-ca")
    ca = iot.register_ca_certificate(caCertificate=ca_pem.read_text(), verificationCertificate=verification,
                                     setAsActive=True, allowAutoRegistration=True)
    host, port = emulator.mqtt.rsplit(":", 1)
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="jitr-watcher")
    events = []
    watcher.on_message = lambda c, u, m: events.append((m.topic, json.loads(m.payload)))
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.connect(host, int(port))
    watcher.loop_start()
    watcher.subscribe("$aws/events/certificates/registered/#", qos=1)
    assert subscribed.wait(5)
    key, cert = sign(tmp_path, ca_key, ca_pem, "jitr-device", "/CN=jitr-device")
    raw = Raw(emulator, tmp_path)
    first_connection_is_refused(raw, "jitr-device", cert, key)
    certificate_id = hashlib_id(cert)
    assert wait_until(lambda: events)
    topic, event = events[0]
    assert topic == f"$aws/events/certificates/registered/{ca['certificateId']}"
    assert event["certificateId"] == certificate_id and event["caCertificateId"] == ca["certificateId"]
    assert event["certificateStatus"] == "PENDING_ACTIVATION" and event["awsAccountId"] == "123456789012"
    described = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    assert described["status"] == "PENDING_ACTIVATION"
    # What a JITR Lambda does: activate and attach a policy; then the device connects.
    iot.update_certificate(certificateId=certificate_id, newStatus="ACTIVE")
    iot.create_policy(policyName="jitr", policyDocument=policy(allow("iot:*", "*")))
    iot.attach_policy(policyName="jitr", target=described["certificateArn"])
    device = Device(raw, "jitr-device", cert, key)
    device.stop()
    watcher.loop_stop()
    assert len(events) == 1
    assert wait_entries(emulator, "Connection.AuthNError")[0]["reason"] == "DEVICE_CERTIFICATE_INACTIVE"
    check_entries(emulator.log_file, "Connection.AuthNError")


def test_the_control_plane_with_boto3_persists_and_resets(data_dir, tmp_path):
    emulator = Emulator(data_dir)
    iot = emulator.client("iot")
    body = fleet_template()
    created = iot.create_provisioning_template(templateName="widget", description="widgets", templateBody=body,
                                               provisioningRoleArn=ROLE,
                                               preProvisioningHook={"targetArn": HOOK_ARN})
    assert (created["templateArn"], created["defaultVersionId"]) == (f"{ACCOUNT}:provisioningtemplate/widget", 1)
    described = iot.describe_provisioning_template(templateName="widget")
    assert (described["enabled"], described["type"], described["templateBody"]) == (False, "FLEET_PROVISIONING", body)
    assert described["preProvisioningHook"] == {"targetArn": HOOK_ARN}
    assert error_of(iot.create_provisioning_template, templateName="widget", templateBody=body,
                    provisioningRoleArn=ROLE) == ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.create_provisioning_template, templateName="bad", templateBody="{not json",
                    provisioningRoleArn=ROLE) == ("InvalidRequestException", 400)
    assert error_of(iot.create_provisioning_template, templateName="jitp", templateBody="{}", type="JITP",
                    provisioningRoleArn=ROLE, preProvisioningHook={"targetArn": HOOK_ARN}) \
        == ("InvalidRequestException", 400)
    assert error_of(iot.describe_provisioning_template, templateName="nope") == ("ResourceNotFoundException", 404)
    for n in range(2, 6):
        version = iot.create_provisioning_template_version(templateName="widget", templateBody=body,
                                                           setAsDefault=(n == 4))
        assert (version["versionId"], version["isDefaultVersion"]) == (n, n == 4)
    assert error_of(iot.create_provisioning_template_version, templateName="widget", templateBody=body) \
        == ("VersionsLimitExceededException", 409)
    assert error_of(iot.create_provisioning_template_version, templateName="widget", templateBody="[]") \
        == ("VersionsLimitExceededException", 409)
    versions = iot.list_provisioning_template_versions(templateName="widget", maxResults=3)
    assert [v["versionId"] for v in versions["versions"]] == [1, 2, 3]
    rest = iot.list_provisioning_template_versions(templateName="widget", nextToken=versions["nextToken"])
    assert [(v["versionId"], v["isDefaultVersion"]) for v in rest["versions"]] == [(4, True), (5, False)]
    assert error_of(iot.delete_provisioning_template_version, templateName="widget", versionId=4) \
        == ("DeleteConflictException", 409)
    iot.update_provisioning_template(templateName="widget", defaultVersionId=5, enabled=True,
                                     removePreProvisioningHook=True, description="v5")
    iot.delete_provisioning_template_version(templateName="widget", versionId=4)
    assert error_of(iot.describe_provisioning_template_version, templateName="widget", versionId=4) \
        == ("ResourceNotFoundException", 404)
    assert error_of(iot.update_provisioning_template, templateName="widget", defaultVersionId=4) \
        == ("ResourceNotFoundException", 404)
    assert iot.create_provisioning_template_version(templateName="widget", templateBody="{}")["versionId"] == 6
    iot.create_provisioning_template(templateName="jitp", templateBody="{}", provisioningRoleArn=ROLE, type="JITP")
    summaries = iot.list_provisioning_templates()["templates"]
    assert [(t["templateName"], t["type"], t["enabled"]) for t in summaries] == \
        [("jitp", "JITP", False), ("widget", "FLEET_PROVISIONING", True)]
    # RegisterThing over HTTP, with a CSR.
    csr = openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"), "-subj", "/CN=x")
    single = json.dumps({
        "Parameters": {"ThingName": {"Type": "String"}, "CSR": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"}},
        },
    })
    registered = iot.register_thing(templateBody=single, parameters={"ThingName": "single-1", "CSR": csr})
    assert registered["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert registered["resourceArns"]["thing"] == f"{ACCOUNT}:thing/single-1"
    assert iot.list_thing_principals(thingName="single-1")["principals"] == [registered["resourceArns"]["certificate"]]
    assert error_of(iot.register_thing, templateBody=single, parameters={"ThingName": "single-2"})[0] \
        == "InvalidRequestException"
    assert error_of(iot.register_thing, templateBody=single, parameters={"ThingName": "single-2", "CSR": "junk"})[0] \
        == "ResourceRegistrationFailureException"
    # A restart keeps everything.
    emulator.stop()
    emulator = Emulator(data_dir)
    iot = emulator.client("iot")
    described = iot.describe_provisioning_template(templateName="widget")
    assert (described["defaultVersionId"], described["description"], described["enabled"]) == (5, "v5", True)
    assert "preProvisioningHook" not in described
    assert [v["versionId"] for v in iot.list_provisioning_template_versions(templateName="widget")["versions"]] \
        == [1, 2, 3, 5, 6]
    iot.delete_provisioning_template(templateName="jitp")
    urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/_iotemu/reset", method="POST"))
    assert iot.list_provisioning_templates()["templates"] == []
    emulator.stop()
