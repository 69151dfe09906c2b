//! The engine against the examples of `provision-template.md`, `jit-provisioning.md` and
//! `provision-wo-cert.md`, every intrinsic function, and hostile templates.

use super::*;
use serde_json::json;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn evaluate(body: &str, parameters: &[(&str, &str)], pseudo: &[(&str, &str)]) -> Result<Plan, TemplateError> {
    let template = Template::parse(body)?;
    let (parameters, pseudo) = (params(parameters), params(pseudo));
    template.evaluate(&Inputs { parameters: &parameters, pseudo: &pseudo })
}

/// "Template example for bulk registration" (the certificate from a CSR).
const BULK: &str = r#"{
    "Parameters" : {
        "ThingName" : { "Type" : "String" },
        "SerialNumber" : { "Type" : "String" },
        "Location" : { "Type" : "String", "Default" : "WA" },
        "CSR" : { "Type" : "String" }
    },
    "Resources" : {
        "thing" : {
            "Type" : "AWS::IoT::Thing",
            "Properties" : {
                "ThingName" : {"Ref" : "ThingName"},
                "AttributePayload" : { "version" : "v1", "serialNumber" :  {"Ref" : "SerialNumber"}},
                "ThingTypeName" :  "lightBulb-versionA",
                "ThingGroups" : ["v1-lightbulbs", {"Ref" : "Location"}]
            }
        },
        "certificate" : {
            "Type" : "AWS::IoT::Certificate",
            "Properties" : {
                "CertificateSigningRequest": {"Ref" : "CSR"},
                "Status" : "ACTIVE"
            }
        },
        "policy" : {
            "Type" : "AWS::IoT::Policy",
            "Properties" : {
                "PolicyDocument" : "{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", \"Action\":[\"iot:Publish\"], \"Resource\": [\"arn:aws:iot:us-east-1:123456789012:topic/foo/bar\"] }] }"
            }
        }
    }
}"#;

/// "Template example for just-in-time provisioning (JITP)".
const JITP: &str = r#"{
   "Parameters":{
      "AWS::IoT::Certificate::CommonName":{ "Type":"String" },
      "AWS::IoT::Certificate::SerialNumber":{ "Type":"String" },
      "AWS::IoT::Certificate::Country":{ "Type":"String" },
      "AWS::IoT::Certificate::Id":{ "Type":"String" }
   },
   "Resources":{
      "thing":{
         "Type":"AWS::IoT::Thing",
         "Properties":{
            "ThingName":{ "Ref":"AWS::IoT::Certificate::CommonName" },
            "AttributePayload":{ "version":"v1", "serialNumber":{ "Ref":"AWS::IoT::Certificate::SerialNumber" } },
            "ThingTypeName":"lightBulb-versionA",
            "ThingGroups":[ "v1-lightbulbs", { "Ref":"AWS::IoT::Certificate::Country" } ]
         },
         "OverrideSettings":{ "AttributePayload":"MERGE", "ThingTypeName":"REPLACE", "ThingGroups":"DO_NOTHING" }
      },
      "certificate":{
         "Type":"AWS::IoT::Certificate",
         "Properties":{ "CertificateId":{ "Ref":"AWS::IoT::Certificate::Id" }, "Status":"ACTIVE" },
         "OverrideSettings":{ "Status":"DO_NOTHING" }
      },
      "policy":{
         "Type":"AWS::IoT::Policy",
         "Properties":{
            "PolicyDocument":"{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", \"Action\":[\"iot:Publish\"], \"Resource\": [\"arn:aws:iot:us-east-1:123456789012:topic/foo/bar\"] }] }"
         }
      }
   }
}"#;

/// "Template example for fleet provisioning".
const FLEET: &str = r#"{
    "Parameters" : {
        "ThingName" : { "Type" : "String" },
        "SerialNumber": { "Type": "String" },
        "DeviceLocation": { "Type": "String" }
    },
    "Mappings": {
        "LocationTable": { "Seattle": { "LocationUrl": "https://example.aws" } }
    },
    "Resources" : {
        "thing" : {
            "Type" : "AWS::IoT::Thing",
            "Properties" : {
                "AttributePayload" : { "version" : "v1", "serialNumber" : "serialNumber" },
                "ThingName" : {"Ref" : "ThingName"},
                "ThingTypeName" : {"Fn::Join":["",["ThingPrefix_",{"Ref":"SerialNumber"}]]},
                "ThingGroups" : ["v1-lightbulbs", "WA"],
                "BillingGroup": "LightBulbBillingGroup"
            },
            "OverrideSettings" : { "AttributePayload" : "MERGE", "ThingTypeName" : "REPLACE", "ThingGroups" : "DO_NOTHING" }
        },
        "certificate" : {
            "Type" : "AWS::IoT::Certificate",
            "Properties" : { "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status" : "Active" }
        },
        "policy" : {
            "Type" : "AWS::IoT::Policy",
            "Properties" : {
                "PolicyDocument" : {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action":["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"] }]
                }
            }
        }
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": { "Fn::FindInMap": ["LocationTable",{"Ref": "DeviceLocation"}, "LocationUrl"]}
    }
}"#;

