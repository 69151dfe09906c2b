"""The registry's things operations through boto3 and the AWS CLI: shapes, errors,
pagination, scoping by region, persistence across a restart, and reset."""
import json
import os
import subprocess
import urllib.request

import pytest

from conftest import Emulator, error_of


def test_create_describe_update_delete_a_thing(iot):
    created = iot.create_thing(thingName="lamp", attributePayload={"attributes": {"room": "kitchen"}})
    assert created["thingArn"] == "arn:aws:iot:us-east-1:123456789012:thing/lamp"
    thing = iot.describe_thing(thingName="lamp")
    assert thing["thingId"] == created["thingId"]
    assert thing["defaultClientId"] == "lamp"
    assert thing["attributes"] == {"room": "kitchen"} and thing["version"] == 1

    iot.update_thing(thingName="lamp", attributePayload={"attributes": {"floor": "2"}, "merge": True},
                     expectedVersion=1)
    thing = iot.describe_thing(thingName="lamp")
    assert thing["attributes"] == {"room": "kitchen", "floor": "2"} and thing["version"] == 2
    iot.update_thing(thingName="lamp", attributePayload={"attributes": {"room": ""}, "merge": True})
    assert iot.describe_thing(thingName="lamp")["attributes"] == {"floor": "2"}

    iot.delete_thing(thingName="lamp")
    assert error_of(iot.describe_thing, thingName="lamp") == ("ResourceNotFoundException", 404)


def test_errors_have_aws_names_and_statuses(iot):
    iot.create_thing(thingName="fan", attributePayload={"attributes": {"speed": "1"}})
    # Same configuration: idempotent. Another one: ResourceAlreadyExistsException.
    iot.create_thing(thingName="fan", attributePayload={"attributes": {"speed": "1"}})
    assert error_of(iot.create_thing, thingName="fan") == ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.update_thing, thingName="fan", expectedVersion=7) == ("VersionConflictException", 409)
    assert error_of(iot.delete_thing, thingName="fan", expectedVersion=7) == ("VersionConflictException", 409)
    assert error_of(iot.update_thing, thingName="ghost") == ("ResourceNotFoundException", 404)
    code, status = error_of(iot.create_thing, thingName="bad", attributePayload={"attributes": {"a": "no spaces"}})
    assert (code, status) == ("InvalidRequestException", 400)


def test_malformed_json_is_an_invalid_request_not_a_500(emulator):
    request = urllib.request.Request(
        f"{emulator.endpoint}/things/x", data=b"{not json", method="POST",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=test/20261124/us-east-1/iot/aws4_request, "
                                  "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert info.value.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert "message" in json.loads(info.value.read())


def test_list_things_pages_and_filters(iot):
    for i in range(7):
        iot.create_thing(thingName=f"dev-{i}", attributePayload={"attributes": {"fleet": "a" if i < 3 else "b"}})
    first = iot.list_things(maxResults=3)
    assert len(first["things"]) == 3 and "nextToken" in first
    names = [t["thingName"] for page in iot.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 2})
             for t in page["things"]]
    assert names == [f"dev-{i}" for i in range(7)]
    fleet_a = iot.list_things(attributeName="fleet", attributeValue="a")["things"]
    assert sorted(t["thingName"] for t in fleet_a) == ["dev-0", "dev-1", "dev-2"]


def test_state_is_per_region(emulator):
    east, west = emulator.client(region="us-east-1"), emulator.client(region="eu-west-1")
    east.create_thing(thingName="only-east")
    assert error_of(west.describe_thing, thingName="only-east") == ("ResourceNotFoundException", 404)
    assert west.create_thing(thingName="only-east")["thingArn"].startswith("arn:aws:iot:eu-west-1:")


def test_things_survive_a_restart_and_reset_wipes_them(data_dir):
    first = Emulator(data_dir)
    first.client().create_thing(thingName="durable", attributePayload={"attributes": {"k": "v"}})
    first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client()
        assert iot.describe_thing(thingName="durable")["attributes"] == {"k": "v"}
        urllib.request.urlopen(urllib.request.Request(f"{second.endpoint}/_iotemu/reset", method="POST"))
        assert error_of(iot.describe_thing, thingName="durable") == ("ResourceNotFoundException", 404)
    finally:
        second.stop()


def test_describe_endpoint_names_the_emulator(emulator, iot):
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == \
        "localhost"


def test_the_aws_cli_works_with_endpoint_url(emulator):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    aws = ["aws", "--endpoint-url", emulator.endpoint, "--output", "json", "iot"]
    subprocess.run(aws + ["create-thing", "--thing-name", "cli-thing"], env=env, check=True, capture_output=True)
    out = subprocess.run(aws + ["describe-thing", "--thing-name", "cli-thing"], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out)["thingName"] == "cli-thing"
