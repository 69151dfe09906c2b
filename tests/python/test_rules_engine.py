"""The rules engine end to end: boto3 creates rules, paho clients publish and subscribe, local
HTTP servers stand in for web services and Lambda functions, and the log file is read back and
checked with `iotemu check-entries`. Covers republish (templates, the traceId chain to the
republished message's Publish-Out), a WHERE that does not match, http, lambda, cloudwatchLogs,
an action with no [aws_services] endpoint reaching the errorAction, Basic Ingest and RuleNotFound,
throttling, the bounded queue, loops, reserved topics as rule sources, and rules of the config
file."""
import base64
import http.server
import json
import threading
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, wait_until

ROLE = "arn:aws:iam::123456789012:role/rules"


class Client:
    """A paho client (MQTT 3.1.1 unless told) that keeps what it receives."""

    def __init__(self, emulator, client_id, subscribe=(), protocol=mqtt.MQTTv311):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.messages = []
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.paho.on_message = lambda c, u, m: self.messages.append(m)
        self.paho.connect(host, int(port))
        self.paho.loop_start()
        assert wait_until(self.paho.is_connected)
        for topic in subscribe:
            done = threading.Event()
            self.paho.on_subscribe = lambda *a: done.set()
            self.paho.subscribe(topic, qos=1)
            assert done.wait(5)

    def publish(self, topic, payload, **kwargs):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.paho.publish(topic, body, qos=1, **kwargs).wait_for_publish(timeout=5)

    def on(self, topic):
        return [m for m in self.messages if m.topic == topic]

    def stop(self):
        self.paho.disconnect()
        self.paho.loop_stop()


class Server:
    """A local HTTP server that records each POST; `gate`, when given, holds every answer."""

    def __init__(self, status=200, gate=None):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.requests.append((self.path, dict(self.headers), body))
                if gate is not None:
                    gate.wait(10)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def rule(iot, name, sql, actions, **extra):
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": sql, "actions": actions, "awsIotSqlVersion": "2016-03-23", **extra})


def of(emulator, event, **fields):
    return [e for e in emulator.entries()
            if e.get("eventType") == event and all(e.get(k) == v for k, v in fields.items())]


def test_republish_lands_and_the_trace_id_runs_from_publish_in_to_the_republished_publish_out(emulator, iot):
    rule(iot, "hot", "SELECT temp, topic(2) AS device FROM 'sensors/+/data' WHERE temp > 30", [
        {"republish": {"roleArn": ROLE, "topic": "alerts/${topic(2)}", "qos": 1}}])
    watcher = Client(emulator, "watcher", ["alerts/#"])
    device = Client(emulator, "device-1")
    device.publish("sensors/d1/data", {"temp": 40, "humidity": 3})
    device.publish("sensors/d2/data", {"temp": 10})
    assert wait_until(lambda: watcher.on("alerts/d1"))
    assert json.loads(watcher.on("alerts/d1")[0].payload) == {"temp": 40, "device": "d1"}
    assert watcher.on("alerts/d1")[0].qos == 1

    # Entries reach the log file a moment after the messages they describe.
    assert wait_until(lambda: of(emulator, "Publish-Out", topicName="alerts/d1") and of(emulator, "RuleExecution")
                      and of(emulator, "Publish-In", topicName="sensors/d2/data"))
    (hot_in,) = of(emulator, "Publish-In", topicName="sensors/d1/data")
    (cold_in,) = of(emulator, "Publish-In", topicName="sensors/d2/data")
    trace = hot_in["traceId"]
    (match,) = of(emulator, "RuleMatch", traceId=trace)
    assert match["ruleName"] == "hot" and match["clientId"] == "device-1" and match["topicName"] == "sensors/d1/data"
    (starting,) = of(emulator, "StartingRuleExecution", traceId=trace)
    assert starting["ruleAction"] == "RepublishAction" and starting["logLevel"] == "DEBUG"
    (execution,) = of(emulator, "RuleExecution", traceId=trace)
    assert execution["status"] == "Success" and execution["resources"] == {"RepublishTopic": "alerts/d1"}
    (out,) = of(emulator, "Publish-Out", topicName="alerts/d1")
    assert out["traceId"] == trace and out["clientId"] == "watcher"
    # The WHERE clause did not hold for the second message: no rule entry at all.
    assert not [e for e in emulator.entries() if e["traceId"] == cold_in["traceId"] and "ruleName" in e]
    check_entries(emulator.log_file, "RuleMatch", "StartingRuleExecution", "RuleExecution", "Publish-Out")
    watcher.stop()
    device.stop()


