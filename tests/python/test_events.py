"""The events AWS IoT publishes itself, end to end: paho watchers (MQTT 3.1.1 and 5) and the AWS
IoT Device SDK see devices connect, subscribe, unsubscribe and go, with the payloads of
life-cycle-events.md; a topic rule republishes the disconnect event; registry events appear only
after UpdateEventConfigurations enables them. The log file is checked with `iotemu check-entries`."""
import hashlib
import json
import socket
import ssl
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from conftest import check_entries, iotemu_binary, wait_until

ROLE = "arn:aws:iam::123456789012:role/rules"

# The keys of AWS's documented examples (life-cycle-events.md).
CONNECTED_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier",
                  "ipAddress", "versionNumber"}
DISCONNECTED_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier",
                     "clientInitiatedDisconnect", "disconnectReason", "versionNumber"}
SUBSCRIPTION_KEYS = {"clientId", "timestamp", "eventType", "sessionIdentifier", "principalIdentifier", "topics"}


def check(emulator, *required):
    check_entries(emulator.log_file, *required)


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
        """Disconnects cleanly: returns once paho has sent DISCONNECT and the socket is closed."""
        done = threading.Event()
        self.paho.on_disconnect = lambda *a: done.set()
        if self.paho.disconnect() == mqtt.MQTT_ERR_SUCCESS:
            assert done.wait(5)
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
    # Each step waits for the broker's account of the last one (its event), so that the second
    # connection cannot overtake the first one's DISCONNECT and take it over instead.
    first = Client(emulator, "dev-2")
    watcher.wait_for("$aws/events/presence/connected/dev-2", 1)
    first.stop()
    watcher.wait_for("$aws/events/presence/disconnected/dev-2", 1)
    second = Client(emulator, "dev-2")
    watcher.wait_for("$aws/events/presence/connected/dev-2", 2)
    second.paho.reconnect_delay_set(60, 60)  # the takeover closes it: paho must not come back
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


REGISTRY_TYPES = ["THING", "THING_GROUP", "THING_TYPE", "THING_GROUP_MEMBERSHIP", "THING_GROUP_HIERARCHY",
                  "THING_TYPE_ASSOCIATION"]
ALL_TYPES = REGISTRY_TYPES + ["JOB", "JOB_EXECUTION", "POLICY", "CERTIFICATE", "CA_CERTIFICATE"]


def enable(iot, *types, enabled=True):
    iot.update_event_configurations(eventConfigurations={t: {"Enabled": enabled} for t in types})


