"""Device Shadow edge cases checked against real AWS, over HTTP (boto3 `iot-data`) and MQTT
(paho): a top-level `desired` or `reported` left empty is omitted from the document, from
/accepted and from get (nested empty objects stay); `{"state": null}` clears the shadow with a new
version (docs/aws-behaviour.md, §6)."""
import json

import pytest

from conftest import wait_until
from test_shadow import Observer


def http_update(data, thing, body):
    return json.loads(data.update_thing_shadow(thingName=thing, payload=json.dumps(body))["payload"].read())


def http_get(data, thing):
    return json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())


def mqtt_update(observer, thing, body):
    topic = f"$aws/things/{thing}/shadow/update/accepted"
    before = len(observer.payloads(topic))
    observer.publish(f"$aws/things/{thing}/shadow/update", body)
    assert wait_until(lambda: len(observer.payloads(topic)) > before)
    return observer.payloads(topic)[-1]


def mqtt_get(observer, thing):
    topic = f"$aws/things/{thing}/shadow/get/accepted"
    before = len(observer.payloads(topic))
    observer.publish(f"$aws/things/{thing}/shadow/get", {})
    assert wait_until(lambda: len(observer.payloads(topic)) > before)
    return observer.payloads(topic)[-1]


@pytest.mark.parametrize("over", ["http", "mqtt"])
def test_an_emptied_top_level_section_is_omitted(emulator, over):
    data = emulator.client("iot-data")
    thing = f"empty-{over}"
    observer = Observer(emulator, thing)
    update = (lambda b: http_update(data, thing, b)) if over == "http" else (lambda b: mqtt_update(observer, thing, b))
    get = (lambda: http_get(data, thing)) if over == "http" else (lambda: mqtt_get(observer, thing))

    update({"state": {"desired": {"color": "red"}, "reported": {"color": "blue", "o": {"x": 1}}}})
    assert get()["state"]["delta"] == {"color": "red"}
    # Deleting desired's last field removes desired, and the delta with it.
    accepted = update({"state": {"desired": {"color": None}}})
    assert accepted["state"] == {"desired": {"color": None}} and accepted["version"] == 2
    shadow = get()
    assert shadow["state"] == {"reported": {"color": "blue", "o": {"x": 1}}}
    assert set(shadow["metadata"]) == {"reported"}
    # An empty section sent is no section in the answer; a nested empty object stays.
    accepted = update({"state": {"desired": {}, "reported": {"o": {"x": None}}}})
    assert accepted["state"] == {"reported": {"o": {"x": None}}} and "desired" not in accepted["metadata"]
    assert get()["state"] == {"reported": {"color": "blue", "o": {}}}
    assert wait_until(lambda: len(observer.payloads(f"$aws/things/{thing}/shadow/update/documents")) == 3)
    documents = observer.payloads(f"$aws/things/{thing}/shadow/update/documents")
    assert documents[1]["current"]["state"] == {"reported": {"color": "blue", "o": {"x": 1}}}
    observer.stop()


@pytest.mark.parametrize("over", ["http", "mqtt"])
def test_a_null_state_clears_the_shadow(emulator, over):
    data = emulator.client("iot-data")
    thing = f"clear-{over}"
    observer = Observer(emulator, thing)
    update = (lambda b: http_update(data, thing, b)) if over == "http" else (lambda b: mqtt_update(observer, thing, b))
    get = (lambda: http_get(data, thing)) if over == "http" else (lambda: mqtt_get(observer, thing))

    update({"state": {"desired": {"a": 1}, "reported": {"b": 2}}})
    accepted = update({"state": None, "clientToken": "clear"})
    assert accepted["state"] is None and accepted["version"] == 2 and accepted["clientToken"] == "clear"
    assert observer.payloads(f"$aws/things/{thing}/shadow/update/rejected") == []
    shadow = get()
    assert (shadow["state"], shadow["metadata"], shadow["version"]) == ({}, {}, 2)
    # The shadow goes on from there.
    assert update({"state": {"reported": {"b": 3}}})["version"] == 3
    assert get()["state"] == {"reported": {"b": 3}}
    observer.stop()
