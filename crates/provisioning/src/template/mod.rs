//! The provisioning template engine (`provision-template.md`), pure: [`Template::parse`] checks a
//! template body as CreateProvisioningTemplate does, and [`Template::evaluate`] turns it, with
//! the parameters of one request, into a [`Plan`] of the resources to provision. Applying the
//! plan to the registry (and rolling it back) is the service's business (`register.rs`).
//!
//! Sections: `Parameters` (`Type` String, Number, `List<Number>` or CommaDelimitedList, optional
//! `Default`), `Mappings` (two levels, no intrinsic functions), `Resources` (at most one
//! `AWS::IoT::Thing`, at most one `AWS::IoT::Certificate`, any number of `AWS::IoT::Policy`,
//! each with `Properties` and, for things and certificates, `OverrideSettings`) and
//! `DeviceConfiguration` (flat: no nested objects). Any other section is refused, so that a
//! misspelt one is not silently ignored.
//!
//! Intrinsic functions: `Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap` and
//! `Fn::Sub`, the ones the guide documents; any other `Fn::` (`Fn::If`, `Fn::GetAtt`, ...) and a
//! `Conditions` section are refused, since AWS does not document them for IoT templates.
//!
//! `Ref` resolves, in order: a declared parameter (its pseudo-parameter value, then the request's
//! value, then its `Default`: a device cannot override `AWS::IoT::Certificate::Id`), a
//! pseudo-parameter, then an undeclared request parameter (the guide's hook example refers to
//! `SerialNumber` without declaring it). A declared parameter without a value fails the
//! evaluation, as CloudFormation's do; so does a JITP parameter the certificate's subject lacks.
//!
//! Hostile templates: nesting is limited to [`MAX_DEPTH`] levels (the JSON parser stops at 128
//! before that), and one evaluation may produce at most [`MAX_OUTPUT_BYTES`] of strings, so that
//! `Fn::Join` of a large parameter many times cannot exhaust memory.

mod eval;
mod plan;
#[cfg(test)]
mod tests;

pub use plan::{CertificatePlan, CertificateSource, Override, Plan, PolicyPlan, ThingPlan};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How deep a template's values may nest (objects, arrays and function calls).
pub const MAX_DEPTH: usize = 64;
/// How many bytes of strings one evaluation may produce.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub kind: ErrorKind,
    pub message: String,
}

/// What kind of fault a [`TemplateError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is not a valid template (CreateProvisioningTemplate's InvalidRequestException).
    Invalid,
    /// The template is valid but cannot be evaluated with these parameters: a missing or
    /// malformed value, an index out of range, a key missing from a mapping.
    Evaluation,
}

impl TemplateError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        TemplateError { kind: ErrorKind::Invalid, message: message.into() }
    }

    pub(crate) fn evaluation(message: impl Into<String>) -> Self {
        TemplateError { kind: ErrorKind::Evaluation, message: message.into() }
    }
}

/// A declared parameter's type (CloudFormation's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamType {
    String,
    Number,
    NumberList,
    CommaDelimitedList,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parameter {
    pub ty: ParamType,
    pub default: Option<String>,
}

/// The resource types of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    Thing,
    Certificate,
    Policy,
}

/// One entry of `Resources`, checked but not evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    pub kind: ResourceKind,
    pub properties: Map<String, Value>,
    /// By property (`AttributePayload`, `ThingTypeName`, `ThingGroups`, `Status`).
    pub overrides: BTreeMap<&'static str, Override>,
}

/// A checked template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub(crate) parameters: BTreeMap<String, Parameter>,
    pub(crate) mappings: Map<String, Value>,
    pub(crate) resources: BTreeMap<String, Resource>,
    pub(crate) device_configuration: Option<Map<String, Value>>,
}

/// What a template is evaluated with.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The request's `parameters` (after a pre-provisioning hook's `parameterOverrides`).
    pub parameters: &'a BTreeMap<String, String>,
    /// The pseudo-parameters the service gives (`AWS::IoT::Certificate::Id`, and for JITP the
    /// certificate's subject fields).
    pub pseudo: &'a BTreeMap<String, String>,
}

/// The intrinsic functions the guide documents.
const FUNCTIONS: [&str; 5] = ["Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap", "Fn::Sub"];

/// `Some((name, argument))` when `value` is a function call: an object with the one key `Ref`
/// or `Fn::...`.
pub(crate) fn as_call(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let (key, arg) = object.iter().next()?;
    (key == "Ref" || key.starts_with("Fn::")).then_some((key.as_str(), arg))
}

