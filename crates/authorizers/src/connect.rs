//! Devices connecting through a custom authorizer (`custom-auth.md`, `config-custom-auth.md`):
//! the broker's [`CustomAuthenticator`] for one account and region.
//!
//! The authorizer is the one named by `x-amz-customauthorizer-name` (a WebSocket's header or
//! query, else the MQTT user name's query string), else the account's default authorizer; a
//! missing or INACTIVE one is CUSTOM_AUTHORIZER_NOT_FOUND. With signing enabled the token (under
//! the authorizer's `tokenKeyName`) and `x-amz-customauthorizer-signature` are required
//! (CUSTOM_AUTHORIZER_PARAMETER_INVALID) and verified (SECURITY_TOKEN_SIGNATURE_MISMATCH). The
//! function gets AWS's event with `tls` (serverName), `http` (a WebSocket's headers and query
//! string) and `mqtt` (username, password in base64, clientId) parts, the same call as
//! TestInvokeAuthorizer's ([`crate::invoke::call`]); an unreachable, failing, slow (over 5 s) or
//! malformed function, or a policy document that does not parse, is
//! CUSTOM_AUTHORIZER_LAMBDA_EXECUTION_ERROR; `isAuthenticated` false is NOT_AUTHENTICATED.

use crate::invoke::{self, MqttContext, TestInvokeInput};
use crate::state::Authorizer;
use crate::Authorizers;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use iotemu_core::{
    AuthnFailure, ClientInfo, CustomAuthGrant, CustomAuthRequest, CustomAuthResult, CustomAuthenticator,
    DeviceAuthorizer, IotAction, Scope,
};
use iotemu_registry::policy_document::{Decision, PolicyDocument, PolicyVariables};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The name parameter of the authorizer (`custom-auth.md`).
const NAME: &str = "x-amz-customauthorizer-name";
/// The token signature parameter.
const SIGNATURE: &str = "x-amz-customauthorizer-signature";
/// AWS's longest `disconnectAfterInSeconds` and `refreshAfterInSeconds` (`config-custom-auth.md`).
const MAX_SECONDS: i64 = 86_400;

/// The custom authorizers of the account and region the device port serves.
pub struct DeviceCustomAuth {
    pub authorizers: Arc<Authorizers>,
    pub scope: Scope,
}

impl CustomAuthenticator for DeviceCustomAuth {
    fn authenticate<'a>(&'a self, request: &'a CustomAuthRequest) -> CustomAuthResult<'a> {
        Box::pin(self.authorizers.authenticate_connection(&self.scope, request))
    }
}

fn failure(reason: &'static str, details: impl Into<String>) -> AuthnFailure {
    AuthnFailure { reason, details: details.into() }
}

/// The parameters a client passed, looked up in order: the WebSocket's headers, its query, the
/// MQTT user name's query string (each value percent-decoded).
struct Parameters {
    headers: Vec<(String, String)>,
    queries: Vec<Vec<(String, String)>>,
}

impl Parameters {
    fn of(request: &CustomAuthRequest) -> Parameters {
        let mut queries = Vec::new();
        let mut headers = Vec::new();
        if let Some(http) = &request.http {
            headers = http.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
            queries.push(parse_query(&http.query_string));
        }
        if let Some((_, query)) = request.username.as_deref().and_then(|u| u.split_once('?')) {
            queries.push(parse_query(query));
        }
        Parameters { headers, queries }
    }

    fn get(&self, name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == lower)
            .map(|(_, v)| v.clone())
            .or_else(|| self.queries.iter().flatten().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl Authorizers {
    /// Authenticates a connecting device through its custom authorizer (module doc).
    pub async fn authenticate_connection(
        &self,
        scope: &Scope,
        request: &CustomAuthRequest,
    ) -> Result<CustomAuthGrant, AuthnFailure> {
        let parameters = Parameters::of(request);
        let authorizer = self.connecting_authorizer(scope, &parameters)?;
        let token = authorizer.token_key_name.as_deref().and_then(|key| parameters.get(key));
        let mut verified = false;
        if !authorizer.signing_disabled {
            let (Some(token), Some(signature)) = (&token, parameters.get(SIGNATURE)) else {
                return Err(failure(
                    "CUSTOM_AUTHORIZER_PARAMETER_INVALID",
                    format!(
                        "Authorizer {} signs its tokens: the token ({}) and {SIGNATURE} are required",
                        authorizer.authorizer_name,
                        authorizer.token_key_name.as_deref().unwrap_or("")
                    ),
                ));
            };
            if !invoke::signature_verified(&authorizer, token, &signature) {
                return Err(failure(
                    "SECURITY_TOKEN_SIGNATURE_MISMATCH",
                    "The token signature could not be verified with the authorizer's public keys",
                ));
            }
            verified = true;
        }
        let input = TestInvokeInput {
            token,
            token_signature: None,
            tls_context: Some(json!({ "serverName": request.server_name.clone().unwrap_or_default() })),
            http_context: request.http.as_ref().map(|http| {
                let headers: Map<String, Value> =
                    http.headers.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
                json!({ "headers": headers, "queryString": format!("?{}", http.query_string.trim_start_matches('?')) })
            }),
            mqtt_context: Some(MqttContext {
                username: request.username.clone(),
                password: request.password.as_ref().map(|p| B64.encode(p)),
                client_id: (!request.client_id.is_empty()).then(|| request.client_id.clone()),
            }),
        };
        let answer = self
            .invoke_function(&authorizer, &invoke::event(&input, verified))
            .await
            .map_err(|e| failure("CUSTOM_AUTHORIZER_LAMBDA_EXECUTION_ERROR", e.to_string()))?;
        grant(scope, &answer)
    }

    /// The authorizer a connection names, else the default one; it must be ACTIVE.
    fn connecting_authorizer(
        &self,
        scope: &Scope,
        parameters: &Parameters,
    ) -> Result<Authorizer, AuthnFailure> {
        let authorizer = match parameters.get(NAME) {
            Some(name) => self.describe_authorizer(scope, &name),
            None => self.describe_default_authorizer(scope),
        }
        .map_err(|e| failure("CUSTOM_AUTHORIZER_NOT_FOUND", e.to_string()))?;
        if authorizer.status != "ACTIVE" {
            return Err(failure(
                "CUSTOM_AUTHORIZER_NOT_FOUND",
                format!("Authorizer {} is {}", authorizer.authorizer_name, authorizer.status),
            ));
        }
        Ok(authorizer)
    }
}

/// The connection's grant from the function's answer (already checked for shape by
/// [`invoke::call`]).
fn grant(scope: &Scope, answer: &Value) -> Result<CustomAuthGrant, AuthnFailure> {
    if answer["isAuthenticated"].as_bool() != Some(true) {
        return Err(failure("NOT_AUTHENTICATED", "The authorizer function answered isAuthenticated false"));
    }
    let mut documents = Vec::new();
    for text in answer["policyDocuments"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let document = PolicyDocument::parse(text).map_err(|e| {
            failure(
                "CUSTOM_AUTHORIZER_LAMBDA_EXECUTION_ERROR",
                format!("A returned policy document is invalid: {e}"),
            )
        })?;
        documents.push(document);
    }
    let seconds = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_i64)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s.min(MAX_SECONDS) as u64))
    };
    Ok(CustomAuthGrant {
        principal_id: answer["principalId"].as_str().unwrap_or_default().into(),
        policies: Arc::new(ReturnedPolicies { documents, scope: scope.clone() }),
        disconnect_after: seconds("disconnectAfterInSeconds"),
        refresh_after: seconds("refreshAfterInSeconds"),
    })
}

