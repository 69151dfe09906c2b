//! The configuration: the embedded `config/iotemu.toml`, overlaid by `--config FILE`, then by
//! `IOTEMU_*` variables and flags (`docs/architecture.md`, "Defaults"). Unknown keys are an error.

use iotemu_broker::{BrokerConfig, Limits};
use iotemu_logs::LevelFilter;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/iotemu.toml");

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub logging: LoggingConfig,
    pub logstore: LogStoreSection,
    pub broker: BrokerSection,
    pub shadow: ShadowSection,
    pub policies: PoliciesSection,
    pub rules: RulesSection,
    pub limits: Limits,
    pub jobs: JobsSection,
    pub wireless: WirelessSection,
    pub provisioning: ProvisioningSection,
    #[serde(default)]
    pub authorizers: AuthorizersSection,
    /// Where the rule actions and jobs reach SQS, SNS, DynamoDB, ... (`iotemu_awsclient`).
    #[serde(default)]
    pub aws_services: iotemu_awsclient::AwsServicesConfig,
}

/// Custom authorizers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizersSection {
    /// Lambda function ARN (or `*`) -> the URL the authorizer function is POSTed to.
    #[serde(default)]
    pub endpoints: std::collections::HashMap<String, String>,
}

/// The rules engine (`iotemu_rules::EngineConfig`) and rules created at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    pub queue_capacity: usize,
    /// Worker tasks evaluating rules (messages of one topic stay on one); 0: one per core.
    #[serde(default)]
    pub workers: usize,
    pub max_in_flight: usize,
    /// Messages per second each rule takes (0: no limit).
    pub messages_per_second: u32,
    /// Per-rule limits: `rule_name = N`.
    #[serde(default)]
    pub rule_messages_per_second: std::collections::HashMap<String, u32>,
    /// Lambda function ARN (or `*`) -> the URL the lambda action POSTs to.
    #[serde(default)]
    pub lambda_endpoints: std::collections::HashMap<String, String>,
    pub http_timeout_ms: u64,
    pub max_republish_depth: usize,
    /// Rules created (or replaced) at start, each as CreateTopicRule's `topicRulePayload` plus `name`.
    #[serde(default)]
    pub topic_rule: Vec<ConfigRule>,
}

/// A rule of the config file: `[[rules.topic_rule]]` with `name`, `sql`, `actions`, ...
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRule {
    pub name: String,
    pub sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iot_sql_version: Option<String>,
    #[serde(default)]
    pub rule_disabled: bool,
    /// Each as the API takes it: `{ republish = { topic = "out", qos = 1 } }`.
    #[serde(default)]
    pub actions: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<serde_json::Value>,
}

impl ConfigRule {
    /// CreateTopicRule's payload for this rule.
    pub fn payload(&self) -> iotemu_rules::TopicRulePayload {
        iotemu_rules::TopicRulePayload {
            sql: Some(self.sql.clone()),
            description: self.description.clone(),
            actions: Some(self.actions.clone()),
            rule_disabled: self.rule_disabled,
            aws_iot_sql_version: self.aws_iot_sql_version.clone(),
            error_action: self.error_action.clone(),
        }
    }
}

impl RulesSection {
    /// The engine's settings.
    pub fn engine_config(&self, aws: &iotemu_awsclient::AwsServicesConfig) -> iotemu_rules::EngineConfig {
        iotemu_rules::EngineConfig {
            queue_capacity: self.queue_capacity,
            workers: self.workers,
            max_in_flight: self.max_in_flight,
            messages_per_second: self.messages_per_second,
            rule_messages_per_second: self.rule_messages_per_second.clone(),
            lambda_endpoints: self.lambda_endpoints.clone(),
            http_timeout: Duration::from_millis(self.http_timeout_ms),
            max_republish_depth: self.max_republish_depth,
            aws: aws.clone(),
        }
    }
}

/// The Device Shadow service's limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSection {
    /// The JSON of `desired` and `reported` together, in bytes (AWS: 8 KB).
    pub max_document_bytes: usize,
}

/// The Jobs service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// How many real seconds one "minute" of the job timers (`stepTimeoutInMinutes`,
    /// `inProgressTimeoutInMinutes`) and of the rollout rate (`maximumPerMinute`) lasts: 60, as
    /// on AWS, unless a test shortens it (1 makes a 1-minute step timeout fire in about 1 s).
    pub minute_seconds: u64,
}

/// AWS IoT Core for LoRaWAN.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirelessSection {
    /// The LoRa Basics Station (LNS) endpoint's port on the bind address; 0 picks a free one.
    pub lns_port: u16,
    /// Role ARNs a destination may use (`*`: every role); the others cannot be "assumed", and
    /// the uplinks of their destinations write the Uplink error entry.
    pub allowed_role_arns: Vec<String>,
}