impl Template {
    /// Parses and checks a template body (InvalidRequestException text on failure).
    pub fn parse(body: &str) -> Result<Template, TemplateError> {
        let value: Value = serde_json::from_str(body)
            .map_err(|e| TemplateError::invalid(format!("The template body is not valid JSON: {e}")))?;
        let Value::Object(sections) = value else {
            return Err(TemplateError::invalid("The template body must be a JSON object"));
        };
        let mut template = Template {
            parameters: BTreeMap::new(),
            mappings: Map::new(),
            resources: BTreeMap::new(),
            device_configuration: None,
        };
        for (section, content) in sections {
            match section.as_str() {
                "Parameters" => template.parameters = parse_parameters(&content)?,
                "Mappings" => template.mappings = parse_mappings(content)?,
                "Resources" => template.resources = parse_resources(&content)?,
                "DeviceConfiguration" => {
                    template.device_configuration = Some(parse_device_configuration(content)?)
                }
                other => {
                    return Err(TemplateError::invalid(format!(
                    "Unknown template section {other:?}: a template has Parameters, Mappings, Resources and \
                         DeviceConfiguration"
                )))
                }
            }
        }
        let count = |kind| template.resources.values().filter(|r| r.kind == kind).count();
        if count(ResourceKind::Thing) > 1 || count(ResourceKind::Certificate) > 1 {
            return Err(TemplateError::invalid(
                "A template declares at most one AWS::IoT::Thing and one AWS::IoT::Certificate",
            ));
        }
        Ok(template)
    }

    /// Evaluates the template with `inputs` into the resources to provision.
    pub fn evaluate(&self, inputs: &Inputs<'_>) -> Result<Plan, TemplateError> {
        let evaluator = eval::Evaluator::new(self, inputs)?;
        plan::build(self, &evaluator)
    }

    /// The names of the declared parameters.
    pub fn parameter_names(&self) -> impl Iterator<Item = &str> {
        self.parameters.keys().map(String::as_str)
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, TemplateError> {
    value.as_object().ok_or_else(|| TemplateError::invalid(format!("{what} must be a JSON object")))
}

fn parse_parameters(value: &Value) -> Result<BTreeMap<String, Parameter>, TemplateError> {
    let mut out = BTreeMap::new();
    for (name, declaration) in object(value, "Parameters")? {
        let declaration = object(declaration, &format!("Parameter {name}"))?;
        let ty = match declaration.get("Type").and_then(Value::as_str) {
            Some("String") => ParamType::String,
            Some("Number") => ParamType::Number,
            Some("List<Number>") => ParamType::NumberList,
            Some("CommaDelimitedList") => ParamType::CommaDelimitedList,
            Some(other) => {
                return Err(TemplateError::invalid(format!(
                "Parameter {name} has Type {other:?}: use String, Number, List<Number> or CommaDelimitedList"
            )))
            }
            None => return Err(TemplateError::invalid(format!("Parameter {name} has no Type"))),
        };
        let default = match declaration.get("Default") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(TemplateError::invalid(format!(
                    "The Default of parameter {name} must be a string"
                )))
            }
        };
        let parameter = Parameter { ty, default };
        if let Some(default) = &parameter.default {
            eval::typed_value(name, parameter.ty, default).map_err(|e| TemplateError::invalid(e.message))?;
        }
        out.insert(name.clone(), parameter);
    }
    Ok(out)
}

fn parse_mappings(value: Value) -> Result<Map<String, Value>, TemplateError> {
    let Value::Object(maps) = value else {
        return Err(TemplateError::invalid("Mappings must be a JSON object"));
    };
    for (name, map) in &maps {
        for (key, values) in object(map, &format!("Mapping {name}"))? {
            for (attribute, value) in object(values, &format!("Mapping {name}.{key}"))? {
                if contains_call(value, 0)? {
                    return Err(TemplateError::invalid(format!(
                        "Mapping {name}.{key}.{attribute}: the Mappings section cannot use parameters or \
                         intrinsic functions"
                    )));
                }
            }
        }
    }
    Ok(maps)
}

/// Whether `value` holds a function call anywhere (within [`MAX_DEPTH`]).
fn contains_call(value: &Value, depth: usize) -> Result<bool, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if as_call(value).is_some() {
        return Ok(true);
    }
    let children: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => return Ok(false),
    };
    for child in children {
        if contains_call(child, depth + 1)? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn too_deep() -> TemplateError {
    TemplateError::invalid(format!("The template nests deeper than {MAX_DEPTH} levels"))
}

/// The properties each resource type takes.
fn known_properties(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::Thing => {
            &["ThingName", "AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup"]
        }
        ResourceKind::Certificate => {
            &["CertificateSigningRequest", "CertificateId", "CertificatePem", "CACertificatePem", "Status"]
        }
        ResourceKind::Policy => &["PolicyName", "PolicyDocument"],
    }
}

