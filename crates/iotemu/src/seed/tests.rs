use super::*;
use crate::{App, Config};
use std::time::Duration;

fn seed_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load_error(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    Seed::load(&seed_file(dir.path(), name, text)).unwrap_err().0
}

#[test]
fn mistakes_name_the_entry_before_anything_is_applied() {
    let cases = [
        ("[[thing]]\nthingName = \"a\"\n", "seed: unknown section \"thing\""),
        (
            "[[things]]\nthingName = \"a\"\n[[things]]\nattributePayload = {}\n",
            "seed things[1]: thingName is required",
        ),
        (
            "[[things]]\nthingName = \"lamp\"\natributePayload = {}\n",
            "seed things[0] (lamp): unknown key \"atributePayload\" (CreateThing takes thingTypeName",
        ),
        ("[[things]]\nthingName = \"lamp\"\nthingGroups = \"g\"\n", "thingGroups must be a list of names"),
        ("things = 3\n", "seed things: expected a list of tables"),
        ("[[certificates]]\nname = \"c\"\n", "seed certificates[0] (c): give one of out, certificatePem"),
        (
            "[[certificates]]\nname = \"c\"\nout = \"x\"\nstatus = \"ON\"\n",
            "status \"ON\" must be ACTIVE or INACTIVE",
        ),
        ("[[certificates]]\nname = \"c\"\ncertificatePem = \"nope\"\n", "not a PEM certificate"),
        ("[[certificates]]\nname = \"../c\"\nout = \"x\"\n", "must be usable as a file name"),
        (
            "[[certificates]]\nname = \"c\"\nout = \"x\"\nkeyAlgorithm = \"DSA\"\n",
            "keyAlgorithm \"DSA\" must be EC or RSA",
        ),
        ("[[things]\n", "invalid seed file"),
    ];
    for (text, expected) in cases {
        let error = load_error("seed.toml", text);
        assert!(error.contains(expected), "{text:?}: {error}");
        assert!(!error.contains('\n'), "{error}");
    }
    let error =
        load_error("seed.json", r#"{"policies": [{"policyName": "p", "policyDocument": {}, "x": 1}]}"#);
    assert!(error.starts_with("seed policies[0] (p): unknown key \"x\""), "{error}");
}

fn config(data_dir: &Path, seed: &Path) -> Config {
    let mut config = Config::load(None).unwrap();
    config.server.data_dir = data_dir.to_owned();
    config.server.seed = seed.display().to_string();
    (config.server.mqtt_port, config.server.mqtts_port, config.server.api_port) = (0, 0, 0);
    config.server.device_port = 0;
    config.wireless.lns_port = 0;
    config.logging.stdout = false;
    config
}

const SEED: &str = r#"
[[thingTypes]]
thingTypeName = "sensor"

[[thingGroups]]
thingGroupName = "building"
[[thingGroups]]
thingGroupName = "floor-1"
parentGroupName = "building"
policies = ["sensor"]

[[things]]
thingName = "sensor-1"
thingTypeName = "sensor"
attributePayload = { attributes = { room = "kitchen" } }
thingGroups = ["floor-1"]

[[policies]]
policyName = "sensor"
policyDocument = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "iot:*", Resource = "*" }] }

[[certificates]]
name = "sensor-1"
out = "certs"
policies = ["sensor"]
things = ["sensor-1"]

[[certificates]]
name = "spare"
out = "certs"
keyAlgorithm = "RSA"
status = "INACTIVE"

[loggingOptions]
defaultLogLevel = "INFO"

[[topicRules]]
ruleName = "copy"
topicRulePayload = { sql = "SELECT * FROM 'in'", actions = [{ republish = { topic = "out" } }] }

[[jobs]]
jobId = "update-1"
targets = ["arn:aws:iot:us-east-1:123456789012:thinggroup/building"]
document = { operation = "update" }

[[provisioningTemplates]]
templateName = "fleet"
provisioningRoleArn = "arn:aws:iam::123456789012:role/provisioning"
enabled = true
templateBody = { Parameters = { SerialNumber = { Type = "String" } }, Resources = { thing = { Type = "AWS::IoT::Thing", Properties = { ThingName = { Ref = "SerialNumber" } } } } }
"#;

#[tokio::test]
async fn a_seed_is_applied_once_and_a_restart_finds_it_there() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_file(dir.path(), "seed.toml", SEED);
    let data = dir.path().join("data");

    let running = App::start(config(&data, &seed)).await.unwrap();
    let first = running.seeded.clone().unwrap();
    // 11 entries, 4 links (thing into group, group policy, certificate policy and thing).
    assert_eq!((first.created, first.existing), (15, 0));
    let certs = dir.path().join("certs");
    let cert = std::fs::read_to_string(certs.join("sensor-1.cert.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    // An EC key of the seed's own (CreateCertificateFromCsr), or AWS's RSA (CreateKeysAndCertificate).
    let key = std::fs::read_to_string(certs.join("sensor-1.private.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    let spare = std::fs::read_to_string(certs.join("spare.private.key")).unwrap();
    assert!(spare.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{spare}");
    assert_eq!(
        std::fs::read_to_string(certs.join("ca.pem")).unwrap(),
        std::fs::read_to_string(&running.ca_cert_path).unwrap()
    );
    running.shutdown(Duration::from_secs(2)).await;

    let running = App::start(config(&data, &seed)).await.unwrap();
    let second = running.seeded.clone().unwrap();
    // The certificate is the same one, found by the file's certificateId.
    assert_eq!(std::fs::read_to_string(certs.join("sensor-1.cert.pem")).unwrap(), cert);
    // Policy, certificates, rule, job and template were there; CreateThing(Type|Group) with
    // the same configuration and the links succeed again, as on AWS.
    assert_eq!(second.existing, 6, "{second:?}");
    assert_eq!(second.created + second.existing, 15);
    let described = &second.certificates["sensor-1"];
    assert_eq!(described["certificatePem"], cert.as_str());
    assert_eq!(described, &first.certificates["sensor-1"]);
    running.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn an_operation_error_names_the_entry_and_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_file(
        dir.path(),
        "seed.toml",
        "[[things]]\nthingName = \"ok\"\n[[things]]\nthingName = \"bad\"\nthingTypeName = \"missing\"\n",
    );
    let error = match App::start(config(&dir.path().join("data"), &seed)).await {
        Ok(_) => panic!("the start succeeded"),
        Err(e) => e,
    };
    let seed_error = error.downcast_ref::<SeedError>().expect("a SeedError");
    assert!(seed_error.0.starts_with("seed things[1] (bad): ResourceNotFoundException: "), "{seed_error}");
}
