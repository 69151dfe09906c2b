"""AWS IoT Core for LoRaWAN end to end, with parts that are not iotemu's: boto3 drives the
`iotwireless` API, the `websockets` package plays a LoRa Basics Station over the LNS protocol,
and the LoRaWAN device's frames are built and read by lora-packet (a maintained LoRaWAN codec for
Node.js, tests/lorawan/device.js). Covers a good join with uplinks reaching a republish rule and a
downlink reaching the device, then the three documented errors: a join with a wrong AppKey (Join),
a destination whose role cannot be assumed (Uplink), a downlink to a device that never joined
(Downlink); each entry is checked with `iotemu check-entries` and read back from /aws/iotwireless with
boto3's `logs`."""
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest
from websockets.sync.client import connect

from conftest import ROOT, Emulator, check_entries, error_of, iotemu_binary, wait_until

DEVICE_JS = ROOT / "tests" / "lorawan" / "device.js"
ROLE = "arn:aws:iam::123456789012:role/IoTWirelessDestinationRole"
APP_EUI = "70b3d57ed0000001"
APP_KEY = "2b7e151628aed2a6abf7158809cf4f3c"



@pytest.fixture(autouse=True, scope="module")
def lora_packet_installed():
    assert shutil.which("node") and (ROOT / "tests" / "lorawan" / "node_modules" / "lora-packet").exists(), \
        "the device needs Node.js and lora-packet: scripts/test.sh installs them (npm ci in tests/lorawan)"


