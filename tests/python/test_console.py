"""The console on the API port: a browser's GET / gets the page while every AWS call still
reaches its service; the demo device's actions write the entries a real device's would (checked
in the log file with `iotemu check-entries`); a reset removes what the demo made; and the page
itself in headless Chromium (tests/console/console.test.js, playwright-core), which presses
"Make it happen", finds the entries under one traceId, filters, opens a detail and runs a Logs
Insights query, with screenshots in tests/console/artifacts/."""
import json
import os
import pathlib
import shutil
import subprocess
import urllib.error
import urllib.request

from conftest import ROOT, check_entries, wait_until

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


def test_the_console_in_headless_chromium(emulator):
    node = shutil.which("node")
    assert node, "Node.js is missing: scripts/test.sh installs it"
    assert (CONSOLE / "node_modules" / "playwright-core").is_dir(), "run `npm ci` in tests/console (scripts/test.sh does)"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert os.path.exists(chromium), "Chromium is missing: scripts/test.sh installs Debian's chromium"
    artifacts = CONSOLE / "artifacts"
    for old in artifacts.glob("*.png"):
        old.unlink()
    env = dict(os.environ, IOTEMU_ENDPOINT=emulator.endpoint, ARTIFACTS=str(artifacts), CHROMIUM=chromium)
    result = subprocess.run([node, "console.test.js"], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert "03-live-timeline.png" in shots and "06-insights-table.png" in shots, shots
