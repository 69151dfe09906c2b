//! The logging options of the `iot` API (SetV2LoggingOptions, GetV2LoggingOptions,
//! SetV2LoggingLevel, ListV2LoggingLevels, DeleteV2LoggingLevel). They drive the running log
//! pipeline at once, and persist in the store: after a restart the last options set win over
//! `--log-level`, as AWS keeps an account's logging configuration; `POST /_iotemu/reset`
//! returns to the configured start value.

use crate::v2_logging::error::LoggingError;
use crate::v2_logging::state::{
    event_configurations, parse_level, target_key, LogEventConfiguration, LoggingOptions, TargetLevel, KIND,
    OPTIONS,
};
use crate::IOT_LOG_GROUP;
use iotemu_core::Scope;
use iotemu_logs::spec::Spec;
use iotemu_logs::{EventSink, LevelFilter, LogTarget, TargetType};
use iotemu_store::Store;
use std::sync::Arc;

/// What the logging operations share.
pub struct Logging {
    pub logs: EventSink,
    pub store: Arc<Store>,
    /// The configured start level, restored by reset.
    pub start_level: LevelFilter,
}

/// GetV2LoggingOptions' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2LoggingOptions {
    pub role_arn: Option<String>,
    /// The level in force.
    pub default_log_level: LevelFilter,
    pub disable_all_logs: bool,
    /// As set; with `verbose`, every entry type of `AWSIotLogsV2`, the unset ones at the default
    /// level in the default log group.
    pub event_configurations: Vec<LogEventConfiguration>,
}

impl Logging {
    /// Re-applies the options and target levels stored by an earlier run.
    pub fn restore(&self) -> Result<(), LoggingError> {
        for doc in self.store.all(KIND)? {
            if doc.key == OPTIONS {
                if let Ok(options) = serde_json::from_value::<LoggingOptions>(doc.value) {
                    self.apply_options(&options)?;
                }
            } else if let Ok(level) = serde_json::from_value::<TargetLevel>(doc.value) {
                self.logs.policy().set_target(level.log_target, Some(parse_level(&level.log_level)?));
            }
        }
        Ok(())
    }

    fn apply_options(&self, options: &LoggingOptions) -> Result<(), LoggingError> {
        // Everything is checked before anything changes.
        let events = event_configurations(&options.event_configurations)?;
        let level = options.default_log_level.as_deref().map(parse_level).transpose()?;
        if let Some(level) = level {
            self.logs.set_filter(level);
        }
        self.logs.policy().set_disable_all(options.disable_all_logs);
        self.logs.policy().set_event_configurations(events);
        Ok(())
    }

    /// Back to the configured start value, no targets (`POST /_iotemu/reset`; the store is
    /// cleared by the caller).
    pub fn reset(&self) {
        self.logs.set_filter(self.start_level);
        self.logs.policy().set_disable_all(false);
        self.logs.policy().set_event_configurations(Default::default());
        for (target, _) in self.logs.policy().targets() {
            self.logs.policy().set_target(target, None);
        }
    }

    /// SetV2LoggingOptions.
    pub fn set_v2_logging_options(&self, scope: &Scope, options: LoggingOptions) -> Result<(), LoggingError> {
        self.apply_options(&options)?;
        let value = serde_json::to_value(&options)?;
        self.store.put(KIND, scope, OPTIONS, &value)?;
        Ok(())
    }

    /// GetV2LoggingOptions: NotConfiguredException before the first SetV2LoggingOptions, as AWS
    /// answers (botocore).
    pub fn get_v2_logging_options(
        &self,
        scope: &Scope,
        verbose: bool,
    ) -> Result<V2LoggingOptions, LoggingError> {
        let stored = self.store.get(KIND, scope, OPTIONS)?.ok_or(LoggingError::NotConfigured)?;
        let options: LoggingOptions = serde_json::from_value(stored)?;
        let mut events = options.event_configurations;
        if verbose {
            let default = self.logs.filter().to_string();
            for entry in Spec::aws().entries.iter().filter(|e| e.log_group == IOT_LOG_GROUP) {
                if !events.iter().any(|c| c.event_type == entry.name) {
                    events.push(LogEventConfiguration {
                        event_type: entry.name.clone(),
                        log_level: Some(default.clone()),
                        log_destination: Some(IOT_LOG_GROUP.to_string()),
                    });
                }
            }
        }
        Ok(V2LoggingOptions {
            role_arn: options.role_arn,
            default_log_level: self.logs.filter(),
            disable_all_logs: options.disable_all_logs,
            event_configurations: events,
        })
    }

    /// SetV2LoggingLevel.
    pub fn set_v2_logging_level(&self, scope: &Scope, level: TargetLevel) -> Result<(), LoggingError> {
        let filter = parse_level(&level.log_level)?;
        if level.log_target.name.is_empty() {
            return Err(LoggingError::InvalidRequest("logTarget.targetName is required".into()));
        }
        let value = serde_json::to_value(&level)?;
        self.store.put(KIND, scope, &target_key(&level.log_target), &value)?;
        self.logs.policy().set_target(level.log_target, Some(filter));
        Ok(())
    }

    /// ListV2LoggingLevels: every target's level, or those of one target type.
    pub fn list_v2_logging_levels(&self, target_type: Option<TargetType>) -> Vec<(LogTarget, LevelFilter)> {
        self.logs
            .policy()
            .targets()
            .into_iter()
            .filter(|(t, _)| target_type.is_none_or(|ty| ty == t.target_type))
            .collect()
    }

    /// DeleteV2LoggingLevel.
    pub fn delete_v2_logging_level(&self, scope: &Scope, target: LogTarget) -> Result<(), LoggingError> {
        self.store.delete(KIND, scope, &target_key(&target))?;
        self.logs.policy().set_target(target, None);
        Ok(())
    }
}