class Device:
    """The device's frames, by lora-packet (one node process answering JSON lines)."""

    def __init__(self):
        self.node = subprocess.Popen(["node", str(DEVICE_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def __call__(self, op, **fields):
        self.node.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.node.stdin.flush()
        answer = json.loads(self.node.stdout.readline())
        assert "error" not in answer, answer
        return answer

    def stop(self):
        self.node.stdin.close()
        self.node.wait(timeout=5)


def le_int32(hex_bytes):
    return int.from_bytes(bytes.fromhex(hex_bytes), "little", signed=True)


def dashed(eui):
    return "-".join(eui[i:i + 2] for i in range(0, 16, 2)).upper()


class Station:
    """A LoRa Basics Station: discovery on /router-info, then its traffic socket."""

    def __init__(self, emulator, eui):
        with connect(f"ws://{emulator.lns}/router-info") as discovery:
            discovery.send(json.dumps({"router": dashed(eui)}))
            self.info = json.loads(discovery.recv(timeout=5))
        self.stack = contextlib.ExitStack()
        self.socket = self.stack.enter_context(connect(self.info["uri"]))
        self.socket.send(json.dumps({"msgtype": "version", "station": "2.0.6(test)", "protocol": 2}))
        self.config = json.loads(self.socket.recv(timeout=5))

    def send(self, message):
        self.socket.send(json.dumps(message))

    def recv(self, timeout=3):
        try:
            return json.loads(self.socket.recv(timeout=timeout))
        except TimeoutError:
            return None

    def join(self, phy, freq=868_100_000):
        """A jreq from the join-request's bytes, as a station reports one."""
        raw = bytes.fromhex(phy)
        self.send({"msgtype": "jreq", "MHdr": raw[0], "JoinEui": dashed(raw[1:9][::-1].hex()),
                   "DevEui": dashed(raw[9:17][::-1].hex()), "DevNonce": int.from_bytes(raw[17:19], "little"),
                   "MIC": le_int32(raw[19:23].hex()), "RefTime": 0.0, "DR": 5, "Freq": freq,
                   "upinfo": {"rctx": 0, "xtime": 1000, "gpstime": 0, "rssi": -50, "snr": 9.25}})

    def uplink(self, phy, freq=868_100_000):
        """An updf from a data frame's bytes."""
        raw = bytes.fromhex(phy)
        fopts_len = raw[5] & 0x0F
        rest = raw[8 + fopts_len:-4]
        self.send({"msgtype": "updf", "MHdr": raw[0], "DevAddr": le_int32(raw[1:5].hex()), "FCtrl": raw[5],
                   "FCnt": int.from_bytes(raw[6:8], "little"), "FOpts": raw[8:8 + fopts_len].hex(),
                   "FPort": rest[0] if rest else -1, "FRMPayload": rest[1:].hex(), "MIC": le_int32(raw[-4:].hex()),
                   "RefTime": 0.0, "DR": 5, "Freq": freq,
                   "upinfo": {"rctx": 0, "xtime": 2000, "gpstime": 0, "rssi": -52, "snr": 8.5}})

    def close(self):
        self.stack.close()


@pytest.fixture
def device():
    d = Device()
    yield d
    d.stop()


@pytest.fixture
def wireless(emulator):
    return emulator.client("iotwireless")


def lora_entries(emulator, event, **fields):
    return [e for e in emulator.entries()
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]


def stored(emulator, pattern):
    """The /aws/iotwireless entries matching a filter pattern, read back with boto3; none while
    the group does not exist yet (the log store makes it with its first entry, which reaches the
    store up to a few tens of milliseconds after the log file, as CloudWatch ingests late too)."""
    logs = emulator.client("logs")
    events = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/aws/iotwireless",
                                                                   filterPattern=pattern):
            events += [json.loads(e["message"]) for e in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return events


def onboard(wireless, gateway_eui, dev_eui, destination="lora-dest", expression_type="MqttTopic",
            expression="lorawan/uplinks", role=ROLE, app_key=APP_KEY):
    wireless.create_wireless_gateway(Name="gw", LoRaWAN={"GatewayEui": gateway_eui, "RfRegion": "EU868"})
    wireless.create_destination(Name=destination, ExpressionType=expression_type, Expression=expression,
                                RoleArn=role)
    profile = wireless.create_device_profile(Name="dp", LoRaWAN={"MacVersion": "1.0.3", "RfRegion": "EU868",
                                                                  "SupportsJoin": True})["Id"]
    service = wireless.create_service_profile(Name="sp", LoRaWAN={"AddGwMetadata": True})["Id"]
    return wireless.create_wireless_device(
        Type="LoRaWAN", Name="sensor", DestinationName=destination,
        LoRaWAN={"DevEui": dev_eui, "DeviceProfileId": profile, "ServiceProfileId": service,
                 "OtaaV1_0_x": {"AppKey": app_key, "AppEui": APP_EUI}})["Id"]


def join(station, device, dev_eui, dev_nonce="1a2b", app_key=APP_KEY):
    """Joins; the session lora-packet derives from the join-accept."""
    request = device("join_request", AppEUI=APP_EUI, DevEUI=dev_eui, DevNonce=dev_nonce, AppKey=app_key)
    station.join(request["phy"])
    accept = station.recv()
    assert accept and accept["msgtype"] == "dnmsg", accept
    assert accept["DevEui"] == dashed(dev_eui) and accept["RxDelay"] == 5 and accept["RX2Freq"] == 869_525_000
    session = device("join_accept", phy=accept["pdu"], AppKey=app_key, DevNonce=dev_nonce)
    assert session["mic_ok"], session
    return session


class Subscriber:
    def __init__(self, emulator, topic):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.messages = []
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="subscriber")
        self.paho.on_message = lambda c, u, m: self.messages.append(m)
        self.paho.connect(host, int(port))
        self.paho.loop_start()
        assert wait_until(self.paho.is_connected)
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe(topic, qos=1)
        assert done.wait(5)

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()


def test_control_plane_follows_the_model(wireless):
    gateway = wireless.create_wireless_gateway(Name="gw", LoRaWAN={"GatewayEui": "A8-40-41-FF-FF-1E-7D-E6"})
    got = wireless.get_wireless_gateway(Identifier="a84041ffff1e7de6", IdentifierType="GatewayEui")
    assert got["Id"] == gateway["Id"] and got["Arn"].startswith("arn:aws:iotwireless:us-east-1:")
    assert error_of(wireless.create_wireless_gateway, LoRaWAN={"GatewayEui": "a84041ffff1e7de6"}) == \
        ("ConflictException", 409)
    assert [g["Id"] for g in wireless.list_wireless_gateways()["WirelessGatewayList"]] == [gateway["Id"]]

    wireless.create_destination(Name="d1", ExpressionType="RuleName", Expression="r1", RoleArn=ROLE)
    assert wireless.get_destination(Name="d1")["Expression"] == "r1"
    wireless.update_destination(Name="d1", ExpressionType="MqttTopic", Expression="up/1")
    assert wireless.list_destinations()["DestinationList"][0]["ExpressionType"] == "MqttTopic"
    assert error_of(wireless.get_destination, Name="nope") == ("ResourceNotFoundException", 404)
    assert error_of(wireless.create_destination, Name="bad name!", ExpressionType="RuleName", Expression="r",
                    RoleArn=ROLE) == ("ValidationException", 400)
    assert error_of(wireless.create_destination, Name="d2", ExpressionType="Bogus", Expression="r",
                    RoleArn=ROLE) == ("ValidationException", 400)

    device_id = onboard_device_only(wireless)
    got = wireless.get_wireless_device(Identifier="0004a30b001c0530", IdentifierType="DevEui")
    assert got["Id"] == device_id and got["LoRaWAN"]["OtaaV1_0_x"]["AppKey"] == APP_KEY
    assert error_of(wireless.delete_destination, Name="d1") == ("ConflictException", 409)
    assert error_of(wireless.create_wireless_device, Type="LoRaWAN", DestinationName="d1",
                    LoRaWAN={"DevEui": "0004a30b001c0531"}) == ("ValidationException", 400)
    assert error_of(wireless.create_wireless_device, Type="LoRaWAN", DestinationName="missing",
                    LoRaWAN={"DevEui": "0004a30b001c0531",
                             "AbpV1_0_x": {"DevAddr": "01020304", "SessionKeys": {"NwkSKey": APP_KEY,
                                                                                  "AppSKey": APP_KEY}}}) \
        == ("ResourceNotFoundException", 404)
    listed = wireless.list_wireless_devices(DestinationName="d1")["WirelessDeviceList"]
    assert [(d["Id"], d["LoRaWAN"]["DevEui"]) for d in listed] == [(device_id, "0004a30b001c0530")]
    wireless.delete_wireless_device(Id=device_id)
    wireless.delete_destination(Name="d1")
    wireless.delete_wireless_gateway(Id=gateway["Id"])
    assert wireless.list_destinations()["DestinationList"] == []

    assert wireless.get_log_levels_by_resource_types()["DefaultLogLevel"] == "ERROR"
    wireless.update_log_levels_by_resource_types(DefaultLogLevel="INFO", WirelessDeviceLogOptions=[
        {"Type": "LoRaWAN", "LogLevel": "ERROR", "Events": [{"Event": "Join", "LogLevel": "DISABLED"}]}])
    levels = wireless.get_log_levels_by_resource_types()
    assert levels["DefaultLogLevel"] == "INFO"
    assert levels["WirelessDeviceLogOptions"][0]["Events"] == [{"Event": "Join", "LogLevel": "DISABLED"}]


def onboard_device_only(wireless):
    return wireless.create_wireless_device(
        Type="LoRaWAN", DestinationName="d1",
        LoRaWAN={"DevEui": "0004A30B001C0530", "OtaaV1_0_x": {"AppKey": APP_KEY, "AppEui": APP_EUI}})["Id"]


def test_a_join_and_uplinks_reach_a_republish_rule_and_a_downlink_reaches_the_device(emulator, wireless, device):
    iot = emulator.client("iot")
    # AWS ignores a LoRaWAN rule's FROM clause: the destination invokes the rule by name.
    iot.create_topic_rule(ruleName="lorawan_in", topicRulePayload={
        "sql": "SELECT WirelessDeviceId, PayloadData, WirelessMetadata.LoRaWAN.FPort AS FPort, "
               "WirelessMetadata.LoRaWAN.FCnt AS FCnt, WirelessMetadata.LoRaWAN.Gateways AS Gateways "
               "FROM 'unused/topic'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": "lorawan/decoded", "qos": 1}}],
        "awsIotSqlVersion": "2016-03-23"})
    wireless.update_log_levels_by_resource_types(DefaultLogLevel="INFO")
    gateway_eui, dev_eui = "a84041ffff1e7de6", "0004a30b001c0530"
    device_id = onboard(wireless, gateway_eui, dev_eui, expression_type="RuleName", expression="lorawan_in")
    subscriber = Subscriber(emulator, "lorawan/decoded")
    station = Station(emulator, gateway_eui)
    assert station.info["uri"].endswith(f"/traffic/{gateway_eui}") and "error" not in station.info
    assert station.config["msgtype"] == "router_config" and station.config["region"] == "EU863"

    session = join(station, device, dev_eui)
    payloads = ["01", "0203", "48656c6c6f"]
    for fcnt, data in enumerate(payloads):
        if fcnt == 1:
            sent = wireless.send_data_to_wireless_device(Id=device_id, TransmitMode=0, PayloadData="AQID",
                                                         WirelessMetadata={"LoRaWAN": {"FPort": 12}})
        frame = device("uplink", DevAddr=session["DevAddr"], FCnt=fcnt, FPort=7, payload=data,
                       NwkSKey=session["NwkSKey"], AppSKey=session["AppSKey"])
        station.uplink(frame["phy"])
        if fcnt == 1:
            # The queued downlink goes out in the receive window of the next uplink.
            dnmsg = station.recv()
            assert dnmsg and dnmsg["RxDelay"] == 1 and dnmsg["RX1Freq"] == 868_100_000, dnmsg
            down = device("downlink", phy=dnmsg["pdu"], NwkSKey=session["NwkSKey"], AppSKey=session["AppSKey"])
            assert down == {"mtype": "Unconfirmed Data Down", "mic_ok": True, "FCnt": 0, "FPort": 12, "ack": False,
                            "DevAddr": session["DevAddr"], "payload": "010203"}
            station.send({"msgtype": "dntxed", "diid": dnmsg["diid"], "DevEui": dnmsg["DevEui"], "rctx": 0,
                          "xtime": dnmsg["xtime"], "txtime": 1.0, "gpstime": 0})
    assert wait_until(lambda: len(subscriber.messages) == 3)
    got = [json.loads(m.payload) for m in subscriber.messages]
    assert [base64.b64decode(g["PayloadData"]).hex() for g in got] == payloads
    assert [(g["WirelessDeviceId"], g["FPort"], g["FCnt"]) for g in got] == [(device_id, 7, n) for n in range(3)]
    assert got[0]["Gateways"] == [{"GatewayEui": gateway_eui, "Rssi": -52, "Snr": 8.5}]
    subscriber.stop()
    station.close()

    # INFO entries: the join, each delivered uplink, the downlink; the rules engine's own entries.
    assert wait_until(lambda: len(lora_entries(emulator, "Uplink")) == 3 and lora_entries(emulator, "Downlink"))
    (joined,) = lora_entries(emulator, "Join")
    assert joined["logLevel"] == "INFO" and joined["devEui"] == dev_eui and joined["resourceId"] == device_id
    uplinks = lora_entries(emulator, "Uplink", logLevel="INFO")
    assert all(e["message"].startswith("Message delivery succeeded. MessageId: ") for e in uplinks)
    (down,) = lora_entries(emulator, "Downlink")
    assert sent["MessageId"] in down["message"] and down["resource"] == "WirelessGateway"
    assert [e for e in emulator.entries() if e.get("eventType") == "RuleExecution" and e["ruleName"] == "lorawan_in"]
    check_entries(emulator.log_file, "Join", "Uplink", "Downlink", "RuleExecution")
    assert wait_until(lambda: len(stored(emulator, '{ $.event = "Uplink" }')) == 3)
    assert stored(emulator, '{ $.event = "Join" }')[0]["devEui"] == dev_eui


