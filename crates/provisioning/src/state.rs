//! The documents of fleet provisioning and their rules (pure): provisioning templates with their
//! versions (botocore `iot`: CreateProvisioningTemplate and the rest), and certificate ownership
//! tokens (`fleet-provision-api.md`).

use crate::template::Template;
use crate::ProvisioningError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Store kinds.
pub const TEMPLATE_KIND: &str = "provisioning-template";
pub const TOKEN_KIND: &str = "provisioning-token";

/// Versions per template (AWS IoT Core quotas, "Fleet provisioning": 5 versions per template).
pub const MAX_VERSIONS: usize = 5;
/// Templates per account and region (the same quotas: 256).
pub const MAX_TEMPLATES: usize = 256;
/// botocore `TemplateBody`: at most 10240 characters.
pub const MAX_BODY: usize = 10_240;

/// botocore `TemplateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateType {
    FleetProvisioning,
    Jitp,
}

impl TemplateType {
    pub fn parse(text: &str) -> Result<Self, ProvisioningError> {
        match text {
            "FLEET_PROVISIONING" => Ok(TemplateType::FleetProvisioning),
            "JITP" => Ok(TemplateType::Jitp),
            other => Err(ProvisioningError::InvalidRequest(format!(
                "type {other:?} is not FLEET_PROVISIONING or JITP"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateType::FleetProvisioning => "FLEET_PROVISIONING",
            TemplateType::Jitp => "JITP",
        }
    }
}

/// botocore `ProvisioningHook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningHook {
    pub target_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_version: Option<String>,
}

/// One version of a template's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateVersion {
    pub version_id: u32,
    pub template_body: String,
    /// Epoch milliseconds.
    pub creation_date: u64,
}

/// A provisioning template, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningTemplate {
    pub template_name: String,
    pub template_arn: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub provisioning_role_arn: String,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    #[serde(rename = "type")]
    pub template_type: TemplateType,
    /// Epoch milliseconds.
    pub creation_date: u64,
    pub last_modified_date: u64,
    pub default_version_id: u32,
    pub versions: BTreeMap<u32, TemplateVersion>,
    /// The id the next version gets (ids are never reused).
    pub next_version_id: u32,
}

/// AWS's timestamps in JSON: epoch seconds with a fraction.
pub fn api_time(millis: u64) -> f64 {
    millis as f64 / 1000.0
}

impl ProvisioningTemplate {
    /// The body of the default version.
    pub fn default_body(&self) -> &str {
        self.versions.get(&self.default_version_id).map_or("", |v| v.template_body.as_str())
    }

    /// DescribeProvisioningTemplate's answer.
    pub fn describe_json(&self) -> Value {
        let mut out = self.summary_json();
        out["defaultVersionId"] = json!(self.default_version_id);
        out["templateBody"] = json!(self.default_body());
        out["provisioningRoleArn"] = json!(self.provisioning_role_arn);
        if let Some(hook) = &self.pre_provisioning_hook {
            out["preProvisioningHook"] = json!(hook);
        }
        out
    }

    /// ListProvisioningTemplates' `ProvisioningTemplateSummary`.
    pub fn summary_json(&self) -> Value {
        let mut out = json!({
            "templateArn": self.template_arn,
            "templateName": self.template_name,
            "creationDate": api_time(self.creation_date),
            "lastModifiedDate": api_time(self.last_modified_date),
            "enabled": self.enabled,
            "type": self.template_type.as_str(),
        });
        if let Some(description) = &self.description {
            out["description"] = json!(description);
        }
        out
    }

    /// A version's summary (`ProvisioningTemplateVersionSummary`).
    pub fn version_json(&self, version: &TemplateVersion) -> Value {
        json!({
            "versionId": version.version_id,
            "creationDate": api_time(version.creation_date),
            "isDefaultVersion": version.version_id == self.default_version_id,
        })
    }
}

/// botocore `TemplateName`: 1-36 of `[0-9A-Za-z_-]`.
pub fn check_template_name(name: &str) -> Result<(), ProvisioningError> {
    let ok = (1..=36).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        ProvisioningError::InvalidRequest(format!(
            "templateName {name:?} must be 1 to 36 characters of 0-9, A-Z, a-z, _ and -"
        ))
    })
}

