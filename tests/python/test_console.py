"""The console on the API port: a browser's GET / gets the page while every AWS call still
reaches its service; the demo device's actions write the entries a real device's would (checked
in the log file with `iotemu check-entries`); a reset removes what the demo made; and the page
itself in headless Chromium (tests/console/console.test.js, playwright-core), which presses
"Make it happen", finds the entries under one traceId, filters, opens a detail, runs a Logs
Insights query and reads the state view (a connected client, a named shadow, a rule's recent
match, a job's execution), with screenshots in tests/console/artifacts/. The state view's
connected clients come from `GET /_iotemu/connections`, the broker's own session table."""
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import time
import urllib.request

import paho.mqtt.client as mqtt
from conftest import ROOT, check_entries, paho_client, wait_until

CONSOLE = ROOT / "tests" / "console"


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def demo(emulator, action):
    request = urllib.request.Request(f"{emulator.endpoint}/_iotemu/demo/{action}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def test_the_page_and_the_aws_apis_share_the_port(emulator):
    status, content_type, body = get(emulator.endpoint + "/")
    assert status == 200 and content_type.startswith("text/html") and "iotemu console" in body
    for asset in ("/_iotemu/console/app.js", "/_iotemu/console/app.css"):
        assert get(emulator.endpoint + asset)[0] == 200
    spec = json.loads(get(emulator.endpoint + "/_iotemu/spec")[2])
    assert "Publish-In" in [e["eventType"] for e in spec["components"]["broker"]["entries"]]
    assert "traceId" in spec["common"]["logGroups"]["AWSIotLogsV2"]["attributes"]
    # A GET / with SigV4 credentials is an AWS call, not the page.
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/nosuchservice/aws4_request, SignedHeaders=host, Signature=0"
    status, _, body = get(emulator.endpoint + "/", {"Authorization": auth})
    assert status == 400 and "nosuchservice" in body
    # The SDKs' calls on POST / still reach their service.
    groups = emulator.client("logs").describe_log_groups()["logGroups"]
    assert isinstance(groups, list)
    assert "things" in emulator.client("iot").list_things()


def test_the_demo_device_writes_real_entries_and_reset_removes_its_things(emulator):
    for action in ("publish", "shadow", "denied", "basic-ingest"):
        assert demo(emulator, action)["clientId"] == "iotemu-demo-device"

    def entries():
        return [e for e in emulator.entries() if e.get("clientId") == "iotemu-demo-device" or "iotemu-demo" in e.get("topicName", "")]

    assert wait_until(lambda: any(e["eventType"] == "RuleNotFound" for e in entries()))
    by_trace = {}
    for e in entries():
        by_trace.setdefault(e.get("traceId"), []).append(e)
    stories = [[(e["eventType"], e["status"]) for e in group] for group in by_trace.values()]
    assert [("Publish-In", "Success"), ("Publish-Out", "Success")] in stories
    assert [("Publish-In", "Success"), ("UpdateThingShadow", "Success"), ("Publish-Out", "Success")] in stories
    assert [("Publish-In", "Success"), ("RuleNotFound", "Failure")] in stories
    denied = [e for e in entries() if e["eventType"] == "Publish-In" and e["status"] == "Failure"]
    assert [(e["topicName"], e["reason"]) for e in denied] == [("iotemu-demo/denied", "AUTHORIZATION_FAILURE")]
    check_entries(emulator.log_file, "Publish-In", "Publish-Out", "UpdateThingShadow", "RuleNotFound")

    iot = emulator.client("iot")
    assert [p["policyName"] for p in iot.list_policies()["policies"]] == ["iotemu-demo-connect-only"]
    assert len(iot.list_certificates()["certificates"]) == 1
    urllib.request.urlopen(urllib.request.Request(emulator.endpoint + "/_iotemu/reset", method="POST"), timeout=10)
    assert iot.list_policies()["policies"] == [] and iot.list_certificates()["certificates"] == []


def close(client):
    client.disconnect()
    client.loop_stop()


def connections(emulator):
    return json.loads(get(emulator.endpoint + "/_iotemu/connections")[2])["connections"]


def test_connections_lists_the_clients_in_the_broker_session_table(emulator):
    assert connections(emulator) == []
    before = int(time.time() * 1000)
    old = paho_client(emulator, "console-v311")
    new = paho_client(emulator, "console-v5", mqtt.MQTTv5)
    new.subscribe([("a/#", 0), ("b/+", 1)])
    assert wait_until(lambda: [c["subscriptions"] for c in connections(emulator)] == [0, 2])
    listed = connections(emulator)
    assert [(c["clientId"], c["protocol"], c["mqttVersion"], c["principalId"]) for c in listed] == [
        ("console-v311", "MQTT", "3.1.1", "anonymous"),
        ("console-v5", "MQTT", "5", "anonymous"),
    ]
    for c in listed:
        assert before - 1000 <= c["connectedSince"] <= int(time.time() * 1000) + 1000, c
        assert c["sourceIp"] == "127.0.0.1" and c["sourcePort"] > 0
        assert c["persistentSession"] is False
    # The same table DeleteConnection works on: a client it disconnects is gone from the list
    # (paho's network thread is stopped first, or it would connect again).
    old.loop_stop()
    emulator.client("iot-data").delete_connection(clientId="console-v311")
    assert wait_until(lambda: [c["clientId"] for c in connections(emulator)] == ["console-v5"])
    close(new)
    assert wait_until(lambda: connections(emulator) == [])
    health = json.loads(get(emulator.endpoint + "/_iotemu/health")[2])
    assert health["liveTailLagged"] == 0


def test_the_live_stream_batches_many_entries_into_few_writes(emulator):
    """A burst of entries reaches an SSE reader complete and in order, in far fewer writes than
    entries: the stream coalesces them (each write is one HTTP chunk, counted here)."""
    host, port = emulator.api.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /_iotemu/logs/stream?clientId=burst&eventType=Publish-In HTTP/1.1\r\nHost: x\r\n\r\n")
    reader = sock.makefile("rb")
    head = []
    while (line := reader.readline()) not in (b"\r\n", b""):
        head.append(line.decode().strip().lower())
    assert head[0].startswith("http/1.1 200") and "content-type: text/event-stream" in head, head
    assert "transfer-encoding: chunked" in head, head
    client = paho_client(emulator, "burst")
    for n in range(300):
        client.publish(f"burst/{n}", b"x", qos=0)
    text, chunks = "", 0
    while text.count("\n\n") < 300:
        size = int(reader.readline().strip(), 16)
        text += reader.read(size).decode()
        assert reader.read(2) == b"\r\n"
        chunks += 1
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("id: ") for e in events), events[:3]
    topics = [json.loads(e.split("data: ", 1)[1])["topicName"] for e in events]
    assert topics == [f"burst/{n}" for n in range(300)]
    ids = [int(e.split("\n", 1)[0][4:]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 300
    print(f"300 entries in {chunks} writes")
    assert chunks < 150, chunks
    sock.close()
    close(client)


def make_state(emulator):
    """What the state view must show: a connected MQTT 5 client, a named shadow, a rule with a
    recent match and a job with its execution, made with boto3 and paho."""
    iot, data = emulator.client("iot"), emulator.client("iot-data")
    thing_arn = iot.create_thing(thingName="console-state-thing")["thingArn"]
    data.update_thing_shadow(thingName="console-state-thing", shadowName="console-config",
                             payload=json.dumps({"state": {"desired": {"mode": "eco"}, "reported": {"mode": "boost"}}}))
    iot.create_topic_rule(ruleName="console_state_rule", topicRulePayload={
        "sql": "SELECT * FROM 'console/state/#'", "ruleDisabled": False, "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": "console/republished", "roleArn": "arn:aws:iam::123456789012:role/r"}}],
    })
    iot.create_job(jobId="console-state-job", targets=[thing_arn], document=json.dumps({"operation": "demo"}))
    client = paho_client(emulator, "console-state-client", mqtt.MQTTv5)
    client.publish("console/state/temperature", b'{"t":1}', qos=1).wait_for_publish(timeout=5)
    assert wait_until(lambda: any(e["eventType"] == "RuleMatch" and e.get("ruleName") == "console_state_rule"
                                  for e in emulator.entries()))
    return client