def test_registry_events_appear_only_after_they_are_enabled(emulator, iot):
    watcher = Client(emulator, "watcher", ["$aws/events/#"], protocol=mqtt.MQTTv5)
    described = iot.describe_event_configurations()["eventConfigurations"]
    assert set(described) == set(ALL_TYPES) and not any(c["Enabled"] for c in described.values())

    iot.create_thing_type(thingTypeName="sensor", thingTypeProperties={"searchableAttributes": ["model"]})
    iot.create_thing(thingName="quiet", thingTypeName="sensor")
    enable(iot, *REGISTRY_TYPES)
    described = iot.describe_event_configurations()
    assert all(described["eventConfigurations"][t]["Enabled"] for t in REGISTRY_TYPES)
    assert not described["eventConfigurations"]["JOB"]["Enabled"]
    assert "creationDate" in described and "lastModifiedDate" in described

    iot.create_thing(thingName="loud", thingTypeName="sensor", attributePayload={"attributes": {"fw": "1"}})
    created = watcher.wait_for("$aws/events/thing/loud/created")[0]
    # Nothing was published for the thing created before the events were enabled.
    assert not [t for t, _ in watcher.messages if "quiet" in t or t.startswith("$aws/events/thingType/")]
    thing = iot.describe_thing(thingName="loud")
    assert created["eventType"] == "THING_EVENT" and created["operation"] == "CREATED"
    assert created["accountId"] == "123456789012" and created["thingId"] == thing["thingId"]
    assert created["thingName"] == "loud" and created["versionNumber"] == 1
    assert created["thingTypeName"] == "sensor" and created["attributes"] == {"fw": "1"}
    assert isinstance(created["eventId"], str) and isinstance(created["timestamp"], int)
    association = watcher.wait_for("$aws/events/thingTypeAssociation/thing/loud/thingType/sensor/added")[0]
    assert association["eventType"] == "THING_TYPE_ASSOCIATION_EVENT" and association["operation"] == "ADDED"
    assert association["thingId"] == thing["thingId"] and association["thingTypeName"] == "sensor"
    assert "accountId" not in association

    iot.update_thing(thingName="loud", attributePayload={"attributes": {"fw": "2"}, "merge": True},
                     removeThingType=True)
    updated = watcher.wait_for("$aws/events/thing/loud/updated")[0]
    assert updated["operation"] == "UPDATED" and updated["versionNumber"] == 2
    assert updated["attributes"] == {"fw": "2"} and updated["thingTypeName"] is None
    removed = watcher.wait_for("$aws/events/thingTypeAssociation/thing/loud/thingType/sensor/removed")[0]
    assert removed["operation"] == "REMOVED"

    iot.deprecate_thing_type(thingTypeName="sensor")
    deprecated = watcher.wait_for("$aws/events/thingType/sensor/updated")[0]
    assert deprecated["eventType"] == "THING_TYPE_EVENT" and deprecated["operation"] == "UPDATED"
    assert deprecated["isDeprecated"] is True and isinstance(deprecated["deprecationDate"], int)
    assert deprecated["searchableAttributes"] == ["model"]

    iot.create_thing_group(thingGroupName="site")
    iot.create_thing_group(thingGroupName="floor", parentGroupName="site",
                           thingGroupProperties={"thingGroupDescription": "first floor"})
    site = iot.describe_thing_group(thingGroupName="site")
    floor = watcher.wait_for("$aws/events/thingGroup/floor/created")[0]
    assert floor["eventType"] == "THING_GROUP_EVENT" and floor["operation"] == "CREATED"
    assert floor["parentGroupName"] == "site" and floor["parentGroupId"] == site["thingGroupId"]
    assert floor["rootToParentThingGroups"] == [{"groupArn": site["thingGroupArn"], "groupId": site["thingGroupId"]}]
    assert floor["description"] == "first floor" and floor["versionNumber"] == 1
    hierarchy = watcher.wait_for("$aws/events/thingGroupHierarchy/thingGroup/site/childThingGroup/floor/added")[0]
    assert hierarchy["eventType"] == "THING_GROUP_HIERARCHY_EVENT" and hierarchy["operation"] == "ADDED"
    assert hierarchy["thingGroupName"] == "site" and hierarchy["childGroupName"] == "floor"

    iot.add_thing_to_thing_group(thingGroupName="floor", thingName="loud")
    iot.remove_thing_from_thing_group(thingGroupName="floor", thingName="loud")
    added = watcher.wait_for("$aws/events/thingGroupMembership/thingGroup/floor/thing/loud/added")[0]
    left = watcher.wait_for("$aws/events/thingGroupMembership/thingGroup/floor/thing/loud/removed")[0]
    assert added["eventType"] == "THING_GROUP_MEMBERSHIP_EVENT" and added["operation"] == "ADDED"
    assert added["thingArn"] == thing["thingArn"] and added["groupId"] == floor["thingGroupId"]
    assert left["operation"] == "REMOVED" and left["membershipId"] == added["membershipId"]

    iot.update_thing_group(thingGroupName="floor", thingGroupProperties={"thingGroupDescription": "ground"})
    assert watcher.wait_for("$aws/events/thingGroup/floor/updated")[0]["versionNumber"] == 2
    iot.delete_thing_group(thingGroupName="floor")
    assert watcher.wait_for("$aws/events/thingGroup/floor/deleted")[0]["operation"] == "DELETED"
    watcher.wait_for("$aws/events/thingGroupHierarchy/thingGroup/site/childThingGroup/floor/removed")

    # Turned off again, THING events stop; the others go on.
    enable(iot, "THING", enabled=False)
    iot.delete_thing(thingName="loud")
    iot.delete_thing(thingName="quiet")
    iot.delete_thing_type(thingTypeName="sensor")
    assert watcher.wait_for("$aws/events/thingType/sensor/deleted")[0]["operation"] == "DELETED"
    assert not watcher.on("$aws/events/thing/loud/deleted")
    watcher.stop()
    check(emulator, "Publish-Out")


