"""IoT policies through boto3 and the AWS CLI: create, get, list (paginated), versions (at most
five, default switching), attach and detach to certificates and thing groups, the targets of a
policy, effective policies, the conflicts that keep a policy or certificate from deletion,
persistence across a restart, and reset."""
import json
import os
import subprocess
import urllib.request

from conftest import Emulator, error_of

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
PUBLISH_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/a/*"]}]})


def test_policy_lifecycle_and_versions(iot):
    created = iot.create_policy(policyName="lamp-policy", policyDocument=ALLOW_ALL)
    assert created["policyArn"] == "arn:aws:iot:us-east-1:123456789012:policy/lamp-policy"
    assert created["policyVersionId"] == "1" and json.loads(created["policyDocument"]) == json.loads(ALLOW_ALL)
    got = iot.get_policy(policyName="lamp-policy")
    assert got["defaultVersionId"] == "1" and got["policyDocument"] == ALLOW_ALL
    assert "creationDate" in got and "generationId" in got

    v2 = iot.create_policy_version(policyName="lamp-policy", policyDocument=PUBLISH_ONLY)
    assert v2["policyVersionId"] == "2" and v2["isDefaultVersion"] is False
    assert iot.get_policy(policyName="lamp-policy")["policyDocument"] == ALLOW_ALL, "v1 stays the default"
    v3 = iot.create_policy_version(policyName="lamp-policy", policyDocument=PUBLISH_ONLY, setAsDefault=True)
    assert v3["policyVersionId"] == "3" and v3["isDefaultVersion"] is True
    assert iot.get_policy(policyName="lamp-policy")["defaultVersionId"] == "3"
    versions = iot.list_policy_versions(policyName="lamp-policy")["policyVersions"]
    assert [(v["versionId"], v["isDefaultVersion"]) for v in versions] == [("3", True), ("2", False), ("1", False)]
    one = iot.get_policy_version(policyName="lamp-policy", policyVersionId="1")
    assert one["policyDocument"] == ALLOW_ALL and one["isDefaultVersion"] is False

    iot.set_default_policy_version(policyName="lamp-policy", policyVersionId="1")
    assert iot.get_policy(policyName="lamp-policy")["defaultVersionId"] == "1"
    assert error_of(iot.delete_policy_version, policyName="lamp-policy", policyVersionId="1") == \
        ("DeleteConflictException", 409), "the default version cannot be deleted"
    iot.create_policy_version(policyName="lamp-policy", policyDocument=ALLOW_ALL)
    iot.create_policy_version(policyName="lamp-policy", policyDocument=ALLOW_ALL)
    assert error_of(iot.create_policy_version, policyName="lamp-policy", policyDocument=ALLOW_ALL) == \
        ("VersionsLimitExceededException", 409), "at most five versions"
    assert error_of(iot.delete_policy, policyName="lamp-policy") == ("DeleteConflictException", 409), \
        "non-default versions keep a policy from deletion"
    for version in ("2", "3", "4", "5"):
        iot.delete_policy_version(policyName="lamp-policy", policyVersionId=version)
    iot.delete_policy(policyName="lamp-policy")
    assert error_of(iot.get_policy, policyName="lamp-policy") == ("ResourceNotFoundException", 404)


def test_policy_errors(iot):
    iot.create_policy(policyName="p", policyDocument=ALLOW_ALL)
    assert error_of(iot.create_policy, policyName="p", policyDocument=ALLOW_ALL) == \
        ("ResourceAlreadyExistsException", 409)
    for bad in ["not json", json.dumps({"Statement": []}),
                json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps", "Action": "iot:*",
                                                                    "Resource": "*"}]})]:
        assert error_of(iot.create_policy, policyName="bad", policyDocument=bad) == ("MalformedPolicyException", 400)
        assert error_of(iot.create_policy_version, policyName="p", policyDocument=bad) == \
            ("MalformedPolicyException", 400)
    assert error_of(iot.create_policy, policyName="no spaces", policyDocument=ALLOW_ALL)[0] in \
        ("InvalidRequestException", "ValidationException")
    assert error_of(iot.get_policy_version, policyName="p", policyVersionId="9") == ("ResourceNotFoundException", 404)
    assert error_of(iot.set_default_policy_version, policyName="nope", policyVersionId="1") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.attach_policy, policyName="nope", target="anonymous") == ("ResourceNotFoundException", 404)
    missing_cert = "arn:aws:iot:us-east-1:123456789012:cert/" + "0" * 64
    assert error_of(iot.attach_policy, policyName="p", target=missing_cert) == ("ResourceNotFoundException", 404)


def test_malformed_request_bodies_are_invalid_requests(emulator):
    request = urllib.request.Request(f"{emulator.endpoint}/policies/x", data=b"{not json", method="POST",
                                     headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/iot/aws4_request"})
    try:
        urllib.request.urlopen(request)
        raise AssertionError("accepted malformed JSON")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and e.headers["x-amzn-ErrorType"].startswith("InvalidRequestException")


def test_list_policies_pages(iot):
    names = [f"policy-{i}" for i in range(5)]
    for name in names:
        iot.create_policy(policyName=name, policyDocument=ALLOW_ALL)
    seen, marker = [], None
    while True:
        page = iot.list_policies(pageSize=2, **({"marker": marker} if marker else {}))
        assert len(page["policies"]) <= 2
        seen += [p["policyName"] for p in page["policies"]]
        marker = page.get("nextMarker")
        if not marker:
            break
    assert seen == names
    assert [p["policyName"] for p in iot.list_policies(ascendingOrder=False)["policies"]] == names[::-1]
    paginated = [p["policyName"] for page in iot.get_paginator("list_policies").paginate(PaginationConfig={"PageSize": 2})
                 for p in page["policies"]]
    assert paginated == names


def test_attach_detach_targets_and_effective_policies(iot):
    cert = iot.create_keys_and_certificate(setAsActive=True)
    arn = cert["certificateArn"]
    iot.create_policy(policyName="direct", policyDocument=ALLOW_ALL)
    iot.create_policy(policyName="inherited", policyDocument=PUBLISH_ONLY)
    iot.attach_policy(policyName="direct", target=arn)
    iot.attach_policy(policyName="direct", target=arn)  # idempotent
    assert [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]] == ["direct"]
    assert iot.list_targets_for_policy(policyName="direct")["targets"] == [arn]
    assert iot.list_principal_policies(principal=arn)["policies"][0]["policyName"] == "direct"
    assert iot.list_policy_principals(policyName="direct")["principals"] == [arn]

    assert error_of(iot.delete_policy, policyName="direct") == ("DeleteConflictException", 409), "attached"
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    assert error_of(iot.delete_certificate, certificateId=cert["certificateId"]) == \
        ("DeleteConflictException", 409), "a certificate with a policy cannot be deleted"

    parent = iot.create_thing_group(thingGroupName="building")["thingGroupArn"]
    child = iot.create_thing_group(thingGroupName="floor-1", parentGroupName="building")["thingGroupArn"]
    iot.attach_policy(policyName="inherited", target=parent)
    assert iot.list_attached_policies(target=child)["policies"] == []
    assert [p["policyName"] for p in iot.list_attached_policies(target=child, recursive=True)["policies"]] == \
        ["inherited"]
    iot.create_thing(thingName="lamp")
    iot.add_thing_to_thing_group(thingGroupName="floor-1", thingName="lamp")
    effective = iot.get_effective_policies(principal=arn, thingName="lamp")["effectivePolicies"]
    assert sorted(p["policyName"] for p in effective) == ["direct", "inherited"]
    assert {p["policyName"]: p["policyDocument"] for p in effective}["inherited"] == PUBLISH_ONLY
    assert error_of(iot.get_effective_policies, principal=arn, thingName="missing") == \
        ("ResourceNotFoundException", 404)

    iot.detach_policy(policyName="direct", target=arn)
    iot.detach_policy(policyName="direct", target=arn)  # detaching twice is fine
    assert iot.list_attached_policies(target=arn)["policies"] == []
    iot.delete_policy(policyName="direct")
    iot.delete_certificate(certificateId=cert["certificateId"])


def test_a_target_has_at_most_ten_policies(iot):
    for i in range(11):
        iot.create_policy(policyName=f"p{i}", policyDocument=ALLOW_ALL)
    for i in range(10):
        iot.attach_policy(policyName=f"p{i}", target="anonymous")
    assert error_of(iot.attach_policy, policyName="p10", target="anonymous") == ("LimitExceededException", 410)


def test_policies_survive_a_restart_and_reset_wipes_them(data_dir):
    first = Emulator(data_dir)
    try:
        iot = first.client("iot")
        iot.create_policy(policyName="kept", policyDocument=ALLOW_ALL)
        iot.create_policy_version(policyName="kept", policyDocument=PUBLISH_ONLY, setAsDefault=True)
        iot.attach_policy(policyName="kept", target="anonymous")
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client("iot")
        assert iot.get_policy(policyName="kept")["policyDocument"] == PUBLISH_ONLY
        assert iot.list_targets_for_policy(policyName="kept")["targets"] == ["anonymous"]
        urllib.request.urlopen(urllib.request.Request(f"{second.endpoint}/_iotemu/reset", method="POST"))
        assert iot.list_policies()["policies"] == []
        assert error_of(iot.get_policy, policyName="kept") == ("ResourceNotFoundException", 404)
    finally:
        second.stop()


def test_the_aws_cli_manages_policies(emulator, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    aws = ["aws", "--endpoint-url", emulator.endpoint, "--output", "json", "iot"]
    document = tmp_path / "policy.json"
    document.write_text(ALLOW_ALL)
    created = subprocess.run(aws + ["create-policy", "--policy-name", "cli-policy", "--policy-document",
                                    f"file://{document}"], env=env, check=True, capture_output=True, text=True)
    assert json.loads(created.stdout)["policyName"] == "cli-policy"
    listed = subprocess.run(aws + ["list-policies"], env=env, check=True, capture_output=True, text=True)
    assert [p["policyName"] for p in json.loads(listed.stdout)["policies"]] == ["cli-policy"]
