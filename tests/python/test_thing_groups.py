"""Static thing groups through boto3: create/describe/update/delete, the hierarchy, memberships,
listings with pagination and recursion, errors, persistence across a restart, and reset."""
import json
import urllib.error
import urllib.request

import pytest

from conftest import Emulator, error_of

ARN = "arn:aws:iot:us-east-1:123456789012:thinggroup/"


def names(groups):
    return [g["groupName"] for g in groups]


def all_pages(call, key, **kwargs):
    """Every item of a listing walked with maxResults=1, and the number of pages."""
    items, pages, token = [], 0, None
    while True:
        page = call(maxResults=1, **({"nextToken": token} if token else {}), **kwargs)
        items += page[key]
        pages += 1
        token = page.get("nextToken")
        if not token:
            return items, pages


def make_tree(iot):
    """ShinyObjects > LightBulbs > RedLights, and Fans alone."""
    iot.create_thing_group(thingGroupName="ShinyObjects")
    iot.create_thing_group(thingGroupName="LightBulbs", parentGroupName="ShinyObjects")
    iot.create_thing_group(thingGroupName="RedLights", parentGroupName="LightBulbs")
    iot.create_thing_group(thingGroupName="Fans")


def test_create_describe_update_delete_a_group(iot):
    created = iot.create_thing_group(
        thingGroupName="LightBulbs",
        thingGroupProperties={"thingGroupDescription": "all bulbs",
                              "attributePayload": {"attributes": {"brightness": "3400_lumens"}}},
        tags=[{"Key": "team", "Value": "a"}])
    assert created["thingGroupName"] == "LightBulbs"
    assert created["thingGroupArn"] == ARN + "LightBulbs"
    described = iot.describe_thing_group(thingGroupName="LightBulbs")
    assert described["thingGroupId"] == created["thingGroupId"]
    assert described["thingGroupArn"] == ARN + "LightBulbs"
    assert described["version"] == 1
    assert described["thingGroupProperties"] == {
        "thingGroupDescription": "all bulbs", "attributePayload": {"attributes": {"brightness": "3400_lumens"}}}
    assert "parentGroupName" not in described["thingGroupMetadata"]
    assert described["thingGroupMetadata"]["creationDate"].year >= 2024
    for dynamic_only in ("status", "queryString", "indexName", "queryVersion"):
        assert dynamic_only not in described

    # Same properties again: idempotent, same id.
    again = iot.create_thing_group(
        thingGroupName="LightBulbs",
        thingGroupProperties={"thingGroupDescription": "all bulbs",
                              "attributePayload": {"attributes": {"brightness": "3400_lumens"}}})
    assert again["thingGroupId"] == created["thingGroupId"]

    updated = iot.update_thing_group(
        thingGroupName="LightBulbs", expectedVersion=1,
        thingGroupProperties={"attributePayload": {"attributes": {"owner": "150"}, "merge": True}})
    assert updated["version"] == 2
    props = iot.describe_thing_group(thingGroupName="LightBulbs")["thingGroupProperties"]
    assert props["attributePayload"]["attributes"] == {"brightness": "3400_lumens", "owner": "150"}
    assert props["thingGroupDescription"] == "all bulbs"

    updated = iot.update_thing_group(
        thingGroupName="LightBulbs",
        thingGroupProperties={"thingGroupDescription": "new", "attributePayload": {"attributes": {"x": "1"}}})
    assert updated["version"] == 3
    described = iot.describe_thing_group(thingGroupName="LightBulbs")
    assert described["thingGroupProperties"] == {"thingGroupDescription": "new",
                                                 "attributePayload": {"attributes": {"x": "1"}}}
    assert described["version"] == 3

    iot.update_thing_group(thingGroupName="LightBulbs",
                           thingGroupProperties={"attributePayload": {"attributes": {"x": ""}, "merge": True}})
    # No attributes left: no attributePayload, as AWS answers (docs/aws-behaviour.md §16).
    assert "attributePayload" not in iot.describe_thing_group(thingGroupName="LightBulbs")["thingGroupProperties"]

    iot.delete_thing_group(thingGroupName="LightBulbs", expectedVersion=4)
    assert error_of(iot.describe_thing_group, thingGroupName="LightBulbs") == ("ResourceNotFoundException", 404)
    # Deleting a group that does not exist succeeds, as on AWS.
    iot.delete_thing_group(thingGroupName="LightBulbs")