def test_a_wrong_app_key_writes_the_join_error(emulator, wireless, device):
    gateway_eui, dev_eui = "a84041ffff1e7de7", "0004a30b001c0540"
    device_id = onboard(wireless, gateway_eui, dev_eui)
    station = Station(emulator, gateway_eui)
    wrong = device("join_request", AppEUI=APP_EUI, DevEUI=dev_eui, DevNonce="0001",
                   AppKey="000102030405060708090a0b0c0d0e0f")
    station.join(wrong["phy"])
    assert station.recv(timeout=1) is None, "no join-accept for a request signed with another key"
    station.close()
    assert wait_until(lambda: lora_entries(emulator, "Join"))
    (entry,) = lora_entries(emulator, "Join")
    assert entry == {"timestamp": entry["timestamp"], "resource": "WirelessDevice", "resourceId": device_id,
                     "devEui": dev_eui, "event": "Join", "logLevel": "ERROR",
                     "message": "invalid MIC. It's most likely caused by wrong root keys."}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", entry["timestamp"])
    assert list(entry) == ["timestamp", "resource", "resourceId", "devEui", "event", "logLevel", "message"]
    check_entries(emulator.log_file, "Join")
    assert wait_until(lambda: stored(emulator, '{ $.event = "Join" && $.logLevel = "ERROR" }'))
    assert stored(emulator, '{ $.event = "Join" }') == [entry]

    # A device whose own level is DISABLED writes nothing more.
    wireless.put_resource_log_level(ResourceIdentifier=device_id, ResourceType="WirelessDevice", LogLevel="DISABLED")
    assert wireless.get_resource_log_level(ResourceIdentifier=device_id,
                                           ResourceType="WirelessDevice")["LogLevel"] == "DISABLED"
    station = Station(emulator, gateway_eui)
    station.join(device("join_request", AppEUI=APP_EUI, DevEUI=dev_eui, DevNonce="0002",
                        AppKey="000102030405060708090a0b0c0d0e0f")["phy"])
    assert station.recv(timeout=1) is None
    station.close()
    wireless.reset_resource_log_level(ResourceIdentifier=device_id, ResourceType="WirelessDevice")
    assert "LogLevel" not in wireless.get_resource_log_level(ResourceIdentifier=device_id,
                                                             ResourceType="WirelessDevice")
    assert len(lora_entries(emulator, "Join")) == 1


