"""Fleet indexing and dynamic thing groups end to end, with boto3 `iot`/`iot-data` and paho:
the indexing configuration and indexes; SearchIndex and the aggregations against a hand
computation over the same things; InvalidQueryException; a thing whose attribute, shadow or
connection changes enters and leaves a dynamic group within a second; a CONTINUOUS job on a
dynamic group reaching a thing that starts matching (its device gets `jobs/notify-next`); what
dynamic groups refuse (explicit members, policies, parents); the 10-group limit and
`overrideDynamicGroups` writing AddThingToDynamicThingGroupsFailed (checked with `iotemu
check-entries`); persistence across a restart; reset."""
import json
import statistics
import urllib.request

import pytest

from conftest import Emulator, check_entries, error_of, wait_until
from test_jobs import Device, group_arn

REASON = ("The thing failed to be added to the given dynamic thing group(s) because the thing already "
          "belongs to the maximum allowed number of groups.")


def enable(iot, mode="REGISTRY_AND_SHADOW"):
    iot.update_indexing_configuration(thingIndexingConfiguration={
        "thingIndexingMode": mode, "thingConnectivityIndexingMode": "STATUS"})


def members(iot, group):
    return sorted(iot.list_things_in_thing_group(thingGroupName=group)["things"])


def search(iot, query, **kw):
    things, token = [], None
    while True:
        args = dict(queryString=query, **kw)
        if token:
            args["nextToken"] = token
        page = iot.search_index(**args)
        things += [t["thingName"] for t in page["things"]]
        token = page.get("nextToken")
        if not token:
            return things


