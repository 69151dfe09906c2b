//! The control-plane errors of the Jobs service (`iot` API), with botocore's exception names
//! and statuses. Device-plane refusals are [`crate::executions::state::DeviceError`]s.

use iotemu_core::ServiceError;

/// An `iot` Jobs operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// CreateJobTemplate of an existing id (botocore lists ConflictException there).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    VersionConflict(String),
    #[error("{0}")]
    InvalidStateTransition(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for JobsError {
    fn http_status(&self) -> u16 {
        match self {
            JobsError::InvalidRequest(_) => 400,
            JobsError::NotFound(_) => 404,
            JobsError::AlreadyExists(_)
            | JobsError::Conflict(_)
            | JobsError::VersionConflict(_)
            | JobsError::InvalidStateTransition(_) => 409,
            JobsError::LimitExceeded(_) => 410,
            JobsError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            JobsError::InvalidRequest(_) => "InvalidRequestException",
            JobsError::NotFound(_) => "ResourceNotFoundException",
            JobsError::AlreadyExists(_) => "ResourceAlreadyExistsException",
            JobsError::Conflict(_) => "ConflictException",
            JobsError::VersionConflict(_) => "VersionConflictException",
            JobsError::InvalidStateTransition(_) => "InvalidStateTransitionException",
            JobsError::LimitExceeded(_) => "LimitExceededException",
            JobsError::Internal(_) => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for JobsError {
    fn from(e: iotemu_store::StoreError) -> Self {
        JobsError::Internal(e.to_string())
    }
}