def test_job_and_job_execution_events_follow_the_job(emulator, iot):
    watcher = Client(emulator, "watcher", ["$aws/events/job/#", "$aws/events/jobExecution/#"])
    for name in ("j1", "j2"):
        iot.create_thing(thingName=name)
    thing_arn = iot.describe_thing(thingName="j1")["thingArn"]
    iot.create_job(jobId="before", targets=[thing_arn], document="{}")
    iot.cancel_job(jobId="before")
    enable(iot, "JOB", "JOB_EXECUTION")

    iot.create_job(jobId="upgrade", targets=[thing_arn], document='{"v": 2}', description="to v2")
    data = emulator.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="j1")
    data.update_job_execution(thingName="j1", jobId="upgrade", status="SUCCEEDED", statusDetails={"step": "done"})
    succeeded = watcher.wait_for("$aws/events/jobExecution/upgrade/succeeded")[0]
    assert succeeded["eventType"] == "JOB_EXECUTION" and succeeded["operation"] == "succeeded"
    assert succeeded["jobId"] == "upgrade" and succeeded["status"] == "SUCCEEDED"
    assert succeeded["thingArn"] == thing_arn and succeeded["statusDetails"] == {"step": "done"}
    completed = watcher.wait_for("$aws/events/job/upgrade/completed")[0]
    assert completed["eventType"] == "JOB" and completed["operation"] == "completed"
    assert completed["status"] == "COMPLETED" and completed["targetSelection"] == "SNAPSHOT"
    assert completed["targets"] == [thing_arn] and completed["description"] == "to v2"
    assert completed["jobProcessDetails"]["numberOfSucceededThings"] == 1
    assert {"completedAt", "createdAt", "lastUpdatedAt"} <= set(completed)

    iot.create_job(jobId="stopped", targets=[thing_arn, iot.describe_thing(thingName="j2")["thingArn"]],
                   document="{}")
    iot.cancel_job(jobId="stopped", comment="wrong build")
    progress = watcher.wait_for("$aws/events/job/stopped/cancellation_in_progress")[0]
    canceled = watcher.wait_for("$aws/events/job/stopped/canceled")[0]
    assert progress["status"] == "CANCELLATION_IN_PROGRESS" and canceled["status"] == "CANCELED"
    assert canceled["comment"] == "wrong build"
    assert len(watcher.wait_for("$aws/events/jobExecution/stopped/canceled", 2)) == 2
    iot.delete_job(jobId="stopped")
    assert watcher.wait_for("$aws/events/job/stopped/deletion_in_progress")[0]["status"] == "DELETION_IN_PROGRESS"
    assert watcher.wait_for("$aws/events/job/stopped/deleted")[0]["operation"] == "deleted"
    assert len(watcher.wait_for("$aws/events/jobExecution/stopped/deleted", 2)) == 2
    # Nothing for the job canceled before the events were enabled.
    assert not [t for t, _ in watcher.messages if "/before/" in t]
    watcher.stop()
    check(emulator, "Publish-Out")


def test_reset_turns_every_event_type_off_and_the_configuration_survives_a_restart(data_dir):
    from conftest import Emulator

    emulator = Emulator(data_dir)
    try:
        iot = emulator.client("iot")
        enable(iot, "THING", "JOB")
        assert error_of_update(iot, {"THINGS": {"Enabled": True}}) == "InvalidRequestException"
    finally:
        emulator.stop()
    emulator = Emulator(data_dir)
    try:
        iot = emulator.client("iot")
        described = iot.describe_event_configurations()["eventConfigurations"]
        assert described["THING"]["Enabled"] and described["JOB"]["Enabled"]
        assert not described["THING_GROUP"]["Enabled"]
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/_iotemu/reset", method="POST"))
        described = iot.describe_event_configurations()["eventConfigurations"]
        assert not any(c["Enabled"] for c in described.values())
        watcher = Client(emulator, "watcher", ["$aws/events/thing/+/created", "$aws/events/presence/connected/+"])
        iot.create_thing(thingName="after-reset")
        Client(emulator, "marker").stop()
        # Lifecycle events are always on; the thing's event is off after the reset.
        watcher.wait_for("$aws/events/presence/connected/marker")
        assert not watcher.on("$aws/events/thing/after-reset/created")
        watcher.stop()
    finally:
        emulator.stop()


