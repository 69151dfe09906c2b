"""SetV2LoggingOptions' `eventConfigurations` (botocore `LogEventConfiguration`): one entry type's
level overrides the default, its `logDestination` routes its entries to that log group of the log
store, and Ping and Connection.AuthNError, which AWS writes only when opted into, appear once
configured. The newer
message-broker entries AWS documents with their attributes (GetRetainedMessage,
ListRetainedMessage) are written by iot-data. Every log file is checked with `iotemu
check-entries`."""
import json
import re
import threading

import paho.mqtt.client as mqtt

from conftest import check_entries, error_of, wait_until

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")


class Device:
    """A paho MQTT 3.1.1 client with a one-second keep-alive, which notes every PINGRESP."""

    def __init__(self, emulator, client_id):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.pongs = 0
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.paho.on_log = self._on_log
        self.paho.connect(host, int(port), keepalive=1)
        self.paho.loop_start()
        assert wait_until(self.paho.is_connected)

    def _on_log(self, client, userdata, level, text):
        if "Received PINGRESP" in text:
            self.pongs += 1

    def subscribe(self, topic):
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe(topic, qos=1)
        assert done.wait(5)

    def publish(self, topic, retain=False):
        self.paho.publish(topic, b"{}", qos=1, retain=retain).wait_for_publish(timeout=5)

    def stop(self):
        done = threading.Event()
        self.paho.on_disconnect = lambda *a: done.set()
        self.paho.disconnect()
        assert done.wait(5)
        self.paho.loop_stop()


def of(emulator, event_type, client_id=None):
    return [e for e in emulator.entries()
            if e["eventType"] == event_type and (client_id is None or e.get("clientId") == client_id)]


def messages(logs, group):
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"]) for e in events]


def test_ping_is_written_only_once_event_configurations_opt_into_it(emulator, iot):
    # iotemu's default level is DEBUG, yet Ping is off, as on AWS, until configured.
    quiet = Device(emulator, "quiet")
    assert wait_until(lambda: quiet.pongs >= 1)
    quiet.publish("marker/quiet")
    assert wait_until(lambda: any(e.get("topicName") == "marker/quiet" for e in of(emulator, "Publish-In")))
    assert not of(emulator, "Ping")

    iot.set_v2_logging_options(defaultLogLevel="INFO",
                               eventConfigurations=[{"eventType": "Ping", "logLevel": "DEBUG"}])
    assert wait_until(lambda: of(emulator, "Ping", "quiet"))
    ping = of(emulator, "Ping", "quiet")[0]
    assert ping["logLevel"] == "DEBUG" and ping["status"] == "Success" and ping["protocol"] == "MQTT"
    assert ping["principalId"] == "anonymous" and ping["sourceIp"] == "127.0.0.1"
    assert isinstance(ping["sourcePort"], int) and isinstance(ping["latency"], int) and ping["latency"] >= 0
    assert TIMESTAMP.match(ping["requestTimestamp"]) and TIMESTAMP.match(ping["responseTimestamp"])
    assert ping["requestTimestamp"] <= ping["responseTimestamp"]
    quiet.stop()
    check_entries(emulator.log_file, "Ping", "Publish-In", "Connect")


def test_an_event_types_level_and_log_group_override_the_defaults(emulator, iot):
    configurations = [
        {"eventType": "Publish-In", "logLevel": "ERROR"},
        {"eventType": "Subscribe", "logLevel": "INFO", "logDestination": "iot/subscriptions"},
        {"eventType": "Ping", "logLevel": "DEBUG", "logDestination": "iot/pings"},
    ]
    iot.set_v2_logging_options(defaultLogLevel="INFO", eventConfigurations=configurations)
    options = iot.get_v2_logging_options()
    assert options["defaultLogLevel"] == "INFO" and options["eventConfigurations"] == configurations
    verbose = iot.get_v2_logging_options(verbose=True)["eventConfigurations"]
    by_type = {c["eventType"]: c for c in verbose}
    assert by_type["Subscribe"] == configurations[1]
    assert by_type["Connect"] == {"eventType": "Connect", "logLevel": "INFO", "logDestination": "AWSIotLogsV2"}

    device = Device(emulator, "dev-e")
    device.subscribe("room/+")
    device.publish("room/1")
    assert wait_until(lambda: device.pongs >= 1)
    device.stop()
    assert wait_until(lambda: of(emulator, "Disconnect", "dev-e") and of(emulator, "Ping", "dev-e"))
    # Publish-In is at ERROR for its type: a successful publish writes none; its delivery does.
    assert not of(emulator, "Publish-In")
    assert [e["topicName"] for e in of(emulator, "Publish-Out", "dev-e")] == ["room/1"]
    assert [e["topicName"] for e in of(emulator, "Subscribe", "dev-e")] == ["room/+"]
    check_entries(emulator.log_file, "Ping", "Subscribe", "Publish-Out", "Connect", "Disconnect")

    # In the log store, each type is in its own group; the rest stay in AWSIotLogsV2.
    logs = emulator.client("logs")
    assert wait_until(lambda: messages(logs, "iot/pings") and messages(logs, "iot/subscriptions")
                      and any(m["eventType"] == "Disconnect" for m in messages(logs, "AWSIotLogsV2")))
    assert {m["eventType"] for m in messages(logs, "iot/pings")} == {"Ping"}
    subscriptions = messages(logs, "iot/subscriptions")
    assert [(m["eventType"], m["topicName"]) for m in subscriptions] == [("Subscribe", "room/+")]
    default = {m["eventType"] for m in messages(logs, "AWSIotLogsV2")}
    assert {"Connect", "Publish-Out", "Disconnect"} <= default and not default & {"Ping", "Subscribe"}
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert {"iot/pings", "iot/subscriptions", "AWSIotLogsV2"} <= groups

    # A later SetV2LoggingOptions without eventConfigurations clears them: Publish-In is back.
    iot.set_v2_logging_options(defaultLogLevel="INFO")
    assert "eventConfigurations" not in iot.get_v2_logging_options()
    device = Device(emulator, "dev-f")
    device.publish("room/2")
    device.stop()
    assert wait_until(lambda: of(emulator, "Publish-In", "dev-f"))


