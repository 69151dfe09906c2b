//! One struct per documented log entry, and the [`LogRecord`] that adds the common attributes.
//!
//! Attribute names, order and JSON types follow AWS's "CloudWatch AWS IoT log entries" page, as
//! the repository's `spec/` holds it; the golden tests at the end of this file compare each
//! struct's JSON with the documented example there.

use crate::LogLevel;
use iotemu_core::{ClientInfo, Protocol, TraceId};
use serde::ser::SerializeMap;
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
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Milliseconds since the Unix epoch; written as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
    pub timestamp: u64,
    pub log_level: LogLevel,
    pub trace_id: Option<TraceId>,
    pub account_id: Arc<str>,
    pub status: Status,
    pub entry: LogEntry,
    pub reason: Option<Cow<'static, str>>,
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

/// Written by hand, in the documented attribute order: the pipeline's writer serializes every
/// entry, and serde's `flatten` costs more than the rest of the entry together.
impl Serialize for LogRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("timestamp", &Timestamp(self.timestamp))?;
        map.serialize_entry("logLevel", &self.log_level)?;
        if let Some(trace_id) = &self.trace_id {
            map.serialize_entry("traceId", trace_id)?;
        }
        if self.entry.has_account_id() {
            map.serialize_entry("accountId", &*self.account_id)?;
        }
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("eventType", self.entry.event_type())?;
        self.entry.write_attributes(&mut map)?;
        if let Some(reason) = &self.reason {
            map.serialize_entry("reason", reason)?;
        }
        if let Some(details) = &self.details {
            map.serialize_entry("details", details)?;
        }
        map.end()
    }
}