def test_configuration_search_and_aggregations_match_a_hand_computation(emulator, iot):
    assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"
    assert iot.list_indices()["indexNames"] == []
    assert error_of(iot.search_index, queryString="*") == ("ResourceNotFoundException", 404)
    temps = {f"room{i:02}": 50 + 3 * i for i in range(12)}
    for name, temp in temps.items():
        iot.create_thing(thingName=name, attributePayload={"attributes": {
            "temperature": str(temp), "floor": str(temp % 3), "model": "legacy" if temp % 2 else "v2"}})
    enable(iot)
    config = iot.get_indexing_configuration()["thingIndexingConfiguration"]
    assert config["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
    assert config["thingConnectivityIndexingMode"] == "STATUS"
    assert iot.list_indices()["indexNames"] == ["AWS_Things"]
    index = iot.describe_index(indexName="AWS_Things")
    assert (index["indexStatus"], index["schema"]) == ("ACTIVE", "REGISTRY_AND_SHADOW_AND_CONNECTIVITY_STATUS")

    hand = {
        "attributes.temperature>60": [n for n, t in temps.items() if t > 60],
        "attributes.temperature:[56 TO 65]": [n for n, t in temps.items() if 56 <= t <= 65],
        "attributes.temperature:{56 TO 65]": [n for n, t in temps.items() if 56 < t <= 65],
        "room0* AND -attributes.model:legacy": [n for n, t in temps.items() if n.startswith("room0") and t % 2 == 0],
        "thingName:room1? OR attributes.floor:0": [n for n, t in temps.items() if n.startswith("room1") or t % 3 == 0],
        "NOT attributes.model:legacy": [n for n, t in temps.items() if t % 2 == 0],
        "*": list(temps),
    }
    for query, want in hand.items():
        assert search(iot, query, maxResults=5) == sorted(want), query

    code, status = error_of(iot.search_index, queryString="thingName:*abc")
    assert (code, status) == ("InvalidQueryException", 400)
    with pytest.raises(iot.exceptions.InvalidQueryException) as info:
        iot.search_index(queryString="(attributes.temperature>60")
    assert "position 0" in info.value.response["Error"]["Message"]
    assert error_of(iot.search_index, queryString="a b c d e f g h")[0] == "InvalidQueryException"

    values = [t for t in temps.values() if t > 55]
    stats = iot.get_statistics(queryString="attributes.temperature>55",
                               aggregationField="attributes.temperature")["statistics"]
    assert stats["count"] == len(values)
    assert stats["sum"] == sum(values) and stats["minimum"] == min(values) and stats["maximum"] == max(values)
    assert stats["average"] == pytest.approx(statistics.mean(values))
    assert stats["stdDeviation"] == pytest.approx(statistics.pstdev(values))
    assert iot.get_cardinality(queryString="*", aggregationField="attributes.floor")["cardinality"] == \
        len({t % 3 for t in temps.values()})
    ranked = sorted(temps.values())
    p50 = iot.get_percentiles(queryString="*", aggregationField="attributes.temperature", percents=[50])
    assert p50["percentiles"] == [{"percent": 50.0, "value": float(ranked[len(ranked) // 2 - 1])}]
    buckets = iot.get_buckets_aggregation(queryString="*", aggregationField="attributes.model",
                                          bucketsAggregationType={"termsAggregation": {"maxBuckets": 5}})
    assert buckets["totalCount"] == len(temps)
    assert {b["keyValue"]: b["count"] for b in buckets["buckets"]} == {"legacy": 6, "v2": 6}


def test_dynamic_membership_follows_attributes_shadows_and_connections(emulator, iot):
    data = emulator.client("iot-data")
    for name in ("cold", "warm", "dev1"):
        iot.create_thing(thingName=name, attributePayload={"attributes": {"temperature": "50"}})
    assert error_of(iot.create_dynamic_thing_group, thingGroupName="early", queryString="*")[0] == \
        "InvalidRequestException"
    enable(iot)
    created = iot.create_dynamic_thing_group(thingGroupName="RoomTooWarm", queryString="attributes.temperature>60")
    assert (created["indexName"], created["queryVersion"]) == ("AWS_Things", "2017-09-30")
    assert created["queryString"] == "attributes.temperature>60"
    assert wait_until(lambda: iot.describe_thing_group(thingGroupName="RoomTooWarm")["status"] == "ACTIVE")
    described = iot.describe_thing_group(thingGroupName="RoomTooWarm")
    assert described["queryString"] == "attributes.temperature>60" and described["indexName"] == "AWS_Things"
    assert "RoomTooWarm" in [g["groupName"] for g in iot.list_thing_groups()["thingGroups"]]
    assert members(iot, "RoomTooWarm") == []
    assert error_of(iot.create_dynamic_thing_group, thingGroupName="bad", queryString="x:(")[0] == \
        "InvalidQueryException"

    # Attribute: in, then out, each within a second.
    iot.update_thing(thingName="warm", attributePayload={"attributes": {"temperature": "61"}, "merge": True})
    assert wait_until(lambda: members(iot, "RoomTooWarm") == ["warm"], timeout=1)
    iot.update_thing(thingName="warm", attributePayload={"attributes": {"temperature": "60"}, "merge": True})
    assert wait_until(lambda: members(iot, "RoomTooWarm") == [], timeout=1)

    # Shadow.
    iot.create_dynamic_thing_group(thingGroupName="Lit", queryString="shadow.reported.lamp:on")
    data.update_thing_shadow(thingName="cold", payload=json.dumps({"state": {"reported": {"lamp": "on"}}}))
    assert wait_until(lambda: members(iot, "Lit") == ["cold"], timeout=1)
    data.update_thing_shadow(thingName="cold", payload=json.dumps({"state": {"reported": {"lamp": "off"}}}))
    assert wait_until(lambda: members(iot, "Lit") == [], timeout=1)

    # Connectivity, from the broker.
    iot.create_dynamic_thing_group(thingGroupName="Online", queryString="connectivity.connected:true")
    device = Device(emulator, "dev1")
    assert wait_until(lambda: members(iot, "Online") == ["dev1"], timeout=1)
    found = iot.search_index(queryString="thingName:dev1")["things"][0]
    assert found["connectivity"]["connected"] is True and "Online" in found["thingGroupNames"]
    device.stop()
    assert wait_until(lambda: members(iot, "Online") == [], timeout=1)
    conn = iot.search_index(queryString="connectivity.disconnectReason:CLIENT_INITIATED_DISCONNECT")["things"]
    assert [t["thingName"] for t in conn] == ["dev1"]

    # What a dynamic group refuses.
    assert error_of(iot.add_thing_to_thing_group, thingGroupName="Online", thingName="cold")[0] == \
        "InvalidRequestException"
    iot.create_policy(policyName="p", policyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    assert error_of(iot.attach_policy, policyName="p", target=group_arn("Online"))[0] == "InvalidRequestException"
    assert error_of(iot.create_thing_group, thingGroupName="child", parentGroupName="Online")[0] == \
        "InvalidRequestException"
    iot.create_thing_group(thingGroupName="plain")
    assert error_of(iot.delete_dynamic_thing_group, thingGroupName="plain")[0] == "InvalidRequestException"

    # Update and delete.
    assert iot.update_dynamic_thing_group(thingGroupName="RoomTooWarm", queryString="attributes.temperature<55",
                                          thingGroupProperties={"thingGroupDescription": "cold now"})["version"] == 2
    assert wait_until(lambda: members(iot, "RoomTooWarm") == ["cold", "dev1"], timeout=1)
    iot.delete_dynamic_thing_group(thingGroupName="RoomTooWarm")
    assert error_of(iot.describe_thing_group, thingGroupName="RoomTooWarm")[0] == "ResourceNotFoundException"


def test_a_continuous_job_on_a_dynamic_group_reaches_a_thing_that_starts_matching(emulator, iot):
    iot.create_thing(thingName="fw1", attributePayload={"attributes": {"battery": "20"}})
    enable(iot, "REGISTRY")
    iot.create_dynamic_thing_group(thingGroupName="Charged", queryString="attributes.battery>80")
    iot.create_job(jobId="firmware", targets=[group_arn("Charged")], document='{"v": 2}',
                   targetSelection="CONTINUOUS")
    device = Device(emulator, "fw1", subscribe="$aws/things/fw1/jobs/notify-next")
    try:
        iot.update_thing(thingName="fw1", attributePayload={"attributes": {"battery": "90"}, "merge": True})
        assert wait_until(lambda: device.payloads("$aws/things/fw1/jobs/notify-next"), timeout=5)
        notified = device.payloads("$aws/things/fw1/jobs/notify-next")[0]
        assert notified["execution"]["jobId"] == "firmware"
    finally:
        device.stop()


def test_the_group_limit_and_override_write_the_entry(emulator, iot, data_dir):
    iot.create_thing(thingName="busy", attributePayload={"attributes": {"kind": "sensor"}})
    statics = [f"s{i}" for i in range(10)]
    for g in statics:
        iot.create_thing_group(thingGroupName=g)
    iot.update_thing_groups_for_thing(thingName="busy", thingGroupsToAdd=statics[:9])
    enable(iot, "REGISTRY")
    iot.create_dynamic_thing_group(thingGroupName="Sensors", queryString="attributes.kind:sensor")
    assert wait_until(lambda: members(iot, "Sensors") == ["busy"], timeout=1)
    # Full: a second dynamic group cannot take the thing.
    iot.create_dynamic_thing_group(thingGroupName="Sensors2", queryString="thingName:busy")
    failed = lambda: [e for e in emulator.entries() if e["eventType"] == "AddThingToDynamicThingGroupsFailed"]
    assert wait_until(lambda: len(failed()) == 1)
    entry = failed()[0]
    assert (entry["thingName"], entry["dynamicThingGroupNames"], entry["reason"]) == ("busy", ["Sensors2"], REASON)
    assert (entry["logLevel"], entry["status"]) == ("ERROR", "Failure")
    assert members(iot, "Sensors2") == []
    # Without override the tenth static group is refused; with it the newest dynamic group gives way.
    assert error_of(iot.add_thing_to_thing_group, thingGroupName="s9", thingName="busy")[0] == \
        "InvalidRequestException"
    iot.add_thing_to_thing_group(thingGroupName="s9", thingName="busy", overrideDynamicGroups=True)
    # The removal's entry, then the re-evaluation's: the thing still matches both, at the limit.
    assert wait_until(lambda: len(failed()) == 3)
    assert [e["dynamicThingGroupNames"] for e in failed()[1:]] == [["Sensors"], ["Sensors", "Sensors2"]]
    assert members(iot, "Sensors") == []
    groups = [g["groupName"] for g in iot.list_thing_groups_for_thing(thingName="busy")["thingGroups"]]
    assert sorted(groups) == sorted(statics)
    check_entries(emulator.log_file, "AddThingToDynamicThingGroupsFailed")


def test_persisted_across_a_restart_and_cleared_by_reset(data_dir):
    emu = Emulator(data_dir)
    iot = emu.client()
    iot.create_thing(thingName="keep", attributePayload={"attributes": {"zone": "a"}})
    enable(iot, "REGISTRY")
    iot.create_dynamic_thing_group(thingGroupName="ZoneA", queryString="attributes.zone:a")
    assert wait_until(lambda: members(iot, "ZoneA") == ["keep"], timeout=1)
    emu.stop()
    emu = Emulator(data_dir)
    try:
        iot = emu.client()
        assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "REGISTRY"
        assert search(iot, "attributes.zone:a") == ["keep"]
        assert iot.describe_thing_group(thingGroupName="ZoneA")["status"] == "ACTIVE"
        iot.update_thing(thingName="keep", attributePayload={"attributes": {"zone": "b"}, "merge": True})
        assert wait_until(lambda: members(iot, "ZoneA") == [], timeout=1)
        urllib.request.urlopen(urllib.request.Request(f"{emu.endpoint}/_iotemu/reset", method="POST"))
        assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"
        assert iot.list_indices()["indexNames"] == []
        assert iot.list_thing_groups()["thingGroups"] == []
    finally:
        emu.stop()