def test_http_action_posts_the_selected_payload_without_delaying_mqtt(emulator, iot):
    gate = threading.Event()
    server = Server(gate=gate)
    rule(iot, "to_web", "SELECT temp, clientid() AS who FROM 'web/+'", [{"http": {
        "url": server.url + "/ingest/${topic(2)}",
        "headers": [{"key": "x-device", "value": "${topic(2)}"}, {"key": "x-static", "value": "yes"}]}}])
    watcher = Client(emulator, "watcher", ["web/#"])
    device = Client(emulator, "dev-http")
    device.publish("web/d7", {"temp": 21})
    assert wait_until(lambda: server.requests), "the action reached the server"
    # While the server holds its answer, the same connection's next publish is acknowledged and
    # delivered, and the rule already sends that one too: nothing waits on the slow action.
    second = device.paho.publish("web/d8", json.dumps({"temp": 22}), qos=1)
    assert wait_until(second.is_published), "PUBACK while the first action is in flight"
    assert wait_until(lambda: watcher.on("web/d7") and watcher.on("web/d8"))
    assert wait_until(lambda: len(server.requests) == 2)
    assert not of(emulator, "RuleExecution", ruleName="to_web")
    gate.set()
    path, headers, body = server.requests[0]
    assert path == "/ingest/d7" and json.loads(body) == {"temp": 21, "who": "dev-http"}
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-device"] == "d7" and lower["x-static"] == "yes"
    assert lower["content-type"] == "application/json"
    assert wait_until(lambda: len(of(emulator, "RuleExecution", ruleName="to_web")) == 2)
    executions = of(emulator, "RuleExecution", ruleName="to_web")
    assert all(e["status"] == "Success" and e["ruleAction"] == "HttpAction" for e in executions)
    assert sorted(e["resources"]["Url"] for e in executions) == [server.url + "/ingest/d7", server.url + "/ingest/d8"]
    server.stop()
    watcher.stop()
    device.stop()


def test_a_failing_action_reaches_the_error_action_with_aws_error_payload(emulator, iot):
    failing = Server(status=404)
    rule(iot, "fragile", "SELECT * FROM 'fragile/+'", [
        {"s3": {"roleArn": ROLE, "bucketName": "my-bucket", "key": "k"}},
        {"http": {"url": failing.url + "/missing"}},
    ], errorAction={"republish": {"roleArn": ROLE, "topic": "errors/${topic(2)}"}})
    watcher = Client(emulator, "watcher", ["errors/#"])
    device = Client(emulator, "dev-err")
    device.publish("fragile/x", {"v": 1})
    assert wait_until(lambda: watcher.on("errors/x"))
    error = json.loads(watcher.on("errors/x")[0].payload)
    assert wait_until(lambda: len(of(emulator, "RuleExecution")) == 3), "two failures and the error action"
    (publish_in,) = of(emulator, "Publish-In", topicName="fragile/x")
    assert error["ruleName"] == "fragile" and error["topic"] == "fragile/x" and error["clientId"] == "dev-err"
    assert error["cloudwatchTraceId"] == publish_in["traceId"]
    assert json.loads(base64.b64decode(error["base64OriginalPayload"])) == {"v": 1}
    failures = {f["failedAction"]: f for f in error["failures"]}
    assert set(failures) == {"S3Action", "HttpAction"}, "one message with both failures"
    assert failures["S3Action"]["failedResource"] == "my-bucket"
    assert "[aws_services]" in failures["S3Action"]["errorMessage"], "the setting that would send it"
    assert "404" in failures["HttpAction"]["errorMessage"]
    s3 = of(emulator, "RuleExecution", ruleAction="S3Action")[0]
    assert s3["status"] == "Failure" and s3["reason"] == "ActionNotConfigured" and "endpoint_url" in s3["details"]
    assert s3["resources"] == {"BucketName": "my-bucket", "Key": "k"}
    http_failure = of(emulator, "RuleExecution", ruleAction="HttpAction")[0]
    assert http_failure["status"] == "Failure" and http_failure["logLevel"] == "ERROR"
    check_entries(emulator.log_file, "RuleExecution")
    failing.stop()
    watcher.stop()
    device.stop()