/// Epoch milliseconds, serialized as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
struct Timestamp(u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 23];
        write_timestamp(self.0, &mut text);
        s.serialize_str(std::str::from_utf8(&text).unwrap_or("1970-01-01 00:00:00.000"))
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, as AWS IoT writes `timestamp`.
pub fn format_timestamp(millis: u64) -> String {
    let mut text = [0u8; 23];
    write_timestamp(millis, &mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// Writes the timestamp text; the date and time of day are computed once per second and thread.
fn write_timestamp(millis: u64, out: &mut [u8; 23]) {
    use std::cell::Cell;
    thread_local! {
        static LAST_SECOND: Cell<Option<(u64, [u8; 19])>> = const { Cell::new(None) };
    }
    let second = millis / 1000;
    let prefix = LAST_SECOND.with(|cache| match cache.get() {
        Some((cached, prefix)) if cached == second => prefix,
        _ => {
            let t = time::OffsetDateTime::from_unix_timestamp(second as i64)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let mut prefix = [0u8; 19];
            let text = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            prefix.copy_from_slice(&text.as_bytes()[..19]);
            cache.set(Some((second, prefix)));
            prefix
        }
    });
    let ms = (millis % 1000) as u32;
    out[..19].copy_from_slice(&prefix);
    out[19] = b'.';
    out[20] = b'0' + (ms / 100) as u8;
    out[21] = b'0' + (ms / 10 % 10) as u8;
    out[22] = b'0' + (ms % 10) as u8;
}

/// Every entry type.
#[derive(Debug, Clone)]
pub enum LogEntry {
    Connect(Connect),
    Disconnect(Disconnect),
    PublishIn(PublishIn),
    PublishOut(PublishOut),
    Subscribe(Subscribe),
    ConnectionAuthNError(ConnectionAuthNError),
    Ping(Ping),
    GetRetainedMessage(GetRetainedMessage),
    ListRetainedMessage,
    GetThingShadow(ShadowEntry),
    UpdateThingShadow(ShadowEntry),
    DeleteThingShadow(ShadowEntry),
    RuleMatch(RuleEntry),
    StartingRuleExecution(RuleEntry),
    RuleExecution(RuleEntry),
    FunctionExecution(RuleEntry),
    RuleNotFound(RuleEntry),
    RuleMessageThrottled(RuleEntry),
    DescribeJobExecution(JobEntry),
    GetPendingJobExecution(JobEntry),
    StartNextPendingJobExecution(JobEntry),
    UpdateJobExecution(JobEntry),
    ReportFinalJobExecutionCount(JobCompletionEntry),
    GetDeviceCredentials(GetDeviceCredentials),
    ProvisionDevice(ProvisionDevice),
    AddThingToDynamicThingGroupsFailed(DynamicGroupsFailed),
}

impl LogEntry {
    /// The level AWS writes this entry at when it succeeds (`docs/aws-behaviour.md` §5): INFO for
    /// every message-broker entry.
    pub fn success_level(&self) -> LogLevel {
        match self {
            LogEntry::Connect(_)
            | LogEntry::Disconnect(_)
            | LogEntry::PublishIn(_)
            | LogEntry::PublishOut(_)
            | LogEntry::Subscribe(_)
            | LogEntry::GetRetainedMessage(_)
            | LogEntry::ListRetainedMessage
            | LogEntry::GetThingShadow(_)
            | LogEntry::UpdateThingShadow(_)
            | LogEntry::DeleteThingShadow(_)
            | LogEntry::RuleMatch(_)
            | LogEntry::RuleExecution(_) => LogLevel::Info,
            LogEntry::StartingRuleExecution(_) | LogEntry::FunctionExecution(_) => LogLevel::Debug,
            // DEBUG, as AWS announced it (docs/aws-behaviour.md §5).
            LogEntry::Ping(_) => LogLevel::Debug,
            // The jobs device requests are DEBUG, the final count INFO (the documented examples).
            LogEntry::DescribeJobExecution(_)
            | LogEntry::GetPendingJobExecution(_)
            | LogEntry::StartNextPendingJobExecution(_)
            | LogEntry::UpdateJobExecution(_) => LogLevel::Debug,
            LogEntry::ReportFinalJobExecutionCount(_) => LogLevel::Info,
            // INFO, as the documented examples (docs/aws-behaviour.md §5).
            LogEntry::GetDeviceCredentials(_) | LogEntry::ProvisionDevice(_) => LogLevel::Info,
            // Always ERROR (docs/aws-behaviour.md §5); they have no Success form.
            LogEntry::ConnectionAuthNError(_)
            | LogEntry::RuleNotFound(_)
            | LogEntry::RuleMessageThrottled(_)
            | LogEntry::AddThingToDynamicThingGroupsFailed(_) => LogLevel::Error,
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
            LogEntry::ConnectionAuthNError(_) => "Connection.AuthNError",
            LogEntry::Ping(_) => "Ping",
            LogEntry::GetRetainedMessage(_) => "GetRetainedMessage",
            LogEntry::ListRetainedMessage => "ListRetainedMessage",
            LogEntry::GetThingShadow(_) => "GetThingShadow",
            LogEntry::UpdateThingShadow(_) => "UpdateThingShadow",
            LogEntry::DeleteThingShadow(_) => "DeleteThingShadow",
            LogEntry::RuleMatch(_) => "RuleMatch",
            LogEntry::StartingRuleExecution(_) => "StartingRuleExecution",
            LogEntry::RuleExecution(_) => "RuleExecution",
            LogEntry::FunctionExecution(_) => "FunctionExecution",
            LogEntry::RuleNotFound(_) => "RuleNotFound",
            LogEntry::RuleMessageThrottled(_) => "RuleMessageThrottled",
            LogEntry::DescribeJobExecution(_) => "DescribeJobExecution",
            LogEntry::GetPendingJobExecution(_) => "GetPendingJobExecution",
            LogEntry::StartNextPendingJobExecution(_) => "StartNextPendingJobExecution",
            LogEntry::UpdateJobExecution(_) => "UpdateJobExecution",
            LogEntry::ReportFinalJobExecutionCount(_) => "ReportFinalJobExecutionCount",
            LogEntry::GetDeviceCredentials(_) => "GetDeviceCredentials",
            LogEntry::ProvisionDevice(_) => "ProvisionDevice",
            LogEntry::AddThingToDynamicThingGroupsFailed(_) => "AddThingToDynamicThingGroupsFailed",
        }
    }

    /// Whether the entry carries `accountId`: every documented example does but FunctionExecution's.
    fn has_account_id(&self) -> bool {
        !matches!(self, LogEntry::FunctionExecution(_))
    }

    /// The client the entry is about, for per-target log levels.
    pub fn client(&self) -> Option<&ClientInfo> {
        Some(match self {
            LogEntry::Connect(e) => &e.client,
            LogEntry::Disconnect(e) => &e.client,
            LogEntry::PublishIn(e) => &e.client,
            LogEntry::PublishOut(e) => &e.client,
            LogEntry::Subscribe(e) => &e.client,
            LogEntry::ConnectionAuthNError(_) => return None,
            LogEntry::Ping(e) => &e.client,
            LogEntry::GetRetainedMessage(_) | LogEntry::ListRetainedMessage => return None,
            LogEntry::GetThingShadow(e) | LogEntry::UpdateThingShadow(e) | LogEntry::DeleteThingShadow(e) => {
                return e.client.as_deref()
            }
            LogEntry::RuleMatch(e)
            | LogEntry::StartingRuleExecution(e)
            | LogEntry::RuleExecution(e)
            | LogEntry::FunctionExecution(e)
            | LogEntry::RuleNotFound(e)
            | LogEntry::RuleMessageThrottled(e) => return e.client.as_deref(),
            LogEntry::DescribeJobExecution(e)
            | LogEntry::GetPendingJobExecution(e)
            | LogEntry::StartNextPendingJobExecution(e)
            | LogEntry::UpdateJobExecution(e) => return e.client.as_deref(),
            LogEntry::ReportFinalJobExecutionCount(_) => return None,
            LogEntry::GetDeviceCredentials(e) => return e.client.as_deref(),
            LogEntry::ProvisionDevice(e) => return e.client.as_deref(),
            LogEntry::AddThingToDynamicThingGroupsFailed(_) => return None,
        })
    }

    /// Writes the entry's own attributes, in the documented order.
    fn write_attributes<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            LogEntry::Connect(e) => write_client(map, &e.client, None),
            LogEntry::Disconnect(e) => {
                write_client(map, &e.client, None)?;
                map.serialize_entry("disconnectReason", &e.disconnect_reason)
            }
            LogEntry::PublishIn(PublishIn { topic_name, client })
            | LogEntry::PublishOut(PublishOut { topic_name, client })
            | LogEntry::Subscribe(Subscribe { topic_name, client }) => {
                write_client(map, client, Some(topic_name))
            }
            LogEntry::ConnectionAuthNError(e) => {
                map.serialize_entry("authenticationType", e.authentication_type)?;
                if let Some(sni) = &e.server_name_indication {
                    map.serialize_entry("serverNameIndication", sni)?;
                }
                if let Some(client_id) = &e.client_id {
                    map.serialize_entry("clientId", &**client_id)?;
                }
                map.serialize_entry("sourceIp", &*e.source_ip)?;
                map.serialize_entry("sourcePort", &e.source_port)?;
                map.serialize_entry("targetIp", &*e.target_ip)?;
                map.serialize_entry("targetPort", &e.target_port)
            }
            LogEntry::Ping(e) => {
                map.serialize_entry("protocol", &e.client.protocol)?;
                if let Some(response) = e.response_timestamp {
                    map.serialize_entry("latency", &response.saturating_sub(e.request_timestamp))?;
                }
                map.serialize_entry("requestTimestamp", &format_timestamp(e.request_timestamp))?;
                if let Some(response) = e.response_timestamp {
                    map.serialize_entry("responseTimestamp", &format_timestamp(response))?;
                }
                map.serialize_entry("clientId", &*e.client.client_id)?;
                map.serialize_entry("principalId", &*e.client.principal_id)?;
                map.serialize_entry("sourceIp", &*e.client.source_ip)?;
                map.serialize_entry("sourcePort", &e.client.source_port)
            }
            LogEntry::GetRetainedMessage(e) => {
                map.serialize_entry("protocol", &Protocol::Http)?;
                map.serialize_entry("topicName", &*e.topic_name)?;
                if let Some((qos, last_modified)) = e.found {
                    // Strings, as AWS's example writes them.
                    map.serialize_entry("qos", &qos.to_string())?;
                    map.serialize_entry("lastModifiedDate", &format_timestamp(last_modified))?;
                }
                Ok(())
            }
            LogEntry::ListRetainedMessage => map.serialize_entry("protocol", &Protocol::Http),
            LogEntry::GetThingShadow(e) | LogEntry::UpdateThingShadow(e) | LogEntry::DeleteThingShadow(e) => {
                map.serialize_entry("protocol", &e.protocol)?;
                map.serialize_entry("deviceShadowName", &*e.device_shadow_name)?;
                map.serialize_entry("topicName", &*e.topic_name)
            }
            LogEntry::RuleMatch(e)
            | LogEntry::StartingRuleExecution(e)
            | LogEntry::RuleExecution(e)
            | LogEntry::FunctionExecution(e)
            | LogEntry::RuleNotFound(e)
            | LogEntry::RuleMessageThrottled(e) => {
                map.serialize_entry("clientId", &*e.client_id)?;
                map.serialize_entry("topicName", &*e.topic_name)?;
                map.serialize_entry("ruleName", &*e.rule_name)?;
                if let Some(action) = e.rule_action {
                    map.serialize_entry("ruleAction", action)?;
                }
                if let Some(resources) = &e.resources {
                    map.serialize_entry("resources", &Resources(resources))?;
                }
                map.serialize_entry("principalId", &*e.principal_id)
            }
            LogEntry::DescribeJobExecution(e)
            | LogEntry::GetPendingJobExecution(e)
            | LogEntry::StartNextPendingJobExecution(e)
            | LogEntry::UpdateJobExecution(e) => {
                map.serialize_entry("protocol", &e.protocol)?;
                map.serialize_entry("clientId", &*e.client_id)?;
                if let Some(job_id) = &e.job_id {
                    map.serialize_entry("jobId", &**job_id)?;
                }
                map.serialize_entry("topicName", &*e.topic_name)?;
                map.serialize_entry("clientToken", &*e.client_token)?;
                if let Some(version) = &e.version_number {
                    map.serialize_entry("versionNumber", version)?;
                }
                if let Some(details) = &e.details {
                    map.serialize_entry("details", details)?;
                }
                Ok(())
            }
            LogEntry::ReportFinalJobExecutionCount(e) => {
                map.serialize_entry("jobId", &*e.job_id)?;
                map.serialize_entry("details", &e.details)
            }
            LogEntry::GetDeviceCredentials(e) => {
                map.serialize_entry("deviceCertificateId", &*e.device_certificate_id)?;
                if let Some(details) = &e.details {
                    map.serialize_entry("details", details)?;
                }
                Ok(())
            }
            LogEntry::ProvisionDevice(e) => {
                map.serialize_entry("provisioningTemplateName", &*e.provisioning_template_name)?;
                map.serialize_entry("deviceCertificateId", &*e.device_certificate_id)?;
                if let Some(details) = &e.details {
                    map.serialize_entry("details", details)?;
                }
                Ok(())
            }
            LogEntry::AddThingToDynamicThingGroupsFailed(e) => {
                map.serialize_entry("thingName", &*e.thing_name)?;
                map.serialize_entry("dynamicThingGroupNames", &e.dynamic_thing_group_names)
            }
        }
    }
}

