//! An evaluated template: the thing, certificate and policies to provision, with their
//! override settings, and the device configuration (`provision-template.md`, "Resources
//! section", "Override settings", "Device configuration").

use super::eval::Evaluator;
use super::{ResourceKind, Template, TemplateError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What to do with a property of a resource that already exists ("Override settings").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Override {
    /// Leave it as is. iotemu's default when a template gives no setting (AWS documents none).
    #[default]
    DoNothing,
    Replace,
    /// Fail the request with ResourceConflictsException when the value would change.
    Fail,
    /// Add to it (AttributePayload and ThingGroups only).
    Merge,
}

/// The thing to create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct ThingPlan {
    pub logical_id: String,
    pub name: String,
    /// `None` when the template does not give it (an existing thing keeps its own).
    pub attributes: Option<BTreeMap<String, String>>,
    pub type_name: Option<String>,
    pub groups: Option<Vec<String>>,
    /// The billing group a new thing joins.
    pub billing_group: Option<String>,
    pub attributes_override: Override,
    pub type_override: Override,
    pub groups_override: Override,
}

/// How the template names its certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateSource {
    /// An existing certificate (fleet provisioning's `AWS::IoT::Certificate::Id`, JITP).
    Id(String),
    /// A certificate to register, signed by a registered CA (`CACertificatePem` names it).
    Pem { pem: String, ca_pem: Option<String> },
    /// A CSR for the emulator's CA to sign.
    Csr(String),
}

/// The certificate resource.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificatePlan {
    pub logical_id: String,
    pub source: CertificateSource,
    /// ACTIVE or INACTIVE (the template's `Status`, any case; ACTIVE by default).
    pub status: String,
    pub status_override: Override,
}

/// A policy resource: an existing policy by name, or a document to create (named by the hash of
/// the document unless a name is given).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPlan {
    pub logical_id: String,
    pub name: String,
    /// `None` for an existing policy.
    pub document: Option<String>,
}

/// Everything one evaluation provisions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub thing: Option<ThingPlan>,
    pub certificate: Option<CertificatePlan>,
    pub policies: Vec<PolicyPlan>,
    pub device_configuration: Map<String, Value>,
}

/// Evaluates every resource of `template`.
pub(crate) fn build(template: &Template, ev: &Evaluator<'_>) -> Result<Plan, TemplateError> {
    let mut plan = Plan::default();
    for (logical, resource) in &template.resources {
        let p = &resource.properties;
        let text = |name: &str| -> Result<Option<String>, TemplateError> {
            p.get(name).map(|v| ev.text(v, 0, &format!("{logical}.{name}"))).transpose()
        };
        let setting = |name: &str| resource.overrides.get(name).copied().unwrap_or_default();
        match resource.kind {
            ResourceKind::Thing => {
                let name = text("ThingName")?.unwrap_or_default();
                let attributes =
                    p.get("AttributePayload").map(|v| attributes(logical, ev.value(v, 0)?)).transpose()?;
                let groups = p.get("ThingGroups").map(|v| groups(logical, ev, v)).transpose()?;
                plan.thing = Some(ThingPlan {
                    logical_id: logical.clone(),
                    name,
                    attributes,
                    type_name: text("ThingTypeName")?,
                    groups,
                    billing_group: text("BillingGroup")?,
                    attributes_override: setting("AttributePayload"),
                    type_override: setting("ThingTypeName"),
                    groups_override: setting("ThingGroups"),
                });
            }
            ResourceKind::Certificate => {
                let source = if let Some(id) = text("CertificateId")? {
                    CertificateSource::Id(id)
                } else if let Some(pem) = text("CertificatePem")? {
                    CertificateSource::Pem { pem, ca_pem: text("CACertificatePem")? }
                } else {
                    CertificateSource::Csr(text("CertificateSigningRequest")?.unwrap_or_default())
                };
                let status = match text("Status")?.map(|s| s.to_ascii_uppercase()) {
                    None => "ACTIVE".to_string(),
                    Some(s) if s == "ACTIVE" || s == "INACTIVE" => s,
                    Some(other) => {
                        return Err(TemplateError::evaluation(format!(
                            "{logical}.Status must be ACTIVE or INACTIVE, not {other}"
                        )))
                    }
                };
                plan.certificate = Some(CertificatePlan {
                    logical_id: logical.clone(),
                    source,
                    status,
                    status_override: setting("Status"),
                });
            }
            ResourceKind::Policy => {
                let document = match p.get("PolicyDocument").map(|v| ev.value(v, 0)).transpose()? {
                    None => None,
                    Some(Value::String(s)) => Some(s),
                    // The fleet example gives the document as an object.
                    Some(object @ Value::Object(_)) => Some(object.to_string()),
                    Some(other) => {
                        return Err(TemplateError::evaluation(format!(
                            "{logical}.PolicyDocument must be a JSON object or a string, not {other}"
                        )))
                    }
                };
                let name = match (text("PolicyName")?, &document) {
                    (Some(name), _) => name,
                    (None, Some(document)) => document_hash(document),
                    (None, None) => String::new(),
                };
                plan.policies.push(PolicyPlan { logical_id: logical.clone(), name, document });
            }
        }
    }
    if let Some(configuration) = &template.device_configuration {
        for (key, value) in configuration {
            plan.device_configuration.insert(key.clone(), ev.value(value, 0)?);
        }
    }
    Ok(plan)
}

/// A policy's default name: "a hash of the policy document" (the guide), here its SHA-256 in
/// lower-case hex.
pub fn document_hash(document: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(document.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `AttributePayload`: a flat object whose values are written as strings.
fn attributes(logical: &str, value: Value) -> Result<BTreeMap<String, String>, TemplateError> {
    let Value::Object(map) = value else {
        return Err(TemplateError::evaluation(format!("{logical}.AttributePayload must be an object")));
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(TemplateError::evaluation(format!(
                    "{logical}.AttributePayload.{key} must be a string, not {other}"
                )))
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// `ThingGroups`: a list of names (each item may be a function call giving a string).
fn groups(logical: &str, ev: &Evaluator<'_>, value: &Value) -> Result<Vec<String>, TemplateError> {
    match ev.value(value, 0)? {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(TemplateError::evaluation(format!(
                    "{logical}.ThingGroups must list group names, not {other}"
                ))),
            })
            .collect(),
        other => Err(TemplateError::evaluation(format!("{logical}.ThingGroups must be a list, not {other}"))),
    }
}