def test_the_console_in_headless_chromium(emulator):
    node = shutil.which("node")
    assert node, "Node.js is missing: scripts/test.sh installs it"
    assert (CONSOLE / "node_modules" / "playwright-core").is_dir(), "run `npm ci` in tests/console (scripts/test.sh does)"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert os.path.exists(chromium), "Chromium is missing: scripts/test.sh installs Debian's chromium"
    artifacts = CONSOLE / "artifacts"
    for old in artifacts.glob("[0-9]*.png"):
        old.unlink()
    client = make_state(emulator)
    env = dict(os.environ, IOTEMU_ENDPOINT=emulator.endpoint, ARTIFACTS=str(artifacts), CHROMIUM=chromium)
    result = subprocess.run([node, "console.test.js"], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=300)
    close(client)
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    for name in ("03-live-timeline.png", "06-insights-table.png", "09-state.png", "10-state-dark.png"):
        assert name in shots, shots


def test_the_console_in_headless_firefox(emulator, tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is missing: scripts/test.sh installs it"
    assert (CONSOLE / "node_modules" / "puppeteer-core").is_dir(), "run `npm ci` in tests/console (scripts/test.sh does)"
    firefox = os.environ.get("FIREFOX", "/usr/bin/firefox-esr")
    assert os.path.exists(firefox), "Firefox is missing: scripts/test.sh installs Debian's firefox-esr"
    artifacts = CONSOLE / "artifacts"
    for old in artifacts.glob("firefox-*.png"):
        old.unlink()
    client = make_state(emulator)
    # Firefox keeps its profile and caches under HOME.
    env = dict(os.environ, IOTEMU_ENDPOINT=emulator.endpoint, ARTIFACTS=str(artifacts), FIREFOX=firefox, HOME=str(tmp_path))
    result = subprocess.run([node, "firefox.test.js"], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=300)
    close(client)
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in artifacts.glob("firefox-*.png"))
    assert shots == [f"firefox-0{n}-{s}.png" for n, s in enumerate(["map", "live", "detail", "insights", "state"], 1)], shots