/// botocore `TemplateDescription`: at most 500 characters, no control characters.
pub fn check_description(description: &str) -> Result<(), ProvisioningError> {
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        return Err(ProvisioningError::InvalidRequest(
            "description must be at most 500 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// botocore `RoleArn`: 20 to 2048 characters.
pub fn check_role_arn(arn: &str) -> Result<(), ProvisioningError> {
    if !(20..=2048).contains(&arn.chars().count()) {
        return Err(ProvisioningError::InvalidRequest(
            "provisioningRoleArn must be 20 to 2048 characters".into(),
        ));
    }
    Ok(())
}

/// botocore `ProvisioningHook`: `targetArn` (a Lambda function ARN) and an optional
/// `payloadVersion` of 10 to 32 digits and dashes; for FLEET_PROVISIONING templates only.
pub fn check_hook(hook: &ProvisioningHook, template_type: TemplateType) -> Result<(), ProvisioningError> {
    if template_type != TemplateType::FleetProvisioning {
        return Err(ProvisioningError::InvalidRequest(
            "preProvisioningHook is supported only by templates of type FLEET_PROVISIONING".into(),
        ));
    }
    if hook.target_arn.is_empty() || hook.target_arn.len() > 2048 {
        return Err(ProvisioningError::InvalidRequest("preProvisioningHook.targetArn is required".into()));
    }
    if let Some(version) = &hook.payload_version {
        if !(10..=32).contains(&version.len()) || !version.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(ProvisioningError::InvalidRequest(format!(
                "preProvisioningHook.payloadVersion {version:?} must be 10 to 32 digits and dashes, such as 2020-04-01"
            )));
        }
    }
    Ok(())
}

/// A template body: at most [`MAX_BODY`] characters and a template that parses.
pub fn check_body(body: &str) -> Result<Template, ProvisioningError> {
    if body.chars().count() > MAX_BODY {
        return Err(ProvisioningError::InvalidRequest(format!("templateBody exceeds {MAX_BODY} characters")));
    }
    Template::parse(body)
        .map_err(|e| ProvisioningError::InvalidRequest(format!("Invalid template body: {e}")))
}

/// A certificate ownership token: proof that a device received the certificate, valid for one
/// hour and one certificate (`fleet-provision-api.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipToken {
    pub token: String,
    pub certificate_id: String,
    /// Who asked for it: the claim certificate and client id.
    pub claim_certificate_id: String,
    pub client_id: String,
    /// Epoch milliseconds.
    pub created_at: u64,
    pub expires_at: u64,
}

impl OwnershipToken {
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// A new token: 64 random hex characters.
pub fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_descriptions_roles_and_hooks_follow_botocore() {
        assert!(check_template_name("widget-template_1").is_ok());
        for bad in ["", "has space", &"x".repeat(37), "a/b"] {
            assert!(check_template_name(bad).is_err(), "{bad}");
        }
        assert!(check_description(&"d".repeat(500)).is_ok());
        assert!(check_description(&"d".repeat(501)).is_err());
        assert!(check_role_arn("arn:aws:iam::123456789012:role/Provision").is_ok());
        assert!(check_role_arn("short").is_err());
        let hook = ProvisioningHook {
            target_arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            payload_version: None,
        };
        assert!(check_hook(&hook, TemplateType::FleetProvisioning).is_ok());
        assert!(check_hook(&hook, TemplateType::Jitp).is_err());
        let bad = ProvisioningHook { payload_version: Some("v1".into()), ..hook };
        assert!(check_hook(&bad, TemplateType::FleetProvisioning).is_err());
        assert!(check_body("{}").is_ok());
        assert!(matches!(check_body("{"), Err(ProvisioningError::InvalidRequest(_))));
        assert!(check_body(&format!("{{\"DeviceConfiguration\":{{\"a\":\"{}\"}}}}", "x".repeat(MAX_BODY)))
            .is_err());
        assert_eq!(TemplateType::parse("JITP").unwrap().as_str(), "JITP");
        assert!(TemplateType::parse("jitp").is_err());
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert_ne!(token, new_token());
    }
}
