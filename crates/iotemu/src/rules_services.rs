//! What the rules engine reads and writes outside itself, over the other services:
//! `get_thing_shadow` reads the shadow store, the cloudwatchLogs action writes into the log
//! store behind the CloudWatch Logs API.

use iotemu_core::{Clock, LogGroupWriter, Scope, ServiceFailure, ShadowReader};
use serde_json::Value;
use std::sync::Arc;

/// `get_thing_shadow` over the Device Shadow service: the document GetThingShadow returns.
pub struct ShadowStoreReader {
    pub shadows: Arc<iotemu_shadow::Shadows>,
    /// The document's `timestamp`.
    pub clock: Arc<dyn Clock>,
}

impl ShadowReader for ShadowStoreReader {
    fn shadow_document(
        &self,
        scope: &Scope,
        thing: &str,
        shadow: Option<&str>,
    ) -> Result<Option<Value>, ServiceFailure> {
        match self.shadows.get_thing_shadow(scope, thing, shadow) {
            Ok(doc) => Ok(Some(iotemu_shadow::get_document(&doc, None, self.clock.now_secs()))),
            Err(e) if iotemu_core::ServiceError::http_status(&e) == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The cloudwatchLogs action over the log store.
pub struct LogStoreWriter(pub Arc<iotemu_cwlogs::Logs>);

impl LogGroupWriter for LogStoreWriter {
    fn write(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), ServiceFailure> {
        // The stream may exist already; any other failure shows in the put below.
        let _ = self.0.create_log_stream(scope, group, stream);
        self.0.put_log_events(scope, group, stream, events).map(|_| ()).map_err(Into::into)
    }
}
