//! The iotwireless resources as AWS shows them (botocore `iotwireless/2020-11-22`: member names
//! in PascalCase, so the same structs are the stored documents and the API's shapes), the device
//! sessions of the network server, and the log-level rules. Pure: no I/O.

use crate::crypto::Key;
use crate::frames::{hex, parse_eui};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;

/// A service profile (CreateServiceProfile): its LoRaWAN settings are kept as given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceProfile {
    pub arn: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "LoRaWAN", skip_serializing_if = "Option::is_none")]
    pub lorawan: Option<Value>,
}

impl ServiceProfile {
    /// `AddGwMetadata`: whether uplinks carry the gateways' metadata (true unless set false).
    pub fn add_gw_metadata(&self) -> bool {
        self.lorawan.as_ref().and_then(|l| l.get("AddGwMetadata")).and_then(Value::as_bool).unwrap_or(true)
    }
}

/// A device profile (CreateDeviceProfile): its LoRaWAN settings are kept as given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceProfile {
    pub arn: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "LoRaWAN", skip_serializing_if = "Option::is_none")]
    pub lorawan: Option<Value>,
}

/// `ExpressionType` of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpressionType {
    RuleName,
    MqttTopic,
}

/// A destination: where a device's uplinks go (a rule, or an MQTT topic) and the role that
/// lets AWS IoT Wireless send them there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Destination {
    pub arn: String,
    pub name: String,
    pub expression_type: ExpressionType,
    pub expression: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub role_arn: String,
}

/// `OtaaV1_0_x`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OtaaV10x {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_eui: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_eui: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gen_app_key: Option<String>,
}

/// `SessionKeysAbpV1_0_x`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionKeysV10x {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nwk_s_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_s_key: Option<String>,
}

/// `AbpV1_0_x`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AbpV10x {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_keys: Option<SessionKeysV10x>,
    #[serde(rename = "FCntStart", skip_serializing_if = "Option::is_none")]
    pub fcnt_start: Option<u32>,
}

/// `LoRaWANDevice`. The 1.1 activations are kept as given; the network server runs 1.0.x.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoRaWanDevice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_eui: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_profile_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_profile_id: Option<String>,
    #[serde(rename = "OtaaV1_1", skip_serializing_if = "Option::is_none")]
    pub otaa_v1_1: Option<Value>,
    #[serde(rename = "OtaaV1_0_x", skip_serializing_if = "Option::is_none")]
    pub otaa_v1_0_x: Option<OtaaV10x>,
    #[serde(rename = "AbpV1_1", skip_serializing_if = "Option::is_none")]
    pub abp_v1_1: Option<Value>,
    #[serde(rename = "AbpV1_0_x", skip_serializing_if = "Option::is_none")]
    pub abp_v1_0_x: Option<AbpV10x>,
    #[serde(rename = "FPorts", skip_serializing_if = "Option::is_none")]
    pub fports: Option<Value>,
}

/// A wireless device (CreateWirelessDevice).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WirelessDevice {
    pub arn: String,
    pub id: String,
    #[serde(rename = "Type")]
    pub device_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub destination_name: String,
    #[serde(rename = "LoRaWAN")]
    pub lorawan: LoRaWanDevice,
}

impl WirelessDevice {
    /// The DevEui in lower-case hex.
    pub fn dev_eui(&self) -> String {
        self.lorawan.dev_eui.as_deref().unwrap_or_default().to_ascii_lowercase()
    }
}

/// A wireless gateway (CreateWirelessGateway); `LoRaWAN.GatewayEui` is kept as 16 lower-case
/// hex digits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WirelessGateway {
    pub arn: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "LoRaWAN")]
    pub lorawan: Value,
}

impl WirelessGateway {
    pub fn eui(&self) -> String {
        self.lorawan.get("GatewayEui").and_then(Value::as_str).unwrap_or_default().to_string()
    }

    /// `RfRegion`, EU868 when unset.
    pub fn rf_region(&self) -> String {
        self.lorawan.get("RfRegion").and_then(Value::as_str).unwrap_or("EU868").to_string()
    }
}

/// A GatewayEui as botocore's pattern allows it (bytes optionally separated by `-`, `:` or a
/// space), as 16 lower-case hex digits.
pub fn normalize_eui(text: &str) -> Option<String> {
    parse_eui(text).map(|e| hex(&e))
}

/// A downlink waiting for the device's next receive window (SendDataToWirelessDevice).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedDownlink {
    pub message_id: String,
    pub fport: u8,
    /// The payload in clear.
    pub payload: Vec<u8>,
    /// TransmitMode 1: a confirmed downlink.
    pub confirmed: bool,
}

