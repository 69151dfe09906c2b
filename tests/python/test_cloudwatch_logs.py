"""The entries read back through the CloudWatch Logs API with boto3 `logs` and the AWS CLI,
after real MQTT traffic: every filter-pattern form returns exactly the matching entries (the
expected ones are picked from the log file by Python predicates), pagination walks each once,
time ranges cut, messages are byte-for-byte the log file's lines and pass `iotemu check-entries`;
entries survive a restart; retention and the store's bound; groups, streams and PutLogEvents."""
import json
import os
import pathlib
import subprocess
import tempfile
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, error_of, wait_until

GROUP = "AWSIotLogsV2"


def mqtt_traffic(emulator):
    """Connects dev-1, dev-2 and other; subscribes, publishes, and one refused CONNECT."""
    host, port = emulator.mqtt.rsplit(":", 1)
    clients = []
    for client_id in ("dev-1", "dev-2", "other"):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        client.connect(host, int(port))
        client.loop_start()
        clients.append(client)
    # paho refuses to subscribe or publish before its CONNACK.
    assert wait_until(lambda: all(c.is_connected() for c in clients))
    clients[2].subscribe("room/#", qos=1)
    time.sleep(0.2)
    for i, client in enumerate(clients[:2]):
        client.publish(f"room/{i}", b"{}", qos=1).wait_for_publish(timeout=5)
    time.sleep(0.2)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    # A client id over AWS's 128 bytes: a Connect Failure entry.
    refused = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-" + "x" * 130)
    refused.connect(host, int(port))
    refused.loop_start()
    time.sleep(0.3)
    refused.loop_stop()


def file_lines(emulator):
    text = emulator.log_file.read_text()
    return [line for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def in_time_order(lines):
    """The lines as FilterLogEvents returns them: by the entry's timestamp (milliseconds), ties in
    the order written (a stable sort). The file holds them in the order the pipeline received them,
    and two connections' entries can reach it a millisecond out of time order; GetLogEvents keeps
    a stream's written order."""
    return sorted(lines, key=lambda line: json.loads(line)["timestamp"])


def all_events(logs, **kwargs):
    """Every event of FilterLogEvents, following nextToken; checks no event comes twice."""
    events, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, **kwargs, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    ids = [e["eventId"] for e in events]
    assert len(ids) == len(set(ids)), "an event came twice"
    return events


@pytest.fixture
def traffic(emulator):
    mqtt_traffic(emulator)
    logs = emulator.client("logs")
    lines = file_lines(emulator)
    assert wait_until(lambda: len(all_events(logs)) == len(file_lines(emulator)))
    return logs, file_lines(emulator)


PATTERNS = {
    "Subscribe": lambda e, line: "Subscribe" in line,
    '"Publish-In"': lambda e, line: "Publish-In" in line,
    "?Subscribe ?Disconnect": lambda e, line: "Subscribe" in line or "Disconnect" in line,
    '"Publish-Out" -"room/0"': lambda e, line: "Publish-Out" in line and "room/0" not in line,
    "Connect dev": lambda e, line: "Connect" in line and "dev" in line,
    '{ $.eventType = "Connect" }': lambda e, line: e["eventType"] == "Connect",
    '{ $.status = "Failure" && $.clientId = "dev-*" }':
        lambda e, line: e["status"] == "Failure" and e.get("clientId", "").startswith("dev-"),
    "{ $.sourcePort > 1000 }": lambda e, line: e.get("sourcePort", 0) > 1000,
    '{ $.eventType = "Publish-In" && $.clientId = "dev-2" }':
        lambda e, line: e["eventType"] == "Publish-In" and e.get("clientId") == "dev-2",
    '{ ($.eventType = "Connect" || $.eventType = "Disconnect") && $.clientId != "other" }':
        lambda e, line: e["eventType"] in ("Connect", "Disconnect") and e.get("clientId") != "other",
}


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_every_filter_pattern_returns_exactly_the_matching_entries(traffic, pattern):
    logs, lines = traffic
    expected = [line for line in in_time_order(lines) if PATTERNS[pattern](json.loads(line), line)]
    assert expected, f"the traffic produces entries for {pattern}"
    got = [e["message"] for e in all_events(logs, filterPattern=pattern)]
    assert got == expected


def test_nested_json_fields_match(emulator):
    logs = emulator.client("logs")
    logs.create_log_group(logGroupName="rules")
    logs.create_log_stream(logGroupName="rules", logStreamName="s")
    now = int(time.time() * 1000)
    messages = [json.dumps({"eventType": "RuleExecution", "resources": {"RepublishTopic": topic}})
                for topic in ("alerts/fire", "status/ok", "alerts/flood")]
    logs.put_log_events(logGroupName="rules", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)])
    got = logs.filter_log_events(logGroupName="rules",
                                 filterPattern='{ $.resources.RepublishTopic = "alerts/*" }')["events"]
    assert [e["message"] for e in got] == [messages[0], messages[2]]