def test_hierarchy_in_describe_and_delete_refuses_parents(iot):
    make_tree(iot)
    metadata = iot.describe_thing_group(thingGroupName="RedLights")["thingGroupMetadata"]
    assert metadata["parentGroupName"] == "LightBulbs"
    assert metadata["rootToParentThingGroups"] == [
        {"groupName": "ShinyObjects", "groupArn": ARN + "ShinyObjects"},
        {"groupName": "LightBulbs", "groupArn": ARN + "LightBulbs"},
    ]
    assert iot.describe_thing_group(thingGroupName="LightBulbs")["thingGroupMetadata"]["rootToParentThingGroups"] \
        == [{"groupName": "ShinyObjects", "groupArn": ARN + "ShinyObjects"}]

    assert error_of(iot.delete_thing_group, thingGroupName="LightBulbs") == ("InvalidRequestException", 400)
    iot.delete_thing_group(thingGroupName="RedLights")
    iot.delete_thing_group(thingGroupName="LightBulbs")
    assert names(iot.list_thing_groups()["thingGroups"]) == ["Fans", "ShinyObjects"]


def test_errors_have_aws_names_and_statuses(emulator, iot):
    iot.create_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "one"})
    assert error_of(iot.create_thing_group, thingGroupName="child", parentGroupName="missing") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.create_thing_group, thingGroupName="g",
                    thingGroupProperties={"thingGroupDescription": "two"}) == \
        ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.create_thing_group, thingGroupName="g", parentGroupName="g") == \
        ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.update_thing_group, thingGroupName="g", expectedVersion=5,
                    thingGroupProperties={"thingGroupDescription": "x"}) == ("VersionConflictException", 409)
    assert error_of(iot.delete_thing_group, thingGroupName="g", expectedVersion=5) == \
        ("VersionConflictException", 409)
    assert error_of(iot.describe_thing_group, thingGroupName="missing") == ("ResourceNotFoundException", 404)
    assert error_of(iot.update_thing_group, thingGroupName="missing",
                    thingGroupProperties={"thingGroupDescription": "x"}) == ("ResourceNotFoundException", 404)
    assert error_of(iot.list_thing_groups, parentGroup="missing") == ("ResourceNotFoundException", 404)
    assert error_of(iot.list_things_in_thing_group, thingGroupName="missing") == ("ResourceNotFoundException", 404)
    assert error_of(iot.list_thing_groups_for_thing, thingName="missing") == ("ResourceNotFoundException", 404)

    iot.create_thing(thingName="t")
    assert error_of(iot.add_thing_to_thing_group, thingGroupName="missing", thingName="t") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.add_thing_to_thing_group, thingGroupName="g", thingName="missing") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.remove_thing_from_thing_group, thingGroupName="missing", thingName="t") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.add_thing_to_thing_group, thingName="t") == ("InvalidRequestException", 400)
    assert error_of(iot.update_thing_groups_for_thing, thingName="t", thingGroupsToAdd=["g", "missing"]) == \
        ("ResourceNotFoundException", 404)
    assert iot.list_thing_groups_for_thing(thingName="t")["thingGroups"] == [], "nothing changed"

    assert error_of(iot.create_thing_group, thingGroupName="bad name") == ("InvalidRequestException", 400)
    assert error_of(iot.create_thing_group, thingGroupName="bad-attr",
                    thingGroupProperties={"attributePayload": {"attributes": {"a": "no spaces"}}}) == \
        ("InvalidRequestException", 400)
    assert error_of(iot.list_thing_groups, maxResults=251) == ("InvalidRequestException", 400)

    request = urllib.request.Request(
        f"{emulator.endpoint}/thing-groups/x", data=b"{not json", method="POST",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=test/20261124/us-east-1/iot/aws4_request, "
                                  "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert info.value.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert "message" in json.loads(info.value.read())
    assert error_of(iot.describe_thing_group, thingGroupName="x") == ("ResourceNotFoundException", 404)


def test_list_thing_groups_filters_recursion_and_pages(iot):
    make_tree(iot)
    everything = ["Fans", "LightBulbs", "RedLights", "ShinyObjects"]
    listed = iot.list_thing_groups()["thingGroups"]
    assert names(listed) == everything
    assert listed[0] == {"groupName": "Fans", "groupArn": ARN + "Fans"}
    assert names(iot.list_thing_groups(recursive=False)["thingGroups"]) == ["Fans", "ShinyObjects"]
    assert names(iot.list_thing_groups(parentGroup="ShinyObjects")["thingGroups"]) == ["LightBulbs"]
    assert names(iot.list_thing_groups(parentGroup="ShinyObjects", recursive=True)["thingGroups"]) == \
        ["LightBulbs", "RedLights"]
    assert names(iot.list_thing_groups(parentGroup="RedLights", recursive=True)["thingGroups"]) == []
    assert names(iot.list_thing_groups(namePrefixFilter="Li")["thingGroups"]) == ["LightBulbs"]
    assert names(iot.list_thing_groups(parentGroup="ShinyObjects", recursive=True,
                                       namePrefixFilter="Red")["thingGroups"]) == ["RedLights"]

    items, pages = all_pages(iot.list_thing_groups, "thingGroups")
    assert names(items) == everything and pages == 4
    paginated = iot.get_paginator("list_thing_groups").paginate(PaginationConfig={"PageSize": 3})
    assert [names(p["thingGroups"]) for p in paginated] == [everything[:3], everything[3:]]


def test_membership_by_name_and_arn(iot):
    make_tree(iot)
    thing_arn = iot.create_thing(thingName="bulb")["thingArn"]
    iot.create_thing(thingName="fan")
    iot.add_thing_to_thing_group(thingGroupName="RedLights", thingName="bulb")
    iot.add_thing_to_thing_group(thingGroupArn=ARN + "Fans", thingArn=thing_arn)
    iot.add_thing_to_thing_group(thingGroupName="Fans", thingName="bulb")  # idempotent
    iot.add_thing_to_thing_group(thingGroupName="Fans", thingName="fan")
    assert iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"] == [
        {"groupName": "Fans", "groupArn": ARN + "Fans"},
        {"groupName": "RedLights", "groupArn": ARN + "RedLights"},
    ]
    assert iot.list_things_in_thing_group(thingGroupName="Fans")["things"] == ["bulb", "fan"]

    iot.remove_thing_from_thing_group(thingGroupArn=ARN + "Fans", thingName="bulb")
    iot.remove_thing_from_thing_group(thingGroupName="Fans", thingArn=thing_arn)  # not a member: no error
    assert iot.list_things_in_thing_group(thingGroupName="Fans")["things"] == ["fan"]
    assert names(iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"]) == ["RedLights"]

    iot.update_thing_groups_for_thing(thingName="bulb", thingGroupsToAdd=["Fans", "ShinyObjects"],
                                      thingGroupsToRemove=["RedLights"])
    assert names(iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"]) == ["Fans", "ShinyObjects"]
    items, pages = all_pages(iot.list_thing_groups_for_thing, "thingGroups", thingName="bulb")
    assert names(items) == ["Fans", "ShinyObjects"] and pages == 2


def test_a_thing_is_in_at_most_ten_groups(iot):
    iot.create_thing(thingName="busy")
    for i in range(11):
        iot.create_thing_group(thingGroupName=f"g{i:02}")
    iot.update_thing_groups_for_thing(thingName="busy", thingGroupsToAdd=[f"g{i:02}" for i in range(10)])
    assert error_of(iot.add_thing_to_thing_group, thingGroupName="g10", thingName="busy") == \
        ("InvalidRequestException", 400)
    assert len(iot.list_thing_groups_for_thing(thingName="busy")["thingGroups"]) == 10


def test_recursive_things_through_three_levels_and_pages(iot):
    make_tree(iot)
    for thing, group in [("top", "ShinyObjects"), ("middle", "LightBulbs"), ("bottom-a", "RedLights"),
                         ("bottom-b", "RedLights"), ("fan", "Fans")]:
        iot.create_thing(thingName=thing)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    # "middle" is in two groups of the hierarchy but is listed once.
    iot.add_thing_to_thing_group(thingGroupName="RedLights", thingName="middle")

    assert iot.list_things_in_thing_group(thingGroupName="ShinyObjects")["things"] == ["top"]
    assert iot.list_things_in_thing_group(thingGroupName="ShinyObjects", recursive=True)["things"] == \
        ["bottom-a", "bottom-b", "middle", "top"]
    assert iot.list_things_in_thing_group(thingGroupName="LightBulbs", recursive=True)["things"] == \
        ["bottom-a", "bottom-b", "middle"]
    items, pages = all_pages(iot.list_things_in_thing_group, "things", thingGroupName="ShinyObjects",
                             recursive=True)
    assert items == ["bottom-a", "bottom-b", "middle", "top"] and pages == 4


def test_deleting_a_thing_or_group_removes_memberships(iot):
    make_tree(iot)
    iot.create_thing(thingName="bulb")
    iot.update_thing_groups_for_thing(thingName="bulb", thingGroupsToAdd=["RedLights", "Fans"])
    iot.delete_thing_group(thingGroupName="Fans")
    assert names(iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"]) == ["RedLights"]
    iot.delete_thing(thingName="bulb")
    assert iot.list_things_in_thing_group(thingGroupName="RedLights")["things"] == []
    # A new thing of the same name starts in no group.
    iot.create_thing(thingName="bulb")
    assert iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"] == []
    # A new group of the same name starts empty.
    iot.create_thing_group(thingGroupName="Fans")
    assert iot.list_things_in_thing_group(thingGroupName="Fans")["things"] == []


def test_groups_survive_a_restart_and_reset_wipes_them(data_dir):
    first = Emulator(data_dir)
    try:
        iot = first.client()
        make_tree(iot)
        iot.update_thing_group(thingGroupName="RedLights",
                               thingGroupProperties={"attributePayload": {"attributes": {"k": "v"}}})
        iot.create_thing(thingName="bulb")
        iot.add_thing_to_thing_group(thingGroupName="RedLights", thingName="bulb")
        group_id = iot.describe_thing_group(thingGroupName="RedLights")["thingGroupId"]
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client()
        described = iot.describe_thing_group(thingGroupName="RedLights")
        assert described["thingGroupId"] == group_id and described["version"] == 2
        assert described["thingGroupProperties"]["attributePayload"]["attributes"] == {"k": "v"}
        assert [g["groupName"] for g in described["thingGroupMetadata"]["rootToParentThingGroups"]] == \
            ["ShinyObjects", "LightBulbs"]
        assert iot.list_things_in_thing_group(thingGroupName="ShinyObjects", recursive=True)["things"] == ["bulb"]
        urllib.request.urlopen(urllib.request.Request(f"{second.endpoint}/_iotemu/reset", method="POST"))
        assert iot.list_thing_groups()["thingGroups"] == []
        assert error_of(iot.describe_thing_group, thingGroupName="RedLights") == ("ResourceNotFoundException", 404)
        iot.create_thing(thingName="bulb")
        assert iot.list_thing_groups_for_thing(thingName="bulb")["thingGroups"] == []
    finally:
        second.stop()


def test_groups_are_per_region(emulator):
    east, west = emulator.client(region="us-east-1"), emulator.client(region="eu-west-1")
    east.create_thing_group(thingGroupName="only-east")
    assert error_of(west.describe_thing_group, thingGroupName="only-east") == ("ResourceNotFoundException", 404)
    assert west.create_thing_group(thingGroupName="only-east")["thingGroupArn"] == \
        "arn:aws:iot:eu-west-1:123456789012:thinggroup/only-east"
