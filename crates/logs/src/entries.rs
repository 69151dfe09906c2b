//! One struct per documented log entry, and the [`LogRecord`] that adds the common attributes.
//!
//! Attribute names, order and JSON types follow `../shared/spec/cloudwatch-iot-log-entries.md`
//! ("Message broker log entries", "Common CloudWatch Logs attributes"); the golden tests at the
//! end of this file compare each struct's JSON with the documented example.

use crate::LogLevel;
use iotemu_core::{ClientInfo, TraceId};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::sync::Arc;

/// `status` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Success,
    Failure,
}

/// One CloudWatch entry: the common attributes, then the entry's own, then `reason` and
/// `details` on failures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    /// Milliseconds since the Unix epoch; written as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
    #[serde(serialize_with = "serialize_timestamp")]
    pub timestamp: u64,
    pub log_level: LogLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    pub account_id: Arc<str>,
    pub status: Status,
    #[serde(flatten)]
    pub entry: LogEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Cow<'static, str>>,
}

impl LogRecord {
    /// A Success entry at the level AWS writes it.
    pub fn success(timestamp: u64, account_id: Arc<str>, trace_id: TraceId, entry: LogEntry) -> Self {
        LogRecord {
            timestamp,
            log_level: entry.success_level(),
            trace_id: Some(trace_id),
            account_id,
            status: Status::Success,
            entry,
            reason: None,
            details: None,
        }
    }

    /// A Failure entry: logLevel ERROR with `reason` and `details`.
    pub fn failure(
        timestamp: u64,
        account_id: Arc<str>,
        trace_id: TraceId,
        entry: LogEntry,
        reason: impl Into<Cow<'static, str>>,
        details: impl Into<Cow<'static, str>>,
    ) -> Self {
        LogRecord {
            timestamp,
            log_level: LogLevel::Error,
            trace_id: Some(trace_id),
            account_id,
            status: Status::Failure,
            entry,
            reason: Some(reason.into()),
            details: Some(details.into()),
        }
    }

    /// The entry as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn serialize_timestamp<S: Serializer>(millis: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_timestamp(*millis))
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, as AWS IoT writes `timestamp`.
pub fn format_timestamp(millis: u64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    let t =
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Every entry type; `eventType` is the tag.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "eventType")]
pub enum LogEntry {
    Connect(Connect),
    Disconnect(Disconnect),
    #[serde(rename = "Publish-In")]
    PublishIn(PublishIn),
    #[serde(rename = "Publish-Out")]
    PublishOut(PublishOut),
    Subscribe(Subscribe),
}

impl LogEntry {
    /// The level AWS writes this entry at when it succeeds (`aws-behaviour.md` §5): INFO for
    /// every message-broker entry.
    pub fn success_level(&self) -> LogLevel {
        match self {
            LogEntry::Connect(_)
            | LogEntry::Disconnect(_)
            | LogEntry::PublishIn(_)
            | LogEntry::PublishOut(_)
            | LogEntry::Subscribe(_) => LogLevel::Info,
        }
    }

    /// The `eventType` string.
    pub fn event_type(&self) -> &'static str {
        match self {
            LogEntry::Connect(_) => "Connect",
            LogEntry::Disconnect(_) => "Disconnect",
            LogEntry::PublishIn(_) => "Publish-In",
            LogEntry::PublishOut(_) => "Publish-Out",
            LogEntry::Subscribe(_) => "Subscribe",
        }
    }
}

/// `Connect`: an MQTT client connected (or failed to).
#[derive(Debug, Clone, Serialize)]
pub struct Connect {
    #[serde(flatten)]
    pub client: Arc<ClientInfo>,
}

/// `Disconnect`: an MQTT client's connection ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disconnect {
    #[serde(flatten)]
    pub client: Arc<ClientInfo>,
    pub disconnect_reason: DisconnectReason,
}

/// `Publish-In`: the broker received a message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishIn {
    pub topic_name: Arc<str>,
    #[serde(flatten)]
    pub client: Arc<ClientInfo>,
}

/// `Publish-Out`: the broker delivered a message to one subscriber (whose identity `client` is).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishOut {
    pub topic_name: Arc<str>,
    #[serde(flatten)]
    pub client: Arc<ClientInfo>,
}