def test_a_role_that_cannot_be_assumed_writes_the_uplink_error(data_dir, device):
    config = data_dir / "wireless.toml"
    config.write_text('[wireless]\nallowed_role_arns = ["arn:aws:iam::123456789012:role/Allowed"]\n')
    emulator = Emulator(data_dir / "run", "--config", str(config))
    try:
        wireless = emulator.client("iotwireless")
        refused = "arn:aws:iam::123456789012:role/ExecuteRules_Role"
        gateway_eui, dev_eui = "a84041ffff1e7de8", "0004a30b001c0550"
        device_id = onboard(wireless, gateway_eui, dev_eui, role=refused)
        subscriber = Subscriber(emulator, "lorawan/#")
        station = Station(emulator, gateway_eui)
        session = join(station, device, dev_eui)
        frame = device("uplink", DevAddr=session["DevAddr"], FCnt=0, FPort=1, payload="aa",
                       NwkSKey=session["NwkSKey"], AppSKey=session["AppSKey"])
        station.uplink(frame["phy"])
        assert wait_until(lambda: lora_entries(emulator, "Uplink"))
        station.close()
        (entry,) = lora_entries(emulator, "Uplink")
        assert list(entry) == ["timestamp", "resource", "resourceId", "event", "logLevel", "message"]
        assert (entry["resource"], entry["resourceId"], entry["logLevel"]) == ("WirelessDevice", device_id, "ERROR")
        assert re.fullmatch(
            rf"Cannot assume role MessageId: [0-9a-f-]{{36}}\. WirelessDeviceId: {device_id}\. "
            r"Context: LorawanDataPlaneUplink\. reason: AccessDenied: User: arn:aws:sts::123456789012:assumed-role/"
            rf"DataRoutingServiceRole/[0-9a-f]{{32}} is not authorized to perform: sts:AssumeRole on resource: "
            rf"{re.escape(refused)}\tstatus code: 403, request id: [0-9a-f-]{{36}}", entry["message"]), entry
        assert subscriber.messages == [], "the uplink reached nobody"
        subscriber.stop()
        check_entries(emulator.log_file, "Uplink")
        assert wait_until(lambda: stored(emulator, '{ $.event = "Uplink" && $.logLevel = "ERROR" }') == [entry])
    finally:
        emulator.stop()


