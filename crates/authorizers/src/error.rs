//! The errors of the authorizer operations, with botocore's exception names and statuses.

use iotemu_core::ServiceError;

/// An authorizer operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerError {
    /// InvalidRequestException (400).
    InvalidRequest(String),
    /// ResourceAlreadyExistsException (409).
    AlreadyExists(String),
    /// ResourceNotFoundException (404).
    NotFound(String),
    /// DeleteConflictException (409).
    DeleteConflict(String),
    /// InvalidResponseException (400): the authorizer function failed or answered badly.
    InvalidResponse(String),
    /// InternalFailureException (500): the store failed.
    Internal(String),
}

impl std::fmt::Display for AuthorizerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorizerError::InvalidRequest(m)
            | AuthorizerError::AlreadyExists(m)
            | AuthorizerError::NotFound(m)
            | AuthorizerError::DeleteConflict(m)
            | AuthorizerError::InvalidResponse(m)
            | AuthorizerError::Internal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AuthorizerError {}

impl ServiceError for AuthorizerError {
    fn http_status(&self) -> u16 {
        match self {
            AuthorizerError::InvalidRequest(_) | AuthorizerError::InvalidResponse(_) => 400,
            AuthorizerError::AlreadyExists(_) | AuthorizerError::DeleteConflict(_) => 409,
            AuthorizerError::NotFound(_) => 404,
            AuthorizerError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            AuthorizerError::InvalidRequest(_) => "InvalidRequestException",
            AuthorizerError::AlreadyExists(_) => "ResourceAlreadyExistsException",
            AuthorizerError::NotFound(_) => "ResourceNotFoundException",
            AuthorizerError::DeleteConflict(_) => "DeleteConflictException",
            AuthorizerError::InvalidResponse(_) => "InvalidResponseException",
            AuthorizerError::Internal(_) => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for AuthorizerError {
    fn from(e: iotemu_store::StoreError) -> Self {
        AuthorizerError::Internal(e.to_string())
    }
}
