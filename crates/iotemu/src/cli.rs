//! The command line (`docs/architecture.md`, "Command line": scripts depend on it, so it only
//! grows).

use crate::config::{Config, ConfigError};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// A local AWS IoT Core: MQTT broker, AWS APIs and CloudWatch log entries.
#[derive(Debug, Parser)]
#[command(name = "iotemu", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the emulator (the default).
    Serve(ServeArgs),
    /// Print the effective configuration as TOML.
    PrintConfig(ServeArgs),
    /// Certificates signed by the emulator's CA.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// The log entries of a running emulator.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Wait until an emulator answers its health route (exit 0), or the timeout passes (exit 1).
    Wait(crate::wait_cmd::WaitArgs),
    /// Check JSON-lines log files (iotemu's, or entries exported from CloudWatch) against the
    /// log entries AWS IoT documents; one line per problem, exit code 1 if there is any.
    CheckEntries(CheckEntriesArgs),
    /// AWS IoT Core for LoRaWAN helpers.
    #[command(subcommand)]
    Lora(LoraCommand),
}

#[derive(Debug, Subcommand)]
pub enum LoraCommand {
    /// Play a LoRa Basics Station gateway and a LoRaWAN device against a running emulator:
    /// create them through the iotwireless API, join (OTAA), send uplinks and receive a
    /// downlink, printing each step.
    Simulate(crate::lora_cmd::SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Print the recent entries (one readable line each, or JSON), and with --follow the new
    /// ones as they come.
    Tail(crate::tail_cmd::TailArgs),
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write a device certificate, its private key (ECDSA P-256, PKCS#8 PEM; CreateKeysAndCertificate
    /// gives RSA 2048 keys as AWS does) and the CA certificate into a directory, and print the
    /// certificateId.
    CreateDevice(CreateDeviceArgs),
}

/// Settings of a running emulator; each also an `IOTEMU_*` variable and a config key.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML file overlaid on the embedded defaults.
    #[arg(long, env = "IOTEMU_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the CA, certificates and data live [default: ./.iotemu].
    #[arg(long, env = "IOTEMU_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use a throw-away data directory, removed on exit.
    #[arg(long, env = "IOTEMU_EPHEMERAL", conflicts_with = "data_dir")]
    pub ephemeral: bool,
    /// Address every listener binds [default: 127.0.0.1].
    #[arg(long, env = "IOTEMU_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Plain MQTT port; 0 picks a free one [default: 1883].
    #[arg(long, env = "IOTEMU_MQTT_PORT", value_name = "PORT")]
    pub mqtt_port: Option<u16>,
    /// MQTT over mutual TLS port; 0 picks a free one [default: 8883].
    #[arg(long, env = "IOTEMU_MQTTS_PORT", value_name = "PORT")]
    pub mqtts_port: Option<u16>,
    /// Device port (AWS's 443): MQTT, HTTPS and WebSockets by ALPN; 0 picks a free one
    /// [default: 8443].
    #[arg(long, env = "IOTEMU_DEVICE_PORT", value_name = "PORT")]
    pub device_port: Option<u16>,
    /// HTTP API port; 0 picks a free one [default: 4580].
    #[arg(long, env = "IOTEMU_API_PORT", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// LoRa Basics Station (LNS) port for LoRaWAN gateways; 0 picks a free one [default: 3001].
    #[arg(long, env = "IOTEMU_LNS_PORT", value_name = "PORT")]
    pub lns_port: Option<u16>,
    /// The AWS account id in every entry [default: 123456789012].
    #[arg(long, env = "IOTEMU_ACCOUNT_ID", value_name = "ID")]
    pub account_id: Option<String>,
    /// The AWS region [default: us-east-1].
    #[arg(long, env = "IOTEMU_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// DEBUG, INFO, WARN, ERROR or DISABLED [default: DEBUG].
    #[arg(long, env = "IOTEMU_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Append the log entries, as JSON lines, to this file.
    #[arg(long, env = "IOTEMU_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<String>,
    /// Do not write the log entries to standard output.
    #[arg(long, env = "IOTEMU_NO_STDOUT_LOGS")]
    pub no_stdout_logs: bool,
    /// A name (DNS or IP) the MQTTS server certificate holds besides localhost, 127.0.0.1, ::1
    /// and the hostname; repeatable, or comma-separated in IOTEMU_SERVER_NAMES.
    #[arg(long = "server-name", env = "IOTEMU_SERVER_NAMES", value_name = "NAME", value_delimiter = ',')]
    pub server_names: Vec<String>,
    /// A TOML or JSON file of things, groups, policies, certificates, rules, jobs, ... created
    /// at start, before any listener answers.
    #[arg(long, env = "IOTEMU_SEED", value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// `[aws_services] endpoint_url`: where the rule actions that call SQS, SNS, DynamoDB, ...
    /// and jobs' documentSource go (LocalStack, moto's server).
    #[arg(long, env = "IOTEMU_AWS_ENDPOINT_URL", value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
}

impl ServeArgs {
    /// The configuration these arguments select: defaults, the file, then each flag.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref())?;
        let server = &mut config.server;
        if let Some(v) = &self.data_dir {
            server.data_dir = v.clone();
        }
        server.ephemeral |= self.ephemeral;
        if let Some(v) = &self.bind {
            server.bind = v.clone();
        }
        if let Some(v) = self.mqtt_port {
            server.mqtt_port = v;
        }
        if let Some(v) = self.mqtts_port {
            server.mqtts_port = v;
        }
        if let Some(v) = self.device_port {
            server.device_port = v;
        }
        if let Some(v) = self.api_port {
            server.api_port = v;
        }
        if let Some(v) = self.lns_port {
            config.wireless.lns_port = v;
        }
        let server = &mut config.server;
        if let Some(v) = &self.account_id {
            server.account_id = v.clone();
        }
        if let Some(v) = &self.region {
            server.region = v.clone();
        }
        if let Some(v) = &self.log_level {
            config.logging.level = v.to_ascii_uppercase();
        }
        if let Some(v) = &self.log_file {
            config.logging.file = v.clone();
        }
        if self.no_stdout_logs {
            config.logging.stdout = false;
        }
        if !self.server_names.is_empty() {
            config.server.server_names = self.server_names.iter().map(|n| n.trim().to_string()).collect();
        }
        if let Some(v) = &self.seed {
            config.server.seed = v.display().to_string();
        }
        if let Some(v) = &self.aws_endpoint_url {
            config.aws_services.endpoint_url = Some(v.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CheckEntriesArgs {
    /// The files to check, one JSON entry per line (`-` reads standard input).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Fail unless at least one valid entry of this eventType appears (repeatable).
    #[arg(long, value_name = "TYPE")]
    pub require: Vec<String>,
    /// Print the report as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CreateDeviceArgs {
    /// The thing the certificate is for (its subject CN).
    #[arg(long, value_name = "NAME")]
    pub thing: String,
    /// Directory to write NAME.cert.pem, NAME.private.key and ca.pem into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The emulator's data directory, whose CA signs the certificate [default: ./.iotemu].
    #[arg(long, env = "IOTEMU_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Attach no policy: by default the certificate gets the allow-all policy `iotemu-allow-all`
    /// when it first connects.
    #[arg(long)]
    pub no_policy: bool,
    /// The account the certificate is registered in on its first connection (that of the
    /// server it connects to) [default: 123456789012].
    #[arg(long, env = "IOTEMU_ACCOUNT_ID", value_name = "ID")]
    pub account_id: Option<String>,
    /// The region the certificate is registered in on its first connection [default: us-east-1].
    #[arg(long, env = "IOTEMU_REGION", value_name = "REGION")]
    pub region: Option<String>,
}