#[test]
fn the_bulk_registration_example_evaluates_with_its_default() {
    let plan =
        evaluate(BULK, &[("ThingName", "bulb-1"), ("SerialNumber", "123"), ("CSR", "csr-pem")], &[]).unwrap();
    let thing = plan.thing.unwrap();
    assert_eq!(thing.name, "bulb-1");
    assert_eq!(thing.attributes, Some(params(&[("version", "v1"), ("serialNumber", "123")])));
    assert_eq!(thing.type_name.as_deref(), Some("lightBulb-versionA"));
    assert_eq!(thing.groups, Some(vec!["v1-lightbulbs".to_string(), "WA".to_string()]));
    assert_eq!(
        (thing.attributes_override, thing.groups_override),
        (Override::DoNothing, Override::DoNothing)
    );
    let certificate = plan.certificate.unwrap();
    assert_eq!(certificate.source, CertificateSource::Csr("csr-pem".into()));
    assert_eq!(certificate.status, "ACTIVE");
    let [policy] = plan.policies.as_slice() else { panic!("one policy") };
    let document = policy.document.as_deref().unwrap();
    assert!(document.contains("arn:aws:iot:us-east-1:123456789012:topic/foo/bar"));
    // "PolicyName: Defaults to a hash of the policy document."
    assert_eq!(policy.name, plan::document_hash(document));
    assert_eq!(policy.name.len(), 64);
    // The parameter's value wins over its Default.
    let plan =
        evaluate(BULK, &[("ThingName", "b"), ("SerialNumber", "1"), ("CSR", "c"), ("Location", "OR")], &[])
            .unwrap();
    assert_eq!(plan.thing.unwrap().groups.unwrap()[1], "OR");
}

#[test]
fn a_declared_parameter_without_a_value_fails_the_evaluation() {
    let error = evaluate(BULK, &[("ThingName", "bulb-1"), ("CSR", "c")], &[]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Evaluation);
    assert!(error.message.contains("SerialNumber"), "{error}");
}

#[test]
fn the_jitp_example_takes_the_certificate_fields_and_its_override_settings() {
    let pseudo = [
        ("AWS::IoT::Certificate::CommonName", "lamp-7"),
        ("AWS::IoT::Certificate::SerialNumber", "SN-7"),
        ("AWS::IoT::Certificate::Country", "US"),
        ("AWS::IoT::Certificate::Id", "abc123"),
    ];
    let plan = evaluate(JITP, &[], &pseudo).unwrap();
    let thing = plan.thing.unwrap();
    assert_eq!(thing.name, "lamp-7");
    assert_eq!(thing.attributes.unwrap()["serialNumber"], "SN-7");
    assert_eq!(thing.groups.unwrap(), vec!["v1-lightbulbs", "US"]);
    assert_eq!(
        (thing.attributes_override, thing.type_override, thing.groups_override),
        (Override::Merge, Override::Replace, Override::DoNothing)
    );
    let certificate = plan.certificate.unwrap();
    assert_eq!(certificate.source, CertificateSource::Id("abc123".into()));
    assert_eq!(certificate.status_override, Override::DoNothing);
    // "the device provisioning fails if the certificate doesn't have all of the properties".
    let without_country: Vec<_> = pseudo.iter().filter(|(k, _)| !k.ends_with("Country")).copied().collect();
    assert!(evaluate(JITP, &[], &without_country).unwrap_err().message.contains("Country"));
    // A device cannot override a pseudo-parameter with a parameter of the same name.
    let plan = evaluate(JITP, &[("AWS::IoT::Certificate::Id", "forged")], &pseudo).unwrap();
    assert_eq!(plan.certificate.unwrap().source, CertificateSource::Id("abc123".into()));
}

