//! The `iot-data` errors of the data plane, with botocore's exception names and statuses
//! (`iot-data/2015-05-28`), and DescribeEndpoint's.

use iotemu_core::{PublishRefused, ServiceError};

/// A data-plane operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlaneError {
    /// InvalidRequestException (400).
    InvalidRequest(String),
    /// UnauthorizedException (401): a publish to a reserved topic clients may not publish to
    /// (the denial botocore's model lists for Publish).
    Unauthorized(String),
    /// ForbiddenException (403): an HTTPS device's IoT policies deny the publish (AWS's answer
    /// to a request its authentication does not allow, `{"message":"Forbidden",...}`).
    Forbidden(String),
    /// ResourceNotFoundException (404).
    NotFound(String),
    /// RequestEntityTooLargeException (413): a payload over the limit.
    TooLarge,
}

impl std::fmt::Display for DataPlaneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataPlaneError::InvalidRequest(m)
            | DataPlaneError::Unauthorized(m)
            | DataPlaneError::Forbidden(m)
            | DataPlaneError::NotFound(m) => f.write_str(m),
            DataPlaneError::TooLarge => f.write_str("The payload exceeds the maximum size allowed"),
        }
    }
}

impl std::error::Error for DataPlaneError {}

impl ServiceError for DataPlaneError {
    fn http_status(&self) -> u16 {
        match self {
            DataPlaneError::InvalidRequest(_) => 400,
            DataPlaneError::Unauthorized(_) => 401,
            DataPlaneError::Forbidden(_) => 403,
            DataPlaneError::NotFound(_) => 404,
            DataPlaneError::TooLarge => 413,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            DataPlaneError::InvalidRequest(_) => "InvalidRequestException",
            DataPlaneError::Unauthorized(_) => "UnauthorizedException",
            DataPlaneError::Forbidden(_) => "ForbiddenException",
            DataPlaneError::NotFound(_) => "ResourceNotFoundException",
            DataPlaneError::TooLarge => "RequestEntityTooLargeException",
        }
    }
}

/// How a broker refusal looks to an HTTP caller.
impl From<PublishRefused> for DataPlaneError {
    fn from(refused: PublishRefused) -> Self {
        match refused {
            PublishRefused::PayloadTooLarge { .. } => DataPlaneError::TooLarge,
            other => DataPlaneError::InvalidRequest(other.to_string()),
        }
    }
}
