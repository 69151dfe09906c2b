//! The service over a real registry (in-memory store, a CA in a temporary directory), a manual
//! clock and a recording broker: the control plane, fleet provisioning with its tokens, override
//! settings, rollback, hooks, the HTTP RegisterThing, JITP and JITR, and the entries.

use crate::device::DeviceCall;
use crate::{CreateTemplate, Provisioning, ProvisioningError, Settings, UpdateTemplate};
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, Clock, OutboundMessage, Protocol, PublishRefused, Publisher, TraceId};
use iotemu_logs::{LevelFilter, LiveTail, LogPipeline, PipelineHandle, TailFilter};
use iotemu_registry::ca::CertAuthority;
use iotemu_registry::{NameOrArn, Page, RegisterCa, RegistrationConfig, Registry, ThingGroupProperties};
use iotemu_store::Store;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// (to: client id, or "" for subscribers; topic; payload).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, Value)>>);

impl Recorder {
    fn record(&self, to: &str, m: &OutboundMessage) {
        let payload = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
        self.0.lock().push((to.to_string(), m.topic.to_string(), payload));
    }
}

impl Publisher for Recorder {
    fn check(&self, _: &OutboundMessage) -> Result<(), PublishRefused> {
        Ok(())
    }
    fn publish(&self, _: &Arc<ClientInfo>, m: OutboundMessage) -> Result<(), PublishRefused> {
        self.record("", &m);
        Ok(())
    }
    fn deliver(&self, _: &Arc<ClientInfo>, m: OutboundMessage) -> Result<(), PublishRefused> {
        self.record("", &m);
        Ok(())
    }
    fn deliver_to_client(&self, client_id: &str, m: OutboundMessage) -> Result<bool, PublishRefused> {
        self.record(client_id, &m);
        Ok(true)
    }
}

struct Fixture {
    service: Arc<Provisioning>,
    registry: Arc<Registry>,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    broker: Arc<Recorder>,
    tail: LiveTail,
    pipeline: PipelineHandle,
    _dir: tempfile::TempDir,
}

fn scope() -> Scope {
    Scope::new("123456789012", "us-east-1")
}

const HOUR: u64 = 3_600_000;

fn fixture_with(settings: Settings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::in_memory().unwrap());
    let ca = Arc::new(CertAuthority::load_or_create(dir.path()).unwrap());
    let registry = Arc::new(Registry::load(store.clone(), ca).unwrap());
    let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000_000)));
    let broker = Arc::new(Recorder::default());
    let (tail_sink, tail) = iotemu_logs::live_tail(1000);
    let (logs, pipeline) =
        LogPipeline::new("123456789012", LevelFilter::Debug).sink(Box::new(tail_sink)).start().unwrap();
    let service =
        Provisioning::load(store.clone(), registry.clone(), clock.clone(), broker.clone(), logs, settings)
            .unwrap();
    Fixture { service: Arc::new(service), registry, store, clock, broker, tail, pipeline, _dir: dir }
}

fn fixture() -> Fixture {
    fixture_with(Settings::default())
}

/// The guide's fleet example, with the claim's policy and a thing group that exists.
fn fleet_body() -> String {
    json!({
        "Parameters": {"SerialNumber": {"Type": "String"}, "DeviceLocation": {"Type": "String", "Default": "Seattle"}},
        "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Fn::Join": ["", ["bulb-", {"Ref": "SerialNumber"}]]},
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                "ThingGroups": ["v1-lightbulbs"]}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["iot:Publish"], "Resource": ["*"]}]}}}
        },
        "DeviceConfiguration": {
            "FallbackUrl": "https://www.example.com/test-site",
            "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]}
        }
    })
    .to_string()
}