def test_basic_ingest_reaches_only_its_rule_and_a_missing_rule_is_rule_not_found(emulator, iot):
    rule(iot, "ingest", "SELECT *, topic() AS t FROM 'ignored/by/ingest'", [
        {"republish": {"roleArn": ROLE, "topic": "ingested/${topic(1)}"}}])
    watcher = Client(emulator, "watcher", ["#"])
    device = Client(emulator, "dev-ingest")
    device.publish("$aws/rules/ingest/plant/7", {"level": 3})
    assert wait_until(lambda: watcher.on("ingested/plant"))
    assert json.loads(watcher.on("ingested/plant")[0].payload) == {"level": 3, "t": "plant/7"}
    assert wait_until(lambda: of(emulator, "RuleMatch", ruleName="ingest"))
    assert not [m for m in watcher.messages if m.topic.startswith("$aws/rules")], "not delivered to subscribers"
    (match,) = of(emulator, "RuleMatch", ruleName="ingest")
    assert match["topicName"] == "$aws/rules/ingest/plant/7"

    device.publish("$aws/rules/no_such_rule/a", {"x": 1})
    iot.disable_topic_rule(ruleName="ingest")
    device.publish("$aws/rules/ingest/plant/8", {"level": 4})
    assert wait_until(lambda: len(of(emulator, "RuleNotFound")) == 2)
    missing, disabled = of(emulator, "RuleNotFound")
    assert missing["reason"] == "RuleNotFound" and missing["details"] == "Rule no_such_rule not found"
    assert missing["status"] == "Failure" and missing["logLevel"] == "ERROR"
    assert missing["topicName"] == "$aws/rules/no_such_rule/a" and missing["clientId"] == "dev-ingest"
    assert disabled["details"] == "Rule ingest not found"
    check_entries(emulator.log_file, "RuleNotFound")
    watcher.stop()

    # Basic Ingest topics cannot be subscribed to: MQTT 3.1.1 closes the connection.
    spy = Client(emulator, "spy")
    spy.paho.subscribe("$aws/rules/ingest/#", qos=1)
    assert wait_until(lambda: not spy.paho.is_connected())
    assert wait_until(lambda: of(emulator, "Subscribe", clientId="spy"))
    (refused,) = of(emulator, "Subscribe", clientId="spy")
    assert refused["status"] == "Failure"
    spy.stop()
    device.stop()


def test_a_message_republished_by_a_rule_does_not_trigger_it_again(emulator, iot):
    rule(iot, "echo", "SELECT * FROM 'loop/#'", [{"republish": {"roleArn": ROLE, "topic": "loop/again"}}])
    rule(iot, "chained", "SELECT * FROM 'loop/again'", [{"republish": {"roleArn": ROLE, "topic": "end"}}])
    watcher = Client(emulator, "watcher", ["loop/#", "end"])
    device = Client(emulator, "dev-loop")
    device.publish("loop/start", {"n": 1})
    assert wait_until(lambda: watcher.on("end"))
    assert wait_until(lambda: len(of(emulator, "RuleExecution")) == 2)
    assert [e["ruleName"] for e in of(emulator, "RuleMatch")] == ["echo", "chained"], "echo ran once"
    assert len(watcher.on("loop/again")) == 1
    assert len({e["traceId"] for e in of(emulator, "RuleMatch")}) == 1
    watcher.stop()
    device.stop()


def test_shadow_answers_feed_rules_and_get_thing_shadow_writes_function_execution(emulator, iot):
    rule(iot, "shadow_seen", "SELECT state.reported.temp AS temp, "
         "get_thing_shadow(topic(3), 'arn:aws:iam::123456789012:role/r').version AS version "
         "FROM '$aws/things/+/shadow/update/accepted'",
         [{"republish": {"roleArn": ROLE, "topic": "seen/${topic(3)}"}}])
    watcher = Client(emulator, "watcher", ["seen/#"])
    device = Client(emulator, "dev-shadow")
    device.publish("$aws/things/boiler/shadow/update", {"state": {"reported": {"temp": 71}}})
    assert wait_until(lambda: watcher.on("seen/boiler"))
    assert json.loads(watcher.on("seen/boiler")[0].payload) == {"temp": 71, "version": 1}
    # Entries reach the log file a moment after the messages they describe.
    assert wait_until(lambda: of(emulator, "FunctionExecution") and of(emulator, "RuleExecution"))
    (function,) = of(emulator, "FunctionExecution")
    assert function["clientId"] == "N/A" and function["ruleName"] == "shadow_seen"
    (update,) = of(emulator, "UpdateThingShadow")
    assert function["traceId"] == update["traceId"], "the shadow request's traceId"
    check_entries(emulator.log_file, "FunctionExecution", "RuleMatch")
    watcher.stop()
    device.stop()


