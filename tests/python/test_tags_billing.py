"""Tags and billing groups with boto3 against the running emulator (tagging-iot.md,
tagging-iot-billing-groups.md, botocore's `iot` model): tags given at creation and by
TagResource/UntagResource on every taggable resource, AWS's limits and errors, the billing-group
cycle and CreateThing's billingGroupName, persistence across a restart and reset."""
import json
import subprocess
import urllib.request

from conftest import Emulator, error_of
from test_provisioning import ROLE, fleet_template

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
TAGS = [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "fleet ops"}]


def tags_of(iot, arn):
    out, token = [], None
    while True:
        page = iot.list_tags_for_resource(resourceArn=arn, **({"nextToken": token} if token else {}))
        out += page["tags"]
        token = page.get("nextToken")
        if not token:
            return {t["Key"]: t.get("Value", "") for t in out}


def ca_pem(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=tags-ca", "-days", "2",
                    "-addext", "basicConstraints=critical,CA:TRUE"], check=True, capture_output=True, cwd=tmp_path)
    return (tmp_path / "ca.pem").read_text()


def create_each(iot, tmp_path):
    """Creates one resource of each taggable kind with TAGS; returns their ARNs by kind."""
    iot.create_thing(thingName="member")
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    arns = {
        "thing group": iot.create_thing_group(thingGroupName="g", tags=TAGS)["thingGroupArn"],
        "dynamic group": iot.create_dynamic_thing_group(thingGroupName="dyn", queryString="thingName:m*",
                                                        tags=TAGS)["thingGroupArn"],
        "thing type": iot.create_thing_type(thingTypeName="lamp", tags=TAGS)["thingTypeArn"],
        "policy": iot.create_policy(policyName="p", policyDocument=POLICY, tags=TAGS)["policyArn"],
        "job": iot.create_job(jobId="j", targets=[f"arn:aws:iot:us-east-1:123456789012:thing/member"],
                              document="{}", tags=TAGS)["jobArn"],
        "job template": iot.create_job_template(jobTemplateId="jt", document="{}", description="d",
                                                tags=TAGS)["jobTemplateArn"],
        "provisioning template": iot.create_provisioning_template(
            templateName="pt", templateBody=fleet_template(), provisioningRoleArn=ROLE, tags=TAGS)["templateArn"],
        "CA certificate": iot.register_ca_certificate(caCertificate=ca_pem(tmp_path), certificateMode="SNI_ONLY",
                                                      tags=TAGS)["certificateArn"],
        "billing group": iot.create_billing_group(billingGroupName="bg", tags=TAGS)["billingGroupArn"],
        "authorizer": iot.create_authorizer(
            authorizerName="auth", authorizerFunctionArn="arn:aws:lambda:us-east-1:123456789012:function:auth",
            signingDisabled=True, tags=TAGS)["authorizerArn"],
    }
    iot.create_topic_rule(ruleName="r", topicRulePayload={"sql": "SELECT * FROM 't'", "actions": []}, tags="env=test&team=fleet ops")
    arns["rule"] = iot.get_topic_rule(ruleName="r")["ruleArn"]
    return arns


def test_tags_round_trip_on_every_taggable_resource(iot, tmp_path):
    iot.create_thing_group(thingGroupName="fleet-lamps")  # fleet_template's group
    arns = create_each(iot, tmp_path)
    for kind, arn in arns.items():
        assert tags_of(iot, arn) == {"env": "test", "team": "fleet ops"}, kind
        iot.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "prod"}, {"Key": "cost", "Value": ""}])
        assert tags_of(iot, arn) == {"env": "prod", "team": "fleet ops", "cost": ""}, kind
        iot.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
        assert tags_of(iot, arn) == {"env": "prod", "cost": ""}, kind
    # Without tags at creation, a resource has none; a re-created one does not get its
    # predecessor's back (tags go with their resource).
    iot.delete_thing_group(thingGroupName="g")
    assert error_of(iot.list_tags_for_resource, resourceArn=arns["thing group"]) == ("ResourceNotFoundException", 404)
    iot.create_thing_group(thingGroupName="g")
    assert tags_of(iot, arns["thing group"]) == {}