fn parse_resources(value: &Value) -> Result<BTreeMap<String, Resource>, TemplateError> {
    let mut out = BTreeMap::new();
    for (logical, resource) in object(value, "Resources")? {
        let resource = object(resource, &format!("Resource {logical}"))?;
        let kind = match resource.get("Type").and_then(Value::as_str) {
            Some("AWS::IoT::Thing") => ResourceKind::Thing,
            Some("AWS::IoT::Certificate") => ResourceKind::Certificate,
            Some("AWS::IoT::Policy") => ResourceKind::Policy,
            other => {
                return Err(TemplateError::invalid(format!(
                    "Resource {logical} has Type {other:?}: use AWS::IoT::Thing, AWS::IoT::Certificate or \
                     AWS::IoT::Policy"
                )))
            }
        };
        for key in resource.keys() {
            if !["Type", "Properties", "OverrideSettings"].contains(&key.as_str()) {
                return Err(TemplateError::invalid(format!("Resource {logical} has an unknown key {key:?}")));
            }
        }
        let properties = match resource.get("Properties") {
            None => Map::new(),
            Some(p) => object(p, &format!("The Properties of {logical}"))?.clone(),
        };
        let known = known_properties(kind);
        for (name, value) in &properties {
            if !known.contains(&name.as_str()) {
                return Err(TemplateError::invalid(format!(
                    "Resource {logical} has an unknown property {name:?} (expected one of {})",
                    known.join(", ")
                )));
            }
            eval::check_calls(value, 0)?;
        }
        check_resource_shape(logical, kind, &properties)?;
        let overrides = match resource.get("OverrideSettings") {
            None => BTreeMap::new(),
            Some(settings) => parse_overrides(logical, kind, object(settings, "OverrideSettings")?)?,
        };
        out.insert(logical.clone(), Resource { kind, properties, overrides });
    }
    Ok(out)
}

/// The combinations of properties the guide allows.
fn check_resource_shape(
    logical: &str,
    kind: ResourceKind,
    p: &Map<String, Value>,
) -> Result<(), TemplateError> {
    let has = |name: &str| p.contains_key(name);
    match kind {
        ResourceKind::Thing if !has("ThingName") => {
            Err(TemplateError::invalid(format!("The thing resource {logical} has no ThingName")))
        }
        ResourceKind::Certificate => {
            let ways = [has("CertificateSigningRequest"), has("CertificateId"), has("CertificatePem")];
            if ways.iter().filter(|w| **w).count() != 1 {
                return Err(TemplateError::invalid(format!(
                    "The certificate resource {logical} must give exactly one of CertificateSigningRequest, \
                     CertificateId and CertificatePem"
                )));
            }
            if has("CACertificatePem") && !has("CertificatePem") {
                return Err(TemplateError::invalid(format!(
                    "The certificate resource {logical} gives CACertificatePem without CertificatePem"
                )));
            }
            Ok(())
        }
        ResourceKind::Policy if has("PolicyName") == has("PolicyDocument") => Err(TemplateError::invalid(
            format!("The policy resource {logical} must give PolicyName or PolicyDocument, but not both"),
        )),
        _ => Ok(()),
    }
}

fn parse_overrides(
    logical: &str,
    kind: ResourceKind,
    settings: &Map<String, Value>,
) -> Result<BTreeMap<&'static str, Override>, TemplateError> {
    let mut out = BTreeMap::new();
    for (key, value) in settings {
        // The guide names them both ways: ATTRIBUTE_PAYLOAD in the text, AttributePayload in
        // the examples.
        let property = match (kind, key.as_str()) {
            (ResourceKind::Thing, "AttributePayload" | "ATTRIBUTE_PAYLOAD") => "AttributePayload",
            (ResourceKind::Thing, "ThingTypeName" | "THING_TYPE_NAME") => "ThingTypeName",
            (ResourceKind::Thing, "ThingGroups" | "THING_GROUPS") => "ThingGroups",
            (ResourceKind::Certificate, "Status" | "STATUS") => "Status",
            (ResourceKind::Policy, _) => {
                return Err(TemplateError::invalid(format!(
                    "The policy resource {logical} has OverrideSettings: they are not available for policies"
                )))
            }
            _ => {
                return Err(TemplateError::invalid(format!(
                "The resource {logical} has an OverrideSettings entry for {key:?}, which it cannot override"
            )))
            }
        };
        let action = match value.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("DO_NOTHING") => Override::DoNothing,
            Some("REPLACE") => Override::Replace,
            Some("FAIL") => Override::Fail,
            Some("MERGE") if matches!(property, "AttributePayload" | "ThingGroups") => Override::Merge,
            Some("MERGE") => {
                return Err(TemplateError::invalid(format!(
                    "{logical}: MERGE is valid only for AttributePayload and ThingGroups, not {property}"
                )))
            }
            _ => {
                return Err(TemplateError::invalid(format!(
                    "{logical}: the override of {property} must be DO_NOTHING, REPLACE, FAIL or MERGE"
                )))
            }
        };
        out.insert(property, action);
    }
    Ok(out)
}

fn parse_device_configuration(value: Value) -> Result<Map<String, Value>, TemplateError> {
    let Value::Object(map) = value else {
        return Err(TemplateError::invalid("DeviceConfiguration must be a JSON object"));
    };
    for (key, value) in &map {
        if value.is_object() && as_call(value).is_none() {
            return Err(TemplateError::invalid(format!(
                "DeviceConfiguration {key}: the DeviceConfiguration section does not support nested JSON objects"
            )));
        }
        eval::check_calls(value, 0)?;
    }
    Ok(map)
}