#[test]
fn the_fleet_example_maps_joins_and_configures_the_device() {
    let plan = evaluate(
        FLEET,
        &[("ThingName", "bulb-9"), ("SerialNumber", "999"), ("DeviceLocation", "Seattle")],
        &[("AWS::IoT::Certificate::Id", "cert-9")],
    )
    .unwrap();
    let thing = plan.thing.unwrap();
    assert_eq!(thing.type_name.as_deref(), Some("ThingPrefix_999"));
    assert_eq!(thing.billing_group.as_deref(), Some("LightBulbBillingGroup"));
    // "Status" : "Active" in the example.
    assert_eq!(plan.certificate.unwrap().status, "ACTIVE");
    let document: Value = serde_json::from_str(plan.policies[0].document.as_deref().unwrap()).unwrap();
    assert_eq!(document["Statement"][0]["Action"], json!(["iot:Publish"]));
    assert_eq!(
        Value::Object(plan.device_configuration),
        json!({"FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"})
    );
    let missing = evaluate(
        FLEET,
        &[("ThingName", "b"), ("SerialNumber", "1"), ("DeviceLocation", "Paris")],
        &[("AWS::IoT::Certificate::Id", "c")],
    );
    assert!(missing.unwrap_err().message.contains("LocationTable.Paris.LocationUrl"));
}

#[test]
fn an_undeclared_parameter_is_taken_from_the_request_as_in_the_hook_example() {
    // provision-wo-cert.md's template refers to SerialNumber without declaring it.
    let body = r#"{
        "Parameters" : { "DeviceLocation": { "Type": "String" } },
        "Resources" : {
            "thing" : { "Type" : "AWS::IoT::Thing",
                        "Properties" : { "ThingName" : {"Fn::Join":["",["ThingPrefix_",{"Ref":"SerialNumber"}]]} } }
        }
    }"#;
    let plan = evaluate(body, &[("SerialNumber", "42"), ("DeviceLocation", "x")], &[]).unwrap();
    assert_eq!(plan.thing.unwrap().name, "ThingPrefix_42");
    let unresolved = evaluate(body, &[("DeviceLocation", "x")], &[]).unwrap_err();
    assert!(unresolved.message.contains("Ref SerialNumber"), "{unresolved}");
}

fn configuration(entries: Value, parameters: &[(&str, &str)]) -> Result<Value, TemplateError> {
    let body = json!({
        "Parameters": {
            "Csv": {"Type": "CommaDelimitedList", "Default": "a,b,c"},
            "Numbers": {"Type": "List<Number>", "Default": "1, 2"},
            "Count": {"Type": "Number", "Default": "3"}
        },
        "Mappings": {"M": {"k": {"v": "mapped"}}},
        "DeviceConfiguration": entries
    });
    let pseudo = [("AWS::IoT::Certificate::Id", "cid")];
    evaluate(&body.to_string(), parameters, &pseudo).map(|p| Value::Object(p.device_configuration))
}

#[test]
fn every_intrinsic_function_works() {
    let got = configuration(
        json!({
            "join": {"Fn::Join": ["-", ["a", {"Ref": "Count"}, 7]]},
            "select": {"Fn::Select": ["1", {"Ref": "Csv"}]},
            "selectNumber": {"Fn::Select": [0, {"Ref": "Numbers"}]},
            "split": {"Fn::Select": [2, {"Fn::Split": ["/", "x/y/z"]}]},
            "find": {"Fn::FindInMap": ["M", {"Fn::Select": [0, ["k"]]}, "v"]},
            "sub": {"Fn::Sub": "id=${AWS::IoT::Certificate::Id};n=${Count};lit=${!Literal}"},
            "subVars": {"Fn::Sub": ["${a}+${Serial}", {"a": {"Fn::Join": ["", ["x", "y"]]}}]},
            "list": ["plain", {"Ref": "Serial"}]
        }),
        &[("Serial", "S1")],
    )
    .unwrap();
    assert_eq!(
        got,
        json!({
            "join": "a-3-7",
            "select": "b",
            "selectNumber": "1",
            "split": "z",
            "find": "mapped",
            "sub": "id=cid;n=3;lit=${Literal}",
            "subVars": "xy+S1",
            "list": ["plain", "S1"]
        })
    );
}

#[test]
fn intrinsic_functions_fail_on_bad_values() {
    let fails = |entry: Value, parameters: &[(&str, &str)], text: &str| {
        let error = configuration(json!({ "x": entry }), parameters).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Evaluation, "{error}");
        assert!(error.message.contains(text), "{error} lacks {text}");
    };
    fails(json!({"Fn::Select": [3, {"Ref": "Csv"}]}), &[], "out of");
    fails(json!({"Fn::Select": [0, [null]]}), &[], "null");
    fails(json!({"Fn::Select": ["x", ["a"]]}), &[], "index");
    fails(json!({"Fn::Split": ["", "abc"]}), &[], "must not be empty");
    fails(json!({"Fn::Join": [",", "not a list"]}), &[], "must be a list");
    fails(json!({"Fn::Sub": "${Csv}"}), &[], "is a list");
    fails(json!({"Ref": "Nope"}), &[], "Ref Nope");
    fails(json!({"Ref": "Count"}), &[("Count", "three")], "must be a number");
    fails(json!({"Ref": "Numbers"}), &[("Numbers", "1,two")], "must be a number");
}

