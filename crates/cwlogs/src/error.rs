//! The `logs` API's errors, with CloudWatch Logs' exception names (botocore `logs` model). All
//! are client errors (400) but ServiceUnavailableException (a store failure, 503).

use iotemu_core::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// A body that is not JSON (JSON 1.1's SerializationException).
    #[error("{0}")]
    Serialization(String),
    /// An `X-Amz-Target` naming no operation iotemu serves.
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A Logs Insights query that does not compile (with `queryCompileError`).
    #[error("{}", .0.message)]
    MalformedQuery(crate::insights::QueryError),
    /// Too many Logs Insights queries running at once.
    #[error("{0}")]
    LimitExceeded(String),
}

impl ServiceError for LogsError {
    fn http_status(&self) -> u16 {
        match self {
            LogsError::ServiceUnavailable(_) => 503,
            _ => 400,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::Serialization(_) => "SerializationException",
            LogsError::UnknownOperation(_) => "UnknownOperationException",
            LogsError::ServiceUnavailable(_) => "ServiceUnavailableException",
            LogsError::MalformedQuery(_) => "MalformedQueryException",
            LogsError::LimitExceeded(_) => "LimitExceededException",
        }
    }
}
