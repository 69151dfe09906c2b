//! The Device Shadow errors: AWS's `code` and `message` (device-shadow-error-messages.md), which
//! are both the MQTT `/rejected` payload and the REST status, with the REST exception names of
//! botocore's `iot-data` model.

use iotemu_core::ServiceError;

/// A rejected shadow request: `code` is the HTTP status and the `/rejected` payload's `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct ShadowError {
    pub code: u16,
    pub message: String,
}

impl ShadowError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        ShadowError { code, message: message.into() }
    }

    /// 400: the payload is not JSON (or not a JSON object).
    pub fn invalid_json() -> Self {
        Self::new(400, "Invalid JSON")
    }

    /// 400: an update without `state`.
    pub fn missing_state() -> Self {
        Self::new(400, "Missing required node: state")
    }

    /// 400: `state` is not an object.
    pub fn state_not_object() -> Self {
        Self::new(400, "State node must be an object")
    }

    /// 400: `state.desired` is neither an object nor null.
    pub fn desired_not_object() -> Self {
        Self::new(400, "Desired node must be an object")
    }

    /// 400: `state.reported` is neither an object nor null.
    pub fn reported_not_object() -> Self {
        Self::new(400, "Reported node must be an object")
    }

    /// 400: `version` is not a non-negative integer.
    pub fn invalid_version() -> Self {
        Self::new(400, "Invalid version")
    }

    /// 400: `clientToken` is not a string of at most 64 bytes.
    pub fn invalid_client_token() -> Self {
        Self::new(400, "Invalid clientToken")
    }

    /// 400: more than `max` levels of objects inside `desired` or `reported`.
    pub fn too_deep(max: usize) -> Self {
        Self::new(400, format!("JSON contains too many levels of nesting; maximum is {max}"))
    }

    /// 400: `state` holds a node other than `desired` and `reported`.
    pub fn invalid_state_node() -> Self {
        Self::new(400, "State contains an invalid node")
    }

    /// 400: a thing name that is not 1-128 bytes of `[a-zA-Z0-9:_-]` (message of ours: AWS's
    /// pages do not give one).
    pub fn invalid_thing_name() -> Self {
        Self::new(400, "Invalid thing name")
    }

    /// 400: a shadow name that is not 1-64 bytes of `[$a-zA-Z0-9:_-]` (message of ours).
    pub fn invalid_shadow_name() -> Self {
        Self::new(400, "Invalid shadow name")
    }

    /// 400: a ListNamedShadowsForThing `pageSize` outside 1-100 (message of ours).
    pub fn invalid_page_size() -> Self {
        Self::new(400, "pageSize must be between 1 and 100")
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    /// 403.
    pub fn forbidden() -> Self {
        Self::new(403, "Forbidden")
    }

    /// 404: no shadow (or a deleted one). `name` is the shadow's name, or the thing's name for
    /// the classic shadow, quoted as AWS quotes it (`No shadow exists with name: 'lamp'`).
    pub fn not_found(name: &str) -> Self {
        Self::new(404, format!("No shadow exists with name: '{name}'"))
    }

    /// 409: the request's `version` is not the shadow's.
    pub fn version_conflict() -> Self {
        Self::new(409, "Version conflict")
    }

    /// 413: `desired` and `reported` together exceed the size limit.
    pub fn payload_too_large() -> Self {
        Self::new(413, "The payload exceeds the maximum size allowed")
    }

    /// 415: the payload is not UTF-8.
    pub fn unsupported_encoding() -> Self {
        Self::new(415, "Unsupported documented encoding; supported encoding is UTF-8")
    }

    /// 429: more than 10 requests in flight on one connection (the wire layer counts them).
    pub fn too_many_requests() -> Self {
        Self::new(429, "Too Many Requests")
    }

    /// 500 (a store failure: AWS's message, the detail is not shown to the client).
    pub fn internal() -> Self {
        Self::new(500, "Internal service failure")
    }
}

impl ServiceError for ShadowError {
    fn http_status(&self) -> u16 {
        self.code
    }

    fn error_type(&self) -> &'static str {
        match self.code {
            400 => "InvalidRequestException",
            401 => "UnauthorizedException",
            403 => "ForbiddenException",
            404 => "ResourceNotFoundException",
            405 => "MethodNotAllowedException",
            409 => "ConflictException",
            413 => "RequestEntityTooLargeException",
            415 => "UnsupportedDocumentEncodingException",
            429 => "ThrottlingException",
            503 => "ServiceUnavailableException",
            _ => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for ShadowError {
    fn from(_: iotemu_store::StoreError) -> Self {
        ShadowError::internal()
    }
}
