"""docs/coverage.md's operations table is generated (scripts/coverage_table.py) and true: it is
not stale, every operation it calls implemented is served by the running emulator and every
other one answers AWS-shaped UnknownOperationException naming it, for every service (iot,
iot-data, iot-jobs-data, logs, iotwireless). Names in URIs are checked against botocore's
patterns and lengths with AWS's wording."""
import json
import pathlib
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPERATIONS = json.loads((ROOT / "crates/api/model/operations.json").read_text())["services"]
STATUS = json.loads((ROOT / "scripts/coverage_status.json").read_text())["services"]


def test_the_table_is_not_stale():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/coverage_table.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def call(emulator, service, name):
    """Sends operation `name` of `service` (SigV4 name) with placeholder labels: (status, headers, body)."""
    http = OPERATIONS[service]["operations"][name]
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
                                "SignedHeaders=host, Signature=0", "Content-Type": "application/json"}
    if http:
        method, path = http["method"], re.sub(r"\{[^}]+\}", "x", http["uri"].split("?")[0])
    else:
        method, path = "POST", "/"
        headers.update({"X-Amz-Target": f"Logs_20140328.{name}", "Content-Type": "application/x-amz-json-1.1"})
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    request = urllib.request.Request(emulator.endpoint + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_the_table_says_what_the_emulator_serves(emulator, service):
    implemented = set(STATUS[service]["implemented"])
    assert set(STATUS[service]["partial"]) <= implemented
    assert implemented <= set(OPERATIONS[service]["operations"]), "only botocore's operations"
    model = OPERATIONS[service]["model"]
    for name in sorted(OPERATIONS[service]["operations"]):
        status, headers, body = call(emulator, service, name)
        unknown = headers.get("x-amzn-ErrorType") == "UnknownOperationException"
        if name in implemented:
            assert not unknown, f"{name} is listed as implemented"
        else:
            assert unknown, f"{name} answered {status}: list it in scripts/coverage_status.json"
            assert json.loads(body)["message"] == f"iotemu does not implement {model}:{name}"
            assert status == (400 if service == "logs" else 404)


def test_unknown_operations_through_boto3(emulator):
    iot = emulator.client("iot")
    with pytest.raises(iot.exceptions.ClientError) as info:
        iot.create_domain_configuration(domainConfigurationName="d")
    error = info.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("UnknownOperationException", "iotemu does not implement iot:CreateDomainConfiguration")
    logs = emulator.client("logs")
    with pytest.raises(logs.exceptions.ClientError) as info:
        logs.create_export_task(logGroupName="g", fromTime=0, to=1, destination="b")
    error = info.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("UnknownOperationException", "iotemu does not implement logs:CreateExportTask")


NAMES = [
    ("create_topic_rule", {"ruleName": "bad-name", "topicRulePayload": {"sql": "SELECT * FROM 't'", "actions": []}},
     "1 validation error detected: Value 'bad-name' at 'ruleName' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$"),
    ("create_thing", {"thingName": "t" * 129},
     f"1 validation error detected: Value '{'t' * 129}' at 'thingName' failed to satisfy constraint: "
     "Member must have length less than or equal to 128"),
    ("create_thing_type", {"thingTypeName": "a b"},
     "1 validation error detected: Value 'a b' at 'thingTypeName' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"),
    ("create_thing_group", {"thingGroupName": "g/h"}, None),
    ("create_policy", {"policyName": "p#", "policyDocument": "{}"},
     "1 validation error detected: Value 'p#' at 'policyName' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [\\w+=,.@-]+"),
    ("create_job", {"jobId": "j.1", "targets": ["arn:aws:iot:us-east-1:123456789012:thing/t"], "document": "{}"},
     "1 validation error detected: Value 'j.1' at 'jobId' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"),
]


@pytest.mark.parametrize("method,kwargs,message", NAMES)
def test_names_break_botocore_constraints_with_aws_wording(emulator, method, kwargs, message):
    iot = emulator.client("iot")
    # boto3 checks lengths client-side only for minimums; turn its own validation off to reach the server.
    iot.meta.config.parameter_validation = False
    with pytest.raises(iot.exceptions.ClientError) as info:
        getattr(iot, method)(**kwargs)
    response = info.value.response
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (400, "InvalidRequestException")
    if message is None:  # a "/" in a name is another path: no such operation, or the pattern
        return
    assert response["Error"]["Message"] == message