/// The policy documents an authorizer's function returned: the connection's IoT policies.
struct ReturnedPolicies {
    documents: Vec<PolicyDocument>,
    scope: Scope,
}

impl DeviceAuthorizer for ReturnedPolicies {
    fn authorize(&self, client: &ClientInfo, action: IotAction, resource: &str) -> bool {
        let arn = format!(
            "arn:aws:iot:{}:{}:{}/{resource}",
            self.scope.region,
            self.scope.account,
            action.resource_type()
        );
        PolicyDocument::evaluate(&self.documents, action.name(), &arn, &Variables(client)) == Decision::Allow
    }
}

/// The policy variables of a custom-authenticated connection: `iot:ClientId` and `aws:SourceIp`
/// (no certificate, and no thing attached to the principal).
struct Variables<'a>(&'a ClientInfo);

impl PolicyVariables for Variables<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "iot:clientid" => Some(self.0.client_id.to_string()),
            "aws:sourceip" => Some(self.0.source_ip.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::HttpRequestContext;

    #[test]
    fn parameters_come_from_headers_then_queries_then_the_user_name() {
        let request = CustomAuthRequest {
            username: Some("dev?x-amz-customauthorizer-name=byname&token=t%2B1&SDK=Python".into()),
            http: Some(HttpRequestContext {
                headers: vec![("X-Amz-CustomAuthorizer-Signature".into(), "sig".into())],
                query_string: "token=fromquery".into(),
            }),
            ..Default::default()
        };
        let parameters = Parameters::of(&request);
        assert_eq!(parameters.get(NAME).as_deref(), Some("byname"));
        assert_eq!(parameters.get("token").as_deref(), Some("fromquery"));
        assert_eq!(parameters.get(SIGNATURE).as_deref(), Some("sig"));
        assert_eq!(parameters.get("missing"), None);
        let bare = CustomAuthRequest { username: Some("dev?token=t%2B1".into()), ..Default::default() };
        assert_eq!(Parameters::of(&bare).get("token").as_deref(), Some("t+1"));
    }

    #[test]
    fn a_denial_or_a_bad_policy_refuses_and_a_grant_carries_its_policies() {
        let scope = Scope { account: "123456789012".into(), region: "us-east-1".into() };
        let denied = json!({"isAuthenticated": false, "principalId": "p", "policyDocuments": []});
        assert_eq!(grant(&scope, &denied).err().map(|f| f.reason), Some("NOT_AUTHENTICATED"));
        let bad = json!({"isAuthenticated": true, "principalId": "p", "policyDocuments": ["{}"]});
        assert_eq!(
            grant(&scope, &bad).err().map(|f| f.reason),
            Some("CUSTOM_AUTHORIZER_LAMBDA_EXECUTION_ERROR")
        );
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Publish",
            "Resource": "arn:aws:iot:us-east-1:123456789012:topic/dev/${iot:ClientId}"}]});
        let allowed = json!({"isAuthenticated": true, "principalId": "p", "policyDocuments": [policy.to_string()],
            "disconnectAfterInSeconds": 999999});
        let Ok(granted) = grant(&scope, &allowed) else { panic!("the answer is a grant") };
        assert_eq!(&*granted.principal_id, "p");
        assert_eq!(granted.disconnect_after, Some(Duration::from_secs(86_400)));
        let client = ClientInfo::new(iotemu_core::Protocol::Mqtt, "c1", "p", "127.0.0.1:1".parse().unwrap());
        assert!(granted.policies.authorize(&client, IotAction::Publish, "dev/c1"));
        assert!(!granted.policies.authorize(&client, IotAction::Publish, "dev/c2"));
        assert!(!granted.policies.authorize(&client, IotAction::Subscribe, "dev/c1"));
    }
}
