"""The Device Shadow service end to end: boto3 `iot-data` over HTTP while a paho client observes
the answers the broker publishes; MQTT requests from paho; the AWS IoT Device SDK v2's shadow
client over mutual TLS; AWS's errors with their codes; the Get/Update/DeleteThingShadow entries
(checked with `iotemu check-entries`); and a crash test: every update acknowledged before `kill -9`
is there after a restart."""
import json
import signal
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, sdk_device, wait_until



class Observer:
    """A paho client subscribed to every shadow topic of one thing, keeping what it receives."""

    def __init__(self, emulator, thing, client_id="observer"):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.messages = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert wait_until(self.client.is_connected)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe(f"$aws/things/{thing}/shadow/#", qos=1)
        assert subscribed.wait(5)

    def payloads(self, topic):
        return [json.loads(p) for t, p in self.messages if t == topic]

    def publish(self, topic, payload):
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(timeout=5)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_http_updates_publish_the_same_answers_as_mqtt(emulator):
    data = emulator.client("iot-data")
    observer = Observer(emulator, "lamp")
    prefix = "$aws/things/lamp/shadow"
    accepted = json.loads(data.update_thing_shadow(
        thingName="lamp", payload=json.dumps({"state": {"desired": {"color": "red"}}, "clientToken": "c1"}))
        ["payload"].read())
    assert accepted["state"] == {"desired": {"color": "red"}} and accepted["version"] == 1
    assert accepted["clientToken"] == "c1" and "timestamp" in accepted["metadata"]["desired"]["color"]
    assert wait_until(lambda: observer.payloads(f"{prefix}/update/documents"))
    assert observer.payloads(f"{prefix}/update/accepted") == [accepted]
    (delta,) = observer.payloads(f"{prefix}/update/delta")
    assert delta["state"] == {"color": "red"} and delta["version"] == 1
    (documents,) = observer.payloads(f"{prefix}/update/documents")
    assert documents["current"]["state"] == {"desired": {"color": "red"}} and documents["current"]["version"] == 1

    # The device reports over MQTT: no delta any more, and the documents show previous and current.
    observer.publish(f"{prefix}/update", {"state": {"reported": {"color": "red"}}})
    assert wait_until(lambda: len(observer.payloads(f"{prefix}/update/documents")) == 2)
    assert len(observer.payloads(f"{prefix}/update/delta")) == 1, "reported caught up: no delta"
    documents = observer.payloads(f"{prefix}/update/documents")[1]
    assert documents["previous"]["version"] == 1 and documents["current"]["version"] == 2
    shadow = json.loads(data.get_thing_shadow(thingName="lamp")["payload"].read())
    assert shadow["state"] == {"desired": {"color": "red"}, "reported": {"color": "red"}} and shadow["version"] == 2
    assert "delta" not in shadow["state"]

    # null deletes a field; a new desired value differs from reported: a delta again.
    data.update_thing_shadow(thingName="lamp", payload=json.dumps(
        {"state": {"desired": {"color": "blue", "mode": {"fan": "auto"}}, "reported": {"color": None}}}))
    shadow = json.loads(data.get_thing_shadow(thingName="lamp")["payload"].read())
    assert shadow["state"]["delta"] == {"color": "blue", "mode": {"fan": "auto"}} and shadow["version"] == 3
    assert shadow["state"].get("reported", {}) == {}

    deleted = json.loads(data.delete_thing_shadow(thingName="lamp")["payload"].read())
    assert deleted["version"] == 3 and "timestamp" in deleted
    assert wait_until(lambda: observer.payloads(f"{prefix}/delete/accepted"))
    with pytest.raises(data.exceptions.ResourceNotFoundException) as info:
        data.get_thing_shadow(thingName="lamp")
    assert "No shadow exists with name" in info.value.response["Error"]["Message"]
    again = json.loads(data.update_thing_shadow(thingName="lamp", payload=json.dumps(
        {"state": {"reported": {"on": True}}}))["payload"].read())
    assert again["version"] == 4, "a later update continues the version"
    observer.stop()


def test_named_shadows_and_listing(emulator):
    data = emulator.client("iot-data")
    observer = Observer(emulator, "pump")
    for name in ("alpha", "beta", "gamma"):
        data.update_thing_shadow(thingName="pump", shadowName=name,
                                 payload=json.dumps({"state": {"reported": {"name": name}}}))
    assert wait_until(lambda: observer.payloads("$aws/things/pump/shadow/name/beta/update/accepted"))
    assert data.list_named_shadows_for_thing(thingName="pump")["results"] == ["alpha", "beta", "gamma"]
    first = data.list_named_shadows_for_thing(thingName="pump", pageSize=2)
    assert first["results"] == ["alpha", "beta"] and first["nextToken"]
    rest = data.list_named_shadows_for_thing(thingName="pump", pageSize=2, nextToken=first["nextToken"])
    assert rest["results"] == ["gamma"]
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_thing_shadow(thingName="pump"), "the classic shadow is a different one"
    named = json.loads(data.get_thing_shadow(thingName="pump", shadowName="beta")["payload"].read())
    assert named["state"] == {"reported": {"name": "beta"}}
    observer.stop()


