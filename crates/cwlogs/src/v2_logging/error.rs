//! The logging options' errors, with the `iot` API's exception names and statuses (botocore).

use iotemu_core::ServiceError;

/// A logging-options operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoggingError {
    #[error("{0}")]
    InvalidRequest(String),
    /// GetV2LoggingOptions before the first SetV2LoggingOptions.
    #[error("Logging options are not configured")]
    NotConfigured,
    #[error("{0}")]
    Internal(String),
}

impl ServiceError for LoggingError {
    fn http_status(&self) -> u16 {
        match self {
            LoggingError::InvalidRequest(_) => 400,
            LoggingError::NotConfigured => 404,
            LoggingError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            LoggingError::InvalidRequest(_) => "InvalidRequestException",
            LoggingError::NotConfigured => "NotConfiguredException",
            LoggingError::Internal(_) => "InternalFailureException",
        }
    }
}

impl From<iotemu_store::StoreError> for LoggingError {
    fn from(e: iotemu_store::StoreError) -> Self {
        LoggingError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for LoggingError {
    fn from(e: serde_json::Error) -> Self {
        LoggingError::Internal(e.to_string())
    }
}
