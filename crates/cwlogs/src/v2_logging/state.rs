//! The logging options as stored (botocore `SetV2LoggingOptionsRequest`, `LogTargetConfiguration`)
//! and the level names AWS takes (pure).

use crate::v2_logging::error::LoggingError;
use iotemu_logs::{LevelFilter, LogTarget};
use serde::{Deserialize, Serialize};

/// The store kind of the options and target levels.
pub(crate) const KIND: &str = "logging";
/// The store key of the options (the target levels are keyed by [`target_key`]).
pub(crate) const OPTIONS: &str = "options";

/// SetV2LoggingOptions' body, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingOptions {
    pub role_arn: Option<String>,
    pub default_log_level: Option<String>,
    #[serde(default)]
    pub disable_all_logs: bool,
}

/// SetV2LoggingLevel's body, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetLevel {
    pub log_target: LogTarget,
    pub log_level: String,
}

/// botocore `LogLevel`: DEBUG, INFO, ERROR, WARN, DISABLED.
pub fn parse_level(level: &str) -> Result<LevelFilter, LoggingError> {
    match level {
        "DEBUG" | "INFO" | "WARN" | "ERROR" | "DISABLED" => {
            level.parse().map_err(LoggingError::InvalidRequest)
        }
        other => Err(LoggingError::InvalidRequest(format!(
            "invalid logLevel {other:?}: expected DEBUG, INFO, WARN, ERROR or DISABLED"
        ))),
    }
}

/// The store key of a target's level.
pub(crate) fn target_key(target: &LogTarget) -> String {
    format!("level:{:?}:{}", target.target_type, target.name)
}
