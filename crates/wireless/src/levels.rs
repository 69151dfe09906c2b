//! The AWS IoT Wireless logging API (connect-iot-lorawan-configure-resource-logging.md):
//! levels by resource type and event (Update/GetLogLevelsByResourceTypes) and per resource
//! (Get/Put/ResetResourceLogLevel, ResetAllResourceLogLevels), and the level that decides each
//! `/aws/iotwireless` entry of a device.

use crate::service::{doc, not_found, Resources, Wireless, LOG_LEVELS, RESOURCE_LEVEL};
use crate::state::{Level, LogLevels, WirelessDevice};
use crate::WirelessError;
use iotemu_core::Scope;

impl Wireless {
    /// GetLogLevelsByResourceTypes.
    pub fn get_log_levels_by_resource_types(&self, scope: &Scope) -> LogLevels {
        self.state.lock().log_levels.get(scope).cloned().unwrap_or_default()
    }

    /// UpdateLogLevelsByResourceTypes: the given members replace the account's; an empty list
    /// removes that type's options (GetLogLevelsByResourceTypes then shows none).
    pub fn update_log_levels_by_resource_types(
        &self,
        scope: &Scope,
        update: LogLevelsUpdate,
    ) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let mut levels = r.log_levels.get(scope).cloned().unwrap_or_default();
        if let Some(level) = update.default_log_level {
            levels.default_log_level = level;
        }
        let set = |given: Option<Vec<crate::state::LogOption>>,
                   current: &mut Option<Vec<crate::state::LogOption>>| {
            if let Some(options) = given {
                *current = (!options.is_empty()).then_some(options);
            }
        };
        set(update.wireless_device_log_options, &mut levels.wireless_device_log_options);
        set(update.wireless_gateway_log_options, &mut levels.wireless_gateway_log_options);
        set(update.fuota_task_log_options, &mut levels.fuota_task_log_options);
        self.store.put(LOG_LEVELS, scope, "levels", &doc(&levels))?;
        r.log_levels.insert(scope.clone(), levels);
        Ok(())
    }

    fn check_resource(
        r: &Resources,
        scope: &Scope,
        resource_type: &str,
        id: &str,
    ) -> Result<String, WirelessError> {
        let key = (scope.clone(), id.to_string());
        let exists = match resource_type {
            "WirelessDevice" => r.devices.contains_key(&key),
            "WirelessGateway" => r.gateways.contains_key(&key),
            "FuotaTask" => false,
            other => {
                return Err(WirelessError::Validation(format!(
                    "resourceType {other:?} must be WirelessDevice, WirelessGateway or FuotaTask"
                )))
            }
        };
        if !exists {
            return Err(not_found(resource_type, id));
        }
        Ok(format!("{resource_type}/{id}"))
    }

    /// GetResourceLogLevel: the resource's override, if it has one.
    pub fn get_resource_log_level(
        &self,
        scope: &Scope,
        id: &str,
        resource_type: &str,
    ) -> Result<Option<Level>, WirelessError> {
        let r = self.state.lock();
        let key = Self::check_resource(&r, scope, resource_type, id)?;
        Ok(r.resource_levels.get(&(scope.clone(), key)).copied())
    }

    /// PutResourceLogLevel: the resource's own level, over its type's and the default.
    pub fn put_resource_log_level(
        &self,
        scope: &Scope,
        id: &str,
        resource_type: &str,
        level: Level,
    ) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = Self::check_resource(&r, scope, resource_type, id)?;
        self.store.put(RESOURCE_LEVEL, scope, &key, &doc(&level))?;
        r.resource_levels.insert((scope.clone(), key), level);
        Ok(())
    }

    /// ResetResourceLogLevel.
    pub fn reset_resource_log_level(
        &self,
        scope: &Scope,
        id: &str,
        resource_type: &str,
    ) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = Self::check_resource(&r, scope, resource_type, id)?;
        self.store.delete(RESOURCE_LEVEL, scope, &key)?;
        r.resource_levels.remove(&(scope.clone(), key));
        Ok(())
    }

    /// ResetAllResourceLogLevels.
    pub fn reset_all_resource_log_levels(&self, scope: &Scope) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let keys: Vec<(Scope, String)> =
            r.resource_levels.keys().filter(|(s, _)| s == scope).cloned().collect();
        for key in keys {
            self.store.delete(RESOURCE_LEVEL, scope, &key.1)?;
            r.resource_levels.remove(&key);
        }
        Ok(())
    }

    /// The level that decides a device's entry of `event` (Join, Uplink, Downlink): the
    /// device's override, else its type's and event's, else the default.
    pub(crate) fn device_level(
        &self,
        r: &Resources,
        scope: &Scope,
        device: &WirelessDevice,
        levels: &LogLevels,
        event: &str,
    ) -> Level {
        r.resource_levels
            .get(&(scope.clone(), format!("WirelessDevice/{}", device.id)))
            .copied()
            .unwrap_or_else(|| {
                levels.device_level(&device.device_type, crate::state::configured_event(event))
            })
    }
}

/// The members UpdateLogLevelsByResourceTypes may set.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogLevelsUpdate {
    pub default_log_level: Option<Level>,
    pub wireless_device_log_options: Option<Vec<crate::state::LogOption>>,
    pub wireless_gateway_log_options: Option<Vec<crate::state::LogOption>>,
    pub fuota_task_log_options: Option<Vec<crate::state::LogOption>>,
}