#[test]
fn invalid_templates_are_refused_when_created() {
    let refused = |body: &str, text: &str| {
        let error = Template::parse(body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
        assert!(error.message.contains(text), "{error} lacks {text}");
    };
    refused("", "not valid JSON");
    refused("[1]", "JSON object");
    refused(r#"{"Resource": {}}"#, "Unknown template section \"Resource\"");
    refused(r#"{"Conditions": {}}"#, "Unknown template section");
    refused(r#"{"Parameters": {"P": {}}}"#, "has no Type");
    refused(r#"{"Parameters": {"P": {"Type": "Boolean"}}}"#, "Type \"Boolean\"");
    refused(r#"{"Parameters": {"P": {"Type": "Number", "Default": "x"}}}"#, "must be a number");
    refused(r#"{"Mappings": {"M": {"k": {"v": {"Ref": "P"}}}}}"#, "cannot use parameters");
    refused(r#"{"DeviceConfiguration": {"a": {"nested": "object"}}}"#, "nested JSON objects");
    refused(r#"{"DeviceConfiguration": {"a": {"Fn::If": ["c", "x", "y"]}}}"#, "Fn::If is not an intrinsic");
    refused(r#"{"DeviceConfiguration": {"a": {"Fn::Join": ["x"]}}}"#, "Fn::Join takes");
    refused(r#"{"DeviceConfiguration": {"a": {"Ref": 3}}}"#, "Ref takes");
    refused(r#"{"DeviceConfiguration": {"a": {"Fn::Sub": "${open"}}}"#, "closed");
    let resource = |resource: Value| json!({ "Resources": { "r": resource } }).to_string();
    refused(&resource(json!({"Type": "AWS::S3::Bucket"})), "has Type");
    refused(&resource(json!({"Type": "AWS::IoT::Thing", "Properties": {}})), "no ThingName");
    refused(
        &resource(json!({"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t", "Colour": "red"}})),
        "unknown property",
    );
    refused(
        &resource(
            json!({"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}, "OverrideSettings": {"ThingTypeName": "MERGE"}}),
        ),
        "MERGE is valid only",
    );
    refused(
        &resource(
            json!({"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}, "OverrideSettings": {"ThingName": "REPLACE"}}),
        ),
        "cannot override",
    );
    refused(
        &resource(
            json!({"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "a", "CertificateSigningRequest": "b"}}),
        ),
        "exactly one",
    );
    refused(
        &resource(
            json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a", "PolicyDocument": "{}"}}),
        ),
        "not both",
    );
    refused(
        &resource(
            json!({"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a"}, "OverrideSettings": {"Status": "FAIL"}}),
        ),
        "not available for policies",
    );
    let two_things = json!({"Resources": {
        "a": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a"}},
        "b": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "b"}}}});
    refused(&two_things.to_string(), "at most one");
    // The documented examples all parse, and override names are taken both ways.
    for body in [BULK, JITP, FLEET] {
        Template::parse(body).unwrap();
    }
    let spelled = resource(json!({"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"},
        "OverrideSettings": {"ATTRIBUTE_PAYLOAD": "merge", "THING_GROUPS": "FAIL"}}));
    let plan = evaluate(&spelled, &[], &[]).unwrap().thing.unwrap();
    assert_eq!((plan.attributes_override, plan.groups_override), (Override::Merge, Override::Fail));
}

#[test]
fn hostile_templates_neither_overflow_the_stack_nor_exhaust_memory() {
    // Far deeper than the JSON parser allows: refused as invalid JSON, no stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(Template::parse(&deep).unwrap_err().kind, ErrorKind::Invalid);
    // Deeper than MAX_DEPTH but within the parser's limit.
    let mut nested = json!("x");
    for _ in 0..(MAX_DEPTH / 2 + 5) {
        nested = json!({"Fn::Join": ["", [nested]]});
    }
    let body = json!({"DeviceConfiguration": {"a": nested}}).to_string();
    assert!(Template::parse(&body).unwrap_err().message.contains("nests deeper"));
    // A 100 KB parameter joined 40 times: over the output limit.
    let big = "x".repeat(100_000);
    let refs: Vec<Value> = (0..40).map(|_| json!({"Ref": "Big"})).collect();
    let body = json!({"DeviceConfiguration": {"a": {"Fn::Join": ["", refs]}}}).to_string();
    let error = evaluate(&body, &[("Big", &big)], &[]).unwrap_err();
    assert!(error.message.contains("exceed"), "{error}");
}
