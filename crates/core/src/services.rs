//! The seams through which the rules engine uses other services without importing them:
//! [`ShadowReader`] for the SQL function `get_thing_shadow` (over the Device Shadow service) and
//! [`LogGroupWriter`] for the cloudwatchLogs action (over the CloudWatch Logs store). The
//! `iotemu` crate implements them over the services. A failure comes back typed
//! ([`ServiceFailure`]), with the service's own message, status and exception name.

use crate::{Scope, ServiceError};
use std::fmt;

/// A service's error, as it failed behind a seam.
#[derive(Debug)]
pub struct ServiceFailure(Box<dyn ServiceError>);

impl ServiceFailure {
    pub fn new(error: impl ServiceError) -> Self {
        ServiceFailure(Box::new(error))
    }

    /// The service's HTTP status for it.
    pub fn http_status(&self) -> u16 {
        self.0.http_status()
    }

    /// AWS's exception name for it.
    pub fn error_type(&self) -> &'static str {
        self.0.error_type()
    }
}

impl<E: ServiceError> From<E> for ServiceFailure {
    fn from(error: E) -> Self {
        ServiceFailure::new(error)
    }
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ServiceFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Reads shadow documents for `get_thing_shadow` (implemented over the shadow service).
pub trait ShadowReader: Send + Sync + 'static {
    /// The whole shadow document (state, metadata, version, timestamp), `None` when there is none.
    fn shadow_document(
        &self,
        scope: &Scope,
        thing: &str,
        shadow: Option<&str>,
    ) -> Result<Option<serde_json::Value>, ServiceFailure>;
}

/// Writes events into a log group of the emulator's CloudWatch Logs store.
pub trait LogGroupWriter: Send + Sync + 'static {
    /// Appends `(timestamp ms, message)` events to `stream` of `group` (creating the stream);
    /// fails when the group does not exist.
    fn write(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), ServiceFailure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Missing;

    impl fmt::Display for Missing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("The specified log group does not exist.")
        }
    }

    impl std::error::Error for Missing {}

    impl ServiceError for Missing {
        fn http_status(&self) -> u16 {
            400
        }
        fn error_type(&self) -> &'static str {
            "ResourceNotFoundException"
        }
    }

    #[test]
    fn a_failure_keeps_the_services_message_status_and_name() {
        let failure = ServiceFailure::from(Missing);
        assert_eq!(failure.to_string(), "The specified log group does not exist.");
        assert_eq!((failure.http_status(), failure.error_type()), (400, "ResourceNotFoundException"));
    }
}