/// Fleet provisioning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSection {
    /// How long an ownership token lives (AWS: one hour).
    pub ownership_token_seconds: u64,
    /// Lambda function ARN (or `*`) -> the URL a pre-provisioning hook POSTs to.
    #[serde(default)]
    pub hook_endpoints: std::collections::HashMap<String, String>,
}

impl ProvisioningSection {
    /// The service's settings.
    pub fn settings(&self) -> iotemu_provisioning::Settings {
        iotemu_provisioning::Settings {
            hook_endpoints: self.hook_endpoints.clone(),
            token_ttl_ms: self.ownership_token_seconds.saturating_mul(1000),
            ..Default::default()
        }
    }
}

/// Where IoT policies apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesSection {
    /// Also on the plain port, as principal `anonymous` (AttachPolicy with target `anonymous`).
    pub enforce_on_plain: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub mqtt_port: u16,
    pub mqtts_port: u16,
    /// The device port (AWS's 443): MQTT, HTTPS and WebSockets by ALPN.
    pub device_port: u16,
    pub api_port: u16,
    pub data_dir: PathBuf,
    pub ephemeral: bool,
    pub account_id: String,
    pub region: String,
    /// Extra names of the MQTTS server certificate ([`Config::server_certificate_names`]).
    #[serde(default)]
    pub server_names: Vec<String>,
    /// The fixtures file applied at start (`crate::seed`); empty for none.
    #[serde(default)]
    pub seed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    pub level: String,
    pub file: String,
    pub stdout: bool,
    pub queue_capacity: usize,
    /// Recent entries the live tail keeps.
    pub tail_entries: usize,
}

/// The durable store of the entries behind the CloudWatch Logs API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogStoreSection {
    pub enabled: bool,
    pub max_events: u64,
    pub retention_days: i64,
    pub queue_capacity: usize,
    /// A full queue makes the log pipeline wait for the store instead of missing entries.
    #[serde(default)]
    pub wait_when_full: bool,
    /// Megabytes of entries kept on disk (`logs.spool`) while the queue is full, stored when
    /// the store catches up; 0: entries that do not fit the queue are missed.
    #[serde(default = "default_spool_max_mb")]
    pub spool_max_mb: u64,
}

fn default_spool_max_mb() -> u64 {
    1024
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    pub session_expiry_secs: u64,
    pub connect_timeout_secs: u64,
    /// How long a WebSocket connection may last (AWS: 24 hours).
    pub websocket_ttl_secs: u64,
}

/// A configuration that cannot be used; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid config value: {0}")]
    Invalid(String),
}

/// AWS allows persistent sessions of at most 7 days (`docs/aws-behaviour.md` §10).
const MAX_SESSION_EXPIRY_SECS: u64 = 7 * 24 * 3600;

