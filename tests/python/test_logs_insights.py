"""Logs Insights end to end with boto3 `logs`: start_query/get_query_results over the entries of
real MQTT traffic, each result checked against the same computation in Python over the log file;
AWS's sample queries from the AWS IoT developer guide run unchanged; a malformed query is a
MalformedQueryException with its position; DescribeQueries and StopQuery."""
import collections
import json
import time

import pytest

from conftest import error_of, wait_until
from test_cloudwatch_logs import GROUP, all_events, file_lines, mqtt_traffic


def run(logs, query, **kwargs):
    now = int(time.time())
    query_id = logs.start_query(logGroupName=GROUP, startTime=now - 3600, endTime=now + 60,
                                queryString=query, **kwargs)["queryId"]
    answer = {}
    assert wait_until(lambda: answer.update(logs.get_query_results(queryId=query_id)) or
                      answer["status"] not in ("Scheduled", "Running"), timeout=20)
    assert answer["status"] == "Complete", answer
    return query_id, answer


def rows(answer):
    return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


@pytest.fixture
def traffic(emulator):
    mqtt_traffic(emulator)
    logs = emulator.client("logs")
    assert wait_until(lambda: len(all_events(logs)) == len(file_lines(emulator)))
    return logs, [json.loads(line) for line in file_lines(emulator)]


def test_stats_filter_and_fields_match_the_log_file(traffic):
    logs, entries = traffic
    _, answer = run(logs, "stats count(*) as n by eventType | sort eventType")
    expected = collections.Counter(e["eventType"] for e in entries)
    assert {r["eventType"]: int(r["n"]) for r in rows(answer)} == expected
    assert [r["eventType"] for r in rows(answer)] == sorted(expected)
    assert answer["statistics"]["recordsScanned"] == len(entries)

    _, answer = run(logs, 'fields clientId, topicName | filter eventType = "Publish-In" and clientId like /^dev-/')
    publishes = [e for e in entries if e["eventType"] == "Publish-In" and e["clientId"].startswith("dev-")]
    assert publishes, "the traffic publishes"
    assert sorted((r["clientId"], r["topicName"]) for r in rows(answer)) == \
        sorted((e["clientId"], e["topicName"]) for e in publishes)
    assert all("@ptr" in r for r in rows(answer))
    assert answer["statistics"]["recordsMatched"] == len(publishes)

    _, answer = run(logs, "stats count_distinct(clientId) as clients, count(*) as all by bin(1h)")
    assert sum(int(r["all"]) for r in rows(answer)) == len(entries)
    assert max(int(r["clients"]) for r in rows(answer)) <= len({e["clientId"] for e in entries})

    _, answer = run(logs, "fields @timestamp, eventType | sort @timestamp desc | limit 3")
    assert len(answer["results"]) == 3
    stamps = [r["@timestamp"] for r in rows(answer)]
    assert stamps == sorted(stamps, reverse=True)

    _, answer = run(logs, "fields eventType", limit=2)
    assert len(answer["results"]) == 2


def test_the_developer_guides_sample_queries_run_unchanged(traffic):
    logs, entries = traffic
    # custom-auth-troubleshooting: failures, newest first.
    _, answer = run(logs, 'display clientId, eventType, status, @timestamp | sort @timestamp desc | filter status = "Failure"')
    failures = [e for e in entries if e["status"] == "Failure"]
    assert failures, "the traffic has a refused CONNECT"
    assert sorted((r["clientId"], r["eventType"]) for r in rows(answer)) == \
        sorted((e["clientId"], e["eventType"]) for e in failures)
    assert all(set(r) == {"clientId", "eventType", "status", "@timestamp", "@ptr"} for r in rows(answer))
    # The LoRaWAN pages' queries (no LoRaWAN traffic here: no rows, but they run).
    for query in ("fields @message\n| filter @message like /Sidewalk/", "filter @message like /Downlink message sent/"):
        _, answer = run(logs, query)
        assert answer["results"] == []
    _, answer = run(logs, "fields @message | filter @message like /Publish-In/")
    assert len(answer["results"]) == sum(1 for e in entries if e["eventType"] == "Publish-In")


def test_malformed_query_and_bad_input(traffic):
    logs, _ = traffic
    now = int(time.time())
    try:
        logs.start_query(logGroupName=GROUP, startTime=now - 60, endTime=now, queryString="filter a = | limit 1")
        raise AssertionError("the query was accepted")
    except logs.exceptions.MalformedQueryException as e:
        error = e.response["queryCompileError"] if "queryCompileError" in e.response else None
        assert "position 11" in e.response["Error"]["Message"]
        assert error is None or error["location"]["startCharOffset"] == 11
    assert error_of(logs.start_query, logGroupName="nope", startTime=now - 60, endTime=now,
                    queryString="fields @message") == ("ResourceNotFoundException", 400)
    assert error_of(logs.start_query, logGroupName=GROUP, startTime=now, endTime=now - 60,
                    queryString="fields @message") == ("InvalidParameterException", 400)
    deep = "filter " + "(" * 500 + "a = 1" + ")" * 500
    assert error_of(logs.start_query, logGroupName=GROUP, startTime=now - 60, endTime=now,
                    queryString=deep) == ("MalformedQueryException", 400)
    assert error_of(logs.get_query_results, queryId="no-such-query") == ("ResourceNotFoundException", 400)


def test_describe_and_stop_queries(traffic):
    logs, _ = traffic
    query_id, _ = run(logs, "stats count(*)")
    described = logs.describe_queries(logGroupName=GROUP)["queries"]
    mine = [q for q in described if q["queryId"] == query_id]
    assert mine and mine[0]["status"] == "Complete" and mine[0]["queryString"] == "stats count(*)"
    assert logs.describe_queries(status="Running")["queries"] == [] or all(
        q["status"] == "Running" for q in logs.describe_queries(status="Running")["queries"])
    # A completed query cannot be stopped.
    assert logs.stop_query(queryId=query_id)["success"] is False