def test_pagination_walks_every_event_once(traffic):
    logs, lines = traffic
    pages, events, token = 0, [], None
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, limit=3, **({"nextToken": token} if token else {}))
        assert len(page["events"]) <= 3
        pages += 1
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert [e["message"] for e in events] == in_time_order(lines) and pages >= len(lines) // 3
    paginated = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, PaginationConfig={"PageSize": 4}) for e in page["events"]]
    assert paginated == in_time_order(lines)


def test_time_ranges_cut(traffic):
    logs, lines = traffic
    events = all_events(logs)
    stamps = sorted({e["timestamp"] for e in events})
    assert len(stamps) >= 2
    start, end = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    cut = all_events(logs, startTime=start, endTime=end)
    assert [e["message"] for e in cut] == [e["message"] for e in events if start <= e["timestamp"] <= end]
    assert all(start <= e["timestamp"] <= end for e in cut) and len(cut) < len(events)


def test_messages_are_the_entries_and_pass_the_checker(traffic):
    logs, lines = traffic
    events = all_events(logs)
    assert [e["message"] for e in events] == in_time_order(lines), "byte-for-byte what the file sink (and stdout) wrote"
    assert all(e["logStreamName"].startswith("iotemu/") for e in events)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(e["message"] for e in events) + "\n")
    try:
        check_entries(f.name, "Connect", "Publish-In")
    finally:
        os.unlink(f.name)


