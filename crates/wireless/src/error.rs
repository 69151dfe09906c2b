//! The iotwireless errors, with botocore's exception names and statuses
//! (`iotwireless/2020-11-22/service-2.json`: ValidationException 400, AccessDeniedException 403,
//! ResourceNotFoundException 404, ConflictException 409, InternalServerException 500).

use iotemu_core::ServiceError;

/// An iotwireless operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WirelessError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for WirelessError {
    fn http_status(&self) -> u16 {
        match self {
            WirelessError::Validation(_) => 400,
            WirelessError::NotFound(_) => 404,
            WirelessError::Conflict(_) => 409,
            WirelessError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            WirelessError::Validation(_) => "ValidationException",
            WirelessError::NotFound(_) => "ResourceNotFoundException",
            WirelessError::Conflict(_) => "ConflictException",
            WirelessError::Internal(_) => "InternalServerException",
        }
    }
}

impl From<iotemu_store::StoreError> for WirelessError {
    fn from(e: iotemu_store::StoreError) -> Self {
        WirelessError::Internal(e.to_string())
    }
}
