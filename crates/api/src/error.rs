//! AWS's REST-JSON error shape, and a JSON extractor that produces it.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use iotemu_core::ServiceError;
use serde::de::DeserializeOwned;

/// An error response: the HTTP status, `x-amzn-ErrorType: <type>` and `{"message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error_type: &'static str,
    pub message: String,
    /// Members of the body besides `message` (`resourceId`, `resourceArn`, ...).
    pub fields: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error_type, message: message.into(), fields: Vec::new() }
    }

    /// An InvalidRequestException (400).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "InvalidRequestException", message)
    }

    /// A required request member, or the InvalidRequestException that says it is missing.
    pub fn required<T>(value: Option<T>, member: &str) -> Result<T, ApiError> {
        value.ok_or_else(|| ApiError::invalid_request(format!("{member} is required")))
    }
}

impl<E: ServiceError> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError { fields: e.extra_fields(), ..ApiError::new(e.http_status(), e.error_type(), e.to_string()) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::json!({ "message": self.message });
        for (name, value) in self.fields {
            body[name] = serde_json::Value::String(value);
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(self.error_type) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }
}

/// A JSON body; malformed JSON or a missing required field is an InvalidRequestException,
/// never a 500. An empty body reads as `{}`, as AWS accepts for operations without input.
pub struct AwsJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AwsJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::invalid_request(format!("cannot read the request body: {e}")))?;
        let text: &[u8] = if bytes.iter().all(|b| b.is_ascii_whitespace()) { b"{}" } else { &bytes };
        serde_json::from_slice(text).map(AwsJson).map_err(|e| ApiError::invalid_request(e.to_string()))
    }
}
