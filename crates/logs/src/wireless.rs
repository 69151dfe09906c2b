//! The AWS IoT Core for LoRaWAN entries, which AWS writes to the log group `/aws/iotwireless` with
//! a schema of their own (AWS's "CloudWatch AWS IoT log entries" page, "AWS IoT Core for LoRaWAN
//! log entries", as `spec/lorawan.json` holds it): `timestamp` (RFC 3339 with nanoseconds),
//! `resource`, `resourceId`, `devEui` (Join), `event`, `logLevel`, `message`. No `eventType`,
//! `status`, `traceId` or `accountId`.
//!
//! One struct per documented entry ([`JoinEntry`], [`UplinkEntry`], [`DownlinkEntry`]), wrapped in
//! a [`WirelessRecord`] with the time and level. Levels are INFO or ERROR; which entries are
//! written is decided by the wireless service's own log levels
//! (UpdateLogLevelsByResourceTypes, PutResourceLogLevel), never by the `iot` logging options.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// `logLevel` of a LoRaWAN entry (the wireless service's levels are INFO, ERROR and DISABLED;
/// DISABLED writes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WirelessLogLevel {
    #[serde(rename = "INFO")]
    Info,
    #[serde(rename = "ERROR")]
    Error,
}

/// `resource` of a LoRaWAN entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WirelessResource {
    WirelessDevice,
    WirelessGateway,
}

/// `Join`: a join request was accepted (INFO) or failed, such as on a MIC that does not verify
/// with the device's AppKey (ERROR, "invalid MIC. It's most likely caused by wrong root keys.").
#[derive(Debug, Clone)]
pub struct JoinEntry {
    /// The WirelessDeviceId.
    pub resource_id: String,
    /// Lower-case hex, as in the example (`58a0cb000020255c`).
    pub dev_eui: String,
    pub message: String,
}

/// `Uplink`: an uplink reached its destination (INFO) or could not, such as when the
/// destination's role cannot be assumed (ERROR, "Cannot assume role ...").
#[derive(Debug, Clone)]
pub struct UplinkEntry {
    /// The WirelessDeviceId.
    pub resource_id: String,
    pub message: String,
}

/// `Downlink`: a downlink was sent (INFO) or could not be, such as when the device has no
/// session (ERROR, "... device session not found. deviceId=..."). The documented example names
/// the resource `WirelessGateway` with the device's id.
#[derive(Debug, Clone)]
pub struct DownlinkEntry {
    pub resource: WirelessResource,
    pub resource_id: String,
    pub message: String,
}

/// Every LoRaWAN entry type.
#[derive(Debug, Clone)]
pub enum WirelessEntry {
    Join(JoinEntry),
    Uplink(UplinkEntry),
    Downlink(DownlinkEntry),
}

impl WirelessEntry {
    /// The `event` string.
    pub fn event(&self) -> &'static str {
        match self {
            WirelessEntry::Join(_) => "Join",
            WirelessEntry::Uplink(_) => "Uplink",
            WirelessEntry::Downlink(_) => "Downlink",
        }
    }
}

/// One `/aws/iotwireless` entry: the time, the level and the entry.
#[derive(Debug, Clone)]
pub struct WirelessRecord {
    /// Nanoseconds since the Unix epoch; written as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    pub timestamp_nanos: u128,
    pub log_level: WirelessLogLevel,
    pub entry: WirelessEntry,
}

impl WirelessRecord {
    /// The entry as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// In the documented order: timestamp, resource, resourceId, devEui (Join), event, logLevel,
/// message.
impl Serialize for WirelessRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("timestamp", &rfc3339_nanos(self.timestamp_nanos))?;
        let (resource, resource_id, dev_eui, message) = match &self.entry {
            WirelessEntry::Join(e) => {
                (WirelessResource::WirelessDevice, &e.resource_id, Some(&e.dev_eui), &e.message)
            }
            WirelessEntry::Uplink(e) => (WirelessResource::WirelessDevice, &e.resource_id, None, &e.message),
            WirelessEntry::Downlink(e) => (e.resource, &e.resource_id, None, &e.message),
        };
        map.serialize_entry("resource", &resource)?;
        map.serialize_entry("resourceId", resource_id)?;
        if let Some(dev_eui) = dev_eui {
            map.serialize_entry("devEui", dev_eui)?;
        }
        map.serialize_entry("event", self.entry.event())?;
        map.serialize_entry("logLevel", &self.log_level)?;
        map.serialize_entry("message", message)?;
        map.end()
    }
}

/// `2020-11-24T01:46:50.883481989Z`: RFC 3339 in UTC with nine fractional digits, as the
/// documented Join example writes it.
pub fn rfc3339_nanos(nanos: u128) -> String {
    let seconds = (nanos / 1_000_000_000) as i64;
    let fraction = (nanos % 1_000_000_000) as u32;
    let t = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fraction:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// AWS's example of the LoRaWAN `event`, from `spec/lorawan.json`.
    fn example(event: &str) -> Value {
        crate::spec::Spec::aws().example(event)
    }

    /// The example's timestamp (Join's; the others document none) in nanoseconds.
    const JOIN_NANOS: u128 = 1_606_182_410_883_481_989;

    #[test]
    fn join_matches_the_documented_example_exactly() {
        let record = WirelessRecord {
            timestamp_nanos: JOIN_NANOS,
            log_level: WirelessLogLevel::Error,
            entry: WirelessEntry::Join(JoinEntry {
                resource_id: "cb4c087c-1be5-4990-8654-ccf543ee9fff".into(),
                dev_eui: "58a0cb000020255c".into(),
                message: "invalid MIC. It's most likely caused by wrong root keys.".into(),
            }),
        };
        let json = record.to_json();
        let got: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(got, example("Join"));
        let order = ["timestamp", "resource", "resourceId", "devEui", "event", "logLevel", "message"];
        let positions: Vec<usize> = order.iter().map(|k| json.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of documented order: {json}");
    }

    #[test]
    fn uplink_and_downlink_match_their_examples_plus_a_timestamp() {
        for (event, entry) in [
            (
                "Uplink",
                WirelessEntry::Uplink(UplinkEntry {
                    resource_id: "cb4c087c-1be5-4990-8654-ccf543ee9fff".into(),
                    message: example("Uplink")["message"].as_str().unwrap().into(),
                }),
            ),
            (
                "Downlink",
                WirelessEntry::Downlink(DownlinkEntry {
                    resource: WirelessResource::WirelessGateway,
                    resource_id: "af5bada3-9ded-3416-9e2f-0d5fe052aeb8".into(),
                    message: example("Downlink")["message"].as_str().unwrap().into(),
                }),
            ),
        ] {
            let record =
                WirelessRecord { timestamp_nanos: JOIN_NANOS, log_level: WirelessLogLevel::Error, entry };
            let mut got: Value = serde_json::from_str(&record.to_json()).unwrap();
            assert_eq!(got["timestamp"], "2020-11-24T01:46:50.883481989Z");
            got.as_object_mut().unwrap().remove("timestamp");
            assert_eq!(got, example(event), "{event}");
        }
    }

    #[test]
    fn timestamps_keep_nine_digits() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(1_502_379_443_000_000_007), "2017-08-10T15:37:23.000000007Z");
    }
}