def test_event_configurations_are_checked_before_anything_changes(emulator, iot):
    iot.set_v2_logging_options(defaultLogLevel="WARN")
    for bad in ([{"eventType": "Teleport", "logLevel": "INFO"}],
                [{"eventType": "Connect", "logLevel": "LOUD"}],
                [{"eventType": "Connect", "logDestination": "no spaces allowed"}],
                [{"eventType": "Connect", "logLevel": "INFO"}, {"eventType": "Connect", "logLevel": "ERROR"}]):
        code, status = error_of(iot.set_v2_logging_options, defaultLogLevel="DEBUG", eventConfigurations=bad)
        assert (code, status) == ("InvalidRequestException", 400), bad
    options = iot.get_v2_logging_options()
    assert options["defaultLogLevel"] == "WARN" and "eventConfigurations" not in options


def test_iot_data_retained_message_calls_write_their_entries(emulator):
    device = Device(emulator, "retainer")
    device.publish("state/lamp", retain=True)
    device.stop()
    data = emulator.client("iot-data")
    message = data.get_retained_message(topic="state/lamp")
    assert message["qos"] == 1
    assert [t["topic"] for t in data.list_retained_messages()["retainedTopics"]] == ["state/lamp"]
    assert error_of(data.get_retained_message, topic="state/none") == ("ResourceNotFoundException", 404)

    assert wait_until(lambda: len(of(emulator, "GetRetainedMessage")) == 2 and of(emulator, "ListRetainedMessage"))
    found, missing = of(emulator, "GetRetainedMessage")
    assert found["status"] == "Success" and found["logLevel"] == "INFO" and found["protocol"] == "HTTP"
    assert found["topicName"] == "state/lamp" and found["qos"] == "1"
    assert TIMESTAMP.match(found["lastModifiedDate"])
    assert missing["status"] == "Failure" and missing["logLevel"] == "ERROR"
    assert missing["topicName"] == "state/none" and missing["reason"] == "RESOURCE_NOT_FOUND"
    assert "qos" not in missing
    listed = of(emulator, "ListRetainedMessage")[0]
    assert listed["protocol"] == "HTTP" and listed["status"] == "Success"
    check_entries(emulator.log_file, "GetRetainedMessage", "ListRetainedMessage")


def test_event_configurations_survive_a_restart_and_reset_clears_them(data_dir):
    import urllib.request

    from conftest import Emulator

    configurations = [{"eventType": "Subscribe", "logLevel": "ERROR", "logDestination": "kept"}]
    emulator = Emulator(data_dir)
    try:
        emulator.client("iot").set_v2_logging_options(defaultLogLevel="INFO", eventConfigurations=configurations)
    finally:
        emulator.stop()
    emulator = Emulator(data_dir)
    try:
        iot = emulator.client("iot")
        assert iot.get_v2_logging_options()["eventConfigurations"] == configurations
        device = Device(emulator, "after-restart")
        device.subscribe("room/+")
        device.publish("marker/restart")
        device.stop()
        assert wait_until(lambda: of(emulator, "Disconnect", "after-restart"))
        # Subscribe is at ERROR after the restart too: its Success entry is not written.
        assert not of(emulator, "Subscribe", "after-restart")
        urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/_iotemu/reset", method="POST"))
        device = Device(emulator, "after-reset")
        device.subscribe("room/+")
        device.stop()
        assert wait_until(lambda: of(emulator, "Subscribe", "after-reset"))
    finally:
        emulator.stop()


def test_connection_authn_error_is_written_only_once_event_configurations_opt_into_it(emulator, iot, tmp_path):
    """AWS's June 2026 announcement: Connection.AuthNError is off by default, like Ping."""
    from test_certificate_enforcement import connect, tls_client

    created = iot.create_keys_and_certificate(setAsActive=False)

    def refuse(client_id):
        client = tls_client(emulator, tmp_path, client_id, created["certificatePem"],
                            created["keyPair"]["PrivateKey"])
        connected, closed = connect(client, emulator)
        assert wait_until(closed.is_set, timeout=10) and not connected.is_set()
        client.loop_stop()

    refuse("refused-quietly")
    quiet = Device(emulator, "after-refusal")
    quiet.publish("marker/refused")
    assert wait_until(lambda: any(e.get("topicName") == "marker/refused" for e in of(emulator, "Publish-In")))
    assert not of(emulator, "Connection.AuthNError"), "off although the default level is DEBUG"

    logs = emulator.client("logs")
    iot.set_v2_logging_options(defaultLogLevel="INFO", eventConfigurations=[
        {"eventType": "Connection.AuthNError", "logLevel": "ERROR", "logDestination": "iot/authn"}])
    refuse("refused-loudly")
    assert wait_until(lambda: of(emulator, "Connection.AuthNError"))
    entry = of(emulator, "Connection.AuthNError")[0]
    assert (entry["logLevel"], entry["status"], entry["reason"]) == ("ERROR", "Failure", "DEVICE_CERTIFICATE_INACTIVE")
    assert wait_until(lambda: any(m["eventType"] == "Connection.AuthNError" for m in messages(logs, "iot/authn")))
    assert not any(m["eventType"] == "Connection.AuthNError" for m in messages(logs, "AWSIotLogsV2"))
    quiet.stop()
    check_entries(emulator.log_file, "Connection.AuthNError", "Publish-In")
