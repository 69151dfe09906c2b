//! `iotemu lora simulate`: the arguments of [`iotemu_wireless::simulate`], for people learning
//! the LoRaWAN flow against a running emulator.

use clap::Args;
use iotemu_wireless::crypto::{parse_key, Key};
use iotemu_wireless::frames::{hex_decode, parse_eui};
use iotemu_wireless::simulate::{run as simulate, Simulation};
use std::process::ExitCode;

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// The emulator's API [default: http://127.0.0.1:4580, or --api-port].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The API port on 127.0.0.1.
    #[arg(long, env = "IOTEMU_API_PORT", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// The LNS endpoint [default: ws://127.0.0.1:3001, or --lns-port].
    #[arg(long, value_name = "URL")]
    pub lns: Option<String>,
    /// The LNS port on 127.0.0.1.
    #[arg(long, env = "IOTEMU_LNS_PORT", value_name = "PORT")]
    pub lns_port: Option<u16>,
    /// The AWS region of the API calls.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The gateway's and device's RfRegion (EU868 or US915).
    #[arg(long, default_value = "EU868")]
    pub rf_region: String,
    /// The gateway's EUI (16 hex digits) [default: random].
    #[arg(long, value_name = "EUI")]
    pub gateway_eui: Option<String>,
    /// The device's DevEui (16 hex digits) [default: random].
    #[arg(long, value_name = "EUI")]
    pub dev_eui: Option<String>,
    /// The device's AppKey (32 hex digits) [default: random].
    #[arg(long, value_name = "KEY")]
    pub app_key: Option<String>,
    /// The MQTT topic the simulation's destination publishes uplinks to.
    #[arg(long, default_value = "lorawan/uplinks")]
    pub topic: String,
    /// How many uplinks the device sends.
    #[arg(long, short = 'n', default_value_t = 3)]
    pub uplinks: u32,
    /// The uplinks' FPort (1-223).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=223))]
    pub fport: u8,
    /// The uplinks' payload, in hex.
    #[arg(long, default_value = "48656c6c6f")]
    pub payload: String,
    /// The downlink queued for the first receive window, in hex ("" for none).
    #[arg(long, default_value = "4f4b")]
    pub downlink: String,
}

fn random_eui() -> [u8; 8] {
    let b = uuid::Uuid::new_v4();
    let mut eui = [0u8; 8];
    eui.copy_from_slice(&b.as_bytes()[..8]);
    eui
}

fn options(args: &SimulateArgs) -> Result<Simulation, String> {
    let eui = |given: &Option<String>, what: &str| match given {
        Some(text) => parse_eui(text).ok_or_else(|| format!("invalid {what} {text:?}: 16 hex digits")),
        None => Ok(random_eui()),
    };
    let app_key: Key = match &args.app_key {
        Some(text) => parse_key(text).ok_or_else(|| format!("invalid AppKey {text:?}: 32 hex digits"))?,
        None => *uuid::Uuid::new_v4().as_bytes(),
    };
    let hex = |text: &str, what: &str| {
        hex_decode(text).ok_or_else(|| format!("invalid {what} {text:?}: hex digits"))
    };
    let downlink = hex(&args.downlink, "downlink")?;
    Ok(Simulation {
        api: args
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", args.api_port.unwrap_or(4580))),
        lns: args.lns.clone().unwrap_or_else(|| format!("ws://127.0.0.1:{}", args.lns_port.unwrap_or(3001))),
        aws_region: args.region.clone(),
        rf_region: args.rf_region.clone(),
        gateway_eui: eui(&args.gateway_eui, "gateway EUI")?,
        dev_eui: eui(&args.dev_eui, "DevEui")?,
        app_key,
        topic: args.topic.clone(),
        uplinks: args.uplinks,
        fport: args.fport,
        payload: hex(&args.payload, "payload")?,
        downlink: (!downlink.is_empty()).then_some(downlink),
    })
}

/// Runs the simulation; exit code 2 for bad arguments, 1 when a step fails.
pub fn run(args: &SimulateArgs) -> ExitCode {
    let sim = match options(args) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(simulate(&sim, |line| println!("{line}"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
