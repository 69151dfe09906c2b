"""The control plane answers as AWS answers (issue 16): boto3 against the running emulator,
asserting AWS's HTTP status, error code and message for each case; the choices and their
sources are in docs/aws-behaviour.md §16."""
import json

import botocore.exceptions
import pytest

from test_certificate_registration import Pki

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}


def error(call, **kwargs):
    """(HTTP status, error code, message, whole response) of a failing boto3 call."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    r = info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"], r


def test_registering_a_known_certificate_names_it_before_any_ca_check(iot, tmp_path):
    pki = Pki(tmp_path)
    pem, _ = pki.self_signed("dev", "dev", "device")
    registered = iot.register_certificate_without_ca(certificatePem=pem)
    # RegisterCertificate would need a registered CA; the known certificate is answered first.
    for call, kwargs in [(iot.register_certificate, {"certificatePem": pem}),
                         (iot.register_certificate_without_ca, {"certificatePem": pem})]:
        status, code, message, response = error(call, **kwargs)
        assert (status, code, message) == (409, "ResourceAlreadyExistsException",
                                           "The certificate is already provisioned or registered")
        assert response["resourceId"] == registered["certificateId"]
        assert response["resourceArn"] == registered["certificateArn"]


def test_delete_certificate_force_delete(iot):
    cert = iot.create_keys_and_certificate(setAsActive=False)
    iot.create_policy(policyName="p", policyDocument=json.dumps(POLICY))
    iot.attach_policy(policyName="p", target=cert["certificateArn"])
    status, code, message, _ = error(iot.delete_certificate, certificateId=cert["certificateId"])
    assert (status, code) == (409, "DeleteConflictException")
    # forceDelete deletes an INACTIVE certificate with policies attached, not one on a thing.
    iot.create_thing(thingName="t")
    iot.attach_thing_principal(thingName="t", principal=cert["certificateArn"])
    status, code, message, _ = error(iot.delete_certificate, certificateId=cert["certificateId"], forceDelete=True)
    assert (status, code) == (409, "DeleteConflictException")
    iot.detach_thing_principal(thingName="t", principal=cert["certificateArn"])
    iot.delete_certificate(certificateId=cert["certificateId"], forceDelete=True)
    assert error(iot.describe_certificate, certificateId=cert["certificateId"])[:2] == (404, "ResourceNotFoundException")
    assert iot.list_targets_for_policy(policyName="p")["targets"] == []


def test_delete_thing_with_principals_and_listing_principals(iot):
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.create_thing(thingName="lamp")
    iot.attach_thing_principal(thingName="lamp", principal=cert["certificateArn"])
    assert error(iot.delete_thing, thingName="lamp")[:3] == (
        400, "InvalidRequestException", "Cannot delete. Thing lamp is still attached to one or more principals")
    assert error(iot.list_thing_principals, thingName="ghost")[:3] == (
        404, "ResourceNotFoundException",
        "Failed to list principals for thing ghost because the thing does not exist in your account")
    iot.detach_thing_principal(thingName="lamp", principal=cert["certificateArn"])
    iot.delete_thing(thingName="lamp")


def test_policy_messages(iot):
    assert iot.list_policy_principals(policyName="ghost")["principals"] == []
    for call, kwargs in [(iot.get_policy, {"policyName": "ghost"}),
                         (iot.delete_policy, {"policyName": "ghost"}),
                         (iot.list_targets_for_policy, {"policyName": "ghost"})]:
        assert error(call, **kwargs)[:3] == (404, "ResourceNotFoundException", "Policy not found")
    # Version is optional (IAM's conventions); a document without Statement is malformed.
    no_version = {"Statement": POLICY["Statement"]}
    iot.create_policy(policyName="p", policyDocument=json.dumps(no_version))
    assert error(iot.create_policy, policyName="p", policyDocument=json.dumps(POLICY))[:3] == (
        409, "ResourceAlreadyExistsException", "Policy cannot be created - name already exists (name=p)")
    assert error(iot.create_policy, policyName="q", policyDocument=json.dumps({"Version": "2012-10-17"}))[:2] == (
        400, "MalformedPolicyException")
    iot.create_policy_version(policyName="p", policyDocument=json.dumps(POLICY), setAsDefault=True)
    assert error(iot.delete_policy, policyName="p")[:3] == (
        409, "DeleteConflictException", "The policy cannot be deleted as versions other than than default version exist")
    iot.delete_policy_version(policyName="p", policyVersionId="1")
    iot.delete_policy(policyName="p")


def test_list_things_by_type_and_attribute_is_refused(iot):
    iot.create_thing_type(thingTypeName="lamps")
    iot.create_thing(thingName="a", thingTypeName="lamps", attributePayload={"attributes": {"room": "k"}})
    assert [t["thingName"] for t in iot.list_things(thingTypeName="lamps")["things"]] == ["a"]
    assert error(iot.list_things, thingTypeName="lamps", attributeName="room", attributeValue="k")[:3] == (
        400, "InvalidRequestException", "Listing things by the combination of attribute and thing type is not supported")


def test_a_group_without_attributes_has_empty_properties(iot):
    iot.create_thing_group(thingGroupName="bare")
    assert iot.describe_thing_group(thingGroupName="bare")["thingGroupProperties"] == {}
    iot.create_thing_group(thingGroupName="rich", thingGroupProperties={"attributePayload": {"attributes": {"a": "1"}}})
    assert iot.describe_thing_group(thingGroupName="rich")["thingGroupProperties"] == {
        "attributePayload": {"attributes": {"a": "1"}}}


def test_a_missing_topic_rule_is_unauthorized(iot):
    for call in (iot.get_topic_rule, iot.delete_topic_rule, iot.enable_topic_rule):
        assert error(call, ruleName="nope")[:3] == (401, "UnauthorizedException", "Access to topic rule 'nope' was denied")


def test_a_sha1_signed_csr_is_accepted(iot, tmp_path):
    pki = Pki(tmp_path)
    pki.run("req", "-new", "-newkey", "rsa:2048", "-sha1", "-nodes", "-keyout", "k.key", "-out", "k.csr",
            "-subj", "/CN=legacy", "-config", pki.config)
    csr = (tmp_path / "k.csr").read_text()
    made = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    assert iot.describe_certificate(certificateId=made["certificateId"])["certificateDescription"]["status"] == "ACTIVE"


def test_thing_principal_types_and_the_v2_listings(iot):
    shared = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
    own = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
    for name in ("a", "b"):
        iot.create_thing(thingName=name)
        iot.attach_thing_principal(thingName=name, principal=shared)
    iot.attach_thing_principal(thingName="a", principal=own, thingPrincipalType="EXCLUSIVE_THING")
    assert sorted(iot.list_thing_principals_v2(thingName="a")["thingPrincipalObjects"],
                  key=lambda o: o["thingPrincipalType"]) == [
        {"principal": own, "thingPrincipalType": "EXCLUSIVE_THING"},
        {"principal": shared, "thingPrincipalType": "NON_EXCLUSIVE_THING"}]
    assert iot.list_thing_principals_v2(thingName="a", thingPrincipalType="EXCLUSIVE_THING")[
        "thingPrincipalObjects"] == [{"principal": own, "thingPrincipalType": "EXCLUSIVE_THING"}]
    assert iot.list_principal_things_v2(principal=shared)["principalThingObjects"] == [
        {"thingName": "a", "thingPrincipalType": "NON_EXCLUSIVE_THING"},
        {"thingName": "b", "thingPrincipalType": "NON_EXCLUSIVE_THING"}]
    # An exclusive principal stays on its one thing; a shared one cannot become exclusive.
    for thing, principal, kind in [("b", own, "NON_EXCLUSIVE_THING"), ("b", shared, "EXCLUSIVE_THING")]:
        status, code, _, _ = error(iot.attach_thing_principal, thingName=thing, principal=principal,
                                   thingPrincipalType=kind)
        assert (status, code) == (400, "InvalidRequestException")
    assert error(iot.list_thing_principals_v2, thingName="ghost")[:3] == (
        404, "ResourceNotFoundException",
        "Failed to list principals for thing ghost because the thing does not exist in your account")
