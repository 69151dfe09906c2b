//! The index's errors, with AWS's exception names and statuses (botocore `iot` model).

use iotemu_core::ServiceError;
use iotemu_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// InvalidQueryException (400).
    #[error("{0}")]
    InvalidQuery(String),
    /// InvalidAggregationException (400).
    #[error("{0}")]
    InvalidAggregation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for IndexError {
    fn http_status(&self) -> u16 {
        match self {
            IndexError::InvalidQuery(_)
            | IndexError::InvalidAggregation(_)
            | IndexError::InvalidRequest(_) => 400,
            IndexError::NotFound(_) => 404,
            IndexError::Registry(e) => e.http_status(),
            IndexError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            IndexError::InvalidQuery(_) => "InvalidQueryException",
            IndexError::InvalidAggregation(_) => "InvalidAggregationException",
            IndexError::NotFound(_) => "ResourceNotFoundException",
            IndexError::InvalidRequest(_) => "InvalidRequestException",
            IndexError::Registry(e) => e.error_type(),
            IndexError::Internal(_) => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for IndexError {
    fn from(e: iotemu_store::StoreError) -> Self {
        IndexError::Internal(e.to_string())
    }
}