def error_of_update(iot, configurations):
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError) as info:
        iot.update_event_configurations(eventConfigurations=configurations)
    return info.value.response["Error"]["Code"]


def test_iot_subscribe_and_iot_receive_apply_to_lifecycle_events(emulator, iot, tmp_path):
    from test_policy_enforcement import ACCOUNT, CONNECT_ANY, Device, allow, failure, policy

    device = Device(emulator, iot, tmp_path, policy(
        CONNECT_ANY,
        allow(["iot:Subscribe"], f"{ACCOUNT}:topicfilter/$aws/events/presence/*"),
        allow(["iot:Receive"], f"{ACCOUNT}:topic/$aws/events/presence/connected/*")))
    watcher = device.client("policy-watcher", v5=True).connect()
    assert watcher.connected.wait(5)
    allowed = watcher.subscribe("$aws/events/presence/+/+")
    denied = watcher.subscribe("$aws/events/subscriptions/+/+")
    assert wait_until(lambda: watcher.subacks.get(allowed) == [1] and watcher.subacks.get(denied) == [0x87])
    Client(emulator, "dev-p").stop()
    assert wait_until(lambda: "$aws/events/presence/connected/dev-p" in watcher.messages)
    # No iot:Receive on the disconnected topic: not delivered, a Publish-Out Failure instead.
    entry = failure(emulator, "Publish-Out", "policy-watcher")
    assert entry["topicName"] == "$aws/events/presence/disconnected/dev-p"
    assert "$aws/events/presence/disconnected/dev-p" not in watcher.messages
    watcher.stop()


def test_nobody_may_publish_an_event_through_iot_data(emulator):
    from conftest import error_of

    watcher = Client(emulator, "watcher", ["$aws/events/#"])
    data = emulator.client("iot-data")
    code = error_of(data.publish, topic="$aws/events/presence/disconnected/dev-x", payload=b"{}")
    assert code == ("UnauthorizedException", 401)
    Client(emulator, "marker").stop()
    watcher.wait_for("$aws/events/presence/disconnected/marker")
    assert not watcher.on("$aws/events/presence/disconnected/dev-x")
    watcher.stop()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_a_client_cannot_forge_an_event_over_mqtt(emulator, protocol):
    watcher = Client(emulator, "watcher", ["$aws/events/#"])
    forger = Client(emulator, "forger", protocol=protocol)
    forger.paho.publish("$aws/events/presence/disconnected/victim", b"{}", qos=0)
    forger.paho.publish("$aws/events/thing/victim/deleted", b"{}", qos=0)
    Client(emulator, "marker").stop()
    watcher.wait_for("$aws/events/presence/disconnected/marker")
    assert not [t for t, _ in watcher.messages if "victim" in t]
    forger.paho.loop_stop()
    watcher.stop()


