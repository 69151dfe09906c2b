"""Thing types through boto3: create, describe, list, deprecate (and undo), delete, and their
use by CreateThing and UpdateThing."""
from conftest import error_of


def test_thing_type_lifecycle(iot):
    created = iot.create_thing_type(thingTypeName="lamp-type",
                                    thingTypeProperties={"thingTypeDescription": "lamps",
                                                         "searchableAttributes": ["room"]})
    assert created["thingTypeArn"] == "arn:aws:iot:us-east-1:123456789012:thingtype/lamp-type"
    described = iot.describe_thing_type(thingTypeName="lamp-type")
    assert described["thingTypeId"] == created["thingTypeId"]
    assert described["thingTypeProperties"] == {"thingTypeDescription": "lamps", "searchableAttributes": ["room"]}
    assert described["thingTypeMetadata"]["deprecated"] is False
    assert [t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]] == ["lamp-type"]

    iot.create_thing(thingName="lamp-1", thingTypeName="lamp-type")
    assert iot.describe_thing(thingName="lamp-1")["thingTypeName"] == "lamp-type"
    assert [t["thingName"] for t in iot.list_things(thingTypeName="lamp-type")["things"]] == ["lamp-1"]
    assert error_of(iot.create_thing, thingName="x", thingTypeName="no-such-type") == \
        ("ResourceNotFoundException", 404)

    assert error_of(iot.delete_thing_type, thingTypeName="lamp-type") == ("InvalidRequestException", 400)
    iot.deprecate_thing_type(thingTypeName="lamp-type")
    assert iot.describe_thing_type(thingTypeName="lamp-type")["thingTypeMetadata"]["deprecated"] is True
    assert error_of(iot.create_thing, thingName="lamp-2", thingTypeName="lamp-type") == \
        ("InvalidRequestException", 400)
    iot.deprecate_thing_type(thingTypeName="lamp-type", undoDeprecate=True)
    iot.create_thing(thingName="lamp-2", thingTypeName="lamp-type")

    iot.deprecate_thing_type(thingTypeName="lamp-type")
    assert error_of(iot.delete_thing_type, thingTypeName="lamp-type") == ("InvalidRequestException", 400), \
        "still used by things"
    iot.update_thing(thingName="lamp-1", removeThingType=True)
    iot.delete_thing(thingName="lamp-2")
    iot.delete_thing_type(thingTypeName="lamp-type")
    assert error_of(iot.describe_thing_type, thingTypeName="lamp-type") == ("ResourceNotFoundException", 404)


def test_list_thing_types_pages(iot):
    names = [f"type-{i}" for i in range(5)]
    for name in names:
        iot.create_thing_type(thingTypeName=name)
    first = iot.list_thing_types(maxResults=2)
    assert [t["thingTypeName"] for t in first["thingTypes"]] == names[:2] and first["nextToken"]
    paged = [t["thingTypeName"] for page in iot.get_paginator("list_thing_types").paginate(
        PaginationConfig={"PageSize": 2}) for t in page["thingTypes"]]
    assert paged == names
    assert error_of(iot.list_thing_types, maxResults=251)[0] in ("InvalidRequestException", "ValidationException")
