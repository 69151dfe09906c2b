//! The seed's requests to the API port's router, in-process (`tower::ServiceExt::oneshot`), signed
//! with a credential scope for the `iot` service of the configured region as the SDKs sign theirs.

use super::SeedError;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// The largest answer the seed reads (a certificate with its keys is a few KB).
const MAX_ANSWER: usize = 1 << 20;

/// Where the seed's requests go, and as whom.
pub(super) struct Api<'a> {
    router: &'a Router,
    authorization: String,
    account: String,
    region: String,
}

/// One request.
pub(super) struct Call {
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl Call {
    pub(super) fn new(method: Method, uri: &str) -> Call {
        Call { method, uri: uri.to_string(), headers: Vec::new(), body: None }
    }

    pub(super) fn body(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }

    pub(super) fn header(mut self, name: &'static str, value: &str) -> Call {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// An operation's error answer.
pub(super) struct Failure {
    pub status: u16,
    pub error_type: String,
    pub message: String,
}

impl<'a> Api<'a> {
    pub(super) fn new(router: &'a Router, account: &str, region: &str) -> Api<'a> {
        // Any access key that is not 12 digits is the default account (`iotemu_api::CredentialScope`).
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=iotemu-seed/20240101/{region}/iot/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        Api { router, authorization, account: account.to_string(), region: region.to_string() }
    }

    /// `arn:aws:iot:<region>:<account>:<resource>`.
    pub(super) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:iot:{}:{}:{resource}", self.region, self.account)
    }

    /// Sends `call`; the answer's JSON, or the operation's error.
    pub(super) async fn call(&self, call: Call) -> Result<Value, Failure> {
        let bytes = self.exchange(call).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `GET uri`'s answer as text.
    pub(super) async fn text(&self, uri: &str) -> Result<String, Failure> {
        let bytes = self.exchange(Call::new(Method::GET, uri)).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn exchange(&self, call: Call) -> Result<axum::body::Bytes, Failure> {
        let mut request = Request::builder()
            .method(call.method)
            .uri(&call.uri)
            .header("authorization", &self.authorization)
            .header("host", "iotemu-seed");
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        let body = match call.body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|e| Failure {
            status: 400,
            error_type: "InvalidRequestException".into(),
            message: format!("cannot build the request {}: {e}", call.uri),
        })?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_string());
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER).await.unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(&bytes).to_string();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Err(Failure { status, error_type: error_type.unwrap_or_default(), message })
    }

    /// Sends `call` for the entry `label`: `(answer, true)` when it succeeded, `(Null, false)`
    /// when what it creates is already there, else the error naming the entry.
    pub(super) async fn apply(
        &self,
        call: Call,
        operation: &str,
        label: &str,
    ) -> Result<(Value, bool), SeedError> {
        match self.call(call).await {
            Ok(answer) => Ok((answer, true)),
            Err(f) if f.error_type == "ResourceAlreadyExistsException" => Ok((Value::Null, false)),
            Err(f) => Err(failure(label, operation, f)),
        }
    }
}

/// `seed things[2] (sensor-3): InvalidRequestException: ...`.
pub(super) fn failure(label: &str, operation: &str, f: Failure) -> SeedError {
    if f.error_type.is_empty() && matches!(f.status, 404 | 405) {
        return SeedError(format!("seed {label}: this iotemu does not serve {operation}"));
    }
    let error_type = if f.error_type.is_empty() { format!("HTTP {}", f.status) } else { f.error_type };
    SeedError(format!("seed {label}: {error_type}: {}", f.message))
}

/// Percent-encodes a name for a URI path segment.
pub(super) fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