def test_get_log_events_reads_a_stream_both_ways(traffic):
    logs, lines = traffic
    stream = logs.describe_log_streams(logGroupName=GROUP)["logStreams"][0]
    name = stream["logStreamName"]
    assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"] and stream["storedBytes"] > 0
    head = logs.get_log_events(logGroupName=GROUP, logStreamName=name, startFromHead=True, limit=2)
    assert [e["message"] for e in head["events"]] == lines[:2]
    rest = logs.get_log_events(logGroupName=GROUP, logStreamName=name, nextToken=head["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == lines[2:]
    end = logs.get_log_events(logGroupName=GROUP, logStreamName=name, nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"], "the end repeats the token"
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=name, limit=2)
    assert [e["message"] for e in tail["events"]] == lines[-2:], "without startFromHead: the newest"
    before = logs.get_log_events(logGroupName=GROUP, logStreamName=name, limit=2,
                                 nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == lines[-4:-2]


def test_the_aws_cli_reads_the_entries(traffic, emulator):
    logs, lines = traffic
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    aws = ["aws", "--endpoint-url", emulator.endpoint, "--output", "json", "logs"]
    out = subprocess.run(aws + ["filter-log-events", "--log-group-name", GROUP, "--filter-pattern",
                                '{ $.eventType = "Connect" }'], env=env, check=True, capture_output=True, text=True)
    expected = [line for line in in_time_order(lines) if json.loads(line)["eventType"] == "Connect"]
    assert [e["message"] for e in json.loads(out.stdout)["events"]] == expected
    stream = logs.describe_log_streams(logGroupName=GROUP)["logStreams"][0]["logStreamName"]
    out = subprocess.run(aws + ["get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                                "--start-from-head"], env=env, check=True, capture_output=True, text=True)
    assert [e["message"] for e in json.loads(out.stdout)["events"]] == lines


def test_a_malformed_filter_pattern_says_where(emulator):
    logs = emulator.client("logs")
    for pattern in ['{ $.eventType = "Connect" ', "{ $.sourcePort > }", '{ $. = "x" }']:
        with pytest.raises(logs.exceptions.InvalidParameterException) as info:
            logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern)
        assert "position" in info.value.response["Error"]["Message"], pattern


def test_groups_streams_and_put_log_events(emulator):
    logs = emulator.client("logs")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [GROUP]
    logs.create_log_group(logGroupName="/app/a")
    logs.create_log_group(logGroupName="/app/b")
    assert error_of(logs.create_log_group, logGroupName="/app/a") == ("ResourceAlreadyExistsException", 400)
    assert error_of(logs.create_log_group, logGroupName="bad name!")[0] in ("InvalidParameterException",
                                                                          "ValidationException")
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/app/")["logGroups"]] == \
        ["/app/a", "/app/b"]
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="APP/B")["logGroups"]] == \
        ["/app/b"]
    first = logs.describe_log_groups(limit=1)
    assert len(first["logGroups"]) == 1 and first["nextToken"]
    assert error_of(logs.create_log_stream, logGroupName="/nope", logStreamName="s") == \
        ("ResourceNotFoundException", 400)
    logs.create_log_stream(logGroupName="/app/a", logStreamName="s1")
    assert error_of(logs.create_log_stream, logGroupName="/app/a", logStreamName="s1") == \
        ("ResourceAlreadyExistsException", 400)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/app/a", logStreamName="s1",
                        logEvents=[{"timestamp": now, "message": "hello"}, {"timestamp": now + 1, "message": "world"}])
    assert error_of(logs.put_log_events, logGroupName="/app/a", logStreamName="s1",
                    logEvents=[{"timestamp": now + 5, "message": "b"}, {"timestamp": now, "message": "a"}]) == \
        ("InvalidParameterException", 400), "events must be in chronological order"
    assert error_of(logs.put_log_events, logGroupName="/app/a", logStreamName="missing",
                    logEvents=[{"timestamp": now, "message": "x"}]) == ("ResourceNotFoundException", 400)
    future = logs.put_log_events(logGroupName="/app/a", logStreamName="s1",
                                 logEvents=[{"timestamp": now + 3 * 3600 * 1000, "message": "late"}])
    assert future["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    got = logs.get_log_events(logGroupName="/app/a", logStreamName="s1", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["hello", "world"]
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/app/a", filterPattern="world")["events"]] \
        == ["world"]
    logs.delete_log_stream(logGroupName="/app/a", logStreamName="s1")
    assert error_of(logs.delete_log_stream, logGroupName="/app/a", logStreamName="s1") == \
        ("ResourceNotFoundException", 400)
    logs.delete_log_group(logGroupName="/app/a")
    assert error_of(logs.delete_log_group, logGroupName="/app/a") == ("ResourceNotFoundException", 400)


def test_put_retention_policy_expires_old_events(emulator):
    logs = emulator.client("logs")
    logs.create_log_group(logGroupName="kept")
    logs.create_log_stream(logGroupName="kept", logStreamName="s")
    now = int(time.time() * 1000)
    day = 86_400_000
    logs.put_log_events(logGroupName="kept", logStreamName="s", logEvents=[
        {"timestamp": now - 10 * day, "message": "ten days old"},
        {"timestamp": now - 2 * day, "message": "two days old"},
        {"timestamp": now, "message": "fresh"}])
    logs.put_retention_policy(logGroupName="kept", retentionInDays=7)
    group = logs.describe_log_groups(logGroupNamePrefix="kept")["logGroups"][0]
    assert group["retentionInDays"] == 7
    remaining = [e["message"] for e in logs.filter_log_events(logGroupName="kept")["events"]]
    assert remaining == ["two days old", "fresh"]
    assert error_of(logs.put_retention_policy, logGroupName="kept", retentionInDays=8)[0] in \
        ("InvalidParameterException", "ValidationException")
    logs.delete_retention_policy(logGroupName="kept")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="kept")["logGroups"][0]


def burst(emulator, messages):
    """`messages` QoS 0 publishes from one paho client as fast as it can, then a disconnect;
    returns once the Disconnect entry is in the log file."""
    host, port = emulator.mqtt.rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="burst")
    client.connect(host, int(port))
    client.loop_start()
    for i in range(messages):
        sent = client.publish(f"burst/{i}", b"x", qos=0)
    # paho's loop_stop may end its thread before the queue is written out: wait for the last.
    sent.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()
    assert wait_until(lambda: any(e["eventType"] == "Disconnect" for e in emulator.entries()), timeout=30)


