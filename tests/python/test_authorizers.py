"""Custom authorizers through the `iot` API with boto3: CreateAuthorizer, DescribeAuthorizer,
ListAuthorizers, UpdateAuthorizer, DeleteAuthorizer, SetDefaultAuthorizer and
DescribeDefaultAuthorizer, with AWS's exceptions, kept across a restart."""
from conftest import Emulator, error_of

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:my-authorizer"
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"


def test_authorizer_lifecycle(emulator, iot):
    created = iot.create_authorizer(authorizerName="signed", authorizerFunctionArn=FUNCTION,
                                    tokenKeyName="x-token", tokenSigningPublicKeys={"k1": PUBLIC_KEY})
    assert created["authorizerArn"] == "arn:aws:iot:us-east-1:123456789012:authorizer/signed"
    iot.create_authorizer(authorizerName="unsigned", authorizerFunctionArn=FUNCTION, signingDisabled=True,
                          status="INACTIVE")
    described = iot.describe_authorizer(authorizerName="signed")["authorizerDescription"]
    assert described["status"] == "ACTIVE" and described["tokenKeyName"] == "x-token"
    assert described["tokenSigningPublicKeys"] == {"k1": PUBLIC_KEY} and described["signingDisabled"] is False
    assert described["creationDate"] <= described["lastModifiedDate"]

    assert [a["authorizerName"] for a in iot.list_authorizers()["authorizers"]] == ["signed", "unsigned"]
    assert [a["authorizerName"] for a in iot.list_authorizers(status="INACTIVE")["authorizers"]] == ["unsigned"]
    assert [a["authorizerName"] for a in iot.list_authorizers(ascendingOrder=False)["authorizers"]] == \
        ["unsigned", "signed"]
    first = iot.list_authorizers(pageSize=1)
    assert [a["authorizerName"] for a in first["authorizers"]] == ["signed"]
    assert [a["authorizerName"] for a in iot.list_authorizers(pageSize=1, marker=first["nextMarker"])["authorizers"]] \
        == ["unsigned"]

    assert error_of(iot.create_authorizer, authorizerName="signed", authorizerFunctionArn=FUNCTION,
                    signingDisabled=True) == ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.create_authorizer, authorizerName="no-keys", authorizerFunctionArn=FUNCTION) == \
        ("InvalidRequestException", 400)
    assert error_of(iot.describe_authorizer, authorizerName="missing") == ("ResourceNotFoundException", 404)
    assert error_of(iot.describe_default_authorizer) == ("ResourceNotFoundException", 404)

    iot.update_authorizer(authorizerName="signed", tokenKeyName="x-other", status="INACTIVE")
    described = iot.describe_authorizer(authorizerName="signed")["authorizerDescription"]
    assert described["tokenKeyName"] == "x-other" and described["status"] == "INACTIVE"

    assert iot.set_default_authorizer(authorizerName="unsigned")["authorizerName"] == "unsigned"
    assert iot.describe_default_authorizer()["authorizerDescription"]["authorizerName"] == "unsigned"

    iot.update_authorizer(authorizerName="unsigned", status="ACTIVE")
    assert error_of(iot.delete_authorizer, authorizerName="unsigned") == ("DeleteConflictException", 409)
    iot.delete_authorizer(authorizerName="signed")
    assert error_of(iot.delete_authorizer, authorizerName="signed") == ("ResourceNotFoundException", 404)


def test_authorizers_survive_a_restart(data_dir):
    first = Emulator(data_dir)
    try:
        iot = first.client("iot")
        iot.create_authorizer(authorizerName="kept", authorizerFunctionArn=FUNCTION, signingDisabled=True)
        iot.set_default_authorizer(authorizerName="kept")
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client("iot")
        assert iot.describe_default_authorizer()["authorizerDescription"]["authorizerFunctionArn"] == FUNCTION
    finally:
        second.stop()