/// A rule action's `resources`, as a JSON object in the given order.
struct Resources<'a>(&'a [(&'static str, String)]);

impl Serialize for Resources<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// `protocol`, then `topicName` where the entry has one, then the client's identity.
fn write_client<M: SerializeMap>(
    map: &mut M,
    client: &ClientInfo,
    topic: Option<&str>,
) -> Result<(), M::Error> {
    map.serialize_entry("protocol", &client.protocol)?;
    if let Some(topic) = topic {
        map.serialize_entry("topicName", topic)?;
    }
    map.serialize_entry("clientId", &*client.client_id)?;
    map.serialize_entry("principalId", &*client.principal_id)?;
    map.serialize_entry("sourceIp", &*client.source_ip)?;
    map.serialize_entry("sourcePort", &client.source_port)
}

/// The rules-engine entries (the [`LogEntry`] variant says which): RuleMatch, StartingRuleExecution,
/// RuleExecution, FunctionExecution, RuleNotFound, RuleMessageThrottled ("Rules engine log
/// entries"). Attributes in the examples' order: `clientId`, `topicName`, `ruleName`,
/// `ruleAction` (StartingRuleExecution, RuleExecution, FunctionExecution), `resources`
/// (RuleExecution, FunctionExecution), `principalId`; RuleNotFound and RuleMessageThrottled add
/// the failure's `reason` and `details`.
#[derive(Debug, Clone)]
pub struct RuleEntry {
    /// The message's publisher; `N/A` for FunctionExecution, as AWS writes it.
    pub client_id: Arc<str>,
    pub principal_id: Arc<str>,
    pub topic_name: Arc<str>,
    pub rule_name: Arc<str>,
    /// `RepublishAction`, `HttpAction`, ... (`docs/aws-behaviour.md` §12).
    pub rule_action: Option<&'static str>,
    /// Such as `[("RepublishTopic", "alerts/1")]`.
    pub resources: Option<Vec<(&'static str, String)>>,
    /// The publisher, for per-target log levels; not written.
    pub client: Option<Arc<ClientInfo>>,
}

/// `Connect`: an MQTT client connected (or failed to).
#[derive(Debug, Clone)]
pub struct Connect {
    pub client: Arc<ClientInfo>,
}

/// `Disconnect`: an MQTT client's connection ended.
#[derive(Debug, Clone)]
pub struct Disconnect {
    pub client: Arc<ClientInfo>,
    pub disconnect_reason: DisconnectReason,
}

/// `Publish-In`: the broker received a message.
#[derive(Debug, Clone)]
pub struct PublishIn {
    pub topic_name: Arc<str>,
    pub client: Arc<ClientInfo>,
}

/// `Publish-Out`: the broker delivered a message to one subscriber (whose identity `client` is).
#[derive(Debug, Clone)]
pub struct PublishOut {
    pub topic_name: Arc<str>,
    pub client: Arc<ClientInfo>,
}

/// `Subscribe`: a client subscribed to a topic filter.
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub topic_name: Arc<str>,
    pub client: Arc<ClientInfo>,
}

/// `Connection.AuthNError`: a device failed to authenticate (AWS's newer broker entry,
/// `docs/aws-behaviour.md` §11: authenticationType, serverNameIndication, source and target address,
/// clientId where known; always ERROR/Failure with `reason` and `details`).
#[derive(Debug, Clone)]
pub struct ConnectionAuthNError {
    /// AWS_X509 for certificates.
    pub authentication_type: &'static str,
    pub server_name_indication: Option<String>,
    pub client_id: Option<Arc<str>>,
    pub source_ip: Arc<str>,
    pub source_port: u16,
    pub target_ip: Arc<str>,
    pub target_port: u16,
}

/// `Ping`: a client's MQTT keep-alive (PINGREQ), answered with a PINGRESP. AWS announced it with
/// `protocol`, `latency`, `requestTimestamp`, `responseTimestamp` and the client's identity, at
/// DEBUG and off unless `eventConfigurations` names it (`docs/aws-behaviour.md` §5); AWS shows no
/// example, so the timestamps have the entry `timestamp`'s format and `latency` is in milliseconds.
#[derive(Debug, Clone)]
pub struct Ping {
    pub client: Arc<ClientInfo>,
    /// Epoch milliseconds of the PINGREQ.
    pub request_timestamp: u64,
    /// Epoch milliseconds of the PINGRESP (absent on a Failure).
    pub response_timestamp: Option<u64>,
}

/// `GetRetainedMessage`: iot-data GetRetainedMessage was called ("GetRetainedMessage log
/// entry": `protocol` HTTP, `topicName`, `qos` and `lastModifiedDate`, written as strings as
/// the example writes them). `ListRetainedMessage` (ListRetainedMessages) has only `protocol`.
#[derive(Debug, Clone)]
pub struct GetRetainedMessage {
    pub topic_name: Arc<str>,
    /// The message's QoS and when it was stored (epoch milliseconds); `None` when there is none.
    pub found: Option<(u8, u64)>,
}

/// `GetThingShadow`, `UpdateThingShadow`, `DeleteThingShadow` (the [`LogEntry`] variant says
/// which): the Device Shadow service received a request. Documented attributes: `protocol`,
/// `deviceShadowName`, `topicName` ("Device Shadow log entries"), in the example's order.
/// AWS documents no client identity for these entries, so none is written.
#[derive(Debug, Clone)]
pub struct ShadowEntry {
    /// MQTT or HTTP.
    pub protocol: Protocol,
    /// AWS's examples show only classic shadows, where it is the thing name; for a named shadow
    /// AWS's value is unconfirmed (`docs/aws-behaviour.md` §6): the shadow service chooses.
    pub device_shadow_name: Arc<str>,
    /// The request's topic; over HTTP the equivalent reserved MQTT topic (unconfirmed, §6).
    pub topic_name: Arc<str>,
    /// The requester, used only by per-target log levels (CLIENT_ID, SOURCE_IP, ...); not
    /// written.
    pub client: Option<Arc<ClientInfo>>,
}

/// `DescribeJobExecution`, `GetPendingJobExecution`, `StartNextPendingJobExecution`,
/// `UpdateJobExecution` (the [`LogEntry`] variant says which): the Jobs service received a
/// device request over MQTT or HTTP ("Job log entries"). Attributes in the examples' order:
/// `protocol`, `clientId`, `jobId` (Describe and Update), `topicName`, `clientToken`,
/// `versionNumber` (Update, a string as in the example), `details`.
///
/// A Success entry carries `details` here ("The request status is SUCCESS."); a Failure leaves
/// it `None` and the record adds `reason` and `details` after the attributes (so the key is
/// written once).
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub protocol: Protocol,
    pub client_id: Arc<str>,
    pub job_id: Option<Arc<str>>,
    /// The request's topic; over HTTP the equivalent reserved MQTT topic.
    pub topic_name: Arc<str>,
    /// The request's `clientToken`; empty when it gave none (every example has one).
    pub client_token: Arc<str>,
    pub version_number: Option<String>,
    pub details: Option<Cow<'static, str>>,
    /// The requester, for per-target log levels; not written.
    pub client: Option<Arc<ClientInfo>>,
}

/// `ReportFinalJobExecutionCount`: a snapshot job completed; `details` counts its executions by
/// status in AWS's wording.
#[derive(Debug, Clone)]
pub struct JobCompletionEntry {
    pub job_id: Arc<str>,
    pub details: String,
}

/// `GetDeviceCredentials`: the fleet provisioning service was asked for a device certificate
/// ("Device provisioning log entries"). Documented attributes, in the example's order:
/// `deviceCertificateId`, `details`. As for [`JobEntry`], a Success carries `details` here and a
/// Failure leaves it `None` for the record's `reason` and `details`.
#[derive(Debug, Clone)]
pub struct GetDeviceCredentials {
    /// The certificate made for the device; empty when none was made (a refused request).
    pub device_certificate_id: Arc<str>,
    pub details: Option<Cow<'static, str>>,
    /// The requester, for per-target log levels; not written.
    pub client: Option<Arc<ClientInfo>>,
}

/// `ProvisionDevice`: the fleet provisioning service provisioned a device from a template (or
/// failed to). Documented attributes, in the example's order: `provisioningTemplateName`,
/// `deviceCertificateId`, `details` (`details` as in [`GetDeviceCredentials`]).
#[derive(Debug, Clone)]
pub struct ProvisionDevice {
    pub provisioning_template_name: Arc<str>,
    /// The certificate being provisioned; empty when the request named none that is valid.
    pub device_certificate_id: Arc<str>,
    pub details: Option<Cow<'static, str>>,
    /// The requester, for per-target log levels; not written.
    pub client: Option<Arc<ClientInfo>>,
}

/// `AddThingToDynamicThingGroupsFailed` ("Dynamic thing group log entries"): a thing matched
/// dynamic groups it could not join, or left them for another group. Documented attributes, in
/// the example's order: `thingName`, `dynamicThingGroupNames`, then the record's `reason` (the
/// entry has no `details`: see [`DynamicGroupsFailed::record`]).
#[derive(Debug, Clone)]
pub struct DynamicGroupsFailed {
    pub thing_name: Arc<str>,
    pub dynamic_thing_group_names: Vec<String>,
}

impl DynamicGroupsFailed {
    /// AWS's reason sentence (the documented example's).
    pub const REASON: &'static str = "The thing failed to be added to the given dynamic thing group(s) because the thing already belongs to the maximum allowed number of groups.";

    /// The Failure record: ERROR, `reason`, and no `details` (the documented example has none).
    pub fn record(self, timestamp: u64, account_id: Arc<str>, trace_id: TraceId) -> LogRecord {
        LogRecord {
            timestamp,
            log_level: LogLevel::Error,
            trace_id: Some(trace_id),
            account_id,
            status: Status::Failure,
            entry: LogEntry::AddThingToDynamicThingGroupsFailed(self),
            reason: Some(Cow::Borrowed(Self::REASON)),
            details: None,
        }
    }
}

/// `disconnectReason`, from AWS's list (`docs/aws-behaviour.md` §3, life-cycle-events page).
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
    /// A WebSocket connection outlived its allowed time (AWS: 24 hours).
    WebsocketTtlExpiration,
    /// A custom authorizer's `disconnectAfterInSeconds` has passed.
    CustomauthTtlExpiration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// AWS's example of `event`, from `spec/`.
    fn example(event: &str) -> Value {
        crate::spec::Spec::aws().example(event)
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

    /// The example's `timestamp` in epoch milliseconds.
    fn example_millis(ex: &Value) -> u64 {
        let dt = time::PrimitiveDateTime::parse(
            ex["timestamp"].as_str().unwrap(),
            time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ),
        )
        .unwrap()
        .assume_utc();
        (dt.unix_timestamp_nanos() / 1_000_000) as u64
    }

    /// Builds the typed record with the example's common values and compares the whole JSON.
    fn assert_matches_example(event: &str, entry: LogEntry) {
        let ex = example(event);
        let millis = example_millis(&ex);
        let trace: TraceId = ex["traceId"].as_str().unwrap().parse().unwrap();
        let record = LogRecord::success(millis, "123456789012".into(), trace, entry);
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got, ex, "{event} differs from the documented example");
    }

    fn rule_entry(action: Option<&'static str>, resources: Option<Vec<(&'static str, String)>>) -> RuleEntry {
        RuleEntry {
            client_id: "abf27092886e49a8a5c1922749736453".into(),
            principal_id: "145179c40e2219e18a909d896a5340b74cf97a39641beec2fc3eeafc5a932167".into(),
            topic_name: "rules/test".into(),
            rule_name: "JSONLogsRule".into(),
            rule_action: action,
            resources,
            client: None,
        }
    }

    /// A failure entry's JSON, for the always-failing rule entries.
    fn assert_failure_matches_example(
        event: &str,
        entry: LogEntry,
        reason: &'static str,
        details: &'static str,
    ) {
        let ex = example(event);
        let trace: TraceId = ex["traceId"].as_str().unwrap().parse().unwrap();
        let record =
            LogRecord::failure(1_507_145_146_070, "123456789012".into(), trace, entry, reason, details);
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got, ex, "{event} differs from the documented example");
    }

    #[test]
    fn the_retained_message_entries_match_the_examples() {
        let ex = example("GetRetainedMessage");
        let stored = example_millis(&ex);
        let entry = GetRetainedMessage { topic_name: "a/b/c".into(), found: Some((1, stored)) };
        assert_matches_example("GetRetainedMessage", LogEntry::GetRetainedMessage(entry));
        assert_matches_example("ListRetainedMessage", LogEntry::ListRetainedMessage);
    }

    #[test]
    fn a_ping_has_its_latency_and_timestamps() {
        let entry =
            Ping { client: example_client(), request_timestamp: 1_000, response_timestamp: Some(1_003) };
        let record = LogRecord::success(1_003, "123456789012".into(), TraceId::new(), LogEntry::Ping(entry));
        assert_eq!(record.log_level, LogLevel::Debug);
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got["latency"], 3);
        assert_eq!(got["requestTimestamp"], "1970-01-01 00:00:01.000");
        assert_eq!(got["responseTimestamp"], "1970-01-01 00:00:01.003");
        assert_eq!(got["protocol"], "MQTT");
        assert_eq!(got["clientId"], "abf27092886e49a8a5c1922749736453");
    }

    #[test]
    fn rule_entries_match_documented_examples() {
        assert_matches_example("RuleMatch", LogEntry::RuleMatch(rule_entry(None, None)));
        let starting = rule_entry(Some("RepublishAction"), None);
        assert_matches_example("StartingRuleExecution", LogEntry::StartingRuleExecution(starting));
        let execution =
            rule_entry(Some("RepublishAction"), Some(vec![("RepublishTopic", "rules/republish".into())]));
        assert_matches_example("RuleExecution", LogEntry::RuleExecution(execution));
        let mut function =
            rule_entry(Some("MachinelearningPredict"), Some(vec![("ModelId", "predict-model".into())]));
        function.client_id = "N/A".into();
        function.rule_name = "ruleTestPredict".into();
        let record = {
            let ex = example("FunctionExecution");
            let trace: TraceId = ex["traceId"].as_str().unwrap().parse().unwrap();
            LogRecord::success(
                1_499_970_831_903,
                "123456789012".into(),
                trace,
                LogEntry::FunctionExecution(function),
            )
        };
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got, example("FunctionExecution"), "FunctionExecution has no accountId");
        let mut missing = rule_entry(None, None);
        missing.topic_name = "$aws/rules/example_rule".into();
        missing.rule_name = "example_rule".into();
        assert_failure_matches_example(
            "RuleNotFound",
            LogEntry::RuleNotFound(missing.clone()),
            "RuleNotFound",
            "Rule example_rule not found",
        );
        assert_failure_matches_example(
            "RuleMessageThrottled",
            LogEntry::RuleMessageThrottled(missing),
            "RuleExecutionThrottled",
            "Message for Rule example_rule throttled",
        );
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
    fn shadow_entries_match_documented_examples() {
        let entry = |thing: &str, op: &str| ShadowEntry {
            protocol: Protocol::Mqtt,
            device_shadow_name: thing.into(),
            topic_name: format!("$aws/things/{thing}/shadow/{op}").into(),
            client: Some(example_client()),
        };
        assert_matches_example("GetThingShadow", LogEntry::GetThingShadow(entry("MyThing", "get")));
        assert_matches_example("UpdateThingShadow", LogEntry::UpdateThingShadow(entry("Jack", "update")));
        assert_matches_example("DeleteThingShadow", LogEntry::DeleteThingShadow(entry("Jack", "delete")));
    }

    #[test]
    fn shadow_entries_come_in_the_documented_order() {
        let record = LogRecord::success(
            0,
            "123456789012".into(),
            TraceId::new(),
            LogEntry::UpdateThingShadow(ShadowEntry {
                protocol: Protocol::Http,
                device_shadow_name: "Jack".into(),
                topic_name: "$aws/things/Jack/shadow/update".into(),
                client: None,
            }),
        );
        let json = record.to_json();
        let keys: Vec<&str> =
            ["\"eventType\"", "\"protocol\":\"HTTP\"", "\"deviceShadowName\"", "\"topicName\""]
                .into_iter()
                .collect();
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).expect(k)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of documented order: {json}");
        assert_eq!(record.log_level, LogLevel::Info);
    }

    /// The job examples have no traceId: compare without it.
    fn assert_job_entry_matches_example(event: &str, entry: LogEntry) {
        let ex = example(event);
        let millis = example_millis(&ex);
        let mut record = LogRecord::success(millis, "123456789012".into(), TraceId::new(), entry);
        record.trace_id = None;
        let got: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(got, ex, "{event} differs from the documented example");
        // In the examples' order (serde_json's map would sort the keys).
        let order =
            ["eventType", "protocol", "clientId", "jobId", "topicName", "clientToken", "versionNumber"];
        let json = record.to_json();
        let positions: Vec<usize> = order.iter().filter_map(|k| json.find(&format!("\"{k}\":"))).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of documented order: {json}");
    }

    #[test]
    fn job_entries_match_documented_examples() {
        let job =
            |client: &str, job: Option<&str>, topic: &str, token: &str, version: Option<&str>, details| {
                JobEntry {
                    protocol: Protocol::Mqtt,
                    client_id: client.into(),
                    job_id: job.map(Into::into),
                    topic_name: topic.into(),
                    client_token: token.into(),
                    version_number: version.map(Into::into),
                    details: Some(Cow::Borrowed(details)),
                    client: None,
                }
            };
        let ok = "The request status is SUCCESS.";
        assert_job_entry_matches_example(
            "DescribeJobExecution",
            LogEntry::DescribeJobExecution(job(
                "thingOne",
                Some("002"),
                "$aws/things/thingOne/jobs/002/get",
                "myToken",
                None,
                ok,
            )),
        );
        let t = "299966ad-54de-40b4-99d3-4fc8b52da0c5";
        assert_job_entry_matches_example(
            "GetPendingJobExecution",
            LogEntry::GetPendingJobExecution(job(
                t,
                None,
                &format!("$aws/things/{t}/jobs/get"),
                "24b9a741-15a7-44fc-bd3c-1ff2e34e5e82",
                None,
                ok,
            )),
        );
        let t = "95c47808-b1ca-4794-bc68-a588d6d9216c";
        assert_job_entry_matches_example(
            "StartNextPendingJobExecution",
            LogEntry::StartNextPendingJobExecution(job(
                t,
                None,
                &format!("$aws/things/{t}/jobs/start-next"),
                "bd7447c4-3a05-49f4-8517-dd89b2c68d94",
                None,
                ok,
            )),
        );
        assert_job_entry_matches_example(
            "UpdateJobExecution",
            LogEntry::UpdateJobExecution(job(
                "thingOne",
                Some("002"),
                "$aws/things/thingOne/jobs/002/update",
                "myClientToken",
                Some("1"),
                "The destination status is IN_PROGRESS. The request status is SUCCESS.",
            )),
        );
        let details = example("ReportFinalJobExecutionCount")["details"].as_str().unwrap().to_string();
        assert_job_entry_matches_example(
            "ReportFinalJobExecutionCount",
            LogEntry::ReportFinalJobExecutionCount(JobCompletionEntry { job_id: "002".into(), details }),
        );
    }

    #[test]
    fn provisioning_entries_match_documented_examples() {
        let id = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let details = || Some(Cow::Borrowed("Additional details about this log."));
        let entry =
            GetDeviceCredentials { device_certificate_id: id.into(), details: details(), client: None };
        let ex = example("GetDeviceCredentials");
        let trace: TraceId = ex["traceId"].as_str().unwrap().parse().unwrap();
        let record = LogRecord::success(
            example_millis(&ex),
            "123456789101".into(),
            trace,
            LogEntry::GetDeviceCredentials(entry),
        );
        assert_eq!(serde_json::from_str::<Value>(&record.to_json()).unwrap(), ex);
        let entry = ProvisionDevice {
            provisioning_template_name: "myTemplate".into(),
            device_certificate_id: id.into(),
            details: details(),
            client: None,
        };
        let ex = example("ProvisionDevice");
        let record = LogRecord::success(
            example_millis(&ex),
            "123456789101".into(),
            trace,
            LogEntry::ProvisionDevice(entry.clone()),
        );
        let json = record.to_json();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), ex);
        assert_eq!(record.log_level, LogLevel::Info);
        let order = ["eventType", "provisioningTemplateName", "deviceCertificateId", "details"];
        let positions: Vec<usize> = order.iter().map(|k| json.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of documented order: {json}");
        // A failure writes `details` once, after `reason`.
        let failed = ProvisionDevice { details: None, ..entry };
        let record = LogRecord::failure(
            0,
            "123456789012".into(),
            TraceId::new(),
            LogEntry::ProvisionDevice(failed),
            "AccessDenied",
            "The pre-provisioning hook refused the device.",
        );
        let json = record.to_json();
        assert_eq!(json.matches("\"details\"").count(), 1, "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!((v["logLevel"].as_str(), v["status"].as_str()), (Some("ERROR"), Some("Failure")));
    }

    #[test]
    fn a_rejected_job_request_writes_details_once() {
        let entry = JobEntry {
            protocol: Protocol::Http,
            client_id: "t".into(),
            job_id: Some("j".into()),
            topic_name: "$aws/things/t/jobs/j/update".into(),
            client_token: "".into(),
            version_number: Some("2".into()),
            details: None,
            client: None,
        };
        let record = LogRecord::failure(
            0,
            "123456789012".into(),
            TraceId::new(),
            LogEntry::UpdateJobExecution(entry),
            "VersionMismatch",
            "The request status is REJECTED.",
        );
        let json = record.to_json();
        assert_eq!(json.matches("\"details\"").count(), 1, "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!((v["status"].as_str(), v["reason"].as_str()), (Some("Failure"), Some("VersionMismatch")));
    }

    #[test]
    fn timestamps_stay_right_across_seconds_and_days() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(format_timestamp(1_502_379_443_476), "2017-08-10 15:37:23.476");
        assert_eq!(format_timestamp(1_502_379_443_999), "2017-08-10 15:37:23.999");
        assert_eq!(format_timestamp(1_502_379_444_005), "2017-08-10 15:37:24.005");
        assert_eq!(format_timestamp(1_502_409_599_999), "2017-08-10 23:59:59.999");
        assert_eq!(format_timestamp(1_502_409_600_000), "2017-08-11 00:00:00.000");
    }

    #[test]
    fn attributes_come_in_the_documented_order() {
        // The order of the Publish-In example in spec/broker.json.
        let documented = [
            "timestamp",
            "logLevel",
            "traceId",
            "accountId",
            "status",
            "eventType",
            "protocol",
            "topicName",
            "clientId",
            "principalId",
            "sourceIp",
            "sourcePort",
        ];
        let record = LogRecord::success(
            0,
            "123456789012".into(),
            TraceId::new(),
            LogEntry::PublishIn(PublishIn { topic_name: "t".into(), client: example_client() }),
        );
        let json = record.to_json();
        let positions: Vec<usize> = documented
            .iter()
            .map(|key| json.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} missing")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of documented order: {json}");
        assert_eq!(example("Publish-In").as_object().unwrap().len(), documented.len());
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