ERRORS = [
    (b"not json", 400, "InvalidRequestException"),
    (json.dumps({"clientToken": "x"}).encode(), 400, "InvalidRequestException"),  # missing state
    (json.dumps({"state": "on"}).encode(), 400, "InvalidRequestException"),  # state not an object
    (json.dumps({"state": {"wanted": {}}}).encode(), 400, "InvalidRequestException"),  # unknown node
    # Seven objects inside desired (AWS counts `desired.one.two.three.four.five{}` as 5 levels).
    (json.dumps({"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}}).encode(), 400,
     "InvalidRequestException"),
    (json.dumps({"state": {"desired": {"big": "x" * 9000}}}).encode(), 413, "RequestEntityTooLargeException"),
    (json.dumps({"state": {"desired": {"a": 1}}, "clientToken": "t" * 65}).encode(), 400,
     "InvalidRequestException"),
]


@pytest.mark.parametrize("payload,status,code", ERRORS)
def test_update_errors_have_aws_codes_and_rejected_answers(emulator, payload, status, code):
    data = emulator.client("iot-data")
    observer = Observer(emulator, "err")
    with pytest.raises(data.exceptions.ClientError) as info:
        data.update_thing_shadow(thingName="err", payload=payload)
    error = info.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert wait_until(lambda: observer.payloads("$aws/things/err/shadow/update/rejected"))
    (rejected,) = observer.payloads("$aws/things/err/shadow/update/rejected")
    assert rejected["code"] == status and rejected["message"] == error["Error"]["Message"]
    # The log writer may still be writing: wait for the entry.
    assert wait_until(lambda: [e for e in emulator.entries() if e["eventType"] == "UpdateThingShadow"])
    failure = [e for e in emulator.entries() if e["eventType"] == "UpdateThingShadow"]
    assert failure[-1]["status"] == "Failure" and failure[-1]["reason"] == code
    observer.stop()


def test_version_conflict_and_names(emulator):
    data = emulator.client("iot-data")
    data.update_thing_shadow(thingName="v", payload=json.dumps({"state": {"desired": {"a": 1}}}))
    with pytest.raises(data.exceptions.ConflictException) as info:
        data.update_thing_shadow(thingName="v", payload=json.dumps({"state": {"desired": {"a": 2}}, "version": 7}))
    assert info.value.response["Error"]["Message"] == "Version conflict"
    ok = json.loads(data.update_thing_shadow(thingName="v", payload=json.dumps(
        {"state": {"desired": {"a": 2}}, "version": 1}))["payload"].read())
    assert ok["version"] == 2
    with pytest.raises(data.exceptions.InvalidRequestException):
        data.get_thing_shadow(thingName="v", shadowName="n" * 65)


def test_mqtt_requests_log_entries_with_the_publish_in_trace_id(emulator):
    observer = Observer(emulator, "dev")
    prefix = "$aws/things/dev/shadow"
    observer.publish(f"{prefix}/update", {"state": {"reported": {"t": 21}}, "clientToken": "u1"})
    observer.publish(f"{prefix}/get", {"clientToken": "g1"})
    observer.publish(f"{prefix}/name/cfg/delete", {})
    observer.publish(f"{prefix}/delete", {"clientToken": "d1"})
    assert wait_until(lambda: observer.payloads(f"{prefix}/delete/accepted"))
    assert observer.payloads(f"{prefix}/get/accepted")[0]["clientToken"] == "g1"
    rejected = observer.payloads(f"{prefix}/name/cfg/delete/rejected")
    assert rejected and rejected[0]["code"] == 404
    assert wait_until(lambda: any(e["eventType"] == "DeleteThingShadow" and e["status"] == "Success"
                                  for e in emulator.entries()))
    entries = emulator.entries()
    update = [e for e in entries if e["eventType"] == "UpdateThingShadow"][0]
    publish_in = [e for e in entries if e["eventType"] == "Publish-In" and e["topicName"] == f"{prefix}/update"][0]
    assert update["traceId"] == publish_in["traceId"] and update["protocol"] == "MQTT"
    assert update["deviceShadowName"] == "dev" and update["topicName"] == f"{prefix}/update"
    out = [e for e in entries if e["eventType"] == "Publish-Out" and e["topicName"] == f"{prefix}/update/accepted"]
    assert out and out[0]["traceId"] == update["traceId"], "the answer's Publish-Out shares the request's traceId"
    check_entries(emulator.log_file, "UpdateThingShadow", "GetThingShadow", "DeleteThingShadow")
    observer.stop()


def test_updates_acknowledged_before_kill_9_survive(data_dir):
    first = Emulator(data_dir)
    data = first.client("iot-data")
    acknowledged = 0
    for i in range(1, 41):
        answer = json.loads(data.update_thing_shadow(
            thingName="crash", payload=json.dumps({"state": {"reported": {"n": i}}}))["payload"].read())
        acknowledged = answer["version"]
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    second = Emulator(data_dir)
    try:
        shadow = json.loads(second.client("iot-data").get_thing_shadow(thingName="crash")["payload"].read())
        assert shadow["version"] == acknowledged == 40 and shadow["state"]["reported"] == {"n": 40}
    finally:
        second.stop()


def test_the_aws_iot_device_sdk_shadow_client(emulator, data_dir, tmp_path):
    from awscrt import mqtt as crt_mqtt
    from awsiot import iotshadow

    connection = sdk_device(emulator, data_dir, tmp_path, "sdk-lamp")
    shadow = iotshadow.IotShadowClient(connection)
    qos = crt_mqtt.QoS.AT_LEAST_ONCE
    got = {name: threading.Event() for name in ("update", "delta", "documents", "get", "named", "delete")}
    seen = {}

    def keep(name):
        def callback(response):
            seen[name] = response
            got[name].set()
        return callback

    thing = "sdk-lamp"
    futures = [
        shadow.subscribe_to_update_shadow_accepted(iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), qos,
                                                   keep("update"))[0],
        shadow.subscribe_to_shadow_delta_updated_events(
            iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), qos, keep("delta"))[0],
        shadow.subscribe_to_shadow_updated_events(iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing), qos,
                                                  keep("documents"))[0],
        shadow.subscribe_to_get_shadow_accepted(iotshadow.GetShadowSubscriptionRequest(thing_name=thing), qos,
                                                keep("get"))[0],
        shadow.subscribe_to_update_named_shadow_accepted(
            iotshadow.UpdateNamedShadowSubscriptionRequest(thing_name=thing, shadow_name="cfg"), qos,
            keep("named"))[0],
        shadow.subscribe_to_delete_shadow_accepted(iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing), qos,
                                                   keep("delete"))[0],
    ]
    for f in futures:
        f.result(timeout=10)
    desired = iotshadow.ShadowState(desired={"color": "green"})
    shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(thing_name=thing, state=desired, client_token="s1"),
                                 qos).result(timeout=10)
    for name in ("update", "delta", "documents"):
        assert got[name].wait(10), name
    assert seen["update"].state.desired == {"color": "green"} and seen["update"].version == 1
    assert seen["delta"].state == {"color": "green"}
    assert seen["documents"].current.state.desired == {"color": "green"}
    shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing), qos).result(timeout=10)
    assert got["get"].wait(10) and seen["get"].state.delta == {"color": "green"}
    shadow.publish_update_named_shadow(iotshadow.UpdateNamedShadowRequest(
        thing_name=thing, shadow_name="cfg", state=iotshadow.ShadowState(reported={"v": 1})), qos).result(timeout=10)
    assert got["named"].wait(10) and seen["named"].state.reported == {"v": 1}
    shadow.publish_delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing), qos).result(timeout=10)
    assert got["delete"].wait(10) and seen["delete"].version == 1
    connection.disconnect().result(timeout=10)
    wanted = {"UpdateThingShadow", "GetThingShadow", "DeleteThingShadow"}
    assert wait_until(lambda: wanted <= {e["eventType"] for e in emulator.entries()})