def health(emulator):
    return json.load(urllib.request.urlopen(f"{emulator.endpoint}/_iotemu/health"))


def test_a_full_queue_spools_to_disk_and_the_store_still_gets_every_entry_in_order(data_dir, tmp_path):
    """A one-entry queue cannot take a burst: without the spool (spool_max_mb = 0) entries are
    missed; with it (the default) every entry reaches the store, in the order of the file."""
    config = tmp_path / "iotemu.toml"
    config.write_text("[logstore]\nqueue_capacity = 1\nspool_max_mb = 0\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        burst(emulator, 2000)
        assert health(emulator)["logStoreMissed"] > 0, "a one-entry queue misses entries of a burst"
    finally:
        emulator.stop()
    with tempfile.TemporaryDirectory() as second_dir:
        config.write_text("[logstore]\nqueue_capacity = 1\n")
        emulator = Emulator(second_dir, "--config", str(config))
        try:
            burst(emulator, 2000)
            logs = emulator.client("logs")
            written = file_lines(emulator)
            assert wait_until(lambda: health(emulator)["logStoreBacklog"] == 0, timeout=60)
            assert health(emulator)["logStoreMissed"] == 0
            stored = [e["message"] for e in all_events(logs)]
            assert stored == in_time_order(written) and len(stored) >= 2002, "every entry (2,000 Publish-In, Connect, Disconnect), once, in order"
            assert (pathlib.Path(second_dir) / "logs.spool").stat().st_size == 16, "the emptied spool shrinks"
        finally:
            emulator.stop()


def test_the_store_keeps_at_most_max_events_and_counts_what_it_missed(data_dir, tmp_path):
    config = tmp_path / "iotemu.toml"
    config.write_text("[logstore]\nmax_events = 20\nqueue_capacity = 2\nspool_max_mb = 0\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        burst(emulator, 300)
        logs = emulator.client("logs")
        counters = health(emulator)
        written = len(emulator.entries())
        time.sleep(0.5)
        stored = len(all_events(logs))
        assert stored <= 20 + 20 // 10, "retention keeps the store near max_events"
        assert written >= 300, "the file sink has every entry whatever the store missed"
        assert isinstance(counters["logStoreMissed"], int)
    finally:
        emulator.stop()


def test_entries_survive_a_restart_and_reset_clears_them(data_dir):
    first = Emulator(data_dir)
    try:
        mqtt_traffic(first)
        logs = first.client("logs")
        assert wait_until(lambda: len(all_events(logs)) == len(file_lines(first)))
        before = [e["message"] for e in all_events(logs)]
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        logs = second.client("logs")
        after = [e["message"] for e in all_events(logs)]
        assert after[: len(before)] == before, "entries written before the restart are still there"
        urllib.request.urlopen(urllib.request.Request(f"{second.endpoint}/_iotemu/reset", method="POST"))
        assert all_events_or_none(logs) == []
    finally:
        second.stop()


def all_events_or_none(logs):
    try:
        return all_events(logs)
    except logs.exceptions.ResourceNotFoundException:
        return []


def test_put_log_events_keeps_cloudwatchs_size_quota(emulator):
    logs = emulator.client("logs")
    logs.create_log_group(logGroupName="big")
    logs.create_log_stream(logGroupName="big", logStreamName="s")
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": "x" * 1000} for _ in range(1100)]
    with pytest.raises(logs.exceptions.InvalidParameterException) as info:
        logs.put_log_events(logGroupName="big", logStreamName="s", logEvents=events)
    assert "too large" in info.value.response["Error"]["Message"]
    logs.put_log_events(logGroupName="big", logStreamName="s", logEvents=events[:1000])
    assert len(logs.get_log_events(logGroupName="big", logStreamName="s")["events"]) == 1000
