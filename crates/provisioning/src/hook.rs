//! Pre-provisioning hooks (`pre-provisioning-hook.md`). AWS invokes a Lambda function; iotemu
//! POSTs the same input to a local URL configured for the function's ARN in
//! `[provisioning] hook_endpoints` (as the rules engine's lambda action does), e.g. the Lambda
//! Runtime Interface Emulator's `http://127.0.0.1:9000/2015-03-31/functions/function/invocations`.
//!
//! Input: `claimCertificateId`, `certificateId`, `certificatePem`, `templateArn`, `clientId`,
//! `parameters`. Output: `allowProvisioning` (`true`, or the string "true" as the guide's note
//! writes it) and `parameterOverrides`, added to the request's parameters. A function that fails,
//! does not allow provisioning, or does not answer within 5 seconds refuses the request
//! (ACCESS_DENIED in the guide).

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// AWS: "The Lambda function must finish running and return within 5 seconds".
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the hook is told.
#[derive(Debug, Clone)]
pub struct HookInput<'a> {
    pub claim_certificate_id: &'a str,
    pub certificate_id: &'a str,
    pub certificate_pem: &'a str,
    pub template_arn: &'a str,
    pub client_id: &'a str,
    pub parameters: &'a BTreeMap<String, String>,
}

impl HookInput<'_> {
    pub fn to_json(&self) -> Value {
        json!({
            "claimCertificateId": self.claim_certificate_id,
            "certificateId": self.certificate_id,
            "certificatePem": self.certificate_pem,
            "templateArn": self.template_arn,
            "clientId": self.client_id,
            "parameters": self.parameters,
        })
    }
}

/// The URL configured for `arn`: the exact ARN, then the ARN without its version or alias, then
/// `"*"`.
pub fn endpoint<'a>(endpoints: &'a HashMap<String, String>, arn: &str) -> Option<&'a String> {
    let unqualified = {
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        let parts: Vec<&str> = arn.splitn(8, ':').collect();
        (parts.len() == 8).then(|| parts[..7].join(":"))
    };
    endpoints.get(arn).or_else(|| unqualified.and_then(|a| endpoints.get(&a))).or_else(|| endpoints.get("*"))
}

/// Reads the function's answer: `Ok(parameterOverrides)` when it allows provisioning.
pub fn read_answer(arn: &str, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|_| format!("The pre-provisioning hook {arn} did not return a JSON object"))?;
    let allowed = match answer.get("allowProvisioning") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    if !allowed {
        return Err(format!("The pre-provisioning hook {arn} did not allow provisioning"));
    }
    let mut overrides = BTreeMap::new();
    if let Some(map) = answer.get("parameterOverrides").and_then(Value::as_object) {
        for (key, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("The pre-provisioning hook {arn} returned a parameterOverrides.{key} that is not a string")),
            };
            overrides.insert(key.clone(), text);
        }
    }
    Ok(overrides)
}

/// Calls the hook `arn`; `Err` says why the request is refused.
pub async fn invoke(
    http: &reqwest::Client,
    endpoints: &HashMap<String, String>,
    arn: &str,
    input: &Value,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, String> {
    let url = endpoint(endpoints, arn).ok_or_else(|| {
        format!("The pre-provisioning hook {arn} cannot be invoked: no URL is configured for it in [provisioning] hook_endpoints")
    })?;
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-amz-invocation-type", "RequestResponse")
        .body(input.to_string())
        .timeout(timeout)
        .send();
    let response = match request.await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return Err(format!(
                "The pre-provisioning hook {arn} did not return within {} seconds",
                timeout.as_secs()
            ))
        }
        Err(e) => return Err(format!("The pre-provisioning hook {arn} failed: {e}")),
    };
    let status = response.status();
    let body = match tokio::time::timeout(timeout, response.bytes()).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Err(format!("The pre-provisioning hook {arn} failed: {e}")),
        Err(_) => {
            return Err(format!(
                "The pre-provisioning hook {arn} did not return within {} seconds",
                timeout.as_secs()
            ))
        }
    };
    if !status.is_success() {
        return Err(format!("The pre-provisioning hook {arn} failed with HTTP status {}", status.as_u16()));
    }
    read_answer(arn, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_by_arn_then_unqualified_then_star() {
        let mut endpoints = HashMap::new();
        endpoints.insert("arn:aws:lambda:us-east-1:1:function:f".to_string(), "http://a".to_string());
        assert_eq!(endpoint(&endpoints, "arn:aws:lambda:us-east-1:1:function:f:prod").unwrap(), "http://a");
        assert_eq!(endpoint(&endpoints, "arn:aws:lambda:us-east-1:1:function:f").unwrap(), "http://a");
        assert!(endpoint(&endpoints, "arn:aws:lambda:us-east-1:1:function:g").is_none());
        endpoints.insert("*".to_string(), "http://any".to_string());
        assert_eq!(endpoint(&endpoints, "arn:aws:lambda:us-east-1:1:function:g").unwrap(), "http://any");
    }

    #[test]
    fn answers_allow_with_overrides_or_refuse() {
        let ok = read_answer(
            "f",
            br#"{"allowProvisioning": true, "parameterOverrides": {"Loc": "Seattle", "N": 3}}"#,
        );
        assert_eq!(
            ok.unwrap().into_iter().collect::<Vec<_>>(),
            vec![("Loc".into(), "Seattle".into()), ("N".into(), "3".into())]
        );
        assert!(read_answer("f", br#"{"allowProvisioning": "true"}"#).is_ok());
        assert!(read_answer("f", br#"{"allowProvisioning": false}"#).unwrap_err().contains("did not allow"));
        assert!(read_answer("f", br#"{}"#).is_err());
        assert!(read_answer("f", b"not json").unwrap_err().contains("JSON"));
        assert!(read_answer("f", br#"{"allowProvisioning": true, "parameterOverrides": {"a": {}}}"#).is_err());
    }
}
