//! TestInvokeAuthorizer (`custom-authorizer.md`, `config-custom-auth.md`): the token's signature
//! is verified with the authorizer's `tokenSigningPublicKeys` (RSA, SHA-256, PKCS #1 v1.5, the
//! signature base64), then the function is called with AWS's event at the URL
//! `[authorizers] endpoints` gives its ARN (the exact ARN, then the ARN without version or alias,
//! then `*`, as the rules' lambda map), and its answer is returned as AWS returns it.

use crate::state::Authorizer;
use crate::AuthorizerError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// AWS's limit on the authorizer function's run (`config-custom-auth.md`: 5 seconds).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(5);

/// TestInvokeAuthorizer's body (`httpContext`, `mqttContext`, `tlsContext` as botocore's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestInvokeInput {
    pub token: Option<String>,
    pub token_signature: Option<String>,
    pub http_context: Option<Value>,
    pub mqtt_context: Option<MqttContext>,
    pub tls_context: Option<Value>,
}

/// `MqttContext`: the password is base64, as botocore's blob.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttContext {
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
}

/// The DER DigestInfo header of a SHA-256 digest (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0x04, 0x20,
];

/// Whether `signature` (base64) signs `token` with one of the authorizer's public keys.
pub fn signature_verified(authorizer: &Authorizer, token: &str, signature: &str) -> bool {
    let Ok(signature) = B64.decode(signature) else { return false };
    // PKCS #1 v1.5 with SHA-256: the DigestInfo prefix of SHA-256, then the digest.
    let mut hashed = SHA256_DIGEST_INFO.to_vec();
    hashed.extend_from_slice(&Sha256::digest(token.as_bytes()));
    authorizer.token_signing_public_keys.values().any(|pem| {
        RsaPublicKey::from_public_key_pem(pem.trim())
            .is_ok_and(|key| key.verify(Pkcs1v15Sign::new_unprefixed(), &hashed, &signature).is_ok())
    })
}

/// AWS's event for the function (`custom-authorizer.md`).
pub fn event(input: &TestInvokeInput, signature_verified: bool) -> Value {
    let mut protocols = Vec::new();
    let mut data = Map::new();
    if let Some(tls) = &input.tls_context {
        protocols.push("tls");
        data.insert("tls".into(), tls.clone());
    }
    if let Some(http) = &input.http_context {
        protocols.push("http");
        data.insert("http".into(), http.clone());
    }
    if let Some(mqtt) = &input.mqtt_context {
        protocols.push("mqtt");
        let mut m = Map::new();
        if let Some(u) = &mqtt.username {
            m.insert("username".into(), u.clone().into());
        }
        if let Some(p) = &mqtt.password {
            m.insert("password".into(), p.clone().into());
        }
        if let Some(c) = &mqtt.client_id {
            m.insert("clientId".into(), c.clone().into());
        }
        data.insert("mqtt".into(), Value::Object(m));
    }
    let mut event = json!({
        "signatureVerified": signature_verified,
        "protocols": protocols,
        "protocolData": data,
        "connectionMetadata": { "id": uuid::Uuid::new_v4().to_string() },
    });
    if let Some(token) = &input.token {
        event["token"] = token.clone().into();
    }
    event
}

/// The URL of `function_arn` in the endpoints map.
pub fn endpoint<'a>(endpoints: &'a HashMap<String, String>, function_arn: &str) -> Option<&'a String> {
    let unqualified = function_arn.split(':').take(7).collect::<Vec<_>>().join(":");
    endpoints.get(function_arn).or_else(|| endpoints.get(&unqualified)).or_else(|| endpoints.get("*"))
}

/// Calls the function and checks its answer's shape: `isAuthenticated`, `principalId` (1 to 128
/// alphanumeric characters), `policyDocuments` (JSON strings), `disconnectAfterInSeconds`,
/// `refreshAfterInSeconds`. An unreachable, slow or malformed function is InvalidResponseException.
pub async fn call(client: &reqwest::Client, url: &str, event: &Value) -> Result<Value, AuthorizerError> {
    let invalid = |m: String| AuthorizerError::InvalidResponse(m);
    let response = client
        .post(url)
        .timeout(FUNCTION_TIMEOUT)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .map_err(|e| invalid(format!("The authorizer function could not be invoked: {e}")))?;
    if !response.status().is_success() {
        return Err(invalid(format!("The authorizer function failed with HTTP {}", response.status())));
    }
    let body = response.bytes().await.map_err(|e| invalid(format!("The authorizer function failed: {e}")))?;
    let answer: Value = serde_json::from_slice(&body)
        .map_err(|_| invalid("The authorizer function's answer is not JSON".into()))?;
    let is_authenticated = answer.get("isAuthenticated").and_then(Value::as_bool);
    let principal = answer.get("principalId").and_then(Value::as_str);
    let policies = answer.get("policyDocuments").and_then(Value::as_array);
    let principal_ok = principal
        .is_some_and(|p| (1..=128).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if is_authenticated.is_none()
        || !principal_ok
        || policies.is_none_or(|p| p.iter().any(|d| !d.is_string()))
    {
        return Err(invalid(
            "The authorizer function's answer needs isAuthenticated, an alphanumeric principalId of 1 to 128 \
             characters and policyDocuments as JSON strings"
                .into(),
        ));
    }
    let mut out = json!({
        "isAuthenticated": is_authenticated,
        "principalId": principal,
        "policyDocuments": policies,
    });
    for key in ["disconnectAfterInSeconds", "refreshAfterInSeconds"] {
        if let Some(v) = answer.get(key).and_then(Value::as_i64) {
            out[key] = v.into();
        }
    }
    Ok(out)
}