impl Fixture {
    fn create(
        &self,
        name: &str,
        body: &str,
        extra: Value,
    ) -> Result<crate::state::ProvisioningTemplate, ProvisioningError> {
        let mut request = json!({
            "templateName": name,
            "templateBody": body,
            "provisioningRoleArn": "arn:aws:iam::123456789012:role/Provision",
            "enabled": true,
        });
        if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            request.extend(extra.clone());
        }
        let request: CreateTemplate = serde_json::from_value(request).unwrap();
        self.service.create_provisioning_template(&scope(), request)
    }

    fn group(&self, name: &str) {
        self.registry.create_thing_group(&scope(), name, None, ThingGroupProperties::default()).unwrap();
    }

    fn call(&self) -> DeviceCall {
        let client = Arc::new(ClientInfo::new(
            Protocol::Mqtt,
            "claim-client",
            "claimcert",
            "127.0.0.1:1".parse().unwrap(),
        ));
        DeviceCall { scope: scope(), client, trace_id: TraceId::new() }
    }

    /// CreateKeysAndCertificate: (certificate id, token).
    fn keys(&self) -> (String, String) {
        let answer = self.service.create_keys_and_certificate(&self.call()).unwrap();
        (
            answer["certificateId"].as_str().unwrap().into(),
            answer["certificateOwnershipToken"].as_str().unwrap().into(),
        )
    }

    async fn register(
        &self,
        template: &str,
        token: &str,
        parameters: Value,
    ) -> Result<Value, crate::Rejection> {
        let request = json!({"certificateOwnershipToken": token, "parameters": parameters});
        let request: Map<String, Value> = request.as_object().unwrap().clone();
        self.service.register_thing(&self.call(), template, &request).await
    }

    fn status(&self, certificate: &str) -> Option<String> {
        self.registry.describe_certificate(&scope(), certificate).ok().map(|c| c.status)
    }

    fn groups_of(&self, thing: &str) -> Vec<String> {
        let page = Page { max_results: Some(250), next_token: None };
        let (groups, _) = self.registry.list_thing_groups_for_thing(&scope(), thing, &page).unwrap();
        groups.into_iter().map(|g| g.name).collect()
    }

    fn entries(&self, event: &str) -> Vec<Value> {
        self.pipeline.flush(Duration::from_secs(2));
        self.tail
            .recent(&TailFilter::default())
            .iter()
            .map(|l| serde_json::from_str::<Value>(&l.line).unwrap())
            .filter(|e| e["eventType"] == event)
            .collect()
    }
}

