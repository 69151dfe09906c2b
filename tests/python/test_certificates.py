"""Certificates and thing principals through boto3: CreateKeysAndCertificate with the
emulator's CA, Describe/List/Update/DeleteCertificate and their state rules, and
Attach/Detach/ListThingPrincipals and ListPrincipalThings."""
import hashlib
import ssl
import subprocess

from conftest import error_of


def test_create_keys_and_certificate_issues_a_certificate_of_the_emulators_ca(iot):
    created = iot.create_keys_and_certificate(setAsActive=True)
    der = ssl.PEM_cert_to_DER_cert(created["certificatePem"])
    assert created["certificateId"] == hashlib.sha256(der).hexdigest()
    assert created["certificateArn"] == f"arn:aws:iot:us-east-1:123456789012:cert/{created['certificateId']}"
    # An RSA 2048 key in PKCS#1 PEM and its SubjectPublicKeyInfo, as botocore's example shows them.
    assert created["keyPair"]["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert created["keyPair"]["PublicKey"].startswith("-----BEGIN PUBLIC KEY-----\n")
    modulus = subprocess.run(["openssl", "rsa", "-noout", "-text"], input=created["keyPair"]["PrivateKey"],
                             capture_output=True, text=True, check=True).stdout
    assert "Private-Key: (2048 bit" in modulus
    signature = subprocess.run(["openssl", "x509", "-noout", "-text"], input=created["certificatePem"],
                               capture_output=True, text=True, check=True).stdout
    assert "Signature Algorithm: ecdsa-with-SHA256" in signature
    description = iot.describe_certificate(certificateId=created["certificateId"])["certificateDescription"]
    assert description["status"] == "ACTIVE"
    assert description["certificatePem"] == created["certificatePem"]
    assert description["ownedBy"] == "123456789012"
    assert description["validity"]["notAfter"] > description["validity"]["notBefore"]
    inactive = iot.create_keys_and_certificate(setAsActive=False)
    assert iot.describe_certificate(certificateId=inactive["certificateId"])["certificateDescription"]["status"] \
        == "INACTIVE"


def test_certificate_status_rules_and_deletion(iot):
    cert = iot.create_keys_and_certificate(setAsActive=True)
    cid, arn = cert["certificateId"], cert["certificateArn"]
    assert error_of(iot.delete_certificate, certificateId=cid) == ("CertificateStateException", 406)
    iot.create_thing(thingName="holder")
    iot.attach_thing_principal(thingName="holder", principal=arn)
    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    assert error_of(iot.delete_certificate, certificateId=cid) == ("DeleteConflictException", 409)
    iot.detach_thing_principal(thingName="holder", principal=arn)
    iot.update_certificate(certificateId=cid, newStatus="REVOKED")
    assert error_of(iot.update_certificate, certificateId=cid, newStatus="ACTIVE") == \
        ("CertificateStateException", 406)
    iot.delete_certificate(certificateId=cid)
    assert error_of(iot.describe_certificate, certificateId=cid) == ("ResourceNotFoundException", 404)


def test_list_certificates_pages(iot):
    ids = [iot.create_keys_and_certificate(setAsActive=True)["certificateId"] for _ in range(5)]
    seen = [c["certificateId"] for page in iot.get_paginator("list_certificates").paginate(PaginationConfig={"PageSize": 2})
            for c in page["certificates"]]
    assert sorted(seen) == sorted(ids)
    first = iot.list_certificates(pageSize=2)
    assert len(first["certificates"]) == 2 and "nextMarker" in first


def test_thing_principals_both_ways(iot):
    arn = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
    for name in ("p-1", "p-2"):
        iot.create_thing(thingName=name)
        iot.attach_thing_principal(thingName=name, principal=arn)
    assert iot.list_thing_principals(thingName="p-1")["principals"] == [arn]
    assert sorted(iot.list_principal_things(principal=arn)["things"]) == ["p-1", "p-2"]
    iot.detach_thing_principal(thingName="p-1", principal=arn)
    assert iot.list_thing_principals(thingName="p-1")["principals"] == []
    assert iot.list_principal_things(principal=arn)["things"] == ["p-2"]
    unknown = "arn:aws:iot:us-east-1:123456789012:cert/" + "0" * 64
    assert error_of(iot.attach_thing_principal, thingName="p-1", principal=unknown) == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.list_thing_principals, thingName="nobody") == ("ResourceNotFoundException", 404)


def test_principal_listings_page(iot):
    arns = sorted(iot.create_keys_and_certificate(setAsActive=True)["certificateArn"] for _ in range(3))
    iot.create_thing(thingName="hub")
    for arn in arns:
        iot.attach_thing_principal(thingName="hub", principal=arn)
    for name in ("a-thing", "b-thing", "c-thing"):
        iot.create_thing(thingName=name)
        iot.attach_thing_principal(thingName=name, principal=arns[0])
    first = iot.list_thing_principals(thingName="hub", maxResults=2)
    assert first["principals"] == arns[:2]
    rest = iot.list_thing_principals(thingName="hub", maxResults=2, nextToken=first["nextToken"])
    assert rest["principals"] == arns[2:] and "nextToken" not in rest
    things = [t for page in iot.get_paginator("list_principal_things").paginate(
        principal=arns[0], PaginationConfig={"PageSize": 1}) for t in page["things"]]
    assert things == ["a-thing", "b-thing", "c-thing", "hub"]