def test_deleting_a_thing_or_a_group_publishes_the_membership_and_association_it_ends(emulator, iot):
    """registry-events.md publishes membership REMOVED "when a thing is ... removed from a thing
    group" whatever the cause: a deleted thing leaves its groups and its type, and a deleted group
    its things, each announced before the DELETED event."""
    watcher = Client(emulator, "watcher", ["$aws/events/#"], protocol=mqtt.MQTTv5)
    iot.create_thing_type(thingTypeName="meter")
    iot.create_thing(thingName="gone", thingTypeName="meter")
    iot.create_thing(thingName="stays")
    for group in ("north", "south"):
        iot.create_thing_group(thingGroupName=group)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName="gone")
    iot.add_thing_to_thing_group(thingGroupName="south", thingName="stays")
    thing = iot.describe_thing(thingName="gone")
    stays = iot.describe_thing(thingName="stays")
    groups = {g: iot.describe_thing_group(thingGroupName=g) for g in ("north", "south")}
    enable(iot, "THING", "THING_GROUP", "THING_GROUP_MEMBERSHIP", "THING_TYPE_ASSOCIATION")

    iot.delete_thing(thingName="gone")
    deleted_topic = "$aws/events/thing/gone/deleted"
    watcher.wait_for(deleted_topic)
    for group in ("north", "south"):
        topic = f"$aws/events/thingGroupMembership/thingGroup/{group}/thing/gone/removed"
        removed = watcher.wait_for(topic)[0]
        assert removed["eventType"] == "THING_GROUP_MEMBERSHIP_EVENT" and removed["operation"] == "REMOVED"
        assert removed["thingArn"] == thing["thingArn"] and removed["thingId"] == thing["thingId"]
        assert removed["groupArn"] == groups[group]["thingGroupArn"]
        assert removed["groupId"] == groups[group]["thingGroupId"]
        assert removed["accountId"] == "123456789012"
        assert order(watcher, topic) < order(watcher, deleted_topic)
    association_topic = "$aws/events/thingTypeAssociation/thing/gone/thingType/meter/removed"
    association = watcher.wait_for(association_topic)[0]
    assert association["eventType"] == "THING_TYPE_ASSOCIATION_EVENT" and association["operation"] == "REMOVED"
    assert association["thingId"] == thing["thingId"] and association["thingTypeName"] == "meter"
    assert order(watcher, association_topic) < order(watcher, deleted_topic)

    iot.delete_thing_group(thingGroupName="south")
    group_deleted = "$aws/events/thingGroup/south/deleted"
    watcher.wait_for(group_deleted)
    member_topic = "$aws/events/thingGroupMembership/thingGroup/south/thing/stays/removed"
    member = watcher.wait_for(member_topic)[0]
    assert member["operation"] == "REMOVED" and member["thingId"] == stays["thingId"]
    assert member["groupId"] == groups["south"]["thingGroupId"]
    assert order(watcher, member_topic) < order(watcher, group_deleted)
    # Each membership ended once: no second event for "gone", which had left "south" already.
    assert len(watcher.on("$aws/events/thingGroupMembership/thingGroup/south/thing/gone/removed")) == 1
    watcher.stop()
    check(emulator, "Publish-Out")


def order(client, topic):
    return next(i for i, (t, _) in enumerate(client.messages) if t == topic)


def test_policy_certificate_and_ca_certificate_are_accepted_but_aws_documents_no_event_of_their_own(emulator, iot):
    """iot-events.md's settings table names no topic for POLICY; for CERTIFICATE only the lifecycle
    topics, which life-cycle-events.md says are always on; for CA_CERTIFICATE the just-in-time
    registration event, which is published when a certificate is registered automatically
    (test_provisioning). Enabling them publishes nothing for policy or certificate operations."""
    watcher = Client(emulator, "watcher", ["$aws/events/#"], protocol=mqtt.MQTTv5)
    enable(iot, "POLICY", "CERTIFICATE", "CA_CERTIFICATE", "THING")
    described = iot.describe_event_configurations()["eventConfigurations"]
    assert all(described[t]["Enabled"] for t in ("POLICY", "CERTIFICATE", "CA_CERTIFICATE"))

    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})
    iot.create_policy(policyName="quiet-policy", policyDocument=document)
    iot.create_policy_version(policyName="quiet-policy", policyDocument=document, setAsDefault=True)
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName="quiet-policy", target=cert["certificateArn"])
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    iot.detach_policy(policyName="quiet-policy", target=cert["certificateArn"])
    iot.delete_certificate(certificateId=cert["certificateId"])
    iot.delete_policy_version(policyName="quiet-policy", policyVersionId="1")
    iot.delete_policy(policyName="quiet-policy")
    # A THING event after them all: once it is here, anything they published would be too.
    iot.create_thing(thingName="marker")
    watcher.wait_for("$aws/events/thing/marker/created")
    published = [t for t, _ in watcher.messages
                 if not t.startswith(("$aws/events/subscriptions/", "$aws/events/presence/"))]
    assert published == ["$aws/events/thing/marker/created"], published
    watcher.stop()