/// `Subscribe`: a client subscribed to a topic filter.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscribe {
    pub topic_name: Arc<str>,
    #[serde(flatten)]
    pub client: Arc<ClientInfo>,
}

/// `disconnectReason`, from AWS's list (`aws-behaviour.md` §3, life-cycle-events page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisconnectReason {
    AuthError,
    ClientInitiatedDisconnect,
    ClientError,
    ConnectionLost,
    #[serde(rename = "DUPLICATE_CLIENTID")]
    DuplicateClientId,
    ForbiddenAccess,
    MqttKeepAliveTimeout,
    ServerError,
    ServerInitiatedDisconnect,
    ApiInitiatedDisconnect,
    Throttled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::Protocol;
    use serde_json::Value;

    fn spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/spec/log-entries.json");
        let text = std::fs::read_to_string(path).expect("the shared spec beside the repository");
        serde_json::from_str(&text).expect("spec is JSON")
    }

    fn example(event: &str) -> Value {
        spec()[event]["example"].clone()
    }

    /// The identity every broker example uses.
    fn example_client() -> Arc<ClientInfo> {
        Arc::new(ClientInfo {
            protocol: Protocol::Mqtt,
            client_id: "abf27092886e49a8a5c1922749736453".into(),
            principal_id: "145179c40e2219e18a909d896a5340b74cf97a39641beec2fc3eeafc5a932167".into(),
            source_ip: "205.251.233.181".into(),
            source_port: 13490,
        })
    }

    /// Builds the typed record with the example's common values and compares the whole JSON.
    fn assert_matches_example(event: &str, entry: LogEntry) {
        let ex = example(event);
        let ts = ex["timestamp"].as_str().unwrap();
        let dt = time::PrimitiveDateTime::parse(
            ts,
            time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ),
        )
        .unwrap()
        .assume_utc();
        let millis = (dt.unix_timestamp_nanos() / 1_000_000) as u64;
        let trace: TraceId = ex["traceId"].as_str().unwrap().parse().unwrap();
        let record = LogRecord::success(millis, "123456789012".into(), trace, entry);
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got, ex, "{event} differs from the documented example");
    }

    #[test]
    fn connect_matches_documented_example() {
        assert_matches_example("Connect", LogEntry::Connect(Connect { client: example_client() }));
    }

    #[test]
    fn disconnect_matches_documented_example() {
        assert_matches_example(
            "Disconnect",
            LogEntry::Disconnect(Disconnect {
                client: example_client(),
                disconnect_reason: DisconnectReason::ClientInitiatedDisconnect,
            }),
        );
    }

    #[test]
    fn publish_in_and_out_match_documented_examples() {
        let topic: Arc<str> = "$aws/things/MyThing/shadow/get".into();
        assert_matches_example(
            "Publish-In",
            LogEntry::PublishIn(PublishIn { topic_name: topic.clone(), client: example_client() }),
        );
        assert_matches_example(
            "Publish-Out",
            LogEntry::PublishOut(PublishOut { topic_name: topic, client: example_client() }),
        );
    }

    #[test]
    fn subscribe_matches_documented_example() {
        assert_matches_example(
            "Subscribe",
            LogEntry::Subscribe(Subscribe {
                topic_name: "$aws/things/MyThing/shadow/#".into(),
                client: example_client(),
            }),
        );
    }

    #[test]
    fn failure_adds_reason_and_details_at_error() {
        let record = LogRecord::failure(
            0,
            "123456789012".into(),
            TraceId::new(),
            LogEntry::Disconnect(Disconnect {
                client: example_client(),
                disconnect_reason: DisconnectReason::DuplicateClientId,
            }),
            "DUPLICATE_CLIENT_ID",
            "A new connection was established with the same client ID",
        );
        let v: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(v["logLevel"], "ERROR");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "DUPLICATE_CLIENT_ID");
        assert_eq!(v["disconnectReason"], "DUPLICATE_CLIENTID");
        assert_eq!(v["timestamp"], "1970-01-01 00:00:00.000");
    }
}
