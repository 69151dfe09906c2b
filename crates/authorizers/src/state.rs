//! An authorizer and the rules of its fields (botocore's `AuthorizerDescription` and the
//! CreateAuthorizer shapes' constraints).

use crate::AuthorizerError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An authorizer, as stored and described (`AuthorizerDescription`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    pub authorizer_name: String,
    pub authorizer_arn: String,
    pub authorizer_function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_key_name: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub token_signing_public_keys: BTreeMap<String, String>,
    /// ACTIVE or INACTIVE.
    pub status: String,
    /// Epoch seconds.
    pub creation_date: f64,
    pub last_modified_date: f64,
    pub signing_disabled: bool,
    pub enable_caching_for_http: bool,
}

/// CreateAuthorizer's and UpdateAuthorizer's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerInput {
    pub authorizer_function_arn: Option<String>,
    pub token_key_name: Option<String>,
    pub token_signing_public_keys: Option<BTreeMap<String, String>>,
    pub status: Option<String>,
    pub signing_disabled: Option<bool>,
    pub enable_caching_for_http: Option<bool>,
}

/// `AuthorizerName`: 1 to 128 of `[\w=,@-]`.
pub fn check_name(name: &str) -> Result<(), AuthorizerError> {
    let ok = (1..=128).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_=,@-".contains(c));
    ok.then_some(()).ok_or_else(|| {
        AuthorizerError::InvalidRequest(format!(
            "authorizerName {name:?} must be 1 to 128 characters of [\\w=,@-]"
        ))
    })
}

/// The fields' constraints (`TokenKeyName` 1 to 128 of `[a-zA-Z0-9_-]`, `AuthorizerStatus`,
/// `KeyValue` up to 5120), and a signing authorizer's need for a token key name and public keys
/// (`config-custom-auth.md`: the token is signed with one of the keys).
pub fn check(authorizer: &Authorizer) -> Result<(), AuthorizerError> {
    let invalid = |m: String| Err(AuthorizerError::InvalidRequest(m));
    if authorizer.authorizer_function_arn.is_empty() || authorizer.authorizer_function_arn.len() > 2048 {
        return invalid("authorizerFunctionArn must be 1 to 2048 characters".into());
    }
    if let Some(key) = &authorizer.token_key_name {
        let ok = (1..=128).contains(&key.len())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return invalid(format!("tokenKeyName {key:?} must be 1 to 128 characters of [a-zA-Z0-9_-]"));
        }
    }
    if authorizer.status != "ACTIVE" && authorizer.status != "INACTIVE" {
        return invalid(format!("status must be ACTIVE or INACTIVE, not {:?}", authorizer.status));
    }
    if authorizer.token_signing_public_keys.values().any(|k| k.len() > 5120) {
        return invalid("a token signing public key must be at most 5120 characters".into());
    }
    if !authorizer.signing_disabled
        && (authorizer.token_key_name.is_none() || authorizer.token_signing_public_keys.is_empty())
    {
        return invalid(
            "tokenKeyName and tokenSigningPublicKeys are required unless signingDisabled is true".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer() -> Authorizer {
        Authorizer {
            authorizer_name: "a".into(),
            authorizer_arn: "arn".into(),
            authorizer_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            token_key_name: None,
            token_signing_public_keys: BTreeMap::new(),
            status: "ACTIVE".into(),
            creation_date: 0.0,
            last_modified_date: 0.0,
            signing_disabled: true,
            enable_caching_for_http: false,
        }
    }

    #[test]
    fn names_and_fields_follow_the_model() {
        assert!(check_name("my-authorizer_1").is_ok());
        assert!(
            check_name("").is_err() && check_name("a/b").is_err() && check_name(&"a".repeat(129)).is_err()
        );
        assert!(check(&authorizer()).is_ok());
        let signing = Authorizer { signing_disabled: false, ..authorizer() };
        assert!(check(&signing).is_err(), "signing needs a token key name and keys");
        let keys = BTreeMap::from([("k1".to_string(), "PEM".to_string())]);
        let signing =
            Authorizer { token_key_name: Some("token".into()), token_signing_public_keys: keys, ..signing };
        assert!(check(&signing).is_ok());
        assert!(check(&Authorizer { status: "ENABLED".into(), ..authorizer() }).is_err());
        assert!(check(&Authorizer { token_key_name: Some("a b".into()), ..authorizer() }).is_err());
    }
}
