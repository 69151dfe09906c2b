"""boto3 against the iotemu container that scripts/test-container.sh starts with
docker/seed.example.toml.

  drive.py seeded API_URL            the seed's state is there; then boto3 makes some of its own
                                     (a thing, a shadow, a publish, a rule whose http action calls
                                     http://localhost:PORT, so the binary must resolve a host
                                     name); prints sensor-1's certificateId
  drive.py restarted API_URL CERT_ID after a restart on the same volume: all of it is still there,
                                     the seed did not make a second certificate, and the entries
                                     from before the restart are in the CloudWatch Logs API

Exits non-zero with the failed assertion."""
import http.server
import json
import sys
import threading
import time

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"


def client(url, service):
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def certificate_of(iot, thing):
    principals = iot.list_thing_principals(thingName=thing)["principals"]
    assert len(principals) == 1, principals
    return principals[0]


def seeded_state(iot):
    """What docker/seed.example.toml declares, read back through the API."""
    names = {t["thingName"] for t in iot.list_things()["things"]}
    assert {"sensor-1", "sdk-device"} <= names, names
    sensor = iot.describe_thing(thingName="sensor-1")
    assert sensor["thingTypeName"] == "sensor", sensor
    assert sensor["attributes"] == {"room": "kitchen"}, sensor
    members = {t for t in iot.list_things_in_thing_group(thingGroupName="lab")["things"]}
    assert members == {"sensor-1", "sdk-device"}, members
    for thing in ("sensor-1", "sdk-device"):
        arn = certificate_of(iot, thing)
        policies = [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]]
        assert policies == ["lab-device"], policies
        cert_id = arn.rsplit("/", 1)[1]
        status = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"]
        assert status == "ACTIVE", status
    rule = iot.get_topic_rule(ruleName="high_temperature")["rule"]
    assert rule["sql"].startswith("SELECT * FROM 'sensors/+/telemetry'"), rule
    job = iot.describe_job(jobId="firmware-1")["job"]
    assert job["targets"] == [f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/lab"], job
    document = json.loads(iot.get_job_document(jobId="firmware-1")["document"])
    assert document == {"operation": "update", "version": "1.2.3"}, document
    options = iot.get_v2_logging_options()
    assert options["defaultLogLevel"] == "DEBUG", options


class Hook(http.server.BaseHTTPRequestHandler):
    """Keeps the bodies POSTed to it."""
    bodies = []

    def do_POST(self):
        Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def http_action_by_host_name(iot, data):
    """A rule's http action to http://localhost:PORT reaches a server on this machine."""
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    iot.create_topic_rule(ruleName="to_hook", topicRulePayload={
        "sql": "SELECT * FROM 'hook/in'", "actions": [{"http": {"url": f"http://localhost:{port}/hook"}}]})
    data.publish(topic="hook/in", qos=1, payload=json.dumps({"via": "http"}))
    deadline = time.time() + 10
    while not Hook.bodies and time.time() < deadline:
        time.sleep(0.05)
    server.shutdown()
    assert Hook.bodies and json.loads(Hook.bodies[0]) == {"via": "http"}, Hook.bodies


def seeded(url):
    iot = client(url, "iot")
    data = client(url, "iot-data")
    seeded_state(iot)
    http_action_by_host_name(iot, data)
    # The emulator's own state, made through the API, for the restart to find.
    iot.create_thing(thingName="made-by-test", attributePayload={"attributes": {"run": "1"}})
    data.update_thing_shadow(thingName="sdk-device",
                             payload=json.dumps({"state": {"reported": {"firmware": "1.2.2"}}}))
    data.publish(topic="sensors/sensor-1/telemetry", qos=1, payload=json.dumps({"temperature": 35}))
    print(certificate_of(iot, "sensor-1").rsplit("/", 1)[1])


def restarted(url, cert_id):
    iot = client(url, "iot")
    data = client(url, "iot-data")
    logs = client(url, "logs")
    seeded_state(iot)
    assert certificate_of(iot, "sensor-1").endswith("/" + cert_id), "the seed made another certificate"
    certificates = iot.list_certificates()["certificates"]
    assert len(certificates) == 2, [c["certificateId"] for c in certificates]
    made = iot.describe_thing(thingName="made-by-test")
    assert made["attributes"] == {"run": "1"}, made
    shadow = json.loads(data.get_thing_shadow(thingName="sdk-device")["payload"].read())
    assert shadow["state"]["reported"] == {"firmware": "1.2.2"}, shadow
    # Entries written before the restart, read back through the CloudWatch Logs API.
    deadline = time.time() + 10
    while True:
        events = logs.filter_log_events(
            logGroupName="AWSIotLogsV2",
            filterPattern='{ $.eventType = "Connect" && $.clientId = "sensor-1-sub" }')["events"]
        if events or time.time() > deadline:
            break
        time.sleep(0.2)
    assert events, "no Connect entry of sensor-1-sub in the logs API"
    entry = json.loads(events[0]["message"])
    assert entry["status"] == "Success" and entry["principalId"] == cert_id, entry
    publishes = logs.filter_log_events(
        logGroupName="AWSIotLogsV2",
        filterPattern='{ $.eventType = "Publish-In" && $.topicName = "sensors/sensor-1/telemetry" }')["events"]
    assert publishes, "no Publish-In entry for sensors/sensor-1/telemetry"


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"seeded": seeded, "restarted": restarted}[command](*args)