def test_a_downlink_to_a_device_that_never_joined_writes_the_downlink_error(emulator, wireless):
    device_id = onboard(wireless, "a84041ffff1e7de9", "0004a30b001c0560")
    sent = wireless.send_data_to_wireless_device(Id=device_id, TransmitMode=1, PayloadData="aGk=",
                                                 WirelessMetadata={"LoRaWAN": {"FPort": 3}})
    assert sent["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert wait_until(lambda: lora_entries(emulator, "Downlink"))
    (entry,) = lora_entries(emulator, "Downlink")
    assert entry == {
        "timestamp": entry["timestamp"], "resource": "WirelessGateway", "resourceId": device_id,
        "event": "Downlink", "logLevel": "ERROR",
        "message": f"Downlink returns an error when delivering application message. MessageId: {sent['MessageId']}. "
                   f"WirelessDeviceId: {device_id}. Context: LorawanDataPlaneDownlink.  reason: "
                   f'{{"Message":"device session not found. deviceId={device_id}"}}'}
    check_entries(emulator.log_file, "Downlink")
    assert wait_until(lambda: stored(emulator, '{ $.event = "Downlink" }') == [entry])
    assert error_of(wireless.send_data_to_wireless_device, Id="nope", TransmitMode=0, PayloadData="aGk=",
                    WirelessMetadata={"LoRaWAN": {"FPort": 3}}) == ("ResourceNotFoundException", 404)


def test_only_registered_gateways_connect(emulator, wireless):
    with connect(f"ws://{emulator.lns}/router-info") as discovery:
        discovery.send(json.dumps({"router": "b827:ebff:fe61:51ed"}))
        answer = json.loads(discovery.recv(timeout=5))
    assert answer["router"] == "b827:ebff:fe61:51ed" and "not registered" in answer["error"]
    with pytest.raises(Exception, match="404"):
        connect(f"ws://{emulator.lns}/traffic/b827ebfffe6151ed")
    wireless.create_wireless_gateway(LoRaWAN={"GatewayEui": "b827ebfffe6151ed"})
    station = Station(emulator, "b827ebfffe6151ed")
    assert station.config["msgtype"] == "router_config"
    station.close()


def test_lora_simulate_plays_the_whole_flow(emulator):
    subscriber = Subscriber(emulator, "lorawan/uplinks")
    result = subprocess.run(
        [iotemu_binary(), "lora", "simulate", "--endpoint", emulator.endpoint, "--lns", f"ws://{emulator.lns}",
         "-n", "2"], capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("IOTEMU_")})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "device: joined, DevAddr" in out and out.count("device: uplink FCnt") == 2
    assert "device: downlink in RX1 (RxDelay 1), FPort Some(1), payload 4f4b" in out
    # Its destination is an MQTT topic: each uplink reaches the subscriber as AWS's uplink message.
    assert wait_until(lambda: len(subscriber.messages) == 2)
    got = [json.loads(m.payload) for m in subscriber.messages]
    assert [base64.b64decode(g["PayloadData"]) for g in got] == [b"Hello", b"Hello"]
    assert [g["WirelessMetadata"]["LoRaWAN"]["FCnt"] for g in got] == [0, 1]
    subscriber.stop()