def test_cloudwatch_logs_action_writes_into_a_log_group_read_back_with_the_logs_api(emulator, iot):
    logs = emulator.client("logs")
    logs.create_log_group(logGroupName="device-events")
    rule(iot, "to_logs", "SELECT * FROM 'events/+'", [
        {"cloudwatchLogs": {"roleArn": ROLE, "logGroupName": "device-events"}},
        {"cloudwatchLogs": {"roleArn": ROLE, "logGroupName": "no-such-group"}}])
    device = Client(emulator, "dev-logs")
    device.publish("events/door", {"open": True})
    assert wait_until(lambda: len(of(emulator, "RuleExecution", ruleName="to_logs")) == 2)
    events = logs.filter_log_events(logGroupName="device-events")["events"]
    assert [json.loads(e["message"]) for e in events] == [{"open": True}]
    ok, missing = of(emulator, "RuleExecution", ruleName="to_logs")
    assert ok["status"] == "Success" and ok["resources"] == {"LogGroupName": "device-events"}
    assert missing["status"] == "Failure" and missing["ruleAction"] == "CloudwatchLogsAction"
    device.stop()


@pytest.fixture
def configured(data_dir):
    """An emulator whose config file maps a Lambda ARN, throttles one rule, keeps a queue of one
    message with one remote action at a time, and defines a rule."""
    function = Server()
    gate = threading.Event()
    slow = Server(gate=gate)
    config = data_dir / "iotemu.toml"
    config.write_text(f"""
[rules]
queue_capacity = 1
max_in_flight = 1

[rules.rule_messages_per_second]
limited = 2

[rules.lambda_endpoints]
"arn:aws:lambda:us-east-1:123456789012:function:process" = "{function.url}/invoke"

[[rules.topic_rule]]
name = "from_config"
sql = "SELECT * FROM 'configured/+'"
aws_iot_sql_version = "2016-03-23"
actions = [{{ lambda = {{ functionArn = "arn:aws:lambda:us-east-1:123456789012:function:process:live" }} }}]

[[rules.topic_rule]]
name = "slow"
sql = "SELECT * FROM 'slow/+'"
actions = [{{ http = {{ url = "{slow.url}/slow" }} }}]
""")
    emu = Emulator(data_dir, "--config", str(config))
    yield emu, function, gate
    gate.set()
    emu.stop()
    function.stop()
    slow.stop()