impl Config {
    /// The embedded defaults, overlaid by `file` when given.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let mut merged: toml::Value = parse(DEFAULT_CONFIG, "")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            let overlay = parse(&text, &format!(" file {}", path.display()))?;
            merge(&mut merged, overlay);
        }
        let origin = file.map(|p| format!(" file {}", p.display())).unwrap_or_default();
        merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse { origin, message: one_line(&e.to_string()) })
    }

    /// Checks values the types do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let account = &self.server.account_id;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("account_id {account:?} must be 12 digits"));
        }
        if self.server.region.is_empty() {
            return invalid("region must not be empty".into());
        }
        if self.server.bind.parse::<std::net::IpAddr>().is_err() {
            return invalid(format!("bind {:?} is not an IP address", self.server.bind));
        }
        if let Some(name) = self.server.server_names.iter().find(|n| !is_server_name(n)) {
            return invalid(format!("server name {name:?} is neither a DNS name nor an IP address"));
        }
        self.log_level()?;
        if self.broker.websocket_ttl_secs == 0 {
            return invalid("websocket_ttl_secs must be at least 1".into());
        }
        let expiry = self.broker.session_expiry_secs;
        if expiry == 0 || expiry > MAX_SESSION_EXPIRY_SECS {
            return invalid(format!(
                "session_expiry_secs {expiry} must be 1 to {MAX_SESSION_EXPIRY_SECS} (7 days)"
            ));
        }
        let l = &self.limits;
        let sizes = [
            ("client_id_bytes", l.client_id_bytes),
            ("topic_bytes", l.topic_bytes),
            ("payload_bytes", l.payload_bytes),
            ("filters_per_subscribe", l.filters_per_subscribe),
            ("subscriptions_per_connection", l.subscriptions_per_connection),
            ("inflight_qos1", l.inflight_qos1),
            ("max_keepalive_secs", l.max_keepalive_secs.into()),
            ("connection_queue", l.connection_queue),
            ("queue_capacity", self.logging.queue_capacity),
            ("connect_timeout_secs", self.broker.connect_timeout_secs as usize),
            ("rules queue_capacity", self.rules.queue_capacity),
            ("rules max_in_flight", self.rules.max_in_flight),
            ("rules http_timeout_ms", self.rules.http_timeout_ms as usize),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return invalid(format!("{name} must be greater than 0"));
        }
        if l.connection_queue_bytes < l.payload_bytes + l.topic_bytes {
            return invalid(
                "connection_queue_bytes must hold one message (payload_bytes + topic_bytes)".into(),
            );
        }
        if l.inflight_qos1 > usize::from(u16::MAX) {
            return invalid("inflight_qos1 must be at most 65535".into());
        }
        if self.shadow.max_document_bytes == 0 {
            return invalid("shadow max_document_bytes must be greater than 0".into());
        }
        if self.provisioning.ownership_token_seconds == 0 {
            return invalid("provisioning ownership_token_seconds must be greater than 0".into());
        }
        if self.jobs.minute_seconds == 0 {
            return invalid("jobs minute_seconds must be greater than 0".into());
        }
        let store = &self.logstore;
        if store.max_events == 0 || store.queue_capacity == 0 {
            return invalid("logstore max_events and queue_capacity must be greater than 0".into());
        }
        if !iotemu_cwlogs::RETENTION_DAYS.contains(&store.retention_days) {
            return invalid(format!(
                "logstore retention_days {} must be one of CloudWatch's values {:?}",
                store.retention_days,
                iotemu_cwlogs::RETENTION_DAYS
            ));
        }
        Ok(())
    }

    /// The configured log level.
    pub fn log_level(&self) -> Result<LevelFilter, ConfigError> {
        self.logging.level.parse().map_err(ConfigError::Invalid)
    }

    /// The broker's part.
    pub fn broker_config(&self) -> BrokerConfig {
        BrokerConfig {
            limits: self.limits.clone(),
            session_expiry: Duration::from_secs(self.broker.session_expiry_secs),
            connect_timeout: Duration::from_secs(self.broker.connect_timeout_secs),
            enforce_on_plain: self.policies.enforce_on_plain,
        }
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

impl Config {
    /// The SANs of the MQTTS server certificate: localhost, 127.0.0.1 and ::1 (the names the
    /// AWS IoT Device SDK checks on a local machine), this machine's hostname (a container's, so
    /// that other containers reaching it by that name pass a strict hostname check), then
    /// `server_names`; without duplicates.
    pub fn server_certificate_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_ascii_lowercase());
        for name in
            hostname.into_iter().chain(self.server.server_names.iter().map(|n| n.to_ascii_lowercase()))
        {
            if is_server_name(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// A DNS name (labels of letters, digits and `-`, a leading `*.` allowed) or an IP address.
fn is_server_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && name.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn parse(text: &str, origin: &str) -> Result<toml::Value, ConfigError> {
    text.parse::<toml::Table>()
        .map(toml::Value::Table)
        .map_err(|e| ConfigError::Parse { origin: origin.to_string(), message: one_line(&e.to_string()) })
}

/// Overlays `top` on `base`, table by table.
fn merge(base: &mut toml::Value, top: toml::Value) {
    match (base, top) {
        (toml::Value::Table(base), toml::Value::Table(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn embedded_defaults_are_valid_and_documented() {
        let config = Config::load(None).unwrap();
        config.validate().unwrap();
        assert_eq!(config.server.mqtt_port, 1883);
        assert_eq!(config.server.account_id, "123456789012");
        assert_eq!(config.limits.payload_bytes, 128 * 1024);
    }

    #[test]
    fn a_file_overlays_single_keys_and_refuses_unknown_ones() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[server]\nmqtt_port = 11883").unwrap();
        let config = Config::load(Some(file.path())).unwrap();
        assert_eq!(config.server.mqtt_port, 11883);
        assert_eq!(config.server.mqtts_port, 8883);

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        writeln!(bad, "[server]\nmqtt_prot = 1").unwrap();
        let err = Config::load(Some(bad.path())).unwrap_err().to_string();
        assert!(err.contains("mqtt_prot"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn server_names_are_added_to_the_local_ones_and_checked() {
        let mut config = Config::load(None).unwrap();
        config.server.server_names = vec!["IoTemu".into(), "10.1.2.3".into(), "localhost".into()];
        config.validate().unwrap();
        let names = config.server_certificate_names();
        assert_eq!(&names[..3], ["localhost", "127.0.0.1", "::1"]);
        assert!(names.ends_with(&["iotemu".to_string(), "10.1.2.3".to_string()]), "{names:?}");
        assert_eq!(names.iter().filter(|n| *n == "localhost").count(), 1);
        for bad in ["", "a b", "-x.example", "x..y", "host/path"] {
            config.server.server_names = vec![bad.into()];
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("neither a DNS name"), "{bad}: {err}");
        }
    }
}
