"""What survives a restart of the emulator on the same data directory (paho-mqtt, boto3): retained
messages and persistent sessions (subscriptions, QoS 1 messages queued while the client was
offline, `sessionPresent`), after a graceful SIGTERM and after `kill -9`; and, after SIGTERM, the
SQLite database file alone holds the data (its write-ahead log was checkpointed)."""
import shutil
import signal
import threading

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, wait_until


def connect(emulator, client_id, clean_session=True):
    """A connected paho MQTT 3.1.1 client with its loop running, and its CONNACK flags."""
    host, port = emulator.mqtt.rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311, clean_session=clean_session)
    connected = threading.Event()
    flags = {}

    def on_connect(_client, _userdata, connect_flags, reason_code, _properties):
        flags["session_present"] = connect_flags.session_present
        flags["rc"] = reason_code
        connected.set()

    client.on_connect = on_connect
    client.received = []
    client.on_message = lambda _c, _u, message: client.received.append((message.topic, message.payload, message.retain))
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    assert connected.wait(10), "no CONNACK"
    assert not flags["rc"].is_failure, flags["rc"]
    return client, flags["session_present"]


def disconnect(client):
    client.disconnect()
    client.loop_stop()


def publish_acknowledged(client, topic, payload, retain=False):
    """Publishes at QoS 1 and waits for the PUBACK."""
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(timeout=10)
    assert info.is_published(), f"no PUBACK for {topic}"


def crash_or_stop(emulator, how):
    if how == "kill -9":
        emulator.process.send_signal(signal.SIGKILL)
        emulator.process.wait(timeout=10)
    else:
        emulator.stop()


@pytest.mark.parametrize("how", ["SIGTERM", "kill -9"])
def test_retained_messages_and_offline_sessions_survive_a_restart(data_dir, how):
    emulator = Emulator(data_dir)
    try:
        # A persistent session subscribes, then goes offline.
        device, present = connect(emulator, "durable-device", clean_session=False)
        assert not present
        result, _ = device.subscribe([("cmd/durable", 1), ("cmd/other/+", 1)])
        assert result == mqtt.MQTT_ERR_SUCCESS
        assert wait_until(lambda: any(e["eventType"] == "Subscribe" and e["topicName"] == "cmd/other/+"
                                      for e in emulator.entries()))
        disconnect(device)

        publisher, _ = connect(emulator, "durable-publisher")
        publish_acknowledged(publisher, "config/durable", b"retained-1", retain=True)
        publish_acknowledged(publisher, "config/deleted", b"to be deleted", retain=True)
        publish_acknowledged(publisher, "config/deleted", b"", retain=True)
        for n in range(3):
            publish_acknowledged(publisher, "cmd/durable", f"queued-{n}".encode())
        publish_acknowledged(publisher, "cmd/other/x", b"queued-3")
        disconnect(publisher)
    finally:
        crash_or_stop(emulator, how)

    emulator = Emulator(data_dir)
    try:
        device, present = connect(emulator, "durable-device", clean_session=False)
        assert present, "the persistent session is resumed: sessionPresent is set"
        assert wait_until(lambda: len(device.received) == 4), device.received
        assert [payload for _, payload, _ in device.received] == [b"queued-0", b"queued-1", b"queued-2", b"queued-3"]

        # Its subscriptions were restored too: a new message reaches it.
        publisher, _ = connect(emulator, "durable-publisher-2")
        publish_acknowledged(publisher, "cmd/other/y", b"after restart")
        assert wait_until(lambda: len(device.received) == 5), device.received

        reader, _ = connect(emulator, "durable-reader")
        reader.subscribe([("config/durable", 1), ("config/deleted", 1)])
        assert wait_until(lambda: len(reader.received) == 1), reader.received
        assert reader.received == [("config/durable", b"retained-1", True)], "the deleted one stays deleted"
        for client in (device, publisher, reader):
            disconnect(client)

        data = emulator.client("iot-data")
        assert data.get_retained_message(topic="config/durable")["payload"] == b"retained-1"

        # The queued messages were acknowledged: another restart replays nothing.
        crash_or_stop(emulator, how)
        emulator = Emulator(data_dir)
        device, present = connect(emulator, "durable-device", clean_session=False)
        assert present
        assert not wait_until(lambda: device.received, timeout=1.5), device.received
        disconnect(device)
    finally:
        crash_or_stop(emulator, "SIGTERM")


def test_after_sigterm_the_database_file_alone_holds_the_data(data_dir):
    emulator = Emulator(data_dir / "first")
    try:
        emulator.client("iot").create_thing(thingName="checkpointed")
        publisher, _ = connect(emulator, "wal-publisher")
        publish_acknowledged(publisher, "wal/retained", b"in the file", retain=True)
        disconnect(publisher)
    finally:
        emulator.stop()
    wal = data_dir / "first" / "iotemu.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the write-ahead log was checkpointed"
    # Only the database file goes to a fresh data directory: no -wal, no -shm.
    (data_dir / "second").mkdir()
    shutil.copy(data_dir / "first" / "iotemu.db", data_dir / "second" / "iotemu.db")
    emulator = Emulator(data_dir / "second")
    try:
        assert emulator.client("iot").describe_thing(thingName="checkpointed")["thingName"] == "checkpointed"
        retained = emulator.client("iot-data").get_retained_message(topic="wal/retained")
        assert retained["payload"] == b"in the file"
    finally:
        emulator.stop()
