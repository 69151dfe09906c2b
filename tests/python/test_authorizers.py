"""Custom authorizers through the `iot` API with boto3: CreateAuthorizer, DescribeAuthorizer,
ListAuthorizers, UpdateAuthorizer, DeleteAuthorizer, SetDefaultAuthorizer and
DescribeDefaultAuthorizer, with AWS's exceptions, kept across a restart; TestInvokeAuthorizer against a local HTTP server standing for the Lambda
function (allowing, denying, too slow), with a token signed by openssl."""
import base64
import json
import subprocess
import time

from conftest import Emulator, JsonFunction, error_of

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


def authorizer_function():
    """The authorizer Lambda: it allows the token `allow`, denies any other, and answers the
    token `slow` after AWS's 5-second limit."""

    def answer(event):
        if event.get("token") == "slow":
            time.sleep(6)
        allowed = event.get("token") == "allow"
        return {"isAuthenticated": allowed, "principalId": "deviceUser1",
                "disconnectAfterInSeconds": 3600, "refreshAfterInSeconds": 300,
                "policyDocuments": [json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow" if allowed else "Deny", "Action": "iot:Connect", "Resource": "*"}]})]}

    return JsonFunction(answer)


def sign(key_path, token):
    """The token's RSA SHA-256 signature, base64, made by openssl."""
    signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_path)], input=token.encode(),
                            capture_output=True, check=True).stdout
    return base64.b64encode(signed).decode()


def test_test_invoke_authorizer_calls_the_function(data_dir, tmp_path):
    function = authorizer_function()
    config = tmp_path / "authorizers.toml"
    config.write_text(f'[authorizers.endpoints]\n"{FUNCTION}" = "{function.url}"\n')
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        key = tmp_path / "signing.key"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout"], check=True,
                                capture_output=True, text=True).stdout
        iot = emulator.client("iot")
        iot.create_authorizer(authorizerName="signed", authorizerFunctionArn=FUNCTION, tokenKeyName="token",
                              tokenSigningPublicKeys={"k1": public})
        iot.create_authorizer(authorizerName="open", authorizerFunctionArn=FUNCTION, signingDisabled=True)

        allowed = iot.test_invoke_authorizer(authorizerName="signed", token="allow",
                                             tokenSignature=sign(key, "allow"),
                                             mqttContext={"username": "u", "password": b"p", "clientId": "c1"})
        assert allowed["isAuthenticated"] is True and allowed["principalId"] == "deviceUser1"
        assert allowed["disconnectAfterInSeconds"] == 3600 and allowed["refreshAfterInSeconds"] == 300
        assert json.loads(allowed["policyDocuments"][0])["Statement"][0]["Effect"] == "Allow"
        event = function.events[-1]
        assert event["token"] == "allow" and event["signatureVerified"] is True
        assert event["protocols"] == ["mqtt"]
        assert event["protocolData"]["mqtt"] == {"username": "u", "password": base64.b64encode(b"p").decode(),
                                                 "clientId": "c1"}
        assert event["connectionMetadata"]["id"]

        denied = iot.test_invoke_authorizer(authorizerName="open", token="deny")
        assert denied["isAuthenticated"] is False
        assert function.events[-1]["signatureVerified"] is False

        calls = len(function.events)
        assert error_of(iot.test_invoke_authorizer, authorizerName="signed", token="allow",
                        tokenSignature=sign(key, "other")) == ("InvalidRequestException", 400)
        assert len(function.events) == calls, "a bad signature never reaches the function"
        assert error_of(iot.test_invoke_authorizer, authorizerName="open", token="slow") == \
            ("InvalidResponseException", 400)
    finally:
        emulator.stop()
        function.stop()