#[test]
fn templates_and_versions_follow_botocore_and_persist() {
    let f = fixture();
    let created =
        f.create("widget", &fleet_body(), json!({"enabled": null, "description": "widgets"})).unwrap();
    assert_eq!(created.template_arn, "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/widget");
    assert_eq!((created.default_version_id, created.enabled), (1, false));
    assert!(matches!(f.create("widget", "{}", json!({})), Err(ProvisioningError::AlreadyExists(_))));
    assert!(matches!(
        f.create("bad", "{\"Resources\": 1}", json!({})),
        Err(ProvisioningError::InvalidRequest(_))
    ));
    assert!(matches!(
        f.create("jit", "{}", json!({"type": "JITP", "preProvisioningHook": {"targetArn": "arn:aws:lambda:us-east-1:1:function:f"}})),
        Err(ProvisioningError::InvalidRequest(_))
    ));
    // Versions: up to five, ids never reused, the default never deleted.
    for n in 2..=5 {
        let (_, id) = f
            .service
            .create_provisioning_template_version(&scope(), "widget", Some("{}".into()), n == 3)
            .unwrap();
        assert_eq!(id, n);
    }
    let sixth = f.service.create_provisioning_template_version(&scope(), "widget", Some("{}".into()), false);
    assert!(matches!(sixth, Err(ProvisioningError::VersionsLimitExceeded(_))));
    assert_eq!(f.service.describe_provisioning_template(&scope(), "widget").unwrap().default_version_id, 3);
    assert!(matches!(
        f.service.delete_provisioning_template_version(&scope(), "widget", 3),
        Err(ProvisioningError::DeleteConflict(_))
    ));
    let update = UpdateTemplate { default_version_id: Some(1), enabled: Some(true), ..Default::default() };
    f.service.update_provisioning_template(&scope(), "widget", update).unwrap();
    f.service.delete_provisioning_template_version(&scope(), "widget", 3).unwrap();
    let (_, id) =
        f.service.create_provisioning_template_version(&scope(), "widget", Some("{}".into()), false).unwrap();
    assert_eq!(id, 6);
    let missing = UpdateTemplate { default_version_id: Some(3), ..Default::default() };
    assert!(matches!(
        f.service.update_provisioning_template(&scope(), "widget", missing),
        Err(ProvisioningError::NotFound(_))
    ));
    // Pages of templates by name.
    f.create("alpha", "{}", json!({})).unwrap();
    let (page, next) = f.service.list_provisioning_templates(&scope(), Some(1), None).unwrap();
    assert_eq!((page[0].template_name.as_str(), next.as_deref()), ("alpha", Some("alpha")));
    let (page, next) = f.service.list_provisioning_templates(&scope(), Some(1), next.as_deref()).unwrap();
    assert_eq!((page[0].template_name.as_str(), next), ("widget", None));
    // 256 templates at most (AWS's quota); the other region has its own.
    for n in 2..crate::state::MAX_TEMPLATES {
        f.create(&format!("t{n}"), "{}", json!({})).unwrap();
    }
    assert!(matches!(f.create("one-more", "{}", json!({})), Err(ProvisioningError::LimitExceeded(_))));
    let west = Scope::new("123456789012", "us-west-2");
    let request: CreateTemplate =
        serde_json::from_value(json!({"templateName": "w", "templateBody": "{}", "provisioningRoleArn": "arn:aws:iam::1:role/Provision"}))
            .unwrap();
    f.service.create_provisioning_template(&west, request).unwrap();
    for n in 2..crate::state::MAX_TEMPLATES {
        f.service.delete_provisioning_template(&scope(), &format!("t{n}")).unwrap();
    }
    f.service.delete_provisioning_template(&west, "w").unwrap();
    // A reload from the store sees the same; a reset forgets everything.
    let again = Provisioning::load(
        f.store.clone(),
        f.registry.clone(),
        f.clock.clone(),
        f.broker.clone(),
        f.service.logs.clone(),
        Settings::default(),
    )
    .unwrap();
    assert_eq!(
        again.describe_provisioning_template(&scope(), "widget").unwrap(),
        f.service.describe_provisioning_template(&scope(), "widget").unwrap()
    );
    again.reset().unwrap();
    assert!(again.list_provisioning_templates(&scope(), None, None).unwrap().0.is_empty());
    assert!(f.store.all(crate::state::TEMPLATE_KIND).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_provisioning_creates_the_resources_and_uses_the_token_once() {
    let f = fixture();
    f.create("widget", &fleet_body(), json!({})).unwrap();
    f.group("v1-lightbulbs");
    let (certificate, token) = f.keys();
    assert_eq!(f.status(&certificate).as_deref(), Some("PENDING_ACTIVATION"));
    let answer = f.register("widget", &token, json!({"SerialNumber": "42"})).await.unwrap();
    assert_eq!(
        answer,
        json!({"thingName": "bulb-42", "deviceConfiguration": {
            "FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"}})
    );
    let thing = f.registry.describe_thing(&scope(), "bulb-42").unwrap();
    assert_eq!(thing.attributes["serialNumber"], "42");
    let cert = f.registry.describe_certificate(&scope(), &certificate).unwrap();
    assert_eq!(cert.status, "ACTIVE");
    assert!(thing.principals.contains(&cert.arn));
    assert_eq!(f.groups_of("bulb-42"), vec!["v1-lightbulbs"]);
    assert_eq!(f.registry.policies_of(&scope(), &cert.arn).len(), 1);
    // Once only.
    let again = f.register("widget", &token, json!({"SerialNumber": "43"})).await.unwrap_err();
    assert_eq!((again.status_code, again.error_code), (400, "InvalidCertificateOwnershipToken"));
    let empty = f.register("widget", "", json!({})).await.unwrap_err();
    assert_eq!(empty.message, "Certificate ownership token cannot be empty.");
    // The entries: credentials, one success, then the two refusals.
    let credentials = f.entries("GetDeviceCredentials");
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        (credentials[0]["deviceCertificateId"].as_str(), credentials[0]["logLevel"].as_str()),
        (Some(certificate.as_str()), Some("INFO"))
    );
    let provisions = f.entries("ProvisionDevice");
    assert_eq!(provisions.len(), 3);
    assert_eq!(provisions[0]["status"], "Success");
    assert_eq!(provisions[0]["provisioningTemplateName"], "widget");
    assert_eq!(provisions[0]["deviceCertificateId"], certificate.as_str());
    assert!(provisions[0]["details"].as_str().unwrap().contains("thing bulb-42"));
    assert_eq!(
        (provisions[1]["status"].as_str(), provisions[1]["reason"].as_str()),
        (Some("Failure"), Some("InvalidCertificateOwnershipToken"))
    );
    // A used token is forgotten: its certificate is no longer known.
    assert_eq!(provisions[1]["deviceCertificateId"], "");
    assert_eq!(provisions[2]["deviceCertificateId"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_resource_rolls_the_whole_provisioning_back() {
    let f = fixture();
    // The group does not exist: the thing is made, joins nothing, and everything is undone.
    f.create("widget", &fleet_body(), json!({})).unwrap();
    let (certificate, token) = f.keys();
    let refused = f.register("widget", &token, json!({"SerialNumber": "7"})).await.unwrap_err();
    assert_eq!((refused.status_code, refused.error_code), (400, "ResourceRegistrationFailure"));
    assert!(refused.message.contains("v1-lightbulbs"), "{}", refused.message);
    assert!(f.registry.describe_thing(&scope(), "bulb-7").is_err());
    assert_eq!(f.status(&certificate).as_deref(), Some("PENDING_ACTIVATION"));
    assert!(f.registry.list_policies(&scope(), None, None, true).unwrap().0.is_empty());
    // The token is still good: with the group, the same request works.
    f.group("v1-lightbulbs");
    assert!(f.register("widget", &token, json!({"SerialNumber": "7"})).await.is_ok());
    // Disabled, missing, and JITP templates are refused.
    f.service
        .update_provisioning_template(
            &scope(),
            "widget",
            UpdateTemplate { enabled: Some(false), ..Default::default() },
        )
        .unwrap();
    let (_, token) = f.keys();
    assert_eq!(f.register("widget", &token, json!({})).await.unwrap_err().status_code, 403);
    assert_eq!(f.register("nope", &token, json!({})).await.unwrap_err().error_code, "ResourceNotFound");
    f.create("jit", "{}", json!({"type": "JITP"})).unwrap();
    assert_eq!(f.register("jit", &token, json!({})).await.unwrap_err().error_code, "InvalidRequest");
    // A missing parameter.
    f.create("strict", &fleet_body(), json!({})).unwrap();
    let missing = f.register("strict", &token, json!({})).await.unwrap_err();
    assert_eq!((missing.error_code, missing.message.contains("SerialNumber")), ("InvalidParameters", true));
}

#[tokio::test(flavor = "multi_thread")]
async fn override_settings_decide_what_happens_to_an_existing_thing() {
    let f = fixture();
    for group in ["a", "b", "c"] {
        f.group(group);
    }
    let attributes =
        BTreeMap::from([("keep".to_string(), "1".to_string()), ("v".to_string(), "old".to_string())]);
    f.registry.create_thing(&scope(), "dev", None, attributes).unwrap();
    for group in ["a", "b"] {
        f.registry
            .add_thing_to_thing_group(
                &scope(),
                &NameOrArn::Name(group.into()),
                &NameOrArn::Name("dev".into()),
                false,
            )
            .unwrap();
    }
    f.registry.create_thing_type(&scope(), "lamp", None, vec![]).unwrap();
    let body = |attributes: &str, type_name: &str, groups: &str| {
        json!({"Resources": {
            "thing": {"Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": "dev", "AttributePayload": {"v": "new"}, "ThingTypeName": "lamp", "ThingGroups": ["b", "c"]},
                "OverrideSettings": {"AttributePayload": attributes, "ThingTypeName": type_name, "ThingGroups": groups}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}})
        .to_string()
    };
    f.create("merge", &body("MERGE", "REPLACE", "MERGE"), json!({})).unwrap();
    let (_, token) = f.keys();
    f.register("merge", &token, json!({})).await.unwrap();
    let thing = f.registry.describe_thing(&scope(), "dev").unwrap();
    assert_eq!(thing.attributes, BTreeMap::from([("keep".into(), "1".into()), ("v".into(), "new".into())]));
    assert_eq!(thing.type_name.as_deref(), Some("lamp"));
    assert_eq!(f.groups_of("dev"), vec!["a", "b", "c"]);
    f.create("replace", &body("REPLACE", "DO_NOTHING", "REPLACE"), json!({})).unwrap();
    let (_, token) = f.keys();
    f.register("replace", &token, json!({})).await.unwrap();
    let thing = f.registry.describe_thing(&scope(), "dev").unwrap();
    assert_eq!(thing.attributes, BTreeMap::from([("v".into(), "new".into())]));
    assert_eq!(f.groups_of("dev"), vec!["b", "c"]);
    // FAIL on a differing property: ResourceConflictsException, and the changes already made
    // (the attributes, merged) are undone.
    f.registry.update_thing_groups_for_thing(&scope(), "dev", &["a".into()], &[], false).unwrap();
    f.create("fail", &body("MERGE", "DO_NOTHING", "FAIL"), json!({})).unwrap();
    let before = f.registry.describe_thing(&scope(), "dev").unwrap().attributes;
    let (certificate, token) = f.keys();
    let refused = f.register("fail", &token, json!({})).await.unwrap_err();
    assert_eq!((refused.status_code, refused.error_code), (409, "ResourceConflictsException"));
    assert_eq!(f.registry.describe_thing(&scope(), "dev").unwrap().attributes, before);
    assert_eq!(f.status(&certificate).as_deref(), Some("PENDING_ACTIVATION"));
    // DO_NOTHING leaves everything.
    f.create("nothing", &body("DO_NOTHING", "DO_NOTHING", "DO_NOTHING"), json!({})).unwrap();
    f.register("nothing", &token, json!({})).await.unwrap();
    assert_eq!(f.groups_of("dev"), vec!["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unclaimed_certificate_goes_when_its_token_expires() {
    let f = fixture();
    f.create("widget", &fleet_body(), json!({})).unwrap();
    f.group("v1-lightbulbs");
    let (unclaimed, old_token) = f.keys();
    let (claimed, token) = f.keys();
    f.register("widget", &token, json!({"SerialNumber": "1"})).await.unwrap();
    f.clock.0.fetch_add(HOUR - 1, Ordering::SeqCst);
    assert_eq!(f.service.expire_tokens().unwrap(), 0);
    f.clock.0.fetch_add(1, Ordering::SeqCst);
    assert_eq!(f.service.expire_tokens().unwrap(), 1);
    assert_eq!(f.status(&unclaimed), None);
    assert_eq!(f.status(&claimed).as_deref(), Some("ACTIVE"));
    let expired = f.register("widget", &old_token, json!({"SerialNumber": "2"})).await.unwrap_err();
    assert_eq!(expired.error_code, "InvalidCertificateOwnershipToken");
    assert!(f.store.all(crate::state::TOKEN_KIND).unwrap().is_empty());
}

/// A hook server answering every POST with `answer` after `delay`; it records the inputs.
async fn hook_server(answer: Value, delay: Duration) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: axum::Json<Value>| {
            let (answer, recorded) = (answer.clone(), recorded.clone());
            async move {
                recorded.lock().push(body.0);
                tokio::time::sleep(delay).await;
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn hook_fixture(url: &str) -> Fixture {
    let endpoints =
        HashMap::from([("arn:aws:lambda:us-east-1:123456789012:function:hook".to_string(), url.to_string())]);
    let f = fixture_with(Settings {
        hook_endpoints: endpoints,
        hook_timeout: Duration::from_millis(500),
        ..Default::default()
    });
    f.create(
        "widget",
        &fleet_body(),
        json!({"preProvisioningHook": {"targetArn": "arn:aws:lambda:us-east-1:123456789012:function:hook"}}),
    )
    .unwrap();
    f.group("v1-lightbulbs");
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_provisioning_hook_allows_overrides_refuses_and_times_out() {
    let answer = json!({"allowProvisioning": true, "parameterOverrides": {"SerialNumber": "from-hook"}});
    let (url, seen) = hook_server(answer, Duration::ZERO).await;
    let f = hook_fixture(&url);
    let (certificate, token) = f.keys();
    let answer = f.register("widget", &token, json!({"SerialNumber": "1"})).await.unwrap();
    assert_eq!(answer["thingName"], "bulb-from-hook");
    let input = seen.lock()[0].clone();
    assert_eq!(input["certificateId"], certificate.as_str());
    assert_eq!(input["claimCertificateId"], "claimcert");
    assert_eq!(input["clientId"], "claim-client");
    assert_eq!(input["templateArn"], "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/widget");
    assert_eq!(input["parameters"], json!({"SerialNumber": "1"}));
    assert!(input["certificatePem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    let (url, _) = hook_server(json!({"allowProvisioning": false}), Duration::ZERO).await;
    let f = hook_fixture(&url);
    let (certificate, token) = f.keys();
    let refused = f.register("widget", &token, json!({"SerialNumber": "2"})).await.unwrap_err();
    assert_eq!((refused.status_code, refused.error_code), (403, "AccessDenied"));
    assert_eq!(f.status(&certificate).as_deref(), Some("PENDING_ACTIVATION"));

    let (url, _) = hook_server(json!({"allowProvisioning": true}), Duration::from_secs(3)).await;
    let f = hook_fixture(&url);
    let (_, token) = f.keys();
    let service = f.service.clone();
    let call = f.call();
    let request = json!({"certificateOwnershipToken": token, "parameters": {"SerialNumber": "3"}});
    let pending =
        tokio::spawn(
            async move { service.register_thing(&call, "widget", request.as_object().unwrap()).await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While the hook runs, the template cannot go.
    assert!(matches!(
        f.service.delete_provisioning_template(&scope(), "widget"),
        Err(ProvisioningError::ConflictingResourceUpdate(_))
    ));
    let timed_out = pending.await.unwrap().unwrap_err();
    assert_eq!(timed_out.error_code, "AccessDenied");
    assert!(timed_out.message.contains("did not return within"), "{}", timed_out.message);
    assert!(f.registry.describe_thing(&scope(), "bulb-3").is_err());
    f.service.delete_provisioning_template(&scope(), "widget").unwrap();
}

fn csr(common_name: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn register_thing_over_http_makes_the_certificate_from_a_csr() {
    let f = fixture();
    let body = json!({
        "Parameters": {"ThingName": {"Type": "String"}, "CSR": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"}}
        }
    })
    .to_string();
    let parameters =
        BTreeMap::from([("ThingName".to_string(), "single".to_string()), ("CSR".to_string(), csr("single"))]);
    let done = f.service.register_thing_with_body(&scope(), Some(body.clone()), parameters).unwrap();
    let pem = done.certificate_pem.unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let id = done.certificate_id.unwrap();
    assert_eq!(f.status(&id).as_deref(), Some("ACTIVE"));
    assert_eq!(done.resource_arns["thing"], "arn:aws:iot:us-east-1:123456789012:thing/single");
    assert!(done.resource_arns["certificate"].ends_with(&format!("cert/{id}")));
    assert!(done.resource_arns["policy"].contains(":policy/"));
    // A bad CSR is a resource failure; a bad body an invalid request.
    let bad = BTreeMap::from([
        ("ThingName".to_string(), "other".to_string()),
        ("CSR".to_string(), "junk".to_string()),
    ]);
    assert!(matches!(
        f.service.register_thing_with_body(&scope(), Some(body), bad),
        Err(ProvisioningError::ResourceRegistrationFailure(_))
    ));
    assert!(f.registry.describe_thing(&scope(), "other").is_err());
    assert!(matches!(
        f.service.register_thing_with_body(&scope(), Some("nope".into()), BTreeMap::new()),
        Err(ProvisioningError::InvalidRequest(_))
    ));
    assert!(f.entries("ProvisionDevice").is_empty(), "the HTTP API writes no entry");
}

/// A CA registered in SNI_ONLY mode (no verification certificate needed), and a device
/// certificate it signed with CN, C and serialNumber.
fn ca_and_device(f: &Fixture, config: Option<RegistrationConfig>) -> (String, Vec<u8>, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let ca = f
        .registry
        .register_ca_certificate(
            &scope(),
            RegisterCa {
                ca_pem,
                set_as_active: true,
                allow_auto_registration: true,
                registration_config: config,
                certificate_mode: Some("SNI_ONLY".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut device = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    device.distinguished_name.push(rcgen::DnType::CommonName, "lamp-9");
    device.distinguished_name.push(rcgen::DnType::CountryName, "US");
    device.distinguished_name.push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), "SN-9");
    let der = device.signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer).unwrap().der().to_vec();
    let id = iotemu_core::certificate_id(&der);
    (ca.id, der, id)
}

#[test]
fn jitp_provisions_a_certificate_of_a_registered_ca_on_its_first_connection() {
    let f = fixture();
    f.group("v1-lightbulbs");
    f.group("US");
    let body = json!({
        "Parameters": {
            "AWS::IoT::Certificate::CommonName": {"Type": "String"},
            "AWS::IoT::Certificate::SerialNumber": {"Type": "String"},
            "AWS::IoT::Certificate::Country": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"serialNumber": {"Ref": "AWS::IoT::Certificate::SerialNumber"}},
                "ThingGroups": ["v1-lightbulbs", {"Ref": "AWS::IoT::Certificate::Country"}]}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"}}}
    })
    .to_string();
    let config = RegistrationConfig { template_body: Some(body), role_arn: None, template_name: None };
    let (_, der, id) = ca_and_device(&f, Some(config));
    let first = f.service.authenticate_just_in_time(&scope(), &id, &der).unwrap().unwrap_err();
    assert_eq!(first.reason, "DEVICE_CERTIFICATE_INACTIVE");
    assert!(first.details.contains("connect again"), "{}", first.details);
    let thing = f.registry.describe_thing(&scope(), "lamp-9").unwrap();
    assert_eq!(thing.attributes["serialNumber"], "SN-9");
    assert_eq!(f.groups_of("lamp-9"), vec!["US", "v1-lightbulbs"]);
    assert_eq!(f.status(&id).as_deref(), Some("ACTIVE"));
    // The next connection is the registry's to decide (ACTIVE: it connects).
    assert!(f.service.authenticate_just_in_time(&scope(), &id, &der).is_none());
    let entry = &f.entries("ProvisionDevice")[0];
    assert_eq!(
        (entry["status"].as_str(), entry["deviceCertificateId"].as_str()),
        (Some("Success"), Some(id.as_str()))
    );
}

#[test]
fn jitp_that_fails_leaves_nothing_and_tries_again_next_time() {
    let f = fixture();
    // The template wants the certificate's Organization, which it lacks.
    let body = json!({
        "Parameters": {"AWS::IoT::Certificate::Organization": {"Type": "String"}},
        "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::Organization"}}}}
    })
    .to_string();
    let config = RegistrationConfig { template_body: Some(body), ..Default::default() };
    let (_, der, id) = ca_and_device(&f, Some(config));
    for _ in 0..2 {
        let refused = f.service.authenticate_just_in_time(&scope(), &id, &der).unwrap().unwrap_err();
        assert!(refused.details.contains("Organization"), "{}", refused.details);
        assert_eq!(f.status(&id), None);
    }
    let entries = f.entries("ProvisionDevice");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0]["status"].as_str(), entries[0]["reason"].as_str()),
        (Some("Failure"), Some("InvalidParameters"))
    );
}

#[test]
fn jitr_registers_pending_activation_and_publishes_the_event() {
    let f = fixture();
    let (ca, der, id) = ca_and_device(&f, None);
    for _ in 0..2 {
        let refused = f.service.authenticate_just_in_time(&scope(), &id, &der).unwrap().unwrap_err();
        assert_eq!(refused.reason, "DEVICE_CERTIFICATE_INACTIVE");
        assert_eq!(f.status(&id).as_deref(), Some("PENDING_ACTIVATION"));
    }
    let events = std::mem::take(&mut *f.broker.0.lock());
    assert_eq!(events.len(), 2, "one event per connection while PENDING_ACTIVATION");
    let (to, topic, payload) = &events[0];
    assert_eq!(
        (to.as_str(), topic.as_str()),
        ("", format!("$aws/events/certificates/registered/{ca}").as_str())
    );
    assert_eq!(payload["certificateId"], id.as_str());
    assert_eq!(payload["caCertificateId"], ca.as_str());
    assert_eq!(payload["certificateStatus"], "PENDING_ACTIVATION");
    assert_eq!(payload["awsAccountId"], "123456789012");
    // Once someone activates it, the registry decides.
    f.registry.update_certificate(&scope(), &id, "ACTIVE").unwrap();
    assert!(f.service.authenticate_just_in_time(&scope(), &id, &der).is_none());
    // A CA without auto-registration is none of JIT's business.
    let other = fixture();
    let (ca, der, id) = ca_and_device(&other, None);
    let update = iotemu_registry::UpdateCa {
        new_auto_registration_status: Some("DISABLE".into()),
        ..Default::default()
    };
    other.registry.update_ca_certificate(&scope(), &ca, update).unwrap();
    assert!(other.service.authenticate_just_in_time(&scope(), &id, &der).is_none());
}

#[test]
fn a_template_named_by_a_ca_cannot_be_deleted() {
    let f = fixture();
    f.create("jitp", "{}", json!({"type": "JITP"})).unwrap();
    let config = RegistrationConfig { template_name: Some("jitp".into()), ..Default::default() };
    ca_and_device(&f, Some(config));
    assert!(matches!(
        f.service.delete_provisioning_template(&scope(), "jitp"),
        Err(ProvisioningError::DeleteConflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_thing_joins_the_templates_billing_group() {
    let f = fixture();
    let mut body: Value = serde_json::from_str(&fleet_body()).unwrap();
    body["Resources"]["thing"]["Properties"]["BillingGroup"] = json!("bulbs");
    f.create("billed", &body.to_string(), json!({})).unwrap();
    f.group("v1-lightbulbs");
    // The billing group must exist: the provisioning fails and leaves no thing behind.
    let (_, token) = f.keys();
    f.register("billed", &token, json!({"SerialNumber": "7"})).await.unwrap_err();
    assert!(f.registry.describe_thing(&scope(), "bulb-7").is_err());
    f.registry.create_billing_group(&scope(), "bulbs", None).unwrap();
    let (_, token) = f.keys();
    f.register("billed", &token, json!({"SerialNumber": "8"})).await.unwrap();
    let thing = f.registry.describe_thing(&scope(), "bulb-8").unwrap();
    assert_eq!(thing.billing_group.as_deref(), Some("bulbs"));
}