def test_tag_limits_and_errors(iot):
    arn = iot.create_thing_group(thingGroupName="limits")["thingGroupArn"]
    missing = "arn:aws:iot:us-east-1:123456789012:thinggroup/nope"
    assert error_of(iot.tag_resource, resourceArn=missing, tags=TAGS) == ("ResourceNotFoundException", 404)
    assert error_of(iot.untag_resource, resourceArn=missing, tagKeys=["env"]) == ("ResourceNotFoundException", 404)
    assert error_of(iot.list_tags_for_resource, resourceArn=missing) == ("ResourceNotFoundException", 404)
    assert error_of(iot.tag_resource, resourceArn="not-an-arn", tags=TAGS) == ("InvalidRequestException", 400)
    assert error_of(iot.tag_resource, resourceArn=arn, tags=[{"Key": "aws:owner", "Value": "x"}]) == \
        ("InvalidRequestException", 400)
    try:
        iot.tag_resource(resourceArn=arn, tags=[{"Key": "k" * 129, "Value": "x"}])
        raise AssertionError("a 129-character key was accepted")
    except iot.exceptions.InvalidRequestException as e:
        assert e.response["Error"]["Message"] == (
            f"1 validation error detected: Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy "
            "constraint: Member must have length less than or equal to 128")
    assert error_of(iot.tag_resource, resourceArn=arn, tags=[{"Key": "v", "Value": "x" * 257}]) == \
        ("InvalidRequestException", 400)
    assert error_of(iot.create_thing_group, thingGroupName="bad-tags", tags=[{"Key": "a#b", "Value": ""}]) == \
        ("InvalidRequestException", 400)
    assert error_of(iot.describe_thing_group, thingGroupName="bad-tags")[0] == "ResourceNotFoundException", \
        "a refused create makes nothing"
    # 50 tags per resource: 50 are fine (and page through ListTagsForResource), a 51st is refused.
    iot.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i:02}", "Value": str(i)} for i in range(50)])
    first = iot.list_tags_for_resource(resourceArn=arn)
    assert len(first["tags"]) < 50 and "nextToken" in first
    assert tags_of(iot, arn) == {f"k{i:02}": str(i) for i in range(50)}
    assert error_of(iot.tag_resource, resourceArn=arn, tags=[{"Key": "one-more", "Value": ""}]) == \
        ("LimitExceededException", 410)
    iot.tag_resource(resourceArn=arn, tags=[{"Key": "k00", "Value": "replaced"}])
    assert tags_of(iot, arn)["k00"] == "replaced"
    assert error_of(iot.create_policy, policyName="too-many", policyDocument=POLICY,
                    tags=[{"Key": f"k{i}", "Value": ""} for i in range(51)]) == ("LimitExceededException", 410)


