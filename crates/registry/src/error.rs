//! The registry's errors, with AWS's exception names and statuses (botocore `iot` model).

use iotemu_core::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// ResourceAlreadyExistsException naming the resource (`resourceId`, `resourceArn`).
    #[error("{message}")]
    AlreadyExistsResource { message: String, id: String, arn: String },
    #[error("{0}")]
    VersionConflict(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    CertificateState(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    VersionsLimitExceeded(String),
    #[error("{0}")]
    CertificateValidation(String),
    #[error("{0}")]
    CertificateConflict(String),
    #[error("{0}")]
    RegistrationCodeValidation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for RegistryError {
    fn http_status(&self) -> u16 {
        match self {
            RegistryError::NotFound(_) => 404,
            RegistryError::AlreadyExists(_)
            | RegistryError::AlreadyExistsResource { .. }
            | RegistryError::VersionConflict(_) => 409,
            RegistryError::InvalidRequest(_) => 400,
            RegistryError::DeleteConflict(_) => 409,
            RegistryError::CertificateState(_) => 406,
            RegistryError::MalformedPolicy(_) => 400,
            RegistryError::VersionsLimitExceeded(_) => 409,
            RegistryError::CertificateValidation(_) | RegistryError::RegistrationCodeValidation(_) => 400,
            RegistryError::CertificateConflict(_) => 409,
            RegistryError::LimitExceeded(_) => 410,
            RegistryError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            RegistryError::NotFound(_) => "ResourceNotFoundException",
            RegistryError::AlreadyExists(_) | RegistryError::AlreadyExistsResource { .. } => {
                "ResourceAlreadyExistsException"
            }
            RegistryError::VersionConflict(_) => "VersionConflictException",
            RegistryError::InvalidRequest(_) => "InvalidRequestException",
            RegistryError::DeleteConflict(_) => "DeleteConflictException",
            RegistryError::CertificateState(_) => "CertificateStateException",
            RegistryError::MalformedPolicy(_) => "MalformedPolicyException",
            RegistryError::VersionsLimitExceeded(_) => "VersionsLimitExceededException",
            RegistryError::CertificateValidation(_) => "CertificateValidationException",
            RegistryError::CertificateConflict(_) => "CertificateConflictException",
            RegistryError::RegistrationCodeValidation(_) => "RegistrationCodeValidationException",
            RegistryError::LimitExceeded(_) => "LimitExceededException",
            RegistryError::Internal(_) => "InternalFailureException",
        }
    }

    fn extra_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            RegistryError::AlreadyExistsResource { id, arn, .. } => {
                vec![("resourceId", id.clone()), ("resourceArn", arn.clone())]
            }
            _ => Vec::new(),
        }
    }
}

impl From<iotemu_store::StoreError> for RegistryError {
    fn from(e: iotemu_store::StoreError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}