def test_config_rules_lambda_throttling_and_a_full_queue(configured):
    emulator, function, gate = configured
    iot = emulator.client("iot")
    assert iot.get_topic_rule(ruleName="from_config")["rule"]["sql"] == "SELECT * FROM 'configured/+'"
    device = Client(emulator, "dev-config")

    # lambda: the qualified ARN falls back to the unqualified mapping.
    device.publish("configured/a", {"n": 1})
    assert wait_until(lambda: function.requests)
    path, headers, body = function.requests[0]
    assert path == "/invoke" and json.loads(body) == {"n": 1}
    assert {k.lower(): v for k, v in headers.items()}["x-amz-invocation-type"] == "Event"
    rule(iot, "unmapped", "SELECT * FROM 'unmapped'", [
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:other"}}])
    device.publish("unmapped", {"n": 2})
    assert wait_until(lambda: of(emulator, "RuleExecution", ruleName="unmapped"))
    (unmapped,) = of(emulator, "RuleExecution", ruleName="unmapped")
    assert unmapped["status"] == "Failure" and "lambda_endpoints" in unmapped["details"]

    # Throttling: 2 messages per second for `limited`.
    rule(iot, "limited", "SELECT * FROM 'burst'", [{"republish": {"roleArn": ROLE, "topic": "burst/out"}}])
    for i in range(8):
        device.publish("burst", {"i": i})
    assert wait_until(lambda: of(emulator, "RuleMessageThrottled"))
    throttled = of(emulator, "RuleMessageThrottled")[0]
    assert throttled["reason"] == "RuleExecutionThrottled"
    assert throttled["details"] == "Message for Rule limited throttled" and throttled["topicName"] == "burst"
    assert 1 <= len(of(emulator, "RuleMatch", ruleName="limited")) < 8

    # One slow remote action in flight, one message queued: the rest overflow as Failures.
    for i in range(6):
        device.publish("slow/x", {"i": i})
    assert wait_until(lambda: of(emulator, "RuleExecution", ruleName="slow", reason="RuleQueueFull"))
    full = of(emulator, "RuleExecution", ruleName="slow", reason="RuleQueueFull")[0]
    assert full["status"] == "Failure" and full["ruleAction"] == "HttpAction" and "queue" in full["details"]
    overflowed = lambda: json.loads(urllib.request.urlopen(emulator.endpoint + "/_iotemu/health").read())["rulesQueueFull"]
    assert wait_until(lambda: overflowed() == len(of(emulator, "RuleExecution", ruleName="slow", reason="RuleQueueFull")))
    assert overflowed() >= 1, "the health route counts what the queue refused"
    gate.set()
    check_entries(emulator.log_file, "RuleMessageThrottled", "RuleExecution")
    device.stop()


def test_iot_data_publish_feeds_rules_and_republish_to_a_reserved_topic_updates_a_shadow(emulator, iot):
    rule(iot, "to_shadow", "SELECT VALUE {'state': {'reported': {'temp': temp}}} FROM 'report/+'", [
        {"republish": {"roleArn": ROLE, "topic": "$$aws/things/${topic(2)}/shadow/update", "qos": 1}}])
    data = emulator.client("iot-data")
    data.publish(topic="report/kettle", qos=1, payload=json.dumps({"temp": 98}))
    assert wait_until(lambda: of(emulator, "UpdateThingShadow") and of(emulator, "RuleExecution", ruleName="to_shadow"))
    shadow = json.loads(data.get_thing_shadow(thingName="kettle")["payload"].read())
    assert shadow["state"]["reported"] == {"temp": 98}
    (publish_in,) = of(emulator, "Publish-In", topicName="report/kettle")
    assert publish_in["protocol"] == "HTTP"
    (execution,) = of(emulator, "RuleExecution", ruleName="to_shadow")
    assert execution["resources"] == {"RepublishTopic": "$aws/things/kettle/shadow/update"}
    assert of(emulator, "UpdateThingShadow")[0]["traceId"] == publish_in["traceId"] == execution["traceId"]


def test_republish_headers_reach_an_mqtt5_subscriber(emulator, iot):
    rule(iot, "headers", "SELECT * FROM 'h/+'", [{"republish": {"roleArn": ROLE, "topic": "h5/out", "headers": {
        "contentType": "application/json", "payloadFormatIndicator": "UTF-8_DATA",
        "responseTopic": "reply/${topic(2)}", "correlationData": "Y29ycmVsYXRpb24=", "messageExpiry": "60",
        "userProperties": [{"key": "device", "value": "${topic(2)}"}, {"key": "static", "value": "s"}]}}}])
    watcher = Client(emulator, "watcher5", ["h5/out"], protocol=mqtt.MQTTv5)
    device = Client(emulator, "dev-h")
    device.publish("h/d3", {"x": 1})
    assert wait_until(lambda: watcher.on("h5/out"))
    props = watcher.on("h5/out")[0].properties
    assert props.ContentType == "application/json" and props.PayloadFormatIndicator == 1
    assert props.ResponseTopic == "reply/d3" and props.CorrelationData == b"correlation"
    assert 0 < props.MessageExpiryInterval <= 60
    assert props.UserProperty == [("device", "d3"), ("static", "s")]
    watcher.stop()
    device.stop()


def test_several_workers_keep_each_topics_order_and_every_rule_sees_one_message(data_dir):
    """Four rule workers: each topic's messages stay in order through WHERE and republish while
    topics spread over the workers, and two rules on one message both act on it."""
    config = data_dir / "iotemu.toml"
    config.write_text("[rules]\nworkers = 4\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        iot = emulator.client("iot")
        rule(iot, "ordered", "SELECT seq FROM 'order/+/in' WHERE seq >= 0",
             [{"republish": {"roleArn": ROLE, "topic": "order/${topic(2)}/out"}}])
        rule(iot, "doubled", "SELECT seq * 2 AS twice FROM 'order/+/in' WHERE seq % 2 = 0",
             [{"republish": {"roleArn": ROLE, "topic": "twice/${topic(2)}"}}])
        watcher = Client(emulator, "order-watcher", subscribe=["order/+/out", "twice/+"])
        device = Client(emulator, "order-device")
        topics, count = [f"t{i}" for i in range(8)], 60
        infos = [device.paho.publish(f"order/{t}/in", json.dumps({"seq": n}), qos=1)
                 for n in range(count) for t in topics]
        for info in infos:
            info.wait_for_publish(timeout=10)
        expected = len(topics) * count + len(topics) * (count // 2)
        assert wait_until(lambda: len(watcher.messages) >= expected, timeout=30), len(watcher.messages)
        for t in topics:
            seqs = [json.loads(m.payload)["seq"] for m in watcher.on(f"order/{t}/out")]
            assert seqs == list(range(count)), f"{t}: {seqs}"
            twice = [json.loads(m.payload)["twice"] for m in watcher.on(f"twice/{t}")]
            assert twice == [2 * n for n in range(0, count, 2)], f"{t}: {twice}"
        watcher.stop()
        device.stop()
    finally:
        emulator.stop()