def test_billing_group_cycle(iot):
    created = iot.create_billing_group(billingGroupName="floor1",
                                       billingGroupProperties={"billingGroupDescription": "first floor"})
    assert created["billingGroupArn"] == "arn:aws:iot:us-east-1:123456789012:billinggroup/floor1"
    described = iot.describe_billing_group(billingGroupName="floor1")
    assert described["billingGroupId"] == created["billingGroupId"]
    assert described["version"] == 1
    assert described["billingGroupProperties"] == {"billingGroupDescription": "first floor"}
    assert "creationDate" in described["billingGroupMetadata"]
    assert iot.create_billing_group(billingGroupName="floor1",
                                    billingGroupProperties={"billingGroupDescription": "first floor"}
                                    )["billingGroupId"] == created["billingGroupId"], "same properties: idempotent"
    assert error_of(iot.create_billing_group, billingGroupName="floor1",
                    billingGroupProperties={"billingGroupDescription": "other"}) == \
        ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.create_billing_group, billingGroupName="bad name") == ("InvalidRequestException", 400)
    iot.create_billing_group(billingGroupName="floor2")
    assert [g["groupName"] for g in iot.list_billing_groups()["billingGroups"]] == ["floor1", "floor2"]
    assert [g["groupName"] for g in iot.list_billing_groups(namePrefixFilter="floor2")["billingGroups"]] == ["floor2"]
    page = iot.list_billing_groups(maxResults=1)
    assert len(page["billingGroups"]) == 1 and "nextToken" in page

    assert iot.update_billing_group(billingGroupName="floor1", expectedVersion=1,
                                    billingGroupProperties={"billingGroupDescription": "ground"})["version"] == 2
    assert error_of(iot.update_billing_group, billingGroupName="floor1", expectedVersion=1,
                    billingGroupProperties={}) == ("VersionConflictException", 409)
    assert error_of(iot.update_billing_group, billingGroupName="nope", billingGroupProperties={}) == \
        ("ResourceNotFoundException", 404)

    # CreateThing's billingGroupName; a thing is in one billing group at a time.
    iot.create_thing(thingName="lamp", billingGroupName="floor1")
    assert iot.describe_thing(thingName="lamp")["billingGroupName"] == "floor1"
    assert error_of(iot.create_thing, thingName="orphan", billingGroupName="nope") == ("ResourceNotFoundException", 404)
    assert error_of(iot.describe_thing, thingName="orphan")[0] == "ResourceNotFoundException"
    iot.create_thing(thingName="fan")
    assert "billingGroupName" not in iot.describe_thing(thingName="fan")
    iot.add_thing_to_billing_group(billingGroupArn=created["billingGroupArn"], thingName="fan")
    assert iot.list_things_in_billing_group(billingGroupName="floor1")["things"] == ["fan", "lamp"]
    iot.add_thing_to_billing_group(billingGroupName="floor2", thingArn=iot.describe_thing(thingName="fan")["thingArn"])
    assert iot.list_things_in_billing_group(billingGroupName="floor1")["things"] == ["lamp"]
    assert iot.list_things_in_billing_group(billingGroupName="floor2")["things"] == ["fan"]
    assert error_of(iot.add_thing_to_billing_group, billingGroupName="nope", thingName="fan") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.add_thing_to_billing_group, billingGroupName="floor1", thingName="nope") == \
        ("ResourceNotFoundException", 404)
    iot.remove_thing_from_billing_group(billingGroupName="floor2", thingName="fan")
    assert iot.list_things_in_billing_group(billingGroupName="floor2")["things"] == []
    assert "billingGroupName" not in iot.describe_thing(thingName="fan")
    assert error_of(iot.list_things_in_billing_group, billingGroupName="nope") == ("ResourceNotFoundException", 404)

    assert error_of(iot.delete_billing_group, billingGroupName="floor1", expectedVersion=1) == \
        ("VersionConflictException", 409)
    iot.delete_billing_group(billingGroupName="floor1")
    iot.delete_billing_group(billingGroupName="floor1")  # already gone: succeeds, as on AWS
    assert "billingGroupName" not in iot.describe_thing(thingName="lamp"), "its things leave it"
    assert error_of(iot.describe_billing_group, billingGroupName="floor1") == ("ResourceNotFoundException", 404)
    assert [g["groupName"] for g in iot.list_billing_groups()["billingGroups"]] == ["floor2"]


def test_persisted_across_a_restart_and_cleared_by_reset(data_dir):
    emu = Emulator(data_dir)
    iot = emu.client()
    arn = iot.create_billing_group(billingGroupName="kept", tags=TAGS)["billingGroupArn"]
    iot.create_thing(thingName="lamp", billingGroupName="kept")
    policy_arn = iot.create_policy(policyName="p", policyDocument=POLICY)["policyArn"]
    iot.tag_resource(resourceArn=policy_arn, tags=[{"Key": "owner", "Value": "me"}])
    emu.stop()
    emu = Emulator(data_dir)
    try:
        iot = emu.client()
        assert tags_of(iot, arn) == {"env": "test", "team": "fleet ops"}
        assert tags_of(iot, policy_arn) == {"owner": "me"}
        assert iot.describe_thing(thingName="lamp")["billingGroupName"] == "kept"
        assert iot.list_things_in_billing_group(billingGroupName="kept")["things"] == ["lamp"]
        urllib.request.urlopen(urllib.request.Request(f"{emu.endpoint}/_iotemu/reset", method="POST"))
        assert iot.list_billing_groups()["billingGroups"] == []
        iot.create_billing_group(billingGroupName="kept")
        assert tags_of(iot, arn) == {}
    finally:
        emu.stop()


def test_a_seed_makes_billing_groups_and_keeps_tags(emulator):
    seed = """
[[billingGroups]]
billingGroupName = "ward-a"
tags = [{ Key = "cost-center", Value = "42" }]

[[things]]
thingName = "monitor"
billingGroupName = "ward-a"
"""
    request = urllib.request.Request(emulator.endpoint + "/_iotemu/seed", data=seed.encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    iot = emulator.client()
    assert iot.describe_thing(thingName="monitor")["billingGroupName"] == "ward-a"
    arn = iot.describe_billing_group(billingGroupName="ward-a")["billingGroupArn"]
    assert tags_of(iot, arn) == {"cost-center": "42"}