def test_shadow_topics_obey_iot_policies(emulator, iot, tmp_path):
    from test_policy_enforcement import ACCOUNT, Device, allow, failure, policy

    device = Device(emulator, iot, tmp_path, policy(
        allow("iot:Connect", f"{ACCOUNT}:client/*"),
        allow("iot:Subscribe", f"{ACCOUNT}:topicfilter/$aws/things/guarded/shadow/*"),
        allow("iot:Publish", f"{ACCOUNT}:topic/$aws/things/guarded/shadow/update"),
        allow("iot:Receive", f"{ACCOUNT}:topic/$aws/things/guarded/shadow/update/documents")))
    client = device.client("guarded", v5=True).connect()
    assert client.connected.wait(5)
    mid = client.paho.subscribe([("$aws/things/guarded/shadow/update/accepted", 1),
                                 ("$aws/things/guarded/shadow/update/documents", 1)])[1]
    assert wait_until(lambda: client.subacks.get(mid) == [1, 1])
    client.paho.publish("$aws/things/guarded/shadow/update", json.dumps({"state": {"reported": {"x": 1}}}), qos=1)
    assert wait_until(lambda: "$aws/things/guarded/shadow/update/documents" in client.messages)
    time.sleep(0.2)
    assert "$aws/things/guarded/shadow/update/accepted" not in client.messages, "no iot:Receive for /accepted"
    assert failure(emulator, "Publish-Out", "guarded")["topicName"] == "$aws/things/guarded/shadow/update/accepted"
    denied = client.publish("$aws/things/guarded/shadow/delete")
    assert wait_until(lambda: client.pubacks.get(denied) == 0x87), "no iot:Publish on .../delete"
    client.stop()
    assert not any(e["eventType"] == "DeleteThingShadow" for e in emulator.entries()), "a denied request never runs"
