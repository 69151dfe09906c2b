//! The logging options as stored (botocore `SetV2LoggingOptionsRequest`, `LogTargetConfiguration`)
//! and the level names AWS takes (pure), with `eventConfigurations` (`LogEventConfiguration`).

use crate::v2_logging::error::LoggingError;
use crate::IOT_LOG_GROUP;
use iotemu_logs::spec::Spec;
use iotemu_logs::{EventConfiguration, LevelFilter, LogTarget};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Per entry type: a level overriding `defaultLogLevel` and a log group (botocore
    /// `LogEventConfiguration`). Each SetV2LoggingOptions replaces the list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_configurations: Vec<LogEventConfiguration>,
}

/// botocore `LogEventConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEventConfiguration {
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_destination: Option<String>,
}

/// The pipeline's form of `eventConfigurations`, checked: each `eventType` names an entry of
/// `AWSIotLogsV2` in the spec, once; `logLevel` is one of AWS's; `logDestination` has botocore's
/// `LogDestination` form (1 to 512 of `.-_/#` and letters and digits).
pub fn event_configurations(
    list: &[LogEventConfiguration],
) -> Result<BTreeMap<String, EventConfiguration>, LoggingError> {
    let mut out = BTreeMap::new();
    for c in list {
        let known = Spec::aws().entry(&c.event_type).is_some_and(|e| e.log_group == IOT_LOG_GROUP);
        if !known {
            return Err(LoggingError::InvalidRequest(format!(
                "eventConfigurations: unknown eventType {:?}",
                c.event_type
            )));
        }
        let level = c.log_level.as_deref().map(parse_level).transpose()?;
        if let Some(destination) = &c.log_destination {
            let valid = (1..=512).contains(&destination.len())
                && destination.chars().all(|ch| ch.is_ascii_alphanumeric() || ".-_/#".contains(ch));
            if !valid {
                return Err(LoggingError::InvalidRequest(format!(
                    "1 validation error detected: Value '{destination}' at 'eventConfigurations.member.logDestination' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[.\\-_/#A-Za-z0-9]+$"
                )));
            }
        }
        let configuration = EventConfiguration { level, destination: c.log_destination.clone() };
        if out.insert(c.event_type.clone(), configuration).is_some() {
            return Err(LoggingError::InvalidRequest(format!(
                "eventConfigurations: eventType {:?} is given twice",
                c.event_type
            )));
        }
    }
    Ok(out)
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