/// A device's LoRaWAN session: what a join (or ABP) established.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub dev_addr: u32,
    pub nwk_s_key: Key,
    pub app_s_key: Key,
    /// The last uplink counter accepted; `None` before the first uplink.
    pub fcnt_up: Option<u32>,
    /// The next downlink counter.
    pub fcnt_down: u32,
    pub downlinks: VecDeque<QueuedDownlink>,
    /// The DevNonces of the joins that made this device's sessions (the most recent ones).
    #[serde(default)]
    pub dev_nonces: Vec<u16>,
    /// When the last uplink arrived (RFC 3339), for ListWirelessDevices' LastUplinkReceivedAt.
    #[serde(default)]
    pub last_uplink_at: Option<String>,
}

/// DevNonces remembered per device to refuse a replayed join-request.
pub const DEV_NONCES_KEPT: usize = 256;

/// `LogLevel` of the wireless logging API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "INFO")]
    Info,
    #[serde(rename = "ERROR")]
    Error,
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl Level {
    /// Whether an entry at `entry` (INFO or ERROR) is written under this level.
    pub fn allows(self, entry: iotemu_logs::WirelessLogLevel) -> bool {
        match self {
            Level::Info => true,
            Level::Error => entry == iotemu_logs::WirelessLogLevel::Error,
            Level::Disabled => false,
        }
    }
}

/// One event's level inside a log option.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventLogOption {
    pub event: String,
    pub log_level: Level,
}

/// A log option of a resource type (`WirelessDeviceLogOption`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogOption {
    #[serde(rename = "Type")]
    pub resource_type: String,
    pub log_level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventLogOption>>,
}

/// The account's levels by resource type (Update/GetLogLevelsByResourceTypes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogLevels {
    pub default_log_level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wireless_device_log_options: Option<Vec<LogOption>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wireless_gateway_log_options: Option<Vec<LogOption>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuota_task_log_options: Option<Vec<LogOption>>,
}

impl Default for LogLevels {
    /// "By default, all resources have log level set to ERROR" (connect-iot-lorawan-configure-
    /// resource-logging.md).
    fn default() -> Self {
        LogLevels {
            default_log_level: Level::Error,
            wireless_device_log_options: None,
            wireless_gateway_log_options: None,
            fuota_task_log_options: None,
        }
    }
}

impl LogLevels {
    /// The level for an event of a device of `device_type` (LoRaWAN): the event's own level in
    /// the type's option, else the type's level, else the default.
    pub fn device_level(&self, device_type: &str, event: &str) -> Level {
        let option =
            self.wireless_device_log_options.iter().flatten().find(|o| o.resource_type == device_type);
        match option {
            Some(o) => {
                o.events.iter().flatten().find(|e| e.event == event).map_or(o.log_level, |e| e.log_level)
            }
            None => self.default_log_level,
        }
    }
}

/// The events a device's entries are configured by: the API's names for the entries' `event`.
pub fn configured_event(entry_event: &str) -> &'static str {
    match entry_event {
        "Join" => "Join",
        "Uplink" => "Uplink_Data",
        _ => "Downlink_Data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_logs::WirelessLogLevel;

    #[test]
    fn levels_resolve_event_then_type_then_default() {
        let levels: LogLevels = serde_json::from_value(serde_json::json!({
            "DefaultLogLevel": "DISABLED",
            "WirelessDeviceLogOptions": [{"Type": "LoRaWAN", "LogLevel": "INFO",
                "Events": [{"Event": "Join", "LogLevel": "ERROR"}]}]
        }))
        .unwrap();
        assert_eq!(levels.device_level("LoRaWAN", "Join"), Level::Error);
        assert_eq!(levels.device_level("LoRaWAN", "Uplink_Data"), Level::Info);
        assert_eq!(levels.device_level("Sidewalk", "Uplink_Data"), Level::Disabled);
        assert_eq!(LogLevels::default().device_level("LoRaWAN", "Join"), Level::Error);
        assert!(Level::Info.allows(WirelessLogLevel::Info) && Level::Error.allows(WirelessLogLevel::Error));
        assert!(
            !Level::Error.allows(WirelessLogLevel::Info) && !Level::Disabled.allows(WirelessLogLevel::Error)
        );
    }

    #[test]
    fn gateway_euis_are_normalized() {
        assert_eq!(normalize_eui("A8-40-41-FF-FF-1E-7D-E6").as_deref(), Some("a84041ffff1e7de6"));
        assert_eq!(normalize_eui("a84041ffff1e7de6").as_deref(), Some("a84041ffff1e7de6"));
        assert_eq!(normalize_eui("a84041"), None);
    }

    #[test]
    fn devices_keep_the_api_shape() {
        let given = serde_json::json!({"DevEui": "58A0CB000020255C", "DeviceProfileId": "p",
            "OtaaV1_0_x": {"AppKey": "00112233445566778899aabbccddeeff", "AppEui": "0000000000000001"}});
        let device: LoRaWanDevice = serde_json::from_value(given.clone()).unwrap();
        assert_eq!(serde_json::to_value(&device).unwrap(), given);
    }
}
