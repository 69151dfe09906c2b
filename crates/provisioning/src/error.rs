//! The errors of fleet provisioning: the control plane's exceptions (botocore `iot` model) and
//! the device plane's rejections (`fleet-provision-api.md`: `statusCode`, `errorCode`,
//! `errorMessage`).

use iotemu_core::ServiceError;
use serde_json::{json, Value};

/// An `iot` provisioning operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisioningError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A sixth version of a template.
    #[error("{0}")]
    VersionsLimitExceeded(String),
    /// A change to a template that a provisioning in progress is using.
    #[error("{0}")]
    ConflictingResourceUpdate(String),
    /// Deleting a template's default version, or a template a CA's registration config names.
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// RegisterThing: a resource of the template could not be provisioned.
    #[error("{0}")]
    ResourceRegistrationFailure(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for ProvisioningError {
    fn http_status(&self) -> u16 {
        match self {
            ProvisioningError::InvalidRequest(_) | ProvisioningError::ResourceRegistrationFailure(_) => 400,
            ProvisioningError::NotFound(_) => 404,
            ProvisioningError::AlreadyExists(_)
            | ProvisioningError::VersionsLimitExceeded(_)
            | ProvisioningError::ConflictingResourceUpdate(_)
            | ProvisioningError::DeleteConflict(_) => 409,
            ProvisioningError::LimitExceeded(_) => 410,
            ProvisioningError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ProvisioningError::InvalidRequest(_) => "InvalidRequestException",
            ProvisioningError::NotFound(_) => "ResourceNotFoundException",
            ProvisioningError::AlreadyExists(_) => "ResourceAlreadyExistsException",
            ProvisioningError::VersionsLimitExceeded(_) => "VersionsLimitExceededException",
            ProvisioningError::ConflictingResourceUpdate(_) => "ConflictingResourceUpdateException",
            ProvisioningError::DeleteConflict(_) => "DeleteConflictException",
            ProvisioningError::LimitExceeded(_) => "LimitExceededException",
            ProvisioningError::ResourceRegistrationFailure(_) => "ResourceRegistrationFailureException",
            ProvisioningError::Internal(_) => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for ProvisioningError {
    fn from(e: iotemu_store::StoreError) -> Self {
        ProvisioningError::Internal(e.to_string())
    }
}

/// A device request refused on `/rejected`; its `errorCode` is also the `reason` of the
/// request's Failure entry and its `errorMessage` the `details`.
///
/// Codes: InvalidCertificateOwnershipToken (400) is AWS's (aws-iot-device-sdk-js-v2 #69:
/// "Certificate ownership token cannot be empty."); AccessDenied (403) is the guide's
/// "ACCESS_DENIED" of a pre-provisioning hook that fails or refuses; ResourceConflictsException
/// is the guide's name for an override set to FAIL. The others are iotemu's choice, since AWS
/// documents no list: InvalidPayload (400, a request that cannot be read), InvalidParameters
/// (400, a template that cannot be evaluated with the parameters), InvalidRequest (400),
/// ResourceNotFound (404, no such template), ResourceRegistrationFailure (400, a resource that
/// could not be provisioned) and InternalError (500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status_code: u16,
    pub error_code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(status_code: u16, error_code: &'static str, message: impl Into<String>) -> Self {
        Rejection { status_code, error_code, message: message.into() }
    }

    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Rejection::new(400, "InvalidPayload", message)
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        Rejection::new(400, "InvalidCertificateOwnershipToken", message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Rejection::new(403, "AccessDenied", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Rejection::new(500, "InternalError", message)
    }

    /// The `/rejected` payload.
    pub fn payload(&self) -> Value {
        json!({ "statusCode": self.status_code, "errorCode": self.error_code, "errorMessage": self.message })
    }
}
