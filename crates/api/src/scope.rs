//! The SigV4 credential scope: `Credential=<access key>/<date>/<region>/<service>/aws4_request`,
//! from the `Authorization` header or a presigned URL's `X-Amz-Credential`.

use crate::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use iotemu_core::Scope;

/// Who is calling, in which account and region, for which service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    /// The access key when it is a 12-digit account id (as LocalStack allows), else the default.
    pub account: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Parses the scope; `None` when the request carries no SigV4 credential.
    pub fn from_headers(
        headers: &HeaderMap,
        query: Option<&str>,
        default_account: &str,
        _default_region: &str,
    ) -> Option<Self> {
        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
        let credential = match header {
            Some(h) => h.split("Credential=").nth(1)?.split([',', ' ']).next()?.to_string(),
            None => query?
                .split('&')
                .find_map(|kv| kv.strip_prefix("X-Amz-Credential="))
                .map(|v| v.replace("%2F", "/").replace("%2f", "/"))?,
        };
        let mut parts = credential.split('/');
        let (access_key, _date, region, service) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if access_key.is_empty() || region.is_empty() || service.is_empty() {
            return None;
        }
        let account = if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
            access_key.to_string()
        } else {
            default_account.to_string()
        };
        Some(CredentialScope {
            access_key: access_key.into(),
            account,
            region: region.into(),
            service: service.into(),
        })
    }
}

/// The caller's scope, for handlers (set by [`crate::dispatch`]).
#[derive(Debug, Clone)]
pub struct ApiContext(pub CredentialScope);

impl ApiContext {
    /// The account and region the caller's request is for: where its resources live.
    pub fn scope(&self) -> Scope {
        Scope::new(self.0.account.clone(), self.0.region.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CredentialScope>()
            .cloned()
            .map(ApiContext)
            .ok_or_else(|| ApiError::new(400, "InvalidRequestException", "missing SigV4 credential scope"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authorization_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/eu-west-1/iot/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .unwrap(),
        );
        let scope = CredentialScope::from_headers(&headers, None, "123456789012", "us-east-1").unwrap();
        assert_eq!(scope.service, "iot");
        assert_eq!(scope.region, "eu-west-1");
        assert_eq!(scope.account, "123456789012");

        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=000000000042/20261124/us-east-1/iotdata/aws4_request"
                .parse()
                .unwrap(),
        );
        let scope = CredentialScope::from_headers(&headers, None, "123456789012", "us-east-1").unwrap();
        assert_eq!((scope.account.as_str(), scope.service.as_str()), ("000000000042", "iotdata"));
    }

    #[test]
    fn parses_a_presigned_query_and_refuses_nothing() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261124%2Fus-east-1%2Fiotdevicegateway%2Faws4_request";
        let scope =
            CredentialScope::from_headers(&HeaderMap::new(), Some(q), "123456789012", "us-east-1").unwrap();
        assert_eq!(scope.service, "iotdevicegateway");
        assert!(CredentialScope::from_headers(&HeaderMap::new(), None, "123456789012", "us-east-1").is_none());
    }
}
