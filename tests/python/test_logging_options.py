"""SetV2LoggingOptions and SetV2LoggingLevel drive the running emulator's log entries at once:
a DEBUG level on one client id, while the default is ERROR, shows that client's Publish-In
entries and no one else's."""
import time

import paho.mqtt.client as mqtt

from conftest import error_of


def publish(emulator, client_id, topic):
    host, port = emulator.mqtt.rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(host, int(port))
    client.loop_start()
    client.publish(topic, b"{}", qos=1).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()


def wait_for_entries(emulator, predicate, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        entries = emulator.entries()
        if predicate(entries):
            return entries
        time.sleep(0.05)
    return emulator.entries()


def test_logging_options_are_not_configured_until_set(iot):
    assert error_of(iot.get_v2_logging_options) == ("NotConfiguredException", 404)
    iot.set_v2_logging_options(roleArn="arn:aws:iam::123456789012:role/logs", defaultLogLevel="ERROR")
    options = iot.get_v2_logging_options()
    assert options["defaultLogLevel"] == "ERROR" and options["disableAllLogs"] is False
    assert error_of(iot.set_v2_logging_options, defaultLogLevel="LOUD")[0] in ("InvalidRequestException",
                                                                               "ValidationException")


def test_a_client_id_target_logs_that_client_only(emulator, iot):
    iot.set_v2_logging_options(defaultLogLevel="ERROR")
    iot.set_v2_logging_level(logTarget={"targetType": "CLIENT_ID", "targetName": "chatty"}, logLevel="DEBUG")
    levels = iot.list_v2_logging_levels()["logTargetConfigurations"]
    assert levels == [{"logTarget": {"targetType": "CLIENT_ID", "targetName": "chatty"}, "logLevel": "DEBUG"}]

    publish(emulator, "quiet", "room/1")
    publish(emulator, "chatty", "room/2")
    entries = wait_for_entries(emulator, lambda es: any(e["eventType"] == "Disconnect" for e in es))
    assert {e["clientId"] for e in entries} == {"chatty"}, entries
    assert [e["topicName"] for e in entries if e["eventType"] == "Publish-In"] == ["room/2"]

    iot.delete_v2_logging_level(targetType="CLIENT_ID", targetName="chatty")
    assert iot.list_v2_logging_levels()["logTargetConfigurations"] == []
    before = len(emulator.entries())
    publish(emulator, "chatty", "room/3")
    time.sleep(0.5)
    assert len(emulator.entries()) == before, "no target, default ERROR: nothing for a well-behaved client"

    iot.set_v2_logging_options(defaultLogLevel="INFO")
    publish(emulator, "quiet", "room/4")
    entries = wait_for_entries(emulator, lambda es: any(e.get("topicName") == "room/4" for e in es))
    assert any(e["clientId"] == "quiet" and e.get("topicName") == "room/4" for e in entries)


def test_disable_all_logs_silences_everything(emulator, iot):
    iot.set_v2_logging_options(defaultLogLevel="DEBUG", disableAllLogs=True)
    publish(emulator, "anyone", "room/5")
    time.sleep(0.5)
    assert emulator.entries() == []


def test_a_thing_group_target_logs_the_things_of_the_group_and_its_children(emulator, iot):
    iot.create_thing_group(thingGroupName="building")
    iot.create_thing_group(thingGroupName="floor-2", parentGroupName="building")
    iot.create_thing(thingName="lamp")
    iot.create_thing(thingName="fan")
    iot.add_thing_to_thing_group(thingGroupName="floor-2", thingName="lamp")
    iot.set_v2_logging_options(defaultLogLevel="ERROR")
    iot.set_v2_logging_level(logTarget={"targetType": "THING_GROUP", "targetName": "building"}, logLevel="INFO")

    publish(emulator, "fan", "room/6")
    publish(emulator, "lamp", "room/7")
    entries = wait_for_entries(emulator, lambda es: any(e["eventType"] == "Disconnect" for e in es))
    assert {e["clientId"] for e in entries} == {"lamp"}, "only the thing in the group's hierarchy"
    assert [e["topicName"] for e in entries if e["eventType"] == "Publish-In"] == ["room/7"]

    iot.remove_thing_from_thing_group(thingGroupName="floor-2", thingName="lamp")
    before = len(emulator.entries())
    publish(emulator, "lamp", "room/8")
    time.sleep(0.5)
    assert len(emulator.entries()) == before, "out of the group, the default ERROR applies again"
